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
from .skinny import skinny_linear


class RMSNorm(nn.Module):
    """``x / rms(x) * scale``; normalised in float32, cast back, then scaled (torchtune order)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps)
        return normed.type_as(x) * self.scale


def fuse_linears(*linears: nn.Linear) -> torch.Tensor:
    """Concatenate the weights of bias-free linears sharing an input into one ``[sum out, in]``
    tensor and make each linear's weight a view of it (same memory, same state-dict names).

    Call after the module's final ``.to()``: moving it later would split the views apart.
    """
    fused = torch.cat([lin.weight.detach() for lin in linears])
    start = 0
    for lin in linears:
        rows = lin.weight.shape[0]
        lin.weight = nn.Parameter(fused[start:start + rows], requires_grad=False)
        start += rows
    return fused


class MLP(nn.Module):
    """SwiGLU: ``w2(silu(w1 x) * w3 x)``, no biases."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w13: torch.Tensor | None = None  # set by fuse(): one matmul for gate and up

    def fuse(self) -> None:
        self.w13 = fuse_linears(self.w1, self.w3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.w13 is not None:  # fused for inference: skinny products on CUDA
            gate, up = skinny_linear(x, self.w13).chunk(2, dim=-1)
            return skinny_linear(F.silu(gate) * up, self.w2.weight)
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
        self.wqkv: torch.Tensor | None = None  # set by fuse(): one matmul for q, k and v

    def fuse(self) -> None:
        self.wqkv = fuse_linears(self.q_proj, self.k_proj, self.v_proj)

    def _project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.wqkv is None:
            return self.q_proj(x), self.k_proj(x), self.v_proj(x)
        kv = self.num_kv_heads * self.head_dim
        return skinny_linear(x, self.wqkv).split([self.num_heads * self.head_dim, kv, kv], dim=-1)

    def forward(self, x: torch.Tensor, rope: torch.Tensor, input_pos: torch.Tensor,
                kv_len: int | None, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x [B, S, D]``, ``rope [S, hd/2, 2]``, ``input_pos [S]`` -> ``[B, S, D]``.

        With ``kv_len`` the call writes into the KV cache and attends to cache slots ``[0, kv_len)``
        under ``mask [S, kv_len]`` (True = may attend; slot ≤ query position). With ``kv_len=None``
        the cache is not touched and attention is causal within ``x``.
        """
        b, s, _ = x.shape
        q, k, v = self._project(x)
        q = apply_rope(q.reshape(b, s, self.num_heads, self.head_dim), rope)
        k = apply_rope(k.reshape(b, s, self.num_kv_heads, self.head_dim), rope)
        v = v.reshape(b, s, self.num_kv_heads, self.head_dim)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, H, S, hd]
        gqa = self.num_heads != self.num_kv_heads
        if kv_len is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=s > 1, enable_gqa=gqa)
        else:
            assert self.kv_cache is not None, "cached attention needs setup_cache() first"
            assert mask is not None, "cached attention needs a mask"
            self.kv_cache.update(input_pos, k, v)
            keys, values = self.kv_cache.k[:, :, :kv_len], self.kv_cache.v[:, :, :kv_len]
            if s == 1:
                out = self._decode_one(q, keys, values, mask)
            else:
                out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, enable_gqa=gqa)
        out = out.transpose(1, 2).reshape(b, s, -1)
        return self.output_proj(out) if self.wqkv is None else skinny_linear(out, self.output_proj.weight)

    def _decode_one(self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                    mask: torch.Tensor) -> torch.Tensor:
        """One query per row: ``q [B, H, 1, hd]``, cache ``[B, n_kv, S, hd]`` -> ``[B, H, 1, hd]``.

        Grouped as ``[B, n_kv, H/n_kv, hd]`` so no key/value head is copied (SDPA with a mask and
        GQA may expand them); softmax in float32.
        """
        b, h, _, d = q.shape
        grouped = q.view(b, self.num_kv_heads, h // self.num_kv_heads, d)
        scores = torch.matmul(grouped, keys.transpose(-1, -2)).float() * (d ** -0.5)  # [B, n_kv, g, S]
        scores = scores.masked_fill(~mask, float("-inf"))
        probs = torch.softmax(scores, dim=-1).to(values.dtype)
        return torch.matmul(probs, values).view(b, h, 1, d)


class TransformerLayer(nn.Module):
    """Pre-norm residual block: ``h = x + attn(norm(x)); out = h + mlp(norm(h))``."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.sa_norm = RMSNorm(cfg.embed_dim, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.embed_dim, cfg.norm_eps)
        self.mlp = MLP(cfg.embed_dim, cfg.intermediate_dim)

    def forward(self, x, rope, input_pos, kv_len, mask=None):
        h = x + self.attn(self.sa_norm(x), rope, input_pos, kv_len, mask)
        return h + self.mlp(self.mlp_norm(h))


def _run_layer(layer: TransformerLayer, x, rope, input_pos, kv_len, mask):
    """One layer as a free function, so one ``torch.compile`` of it serves every layer of a stack
    (dynamo treats the module's parameters and buffers as inputs, not as constants)."""
    return layer(x, rope, input_pos, kv_len, mask)


class Transformer(nn.Module):
    """A stack of layers and a final RMSNorm: embeddings ``[B, S, D]`` -> hidden ``[B, S, D]``."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(TransformerLayer(cfg) for _ in range(cfg.num_layers))
        self.norm = RMSNorm(cfg.embed_dim, cfg.norm_eps)
        self.register_buffer("rope", torch.empty(0), persistent=False)
        #: compiled single-token cached layer step (see :meth:`compile_decode_layers`), or None
        self.compiled_layer = None

    def compile_decode_layers(self) -> None:
        """Use a ``torch.compile``'d layer for single-token steps over the whole static cache window
        (the CUDA-graph step and the local decoder): it fuses the elementwise work between the
        matmuls. Prefill, uncached calls and eager steps over a growing window stay eager (each new
        window length would be a recompile).

        Every (rows, capacity) pair of both stacks is one compiled variant of the same function, so
        dynamo's recompile limit is raised to hold them.
        """
        import torch._dynamo

        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        self.compiled_layer = torch.compile(_run_layer, dynamic=False)

    def init_rope(self, device: torch.device | str) -> None:
        """(Re)build the RoPE table ``[max_seq_len, hd/2, 2]`` on ``device`` (after meta loading)."""
        theta = llama3_scaled_theta(self.cfg.head_dim, self.cfg.rope_base, self.cfg.scale_factor)
        self.rope = rope_table(theta.to(device), self.cfg.max_seq_len)

    def setup_cache(self, batch: int, capacity: int, dtype: torch.dtype | None = None) -> bool:
        """Allocate KV caches for ``batch`` rows and ``capacity`` positions (≤ max_seq_len).

        Existing caches of the same shape are kept; returns whether any buffer was (re)allocated.
        """
        if capacity > self.cfg.max_seq_len:
            raise ValueError(f"cache capacity {capacity} exceeds max_seq_len {self.cfg.max_seq_len}")
        ref = self.norm.scale
        dtype = dtype or ref.dtype
        changed = False
        for layer in self.layers:
            cache = layer.attn.kv_cache
            if cache is None or cache.k.shape[0] != batch or cache.capacity != capacity or cache.k.dtype != dtype:
                layer.attn.kv_cache = KVCache(batch, self.cfg.num_kv_heads, capacity, self.cfg.head_dim,
                                              dtype, ref.device)
                changed = True
        return changed

    def fuse_projections(self) -> None:
        """Fuse q/k/v and gate/up projections of every layer (see :func:`fuse_linears`)."""
        for layer in self.layers:
            layer.attn.fuse()
            layer.mlp.fuse()

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
        mask = None
        if kv_len is not None:
            mask = torch.arange(kv_len, device=x.device)[None, :] <= input_pos[:, None]  # [S, kv_len]
        run = _run_layer
        if (self.compiled_layer is not None and x.shape[1] == 1 and kv_len is not None
                and kv_len == self.layers[0].attn.kv_cache.capacity):
            run = self.compiled_layer
        for layer in self.layers:
            x = run(layer, x, rope, input_pos, kv_len, mask)
        return self.norm(x)
