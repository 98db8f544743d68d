"""Rotary position embeddings: llama3-scaled frequencies, interleaved pairs (spec §2.4).

The official weights were trained with torchtune's ``Llama3ScaledRoPE``: channel pairs are
``(x[2i], x[2i+1])`` (not HF's rotate-half), frequencies ``base^(-2i/d)`` are rescaled by the
llama3 rule, and all arithmetic is float32.
"""

from __future__ import annotations

import math

import torch

LOW_FREQ_FACTOR = 1.0
HIGH_FREQ_FACTOR = 4.0
OLD_CONTEXT_LEN = 8192


def llama3_scaled_theta(head_dim: int, base: float, scale_factor: float) -> torch.Tensor:
    """Per-pair rotation speeds ``theta [head_dim // 2]`` float32.

    Pairs with wavelength < 2048 keep their frequency, those > 8192 are divided by
    ``scale_factor``, and those in between are blended smoothly (element by element in float32,
    as in torchtune 0.4.0). ``scale_factor = 1`` leaves every frequency unchanged.
    """
    freqs = 1.0 / (base ** (torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))
    low_wavelen = OLD_CONTEXT_LEN / LOW_FREQ_FACTOR
    high_wavelen = OLD_CONTEXT_LEN / HIGH_FREQ_FACTOR
    scaled = []
    for f in freqs.tolist():
        f32 = torch.tensor(f, dtype=torch.float32)
        wavelen = 2 * math.pi / f32
        if wavelen < high_wavelen:
            scaled.append(f32)
        elif wavelen > low_wavelen:
            scaled.append(f32 / scale_factor)
        else:
            smooth = (OLD_CONTEXT_LEN / wavelen - LOW_FREQ_FACTOR) / (HIGH_FREQ_FACTOR - LOW_FREQ_FACTOR)
            scaled.append((1 - smooth) * f32 / scale_factor + smooth * f32)
    return torch.stack(scaled).to(torch.float32)


def rope_table(theta: torch.Tensor, max_positions: int) -> torch.Tensor:
    """``[max_positions, d/2, 2]`` float32 table of (cos, sin) of ``position * theta``."""
    positions = torch.arange(max_positions, dtype=torch.float32, device=theta.device)
    angles = torch.outer(positions, theta)
    return torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)


def apply_rope(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs of ``x``.

    Args:
        x: ``[B, S, H, d]`` queries or keys.
        table: ``[S, d/2, 2]`` rows of :func:`rope_table` for the positions of ``x``, or
            ``[B, S, d/2, 2]`` when rows have different positions.
    Returns:
        ``[B, S, H, d]`` in the dtype of ``x`` (computed in float32).

    A pair ``(x[2i], x[2i+1])`` rotated by angle ``a`` is the complex product
    ``(x[2i] + i x[2i+1]) (cos a + i sin a)``: one multiply instead of a handful of kernels.
    """
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))  # [B, S, H, d/2]
    if table.dim() == 3:
        table = table.unsqueeze(0)
    rot = torch.view_as_complex(table.contiguous()).unsqueeze(2)  # [B|1, S, 1, d/2]
    return torch.view_as_real(pairs * rot).flatten(-2).type_as(x)
