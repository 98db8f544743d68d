"""Settings store, data folder, log file, exception hooks, theme, lyrics diffing, the PySide6 fix."""

from __future__ import annotations

import logging
import sys
import threading

import pytest

pytest.importorskip("pytestqt")

from PySide6 import QtCore, QtWidgets  # noqa: E402

from app import logging_setup, qt_fixes, settings  # noqa: E402
from app.drops import read_lyrics_file, read_reference  # noqa: E402
from heartmula_core.errors import HeartMuLaError  # noqa: E402
from ui import theme  # noqa: E402
from ui.panels import merge_lyrics, pending_line_edits  # noqa: E402


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.DATA_ENV, str(tmp_path / "data"))
    return tmp_path / "data"


def test_data_dir_and_settings_round_trip(data_dir, tmp_path):
    assert settings.data_dir() == data_dir and settings.recovery_dir() == data_dir / "recovery"
    store = settings.SettingsStore()
    assert store.path == data_dir / "settings.ini"
    assert store.load() == settings.EditorSettings()  # defaults: demo model, auto device
    new = settings.EditorSettings(settings.ModelSpec(str(tmp_path), "cpu", "bfloat16", "low"), 15, False, 3)
    store.save(new)
    assert settings.SettingsStore().load() == new
    for name in ("a.hmsong", "b.hmsong", "a.hmsong"):
        store.add_recent(tmp_path / name)
    assert [p.rsplit("/", 1)[-1] for p in store.recent_files()] == ["a.hmsong", "b.hmsong"]
    store.save_layout({"geometry": QtCore.QByteArray(b"\x01\x02")})
    assert settings.SettingsStore().layout()["geometry"] == QtCore.QByteArray(b"\x01\x02")


def test_model_spec_validation(tmp_path):
    settings.ModelSpec().validate()  # the built-in model needs no folder
    with pytest.raises(HeartMuLaError, match="missing"):
        settings.ModelSpec(root=str(tmp_path)).validate()
    with pytest.raises(ValueError, match="device"):
        settings.ModelSpec(device="tpu").validate()
    assert settings.ModelSpec().label == "Built-in demo model"


def test_log_file_and_exception_hooks(data_dir):
    path = logging_setup.setup_logging(data_dir)
    assert logging_setup.setup_logging(data_dir) == path and path.exists()
    assert logging_setup.log_file() == path.resolve()
    reports = []
    restore = logging_setup.install_excepthooks(reports.append)
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            sys.excepthook(*sys.exc_info())
        thread = threading.Thread(target=lambda: 1 / 0, name="worker-x")
        thread.start()
        thread.join()
    finally:
        restore()
    assert sys.excepthook is not None and "boom" in reports[0] and "ZeroDivisionError" in reports[1]
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text(encoding="utf-8")
    assert "uncaught exception" in text and "ValueError: boom" in text and "worker-x" in text


def test_theme_follows_the_system_and_defaults_to_dark(qapp):
    dark = theme.apply_theme(qapp)
    scheme = qapp.styleHints().colorScheme()
    assert dark is (scheme != QtCore.Qt.ColorScheme.Light)
    assert qapp.property("darkTheme") is dark and qapp.styleSheet()
    assert theme.apply_theme(qapp, dark=False) is False
    assert qapp.palette().window().color().lightness() > 200
    theme.apply_theme(qapp, dark=True)
    assert qapp.palette().window().color().lightness() < 60


def test_dropped_file_readers(tmp_path):
    import numpy as np
    import soundfile as sf

    wav = tmp_path / "ref.flac"
    sf.write(str(wav), np.zeros((48_000, 1), np.float32), 48_000)
    ref = read_reference(wav)
    assert (ref.seconds, ref.channels, ref.summary) == (1.0, 1, "ref.flac (1.0 s)")
    with pytest.raises(HeartMuLaError, match="unsupported audio type"):
        read_reference(tmp_path / "x.aiff")
    bad = tmp_path / "bad.ogg"
    bad.write_bytes(b"OggS but not really")
    with pytest.raises(HeartMuLaError, match="cannot read"):
        read_reference(bad)
    txt = tmp_path / "l.txt"
    txt.write_bytes("\ufeff[Verse]\nla".encode())
    assert read_lyrics_file(txt) == "[Verse]\nla"
    txt.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(HeartMuLaError, match="UTF-8"):
        read_lyrics_file(txt)


def test_lyrics_diff_and_merge():
    song = "[Verse]\none\ntwo\n\n[Chorus]\nthree\n"
    typed = "[Verse]\none!\ntwo\n\n[Chorus]\nTHREE\n"
    edits = pending_line_edits(song, typed)
    assert [(e.index, e.old, e.new) for e in edits] == [(0, "one", "one!"), (2, "three", "THREE")]
    assert pending_line_edits(song, song + "four\n") is None  # a line added: no single-line fixes
    fixed = song.replace("three", "THREE")  # the engine fixed line 2
    assert merge_lyrics(song, fixed, typed) == "[Verse]\none!\ntwo\n\n[Chorus]\nTHREE\n"


def test_many_signals_do_not_crash_the_interpreter():
    """PySide6 6.12.0 + CPython 3.11 lose a reference to True per emit; without app.qt_fixes this
    loop aborts the process ("bool_dealloc") after a few thousand emits."""

    class Emitter(QtCore.QObject):
        ping = QtCore.Signal(object)

    emitter, seen = Emitter(), []
    emitter.ping.connect(seen.append)
    for _ in range(20_000):
        emitter.ping.emit(None)
    assert len(seen) == 20_000 and QtWidgets.QApplication.instance() is not None
    assert qt_fixes._applied or sys.version_info >= (3, 12)


def test_garbage_in_cycles_is_collected_by_the_gui_thread_timer(qtbot):
    """The app turns automatic collection off (it could start on the engine thread and free Qt
    objects there) and collects from a GUI-thread timer instead."""
    import gc
    import weakref

    collector = qt_fixes.MainThreadGarbageCollector(interval_ms=10)
    assert not gc.isenabled()

    class Node:
        pass

    node = Node()
    node.me = node  # a cycle: reference counting alone never frees it
    gone = weakref.ref(node)
    del node
    collector.thresholds = (0, 0, 0)  # as if every generation were due
    qtbot.waitUntil(lambda: gone() is None, timeout=2000)
    collector.stop()
