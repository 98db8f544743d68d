"""Start the editor window: ``run_gui(argv) -> exit code`` (``main.py`` calls it).

Usage: ``[SONG.hmsong] [--model DIR] [--device D] [--screenshot OUT.png] [--demo-song]``

``--screenshot``: open the window (works with ``QT_QPA_PLATFORM=offscreen``), wait until the model
is loaded, the given song is open and its audio decoded and the window is drawn, save
``window.grab()`` to OUT.png and exit 0; exit 1 (the picture is still saved) when the model or the
song failed, or it could not get there within ``--timeout`` s.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import ModuleType

from PySide6 import QtCore, QtWidgets

from . import qt_fixes  # noqa: F401  (PySide6 6.12 refcount workaround, applied on import)
from . import settings as settings_mod
from .logging_setup import install_excepthooks, setup_logging

log = logging.getLogger(__name__)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="heartmula-editor", description="HeartMuLa Editor: edit AI-generated songs.")
    parser.add_argument("song", nargs="?", help="a song file (.hmsong) to open")
    parser.add_argument("--model", metavar="DIR", help="checkpoint folder (default: the one in Settings, "
                        "else the built-in demo model); 'demo' forces the built-in model")
    parser.add_argument("--device", choices=settings_mod.DEVICES, help="device for this session")
    parser.add_argument("--screenshot", metavar="OUT.png", help="save a picture of the window and exit")
    parser.add_argument("--size", default="1440x860", help="window size WxH for --screenshot (default 1440x860)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds --screenshot waits (default 120)")
    parser.add_argument("--demo-song", action="store_true",
                        help="start by generating the example song (resources/example_lyrics.txt)")
    return parser.parse_args(list(argv))


def _application() -> QtWidgets.QApplication:
    app = QtWidgets.QApplication.instance()
    if app is None:
        QtCore.QCoreApplication.setOrganizationName(settings_mod.ORGANIZATION)
        QtCore.QCoreApplication.setApplicationName(settings_mod.APP_NAME)
        app = QtWidgets.QApplication(sys.argv[:1])
    return app


def run_gui(argv: Sequence[str] | None = None, *, engine: ModuleType | None = None,
            editor_factory: Callable | None = None) -> int:
    """Open the editor and run the event loop; returns the exit code.

    ``engine`` / ``editor_factory`` replace ``heartmula_core.editing`` (tests use a fake).
    """
    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = _application()
    setup_logging(settings_mod.data_dir())
    collector = qt_fixes.MainThreadGarbageCollector()  # no collection on the engine thread

    from ui.main_window import MainWindow  # after the QApplication exists
    from ui.theme import apply_theme

    from .controller import SongController

    apply_theme(app)
    if engine is None:
        try:
            from .worker import engine_module

            engine = engine_module()
        except ImportError as exc:
            log.error("the editing engine is missing: %s", exc)
            sys.stderr.write(f"heartmula-editor: the editing engine is not installed ({exc})\n")
            return 2
    controller = SongController(engine, editor_factory=editor_factory)
    settings = controller.settings
    if args.model or args.device:
        model = settings.model
        if args.model:
            model = replace(model, root=None if args.model == "demo" else str(Path(args.model).expanduser()))
        if args.device:
            model = replace(model, device=args.device)
        controller.settings = replace(settings, model=model)  # this session only
    window = MainWindow(controller)
    restore_hooks = install_excepthooks(lambda text: controller.message.emit("error", text))
    try:
        if args.screenshot:
            return _screenshot(app, window, controller, args)
        window.resize(1440, 880)
        window.restore_layout()
        window.show()
        controller.load_model()
        if args.song:
            QtCore.QTimer.singleShot(0, lambda: window.open_file(args.song, ask=False))
        elif args.demo_song:
            QtCore.QTimer.singleShot(0, lambda: start_demo_song(window))
        else:
            QtCore.QTimer.singleShot(0, window.check_recovery)
        return app.exec()
    finally:
        restore_hooks()
        collector.stop()


EXAMPLE_TAGS = "pop, happy, piano"


def start_demo_song(window, seconds: float = 60.0) -> None:
    """Type the example tags and lyrics into the window and press Generate."""
    lyrics = (Path(__file__).resolve().parents[1] / "resources" / "example_lyrics.txt").read_text(encoding="utf-8")
    window.song.tags.setText(EXAMPLE_TAGS)
    window.song.length.setValue(int(seconds))
    window.lyrics.set_text(lyrics)
    window.act_generate.trigger()


def _screenshot(app, window, controller, args) -> int:
    """Show, load, open, wait until idle and drawn, grab, save."""
    width, height = (int(v) for v in args.size.lower().split("x"))
    window.ask_recovery = lambda *_: "later"  # never block on a question
    window.ask_save_changes = lambda *_: "discard"
    window.resize(width, height)
    window.show()
    controller.load_model()
    if args.song and not window.open_file(args.song, ask=False):
        log.error("cannot open %s for the screenshot", args.song)
    deadline = time.monotonic() + args.timeout
    if args.demo_song and not args.song:
        while time.monotonic() < deadline and controller.model_info is None and not window.blocking_errors:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.01)
        start_demo_song(window, seconds=30.0)

    def ready() -> bool:
        doc = controller.doc
        song_ready = not args.song or (doc is not None and (doc.num_frames == 0 or controller.audio is not None))
        if args.demo_song and not args.song:
            song_ready = doc is not None and doc.num_frames > 0 and controller.audio is not None
        return (controller.model_info is not None or window.blocking_errors) and not controller.busy \
            and not controller.rendering and song_ready

    while time.monotonic() < deadline and not ready():
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)
    ok = ready() and controller.model_info is not None and not window.blocking_errors
    for _ in range(5):  # let throttled redraws (timeline) and layouts settle
        app.processEvents()
        time.sleep(0.04)
    window.timeline.redraw()
    app.processEvents()
    out = Path(args.screenshot)
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = window.grab().save(str(out))
    log.info("screenshot %s (ready=%s, saved=%s)", out, ok, saved)
    window.ask_save_changes = lambda *_: "discard"
    window.close()
    return 0 if ok and saved else 1
