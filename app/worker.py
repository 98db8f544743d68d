"""The one engine thread: a QThread whose worker owns the Editor and runs jobs in order.

Data flow (design §5, napari's layer slicer): the controller freezes a :class:`Job` (job id,
operation, document snapshot, parameters) on the GUI thread and :meth:`EngineThread.submit` s it;
the signal crosses to the worker thread by a queued connection; the worker calls the engine,
which never sees the live document; progress, streamed frames and audio come back as
:class:`Progress` objects and the outcome as one :class:`JobResult`, again by queued signals.
The GUI thread never touches the model or a tensor.

Cancelling is a thread-safe flag (the job's id goes into a set), read by the engine between
frames through the ``cancel`` callable; a cancelled job emits ``cancelled``
and no result. The worker also batches progress: streamed frames and audio chunks are merged
and sent at most :data:`PROGRESS_HZ` times a second, so the GUI event loop never floods.

Model loading is a job too (``op="load"``), so it happens on the worker thread.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
from PySide6 import QtCore

from heartmula_core.envelope import Envelope
from heartmula_core.errors import Cancelled, HeartMuLaError

from . import qt_fixes  # noqa: F401  (PySide6 6.12 refcount workaround, applied on import)
from .settings import ModelSpec

log = logging.getLogger(__name__)

PROGRESS_HZ = 30
MODEL_OPS = ("generate", "extend", "resample", "fix_line", "regenerate_section", "delete_section",
             "duplicate_section", "reference")
OP_LABELS = {
    "load": "Loading model",
    "new": "New song",
    "generate": "Generate",
    "extend": "Extend",
    "resample": "Re-sample selection",
    "fix_line": "Fix line",
    "regenerate_section": "Regenerate section",
    "delete_section": "Delete section",
    "duplicate_section": "Duplicate section",
    "render": "Render audio",
    "reference": "Analyse reference",
}


def engine_module() -> ModuleType:
    """``heartmula_core.editing`` (ImportError when the engine is not installed yet)."""
    return importlib.import_module("heartmula_core.editing")


@dataclass(frozen=True)
class Job:
    """One frozen request. ``doc``: the SongDocument snapshot the job starts from (None for
    ``load``, and for ``generate``/``new`` of a song that has no document yet). ``params``:
    sorted ``(name, value)`` pairs, see :meth:`make`."""

    job_id: int
    op: str
    doc: Any = None
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def make(cls, job_id: int, op: str, doc: Any = None, **params: Any) -> Job:
        if op not in OP_LABELS:
            raise ValueError(f"unknown job op {op!r}")
        return cls(job_id, op, doc, tuple(sorted(params.items())))

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def label(self) -> str:
        return OP_LABELS[self.op]


@dataclass(frozen=True)
class ModelInfo:
    """What the status bar shows about the loaded model."""

    name: str
    device: str
    sample_rate: int
    frame_rate: float
    spec: ModelSpec
    token_space: str = ""  # what the model's frame ids mean ("": the engine does not say)


@dataclass(frozen=True)
class Progress:
    """Batched progress of one job. ``frames``: new frames ``[n, 8]`` from frame ``frame_start``
    (or None); ``audio``: new audio ``[2, S]`` from sample ``audio_start`` (or None)."""

    job_id: int
    op: str
    stage: str
    done: int
    total: int
    message: str = ""
    frames: np.ndarray | None = None
    frame_start: int = 0
    audio: np.ndarray | None = None
    audio_start: int = 0


@dataclass(frozen=True)
class AudioUpdate:
    """How the GUI's copy of the song's audio (waveform envelope, player buffer) must change to
    hold a job's audio, prepared on the engine thread so the GUI thread only copies what changed.

    ``kind``: ``"same"`` (nothing changed), ``"span"`` (samples from ``start`` are replaced by
    ``chunk [C, n]``; the length is unchanged), ``"full"`` (a new ``envelope`` and playback
    ``frames [S, C]`` C-contiguous, for ``Player.set_audio(frames.T)`` without a transpose copy),
    ``"streamed"`` (the streamed audio already is the song's audio). ``base``: the audio the update
    applies to (``"same"``/``"span"`` are only valid on top of exactly that array).
    """

    kind: str
    base: np.ndarray | None = None
    start: int = 0
    chunk: np.ndarray | None = None
    envelope: Envelope | None = None
    frames: np.ndarray | None = None


def audio_update(shown: np.ndarray | None, audio: np.ndarray, sample_rate: int) -> AudioUpdate:
    """The cheapest :class:`AudioUpdate` turning ``shown`` into ``audio`` (both ``[C, S]``)."""
    if shown is not None and shown.shape == audio.shape:
        changed = np.flatnonzero((shown != audio).any(axis=0))
        if not len(changed):
            return AudioUpdate("same", shown)
        start, end = int(changed[0]), int(changed[-1]) + 1
        if end - start < audio.shape[-1] // 2:
            return AudioUpdate("span", shown, start, np.ascontiguousarray(audio[:, start:end]))
    return AudioUpdate("full", shown, envelope=Envelope.from_audio(audio, sample_rate),
                       frames=np.ascontiguousarray(audio.T))


@dataclass(frozen=True)
class JobResult:
    """A finished job: ``doc`` the new document (the engine's output), ``base`` the document it
    started from, ``audio`` the rendered song ``[C, S]`` (None for an empty song or ``load``) and
    ``update``, how to show it (relative to the job's ``shown_audio`` parameter)."""

    job_id: int
    op: str
    doc: Any
    base: Any
    audio: np.ndarray | None
    seconds: float
    info: ModelInfo | None = None
    update: AudioUpdate | None = None


def describe_error(exc: BaseException, op: str) -> tuple[str, bool]:
    """``(message, expected)`` for an exception raised by a job: engine errors are shown as is;
    out-of-memory gets advice; anything else is unexpected (logged with its traceback)."""
    name = type(exc).__name__
    if isinstance(exc, HeartMuLaError):
        return str(exc), True
    if name == "OutOfMemoryError" or isinstance(exc, MemoryError):
        return (f"{OP_LABELS.get(op, op)} ran out of {'GPU ' if name == 'OutOfMemoryError' else ''}memory. "
                "Try a shorter song or selection, fewer candidates, or memory mode 'low' in Settings."), True
    return f"{OP_LABELS.get(op, op)} failed unexpectedly: {name}: {exc} (details in the log file)", False


def call_supported(fn: Callable, *args, **kwargs):
    """Call ``fn`` with only the keyword arguments its signature accepts (engine ops differ in
    whether they take ``candidates``, ``on_progress`` ...)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn(*args, **kwargs)
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    return fn(*args, **kwargs)


class _Batcher:
    """Merges ProgressEvents of one job into :class:`Progress` emits at most PROGRESS_HZ a second."""

    def __init__(self, job: Job, emit: Callable[[Progress], None], keep_audio: bool = False):
        self._job, self._emit = job, emit
        self.streamed: list[np.ndarray] | None = [] if keep_audio else None  # every audio chunk, in order
        self._streamed_end = 0
        self._last = 0.0
        self._frames: list[np.ndarray] = []
        self._frame_start = 0
        self._audio: list[np.ndarray] = []
        self._audio_start = 0
        self._audio_end = 0
        self._event = None

    def __call__(self, event) -> None:
        frames = getattr(event, "frames", None)
        if frames is not None and len(frames):
            if self._frames and event.start != self._frame_start + sum(len(f) for f in self._frames):
                self.flush()
            if not self._frames:
                self._frame_start = int(event.start)
            self._frames.append(np.asarray(frames))
        audio = getattr(event, "audio", None)
        if audio is not None and audio.shape[-1]:
            if self._audio and event.audio_start != self._audio_end:
                self.flush()
            if not self._audio:
                self._audio_start = int(event.audio_start)
            self._audio.append(np.asarray(audio, np.float32))
            self._audio_end = int(event.audio_start) + audio.shape[-1]
            if self.streamed is not None:
                if event.audio_start == self._streamed_end:
                    self.streamed.append(self._audio[-1])
                    self._streamed_end = self._audio_end
                else:  # not one contiguous stream: the final audio is rendered instead
                    self.streamed = None
        self._event = event
        if time.monotonic() - self._last >= 1.0 / PROGRESS_HZ:
            self.flush()

    def streamed_audio(self) -> np.ndarray | None:
        """All audio streamed by the job, ``[C, S]`` (None when not kept or not contiguous)."""
        if not self.streamed:
            return None
        return np.concatenate(self.streamed, axis=-1)

    def flush(self) -> None:
        event = self._event
        if event is None:
            return
        frames = np.concatenate(self._frames) if self._frames else None
        audio = np.concatenate(self._audio, axis=-1) if self._audio else None
        self._emit(Progress(self._job.job_id, self._job.op, str(event.stage), int(event.done), int(event.total),
                            str(getattr(event, "message", "") or ""), frames, self._frame_start, audio,
                            self._audio_start))
        self._frames, self._audio = [], []
        self._last = time.monotonic()


class EngineWorker(QtCore.QObject):
    """Lives on the engine thread; owns the Editor and its AudioCache. Use via :class:`EngineThread`."""

    progress = QtCore.Signal(object)  # Progress
    finished = QtCore.Signal(object)  # JobResult
    failed = QtCore.Signal(int, str, bool)  # job id, message, expected (a user-facing error)
    cancelled = QtCore.Signal(int)  # job id
    started = QtCore.Signal(int)  # job id

    def __init__(self, engine: ModuleType | None = None,
                 editor_factory: Callable[[ModuleType, ModelSpec], Any] | None = None):
        super().__init__()
        self._engine = engine
        self._factory = editor_factory or _load_editor
        self.editor: Any = None
        self.cache: Any = None
        # written by the GUI thread (single assignments and set.add: atomic under the GIL)
        self.cancelled_ids: set[int] = set()
        self.cancel_through = 0  # shutdown: every job with an id up to this is cancelled

    def is_cancelled(self, job_id: int) -> bool:
        return job_id in self.cancelled_ids or job_id <= self.cancel_through \
            or QtCore.QThread.currentThread().isInterruptionRequested()

    @QtCore.Slot(object)
    def run(self, job: Job) -> None:
        current = threading.current_thread()
        if current.name.startswith("Dummy"):  # a QThread seen from Python: name it for the log
            current.name = "engine"
        if self.is_cancelled(job.job_id):
            self.cancelled.emit(job.job_id)
            return
        self.started.emit(job.job_id)
        t0 = time.perf_counter()
        try:
            result = self._run(job, t0)
        except Cancelled:
            log.info("job %d (%s) cancelled", job.job_id, job.op)
            self.cancelled.emit(job.job_id)
            return
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a message
            message, expected = describe_error(exc, job.op)
            if expected:
                log.warning("job %d (%s) failed: %s", job.job_id, job.op, message)
            else:
                log.exception("job %d (%s) failed", job.job_id, job.op)
            self.failed.emit(job.job_id, message, expected)
            return
        log.info("job %d (%s) done in %.2f s", job.job_id, job.op, result.seconds)
        self.finished.emit(result)

    def _run(self, job: Job, t0: float) -> JobResult:
        if job.op == "load":
            return self._load(job, t0)
        if self.editor is None:
            raise HeartMuLaError("no model is loaded; choose one in Settings")
        batcher = _Batcher(job, self.progress.emit, keep_audio=job.op == "generate")
        hooks = {"on_progress": batcher, "cancel": lambda: self.is_cancelled(job.job_id)}
        p, editor, doc = job.kwargs, self.editor, job.doc
        if job.op in ("new", "generate", "reference") and doc is None:
            doc = editor.new_document(p["tags"], p["lyrics"], seconds=p.get("seconds", 60.0), seed=p.get("seed", 0))
            if p.get("reference") is not None:  # a new song keeps the reference set for it
                doc = doc.with_reference(p["reference"])
        if doc is not None and hasattr(editor, "check_song"):
            editor.check_song(doc)  # a song of another model's tokens is refused, not played as noise
        base = doc
        if job.op == "reference":  # read and embed the file; the song's frames do not change
            ref = call_supported(editor.reference_from_file, p["path"], strength=p.get("strength", 1.0))
            if self.is_cancelled(job.job_id):
                raise Cancelled(f"{job.label} was cancelled")
            return JobResult(job.job_id, job.op, doc.with_reference(ref), base, None, time.perf_counter() - t0)
        if job.op == "new":
            result = doc
        elif job.op == "render":
            result = doc
            if p.get("known_audio") is not None:  # decoded before (file, undo memo): adopt it
                audio = self._adopt(doc, p["known_audio"])
                if audio is not None:
                    return self._result(job, doc, base, audio, t0)
        elif job.op == "generate":
            result = call_supported(editor.generate, doc, **hooks)
        elif job.op == "extend":
            result = call_supported(editor.extend, doc, p["seconds"], **hooks)
        elif job.op == "resample":
            result = call_supported(editor.resample, doc, p["start"], p["end"], candidates=p.get("candidates", 4),
                           seed=p.get("seed"), **hooks)
        elif job.op == "fix_line":
            result = call_supported(editor.fix_line, doc, p["line_index"], p["new_text"],
                           candidates=p.get("candidates", 4), seed=p.get("seed"), **hooks)
        else:  # the section operations
            result = call_supported(getattr(editor, job.op), doc, p["section_index"], candidates=p.get("candidates", 4),
                           seed=p.get("seed"), **hooks)
        batcher.flush()
        if self.is_cancelled(job.job_id):
            raise Cancelled(f"{job.label} was cancelled")
        audio = None
        if job.op == "generate" and (streamed := batcher.streamed_audio()) is not None:
            audio = self._adopt(result, streamed)  # what was heard; no second decode
            if audio is not None:
                return self._result(job, result, base, audio, t0, AudioUpdate("streamed"))
        if job.op != "new" and result.num_frames > 0:
            audio = np.asarray(editor.render(result, self._cache_for(result)), np.float32)
        return self._result(job, result, base, audio, t0)

    def _result(self, job: Job, doc: Any, base: Any, audio: np.ndarray | None, t0: float,
                update: AudioUpdate | None = None) -> JobResult:
        if audio is not None and update is None:
            update = audio_update(job.kwargs.get("shown_audio"), audio, int(self.editor.sample_rate))
        return JobResult(job.job_id, job.op, doc, base, audio, time.perf_counter() - t0, update=update)

    def _cache_for(self, doc: Any) -> Any:
        """The AudioCache for ``doc``'s decoding seed (a new one when the seed changed)."""
        seed = int(getattr(doc, "seed", 0))
        if self.cache is None or getattr(self.cache, "seed", seed) != seed:
            self.cache = self._new_cache(seed)
        return self.cache

    def _new_cache(self, seed: int) -> Any:
        codec = getattr(getattr(self.editor, "pipeline", None), "codec", None)
        for args, kwargs in (((codec,), {"seed": seed}), ((), {})):
            try:
                return self._engine.AudioCache(*args, **kwargs)
            except TypeError:
                continue
        log.warning("cannot build an AudioCache; every render decodes the whole song")
        return None

    def _adopt(self, doc: Any, audio: np.ndarray) -> np.ndarray | None:
        """Use audio that is already decoded (streamed, or saved in the song file) for ``doc`` and
        give it to the cache; None when it does not fit ``doc``'s frames (then it is rendered)."""
        audio = np.asarray(audio, np.float32)
        expected = round(doc.num_frames * self.editor.sample_rate / self.editor.frame_rate)
        if audio.ndim != 2 or audio.shape[-1] != expected:
            log.info("decoded audio has %s samples for %d frames; rendering instead", audio.shape, doc.num_frames)
            return None
        cache = self._cache_for(doc)
        if cache is not None and hasattr(cache, "set"):
            try:
                cache.set(np.asarray(doc.frames), audio)
            except ValueError as exc:
                log.info("the audio cache refused the decoded audio (%s); rendering instead", exc)
                return None
        return audio

    def _load(self, job: Job, t0: float) -> JobResult:
        spec: ModelSpec = job.kwargs["spec"]
        self.editor = self.cache = None
        if self._engine is None:
            self._engine = engine_module()
        reserve_a_core_for_the_gui()
        self.editor = self._factory(self._engine, spec)
        info = ModelInfo(str(self.editor.model_name), str(self.editor.device), int(self.editor.sample_rate),
                         float(self.editor.frame_rate), spec, str(getattr(self.editor, "token_space", "")))
        return JobResult(job.job_id, "load", None, None, None, time.perf_counter() - t0, info)


def reserve_a_core_for_the_gui() -> int:
    """On the engine thread: let torch's CPU kernels use all cores but one.

    OpenMP worker threads spin while they wait for work; with every core busy, the GUI thread and
    the engine thread's own Python code starve (measured on 2 cores: a 12 s demo song took 28 s
    to generate instead of 2.7 s, and the window froze). The setting is per calling thread
    (OpenMP's nthreads ICV), so only the engine thread's kernels change. Returns the count used.
    """
    import torch

    threads = max(1, (os.cpu_count() or 2) - 1)
    if torch.get_num_threads() > threads:
        torch.set_num_threads(threads)
        log.info("engine thread uses %d CPU threads (one core left for the window)", threads)
    return torch.get_num_threads()


def _load_editor(engine: ModuleType, spec: ModelSpec):
    spec.validate()
    return engine.Editor.load(spec.root, device=spec.device, dtype=spec.dtype, memory=spec.memory)


@dataclass
class _Counter:
    value: int = field(default=0)

    def next(self) -> int:
        self.value += 1
        return self.value


class EngineThread(QtCore.QObject):
    """GUI-thread handle on the engine thread: :meth:`submit` jobs, :meth:`cancel` them.

    Re-emits the worker's signals (queued, so slots run on the GUI thread).
    """

    progress = QtCore.Signal(object)
    finished = QtCore.Signal(object)
    failed = QtCore.Signal(int, str, bool)
    cancelled = QtCore.Signal(int)
    started = QtCore.Signal(int)
    _submit = QtCore.Signal(object)

    def __init__(self, engine: ModuleType | None = None,
                 editor_factory: Callable[[ModuleType, ModelSpec], Any] | None = None,
                 parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self._ids = _Counter()
        self._thread = QtCore.QThread()
        self._thread.setObjectName("engine")
        self.worker = EngineWorker(engine, editor_factory)
        self.worker.moveToThread(self._thread)
        queued = QtCore.Qt.ConnectionType.QueuedConnection
        self._submit.connect(self.worker.run, queued)
        for name in ("progress", "finished", "failed", "cancelled", "started"):
            getattr(self.worker, name).connect(getattr(self, name), queued)
        self._thread.start()

    def new_id(self) -> int:
        return self._ids.next()

    @property
    def last_id(self) -> int:
        return self._ids.value

    def submit(self, job: Job) -> Job:
        """Queue ``job`` on the engine thread (jobs run one at a time, in order)."""
        log.debug("submit job %d (%s)", job.job_id, job.op)
        self._submit.emit(job)
        return job

    def cancel(self, job_id: int) -> None:
        """Cancel job ``job_id`` (checked between frames, or before it starts)."""
        self.worker.cancelled_ids.add(job_id)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel everything, stop the thread; True when it stopped within ``timeout_ms``."""
        if not self._thread.isRunning():
            return True
        self.worker.cancel_through = self._ids.value
        self._thread.requestInterruption()
        self._thread.quit()
        stopped = self._thread.wait(timeout_ms)
        if not stopped:
            log.warning("the engine thread did not stop within %d ms", timeout_ms)
        return stopped
