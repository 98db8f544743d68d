"""Composer: lyric tokens recoverable, sections in order, lines in sections, tag control, seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from heartmula_core.demo import vocab
from heartmula_core.demo.composer import analyze_frames, compose
from heartmula_core.demo.syllables import text_syllables
from heartmula_core.demo.tags import resolve_style, tag_words

LYRICS = """[Intro]

[Verse 1]
the city lights are fading slow
and i am walking home alone
la la la la

[Pre-Chorus]
hold on hold on

[Chorus]
oh we are burning like a fire
we are dancing higher and higher
hold me close and never let me go

[Verse 2]
a thousand miles of empty road
remember when the summer glowed

[Bridge]

[Chorus]
oh we are burning like a fire
we are dancing higher and higher
hold me close and never let me go

[Outro]
"""
KINDS = ["intro", "verse", "prechorus", "chorus", "verse", "bridge", "chorus", "outro"]
LINES = [line for line in LYRICS.splitlines() if line.strip() and not line.startswith("[")]


@pytest.mark.parametrize("tags, seed", [("pop", 0), ("rock,fast,minor", 1), ("ballad,slow,strings", 2),
                                        ("jazz,organ", 3), ("electronic,synth,male", 4)])
def test_lyric_tokens_recovered_exactly(tags, seed):
    song = compose(tags, LYRICS, seed)
    expected = [s for line in LINES for s in text_syllables(line)]
    analysis = analyze_frames(song.frames)
    assert analysis["tokens"] == expected == song.arrangement.syllables
    # "la la la la": equal syllables in a row stay apart (note-ons)
    assert len(analysis["token_frames"]) == len(expected)


def test_sections_in_prompt_order_and_lines_inside_them():
    song = compose("pop,happy", LYRICS, 5)
    sections = analyze_frames(song.frames)["sections"]
    assert [s["kind"] for s in sections] == KINDS
    assert [(s["start"], s["end"]) for s in sections] == list(song.section_frames)
    line_sections = [i for i, s in enumerate(song.arrangement.sections) for _ in s.lines]
    assert len(song.line_frames) == len(LINES)
    for (start, end), index in zip(song.line_frames, line_sections):
        section_start, section_end = song.section_frames[index]
        assert section_start <= start < end <= section_end


def test_lines_start_on_a_downbeat():
    song = compose("folk", LYRICS, 6)
    bar = song.arrangement.bar_frames
    frames = song.frames.numpy()
    for start, _ in song.line_frames:
        assert start % bar == 0
        assert frames[start, vocab.CB_MELODY] <= vocab.MELODY.span  # a note-on
        assert vocab.beat_of(frames[start, vocab.CB_BEAT])[1] == 0


def test_instrumental_sections_have_no_sung_syllables_but_a_lead():
    song = compose("pop", LYRICS, 7)
    frames = song.frames.numpy()
    for plan, (start, end) in zip(song.arrangement.sections, song.section_frames):
        lyric = frames[start:end, vocab.CB_LYRIC]
        if plan.instrumental:
            assert (lyric < vocab.LYRIC_FIRST_SYLLABLE).all()
    bridge = song.section_frames[KINDS.index("bridge")]
    assert (frames[bridge[0]:bridge[1], vocab.CB_LYRIC] == vocab.LYRIC_LEAD).any()
    played = [vocab.CB_LYRIC, vocab.CB_MELODY, vocab.CB_CHORD, vocab.CB_BASS, vocab.CB_DRUMS]
    assert (frames[-song.arrangement.bar_frames:, played] == 0).all()  # silent last bar


def test_verse_and_chorus_differ():
    song = compose("pop", LYRICS, 8)
    verse, chorus = song.arrangement.sections[1], song.arrangement.sections[3]
    assert chorus.energy > verse.energy
    assert chorus.chords[:4] != verse.chords[:4]
    frames = song.frames.numpy()
    def mean_pitch(section):
        a, b = song.section_frames[section]
        midi, _ = vocab.MELODY.decode(frames[a:b, vocab.CB_MELODY])
        return midi[midi > 0].mean()
    assert mean_pitch(3) > mean_pitch(1)


def test_repeated_chorus_repeats():
    song = compose("rock", LYRICS, 9)
    frames = song.frames.numpy()
    first, second = (song.section_frames[i] for i in (3, 6))
    columns = [vocab.CB_LYRIC, vocab.CB_MELODY, vocab.CB_CHORD]
    length = min(first[1] - first[0], second[1] - second[0]) - song.arrangement.bar_frames
    assert np.array_equal(frames[first[0]:first[0] + length, columns], frames[second[0]:second[0] + length, columns])


def test_same_seed_same_frames_other_seed_other_frames():
    a, b = compose("pop", LYRICS, 11), compose("pop", LYRICS, 11)
    assert torch.equal(a.frames, b.frames)
    assert not torch.equal(a.frames, compose("pop", LYRICS, 12).frames)
    assert a.frames.dtype == torch.int64 and a.frames.shape[1] == 8
    for k, size in enumerate(vocab.CODEBOOK_SIZES):
        assert 0 <= int(a.frames[:, k].min()) and int(a.frames[:, k].max()) < size


@pytest.mark.parametrize("seed", range(6))
def test_tempo_tags_control_tempo(seed):
    fast = analyze_frames(compose("pop,fast", LYRICS, seed).frames)["tempo_bpm"]
    slow = analyze_frames(compose("pop,slow", LYRICS, seed).frames)["tempo_bpm"]
    assert fast >= 1.3 * slow


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("mode, tags", [("major", "rock,major"), ("minor", "pop,minor"),
                                        ("major", "happy,folk"), ("minor", "sad,ballad")])
def test_mode_tags_control_mode(seed, mode, tags):
    song = compose(tags, LYRICS, seed)
    assert song.arrangement.style.mode == mode
    assert analyze_frames(song.frames)["mode"] == mode


def test_tag_vocabulary():
    rng = np.random.default_rng(0)
    style = resolve_style("Slow, FAST, r&b, hip-hop, guitar, strings, female, 96 bpm", rng)
    assert style.genre == "hiphop"
    assert style.fpb == 8  # "96 bpm" is read last: 93.75 bpm on the frame grid
    assert style.instruments == ("guitar", "strings")
    assert style.voice == "female"
    assert "r&b" in tag_words("r&b,lo-fi") and "lo-fi" in tag_words("r&b,lo-fi")
    assert resolve_style("dark, major", rng).mode == "major"
    assert resolve_style("sad", rng).mode == "minor"


def test_empty_lyrics_make_an_instrumental_song():
    song = compose("pop", "", 0)
    analysis = analyze_frames(song.frames)
    assert analysis["tokens"] == []
    assert [s["kind"] for s in analysis["sections"]] == ["intro", "verse", "chorus", "outro"]
