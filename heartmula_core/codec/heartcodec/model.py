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
- **Streaming.** A window is decoded as soon as all of its 372 frames have been pushed: it then holds
  only real frames, and later padding only appends after the last real frame, so the window cannot
  change. Its audio is final up to where the next window's cross-fade begins; the last 199,680
  samples wait for the next window or :meth:`flush`. Everything a stream returns concatenates to
  exactly :meth:`HeartCodec.decode` of the same frames with an equally seeded generator.
"""

from __future__ import annotations

import logging

import torch

from ...errors import FramesError
from ..base import Codec, StreamDecoder
from .config import HeartCodecConfig
from .flow import GUIDANCE_SCALE, NUM_STEPS
from .network import HeartCodecNetwork
from .windows import (CODE_HOP, CODE_RATE_HZ, CODE_WINDOW, LATENT_OVERLAP, LATENT_WINDOW, covered_samples,
                      crossfade, crossfade_weights, pad_frames, plan_windows, target_samples, window_ready)

logger = logging.getLogger(__name__)


def check_frames(frames: object, num_codebooks: int, codebook_size: int, allow_empty: bool = False) -> torch.Tensor:
    """Validate frames ``[T, K]`` and return them as int64 on CPU; FramesError with one line otherwise."""
    if not isinstance(frames, torch.Tensor):
        raise FramesError(f"frames must be a torch.Tensor [T, {num_codebooks}], got {type(frames).__name__}")
    if frames.dim() != 2 or frames.shape[1] != num_codebooks:
        hint = " (codebook-major? pass frames.T)" if frames.dim() == 2 and frames.shape[0] == num_codebooks else ""
        raise FramesError(f"frames must have shape [T, {num_codebooks}], got {list(frames.shape)}{hint}")
    if frames.dtype.is_floating_point or frames.dtype.is_complex or frames.dtype == torch.bool:
        raise FramesError(f"frames must hold integer code ids, got dtype {frames.dtype}")
    if frames.shape[0] == 0 and not allow_empty:
        raise FramesError("frames are empty; need at least 1 frame")
    frames = frames.detach().to("cpu", torch.int64)
    bad = (frames < 0) | (frames >= codebook_size)
    if bool(bad.any()):
        t, k = (int(i) for i in bad.nonzero()[0])
        raise FramesError(f"frame {t} codebook {k} holds {int(frames[t, k])}; "
                          f"valid codes are 0..{codebook_size - 1}")
    return frames


class HeartCodec(Codec):
    """Decode HeartMuLa frames with a loaded :class:`HeartCodecNetwork`.

    ``network`` must already hold its weights on ``device`` in ``dtype`` (see ``load_heartcodec`` and
    ``random_heartcodec``). Audio is always returned as float32 on CPU.
    """

    channels = 2
    frame_rate = CODE_RATE_HZ

    def __init__(self, network: HeartCodecNetwork, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32):
        self.network = network.eval()
        self.config: HeartCodecConfig = network.config
        self.device = torch.device(device)
        self.dtype = dtype
        self.sample_rate = self.config.sample_rate
        self.num_codebooks = self.config.num_quantizers
        self.codebook_size = self.config.codebook_size
        self.num_steps = NUM_STEPS
        self.guidance_scale = GUIDANCE_SCALE
        spl = self.config.samples_per_latent
        self.window_samples = LATENT_WINDOW * spl  # 1,428,480
        self.overlap_samples = LATENT_OVERLAP * spl  # 199,680
        self.hop_samples = self.window_samples - self.overlap_samples  # 1,228,800
        self.fade_in = crossfade_weights(self.overlap_samples)  # [overlap_samples], 0 -> 1

    def samples_for(self, num_frames: int) -> int:
        return target_samples(num_frames, self.sample_rate)

    def check_frames(self, frames: object, allow_empty: bool = False) -> torch.Tensor:
        """Frames ``[T, num_codebooks]`` as int64 CPU, or FramesError."""
        return check_frames(frames, self.num_codebooks, self.codebook_size, allow_empty)

    def draw_noise(self, generator: torch.Generator | None) -> torch.Tensor:
        """One window's initial noise ``[1, 744, latent_dim]`` float32 on the codec device.

        Drawn on the generator's device (CPU for a CPU generator or None), then moved.
        """
        where = generator.device if generator is not None else torch.device("cpu")
        noise = torch.randn((1, LATENT_WINDOW, self.config.latent_dim), generator=generator,
                            dtype=torch.float32, device=where)
        return noise.to(self.device)

    @torch.no_grad()
    def decode_window(self, codes: torch.Tensor, previous: torch.Tensor | None,
                      generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """codes ``[372, Q]`` int64 CPU -> (latent ``[1, 744, latent_dim]`` f32 on device, audio ``[2, 1428480]``
        f32 CPU). ``previous`` is the preceding window's latent or None for the first window."""
        noise = self.draw_noise(generator)
        latent = self.network.window_latent(codes.to(self.device), noise, previous, self.num_steps,
                                            self.guidance_scale)
        audio = self.network.latent_to_audio(latent).cpu()
        return latent, audio

    def decode(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Frames ``[T, Q]`` int -> audio ``[2, samples_for(T)]`` float32 CPU."""
        frames = self.check_frames(frames)
        num_frames = frames.shape[0]
        padded_len, starts = plan_windows(num_frames)
        padded = pad_frames(frames, padded_len)
        out = torch.empty(2, covered_samples(len(starts), self.config.samples_per_latent))
        latent = None
        logger.debug("decoding %d frames in %d window(s)", num_frames, len(starts))
        for index, start in enumerate(starts):
            latent, audio = self.decode_window(padded[start:start + CODE_WINDOW], latent, generator)
            self._place(out, index, audio)
        return out[:, : self.samples_for(num_frames)].contiguous()

    def _place(self, out: torch.Tensor, index: int, audio: torch.Tensor) -> None:
        """Overlap-add window ``index``'s audio ``[2, window_samples]`` into ``out`` ``[2, total]``."""
        pos, ovl = index * self.hop_samples, self.overlap_samples
        if index == 0:
            out[:, : self.window_samples] = audio
            return
        out[:, pos:pos + ovl] = crossfade(out[:, pos:pos + ovl], audio[:, :ovl], self.fade_in)
        out[:, pos + ovl:pos + self.window_samples] = audio[:, ovl:]

    def stream(self, generator: torch.Generator | None = None) -> "HeartCodecStream":
        return HeartCodecStream(self, generator)


class HeartCodecStream(StreamDecoder):
    """Incremental decoding; see the module docstring for when audio becomes final."""

    def __init__(self, codec: HeartCodec, generator: torch.Generator | None):
        self._codec = codec
        self._generator = generator
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
        while window_ready(self._next_window, self._count):
            pieces.append(self._advance(self._frames()))
        return torch.cat(pieces, dim=1)

    def flush(self) -> torch.Tensor:
        """Pad, decode the remaining windows and return the rest ``[2, s]``, trimmed to samples_for(T)."""
        self._check_open()
        self._closed = True
        if self._count == 0:
            raise FramesError("no frames were pushed before flush(); need at least 1 frame")
        rest = self._codec.samples_for(self._count) - self._emitted
        padded_len, starts = plan_windows(self._count)
        padded = pad_frames(self._frames(), padded_len)
        pieces = []
        while self._next_window < len(starts):
            pieces.append(self._advance(padded))
        pieces.append(self._pending)
        return torch.cat(pieces, dim=1)[:, :rest].contiguous()

    def _advance(self, frames: torch.Tensor) -> torch.Tensor:
        """Decode the next window from ``frames`` ``[>= end, Q]``; return the audio that became final."""
        codec, index = self._codec, self._next_window
        start = index * CODE_HOP
        self._latent, audio = codec.decode_window(frames[start:start + CODE_WINDOW], self._latent, self._generator)
        ovl = codec.overlap_samples
        if self._pending is not None:
            audio = torch.cat((crossfade(self._pending, audio[:, :ovl], codec.fade_in), audio[:, ovl:]), dim=1)
        self._pending = audio[:, -ovl:]
        final = audio[:, :-ovl]
        self._emitted += final.shape[1]
        self._next_window += 1
        logger.debug("stream: window %d decoded, %d samples final", index, self._emitted)
        return final

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this HeartCodec stream was already flushed")
