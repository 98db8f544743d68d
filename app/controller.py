"""The application state of one open song and every user action on it (no widgets here).

:class:`SongController` owns the undo :class:`History` of ``SongDocument`` s, the audio of the
current document (with its reference track), the file path, the dirty flag, the :class:`Player` and the
:class:`EngineThread`. Widgets call its methods and listen to its signals; it never imports ``ui``.

Rules:

* Model work runs as jobs on the engine thread. The latest model job is the only one whose
  progress and result count: results of older jobs (stale ids) are dropped. A finished job is
  applied as ONE undoable edit (``History.push``); a cancelled or failed job leaves the song
  exactly as it was (the streamed waveform is put back).
* Pure document edits (pins, choosing a take, prompt edits, undo/redo) are instant; when the
  frames change, a ``render`` job brings the audio up to date (partial re-decode in the engine's
  AudioCache, or a remembered render of the same frames). Every job that yields audio also
  prepares, on the engine thread, an :class:`~app.worker.AudioUpdate` (the changed span, or a
  whole new waveform envelope), so the GUI thread only copies what changed.
* While a model job runs, editing actions are refused with a message (the window disables them);
  Generate restarts (the running job is cancelled and its result ignored); Cancel stops it.
* A reference track (a dropped or chosen audio file) is embedded by a ``reference`` job on the
  engine thread; its result becomes the song's ``doc.reference`` as one undoable edit, and every
  later generation and edit is steered by it. Clearing it and its strength are undoable edits too.
* Every error goes to :attr:`message` (level, text), blocking ones also to :attr:`blockingError`;
  both are logged.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PySide6 import QtCore

from heartmula_core.errors import HeartMuLaError

from . import (
    qt_fixes,  # noqa: F401  (PySide6 6.12 refcount workaround, applied on import)
    recovery,
)
from . import settings as settings_mod
from .drops import (
    AUDIO_SUFFIXES,
    SONG_SUFFIX,
    format_minutes,
    read_lyrics_file,
    read_reference,
)
from .playback import Player, PlayState
from .system_info import format_eta
from .worker import (
    OP_LABELS,
    AudioUpdate,
    EngineThread,
    Job,
    JobResult,
    ModelInfo,
    Progress,
    audio_update,
    call_supported,
)

log = logging.getLogger(__name__)

EXPORT_SUFFIXES = (".wav", ".flac", ".mp3")
STREAMING_OPS = ("generate", "extend")
AUDIO_MEMO = 2  # renders kept for instant undo/redo (a 4-minute song is ~90 MB of float32)


class SongController(QtCore.QObject):
    """See the module notes. ``engine``: the ``heartmula_core.editing`` module (or a fake)."""

    documentChanged = QtCore.Signal(object)  # the current SongDocument (or None)
    audioReset = QtCore.Signal(object)  # None: the song has no audio (yet)
    audioUpdated = QtCore.Signal(object)  # AudioUpdate: how the waveform changes (span, full, streamed)
    streamStarted = QtCore.Signal(float, bool)  # planned seconds, keep the current audio (extend)
    audioChunk = QtCore.Signal(int, object)  # start sample, audio [2, n] while streaming
    busyChanged = QtCore.Signal(bool, str)  # a model job runs, its label
    progressChanged = QtCore.Signal(int, int, str)  # done, total (0: unknown), text with ETA
    modelChanged = QtCore.Signal(object)  # ModelInfo, or None while loading / after a failure
    message = QtCore.Signal(str, str)  # level ("info", "warning", "error"), text
    blockingError = QtCore.Signal(str, str)  # title, text
    pathChanged = QtCore.Signal(object)  # Path or None
    dirtyChanged = QtCore.Signal(bool)
    historyChanged = QtCore.Signal()
    referenceChanged = QtCore.Signal(object)  # the song's reference (engine Reference) or None
    referenceAnalysing = QtCore.Signal(str)  # name of the audio file being embedded ("": none)
    lyricsImported = QtCore.Signal(str)  # text of a dropped .txt: the window puts it in the editor
    exportFinished = QtCore.Signal(str, str)  # path, error ("" when written)
    _exportDone = QtCore.Signal(str, str)

    def __init__(self, engine: ModuleType | None = None, *, editor_factory: Callable | None = None,
                 player: Player | None = None, store: settings_mod.SettingsStore | None = None,
                 parent: QtCore.QObject | None = None):
        super().__init__(parent)
        if engine is None:
            from .worker import engine_module

            engine = engine_module()
        self.engine = engine
        self.store = store or settings_mod.SettingsStore()
        self.settings = self.store.load()
        self.player = player if player is not None else Player()
        self.thread = EngineThread(engine, editor_factory, parent=self)
        self.thread.progress.connect(self._on_progress)
        self.thread.finished.connect(self._on_finished)
        self.thread.failed.connect(self._on_failed)
        self.thread.cancelled.connect(self._on_cancelled)
        self.thread.started.connect(self._on_started)
        self._exportDone.connect(self._on_export_done, QtCore.Qt.ConnectionType.QueuedConnection)

        self.history: Any = None
        self.audio: np.ndarray | None = None
        self._audio_memo: list[tuple[np.ndarray, np.ndarray]] = []  # (frames, audio)
        self.path: Path | None = None
        self.song_id = uuid.uuid4().hex
        self.dirty = False
        self._shown_reference: Any = None
        self.model_info: ModelInfo | None = None
        self.selection: tuple[int, int] | None = None  # frames [start, end)
        self.current_section: int | None = None
        self.draft_tags, self.draft_lyrics = "", ""
        self.draft_seconds, self.draft_seed = 60.0, 0
        self._model_job: Job | None = None
        self._load_job: Job | None = None
        self._render_job: Job | None = None
        self._job_t0 = 0.0
        self._stage: tuple[str, float] = ("", 0.0)
        self._streaming = False
        self._autosaved_doc: Any = None
        self._exporting = False

        self._autosave_timer = QtCore.QTimer(self)
        self._autosave_timer.timeout.connect(self.autosave)
        self.set_autosave_interval(self.settings.autosave_seconds)

    # --- state ------------------------------------------------------------------------------

    @property
    def doc(self) -> Any:
        return None if self.history is None else self.history.current

    @property
    def reference(self) -> Any:
        """The current song's reference track (``doc.reference``), or None."""
        return getattr(self.doc, "reference", None)

    @property
    def busy(self) -> bool:
        """A model job (generate, re-sample...) is running or queued."""
        return self._model_job is not None

    @property
    def loading(self) -> bool:
        """The model is loading."""
        return self._load_job is not None

    @property
    def streaming(self) -> bool:
        """A generation is streaming audio in (the waveform shows it, not the song's audio)."""
        return self._streaming

    @property
    def rendering(self) -> bool:
        """A render job (audio for an undo, a chosen take...) is running."""
        return self._render_job is not None

    @property
    def frame_rate(self) -> float:
        return self.model_info.frame_rate if self.model_info else 12.5

    @property
    def sample_rate(self) -> int:
        return self.model_info.sample_rate if self.model_info else 48_000

    def has_frames(self) -> bool:
        return self.doc is not None and self.doc.num_frames > 0

    def seconds_to_frame(self, seconds: float) -> int:
        return int(round(seconds * self.frame_rate))

    def set_selection_seconds(self, span: tuple[float, float] | None) -> None:
        """The timeline's selection, snapped to frames (None or empty: no selection)."""
        if span is None or self.doc is None:
            self.selection = None
            return
        total = self.doc.num_frames
        a = max(0, min(total, int(np.floor(span[0] * self.frame_rate + 1e-6))))
        b = max(0, min(total, int(np.ceil(span[1] * self.frame_rate - 1e-6))))
        self.selection = (a, b) if b > a else None

    def section_at(self, frame: int) -> int | None:
        if self.doc is None:
            return None
        for section in self.doc.sections():
            if section.start <= frame < section.end:
                return section.index
        return None

    def target_section(self, playhead_s: float = 0.0) -> int | None:
        """The section the section actions apply to: the last clicked one, else the one under
        the selection's start, else the one under the playhead."""
        if self.doc is None:
            return None
        valid = {s.index for s in self.doc.sections()}
        if self.current_section in valid:
            return self.current_section
        frame = self.selection[0] if self.selection else self.seconds_to_frame(playhead_s)
        return self.section_at(frame)

    # --- model ------------------------------------------------------------------------------

    def load_model(self, spec: settings_mod.ModelSpec | None = None) -> None:
        """Load (or switch to) a model on the engine thread; the running model job is cancelled."""
        spec = spec or self.settings.model
        self.cancel()
        self._load_job = self._submit("load", spec=spec)
        self.model_info = None
        self.modelChanged.emit(None)
        self.progressChanged.emit(0, 0, f"Loading {spec.label}…")
        log.info("loading model %s", spec)

    def apply_settings(self, new: settings_mod.EditorSettings) -> None:
        """Store ``new``; reload the model when the model choice changed."""
        old, self.settings = self.settings, new
        self.store.save(new)
        self.set_autosave_interval(new.autosave_seconds)
        if new.model != old.model or self.model_info is None:
            self.load_model(new.model)

    # --- jobs ---------------------------------------------------------------------------------

    def _submit(self, op: str, doc: Any = None, **params: Any) -> Job:
        return self.thread.submit(Job.make(self.thread.new_id(), op, doc, **params))

    def _start_model_job(self, op: str, doc: Any = None, **params: Any) -> Job | None:
        if self.busy and op != "generate":
            self.message.emit("warning", f"{self._model_job.label} is still running: wait or press Cancel.")
            return None
        if self.busy:  # Generate again: restart
            self.thread.cancel(self._model_job.job_id)
        if op not in STREAMING_OPS:
            params["shown_audio"] = self.audio  # the worker prepares the waveform update against it
        job = self._submit(op, doc, **params)
        self._model_job = job
        self._job_t0 = time.monotonic()
        self._stage = ("", self._job_t0)
        self._streaming = False
        self.busyChanged.emit(True, job.label)
        self.progressChanged.emit(0, 0, f"{job.label}: waiting for the model…" if self.loading else f"{job.label}…")
        if op in STREAMING_OPS:
            self._begin_stream(op, doc, params)
        return job

    def _begin_stream(self, op: str, doc: Any, params: dict) -> None:
        planned = params.get("seconds", 60.0) if op == "generate" else (doc.duration + params.get("seconds", 0))
        self._streaming = True
        self.streamStarted.emit(float(planned), op != "generate")
        if op == "generate":
            self.player.set_audio(None, streaming=True)
            self.player.seek(0.0)
        if self.settings.play_while_generating and self.player.available and op == "generate":
            self.player.play()

    def _on_started(self, job_id: int) -> None:
        if self._model_job is not None and job_id == self._model_job.job_id:
            self._job_t0 = time.monotonic()

    def _on_progress(self, p: Progress) -> None:
        if self._model_job is None or p.job_id != self._model_job.job_id:
            return  # stale
        now = time.monotonic()
        if p.stage != self._stage[0]:
            self._stage = (p.stage, now)
        elapsed = now - self._stage[1]
        eta = elapsed / p.done * (p.total - p.done) if p.done and p.total else -1.0
        streaming = p.op in STREAMING_OPS
        # a streaming op shows its message only before the first frame (e.g. "preparing the GPU")
        detail = p.message if p.message and (not streaming or not p.done) and not p.message.endswith(" left") else ""
        parts = [self._model_job.label, p.stage if p.stage and p.stage != self._model_job.op else "", detail]
        if p.total and streaming:
            parts.append(f"{p.done}/{p.total} frames")
        elif p.total:
            parts.append(f"{100 * p.done // p.total} %")
        if streaming and p.done:
            parts.append(f"{p.done / self.frame_rate:.1f} s of audio")
        if eta >= 0:
            parts.append(f"ETA {format_eta(eta)}")
        self.progressChanged.emit(p.done, p.total, " · ".join(x for x in parts if x))
        if p.audio is not None and self._streaming:
            self.audioChunk.emit(p.audio_start, p.audio)
            self.player.replace(p.audio_start, p.audio)

    def _on_finished(self, result: JobResult) -> None:
        if result.op == "load":
            self._on_model_loaded(result)
        elif result.op == "new":
            if self.history is None and self._model_job is None:  # a generation started meanwhile wins
                self.history = self.engine.History(result.doc)
                self._clear_audio()
                self._emit_document()
        elif result.op == "render":
            if self._render_job is not None and result.job_id == self._render_job.job_id:
                self._render_job = None
            self._remember_audio(result.doc, result.audio)
            if result.doc is self.doc and not self._streaming:
                self._apply_audio(result.audio, result.update)
            self._idle_progress()
        elif self._model_job is not None and result.job_id == self._model_job.job_id:
            self._apply_result(result)
        else:
            log.info("dropped the result of stale job %d (%s)", result.job_id, result.op)

    def _apply_result(self, result: JobResult) -> None:
        if result.op == "reference":
            self._apply_reference(result)
            return
        self._end_model_job()
        if self.history is None:
            self.history = self.engine.History(result.base)
        self.history.push(result.doc, OP_LABELS[result.op])
        self._remember_audio(result.doc, result.audio)
        self._apply_audio(result.audio, result.update)
        self._mark_dirty()
        self._emit_document()
        took = f"{result.seconds:.1f} s"
        self.message.emit("info", f"{OP_LABELS[result.op]} done in {took}.")

    def _on_model_loaded(self, result: JobResult) -> None:
        if self._load_job is None or result.job_id != self._load_job.job_id:
            return
        self._load_job = None
        self.model_info = result.info
        self.modelChanged.emit(result.info)
        if not self.busy:
            self.progressChanged.emit(0, 1, f"{result.info.name} ready on {result.info.device}")
        if self.history is None:
            self._submit("new", None, tags=self.draft_tags, lyrics=self.draft_lyrics, seconds=self.draft_seconds,
                         seed=self.draft_seed)
        self.message.emit("info", f"Model loaded: {result.info.name} on {result.info.device} "
                                  f"in {result.seconds:.1f} s.")

    def _on_failed(self, job_id: int, text: str, expected: bool) -> None:
        if self._load_job is not None and job_id == self._load_job.job_id:
            self._load_job = None
            self.modelChanged.emit(None)
            self.progressChanged.emit(0, 1, "No model loaded")
            self.report(f"The model could not be loaded: {text}", blocking=True, title="Model not loaded")
            if self.busy:  # a job queued behind the load has no model to run on
                self._abort_model_job()
            return
        if self._render_job is not None and job_id == self._render_job.job_id:
            self._render_job = None
            self._idle_progress()
            self.report(f"Rendering the audio failed: {text}")
            return
        if self._model_job is None or job_id != self._model_job.job_id:
            return
        label = self._model_job.label
        if self._model_job.op == "reference" and expected:
            name = Path(self._model_job.kwargs["path"]).name
            label, text = f"Cannot use {name} as the reference", text.removeprefix(f"{name}: ")
            expected_text = f"{label}: {text}"
        else:
            expected_text = f"{label} failed: {text}"
        self._abort_model_job()
        self.report(expected_text if expected else text, blocking=not expected, title=f"{label} failed")

    def _on_cancelled(self, job_id: int) -> None:
        if self._model_job is None or job_id != self._model_job.job_id:
            return
        label = self._model_job.label
        self._abort_model_job()
        self.message.emit("info", f"{label} cancelled: the song is unchanged.")

    def _abort_model_job(self) -> None:
        """End the model job without a result: put back the song's own audio."""
        streaming = self._streaming
        self._end_model_job()
        if streaming:
            self._emit_document()
            if self.audio is None:
                self._clear_audio()
            else:  # the waveform and the player hold the stream: rebuild them off the GUI thread
                self._render_job = self._submit("render", self.doc, known_audio=self.audio, shown_audio=None)

    def _end_model_job(self) -> None:
        if self._model_job is not None and self._model_job.op == "reference":
            self.referenceAnalysing.emit("")
        self._model_job = None
        self._streaming = False
        self.busyChanged.emit(False, "")
        self.progressChanged.emit(0, 1, "Ready")

    def cancel(self) -> None:
        """Stop the running model job (between two frames); the song stays as it was."""
        if self._model_job is not None:
            log.info("cancel job %d (%s)", self._model_job.job_id, self._model_job.op)
            self.thread.cancel(self._model_job.job_id)
            self.progressChanged.emit(0, 0, f"Cancelling {self._model_job.label}…")

    # --- model operations ---------------------------------------------------------------------

    def set_draft(self, tags: str | None = None, lyrics: str | None = None, seconds: float | None = None,
                  seed: int | None = None) -> None:
        """The prompt as typed in the panels; Generate uses it."""
        if tags is not None:
            self.draft_tags = tags
        if lyrics is not None:
            self.draft_lyrics = lyrics
        if seconds is not None:
            self.draft_seconds = float(seconds)
        if seed is not None:
            self.draft_seed = int(seed)

    def generate(self) -> Job | None:
        """Generate the whole song from the drafts (a fresh document; undo brings the old one back)."""
        if not (self.draft_tags.strip() or self.draft_lyrics.strip()):
            self.report("Write some tags or lyrics first.")
            return None
        return self._start_model_job("generate", None, tags=self.draft_tags, lyrics=self.draft_lyrics,
                                     seconds=self.draft_seconds, seed=self.draft_seed, reference=self.reference)

    def extend(self, seconds: float = 15.0) -> Job | None:
        if not self._need_frames("Extend"):
            return None
        return self._start_model_job("extend", self.doc, seconds=float(seconds))

    def resample_selection(self) -> Job | None:
        if not self._need_frames("Re-sample") or not self._need_selection("Re-sample"):
            return None
        a, b = self.selection
        return self._start_model_job("resample", self.doc, start=a, end=b, candidates=self.settings.candidates,
                                     seed=None)

    def fix_line(self, line_index: int, new_text: str) -> Job | None:
        if not self._need_frames("Fix line"):
            return None
        if not new_text.strip():
            self.report("The new line is empty: write the words to sing.")
            return None
        return self._start_model_job("fix_line", self.doc, line_index=int(line_index), new_text=new_text.strip(),
                                     candidates=self.settings.candidates, seed=None)

    def section_op(self, op: str, section_index: int | None) -> Job | None:
        """``regenerate_section``, ``delete_section`` or ``duplicate_section``."""
        if op not in ("regenerate_section", "delete_section", "duplicate_section"):
            raise ValueError(op)
        if not self._need_frames(OP_LABELS[op]):
            return None
        if section_index is None:
            self.report("Click a section on the timeline first.")
            return None
        return self._start_model_job(op, self.doc, section_index=int(section_index),
                                     candidates=self.settings.candidates, seed=None)

    def _need_frames(self, what: str) -> bool:
        if not self.has_frames():
            self.report(f"{what}: generate the song first.")
            return False
        return True

    def _need_selection(self, what: str) -> bool:
        if self.selection is None:
            self.report(f"{what}: select a time window on the timeline first (drag across the waveform).")
            return False
        return True

    # --- instant document edits ---------------------------------------------------------------

    def _edit(self, doc: Any, label: str) -> None:
        if self.busy:
            self.message.emit("warning", f"{self._model_job.label} is running: wait or press Cancel.")
            return
        self.history.push(doc, label)
        self._mark_dirty()
        self._emit_document()
        self._ensure_audio()

    def pin_selection(self, pinned: bool = True) -> None:
        what = "Pin" if pinned else "Unpin"
        if not self._need_frames(what) or not self._need_selection(what):
            return
        a, b = self.selection
        span = f"{a / self.frame_rate:.1f}–{b / self.frame_rate:.1f} s"
        self._edit(self.doc.with_pins(a, b, pinned), f"{what} {span}")

    def choose_take(self, take_id: int) -> None:
        if self.doc is None:
            return
        try:
            doc = self.doc.with_take(int(take_id))
        except HeartMuLaError as exc:
            self.report(str(exc))
            return
        label = next((t.label for t in self.doc.takes if t.id == take_id), f"take {take_id}")
        self._edit(doc, f"Choose {label}")

    def commit_tags(self, tags: str) -> None:
        """Tags edited in the panel: for a generated song, an undoable prompt edit."""
        self.draft_tags = tags
        if self.has_frames() and tags != self.doc.tags and not self.busy:
            self._edit(self.doc.with_tags(tags), "Edit tags")

    def apply_lyrics_text(self, lyrics: str) -> None:
        """Keep the typed lyrics as the song's text without re-singing (e.g. a typo)."""
        self.draft_lyrics = lyrics
        if self.doc is not None and lyrics != self.doc.lyrics:
            self._edit(self.doc.with_lyrics(lyrics), "Edit lyrics text")

    def undo(self) -> None:
        self._move_history(undo=True)

    def redo(self) -> None:
        self._move_history(undo=False)

    def _move_history(self, undo: bool) -> None:
        h = self.history
        if h is None or not (h.can_undo if undo else h.can_redo):
            return
        if self.busy:
            self.message.emit("warning", f"{self._model_job.label} is running: wait or press Cancel.")
            return
        label = h.undo_label if undo else h.redo_label
        h.undo() if undo else h.redo()
        self._mark_dirty()
        self._emit_document()
        self._ensure_audio()
        self.message.emit("info", f"{'Undid' if undo else 'Redid'}: {label}")

    # --- audio ----------------------------------------------------------------------------------

    def _remember_audio(self, doc: Any, audio: np.ndarray | None) -> None:
        if audio is None or doc is None:
            return
        frames = np.asarray(doc.frames)
        self._audio_memo = [(f, a) for f, a in self._audio_memo if not np.array_equal(f, frames)]
        self._audio_memo.insert(0, (frames, audio))
        del self._audio_memo[AUDIO_MEMO:]

    def _ensure_audio(self, known: np.ndarray | None = None) -> None:
        """Make :attr:`audio` match the current document's frames: a render job on the engine
        thread, which adopts ``known`` audio (saved in the song file) or a remembered render of
        the same frames instead of decoding, and prepares the waveform update."""
        doc = self.doc
        if doc is None or doc.num_frames == 0:
            self._clear_audio()
            return
        frames = np.asarray(doc.frames)
        if known is None:
            for memo_frames, audio in self._audio_memo:
                if np.array_equal(memo_frames, frames):
                    if audio is self.audio:
                        return
                    known = audio
                    break
        self._render_job = self._submit("render", doc, known_audio=known, shown_audio=self.audio)
        self.progressChanged.emit(0, 0, "Rendering audio…")

    def _apply_audio(self, audio: np.ndarray | None, update: AudioUpdate | None) -> None:
        """Make ``audio`` the song's audio; the player and the waveform change as ``update`` says."""
        if audio is None:
            self._clear_audio()
            return
        if update is None or (update.kind in ("same", "span") and update.base is not self.audio):
            log.debug("audio update computed on the GUI thread (the shown audio changed meanwhile)")
            update = audio_update(self.audio, audio, self.sample_rate)
        self.audio = audio
        if update.kind == "span":
            self.player.replace(update.start, update.chunk)
        elif update.kind == "full":
            self.player.set_audio(update.frames.T)  # [C, S] view of C-contiguous [S, C]: one copy
        elif update.kind == "streamed":
            self.player.end_stream()
        self.audioUpdated.emit(update)

    def _clear_audio(self) -> None:
        self.audio = None
        self.player.set_audio(None)
        self.audioReset.emit(None)

    def _idle_progress(self) -> None:
        if self._render_job is None and not self.busy and not self.loading:
            self.progressChanged.emit(0, 1, "Ready")

    # --- playback -------------------------------------------------------------------------------

    def toggle_play(self) -> None:
        if not self.player.available:
            self.message.emit("warning", f"Playback is off: {self.player.unavailable_reason}")
            return
        self.player.toggle()

    def stop(self) -> None:
        self.player.stop()

    def seek(self, seconds: float) -> None:
        self.player.seek(seconds)

    def set_loop(self, span_s: tuple[float, float] | None) -> None:
        self.player.set_loop(span_s)

    def is_playing(self) -> bool:
        return self.player.state is PlayState.PLAYING

    # --- files ----------------------------------------------------------------------------------

    def new_song(self, tags: str = "", lyrics: str = "") -> None:
        """Start an empty song (the window asked about unsaved changes first)."""
        self.cancel()
        self._end_song()
        self.draft_tags, self.draft_lyrics = tags, lyrics
        if self.model_info is not None or self.loading:
            self._submit("new", None, tags=tags, lyrics=lyrics, seconds=self.draft_seconds, seed=self.draft_seed)
        self._emit_document()
        self._clear_audio()

    def _end_song(self) -> None:
        if self._model_job is not None:
            self._model_job = None
            self._streaming = False
            self.busyChanged.emit(False, "")
        self.history = None
        self.path = None
        self.song_id = uuid.uuid4().hex
        self._audio_memo.clear()
        self._autosaved_doc = None
        self.selection = None
        self.current_section = None
        self._set_dirty(False)
        self.pathChanged.emit(None)

    def open(self, path: str | Path, *, recovered_from: str | Path | None = None) -> bool:
        """Open a song; ``recovered_from``: read this autosave instead and mark the song unsaved.

        An untitled autosave (``path`` in the recovery folder) opens as an unsaved song.
        """
        path = Path(path)
        source = Path(recovered_from) if recovered_from else path
        try:
            doc, audio = self.engine.load_song(source)
        except HeartMuLaError as exc:
            self.report(f"Cannot open {path.name}: {exc}", blocking=True, title="Cannot open the song")
            return False
        mismatch = self._token_space_mismatch(doc)
        if mismatch:
            self.report(f"Cannot open {path.name}: {mismatch}", blocking=True, title="Cannot open the song")
            return False
        self.cancel()
        self._end_song()
        untitled = recovery.is_untitled_autosave(source)
        if untitled:
            self.song_id = recovery.song_id_of(source)
        else:
            self.path = path
            self.pathChanged.emit(path)
            self.store.add_recent(path)
        self.history = self._load_history(source, doc)
        self.draft_tags, self.draft_lyrics = doc.tags, doc.lyrics
        self.draft_seconds = float(getattr(doc, "target_seconds", doc.duration) or doc.duration or 60.0)
        self.draft_seed = int(doc.seed)
        self._emit_document()
        self._ensure_audio(known=None if audio is None or not doc.num_frames else np.asarray(audio, np.float32))
        self._set_dirty(bool(recovered_from) or untitled)
        what = "Recovered" if (recovered_from or untitled) else "Opened"
        self.message.emit("info", f"{what} {path.name}.")
        log.info("%s %s (from %s)", what.lower(), path, source)
        return True

    def _token_space_mismatch(self, doc: Any) -> str:
        """Why the loaded model cannot play ``doc`` (its frames are another codec's tokens), or ""."""
        explain = getattr(self.engine, "token_space_mismatch", None)
        if explain is None or self.model_info is None:
            return ""
        return explain(str(getattr(doc, "token_space", "") or ""), self.model_info.token_space, self.model_info.name)

    def _load_history(self, path: Path, doc: Any) -> Any:
        """The undo history saved in the song file when the engine keeps one, else a fresh one."""
        load_history = getattr(self.engine, "load_song_history", None)
        if load_history is not None:
            try:
                history = load_history(path)
                if np.array_equal(np.asarray(history.current.frames), np.asarray(doc.frames)):
                    return history
            except HeartMuLaError as exc:
                self.message.emit("warning", f"The undo history in {path.name} could not be read: {exc}")
        return self.engine.History(doc)

    def _doc_for_saving(self) -> Any:
        doc = self.doc
        if doc is None:
            return None
        if doc.num_frames == 0 and (doc.tags, doc.lyrics) != (self.draft_tags, self.draft_lyrics):
            doc = doc.with_tags(self.draft_tags).with_lyrics(self.draft_lyrics)
            self.history.push(doc, "Edit prompt")
            self._emit_document()
        elif doc.tags != self.draft_tags and doc.num_frames:
            self.commit_tags(self.draft_tags)
        return self.doc

    def save(self, path: str | Path | None = None) -> bool:
        """Save to ``path`` (or the song's own path); False when there is no path or it failed."""
        target = Path(path) if path is not None else self.path
        if target is None:
            return False
        if target.suffix.lower() != SONG_SUFFIX:
            target = target.with_name(target.name + SONG_SUFFIX)
        doc = self._doc_for_saving()
        if doc is None:
            self.report("Nothing to save yet: the model is still loading." if self.loading
                        else "Nothing to save yet: no model is loaded (File ▸ Settings).")
            return False
        try:
            call_supported(self.engine.save_song, target, doc, self.audio,
                  self.sample_rate if self.audio is not None else None, history=self.history)
        except HeartMuLaError as exc:
            self.report(f"Cannot save {target.name}: {exc}", blocking=True, title="Cannot save the song")
            return False
        self._discard_autosaves()
        if self.path != target:
            self.path = target
            self.pathChanged.emit(target)
        self.store.add_recent(target)
        self._set_dirty(False)
        self._autosaved_doc = doc
        self.message.emit("info", f"Saved {target.name}.")
        log.info("saved %s", target)
        return True

    def export(self, path: str | Path) -> bool:
        """Write the song's audio (WAV/FLAC/MP3 by extension) on a helper thread;
        :attr:`exportFinished` tells when it is done."""
        from heartmula_core.audio import write_audio

        path = Path(path)
        if path.suffix.lower() not in EXPORT_SUFFIXES:
            self.report(f"Cannot export to {path.name}: use {', '.join(EXPORT_SUFFIXES)}.")
            return False
        if self.audio is None:
            self.report("Nothing to export yet: generate the song first." if not self.has_frames()
                        else "The audio is still rendering; try again in a moment.")
            return False
        if self._exporting:
            self.report("An export is already running.")
            return False
        audio, rate = self.audio, self.sample_rate
        self._exporting = True
        self.progressChanged.emit(0, 0, f"Exporting {path.name}…")

        def work():
            try:
                write_audio(path, audio, rate)
                self._exportDone.emit(str(path), "")
            except Exception as exc:  # noqa: BLE001 - reported on the GUI thread
                if not isinstance(exc, HeartMuLaError):
                    log.exception("export to %s failed", path)
                self._exportDone.emit(str(path), str(exc))

        threading.Thread(target=work, name="export", daemon=True).start()
        return True

    def _on_export_done(self, path: str, error: str) -> None:
        self._exporting = False
        if error:
            self.report(f"Export failed: {error}", blocking=True, title="Export failed")
        else:
            self.message.emit("info", f"Exported {Path(path).name}.")
            if not self.busy:
                self.progressChanged.emit(0, 1, "Ready")
        self.exportFinished.emit(path, error)

    # --- drops ------------------------------------------------------------------------------------

    def open_dropped(self, path: str | Path) -> str:
        """Handle a dropped file by type; returns "song", "lyrics", "reference" or "" (refused).

        Songs are opened by the window (it asks about unsaved changes first) — here they only
        report "song".
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == SONG_SUFFIX:
            return "song"
        try:
            if suffix == ".txt":
                text = read_lyrics_file(path)
                self.draft_lyrics = text
                self.lyricsImported.emit(text)
                self.message.emit("info", f"Lyrics from {path.name}.")
                return "lyrics"
            if suffix in AUDIO_SUFFIXES:  # embedded on the engine thread; errors are reported there
                return "reference" if self.set_reference(path) is not None else ""
        except HeartMuLaError as exc:
            self.report(str(exc))
            return ""
        self.report(f"{path.name}: unsupported file. Drop a song ({SONG_SUFFIX}), lyrics (.txt) "
                    f"or a reference audio file ({', '.join(AUDIO_SUFFIXES)}).")
        return ""

    # --- reference track -------------------------------------------------------------------------

    def set_reference(self, path: str | Path | None) -> Job | None:
        """Steer the song with the audio file at ``path`` (None: remove the reference).

        The file is checked here (type, readable) and embedded by a ``reference`` job on the
        engine thread; when it is done the song's reference is set as one undoable edit. A bad
        file is reported and changes nothing.
        """
        if path is None:
            self.clear_reference()
            return None
        path = Path(path)
        try:
            read_reference(path)  # a header read: unreadable files are refused at once
        except HeartMuLaError as exc:
            self.report(str(exc))
            return None
        params: dict[str, Any] = {"path": str(path), "strength": 1.0}
        if self.doc is None:  # no song yet (the model is loading): the job starts one from the drafts
            params.update(tags=self.draft_tags, lyrics=self.draft_lyrics, seconds=self.draft_seconds,
                          seed=self.draft_seed)
        job = self._start_model_job("reference", self.doc, **params)
        if job is not None:
            self.referenceAnalysing.emit(path.name)
            if not self.loading:
                self.progressChanged.emit(0, 0, f"Analysing {path.name}…")
            log.info("reference %s: embedding on the engine thread (job %d)", path, job.job_id)
        return job

    def _apply_reference(self, result: JobResult) -> None:
        self._end_model_job()
        ref = result.doc.reference
        if self.history is None:  # the song did not exist yet: it starts with this reference
            self.history = self.engine.History(result.doc)
            self._mark_dirty()
            self._emit_document()
        else:
            self._edit(self.doc.with_reference(ref), f"Set reference {ref.name}")
        self.message.emit("info", f"Reference: {ref.name} ({format_minutes(ref.seconds)}), analysed in "
                                  f"{result.seconds:.1f} s. Generate and every edit now follow its style.")

    def clear_reference(self) -> None:
        """Remove the song's reference track (undoable)."""
        if self.reference is None:
            return
        self._edit(self.doc.with_reference(None), "Clear reference")

    def set_reference_strength(self, strength: float) -> None:
        """How strongly the reference steers the song: 0 (no effect) … 1 (as trained) … 2 (undoable)."""
        ref = self.reference
        if ref is None or abs(float(strength) - float(ref.strength)) < 1e-6:
            return
        if self.busy:
            self.message.emit("warning", f"{self._model_job.label} is running: wait or press Cancel.")
            self.referenceChanged.emit(ref)  # the panel shows the song's strength again
            return
        try:
            doc = self.doc.with_reference_strength(float(strength))
        except HeartMuLaError as exc:
            self.report(str(exc))
            self.referenceChanged.emit(ref)
            return
        self._edit(doc, f"Reference strength {round(float(strength) * 100)} %")

    # --- autosave and recovery --------------------------------------------------------------------

    def set_autosave_interval(self, seconds: int) -> None:
        if seconds and seconds > 0:
            self._autosave_timer.start(int(seconds * 1000))
        else:
            self._autosave_timer.stop()

    def autosave_target(self) -> Path:
        """Where this song autosaves (next to its file, or in the recovery folder when untitled)."""
        return recovery.autosave_target(self.path, self.song_id)

    def autosave(self) -> Path | None:
        """Write the autosave when the song changed since the last one (frames and prompt only:
        the audio is re-rendered on recovery)."""
        doc = self.doc
        if doc is None or not self.dirty or doc is self._autosaved_doc:
            return None
        target = self.autosave_target()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            call_supported(self.engine.save_song, target, doc, history=self.history)
        except (HeartMuLaError, OSError) as exc:
            self.message.emit("warning", f"Autosave failed: {exc}")
            log.warning("autosave to %s failed: %s", target, exc)
            return None
        self._autosaved_doc = doc
        log.debug("autosaved %s", target)
        return target

    def _discard_autosaves(self) -> None:
        recovery.discard(recovery.untitled_autosave(self.song_id))
        if self.path is not None:
            recovery.discard(self.path)

    def discard_changes(self) -> None:
        """Closing without saving: the autosave is not needed anymore."""
        self._discard_autosaves()

    recoverable_untitled = staticmethod(recovery.recoverable_untitled)
    recoverable_for = staticmethod(recovery.recoverable_for)
    discard_recovery = staticmethod(recovery.discard)

    # --- misc -------------------------------------------------------------------------------------

    def report(self, text: str, *, blocking: bool = False, title: str = "HeartMuLa Editor") -> None:
        """The one place errors go: the log, the window's message area, and a dialog when blocking."""
        log.warning("%s", text)
        self.message.emit("error", text)
        if blocking:
            self.blockingError.emit(title, text)

    def _mark_dirty(self) -> None:
        self._set_dirty(True)
        self.historyChanged.emit()

    def _set_dirty(self, dirty: bool) -> None:
        if dirty != self.dirty:
            self.dirty = dirty
            self.dirtyChanged.emit(dirty)

    def _emit_document(self) -> None:
        self.documentChanged.emit(self.doc)
        self.historyChanged.emit()
        ref = self.reference
        if ref is not self._shown_reference:
            self._shown_reference = ref
            self.referenceChanged.emit(ref)

    def shutdown(self) -> None:
        """Stop the engine thread, the timers and the audio device (window close)."""
        self._autosave_timer.stop()
        self.thread.shutdown()
        self.player.close()
