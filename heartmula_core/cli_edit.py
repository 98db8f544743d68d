"""The song-project commands of the CLI: ``new``, ``edit``, ``render``, ``info``, ``frames``.

Times on the command line are seconds (``30.0:42.5``); the song file keeps frames. Every command
without ``--model`` uses the built-in demo model. ``edit`` applies its options in a fixed order
(undo, redo, choose-take, pin, unpin, fix-line, regenerate/delete/duplicate/insert section,
resample),
each as one undoable step, and saves the song (with its undo history) atomically at the end: a
failure or Ctrl+C leaves the file as it was.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .errors import HeartMuLaError

EDIT_ORDER = ("undo", "redo", "no_reference", "reference", "reference_strength", "choose_take", "pin", "unpin", "fix_line", "regenerate_section", "delete_section",
              "duplicate_section", "insert_section", "resample")


class CliError(HeartMuLaError):
    """Bad command-line input."""


def time_range(text: str) -> tuple[float, float]:
    """``"30:42.5"`` -> ``(30.0, 42.5)`` seconds."""
    try:
        a, b = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:END in seconds, e.g. 30.0:42.5, got {text!r}") from None
    if not 0 <= a < b:
        raise argparse.ArgumentTypeError(f"START must be >= 0 and below END, got {text!r}")
    return a, b


def add_commands(sub, positive) -> None:
    """Register the song commands on the CLI's subparsers."""
    def model_args(p):
        p.add_argument("--model", default=None, help="checkpoint root (default: the built-in demo model)")
        p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
        p.add_argument("--dtype", default="auto", help="HeartMuLa dtype (auto, float32, bfloat16, float16)")

    def reference_args(p, edit: bool = False):
        p.add_argument("--reference", metavar="FILE",
                       help="reference track (.wav .flac .ogg .mp3) steering the style; "
                            + ("set for later edits" if edit else "used for the whole song"))
        p.add_argument("--reference-strength", type=strength, metavar="X", default=None,
                       help="how strongly the reference steers: 0 (not at all) to 2; default 1")
        p.add_argument("--muq-dir", default=None, help="local MuQ-MuLan folder (official checkpoints only)")
        if edit:
            p.add_argument("--no-reference", action="store_true", help="remove the song's reference track")

    n = sub.add_parser("new", help="generate a new song project (.hmsong)")
    n.add_argument("song", help="the .hmsong file to write")
    n.add_argument("--tags", default="", help='e.g. "pop, happy, piano"')
    n.add_argument("--lyrics", required=True, help="UTF-8 lyrics file with [verse], [chorus]... markers")
    n.add_argument("--seconds", type=positive(float), default=60.0, help="maximum length (60)")
    n.add_argument("--seed", type=int, default=0)
    model_args(n)
    reference_args(n)

    e = sub.add_parser("edit", help="edit a song project in place (each option is one undoable step)")
    e.add_argument("song")
    e.add_argument("--resample", type=time_range, metavar="START:END", help="re-sample this window (seconds)")
    e.add_argument("--candidates", type=positive(int), default=4, help="takes sampled per edit (4)")
    e.add_argument("--seed", type=int, default=None, help="sampling seed of the edit")
    e.add_argument("--fix-line", nargs=2, metavar=("N", "TEXT"), help="sing lyric line N (1-based) as TEXT")
    e.add_argument("--pin", type=time_range, metavar="START:END", help="pin this range (never changes)")
    e.add_argument("--unpin", type=time_range, metavar="START:END")
    e.add_argument("--regenerate-section", type=positive(int), metavar="N", help="re-sample section N (1-based)")
    e.add_argument("--delete-section", type=positive(int), metavar="N")
    e.add_argument("--duplicate-section", type=positive(int), metavar="N")
    e.add_argument("--insert-section", nargs=2, metavar=("AFTER", "TEXT"),
                   help='add a section after section AFTER (1-based); TEXT holds its marker and lines, '
                        'separated by "\\n", e.g. "[bridge]\\nnew words here"')
    e.add_argument("--choose-take", type=positive(int), metavar="ID", help="apply take ID (see info)")
    e.add_argument("--undo", action="count", default=0, help="undo the last step (repeat to undo more)")
    e.add_argument("--redo", action="count", default=0)
    reference_args(e, edit=True)
    model_args(e)

    r = sub.add_parser("render", help="write a song project's audio (.wav, .flac, .mp3, .ogg)")
    r.add_argument("song")
    r.add_argument("out")
    model_args(r)

    i = sub.add_parser("info", help="sections, lines, pins and takes of a song project")
    i.add_argument("song")
    i.add_argument("--json", action="store_true", help="one JSON object instead of text")

    f = sub.add_parser("frames", help="save a song project's int frames [T, 8] as .npy")
    f.add_argument("song")
    f.add_argument("out")


def strength(text: str) -> float:
    """argparse type of ``--reference-strength``: a number in 0..2."""
    from .editing.document import MAX_REFERENCE_STRENGTH

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= MAX_REFERENCE_STRENGTH:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_REFERENCE_STRENGTH:g}, got {value:g}")
    return value


def _editor(args):
    from .editing import Editor

    return Editor.load(args.model, device=args.device, dtype=None if args.dtype == "auto" else args.dtype,
                       muq_folder=getattr(args, "muq_dir", None))


def _progress(label: str):
    last = [0.0]

    def report(event) -> None:
        if event.total and (event.done == event.total or event.done - last[0] >= max(1, event.total // 20)):
            last[0] = event.done
            sys.stderr.write(f"\r{label}: {event.done}/{event.total} {event.message}".ljust(70))
            sys.stderr.flush()
    return report


def cmd_new(args, read_text) -> int:
    from .editing import AudioCache, History, save_song

    lyrics = read_text(args.lyrics, "lyrics")
    editor = _editor(args)
    doc = editor.new_document(args.tags, lyrics, seconds=args.seconds, seed=args.seed)
    if args.reference:
        doc = doc.with_reference(editor.reference_from_file(args.reference, _strength(args)))
    elif args.reference_strength is not None:
        raise CliError("--reference-strength needs --reference FILE")
    doc = editor.generate(doc, on_progress=_progress("generating"))
    audio = AudioCache(editor.pipeline.codec, seed=doc.seed).render(doc.frames)
    save_song(args.song, doc, audio, editor.sample_rate, History(doc, "generate"))
    sys.stderr.write(f"\nwrote {args.song}: {doc.duration:.1f} s, {len(doc.sections())} sections\n")
    return 0


def _frames(doc, span: tuple[float, float]) -> tuple[int, int]:
    start, end = doc.seconds_to_frame(span[0]), doc.seconds_to_frame(span[1])
    if end <= start:
        raise CliError(f"{span[0]}:{span[1]} s is outside the song (0:{doc.duration:.2f} s)")
    return start, end


def _strength(args) -> float:
    return 1.0 if args.reference_strength is None else args.reference_strength


def _apply(step: str, value, doc, args, get_editor):
    """One edit step -> (new document, label)."""
    if step == "no_reference":
        return doc.with_reference(None), "clear reference"
    if step == "reference":
        ref = get_editor().reference_from_file(value, _strength(args))
        return doc.with_reference(ref), f"set reference {ref.name}"
    if step == "reference_strength":
        if args.reference:  # already applied with the new reference
            return doc, None
        return doc.with_reference_strength(value), f"reference strength {value:g}"
    common = {"candidates": args.candidates, "seed": args.seed, "on_progress": _progress(step.replace("_", " "))}
    if step == "choose_take":
        return doc.with_take(value), f"choose take {value}"
    if step in ("pin", "unpin"):
        return doc.with_pins(*_frames(doc, value), pinned=step == "pin"), f"{step} {value[0]}:{value[1]} s"
    if step == "fix_line":
        number, text = value
        if not number.isdigit() or int(number) < 1:
            raise CliError(f"--fix-line needs a line number >= 1, got {number!r}")
        return get_editor().fix_line(doc, int(number) - 1, text, **common), f"fix line {number}"
    if step in ("regenerate_section", "delete_section", "duplicate_section"):
        op = getattr(get_editor(), step)
        return op(doc, value - 1, **common), f"{step.replace('_', ' ')} {value}"
    if step == "insert_section":
        after, text = value
        if not after.isdigit() or int(after) < 1:
            raise CliError(f"--insert-section needs a section number >= 1, got {after!r}")
        block = text.replace("\\n", "\n")
        return get_editor().insert_section(doc, int(after) - 1, block, **common), f"insert section after {after}"
    if step == "resample":
        return get_editor().resample(doc, *_frames(doc, value), **common), f"re-sample {value[0]}:{value[1]} s"
    raise AssertionError(step)


def cmd_edit(args) -> int:
    from .editing import AudioCache, load_song, load_song_history, save_song

    saved, audio = load_song(args.song)
    history = load_song_history(args.song)
    doc = history.current
    editor_box = []

    def get_editor():
        if not editor_box:
            editor_box.append(_editor(args))
            editor_box[0].check_song(saved)  # another model's tokens: refused before any edit
        return editor_box[0]

    steps = [(name, getattr(args, name)) for name in EDIT_ORDER if getattr(args, name) not in (None, 0)]
    if not steps:
        raise CliError("nothing to do: give an edit option (see heartmula-editor edit --help)")
    for name, value in steps:
        if name in ("undo", "redo"):
            for _ in range(value):
                doc = history.undo() if name == "undo" else history.redo()
        else:
            doc, label = _apply(name, value, doc, args, get_editor)
            if label is None:
                continue
            history.push(doc, label)
        sys.stderr.write(f"\n{name.replace('_', ' ')}: done\n")
    editor = get_editor()
    cache = AudioCache(editor.pipeline.codec, seed=doc.seed)
    if audio is not None and audio.shape[-1] == saved.num_frames * editor.samples_per_frame:
        cache.set(saved.frames, audio)  # only the edited span is decoded again
    audio = cache.render(doc.frames)
    save_song(args.song, doc, audio, editor.sample_rate, history)
    sys.stderr.write(f"saved {args.song} ({doc.duration:.1f} s; undo: {history.undo_label or '-'})\n")
    return 0


def cmd_render(args) -> int:
    from .audio import audio_format, write_audio
    from .editing import AudioCache, load_song

    audio_format(Path(args.out))
    doc, audio = load_song(args.song)
    editor = _editor(args) if audio is None or audio.shape[-1] == 0 else None
    if editor is not None:
        editor.check_song(doc)
        audio = AudioCache(editor.pipeline.codec, seed=doc.seed).render(doc.frames)
    sample_rate = editor.sample_rate if editor is not None else 48_000
    write_audio(args.out, audio, sample_rate)
    sys.stderr.write(f"wrote {args.out} ({audio.shape[-1] / sample_rate:.1f} s)\n")
    return 0


def song_info(doc, history=None) -> dict:
    """The JSON of ``info``: times in seconds, indices 1-based as on the command line."""
    def sec(frame):
        return None if frame is None else round(doc.frame_to_seconds(frame), 2)

    return {
        "duration": round(doc.duration, 2), "frames": doc.num_frames, "tags": doc.tags, "seed": doc.seed,
        "ended": doc.ended, "token_space": doc.token_space or None,
        "sections": [{"number": s.index + 1, "kind": s.kind, "label": s.label, "start": sec(s.start),
                      "end": sec(s.end)} for s in doc.sections()],
        "lines": [{"number": line.index + 1, "section": line.section + 1, "text": line.text, "start": sec(line.start),
                   "end": sec(line.end)} for line in doc.lines()],
        "pins": [{"start": sec(a), "end": sec(b)} for a, b in doc.pinned_ranges()],
        "takes": [{"id": t.id, "label": t.label, "start": sec(t.start), "end": sec(t.end), "applied": t.applied,
                   "seam_score": t.seam_score, "score": None if t.score != t.score else t.score} for t in doc.takes],
        "undo": history.undo_label if history else None, "redo": history.redo_label if history else None,
        "reference": None if doc.reference is None else {
            "name": doc.reference.name, "seconds": round(doc.reference.seconds, 2), "strength": doc.reference.strength,
            "embedder": doc.reference.embedder, "sha256": doc.reference.sha256},
    }


def cmd_info(args) -> int:
    from .editing import load_song_history

    history = load_song_history(args.song)
    info = song_info(history.current, history)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{args.song}: {info['duration']} s, {info['frames']} frames, tags {info['tags']!r}, "
          f"tokens {info['token_space'] or 'not recorded'}")
    for s in info["sections"]:
        print(f"  section {s['number']} {s['label']:<12} {s['start']:>7.2f} - {s['end']:.2f} s")
    for line in info["lines"]:
        where = "not sung" if line["start"] is None else f"{line['start']:.2f} - {line['end']:.2f} s"
        print(f"    line {line['number']:>2} ({where}): {line['text']}")
    for p in info["pins"]:
        print(f"  pinned {p['start']:.2f} - {p['end']:.2f} s")
    for t in info["takes"]:
        seam = "" if t["seam_score"] is None else f" seam {t['seam_score']:.1f}"
        print(f"  take {t['id']:>3} {t['label']:<14} {t['start']:.2f} - {t['end']:.2f} s{seam}"
              f"{'  (applied)' if t['applied'] else ''}")
    ref = info["reference"]
    if ref:
        print(f"  reference: {ref['name']} ({ref['seconds']:.1f} s, strength {ref['strength']:g}, {ref['embedder']})")
    print(f"  undo: {info['undo'] or '-'}   redo: {info['redo'] or '-'}")
    return 0


def cmd_frames(args) -> int:
    from .editing import load_song

    doc, _ = load_song(args.song, load_audio=False)
    np.save(args.out, np.asarray(doc.frames))
    sys.stderr.write(f"wrote {args.out}: int64 [{doc.num_frames}, {doc.num_codebooks}]\n")
    return 0
