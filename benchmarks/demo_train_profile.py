"""Where a demo-model training step spends its time (GPU kernels vs host), with batches padded
to the fixed shape of their length bucket (``buckets``, what train.py does on CUDA), to one
shape for the whole corpus (``fixed``) and only to their own longest song (``ragged``).

    python benchmarks/demo_train_profile.py [--batches 16,32] [--modes buckets,fixed,ragged] [--warm 60]
        [--steps 15] [train.py options, e.g. --songs 2000 --max-frames 960 ...]

Builds the examples once, then per batch size and mode: ``--warm`` steps (allocator and kernel
caches settle), then ``--steps`` steps timed by wall clock (synchronized at both ends), then
the same number under ``torch.profiler``: prints steps/s, songs/s, GPU busy time per step and the
top CUDA kernels. A step whose GPU time is far below its wall time is host-bound (Python, kernel
launches, syncs, library planning). It also prints the first losses of each mode: the padding
must not change the arithmetic.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from heartmula_core.demo import train as T  # noqa: E402


def run_steps(model, optimizer, batches, settings: T.TrainSettings, n: int, done: int) -> list[torch.Tensor]:
    losses = []
    for i in range(n):
        T.set_lr(optimizer, T.lr_at(done + i, settings))
        losses.append(T.train_step(model, optimizer, next(batches), settings)[0])
    return losses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", default="16,64")
    parser.add_argument("--modes", default="buckets,fixed,ragged")
    parser.add_argument("--warm", type=int, default=150)
    parser.add_argument("--steps", type=int, default=20)
    args, rest = parser.parse_known_args()
    out, settings, _ = T.parse_args(["--out", "/tmp/unused", *rest])
    device = torch.device("cuda")
    tokenizer = T.demo_prompt_tokenizer()
    config = T.build_config(settings, tokenizer.tokenizer.get_vocab_size())
    examples = T.make_examples(settings, tokenizer)
    bank = T.load_or_build_bank(settings)
    print(torch.cuda.get_device_name(), f"{len(examples)} songs")
    buckets = {"fixed": T.length_buckets(examples, 1), "buckets": T.length_buckets(examples, settings.buckets),
               "ragged": None}
    for size in [int(b) for b in args.batches.split(",")]:
        for mode in args.modes.split(","):
            run = T.TrainSettings(**{**settings.__dict__, "batch": size, "steps": args.warm + 2 * args.steps})
            model = T.random_heartmula(config, device, torch.float32, run.seed).train()
            T.tie_syllable_embeddings(model)
            optimizer = T.make_optimizer(model, run)
            batches = T.prefetched_batches(examples, run, torch.Generator().manual_seed(0), bank, device,
                                           buckets=buckets[mode])
            first = run_steps(model, optimizer, batches, run, args.warm, 0)
            torch.cuda.synchronize()
            start = time.perf_counter()
            run_steps(model, optimizer, batches, run, args.steps, args.warm)
            torch.cuda.synchronize()
            wall = (time.perf_counter() - start) / args.steps
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                run_steps(model, optimizer, batches, run, args.steps, args.warm + args.steps)
                torch.cuda.synchronize()
            events = prof.key_averages()
            gpu = sum(e.self_device_time_total for e in events) / 1e3 / args.steps  # ms per step
            print(f"batch {size} {mode}: {1 / wall:.2f} steps/s, {size / wall:.0f} songs/s, wall {wall * 1e3:.1f} "
                  f"ms/step, GPU busy {gpu:.1f} ms/step, peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
            print("  losses of steps 1-8:", " ".join(f"{x:.4f}" for x in torch.stack(first[:8]).tolist()))
            print(events.table(sort_by="self_device_time_total", row_limit=6, max_name_column_width=60))
            torch.cuda.reset_peak_memory_stats()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
