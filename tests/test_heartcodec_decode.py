"""HeartCodec decoding with tiny random weights: shapes, determinism, frame validation, streaming."""

from __future__ import annotations

import pytest
import torch

from heartmula_core.errors import FramesError


from tests.conftest import random_frames as _frames
from tests.conftest import seeded as _gen


def test_decode_shape_dtype_finite(codec):
    audio = codec.decode(_frames(100), _gen(1))
    assert audio.shape == (2, codec.samples_for(100)) == (2, 384_000)
    assert audio.dtype == torch.float32 and audio.device.type == "cpu"
    assert torch.isfinite(audio).all()
    assert 0 < audio.abs().max() < 1e3
    assert not torch.equal(audio[0], audio[1])  # two distinct channels


def test_decode_is_deterministic_per_seed(codec):
    frames = _frames(40)
    a = codec.decode(frames, _gen(5))
    b = codec.decode(frames, _gen(5))
    c = codec.decode(frames, _gen(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("frames, message", [
    (torch.full((5, 8), 8192), "frame 0 codebook 0 holds 8192; codebook 0 takes 0..8191"),
    (torch.tensor([[0] * 8, [0, 0, 0, -1, 0, 0, 0, 0]]), "frame 1 codebook 3 holds -1"),
    (torch.zeros(8, 20, dtype=torch.int64), "shape [T, 8]"),
    (torch.zeros(20, dtype=torch.int64), "shape [T, 8]"),
    (torch.zeros(20, 8), "integer"),
    (torch.zeros(0, 8, dtype=torch.int64), "empty"),
    ([[0] * 8], "torch.Tensor"),
])
def test_bad_frames_raise_frames_error(codec, frames, message):
    with pytest.raises(FramesError) as err:
        codec.decode(frames)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_int32_frames_accepted(codec):
    audio = codec.decode(_frames(3).to(torch.int32), _gen(0))
    assert audio.shape == (2, codec.samples_for(3))


def _stream(codec, frames: torch.Tensor, chunks: list[int], seed: int) -> tuple[torch.Tensor, list[int]]:
    stream = codec.stream(_gen(seed))
    pieces, pos = [], 0
    for size in chunks:
        pieces.append(stream.push(frames[pos:pos + size]))
        pos += size
    assert pos == frames.shape[0]
    sizes = [p.shape[1] for p in pieces]
    pieces.append(stream.flush())
    return torch.cat(pieces, dim=1), sizes


@pytest.mark.parametrize("num_frames, chunks", [
    (100, [1, 0, 60, 39]),
    (424, [371, 2, 51]),  # the quirk length: both windows decode, nothing is dropped
    (1012, [300, 100, 250, 1, 361]),  # three windows, all final before flush
])
def test_stream_equals_decode(codec, num_frames, chunks):
    frames = _frames(num_frames, seed=num_frames)
    batch = codec.decode(frames, _gen(11))
    streamed, sizes = _stream(codec, frames, chunks, seed=11)
    assert streamed.shape == batch.shape == (2, codec.samples_for(num_frames))
    torch.testing.assert_close(streamed, batch, rtol=0, atol=1e-6)
    if num_frames == 1012:  # windows become final at 372, 692 and 1012 frames
        hop = codec.hop_samples
        assert sizes == [0, hop, 0, 0, 2 * hop]


def test_stream_misuse(codec):
    stream = codec.stream(_gen(0))
    with pytest.raises(FramesError, match="no frames"):
        stream.flush()
    with pytest.raises(RuntimeError):
        stream.push(_frames(2))
    stream = codec.stream()
    with pytest.raises(FramesError, match="8192"):
        stream.push(torch.full((2, 8), 8192))


def test_tf32_context_restores_the_global_flag():
    import torch

    from heartmula_core.codec.heartcodec.model import tf32_matmuls
    before = torch.backends.cuda.matmul.allow_tf32
    with tf32_matmuls(True):
        assert torch.backends.cuda.matmul.allow_tf32
    assert torch.backends.cuda.matmul.allow_tf32 == before
    with tf32_matmuls(False):
        assert torch.backends.cuda.matmul.allow_tf32 == before
