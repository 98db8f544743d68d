"""Audio playback: a growable buffer played through a sounddevice output stream.

Threads. The stream's callback runs on PortAudio's real-time thread and only copies: it reads one
immutable snapshot ``(array, length)`` of the buffer, copies frames into ``outdata`` and advances
the play position. It takes no lock and allocates no arrays. Everything else (set, append,
replace, seek, loop) runs on the caller's thread (the GUI thread) and publishes its result with a
single attribute assignment, which is atomic under the GIL:

* the buffer is a preallocated ``[capacity, channels]`` float32 array; ``append`` writes past the
  published length and then publishes the new length; growing past the capacity copies into a
  new array of twice the size and publishes that (the callback may finish a block on the old one,
  which is never modified again);
* ``seek`` publishes ``(serial, frame)``; the callback applies a serial it has not seen yet, so a
  seek is never lost to a concurrent position update;
* ``replace`` rewrites samples in place: one callback block may mix old and new samples.

No Qt here and no callbacks out: the UI polls :meth:`Player.position` and :attr:`Player.state` on
its timer (design: "the UI reads the play position on a timer"). When a complete buffer plays to
its end, the callback outputs silence and flags it; the next poll stops the stream and reports
``STOPPED`` with the position at the end.

No output device or no PortAudio: :attr:`Player.available` is False, :attr:`Player.unavailable_reason`
says why, and every method is a safe no-op (buffer methods still keep the data, so ``duration``
and ``position`` stay meaningful). Audio is assumed to be at the player's sample rate (48 kHz).
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 48_000
Callback = Callable[[np.ndarray, int, object, object], None]


class PlaybackUnavailable(Exception):
    """The backend cannot open an output stream; the message says why, in one line."""


class OutputStream(Protocol):
    channels: int

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...


class Backend(Protocol):
    def open_output(self, sample_rate: int, channels: int, callback: Callback) -> OutputStream:
        """An output stream (not started) that calls ``callback(outdata [frames, ch], frames, time, status)``.

        Raises :class:`PlaybackUnavailable` when there is no way to play sound.
        """
        ...


class SoundDeviceBackend:
    """The real backend: the default output device through sounddevice (PortAudio)."""

    def __init__(self, device=None, latency="low"):
        self.device, self.latency = device, latency

    def open_output(self, sample_rate: int, channels: int, callback: Callback) -> OutputStream:
        try:
            import sounddevice as sd
        except (ImportError, OSError) as exc:  # OSError: "PortAudio library not found"
            raise PlaybackUnavailable(f"audio playback needs PortAudio and sounddevice ({exc})") from None
        try:
            info = sd.query_devices(self.device, kind="output")
            channels = max(1, min(channels, int(info["max_output_channels"])))
            return sd.OutputStream(samplerate=sample_rate, channels=channels, dtype="float32",
                                   device=self.device, latency=self.latency, callback=callback)
        except (sd.PortAudioError, ValueError) as exc:
            raise PlaybackUnavailable(f"no audio output device ({exc})") from None


class PlayState(enum.Enum):
    STOPPED = "stopped"
    PLAYING = "playing"
    PAUSED = "paused"


class Player:
    """Plays float32 audio ``[channels, samples]`` at ``sample_rate``; see the module notes.

    ``backend`` defaults to :class:`SoundDeviceBackend`; tests pass a fake whose stream calls the
    callback by hand.
    """

    def __init__(self, backend: Backend | None = None, sample_rate: int = SAMPLE_RATE, channels: int = 2):
        self.sample_rate = sample_rate
        self.unavailable_reason = ""
        self.xruns = 0  # callbacks that reported an underflow
        self._stream: OutputStream | None = None
        try:
            self._stream = (backend or SoundDeviceBackend()).open_output(sample_rate, channels, self._callback)
        except PlaybackUnavailable as exc:
            self.unavailable_reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - a backend must never take the editor down
            self.unavailable_reason = f"audio playback failed to start ({type(exc).__name__}: {exc})"
        if self.unavailable_reason:
            log.warning("playback disabled: %s", self.unavailable_reason)
        self.channels = getattr(self._stream, "channels", channels) or channels
        self._lock = threading.Lock()  # serialises writers; never taken by the callback
        self._snapshot = (np.zeros((0, self.channels), np.float32), 0)  # (array, valid frames)
        self._complete = True  # False while streaming: the end is an underrun, not the end
        self._pos = 0  # frames; written by the callback while running
        self._seek = (0, 0)  # (serial, frame) published by seek()
        self._seek_seen = 0
        self._loop: tuple[int, int] | None = None
        self._playing = False
        self._ended = False  # set by the callback at the end of a complete buffer
        self._state = PlayState.STOPPED

    # --- status ---------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self._stream is not None

    @property
    def state(self) -> PlayState:
        if self._ended and self._state is PlayState.PLAYING:
            self._halt(PlayState.STOPPED)
        return self._state

    @property
    def duration(self) -> float:
        return self._snapshot[1] / self.sample_rate

    def position(self) -> float:
        """Play position in seconds (a pending seek counts as done)."""
        serial, frame = self._seek
        return (frame if serial != self._seek_seen else self._pos) / self.sample_rate

    @property
    def loop(self) -> tuple[float, float] | None:
        return None if self._loop is None else (self._loop[0] / self.sample_rate, self._loop[1] / self.sample_rate)

    # --- buffer -----------------------------------------------------------------------------

    def set_audio(self, audio: np.ndarray | None, *, streaming: bool = False) -> None:
        """Replace the buffer with ``audio [channels, samples]``; ``streaming``: more will be appended.

        While streaming, playing past the end outputs silence and waits for :meth:`append`; call
        :meth:`end_stream` when the last chunk is in. The position is kept (clamped to the end).
        """
        frames = self._frames(audio)
        with self._lock:
            capacity = max(frames.shape[0], 1 << 16)
            data = np.zeros((capacity, self.channels), np.float32)
            data[: frames.shape[0]] = frames
            self._snapshot = (data, frames.shape[0])
            self._complete = not streaming
            self._ended = False
        if self.position() * self.sample_rate > frames.shape[0]:
            self.seek(frames.shape[0] / self.sample_rate)

    def append(self, chunk: np.ndarray) -> None:
        """Grow the buffer by ``chunk [channels, n]`` (streaming generation); safe while playing."""
        frames = self._frames(chunk)
        with self._lock:
            data, length = self._snapshot
            end = length + frames.shape[0]
            if end > data.shape[0]:
                grown = np.zeros((max(end, 2 * data.shape[0]), self.channels), np.float32)
                grown[:length] = data[:length]
                data = grown
            data[length:end] = frames  # beyond the published length: the callback never reads it
            self._snapshot = (data, end)

    def end_stream(self) -> None:
        """No more audio will be appended: playing to the end now stops."""
        self._complete = True

    def replace(self, start_sample: int, audio: np.ndarray) -> None:
        """Overwrite samples from ``start_sample`` (a re-decoded span); grows the end if needed."""
        frames = self._frames(audio)
        with self._lock:
            data, length = self._snapshot
            start = min(max(0, int(start_sample)), length)
            inside = min(frames.shape[0], length - start)
            data[start:start + inside] = frames[:inside]
        if inside < frames.shape[0]:
            self.append(frames[inside:].T)

    def _frames(self, audio) -> np.ndarray:
        """``[channels, n]`` (or ``[n]``) -> contiguous ``[n, self.channels]`` float32."""
        if audio is None:
            return np.zeros((0, self.channels), np.float32)
        a = np.asarray(audio, dtype=np.float32)
        if a.ndim == 1:
            a = a[None]
        if a.ndim != 2:
            raise ValueError(f"audio must be [channels, samples], got shape {list(a.shape)}")
        if a.shape[0] != self.channels:  # mono -> duplicate; extra channels -> dropped
            a = np.repeat(a[:1], self.channels, axis=0) if a.shape[0] < self.channels else a[: self.channels]
        return np.ascontiguousarray(a.T)

    # --- transport ----------------------------------------------------------------------------

    def play(self) -> None:
        if not self.available or self.state is PlayState.PLAYING:
            return
        length = self._snapshot[1]
        if self._complete and self.position() * self.sample_rate >= length:
            self.seek(self._loop[0] / self.sample_rate if self._loop else 0.0)  # replay from the top
        self._ended = False
        self._playing = True
        self._state = PlayState.PLAYING
        try:
            self._stream.start()
        except Exception as exc:  # noqa: BLE001 - device unplugged since open, etc.
            log.warning("cannot start playback: %s", exc)
            self._playing, self._state = False, PlayState.STOPPED

    def pause(self) -> None:
        if self.available and self.state is PlayState.PLAYING:
            self._halt(PlayState.PAUSED)

    def stop(self) -> None:
        """Stop and return to the start (of the loop region when one is set)."""
        if not self.available:
            return
        self._halt(PlayState.STOPPED)
        self.seek(self._loop[0] / self.sample_rate if self._loop else 0.0)

    def toggle(self) -> None:
        """Space bar: play when not playing, else pause."""
        self.pause() if self.state is PlayState.PLAYING else self.play()

    def seek(self, seconds: float) -> None:
        frame = round(max(0.0, seconds) * self.sample_rate)
        self._seek = (self._seek[0] + 1, min(frame, self._snapshot[1]))
        self._ended = False

    def set_loop(self, region: tuple[float, float] | None) -> None:
        """Loop ``(start_s, end_s)`` while playing through it; None (or an empty region) plays on."""
        if region is None:
            self._loop = None
            return
        a, b = (round(max(0.0, s) * self.sample_rate) for s in region)
        self._loop = (a, b) if b > a else None

    def close(self) -> None:
        """Release the device (application exit); the player is unavailable afterwards."""
        if self._stream is not None:
            self._halt(PlayState.STOPPED)
            try:
                self._stream.close()
            except Exception as exc:  # noqa: BLE001 - exiting anyway
                log.warning("closing the audio stream failed: %s", exc)
            self._stream, self.unavailable_reason = None, "the player was closed"

    def _halt(self, state: PlayState) -> None:
        self._playing = False
        self._state = state
        try:
            self._stream.stop()
        except Exception as exc:  # noqa: BLE001 - the stream is being dropped
            log.warning("stopping the audio stream failed: %s", exc)

    # --- the real-time callback -----------------------------------------------------------------

    def _callback(self, outdata: np.ndarray, frames: int, time, status) -> None:
        """Fill ``outdata [frames, channels]``: copies only, no locks, no array allocation."""
        if status:
            self.xruns += 1
        serial, target = self._seek
        if serial != self._seek_seen:
            self._pos = target  # before marking it seen: position() must never read the old one
            self._seek_seen = serial
        if not self._playing:
            outdata.fill(0)
            return
        data, length = self._snapshot
        loop, pos, done, jumped = self._loop, self._pos, 0, False
        while done < frames:
            end = length
            looping = loop is not None and pos <= loop[1] and (self._complete or loop[1] <= length)
            if looping:
                end = min(loop[1], length)
            if pos >= end:
                if looping and not jumped:
                    pos, jumped = loop[0], True  # jumped: a loop shorter than nothing can't spin
                    continue
                outdata[done:].fill(0)  # the end (or waiting for streamed audio)
                if self._complete and not looping:
                    self._ended = True
                break
            n = min(frames - done, end - pos)
            outdata[done:done + n] = data[pos:pos + n]
            pos += n
            done += n
            jumped = False
        self._pos = pos
