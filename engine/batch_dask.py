"""Batch export on a Dask distributed cluster: one task per photo, outputs written by the workers.

Every machine needs Retouch installed and the photos and OUT_DIR at the **same paths** (shared
storage: NFS/SMB mounted alike). Tasks are idempotent, which is what makes worker deaths safe:
the scheduler re-runs a task whose worker died; the retry either finds the complete output (the
first attempt got as far as the atomic rename: "skipped", reported as done) or writes it itself.
A killed writer leaves only a hidden temp file, which the client removes at the end.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from .batch_worker import Job, Result, export_one

CONNECT_TIMEOUT_S = 30
MAX_RESUBMITS = 3  # per photo, for results lost with their worker (Dask itself retries deaths mid-task)


class ClusterError(RuntimeError):
    """The cluster cannot run the batch at all (unreachable scheduler, no workers)."""


NOT_STARTED = "not started: the batch was cancelled"


def export_unless_cancelled(job: Job, flag: str) -> Result:
    """The task: a photo not yet begun when the batch was cancelled (its ``flag``, a Dask Event) is
    left alone. Cancelling queued futures instead raced the scheduler: one handed to a worker in
    that moment was written but reported not started."""
    from distributed import Event

    if Event(flag).is_set():
        return Result(job.src, job.dst, "skipped", NOT_STARTED)
    return export_one(job)


def run_on_cluster(jobs: Sequence[Job], scheduler: str, cancel: threading.Event) -> Iterator[Result]:
    """Results in completion order; a photo whose task killed its workers repeatedly fails."""
    try:
        from distributed import Client, Event, as_completed
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError("--scheduler needs Dask: pip install 'retouch[cluster]'") from e

    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as e:
            raise ClusterError(f"the scheduler at {scheduler} has no workers ({e})") from None
        batch = uuid.uuid4().hex[:8]
        stop = Event(f"retouch-cancel-{batch}", client=client)
        remotes = [replace(job, src=job.src.absolute(), dst=job.dst.absolute(),
                       out_root=job.out_root and job.out_root.absolute()) for job in jobs]
        by_key: dict[str, int] = {}
        attempts = [0] * len(jobs)
        live: dict[str, Any] = {}

        def submit(i: int) -> Any:
            key = f"retouch-export-{batch}-{i}" + (f"-again{attempts[i]}" if attempts[i] else "")
            by_key[key] = i
            live[key] = client.submit(export_unless_cancelled, remotes[i], stop.name, key=key, pure=False)
            return live[key]

        ac = as_completed([submit(i) for i in range(len(jobs))])
        deadline: float | None = None
        try:
            while not ac.is_empty():
                if cancel.is_set() and deadline is None:
                    # photos not begun return at once, untouched; the running ones finish (their
                    # files appear anyway) and are reported, for as long as the local grace
                    from .batch import CANCEL_GRACE_S

                    deadline = time.monotonic() + CANCEL_GRACE_S
                    stop.set()
                if deadline is not None and (not live or time.monotonic() > deadline):
                    return
                finished = ac.next_batch(block=False)
                if not finished:
                    try:
                        time.sleep(0.1)
                    except KeyboardInterrupt:  # Ctrl-C: cancel the queued tasks, report what finished
                        cancel.set()
                    continue
                for fut in finished:
                    i = by_key[fut.key]
                    live.pop(fut.key, None)
                    job = jobs[i]
                    result, status, error = None, fut.status, None
                    if status == "finished":
                        try:
                            result = fut.result()
                        except Exception:  # the worker holding it died before we fetched it
                            status = "lost"
                    elif status == "error":
                        error = _describe(fut.exception())
                    fut.release()
                    if result is not None and result.reason == NOT_STARTED:
                        continue  # counted as not started by the caller
                    if result is not None:
                        yield replace(result, src=job.src, dst=job.dst)
                    elif error is not None:
                        yield Result(job.src, job.dst, "failed", f"cluster task failed: {error}")
                    elif attempts[i] < MAX_RESUBMITS and not cancel.is_set():
                        # "lost": the result died with its worker (the output may well be written).
                        # Tasks are idempotent, so run it again: it writes or finds the output.
                        attempts[i] += 1
                        ac.add(submit(i))
                    else:
                        yield Result(job.src, job.dst, "failed", f"cluster task {status} {attempts[i] + 1} times")
        finally:
            client.cancel(list(live.values()))
            with contextlib.suppress(Exception):  # a cleared Event leaves the scheduler
                stop.clear()


def _describe(exc: object) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        return "every worker that tried this photo died (decoder crash or out of memory)"
    return f"{name}: {exc}"
