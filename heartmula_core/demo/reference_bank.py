"""Reference vectors for training the demo model to follow a reference track.

A training song with a reference gets the built-in embedder's vector
(:class:`heartmula_core.reference.AudioFeatureEmbedder`) of *another* rendered song that shares
its tempo (frames per beat) and mode; nothing else is shared (genre, key, instruments, energy,
voice, lyrics differ). So the model can only learn "reference tempo and mode -> song tempo and
mode", which is what a musician expects from dropping a track, and the vectors it sees in
training come from real rendered audio through the same code as at inference.

The bank holds :data:`CLIPS_PER_BUCKET` clips for each of the 7 tempos (4-10 frames per beat)
x 2 modes. Each clip is a song composed for tags ``"<genre>, <major|minor>, <bpm> bpm"`` (plus
a random instrument), rendered by the demo codec, cut to 10-30 s from a random place, and
embedded. Clip ``i`` depends only on ``(seed, i)``.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import safetensors.numpy

from ..reference.features import AudioFeatureEmbedder
from . import vocab
from .codec import DemoCodec
from .composer import compose
from .corpus import random_lyrics
from .tags import GENRES, INSTRUMENT_WORDS

log = logging.getLogger(__name__)

CLIPS_PER_BUCKET = 24
MODES = ("major", "minor")
FPBS = tuple(range(vocab.MIN_FPB, vocab.MAX_FPB + 1))


@dataclass(frozen=True)
class ReferenceBank:
    """``vectors [N, 512]`` float32 with each clip's ``fpb [N]`` and ``major [N]`` (bool)."""

    vectors: np.ndarray
    fpb: np.ndarray
    major: np.ndarray

    def bucket(self, fpb: int, major: bool) -> np.ndarray:
        """Indices of the clips with this tempo and mode."""
        return np.flatnonzero((self.fpb == fpb) & (self.major == major))

    def save(self, path: str | Path) -> None:
        safetensors.numpy.save_file({"vectors": self.vectors, "fpb": self.fpb.astype(np.int64),
                                     "major": self.major.astype(np.int64)}, str(path))

    @classmethod
    def load(cls, path: str | Path) -> ReferenceBank:
        data = safetensors.numpy.load_file(str(path))
        return cls(data["vectors"], data["fpb"], data["major"].astype(bool))


def clip_for(seed: int, index: int) -> tuple[int, bool, np.ndarray]:
    """Clip ``index``: ``(fpb, major, vector [512])`` (see the module docstring)."""
    fpb = FPBS[(index // len(MODES)) % len(FPBS)]
    mode = MODES[index % len(MODES)]
    rng = np.random.default_rng([seed, 7919, index])
    genre = list(GENRES)[int(rng.integers(len(GENRES)))]
    instrument = list(INSTRUMENT_WORDS)[int(rng.integers(len(INSTRUMENT_WORDS)))]
    bpm = vocab.bpm_of_fpb(fpb)
    song = compose(f"{genre}, {mode}, {instrument}, {bpm:.0f} bpm", random_lyrics(rng), rng)
    frames = song.frames
    length = min(len(frames), int(rng.uniform(10.0, 30.0) * vocab.FRAME_RATE))
    start = int(rng.integers(0, len(frames) - length + 1))
    audio = DemoCodec().decode(frames[start:start + length]).numpy()
    vector = AudioFeatureEmbedder().embed(audio, vocab.SAMPLE_RATE)
    return fpb, mode == "major", vector


def _clip(job: tuple[int, int]) -> tuple[int, bool, np.ndarray]:
    import torch

    torch.set_num_threads(1)
    return clip_for(*job)


def build_bank(seed: int = 0, clips_per_bucket: int = CLIPS_PER_BUCKET, workers: int = 1) -> ReferenceBank:
    """Render and embed ``clips_per_bucket`` clips for every (tempo, mode) bucket."""
    jobs = [(seed, i) for i in range(clips_per_bucket * len(FPBS) * len(MODES))]
    if workers <= 1:
        clips = list(map(_clip, jobs))
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            clips = list(pool.map(_clip, jobs, chunksize=4))
    return ReferenceBank(np.stack([c[2] for c in clips]).astype(np.float32),
                         np.array([c[0] for c in clips]), np.array([c[1] for c in clips]))
