"""Peak resident memory while loading a large random HeartMuLa checkpoint.

Writes (once) a random checkpoint in the official sharded fp32 layout, then loads it in a fresh
process and prints the peak RSS next to the size of the loaded weights. With meta-device
construction and tensor-by-tensor assignment the weights should be held once.

    .venv/bin/python benchmarks/load_memory.py [--folder /tmp/hm-large] [--layers 12] [--dim 2048]
        [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def measure(folder: str, dtype: str) -> dict:
    import torch

    from heartmula_core.checkpoint import DTYPES, load_heartmula

    def rss_mb() -> float:
        # VmHWM: peak resident set of this address space (ru_maxrss would carry the parent's
        # peak across exec on Linux).
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc/self/status")

    base = rss_mb()
    t0 = time.perf_counter()
    model = load_heartmula(Path(folder) / "HeartMuLa-oss-3B", "cpu", DTYPES[dtype])
    seconds = time.perf_counter() - t0
    weights = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    file_mb = sum(f.stat().st_size for f in (Path(folder) / "HeartMuLa-oss-3B").glob("*.safetensors")) / 2**20
    peak = rss_mb()
    current = int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20
    del torch
    return {"dtype": dtype, "file_mb": round(file_mb), "weights_mb": round(weights),
            "rss_before_mb": round(base), "peak_rss_mb": round(peak), "rss_after_mb": round(current),
            "peak_over_weights": round((peak - base) / weights, 3), "load_s": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", default="/tmp/hm-large-ckpt")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.folder, args.dtype)))
        return

    folder = Path(args.folder)
    if not (folder / "HeartMuLa-oss-3B" / "config.json").is_file():
        from heartmula_core.config import HeartMuLaConfig, TransformerConfig
        from heartmula_core.model.random_init import write_random_heartmula

        flavor = TransformerConfig(args.layers, args.dim // 128, max(1, args.dim // 512), args.dim, 4 * args.dim, 8192)
        small = TransformerConfig(1, args.dim // 128, max(1, args.dim // 512), args.dim, 4 * args.dim, 16)
        cfg = HeartMuLaConfig(backbone=flavor, decoder=small)
        t0 = time.perf_counter()
        write_random_heartmula(folder / "HeartMuLa-oss-3B", cfg, shards=4)
        print(f"wrote the random checkpoint in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    result = subprocess.run([sys.executable, __file__, "--measure", "--folder", str(folder), "--dtype", args.dtype],
                            capture_output=True, text=True, check=True)
    print(result.stdout.strip())


if __name__ == "__main__":
    main()
