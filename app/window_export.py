"""Export and Batch Export Folder: the non-modal dialogs that export as the window shows.

A mixin of :class:`app.window.MainWindow`, whose widgets and documents it uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.recipe import Recipe, has_sidecar


class ExportMixin:
    """File ▸ Export… and Batch Export Folder…."""

    def export_selection(self) -> Any:
        from .export_dialog import ExportDialog

        paths = self.paste_targets()
        if not paths:
            failed = self.doc is not None and self.doc.failed
            self.statusBar().showMessage(f"Nothing to export: {self.doc.path.name} cannot be opened" if failed else
                                         "Nothing to export: open a photo or select some in the filmstrip", 5000)
            return None
        for open_one in self.findChildren(ExportDialog):  # Ctrl+E again: the one already open for these
            # (one exporting stays as it is: a second export of them into the folder may wait its turn)
            if open_one.isVisible() and not open_one.running() and [p for p, _ in open_one.photos] == paths:
                open_one.raise_()
                open_one.activateWindow()
                return open_one
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
                          auto_of=lambda: (self.model, self.strength), held_of=self._held_edits)
        dlg.show()  # not modal: a long batch leaves the window usable
        return dlg

    def _held_edits(self) -> dict[Path, dict]:
        """The edits only this window holds (their sidecars could not be written: a read-only folder,
        a full disk, a newer Retouch's sidecar), by resolved path, for Batch Export to apply as Export
        does. Called once the pending saves are done: a photo still dirty is one whose save failed."""
        return {d.path.resolve(): d.recipe.to_json() for d in self.docs.values() if d.dirty and not d.failed}
