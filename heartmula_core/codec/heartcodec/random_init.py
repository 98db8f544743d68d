"""Random HeartCodecs: tiny checkpoints in the official file layout for tests, and full-size decode
modules built directly on a device (no files) for GPU benchmarks.

Initialisation keeps activations O(1): fan-in scaled weights, small biases, PReLU slopes 0.25, damped
second convolutions in the residual units, so random weights decode to finite, bounded audio.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from ...weights import INDEX_NAME, SINGLE_NAME
from .config import HeartCodecConfig
from .layout import PARAMETRIZATIONS, WEIGHT_NORM_SUFFIXES, unused_file_shapes, weight_norm_keys, weight_normed_prefixes
from .loading import CONFIG_NAME, build_network
from .model import HeartCodec
from .network import HeartCodecNetwork
from .scalar import CausalConvTranspose1d, PReLU
from .scalar import Conv1d as ScalarConv1d

BIAS_STD = 0.02
PRELU_SLOPE = 0.25
#: gain of the second (kernel-1) conv of every residual unit, to bound the residual growth
RESIDUAL_GAIN = 0.3
#: gain of the adaLN modulation projections (keeps scales/gates modest)
MODULATION_GAIN = 0.2
#: gain of the last conv (64 -> 1): random decoders otherwise peak far beyond full scale
OUTPUT_GAIN = 0.03
OUTPUT_CONV = "scalar_model.decoder.7"


def tiny_config() -> HeartCodecConfig:
    """A tiny HeartCodec that decodes a 372-frame window on CPU in a fraction of a second.

    2 heads x 8 head_dim (D1 16, D2 32), one block per stack, RVQ dim 16 with codebook_dim 4,
    latent_hidden_dim 4 (latent 8), init_channel 2 (decoder top 64 channels). ``codebook_size``
    stays 8192 and ``num_quantizers`` 8 so every HeartMuLa audio token 0..8191 remains valid; the
    up-sampling factors are the official ones (1920 samples per latent frame, 48 kHz).
    """
    return HeartCodecConfig(dim=16, codebook_dim=4, attention_head_dim=8, num_attention_heads=2,
                            in_channels=2 * 8 + 16, out_channels=8, num_layers=1, num_layers_2=1,
                            latent_hidden_dim=4, init_channel=2)


def _normal(shape: tuple[int, ...], std: float, generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
    return torch.randn(shape, generator=generator, device=device, dtype=torch.float32) * std


def _init_tensor(module: nn.Module, module_name: str, name: str, shape: tuple[int, ...],
                 generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """A random value for entry ``name`` of ``module`` (float32 on ``device``)."""
    if name == "bias":
        return torch.zeros(shape, device=device) if module_name.endswith(OUTPUT_CONV) else \
            _normal(shape, BIAS_STD, generator, device)
    if isinstance(module, PReLU):
        return torch.full(shape, PRELU_SLOPE, device=device)
    if isinstance(module, CausalConvTranspose1d):  # [in, out, 2s]: each output gets in * 2 taps
        return _normal(shape, (shape[0] * shape[2] / module.stride) ** -0.5, generator, device)
    if isinstance(module, (ScalarConv1d, nn.Conv1d)):
        gain = RESIDUAL_GAIN if module_name.endswith("conv2") else 1.0
        gain = OUTPUT_GAIN if module_name.endswith(OUTPUT_CONV) else gain
        return _normal(shape, gain * (shape[1] * shape[2]) ** -0.5, generator, device)
    if isinstance(module, nn.Linear):
        gain = MODULATION_GAIN if module_name.endswith("adaln_single.linear") or module_name.endswith(
            "adaln_single_2.linear") else 1.0
        return _normal(shape, gain * shape[1] ** -0.5, generator, device)
    if name == "weight":  # RMSNorm
        return 1.0 + _normal(shape, 0.05, generator, device)
    if name.startswith("scale_shift_table"):
        return _normal(shape, shape[-1] ** -0.5, generator, device)
    return _normal(shape, 1.0, generator, device)  # codebooks, zero_cond_embedding1


def random_state(network: nn.Module, generator: torch.Generator, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Random module-space state (folded weights) for every parameter and buffer of ``network``."""
    state = {}
    for module_name, module in network.named_modules():
        entries = list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False))
        for name, tensor in entries:
            full = f"{module_name}.{name}" if module_name else name
            value = _init_tensor(module, module_name, name, tuple(tensor.shape), generator, device)
            state[full] = value.to(dtype)
    return state


def random_heartcodec(config: HeartCodecConfig, device: torch.device | str = "cpu",
                      dtype: torch.dtype = torch.float32, seed: int = 0) -> HeartCodec:
    """A HeartCodec with random weights created directly on ``device`` (no files)."""
    network = build_network(config)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    network.load_state_dict(random_state(network, generator, device, dtype), strict=True, assign=True)
    return HeartCodec(network, device=device, dtype=dtype)


def split_weight_norm(weight: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(g ``[d0, 1, ...]``, v) with g * v / ||v|| == ``weight`` and v = scale * weight."""
    g = weight.pow(2).sum(dim=tuple(range(1, weight.dim())), keepdim=True).sqrt()
    return g, weight * scale


def file_space_state(network: HeartCodecNetwork, state: dict[str, torch.Tensor], naming: str,
                     generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Module-space ``state`` in the official file layout (weight norm split under ``naming``)."""
    prefixes = set(weight_normed_prefixes(network))
    out = {}
    for key, value in state.items():
        prefix = key[: -len(".weight")] if key.endswith(".weight") else None
        if prefix in prefixes:
            scale = 0.5 + 1.5 * float(torch.rand((), generator=generator))
            g_key, v_key = weight_norm_keys(prefix, naming)
            out[g_key], out[v_key] = split_weight_norm(value, scale)
        else:
            out[key] = value
    return out


def random_unused_entries(config: HeartCodecConfig, naming: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Values for the entries decoding ignores (project_in, EMA buffers with ``initted`` [1], encoder)."""
    out = {}
    for key, shape in unused_file_shapes(config, naming).items():
        if key.endswith(".initted"):
            out[key] = torch.ones(shape, dtype=torch.bool)
        elif key.endswith(".cluster_size"):
            out[key] = torch.ones(shape)
        else:
            out[key] = _normal(shape, 0.05, generator, "cpu")
    return out


def save_safetensors(folder: Path, tensors: dict[str, torch.Tensor], shards: int = 1) -> list[Path]:
    """Write ``tensors`` as ``model.safetensors`` or as ``shards`` files plus the HF index."""
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    if shards <= 1:
        save_file(tensors, str(folder / SINGLE_NAME), metadata={"format": "pt"})
        return [folder / SINGLE_NAME]
    names = list(tensors)
    per_shard = math.ceil(len(names) / shards)
    paths, weight_map = [], {}
    for i in range(shards):
        path = folder / f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        chunk = {k: tensors[k] for k in names[i * per_shard:(i + 1) * per_shard]}
        save_file(chunk, str(path), metadata={"format": "pt"})
        weight_map.update({k: path.name for k in chunk})
        paths.append(path)
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / INDEX_NAME).write_text(json.dumps(index, indent=2), encoding="utf-8")
    return paths


def write_random_heartcodec(folder: Path, config: HeartCodecConfig, *, seed: int = 0, shards: int = 1,
                            weight_norm_naming: str = PARAMETRIZATIONS, include_unused: bool = True) -> Path:
    """Write ``config.json`` and random weights in the official layout (all 818-style entries when
    ``include_unused``) to ``folder``; returns ``folder``. ``weight_norm_naming`` is
    ``"parametrizations"`` or ``"legacy"``; ``shards`` > 1 writes an index."""
    if weight_norm_naming not in WEIGHT_NORM_SUFFIXES:
        raise ValueError(f"weight_norm_naming must be one of {sorted(WEIGHT_NORM_SUFFIXES)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_NAME).write_text(json.dumps(config.to_json_dict(), indent=2), encoding="utf-8")
    network = build_network(config)
    generator = torch.Generator().manual_seed(seed)
    tensors = file_space_state(network, random_state(network, generator), weight_norm_naming, generator)
    if include_unused:
        tensors.update(random_unused_entries(config, weight_norm_naming, generator))
    save_safetensors(folder, tensors, shards)
    return folder
