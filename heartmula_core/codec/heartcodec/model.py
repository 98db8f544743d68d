"""HeartCodec as a :class:`~heartmula_core.codec.base.Codec`: frames ``[T, 8]`` -> stereo 48 kHz audio.

Decoding follows the reference detokenize (spec §4.4) window by window: tile-pad the frames, decode
each 372-frame window by flow matching (one noise tensor ``[1, 744, latent_dim]`` per window, drawn in
window order from the caller's generator, so equal seeds give equal audio) and the scalar decoder,
cross-fade 199,680 samples between windows, trim to ``int(T / 12.5 * 48000)``.

Decisions:

- **Quirk fixed.** Padding uses the 52-frame code overlap, so the final 52 frames are never dropped
  (the reference loses them when T >= 424 and T % 320 == 104); see :mod:`.windows`.
- **Ids >= codebook_size.** Token 8192 (and any id outside 0..codebook_size-1) never reaches the
  codec: the generator masks such ids at sampling. The codec rejects them with FramesError instead
  of clamping silently (the reference would index out of range).
- **Lead-in (optional, ``lead_in=`` of :meth:`HeartCodec.decode` and :meth:`HeartCodec.stream`).**
  With the reference windows a stream is silent until 372 frames (29.76 s of music) exist. With
  ``lead_in = n`` (53..372; 64 suggested) the windows are ``[0, n)``, then 2n, 4n, ... frames long,
  capped at 372, each starting 52 frames before the previous one ends (:func:`.windows.plan_lead_in`),
  so the first audio needs only n frames: about a second after generation starts on a GPU (64 frames
  at the generator's rate plus one short decode). Everything else is unchanged: each window draws its
  own noise ``[1, 2L, latent_dim]`` for its length L, in window order; the estimator (RoPE + convs,
  length-agnostic) runs on the window's 2L latent frames; the last 104 latent frames of each window
  are carried into the next as in-context latent; the 199,680-sample cross-fade is the same. The audio
  is *not* that of the reference windows (different boundaries, noise shapes and carried context),
  so ``decode(frames, g, lead_in=n)`` differs from ``decode(frames, g)``; it is what a lead-in stream
  produces. ``lead_in=None`` (the default) is the reference schedule, bit for bit.
- **Streaming.** A window is decoded as soon as all of its frames have been pushed (372 for the
  reference schedule, ``end`` of its span with a lead-in): it then holds only real frames, and later
  padding only appends after the last real frame, so the window cannot change; the schedule does not
  depend on T, so the window is also part of the final plan. Its audio is final up to where the next
  window's cross-fade begins; the last 199,680 samples wait for the next window or :meth:`flush`.
  Everything a stream returns concatenates to exactly :meth:`HeartCodec.decode` of the same frames
  with an equally seeded generator and the same ``lead_in``.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

import torch

from ...errors import FramesError
from ..base import Codec, StreamDecoder
from .config import HeartCodecConfig
from .flow import GUIDANCE_SCALE, NUM_STEPS
from .graphed import WindowGraphs
from .network import HeartCodecNetwork
from .windows import (CODE_RATE_HZ, LATENT_OVERLAP, LATENT_PER_CODE, LATENT_WINDOW, check_lead_in, crossfade,
                      crossfade_weights, first_span, next_span, pad_frames, plan_spans, span_end, target_samples)

logger = logging.getLogger(__name__)


@contextmanager
def tf32_matmuls(enabled: bool):
    """Let CUDA fp32 matmuls use TF32 inside the block only (the flag is process-wide, so it is
    restored on exit). Measured on an H100 with the full codec: 16.3x -> 43.0x real time, audio
    within 0.46% relative RMS of plain fp32 (bf16 weights: 45.5x, 2.1%)."""
    if not enabled:
        yield
        return
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


class HeartCodec(Codec):
    """Decode HeartMuLa frames with a loaded :class:`HeartCodecNetwork`.

    ``network`` must already hold its weights on ``device`` in ``dtype`` (see ``load_heartcodec`` and
    ``random_heartcodec``). Audio is always returned as float32 on CPU.
    """

    channels = 2
    frame_rate = CODE_RATE_HZ
    token_family = "heartcodec"

    def __init__(self, network: HeartCodecNetwork, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32):
        self.network = network.eval()
        self.config: HeartCodecConfig = network.config
        self.device = torch.device(device)
        self.dtype = dtype
        #: run fp32 matmuls as TF32 on CUDA (see :func:`tf32_matmuls`); set by the loader's caller
        self.allow_tf32 = False
        #: on CUDA, replay each window as a captured graph (see :mod:`.graphed`)
        self.use_cuda_graphs = True
        self.window_graphs = WindowGraphs()
        self.sample_rate = self.config.sample_rate
        self.num_codebooks = self.config.num_quantizers
        self.codebook_size = self.config.codebook_size
        self.num_steps = NUM_STEPS
        self.guidance_scale = GUIDANCE_SCALE
        spl = self.config.samples_per_latent
        self.window_samples = LATENT_WINDOW * spl  # 1,428,480
        self.overlap_samples = LATENT_OVERLAP * spl  # 199,680
        self.hop_samples = self.window_samples - self.overlap_samples  # 1,228,800
        self.samples_per_frame = LATENT_PER_CODE * spl  # 3,840 per code frame
        self.fade_in = crossfade_weights(self.overlap_samples)  # [overlap_samples], 0 -> 1

    def samples_for(self, num_frames: int) -> int:
        return target_samples(num_frames, self.sample_rate)

    def draw_noise(self, generator: torch.Generator | None, latent_frames: int = LATENT_WINDOW) -> torch.Tensor:
        """One window's initial noise ``[1, latent_frames, latent_dim]`` float32 on the codec device
        (744 latent frames for a reference window).

        Drawn on the generator's device (CPU for a CPU generator or None), then moved.
        """
        where = generator.device if generator is not None else torch.device("cpu")
        noise = torch.randn((1, latent_frames, self.config.latent_dim), generator=generator,
                            dtype=torch.float32, device=where)
        return noise.to(self.device)

    @torch.no_grad()
    def decode_window(self, codes: torch.Tensor, previous: torch.Tensor | None,
                      generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """codes ``[L, Q]`` int64 CPU -> (latent ``[1, 2L, latent_dim]`` f32 on device, audio
        ``[2, 2L * samples_per_latent]`` f32 CPU); L = 372 gives ``[1, 744, latent_dim]`` and ``[2, 1428480]``.
        ``previous`` is the preceding window's latent or None for the first window."""
        noise = self.draw_noise(generator, codes.shape[0] * LATENT_PER_CODE)
        with tf32_matmuls(self.allow_tf32 and self.device.type == "cuda"):
            if self.use_cuda_graphs and self.device.type == "cuda":
                window = self.window_graphs.get(self.network, codes.shape[0], previous is not None,
                                                self.num_steps, self.guidance_scale, self.device, self.allow_tf32)
                return window(codes.to(self.device), noise, previous)
            latent = self.network.window_latent(codes.to(self.device), noise, previous, self.num_steps,
                                                self.guidance_scale)
            audio = self.network.latent_to_audio(latent).cpu()
        return latent, audio

    def decode(self, frames: torch.Tensor, generator: torch.Generator | None = None,
               lead_in: int | None = None) -> torch.Tensor:
        """Frames ``[T, Q]`` int -> audio ``[2, samples_for(T)]`` float32 CPU.

        ``lead_in``: None for the reference windows, or the first window's length in code frames
        (53..372) for the lead-in schedule that :meth:`stream` with the same ``lead_in`` follows.
        """
        if lead_in is not None:
            check_lead_in(lead_in)
        frames = self.check_frames(frames)
        num_frames = frames.shape[0]
        padded_len, spans = plan_spans(num_frames, lead_in)
        padded = pad_frames(frames, padded_len)
        out = torch.empty(2, padded_len * self.samples_per_frame)
        latent = None
        logger.debug("decoding %d frames in %d window(s), lead_in %s", num_frames, len(spans), lead_in)
        for index, (start, length) in enumerate(spans):
            latent, audio = self.decode_window(padded[start:start + length], latent, generator)
            self._place(out, start * self.samples_per_frame, audio, first=index == 0)
        return out[:, : self.samples_for(num_frames)].contiguous()

    def _place(self, out: torch.Tensor, pos: int, audio: torch.Tensor, first: bool) -> None:
        """Overlap-add a window's audio ``[2, n]`` into ``out`` ``[2, total]`` at sample ``pos``."""
        ovl, end = self.overlap_samples, pos + audio.shape[1]
        if first:
            out[:, pos:end] = audio
            return
        out[:, pos:pos + ovl] = crossfade(out[:, pos:pos + ovl], audio[:, :ovl], self.fade_in)
        out[:, pos + ovl:end] = audio[:, ovl:]

    def stream(self, generator: torch.Generator | None = None, lead_in: int | None = None) -> "HeartCodecStream":
        """A stream following the reference windows (``lead_in`` None) or the lead-in schedule."""
        return HeartCodecStream(self, generator, lead_in)


class HeartCodecStream(StreamDecoder):
    """Incremental decoding; see the module docstring for when audio becomes final."""

    def __init__(self, codec: HeartCodec, generator: torch.Generator | None, lead_in: int | None = None):
        self._codec = codec
        self._generator = generator
        self._lead_in = lead_in
        self._span = first_span(lead_in)  # (start, length) of the next window to decode
        self._chunks: list[torch.Tensor] = []
        self._count = 0
        self._next_window = 0
        self._latent: torch.Tensor | None = None
        self._pending: torch.Tensor | None = None  # last overlap_samples of the output, not yet final
        self._emitted = 0
        self._closed = False

    def _frames(self) -> torch.Tensor:
        if len(self._chunks) > 1:
            self._chunks = [torch.cat(self._chunks)]
        return self._chunks[0]

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        """Add frames ``[n, Q]``; return newly final audio ``[2, s]`` float32 CPU (s may be 0)."""
        self._check_open()
        frames = self._codec.check_frames(frames, allow_empty=True)
        if frames.shape[0]:
            self._chunks.append(frames)
            self._count += frames.shape[0]
        pieces = [torch.zeros(2, 0)]
        while self._count >= span_end(self._span):
            pieces.append(self._advance(self._frames()))
        return torch.cat(pieces, dim=1)

    def flush(self) -> torch.Tensor:
        """Pad, decode the remaining windows and return the rest ``[2, s]``, trimmed to samples_for(T)."""
        self._check_open()
        self._closed = True
        if self._count == 0:
            raise FramesError("no frames were pushed before flush(); need at least 1 frame")
        rest = self._codec.samples_for(self._count) - self._emitted
        padded_len, spans = plan_spans(self._count, self._lead_in)
        padded = pad_frames(self._frames(), padded_len)
        pieces = []
        while self._next_window < len(spans):
            pieces.append(self._advance(padded))
        pieces.append(self._pending)
        return torch.cat(pieces, dim=1)[:, :rest].contiguous()

    def _advance(self, frames: torch.Tensor) -> torch.Tensor:
        """Decode the next window from ``frames`` ``[>= end, Q]``; return the audio that became final."""
        codec, index = self._codec, self._next_window
        start, length = self._span
        self._latent, audio = codec.decode_window(frames[start:start + length], self._latent, self._generator)
        ovl = codec.overlap_samples
        if self._pending is not None:
            audio = torch.cat((crossfade(self._pending, audio[:, :ovl], codec.fade_in), audio[:, ovl:]), dim=1)
        self._pending = audio[:, -ovl:]
        final = audio[:, :-ovl]
        self._emitted += final.shape[1]
        self._next_window += 1
        self._span = next_span(self._span)
        logger.debug("stream: window %d decoded, %d samples final", index, self._emitted)
        return final

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this HeartCodec stream was already flushed")
