"""Does look-ahead seam rescoring pick better takes? Measured on the built-in demo model (CPU).

For each seed: generate a song, re-sample a 10 s window in its middle with K candidates, and
compare the take chosen by the look-ahead seam score with a randomly chosen take:

- ``seam``: log-likelihood of the next 2 s of kept frames given the take (higher is better);
- ``join_ok``: whether the music is continuous across the window's end in the demo codec's own
  terms: the beat counter of the first kept frame follows the take's last frame (same tempo,
  next position in the bar) and the section codebook goes on (same section, bar counter not
  jumping back).

Also prints the edit latency (10 s window, K candidates) on this machine.

    python benchmarks/seam_rescoring.py [--seeds 20] [--candidates 4]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from heartmula_core.demo import vocab  # noqa: E402
from heartmula_core.demo.eval_set import EVAL_SET  # noqa: E402
from heartmula_core.editing import Editor  # noqa: E402


def join_ok(last: np.ndarray, first: np.ndarray) -> bool:
    """Beat and section continuity between the take's last frame and the next kept frame."""
    beat_a, beat_b = vocab.beat_of(int(last[vocab.CB_BEAT])), vocab.beat_of(int(first[vocab.CB_BEAT]))
    if beat_a is None or beat_b is None or beat_a[0] != beat_b[0]:
        return False
    fpb, position = beat_a
    if beat_b[1] != (position + 1) % (4 * fpb):
        return False
    sec_a, sec_b = vocab.section_of(int(last[vocab.CB_SECTION])), vocab.section_of(int(first[vocab.CB_SECTION]))
    if sec_a is None or sec_b is None:
        return sec_a == sec_b
    same = sec_a[0] == sec_b[0] and sec_b[1] in (sec_a[1], sec_a[1] + 1)
    return same or sec_b[1] == 0  # a new section starts on its first bar


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--candidates", type=int, default=4)
    args = parser.parse_args()
    editor = Editor.load(device="cpu")
    rng = np.random.default_rng(0)
    rows, latencies = [], []
    for seed in range(args.seeds):
        item = EVAL_SET[seed % len(EVAL_SET)]
        song = editor.generate(editor.new_document(item.tags, item.lyrics, seconds=40, seed=seed), until_eos=False)
        start = song.num_frames // 2 - 62
        end = start + 125  # 10 s
        began = time.perf_counter()
        edited = editor.resample(song, start, end, candidates=args.candidates, seed=seed)
        latencies.append(time.perf_counter() - began)
        takes = [t for t in edited.takes if t.label != "as it was"]
        best = next(t for t in takes if t.applied)
        other = takes[int(rng.integers(len(takes)))]
        following = song.frames[end]
        rows.append({"seed": seed, "best_seam": best.seam_score, "random_seam": other.seam_score,
                     "best_join_ok": join_ok(best.frames[-1], following),
                     "random_join_ok": join_ok(other.frames[-1], following),
                     "all_join_ok": float(np.mean([join_ok(t.frames[-1], following) for t in takes]))})
    report = {
        "seeds": args.seeds, "candidates": args.candidates,
        "mean_seam_best": float(np.mean([r["best_seam"] for r in rows])),
        "mean_seam_random": float(np.mean([r["random_seam"] for r in rows])),
        "join_ok_best": float(np.mean([r["best_join_ok"] for r in rows])),
        "join_ok_random": float(np.mean([r["random_join_ok"] for r in rows])),
        "join_ok_any_candidate": float(np.mean([r["all_join_ok"] for r in rows])),
        "edit_latency_s_median": float(np.median(latencies)),
        "per_seed": rows,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
