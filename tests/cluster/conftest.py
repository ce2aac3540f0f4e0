"""A real Dask cluster on loopback: one ``dask scheduler`` and two ``dask worker`` processes.

Workers run without a nanny, so the process a test SIGKILLs is the worker itself (the scheduler
then reschedules its tasks on the survivor) rather than a nanny that would respawn it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DASK = Path(sys.executable).with_name("dask")
START_TIMEOUT_S = 60


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    def worker_pids(self) -> dict[str, int]:
        """Worker address -> pid, as the workers report them."""
        from distributed import Client

        with Client(self.address, timeout=10, set_as_default=False) as c:
            return c.run(os.getpid)

    def processing(self) -> dict[str, tuple]:
        """Worker address -> keys of the tasks it is running now."""
        from distributed import Client

        with Client(self.address, timeout=10, set_as_default=False) as c:
            return c.processing()


def _start(args: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([str(DASK), *args], stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if not DASK.exists():
        pytest.fail(f"{DASK} not found: install the cluster extra (pip install -e '.[cluster]')")
    sched_file = tmp_path / "scheduler.json"
    sched = _start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                    "--scheduler-file", str(sched_file)], tmp_path / "scheduler.log")
    procs = [sched]
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not sched_file.exists():
            if sched.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("scheduler did not start: " + (tmp_path / "scheduler.log").read_text())
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written before the scheduler is fully up
        address = json.loads(sched_file.read_text())["address"]
        cl = Cluster(address, sched)
        for i in range(2):
            w = _start(["worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
                        "--no-dashboard", "--name", f"w{i}"], tmp_path / f"worker{i}.log")
            cl.workers.append(w)
            procs.append(w)
        from distributed import Client

        with Client(address, timeout=START_TIMEOUT_S, set_as_default=False) as c:
            c.wait_for_workers(2, timeout=START_TIMEOUT_S)
        yield cl
    finally:
        for p in reversed(procs):  # workers hold no state worth a graceful close: kill them
            if p.poll() is None:
                p.send_signal(signal.SIGTERM if p is sched else signal.SIGKILL)
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
