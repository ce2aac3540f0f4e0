"""App fixtures: a main window with private settings on a folder holding the real test photo
as a DNG (RAW path, embedded preview) and as a JPEG with camera EXIF."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage

from app.theme import apply_theme
from app.window import MainWindow

TIMEOUT = 60_000  # ms; the machine is shared with a training job


@pytest.fixture
def folder(tmp_path: Path, dng_file: Path, photo_jpeg: Path) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    shutil.copy2(dng_file, d / "a_dune.dng")
    shutil.copy2(photo_jpeg, d / "b_dune.jpg")
    return d


@pytest.fixture
def win(qtbot, qapp, tmp_path: Path) -> Iterator[MainWindow]:
    apply_theme(qapp)
    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.resize(1280, 820)
    w.show()
    yield w
    w.close()


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
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.open_path(path)
    settle(qtbot, win)


def auto_and_wait(qtbot, win: MainWindow) -> None:
    doc = win.doc
    n = doc.undo.count()
    win.auto()
    qtbot.waitUntil(lambda: doc.undo.count() == n + 1, timeout=TIMEOUT)
    settle(qtbot, win)
