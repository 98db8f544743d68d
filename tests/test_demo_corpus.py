"""Corpus: deterministic, varied, 20-120 s, disjoint from the held-out evaluation prompts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from heartmula_core.demo.composer import analyze_frames, compose
from heartmula_core.demo.corpus import (MAX_SECONDS, MIN_SECONDS, STRUCTURES, _eval_tag_sets,
                                        grammar_structure, make_corpus, make_song)
from heartmula_core.demo.eval_set import EVAL_SET
from heartmula_core.demo.lexicon import scat_word, scat_words, vocabulary
from heartmula_core.demo.syllables import NUM_SYLLABLES, text_syllables, word_syllables, words_of
from heartmula_core.demo.tags import tag_words
from heartmula_core.prompt import parse_lyrics


def sung_syllables(lyrics: str) -> list[int]:
    return [s for section in parse_lyrics(lyrics).sections for line in section.lines
            for s in text_syllables(line.text)]


def eval_words() -> set[str]:
    return {w for item in EVAL_SET for section in parse_lyrics(item.lyrics).sections
            for line in section.lines for w in words_of(line.text)}


def test_corpus_is_deterministic_and_songs_are_independent():
    first = list(make_corpus(4, seed=5))
    second = list(make_corpus(4, seed=5))
    for (t1, l1, f1), (t2, l2, f2) in zip(first, second):
        assert (t1, l1) == (t2, l2) and torch.equal(f1, f2)
    tags, lyrics, song = make_song(5, 3)
    assert (tags, lyrics) == first[3][:2] and torch.equal(song.frames, first[3][2])
    assert len({t for t, _, _ in first}) == 4
    assert first[0][1] != list(make_corpus(1, seed=6))[0][1]


def test_corpus_songs_are_valid_and_varied():
    lengths, structures, tempos = [], set(), set()
    for tags, lyrics, frames in make_corpus(40, seed=1):
        lengths.append(len(frames) / 12.5)
        analysis = analyze_frames(frames)
        assert analysis["tokens"] == sung_syllables(lyrics)
        structures.add(tuple(s["kind"] for s in analysis["sections"]))
        tempos.add(analysis["tempo_bpm"])
        assert frozenset(tag_words(tags)) not in _eval_tag_sets()
    assert all(MIN_SECONDS <= s <= MAX_SECONDS for s in lengths)
    assert max(lengths) - min(lengths) > 40
    assert len(structures) >= 8 and len(tempos) >= 5


def test_eval_lyrics_use_no_corpus_word():
    words = eval_words()
    assert len(words) > 100
    assert not words & vocabulary()


def test_every_eval_syllable_is_sung_in_the_corpus_vocabulary():
    known = {s for word in vocabulary() for s in word_syllables(word)}
    needed = {s for item in EVAL_SET for s in sung_syllables(item.lyrics)}
    assert needed <= known
    assert len(known) == NUM_SYLLABLES  # scat vocables cover every class


def test_scat_words_read_back_as_their_class():
    assert len(scat_words()) == NUM_SYLLABLES
    for index in range(NUM_SYLLABLES):
        assert word_syllables(scat_word(index)) == (index,)


def test_eval_tags_are_refused_by_the_generator():
    assert len(_eval_tag_sets()) == len(EVAL_SET)


@pytest.mark.parametrize("item", EVAL_SET, ids=lambda item: item.name)
def test_eval_items_compose_within_a_minute(item):
    for seed in range(3):
        song = compose(item.tags, item.lyrics, seed)
        assert song.seconds <= 60.0
        assert analyze_frames(song.frames)["tokens"] == sung_syllables(item.lyrics)


def test_grammar_structures_put_sections_where_the_fixed_list_never_does():
    fixed = set(STRUCTURES)
    drawn = [grammar_structure(np.random.default_rng([2, i])) for i in range(400)]
    assert len(set(drawn)) > 100 and len(set(drawn) - fixed) > 80

    def follows(first, then):
        return any(s[i] == first and s[i + 1] == then for s in drawn for i in range(len(s) - 1))

    assert follows("verse", "bridge") and follows("verse", "verse") and drawn.count(drawn[0]) < 60
    assert all(s[-1] in ("chorus", "outro") and "verse" in s for s in drawn)


def test_grammar_corpus_repeats_verses_and_hook_lines_and_renews_choruses_sometimes():
    fresh_chorus = repeated_verse = hooks = 0
    for index in range(200):
        tags, lyrics, song = make_song(4, index, "grammar")
        sections = [(s.kind, tuple(line.text for line in s.lines)) for s in parse_lyrics(lyrics).sections]
        choruses = [lines for kind, lines in sections if kind == "chorus" and lines]
        verses = [lines for kind, lines in sections if kind == "verse"]
        fresh_chorus += any(c != choruses[0] for c in choruses[1:])
        repeated_verse += len(set(verses)) < len(verses)
        hooks += any(len(c) > 2 and c[-1] == c[0] for c in choruses)
        assert analyze_frames(song.frames)["tokens"] == sung_syllables(lyrics)
    assert fresh_chorus >= 5 and repeated_verse >= 3 and hooks >= 10


def test_fixed_structures_are_the_default_and_unknown_ones_are_refused():
    assert make_song(5, 3)[1] == make_song(5, 3, "fixed")[1] != make_song(5, 3, "grammar")[1]
    with pytest.raises(ValueError, match="grammar"):
        make_song(5, 3, "random")
