"""The bar over the filmstrip: where the photos come from, its sub-folders, and how many there are.

A shoot often lives in folders of folders (``Pictures/2026/12-05 Wedding``): the path's parts go
to a parent folder, the Folders menu into a sub-folder, as Lightroom's filmstrip header and
darktable's folders module do. Opening a folder of folders showed only "No photos".
"""

from __future__ import annotations

import itertools
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QSizePolicy, QToolButton, QWidget

from engine.folders import MAX_SUBFOLDERS, folder_error, photo_count, sub_folder_names

from .workers import run_in_pool

#: A folder of folders' message counts the photos of at most this many of them
SAID_COUNTED = 40
#: Parent folders shown as buttons before the current one (the rest as "…")
SHOWN_PARENTS = 3


#: (key, label) of the filmstrip's orders
SORTS = (("name", "File name"), ("time", "Capture time"))


def literal(text: str) -> str:
    """``text`` shown as it is on a button or in a menu, where Qt takes "&" for a shortcut's mark:
    "Smith & Jones" read "Smith _Jones", and "R&D" gave Alt+D to a folder."""
    return text.replace("&", "&&")


class FolderBar(QWidget):
    folder_chosen = Signal(object)  # Path
    sort_chosen = Signal(str)  # a key of SORTS

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("folderBar")
        self.folder: Path | None = None
        self.count = self.selected = self.unreadable = 0
        self._menu_fill = 0  # which filling of the Folders menu its counts belong to
        self.counted = True  # the Folders menu's photo counts are in
        self.lay = QHBoxLayout(self)
        self.lay.setContentsMargins(6, 2, 8, 2)
        self.lay.setSpacing(2)
        # the path and Folders ▾ may be cut at the right in a narrow window; they never widen it
        path_box = QWidget()
        path_box.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        path_lay = QHBoxLayout(path_box)
        path_lay.setContentsMargins(0, 0, 0, 0)
        path_lay.setSpacing(0)
        self.crumbs = QHBoxLayout()
        self.crumbs.setSpacing(0)
        path_lay.addLayout(self.crumbs)
        self.lay.addWidget(path_box, 1)
        self.path_box = path_box
        self.menu = QMenu(self)
        self.menu.aboutToShow.connect(self._fill_menu)  # listed when opened: a folder opens without it
        self.folders = QToolButton(text="Folders ▾")
        self.folders.setToolTip("Open one of this folder's sub-folders")
        self.folders.setMenu(self.menu)
        self.folders.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.folders.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0; }")
        path_lay.addSpacing(8)
        path_lay.addWidget(self.folders)
        path_lay.addStretch(1)
        self.sort = QToolButton()
        self.sort.setToolTip("The filmstrip's order")
        self.sort.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.sort.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0; }")
        sort_menu = QMenu(self.sort)
        group = QActionGroup(self)
        self.sort_actions = {}
        for key, label in SORTS:
            a = sort_menu.addAction(label)
            a.setCheckable(True)
            group.addAction(a)
            a.triggered.connect(lambda *_, k=key: self._sort_picked(k))
            self.sort_actions[key] = a
        self.sort.setMenu(sort_menu)
        self.set_sort("name")
        self.lay.addWidget(self.sort)
        self.lay.addSpacing(12)
        self.counts = QLabel("")
        self.counts.setObjectName("muted")
        self.lay.addWidget(self.counts)
        self.setVisible(False)

    def set_folder(self, folder: Path, count: int) -> None:
        self.folder, self.count, self.selected, self.unreadable = folder, count, 0, 0
        while self.crumbs.count():
            w = self.crumbs.takeAt(0).widget()
            if w is not None:  # hidden at once: deleteLater waits for the event loop
                w.hide()
                w.deleteLater()
        parents = list(reversed(folder.parents))  # "/", "/home", ..., the folder's parent
        if len(parents) > SHOWN_PARENTS:
            self._add_label("…", str(parents[-SHOWN_PARENTS - 1]))
            parents = parents[-SHOWN_PARENTS:]
        for p in parents:
            b = QToolButton(text=literal(_short(p.name or str(p))))
            b.setToolTip(f"Open {p}")
            b.clicked.connect(lambda *_, p=p: self.folder_chosen.emit(p))
            self.crumbs.addWidget(b)
            self._add_label("›")
        here = self._add_label(_short(folder.name or str(folder)), str(folder))
        here.setStyleSheet("font-weight: 600;")
        # Tab reaches the parents before Folders ▾, as they stand: made last, they came after the filmstrip
        crumbs = [self.crumbs.itemAt(i).widget() for i in range(self.crumbs.count())]
        buttons = [w for w in crumbs if isinstance(w, QToolButton)]
        before = self.folders.previousInFocusChain()  # the last stop before it (+ Add step)
        while before is not self.folders and (before in buttons or not before.focusPolicy() & Qt.FocusPolicy.TabFocus):
            before = before.previousInFocusChain()
        for a, b in itertools.pairwise([before, *buttons, self.folders, self.sort]):
            QWidget.setTabOrder(a, b)
        self._show_counts()
        self.setVisible(True)
        self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        """In a narrow window the parents give way, the farthest first, so that the current
        folder's name and Folders ▾ stay whole (it was cut mid-letter)."""
        items = [self.crumbs.itemAt(i).widget() for i in range(self.crumbs.count())]
        for w in items:
            w.setVisible(True)
        room = self.path_box.width() - self.folders.sizeHint().width() - 8
        parents = items[:-1]  # the "…", each parent and its "›"; the last is the folder itself
        while parents and sum(w.sizeHint().width() for w in items if w.isVisibleTo(self)) > room:
            parents.pop(0).setVisible(False)
            while parents and isinstance(parents[0], QLabel) and parents[0].text() == "›":
                parents.pop(0).setVisible(False)  # with its separator

    def set_sort(self, key: str) -> None:
        self.sort_key = key if key in self.sort_actions else "name"
        self.sort_actions[self.sort_key].setChecked(True)
        self.sort.setText(f"Sort: {dict(SORTS)[self.sort_key]} ▾")

    def _sort_picked(self, key: str) -> None:
        if key != self.sort_key:
            self.set_sort(key)
            self.sort_chosen.emit(key)

    def set_selected(self, n: int) -> None:
        self.selected = n
        self._show_counts()

    def set_unreadable(self, n: int) -> None:
        """How many of the listed files turned out not to open (the count included them unsaid)."""
        self.unreadable = n
        self._show_counts()

    def _add_label(self, text: str, tip: str = "") -> QLabel:
        lab = QLabel(text)
        lab.setToolTip(tip)
        lab.setContentsMargins(3, 0, 3, 0)
        self.crumbs.addWidget(lab)
        return lab

    def _show_counts(self) -> None:
        text = f"{self.count} photo{'s' if self.count != 1 else ''}"
        if self.unreadable:
            text += f" ({self.unreadable} cannot be opened)"
        if self.selected > 1:
            text += f" · {self.selected} selected"
        self.counts.setText(text)

    def _fill_menu(self) -> None:
        """The sub-folders' names at once (one listing); their photo counts follow from the pool,
        as each of up to 300 folders must be listed for them (seconds on a slow network share)."""
        self.menu.clear()
        self._menu_fill += 1
        self.counted = False
        subs = sub_folder_names(self.folder) if self.folder is not None else []
        if not subs:
            self.menu.addAction("No sub-folders").setEnabled(False)
            self.counted = True
            return
        acts = []
        for path in subs:
            a = self.menu.addAction(literal(path.name))
            a.triggered.connect(lambda *_, p=path: self.folder_chosen.emit(p))
            acts.append(a)
        if len(subs) >= MAX_SUBFOLDERS:
            self.menu.addAction(f"Only the first {MAX_SUBFOLDERS} are listed: File ▸ Open Folder for the rest"
                                ).setEnabled(False)
        fill = self._menu_fill

        def counted(counts: list[int | None]) -> None:
            if fill != self._menu_fill:  # the menu was filled again since (another folder, reopened)
                return
            for a, path, n in zip(acts, subs, counts):
                count = "cannot be read" if n is None else f"{n} photo{'s' if n != 1 else ''}" if n else ""
                a.setText(literal(f"{path.name}\t{count}" if count else path.name))
            self.counted = True

        run_in_pool(lambda: [photo_count(d) for d in subs], owner=self, on_done=counted)


def _short(name: str, most: int = 32) -> str:
    return name if len(name) <= most else f"{name[: most // 2 - 1]}…{name[-(most // 2 - 1):]}"


def folder_message(folder: Path) -> str:
    """What the viewer says for a folder without photos: why it cannot be read, or where its photos
    are, if in sub-folders."""
    error = folder_error(folder)
    if error is not None:
        return f"Cannot read the folder {folder}: {error}"
    # on the GUI thread: the sub-folders are counted only until the message has its four (and one
    # more to say "and more"), at most SAID_COUNTED of them (each is a listing on a slow share too)
    with_photos: list[tuple[Path, int]] = []
    for p in sub_folder_names(folder)[:SAID_COUNTED]:
        if n := photo_count(p):
            with_photos.append((p, n))
            if len(with_photos) > 4:
                break
    if not with_photos:
        return f"No photos in {folder}"
    names = ", ".join(f"{p.name} ({n})" for p, n in with_photos[:4])
    more = " and more" if len(with_photos) > 4 else ""
    return (f"No photos in {folder.name or folder} itself; its folders hold some: {names}{more}.\n"
            "Open one from Folders ▾ below.")

