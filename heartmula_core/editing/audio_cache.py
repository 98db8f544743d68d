"""Decoded audio of a song, updated by re-decoding only what an edit changed.

After an edit, :meth:`AudioCache.render` compares the new frames with the cached ones, finds the
changed span (longest common prefix and suffix, so a span that grew or shrank is handled),
decodes that span plus ``context`` frames of codec context before it and ``tail`` frames after
it, and splices the result into the cached audio with short equal-power crossfades at both joins.
A local edit never re-decodes the whole song.

The codec sees the span without the music before its context, so the first ``context`` frames of
the decoded piece are discarded: codecs with memory (HeartCodec's in-context latent carry, the
demo synthesizer's echo tails) are warmed up on real frames before the audio that is kept.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

log = logging.getLogger(__name__)

CONTEXT_FRAMES = 32  # 2.56 s at 12.5 frames/s, longer than the demo synth's 2 s tails
TAIL_FRAMES = 12
CROSSFADE_SECONDS = 0.02


def _common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    n = min(len(a), len(b))
    diff = np.flatnonzero((a[:n] != b[:n]).any(axis=1))
    return int(diff[0]) if len(diff) else n


class AudioCache:
    """Holds ``frames [T, K]`` and their audio ``[C, T * samples_per_frame]`` float32."""

    def __init__(self, codec, *, seed: int = 0, context: int = CONTEXT_FRAMES, tail: int = TAIL_FRAMES) -> None:
        self.codec = codec
        self.seed = seed
        self.context = context
        self.tail = tail
        self.frames: np.ndarray | None = None
        self.audio: np.ndarray | None = None
        self.last_decoded: tuple[int, int] | None = None  # frames decoded by the last render

    @property
    def samples_per_frame(self) -> int:
        return int(round(self.codec.sample_rate / self.codec.frame_rate))

    def _decode(self, frames: np.ndarray) -> np.ndarray:
        if len(frames) == 0:
            return np.zeros((self.codec.channels, 0), np.float32)
        gen = torch.Generator().manual_seed(int(self.seed))
        return self.codec.decode(torch.tensor(frames, dtype=torch.long), generator=gen).numpy()

    def set(self, frames: np.ndarray, audio: np.ndarray) -> None:
        """Adopt already decoded audio (e.g. streamed during generation or loaded from a file)."""
        frames = np.array(frames, dtype=np.int64)
        if audio.shape[-1] != len(frames) * self.samples_per_frame:
            raise ValueError(f"audio has {audio.shape[-1]} samples for {len(frames)} frames")
        self.frames, self.audio = frames, np.array(audio, dtype=np.float32)

    def render(self, frames: np.ndarray) -> np.ndarray:
        """Audio for ``frames [T, K]``, re-decoding only the span that differs from the cache."""
        frames = np.array(frames, dtype=np.int64)
        old, audio = self.frames, self.audio
        if old is None or audio is None or old.shape[1:] != frames.shape[1:] or len(old) == 0 or len(frames) == 0:
            return self._full(frames)
        prefix = _common_prefix(old, frames)
        if prefix == len(old) == len(frames):
            self.last_decoded = None
            return audio
        suffix = _common_prefix(old[::-1][: len(old) - prefix], frames[::-1][: len(frames) - prefix])
        end_new, end_old = len(frames) - suffix, len(old) - suffix
        start = max(0, prefix - self.context)
        stop = min(len(frames), end_new + self.tail)
        if start == 0 and stop == len(frames):
            return self._full(frames)
        spf = self.samples_per_frame
        piece = self._decode(frames[start:stop])  # [C, (stop - start) * spf]
        keep_from = (prefix - start) * spf
        out = np.concatenate([audio[:, : prefix * spf], piece[:, keep_from:],
                              audio[:, (stop - end_new + end_old) * spf:]], axis=1)
        fade = max(1, int(CROSSFADE_SECONDS * self.codec.sample_rate))
        if prefix > 0 and keep_from >= fade:  # join 1: old audio -> new piece, ending at the change
            j = prefix * spf
            out[:, j - fade:j] = _crossfade(audio[:, j - fade:j], piece[:, keep_from - fade:keep_from])
        if stop < len(frames):  # join 2: new piece -> old audio, inside unchanged frames
            j = stop * spf
            j_old = (stop - end_new + end_old) * spf
            out[:, j - fade:j] = _crossfade(piece[:, -fade:], audio[:, j_old - fade:j_old])
        self.frames, self.audio, self.last_decoded = frames, out.astype(np.float32), (start, stop)
        log.debug("partial decode of frames %d:%d (changed %d:%d of %d)", start, stop, prefix, end_new, len(frames))
        return self.audio

    def _full(self, frames: np.ndarray) -> np.ndarray:
        self.frames, self.audio = frames, self._decode(frames)
        self.last_decoded = (0, len(frames))
        return self.audio


def _crossfade(outgoing: np.ndarray, incoming: np.ndarray) -> np.ndarray:
    """Equal-power crossfade of two equally long ``[C, n]`` pieces."""
    n = outgoing.shape[-1]
    t = (np.arange(n, dtype=np.float32) + 0.5) / n
    return outgoing * np.cos(t * np.pi / 2) + incoming * np.sin(t * np.pi / 2)
