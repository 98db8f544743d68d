"""Player with a fake backend: the callback is driven by hand, no sound card needed."""

from __future__ import annotations

import numpy as np
import pytest

from app.playback import PlaybackUnavailable, Player, PlayState, SoundDeviceBackend

SR = 1000  # a small rate keeps the numbers readable; the player does not care


class FakeStream:
    def __init__(self, callback, channels):
        self.callback, self.channels, self.active, self.closed = callback, channels, False, False

    def start(self):
        self.active = True

    def stop(self):
        self.active = False

    def close(self):
        self.closed = True

    def pull(self, frames: int) -> np.ndarray:
        """One callback's worth of output ``[frames, channels]`` (what the sound card would get)."""
        out = np.full((frames, self.channels), np.nan, np.float32)  # NaN: any frame left unwritten shows
        self.callback(out, frames, None, None)
        return out


class FakeBackend:
    def __init__(self, channels_limit: int = 8):
        self.stream, self.channels_limit = None, channels_limit

    def open_output(self, sample_rate, channels, callback):
        self.stream = FakeStream(callback, min(channels, self.channels_limit))
        return self.stream


class NoDevice:
    def open_output(self, sample_rate, channels, callback):
        raise PlaybackUnavailable("no audio output device (test)")


def ramp(n: int, channels: int = 2) -> np.ndarray:
    """``[channels, n]``: sample ``i`` of channel ``c`` is ``i + c / 10``: copies are checkable."""
    return (np.arange(n, dtype=np.float32)[None] + np.arange(channels, dtype=np.float32)[:, None] / 10)


@pytest.fixture
def player():
    backend = FakeBackend()
    p = Player(backend=backend, sample_rate=SR)
    p.stream = backend.stream
    return p


def test_plays_copies_of_the_buffer_then_silence_and_stops(player):
    player.set_audio(ramp(250))
    player.play()
    assert player.stream.active and player.state is PlayState.PLAYING
    np.testing.assert_array_equal(player.stream.pull(100), ramp(250)[:, :100].T)
    np.testing.assert_array_equal(player.stream.pull(100), ramp(250)[:, 100:200].T)
    last = player.stream.pull(100)
    np.testing.assert_array_equal(last[:50], ramp(250)[:, 200:].T)
    assert np.all(last[50:] == 0)
    assert player.position() == pytest.approx(0.25)
    assert player.state is PlayState.STOPPED and not player.stream.active  # reaped on the next poll
    player.play()  # at the end: plays again from the top
    np.testing.assert_array_equal(player.stream.pull(10), ramp(250)[:, :10].T)


def test_paused_outputs_silence_and_keeps_position(player):
    player.set_audio(ramp(500))
    player.play()
    player.stream.pull(120)
    player.pause()
    assert player.state is PlayState.PAUSED and player.position() == pytest.approx(0.12)
    assert np.all(player.stream.pull(64) == 0)
    player.play()
    np.testing.assert_array_equal(player.stream.pull(5), ramp(500)[:, 120:125].T)
    player.stop()
    assert player.state is PlayState.STOPPED and player.position() == 0


def test_seek_applies_on_the_next_callback_and_reads_back_at_once(player):
    player.set_audio(ramp(1000))
    player.play()
    player.stream.pull(50)
    player.seek(0.7)
    assert player.position() == pytest.approx(0.7)
    np.testing.assert_array_equal(player.stream.pull(20), ramp(1000)[:, 700:720].T)
    player.seek(99)  # clamped to the end
    assert player.position() == pytest.approx(1.0)
    player.pause()
    player.seek(0.1)  # while paused: the position moves, nothing plays
    assert player.position() == pytest.approx(0.1)


def test_loop_region_wraps_within_one_callback(player):
    player.set_audio(ramp(1000))
    player.set_loop((0.2, 0.25))  # frames [200, 250)
    player.seek(0.19)
    player.play()
    out = player.stream.pull(100)
    want = np.concatenate([np.arange(190, 250), np.arange(200, 240)])
    np.testing.assert_array_equal(out[:, 0], want)
    assert player.loop == pytest.approx((0.2, 0.25))
    player.set_loop(None)  # now it runs past the old end
    np.testing.assert_array_equal(player.stream.pull(20)[:, 0], np.arange(240, 260))


def test_loop_starting_after_the_region_plays_on_and_stop_returns_to_loop_start(player):
    player.set_audio(ramp(1000))
    player.set_loop((0.1, 0.2))
    player.seek(0.5)
    player.play()
    np.testing.assert_array_equal(player.stream.pull(10)[:, 0], np.arange(500, 510))
    player.stop()
    assert player.position() == pytest.approx(0.1)
    player.set_loop((0.3, 0.3))  # empty: no loop
    assert player.loop is None


def test_buffer_grows_while_playing_and_underrun_waits(player):
    audio = ramp(10_000)
    player.set_audio(audio[:, :100], streaming=True)
    player.play()
    np.testing.assert_array_equal(player.stream.pull(60)[:, 0], np.arange(60))
    out = player.stream.pull(60)  # runs out: silence, but keeps waiting
    np.testing.assert_array_equal(out[:40, 0], np.arange(60, 100))
    assert np.all(out[40:] == 0) and player.state is PlayState.PLAYING
    for start in range(100, 10_000, 700):  # grows past the initial capacity several times over
        player.append(audio[:, start:start + 700])
    assert player.duration == pytest.approx(10.0)
    np.testing.assert_array_equal(player.stream.pull(30), audio[:, 100:130].T)
    player.seek(9.99)
    player.end_stream()
    out = player.stream.pull(30)
    np.testing.assert_array_equal(out[:10], audio[:, 9990:].T)
    assert np.all(out[10:] == 0) and player.state is PlayState.STOPPED


def test_append_beyond_capacity_keeps_old_snapshot_intact(player):
    player.set_audio(ramp(10), streaming=True)
    old_data, old_len = player._snapshot
    player.append(ramp(200_000))  # forces a new, larger array
    new_data, new_len = player._snapshot
    assert new_data is not old_data and new_len == 200_010
    np.testing.assert_array_equal(old_data[:old_len], ramp(10).T)  # an in-flight callback still reads this


def test_replace_rewrites_a_span_and_can_grow(player):
    player.set_audio(ramp(100))
    player.replace(90, np.ones((2, 20), np.float32))
    assert player.duration == pytest.approx(0.11)
    player.seek(0.085)
    player.play()
    out = player.stream.pull(30)
    np.testing.assert_array_equal(out[:5, 0], np.arange(85, 90))
    assert np.all(out[5:25] == 1) and np.all(out[25:] == 0)


def test_mono_audio_plays_on_both_channels_and_channel_count_follows_the_device():
    backend = FakeBackend()
    p = Player(backend=backend, sample_rate=SR)
    p.set_audio(np.arange(10, dtype=np.float32))
    p.play()
    np.testing.assert_array_equal(backend.stream.pull(10), np.repeat(np.arange(10, dtype=np.float32)[:, None], 2, 1))
    mono_device = FakeBackend(channels_limit=1)
    p = Player(backend=mono_device, sample_rate=SR)
    assert p.channels == 1
    p.set_audio(ramp(10))
    p.play()
    np.testing.assert_array_equal(mono_device.stream.pull(10)[:, 0], np.arange(10))


def test_without_a_device_every_method_is_a_safe_no_op():
    p = Player(backend=NoDevice())
    assert not p.available and "no audio output device" in p.unavailable_reason
    p.set_audio(ramp(48_000))
    p.append(ramp(100))
    p.replace(0, ramp(10))
    p.set_loop((0.1, 0.2))
    p.seek(0.5)
    p.play()
    p.toggle()
    p.pause()
    p.stop()
    p.close()
    assert p.state is PlayState.STOPPED and p.position() == pytest.approx(0.5)


def test_a_backend_that_raises_anything_disables_playback():
    class Broken:
        def open_output(self, *args):
            raise RuntimeError("driver exploded")

    p = Player(backend=Broken())
    assert not p.available and "driver exploded" in p.unavailable_reason


def test_real_backend_on_this_machine_never_raises():
    """With no sound card (CI) PortAudio finds no device, or is missing: either way a reason."""
    p = Player(backend=SoundDeviceBackend())
    try:
        assert p.available or p.unavailable_reason
        p.set_audio(ramp(480))
        p.play()
        p.stop()
    finally:
        p.close()


def test_close_releases_the_stream(player):
    player.close()
    assert player.stream.closed and not player.available
    player.play()
