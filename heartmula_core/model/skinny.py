"""Skinny matrix products for decoding: ``y [M, N] = x [M, K] @ W [N, K]^T`` with ``M`` ≤ 16 rows.

Generating a frame multiplies a handful of rows (2 with CFG, 2K with K candidates) by every weight
matrix of the model, so each product is a pass over the weight and nothing else. This kernel streams
the weight once, in ``[BLOCK_N, BLOCK_K]`` tiles, multiplies each tile by the (padded) rows on the
tensor cores and accumulates in float32 (``SPLIT_K`` > 1 lets several programs share an output
tile; their float32 partials are summed afterwards). Measured on an H100
(``benchmarks/frame_probe.py``): on its own it reads these weights about as fast as cuBLAS
(1.2-2.1 TB/s), but inside the captured frame step it needs no split-K reduction kernels, which
cuBLAS adds to about half of its products: 148.6 against 144.0 frames/s.

Triton is only needed on CUDA; :func:`skinny_linear` falls back to ``F.linear`` everywhere else
(CPU, wide inputs, shapes the tiles do not divide, no Triton).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)

MAX_ROWS = 16

#: the library product, bound once: callers may route ``F.linear`` itself through this module
_library_linear = torch._C._nn.linear

try:  # Triton ships with CUDA builds of PyTorch; CPU installs have none and never need it
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the install
    triton = None


@dataclass(frozen=True)
class TileConfig:
    block_n: int = 64
    block_k: int = 256
    split_k: int = 1
    num_warps: int = 4
    num_stages: int = 4


#: False once Triton failed here (no compiler, unsupported GPU; see graphed.fast_paths_off):
#: every product then uses the library
ENABLED = triton is not None


#: tile choice per weight shape (N, K), else :data:`DEFAULT`. The entries are the 3B model's
#: shapes as tuned on an H100 by ``benchmarks/frame_probe.py`` (:func:`tune`), 2026-11-25.
TILES: dict[tuple[int, int], TileConfig] = {
    (5120, 3072): TileConfig(64, 256, 1, 4, 4),  # backbone q/k/v
    (6144, 3072): TileConfig(64, 256, 1, 4, 4),  # decoder q/k/v (3B decoder flavor)
    (3072, 3072): TileConfig(32, 256, 1, 4, 4),  # attention output, projection
    (16384, 3072): TileConfig(32, 256, 1, 4, 3),  # gate and up
    (3072, 8192): TileConfig(32, 512, 1, 4, 4),  # down
    (8200, 3072): TileConfig(32, 256, 1, 4, 3),  # codebook heads (padded to 8200 rows)
}
DEFAULT = TileConfig()


if triton is not None:

    @triton.jit
    def _skinny_kernel(x_ptr, w_ptr, y_ptr, M, N, k_chunk, stride_xm, stride_wn, stride_ys, stride_ym,
                       BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                       SPLIT_K: tl.constexpr):
        pid_n = tl.program_id(0)
        pid_s = tl.program_id(1)
        rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        rm = tl.arange(0, BLOCK_M)
        rk = pid_s * k_chunk + tl.arange(0, BLOCK_K)
        w_ptrs = w_ptr + rn[:, None] * stride_wn + rk[None, :]
        x_ptrs = x_ptr + rm[:, None] * stride_xm + rk[None, :]
        n_ok = rn[:, None] < N
        m_ok = rm[:, None] < M
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for _ in range(0, k_chunk, BLOCK_K):
            w = tl.load(w_ptrs, mask=n_ok, other=0.0)
            x = tl.load(x_ptrs, mask=m_ok, other=0.0)
            acc += tl.dot(x, tl.trans(w))
            w_ptrs += BLOCK_K
            x_ptrs += BLOCK_K
        y_ptrs = y_ptr + pid_s * stride_ys + rm[:, None] * stride_ym + rn[None, :]
        y_ok = (rm[:, None] < M) & (rn[None, :] < N)
        if SPLIT_K == 1:
            tl.store(y_ptrs, acc.to(y_ptr.dtype.element_ty), mask=y_ok)
        else:
            tl.store(y_ptrs, acc, mask=y_ok)


def supported(x: torch.Tensor, weight: torch.Tensor, tile: TileConfig) -> bool:
    """Whether the kernel can take this product (else :func:`skinny_linear` uses ``F.linear``)."""
    if not ENABLED or not x.is_cuda or x.dtype not in (torch.bfloat16, torch.float16):
        return False
    rows = x.numel() // x.shape[-1] if x.shape[-1] else 0
    n, k = weight.shape
    return (0 < rows <= MAX_ROWS and weight.dtype == x.dtype and weight.stride(1) == 1
            and k % (tile.split_k * tile.block_k) == 0)


def skinny_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``F.linear(x, weight)`` (no bias) for ``x [..., K]`` with at most 16 rows, ``weight [N, K]``."""
    n, k = weight.shape
    tile = TILES.get((n, k), DEFAULT)
    if not supported(x, weight, tile):
        return _library_linear(x, weight)
    lead = x.shape[:-1]
    rows = x.reshape(-1, k)
    if rows.stride(-1) != 1:
        rows = rows.contiguous()
    m = rows.shape[0]
    if tile.split_k == 1:
        out = torch.empty(m, n, dtype=x.dtype, device=x.device)
    else:
        out = torch.empty(tile.split_k, m, n, dtype=torch.float32, device=x.device)
    grid = (triton.cdiv(n, tile.block_n), tile.split_k)
    _skinny_kernel[grid](rows, weight, out, m, n, k // tile.split_k, rows.stride(0), weight.stride(0),
                         out.stride(0) if tile.split_k > 1 else 0, out.stride(-2),
                         BLOCK_M=MAX_ROWS, BLOCK_N=tile.block_n, BLOCK_K=tile.block_k, SPLIT_K=tile.split_k,
                         num_warps=tile.num_warps, num_stages=tile.num_stages)
    if tile.split_k > 1:
        out = out.sum(0).to(x.dtype)
    return out.reshape(*lead, n)


def candidate_tiles(k: int) -> list[TileConfig]:
    """Tile shapes worth timing for a reduction length ``k`` (16-row tiles need ``block_n`` ≥ 16;
    narrow tiles give small-``N`` weights enough programs to occupy every multiprocessor)."""
    tiles = []
    for block_n in (16, 32, 64):
        for block_k in (256, 512):
            for split_k in (1, 2):
                if k % (split_k * block_k):
                    continue
                for num_warps in (4, 8):
                    for num_stages in (3, 4):
                        tiles.append(TileConfig(block_n, block_k, split_k, num_warps, num_stages))
    return tiles


def tune(weight: torch.Tensor, rows: int = 2, copies: int = 4) -> tuple[TileConfig, float]:
    """Time every candidate tile for ``weight [N, K]`` and ``rows`` inputs; store and return the
    fastest with its median time in ms. ``copies`` weights are rotated so large L2 caches do not
    flatter small matrices."""
    from triton.testing import do_bench

    n, k = weight.shape
    weights = [weight] + [torch.randn_like(weight) for _ in range(copies - 1)]
    x = torch.randn(rows, k, dtype=weight.dtype, device=weight.device)
    best = (DEFAULT, float("inf"))
    for tile in candidate_tiles(k):
        TILES[(n, k)] = tile
        turn = iter(range(10**9))
        try:
            ms = do_bench(lambda: skinny_linear(x, weights[next(turn) % copies]), warmup=10, rep=40,
                          return_mode="median")
        except Exception as err:  # a tile that does not compile (shared memory) is skipped
            log.debug("tile %s failed: %s", tile, err)
            continue
        if ms < best[1]:
            best = (tile, ms)
    TILES[(n, k)] = best[0]
    return best
