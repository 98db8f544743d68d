"""Choose the codec implementation from ``<codec folder>/config.json``'s ``model_type``.

- ``"heartcodec"``: the official HeartCodec (flow matching + scalar decoder).
- ``"heartmula_demo_codec"``: the built-in demo model's synthesizer codec.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import read_json
from ..errors import ConfigError
from .base import Codec

KNOWN_CODECS = ("heartcodec", "heartmula_demo_codec")


def load_codec(folder: Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Codec:
    """Load the codec in ``folder`` on ``device`` (weights cast to ``dtype``)."""
    config_path = Path(folder) / "config.json"
    model_type = read_json(config_path, "codec config.json").get("model_type", "heartcodec")
    if model_type == "heartcodec":
        from .heartcodec import load_heartcodec

        return load_heartcodec(Path(folder), device=device, dtype=dtype)
    if model_type == "heartmula_demo_codec":
        from ..demo.codec import load_demo_codec

        return load_demo_codec(Path(folder))
    raise ConfigError(f"{config_path}: unknown codec model_type {model_type!r}; known: {', '.join(KNOWN_CODECS)}")
