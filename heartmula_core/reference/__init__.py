"""Reference audio: a track the user drops to steer a song's style (the prompt's MuQ row, spec §5).

- :mod:`.base`: the embedder protocol, :class:`ReferenceError`, the 512-d width.
- :mod:`.features`: the built-in embedder (measured tempo, key/mode, brightness, busyness,
  loudness written into 512 numbers); the demo model is trained on it.
- :mod:`.muq`: MuQ-MuLan through the optional ``muq`` package, for official checkpoints.
- :mod:`.files`: reading, hashing, caching and previewing reference files.

Which embedder a checkpoint reads is declared by ``reference_embedder.json`` in its root
(``{"name": "heartmula-audio-features-v1"}``); official checkpoints have none and read MuQ-MuLan
(:func:`embedder_for_checkpoint`).
"""

from __future__ import annotations

import json
from pathlib import Path

from .base import REFERENCE_DIM, ReferenceEmbedder, ReferenceError
from .features import NAME as FEATURES_NAME
from .features import AudioFeatureEmbedder
from .files import (AUDIO_SUFFIXES, EmbeddedReference, EmbeddingCache, default_cache_folder,
                    embed_reference_file, read_reference_audio)

EMBEDDER_FILE = "reference_embedder.json"
MUQ_NAME = "muq-mulan"
MUQ_FOLDER_ENV = "HEARTMULA_MUQ_DIR"

__all__ = ["REFERENCE_DIM", "ReferenceEmbedder", "ReferenceError", "AudioFeatureEmbedder",
           "EmbeddedReference", "EmbeddingCache", "AUDIO_SUFFIXES", "default_cache_folder",
           "embed_reference_file", "read_reference_audio", "embedder_name_for_checkpoint",
           "embedder_for_checkpoint", "write_embedder_file"]


def write_embedder_file(root: str | Path, name: str) -> Path:
    """Declare in checkpoint ``root`` which reference embedder its MuQ row was trained on."""
    path = Path(root) / EMBEDDER_FILE
    path.write_text(json.dumps({"name": name}, indent=2) + "\n")
    return path


def embedder_name_for_checkpoint(root: str | Path | None) -> str:
    """The embedder the checkpoint under ``root`` reads: its ``reference_embedder.json``, else MuQ-MuLan."""
    if root is None:
        return MUQ_NAME
    path = Path(root) / EMBEDDER_FILE
    if not path.is_file():
        return MUQ_NAME
    try:
        name = json.loads(path.read_text())["name"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReferenceError(f"{path}: not a valid reference-embedder file ({exc})") from None
    if name not in (FEATURES_NAME, MUQ_NAME):
        raise ReferenceError(f"{path}: unknown reference embedder {name!r}; this version knows "
                             f"{FEATURES_NAME!r} and {MUQ_NAME!r}")
    return name


def embedder_for_checkpoint(root: str | Path | None, muq_folder: str | Path | None = None,
                            device: str = "cpu") -> ReferenceEmbedder:
    """The embedder for the checkpoint under ``root``.

    MuQ-MuLan needs its weights in a local folder: ``muq_folder``, else ``$HEARTMULA_MUQ_DIR``;
    with neither, :class:`ReferenceError` says how to set it up.
    """
    import os

    name = embedder_name_for_checkpoint(root)
    if name == FEATURES_NAME:
        return AudioFeatureEmbedder()
    folder = muq_folder or os.environ.get(MUQ_FOLDER_ENV)
    if not folder:
        raise ReferenceError("this model steers with MuQ-MuLan embeddings: install the extra "
                             "(pip install '.[muq]'), download MuQ-MuLan-large into a folder and choose it "
                             f"(--muq-dir, the editor's settings, or ${MUQ_FOLDER_ENV})")
    from .muq import MuqMulanEmbedder

    return MuqMulanEmbedder(folder, device=device)
