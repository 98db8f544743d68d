"""The main window's side panels and bars: song prompt, lyrics editor, takes, transport.

Widgets only: plain values in (setters), Qt signals out; no controller or engine knowledge.
Lyrics structure comes from ``heartmula_core.prompt.parse_lyrics`` (pure Python), which defines
what a line and a section marker are, so the editor, the engine and the timeline agree.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from app import qt_fixes  # noqa: F401  (PySide6 6.12 refcount workaround, applied on import)
from app.drops import format_minutes
from heartmula_core.prompt import parse_lyrics

from .timeline import format_time, section_color

MARKER_TEMPLATE = "[Intro]\n\n[Verse 1]\n\n[Chorus]\n"


def panel_title(text: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(text.upper())
    label.setObjectName("panelTitle")
    return label


def tool_button(text: str, tip: str, *, icon: QtWidgets.QStyle.StandardPixmap | None = None,
                checkable: bool = False, name: str = "") -> QtWidgets.QToolButton:
    button = QtWidgets.QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setCheckable(checkable)
    button.setAutoRaise(True)
    if name:
        button.setObjectName(name)
    if icon is not None:
        button.setIcon(button.style().standardIcon(icon))
        button.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonIconOnly if not text
                                  else QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    return button


# --- reference track -------------------------------------------------------------------------------


class WaveformPreview(QtWidgets.QWidget):
    """A small waveform from a ``[N, 2]`` min/max preview (one bar per pixel column)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.preview: np.ndarray | None = None
        self.setMinimumSize(60, 40)
        self.setFixedHeight(40)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)

    def set_preview(self, preview: np.ndarray | None) -> None:
        p = None if preview is None else np.asarray(preview, np.float32)
        self.preview = p if p is not None and p.ndim == 2 and p.shape[0] and p.shape[1] >= 2 else None
        self.update()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        painter = QtGui.QPainter(self)
        w, h = self.width(), self.height()
        mid = h / 2
        pal = self.palette()
        painter.fillRect(self.rect(), pal.color(QtGui.QPalette.ColorRole.Base))
        painter.setPen(QtGui.QPen(pal.color(QtGui.QPalette.ColorRole.Mid), 1))
        painter.drawLine(QtCore.QPointF(0, mid), QtCore.QPointF(w, mid))
        if self.preview is None or w <= 0:
            painter.end()
            return
        p = self.preview
        peak = float(np.max(np.abs(p))) or 1.0
        edges = np.linspace(0, len(p), w + 1).astype(int)
        painter.setPen(QtGui.QPen(pal.color(QtGui.QPalette.ColorRole.Highlight), 1))
        lines = []
        for x in range(w):
            a, b = edges[x], max(edges[x + 1], edges[x] + 1)
            lo, hi = float(p[a:b, 0].min()), float(p[a:b, 1].max())
            y0, y1 = mid - hi / peak * (mid - 2), mid - lo / peak * (mid - 2)
            lines.append(QtCore.QLineF(x + 0.5, y0, x + 0.5, max(y1, y0 + 1)))
        painter.drawLines(lines)
        painter.end()


class ElidedLabel(QtWidgets.QLabel):
    """A one-line label that shortens its text with "…" in the middle when it is too narrow."""

    def __init__(self, text: str = "", parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._full = text
        self.setMinimumWidth(40)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:
        self._full = text
        self._elide()

    def text(self) -> str:
        return self._full

    def shown_text(self) -> str:
        return super().text()

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, QtCore.Qt.TextElideMode.ElideMiddle, max(0, self.width()))
        super().setText(shown)


class ReferenceZone(QtWidgets.QFrame):
    """The song's reference track: empty (drop or choose one), analysing, or set (name, length,
    waveform, strength, clear).

    Signals: ``chooseRequested()``, ``cleared()``, ``strengthChanged(float)`` (0..2; on slider
    release, or after keyboard/wheel steps settle, so one gesture is one undo step).
    """

    chooseRequested = QtCore.Signal()
    cleared = QtCore.Signal()
    strengthChanged = QtCore.Signal(float)

    SETTLE_MS = 400

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("referenceZone")
        self.setStyleSheet("QFrame#referenceZone { border: 1px dashed palette(mid); border-radius: 5px; }"
                           "QFrame#referenceZone[active=\"true\"] { border: 1px solid palette(highlight); }")
        self._strength = 1.0
        self.analysing = ""

        self.empty = QtWidgets.QLabel()
        self.empty.setWordWrap(True)
        self.empty.setEnabled(False)
        self.choose = QtWidgets.QPushButton("Choose…")
        self.choose.setToolTip("Choose a reference track (.wav .flac .ogg .mp3) whose style the song follows")
        self.choose.clicked.connect(self.chooseRequested)

        self.name = ElidedLabel()
        self.name.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.duration = QtWidgets.QLabel()
        self.duration.setEnabled(False)
        self.waveform = WaveformPreview()
        self.clear = tool_button("✕", "Remove the reference track (undoable)")
        self.clear.clicked.connect(self.cleared)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(0, 200)
        self.slider.setSingleStep(5)
        self.slider.setPageStep(25)
        self.slider.setValue(100)
        self.slider.setToolTip("How strongly the reference steers the song: 0 % no effect, 100 % as "
                               "trained, 200 % exaggerated. Applies to the next generation or edit.")
        self.strength_label = QtWidgets.QLabel("100 %")
        self.strength_label.setMinimumWidth(44)
        self.strength_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        self._settle = QtCore.QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(self.SETTLE_MS)
        self._settle.timeout.connect(self._commit_strength)
        self.slider.valueChanged.connect(self._on_slider)
        self.slider.sliderReleased.connect(self._commit_strength)

        self.empty_page = QtWidgets.QWidget()
        empty_row = QtWidgets.QHBoxLayout(self.empty_page)
        empty_row.setContentsMargins(0, 0, 0, 0)
        empty_row.addWidget(self.empty, 1)
        empty_row.addWidget(self.choose, 0, QtCore.Qt.AlignmentFlag.AlignVCenter)

        self.set_page = QtWidgets.QWidget()
        grid = QtWidgets.QGridLayout(self.set_page)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(3)
        head = QtWidgets.QHBoxLayout()
        head.setSpacing(8)
        font = self.name.font()
        font.setBold(True)
        self.name.setFont(font)
        head.addWidget(self.name, 1)
        head.addWidget(self.duration)
        head.addWidget(self.clear)
        grid.addLayout(head, 0, 0, 1, 3)
        grid.addWidget(self.waveform, 1, 0, 1, 3)
        grid.addWidget(QtWidgets.QLabel("Reference strength"), 2, 0)
        grid.addWidget(self.slider, 2, 1)
        grid.addWidget(self.strength_label, 2, 2)
        grid.setColumnStretch(1, 1)

        self.stack = QtWidgets.QStackedLayout()
        self.stack.addWidget(self.empty_page)
        self.stack.addWidget(self.set_page)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(8, 6, 6, 6)
        outer.addLayout(self.stack)
        self.reference: Any = None
        self.set_reference(None)

    # --- state -------------------------------------------------------------------------------------

    def set_reference(self, reference: Any) -> None:
        """Show ``reference`` (anything with ``name``, ``seconds``, ``strength``, ``preview``) or the
        empty state (None). Emits nothing."""
        self.reference = reference
        self._settle.stop()
        if reference is not None:
            self.name.setText(str(reference.name))
            self.name.setToolTip(f"{reference.name}\nembedder: {getattr(reference, 'embedder', '') or 'unknown'}")
            seconds = float(getattr(reference, "seconds", 0.0) or 0.0)
            self.duration.setText(format_minutes(seconds) if seconds > 0 else "")
            self.waveform.set_preview(getattr(reference, "preview", None))
            self._strength = float(reference.strength)
            self.slider.blockSignals(True)
            self.slider.setValue(round(self._strength * 100))
            self.slider.blockSignals(False)
            self.strength_label.setText(f"{round(self._strength * 100)} %")
        self._sync()

    def set_analysing(self, name: str) -> None:
        """``name``: the audio file being analysed ("" when done)."""
        self.analysing = name
        self._sync()

    def text(self) -> str:
        """What the zone says (for tests and accessibility)."""
        if self.stack.currentWidget() is self.empty_page:
            return self.empty.text()
        return f"Reference {self.name.text()} {self.duration.text()} · strength {self.strength_label.text()}"

    def _sync(self) -> None:
        active = self.reference is not None
        if self.analysing:
            self.empty.setText(f"Analysing {self.analysing}…")
            self.empty.setEnabled(True)
        else:
            self.empty.setText("Drop a reference track (.wav .flac .ogg .mp3) to steer the style, "
                               "or lyrics (.txt) or a song (.hmsong), anywhere on the window")
            self.empty.setEnabled(False)
        self.stack.setCurrentWidget(self.set_page if active and not self.analysing else self.empty_page)
        self.choose.setVisible(not self.analysing)
        self.setProperty("active", active)
        self.style().unpolish(self)
        self.style().polish(self)

    # --- strength ----------------------------------------------------------------------------------

    def _on_slider(self, value: int) -> None:
        self.strength_label.setText(f"{value} %")
        if not self.slider.isSliderDown():  # keyboard, wheel, click on the groove: wait until it settles
            self._settle.start()

    def _commit_strength(self) -> None:
        self._settle.stop()
        value = self.slider.value() / 100
        if self.reference is not None and abs(value - self._strength) > 1e-6:
            self._strength = value
            self.strengthChanged.emit(value)


# --- song prompt -----------------------------------------------------------------------------------


class SongPanel(QtWidgets.QFrame):
    """Tags, length, seed and the reference drop zone (:class:`ReferenceZone`).

    Signals: ``tagsEdited(str)`` on every change, ``tagsCommitted(str)`` when editing ends,
    ``lengthChanged(float)``, ``seedChanged(int)``, ``referenceCleared()``,
    ``referenceChooseRequested()``, ``referenceStrengthChanged(float)``.
    """

    tagsEdited = QtCore.Signal(str)
    tagsCommitted = QtCore.Signal(str)
    lengthChanged = QtCore.Signal(float)
    seedChanged = QtCore.Signal(int)
    referenceCleared = QtCore.Signal()
    referenceChooseRequested = QtCore.Signal()
    referenceStrengthChanged = QtCore.Signal(float)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("panel")
        self.tags = QtWidgets.QLineEdit()
        self.tags.setPlaceholderText("pop, female vocal, piano, warm, 100 bpm")
        self.tags.setToolTip("Style tags: genre, instruments, mood, tempo — comma separated")
        self.tags.setClearButtonEnabled(True)
        self.tags.textChanged.connect(self.tagsEdited)
        self.tags.editingFinished.connect(lambda: self.tagsCommitted.emit(self.tags.text()))

        self.length = QtWidgets.QDoubleSpinBox()
        self.length.setRange(5, 600)
        self.length.setDecimals(0)
        self.length.setSingleStep(5)
        self.length.setSuffix(" s")
        self.length.setValue(60)
        self.length.setToolTip("Length of a new song in seconds (Generate stops earlier if the song ends)")
        self.length.valueChanged.connect(self.lengthChanged)
        self.seed = QtWidgets.QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Random seed: the same prompt and seed give the same song")
        self.seed.valueChanged.connect(self.seedChanged)
        dice = tool_button("⚄", "Pick a random seed")
        dice.clicked.connect(lambda: self.seed.setValue(random.randrange(2**31 - 1)))

        self.reference = ReferenceZone()
        self.reference.setToolTip("The reference track steers the song's style: drop a .wav, .flac, .ogg or "
                                  ".mp3 file on the window, or press Choose…")
        self.reference.cleared.connect(self.referenceCleared)
        self.reference.chooseRequested.connect(self.referenceChooseRequested)
        self.reference.strengthChanged.connect(self.referenceStrengthChanged)
        self.clear_reference = self.reference.clear

        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(10, 8, 10, 8)
        grid.setVerticalSpacing(6)
        grid.addWidget(panel_title("Song"), 0, 0, 1, 4)
        grid.addWidget(QtWidgets.QLabel("Tags"), 1, 0)
        grid.addWidget(self.tags, 1, 1, 1, 3)
        grid.addWidget(QtWidgets.QLabel("Length"), 2, 0)
        grid.addWidget(self.length, 2, 1)
        seed_row = QtWidgets.QHBoxLayout()
        seed_row.setSpacing(2)
        seed_row.addWidget(QtWidgets.QLabel("Seed"))
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(dice)
        grid.addLayout(seed_row, 2, 2, 1, 2)
        grid.addWidget(self.reference, 3, 0, 1, 4)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)

    def set_values(self, tags: str, seconds: float | None = None, seed: int | None = None) -> None:
        """Show a song's prompt without emitting the edit signals."""
        for widget, setter, value in ((self.tags, self.tags.setText, tags),
                                      (self.length, self.length.setValue, seconds),
                                      (self.seed, self.seed.setValue, seed)):
            if value is not None:
                widget.blockSignals(True)
                setter(value)
                widget.blockSignals(False)
        self.tags.setCursorPosition(0)

    def set_reference(self, reference: Any) -> None:
        """Show the song's reference track (None: the empty drop zone)."""
        self.reference.set_reference(reference)

    def set_analysing(self, name: str) -> None:
        """An audio file is being analysed ("" when done)."""
        self.reference.set_analysing(name)


# --- lyrics ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineEdit:
    """A lyric line whose text differs from the sung song: global ``index``, ``old`` and ``new``."""

    index: int
    old: str
    new: str


def pending_line_edits(song_lyrics: str, text: str) -> list[LineEdit] | None:
    """Lines of ``text`` that differ from ``song_lyrics``; None when lines or sections were added
    or removed (then single-line fixes do not apply)."""
    song, now = parse_lyrics(song_lyrics), parse_lyrics(text)
    if [len(s.lines) for s in song.sections] != [len(s.lines) for s in now.sections]:
        return None
    return [LineEdit(a.index, a.text, b.text) for a, b in zip(song.lines, now.lines, strict=True) if a.text != b.text]


def merge_lyrics(old_song: str, new_song: str, text: str) -> str:
    """``new_song``, keeping the user's pending edits of lines the song did not change itself.

    Used after an edit changed the song's lyrics (a fixed line) while other lines were edited
    but not fixed yet. When the structures differ the song's new lyrics win.
    """
    old, new, typed = (parse_lyrics(t) for t in (old_song, new_song, text))
    shape = [len(s.lines) for s in old.sections]
    if shape != [len(s.lines) for s in new.sections] or shape != [len(s.lines) for s in typed.sections]:
        return new_song
    out, cursor = [], 0
    for o, n, t in zip(old.lines, new.lines, typed.lines, strict=True):
        if t.text != o.text and n.text == o.text:  # pending edit on a line the song kept
            out.append(new_song[cursor:n.start] + t.text)
            cursor = n.end
    return "".join(out) + new_song[cursor:]


class LyricsHighlighter(QtGui.QSyntaxHighlighter):
    """Section markers in their timeline colour; edited (not yet re-sung) lines marked."""

    def __init__(self, document: QtGui.QTextDocument):
        super().__init__(document)
        self.edited_blocks: frozenset[int] = frozenset()
        self._edited = QtGui.QTextCharFormat()
        self._edited.setBackground(QtGui.QColor(242, 193, 78, 60))
        self._edited.setUnderlineStyle(QtGui.QTextCharFormat.UnderlineStyle.DashUnderline)
        self._edited.setUnderlineColor(QtGui.QColor("#f2c14e"))

    def set_edited_blocks(self, blocks: frozenset[int]) -> None:
        if blocks != self.edited_blocks:
            self.edited_blocks = blocks
            self.rehighlight()

    def highlightBlock(self, text: str) -> None:
        stripped = text.strip()
        if stripped.startswith("[") and stripped.endswith("]") and len(stripped) > 2:
            sections = parse_lyrics(stripped).sections
            kind = sections[0].kind if sections and not sections[0].lines else ""
            if kind:
                fmt = QtGui.QTextCharFormat()
                fmt.setForeground(section_color(kind).lighter(150))
                fmt.setFontWeight(QtGui.QFont.Weight.Bold)
                self.setFormat(0, len(text), fmt)
                return
        if self.currentBlock().blockNumber() in self.edited_blocks:
            self.setFormat(0, len(text), self._edited)


class LyricsPanel(QtWidgets.QFrame):
    """The lyrics editor. Before a song is generated the text is a draft; afterwards edits to a
    sung line are *pending* (marked) until "Fix this line" re-sings it.

    Signals: ``lyricsEdited(str)`` on every change, ``fixRequested(int, str)`` (line index, new
    text), ``keepTextRequested(str)`` (apply the text without re-singing).
    """

    lyricsEdited = QtCore.Signal(str)
    fixRequested = QtCore.Signal(int, str)
    keepTextRequested = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("panel")
        self._song_lyrics: str | None = None  # the sung song's lyrics (None: nothing generated yet)
        self._sung: set[int] = set()
        self._edits: list[LineEdit] | None = []
        self.editor = QtWidgets.QPlainTextEdit()
        self.editor.setPlaceholderText("[Verse 1]\nWrite your lyrics here, one line per sung phrase\n\n"
                                       "[Chorus]\nSection markers in brackets shape the song")
        self.editor.setToolTip("Lyrics with section markers such as [Verse 1] or [Chorus]. After generating, "
                               "edit a line and press “Fix this line” to re-sing only that line.")
        self.editor.setTabChangesFocus(True)
        self.editor.setMinimumWidth(260)
        font = self.editor.font()
        font.setPointSizeF(font.pointSizeF() + 1)
        self.editor.setFont(font)
        self.highlighter = LyricsHighlighter(self.editor.document())
        self.editor.textChanged.connect(self._on_text_changed)
        self.editor.cursorPositionChanged.connect(self._update_fix_bar)
        self.editor.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.CustomContextMenu)
        self.editor.customContextMenuRequested.connect(self._context_menu)

        self.fix_bar = QtWidgets.QFrame()
        self.fix_bar.setObjectName("fixBar")
        self.fix_label = QtWidgets.QLabel()
        self.fix_label.setWordWrap(True)
        self.fix_button = QtWidgets.QPushButton("Fix this line")
        self.fix_button.setToolTip("Re-sing only this line with the new words; the rest of the song is kept")
        self.fix_button.clicked.connect(self.request_fix)
        self.revert_button = QtWidgets.QPushButton("Revert")
        self.revert_button.setToolTip("Put back the words that are sung now")
        self.revert_button.clicked.connect(self.revert_line)
        bar = QtWidgets.QVBoxLayout(self.fix_bar)
        bar.setContentsMargins(8, 6, 6, 6)
        bar.setSpacing(4)
        bar.addWidget(self.fix_label)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.fix_button)
        bar.addLayout(buttons)
        self.fix_button.setDefault(True)
        self.fix_bar.hide()

        self.status = QtWidgets.QLabel()
        self.status.setObjectName("panelTitle")
        self.keep_button = tool_button("Keep text", "Use the edited lyrics as the song's text without "
                                       "re-singing (for typos and structure notes)")
        self.keep_button.clicked.connect(lambda: self.keepTextRequested.emit(self.text()))
        self.keep_button.hide()

        head = QtWidgets.QHBoxLayout()
        head.addWidget(panel_title("Lyrics"))
        head.addStretch(1)
        head.addWidget(self.status)
        head.addWidget(self.keep_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 8)
        layout.setSpacing(6)
        layout.addLayout(head)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.fix_bar)

    # --- data ------------------------------------------------------------------------------

    def text(self) -> str:
        return self.editor.toPlainText()

    def set_text(self, text: str) -> None:
        """Replace the editor's text (a dropped .txt, a new song); emits ``lyricsEdited``."""
        self.editor.setPlainText(text)

    def set_song(self, lyrics: str | None, sung_lines: Sequence[int] = ()) -> None:
        """The sung song's lyrics (None: no song generated yet) and the lines that have frames.

        The editor's text follows the song when it changed, keeping pending edits of lines the
        song did not change.
        """
        previous, self._song_lyrics = self._song_lyrics, lyrics
        self._sung = set(sung_lines)
        if lyrics is not None and lyrics != previous:
            text = lyrics if previous is None else merge_lyrics(previous, lyrics, self.text())
            if text != self.text():
                self.editor.blockSignals(True)
                cursor = self.editor.textCursor().position()
                self.editor.setPlainText(text)
                c = self.editor.textCursor()
                c.setPosition(min(cursor, len(text)))
                self.editor.setTextCursor(c)
                self.editor.blockSignals(False)
        self._refresh()

    def pending_edits(self) -> list[LineEdit] | None:
        return self._edits

    def edit_at_cursor(self) -> LineEdit | None:
        """The pending edit of the (sung) line under the cursor, if any."""
        if not self._edits:
            return None
        pos = self.editor.textCursor().position()
        for line in parse_lyrics(self.text()).lines:
            if line.start <= pos <= line.end:
                return next((e for e in self._edits if e.index == line.index and e.index in self._sung), None)
        return None

    def select_line(self, index: int) -> None:
        """Put the cursor at the start of lyric line ``index`` (a click on the timeline)."""
        lines = parse_lyrics(self.text()).lines
        if 0 <= index < len(lines):
            c = self.editor.textCursor()
            c.setPosition(lines[index].start)
            c.setPosition(lines[index].end, QtGui.QTextCursor.MoveMode.KeepAnchor)
            self.editor.setTextCursor(c)
            self.editor.centerCursor()

    # --- actions -------------------------------------------------------------------------------

    def request_fix(self) -> None:
        edit = self.edit_at_cursor()
        if edit is not None:
            self.fixRequested.emit(edit.index, edit.new)

    def revert_line(self) -> None:
        edit = self.edit_at_cursor()
        if edit is None:
            return
        line = parse_lyrics(self.text()).lines[edit.index]
        c = self.editor.textCursor()
        c.setPosition(line.start)
        c.setPosition(line.end, QtGui.QTextCursor.MoveMode.KeepAnchor)
        c.insertText(edit.old)

    def _context_menu(self, pos: QtCore.QPoint) -> None:
        menu = self.editor.createStandardContextMenu()
        edit = self.edit_at_cursor()
        if edit is not None:
            first = menu.actions()[0] if menu.actions() else None
            fix = QtGui.QAction("Fix this line", menu)
            fix.triggered.connect(self.request_fix)
            menu.insertAction(first, fix)
            menu.insertSeparator(first)
        menu.exec(self.editor.mapToGlobal(pos))

    # --- state -----------------------------------------------------------------------------------

    def _on_text_changed(self) -> None:
        self._refresh()
        self.lyricsEdited.emit(self.text())

    def _refresh(self) -> None:
        text = self.text()
        if self._song_lyrics is None:
            self._edits = []
        else:
            self._edits = pending_line_edits(self._song_lyrics, text)
        blocks: set[int] = set()
        if self._edits:
            doc = self.editor.document()
            lines = parse_lyrics(text).lines
            blocks = {doc.findBlock(lines[e.index].start).blockNumber() for e in self._edits}
        self.highlighter.set_edited_blocks(frozenset(blocks))
        generated = self._song_lyrics is not None and bool(self._sung)
        changed = generated and text != self._song_lyrics
        if not generated:
            self.status.setText("DRAFT")
            self.status.setToolTip("Not generated yet: Generate sings these lyrics")
        elif self._edits is None:
            self.status.setText("LINES ADDED/REMOVED")
            self.status.setToolTip("Lines or sections were added or removed: Generate the song again, or keep "
                                   "the text without re-singing")
        elif self._edits:
            self.status.setText(f"{len(self._edits)} EDITED")
            self.status.setToolTip("Edited lines are marked; put the cursor on one and press “Fix this line”")
        else:
            self.status.setText("IN SYNC")
            self.status.setToolTip("The lyrics match what is sung")
        self.keep_button.setVisible(changed)
        self._update_fix_bar()

    def _update_fix_bar(self) -> None:
        edit = self.edit_at_cursor()
        if edit is None:
            self.fix_bar.hide()
            return
        self.fix_label.setText(f"<b>Line {edit.index + 1} changed</b> — not sung yet<br>"
                               f"<span style='color:#9aa0a6'><s>{_esc(edit.old)}</s></span><br>{_esc(edit.new)}")
        self.fix_bar.show()

    def set_busy(self, busy: bool) -> None:
        self.fix_button.setEnabled(not busy)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- takes -----------------------------------------------------------------------------------------


class TakesPanel(QtWidgets.QFrame):
    """Alternative takes of the selected window: label, window, seam score, in use.

    Double-click or "Use take" emits ``takeChosen(id)``; "Audition" emits ``auditionRequested(id)``.
    """

    takeChosen = QtCore.Signal(int)
    auditionRequested = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("panel")
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["Take", "Window", "Seam score", "In use"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setToolTip("Takes of the selected window (all takes when nothing is selected). Higher seam "
                             "score = smoother join with the kept music. Double-click to use a take.")
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):
            header.setSectionResizeMode(col, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemDoubleClicked.connect(lambda item, _col: self.takeChosen.emit(item.data(0, _ID)))
        self.tree.itemSelectionChanged.connect(self._sync_buttons)
        self.use_button = QtWidgets.QPushButton("Use take")
        self.use_button.setToolTip("Put the selected take into the song (undoable)")
        self.use_button.clicked.connect(lambda: self._emit(self.takeChosen))
        self.audition_button = QtWidgets.QPushButton("Audition")
        self.audition_button.setToolTip("Use the selected take and play its window in a loop")
        self.audition_button.clicked.connect(lambda: self._emit(self.auditionRequested))
        self.empty = QtWidgets.QLabel("No takes yet. Select a window on the timeline and press "
                                      "Re-sample (R) to get alternatives.")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.empty.setEnabled(False)

        head = QtWidgets.QHBoxLayout()
        head.addWidget(panel_title("Takes"))
        self.scope = QtWidgets.QLabel()
        self.scope.setObjectName("panelTitle")
        head.addWidget(self.scope)
        head.addStretch(1)
        head.addWidget(self.audition_button)
        head.addWidget(self.use_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 8)
        layout.setSpacing(4)
        layout.addLayout(head)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty, 1)
        self.set_takes([], 12.5, None)

    def set_takes(self, takes: Sequence, frame_rate: float, window: tuple[int, int] | None) -> None:
        """Show ``takes`` (engine Take objects) overlapping ``window`` frames (all when None)."""
        shown = [t for t in takes if window is None or (t.start < window[1] and window[0] < t.end)]
        self.scope.setText("· selection" if window is not None and shown else "")
        self.tree.clear()
        for take in sorted(shown, key=lambda t: (t.start, t.end, t.id)):
            score = take.seam_score if take.seam_score is not None else take.score
            score = None if score is None or score != score else score  # NaN: "as it was" has no score
            window_text = f"{format_time(take.start / frame_rate, 0.1)}–{format_time(take.end / frame_rate, 0.1)}"
            item = QtWidgets.QTreeWidgetItem([take.label, window_text,
                                              "—" if score is None else f"{score:+.2f}", "●" if take.applied else ""])
            item.setData(0, _ID, int(take.id))
            item.setToolTip(0, f"Take {take.id}: frames {take.start}–{take.end}")
            item.setTextAlignment(2, QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
            item.setTextAlignment(3, QtCore.Qt.AlignmentFlag.AlignCenter)
            if take.applied:
                font = item.font(0)
                font.setBold(True)
                for col in range(4):
                    item.setFont(col, font)
            self.tree.addTopLevelItem(item)
        self.tree.setVisible(bool(shown))
        self.empty.setVisible(not shown)
        self._sync_buttons()

    def take_ids(self) -> list[int]:
        return [self.tree.topLevelItem(i).data(0, _ID) for i in range(self.tree.topLevelItemCount())]

    def select_take(self, take_id: int) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, _ID) == take_id:
                self.tree.setCurrentItem(item)

    def _emit(self, signal) -> None:
        item = self.tree.currentItem()
        if item is not None:
            signal.emit(item.data(0, _ID))

    def _sync_buttons(self) -> None:
        has = self.tree.currentItem() is not None
        self.use_button.setEnabled(has)
        self.audition_button.setEnabled(has)


_ID = QtCore.Qt.ItemDataRole.UserRole


# --- transport -------------------------------------------------------------------------------------


class TransportBar(QtWidgets.QFrame):
    """Play/pause, stop, back to start, loop the selection, follow while generating; the clock.

    Signals: ``playToggled()``, ``stopRequested()``, ``rewindRequested()``, ``loopToggled(bool)``,
    ``followToggled(bool)``.
    """

    playToggled = QtCore.Signal()
    stopRequested = QtCore.Signal()
    rewindRequested = QtCore.Signal()
    loopToggled = QtCore.Signal(bool)
    followToggled = QtCore.Signal(bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("panel")
        sp = QtWidgets.QStyle.StandardPixmap
        self.rewind = tool_button("", "Back to the start (Home)", icon=sp.SP_MediaSkipBackward)
        self.play = tool_button("", "Play / pause (Space)", icon=sp.SP_MediaPlay)
        self.stop = tool_button("", "Stop and return to the start", icon=sp.SP_MediaStop)
        self.loop = tool_button("⟲ Loop", "Loop the selection while playing (L)", checkable=True)
        self.follow = tool_button("▶ while generating", "Start playing as soon as audio streams in when you "
                                  "press Generate", checkable=True)
        self.clock = QtWidgets.QLabel()
        self.clock.setObjectName("timeDisplay")
        self.clock.setToolTip("Play position / song length")
        self.clock.setMinimumWidth(160)
        self.clock.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.rewind.clicked.connect(self.rewindRequested)
        self.play.clicked.connect(self.playToggled)
        self.stop.clicked.connect(self.stopRequested)
        self.loop.toggled.connect(self.loopToggled)
        self.follow.toggled.connect(self.followToggled)
        for b in (self.rewind, self.play, self.stop):
            b.setIconSize(QtCore.QSize(20, 20))
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        for widget in (self.rewind, self.play, self.stop, self.clock, self.loop, self.follow):
            layout.addWidget(widget)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Maximum, QtWidgets.QSizePolicy.Policy.Fixed)
        self.set_time(0.0, 0.0)

    def set_playing(self, playing: bool) -> None:
        sp = QtWidgets.QStyle.StandardPixmap
        self.play.setIcon(self.style().standardIcon(sp.SP_MediaPause if playing else sp.SP_MediaPlay))

    def set_time(self, position: float, duration: float) -> None:
        self.clock.setText(f"{format_time(position, 0.1)} / {format_time(duration, 0.1)}")

    def set_available(self, available: bool, reason: str = "") -> None:
        for b in (self.rewind, self.play, self.stop, self.loop, self.follow):
            b.setEnabled(available)
        tip = "" if available else f"Playback is off: {reason}"
        self.setToolTip(tip)
