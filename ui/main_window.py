"""The editor's main window: menus, toolbar, panels, timeline, transport, messages, status bar.

Layout::

    menu bar / toolbar (file · undo · Generate, Cancel · re-sample, pin · section actions)
    transport (rewind, play, stop, clock, loop, play-while-generating)
    ┌ song panel (tags, length, seed, reference) ┐ ┌ timeline (ruler, sections, lyrics, waveform) ┐
    │ lyrics editor (+ "Fix this line" bar)      │ ├ selection info                               ┤
    └────────────────────────────────────────────┘ └ takes                                        ┘
    message area (errors and notices: the one place they show)
    status bar: progress + ETA · model · device · memory

The window only forwards user intent to :class:`app.controller.SongController` and redraws from
its signals. Dialogs that would block (file choosers, questions) go through small methods
(:meth:`ask_open_path`, :attr:`ask_save_changes` ...) that tests replace.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from app import qt_fixes  # noqa: F401  (PySide6 6.12 refcount workaround, applied on import)
from app.controller import EXPORT_SUFFIXES, SongController
from app.drops import AUDIO_SUFFIXES, DROP_SUFFIXES, SONG_SUFFIX
from app.playback import PlayState
from app.system_info import memory_text

from . import dialogs
from .panels import LyricsPanel, SongPanel, TakesPanel, TransportBar, tool_button
from .timeline import TimelineWidget, format_time

log = logging.getLogger(__name__)

APP_TITLE = "HeartMuLa Editor"
PLAYHEAD_HZ = 30
INFO_TIMEOUT_MS = 8000
SONG_FILTER = f"HeartMuLa songs (*{SONG_SUFFIX})"
EXPORT_FILTER = "WAV audio (*.wav);;FLAC audio (*.flac);;MP3 audio (*.mp3)"


def dropped_paths(mime: QtCore.QMimeData) -> list[Path]:
    """Local files in a drag's mime data whose type the editor handles."""
    if not mime.hasUrls():
        return []
    paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    return [p for p in paths if p.suffix.lower() in DROP_SUFFIXES]


class _FileDropFilter(QtCore.QObject):
    """Sends file drops on text fields to the window (text fields would insert the URL)."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self._window = window

    def eventFilter(self, obj, event):
        kind = event.type()
        if kind in (QtCore.QEvent.Type.DragEnter, QtCore.QEvent.Type.DragMove, QtCore.QEvent.Type.Drop):
            if event.mimeData().hasUrls():
                if kind == QtCore.QEvent.Type.Drop:
                    self._window.dropEvent(event)
                else:
                    self._window.dragEnterEvent(event)
                return True
        return False


class MessageBar(QtWidgets.QFrame):
    """One line at the bottom for notices and errors; errors stay until dismissed."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.icon = QtWidgets.QLabel()
        self.text = QtWidgets.QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        close = tool_button("✕", "Dismiss this message")
        close.clicked.connect(self.hide)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 6, 4)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        layout.addWidget(close)
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.level = ""
        self.history: list[tuple[str, str]] = []
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        self.history.append((level, text))
        self.level = level
        icons = {"error": "⛔", "warning": "⚠", "info": "ℹ"}
        self.icon.setText(icons.get(level, ""))
        self.text.setText(text)
        self.setToolTip(text)
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.show()
        if level == "info":
            self._timer.start(INFO_TIMEOUT_MS)
        else:
            self._timer.stop()


class MainWindow(QtWidgets.QMainWindow):
    """See the module notes. ``controller`` owns the song; the window owns only widgets."""

    def __init__(self, controller: SongController, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.c = controller
        self.ask_save_changes = dialogs.ask_save_changes  # (parent, name) -> "save"|"discard"|"cancel"
        self.ask_recovery = dialogs.ask_recovery  # (parent, autosave, name) -> "recover"|"discard"|"later"
        self.blocking_errors: list[str] = []
        self._error_box: QtWidgets.QMessageBox | None = None
        self._shown_doc = None
        self._closing = False
        self.setWindowTitle(APP_TITLE)
        self.setMinimumSize(980, 620)
        self.setAcceptDrops(True)
        self._build_widgets()
        self._build_actions()
        self._build_menus_and_toolbar()
        self._build_status_bar()
        self._connect()
        self._poll = QtCore.QTimer(self)
        self._poll.timeout.connect(self._poll_playback)
        self._poll.start(1000 // PLAYHEAD_HZ)
        self._mem_timer = QtCore.QTimer(self)
        self._mem_timer.timeout.connect(self._update_memory)
        self._mem_timer.start(2000)
        self._apply_settings_to_widgets()
        self._on_document(self.c.doc)
        self._on_busy(self.c.busy, "")
        self._update_memory()
        self._sync_transport_availability()

    # --- construction -----------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.song = SongPanel()
        self.lyrics = LyricsPanel()
        self.timeline = TimelineWidget()
        self.timeline.setToolTip("")
        self.timeline.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
        self.timeline.setMinimumHeight(220)
        self.hint = QtWidgets.QLabel(
            "<p style='font-size:15px'><b>Write tags and lyrics, then press Generate</b> (Ctrl+Enter)</p>"
            "<p>The song streams in here as it is made. Then drag across the waveform to select a window:<br>"
            "<b>R</b> re-samples it, <b>P</b> pins (keeps) it, takes appear below. Edit a lyric line and "
            "press <b>Fix this line</b>.</p>", self.timeline)
        self.hint.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.hint.setStyleSheet("color: #9aa0a6; background: transparent;")
        self.hint.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.timeline.installEventFilter(self)
        self.takes = TakesPanel()
        self.takes.setMinimumHeight(120)
        self.transport = TransportBar()
        self.messages = MessageBar()
        self.selection_label = QtWidgets.QLabel()
        self.selection_label.setObjectName("panelTitle")
        self.selection_label.setToolTip("The selected window (drag on the waveform to select) and the section "
                                        "that section actions apply to")

        left = QtWidgets.QWidget()
        left_layout = QtWidgets.QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(0)
        left_layout.addWidget(self.song)
        rule = QtWidgets.QFrame()
        rule.setFrameShape(QtWidgets.QFrame.Shape.HLine)
        rule.setFrameShadow(QtWidgets.QFrame.Shadow.Plain)
        left_layout.addWidget(rule)
        left_layout.addWidget(self.lyrics, 1)
        left.setMinimumWidth(280)

        info_row = QtWidgets.QHBoxLayout()
        info_row.setContentsMargins(4, 2, 6, 2)
        info_row.setSpacing(8)
        info_row.addWidget(self.transport)
        rule = QtWidgets.QFrame()
        rule.setFrameShape(QtWidgets.QFrame.Shape.VLine)
        info_row.addWidget(rule)
        info_row.addWidget(self.selection_label, 1)
        for text, tip, slot in (("−", "Zoom out (Ctrl+−)", lambda: self.timeline.zoom(1 / 1.5)),
                                ("+", "Zoom in (Ctrl++)", lambda: self.timeline.zoom(1.5)),
                                ("Fit", "Show the whole song (Ctrl+0)", self.timeline.zoom_to_fit)):
            button = tool_button(text, tip)
            button.clicked.connect(slot)
            info_row.addWidget(button)
        arrange = QtWidgets.QWidget()
        arrange_layout = QtWidgets.QVBoxLayout(arrange)
        arrange_layout.setContentsMargins(0, 0, 0, 0)
        arrange_layout.setSpacing(0)
        arrange_layout.addLayout(info_row)
        arrange_layout.addWidget(self.timeline, 1)

        self.right_split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.right_split.addWidget(arrange)
        self.right_split.addWidget(self.takes)
        self.right_split.setStretchFactor(0, 3)
        self.right_split.setStretchFactor(1, 1)
        self.right_split.setSizes([420, 170])
        self.right_split.setChildrenCollapsible(False)
        self.main_split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.main_split.addWidget(left)
        self.main_split.addWidget(self.right_split)
        self.main_split.setStretchFactor(0, 0)
        self.main_split.setStretchFactor(1, 1)
        self.main_split.setSizes([340, 940])
        self.main_split.setChildrenCollapsible(False)

        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.main_split, 1)
        layout.addWidget(self.messages)
        self.setCentralWidget(central)

        drop_filter = _FileDropFilter(self)
        for widget in (self.lyrics.editor.viewport(), self.lyrics.editor, self.song.tags):
            widget.installEventFilter(drop_filter)

    def _action(self, text: str, tip: str, slot, shortcut=None, icon=None) -> QtGui.QAction:
        action = QtGui.QAction(text, self)
        keys = [] if shortcut is None else shortcut if isinstance(shortcut, list) else [shortcut]
        action.setShortcuts([QtGui.QKeySequence(k) for k in keys])
        hint = f" ({', '.join(QtGui.QKeySequence(k).toString() for k in keys)})" if keys else ""
        action.setToolTip(f"{tip}{hint}")
        action.setStatusTip(tip)
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        action.triggered.connect(lambda *_: slot())
        self.addAction(action)  # shortcuts work wherever the focus is in the window
        return action

    def _build_actions(self) -> None:
        sp = QtWidgets.QStyle.StandardPixmap
        key = QtGui.QKeySequence.StandardKey
        a = self._action
        self.act_new = a("&New", "Start a new song", self.new_song, key.New, sp.SP_FileIcon)
        self.act_open = a("&Open…", "Open a song (.hmsong)", self.open_dialog, key.Open, sp.SP_DirOpenIcon)
        self.act_save = a("&Save", "Save the song", self.save, key.Save, sp.SP_DialogSaveButton)
        self.act_save_as = a("Save &As…", "Save the song under a new name", self.save_as_dialog, "Ctrl+Shift+S")
        self.act_export = a("&Export Audio…", "Export the song as WAV, FLAC or MP3", self.export_dialog, "Ctrl+E")
        self.act_settings = a("Se&ttings…", "Model, device, precision, memory mode, autosave",
                              self.settings_dialog, "Ctrl+,")
        self.act_quit = a("&Quit", "Close the editor", self.close, key.Quit)
        self.act_undo = a("&Undo", "Undo the last edit", self.c.undo, "Ctrl+Z", sp.SP_ArrowBack)
        self.act_redo = a("&Redo", "Redo the edit you undid", self.c.redo, ["Ctrl+Shift+Z", "Ctrl+Y"],
                          sp.SP_ArrowForward)
        self.act_generate = a("&Generate", "Generate the whole song from the tags and lyrics (again: a new "
                              "version; undo brings the old one back)", self.generate, "Ctrl+Return")
        self.act_cancel = a("Cancel", "Stop the running job; the song stays as it was", self.c.cancel, "Esc",
                            sp.SP_BrowserStop)
        self.act_resample = a("&Re-sample", "Re-sample the selected window (pinned parts are kept) and list "
                              "the takes", self.c.resample_selection, "R")
        self.act_pin = a("&Pin", "Pin (keep) the selected window: edits never change pinned music",
                         lambda: self.c.pin_selection(True), "P")
        self.act_unpin = a("&Unpin", "Unpin the selected window", lambda: self.c.pin_selection(False), "Shift+P")
        self.act_regen_section = a("Regenerate Section", "Sample the current section again (pins are kept)",
                                   lambda: self._section_op("regenerate_section"), "Ctrl+R")
        self.act_delete_section = a("Delete Section", "Remove the current section from the song",
                                    lambda: self._section_op("delete_section"), key.Delete)
        self.act_duplicate_section = a("Duplicate Section", "Repeat the current section after itself",
                                       lambda: self._section_op("duplicate_section"), "Ctrl+D")
        self.act_extend = a("Extend +15 s", "Continue the song for 15 more seconds", lambda: self.c.extend(15.0))
        self.act_fix_line = a("Fix This Line", "Re-sing the edited lyric line under the cursor",
                              self.lyrics.request_fix, "Ctrl+L")
        self.act_play = a("Play / Pause", "Play or pause", self.c.toggle_play, "Space")
        self.act_rewind = a("Back to Start", "Move the playhead to the start", lambda: self._seek(0.0), "Home")
        self.act_loop = a("Loop Selection", "Loop the selection while playing", self.transport.loop.toggle, "L")
        self.act_zoom_in = a("Zoom In", "Zoom in on the timeline", lambda: self.timeline.zoom(1.5), key.ZoomIn)
        self.act_zoom_out = a("Zoom Out", "Zoom out", lambda: self.timeline.zoom(1 / 1.5), key.ZoomOut)
        self.act_zoom_fit = a("Zoom to Fit", "Show the whole song", self.timeline.zoom_to_fit, "Ctrl+0")
        self.act_log = a("Open Log Folder", "Show the folder with the editor's log file", self._open_log_folder)
        self.act_about = a("About", "About HeartMuLa Editor", self._about)

    def _build_menus_and_toolbar(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for act in (self.act_new, self.act_open):
            file_menu.addAction(act)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        for act in (self.act_save, self.act_save_as, self.act_export):
            file_menu.addAction(act)
        file_menu.addSeparator()
        file_menu.addAction(self.act_settings)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        edit_menu = bar.addMenu("&Edit")
        for act in (self.act_undo, self.act_redo, None, self.act_pin, self.act_unpin, None, self.act_fix_line):
            edit_menu.addSeparator() if act is None else edit_menu.addAction(act)
        song_menu = bar.addMenu("&Song")
        for act in (self.act_generate, self.act_extend, self.act_cancel, None, self.act_resample, None,
                    self.act_regen_section, self.act_duplicate_section, self.act_delete_section):
            song_menu.addSeparator() if act is None else song_menu.addAction(act)
        play_menu = bar.addMenu("&Playback")
        for act in (self.act_play, self.act_rewind, self.act_loop, None, self.act_zoom_in, self.act_zoom_out,
                    self.act_zoom_fit):
            play_menu.addSeparator() if act is None else play_menu.addAction(act)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.act_log)
        help_menu.addAction(self.act_about)
        for menu in (file_menu, edit_menu, song_menu, play_menu, help_menu):
            menu.setToolTipsVisible(True)

        tb = QtWidgets.QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QtCore.QSize(16, 16))
        tb.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(tb)
        for act in (self.act_new, self.act_open, self.act_save, None, self.act_undo, self.act_redo):
            if act is None:
                tb.addSeparator()
                continue
            tb.addAction(act)
            tb.widgetForAction(act).setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonIconOnly)
        tb.addSeparator()
        tb.addAction(self.act_generate)
        tb.widgetForAction(self.act_generate).setObjectName("primary")
        tb.addAction(self.act_cancel)
        tb.widgetForAction(self.act_cancel).setObjectName("danger")
        tb.addSeparator()
        for act in (self.act_resample, self.act_pin, self.act_unpin):
            tb.addAction(act)
        tb.addSeparator()
        section_label = QtWidgets.QLabel(" Section ")
        section_label.setObjectName("panelTitle")
        tb.addWidget(section_label)
        for act, text in ((self.act_regen_section, "Regenerate"), (self.act_duplicate_section, "Duplicate"),
                          (self.act_delete_section, "Delete")):
            act.setIconText(text)  # the toolbar shows the short label, menus the full one
            tb.addAction(act)
        spacer = QtWidgets.QWidget()
        spacer.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        tb.addAction(self.act_settings)
        self.toolbar = tb

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        status.setSizeGripEnabled(False)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFixedWidth(180)
        self.progress.setTextVisible(False)
        self.progress.setToolTip("Progress of the running job")
        self.progress_text = QtWidgets.QLabel("Ready")
        self.progress_text.setToolTip("What the editor is doing (frames, seconds of audio, time left)")
        self.model_label = QtWidgets.QLabel("Model: —")
        self.model_label.setToolTip("The loaded model (File ▸ Settings to change it)")
        self.device_label = QtWidgets.QLabel("Device: —")
        self.device_label.setToolTip("Where the model runs")
        self.memory_label = QtWidgets.QLabel()
        self.memory_label.setToolTip("GPU memory in use (CUDA) or the editor's memory (RSS)")
        self.playback_label = QtWidgets.QLabel()
        status.addWidget(self.progress)
        status.addWidget(self.progress_text, 1)
        for label in (self.playback_label, self.model_label, self.device_label, self.memory_label):
            status.addPermanentWidget(label)

    def _connect(self) -> None:
        c = self.c
        c.documentChanged.connect(self._on_document)
        c.audioReset.connect(self._on_audio_reset)
        c.audioUpdated.connect(self._on_audio_update)
        c.streamStarted.connect(self._on_stream_started)
        c.audioChunk.connect(self.timeline.replace_audio)
        c.busyChanged.connect(self._on_busy)
        c.progressChanged.connect(self._on_progress)
        c.modelChanged.connect(self._on_model)
        c.message.connect(self.messages.show_message)
        c.blockingError.connect(self._show_blocking_error)
        c.pathChanged.connect(lambda _: self._update_title())
        c.dirtyChanged.connect(lambda _: self._update_title())
        c.historyChanged.connect(self._sync_actions)
        c.referenceChanged.connect(self.song.set_reference)
        c.referenceAnalysing.connect(self.song.set_analysing)
        c.lyricsImported.connect(self.lyrics.set_text)

        self.song.tagsEdited.connect(lambda text: c.set_draft(tags=text))
        self.song.tagsCommitted.connect(c.commit_tags)
        self.song.lengthChanged.connect(lambda v: c.set_draft(seconds=v))
        self.song.seedChanged.connect(lambda v: c.set_draft(seed=v))
        self.song.referenceCleared.connect(c.clear_reference)
        self.song.referenceStrengthChanged.connect(c.set_reference_strength)
        self.song.referenceChooseRequested.connect(self.choose_reference)
        self.lyrics.lyricsEdited.connect(lambda text: c.set_draft(lyrics=text))
        self.lyrics.fixRequested.connect(c.fix_line)
        self.lyrics.keepTextRequested.connect(c.apply_lyrics_text)
        self.takes.takeChosen.connect(c.choose_take)
        self.takes.auditionRequested.connect(self._audition)

        self.timeline.selectionChanged.connect(self._on_selection)
        self.timeline.seekRequested.connect(self._seek)
        self.timeline.sectionClicked.connect(self._on_section_clicked)
        self.timeline.lineClicked.connect(self._on_line_clicked)

        self.transport.playToggled.connect(c.toggle_play)
        self.transport.stopRequested.connect(c.stop)
        self.transport.rewindRequested.connect(lambda: self._seek(0.0))
        self.transport.loopToggled.connect(self._on_loop_toggled)
        self.transport.followToggled.connect(self._on_follow_toggled)

    def _apply_settings_to_widgets(self) -> None:
        self.transport.follow.blockSignals(True)
        self.transport.follow.setChecked(self.c.settings.play_while_generating)
        self.transport.follow.blockSignals(False)
        self.song.set_values(self.c.draft_tags, self.c.draft_seconds, self.c.draft_seed)

    def eventFilter(self, obj, event):
        if obj is self.timeline and event.type() == QtCore.QEvent.Type.Resize:
            self.hint.setGeometry(0, 60, self.timeline.width(), max(0, self.timeline.height() - 80))
        return super().eventFilter(obj, event)

    def _sync_hint(self) -> None:
        self.hint.setVisible(not self.c.has_frames() and not self.c.busy and self.c.audio is None)

    # --- controller -> widgets -----------------------------------------------------------------

    def _on_document(self, doc) -> None:
        previous, self._shown_doc = self._shown_doc, doc
        fr = self.c.frame_rate
        if doc is None or doc.num_frames == 0:
            self.timeline.set_sections([])
            self.timeline.set_lines([])
            self.timeline.set_pins([])
            self.lyrics.set_song(None)
            self.takes.set_takes([], fr, None)
        else:
            self.timeline.set_duration(doc.duration)
            self.timeline.set_sections([(s.kind or "song", s.label or s.kind.title() or "Song",
                                         s.start / fr, s.end / fr) for s in doc.sections()])
            self.timeline.set_lines([(ln.index, ln.text, ln.start / fr, ln.end / fr)
                                     for ln in doc.lines() if ln.start is not None and ln.end is not None])
            self.timeline.set_pins([(a / fr, b / fr) for a, b in doc.pinned_ranges()])
            sung = [ln.index for ln in doc.lines() if ln.start is not None]
            self.lyrics.set_song(doc.lyrics, sung)
            self.takes.set_takes(doc.takes, fr, self.c.selection)
        if doc is not None and (previous is None or doc.tags != previous.tags):
            if doc.num_frames or previous is None:
                self.song.set_values(doc.tags)
                self.c.set_draft(tags=doc.tags)
        self._sync_actions()
        self._update_selection_label()
        self._update_title()
        self._sync_hint()

    def show_prompt(self, tags: str, lyrics: str, seconds: float | None = None, seed: int | None = None) -> None:
        """Put a song's prompt in the panels (open, new, recover)."""
        self.song.set_values(tags, seconds, seed)
        self.lyrics.set_text(lyrics)
        self.c.set_draft(tags=tags, lyrics=lyrics, seconds=seconds, seed=seed)

    def _on_audio_reset(self, audio) -> None:
        """The song has no audio (empty song); ``audio`` is always None here."""
        self.timeline.set_audio(None)
        doc = self.c.doc
        self.timeline.set_duration(doc.duration if doc is not None and doc.num_frames else 0.0)
        self._poll_playback()
        self._sync_hint()

    def _on_audio_update(self, update) -> None:
        """Show the song's new audio as prepared by the engine thread (only what changed)."""
        seconds = self.c.audio.shape[-1] / self.c.sample_rate if self.c.audio is not None else 0.0
        if update.kind == "span":
            self.timeline.replace_audio(update.start, update.chunk)
        elif update.kind == "full":
            self.timeline.set_duration(seconds)
            self.timeline.set_audio(update.envelope)
        elif update.kind == "streamed":
            self.timeline.set_duration(seconds)
        self._poll_playback()
        self._sync_hint()

    def _on_stream_started(self, planned: float, keep: bool) -> None:
        if keep and self.c.audio is not None:
            self.timeline.set_duration(planned)
        else:
            self.timeline.clear_selection()
            self.timeline.set_sections([])
            self.timeline.set_lines([])
            self.timeline.set_pins([])
            self.timeline.begin_stream(self.c.sample_rate, planned)
            self.timeline.zoom_to_fit()
        self._update_selection_label()

    def _on_busy(self, busy: bool, label: str) -> None:
        if busy and self.messages.level == "info":
            self.messages.hide()  # a notice about the previous job is stale now
        self.lyrics.set_busy(busy)
        self._sync_actions()
        self._update_selection_label()
        self._sync_hint()

    def _on_progress(self, done: int, total: int, text: str) -> None:
        working = self.c.busy or self.c.loading or total == 0 and text.endswith("…")
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        else:
            self.progress.setRange(0, 0 if working else 1)
        self.progress.setVisible(working or 0 < done < total)
        self.progress_text.setText(text)

    def _on_model(self, info) -> None:
        if info is None:
            self.model_label.setText("Model: loading…" if self.c.loading else "Model: none")
            self.device_label.setText("Device: —")
        else:
            self.model_label.setText(f"Model: {info.name}")
            self.device_label.setText(f"Device: {info.device}")
        self._update_memory()
        self._sync_actions()

    def _update_memory(self) -> None:
        info = self.c.model_info
        self.memory_label.setText(memory_text(info.device if info else None))

    def _sync_actions(self) -> None:
        c, busy = self.c, self.c.busy
        frames = c.has_frames()
        selection = c.selection is not None
        history = c.history
        self.act_undo.setEnabled(bool(history and history.can_undo) and not busy)
        self.act_redo.setEnabled(bool(history and history.can_redo) and not busy)
        self.act_undo.setText(f"&Undo {history.undo_label}" if history and history.can_undo else "&Undo")
        self.act_redo.setText(f"&Redo {history.redo_label}" if history and history.can_redo else "&Redo")
        self.act_cancel.setEnabled(busy)
        self.act_generate.setEnabled(True)
        for act in (self.act_resample, self.act_pin, self.act_unpin):
            act.setEnabled(frames and selection and not busy)
        has_section = frames and c.target_section(self.timeline.playhead()) is not None
        for act in (self.act_regen_section, self.act_delete_section, self.act_duplicate_section):
            act.setEnabled(has_section and not busy)
        self.act_extend.setEnabled(frames and not busy)
        self.act_export.setEnabled(c.audio is not None or frames)
        self.act_save.setEnabled(c.doc is not None)
        self.act_save_as.setEnabled(c.doc is not None)
        for act, name in ((self.act_undo, "Undo"), (self.act_redo, "Redo")):
            label = None if history is None else history.undo_label if name == "Undo" else history.redo_label
            act.setIconText(name)
            act.setToolTip(f"{name} {label} ({act.shortcut().toString()})" if label
                           else f"{name} ({act.shortcut().toString()})")

    def _update_title(self) -> None:
        name = self.c.path.name if self.c.path else "Untitled"
        self.setWindowTitle(f"{name}[*] — {APP_TITLE}")  # Qt shows "*" at [*] while modified
        self.setWindowModified(self.c.dirty)

    def _show_blocking_error(self, title: str, text: str) -> None:
        """A window-modal message box (not exec: the event loop keeps running); one at a time."""
        self.blocking_errors.append(text)
        if self._error_box is not None and self._error_box.isVisible():
            self._error_box.setText(f"{self._error_box.text()}\n\n{text}")
            return
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Critical, title, text,
                                    QtWidgets.QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
        box.open()
        self._error_box = box

    # --- timeline and transport ----------------------------------------------------------------

    def _on_selection(self, span) -> None:
        self.c.set_selection_seconds(span)
        self.c.current_section = None
        if self.transport.loop.isChecked():
            self.c.set_loop(span)
        doc = self.c.doc
        if doc is not None and doc.num_frames:
            self.takes.set_takes(doc.takes, self.c.frame_rate, self.c.selection)
        self._sync_actions()
        self._update_selection_label()

    def _update_selection_label(self) -> None:
        if self.c.busy and self.c.streaming:
            self.selection_label.setText("Generating: the audio streams in as it is made")
            return
        parts = []
        sel = self.c.selection
        fr = self.c.frame_rate
        if sel is not None:
            a, b = sel[0] / fr, sel[1] / fr
            parts.append(f"Selection {format_time(a, 0.1)} – {format_time(b, 0.1)}  ({b - a:.1f} s)")
        doc = self.c.doc
        index = self.c.target_section(self.timeline.playhead()) if doc is not None and doc.num_frames else None
        if index is not None:
            section = next((s for s in doc.sections() if s.index == index), None)
            if section is not None:
                parts.append(f"Section: {section.label or section.kind or 'Song'}")
        if doc is not None and doc.num_frames:
            pinned = sum(b - a for a, b in doc.pinned_ranges()) / fr
            if pinned:
                parts.append(f"Pinned {pinned:.1f} s")
        self.selection_label.setText("   ·   ".join(parts) if parts else
                                     "Drag on the waveform to select a window · click a section to target it")

    def _on_section_clicked(self, position: int) -> None:
        doc = self.c.doc
        sections = doc.sections() if doc is not None else []
        if not 0 <= position < len(sections):
            return
        section = sections[position]
        fr = self.c.frame_rate
        self.timeline.set_selection(section.start / fr, section.end / fr)  # resets current_section
        self.c.current_section = section.index
        self._sync_actions()
        self._update_selection_label()

    def _on_line_clicked(self, index: int) -> None:
        self.lyrics.select_line(index)
        line = next((ln for ln in self.c.doc.lines() if ln.index == index), None) if self.c.doc else None
        if line is not None and line.start is not None:
            self._seek(line.start / self.c.frame_rate)

    def _seek(self, seconds: float) -> None:
        self.c.seek(seconds)
        self.timeline.set_playhead(seconds)
        self._poll_playback()

    def _on_loop_toggled(self, on: bool) -> None:
        self.c.set_loop(self.timeline.selection() if on else None)

    def _on_follow_toggled(self, on: bool) -> None:
        from dataclasses import replace

        self.c.settings = replace(self.c.settings, play_while_generating=on)
        self.c.store.save(self.c.settings)

    def _poll_playback(self) -> None:
        player = self.c.player
        state = player.state
        position = player.position()
        if state is PlayState.PLAYING or abs(position - self.timeline.playhead()) > 1e-3:
            self.timeline.set_playhead(position)
        self.transport.set_playing(state is PlayState.PLAYING)
        self.transport.set_time(position, self.timeline.duration() if self.c.doc is not None else 0.0)

    def _sync_transport_availability(self) -> None:
        player = self.c.player
        self.transport.set_available(player.available, player.unavailable_reason)
        self.playback_label.setVisible(not player.available)
        if not player.available:
            self.playback_label.setText("Playback off")
            self.playback_label.setStyleSheet("color: #f2c14e;")
            self.playback_label.setToolTip(f"Playback is off: {player.unavailable_reason}. Everything else "
                                           "works; export the song to listen to it.")
            self.messages.show_message("warning", f"Playback is off: {player.unavailable_reason}. "
                                                  "Everything else works; export to listen.")

    def _audition(self, take_id: int) -> None:
        take = next((t for t in self.c.doc.takes if t.id == take_id), None) if self.c.doc else None
        self.c.choose_take(take_id)
        if take is not None:
            fr = self.c.frame_rate
            self.timeline.set_selection(take.start / fr, take.end / fr)
            self.transport.loop.setChecked(True)
            self._seek(take.start / fr)
            if not self.c.is_playing():
                self.c.toggle_play()

    def _section_op(self, op: str) -> None:
        self.c.section_op(op, self.c.target_section(self.timeline.playhead()))

    def generate(self) -> None:
        self.c.set_draft(tags=self.song.tags.text(), lyrics=self.lyrics.text(), seconds=self.song.length.value(),
                         seed=self.song.seed.value())
        self.c.generate()

    # --- files -------------------------------------------------------------------------------------

    def _song_name(self) -> str:
        return self.c.path.name if self.c.path else "Untitled"

    def maybe_save(self) -> bool:
        """Ask about unsaved changes; False when the user cancelled."""
        if not self.c.dirty:
            return True
        answer = self.ask_save_changes(self, self._song_name())
        if answer == "save":
            return self.save()
        if answer == "discard":
            self.c.discard_changes()
            return True
        return False

    def new_song(self) -> None:
        if not self.maybe_save():
            return
        self.c.new_song()
        self.show_prompt("", "", self.song.length.value(), self.song.seed.value())
        self.timeline.clear_selection()

    def open_dialog(self) -> None:
        path = self.ask_open_path()
        if path:
            self.open_file(path)

    def choose_reference(self) -> None:
        path = self.ask_reference_path()
        if path:
            self.c.set_reference(path)

    def ask_reference_path(self) -> str:
        start = str(self.c.path.parent) if self.c.path else ""
        patterns = " ".join(f"*{s}" for s in AUDIO_SUFFIXES)
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Choose a reference track", start,
                                                        f"Audio ({patterns})")
        return path

    def ask_open_path(self) -> str:
        start = str(self.c.path.parent) if self.c.path else ""
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open song", start, SONG_FILTER)
        return path

    def open_file(self, path: str | Path, *, ask: bool = True) -> bool:
        """Open a song (asks about unsaved changes, offers a newer autosave)."""
        path = Path(path)
        if ask and not self.maybe_save():
            return False
        recovered = None
        auto = self.c.recoverable_for(path) if path.exists() else None
        if auto is not None:
            choice = self.ask_recovery(self, auto, path.name)
            if choice == dialogs.RECOVER:
                recovered = auto
            elif choice == dialogs.DISCARD:
                self.c.discard_recovery(auto)
        if not self.c.open(path, recovered_from=recovered):
            return False
        self._show_opened()
        return True

    def save(self) -> bool:
        if self.c.path is None:
            return self.save_as_dialog()
        return self.c.save()

    def save_as_dialog(self) -> bool:
        start = str(self.c.path) if self.c.path else "Untitled" + SONG_SUFFIX
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save song", start, SONG_FILTER)
        return bool(path) and self.c.save(path)

    def export_dialog(self) -> None:
        base = self.c.path.with_suffix(".wav") if self.c.path else Path("song.wav")
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(self, "Export audio", str(base), EXPORT_FILTER)
        if path:
            if Path(path).suffix.lower() not in EXPORT_SUFFIXES:
                path += "." + chosen.split("*.")[-1].rstrip(")")
            self.c.export(path)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.c.store.recent_files()
        for path in recent:
            act = self.recent_menu.addAction(Path(path).name)
            act.setToolTip(path)
            act.triggered.connect(lambda _=False, p=path: self.open_file(p))
        if not recent:
            self.recent_menu.addAction("No recent songs").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear List", self.c.store.clear_recent)

    def check_recovery(self) -> bool:
        """At start: offer work left by a crash — the newest autosave of a never-saved song, else
        a newer autosave of a recent song. True when something was recovered."""
        for auto in self.c.recoverable_untitled()[:1]:
            choice = self.ask_recovery(self, auto, "Untitled song")
            if choice == dialogs.RECOVER and self.c.open(auto):
                self._show_opened()
                return True
            if choice == dialogs.DISCARD:
                self.c.discard_recovery(auto)
            return False
        for recent in self.c.store.recent_files()[:5]:
            path = Path(recent)
            if path.exists() and self.c.recoverable_for(path) is not None:
                return self.open_file(path, ask=False)  # asks about the autosave itself
        return False

    def _show_opened(self) -> None:
        """Panels and timeline for a song the controller just opened."""
        doc = self.c.doc
        self.timeline.clear_selection()
        self.show_prompt(doc.tags, doc.lyrics, self.c.draft_seconds, self.c.draft_seed)
        self.lyrics.set_song(None)
        self._on_document(doc)
        self.timeline.zoom_to_fit()

    def settings_dialog(self) -> None:
        dialog = dialogs.SettingsDialog(self.c.settings, self)
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            self.c.apply_settings(dialog.result_settings())

    # --- drag and drop ----------------------------------------------------------------------------

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QtGui.QDragMoveEvent) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        mime = event.mimeData()
        paths = dropped_paths(mime)
        if not paths:
            names = ", ".join(Path(u.toLocalFile()).name for u in mime.urls()) if mime.hasUrls() else "this"
            self.c.report(f"Cannot use {names}: drop a song ({SONG_SUFFIX}), lyrics (.txt) or a reference "
                          f"audio file ({', '.join(AUDIO_SUFFIXES)}).")
            event.ignore()
            return
        event.acceptProposedAction()
        for path in paths:
            if self.c.open_dropped(path) == "song":
                self.open_file(path)

    # --- misc ------------------------------------------------------------------------------------

    def _open_log_folder(self) -> None:
        from app.logging_setup import log_file

        path = log_file()
        if path is None:
            self.messages.show_message("info", "Logging to a file is not set up in this session.")
            return
        QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(path.parent)))
        self.messages.show_message("info", f"Log file: {path}")

    def _about(self) -> None:
        QtWidgets.QMessageBox.about(self, f"About {APP_TITLE}",
                                    f"<b>{APP_TITLE}</b><br>Edit songs generated by HeartMuLa: pin, re-sample, "
                                    "fix lyric lines, audition takes.")

    def restore_layout(self) -> None:
        """Window size and splitter positions from the last session."""
        saved = self.c.store.layout()
        if "geometry" in saved:
            self.restoreGeometry(saved["geometry"])
        for name in ("main_split", "right_split"):
            if name in saved:
                getattr(self, name).restoreState(saved[name])

    def save_layout(self) -> None:
        self.c.store.save_layout({"geometry": self.saveGeometry(), "main_split": self.main_split.saveState(),
                                  "right_split": self.right_split.saveState()})

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if not self._closing and not self.maybe_save():
            event.ignore()
            return
        if not self._closing:
            self.save_layout()
        self._closing = True
        self._poll.stop()
        self._mem_timer.stop()
        self.c.shutdown()
        event.accept()
