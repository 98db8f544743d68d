"""The demo codec: musical-event frames to 48 kHz stereo through a deterministic synthesizer.

Token layout: :mod:`.vocab`; synthesis: :mod:`.synth` and :mod:`.renderer`. The codec renders in
blocks of ``block_frames`` frames counted from the start of the song; :meth:`DemoCodec.decode`
and a :class:`DemoStreamDecoder` run the same blocks, so a stream's concatenated output equals
``decode`` bit for bit, whatever the sizes of the pushed chunks. A stream holds back at most
``block_frames - 1`` frames until more arrive or :meth:`~DemoStreamDecoder.flush`.

The codec folder holds one ``config.json`` (:func:`write_demo_codec_folder`) with
``"model_type": "heartmula_demo_codec"``; :func:`load_demo_codec` reads it back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..codec.base import Codec, StreamDecoder
from ..config import read_json
from ..errors import ConfigError
from . import vocab
from .renderer import BlockRenderer

MODEL_TYPE = "heartmula_demo_codec"
DEFAULT_BLOCK_FRAMES = 4


class DemoCodec(Codec):
    """Codec of the built-in demo model (see the module docstring).

    ``layout`` is the token layout of the model's frames (:data:`.vocab.LAYOUT_ORDERS`; the
    current one by default); frames of an older layout are reordered to the current one on the
    way in (:meth:`canonical`). ``codebook_sizes[k]`` is the number of valid ids of the model's
    codebook ``k``; ``codebook_size`` is the largest of them. ``echo`` scales the short stereo
    echo (0 switches it off).
    """

    sample_rate = vocab.SAMPLE_RATE
    channels = 2
    frame_rate = vocab.FRAME_RATE
    num_codebooks = vocab.NUM_CODEBOOKS
    codebook_size = max(vocab.CODEBOOK_SIZES)

    def __init__(self, block_frames: int = DEFAULT_BLOCK_FRAMES, echo: float = 1.0,
                 layout: str = vocab.LAYOUT_NAME) -> None:
        if int(block_frames) != block_frames or block_frames < 1:
            raise ValueError(f"block_frames must be a positive integer, got {block_frames!r}")
        if not 0.0 <= echo <= 2.0:
            raise ValueError(f"echo must lie in 0..2, got {echo!r}")
        if layout not in vocab.LAYOUT_ORDERS:
            raise ValueError(f"unknown demo token layout {layout!r}; known: {sorted(vocab.LAYOUT_ORDERS)}")
        self.block_frames = int(block_frames)
        self.echo = float(echo)
        self.layout = layout

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        return tuple(vocab.CODEBOOK_SIZES[k] for k in vocab.LAYOUT_ORDERS[self.layout])

    @property
    def token_space(self) -> str:
        """``heartmula-demo/<layout>``: layouts order the same events differently."""
        return f"heartmula-demo/{self.layout}"

    def canonical(self, frames: torch.Tensor | np.ndarray) -> np.ndarray:
        """The model's frames ``[T, 8]`` checked (:meth:`Codec.check_frames`) and put in the current
        layout of :mod:`.vocab`, as int64 numpy; what the renderer and the analysis read."""
        return vocab.from_layout(self.check_frames(frames, allow_empty=True).numpy(), self.layout)

    def decode(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Frames ``[T, 8]`` int -> audio ``[2, T * 3840]`` float32; ``generator`` is not used."""
        stream = self.stream(generator)
        return torch.cat([stream.push(frames), stream.flush()], dim=1)

    def transcribe(self, frames: torch.Tensor | np.ndarray) -> dict:
        """What the frames ``[T, 8]`` sing, read back exactly (the editor's alignment uses it).

        ``{"sung": bool [T], "sections": [(kind, start, end), ...]}``: frames inside a sung
        syllable, and the sections of the section codebook in order (frames).
        """
        from .analysis import analyze_frames

        analysis = analyze_frames(self.canonical(frames))
        sung = np.zeros(len(frames), dtype=bool)
        for start, end in analysis["token_frames"]:
            sung[start:end] = True
        return {"sung": sung, "sections": [(s["kind"], s["start"], s["end"]) for s in analysis["sections"]]}

    def frames_per_bar(self, frames: torch.Tensor | np.ndarray) -> int | None:
        """Frames in one bar of this song (from the beat codebook), None when it has no beat."""
        from .analysis import analyze_frames

        fpb = analyze_frames(self.canonical(frames))["frames_per_beat"]
        return 4 * fpb if fpb else None

    def stream(self, generator: torch.Generator | None = None, lead_in: int | None = None) -> DemoStreamDecoder:
        """A new streaming decoder (deterministic; ``generator`` and ``lead_in`` are not used: audio
        is final frame block by frame block anyway)."""
        return DemoStreamDecoder(self)

    def config(self) -> dict[str, Any]:
        """The ``config.json`` content describing this codec."""
        return {
            "model_type": MODEL_TYPE,
            "token_layout": self.layout,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "frame_rate": self.frame_rate,
            "num_codebooks": self.num_codebooks,
            "codebook_sizes": list(self.codebook_sizes),
            "block_frames": self.block_frames,
            "echo": self.echo,
        }


class DemoStreamDecoder(StreamDecoder):
    """Streaming decoder of a :class:`DemoCodec`: renders every complete block as it arrives."""

    def __init__(self, codec: DemoCodec) -> None:
        self._block = codec.block_frames
        self._canonical = codec.canonical
        self._renderer = BlockRenderer(echo=codec.echo)
        self._pending = np.zeros((0, vocab.NUM_CODEBOOKS), dtype=np.int64)
        self._closed = False

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        """Add frames ``[n, 8]``; return the audio of every block completed so far."""
        if self._closed:
            raise RuntimeError("push() after flush(): this stream has ended")
        self._pending = np.concatenate([self._pending, self._canonical(frames)])
        whole = len(self._pending) // self._block * self._block
        ready, self._pending = self._pending[:whole], self._pending[whole:]
        return self._render(ready)

    def flush(self) -> torch.Tensor:
        """Render the frames held back (a last, shorter block) and end the stream."""
        if self._closed:
            raise RuntimeError("flush() called twice: this stream has ended")
        self._closed = True
        pending, self._pending = self._pending, self._pending[:0]
        return self._render(pending)  # fewer than block_frames frames: one last, shorter block

    def _render(self, frames: np.ndarray) -> torch.Tensor:
        audio = [self._renderer.render(frames[i:i + self._block]) for i in range(0, len(frames), self._block)]
        if not audio:
            return torch.zeros(2, 0)
        return torch.from_numpy(np.concatenate(audio, axis=1))


def write_demo_codec_folder(folder: Path | str, codec: DemoCodec | None = None) -> Path:
    """Write ``folder/config.json`` describing ``codec`` (default settings if None); return folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = (codec or DemoCodec()).config()
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return folder


def load_demo_codec(folder: Path | str) -> DemoCodec:
    """The :class:`DemoCodec` described by ``folder/config.json``; ConfigError when it does not fit."""
    path = Path(folder) / "config.json"
    config = read_json(path, "demo codec config.json")
    if config.get("model_type") != MODEL_TYPE:
        raise ConfigError(f"{path}: model_type must be {MODEL_TYPE!r}, found {config.get('model_type')!r}")
    layout = config.get("token_layout", vocab.LAYOUT_NAME)
    if layout not in vocab.LAYOUT_ORDERS:
        raise ConfigError(f"{path}: token_layout {layout!r} is not a demo codec layout; this version reads "
                          f"{', '.join(sorted(vocab.LAYOUT_ORDERS))}")
    expected = DemoCodec(layout=layout).config()
    for key in ("sample_rate", "channels", "frame_rate", "num_codebooks", "codebook_sizes"):
        if key in config and config[key] != expected[key]:
            raise ConfigError(f"{path}: {key} is {config[key]!r}, but this demo codec has {expected[key]!r}")
    block_frames = config.get("block_frames", DEFAULT_BLOCK_FRAMES)
    echo = config.get("echo", 1.0)
    if not isinstance(block_frames, int) or isinstance(block_frames, bool) or block_frames < 1:
        raise ConfigError(f"{path}: block_frames must be a positive integer, found {block_frames!r}")
    if not isinstance(echo, (int, float)) or isinstance(echo, bool) or not 0.0 <= echo <= 2.0:
        raise ConfigError(f"{path}: echo must be a number in 0..2, found {echo!r}")
    return DemoCodec(block_frames=block_frames, echo=float(echo), layout=layout)
