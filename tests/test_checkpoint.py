"""Loading HeartMuLa weights and configs in the official layout, and every bad input's message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from heartmula_core.checkpoint import load_heartmula, locate_checkpoint
from heartmula_core.config import GenConfig, HeartMuLaConfig
from heartmula_core.errors import CheckpointError, ConfigError
from heartmula_core.model.heartmula import HeartMuLa
from heartmula_core.model.random_init import (config_json, random_heartmula, tiny_config, write_gen_config,
                                              write_random_heartmula)

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt") / "HeartMuLa-oss-3B"
    write_random_heartmula(folder, tiny_config(), seed=4, shards=3)
    return folder


def copy_model(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_official_key_set_matches_spec_inventory():
    expected = {}
    for line in (DATA / "heartmula-3b-keys.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            key, shape = line.split("\t")[:2]
            expected[key] = json.loads(shape)
    with torch.device("meta"):
        model = HeartMuLa(HeartMuLaConfig())
    found = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert found == expected


def test_sharded_load_round_trips_weights(tiny_dir):
    model = load_heartmula(tiny_dir)
    reference = random_heartmula(tiny_config(), seed=4)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    assert not any(p.is_meta for p in model.parameters())
    assert model.backbone.rope.shape == (1024, 8, 2)


def test_single_file_and_glob_layouts(tmp_path, tiny_dir):
    single = tmp_path / "single"
    write_random_heartmula(single, tiny_config(), seed=4, shards=1)
    assert (single / "model.safetensors").is_file()
    a = load_heartmula(single)
    globbed = copy_model(tiny_dir, tmp_path / "glob")
    (globbed / "model.safetensors.index.json").unlink()  # rule 3: every model-*.safetensors
    b = load_heartmula(globbed)
    assert torch.equal(a.audio_head, b.audio_head)


@pytest.mark.parametrize("stored", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("target", [torch.float32, torch.bfloat16])
def test_any_float_dtype_is_cast(tmp_path, stored, target):
    folder = tmp_path / "m"
    write_random_heartmula(folder, tiny_config(), seed=0, dtype=stored)
    model = load_heartmula(folder, dtype=target)
    assert {p.dtype for p in model.parameters()} == {target}


def _rewrite_single(folder: Path, edit) -> None:
    tensors = load_file(str(folder / "model.safetensors"))
    edit(tensors)
    save_file(tensors, str(folder / "model.safetensors"))


@pytest.fixture
def single_dir(tmp_path):
    folder = tmp_path / "HeartMuLa-oss-3B"
    write_random_heartmula(folder, tiny_config(), seed=0)
    return folder


def test_missing_tensor_is_named(single_dir):
    _rewrite_single(single_dir, lambda t: t.pop("backbone.layers.1.mlp.w2.weight"))
    with pytest.raises(CheckpointError, match=r"1 missing tensor\(s\): backbone\.layers\.1\.mlp\.w2\.weight"):
        load_heartmula(single_dir)


def test_unexpected_tensor_is_named(single_dir):
    _rewrite_single(single_dir, lambda t: t.update({"model.extra.weight": torch.zeros(2)}))
    with pytest.raises(CheckpointError, match=r"unexpected tensor\(s\): model\.extra\.weight"):
        load_heartmula(single_dir)


def test_shape_mismatch_names_tensor_and_shapes(single_dir):
    _rewrite_single(single_dir, lambda t: t.update({"codebook0_head.weight": torch.zeros(8197, 32)}))
    with pytest.raises(CheckpointError, match=r"'codebook0_head\.weight' has shape \[8197, 32\], expected \[8197, 64\]"):
        load_heartmula(single_dir)


def test_truncated_file(single_dir):
    path = single_dir / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(CheckpointError, match="model.safetensors: corrupt or truncated"):
        load_heartmula(single_dir)


def test_garbage_file(single_dir):
    (single_dir / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_heartmula(single_dir)


def test_index_problems(tmp_path, tiny_dir):
    folder = copy_model(tiny_dir, tmp_path / "a")
    (folder / "model-00002-of-00003.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing: model-00002-of-00003.safetensors"):
        load_heartmula(folder)
    (folder / "model.safetensors.index.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not a valid safetensors index"):
        load_heartmula(folder)


def test_no_weights(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config_json(tiny_config())))
    with pytest.raises(CheckpointError, match="no weights found"):
        load_heartmula(folder)


# -- configs ----------------------------------------------------------------------------------

def write_config(tmp_path, data) -> Path:
    p = tmp_path / "config.json"
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def test_config_defaults_are_the_released_3b(tmp_path):
    cfg = HeartMuLaConfig.from_file(write_config(tmp_path, {"architectures": ["HeartMuLa"]}))
    assert cfg == HeartMuLaConfig()
    assert cfg.backbone.num_layers == 28 and cfg.decoder.head_dim == 384


def test_custom_flavor_round_trip(tmp_path):
    cfg = tiny_config()
    assert HeartMuLaConfig.from_file(write_config(tmp_path, config_json(cfg))) == cfg


@pytest.mark.parametrize("data, message", [
    ("{oops", "not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    ({"backbone_flavor": "llama-1B"}, "unknown 'backbone_flavor' 'llama-1B'"),
    ({"decoder_flavor": {"num_layers": 1}}, "custom 'decoder_flavor' has missing num_heads"),
    ({"audio_vocab_size": -3}, "'audio_vocab_size' must be a positive integer"),
    ({"model_type": "llama"}, "model_type is 'llama'"),
])
def test_bad_model_config(tmp_path, data, message):
    with pytest.raises(ConfigError, match=message):
        HeartMuLaConfig.from_file(write_config(tmp_path, data))


def test_custom_flavor_bad_geometry(tmp_path):
    flavor = dict(config_json(tiny_config())["backbone_flavor"], num_heads=5)
    with pytest.raises(ConfigError, match="divisible"):
        HeartMuLaConfig.from_file(write_config(tmp_path, {"backbone_flavor": flavor}))


def test_gen_config(tmp_path):
    path = tmp_path / "gen_config.json"
    write_gen_config(path, GenConfig())
    assert len(path.read_bytes()) == 101  # the released file's size (spec §1.3)
    assert GenConfig.from_file(path) == GenConfig()
    path.write_text(json.dumps({"text_bos_id": 1, "temperature": 0.9}))
    with pytest.raises(ConfigError, match="unknown key\\(s\\) temperature"):
        GenConfig.from_file(path)
    path.write_text(json.dumps({"audio_eos_id": "8193"}))
    with pytest.raises(ConfigError, match="'audio_eos_id' must be a non-negative integer"):
        GenConfig.from_file(path)
    with pytest.raises(ConfigError, match="outside the audio vocabulary"):
        GenConfig(audio_eos_id=9000).check_against(HeartMuLaConfig(), path)


# -- root layout ------------------------------------------------------------------------------

def test_layout_errors_name_what_is_missing(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist; expected <root>/HeartMuLa-oss-3B/"):
        locate_checkpoint(tmp_path / "nowhere")
    (tmp_path / "HeartMuLa-oss-3B").mkdir()
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(CheckpointError, match="missing HeartCodec-oss/, gen_config.json"):
        locate_checkpoint(tmp_path)
    (tmp_path / "HeartCodec-oss").mkdir()
    (tmp_path / "gen_config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="HeartMuLa-oss-3B: missing config.json"):
        locate_checkpoint(tmp_path)


def test_other_model_version_folder_is_found(tmp_path):
    for name in ("HeartMuLa-oss-7B", "HeartCodec-oss"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "gen_config.json").write_text("{}")
    assert locate_checkpoint(tmp_path).model_dir.name == "HeartMuLa-oss-7B"


def test_index_naming_a_tensor_its_shard_lacks(tmp_path, tiny_dir):
    folder = copy_model(tiny_dir, tmp_path / "b")
    index = folder / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    data["weight_map"]["ghost.weight"] = "model-00001-of-00003.safetensors"
    index.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="not found in the shard it names: ghost.weight"):
        load_heartmula(folder)
