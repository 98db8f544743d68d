"""Peak envelope: every level and view point against brute-force min/max, streaming, edits."""

from __future__ import annotations

import numpy as np
import pytest

from heartmula_core.envelope import BASE_BLOCK, NUM_LEVELS, Envelope

SR = 48_000


def noise(samples: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (channels, samples)).astype(np.float32)


def brute_levels(audio: np.ndarray):
    """Per level: (mins, maxs) of the union over channels, by reshaping the padded signal."""
    lo, hi = audio.min(axis=0), audio.max(axis=0)
    for k in range(NUM_LEVELS):
        block = BASE_BLOCK * 4**k
        count = -(-lo.size // block)
        pad = count * block - lo.size
        mins = np.concatenate([lo, np.full(pad, np.inf, np.float32)]).reshape(count, block).min(axis=1)
        maxs = np.concatenate([hi, np.full(pad, -np.inf, np.float32)]).reshape(count, block).max(axis=1)
        yield mins, maxs


def assert_same_levels(env: Envelope, audio: np.ndarray):
    assert env.length == audio.shape[1]
    for k, (mins, maxs) in enumerate(brute_levels(audio)):
        got_min, got_max, _ = env.level(k)
        np.testing.assert_array_equal(got_min, mins, err_msg=f"level {k} mins")
        np.testing.assert_array_equal(got_max, maxs, err_msg=f"level {k} maxs")


@pytest.mark.parametrize("samples", [1, 15, 16, 17, 1000, 70_001])
def test_levels_match_brute_force(samples):
    audio = noise(samples)
    assert_same_levels(Envelope.from_audio(audio, SR), audio)


def test_mono_1d_input_and_union_over_channels():
    audio = np.zeros((2, 64), np.float32)
    audio[0, 3], audio[1, 40] = 0.9, -0.7  # peaks on different channels both show
    env = Envelope.from_audio(audio, SR)
    mins, maxs, _ = env.level(0)
    assert maxs[0] == pytest.approx(0.9) and mins[2] == pytest.approx(-0.7)
    mono = Envelope.from_audio(audio[0], SR)  # a 1-D array is one channel
    np.testing.assert_array_equal(mono.level(0)[1], np.float32([0.9, 0, 0, 0]))


def test_view_points_are_extrema_of_their_sample_spans():
    audio = noise(SR * 7 + 123, seed=1)
    env = Envelope.from_audio(audio, SR)
    lo, hi = audio.min(axis=0), audio.max(axis=0)
    for t0, t1, pixels in [(0, 8, 500), (1.234, 5.5, 777), (2.0, 2.01, 300), (6.9, 7.5, 64), (0, 0.0001, 10)]:
        times, mins, maxs = env.view(t0, t1, pixels)
        k, edges = env._plan(t0, t1, pixels)
        block = env.level(k)[2]
        assert 0 < len(times) <= pixels and np.all(np.diff(times) > 0)
        for i in range(len(times)):
            a, b = edges[i] * block, min(edges[i + 1] * block, env.length)
            assert mins[i] == lo[a:b].min() and maxs[i] == hi[a:b].max()
            assert a / SR <= times[i] <= b / SR
        # the points cover the requested span (up to one block at either end)
        assert edges[0] * block <= max(0, t0 * SR) and edges[-1] * block >= min(env.length, t1 * SR)


def test_view_uses_a_coarse_level_for_a_whole_song():
    env = Envelope.from_audio(noise(SR * 60, channels=1), SR)
    k, edges = env._plan(0, 60, 1000)
    assert k >= 3 and len(edges) - 1 == 1000
    assert all(len(a) == 1000 for a in env.view(0, 60, 1000))


def test_view_outside_audio_or_degenerate_is_empty():
    env = Envelope.from_audio(noise(SR), SR)
    for args in [(2, 3, 100), (0.5, 0.5, 100), (0, 1, 0), (-3, -1, 100)]:
        assert all(len(a) == 0 for a in env.view(*args))
    assert all(len(a) == 0 for a in Envelope(SR).view(0, 1, 100))


def test_streaming_append_equals_from_audio_of_the_concatenation():
    audio = noise(SR * 3 + 17, seed=2)
    env = Envelope(SR)
    rng = np.random.default_rng(3)
    pos = 0
    while pos < audio.shape[1]:
        n = int(rng.integers(0, 9000))  # odd sizes, empty chunks, sizes below one block
        env.append(audio[:, pos:pos + n])
        pos += n
    assert_same_levels(env, audio)
    reference = Envelope.from_audio(audio, SR)
    for got, want in zip(env.view(0.3, 2.9, 400), reference.view(0.3, 2.9, 400)):
        np.testing.assert_array_equal(got, want)


def test_replace_aligned_span_is_exact_and_can_grow_the_end():
    audio = noise(SR * 2, seed=4)
    env = Envelope.from_audio(audio, SR)
    start = 3840 * 5
    patch = noise(3840 * 3, seed=5) * 0.1
    env.replace(start, patch)
    audio[:, start:start + patch.shape[1]] = patch
    assert_same_levels(env, audio)
    tail = noise(5000, seed=6)
    env.replace(audio.shape[1] - 1000, tail)  # overlaps the end and grows past it
    audio = np.concatenate([audio[:, :-1000], tail], axis=1)
    assert_same_levels(env, audio)


def test_replace_unaligned_span_smears_at_most_edge_blocks():
    audio = noise(10_000, seed=7)
    env = Envelope.from_audio(audio, SR)
    start, patch = 1003, np.zeros((2, 2001), np.float32)
    env.replace(start, patch)
    audio[:, start:start + 2001] = 0
    want_min, want_max = next(brute_levels(audio))
    got_min, got_max, _ = env.level(0)
    inner = slice(start // BASE_BLOCK + 1, (start + 2001) // BASE_BLOCK)
    np.testing.assert_array_equal(got_min[inner], want_min[inner])
    np.testing.assert_array_equal(got_max[inner], 0)
    assert np.all(got_min <= want_min) and np.all(got_max >= want_max)  # edges: union of old and new


def test_replace_rejects_a_start_past_the_end():
    env = Envelope.from_audio(noise(100), SR)
    with pytest.raises(ValueError):
        env.replace(101, noise(10))
