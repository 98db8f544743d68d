"""MuQ-MuLan reference embedder (heartmula_core.reference.muq) on a tiny random MuQ-MuLan.

Needs the optional ``muq`` package (``pip install '.[muq]'``): the tests that load a model skip
without it; the install-hint test runs everywhere. The tiny model is built from configs (1-layer
MuQ conformer, 1-layer XLM-RoBERTa, 1-layer MuLan heads, 512-d latents), saved with the packages'
own ``save_pretrained`` into the folder layout the embedder documents, offline.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from heartmula_core.reference.base import REFERENCE_DIM, ReferenceEmbedder, ReferenceError
from heartmula_core.reference.muq import MuqMulanEmbedder

SR = 44100


def tone(freq: float, seconds: float, sr: int = SR, channels: int = 2) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    wave = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([wave] * channels)


def noise(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.3 * rng.standard_normal((2, int(round(seconds * sr))))).astype(np.float32)


def _tiny_muq_config() -> dict:
    conformer = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                     conv_depthwise_kernel_size=3, position_embeddings_type="relative",
                     rotary_embedding_base=10000, max_source_positions=5000, hidden_act="swish",
                     feat_extract_activation="gelu", layer_norm_eps=1e-5, hidden_dropout=0.0,
                     activation_dropout=0.0, attention_dropout=0.0, conformer_conv_dropout=0.0,
                     layerdrop=0.0, num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16)
    return dict(encoder_dim=32, encoder_depth=1, conv_dim=4, codebook_size=16, codebook_dim=4,
                stat={"melspec_2048_mean": 6.77, "melspec_2048_std": 18.42}, w2v2_config=conformer)


def _mulan_config(audio_name: str, text_name: str) -> dict:
    return dict(mulan=dict(sr=24000, clip_secs=10, dim_latent=REFERENCE_DIM),
                audio_model=dict(name=audio_name, model_dim=32, use_layer_idx=-1),
                text_model=dict(name=text_name, model_dim=16),
                audio_transformer=dict(dim=16, tf_depth=1, heads=2, dim_head=8),
                text_transformer=dict(dim=16, tf_depth=1, heads=2, dim_head=8))


def build_tiny_folder(root: Path) -> Path:
    """A tiny random MuQ-MuLan in the documented plain layout (config names as in the official one)."""
    from muq import MuQ, MuQMuLan
    from transformers import XLMRobertaConfig, XLMRobertaModel

    audio_dir, text_dir = root / "MuQ-large-msd-iter", root / "xlm-roberta-base"
    with pytest.MonkeyPatch.context() as patch, torch.random.fork_rng(devices=[]):
        patch.setenv("HF_HUB_OFFLINE", "1")
        torch.manual_seed(0)
        MuQ(_tiny_muq_config()).save_pretrained(audio_dir)
        XLMRobertaModel(XLMRobertaConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1,
                                         num_attention_heads=2, intermediate_size=32,
                                         max_position_embeddings=40)).save_pretrained(text_dir)
        model = MuQMuLan(_mulan_config(str(audio_dir), str(text_dir)))
        model.save_pretrained(root, config=_mulan_config("OpenMuQ/MuQ-large-msd-iter", "xlm-roberta-base"))
    return root


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    pytest.importorskip("muq")
    return build_tiny_folder(tmp_path_factory.mktemp("muq-mulan"))


@pytest.fixture(scope="module")
def embedder(tiny_folder) -> MuqMulanEmbedder:
    return MuqMulanEmbedder(tiny_folder)


def copy_folder(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# -- without the package ------------------------------------------------------------------------


def test_without_muq_package_the_constructor_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "muq", None)  # "import muq" now fails as if not installed
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(ReferenceError, match=r"pip install '\.\[muq\]'") as err:
        MuqMulanEmbedder(tmp_path)
    assert "\n" not in str(err.value)
    assert "HF_HUB_OFFLINE" not in os.environ  # the temporary offline setting is undone


# -- the embedding --------------------------------------------------------------------------------


def test_embedding_is_a_finite_unit_vector_and_deterministic(embedder):
    assert isinstance(embedder, ReferenceEmbedder) and embedder.name == "muq-mulan"
    audio = tone(440.0, 12.0)
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    first = embedder.embed(audio, SR)
    assert torch.equal(torch.rand(1), expected)  # the caller's global generator is left alone
    assert first.shape == (REFERENCE_DIM,) and first.dtype == np.float32
    assert np.isfinite(first).all()
    assert abs(float(np.linalg.norm(first)) - 1.0) < 1e-5
    np.testing.assert_array_equal(embedder.embed(audio.copy(), SR), first)


def test_clearly_different_audio_gives_a_different_embedding(embedder):
    a = embedder.embed(tone(440.0, 10.0), SR)
    b = embedder.embed(noise(10.0), SR)
    assert float(a @ b) < 0.99


def test_stereo_is_the_mean_of_its_channels(embedder):
    stereo = tone(440.0, 10.0)
    np.testing.assert_allclose(embedder.embed(stereo, SR), embedder.embed(stereo[0], SR), atol=1e-6)
    np.testing.assert_allclose(embedder.embed(stereo[:1], SR), embedder.embed(stereo[0], SR), atol=1e-6)
    left, right = tone(440.0, 10.0, channels=1)[0], noise(10.0)[0]
    np.testing.assert_allclose(embedder.embed(np.stack([left, right]), SR),
                               embedder.embed((left + right) / 2, SR), atol=1e-5)


def test_resampling_window_by_window_equals_resampling_the_whole_track(embedder):
    import torchaudio.functional as F

    audio = noise(23.0, seed=3)[0]  # two whole windows + a 3 s tail window, each resampled on its own
    at_24k = F.resample(torch.from_numpy(audio), SR, 24000).numpy()
    np.testing.assert_allclose(embedder.embed(audio, SR), embedder.embed(at_24k, 24000), atol=1e-5)


def test_short_audio_is_repeated_to_a_window_and_too_short_audio_is_refused(embedder):
    short = embedder.embed(tone(440.0, 2.5), SR)
    assert np.isfinite(short).all() and abs(float(np.linalg.norm(short)) - 1.0) < 1e-5
    with pytest.raises(ReferenceError, match=r"0\.50 s long.*at least 1 s"):
        embedder.embed(tone(440.0, 0.5), SR)
    with pytest.raises(ReferenceError, match="shape"):
        embedder.embed(np.zeros((2, 2, SR * 2), np.float32), SR)
    with pytest.raises(ReferenceError, match="sample rate"):
        embedder.embed(tone(440.0, 2.0), 0)


def test_window_plan(embedder):
    clip = 240000  # 10 s at 24 kHz
    assert embedder._window_starts(int(9.5 * SR), SR) == [0]
    assert embedder._window_starts(10 * SR, SR) == [0]
    assert embedder._window_starts(22 * SR, SR) == [0, clip]  # a 2 s tail is dropped
    assert embedder._window_starts(25 * SR, SR) == [0, clip, 25 * 24000 - clip]  # 5 s tail: last 10 s
    hour = embedder._window_starts(3600 * SR, SR)
    assert len(hour) == embedder.max_windows == 30
    assert hour[0] == 0 and hour[-1] == 3600 * 24000 - clip
    gaps = np.diff(hour)
    assert gaps.max() - gaps.min() <= 1  # evenly spread


def test_long_audio_is_capped_and_batched(embedder, monkeypatch):
    rows = []
    inner = embedder._model.mulan_module.get_audio_latents

    def counting(wavs, *args, **kwargs):
        rows.append(tuple(wavs.shape))
        return inner(wavs, *args, **kwargs)

    monkeypatch.setattr(embedder._model.mulan_module, "get_audio_latents", counting)
    monkeypatch.setattr(embedder, "max_windows", 5)
    monkeypatch.setattr(embedder, "batch_size", 2)
    vector = embedder.embed(noise(80.0, sr=24000)[0], 24000)  # 8 windows, capped to 5
    assert rows == [(2, 240000), (2, 240000), (1, 240000)]
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


# -- the folder -----------------------------------------------------------------------------------


def test_missing_folder_is_named(tiny_folder, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ReferenceError, match="does not exist") as err:
        MuqMulanEmbedder(missing)
    assert str(missing) in str(err.value)
    with pytest.raises(ReferenceError, match="models--OpenMuQ--MuQ-MuLan-large"):
        MuqMulanEmbedder(tmp_path)  # an empty folder: neither layout


@pytest.mark.parametrize("remove, expected", [
    ("model.safetensors", r"MuQ-MuLan in .* lacks model\.safetensors"),
    ("MuQ-large-msd-iter",
     r"audio backbone 'OpenMuQ/MuQ-large-msd-iter' is missing; expected .*MuQ-large-msd-iter"),
    ("xlm-roberta-base/model.safetensors",
     r"XLM-RoBERTa text backbone in .*xlm-roberta-base lacks model\.safetensors"),
])
def test_incomplete_folder_names_what_is_missing(tiny_folder, tmp_path, remove, expected):
    folder = copy_folder(tiny_folder, tmp_path / "copy")
    target = folder / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(ReferenceError, match=expected) as err:
        MuqMulanEmbedder(folder)
    assert str(folder) in str(err.value) and "\n" not in str(err.value)


def test_wrong_weights_or_config_are_refused(tiny_folder, tmp_path):
    folder = copy_folder(tiny_folder, tmp_path / "copy")
    shutil.copy(folder / "MuQ-large-msd-iter" / "model.safetensors", folder / "model.safetensors")
    with pytest.raises(ReferenceError, match="lacks .* audio weights"):
        MuqMulanEmbedder(folder)  # loads "fine" non-strictly, but the MuLan head would be random
    config = json.loads((tiny_folder / "config.json").read_text())
    config["mulan"]["dim_latent"] = 128
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ReferenceError, match="128-d embeddings"):
        MuqMulanEmbedder(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ReferenceError, match="cannot read"):
        MuqMulanEmbedder(folder)


def test_hub_cache_layout_loads_the_same_model_and_leaves_global_state_alone(
        tiny_folder, embedder, tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    for repo, source in [("OpenMuQ/MuQ-MuLan-large", tiny_folder),
                         ("OpenMuQ/MuQ-large-msd-iter", tiny_folder / "MuQ-large-msd-iter"),
                         ("FacebookAI/xlm-roberta-base", tiny_folder / "xlm-roberta-base")]:
        entry = cache / ("models--" + repo.replace("/", "--"))
        snapshot = entry / "snapshots" / "0123abcd"
        snapshot.mkdir(parents=True)
        for name in ("config.json", "model.safetensors"):
            shutil.copy(source / name, snapshot / name)
        (entry / "refs").mkdir()
        (entry / "refs" / "main").write_text("0123abcd")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    torch.manual_seed(7)
    random.seed(7)
    expected_torch, expected_python = torch.rand(1), random.random()
    torch.manual_seed(7)
    random.seed(7)

    cached = MuqMulanEmbedder(cache)

    assert torch.equal(torch.rand(1), expected_torch) and random.random() == expected_python
    assert "HF_HUB_OFFLINE" not in os.environ and "TRANSFORMERS_OFFLINE" not in os.environ
    import huggingface_hub.constants

    assert huggingface_hub.constants.HF_HUB_OFFLINE is False
    audio = tone(330.0, 10.0)
    np.testing.assert_allclose(cached.embed(audio, SR), embedder.embed(audio, SR), atol=1e-6)


def test_an_install_that_cannot_run_the_model_is_reported_at_load(tiny_folder, monkeypatch):
    from muq.muq_mulan.models.mulan import MuLanModel

    def broken(self, wavs, *args, **kwargs):  # what muq 0.1.0 does under transformers >= 5.16
        raise AttributeError("'EasyDict' object has no attribute '_attn_implementation'")

    monkeypatch.setattr(MuLanModel, "get_audio_latents", broken)
    with pytest.raises(ReferenceError, match=r"does not run with the installed packages \(transformers .*"
                                             r"_attn_implementation.*pip install '\.\[muq\]'"):
        MuqMulanEmbedder(tiny_folder)
