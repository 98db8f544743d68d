"""The on-disk format of one song project: a ``.hmsong`` file, plus autosave and crash recovery.

A ``.hmsong`` file is a zip archive holding

* ``project.json`` (deflated)::

    {"format": "heartmula-editor-song", "schema_version": 1, "app_version": "0.1.0",
     "saved_at": "2025-01-31T12:00:00+00:00", "document": {...caller's JSON object...},
     "arrays": {name: {"dtype": "int64", "shape": [n, 8], "sha256": hex of the raw bytes}},
     "audio": null | {"dtype": "float32", "shape": [channels, samples], "sha256": ...,
                      "sample_rate": 48000}}

* ``arrays.safetensors`` (deflated): the named numeric arrays, raw little-endian bytes.
* ``audio.safetensors`` (stored, optional): one tensor ``"audio"``, float32 ``[channels, samples]``,
  kept apart so that :func:`load_project` can skip it (``load_audio=False``).

Saving is atomic: the archive is written to a temporary file in the target's folder, flushed,
fsync'ed and moved over the target with :func:`os.replace`; on failure the temporary file is
removed and an existing target is left untouched. Loading raises only :class:`ProjectError`
(cause chained) for any bad file: missing, not a zip, foreign, too new, truncated, corrupted
(zip CRC or per-array SHA-256), unsafe member names or members that would unpack past
:data:`MAX_MEMBER_BYTES`. Nothing here uses pickle.

Autosave: a saved song ``dir/song.hmsong`` autosaves to the hidden sibling
``dir/.song.autosave.hmsong``; an unsaved song autosaves to
``<recovery_dir>/untitled-<song_id>.autosave.hmsong``. Functions taking a ``path`` accept the
project path or an autosave path, which maps to itself (see :func:`autosave_path`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import reprlib
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as _safetensors_load
from safetensors.numpy import save as _safetensors_save

from heartmula_core import __version__
from heartmula_core.errors import HeartMuLaError

log = logging.getLogger(__name__)

FORMAT = "heartmula-editor-song"
SCHEMA_VERSION = 1
SUFFIX = ".hmsong"
AUTOSAVE_SUFFIX = ".autosave" + SUFFIX
PROJECT_JSON = "project.json"
ARRAYS_MEMBER = "arrays.safetensors"
AUDIO_MEMBER = "audio.safetensors"
MAX_MEMBER_BYTES = 2 * 1024**3
"""A member whose (declared) unpacked size exceeds this is refused, on save and on load."""
DTYPES = frozenset({"bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
                    "uint64", "float16", "float32", "float64"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_SONG_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ProjectError(HeartMuLaError):
    """A song project file cannot be saved or loaded; the message names the file."""


@dataclass(frozen=True)
class Project:
    """A loaded song project.

    ``document``: the caller's JSON object. ``arrays``: name -> numpy array (exact dtype and shape
    as saved, C-contiguous, writable). ``audio``: float32 ``[channels, samples]`` or None (none
    cached, or ``load_audio=False``). ``sample_rate``: Hz of the cached audio, set whenever the
    file has cached audio, even if it was not loaded. ``saved_at``: ISO-8601 UTC time string.
    """

    document: dict[str, Any]
    arrays: dict[str, np.ndarray]
    audio: np.ndarray | None
    sample_rate: int | None
    schema_version: int
    app_version: str
    saved_at: str


# --------------------------------------------------------------------------------------- save


def save_project(path: str | os.PathLike, document: dict[str, Any],
                 arrays: dict[str, np.ndarray], audio: np.ndarray | None = None,
                 sample_rate: int | None = None) -> None:
    """Write a song atomically to ``path``.

    ``document``: JSON object (str keys; dict, list, str, int, finite float, bool, None only).
    ``arrays``: identifier -> numpy array of a dtype in :data:`DTYPES`, any shape (0-d and
    0-length included). ``audio``: optional float32 ``[channels, samples]`` with ``sample_rate``
    (int Hz > 0). Raises :class:`ProjectError` for invalid input or when the file cannot be written.
    """
    path = Path(path)
    _atomic_write(path, _encode(path, document, arrays, audio, sample_rate))
    log.debug("saved %s (%d arrays, audio=%s)", path, len(arrays), audio is not None)


def _encode(path, document, arrays, audio, sample_rate) -> list[tuple[str, bytes, int]]:
    """Validate the inputs and return the archive members ``(name, bytes, compression)``."""
    if not isinstance(document, dict):
        raise _err(path, f"document is a {type(document).__name__}, expected a dict")
    try:
        _check_json(document, "document", path)
    except RecursionError as exc:
        raise _err(path, "document is nested too deeply (or refers to itself)") from exc
    tensors = _normalised_arrays(arrays, path)
    meta = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "app_version": __version__,
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "document": document,
        "arrays": {name: _entry(array) for name, array in tensors.items()},
        "audio": None,
    }
    members = [(ARRAYS_MEMBER, _safetensors_save(tensors), zipfile.ZIP_DEFLATED)]
    if audio is not None or sample_rate is not None:
        clip = _normalised_audio(audio, sample_rate, path)
        meta["audio"] = {**_entry(clip), "sample_rate": int(sample_rate)}
        members.append((AUDIO_MEMBER, _safetensors_save({"audio": clip}), zipfile.ZIP_STORED))
    text = json.dumps(meta, ensure_ascii=False, allow_nan=False, indent=1)
    members.insert(0, (PROJECT_JSON, text.encode("utf-8"), zipfile.ZIP_DEFLATED))
    for name, data, _ in members:
        if len(data) > MAX_MEMBER_BYTES:
            raise _err(path, f"{name} would be {len(data)} bytes, over the limit")
    return members


def _check_json(value: Any, where: str, path: Path) -> None:
    """Refuse anything that would not come back identical from JSON (tuples, NaN, int keys...)."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _err(path, f"{where} is {value!r}; JSON allows only finite numbers")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{where}[{index}]", path)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _err(path, f"{where} has key {key!r}; keys must be strings")
            _check_json(item, f"{where}[{key!r}]", path)
    else:
        raise _err(path, f"{where} is a {type(value).__name__}; expected dict, list, str, "
                         "int, float, bool or None")


def _normalised_arrays(arrays: Any, path: Path) -> dict[str, np.ndarray]:
    if not isinstance(arrays, dict):
        raise _err(path, f"arrays is a {type(arrays).__name__}, expected a dict of numpy arrays")
    for name in arrays:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise _err(path, f"array name {name!r} is not a simple identifier "
                             "(ASCII letters, digits, underscore; at most 128 characters)")
    return {name: _normalised(array, f"array {name!r}", path) for name, array in arrays.items()}


def _normalised(array: Any, what: str, path: Path) -> np.ndarray:
    """C-contiguous little-endian copy (or the array itself): safetensors needs both."""
    if not isinstance(array, np.ndarray):
        raise _err(path, f"{what} is a {type(array).__name__}, expected a numpy array")
    if array.dtype.name not in DTYPES:
        raise _err(path, f"{what} has dtype {array.dtype}; supported: {', '.join(sorted(DTYPES))}")
    return _little_endian_c(array)


def _normalised_audio(audio: Any, sample_rate: Any, path: Path) -> np.ndarray:
    if audio is None:
        raise _err(path, "sample_rate given without audio")
    if not isinstance(audio, np.ndarray) or audio.dtype != np.float32 or audio.ndim != 2:
        got = f"{audio.dtype} {audio.shape}" if isinstance(audio, np.ndarray) else type(audio)
        raise _err(path, f"audio is {got}, expected float32 [channels, samples]")
    if audio.shape[0] < 1:
        raise _err(path, "audio has no channels, expected float32 [channels, samples]")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) \
            or sample_rate <= 0:
        raise _err(path, f"sample_rate is {sample_rate!r}, expected an int > 0 (Hz)")
    return _normalised(audio, "audio", path)


def _entry(array: np.ndarray) -> dict[str, Any]:
    return {"dtype": array.dtype.name, "shape": list(array.shape), "sha256": _sha256(array)}


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(_little_endian_c(array)).hexdigest()


def _little_endian_c(array: np.ndarray) -> np.ndarray:
    """The array itself if already C-contiguous little-endian, else such a copy (0-d stays 0-d:
    np.ascontiguousarray would make it 1-d)."""
    array = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return array if array.flags.c_contiguous else np.array(array, order="C")


def _atomic_write(path: Path, members: list[tuple[str, bytes, int]]) -> None:
    """Write the zip to a temporary sibling, fsync it, then os.replace it onto ``path``."""
    target = path.resolve() if path.is_symlink() else path
    if target.is_dir():
        raise _err(path, "is a folder, not a song file")
    if not target.parent.is_dir():
        raise _err(path, f"cannot be written: folder {target.parent} does not exist")
    try:
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else _new_file_mode()
        tmp = tempfile.NamedTemporaryFile(delete=False, dir=target.parent,  # noqa: SIM115
                                          prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise _err(path, f"cannot be written ({exc})") from exc
    try:
        with tmp:
            with zipfile.ZipFile(tmp, "w") as archive:
                for name, data, compression in members:
                    _write_member(archive, name, data, compression)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp.name, mode)
        os.replace(tmp.name, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp.name)
        if isinstance(exc, OSError):
            raise _err(path, f"cannot be written ({exc})") from exc
        raise
    _fsync_folder(target.parent)


def _write_member(archive: zipfile.ZipFile, name: str, data: bytes, compression: int) -> None:
    archive.writestr(name, data, compress_type=compression)


@lru_cache(maxsize=1)
def _new_file_mode() -> int:
    """0o666 minus the umask, as open() would give (read once; os.umask can only be swapped)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; best effort)."""
    if os.name == "posix":
        with contextlib.suppress(OSError):
            fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


# --------------------------------------------------------------------------------------- load


def load_project(path: str | os.PathLike, load_audio: bool = True) -> Project:
    """Read a song saved by :func:`save_project`; see :class:`Project` for what comes back.

    With ``load_audio=False`` the cached audio is neither read nor checked (``audio`` is None).
    Raises :class:`ProjectError` (and nothing else) for any missing, foreign or damaged file.
    """
    path = Path(path)
    if not path.exists():
        raise _err(path, "no such file")
    if path.is_dir():
        raise _err(path, "is a folder, not a song file")
    if not path.is_file():
        raise _err(path, "is not a regular file")
    try:
        with zipfile.ZipFile(path) as archive:
            project = _read_archive(archive, path, load_audio)
    except ProjectError:
        raise
    except Exception as exc:
        raise _load_error(path, exc) from exc
    log.debug("loaded %s (%d arrays)", path, len(project.arrays))
    return project


def _load_error(path: Path, exc: Exception) -> ProjectError:
    if isinstance(exc, zipfile.BadZipFile) and not _starts_like_zip(path):  # else truncated
        return ProjectError(f"not a HeartMuLa Editor song: {path} (not a zip archive)")
    if isinstance(exc, PermissionError):
        return _err(path, f"cannot be read ({exc.strerror})")
    expected = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError)
    if not isinstance(exc, expected):  # still a ProjectError, but worth a look
        log.warning("unexpected %s while reading %s", type(exc).__name__, path, exc_info=exc)
    return _err(path, f"is damaged or truncated ({exc or type(exc).__name__})")


def _starts_like_zip(path: Path) -> bool:
    with contextlib.suppress(OSError), open(path, "rb") as file:
        return file.read(4) == b"PK\x03\x04"
    return False


def _read_archive(archive: zipfile.ZipFile, path: Path, load_audio: bool) -> Project:
    members = _checked_members(archive, path)
    if PROJECT_JSON not in members:
        raise ProjectError(f"not a HeartMuLa Editor song: {path} (no {PROJECT_JSON} inside)")
    meta = _parse_json(archive.read(members[PROJECT_JSON]), path)
    _check_header(meta, path)
    document, manifest, audio_entry = _manifest(meta, path)
    arrays = _load_tensors(archive, members, ARRAYS_MEMBER, manifest, path)
    audio = sample_rate = None
    if audio_entry is not None:
        sample_rate = audio_entry["sample_rate"]
        if AUDIO_MEMBER not in members:
            raise _err(path, f"{AUDIO_MEMBER} is missing")
        if load_audio:
            audio = _load_tensors(archive, members, AUDIO_MEMBER, {"audio": audio_entry}, path)
            audio = audio["audio"]
    return Project(document, arrays, audio, sample_rate, meta["schema_version"],
                   meta["app_version"], meta["saved_at"])


def _checked_members(archive: zipfile.ZipFile, path: Path) -> dict[str, zipfile.ZipInfo]:
    """Refuse unsafe names, duplicates, encryption and members that would unpack too large."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        name = info.filename
        parts = re.split(r"[\\/]", name)
        if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts:
            raise _err(path, f"contains an unsafe member name {reprlib.repr(name)}")
        if name in members:
            raise _err(path, f"contains {reprlib.repr(name)} twice")
        if info.file_size > MAX_MEMBER_BYTES:
            raise _err(path, f"member {name!r} would unpack to {info.file_size} bytes, "
                             f"over the {MAX_MEMBER_BYTES} byte limit")
        if info.flag_bits & 0x1:
            raise _err(path, f"member {name!r} is encrypted")
        members[name] = info
    return members


def _parse_json(raw: bytes, path: Path) -> dict[str, Any]:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not allowed")

    try:
        meta = json.loads(raw.decode("utf-8"), parse_constant=refuse)
    except (ValueError, RecursionError) as exc:  # incl. JSONDecodeError, UnicodeDecodeError
        raise _err(path, f"{PROJECT_JSON} is not valid JSON ({exc or 'nested too deeply'})") \
            from exc
    if not isinstance(meta, dict):
        raise _err(path, f"{PROJECT_JSON} is not a JSON object")
    return meta


def _check_header(meta: dict[str, Any], path: Path) -> None:
    if meta.get("format") != FORMAT:
        raise ProjectError(f"not a HeartMuLa Editor song: {path} "
                           f"(format is {reprlib.repr(meta.get('format'))}, expected {FORMAT!r})")
    version = meta.get("schema_version")
    if not _is_int(version) or version < 1:
        raise _err(path, f"has an invalid schema_version {reprlib.repr(version)}")
    if version > SCHEMA_VERSION:
        raise ProjectError(f"{path} was saved by a newer version (schema {version}); "
                           f"this version reads up to {SCHEMA_VERSION}")
    for key in ("app_version", "saved_at"):
        if not isinstance(meta.get(key), str):
            raise _err(path, f"{PROJECT_JSON} has no {key!r} string")


def _manifest(meta: dict[str, Any], path: Path):
    """Return ``(document, {name: entry}, audio entry or None)`` after checking their types."""
    document, arrays, audio = meta.get("document"), meta.get("arrays"), meta.get("audio")
    if not isinstance(document, dict):
        raise _err(path, f"{PROJECT_JSON} has no 'document' object")
    if not isinstance(arrays, dict):
        raise _err(path, f"{PROJECT_JSON} has no 'arrays' object")
    for name, entry in arrays.items():
        if not _NAME.fullmatch(name):
            raise _err(path, f"{PROJECT_JSON} names an array {reprlib.repr(name)}")
        _check_entry(entry, f"array {name!r}", path)
    if audio is not None:
        _check_entry(audio, "audio", path)
        rate = audio.get("sample_rate")
        if audio["dtype"] != "float32" or len(audio["shape"]) != 2 or not _is_int(rate) \
                or rate <= 0:
            raise _err(path, f"{PROJECT_JSON} describes invalid audio {reprlib.repr(audio)}")
    return document, arrays, audio


def _check_entry(entry: Any, what: str, path: Path) -> None:
    ok = (isinstance(entry, dict) and entry.get("dtype") in DTYPES
          and isinstance(entry.get("shape"), list)
          and all(_is_int(n) and n >= 0 for n in entry["shape"])
          and isinstance(entry.get("sha256"), str) and _SHA256.fullmatch(entry["sha256"]))
    if not ok:
        raise _err(path, f"{PROJECT_JSON} has a malformed entry for {what}: "
                         f"{reprlib.repr(entry)}")


def _load_tensors(archive, members, member: str, manifest: dict, path: Path):
    """Load one safetensors member and check it against its manifest entries, exactly."""
    if member not in members:
        raise _err(path, f"{member} is missing")
    raw = archive.read(members[member])  # checks the zip CRC
    try:
        tensors = _safetensors_load(raw)
    except (SafetensorError, ValueError) as exc:
        raise _err(path, f"{member} is damaged ({exc})") from exc
    missing, extra = manifest.keys() - tensors.keys(), tensors.keys() - manifest.keys()
    if missing or extra:
        raise _err(path, f"{member} does not match {PROJECT_JSON} "
                         f"(missing {sorted(missing)}, unexpected {sorted(extra)})")
    for name, entry in manifest.items():
        array = tensors[name]
        if array.dtype.name != entry["dtype"] or list(array.shape) != entry["shape"]:
            raise _err(path, f"{member}: {name!r} is {array.dtype.name} {list(array.shape)}, "
                             f"{PROJECT_JSON} says {entry['dtype']} {entry['shape']}")
        if _sha256(array) != entry["sha256"]:
            raise _err(path, f"{member}: {name!r} fails its SHA-256 check; the file is corrupted")
    return {name: tensors[name] for name in manifest}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _err(path: Path, message: str) -> ProjectError:
    return ProjectError(f"{path}: {message}")


# ---------------------------------------------------------------------------- autosave/recovery


def autosave_path(path: str | os.PathLike | None = None, *, recovery_dir: str | os.PathLike
                  | None = None, song_id: str | None = None) -> Path:
    """Where a song autosaves.

    Saved song ``dir/song.hmsong`` -> ``dir/.song.autosave.hmsong``; a path that already ends in
    ``.autosave.hmsong`` maps to itself. Unsaved song (``path`` None) ->
    ``<recovery_dir>/untitled-<song_id>.autosave.hmsong``; ``song_id`` (``[A-Za-z0-9_-]{1,64}``,
    e.g. ``uuid4().hex``) is chosen by the caller when the song is created.
    """
    if path is not None:
        path = Path(path)
        if path.name.endswith(AUTOSAVE_SUFFIX):
            return path
        return path.with_name(f".{path.name.removesuffix(SUFFIX)}{AUTOSAVE_SUFFIX}")
    if recovery_dir is None or song_id is None:
        raise ValueError("an unsaved song needs recovery_dir and song_id for its autosave path")
    if not isinstance(song_id, str) or not _SONG_ID.fullmatch(song_id):
        raise ValueError(f"song_id {song_id!r} must match [A-Za-z0-9_-]{{1,64}}")
    return Path(recovery_dir) / f"untitled-{song_id}{AUTOSAVE_SUFFIX}"


def write_autosave(path: str | os.PathLike, document: dict[str, Any],
                   arrays: dict[str, np.ndarray], audio: np.ndarray | None = None,
                   sample_rate: int | None = None) -> Path:
    """Atomically save the song to :func:`autosave_path` of ``path``; return that file.

    ``path`` is the project path, or an autosave path (e.g. from
    ``autosave_path(recovery_dir=..., song_id=...)``, whose folder is created if needed).
    """
    target = autosave_path(path)
    if target == Path(path):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _err(target, f"cannot create the recovery folder ({exc})") from exc
    save_project(target, document, arrays, audio, sample_rate)
    return target


def find_recoverable(path: str | os.PathLike) -> Path | None:
    """The autosave of project ``path`` if it is worth offering, else None.

    Offered when it exists and is strictly newer (mtime) than the project file, or when the
    project file does not exist. An autosave path given directly is returned if it exists.
    Callers should :func:`discard_autosave` after each successful save (or an explicit
    "don't save" on close), so that an autosave only survives a crash.
    """
    path = Path(path)
    auto = autosave_path(path)
    auto_mtime = _mtime_ns(auto)
    if auto_mtime is None:
        return None
    if auto == path:
        return auto
    project_mtime = _mtime_ns(path)
    return auto if project_mtime is None or auto_mtime > project_mtime else None


def discard_autosave(path: str | os.PathLike) -> bool:
    """Delete the autosave of ``path`` (project or autosave path); True if one was removed."""
    auto = autosave_path(path)
    try:
        auto.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _err(auto, f"cannot remove the autosave ({exc})") from exc
    return True


def list_recoverable(recovery_dir: str | os.PathLike) -> list[Path]:
    """Autosaves of unsaved songs left in ``recovery_dir`` (e.g. after a crash), newest first."""
    folder = Path(recovery_dir)
    if not folder.is_dir():
        return []
    found = [(mtime, p) for p in folder.iterdir() if p.name.endswith(AUTOSAVE_SUFFIX)
             and not p.name.startswith(".") and (mtime := _mtime_ns(p)) is not None]
    return [p for _, p in sorted(found, key=lambda item: (-item[0], item[1].name))]


def _mtime_ns(path: Path) -> int | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns if stat.S_ISREG(info.st_mode) else None
