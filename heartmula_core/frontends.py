"""Lyrics front-ends: a checkpoint's own rewrite of lyrics text before its tokenizer runs.

Official checkpoints tokenize lower-cased lyrics directly and have no front-end. A checkpoint
root may carry ``lyrics_frontend.json`` — ``{"name": ..., "version": 1}`` — naming a front-end
registered here; the built-in demo model uses it to turn lyric lines into sung syllables
(:func:`heartmula_core.demo.tokenizer.syllable_frontend`). Front-ends are looked up by name in
:data:`FRONTENDS`, never imported from a path written in the file, so a checkpoint cannot make
the app run code of its choosing.

A front-end is a function ``lowered -> (text, origin)``: the text to tokenize and, for each of
its characters plus one end entry, the index in ``lowered`` it came from (so token spans map
back to what the user typed).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Callable

from .errors import CheckpointError

FRONTEND_FILE = "lyrics_frontend.json"
FRONTEND_VERSION = 1

LyricsFrontend = Callable[[str], tuple[str, list[int]]]

#: name -> (module, function)
FRONTENDS: dict[str, tuple[str, str]] = {
    "heartmula-demo-syllables": ("heartmula_core.demo.tokenizer", "syllable_frontend"),
}


def get_frontend(name: str) -> LyricsFrontend:
    """The registered front-end ``name``; CheckpointError for an unknown one."""
    if name not in FRONTENDS:
        raise CheckpointError(f"unknown lyrics front-end {name!r}; this version knows "
                              f"{', '.join(sorted(FRONTENDS))}")
    module, function = FRONTENDS[name]
    return getattr(importlib.import_module(module), function)


def write_frontend_file(root: Path | str, name: str) -> Path:
    """Write ``root/lyrics_frontend.json`` naming front-end ``name``; return its path."""
    get_frontend(name)
    path = Path(root) / FRONTEND_FILE
    path.write_text(json.dumps({"name": name, "version": FRONTEND_VERSION}, indent=2) + "\n")
    return path


def load_frontend(root: Path | str) -> LyricsFrontend | None:
    """The front-end declared under checkpoint ``root``, or None when it declares none."""
    path = Path(root) / FRONTEND_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise CheckpointError(f"{path}: expected an object with a \"name\" string")
    version = data.get("version")
    if not isinstance(version, int) or not 1 <= version <= FRONTEND_VERSION:
        raise CheckpointError(f"{path}: version {version!r} is not supported (this version reads "
                              f"up to {FRONTEND_VERSION})")
    return get_frontend(data["name"])
