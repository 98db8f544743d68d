"""Where a frame's time goes on the GPU, and what the skinny-product kernel changes.

    python benchmarks/frame_probe.py [--frames 300] [--json out.json]

1. Each weight shape of the 3B model, 2 rows (CFG batch 2): cuBLAS (``F.linear``) vs the Triton
   skinny kernel (:mod:`heartmula_core.model.skinny`, tile tuned here), as achieved GB/s and
   relative error against a float64 product.
2. A profile of the CUDA-graph frames of each variant: GPU time per frame by kernel kind.
3. Frames/s of the CUDA-graph loop (CFG 1.5, top-k 50, bf16) for: cuBLAS, skinny, each with and
   without compiled layers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_bench import FRAME_RATE, copy_bandwidth, run_frames, weight_bytes_per_frame  # noqa: E402
from heartmula_core.config import HeartMuLaConfig  # noqa: E402
from heartmula_core.generation import Conditioning  # noqa: E402
from heartmula_core.model import skinny  # noqa: E402
from heartmula_core.model.random_init import random_heartmula  # noqa: E402

CUBLAS_LINEAR = F.linear


def shapes(model) -> dict[str, torch.Tensor]:
    b, d = model.backbone.layers[0], model.decoder.layers[0]
    return {"qkv": b.attn.wqkv, "o": b.attn.output_proj.weight, "w13": b.mlp.w13, "w2": b.mlp.w2.weight,
            "head": model.audio_head_rows[0], "projection": model.projection.weight,
            "dec_qkv": d.attn.wqkv, "dec_w2": d.mlp.w2.weight}


def kernel_table(model, results: dict) -> None:
    from triton.testing import do_bench

    print("  shape                 cuBLAS GB/s   skinny GB/s   tile                                   rel.err", flush=True)
    for name, w in shapes(model).items():
        n, k = w.shape
        if (n, k) in skinny.TILES:
            continue
        copies = [w] + [torch.randn_like(w) * 0.02 for _ in range(3)]
        x = torch.randn(2, k, dtype=w.dtype, device=w.device)
        turn = iter(range(10**9))
        cub = do_bench(lambda: CUBLAS_LINEAR(x, copies[next(turn) % 4]), warmup=10, rep=50, return_mode="median")
        tile, ms = skinny.tune(w)
        ref = (x.double() @ w.double().T)
        err = float((skinny.skinny_linear(x, w).double() - ref).norm() / ref.norm())
        cerr = float((CUBLAS_LINEAR(x, w).double() - ref).norm() / ref.norm())
        nbytes = w.numel() * w.element_size()
        row = {"n": n, "k": k, "cublas_GBps": nbytes / cub / 1e6, "skinny_GBps": nbytes / ms / 1e6,
               "tile": tile.__dict__, "rel_err": err, "cublas_rel_err": cerr}
        results.setdefault("kernels", {})[name] = row
        print(f"  {name:<10} {n:>5}x{k:<5} {row['cublas_GBps']:>9.0f} {row['skinny_GBps']:>13.0f}   "
              f"{str(tuple(tile.__dict__.values())):<38} {err:.1e} (cuBLAS {cerr:.1e})", flush=True)


def topk_table(results: dict) -> None:
    from triton.testing import do_bench

    from heartmula_core.sampling import kth_largest

    for rows in (1, 4):
        x = torch.randn(rows, 8197, device="cuda")
        one = do_bench(lambda: torch.topk(x, 50, dim=-1).values[..., -1:], warmup=10, rep=50, return_mode="median")
        two = do_bench(lambda: kth_largest(x, 50, chunked=True), warmup=10, rep=50, return_mode="median")
        same = bool((kth_largest(x, 50, chunked=True) == torch.topk(x, 50, dim=-1).values[..., -1:]).all())
        results.setdefault("topk", {})[rows] = {"single_us": one * 1e3, "chunked_us": two * 1e3, "same": same}
        print(f"  top-50 threshold of {rows} x 8197: one topk {one * 1e3:.1f} us, chunked {two * 1e3:.1f} us, "
              f"same values: {same}", flush=True)


def profile_frame(model, cond, label: str, results: dict) -> None:
    from torch.profiler import ProfilerActivity, profile

    frames = 128  # graph replays after capture; the prefill (~16 ms) adds ~0.13 ms to each frame
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        run_frames(model, cond, frames + 1, graph=True)
    events = [e for e in prof.key_averages() if e.self_device_time_total > 0]
    total = sum(e.self_device_time_total for e in events) / frames / 1000
    count = sum(e.count for e in events) / frames
    kinds: dict[str, float] = {}
    for e in events:
        name = e.key.lower()
        kind = ("skinny" if "skinny" in name else
                "gemm" if any(s in name for s in ("gemm", "gemv", "nvjet", "cutlass", "sm90")) else
                "topk/sort" if any(s in name for s in ("topk", "sort", "radix", "select")) else
                "triton fused" if "triton" in name else "other")
        kinds[kind] = kinds.get(kind, 0.0) + e.self_device_time_total / frames / 1000
    results.setdefault("profile", {})[label] = {"kernels": count, "gpu_ms": total, "by_kind": kinds}
    print(f"  profile {label}: {count:.0f} kernels/frame, {total:.2f} ms GPU time/frame: "
          + ", ".join(f"{k} {v:.2f}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])), flush=True)
    results["profile"][label]["top"] = [(e.key[:100], e.count / frames, e.self_device_time_total / frames / 1000)
                                         for e in sorted(events, key=lambda e: -e.self_device_time_total)[:40]]
    for e in sorted(events, key=lambda e: -e.self_device_time_total)[:8]:
        print(f"      {e.self_device_time_total / frames / 1000:6.3f} ms  {e.count / frames:5.0f}x  {e.key[:80]}", flush=True)


def graph_fps(model, cond, frames: int) -> tuple[float, float]:
    model.graph_steps.clear()
    t = time.perf_counter()
    run_frames(model, cond, 20, graph=True)
    capture = time.perf_counter() - t
    secs, _, out = run_frames(model, cond, frames, graph=True)
    return (frames - 1) / secs, capture


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--json")
    parser.add_argument("--skip-compile", action="store_true")
    args = parser.parse_args()
    device = torch.device("cuda")
    results: dict = {"device": torch.cuda.get_device_name(device), "torch": torch.__version__}
    print(f"device: {results['device']} (torch {torch.__version__})", flush=True)
    model = random_heartmula(HeartMuLaConfig(), device, torch.bfloat16, seed=0)
    model.fuse_projections()
    cond = Conditioning(tuple(range(100, 700)), muq_index=20)
    bw = copy_bandwidth(device)
    per_frame = weight_bytes_per_frame(model)
    results["copy_GBps"], results["weight_GB_per_frame"] = bw / 1e9, per_frame / 1e9
    print(f"  copy bandwidth {bw / 1e9:.0f} GB/s; weights per frame {per_frame / 1e9:.2f} GB; "
          f"floor {per_frame / bw * 1e3:.2f} ms/frame = {bw / per_frame:.0f} frames/s", flush=True)

    topk_table(results)
    kernel_table(model, results)

    variants = [("cuBLAS, graph", False, False), ("skinny, graph", True, False)]
    if not args.skip_compile:
        variants += [("cuBLAS, graph + compiled layers", False, True), ("skinny, graph + compiled layers", True, True)]
    for label, use_skinny, compiled in variants:
        skinny.ENABLED = use_skinny
        try:
            if compiled:
                torch._dynamo.reset()
                model.compile_decode_layers()
            else:
                model.backbone.compiled_layer = model.decoder.compiled_layer = None
            fps, capture = graph_fps(model, cond, args.frames)
            profile_frame(model, cond, label, results)
        except Exception as err:  # report and go on with the next variant
            print(f"  {label}: failed: {type(err).__name__}: {str(err)[:300]}", flush=True)
            continue
        finally:
            skinny.ENABLED = True
        results.setdefault("fps", {})[label] = {"fps": fps, "capture_s": capture,
                                                "weight_bw_share": per_frame * fps / bw}
        print(f"  {label:<36} {fps:6.1f} frames/s ({fps / FRAME_RATE:.1f}x real time), "
              f"{per_frame * fps / 1e9:.0f} GB/s = {100 * per_frame * fps / bw:.0f}% of copy; capture {capture:.1f} s",
              flush=True)
    print("  tuned tiles: " + ", ".join(f"{nk}: {tuple(t.__dict__.values())}" for nk, t in skinny.TILES.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
