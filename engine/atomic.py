"""Atomic writes: a temp file in the target's folder, fsync, then ``os.replace``.

A crash at any moment leaves either the old file or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

#: Set by the command line's Ctrl-C / kill handler (``retouch.main``). The KeyboardInterrupt it
#: raises can land inside a C library's Python callback (llvmlite's, as numba loads its cache),
#: which prints "Exception ignored" and goes on: 2 ``apply`` runs in 170 then wrote their output
#: and exited 0. The flag stops the commit all the same.
STOP_REQUESTED = threading.Event()

NAME_MAX = 255  # bytes in one file name on ext4, btrfs, XFS, APFS, NTFS (as UTF-16 units, more)
_TEMP_EXTRA = len(".") + len(".") + 8 + len(".part")  # mkstemp's 8 random characters


def temp_stem(name: str) -> str:
    """``name`` as its temp file carries it: ``.{stem}.{random}.part{suffix}``. A name too long for
    that to fit (a photo named with 240 bytes could never have its sidecar saved) is cut by
    characters and ends in ``~`` and a hash of the whole name, so two long names sharing a beginning
    never share a stem (a batch's cleanup would take the other's temp file for its own)."""
    room = NAME_MAX - _TEMP_EXTRA - len(os.fsencode(Path(name).suffix))
    if len(os.fsencode(name)) <= room:
        return name
    tag = "~" + hashlib.sha1(os.fsencode(name)).hexdigest()[:10]
    cut = name
    while len(os.fsencode(cut)) > room - len(tag):
        cut = cut[:-1]
    return cut + tag


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically.

    The temporary name keeps the target's suffix, so writers that pick a format from the name
    (Pillow, tifffile) still work. Nothing is committed once :data:`STOP_REQUESTED` is set.
    ``durable=False``: not flushed to the disk first (a cache's file, which costs only its remaking
    if lost: an fsync per thumbnail, 5-30 ms on a hard disk, held up a folder's thumbnails).
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{temp_stem(target.name)}.", suffix=f".part{target.suffix}",
                               dir=target.parent)
    # held locked while it is written: a second batch into the same folder took it for a dead
    # writer's leftover and deleted it (7 of 24 photos failed); see in_use()
    _lock(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if STOP_REQUESTED.is_set():  # a Ctrl-C the writer's own code swallowed: still no output
            raise KeyboardInterrupt
        if durable:
            with open(tmp_path, "rb") as f:
                os.fsync(f.fileno())
        os.chmod(tmp_path, _mode_for(target))
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
    finally:
        os.close(fd)


def _mode_for(target: Path) -> int:
    """The permissions a plain ``open()`` would give: the file replaced keeps its own, a new one
    gets 0666 less the umask (mkstemp's 0600, or a fixed 0644, made private exports world-readable
    and took group write from a studio's shared folder)."""
    with contextlib.suppress(OSError):
        return os.stat(target).st_mode & 0o777  # not a set-id bit
    return 0o666 & ~_umask()


def _read_umask() -> int:
    """Set and put back: process-wide, so only where nothing else runs yet (at import)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK_AT_IMPORT = _read_umask()


def _umask() -> int:
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as f:
        for line in f:  # Linux 4.7+: read as it is now, without changing it
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return _UMASK_AT_IMPORT  # elsewhere: setting it to read it would race other threads' files


def _lock(fd: int) -> None:
    with contextlib.suppress(ImportError, OSError):  # no flock (Windows) or none on this file system
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def in_use(path: str | os.PathLike) -> bool:
    """Whether a live writer holds the temp file at ``path`` (POSIX; False where locks are unknown)."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing releases a lock taken here
    return False


def atomic_write_bytes(target: str | os.PathLike, data: bytes, *, durable: bool = True) -> None:
    with atomic_path(target, durable=durable) as tmp:
        tmp.write_bytes(data)


def unwritable(folder: str | os.PathLike) -> str | None:
    """Why no file can be written in ``folder`` (as an atomic write makes one there), or None:
    checked before the work, not found at its end."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        return e.strerror or str(e)
    return None
