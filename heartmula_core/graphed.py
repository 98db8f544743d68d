"""The whole frame step as one CUDA graph: embed the previous frame -> backbone step -> 8 codebooks.

Eager PyTorch spends most of a frame launching ~1000 small kernels (28 backbone layers, 7 local
decoder passes of 3 layers, sampling). Replaying a captured graph removes that overhead, so the
step runs at the speed of reading the weights.

What makes the step capturable:

- static shapes: KV caches of a fixed ``capacity`` and attention over a static window of
  ``capacity`` slots, masked by the position held in a device tensor (no ``.item()``);
- no RNG inside: each frame's race noise is drawn from the seeded generator *before* the replay
  (:meth:`FramePicker.begin_frame` semantics), into a static buffer;
- the previous frame and the position live in static device buffers that the graph updates itself.

The caller's loop is then "draw noise, set forced tokens, replay" with no host synchronisation;
:func:`generate_frames_graphed` reads frames back every ``sync_every`` frames (streaming and the EOS
check) and discards what was computed past EOS.
"""

from __future__ import annotations

import logging
import time
from typing import Iterator

import torch

from .model import skinny
from .model.heartmula import HeartMuLa
from .sampling import FramePicker, SamplingSettings

log = logging.getLogger(__name__)

MIN_BUCKET = 1024


def capacity_bucket(need: int, limit: int) -> int:
    """Smallest power of two ≥ ``need`` (at least :data:`MIN_BUCKET`), capped at ``limit``."""
    bucket = MIN_BUCKET
    while bucket < need:
        bucket *= 2
    return min(bucket, limit)


class GraphedFrameStep:
    """A captured frame step for fixed (rows, candidates, capacity, sampling settings).

    Static buffers: :attr:`prev` ``[N, K]`` (the frame fed next), :attr:`pos` ``[1]`` (its
    position), and the picker's ``race [K, N, V]`` and ``forced [N, K]``. :meth:`replay` writes the
    new frame into :attr:`out` (and into ``prev``) and advances ``pos``.
    """

    def __init__(self, model: HeartMuLa, settings: SamplingSettings, id_mask: torch.Tensor, num_candidates: int,
                 capacity: int):
        cfg = model.config
        device = model.device
        self.model, self.groups, self.capacity = model, settings.groups, capacity
        k_total, vocab = cfg.audio_num_codebooks, cfg.audio_vocab_size
        # The graph reads these buffers' memory: they are never rebound, only written in place.
        self.picker = FramePicker(settings, id_mask, None)
        self.race = self.picker.race = torch.ones(k_total, num_candidates, vocab, device=device)
        self.forced = self.picker.forced = torch.full((num_candidates, k_total), -1, dtype=torch.long, device=device)
        self.prev = torch.zeros(num_candidates, k_total, dtype=torch.long, device=device)
        self.pos = torch.full((1,), capacity - 1, dtype=torch.long, device=device)  # warm-up writes a spare slot
        step = self._step
        t0 = time.perf_counter()
        self.graph = torch.cuda.CUDAGraph()
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(3):
                step()
                self.pos.fill_(capacity - 1)
        torch.cuda.current_stream(device).wait_stream(side)
        with torch.inference_mode(), torch.cuda.graph(self.graph):
            self.out = step()
        self.capture_seconds = time.perf_counter() - t0
        log.info("captured the frame step (rows %d, capacity %d) in %.2f s",
                 self.groups * num_candidates, capacity, self.capture_seconds)

    def _step(self) -> torch.Tensor:
        rows_prev = self.prev.repeat(self.groups, 1)[:, None]  # [B, 1, K]
        last_h = self.model.backbone_step(self.model.embed_frames(rows_prev), self.pos, kv_len=self.capacity)
        frame = self.model.generate_frame(last_h, self.picker)  # [N, K]
        self.prev.copy_(frame)
        self.pos.add_(1)
        return frame

    def start(self, first_frame: torch.Tensor, position: int) -> None:
        """Feed ``first_frame [N, K]`` at ``position`` on the next replay."""
        self.prev.copy_(first_frame)
        self.pos.fill_(position)

    def replay(self, generator: torch.Generator | None, forced: torch.Tensor | None) -> torch.Tensor:
        """One frame: draw its race noise, set its forced tokens (``[N, K]`` or None), replay."""
        self.race.exponential_(1.0, generator=generator)
        if forced is None:
            self.forced.fill_(-1)
        else:
            self.forced.copy_(forced)
        self.graph.replay()
        return self.out


def graphed_step(model: HeartMuLa, settings: SamplingSettings, id_mask: torch.Tensor, num_candidates: int,
                 capacity: int) -> GraphedFrameStep:
    """The captured step for these settings, reused while the model's caches stay the same."""
    key = (settings, num_candidates, capacity, tuple(torch.isinf(id_mask).nonzero().flatten().tolist()))
    step = model.graph_steps.get(key)
    if step is None:
        try:
            step = GraphedFrameStep(model, settings, id_mask, num_candidates, capacity)
        except Exception as err:  # noqa: BLE001 - Triton/inductor failures come in many types
            if not fast_paths_on(model):
                raise
            # compiled layers and Triton products need a working Triton (a C compiler, a supported
            # GPU); without them the library kernels still run the same step, only slower
            fast_paths_off(model, f"{type(err).__name__}: {err}")
            step = GraphedFrameStep(model, settings, id_mask, num_candidates, capacity)
        model.graph_steps[key] = step
    return step


def fast_paths_on(model: HeartMuLa) -> bool:
    """Whether the step uses Triton: compiled layers or skinny products."""
    return model.backbone.compiled_layer is not None or skinny.ENABLED


def fast_paths_off(model: HeartMuLa, reason: str) -> None:
    """Back to eager layers and library products (see :func:`graphed_step`); logged once, here."""
    log.warning("the compiled frame step failed (%s); using eager layers and library kernels",
                reason.splitlines()[0])
    model.backbone.compiled_layer = model.decoder.compiled_layer = None
    skinny.ENABLED = False


def generate_frames_graphed(model: HeartMuLa, picker: FramePicker, *, first_hidden: torch.Tensor,
                            filled: int, capacity: int, max_frames: int, num_candidates: int,
                            forced: torch.Tensor | None, eos_id: int, check_first: bool, stop_at_eos: bool,
                            sync_every: int = 16) -> Iterator[torch.Tensor]:
    """The frame loop of :func:`~heartmula_core.generation.generate_frames` on a CUDA graph.

    ``first_hidden [B, Db]`` is the prefill's last hidden state and ``filled`` the number of
    positions already in the caches (set up with ``capacity`` slots). Yields ``[N, K]`` frames
    on the CPU, read back in blocks of ``sync_every`` (the only host synchronisation).
    """
    k_total = model.config.audio_num_codebooks
    device = model.device
    picker.begin_frame(k_total, num_candidates, forced[0] if forced is not None else None)
    first = model.generate_frame(first_hidden, picker)  # eager: the first frame follows the prefill
    step = graphed_step(model, picker.settings, picker.id_mask, num_candidates, capacity)
    step.start(first, filled)

    block = torch.empty(sync_every, num_candidates, k_total, dtype=torch.long, device=device)
    ended = torch.zeros(num_candidates, dtype=torch.bool)
    produced = 0
    pending = [first]
    while True:
        # the pending block holds frames produced .. produced + len(pending) - 1
        host = torch.stack(pending).cpu() if isinstance(pending, list) else pending.cpu()
        for j in range(host.shape[0]):
            index = produced + j
            if stop_at_eos and (index > 0 or check_first):
                ended |= (host[j] >= eos_id).any(dim=-1)
                if bool(ended.all()):
                    return
            yield host[j]
        produced += host.shape[0]
        if produced >= max_frames:
            return
        count = min(sync_every, max_frames - produced)
        for j in range(count):
            i = produced + j
            block[j].copy_(step.replay(picker.generator, forced[i] if forced is not None else None))
        pending = block[:count]
