"""HeartCodec config parsing, official key layout, weight-norm folding and checkpoint loading errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from heartmula_core.codec.heartcodec import (HeartCodecConfig, fold_weight_norm, load_heartcodec, tiny_config,
                                             write_random_heartcodec)
from heartmula_core.codec.heartcodec.estimator import mlp_hidden_dim
from heartmula_core.codec.heartcodec.layout import LEGACY, PARAMETRIZATIONS, is_unused_key, unused_file_shapes
from heartmula_core.codec.heartcodec.loading import build_network, expected_file_shapes
from heartmula_core.codec.heartcodec.random_init import random_state
from heartmula_core.errors import CheckpointError, ConfigError
from heartmula_core.weights import module_shapes

SPEC_TSV = Path("/work/shared/spec/heartcodec-keys.tsv")


# ---- config --------------------------------------------------------------------------------
def _write_config(tmp_path: Path, **changes) -> Path:
    data = HeartCodecConfig().to_json_dict()
    data.update(transformers_version="4.51.3")
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_official_config_round_trip_and_derived_widths(tmp_path):
    config = HeartCodecConfig.from_file(_write_config(tmp_path))
    assert config == HeartCodecConfig()
    assert (config.latent_dim, config.inner_dim, config.inner_dim_2) == (256, 1536, 3072)
    assert (config.decoder_channels, config.samples_per_latent) == (2048, 1920)
    assert (mlp_hidden_dim(1536), mlp_hidden_dim(3072)) == (4096, 8192)


def test_config_missing_fields_take_defaults(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"model_type": "heartcodec"}', encoding="utf-8")
    assert HeartCodecConfig.from_file(path) == HeartCodecConfig()


@pytest.mark.parametrize("changes, field", [
    ({"model_type": "heartmula"}, "model_type"),
    ({"dim": -1}, "dim"),
    ({"num_layers": True}, "num_layers"),
    ({"upsample_factors": [5, 4, "4"]}, "upsample_factors"),
    ({"use_cosine_sim": "no"}, "use_cosine_sim"),
    ({"in_channels": 1000}, "in_channels"),
    ({"out_channels": 128}, "out_channels"),
    ({"sample_rate": 44100}, "sample_rate"),
    ({"upsample_kernel_sizes": [10, 8, 8, 8, 7]}, "upsample_kernel_sizes"),
    ({"norm_type": "layer_norm"}, "norm_type"),
    ({"decay": "fast"}, "decay"),
])
def test_bad_config_names_file_and_field(tmp_path, changes, field):
    path = _write_config(tmp_path, **changes)
    with pytest.raises(ConfigError) as err:
        HeartCodecConfig.from_file(path)
    assert str(path) in str(err.value) and field in str(err.value)


def test_config_not_json_or_missing(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        HeartCodecConfig.from_file(path)
    with pytest.raises(ConfigError, match="does not exist"):
        HeartCodecConfig.from_file(tmp_path / "nope.json")


def test_tiny_config_is_valid_and_small():
    config = tiny_config()
    config.validate()
    assert config.codebook_size == 8192 and config.num_quantizers == 8 and config.samples_per_latent == 1920


# ---- official key layout ---------------------------------------------------------------------
def _spec_rows() -> dict[str, tuple[tuple[int, ...], str]]:
    rows = {}
    for line in SPEC_TSV.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape, _dtype, role = line.split("\t")
        rows[key] = (tuple(json.loads(shape)), role)
    return rows


@pytest.mark.skipif(not SPEC_TSV.is_file(), reason="spec TSV not available")
def test_full_size_decode_keys_match_spec_exactly():
    rows = _spec_rows()
    assert len(rows) == 818
    decode = {k: shape for k, (shape, role) in rows.items() if role.startswith("decode")}
    other = {k: shape for k, (shape, role) in rows.items() if not role.startswith("decode")}
    assert len(decode) == 563
    network = build_network(HeartCodecConfig())  # meta device: no memory
    naming = {p: PARAMETRIZATIONS for p in _wn_prefixes(network)}
    assert len(module_shapes(network)) == 506 and len(naming) == 57
    assert expected_file_shapes(network, naming) == decode
    assert all(is_unused_key(k) for k in other)
    assert not any(is_unused_key(k) for k in decode)
    unused = unused_file_shapes(HeartCodecConfig())
    assert set(unused) == set(other)
    for key, shape in other.items():  # the files store initted as [1], the module declares []
        assert unused[key] == ((1,) if key.endswith(".initted") else shape), key


def _wn_prefixes(network):
    from heartmula_core.codec.heartcodec.layout import weight_normed_prefixes
    return weight_normed_prefixes(network)


# ---- weight norm ---------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:.*weight_norm.*deprecated:FutureWarning")
@pytest.mark.parametrize("make", [
    lambda: torch.nn.Conv1d(6, 4, 5),
    lambda: torch.nn.ConvTranspose1d(6, 4, 8, stride=4),
])
def test_fold_matches_torch_weight_norm(make):
    torch.manual_seed(0)
    conv = torch.nn.utils.parametrizations.weight_norm(make(), dim=0)
    with torch.no_grad():
        conv.parametrizations.weight.original0.mul_(torch.rand_like(conv.parametrizations.weight.original0) + 0.5)
    g = conv.parametrizations.weight.original0.detach()
    v = conv.parametrizations.weight.original1.detach()
    assert g.shape == (v.shape[0], 1, 1)  # ConvTranspose1d: axis 0 = input channel
    torch.testing.assert_close(fold_weight_norm(g, v), conv.weight.detach(), rtol=1e-6, atol=1e-7)
    legacy = torch.nn.utils.weight_norm(make(), dim=0)  # weight_g / weight_v naming
    torch.testing.assert_close(fold_weight_norm(legacy.weight_g.detach(), legacy.weight_v.detach()),
                               legacy.weight.detach(), rtol=1e-6, atol=1e-7)


# ---- loading -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference_state():
    network = build_network(tiny_config())
    return random_state(network, torch.Generator().manual_seed(3))


@pytest.mark.parametrize("shards, naming, include_unused", [
    (1, PARAMETRIZATIONS, True), (3, PARAMETRIZATIONS, True), (2, LEGACY, True), (1, LEGACY, False),
])
def test_load_layouts(tmp_path, reference_state, shards, naming, include_unused):
    write_random_heartcodec(tmp_path, tiny_config(), seed=3, shards=shards, weight_norm_naming=naming,
                            include_unused=include_unused)
    assert (tmp_path / "model.safetensors.index.json").is_file() == (shards > 1)
    codec = load_heartcodec(tmp_path)
    state = codec.network.state_dict()
    assert set(state) == set(reference_state)
    for key, value in reference_state.items():
        torch.testing.assert_close(state[key], value, rtol=1e-5, atol=1e-6, msg=key)
    if include_unused:
        initted = load_file(str(next(tmp_path.glob("*.safetensors"))))
        assert all(t.shape == (1,) for k, t in initted.items() if k.endswith("initted"))


def test_load_bf16(tmp_path):
    write_random_heartcodec(tmp_path, tiny_config())
    codec = load_heartcodec(tmp_path, dtype=torch.bfloat16)
    assert {p.dtype for p in codec.network.parameters()} == {torch.bfloat16}
    assert codec.network.flow_matching.vq_embed.layers[0]._codebook.embed.dtype == torch.bfloat16


def _mutate(folder: Path, change) -> None:
    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    change(tensors)
    save_file(tensors, str(path))


WN = "scalar_model.decoder.1.convs.2.conv1.parametrizations.weight"


@pytest.mark.parametrize("change, message", [
    (lambda t: t.pop("flow_matching.estimator.proj_out.ffn_2.bias"), "flow_matching.estimator.proj_out.ffn_2.bias"),
    (lambda t: t.pop(f"{WN}.original1"), f"{WN}.original1"),
    (lambda t: t.update({"flow_matching.extra": torch.zeros(2)}), "flow_matching.extra"),
    (lambda t: t.update({"scalar_model.decoder.0.bias": torch.zeros(3)}), "scalar_model.decoder.0.bias"),
    (lambda t: t.update({"scalar_model.decoder.7.weight_g": torch.ones(1, 1, 1)}), "scalar_model.decoder.7.weight_g"),
    (lambda t: [t.pop(f"{WN}.original0"), t.pop(f"{WN}.original1")], "scalar_model.decoder.1.convs.2.conv1"),
    (lambda t: t.update({"flow_matching.cond_feature_emb.bias": torch.zeros(16, dtype=torch.int64)}),
     "flow_matching.cond_feature_emb.bias"),
])
def test_bad_tensors_raise_checkpoint_error(tmp_path, change, message):
    write_random_heartcodec(tmp_path, tiny_config())
    _mutate(tmp_path, change)
    with pytest.raises(CheckpointError) as err:
        load_heartcodec(tmp_path)
    assert message in str(err.value)


def test_unused_entries_of_any_shape_are_ignored(tmp_path):
    write_random_heartcodec(tmp_path, tiny_config())
    _mutate(tmp_path, lambda t: t.update({
        "flow_matching.vq_embed.layers.0._codebook.initted": torch.tensor(True),
        "flow_matching.vq_embed.layers.1._codebook.cluster_size": torch.zeros(5),
    }))
    load_heartcodec(tmp_path)


def test_truncated_file_and_corrupt_index(tmp_path):
    single = tmp_path / "single"
    write_random_heartcodec(single, tiny_config())
    data = (single / "model.safetensors").read_bytes()
    (single / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_heartcodec(single)
    sharded = tmp_path / "sharded"
    write_random_heartcodec(sharded, tiny_config(), shards=2)
    (sharded / "model.safetensors.index.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(CheckpointError, match="model.safetensors.index.json"):
        load_heartcodec(sharded)


def test_bad_config_in_folder(tmp_path):
    write_random_heartcodec(tmp_path, tiny_config())
    (tmp_path / "config.json").write_text('{"model_type": "heartcodec", "dim": 0}', encoding="utf-8")
    with pytest.raises(ConfigError, match="'dim'"):
        load_heartcodec(tmp_path)


def test_full_size_forward_shapes_on_meta():
    """The official-size modules run end to end on the meta device (shapes only, no memory)."""
    network = build_network(HeartCodecConfig())
    codes = torch.zeros(372, 8, dtype=torch.int64, device="meta")
    noise = torch.empty(1, 744, 256, device="meta")
    latent = network.window_latent(codes, noise, None, num_steps=1)
    latent = network.window_latent(codes, noise, latent, num_steps=1)
    assert latent.shape == (1, 744, 256)
    assert network.latent_to_audio(latent).shape == (2, 1_428_480)
