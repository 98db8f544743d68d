"""GUI tests run headless: the offscreen Qt platform is chosen before anything creates a QApplication.

Without Qt (a headless CI job) the widget tests are skipped; the playback tests need no Qt.
"""

from __future__ import annotations

import importlib.util
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

collect_ignore = [] if all(importlib.util.find_spec(m) for m in ("PySide6", "pyqtgraph", "pytestqt")) \
    else ["test_timeline.py"]


if not collect_ignore:
    import pytest

    @pytest.fixture(autouse=True, scope="session")
    def _collect_garbage_on_the_gui_thread(qapp):
        """As the app does (``app.qt_fixes.MainThreadGarbageCollector``): no cyclic collection on the
        engine thread, where freeing a previous test's widgets crashed the suite once."""
        from app.qt_fixes import MainThreadGarbageCollector

        collector = MainThreadGarbageCollector()
        yield
        collector.stop()

    @pytest.fixture(autouse=True)
    def _collect_after_each_test():
        """Free each test's windows here, on the GUI thread, before the next test starts threads."""
        yield
        import gc

        gc.collect()
