"""The demo model's evaluation command: metric definitions on composer songs, and the plumbing."""

from __future__ import annotations

import json

import pytest

import heartmula_core.demo.evaluate as evaluate_module
from heartmula_core.demo import vocab
from heartmula_core.demo.analysis import analyze_frames
from heartmula_core.demo.composer import compose
from heartmula_core.demo.eval_set import EVAL_SET
from heartmula_core.demo.evaluate import (
    align,
    evaluate,
    expected_song,
    lines_in_sections,
    main,
    score_frames,
    sections_in_order,
    summarize,
)
from heartmula_core.demo.train import TrainSettings, train, write_checkpoint
from heartmula_core.pipeline import Pipeline
from heartmula_core.sampling import SamplingSettings

LYRICS = "[intro]\n\n[verse]\nmorning light on the hill\nwe sing along\n\n[chorus]\nla la la, oh-oh\nhome again\n\n[outro]\n"
TINY = TrainSettings(steps=8, batch=2, device="cpu", dim=64, layers=1, decoder_dim=64, decoder_layers=1,
                     heads=4, songs=4, max_frames=48, lr=3e-3, warmup=2, log_every=10,
                     reference_chance=0.0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    result = train(TINY)
    return write_checkpoint(tmp_path_factory.mktemp("eval_ckpt"), result.model, result.config)


@pytest.fixture(scope="module")
def pipe(checkpoint):
    return Pipeline.load(checkpoint, device="cpu")


# ---- definitions on composer songs ------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("item", EVAL_SET, ids=lambda item: item.name)
def test_composer_songs_score_perfectly(item, seed):
    song = compose(item.tags, item.lyrics, seed=seed)
    scores = score_frames(expected_song(item.lyrics), song.frames)
    assert scores["token_error_rate"] == 0.0
    assert scores["sections_in_order"] is True
    assert scores["lines_in_sections"] is True


@pytest.mark.parametrize("lyrics", [LYRICS, "no markers here\nsecond line\n", "[verse]\na b\n[verse]\nc d\n",
                                    "[Verse 1]\nZebras juxtapose 42 tunes!\n[Hook]\nla la\n[Guitar Solo]\n"])
def test_composer_songs_score_perfectly_odd_lyrics(lyrics):
    song = compose("pop", lyrics, seed=0)
    scores = score_frames(expected_song(lyrics), song.frames)
    assert (scores["token_error_rate"], scores["sections_in_order"], scores["lines_in_sections"]) == (0.0, True, True)


def test_expected_song_maps_marker_kinds():
    expected = expected_song("[Intro]\n[Pre-Chorus]\nhello\n[Hook]\nla\n[Solo]\n[weird]\nhey\n")
    assert expected.section_kinds == ("intro", "prechorus", "chorus", "interlude", "verse")
    assert expected.line_sections == (1, 2, 4)
    assert expected_song("").section_kinds == ("intro", "verse", "chorus", "outro")


def test_align_matches_equal_tokens_only():
    assert align([1, 2, 3], [1, 2, 3]) == [0, 1, 2]
    assert align([1, 2, 3], [1, 3]) == [0, None, 1]
    assert align([1, 2, 3], [9, 1, 2, 7]) == [1, 2, None]
    assert align([], [1]) == [] and align([1], []) == [None]


def _song():
    song = compose("pop, fast, major", LYRICS, seed=0)
    return song, song.frames.clone(), expected_song(LYRICS)


def test_swapped_sections_break_the_order():
    song, frames, expected = _song()
    a0, a1 = song.section_frames[1]  # the verse
    chorus_kind = vocab.SECTION_KINDS.index("chorus")
    verse_kind = vocab.SECTION_KINDS.index("verse")
    sec = frames[:, vocab.CB_SECTION]
    sec[a0:a1] += 16 * (chorus_kind - verse_kind)  # the verse now claims to be a chorus
    analysis = analyze_frames(frames)
    assert not sections_in_order(expected, analysis)
    assert not lines_in_sections(expected, analysis)


def test_line_sung_in_the_wrong_section_is_caught():
    song, frames, expected = _song()
    verse_end = song.section_frames[1][1]
    # move the verse/chorus boundary one bar early: the verse's last line now sits in the chorus
    bar = 4 * analyze_frames(frames)["frames_per_beat"]
    start = verse_end - bar
    chorus_first = int(frames[verse_end, vocab.CB_SECTION])
    frames[start:verse_end, vocab.CB_SECTION] = chorus_first
    frames[verse_end:song.section_frames[2][1], vocab.CB_SECTION] += 1
    analysis = analyze_frames(frames)
    assert sections_in_order(expected, analysis)
    assert not lines_in_sections(expected, analysis)


def test_dropped_line_fails_lines_in_sections():
    song, frames, expected = _song()
    a, b = song.line_frames[1]
    frames[a:b, vocab.CB_LYRIC] = 0
    scores = score_frames(expected, frames)
    assert scores["token_error_rate"] > 0 and scores["sections_in_order"]
    assert not scores["lines_in_sections"]


def test_summarize_fractions_and_means():
    records = [{"token_error_rate": 0.5, "sections_in_order": True, "lines_in_sections": False,
                "tempo_bpm": 120.0, "mode": "major", "rtf": 0.2},
               {"token_error_rate": 0.0, "sections_in_order": False, "lines_in_sections": False,
                "tempo_bpm": None, "mode": "minor", "rtf": 0.4}]
    out = summarize(records)
    assert out["token_error_rate"] == 0.25 and out["sections_in_order"] == 0.5
    assert out["lines_in_sections"] == 0.0 and out["major_fraction"] == 0.5
    assert out["tempo_bpm"] == {"mean": 120.0, "per_seed": [120.0, None]}
    assert out["rtf"] == pytest.approx(0.3)


# ---- plumbing on a tiny trained checkpoint ----------------------------------------------------


def _strip_timing(report):
    out = dict(report, rtf=None)
    out["per_seed"] = [{k: v for k, v in r.items() if k not in ("rtf", "wall_seconds")} for r in report["per_seed"]]
    return out


def test_evaluate_report(pipe):
    settings = SamplingSettings()
    report = evaluate(pipe, "pop, fast, major", LYRICS, [0, 1], 5.0, settings)
    json.dumps(report)  # JSON-ready
    for key in ("token_error_rate", "sections_in_order", "lines_in_sections", "major_fraction", "rtf"):
        assert isinstance(report[key], float), key
    for key in ("sections_in_order", "lines_in_sections", "major_fraction"):
        assert 0.0 <= report[key] <= 1.0
    assert report["token_error_rate"] >= 0 and report["rtf"] > 0
    assert set(report["tempo_bpm"]) == {"mean", "per_seed"} and len(report["tempo_bpm"]["per_seed"]) == 2
    assert report["seeds"] == [0, 1] and len(report["per_seed"]) == 2
    assert report["device"] == "cpu" and report["model"]
    for record in report["per_seed"]:
        assert 0 < record["frames"] <= pipe.frames_for_seconds(5.0)
        assert isinstance(record["sections_in_order"], bool)
    again = evaluate(pipe, "pop, fast, major", LYRICS, [0, 1], 5.0, settings)
    assert _strip_timing(again) == _strip_timing(report)
    parallel = evaluate(pipe, "pop, fast, major", LYRICS, [0, 1], 5.0, settings, jobs=2)  # worker processes
    assert _strip_timing(parallel) == _strip_timing(report)


def test_cli_prints_one_json_object(checkpoint, tmp_path, capsys):
    lyrics = tmp_path / "song.txt"
    lyrics.write_text(LYRICS)
    code = main(["--lyrics", str(lyrics), "--tags", "rock, slow", "--seeds", "1", "--seconds", "2",
                 "--model", str(checkpoint), "--device", "cpu"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["seeds"] == [0] and report["model"] == str(checkpoint)


def test_cli_first_seed_draws_other_songs(checkpoint, tmp_path, capsys):
    lyrics = tmp_path / "song.txt"
    lyrics.write_text(LYRICS)
    code = main(["--lyrics", str(lyrics), "--tags", "rock, slow", "--seeds", "2", "--first-seed", "5",
                 "--seconds", "2", "--model", str(checkpoint), "--device", "cpu"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["seeds"] == [5, 6] and [r["seed"] for r in report["per_seed"]] == [5, 6]
    assert main(["--lyrics", str(lyrics), "--tags", "rock", "--first-seed", "-1", "--model", str(checkpoint)]) == 2
    assert "--first-seed" in capsys.readouterr().err


def test_cli_without_demo_model_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(evaluate_module, "DEFAULT_MODEL_DIR", tmp_path / "missing")
    lyrics = tmp_path / "song.txt"
    lyrics.write_text(LYRICS)
    assert main(["--lyrics", str(lyrics), "--tags", "pop"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert "demo model" in captured.err


def test_cli_bad_lyrics_path_exits_2(tmp_path, capsys):
    assert main(["--lyrics", str(tmp_path / "nope.txt"), "--tags", "pop", "--model", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert "nope.txt" in captured.err


def test_eval_set_report_covers_items_and_controls(pipe):
    from heartmula_core.demo.eval_set import EVAL_SET
    from heartmula_core.demo.evaluate import evaluate_eval_set

    report = evaluate_eval_set(pipe, 1, 1.0, SamplingSettings(), jobs=2)
    json.dumps(report)
    assert set(report["items"]) == {item.name for item in EVAL_SET} and report["songs"] == len(EVAL_SET)
    assert set(report["control"]) == {"fast", "slow", "major", "minor"} and report["seeds"] == [0]
    assert report["token_error_rate"] >= 0.0  # edits over reference length: may pass 1
    for key in ("sections_in_order", "lines_in_sections"):
        assert 0.0 <= report[key] <= 1.0

    misses = report["structure_misses"]
    wrong = sum(not (r["sections_in_order"] and r["lines_in_sections"]) for item in EVAL_SET
                for r in [report["items"][item.name]])  # one seed: an item's fractions are 0 or 1
    assert len(misses) == wrong
    for miss in misses:
        assert miss["item"] in report["items"] and miss["seed"] == 0 and isinstance(miss["found"], list)


def test_structure_misses_name_the_song_and_what_was_found():
    from heartmula_core.demo.evaluate import structure_misses

    reports = {"harbor": {"expected_sections": ["verse", "chorus"], "per_seed": [
        {"seed": 0, "sections_in_order": True, "lines_in_sections": True, "sections": ["verse", "chorus"],
         "token_error_rate": 0.0},
        {"seed": 1, "sections_in_order": False, "lines_in_sections": True, "sections": ["verse", "outro"],
         "token_error_rate": 0.1}]}}
    assert structure_misses(reports) == [{"item": "harbor", "seed": 1, "sections_in_order": False,
                                          "lines_in_sections": True, "expected": ["verse", "chorus"],
                                          "found": ["verse", "outro"], "token_error_rate": 0.1}]
