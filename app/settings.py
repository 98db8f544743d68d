"""Persistent editor settings: the data folder, the model choice, autosave and recent files.

Everything lives under one *data folder*: ``$HEARTMULA_EDITOR_DATA`` when set (tests point it at
a temporary folder), else Qt's ``AppDataLocation`` for "HeartMuLa Editor". Inside it::

    settings.ini     QSettings (INI format, so tests never touch the user's registry/plist)
    recovery/        autosaves of songs that were never saved (project_file autosave helpers)
    logs/            the rotating log file (app.logging_setup)

The model choice is a frozen :class:`ModelSpec`; :meth:`ModelSpec.validate` checks a folder with
``heartmula_core.checkpoint.locate_checkpoint`` so that a bad folder gives a clear message
before anything is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6 import QtCore

from heartmula_core.checkpoint import locate_checkpoint
from heartmula_core.pipeline import MEMORY_MODES

from . import qt_fixes  # noqa: F401  (PySide6 6.12 refcount workaround, applied on import)

DATA_ENV = "HEARTMULA_EDITOR_DATA"
APP_NAME = "HeartMuLa Editor"
ORGANIZATION = "HeartMuLa"
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")  # the long spellings of checkpoint.DTYPES
MAX_RECENT = 10
DEFAULT_AUTOSAVE_S = 60


def data_dir() -> Path:
    """The editor's data folder (created if needed); see the module notes."""
    override = os.environ.get(DATA_ENV)
    if override:
        folder = Path(override).expanduser()
    else:
        paths = QtCore.QStandardPaths
        if QtCore.QCoreApplication.applicationName() == APP_NAME:
            folder = Path(paths.writableLocation(paths.StandardLocation.AppDataLocation))
        else:  # not run through gui_main (scripts, tests): the same folder, spelled out
            folder = Path(paths.writableLocation(paths.StandardLocation.GenericDataLocation)) / ORGANIZATION / APP_NAME
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def recovery_dir() -> Path:
    """Where songs that were never saved autosave."""
    folder = data_dir() / "recovery"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load and how. ``root`` None is the built-in demo model."""

    root: str | None = None
    device: str = "auto"
    dtype: str | None = None
    memory: str = "normal"

    @property
    def label(self) -> str:
        return "Built-in demo model" if self.root is None else Path(self.root).name

    def validate(self) -> None:
        """Raise ``CheckpointError`` (a clear one-line message) when ``root`` is not a checkpoint."""
        if self.device not in DEVICES:
            raise ValueError(f"unknown device {self.device!r}; use one of {', '.join(DEVICES)}")
        if self.memory not in MEMORY_MODES:
            raise ValueError(f"unknown memory mode {self.memory!r}; use {' or '.join(MEMORY_MODES)}")
        if self.root is not None:
            locate_checkpoint(self.root)


@dataclass(frozen=True)
class EditorSettings:
    """The user's settings as plain values (see :class:`SettingsStore` for persistence)."""

    model: ModelSpec = ModelSpec()
    autosave_seconds: int = DEFAULT_AUTOSAVE_S
    play_while_generating: bool = True
    candidates: int = 4


class SettingsStore:
    """Reads and writes :class:`EditorSettings` and the recent-files list in ``settings.ini``."""

    def __init__(self, path: Path | None = None):
        self.path = path or data_dir() / "settings.ini"
        self._qs = QtCore.QSettings(str(self.path), QtCore.QSettings.Format.IniFormat)

    def load(self) -> EditorSettings:
        qs = self._qs
        root = qs.value("model/root", "") or None
        dtype = qs.value("model/dtype", "auto")
        model = ModelSpec(root=str(root) if root else None, device=str(qs.value("model/device", "auto")),
                          dtype=None if dtype in (None, "", "auto") else str(dtype),
                          memory=str(qs.value("model/memory", "normal")))
        if model.device not in DEVICES:
            model = replace(model, device="auto")
        if model.memory not in MEMORY_MODES:
            model = replace(model, memory="normal")
        return EditorSettings(
            model=model,
            autosave_seconds=_int(qs.value("autosave/seconds"), DEFAULT_AUTOSAVE_S),
            play_while_generating=_bool(qs.value("playback/while_generating"), True),
            candidates=max(1, min(16, _int(qs.value("editing/candidates"), 4))),
        )

    def save(self, settings: EditorSettings) -> None:
        qs = self._qs
        qs.setValue("model/root", settings.model.root or "")
        qs.setValue("model/device", settings.model.device)
        qs.setValue("model/dtype", settings.model.dtype or "auto")
        qs.setValue("model/memory", settings.model.memory)
        qs.setValue("autosave/seconds", int(settings.autosave_seconds))
        qs.setValue("playback/while_generating", bool(settings.play_while_generating))
        qs.setValue("editing/candidates", int(settings.candidates))
        qs.sync()

    # --- window layout ----------------------------------------------------------------------

    def layout(self) -> dict[str, QtCore.QByteArray]:
        """Saved window geometry, dock/toolbar state and splitter states (name -> bytes)."""
        self._qs.beginGroup("layout")
        try:
            return {key: value for key in self._qs.childKeys()
                    if isinstance(value := self._qs.value(key), QtCore.QByteArray)}
        finally:
            self._qs.endGroup()

    def save_layout(self, states: dict[str, QtCore.QByteArray]) -> None:
        for key, value in states.items():
            self._qs.setValue(f"layout/{key}", value)
        self._qs.sync()

    # --- recent files ---------------------------------------------------------------------

    def recent_files(self) -> list[str]:
        value = self._qs.value("files/recent", [])
        items = [value] if isinstance(value, str) else list(value or [])
        return [p for p in items if p][:MAX_RECENT]

    def add_recent(self, path: str | os.PathLike) -> list[str]:
        path = str(Path(path).resolve())
        items = [path] + [p for p in self.recent_files() if p != path]
        self._qs.setValue("files/recent", items[:MAX_RECENT])
        self._qs.sync()
        return items[:MAX_RECENT]

    def clear_recent(self) -> None:
        self._qs.setValue("files/recent", [])
        self._qs.sync()


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _bool(value, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    return bool(value)
