"""Random HeartMuLa weights: for tests (tiny checkpoints in the official layout) and GPU benchmarks
(full-size architectures built directly on the device, no files)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..config import GenConfig, HeartMuLaConfig, TransformerConfig
from ..weights import INDEX_NAME, SINGLE_NAME
from .heartmula import HeartMuLa

INIT_STD = 0.02


def tiny_flavor(embed_dim: int = 64, num_layers: int = 2, max_seq_len: int = 1024) -> TransformerConfig:
    """A small custom flavor (4 query heads, 2 kv heads) for CPU tests."""
    return TransformerConfig(num_layers=num_layers, num_heads=4, num_kv_heads=2, embed_dim=embed_dim,
                             intermediate_dim=2 * embed_dim, max_seq_len=max_seq_len)


def tiny_config(text_vocab_size: int = 512, audio_vocab_size: int = 8197) -> HeartMuLaConfig:
    """A tiny HeartMuLa: 2-layer backbone and 1-layer decoder of width 64 (different decoder width
    to exercise ``projection``), the official audio vocabulary and 8 codebooks."""
    return HeartMuLaConfig(backbone=tiny_flavor(64, 2, 1024), decoder=tiny_flavor(48, 1, 16),
                           text_vocab_size=text_vocab_size, audio_vocab_size=audio_vocab_size)


def _init_(model: HeartMuLa, generator: torch.Generator) -> None:
    for name, param in model.named_parameters():
        if name.endswith(".scale"):
            param.data.fill_(1.0)
        elif name.endswith(".bias"):
            param.data.zero_()
        else:
            param.data.normal_(0.0, INIT_STD, generator=generator)


def random_heartmula(config: HeartMuLaConfig, device: torch.device | str = "cpu",
                     dtype: torch.dtype = torch.float32, seed: int = 0) -> HeartMuLa:
    """A HeartMuLa with random weights created directly on ``device`` in ``dtype``."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # allocate in the working dtype at once (3B fp32 would be 16 GB)
    try:
        with torch.device(device):
            model = HeartMuLa(config)
    finally:
        torch.set_default_dtype(previous)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    _init_(model, gen)
    model.init_buffers(device)
    return model.eval()


def config_json(config: HeartMuLaConfig) -> dict:
    """The config.json content for ``config`` (flavors as names when official, else objects)."""
    from ..config import FLAVORS

    def flavor(cfg: TransformerConfig):
        for name, known in FLAVORS.items():
            if known == cfg:
                return name
        return {f: getattr(cfg, f) for f in ("num_layers", "num_heads", "num_kv_heads", "embed_dim",
                                             "intermediate_dim", "max_seq_len", "norm_eps",
                                             "rope_base", "scale_factor")}

    return {
        "architectures": ["HeartMuLa"],
        "model_type": "heartmula",
        "backbone_flavor": flavor(config.backbone),
        "decoder_flavor": flavor(config.decoder),
        "text_vocab_size": config.text_vocab_size,
        "audio_vocab_size": config.audio_vocab_size,
        "audio_num_codebooks": config.audio_num_codebooks,
        "muq_dim": config.muq_dim,
        "torch_dtype": "float32",
    }


def write_safetensors_folder(folder: Path, tensors: dict[str, torch.Tensor], shards: int = 1) -> None:
    """Write ``tensors`` as ``model.safetensors`` or ``shards`` files with an HF-style index."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    if shards <= 1:
        save_file(tensors, str(folder / SINGLE_NAME), metadata={"format": "pt"})
        return
    names = list(tensors)
    weight_map, total = {}, 0
    for i in range(shards):
        part = names[i::shards]
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({n: tensors[n] for n in part}, str(folder / fname), metadata={"format": "pt"})
        for n in part:
            weight_map[n] = fname
            total += tensors[n].numel() * tensors[n].element_size()
    (folder / INDEX_NAME).write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map},
                                                indent=2))


def write_random_heartmula(folder: Path, config: HeartMuLaConfig, *, seed: int = 0, shards: int = 1,
                           dtype: torch.dtype = torch.float32) -> None:
    """Write config.json + random weights (stored as ``dtype``) in the official layout."""
    model = random_heartmula(config, "cpu", torch.float32, seed)
    tensors = {k: v.to(dtype) for k, v in model.state_dict().items()}
    write_safetensors_folder(folder, tensors, shards)
    (folder / "config.json").write_text(json.dumps(config_json(config), indent=2))


def write_gen_config(path: Path, gen: GenConfig) -> None:
    """gen_config.json as the reference writes it (4-space indent, no trailing newline)."""
    path.write_text(json.dumps({"text_bos_id": gen.text_bos_id, "text_eos_id": gen.text_eos_id,
                                "audio_eos_id": gen.audio_eos_id, "empty_id": gen.empty_id}, indent=4))
