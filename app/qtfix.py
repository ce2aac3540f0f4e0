"""Guard against a PySide6 6.12.0 bug on Python < 3.12: every call of a C++ method returning
``void`` *decrements* ``None``'s reference count (measured: 1000 ``QWidget.update()`` calls ->
-1000). ``None`` starts near 5000, so a few seconds of painting ends in "Fatal Python error:
none_dealloc". PySide6 6.11.3 is correct; pyproject excludes 6.12.0. Should it be installed
anyway, we do what Python 3.12 does (PEP 683): make ``None`` immortal by giving it a reference
count nothing can exhaust.
"""

from __future__ import annotations

import ctypes
import sys

IMMORTAL = 1 << 40


def leaks_none() -> bool:
    from PySide6.QtCore import QPointF

    p = QPointF()
    before = sys.getrefcount(None)
    for _ in range(64):
        p.setX(1.0)  # a void method
    return sys.getrefcount(None) < before - 32


def ensure_none_survives() -> bool:
    """Apply the guard when this PySide6 leaks; returns True if it had to."""
    if sys.version_info >= (3, 12) or not leaks_none():
        return False
    ctypes.c_ssize_t.from_address(id(None)).value = IMMORTAL
    return True
