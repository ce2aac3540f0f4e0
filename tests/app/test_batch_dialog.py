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
    from PySide6.QtWidgets import QPushButton

    browse = [dlg._in_row.findChild(QPushButton), dlg._out_row.findChild(QPushButton), dlg._pick]
    dlg.export_btn.click()
    assert dlg.running() and not dlg.export_btn.isEnabled()
    assert not any(b.isEnabled() for b in browse)  # a folder browsed during the run changed only the fields
    qtbot.waitUntil(lambda: not dlg.running(), timeout=60_000)
    assert all(b.isEnabled() for b in browse)
    assert sorted(p.name for p in (folder / "export").iterdir()) == ["dune0.jpg", "dune1.jpg", "dune2.jpg"]
    assert dlg.progress.value() == dlg.progress.maximum() == 4
    assert dlg.status.text().startswith("Finished: 3 exported, 0 skipped (exported before, unchanged since), 1 failed")
    assert dlg.failed_table.rowCount() == 1 and dlg.failed_table.item(0, 0).text() == "broken.NEF"
    reason = dlg.failed_table.item(0, 1).text()  # with its reason, the name said once (it led the reason too)
    assert reason and not reason.startswith("broken.NEF") and dlg.failed_table.isVisibleTo(dlg)
    assert dlg.cancel_btn.text() == "Close"
    # the choices stay open after a batch: it stayed greyed out, so ticking Replace meant closing it first
    assert dlg.export_btn.isEnabled() and dlg.overwrite.isEnabled() and not dlg.long_edge.isEnabled()
    dlg.overwrite.setChecked(True)
    dlg.export_btn.click()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=60_000)
    assert dlg.status.text().startswith("Finished: 3 exported, 0 skipped")
    # a refused start says why in the fields' words, not under the last run's bar and table
    dlg.template.setText("../{stem}")
    dlg.export_btn.click()
    assert dlg.status.text().endswith("would escape the export folder") and "OUT_DIR" not in dlg.status.text()
    assert not dlg.failed_table.isVisibleTo(dlg) and dlg.progress.value() == 0


def test_dialog_remembers_the_last_batchs_choices(qtbot, folder, tmp_path):
    """Format, size, name, source and the output folder came back as JPEG 92 / {stem} / IN/export
    every time, unlike the Export dialog's. A folder inside the photos' follows the next shoot."""
    from PySide6.QtCore import QSettings

    from app.batch_dialog import BatchDialog

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    dlg = BatchDialog(None, folder, settings=settings)
    qtbot.addWidget(dlg)
    dlg.fmt.setCurrentIndex(dlg.fmt.findData("tiff16"))
    dlg.fit_box.setChecked(True)
    dlg.long_edge.setValue(1600)
    dlg.sharpen.setCurrentIndex(dlg.sharpen.findData("high"))
    assert dlg.ppi.value() == 300
    dlg.ppi.setValue(360)
    dlg.template.setText("{date}/{stem}")
    dlg.src_auto.setChecked(True)
    dlg.out_dir.setText(str(folder / "web"))
    assert {(j.settings.sharpen, j.settings.ppi) for j in dlg.plan()} == {("high", 360)}
    dlg._remember()
    other = tmp_path / "next-shoot"
    other.mkdir()
    again = BatchDialog(None, other, settings=settings)
    qtbot.addWidget(again)
    assert again.fmt.currentData() == "tiff16" and again.fit_box.isChecked() and again.long_edge.value() == 1600
    assert again.long_edge.isEnabled() and not again.quality.isEnabled() and again.sharpen.currentData() == "high"
    assert again.ppi.value() == 360
    assert again.template.text() == "{date}/{stem}" and again.src_auto.isChecked()
    assert again.out_dir.text() == str(other / "web")


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
    # a photo exported, not only a result: the first one in (broken.NEF, sorted first) is a failure,
    # and a cancel right after it could come before any photo was written (0 outputs: it failed so)
    qtbot.waitUntil(lambda: any(r.status == "done" for r in dlg.results), timeout=60_000)
    dlg.cancel_btn.click()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=60_000)
    assert dlg.status.text().startswith("Cancelled:") and "not exported" in dlg.status.text()
    outs = sorted(p.name for p in (folder / "export").iterdir())
    assert 1 <= len(outs) < 10 and not any(n.startswith(".") for n in outs)  # complete files only


def test_a_rerun_after_the_recipe_file_changed_redoes_every_photo(qtbot, folder):
    """The CLI's --recipe file changed since the exports redoes them; the dialog's recipe file did
    not reach that check, and a re-run kept the old look without a word."""
    import os
    import time

    dlg = make_dialog(qtbot, folder)
    dlg.export_btn.click()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=60_000)
    assert dlg.status.text().startswith("Finished: 3 exported")
    dlg.export_btn.click()  # nothing changed: skipped
    qtbot.waitUntil(lambda: not dlg.running(), timeout=60_000)
    assert dlg.status.text().startswith("Finished: 0 exported, 3 skipped")
    look = folder.parent / "look.json"
    Recipe([Step("exposure", {"ev": -0.5})]).save(look)
    later = time.time() + 5  # after the exports, whatever the file system's time resolution
    os.utime(look, (later, later))
    dlg.export_btn.click()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=60_000)
    assert dlg.status.text().startswith("Finished: 3 exported, 0 skipped")


def test_a_folder_gone_since_it_was_chosen_is_said_to_be_gone(qtbot, folder, tmp_path):
    import pytest

    from app.batch_dialog import BatchDialog

    dlg = BatchDialog(None, folder)
    qtbot.addWidget(dlg)
    dlg.out_dir.setText(str(tmp_path / "out"))
    folder.rename(tmp_path / "unplugged")
    with pytest.raises(ValueError, match="is no longer there"):
        dlg.plan()


def test_a_sub_folder_that_cannot_be_read_is_said_with_the_summary(qtbot, folder, refuse_listing):
    (folder / "locked").mkdir()
    refuse_listing(folder / "locked")
    dlg = make_dialog(qtbot, folder)
    dlg.recursive.setChecked(True)
    dlg.export_btn.click()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=60_000)
    assert sorted(p.name for p in (folder / "export").iterdir()) == ["dune0.jpg", "dune1.jpg", "dune2.jpg"]
    assert dlg.status.text().endswith("; 1 sub-folder could not be read (locked): their photos are left out")


def test_another_photos_folder_takes_its_export_folder_along(qtbot, folder, tmp_path, monkeypatch):
    """The QA's: Photos in changed to the second shoot, and its photos went into the first shoot's
    "export" (and that folder stuck for every later shoot). A relative folder is the photos'; an
    empty field or recipe file is refused, never the folder the app was started from."""
    from PySide6.QtCore import QSettings

    from app.batch_dialog import BatchDialog

    second = tmp_path / "second"
    second.mkdir()
    shutil.copy(FIXTURES / "dune.jpg", second / "b.jpg")
    dlg = BatchDialog(None, folder, settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(dlg)
    dlg.src_auto.setChecked(True)
    assert dlg.out_dir.text() == str(folder / "export")
    dlg.in_dir.setText(str(second))  # as Browse… sets it, and then says it is entered
    dlg.in_dir.editingFinished.emit()
    assert dlg.out_dir.text() == str(second / "export")
    assert {j.dst.parent for j in dlg.plan()} == {second / "export"}
    dlg.out_dir.setText(str(tmp_path / "all-exports"))  # a folder elsewhere stays where it is
    for typed in (str(tmp_path), str(tmp_path) + "/", str(folder)):  # typed, passing through its parent
        dlg.in_dir.setText(typed)
    dlg.in_dir.editingFinished.emit()
    assert dlg.out_dir.text() == str(tmp_path / "all-exports")
    dlg.in_dir.setText("~no-such-user-here/shoot")  # no error box: said when Export is pressed
    dlg.in_dir.editingFinished.emit()
    with pytest.raises(ValueError, match="no-such-user-here"):
        dlg.plan()
    dlg.in_dir.setText(str(folder))
    dlg.in_dir.editingFinished.emit()
    monkeypatch.chdir(tmp_path)
    dlg.out_dir.setText("web")
    assert {j.dst.parent for j in dlg.plan()} == {folder / "web"}
    dlg.out_dir.setText("  ")
    with pytest.raises(ValueError, match="choose the folder to export to"):
        dlg.plan()
    dlg.out_dir.setText("web")
    dlg.src_recipe.setChecked(True)
    dlg.recipe_path.setText("")
    with pytest.raises(ValueError, match="choose the recipe file"):
        dlg.plan()
    assert not (tmp_path / "web").exists()


@pytest.mark.parametrize("cancel", [False, True])
def test_the_photos_are_planned_off_the_gui_thread_and_a_cancel_meanwhile_exports_none(qtbot, folder, monkeypatch,
                                                                                        cancel):
    """Planning (the folder listed, its earlier exports' tags read) ran on the GUI thread: 0.5-0.7 s
    for 800 photos on a local disk, seconds on a network share, with the window frozen."""
    import threading

    import engine.batch

    gate, threads = threading.Event(), []
    real = engine.batch.plan_jobs

    def slow_plan(*args, **kwargs):
        threads.append(threading.current_thread())
        gate.wait(30)  # a network share
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.batch, "plan_jobs", slow_plan)
    dlg = make_dialog(qtbot, folder)
    dlg.export_btn.click()
    qtbot.waitUntil(lambda: len(threads) == 1, timeout=10_000)
    assert threads[0] is not threading.main_thread()
    assert dlg.running() and not dlg.export_btn.isEnabled() and dlg.progress.maximum() == 0  # busy
    assert dlg.status.text() == "Looking at the photos and the export folder…"
    if cancel:
        dlg.cancel()
    gate.set()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=60_000)
    if cancel:  # nothing made, the export folder neither
        assert not (folder / "export").exists() and dlg.status.text().startswith("Cancelled: 0 exported")
        assert "4 not exported" in dlg.status.text()
    else:
        assert sorted(p.name for p in (folder / "export").iterdir()) == ["dune0.jpg", "dune1.jpg", "dune2.jpg"]
    assert dlg.export_btn.isEnabled() and dlg.cancel_btn.text() == "Close"
