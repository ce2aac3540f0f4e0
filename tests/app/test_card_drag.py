"""Reordering step cards with a real drag: a mouse press on the grip starts QDrag.exec(), and
QTest mouse moves and a release (as the window system would send them) carry it to the drop.

Qt's offscreen platform has no drag and drop (its QDrag.exec returns at once), so the drag test
runs under Xvfb with the xcb platform, in a child pytest started by the launcher test below.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QDrag, QGuiApplication
from PySide6.QtTest import QTest
from qt_helpers import TIMEOUT, open_and_wait

from app.steps import _Handle

ROOT = Path(__file__).resolve().parents[2]


def test_card_drag_runs_under_xvfb(qapp) -> None:
    if QGuiApplication.platformName() == "xcb":
        pytest.skip("already on a window system: the drag test runs directly")
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        pytest.skip("xvfb-run is not installed (apt-get install xvfb): no window system for a real drag")
    from engine.lut import warm_up

    # the kernels compiled into numba's on-disk cache here: in a fresh clone the child compiled them
    # itself (34 s alone, over a minute beside the other test worker), within its 60 s to show a photo
    warm_up()
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    test = f"{Path(__file__).relative_to(ROOT)}::test_dragging_a_card_by_its_grip_reorders_the_steps"
    run = subprocess.run([xvfb, "-a", sys.executable, "-m", "pytest", test, "-x", "-q", "-p", "no:cacheprovider",
                          "-p", "no:randomly"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout[-6000:] + run.stderr[-3000:]


def test_dragging_a_card_by_its_grip_reorders_the_steps(qtbot, win, folder, monkeypatch):
    if QGuiApplication.platformName() != "xcb":
        pytest.skip("needs a window system for drag and drop; test_card_drag_runs_under_xvfb runs it under Xvfb")
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    for op in ("exposure", "saturation", "contrast"):
        win.panel.add_step(op)
    steps = win.panel.steps
    area = steps.inner
    qtbot.waitUntil(lambda: steps.cards[-1].isVisible() and steps.cards[-1].geometry().height() > 0,
                    timeout=TIMEOUT)
    win.panel.steps.ensureVisible(0, 0)
    n = win.doc.undo.count()
    started: list[int] = []
    real_exec = QDrag.exec

    def tracked_exec(drag, *args):
        started.append(1)
        return real_exec(drag, *args)

    monkeypatch.setattr(QDrag, "exec", tracked_exec)  # only to prove the real drag loop ran
    last = steps.cards[-1].geometry()
    below_last = QPoint(area.width() // 2, last.bottom() + 2)  # drop below the last card
    path = [QPoint(area.width() // 2, last.top() + k * (below_last.y() - last.top()) // 4) for k in range(1, 5)]

    def drive(i: int = 0) -> None:
        # the drag runs its own event loop: moves and the release arrive from timers
        if i < len(path):
            QTest.mouseMove(area, path[i])
            QTimer.singleShot(15, lambda: drive(i + 1))
        else:
            QTest.mouseRelease(area, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, below_last)

    grip = steps.cards[0].findChild(_Handle)
    QTimer.singleShot(30, drive)
    QTest.mousePress(grip, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, grip.rect().center())
    assert started  # the press started QDrag.exec, which returned after the release
    qtbot.waitUntil(lambda: [s.op for s in win.doc.recipe] == ["saturation", "contrast", "exposure"], timeout=TIMEOUT)
    assert win.doc.undo.count() == n + 1  # one undoable move
    assert [c.doc.recipe.steps[c.index].op for c in steps.cards] == ["saturation", "contrast", "exposure"]
    win.undo_group.undo()
    assert [s.op for s in win.doc.recipe] == ["exposure", "saturation", "contrast"]
