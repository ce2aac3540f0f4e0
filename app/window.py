"""The main window: composes viewer, filmstrip, histogram and panels, and owns the documents.

It is the controller: it turns user intents into undo commands or background jobs, and
results (decoded pixels, renders, agent recipes) back into view updates. It never runs
pixel work itself. This module builds the window and opens, decodes and shows photos; the
rest of its work is in mixins, one module each (``app/window_*.py``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QImage, QKeyEvent, QKeySequence, QUndoGroup
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.folders import list_photos
from engine.recipe import Recipe
from engine.runners.agent import AUTO_STRENGTH, DEFAULT_MODEL
from engine.runners.constancy import DEFAULT_WB
from engine.runners.meter import DEFAULT_METER

from . import agent as agent_mod
from . import display, thumb_cache
from .controls import Nudges, commit_typing
from .document import PhotoDoc, file_stamp
from .errors import few_names, show_error
from .filmstrip import Filmstrip
from .folder_bar import FolderBar, folder_message
from .histogram import Histogram
from .loading import (
    Decoded,
    Skipped,
    decode,
    decode_quick,
    first_look,
    is_raw,
    quick_open,
)
from .renderer import Renderer, RenderRequest
from .retouch_panel import RetouchPanel
from .viewer import Viewer
from .wb_pick import WhiteBalancePicker
from .window_agent import AgentMixin
from .window_auto_many import RUN_TEXT, AutoManyMixin
from .window_clipboard import ClipboardMixin
from .window_display import DisplayMixin
from .window_export import ExportMixin
from .window_folders import FoldersMixin
from .window_match import MatchLookMixin
from .window_quit import QuitMixin
from .window_render import RenderMixin, preview_key
from .window_sidecars import SidecarsMixin
from .window_styles import StylesMixin
from .workers import run_in_pool, serial_pool

log = logging.getLogger(__name__)

#: Over the quick preview until the photo's first render (:meth:`MainWindow._show_notice`).
LOADING = "Loading the photo…"
PREPARING = ("Preparing the editor for its first use after an install (up to a minute). "
             "Your edits are kept and show as soon as it is ready.")


AUTOSAVE_MS = 400  # sidecars are written at most this long after the last change
COMING = {
    "Low light": "Low-light enhancement: coming in a later release.",
    "Complete": "Completion (remove objects, extend the frame): coming in a later release.",
    "Restore": "Restoration (denoise, deblur, old photos): coming in a later release.",
}


class MainWindow(FoldersMixin, QuitMixin, RenderMixin, SidecarsMixin, MatchLookMixin, StylesMixin, AgentMixin,
                 ClipboardMixin, ExportMixin, DisplayMixin, AutoManyMixin, QMainWindow):
    # the mixins hold methods only: every attribute is set here, their Qt base class comes last
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
        # the system clipboard changed since this window copied (another Retouch, an editor): a
        # recipe there is then the newer copy
        self.clipboard_foreign = False
        QApplication.clipboard().dataChanged.connect(self._clipboard_changed)
        self.model: Path | None = None
        self.variations: list[Recipe] = []
        self._variation_seed = 0
        #: the agent's jobs in flight, (kind, the photo's doc): one of each kind per photo
        self._running: set[tuple[str, PhotoDoc]] = set()
        #: a button that handed the keyboard to the photo while its job on that photo runs
        self._parked_on: tuple[QWidget, PhotoDoc] | None = None
        self._pending: tuple[PhotoDoc, Callable[[], None]] | None = None  # pressed while the photo opened
        self._sort_request = 0  # the newest filmstrip order asked for: an older one landing late is dropped
        self.style_dialog = None  # Learn my style, made when first asked for
        self.matcher = None  # Match a look, one fit at a time
        self._match_said: tuple[PhotoDoc, str, str] | None = None  # (photo, its fitted steps, the line said)
        self.strength = AUTO_STRENGTH
        self._strength_known = False  # until the style's model has loaded (_agent_ready)
        self._strength_nudges = Nudges()  # quick Strength key presses are one undo step
        #: each photo's last Auto: its full-strength recipe, the proxy it was measured on, every recipe
        #: the strength slider made of it (as JSON) with that strength, and the style that made it (its
        #: strength key): only that style's slider rescales it
        self._autos: dict[PhotoDoc, tuple[Recipe, np.ndarray, dict[str, float], str]] = {}
        self._adopted: dict[PhotoDoc, set[str]] = {}  # each photo's variations adopted (as JSON)
        self._hovered: Recipe | None = None  # the variation under the pointer: the photo is shown in it
        self._shown_variation = False  # the preview on screen shows a variation, not the steps
        self.show_clipping = False  # View ▸ Show Clipping: the preview and crops carry its overlay
        self._auto_run: Any = None  # Auto on Selected Photos while it runs (window_auto_many.AutoRun)
        self._auto_pool = serial_pool(self)  # its photos one at a time: two cores, and a decode child each
        # why the strength slider left the photo alone, while the status line says it: re-read as
        # the steps change (an undo back to Auto's result makes it false)
        self._strength_note: tuple[PhotoDoc, str] | None = None
        self._latest: dict[str, int] = {}
        # the fast render path's kernels are loaded: a fresh install compiles them (up to a minute
        # on a busy machine), with the embedded preview on screen and no word why
        self._renderer_ready = False
        self._rendered_once = False
        # the shown photo's edited thumbnail stands in until its render: its camera preview (the
        # embedded JPEG) is not what its edits look like, and flashed before them
        self._edited_standin = False
        self.shown_preview = -1  # id of the preview render on screen
        self._shown_source: Any = None  # the linear cache it was rendered from
        self._before_source: Any = None  # and the before view's
        self._curves_for: tuple[str, Any] | None = None  # the steps and source the curves' histograms were asked of
        self._screen: tuple[Any, tuple[int, int], Any] | None = None  # (doc, size, level): preview at screen size
        self._screen_wanted: tuple[Any, tuple[int, int]] | None = None
        self._screen_busy = False
        self._screen_broken: tuple[Any, tuple[int, int]] | None = None
        self._quitting = False  # closing was asked for while exports ran: close when they stop
        self._closed = False  # the window has closed: what it still runs is no longer wanted
        self.last_render_ms = 0.0
        self.undo_group = QUndoGroup(self)
        self.save_pool = serial_pool(self)
        self.decode_pool = QThreadPool(self)
        self.decode_pool.setMaxThreadCount(1)
        self._preview_pool = serial_pool(self)  # edited photos' screen previews kept on disk
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
        # the screen's colour profile (window_display): the chosen file, the profile in use, the screen's index
        self._display_file = ""
        self._display_profile = display.Profile(None, "sRGB", "none")
        self._display_screen = 0
        self._display_warning: str | None = None  # the last said: not said again at each activation
        self._display_read = 0.0  # when the system's profile was last read on activation (monotonic)
        self._screen_watched = False
        # the quick or embedded preview still up after this: say why edits do not show yet
        self._notice_timer = QTimer(self, singleShot=True, interval=1200)
        self._notice_timer.timeout.connect(self._show_notice)
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
        self.viewer.setAccessibleName("Photo")
        self.viewer.viewChanged.connect(self._view_changed)
        self.viewer.zoomChanged.connect(self._zoom_changed)
        self.histogram = Histogram()
        self.histogram.setAccessibleName("Histogram")
        self.panel = RetouchPanel()
        self.panel.autoRequested.connect(self.auto)
        self.panel.variationsRequested.connect(self.request_variations)
        self.panel.variationChosen.connect(self.adopt_variation)
        self.panel.variationHovered.connect(self.show_variation)
        self.panel.strengthChanged.connect(self.set_strength)
        self.panel.strength.on_home = self._strength_home
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
        panel_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # a Tab stop that showed nothing
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
        self.split.setSizes([1000, 400])  # room for every card title beside its buttons
        self.filmstrip = Filmstrip()
        self.filmstrip.setAccessibleName("Filmstrip")
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
        act(e, "Rese&t Photo", self.reset, "Ctrl+R", "Remove every step (undoable)")

        v = mb.addMenu("&View")
        act(v, "Zoom to &Fit", self.viewer.set_fit, "Ctrl+0")
        act(v, "Zoom &100 %", self.viewer.zoom_100, "Ctrl+1")
        zoom_in = act(v, "Zoom &In", lambda: self.viewer.set_zoom(self.viewer.scale * 1.25), S.ZoomIn)
        # Ctrl+= too, as Lightroom takes it: on a US keyboard + is Shift+=
        zoom_in.setShortcuts([*QKeySequence.keyBindings(S.ZoomIn), QKeySequence("Ctrl+=")])
        act(v, "Zoom &Out", lambda: self.viewer.set_zoom(self.viewer.scale / 1.25), S.ZoomOut)
        v.addSeparator()
        self.a_split = act(v, "&Before / After", self.viewer.toggle_split, "\\")
        self.a_split.setCheckable(True)
        self.viewer.splitToggled.connect(self.a_split.setChecked)
        self.viewer.splitToggled.connect(lambda on: self._split_on() if on else None)
        # the window's, not the photo's: they worked only once the photo had been clicked
        moves = [act(v, f"Move Before / After Line {side}", lambda d=d: self.viewer.move_split(d), f"Alt+{side}")
                 for side, d in (("Left", -0.05), ("Right", 0.05))]
        for a in moves:
            a.setEnabled(False)
            self.viewer.splitToggled.connect(a.setEnabled)
        self.a_clipping = act(v, "Show &Clipping", lambda: self.set_clipping(self.a_clipping.isChecked()), "J",
                              "Red where a channel is blown at 255, blue where the photo is crushed to black")
        self.a_clipping.setCheckable(True)
        self.histogram.clicked.connect(lambda: self.set_clipping(not self.show_clipping))
        self.a_strip = act(v, "Show Film&strip", lambda: self.filmstrip.setVisible(self.a_strip.isChecked()))
        self.a_strip.setCheckable(True)
        self.a_strip.setChecked(True)
        full = act(v, "F&ull Screen", self._toggle_full)
        # the platform's keys plus F11 always: without a desktop session Qt's FullScreen binds none
        keys = QKeySequence.keyBindings(S.FullScreen)
        full.setShortcuts([QKeySequence("F11"), *[k for k in keys if k != QKeySequence("F11")]])
        full.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        v.addSeparator()
        self._build_display_menu(v)

        p = mb.addMenu("&Photo")
        act(p, "&Auto", self.auto, "Ctrl+Shift+A", "The agent predicts an edit")
        self.a_auto_selected = act(p, RUN_TEXT, self.auto_selected, "Ctrl+Alt+A",
                                   "Auto on each photo selected in the filmstrip, each from its own pixels; "
                                   "pressed again while it runs, it stops")
        act(p, "&Variations", self.request_variations, "Ctrl+Shift+R")
        act(p, "Auto &White Balance", self.auto_white_balance, "Ctrl+Shift+W",
            "Measure the white balance (the learned colour constancy, max-RGB without it) and set it as a step, "
            "leaving the others")
        act(p, "Pic&k White Balance", lambda: self.pick_white_balance(), "W",
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

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Esc leaves full screen, as in Lightroom and a browser, where nothing nearer took it (a
        pick, a value typed): only F11 did (QA)."""
        if event.key() == Qt.Key.Key_Escape and self.isFullScreen() and not event.modifiers():
            self.showNormal()
            return
        super().keyPressEvent(event)

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
        self.set_clipping(self.settings.value("view/clipping", "false") == "true")
        self.apply_display_profile()

    # ---------------------------------------------------------------- opening
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
        if not path.is_dir() and not path.is_file():  # a pipe: the folder's first photo came instead
            show_error(self, "Open", f"{path} is not a photo file: it is not a regular file (a pipe, a socket or a "
                                     "device?). Open a photo or a folder.")
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

    def get_doc(self, path: Path, *, say: bool = True) -> PhotoDoc:
        """The photo's document, made (its sidecar read) the first time; ``say``: a sidecar that
        cannot be used is said in a message box (a paste onto many says them in one)."""
        path = Path(path)
        doc = self.docs.get(path)
        if doc is None:
            doc = PhotoDoc(path, self)
            doc.changed.connect(lambda change, d=doc: self._doc_changed(d, change))
            self.undo_group.addStack(doc.undo)
            self.docs[path] = doc
            doc.unsaid = bool(doc.sidecar_error)
        if say and doc.unsaid:  # made silently (a paste) and not said since: said as it is shown
            doc.unsaid = False
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

    def docs_for(self, paths: list[Path]) -> list[PhotoDoc]:
        """The documents of ``paths`` for an action on many (Paste, Auto on selected): the sidecars
        that cannot be read said in one box, not one each (a paste onto six stacked four); a newer
        Retouch's is said when its photo is shown."""
        docs = [self.get_doc(p, say=False) for p in paths]
        unread = [d for d in docs if d.unsaid and not d.sidecar_locked]
        for d in unread:
            d.unsaid = False
        if unread:
            show_error(self, "Edits could not be read",
                       f"The saved edits of {few_names([d.name for d in unread])} could not be read (set aside "
                       "beside the photo); "
                       f"{'it opens' if len(unread) == 1 else 'they open'} unedited.\n\n{unread[0].sidecar_error}")
        return docs

    def _leave_photo(self) -> None:
        self.drop_hover()
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
        if doc.failed and file_stamp(path) != doc.failed_stamp:  # back (a card put in again), or replaced
            doc.failed = None
        if not doc.failed and self.filmstrip.is_failed(path) and file_stamp(path) is not None:
            self.filmstrip.unmark_failed(path)  # tried again; marked again if it still fails
        if known:
            self._reload_if_changed(doc)
        self.doc = doc
        # edited in another window since the folder opened (or a newer Retouch's edits, kept as they are)
        self.filmstrip.set_edited(path, len(doc.recipe) > 0 or doc.sidecar_locked)
        if self._pending is not None:  # Auto pressed on the photo left behind does not follow to this one
            self._pending = None
            self.panel.set_busy("")
        self._rendered_once = False
        self._latest.clear()
        self._screen = self._screen_wanted = None  # the previous photo's screen-size level
        self._curves_for = None
        for kind in ("preview", "crop", "crop_before", "curves"):
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
        standin, steps = self.filmstrip.look(path) or (None, None)
        edits = thumb_cache.steps_key(doc.recipe)
        if steps not in (edits, thumb_cache.NO_STEPS):
            standin = None  # an older edit's look (edited since, here or in another window)
        self._edited_standin = standin is not None and steps == edits and bool(doc.recipe.active())
        if standin is None:
            self.viewer.clear(f"Opening {path.name}…")
        else:  # its thumbnail, until a sharper picture comes (walking a shoot showed blank frames)
            img = standin.scaled(  # smoothly enlarged here: the viewer draws a small image's pixels as blocks
                self.viewer.size() * self.viewer.devicePixelRatioF(), Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation)
            self.viewer.set_photo(img.size(), img)
            self.render_label.setText(self._embedded_label("thumbnail"))
            self._notice_timer.start()
        # sharper: an edited photo's screen preview kept from an earlier visit, else the embedded one
        kept = preview_key(doc) if doc.recipe.active() else None
        run_in_pool(first_look, path, kept, lambda d=doc: self._showing(d), pool=self.decode_pool,
                    on_done=lambda res, d=doc: self._first_look(d, *res),
                    on_error=lambda e, tb: isinstance(e, Skipped) or log.info("no embedded preview for %s: %s",
                                                                                 path, e))
        self._start_decodes(doc)

    def _showing(self, doc: PhotoDoc) -> bool:
        """Whether ``doc``'s decodes are still wanted: it is shown, and the window is not closing
        (quitting waited for them, 5-25 s with a large photo, holding gigabytes, its window gone)."""
        return self.doc is doc and not self._closed

    def _start_decodes(self, doc: PhotoDoc) -> None:
        """The shown photo's decodes, those not already queued or running. Back on a photo whose
        decodes still run (it was left a moment ago), they are wanted again, so none is started
        twice (two full decodes of a 45 MP RAW at once)."""
        path = doc.path
        if quick_open(path) and "quick" not in doc.decoding:  # editable from its half-size decode first
            doc.decoding.add("quick")
            run_in_pool(decode_quick, path, lambda d=doc: self._showing(d), pool=QThreadPool.globalInstance(),
                        owner=self, on_done=lambda res, d=doc: self._decoded_quick(d, res),
                        on_error=lambda e, tb, d=doc: self._quick_failed(d, e))
        if "full" not in doc.decoding:
            doc.decoding.add("full")
            run_in_pool(decode, path, lambda d=doc: self._showing(d), pool=QThreadPool.globalInstance(),
                        owner=self, on_done=lambda res, d=doc: self._decoded(d, res),
                        on_error=lambda e, tb, d=doc: self._decode_failed(d, e, tb))

    def _first_look(self, doc: PhotoDoc, img: QImage, kept: str) -> None:
        """:func:`first_look`'s picture, while the photo is still not rendered: its kept screen
        preview (``kept``, its key, still that of its edits), or its embedded preview unless its
        edited thumbnail stands in (the camera look is not what its edits look like)."""
        if doc is not self.doc or self._rendered_once or doc.preview_linear is not None or doc.failed:
            return
        if kept and kept != preview_key(doc):
            return  # edited since it was asked
        if not kept and self._edited_standin:
            return
        self.viewer.set_photo(img.size(), img)
        self.render_label.setText(self._embedded_label("kept preview" if kept else ""))
        self._notice_timer.start()

    def _embedded_label(self, kind: str = "") -> str:
        # a JPEG's or TIFF's is its own pixels, read small: only a RAW embeds a preview
        kind = kind or ("embedded preview" if self.doc is not None and is_raw(self.doc.path) else "quick preview")
        return kind + ("" if self._renderer_ready else " · preparing the editor…")

    def _zoom_changed(self, scale: float) -> None:
        """The zoom, once the photo's size is known: over a thumbnail or an embedded preview it read
        the stand-in's scale (800 % over a thumbnail)."""
        known = self.doc is not None and self.doc.preview_linear is not None
        self.zoom_label.setText(f"{scale * 100:.0f} %" if known else "")

    def _show_notice(self) -> None:
        """Over a quick preview still shown: the photo is being decoded, or, on the first start after
        an install, the render kernels are being compiled (half a minute on two cores), during which
        edits and Auto change nothing on screen (a QA's photographer took them for broken)."""
        if self.doc is None or self._rendered_once or self.doc.failed or not self.viewer.has_image():
            return
        self.viewer.set_notice(LOADING if self._renderer_ready else PREPARING)

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
        self._request_before(doc, doc.preview_linear)  # at once, for a split; from the preview's source once known
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
            _log_failed(f"full decode of {doc.path} failed after its quick one", exc, tb)
            if doc is self.doc:
                self.statusBar().showMessage(
                    f"{doc.name}: the full-resolution decode failed ({exc}). Editing goes on at screen size; "
                    "the 100 % view shows no finer detail, and an export will say why it fails.", 20000)
            return
        _log_failed(f"cannot open {doc.path}", exc, tb)
        doc.failed = str(exc) or type(exc).__name__
        doc.failed_stamp = file_stamp(doc.path)
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

    # ---------------------------------------------------------------- edits
    def _doc_changed(self, doc: PhotoDoc, change: Any) -> None:
        self._autosave.start()
        if doc is self.doc:
            self.drop_hover()  # an edit (an adopted variation too) shows the steps
            self._thumb_owed = doc
            self.schedule_render()
            self._follow_auto_strength(doc)
            self._match_note_stale(doc)

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


def _log_failed(what: str, exc: BaseException, tb: str) -> None:
    """A photo that cannot be read (damaged, unsupported, gone, its decode timed out) in one line;
    anything else is a bug, logged with its traceback."""
    from engine.io.errors import ImageError

    if isinstance(exc, (ImageError, OSError, TimeoutError)):
        log.warning("%s: %s", what, exc)
    else:
        log.error("%s\n%s", what, tb)
