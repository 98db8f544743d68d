"""``HeartCodec-oss/config.json`` (spec §4.1) and every module width derived from it.

The released file holds the fields of :class:`HeartCodecConfig` plus ordinary transformers keys
(``architectures``, ``torch_dtype``, ``transformers_version``), which are ignored. Absent fields take
the reference defaults. ``decay``, ``commitment_weight`` and ``threshold_ema_dead_code`` only
matter for training and are parsed but unused; ``downsample_*`` only shape the (unused) encoder.

Derived widths (official values in brackets):

- ``latent_dim = 2 * latent_hidden_dim`` [256]: the flow-matching latent, left and right halves.
- ``inner_dim = num_attention_heads * attention_head_dim`` [1536] (stack 1) and
  ``inner_dim_2 = 2 * inner_dim`` [3072] (stack 2, same head count, twice the head width).
- ``in_channels`` must equal ``2 * latent_dim + dim`` [1024 = 256 x_t + 256 context + 512 cond]
  and ``out_channels`` must equal ``latent_dim`` [256].
- ``decoder_channels = init_channel * 2 ** len(upsample_factors)`` [2048].
- ``samples_per_latent = prod(upsample_factors) * num_samples`` [1920]; with the hard-coded 25 Hz
  latent rate it must give ``sample_rate`` [48000].
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ...config import read_json
from ...errors import ConfigError

MODEL_TYPE = "heartcodec"
#: latent frames per second; hard-coded in the reference detokenize (2 latent frames per code frame)
LATENT_RATE_HZ = 25
#: sinusoidal timestep features fed to ``timestep_embedder.linear_1``; a constant, not in config.json
TIMESTEP_FEATURES = 512
#: the MLP hidden width of a DiT block is rounded up to a multiple of this
MLP_MULTIPLE_OF = 256

_INT_FIELDS = (
    "dim", "codebook_size", "codebook_dim", "num_quantizers", "attention_head_dim",
    "num_attention_heads", "in_channels", "out_channels", "num_layers", "num_layers_2", "num_bands",
    "sample_rate", "num_samples", "latent_hidden_dim", "default_kernel_size", "delay_kernel_size",
    "init_channel", "res_kernel_size",
)
_LIST_FIELDS = ("downsample_factors", "downsample_kernel_sizes", "upsample_factors", "upsample_kernel_sizes")


@dataclass(frozen=True)
class HeartCodecConfig:
    """HeartCodec hyper-parameters; defaults are the released values (spec §4.1)."""

    # residual VQ
    dim: int = 512
    codebook_size: int = 8192
    codebook_dim: int = 32
    num_quantizers: int = 8
    decay: float = 0.9
    commitment_weight: float = 1.0
    threshold_ema_dead_code: int = 2
    use_cosine_sim: bool = False
    # DiT estimator
    attention_head_dim: int = 64
    num_attention_heads: int = 24
    in_channels: int = 1024
    out_channels: int = 256
    num_layers: int = 24
    num_layers_2: int = 6
    norm_type: str = "ada_norm_single"
    # ScalarModel (SQ codec)
    num_bands: int = 1
    sample_rate: int = 48000
    causal: bool = True
    num_samples: int = 2
    downsample_factors: tuple[int, ...] = (3, 4, 4, 4, 5)
    downsample_kernel_sizes: tuple[int, ...] = (6, 8, 8, 8, 10)
    upsample_factors: tuple[int, ...] = (5, 4, 4, 4, 3)
    upsample_kernel_sizes: tuple[int, ...] = (10, 8, 8, 8, 6)
    latent_hidden_dim: int = 128
    default_kernel_size: int = 7
    delay_kernel_size: int = 5
    init_channel: int = 64
    res_kernel_size: int = 7

    # ---- derived widths -------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        """Flow-matching latent width: left and right ``latent_hidden_dim`` halves [256]."""
        return 2 * self.latent_hidden_dim

    @property
    def inner_dim(self) -> int:
        """Width D1 of estimator stack 1 [1536]."""
        return self.num_attention_heads * self.attention_head_dim

    @property
    def inner_dim_2(self) -> int:
        """Width D2 of estimator stack 2 [3072]."""
        return 2 * self.inner_dim

    @property
    def decoder_channels(self) -> int:
        """Channels after ``scalar_model.decoder.0`` [2048]."""
        return self.init_channel * 2 ** len(self.upsample_factors)

    @property
    def encoder_channels(self) -> int:
        """Channels before the (unused) encoder's last conv [2048]."""
        return self.init_channel * 2 ** len(self.downsample_factors)

    @property
    def samples_per_latent(self) -> int:
        """Audio samples per latent frame: total up-sampling of the scalar decoder [1920]."""
        return math.prod(self.upsample_factors) * self.num_samples

    # ---- files -----------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: Path) -> "HeartCodecConfig":
        """Parse and validate ``path``; raises ConfigError naming the file and the field."""
        path = Path(path)
        data = read_json(path, "HeartCodec config.json")
        model_type = data.get("model_type", MODEL_TYPE)
        if model_type != MODEL_TYPE:
            raise ConfigError(f"{path}: model_type is {model_type!r}, expected {MODEL_TYPE!r}")
        kwargs = {f.name: _parse_field(path, f.name, data[f.name]) for f in fields(cls) if f.name in data}
        config = cls(**kwargs)
        config.validate(str(path))
        return config

    def to_json_dict(self) -> dict[str, Any]:
        """The config.json content in the released layout (lists, model_type and meta keys)."""
        data: dict[str, Any] = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        data.update(model_type=MODEL_TYPE, architectures=["HeartCodec"], torch_dtype="float32")
        return data

    # ---- consistency -----------------------------------------------------------------------
    def validate(self, where: str = "HeartCodecConfig") -> None:
        """Check that the fields describe a codec this engine can build; ConfigError otherwise."""
        for name in _INT_FIELDS:
            _check_positive_int(where, name, getattr(self, name))
        for name in _LIST_FIELDS:
            _check_int_list(where, name, getattr(self, name))
        for message in _consistency_problems(self):
            raise ConfigError(f"{where}: {message}")


def _consistency_problems(c: HeartCodecConfig) -> list[str]:
    """Human-readable problems, first one wins (each names its field)."""
    problems = []
    if c.norm_type != "ada_norm_single":
        problems.append(f"'norm_type' is {c.norm_type!r}; only 'ada_norm_single' is supported")
    if c.use_cosine_sim:
        problems.append("'use_cosine_sim' is true; only Euclidean codebooks are supported")
    if not c.causal:
        problems.append("'causal' is false; only the causal scalar decoder is supported")
    if c.num_bands != 1:
        problems.append(f"'num_bands' is {c.num_bands}; the stereo split needs one band per channel (1)")
    if c.out_channels != c.latent_dim:
        problems.append(f"'out_channels' is {c.out_channels}, expected 2 * latent_hidden_dim = {c.latent_dim}")
    if c.in_channels != 2 * c.latent_dim + c.dim:
        problems.append(f"'in_channels' is {c.in_channels}, expected 2 * (2 * latent_hidden_dim) + dim "
                        f"= {2 * c.latent_dim + c.dim}")
    if c.attention_head_dim % 2:
        problems.append(f"'attention_head_dim' {c.attention_head_dim} must be even for RoPE")
    if c.delay_kernel_size % 2 == 0:
        problems.append(f"'delay_kernel_size' {c.delay_kernel_size} must be odd (symmetric look-ahead conv)")
    if len(c.upsample_factors) != len(c.upsample_kernel_sizes):
        problems.append("'upsample_factors' and 'upsample_kernel_sizes' must have the same length")
    elif any(k != 2 * s for s, k in zip(c.upsample_factors, c.upsample_kernel_sizes)):
        problems.append("'upsample_kernel_sizes' must be twice 'upsample_factors' (causal ConvTranspose1d)")
    if len(c.downsample_factors) != len(c.downsample_kernel_sizes):
        problems.append("'downsample_factors' and 'downsample_kernel_sizes' must have the same length")
    if c.samples_per_latent * LATENT_RATE_HZ != c.sample_rate:
        problems.append(f"'sample_rate' is {c.sample_rate} but the decoder up-samples the {LATENT_RATE_HZ} Hz "
                        f"latent by prod(upsample_factors) * num_samples = {c.samples_per_latent}")
    return problems


def _parse_field(path: Path, name: str, value: Any) -> Any:
    """Type-check one config.json value; lists become tuples."""
    kind = next(f.type for f in fields(HeartCodecConfig) if f.name == name)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: '{name}' must be true or false, found {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{path}: '{name}' must be a string, found {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{path}: '{name}' must be a number, found {value!r}")
        return float(value)
    if name in _LIST_FIELDS:
        _check_int_list(str(path), name, value)
        return tuple(value)
    if name == "threshold_ema_dead_code":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{path}: '{name}' must be a non-negative integer, found {value!r}")
        return value
    _check_positive_int(str(path), name, value)
    return value


def _check_positive_int(where: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{where}: '{name}' must be a positive integer, found {value!r}")


def _check_int_list(where: str, name: str, value: Any) -> None:
    if (not isinstance(value, (list, tuple)) or not value
            or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in value)):
        raise ConfigError(f"{where}: '{name}' must be a non-empty list of positive integers, found {value!r}")
