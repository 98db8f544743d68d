"""Transformer, RoPE, HeartMuLa frame step, sampling, generation and scoring on tiny random models."""

from __future__ import annotations

import math

import pytest
import torch

from heartmula_core.config import FLAVORS, TransformerConfig
from heartmula_core.errors import FramesError, PromptError
from heartmula_core.generation import (Conditioning, check_frames, frames_to_tensor, generate_frames,
                                       score_frames, seed_generator, trim_at_eos)
from heartmula_core.model.attention_probe import head_scores_rows
from heartmula_core.model.random_init import random_heartmula, tiny_config, tiny_flavor
from heartmula_core.model.rope import apply_rope, llama3_scaled_theta, rope_table
from heartmula_core.model.transformer import RMSNorm, Transformer
from heartmula_core.sampling import FramePicker, SamplingSettings, guide, invalid_id_mask, sample_topk

EOS = 8193


@pytest.fixture(scope="module")
def model():
    return random_heartmula(tiny_config(), seed=1)


@pytest.fixture(scope="module")
def cond():
    return Conditioning(tokens=tuple(range(3, 40)), muq_index=12)


def gen(model, cond, n=20, seed=0, **kw):
    kw.setdefault("settings", SamplingSettings())
    kw.setdefault("num_codes", 8192)
    frames = generate_frames(model, cond, max_frames=n, eos_id=EOS,
                             generator=seed_generator(seed, "cpu"), **kw)
    return frames_to_tensor(list(frames), 8)


# -- RoPE (spec §2.4 test values) -------------------------------------------------------------

@pytest.mark.parametrize("d, first, total, bands", [
    (128, [1.0, 0.81461722, 0.66360128], 5.385182296587423, (29, 35)),
    (384, [1.0, 0.93393761, 0.87223947], 15.110017197933665, (85, 105)),
])
def test_rope_theta_matches_spec(d, first, total, bands):
    theta = llama3_scaled_theta(d, 500_000.0, 32.0)
    assert theta.dtype == torch.float32 and theta.shape == (d // 2,)
    assert theta[:3].tolist() == pytest.approx(first, abs=1e-8)
    assert math.fsum(float(x) for x in theta.tolist()) == pytest.approx(total, abs=1e-12)
    unscaled = 1.0 / (500_000.0 ** (torch.arange(0, d, 2).float() / d))
    lo, hi = bands
    assert torch.equal(theta[:lo], unscaled[:lo])                  # unchanged band
    assert torch.allclose(theta[hi:], unscaled[hi:] / 32)          # divided by 32
    mid = theta[lo:hi]
    assert ((mid < unscaled[lo:hi]) & (mid > unscaled[lo:hi] / 32)).all()  # smooth band


def test_rope_scale_factor_one_is_plain_rope():
    theta = llama3_scaled_theta(64, 10_000.0, 1.0)
    assert torch.allclose(theta, 1.0 / (10_000.0 ** (torch.arange(0, 64, 2).float() / 64)))


def test_rope_rotates_interleaved_pairs():
    theta = torch.tensor([0.5, 0.1])
    table = rope_table(theta, 4)
    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 1, 4).expand(1, 4, 1, 4)
    out = apply_rope(x, table)
    p = 3
    a, b = 0.5 * p, 0.1 * p
    expected = [1 * math.cos(a) - 2 * math.sin(a), 2 * math.cos(a) + 1 * math.sin(a),
                3 * math.cos(b) - 4 * math.sin(b), 4 * math.cos(b) + 3 * math.sin(b)]
    assert out[0, p, 0].tolist() == pytest.approx(expected, abs=1e-6)
    assert torch.allclose(out[0, 0], x[0, 0])  # position 0 is the identity


def test_rmsnorm_upcasts_and_scales():
    norm = RMSNorm(4, 1e-5)
    norm.scale.data = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.bfloat16)
    x = torch.tensor([[1.0, -1.0, 1.0, -1.0]], dtype=torch.bfloat16)
    y = norm(x)
    assert y.dtype == torch.bfloat16
    assert y.float().tolist()[0] == pytest.approx([1.0, -2.0, 3.0, -4.0], rel=1e-2)


# -- transformer ------------------------------------------------------------------------------

def test_official_flavors_match_spec_table():
    assert FLAVORS["llama-3B"].head_dim == 128 and FLAVORS["llama-300M"].head_dim == 384
    assert FLAVORS["llama-3B"].num_parameters() == 2_818_747_392
    assert FLAVORS["llama-300M"].num_parameters() == 311_448_576


def test_official_3b_parameter_count_on_meta():
    from heartmula_core.config import HeartMuLaConfig
    from heartmula_core.model.heartmula import HeartMuLa
    with torch.device("meta"):
        m = HeartMuLa(HeartMuLaConfig())
    assert sum(p.numel() for p in m.parameters()) == 3_938_113_536
    assert len(m.state_dict()) == 289


def _gqa_layer() -> tuple[Transformer, torch.nn.Module]:
    """One layer of width 32, 4 query heads over 2 kv heads (head_dim 8), seeded; and its attention."""
    torch.manual_seed(0)
    t = Transformer(TransformerConfig(1, 4, 2, 32, 64, 16))
    t.init_rope("cpu")
    return t, t.layers[0].attn


def test_gqa_groups_consecutive_query_heads():
    """Query head h must read kv head h // (n_heads / n_kv): compare with an explicit expansion."""
    t, attn = _gqa_layer()
    x = torch.randn(1, 5, 32)
    pos = torch.arange(5)
    got = attn(x, t.rope[pos], pos, None)
    q = apply_rope(attn.q_proj(x).view(1, 5, 4, 8), t.rope[pos]).transpose(1, 2)
    k = apply_rope(attn.k_proj(x).view(1, 5, 2, 8), t.rope[pos]).transpose(1, 2)
    v = attn.v_proj(x).view(1, 5, 2, 8).transpose(1, 2)
    k, v = k[:, [0, 0, 1, 1]], v[:, [0, 0, 1, 1]]
    w = (q @ k.transpose(-1, -2)) / math.sqrt(8)
    w = w.masked_fill(~torch.ones(5, 5, dtype=torch.bool).tril(), float("-inf")).softmax(-1)
    ref = attn.output_proj((w @ v).transpose(1, 2).reshape(1, 5, 32))
    assert torch.allclose(got, ref, atol=1e-5)


def test_head_scores_are_the_heads_attention():
    """head_scores_rows ([B, T, S] for chosen query positions) softmaxes to the head's real
    attention (GQA head 3 reads kv head 1), causally masked."""
    t, attn = _gqa_layer()
    x = torch.randn(2, 7, 32)
    query = torch.tensor([[0, 3, 6], [2, 2, 5]])
    dense = head_scores_rows(attn, x, t.rope[:7], 3, query)  # [2, 3, 7]
    assert torch.isinf(dense[0, 0, 1:]).all() and torch.isfinite(dense[0, 2]).all()
    q = apply_rope(attn.q_proj(x).view(2, 7, 4, 8), t.rope[:7])[:, :, 3]
    k = apply_rope(attn.k_proj(x).view(2, 7, 2, 8), t.rope[:7])[:, :, 1]
    w = (q @ k.transpose(-1, -2) / math.sqrt(8)).masked_fill(~torch.ones(7, 7, dtype=torch.bool).tril(), float("-inf"))
    assert torch.allclose(dense.softmax(-1), w.softmax(-1).gather(1, query[..., None].expand(-1, -1, 7)), atol=1e-5)


def test_cached_steps_equal_uncached_forward():
    torch.manual_seed(0)
    t = Transformer(tiny_flavor(32, 2, 64))
    t.init_rope("cpu")
    x = torch.randn(2, 10, 32)
    full = t(x, torch.arange(10))
    t.setup_cache(2, 16)
    first = t(x[:, :6], torch.arange(6), kv_len=6)
    steps = [t(x[:, i:i + 1], torch.tensor([i]), kv_len=i + 1) for i in range(6, 10)]
    cached = torch.cat([first, *steps], dim=1)
    assert torch.allclose(full, cached, atol=1e-5)


# -- sampling ---------------------------------------------------------------------------------

def test_settings_reject_bad_values():
    for kw in ({"temperature": -1}, {"topk": 0}, {"cfg_scale": 0}, {"temperature": float("nan")}):
        with pytest.raises(Exception):
            SamplingSettings(**kw)


def test_guide_formula():
    logits = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    assert guide(logits, 1.5, True).tolist() == [[2.5, -0.5]]
    assert guide(logits[:1], 1.0, False).tolist() == [[2.0, 0.0]]


def test_topk_keeps_ties_and_only_topk():
    logits = torch.tensor([[5.0, 4.0, 4.0, 1.0, 0.0]])
    gen = torch.Generator().manual_seed(0)
    seen = {int(sample_topk(logits, 2, 1.0, gen)) for _ in range(400)}
    assert seen == {0, 1, 2}  # the tie at the threshold survives, the rest never appear


def test_exponential_race_matches_softmax_frequencies():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]]))
    gen = torch.Generator().manual_seed(1)
    draws = torch.stack([sample_topk(logits.expand(1000, -1), 50, 1.0, gen) for _ in range(10)])
    freq = torch.bincount(draws.flatten(), minlength=3).float() / draws.numel()
    assert freq.tolist() == pytest.approx([0.5, 0.3, 0.2], abs=0.02)


def test_invalid_ids_never_sampled():
    mask = invalid_id_mask(8197, 8192, 8193, "cpu")
    assert mask.shape == (8, 8197)
    assert torch.isinf(mask[:, [8192, 8194, 8195, 8196]]).all() and mask[:, 8193].eq(0).all()
    assert mask[:, :8192].eq(0).all()
    logits = torch.full((4, 8197), -10.0)
    logits[:, 8192] = 10.0  # the model "wants" 8192
    picker = FramePicker(SamplingSettings(cfg_scale=1.0), mask, torch.Generator().manual_seed(0))
    assert (picker(logits, 0) != 8192).all()


def test_per_codebook_code_counts_are_respected(model, cond):
    """A codec whose codebooks have different sizes (the demo codec) never receives an invalid id."""
    sizes = [5, 70, 300, 8, 256, 40, 113, 281]
    out = gen(model, cond, n=15, num_codes=sizes, settings=SamplingSettings(topk=8197), stop_at_eos=False)
    assert all(bool(((out[:, k] < sizes[k]) | (out[:, k] == EOS)).all()) for k in range(8))
    assert (out[:, 0] < 5).float().mean() > 0.5  # mostly real codes, not just EOS
    with pytest.raises(ValueError, match="3 code counts for 8 codebooks"):
        invalid_id_mask(8197, [1, 2, 3], 8193, "cpu")


# -- generation -------------------------------------------------------------------------------

def test_same_seed_same_frames_other_seed_differs(model, cond):
    a, b, c = gen(model, cond, seed=5), gen(model, cond, seed=5), gen(model, cond, seed=6)
    assert a.shape == (20, 8) and a.dtype == torch.long
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a < 8192).all()


def test_forced_tokens_are_fed_exactly(model, cond):
    forced = torch.full((20, 8), -1, dtype=torch.long)
    forced[3] = torch.arange(8) + 100          # a whole frame
    forced[7:10, 2] = 4321                     # one codebook over a range
    forced[12, 0] = 8192                       # even an id sampling would never choose
    out = gen(model, cond, forced=forced, stop_at_eos=False)
    free = forced < 0
    assert torch.equal(out[~free], forced[~free])


def test_forced_prefix_changes_later_frames_only_through_history(model, cond):
    """Teacher-forced prefix + continuation equals generating with the prefix forced."""
    first = gen(model, cond, n=12, seed=3)
    forced = torch.full((12, 8), -1, dtype=torch.long)
    forced[:5] = first[:5]
    replay = gen(model, cond, n=12, seed=3, forced=forced)
    assert torch.equal(replay, first)  # same draws consumed, same history


def test_prefix_prefill_matches_stepwise_history(model, cond):
    """Scoring frame P under a prefix equals scoring it as part of the whole sequence."""
    frames = gen(model, cond, n=10, seed=2)
    whole = score_frames(model, cond, frames)
    tail = score_frames(model, cond, frames[6:], prefix=frames[:6])
    assert torch.allclose(whole[6:], tail, atol=1e-4)


def test_eos_stops_and_frame_zero_is_never_checked(model, cond):
    forced = torch.full((20, 8), -1, dtype=torch.long)
    forced[0, 4] = EOS   # frame 0: kept despite EOS
    forced[6, 1] = EOS   # frame 6: ends the song, not yielded
    out = gen(model, cond, forced=forced)
    assert out.shape[0] == 6 and out[0, 4] == EOS
    longer = gen(model, cond, forced=forced, stop_at_eos=False)
    assert longer.shape[0] == 20
    assert trim_at_eos(longer, EOS).shape[0] == 6


def test_candidates_batch_shapes_and_independence(model, cond):
    frames = generate_frames(model, cond, max_frames=6, settings=SamplingSettings(), eos_id=EOS,
                             num_codes=8192, generator=seed_generator(0, "cpu"), num_candidates=3,
                             stop_at_eos=False)
    out = torch.stack(list(frames))  # [T, N, K]
    assert out.shape == (6, 3, 8)
    assert not torch.equal(out[:, 0], out[:, 1])


def test_context_overflow_is_a_clear_error(model, cond):
    with pytest.raises(PromptError, match="context holds 1024"):
        gen(model, cond, n=2000)


def test_check_frames_rejects_bad_arrays():
    with pytest.raises(FramesError, match=r"shape \[T, 8\]"):
        check_frames(torch.zeros(4, 7, dtype=torch.long), 8, 8197)
    with pytest.raises(FramesError, match="integer"):
        check_frames(torch.zeros(4, 8), 8, 8197)
    bad = torch.zeros(4, 8, dtype=torch.long)
    bad[2, 5] = 9000
    with pytest.raises(FramesError, match="frame 2 codebook 5 holds 9000"):
        check_frames(bad, 8, 8197)


# -- scoring ----------------------------------------------------------------------------------

def test_score_equals_generation_log_probs(model, cond):
    """Uncached teacher forcing must give exactly the log-probs seen by the cached sampler."""
    settings = SamplingSettings(temperature=1.0, topk=8197, cfg_scale=1.5)
    seen = []

    class Recorder(FramePicker):
        def __call__(self, logits, codebook):
            tokens = super().__call__(logits, codebook)
            logp = torch.log_softmax(guide(logits, 1.5, True), -1)
            seen.append(logp.gather(-1, tokens[:, None])[0, 0])
            return tokens

    model.setup_caches(2, 64)
    from heartmula_core.generation import _prompt_embeddings
    picker = Recorder(settings, torch.zeros(8197), torch.Generator().manual_seed(0))
    emb = _prompt_embeddings(model, cond, 1, True)
    L = emb.shape[1]
    with torch.inference_mode():
        h = model.backbone_step(emb, torch.arange(L), L)
        frames = []
        for i in range(5):
            f = model.generate_frame(h, picker)
            frames.append(f)
            h = model.backbone_step(model.embed_frames(f.repeat(2, 1)[:, None]), torch.tensor([L + i]), L + i + 1)
    frames = torch.cat(frames)
    expected = torch.stack(seen).view(5, 8).sum(-1)
    assert torch.allclose(score_frames(model, cond, frames, cfg_scale=1.5), expected, atol=1e-4)


def test_score_ranks_generated_above_perturbed(model, cond):
    frames = gen(model, cond, n=30, seed=9, settings=SamplingSettings(topk=5))
    noisy = frames.clone()
    g = torch.Generator().manual_seed(0)
    pick = torch.rand(noisy.shape, generator=g) < 0.5
    noisy[pick] = torch.randint(0, 8192, (int(pick.sum()),), generator=g)
    s_gen, s_noisy = score_frames(model, cond, frames), score_frames(model, cond, noisy)
    assert torch.isfinite(s_gen).all() and s_gen.shape == (30,)
    assert s_gen.mean() > s_noisy.mean() + 1.0


def test_muq_row_is_bias_without_reference(model, cond):
    emb = model.embed_prompt(torch.tensor(cond.tokens), cond.muq_index, None, 1, True)
    assert torch.equal(emb[0, cond.muq_index], model.muq_linear.bias)
    assert torch.equal(emb[1], model.unconditional_text_embedding.weight.expand(len(cond.tokens), -1))
    ref = torch.ones(512)
    emb2 = model.embed_prompt(torch.tensor(cond.tokens), cond.muq_index, ref, 1, False)
    assert emb2.shape[0] == 1
    assert torch.allclose(emb2[0, cond.muq_index], model.muq_linear(ref))


def test_fused_projections_change_nothing(cond):
    plain = random_heartmula(tiny_config(), seed=3)
    fused = random_heartmula(tiny_config(), seed=3)
    fused.fuse_projections()
    assert fused.backbone.layers[0].attn.wqkv is not None
    assert fused.backbone.layers[0].attn.q_proj.weight.data_ptr() == fused.backbone.layers[0].attn.wqkv.data_ptr()
    frames = gen(plain, cond, seed=4)
    assert torch.equal(frames, gen(fused, cond, seed=4))
    assert torch.allclose(score_frames(plain, cond, frames), score_frames(fused, cond, frames), atol=1e-4)
    state = fused.state_dict()
    assert state.keys() == plain.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in plain.state_dict().items())
