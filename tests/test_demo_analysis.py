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


def test_sections_start_at_bar_zero_and_a_slipped_counter_stays_inside():
    from heartmula_core.demo import vocab
    from heartmula_core.demo.analysis import analyze_frames

    def code(kind: str, bar: int) -> int:
        return 1 + (vocab.MAX_BAR_INDEX + 1) * vocab.SECTION_KINDS.index(kind) + bar

    bars = [("verse", 0), ("verse", 1), ("verse", 2), ("verse", 1), ("verse", 2),  # a slip: same verse
            ("verse", 0), ("verse", 1),                                              # bar 0: a second verse
            ("chorus", 0), ("chorus", 1)]
    frames = np.zeros((len(bars) * 4, 8), dtype=np.int64)
    for i, (kind, bar) in enumerate(bars):
        frames[4 * i:4 * i + 4, vocab.CB_SECTION] = code(kind, bar)
    sections = analyze_frames(frames)["sections"]
    assert [(s["kind"], s["start"], s["end"]) for s in sections] == [
        ("verse", 0, 20), ("verse", 20, 28), ("chorus", 28, 36)]
