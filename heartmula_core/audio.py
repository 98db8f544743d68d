"""Audio file output through soundfile (libsndfile: WAV, FLAC, OGG/Vorbis, MP3)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from .errors import HeartMuLaError

log = logging.getLogger(__name__)

#: extension -> (libsndfile format, subtype)
FORMATS = {
    ".wav": ("WAV", "PCM_24"),
    ".flac": ("FLAC", "PCM_24"),
    ".ogg": ("OGG", "VORBIS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
}


def audio_format(path: Path) -> tuple[str, str]:
    """(format, subtype) for ``path``'s extension; HeartMuLaError for an unsupported one."""
    ext = Path(path).suffix.lower()
    if ext not in FORMATS:
        raise HeartMuLaError(f"cannot write {path}: unsupported extension {ext or '(none)'}; "
                             f"use {', '.join(FORMATS)}")
    return FORMATS[ext]


def write_audio(path: Path | str, audio: torch.Tensor | np.ndarray, sample_rate: int) -> None:
    """Write ``audio [channels, samples]`` float to ``path``; the format follows the extension.

    Samples beyond ±1 are clipped (and logged): integer and lossy formats cannot hold them.
    """
    path = Path(path)
    fmt, subtype = audio_format(path)
    data = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    if data.ndim != 2:
        raise HeartMuLaError(f"audio must be [channels, samples], found shape {list(data.shape)}")
    data = data.T.astype(np.float32)  # soundfile wants [samples, channels]
    if not np.isfinite(data).all():
        raise HeartMuLaError(f"cannot write {path}: the audio holds NaN or infinite samples")
    peak = float(np.abs(data).max()) if data.size else 0.0
    if peak > 1.0:
        log.warning("audio peak %.3f exceeds full scale; clipping while writing %s", peak, path)
        data = np.clip(data, -1.0, 1.0)
    if not path.parent.is_dir():
        raise HeartMuLaError(f"cannot write {path}: folder {path.parent} does not exist")
    try:
        sf.write(str(path), data, sample_rate, format=fmt, subtype=subtype)
    except (sf.LibsndfileError, OSError, RuntimeError) as exc:
        raise HeartMuLaError(f"cannot write {path}: {exc}") from None
