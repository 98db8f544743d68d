"""Low-memory mode: a codec whose weights live in CPU memory and visit the GPU only to decode.

HeartMuLa (bf16, ~7.9 GB) and HeartCodec (fp32, ~6.6 GB) together need ~18 GB of GPU memory at
peak; a 12–16 GB card cannot hold both. :class:`OnDemandCodec` keeps the codec network on the CPU
and moves it to the GPU for the duration of one :meth:`decode` (or one stream, until ``flush``),
then back. The cost is two host<->device copies of the codec weights per decode (measured by
``benchmarks/gpu_bench.py --low-memory``).
"""

from __future__ import annotations

import logging

import torch

from .base import Codec, StreamDecoder

log = logging.getLogger(__name__)


class OnDemandCodec(Codec):
    """Wraps a codec with a ``network`` module and a ``device`` attribute (HeartCodec)."""

    def __init__(self, codec: Codec, device: torch.device | str, before_load=None):
        self.inner = codec
        self.target = torch.device(device)
        self.before_load = before_load  # called before the weights move in (e.g. free KV caches)
        for name in ("sample_rate", "channels", "frame_rate", "num_codebooks", "codebook_size"):
            setattr(self, name, getattr(codec, name))
        if hasattr(codec, "use_cuda_graphs"):
            # captured windows would be re-captured after every move: more cost than gain here
            codec.use_cuda_graphs = False
        self._park()

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        return tuple(self.inner.codebook_sizes)

    @property
    def token_space(self) -> str:
        return self.inner.token_space

    def samples_for(self, num_frames: int) -> int:
        return self.inner.samples_for(num_frames)

    def _move(self, device: torch.device) -> None:
        graphs = getattr(self.inner, "window_graphs", None)
        if graphs is not None:
            graphs.clear()  # captured windows point at the old weight memory
        self.inner.network.to(device)
        self.inner.device = device

    def _park(self) -> None:
        self._move(torch.device("cpu"))
        if self.target.type == "cuda":
            torch.cuda.empty_cache()

    def _load(self) -> None:
        if self.before_load is not None:
            self.before_load()
        self._move(self.target)

    def decode(self, frames: torch.Tensor, generator: torch.Generator | None = None, **options) -> torch.Tensor:
        self._load()
        try:
            return self.inner.decode(frames, generator, **options)
        finally:
            self._park()

    def stream(self, generator: torch.Generator | None = None, **options) -> StreamDecoder:
        self._load()
        return _OnDemandStream(self, self.inner.stream(generator, **options))


class _OnDemandStream(StreamDecoder):
    """Keeps the codec on the GPU until :meth:`flush`."""

    def __init__(self, owner: OnDemandCodec, inner: StreamDecoder):
        self.owner, self.inner = owner, inner

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        return self.inner.push(frames)

    def flush(self) -> torch.Tensor:
        try:
            return self.inner.flush()
        finally:
            self.owner._park()
