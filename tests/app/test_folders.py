"""Folders of folders and the filmstrip's order: the bar over the filmstrip goes up to a parent, down into a
sub-folder, and sorts by name or capture time."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import piexif
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from qt_helpers import TIMEOUT, open_and_wait

from app.window import MainWindow
from engine.recipe import read_sidecar


@pytest.fixture
def shoots(tmp_path: Path, dng_file: Path, photo_jpeg: Path) -> Path:
    """A year folder holding no photo itself: two shoots (two photos and one) and an empty folder."""
    year = tmp_path / "Pictures" / "2026"
    for name, files in (("12-05 Wedding", (dng_file, photo_jpeg)), ("12-01 Dunes", (photo_jpeg,)), ("empty", ())):
        d = year / name
        d.mkdir(parents=True)
        for f in files:
            shutil.copy2(f, d / f.name)
    (year / ".hidden").mkdir()
    return year


def _menu_texts(qtbot, win) -> list[str]:
    """Folders ▾ as shown once its photo counts are in (counted off the GUI thread)."""
    win.folder_bar._fill_menu()
    qtbot.waitUntil(lambda: win.folder_bar.counted, timeout=10_000)
    return [a.text() for a in win.folder_bar.menu.actions()]


def test_a_folder_of_folders_says_where_its_photos_are_and_opens_them(qtbot, win, shoots):
    assert not win.open_path(shoots)
    assert win.filmstrip.count() == 0
    assert "12-01 Dunes (1), 12-05 Wedding (2)" in win.viewer.message  # natural order, with counts
    assert _menu_texts(qtbot, win) == ["12-01 Dunes\t1 photo", "12-05 Wedding\t2 photos", "empty"]  # no hidden one
    assert win.folder_bar.counts.text() == "0 photos"
    wedding = next(a for a in win.folder_bar.menu.actions() if a.text().startswith("12-05"))
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        wedding.trigger()
    assert win.folder == shoots / "12-05 Wedding"
    assert sorted(p.name for p in win.filmstrip.paths()) == sorted(p.name for p in (shoots / "12-05 Wedding").iterdir())
    assert win.folder_bar.counts.text() == "2 photos"
    win.filmstrip.selectAll()
    assert win.folder_bar.counts.text() == "2 photos · 2 selected"
    assert _menu_texts(qtbot, win) == ["No sub-folders"]


def test_going_up_leaves_the_photo_so_no_shortcut_edits_it_unseen(qtbot, win, shoots):
    """Up to a folder without photos, the photo shown before is no longer the one edited: Reset,
    Add Step or Paste had acted on a photo no longer on screen."""
    photo = shoots / "12-01 Dunes" / "dune.jpg"
    open_and_wait(qtbot, win, photo)
    win.panel.add_step("exposure")
    win.flush_sidecars(wait=True)
    # the breadcrumb's last button is the parent folder
    crumbs = [win.folder_bar.crumbs.itemAt(i).widget() for i in range(win.folder_bar.crumbs.count())]
    buttons = [w for w in crumbs if hasattr(w, "click")]
    assert buttons[-1].text() == "2026"
    buttons[-1].click()
    assert win.folder == shoots and win.doc is None
    win.reset()
    win.copy_recipe()
    assert not win.panel.auto.isEnabled()
    assert len(read_sidecar(photo)) == 1  # still edited
    assert win.windowTitle() == "Retouch"
    win.open_parent_folder()  # Alt+Up
    assert win.folder == shoots.parent and "No photos" in win.viewer.message


def _dated_copy(src: Path, dst: Path, when: str) -> None:
    """The real photo with its EXIF capture date set to ``when`` (its pixels untouched)."""
    exif = piexif.load(str(src))
    exif["Exif"][piexif.ExifIFD.DateTimeOriginal] = when.encode()
    shutil.copy2(src, dst)
    piexif.insert(piexif.dump(exif), str(dst))


def test_the_filmstrip_sorts_by_capture_time_and_remembers_it(qtbot, win, tmp_path, photo_jpeg):
    """Two cameras' files, or a phone's among them, interleave by name; by capture time they show
    in the order they were shot, a file without a date at its modification time."""
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for name, when in (("a.jpg", "2026:12:05 15:00:00"), ("b.jpg", "2026:12:05 10:00:00"),
                       ("c.jpg", "2026:12:05 12:30:00")):
        _dated_copy(photo_jpeg, shoot / name, when)
    undated = shoot / "d.png"
    Image.open(photo_jpeg).save(undated)  # no EXIF: its file time, the earliest
    os.utime(undated, (datetime(2026, 12, 5, 9).timestamp(),) * 2)
    open_and_wait(qtbot, win, shoot / "c.jpg")
    names = lambda: [p.name for p in win.filmstrip.paths()]  # noqa: E731
    rows = lambda: [win.filmstrip.item(i).text() for i in range(win.filmstrip.count())]  # noqa: E731
    assert names() == rows() == ["a.jpg", "b.jpg", "c.jpg", "d.png"]
    win.folder_bar.sort_actions["time"].trigger()
    qtbot.waitUntil(lambda: rows() == ["d.png", "b.jpg", "c.jpg", "a.jpg"], timeout=TIMEOUT)
    assert names() == rows()
    assert win.doc.path.name == "c.jpg" and win.filmstrip.selected_paths() == [shoot / "c.jpg"]
    assert win.folder_bar.sort.text() == "Sort: Capture time ▾"
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.filmstrip.step(+1)  # Ctrl+Right follows the order shown
    assert win.doc.path.name == "a.jpg"
    # remembered: the next window opens the folder in that order
    other = MainWindow(win.settings)
    qtbot.addWidget(other)
    other.open_path(shoot)
    qtbot.waitUntil(lambda: [p.name for p in other.filmstrip.paths()] == ["d.png", "b.jpg", "c.jpg", "a.jpg"],
                    timeout=TIMEOUT)
    other.close()
    win.folder_bar.sort_actions["name"].trigger()
    assert rows() == ["a.jpg", "b.jpg", "c.jpg", "d.png"]
    assert win.doc.path.name == "a.jpg"


def test_a_folder_opened_in_capture_order_shows_its_first_shot_and_a_late_order_is_dropped(qtbot, win, tmp_path,
                                                                                        photo_jpeg):
    """Sorted by capture time, a folder opened on the first photo by name (the newest, shown last in
    the strip); and dates landing after the photographer went back to File name re-sorted the strip
    under a button saying File name."""
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for name, when in (("a.jpg", "2026:12:05 15:00:00"), ("b.jpg", "2026:12:05 10:00:00"),
                       ("c.jpg", "2026:12:05 12:30:00")):
        _dated_copy(photo_jpeg, shoot / name, when)
    win.folder_bar.sort_actions["time"].trigger()
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.open_path(shoot)
    qtbot.waitUntil(lambda: win.doc is not None and win.doc.path.name == "b.jpg", timeout=TIMEOUT)
    assert [p.name for p in win.filmstrip.paths()] == ["b.jpg", "c.jpg", "a.jpg"]
    assert win.filmstrip.selected_paths() == [shoot / "b.jpg"]
    # time, then at once name: the dates' late answer is dropped
    win.folder_bar.sort_actions["name"].trigger()
    win.folder_bar.sort_actions["time"].trigger()
    win.folder_bar.sort_actions["name"].trigger()
    qtbot.wait(1500)
    assert [p.name for p in win.filmstrip.paths()] == ["a.jpg", "b.jpg", "c.jpg"]
    assert win.folder_bar.sort.text() == "Sort: File name ▾"


def test_a_folder_that_cannot_be_read_says_why(qtbot, win, shoots, monkeypatch, refuse_listing):
    """It said 'No photos in …', and Folders ▾ listed it like an empty one. (Root reads any folder,
    so the refusal is simulated where the app lists folders.)"""
    locked = shoots / "12-01 Dunes"
    refuse_listing(locked)
    win.open_path(shoots)
    assert "12-01 Dunes\tcannot be read" in _menu_texts(qtbot, win)
    monkeypatch.setattr("app.window.list_photos", lambda folder: [])  # what the app lists there
    assert not win.open_path(locked)
    assert win.viewer.message == f"Cannot read the folder {locked}: Permission denied"


def test_in_a_narrow_window_the_parents_give_way_to_the_folders_name(qtbot, win, tmp_path, photo_jpeg):
    deep = tmp_path / "Pictures" / "2026" / "12-05 Wedding of Anne-Sophie and Jean-Baptiste in Biarritz"
    deep.mkdir(parents=True)
    shutil.copy(photo_jpeg, deep / "a.jpg")
    win.resize(700, 700)
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.open_path(deep)
    bar = win.folder_bar
    qtbot.waitUntil(lambda: bar.folders.geometry().right() <= bar.path_box.width(), timeout=5000)
    shown = [bar.crumbs.itemAt(i).widget() for i in range(bar.crumbs.count())]
    assert shown[-1].isVisibleTo(bar) and not shown[0].isVisibleTo(bar)  # the farthest parent gave way
    win.resize(1400, 800)
    qtbot.waitUntil(lambda: all(w.isVisibleTo(bar) for w in shown), timeout=5000)


def test_folders_menu_lists_names_at_once_and_counts_in_the_background(qtbot, win, shoots, monkeypatch):
    """Each of up to 300 sub-folders was listed on the GUI thread to count its photos before the
    menu opened: seconds of a frozen window on a slow network share."""
    import threading

    import engine.folders as folders

    gate, threads = threading.Event(), set()

    def slow(folder):  # a share that answers only when the test lets it
        threads.add(threading.current_thread())
        gate.wait(10)
        return folders.photo_count(folder)

    win.open_path(shoots)
    monkeypatch.setattr("app.folder_bar.photo_count", slow)
    win.folder_bar._fill_menu()  # returns with no count made: they wait on the gate, off this thread
    assert [a.text() for a in win.folder_bar.menu.actions()] == ["12-01 Dunes", "12-05 Wedding", "empty"]
    assert not win.folder_bar.counted
    gate.set()
    qtbot.waitUntil(lambda: win.folder_bar.counted, timeout=10_000)
    assert threads and threading.main_thread() not in threads
    assert [a.text() for a in win.folder_bar.menu.actions()] == ["12-01 Dunes\t1 photo", "12-05 Wedding\t2 photos",
                                                                  "empty"]


def test_a_folder_of_many_folders_is_said_without_counting_them_all(qtbot, win, tmp_path, photo_jpeg, monkeypatch):
    """Its message counted the photos of up to 300 sub-folders on the GUI thread (a listing each)."""
    import engine.folders as folders

    top = tmp_path / "Pictures"
    for i in range(60):
        (top / f"shoot {i:02d}").mkdir(parents=True)
        shutil.copy(photo_jpeg, top / f"shoot {i:02d}" / "a.jpg")
    counted: list[Path] = []
    monkeypatch.setattr("app.folder_bar.photo_count", lambda p: counted.append(p) or folders.photo_count(p))
    assert not win.open_path(top)
    assert win.viewer.message.startswith("No photos in Pictures itself; its folders hold some: shoot 00 (1), "
                                         "shoot 01 (1), shoot 02 (1), shoot 03 (1) and more.")
    assert len(counted) == 5


def test_folder_names_with_an_ampersand_show_as_they_are(qtbot, win, tmp_path, photo_jpeg):
    """The QA's: "Smith & Jones wedding" read "Smith _Jones wedding" in the path bar, "R&D" read "RD"
    in Folders ▾ (and gave it Alt+D), and Open Recent mangled the paths: Qt takes "&" for a
    shortcut's mark. Each shows as written, "&&" being Qt's literal "&"."""
    from PySide6.QtWidgets import QToolButton

    wedding = tmp_path / "Smith & Jones wedding"
    (wedding / "Vows & rings" / "R&D").mkdir(parents=True)
    shutil.copy(photo_jpeg, wedding / "Vows & rings" / "a.jpg")
    open_and_wait(qtbot, win, wedding / "Vows & rings" / "a.jpg")
    crumbs = [b.text() for b in win.folder_bar.findChildren(QToolButton) if "Jones" in b.text()]
    assert crumbs == ["Smith && Jones wedding"]  # a parent, as a button
    assert _menu_texts(qtbot, win) == ["R&&D"]
    assert win.recent_menu.actions()[0].text() == str(wedding / "Vows & rings").replace("&", "&&")
    wedding = wedding / "Vows & rings"
    with qtbot.waitSignal(win.folder_bar.folder_chosen, timeout=TIMEOUT) as chosen:
        win.folder_bar.menu.actions()[0].trigger()
    assert chosen.args == [wedding / "R&D"]  # the path itself, unescaped


def test_tab_reaches_the_path_before_folders_and_the_filmstrip(qtbot, win, folder):
    """The path's buttons, made last, came after the filmstrip in Tab's order, though they stand
    left of Folders ▾, above it (QA)."""
    from PySide6.QtWidgets import QToolButton

    open_and_wait(qtbot, win, folder)
    bar = win.folder_bar
    crumbs = [w for i in range(bar.crumbs.count()) if isinstance(w := bar.crumbs.itemAt(i).widget(), QToolButton)]
    assert crumbs

    def next_stop(w):
        w = w.nextInFocusChain()
        while not (w.focusPolicy() & Qt.FocusPolicy.TabFocus and w.isVisible() and w.isEnabled()):
            w = w.nextInFocusChain()
        return w

    shown = [c for c in crumbs if c.isVisible()]
    assert [next_stop(c) for c in shown] == [*shown[1:], bar.folders]
    assert next_stop(bar.folders) is bar.sort and next_stop(bar.sort) is win.filmstrip
    assert next_stop(win.filmstrip) not in crumbs  # the filmstrip is the last of the window's stops
