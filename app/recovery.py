"""Autosave locations and crash recovery for the controller (wraps ``heartmula_core.project_file``).

A saved song autosaves next to its file (``dir/.song.autosave.hmsong``); an untitled one to
``<data dir>/recovery/untitled-<song id>.autosave.hmsong``. An autosave is deleted after every
successful save and when the user closes without saving, so one that survives means a crash.
"""

from __future__ import annotations

import logging
from pathlib import Path

from heartmula_core.project_file import (
    AUTOSAVE_SUFFIX,
    ProjectError,
    autosave_path,
    discard_autosave,
    find_recoverable,
    list_recoverable,
)

from .settings import recovery_dir

log = logging.getLogger(__name__)

UNTITLED_PREFIX = "untitled-"


def untitled_autosave(song_id: str) -> Path:
    """The autosave file of the untitled song ``song_id``."""
    return autosave_path(recovery_dir=recovery_dir(), song_id=song_id)


def autosave_target(path: Path | None, song_id: str) -> Path:
    """Where a song autosaves: next to ``path``, or in the recovery folder when untitled."""
    return autosave_path(path) if path is not None else untitled_autosave(song_id)


def is_untitled_autosave(path: Path) -> bool:
    return path.name.startswith(UNTITLED_PREFIX) and path.name.endswith(AUTOSAVE_SUFFIX)


def song_id_of(path: Path) -> str:
    """The song id in an untitled autosave's name (so a recovered song keeps autosaving there)."""
    return path.name.removeprefix(UNTITLED_PREFIX).removesuffix(AUTOSAVE_SUFFIX)


def recoverable_untitled() -> list[Path]:
    """Autosaves of never-saved songs left by a crash, newest first."""
    return list_recoverable(recovery_dir())


def recoverable_for(path: str | Path) -> Path | None:
    """A newer autosave of the saved song ``path`` (left by a crash), or None."""
    return find_recoverable(path)


def discard(path: str | Path) -> None:
    """Delete the autosave of ``path`` (a song or an autosave path); problems are only logged."""
    try:
        discard_autosave(path)
    except ProjectError as exc:
        log.warning("%s", exc)
