"""Turning exceptions into messages a photographer can act on; never a bare traceback.

``install_excepthook`` replaces ``sys.excepthook``: the user sees what failed and what to do,
the traceback goes to a log file (shown only behind "Show Details…").
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

log = logging.getLogger("retouch.app")


def few_names(names: list[str]) -> str:
    """Up to three names, and how many more: what a message says of many photos or folders."""
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def log_file() -> Path:
    """``$XDG_STATE_HOME/retouch/retouch.log``, where the XDG spec keeps logs (else ``~/.local/state``).
    Qt's AppLocalDataLocation had doubled the name: ``~/.local/share/Retouch/Retouch``."""
    if sys.platform in ("darwin", "win32"):  # no XDG there: the platform's own folder, as before
        from PySide6.QtCore import QStandardPaths

        base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
        p = Path(base or Path.home() / ".retouch") / "retouch.log"
    else:
        base = os.environ.get("XDG_STATE_HOME", "")
        if not os.path.isabs(base):  # unset, or relative: the spec says to ignore it
            base = str(Path.home() / ".local" / "state")
        p = Path(base) / "retouch" / "retouch.log"
    with contextlib.suppress(OSError):  # not writable: logging goes to stderr (setup_logging), and the
        p.parent.mkdir(parents=True, exist_ok=True)  # error box still names where the log would be
    return p


def setup_logging() -> None:
    if logging.getLogger().handlers:
        return
    try:
        handler: logging.Handler = logging.FileHandler(log_file(), encoding="utf-8")
    except OSError:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)


def friendly(exc: BaseException) -> tuple[str, str]:
    """(what happened, what to do) for the exceptions a user can run into."""
    name = type(exc).__name__
    text = str(exc) or name
    if isinstance(exc, MemoryError):
        return ("Retouch ran out of memory.", "Close other programs or export at a smaller size, then try again.")
    if isinstance(exc, PermissionError):
        return (f"Permission denied: {text}", "Choose a folder you can write to, or check the file's permissions.")
    if isinstance(exc, FileNotFoundError):
        return (f"A file is missing: {text}", "It may have been moved or deleted; reopen the folder.")
    if isinstance(exc, OSError):
        return (f"A disk or file error occurred: {text}", "Check free disk space and that the drive is connected.")
    if name == "ImageError" and "file not found" in text:
        return (text, "It may have been moved or deleted; reopen the folder.")
    if name in ("ImageError", "RecipeError"):
        return (text, "The photo's original file is untouched.")
    if name == "ModelError":
        return (text, "Choose another style, or the Default one; your steps are unchanged.")
    return (f"An unexpected error occurred ({name}: {text}).",
            "Your edits are saved automatically. If it happens again, please report it with the log file.")


def show_error(parent: QWidget | None, title: str, exc_or_text: BaseException | str, details: str = "") -> None:
    if isinstance(exc_or_text, BaseException):
        what, todo = friendly(exc_or_text)
    else:
        what, todo = exc_or_text, ""
    box = QMessageBox(QMessageBox.Icon.Warning, title, what, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("errorBox")
    if todo:
        box.setInformativeText(todo)
    if details:
        box.setDetailedText(details)
    box.setModal(True)
    if parent is None:  # nothing owns a parentless box: kept until closed, or Python frees it unseen
        _orphans.add(box)
        box.finished.connect(lambda _=0, b=box: _orphans.discard(b))
    box.open()  # non-blocking: a modal exec() inside an excepthook can re-enter the failing code


_orphans: set[QMessageBox] = set()


def install_excepthook() -> None:
    """Route uncaught exceptions to the log and a friendly message box."""

    def hook(etype: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(etype, KeyboardInterrupt):
            sys.__excepthook__(etype, exc, tb)
            return
        details = "".join(traceback.format_exception(etype, exc, tb))
        log.error("uncaught exception\n%s", details)
        app = QApplication.instance()
        if app is None:
            sys.__excepthook__(etype, exc, tb)
            return
        show_error(QApplication.activeWindow(), "Retouch", exc,
                   f"Log file: {log_file()}\n\n{details}")

    sys.excepthook = hook
