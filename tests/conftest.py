"""Shared fixtures: a tiny random HeartCodec and seeded random frames."""

from __future__ import annotations

import pytest
import torch

from heartmula_core.codec.heartcodec import random_heartcodec, tiny_config


@pytest.fixture(scope="session")
def codec():
    """A tiny random HeartCodec (official up-sampling, 8 x 8192 codebooks), built once."""
    return random_heartcodec(tiny_config(), seed=0)


def random_frames(num_frames: int, seed: int = 0) -> torch.Tensor:
    """Valid HeartCodec frames ``[num_frames, 8]`` int64 from a seeded generator."""
    return torch.randint(0, 8192, (num_frames, 8), generator=torch.Generator().manual_seed(seed))


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
