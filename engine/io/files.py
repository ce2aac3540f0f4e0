"""Opening a photo's file to read its header, safely: only a regular file.

A FIFO named like a photo (``mkfifo IMG_1.jpg``) blocks whoever opens it until something writes
into it: a batch's planning hung for good on one, and the app's Batch Export with it (QA). Opened
without blocking and checked on the open descriptor, so nothing can swap the file in between.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

# Windows has no FIFOs to block on, and neither flag: the check on the descriptor is all there
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def open_regular(path: str | Path) -> BinaryIO:
    """``path`` opened for reading, or an ``OSError`` where it is not a regular file (a FIFO, a
    device, a folder, a socket); one without an ``errno`` where it opened but is not a file."""
    fd = os.open(path, _FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise OSError(f"{path}: {kind}")
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
        f = os.fdopen(fd, "rb")
        f.raw.name = os.fspath(path)  # as open() names it: tifffile and Pillow read the name
        return f
    except BaseException:
        os.close(fd)
        raise
