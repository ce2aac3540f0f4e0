"""App fixtures: a main window with private settings on a folder holding the real test photo
as a DNG (RAW path, embedded preview) and as a JPEG with camera EXIF."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QSettings

from app.theme import apply_theme
from app.window import MainWindow


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own thumbnail cache: never the user's, never another test's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


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
    # a test's photo deleted while open: no box at teardown. Set before the test, not after: a
    # failing test's window is closed by pytest-qt before this fixture resumes, and the modal box
    # then hung the whole run instead of reporting the failure (a test may set its own)
    w._ask_quit_unsaved = lambda docs: True
    w._ask_cancel_exports = lambda n: True  # an export a failing test left running: cancelled, not asked
    yield w
    w.close()
