"""Opening folders from dialogs, the filmstrip's order and the Open Recent menu.

A mixin of :class:`app.window.MainWindow`, whose widgets and documents it uses.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from engine.folders import natural_key

from .folder_bar import literal
from .loading import capture_order
from .workers import run_in_pool

MAX_RECENT = 8


class FoldersMixin:
    """Open Photo/Folder dialogs, the parent folder, the last session's photo, the strip's sort order
    and the recent folders."""

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
            self.recent_menu.addAction(literal(r), lambda r=r: self.open_path(Path(r)))
        self.recent_menu.setEnabled(bool(self.recent()))
