"""The window on the real editing engine with the built-in demo model (CPU, a few seconds):
generate (streamed), re-sample, choose a take, pin, fix a line, undo/redo, save with history,
reopen. Skipped while ``heartmula_core.editing`` does not exist."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("pytestqt")
editing = pytest.importorskip("heartmula_core.editing")

from PySide6 import QtWidgets  # noqa: E402

from app.controller import SongController  # noqa: E402
from app.settings import ModelSpec  # noqa: E402
from heartmula_core.prompt import parse_lyrics  # noqa: E402
from tests.gui.editor_helpers import LYRICS, TAGS, StallMeter, no_device_player, shoot, shots_dir  # noqa: E402
from ui.main_window import MainWindow  # noqa: E402
from ui.theme import apply_theme  # noqa: E402

WAIT_MS = 60_000


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("HEARTMULA_EDITOR_DATA", str(tmp_path / "data"))
    apply_theme(QtWidgets.QApplication.instance(), dark=True)
    c = SongController(editing, player=no_device_player())
    c.settings = replace(c.settings, model=ModelSpec(device="cpu"), candidates=2)
    w = MainWindow(c)
    w.ask_save_changes = lambda *_: "discard"
    qtbot.addWidget(w)
    w.resize(1440, 860)
    w.show()
    c.load_model()
    qtbot.waitUntil(lambda: c.model_info is not None and c.doc is not None, timeout=WAIT_MS)
    yield w
    w.close()


def wait_idle(qtbot, c):
    qtbot.waitUntil(lambda: not c.busy and not c.rendering and not c.loading, timeout=WAIT_MS)


def test_demo_model_session(window, qtbot, tmp_path, capsys):
    c, out = window, window.c
    c, window = out, window
    assert c.model_info.name == "built-in demo model" and c.model_info.device == "cpu"
    window.song.tags.setText(TAGS)
    window.song.length.setValue(12)
    window.lyrics.set_text(LYRICS)
    updates = []
    c.audioUpdated.connect(lambda u: updates.append(u.kind))
    chunks = []
    c.audioChunk.connect(lambda start, audio: chunks.append(audio.shape[-1]))
    texts = []
    c.progressChanged.connect(lambda done, total, text: texts.append(text))
    meter = StallMeter()
    meter.start()
    window.act_generate.trigger()
    wait_idle(qtbot, c)
    meter.stop()
    with capsys.disabled():
        print(f"\n[event loop during a real demo-model generation, {c.doc.duration:.1f} s of song] "
              f"longest stall={meter.longest * 1000:.1f} ms p99={meter.p99 * 1000:.1f} ms")
    doc = c.doc
    assert doc.num_frames > 0 and c.audio.shape[-1] == sum(chunks)  # the streamed audio is the song's
    assert updates[-1] == "streamed"
    reading = [i for i, t in enumerate(texts) if "reading the prompt" in t]  # until the first frame
    streaming = [i for i, t in enumerate(texts) if "s of audio" in t]
    assert reading and streaming and max(reading) < min(streaming), texts[:4]
    labels = [item.label for item in window.timeline.section_items]
    expected = [s.label for s in parse_lyrics(LYRICS).sections]
    assert labels == [e for e in expected if e in labels] and labels  # lanes in lyric order
    shoot(window, shots_dir(tmp_path), "20_real_generated")

    # re-sample a window, then choose another take
    window.timeline.set_selection(2.0, 4.0)
    window.act_resample.trigger()
    wait_idle(qtbot, c)
    assert c.history.undo_label == "Re-sample selection"
    takes = [t for t in c.doc.takes if not t.applied]
    assert window.takes.take_ids() and updates[-1] in ("span", "same")
    c.choose_take(takes[0].id)
    wait_idle(qtbot, c)
    np.testing.assert_array_equal(np.asarray(c.doc.frames)[25:50], takes[0].frames)
    shoot(window, shots_dir(tmp_path), "21_real_takes")

    c.pin_selection()
    assert c.doc.pinned_ranges() == [(25, 50)]

    # fix a sung line
    sung = [ln for ln in c.doc.lines() if ln.start is not None]
    assert sung, "the demo model sings at least one line"
    target = sung[0]
    line = parse_lyrics(window.lyrics.text()).lines[target.index]
    cursor = window.lyrics.editor.textCursor()
    cursor.setPosition(line.start)
    cursor.setPosition(line.end, cursor.MoveMode.KeepAnchor)
    cursor.insertText("Neon rivers carry me back home")
    cursor.setPosition(line.start + 1)
    window.lyrics.editor.setTextCursor(cursor)
    assert window.lyrics.fix_bar.isVisibleTo(window)
    window.lyrics.request_fix()
    wait_idle(qtbot, c)
    assert "Neon rivers carry me back home" in c.doc.lyrics and c.history.undo_label == "Fix line"
    assert c.doc.pinned_ranges() == [(25, 50)] or target.start < 50  # pins hold unless the line overlaps
    fixed = c.doc

    c.undo()
    wait_idle(qtbot, c)
    assert "Neon rivers" not in c.doc.lyrics
    c.redo()
    wait_idle(qtbot, c)
    assert c.doc is fixed

    song = tmp_path / "real.hmsong"
    assert c.save(song)
    window.new_song()
    assert window.open_file(song)
    wait_idle(qtbot, c)
    assert np.array_equal(c.doc.frames, fixed.frames) and c.history.can_undo  # history saved in the file
    assert c.audio is not None and c.audio.shape[-1] == fixed.num_frames * 3840

    # a song of another model's tokens is refused at open, with one blocking message; the open song stays
    foreign = tmp_path / "other-model.hmsong"
    editing.save_song(foreign, replace(c.doc, token_space="heartcodec/8x8192"))
    errors = []
    c.blockingError.connect(lambda title, text: errors.append(text))
    assert not c.open(foreign)
    assert len(errors) == 1 and "heartcodec/8x8192" in errors[0] and "heartmula-demo/demo-v2" in errors[0]
    assert np.array_equal(c.doc.frames, fixed.frames) and c.path == song
