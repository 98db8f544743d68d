"""Logging for the editor: one rotating log file under the data folder, and uncaught exceptions.

:func:`setup_logging` is idempotent: it adds its file handler to the root logger once (tests and
a re-opened window call it again). :func:`install_excepthooks` routes uncaught exceptions of the
main thread and of Python threads to the log and to one callback (the window's error area), so
that every error ends in ONE place (design §5; napari/friture do the same).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_NAME = "editor.log"
MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"

log = logging.getLogger(__name__)
_handler: RotatingFileHandler | None = None


def setup_logging(folder: Path, level: int = logging.INFO) -> Path:
    """Log to ``folder/logs/editor.log`` (rotating, 2 MB x 3); return the file's path."""
    global _handler
    path = Path(folder) / "logs" / LOG_NAME
    root = logging.getLogger()
    if _handler is not None and Path(_handler.baseFilename) == path.resolve():
        return path
    if _handler is not None:  # the data folder changed (tests): move the file handler
        root.removeHandler(_handler)
        _handler.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    _handler = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    _handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(_handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    log.info("logging to %s", path)
    return path


def log_file() -> Path | None:
    """The current log file, or None before :func:`setup_logging`."""
    return None if _handler is None else Path(_handler.baseFilename)


def install_excepthooks(report: Callable[[str], None]) -> Callable[[], None]:
    """Log uncaught exceptions (main thread and Python threads) and pass a one-line summary to
    ``report`` (which must be thread-safe, e.g. a Qt signal's ``emit``); ``KeyboardInterrupt``
    keeps its default behaviour. Returns a function that puts the previous hooks back."""
    previous = (sys.excepthook, threading.excepthook)

    def on_main(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.error("uncaught exception", exc_info=(exc_type, exc, tb))
        report(f"Unexpected error: {exc_type.__name__}: {exc} (details in the log file)")

    def on_thread(args):
        log.error("uncaught exception in thread %s", getattr(args.thread, "name", "?"),
                  exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
        report(f"Unexpected error in a background thread: {args.exc_type.__name__}: {args.exc_value}")

    sys.excepthook = on_main
    threading.excepthook = on_thread

    def restore() -> None:
        sys.excepthook, threading.excepthook = previous

    return restore
