"""A :class:`SongDocument` as a ``.hmsong`` project (:mod:`heartmula_core.project_file`).

The document's scalars go to ``project.json`` (``document``), its arrays to
``arrays.safetensors``: ``frames``, ``pinned``, ``provenance``, ``line_of``, ``section_of``,
``take_<id>`` for each take's frames and ``reference_embedding``. The audio cache is optional.
With a :class:`History`, its newest steps are saved too (``history`` in the JSON, arrays
``h<i>__<name>``), so undo/redo survive closing the song (and make the CLI's ``--undo`` work).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..project_file import ProjectError, load_project, save_project, write_autosave
from ..sampling import SamplingSettings
from .document import Reference, SongDocument, Take, frozen_array
from .history import History

DOCUMENT_KIND = "song"
DOCUMENT_VERSION = 1


def document_to_parts(doc: SongDocument) -> tuple[dict, dict[str, np.ndarray]]:
    """``(JSON-able dict, named arrays)`` for :func:`save_project`."""
    meta = {
        "kind": DOCUMENT_KIND, "version": DOCUMENT_VERSION,
        "tags": doc.tags, "lyrics": doc.lyrics, "seed": doc.seed, "target_seconds": doc.target_seconds,
        "settings": asdict(doc.settings), "frame_rate": doc.frame_rate, "ended": doc.ended,
        "next_take_id": doc.next_take_id, "token_space": doc.token_space,
        "section_overrides": [list(o) for o in doc.section_overrides],
        "takes": [{"id": t.id, "start": t.start, "end": t.end, "score": None if math.isnan(t.score) else t.score,
                   "seam_score": t.seam_score, "label": t.label, "group": t.group, "applied": t.applied}
                  for t in doc.takes],
        "reference": None if doc.reference is None else {
            "name": doc.reference.name, "sha256": doc.reference.sha256, "strength": doc.reference.strength,
            "embedder": doc.reference.embedder, "seconds": doc.reference.seconds},
    }
    arrays = {"frames": np.asarray(doc.frames), "pinned": np.asarray(doc.pinned),
              "provenance": np.asarray(doc.provenance), "line_of": np.asarray(doc.line_of),
              "section_of": np.asarray(doc.section_of)}
    for take in doc.takes:
        arrays[f"take_{take.id}"] = np.asarray(take.frames)
    if doc.reference is not None:
        arrays["reference_embedding"] = np.asarray(doc.reference.embedding, dtype=np.float32)
        if doc.reference.preview is not None:
            arrays["reference_preview"] = np.asarray(doc.reference.preview, dtype=np.float32)
    return meta, arrays


def document_from_parts(meta: dict, arrays: dict[str, np.ndarray], where: str) -> SongDocument:
    """Inverse of :func:`document_to_parts`; ProjectError naming ``where`` for bad content."""
    try:
        if meta.get("kind") != DOCUMENT_KIND:
            raise ValueError(f"not a song document (kind {meta.get('kind')!r})")
        if meta.get("version", 0) > DOCUMENT_VERSION:
            raise ValueError(f"song document version {meta['version']} is newer than this app reads "
                             f"({DOCUMENT_VERSION})")
        takes = tuple(Take(int(t["id"]), int(t["start"]), int(t["end"]), frozen_array(arrays[f"take_{t['id']}"], np.int64),
                           float("nan") if t["score"] is None else float(t["score"]), t["seam_score"], str(t["label"]),
                           int(t["group"]), bool(t["applied"])) for t in meta["takes"])
        reference = None
        if meta["reference"] is not None:
            r = meta["reference"]
            preview = arrays.get("reference_preview")
            reference = Reference(frozen_array(arrays["reference_embedding"], np.float32), r["name"], r["sha256"],
                                  float(r["strength"]), str(r.get("embedder", "")), float(r.get("seconds", 0.0)),
                                  None if preview is None else frozen_array(preview, np.float32))
        doc = SongDocument(
            tags=str(meta["tags"]), lyrics=str(meta["lyrics"]), seed=int(meta["seed"]),
            target_seconds=float(meta["target_seconds"]), settings=SamplingSettings(**meta["settings"]),
            frame_rate=float(meta["frame_rate"]), reference=reference,
            frames=frozen_array(arrays["frames"], np.int64), pinned=frozen_array(arrays["pinned"], np.bool_),
            provenance=frozen_array(arrays["provenance"], np.int32), line_of=frozen_array(arrays["line_of"], np.int32),
            section_of=frozen_array(arrays["section_of"], np.int32), takes=takes,
            next_take_id=int(meta["next_take_id"]),
            section_overrides=tuple(tuple(int(v) for v in o) for o in meta["section_overrides"]),
            ended=bool(meta["ended"]), token_space=str(meta.get("token_space", "")))
    except ProjectError:
        raise
    except Exception as exc:  # any malformed field: one clear message
        raise ProjectError(f"{where}: the song inside is damaged or incomplete ({type(exc).__name__}: {exc})") from exc
    return doc


HISTORY_KEEP = 30
"""Undo steps saved in a song file (the newest; each costs about one frames array)."""


def save_song(path: Path | str, doc: SongDocument, audio: np.ndarray | None = None,
              sample_rate: int | None = None, history: History | None = None) -> None:
    """Write ``doc`` (and optionally its decoded audio and undo history) to ``path`` atomically.

    With ``history`` (whose current document must be ``doc``), its newest :data:`HISTORY_KEEP`
    steps are stored too, so undo and redo keep working after the file is reopened.
    """
    meta, arrays = document_to_parts(doc)
    if history is not None:
        if history.current is not doc:
            raise ValueError("history.current must be the document being saved")
        first = max(0, history.index - HISTORY_KEEP)
        items = []
        for i, (step, label) in enumerate(history.items()[first:]):
            step_meta, step_arrays = document_to_parts(step)
            items.append({"label": label, "document": step_meta})
            arrays.update({f"h{i}__{name}": value for name, value in step_arrays.items()})
        meta["history"] = {"index": history.index - first, "items": items}
    save_project(path, meta, arrays, audio=audio, sample_rate=sample_rate)


def autosave_song(path: Path | str, doc: SongDocument) -> Path:
    """Write the autosave file belonging to ``path`` (see :mod:`heartmula_core.project_file`)."""
    meta, arrays = document_to_parts(doc)
    return write_autosave(path, meta, arrays)


def load_song(path: Path | str, load_audio: bool = True) -> tuple[SongDocument, np.ndarray | None]:
    """``(document, cached audio or None)``; ProjectError for any unreadable file."""
    project = load_project(path, load_audio=load_audio)
    return document_from_parts(project.document, project.arrays, str(path)), project.audio


def load_song_history(path: Path | str) -> History:
    """The song's saved undo history (a fresh one holding the song when none was saved)."""
    project = load_project(path, load_audio=False)
    doc = document_from_parts(project.document, project.arrays, str(path))
    saved = project.document.get("history")
    if not saved:
        return History(doc, "opened")
    try:
        steps = []
        for i, item in enumerate(saved["items"]):
            prefix = f"h{i}__"
            arrays = {k[len(prefix):]: v for k, v in project.arrays.items() if k.startswith(prefix)}
            steps.append((document_from_parts(item["document"], arrays, str(path)), str(item["label"])))
        index = int(saved["index"])
        steps[index] = (doc, steps[index][1])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ProjectError(f"{path}: the saved undo history is damaged ({exc})") from exc
    return History.from_steps(steps, index)
