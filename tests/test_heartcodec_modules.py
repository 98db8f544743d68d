"""HeartCodec building blocks and window arithmetic, on toy tensors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from heartmula_core.codec.heartcodec import plan_windows, plan_windows_reference
from heartmula_core.codec.heartcodec.estimator import apply_rope, rope_tables, timestep_features
from heartmula_core.codec.heartcodec.flow import solve_euler
from heartmula_core.codec.heartcodec.rvq import ResidualVQLookup
from heartmula_core.codec.heartcodec.scalar import CausalConvTranspose1d, Conv1d, PostProcessor, quantise
from heartmula_core.codec.heartcodec.windows import (CODE_HOP, CODE_WINDOW, covered_samples, pad_frames,
                                                     target_samples)


# ---- window arithmetic ---------------------------------------------------------------------
def _final_samples(plan, num_frames: int) -> int:
    padded, starts = plan(num_frames)
    return min(covered_samples(len(starts), 1920), target_samples(num_frames, 48000))


@pytest.mark.parametrize("T, padded, windows, samples", [
    (100, 372, 1, 384_000), (373, 692, 2, 1_432_320), (424, 424, 1, 1_428_480),
    (500, 692, 2, 1_920_000), (3000, 3252, 10, 11_520_000),
])
def test_reference_plan_matches_spec_table(T, padded, windows, samples):
    n, starts = plan_windows_reference(T)
    assert (n, len(starts), _final_samples(plan_windows_reference, T)) == (padded, windows, samples)


@pytest.mark.parametrize("T, padded, windows", [(100, 372, 1), (373, 692, 2), (424, 692, 2), (500, 692, 2),
                                               (3000, 3252, 10), (372, 372, 1), (744, 1012, 3)])
def test_fixed_plan_decodes_everything(T, padded, windows):
    n, starts = plan_windows(T)
    assert (n, len(starts)) == (padded, windows)
    assert _final_samples(plan_windows, T) == target_samples(T, 48000)  # nothing lost, also for 424 / 744


def test_target_len_truncates_float():
    assert target_samples(1012, 48000) == 3_886_079


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=20_000))
def test_plan_covers_all_frames(T):
    n, starts = plan_windows(T)
    assert n >= max(T, CODE_WINDOW)
    assert starts == tuple(range(0, CODE_HOP * len(starts), CODE_HOP))
    assert starts[-1] + CODE_WINDOW == n
    assert n - T < CODE_HOP + CODE_WINDOW


def test_pad_frames_tiles_whole_sequence():
    frames = torch.arange(5)[:, None].repeat(1, 8)
    padded = pad_frames(frames, 372)
    assert padded.shape == (372, 8)
    assert torch.equal(padded[:, 0], torch.arange(372) % 5)


# ---- scalar decoder pieces -----------------------------------------------------------------
def test_causal_conv_transpose_length_and_causality():
    torch.manual_seed(0)
    layer = CausalConvTranspose1d(3, 2, stride=4, kernel=8)
    ref = torch.nn.ConvTranspose1d(3, 2, 8, stride=4)
    with torch.no_grad():
        layer.weight.copy_(ref.weight)
        layer.bias.copy_(ref.bias)
        x = torch.randn(1, 3, 10)
        y = layer(x)
        assert y.shape == (1, 2, 40)
        torch.testing.assert_close(y, ref(x)[..., :-4])  # (L + 1) * s, last s dropped
        x2 = x.clone()
        x2[..., 6:] = 5.0
        torch.testing.assert_close(layer(x2)[..., : 6 * 4], y[..., : 6 * 4])  # output step t*s.. sees inputs <= t


def test_causal_and_lookahead_conv():
    torch.manual_seed(0)
    x = torch.randn(1, 2, 20)
    x2 = x.clone()
    x2[..., 12:] += 1.0
    with torch.no_grad():
        causal = Conv1d(2, 3, 7, dilation=3)
        causal.weight.normal_()
        causal.bias.zero_()
        assert causal(x).shape == (1, 3, 20)
        torch.testing.assert_close(causal(x)[..., :12], causal(x2)[..., :12])
        pointwise = Conv1d(2, 3, 1)
        pointwise.weight.normal_()
        pointwise.bias.normal_()
        torch.testing.assert_close(pointwise(x), torch.nn.functional.conv1d(x, pointwise.weight, pointwise.bias))
        look = Conv1d(2, 3, 5, causal=False)
        look.weight.normal_()
        look.bias.zero_()
        assert look(x).shape == (1, 3, 20)
        assert not torch.allclose(look(x)[..., 10:12], look(x2)[..., 10:12])  # sees 2 steps ahead


def test_postprocessor_repeats_each_step():
    post = PostProcessor(2, factor=2, kernel=7)
    with torch.no_grad():
        post.conv.weight.zero_()
        post.conv.weight[0, 0, -1] = 1.0  # causal identity tap (current step) on channel 0
        post.conv.weight[1, 1, -1] = 1.0
        post.conv.bias.zero_()
        post.activation.weight.fill_(1.0)  # identity PReLU
        x = torch.tensor([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]])
        assert torch.equal(post(x), torch.tensor([[[1.0, 1, 2, 2, 3, 3], [4.0, 4, 5, 5, 6, 6]]]))


def test_quantise_rounds_half_to_even():
    z = torch.tensor([0.5, 1.5, -0.5, 0.26]) / 9
    torch.testing.assert_close(quantise(z), torch.tensor([0.0, 2.0, -0.0, 0.0]) / 9)


# ---- estimator pieces ----------------------------------------------------------------------
def test_rope_interleaved_pairs_base_10000():
    head_dim, length = 8, 5
    cos, sin = rope_tables(length, head_dim, torch.device("cpu"))
    theta = torch.tensor([10000.0 ** (-2 * i / head_dim) for i in range(head_dim // 2)])
    torch.testing.assert_close(cos, torch.cos(torch.arange(length)[:, None] * theta[None]))
    x = torch.randn(1, length, 3, head_dim)
    out = apply_rope(x, cos, sin)
    # reference: view pairs (x[2i], x[2i+1]) as complex numbers and rotate by p * theta_i
    z = torch.view_as_complex(x.reshape(1, length, 3, head_dim // 2, 2).contiguous())
    rot = torch.polar(torch.ones(length, head_dim // 2), torch.arange(length)[:, None] * theta[None])
    expected = torch.view_as_real(z * rot[None, :, None, :]).flatten(-2)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(out[:, 0], x[:, 0])  # position 0 is the identity


def test_timestep_features_cos_first():
    feats = timestep_features(torch.tensor([0.0, 0.5]))
    assert feats.shape == (2, 512)
    torch.testing.assert_close(feats[0], torch.cat((torch.ones(256), torch.zeros(256))))
    torch.testing.assert_close(feats[1, 1], torch.tensor(math.cos(500.0 * math.exp(-math.log(10000) / 256))))


def test_rvq_lookup_sums_codebooks():
    torch.manual_seed(0)
    rvq = ResidualVQLookup(num_quantizers=3, codebook_size=10, codebook_dim=4, dim=6)
    for q, layer in enumerate(rvq.layers):
        layer._codebook.embed.copy_(torch.randn(1, 10, 4))
    codes = torch.tensor([[1, 2, 3], [9, 0, 5]])
    summed = sum(rvq.layers[q]._codebook.embed[0, codes[:, q]] for q in range(3))
    torch.testing.assert_close(rvq(codes), rvq.project_out(summed))
    assert set(rvq.state_dict()) == {"layers.0._codebook.embed", "layers.1._codebook.embed",
                                     "layers.2._codebook.embed", "project_out.weight", "project_out.bias"}


class _FakeEstimator(torch.nn.Module):
    """v = cond-part mean + 1 per row; records the inputs it saw."""

    def __init__(self, latent: int):
        super().__init__()
        self.latent = latent
        self.calls = []

    def forward(self, x, t):
        self.calls.append((x.clone(), t.clone()))
        cond = x[..., 2 * self.latent:]
        return cond.mean(-1, keepdim=True).expand(-1, -1, self.latent) + 1.0


def test_euler_cfg_and_context_carry():
    latent, frames = 3, 6
    est = _FakeEstimator(latent)
    noise = torch.randn(1, frames, latent)
    context = torch.zeros(1, frames, latent)
    context[:, :2] = 7.0
    mu = torch.full((1, frames, 4), 2.0)
    out = solve_euler(est, noise, context, 2, mu, num_steps=10, guidance_scale=1.25)
    assert len(est.calls) == 10
    x0, t0 = est.calls[0]
    assert x0.shape == (2, frames, 2 * latent + 4) and torch.equal(t0, torch.zeros(2))
    assert torch.equal(x0[0, :, 2 * latent:], torch.zeros(frames, 4))  # row 0 unconditional, zero cond
    assert torch.equal(x0[1, :, 2 * latent:], mu[0])
    x5, _ = est.calls[5]  # at t = 0.5 the context frames are pinned to a noise / context mix
    t = 0.5
    torch.testing.assert_close(x5[0, :2, :latent], (1 - (1 - 1e-6) * t) * noise[0, :2] + t * context[0, :2])
    # v_u = 1, v_c = 3, guided 1 + 1.25 * 2 = 3.5 for one unit of time
    torch.testing.assert_close(out[0, 2:], noise[0, 2:] + 3.5)
    torch.testing.assert_close(out[0, :2], context[0, :2])
