"""Multi-resolution min/max peak envelope of audio, for drawing waveforms fast (numpy only).

The envelope is the *union over channels*: each block stores the smallest and largest sample of
any channel in it (not a mono mix, so out-of-phase stereo does not cancel and peaks are exact).

Levels form a pyramid: level 0 holds one (min, max) pair per ``BASE_BLOCK`` samples, level ``k``
one pair per ``BASE_BLOCK * FACTOR**k`` samples. A 5-minute 48 kHz song is 900 k pairs at level 0
and ~1.2 M pairs in all (about 10 MB). :meth:`Envelope.view` picks the coarsest level that still
has at least one block per pixel, so a call reduces at most ``FACTOR`` blocks per pixel whatever
the zoom: O(pixels), not O(samples).

Growth (:meth:`Envelope.append`) and edits (:meth:`Envelope.replace`) rewrite only the blocks
they touch at every level: amortised O(new samples). Raw samples are not kept, so a block that
straddles the edge of a replaced span keeps the union of its old and new extrema (a smear of at
most ``BASE_BLOCK`` samples at each edge); spans aligned to ``BASE_BLOCK`` (codec frames are 3840
samples at 48 kHz) are exact.
"""

from __future__ import annotations

import math

import numpy as np

BASE_BLOCK = 16  # samples per block at level 0
FACTOR = 4  # blocks of level k per block of level k + 1
NUM_LEVELS = 9  # block sizes 16 ... 16 * 4**8 = 1 M samples (~22 s at 48 kHz)


class _Level:
    """Growable (min, max) arrays of one level; ``count`` blocks are valid (the last may be partial)."""

    def __init__(self, block: int):
        self.block = block
        self.count = 0
        self.mins = np.zeros(0, np.float32)
        self.maxs = np.zeros(0, np.float32)

    def reserve(self, count: int) -> None:
        if count > self.mins.size:  # capacity doubling: amortised O(1) per block
            capacity = max(count, 2 * self.mins.size, 64)
            for name in ("mins", "maxs"):
                grown = np.zeros(capacity, np.float32)
                grown[: self.count] = getattr(self, name)[: self.count]
                setattr(self, name, grown)


class Envelope:
    """Min/max pyramid of audio ``[channels, samples]`` at ``sample_rate`` Hz. Times are seconds."""

    def __init__(self, sample_rate: int):
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.sample_rate = int(sample_rate)
        self.length = 0  # samples
        self._levels = [_Level(BASE_BLOCK * FACTOR**k) for k in range(NUM_LEVELS)]

    @classmethod
    def from_audio(cls, audio: np.ndarray, sample_rate: int) -> Envelope:
        """Envelope of ``audio`` float ``[channels, samples]`` (or ``[samples]`` for mono)."""
        env = cls(sample_rate)
        env.append(audio)
        return env

    @property
    def duration(self) -> float:
        """Seconds of audio held."""
        return self.length / self.sample_rate

    def level(self, k: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(mins, maxs, block size in samples) of level ``k``; views, do not modify."""
        lv = self._levels[k]
        return lv.mins[: lv.count], lv.maxs[: lv.count], lv.block

    def append(self, chunk: np.ndarray) -> None:
        """Grow by ``chunk [channels, n]`` (streaming); touches only the blocks at the end."""
        self.replace(self.length, chunk)

    def replace(self, start_sample: int, audio: np.ndarray) -> None:
        """Overwrite samples from ``start_sample`` with ``audio [channels, n]``; may grow the end.

        ``start_sample`` must lie within ``[0, length]``. See the module note on edge blocks.
        """
        lo, hi = _channel_extrema(audio)
        start, n = int(start_sample), lo.size
        if not 0 <= start <= self.length:
            raise ValueError(f"start_sample {start} is outside the audio [0, {self.length}]")
        if n == 0:
            return
        old_length, end = self.length, start + n
        self.length = max(old_length, end)
        first, stop = self._write_base(start, end, old_length, lo, hi)
        for below, lv in zip(self._levels, self._levels[1:]):
            first, stop = _rebuild(below, lv, first, stop)

    def _write_base(self, start, end, old_length, lo, hi) -> tuple[int, int]:
        """Write level 0 for samples ``[start, end)``; return the changed block range."""
        lv, bs = self._levels[0], BASE_BLOCK
        first, stop = start // bs, -(-end // bs)
        offset = start - first * bs
        # block boundaries inside the chunk: the first block may start before it (offset)
        cuts = np.arange(bs - offset if offset else 0, lo.size, bs)
        if offset:
            cuts = np.concatenate(([0], cuts))
        mins, maxs = np.minimum.reduceat(lo, cuts), np.maximum.reduceat(hi, cuts)
        old_count = lv.count
        lv.reserve(stop)
        lv.count = max(old_count, stop)
        if offset:  # old samples [first * bs, start) share the first block
            mins[0] = min(mins[0], lv.mins[first])
            maxs[0] = max(maxs[0], lv.maxs[first])
        if end < min(old_length, stop * bs) and (stop - 1 != first or not offset):
            # old samples after `end` share the last block (already merged if it is the first)
            mins[-1] = min(mins[-1], lv.mins[stop - 1])
            maxs[-1] = max(maxs[-1], lv.maxs[stop - 1])
        lv.mins[first:stop], lv.maxs[first:stop] = mins, maxs
        return first, stop

    def view(self, t0: float, t1: float, n_pixels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Envelope of ``[t0, t1]`` seconds at about ``n_pixels`` points.

        Returns ``(times [P], mins [P], maxs [P])`` float arrays, ``P <= n_pixels``: each point is
        the extrema of a run of whole blocks, placed at the run's centre. Fewer points come back
        when zoomed in past one base block per pixel, and none outside the audio.
        """
        plan = self._plan(t0, t1, n_pixels)
        if plan is None:
            return np.zeros(0), np.zeros(0, np.float32), np.zeros(0, np.float32)
        k, edges = plan
        lv = self._levels[k]
        a, b = edges[0], edges[-1]
        cuts = edges[:-1] - a
        mins = np.minimum.reduceat(lv.mins[a:b], cuts)
        maxs = np.maximum.reduceat(lv.maxs[a:b], cuts)
        starts = edges[:-1] * lv.block
        ends = np.minimum(edges[1:] * lv.block, self.length)
        times = (starts + ends) * (0.5 / self.sample_rate)
        return times, mins, maxs

    def _plan(self, t0: float, t1: float, n_pixels: int) -> tuple[int, np.ndarray] | None:
        """(level, block edges [P + 1]) for :meth:`view`; point ``i`` covers blocks ``edges[i:i+2]``."""
        s0 = max(0.0, t0 * self.sample_rate)
        s1 = min(float(self.length), t1 * self.sample_rate)
        if n_pixels < 1 or s1 <= s0:
            return None
        per_pixel = (s1 - s0) / n_pixels
        # coarsest level whose block still fits in one pixel
        k = int(np.clip(math.floor(math.log(max(per_pixel, 1.0) / BASE_BLOCK, FACTOR)), 0, NUM_LEVELS - 1))
        lv = self._levels[k]
        b0 = int(s0 // lv.block)
        b1 = min(lv.count, max(b0 + 1, -int(-s1 // lv.block)))
        edges = np.unique(np.linspace(b0, b1, min(n_pixels, b1 - b0) + 1).astype(np.int64))
        return k, edges


def _channel_extrema(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample (min, max) over channels of ``[channels, n]`` (or ``[n]``), float32."""
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        return a, a
    if a.ndim != 2:
        raise ValueError(f"audio must be [channels, samples], got shape {list(a.shape)}")
    if a.shape[0] == 1:
        return a[0], a[0]
    return a.min(axis=0), a.max(axis=0)


def _rebuild(below: _Level, lv: _Level, first: int, stop: int) -> tuple[int, int]:
    """Recompute the blocks of ``lv`` that cover changed blocks ``[first, stop)`` of ``below``."""
    f = lv.block // below.block
    first, stop = first // f, -(-stop // f)
    lv.reserve(stop)
    lv.count = -(-below.count // f)
    a, b = first * f, min(stop * f, below.count)
    cuts = np.arange(0, b - a, f)
    lv.mins[first:stop] = np.minimum.reduceat(below.mins[a:b], cuts)
    lv.maxs[first:stop] = np.maximum.reduceat(below.maxs[a:b], cuts)
    return first, stop
