"""The reference track in the window: drop or choose an audio file, it is embedded on the engine
thread ("Analysing …"), set as one undoable edit, shown (name, m:ss, waveform, strength), its
strength changed and cleared (undoable), kept by Generate, saved and reopened; bad files are
reported and change nothing. With the fake engine, plus one run on the real demo model.

The screenshot of the drop zone goes to ``$REFERENCE_SHOT`` (default: the test's tmp folder).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
import soundfile as sf  # noqa: E402
from PySide6 import QtCore, QtWidgets  # noqa: E402

from tests.gui import fake_engine  # noqa: E402
from tests.gui.test_main_window import (  # noqa: E402
    WAIT_MS,
    drop,
    generate,
    make_window,
    type_prompt,
    wait_idle,
)
from ui.panels import ReferenceZone  # noqa: E402


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HEARTMULA_EDITOR_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HEARTMULA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fake_engine, "FRAME_DELAY", 0.0)


@pytest.fixture
def window(qtbot):
    w = make_window(qtbot)
    yield w
    w.close()


def chord_wav(path: Path, seconds: float = 6.0, rate: int = 48_000) -> Path:
    """A 440/550/660 Hz chord pulsed at 2 Hz (stereo float32 WAV)."""
    t = np.arange(int(seconds * rate)) / rate
    gate = (np.sin(2 * np.pi * 2 * t) > 0).astype(np.float32)
    x = 0.2 * gate * sum(np.sin(2 * np.pi * f * t) for f in (440, 550, 660))
    sf.write(str(path), np.stack([x, 0.9 * x], axis=1).astype(np.float32), rate)
    return path


def zone(window):
    return window.song.reference


def wait_reference(qtbot, c, name: str) -> None:
    qtbot.waitUntil(lambda: c.reference is not None and c.reference.name == name and not c.busy, timeout=WAIT_MS)


def test_drop_sets_an_undoable_reference_shown_in_the_panel(window, qtbot, tmp_path, monkeypatch):
    c = window.c
    monkeypatch.setattr(fake_engine, "REFERENCE_DELAY", 0.3)
    wav = chord_wav(tmp_path / "groove.wav", seconds=75.0, rate=8000)
    before = c.doc
    analysing = []
    c.referenceAnalysing.connect(analysing.append)
    assert drop(window, [wav]) == (True, True)
    assert c.busy and zone(window).text() == "Analysing groove.wav…"  # the GUI thread did not embed it
    assert window.progress_text.text() == "Analysing groove.wav…"
    wait_reference(qtbot, c, "groove.wav")
    assert analysing == ["groove.wav", ""]
    ref = c.reference
    assert ref.embedder == fake_engine.EMBEDDER and ref.strength == 1.0 and ref.seconds == pytest.approx(75.0)
    assert c.history.undo_label == "Set reference groove.wav" and c.dirty
    assert np.array_equal(c.doc.frames, before.frames)
    z = zone(window)
    assert z.stack.currentWidget() is z.set_page
    assert z.name.text() == "groove.wav" and z.duration.text() == "1:15"
    assert z.waveform.preview is not None and z.waveform.preview.shape == (240, 2)
    assert z.slider.value() == 100 and z.strength_label.text() == "100 %"
    assert window.messages.level == "info" and "groove.wav" in window.messages.text.text()

    window.act_undo.trigger()
    assert c.reference is None and c.doc is before
    assert z.stack.currentWidget() is z.empty_page and "Drop a reference track" in z.text()
    assert "later version" not in z.text()
    window.act_redo.trigger()
    assert c.reference is ref and z.name.text() == "groove.wav"


def test_strength_and_clear_are_undoable_steps(window, qtbot, tmp_path):
    c = window.c
    assert drop(window, [chord_wav(tmp_path / "ref.wav")]) == (True, True)
    wait_reference(qtbot, c, "ref.wav")
    z = zone(window)
    steps = len(c.history.labels())

    # keyboard/wheel steps settle into ONE undo step
    for value in (110, 120, 130, 140, 150):
        z.slider.setValue(value)
    assert z.strength_label.text() == "150 %" and c.reference.strength == 1.0
    qtbot.waitUntil(lambda: c.reference.strength == pytest.approx(1.5), timeout=2000)
    assert len(c.history.labels()) == steps + 1 and c.history.undo_label == "Reference strength 150 %"

    # a drag: nothing while the slider is held, one step on release
    z.slider.setSliderDown(True)
    for value in range(150, 0, -10):
        z.slider.setValue(value)
    qtbot.wait(ReferenceZone.SETTLE_MS + 100)
    assert c.reference.strength == pytest.approx(1.5)
    z.slider.setSliderDown(False)  # emits sliderReleased
    assert c.reference.strength == pytest.approx(0.1)
    assert len(c.history.labels()) == steps + 2 and c.history.undo_label == "Reference strength 10 %"

    window.act_undo.trigger()
    assert c.reference.strength == pytest.approx(1.5) and z.slider.value() == 150 and z.strength_label.text() == "150 %"

    z.clear.click()
    assert c.reference is None and c.history.undo_label == "Clear reference"
    assert z.stack.currentWidget() is z.empty_page
    window.act_undo.trigger()
    assert c.reference is not None and c.reference.strength == pytest.approx(1.5)


def test_bad_files_are_reported_and_change_nothing(window, qtbot, tmp_path):
    c = window.c
    assert drop(window, [chord_wav(tmp_path / "good.wav")]) == (True, True)
    wait_reference(qtbot, c, "good.wav")
    doc, labels = c.doc, c.history.labels()

    bad = chord_wav(tmp_path / "bad_take.wav")  # readable, refused by the engine (a failed job)
    drop(window, [bad])
    qtbot.waitUntil(lambda: not c.busy, timeout=WAIT_MS)
    assert window.messages.level == "error" and "bad_take.wav" in window.messages.text.text()
    assert c.doc is doc and c.history.labels() == labels

    short = chord_wav(tmp_path / "short.wav", seconds=2.0)
    drop(window, [short])
    qtbot.waitUntil(lambda: not c.busy, timeout=WAIT_MS)
    assert window.messages.level == "error" and "too short" in window.messages.text.text()
    assert c.doc is doc

    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"not audio")  # refused at once, no job
    drop(window, [broken])
    assert not c.busy and "broken.flac" in window.messages.text.text() and c.doc is doc
    z = zone(window)
    assert z.stack.currentWidget() is z.set_page and z.name.text() == "good.wav"


def test_choose_generate_save_and_reopen_keep_the_reference(window, qtbot, tmp_path):
    c = window.c
    wav = chord_wav(tmp_path / "chosen.wav")
    window.ask_reference_path = lambda: str(wav)
    z = zone(window)
    assert z.choose.isVisible()
    qtbot.mouseClick(z.choose, QtCore.Qt.MouseButton.LeftButton)
    wait_reference(qtbot, c, "chosen.wav")
    ref = c.reference

    type_prompt(window, seconds=6)
    generate(window, qtbot)
    assert c.doc.num_frames == 75 and c.doc.reference is ref  # Generate keeps the song's reference
    assert z.name.text() == "chosen.wav"
    z.slider.setValue(60)
    z.slider.sliderReleased.emit()
    assert c.reference.strength == pytest.approx(0.6)
    song = tmp_path / "with-ref.hmsong"
    assert c.save(song)

    window.new_song()
    wait_idle(qtbot, c)
    assert c.reference is None and z.stack.currentWidget() is z.empty_page
    assert window.open_file(song)
    wait_idle(qtbot, c)
    assert c.reference is not None and c.reference.name == "chosen.wav" and c.reference.strength == pytest.approx(0.6)
    assert z.name.text() == "chosen.wav" and z.duration.text() == "0:06" and z.slider.value() == 60
    assert z.waveform.preview is not None


def test_reference_dropped_while_the_model_loads(qtbot, tmp_path):
    w = make_window(qtbot, load=False)
    try:
        c = w.c
        c.set_draft(tags="ambient", lyrics="")
        c.load_model()
        assert drop(w, [chord_wav(tmp_path / "early.wav")]) == (True, True)
        wait_reference(qtbot, c, "early.wav")
        wait_idle(qtbot, c)
        assert c.doc is not None and c.doc.reference.name == "early.wav" and c.doc.tags == "ambient"
        assert zone(w).name.text() == "early.wav"
    finally:
        w.close()


def test_screenshot_of_the_reference_drop_zone(window, qtbot, tmp_path):
    c = window.c
    type_prompt(window, seconds=20)
    generate(window, qtbot)
    assert drop(window, [chord_wav(tmp_path / "pulsed-chord-reference.wav")]) == (True, True)
    wait_reference(qtbot, c, "pulsed-chord-reference.wav")
    z = zone(window)
    z.slider.setValue(80)
    z.slider.sliderReleased.emit()
    wait_idle(qtbot, c)
    window.messages.hide()
    out = Path(os.environ.get("REFERENCE_SHOT", tmp_path / "reference-drop-zone.png"))
    out.parent.mkdir(parents=True, exist_ok=True)
    app = QtWidgets.QApplication.instance()
    for _ in range(5):
        app.processEvents()
        qtbot.wait(20)
    window.timeline.redraw()
    assert window.grab().save(str(out))
    assert z.waveform.isVisible() and z.waveform.height() >= 36 and z.name.isVisible()
    # the name is not clipped at the default window size; a long one is shortened with "…"
    assert z.name.shown_text() == "pulsed-chord-reference.wav"
    z.name.setText("a-very-long-reference-track-name-that-does-not-fit-the-song-panel-at-all.wav")
    assert "…" in z.name.shown_text() and z.name.shown_text().endswith(".wav")


# --- the real engine ---------------------------------------------------------------------------------


def test_reference_with_the_demo_model(qtbot, tmp_path):
    editing = pytest.importorskip("heartmula_core.editing")
    if not hasattr(editing.Editor, "reference_from_file"):
        pytest.skip("this engine has no reference_from_file")
    from dataclasses import replace

    from app.controller import SongController
    from app.settings import ModelSpec
    from tests.gui.editor_helpers import no_device_player
    from ui.main_window import MainWindow

    c = SongController(editing, player=no_device_player())
    c.settings = replace(c.settings, model=ModelSpec(device="cpu"), candidates=2)
    w = MainWindow(c)
    w.ask_save_changes = lambda *_: "discard"
    qtbot.addWidget(w)
    w.resize(1440, 860)
    w.show()
    try:
        c.load_model()
        qtbot.waitUntil(lambda: c.model_info is not None and c.doc is not None, timeout=60_000)
        before = c.doc
        assert drop(w, [chord_wav(tmp_path / "chord.wav")]) == (True, True)
        qtbot.waitUntil(lambda: c.reference is not None and not c.busy, timeout=60_000)
        ref = c.reference
        assert ref.embedder == "heartmula-audio-features-v1" and ref.name == "chord.wav"
        assert ref.embedding.shape == (512,) and ref.seconds == pytest.approx(6.0, abs=0.01)
        z = w.song.reference
        assert z.name.text() == "chord.wav" and z.duration.text() == "0:06" and z.waveform.preview.shape == (240, 2)

        z.slider.setValue(150)
        z.slider.sliderReleased.emit()
        assert c.reference.strength == pytest.approx(1.5)
        w.act_undo.trigger()
        w.act_undo.trigger()
        assert c.reference is None and c.doc is before
        w.act_redo.trigger()
        assert c.reference is ref
        z.clear.click()
        assert c.reference is None and c.history.undo_label == "Clear reference"

        doc = c.doc
        drop(w, [chord_wav(tmp_path / "tiny.wav", seconds=2.0)])
        qtbot.waitUntil(lambda: not c.busy, timeout=60_000)
        assert w.messages.level == "error" and "tiny.wav" in w.messages.text.text() and c.doc is doc
    finally:
        w.close()
