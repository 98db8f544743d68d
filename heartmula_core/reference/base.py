"""What every reference embedder shares: the audio it is given, the vector it returns, errors.

A reference embedder turns audio ``[channels, samples]`` (float32, any sample rate) into one
``[512]`` float32 vector for the prompt's MuQ row (spec §5). Each embedder has a stable ``name``;
the name is stored with the embedding (in the cache and in song files), because vectors of
different embedders are not comparable.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import HeartMuLaError

REFERENCE_DIM = 512
"""Width of the MuQ row's input (``muq_dim`` of every HeartMuLa checkpoint)."""


class ReferenceError(HeartMuLaError):
    """Reference audio cannot be read or embedded, or no embedder is available for the model."""


@runtime_checkable
class ReferenceEmbedder(Protocol):
    """Audio -> one reference vector.

    ``name``: stable identifier stored with each embedding (e.g. ``"muq-mulan"``).
    ``embed(audio, sample_rate)``: ``audio [channels, samples]`` float32 in [-1, 1] ->
    ``[REFERENCE_DIM]`` float32, finite. Raises :class:`ReferenceError` for audio it cannot use
    (e.g. shorter than it needs).
    """

    name: str

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray: ...


def to_mono(audio: np.ndarray) -> np.ndarray:
    """``[channels, samples]`` or ``[samples]`` -> ``[samples]`` float64 (channel mean)."""
    data = np.asarray(audio, dtype=np.float64)
    if data.ndim == 2:
        return data.mean(axis=0)
    if data.ndim == 1:
        return data
    raise ReferenceError(f"reference audio must be [channels, samples], found shape {list(data.shape)}")


def check_vector(vector: np.ndarray, embedder: str) -> np.ndarray:
    """``vector`` as ``[REFERENCE_DIM]`` float32; ReferenceError if the shape or values are wrong."""
    out = np.asarray(vector, dtype=np.float32).reshape(-1)
    if out.shape != (REFERENCE_DIM,):
        raise ReferenceError(f"{embedder} returned a vector of shape {list(np.shape(vector))}, "
                             f"expected [{REFERENCE_DIM}]")
    if not np.isfinite(out).all():
        raise ReferenceError(f"{embedder} returned NaN or infinite values")
    return out
