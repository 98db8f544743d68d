"""Resumable demo training: what a run needs to go on exactly where it stopped.

A run stopped by ``--time-limit`` (or killed after a ``--save-every`` save) leaves one
safetensors file beside its checkpoint; ``--resume`` reads it and the run continues as if it had
never stopped (same batches, same optimizer moments, same learning-rate schedule; on the CPU the
weights come out bit-identical, which a test checks).

The file holds, all as tensors (no pickle):

- ``model.<name>``: every weight in float32 (the checkpoint itself is bfloat16);
- ``optim.<index>.<key>``: AdamW's per-parameter state (``step``, ``exp_avg``, ``exp_avg_sq``);
- ``rng.batches`` and ``rng.noise``: the two generators' states ``[5056] uint8``, the batch one
  taken right after the last trained batch was drawn (the prefetch thread runs ahead of the GPU);
- ``average.<name>``: the running weight average of ``--ema`` runs, float32;

and as JSON metadata the steps done, the training seconds so far, the optimizer's parameter groups
and the settings that decide the run (:func:`run_key`). Resuming with other deciding settings is
refused with a :class:`ResumeMismatch` that names them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import safetensors
import safetensors.torch
import torch

#: settings that may change between the segments of one run (they do not change what is learned)
FREE_BETWEEN_SEGMENTS = frozenset({"save_every", "workers", "device", "bank", "corpus", "log_every"})


class ResumeMismatch(ValueError):
    """The saved state belongs to a run with other settings."""


@dataclass
class TrainState:
    """Where a run stands between two steps."""

    step: int  # steps done
    seconds: float  # training wall time so far, all segments together
    batch_rng: torch.Tensor  # [5056] uint8, state of the batch generator after batch ``step - 1``
    noise_rng: torch.Tensor  # [5056] uint8, state of the scheduled-sampling generator
    average: dict[str, torch.Tensor] = field(default_factory=dict)  # parameter name -> running average


def default_state_path(checkpoint_root: Path | str) -> Path:
    """``DIR.train-state.safetensors`` beside the checkpoint root ``DIR`` (not inside it, so the
    checkpoint folder stays exactly the official layout)."""
    root = Path(checkpoint_root)
    return root.with_name(root.name + ".train-state.safetensors")


def run_key(settings) -> dict:
    """The settings (a dataclass) that decide what a run learns, as JSON-ready values."""
    return {k: v for k, v in dataclasses.asdict(settings).items() if k not in FREE_BETWEEN_SEGMENTS}


def save_train_state(path: Path | str, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     state: TrainState, settings) -> Path:
    """Write ``state`` with the model's and optimizer's tensors to ``path``, atomically (a run
    killed while writing leaves the previous file)."""
    path = Path(path)
    tensors = {f"model.{k}": v.detach().to("cpu", torch.float32).contiguous()
               for k, v in model.state_dict().items()}
    optim = optimizer.state_dict()
    for index, values in optim["state"].items():
        for key, value in values.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().to("cpu").contiguous()
    tensors["rng.batches"] = state.batch_rng.contiguous()
    tensors["rng.noise"] = state.noise_rng.contiguous()
    tensors.update({f"average.{k}": v.detach().to("cpu", torch.float32).contiguous() for k, v in state.average.items()})
    meta = {"step": str(state.step), "seconds": repr(state.seconds),
            "param_groups": json.dumps(optim["param_groups"]), "settings": json.dumps(run_key(settings))}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    safetensors.torch.save_file(tensors, str(partial), metadata=meta)
    os.replace(partial, path)
    return path


def load_train_state(path: Path | str, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     settings) -> TrainState:
    """Load the state at ``path`` into ``model`` and ``optimizer`` (both built as for a fresh run
    with ``settings``) and return where the run stands.

    Raises :class:`ResumeMismatch` when the file was written by a run with other deciding
    settings, and ``ValueError`` when it is not a training state of this model."""
    path = Path(path)
    try:
        with safetensors.safe_open(str(path), "pt") as handle:
            meta = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    except (OSError, safetensors.SafetensorError) as error:
        raise ValueError(f"{path} cannot be read as a training state ({error}); delete it to start anew") from error
    if "settings" not in meta or "step" not in meta:
        raise ValueError(f"{path} is not a demo training state (no step or settings metadata)")
    saved = json.loads(meta["settings"])
    wanted = json.loads(json.dumps(run_key(settings)))
    differ = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
    if differ:
        listing = ", ".join(f"{k}: saved {saved.get(k)!r}, now {wanted.get(k)!r}" for k in differ)
        raise ResumeMismatch(f"{path} was written by a run with other settings ({listing}); "
                             "resume with the same options or start a new run")
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    missing = set(model.state_dict()) ^ set(weights)
    if missing:
        raise ValueError(f"{path} does not fit this model: {len(missing)} weight names differ, "
                         f"e.g. {sorted(missing)[:3]}")
    model.load_state_dict(weights)
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            per_param.setdefault(int(index), {})[name] = value
    groups = json.loads(meta["param_groups"])
    for group in groups:
        group["betas"] = tuple(group["betas"])
    optimizer.load_state_dict({"state": per_param, "param_groups": groups})
    average = {k[len("average."):]: v for k, v in tensors.items() if k.startswith("average.")}
    return TrainState(int(meta["step"]), float(meta["seconds"]), tensors["rng.batches"], tensors["rng.noise"],
                      average)
