"""Decode in a child process so that a LibRaw crash or hang cannot take the caller down.

The child (``python -m engine.io.safe``, a fresh interpreter: never a fork of a Qt/threaded parent,
and no re-import of the caller's ``__main__`` as multiprocessing's "spawn" does) writes the pixels as a
.npy into a private temp folder (on tmpfs where there is one) and the metadata as a pickle; the
parent reads them back and removes the folder. A signal, a non-zero exit or the timeout becomes an
ImageError naming the file. Frozen apps (no ``-m``) use multiprocessing "spawn" instead.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import DecodeCancelled, ImageError

if TYPE_CHECKING:
    from . import Photo

# Test hook, read only in the child: "crash" kills it with SIGSEGV (like a LibRaw bug), "hang" sleeps.
FAULT_ENV = "RETOUCH_IO_FAULT"


# tmpfs is used only with room for a 100 MP float32 image (Docker's default /dev/shm is 64 MB).
_SHM_MIN_FREE = 2 << 30


_PREFIX = "retouch-decode-"
#: A scratch folder this old is a leftover (the decode's timeout is minutes; the parent removes its
#: own at once): of a parent that was killed, or of a version that did not name its pid.
_STALE_S = 30 * 60


def _scratch_dir() -> tuple[Path, bool]:
    """(private temp folder, whether it is on tmpfs); leftovers of dead parents are removed first,
    since on tmpfs they hold RAM."""
    shm = Path("/dev/shm")
    try:
        on_shm = shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > _SHM_MIN_FREE
    except OSError:
        on_shm = False
    where = str(shm) if on_shm else tempfile.gettempdir()
    _sweep(Path(where))
    return Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=where)), on_shm


def _sweep(where: Path) -> None:
    try:
        entries = list(os.scandir(where))
    except OSError:
        return
    now = time.time()
    for e in entries:
        if not e.name.startswith(_PREFIX) or not e.is_dir(follow_symlinks=False):
            continue
        pid = e.name[len(_PREFIX):].split("-", 1)[0]
        try:
            stale = now - e.stat(follow_symlinks=False).st_mtime > _STALE_S
            if pid.isdigit() and not stale:
                stale = not _alive(int(pid))
        except OSError:
            continue
        if stale:
            shutil.rmtree(e.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def die_with_parent(parent: int) -> None:
    """The child is killed when its parent dies (Linux), and exits if that has already happened: a
    killed app left its decode running, its pixels held in RAM on /dev/shm."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere the parent may not be the app (a Windows venv's python.exe is a launcher)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent and os.getppid() != parent:  # it died before the line above: nobody waits for us
        os._exit(1)


def _child(path: str, half: bool, out_dir: str, parent: int = 0, preview: int = 0) -> None:
    die_with_parent(parent)
    fault = os.environ.get(FAULT_ENV, "")
    if fault == "crash":
        os.kill(os.getpid(), getattr(signal, "SIGSEGV", signal.SIGTERM))
    elif fault == "hang":
        time.sleep(3600)
    from . import ImageError as _ImageError
    from . import load_photo, load_preview

    out = Path(out_dir)
    try:
        if preview:  # a big raster's preview: its full decode stays in this process
            np.save(out / "pixels.npy", load_preview(path, max_size=preview), allow_pickle=False)
            return
        photo = load_photo(path, half=half, safe=False)
    except _ImageError as e:
        (out / "error.json").write_text(json.dumps({"error": str(e)}))
        return
    except MemoryError:
        (out / "error.json").write_text(json.dumps({"error": f"{Path(path).name}: not enough memory to decode"}))
        return
    np.save(out / "pixels.npy", photo.linear, allow_pickle=False)
    with open(out / "meta.pickle", "wb") as f:
        pickle.dump(photo.meta, f)


_POLL_S = 0.05  # how often a running decode asks whether it is still wanted


#: Set as the app exits: every decode still running in a child is stopped (its threads were
#: waited for, 5-25 s with a large photo, the window gone and gigabytes held).
ABANDON = threading.Event()


def _run_child(path: Path, half: bool, out: Path, timeout: float,
               cancelled: Callable[[], bool] | None = None, preview: int = 0) -> tuple[int | None, str]:
    """Run the child; return (exit code, None on timeout; stderr tail). Raises DecodeCancelled
    (the child killed) once ``cancelled()`` is true, or :data:`ABANDON` is set."""
    deadline = time.monotonic() + timeout

    def stop_asked() -> bool:
        return ABANDON.is_set() or (cancelled is not None and cancelled())

    if stop_asked():  # asked before it began (a decode queued as the app exits): no child at all
        raise DecodeCancelled(path)

    if getattr(sys, "frozen", False):
        proc = mp.get_context("spawn").Process(target=_child, args=(str(path), half, str(out), os.getpid(), preview),
                                               daemon=True)
        proc.start()
        while proc.is_alive() and time.monotonic() < deadline and not stop_asked():
            proc.join(_POLL_S)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
            if stop_asked():
                raise DecodeCancelled(path)
            return None, ""
        return proc.exitcode, ""
    pkg_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "engine.io.safe", str(path), "1" if half else "0", str(out), str(os.getpid()),
           str(preview)]
    with tempfile.TemporaryFile() as err, subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                                          stdout=subprocess.DEVNULL, stderr=err) as child:
        while True:
            try:
                code = child.wait(_POLL_S)
                break
            except subprocess.TimeoutExpired:
                stop = stop_asked()
                if stop or time.monotonic() >= deadline:
                    child.kill()
                    child.wait()
                    if stop:
                        raise DecodeCancelled(path) from None
                    return None, ""
        err.seek(0)
        return code, err.read().decode("utf-8", "replace")[-400:]


def load_in_child(path: str | Path, *, half: bool = False, timeout: float = 120.0,
                  cancelled: Callable[[], bool] | None = None) -> Photo:
    """``load_photo(path, half=half)`` in a child process; returns the Photo. ``cancelled`` is polled
    every 50 ms while the child runs: once true, the child is killed and DecodeCancelled raised."""
    from . import Photo

    path = Path(path)
    out, on_shm = _scratch_dir()
    try:
        _checked_run(path, half, out, timeout, cancelled)
        if on_shm and os.name == "posix":
            # Zero-copy: a private (copy-on-write) map of the tmpfs file; the pages outlive the unlink.
            linear = np.asarray(np.load(out / "pixels.npy", mmap_mode="c", allow_pickle=False))
        else:
            linear = np.load(out / "pixels.npy", allow_pickle=False)
        with open(out / "meta.pickle", "rb") as f:
            meta = pickle.load(f)
        return Photo(path=path, linear=linear, meta=meta)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _checked_run(path: Path, half: bool, out: Path, timeout: float, cancelled: Callable[[], bool] | None = None,
                 preview: int = 0) -> None:
    """The child run, its failure (a timeout, its error, a crash) raised as an ImageError."""
    code, stderr = _run_child(path, half, out, timeout, cancelled, preview)
    if code is None:
        raise ImageError(f"decoding took longer than {timeout:g} s and was stopped", path)
    err = out / "error.json"
    if err.exists():
        raise ImageError(json.loads(err.read_text())["error"].removeprefix(f"{path.name}: "), path)
    if code != 0 or not (out / "pixels.npy").exists():
        how = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit code {code}"
        detail = f": {stderr.strip().splitlines()[-1]}" if stderr.strip() and code and code > 0 else ""
        raise ImageError(f"the decoder crashed ({how}){detail}; the file is probably corrupt", path)


def preview_in_child(path: str | Path, max_size: int, *, timeout: float = 120.0,
                     cancelled: Callable[[], bool] | None = None) -> np.ndarray:
    """``load_preview(path, max_size)`` in a child process: a PNG or TIFF of tens of megapixels has
    no reduced decode, and its full one (GBs for a small decompression bomb) stays out of the app.
    ``cancelled`` as :func:`load_in_child`'s."""
    path = Path(path)
    out, _ = _scratch_dir()
    try:
        _checked_run(path, False, out, timeout, cancelled, preview=max_size)
        return np.load(out / "pixels.npy", allow_pickle=False)
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2] == "1", sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 0,
           int(sys.argv[5]) if len(sys.argv) > 5 else 0)
