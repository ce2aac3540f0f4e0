"""The main window: composes viewer, filmstrip, histogram and panels, and owns the documents.

It is the controller: it turns user intents into undo commands or background jobs, and
results (decoded pixels, renders, agent recipes) back into view updates. It never runs
pixel work itself.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, QSettings, QSize, Qt, QThreadPool, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QDragEnterEvent, QDropEvent, QImage, QKeySequence, QUndoGroup
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from engine import styles
from engine.looks import differences
from engine.recipe import Recipe, Step, has_sidecar, save_sidecar, sidecar_path, sidecar_stamp
from engine.runners.agent import (
    AUTO_STRENGTH,
    DEFAULT_MODEL,
    at_strength,
    user_styles_dir,
    white_balance_step,
)
from engine.runners.constancy import DEFAULT_WB
from engine.runners.meter import DEFAULT_METER

from . import agent as agent_mod
from .commands import FromDisk, ReplaceRecipe, pasted
from .controls import commit_typing
from .document import PhotoDoc
from .errors import show_error
from .filmstrip import Filmstrip
from .folder_bar import FolderBar, folder_message
from .histogram import Histogram
from .loading import (
    QUICK_RAW_BYTES,
    Decoded,
    Skipped,
    capture_order,
    decode,
    decode_quick,
    embedded_preview,
    list_photos,
    natural_key,
    small,
)
from .paste_dialog import PasteDialog
from .renderer import Renderer, RenderRequest, RenderResult, to_display, to_qimage
from .retouch_panel import N_VARIATIONS, RetouchPanel
from .viewer import Viewer
from .wb_pick import PROMPT as PICK_PROMPT
from .wb_pick import WhiteBalancePicker, white_balance_index
from .workers import run_in_pool, serial_pool

log = logging.getLogger(__name__)


def _is_raw(path: Path) -> bool:
    from engine.io import is_raw  # at first use: the window opens before the decoders load

    return is_raw(path)


def _quick_open(path: Path) -> bool:
    """A RAW large enough to open from a half-size decode first (:func:`app.loading.decode_quick`)."""
    try:
        return _is_raw(path) and path.stat().st_size >= QUICK_RAW_BYTES
    except OSError:
        return False
MAX_RECENT = 8
AUTOSAVE_MS = 400  # sidecars are written at most this long after the last change
DRAFT_CUBE = 17  # 3-D table size while a slider is held (the release render uses the engine's 33³)
DRAFT_GAIN = 2.0  # drafts from the 1024 px level only when the preview has more than this many times its pixels
COMING = {
    "Low light": "Low-light enhancement: coming in a later release.",
    "Complete": "Completion (remove objects, extend the frame): coming in a later release.",
    "Restore": "Restoration (denoise, deblur, old photos): coming in a later release.",
}


def _save(doc: PhotoDoc, recipe: Recipe) -> Path | None:
    """On the save pool (one thread, in order): the sidecar written against what this window last
    knew of it; where another program's version went, if it had changed."""
    doc.disk_stamp, kept = save_sidecar(doc.path, recipe, doc.disk_stamp)
    return kept


class MainWindow(QMainWindow):
    photoShown = Signal(object)      # PhotoDoc: its pixels are decoded and the first render is up
    previewRendered = Signal(int)    # request id of a preview render now on screen
    photoFailed = Signal(object, str)

    def __init__(self, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings()
        self.setObjectName("main")
        self.setWindowTitle("Retouch")
        self.setAcceptDrops(True)
        self.docs: dict[Path, PhotoDoc] = {}
        self.doc: PhotoDoc | None = None
        self.folder: Path | None = None
        self.clipboard: Recipe | None = None
        self.model: Path | None = None
        self.variations: list[Recipe] = []
        self._variation_seed = 0
        #: the agent's jobs in flight, (kind, the photo's doc): one of each kind per photo
        self._running: set[tuple[str, PhotoDoc]] = set()
        self._pending: tuple[PhotoDoc, Callable[[], None]] | None = None  # pressed while the photo opened
        self._sort_request = 0  # the newest filmstrip order asked for: an older one landing late is dropped
        self.style_dialog = None  # Learn my style, made when first asked for
        self.matcher = None  # Match a look, one fit at a time
        self.strength = AUTO_STRENGTH
        self._strength_known = False  # until the style's model has loaded (_agent_ready)
        #: each photo's last Auto: its full-strength recipe, the proxy it was measured on, every recipe
        #: the strength slider made of it (as JSON) with that strength, and the style that made it (its
        #: strength key): only that style's slider rescales it
        self._autos: dict[PhotoDoc, tuple[Recipe, np.ndarray, dict[str, float], str]] = {}
        self._latest: dict[str, int] = {}
        # the fast render path's kernels are loaded: a fresh install compiles them (up to a minute
        # on a busy machine), with the embedded preview on screen and no word why
        self._renderer_ready = False
        self._rendered_once = False
        self.shown_preview = -1  # id of the preview render on screen
        self._shown_source: Any = None  # the linear cache it was rendered from
        self._screen: tuple[Any, tuple[int, int], Any] | None = None  # (doc, size, level): preview at screen size
        self._screen_wanted: tuple[Any, tuple[int, int]] | None = None
        self._screen_busy = False
        self._screen_broken: tuple[Any, tuple[int, int]] | None = None
        self._quitting = False  # closing was asked for while exports ran: close when they stop
        self.last_render_ms = 0.0
        self.undo_group = QUndoGroup(self)
        self.save_pool = serial_pool(self)
        self.decode_pool = QThreadPool(self)
        self.decode_pool.setMaxThreadCount(1)
        self.renderer = Renderer(self)
        self.renderer.finished.connect(self._on_rendered)
        self.renderer.failed.connect(self._render_failed)
        self._autosave = QTimer(self, singleShot=True, interval=AUTOSAVE_MS)
        self._autosave.timeout.connect(self.flush_sidecars)
        self._thumb_timer = QTimer(self, singleShot=True, interval=600)
        self._thumb_timer.timeout.connect(self._refresh_thumbnail)
        # the shown photo, edited since its thumbnail was last set from its preview: leaving it
        # before that happens renders its thumbnail in the background instead
        self._thumb_owed: PhotoDoc | None = None
        self._settle = QTimer(self, singleShot=True, interval=120)
        self._settle.timeout.connect(self._settled)
        self._build()
        self._build_menus()
        self._restore_settings()
        # the photo readers' first import (rawpy, tifffile, piexif: 100-200 ms) off the GUI thread,
        # while the window shows, not when the first folder opens
        run_in_pool(importlib.import_module, "engine.io.safe", owner=self)
        QTimer.singleShot(400, self._warm_up)

    def _warm_up(self) -> None:
        """Compile the fast render path (numba) off the GUI thread before the first photo needs it."""
        from engine.recipe import Step

        tiny = np.full((8, 8, 3), 0.2, np.float32)
        self.renderer.submit(RenderRequest(self.renderer.new_id(), "warmup",
                                           Recipe([Step("exposure", {"ev": 0.5}), Step("contrast", {"amount": 0.2})]),
                                           tiny))

    # ---------------------------------------------------------------- layout
    def _build(self) -> None:
        self.viewer = Viewer()
        self.viewer.viewChanged.connect(self._view_changed)
        self.viewer.zoomChanged.connect(lambda s: self.zoom_label.setText(f"{s * 100:.0f} %"))
        self.histogram = Histogram()
        self.panel = RetouchPanel()
        self.panel.autoRequested.connect(self.auto)
        self.panel.variationsRequested.connect(self.request_variations)
        self.panel.variationChosen.connect(self.adopt_variation)
        self.panel.strengthChanged.connect(self.set_strength)
        self.panel.styleChanged.connect(self._style_changed)
        self.panel.styleAction.connect(self._style_action)
        self.panel.stylesWanted.connect(self.refresh_styles)
        self.picker = WhiteBalancePicker(self.viewer, self.panel.set_busy,
                                         lambda text: self.statusBar().showMessage(text) if text
                                         else self.statusBar().clearMessage())
        self.panel.steps.pickRequested.connect(lambda step: self.pick_white_balance(step))
        self.panel.steps.picking = lambda step: self.picker.active and self.picker.step is step
        self.picker.changed.connect(self.panel.steps.refresh_pick)
        self.tabs = QTabWidget()
        # the panel scrolls as a whole where the window is short (a 720p laptop): shown Variations
        # grew the window past the screen, as a layout's minimum height does
        panel_scroll = QScrollArea()
        panel_scroll.setWidget(self.panel)
        panel_scroll.setWidgetResizable(True)
        panel_scroll.setFrameShape(QFrame.Shape.NoFrame)
        panel_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tabs.addTab(panel_scroll, "Retouch")
        for name, note in COMING.items():
            page = QLabel(note)
            page.setObjectName("note")
            page.setWordWrap(True)
            i = self.tabs.addTab(page, name)
            self.tabs.setTabEnabled(i, False)
            self.tabs.setTabToolTip(i, note)
        right = QWidget()
        rlay = QVBoxLayout(right)
        rlay.setContentsMargins(6, 6, 6, 0)
        rlay.addWidget(self.histogram)
        rlay.addWidget(self.tabs, 1)  # the greyed tabs say "coming in a later release" on hover
        right.setMinimumWidth(340)
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.viewer)
        self.split.addWidget(right)
        self.split.setStretchFactor(0, 1)
        self.split.setStretchFactor(1, 0)
        self.split.setSizes([1000, 380])
        self.filmstrip = Filmstrip()
        self.filmstrip.activated_path.connect(self.show_photo)
        self.folder_bar = FolderBar()
        self.folder_bar.folder_chosen.connect(self.open_path)
        self.folder_bar.sort_chosen.connect(self._sort_chosen)
        self.filmstrip.itemSelectionChanged.connect(
            lambda: self.folder_bar.set_selected(len(self.filmstrip.selectedItems())))
        self.filmstrip.unreadable_changed.connect(self.folder_bar.set_unreadable)
        central = QWidget()
        clay = QVBoxLayout(central)
        clay.setContentsMargins(0, 0, 0, 0)
        clay.setSpacing(0)
        clay.addWidget(self.split, 1)
        clay.addWidget(self.folder_bar)
        clay.addWidget(self.filmstrip)
        self.setCentralWidget(central)
        sb = self.statusBar()
        self.info_label = QLabel("")
        self.zoom_label = QLabel("")
        self.render_label = QLabel("")
        sb.addWidget(self.info_label, 1)
        sb.addPermanentWidget(self.render_label)
        sb.addPermanentWidget(self.zoom_label)
        self.resize(1400, 900)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        S = QKeySequence.StandardKey

        def act(menu, text: str, slot, shortcut: Any = None, tip: str = "") -> QAction:
            a = menu.addAction(text)
            a.triggered.connect(lambda *_: slot())
            if shortcut is not None:
                a.setShortcut(shortcut if not isinstance(shortcut, str) else QKeySequence(shortcut))
                a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            if tip:
                a.setStatusTip(tip)
            self.addAction(a)
            return a

        f = mb.addMenu("&File")
        act(f, "&Open Photo…", self.open_dialog, S.Open)
        act(f, "Open &Folder…", self.open_folder_dialog, "Ctrl+Shift+O")
        act(f, "Open P&arent Folder", self.open_parent_folder, "Alt+Up",
            "Open the folder that holds this one (Folders ▾ over the filmstrip opens its sub-folders)")
        self.recent_menu = f.addMenu("Open &Recent")
        f.addSeparator()
        self.a_export = act(f, "&Export…", self.export_selection, "Ctrl+E", "Export the selected photos")
        self.a_batch = act(f, "&Batch Export Folder…", self.batch_export, "Ctrl+Shift+E",
                           "Export every photo in the folder (Auto for photos without edits)")
        f.addSeparator()
        act(f, "&Quit", self.close, S.Quit)

        e = mb.addMenu("&Edit")
        undo = self.undo_group.createUndoAction(self, "&Undo")
        undo.setShortcut(S.Undo)
        redo = self.undo_group.createRedoAction(self, "&Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence(S.Redo)])
        e.addAction(undo)
        e.addAction(redo)
        self.addAction(undo)
        self.addAction(redo)
        e.addSeparator()
        act(e, "&Copy Recipe", self.copy_recipe, "Ctrl+Shift+C")
        act(e, "&Paste Recipe", lambda: self.paste_recipe(selective=False), "Ctrl+Shift+V",
            "Paste every copied step onto the selected photos, replacing theirs")
        act(e, "Paste &Selectively…", lambda: self.paste_recipe(selective=True), "Ctrl+Alt+V")
        e.addSeparator()
        act(e, "Select &All Photos", self.filmstrip.selectAll, S.SelectAll)
        act(e, "&Reset Photo", self.reset, "Ctrl+R", "Remove every step (undoable)")

        v = mb.addMenu("&View")
        act(v, "Zoom to &Fit", self.viewer.set_fit, "Ctrl+0")
        act(v, "Zoom &100 %", self.viewer.zoom_100, "Ctrl+1")
        act(v, "Zoom &In", lambda: self.viewer.set_zoom(self.viewer.scale * 1.25), S.ZoomIn)
        act(v, "Zoom &Out", lambda: self.viewer.set_zoom(self.viewer.scale / 1.25), S.ZoomOut)
        v.addSeparator()
        self.a_split = act(v, "&Before / After", self.viewer.toggle_split, "\\")
        self.a_split.setCheckable(True)
        self.viewer.splitToggled.connect(self.a_split.setChecked)
        self.viewer.splitToggled.connect(lambda on: self._request_detail() if on else None)
        self.a_strip = act(v, "Show Film&strip", lambda: self.filmstrip.setVisible(self.a_strip.isChecked()))
        self.a_strip.setCheckable(True)
        self.a_strip.setChecked(True)
        full = act(v, "F&ull Screen", self._toggle_full)
        # the platform's keys plus F11 always: without a desktop session Qt's FullScreen binds none
        keys = QKeySequence.keyBindings(S.FullScreen)
        full.setShortcuts([QKeySequence("F11"), *[k for k in keys if k != QKeySequence("F11")]])
        full.setShortcutContext(Qt.ShortcutContext.WindowShortcut)

        p = mb.addMenu("&Photo")
        act(p, "&Auto", self.auto, "Ctrl+Shift+A", "The agent predicts an edit")
        act(p, "&Variations", self.request_variations, "Ctrl+Shift+R")
        act(p, "Auto &White Balance", self.auto_white_balance, "Ctrl+Shift+W",
            "Measure the white balance (the learned colour constancy, max-RGB without it) and set it as a step, "
            "leaving the others")
        act(p, "&Pick White Balance", lambda: self.pick_white_balance(), "W",
            "Click a spot in the photo that should be neutral (a grey card, a white wall) to set the white balance "
            "from it")
        act(p, "&Match a Look…", self.match_look_dialog,
            tip="Find the steps that turn this photo into a finished version of it (e.g. another tool's export)")
        act(p, "&Learn My Style…", self.learn_style, tip="Train a style from your own before and after photos")
        p.addMenu(self.panel.add_menu).setText("Add &Step")
        p.addSeparator()
        act(p, "&Next Photo", lambda: self.filmstrip.step(+1), "Ctrl+Right")
        act(p, "&Previous Photo", lambda: self.filmstrip.step(-1), "Ctrl+Left")

        h = mb.addMenu("&Help")
        act(h, "&About Retouch", self.about)
        act(h, "About &Qt", QApplication.aboutQt)
        self._rebuild_recent()

    def _toggle_full(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    # ---------------------------------------------------------------- settings
    def _restore_settings(self) -> None:
        geo = self.settings.value("window/geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        state = self.settings.value("window/split")
        if state is not None:
            self.split.restoreState(state)
        model = self.settings.value("agent/model")
        # a remembered style deleted since (outside the app) gives way to Default, as the list shows
        self.model = Path(model) if model and Path(model).is_file() else None
        self.strength = self._saved_strength(AUTO_STRENGTH)  # a style's own comes when it loads
        self._strength_known = self._strength_key() == self._strength_key(DEFAULT_MODEL)  # the shipped one's is this
        self.panel.set_strength(self.strength)
        self.panel.set_models(agent_mod.available_models(), self.model)  # the list was blank until a photo opened
        self.folder_bar.set_sort(str(self.settings.value("browse/sort", "name")))

    def _strength_key(self, model: Path | None = None) -> str:
        """Each style keeps its own strength (the shipped model's under the old key); ``model``
        None: the current one."""
        model = self.model if model is None else model
        shipped = model is None or Path(model) == DEFAULT_MODEL
        return "agent/strength" if shipped else f"agent/strength/{Path(model).stem}"

    def _saved_strength(self, default: float, key: str | None = None) -> float:
        try:
            return min(max(float(self.settings.value(key or self._strength_key(), default)), 0.0), 1.5)
        except (TypeError, ValueError):
            return default

    def recent(self) -> list[str]:
        v = self.settings.value("recent/folders", [])
        return [v] if isinstance(v, str) else list(v or [])

    def _add_recent(self, folder: Path) -> None:
        items = [str(folder)] + [r for r in self.recent() if r != str(folder)]
        self.settings.setValue("recent/folders", items[:MAX_RECENT])
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for r in self.recent():
            self.recent_menu.addAction(r, lambda r=r: self.open_path(Path(r)))
        self.recent_menu.setEnabled(bool(self.recent()))

    def running_exports(self) -> list[Any]:
        """The export and batch dialogs whose export is still running."""
        from PySide6.QtWidgets import QDialog

        from .batch_dialog import BatchDialog
        from .export_dialog import ExportDialog

        return [d for d in self.findChildren(QDialog) if isinstance(d, (ExportDialog, BatchDialog)) and d.running()]

    def _ask_to_quit(self, name: str, icon: QMessageBox.Icon, title: str, text: str, info: str,
                     quit_label: str, stay_label: str) -> bool:
        """A quit that would lose something: True if the photographer quits anyway (staying is the default)."""
        box = QMessageBox(icon, title, text, parent=self)
        box.setObjectName(name)
        box.setInformativeText(info)
        quit_btn = box.addButton(quit_label, QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(box.addButton(stay_label, QMessageBox.ButtonRole.RejectRole))
        box.exec()
        return box.clickedButton() is quit_btn

    def _ask_cancel_exports(self, n: int) -> bool:
        return self._ask_to_quit(
            "quit-during-export", QMessageBox.Icon.Question, "Export running",
            ("An export is" if n == 1 else f"{n} exports are") + " still running.",
            "Cancel it and quit? Photos being written now are finished as complete files; the others are "
            "not exported. Nothing half-written is left behind.", "Cancel Export and Quit", "Keep Exporting")

    def _close_after_exports(self) -> None:
        if not self.running_exports():
            QTimer.singleShot(0, self.close)

    def closeEvent(self, event) -> None:
        exports = self.running_exports()
        if exports:  # never quit under a running export: its pool and thread would be killed mid-write
            event.ignore()
            if self._quitting or not self._ask_cancel_exports(len(exports)):
                return  # already cancelling (the window closes when they stop), or keep exporting
            self._quitting = True
            for d in exports:
                d.worker.finished.connect(self._close_after_exports)
                d.cancel()
            self.statusBar().showMessage("Cancelling the export; Retouch quits once the photos in progress "
                                         "are written…")
            return
        self._quitting = False  # no export holds the quit any more: a refused one below asks again next time
        if self.style_dialog is not None and self.style_dialog.is_training():
            # quitting mid-training keeps what was learnt: the trainer checkpoints on SIGTERM (a second or two)
            self.style_dialog.stop()
            self.style_dialog.proc.waitForFinished(30_000)
        if self.matcher is not None:
            self.matcher.cancel()  # a fit writes nothing until it ends
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/split", self.split.saveState())
        self.flush_sidecars(wait=True)
        # a photo that could not be opened again (moved since its edits) keeps them unsaved too
        unsaved = [d for d in self.docs.values() if d.dirty]
        if unsaved and not self._ask_quit_unsaved(unsaved):
            event.ignore()
            return
        # the photo on screen (else the folder): where the next start without a path opens
        last = self.doc.path if self.doc is not None else self.folder
        self.settings.setValue("session/last", str(last) if last is not None else "")
        self.renderer.shutdown()
        self.settings.sync()
        super().closeEvent(event)

    def _ask_quit_unsaved(self, docs: list[PhotoDoc]) -> bool:
        """Edits that could not be saved (the photo moved or deleted while open, a folder that cannot
        be written) were dropped at quit without a word."""
        names = ", ".join(d.name for d in docs[:3]) + (f" and {len(docs) - 3} more" if len(docs) > 3 else "")
        gone = any(not d.path.exists() for d in docs)
        why = ("the photo is no longer where it was opened (moved, renamed or deleted)" if gone
               else docs[0].save_error or "the sidecar could not be written")
        return self._ask_to_quit(
            "quit-unsaved", QMessageBox.Icon.Warning, "Edits not saved",
            f"The edits of {names} could not be saved: {why}.",
            "To keep them, stay: copy the recipe (Edit ▸ Copy Recipe) and paste it onto the photo where it "
            "is now.", "Quit Without Them", "Keep Retouch Open")

    # ---------------------------------------------------------------- opening
    def open_dialog(self) -> None:
        from engine.io import SUPPORTED_EXTENSIONS

        exts = sorted(SUPPORTED_EXTENSIONS)
        pattern = " ".join([f"*{e}" for e in exts] + [f"*{e.upper()}" for e in exts])
        start = str(self.folder or Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open Photo", start, f"Photos ({pattern});;All files (*)")
        if path:
            self.open_path(Path(path))

    def open_folder_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Open Folder", str(self.folder or Path.home()))
        if d:
            self.open_path(Path(d))

    def _sort_chosen(self, key: str) -> None:
        self.settings.setValue("browse/sort", key)
        self._sort_strip()

    def _sort_strip(self, first: Path | None = None) -> None:
        """The filmstrip in the chosen order: by name as listed, by capture time once a worker has
        read the dates (the photos show at once, in name order, meanwhile). ``first``: the photo
        shown because it came first by name (a folder opened); while it is untouched, the first
        shot takes its place when the dates land."""
        self._sort_request += 1
        paths, folder, request = self.filmstrip.paths(), self.folder, self._sort_request
        if self.folder_bar.sort_key == "name":
            self.filmstrip.reorder(sorted(paths, key=lambda p: natural_key(p.name)))
            return

        def landed(order: list[Path]) -> None:
            if self.folder != folder or request != self._sort_request:  # another folder or order since
                return
            self.filmstrip.reorder(order)
            doc = self.doc
            if (first is not None and doc is not None and doc.path == first and order and order[0] != first
                    and not doc.undo.count() and self.filmstrip.selected_paths() == [first]):
                self.filmstrip.select_path(order[0])

        run_in_pool(capture_order, paths, owner=self, on_done=landed)

    def open_parent_folder(self) -> None:
        if self.folder is not None and self.folder.parent != self.folder:
            self.open_path(self.folder.parent)

    def reopen_last(self) -> bool:
        """Open the photo (or folder) shown when the window was last closed, as Lightroom and
        darktable reopen where one left off; False when there is none or it is gone."""
        from engine.io import is_supported

        last = Path(str(self.settings.value("session/last", "") or ""))
        if not last.is_absolute() or not (last.is_dir() or (last.is_file() and is_supported(last))):
            return False  # gone, or no longer a photo (open_path tries any file it is given explicitly)
        return self.open_path(last)

    def open_path(self, path: Path) -> bool:
        path = Path(path).expanduser().absolute()  # kept in Recent: it must work from any directory
        if not path.exists():
            gone = str(path) in self.recent()
            if gone:  # said once, then off the menu (it stayed, and said so at every pick)
                self.settings.setValue("recent/folders", [r for r in self.recent() if r != str(path)])
                self._rebuild_recent()
            show_error(self, "Open", f"{path} does not exist" + (" (moved or deleted?); it is taken off Open Recent."
                                                                 if gone else "."))
            return False
        folder = path if path.is_dir() else path.parent
        photos = list_photos(folder)
        if path.is_file() and path not in photos:
            photos.append(path)  # opened explicitly: try it even if its extension is unknown
        self.flush_sidecars()
        self.folder = folder
        self._add_recent(folder)
        if not photos:
            self._show_no_photo(folder_message(folder))
        self.filmstrip.set_paths(photos)
        self.folder_bar.set_folder(folder, len(photos))
        if not photos:
            return False
        first = path if path.is_file() else photos[0]
        self._sort_strip(None if path.is_file() else first)
        self.filmstrip.select_path(first)
        if self.doc is None or self.doc.path != first:
            self.show_photo(first)
        return True

    def get_doc(self, path: Path) -> PhotoDoc:
        path = Path(path)
        doc = self.docs.get(path)
        if doc is None:
            doc = PhotoDoc(path, self)
            doc.changed.connect(lambda change, d=doc: self._doc_changed(d, change))
            self.undo_group.addStack(doc.undo)
            self.docs[path] = doc
            if doc.sidecar_locked:
                show_error(self, "Edits from a newer Retouch",
                           f"The saved edits of {path.name} were written by a newer Retouch. The photo "
                           f"opens unedited here, and edits made here are not saved, so that Retouch "
                           f"still finds its own.\n\n{doc.sidecar_error}")
            elif doc.sidecar_error:
                show_error(self, "Edits could not be read",
                           f"The saved edits of {path.name} could not be read; "
                           f"the photo opens unedited.\n\n{doc.sidecar_error}")
        return doc

    def _leave_photo(self) -> None:
        if self.doc is None:
            return
        self.picker.cancel()  # a spot on the next photo is not this one's white balance
        self._thumb_timer.stop()  # it would set the next photo's preview as this one's thumbnail
        if self._thumb_owed is self.doc:  # edited, and its thumbnail not yet shows it
            self.filmstrip.refresh(self.doc.path, self.doc.recipe.copy())
        self._thumb_owed = None
        self.doc.drop_pixels()

    def _show_no_photo(self, message: str) -> None:
        """A folder without photos: the photo shown before is left, so that a shortcut (Reset, Auto,
        Paste) cannot edit it unseen."""
        commit_typing()
        self._leave_photo()
        self.doc = None
        self._pending = None
        for kind in ("preview", "crop", "crop_before"):
            self.renderer.cancel(kind)
        self.undo_group.setActiveStack(None)
        self.panel.set_doc(None)
        self.histogram.set_counts(None)
        self.setWindowTitle("Retouch")
        for label in (self.info_label, self.render_label, self.zoom_label):
            label.setText("")
        self.viewer.clear(message)

    def show_photo(self, path: Path) -> None:
        path = Path(path)
        if self.doc is not None and self.doc.path == path:
            return
        commit_typing()  # Ctrl+Right with a value typed and not entered: it belongs to the photo left
        self._leave_photo()
        known = path in self.docs
        doc = self.get_doc(path)
        if known:
            self._reload_if_changed(doc)
        self.doc = doc
        if self._pending is not None:  # Auto pressed on the photo left behind does not follow to this one
            self._pending = None
            self.panel.set_busy("")
        self._rendered_once = False
        self._latest.clear()
        self._screen = self._screen_wanted = None  # the previous photo's screen-size level
        for kind in ("preview", "crop", "crop_before"):
            self.renderer.cancel(kind)
        self.undo_group.setActiveStack(doc.undo)
        self.panel.set_doc(doc)
        self._follow_auto_strength(doc)  # the slider shows this photo's Auto, not the last one's
        for kind, button in (("auto", self.panel.auto), ("variations", self.panel.vary)):
            if (kind, doc) in self._running:  # back on a photo whose job still runs
                button.setEnabled(False)
        self.histogram.set_counts(None)
        self.setWindowTitle(f"{path.name} — Retouch")
        self.info_label.setText(path.name)
        self.render_label.setText("")
        self.zoom_label.setText("")
        if doc.failed:
            self._show_failed(doc)
            return
        self.viewer.clear(f"Opening {path.name}…")
        run_in_pool(embedded_preview, path, lambda d=doc: self.doc is d, pool=self.decode_pool,
                    on_done=lambda img, d=doc: self._embedded(d, img),
                    on_error=lambda e, tb: isinstance(e, Skipped) or log.info("no embedded preview for %s: %s",
                                                                                 path, e))
        self._start_decodes(doc)

    def _start_decodes(self, doc: PhotoDoc) -> None:
        """The shown photo's decodes, those not already queued or running. Back on a photo whose
        decodes still run (it was left a moment ago), they are wanted again, so none is started
        twice (two full decodes of a 45 MP RAW at once)."""
        path = doc.path
        if _quick_open(path) and "quick" not in doc.decoding:  # editable from its half-size decode first
            doc.decoding.add("quick")
            run_in_pool(decode_quick, path, lambda d=doc: self.doc is d, pool=QThreadPool.globalInstance(),
                        owner=self, on_done=lambda res, d=doc: self._decoded_quick(d, res),
                        on_error=lambda e, tb, d=doc: self._quick_failed(d, e))
        if "full" not in doc.decoding:
            doc.decoding.add("full")
            run_in_pool(decode, path, lambda d=doc: self.doc is d, pool=QThreadPool.globalInstance(),
                        owner=self, on_done=lambda res, d=doc: self._decoded(d, res),
                        on_error=lambda e, tb, d=doc: self._decode_failed(d, e, tb))

    def _embedded(self, doc: PhotoDoc, img: QImage) -> None:
        if doc is self.doc and not self._rendered_once and doc.preview_linear is None and not doc.failed:
            self.viewer.set_photo(img.size(), img)
            self.render_label.setText(self._embedded_label())

    def _embedded_label(self) -> str:
        return "embedded preview" + ("" if self._renderer_ready else " · preparing the renderer…")

    def _quick_failed(self, doc: PhotoDoc, exc: BaseException) -> None:
        doc.decoding.discard("quick")
        if not isinstance(exc, Skipped):
            log.info("no quick decode of %s: %s", doc.path, exc)
        else:
            self._skipped_yet_shown(doc)

    def _skipped_yet_shown(self, doc: PhotoDoc) -> None:
        """A decode that skipped itself (it started while another photo was shown) for the photo
        shown again meanwhile: the return found it still running and started none, so the photo
        waited on the embedded preview for good (a fresh-clone run's flicking test, once)."""
        if doc is self.doc and doc.linear is None and not doc.failed:
            self._start_decodes(doc)

    def _decoded_quick(self, doc: PhotoDoc, res: Decoded | None) -> None:
        """A large RAW's half-size levels: edited and rendered from them until the full decode is in
        (then only the 100 % crops need it, so the screen does not change)."""
        doc.decoding.discard("quick")
        if res is None or doc is not self.doc or doc.preview_linear is not None or doc.failed:
            return  # a small sensor, the user moved on, the full decode came first, or it failed
        doc.preview_linear, doc.draft_linear, doc.meta = res.preview_linear, res.draft_linear, res.meta
        self._show_decoded(doc, res.meta.width, res.meta.height)

    def _decoded(self, doc: PhotoDoc, res: Decoded) -> None:
        doc.decoding.discard("full")
        if doc is not self.doc:
            return  # the user moved on; pixels are dropped
        quick = doc.preview_linear is not None  # its half-size levels are on screen already
        doc.linear, doc.meta = res.linear, res.meta
        if quick:
            self._request_detail()  # zoomed in meanwhile: the full-resolution crops fill in now
            return
        doc.preview_linear, doc.draft_linear = res.preview_linear, res.draft_linear
        h, w = res.linear.shape[:2]
        self._show_decoded(doc, w, h)

    def _show_decoded(self, doc: PhotoDoc, w: int, h: int) -> None:
        """The photo's pixels are in (its full size ``w`` x ``h``): say so, render, run what waited."""
        m = doc.meta
        bits = [doc.name, f"{w} × {h}"]
        if getattr(m, "camera", None):
            bits.append(m.camera)
        if getattr(m, "iso", None):
            bits.append(f"ISO {m.iso:g}")
        self.info_label.setText("   ·   ".join(bits))
        self.viewer.set_full(QSize(w, h))
        self.viewer.finest_preview = doc.preview_linear.shape[1] / w
        self._submit("before", Recipe(), doc.preview_linear)
        self.preview_source(doc)  # asks for the screen-size level when the view needs one
        wanted = self._screen_wanted
        if not (self._screen_busy and wanted is not None and wanted[0] is doc):
            self.schedule_render()
        # else the first render waits the ~20 ms for that level (_screen_ready), so that every
        # render of this view has the same size; the embedded preview is on screen meanwhile
        self._warm_agent()
        self._run_pending(doc)

    def _decode_failed(self, doc: PhotoDoc, exc: BaseException, tb: str) -> None:
        doc.decoding.discard("full")
        if isinstance(exc, Skipped):
            self._skipped_yet_shown(doc)
            return
        if doc.preview_linear is not None:  # a large RAW's half-size levels are in: it stays editable
            log.warning("full decode of %s failed after its quick one\n%s", doc.path, tb)
            if doc is self.doc:
                self.statusBar().showMessage(
                    f"{doc.name}: the full-resolution decode failed ({exc}). Editing goes on at screen size; "
                    "the 100 % view shows no finer detail, and an export will say why it fails.", 20000)
            return
        log.warning("cannot open %s\n%s", doc.path, tb)
        doc.failed = str(exc) or type(exc).__name__
        self.filmstrip.mark_failed(doc.path, doc.failed)
        self.photoFailed.emit(doc, doc.failed)
        if doc is self.doc:  # said in the viewer and the filmstrip: a box for each of a folder's
            self._show_failed(doc)  # damaged files stopped Ctrl+Right at every one

    def _show_failed(self, doc: PhotoDoc) -> None:
        folder = doc.path.parent
        after = ("other photos in the folder still work." if folder.is_dir() else
                 f"its folder {folder.name} is no longer there (moved or renamed?): open it from where it is now.")
        kept = ("\n\nIts edits since the last save are still in this window: copy the recipe (Edit ▸ Copy Recipe) "
                "and paste it onto the photo where it is now." if doc.dirty else "")
        self.viewer.clear(f"⚠  {doc.name} cannot be opened\n\n{doc.failed}\n\nThe file is untouched; {after}{kept}")
        self.panel.set_doc(None)
        self.render_label.setText("")  # it said "embedded preview" over the message
        self.zoom_label.setText("")

    # ---------------------------------------------------------------- rendering
    def _submit(self, kind: str, recipe: Recipe, image: Any, **kw: Any) -> int:
        rid = self.renderer.new_id()
        self._latest[kind] = rid
        self.renderer.submit(RenderRequest(rid, kind, recipe.copy(), image, tag=self.doc, **kw))
        return rid

    @staticmethod
    def pointer_down() -> bool:
        """A slider or curve handle is being dragged: render drafts until it is let go."""
        from .controls import dragging

        return dragging()

    def on_screen(self) -> tuple[int, int]:
        """The photo's size on screen at the current zoom, in device pixels."""
        v = self.viewer
        s = v.scale * v.devicePixelRatioF()
        return max(1, round(v.full.width() * s)), max(1, round(v.full.height() * s))

    def preview_source(self, doc: PhotoDoc) -> Any:
        """The linear cache to render the preview from: the photo's size on screen, never more.

        - Shown at least as large as the 2048 px level: that level (beyond it, full-resolution
          crops of the visible region, ``_request_detail``).
        - Otherwise a copy of that level resized to exactly the on-screen size (made once per
          view size, in the background): the render costs only the pixels shown and the paint
          is a 1:1 blit. Until it is ready, the smallest level at least as large as the screen.
        - While a slider or curve handle is dragged, the 1024 px draft level when that saves
          more than half the pixels (below, its upscaled paint costs what it saves); the full
          preview follows once the pointer is released.
        """
        if doc.draft_linear is None:
            return doc.preview_linear
        w, h = self.on_screen()
        draft = max(doc.draft_linear.shape[:2])
        if max(w, h) >= max(doc.preview_linear.shape[:2]):  # larger than it: crops fill in (needs_detail)
            fine = doc.preview_linear
        else:
            fine = self._screen_level(doc, w, h)
            if fine is None:
                fine = doc.draft_linear if max(w, h) <= draft * 1.02 else doc.preview_linear
        if self.pointer_down() and fine.shape[0] * fine.shape[1] > DRAFT_GAIN * doc.draft_linear[..., 0].size:
            return doc.draft_linear
        return fine

    def _screen_level(self, doc: PhotoDoc, w: int, h: int) -> Any:
        """The preview level resized to (w, h) when it is ready; otherwise ask for it and return None."""
        have = self._screen
        if have is not None and have[0] is doc and have[1] == (w, h):
            return have[2]
        self._screen_wanted = (doc, (w, h))
        if not self._screen_busy and self._screen_broken != (doc, (w, h)):
            self._screen_busy = True
            from engine.render import resize_linear

            def make(src: Any, size: tuple[int, int]) -> tuple[tuple[int, int], Any]:
                level = np.ascontiguousarray(resize_linear(src, *size), dtype=np.float32)
                level.setflags(write=False)
                return size, level

            run_in_pool(make, doc.preview_linear, (w, h),
                        owner=self, on_done=lambda res, d=doc: self._screen_ready(d, *res),
                        on_error=lambda e, tb, d=doc, size=(w, h): self._screen_failed(d, size, tb))
        return None

    def _screen_ready(self, doc: PhotoDoc, size: tuple[int, int], level: Any) -> None:
        self._screen_busy = False
        if not isValid(self.viewer):
            return  # the window was closed meanwhile
        cur = self.doc
        if doc is cur and cur.preview_linear is not None:
            self._screen = (doc, size, level)
        wanted, have = self._screen_wanted, self._screen
        if wanted is not None and wanted[0] is cur and not (have and have[0] is cur and have[1] == wanted[1]):
            self._screen_level(cur, *wanted[1])  # the view or the photo changed meanwhile: the newest
        elif cur is not None and cur.preview_linear is not None and self._shown_source is not self.preview_source(cur):
            self.schedule_render()  # also the first render of a photo, which waits for its level

    def _screen_failed(self, doc: PhotoDoc, size: tuple[int, int], tb: str) -> None:
        self._screen_busy = False
        self._screen_broken = (doc, size)  # not retried for this view
        log.warning("screen-size preview level failed (the cached levels are used)\n%s", tb)
        if isValid(self.viewer) and self._latest.get("preview") is None:
            self.schedule_render()  # the first render was waiting for it

    def schedule_render(self) -> int | None:
        """Ask for a fresh preview (latest wins) and, when zoomed in, a full-resolution crop.

        During a drag the draft cache (a quarter of the pixels) keeps the preview following the
        pointer, with a 17³ cube (baked in ~1 ms instead of ~7 when a mixing step's slider
        moves); the full preview follows once the pointer is released.
        """
        doc = self.doc
        if doc is None or doc.preview_linear is None:
            return None
        src = self.preview_source(doc)
        if self.pointer_down():
            self._settle.start()
            return self._submit("preview", doc.recipe, src, cube=DRAFT_CUBE)
        rid = self._submit("preview", doc.recipe, src)
        if self.viewer.needs_detail():
            self._request_detail()
        return rid

    def _view_changed(self) -> None:
        """Zoomed or panned: a finer preview level or a detail crop may be needed now."""
        doc = self.doc
        if doc is not None and doc.preview_linear is not None and self._shown_source is not self.preview_source(doc):
            self.schedule_render()
        else:
            self._request_detail()

    def _settled(self) -> None:
        if self.pointer_down():
            self._settle.start()
        else:
            self.schedule_render()

    def _request_detail(self) -> None:
        doc = self.doc
        if doc is None or doc.linear is None or not self.viewer.needs_detail():
            for kind in ("crop", "crop_before"):
                self.renderer.cancel(kind)
                self._latest.pop(kind, None)
            self.viewer.set_detail(None)
            self.viewer.set_detail_before(None)
            return
        vis = self.viewer.visible_rect()
        h, w = doc.linear.shape[:2]
        x0, y0 = max(0, int(vis.left()) - 8), max(0, int(vis.top()) - 8)
        x1, y1 = min(w, int(vis.right()) + 9), min(h, int(vis.bottom()) + 9)
        if x1 <= x0 or y1 <= y0:
            return
        rect = (x0, y0, x1 - x0, y1 - y0)
        self._submit("crop", doc.recipe, doc.linear[y0:y1, x0:x1], rect=rect)
        if self.viewer.split and (self.viewer.detail_before is None or self.viewer.detail_before[1] != QRectF(*rect)):
            self._submit("crop_before", Recipe(), doc.linear[y0:y1, x0:x1], rect=rect)  # an edit leaves it as is

    def _on_rendered(self, res: RenderResult) -> None:
        req = res.request
        if req.kind == "warmup":
            self._warmed()
            return
        if req.tag is not self.doc or self._latest.get(req.kind) != req.id:
            return  # stale: a newer request of this kind exists, or another photo is shown
        if req.kind == "before":
            self.viewer.set_before(res.image)
        elif req.kind == "preview":
            if not self._rendered_once:
                v = self.viewer
                keep = v.before if v.before is not None and v.before is not v.after else None
                finest = self.viewer.finest_preview
                self.viewer.set_photo(self.viewer.full if not self.viewer.full.isEmpty() else res.image.size(),
                                      res.image)
                self.viewer.finest_preview = finest
                if keep is not None:
                    self.viewer.before = keep
                self._rendered_once = True
                self.photoShown.emit(self.doc)
            else:
                self.viewer.set_after(res.image)
            if self.viewer.detail is not None and self._latest.get("crop", -1) < req.id:
                self.viewer.set_detail(None)  # the crop shows an older edit
            self.histogram.set_counts(res.histogram)
            self.last_render_ms = res.ms
            self.shown_preview = req.id
            self._shown_source = req.image
            if self.doc is not None and (self.doc.undo.count() or self.doc.recipe.active()):
                self._thumb_timer.start()  # edited here, or opened with edits
            self.render_label.setText(f"render {res.ms:.0f} ms")
            self.previewRendered.emit(req.id)
        elif req.kind == "crop" and req.rect is not None:
            self.viewer.set_detail(res.image, QRectF(*req.rect))
        elif req.kind == "crop_before" and req.rect is not None:
            self.viewer.set_detail_before(res.image, QRectF(*req.rect))

    def _refresh_thumbnail(self) -> None:
        if self.doc is not None and self.viewer.after is not None and self.shown_preview >= 0:
            self.filmstrip.set_thumbnail(self.doc.path, self.viewer.after)
            if self.shown_preview == self._latest.get("preview"):  # the newest edit is in it
                self._thumb_owed = None

    def _warmed(self) -> None:
        self._renderer_ready = True
        if self.render_label.text().startswith("embedded preview"):
            self.render_label.setText(self._embedded_label())

    def _render_failed(self, exc: BaseException, tb: str) -> None:
        log.error("render failed\n%s", tb)
        self.statusBar().showMessage(f"Could not render the preview: {exc}. Your edit is kept; "
                                     "try undoing the last change.", 8000)

    def _doc_changed(self, doc: PhotoDoc, change: Any) -> None:
        self._autosave.start()
        if doc is self.doc:
            self._thumb_owed = doc
            self.schedule_render()
            self._follow_auto_strength(doc)

    def _follow_auto_strength(self, doc: PhotoDoc) -> None:
        """An undo or redo back to one of Auto's strengths moves the slider there too."""
        last = self._autos.get(doc)
        amount = last[2].get(doc.recipe.dumps()) if last is not None and last[3] == self._strength_key() else None
        if amount is not None and amount != self.strength:
            self.strength = amount
            self.settings.setValue(self._strength_key(), amount)
            self.panel.set_strength(amount)

    # ---------------------------------------------------------------- sidecars
    def flush_sidecars(self, wait: bool = False) -> None:
        for doc in self.docs.values():
            if not doc.dirty or doc.failed:
                continue
            if not doc.path.exists():  # deleted, or its folder moved or renamed: stays dirty, no sidecar
                self._report_unsaved(doc, "the photo is no longer where it was (moved, renamed or deleted)")
                continue
            doc.dirty = False
            if doc.sidecar_locked:
                self.statusBar().showMessage(
                    f"Edits of {doc.path.name} not saved: its sidecar is a newer Retouch's", 5000)
                continue
            self.filmstrip.set_edited(doc.path, len(doc.recipe) > 0)
            recipe = doc.recipe.copy()  # read, never changed, by the save and the thumbnail
            if doc is not self.doc:  # the shown photo's thumbnail follows its renders
                self.filmstrip.refresh(doc.path, recipe)
            # no steps left (Auto undone, every step deleted): no sidecar (save_sidecar), so the photo
            # reads as unedited everywhere (the filmstrip when reopened, Batch Export's Auto for it)
            doc.saves_pending += 1
            run_in_pool(_save, doc, recipe, pool=self.save_pool,
                        on_done=lambda kept, d=doc: self._saved(d, kept),
                        on_error=lambda e, tb, d=doc: self._save_failed(d, e))
        if wait:
            self.save_pool.waitForDone(10000)
            QApplication.processEvents()

    def _saved(self, doc: PhotoDoc, kept: Path | None) -> None:
        doc.saves_pending -= 1
        doc.save_error = None
        if kept is not None:
            self.statusBar().showMessage(
                f"{doc.path.name}'s edits had been changed by another program; that version is kept as "
                f"{kept.name}, and yours are saved", 15000)

    def _reload_if_changed(self, doc: PhotoDoc) -> None:
        """Edits another program (or another Retouch) saved while this photo was not shown are read
        again, as an undoable step, before they can be saved over."""
        if doc.dirty or doc.saves_pending or doc.sidecar_locked or doc.failed:
            return  # a save of ours still running changes the stamp too
        stamp = sidecar_stamp(doc.path)
        if stamp == doc.disk_stamp:
            return
        from engine.recipe import NewerRecipeError, RecipeError, read_sidecar

        try:
            recipe = read_sidecar(doc.path) or Recipe()
        except NewerRecipeError as e:  # left in place, never saved over (as on opening)
            doc.sidecar_locked, doc.sidecar_error = True, str(e)
            show_error(self, "Edits from a newer Retouch",
                       f"The edits of {doc.name} were changed by a newer Retouch. Edits made here are not "
                       f"saved, so that Retouch still finds its own.\n\n{e}")
            return
        except RecipeError as e:  # set aside by read_sidecar: nothing of theirs left in the way
            doc.disk_stamp = sidecar_stamp(doc.path)
            show_error(self, "Edits could not be read", f"The edits of {doc.name} changed on disk and "
                       f"could not be read; the photo keeps the edits shown here.\n\n{e}")
            return
        doc.disk_stamp = stamp
        if recipe.dumps() != doc.recipe.dumps():
            doc.undo.push(FromDisk(doc, recipe))
            self.statusBar().showMessage(f"{doc.name}: its edits were changed on disk and are read again "
                                         "(Undo goes back)", 8000)

    def _save_failed(self, doc: PhotoDoc, exc: BaseException) -> None:
        """Said once per photo (an autosave follows every edit), naming the sidecar, not its temp file;
        the next edit tries again."""
        doc.saves_pending -= 1
        doc.dirty = True
        self._report_unsaved(doc, exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc))

    def _report_unsaved(self, doc: PhotoDoc, reason: str) -> None:
        """Said at once, in a message box the first time for each photo, then in the status bar."""
        self.filmstrip.set_edited(doc.path, has_sidecar(doc.path))  # no ● for edits not on disk
        first = doc.save_error is None
        doc.save_error = reason
        if not first:
            self.statusBar().showMessage(f"Edits of {doc.path.name} not saved: {reason}", 5000)
            return
        then = ("Put it back where it was and they are saved with your next edit" if not doc.path.exists() else
                "Export applies them, and Retouch tries again after each edit")
        show_error(self, "Edits not saved",
                   f"The edits of {doc.path.name} could not be saved to {sidecar_path(doc.path)}: {reason}.\n\n"
                   f"They stay in this window while it is open. {then}; this message is not repeated for this photo.")

    # ---------------------------------------------------------------- agent
    def match_look_dialog(self) -> None:
        if self.doc is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Match the look of", str(self.doc.path.parent),
                                              "Images (*.jpg *.jpeg *.png *.tif *.tiff);;All files (*)")
        if path:
            self.match_look(Path(path))

    def match_look(self, after: Path) -> None:
        """Replace the open photo's steps by those that turn it into ``after`` (``retouch fit``)."""
        commit_typing()
        from .match_look import LookMatcher
        from .style_dialog import training_available

        doc = self.doc
        if doc is None:
            return
        if not training_available():
            self.panel.set_busy("Match a look needs the training components (torch), which this "
                                "installation lacks.")
            return
        if self.matcher is not None and self.matcher.running():
            self.panel.set_busy("A look is already being matched.")
            return

        def done(recipe: Recipe, summary: str) -> None:
            if doc is not self.doc:
                self.panel.set_busy(f"Matched the look of {after.name}, but another photo is open now: "
                                    "nothing was changed.")
                return
            fitted = Recipe([replace(s, source="match-look") for s in recipe.steps])
            doc.undo.push(ReplaceRecipe(doc, fitted, f"Match look of {after.name}"))
            self.panel.set_busy(f"Matched the look of {after.name}: {summary}.")

        if self.matcher is not None:  # the last one is done: let its dialog and temp folder go
            self.matcher.dialog.deleteLater()
            self.matcher.deleteLater()
        self.matcher = LookMatcher(self, done, self.panel.set_busy)
        self.matcher.start(doc.path, after)

    def learn_style(self) -> None:
        """The Learn my style dialog (non-modal: editing goes on while it trains)."""
        from .style_dialog import StyleDialog

        if self.style_dialog is None:
            self.style_dialog = StyleDialog(self)
            self.style_dialog.styleTrained.connect(self._style_trained)
        self.style_dialog.show()
        self.style_dialog.raise_()

    def _style_trained(self, path: Path) -> None:
        """A new (or continued) style: the agent is reloaded from it and it becomes the current one."""
        agent_mod.forget(path)
        self._style_changed(path)
        self.panel.set_models(agent_mod.available_models(), self.model)

    # ---------------------------------------------------------------- the photographer's styles
    def _style_action(self, key: str) -> None:
        {"learn": self.learn_style, "rename": self.rename_style, "delete": self.delete_style,
         "import": self.import_style, "folder": self.open_styles_folder}[key]()

    def refresh_styles(self) -> None:
        """The Style list from the folders as they are now; a current style deleted elsewhere gives
        way to Default (Auto would otherwise fail on the missing file)."""
        models = agent_mod.available_models()
        if self.model is not None and Path(self.model) not in models:
            self._style_changed(None)
        self.panel.set_models(models, self.model)

    def _refuse_in_training(self, model: Path) -> bool:
        d = self.style_dialog
        if d is not None and d.is_training() and d.training_name == model.stem:
            self.panel.set_busy(f"“{model.stem}” is being trained: change it once the training stops.")
            return True
        return False

    def _is_current(self, model: Path) -> bool:
        return self.model is not None and Path(self.model) == model

    def _styles_changed(self, current: Path | None) -> None:
        """The Style list again, showing ``current`` (the agent for it is reloaded if it changed);
        an open Learn my style dialog re-reads which names are taken."""
        if current != self.model:
            self._style_changed(current)
        self.panel.set_models(agent_mod.available_models(), self.model)
        if self.style_dialog is not None and isValid(self.style_dialog):
            self.style_dialog._update()

    def rename_style(self, new_name: str | None = None) -> None:
        """Rename the style shown (and its training run, and its remembered strength)."""
        model = self.panel.current_style()
        if model is None or not styles.is_user_style(model) or self._refuse_in_training(model):
            return
        if new_name is None:
            new_name, ok = QInputDialog.getText(self, "Rename Style", "New name:", text=model.stem)
            if not ok or new_name.strip() == model.stem:
                return
        try:
            new = styles.rename_style(model, new_name)
        except (styles.StyleError, OSError) as e:
            self.panel.set_busy(f"The style was not renamed: {e}")
            return
        old_key, new_key = self._strength_key(model), self._strength_key(new)
        if self.settings.contains(old_key):
            self.settings.setValue(new_key, self.settings.value(old_key))
            self.settings.remove(old_key)
        for doc, (base, proxy, applied, key) in list(self._autos.items()):  # its Autos stay its own
            if key == old_key:
                self._autos[doc] = (base, proxy, applied, new_key)
        agent_mod.forget(model)
        self._styles_changed(new if self._is_current(model) else self.model)
        self.panel.set_busy(f"Renamed the style “{model.stem}” to “{new.stem}”.")

    def delete_style(self, confirm: bool | None = None) -> None:
        """Delete the style shown and its training files, after asking; Auto falls back to Default."""
        model = self.panel.current_style()
        if model is None or not styles.is_user_style(model) or self._refuse_in_training(model):
            return
        if confirm is None:
            confirm = QMessageBox.question(
                self, "Delete Style", f"Delete the style “{model.stem}” and its training files? Recipes "
                "already made with it stay as they are.") == QMessageBox.StandardButton.Yes
        if not confirm:
            return
        try:
            styles.delete_style(model)
        except (styles.StyleError, OSError) as e:
            self.panel.set_busy(f"The style was not deleted: {e}")
            return
        self.settings.remove(self._strength_key(model))
        agent_mod.forget(model)
        self._styles_changed(None if self._is_current(model) else self.model)
        self.panel.set_busy(f"Deleted the style “{model.stem}”.")

    def import_style(self, path: Path | None = None) -> None:
        """Copy a style model into the styles folder (checked off the GUI thread) and use it."""
        if path is None:
            f, _ = QFileDialog.getOpenFileName(self, "Import a Style", str(Path.home()), "Style models (*.onnx)")
            if not f:
                return
            path = Path(f)
        self.panel.set_busy(f"Importing {path.name}…")

        def failed(e: BaseException, _tb: str) -> None:
            self.panel.set_busy(f"{path.name} was not imported: {e}")

        def done(new: Path) -> None:
            self._styles_changed(new)
            self.panel.set_busy(f"Imported the style “{new.stem}”.")

        run_in_pool(styles.import_style, path, owner=self, on_done=done, on_error=failed)

    def open_styles_folder(self) -> None:
        folder = user_styles_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _style_changed(self, model: Path | None) -> None:
        self._strength_known = False  # the slider still shows the last style's until the new one loads
        self.model = model
        self.settings.setValue("agent/model", str(model) if model else "")
        self._load_agent()

    def _warm_agent(self) -> None:
        if not agent_mod.loaded_agents():
            self._load_agent()
        self.panel.set_models(agent_mod.available_models(), self.model)

    def _load_agent(self) -> None:
        model = self.model
        run_in_pool(agent_mod.get_agent, model,
                    owner=self, on_done=lambda a: self._agent_ready(model, a),
                    on_error=lambda e, tb: self.panel.set_busy(f"The agent is unavailable: {e}"))

    def _agent_ready(self, model: Path | None, agent: Any) -> None:
        """The style's strength: the photographer's last for it, else the model's own (a style
        learnt from pairs is applied in full)."""
        if self.panel.status.text().startswith("The agent"):
            self.panel.set_busy("")
        if model == self.model:
            self.strength = self._saved_strength(agent.strength)
            self._strength_known = True
            self.panel.set_strength(self.strength)

    def _need_pixels(self, action: Callable[[], None], what: str) -> PhotoDoc | None:
        """The shown photo, when its pixels are in. Pressed while it still opens, ``action`` runs
        as soon as they are (if the photo is still shown), as a photographer pressing Auto at once
        expects; it was refused, with a message that stayed after the photo had opened."""
        doc = self.doc
        if doc is None:
            return None
        if doc.failed:
            self.panel.set_busy(f"{doc.name} could not be opened: there is nothing to edit.")
            return None
        if doc.preview_linear is None:
            self._pending = (doc, action)
            self.panel.set_busy(f"{what} will run as soon as the photo has opened…")
            return None
        return doc

    def _run_pending(self, doc: PhotoDoc) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] is doc is self.doc:
            pending[1]()

    def auto(self) -> None:
        commit_typing()  # a value typed, not yet entered, goes onto its own step first
        self.picker.cancel()  # Auto replaces the steps a pick would set
        if self.model is not None and not Path(self.model).is_file():  # deleted behind the app's back
            gone = Path(self.model).stem
            self.refresh_styles()  # Default takes its place, as the ⋯ menu would show
            self.statusBar().showMessage(f"The style “{gone}” is gone from its folder; Auto uses Default", 8000)
        doc = self._need_pixels(self.auto, "Auto")
        if doc is None or ("auto", doc) in self._running:  # a second press (the shortcut) while it runs
            return
        self._running.add(("auto", doc))
        self.panel.set_busy("Auto: the agent is looking at the photo…")
        self.panel.auto.setEnabled(False)
        # as pressed: another photo or style may move the slider meanwhile. A style chosen a moment
        # ago has no strength yet (its model is loading): its own is taken when Auto lands
        model, style = self.model, self._strength_key()
        strength = self.strength if self._strength_known else None
        started = doc.recipe.dumps()  # what Auto replaces: an edit made while it runs is kept instead

        raw = _is_raw(doc.path)  # its highlights past white are read clipped, as the agent was trained

        def predict(linear: Any) -> tuple[Recipe, np.ndarray, float]:
            agent = agent_mod.get_agent(model)  # at full strength: scaled on arrival, and by the slider
            return agent.predict(linear, strength=1.0, raw=raw), agent.proxy(linear, raw), agent.strength

        run_in_pool(predict, doc.preview_linear,
                    owner=self, on_done=lambda r, d=doc, s=started: self._auto_done(d, *r, started=s, style=style,
                                                                        strength=strength),
                    on_error=lambda e, tb, d=doc: self._agent_failed(e, tb, "auto", d))

    def auto_white_balance(self) -> None:
        """Auto's measured white balance alone: it replaces the recipe's measured white balance
        step, or goes first (it was measured on the photo as decoded); the other steps stay."""
        commit_typing()  # a value typed, not yet entered, goes onto its own step first
        self.picker.cancel()  # one way to set it at a time
        doc = self._need_pixels(self.auto_white_balance, "Auto white balance")
        if doc is None:
            return
        self.panel.set_busy("Auto white balance: measuring…")
        started = doc.recipe.dumps()  # an edit made while it measures (a pick) is kept instead
        run_in_pool(functools.partial(white_balance_step, raw=_is_raw(doc.path)), doc.preview_linear,
                    owner=self, on_done=lambda s, d=doc: self._white_balance_done(d, s, started),
                    on_error=lambda e, tb: self._agent_failed(e, tb))

    def pick_white_balance(self, step: Step | None = None) -> None:
        """The white balance selector: the next click on the photo sets ``step`` (a card's Pick) or
        the photo's white balance step (one goes first where there is none) from the spot."""
        commit_typing()  # a value typed, not yet entered, goes onto its own step first
        if self.picker.active and self.picker.step is step:  # pressed again: stop
            self.picker.cancel()
            return
        doc = self._need_pixels(lambda: self.pick_white_balance(step), "Pick white balance")
        if doc is not None:
            self.picker.start(doc, step)
        else:
            self.panel.steps.refresh_pick()  # a card's Pick checked itself on the click

    def _white_balance_done(self, doc: PhotoDoc, step: Step | None, started: str) -> None:
        if doc.recipe.dumps() != started:  # a pick or a slider landed first: the photographer's, kept
            if doc is self.doc:
                self.panel.set_busy("Auto white balance finished after the steps were edited: your edit is kept; "
                                    "press it again to measure anew.")
            return
        steps = list(doc.recipe.steps)
        # the photo's white balance: a measured one, else any; a second one on top multiplied the two
        at = white_balance_index(steps)
        self.panel.set_busy("Auto white balance: the photo is already about neutral." if step is None else "")
        if step is None:
            if at is None:
                return
            del steps[at]  # a measured step from before would now be wrong
        elif at is None:
            steps.insert(0, step)
        else:
            steps[at] = step
        self._replace(doc, Recipe(steps), "Auto white balance")  # measured again, the same: no entry

    def _agent_idle(self, kind: str, doc: PhotoDoc | None) -> None:
        """``kind``'s job on ``doc`` is over: its button comes back where the photo shown can be
        edited and runs no such job itself; the status clears with the shown photo's last job."""
        self._running.discard((kind, doc))
        shown = self.doc
        button = {"auto": self.panel.auto, "variations": self.panel.vary}.get(kind)
        if button is not None:
            button.setEnabled(shown is not None and not shown.failed and (kind, shown) not in self._running)
        if not any(d is shown for _, d in self._running):
            self.panel.set_busy(PICK_PROMPT if self.picker.active else "")  # the prompt stands while picking

    def _auto_done(self, doc: PhotoDoc, recipe: Recipe, proxy: np.ndarray, own: float, started: str, style: str,
                   strength: float | None) -> None:
        self._agent_idle("auto", doc)
        if doc.recipe.dumps() != started:
            # the photographer adopted a variation or moved a slider meanwhile: never overwrite that
            if doc is self.doc:
                self.panel.set_busy("Auto finished after the steps were edited: your edit is kept; "
                                    "press Auto again to replace it.")
            return
        if strength is None:  # the style's, as _agent_ready reads it: the photographer's last, else the model's
            strength = self._saved_strength(own, key=style)
        applied = at_strength(recipe, proxy, strength)
        self._autos[doc] = (recipe, proxy, {applied.dumps(): strength}, style)
        self._replace(doc, applied, "Auto")  # Auto again on its own result: no entry

    @staticmethod
    def _replace(doc: PhotoDoc, recipe: Recipe, text: str) -> None:
        """``recipe`` as one undo step, unless the photo has it already: no entry that undoes nothing."""
        if recipe.dumps() != doc.recipe.dumps():
            doc.undo.push(ReplaceRecipe(doc, recipe, text))

    def set_strength(self, amount: float) -> None:
        """Auto's strength: re-applies the photo's last Auto result while it is still on screen unedited."""
        commit_typing()  # a value typed, not yet entered, goes onto its own step first
        self.strength = amount
        self._strength_known = True  # the photographer's own choice for this style
        self.settings.setValue(self._strength_key(), amount)
        doc = self.doc
        if doc is None:
            return
        base, proxy, applied, style = self._autos.get(doc, (None, None, {}, ""))
        if style != self._strength_key() and doc.recipe.dumps() in applied:
            self.panel.set_busy("These steps are another style's Auto: the strength applies to the next Auto.")
            return
        if doc.recipe.dumps() not in applied:  # edited since: never throw the photographer's edits away
            self.panel.set_busy(self._why_no_strength(doc, base is not None))
            return
        new = at_strength(base, proxy, amount)
        applied[new.dumps()] = amount
        self.panel.set_busy("")
        self._replace(doc, new, f"Auto strength {round(100 * amount)} %")  # let go where pressed: no entry

    @staticmethod
    def _why_no_strength(doc: PhotoDoc, autoed: bool) -> str:
        """Why the slider leaves this photo alone, in the photographer's terms."""
        if not doc.recipe.steps:
            return "No steps yet: the strength applies when you press Auto."
        if autoed:
            return "The steps were edited since Auto: your edits are kept; the strength applies to the next Auto."
        return ("These steps were not made by Auto since Retouch opened this photo (saved earlier, pasted or "
                "added): the strength applies when you press Auto.")

    def _agent_failed(self, exc: BaseException, tb: str, kind: str = "", doc: PhotoDoc | None = None) -> None:
        log.error("agent failed\n%s", tb)
        self._agent_idle(kind, doc)
        show_error(self, "Auto", exc)

    def request_variations(self) -> None:
        doc = self._need_pixels(self.request_variations, "Variations")
        if doc is None or ("variations", doc) in self._running:
            return
        self._running.add(("variations", doc))
        self.panel.set_busy("Variations: rendering alternatives…")
        self.panel.vary.setEnabled(False)
        model = self.model
        self._variation_seed += 1
        seed = self._variation_seed  # each press gives new alternatives
        raw = _is_raw(doc.path)

        def job(linear: Any) -> list[tuple[Recipe, QImage, str]]:
            # at the policy's full strength, not Auto's: shortened, the alternatives look alike
            recipes = agent_mod.get_agent(model).variations(linear, N_VARIATIONS, seed=seed, raw=raw)
            thumb = small(linear, 300)
            shots = [to_display(r, thumb) for r in recipes]
            words = differences([s.astype(np.float32) / 255 for s in shots])
            return [(r, to_qimage(s), w) for r, s, w in zip(recipes, shots, words)]

        run_in_pool(job, doc.preview_linear,
                    owner=self, on_done=lambda res, d=doc: self._variations_done(d, res),
                    on_error=lambda e, tb, d=doc: self._agent_failed(e, tb, "variations", d))

    def _variations_done(self, doc: PhotoDoc, res: list[tuple[Recipe, QImage, str]]) -> None:
        self._agent_idle("variations", doc)
        if doc is not self.doc:
            return
        self.variations = [r for r, _, _ in res]
        self.panel.show_variations([img for _, img, _ in res], [w for _, _, w in res])

    def adopt_variation(self, i: int) -> None:
        commit_typing()  # a value typed, not yet entered, goes onto its own step first
        if self.doc is not None and 0 <= i < len(self.variations):
            self.doc.undo.push(ReplaceRecipe(self.doc, self.variations[i], f"Variation {i + 1}"))
            self.panel.var_box.hide()  # adopted: give the room back to the steps

    # ---------------------------------------------------------------- copy / paste / reset
    def copy_recipe(self) -> None:
        commit_typing()  # what is copied includes a value typed and not yet entered
        if self.doc is None:
            return
        self.clipboard = self.doc.recipe.copy()
        QApplication.clipboard().setText(self.clipboard.dumps())
        self.statusBar().showMessage(f"Copied {len(self.clipboard)} steps from {self.doc.name}", 3000)

    @staticmethod
    def _recipe_from_system_clipboard() -> Recipe | None:
        """A recipe copied as text (from another Retouch window, or a sidecar opened in an editor)."""
        from engine.recipe import RecipeError

        text = QApplication.clipboard().text()
        if '"retouch"' not in text:
            return None
        try:
            return Recipe.loads(text)
        except RecipeError as e:
            log.info("clipboard text is not a usable recipe: %s", e)
            return None

    def paste_targets(self) -> list[Path]:
        sel = self.filmstrip.selected_paths()
        if not sel and self.doc is not None:
            sel = [self.doc.path]
        return [p for p in sel if not self.filmstrip.is_failed(p)]

    def paste_recipe(self, selective: bool = False, *, steps: list | None = None, append: bool = False) -> int:
        """Paste the copied recipe onto the selected photos; returns how many photos changed."""
        commit_typing()  # a value typed, not yet entered, goes onto its own step first
        if self.clipboard is None:
            self.clipboard = self._recipe_from_system_clipboard()
        if self.clipboard is None:
            self.statusBar().showMessage("Nothing copied yet: Edit ▸ Copy Recipe first", 3000)
            return 0
        targets = self.paste_targets()
        if not targets:
            return 0
        ticked = None
        if steps is None:
            steps = list(self.clipboard.steps)
            if selective:
                dlg = PasteDialog(self.clipboard, len(targets), self)
                if dlg.exec() != PasteDialog.DialogCode.Accepted:
                    return 0
                ticked, append = dlg.ticked(), dlg.is_append()
        for p in targets:
            doc = self.get_doc(p)
            recipe = pasted(doc.recipe, steps, append=append, ticked=ticked)
            doc.undo.push(ReplaceRecipe(doc, recipe, "Paste recipe"))
        self.flush_sidecars()
        self.statusBar().showMessage(f"Pasted onto {len(targets)} photo(s)", 3000)
        return len(targets)

    def reset(self) -> None:
        commit_typing()  # a value typed, not yet entered, goes onto its own step first
        if self.doc is not None and len(self.doc.recipe):
            self.doc.undo.push(ReplaceRecipe(self.doc, Recipe(), "Reset"))

    # ---------------------------------------------------------------- export
    def export_selection(self) -> Any:
        from .export_dialog import ExportDialog

        paths = self.paste_targets()
        if not paths:
            failed = self.doc is not None and self.doc.failed
            self.statusBar().showMessage(f"Nothing to export: {self.doc.path.name} cannot be opened" if failed else
                                         "Nothing to export: open a photo or select some in the filmstrip", 5000)
            return None
        self.flush_sidecars(wait=True)
        unreadable = sum(self.filmstrip.is_failed(p) for p in self.filmstrip.selected_paths())
        dlg = ExportDialog([(p, self._shown_recipe(p)) for p in paths], self.settings, self, unreadable=unreadable,
                           recipe_of=self._shown_recipe, before_start=lambda: self.flush_sidecars(wait=True))
        dlg.show()  # not modal: editing and culling go on while it exports, as in Lightroom
        return dlg

    def _shown_recipe(self, path: Path) -> Recipe | None:
        """What Export applies to ``path``: its recipe as the window shows it. None: its sidecar, read
        by the export. A photo never edited exports as it is, as its thumbnail shows it (not Auto,
        which Batch Export Folder gives such photos, as its dialog says)."""
        if path in self.docs:
            return self.docs[path].recipe
        return None if has_sidecar(path) else Recipe()

    def batch_export(self) -> Any:
        """The whole folder through engine.batch (photos without edits get Auto)."""
        from .batch_dialog import BatchDialog

        self.flush_sidecars(wait=True)
        dlg = BatchDialog(self, self.folder, model=self.model, strength=self.strength, settings=self.settings,
                          before_start=lambda: self.flush_sidecars(wait=True),
                          auto_of=lambda: (self.model, self.strength))
        dlg.show()  # not modal: a long batch leaves the window usable
        return dlg

    # ---------------------------------------------------------------- drag and drop, about
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_path(paths[0])
            event.acceptProposedAction()

    def about_text(self) -> str:
        models = agent_mod.available_models()
        agents = agent_mod.loaded_agents()
        in_use = {str(getattr(a, "path", "")) for a in agents.values()}
        device = next((getattr(a, "device", "CPU") for a in agents.values()), None)
        lines = ["<h3>Retouch</h3>",
                 "<p>A RAW photo retoucher whose learned agent predicts ordinary, editable filters "
                 "(Hu et al., <i>Exposure</i>, TOG 2018).</p>",
                 "<p><b>Models</b><br>"]
        if models:
            lines.append("<br>".join(f"{m}{' <i>(in use)</i>' if str(m) in in_use else ''}" for m in models))
        else:
            lines.append("none installed: Auto and Variations are unavailable")
        meter = f"learned meter ({DEFAULT_METER.name})" if DEFAULT_METER.exists() else "classical (no meter installed)"
        wb = (f"learned colour constancy ({DEFAULT_WB.name})" if DEFAULT_WB.exists()
              else "max-RGB (no colour constancy model installed)")
        lines.append(f"</p><p><b>Auto's measured steps</b><br>exposure and contrast: {meter}<br>white balance: {wb}")
        lines.append("</p><p><b>Device</b>: ")
        if device is None:
            lines.append("not loaded yet (the agent loads on first use)")
        else:
            lines.append(device)
        lines.append("</p>")
        return "".join(lines)

    def about(self) -> None:
        QMessageBox.about(self, "About Retouch", self.about_text())
