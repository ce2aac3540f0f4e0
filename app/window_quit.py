"""Quitting: never under a running export, never silently dropping unsaved edits.

A mixin of :class:`app.window.MainWindow`, whose widgets and documents it uses.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox

from .document import PhotoDoc
from .errors import few_names


class QuitMixin:
    """closeEvent and the questions it asks before the window goes."""

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
            "Cancel it and quit? The photos exported so far stay; the others are not exported. Nothing "
            "half-written is left behind.", "Cancel Export and Quit", "Keep Exporting")

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
            self.statusBar().showMessage("Cancelling the export; Retouch quits once it has stopped…")
            return
        self._quitting = False  # no export holds the quit any more: a refused one below asks again next time
        if self.style_dialog is not None and self.style_dialog.is_training():
            # quitting mid-training keeps what was learnt: the trainer checkpoints on SIGTERM (a second or two)
            self.style_dialog.stop()
            self.style_dialog.proc.waitForFinished(30_000)
        if self.matcher is not None:
            self.matcher.cancel()  # a fit writes nothing until it ends
        self.stop_auto_selected()  # the photos done keep their Auto (saved below); the queue is dropped
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
        # a render ends within a second; the kernels' first compile (a fresh install, half a minute)
        # cannot be stopped, and waiting longer only froze the closing window (5 s measured)
        self._closed = True  # the decodes still running stop (the app's exit waits for its threads)
        self.renderer.shutdown(wait=1.0)
        self.settings.sync()
        super().closeEvent(event)

    def _ask_quit_unsaved(self, docs: list[PhotoDoc]) -> bool:
        """Edits that could not be saved (the photo moved or deleted while open, a folder that cannot
        be written) were dropped at quit without a word."""
        names = few_names([d.name for d in docs])
        gone = any(not d.path.exists() for d in docs)
        why = ("the photo is no longer where it was opened (moved, renamed or deleted)" if gone
               else docs[0].save_error or "the sidecar could not be written")
        keep = ("To keep them, stay: export the photo with them, or copy the recipe (Edit ▸ Copy Recipe), which "
                "copies it as text." if all(d.sidecar_locked for d in docs) else
                "To keep them, stay: copy the recipe (Edit ▸ Copy Recipe) and paste it onto the photo where it "
                "is now.")
        return self._ask_to_quit("quit-unsaved", QMessageBox.Icon.Warning, "Edits not saved",
                                 f"The edits of {names} could not be saved: {why}.", keep,
                                 "Quit Without Them", "Keep Retouch Open")
