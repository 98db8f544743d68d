"""Token layout of the demo codec: what each of the 8 codebooks of a frame means.

One frame covers 80 ms (12.5 Hz, 3840 samples at 48 kHz). Time inside a song is counted in
frames; a beat is a whole number of frames (``fpb``, 4..10 -> 187.5..75 bpm) and a bar is four
beats, so beats, bars and sections always start on a frame boundary. Drums alone have a finer
grid: two half-frame slots (40 ms) per frame, enough for eighth notes at every tempo.

=====  ==========  =============================================================  =====
cb     name        ids                                                             size
=====  ==========  =============================================================  =====
0      lyric       0 rest, 1 instrumental lead plays the melody,                   962
                   2 + s for sung syllable class s (:mod:`.syllables`, 960)
1      section     0 none, 1 + 16 * kind + min(bar in section, 15) (7 kinds)       113
2      beat        0 none, 1 + 40 * (fpb - 4) + position in bar (0 .. 4 * fpb - 1)  281
3      texture     8 * instrument + energy (5 instruments, energy 0..7)             40
4      chord       0 none, 1 + 7 * root + quality (root 0..11 = C..B, 7 qualities)  85
5      melody      0 rest, 1 + (m - 48) note-on, 37 + (m - 48) held; MIDI m 48..83  73
6      bass        0 rest, 1 + (m - 28) note-on, 25 + (m - 28) held; MIDI m 28..51  49
7      drums       bit mask: kick, snare, hat, crash at slot 0 (bits 0-3) and at    256
                   slot 1, 40 ms later (bits 4-7)
=====  ==========  =============================================================  =====

**Order = sampling order.** A model samples codebook 0 with its backbone and codebooks 1..7 one
after another with its local decoder, each conditioned on the frame's earlier ones. The plan of
the frame comes first (which section, where in the bar, how loud), the notes after: the notes
then follow the section instead of deciding it. Layout ``demo-v1`` had the section second to
last, after melody and texture; a model that drew a quiet texture at the first frame of a chorus
(37% at one seed) then labelled the chorus an outro, because that texture fits an outro. v1
checkpoints still load: :data:`LAYOUT_ORDERS` says where each of their columns goes, and
:class:`~.codec.DemoCodec` reorders their frames to this layout.

The largest id is 961 (codebook 0), so a model vocabulary of 962 + specials covers every
codebook. A syllable holds its codebook-0 id for all frames of its note; its first frame is the
melody note-on, which is how two equal syllables in a row ("la la") stay apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .syllables import NUM_SYLLABLES

SAMPLE_RATE = 48_000
FRAME_RATE = 12.5
FRAME_SAMPLES = 3840
NUM_CODEBOOKS = 8

CB_LYRIC, CB_SECTION, CB_BEAT, CB_TEXTURE, CB_CHORD, CB_MELODY, CB_BASS, CB_DRUMS = range(8)

# codebook 0
LYRIC_REST = 0
LYRIC_LEAD = 1
LYRIC_FIRST_SYLLABLE = 2

# melody and bass: pitched monophonic lines
MELODY_LOW, MELODY_HIGH = 48, 83
BASS_LOW, BASS_HIGH = 28, 51

# chord
CHORD_QUALITIES = ("maj", "min", "dim", "sus4", "7", "maj7", "min7")
#: semitones above the root of each quality
CHORD_INTERVALS = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "sus4": (0, 5, 7),
    "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "min7": (0, 3, 7, 10),
}
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# drums
DRUMS = ("kick", "snare", "hat", "crash")
SLOT_SAMPLES = FRAME_SAMPLES // 2

# texture
INSTRUMENTS = ("piano", "guitar", "synth", "strings", "organ")
ENERGY_LEVELS = 8

# section
SECTION_KINDS = ("intro", "verse", "prechorus", "chorus", "bridge", "interlude", "outro")
MAX_BAR_INDEX = 15

# beat
MIN_FPB, MAX_FPB = 4, 10
BEAT_STRIDE = 40  # 4 * MAX_FPB positions per tempo

_SIZES = {
    CB_LYRIC: LYRIC_FIRST_SYLLABLE + NUM_SYLLABLES,
    CB_SECTION: 1 + len(SECTION_KINDS) * (MAX_BAR_INDEX + 1),
    CB_BEAT: 1 + BEAT_STRIDE * (MAX_FPB - MIN_FPB + 1),
    CB_TEXTURE: len(INSTRUMENTS) * ENERGY_LEVELS,
    CB_CHORD: 1 + 12 * len(CHORD_QUALITIES),
    CB_MELODY: 1 + 2 * (MELODY_HIGH - MELODY_LOW + 1),
    CB_BASS: 1 + 2 * (BASS_HIGH - BASS_LOW + 1),
    CB_DRUMS: 1 << (2 * len(DRUMS)),
}
CODEBOOK_SIZES = tuple(_SIZES[k] for k in range(NUM_CODEBOOKS))
MAX_ID = max(CODEBOOK_SIZES) - 1
LAYOUT_NAME = "demo-v2"
#: per token layout, the codebook of this module's layout that each column holds
LAYOUT_ORDERS: dict[str, tuple[int, ...]] = {
    LAYOUT_NAME: tuple(range(NUM_CODEBOOKS)),
    "demo-v1": (CB_LYRIC, CB_MELODY, CB_CHORD, CB_BASS, CB_DRUMS, CB_TEXTURE, CB_SECTION, CB_BEAT),
}


def to_layout(frames: np.ndarray, layout: str) -> np.ndarray:
    """Frames ``[T, 8]`` of this module's layout reordered into ``layout``'s columns."""
    return frames[:, list(LAYOUT_ORDERS[layout])]


def from_layout(frames: np.ndarray, layout: str) -> np.ndarray:
    """Frames ``[T, 8]`` of ``layout`` reordered into this module's layout."""
    return frames[:, list(np.argsort(LAYOUT_ORDERS[layout]))]


def bpm_of_fpb(fpb: int) -> float:
    """Tempo in beats per minute of a beat ``fpb`` frames long."""
    return 60.0 * FRAME_RATE / fpb


# ---- pitched lines (melody, bass) -----------------------------------------------------------


@dataclass(frozen=True)
class PitchCode:
    """Encoding of a monophonic line over MIDI ``low..high``: 0 rest, then note-ons, then holds."""

    low: int
    high: int

    @property
    def span(self) -> int:
        return self.high - self.low + 1

    def on(self, midi: int) -> int:
        return 1 + self._offset(midi)

    def hold(self, midi: int) -> int:
        return 1 + self.span + self._offset(midi)

    def _offset(self, midi: int) -> int:
        if not self.low <= midi <= self.high:
            raise ValueError(f"MIDI note {midi} outside {self.low}..{self.high}")
        return midi - self.low

    def decode(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(midi, is_onset)`` per id; midi is 0 for rest."""
        ids = np.asarray(ids, dtype=np.int64)
        offset = (ids - 1) % self.span
        midi = np.where(ids > 0, self.low + offset, 0)
        return midi, (ids >= 1) & (ids <= self.span)


MELODY = PitchCode(MELODY_LOW, MELODY_HIGH)
BASS = PitchCode(BASS_LOW, BASS_HIGH)


# ---- chords -------------------------------------------------------------------------------


def chord_id(root: int, quality: str) -> int:
    return 1 + 7 * (root % 12) + CHORD_QUALITIES.index(quality)


def chord_of(cid: int) -> tuple[int, str] | None:
    """``(root, quality)`` of a chord id, None for 0."""
    if cid == 0:
        return None
    root, q = divmod(cid - 1, len(CHORD_QUALITIES))
    return root, CHORD_QUALITIES[q]


def chord_pitch_classes(cid: int) -> tuple[int, ...]:
    chord = chord_of(cid)
    if chord is None:
        return ()
    root, quality = chord
    return tuple((root + i) % 12 for i in CHORD_INTERVALS[quality])


def chord_name(cid: int) -> str:
    chord = chord_of(cid)
    if chord is None:
        return "N"
    suffix = {"maj": "", "min": "m", "dim": "dim", "sus4": "sus4", "7": "7", "maj7": "maj7", "min7": "m7"}
    return NOTE_NAMES[chord[0]] + suffix[chord[1]]


# ---- drums ---------------------------------------------------------------------------------


def drum_bits(drum: str, slot: int) -> int:
    """The bit of ``drum`` hit at half-frame ``slot`` (0 or 1)."""
    return 1 << (DRUMS.index(drum) + 4 * slot)


# ---- texture, section, beat --------------------------------------------------------------


def texture_id(instrument: str, energy: int) -> int:
    return ENERGY_LEVELS * INSTRUMENTS.index(instrument) + int(np.clip(energy, 0, ENERGY_LEVELS - 1))


def texture_of(tid: int) -> tuple[str, int]:
    """``(instrument, energy)`` of a texture id."""
    instrument, energy = divmod(int(tid), ENERGY_LEVELS)
    return INSTRUMENTS[instrument], energy


def section_id(kind: str, bar: int) -> int:
    return 1 + (MAX_BAR_INDEX + 1) * SECTION_KINDS.index(kind) + min(bar, MAX_BAR_INDEX)


def section_of(sid: int) -> tuple[str, int] | None:
    """``(kind, bar in section, capped at 15)`` of a section id, None for 0."""
    if sid == 0:
        return None
    kind, bar = divmod(int(sid) - 1, MAX_BAR_INDEX + 1)
    return SECTION_KINDS[kind], bar


def beat_id(fpb: int, position: int) -> int:
    """Beat-codebook id for tempo ``fpb`` frames per beat at ``position`` frames into the bar."""
    if not MIN_FPB <= fpb <= MAX_FPB:
        raise ValueError(f"frames per beat {fpb} outside {MIN_FPB}..{MAX_FPB}")
    return 1 + BEAT_STRIDE * (fpb - MIN_FPB) + position % (4 * fpb)


def beat_of(bid: int) -> tuple[int, int] | None:
    """``(fpb, position in bar)`` of a beat id, None for 0 or an id past its tempo's bar."""
    if bid == 0:
        return None
    tempo, position = divmod(int(bid) - 1, BEAT_STRIDE)
    fpb = MIN_FPB + tempo
    return (fpb, position) if position < 4 * fpb else None
