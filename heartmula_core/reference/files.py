"""Reference audio files: reading them safely, hashing them, and caching their embeddings.

- :func:`read_reference_audio`: soundfile (WAV, FLAC, OGG, MP3), at most
  :data:`MAX_READ_SECONDS` from the middle of the file are read (a two-hour file costs no more
  than a ten-minute one); clear :class:`~.base.ReferenceError` for missing, unreadable, empty or
  non-finite files.
- :class:`EmbeddingCache`: one safetensors file per (file hash, embedder name) in a folder, so
  dropping the same track again is instant; a damaged cache entry is ignored and rewritten.
- :func:`embed_reference_file`: the above, plus a small min/max preview for the editor's drop zone.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import safetensors.numpy

from .base import REFERENCE_DIM, ReferenceEmbedder, ReferenceError, check_vector

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
MAX_READ_SECONDS = 600.0
PREVIEW_POINTS = 240


@dataclass(frozen=True)
class ReferenceAudio:
    """Audio read for embedding: ``audio [channels, samples]`` float32 and facts about the file."""

    audio: np.ndarray
    sample_rate: int
    seconds: float  # the whole file's length (audio may hold only its middle part)
    name: str


@dataclass(frozen=True)
class EmbeddedReference:
    """An embedded reference track: the vector, which embedder made it, the file it came from.

    ``preview [PREVIEW_POINTS, 2]`` float32: min/max of the (read part of the) file, for display.
    """

    vector: np.ndarray  # [512] float32
    embedder: str
    name: str
    sha256: str
    seconds: float
    preview: np.ndarray


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_reference_audio(path: str | Path, max_seconds: float = MAX_READ_SECONDS) -> ReferenceAudio:
    """Read ``path`` (at most ``max_seconds`` from its middle) as float32 ``[channels, samples]``."""
    import soundfile as sf

    path = Path(path)
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise ReferenceError(f"{path.name}: unsupported audio type {path.suffix or '(none)'}; "
                             f"use {', '.join(AUDIO_SUFFIXES)}")
    if not path.is_file():
        raise ReferenceError(f"{path}: no such file")
    try:
        with sf.SoundFile(str(path)) as handle:
            total, rate = handle.frames, handle.samplerate
            if total <= 0 or rate <= 0:
                raise ReferenceError(f"{path.name}: the audio file holds no samples")
            wanted = min(total, int(max_seconds * rate))
            handle.seek((total - wanted) // 2)
            data = handle.read(wanted, dtype="float32", always_2d=True)
    except ReferenceError:
        raise
    except (RuntimeError, OSError, ValueError) as exc:  # soundfile's LibsndfileError is a RuntimeError
        raise ReferenceError(f"{path.name}: cannot read this audio file ({exc})") from None
    if data.shape[0] == 0:
        raise ReferenceError(f"{path.name}: the audio file holds no samples")
    if not np.isfinite(data).all():
        raise ReferenceError(f"{path.name}: the audio holds NaN or infinite samples")
    return ReferenceAudio(np.ascontiguousarray(data.T), int(rate), total / rate, path.name)


def preview_of(audio: np.ndarray, points: int = PREVIEW_POINTS) -> np.ndarray:
    """``[points, 2]`` float32 min/max of the channel mean over equal slices (zeros when empty)."""
    mono = np.asarray(audio, dtype=np.float32).mean(axis=0)
    out = np.zeros((points, 2), dtype=np.float32)
    if mono.size == 0:
        return out
    edges = np.linspace(0, mono.size, points + 1).astype(int)
    for i in range(points):
        piece = mono[edges[i]:max(edges[i + 1], edges[i] + 1)]
        out[i] = (piece.min(), piece.max())
    return out


class EmbeddingCache:
    """Embeddings on disk, keyed by file hash and embedder name (safetensors; never pickle)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _path(self, sha256: str, embedder: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", embedder)
        return self.folder / f"{sha256}.{safe}.safetensors"

    def get(self, sha256: str, embedder: str) -> np.ndarray | None:
        path = self._path(sha256, embedder)
        if not path.is_file():
            return None
        try:
            vector = safetensors.numpy.load_file(str(path))["vector"]
            return check_vector(vector, embedder)
        except Exception as exc:  # a damaged entry is only a cache miss
            log.warning("ignoring damaged cache entry %s (%s)", path, exc)
            return None

    def put(self, sha256: str, embedder: str, vector: np.ndarray) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            os.close(fd)
            safetensors.numpy.save_file({"vector": np.asarray(vector, dtype=np.float32)}, tmp,
                                        metadata={"embedder": embedder})
            os.replace(tmp, self._path(sha256, embedder))
        except OSError as exc:  # a read-only cache must not stop the user
            log.warning("cannot cache the reference embedding in %s (%s)", self.folder, exc)


def default_cache_folder() -> Path:
    """``$HEARTMULA_CACHE`` or ``~/.cache/heartmula-editor``, plus ``/references``."""
    root = os.environ.get("HEARTMULA_CACHE") or Path.home() / ".cache" / "heartmula-editor"
    return Path(root) / "references"


def embed_reference_file(path: str | Path, embedder: ReferenceEmbedder,
                         cache: EmbeddingCache | None = None) -> EmbeddedReference:
    """Read, hash, embed (or take from ``cache``) the reference track at ``path``."""
    path = Path(path)
    clip = read_reference_audio(path)
    sha = file_sha256(path)
    vector = cache.get(sha, embedder.name) if cache is not None else None
    if vector is None:
        vector = check_vector(embedder.embed(clip.audio, clip.sample_rate), embedder.name)
        if cache is not None:
            cache.put(sha, embedder.name, vector)
    else:
        log.info("reference %s: embedding from the cache", path.name)
    assert vector.shape == (REFERENCE_DIM,)
    return EmbeddedReference(vector, embedder.name, clip.name, sha, clip.seconds, preview_of(clip.audio))
