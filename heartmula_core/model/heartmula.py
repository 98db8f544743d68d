"""The hierarchical HeartMuLa model: one job, turning a backbone state into one frame (spec §2.5).

Conventions used throughout (``K`` = codebooks, 8 officially; ``V`` = audio vocabulary, 8197):

- A **frame** is ``K`` int tokens. Codebook ``k``'s token ``c`` embeds as
  ``audio_embeddings[c + k * V]``; a frame row's embedding is the sum over its ``K`` codebooks.
- **CFG rows**: a batch of ``B = G * N`` rows holds ``N`` conditional rows followed, when
  guidance is on (``G = 2``), by ``N`` unconditional rows in the same order. Row ``i`` and row
  ``N + i`` always see the same audio history; only their prompt rows differ (the unconditional
  prompt is ``unconditional_text_embedding`` at every position, MuQ row included).
- The **MuQ row** of the conditional prompt is ``muq_linear(muq_embed)``; with no reference the
  embedding is zeros, so the row equals ``muq_linear.bias`` (spec §3.2, §5).

The model never samples: :meth:`HeartMuLa.generate_frame` asks a ``pick`` callback for each
codebook's tokens, so sampling, guidance and forced tokens live in :mod:`heartmula_core.sampling`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..config import HeartMuLaConfig
from .skinny import skinny_linear
from .transformer import Transformer

#: ``pick(logits [B, V] in the model dtype, codebook k) -> tokens [N]`` (one per candidate).
PickFn = Callable[[torch.Tensor, int], torch.Tensor]


class HeartMuLa(nn.Module):
    """Backbone (global, one step per frame) + local decoder (``K - 1`` steps per frame)."""

    def __init__(self, config: HeartMuLaConfig):
        super().__init__()
        self.config = config
        db, dd = config.backbone.embed_dim, config.decoder.embed_dim
        v, k = config.audio_vocab_size, config.audio_num_codebooks
        self.backbone = Transformer(config.backbone)
        self.decoder = Transformer(config.decoder)
        self.text_embeddings = nn.Embedding(config.text_vocab_size, db)
        self.audio_embeddings = nn.Embedding(v * k, db)
        self.unconditional_text_embedding = nn.Embedding(1, db)
        self.projection = nn.Linear(db, dd, bias=False)
        self.codebook0_head = nn.Linear(db, v, bias=False)
        self.audio_head = nn.Parameter(torch.empty(k - 1, dd, v))
        self.muq_linear = nn.Linear(config.muq_dim, db)
        self.register_buffer("codebook_offsets", torch.arange(k) * v, persistent=False)
        #: captured CUDA-graph frame steps (see heartmula_core.graphed), valid for the current caches
        self.graph_steps: dict = {}
        #: padded output-major head storage set by fuse_projections (None: use the parameters)
        self.audio_head_rows: torch.Tensor | None = None
        self.codebook0_rows: torch.Tensor | None = None

    # -- set-up -----------------------------------------------------------------------------------

    def init_buffers(self, device: torch.device | str) -> None:
        """Create the non-persistent buffers on ``device`` (after building on meta and assigning)."""
        self.backbone.init_rope(device)
        self.decoder.init_rope(device)
        self.codebook_offsets = torch.arange(self.config.audio_num_codebooks, device=device) * self.config.audio_vocab_size

    def fuse_projections(self) -> None:
        """Fewer, larger matmuls per layer (weights become views of fused tensors; no extra memory).
        Call once the model is on its final device and dtype."""
        self.backbone.fuse_projections()
        self.decoder.fuse_projections()
        # The heads output V = 8197 logits, not a multiple of 8, which sends cuBLAS to slow
        # misaligned kernels (measured on an H100: ~1 ms per frame for the seven audio_head
        # products). Store them padded to a multiple of 8 rows, output-major; the official-shape
        # parameters become views of that storage, so names, shapes and values are unchanged.
        v = self.config.audio_vocab_size
        padded = -(-v // 8) * 8
        head = self.audio_head.detach()
        rows = head.new_zeros(head.shape[0], padded, head.shape[1])
        rows[:, :v] = head.transpose(1, 2)
        self.audio_head = nn.Parameter(rows[:, :v].transpose(1, 2), requires_grad=False)
        self.audio_head_rows = rows
        c0 = self.codebook0_head.weight.detach()
        c0_rows = c0.new_zeros(padded, c0.shape[1])
        c0_rows[:v] = c0
        self.codebook0_head.weight = nn.Parameter(c0_rows[:v], requires_grad=False)
        self.codebook0_rows = c0_rows

    def codebook0_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Codebook-0 logits ``[..., V]`` from backbone states ``[..., Db]``."""
        if self.codebook0_rows is None:
            return self.codebook0_head(h)
        return skinny_linear(h, self.codebook0_rows)[..., : self.config.audio_vocab_size]

    def audio_logits(self, h: torch.Tensor, codebook: int) -> torch.Tensor:
        """Logits ``[..., V]`` of codebook ``codebook`` (1..K-1) from decoder states ``[..., Dd]``."""
        if self.audio_head_rows is None:
            return h @ self.audio_head[codebook - 1]
        return skinny_linear(h, self.audio_head_rows[codebook - 1])[..., : self.config.audio_vocab_size]

    def project(self, h: torch.Tensor) -> torch.Tensor:
        """Backbone width -> decoder width (``projection``); skinny products once fused."""
        if self.audio_head_rows is None:
            return self.projection(h)
        return skinny_linear(h, self.projection.weight)

    def compile_decode_layers(self) -> None:
        """Opt in to ``torch.compile``'d layers for single-token cached steps (both stacks).

        Compilation happens at the first step (tens of seconds for the 3B model); captured graphs
        are dropped so they are re-captured with the compiled layers.
        """
        self.backbone.compile_decode_layers()
        self.decoder.compile_decode_layers()
        self.graph_steps.clear()

    def setup_caches(self, batch: int, backbone_capacity: int) -> None:
        """KV caches for ``batch`` rows: backbone of ``backbone_capacity`` positions, decoder of ``K``.

        Captured graphs refer to the cache buffers, so they are dropped when a buffer changes.
        """
        changed = self.backbone.setup_cache(batch, backbone_capacity)
        changed |= self.decoder.setup_cache(batch, self.config.audio_num_codebooks)
        if changed:
            self.graph_steps.clear()

    def drop_caches(self) -> None:
        self.backbone.drop_cache()
        self.decoder.drop_cache()
        self.graph_steps.clear()

    @property
    def device(self) -> torch.device:
        return self.projection.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.projection.weight.dtype

    # -- embeddings -------------------------------------------------------------------------------

    def embed_prompt(self, tokens: torch.Tensor, muq_index: int, muq_embed: torch.Tensor | None,
                     num_rows: int, guided: bool) -> torch.Tensor:
        """Prompt embeddings ``[G * num_rows, L, Db]`` for text ``tokens [L]``.

        ``muq_embed [muq_dim]`` (or None for zeros) fills the conditional MuQ row at ``muq_index``.
        With ``guided``, ``num_rows`` unconditional rows follow the conditional ones.
        """
        cond = self.text_embeddings(tokens)  # [L, Db]
        if muq_embed is None:
            muq_row = self.muq_linear.bias
        else:
            muq_row = self.muq_linear(muq_embed.to(device=cond.device, dtype=cond.dtype))
        cond = torch.cat([cond[:muq_index], muq_row[None], cond[muq_index + 1:]])
        rows = [cond.expand(num_rows, -1, -1)]
        if guided:
            rows.append(self.unconditional_text_embedding.weight.expand(num_rows, tokens.shape[0], -1))
        return torch.cat(rows)

    def embed_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Frame rows ``[B, S, K]`` int -> summed codebook embeddings ``[B, S, Db]``."""
        return self.audio_embeddings(frames + self.codebook_offsets).sum(dim=-2)

    def embed_codebook(self, tokens: torch.Tensor, codebook: int) -> torch.Tensor:
        """Tokens ``[...]`` of one codebook -> embeddings ``[..., Db]``."""
        return self.audio_embeddings(tokens + codebook * self.config.audio_vocab_size)

    # -- one frame --------------------------------------------------------------------------------

    def backbone_step(self, embeds: torch.Tensor, input_pos: torch.Tensor, kv_len: int) -> torch.Tensor:
        """Cached backbone on ``embeds [B, S, Db]`` at ``input_pos [S]``; last hidden ``[B, Db]``."""
        return self.backbone(embeds, input_pos, kv_len)[:, -1]

    def generate_frame(self, last_h: torch.Tensor, pick: PickFn) -> torch.Tensor:
        """Codebooks 0..K-1 for one frame from the backbone's last hidden state.

        Args:
            last_h: ``[B, Db]`` normed backbone output at the last position (``B = G * N``).
            pick: chooses each codebook's tokens ``[N]`` from logits ``[B, V]``.
        Returns:
            ``[N, K]`` int64 tokens. The decoder cache must be set up for ``B`` rows.
        """
        k_total = self.config.audio_num_codebooks
        rows = last_h.shape[0]
        c0 = pick(self.codebook0_logits(last_h), 0)
        tokens = [c0]
        groups = rows // c0.shape[0]
        decoder_in = torch.stack([last_h, self.embed_codebook(c0.repeat(groups), 0)], dim=1)  # [B, 2, Db]
        pos = torch.arange(2, device=last_h.device)
        # The decoder always attends over its whole K-slot cache under the position mask: one
        # static shape for every step (graph capture, compiled layers), same result as slicing.
        out = self.decoder(self.project(decoder_in), pos, kv_len=k_total)[:, -1]
        for k in range(1, k_total):
            ck = pick(self.audio_logits(out, k), k)
            tokens.append(ck)
            if k + 1 < k_total:
                step_in = self.project(self.embed_codebook(ck.repeat(groups), k))[:, None]
                out = self.decoder(step_in, pos[1:] + k, kv_len=k_total)[:, -1]
        return torch.stack(tokens, dim=1)

    # -- teacher forcing --------------------------------------------------------------------------

    def decoder_logits(self, last_h: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Logits of every codebook of given frames under teacher forcing (no cache used).

        Args:
            last_h: ``[B, T, Db]`` backbone hidden state that predicts each frame.
            frames: ``[B, T, K]`` the frames' tokens; codebook ``k`` is conditioned on ``0..k-1``.
        Returns:
            ``[B, T, K, V]`` logits in the model dtype.
        """
        b, t, k_total = frames.shape
        c0_logits = self.codebook0_logits(last_h)  # [B, T, V]
        earlier = self.audio_embeddings(frames[..., :-1] + self.codebook_offsets[:-1])  # [B, T, K-1, Db]
        seq = torch.cat([last_h[:, :, None], earlier], dim=2).reshape(b * t, k_total, -1)
        pos = torch.arange(k_total, device=last_h.device)
        out = self.decoder(self.projection(seq), pos)[:, 1:]  # [B*T, K-1, Dd]
        rest = torch.stack([self.audio_logits(out[:, k - 1], k) for k in range(1, k_total)], dim=1)
        rest = rest.reshape(b, t, k_total - 1, -1)
        return torch.cat([c0_logits[:, :, None], rest], dim=2)
