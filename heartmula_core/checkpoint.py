"""Find, validate and load a checkpoint root in the official layout (spec §1, §6).

::

    <root>/
    ├── HeartMuLa-oss-3B/    config.json + safetensors (index+shards, single file, or model-*.safetensors)
    ├── HeartCodec-oss/      config.json + safetensors
    ├── tokenizer.json       HuggingFace tokenizers file
    └── gen_config.json      text_bos_id, text_eos_id, audio_eos_id, empty_id

The model folder is ``HeartMuLa-oss-<version>`` (version "3B" by default); when that folder is absent
and exactly one ``HeartMuLa-oss-*`` folder exists, that one is used.

HeartMuLa is built on the meta device and its tensors are assigned one by one from the memory-mapped
files, cast to the working dtype, so the weights are held in memory once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import HeartMuLaConfig
from .errors import CheckpointError
from .model.heartmula import HeartMuLa
from .weights import WeightReader, load_module_weights

DEMO_MODEL_DIR = Path(__file__).resolve().parents[1] / "resources" / "demo-model"
"""The built-in demo checkpoint (official layout), used whenever no other model is configured."""

log = logging.getLogger(__name__)

MODEL_PREFIX = "HeartMuLa-oss-"
CODEC_DIR = "HeartCodec-oss"
TOKENIZER_FILE = "tokenizer.json"
GEN_CONFIG_FILE = "gen_config.json"
LAYOUT_HINT = (f"expected <root>/{MODEL_PREFIX}3B/, <root>/{CODEC_DIR}/, <root>/{TOKENIZER_FILE} "
               f"and <root>/{GEN_CONFIG_FILE}")


@dataclass(frozen=True)
class CheckpointPaths:
    """The four items of a checkpoint root."""

    root: Path
    model_dir: Path
    codec_dir: Path
    tokenizer: Path
    gen_config: Path


def locate_checkpoint(root: Path | str, version: str = "3B") -> CheckpointPaths:
    """Check that ``root`` has the official layout; CheckpointError naming what is missing."""
    root = Path(root).expanduser()
    if not root.exists():
        raise CheckpointError(f"checkpoint folder {root} does not exist; {LAYOUT_HINT}")
    if not root.is_dir():
        raise CheckpointError(f"{root} is a file, not a checkpoint folder; {LAYOUT_HINT}")
    model_dir = root / f"{MODEL_PREFIX}{version}"
    if not model_dir.is_dir():
        candidates = sorted(p for p in root.glob(f"{MODEL_PREFIX}*") if p.is_dir())
        if len(candidates) == 1:
            model_dir = candidates[0]
    paths = CheckpointPaths(root, model_dir, root / CODEC_DIR, root / TOKENIZER_FILE, root / GEN_CONFIG_FILE)
    missing = [p.name + ("/" if p.suffix == "" else "") for p in (paths.model_dir, paths.codec_dir)
               if not p.is_dir()]
    missing += [p.name for p in (paths.tokenizer, paths.gen_config) if not p.is_file()]
    if missing:
        raise CheckpointError(f"{root}: missing {', '.join(missing)}; {LAYOUT_HINT}")
    for sub in (paths.model_dir, paths.codec_dir):
        if not (sub / "config.json").is_file():
            raise CheckpointError(f"{sub}: missing config.json")
    return paths


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; an unavailable explicit choice is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CheckpointError("device 'cuda' was asked for but no CUDA GPU is available (try --device cpu)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise CheckpointError("device 'mps' was asked for but Apple MPS is not available (try --device cpu)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise CheckpointError(f"unknown device {name!r}; use auto, cpu, cuda or mps") from None


DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}


def resolve_dtype(name: str | None, device: torch.device) -> torch.dtype:
    """None/``auto``: bf16 on CUDA (as the reference), float32 elsewhere (CPU bf16 is slow)."""
    if name in (None, "auto"):
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise CheckpointError(f"unknown dtype {name!r}; use one of {', '.join(sorted(DTYPES))}")
    return DTYPES[name]


def load_heartmula(model_dir: Path, device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> HeartMuLa:
    """Load ``HeartMuLa-oss-*/`` (config.json + safetensors) onto ``device`` in ``dtype``."""
    config = HeartMuLaConfig.from_file(Path(model_dir) / "config.json")
    with torch.device("meta"):
        model = HeartMuLa(config)
    with WeightReader(Path(model_dir)) as reader:
        load_module_weights(model, reader, dtype=dtype, device=device)
    model.init_buffers(device)
    model.fuse_projections()
    log.info("loaded HeartMuLa from %s (%s, %s)", model_dir, device, dtype)
    return model.eval()
