"""Entry point: ``main(argv)`` opens the window on an optional PATH (a photo or a folder)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

_T0 = time.perf_counter()


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="retouch", description="Retouch: RAW photo retoucher")
    ap.add_argument("path", nargs="?", type=Path, help="a photo or a folder of photos to open")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from PySide6.QtCore import QCoreApplication, QTimer
    from PySide6.QtWidgets import QApplication

    from .errors import install_excepthook, setup_logging
    from .theme import apply_theme

    QCoreApplication.setOrganizationName("Retouch")
    QCoreApplication.setApplicationName("Retouch")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    setup_logging()
    install_excepthook()
    apply_theme(app)
    icon = Path(__file__).resolve().parents[1] / "resources" / "icons" / "retouch.svg"
    if icon.exists():
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon)))
    from .window import MainWindow

    win = MainWindow()
    win.show()
    shown = time.perf_counter() - _T0
    import logging

    logging.getLogger("retouch.app").info("window shown %.0f ms after start", shown * 1e3)
    if args.path is not None:
        QTimer.singleShot(0, lambda: win.open_path(args.path))
    else:  # where the last session left off
        QTimer.singleShot(0, win.reopen_last)
    interrupted = _close_on_ctrl_c(win)
    code = app.exec()
    from engine.io.safe import ABANDON

    ABANDON.set()  # the decodes still running in children (thumbnails, previews) stop: exit waits for them
    return 130 if interrupted else code


def _close_on_ctrl_c(win: Any) -> list[bool]:
    """Ctrl-C in the terminal closes the window as its close button does (pending edits are saved),
    then the app exits 130. Python runs signal handlers only between its own bytecodes, so a timer
    wakes it while Qt's event loop waits. Returns a list that is non-empty once interrupted."""
    from PySide6.QtCore import QTimer

    from engine.interrupts import catch_stops, hung_up

    interrupted: list[bool] = []

    def on_sigint(signum: int, _frame: object) -> None:
        hung_up(signum)  # the log lines that follow go nowhere rather than fail (EIO)
        interrupted.append(True)
        QTimer.singleShot(0, win.close)

    # a kill (SIGTERM, as a session's logout sends) or the terminal it was started from closed
    # (SIGHUP; not under nohup, which ignores it) closes the same way: it ended the app at once,
    # its export's workers left running and its last edit unsaved
    catch_stops(on_sigint)
    wake = QTimer(win, interval=200)
    wake.timeout.connect(lambda: None)
    wake.start()
    return interrupted


if __name__ == "__main__":
    raise SystemExit(main())
