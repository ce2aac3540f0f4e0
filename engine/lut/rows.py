"""The row pool: blocks of rows shared between the calling thread and one helper per extra core."""

from __future__ import annotations

import os
import threading

import numba
import numpy as np

from .kernels import _NO_B, _NO_CUBE, _NO_F, _NO_MID, _NO_POST, _apply
from .tables import PRE_SIZE


class _Rows:
    """Blocks of rows shared between the calling thread and ``cores - 1`` helper threads.

    Unlike a fork-join pool (numba's ``parallel=True``), the caller never waits for a helper
    that has not started: it takes blocks itself until none are left and then waits only for
    blocks a helper is in the middle of. On a machine where another process keeps the other
    cores busy, a helper may be scheduled only at the next timer tick (4 ms here); a barrier
    would make every render wait for that, this just runs on the cores it gets.
    """

    def __init__(self, helpers: int) -> None:
        self._cond = threading.Condition()
        self._job: tuple | None = None  # (fn, n_blocks)
        self._next = self._n = self._busy = 0
        self._error: BaseException | None = None
        self._busy_lock = threading.Lock()  # one job at a time; a second caller works alone
        self._helpers = helpers
        for i in range(helpers):
            threading.Thread(target=self._helper, name=f"retouch-rows-{i}", daemon=True).start()

    def _take(self) -> int | None:
        """The next block index (counted as in flight), or None; call with ``_cond`` held."""
        if self._job is None or self._next >= self._n:
            return None
        self._next += 1
        self._busy += 1
        return self._next - 1

    def _work(self, fn, first: int | None) -> None:
        block = first
        numba.set_num_threads(1)  # thread-local: each block runs in this thread alone
        while block is not None:
            try:
                fn(block)
            except BaseException as e:  # re-raised in the caller
                with self._cond:
                    self._error = self._error or e
            with self._cond:
                self._busy -= 1
                block = self._take()
                if block is None and self._busy == 0:
                    self._cond.notify_all()

    def _helper(self) -> None:
        while True:
            with self._cond:
                while (block := self._take()) is None:
                    self._cond.wait()
                fn = self._job[0]
            self._work(fn, block)

    def run(self, fn, n_blocks: int) -> None:
        """Call ``fn(i)`` for every i in range(n_blocks), from this thread and the helpers."""
        if n_blocks <= 1 or not self._helpers or not self._busy_lock.acquire(blocking=False):
            with _ALONE:  # another render holds the helpers (or there are none): this thread alone
                threads = numba.get_num_threads()
                numba.set_num_threads(1)
                try:
                    for i in range(n_blocks):
                        fn(i)
                finally:
                    numba.set_num_threads(threads)
            return
        try:
            with self._cond:
                self._job, self._n, self._next, self._busy, self._error = (fn,), n_blocks, 0, 0, None
                first = self._take()
                self._cond.notify_all()
            threads = numba.get_num_threads()
            try:
                self._work(fn, first)
            finally:
                numba.set_num_threads(threads)
            with self._cond:
                while self._busy or self._next < self._n:
                    self._cond.wait()
                self._job, error = None, self._error
            if error is not None:
                raise error
        finally:
            self._busy_lock.release()


_ROWS_POOL: _Rows | None = None
_POOL_LOCK = threading.Lock()
_ALONE = threading.Lock()  # replaced by a no-op lock when numba's threading layer is thread-safe


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _rows_pool() -> _Rows:
    """The shared row pool, made on first use: one helper per extra core, when numba's threading
    layer may be entered from several threads at once (omp, tbb); with its fallback workqueue
    layer, which may not, every launch runs in the calling thread, one at a time."""
    global _ROWS_POOL, _ALONE
    with _POOL_LOCK:
        if _ROWS_POOL is None:
            tiny = np.zeros((1, 1, 3), np.float32)
            _apply(tiny.view(np.int32), np.zeros((3, PRE_SIZE), np.float32), _NO_CUBE, 0, _NO_POST, 2,
                   _NO_F, _NO_B, np.zeros((1, 1), np.uint32), 0, 1, _NO_MID, False)  # the layer is known now
            safe = numba.threading_layer() in ("omp", "tbb")
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            _ROWS_POOL = _Rows(max(0, min(cores, 8) - 1) if safe else 0)
            if safe:
                _ALONE = _NoLock()  # type: ignore[assignment]
        return _ROWS_POOL


def _blocks(h: int, w: int) -> int:
    """Row blocks of ~128k pixels (>= 8 rows): 16 at 2 MP, enough to balance two cores unevenly
    loaded, few enough that the per-call overhead (~20 us) stays small."""
    return max(1, min(h // 8, (h * w) // 131072))
