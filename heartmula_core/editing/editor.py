"""Editing operations: each takes a :class:`SongDocument` and returns a new one.

:class:`Editor` binds the operations to a loaded :class:`~heartmula_core.pipeline.Pipeline`.
Every model operation

- reports progress frame by frame through ``on_progress(ProgressEvent)``;
- checks ``cancel()`` between frames and raises :class:`~heartmula_core.errors.Cancelled`;
- never touches its input document (documents are immutable), so a cancelled or failed
  operation leaves the song exactly as it was.

The window primitive (:meth:`Editor._sample_window`) follows design §4: the prompt and the kept
frames before the window are prefilled by teacher forcing; pinned frames inside the window are
*forced* (fed, not sampled); ``K`` candidates are sampled as one batch; each is scored by the
log-likelihood of the next ``lookahead`` kept frames after the window (the seam score); the best
is applied and all ``K`` (plus the window as it was) are kept as takes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..checkpoint import DEMO_MODEL_DIR
from ..errors import Cancelled
from ..frames import ids_out_of_range
from ..generation import Conditioning, generate_frames, score_frames, seed_generator
from ..pipeline import Pipeline
from ..prompt import Prompt
from .alignment import align, load_alignment_heads
from .audio_cache import AudioCache
from ..reference import (EmbeddingCache, ReferenceError, default_cache_folder, embed_reference_file,
                         embedder_for_checkpoint, embedder_name_for_checkpoint)
from .document import EditError, Reference, SongDocument, Take, frozen_array

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = DEMO_MODEL_DIR
LOOKAHEAD_SECONDS = 2.0
REPAIR_SECONDS = 1.5
MAX_STRETCH = 2.0


@dataclass(frozen=True)
class ProgressEvent:
    """One step of an operation. ``frames [n, K]`` (new frames at index ``start``) and ``audio
    [C, s]`` (at sample ``audio_start``) are set while a song streams in."""

    stage: str
    done: int
    total: int
    frames: np.ndarray | None = None
    start: int = 0
    audio: np.ndarray | None = None
    audio_start: int = 0
    message: str = ""


ProgressFn = Callable[[ProgressEvent], None] | None
CancelFn = Callable[[], bool] | None


def _check_cancel(cancel: CancelFn) -> None:
    if cancel is not None and cancel():
        raise Cancelled("cancelled; the song is unchanged")


@dataclass
class WindowResult:
    """Candidates for one window: ``frames [N, L, K]``, window scores ``[N]``, seam scores ``[N]``
    (None without kept frames after the window) and the index of the best."""

    frames: np.ndarray
    scores: np.ndarray
    seams: np.ndarray | None
    best: int


def token_space_mismatch(song: str, model: str, model_name: str) -> str:
    """Why a song whose frames are ``song`` tokens cannot be played by a model reading ``model``
    tokens (:attr:`SongDocument.token_space`), or "" when it can (equal, or either unknown)."""
    if not song or not model or song == model:
        return ""
    return (f"this song was made with a model whose audio tokens are {song}; the loaded model "
            f"({model_name}) reads {model}, so it would play other music. Load the model that made "
            "the song (Settings) to play or edit it; the song is unchanged.")


class Editor:
    """The editing operations over one loaded model (see the module docstring)."""

    def __init__(self, pipeline: Pipeline, *, muq_folder: Path | str | None = None,
                 reference_cache: EmbeddingCache | None = None) -> None:
        self.pipeline = pipeline
        self.alignment_heads = load_alignment_heads(pipeline.paths.root, pipeline.model)
        self.muq_folder = muq_folder
        self.reference_cache = reference_cache if reference_cache is not None else EmbeddingCache(default_cache_folder())
        self._reference_embedder = None
        self._generated = False  # a generation has run (on CUDA the first one compiles its step)

    @classmethod
    def load(cls, root: Path | str | None = None, *, device: str = "auto", dtype: str | None = None,
             memory: str = "normal", muq_folder: Path | str | None = None) -> Editor:
        """Load a checkpoint root (None: the built-in demo model); ``muq_folder``: local MuQ-MuLan
        weights for reference audio with official checkpoints."""
        return cls(Pipeline.load(root or DEFAULT_MODEL_DIR, device=device, dtype=dtype, memory=memory),
                   muq_folder=muq_folder)

    # -- facts --------------------------------------------------------------------------------

    @property
    def frame_rate(self) -> float:
        return self.pipeline.frame_rate

    @property
    def sample_rate(self) -> int:
        return self.pipeline.codec.sample_rate

    @property
    def samples_per_frame(self) -> int:
        return int(round(self.sample_rate / self.frame_rate))

    @property
    def model_name(self) -> str:
        root = self.pipeline.paths.root
        return "built-in demo model" if root.resolve() == DEFAULT_MODEL_DIR.resolve() else root.name

    @property
    def device(self) -> str:
        return str(self.pipeline.device)

    @property
    def num_codebooks(self) -> int:
        return self.pipeline.model.config.audio_num_codebooks

    @property
    def token_space(self) -> str:
        """What this model's frame ids mean (:attr:`heartmula_core.codec.base.Codec.token_space`)."""
        return self.pipeline.codec.token_space

    def new_document(self, tags: str, lyrics: str, *, seconds: float = 60.0, seed: int = 0,
                     settings=None) -> SongDocument:
        """An empty song for this model; the prompt is checked now (PromptError if too long)."""
        doc = SongDocument.new(tags, lyrics, seconds=seconds, seed=seed, settings=settings,
                               frame_rate=self.frame_rate, num_codebooks=self.num_codebooks,
                               token_space=self.token_space)
        self.prompt(doc)
        return doc

    def start_message(self) -> str:
        """What a generation does before its first frame: on a GPU the first one of this editor
        compiles and captures its frame step (several seconds with no frame to show); else it
        reads the prompt."""
        if self.pipeline.device.type == "cuda" and not self._generated:
            return "preparing the GPU (the first generation compiles; a few seconds)"
        return "reading the prompt"

    def check_song(self, doc: SongDocument) -> None:
        """EditError with a plain message when ``doc``'s frames are not this model's tokens: made
        by a model with another token space, or (songs that do not record one) holding ids outside
        this codec's codebooks, or another number of codebooks. Nothing is changed."""
        mismatch = token_space_mismatch(doc.token_space, self.token_space, self.model_name)
        if mismatch:
            raise EditError(mismatch)
        if doc.num_frames == 0:
            return
        frames = np.asarray(doc.frames)
        sizes = self.pipeline.codec.codebook_sizes
        if frames.shape[1] != len(sizes):
            raise EditError(f"this song has {frames.shape[1]} codebooks per frame; the loaded model "
                            f"({self.model_name}) uses {len(sizes)}. The song is unchanged.")
        outside = ids_out_of_range(frames, sizes)
        if outside is not None:
            raise EditError(f"this song's frames are not tokens of the loaded model ({self.model_name}): "
                            f"{outside.frames} frames hold ids outside its codebooks (first: frame "
                            f"{outside.frame}, codebook {outside.codebook}, id {outside.value}). It was probably "
                            "made with another model; load that one to play or edit it. The song is unchanged.")

    def render(self, doc: SongDocument, cache: AudioCache | None = None) -> np.ndarray:
        """The song's audio ``[C, S]`` float32; with ``cache``, only changed frames are re-decoded."""
        cache = cache if cache is not None else AudioCache(self.pipeline.codec, seed=doc.seed)
        return cache.render(doc.frames)

    # -- prompt and conditioning ----------------------------------------------------------------

    def prompt(self, doc: SongDocument) -> Prompt:
        return self.pipeline.encode_prompt(doc.tags, doc.lyrics)

    def conditioning(self, doc: SongDocument, prompt: Prompt) -> Conditioning:
        """The prompt plus the reference row: ``embedding x strength`` (strength 0 and no reference
        both give the zero vector, i.e. ``muq_linear.bias``, as the model was trained)."""
        embed = None
        if doc.reference is not None:
            expected = self.reference_embedder_name
            if doc.reference.embedder and doc.reference.embedder != expected:
                raise ReferenceError(f"the song's reference {doc.reference.name!r} was embedded by "
                                     f"{doc.reference.embedder}, but this model reads {expected}; set it again")
            embed = torch.tensor(doc.reference.embedding * doc.reference.strength, dtype=torch.float32)
        return self.pipeline.conditioning(prompt, embed)

    # -- reference audio ----------------------------------------------------------------------

    @property
    def reference_embedder_name(self) -> str:
        """The embedder this checkpoint's reference row was trained on (see :mod:`heartmula_core.reference`)."""
        return embedder_name_for_checkpoint(self.pipeline.paths.root)

    def reference_embedder(self):
        """The (lazily built, then kept) embedder for this checkpoint; ReferenceError when unavailable."""
        if self._reference_embedder is None:
            self._reference_embedder = embedder_for_checkpoint(self.pipeline.paths.root, self.muq_folder)
        return self._reference_embedder

    def reference_from_file(self, path: Path | str, strength: float = 1.0) -> Reference:
        """Read and embed the audio file at ``path`` (cached by file hash) as a :class:`Reference`."""
        embedded = embed_reference_file(path, self.reference_embedder(), self.reference_cache)
        ref = Reference(frozen_array(embedded.vector, np.float32), embedded.name, embedded.sha256, 1.0,
                        embedded.embedder, embedded.seconds, frozen_array(embedded.preview, np.float32))
        return ref.with_strength(strength)

    def realign(self, doc: SongDocument, prompt: Prompt | None = None) -> SongDocument:
        """Recompute the frame -> line/section map (see :mod:`.alignment`)."""
        prompt = prompt or self.prompt(doc)
        line_of, section_of = align(self.pipeline.model, self.conditioning(doc, prompt), prompt, doc.frames,
                                    self.alignment_heads, self.pipeline.codec)
        return replace(doc, line_of=frozen_array(line_of, np.int32), section_of=frozen_array(section_of, np.int32))

    # -- whole-song generation ----------------------------------------------------------------

    def generate(self, doc: SongDocument, *, on_progress: ProgressFn = None, cancel: CancelFn = None,
                 until_eos: bool = True) -> SongDocument:
        """A new song from scratch (``doc.target_seconds`` long at most, or until EOS), streamed.

        ``until_eos=False`` never lets the model end the song: it runs the full length.
        """
        fresh = doc.with_frames(np.zeros((0, self.num_codebooks), np.int64), takes=(), ended=False)
        return self._continue(fresh, self.pipeline.frames_for_seconds(doc.target_seconds), on_progress, cancel,
                              until_eos)

    def extend(self, doc: SongDocument, seconds: float | None = None, *, on_progress: ProgressFn = None,
               cancel: CancelFn = None, until_eos: bool = True) -> SongDocument:
        """Continue the song from its end by ``seconds`` (None: until EOS or the context is full)."""
        room = self.pipeline.model.config.backbone.max_seq_len - len(self.prompt(doc).tokens) - doc.num_frames - 1
        frames = room if seconds is None else min(room, self.pipeline.frames_for_seconds(seconds))
        if frames < 1:
            raise EditError("the song already fills the model's context; nothing can be added")
        return self._continue(doc, frames, on_progress, cancel, until_eos)

    def _continue(self, doc: SongDocument, max_frames: int, on_progress: ProgressFn,
                  cancel: CancelFn, until_eos: bool = True) -> SongDocument:
        prompt = self.prompt(doc)
        pipe = self.pipeline
        start = doc.num_frames
        prefix = torch.tensor(doc.frames) if start else None
        seed = doc.seed + start
        stream = pipe.codec.stream(torch.Generator().manual_seed(int(doc.seed))) if start == 0 else None
        eos = pipe.gen_config.audio_eos_id if until_eos else pipe.model.config.audio_vocab_size
        new: list[np.ndarray] = []
        audio_done = 0
        began = time.perf_counter()
        if on_progress is not None:  # shown until the first frame arrives
            on_progress(ProgressEvent("generate", 0, max_frames, message=self.start_message()))
        for frame in generate_frames(pipe.model, self.conditioning(doc, prompt), max_frames=max_frames,
                                     settings=doc.settings, eos_id=eos, num_codes=pipe.codec.codebook_sizes,
                                     generator=seed_generator(seed, pipe.device), prefix=prefix,
                                     stop_at_eos=until_eos):
            _check_cancel(cancel)
            row = frame[0].cpu().numpy()
            if (row >= eos).any():
                break
            new.append(row)
            self._generated = True
            audio = None
            if stream is not None:
                audio = stream.push(torch.tensor(row[None])).numpy()
            if on_progress is not None:
                on_progress(ProgressEvent("generate", len(new), max_frames, row[None], start + len(new) - 1,
                                          audio, audio_done, _eta(began, len(new), max_frames)))
            if audio is not None:
                audio_done += audio.shape[-1]
        _check_cancel(cancel)
        if stream is not None and on_progress is not None:
            tail = stream.flush().numpy()
            on_progress(ProgressEvent("generate", len(new), len(new), None, start + len(new), tail, audio_done))
        added = np.array(new, dtype=np.int64).reshape(-1, self.num_codebooks)
        frames = np.concatenate([doc.frames, added])
        ended = len(new) < max_frames
        out = doc.with_frames(frames, pinned=np.concatenate([doc.pinned, np.zeros(len(added), bool)]),
                              provenance=np.concatenate([doc.provenance, np.zeros(len(added))]),
                              ended=ended)
        return self.realign(out, prompt)

    # -- the window primitive -------------------------------------------------------------------

    def _sample_window(self, doc: SongDocument, prompt: Prompt, frames: np.ndarray, start: int, length: int,
                       suffix_start: int, forced: np.ndarray | None, candidates: int, seed: int,
                       on_progress: ProgressFn, cancel: CancelFn, stage: str,
                       lookahead: int | None = None) -> WindowResult:
        """Sample ``candidates`` fillings of ``length`` frames after ``frames[:start]`` and score them.

        ``forced [length, K]``: values ≥ 0 are fed (pins); ``frames[suffix_start:]`` is what
        follows the window (its first ``lookahead`` frames score the seam).
        """
        if candidates < 1:
            raise EditError(f"candidates must be ≥ 1, got {candidates}")
        pipe = self.pipeline
        model = pipe.model
        cond = self.conditioning(doc, prompt)
        prefix = torch.tensor(frames[:start])
        vocab = model.config.audio_vocab_size
        rows = []
        for i, frame in enumerate(generate_frames(
                model, cond, max_frames=length, settings=doc.settings, eos_id=vocab,  # EOS never sampled
                num_codes=pipe.codec.codebook_sizes, generator=seed_generator(seed, pipe.device), prefix=prefix,
                forced=None if forced is None else torch.tensor(forced), num_candidates=candidates,
                stop_at_eos=False)):
            _check_cancel(cancel)
            rows.append(frame.cpu().numpy())
            if on_progress is not None:
                on_progress(ProgressEvent(stage, i + 1, length + candidates, message=f"sampling {candidates} takes"))
        cands = np.stack(rows, axis=1)  # [N, L, K]
        lookahead = lookahead if lookahead is not None else int(round(LOOKAHEAD_SECONDS * self.frame_rate))
        suffix = frames[suffix_start:suffix_start + lookahead]
        scores = np.zeros(candidates)
        seams = np.zeros(candidates) if len(suffix) else None
        for c in range(candidates):
            _check_cancel(cancel)
            # one teacher-forced pass scores the window and, after it, the kept frames (the seam)
            both = torch.cat([torch.tensor(cands[c]), torch.tensor(suffix)])
            per_frame = score_frames(model, cond, both, cfg_scale=doc.settings.cfg_scale, prefix=prefix)
            scores[c] = float(per_frame[:length].mean())
            if seams is not None:
                seams[c] = float(per_frame[length:].sum())
            if on_progress is not None:
                on_progress(ProgressEvent(stage, length + c + 1, length + candidates, message="scoring the seams"))
        best = int(np.argmax(seams if seams is not None else scores))
        return WindowResult(cands, scores, seams, best)

    def _with_window(self, doc: SongDocument, start: int, end: int, result: WindowResult, label: str,
                     before: np.ndarray | None) -> SongDocument:
        """``doc`` with window ``[start, end)`` replaced by the best candidate (same length) and
        the candidates (plus the window as it was) stored as takes."""
        group = doc.next_take_id
        takes = []
        next_id = doc.next_take_id
        for c in range(len(result.frames)):
            takes.append(Take(next_id, start, end, frozen_array(result.frames[c], np.int64), float(result.scores[c]),
                              None if result.seams is None else float(result.seams[c]), f"{label} {c + 1}", group,
                              applied=c == result.best))
            next_id += 1
        if before is not None:
            takes.append(Take(next_id, start, end, frozen_array(before, np.int64), float("nan"), None,
                              "as it was", group))
            next_id += 1
        frames = doc.frames.copy()
        frames[start:end] = result.frames[result.best]
        provenance = doc.provenance.copy()
        provenance[start:end] = takes[result.best].id
        return replace(doc, frames=frozen_array(frames, np.int64), provenance=frozen_array(provenance, np.int32),
                       takes=(*doc.takes, *takes), next_take_id=next_id)

    def _seed(self, doc: SongDocument, seed: int | None) -> int:
        return int(seed) if seed is not None else doc.seed + 1000 * doc.next_take_id

    # -- window operations ----------------------------------------------------------------------

    def resample(self, doc: SongDocument, start: int, end: int, *, candidates: int = 4, seed: int | None = None,
                 lookahead: int | None = None, on_progress: ProgressFn = None, cancel: CancelFn = None) -> SongDocument:
        """Re-sample frames ``[start, end)``; pinned frames inside are kept (forced)."""
        start, end = doc.check_range(start, end)
        pins = doc.pinned[start:end]
        if pins.all():
            raise EditError("every frame of the selection is pinned; unpin some to re-sample")
        prompt = self.prompt(doc)
        forced = np.where(pins[:, None], doc.frames[start:end], -1)
        result = self._sample_window(doc, prompt, doc.frames, start, end - start, end, forced, candidates,
                                     self._seed(doc, seed), on_progress, cancel, "resample", lookahead)
        out = self._with_window(doc, start, end, result, "take", doc.frames[start:end])
        return self.realign(out, prompt)

    def regenerate_section(self, doc: SongDocument, section_index: int, **kwargs) -> SongDocument:
        """Re-sample the frames of one section (as placed on the timeline)."""
        span = self._section_span(doc, section_index)
        return self.resample(doc, span.start, span.end, **kwargs)

    def fix_line(self, doc: SongDocument, line_index: int, new_text: str, *, candidates: int = 4,
                 seed: int | None = None, lookahead: int | None = None, on_progress: ProgressFn = None,
                 cancel: CancelFn = None) -> SongDocument:
        """Sing line ``line_index`` with ``new_text``: only the frames aligned to that line are
        regenerated, under the new lyrics; the window grows or shrinks (by whole bars where the
        codec knows them, at most ×2) when the new words need more or less time."""
        new_text = " ".join(new_text.split())
        if not new_text:
            raise EditError("the new line is empty; delete the line in the lyrics instead")
        structure = doc.structure
        try:
            line = structure.line(line_index)
        except IndexError as exc:
            raise EditError(str(exc)) from None
        span = doc.lines()[line_index]
        if span.start is None:
            raise EditError(f"line {line_index + 1} ({line.text!r}) is not sung in this song yet; generate first")
        new_lyrics = doc.lyrics[:line.start] + new_text + doc.lyrics[line.end:]
        new_doc = doc.with_lyrics(new_lyrics)
        old_prompt, prompt = self.prompt(doc), self.prompt(new_doc)
        start, end = span.start, span.end
        length = self._fitted_length(doc, old_prompt, prompt, line, end - start)
        pins = doc.pinned[start:end]
        if pins.any() and length != end - start:
            length = end - start  # pinned frames keep their places
        forced = None
        if pins.any():
            forced = np.where(pins[:, None], doc.frames[start:end], -1)
        shift = length - (end - start)
        frames = self._splice(doc.frames, start, end, np.zeros((length, doc.num_codebooks), np.int64))
        result = self._sample_window(new_doc, prompt, frames, start, length, start + length, forced, candidates,
                                     self._seed(doc, seed), on_progress, cancel, "fix line", lookahead)
        shifted = self._shift(new_doc, start, end, length, frames)
        out = self._with_window(shifted, start, start + length, result, f"line {line_index + 1}",
                                doc.frames[start:end] if shift == 0 else None)
        return self.realign(out, prompt)

    def _fitted_length(self, doc: SongDocument, old: Prompt, new: Prompt, line, frames: int) -> int:
        """Window length for a rewritten line: scaled by its token count; the change is rounded
        to whole bars (:meth:`_grid`)."""
        old_tokens = max(1, _count(old.line_token_range(line.section, line.line)))
        new_tokens = max(1, _count(new.line_token_range(line.section, line.line)))
        ratio = min(max(new_tokens / old_tokens, 1 / MAX_STRETCH), MAX_STRETCH)
        grid = self._grid(doc)
        change = int(round(frames * (ratio - 1) / grid)) * grid  # whole bars keep what follows on the beat
        while frames + change < 1:
            change += grid
        room = self.pipeline.model.config.backbone.max_seq_len - len(new.tokens) - doc.num_frames - 1
        return frames + int(min(change, room))

    def _grid(self, doc: SongDocument) -> int:
        """Frames per bar when the codec can tell (keeps the beat grid of what follows), else 1."""
        bar = getattr(self.pipeline.codec, "frames_per_bar", None)
        value = bar(doc.frames) if bar is not None else None
        return int(value) if value else 1

    # -- section structure ------------------------------------------------------------------------

    def _section_span(self, doc: SongDocument, section_index: int):
        for span in doc.sections():
            if span.index == section_index:
                return span
        raise EditError(f"section {section_index + 1} is not placed on the timeline (not generated yet?)")

    def delete_section(self, doc: SongDocument, section_index: int, *, candidates: int = 4, seed: int | None = None,
                       on_progress: ProgressFn = None, cancel: CancelFn = None) -> SongDocument:
        """Remove a section's frames and its lyrics, then repair the join."""
        span = self._section_span(doc, section_index)
        if doc.pinned[span.start:span.end].any():
            raise EditError("the section has pinned frames; unpin them before deleting it")
        lyrics = _remove_section_text(doc, section_index)
        new_doc = self._shift(doc.with_lyrics(lyrics), span.start, span.end, 0,
                              self._splice(doc.frames, span.start, span.end, doc.frames[:0]))
        return self._repair(new_doc, span.start, candidates, seed, on_progress, cancel)

    def duplicate_section(self, doc: SongDocument, section_index: int, *, candidates: int = 4,
                          seed: int | None = None, on_progress: ProgressFn = None,
                          cancel: CancelFn = None) -> SongDocument:
        """Insert a copy of a section (frames and lyrics) right after it, then repair both joins."""
        span = self._section_span(doc, section_index)
        lyrics = _duplicate_section_text(doc, section_index)
        copy = doc.frames[span.start:span.end]
        frames = self._splice(doc.frames, span.end, span.end, copy)
        new_doc = self._shift(doc.with_lyrics(lyrics), span.end, span.end, len(copy), frames)
        new_doc = self._repair(new_doc, span.end, candidates, seed, on_progress, cancel)
        return self._repair(new_doc, span.end + len(copy), candidates, seed, on_progress, cancel)

    def insert_section(self, doc: SongDocument, after_section: int, text: str, *, candidates: int = 4,
                       seed: int | None = None, seconds: float | None = None, on_progress: ProgressFn = None,
                       cancel: CancelFn = None) -> SongDocument:
        """Add a new section (``text``: a marker line such as ``[bridge]`` and its lyric lines) to
        the lyrics after section ``after_section`` and generate its music there.

        The new frames are sampled after the kept song up to the join, ``candidates`` at a time,
        and rescored against the music that follows (the seam); their length is ``seconds`` or,
        by default, the song's own pace (frames per lyric token of the sung lines, at least two
        bars), rounded to whole bars.

        The bar before the join is re-voiced with the new section: its codebook 0 (the words and
        their timing) is kept and codebooks 1..K-1 are sampled again (not when that bar holds
        pinned frames). Music announces what comes next: the bar before a chorus ends in a fill
        that leads into it, and a model that hears that fill plays the chorus, whatever the
        lyrics now say (the demo model labelled an inserted pre-chorus a chorus in 3 of 3 seeds
        with the old bar kept, in 0 of 3 with its fill removed).
        """
        block = text.strip("\n")
        if not block.strip():
            raise EditError("the new section is empty")
        span = self._section_span(doc, after_section)
        _, end = _section_text_span(doc, after_section)
        head = doc.lyrics[:end]
        sep = "" if head.endswith("\n\n") or not head else ("\n" if head.endswith("\n") else "\n\n")
        new_doc = doc.with_lyrics(head + sep + block + "\n\n" + doc.lyrics[end:].lstrip("\n"))
        prompt = self.prompt(new_doc)
        grid = self._grid(doc)
        if seconds is not None:
            length = max(1, int(round(seconds * self.frame_rate / grid))) * grid
        else:
            length = self._section_length(doc, prompt, after_section + 1, grid)
        frames = self._splice(doc.frames, span.end, span.end, np.zeros((length, doc.num_codebooks), np.int64))
        lead = min(grid, span.end - span.start)  # the bar before the join, re-voiced (see above)
        if doc.pinned[span.end - lead:span.end].any():
            lead = 0
        forced = np.full((lead + length, doc.num_codebooks), -1, np.int64)
        forced[:lead, 0] = doc.frames[span.end - lead:span.end, 0]
        start = span.end - lead
        result = self._sample_window(new_doc, prompt, frames, start, lead + length, span.end + length, forced,
                                     candidates, self._seed(doc, seed), on_progress, cancel, "insert section")
        shifted = self._shift(new_doc, span.end, span.end, length, frames)
        out = self._with_window(shifted, start, span.end + length, result, "section", None)
        return self.realign(out, prompt)

    def _section_length(self, doc: SongDocument, new_prompt: Prompt, section: int, grid: int) -> int:
        """Frames for lyric section ``section`` of ``new_prompt`` at ``doc``'s pace, whole bars."""
        old = self.prompt(doc)
        sung = [line for line in doc.lines() if line.start is not None]
        tokens = sum(_count(old.line_token_range(doc.structure.line(ln.index).section,
                                                 doc.structure.line(ln.index).line)) for ln in sung)
        frames = sum(ln.end - ln.start for ln in sung)
        pace = frames / tokens if tokens else self.frame_rate / 2
        new_tokens = _count(new_prompt.section_token_range(section))
        bars = max(2, int(round(pace * new_tokens * 1.3 / grid)))  # 1.3: rests between lines
        return bars * grid

    def _repair(self, doc: SongDocument, join: int, candidates: int, seed: int | None, on_progress: ProgressFn,
                cancel: CancelFn) -> SongDocument:
        """Re-sample a short unpinned window starting at ``join`` so the music flows over it."""
        if join <= 0 or join >= doc.num_frames:
            return self.realign(doc)
        length = min(int(round(REPAIR_SECONDS * self.frame_rate)), doc.num_frames - join)
        prompt = self.prompt(doc)
        pins = doc.pinned[join:join + length]
        forced = np.where(pins[:, None], doc.frames[join:join + length], -1) if pins.any() else None
        result = self._sample_window(doc, prompt, doc.frames, join, length, join + length, forced, candidates,
                                     self._seed(doc, seed), on_progress, cancel, "repair seam")
        out = self._with_window(doc, join, join + length, result, "seam", doc.frames[join:join + length])
        return self.realign(out, prompt)

    # -- frame-array bookkeeping ----------------------------------------------------------------

    @staticmethod
    def _splice(frames: np.ndarray, start: int, end: int, middle: np.ndarray) -> np.ndarray:
        return np.concatenate([frames[:start], middle, frames[end:]])

    @staticmethod
    def _shift(doc: SongDocument, start: int, end: int, length: int, frames: np.ndarray) -> SongDocument:
        """``doc`` with window ``[start, end)`` now ``length`` frames long (``frames`` given);
        per-frame arrays follow, takes after the window shift, takes overlapping it are dropped."""
        delta = length - (end - start)

        def splice(array, fill):
            return np.concatenate([array[:start], np.full(length, fill, array.dtype), array[end:]])

        takes = []
        for take in doc.takes:
            if take.end <= start:
                takes.append(take)
            elif take.start >= end:
                takes.append(replace(take, start=take.start + delta, end=take.end + delta))
        overrides = tuple((s, a + delta if a >= end else a, b + delta if b >= end else b)
                          for s, a, b in doc.section_overrides if b <= start or a >= end)
        return doc.with_frames(frames, pinned=splice(doc.pinned, False), provenance=splice(doc.provenance, 0),
                               line_of=splice(doc.line_of, -1), section_of=splice(doc.section_of, -1),
                               takes=tuple(takes), section_overrides=overrides)


def _count(token_range: tuple[int, int]) -> int:
    return token_range[1] - token_range[0]


def _section_text_span(doc: SongDocument, section_index: int) -> tuple[int, int]:
    """Characters of the lyrics from the section's first character to the next section's first."""
    sections = doc.structure.sections
    if not 0 <= section_index < len(sections):
        raise EditError(f"section {section_index + 1} does not exist; the lyrics have {len(sections)}")

    def first(section):
        if section.marker_span is not None:
            return section.marker_span[0]
        return section.lines[0].start if section.lines else None

    start = first(sections[section_index])
    if start is None:
        raise EditError(f"section {section_index + 1} has no text to edit")
    following = [first(s) for s in sections[section_index + 1:] if first(s) is not None]
    return start, following[0] if following else len(doc.lyrics)


def _remove_section_text(doc: SongDocument, section_index: int) -> str:
    start, end = _section_text_span(doc, section_index)
    return doc.lyrics[:start] + doc.lyrics[end:]


def _duplicate_section_text(doc: SongDocument, section_index: int) -> str:
    start, end = _section_text_span(doc, section_index)
    block = doc.lyrics[start:end]
    if not block.endswith("\n"):
        block += "\n"
    sep = "" if doc.lyrics[:end].endswith("\n") else "\n"
    return doc.lyrics[:end] + sep + block + doc.lyrics[end:]


def _eta(began: float, done: int, total: int) -> str:
    elapsed = time.perf_counter() - began
    if done == 0 or elapsed <= 0:
        return ""
    return f"{(total - done) * elapsed / done:.0f} s left"
