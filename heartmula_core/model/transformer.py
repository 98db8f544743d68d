"""LLaMA-3.2 transformer stack with torchtune parameter names and a static KV cache (spec §2.4).

Parameter names match the official checkpoints: ``layers.{L}.attn.{q,k,v,output}_proj.weight``,
``layers.{L}.mlp.w{1,2,3}.weight``, ``layers.{L}.{sa,mlp}_norm.scale`` and ``norm.scale``. There is
no token embedding and no output projection: the stack maps embeddings to normed hidden states.

Two ways to run it:

- **cached** (generation): :meth:`Transformer.setup_cache` allocates ``[B, n_kv, capacity, head_dim]``
  key/value buffers once; each call writes its keys/values at ``input_pos`` and attends to cache
  slots ``[0, kv_len)`` with a causal mask by position. Shapes stay fixed, so the step can later be
  captured in a CUDA graph.
- **uncached** (scoring, teacher forcing): plain causal attention within the given sequence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TransformerConfig
from .rope import apply_rope, llama3_scaled_theta, rope_table


class RMSNorm(nn.Module):
    """``x / rms(x) * scale``; normalised in float32, cast back, then scaled (torchtune order)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.scale


class MLP(nn.Module):
    """SwiGLU: ``w2(silu(w1 x) * w3 x)``, no biases."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class KVCache(nn.Module):
    """Keys and values ``[B, n_kv, capacity, head_dim]``; not part of the state dict."""

    def __init__(self, batch: int, num_kv_heads: int, capacity: int, head_dim: int,
                 dtype: torch.dtype, device: torch.device):
        super().__init__()
        shape = (batch, num_kv_heads, capacity, head_dim)
        self.register_buffer("k", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("v", torch.zeros(shape, dtype=dtype, device=device), persistent=False)

    @property
    def capacity(self) -> int:
        return self.k.shape[2]

    def update(self, input_pos: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        """Write ``k, v [B, n_kv, S, hd]`` at cache slots ``input_pos [S]``."""
        self.k.index_copy_(2, input_pos, k)
        self.v.index_copy_(2, input_pos, v)


class Attention(nn.Module):
    """Grouped-query self-attention; query head ``h`` reads kv head ``h // (n_heads // n_kv)``."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.embed_dim, cfg.num_heads * cfg.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.embed_dim, cfg.num_kv_heads * cfg.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.embed_dim, cfg.num_kv_heads * cfg.head_dim, bias=False)
        self.output_proj = nn.Linear(cfg.num_heads * cfg.head_dim, cfg.embed_dim, bias=False)
        self.kv_cache: KVCache | None = None

    def forward(self, x: torch.Tensor, rope: torch.Tensor, input_pos: torch.Tensor,
                kv_len: int | None) -> torch.Tensor:
        """``x [B, S, D]``, ``rope [S, hd/2, 2]``, ``input_pos [S]`` -> ``[B, S, D]``.

        With ``kv_len`` the call writes into the KV cache and attends to cache slots ``[0, kv_len)``
        (all positions written so far, this call's included). With ``kv_len=None`` the cache is not
        touched and attention is causal within ``x``.
        """
        b, s, _ = x.shape
        q = apply_rope(self.q_proj(x).view(b, s, self.num_heads, self.head_dim), rope)
        k = apply_rope(self.k_proj(x).view(b, s, self.num_kv_heads, self.head_dim), rope)
        v = self.v_proj(x).view(b, s, self.num_kv_heads, self.head_dim)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, H, S, hd]
        gqa = self.num_heads != self.num_kv_heads
        if kv_len is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=s > 1, enable_gqa=gqa)
        else:
            assert self.kv_cache is not None, "cached attention needs setup_cache() first"
            self.kv_cache.update(input_pos, k, v)
            keys, values = self.kv_cache.k[:, :, :kv_len], self.kv_cache.v[:, :, :kv_len]
            mask = torch.arange(kv_len, device=x.device)[None, :] <= input_pos[:, None]  # [S, kv_len]
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, enable_gqa=gqa)
        return self.output_proj(out.transpose(1, 2).reshape(b, s, -1))


class TransformerLayer(nn.Module):
    """Pre-norm residual block: ``h = x + attn(norm(x)); out = h + mlp(norm(h))``."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.sa_norm = RMSNorm(cfg.embed_dim, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.embed_dim, cfg.norm_eps)
        self.mlp = MLP(cfg.embed_dim, cfg.intermediate_dim)

    def forward(self, x, rope, input_pos, kv_len):
        h = x + self.attn(self.sa_norm(x), rope, input_pos, kv_len)
        return h + self.mlp(self.mlp_norm(h))


class Transformer(nn.Module):
    """A stack of layers and a final RMSNorm: embeddings ``[B, S, D]`` -> hidden ``[B, S, D]``."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(TransformerLayer(cfg) for _ in range(cfg.num_layers))
        self.norm = RMSNorm(cfg.embed_dim, cfg.norm_eps)
        self.register_buffer("rope", torch.empty(0), persistent=False)

    def init_rope(self, device: torch.device | str) -> None:
        """(Re)build the RoPE table ``[max_seq_len, hd/2, 2]`` on ``device`` (after meta loading)."""
        theta = llama3_scaled_theta(self.cfg.head_dim, self.cfg.rope_base, self.cfg.scale_factor)
        self.rope = rope_table(theta.to(device), self.cfg.max_seq_len)

    def setup_cache(self, batch: int, capacity: int, dtype: torch.dtype | None = None) -> None:
        """Allocate KV caches for ``batch`` rows and ``capacity`` positions (≤ max_seq_len)."""
        if capacity > self.cfg.max_seq_len:
            raise ValueError(f"cache capacity {capacity} exceeds max_seq_len {self.cfg.max_seq_len}")
        ref = self.norm.scale
        dtype = dtype or ref.dtype
        for layer in self.layers:
            cache = layer.attn.kv_cache
            if cache is None or cache.k.shape[0] != batch or cache.capacity != capacity or cache.k.dtype != dtype:
                layer.attn.kv_cache = KVCache(batch, self.cfg.num_kv_heads, capacity, self.cfg.head_dim,
                                              dtype, ref.device)

    def drop_cache(self) -> None:
        """Free the KV caches; the stack runs uncached afterwards."""
        for layer in self.layers:
            layer.attn.kv_cache = None

    @property
    def has_cache(self) -> bool:
        return self.layers[0].attn.kv_cache is not None if len(self.layers) else False

    def forward(self, x: torch.Tensor, input_pos: torch.Tensor, kv_len: int | None = None) -> torch.Tensor:
        """``x [B, S, D]`` at positions ``input_pos [S]`` (long) -> normed hidden ``[B, S, D]``.

        ``kv_len`` selects the cached mode (see :class:`Attention`); None runs uncached.
        """
        rope = self.rope[input_pos]
        for layer in self.layers:
            x = layer(x, rope, input_pos, kv_len)
        return self.norm(x)
