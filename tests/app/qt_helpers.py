"""Helpers shared by the app tests (a module of its own: several conftest.py files exist, so
``from conftest import`` would pick whichever pytest imported first)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

from app.window import MainWindow

TIMEOUT = 60_000  # ms; the machine is shared with a training job


def qimage_array(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=img.sizeInBytes()).reshape(h, bpl)
    return buf[:, : w * 3].reshape(h, w, 3).copy()


def shown(win: MainWindow) -> np.ndarray:
    assert win.viewer.after is not None
    return qimage_array(win.viewer.after.toImage())


def settle(qtbot, win: MainWindow) -> None:
    """Wait until the newest preview request is the one on screen."""
    qtbot.waitUntil(lambda: win._latest.get("preview", -2) == win.shown_preview, timeout=TIMEOUT)


def open_and_wait(qtbot, win: MainWindow, path: Path) -> None:
    """Open ``path`` and wait until it is shown, the filmstrip's thumbnails are in (their arrival
    can resize the viewer, and so the preview, after the first render under load) and the newest
    preview is on screen."""
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.open_path(path)
    qtbot.waitUntil(lambda: len(win.filmstrip.thumbs_done) >= win.filmstrip.count(), timeout=TIMEOUT)
    settle(qtbot, win)


def auto_and_wait(qtbot, win: MainWindow) -> None:
    doc = win.doc
    n = doc.undo.count()
    win.auto()
    qtbot.waitUntil(lambda: doc.undo.count() == n + 1, timeout=TIMEOUT)
    settle(qtbot, win)


def icon_image(icon) -> np.ndarray:
    """A filmstrip thumbnail's photo (RGB): the icon at its box's size, its transparent margins cut."""
    from PySide6.QtCore import QSize

    img = icon.pixmap(QSize(128, 96)).toImage().convertToFormat(QImage.Format.Format_RGBA8888)
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    rgba = np.frombuffer(img.constBits(), np.uint8, count=img.sizeInBytes()).reshape(h, bpl)[:, : w * 4]
    rgba = rgba.reshape(h, w, 4)
    rows, cols = np.nonzero(rgba[..., 3].max(1))[0], np.nonzero(rgba[..., 3].max(0))[0]
    return rgba[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1, :3].copy()
