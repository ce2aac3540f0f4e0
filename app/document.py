"""One open photo's editable state: its recipe, undo stack and decoded pixels.

A ``PhotoDoc`` is the Qt-side model the views bind to: every change goes through an undo
command (``app/commands.py``) that mutates ``recipe`` and emits ``changed``. Pixels are held
only for the photo on screen; other docs keep just their recipe (for copy/paste and sidecars).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from engine.recipe import NewerRecipeError, Recipe, RecipeError, read_sidecar, sidecar_stamp

from .workers import release_later

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """What changed, so views update the least they can: ``kind`` is ``param``, ``enabled`` or ``structure``."""

    kind: str
    index: int = -1
    name: str = ""


class PhotoDoc(QObject):
    changed = Signal(object)  # Change

    def __init__(self, path: Path, parent: QObject | None = None):
        super().__init__(parent)
        self.path = Path(path)
        self.undo = QUndoStack(self)
        self.sidecar_error: str | None = None
        # A newer Retouch's sidecar: kept as it is, so edits made here are never saved over it.
        self.sidecar_locked = False
        # the sidecar as this window last read or wrote it: one changed since by another program is
        # kept aside before a save (engine.recipe.save_sidecar), and re-read when the photo is shown
        self.disk_stamp = sidecar_stamp(self.path)
        self.saves_pending = 0  # queued on the save pool: its stamp is about to change, by us
        try:
            self.recipe = read_sidecar(self.path) or Recipe()
        except RecipeError as e:  # read_sidecar already moved a bad file aside (not a newer one)
            log.warning("bad sidecar for %s: %s", self.path, e)
            self.sidecar_error = str(e)
            self.sidecar_locked = isinstance(e, NewerRecipeError)
            self.recipe = Recipe()
        self.dirty = False
        self.save_error: str | None = None  # why the last sidecar write failed (said once)
        self.unsaid = False  # its sidecar could not be used, and the window has not said so yet
        self.failed: str | None = None
        self.failed_stamp: tuple[int, int] | None = None  # the file as it was when it failed (None: missing)
        # Pixels (only while on screen): full linear, screen-size linear cache, metadata.
        self.linear: Any = None
        self.preview_linear: Any = None
        self.draft_linear: Any = None
        self.meta: Any = None
        self.decoding: set[str] = set()  # decodes queued or running ("quick", "full"): one of each at a time

    @property
    def name(self) -> str:
        return self.path.name

    def notify(self, change: Change) -> None:
        self.dirty = True
        self.changed.emit(change)

    def drop_pixels(self) -> None:
        held = [self.linear, self.preview_linear, self.draft_linear]
        self.linear = self.preview_linear = self.draft_linear = None
        release_later(*held)  # freed off the GUI thread
        held.clear()


def file_stamp(path: Path) -> tuple[int, int] | None:
    """Size and time of a file, None where it is missing: a photo that failed is tried again once
    this changes (its card put back, the file replaced)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns
