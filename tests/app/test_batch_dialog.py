"""The batch dialog drives engine.batch off the GUI thread: progress, summary, failed list, cancel."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.recipe import Recipe, Step

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "shoot"
    d.mkdir()
    for i in range(3):
        shutil.copy(FIXTURES / "dune.jpg", d / f"dune{i}.jpg")
    (d / "broken.NEF").write_text("not a raw file\n" * 30)
    Recipe([Step("exposure", {"ev": 0.5})]).save(tmp_path / "look.json")
    return d


def make_dialog(qtbot, folder: Path):
    from app.batch_dialog import BatchDialog

    dlg = BatchDialog(None, folder)
    qtbot.addWidget(dlg)
    dlg.src_recipe.setChecked(True)
    dlg.recipe_path.setText(str(folder.parent / "look.json"))
    dlg.jobs_spin.setValue(2)
    return dlg


def test_dialog_exports_and_lists_failures(qtbot, folder):
    dlg = make_dialog(qtbot, folder)
    assert dlg.out_dir.text() == str(folder / "export")
    dlg.export_btn.click()
    assert dlg.running() and not dlg.export_btn.isEnabled()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=60_000)
    assert sorted(p.name for p in (folder / "export").iterdir()) == ["dune0.jpg", "dune1.jpg", "dune2.jpg"]
    assert dlg.progress.value() == dlg.progress.maximum() == 4
    assert dlg.status.text().startswith("Finished: 3 exported, 0 skipped (already there), 1 failed")
    assert dlg.failed_table.rowCount() == 1 and dlg.failed_table.item(0, 0).text() == "broken.NEF"
    assert dlg.failed_table.item(0, 1).text()  # with its reason
    assert dlg.cancel_btn.text() == "Close"


def test_dialog_refuses_hostile_template_without_running(qtbot, folder):
    dlg = make_dialog(qtbot, folder)
    dlg.template.setText("../{stem}")
    dlg.export_btn.click()
    assert not dlg.running() and "escape" in dlg.status.text()
    assert not (folder / "export").exists()


def test_dialog_cancel_stops_cleanly(qtbot, folder):
    for i in range(3, 10):
        shutil.copy(FIXTURES / "dune.jpg", folder / f"dune{i}.jpg")
    dlg = make_dialog(qtbot, folder)
    dlg.jobs_spin.setValue(1)
    dlg.export_btn.click()
    qtbot.waitUntil(lambda: len(dlg.results) >= 1, timeout=60_000)
    dlg.cancel_btn.click()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=60_000)
    assert dlg.status.text().startswith("Cancelled:") and "not started" in dlg.status.text()
    outs = sorted(p.name for p in (folder / "export").iterdir())
    assert 1 <= len(outs) < 10 and not any(n.startswith(".") for n in outs)  # complete files only
