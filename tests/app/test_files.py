"""What reaches the disk: sidecars, pasted recipes, exports with EXIF; and bad files on the way in."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import piexif
import pytest
from PIL import Image
from PySide6.QtGui import QColor, QIcon, QImage
from PySide6.QtWidgets import QApplication, QMessageBox
from qt_helpers import TIMEOUT, auto_and_wait, icon_image, open_and_wait, qimage_array, settle

from engine.recipe import Recipe, Step, read_sidecar, sidecar_path


def _error_boxes() -> list[QMessageBox]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]


def _close_boxes() -> None:
    for b in _error_boxes():
        b.close()


def test_auto_undone_leaves_no_sidecar_and_no_dot(qtbot, win, folder):
    """A photo whose steps are all gone (Auto, then Undo) has no sidecar: it reads as unedited in a
    reopened filmstrip and in Batch Export, not as edited with nothing in it."""
    photo = folder / "b_dune.jpg"
    open_and_wait(qtbot, win, photo)
    auto_and_wait(qtbot, win)
    qtbot.waitUntil(lambda: sidecar_path(photo).exists(), timeout=5000)
    win.doc.undo.undo()
    assert len(win.doc.recipe) == 0
    qtbot.waitUntil(lambda: not sidecar_path(photo).exists(), timeout=5000)
    assert not win.filmstrip.is_edited(photo)
    win.filmstrip.set_paths(win.filmstrip.paths())  # as the folder reopened reads it
    assert not win.filmstrip.is_edited(photo)


def test_no_sidecar_is_written_beside_a_photo_deleted_meanwhile(qtbot, win, folder):
    photo = folder / "b_dune.jpg"
    open_and_wait(qtbot, win, photo)
    photo.unlink()  # deleted (or moved away) in a file manager while shown
    win.panel.add_step("exposure")
    win.flush_sidecars(wait=True)
    assert not sidecar_path(photo).exists() and win.doc.dirty  # kept in the window; written if it comes back
    # said at once (it was said only at quit): a box the first time, then the status bar
    boxes = [w for w in QApplication.topLevelWidgets() if w.objectName() == "errorBox" and w.isVisible()]
    assert len(boxes) == 1 and "no longer where it was" in boxes[0].text(), [b.text() for b in boxes]
    boxes[0].close()
    win.panel.add_step("gamma")
    win.flush_sidecars(wait=True)
    assert "not saved" in win.statusBar().currentMessage()
    assert not [w for w in QApplication.topLevelWidgets() if w.objectName() == "errorBox" and w.isVisible()]
    # away and back: the photo now cannot be opened, its edits are still here, and said to be
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.show_photo(folder / "a_dune.dng")
    with qtbot.waitSignal(win.photoFailed, timeout=TIMEOUT):
        win.show_photo(photo)
    assert win.doc.failed and win.doc.dirty and [s.op for s in win.doc.recipe] == ["exposure", "gamma"]
    assert "Its edits since the last save are still in this window" in win.viewer.message
    # quitting then asks, instead of dropping the edits without a word (it did not, once they failed to open)
    asked = []
    win._ask_quit_unsaved = lambda docs: asked.append([d.name for d in docs]) or False
    win.close()
    assert asked == [["b_dune.jpg"]] and win.isVisible()  # "Keep Retouch Open"


def test_sidecar_on_disk_matches_within_a_second(qtbot, win, folder):
    photo = folder / "b_dune.jpg"
    open_and_wait(qtbot, win, photo)
    auto_and_wait(qtbot, win)
    win.panel.steps.cards[0].enable.setChecked(False)
    qtbot.waitUntil(lambda: sidecar_path(photo).exists()
                    and Recipe.load(sidecar_path(photo)).to_json() == win.doc.recipe.to_json(), timeout=5000)
    from app.window import AUTOSAVE_MS

    assert AUTOSAVE_MS <= 1000  # a crash loses at most the last second
    assert read_sidecar(photo).steps[0].enabled is False
    assert win.filmstrip.is_edited(photo) and not win.filmstrip.is_edited(folder / "a_dune.dng")
    # A new window on the same folder reopens the saved edit.
    win.close()
    from PySide6.QtCore import QSettings

    from app.window import MainWindow

    w2 = MainWindow(QSettings(str(folder.parent / "s2.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w2)
    w2.show()
    open_and_wait(qtbot, w2, photo)
    assert w2.doc.recipe.to_json() == read_sidecar(photo).to_json()
    assert w2.filmstrip.is_edited(photo)  # the dot is there on reopening
    assert len(w2.panel.steps.cards) == len(w2.doc.recipe)
    w2.close()


def test_a_folder_that_cannot_be_written_says_so_once_and_marks_nothing(qtbot, win, folder, monkeypatch):
    """Each edit autosaves: a read-only folder gave an error box per edit, naming the hidden temp
    file, and the filmstrip's ● claimed edits that were not on disk."""
    import app.window_sidecars as sidecars_mod

    photo = folder / "b_dune.jpg"
    open_and_wait(qtbot, win, photo)
    real = sidecars_mod.save_sidecar
    calls: list = []

    def denied(path, recipe, known):
        calls.append(path)
        raise PermissionError(13, "Permission denied", str(folder / ".b_dune.jpg.retouch.json.x1.part.json"))

    monkeypatch.setattr(sidecars_mod, "save_sidecar", denied)
    win.panel.add_step("exposure")
    slider = win.panel.steps.cards[0].controls["ev"].slider
    for i in range(3):  # three edits, each autosaved
        n = len(calls)
        if i:
            slider.setValue(slider.value() + 20)
        qtbot.waitUntil(lambda n=n: len(calls) > n and win.doc.save_error is not None, timeout=TIMEOUT)
        qtbot.wait(50)
    boxes = _error_boxes()
    assert len(boxes) == 1, [b.text() for b in boxes]
    assert str(sidecar_path(photo)) in boxes[0].text() and "part.json" not in boxes[0].text()
    assert "Permission denied" in boxes[0].text()
    assert not win.filmstrip.is_edited(photo) and "not saved" in win.statusBar().currentMessage()
    _close_boxes()
    monkeypatch.setattr(sidecars_mod, "save_sidecar", real)  # writable again: the next edit saves
    slider.setValue(slider.value() + 20)
    qtbot.waitUntil(lambda: sidecar_path(photo).exists() and win.doc.save_error is None, timeout=TIMEOUT)
    assert read_sidecar(photo).to_json() == win.doc.recipe.to_json() and win.filmstrip.is_edited(photo)


def test_batch_export_folder_applies_edits_their_sidecar_could_not_take(qtbot, win, tmp_path, photo_jpeg,
                                                                       monkeypatch):
    """A read-only folder (or a full disk): Batch Export Folder had exported the photo's stale sidecar
    (or Auto) in silence, where Export applies the window's edits, as the "Edits not saved" box says."""
    import app.window_sidecars as sidecars_mod

    d = tmp_path / "shoot"
    d.mkdir()
    photo = d / "dune.jpg"
    shutil.copy2(photo_jpeg, photo)
    Recipe([Step("exposure", {"ev": -2.0})]).save(sidecar_path(photo))  # an older edit, darker
    open_and_wait(qtbot, win, photo)

    def denied(path, recipe, known):
        raise PermissionError(13, "Permission denied", str(sidecar_path(path)))

    monkeypatch.setattr(sidecars_mod, "save_sidecar", denied)
    slider = win.panel.steps.cards[0].controls["ev"].slider
    slider.setValue(slider.maximum())  # much brighter now, in the window only
    qtbot.waitUntil(lambda: win.doc.save_error is not None, timeout=TIMEOUT)
    _close_boxes()
    dlg = win.batch_export()
    qtbot.addWidget(dlg)
    assert dlg.src_sidecar.isChecked()
    dlg.out_dir.setText(str(tmp_path / "out"))
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=TIMEOUT)
    assert dlg.status.text().startswith("Finished: 1 exported"), dlg.status.text()
    out = np.asarray(Image.open(tmp_path / "out" / "dune.jpg").convert("L"), np.float32).mean()
    orig = np.asarray(Image.open(photo).convert("L"), np.float32).mean()
    assert out > orig + 40, (out, orig)  # the window's edit, not the sidecar's −2 EV
    assert Recipe.load(sidecar_path(photo)).steps[0].params["ev"] == -2.0  # nothing written meanwhile
    dlg.close()


def test_copy_paste_between_two_photos(qtbot, win, folder):
    a, b = folder / "a_dune.dng", folder / "b_dune.jpg"
    open_and_wait(qtbot, win, a)
    auto_and_wait(qtbot, win)
    win.copy_recipe()
    assert "retouch" in QApplication.clipboard().text()  # the recipe also goes out as JSON text
    win.filmstrip.select_path(b)
    settle(qtbot, win)
    assert win.doc.path == b and len(win.doc.recipe) == 0
    win.filmstrip.items[a].setSelected(True)
    win.filmstrip.items[b].setSelected(True)
    assert set(win.paste_targets()) == {a, b}
    # selective: only the first two steps, appended
    n = win.paste_recipe(steps=win.clipboard.steps[:2], append=True)
    assert n == 2
    src = win.docs[a].recipe
    assert [s.op for s in win.docs[b].recipe] == [s.op for s in src.steps[:2]]
    auto = [s.op for s in win.clipboard]  # a's Auto recipe (5 steps, + the auto-exposure pre-step if any)
    assert [s.op for s in win.docs[a].recipe] == auto + [s.op for s in src.steps[:2]]
    assert win.panel.steps.cards and len(win.panel.steps.cards) == 2  # b is on screen
    # undo works per photo; then a full replace-paste of all steps
    win.undo_group.undo()
    assert len(win.docs[b].recipe) == 0
    win.paste_recipe()  # all steps, replace
    assert _values(win.docs[b].recipe) == _values(win.clipboard)
    # a's measurements and the agent's confidence were a's: b's cards say the steps were pasted
    assert {s.source for s in win.docs[b].recipe} == {"pasted"} and {s.source for s in win.clipboard} != {"pasted"}
    assert all("Pasted from another photo" in c.confidence.text() for c in win.panel.steps.cards)
    win.flush_sidecars(wait=True)
    assert read_sidecar(b).to_json() == win.docs[b].recipe.to_json()


def _values(recipe: Recipe) -> list:
    return [(s.op, s.enabled, {k: np.asarray(v).tolist() for k, v in s.params.items()}) for s in recipe]


def test_paste_from_system_clipboard_text(qtbot, win, folder):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    r = Recipe([Step("exposure", {"ev": 0.7}), Step("saturation", {"amount": 0.3})])
    QApplication.clipboard().setText(r.dumps())  # e.g. copied in another Retouch window
    assert win.clipboard is None
    assert win.paste_recipe() == 1
    assert _values(win.doc.recipe) == _values(r)
    QApplication.clipboard().setText("not a recipe")
    win.clipboard = None
    assert win.paste_recipe() == 0
    # the QA's: once this window had copied, a recipe copied later elsewhere was never pasted
    win.copy_recipe()
    later = Recipe([Step("exposure", {"ev": -0.4})])
    QApplication.clipboard().setText(later.dumps())
    assert win.paste_recipe() == 1
    assert _values(win.doc.recipe) == _values(later)
    QApplication.clipboard().setText("a caption copied meanwhile")  # other text: this window's copy stays
    win.doc.recipe.steps.clear()
    assert win.paste_recipe() == 1 and _values(win.doc.recipe) == _values(later)


def test_paste_dialog_selects_steps(qtbot, win, folder):
    from PySide6.QtCore import Qt

    from app.paste_dialog import PasteDialog

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    auto_and_wait(qtbot, win)
    dlg = PasteDialog(win.doc.recipe, 3, win)
    qtbot.addWidget(dlg)
    wb = [i for i, s in enumerate(win.doc.recipe) if s.op == "white_balance"]
    assert len(dlg.chosen()) == len(win.doc.recipe) - len(wb)  # white balance off by default
    dlg.set_checked({0, 2})
    dlg.append.setChecked(True)
    assert [s.op for s in dlg.chosen()] == [win.doc.recipe.steps[0].op, win.doc.recipe.steps[2].op]
    assert dlg.is_append()
    assert dlg.paste_btn.isEnabled()
    dlg.set_checked(set())  # the QA's: nothing ticked, and Replace still removed the photos' other steps
    assert not dlg.paste_btn.isEnabled()
    dlg.list.item(1).setCheckState(Qt.CheckState.Checked)
    assert dlg.paste_btn.isEnabled()


def test_export_writes_file_with_exif(qtbot, win, folder, tmp_path):
    photo = folder / "b_dune.jpg"  # carries the camera's EXIF (Canon)
    open_and_wait(qtbot, win, photo)
    auto_and_wait(qtbot, win)
    dlg = win.export_selection()
    out = tmp_path / "out"
    dlg.out_dir.setText(str(out))
    dlg.template.setText("{stem}_edit")
    dlg.resize.setChecked(True)
    dlg.long_edge.setValue(480)
    dlg.start()
    assert dlg.running()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=TIMEOUT * 2)
    dst = out / "b_dune_edit.jpg"
    assert dst.is_file(), dlg.message.text()
    assert dlg.progress.value() == 1
    exif = piexif.load(str(dst))
    assert exif["0th"][piexif.ImageIFD.Make].startswith(b"Canon")
    from PIL import Image

    with Image.open(dst) as im:
        assert max(im.size) == 480
    # done, the dialog stays usable: a second go skips the unchanged photo, Replace redoes it
    assert dlg.export_btn.isEnabled() and dlg.export_btn.text() == "Export again" and dlg.long_edge.isEnabled()
    for replace_it, status in ((False, "skipped"), (True, "done")):
        dlg.overwrite.setChecked(replace_it)
        dlg.export_btn.click()
        qtbot.waitUntil(lambda: not dlg.running(), timeout=TIMEOUT * 2)
        assert [r.status for r in dlg.results] == [status]
    dlg.close()


def test_the_export_folder_follows_the_photos_unless_chosen_elsewhere(qtbot, win, folder, tmp_path, photo_jpeg):
    """The last folder was offered as is: the next shoot's photos landed among the last one's exports."""
    from app.export_dialog import ExportDialog

    other = tmp_path / "shoot2"
    other.mkdir()
    shutil.copy(photo_jpeg, other / "c.jpg")

    def offered(photo):
        dlg = ExportDialog([(photo, Recipe())], win.settings, win)
        qtbot.addWidget(dlg)
        return dlg

    dlg = offered(folder / "b_dune.jpg")
    assert dlg.out_dir.text() == str(folder / "export")
    dlg.out_dir.setText(str(folder / "jpegs" / "web"))
    dlg._remember()
    assert offered(other / "c.jpg").out_dir.text() == str(other / "jpegs" / "web")
    dlg = offered(folder / "b_dune.jpg")
    dlg.out_dir.setText(str(tmp_path / "portfolio"))  # a folder of its own: kept for every shoot
    dlg._remember()
    assert offered(other / "c.jpg").out_dir.text() == str(tmp_path / "portfolio")
    # the QA's: an empty field wrote into the folder the app was started from ("1 exported → "), and
    # a relative one ("web") landed there too; it is the photos' folder's, and remembered so
    dlg = offered(other / "c.jpg")
    dlg.out_dir.setText("")
    dlg.start()
    assert not dlg.running() and "choose the folder to export to" in dlg.message.text()
    dlg.out_dir.setText("web")
    assert [j.dst.parent for j in dlg.jobs()] == [other / "web"]
    dlg._remember()
    assert offered(folder / "b_dune.jpg").out_dir.text() == str(folder / "web")
    # a large shoot's QA: Browse… stayed enabled while the export ran, and a folder picked then was
    # named by the summary as where the photos went
    dlg.start()
    assert dlg.running() and not dlg._browse_btn.isEnabled() and not dlg.out_dir.isEnabled()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=TIMEOUT)
    assert dlg._browse_btn.isEnabled() and dlg.message.text().startswith("1 exported")
    assert dlg.exported_to == other / "web" and (other / "web" / "c.jpg").exists()
    assert dlg.message.text().endswith(f"→ {other / 'web'}")


def test_export_applies_each_photos_recipe_as_shown_never_auto(qtbot, win, folder, tmp_path):
    """Export of a selection: opened or not, a photo never edited exports as it is (an unopened one
    got Auto, at the shipped model's strength); an unopened photo's sidecar is applied."""
    shutil.copy2(folder / "b_dune.jpg", folder / "c_dune.jpg")
    Recipe([Step("exposure", {"ev": 1.0})]).save(sidecar_path(folder / "c_dune.jpg"))
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    win.filmstrip.selectAll()
    dlg = win.export_selection()
    jobs = {j.src.name: j.settings for j in dlg.jobs()}
    assert sorted(jobs) == ["a_dune.dng", "b_dune.jpg", "c_dune.jpg"]
    for name in ("a_dune.dng", "b_dune.jpg"):  # opened and not: unedited, as their thumbnails
        assert jobs[name].source == "recipe" and jobs[name].recipe["steps"] == [], name
    # not open: its sidecar read when Export is pressed (the worker read it at its turn, and an edit
    # made meanwhile went into the export, a QA's)
    assert jobs["c_dune.jpg"].source == "recipe" and jobs["c_dune.jpg"].recipe["steps"][0]["params"] == {"ev": 1.0}
    out = tmp_path / "out"
    dlg.out_dir.setText(str(out))
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=TIMEOUT * 2)
    from PIL import Image

    def pixels(p):
        with Image.open(p) as im:
            return np.asarray(im.convert("RGB"), dtype=float)

    b, c = pixels(out / "b_dune.jpg"), pixels(out / "c_dune.jpg")
    assert np.abs(b - pixels(folder / "b_dune.jpg")).mean() < 2  # the photo as it is (JPEG again)
    assert c.mean() > b.mean() + 20  # its sidecar's +1 EV
    dlg.close()


def test_export_rejects_bad_template(qtbot, win, folder, tmp_path):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    dlg = win.export_selection()
    dlg.out_dir.setText(str(tmp_path / "o"))
    dlg.template.setText("../{stem}")
    dlg.start()
    assert not dlg.running() and dlg.message.text()
    dlg.template.setText("/{stem}")
    dlg.start()  # the command line's OUT_DIR, said as the field's name
    assert "relative to the export folder" in dlg.message.text() and "OUT_DIR" not in dlg.message.text()
    assert not (tmp_path / "b_dune.jpg").exists()
    dlg.close()


def test_corrupt_file_shows_message_and_app_stays_alive(qtbot, win, folder, dng_file):
    bad = folder / "c_broken.dng"
    data = dng_file.read_bytes()
    bad.write_bytes(data[:4096] + bytes(range(256)) * 64)  # a DNG header with garbage after it
    with qtbot.waitSignal(win.photoFailed, timeout=TIMEOUT) as sig:
        win.open_path(bad)
    assert sig.args[0].path == bad and sig.args[1]
    assert win.filmstrip.is_failed(bad)
    # said in the viewer and the filmstrip, not in a box: one per damaged file stopped Ctrl+Right at each
    assert not _error_boxes()
    assert not win.viewer.has_image() and "cannot be opened" in win.viewer.message
    assert "Traceback" not in win.viewer.message
    assert data[:4096] == bad.read_bytes()[:4096]  # the original is never written to
    # a damaged file not yet visited is marked, with its reason, as soon as its thumbnail fails
    unseen = folder / "e_unseen.dng"
    unseen.write_bytes(b"This is a text file, not a RAW.\n" * 50)
    win.open_path(folder / "b_dune.jpg")
    qtbot.waitUntil(lambda: win.filmstrip.is_failed(unseen), timeout=TIMEOUT)
    assert "not a RAW file" in win.filmstrip.items[unseen].toolTip()
    assert unseen not in win.docs
    win.panel.set_busy("Matched the look of another.jpg: 2 steps.")  # news of the photo shown before
    cut = folder / "d_cut.dng"  # cut in half: its thumbnail shows first, then the decode fails
    cut.write_bytes(data[: len(data) // 2])
    from engine.io import load_preview

    assert load_preview(cut).size  # its embedded thumbnail reads: it shows while the decode runs
    with qtbot.waitSignal(win.photoFailed, timeout=TIMEOUT):
        win.open_path(cut)
    win.decode_pool.waitForDone(TIMEOUT)  # the thumbnail's job too, whichever ends last
    qtbot.wait(100)
    _close_boxes()
    assert not win.viewer.has_image() and "cannot be opened" in win.viewer.message
    assert win.render_label.text() == win.zoom_label.text() == ""  # no "embedded preview 314 %" left over
    # nor the last photo's news in the panel, nor an invitation to press Auto on nothing
    assert win.panel.status.text() == "" and not win.panel.steps.inner.empty.isVisibleTo(win)
    # the app keeps working on the other photos
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.filmstrip.select_path(folder / "b_dune.jpg")
    assert win.viewer.has_image()


def test_bad_sidecar_shows_message_and_keeps_a_copy(qtbot, win, folder):
    photo = folder / "b_dune.jpg"
    sidecar_path(photo).write_text('{"format": 1, "steps": [{"op": "exposure", "params": {"ev": 99}}]}')
    open_and_wait(qtbot, win, photo)
    boxes = _error_boxes()
    assert boxes and "set aside" in boxes[0].text() and "ev" in boxes[0].text()
    kept = list(folder.glob("b_dune.jpg.retouch.json.bad-*"))
    assert len(kept) == 1 and "99" in kept[0].read_text()
    assert len(win.doc.recipe) == 0
    _close_boxes()


def test_a_newer_retouchs_sidecar_is_never_saved_over(qtbot, win, folder):
    """Edits made here to a photo whose sidecar a newer Retouch wrote stay unsaved, and it says so."""
    photo = folder / "b_dune.jpg"
    newer = '{"format": 1, "steps": [{"op": "exposure", "version": 7, "params": {"ev": 0.5}}]}'
    sidecar_path(photo).write_text(newer)
    open_and_wait(qtbot, win, photo)
    boxes = _error_boxes()
    assert boxes and "newer Retouch" in boxes[0].text() and "not saved" in boxes[0].text()
    _close_boxes()
    win.panel.add_step("exposure")
    win.flush_sidecars(wait=True)
    assert "not saved" in win.statusBar().currentMessage()
    assert sidecar_path(photo).read_text() == newer and not list(folder.glob("*.bad-*"))
    assert win.filmstrip.is_edited(photo)  # its edits exist, a newer Retouch's


def test_photos_with_long_names_open_and_keep_their_edits(qtbot, win, tmp_path, photo_jpeg):
    """A name of 243+ bytes raised ENAMETOOLONG while the filmstrip was filled (signals blocked:
    no photo of the folder could be opened), and one of 223-242 bytes could never save its edits
    (the sidecar's temp name did not fit in 255 bytes)."""
    d = tmp_path / "long"
    d.mkdir()
    fits, too_long = d / ("a" * 230 + ".jpg"), d / ("b" * 246 + ".jpg")
    for p in (fits, too_long):
        shutil.copy(photo_jpeg, p)
    open_and_wait(qtbot, win, too_long)
    assert win.doc.path == too_long and win.viewer.has_image()
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.filmstrip.select_path(fits)
    win.panel.add_step("exposure")
    win.flush_sidecars(wait=True)
    assert read_sidecar(fits).steps[0].op == "exposure" and win.filmstrip.is_edited(fits)
    assert [p.name for p in d.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_an_error_with_no_window_to_own_it_is_shown(qtbot, qapp):
    """A parentless box (the excepthook with no active window) was freed at once, never seen."""
    import gc

    from app.errors import show_error

    show_error(None, "Retouch", "something went wrong")
    gc.collect()
    qtbot.waitUntil(lambda: any("something went wrong" in b.text() for b in _error_boxes()), timeout=TIMEOUT)
    _close_boxes()


def test_edits_another_program_saved_are_never_lost(qtbot, win, folder):
    """The app wrote its edits over a sidecar another program (or a second Retouch) had changed, and
    showed its cached recipe on coming back to the photo."""
    a, b = folder / "a_dune.dng", folder / "b_dune.jpg"
    open_and_wait(qtbot, win, b)
    win.panel.add_step("exposure")
    win.flush_sidecars(wait=True)
    theirs = Recipe([Step("gamma", {"gamma": 1.3})])
    theirs.save(sidecar_path(b))  # another program, while the photo is open
    win.panel.add_step("saturation")
    win.flush_sidecars(wait=True)
    kept = list(folder.glob("b_dune.jpg.retouch.json.changed-*"))
    assert len(kept) == 1 and Recipe.load(kept[0]).to_json() == theirs.to_json()
    assert [s.op for s in read_sidecar(b).steps] == ["exposure", "saturation"]
    assert "changed by another program" in win.statusBar().currentMessage()
    # changed while another photo is shown: read again on coming back, and Undo goes back
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.filmstrip.select_path(a)
    theirs.save(sidecar_path(b))
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.filmstrip.select_path(b)
    assert [s.op for s in win.doc.recipe.steps] == ["gamma"]
    win.flush_sidecars(wait=True)
    assert len(list(folder.glob("b_dune.jpg.retouch.json.changed-*"))) == 1  # nothing more set aside
    win.doc.undo.undo()
    assert [s.op for s in win.doc.recipe.steps] == ["exposure", "saturation"]
    win.flush_sidecars(wait=True)  # theirs, undone here, is kept aside before ours is saved again
    kept = sorted(folder.glob("b_dune.jpg.retouch.json.changed-*"))
    assert len(kept) == 2 and all(Recipe.load(k).to_json() == theirs.to_json() for k in kept)
    assert [s.op for s in read_sidecar(b).steps] == ["exposure", "saturation"]
    # a newer Retouch's edits appearing meanwhile: never saved over, on coming back either
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.filmstrip.select_path(a)
    newer = '{"format": 1, "steps": [{"op": "exposure", "version": 7, "params": {"ev": 0.5}}]}'
    sidecar_path(b).write_text(newer)
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.filmstrip.select_path(b)
    assert any("newer Retouch" in x.text() for x in _error_boxes())
    _close_boxes()
    win.panel.add_step("gamma")
    win.flush_sidecars(wait=True)
    assert sidecar_path(b).read_text() == newer and len(list(folder.glob("b_dune.jpg.retouch.json.*"))) == 2


def _thumb(win, path) -> np.ndarray:
    return icon_image(win.filmstrip.items[path].icon()).astype(float)


def test_thumbnails_show_the_edits_of_photos_not_on_screen(qtbot, win, folder, tmp_path):
    """Only a photo edited while shown got an edited thumbnail: one pasted onto, or reopened with
    its edits, kept its camera look (the RAW's as LibRaw renders it, not its embedded JPEG)."""
    a, b = folder / "a_dune.dng", folder / "b_dune.jpg"
    open_and_wait(qtbot, win, a)
    plain_b, plain_a = _thumb(win, b), _thumb(win, a)
    win.panel.add_step("exposure")
    win.panel.steps.cards[0].controls["ev"].spin.setValue(1.5)
    win.copy_recipe()
    win.filmstrip.items[b].setSelected(True)
    win.filmstrip.items[a].setSelected(False)
    assert win.paste_recipe() == 1
    qtbot.waitUntil(lambda: _thumb(win, b).mean() > plain_b.mean() + 30, timeout=TIMEOUT)
    win.flush_sidecars(wait=True)
    # a new window on the folder: both photos come back with their edits, neither shown yet
    from PySide6.QtCore import QSettings

    from app.window import MainWindow

    again = MainWindow(QSettings(str(tmp_path / "again.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    again.filmstrip.set_paths([a, b])
    qtbot.waitUntil(lambda: len(again.filmstrip.thumbs_done) == 2, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: _thumb(again, a).mean() > plain_a.mean() + 30
                    and _thumb(again, b).mean() > plain_b.mean() + 30, timeout=TIMEOUT)
    again.filmstrip.pool.waitForDone(TIMEOUT)


def test_a_photo_left_right_after_an_edit_gets_its_edited_thumbnail(qtbot, win, folder):
    """The shown photo's thumbnail was set from its preview 0.6 s after a render; moving on before
    then set nothing (or the next photo's preview), and the thumbnail kept its camera look."""
    a, b = folder / "a_dune.dng", folder / "b_dune.jpg"
    open_and_wait(qtbot, win, a)
    plain = _thumb(win, a)
    win.panel.add_step("exposure")
    win.panel.steps.cards[0].controls["ev"].spin.setValue(-2.0)
    win.flush_sidecars()  # the autosave, while the photo is still shown (its thumbnail follows renders)
    win.filmstrip.select_path(b)  # before the thumbnail's timer: its render may not be back either
    settle(qtbot, win)
    qtbot.waitUntil(lambda: _thumb(win, a).mean() < plain.mean() - 30, timeout=TIMEOUT)
    win.filmstrip.pool.waitForDone(TIMEOUT)


def test_edited_thumbnails_are_kept_between_sessions(qtbot, win, folder, tmp_path, monkeypatch, private_cache):
    """Every open of a folder rendered each edited photo's thumbnail again: a half-size decode in a
    child, 0.64 s a RAW, minutes for a shoot. A kept one is shown unless the photo or its edits
    changed."""
    import os

    from app import filmstrip

    a = folder / "a_dune.dng"
    Recipe([Step("exposure", {"ev": 1.5})]).save(sidecar_path(a))
    first = filmstrip.render_thumbnail(a)
    assert len(list(private_cache.rglob("*.jpg"))) == 1
    rendered = []
    real = filmstrip._render_thumbnail
    monkeypatch.setattr(filmstrip, "_render_thumbnail", lambda *args: rendered.append(args) or real(*args))
    again = filmstrip.render_thumbnail(a)
    assert not rendered and qimage_array(again).tolist() == qimage_array(first).tolist()
    # another window on the folder shows it edited without rendering it
    plain = filmstrip.load_thumbnail(a)
    win.filmstrip.set_paths([a, folder / "b_dune.jpg"])
    qtbot.waitUntil(lambda: a in win.filmstrip.thumbs_done and _thumb(win, a).mean() > qimage_array(plain).mean() + 30,
                    timeout=TIMEOUT)
    win.filmstrip.pool.waitForDone(TIMEOUT)
    assert not rendered
    # an edit, or the photo itself changed, makes a new one
    Recipe([Step("exposure", {"ev": -1.0})]).save(sidecar_path(a))
    assert qimage_array(filmstrip.render_thumbnail(a)).mean() < qimage_array(plain).mean() and len(rendered) == 1
    st = a.stat()
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    filmstrip.render_thumbnail(a)
    # three edited looks of a (two edits, then the file changed), and the camera looks of a and b
    assert len(rendered) == 2 and len(list(private_cache.rglob("*.jpg"))) == 5
    # so does a new RAW decode (the highlights past white kept, in the thirty-seventh session)
    from app import thumb_cache
    from engine.io import raw

    monkeypatch.setattr(raw, "DECODE_VERSION", raw.DECODE_VERSION + 1)
    thumb_cache._code_version.cache_clear()
    try:
        filmstrip.render_thumbnail(a)
    finally:
        thumb_cache._code_version.cache_clear()
    assert len(rendered) == 3


def test_camera_thumbnails_are_kept_between_sessions_too(qtbot, win, folder, monkeypatch, private_cache):
    """Reopening a shoot of 800 camera JPEGs read every one again (7.8 s). A kept thumbnail is
    shown unless the photo changed, and looks the same when made and when found again."""
    import os

    import engine.io
    from app import filmstrip

    a, b = folder / "a_dune.dng", folder / "b_dune.jpg"
    made = [filmstrip.load_thumbnail(p) for p in (a, b)]
    assert len(list(private_cache.rglob("*.jpg"))) == 2
    assert sum(f.stat().st_size for f in private_cache.rglob("*.jpg")) < 2 * 40_000  # a PNG's took ~100 KB
    read = []
    real = engine.io.load_preview
    monkeypatch.setattr(engine.io, "load_preview", lambda *args, **kw: read.append(args) or real(*args, **kw))
    again = [filmstrip.load_thumbnail(p) for p in (a, b)]
    assert not read
    for one, two in zip(made, again, strict=True):
        assert qimage_array(one).tolist() == qimage_array(two).tolist()
    win.filmstrip.set_paths([a, b])  # a window on the folder reads none
    qtbot.waitUntil(lambda: len(win.filmstrip.thumbs_done) == 2, timeout=TIMEOUT)
    assert not read
    st = b.stat()  # the photo changed (edited elsewhere): read again
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    filmstrip.load_thumbnail(b)
    assert len(read) == 1


def test_thumbnails_in_view_are_made_first(qtbot, win, folder, monkeypatch):
    """A shoot's thumbnails loaded in name order: with the last photos shown, their frames waited
    for the whole folder. The shown photo's comes first, then those in view, then the rest."""
    from app import filmstrip

    for i in range(60):
        shutil.copy2(folder / "b_dune.jpg", folder / f"c_{i:02d}.jpg")
    Recipe([Step("exposure", {"ev": 1.0})]).save(sidecar_path(folder / "c_58.jpg"))
    Recipe([Step("exposure", {"ev": 1.0})]).save(sidecar_path(folder / "c_05.jpg"))
    paths = sorted(folder.glob("*.[jd]*[gg]"))
    assert len(paths) == 62
    order: list[tuple[str, str]] = []
    real_load, real_render = filmstrip.load_thumbnail, filmstrip.render_thumbnail
    monkeypatch.setattr(filmstrip, "load_thumbnail", lambda p: order.append(("camera", p.name)) or real_load(p))
    monkeypatch.setattr(filmstrip, "render_thumbnail",
                        lambda p, r=None: order.append(("edited", p.name)) or real_render(p, r))
    strip = win.filmstrip
    win.filmstrip.pool.waitForDone(TIMEOUT)
    strip.set_paths(paths)
    strip.select_path(folder / "c_58.jpg")  # the strip scrolls to the end
    qtbot.waitUntil(lambda: len(strip.thumbs_done) == 62 and not strip._owed_looks and not strip._feeding,
                    timeout=TIMEOUT)
    strip.pool.waitForDone(TIMEOUT)
    names = [n for _, n in order]
    assert len(order) == 62 + 2 and order[-1] == ("edited", "c_05.jpg")  # each once; an edited look out of view last
    in_view = [i.data(filmstrip.PATH_ROLE).name for i in (strip.item(r) for r in range(strip.count()))
               if strip.visualItemRect(i).intersects(strip.viewport().rect())]
    assert "c_58.jpg" in in_view and "a_dune.dng" not in in_view
    first = names.index("c_58.jpg")
    assert first <= 1, names[:12]  # the one started before the selection may come first
    # every photo in view, and the shown one's edited look, before any other photo's
    assert set(in_view) <= set(names[: first + len(in_view) + 6]), (in_view, names[:20])
    assert order.index(("edited", "c_58.jpg")) < names.index("c_20.jpg")


def test_edits_pasted_before_the_thumbnails_are_in_keep_their_look(qtbot, win, folder):
    """A QA's: pasting onto photos whose camera thumbnails were still queued left 19 of 19 showing
    the camera look for the session (the camera look, loaded last, replaced the edited one)."""
    from app import thumb_cache

    for i in range(12):
        shutil.copy2(folder / "b_dune.jpg", folder / f"c_{i:02d}.jpg")
    paths = sorted(folder.glob("*.[jd]*[gg]"))
    strip = win.filmstrip
    strip.set_paths(paths)  # nothing loaded yet: the first starts from the event loop
    pasted = Recipe([Step("exposure", {"ev": 1.5})])
    for p in paths[-6:]:
        strip.refresh(p, pasted)
    qtbot.waitUntil(lambda: len(strip.thumbs_done) == len(paths) and not strip._feeding, timeout=TIMEOUT)
    strip.pool.waitForDone(TIMEOUT)
    qtbot.wait(50)  # the last results delivered
    plain = icon_image(strip.items[paths[1]].icon())
    for p in paths[-6:]:
        assert strip.look(p)[1] == thumb_cache.steps_key(pasted), p.name
        assert icon_image(strip.items[p].icon()).mean() > plain.mean() + 30, p.name


def test_a_photo_edited_in_another_window_gets_its_dot_when_shown(qtbot, win, folder):
    """A QA's: a photo first edited elsewhere after the folder opened showed its edits, but the
    filmstrip's ● never came."""
    a, b = folder / "a_dune.dng", folder / "b_dune.jpg"
    open_and_wait(qtbot, win, b)
    assert not win.filmstrip.is_edited(a)
    Recipe([Step("exposure", {"ev": 1.0})]).save(sidecar_path(a))
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.show_photo(a)
    assert win.filmstrip.is_edited(a) and len(win.doc.recipe) == 1


def test_excepthook_shows_actionable_message(qtbot, win):
    from app.errors import install_excepthook

    old = sys.excepthook
    install_excepthook()
    try:
        try:
            raise PermissionError(13, "Permission denied", "/photos/out.jpg")
        except PermissionError:
            sys.excepthook(*sys.exc_info())
        boxes = _error_boxes()
        assert boxes
        box = boxes[-1]
        assert "Permission denied" in box.text() and "folder you can write to" in box.informativeText()
        assert "Traceback" not in box.text() and "Traceback" in box.detailedText()
    finally:
        sys.excepthook = old
        _close_boxes()


def test_the_log_is_where_the_xdg_spec_keeps_logs(tmp_path, monkeypatch):
    """The log had gone to Qt's ``~/.local/share/Retouch/Retouch``: the name doubled."""
    from app.errors import log_file

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert log_file() == tmp_path / "state" / "retouch" / "retouch.log"
    assert log_file().parent.is_dir()
    monkeypatch.setenv("XDG_STATE_HOME", "relative")  # the spec: ignored
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert log_file() == tmp_path / "home" / ".local" / "state" / "retouch" / "retouch.log"


def test_a_folder_opened_by_a_relative_path_is_remembered_whole(qtbot, win, folder, monkeypatch):
    """`retouch shoot` from a terminal kept "shoot" in Recent, which opened nothing from elsewhere."""
    monkeypatch.chdir(folder.parent)
    open_and_wait(qtbot, win, Path(folder.name))
    assert win.recent()[0] == str(folder) and win.doc.path.is_absolute()


def test_an_embedded_preview_no_longer_wanted_is_not_read(folder):
    from app.loading import Skipped, embedded_preview

    with pytest.raises(Skipped):
        embedded_preview(folder / "a_dune.dng", lambda: False)  # the user moved on meanwhile
    assert not embedded_preview(folder / "a_dune.dng", lambda: True).isNull()


def test_open_folder_lists_photos_thumbnails_and_remembers_it(qtbot, win, folder):
    (folder / "notes.txt").write_text("not a photo")
    shutil.copy2(folder / "b_dune.jpg", folder / "c_copy.jpg")
    open_and_wait(qtbot, win, folder)
    assert [p.name for p in win.filmstrip.paths()] == ["a_dune.dng", "b_dune.jpg", "c_copy.jpg"]
    assert win.recent()[0] == str(folder)
    qtbot.waitUntil(lambda: len(win.filmstrip.thumbs_done) == 3, timeout=TIMEOUT)
    assert win.filmstrip.items[folder / "a_dune.dng"].icon().actualSize(win.filmstrip.iconSize()).width() == 128
    assert win.recent_menu.actions()[0].text() == str(folder)


def test_filmstrip_counts_as_people_do_and_shows_selected_photos_untinted(qtbot, win, folder):
    """IMG_10 sorted before IMG_9; a selected thumbnail was tinted blue by Qt's selected icon mode,
    and a portrait frame's caption sat higher than a landscape one's."""
    from engine.folders import list_photos, natural_key
    from engine.io.dng import write_dng

    names = ["a1x2.jpg", "a1x.jpg", "a01.jpg", "a1.jpg", "A1.jpg", "b.jpg", "a.jpg", "2.jpg", "10.jpg"]
    assert sorted(names, key=natural_key) == ["2.jpg", "10.jpg", "a.jpg", "A1.jpg", "a01.jpg", "a1.jpg",
                                              "a1x.jpg", "a1x2.jpg", "b.jpg"]  # and no type clash

    for name in ("IMG_10.jpg", "IMG_9.jpg", "img_100.jpg"):
        shutil.copy2(folder / "b_dune.jpg", folder / name)
    write_dng(folder / "IMG_11.dng", np.rot90(qimage_array(QImage(str(folder / "b_dune.jpg")))).copy())
    assert [p.name for p in list_photos(folder)] == ["a_dune.dng", "b_dune.jpg", "IMG_9.jpg", "IMG_10.jpg",
                                                     "IMG_11.dng", "img_100.jpg"]
    open_and_wait(qtbot, win, folder)
    qtbot.waitUntil(lambda: len(win.filmstrip.thumbs_done) == 6, timeout=TIMEOUT)
    size = win.filmstrip.iconSize()
    for name in ("IMG_9.jpg", "IMG_11.dng"):  # landscape and portrait: one box, the caption below it
        icon = win.filmstrip.items[folder / name].icon()
        assert icon.actualSize(size) == size
        normal, selected = (qimage_array(icon.pixmap(size, mode).toImage()) for mode in
                            (QIcon.Mode.Normal, QIcon.Mode.Selected))
        np.testing.assert_array_equal(normal, selected)


def test_the_photo_shown_is_outlined_among_the_selected(qtbot, win, folder):
    """With several photos selected (for Paste or Export), the one shown looked like the others."""
    from app import theme

    a, b = folder / "a_dune.dng", folder / "b_dune.jpg"
    open_and_wait(qtbot, win, b)
    win.filmstrip.items[a].setSelected(True)
    assert len(win.filmstrip.selected_paths()) == 2 and win.doc.path == b
    shot = qimage_array(win.filmstrip.grab().toImage())
    accent = np.array(QColor(theme.ACCENT).getRgb()[:3])

    def outlined(path: Path) -> float:  # the share of the frame's left edge in the accent colour
        r = win.filmstrip.visualItemRect(win.filmstrip.items[path])
        edge = shot[r.top() + 8:r.bottom() - 8, r.left() + 1]
        return float((np.abs(edge.astype(int) - accent).max(1) < 40).mean())

    assert outlined(b) > 0.9 and outlined(a) < 0.1


def test_export_cancel_stops_and_leaves_no_partial_files(qtbot, win, folder, tmp_path):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.filmstrip.selectAll()
    dlg = win.export_selection()
    assert "2 photos" in dlg.findChild(type(dlg.message)).text()
    out = tmp_path / "out"
    dlg.out_dir.setText(str(out))
    dlg.fmt.setCurrentIndex(dlg.fmt.findData("tiff16"))
    assert not dlg.quality.isEnabled()  # quality is for JPEG only
    dlg.start()
    qtbot.waitUntil(lambda: dlg._planned_jobs is not None, timeout=TIMEOUT)  # exporting, past its plan
    dlg.cancel()
    assert dlg.cancel_event.is_set()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=TIMEOUT)
    # the window stays with its summary (it closed itself, and the count went with it)
    assert dlg.isVisible() and dlg.message.text().startswith("Cancelled, ") and f"→ {out}" in dlg.message.text()
    assert dlg.cancel_btn.text() == "Close" and dlg.cancel_btn.isEnabled()
    dlg.cancel_btn.click()
    assert not dlg.isVisible() and dlg.result() == dlg.DialogCode.Rejected
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    for p in out.iterdir():  # whatever finished is complete
        assert p.suffix == ".tif" and p.stat().st_size > 100_000


def test_the_export_dialogs_quality_reaches_the_file_and_follows_the_format(qtbot, win, folder, tmp_path):
    """The quality box was never checked to reach the file, and after an export to PNG the box came
    back enabled, as if it applied."""
    photo = folder / "b_dune.jpg"
    open_and_wait(qtbot, win, photo)
    sizes = {}
    for q in (40, 95):
        dlg = win.export_selection()
        dlg.out_dir.setText(str(tmp_path / f"q{q}"))
        dlg.fmt.setCurrentIndex(dlg.fmt.findData("jpeg"))
        dlg.quality.setValue(q)
        dlg.start()
        qtbot.waitUntil(lambda d=dlg: not d.running(), timeout=TIMEOUT * 2)
        (dst,) = (tmp_path / f"q{q}").iterdir()
        sizes[q] = dst.stat().st_size
        dlg.close()
    assert sizes[40] < sizes[95] * 0.7
    dlg = win.export_selection()
    dlg.out_dir.setText(str(tmp_path / "png"))
    dlg.fmt.setCurrentIndex(dlg.fmt.findData("png"))
    assert not dlg.quality.isEnabled()
    dlg.start()
    assert not dlg.quality.isEnabled()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=TIMEOUT * 2)
    assert not dlg.quality.isEnabled() and dlg.long_edge.isEnabled() == dlg.resize.isChecked()
    dlg.close()


def test_the_export_dialogs_sharpening_and_resolution_reach_the_file_and_are_remembered(qtbot, win, folder,
                                                                                          tmp_path):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    shots = {}
    for level, ppi in (("none", 300), ("standard", 240)):
        dlg = win.export_selection()
        assert dlg.ppi.value() == 300  # the default the first time, then the one remembered (300)
        dlg.ppi.setValue(ppi)
        dlg.out_dir.setText(str(tmp_path / level))
        dlg.fmt.setCurrentIndex(dlg.fmt.findData("png"))
        dlg.resize.setChecked(True)
        dlg.long_edge.setValue(400)
        dlg.sharpen.setCurrentIndex(dlg.sharpen.findData(level))
        dlg.start()
        qtbot.waitUntil(lambda d=dlg: not d.running(), timeout=TIMEOUT * 2)
        (dst,) = (tmp_path / level).iterdir()
        with Image.open(dst) as im:
            shots[level] = np.asarray(im.convert("RGB"), np.float64).mean(-1)
            assert im.info["dpi"][0] == pytest.approx(ppi, abs=0.01) and im.getexif()[282] == ppi
        dlg.close()
    assert shots["none"].shape == (250, 400)

    def steps(y: np.ndarray) -> float:
        return float(np.abs(np.diff(y, axis=0)).mean() + np.abs(np.diff(y, axis=1)).mean())

    assert steps(shots["standard"]) > 1.15 * steps(shots["none"])
    again = win.export_selection()
    assert again.sharpen.currentData() == "standard" and again.ppi.value() == 240
    again.close()


def test_paste_selectively_through_the_window_keeps_the_targets_unticked_steps(qtbot, win, folder, monkeypatch):
    """Paste Selectively's ticks were tested on the dialog alone: the window ignoring them went
    unnoticed. Unticked, the target's own white balance stays; the ticked exposure is pasted."""
    from app.paste_dialog import PasteDialog
    from engine.recipe import Recipe, Step

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    doc = win.doc
    win.clipboard = Recipe([Step("white_balance", {"green": 1.1, "blue": 0.8}), Step("exposure", {"ev": 0.7})])
    own = Step("white_balance", {"green": 0.95, "blue": 1.2})
    doc.recipe = Recipe([own])
    monkeypatch.setattr(PasteDialog, "exec", lambda self: PasteDialog.DialogCode.Accepted)
    monkeypatch.setattr(PasteDialog, "ticked", lambda self: [False, True])  # white balance unticked
    monkeypatch.setattr(PasteDialog, "is_append", lambda self: False)
    assert win.paste_recipe(selective=True) == 1
    assert [(s.op, s.params) for s in doc.recipe] == [("white_balance", own.params), ("exposure", {"ev": 0.7})]


def test_exports_beside_the_originals_say_their_names_and_are_not_exported_again(qtbot, win, folder):
    """Exported into the photos' own folder, b_dune.jpg's output became b_dune_jpg.jpg without a
    word; then Select All ▸ Export took the exports for photos and exported them again (Batch
    Export leaves them out)."""
    from app.export_dialog import ExportDialog

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.filmstrip.selectAll()
    dlg = win.export_selection()
    dlg.out_dir.setText(str(folder))
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=TIMEOUT * 2)
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".jpg") == ["a_dune.jpg", "b_dune.jpg",
                                                                               "b_dune_jpg.jpg"]
    assert dlg.message.text().endswith("Saved under another name, as the template's was taken: "
                                       "b_dune.jpg → b_dune_jpg.jpg")
    dlg.close()
    photos = sorted(p for p in folder.iterdir() if p.suffix in (".jpg", ".dng"))  # all four, as Select All
    again = ExportDialog([(p, None) for p in photos], win.settings, win)
    qtbot.addWidget(again)
    again.out_dir.setText(str(folder / "web"))
    again.start()
    qtbot.waitUntil(lambda: not again.running(), timeout=TIMEOUT * 2)
    assert "2 left out (Retouch's own exports)" in again.message.text()
    assert sorted(p.name for p in (folder / "web").iterdir()) == ["a_dune.jpg", "b_dune.jpg"]
    only_ours = ExportDialog([(folder / "a_dune.jpg", None)], win.settings, win)
    qtbot.addWidget(only_ours)
    only_ours.start()
    qtbot.waitUntil(lambda: not only_ours.running(), timeout=TIMEOUT)
    assert "all Retouch's own exports" in only_ours.message.text()
    assert only_ours.export_btn.isEnabled() and only_ours.export_btn.text() == "Export"


def test_a_selected_photo_that_cannot_be_opened_is_said_to_be_left_out_of_the_export(qtbot, win, folder):
    (folder / "c_broken.jpg").write_bytes(b"\xff\xd8 not a whole JPEG")
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.open_path(folder)
    qtbot.waitUntil(lambda: win.filmstrip.is_failed(folder / "c_broken.jpg"), timeout=TIMEOUT)
    assert win.folder_bar.counts.text() == "3 photos (1 cannot be opened)"  # counted unsaid before
    win.filmstrip.selectAll()
    dlg = win.export_selection()
    head = dlg.findChildren(type(dlg.message))[0].text()
    assert head == "Export <b>2 photos</b> (1 selected photo that cannot be opened left out)", head
    dlg.close()


def test_the_window_stays_usable_while_an_export_dialog_is_open_and_exports_the_recipe_at_start(
        qtbot, win, folder, tmp_path):
    """Both export dialogs were window-modal: culling and editing waited for a 500-photo batch.
    Open beside the window, Export takes each photo's recipe as it is when pressed."""
    from PySide6.QtCore import Qt

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    dlg = win.export_selection()
    assert dlg.isVisible() and dlg.windowModality() == Qt.WindowModality.NonModal and not dlg.isModal()
    win.clipboard = Recipe([Step("exposure", {"ev": 1.0})])  # pasted after the dialog opened, before Export
    assert win.paste_recipe() == 1 and win.doc.recipe.steps[0].params["ev"] == 1.0
    dlg.out_dir.setText(str(tmp_path / "out"))
    dlg.fmt.setCurrentIndex(dlg.fmt.findData("png"))
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=TIMEOUT * 2)
    with Image.open(tmp_path / "out" / "b_dune.png") as im:
        exported = np.asarray(im.convert("RGB"), np.float64).mean()
    with Image.open(folder / "b_dune.jpg") as im:
        original = np.asarray(im.convert("RGB"), np.float64).mean()
    assert exported > original + 20  # +1 EV: the edit made while the dialog was open
    batch = win.batch_export()
    assert batch.isVisible() and not batch.isModal()
    batch.close()


def test_a_quit_refused_once_asks_again_next_time(qtbot, win, folder):
    """After "Cancel Export and Quit" and then "Keep Retouch Open" at the unsaved-edits question,
    the window took itself to be quitting for good: a later close during an export was ignored
    without a word, and the window stayed when that export ended."""
    photo = folder / "b_dune.jpg"
    open_and_wait(qtbot, win, photo)
    photo.unlink()
    win.panel.add_step("exposure")  # edits that cannot be saved: the quit asks about them
    win.flush_sidecars(wait=True)
    for b in [w for w in QApplication.topLevelWidgets() if w.objectName() == "errorBox"]:
        b.close()
    win._quitting = True  # as the exports' cancel left it before the window closed itself
    win._ask_quit_unsaved = lambda docs: False  # "Keep Retouch Open"
    win.close()
    assert win.isVisible() and not win._quitting


def test_a_second_export_into_a_folder_being_written_waits_its_turn(qtbot, win, folder, tmp_path):
    """The export dialogs are not modal: two of them into one folder rendered every photo twice."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.filmstrip.selectAll()
    first = win.export_selection()
    first.out_dir.setText(str(tmp_path / "out"))
    first.fmt.setCurrentIndex(first.fmt.findData("tiff16"))
    first.start()
    second = win.export_selection()  # Ctrl+E again while the first exports: a dialog of its own
    assert second is not first
    second.out_dir.setText(str(tmp_path / "out"))
    second.fmt.setCurrentIndex(second.fmt.findData("tiff16"))
    second.start()
    assert first.running() and not second.running()
    assert f"another export is writing into {tmp_path / 'out'}" in second.message.text()
    qtbot.waitUntil(lambda: not first.running(), timeout=TIMEOUT * 2)
    second.overwrite.setChecked(True)
    second.start()  # its turn now
    qtbot.waitUntil(lambda: not second.running(), timeout=TIMEOUT * 2)
    assert second.message.text().startswith("2 exported")


def test_the_batch_dialog_follows_the_windows_auto_while_open(qtbot, win, folder):
    """Not modal now: a strength changed in the window after Batch Export opened was neither said
    ("as in the window") nor used."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    dlg = win.batch_export()
    before = win.strength
    win.set_strength(0.3 if before != 0.3 else 0.4)
    assert {j.settings.strength for j in dlg.plan()} == {win.strength} != {before}
    said = f"Auto uses the shipped model, strength {round(100 * win.strength)} %, as in the window"
    assert dlg.auto_label.text() == said
    dlg.close()


def test_a_card_pulled_out_and_put_back(qtbot, win, tmp_path, photo_jpeg):
    """A photo shown while its folder was gone stayed "cannot be opened" for the rest of the session,
    even with the folder back; and showing an edited one then read its missing sidecar as edits
    removed on disk, wiping its steps from the window (an undo entry "changed on disk")."""
    from engine.recipe import Recipe, Step, sidecar_path

    card = tmp_path / "card"
    card.mkdir()
    for n in ("p0", "p1", "p2"):
        shutil.copy(photo_jpeg, card / f"{n}.jpg")
    Recipe([Step("exposure", {"ev": 0.5})]).save(sidecar_path(card / "p2.jpg"))
    open_and_wait(qtbot, win, card / "p0.jpg")
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.show_photo(card / "p2.jpg")  # known to the window, with its edits
    edited = win.get_doc(card / "p2.jpg")
    steps = edited.recipe.dumps()
    win.show_photo(card / "p0.jpg")
    away = tmp_path / "pulled"
    card.rename(away)
    win.show_photo(card / "p2.jpg")  # its folder gone: its edits stay as they are
    assert edited.recipe.dumps() == steps and edited.undo.count() == 0 and not edited.dirty
    win.show_photo(card / "p1.jpg")
    qtbot.waitUntil(lambda: win.get_doc(card / "p1.jpg").failed is not None, timeout=TIMEOUT)
    assert win.filmstrip.is_failed(card / "p1.jpg")
    away.rename(card)  # put back
    win.show_photo(card / "p0.jpg")
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.show_photo(card / "p1.jpg")
    assert win.doc.failed is None and win.doc.preview_linear is not None
    assert not win.filmstrip.is_failed(card / "p1.jpg")
    assert edited.recipe.dumps() == steps


def test_an_export_stopped_by_a_full_disk_says_so_not_cancelled(qtbot, win, folder, tmp_path):
    """It said "Cancelled" (the engine stops itself on a full disk), named each photo twice and left
    out the photos never started."""
    from engine.batch import Job, Plan
    from engine.batch_worker import Result

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    dlg = win.export_selection()
    out = tmp_path / "full"
    srcs = [folder / "a_dune.dng", folder / "b_dune.jpg", folder / "c.jpg"]
    dlg.plan = Plan([Job(s, out / f"{s.stem}.jpg") for s in srcs])
    reason = "cannot write (No space left on device)"
    dlg.results = [Result(srcs[0], out / "a_dune.jpg", "failed", f"a_dune.dng: {reason}", fatal=True),
                   Result(srcs[1], out / "b_dune.jpg", "failed", f"b_dune.jpg: {reason}", fatal=True)]
    dlg.cancel_event.set()  # as the engine sets it when it stops
    dlg._finished()
    said = dlg.message.text()
    assert said.startswith(f"Stopped ({reason}, so no later photo could be written either), 0 exported")
    assert "Cancelled" not in said and "a_dune.dng: a_dune.dng" not in said
    assert f"2 failed: a_dune.dng: {reason}; b_dune.jpg: {reason}" in said and "1 not exported" in said
    dlg.close()


def test_a_name_too_long_for_its_edits_file_says_to_rename_the_photo(qtbot, win, tmp_path, photo_jpeg, monkeypatch):
    """A 245-byte name opens and exports, but its sidecar's name is past the file system's 255: the box
    said the edits would be saved at the next edit, which can never be."""
    import app.window_sidecars as sidecars

    d = tmp_path / "long"
    d.mkdir()
    photo = d / ("L" * 241 + ".jpg")
    shutil.copy(photo_jpeg, photo)
    said = []
    monkeypatch.setattr(sidecars, "show_error", lambda parent, title, text: said.append(text))
    open_and_wait(qtbot, win, photo)
    win.panel.add_step("exposure")
    win.flush_sidecars(wait=True)
    qtbot.waitUntil(lambda: bool(said), timeout=TIMEOUT)
    assert "its name is too long for the file system" in said[0] and "rename the photo" in said[0]
    assert said[0].count("L" * 241) == 1  # named once, not twice with its sidecar's path


def test_the_export_dialog_plans_off_the_gui_thread(qtbot, win, folder, tmp_path, monkeypatch):
    """As Batch Export: a selection's folder and its earlier exports were read on the GUI thread."""
    import threading

    import engine.batch

    threads, real = [], engine.batch.plan_jobs
    monkeypatch.setattr(engine.batch, "plan_jobs", lambda *a, **k: threads.append(threading.current_thread())
                        or real(*a, **k))
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    dlg = win.export_selection()
    dlg.out_dir.setText(str(tmp_path / "out"))
    dlg.start()
    assert dlg.running() and dlg.message.text() == "Looking at the photos and the export folder…"
    qtbot.waitUntil(lambda: not dlg.running(), timeout=TIMEOUT * 2)
    assert threads and threading.main_thread() not in threads
    assert dlg.message.text().startswith("1 exported") and (tmp_path / "out" / "b_dune.jpg").is_file()
    dlg.close()


def test_edits_kept_when_their_sidecar_is_spoilt_or_deleted_by_another_program(qtbot, win, folder):
    """A sidecar spoilt by another program while the photo was not shown: the window said the photo
    kept its edits, but left them unsaved and unasked at quit (none on disk: the photo reopened
    unedited). One deleted while Retouch was behind another window showed edits that were no longer
    on disk; it is read again as the window comes forward."""
    from PySide6.QtCore import QEvent

    a, b = folder / "a_dune.dng", folder / "b_dune.jpg"
    open_and_wait(qtbot, win, b)
    win.panel.add_step("exposure")
    win.flush_sidecars(wait=True)
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.filmstrip.select_path(a)
    sidecar_path(b).write_text("{ not json")
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.filmstrip.select_path(b)
    assert any("saved again" in x.text() for x in _error_boxes())
    _close_boxes()
    assert [s.op for s in win.doc.recipe.steps] == ["exposure"]  # and saved again (the autosave may be done)
    win.flush_sidecars(wait=True)
    assert [s.op for s in read_sidecar(b).steps] == ["exposure"]
    assert list(folder.glob("b_dune.jpg.retouch.json.bad*"))  # theirs set aside, not lost either
    sidecar_path(b).unlink()  # deleted while another application is in front
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=TIMEOUT)
    win.changeEvent(QEvent(QEvent.Type.ActivationChange))  # as the window comes forward
    assert len(win.doc.recipe) == 0 and not sidecar_path(b).exists()
    win.doc.undo.undo()  # the edits shown before come back, and are saved again
    win.flush_sidecars(wait=True)
    assert [s.op for s in read_sidecar(b).steps] == ["exposure"]


def test_a_paste_onto_a_shoot_with_sidecars_it_cannot_use(qtbot, win, tmp_path, photo_jpeg):
    """Select All, Paste: the photo copied from was pasted onto too (every step relabelled "pasted",
    the agent's confidences dropped, an undo entry that changed nothing); a photo whose sidecar is a
    newer Retouch's showed the pasted steps that were never saved, under "Pasted onto 6 photo(s)";
    each unreadable sidecar popped its own message box. Those edits stay dirty: quitting asks."""
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for n in ("p0", "p1", "p2", "p3"):
        shutil.copy(photo_jpeg, shoot / f"{n}.jpg")
    newer = '{"format": 99, "app": "retouch", "steps": []}'
    sidecar_path(shoot / "p2.jpg").write_text(newer)
    sidecar_path(shoot / "p3.jpg").write_text("{ not json")
    open_and_wait(qtbot, win, shoot / "p0.jpg")
    auto_and_wait(qtbot, win)
    labels = [c.confidence.text() for c in win.panel.steps.cards]
    win.copy_recipe()
    win.filmstrip.selectAll()
    assert win.paste_recipe() == 2  # p1 and p3
    assert [c.confidence.text() for c in win.panel.steps.cards] == labels and win.doc.undo.count() == 1
    said = win.statusBar().currentMessage()
    assert said.startswith("Pasted onto 2 photo(s); not onto p2.jpg") and "newer Retouch" in said, said
    boxes = [x.text() for x in _error_boxes()]
    assert len(boxes) == 1 and "p3.jpg" in boxes[0], boxes
    _close_boxes()
    win.flush_sidecars(wait=True)
    for n in ("p1", "p3"):
        assert len(read_sidecar(shoot / f"{n}.jpg").steps) == len(labels)
    assert sidecar_path(shoot / "p2.jpg").read_text() == newer and len(win.get_doc(shoot / "p2.jpg").recipe) == 0
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):  # edited by hand there: kept, never saved
        win.filmstrip.select_path(shoot / "p2.jpg")
    assert any("newer Retouch" in x.text() for x in _error_boxes())  # said as it is shown, not lost in the paste
    _close_boxes()
    win.panel.add_step("gamma")
    win.flush_sidecars(wait=True)
    assert sidecar_path(shoot / "p2.jpg").read_text() == newer
    asked = []
    win._ask_quit_unsaved = lambda docs: asked.append([d.name for d in docs]) or False
    win.close()
    assert asked == [["p2.jpg"]]
    win._ask_quit_unsaved = lambda docs: True


def test_closing_the_window_stops_the_decodes_it_no_longer_needs(qtbot, win, folder, monkeypatch):
    """Quitting while a large photo decoded: the window went, but the app's exit waited for its
    decodes (5-25 s, gigabytes held), which still counted as wanted."""
    import time

    from PySide6.QtCore import QThreadPool

    from engine.io.safe import FAULT_ENV

    monkeypatch.setenv(FAULT_ENV, "hang")  # every decode child hangs, as a huge photo's takes seconds
    win.show_photo(folder / "a_dune.dng")
    pool = QThreadPool.globalInstance()
    qtbot.waitUntil(lambda: pool.activeThreadCount() > 0, timeout=TIMEOUT)
    qtbot.wait(300)
    assert not pool.waitForDone(200)  # still decoding
    win.close()
    t = time.perf_counter()
    assert pool.waitForDone(10_000) and time.perf_counter() - t < 3
