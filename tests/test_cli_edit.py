"""The song-project commands end to end, on the built-in demo model (in-process and one subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from heartmula_core.cli import run
from heartmula_core.editing import load_song

ROOT = Path(__file__).resolve().parents[1]
LYRICS = "[verse]\nmorning light on the water\nwe walk along the river\n\n[chorus]\nsing it loud tonight\n"


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_song")
    (folder / "lyrics.txt").write_text(LYRICS)
    path = folder / "song.hmsong"
    assert run(["new", str(path), "--tags", "pop, fast", "--lyrics", str(folder / "lyrics.txt"),
                "--seconds", "16", "--seed", "1", "--device", "cpu"]) == 0
    return path


def info(path: Path, capsys) -> dict:
    capsys.readouterr()
    assert run(["info", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_new_info_frames_render(song, tmp_path, capsys):
    data = info(song, capsys)
    assert data["duration"] > 0 and [s["kind"] for s in data["sections"]][:1] == ["verse"]
    assert data["token_space"] == "heartmula-demo/demo-v2"  # which model's tokens the song holds
    assert run(["frames", str(song), str(tmp_path / "f.npy")]) == 0
    frames = np.load(tmp_path / "f.npy")
    assert frames.shape == (data["frames"], 8) and frames.dtype == np.int64
    assert run(["render", str(song), str(tmp_path / "out.flac")]) == 0
    audio, rate = sf.read(tmp_path / "out.flac")
    assert rate == 48_000 and abs(len(audio) / rate - data["duration"]) < 0.01
    assert 0.05 < np.abs(audio).max() < 1.0  # not silent, not clipped


def test_edit_pin_resample_undo_redo(song, capsys):
    before, _ = load_song(song)
    assert run(["edit", str(song), "--pin", "0:2", "--resample", "1:6", "--candidates", "2", "--seed", "3"]) == 0
    after, audio = load_song(song)
    pinned = before.seconds_to_frame(2.0)
    assert np.array_equal(after.frames[:pinned], before.frames[:pinned])
    assert np.array_equal(after.frames[before.seconds_to_frame(6.0):], before.frames[before.seconds_to_frame(6.0):])
    assert audio.shape[-1] == after.num_frames * 3840
    data = info(song, capsys)
    assert data["undo"].startswith("re-sample") and len(data["takes"]) == 3
    assert run(["edit", str(song), "--undo", "--undo"]) == 0
    undone, _ = load_song(song)
    assert np.array_equal(undone.frames, before.frames) and not undone.pinned.any()
    assert run(["edit", str(song), "--redo", "--redo"]) == 0
    assert np.array_equal(load_song(song)[0].frames, after.frames)
    take = next(t for t in data["takes"] if t["label"] == "as it was")
    assert run(["edit", str(song), "--choose-take", str(take["id"])]) == 0
    assert np.array_equal(load_song(song)[0].frames, before.frames)


def test_fix_line_command(song):
    assert run(["edit", str(song), "--fix-line", "2", "we run beside the golden river", "--candidates", "2"]) == 0
    assert "we run beside the golden river" in load_song(song)[0].lyrics


def test_insert_section_command(song):
    assert run(["edit", str(song), "--insert-section", "1", "[bridge]\\nthe night is long", "--candidates", "2"]) == 0
    assert "[bridge]\nthe night is long" in load_song(song)[0].lyrics


def test_bad_edits_leave_the_file_alone(song, tmp_path):
    good = song.read_bytes()
    assert run(["edit", str(song), "--resample", "500:600"]) == 2
    assert run(["edit", str(song), "--fix-line", "0", "x"]) == 2
    assert run(["edit", str(song)]) == 2
    assert song.read_bytes() == good
    broken = tmp_path / "broken.hmsong"
    broken.write_bytes(good[: len(good) // 3])
    assert run(["info", str(broken)]) == 2


def test_a_song_of_another_models_tokens_is_not_edited_or_rendered(song, tmp_path, capsys):
    from dataclasses import replace

    from heartmula_core.editing import save_song

    doc, _ = load_song(song)
    foreign = tmp_path / "foreign.hmsong"
    save_song(foreign, replace(doc, token_space="heartcodec/8x8192"))
    good = foreign.read_bytes()
    capsys.readouterr()
    assert run(["edit", str(foreign), "--resample", "1:2", "--device", "cpu"]) == 2
    assert "heartcodec/8x8192" in capsys.readouterr().err
    assert run(["render", str(foreign), str(tmp_path / "out.wav"), "--device", "cpu"]) == 2
    assert foreign.read_bytes() == good and not (tmp_path / "out.wav").exists()


def test_subprocess_error_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "info", str(tmp_path / "missing.hmsong")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:") and "Traceback" not in result.stderr
