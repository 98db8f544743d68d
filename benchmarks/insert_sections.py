"""Does an inserted section come out as its own section? Measured with the editor on a demo model (CPU).

For each held-out song of the evaluation set (:mod:`heartmula_core.demo.eval_set`) and each seed:
generate the song, then insert a new one-line section right after its verse with
``Editor.insert_section`` (2 candidates), once per kind: a pre-chorus (the usual place) and a
bridge (an unusual one, which the editor allows anywhere). Two fractions per kind:
``on_timeline``, the edited song's timeline shows the new section, in order, right after the
verse (``SongDocument.sections``, what the musician sees; the new line is sung there), and
``played_as_kind``, the model's section codebook also labels the new frames with that kind
(the music of a bridge, not of a pre-chorus).

    python benchmarks/insert_sections.py [--model DIR] [--seeds 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from heartmula_core.demo.analysis import analyze_frames  # noqa: E402
from heartmula_core.demo.eval_set import EVAL_SET  # noqa: E402
from heartmula_core.editing.editor import Editor  # noqa: E402

#: inserted kind as the timeline names it -> (section-codebook kind, the inserted text)
INSERTS = {"pre-chorus": ("prechorus", "[pre-chorus]\nthe night is long and the road is wide"),
           "bridge": ("bridge", "[bridge]\nthe night is long and the road is wide")}


def inserted_kinds(editor: Editor, out, start: int, length: int) -> list[str]:
    """Section kinds the model's section codebook gives the inserted frames, in order."""
    frames = editor.pipeline.codec.canonical(out.frames[start:start + length])
    return [s["kind"] for s in analyze_frames(frames)["sections"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="checkpoint root (default: the built-in demo model)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    editor = Editor.load(args.model, device="cpu")
    records = []
    start_time = time.perf_counter()
    for item in EVAL_SET:
        for seed in range(args.seeds):
            song = editor.generate(editor.new_document(item.tags, item.lyrics, seconds=60, seed=seed))
            verse = next((s for s in song.sections() if s.kind == "verse"), None)
            if verse is None:
                records.append({"song": item.name, "seed": seed, "kind": None, "why": "no verse"})
                continue
            for kind, (code_kind, text) in INSERTS.items():
                out = editor.insert_section(song, verse.index, text, candidates=2, seed=seed)
                added = out.num_frames - song.num_frames
                timeline = [s.kind for s in out.sections()]
                codes = inserted_kinds(editor, out, verse.end, added)
                position = timeline.index("verse") + 1 if "verse" in timeline else -1
                on_timeline = 0 <= position < len(timeline) and timeline[position] == kind
                records.append({"song": item.name, "seed": seed, "kind": kind, "timeline": timeline,
                                "codebook": codes, "on_timeline": on_timeline,
                                "played_as_kind": bool(on_timeline and codes[:1] == [code_kind])})

    def fraction(kind: str, key: str) -> float:
        mine = [r for r in records if r["kind"] == kind]
        return sum(r.get(key, False) for r in mine) / max(1, len(mine))

    summary = {kind: {key: fraction(kind, key) for key in ("on_timeline", "played_as_kind")} for kind in INSERTS}
    report = {"inserted": summary, "insertions": len(records), "seeds": args.seeds,
              "model": str(editor.pipeline.paths.root), "seconds": round(time.perf_counter() - start_time, 1),
              "records": records}
    print(json.dumps({k: v for k, v in report.items() if k != "records"}))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
