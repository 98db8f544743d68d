"""A loaded checkpoint: model + codec + tokenizer + gen_config, and the headless song path.

:class:`Pipeline` owns the parts (like CSM's ``Generator``); the algorithms stay in
:mod:`heartmula_core.generation`. Nothing here prints or writes files: data in, data out,
frames streamed by iteration.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from .checkpoint import CheckpointPaths, load_heartmula, locate_checkpoint, resolve_device, resolve_dtype
from .codec.base import Codec
from .codec.on_demand import OnDemandCodec
from .codec.registry import load_codec
from .config import GenConfig
from .errors import CheckpointError
from .frontends import load_frontend
from .generation import Conditioning, generate_frames, score_frames, seed_generator
from .model.heartmula import HeartMuLa
from .prompt import Prompt, PromptTokenizer
from .sampling import SamplingSettings

log = logging.getLogger(__name__)

#: frames of the first, short codec window when streaming (~5 s of music; see HeartCodec.stream)
STREAM_LEAD_IN = 64
#: frames handed to the streaming codec at a time
STREAM_BLOCK = 16
MEMORY_MODES = ("normal", "low")


@dataclass
class Pipeline:
    """Everything needed to turn (tags, lyrics) into frames and frames into audio."""

    model: HeartMuLa
    codec: Codec
    tokenizer: PromptTokenizer
    gen_config: GenConfig
    paths: CheckpointPaths
    low_memory: bool = False

    @classmethod
    def load(cls, root: Path | str, *, device: str = "auto", dtype: str | None = None,
             codec_dtype: str = "auto", version: str = "3B", memory: str = "normal",
             compile_layers: bool | None = None) -> "Pipeline":
        """Validate and load a checkpoint root (see :mod:`heartmula_core.checkpoint`).

        ``codec_dtype``: "float32" (exact), "tf32" (fp32 weights, TF32 matmuls: 2.6x faster on an
        H100, within 0.5% of fp32), "bfloat16"; "auto" is tf32 on CUDA and float32 elsewhere.
        ``memory="low"`` (for 12–16 GB GPUs) keeps the codec's weights in CPU memory and moves them
        to the GPU only while decoding, after freeing HeartMuLa's KV caches; audio is then decoded
        after generation instead of streamed during it.
        ``compile_layers`` (default: on CUDA) ``torch.compile``s the single-token decode layers:
        about 27% more frames/s on an H100, paid for by a compile of several seconds at the first
        generation (see :meth:`warm_up`); if compiling fails, generation falls back to eager layers.
        """
        if memory not in MEMORY_MODES:
            raise CheckpointError(f"unknown memory mode {memory!r}; use {' or '.join(MEMORY_MODES)}")
        paths = locate_checkpoint(root, version)
        gen_config = GenConfig.from_file(paths.gen_config)
        dev = resolve_device(device)
        model = load_heartmula(paths.model_dir, dev, resolve_dtype(dtype, dev))
        gen_config.check_against(model.config, paths.gen_config)
        if dev.type == "cuda" and (compile_layers is None or compile_layers):
            model.compile_decode_layers()  # compiles lazily, at the first captured step
        low = memory == "low" and dev.type == "cuda"
        tf32 = codec_dtype == "tf32" or (codec_dtype == "auto" and dev.type == "cuda")
        codec_torch_dtype = torch.float32 if codec_dtype in ("tf32", "auto") else resolve_dtype(codec_dtype, dev)
        codec = load_codec(paths.codec_dir, "cpu" if low else dev, codec_torch_dtype)
        if tf32 and hasattr(codec, "allow_tf32"):
            codec.allow_tf32 = True
        if low and hasattr(codec, "network"):
            codec = OnDemandCodec(codec, dev, before_load=model.drop_caches)
        tokenizer = PromptTokenizer(paths.tokenizer, gen_config, load_frontend(paths.root))
        pipe = cls(model, codec, tokenizer, gen_config, paths, low_memory=low)
        pipe.check_compatible()
        return pipe

    def check_compatible(self) -> None:
        """The codec must read the model's frames."""
        cfg = self.model.config
        if self.codec.num_codebooks != cfg.audio_num_codebooks:
            raise CheckpointError(f"{self.paths.codec_dir}: codec reads {self.codec.num_codebooks} codebooks "
                                  f"but the model writes {cfg.audio_num_codebooks}")
        if self.codec.codebook_size > cfg.audio_vocab_size:
            raise CheckpointError(f"{self.paths.codec_dir}: codec has {self.codec.codebook_size} codes per "
                                  f"codebook but the model's audio vocabulary is {cfg.audio_vocab_size}")

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def frame_rate(self) -> float:
        return self.codec.frame_rate

    def frames_for_seconds(self, seconds: float) -> int:
        """Number of frames for ``seconds`` of audio (80 ms each officially)."""
        return max(1, int(round(seconds * self.codec.frame_rate)))

    def encode_prompt(self, tags: str, lyrics: str) -> Prompt:
        """Tags + lyrics -> :class:`Prompt` (PromptError when longer than the context)."""
        return self.tokenizer.encode(tags, lyrics, max_tokens=self.model.config.backbone.max_seq_len - 1)

    def conditioning(self, prompt: Prompt, muq_embed: torch.Tensor | None = None) -> Conditioning:
        return Conditioning(tuple(prompt.tokens), prompt.muq_index, muq_embed)

    def warm_up(self, prompt: Prompt, *, max_frames: int, settings: SamplingSettings) -> float:
        """Capture (and, with compiled layers, compile) the CUDA frame step for a request of this
        prompt length and ``max_frames``; returns the seconds it took. Later generations with the
        same settings and capacity bucket reuse it. A no-op returning 0.0 off CUDA.
        """
        if self.device.type != "cuda":
            return 0.0
        torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        for _ in self.generate(prompt, max_frames=max_frames, settings=settings, seed=0, stop_at_eos=False):
            break  # the first block needs the captured step
        torch.cuda.synchronize(self.device)
        return time.perf_counter() - start

    def generate(self, prompt: Prompt, *, max_frames: int, settings: SamplingSettings, seed: int,
                 stop_at_eos: bool = True, muq_embed: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
        """Yield frames ``[K]`` int64 (on the model device) until EOS or ``max_frames``."""
        frames = generate_frames(
            self.model, self.conditioning(prompt, muq_embed), max_frames=max_frames, settings=settings,
            eos_id=self.gen_config.audio_eos_id, num_codes=self.codec.codebook_sizes,
            generator=seed_generator(seed, self.device), stop_at_eos=stop_at_eos)
        for frame in frames:
            yield frame[0]

    def generate_audio(self, prompt: Prompt, *, max_frames: int, settings: SamplingSettings, seed: int,
                       stop_at_eos: bool = True, muq_embed: torch.Tensor | None = None,
                       lead_in: int | None = STREAM_LEAD_IN) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Generate and decode together: yield ``(new frames [n, K], new audio [C, s])`` on the CPU.

        Frames go to the codec's stream in blocks of :data:`STREAM_BLOCK`; audio arrives as soon as
        the codec has final samples (with ``lead_in``, after the first ~5 s of frames). In the
        low-memory mode the song is decoded once generation ends.
        """
        frames = self.generate(prompt, max_frames=max_frames, settings=settings, seed=seed,
                               stop_at_eos=stop_at_eos, muq_embed=muq_embed)
        k_total = self.model.config.audio_num_codebooks
        if self.low_memory:
            song = torch.stack([f.cpu() for f in frames]) if max_frames else torch.zeros(0, k_total, dtype=torch.long)
            yield song, self.decode(song, seed=seed)
            return
        stream = self.codec.stream(torch.Generator().manual_seed(int(seed)), lead_in=lead_in)
        block: list[torch.Tensor] = []
        for frame in frames:
            block.append(frame.cpu())
            if len(block) == STREAM_BLOCK:
                chunk = torch.stack(block)
                block = []
                yield chunk, stream.push(chunk)
        chunk = torch.stack(block) if block else torch.zeros(0, k_total, dtype=torch.long)
        audio = stream.push(chunk) if block else torch.zeros(self.codec.channels, 0)
        yield chunk, torch.cat([audio, stream.flush()], dim=1)

    def score(self, prompt: Prompt, frames: torch.Tensor, *, cfg_scale: float = 1.5,
              muq_embed: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced log-likelihood per frame ``[T]`` (see :func:`score_frames`)."""
        return score_frames(self.model, self.conditioning(prompt, muq_embed), frames, cfg_scale=cfg_scale)

    def decode(self, frames: torch.Tensor, seed: int | None = 0) -> torch.Tensor:
        """Frames ``[T, K]`` -> audio ``[channels, samples]`` float32; ``seed`` fixes the codec noise."""
        gen = None
        if seed is not None:
            gen = torch.Generator().manual_seed(int(seed))
        return self.codec.decode(frames.cpu(), generator=gen)
