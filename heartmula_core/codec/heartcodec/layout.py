"""File-space key layout of a HeartCodec checkpoint (spec §4.2).

The engine's modules hold one folded ``<prefix>.weight`` per weight-normed convolution; the files hold
the pair (g, v) under one of two namings:

- ``"parametrizations"``: ``<prefix>.parametrizations.weight.original0`` (g ``[dim0, 1, 1]``) and
  ``.original1`` (v, the full weight shape) -- the released files;
- ``"legacy"``: ``<prefix>.weight_g`` / ``<prefix>.weight_v`` (older torch / transformers).

Entries that decoding does not read (:func:`is_unused_key`): ``flow_matching.vq_embed.project_in.*``,
the codebook EMA buffers ``_codebook.{initted, cluster_size, embed_avg}`` (any shape; ``initted`` is
``[1]`` on disk but ``[]`` in the reference module) and ``scalar_model.encoder.*``.
:func:`unused_file_shapes` lists them for a config, so random checkpoints can use the official layout.
"""

from __future__ import annotations

import re
from typing import Mapping

from torch import nn

PARAMETRIZATIONS = "parametrizations"
LEGACY = "legacy"
#: naming -> (g suffix, v suffix)
WEIGHT_NORM_SUFFIXES = {
    PARAMETRIZATIONS: ("parametrizations.weight.original0", "parametrizations.weight.original1"),
    LEGACY: ("weight_g", "weight_v"),
}

_UNUSED = re.compile(
    r"^flow_matching\.vq_embed\.project_in\.(weight|bias)$"
    r"|^flow_matching\.vq_embed\.layers\.\d+\._codebook\.(initted|cluster_size|embed_avg)$"
    r"|^scalar_model\.encoder\."
)


def is_unused_key(name: str) -> bool:
    """Whether file entry ``name`` is one decoding ignores (whatever its shape)."""
    return _UNUSED.match(name) is not None


def weight_norm_keys(prefix: str, naming: str) -> tuple[str, str]:
    """File keys (g, v) of the weight-normed convolution at ``prefix``."""
    g, v = WEIGHT_NORM_SUFFIXES[naming]
    return f"{prefix}.{g}", f"{prefix}.{v}"


def weight_normed_prefixes(network: nn.Module) -> list[str]:
    """Module prefixes of every convolution marked ``weight_normed`` in ``network``."""
    return [name for name, module in network.named_modules() if getattr(module, "weight_normed", False)]


def detect_naming(prefix: str, found: Mapping[str, object]) -> str | None:
    """The weight-norm naming used for ``prefix`` among the file keys ``found``; None if neither."""
    for naming in WEIGHT_NORM_SUFFIXES:
        if any(key in found for key in weight_norm_keys(prefix, naming)):
            return naming
    return None


def file_shapes(module_shapes: Mapping[str, tuple[int, ...]],
                naming: Mapping[str, str]) -> dict[str, tuple[int, ...]]:
    """Expected file entries for the module state ``module_shapes``.

    ``naming`` maps each weight-normed prefix to its naming; their ``<prefix>.weight`` ``[d0, ...]``
    becomes g ``[d0, 1, 1]`` and v ``[d0, ...]``; every other entry keeps its name and shape.
    """
    out: dict[str, tuple[int, ...]] = {}
    for key, shape in module_shapes.items():
        prefix = key[: -len(".weight")] if key.endswith(".weight") else None
        if prefix in naming:
            g_key, v_key = weight_norm_keys(prefix, naming[prefix])
            out[g_key] = (shape[0],) + (1,) * (len(shape) - 1)
            out[v_key] = tuple(shape)
        else:
            out[key] = tuple(shape)
    return out


def _wn_conv(prefix: str, out_ch: int, in_ch: int, kernel: int, naming: str) -> dict[str, tuple[int, ...]]:
    g_key, v_key = weight_norm_keys(prefix, naming)
    return {f"{prefix}.bias": (out_ch,), g_key: (out_ch, 1, 1), v_key: (out_ch, in_ch, kernel)}


def _residual_unit(prefix: str, channels: int, kernel: int, naming: str) -> dict[str, tuple[int, ...]]:
    shapes = _wn_conv(f"{prefix}.conv1", channels, channels, kernel, naming)
    shapes.update(_wn_conv(f"{prefix}.conv2", channels, channels, 1, naming))
    shapes.update({f"{prefix}.activation1.weight": (1,), f"{prefix}.activation2.weight": (1,)})
    return shapes


def encoder_file_shapes(config, naming: str = PARAMETRIZATIONS) -> dict[str, tuple[int, ...]]:
    """``scalar_model.encoder.*`` entries (unused by decoding) for ``config``, in file space."""
    from .scalar import RES_DILATIONS

    p, ch, k = "scalar_model.encoder", config.init_channel, config.default_kernel_size
    shapes = _wn_conv(f"{p}.0", ch, config.num_bands, k, naming)
    index = 1
    if config.num_samples > 1:
        shapes.update({f"{p}.1.conv.weight": (ch, ch, k), f"{p}.1.conv.bias": (ch,),
                       f"{p}.1.activation.weight": (1,)})
        index = 2
    for stride_kernel in config.downsample_kernel_sizes:
        block = f"{p}.{index}"
        for j in range(len(RES_DILATIONS)):
            shapes.update(_residual_unit(f"{block}.convs.{j}", ch, config.res_kernel_size, naming))
        shapes.update(_wn_conv(f"{block}.down_conv.layer", 2 * ch, ch, stride_kernel, naming))
        shapes[f"{block}.down_conv.activation.weight"] = (1,)
        ch, index = 2 * ch, index + 1
    shapes.update(_wn_conv(f"{p}.{index}", config.latent_hidden_dim, ch, k, naming))
    return shapes


def unused_file_shapes(config, naming: str = PARAMETRIZATIONS) -> dict[str, tuple[int, ...]]:
    """Every entry of an official file that decoding ignores: project_in, EMA buffers (``initted``
    as ``[1]``, as the released files store it) and the encoder."""
    vq = "flow_matching.vq_embed"
    shapes: dict[str, tuple[int, ...]] = {
        f"{vq}.project_in.weight": (config.codebook_dim, config.dim),
        f"{vq}.project_in.bias": (config.codebook_dim,),
    }
    for q in range(config.num_quantizers):
        book = f"{vq}.layers.{q}._codebook"
        shapes[f"{book}.initted"] = (1,)
        shapes[f"{book}.cluster_size"] = (1, config.codebook_size)
        shapes[f"{book}.embed_avg"] = (1, config.codebook_size, config.codebook_dim)
    shapes.update(encoder_file_shapes(config, naming))
    return shapes
