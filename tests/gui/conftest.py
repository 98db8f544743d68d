"""GUI tests run headless: the offscreen Qt platform is chosen before anything creates a QApplication.

Without Qt (a headless CI job) the widget tests are skipped; the playback tests need no Qt.
"""

from __future__ import annotations

import importlib.util
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

collect_ignore = [] if all(importlib.util.find_spec(m) for m in ("PySide6", "pyqtgraph", "pytestqt")) \
    else ["test_timeline.py"]
