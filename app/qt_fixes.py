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
"""

from __future__ import annotations

import ctypes
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
