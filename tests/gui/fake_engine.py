"""A small stand-in for ``heartmula_core.editing`` that follows its contract, for GUI tests.

No model: frames are seeded random tokens, audio is a tone per frame (pitch from codebook 0), so
tests run in milliseconds and screenshots show a real-looking waveform. Alignment is explicit:
each section owns a frame span (lines share it evenly); operations keep it consistent.
``FRAME_DELAY`` (seconds per generated frame) makes streaming observable by the event-loop test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heartmula_core.editing import History, LineSpan, ProgressEvent, SectionSpan  # noqa: F401  (shared as is)
from heartmula_core.editing.document import Reference
from heartmula_core.errors import Cancelled, HeartMuLaError, PromptError
from heartmula_core.project_file import ProjectError, load_project, save_project
from heartmula_core.prompt import parse_lyrics
from heartmula_core.reference import ReferenceError

FRAME_RATE = 12.5
SAMPLE_RATE = 48_000
HOP = int(SAMPLE_RATE / FRAME_RATE)  # 3840 samples per frame
CODEBOOKS = 8
STREAM_BLOCK = 8
FRAME_DELAY = 0.0015
calls: list[str] = []  # operations run, for tests
REFERENCE_DELAY = 0.0  # seconds reference_from_file takes (tests make the "Analysing…" state observable)
EMBEDDER = "fake-embedder-v1"


@dataclass(frozen=True)
class Take:
    id: int
    start: int
    end: int
    seam_score: float | None
    score: float
    applied: bool
    label: str


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class SongDocument:
    tags: str
    lyrics: str
    seed: int = 0
    target_seconds: float = 60.0
    frames: np.ndarray = field(default_factory=lambda: _frozen(np.zeros((0, CODEBOOKS), np.int64)))
    pinned: np.ndarray = field(default_factory=lambda: _frozen(np.zeros(0, bool)))
    takes: tuple[Take, ...] = ()
    take_frames: tuple[np.ndarray, ...] = ()  # frames of each take (same order as takes)
    section_spans: tuple[tuple[int, int], ...] = ()  # frame span per parsed section (generated songs)
    reference: Any = None  # heartmula_core.editing.document.Reference or None

    # --- properties -------------------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def duration(self) -> float:
        return self.num_frames / FRAME_RATE

    def frame_to_seconds(self, i: int) -> float:
        return i / FRAME_RATE

    def sections(self) -> list[SectionSpan]:
        parsed = parse_lyrics(self.lyrics).sections
        out = []
        for sec, span in zip(parsed, self.section_spans, strict=False):
            a, b = span[0], min(span[1], self.num_frames)
            if b > a:
                out.append(SectionSpan(sec.index, sec.kind, sec.label or "Song", a, b))
        return out

    def lines(self) -> list[LineSpan]:
        out = []
        parsed = parse_lyrics(self.lyrics).sections
        for s, sec in enumerate(parsed):
            span = self.section_spans[s] if s < len(self.section_spans) else None
            n = len(sec.lines)
            for k, line in enumerate(sec.lines):
                start = end = None
                if span is not None and n:
                    step = (span[1] - span[0]) / n
                    a, b = int(span[0] + k * step), int(span[0] + (k + 1) * step)
                    if b <= self.num_frames:
                        start, end = a, b
                out.append(LineSpan(line.index, s, line.text, start, end))
        return out

    def pinned_ranges(self) -> list[tuple[int, int]]:
        ranges, start = [], None
        for i, p in enumerate(list(self.pinned) + [False]):
            if p and start is None:
                start = i
            elif not p and start is not None:
                ranges.append((start, i))
                start = None
        return ranges

    # --- pure edits ---------------------------------------------------------------------------
    def _replace(self, **kw) -> SongDocument:
        for key in ("frames", "pinned"):
            if key in kw:
                kw[key] = _frozen(kw[key])
        return dataclasses.replace(self, **kw)

    def with_pins(self, start: int, end: int, pinned: bool = True) -> SongDocument:
        mask = np.array(self.pinned)
        mask[max(0, start):min(end, self.num_frames)] = pinned
        return self._replace(pinned=mask)

    def with_take(self, take_id: int) -> SongDocument:
        index = next((i for i, t in enumerate(self.takes) if t.id == take_id), None)
        if index is None:
            raise HeartMuLaError(f"take {take_id} does not exist")
        take = self.takes[index]
        frames = np.array(self.frames)
        keep = np.array(self.pinned[take.start:take.end])
        window = np.array(self.take_frames[index])
        window[keep] = frames[take.start:take.end][keep]
        frames[take.start:take.end] = window
        takes = tuple(dataclasses.replace(t, applied=(t.id == take_id) if _overlap(t, take) else t.applied)
                      for t in self.takes)
        return self._replace(frames=frames, takes=takes)

    def with_tags(self, tags: str) -> SongDocument:
        return self._replace(tags=tags)

    def with_lyrics(self, lyrics: str) -> SongDocument:
        return self._replace(lyrics=lyrics)

    def with_reference(self, reference) -> SongDocument:
        return self._replace(reference=reference)

    def with_reference_strength(self, strength: float) -> SongDocument:
        if self.reference is None:
            raise HeartMuLaError("the song has no reference track to set the strength of")
        if not 0.0 <= strength <= 2.0:
            raise HeartMuLaError(f"reference strength must be in 0..2, got {strength}")
        return self._replace(reference=dataclasses.replace(self.reference, strength=float(strength)))


def _overlap(a: Take, b: Take) -> bool:
    return a.start < b.end and b.start < a.end


class AudioCache:
    """Remembers the last render; the fake re-renders everything anyway (it is cheap)."""

    def __init__(self):
        self.renders = 0


def render_frames(frames: np.ndarray) -> np.ndarray:
    """A tone per frame: pitch from codebook 0, loudness from codebook 1; float32 [2, T*HOP]."""
    if len(frames) == 0:
        return np.zeros((2, 0), np.float32)
    pitch = 110.0 * 2.0 ** ((frames[:, 0] % 24) / 12.0)
    level = 0.25 + 0.5 * (frames[:, 1] % 100) / 100.0
    t = np.arange(HOP, dtype=np.float32) / SAMPLE_RATE
    decay = np.exp(-t * 6.0).astype(np.float32)
    tones = np.sin(2 * np.pi * pitch[:, None] * t[None, :]) * (level[:, None] * decay[None, :])
    mono = tones.reshape(-1).astype(np.float32)
    return np.stack([mono, 0.85 * mono])


class Editor:
    def __init__(self, pipeline=None):
        self.pipeline = pipeline
        self.frame_rate = FRAME_RATE
        self.sample_rate = SAMPLE_RATE
        self.model_name = "Fake demo model"
        self.device = "cpu"
        self._counter = 0

    @classmethod
    def load(cls, root=None, device="auto", dtype=None, memory="normal") -> Editor:
        if root is not None and not Path(root).is_dir():
            raise HeartMuLaError(f"checkpoint folder {root} does not exist")
        return cls(pipeline=("fake", root, device, dtype, memory))

    def new_document(self, tags: str, lyrics: str, *, seconds: float = 60.0, seed: int = 0) -> SongDocument:
        return SongDocument(tags=tags, lyrics=lyrics, seed=seed, target_seconds=float(seconds))

    # --- model operations ---------------------------------------------------------------------
    def _rng(self, seed):
        self._counter += 1
        return np.random.default_rng(self._counter * 7919 + (seed or 0))

    def _stream(self, n, start, rng, on_progress, cancel, stage, stream_audio=True) -> np.ndarray:
        out = np.zeros((n, CODEBOOKS), np.int64)
        block_start = 0
        for i in range(n):
            if cancel is not None and cancel():
                raise Cancelled(f"{stage} was cancelled")
            if FRAME_DELAY:
                time.sleep(FRAME_DELAY)
            out[i] = rng.integers(0, 8192, CODEBOOKS)
            audio = None
            if stream_audio and (i + 1 - block_start >= STREAM_BLOCK or i == n - 1):
                audio = render_frames(out[block_start:i + 1])
                audio_start = (start + block_start) * HOP
                block_start = i + 1
            if on_progress is not None:
                on_progress(ProgressEvent(stage, i + 1, n, out[i:i + 1].copy(), start + i, audio,
                                          audio_start if audio is not None else 0, f"frame {i + 1}/{n}"))
        return out

    def generate(self, doc: SongDocument, *, on_progress=None, cancel=None) -> SongDocument:
        calls.append("generate")
        if not doc.lyrics.strip() and not doc.tags.strip():
            raise PromptError("write some tags or lyrics first")
        n = int(round(doc.target_seconds * FRAME_RATE))
        frames = self._stream(n, 0, self._rng(doc.seed), on_progress, cancel, "generate")
        return doc._replace(frames=frames, pinned=np.zeros(n, bool), takes=(), take_frames=(),
                            section_spans=_plan_sections(doc.lyrics, n))

    def extend(self, doc, seconds, *, on_progress=None, cancel=None):
        calls.append("extend")
        n = int(round(seconds * FRAME_RATE))
        new = self._stream(n, doc.num_frames, self._rng(doc.seed), on_progress, cancel, "extend")
        spans = list(doc.section_spans)
        if spans:
            spans[-1] = (spans[-1][0], spans[-1][1] + n)
        return doc._replace(frames=np.concatenate([doc.frames, new]),
                            pinned=np.concatenate([doc.pinned, np.zeros(n, bool)]), section_spans=tuple(spans))

    def resample(self, doc, start, end, *, candidates=4, seed=None, on_progress=None, cancel=None, label="Take"):
        calls.append("resample")
        start, end = max(0, int(start)), min(int(end), doc.num_frames)
        if end <= start:
            raise HeartMuLaError("the selection is empty")
        rng = self._rng(seed)
        takes = list(doc.takes)
        take_frames = list(doc.take_frames)
        next_id = max((t.id for t in takes), default=0) + 1
        windows, scores = [], []
        for k in range(candidates):
            stage = f"candidate {k + 1}/{candidates}"
            windows.append(self._stream(end - start, start, rng, on_progress, cancel, stage, stream_audio=False))
            scores.append(float(-rng.uniform(0.5, 3.0)))
        best = int(np.argmax(scores))
        for k in range(candidates):
            takes.append(Take(next_id + k, start, end, scores[k], scores[k], False, f"{label} {k + 1}"))
            take_frames.append(windows[k])
        takes = [dataclasses.replace(t, applied=False) if _overlap(t, takes[-1]) and t.id < next_id else t
                 for t in takes]
        new = doc._replace(takes=tuple(takes), take_frames=tuple(take_frames))
        return new.with_take(next_id + best)

    def fix_line(self, doc, line_index, new_text, *, candidates=4, seed=None, on_progress=None, cancel=None):
        calls.append("fix_line")
        lines = parse_lyrics(doc.lyrics).lines
        if not 0 <= line_index < len(lines):
            raise PromptError(f"line {line_index} does not exist")
        span = doc.lines()[line_index]
        if span.start is None:
            raise HeartMuLaError("that line has not been sung yet")
        line = lines[line_index]
        lyrics = doc.lyrics[:line.start] + new_text.strip() + doc.lyrics[line.end:]
        fixed = self.resample(doc.with_lyrics(lyrics), span.start, span.end, candidates=candidates, seed=seed,
                              on_progress=on_progress, cancel=cancel, label="Line take")
        return fixed

    def regenerate_section(self, doc, section_index, *, candidates=4, seed=None, on_progress=None, cancel=None):
        calls.append("regenerate_section")
        a, b = doc.section_spans[section_index]
        return self.resample(doc, a, b, candidates=candidates, seed=seed, on_progress=on_progress, cancel=cancel,
                             label="Section take")

    def delete_section(self, doc, section_index, *, on_progress=None, cancel=None):
        calls.append("delete_section")
        a, b = doc.section_spans[section_index]
        sec = parse_lyrics(doc.lyrics).sections[section_index]
        s0, s1 = sec.span
        lyrics = (doc.lyrics[:s0] + doc.lyrics[s1:]).replace("\n\n\n", "\n\n")
        spans = [(x - (b - a) if x >= b else x, y - (b - a) if y >= b else y)
                 for i, (x, y) in enumerate(doc.section_spans) if i != section_index]
        keep = np.r_[0:a, b:doc.num_frames]
        return doc._replace(lyrics=lyrics, frames=doc.frames[keep], pinned=doc.pinned[keep], takes=(),
                            take_frames=(), section_spans=tuple(spans))

    def duplicate_section(self, doc, section_index, *, on_progress=None, cancel=None):
        calls.append("duplicate_section")
        a, b = doc.section_spans[section_index]
        sec = parse_lyrics(doc.lyrics).sections[section_index]
        s0, s1 = sec.span
        text = doc.lyrics[s0:s1]
        lyrics = doc.lyrics[:s1] + "\n\n" + text + doc.lyrics[s1:]
        n = b - a
        spans = list(doc.section_spans[:section_index + 1]) + [(b, b + n)] + \
            [(x + n, y + n) for x, y in doc.section_spans[section_index + 1:]]
        frames = np.concatenate([doc.frames[:b], doc.frames[a:b], doc.frames[b:]])
        pinned = np.concatenate([doc.pinned[:b], doc.pinned[a:b], doc.pinned[b:]])
        return doc._replace(lyrics=lyrics, frames=frames, pinned=pinned, takes=(), take_frames=(),
                            section_spans=tuple(spans))

    def reference_from_file(self, path, strength: float = 1.0) -> Reference:
        """A deterministic Reference from the file's bytes; ReferenceError for ``bad*`` files,
        unreadable ones and those shorter than 4 s (like the real engine)."""
        import soundfile as sf

        calls.append("reference")
        if REFERENCE_DELAY:
            time.sleep(REFERENCE_DELAY)
        path = Path(path)
        if path.name.lower().startswith("bad"):
            raise ReferenceError(f"{path.name}: the fake embedder refuses files named bad*")
        try:
            data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except (RuntimeError, OSError) as exc:
            raise ReferenceError(f"{path.name}: cannot read this audio file ({exc})") from None
        seconds = len(data) / rate
        if seconds < 4.0:
            raise ReferenceError(f"{path.name}: {seconds:.1f} s is too short for a reference (at least 4 s)")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        rng = np.random.default_rng(int(digest[:8], 16))
        vector = rng.standard_normal(512).astype(np.float32)
        mono = data.mean(axis=1)
        chunks = np.array_split(mono, 240)
        preview = np.array([[c.min(), c.max()] if len(c) else [0, 0] for c in chunks], np.float32)
        return Reference(_frozen(vector / np.linalg.norm(vector)), path.name, digest, float(strength), EMBEDDER,
                         float(seconds), _frozen(preview))

    def render(self, doc, cache=None) -> np.ndarray:
        if cache is not None:
            cache.renders += 1
        return render_frames(np.asarray(doc.frames))


def _plan_sections(lyrics: str, n: int) -> tuple[tuple[int, int], ...]:
    """Spread the sections over ``n`` frames: 2 units per bare section, 1 per lyric line (min 1)."""
    sections = parse_lyrics(lyrics).sections
    if not sections:
        return ((0, n),)
    units = [max(1, len(s.lines)) if s.lines else 2 for s in sections]
    edges = np.round(np.cumsum([0] + units) / sum(units) * n).astype(int)
    return tuple((int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True))


# --- files ------------------------------------------------------------------------------------


def save_song(path, doc: SongDocument, audio=None, sample_rate=None) -> None:
    meta = {"tags": doc.tags, "lyrics": doc.lyrics, "seed": doc.seed, "target_seconds": doc.target_seconds,
            "section_spans": [list(s) for s in doc.section_spans],
            "takes": [dataclasses.asdict(t) for t in doc.takes]}
    arrays = {"frames": np.asarray(doc.frames), "pinned": np.asarray(doc.pinned)}
    ref = doc.reference
    if ref is not None:
        meta["reference"] = {"name": ref.name, "sha256": ref.sha256, "strength": ref.strength,
                             "embedder": ref.embedder, "seconds": ref.seconds}
        arrays["reference_embedding"] = np.asarray(ref.embedding)
        if ref.preview is not None:
            arrays["reference_preview"] = np.asarray(ref.preview)
    for i, frames in enumerate(doc.take_frames):
        arrays[f"take_{i}"] = np.asarray(frames)
    save_project(path, meta, arrays, audio, sample_rate if audio is not None else None)


def load_song(path):
    project = load_project(path)
    d, a = project.document, project.arrays
    try:
        doc = SongDocument(tags=d["tags"], lyrics=d["lyrics"], seed=d["seed"], target_seconds=d["target_seconds"],
                           frames=_frozen(a["frames"]), pinned=_frozen(a["pinned"]),
                           takes=tuple(Take(**t) for t in d["takes"]),
                           take_frames=tuple(a[f"take_{i}"] for i in range(len(d["takes"]))),
                           section_spans=tuple(tuple(s) for s in d["section_spans"]))
        if d.get("reference"):
            r = d["reference"]
            preview = a.get("reference_preview")
            doc = doc.with_reference(Reference(_frozen(a["reference_embedding"]), r["name"], r["sha256"],
                                               float(r["strength"]), r["embedder"], float(r["seconds"]),
                                               None if preview is None else _frozen(preview)))
    except (KeyError, TypeError) as exc:
        raise ProjectError(f"{path}: not a song document ({exc})") from exc
    return doc, project.audio
