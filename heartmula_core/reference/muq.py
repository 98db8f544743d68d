"""MuQ-MuLan reference embeddings through Tencent's optional ``muq`` package (``pip install '.[muq]'``).

Official HeartMuLa checkpoints read a 512-d MuQ-MuLan *audio* embedding in the prompt's MuQ row.
:class:`MuqMulanEmbedder` computes it with ``muq.MuQMuLan`` from weights in a **local folder**;
nothing is downloaded at run time (the load runs with ``HF_HUB_OFFLINE=1`` /
``TRANSFORMERS_OFFLINE=1``, restored afterwards), and a missing or incomplete folder raises
:class:`~.base.ReferenceError` naming the folder and the missing part.

**What the folder must contain.** ``MuQMuLan.from_pretrained`` builds its two towers by *name*
from ``config.json`` (``audio_model.name`` = ``OpenMuQ/MuQ-large-msd-iter``, loaded with
``MuQ.from_pretrained``; ``text_model.name`` = ``xlm-roberta-base``, loaded with
``XLMRobertaModel.from_pretrained``), so an offline folder needs all three models. The embedder
points those names at local folders (it passes an edited copy of the config to ``from_pretrained``;
the files on disk are not changed). Two layouts are accepted:

1. A plain folder (recommended)::

       FOLDER/
         config.json            MuQ-MuLan config        (OpenMuQ/MuQ-MuLan-large)
         model.safetensors      MuQ-MuLan weights       (OpenMuQ/MuQ-MuLan-large)
         MuQ-large-msd-iter/    audio backbone          (OpenMuQ/MuQ-large-msd-iter)
           config.json
           model.safetensors
         xlm-roberta-base/      text backbone           (FacebookAI/xlm-roberta-base)
           config.json
           model.safetensors

   Each backbone folder is named after the last part of the matching name in ``config.json``
   (``FOLDER/<full name>``, e.g. ``FOLDER/OpenMuQ/MuQ-large-msd-iter``, works too). Other files
   (README, tokenizer files, ``pytorch_model.bin``) are ignored. To fill it::

       hf download OpenMuQ/MuQ-MuLan-large config.json model.safetensors --local-dir FOLDER
       hf download OpenMuQ/MuQ-large-msd-iter config.json model.safetensors --local-dir FOLDER/MuQ-large-msd-iter
       hf download FacebookAI/xlm-roberta-base config.json model.safetensors --local-dir FOLDER/xlm-roberta-base

2. A Hugging Face hub cache folder that already holds the three repositories (for instance
   ``~/.cache/huggingface/hub`` after running MuQ's own example once, or DiffRhythm's
   ``pretrained/``): ``models--OpenMuQ--MuQ-MuLan-large``, ``models--OpenMuQ--MuQ-large-msd-iter``
   and ``models--xlm-roberta-base`` (or ``models--FacebookAI--xlm-roberta-base``), each with a
   snapshot (``refs/main`` -> ``snapshots/<commit>/``) holding ``config.json`` and
   ``model.safetensors``.

The text backbone is never run (only audio is embedded) but must be present because ``muq``
builds it while loading; once loaded it is dropped to free its ~1 GB. Only ``model.safetensors``
files are read (huggingface_hub's mixin reads nothing else from a local folder, and
``transformers`` prefers it over a pickle): this module never calls ``torch.load``. MuQ configs that
would make ``muq`` unpickle an RVQ checkpoint (``rvq_ckpt_path`` pointing at an existing file) or
fetch EnCodec weights (``use_encodec_target``) are refused. After loading, the MuLan audio head
(``mulan.audio.proj/transformer``, ``mulan.audio_to_latents``) must come from the MuLan weights and
every MuQ backbone parameter from the MuLan or the backbone weights; otherwise the folder is
reported as incomplete rather than silently embedding with random weights.

**Preprocessing** (:meth:`MuqMulanEmbedder.embed`), and why:

- *mono* = mean of the channels: MuQ-MuLan was trained on mono 24 kHz clips.
- *resample* to the model's rate (``mulan.sr``, 24 kHz) with ``torchaudio.functional.resample``
  (windowed sinc): MuQ's mel front end assumes 24 kHz. Only the windows used are resampled (with a
  50 ms margin each side, aligned so the result equals resampling the whole track), so a two-hour
  file costs no more memory than its chosen windows.
- *10 s windows* (``mulan.clip_secs``), the length the model was trained on: consecutive windows
  from the start; the rest after the last whole window is used only when it is at least
  :data:`MIN_TAIL_SECONDS` (3 s), as one more window holding the last 10 s of the track (real
  audio rather than a padded or wrapped-around clip). A track of 1-10 s is one window, repeated
  end to end up to 10 s (as ``muq`` itself fills a short clip), so the model still sees its
  training length and no silence. Audio shorter than :data:`MIN_SECONDS` (1 s) is refused.
- *at most* :attr:`MuqMulanEmbedder.max_windows` (30) windows: a longer track uses 30 windows
  spread evenly from its start to its end, so a long file takes bounded time.
- each window goes through the audio tower (``get_audio_latents``: MuQ -> MuLan audio transformer
  -> 512-d projection, L2-normalised) in batches of :attr:`MuqMulanEmbedder.batch_size`, in
  float32 under ``torch.inference_mode()``; the window vectors are averaged and the mean is
  L2-normalised again, so the result lies on the unit sphere like a single-clip MuLan embedding.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch

from .base import REFERENCE_DIM, ReferenceError, check_vector, to_mono

NAME = "muq-mulan"
MIN_SECONDS = 1.0
"""Shorter audio is refused: too little music to describe."""
MIN_TAIL_SECONDS = 3.0
"""The rest after the last whole window gets a window of its own only from this length on."""
INSTALL_HINT = "pip install '.[muq]' (or pip install muq)"

_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_WEIGHTS = "model.safetensors"
_CONFIG = "config.json"
_MULAN_REPO = "OpenMuQ/MuQ-MuLan-large"
_MARGIN_SECONDS = 0.05


class MuqMulanEmbedder:
    """Audio -> the 512-d MuQ-MuLan embedding, with weights from a local ``folder`` (see module doc).

    ``device``: where the model runs (``"cpu"``, ``"cuda"``, ...). Loading takes a while (the
    model has ~700 M parameters); build one embedder and reuse it.
    """

    name = NAME
    max_windows = 30
    """A longer track uses this many 10 s windows, spread evenly over it."""
    batch_size = 4
    """Windows per forward pass."""

    def __init__(self, folder: str | Path, device: str = "cpu") -> None:
        folder = Path(folder).expanduser()
        with _offline_hub():
            try:
                from muq import MuQMuLan
                import torchaudio.functional as audio_functional
            except ImportError as exc:
                raise ReferenceError(f"MuQ-MuLan needs the optional 'muq' package ({_one_line(exc)}); "
                                     f"install it with {INSTALL_HINT}") from None
            except Exception as exc:  # noqa: BLE001 - e.g. a torchaudio/torchvision built for another torch
                raise ReferenceError(f"the 'muq' package is installed but cannot load ({_one_line(exc)}); "
                                     f"torch, torchaudio and torchvision must be matching builds") from None
            self._resample = audio_functional.resample
            mulan_dir, audio_dir, text_dir, config = _resolve_folder(folder)
            config["audio_model"]["name"] = str(audio_dir)
            config["text_model"]["name"] = str(text_dir)
            try:
                with torch.random.fork_rng(devices=[]), _python_random_kept():
                    # muq reseeds torch's and Python's global generators while it builds MuQ
                    model = MuQMuLan.from_pretrained(str(mulan_dir), config=config, local_files_only=True)
            except Exception as exc:  # noqa: BLE001 - any failure inside muq/transformers is a bad folder
                raise ReferenceError(f"MuQ-MuLan folder {folder}: loading failed: {_one_line(exc)}") from exc
        _check_loaded(model, mulan_dir / _WEIGHTS, audio_dir / _WEIGHTS, folder)
        model.mulan.text = None  # the text tower is never used here; free its memory
        try:
            self._model = model.float().to(device).eval()
        except Exception as exc:  # noqa: BLE001 - e.g. an unknown or unavailable device
            raise ReferenceError(f"MuQ-MuLan: cannot move the model to device {device!r}: "
                                 f"{_one_line(exc)}") from exc
        self.device = torch.device(device)
        self.folder = folder
        self.sample_rate = int(model.sr)
        self.clip_samples = int(round(float(model.clip_secs) * self.sample_rate))
        self._probe()

    def _probe(self) -> None:
        """Run the audio tower once on 1 s of silence, so an incompatible install fails here, clearly."""
        try:
            with torch.inference_mode(), torch.random.fork_rng(devices=[]):
                silence = torch.zeros(1, self.sample_rate, device=self.device)
                self._model.mulan_module.get_audio_latents(silence)
        except Exception as exc:  # noqa: BLE001 - e.g. muq 0.1.0 under transformers >= 5.16
            import transformers

            raise ReferenceError(f"MuQ-MuLan from {self.folder} loads but does not run with the installed "
                                 f"packages (transformers {transformers.__version__}: {_one_line(exc)}); "
                                 f"pip install '.[muq]' installs versions that work") from exc

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """``audio [channels, samples]`` (or ``[samples]``) float32 at ``sample_rate`` -> ``[512]``."""
        data = np.asarray(audio)
        if data.ndim not in (1, 2):
            to_mono(data)  # raises the shared shape error
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise ReferenceError(f"reference sample rate must be a positive integer, got {sample_rate!r}")
        samples = data.shape[-1]
        seconds = samples / sample_rate
        if seconds < MIN_SECONDS:
            raise ReferenceError(f"reference audio is {seconds:.2f} s long; MuQ-MuLan needs at least "
                                 f"{MIN_SECONDS:g} s")
        starts = self._window_starts(samples, sample_rate)
        windows = [self._window(data, sample_rate, start) for start in starts]
        latents = []
        # fork_rng: transformers' conformer draws a LayerDrop number per layer even in eval mode;
        # keep the caller's global torch generator where it was
        with torch.inference_mode(), torch.random.fork_rng(devices=[]):
            for first in range(0, len(windows), self.batch_size):
                batch = torch.stack(windows[first:first + self.batch_size]).to(self.device)
                latents.append(self._model.mulan_module.get_audio_latents(batch).float().cpu())
        mean = torch.cat(latents).mean(dim=0)
        vector = (mean / mean.norm().clamp_min(1e-12)).numpy()
        return check_vector(vector, self.name)

    # -- windows ------------------------------------------------------------------------------

    def _target_length(self, samples: int, sample_rate: int) -> int:
        """Length of the track after resampling (what ``resample`` returns for the whole track)."""
        return -(-samples * self.sample_rate // sample_rate)

    def _window_starts(self, samples: int, sample_rate: int) -> list[int]:
        """Start of each window, in samples at the model's rate."""
        total, length = self._target_length(samples, sample_rate), self.clip_samples
        if total <= length:
            return [0]
        starts = list(range(0, total - length + 1, length))
        if total - (starts[-1] + length) >= MIN_TAIL_SECONDS * self.sample_rate:
            starts.append(total - length)
        if len(starts) > self.max_windows:
            starts = [int(round(s)) for s in np.linspace(0, total - length, self.max_windows)]
        return starts

    def _window(self, data: np.ndarray, sample_rate: int, start: int) -> torch.Tensor:
        """Mono window ``[clip_samples]`` float32 at the model's rate, from target sample ``start``.

        The source span is cut on the resampler's grid (``down`` source samples = ``up`` target
        samples), so the window equals the same stretch of the whole track resampled; a track
        shorter than a window is repeated end to end.
        """
        length, rate = self.clip_samples, self.sample_rate
        step = math.gcd(sample_rate, rate)
        up, down = rate // step, sample_rate // step
        margin = int(_MARGIN_SECONDS * rate)
        first = max(0, start - margin) // up                      # in grid steps
        begin = first * down                                      # source sample
        end = min(data.shape[-1], -(-(start + length + margin) * down // up))
        mono = torch.from_numpy(to_mono(data[..., begin:end]).astype(np.float32))
        if sample_rate != rate:
            mono = self._resample(mono, sample_rate, rate)
        window = mono[start - first * up:start - first * up + length]
        if window.shape[0] < length:  # a short track: repeat it up to a whole window
            window = window.repeat(-(-length // window.shape[0]))[:length]
        return window.contiguous()


# -- loading ----------------------------------------------------------------------------------


def _resolve_folder(folder: Path) -> tuple[Path, Path, Path, dict]:
    """``(MuLan dir, audio backbone dir, text backbone dir, MuLan config)`` under ``folder``."""
    if not folder.is_dir():
        raise ReferenceError(f"MuQ-MuLan folder {folder} does not exist (choose the folder holding "
                             f"MuQ-MuLan-large's config.json and model.safetensors)")
    if (folder / _CONFIG).is_file():
        mulan_dir = folder
        find = lambda name: _plain_backbone(folder, name)  # noqa: E731
    else:
        mulan_dir = _cached_mulan(folder)
        find = lambda name: _cached_backbone(folder, name)  # noqa: E731
    _require_files(mulan_dir, "MuQ-MuLan", folder)
    config = _read_config(mulan_dir / _CONFIG, folder)
    audio_name, text_name = config["audio_model"]["name"], config["text_model"]["name"]
    audio_dir, text_dir = find(audio_name), find(text_name)
    plain = mulan_dir is folder
    if audio_dir is None:
        raise ReferenceError(f"MuQ-MuLan folder {folder}: the audio backbone {audio_name!r} is missing; "
                             f"expected {_where(folder, audio_name, plain)} with config.json and "
                             f"model.safetensors")
    if text_dir is None:
        raise ReferenceError(f"MuQ-MuLan folder {folder}: the text backbone {text_name!r} is missing; "
                             f"expected {_where(folder, text_name, plain)} with config.json and "
                             f"model.safetensors (needed to build the model, though only audio is embedded)")
    # muq picks the tower class from the name string it is given: make sure it picks MuQ and XLM-R
    if "muq" not in str(audio_dir).lower():
        raise ReferenceError(f"MuQ-MuLan folder {folder}: audio backbone {audio_dir} is not a MuQ model "
                             f"(its folder name must contain 'MuQ')")
    if "xlm-roberta" not in str(text_dir):
        raise ReferenceError(f"MuQ-MuLan folder {folder}: text backbone {text_dir} is not XLM-RoBERTa "
                             f"(its folder name must contain 'xlm-roberta')")
    _require_files(audio_dir, "MuQ audio backbone", folder)
    _require_files(text_dir, "XLM-RoBERTa text backbone", folder)
    _check_backbone_config(_read_json(audio_dir / _CONFIG, folder), audio_dir, folder)
    return mulan_dir, audio_dir, text_dir, config


def _read_json(path: Path, folder: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReferenceError(f"MuQ-MuLan folder {folder}: cannot read {path}: {_one_line(exc)}") from None
    if not isinstance(data, dict):
        raise ReferenceError(f"MuQ-MuLan folder {folder}: {path} is not a JSON object")
    return data


def _read_config(path: Path, folder: Path) -> dict:
    config = _read_json(path, folder)
    for key in ("mulan", "audio_model", "text_model", "audio_transformer", "text_transformer"):
        if not isinstance(config.get(key), dict):
            raise ReferenceError(f"MuQ-MuLan folder {folder}: {path} is not a MuQ-MuLan config "
                                 f"(no {key!r} section)")
    for key in ("audio_model", "text_model"):
        if not isinstance(config[key].get("name"), str) or not config[key]["name"]:
            raise ReferenceError(f"MuQ-MuLan folder {folder}: {path} has no {key}.name")
    dim = config["mulan"].get("dim_latent", 512)
    if dim != REFERENCE_DIM:
        raise ReferenceError(f"MuQ-MuLan folder {folder}: {path} gives {dim}-d embeddings "
                             f"(mulan.dim_latent); HeartMuLa needs {REFERENCE_DIM}")
    return config


def _check_backbone_config(config: dict, audio_dir: Path, folder: Path) -> None:
    """Refuse MuQ settings that would make ``muq`` unpickle a file or fetch weights from the net."""
    rvq = config.get("rvq_ckpt_path")
    uses_rvq = config.get("use_rvq_target") or config.get("use_vq_target")
    if uses_rvq and rvq and os.path.exists(rvq):
        raise ReferenceError(f"MuQ-MuLan folder {folder}: {audio_dir / _CONFIG} names rvq_ckpt_path {rvq}, "
                             f"which muq would load with torch.load; remove that entry")
    if config.get("use_encodec_target"):
        raise ReferenceError(f"MuQ-MuLan folder {folder}: {audio_dir / _CONFIG} sets use_encodec_target, "
                             f"which needs EnCodec weights from the network")


def _require_files(path: Path, what: str, folder: Path) -> None:
    missing = [name for name in (_CONFIG, _WEIGHTS) if not (path / name).is_file()]
    if missing:
        raise ReferenceError(f"MuQ-MuLan folder {folder}: {what} in {path} lacks {' and '.join(missing)}")


def _where(folder: Path, name: str, plain: bool) -> str:
    if plain:
        return str(folder / name.rsplit("/", 1)[-1])
    return str(folder / ("models--" + name.replace("/", "--")))


def _plain_backbone(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / name.rsplit("/", 1)[-1]):
        if candidate.is_dir():
            return candidate
    return None


def _snapshot(repo: Path) -> Path | None:
    """The snapshot a hub-cache repository folder's ``refs/main`` names (else its only/newest one)."""
    snapshots = repo / "snapshots"
    ref = repo / "refs" / "main"
    if ref.is_file():
        commit = ref.read_text(encoding="utf-8").strip()
        if commit and (snapshots / commit).is_dir():
            return snapshots / commit
    found = sorted((p for p in snapshots.glob("*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def _cached_mulan(folder: Path) -> Path:
    repos = sorted(p for p in folder.glob("models--*--MuQ-MuLan*") if p.is_dir())
    preferred = folder / ("models--" + _MULAN_REPO.replace("/", "--"))
    if preferred in repos:
        repos = [preferred]
    if not repos:
        raise ReferenceError(f"MuQ-MuLan folder {folder} holds neither config.json and model.safetensors "
                             f"(MuQ-MuLan-large downloaded into it) nor a hub cache entry "
                             f"models--{_MULAN_REPO.replace('/', '--')}")
    if len(repos) > 1:
        raise ReferenceError(f"MuQ-MuLan folder {folder} holds several MuQ-MuLan models "
                             f"({', '.join(p.name for p in repos)}); keep one")
    snapshot = _snapshot(repos[0])
    if snapshot is None:
        raise ReferenceError(f"MuQ-MuLan folder {folder}: {repos[0].name} has no downloaded snapshot")
    return snapshot


def _cached_backbone(folder: Path, name: str) -> Path | None:
    repo = folder / ("models--" + name.replace("/", "--"))
    if not repo.is_dir():  # e.g. xlm-roberta-base cached under its canonical FacebookAI/ name
        others = sorted(p for p in folder.glob("models--*--" + name.rsplit("/", 1)[-1]) if p.is_dir())
        if len(others) != 1:
            return None
        repo = others[0]
    return _snapshot(repo)


def _check_loaded(model: torch.nn.Module, mulan_file: Path, backbone_file: Path, folder: Path) -> None:
    """Every parameter the audio path uses must have come from a weight file, not a random init.

    ``from_pretrained`` loads non-strictly, so a wrong or partial ``model.safetensors`` would
    otherwise leave parts of the model random without a word.
    """
    from safetensors import safe_open

    try:
        with safe_open(str(mulan_file), framework="pt") as handle:
            mulan_keys = set(handle.keys())
        with safe_open(str(backbone_file), framework="pt") as handle:
            backbone_keys = set(handle.keys())
    except Exception as exc:  # noqa: BLE001
        raise ReferenceError(f"MuQ-MuLan folder {folder}: cannot read weights: {_one_line(exc)}") from exc
    backbone_prefix = "mulan.audio.model."
    missing = []
    for key, _ in model.named_parameters():
        if key.startswith(backbone_prefix):
            if key not in mulan_keys and key[len(backbone_prefix):] not in backbone_keys:
                missing.append(key)
        elif key.startswith(("mulan.audio.", "mulan.audio_to_latents.")) and key not in mulan_keys:
            missing.append(key)
    if missing:
        raise ReferenceError(f"MuQ-MuLan folder {folder}: {mulan_file} lacks {len(missing)} audio weights "
                             f"(e.g. {', '.join(missing[:3])}); is it MuQ-MuLan-large's model.safetensors?")


@contextlib.contextmanager
def _offline_hub():
    """``HF_HUB_OFFLINE=1`` / ``TRANSFORMERS_OFFLINE=1`` while inside; the previous state after.

    huggingface_hub reads the variable once, at import, into ``constants.HF_HUB_OFFLINE``; that
    flag is set too, and afterwards recomputed from the restored environment.
    """
    saved = {name: os.environ.get(name) for name in _OFFLINE_VARS}
    os.environ.update({name: "1" for name in _OFFLINE_VARS})
    _set_hub_offline(True)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        flag = next((v for v in (saved["HF_HUB_OFFLINE"], saved["TRANSFORMERS_OFFLINE"]) if v), "")
        _set_hub_offline(flag.strip().upper() in ("1", "ON", "YES", "TRUE"))


def _set_hub_offline(value: bool) -> None:
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None and hasattr(constants, "HF_HUB_OFFLINE"):
        constants.HF_HUB_OFFLINE = value


@contextlib.contextmanager
def _python_random_kept():
    state = random.getstate()
    try:
        yield
    finally:
        random.setstate(state)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
