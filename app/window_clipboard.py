"""Copy, paste and reset of whole recipes.

A mixin of :class:`app.window.MainWindow`, whose widgets and documents it uses.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtWidgets import QApplication

from engine.recipe import Recipe

from .commands import ReplaceRecipe, pasted, same_look
from .controls import commit_typing
from .errors import few_names
from .paste_dialog import PasteDialog

log = logging.getLogger(__name__)


class ClipboardMixin:
    """Edit ▸ Copy Recipe, Paste Recipe, Paste Selectively… and Reset Photo."""

    def copy_recipe(self) -> None:
        commit_typing()  # what is copied includes a value typed and not yet entered
        if self.doc is None:
            return
        self.clipboard = self.doc.recipe.copy()
        QApplication.clipboard().setText(self.clipboard.dumps())
        self.clipboard_foreign = False
        self.statusBar().showMessage(f"Copied {len(self.clipboard)} steps from {self.doc.name}", 3000)

    def _clipboard_changed(self) -> None:
        text = QApplication.clipboard().text()
        self.clipboard_foreign = self.clipboard is None or text != self.clipboard.dumps()  # not this window's copy

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
        # a recipe copied since in another Retouch (or from a sidecar in an editor) is the newer copy;
        # the clipboard holding other text keeps this window's
        if self.clipboard is None or self.clipboard_foreign:
            fresh = self._recipe_from_system_clipboard()
            if fresh is not None:
                self.clipboard = fresh
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
        changed, locked = 0, []
        for doc in self.docs_for(targets):  # a bad sidecar among many: said once
            if doc.sidecar_locked:  # its edits would show here and never be saved
                locked.append(doc.name)
                continue
            recipe = pasted(doc.recipe, steps, append=append, ticked=ticked)
            if not append and same_look(recipe, doc.recipe):
                continue  # the photo copied from (Select All, Paste): left as it is, its labels too
            doc.undo.push(ReplaceRecipe(doc, recipe, "Paste recipe"))
            changed += 1
        self.flush_sidecars()
        said = (f"Pasted onto {changed} photo(s)" if changed else
                "Nothing pasted" if locked else "Nothing to paste: the photos have that recipe")
        if locked:
            whose = "its" if len(locked) == 1 else "their"
            said += f"; not onto {few_names(locked)}: {whose} edits are a newer Retouch's"
        self.statusBar().showMessage(said, 8000 if locked else 3000)
        return changed

    def reset(self) -> None:
        commit_typing()  # a value typed, not yet entered, goes onto its own step first
        if self.doc is not None and len(self.doc.recipe):
            self.doc.undo.push(ReplaceRecipe(self.doc, Recipe(), "Reset"))
