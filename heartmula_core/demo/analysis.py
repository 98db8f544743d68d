"""Reading demo songs back: from frames (exact) and from rendered audio (estimates).

- :func:`analyze_frames` recovers what the demo codec's tokens say: the sung syllable
  sequence (a new syllable at every melody note-on or change of the lyric id), the section
  sequence (a new section where the kind changes or the bar counter returns to 0; a counter
  that slips back to a later bar stays in its section), the tempo (the
  beat codebook) and the key and mode (chords, bass and melody against key profiles).
- :func:`analyze_audio` estimates tempo and mode from audio alone: tempo from the
  autocorrelation of a spectral-flux onset envelope, mode from a chroma vector correlated with
  the Krumhansl-Kessler major and minor profiles.
- :func:`token_error_rate`: edit distance between two token sequences over the reference length.

These feed the demo model's evaluation; they are also what the tests use to check the composer
and the codec.
"""

from __future__ import annotations

import numpy as np
import torch

from . import vocab

#: Krumhansl-Kessler key profiles, tonic first
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

TEMPO_RANGE_BPM = (60.0, 200.0)
ONSET_RATE = 100.0  # onset envelope frames per second


def _as_array(frames: torch.Tensor | np.ndarray) -> np.ndarray:
    array = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if array.ndim != 2 or array.shape[1] != vocab.NUM_CODEBOOKS:
        raise ValueError(f"frames must be [T, {vocab.NUM_CODEBOOKS}], found {list(array.shape)}")
    return array.astype(np.int64)


def analyze_frames(frames: torch.Tensor | np.ndarray) -> dict:
    """What demo-codec frames ``[T, 8]`` say about the song.

    Returns a dict with
    - ``tokens``: sung syllable classes in order (:mod:`.syllables`), held frames collapsed;
    - ``token_frames``: ``[start, end)`` frames of each of them;
    - ``sections``: ``{"kind", "start", "end"}`` for each section, in order (frames);
    - ``tempo_bpm`` (None without beat tokens) and ``frames_per_beat``;
    - ``key`` (e.g. ``"A minor"``), ``mode`` (``"major"``/``"minor"``; None without pitches);
    - ``seconds``: the length.
    """
    f = _as_array(frames)
    layout = lyric_layout(f)
    fpb_values = [b[0] for b in map(vocab.beat_of, f[:, vocab.CB_BEAT]) if b is not None]
    fpb = int(np.bincount(fpb_values).argmax()) if fpb_values else None
    key, mode = key_of_chroma(frames_chroma(f))
    return {
        **layout,
        "tempo_bpm": vocab.bpm_of_fpb(fpb) if fpb else None,
        "frames_per_beat": fpb,
        "key": key,
        "mode": mode,
        "seconds": len(f) / vocab.FRAME_RATE,
    }


def lyric_layout(frames: torch.Tensor | np.ndarray) -> dict:
    """The cheap part of :func:`analyze_frames`: ``tokens``, ``token_frames`` and ``sections``."""
    f = _as_array(frames)
    tokens, spans = _sung(f)
    return {"tokens": tokens, "token_frames": spans, "sections": _sections(f)}


def _sung(f: np.ndarray) -> tuple[list[int], list[tuple[int, int]]]:
    """Sung syllables: a frame sings when its lyric id is a syllable and its melody is not a
    rest; a syllable starts at a melody note-on, a change of lyric id or after a silent frame."""
    lyric = f[:, vocab.CB_LYRIC]
    melody = f[:, vocab.CB_MELODY]
    sung = (lyric >= vocab.LYRIC_FIRST_SYLLABLE) & (melody > 0)
    onset = melody <= vocab.MELODY.span
    tokens: list[int] = []
    spans: list[tuple[int, int]] = []
    for t in np.flatnonzero(sung):
        if spans and spans[-1][1] == t and not onset[t] and lyric[t] == lyric[t - 1]:
            spans[-1] = (spans[-1][0], int(t) + 1)
        else:
            tokens.append(int(lyric[t]) - vocab.LYRIC_FIRST_SYLLABLE)
            spans.append((int(t), int(t) + 1))
    return tokens, spans


def _sections(f: np.ndarray) -> list[dict]:
    sections: list[dict] = []
    previous = None
    for t, sid in enumerate(f[:, vocab.CB_SECTION]):
        info = vocab.section_of(int(sid))
        if info is None:
            previous = None
            continue
        kind, bar = info
        if previous is None or kind != previous[0] or (bar == 0 and previous[1] != 0):
            sections.append({"kind": kind, "start": t, "end": t + 1})
        sections[-1]["end"] = t + 1
        previous = info
    return sections


def frames_chroma(f: np.ndarray) -> np.ndarray:
    """Pitch-class weights ``[12]`` of chords (roots doubled), bass and melody notes."""
    chroma = np.zeros(12)
    for cid, count in zip(*np.unique(f[:, vocab.CB_CHORD], return_counts=True)):
        chord = vocab.chord_of(int(cid))
        if chord is None:
            continue
        for pc in vocab.chord_pitch_classes(int(cid)):
            chroma[pc] += count
        chroma[chord[0]] += count
    for column, code, weight in ((vocab.CB_BASS, vocab.BASS, 1.5), (vocab.CB_MELODY, vocab.MELODY, 0.5)):
        midi, _ = code.decode(f[:, column])
        np.add.at(chroma, midi[midi > 0] % 12, weight)
    return chroma


def best_keys(chroma: np.ndarray) -> dict[str, tuple[float, int]] | None:
    """``{"major": (r, tonic), "minor": (r, tonic)}``: the best-correlated Krumhansl-Kessler
    profile of each mode for ``chroma`` (None when ``chroma`` is empty or flat)."""
    if not np.any(chroma > 0) or np.ptp(chroma) == 0:
        return None
    best = {}
    for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
        scores = [float(np.corrcoef(chroma, np.roll(profile, tonic))[0, 1]) for tonic in range(12)]
        tonic = int(np.argmax(scores))
        best[mode] = (scores[tonic], tonic)
    return best


def key_of_chroma(chroma: np.ndarray) -> tuple[str | None, str | None]:
    """(``"<tonic> <mode>"``, mode) of the key profile best correlated with ``chroma``."""
    best = best_keys(chroma)
    if best is None:
        return None, None
    mode = "major" if best["major"][0] >= best["minor"][0] else "minor"
    return f"{vocab.NOTE_NAMES[best[mode][1]]} {mode}", mode


# ---- audio -----------------------------------------------------------------------------------


def _mono(audio: torch.Tensor | np.ndarray) -> np.ndarray:
    data = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    data = data.astype(np.float64)
    return data.mean(axis=0) if data.ndim == 2 else data


def _spectrogram(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Magnitudes ``[frames, n_fft // 2 + 1]`` of Hann-windowed frames (no padding)."""
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    signal = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    spec = torch.stft(signal, n_fft, hop, window=torch.hann_window(n_fft, periodic=False),
                      center=False, return_complex=True)
    return spec.abs().T.numpy().astype(np.float64)


def onset_envelope(x: np.ndarray, sr: int, max_hz: float = 6000.0) -> np.ndarray:
    """Spectral flux of log magnitudes below ``max_hz`` at :data:`ONSET_RATE` frames per second,
    mean removed. Hi-hats (above 6 kHz) are left out: they mark eighths, not beats."""
    hop = int(round(sr / ONSET_RATE))
    n_fft = 1 << int(np.ceil(np.log2(0.04 * sr)))
    band = np.fft.rfftfreq(n_fft, 1.0 / sr) < max_hz
    mag = np.log1p(100.0 * _spectrogram(x, n_fft, hop)[:, band])
    flux = np.maximum(np.diff(mag, axis=0), 0.0).sum(axis=1)
    return flux - flux.mean()


def pulse_alternation(env: np.ndarray, lag: float) -> float:
    """Mean onset strength of the weaker half of a pulse train of period ``lag`` over the
    stronger half (1: every pulse alike; near 0: every other pulse is an off-beat).

    Each pulse takes the strongest envelope value within 20 ms of where it is expected, so a
    slightly wrong ``lag`` does not drift off the onsets.
    """
    strength = np.maximum(env, 0.0)
    padded = np.pad(strength, 2)
    local_max = np.max(np.stack([padded[i:i + len(strength)] for i in range(5)]), axis=0)
    last = len(strength) - 1

    def mean_at(phase: float) -> float:
        return float(local_max[np.round(np.arange(phase, last, 2 * lag)).astype(int)].mean())

    phase = max(np.arange(0.0, 2 * lag, 1.0), key=mean_at)
    strong = mean_at(phase)
    return mean_at(phase + lag) / strong if strong > 0 else 1.0


def estimate_tempo(x: np.ndarray, sr: int) -> float | None:
    """Tempo (bpm) of mono audio ``x``, or None when too short or silent.

    Autocorrelate the onset envelope. Among its peaks in 60-200 bpm that reach 30% of the
    strongest, the beat is the shortest lag whose pulses are all alike
    (:func:`pulse_alternation` >= 0.5): a shorter lag with every other pulse weak is an eighth
    note, a longer one a half note. The lag is refined over its first four multiples.
    """
    env = onset_envelope(x, sr)
    if len(env) < 4 * ONSET_RATE or not np.any(env):
        return None
    n = 1 << int(np.ceil(np.log2(2 * len(env))))
    spectrum = np.fft.rfft(env, n)
    ac = np.fft.irfft(spectrum * np.conj(spectrum), n)[: len(env)]
    ac /= ac[0] + 1e-12
    lo = int(np.floor(60.0 * ONSET_RATE / TEMPO_RANGE_BPM[1]))
    hi = int(np.ceil(60.0 * ONSET_RATE / TEMPO_RANGE_BPM[0]))
    peaks = [lag for lag in range(max(lo, 1), min(hi, len(ac) - 1)) if ac[lag] >= ac[lag - 1] and ac[lag] > ac[lag + 1]]
    if not peaks:
        return None
    strongest = max(peaks, key=lambda lag: ac[lag])
    candidates = [_refine_lag(ac, lag) for lag in peaks if ac[lag] >= 0.3 * ac[strongest]]
    beat = next((lag for lag in candidates if pulse_alternation(env, lag) >= 0.5), _refine_lag(ac, strongest))
    return 60.0 * ONSET_RATE / beat


def _refine_lag(ac: np.ndarray, lag: float) -> float:
    """``lag`` re-measured as the mean of (peak near ``k * lag``) / k for k = 1..4."""
    estimates = []
    for k in range(1, 5):
        centre = int(round(k * lag))
        if centre + k + 1 >= len(ac):
            break
        top = max(range(centre - k, centre + k + 1), key=lambda j: ac[j])
        estimates.append(_parabolic_peak(ac, top) / k)
    return float(np.mean(estimates)) if estimates else float(lag)


def _parabolic_peak(values: np.ndarray, i: int) -> float:
    a, b, c = values[i - 1], values[i], values[i + 1]
    denominator = a - 2 * b + c
    return float(i) if denominator == 0 else i + 0.5 * (a - c) / denominator


def audio_chroma(x: np.ndarray, sr: int) -> np.ndarray:
    """Pitch-class energy ``[12]`` of mono audio from 80 Hz to 2 kHz (long windows)."""
    n_fft = 1 << int(np.ceil(np.log2(0.34 * sr)))
    mag = _spectrogram(x, n_fft, n_fft // 2).sum(axis=0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    band = (freqs >= 80.0) & (freqs <= 2000.0)
    pcs = np.round(12 * np.log2(freqs[band] / 440.0) + 69).astype(int) % 12
    chroma = np.zeros(12)
    np.add.at(chroma, pcs, mag[band] ** 2)
    return np.sqrt(chroma)


def analyze_audio(audio: torch.Tensor | np.ndarray, sr: int) -> dict:
    """Tempo and mode estimated from audio ``[channels, samples]`` or ``[samples]``.

    Returns ``{"tempo_bpm": float | None, "key": str | None, "mode": str | None}``.
    """
    x = _mono(audio)
    key, mode = key_of_chroma(audio_chroma(x, sr))
    return {"tempo_bpm": estimate_tempo(x, sr), "key": key, "mode": mode}


def token_error_rate(reference: list[int], hypothesis: list[int]) -> float:
    """Levenshtein distance between the sequences divided by ``len(reference)`` (0 if both empty)."""
    if not reference:
        return 0.0 if not hypothesis else 1.0
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        previous, row[0] = row[0], i
        for j, hyp in enumerate(hypothesis, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref != hyp))
    return row[-1] / len(reference)
