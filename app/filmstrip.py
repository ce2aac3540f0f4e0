"""The folder's photos as a strip of thumbnails, built in the background from embedded previews,
then, for photos with edits, rendered with them."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QItemSelectionModel, QModelIndex, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QListView,
    QListWidget,
    QListWidgetItem,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from engine.recipe import Recipe

from . import display, theme, thumb_cache
from .display import to_screen
from .workers import clear_pool, run_in_pool, serial_pool

log = logging.getLogger(__name__)

THUMB = 128
#: Device pixels per logical pixel of the filmstrip's screen (1 to 2), set by the filmstrip: its
#: thumbnails are made at THUMB times this (at 1 on a 200 % screen they were stretched and soft).
_dpr = 1.0
PATH_ROLE = Qt.ItemDataRole.UserRole
FAILED_ROLE = Qt.ItemDataRole.UserRole + 1  # why the photo cannot be opened
LOOK_ROLE = Qt.ItemDataRole.UserRole + 2  # the thumbnail shown: (box, where in it, the steps it shows)
_ONLY = QItemSelectionModel.SelectionFlag.ClearAndSelect


def load_thumbnail(path: Path) -> QImage:
    """Embedded preview (RAW) or reduced decode, scaled to THUMB; runs in a worker. Kept on disk
    (:mod:`.thumb_cache`) like an edited one: reopening a shoot of 800 camera JPEGs read them all
    again (7.8 s); a RAW without an embedded preview, or a big PNG or TIFF, is decoded in a child."""
    from engine.io import load_preview

    key = thumb_cache.key(path, Recipe(), round(THUMB * _dpr))
    kept = thumb_cache.load(key)
    if kept is not None:
        return _at_dpr(kept)
    img = _thumb_image(load_preview(path, max_size=THUMB * 2, safe=True))  # a corrupt RAW's decode in a child
    return thumb_cache.store(key, img)


def _thumb_image(rgb8: np.ndarray) -> QImage:
    from .renderer import to_qimage

    img = to_qimage(np.asarray(rgb8, np.uint8))
    return _at_dpr(img.scaled(round(THUMB * _dpr), round(THUMB * _dpr), Qt.AspectRatioMode.KeepAspectRatio,
                              Qt.TransformationMode.SmoothTransformation))


def _at_dpr(img: Any) -> Any:
    img.setDevicePixelRatio(_dpr)
    return img


def render_thumbnail(path: Path, recipe: Recipe | None = None) -> QImage:
    """The photo as its edits show it (``recipe`` None: its sidecar's), scaled to THUMB; runs in a
    worker. A RAW is decoded at half size in a child, as the app decodes it: its camera preview is
    another rendering, which the recipe was not made for. Kept on disk (:mod:`.thumb_cache`): a
    folder of edited RAWs rendered every one of them again at every open."""
    if recipe is None:
        recipe = _sidecar_recipe(path)
    if not recipe.active():
        return load_thumbnail(path)
    key = thumb_cache.key(path, recipe, round(THUMB * _dpr))
    kept = thumb_cache.load(key)
    if kept is not None:
        return _at_dpr(kept)
    return thumb_cache.store(key, _render_thumbnail(path, recipe))


def _sidecar_recipe(path: Path) -> Recipe:
    """``path``'s steps as its sidecar holds them (none without one)."""
    from engine.recipe import has_sidecar, sidecar_path

    return Recipe.load(sidecar_path(path)) if has_sidecar(path) else Recipe()


def _sidecar_look(path: Path, recipe: Recipe | None = None) -> tuple[QImage, str]:
    """On the pool: ``path`` as ``recipe`` (else its sidecar's steps) shows it, and those steps
    (:func:`thumb_cache.steps_key`)."""
    if recipe is None:
        recipe = _sidecar_recipe(path)
    return render_thumbnail(path, recipe), thumb_cache.steps_key(recipe)


def _look(res: QImage | tuple[QImage, str]) -> tuple[QImage, str]:
    """A camera look (an image: the steps of no edit) or an edited look (the image and its steps)."""
    return (res, thumb_cache.NO_STEPS) if isinstance(res, QImage) else res


def _render_thumbnail(path: Path, recipe: Recipe) -> QImage:
    from engine.io import is_raw, load_photo, load_preview
    from engine.io.image import linearize
    from engine.render import render_uint8, resize_linear

    if is_raw(path):
        lin = load_photo(path, half=True, safe=True).linear
        h, w = lin.shape[:2]
        scale = THUMB * 2 / max(h, w)
        if scale < 1:
            lin = resize_linear(lin, max(1, round(w * scale)), max(1, round(h * scale)))
    else:
        lin = linearize(np.asarray(load_preview(path, max_size=THUMB * 2, safe=True), np.uint8))
    return _thumb_image(render_uint8(recipe, np.ascontiguousarray(lin, np.float32)))


def _boxed(image: QImage | QPixmap) -> tuple[QPixmap, QRect]:
    """A thumbnail fitted into the one box every thumbnail shares, centred (a portrait frame's
    caption sat higher than a landscape one's), on the screen's profile (a thumbnail taken from
    the shown preview is in it already); and where in the box it is, in device pixels."""
    w, h = round(THUMB * _dpr), round(THUMB * 3 // 4 * _dpr)
    box = QPixmap(w, h)
    box.fill(Qt.GlobalColor.transparent)
    src = QPixmap.fromImage(to_screen(image.toImage() if isinstance(image, QPixmap) else image))
    src = src.scaled(w, h, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    # painted pixel for pixel into the box (still at ratio 1 here): a source that carried the screen's
    # ratio (a kept thumbnail) was drawn at 1/2 of its size at 200 %, in the corner of its cell
    src.setDevicePixelRatio(1.0)
    at = QRect((w - src.width()) // 2, (h - src.height()) // 2, src.width(), src.height())
    p = QPainter(box)
    p.drawPixmap(at.topLeft(), src)
    p.end()
    box.setDevicePixelRatio(_dpr)
    return box, at


def _icon(box: QPixmap) -> QIcon:
    """A boxed thumbnail as an icon, drawn as it is when selected (Qt's selected mode tinted it
    blue, which falsifies the colours a photographer picks by)."""
    icon = QIcon()
    for mode in (QIcon.Mode.Normal, QIcon.Mode.Selected, QIcon.Mode.Active):
        icon.addPixmap(box, mode)
    return icon


def _placeholder(text: str, colour: str) -> QIcon:
    pix = _at_dpr(QPixmap(round(THUMB * _dpr), round(THUMB * 3 // 4 * _dpr)))
    pix.fill(QColor("#2a2a2a"))
    p = QPainter(pix)
    p.setPen(QColor(colour))
    f = QFont()
    f.setPointSize(9)
    p.setFont(f)
    p.drawText(QRectF(0, 0, THUMB, THUMB * 3 // 4), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
    p.end()
    return QIcon(pix)


class _ShownFrame(QStyledItemDelegate):
    """The photo shown, outlined: with several selected (for Paste or Export) it looked like the
    others, as Lightroom's brighter active frame tells it apart."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        super().paint(painter, option, index)
        view = self.parent()
        if isinstance(view, QListWidget) and index == view.currentIndex():
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(QColor(theme.ACCENT), 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(option.rect).adjusted(1, 1, -1, -1), 4, 4)
            painter.restore()


class Filmstrip(QListWidget):
    activated_path = Signal(object)  # Path
    unreadable_changed = Signal(int)  # how many of the photos listed cannot be opened

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("filmstrip")
        global _dpr
        _dpr = min(2.0, max(1.0, self.devicePixelRatioF()))
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(THUMB, THUMB * 3 // 4))
        self.setGridSize(QSize(THUMB + 16, THUMB * 3 // 4 + 28))
        self.setFixedHeight(THUMB * 3 // 4 + 44)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setUniformItemSizes(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.pool = serial_pool(self)
        self.items: dict[Path, QListWidgetItem] = {}
        self.thumbs_done: set[Path] = set()
        self._generation = 0
        self._thumb_version: dict[Path, int] = {}  # the newest look asked for each photo wins
        self._looks: dict[Path, tuple[int, Recipe | None]] = {}  # asked, not yet rendering
        self._looks_lock = threading.Lock()
        # camera looks still to load, in the strip's order, each with its photo's look version
        # when asked; and the edited photos' looks still to render, after those
        self._pending: dict[Path, int] = {}
        self._owed_looks: dict[Path, int] = {}
        self._feeding = False  # one of them is on the pool: the next is picked when it is back
        self.setItemDelegate(_ShownFrame(self))
        self.currentItemChanged.connect(self._current)

    def _restart(self) -> None:
        """Drop every thumbnail queued: a new folder, or all to be made again."""
        self._generation += 1
        clear_pool(self.pool)
        with self._looks_lock:
            self._looks.clear()
        self._pending.clear()
        self._owed_looks.clear()
        self._feeding = False

    def set_paths(self, paths: list[Path]) -> None:
        self._restart()
        self.blockSignals(True)
        self.clear()
        self.items = {}
        self.thumbs_done = set()
        from engine.recipe import has_sidecar

        loading = _placeholder("…", theme.MUTED)
        for p in paths:
            item = QListWidgetItem(loading, p.name)
            item.setData(PATH_ROLE, p)
            item.setToolTip(str(p))
            self.addItem(item)
            self.items[p] = item
            self.set_edited(p, has_sidecar(p))
        self.blockSignals(False)
        self._load_thumbnails(paths)

    def reload_thumbnails(self) -> None:
        """Every thumbnail made again (the screen's colour profile changed)."""
        self._restart()
        self._load_thumbnails([p for p in self.items if not self.is_failed(p)])

    def _load_thumbnails(self, paths: list[Path]) -> None:
        """Queue ``paths``' thumbnails: each camera look first, then the edited photos' looks. They
        are fed to the pool one at a time, the photos in view (the shown one's first) before the
        rest, so a long shoot's visible frames fill at once wherever it is scrolled to (they loaded
        in name order: the last ones in view waited for the whole folder). The first starts once
        the caller has picked the photo shown (a folder opened at its last photo loaded its first)."""
        for p in paths:  # each with the look it would replace: one set or asked meanwhile wins
            self._pending[p] = self._thumb_version.get(p, 0)
            if self.is_edited(p):
                self._owed_looks[p] = 0
        QTimer.singleShot(0, self, self._feed)

    def _feed(self) -> None:
        """Start the next thumbnail: the camera looks of the photos in view, then their edited
        looks, then the rest of the strip's in the same order."""
        while not self._feeding:
            near = self._near_rows()
            for pending, rows in ((self._pending, near), (self._owed_looks, near),  # in view
                                  (self._pending, None), (self._owed_looks, None)):  # the strip's order
                path = self._next_wanted(pending, rows)
                if path is not None:
                    break
            else:
                return
            queued = pending.pop(path)
            self._start(path, edited=pending is self._owed_looks, queued=queued)

    def _start(self, path: Path, *, edited: bool, queued: int) -> None:
        gen = self._generation
        if not edited:
            if self._thumb_version.get(path, 0) != queued:
                return  # an edited look was set or asked for since: the camera look would hide it
            job, version = load_thumbnail, queued
            failed = lambda e: self._thumb_failed(gen, path, e)  # noqa: E731
        else:
            job, version = _sidecar_look, self._bump(path)
            failed = lambda e: log.info("no edited thumbnail for %s: %s", path, e)  # noqa: E731
        self._feeding = True
        run_in_pool(job, path, pool=self.pool,
                    on_done=lambda res: self._fed(gen, lambda: self._edited(gen, path, version, *_look(res))),
                    on_error=lambda e, tb: self._fed(gen, lambda: failed(e)))

    def _fed(self, gen: int, show: Any) -> None:
        """A thumbnail back: ``show`` it, then start the next (whatever ``show`` raised: the rest of
        the folder's thumbnails would never come)."""
        try:
            show()
        finally:
            if gen == self._generation:
                self._feeding = False
                self._feed()

    def _near_rows(self) -> list[int]:
        """The rows in view and a few beside them, the shown photo's first, then nearest it."""
        n, cell = self.count(), max(1, self.gridSize().width())
        first = max(0, self.horizontalScrollBar().value() // cell - 2)
        last = min(n - 1, first + self.viewport().width() // cell + 4)
        cur = self.currentRow()
        rows = sorted(range(first, last + 1), key=lambda r: abs(r - cur) if first <= cur <= last else r)
        return [cur, *rows] if 0 <= cur < n else rows

    def _next_wanted(self, pending: dict[Path, int], near: list[int] | None) -> Path | None:
        """The first photo of ``pending`` in the rows ``near``; with ``near`` None, in ``pending``'s
        order (the strip's: :meth:`reorder` keeps it)."""
        if not pending:
            return None
        if near is None:
            return next(iter(pending))
        for r in near:
            item = self.item(r)
            if item is not None and item.data(PATH_ROLE) in pending:
                return item.data(PATH_ROLE)
        return None

    def refresh(self, path: Path, recipe: Recipe | None = None) -> None:
        """Render ``path``'s thumbnail with its edits (``recipe``, else its sidecar's) in the
        background: a photo edited while not shown (a paste, an Auto landing after a switch, a
        folder reopened) kept its camera look, the ● alone telling it had edits."""
        item = self.items.get(path)
        if item is None or item.data(FAILED_ROLE):
            return
        self._owed_looks.pop(path, None)  # this one is newer
        with self._looks_lock:  # one render queued per photo, of the newest look asked (a paste
            queued = path in self._looks  # twice onto twenty RAWs: twenty half-size decodes, not forty)
            self._looks[path] = (self._bump(path), recipe)
        if not queued:
            gen = self._generation
            run_in_pool(self._render_look, path, pool=self.pool,
                        on_done=lambda res: self._edited(gen, path, res[0], *_look(res[1])),
                        on_error=lambda e, tb: log.info("no edited thumbnail for %s: %s", path, e))

    def _render_look(self, path: Path) -> tuple[int, tuple[QImage, str]]:
        """On the pool: the newest look asked for ``path``, rendered."""
        with self._looks_lock:
            version, recipe = self._looks.pop(path)
        return version, _sidecar_look(path, recipe)

    def _bump(self, path: Path) -> int:
        self._thumb_version[path] = self._thumb_version.get(path, 0) + 1
        return self._thumb_version[path]

    def _edited(self, gen: int, path: Path, version: int, img: QImage, steps: str | None) -> None:
        if gen == self._generation and self._thumb_version.get(path, 0) == version:
            self._thumb(gen, path, img, steps)

    def _thumb(self, gen: int, path: Path, img: QImage | QPixmap, steps: str | None) -> None:
        item = self.items.get(path)
        if gen == self._generation and item is not None and not item.data(FAILED_ROLE):
            box, at = _boxed(img)
            item.setIcon(_icon(box))
            item.setData(LOOK_ROLE, (box, at, steps))
            self.thumbs_done.add(path)

    def look(self, path: Path) -> tuple[QImage, str | None] | None:
        """``path``'s thumbnail as shown (on the screen's profile), and the steps it shows
        (:func:`thumb_cache.steps_key`, that of no step for its camera look; None: not known); None
        before it is made. The viewer shows it while the photo opens: a blank "Opening…" frame, or
        an edited photo's camera look, came first."""
        item = self.items.get(path)
        shown = item.data(LOOK_ROLE) if item is not None and not item.data(FAILED_ROLE) else None
        if shown is None:
            return None
        box, at, steps = shown
        img = box.toImage().copy(at)
        img.setDevicePixelRatio(1.0)
        space = display.current()
        if space is not None:  # on the screen's profile already: not to be converted again as sRGB
            img.setColorSpace(space)
        return img, steps

    def _thumb_failed(self, gen: int, path: Path, exc: BaseException) -> None:
        from engine.io import ImageError

        if gen != self._generation or path not in self.items:
            return
        if isinstance(exc, ImageError):  # the file itself cannot be read: said now, not once visited
            self.mark_failed(path, str(exc))
        else:
            self.items[path].setIcon(_placeholder("no preview", theme.MUTED))
            self.items[path].setData(LOOK_ROLE, None)

    def mark_failed(self, path: Path, message: str) -> None:
        item = self.items.get(path)
        if item is None:
            return
        was = item.data(FAILED_ROLE)
        item.setData(FAILED_ROLE, message)
        if not was:
            self.unreadable_changed.emit(sum(self.is_failed(p) for p in self.items))
        item.setIcon(_placeholder("⚠ cannot open", "#ff8a80"))
        item.setData(LOOK_ROLE, None)
        item.setForeground(QColor("#ff8a80"))
        item.setToolTip(f"{path}\n{message}")

    def unmark_failed(self, path: Path) -> None:
        """``path`` is to be tried again (its file is back): shown as any photo, its thumbnail reloaded."""
        item = self.items.get(path)
        if item is None or not item.data(FAILED_ROLE):
            return
        item.setData(FAILED_ROLE, None)
        item.setData(Qt.ItemDataRole.ForegroundRole, None)
        item.setToolTip(str(path))
        item.setIcon(_placeholder("…", theme.MUTED))
        item.setData(LOOK_ROLE, None)
        self.unreadable_changed.emit(sum(self.is_failed(p) for p in self.items))
        self._load_thumbnails([path])

    def set_thumbnail(self, path: Path, pix: QPixmap, recipe: Recipe | None = None) -> None:
        """Show the edited render instead of the camera's preview (after an edit settles);
        ``recipe``: the steps it shows, where known."""
        item = self.items.get(path)
        if item is not None and not item.data(FAILED_ROLE):
            self._bump(path)  # a background render of an older edit, or its camera look, arriving later is dropped
            self._owed_looks.pop(path, None)
            self._thumb(self._generation, path, pix, None if recipe is None else thumb_cache.steps_key(recipe))

    def set_edited(self, path: Path, edited: bool) -> None:
        """A dot before the name marks photos that carry edits (a sidecar)."""
        item = self.items.get(path)
        if item is not None:
            item.setText(f"● {path.name}" if edited else path.name)

    def is_edited(self, path: Path) -> bool:
        item = self.items.get(path)
        return bool(item and item.text().startswith("● "))

    def is_failed(self, path: Path) -> bool:
        item = self.items.get(path)
        return bool(item and item.data(FAILED_ROLE))

    def select_path(self, path: Path) -> None:
        item = self.items.get(path)
        if item is not None:
            self.setCurrentItem(item, _ONLY)

    def reorder(self, paths: list[Path]) -> None:
        """Show the same photos in another order, keeping their thumbnails, the current photo and
        the selection (nothing is opened again)."""
        if sorted(paths) != sorted(self.items) or list(paths) == list(self.items):
            return
        current, chosen = self.currentItem(), set(self.selected_paths())
        self.blockSignals(True)
        self.selectionModel().blockSignals(True)
        try:
            while self.count():
                self.takeItem(0)
            self.items = {p: self.items[p] for p in paths}
            # the thumbnails still to make follow the new order (by capture time, say)
            self._pending = {p: self._pending[p] for p in paths if p in self._pending}
            self._owed_looks = {p: self._owed_looks[p] for p in paths if p in self._owed_looks}
            for item in self.items.values():
                self.addItem(item)
            if current is not None:
                self.setCurrentItem(current, _ONLY)
            for p in chosen:
                self.items[p].setSelected(True)
        finally:
            self.selectionModel().blockSignals(False)
            self.blockSignals(False)
        if current is not None:
            self.scrollToItem(current)

    def selected_paths(self) -> list[Path]:
        return [i.data(PATH_ROLE) for i in self.selectedItems()]

    def paths(self) -> list[Path]:
        return list(self.items)

    _stepping = False  # step() is moving the current photo: the keys, whatever the mouse's buttons say

    def _current(self, cur: QListWidgetItem | None, _prev: QListWidgetItem | None) -> None:
        if cur is not None:
            self._keep_ahead(cur)
            self.activated_path.emit(cur.data(PATH_ROLE))

    def _keep_ahead(self, item: QListWidgetItem) -> None:
        """A photo reached by the keys, at an edge of the strip, is brought to its middle, so the
        next ones are in view: walking right kept it at the far right edge. A clicked one stays
        under the pointer."""
        if not self._stepping and QApplication.mouseButtons() != Qt.MouseButton.NoButton:
            return
        r, width, cell = self.visualItemRect(item), self.viewport().width(), self.gridSize().width() + 8
        if r.left() < cell or r.right() > width - cell:  # the neighbour there not wholly in view
            self.scrollToItem(item, QAbstractItemView.ScrollHint.PositionAtCenter)

    def step(self, delta: int) -> None:
        row = self.currentRow() + delta
        if 0 <= row < self.count():
            # only the photo shown: with the shortcut's Ctrl held, Qt kept an earlier multi-selection,
            # which Paste and Export then hit without it being on screen
            self._stepping = True
            try:
                self.setCurrentRow(row, _ONLY)
            finally:
                self._stepping = False
