"""The demo model's training corpus: random (tags, lyrics) composed into frames.

Song ``i`` of a corpus with seed ``s`` depends only on ``(s, i)`` (its generator is
``numpy.random.default_rng([s, i])``), so corpora can be generated in shards and any song
regenerated alone (:func:`make_song`).

- Structure (``structures="fixed"``): one of :data:`STRUCTURES` (verse/chorus songs with or
  without intro, pre-chorus, bridge, interlude, outro), section markers spelled in several ways
  (``[Verse 2]``, ``[hook]``, ``[Pre-Chorus]``...). Choruses repeat their text; verses get new
  lines; intros, outros and interludes are mostly instrumental, bridges half the time.
- Structure (``structures="grammar"``): half the songs as above, half from
  :func:`grammar_structure`, which also puts sections where songs seldom have them (a bridge
  straight after a verse, two verses in a row, a chorus first), so that the next section can only
  be told from the prompt's markers; a later chorus gets fresh lines with
  :data:`FRESH_CHORUS_CHANCE` and a later verse repeats an earlier one with
  :data:`REPEAT_VERSE_CHANCE`, so that repeated text does not tell a chorus either; a chorus
  ends on its first line again with :data:`HOOK_CHANCE`, as the held-out songs' hooks do.
- Lines: :func:`.lexicon.random_line` (word templates), or with :data:`NONSENSE_CHANCE` a line of
  random syllables (:func:`nonsense_line`), plus a scat line of vocables in about
  60% of the songs so that every syllable class is sung.
- Tags: a genre (or alias), moods, tempo, mode, energy, instrument and voice words, some
  neutral words the composer ignores, in random order; tag sets of the evaluation prompts
  (:mod:`.eval_set`) are never produced.
- Length: 20 to 120 s (drawn again until the composed song fits).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import torch

from .composer import Song, compose
from .eval_set import EVAL_SET
from .lexicon import random_line, scat_word
from .syllables import NUM_SYLLABLES
from .tags import (ENERGY_WORDS, GENRE_ALIASES, GENRES, INSTRUMENT_WORDS, MODE_WORDS, MOOD_MODES,
                   TEMPO_WORDS, VOICE_WORDS, tag_words)

log = logging.getLogger(__name__)

MIN_SECONDS, MAX_SECONDS = 20.0, 120.0
MAX_ATTEMPTS = 50

STRUCTURES: tuple[tuple[str, ...], ...] = (
    ("verse", "chorus", "verse", "chorus"),
    ("intro", "verse", "chorus", "verse", "chorus", "outro"),
    ("intro", "verse", "prechorus", "chorus", "verse", "prechorus", "chorus", "bridge", "chorus", "outro"),
    ("verse", "verse", "chorus", "bridge", "chorus"),
    ("intro", "verse", "chorus", "interlude", "verse", "chorus", "outro"),
    ("intro", "chorus", "verse", "chorus", "outro"),
    ("verse", "chorus", "bridge", "chorus", "outro"),
    ("intro", "verse", "outro"),
    ("verse", "prechorus", "chorus"),
    ("chorus", "verse", "chorus"),
    ("intro", "verse", "chorus"),
    ("verse", "chorus", "outro"),
)
MARKERS = {
    "intro": ("[intro]", "[Intro]", "[INTRO]"),
    "verse": ("[verse]", "[Verse]", "[verse {n}]", "[Verse {n}]", "[VERSE]"),
    "prechorus": ("[pre-chorus]", "[Pre-Chorus]", "[prechorus]"),
    "chorus": ("[chorus]", "[Chorus]", "[CHORUS]", "[hook]", "[refrain]"),
    "bridge": ("[bridge]", "[Bridge]"),
    "interlude": ("[interlude]", "[instrumental]", "[solo]", "[break]"),
    "outro": ("[outro]", "[Outro]"),
}
#: (lines when sung: low, high inclusive; chance of being instrumental)
LINES = {"intro": (1, 2, 0.85), "verse": (2, 6, 0.0), "prechorus": (1, 2, 0.0), "chorus": (2, 4, 0.0),
         "bridge": (2, 4, 0.5), "interlude": (1, 2, 1.0), "outro": (1, 2, 0.8)}
NEUTRAL_TAGS = ("summer", "wedding", "roadtrip", "vintage", "nostalgic", "catchy", "anthem",
                "groovy", "warm", "night", "retro", "modern")
SCAT_CHANCE = 0.6
NONSENSE_CHANCE = 0.4
"""Chance that a sung line is random syllables (:func:`nonsense_line`) instead of a template."""
STRUCTURE_CHOICES = ("fixed", "grammar")
"""How :func:`random_lyrics` draws a song's sections (see the module docstring)."""
FRESH_CHORUS_CHANCE = 0.3
"""``grammar``: chance that a later chorus has its own lines instead of the first chorus's."""
REPEAT_VERSE_CHANCE = 0.15
"""``grammar``: chance that a later verse repeats the lines of an earlier one."""
HOOK_CHANCE = 0.35
"""``grammar``: chance that a chorus sings its first line again as its last (a hook line), so
that a line sung twice in one section does not send the model back to the section's start."""


def make_corpus(n_songs: int, seed: int = 0, structures: str = "fixed"
                ) -> Iterator[tuple[str, str, torch.Tensor]]:
    """``n_songs`` songs as ``(tags, lyrics, frames [T, 8] int64)``, song ``i`` from ``(seed, i)``."""
    for index in range(n_songs):
        tags, lyrics, song = make_song(seed, index, structures)
        yield tags, lyrics, song.frames


def make_song(seed: int, index: int, structures: str = "fixed") -> tuple[str, str, Song]:
    """Song ``index`` of the corpus with ``seed``: its tags, lyrics and composed :class:`Song`;
    ``structures`` is one of :data:`STRUCTURE_CHOICES`."""
    if structures not in STRUCTURE_CHOICES:
        raise ValueError(f"structures must be one of {', '.join(STRUCTURE_CHOICES)}, got {structures!r}")
    rng = np.random.default_rng([seed, index])
    for _ in range(MAX_ATTEMPTS):
        tags = random_tags(rng)
        if frozenset(tag_words(tags)) in _eval_tag_sets():
            continue
        lyrics = random_lyrics(rng, structures)
        song = compose(tags, lyrics, rng)
        if MIN_SECONDS <= song.seconds <= MAX_SECONDS:
            return tags, lyrics, song
    log.warning("corpus song (%d, %d): no draw fit %g-%g s; keeping the last (%.1f s)",
                seed, index, MIN_SECONDS, MAX_SECONDS, song.seconds)
    return tags, lyrics, song


@lru_cache(maxsize=1)
def _eval_tag_sets() -> frozenset[frozenset[str]]:
    return frozenset(frozenset(tag_words(item.tags)) for item in EVAL_SET)


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def random_tags(rng: np.random.Generator) -> str:
    """A random tags string over the demo's tag vocabulary (:mod:`.tags`)."""
    words: list[str] = []
    if rng.random() < 0.85:
        words.append(_pick(rng, list(GENRES) + list(GENRE_ALIASES)))
    for _ in range(int(rng.integers(0, 3))):
        words.append(_pick(rng, list(MOOD_MODES) + list(ENERGY_WORDS)))
    if rng.random() < 0.4:
        words.append(_pick(rng, list(TEMPO_WORDS)))
    elif rng.random() < 0.08:
        words.append(f"{int(rng.integers(70, 190))} bpm")
    if rng.random() < 0.25:
        words.append(_pick(rng, list(MODE_WORDS)))
    for _ in range(int(rng.integers(0, 3))):
        words.append(_pick(rng, list(INSTRUMENT_WORDS) + ["drums", "acoustic", "bass"]))
    if rng.random() < 0.5:
        words.append(_pick(rng, list(VOICE_WORDS)))
    if rng.random() < 0.3:
        words.append(_pick(rng, NEUTRAL_TAGS))
    words = list(dict.fromkeys(words)) or [_pick(rng, list(GENRES))]
    order = rng.permutation(len(words))
    return ("," if rng.random() < 0.7 else ", ").join(words[i] for i in order)


def nonsense_line(rng: np.random.Generator) -> str:
    """3-9 vocables of uniformly random syllable classes (:func:`.lexicon.scat_word`).

    Template lines have predictable syllable sequences (word-internal bigrams), which a model
    can memorise instead of reading the prompt; on lines of random syllables only copying the
    prompt works, so the model must learn to copy.
    """
    n = int(rng.integers(3, 10))
    return " ".join(scat_word(int(c)) for c in rng.integers(NUM_SYLLABLES, size=n))


def grammar_structure(rng: np.random.Generator) -> tuple[str, ...]:
    """Section kinds of one song from a small grammar: [intro] then 1-3 blocks of
    verse(s) [bridge] [pre-chorus] [chorus] with a bridge or interlude between blocks, then
    [bridge chorus] [outro]; sometimes a chorus first. Every kind can follow most others."""
    kinds = ["intro"] if rng.random() < 0.4 else []
    if rng.random() < 0.1:
        kinds.append("chorus")
    blocks = int(rng.integers(1, 4))
    prechorus = rng.random() < 0.25
    for block in range(blocks):
        kinds += ["verse"] * (2 if rng.random() < 0.15 else 1)
        if rng.random() < 0.15:
            kinds.append("bridge")
        if prechorus:
            kinds.append("prechorus")
        if block == blocks - 1 or rng.random() < 0.85:
            kinds.append("chorus")
        if block < blocks - 1 and rng.random() < 0.25:
            kinds.append(_pick(rng, ("bridge", "interlude")))
    if rng.random() < 0.25:
        kinds += ["bridge", "chorus"]
    if rng.random() < 0.5:
        kinds.append("outro")
    return tuple(kinds)


def random_lyrics(rng: np.random.Generator, structures: str = "fixed") -> str:
    """Random lyrics with section markers (see the module docstring)."""
    grammar = structures == "grammar"
    if grammar and rng.random() < 0.5:
        structure = grammar_structure(rng)
    else:
        structure = STRUCTURES[int(rng.integers(len(STRUCTURES)))]
    chorus: list[str] | None = None
    verses: list[list[str]] = []
    scat_at = int(rng.integers(len(structure))) if rng.random() < SCAT_CHANCE else -1
    blocks = []
    counts: dict[str, int] = {}
    for position, kind in enumerate(structure):
        counts[kind] = counts.get(kind, 0) + 1
        marker = _pick(rng, MARKERS[kind]).format(n=counts[kind])
        low, high, instrumental = LINES[kind]
        if kind == "chorus" and chorus is not None and not (grammar and rng.random() < FRESH_CHORUS_CHANCE):
            lines = chorus
        elif grammar and kind == "verse" and verses and rng.random() < REPEAT_VERSE_CHANCE:
            lines = verses[int(rng.integers(len(verses)))]
        elif rng.random() < instrumental and position != scat_at:
            lines = []
        else:
            lines = [nonsense_line(rng) if rng.random() < NONSENSE_CHANCE else random_line(rng)
                     for _ in range(int(rng.integers(low, high + 1)))]
            if position == scat_at:
                lines.insert(int(rng.integers(len(lines) + 1)), random_line(rng, scat=True))
            if grammar and kind == "chorus" and rng.random() < HOOK_CHANCE:
                lines = lines[:-1] + [lines[0]] if len(lines) >= 3 else lines + [lines[0]]
            if kind == "chorus" and chorus is None:
                chorus = lines
            if kind == "verse":
                verses.append(lines)
        blocks.append("\n".join([marker] + lines))
    return "\n\n".join(blocks) + "\n"
