"""The procedural composer: (tags, lyrics with section markers) -> arrangement -> frames ``[T, 8]``.

1. :func:`arrange` reads the tags into a :class:`~.tags.Style` (tempo, key, mode, instruments,
   patterns, energy, voice) and the lyrics into sections (:func:`heartmula_core.prompt.parse_lyrics`)
   whose lines become sung *phrases*: a line of ``n`` syllables (:mod:`.syllables`) is split into
   phrases of at most 14 syllables, each two bars long (one bar for a line of at most 6
   syllables at a slow tempo). A sung section is as long as its phrases; an instrumental one
   (a marker without lines) gets a fixed length: intro and outro 4 bars, bridge and interlude 8,
   halved at slow tempos. Every section starts on a bar line; one silent bar ends the song.
2. :func:`write_frames` realises the plan bar by bar: one chord per bar from the section kind's
   progression (verse and chorus differ; minor keys use a major V, so the leading tone is
   heard), a bass pattern on the chord roots, a drum pattern (intro lighter, bridge half-time,
   crash into choruses, a snare fill before them), energy per section (chorus highest), and the
   melody: each phrase starts on the downbeat of its first bar, one note per syllable on an
   eighth-note grid in one repeating rhythm (quarters, dotted pairs or eighths; :func:`_rhythm`),
   the last note held, then a rest to the phrase's end; strong beats
   on chord tones, the chorus higher than the verse. Instrumental sections get a lead line
   (codebook-0 id 1). Phrases of the same section kind, position and length share a melody, so
   repeated choruses repeat.

Everything random comes from one ``numpy.random.Generator``: the same (tags, lyrics, seed) give
the same frames. :func:`compose` runs both steps. :func:`~.analysis.analyze_frames` and
:func:`~.analysis.analyze_audio` (re-exported here) read the result back.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..prompt import parse_lyrics
from . import vocab
from .analysis import analyze_audio, analyze_frames
from .syllables import text_syllables
from .tags import VOICE_RANGES, Style, resolve_style

__all__ = ["Arrangement", "LinePlan", "SectionPlan", "Song", "analyze_audio", "analyze_frames",
           "arrange", "compose", "write_frames"]

#: prompt section kinds (heartmula_core.prompt) -> demo section kinds (section codebook)
KIND_OF = {
    "intro": "intro", "verse": "verse", "": "verse", "pre-chorus": "prechorus",
    "chorus": "chorus", "post-chorus": "chorus", "hook": "chorus", "refrain": "chorus",
    "bridge": "bridge", "instrumental": "interlude", "interlude": "interlude",
    "solo": "interlude", "break": "interlude", "outro": "outro",
}
BASE_ENERGY = {"intro": 2, "verse": 3, "prechorus": 4, "chorus": 6, "bridge": 4, "interlude": 5, "outro": 3}
INSTRUMENTAL_BARS = {"intro": 4, "outro": 4, "bridge": 8, "interlude": 8, "verse": 4, "prechorus": 4, "chorus": 4}
MAX_PHRASE_SYLLABLES = 14
SLOW_FPB = 8  # from this many frames per beat (94 bpm) on, a song has a slow feel
EIGHTHS_PER_BAR = 8

_I, _ii, _iii, _IV, _V, _vi = (0, "maj"), (2, "min"), (4, "min"), (5, "maj"), (7, "maj"), (9, "min")
_i, _dim, _III, _iv, _VI, _VII = (0, "min"), (2, "dim"), (3, "maj"), (5, "min"), (8, "maj"), (10, "maj")
#: (mode, section kind) -> candidate 4-bar progressions of (semitones above the tonic, quality)
PROGRESSIONS = {
    ("major", "verse"): ((_I, _V, _vi, _IV), (_I, _vi, _IV, _V), (_I, _IV, _I, _V), (_I, _iii, _IV, _V)),
    ("major", "chorus"): ((_IV, _V, _I, _I), (_I, _IV, _V, _I), (_I, _V, _IV, _V), (_IV, _I, _V, _I)),
    ("major", "prechorus"): ((_ii, _IV, _V, _V), (_vi, _IV, _V, _V), (_IV, _V, _IV, _V)),
    ("major", "bridge"): ((_vi, _IV, _I, _V), (_IV, _iii, _ii, _V), (_vi, _V, _IV, _V)),
    ("major", "intro"): ((_I, _IV, _I, _V), (_I, _V, _IV, _I)),
    ("major", "outro"): ((_IV, _V, _I, _I), (_I, _IV, _I, _I)),
    ("minor", "verse"): ((_i, _VI, _iv, _V), (_i, _iv, _V, _i), (_i, _VII, _VI, _V), (_i, _i, _iv, _V)),
    ("minor", "chorus"): ((_VI, _VII, _i, _i), (_iv, _V, _i, _i), (_i, _VI, _VII, _V), (_i, _iv, _i, _V)),
    ("minor", "prechorus"): ((_iv, _VI, _V, _V), (_VI, _iv, _V, _V), (_dim, _V, _i, _V)),
    ("minor", "bridge"): ((_VI, _III, _VII, _V), (_iv, _i, _VI, _V), (_VI, _VII, _iv, _V)),
    ("minor", "intro"): ((_i, _iv, _i, _V), (_i, _VI, _iv, _V)),
    ("minor", "outro"): ((_iv, _V, _i, _i), (_VI, _V, _i, _i)),
}
_PROGRESSION_KIND = {"interlude": "verse"}
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}

#: drum patterns: drum -> eighth-note positions in the bar
DRUM_PATTERNS = {
    "backbeat": {"kick": (0, 4), "snare": (2, 6), "hat": tuple(range(8))},
    "rock": {"kick": (0, 4, 5), "snare": (2, 6), "hat": tuple(range(8))},
    "ballad": {"kick": (0, 4), "snare": (2, 6), "hat": (0, 2, 4, 6)},
    "folk": {"kick": (0, 4), "snare": (2, 6), "hat": (0, 2, 4, 6)},
    "four": {"kick": (0, 2, 4, 6), "snare": (2, 6), "hat": (1, 3, 5, 7)},
    "hiphop": {"kick": (0, 3, 4), "snare": (2, 6), "hat": tuple(range(8))},
    "jazz": {"kick": (0, 4), "snare": (2, 6), "hat": (0, 2, 3, 4, 6, 7)},
    "funk": {"kick": (0, 3, 4, 7), "snare": (2, 6), "hat": tuple(range(8))},
    "metal": {"kick": tuple(range(8)), "snare": (2, 6), "hat": (0, 2, 4, 6)},
}
#: bass patterns: (eighth-note position, interval above the chord root)
BASS_PATTERNS = {
    "half": ((0, 0), (4, 0)),
    "quarter": ((0, 0), (2, 7), (4, 12), (6, 7)),
    "eighths": tuple((p, 0) for p in range(8)),
    "root_fifth": ((0, 0), (4, 7)),
    "octave": tuple((p, 12 * (p % 2)) for p in range(8)),
    "sync": ((0, 0), (3, 0), (4, 7), (7, 0)),
    "whole": ((0, 0),),
}


@dataclass(frozen=True)
class LinePlan:
    """One lyric line: its text, sung syllable classes and the bars of each of its phrases."""

    text: str
    syllables: tuple[int, ...]
    phrases: tuple[tuple[int, int, int], ...]  # (first syllable, syllable count, bars)

    @property
    def bars(self) -> int:
        return sum(bars for _, _, bars in self.phrases)


@dataclass(frozen=True)
class SectionPlan:
    """One section: kind (codebook-6 kind), label as written, bars, energy, instrument, chords."""

    kind: str
    label: str
    start_bar: int
    bars: int
    energy: int
    instrument: str
    chords: tuple[int, ...]        # codebook-2 chord id of each bar
    lines: tuple[LinePlan, ...]

    @property
    def instrumental(self) -> bool:
        return not self.lines


@dataclass(frozen=True)
class Arrangement:
    """The plan of a song: style, sections in order, and the seed used to realise melodies."""

    style: Style
    sections: tuple[SectionPlan, ...]
    melody_seed: int

    @property
    def bar_frames(self) -> int:
        return 4 * self.style.fpb

    @property
    def total_bars(self) -> int:
        """Bars of all sections plus the silent closing bar."""
        return sum(section.bars for section in self.sections) + 1

    @property
    def num_frames(self) -> int:
        return self.total_bars * self.bar_frames

    @property
    def syllables(self) -> list[int]:
        """Every sung syllable class, in order (the lyrics' tokens)."""
        return [s for section in self.sections for line in section.lines for s in line.syllables]


@dataclass(frozen=True)
class Song:
    """A composed song: its arrangement, frames ``[T, 8]`` int64, and each line's frame span."""

    arrangement: Arrangement
    frames: torch.Tensor
    line_frames: tuple[tuple[int, int], ...]     # [start, end) of each sung line, in order
    section_frames: tuple[tuple[int, int], ...]  # [start, end) of each section

    @property
    def seconds(self) -> float:
        return len(self.frames) / vocab.FRAME_RATE


def compose(tags: str, lyrics: str, seed: int | np.random.Generator = 0) -> Song:
    """Compose a song for ``tags`` and ``lyrics``; the same arguments give the same frames."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    arrangement = arrange(tags, lyrics, rng)
    frames, lines = write_frames(arrangement)
    starts = np.cumsum([0] + [s.bars for s in arrangement.sections]) * arrangement.bar_frames
    sections = tuple((int(a), int(b)) for a, b in zip(starts[:-1], starts[1:]))
    return Song(arrangement, torch.from_numpy(frames), tuple(lines), sections)


# ---- arrangement ---------------------------------------------------------------------------


def _phrases(syllables: list[int], fpb: int) -> tuple[tuple[int, int, int], ...]:
    count = max(1, math.ceil(len(syllables) / MAX_PHRASE_SYLLABLES))
    bounds = np.linspace(0, len(syllables), count + 1).round().astype(int)
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        bars = 1 if (b - a) <= 6 and fpb >= SLOW_FPB else 2
        out.append((int(a), int(b - a), bars))
    return tuple(out)


def _progression(style: Style, kind: str, rng: np.random.Generator) -> tuple[int, ...]:
    table = PROGRESSIONS[(style.mode, _PROGRESSION_KIND.get(kind, kind))]
    chords = table[int(rng.integers(len(table)))]
    return tuple(vocab.chord_id(style.key + semis, _seventh(semis, quality) if style.sevenths else quality)
                 for semis, quality in chords)


def _seventh(semis: int, quality: str) -> str:
    if quality == "maj":
        return "7" if semis in (7, 10) else "maj7"
    return "min7" if quality == "min" else quality


def arrange(tags: str, lyrics: str, rng: np.random.Generator) -> Arrangement:
    """Plan a song: style from ``tags``, sections and phrases from ``lyrics`` (see module doc)."""
    style = resolve_style(tags, rng)
    parsed = parse_lyrics(lyrics).sections
    if not parsed:
        kinds_labels = [("intro", "Intro", ()), ("verse", "Verse", ()), ("chorus", "Chorus", ()), ("outro", "Outro", ())]
    else:
        kinds_labels = [(KIND_OF.get(s.kind, "verse"), s.label or "Verse", tuple(line.text for line in s.lines))
                        for s in parsed]
    progressions: dict[str, tuple[int, ...]] = {}
    sections: list[SectionPlan] = []
    bar = 0
    choruses = sum(kind == "chorus" for kind, _, _ in kinds_labels)
    seen_choruses = 0
    slow = style.fpb >= SLOW_FPB
    for kind, label, texts in kinds_labels:
        lines = []
        for text in texts:
            syllables = text_syllables(text)
            if syllables:
                lines.append(LinePlan(text, tuple(syllables), _phrases(syllables, style.fpb)))
        if lines:
            bars = sum(line.bars for line in lines)
        else:
            bars = INSTRUMENTAL_BARS[kind] // (2 if slow else 1)
        if kind not in progressions:
            progressions[kind] = _progression(style, kind, rng)
        prog = progressions[kind]
        chords = [prog[b % len(prog)] for b in range(bars)]
        energy = BASE_ENERGY[kind] + style.energy
        if kind == "chorus":
            seen_choruses += 1
            energy += 1 if seen_choruses == choruses and choruses > 1 else 0
        instrument = style.instruments[1] if kind in ("chorus", "prechorus", "interlude") else style.instruments[0]
        sections.append(SectionPlan(kind, label, bar, bars, int(np.clip(energy, 1, 7)), instrument,
                                    tuple(chords), tuple(lines)))
        bar += bars
    quality = "maj" if style.mode == "major" else "min"
    tonic = vocab.chord_id(style.key, _seventh(0, quality) if style.sevenths else quality)
    sections[-1] = dataclasses.replace(sections[-1], chords=sections[-1].chords[:-1] + (tonic,))  # end home
    return Arrangement(style, tuple(sections), int(rng.integers(2**31)))


# ---- frames --------------------------------------------------------------------------------


class _Grid:
    """Frame arithmetic of one song: bars of ``4 * fpb`` frames, eighths of ``fpb / 2``."""

    def __init__(self, fpb: int) -> None:
        self.fpb = fpb
        self.bar = 4 * fpb

    def eighth(self, bar: int, eighth: int) -> tuple[int, int]:
        """(frame, half-frame slot) of an eighth-note position counted from the start of ``bar``."""
        half_frames = eighth * self.fpb
        return bar * self.bar + half_frames // 2, half_frames % 2

    def frame(self, bar: int, eighth: int) -> int:
        """Frame at (or just before) an eighth-note position."""
        return self.eighth(bar, eighth)[0]


def write_frames(arrangement: Arrangement) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Frames ``[T, 8]`` int64 of ``arrangement`` and the ``[start, end)`` frames of each line."""
    style = arrangement.style
    grid = _Grid(style.fpb)
    frames = np.zeros((arrangement.num_frames, vocab.NUM_CODEBOOKS), dtype=np.int64)
    frames[:, vocab.CB_BEAT] = [vocab.beat_id(style.fpb, t % grid.bar) for t in range(len(frames))]
    end = arrangement.total_bars - 1
    last = arrangement.sections[-1]
    frames[end * grid.bar:, vocab.CB_TEXTURE] = vocab.texture_id(last.instrument, 0)
    line_frames: list[tuple[int, int]] = []
    melodies = _MelodyBook(arrangement)
    for index, section in enumerate(arrangement.sections):
        following = arrangement.sections[index + 1].kind if index + 1 < len(arrangement.sections) else None
        final = following is None
        _write_section_tokens(frames, grid, section)
        _write_bass(frames, grid, style, section, final)
        _write_drums(frames, grid, style, section, following)
        line_frames.extend(melodies.write(frames, grid, section, final))
    return frames, line_frames


def _write_section_tokens(frames: np.ndarray, grid: _Grid, section: SectionPlan) -> None:
    for b in range(section.bars):
        rows = slice((section.start_bar + b) * grid.bar, (section.start_bar + b + 1) * grid.bar)
        energy = section.energy
        if section.kind == "outro":
            energy = max(1, energy - b // 2)
        frames[rows, vocab.CB_SECTION] = vocab.section_id(section.kind, b)
        frames[rows, vocab.CB_TEXTURE] = vocab.texture_id(section.instrument, energy)
        frames[rows, vocab.CB_CHORD] = section.chords[b]


def _write_line(frames: np.ndarray, column: int, code: vocab.PitchCode, notes: list[tuple[int, int, int]]) -> None:
    """Write notes ``(start frame, end frame, midi)`` of a monophonic line into ``column``."""
    for start, stop, midi in notes:
        frames[start, column] = code.on(midi)
        frames[start + 1:stop, column] = code.hold(midi)


def _bass_root(chord: int) -> int:
    root = vocab.chord_of(chord)[0]  # type: ignore[index]
    return vocab.BASS_LOW + (root - 4) % 12  # E1 .. D#2


def _write_bass(frames: np.ndarray, grid: _Grid, style: Style, section: SectionPlan, final: bool) -> None:
    name = "half" if section.kind == "intro" else style.bass
    if style.fpb >= SLOW_FPB and name in ("eighths", "octave"):
        name = "quarter"  # slow feel: no eighth-note bass
    for b in range(section.bars):
        bar = section.start_bar + b
        pattern = BASS_PATTERNS["whole" if final and b == section.bars - 1 else name]
        root = _bass_root(section.chords[b])
        starts = [grid.frame(bar, pos) for pos, _ in pattern] + [(bar + 1) * grid.bar]
        notes = [(starts[i], starts[i + 1], min(root + interval, vocab.BASS_HIGH))
                 for i, (_, interval) in enumerate(pattern)]
        _write_line(frames, vocab.CB_BASS, vocab.BASS, notes)


def _drum_bar(style: Style, section: SectionPlan, b: int, following: str | None) -> dict[str, tuple[int, ...]]:
    pattern = dict(DRUM_PATTERNS[style.drums])
    if style.fpb >= SLOW_FPB:  # slow feel: kick at most on quarters
        pattern["kick"] = tuple(p for p in pattern["kick"] if p % 2 == 0)
    if section.kind == "intro":
        pattern = {"kick": pattern["kick"] if style.drums == "four" else (0, 4), "hat": (0, 2, 4, 6)}
    elif section.kind == "bridge":
        pattern = {"kick": (0,), "snare": (4,), "hat": (0, 2, 4, 6)}
    elif section.kind == "chorus":
        pattern["hat"] = tuple(range(8)) if style.drums != "four" else pattern["hat"]
    last_bar = b == section.bars - 1
    if last_bar and following is None:
        return {"kick": (0,), "crash": (0,)}
    if last_bar and following == "chorus":
        pattern["snare"] = tuple(p for p in pattern.get("snare", ()) if p < 4) + (4, 5, 6, 7)
    if b == 0 and (section.kind == "chorus" or (section.kind == "outro" and section.start_bar > 0)):
        pattern["crash"] = (0,)
    return pattern


def _write_drums(frames: np.ndarray, grid: _Grid, style: Style, section: SectionPlan, following: str | None) -> None:
    for b in range(section.bars):
        for drum, positions in _drum_bar(style, section, b, following).items():
            for pos in positions:
                frame, slot = grid.eighth(section.start_bar + b, pos)
                frames[frame, vocab.CB_DRUMS] |= vocab.drum_bits(drum, slot)


class _MelodyBook:
    """Melodies of one song, remembered by (kind, phrase position, length) so repeats repeat."""

    def __init__(self, arrangement: Arrangement) -> None:
        style = arrangement.style
        self.style = style
        self.seed = arrangement.melody_seed
        low, high = VOICE_RANGES[style.voice]
        self.range = (max(low, vocab.MELODY_LOW), min(high, vocab.MELODY_HIGH))

    def write(self, frames: np.ndarray, grid: _Grid, section: SectionPlan, final: bool) -> list[tuple[int, int]]:
        """Write the section's melody into the lyric and melody codebooks; return each line's frame span."""
        if section.instrumental:
            self._lead(frames, grid, section, final)
            return []
        spans = []
        bar = section.start_bar
        position = 0
        for line in section.lines:
            line_start = bar * grid.bar
            for first, count, bars in line.phrases:
                notes = self._phrase(grid, section, bar, count, bars, position,
                                     end_on_tonic=final or section.kind == "chorus")
                syllables = line.syllables[first:first + count]
                _write_line(frames, vocab.CB_MELODY, vocab.MELODY, notes)
                for (start, stop, _), syllable in zip(notes, syllables):
                    frames[start:stop, vocab.CB_LYRIC] = vocab.LYRIC_FIRST_SYLLABLE + syllable
                bar += bars
                position += 1
            spans.append((line_start, bar * grid.bar))
        return spans

    def _lead(self, frames: np.ndarray, grid: _Grid, section: SectionPlan, final: bool) -> None:
        first = 2 if section.kind == "intro" and section.bars > 2 else 0
        stop = section.bars - (1 if final else 0)
        for b in range(first, stop - 1, 2):
            rng = self._rng(section.kind, b, 0, 2)
            count = int(rng.integers(3, 7))
            notes = self._phrase(grid, section, section.start_bar + b, count, 2, b, end_on_tonic=False, lead=True)
            _write_line(frames, vocab.CB_MELODY, vocab.MELODY, notes)
            for start, end, _ in notes:
                frames[start:end, vocab.CB_LYRIC] = vocab.LYRIC_LEAD

    def _rng(self, kind: str, position: int, count: int, bars: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, vocab.SECTION_KINDS.index(kind), position, count, bars])

    def _phrase(self, grid: _Grid, section: SectionPlan, bar: int, count: int, bars: int, position: int,
                end_on_tonic: bool, lead: bool = False) -> list[tuple[int, int, int]]:
        """Notes ``(start frame, end frame, midi)`` of one phrase starting on ``bar``'s downbeat."""
        rng = self._rng(section.kind, position, count, bars)
        durations = _rhythm(rng, count, EIGHTHS_PER_BAR * bars - 2)
        onsets = np.concatenate([[0], np.cumsum(durations)])
        low, high = self.range
        if lead:
            low, high = min(low + 7, vocab.MELODY_HIGH - 12), min(high + 7, vocab.MELODY_HIGH)
        lift = 3 if section.kind in ("chorus", "bridge") else 0
        centre = (low + high) // 2 + lift - 2
        notes = []
        pitch = None
        for i in range(count):
            chord = section.chords[min(bar - section.start_bar + onsets[i] // EIGHTHS_PER_BAR, section.bars - 1)]
            strong = onsets[i] % 2 == 0
            pitch = _next_pitch(rng, pitch, chord, self.style, low, high, centre, strong)
            if i == count - 1:
                pitch = _cadence(pitch, chord, self.style, low, high, end_on_tonic)
            notes.append((grid.frame(bar, int(onsets[i])), grid.frame(bar, int(onsets[i + 1])), pitch))
        return notes


#: repeating note-length patterns of a phrase (eighths): even quarters, dotted long-short, eighths
RHYTHMS = ((2,), (3, 1), (1,))


def _rhythm(rng: np.random.Generator, count: int, slots: int) -> list[int]:
    """Durations (eighths) of ``count`` notes filling at most ``slots`` eighths: one pattern of
    :data:`RHYTHMS` (among those that fit) repeated through the phrase, the last note held
    1-3 eighths longer when there is room; the phrase then rests until its last bar ends.

    Every length follows from the pattern, which the first notes show, not from how many
    syllables remain. The first rhythm stretched random inner notes to fill the phrase; a model
    sampling one note at a time cannot know how far to stretch, so it ran out of time (dropping
    a line's last syllable) or had time left (singing the last ones again).
    """
    def lengths(pattern: tuple[int, ...]) -> list[int]:
        return [pattern[i % len(pattern)] for i in range(count)]

    fitting = [p for p in RHYTHMS if sum(lengths(p)) <= slots] or [RHYTHMS[-1]]
    durations = lengths(fitting[int(rng.integers(len(fitting)))])
    extra = slots - sum(durations)
    if extra > 0:
        durations[-1] += min(extra, int(rng.integers(1, 4)))
    return durations


def _candidates(chord: int, style: Style, low: int, high: int, chord_only: bool) -> list[int]:
    chord_pcs = set(vocab.chord_pitch_classes(chord))
    scale = {(style.key + s) % 12 for s in SCALES[style.mode]}
    allowed = chord_pcs if chord_only else (scale - _avoid(style, chord_pcs)) | chord_pcs
    return [m for m in range(low, high + 1) if m % 12 in allowed]


def _avoid(style: Style, chord_pcs: set[int]) -> set[int]:
    """The natural seventh of a minor key while the chord holds the raised one (major V)."""
    if style.mode == "minor" and (style.key + 11) % 12 in chord_pcs:
        return {(style.key + 10) % 12}
    return set()


def _next_pitch(rng: np.random.Generator, pitch: int | None, chord: int, style: Style,
                low: int, high: int, centre: int, strong: bool) -> int:
    notes = _candidates(chord, style, low, high, chord_only=strong or pitch is None)
    if pitch is None:
        return min(notes, key=lambda m: abs(m - centre))
    scale = _candidates(chord, style, low, high, chord_only=False)
    here = min(range(len(scale)), key=lambda j: abs(scale[j] - pitch))
    step = int(rng.choice((-2, -1, 0, 1, 2), p=(0.12, 0.33, 0.15, 0.3, 0.1)))
    if scale[here] > centre + 5:
        step = min(step, 0)
    elif scale[here] < centre - 5:
        step = max(step, 0)
    target = scale[int(np.clip(here + step, 0, len(scale) - 1))]
    return min(notes, key=lambda m: (abs(m - target), m))


def _cadence(pitch: int, chord: int, style: Style, low: int, high: int, tonic: bool) -> int:
    """The phrase's last note: the nearest chord tone, or the nearest tonic if ``tonic``."""
    pool = [m for m in range(low, high + 1) if m % 12 == style.key] if tonic else []
    pool = pool or _candidates(chord, style, low, high, chord_only=True)
    return min(pool, key=lambda m: (abs(m - pitch), m))
