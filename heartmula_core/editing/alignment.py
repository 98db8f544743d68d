"""Which lyric line and section each frame belongs to: the frame -> lyric map of the timeline.

Sources, best first:

1. the user's own section boundaries (stored in the document, applied by
   :meth:`SongDocument.sections`);
2. a codec that can *transcribe* its frames (the demo codec reads back what is sung and the
   section codebook exactly: :meth:`heartmula_core.demo.codec.DemoCodec.transcribe`) refines the
   attention path: frames where nothing is sung get no line, and transcribed section boundaries
   replace attention-derived ones when the section count matches the lyrics;
3. the model's own attention from audio frames to lyric tokens: the scores of the checkpoint's
   *alignment heads* (``alignment.json`` in the checkpoint root, ``{"alignment_heads":
   [[layer, head], ...]}``; default: every head of the last third of the backbone), softmaxed,
   averaged over heads, restricted to the lyric tokens, and turned into a monotonic path by
   dynamic programming (:func:`monotonic_path`). Each frame then maps through the prompt's
   token -> (section, line) map.

The whole song is re-aligned after each edit: one teacher-forced backbone pass, cheap next to
the sampling that produced the edit (the demo model: ~0.1 s for a minute of song on a CPU).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError
from ..generation import Conditioning
from ..model.attention_probe import capture_attention_inputs, head_scores_rows
from ..model.heartmula import HeartMuLa
from ..prompt import MARKER_LINE, Prompt

log = logging.getLogger(__name__)

ALIGNMENT_FILE = "alignment.json"


def default_heads(model: HeartMuLa) -> list[tuple[int, int]]:
    """Every head of the last third of the backbone's layers."""
    layers = model.config.backbone.num_layers
    first = layers - max(1, layers // 3)
    return [(layer, head) for layer in range(first, layers) for head in range(model.config.backbone.num_heads)]


def load_alignment_heads(root: Path | str | None, model: HeartMuLa) -> list[tuple[int, int]]:
    """The alignment heads declared under checkpoint ``root`` (or :func:`default_heads`)."""
    path = Path(root) / ALIGNMENT_FILE if root is not None else None
    if path is None or not path.exists():
        return default_heads(model)
    try:
        heads = [(int(a), int(b)) for a, b in json.loads(path.read_text())["alignment_heads"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: expected {{\"alignment_heads\": [[layer, head], ...]}} ({exc})") from None
    cfg = model.config.backbone
    for layer, head in heads:
        if not (0 <= layer < cfg.num_layers and 0 <= head < cfg.num_heads):
            raise CheckpointError(f"{path}: head ({layer}, {head}) does not exist in a {cfg.num_layers}-layer, "
                                  f"{cfg.num_heads}-head backbone")
    return heads


def write_alignment_heads(root: Path | str, heads: list[tuple[int, int]]) -> Path:
    path = Path(root) / ALIGNMENT_FILE
    path.write_text(json.dumps({"alignment_heads": [list(h) for h in heads]}) + "\n")
    return path


@torch.no_grad()
def lyric_attention(model: HeartMuLa, cond: Conditioning, frames: torch.Tensor, lyric_positions: list[int],
                    heads: list[tuple[int, int]]) -> np.ndarray:
    """``[T, L]`` float32: attention of the position predicting frame ``t`` to each lyric token.

    One uncached backbone pass over ``prompt + frames[:-1]`` (the conditional row only);
    rows are renormalised over the ``L`` lyric positions.
    """
    device = model.device
    prompt_len = len(cond.tokens)
    embeds = model.embed_prompt(torch.tensor(cond.tokens, device=device), cond.muq_index,
                                cond.muq_embed, 1, guided=False)  # [1, L, D]
    if len(frames) > 1:
        embeds = torch.cat([embeds, model.embed_frames(frames[None, :-1].to(device))], dim=1)
    layers = sorted({layer for layer, _ in heads})
    attns = [model.backbone.layers[i].attn for i in layers]
    with capture_attention_inputs(attns) as captured:
        model.backbone(embeds, torch.arange(embeds.shape[1], device=device))
    query = prompt_len - 1 + torch.arange(len(frames), device=device)[None]  # [1, T]
    columns = torch.tensor(lyric_positions, device=device)
    total = torch.zeros(len(frames), len(lyric_positions), device=device)
    for layer, head in heads:
        slot = captured[layers.index(layer)]
        probs = head_scores_rows(model.backbone.layers[layer].attn, slot["x"], slot["rope"], head, query)[0].softmax(-1)
        total += probs[:, columns]
    total = total / total.sum(dim=1, keepdim=True).clamp_min(1e-12)
    return total.float().cpu().numpy()


def monotonic_path(scores: np.ndarray) -> np.ndarray:
    """``[T]`` column per row maximising the summed log score, never moving left.

    ``scores [T, L]`` are probabilities (or any positive weights). Dynamic programming with a
    running maximum: ``best[t, j] = log s[t, j] + max_{i <= j} best[t-1, i]``; O(T L).
    """
    t_len, l_len = scores.shape
    if t_len == 0 or l_len == 0:
        return np.zeros(t_len, dtype=np.int64)
    logs = np.log(np.maximum(scores, 1e-12))
    back = np.zeros((t_len, l_len), dtype=np.int64)
    best = logs[0].copy()
    for t in range(1, t_len):
        arg = _running_argmax(best)
        back[t] = arg
        best = logs[t] + best[arg]
    path = np.zeros(t_len, dtype=np.int64)
    path[-1] = int(np.argmax(best))
    for t in range(t_len - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _running_argmax(values: np.ndarray) -> np.ndarray:
    """``out[j] = argmax(values[:j+1])`` (first maximum)."""
    running = np.maximum.accumulate(values)
    is_new = np.concatenate([[True], running[1:] > running[:-1]])
    index = np.where(is_new, np.arange(len(values)), 0)
    return np.maximum.accumulate(index)


def path_to_lines(prompt: Prompt, lyric_positions: list[int], path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(line_of [T], section_of [T])`` int32 from a path over ``lyric_positions``."""
    line_index = {line.key: line.index for line in prompt.structure.lines}
    line_of = np.full(len(path), -1, dtype=np.int32)
    section_of = np.full(len(path), -1, dtype=np.int32)
    for t, j in enumerate(path):
        key = prompt.token_lines[lyric_positions[j]]
        if key is None:
            continue
        section_of[t] = key[0]
        if key[1] != MARKER_LINE:
            line_of[t] = line_index[key]
    return line_of, section_of


def lyric_token_positions(prompt: Prompt) -> list[int]:
    """Prompt positions of the tokens that belong to a lyric line or marker."""
    return [i for i in range(prompt.lyrics_start, len(prompt.tokens)) if prompt.token_lines[i] is not None]


def refine_with_transcription(transcript: dict, prompt: Prompt, line_of: np.ndarray,
                              section_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a codec transcription (``{"sung": bool [T], "sections": [(kind, start, end)]}``).

    Unsung frames lose their line. Each transcribed section becomes the lyric section whose
    lines are sung inside it (majority vote; the lyrics decide what a section *is*, even when
    the model played it in another section's style); sections with no lines sung inside
    (instrumental) are matched to the remaining lyric sections by kind, in order
    (:func:`match_kinds`). Placing instrumental sections is what attention alone cannot do.
    """
    line_of = np.where(np.asarray(transcript["sung"], bool), line_of, -1).astype(np.int32)
    sections = transcript["sections"]
    line_section = np.array([line.section for line in prompt.structure.lines] + [-1], dtype=np.int32)
    assigned: dict[int, int] = {}
    for j, (_, start, end) in enumerate(sections):
        sung = line_section[line_of[start:end]]  # -1 frames map to the appended -1
        sung = sung[sung >= 0]
        if len(sung):
            assigned[j] = int(np.bincount(sung).argmax())
    used = set(assigned.values())
    free_lyric = [i for i in range(len(prompt.structure.sections)) if i not in used]
    free_found = [j for j in range(len(sections)) if j not in assigned]
    kinds = [_kind_key(s.kind or "verse") for s in prompt.structure.sections]
    for a, b in match_kinds([kinds[i] for i in free_lyric], [_kind_key(sections[j][0]) for j in free_found]):
        i, j = free_lyric[a], free_found[b]
        before = [assigned[k] for k in assigned if k < j]
        after = [assigned[k] for k in assigned if k > j]
        if all(x < i for x in before) and all(x > i for x in after):  # keep the song order
            assigned[j] = i
    if assigned:
        section_of = np.full(len(line_of), -1, dtype=np.int32)
        for j, i in assigned.items():
            _, start, end = sections[j]
            section_of[start:end] = i
    return line_of, section_of


_KIND_KEYS = {"prechorus": "prechorus", "pre-chorus": "prechorus", "hook": "chorus", "refrain": "chorus",
              "instrumental": "interlude", "solo": "interlude", "break": "interlude", "post-chorus": "chorus"}


def _kind_key(kind: str) -> str:
    return _KIND_KEYS.get(kind, kind)


def match_kinds(wanted: list[str], found: list[str]) -> list[tuple[int, int]]:
    """Order-preserving matching of two kind sequences maximising equal pairs (an LCS).

    Returns ``(wanted index, found index)`` pairs of equal kinds.
    """
    n, m = len(wanted), len(found)
    table = np.zeros((n + 1, m + 1), dtype=np.int64)
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i, j] = table[i + 1, j + 1] + 1 if wanted[i] == found[j] else max(table[i + 1, j], table[i, j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if wanted[i] == found[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1, j] >= table[i, j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def align(model: HeartMuLa, cond: Conditioning, prompt: Prompt, frames: np.ndarray,
          heads: list[tuple[int, int]], codec=None) -> tuple[np.ndarray, np.ndarray]:
    """``(line_of [T], section_of [T])`` int32 for ``frames [T, K]`` (see the module docstring)."""
    t = len(frames)
    positions = lyric_token_positions(prompt)
    if t == 0 or not positions:
        return np.full(t, -1, dtype=np.int32), np.full(t, -1, dtype=np.int32)
    scores = lyric_attention(model, cond, torch.tensor(frames, dtype=torch.long), positions, heads)
    line_of, section_of = path_to_lines(prompt, positions, monotonic_path(scores))
    transcribe = getattr(codec, "transcribe", None)
    if transcribe is not None:
        line_of, section_of = refine_with_transcription(transcribe(frames), prompt, line_of, section_of)
    return line_of, section_of
