"""Stateless generation and scoring over a loaded :class:`~heartmula_core.model.heartmula.HeartMuLa`.

- :func:`generate_frames` prefills the prompt (plus an optional teacher-forced frame prefix) and
  yields frames one at a time, so callers stream, show progress and cancel simply by no longer
  iterating. Forced tokens replace sampled ones where given (pins, teacher forcing).
- :func:`score_frames` gives the teacher-forced log-likelihood of given frames, per frame: the
  primitive behind seam rescoring.

Positions: prompt rows take ``0 .. L-1``, prefix frames ``L .. L+P-1``; the backbone state at the
last filled position predicts the next frame. ``L + P + max_frames`` must fit the backbone's
``max_seq_len`` (8192 officially).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from .errors import FramesError, PromptError
from .frames import check_frames as check_ids
from .graphed import capacity_bucket, generate_frames_graphed
from .model.heartmula import HeartMuLa
from .sampling import FramePicker, SamplingSettings, guide, invalid_id_mask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Conditioning:
    """What the model is conditioned on: prompt text ids ``[L]`` (MuQ row included) and the MuQ row.

    ``muq_embed`` is the 512-d reference embedding (None: no reference, zeros as in the reference
    pipeline).
    """

    tokens: tuple[int, ...]
    muq_index: int
    muq_embed: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if not self.tokens:
            raise PromptError("the prompt is empty")
        if not 0 <= self.muq_index < len(self.tokens):
            raise PromptError(f"MuQ row {self.muq_index} lies outside the prompt of {len(self.tokens)} tokens")


def check_frames(frames: torch.Tensor, num_codebooks: int, vocab_size: int, what: str = "frames") -> torch.Tensor:
    """An int frame array ``[T, num_codebooks]`` of ids below ``vocab_size`` as int64 on its device;
    FramesError otherwise (:func:`heartmula_core.frames.check_frames`)."""
    return check_ids(frames, (vocab_size,) * num_codebooks, what)


def context_check(model: HeartMuLa, prompt_len: int, prefix_len: int, max_frames: int) -> None:
    """PromptError when prompt + prefix + frames exceed the backbone context."""
    limit = model.config.backbone.max_seq_len
    need = prompt_len + prefix_len + max_frames
    if need > limit:
        room = max(limit - prompt_len - prefix_len, 0)
        raise PromptError(f"prompt ({prompt_len} tokens) + {prefix_len + max_frames} frames need {need} positions "
                          f"but the model's context holds {limit}; at most {room} more frames "
                          f"({room * 0.08:.1f} s) fit: shorten the lyrics or the length")


def _prompt_embeddings(model: HeartMuLa, cond: Conditioning, rows: int, guided: bool) -> torch.Tensor:
    tokens = torch.tensor(cond.tokens, dtype=torch.long, device=model.device)
    return model.embed_prompt(tokens, cond.muq_index, cond.muq_embed, rows, guided)


@torch.inference_mode()
def generate_frames(
    model: HeartMuLa,
    cond: Conditioning,
    *,
    max_frames: int,
    settings: SamplingSettings,
    eos_id: int,
    num_codes: int | Sequence[int],
    generator: torch.Generator | None = None,
    prefix: torch.Tensor | None = None,
    forced: torch.Tensor | None = None,
    num_candidates: int = 1,
    stop_at_eos: bool = True,
    cuda_graph: bool | None = None,
) -> Iterator[torch.Tensor]:
    """Yield up to ``max_frames`` new frames, each ``[N, K]`` int64 (``N = num_candidates``).

    Args:
        prefix: ``[P, K]`` frames fed by teacher forcing before generating (shared by all candidates).
        forced: ``[max_frames, K]`` or ``[max_frames, N, K]``; values ≥ 0 are fed instead of sampled.
        num_codes: codec codes are ``0..num_codes-1`` (one count, or one per codebook); other ids
            except ``eos_id`` are never sampled.
        stop_at_eos: stop (without yielding) at the first frame where every candidate has produced
            a token ≥ ``eos_id`` in this or an earlier frame. The first frame of a song (no prefix)
            is never checked, as in the reference.
        cuda_graph: run the frame loop as a captured CUDA graph (:mod:`heartmula_core.graphed`);
            default: on CUDA devices. Frames then come back in blocks and on the CPU.
    """
    cfg = model.config
    k_total, vocab = cfg.audio_num_codebooks, cfg.audio_vocab_size
    device = model.device
    prefix = check_frames(prefix if prefix is not None else torch.zeros(0, k_total, dtype=torch.long),
                          k_total, vocab, "prefix")
    prompt_len, prefix_len = len(cond.tokens), prefix.shape[0]
    if max_frames < 1:
        return
    context_check(model, prompt_len, prefix_len, max_frames)
    if forced is not None:
        forced = forced.to(device=device, dtype=torch.long)
        if forced.dim() == 2:
            forced = forced[:, None].expand(-1, num_candidates, -1)
        if forced.shape != (max_frames, num_candidates, k_total):
            raise FramesError(f"forced tokens must have shape [{max_frames}, {k_total}] or "
                              f"[{max_frames}, {num_candidates}, {k_total}], found {list(forced.shape)}")

    groups = settings.groups
    rows = groups * num_candidates
    need = prompt_len + prefix_len + max_frames
    use_graph = device.type == "cuda" if cuda_graph is None else cuda_graph
    capacity = capacity_bucket(need, cfg.backbone.max_seq_len) if use_graph else need
    model.setup_caches(rows, capacity)
    picker = FramePicker(settings, invalid_id_mask(vocab, num_codes, eos_id, device, k_total), generator)

    embeds = _prompt_embeddings(model, cond, num_candidates, settings.guided)
    if prefix_len:
        prefix_rows = prefix.to(device)[None].expand(rows, -1, -1)
        embeds = torch.cat([embeds, model.embed_frames(prefix_rows)], dim=1)
    filled = prompt_len + prefix_len
    last_h = model.backbone_step(embeds, torch.arange(filled, device=device), kv_len=filled)
    if use_graph:
        yield from generate_frames_graphed(
            model, picker, first_hidden=last_h, filled=filled, capacity=capacity, max_frames=max_frames,
            num_candidates=num_candidates, forced=forced, eos_id=eos_id,
            check_first=prefix_len > 0, stop_at_eos=stop_at_eos)
        return

    ended = torch.zeros(num_candidates, dtype=torch.bool, device=device)
    for i in range(max_frames):
        picker.begin_frame(k_total, num_candidates, forced[i] if forced is not None else None)
        frame = model.generate_frame(last_h, picker)  # [N, K]
        if stop_at_eos and (i > 0 or prefix_len > 0):
            ended |= (frame >= eos_id).any(dim=-1)
            if bool(ended.all()):
                return
        yield frame
        if i + 1 < max_frames:
            step = model.embed_frames(frame.repeat(groups, 1)[:, None])  # [B, 1, Db]
            last_h = model.backbone_step(step, torch.tensor([filled], device=device), kv_len=filled + 1)
            filled += 1


def trim_at_eos(frames: torch.Tensor, eos_id: int) -> torch.Tensor:
    """``[T, K]`` frames cut before the first frame holding a token ≥ ``eos_id`` (frame 0 kept)."""
    hits = (frames[1:] >= eos_id).any(dim=-1).nonzero()
    return frames[: int(hits[0]) + 1] if len(hits) else frames


@torch.inference_mode()
def score_frames(
    model: HeartMuLa,
    cond: Conditioning,
    frames: torch.Tensor,
    *,
    cfg_scale: float = 1.5,
    prefix: torch.Tensor | None = None,
    chunk_frames: int = 128,
) -> torch.Tensor:
    """Teacher-forced log-likelihood of ``frames [T, K]`` per frame -> ``[T]`` float32.

    Frame ``t``'s score is the sum over its ``K`` codebooks of ``log_softmax`` of the CFG-guided
    logits (no top-k, temperature 1) at the given token; codebook ``k`` is conditioned on the
    frame's codebooks ``< k``, on every earlier frame and on ``prefix [P, K]`` (not scored).
    """
    cfg = model.config
    k_total, vocab = cfg.audio_num_codebooks, cfg.audio_vocab_size
    frames = check_frames(frames, k_total, vocab)
    prefix = check_frames(prefix if prefix is not None else frames[:0], k_total, vocab, "prefix")
    if frames.shape[0] == 0:
        return torch.zeros(0)
    settings = SamplingSettings(cfg_scale=cfg_scale)
    groups, guided = settings.groups, settings.guided
    history = torch.cat([prefix, frames[:-1]]).to(model.device)  # rows fed after the prompt
    prompt_len = len(cond.tokens)
    context_check(model, prompt_len, prefix.shape[0], frames.shape[0])

    embeds = _prompt_embeddings(model, cond, 1, guided)
    if history.shape[0]:
        embeds = torch.cat([embeds, model.embed_frames(history[None].expand(groups, -1, -1))], dim=1)
    hidden = model.backbone(embeds, torch.arange(embeds.shape[1], device=model.device))  # uncached
    last_h = hidden[:, prompt_len - 1 + prefix.shape[0]:]  # [G, T, Db]

    targets = frames.to(model.device)
    scores = []
    for start in range(0, frames.shape[0], chunk_frames):
        stop = min(start + chunk_frames, frames.shape[0])
        chunk = targets[start:stop]
        logits = model.decoder_logits(last_h[:, start:stop], chunk[None].expand(groups, -1, -1))
        logp = torch.log_softmax(guide(logits, cfg_scale, guided)[0], dim=-1)  # [t, K, V]
        scores.append(logp.gather(-1, chunk[..., None])[..., 0].sum(-1))
    return torch.cat(scores).float().cpu()


def seed_generator(seed: int, device: torch.device | str) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (sampling draws on the model device)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def frames_to_tensor(frames: Sequence[torch.Tensor], k_total: int) -> torch.Tensor:
    """Stack yielded single-candidate frames ``[1, K]`` into ``[T, K]`` int64 on the CPU."""
    if not frames:
        return torch.zeros(0, k_total, dtype=torch.long)
    return torch.cat([f.reshape(-1, k_total) for f in frames]).cpu()
