"""Match a look: fit the steps that turn the open photo into a finished version of it.

A mixin of :class:`app.window.MainWindow`, whose widgets and documents it uses.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from engine.recipe import Recipe

from .commands import ReplaceRecipe
from .controls import commit_typing


class MatchLookMixin:
    """Photo ▸ Match a Look…."""

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
