"""Background work: a small QThreadPool wrapper whose results come back as GUI-thread signals.

Everything slow (decoding, thumbnails, inference, sidecar writes) goes through ``run_in_pool``;
the GUI thread only builds requests and shows results.
"""

from __future__ import annotations

import logging
import sys
import time
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
        self.pool: QThreadPool | None = None

    def run(self) -> None:
        fn, args, kwargs = self.fn, self.args, self.kwargs
        self.fn = self.args = self.kwargs = None  # a photo's pixels are freed when the work is done
        try:
            result = fn(*args, **kwargs)
        except BaseException as e:  # reported to the GUI, never lost in a thread
            del fn, args, kwargs
            tb = traceback.format_exc()
            e.__traceback__ = None  # its frames hold the arguments; the text says what is needed
            self._emit(self.signals.failed, e, tb)
        else:
            del fn, args, kwargs
            self._emit(self.signals.done, result)

    def _emit(self, signal: Any, *args: Any) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # its owner (a closed window) or the app is gone: nobody is left to tell
            _live.discard(self)
            log.debug("result dropped: its owner is gone")


_live: set[Task] = set()  # keeps tasks (and their signal objects) alive until they report


def run_in_pool(fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None] | None = None,
                on_error: Callable[[BaseException, str], None] | None = None,
                pool: QThreadPool | None = None, owner: QObject | None = None, **kwargs: Any) -> Task:
    """Run ``fn(*args, **kwargs)`` in ``pool``; ``on_done``/``on_error`` are called on the GUI thread,
    unless ``owner`` (default: the pool's parent) has been deleted meanwhile (a closed window)."""
    task = Task(fn, *args, **kwargs)
    task.pool = pool = pool or QThreadPool.globalInstance()
    owner = owner if owner is not None else pool.parent()
    if owner is not None:
        task.signals.setParent(owner)  # deleted with it: a late result goes nowhere
        # ... and a result already on its way when the owner went is dropped by Qt: let the task go then
        task.signals.destroyed.connect(lambda *_: _live.discard(task))
    _live.add(task)

    def finish_ok(result: Any) -> None:
        _let_go(task)
        if on_done is not None:
            on_done(result)

    def finish_err(exc: BaseException, tb: str) -> None:
        _let_go(task)
        if on_error is not None:
            on_error(exc, tb)
        else:
            log.error("background task failed\n%s", tb)

    task.signals.done.connect(finish_ok)
    task.signals.failed.connect(finish_err)
    pool.start(task)
    return task


def clear_pool(pool: QThreadPool) -> None:
    """The tasks queued on ``pool`` and not started, taken off it and let go (``pool.clear()`` left
    them in ``_live`` for ever, with what they were given). ``tryTake`` is atomic: a task it
    returns will never run, so its signals can go at once."""
    for task in [t for t in _live if t.pool is pool]:
        if pool.tryTake(task):
            task.fn = task.args = task.kwargs = None
            _let_go(task)


def _let_go(task: Task) -> None:
    """A task that has reported, or never will, let go. Its slots hold it through a Qt connection, a
    cycle Python's collector cannot see: every finished task, and the photo it was given, stayed
    alive (~32 MB per photo viewed)."""
    _live.discard(task)
    task.signals.done.disconnect()
    task.signals.failed.disconnect()
    task.signals.deleteLater()


def release_later(*objs: Any) -> None:
    """Let go of ``objs`` on a pool thread: freeing a decoded photo (its pages mapped from the decode
    child's file) takes 60-120 ms at 24-48 MP, which on the GUI thread stalled every photo switch.
    The caller must drop its own references at once; the pause lets it do so first."""
    run_in_pool(_hold, 0.05, objs)


def _hold(seconds: float, objs: tuple) -> None:
    time.sleep(seconds)  # the caller's references go meanwhile; the last one then goes here


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
