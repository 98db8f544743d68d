"""The flow-matching velocity estimator: a two-stack DiT with ada_norm_single (spec §4.2.3, §4.3).

Input ``[B, T, in_channels]`` = concat(x_t, in-context latent, condition), timestep ``t`` ``[B]`` in
[0, 1) -> velocity ``[B, T, out_channels]``. Stack 1 runs at width D1 = heads * head_dim, stack 2 at
D2 = 2 * D1 with the same head count. Attention is bidirectional with interleaved-pair RoPE (base
10000, whole head_dim, positions 0..T-1). Parameter names match ``flow_matching.estimator.*``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import MLP_MULTIPLE_OF, TIMESTEP_FEATURES, HeartCodecConfig

NORM_EPS = 1e-6
ROPE_BASE = 10_000.0
#: sinusoid period base and time scale of the timestep features
TIMESTEP_MAX_PERIOD = 10_000.0
TIMESTEP_SCALE = 1000.0
#: kernel of the time convolution in every ProjectLayer; its output is scaled by kernel ** -0.5
PROJECT_KERNEL = 3
#: modulation vectors per block: shift/scale/gate for attention and for the MLP
BLOCK_MODULATIONS = 6


def mlp_hidden_dim(dim: int) -> int:
    """MLP width rule: int(2 * 4 * dim / 3) rounded up to a multiple of 256 (1536 -> 4096)."""
    hidden = int(2 * (4 * dim) / 3)
    return MLP_MULTIPLE_OF * math.ceil(hidden / MLP_MULTIPLE_OF)


# ---- small pieces ---------------------------------------------------------------------------
class RMSNorm(nn.Module):
    """RMSNorm computed in the input dtype (no fp32 upcast), eps 1e-6, weight ``[dim]``."""

    def __init__(self, dim: int, eps: float = NORM_EPS):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., dim]`` -> same shape and dtype."""
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(length: int, head_dim: int, device: torch.device,
                base: float = ROPE_BASE) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin ``[length, head_dim // 2]`` float32 for positions 0..length-1.

    theta_i = base ** (-2i / head_dim) for i = 0 .. head_dim/2 - 1; angle = position * theta_i.
    """
    theta = base ** (-torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(length, device=device, dtype=torch.float32), theta)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs (x[2i], x[2i+1]) of ``x`` ``[B, T, H, head_dim]`` in float32.

    out[2i] = x[2i] cos - x[2i+1] sin; out[2i+1] = x[2i+1] cos + x[2i] sin. Returns x's dtype.
    """
    pairs = x.float().unflatten(-1, (-1, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    cos, sin = cos[None, :, None, :], sin[None, :, None, :]
    rotated = torch.stack((even * cos - odd * sin, odd * cos + even * sin), dim=-1)
    return rotated.flatten(-2).to(x.dtype)


def timestep_features(t: torch.Tensor, width: int = TIMESTEP_FEATURES) -> torch.Tensor:
    """Sinusoidal features ``[B, width]`` float32 of ``t`` ``[B]``, cos first.

    freqs_i = exp(-ln(10000) i / (width/2)); args = 1000 t freqs; concat(cos(args), sin(args)).
    """
    half = width // 2
    freqs = torch.exp(-math.log(TIMESTEP_MAX_PERIOD)
                      * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = (t.float() * TIMESTEP_SCALE)[:, None] * freqs[None]
    return torch.cat((args.cos(), args.sin()), dim=-1)


# ---- layers ---------------------------------------------------------------------------------
class Attention(nn.Module):
    """Bidirectional multi-head self-attention without biases, RoPE on q and k."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.o_proj = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """``[B, T, dim]`` -> ``[B, T, dim]``; cos/sin ``[T, head_dim // 2]``."""
        heads = (self.num_heads, -1)
        q = apply_rope(self.q_proj(x).unflatten(-1, heads), cos, sin)
        k = apply_rope(self.k_proj(x).unflatten(-1, heads), cos, sin)
        v = self.v_proj(x).unflatten(-1, heads)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.o_proj(out.transpose(1, 2).flatten(-2))


class FeedForward(nn.Module):
    """``down(silu(gate(x)) * up(x))``, no biases."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., dim]`` -> ``[..., dim]``."""
        return self.down(F.silu(self.gate(x)) * self.up(x))


class DiTBlock(nn.Module):
    """Pre-norm block modulated by ada_norm_single: ``scale_shift_table`` ``[6, dim]`` + per-sample mod."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.scale_shift_table = nn.Parameter(torch.empty(BLOCK_MODULATIONS, dim))
        self.attn_norm = RMSNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.mlp_norm = RMSNorm(dim)
        self.mlp = FeedForward(dim, mlp_hidden_dim(dim))

    def forward(self, x: torch.Tensor, mod: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x ``[B, T, dim]``, mod ``[B, 6 * dim]`` -> ``[B, T, dim]``.

        Order of the six: shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp.
        """
        table = mod.unflatten(-1, (BLOCK_MODULATIONS, -1)) + self.scale_shift_table
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = table.unsqueeze(2).unbind(1)
        h = self.attn_norm(x) * (1 + scale_msa) + shift_msa
        x = x + gate_msa * self.attn(h, cos, sin)
        h = self.mlp_norm(x) * (1 + scale_mlp) + shift_mlp
        return x + gate_mlp * self.mlp(h)


class ProjectLayer(nn.Module):
    """Conv1d over time (kernel 3, padding 1) scaled by 1/sqrt(3), then a Linear (``ffn_1``, ``ffn_2``)."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.ffn_1 = nn.Conv1d(in_dim, out_dim, PROJECT_KERNEL, padding=PROJECT_KERNEL // 2)
        self.ffn_2 = nn.Linear(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, in_dim]`` -> ``[B, T, out_dim]``."""
        h = self.ffn_1(x.transpose(1, 2)).transpose(1, 2) * PROJECT_KERNEL ** -0.5
        return self.ffn_2(h)


class TimestepEmbedder(nn.Module):
    """``linear_2(silu(linear_1(features)))``: 512 sinusoid features -> ``[B, dim]``."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(TIMESTEP_FEATURES, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(features)))


class TimestepEmbedding(nn.Module):
    """Holder so the official name ``emb.timestep_embedder`` maps 1:1."""

    def __init__(self, dim: int):
        super().__init__()
        self.timestep_embedder = TimestepEmbedder(dim)


class AdaLayerNormSingle(nn.Module):
    """Timestep -> (block modulation ``[B, 6 * dim]``, embedded timestep ``[B, dim]``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.emb = TimestepEmbedding(dim)
        self.linear = nn.Linear(dim, BLOCK_MODULATIONS * dim)

    def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``t`` ``[B]`` -> (mod ``[B, 6 * dim]``, embedded ``[B, dim]``)."""
        features = timestep_features(t).to(self.linear.weight.dtype)
        embedded = self.emb.timestep_embedder(features)
        return self.linear(F.silu(embedded)), embedded


def run_stack(x: torch.Tensor, blocks: nn.ModuleList, adaln: AdaLayerNormSingle, final_table: torch.Tensor,
              t: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Blocks then the final modulation: LayerNorm (no affine, eps 1e-6) * (1 + scale) + shift.

    x ``[B, T, D]``, final_table ``[2, D]`` (row 0 shift, row 1 scale, each plus the embedded t).
    """
    mod, embedded = adaln(t)
    cos, sin = rope_tables(x.shape[1], x.shape[-1] // num_heads, x.device)
    for block in blocks:
        x = block(x, mod, cos, sin)
    shift, scale = (final_table[None] + embedded[:, None]).unsqueeze(2).unbind(1)
    x = F.layer_norm(x, x.shape[-1:], eps=NORM_EPS)
    return x * (1 + scale) + shift


class Estimator(nn.Module):
    """The two-stack DiT ("LlamaTransformer") of ``flow_matching.estimator``."""

    def __init__(self, config: HeartCodecConfig):
        super().__init__()
        d1, d2, heads = config.inner_dim, config.inner_dim_2, config.num_attention_heads
        self.num_heads = heads
        self.proj_in = ProjectLayer(config.in_channels, d1)
        self.transformer_blocks = nn.ModuleList(DiTBlock(d1, heads) for _ in range(config.num_layers))
        self.scale_shift_table = nn.Parameter(torch.empty(2, d1))
        self.adaln_single = AdaLayerNormSingle(d1)
        self.connection_proj = ProjectLayer(config.in_channels + d1, d2)
        self.transformer_blocks_2 = nn.ModuleList(DiTBlock(d2, heads) for _ in range(config.num_layers_2))
        self.scale_shift_table_2 = nn.Parameter(torch.empty(2, d2))
        self.adaln_single_2 = AdaLayerNormSingle(d2)
        self.proj_out = ProjectLayer(d2, config.out_channels)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x ``[B, T, in_channels]``, t ``[B]`` -> velocity ``[B, T, out_channels]``."""
        s = self.proj_in(x)
        s = run_stack(s, self.transformer_blocks, self.adaln_single, self.scale_shift_table, t, self.num_heads)
        h = self.connection_proj(torch.cat((x, s), dim=-1))
        h = run_stack(h, self.transformer_blocks_2, self.adaln_single_2, self.scale_shift_table_2, t,
                      self.num_heads)
        return self.proj_out(h)
