"""The signals that ask a command to stop (Ctrl-C, a kill, its terminal closed), handled in one way.

Every long command (``apply``, ``batch``, ``train-style``, the app) stops on any of them as on
Ctrl-C, but never catches one the user chose to ignore: ``nohup`` ignores SIGHUP, and a shell's
background job ignores SIGINT, and such a command must run on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    to_null(1, 2)
    return True


def to_null(*fds: int) -> None:
    """File descriptors ``fds`` now write to /dev/null (what is still buffered for them too)."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in fds:
            os.dup2(null, fd)
    finally:
        os.close(null)


@contextmanager
def stopping_as_ctrl_c() -> Iterator[None]:
    """Inside, a kill (SIGTERM) or a closed terminal (SIGHUP) stops a command as Ctrl-C does (a
    KeyboardInterrupt, so its half-written output is removed; by default they ended the process at
    once and left it), and each also sets ``engine.atomic.STOP_REQUESTED``, so that an interrupt a
    library swallowed (llvmlite's ctypes callback) still commits no output. Both are undone on the
    way out, for a process that goes on. ``batch`` and ``train-style`` set their own handlers inside."""
    from .atomic import STOP_REQUESTED

    def interrupt(signum: int, _frame: object) -> None:
        hung_up(signum)
        STOP_REQUESTED.set()
        raise KeyboardInterrupt

    previous = catch_stops(interrupt)
    try:
        yield
    finally:
        restore(previous)
        STOP_REQUESTED.clear()


class _QuietWhenGone:
    """A text stream that goes quiet (to /dev/null) once its reader has gone: ``retouch auto ... |
    head -1`` stopped at the line ``head`` no longer read ("Broken pipe", exit 1), before the files
    it was asked for were written. What it writes is only a report; the files are the work."""

    def __init__(self, stream: Any):
        self._stream = stream

    def _gone(self) -> None:
        to_null(self._stream.fileno())  # flushed there, at exit too, without "Exception ignored"

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def quiet_when_gone() -> Iterator[None]:
    """Inside, stdout and stderr whose reader has gone (a pipe into ``head``) are dropped, not
    raised: a command writes its files whatever becomes of its report."""
    import sys

    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (_QuietWhenGone(s) if s is not None else s for s in saved)
    try:
        yield
    finally:
        for s in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                s.flush()
        sys.stdout, sys.stderr = saved
