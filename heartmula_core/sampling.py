"""Sampling: classifier-free guidance, temperature, top-k, seeded draws and forced tokens (spec §3.3-3.4).

All sampling maths runs in float32 whatever the model dtype (the reference mixes CFG in bf16; we
upcast first, which differs only by rounding).

Audio ids that are not codec codes (``>= num_codes``) except EOS are never sampled: officially ids
8192 and 8194..8196 have no documented meaning, and a sampled 8192 would reach the codec and index
out of range (spec §3.5, §7.6). Masking them is our explicit choice for that open question.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from .errors import HeartMuLaError


@dataclass(frozen=True)
class SamplingSettings:
    """``temperature`` 0 means greedy; ``topk`` ≥ the vocabulary means no truncation;
    ``cfg_scale`` 1 switches guidance (and the unconditional rows) off."""

    temperature: float = 1.0
    topk: int = 50
    cfg_scale: float = 1.5

    def __post_init__(self) -> None:
        if not (self.temperature >= 0 and self.temperature < float("inf")):
            raise HeartMuLaError(f"temperature must be a finite number ≥ 0, got {self.temperature}")
        if isinstance(self.topk, bool) or not isinstance(self.topk, int) or self.topk < 1:
            raise HeartMuLaError(f"topk must be a whole number ≥ 1, got {self.topk}")
        if not (self.cfg_scale > 0 and self.cfg_scale < float("inf")):
            raise HeartMuLaError(f"cfg scale must be a finite number > 0, got {self.cfg_scale}")

    @property
    def guided(self) -> bool:
        """Whether the batch carries unconditional rows (any scale but exactly 1)."""
        return self.cfg_scale != 1.0

    @property
    def groups(self) -> int:
        return 2 if self.guided else 1


def guide(logits: torch.Tensor, cfg_scale: float, guided: bool) -> torch.Tensor:
    """CFG mix: ``[G * N, ...]`` rows (cond first) -> ``[N, ...]`` float32 guided logits.

    ``uncond + (cond - uncond) * cfg_scale``. Unlike the reference, a scale below 1 also uses this
    formula (it interpolates toward the unconditional model) instead of sampling rows apart.
    """
    logits = logits.float()
    if not guided:
        return logits
    cond, uncond = logits.chunk(2, dim=0)
    return uncond + (cond - uncond) * cfg_scale


def invalid_id_mask(vocab_size: int, num_codes: int | Sequence[int], eos_id: int, device: torch.device | str,
                    num_codebooks: int = 8) -> torch.Tensor:
    """``[K, V]`` float32: 0 for the codec codes of each codebook and for EOS, ``-inf`` elsewhere.

    ``num_codes`` is one count for every codebook (HeartCodec: 8192) or one per codebook (the demo
    codec's codebooks have different sizes).
    """
    counts = [num_codes] * num_codebooks if isinstance(num_codes, int) else list(num_codes)
    if len(counts) != num_codebooks:
        raise ValueError(f"{len(counts)} code counts for {num_codebooks} codebooks")
    mask = torch.full((num_codebooks, vocab_size), float("-inf"), device=device)
    for k, count in enumerate(counts):
        mask[k, : min(count, vocab_size)] = 0.0
    if eos_id < vocab_size:
        mask[:, eos_id] = 0.0
    return mask


#: rows longer than this are split for the top-k threshold on CUDA (see :func:`kth_largest`)
TOPK_CHUNKS = 16


def kth_largest(logits: torch.Tensor, k: int, chunked: bool | None = None) -> torch.Tensor:
    """The ``k``-th largest value of each row of ``logits [N, V]`` -> ``[N, 1]``.

    On CUDA a single ``torch.topk`` over one long row runs in one thread block (~36 µs for
    V = 8197 on an H100, 8 per frame). Splitting each row into :data:`TOPK_CHUNKS` chunks, taking
    each chunk's top ``k`` and then the top ``k`` of those gives exactly the same value (the row's
    top ``k`` lie within the chunks' top ``k``) from many short rows in parallel. ``chunked``
    forces either way (default: on CUDA).
    """
    n, v = logits.shape
    chunk = -(-v // TOPK_CHUNKS)
    if not (logits.is_cuda if chunked is None else chunked) or chunk < k:
        return torch.topk(logits, k, dim=-1).values[..., -1:]
    padded = F.pad(logits, (0, chunk * TOPK_CHUNKS - v), value=float("-inf")).view(n, TOPK_CHUNKS, chunk)
    best = torch.topk(padded, k, dim=-1).values.reshape(n, TOPK_CHUNKS * k)
    return torch.topk(best, k, dim=-1).values[..., -1:]


def sample_topk(logits: torch.Tensor, topk: int, temperature: float,
                generator: torch.Generator | None = None, race: torch.Tensor | None = None) -> torch.Tensor:
    """Draw one id per row of ``logits [N, V]`` float32 -> ``[N]`` int64.

    Keeps every logit ≥ the k-th largest (ties survive), softmax, then the exponential race
    ``argmax p / q`` with ``q ~ Exp(1)`` (an exact categorical draw, no host sync). ``q`` is
    ``race [N, V]`` when given (pre-drawn, so the step holds no RNG and can be graph-captured),
    else drawn from ``generator``.
    """
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if topk < logits.shape[-1]:
        kth = kth_largest(logits, topk)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if race is None:
        race = torch.empty_like(probs).exponential_(1.0, generator=generator)
    return (probs / race).argmax(dim=-1)


class FramePicker:
    """The ``pick`` callback of :meth:`HeartMuLa.generate_frame`: guidance, masking, sampling, forcing.

    Per frame, :meth:`begin_frame` draws the frame's race noise ``[K, N, V]`` from the seeded
    generator in one call (or a caller fills :attr:`race` itself, as the CUDA-graph step does), so
    the step itself holds no RNG. ``forced`` is ``[N, K]`` int64 where values ≥ 0 are fed instead of
    sampled and -1 leaves the codebook free. A forced token is used even if sampling would never
    choose it (pins and teacher forcing must reproduce given frames exactly).
    """

    def __init__(self, settings: SamplingSettings, id_mask: torch.Tensor, generator: torch.Generator | None):
        self.settings = settings
        self.id_mask = id_mask
        self.generator = generator
        self.forced: torch.Tensor | None = None
        self.race: torch.Tensor | None = None

    def set_forced(self, forced: torch.Tensor | None) -> None:
        self.forced = forced

    def begin_frame(self, num_codebooks: int, num_candidates: int, forced: torch.Tensor | None = None) -> None:
        """Draw the race noise of the next frame and set its forced tokens."""
        shape = (num_codebooks, num_candidates, self.id_mask.shape[-1])
        if self.race is None or self.race.shape != shape:
            self.race = torch.empty(shape, device=self.id_mask.device)
        self.race.exponential_(1.0, generator=self.generator)
        self.forced = forced

    def __call__(self, logits: torch.Tensor, codebook: int) -> torch.Tensor:
        s = self.settings
        guided = guide(logits, s.cfg_scale, s.guided) + self.id_mask[codebook]
        race = self.race[codebook] if self.race is not None else None
        tokens = sample_topk(guided, s.topk, s.temperature, self.generator, race)
        if self.forced is not None:
            column = self.forced[:, codebook]
            tokens = torch.where(column >= 0, column, tokens)
        return tokens
