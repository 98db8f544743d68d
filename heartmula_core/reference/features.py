"""The built-in reference embedder: what a track sounds like, measured, written into 512 numbers.

Official checkpoints read MuQ-MuLan embeddings in their reference row (:mod:`.muq`). The demo model
reads this embedder's vectors instead (its checkpoint names it in ``reference_embedder.json``).
It works on any audio, not only demo songs, and needs no weights.

**Measures** (:func:`measure`, on at most :data:`ANALYSIS_SECONDS` from the middle of the track,
mono):

- tempo: autocorrelation of a spectral-flux onset envelope with an eighth/half-note check
  (:func:`heartmula_core.demo.analysis.estimate_tempo`); None for beatless audio;
- key and mode: a 12-bin chroma (80 Hz - 2 kHz) correlated with the 24 rotated Krumhansl-Kessler
  profiles; ``mode_margin`` = best major r - best minor r (> 0 sounds major);
- brightness: spectral centroid in Hz;
- loudness: RMS in dBFS; busyness: onsets per second.

**Vector layout** (:func:`encode`; unused entries are 0, then the whole vector is scaled to unit
length, as MuQ-MuLan's are). Smooth codes (Gaussian bumps over a log axis) let nearby tempos get
nearby vectors, so a model trained on them interpolates:

===========  =====================================================================
entries      meaning
===========  =====================================================================
0-31         tempo: 32 bumps over log2(bpm), 50-220 bpm (all 0 when unknown), x2
32-33        mode: (sigmoid(8·margin), 1 - sigmoid(8·margin)), x2
34-45        chroma, rotated so entry 34 is C, scaled to max 1
46-53        brightness: 8 bumps over log2(centroid), 200 Hz - 8 kHz
54-61        busyness: 8 bumps over onsets/s, 0-8
62-69        loudness: 8 bumps over dBFS, -40 to -6
===========  =====================================================================
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from ..demo.analysis import ONSET_RATE, audio_chroma, best_keys, estimate_tempo, onset_envelope
from .base import REFERENCE_DIM, ReferenceError, check_vector, to_mono

log = logging.getLogger(__name__)

NAME = "heartmula-audio-features-v1"
ANALYSIS_SECONDS = 60.0
MIN_SECONDS = 4.0
"""Shorter audio has too few beats for a tempo; :func:`measure` refuses it."""
ANALYSIS_RATE = 24000
"""Audio is resampled (FFT method) to this rate before measuring; all bands lie below 12 kHz."""

TEMPO_BUMPS = (0, 32, 50.0, 220.0)
MODE_SLICE = slice(32, 34)
CHROMA_SLICE = slice(34, 46)
BRIGHTNESS_BUMPS = (46, 8, 200.0, 8000.0)
BUSYNESS_BUMPS = (54, 8, 0.0, 8.0)
LOUDNESS_BUMPS = (62, 8, -40.0, -6.0)
TEMPO_WEIGHT = 2.0
MODE_WEIGHT = 2.0


@dataclass(frozen=True)
class AudioFeatures:
    """What :func:`measure` found (``tempo_bpm`` None: no steady beat)."""

    tempo_bpm: float | None
    key: int            # tonic pitch class, 0 = C
    mode_margin: float  # best major correlation - best minor correlation
    centroid_hz: float
    onsets_per_second: float
    loudness_dbfs: float
    chroma: tuple[float, ...]  # [12], C first, max 1

    @property
    def mode(self) -> str:
        return "major" if self.mode_margin >= 0 else "minor"

    def summary(self) -> dict:
        """JSON-friendly figures for reports (rounded; no chroma)."""
        out = {k: v for k, v in asdict(self).items() if k != "chroma"}
        out["mode"] = self.mode
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def middle_excerpt(x: np.ndarray, sample_rate: int, seconds: float = ANALYSIS_SECONDS) -> np.ndarray:
    """The centre ``seconds`` of mono ``x`` (all of it when shorter)."""
    n = int(seconds * sample_rate)
    if len(x) <= n:
        return x
    start = (len(x) - n) // 2
    return x[start:start + n]


def resample(x: np.ndarray, sample_rate: int, target: int = ANALYSIS_RATE) -> np.ndarray:
    """Mono ``x`` at ``target`` Hz (FFT resampling; band-limits when going down)."""
    if sample_rate == target:
        return x
    n_out = int(round(len(x) * target / sample_rate))
    spectrum = np.fft.rfft(x)
    keep = min(len(spectrum), n_out // 2 + 1)
    out = np.fft.irfft(spectrum[:keep], n_out) * (n_out / len(x))
    return out


def _key_and_margin(chroma: np.ndarray) -> tuple[int, float]:
    best = best_keys(chroma)
    if best is None:
        return 0, 0.0
    margin = best["major"][0] - best["minor"][0]
    return (best["major"][1] if margin >= 0 else best["minor"][1]), margin


def measure(audio: np.ndarray, sample_rate: int) -> AudioFeatures:
    """Features of ``audio [channels, samples]`` (or ``[samples]``) at ``sample_rate``.

    Raises :class:`ReferenceError` for audio shorter than :data:`MIN_SECONDS`, silent or not finite.
    """
    x = to_mono(audio)
    if sample_rate <= 0:
        raise ReferenceError(f"bad sample rate {sample_rate}")
    seconds = len(x) / sample_rate
    if seconds < MIN_SECONDS:
        raise ReferenceError(f"the reference is {seconds:.1f} s long; at least {MIN_SECONDS:.0f} s are needed")
    if not np.isfinite(x).all():
        raise ReferenceError("the reference audio holds NaN or infinite samples")
    x = resample(middle_excerpt(x, sample_rate), sample_rate)
    rms = float(np.sqrt(np.mean(x ** 2)))
    if rms < 1e-5:
        raise ReferenceError("the reference audio is silent")
    sr = ANALYSIS_RATE
    chroma = audio_chroma(x, sr)
    key, margin = _key_and_margin(chroma)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / sr)
    centroid = float((spectrum * freqs).sum() / max(spectrum.sum(), 1e-20))
    env = onset_envelope(x, sr)
    peaks = (env[1:-1] > env[:-2]) & (env[1:-1] >= env[2:]) & (env[1:-1] > 0.5 * np.maximum(env, 0).max())
    onsets = float(peaks.sum()) / (len(env) / ONSET_RATE)
    top = chroma.max()
    return AudioFeatures(
        tempo_bpm=estimate_tempo(x, sr), key=int(key), mode_margin=float(margin), centroid_hz=centroid,
        onsets_per_second=onsets, loudness_dbfs=20.0 * float(np.log10(rms)),
        chroma=tuple(float(c / top) if top > 0 else 0.0 for c in chroma))


def _bumps(value: float, count: int, low: float, high: float) -> np.ndarray:
    """``count`` Gaussian bumps evenly spaced over [low, high]; width = their spacing."""
    centres = np.linspace(low, high, count)
    width = centres[1] - centres[0]
    return np.exp(-0.5 * ((np.clip(value, low, high) - centres) / width) ** 2)


def encode(features: AudioFeatures) -> np.ndarray:
    """The ``[512]`` float32 unit vector for ``features`` (layout in the module docstring)."""
    v = np.zeros(REFERENCE_DIM, dtype=np.float64)
    start, count, low, high = TEMPO_BUMPS
    if features.tempo_bpm:
        v[start:start + count] = TEMPO_WEIGHT * _bumps(np.log2(features.tempo_bpm), count, np.log2(low), np.log2(high))
    major = 1.0 / (1.0 + np.exp(-8.0 * features.mode_margin))
    v[MODE_SLICE] = MODE_WEIGHT * np.array([major, 1.0 - major])
    v[CHROMA_SLICE] = features.chroma
    start, count, low, high = BRIGHTNESS_BUMPS
    v[start:start + count] = _bumps(np.log2(max(features.centroid_hz, 1.0)), count, np.log2(low), np.log2(high))
    start, count, low, high = BUSYNESS_BUMPS
    v[start:start + count] = _bumps(features.onsets_per_second, count, low, high)
    start, count, low, high = LOUDNESS_BUMPS
    v[start:start + count] = _bumps(features.loudness_dbfs, count, low, high)
    return check_vector(v / np.linalg.norm(v), NAME)


def decode_tempo(vector: np.ndarray) -> float | None:
    """The tempo (bpm) an :func:`encode` vector carries, or None (for tests and reports)."""
    start, count, low, high = TEMPO_BUMPS
    bumps = np.asarray(vector[start:start + count], dtype=np.float64)
    if bumps.max() <= 0:
        return None
    centres = np.linspace(np.log2(low), np.log2(high), count)
    i = int(bumps.argmax())
    lo, hi = max(i - 2, 0), min(i + 3, count)
    return float(2.0 ** (np.sum(bumps[lo:hi] * centres[lo:hi]) / bumps[lo:hi].sum()))


class AudioFeatureEmbedder:
    """:class:`~.base.ReferenceEmbedder` from measured features (no weights; any audio)."""

    name = NAME

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        features = measure(audio, sample_rate)
        log.debug("reference features: %s", features.summary())
        return encode(features)
