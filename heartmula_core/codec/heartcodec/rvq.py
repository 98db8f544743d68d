"""Residual-VQ code lookup: code frames to the 512-d condition features (spec §4.2.1, §4.3).

Only the decode direction exists here. Parameter names follow the official state dict
(``flow_matching.vq_embed.layers.{q}._codebook.embed``, ``project_out``); ``project_in`` and the EMA
buffers (``initted``, ``cluster_size``, ``embed_avg``) are training state and are not built.
"""

from __future__ import annotations

import torch
from torch import nn


class Codebook(nn.Module):
    """One RVQ layer's codebook; ``embed`` ``[1, codebook_size, codebook_dim]`` is a buffer."""

    def __init__(self, codebook_size: int, codebook_dim: int):
        super().__init__()
        self.register_buffer("embed", torch.empty(1, codebook_size, codebook_dim))


class QuantizerLayer(nn.Module):
    """Holds ``_codebook`` (the official child name, leading underscore included)."""

    def __init__(self, codebook_size: int, codebook_dim: int):
        super().__init__()
        self._codebook = Codebook(codebook_size, codebook_dim)


class ResidualVQLookup(nn.Module):
    """Sum of the codebook vectors of all quantizers, then ``project_out`` (codebook_dim -> dim)."""

    def __init__(self, num_quantizers: int, codebook_size: int, codebook_dim: int, dim: int):
        super().__init__()
        self.layers = nn.ModuleList(QuantizerLayer(codebook_size, codebook_dim) for _ in range(num_quantizers))
        self.project_out = nn.Linear(codebook_dim, dim)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[N, Q]`` int64 (column q uses RVQ layer q) -> features ``[N, dim]``."""
        summed = sum(layer._codebook.embed[0, codes[:, q]] for q, layer in enumerate(self.layers))
        return self.project_out(summed)
