"""The loaded pipeline: streamed generation + decoding, memory modes, the on-demand codec."""

from __future__ import annotations

import pytest
import torch

from heartmula_core.codec.on_demand import OnDemandCodec
from heartmula_core.errors import CheckpointError
from heartmula_core.pipeline import STREAM_BLOCK, Pipeline
from heartmula_core.sampling import SamplingSettings
from heartmula_core.tiny import write_tiny_checkpoint

LYRICS = "[verse]\nmorning light upon the window\n[chorus]\nwe are dancing in the city\n"


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    root = write_tiny_checkpoint(tmp_path_factory.mktemp("tiny"), seed=0)
    return Pipeline.load(root, device="cpu")


def test_generate_audio_streams_what_decode_gives(pipe):
    prompt = pipe.encode_prompt("pop", LYRICS)
    settings = SamplingSettings()
    chunks = list(pipe.generate_audio(prompt, max_frames=150, settings=settings, seed=3, stop_at_eos=False,
                                      lead_in=64))
    frames = torch.cat([f for f, _ in chunks])
    audio = torch.cat([a for _, a in chunks], dim=1)
    assert all(f.shape[0] == STREAM_BLOCK for f, _ in chunks[:-1])
    first_audio = next(i for i, (_, a) in enumerate(chunks) if a.shape[1])
    assert (first_audio + 1) * STREAM_BLOCK <= 80  # audio arrives with the first window of 64 frames
    assert torch.equal(frames, torch.stack(list(pipe.generate(prompt, max_frames=150, settings=settings,
                                                              seed=3, stop_at_eos=False))))
    assert audio.shape == (2, pipe.codec.samples_for(150))
    reference = pipe.codec.decode(frames, torch.Generator().manual_seed(3), lead_in=64)
    assert torch.allclose(audio, reference, atol=1e-5)


def test_unknown_memory_mode(tmp_path):
    with pytest.raises(CheckpointError, match="unknown memory mode 'tiny'"):
        Pipeline.load(tmp_path, memory="tiny")


def test_low_memory_is_a_no_op_on_cpu(pipe):
    low = Pipeline.load(pipe.paths.root, device="cpu", memory="low")
    assert not low.low_memory and not isinstance(low.codec, OnDemandCodec)


def test_on_demand_codec_parks_weights_and_decodes_the_same(pipe):
    freed = []
    wrapped = OnDemandCodec(pipe.codec, "cpu", before_load=lambda: freed.append(True))
    frames = torch.randint(0, 8192, (30, 8), generator=torch.Generator().manual_seed(0))
    got = wrapped.decode(frames, torch.Generator().manual_seed(1))
    assert torch.equal(got, pipe.codec.decode(frames, torch.Generator().manual_seed(1)))
    assert freed == [True]
    assert not pipe.codec.use_cuda_graphs  # windows would be re-captured after every move
    assert all(p.device.type == "cpu" for p in pipe.codec.network.parameters())
    stream = wrapped.stream(torch.Generator().manual_seed(1))
    streamed = torch.cat([stream.push(frames), stream.flush()], dim=1)
    assert torch.equal(streamed, got)


def test_codec_precision_choices(pipe):
    tf32 = Pipeline.load(pipe.paths.root, device="cpu", codec_dtype="tf32")
    assert tf32.codec.allow_tf32 and tf32.codec.dtype == torch.float32
    assert not pipe.codec.allow_tf32  # auto on a CPU: plain float32
    with pytest.raises(CheckpointError, match="unknown dtype 'fp8'"):
        Pipeline.load(pipe.paths.root, device="cpu", codec_dtype="fp8")


def test_warm_up_is_a_no_op_off_cuda(pipe):
    prompt = pipe.encode_prompt("pop", LYRICS)
    assert pipe.warm_up(prompt, max_frames=10, settings=SamplingSettings()) == 0.0
