"""The song document: everything an edit reads and writes, as one immutable value.

A :class:`SongDocument` is frozen and its arrays are read-only, so an operation can never change
the document it was given: it builds a new one (:func:`dataclasses.replace`). That makes undo a
stack of documents (a 4-minute song's frames are ~50 KB) and makes "a cancelled or failed
operation leaves the document unchanged" true by construction.

Frame-indexed arrays, all of length ``T = num_frames``:

- ``frames [T, K]`` int64 — the codec tokens;
- ``pinned [T]`` bool — frames no operation may change;
- ``provenance [T]`` int32 — id of the :class:`Take` each frame came from (0: the first
  generation / unknown);
- ``line_of [T]`` int32 — global lyric line sung at the frame, -1 for none;
- ``section_of [T]`` int32 — lyric section the frame belongs to, -1 for none.

``token_space`` names what the frame ids mean (the codec's
:attr:`~heartmula_core.codec.base.Codec.token_space`, e.g. ``heartmula-demo/demo-v2``; "" for
songs saved before it was recorded): a song is only played and edited by a model whose codec has
the same token space (:meth:`heartmula_core.editing.editor.Editor.check_song`).

The alignment arrays (``line_of``, ``section_of``) are filled by
:mod:`heartmula_core.editing.alignment`; user overrides of section boundaries
(``section_overrides``) win over them in :meth:`SongDocument.sections`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import HeartMuLaError
from ..prompt import Lyrics, parse_lyrics
from ..sampling import SamplingSettings

NUM_CODEBOOKS = 8


class EditError(HeartMuLaError):
    """An edit that cannot be done as asked (bad range, everything pinned, no such line...)."""


def frozen_array(values, dtype) -> np.ndarray:
    """A read-only copy of ``values`` as ``dtype``."""
    array = np.array(values, dtype=dtype, copy=True)
    array.flags.writeable = False
    return array


MAX_REFERENCE_STRENGTH = 2.0


@dataclass(frozen=True)
class Reference:
    """Reference audio steering the song: its 512-d embedding, where it came from, its strength."""

    embedding: np.ndarray  # [512] float32
    name: str
    sha256: str
    strength: float = 1.0
    embedder: str = ""      # which embedder made ``embedding`` ("" : unknown, older files)
    seconds: float = 0.0    # the track's length
    preview: np.ndarray | None = None  # [N, 2] float32 min/max of the track, for display

    def with_strength(self, strength: float) -> "Reference":
        """This reference at ``strength`` (0: no effect, 1: as trained, up to 2: exaggerated)."""
        if not 0.0 <= strength <= MAX_REFERENCE_STRENGTH:
            raise EditError(f"reference strength must be in 0..{MAX_REFERENCE_STRENGTH:g}, got {strength}")
        return replace(self, strength=float(strength))


@dataclass(frozen=True)
class Take:
    """One candidate for a window ``[start, end)`` of the song.

    ``score``: mean log-likelihood per frame of the window itself; ``seam_score``: log-likelihood
    of the kept frames after the window given this take (the look-ahead), None when nothing
    follows. ``applied``: whether the document's frames currently hold this take.
    """

    id: int
    start: int
    end: int
    frames: np.ndarray  # [end - start, K] int64
    score: float
    seam_score: float | None
    label: str
    group: int  # takes made by one operation share a group
    applied: bool = False

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class SectionSpan:
    """A lyric section placed on the timeline: frames ``[start, end)``."""

    index: int
    kind: str
    label: str
    start: int
    end: int


@dataclass(frozen=True)
class LineSpan:
    """A lyric line placed on the timeline; ``start``/``end`` None when it is not sung (yet)."""

    index: int
    section: int
    text: str
    start: int | None
    end: int | None


def _empty(dtype, *shape) -> np.ndarray:
    return frozen_array(np.zeros((0, *shape)), dtype)


@dataclass(frozen=True)
class SongDocument:
    """See the module docstring. Build one with :meth:`new`, change it with the ``with_*``
    methods or the operations of :class:`~heartmula_core.editing.editor.Editor`."""

    tags: str
    lyrics: str
    seed: int = 0
    target_seconds: float = 60.0
    settings: SamplingSettings = field(default_factory=SamplingSettings)
    frame_rate: float = 12.5
    reference: Reference | None = None
    frames: np.ndarray = field(default_factory=lambda: _empty(np.int64, NUM_CODEBOOKS))
    pinned: np.ndarray = field(default_factory=lambda: _empty(np.bool_))
    provenance: np.ndarray = field(default_factory=lambda: _empty(np.int32))
    line_of: np.ndarray = field(default_factory=lambda: _empty(np.int32))
    section_of: np.ndarray = field(default_factory=lambda: _empty(np.int32))
    takes: tuple[Take, ...] = ()
    next_take_id: int = 1
    section_overrides: tuple[tuple[int, int, int], ...] = ()  # (section index, start, end) frames
    ended: bool = False  # the model produced EOS: the song is complete
    token_space: str = ""  # what the frame ids mean (the codec's token space; "": not recorded)

    def __post_init__(self) -> None:
        t = self.frames.shape[0]
        if self.frames.ndim != 2:
            raise EditError(f"frames must be [T, K], got shape {tuple(self.frames.shape)}")
        for name in ("pinned", "provenance", "line_of", "section_of"):
            if getattr(self, name).shape != (t,):
                raise EditError(f"{name} has shape {getattr(self, name).shape}, expected ({t},)")

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def new(cls, tags: str, lyrics: str, *, seconds: float = 60.0, seed: int = 0,
            settings: SamplingSettings | None = None, frame_rate: float = 12.5,
            num_codebooks: int = NUM_CODEBOOKS, token_space: str = "") -> SongDocument:
        """An empty song (no frames yet) for ``tags`` and ``lyrics``."""
        if not seconds > 0:
            raise EditError(f"song length must be > 0 seconds, got {seconds}")
        return cls(tags=tags, lyrics=lyrics, seed=int(seed), target_seconds=float(seconds),
                   settings=settings or SamplingSettings(), frame_rate=frame_rate,
                   frames=_empty(np.int64, num_codebooks), token_space=token_space)

    def with_frames(self, frames: np.ndarray, *, pinned=None, provenance=None, line_of=None,
                    section_of=None, **changes) -> SongDocument:
        """A copy with new frames and per-frame arrays (each defaults to "none"/0 of the new length)."""
        t = len(frames)
        return replace(
            self,
            frames=frozen_array(frames, np.int64),
            pinned=frozen_array(np.zeros(t, bool) if pinned is None else pinned, np.bool_),
            provenance=frozen_array(np.zeros(t) if provenance is None else provenance, np.int32),
            line_of=frozen_array(np.full(t, -1) if line_of is None else line_of, np.int32),
            section_of=frozen_array(np.full(t, -1) if section_of is None else section_of, np.int32),
            **changes,
        )

    # -- simple properties --------------------------------------------------------------------

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def num_codebooks(self) -> int:
        return int(self.frames.shape[1])

    @property
    def duration(self) -> float:
        """Seconds of audio the frames make."""
        return self.num_frames / self.frame_rate

    @property
    def structure(self) -> Lyrics:
        return parse_lyrics(self.lyrics)

    def frame_to_seconds(self, frame: int) -> float:
        return frame / self.frame_rate

    def seconds_to_frame(self, seconds: float) -> int:
        """Nearest frame boundary to ``seconds``, clamped to ``0 .. num_frames``."""
        return int(min(max(round(seconds * self.frame_rate), 0), self.num_frames))

    # -- pins and takes (pure edits) ----------------------------------------------------------

    def check_range(self, start: int, end: int) -> tuple[int, int]:
        """``(start, end)`` as ints; EditError unless ``0 <= start < end <= num_frames``."""
        start, end = int(start), int(end)
        if not 0 <= start < end <= self.num_frames:
            raise EditError(f"frame range {start}:{end} is not inside the song (0:{self.num_frames})")
        return start, end

    def with_pins(self, start: int, end: int, pinned: bool = True) -> SongDocument:
        """Pin (or unpin) frames ``[start, end)``."""
        start, end = self.check_range(start, end)
        mask = self.pinned.copy()
        mask[start:end] = pinned
        return replace(self, pinned=frozen_array(mask, np.bool_))

    def pinned_ranges(self) -> list[tuple[int, int]]:
        """Maximal runs of pinned frames as ``(start, end)``."""
        return _runs(self.pinned)

    def take(self, take_id: int) -> Take:
        for take in self.takes:
            if take.id == take_id:
                return take
        raise EditError(f"no take {take_id}; this song has takes {[t.id for t in self.takes]}")

    def with_take(self, take_id: int) -> SongDocument:
        """Put take ``take_id`` into its window (frames of the same length; pins inside it were
        forced when the take was sampled, so they do not change)."""
        take = self.take(take_id)
        if take.end > self.num_frames:
            raise EditError(f"take {take_id} covers frames {take.start}:{take.end}, past the song's end")
        frames = self.frames.copy()
        pinned = self.pinned[take.start:take.end]
        if not np.array_equal(take.frames[pinned], frames[take.start:take.end][pinned]):
            raise EditError(f"take {take_id} would change pinned frames; unpin them first")
        frames[take.start:take.end] = take.frames
        provenance = self.provenance.copy()
        provenance[take.start:take.end] = take.id
        takes = tuple(replace(t, applied=(t.id == take.id) if t.group == take.group else t.applied)
                      for t in self.takes)
        return replace(self, frames=frozen_array(frames, np.int64),
                       provenance=frozen_array(provenance, np.int32), takes=takes)

    def takes_for(self, start: int, end: int) -> list[Take]:
        """Takes whose window overlaps ``[start, end)``, newest group first."""
        hits = [t for t in self.takes if t.start < end and start < t.end]
        return sorted(hits, key=lambda t: (-t.group, t.id))

    # -- prompt edits -------------------------------------------------------------------------

    def with_tags(self, tags: str) -> SongDocument:
        return replace(self, tags=tags)

    def with_lyrics(self, lyrics: str) -> SongDocument:
        return replace(self, lyrics=lyrics)

    def with_reference(self, reference: Reference | None) -> SongDocument:
        """This song steered by ``reference`` (None: no reference)."""
        return replace(self, reference=reference)

    def with_reference_strength(self, strength: float) -> SongDocument:
        if self.reference is None:
            raise EditError("the song has no reference track to set the strength of")
        return replace(self, reference=self.reference.with_strength(strength))

    def with_section_override(self, section: int, start: int, end: int) -> SongDocument:
        """Store the user's own boundaries for ``section`` (frames); they win over the alignment."""
        start, end = self.check_range(start, end)
        kept = tuple(o for o in self.section_overrides if o[0] != section)
        return replace(self, section_overrides=(*kept, (int(section), start, end)))

    # -- timeline -----------------------------------------------------------------------------

    def sections(self) -> list[SectionSpan]:
        """Sections placed on the timeline, in song order (from the alignment, overrides win)."""
        structure = self.structure
        overrides = {s: (a, b) for s, a, b in self.section_overrides}
        spans = []
        for section in structure.sections:
            if section.index in overrides:
                start, end = overrides[section.index]
            else:
                frames = np.flatnonzero(self.section_of == section.index)
                if not len(frames):
                    continue
                start, end = int(frames[0]), int(frames[-1]) + 1
            kind = section.kind or "verse"
            spans.append(SectionSpan(section.index, kind, section.label or kind.title(), start, end))
        return sorted(spans, key=lambda s: s.start)

    def lines(self) -> list[LineSpan]:
        """Every lyric line with the frames where it is sung (None when not sung)."""
        out = []
        for line in self.structure.lines:
            frames = np.flatnonzero(self.line_of == line.index)
            start, end = (int(frames[0]), int(frames[-1]) + 1) if len(frames) else (None, None)
            out.append(LineSpan(line.index, line.section, line.text, start, end))
        return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of True in a 1-D bool array."""
    padded = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
