"""HeartCodec lead-in schedule: short first windows so a stream emits audio after ``lead_in`` frames."""

from __future__ import annotations

import functools
import logging

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from heartmula_core.codec.heartcodec import plan_lead_in
from heartmula_core.codec.heartcodec.windows import CODE_OVERLAP, CODE_WINDOW, plan_spans

log = logging.getLogger(__name__)

LEAD_IN = 64


from tests.conftest import random_frames as _frames
from tests.conftest import seeded as _gen


# ---- schedule arithmetic ----------------------------------------------------------------------
def test_lead_in_schedule_example():
    n, spans = plan_lead_in(1000, 64)
    assert spans == ((0, 64), (12, 128), (88, 256), (292, 372), (612, 372), (932, 372))
    assert n == 1304
    assert plan_lead_in(1, 64) == (64, ((0, 64),))
    assert plan_lead_in(64, 64) == (64, ((0, 64),))
    assert plan_lead_in(65, 64) == (140, ((0, 64), (12, 128)))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=20_000), st.integers(min_value=CODE_OVERLAP + 1, max_value=CODE_WINDOW))
def test_lead_in_schedule_covers_all_frames(T, lead_in):
    n, spans = plan_lead_in(T, lead_in)
    assert spans[0] == (0, lead_in)
    for k, (prev, cur) in enumerate(zip(spans, spans[1:]), start=1):
        assert cur[0] == prev[0] + prev[1] - CODE_OVERLAP  # overlap of exactly 52 frames
        assert cur[1] == min(lead_in * 2 ** k, CODE_WINDOW)  # doubling, capped at 372
    assert n == spans[-1][0] + spans[-1][1] >= T  # the last window ends at N and covers every frame
    assert len(spans) == 1 or spans[-2][0] + spans[-2][1] < T  # no window more than needed


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=20_000))
def test_lead_in_372_is_the_fixed_plan(T):
    assert plan_lead_in(T, CODE_WINDOW) == plan_spans(T)


@pytest.mark.parametrize("lead_in, error", [
    (52, ValueError), (0, ValueError), (-64, ValueError), (373, ValueError), (64.0, TypeError), (True, TypeError),
])
def test_lead_in_validation(codec, lead_in, error):
    with pytest.raises(error, match="lead_in"):
        plan_lead_in(100, lead_in)
    with pytest.raises(error, match="lead_in"):
        codec.decode(_frames(10), _gen(0), lead_in=lead_in)
    with pytest.raises(error, match="lead_in"):
        codec.stream(_gen(0), lead_in=lead_in)


# ---- streaming ---------------------------------------------------------------------------------
def test_first_audio_after_lead_in_frames(codec):
    frames = _frames(140, seed=3)
    stream = codec.stream(_gen(2), lead_in=LEAD_IN)
    assert stream.push(frames[:63]).shape == (2, 0)
    first = stream.push(frames[63:64])  # window [0, 64) is complete
    assert first.shape == (2, 12 * codec.samples_per_frame) == (2, 46_080)  # up to the next cross-fade (frame 12)
    assert stream.push(frames[64:139]).shape == (2, 0)
    second = stream.push(frames[139:140])  # window [12, 140) is complete
    assert second.shape == (2, (88 - 12) * codec.samples_per_frame)  # final up to frame 88
    rest = stream.flush()
    streamed = torch.cat((first, second, rest), dim=1)
    assert streamed.shape == (2, codec.samples_for(140))
    torch.testing.assert_close(streamed, codec.decode(frames, _gen(2), lead_in=LEAD_IN), rtol=0, atol=1e-6)


@functools.lru_cache(maxsize=None)
def _decoded(codec, num_frames: int, seed: int, lead_in: int | None) -> torch.Tensor:
    return codec.decode(_frames(num_frames, seed=num_frames), _gen(seed), lead_in=lead_in)


@pytest.mark.parametrize("num_frames, chunks", [
    (10, [3, 7]),  # shorter than the lead-in: one padded window
    (64, [64]),
    (70, [1, 0, 62, 7]),
    (300, [50, 50, 39, 1, 160]),
    (1000, [64, 76, 148, 1, 300, 11, 400]),
])
def test_lead_in_stream_equals_decode(codec, num_frames, chunks):
    frames = _frames(num_frames, seed=num_frames)
    batch = _decoded(codec, num_frames, 11, LEAD_IN)
    stream = codec.stream(_gen(11), lead_in=LEAD_IN)
    pieces, pos = [], 0
    for size in chunks:
        pieces.append(stream.push(frames[pos:pos + size]))
        pos += size
    assert pos == num_frames
    pieces.append(stream.flush())
    streamed = torch.cat(pieces, dim=1)
    assert streamed.shape == batch.shape == (2, codec.samples_for(num_frames))
    assert torch.isfinite(batch).all()
    torch.testing.assert_close(streamed, batch, rtol=0, atol=1e-6)


# ---- measurements: lead-in vs the reference windows ----------------------------------------------
def relative_rms_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """RMS of ``a - b`` over the RMS of ``b``."""
    return float((a - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt())


def join_jumps(audio: torch.Tensor, joins: list[int], guard: int = 2) -> tuple[list[float], float]:
    """(largest sample-to-sample step within ``guard`` samples of each join, 99.9th percentile of the
    steps elsewhere); steps are max over channels of ``|x[n + 1] - x[n]|``."""
    steps = (audio[:, 1:] - audio[:, :-1]).abs().amax(dim=0)
    elsewhere = torch.ones_like(steps, dtype=torch.bool)
    at_joins = []
    for j in joins:
        lo, hi = max(j - guard, 0), min(j + guard, steps.shape[0])
        if lo < hi:
            at_joins.append(float(steps[lo:hi].max()))
            elsewhere[lo:hi] = False
    return at_joins, float(torch.quantile(steps[elsewhere].double(), 0.999))


def window_joins(codec, num_frames: int, lead_in: int | None) -> list[int]:
    """Sample positions where a cross-fade begins or ends."""
    _, spans = plan_spans(num_frames, lead_in)
    starts = [start * codec.samples_per_frame for start, _ in spans[1:]]
    return [j for pos in starts for j in (pos, pos + codec.overlap_samples)]


def test_lead_in_difference_and_joins(codec):
    T, seed = 1000, 11
    lead = _decoded(codec, T, seed, LEAD_IN)
    full = _decoded(codec, T, seed, None)
    other_seed = _decoded(codec, T, seed + 1, None)
    rel = relative_rms_difference(lead, full)
    seed_rel = relative_rms_difference(other_seed, full)
    jumps, p999 = join_jumps(lead, window_joins(codec, T, LEAD_IN))
    full_jumps, full_p999 = join_jumps(full, window_joins(codec, T, None))
    log.info("lead-in 64 vs full decode, T=%d: relative RMS diff %.3f (another seed of the full decode: %.3f); "
             "join steps max %.4f vs p99.9 %.4f elsewhere (full decode: %.4f vs %.4f)",
             T, rel, seed_rel, max(jumps), p999, max(full_jumps), full_p999)
    assert len(jumps) == 2 * 5
    assert max(jumps) <= 3 * p999
    # the tiny random codec is mostly noise-driven: the lead-in changes the audio by about as much
    # as another noise draw, not more
    assert 0 < rel < 1.5 * seed_rel
