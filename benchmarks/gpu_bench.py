"""GPU benchmark of the real architectures with random weights built on the device (no files).

    python benchmarks/gpu_bench.py [--frames 500] [--prompt 600] [--skip-codec] [--json out.json]

Prints one table: eager and CUDA-graph frames/s and x real time (CFG 1.5, top-k 50, bf16, EOS
ignored), graph capture time, prefill time for a ``--prompt``-token prompt, K = 1, 2, 4, 8
candidates of a 10 s window, HeartCodec decode x real time (fp32 and bf16), peak GPU memory, and
the achieved weight bandwidth as a share of the card's measured device-to-device copy bandwidth.
On a machine without CUDA it runs the tiny model on the CPU instead (``--cpu``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from heartmula_core.config import HeartMuLaConfig  # noqa: E402
from heartmula_core.generation import Conditioning, generate_frames, seed_generator  # noqa: E402
from heartmula_core.model.random_init import random_heartmula, tiny_config  # noqa: E402
from heartmula_core.sampling import SamplingSettings  # noqa: E402

FRAME_RATE = 12.5


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def copy_bandwidth(device, nbytes=2 * 2**30) -> float:
    """Measured device-to-device copy bandwidth in bytes/s (read + write counted)."""
    a = torch.empty(nbytes // 2, dtype=torch.bfloat16, device=device)
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    sync(device)
    t = time.perf_counter()
    reps = 20
    for _ in range(reps):
        b.copy_(a)
    sync(device)
    return 2 * nbytes * reps / (time.perf_counter() - t)


def run_frames(model, cond, n, *, graph, candidates=1, settings=SamplingSettings()):
    """(seconds for n frames after the first, seconds for the first frame incl. prefill+capture)."""
    device = model.device
    sync(device)
    t0 = time.perf_counter()
    it = generate_frames(model, cond, max_frames=n, settings=settings, eos_id=8193, num_codes=8192,
                         generator=seed_generator(0, device), num_candidates=candidates, stop_at_eos=False,
                         cuda_graph=graph)
    first = next(it)
    sync(device)
    t1 = time.perf_counter()
    frames = [first] + [f for f in it]
    sync(device)
    t2 = time.perf_counter()
    return t2 - t1, t1 - t0, torch.stack([f.cpu() for f in frames])


def stream_first_audio(model, cond, codec, lead_in: int, block: int = 16) -> float:
    """Seconds from the generation call to the first non-empty audio out of the codec stream."""
    device = model.device
    sync(device)
    t0 = time.perf_counter()
    stream = codec.stream(torch.Generator().manual_seed(0), lead_in=lead_in)
    it = generate_frames(model, cond, max_frames=500, settings=SamplingSettings(), eos_id=8193, num_codes=8192,
                         generator=seed_generator(0, device), stop_at_eos=False)
    pending = []
    for frame in it:
        pending.append(frame.cpu().reshape(-1))
        if len(pending) == block:
            audio = stream.push(torch.stack(pending))
            pending = []
            if audio.shape[1]:
                return time.perf_counter() - t0
    return float("nan")


def weight_bytes_per_frame(model) -> int:
    """Bytes of weights read per frame: the backbone once, the decoder and projection 7-8 times."""
    size = lambda m: sum(p.numel() * p.element_size() for p in m.parameters())
    k = model.config.audio_num_codebooks
    heads = model.codebook0_head.weight
    per_head = model.audio_head[0]
    return (size(model.backbone) + heads.numel() * heads.element_size()
            + (k - 1) * (size(model.decoder) + model.projection.weight.numel() * model.projection.weight.element_size())
            + (k - 1) * per_head.numel() * per_head.element_size())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--prompt", type=int, default=600)
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--skip-codec", action="store_true")
    parser.add_argument("--no-compile", action="store_true",
                        help="skip the compiled decode layers (the pipeline's default on CUDA); "
                             "K candidates and streaming then run on eager layers")
    parser.add_argument("--json")
    parser.add_argument("--lead-in", type=int, default=64, help="first codec window when streaming (frames)")
    parser.add_argument("--profile", action="store_true", help="print the top GPU kernels of eager frames")
    args = parser.parse_args()
    device = torch.device("cpu" if args.cpu or not torch.cuda.is_available() else "cuda")
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    print(f"device: {result['device']}  (torch {torch.__version__})", flush=True)

    class Rows(list):
        def append(self, row):  # print each figure as soon as it is measured
            super().append(row)
            print(f"  {row[0]:<52}  {row[1]}", flush=True)

    rows = Rows()

    if device.type == "cuda":
        cfg, dtype = HeartMuLaConfig(), torch.bfloat16
    else:
        cfg, dtype = tiny_config(), torch.float32
    t = time.perf_counter()
    model = random_heartmula(cfg, device, dtype, seed=0)
    model.fuse_projections()  # as load_heartmula does
    sync(device)
    result["build_s"] = time.perf_counter() - t
    cond = Conditioning(tuple(int(x) for x in torch.randint(0, min(1000, cfg.text_vocab_size), (args.prompt,))),
                        muq_index=20)

    # prefill alone (cached forward of the prompt)
    model.setup_caches(2, args.prompt + 8)
    emb = model.embed_prompt(torch.tensor(cond.tokens, device=device), cond.muq_index, None, 1, True)
    with torch.inference_mode():
        for _ in range(2):
            model.backbone_step(emb, torch.arange(args.prompt, device=device), args.prompt)
        sync(device)
        t = time.perf_counter()
        for _ in range(5):
            model.backbone_step(emb, torch.arange(args.prompt, device=device), args.prompt)
        sync(device)
    result["prefill_ms"] = (time.perf_counter() - t) / 5 * 1000
    rows.append((f"prefill {args.prompt} tokens (CFG batch 2)", f"{result['prefill_ms']:.1f} ms"))

    eager_n = min(args.frames, 64 if device.type == "cuda" else args.frames)
    secs, first, eager_frames = run_frames(model, cond, eager_n, graph=False)
    result["eager_fps"] = (eager_n - 1) / secs
    rows.append(("eager frames/s", f"{result['eager_fps']:.1f} ({result['eager_fps'] / FRAME_RATE:.2f}x real time)"))

    if args.profile and device.type == "cuda":
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
            run_frames(model, cond, 4, graph=False)
        ops = [e for e in prof.key_averages(group_by_input_shape=True)
               if e.key in ("aten::mm", "aten::addmm", "aten::bmm", "aten::linear", "aten::matmul")]
        for e in sorted(ops, key=lambda e: -e.device_time_total)[:10]:
            print(f"    {e.device_time_total / 4 / 1000:7.3f} ms/frame  {e.count / 4:6.0f}x  {e.key} {e.input_shapes}",
                  flush=True)
        events = [e for e in prof.key_averages() if e.device_type.name == "CUDA" and e.self_device_time_total > 0]
        total = sum(e.self_device_time_total for e in events)
        count = sum(e.count for e in events)
        print(f"  profile: {count / 4:.0f} kernels per frame, {total / 4 / 1000:.2f} ms GPU time per frame", flush=True)
        for e in sorted(events, key=lambda e: -e.self_device_time_total)[:12]:
            print(f"    {e.self_device_time_total / 4 / 1000:7.3f} ms/frame  {e.count / 4:6.0f}x  {e.key[:90]}", flush=True)

    if device.type == "cuda":
        modes = [("CUDA graph, eager layers", False)] + ([] if args.no_compile else
                                                          [("CUDA graph + compiled layers (default)", True)])
        for label, compiled in modes:
            if compiled:
                model.compile_decode_layers()
            t = time.perf_counter()
            run_frames(model, cond, 20, graph=True)  # capture (and compile) once
            capture = time.perf_counter() - t
            secs, first, graph_frames = run_frames(model, cond, args.frames, graph=True)
            fps = (args.frames - 1) / secs
            key = "compiled" if compiled else "graph"
            result[f"{key}_capture_s"], result[f"{key}_fps"], result[f"{key}_first_frame_s"] = capture, fps, first
            rows.append((f"{label}: first capture (20 frames)", f"{capture:.1f} s"))
            rows.append((f"{label}: first frame after call (prefill)", f"{first * 1000:.0f} ms"))
            rows.append((f"{label}: frames/s (CFG 1.5, top-k 50, bf16)", f"{fps:.1f} ({fps / FRAME_RATE:.1f}x real time)"))
        best_fps = max(result["graph_fps"], result.get("compiled_fps", 0.0))
        n_same = min(len(eager_frames), len(graph_frames))
        result["eager_graph_identical_frames"] = int((eager_frames[:n_same] == graph_frames[:n_same]).all(-1).sum())
        rows.append(("eager vs graph identical frames (same seed, bf16)", f"{result['eager_graph_identical_frames']}/{n_same}"))
        bw = copy_bandwidth(device)
        per_frame = weight_bytes_per_frame(model)
        result["copy_bw_GBps"] = bw / 1e9
        result["weight_GB_per_frame"] = per_frame / 1e9
        result["weight_bw_share"] = per_frame * best_fps / bw
        rows.append(("weights read per frame", f"{per_frame / 1e9:.2f} GB"))
        rows.append(("best weight bandwidth / measured copy bandwidth",
                     f"{per_frame * best_fps / 1e9:.0f} / {bw / 1e9:.0f} GB/s = "
                     f"{100 * result['weight_bw_share']:.0f}%"))
        window = int(10 * FRAME_RATE)
        base = None
        for k in (1, 2, 4, 8):
            run_frames(model, cond, 8, graph=True, candidates=k)  # capture
            secs, first, _ = run_frames(model, cond, window, graph=True, candidates=k)
            total = secs + first
            base = base or total
            result[f"window10s_K{k}_s"] = total
            rows.append((f"10 s window, K={k} candidates (prefill included)", f"{total:.2f} s ({total / base:.2f}x K=1)"))
        result["peak_gpu_GiB"] = torch.cuda.max_memory_allocated(device) / 2**30
        rows.append(("peak GPU memory (HeartMuLa)", f"{result['peak_gpu_GiB']:.1f} GiB"))

    if not args.skip_codec:
        from heartmula_core.codec.heartcodec.config import HeartCodecConfig
        from heartmula_core.codec.heartcodec.random_init import random_heartcodec, tiny_config as tiny_codec
        from heartmula_core.codec.on_demand import OnDemandCodec

        ccfg = HeartCodecConfig() if device.type == "cuda" else tiny_codec()
        frames = torch.randint(0, 8192, (750, 8))  # 60 s
        for cdtype in ((torch.float32, torch.bfloat16) if device.type == "cuda" else (torch.float32,)):
            name = "float32+tf32" if cdtype == torch.float32 else str(cdtype).split(".")[-1]
            codec = random_heartcodec(ccfg, device, cdtype, seed=0)
            codec.allow_tf32 = cdtype == torch.float32  # the pipeline's default on CUDA
            codec.decode(frames[:700], torch.Generator().manual_seed(0))  # warm-up: first and carried windows
            sync(device)
            t = time.perf_counter()
            audio = codec.decode(frames, torch.Generator().manual_seed(0))
            sync(device)
            secs = time.perf_counter() - t
            result[f"codec_{name}_xrt"] = 60.0 / secs
            rows.append((f"HeartCodec decode 60 s ({name})", f"{secs:.2f} s = {60 / secs:.1f}x real time, "
                         f"finite={bool(torch.isfinite(audio).all())}"))
            if device.type == "cuda":
                rows.append((f"peak GPU memory, HeartMuLa + codec {name}",
                             f"{torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB"))
                stream_first_audio(model, cond, codec, lead_in=args.lead_in)  # warm-up: captures the windows
                first_audio = stream_first_audio(model, cond, codec, lead_in=args.lead_in)
                result[f"first_audio_{name}_s"] = first_audio
                rows.append((f"call -> first decoded audio, streaming, lead-in {args.lead_in} ({name})",
                             f"{first_audio:.2f} s"))
            if device.type == "cuda":
                normal = secs * 10 / 60
                model.drop_caches()
                del codec
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
                low = OnDemandCodec(random_heartcodec(ccfg, "cpu", cdtype, seed=0), device,
                                    before_load=model.drop_caches)
                _, _, song = run_frames(model, cond, 125, graph=True)
                sync(device)
                t = time.perf_counter()
                low.decode(song[:, 0], torch.Generator().manual_seed(0))
                sync(device)
                low_secs = time.perf_counter() - t
                result["low_memory_peak_GiB"] = torch.cuda.max_memory_allocated(device) / 2**30
                result["low_memory_decode_10s_s"] = low_secs
                result[f"low_memory_{name}_peak_GiB"] = result.pop("low_memory_peak_GiB")
                result[f"low_memory_{name}_decode_10s_s"] = result.pop("low_memory_decode_10s_s")
                rows.append((f"low-memory mode: peak GPU memory (10 s song, codec {name})",
                             f"{result[f'low_memory_{name}_peak_GiB']:.1f} GiB"))
                rows.append((f"low-memory mode: decode 10 s incl. codec moves ({name})",
                             f"{low_secs:.2f} s (vs {normal:.2f} s resident, pro rata)"))
                del low
            else:
                del codec
            if device.type == "cuda":
                torch.cuda.empty_cache()

    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
