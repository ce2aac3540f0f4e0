"""Closing the main window while an export runs: it asks, and either keeps exporting or cancels
cleanly and closes once the photos in progress are written (no crash, no half-written file)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from qt_helpers import TIMEOUT, open_and_wait


def answer_quit_question(button_text: str, seen: list[str]) -> None:
    """Click ``button_text`` in the window's modal question as soon as it is up (it runs its own
    event loop, so the answer has to come from a timer)."""
    box = next((w for w in QApplication.topLevelWidgets()
                if isinstance(w, QMessageBox) and w.objectName() == "quit-during-export" and w.isVisible()), None)
    if box is None:
        QTimer.singleShot(20, lambda: answer_quit_question(button_text, seen))
        return
    seen.append(box.text())
    next(b for b in box.buttons() if b.text() == button_text).click()


def start_export(qtbot, win, folder: Path, out: Path):
    win.__dict__.pop("_ask_cancel_exports", None)  # the real question (conftest answers it for other tests)
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.filmstrip.selectAll()
    dlg = win.export_selection()
    dlg.out_dir.setText(str(out))
    dlg.fmt.setCurrentIndex(dlg.fmt.findData("tiff16"))  # full resolution, 16 bit: seconds per photo
    dlg.start()
    assert dlg.running()
    return dlg


def complete_outputs(out: Path) -> list[Path]:
    """The files in ``out``; fails on a temp/partial file or one that does not decode whole."""
    files = sorted(out.iterdir()) if out.exists() else []
    assert not [p.name for p in files if p.name.startswith(".") or ".part" in p.name]
    for p in files:
        with Image.open(p) as im:
            im.load()  # a truncated TIFF raises here
            assert im.size[0] * im.size[1] > 100_000  # the full-resolution photo
    return files


@pytest.mark.parametrize("answer", ["Cancel Export and Quit", "Keep Exporting"])
def test_closing_during_an_export_asks_first(qtbot, win, folder, tmp_path, answer):
    out = tmp_path / "out"
    dlg = start_export(qtbot, win, folder, out)
    seen: list[str] = []
    QTimer.singleShot(0, lambda: answer_quit_question(answer, seen))
    win.close()
    assert seen and "export" in seen[0].lower()  # it asked before anything else
    assert win.isVisible()  # never closed under a running export
    if answer == "Keep Exporting":
        assert not dlg.cancel_event.is_set()
        qtbot.waitUntil(lambda: not dlg.running(), timeout=TIMEOUT * 2)
        assert len(complete_outputs(out)) == 2 and win.isVisible()
        win.close()  # nothing running now: closes without a question
        assert not win.isVisible()
    else:
        assert dlg.cancel_event.is_set()
        qtbot.waitUntil(lambda: not win.isVisible(), timeout=TIMEOUT * 2)  # closes by itself once stopped
        assert not dlg.running()
        assert len(complete_outputs(out)) <= 2  # whatever was in progress finished whole
        win.close()  # a second close after the export stopped is harmless


def test_escape_during_an_export_cancels_it_and_keeps_the_dialog(qtbot, win, folder, tmp_path):
    """Esc hid the dialog while the export ran on behind it, its summary shown to no one."""
    from PySide6.QtCore import Qt

    dlg = start_export(qtbot, win, folder, tmp_path / "out")
    qtbot.keyClick(dlg, Qt.Key.Key_Escape)
    assert dlg.isVisible() and dlg.cancel_event.is_set()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=TIMEOUT * 2)
    complete_outputs(tmp_path / "out")
    qtbot.keyClick(dlg, Qt.Key.Key_Escape)  # nothing running: Esc closes it
    assert not dlg.isVisible()
