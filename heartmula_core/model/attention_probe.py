"""Read one attention head's scores out of a :class:`~heartmula_core.model.transformer.Transformer`.

Used for the frame -> lyric alignment (:mod:`heartmula_core.editing.alignment`) and for the
demo model's guided-attention training loss. The transformer itself never materialises attention
probabilities (it calls fused scaled-dot-product attention); this module recomputes the scores of
chosen heads from a layer's normed input, which a forward pre-hook captures.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F

from .rope import apply_rope
from .transformer import Attention


@contextmanager
def capture_attention_inputs(attns: list[Attention]) -> Iterator[list[dict]]:
    """While active, each forward of ``attns[i]`` stores its ``x [B, S, D]`` and ``rope`` in
    ``captured[i]`` (the yielded list)."""
    captured: list[dict] = [{} for _ in attns]
    hooks = []
    for slot, attn in zip(captured, attns):
        def grab(module, args, slot=slot):
            slot["x"], slot["rope"] = args[0], args[1]
        hooks.append(attn.register_forward_pre_hook(grab))
    try:
        yield captured
    finally:
        for hook in hooks:
            hook.remove()


def head_scores_rows(attn: Attention, x: torch.Tensor, rope: torch.Tensor, head: int,
                     query_pos: torch.Tensor) -> torch.Tensor:
    """Causally masked pre-softmax scores of ``head`` for ``T`` query positions in every row:
    ``query_pos [B, T]`` -> ``[B, T, S]`` float32.

    ``x [B, S, D]`` and ``rope [S, hd/2, 2]`` as captured. One batched product per row (``B * T *
    S`` scores; no copy of a row's keys per query, which for the 3B model's alignment of a long
    song was gigabytes). Works before and after projection fusion.
    """
    hd = attn.head_dim
    kv_head = head // (attn.num_heads // attn.num_kv_heads)
    wq, wk = _head_weights(attn, head, kv_head)
    rows = x.gather(1, query_pos[..., None].expand(-1, -1, x.shape[-1]))  # [B, T, D]
    q = apply_rope(F.linear(rows, wq)[:, :, None], rope[query_pos])[:, :, 0]  # [B, T, hd]
    k = apply_rope(F.linear(x, wk)[:, :, None], rope)[:, :, 0]  # [B, S, hd]
    scores = torch.bmm(q.float(), k.float().transpose(1, 2)) / math.sqrt(hd)  # [B, T, S]
    causal = torch.arange(k.shape[1], device=k.device)[None, None] <= query_pos[..., None]
    return scores.masked_fill(~causal, float("-inf"))


def _head_weights(attn: Attention, head: int, kv_head: int) -> tuple[torch.Tensor, torch.Tensor]:
    hd = attn.head_dim
    if attn.wqkv is not None:
        q_all = attn.wqkv[: attn.num_heads * hd]
        k_all = attn.wqkv[attn.num_heads * hd: (attn.num_heads + attn.num_kv_heads) * hd]
    else:
        q_all, k_all = attn.q_proj.weight, attn.k_proj.weight
    return q_all[head * hd:(head + 1) * hd], k_all[kv_head * hd:(kv_head + 1) * hd]
