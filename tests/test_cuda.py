"""CUDA-only checks of the graph-captured frame loop (skipped without a GPU; run on the device)."""

from __future__ import annotations

import pytest
import torch

from heartmula_core.generation import Conditioning, generate_frames, seed_generator
from heartmula_core.model.random_init import random_heartmula, tiny_config
from heartmula_core.sampling import SamplingSettings

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
EOS = 8193


@pytest.fixture(scope="module")
def model():
    return random_heartmula(tiny_config(), "cuda", torch.float32, seed=1)


COND = Conditioning(tokens=tuple(range(3, 40)), muq_index=12)


def frames(model, graph, n=40, **kw):
    kw.setdefault("settings", SamplingSettings())
    it = generate_frames(model, COND, max_frames=n, eos_id=EOS, num_codes=8192,
                         generator=seed_generator(0, "cuda"), cuda_graph=graph, **kw)
    return torch.stack([f.cpu() for f in it])


def test_graph_matches_eager(model):
    torch.backends.cuda.matmul.allow_tf32 = False
    eager, graph = frames(model, False, stop_at_eos=False), frames(model, True, stop_at_eos=False)
    assert eager.shape == graph.shape == (40, 1, 8)
    assert (eager == graph).all(-1).float().mean() > 0.95  # same draws; kernels may round differently


def test_graph_forced_and_eos(model):
    forced = torch.full((40, 8), -1, dtype=torch.long)
    forced[5] = torch.arange(8) + 7
    forced[20, 3] = EOS
    out = frames(model, True, forced=forced.cuda())
    assert out.shape[0] == 20
    assert torch.equal(out[5, 0], torch.arange(8) + 7)


def test_graph_candidates(model):
    out = frames(model, True, n=30, num_candidates=4, stop_at_eos=False)
    assert out.shape == (30, 4, 8)
    assert len({tuple(out[:, i].flatten().tolist()) for i in range(4)}) == 4


def test_compiled_layers_in_graph_match():
    torch.backends.cuda.matmul.allow_tf32 = False
    m = random_heartmula(tiny_config(), "cuda", torch.float32, seed=2)
    m.fuse_projections()
    plain = frames(m, True, n=30, stop_at_eos=False)
    m.compile_decode_layers()
    compiled = frames(m, True, n=30, stop_at_eos=False)
    assert (plain == compiled).all(-1).float().mean() > 0.95


def test_graphed_codec_windows_match_eager():
    from heartmula_core.codec.heartcodec import random_heartcodec, tiny_config
    torch.backends.cuda.matmul.allow_tf32 = False
    codec = random_heartcodec(tiny_config(), "cuda", torch.float32, seed=0)
    frames = torch.randint(0, 8192, (700, 8), generator=torch.Generator().manual_seed(0))
    for lead_in in (None, 64):
        codec.use_cuda_graphs = False
        eager = codec.decode(frames, torch.Generator().manual_seed(1), lead_in=lead_in)
        codec.use_cuda_graphs = True
        graphed = codec.decode(frames, torch.Generator().manual_seed(1), lead_in=lead_in)
        again = codec.decode(frames, torch.Generator().manual_seed(1), lead_in=lead_in)
        assert torch.allclose(eager, graphed, atol=1e-4, rtol=1e-4)
        assert torch.equal(graphed, again)


@pytest.mark.parametrize("rows", [1, 2, 5, 16])
def test_skinny_products_match_library(rows):
    from heartmula_core.model import skinny

    gen = torch.Generator("cuda").manual_seed(rows)
    for (n, k), tile in [((3072, 1024), skinny.TileConfig()), ((200, 512), skinny.TileConfig(16, 256, 2, 4, 3)),
                         ((8200, 3072), skinny.TileConfig(64, 256, 1, 8, 4))]:
        skinny.TILES[(n, k)] = tile
        w = torch.randn(n, k, device="cuda", generator=gen, dtype=torch.bfloat16)
        x = torch.randn(rows, 3, k, device="cuda", generator=gen, dtype=torch.bfloat16)[:, 1]  # strided rows
        ref = x.double() @ w.double().T
        out = skinny.skinny_linear(x, w)
        assert out.shape == (rows, n) and out.dtype == torch.bfloat16
        assert float((out.double() - ref).norm() / ref.norm()) < 5e-3
    x = torch.randn(17, 512, device="cuda", dtype=torch.bfloat16)  # too many rows: library product
    assert torch.equal(skinny.skinny_linear(x, w[:, :512].contiguous()), torch.nn.functional.linear(x, w[:, :512].contiguous()))



def test_fixed_shape_training_matches_ragged_batches():
    """On CUDA the demo trainer pads every batch to one shape (cuDNN attention then plans once);
    8 steps give the same losses and weights as batches padded only to their longest song."""
    from heartmula_core.demo import train as T

    settings = T.TrainSettings(songs=16, batch=3, steps=8, dim=64, layers=2, decoder_dim=48, heads=8, max_frames=120,
                               section_weight=1.0, ahead_weight=1.0, boundary_weight=4.0, reference_chance=0.0)
    tokenizer = T.demo_prompt_tokenizer()
    config = T.build_config(settings, tokenizer.tokenizer.get_vocab_size())
    examples = T.make_examples(settings, tokenizer)
    runs = {}
    for buckets in (None, T.length_buckets(examples, 1)):
        model = T.random_heartmula(config, "cuda", torch.float32, 0).train()
        optimizer = T.make_optimizer(model, settings)
        losses = []
        batches = T.prefetched_batches(examples, settings, torch.Generator().manual_seed(0), None,
                                       torch.device("cuda"), buckets=buckets)
        for i, batch in enumerate(batches):
            T.set_lr(optimizer, T.lr_at(i, settings))
            losses.append(T.train_step(model, optimizer, batch, settings)[0].item())
        runs[buckets is None] = (losses, torch.cat([p.detach().flatten() for p in model.parameters()]))
    (ragged_losses, ragged_w), (fixed_losses, fixed_w) = runs[True], runs[False]
    assert ragged_losses[-1] < ragged_losses[0]
    assert ragged_losses == pytest.approx(fixed_losses, rel=2e-2)
    assert torch.allclose(ragged_w, fixed_w, atol=5e-3)
