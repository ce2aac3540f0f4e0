"""Autosaving the recipes as sidecars, and reading back edits changed on disk.

A mixin of :class:`app.window.MainWindow`, whose widgets and documents it uses.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication

from engine.recipe import SIDECAR_SUFFIX, Recipe, has_sidecar, save_sidecar, sidecar_path, sidecar_stamp

from .commands import FromDisk
from .document import PhotoDoc
from .errors import show_error
from .workers import run_in_pool


def _save(doc: PhotoDoc, recipe: Recipe) -> Path | None:
    """On the save pool (one thread, in order): the sidecar written against what this window last
    knew of it; where another program's version went, if it had changed."""
    doc.disk_stamp, kept = save_sidecar(doc.path, recipe, doc.disk_stamp)
    return kept


class SidecarsMixin:
    """Writes dirty photos' sidecars on the save pool and reports what could not be saved."""

    def flush_sidecars(self, wait: bool = False) -> None:
        for doc in self.docs.values():
            if not doc.dirty or doc.failed:
                continue
            if not doc.path.exists():  # deleted, or its folder moved or renamed: stays dirty, no sidecar
                self._report_unsaved(doc, "the photo is no longer where it was (moved, renamed or deleted)")
                continue
            if doc.sidecar_locked:  # stays dirty: quitting asks, as for a folder that cannot be written
                doc.save_error = "its sidecar is a newer Retouch's, which this one never saves over"
                if doc is self.doc:  # said while it is edited, not at each save of another photo
                    self.statusBar().showMessage(
                        f"Edits of {doc.path.name} not saved: its sidecar is a newer Retouch's", 5000)
                continue
            doc.dirty = False
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

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        # the shown photo's sidecar changed (or deleted) by another program while Retouch was behind
        # it: read again as the window comes forward, as on coming back to the photo (one stat)
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow() and self.doc is not None:
            self._reload_if_changed(self.doc)

    def _reload_if_changed(self, doc: PhotoDoc) -> None:
        """Edits another program (or another Retouch) saved while this photo was not shown are read
        again, as an undoable step, before they can be saved over."""
        if doc.dirty or doc.saves_pending or doc.sidecar_locked or doc.failed:
            return  # a save of ours still running changes the stamp too
        if not doc.path.exists():  # the photo (or its whole folder: a card pulled out) is gone, not its edits
            return
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
            # the edits shown are saved again: left clean, they were lost at quit with none on disk
            doc.dirty = bool(len(doc.recipe))
            if doc.dirty:
                self._autosave.start()
            show_error(self, "Edits could not be read", f"The edits of {doc.name} changed on disk and "
                       f"could not be read; the photo keeps the edits shown here, saved again.\n\n{e}")
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
        if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:  # never better at the next edit
            reason = (f"its name is too long for the file system once “{SIDECAR_SUFFIX}” is added; rename the photo "
                      "(shorter) to keep its edits")
        else:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        self._report_unsaved(doc, reason)

    def _report_unsaved(self, doc: PhotoDoc, reason: str) -> None:
        """Said at once, in a message box the first time for each photo, then in the status bar."""
        self.filmstrip.set_edited(doc.path, has_sidecar(doc.path))  # no ● for edits not on disk
        first = doc.save_error is None
        doc.save_error = reason
        if not first:
            self.statusBar().showMessage(f"Edits of {doc.path.name} not saved: {reason}", 5000)
            return
        then = ("Put it back where it was and they are saved with your next edit" if not doc.path.exists() else
                "Export applies them" if "too long" in reason else
                "Export applies them, and Retouch tries again after each edit")
        # the sidecar named, unless its name is what is wrong (a 250-character name, twice, said nothing more)
        where = "beside it" if len(os.fsencode(sidecar_path(doc.path).name)) > 255 else f"to {sidecar_path(doc.path)}"
        show_error(self, "Edits not saved",
                   f"The edits of {doc.path.name} could not be saved {where}: {reason}.\n\n"
                   f"They stay in this window while it is open. {then}; this message is not repeated for this photo.")
