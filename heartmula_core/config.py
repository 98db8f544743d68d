"""Typed configs read from the official checkpoint files.

- :class:`TransformerConfig`: hyper-parameters of one LLaMA-3.2 stack. The official checkpoints name
  a *flavor* (``"llama-3B"``, ``"llama-300M"``...) whose numbers live in :data:`FLAVORS`, not in the
  file (spec §2.2). A custom flavor may be written in config.json as an object with the fields of
  :data:`CUSTOM_FLAVOR_FIELDS` in place of the name.
- :class:`HeartMuLaConfig`: ``HeartMuLa-oss-3B/config.json`` (spec §2.1).
- :class:`GenConfig`: ``gen_config.json`` at the checkpoint root (spec §1.3).

Every failure is a :class:`~heartmula_core.errors.ConfigError` naming the file and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class TransformerConfig:
    """One transformer stack (backbone or local decoder).

    ``head_dim = embed_dim // num_heads``; query head ``h`` uses kv head
    ``h // (num_heads // num_kv_heads)``. RoPE uses llama3 scaling with ``scale_factor`` and the
    torchtune defaults low_freq_factor 1, high_freq_factor 4, old_context_len 8192.
    """

    num_layers: int
    num_heads: int
    num_kv_heads: int
    embed_dim: int
    intermediate_dim: int
    max_seq_len: int
    norm_eps: float = 1e-5
    rope_base: float = 500_000.0
    scale_factor: float = 32.0

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    def num_parameters(self) -> int:
        """Parameters of the stack (attention, MLP, norms), without embeddings or heads."""
        d, h = self.embed_dim, self.head_dim
        attn = d * d * 2 + 2 * d * self.num_kv_heads * h
        mlp = 3 * d * self.intermediate_dim
        return self.num_layers * (attn + mlp + 2 * d) + d


FLAVORS: dict[str, TransformerConfig] = {
    "llama-3B": TransformerConfig(28, 24, 8, 3072, 8192, 8192),
    "llama-300M": TransformerConfig(3, 8, 4, 3072, 8192, 2048),
    "llama-7B": TransformerConfig(32, 32, 8, 4096, 14336, 8192),
    "llama-400M": TransformerConfig(4, 8, 4, 3072, 8192, 2048),
}

CUSTOM_FLAVOR_FIELDS = (
    "num_layers", "num_heads", "num_kv_heads", "embed_dim", "intermediate_dim",
    "max_seq_len", "norm_eps", "rope_base", "scale_factor",
)


def read_json(path: Path, what: str) -> dict[str, Any]:
    """Read a JSON object from ``path``; ``what`` names the file's role in error messages."""
    if not path.is_file():
        raise ConfigError(f"missing {what}: {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {what} is not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: {what} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {what} must hold a JSON object, found {type(data).__name__}")
    return data


def _positive_int(path: Path, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{path}: '{key}' must be a positive integer, found {value!r}")
    return value


def _positive_float(path: Path, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{path}: '{key}' must be a positive number, found {value!r}")
    return float(value)


def parse_flavor(path: Path, key: str, value: Any) -> TransformerConfig:
    """A flavor name from :data:`FLAVORS`, or a custom flavor object with every field given."""
    if isinstance(value, str):
        if value not in FLAVORS:
            raise ConfigError(f"{path}: unknown '{key}' {value!r}; known flavors: {', '.join(FLAVORS)}"
                              " (or an object with the fields " + ", ".join(CUSTOM_FLAVOR_FIELDS) + ")")
        return FLAVORS[value]
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: '{key}' must be a flavor name or an object, found {value!r}")
    missing = [f for f in CUSTOM_FLAVOR_FIELDS if f not in value]
    unknown = sorted(set(value) - set(CUSTOM_FLAVOR_FIELDS))
    if missing or unknown:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unknown:
            parts.append("unknown " + ", ".join(unknown))
        raise ConfigError(f"{path}: custom '{key}' has {'; '.join(parts)}")
    ints = {f: _positive_int(path, f"{key}.{f}", value[f]) for f in CUSTOM_FLAVOR_FIELDS[:6]}
    floats = {f: _positive_float(path, f"{key}.{f}", value[f]) for f in CUSTOM_FLAVOR_FIELDS[6:]}
    cfg = TransformerConfig(**ints, **floats)
    if cfg.embed_dim % cfg.num_heads or cfg.num_heads % cfg.num_kv_heads:
        raise ConfigError(f"{path}: '{key}' needs embed_dim divisible by num_heads and num_heads by "
                          f"num_kv_heads, found {cfg.embed_dim}/{cfg.num_heads}/{cfg.num_kv_heads}")
    if cfg.head_dim % 2:
        raise ConfigError(f"{path}: '{key}' head_dim {cfg.head_dim} must be even for RoPE")
    return cfg


@dataclass(frozen=True)
class HeartMuLaConfig:
    """``HeartMuLa-oss-3B/config.json``; absent fields take the reference defaults (spec §2.1)."""

    backbone: TransformerConfig = FLAVORS["llama-3B"]
    decoder: TransformerConfig = FLAVORS["llama-300M"]
    text_vocab_size: int = 128256
    audio_vocab_size: int = 8197
    audio_num_codebooks: int = 8
    muq_dim: int = 512

    @classmethod
    def from_file(cls, path: Path) -> "HeartMuLaConfig":
        data = read_json(path, "HeartMuLa config.json")
        model_type = data.get("model_type", "heartmula")
        if model_type != "heartmula":
            raise ConfigError(f"{path}: model_type is {model_type!r}, expected 'heartmula'")
        kwargs: dict[str, Any] = {
            "backbone": parse_flavor(path, "backbone_flavor", data.get("backbone_flavor", "llama-3B")),
            "decoder": parse_flavor(path, "decoder_flavor", data.get("decoder_flavor", "llama-300M")),
        }
        for key in ("text_vocab_size", "audio_vocab_size", "audio_num_codebooks", "muq_dim"):
            if key in data:
                kwargs[key] = _positive_int(path, key, data[key])
        cfg = cls(**kwargs)
        if cfg.audio_num_codebooks < 2:
            raise ConfigError(f"{path}: audio_num_codebooks must be at least 2, found {cfg.audio_num_codebooks}")
        return cfg


@dataclass(frozen=True)
class GenConfig:
    """``gen_config.json`` (spec §1.3). Only these four keys are allowed, as in the reference."""

    text_bos_id: int = 128000
    text_eos_id: int = 128001
    audio_eos_id: int = 8193
    empty_id: int = 0

    @classmethod
    def from_file(cls, path: Path) -> "GenConfig":
        data = read_json(path, "gen_config.json")
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; gen_config.json may hold only "
                              + ", ".join(sorted(allowed)))
        values = {}
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{path}: '{key}' must be a non-negative integer, found {value!r}")
            values[key] = value
        return cls(**values)

    def check_against(self, model: HeartMuLaConfig, path: Path) -> None:
        """The ids must fit the model's vocabularies."""
        for key in ("text_bos_id", "text_eos_id"):
            if getattr(self, key) >= model.text_vocab_size:
                raise ConfigError(f"{path}: {key} {getattr(self, key)} is outside the text vocabulary "
                                  f"of {model.text_vocab_size}")
        if self.audio_eos_id >= model.audio_vocab_size:
            raise ConfigError(f"{path}: audio_eos_id {self.audio_eos_id} is outside the audio vocabulary "
                              f"of {model.audio_vocab_size}")
