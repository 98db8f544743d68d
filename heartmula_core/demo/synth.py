"""The demo codec's synthesizer: frames of musical tokens to 48 kHz stereo, causally, in blocks.

Rendering is *causal*: the audio of frame ``t`` depends only on frames ``0..t``. Every note's
envelope is a function of the time since its onset, which is known when the onset frame
arrives; a note that stops fades out inside the frame where the stop is first seen; one-shots
(drums, consonant noise) and echoes are written in full when they start and carried in a tail
buffer. So a renderer fed frame blocks one after the other returns final audio for each block.

Blocks are a fixed number of frames counted from the start of the song, and a block's audio
is computed by the same operations whether it is decoded at once or streamed, so streaming and
:meth:`~heartmula_core.demo.codec.DemoCodec.decode` agree bit for bit.

Inside a frame, parameters move at a control rate of 4 steps (20 ms, 960 samples). Each voice
has, per step, a target frequency, amplitude and harmonic weights; in step ``j`` the values
ramp linearly from the targets of step ``j - 1`` to those of step ``j``, so nothing jumps at a
sample (no clicks), and oscillator phases run on continuously across frames and blocks.

Voices (all additive: harmonic ``k`` of a voice is ``cos(k * phase)`` with a weight):

- **vocal / lead** (lyric and melody codebooks): one voice. Sung syllables use a glottal-like source shaped
  by the vowel's formants (diphthongs glide), delayed vibrato, legato glides, and a dip plus a
  consonant sound (noise one-shot or formant colouring) at each syllable onset. The
  instrumental lead (codebook-0 id 1) plays the melody with the song's instrument timbre.
- **bass** (bass codebook): one voice, plucked envelope, re-articulated on each note-on.
- **chords** (chord, texture and beat codebooks): four voices voicing the chord near middle C; piano and guitar
  strike on chord changes and beats (guitar strums), synth / strings / organ sustain.
- **drums** (drums codebook): kick, snare, hat and crash one-shots at half-frame slots.

Levels: every voice's harmonic weights sum to at most 1 and every one-shot peaks at 1, so the
mix gains of :data:`MIX` bound the output; a soft knee above 0.85 keeps pathological token
sequences (a model emitting a crash on every slot) below 0.99 without a hard clip. Composer
songs stay under the knee (see the tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from . import vocab

SR = vocab.SAMPLE_RATE
FRAME = vocab.FRAME_SAMPLES
STEPS = 4
STEP = FRAME // STEPS
STEP_SECONDS = STEP / SR
TAIL = 2 * SR  # longest one-shot (crash, 1.6 s) plus echoes fit in the carried tail

#: mix gains (peak contribution of each part at full energy)
MIX = {
    "vocal": 0.30, "lead": 0.20, "bass": 0.18, "chord": 0.11, "kick": 0.30, "snare": 0.16,
    "hat": 0.05, "crash": 0.07, "consonant": 0.06, "echo": 0.30,
}
#: level of each energy value 0..7 (texture codebook)
ENERGY_GAIN = np.array([0.40, 0.48, 0.56, 0.64, 0.72, 0.80, 0.90, 1.00])

# echo taps (seconds, left gain, right gain), fed by the vocal, lead and chords
ECHO_TAPS = ((0.031, 0.30, 0.12), (0.047, 0.12, 0.28), (0.071, 0.22, 0.10), (0.097, 0.08, 0.20),
             (0.131, 0.14, 0.06), (0.173, 0.05, 0.12))

_ALPHA = np.arange(1, STEP + 1, dtype=np.float32) / STEP  # ramp position inside a step
_RAMP = np.arange(1, STEP + 1, dtype=np.float32)  # samples elapsed in a step
_RAMP2 = (_RAMP * (_RAMP + 1) / (2 * STEP)).astype(np.float32)  # summed ramp of a gliding step


def midi_hz(midi: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def pan_gains(pan: float) -> tuple[float, float]:
    """Equal-power (left, right) gains for ``pan`` in -1 (left) .. 1 (right)."""
    angle = (pan + 1.0) * np.pi / 4.0
    return float(np.cos(angle)), float(np.sin(angle))


def soft_limit(x: np.ndarray, knee: float = 0.85, ceiling: float = 0.99) -> np.ndarray:
    """Identity below ``knee``; above it a tanh curve that never reaches ``ceiling``."""
    mag = np.abs(x)
    if mag.size == 0 or mag.max() <= knee:
        return x
    room = ceiling - knee
    over = np.maximum(mag - knee, 0.0)
    return np.where(mag > knee, np.sign(x) * (knee + room * np.tanh(over / room)), x).astype(x.dtype)


# ---- timbres -----------------------------------------------------------------------------------

CHORD_HARMONICS = 10
VOICE_HARMONICS = 24
BASS_HARMONICS = 6


def _normalised(w: np.ndarray) -> np.ndarray:
    return (w / w.sum()).astype(np.float32)


def instrument_weights(n: int) -> dict[str, np.ndarray]:
    k = np.arange(1, n + 1, dtype=np.float64)
    organ = np.zeros(n)
    for harmonic, level in ((1, 1.0), (2, 0.8), (3, 0.6), (4, 0.45), (6, 0.3), (8, 0.25)):
        if harmonic <= n:
            organ[harmonic - 1] = level
    return {
        "piano": _normalised(k ** -1.7),
        "guitar": _normalised(k ** -1.1 * (1.0 - 0.6 * np.cos(2 * np.pi * k / 5.0) ** 2)),
        "synth": _normalised(k ** -1.0),
        "strings": _normalised(k ** -1.2 * (1.0 + 0.6 * np.exp(-((k - 4.0) / 2.0) ** 2))),
        "organ": _normalised(organ),
    }


@dataclass(frozen=True)
class Envelope:
    """Amplitude vs. time since the strike: ``a * exp(-t/ta) + b * exp(-t/tb) + c``, then an
    attack ``1 - exp(-t/attack)`` when ``attack`` > 0; harmonic ``k`` also decays by
    ``exp(-(k-1) t / bright)`` when ``bright`` > 0 (struck strings darken)."""

    a: float
    ta: float
    b: float
    tb: float
    c: float
    attack: float = 0.0
    bright: float = 0.0
    struck: bool = False

    def level(self, age: np.ndarray) -> np.ndarray:
        out = self.a * np.exp(-age / self.ta) + self.b * np.exp(-age / self.tb) + self.c
        if self.attack > 0:
            out = out * (1.0 - np.exp(-age / self.attack))
        return out


ENVELOPES = {
    "piano": Envelope(0.55, 0.25, 0.45, 1.5, 0.0, bright=0.6, struck=True),
    "guitar": Envelope(0.6, 0.15, 0.4, 0.8, 0.0, bright=0.4, struck=True),
    "synth": Envelope(0.2, 0.2, 0.0, 1.0, 0.8),
    "strings": Envelope(0.0, 1.0, 0.0, 1.0, 1.0, attack=0.12),
    "organ": Envelope(0.0, 1.0, 0.0, 1.0, 1.0),
}
BASS_ENVELOPE = Envelope(0.55, 0.3, 0.0, 1.0, 0.45)


# ---- vowels and consonants ---------------------------------------------------------------------

# formant frequencies F1..F4 (Hz) of the monophthongs
FORMANTS = {
    "a": (780, 1200, 2500, 3300), "e": (550, 1800, 2500, 3300), "i": (400, 1950, 2600, 3300),
    "o": (600, 900, 2450, 3300), "u": (650, 1250, 2400, 3300), "ee": (300, 2300, 3000, 3500),
    "oo": (320, 850, 2300, 3300),
    # voiced consonant colouring of a syllable's first step
    "m": (280, 900, 2200, 3300), "n": (280, 1500, 2500, 3300), "l": (360, 1300, 2600, 3300),
    "r": (420, 1100, 1600, 3300), "w": (300, 700, 2300, 3300),
}
FORMANT_GAIN = np.array([1.0, 0.55, 0.28, 0.15])
FORMANT_WIDTH = np.array([90.0, 120.0, 170.0, 250.0])
#: vowel class -> (start monophthong, end monophthong)
VOWEL_GLIDE = {
    "a": ("a", "a"), "e": ("e", "e"), "i": ("i", "i"), "o": ("o", "o"), "u": ("u", "u"),
    "ee": ("ee", "ee"), "oo": ("oo", "oo"), "ay": ("e", "ee"), "ai": ("a", "ee"),
    "oh": ("o", "oo"), "ow": ("a", "oo"), "oy": ("o", "ee"),
}
# onset -> (articulation: amplitude targets of the onset frame's 4 steps, noise one-shot or "")
ONSET_STYLE = {
    "": ((0.7, 1.0, 1.0, 1.0), ""), "m": ((0.35, 0.85, 1.0, 1.0), ""),
    "n": ((0.35, 0.85, 1.0, 1.0), ""), "l": ((0.45, 0.9, 1.0, 1.0), ""),
    "r": ((0.45, 0.9, 1.0, 1.0), ""), "w": ((0.4, 0.9, 1.0, 1.0), ""),
    "b": ((0.12, 0.85, 1.0, 1.0), "b"), "d": ((0.12, 0.85, 1.0, 1.0), "d"),
    "g": ((0.12, 0.85, 1.0, 1.0), "g"), "p": ((0.02, 0.8, 1.0, 1.0), "p"),
    "t": ((0.02, 0.8, 1.0, 1.0), "t"), "k": ((0.02, 0.8, 1.0, 1.0), "k"),
    "s": ((0.03, 0.45, 1.0, 1.0), "s"), "sh": ((0.03, 0.45, 1.0, 1.0), "sh"),
    "f": ((0.05, 0.6, 1.0, 1.0), "f"), "h": ((0.05, 0.6, 1.0, 1.0), "h"),
}
CODA_NOISE = {"t": "coda_t", "s": "coda_s"}


def sung_weights(f0: np.ndarray, formants: np.ndarray) -> np.ndarray:
    """Harmonic weights ``[S, H]`` of a voice at ``f0 [S]`` through ``formants [S, 4]``.

    Source: harmonics falling at 1/k^0.6; filter: four resonance peaks. F1 rises with the pitch
    when the pitch passes it (as singers do), and the weights sum to 1.
    """
    k = np.arange(1, VOICE_HARMONICS + 1, dtype=np.float64)
    f = f0[:, None] * k[None, :]
    form = formants.copy()
    form[:, 0] = np.maximum(form[:, 0], f0 * 1.1)
    dist = (f[:, :, None] - form[:, None, :]) / FORMANT_WIDTH[None, None, :]
    env = (FORMANT_GAIN / (1.0 + dist * dist)).sum(axis=2) + 0.01
    w = env * k[None, :] ** -0.6
    w[f > 9000.0] = 0.0
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


# ---- one-shots ---------------------------------------------------------------------------------


def _band_noise(rng: np.random.Generator, n: int, low: float, high: float) -> np.ndarray:
    """White noise band-limited to ``low..high`` Hz (raised-cosine edges), peak 1."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / SR)
    edge = 0.25 * (high - low)
    mask = np.clip(np.minimum(freqs - low + edge, high + edge - freqs) / (2 * edge), 0.0, 1.0)
    noise = np.fft.irfft(spectrum * (0.5 - 0.5 * np.cos(np.pi * mask)), n)
    return noise / np.abs(noise).max()


def _shape(sound: np.ndarray, attack: float = 0.001, fade: float = 0.005) -> np.ndarray:
    """Fade in over ``attack`` s and out over ``fade`` s to exact zero; peak 1."""
    n = sound.shape[-1]
    ramp = np.ones(n)
    a, f = max(1, int(attack * SR)), max(1, int(fade * SR))
    ramp[:a] = np.linspace(0.0, 1.0, a, endpoint=False)
    ramp[n - f:] = np.minimum(ramp[n - f:], 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, f)))
    out = sound * ramp
    return out / np.abs(out).max()


@dataclass(frozen=True)
class OneShot:
    """A stereo sample ``[2, L]`` (pan included) and its mix gain."""

    audio: np.ndarray
    gain: float


@lru_cache(maxsize=1)
def one_shots() -> dict[str, OneShot]:
    """Drum and consonant samples, built once from a fixed seed (deterministic)."""
    rng = np.random.default_rng(20260601)
    t = lambda seconds: np.arange(int(seconds * SR)) / SR  # noqa: E731

    def place(mono: np.ndarray, pan: float, gain: float) -> OneShot:
        left, right = pan_gains(pan)
        return OneShot(np.stack([mono * left, mono * right]).astype(np.float32), gain)

    shots: dict[str, OneShot] = {}
    tk = t(0.42)
    sweep = 2 * np.pi * np.cumsum(48.0 + 95.0 * np.exp(-tk / 0.035)) / SR
    kick = np.sin(sweep) * np.exp(-tk / 0.16) + 0.25 * _band_noise(rng, tk.size, 1500, 6000) * np.exp(-tk / 0.003)
    shots["kick"] = place(_shape(kick, attack=0.0005, fade=0.04), 0.0, MIX["kick"])
    ts = t(0.3)
    snare = 0.6 * np.sin(2 * np.pi * 185.0 * ts) * np.exp(-ts / 0.05) + _band_noise(rng, ts.size, 1200, 9000) * np.exp(-ts / 0.07)
    shots["snare"] = place(_shape(snare, attack=0.0005, fade=0.04), 0.05, MIX["snare"])
    th = t(0.08)
    shots["hat"] = place(_shape(_band_noise(rng, th.size, 7000, 16000) * np.exp(-th / 0.018)), 0.35, MIX["hat"])
    tc = t(1.6)
    decay = np.exp(-tc / 0.45)
    crash = np.stack([_band_noise(rng, tc.size, 3000, 15000), _band_noise(rng, tc.size, 3000, 15000)]) * decay
    crash = np.stack([_shape(crash[0], fade=0.3), _shape(crash[1], fade=0.3)])
    left, right = pan_gains(-0.3)
    shots["crash"] = OneShot((crash * np.array([[left], [right]])).astype(np.float32), MIX["crash"])
    consonants = {  # name: (low Hz, high Hz, seconds, decay s, level)
        "s": (4500, 11000, 0.09, 0.05, 1.0), "sh": (1800, 5500, 0.10, 0.06, 1.0),
        "f": (1200, 9000, 0.07, 0.04, 0.5), "h": (500, 3500, 0.06, 0.03, 0.45),
        "p": (300, 1800, 0.02, 0.006, 0.8), "t": (3000, 8000, 0.025, 0.008, 0.9),
        "k": (1500, 3800, 0.03, 0.01, 0.9), "b": (200, 1200, 0.015, 0.005, 0.35),
        "d": (2500, 6000, 0.015, 0.005, 0.35), "g": (1200, 3000, 0.015, 0.005, 0.35),
        "coda_t": (3000, 8000, 0.02, 0.006, 0.5), "coda_s": (4500, 11000, 0.06, 0.03, 0.6),
    }
    for name, (low, high, seconds, decay_s, level) in consonants.items():
        tt = t(seconds)
        sound = _shape(_band_noise(rng, tt.size, low, high) * np.exp(-tt / decay_s), attack=0.004, fade=0.004)
        shots[name] = place(sound, 0.0, MIX["consonant"] * level)
    return shots


# ---- oscillator bank ---------------------------------------------------------------------------


@dataclass
class OscBank:
    """``V`` additive voices of ``H`` harmonics with phase and last targets carried across blocks."""

    voices: int
    harmonics: int
    glide: bool
    phase: np.ndarray = field(init=False)
    freq: np.ndarray = field(init=False)
    amp: np.ndarray = field(init=False)
    weights: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.phase = np.zeros(self.voices)
        self.freq = np.full(self.voices, 220.0)
        self.amp = np.zeros(self.voices, dtype=np.float32)
        self.weights = np.zeros((self.voices, self.harmonics), dtype=np.float32)

    def render(self, freq: np.ndarray, amp: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Targets ``freq``/``amp`` ``[V, S]`` and ``weights [V, S, H]`` -> audio ``[V, S * STEP]``.

        In step ``s`` the angular frequency moves linearly from the previous target ``w0`` to
        ``w1`` (gliding voices) or sits at ``w1``, so the phase after ``i + 1`` samples of the
        step is ``start + w0 (i + 1) + (w1 - w0) (i + 1) (i + 2) / (2 STEP)`` exactly; step
        starts are summed in float64 and wrapped, the inside of a step is float32.
        """
        v, s = freq.shape
        prev_f = np.concatenate([self.freq[:, None], freq[:, :-1]], axis=1)
        prev_a = np.concatenate([self.amp[:, None], amp[:, :-1]], axis=1).astype(np.float32)
        prev_w = np.concatenate([self.weights[:, None], weights[:, :-1]], axis=1)
        w1 = (2 * np.pi / SR) * freq
        w0 = (2 * np.pi / SR) * prev_f if self.glide else w1
        advance = w0 * STEP + (w1 - w0) * (STEP + 1) / 2.0  # phase gained over each step
        ends = self.phase[:, None] + np.cumsum(advance, axis=1)
        starts = np.mod(np.concatenate([self.phase[:, None], ends[:, :-1]], axis=1), 2 * np.pi)
        self.phase = np.mod(ends[:, -1], 2 * np.pi)
        phase = (starts.astype(np.float32)[:, :, None] + w0.astype(np.float32)[:, :, None] * _RAMP
                 + (w1 - w0).astype(np.float32)[:, :, None] * _RAMP2)
        k = np.arange(1, self.harmonics + 1, dtype=np.float32)
        top = np.maximum(prev_f, freq)[:, :, None] * k  # no harmonic past 18 kHz (no aliasing)
        keep = (top < 18000.0).astype(np.float32)
        w_start = (prev_w * keep)[:, :, None, :]
        w_delta = ((weights - prev_w) * keep)[:, :, None, :]
        cos = _harmonic_cosines(phase, self.harmonics)  # [V, S, H, STEP]
        tone = (w_start @ cos)[:, :, 0, :] + (w_delta @ cos)[:, :, 0, :] * _ALPHA
        level = prev_a[:, :, None] + (amp - prev_a).astype(np.float32)[:, :, None] * _ALPHA
        self.freq = freq[:, -1].copy()
        self.amp = amp[:, -1].astype(np.float32)
        self.weights = weights[:, -1].copy()
        return (tone * level).reshape(v, -1)


def _harmonic_cosines(phase: np.ndarray, harmonics: int) -> np.ndarray:
    """``cos(k * phase)`` for ``k = 1..harmonics`` as ``[..., H, n]`` from ``phase [..., n]``.

    Chebyshev recursion ``cos(k x) = 2 cos(x) cos((k-1) x) - cos((k-2) x)``: one cosine, then
    two multiply-adds per harmonic (float32 error stays below 1e-5 for 24 harmonics).
    """
    out = np.empty(phase.shape[:-1] + (harmonics, phase.shape[-1]), dtype=np.float32)
    first = np.cos(phase)
    out[..., 0, :] = first
    twice = 2.0 * first
    if harmonics > 1:
        np.multiply(twice, first, out=out[..., 1, :])
        out[..., 1, :] -= 1.0
    for k in range(2, harmonics):
        np.multiply(twice, out[..., k - 1, :], out=out[..., k, :])
        out[..., k, :] -= out[..., k - 2, :]
    return out
