"""HeartCodec alone: full-size random weights on the GPU, decode speed per precision setting.

    python benchmarks/codec_bench.py

Prints, for fp32, fp32 with TF32 matmuls (eager and CUDA-graphed windows), and bf16: the decode of 60 s (x real time), the decode of
the first 64-frame lead-in window (what time-to-first-audio waits for), and the relative RMS
difference of the audio against the plain fp32 decode with the same noise.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from heartmula_core.codec.heartcodec.config import HeartCodecConfig  # noqa: E402
from heartmula_core.codec.heartcodec.random_init import random_heartcodec  # noqa: E402


def timed(fn):
    torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return out, time.perf_counter() - t


def main() -> None:
    frames = torch.randint(0, 8192, (750, 8), generator=torch.Generator().manual_seed(0))
    print(f"device: {torch.cuda.get_device_name()}  (torch {torch.__version__})", flush=True)
    reference = None
    for label, dtype, tf32, graphs in (("fp32", torch.float32, False, False),
                                       ("fp32 + TF32, eager", torch.float32, True, False),
                                       ("fp32 + TF32, graphed", torch.float32, True, True),
                                       ("bf16, graphed", torch.bfloat16, False, True)):
        codec = random_heartcodec(HeartCodecConfig(), "cuda", dtype, seed=0)
        codec.allow_tf32, codec.use_cuda_graphs = tf32, graphs
        codec.decode(frames[:700], torch.Generator().manual_seed(0))  # warm-up: first and carried windows
        audio, secs = timed(lambda c=codec: c.decode(frames, torch.Generator().manual_seed(0)))
        codec.decode(frames[:140], torch.Generator().manual_seed(0), lead_in=64)  # warm-up of the short shapes
        _, first = timed(lambda c=codec: c.stream(torch.Generator().manual_seed(0), lead_in=64).push(frames[:64]))
        if reference is None:
            reference = audio
        diff = float((audio - reference).pow(2).mean().sqrt() / reference.pow(2).mean().sqrt())
        print(f"  {label:<24} 60 s in {secs:5.2f} s = {60 / secs:5.1f}x real time | first 64-frame window "
              f"{first * 1000:5.0f} ms | rel. RMS diff vs fp32 {diff:.4f}", flush=True)
        del codec
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
