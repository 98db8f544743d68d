"""The codec interface: HeartMuLa frames ``[T, K]`` (int, K codebooks, 12.5 Hz) to stereo audio.

Every codec (HeartCodec, the built-in demo codec) implements :class:`Codec`. Frames are always
time-major ``[T, K]`` int64 tensors here; audio is ``[channels, samples]`` float32 at
``sample_rate``. Decoding may be stochastic (HeartCodec draws flow-matching noise); passing a
``torch.Generator`` makes it reproducible.

Streaming: :meth:`Codec.stream` returns a :class:`StreamDecoder`; ``push(frames)`` takes the next
frames and returns the audio that became final, ``flush()`` returns the rest. The concatenation of
everything a stream returns equals :meth:`Codec.decode` of all pushed frames given generators in
the same state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from ..frames import check_frames


class StreamDecoder(ABC):
    """Incremental decoder created by :meth:`Codec.stream`."""

    @abstractmethod
    def push(self, frames: torch.Tensor) -> torch.Tensor:
        """Add frames ``[n, K]`` int64; return newly final audio ``[channels, s]`` (``s`` may be 0)."""

    @abstractmethod
    def flush(self) -> torch.Tensor:
        """Decode whatever is pending; return the remaining audio ``[channels, s]``. Ends the stream."""


class Codec(ABC):
    """Frames to audio. Subclasses set the four attributes below."""

    sample_rate: int = 48_000
    channels: int = 2
    frame_rate: float = 12.5
    num_codebooks: int = 8
    #: valid code ids are ``0 .. codebook_size - 1``
    codebook_size: int = 8192

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        """Valid ids per codebook (``0 .. codebook_sizes[k] - 1``); the same for every codebook
        unless a codec says otherwise."""
        return (self.codebook_size,) * self.num_codebooks

    @property
    def token_space(self) -> str:
        """What this codec's ids mean, as a short stable name (e.g. ``heartcodec/8x8192``): two
        codecs with the same token space decode the same frames to the same music. Song files
        record it, so a song is never played through a codec that reads its ids otherwise."""
        sizes = self.codebook_sizes
        shape = f"{len(sizes)}x{sizes[0]}" if len(set(sizes)) == 1 else "-".join(map(str, sizes))
        return f"{self.token_family}/{shape}"

    #: the family part of :attr:`token_space` (subclasses name themselves)
    token_family: str = "codec"

    def check_frames(self, frames: object, allow_empty: bool = False) -> torch.Tensor:
        """``frames [T, num_codebooks]`` of this codec's ids as int64 on the CPU, or FramesError."""
        return check_frames(frames, self.codebook_sizes, "frames", allow_empty).cpu()

    def samples_for(self, num_frames: int) -> int:
        """Audio length for ``num_frames`` frames (``int(T / frame_rate * sample_rate)``)."""
        return int(num_frames / self.frame_rate * self.sample_rate)

    @abstractmethod
    def decode(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Frames ``[T, K]`` int64 -> audio ``[channels, samples_for(T)]`` float32 (on CPU)."""

    @abstractmethod
    def stream(self, generator: torch.Generator | None = None, lead_in: int | None = None) -> StreamDecoder:
        """A new streaming decoder.

        ``lead_in``: for windowed codecs, decode a short first window of this many frames (and
        growing windows after it) so audio starts sooner; the result then differs slightly from
        :meth:`decode` without it. Codecs that render frame by frame ignore it.
        """
