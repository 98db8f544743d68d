"""Work around a reference-counting bug of PySide6 6.12.0 on CPython < 3.12.

Measured here (PySide6-Essentials 6.12.0, CPython 3.11.7):

* every ``Signal.emit(...)`` returns ``True`` without a new reference: each emit takes one
  reference away from ``True`` (``sys.getrefcount(True)`` drops by exactly one per emit);
* Python slots called from C++ signals (e.g. ``QTimer.timeout`` -> lambda) now and then take
  one away from ``None``.

``True`` starts with a few thousand references, so after a few thousand signals CPython frees it
and aborts ("Fatal Python error: bool_dealloc" / "none_dealloc"). CPython 3.12 made these
singletons immortal, which hides the bug. :func:`apply` gives them the same effective
immortality on older CPython by adding 2**40 to their reference counts, once per process. They
are never deallocated in a healthy process anyway, so this changes nothing else.

Imported for its side effect by every ``app``/``ui`` module that emits or receives signals.

Also here: :class:`MainThreadGarbageCollector`, which keeps Python's cyclic garbage collector on
the GUI thread (a collection on the engine thread can free Qt objects there and crash).
"""

from __future__ import annotations

import ctypes
import gc
import logging
import sys

log = logging.getLogger(__name__)

_EXTRA_REFS = 1 << 40
_applied = False


def apply() -> bool:
    """Make ``None``, ``True`` and ``False`` immortal in practice; True when it did something."""
    global _applied
    if _applied or sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _EXTRA_REFS  # ob_refcnt is the first field
    _applied = True
    log.debug("PySide6 refcount workaround applied (CPython %s)", sys.version.split()[0])
    return True


apply()


class MainThreadGarbageCollector:
    """Run Python's cyclic garbage collector only on the GUI thread.

    Automatic collection starts in whichever thread happens to allocate when a generation's
    count passes its threshold. When that is the engine thread and the garbage holds Qt objects
    (a closed window's widgets waiting in a reference cycle), Qt destroys them off the GUI thread
    and the process can crash: seen once in the test suite, a segfault inside a collection that
    started while the engine thread was loading a model. So automatic collection is switched off
    and a GUI-thread timer does the same work (the same thresholds, youngest generation first)
    every ``interval_ms``. Reference counting still frees everything not in a cycle at once.
    """

    def __init__(self, interval_ms: int = 500) -> None:
        from PySide6 import QtCore

        self.thresholds = gc.get_threshold()
        self.was_enabled = gc.isenabled()
        gc.disable()
        self.timer = QtCore.QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> int:
        """Collect the generations whose counts passed their thresholds; returns objects freed."""
        counts = gc.get_count()
        freed = 0
        for generation in range(3):
            if counts[generation] <= self.thresholds[generation]:
                break
            freed = gc.collect(generation)
        return freed

    def stop(self) -> None:
        """Stop the timer, collect once here, and give collection back to Python."""
        self.timer.stop()
        gc.collect()
        if self.was_enabled:
            gc.enable()
