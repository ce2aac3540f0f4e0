"""Edited thumbnails kept on disk between sessions, so a folder of edited RAWs opens at once.

Each edited RAW's thumbnail is a half-size decode in a child process and a render: 0.64 s a photo,
six minutes of a core for a shoot of 600 edited RAWs, on every open. A thumbnail is kept under a
key of everything it is made from: the photo's path, size and modification time, the recipe, the
thumbnail's pixel size, and the filters' versions and Retouch's own, so any change makes a new one
and a stale one is never shown. The folder is ``$XDG_CACHE_HOME/retouch/thumbnails`` (else
``~/.cache/...``), trimmed to :data:`MAX_BYTES`, the least recently used first. Everything here is
best effort: a cache that cannot be read or written only costs the render.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from pathlib import Path

from PySide6.QtGui import QImage

from engine.atomic import atomic_path
from engine.recipe import Recipe

MAX_BYTES = 200 * 2**20  # ~10 000 thumbnails
KEEP_BYTES = 160 * 2**20  # trimmed to this, so a trim is not due at every write
_trimmed = False


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # unset, or relative: the XDG spec says to ignore it
        base = str(Path.home() / ".cache")
    return Path(base) / "retouch" / "thumbnails"


@functools.lru_cache(maxsize=1)
def _code_version() -> str:
    """What else a render depends on: each filter's version, the RAW decode's, and Retouch's."""
    from importlib.metadata import PackageNotFoundError, version

    from engine.filters import REGISTRY
    from engine.io.raw import DECODE_VERSION

    try:
        ours = version("retouch")
    except PackageNotFoundError:
        ours = "dev"
    return json.dumps([ours, DECODE_VERSION, sorted((op, spec.version) for op, spec in REGISTRY.items())])


def key(path: Path, recipe: Recipe, side: int) -> str | None:
    """The cache key of ``path`` rendered with ``recipe`` at ``side`` device pixels; None if the
    photo cannot be looked at."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    steps = [[s.op, s.spec.version, s.to_json()["params"]] for s in recipe.active()]  # what renders
    what = [str(Path(path).absolute()), st.st_size, st.st_mtime_ns, steps, side, _code_version()]
    return hashlib.sha256(json.dumps(what).encode("utf-8", "surrogateescape")).hexdigest()


def load(k: str | None) -> QImage | None:
    if k is None:
        return None
    f = cache_dir() / f"{k}.png"
    img = QImage(str(f))
    if img.isNull():
        return None
    with contextlib.suppress(OSError):
        os.utime(f)  # used: trimmed last
    return img


def store(k: str | None, img: QImage) -> None:
    if k is None or img.isNull():
        return
    d = cache_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        with atomic_path(d / f"{k}.png") as tmp:
            if not img.save(str(tmp), "PNG"):
                raise OSError("not written")
    except OSError:
        return
    _trim_once(d)


def _trim_once(d: Path) -> None:
    """Trim the folder to KEEP_BYTES when it is over MAX_BYTES: once per session, at the first write."""
    global _trimmed
    if _trimmed:
        return
    _trimmed = True
    try:
        files = [(e.stat().st_mtime, e.stat().st_size, e.path) for e in os.scandir(d) if e.name.endswith(".png")]
    except OSError:
        return
    total = sum(size for _, size, _ in files)
    if total <= MAX_BYTES:
        return
    for _, size, f in sorted(files):
        if total <= KEEP_BYTES:
            break
        with contextlib.suppress(OSError):
            os.unlink(f)
            total -= size
