"""An export's run on its worker thread, planning included (a review's findings): the button
states after a Cancel while planning, the recipes as they were when Export was pressed, a bug
on the thread that must end the run, and a second click while the sidecars are flushed."""
from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.recipe import Recipe, Step

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "shoot"
    d.mkdir()
    for i in range(2):
        shutil.copy(FIXTURES / "dune.jpg", d / f"dune{i}.jpg")
    return d


def hold_planning(monkeypatch, plan: Callable | None = None) -> tuple[threading.Event, threading.Event]:
    """Planning held until the first event is set (a slow network share); the second is set once
    it has begun. ``plan``: what planning then does (the real planning by default)."""
    import engine.batch

    gate, entered = threading.Event(), threading.Event()
    then = plan or engine.batch.plan_jobs

    def held(*a, **k):
        entered.set()
        gate.wait(10)
        return then(*a, **k)

    monkeypatch.setattr(engine.batch, "plan_jobs", held)
    return gate, entered


def export_dialog(qtbot, folder: Path, tmp_path: Path, recipe: Recipe | None = None, **kw):
    """The Export dialog for ``dune0.jpg`` (``recipe``: as the window shows it), into ``tmp_path/out``."""
    from PySide6.QtCore import QSettings

    from app.export_dialog import ExportDialog

    s = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    dlg = ExportDialog([(folder / "dune0.jpg", recipe)], s, **kw)
    qtbot.addWidget(dlg)
    dlg.out_dir.setText(str(tmp_path / "out"))
    return dlg


def test_a_plan_refused_after_a_cancel_gives_the_button_back(qtbot, tmp_path, monkeypatch):
    """Cancel disables its button until the summary; a plan refused then ("no photos in") left it
    off for good, through the next export too."""
    from app.batch_dialog import BatchDialog

    empty = tmp_path / "empty"
    empty.mkdir()
    gate, _ = hold_planning(monkeypatch)
    dlg = BatchDialog(None, empty)
    qtbot.addWidget(dlg)
    dlg.export_btn.click()
    assert dlg.running()
    dlg.cancel()
    gate.set()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=10_000)
    assert dlg.status.text().startswith("no photos in")
    assert dlg.cancel_btn.isEnabled(), "Cancel/Close button left disabled after a refused plan"


def test_the_export_dialog_refused_after_a_cancel_gives_the_button_back(qtbot, folder, tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise ValueError("boom refusal")

    gate, _ = hold_planning(monkeypatch, refuse)
    dlg = export_dialog(qtbot, folder, tmp_path)
    dlg.start()
    dlg.cancel()
    gate.set()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=10_000)
    assert "boom refusal" in dlg.message.text() and not (tmp_path / "out").exists()
    assert dlg.cancel_btn.isEnabled()


def test_each_photo_exports_its_recipe_as_it_was_when_export_was_pressed(qtbot, folder, tmp_path, monkeypatch):
    """The window's recipes change in place as it edits: read on the worker thread, an edit made
    after Export was pressed went into the export."""
    gate, entered = hold_planning(monkeypatch)
    live = Recipe([Step("exposure", {"ev": 0.5})])
    dlg = export_dialog(qtbot, folder, tmp_path, live, recipe_of=lambda p: live)
    dlg.start()
    assert entered.wait(5)
    live.steps[0].params["ev"] = 1.5  # the photographer drags a slider in the window meanwhile
    gate.set()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=60_000)
    got = dlg.plan[0].settings.recipe
    assert got["steps"][0]["params"]["ev"] == 0.5, "the export used an edit made after Export was pressed"


def test_a_runtime_error_on_the_export_thread_ends_the_run_and_says_it(qtbot, folder, tmp_path, monkeypatch):
    """superqt takes a RuntimeError for its worker deleted and says nothing: the dialog ran for
    ever, its folder claimed, and the window could not quit."""
    import engine.batch
    from app.export_dialog import _WRITING

    def bad(*a, **k):
        raise RuntimeError("dictionary changed size during iteration")

    monkeypatch.setattr(engine.batch, "plan_jobs", bad)
    dlg = export_dialog(qtbot, folder, tmp_path)
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=10_000)
    assert "dictionary changed size during iteration" in dlg.message.text()
    assert not _WRITING and dlg.export_btn.isEnabled()


def test_a_second_click_while_sidecars_are_flushed_starts_nothing(qtbot, folder, tmp_path):
    """Flushing the sidecars runs the event loop: a second click queued meanwhile started a second
    export, which the first then reported as "another export is writing into"."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    calls = []
    dlg = export_dialog(qtbot, folder, tmp_path,
                        before_start=lambda: (calls.append(1), QApplication.processEvents()))
    QTimer.singleShot(0, dlg.export_btn.click)
    QTimer.singleShot(0, dlg.export_btn.click)
    qtbot.wait(50)
    qtbot.waitUntil(lambda: not dlg.running(), timeout=60_000)
    assert len(calls) == 1 and dlg.message.text().startswith("1 exported")


def test_a_photo_not_open_exports_its_sidecar_as_it_was_when_export_was_pressed(qtbot, folder, tmp_path,
                                                                                   monkeypatch):
    """Its sidecar was read by the worker at the photo's turn: opened and edited meanwhile, it
    exported with the later edit (a QA's: mean level 158 became 218)."""
    from engine.recipe import sidecar_path

    Recipe([Step("exposure", {"ev": 0.5})]).save(sidecar_path(folder / "dune0.jpg"))
    gate, entered = hold_planning(monkeypatch)
    dlg = export_dialog(qtbot, folder, tmp_path)
    dlg.start()
    assert entered.wait(10)  # planning: the sidecars are read, first thing
    Recipe([Step("exposure", {"ev": 2.5})]).save(sidecar_path(folder / "dune0.jpg"))  # edited meanwhile
    gate.set()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=60_000)
    assert dlg.plan[0].settings.recipe["steps"][0]["params"] == {"ev": 0.5}


def test_a_second_run_can_be_cancelled_and_says_what_a_cancel_while_planning_does(qtbot, folder, tmp_path,
                                                                                    monkeypatch):
    """After a run its button reads Close; pressed again, the next run kept that label (a click
    cancelled it). A Cancel while planning said photos in progress would finish, and the summary
    named a folder it had not made."""
    dlg = export_dialog(qtbot, folder, tmp_path)
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=60_000)
    assert dlg.cancel_btn.text() == "Close"
    gate, _ = hold_planning(monkeypatch)
    dlg.out_dir.setText(str(tmp_path / "out2"))
    dlg.export_btn.click()
    assert dlg.running() and dlg.cancel_btn.text() == "Cancel" and dlg.cancel_btn.isEnabled()
    dlg.cancel_btn.click()
    assert dlg.message.text() == "Cancelling…"
    gate.set()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=60_000)
    assert dlg.message.text().startswith("Cancelled, 0 exported") and "→" not in dlg.message.text()
    assert not (tmp_path / "out2").exists()
