"""Background work: a small QThreadPool wrapper whose results come back as GUI-thread signals.

Everything slow (decoding, thumbnails, inference, sidecar writes) goes through ``run_in_pool``;
the GUI thread only builds requests and shows results.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(object, str)  # exception, formatted traceback


class Task(QRunnable):
    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        super().__init__()
        self.setAutoDelete(False)  # Python owns it; see _live below
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.signals = _Signals()

    def run(self) -> None:
        try:
            result = self.fn(*self.args, **self.kwargs)
        except BaseException as e:  # reported to the GUI, never lost in a thread
            self._emit(self.signals.failed, e, traceback.format_exc())
        else:
            self._emit(self.signals.done, result)

    @staticmethod
    def _emit(signal: Any, *args: Any) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the app is shutting down: nobody is left to tell
            log.debug("result dropped at shutdown")


_live: set[Task] = set()  # keeps tasks (and their signal objects) alive until they report


def run_in_pool(fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None] | None = None,
                on_error: Callable[[BaseException, str], None] | None = None,
                pool: QThreadPool | None = None, **kwargs: Any) -> Task:
    task = Task(fn, *args, **kwargs)
    _live.add(task)

    def finish_ok(result: Any) -> None:
        _live.discard(task)
        if on_done is not None:
            on_done(result)

    def finish_err(exc: BaseException, tb: str) -> None:
        _live.discard(task)
        if on_error is not None:
            on_error(exc, tb)
        else:
            log.error("background task failed\n%s", tb)

    task.signals.done.connect(finish_ok)
    task.signals.failed.connect(finish_err)
    (pool or QThreadPool.globalInstance()).start(task)
    return task


def serial_pool(parent: QObject | None = None) -> QThreadPool:
    """A one-thread pool: jobs run in submission order (sidecar writes, thumbnails)."""
    pool = QThreadPool(parent)
    pool.setMaxThreadCount(1)
    return pool


def retouch_child(parent: QObject, args: list[str], *, stderr: Callable[[], None], stdout: Callable[[], None],
                  finished: Callable[[int, QProcess.ExitStatus], None],
                  error: Callable[[QProcess.ProcessError], None]) -> QProcess:
    """``python -m retouch ARGS`` started as a child process: the commands that need torch, which
    the app never imports. Unbuffered, so its progress lines arrive as they are printed."""
    proc = QProcess(parent)
    env = QProcessEnvironment.systemEnvironment()
    env.insert("PYTHONUNBUFFERED", "1")
    proc.setProcessEnvironment(env)
    proc.readyReadStandardError.connect(stderr)
    proc.readyReadStandardOutput.connect(stdout)
    proc.finished.connect(finished)
    proc.errorOccurred.connect(error)
    proc.start(sys.executable, ["-m", "retouch", *args])
    return proc


def signal_child(proc: QProcess, *, kill: bool = False) -> None:
    """SIGTERM (or SIGKILL) ``proc``; one still starting is signalled as soon as it has started."""
    send = proc.kill if kill else proc.terminate
    if proc.state() == QProcess.ProcessState.Starting:  # not yet a process to signal
        proc.started.connect(send)
    else:
        send()
