"""Helpers shared by the editor window tests: players without a sound card, a window factory,
an event-loop stall meter and the screenshot folder (``GUI_SHOTS``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from PySide6 import QtCore

from app.playback import PlaybackUnavailable, Player

LYRICS = """[Intro]

[Verse 1]
Streetlights hum a song I used to know
Every window glows in amber light
I keep walking where the rivers go

[Chorus]
Hold on, hold on to the sound
We are the fire in the rain

[Outro]
"""
TAGS = "indie pop, female vocal, warm synths, 104 bpm"


class NoDevice:
    def open_output(self, sample_rate, channels, callback):
        raise PlaybackUnavailable("no audio output device (test)")


class SilentStream:
    """An output stream nobody pulls from: the player believes it plays."""

    def __init__(self, channels):
        self.channels, self.active = channels, False

    def start(self):
        self.active = True

    def stop(self):
        self.active = False

    def close(self):
        self.active = False


class SilentBackend:
    def open_output(self, sample_rate, channels, callback):
        self.stream = SilentStream(channels)
        return self.stream


def no_device_player() -> Player:
    return Player(backend=NoDevice())


def shots_dir(tmp_path: Path) -> Path:
    out = Path(os.environ.get("GUI_SHOTS", tmp_path / "shots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def shoot(widget, out: Path, name: str) -> Path:
    """Let throttled redraws settle, then save ``widget.grab()`` as ``out/name.png``."""
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance()
    deadline = time.monotonic() + 0.12
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    timeline = getattr(widget, "timeline", None)
    if timeline is not None:
        timeline.redraw()
    path = out / f"{name}.png"
    assert widget.grab().save(str(path))
    return path


class StallMeter(QtCore.QObject):
    """A 10 ms QTimer on the GUI thread recording the longest gap between its ticks."""

    def __init__(self, interval_ms: int = 10):
        super().__init__()
        self.interval = interval_ms / 1000
        self.gaps: list[float] = []
        self._last = None
        self._timer = QtCore.QTimer(self)
        self._timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start(int(self.interval * 1000))

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    @property
    def longest(self) -> float:
        return max(self.gaps, default=0.0)

    @property
    def p99(self) -> float:
        return float(np.percentile(self.gaps, 99)) if self.gaps else 0.0
