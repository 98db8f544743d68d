"""Does a dropped reference track steer the demo model's tempo and mode? (issue 7)

Two reference tracks are composed by the demo composer (outside the training corpus: their own
seeds and hand-written lyrics), rendered and written as WAV files:

- **fast minor**: ``rock, fast, minor, guitar`` (150-188 bpm);
- **slow major**: ``ballad, slow, major, piano`` (75-94 bpm).

Then, for seeds ``0 .. N-1``, the same prompt (tags with no tempo or mode word, one held-out
lyric) is generated three times: with each reference (through the file path the editor uses:
:meth:`Editor.reference_from_file`) and without one. A song *follows* its reference when its
tempo (the frames' beat codebook) is within 15% of the reference's measured tempo and its mode
(chords, bass and melody against key profiles) is the reference's.

Usage::

    python benchmarks/reference_steering.py [--seeds 20] [--seconds 30] [--model DIR]
        [--strength 1.0] [--tags "pop, piano"] [--out DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from heartmula_core.demo.analysis import analyze_frames  # noqa: E402
from heartmula_core.demo.codec import DemoCodec  # noqa: E402
from heartmula_core.demo.composer import compose  # noqa: E402
from heartmula_core.demo.eval_set import EVAL_SET  # noqa: E402
from heartmula_core.editing import Editor  # noqa: E402
from heartmula_core.reference.features import measure  # noqa: E402

REFERENCES = {
    "fast-minor": ("rock, fast, minor, guitar", 31337),
    "slow-major": ("ballad, slow, major, piano", 4242),
}
TEMPO_TOLERANCE = 0.15


def write_reference(name: str, folder: Path, seconds: float = 30.0) -> tuple[Path, dict]:
    """Compose, render and write one reference track; its measured features."""
    tags, seed = REFERENCES[name]
    song = compose(tags, EVAL_SET[2].lyrics, seed)
    n = min(len(song.frames), int(seconds * 12.5))
    start = (len(song.frames) - n) // 2
    audio = DemoCodec().decode(song.frames[start:start + n]).numpy()
    path = folder / f"reference-{name}.wav"
    sf.write(str(path), audio.T, 48000, subtype="PCM_16")
    return path, measure(audio, 48000).summary()


def song_tempo_and_mode(editor: Editor, doc) -> tuple[float | None, str | None]:
    k = editor.num_codebooks
    frames = [f.cpu() for f in editor.pipeline.generate(
        editor.prompt(doc), max_frames=editor.pipeline.frames_for_seconds(doc.target_seconds),
        settings=doc.settings, seed=doc.seed, stop_at_eos=True,
        muq_embed=editor.conditioning(doc, editor.prompt(doc)).muq_embed)]
    song = torch.stack(frames) if frames else torch.zeros(0, k, dtype=torch.long)
    hits = (song >= editor.pipeline.gen_config.audio_eos_id).any(dim=1).nonzero()
    song = song[: hits[0, 0].item()] if len(hits) else song
    if len(song) < 16:
        return None, None
    facts = analyze_frames(editor.pipeline.codec.canonical(song))
    return facts["tempo_bpm"], facts["mode"]


def follows(tempo: float | None, mode: str | None, ref: dict) -> bool:
    return (tempo is not None and abs(math.log(tempo / ref["tempo_bpm"])) < math.log(1 + TEMPO_TOLERANCE)
            and mode == ref["mode"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--model", default=None, help="checkpoint root (default: the built-in demo model)")
    parser.add_argument("--strength", type=float, default=1.0)
    parser.add_argument("--tags", default="pop, piano")
    parser.add_argument("--out", type=Path, default=Path("/tmp/reference-steering"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    editor = Editor.load(args.model, device="cpu")
    lyrics = EVAL_SET[0].lyrics
    refs = {}
    for name in REFERENCES:
        path, features = write_reference(name, args.out)
        refs[name] = {"path": str(path), "features": features,
                      "reference": editor.reference_from_file(path, args.strength)}
    start = time.perf_counter()
    rows = []
    for seed in range(args.seeds):
        base = editor.new_document(args.tags, lyrics, seconds=args.seconds, seed=seed)
        row = {"seed": seed}
        for name, ref in [("none", None), *refs.items()]:
            doc = base if ref is None else base.with_reference(ref["reference"])
            tempo, mode = song_tempo_and_mode(editor, doc)
            row[name] = {"tempo_bpm": tempo and round(tempo, 1), "mode": mode}
            if ref is not None:
                row[name]["follows"] = follows(tempo, mode, ref["features"])
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    names = list(REFERENCES)
    both = [all(r[n]["follows"] for n in names) for r in rows]
    summary = {
        "model": str(args.model or "built-in demo model"), "tags": args.tags, "lyrics": EVAL_SET[0].name,
        "seconds": args.seconds, "seeds": args.seeds, "strength": args.strength,
        "references": {n: refs[n]["features"] for n in names},
        "follows": {n: float(np.mean([r[n]["follows"] for r in rows])) for n in names},
        "follows_all_runs": float(np.mean([r[n]["follows"] for r in rows for n in names])),
        "both_follow_same_seed": float(np.mean(both)),
        "tempo_follows": float(np.mean([r[n]["tempo_bpm"] is not None and abs(math.log(
            r[n]["tempo_bpm"] / refs[n]["features"]["tempo_bpm"])) < math.log(1 + TEMPO_TOLERANCE)
            for r in rows for n in names])),
        "mode_follows": float(np.mean([r[n]["mode"] == refs[n]["features"]["mode"] for r in rows for n in names])),
        "no_reference": {"mean_tempo_bpm": float(np.mean([r["none"]["tempo_bpm"] or np.nan for r in rows])),
                         "major_fraction": float(np.mean([r["none"]["mode"] == "major" for r in rows]))},
        "wall_seconds": round(time.perf_counter() - start, 1),
        "per_seed": rows,
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
