"""The signals that ask a command to stop (Ctrl-C, a kill, its terminal closed), handled in one way.

Every long command (``apply``, ``batch``, ``train-style``, the app) stops on any of them as on
Ctrl-C, but never catches one the user chose to ignore: ``nohup`` ignores SIGHUP, and a shell's
background job ignores SIGINT, and such a command must run on.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

#: Ctrl-C, a kill (``timeout``, systemd, ``docker stop``, a session's logout), the terminal closed
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))

Handler = Callable[[int, Any], Any] | int | signal.Handlers | None


def catch_stops(handler: Handler, kinds: tuple[int, ...] = STOP_SIGNALS) -> dict[int, Handler]:
    """``handler`` for each of ``kinds`` not ignored now; the handlers replaced, for :func:`restore`.
    Nothing off the main thread, where Python cannot set one."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in kinds if signal.getsignal(sig) is not signal.SIG_IGN}


def restore(previous: dict[int, Handler]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def hung_up(signum: int) -> bool:
    """Whether ``signum`` says the terminal is gone; if so, stdout and stderr now go to /dev/null,
    since a write to a hung-up terminal fails (EIO) and would turn a clean stop into a traceback."""
    if signum != getattr(signal, "SIGHUP", None):
        return False
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in (1, 2):
            os.dup2(null, fd)
    finally:
        os.close(null)
    return True
