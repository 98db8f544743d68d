"""Audio analysis: tempo and mode measured on rendered composer songs; token error rate."""

from __future__ import annotations

import numpy as np
import pytest

from heartmula_core.demo.analysis import analyze_audio, key_of_chroma, token_error_rate
from heartmula_core.demo.codec import DemoCodec
from heartmula_core.demo.composer import compose
from heartmula_core.demo.eval_set import EVAL_SET


@pytest.mark.parametrize("tags, seed", [
    ("pop,fast,major", 0), ("pop,slow,major", 1), ("rock,fast,minor", 2), ("ballad,slow,minor", 3),
    ("electronic,slow,minor", 4), ("hiphop,fast,major", 5),
])
def test_tempo_and_mode_measured_from_audio(tags, seed):
    item = EVAL_SET[seed % len(EVAL_SET)]
    song = compose(tags, item.lyrics, seed)
    style = song.arrangement.style
    result = analyze_audio(DemoCodec().decode(song.frames), 48_000)
    assert result["tempo_bpm"] == pytest.approx(style.bpm, rel=0.05)
    assert result["mode"] == style.mode
    assert result["key"] == style.key_name


def test_analyze_audio_accepts_mono_numpy_and_silence():
    sr = 48_000
    t = np.arange(sr * 6) / sr
    chord = sum(np.sin(2 * np.pi * 440 * 2 ** (s / 12) * t) for s in (0, 3, 7))  # A minor triad
    clicks = np.zeros_like(t)
    clicks[:: sr // 2] = 1.0  # 120 bpm
    result = analyze_audio(0.1 * chord + clicks, sr)
    assert result["tempo_bpm"] == pytest.approx(120.0, rel=0.05)
    assert result["mode"] == "minor"
    assert analyze_audio(np.zeros((2, sr)), sr) == {"tempo_bpm": None, "key": None, "mode": None}


def test_key_of_chroma():
    c_major = np.zeros(12)
    c_major[[0, 4, 7]] = [3, 1, 1]
    assert key_of_chroma(c_major) == ("C major", "major")
    assert key_of_chroma(np.zeros(12)) == (None, None)


def test_token_error_rate():
    assert token_error_rate([1, 2, 3, 4], [1, 2, 3, 4]) == 0.0
    assert token_error_rate([1, 2, 3, 4], [1, 3, 4]) == 0.25
    assert token_error_rate([1, 2, 3, 4], [1, 2, 9, 4, 5]) == 0.5
    assert token_error_rate([], []) == 0.0
