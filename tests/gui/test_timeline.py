"""TimelineWidget: items follow the data, gestures emit signals, the waveform streams in."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui

from heartmula_core.envelope import Envelope
from ui.timeline import MIN_SPAN_S, TimelineWidget, format_time, section_color

SR = 48_000
SECTIONS = [("intro", "Intro", 0.0, 12.0), ("verse", "Verse 1", 12.0, 48.0), ("chorus", "Chorus", 48.0, 78.0),
            ("verse", "Verse 2", 78.0, 112.0), ("chorus", "Chorus", 112.0, 146.0), ("outro", "Outro", 146.0, 180.0)]
LYRICS = {
    1: ["Streetlights hum a song I used to know", "Every window glows in amber light",
        "I keep walking where the rivers go", "Counting echoes of another night"],
    2: ["Hold on, hold on to the sound", "We are the fire in the rain",
        "Hold on, the world keeps spinning round", "And we will rise again"],
    3: ["Morning finds me on the same old road", "Coffee cups and letters left unsent",
        "Every story that I never told", "Every minute that I never spent"],
}
LYRICS[4] = LYRICS[2]
LINES = []
for section, texts in LYRICS.items():
    _, _, start, end = SECTIONS[section]
    step = (end - start) / len(texts)
    for i, text in enumerate(texts):
        LINES.append((len(LINES), text, start + i * step + 0.8, start + (i + 1) * step - 0.6))


def synthetic_song(seconds: float = 180.0, sr: int = SR) -> tuple[np.ndarray, int]:
    """Stereo sine tones per section, with a beat-like amplitude pulse and quiet intro and outro."""
    t = np.arange(int(seconds * sr), dtype=np.float32) / sr
    pitch = {"intro": 220.0, "verse": 330.0, "chorus": 440.0, "outro": 196.0}
    level = {"intro": 0.25, "verse": 0.5, "chorus": 0.8, "outro": 0.35}
    freq = np.empty_like(t)
    amp = np.empty_like(t)
    for kind, _, start, end in SECTIONS:
        span = (t >= start) & (t < end)
        freq[span], amp[span] = pitch[kind], level[kind]
    beat = 0.55 + 0.45 * np.exp(-6.0 * ((t * 2.0) % 1.0))  # two pulses a second
    swell = 0.85 + 0.15 * np.sin(2 * np.pi * t / 7.0)
    fade = np.clip(np.minimum(t / 4.0, (seconds - t) / 8.0), 0, 1)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    mono = amp * beat * swell * fade * np.sin(phase)
    return np.stack([mono, 0.9 * mono]).astype(np.float32), sr


@pytest.fixture
def timeline(qtbot):
    widget = TimelineWidget()
    qtbot.addWidget(widget)
    widget.resize(1000, 260)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def short_song(seconds=20.0):
    return synthetic_song(seconds, sr=8000)


def test_sections_lines_and_pins_become_items(timeline):
    timeline.set_sections(SECTIONS)
    timeline.set_lines(LINES)
    timeline.set_pins([(64.0, 80.0), (150.0, 151.0)])
    assert [item.label for item in timeline.section_items] == [s[1] for s in SECTIONS]
    assert [item.toolTip() for item in timeline.line_items] == [line[1] for line in LINES]
    assert len(timeline.pin_items) == 2
    assert section_color("verse") == section_color("Verse 2") != section_color("chorus")
    assert section_color("my odd part") == section_color("my odd part")  # stable fallback
    timeline.set_sections(SECTIONS[:2])  # replacing removes the old items from the scene
    assert len(timeline.section_items) == 2
    assert sum(isinstance(i, type(timeline.section_items[0])) for i in timeline._graphics.scene().items()) == 2


def test_set_selection_emits_once_and_clear_emits_none(timeline, qtbot):
    timeline.set_audio(*short_song())
    got = []
    timeline.selectionChanged.connect(got.append)
    timeline.set_selection(2.0, 5.0)
    timeline.set_selection((2.0, 5.0))  # unchanged: no second signal
    assert timeline.selection() == pytest.approx((2.0, 5.0))
    timeline.set_selection(8.0, 30.0)  # clamped to the song
    timeline.clear_selection()
    assert got == [pytest.approx((2.0, 5.0)), pytest.approx((8.0, 20.0)), None]
    assert timeline.selection() is None


def scene_pos(widget: TimelineWidget, view, seconds: float, y: float) -> QtCore.QPoint:
    """Widget pixel position of (seconds, y) in lane ``view``."""
    scene = view.mapViewToScene(QtCore.QPointF(seconds, y))
    return widget._graphics.mapFromScene(scene)


def test_drag_on_empty_waveform_creates_a_selection(timeline, qtbot):
    timeline.set_audio(*short_song())
    got = []
    timeline.selectionChanged.connect(got.append)
    viewport = timeline._graphics.viewport()
    a = scene_pos(timeline, timeline._wave_view, 4.0, 0.5)
    b = scene_pos(timeline, timeline._wave_view, 9.0, 0.5)
    qtbot.mousePress(viewport, QtCore.Qt.MouseButton.LeftButton, pos=a)
    for i in range(1, 6):
        qtbot.mouseMove(viewport, a + (b - a) * i / 5)
    qtbot.mouseRelease(viewport, QtCore.Qt.MouseButton.LeftButton, pos=b)
    assert len(got) == 1
    start, end = got[0]
    assert start == pytest.approx(4.0, abs=0.1) and end == pytest.approx(9.0, abs=0.1)


def test_clicks_emit_section_line_and_seek_signals(timeline, qtbot):
    timeline.set_audio(*short_song(180))
    timeline.set_sections(SECTIONS)
    timeline.set_lines(LINES)
    viewport = timeline._graphics.viewport()
    with qtbot.waitSignal(timeline.sectionClicked) as section:
        qtbot.mouseClick(viewport, QtCore.Qt.MouseButton.LeftButton, pos=scene_pos(timeline, timeline._section_view, 60, 0.5))
    assert section.args == [2]
    mid = (LINES[5][2] + LINES[5][3]) / 2
    with qtbot.waitSignal(timeline.lineClicked) as line:
        qtbot.mouseClick(viewport, QtCore.Qt.MouseButton.LeftButton, pos=scene_pos(timeline, timeline._lyric_view, mid, 0.5))
    assert line.args == [5]
    qtbot.mouseMove(viewport, scene_pos(timeline, timeline._section_view, 100, 0.5))  # hover highlights
    assert [item.hovered for item in timeline.section_items] == [False, False, False, True, False, False]
    ruler = timeline._ruler
    ruler_pos = timeline._graphics.mapFromScene(ruler.mapToScene(QtCore.QPointF(0, ruler.height() / 2)))
    ruler_pos.setX(scene_pos(timeline, timeline._wave_view, 90.0, 0).x())
    with qtbot.waitSignal(timeline.seekRequested) as seek:
        qtbot.mouseClick(viewport, QtCore.Qt.MouseButton.LeftButton, pos=ruler_pos)
    assert seek.args[0] == pytest.approx(90.0, abs=1.0)
    with qtbot.waitSignal(timeline.seekRequested) as seek:
        double_click(viewport, scene_pos(timeline, timeline._wave_view, 30.0, 0))
    assert seek.args[0] == pytest.approx(30.0, abs=1.0)


def double_click(viewport, pos: QtCore.QPoint) -> None:
    """What a real double click sends: press, release, double-click, release."""
    left, none = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.MouseButton.NoButton
    for kind, buttons in [(QtCore.QEvent.Type.MouseButtonPress, left), (QtCore.QEvent.Type.MouseButtonRelease, none),
                          (QtCore.QEvent.Type.MouseButtonDblClick, left), (QtCore.QEvent.Type.MouseButtonRelease, none)]:
        event = QtGui.QMouseEvent(kind, QtCore.QPointF(pos), QtCore.QPointF(viewport.mapToGlobal(pos)), left, buttons,
                                  QtCore.Qt.KeyboardModifier.NoModifier)
        QtCore.QCoreApplication.sendEvent(viewport, event)


def wheel(widget: TimelineWidget, pos: QtCore.QPoint, notches: int, modifiers=QtCore.Qt.KeyboardModifier.NoModifier):
    viewport = widget._graphics.viewport()
    event = QtGui.QWheelEvent(QtCore.QPointF(pos), QtCore.QPointF(viewport.mapToGlobal(pos)), QtCore.QPoint(),
                              QtCore.QPoint(0, 120 * notches), QtCore.Qt.MouseButton.NoButton, modifiers,
                              QtCore.Qt.ScrollPhase.NoScrollPhase, False)
    QtCore.QCoreApplication.sendEvent(viewport, event)


def test_wheel_zooms_around_the_cursor_and_shift_wheel_scrolls(timeline):
    timeline.set_audio(*short_song(60))
    assert timeline.view_range() == pytest.approx((0, 60))
    wheel(timeline, scene_pos(timeline, timeline._wave_view, 15.0, 0), 2)
    x0, x1 = timeline.view_range()
    assert x1 - x0 < 50 and x0 < 15 < x1
    cursor_fraction = (15 - x0) / (x1 - x0)
    assert cursor_fraction == pytest.approx(0.25, abs=0.03)  # the time under the cursor stays put
    wheel(timeline, scene_pos(timeline, timeline._wave_view, 15.0, 0), -1, QtCore.Qt.KeyboardModifier.ShiftModifier)
    y0, y1 = timeline.view_range()
    assert y1 - y0 == pytest.approx(x1 - x0) and y0 > x0
    assert timeline._scrollbar.value() == pytest.approx(y0 * 1000, abs=2)
    timeline._scrollbar.setValue(0)
    assert timeline.view_range()[0] == pytest.approx(0)
    timeline.zoom(1e6)  # bounded
    assert timeline.view_range()[1] - timeline.view_range()[0] == pytest.approx(MIN_SPAN_S)
    timeline.zoom_to_fit()
    assert timeline.view_range() == pytest.approx((0, 60))


def test_streaming_append_grows_the_drawn_waveform_on_a_fixed_axis(timeline, qtbot):
    audio, sr = short_song(30)
    timeline.begin_stream(sr, planned_seconds=30)
    assert timeline.view_range() == pytest.approx((0, 30))
    timeline.append_audio(audio[:, : sr * 5])
    qtbot.waitUntil(lambda: len(timeline.waveform_data()[0]) > 0, timeout=1000)
    first_end = timeline.waveform_data()[0][-1]
    for start in range(sr * 5, sr * 20, sr):
        timeline.append_audio(audio[:, start:start + sr])
    qtbot.waitUntil(lambda: timeline.waveform_data()[0][-1] > first_end + 10, timeout=1000)
    assert timeline.waveform_data()[0][-1] == pytest.approx(20, abs=0.2)
    assert timeline.view_range() == pytest.approx((0, 30))  # the axis did not jump
    timeline.append_audio(audio[:, sr * 20:])
    timeline.append_audio(np.zeros((2, sr * 5), np.float32))  # past the plan: the axis grows
    assert timeline.duration() == pytest.approx(35)
    timeline.replace_audio(0, np.zeros((2, sr), np.float32))
    timeline.redraw()
    times, _, maxs = timeline.waveform_data()
    assert np.all(maxs[times < 0.95] == 0)


def test_set_audio_accepts_an_envelope_and_draws_at_screen_resolution(timeline):
    audio, sr = short_song(120)
    timeline.set_audio(Envelope.from_audio(audio, sr))
    timeline.redraw()
    times, _, _ = timeline.waveform_data()
    assert 0 < len(times) <= 3 * timeline._wave_view.width()
    timeline.set_view_range(50, 51)
    timeline.redraw()
    times, _, _ = timeline.waveform_data()
    assert times.min() >= 49 and times.max() <= 52
    with pytest.raises(ValueError):
        timeline.set_audio(audio)  # raw audio needs its sample rate


def test_playhead_moves_lines_and_pages_the_zoomed_view(timeline):
    timeline.set_audio(*short_song(60))
    timeline.set_playhead(12.5)
    assert all(line.value() == 12.5 for line in timeline._playheads)
    timeline.set_view_range(10, 20)
    timeline.set_playhead(19.9)
    timeline.set_playhead(20.1)  # runs off the right edge while playing: page along
    x0, x1 = timeline.view_range()
    assert x0 < 20.1 < x1 and x1 - x0 == pytest.approx(10)


def test_format_time():
    assert format_time(0) == "0:00"
    assert format_time(75) == "1:15"
    assert format_time(75.25, spacing=0.5) == "1:15.2"
    assert format_time(59.999, spacing=0.01) == "1:00.00"


def test_screenshots(timeline, tmp_path):
    """A 3-minute song with everything on it, saved as PNG (GUI_SHOTS=dir keeps them)."""
    out = Path(os.environ.get("GUI_SHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    timeline.resize(1400, 300)
    timeline.set_audio(*synthetic_song())
    timeline.set_sections(SECTIONS)
    timeline.set_lines(LINES)
    timeline.set_pins([(64.0, 80.0)])
    timeline.set_selection(100.0, 112.5)
    timeline.set_playhead(42.0)
    for name, span in [("timeline_full", None), ("timeline_zoom", (36.0, 66.0)), ("timeline_deep", (40.0, 40.25))]:
        if span:
            timeline.set_view_range(*span)
        timeline.redraw()
        image = timeline.grab()
        assert image.save(str(out / f"{name}.png"))
        assert image.width() == 1400 * image.devicePixelRatio()
    audio, sr = synthetic_song()
    timeline.begin_stream(sr, planned_seconds=180)  # mid-generation: 70 s of 180 in
    for start in range(0, 70 * sr, sr):
        timeline.append_audio(audio[:, start:start + sr])
    timeline.set_playhead(20.0)
    timeline.zoom_to_fit()
    timeline.redraw()
    assert timeline.grab().save(str(out / "timeline_streaming.png"))
