"""Frames to audio, one block of frames at a time (the state machine behind :mod:`.codec`).

:class:`BlockRenderer` reads each frame's tokens in order (a small per-frame loop that only
records integers: which note, since which control step, which articulation), then computes
every control-rate value and all audio of the block with array operations (:mod:`.synth`).
The renderer is causal; see :mod:`.synth` for why that makes streaming exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import vocab
from .synth import (
    BASS_ENVELOPE, BASS_HARMONICS, CHORD_HARMONICS, CODA_NOISE, ECHO_TAPS, ENERGY_GAIN, ENVELOPES,
    FORMANTS, FRAME, MIX, ONSET_STYLE, SR, STEP_SECONDS, STEPS, TAIL, VOICE_HARMONICS, VOWEL_GLIDE,
    OscBank, instrument_weights, midi_hz, one_shots, pan_gains, soft_limit, sung_weights,
)
from .syllables import syllable_parts

_INSTRUMENTS = vocab.INSTRUMENTS
_CHORD_WEIGHTS = np.stack([w for w in instrument_weights(CHORD_HARMONICS).values()])
_LEAD_WEIGHTS = np.stack([w for w in instrument_weights(VOICE_HARMONICS).values()])
_BASS_WEIGHTS = (lambda k: (k ** -2.0 / (k ** -2.0).sum()).astype(np.float32))(np.arange(1.0, BASS_HARMONICS + 1))
_FORMANT_NAMES = tuple(FORMANTS)
_FORMANT_TABLE = np.array([FORMANTS[n] for n in _FORMANT_NAMES], dtype=np.float64)
_VOWEL_ORDER = tuple(VOWEL_GLIDE)
_VOWEL_STARTS = np.array([_FORMANT_NAMES.index(a) for a, _ in VOWEL_GLIDE.values()])
_VOWEL_ENDS = np.array([_FORMANT_NAMES.index(b) for _, b in VOWEL_GLIDE.values()])
_COLOUR = {c: _FORMANT_NAMES.index(c) for c in ("m", "n", "l", "r", "w")}
_CHORD_PANS = (-0.55, 0.55, -0.25, 0.25)
_STRUM_STEPS = (0, 1, 2, 2)
_LEGATO = (1.0, 1.0, 1.0, 1.0)
_LEAD_ONSET = (0.3, 1.0, 1.0, 1.0)
_REST = -1


@lru_cache(maxsize=None)
def voicing(cid: int) -> tuple[int, int, int, int]:
    """Four MIDI notes for chord id ``cid``: the inversion whose mean is nearest MIDI 61."""
    pcs = vocab.chord_pitch_classes(cid)
    root = vocab.chord_of(cid)[0]  # type: ignore[index]
    notes = [48 + root + (pc - root) % 12 for pc in pcs]
    if len(notes) == 3:
        notes.append(notes[0] + 12)
    best = sorted(notes)
    for _ in range(4):
        notes = sorted(notes[1:] + [notes[0] + 12])
        if abs(np.mean(notes) - 61) < abs(np.mean(best) - 61):
            best = notes
    low = sorted(n - 12 for n in best)
    best = low if abs(np.mean(low) - 61) < abs(np.mean(best) - 61) else best
    return tuple(int(n) for n in best)  # type: ignore[return-value]


@dataclass
class _Line:
    """A monophonic note line between frames: current MIDI note and its onset step."""

    midi: int = 0
    onset: int = 0
    key: int = 0  # codebook-0 id of the vocal note (unused by the bass)
    active: bool = False


class _Steps:
    """Per-control-step integer records of one block, filled by the frame loop."""

    def __init__(self, n_frames: int) -> None:
        s = n_frames * STEPS
        self.voc_midi = np.full(s, _REST, dtype=np.int64)   # MIDI or _REST
        self.voc_onset = np.zeros(s, dtype=np.int64)         # absolute onset step
        self.voc_artic = np.zeros(s)                         # articulation factor
        self.voc_kind = np.zeros(s, dtype=np.int64)          # 0 sung, 1 + instrument: lead
        self.voc_vowel = np.zeros(s, dtype=np.int64)         # index into VOWEL_GLIDE order
        self.voc_colour = np.full(s, _REST, dtype=np.int64)  # consonant formant row or _REST
        self.bass_midi = np.full(s, _REST, dtype=np.int64)
        self.bass_pitch = np.full(s, _REST, dtype=np.int64)  # pitch to sound (old one on a dip)
        self.bass_onset = np.zeros(s, dtype=np.int64)
        self.chord_midi = np.full((4, s), _REST, dtype=np.int64)
        self.chord_pitch = np.full((4, s), _REST, dtype=np.int64)
        self.chord_onset = np.zeros((4, s), dtype=np.int64)
        self.instrument = np.zeros(s, dtype=np.int64)
        self.energy = np.zeros(s, dtype=np.int64)
        self.events: list[tuple[int, str, float]] = []      # (sample in block, one-shot, gain)


class BlockRenderer:
    """Causal renderer: :meth:`render` takes the next ``[n, 8]`` frames, returns ``[2, n * 3840]``."""

    def __init__(self, echo: float = 1.0) -> None:
        self.echo = float(echo)
        self.frame = 0
        self.vocal = OscBank(1, VOICE_HARMONICS, glide=True)
        self.bass = OscBank(1, BASS_HARMONICS, glide=False)
        self.chords = OscBank(4, CHORD_HARMONICS, glide=False)
        self.tail = np.zeros((2, TAIL), dtype=np.float32)
        self.shots = one_shots()
        self.voc = _Line()
        self.voc_vowel = 0
        self.voc_kind = 0
        self.bass_line = _Line()
        self.chord_id = 0
        self.chord_lines = [_Line() for _ in range(4)]
        self.last_chord_pitch = [60, 64, 67, 72]
        self.last_voc_midi = 60
        self.last_bass_midi = 36

    # ---- frame loop (integers only) ----------------------------------------------------------

    def _read(self, frames: np.ndarray) -> _Steps:
        rec = _Steps(len(frames))
        for i, tokens in enumerate(frames.tolist()):
            step0 = (self.frame + i) * STEPS
            sl = slice(i * STEPS, (i + 1) * STEPS)
            instrument, energy = divmod(tokens[vocab.CB_TEXTURE], vocab.ENERGY_LEVELS)
            rec.instrument[sl] = instrument
            rec.energy[sl] = energy
            self._read_vocal(rec, i, step0, tokens, instrument)
            self._read_bass(rec, i, step0, tokens[vocab.CB_BASS])
            self._read_chords(rec, i, step0, tokens, instrument)
            self._read_drums(rec, i, tokens[vocab.CB_DRUMS], energy)
        return rec

    def _read_vocal(self, rec: _Steps, i: int, step0: int, tokens: list[int], instrument: int) -> None:
        lyric, melody = tokens[vocab.CB_LYRIC], tokens[vocab.CB_MELODY]
        sl = slice(i * STEPS, (i + 1) * STEPS)
        line = self.voc
        if lyric == vocab.LYRIC_REST or melody == 0:
            if line.active:
                self._coda(rec, i, line.key)
            line.active = False
            rec.voc_kind[sl] = self.voc_kind
            rec.voc_vowel[sl] = self.voc_vowel
            return
        offset = (melody - 1) % vocab.MELODY.span
        midi = vocab.MELODY_LOW + offset
        onset = melody <= vocab.MELODY.span
        artic = _LEGATO
        colour = _REST
        if onset or not line.active or lyric != line.key or midi != line.midi:
            if line.active:
                self._coda(rec, i, line.key)
            line.midi, line.onset, line.key, line.active = midi, step0, lyric, True
            if lyric >= vocab.LYRIC_FIRST_SYLLABLE:
                first, vowel, _ = syllable_parts(lyric - vocab.LYRIC_FIRST_SYLLABLE)
                artic, noise = ONSET_STYLE[first]
                if noise:
                    rec.events.append((i * FRAME, noise, 1.0))
                colour = _COLOUR.get(first, _REST)
                self.voc_vowel = _VOWEL_ORDER.index(vowel)
                self.voc_kind = 0
            else:
                artic = _LEAD_ONSET
                self.voc_kind = 1 + instrument
        rec.voc_midi[sl] = midi
        rec.voc_onset[sl] = line.onset
        rec.voc_artic[sl] = artic
        rec.voc_kind[sl] = self.voc_kind
        rec.voc_vowel[sl] = self.voc_vowel
        rec.voc_colour[i * STEPS] = colour

    def _coda(self, rec: _Steps, i: int, key: int) -> None:
        if key >= vocab.LYRIC_FIRST_SYLLABLE:
            coda = syllable_parts(key - vocab.LYRIC_FIRST_SYLLABLE)[2]
            if coda in CODA_NOISE:
                rec.events.append((i * FRAME, CODA_NOISE[coda], 1.0))

    def _read_bass(self, rec: _Steps, i: int, step0: int, token: int) -> None:
        sl = slice(i * STEPS, (i + 1) * STEPS)
        line = self.bass_line
        if token == 0:
            line.active = False
            return
        midi = vocab.BASS_LOW + (token - 1) % vocab.BASS.span
        onset = token <= vocab.BASS.span
        rec.bass_midi[sl] = midi
        rec.bass_pitch[sl] = midi
        if onset or not line.active or midi != line.midi:
            start = 0
            if line.active:  # dip to silence on the old pitch during the first step
                rec.bass_pitch[i * STEPS] = line.midi
                rec.bass_midi[i * STEPS] = _REST
                start = 1
            line.midi, line.onset, line.active = midi, step0 + start, True
        rec.bass_onset[sl] = line.onset

    def _read_chords(self, rec: _Steps, i: int, step0: int, tokens: list[int], instrument: int) -> None:
        cid = tokens[vocab.CB_CHORD]
        if cid == 0:
            self.chord_id = 0
            for line in self.chord_lines:
                line.active = False
            return
        name = _INSTRUMENTS[instrument]
        beat = vocab.beat_of(tokens[vocab.CB_BEAT])
        on_beat = beat is not None and beat[1] % beat[0] == 0
        if beat is not None and name == "piano" and tokens[vocab.CB_TEXTURE] % vocab.ENERGY_LEVELS < 3:
            on_beat = beat[1] % (2 * beat[0]) == 0  # quiet piano: beats 1 and 3 only
        strike = cid != self.chord_id or (ENVELOPES[name].struck and on_beat)
        self.chord_id = cid
        base = i * STEPS
        for v, (line, midi) in enumerate(zip(self.chord_lines, voicing(cid))):
            if not (strike or not line.active):
                rec.chord_midi[v, base:base + STEPS] = midi
                rec.chord_pitch[v, base:base + STEPS] = midi
                rec.chord_onset[v, base:base + STEPS] = line.onset
                continue
            strum = _STRUM_STEPS[v] if name == "guitar" else 0
            start = strum + (1 if line.active and line.midi != midi else 0)
            if line.active:  # the old note rings on until the strum reaches it, then dips
                rec.chord_midi[v, base:base + strum] = line.midi
                rec.chord_pitch[v, base:base + start] = line.midi
                rec.chord_onset[v, base:base + start] = line.onset
            else:
                rec.chord_pitch[v, base:base + start] = midi
            line.midi, line.onset, line.active = midi, step0 + start, True
            rec.chord_midi[v, base + start:base + STEPS] = midi
            rec.chord_pitch[v, base + start:base + STEPS] = midi
            rec.chord_onset[v, base + start:base + STEPS] = line.onset

    def _read_drums(self, rec: _Steps, i: int, bits: int, energy: int) -> None:
        if not bits:
            return
        velocity = 0.55 + 0.45 * energy / (vocab.ENERGY_LEVELS - 1)
        for slot in (0, 1):
            for d, drum in enumerate(vocab.DRUMS):
                if bits >> (d + 4 * slot) & 1:
                    rec.events.append((i * FRAME + slot * vocab.SLOT_SAMPLES, drum, velocity))

    # ---- control values (arrays) ---------------------------------------------------------------

    def _step_times(self, n_steps: int) -> np.ndarray:
        """Absolute step index + 1 of each step of the block (a step's target is at its end)."""
        return np.arange(self.frame * STEPS + 1, self.frame * STEPS + n_steps + 1, dtype=np.int64)

    def _vocal_targets(self, rec: _Steps, ends: np.ndarray, level: np.ndarray) -> tuple[np.ndarray, ...]:
        sounding = rec.voc_midi != _REST
        midi = _fill(rec.voc_midi, sounding, self.last_voc_midi)
        self.last_voc_midi = int(midi[-1])
        age = (ends - rec.voc_onset) * STEP_SECONDS
        t = ends * STEP_SECONDS
        vibrato = 0.3 * np.clip((age - 0.2) / 0.25, 0.0, 1.0) * np.sin(2 * np.pi * 5.5 * t)
        lead = rec.voc_kind > 0
        vibrato = np.where(lead, 0.5 * vibrato, vibrato)
        freq = midi_hz(midi + np.where(sounding, vibrato, 0.0))
        base = np.full(len(ends), MIX["vocal"])
        weights = np.empty((len(ends), VOICE_HARMONICS), dtype=np.float32)
        for kind in np.unique(rec.voc_kind[lead]):
            mask = rec.voc_kind == kind
            envelope = ENVELOPES[_INSTRUMENTS[kind - 1]]
            base[mask] = MIX["lead"] * envelope.level(age[mask])
            weights[mask] = _bright(_LEAD_WEIGHTS[kind - 1], envelope.bright, age[mask])
        amp = np.where(sounding, base * rec.voc_artic * level, 0.0)
        sung = ~lead
        if sung.any():
            starts, finals = _VOWEL_STARTS[rec.voc_vowel], _VOWEL_ENDS[rec.voc_vowel]
            mix = np.clip((age - 0.12) / 0.15, 0.0, 1.0)[:, None]
            formants = _FORMANT_TABLE[starts] + mix * (_FORMANT_TABLE[finals] - _FORMANT_TABLE[starts])
            coloured = rec.voc_colour != _REST
            formants[coloured] = _FORMANT_TABLE[rec.voc_colour[coloured]]
            weights[sung] = sung_weights(freq[sung], formants[sung])
        return freq, amp, weights

    def _bass_targets(self, rec: _Steps, ends: np.ndarray, level: np.ndarray) -> tuple[np.ndarray, ...]:
        pitch = _fill(rec.bass_pitch, rec.bass_pitch != _REST, self.last_bass_midi)
        self.last_bass_midi = int(pitch[-1])
        age = np.maximum(ends - rec.bass_onset, 0) * STEP_SECONDS
        amp = np.where(rec.bass_midi != _REST, MIX["bass"] * BASS_ENVELOPE.level(age) * level, 0.0)
        weights = np.broadcast_to(_BASS_WEIGHTS, (len(ends), BASS_HARMONICS))
        return midi_hz(pitch), amp, weights

    def _chord_targets(self, rec: _Steps, ends: np.ndarray, level: np.ndarray) -> tuple[np.ndarray, ...]:
        n = len(ends)
        freq = np.empty((4, n))
        for v in range(4):
            pitch = _fill(rec.chord_pitch[v], rec.chord_pitch[v] != _REST, self.last_chord_pitch[v])
            self.last_chord_pitch[v] = int(pitch[-1])
            freq[v] = midi_hz(pitch)
        age = np.maximum(ends[None, :] - rec.chord_onset, 0) * STEP_SECONDS
        amp = np.zeros((4, n))
        weights = np.empty((4, n, CHORD_HARMONICS), dtype=np.float32)
        for instrument in np.unique(rec.instrument):
            mask = rec.instrument == instrument
            envelope = ENVELOPES[_INSTRUMENTS[instrument]]
            amp[:, mask] = envelope.level(age[:, mask])
            weights[:, mask] = _bright(_CHORD_WEIGHTS[instrument], envelope.bright, age[:, mask])
        amp = np.where(rec.chord_midi != _REST, MIX["chord"] * amp * level[None, :], 0.0)
        return freq, amp, weights

    # ---- audio ---------------------------------------------------------------------------------

    def render(self, frames: np.ndarray) -> np.ndarray:
        """Frames ``[n, 8]`` (validated ints) -> final audio ``[2, n * FRAME]`` float32."""
        n = len(frames)
        size = n * FRAME
        if n == 0:
            return np.zeros((2, 0), dtype=np.float32)
        rec = self._read(frames)
        ends = self._step_times(n * STEPS)
        level = ENERGY_GAIN[rec.energy]
        out = np.zeros((2, size + TAIL), dtype=np.float32)
        out[:, :TAIL] += self.tail

        f, a, w = self._vocal_targets(rec, ends, level)
        vocal = self.vocal.render(f[None], a[None], w[None])[0]
        f, a, w = self._bass_targets(rec, ends, level)
        bass = self.bass.render(f[None], a[None], w[None])[0]
        f, a, w = self._chord_targets(rec, ends, level)
        chords = self.chords.render(f, a, w)

        centre = np.float32(np.sqrt(0.5))
        out[:, :size] += centre * (vocal + bass)
        send = vocal.copy()
        for v, pan in enumerate(_CHORD_PANS):
            left, right = pan_gains(pan)
            out[0, :size] += left * chords[v]
            out[1, :size] += right * chords[v]
            send += 0.5 * chords[v]
        if self.echo > 0:
            for delay, left, right in ECHO_TAPS:
                d = int(delay * SR)
                out[0, d:d + size] += (self.echo * MIX["echo"] * left) * send
                out[1, d:d + size] += (self.echo * MIX["echo"] * right) * send
        for start, name, gain in rec.events:
            shot = self.shots[name]
            out[:, start:start + shot.audio.shape[1]] += (shot.gain * gain) * shot.audio

        self.tail = out[:, size:].copy()
        self.frame += n
        return soft_limit(out[:, :size])


def _fill(values: np.ndarray, valid: np.ndarray, initial: int) -> np.ndarray:
    """``values`` with invalid entries replaced by the last valid one before (``initial`` first)."""
    index = np.where(valid, np.arange(len(values)), -1)
    np.maximum.accumulate(index, out=index)
    return np.where(index >= 0, values[np.maximum(index, 0)], initial)


def _bright(weights: np.ndarray, bright: float, age: np.ndarray) -> np.ndarray:
    """Harmonic weights ``[..., H]`` darkened with ``age`` (struck strings) when ``bright`` > 0."""
    if bright <= 0:
        return np.broadcast_to(weights, age.shape + weights.shape)
    k = np.arange(weights.shape[0])
    return (weights * np.exp(-k * age[..., None] / bright)).astype(np.float32)
