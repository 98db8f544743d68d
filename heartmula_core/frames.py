"""Frames of token ids ``[T, K]`` (time-major, K codebooks) checked against per-codebook sizes.

One check shared by generation (the model's audio vocabulary), every codec (its codebooks) and the
editor (a song against the loaded model): each says what it checks in ``what`` and gets the same
one-line :class:`~heartmula_core.errors.FramesError` wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .errors import FramesError


@dataclass(frozen=True)
class OutOfRange:
    """The first id outside its codebook (frame-major order) and how many frames hold one."""

    frame: int
    codebook: int
    value: int
    size: int  # codebook ``codebook`` takes ``0 .. size - 1``
    frames: int

    def describe(self) -> str:
        return (f"frame {self.frame} codebook {self.codebook} holds {self.value}; "
                f"codebook {self.codebook} takes 0..{self.size - 1}")


def ids_out_of_range(frames: torch.Tensor | np.ndarray, sizes: Sequence[int]) -> OutOfRange | None:
    """The first id of integer ``frames [T, len(sizes)]`` outside ``0 .. sizes[k] - 1``, or None."""
    frames = _as_tensor(frames)
    bad = (frames < 0) | (frames >= torch.tensor(list(sizes), dtype=torch.int64, device=frames.device))
    if not bool(bad.any()):
        return None
    t, k = (int(i) for i in bad.nonzero()[0])
    return OutOfRange(t, k, int(frames[t, k]), int(sizes[k]), int(bad.any(dim=1).sum()))


def _as_tensor(frames: torch.Tensor | np.ndarray) -> torch.Tensor:
    """A tensor as it is; an integer numpy array as an int64 tensor (a copy: song frames are read-only)."""
    return frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.array(frames, dtype=np.int64))


def check_frames(frames: object, sizes: Sequence[int], what: str = "frames",
                 allow_empty: bool = True) -> torch.Tensor:
    """``frames`` (a tensor or numpy array ``[T, K]`` of integer ids, ``K = len(sizes)``) as int64 on
    its own device (numpy: CPU), after checking type, shape, dtype, emptiness and that codebook
    ``k`` holds ``0 .. sizes[k] - 1``; FramesError naming the first problem otherwise."""
    k_total = len(sizes)
    if isinstance(frames, np.ndarray):
        if not np.issubdtype(frames.dtype, np.integer):
            raise FramesError(f"{what} must hold integer ids, found dtype {frames.dtype}")
        frames = _as_tensor(frames)
    if not isinstance(frames, torch.Tensor):
        raise FramesError(f"{what} must be a torch.Tensor or numpy array [T, {k_total}], "
                          f"found {type(frames).__name__}")
    if frames.dim() != 2 or frames.shape[1] != k_total:
        hint = " (codebook-major? pass frames.T)" if frames.dim() == 2 and frames.shape[0] == k_total else ""
        raise FramesError(f"{what} must have shape [T, {k_total}], found {list(frames.shape)}{hint}")
    if frames.dtype.is_floating_point or frames.dtype.is_complex or frames.dtype == torch.bool:
        raise FramesError(f"{what} must hold integer ids, found dtype {frames.dtype}")
    if frames.shape[0] == 0 and not allow_empty:
        raise FramesError(f"{what} are empty; need at least 1 frame")
    frames = frames.long()
    problem = ids_out_of_range(frames, sizes)
    if problem is not None:
        raise FramesError(f"{what}: {problem.describe()}")
    return frames
