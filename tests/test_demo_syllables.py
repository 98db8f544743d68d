"""Syllable inventory and the text-to-syllable rule; the codebook layout."""

from __future__ import annotations

import pytest

from heartmula_core.demo import vocab
from heartmula_core.demo.syllables import (CODAS, NUM_SYLLABLES, ONSETS, VOWELS, syllable_index,
                                           syllable_name, syllable_parts, text_syllables,
                                           word_syllables, words_of)


def names(text: str) -> list[str]:
    return [syllable_name(s) for s in text_syllables(text)]


@pytest.mark.parametrize("word, expected", [
    ("night", ["n.ai.t"]), ("time", ["t.ai.n"]), ("home", ["h.oh.n"]), ("little", ["l.i.t", "t.u.l"]),
    ("window", ["w.i.n", "d.ow"]), ("love", ["l.u.s"]), ("go", ["g.oh"]), ("you", ["oo"]),
    ("nation", ["n.a", "sh.u.n"]), ("hmm", ["h.u"]), ("sky", ["s.ai"]), ("baby", ["b.a", "b.ee"]),
    ("wanted", ["w.a.n", "t.e.t"]), ("times", ["t.ai.n"]),
])
def test_words(word, expected):
    assert names(word) == expected


def test_text_rules():
    assert words_of("Don't stop, 2 hearts!") == ["dont", "stop", "two", "hearts"]
    assert text_syllables("") == [] and text_syllables("... !!") == []
    assert names("LOVE") == names("love")
    assert text_syllables("la la") == 2 * list(word_syllables("la"))


def test_inventory_round_trip():
    assert NUM_SYLLABLES == len(ONSETS) * len(VOWELS) * len(CODAS) == 960
    for index in range(NUM_SYLLABLES):
        assert syllable_index(*syllable_parts(index)) == index
    assert len({syllable_name(i) for i in range(NUM_SYLLABLES)}) == NUM_SYLLABLES


def test_codebook_layout():
    # lyric, section, beat, texture, chord, melody, bass, drums: the plan before the notes
    assert vocab.CODEBOOK_SIZES == (962, 113, 281, 40, 85, 73, 49, 256)
    v1 = vocab.LAYOUT_ORDERS["demo-v1"]  # lyric, melody, chord, bass, drums, texture, section, beat
    assert tuple(vocab.CODEBOOK_SIZES[k] for k in v1) == (962, 73, 85, 49, 256, 40, 113, 281)
    assert vocab.MELODY.decode([0, vocab.MELODY.on(60), vocab.MELODY.hold(60)])[0].tolist() == [0, 60, 60]
    assert vocab.chord_name(vocab.chord_id(9, "min")) == "Am"
    assert vocab.beat_of(vocab.beat_id(6, 30)) == (6, 6)
    assert vocab.section_of(vocab.section_id("chorus", 20)) == ("chorus", 15)
    assert vocab.texture_of(vocab.texture_id("organ", 9)) == ("organ", 7)
    assert vocab.bpm_of_fpb(6) == 125.0
