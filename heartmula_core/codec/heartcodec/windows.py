"""Window arithmetic of the HeartCodec detokenizer (spec §4.4, steps 1-3 and 6). Pure functions.

A song of T code frames (12.5 Hz) is decoded in windows of 372 code frames (744 latent frames, 29.76 s)
with a hop of 320 code frames; consecutive windows overlap by 52 code frames = 104 latent frames =
199,680 samples, which are cross-faded. Short or ragged songs are padded by *tiling* (repeating the
whole sequence) and the audio is trimmed to ``int(T / 12.5 * sample_rate)`` samples at the end.

Deliberate fix of a reference quirk: the reference pads when ``(N - 104) % 320 > 0``, using the
*latent* overlap 104 where the code overlap 52 belongs, so for T >= 424 with T % 320 == 104 (424,
744, 1064, ...) it pads nothing and never decodes the last 52 frames (4.16 s of audio missing).
:func:`plan_windows` pads whenever ``(N - 52) % 320 > 0``, so the windows always cover every frame;
:func:`plan_windows_reference` keeps the reference rule for comparison.

Lead-in schedule (an option of the engine, not of the reference): :func:`plan_lead_in` starts with a
short window of ``lead_in`` code frames and doubles the length window by window up to 372; every
window starts 52 frames before the previous one ends, so the overlap, the in-context carry and the
cross-fade are unchanged. A stream can then emit audio after ``lead_in`` frames instead of 372.
With ``lead_in = 372`` it is exactly the fixed plan. Windows are written as ``(start, length)``
spans in code frames; :func:`plan_spans` gives either plan in that form.
"""

from __future__ import annotations

import math

import torch

#: code frames per second (80 ms per frame)
CODE_RATE_HZ = 12.5
#: code frames per window: int(29.76 s * 12.5 Hz)
CODE_WINDOW = 372
#: code frames between window starts: 372 // 93 * 80 (the reference's 80/93 hop ratio)
CODE_HOP = 320
#: code frames shared by consecutive windows
CODE_OVERLAP = CODE_WINDOW - CODE_HOP  # 52
#: latent frames per code frame (the condition is up-sampled x2 to 25 Hz)
LATENT_PER_CODE = 2
#: latent frames per window: int(29.76 s * 25 Hz)
LATENT_WINDOW = CODE_WINDOW * LATENT_PER_CODE  # 744
#: latent frames carried from one window into the next (in-context latent) and cross-faded
LATENT_OVERLAP = CODE_OVERLAP * LATENT_PER_CODE  # 104
#: a lead-in suggested to callers: the first window holds 64 code frames (5.12 s of music)
DEFAULT_LEAD_IN = 64

#: a window as (start, length) in code frames
Span = tuple[int, int]


def plan_windows(num_frames: int) -> tuple[int, tuple[int, ...]]:
    """(padded length N, window start frames) for T = ``num_frames`` >= 1, with the quirk fixed.

    N >= T, N == 372 + 320 * (len(starts) - 1) and the last window ends exactly at N.
    """
    return _plan(num_frames, pad_overlap=CODE_OVERLAP)


def plan_windows_reference(num_frames: int) -> tuple[int, tuple[int, ...]]:
    """The reference plan, quirk included (pads by the 104-frame rule; may drop the last 52 frames)."""
    return _plan(num_frames, pad_overlap=LATENT_OVERLAP)


def _plan(num_frames: int, pad_overlap: int) -> tuple[int, tuple[int, ...]]:
    if num_frames < 1:
        raise ValueError(f"need at least one frame, got {num_frames}")
    length = max(num_frames, CODE_WINDOW)
    if (length - pad_overlap) % CODE_HOP > 0:
        length = math.ceil((length - CODE_OVERLAP) / CODE_HOP) * CODE_HOP + CODE_OVERLAP
    starts = tuple(range(0, length - CODE_HOP + 1, CODE_HOP))
    return length, starts


def check_lead_in(lead_in: int) -> int:
    """``lead_in`` if it is an int in 53..372, else TypeError / ValueError.

    The first window must be longer than the 52-frame overlap it shares with the second; beyond 372
    it would exceed the window length the codec was trained on.
    """
    if isinstance(lead_in, bool) or not isinstance(lead_in, int):
        raise TypeError(f"lead_in must be an int number of code frames, got {type(lead_in).__name__}")
    if not CODE_OVERLAP < lead_in <= CODE_WINDOW:
        raise ValueError(f"lead_in must be {CODE_OVERLAP + 1}..{CODE_WINDOW} code frames "
                         f"(more than the {CODE_OVERLAP}-frame overlap), got {lead_in}")
    return lead_in


def first_span(lead_in: int | None = None) -> Span:
    """Window 0: ``(0, 372)`` for the fixed plan (``lead_in`` None), else ``(0, lead_in)``."""
    return (0, CODE_WINDOW) if lead_in is None else (0, check_lead_in(lead_in))


def next_span(span: Span) -> Span:
    """The window after ``span``: starts 52 frames before its end, twice as long, at most 372.

    For a 372-frame window this is the fixed plan's hop of 320.
    """
    start, length = span
    return start + length - CODE_OVERLAP, min(2 * length, CODE_WINDOW)


def span_end(span: Span) -> int:
    """The frame after the last one of ``span``."""
    return span[0] + span[1]


def plan_lead_in(num_frames: int, lead_in: int = DEFAULT_LEAD_IN) -> tuple[int, tuple[Span, ...]]:
    """(padded length N, windows as (start, length) code-frame spans) for the lead-in schedule.

    Window 0 is ``[0, lead_in)``; window k + 1 starts 52 frames before window k ends and is twice as
    long, capped at 372 (lengths 64, 128, 256, 372, 372, ... for lead_in = 64). Windows are added
    until one ends at or after T = ``num_frames``; that last window keeps its scheduled length and
    N is its end (the frames are then padded to N by :func:`pad_frames`).
    """
    if num_frames < 1:
        raise ValueError(f"need at least one frame, got {num_frames}")
    spans = [first_span(lead_in)]
    while span_end(spans[-1]) < num_frames:
        spans.append(next_span(spans[-1]))
    return span_end(spans[-1]), tuple(spans)


def plan_spans(num_frames: int, lead_in: int | None = None) -> tuple[int, tuple[Span, ...]]:
    """:func:`plan_windows` (``lead_in`` None) or :func:`plan_lead_in`, windows as (start, length)."""
    if lead_in is not None:
        return plan_lead_in(num_frames, lead_in)
    length, starts = plan_windows(num_frames)
    return length, tuple((start, CODE_WINDOW) for start in starts)


def window_ready(index: int, available: int) -> bool:
    """Whether window ``index`` holds only real frames when ``available`` frames exist.

    Such a window is final: any later padding appends after the last real frame, and the padded length
    is at least the real length, so the window exists in the final plan with the same content.
    """
    return available >= index * CODE_HOP + CODE_WINDOW


def target_samples(num_frames: int, sample_rate: int) -> int:
    """Output length ``int(T / 12.5 * sample_rate)`` (float arithmetic, truncated, as the reference)."""
    return int(num_frames / CODE_RATE_HZ * sample_rate)


def covered_samples(num_windows: int, samples_per_latent: int) -> int:
    """Audio produced by ``num_windows`` overlap-added windows before trimming."""
    hop = (LATENT_WINDOW - LATENT_OVERLAP) * samples_per_latent
    return LATENT_WINDOW * samples_per_latent + (num_windows - 1) * hop


def tile_frames(frames: torch.Tensor, length: int) -> torch.Tensor:
    """Repeat the whole sequence ``frames`` ``[T, K]`` along time and cut to ``[length, K]``."""
    reps = math.ceil(length / frames.shape[0])
    return frames.repeat(reps, 1)[:length]


def pad_frames(frames: torch.Tensor, length: int) -> torch.Tensor:
    """Pad ``frames`` ``[T, K]`` to ``[length, K]`` as the reference does: tile to one window first
    (when T < 372), then tile that sequence to ``length``."""
    if frames.shape[0] < CODE_WINDOW:
        frames = tile_frames(frames, CODE_WINDOW)
    if frames.shape[0] < length:
        frames = tile_frames(frames, length)
    return frames[:length]


def crossfade_weights(num_samples: int) -> torch.Tensor:
    """Fade-in weights ``[num_samples]`` float32: linspace(0, 1) with both endpoints included."""
    return torch.linspace(0.0, 1.0, num_samples, dtype=torch.float32)


def crossfade(tail: torch.Tensor, head: torch.Tensor, fade_in: torch.Tensor) -> torch.Tensor:
    """``tail * (1 - w) + head * w`` for tail, head ``[C, n]`` and w ``[n]``."""
    return tail * (1 - fade_in) + head * fade_in
