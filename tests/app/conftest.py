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


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels() -> None:
    """The render kernels compiled (a fresh clone) or loaded once per worker, before any window.

    Otherwise the first windows' render threads compile them (34 s alone, over a minute beside the
    other worker) past their window's close, whose wait for the thread gives up after 5 s: twice in
    fresh-clone runs a worker then died in the main thread's garbage collector while such a thread
    compiled (fortieth and forty-second sessions), a crash no run with the kernels cached showed."""
    from engine.lut import warm_up

    warm_up()


@pytest.fixture(autouse=True)
def stop_renderers(qapp) -> Iterator[None]:
    """Every window a test made, closed or not, has its render thread stopped at the test's end:
    none is left running into the next test."""
    yield
    for w in qapp.topLevelWidgets():
        if isinstance(w, MainWindow):
            w.renderer.shutdown()


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
    w._ask_auto_replaces = lambda names, total: "all"  # Auto on Selected Photos over hand edits: as before
    yield w
    w.close()
