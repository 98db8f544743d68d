"""Evaluate a demo-codec model on your own lyrics and tags (issue 4's quality bar).

Usage::

    python -m heartmula_core.demo.evaluate --lyrics FILE --tags "pop, happy, fast" [--seeds 5]
        [--seconds 60] [--model DIR] [--device auto|cpu|cuda] [--cfg 1.5] [--topk 50]
        [--temperature 1.0] [--jobs 1] [--first-seed 0]
    python -m heartmula_core.demo.evaluate --eval-set [--seeds 5] ...   # held-out set + tag control

One song is generated per seed (seeds ``F .. F+N-1``, ``F`` = ``--first-seed``, default 0; EOS ends
a song, ``--seconds`` caps it),
decoded with the checkpoint's codec, and read back with :mod:`.analysis`. The command prints one
JSON object (see :func:`summarize`). Without ``--model`` the built-in demo checkpoint
(:data:`DEFAULT_MODEL_DIR`) is used; when it is missing the command says so and exits 2.

Definitions (all per song, then averaged or counted over seeds):

- **Expected tokens**: the lyrics are parsed with :func:`heartmula_core.prompt.parse_lyrics`; every
  lyric line in order contributes :func:`.syllables.text_syllables` of its text (markers are not
  sung). **Sung tokens**: ``analyze_frames(frames)["tokens"]``.
  ``token_error_rate`` = :func:`.analysis.token_error_rate` (Levenshtein / reference length).
- **Expected sections**: one per parsed section, in order, its prompt kind mapped to a codec
  section kind by :data:`.composer.KIND_OF` (unknown markers and the unmarked section -> ``verse``;
  lyrics with no section at all -> intro, verse, chorus, outro, as the composer does).
  **Recovered sections**: ``analyze_frames(frames)["sections"]`` (a new section where the section
  codebook's kind changes or its bar counter returns to 0, as every section starts at its bar 0;
  a counter that slips back mid-section, say from bar 2 to bar 1, is a miscount inside the
  section, not a new one; frames with section id 0 belong to none).
  A song has its **sections in order** when the recovered kind sequence *equals* the expected one
  (same length, same kind at every position); ``sections_in_order`` is the fraction of such songs.
- **Where a line is sung**: the expected tokens are aligned to the sung tokens by a minimum edit
  distance alignment (:func:`align`); a line's *sung syllables* are its expected syllables
  aligned to an equal sung token, and their frames are those tokens' ``token_frames`` spans.
  A song has its **lines in sections** when every line with at least one syllable
  (a) has at least one sung syllable, (b) has all its sung frames inside one recovered section
  whose kind is the line's section's expected kind, and (c) these recovered sections respect the
  prompt: lines of the same prompt section lie in the same recovered section, and lines of a later
  prompt section lie in a later recovered section. ``lines_in_sections`` is the fraction of such
  songs. A song without sung lines (instrumental lyrics) passes trivially.
- ``tempo_bpm`` and ``major_fraction`` come from :func:`.analysis.analyze_audio` on the rendered
  audio (tempo None for songs under ~4 s; the mean leaves those out).
- ``rtf``: per song, wall time of generation + decode over the seconds of audio; the mean over
  songs with at least one frame.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import pairwise, repeat
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import DEMO_MODEL_DIR
from ..errors import HeartMuLaError
from ..prompt import parse_lyrics
from ..sampling import SamplingSettings
from .analysis import analyze_audio, analyze_frames, token_error_rate
from .composer import KIND_OF
from .eval_set import EVAL_SET
from .syllables import text_syllables

#: the built-in demo checkpoint (official root layout), used when no --model is given
DEFAULT_MODEL_DIR = DEMO_MODEL_DIR
#: sections the composer plays for lyrics without any section
DEFAULT_SECTION_KINDS = ("intro", "verse", "chorus", "outro")


@dataclass(frozen=True)
class ExpectedSong:
    """What the prompt asks for: section kinds, and per sung line its section and syllables."""

    section_kinds: tuple[str, ...]
    line_sections: tuple[int, ...]
    line_syllables: tuple[tuple[int, ...], ...]

    @property
    def tokens(self) -> list[int]:
        return [s for line in self.line_syllables for s in line]


def expected_song(lyrics: str) -> ExpectedSong:
    """The expected section kinds and sung lines of ``lyrics`` (see the module docstring)."""
    sections = parse_lyrics(lyrics).sections
    if not sections:
        return ExpectedSong(DEFAULT_SECTION_KINDS, (), ())
    kinds = tuple(KIND_OF.get(s.kind, "verse") for s in sections)
    line_sections, line_syllables = [], []
    for index, section in enumerate(sections):
        for line in section.lines:
            syllables = tuple(text_syllables(line.text))
            if syllables:
                line_sections.append(index)
                line_syllables.append(syllables)
    return ExpectedSong(kinds, tuple(line_sections), tuple(line_syllables))


def align(reference: list[int], hypothesis: list[int]) -> list[int | None]:
    """For each reference token, the index of the equal hypothesis token it is aligned to by a
    minimum edit distance alignment, or None (deleted or substituted). Ties prefer a match, then
    a substitution, then a deletion, so the result is deterministic."""
    n, m = len(reference), len(hypothesis)
    cost = [list(range(m + 1))] + [[i] + [0] * m for i in range(1, n + 1)]
    for i in range(1, n + 1):
        above, row, ref = cost[i - 1], cost[i], reference[i - 1]
        for j in range(1, m + 1):
            row[j] = min(above[j - 1] + (ref != hypothesis[j - 1]), above[j] + 1, row[j - 1] + 1)
    out: list[int | None] = [None] * n
    i, j = n, m
    while i > 0 and j > 0:
        same = reference[i - 1] == hypothesis[j - 1]
        if cost[i][j] == cost[i - 1][j - 1] + (not same):
            if same:
                out[i - 1] = j - 1
            i, j = i - 1, j - 1
        elif cost[i][j] == cost[i - 1][j] + 1:
            i -= 1
        else:
            j -= 1
    return out


def sections_in_order(expected: ExpectedSong, analysis: dict) -> bool:
    """Whether the recovered section kinds equal the expected kinds, position by position."""
    return [s["kind"] for s in analysis["sections"]] == list(expected.section_kinds)


def _section_at(sections: list[dict], frame: int) -> int | None:
    return next((i for i, s in enumerate(sections) if s["start"] <= frame < s["end"]), None)


def line_sections(expected: ExpectedSong, analysis: dict) -> list[int | None]:
    """Per expected line, the index of the recovered section holding all its sung frames, or None
    when it has no sung syllable, straddles sections, or sits in a section of the wrong kind."""
    matches = align(expected.tokens, analysis["tokens"])
    sections = analysis["sections"]
    out: list[int | None] = []
    first = 0
    for section_index, syllables in zip(expected.line_sections, expected.line_syllables):
        sung = [m for m in matches[first:first + len(syllables)] if m is not None]
        first += len(syllables)
        hosts = set()
        for m in sung:
            start, end = analysis["token_frames"][m]
            hosts.update(_section_at(sections, t) for t in range(start, end))
        host = hosts.pop() if len(hosts) == 1 else None
        if host is not None and sections[host]["kind"] != expected.section_kinds[section_index]:
            host = None
        out.append(host)
    return out


def lines_in_sections(expected: ExpectedSong, analysis: dict) -> bool:
    """Whether every sung line falls inside its section (see the module docstring)."""
    hosts = line_sections(expected, analysis)
    if any(h is None for h in hosts):
        return False
    pairs = list(zip(expected.line_sections, hosts))
    for (section_a, host_a), (section_b, host_b) in pairwise(pairs):
        if (section_a == section_b) != (host_a == host_b) or host_b < host_a:
            return False
    return True


def score_frames(expected: ExpectedSong, frames: torch.Tensor | np.ndarray) -> dict:
    """The frame-level metrics of one song: TER, sections in order, lines in sections."""
    analysis = analyze_frames(frames)
    return {
        "token_error_rate": token_error_rate(expected.tokens, analysis["tokens"]),
        "sections_in_order": sections_in_order(expected, analysis),
        "lines_in_sections": lines_in_sections(expected, analysis),
        "sections": [s["kind"] for s in analysis["sections"]],
        "sung_tokens": len(analysis["tokens"]),
        "frames_tempo_bpm": analysis["tempo_bpm"],
        "frames_mode": analysis["mode"],
    }


def _song_frames(pipe, prompt, seed: int, seconds: float, settings: SamplingSettings) -> torch.Tensor:
    """Generated frames ``[T, K]`` on the CPU, cut before the first frame holding EOS (or above)."""
    k = pipe.model.config.audio_num_codebooks
    frames = list(pipe.generate(prompt, max_frames=pipe.frames_for_seconds(seconds), settings=settings,
                                seed=seed, stop_at_eos=True))
    song = torch.stack(frames).cpu() if frames else torch.zeros(0, k, dtype=torch.long)
    hits = (song >= pipe.gen_config.audio_eos_id).any(dim=1).nonzero()
    return song[: hits[0, 0].item()] if len(hits) else song


def evaluate_song(pipe, prompt, expected: ExpectedSong, seed: int, seconds: float,
                  settings: SamplingSettings) -> dict:
    """Generate, decode and score one song; the per-seed record of the JSON."""
    start = time.perf_counter()
    frames = _song_frames(pipe, prompt, seed, seconds, settings)
    audio = pipe.decode(frames, seed=seed) if len(frames) else torch.zeros(pipe.codec.channels, 0)
    frames = pipe.codec.canonical(frames)  # the current demo token layout, whatever the model's
    wall = time.perf_counter() - start
    audio_seconds = audio.shape[-1] / pipe.codec.sample_rate
    heard = analyze_audio(audio, pipe.codec.sample_rate) if audio.shape[-1] else {"tempo_bpm": None, "mode": None,
                                                                                  "key": None}
    record = {"seed": seed, "frames": len(frames), "seconds": audio_seconds}
    record.update(score_frames(expected, frames) if len(frames) else
                  {"token_error_rate": token_error_rate(expected.tokens, []), "sections_in_order":
                   sections_in_order(expected, {"sections": []}), "lines_in_sections": not expected.line_syllables,
                   "sections": [], "sung_tokens": 0, "frames_tempo_bpm": None, "frames_mode": None})
    record.update({"tempo_bpm": heard["tempo_bpm"], "key": heard["key"], "mode": heard["mode"],
                   "wall_seconds": wall, "rtf": wall / audio_seconds if audio_seconds > 0 else None})
    return record


def _mean(values: list) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def summarize(per_seed: list[dict]) -> dict:
    """Aggregate per-seed records into the headline figures (means and fractions of songs)."""
    n = len(per_seed)
    return {
        "token_error_rate": _mean([r["token_error_rate"] for r in per_seed]),
        "sections_in_order": sum(r["sections_in_order"] for r in per_seed) / n if n else None,
        "lines_in_sections": sum(r["lines_in_sections"] for r in per_seed) / n if n else None,
        "tempo_bpm": {"mean": _mean([r["tempo_bpm"] for r in per_seed]),
                      "per_seed": [r["tempo_bpm"] for r in per_seed]},
        "major_fraction": sum(r["mode"] == "major" for r in per_seed) / n if n else None,
        "rtf": _mean([r["rtf"] for r in per_seed]),
    }


SongJob = tuple[str, str, int]
"""One song to generate and score: ``(tags, lyrics, seed)``."""

_worker_pipe = None


def _init_worker(root: str, device: str) -> None:
    global _worker_pipe
    from ..pipeline import Pipeline

    torch.set_num_threads(1)
    _worker_pipe = Pipeline.load(root, device=device)


def _run_job(job: SongJob, seconds: float, settings: SamplingSettings, pipe=None) -> dict:
    tags, lyrics, seed = job
    pipe = pipe or _worker_pipe
    return evaluate_song(pipe, pipe.encode_prompt(tags, lyrics), expected_song(lyrics), seed, seconds, settings)


def run_songs(pipe, songs: list[SongJob], seconds: float, settings: SamplingSettings, jobs: int = 1) -> list[dict]:
    """The per-seed records of ``songs``, in order: here, or with ``jobs`` > 1 in that many worker
    processes (one CPU thread each, each loading the checkpoint of ``pipe`` on its device).
    On one machine the scores do not depend on ``jobs`` (the tests check it; another CPU can
    draw differently); ``rtf`` does (workers share the cores), so measure speed with one job."""
    if jobs <= 1:
        return [_run_job(song, seconds, settings, pipe) for song in songs]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                             initargs=(str(pipe.paths.root), str(pipe.device))) as pool:
        return list(pool.map(_run_job, songs, repeat(seconds), repeat(settings)))


def _seed_list(seeds) -> list[int]:
    return list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]


def song_report(pipe, tags: str, lyrics: str, seeds: list[int], seconds: float, settings: SamplingSettings,
                per_seed: list[dict]) -> dict:
    """The JSON-ready report of one prompt from its per-seed records."""
    expected = expected_song(lyrics)
    report = summarize(per_seed)
    report.update({
        "seeds": seeds,
        "seconds": seconds,
        "tags": tags,
        "expected_tokens": len(expected.tokens),
        "expected_sections": list(expected.section_kinds),
        "settings": {"cfg": settings.cfg_scale, "topk": settings.topk, "temperature": settings.temperature},
        "model": str(pipe.paths.root),
        "device": str(pipe.device),
        "per_seed": per_seed,
    })
    return report


def evaluate(pipe, tags: str, lyrics: str, seeds, seconds: float, settings: SamplingSettings,
             jobs: int = 1) -> dict:
    """Generate one song per seed for (``tags``, ``lyrics``) and return the JSON-ready report.

    ``seeds``: an iterable of seeds (or an int ``n`` for seeds ``0 .. n-1``); ``jobs``: see
    :func:`run_songs`.
    """
    seeds = _seed_list(seeds)
    per_seed = run_songs(pipe, [(tags, lyrics, seed) for seed in seeds], seconds, settings, jobs)
    return song_report(pipe, tags, lyrics, seeds, seconds, settings, per_seed)


def structure_misses(reports: dict[str, dict]) -> list[dict]:
    """The songs of ``reports`` (name -> :func:`song_report`) whose sections are out of order or
    whose lines left their sections: item, seed, expected and found section kinds, TER."""
    return [{"item": name, "seed": record["seed"], "sections_in_order": record["sections_in_order"],
             "lines_in_sections": record["lines_in_sections"], "expected": report["expected_sections"],
             "found": record["sections"], "token_error_rate": record["token_error_rate"]}
            for name, report in reports.items() for record in report["per_seed"]
            if not (record["sections_in_order"] and record["lines_in_sections"])]


CONTROL_BASE_TAGS = "pop, piano"
"""Tags shared by the control runs; each adds one of fast, slow, major, minor."""


def _control_fraction(reports: dict[str, dict], word: str) -> float | None:
    modes = [r["mode"] for r in reports[word]["per_seed"]]
    return sum(m == word for m in modes) / len(modes) if modes else None


def evaluate_eval_set(pipe, seeds, seconds: float, settings: SamplingSettings, jobs: int = 1) -> dict:
    """The held-out report: every :data:`EVAL_SET` item, plus tag-control runs.

    Control: the first item's lyrics with ``CONTROL_BASE_TAGS`` + ``fast`` / ``slow`` /
    ``major`` / ``minor``, so only the control word differs. ``fast_slow_tempo_ratio`` is the
    mean rendered tempo of the fast songs over that of the slow ones; ``mode_as_asked`` is the
    fraction of major- and minor-tagged songs rendered in the mode asked for. ``structure_misses``
    lists each held-out song whose sections or lines went wrong (item, seed, the section kinds
    expected and found, TER), so a miss can be regenerated and looked at. All songs go through
    one :func:`run_songs` call (``jobs`` workers).
    """
    seeds = _seed_list(seeds)
    control_lyrics = EVAL_SET[0].lyrics
    prompts = {item.name: (item.tags, item.lyrics) for item in EVAL_SET}
    prompts.update({f"control:{word}": (f"{CONTROL_BASE_TAGS}, {word}", control_lyrics)
                    for word in ("fast", "slow", "major", "minor")})
    songs = [(tags, lyrics, seed) for tags, lyrics in prompts.values() for seed in seeds]
    records = iter(run_songs(pipe, songs, seconds, settings, jobs))
    reports = {name: song_report(pipe, tags, lyrics, seeds, seconds, settings, [next(records) for _ in seeds])
               for name, (tags, lyrics) in prompts.items()}
    items = {item.name: reports[item.name] for item in EVAL_SET}
    control = {word: reports[f"control:{word}"] for word in ("fast", "slow", "major", "minor")}
    songs = [r for report in items.values() for r in report["per_seed"]]
    fast, slow = control["fast"]["tempo_bpm"]["mean"], control["slow"]["tempo_bpm"]["mean"]
    asked = [_control_fraction(control, w) for w in ("major", "minor")]
    summary = summarize(songs)
    summary.pop("tempo_bpm")
    summary.pop("major_fraction")
    return {
        **summary,
        "songs": len(songs),
        "fast_slow_tempo_ratio": fast / slow if fast and slow else None,
        "mode_as_asked": None if None in asked else sum(asked) / 2,
        "control": {w: {"tempo_bpm": r["tempo_bpm"]["mean"], "major_fraction": r["major_fraction"],
                        "token_error_rate": r["token_error_rate"]} for w, r in control.items()},
        "items": {name: {k: r[k] for k in ("token_error_rate", "sections_in_order", "lines_in_sections",
                                          "tempo_bpm", "major_fraction", "rtf", "tags")}
                  for name, r in items.items()},
        "structure_misses": structure_misses(items),
        "settings": {"cfg": settings.cfg_scale, "topk": settings.topk, "temperature": settings.temperature},
        "seeds": seeds,
        "seconds": seconds,
        "device": str(pipe.device),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m heartmula_core.demo.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--lyrics", type=Path, help="lyrics text file (section markers allowed)")
    parser.add_argument("--tags", help='tags, e.g. "pop, happy, fast"')
    parser.add_argument("--eval-set", action="store_true",
                        help="instead of --lyrics/--tags: the built-in held-out set plus tag-control runs")
    parser.add_argument("--seeds", type=int, default=5, help="number of songs (seeds F..F+N-1)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="F, the first seed (other seeds than those a model was chosen on)")
    parser.add_argument("--seconds", type=float, default=60.0, help="longest song in seconds")
    parser.add_argument("--model", type=Path, default=None, help="checkpoint root (default: the demo model)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--cfg", type=float, default=1.5)
    parser.add_argument("--topk", type=int, default=50)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--jobs", type=int, default=1,
                        help="songs generated in parallel worker processes (scores unchanged; measure rtf with 1)")
    return parser.parse_args(argv)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """The command line: print the JSON report to stdout; 2 with a one-line error on bad input."""
    from ..pipeline import Pipeline

    args = parse_args(argv)
    if args.eval_set == (args.lyrics is not None or args.tags is not None) or \
            (not args.eval_set and (args.lyrics is None or args.tags is None)):
        return _fail("give either --lyrics FILE and --tags TAGS, or --eval-set")
    lyrics = ""
    if not args.eval_set:
        try:
            lyrics = args.lyrics.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else exc
            return _fail(f"cannot read lyrics file {args.lyrics}: {reason}")
    if args.seeds < 1 or not args.seconds > 0 or args.jobs < 1 or args.first_seed < 0:
        return _fail("--seeds and --jobs must be >= 1, --first-seed >= 0 and --seconds > 0")
    model = args.model or DEFAULT_MODEL_DIR
    if args.model is None and not DEFAULT_MODEL_DIR.is_dir():
        return _fail(f"the built-in demo model is missing ({DEFAULT_MODEL_DIR}); train one with "
                     f"python -m heartmula_core.demo.train --out DIR and pass --model DIR")
    try:
        settings = SamplingSettings(temperature=args.temperature, topk=args.topk, cfg_scale=args.cfg)
        pipe = Pipeline.load(model, device=args.device)
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        if args.eval_set:
            report = evaluate_eval_set(pipe, seeds, args.seconds, settings, args.jobs)
        else:
            report = evaluate(pipe, args.tags, lyrics, seeds, args.seconds, settings, args.jobs)
    except HeartMuLaError as exc:
        return _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    report["model"] = str(model)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
