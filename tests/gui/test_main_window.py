"""The editor window with the fake engine: a scripted session from an empty song to an export,
drops, cancel, stale jobs, no sound card, recovery, settings and the screenshot entry point.

Screenshots of the main states go to ``$GUI_SHOTS`` (default: the test's tmp folder).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

from app.controller import SongController  # noqa: E402
from app.playback import Player  # noqa: E402
from app.worker import JobResult  # noqa: E402
from heartmula_core.prompt import parse_lyrics  # noqa: E402
from tests.gui import fake_engine  # noqa: E402
from tests.gui.editor_helpers import LYRICS, TAGS, SilentBackend, StallMeter, no_device_player, shoot, shots_dir  # noqa: E402
from ui import dialogs  # noqa: E402
from ui.main_window import MainWindow  # noqa: E402
from ui.theme import apply_theme  # noqa: E402

WAIT_MS = 10_000


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    monkeypatch.setenv("HEARTMULA_EDITOR_DATA", str(folder))
    monkeypatch.setattr(fake_engine, "FRAME_DELAY", 0.0)
    return folder


def make_window(qtbot, player: Player | None = None, load: bool = True) -> MainWindow:
    apply_theme(QtWidgets.QApplication.instance(), dark=True)
    controller = SongController(fake_engine, player=player or no_device_player())
    window = MainWindow(controller)
    window.ask_save_changes = lambda *_: "discard"
    window.ask_recovery = lambda *_: "later"
    qtbot.addWidget(window)
    window.resize(1440, 860)
    window.show()
    qtbot.waitExposed(window)
    if load:
        controller.load_model()
        qtbot.waitUntil(lambda: controller.model_info is not None and controller.doc is not None, timeout=WAIT_MS)
    return window


@pytest.fixture
def window(qtbot):
    w = make_window(qtbot)
    yield w
    w.close()


def wait_idle(qtbot, c: SongController) -> None:
    qtbot.waitUntil(lambda: not c.busy and not c.rendering and not c.loading, timeout=WAIT_MS)


def type_prompt(window: MainWindow, seconds: float = 20.0, lyrics: str = LYRICS) -> None:
    window.song.tags.setText(TAGS)
    window.song.length.setValue(seconds)
    window.lyrics.set_text(lyrics)


def key(window: MainWindow, qtbot, k, modifier=QtCore.Qt.KeyboardModifier.NoModifier) -> None:
    """A key press on the timeline (focus in the arrange view, like a user who clicked it)."""
    window.timeline.setFocus()
    qtbot.keyClick(window.timeline, k, modifier)


def generate(window, qtbot) -> None:
    window.act_generate.trigger()
    wait_idle(qtbot, window.c)


def edit_line(window: MainWindow, index: int, text: str) -> None:
    line = parse_lyrics(window.lyrics.text()).lines[index]
    cursor = window.lyrics.editor.textCursor()
    cursor.setPosition(line.start)
    cursor.setPosition(line.end, QtGui.QTextCursor.MoveMode.KeepAnchor)
    cursor.insertText(text)
    cursor.setPosition(line.start + 2)
    window.lyrics.editor.setTextCursor(cursor)


# --- the scripted session ---------------------------------------------------------------------------


def test_workflow_new_generate_edit_save_reopen_export(window, qtbot, tmp_path):
    c, out = window.c, shots_dir(tmp_path)
    shoot(window, out, "01_empty")
    type_prompt(window)
    shoot(window, out, "02_prompt_typed")

    generate(window, qtbot)
    doc = c.doc
    assert doc.num_frames == 250 and c.audio is not None and c.audio.shape == (2, 250 * fake_engine.HOP)
    expected = [s.label for s in parse_lyrics(LYRICS).sections]
    assert [item.label for item in window.timeline.section_items] == expected  # lanes in lyric order
    starts = [item.boundingRect().left() for item in window.timeline.section_items]
    assert starts == sorted(starts)
    assert [item.text for item in window.timeline.line_items] == [ln.text for ln in parse_lyrics(LYRICS).lines]
    assert window.lyrics.status.text() == "IN SYNC"
    assert c.history.undo_label == "Generate"
    shoot(window, out, "03_generated")

    # select a window and re-sample it with R
    window.timeline.set_selection(4.0, 8.0)
    assert c.selection == (50, 100)
    assert window.act_resample.isEnabled()
    key(window, qtbot, QtCore.Qt.Key.Key_R)
    wait_idle(qtbot, c)
    assert c.history.undo_label == "Re-sample selection"
    takes = c.doc.takes
    assert len(takes) == 4 and sum(t.applied for t in takes) == 1
    assert window.takes.take_ids() == [t.id for t in takes]
    assert not np.array_equal(c.doc.frames[50:100], doc.frames[50:100])
    assert np.array_equal(c.doc.frames[:50], doc.frames[:50])
    shoot(window, out, "04_resampled_takes")

    # choose another take by double-click: an instant edit, then a render of the new frames
    other = next(t for t in takes if not t.applied)
    window.takes.select_take(other.id)
    item = window.takes.tree.currentItem()
    window.takes.tree.itemDoubleClicked.emit(item, 0)
    wait_idle(qtbot, c)
    assert next(t for t in c.doc.takes if t.id == other.id).applied
    assert c.history.undo_label == f"Choose {other.label}"
    np.testing.assert_array_equal(c.audio, fake_engine.render_frames(np.asarray(c.doc.frames)))

    # pin the selection with P
    key(window, qtbot, QtCore.Qt.Key.Key_P)
    assert c.doc.pinned_ranges() == [(50, 100)]
    assert len(window.timeline.pin_items) == 1
    shoot(window, out, "05_pinned")

    # fix a line: edit it, the fix bar appears, press "Fix this line"
    before_fix = c.doc
    edit_line(window, 1, "Every window burns with silver light")
    assert window.lyrics.status.text() == "1 EDITED"
    assert window.lyrics.fix_bar.isVisibleTo(window)
    shoot(window, out, "06_line_edited")
    qtbot.mouseClick(window.lyrics.fix_button, QtCore.Qt.MouseButton.LeftButton)
    wait_idle(qtbot, c)
    assert "Every window burns with silver light" in c.doc.lyrics
    assert c.history.undo_label == "Fix line"
    assert not window.lyrics.fix_bar.isVisibleTo(window)
    assert window.lyrics.status.text() == "IN SYNC"
    assert c.doc.pinned_ranges() == [(50, 100)]  # the pin survived
    line = c.doc.lines()[1]
    assert np.array_equal(c.doc.frames[:line.start], before_fix.frames[:line.start])
    shoot(window, out, "07_line_fixed")

    # undo / redo from the keyboard
    key(window, qtbot, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert c.doc is before_fix
    assert "Every window glows in amber light" in window.lyrics.text()
    wait_idle(qtbot, c)
    key(window, qtbot, QtCore.Qt.Key.Key_Z,
        QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert "Every window burns with silver light" in c.doc.lyrics
    wait_idle(qtbot, c)

    # save (ctrl+s asks for a path first: give it one), reopen, export
    song = tmp_path / "song.hmsong"
    assert c.save(song) and not c.dirty and song.exists()
    assert window.windowTitle().startswith("song.hmsong[*] —") and not window.isWindowModified()
    saved = c.doc
    window.new_song()
    assert c.doc is None or c.doc.num_frames == 0
    assert window.open_file(song)
    wait_idle(qtbot, c)
    assert np.array_equal(c.doc.frames, saved.frames) and c.doc.pinned_ranges() == [(50, 100)]
    assert c.doc.lyrics == saved.lyrics == window.lyrics.text()
    assert [t.id for t in c.doc.takes] == [t.id for t in saved.takes]
    assert c.audio is not None and c.store.recent_files()[0] == str(song.resolve())
    shoot(window, out, "08_reopened")

    import soundfile as sf

    for suffix in (".wav", ".flac", ".mp3"):
        target = tmp_path / f"export{suffix}"
        with qtbot.waitSignal(c.exportFinished, timeout=WAIT_MS) as blocker:
            assert c.export(target)
        assert blocker.args == [str(target), ""]
        info = sf.info(str(target))
        assert info.channels == 2 and info.samplerate == 48_000
        assert abs(info.frames - c.audio.shape[1]) < 48_000 * 0.2  # mp3 pads a little


def test_keyboard_space_plays_and_pauses(qtbot):
    window = make_window(qtbot, player=Player(backend=SilentBackend()))
    c = window.c
    type_prompt(window, seconds=8)
    c.settings = c.settings.__class__(model=c.settings.model, play_while_generating=False)
    generate(window, qtbot)
    assert window.transport.play.isEnabled()
    key(window, qtbot, QtCore.Qt.Key.Key_Space)
    assert c.is_playing()
    key(window, qtbot, QtCore.Qt.Key.Key_Space)
    assert not c.is_playing()
    # typing in the lyrics still types: space, p, r are text there, not shortcuts
    window.lyrics.editor.setFocus()
    before, undo_label = window.lyrics.text(), c.history.undo_label
    for k in (QtCore.Qt.Key.Key_Space, QtCore.Qt.Key.Key_P, QtCore.Qt.Key.Key_R):
        qtbot.keyClick(window.lyrics.editor, k)
    assert len(window.lyrics.text()) == len(before) + 3 and not c.is_playing()
    assert c.history.undo_label == undo_label and not c.busy
    window.close()


def test_generation_streams_without_stalling_the_gui(qtbot, monkeypatch, capsys):
    """The event loop keeps ticking while a 60 s song streams in (fake: 1.5 ms a frame)."""
    monkeypatch.setattr(fake_engine, "FRAME_DELAY", 0.0015)
    window = make_window(qtbot)
    c = window.c
    type_prompt(window, seconds=60)
    chunks = []
    c.audioChunk.connect(lambda start, audio: chunks.append((start, audio.shape[-1])))
    meter = StallMeter()
    meter.start()
    window.act_generate.trigger()
    assert c.busy and window.act_cancel.isEnabled() and not window.act_undo.isEnabled()
    wait_idle(qtbot, c)
    meter.stop()
    assert c.doc.num_frames == 750
    assert len(chunks) > 3  # the waveform grew in steps, in order
    assert [s for s, _ in chunks] == sorted(s for s, _ in chunks)
    assert chunks[0][0] == 0 and sum(n for _, n in chunks) == 750 * fake_engine.HOP
    with capsys.disabled():
        print(f"\n[event loop during a 60 s generation] ticks={len(meter.gaps)} "
              f"longest stall={meter.longest * 1000:.1f} ms p99={meter.p99 * 1000:.1f} ms")
    assert meter.longest < 0.25
    window.close()


def test_cancel_mid_generation_leaves_the_song_unchanged(window, qtbot, monkeypatch, tmp_path):
    c = window.c
    type_prompt(window, seconds=12)
    generate(window, qtbot)
    doc, audio, undo_label = c.doc, c.audio, c.history.undo_label
    monkeypatch.setattr(fake_engine, "FRAME_DELAY", 0.01)
    window.song.length.setValue(60)
    progress = []
    c.progressChanged.connect(lambda done, total, text: progress.append(done))
    window.act_generate.trigger()
    qtbot.waitUntil(lambda: any(p > 5 for p in progress), timeout=WAIT_MS)
    shoot(window, shots_dir(tmp_path), "09_generating")
    with qtbot.waitSignal(c.busyChanged, timeout=WAIT_MS):
        window.act_cancel.trigger()
    assert c.doc is doc and c.audio is audio and c.history.undo_label == undo_label
    assert window.timeline.duration() == pytest.approx(doc.duration, abs=0.1)
    assert [i.label for i in window.timeline.section_items] == [s.label for s in doc.sections()]
    assert "cancelled" in window.messages.text.text()
    assert not c.busy and not window.act_cancel.isEnabled()


def test_stale_job_results_are_ignored(window, qtbot, monkeypatch):
    c = window.c
    type_prompt(window, seconds=8)
    monkeypatch.setattr(fake_engine, "FRAME_DELAY", 0.002)
    first = c.generate()
    window.song.seed.setValue(7)
    second = c.generate()  # Generate again: restarts; the first job is now stale
    assert second.job_id > first.job_id
    wait_idle(qtbot, c)
    assert c.history.undo_label == "Generate" and c.doc.seed == 7
    pushes = 0
    while c.history.can_undo:
        c.history.undo()
        pushes += 1
    c.history.redo()
    assert pushes == 1  # one Generate applied, not two
    current = c.doc
    # a late result of an old job arriving now changes nothing
    fake_old = JobResult(first.job_id, "generate", current.with_pins(0, 10), current, None, 0.1)
    c.thread.finished.emit(fake_old)
    qtbot.wait(20)
    assert c.doc is current and c.doc.pinned_ranges() == []


def test_no_sound_device_disables_the_transport_only(window, qtbot):
    c = window.c
    assert not c.player.available
    assert not window.transport.play.isEnabled() and not window.transport.loop.isEnabled()
    assert "Playback off" in window.playback_label.text()
    assert "no audio output device" in window.playback_label.toolTip()
    type_prompt(window, seconds=6)
    generate(window, qtbot)
    assert c.doc.num_frames == 75
    c.toggle_play()
    assert "Playback is off" in window.messages.text.text()
    window.timeline.seekRequested.emit(2.0)
    assert window.timeline.playhead() == pytest.approx(2.0)


def test_section_actions_apply_to_the_clicked_section(window, qtbot):
    c = window.c
    type_prompt(window, seconds=20)
    generate(window, qtbot)
    sections = c.doc.sections()
    chorus = next(i for i, s in enumerate(sections) if s.kind == "chorus")
    window.timeline.sectionClicked.emit(chorus)
    assert c.current_section == sections[chorus].index
    assert window.act_duplicate_section.isEnabled()
    window.act_duplicate_section.trigger()
    wait_idle(qtbot, c)
    labels = [item.label for item in window.timeline.section_items]
    assert labels.count("Chorus") == 2
    assert c.doc.lyrics.count("[Chorus]") == 2 and window.lyrics.text() == c.doc.lyrics
    window.timeline.sectionClicked.emit(0)
    window.act_delete_section.trigger()
    wait_idle(qtbot, c)
    assert [item.label for item in window.timeline.section_items][0] == "Verse 1"
    window.timeline.sectionClicked.emit(0)
    window.act_regen_section.trigger()
    wait_idle(qtbot, c)
    assert c.history.undo_label == "Regenerate section" and len(window.takes.take_ids()) == 4


def test_errors_go_to_the_message_area(window, qtbot):
    c = window.c
    window.act_resample.setEnabled(True)
    c.resample_selection()  # nothing generated yet
    assert window.messages.level == "error" and "generate the song first" in window.messages.text.text()
    window.song.tags.setText("")
    window.lyrics.set_text("")
    window.act_generate.trigger()
    assert "tags or lyrics" in window.messages.text.text()
    assert c.open(Path("/nonexistent/song.hmsong")) is False
    assert window.blocking_errors and "Cannot open" in window.blocking_errors[-1]
    box = window._error_box
    assert box is not None and box.isVisible()
    box.close()


# --- drag and drop ----------------------------------------------------------------------------------


def drop(target: QtWidgets.QWidget, paths: list[Path]) -> tuple[bool, bool]:
    """Drag ``paths`` over ``target`` and drop them: (enter accepted, drop accepted)."""
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QtCore.QPointF(target.width() / 2, target.height() / 2)
    actions = QtCore.Qt.DropAction.CopyAction
    buttons, mods = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier
    enter = QtGui.QDragEnterEvent(pos, actions, mime, buttons, mods)
    QtWidgets.QApplication.sendEvent(target, enter)
    dropped = QtGui.QDropEvent(pos, actions, mime, buttons, mods)
    QtWidgets.QApplication.sendEvent(target, dropped)
    return enter.isAccepted(), dropped.isAccepted()


def test_drop_audio_lyrics_and_project(window, qtbot, tmp_path):
    import soundfile as sf

    c = window.c
    wav = tmp_path / "ref.wav"
    t = np.arange(int(5.2 * 44100)) / 44100
    sf.write(str(wav), np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2, axis=1).astype(np.float32), 44100)
    assert drop(window, [wav]) == (True, True)
    qtbot.waitUntil(lambda: c.reference is not None, timeout=WAIT_MS)
    assert c.reference.seconds == pytest.approx(5.2) and c.reference.name == "ref.wav"
    assert "ref.wav" in window.song.reference.text() and "0:05" in window.song.reference.text()
    shoot(window, shots_dir(tmp_path), "10_reference_dropped")

    txt = tmp_path / "words.txt"
    txt.write_text("[Verse]\nA new first line\nAnd a second one\n", encoding="utf-8")
    assert drop(window.lyrics.editor.viewport(), [txt]) == (True, True)  # on the editor: still a file drop
    assert window.lyrics.text() == txt.read_text() and c.draft_lyrics == txt.read_text()

    type_prompt(window, seconds=6)
    generate(window, qtbot)
    song = tmp_path / "dropped.hmsong"
    assert c.save(song)
    window.new_song()
    assert drop(window, [song]) == (True, True)
    assert c.path == song and c.doc.num_frames == 75

    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not a wav file at all")
    drop(window, [bad])
    assert window.messages.level == "error" and "broken.wav" in window.messages.text.text()
    other = tmp_path / "notes.pdf"
    other.write_bytes(b"%PDF")
    assert drop(window, [other]) == (False, False)


# --- files, recovery, settings ----------------------------------------------------------------------


def test_autosave_and_recovery_after_a_crash(qtbot, tmp_path):
    first = make_window(qtbot)
    type_prompt(first, seconds=6)
    generate(first, qtbot)
    auto = first.c.autosave_target()
    first.c.set_autosave_interval(0.05)  # the timer writes it (every N s while there are unsaved changes)
    qtbot.waitUntil(auto.exists, timeout=WAIT_MS)
    assert auto.parent.name == "recovery" and first.c.autosave() is None  # nothing new to write
    first.c.thread.shutdown()  # "crash": no save, no discard
    first._closing = True
    first.close()

    second = make_window(qtbot)
    box = dialogs.recovery_prompt(second, auto, "Untitled song")
    box.show()
    shoot(box, shots_dir(tmp_path), "15_recovery_prompt")
    assert {b.property("choice") for b in box.buttons()} == {dialogs.RECOVER, dialogs.DISCARD, dialogs.LATER}
    box.close()
    asked = []
    second.ask_recovery = lambda parent, path, name: asked.append(path) or dialogs.RECOVER
    second.check_recovery()
    wait_idle(qtbot, second.c)
    assert asked == [auto]
    assert second.c.doc.num_frames == 75 and second.c.dirty and second.c.path is None
    assert second.windowTitle().startswith("Untitled[*]") and second.isWindowModified()
    assert second.lyrics.text() == LYRICS and second.c.audio is not None
    assert second.c.save(tmp_path / "rescued.hmsong")
    assert not auto.exists()  # the autosave goes once the song is saved
    second.close()


def test_autosave_of_a_saved_song_is_offered_when_reopening(window, qtbot, tmp_path):
    c = window.c
    type_prompt(window, seconds=6)
    generate(window, qtbot)
    song = tmp_path / "kept.hmsong"
    assert c.save(song)
    window.timeline.set_selection(1.0, 2.0)
    c.pin_selection()
    auto = c.autosave()
    assert auto.name == ".kept.autosave.hmsong"
    window.new_song()  # discards the autosave: answer "discard"...
    assert not auto.exists()
    assert window.open_file(song)
    window.timeline.set_selection(1.0, 2.0)
    c.pin_selection()
    c.autosave()
    c._set_dirty(False)  # pretend the app died without asking
    window.new_song()
    window.ask_recovery = lambda *_: dialogs.RECOVER
    assert window.check_recovery()  # at start: a recent song has a newer autosave
    assert c.path == song and c.doc.pinned_ranges() == [(12, 25)] and c.dirty


def test_recent_files_menu(window, qtbot, tmp_path):
    c = window.c
    type_prompt(window, seconds=6)
    generate(window, qtbot)
    for name in ("a.hmsong", "b.hmsong"):
        assert c.save(tmp_path / name)
    window._fill_recent_menu()
    names = [a.text() for a in window.recent_menu.actions() if a.text()]
    assert names[:2] == ["b.hmsong", "a.hmsong"]


def test_settings_dialog_validates_the_checkpoint_folder(window, qtbot, tmp_path):
    dialog = dialogs.SettingsDialog(window.c.settings, window)
    qtbot.addWidget(dialog)
    dialog.folder_choice.setChecked(True)
    dialog.folder.setText(str(tmp_path / "missing"))
    dialog.accept()
    assert dialog.result() != QtWidgets.QDialog.DialogCode.Accepted
    assert dialog.error.isVisibleTo(dialog) and "does not exist" in dialog.error.text()
    dialog.show()
    shoot(dialog, shots_dir(tmp_path), "14_settings_bad_folder")
    dialog.builtin.setChecked(True)
    dialog.device.setCurrentText("cpu")
    dialog.autosave.setValue(30)
    dialog.accept()
    assert dialog.result() == QtWidgets.QDialog.DialogCode.Accepted
    new = dialog.result_settings()
    assert new.model.root is None and new.model.device == "cpu" and new.autosave_seconds == 30
    window.c.apply_settings(new)
    wait_idle(qtbot, window.c)
    assert window.c.model_info.spec.device == "cpu"
    assert window.c.store.load().autosave_seconds == 30


def test_model_load_failure_is_one_clear_blocking_error(qtbot, tmp_path):
    window = make_window(qtbot, load=False)
    c = window.c
    c.settings = c.settings.__class__(model=c.settings.model.__class__(root=str(tmp_path / "nope")))
    c.load_model()
    qtbot.waitUntil(lambda: not c.loading, timeout=WAIT_MS)
    assert c.model_info is None
    assert len(window.blocking_errors) == 1 and "could not be loaded" in window.blocking_errors[0]
    assert "nope" in window.blocking_errors[0] and window.messages.level == "error"
    assert window.model_label.text() == "Model: none"
    window._error_box.close()
    window.close()


def test_light_theme_screenshot(qtbot, tmp_path):
    window = make_window(qtbot)
    apply_theme(QtWidgets.QApplication.instance(), dark=False)
    type_prompt(window, seconds=20)
    generate(window, qtbot)
    window.timeline.set_selection(6.0, 9.0)
    shoot(window, shots_dir(tmp_path), "11_light_theme")
    apply_theme(QtWidgets.QApplication.instance(), dark=True)
    window.close()


def test_run_gui_screenshot_of_a_song(qtbot, tmp_path):
    from app.gui_main import run_gui

    window = make_window(qtbot)
    type_prompt(window, seconds=30)
    generate(window, qtbot)
    window.timeline.set_selection(8.0, 12.0)
    window.c.pin_selection()
    song = tmp_path / "shot.hmsong"
    assert window.c.save(song)
    window.close()
    out = shots_dir(tmp_path) / "12_run_gui_screenshot.png"
    assert run_gui([str(song), "--screenshot", str(out), "--timeout", "20"], engine=fake_engine) == 0
    image = QtGui.QImage(str(out))
    assert image.width() == 1440 and image.height() == 860


def test_every_control_has_a_tooltip(window):
    """Buttons, fields and actions all explain themselves."""
    missing = []
    for widget in window.findChildren(QtWidgets.QWidget):
        if not isinstance(widget, (QtWidgets.QAbstractButton, QtWidgets.QLineEdit, QtWidgets.QAbstractSpinBox,
                                   QtWidgets.QComboBox, QtWidgets.QPlainTextEdit, QtWidgets.QTreeWidget)):
            continue
        if isinstance(widget, QtWidgets.QToolButton) and widget.defaultAction() is not None:
            tip = widget.defaultAction().toolTip()
        else:
            tip = widget.toolTip()
        internal = isinstance(widget.parent(), QtWidgets.QAbstractSpinBox) \
            or widget.objectName() == "qt_toolbar_ext_button"
        if not tip and widget.isVisibleTo(window) and not internal:
            missing.append(f"{type(widget).__name__} {widget.objectName()} {getattr(widget, 'text', str)()}")
    assert not missing, missing
    assert all(a.toolTip() for a in window.actions())


def test_minimum_size_layout(window, qtbot, tmp_path):
    type_prompt(window, seconds=10)
    generate(window, qtbot)
    window.resize(window.minimumSize())
    qtbot.wait(50)
    assert window.width() == 980 and window.height() == 620
    assert window.timeline.height() >= 200 and window.lyrics.editor.width() >= 240
    shoot(window, shots_dir(tmp_path), "13_minimum_size")


def test_run_gui_screenshot_with_a_bad_model_folder_fails(qtbot, tmp_path):
    from app.gui_main import run_gui

    out = tmp_path / "bad_model.png"
    code = run_gui(["--model", str(tmp_path / "nope"), "--screenshot", str(out), "--timeout", "10"],
                   engine=fake_engine)
    assert code == 1 and out.exists()  # the picture shows the error; the exit code says it failed
