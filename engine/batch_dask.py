"""Batch export on a Dask distributed cluster: one task per photo, outputs written by the workers.

Every machine needs Retouch installed and the photos and OUT_DIR at the **same paths** (shared
storage: NFS/SMB mounted alike). Tasks are idempotent, which is what makes worker deaths safe:
the scheduler re-runs a task whose worker died; the retry either finds the complete output (the
first attempt got as far as the atomic rename: "skipped", reported as done) or writes it itself.
A killed writer leaves only a hidden temp file, which the client removes at the end.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace

from .batch_worker import Job, Result, export_one

CONNECT_TIMEOUT_S = 30


class ClusterError(RuntimeError):
    """The cluster cannot run the batch at all (unreachable scheduler, no workers)."""


def run_on_cluster(jobs: Sequence[Job], scheduler: str, cancel: threading.Event) -> Iterator[Result]:
    """Results in completion order; a photo whose task killed its workers repeatedly fails."""
    try:
        from distributed import Client, as_completed
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
        by_key: dict[str, Job] = {}
        futures = []
        for i, job in enumerate(jobs):
            remote = replace(job, src=job.src.absolute(), dst=job.dst.absolute())
            key = f"retouch-export-{batch}-{i}"
            by_key[key] = job
            futures.append(client.submit(export_one, remote, key=key, pure=False))
        ac = as_completed(futures)
        try:
            while not ac.is_empty():
                if cancel.is_set():
                    client.cancel(futures)
                    return
                finished = ac.next_batch(block=False)
                if not finished:
                    try:
                        time.sleep(0.1)
                    except KeyboardInterrupt:  # Ctrl-C: cancel the queued tasks, report what finished
                        cancel.set()
                    continue
                for fut in finished:
                    job = by_key[fut.key]
                    if fut.status == "finished":
                        r = fut.result()
                        yield replace(r, src=job.src, dst=job.dst)
                    else:
                        exc = fut.exception() if fut.status == "error" else fut.status
                        yield Result(job.src, job.dst, "failed", f"cluster task failed: {_describe(exc)}")
        finally:
            client.cancel([f for f in futures if not f.done()])


def _describe(exc: object) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        return "every worker that tried this photo died (decoder crash or out of memory)"
    return f"{name}: {exc}"
