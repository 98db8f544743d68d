"""Demo codec: shapes, determinism, exact streaming, frame validation, levels, clicks, folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartmula_core.codec.registry import load_codec
from heartmula_core.demo import vocab
from heartmula_core.demo.codec import DemoCodec, load_demo_codec, write_demo_codec_folder
from heartmula_core.demo.composer import compose
from heartmula_core.errors import ConfigError, FramesError

LYRICS = """[intro]

[verse]
the city lights are fading slow
and i am walking home alone

[chorus]
oh we are burning like a fire
tonight we shine

[outro]
"""


@pytest.fixture(scope="module")
def song():
    return compose("pop,piano,major", LYRICS, seed=3)


@pytest.fixture(scope="module")
def codec():
    return DemoCodec()


@pytest.fixture(scope="module")
def audio(song, codec):
    return codec.decode(song.frames)


def frame_rms_db(audio: torch.Tensor) -> np.ndarray:
    mono = audio.numpy().mean(axis=0).reshape(-1, vocab.FRAME_SAMPLES)
    return 20 * np.log10(np.sqrt((mono ** 2).mean(axis=1)) + 1e-12)


def test_shape_length_dtype(song, codec, audio):
    t = len(song.frames)
    assert audio.shape == (2, codec.samples_for(t)) == (2, t * 3840)
    assert audio.dtype == torch.float32
    assert codec.decode(torch.zeros(0, 8, dtype=torch.int64)).shape == (2, 0)
    assert codec.decode(song.frames[:1]).shape == (2, 3840)


def test_deterministic_and_generator_unused(song, codec, audio):
    again = codec.decode(song.frames, generator=torch.Generator().manual_seed(123))
    assert torch.equal(audio, again)


def test_codebook_sizes_are_small():
    assert DemoCodec().codebook_sizes == vocab.CODEBOOK_SIZES
    assert max(vocab.CODEBOOK_SIZES) - 1 == vocab.MAX_ID < 1024
    assert DemoCodec.codebook_size == vocab.MAX_ID + 1


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(st.integers(min_value=0, max_value=23), min_size=1, max_size=12),
       block=st.integers(min_value=1, max_value=6))
def test_stream_equals_decode_for_uneven_chunks(song, chunks, block):
    codec = DemoCodec(block_frames=block)
    frames = song.frames[:90]
    stream = codec.stream()
    pieces, start = [], 0
    for size in chunks:
        pieces.append(stream.push(frames[start:start + size]))
        start += size
    pieces.append(stream.push(frames[start:]))
    pieces.append(stream.flush())
    assert all(p.shape[0] == 2 for p in pieces)
    assert torch.equal(torch.cat(pieces, dim=1), codec.decode(frames))


def test_stream_returns_audio_as_soon_as_a_block_is_complete(song):
    stream = DemoCodec(block_frames=4).stream()
    assert stream.push(song.frames[:3]).shape == (2, 0)
    assert stream.push(song.frames[3:5]).shape == (2, 4 * 3840)
    assert stream.flush().shape == (2, 3840)
    with pytest.raises(RuntimeError):
        stream.push(song.frames[:1])


@pytest.mark.parametrize("bad", [
    torch.zeros(5, dtype=torch.int64),
    torch.zeros(5, 7, dtype=torch.int64),
    torch.zeros(5, 8, dtype=torch.float32),
    torch.zeros(5, 8, dtype=torch.bool),
])
def test_wrong_shape_or_dtype_is_frames_error(codec, bad):
    with pytest.raises(FramesError):
        codec.decode(bad)


@pytest.mark.parametrize("codebook", range(8))
def test_ids_out_of_range_are_frames_error(codec, codebook):
    frames = torch.zeros(3, 8, dtype=torch.int64)
    frames[1, codebook] = vocab.CODEBOOK_SIZES[codebook]
    with pytest.raises(FramesError, match=f"codebook {codebook}"):
        codec.decode(frames)
    frames[1, codebook] = -1
    with pytest.raises(FramesError):
        codec.stream().push(frames)
    frames[1, codebook] = vocab.CODEBOOK_SIZES[codebook] - 1
    assert codec.decode(frames).shape == (2, 3 * 3840)


def test_no_clipping_by_design(audio):
    # composer songs stay below the soft knee (0.85): the limiter never acts on them
    assert float(audio.abs().max()) < 0.85
    assert float(audio.abs().max()) > 0.2


def test_pathological_frames_stay_below_full_scale(codec):
    frames = torch.tensor([[vocab.MAX_ID if k == 0 else vocab.CODEBOOK_SIZES[k] - 1 for k in range(8)]] * 40)
    frames[:, vocab.CB_DRUMS] = 255
    frames[::2, vocab.CB_MELODY] = vocab.MELODY.on(83)
    frames[:, vocab.CB_TEXTURE] = vocab.texture_id("organ", 7)
    audio = codec.decode(frames)
    assert torch.isfinite(audio).all()
    assert float(audio.abs().max()) < 0.99


def test_vocal_is_audible_wherever_it_sings(song, codec):
    frames = song.frames.clone()
    frames[:, [vocab.CB_CHORD, vocab.CB_BASS, vocab.CB_DRUMS]] = 0  # vocal alone
    rms = frame_rms_db(codec.decode(frames))
    sung = (frames[:, vocab.CB_LYRIC] >= vocab.LYRIC_FIRST_SYLLABLE).numpy()
    assert sung.sum() > 50
    assert rms[sung].min() > -40.0
    silent = (frames[:, vocab.CB_LYRIC] == 0).numpy()
    silent[1:] &= silent[:-1]  # skip the frame where a note's release and echo fade
    assert np.median(rms[silent]) < -90.0


def test_no_clicks_at_frame_joins(song, codec):
    frames = song.frames.clone()
    frames[:, vocab.CB_DRUMS] = 0  # drum attacks are meant to be sharp
    mono = codec.decode(frames).numpy().mean(axis=0)
    jumps = np.abs(np.diff(mono))
    joins = np.arange(vocab.FRAME_SAMPLES // 4 - 1, len(jumps), vocab.FRAME_SAMPLES // 4)
    inside = np.ones(len(jumps), dtype=bool)
    inside[joins] = False
    assert jumps[joins].max() < 0.1 * np.abs(mono).max()
    assert jumps[joins].max() <= 1.5 * np.percentile(jumps[inside], 99.9)


def test_every_part_sounds(song, codec):
    for column in (vocab.CB_CHORD, vocab.CB_BASS, vocab.CB_DRUMS):
        frames = torch.zeros_like(song.frames)
        frames[:, column] = song.frames[:, column]
        frames[:, vocab.CB_TEXTURE] = song.frames[:, vocab.CB_TEXTURE]
        frames[:, vocab.CB_BEAT] = song.frames[:, vocab.CB_BEAT]
        audio = codec.decode(frames).numpy()
        assert 20 * np.log10(audio.std()) > -40.0, column


def test_stereo_is_not_mono(audio):
    left, right = audio.numpy()
    assert not np.allclose(left, right)
    assert np.corrcoef(left, right)[0, 1] > 0.5


def test_codec_folder_round_trip(tmp_path):
    codec = DemoCodec(block_frames=6, echo=0.5)
    folder = write_demo_codec_folder(tmp_path / "codec", codec)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "heartmula_demo_codec"
    assert config["codebook_sizes"] == list(vocab.CODEBOOK_SIZES)
    loaded = load_demo_codec(folder)
    assert (loaded.block_frames, loaded.echo) == (6, 0.5)
    assert isinstance(load_codec(folder), DemoCodec)


def test_v1_layout_checkpoints_still_render_the_same(tmp_path, song, audio):
    """A demo-v1 codec folder (section codebook second to last) loads; its frames, in v1 column
    order, sound and transcribe exactly as the same frames in the current layout."""
    folder = write_demo_codec_folder(tmp_path / "codec", DemoCodec(layout="demo-v1"))
    config = json.loads((folder / "config.json").read_text())
    assert config["token_layout"] == "demo-v1"
    assert config["codebook_sizes"] == [962, 73, 85, 49, 256, 40, 113, 281]
    old = load_demo_codec(folder)
    v1_frames = torch.from_numpy(vocab.to_layout(song.frames.numpy(), "demo-v1"))
    assert not torch.equal(v1_frames, song.frames)
    assert torch.equal(old.decode(v1_frames), audio)
    assert old.transcribe(v1_frames)["sections"] == DemoCodec().transcribe(song.frames)["sections"]
    with pytest.raises(FramesError):  # current-layout frames are out of range for v1's codebook 1
        old.decode(song.frames)


@pytest.mark.parametrize("change", [
    {"model_type": "heartcodec"}, {"block_frames": 0}, {"echo": "loud"}, {"codebook_sizes": [8192] * 8},
    {"token_layout": "demo-v9"},
])
def test_bad_codec_config_is_config_error(tmp_path, change):
    folder = write_demo_codec_folder(tmp_path / "codec")
    config = json.loads((folder / "config.json").read_text())
    config.update(change)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError):
        load_demo_codec(folder)


def test_token_spaces_name_what_the_ids_mean():
    """Song files record this name: the demo layouts differ, HeartCodec (also wrapped for
    on-demand loading, as the pipeline does on a GPU) is heartcodec/8x8192."""
    from heartmula_core.codec.heartcodec import random_heartcodec, tiny_config
    from heartmula_core.codec.on_demand import OnDemandCodec

    codec = random_heartcodec(tiny_config(), seed=0)
    assert DemoCodec().token_space == f"heartmula-demo/{vocab.LAYOUT_NAME}"
    assert DemoCodec(layout="demo-v1").token_space == "heartmula-demo/demo-v1" != DemoCodec().token_space
    assert codec.token_space == "heartcodec/8x8192"
    assert OnDemandCodec(codec, "cpu").token_space == "heartcodec/8x8192"
