"""Does the model's own score tell a structure miss from a good song? (a probe before best-of-N)

For each ``ITEM:SEED`` given (a held-out song that ``evaluate --eval-set`` listed under
``structure_misses``), the song is generated again with the evaluation's settings (one CPU
thread, as its worker processes run), with seeds ``0 .. --hits - 1`` of the same item beside it.
Each song gets the model's teacher-forced log-likelihood per frame
(:func:`heartmula_core.generation.score_frames`, CFG 1.5) and the evaluation's structure verdict.
Prints one JSON line per song: ``item``, ``seed``, ``ok`` (sections in order and lines in
sections), ``mean`` (mean score per frame), ``min12`` (lowest mean over 12 frames), ``ter``.

    python benchmarks/structure_miss_scores.py orchid:1 embers:5 [--model DIR] [--hits 8]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from heartmula_core.checkpoint import DEMO_MODEL_DIR  # noqa: E402
from heartmula_core.demo.eval_set import EVAL_SET  # noqa: E402
from heartmula_core.demo.evaluate import _song_frames, expected_song  # noqa: E402
from heartmula_core.demo.evaluate import score_frames as structure_of  # noqa: E402
from heartmula_core.generation import score_frames  # noqa: E402
from heartmula_core.pipeline import Pipeline  # noqa: E402
from heartmula_core.sampling import SamplingSettings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("misses", nargs="+", help="ITEM:SEED of held-out songs that missed")
    parser.add_argument("--model", type=Path, default=DEMO_MODEL_DIR)
    parser.add_argument("--hits", type=int, default=8, help="seeds 0..N-1 of each item scored beside it")
    args = parser.parse_args()
    items = {item.name: item for item in EVAL_SET}
    plan: dict[str, set[int]] = {}
    for miss in args.misses:
        name, _, seed = miss.partition(":")
        if name not in items or not seed.isdigit():
            parser.error(f"{miss!r}: give ITEM:SEED with ITEM one of {', '.join(items)}")
        plan.setdefault(name, set()).add(int(seed))
    torch.set_num_threads(1)
    pipe = Pipeline.load(args.model, device="cpu")
    settings = SamplingSettings()
    for name, seeds in plan.items():
        item = items[name]
        prompt = pipe.encode_prompt(item.tags, item.lyrics)
        cond = pipe.conditioning(prompt, None)
        expected = expected_song(item.lyrics)
        for seed in sorted(seeds | set(range(args.hits))):
            frames = _song_frames(pipe, prompt, seed, 60.0, settings)
            scores = score_frames(pipe.model, cond, torch.as_tensor(frames)).numpy()
            verdict = structure_of(expected, pipe.codec.canonical(frames))
            window = np.convolve(scores, np.ones(12) / 12, mode="valid") if len(scores) >= 12 else scores
            print(json.dumps({"item": name, "seed": seed,
                              "ok": bool(verdict["sections_in_order"] and verdict["lines_in_sections"]),
                              "mean": round(float(scores.mean()), 4), "min12": round(float(window.min()), 4),
                              "ter": round(verdict["token_error_rate"], 4)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
