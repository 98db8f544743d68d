"""The song timeline: ruler, section lane, lyric lane and waveform, sharing one time axis.

Plain data in, Qt signals out; no model or engine knowledge. Times are seconds.

Lanes are pyqtgraph ViewBoxes in one GraphicsLayout, x-linked to the waveform view::

    ruler      _TimeRuler (AxisItem, mm:ss)        click / drag: seekRequested
    sections   _SectionBlock per section           click: sectionClicked
    lyrics     _LineMarker per lyric line          click: lineClicked, tooltip: the line
    waveform   _WaveItem (min/max fill), pins, selection (LinearRegionItem), playhead

Mouse: wheel or ctrl+wheel zooms around the cursor, shift+wheel (or a horizontal wheel) scrolls,
left-drag on empty lanes selects, middle-drag pans, double-click seeks, a click on empty space
clears the selection. A scroll bar under the lanes scrolls too.

Drawing cost does not depend on the song length: the waveform is redrawn from
:meth:`Envelope.view` for the visible span (plus a margin) at screen resolution, when the view
changes and, while audio streams in, at most ``REDRAW_HZ`` times a second. Blocks, markers and
shades keep a rectangle in time coordinates and paint in pixels (crisp text, elided labels that
stick to the visible left edge).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

# isort: off
from PySide6 import QtCore, QtGui, QtWidgets  # before pyqtgraph, so it binds to PySide6
import pyqtgraph as pg
# isort: on

from heartmula_core.envelope import Envelope

REDRAW_HZ = 30
MIN_SPAN_S = 0.1  # deepest zoom: 100 ms across the view (envelope blocks are 16 samples)
COLUMNS_PER_PIXEL = 2  # waveform columns per device pixel: none is skipped by rounding
PAGE_MARGIN = 0.25  # waveform drawn this fraction of a view beyond each side, for smooth scrolling

# dark palette (napari-like greys, one accent per meaning)
BACKGROUND = "#1b1d21"
LANE_BACKGROUND = "#202328"
WAVE_BACKGROUND = "#15171a"
SEPARATOR = "#2d3138"
RULER_BACKGROUND = "#25282e"
TEXT = "#e8eaed"
MUTED_TEXT = "#9aa0a6"
WAVE_FILL = "#5b93cc"
PIN = "#f2c14e"
SELECTION = "#ffffff"
SELECTION_HOVER = "#9ecbff"
GRID = "#23262c"
PLAYHEAD = "#ff5a4e"
SECTION_COLORS = {
    "intro": "#56657a",
    "verse": "#3667a6",
    "prechorus": "#6a55a8",
    "chorus": "#b0445a",
    "hook": "#a44d84",
    "bridge": "#a8742a",
    "solo": "#2d8583",
    "instrumental": "#2d8583",
    "interlude": "#5b7035",
    "break": "#5b7035",
    "outro": "#4a7a58",
}
FALLBACK_COLORS = ("#3f7f9f", "#8a5a9f", "#9f6a3f", "#5f8a3f", "#9f3f6a", "#3f9f7a")

SCROLLBAR_STYLE = f"""
QScrollBar:horizontal {{ background: {BACKGROUND}; height: 12px; margin: 0; border: none;
                         border-top: 1px solid {SEPARATOR}; }}
QScrollBar::handle:horizontal {{ background: #4a4f58; min-width: 24px; border-radius: 4px; margin: 2px 0; }}
QScrollBar::handle:horizontal:hover {{ background: #5d636e; }}
QScrollBar::add-line:horizontal, QScrollBar::sub-line:horizontal {{ width: 0; border: none; }}
QScrollBar::add-page:horizontal, QScrollBar::sub-page:horizontal {{ background: none; }}
"""

RULER_HEIGHT, SECTION_HEIGHT, LYRIC_HEIGHT = 26, 26, 20


def section_color(kind: str) -> QtGui.QColor:
    """Colour of a section kind: fixed for the usual kinds, a stable pick from a palette otherwise."""
    key = "".join(ch for ch in kind.lower() if ch.isalpha())
    if key in SECTION_COLORS:
        return QtGui.QColor(SECTION_COLORS[key])
    for name, color in SECTION_COLORS.items():  # "verse 2", "final chorus" ...
        if name in key:
            return QtGui.QColor(color)
    return QtGui.QColor(FALLBACK_COLORS[sum(map(ord, key)) % len(FALLBACK_COLORS)])


def format_time(seconds: float, spacing: float = 1.0) -> str:
    """``m:ss`` (``m:ss.s`` / ``m:ss.ss`` when ticks are closer than a second / a tenth)."""
    decimals = 0 if spacing >= 1 else 1 if spacing >= 0.1 else 2
    sign = "-" if seconds < 0 else ""
    total = round(abs(seconds), decimals)
    minutes, secs = divmod(total, 60)
    width = 2 if decimals == 0 else 3 + decimals
    return f"{sign}{int(minutes)}:{secs:0{width}.{decimals}f}"


# --- ruler -----------------------------------------------------------------------------------------

TIME_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600)


class _TimeRuler(pg.AxisItem):
    """Top axis in mm:ss with musical-clock steps; click or drag on it to seek."""

    def __init__(self, on_seek: Callable[[float], None]):
        super().__init__("top")
        self._on_seek = on_seek
        self.setHeight(RULER_HEIGHT)
        self.setPen(pg.mkPen(SEPARATOR))
        self.setTextPen(pg.mkPen(MUTED_TEXT))
        self.setStyle(tickLength=-6, tickTextOffset=4, autoExpandTextSpace=False, hideOverlappingLabels=True)
        self.setCursor(QtCore.Qt.CursorShape.PointingHandCursor)

    def tickSpacing(self, minVal, maxVal, size):
        span = abs(maxVal - minVal)
        if span == 0 or size <= 0:
            return []
        major = next((s for s in TIME_STEPS if span / s <= size / 80), TIME_STEPS[-1])  # labels >= 80 px apart
        minor = next((s for s in TIME_STEPS if s < major and abs(major / s - round(major / s)) < 1e-9
                      and size * s / span >= 8), None)  # the finest step that divides major, >= 8 px
        return [(major, 0)] + ([(minor, 0)] if minor else [])

    def tickStrings(self, values, scale, spacing):
        return [format_time(v * scale, spacing * scale) for v in values]

    def _time_at(self, ev) -> float | None:
        view = self.linkedView()
        return None if view is None else view.mapSceneToView(ev.scenePos()).x()

    def mouseClickEvent(self, ev):
        if ev.button() == QtCore.Qt.MouseButton.LeftButton and (t := self._time_at(ev)) is not None:
            ev.accept()
            self._on_seek(t)

    def mouseDragEvent(self, ev):  # scrub
        if ev.button() == QtCore.Qt.MouseButton.LeftButton and (t := self._time_at(ev)) is not None:
            ev.accept()
            self._on_seek(t)
        else:
            ev.ignore()


# --- lanes -----------------------------------------------------------------------------------------


class _LaneView(pg.ViewBox):
    """A ViewBox that only moves in time; mouse gestures go to the timeline's handlers."""

    def __init__(self, timeline: TimelineWidget, background: str, y_range: tuple[float, float]):
        super().__init__(enableMenu=False, defaultPadding=0)
        self._timeline = timeline
        self.setMouseEnabled(x=True, y=False)
        self.disableAutoRange()
        self.setBackgroundColor(background)
        self.setYRange(*y_range, padding=0)
        self.setLimits(yMin=y_range[0], yMax=y_range[1])

    def wheelEvent(self, ev, axis=None):
        ev.accept()
        horizontal = ev.orientation() == QtCore.Qt.Orientation.Horizontal
        notches = ev.delta() / 120
        if horizontal or ev.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier:
            self._timeline.scroll_by(-0.15 * notches)
        else:
            self._timeline.zoom(1.25 ** notches, self.mapSceneToView(ev.scenePos()).x())

    def mouseDragEvent(self, ev, axis=None):
        button = ev.button()
        if button == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            x0 = self.mapSceneToView(ev.buttonDownScenePos()).x()
            x1 = self.mapSceneToView(ev.scenePos()).x()
            self._timeline._drag_select(x0, x1, ev.isFinish())
        elif button == QtCore.Qt.MouseButton.MiddleButton:
            self._timeline._follow_all = False
            super().mouseDragEvent(ev, axis=0)
        else:
            ev.ignore()

    def mouseClickEvent(self, ev):
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        if ev.double():
            self._timeline._request_seek(self.mapSceneToView(ev.scenePos()).x())
        else:
            self._timeline.clear_selection()


class _PixelItem(pg.GraphicsObject):
    """An item holding a rectangle in (time, lane) coordinates that paints in device pixels."""

    def __init__(self, rect: QtCore.QRectF):
        super().__init__()
        self._rect = rect

    def boundingRect(self) -> QtCore.QRectF:
        return self._rect

    def paint(self, p, *args):
        tr = p.transform()
        rect = tr.mapRect(self._rect)
        view = self.getViewBox()
        visible = tr.mapRect(view.viewRect()) if view is not None else rect
        p.save()
        p.resetTransform()
        self.paint_pixels(p, rect, rect.intersected(visible))
        p.restore()

    def paint_pixels(self, p: QtGui.QPainter, rect: QtCore.QRectF, visible: QtCore.QRectF) -> None:
        raise NotImplementedError


class _Clickable(_PixelItem):
    """Hover highlight, pointing cursor, tooltip, and a callback with ``index`` on left click."""

    def __init__(self, rect, index: int, tooltip: str, on_click: Callable[[int], None]):
        super().__init__(rect)
        self.index, self._on_click, self.hovered = index, on_click, False
        self.setToolTip(tooltip)
        self.setAcceptHoverEvents(True)
        self.setCursor(QtCore.Qt.CursorShape.PointingHandCursor)

    def hoverEvent(self, ev):
        hovered = not ev.isExit()
        if hovered != self.hovered:
            self.hovered = hovered
            self.update()

    def mouseClickEvent(self, ev):
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            self._on_click(self.index)


def _draw_label(p: QtGui.QPainter, text: str, area: QtCore.QRectF, pad: float = 6, min_chars: int = 3) -> None:
    """Left-aligned, vertically centred ``text`` elided to ``area``; nothing when fewer than
    ``min_chars`` characters would show (a row of "Ev…" stubs is clutter, not information; lyric
    lines need 8: "we are dan…" tells the line, "we a…" does not)."""
    box = area.adjusted(pad, 0, -pad / 2, 0)
    if box.width() < 12:
        return
    shown = p.fontMetrics().elidedText(text, QtCore.Qt.TextElideMode.ElideRight, int(box.width()))
    if shown == text or len(shown.rstrip("…").rstrip()) >= min_chars:
        p.drawText(box, QtCore.Qt.AlignmentFlag.AlignVCenter | QtCore.Qt.AlignmentFlag.AlignLeft, shown)


class _SectionBlock(_Clickable):
    """A coloured, labelled block for one section; the label sticks to the visible left edge."""

    def __init__(self, index, kind, label, start, end, on_click):
        super().__init__(QtCore.QRectF(start, 0, end - start, 1), index,
                         f"{label or kind}  {format_time(start)}–{format_time(end)}", on_click)
        self.kind, self.label = kind, label or kind.title()
        self._color = section_color(kind)
        self._font = QtGui.QFont()
        self._font.setPixelSize(11)
        self._font.setBold(True)

    def paint_pixels(self, p, rect, visible):
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        block = rect.adjusted(1, 3, -1, -3)
        color = self._color.lighter(125) if self.hovered else self._color
        p.setPen(pg.mkPen(color.lighter(140), width=1))
        p.setBrush(color)
        p.drawRoundedRect(block, 3, 3)
        p.setFont(self._font)
        p.setPen(QtGui.QColor(TEXT))
        _draw_label(p, self.label, block.intersected(visible))


class _LineMarker(_Clickable):
    """A lyric line: a tick at its start, a faint span, and the text when there is room."""

    def __init__(self, index, text, start, end, on_click):
        super().__init__(QtCore.QRectF(start, 0, max(end - start, 1e-3), 1), index, text, on_click)
        self.text = text
        self._font = QtGui.QFont()
        self._font.setPixelSize(10)

    def paint_pixels(self, p, rect, visible):
        span = rect.adjusted(1, 4, -1, -4)
        p.fillRect(span, QtGui.QColor(255, 255, 255, 34 if self.hovered else 14))
        p.fillRect(QtCore.QRectF(rect.left(), rect.top() + 2, 1.5, rect.height() - 4),
                   QtGui.QColor(TEXT if self.hovered else MUTED_TEXT))
        p.setFont(self._font)
        p.setPen(QtGui.QColor(TEXT if self.hovered else MUTED_TEXT))
        _draw_label(p, self.text, span.intersected(visible), pad=5, min_chars=8)


class _SpanShade(_PixelItem):
    """A translucent full-height band (pins, mirrored selection); ignores the mouse."""

    def __init__(self, start, end, y0, y1, color: str, alpha: int, hatch: bool = False, top_bar: bool = False):
        super().__init__(QtCore.QRectF(start, y0, end - start, y1 - y0))
        self._fill = QtGui.QColor(color)
        self._fill.setAlpha(alpha)
        self._color, self._hatch, self._top_bar = QtGui.QColor(color), hatch, top_bar
        self.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)

    def set_span(self, start: float, end: float) -> None:
        self.prepareGeometryChange()
        self._rect = QtCore.QRectF(start, self._rect.top(), end - start, self._rect.height())
        self.update()

    def paint_pixels(self, p, rect, visible):
        rect = rect.normalized()
        p.fillRect(rect, self._fill)
        if self._hatch:
            hatch = QtGui.QColor(self._color)
            hatch.setAlpha(70)
            brush = QtGui.QBrush(hatch, QtCore.Qt.BrushStyle.BDiagPattern)
            p.setBrushOrigin(rect.topLeft())  # the hatch moves with the song, not the screen
            p.fillRect(rect, brush)
        if self._top_bar:
            p.fillRect(QtCore.QRectF(rect.left(), rect.top(), rect.width(), 3), self._color)
            edge = QtGui.QColor(self._color)
            edge.setAlpha(150)
            for x in (rect.left(), rect.right() - 1):
                p.fillRect(QtCore.QRectF(x, rect.top(), 1, rect.height()), edge)


class _Grid(_PixelItem):
    """Faint vertical lines at the ruler's major ticks, behind the waveform."""

    def __init__(self, ruler: _TimeRuler):
        super().__init__(QtCore.QRectF(0, -2, 1, 4))
        self._ruler = ruler
        self.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)

    def set_duration(self, seconds: float) -> None:
        self.prepareGeometryChange()
        self._rect = QtCore.QRectF(0, -2, seconds, 4)

    def paint_pixels(self, p, rect, visible):
        view = self.getViewBox()
        (x0, x1), _ = view.viewRange()
        levels = self._ruler.tickSpacing(x0, x1, visible.width())
        if not levels or visible.width() <= 0:
            return
        step = levels[0][0]
        color = QtGui.QColor(GRID)
        for k in range(math.ceil(x0 / step), math.floor(x1 / step) + 1):
            x = visible.left() + (k * step - x0) / (x1 - x0) * visible.width()
            p.fillRect(QtCore.QRectF(round(x), visible.top(), 1, visible.height()), color)


class _RulerOverlay(QtWidgets.QGraphicsObject):
    """On the ruler: the selection as a band and the playhead as a downward triangle."""

    def __init__(self, ruler: _TimeRuler, timeline: TimelineWidget):
        super().__init__(ruler)
        self._ruler, self._timeline = ruler, timeline
        self.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        self.setZValue(10)

    def boundingRect(self):
        return QtCore.QRectF(-8, 0, self._ruler.width() + 16, self._ruler.height())

    def _x(self, seconds: float) -> float:
        scene = self._timeline._wave_view.mapViewToScene(QtCore.QPointF(seconds, 0))
        return self.mapFromScene(scene).x()

    def paint(self, p, *args):
        h, width = self._ruler.height(), self._ruler.width()
        selection = self._timeline.selection()
        if selection is not None:
            a, b = (min(max(self._x(t), 0), width) for t in selection)
            p.fillRect(QtCore.QRectF(a, 0, b - a, h), QtGui.QColor(255, 255, 255, 30))
            p.fillRect(QtCore.QRectF(a, h - 3, b - a, 3), QtGui.QColor(SELECTION))
        x = self._x(self._timeline.playhead())
        if -6 <= x <= width + 6:
            p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
            p.setPen(QtCore.Qt.PenStyle.NoPen)
            p.setBrush(QtGui.QColor(PLAYHEAD))
            p.drawPolygon(QtGui.QPolygonF([QtCore.QPointF(x - 6, h - 10), QtCore.QPointF(x + 6, h - 10),
                                           QtCore.QPointF(x, h)]))


class _WaveItem(pg.GraphicsObject):
    """The min/max envelope as one vertical line per pixel column, in (seconds, amplitude).

    Columns, not a filled polygon: at 1920 px the raster engine fills a zigzag outline of
    thousands of vertices in ~100 ms, and strokes wide pens as slowly; 1-px lines take ~2 ms.
    The widget asks for ``COLUMNS_PER_PIXEL`` columns per device pixel so no pixel column is
    skipped; each column is stretched to reach its neighbour so the trace stays continuous, and
    when zoomed in past the envelope's resolution the outline is interpolated to that density.
    """

    def __init__(self):
        super().__init__()
        self._path = QtGui.QPainterPath()
        self.data = (np.zeros(0), np.zeros(0, np.float32), np.zeros(0, np.float32))
        self._pen = pg.mkPen(WAVE_FILL, width=1)
        self._pen.setCosmetic(True)
        self._pen.setCapStyle(QtCore.Qt.PenCapStyle.SquareCap)  # silence still shows as a line
        self.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)

    def set_data(self, times: np.ndarray, mins: np.ndarray, maxs: np.ndarray, columns: int = 0) -> None:
        """Draw ``(times, mins, maxs)`` as at least ``columns`` columns (interpolating when fewer)."""
        self.prepareGeometryChange()
        self.data = (times, mins, maxs)
        self._path = QtGui.QPainterPath()
        if len(times) >= 2 and columns > len(times):
            grid = np.linspace(times[0], times[-1], columns)
            times, mins, maxs = grid, np.interp(grid, times, mins), np.interp(grid, times, maxs)
        if len(times):
            lo = np.minimum(mins, np.concatenate([maxs[:1], maxs[:-1]]))  # reach the column before
            hi = np.maximum(maxs, np.concatenate([mins[:1], mins[:-1]]))
            x = np.repeat(np.asarray(times, np.float64), 2)
            y = np.column_stack([lo, hi]).astype(np.float64).ravel()
            self._path = pg.arrayToQPath(x, y, connect="pairs")
        self.update()

    def boundingRect(self):
        return self._path.boundingRect().adjusted(0, -0.01, 0, 0.01)

    def paint(self, p, *args):
        p.setPen(self._pen)
        p.drawPath(self._path)


# --- the widget ------------------------------------------------------------------------------------


class TimelineWidget(QtWidgets.QWidget):
    """Ruler, sections, lyric lines and waveform with pins, a selection and a playhead.

    Signals: ``selectionChanged(object)`` with ``(start_s, end_s)`` or None, ``seekRequested(float)``,
    ``sectionClicked(int)``, ``lineClicked(int)``, ``viewChanged(float, float)`` (the visible span).
    """

    selectionChanged = QtCore.Signal(object)
    seekRequested = QtCore.Signal(float)
    sectionClicked = QtCore.Signal(int)
    lineClicked = QtCore.Signal(int)
    viewChanged = QtCore.Signal(float, float)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._envelope: Envelope | None = None
        self._planned = 0.0
        self._follow_all = True  # show the whole song until the user zooms or scrolls
        self._playhead = 0.0
        self._last_selection: tuple[float, float] | None = None
        self._selecting = False
        self._sections: list[_SectionBlock] = []
        self._lines: list[_LineMarker] = []
        self._pins: list[_SpanShade] = []
        self._build()

    def _build(self) -> None:
        self._graphics = pg.GraphicsLayoutWidget()
        self._graphics.setBackground(SEPARATOR)
        self._graphics.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        layout = self._graphics.ci
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        self._wave_view = _LaneView(self, WAVE_BACKGROUND, (-1.08, 1.08))
        self._section_view = _LaneView(self, LANE_BACKGROUND, (0, 1))
        self._lyric_view = _LaneView(self, LANE_BACKGROUND, (0, 1))
        self._ruler = _TimeRuler(self._request_seek)
        self._ruler.linkToView(self._wave_view)
        layout.addItem(self._ruler, row=0, col=0)
        lanes = [(self._section_view, SECTION_HEIGHT), (self._lyric_view, LYRIC_HEIGHT)]
        for row, (view, height) in enumerate(lanes, start=1):
            view.setFixedHeight(height)
            view.setXLink(self._wave_view)
            layout.addItem(view, row=row, col=0)
        layout.addItem(self._wave_view, row=3, col=0)

        self._grid = _Grid(self._ruler)
        self._grid.setZValue(-10)
        self._wave_view.addItem(self._grid, ignoreBounds=True)
        center = pg.InfiniteLine(0, angle=0, pen=pg.mkPen(SEPARATOR, width=1), movable=False)
        center.setZValue(-5)
        self._wave_view.addItem(center, ignoreBounds=True)
        self._ruler_overlay = _RulerOverlay(self._ruler, self)
        self._wave = _WaveItem()
        self._wave_view.addItem(self._wave, ignoreBounds=True)

        self._region = pg.LinearRegionItem((0, 0), brush=pg.mkBrush(255, 255, 255, 28),
                                           hoverBrush=pg.mkBrush(255, 255, 255, 40),
                                           pen=pg.mkPen(SELECTION, width=1.5),
                                           hoverPen=pg.mkPen(SELECTION_HOVER, width=2.5), swapMode="sort")
        self._region.setZValue(20)
        self._region.hide()
        self._region.sigRegionChanged.connect(self._on_region_moving)
        self._region.sigRegionChangeFinished.connect(self._on_region_finished)
        self._wave_view.addItem(self._region, ignoreBounds=True)
        self._selection_mirrors = [_SpanShade(0, 0, 0, 1, SELECTION, 45) for _ in range(2)]
        for view, mirror in zip((self._section_view, self._lyric_view), self._selection_mirrors, strict=True):
            mirror.setZValue(20)
            mirror.hide()
            view.addItem(mirror, ignoreBounds=True)

        self._playheads = []
        for view in (self._section_view, self._lyric_view, self._wave_view):
            line = pg.InfiniteLine(0, angle=90, pen=pg.mkPen(PLAYHEAD, width=1.5), movable=False)
            line.setZValue(30)
            view.addItem(line, ignoreBounds=True)
            self._playheads.append(line)

        self._scrollbar = QtWidgets.QScrollBar(QtCore.Qt.Orientation.Horizontal)
        self._scrollbar.setStyleSheet(SCROLLBAR_STYLE)
        self._scrollbar.valueChanged.connect(self._on_scrollbar)
        box = QtWidgets.QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        box.addWidget(self._graphics, 1)
        box.addWidget(self._scrollbar)
        self.setMinimumHeight(RULER_HEIGHT + SECTION_HEIGHT + LYRIC_HEIGHT + 60)

        self._redraw_timer = QtCore.QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.timeout.connect(self.redraw)
        self._wave_view.sigXRangeChanged.connect(self._on_view_changed)
        self._wave_view.sigResized.connect(lambda *_: self._schedule_redraw(0))
        self._apply_duration()

    # --- audio ------------------------------------------------------------------------------

    def set_audio(self, envelope_or_audio: Envelope | np.ndarray | None, sample_rate: int | None = None) -> None:
        """Show an :class:`Envelope`, or audio ``[channels, samples]`` at ``sample_rate``; None clears."""
        if envelope_or_audio is None:
            self._envelope = None
        elif isinstance(envelope_or_audio, Envelope):
            self._envelope = envelope_or_audio
        else:
            if sample_rate is None:
                raise ValueError("set_audio needs the sample_rate of raw audio")
            self._envelope = Envelope.from_audio(np.asarray(envelope_or_audio), sample_rate)
        self._apply_duration()
        self._schedule_redraw(0)

    def append_audio(self, chunk: np.ndarray) -> None:
        """Grow the waveform by ``chunk [channels, n]`` (streaming); the redraw is throttled."""
        if self._envelope is None:
            raise RuntimeError("append_audio needs begin_stream(sample_rate) or set_audio first")
        self._envelope.append(np.asarray(chunk))
        if self._envelope.duration > self._planned:
            self._apply_duration()
        self._schedule_redraw(1000 // REDRAW_HZ)

    def begin_stream(self, sample_rate: int, planned_seconds: float = 0.0) -> None:
        """Start an empty waveform that :meth:`append_audio` will grow."""
        self._envelope = Envelope(sample_rate)
        self._planned = max(0.0, planned_seconds)
        self._apply_duration()
        self._schedule_redraw(0)

    def replace_audio(self, start_sample: int, audio: np.ndarray) -> None:
        """Overwrite the waveform from ``start_sample`` with ``audio [channels, n]`` (a re-decoded span)."""
        if self._envelope is None:
            raise RuntimeError("replace_audio before set_audio")
        self._envelope.replace(start_sample, np.asarray(audio))
        self._apply_duration()
        self._schedule_redraw(1000 // REDRAW_HZ)

    def set_duration(self, seconds: float) -> None:
        """The song's planned length: the axis spans it even before the audio is there."""
        self._planned = max(0.0, float(seconds))
        self._apply_duration()

    def duration(self) -> float:
        audio = self._envelope.duration if self._envelope is not None else 0.0
        return max(self._planned, audio) or 10.0

    def _apply_duration(self) -> None:
        total = self.duration()
        for view in (self._wave_view, self._section_view, self._lyric_view):
            view.setLimits(xMin=0, xMax=total, minXRange=min(MIN_SPAN_S, total), maxXRange=total)
        self._region.setBounds((0, total))
        self._grid.set_duration(total)
        if self._follow_all:
            self._wave_view.setXRange(0, total, padding=0)
        self._sync_scrollbar()

    # --- sections, lines, pins --------------------------------------------------------------

    def set_sections(self, sections: Sequence[tuple[str, str, float, float]]) -> None:
        """Sections as ``(kind, label, start_s, end_s)``; ``kind`` picks the colour."""
        self._replace_items(self._section_view, self._sections, [
            _SectionBlock(i, kind, label, start, end, self.sectionClicked.emit)
            for i, (kind, label, start, end) in enumerate(sections)])

    def set_lines(self, lines: Sequence[tuple[int, str, float, float]]) -> None:
        """Lyric lines as ``(index, text, start_s, end_s)``; a click emits ``lineClicked(index)``."""
        self._replace_items(self._lyric_view, self._lines, [
            _LineMarker(index, text, start, end, self.lineClicked.emit) for index, text, start, end in lines])

    def set_pins(self, pins: Sequence[tuple[float, float]]) -> None:
        """Pinned (kept) spans ``(start_s, end_s)``, shaded over the waveform."""
        self._replace_items(self._wave_view, self._pins, [
            _SpanShade(start, end, -1.08, 1.08, PIN, 26, hatch=True, top_bar=True) for start, end in pins])

    @property
    def section_items(self) -> list[_SectionBlock]:
        return list(self._sections)

    @property
    def line_items(self) -> list[_LineMarker]:
        return list(self._lines)

    @property
    def pin_items(self) -> list[_SpanShade]:
        return list(self._pins)

    @staticmethod
    def _replace_items(view: pg.ViewBox, current: list, new: list) -> None:
        for item in current:
            view.removeItem(item)
        current[:] = new
        for item in new:
            item.setZValue(5)
            view.addItem(item, ignoreBounds=True)

    # --- selection --------------------------------------------------------------------------

    def selection(self) -> tuple[float, float] | None:
        if not self._region.isVisible():
            return None
        start, end = self._region.getRegion()
        return (float(start), float(end))

    def set_selection(self, start_s: float | tuple[float, float] | None, end_s: float | None = None) -> None:
        """Select ``[start_s, end_s]`` (or a ``(start, end)`` tuple); None or an empty span clears."""
        if isinstance(start_s, (tuple, list)):
            start_s, end_s = start_s
        if start_s is None or end_s is None:
            self.clear_selection()
            return
        start, end = sorted((max(0.0, float(start_s)), min(self.duration(), float(end_s))))
        if end - start <= 0:
            self.clear_selection()
            return
        self._region.blockSignals(True)
        self._region.setRegion((start, end))
        self._region.blockSignals(False)
        self._region.show()
        self._on_region_moving()
        self._emit_selection()

    def clear_selection(self) -> None:
        self._region.hide()
        self._ruler_overlay.update()
        for mirror in self._selection_mirrors:
            mirror.hide()
        self._emit_selection()

    def _drag_select(self, x0: float, x1: float, finished: bool) -> None:
        """Left-drag on an empty lane: grow a new selection; emit once, when the drag ends."""
        self._selecting = not finished
        pixels = abs(x1 - x0) / max(self._wave_view.viewPixelSize()[0], 1e-12)
        if finished and pixels < 3:
            self.clear_selection()
            return
        start, end = sorted((max(0.0, x0), min(self.duration(), x1)))
        self._region.blockSignals(True)
        self._region.setRegion((start, max(end, start)))
        self._region.blockSignals(False)
        self._region.show()
        self._on_region_moving()
        if finished:
            self._emit_selection()

    def _on_region_moving(self, *_):
        self._ruler_overlay.update()
        start, end = self._region.getRegion()
        for mirror in self._selection_mirrors:
            mirror.set_span(start, end)
            mirror.setVisible(self._region.isVisible())

    def _on_region_finished(self, *_):
        if not self._selecting:
            self._emit_selection()

    def _emit_selection(self) -> None:
        current = self.selection()
        if current is not None and current[1] - current[0] <= 0:
            current = None
        if current != self._last_selection:
            self._last_selection = current
            self.selectionChanged.emit(current)

    # --- playhead and seeking ---------------------------------------------------------------

    def set_playhead(self, seconds: float) -> None:
        """Move the playhead; while it runs off the right edge of a zoomed view, the view pages along."""
        previous, self._playhead = self._playhead, float(seconds)
        for line in self._playheads:
            line.setValue(self._playhead)
        self._ruler_overlay.update()
        x0, x1 = self.view_range()
        if not self._follow_all and previous <= x1 < self._playhead and self._playhead - previous < (x1 - x0) / 2:
            span = x1 - x0
            self.set_view_range(self._playhead - 0.05 * span, self._playhead + 0.95 * span)

    def playhead(self) -> float:
        return self._playhead

    def _request_seek(self, seconds: float) -> None:
        self.seekRequested.emit(float(min(max(seconds, 0.0), self.duration())))

    # --- view -------------------------------------------------------------------------------

    def view_range(self) -> tuple[float, float]:
        x0, x1 = self._wave_view.viewRange()[0]
        return float(x0), float(x1)

    def set_view_range(self, start_s: float, end_s: float) -> None:
        total = self.duration()
        span = min(max(end_s - start_s, MIN_SPAN_S), total)
        start = min(max(0.0, start_s), total - span)
        self._follow_all = span >= total * 0.999
        self._wave_view.setXRange(start, start + span, padding=0)

    def zoom(self, factor: float, center_s: float | None = None) -> None:
        """Zoom in by ``factor`` (> 1 in, < 1 out) keeping ``center_s`` (default: view centre) in place."""
        x0, x1 = self.view_range()
        center = (x0 + x1) / 2 if center_s is None else center_s
        self.set_view_range(center - (center - x0) / factor, center + (x1 - center) / factor)

    def scroll_by(self, pages: float) -> None:
        x0, x1 = self.view_range()
        shift = pages * (x1 - x0)
        self.set_view_range(x0 + shift, x1 + shift)

    def zoom_to_fit(self) -> None:
        self._follow_all = True
        self._wave_view.setXRange(0, self.duration(), padding=0)

    def _on_view_changed(self, *_):
        self._ruler_overlay.update()
        self._sync_scrollbar()
        self._schedule_redraw(0)
        self.viewChanged.emit(*self.view_range())

    def _sync_scrollbar(self) -> None:
        x0, x1 = self.view_range()
        ms = 1000
        bar = self._scrollbar
        bar.blockSignals(True)
        bar.setRange(0, max(0, int((self.duration() - (x1 - x0)) * ms)))
        bar.setPageStep(max(1, int((x1 - x0) * ms)))
        bar.setSingleStep(max(1, int((x1 - x0) * ms / 20)))
        bar.setValue(int(x0 * ms))
        bar.blockSignals(False)

    def _on_scrollbar(self, value: int) -> None:
        x0, x1 = self.view_range()
        self.set_view_range(value / 1000, value / 1000 + (x1 - x0))

    # --- drawing ----------------------------------------------------------------------------

    def _schedule_redraw(self, delay_ms: int) -> None:
        if not self._redraw_timer.isActive():
            self._redraw_timer.start(delay_ms)

    def redraw(self) -> None:
        """Recompute the visible waveform now (normally driven by the throttle timer)."""
        self._redraw_timer.stop()
        if self._envelope is None:
            self._wave.set_data(*(np.zeros(0),) * 3)
            return
        x0, x1 = self.view_range()
        margin = (x1 - x0) * PAGE_MARGIN
        pixels = max(1.0, self._wave_view.width()) * (1 + 2 * PAGE_MARGIN) * self.devicePixelRatioF()
        columns = math.ceil(pixels * COLUMNS_PER_PIXEL)
        times, mins, maxs = self._envelope.view(x0 - margin, x1 + margin, columns)
        covered = (times[-1] - times[0]) / (x1 - x0 + 2 * margin) if len(times) > 1 else 0.0
        self._wave.set_data(times, mins, maxs, int(columns * covered))

    def waveform_data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times, mins, maxs) currently drawn."""
        return self._wave.data
