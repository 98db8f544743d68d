"""Loading a HeartCodec checkpoint folder (``config.json`` + safetensors) into a :class:`HeartCodec`.

The modules are built on the meta device; each tensor is read from the memory-mapped files, folded
(weight norm) in float32 where needed, cast to the working dtype, moved to the device and assigned with
``load_state_dict(assign=True)``, so the weights are never held twice. Keys and shapes are checked
against the headers before any tensor data is read (spec §6.3).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ...errors import CheckpointError
from ...weights import WeightReader, check_keys, module_shapes
from .config import HeartCodecConfig
from .layout import detect_naming, file_shapes, is_unused_key, weight_norm_keys, weight_normed_prefixes
from .model import HeartCodec
from .network import HeartCodecNetwork

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
_FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")


def fold_weight_norm(g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Effective weight g * v / ||v|| in float32, the norm over every axis except 0, no epsilon.

    g ``[d0, 1, ...]`` (or any shape with d0 elements), v ``[d0, ...]`` -> ``[d0, ...]``. For a
    ConvTranspose1d weight ``[in, out, k]`` axis 0 is the input channel.
    """
    v = v.float()
    norm = v.pow(2).sum(dim=tuple(range(1, v.dim())), keepdim=True).sqrt()
    return v * (g.float().reshape(norm.shape) / norm)


def build_network(config: HeartCodecConfig, device: torch.device | str = "meta") -> HeartCodecNetwork:
    """The decode modules for ``config``, parameters allocated on ``device`` (meta: no memory)."""
    with torch.device(device):
        return HeartCodecNetwork(config)


def weight_norm_naming(network: HeartCodecNetwork, found: dict[str, tuple[int, ...]], where: str) -> dict[str, str]:
    """Weight-norm naming per weight-normed prefix; CheckpointError for convs with neither naming."""
    naming, absent = {}, []
    for prefix in weight_normed_prefixes(network):
        chosen = detect_naming(prefix, found)
        if chosen is None:
            absent.append(prefix)
        else:
            naming[prefix] = chosen
    if absent:
        shown = ", ".join(absent[:4]) + (f" and {len(absent) - 4} more" if len(absent) > 4 else "")
        raise CheckpointError(f"{where}: no weight-norm pair for {len(absent)} convolution(s): {shown}; expected "
                              "<prefix>.parametrizations.weight.original0/original1 or <prefix>.weight_g/weight_v")
    return naming


def expected_file_shapes(network: HeartCodecNetwork, naming: dict[str, str]) -> dict[str, tuple[int, ...]]:
    """Decode-path file entries (names and shapes) for ``network`` under the given weight-norm naming."""
    return file_shapes(module_shapes(network), naming)


def read_state(network: HeartCodecNetwork, reader: WeightReader, device: torch.device | str,
               dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Check ``reader``'s entries and return the module state dict (folded, cast, on ``device``)."""
    where = str(reader.folder)
    naming = weight_norm_naming(network, reader.shapes, where)
    expected = expected_file_shapes(network, naming)
    check_keys(expected, reader.shapes, where, ignore=is_unused_key)
    for name in expected:
        if reader.dtypes[name] not in _FLOAT_DTYPES:
            raise CheckpointError(f"{where}: tensor '{name}' has dtype {reader.dtypes[name]}, "
                                  "expected a floating-point dtype")
    state = {}
    for key in module_shapes(network):
        prefix = key[: -len(".weight")] if key.endswith(".weight") else None
        if prefix in naming:
            g_key, v_key = weight_norm_keys(prefix, naming[prefix])
            weight = fold_weight_norm(reader.get(g_key), reader.get(v_key))
            state[key] = weight.to(device=device, dtype=dtype)
        else:
            state[key] = reader.get(key, dtype, device)
    return state


def load_heartcodec(folder: Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> HeartCodec:
    """Load ``folder`` (``config.json`` + weights by the spec §1.2 loader rule) as a HeartCodec.

    Raises ConfigError for a bad config.json and CheckpointError for missing, unexpected, mis-shaped
    or unreadable tensors. fp32 is the default and recommended; bf16 works at some quality cost.
    """
    folder = Path(folder)
    config = HeartCodecConfig.from_file(folder / CONFIG_NAME)
    network = build_network(config)
    with WeightReader(folder) as reader:
        state = read_state(network, reader, device, dtype)
        network.load_state_dict(state, strict=True, assign=True)
    logger.info("loaded HeartCodec from %s (%d tensors, %s on %s)", folder, len(state), dtype, device)
    return HeartCodec(network, device=device, dtype=dtype)
