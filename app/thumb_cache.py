"""Thumbnails kept on disk between sessions, so a folder opens at once.

Each edited RAW's thumbnail is a half-size decode in a child process and a render: 0.64 s a photo,
six minutes of a core for a shoot of 600 edited RAWs, on every open; an unedited one is its
embedded preview or a reduced decode (7.8 s for 800 camera JPEGs). A thumbnail is kept under a
key of everything it is made from: the photo's path, size and modification time, the recipe, the
thumbnail's pixel size, and the filters' versions and Retouch's own, so any change makes a new one
and a stale one is never shown. The folder is ``$XDG_CACHE_HOME/retouch/thumbnails`` (else
``~/.cache/...``), and edited photos' screen previews beside it (``previews``), each trimmed to
its :data:`LIMITS`, the least recently used first. Everything here is
best effort: a cache that cannot be read or written only costs the render.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QImage

from engine.atomic import atomic_write_bytes
from engine.recipe import Recipe

SUFFIX = ".jpg"
QUALITY = 92
THUMBNAILS, PREVIEWS = "thumbnails", "previews"
#: each kind's folder is trimmed to its second figure once over its first, so a trim is not due at
#: every write: ~25 000 thumbnails (256 px, ~8 KB), ~1 000 edited photos' screen previews (up to
#: 2048 px, 0.3-1 MB; Lightroom's "standard previews": an edited RAW reached again showed its
#: blurred thumbnail for 1-2 s)
LIMITS = {THUMBNAILS: (200 * 2**20, 160 * 2**20), PREVIEWS: (600 * 2**20, 480 * 2**20)}
_trimmed: set[str] = set()  # the kinds trimmed this session
_written: dict[str, int] = {}  # bytes written into each kind since its last trim


def cache_dir(kind: str = THUMBNAILS) -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # unset, or relative: the XDG spec says to ignore it
        base = str(Path.home() / ".cache")
    return Path(base) / "retouch" / kind


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


def _steps(recipe: Recipe) -> list:
    """What of ``recipe`` renders: its active steps, each filter's version and parameters."""
    return [[s.op, s.spec.version, s.to_json()["params"]] for s in recipe.active()]


def steps_key(recipe: Recipe) -> str:
    """:func:`_steps` as one string, to compare looks by."""
    return json.dumps(_steps(recipe), sort_keys=True)


NO_STEPS = steps_key(Recipe())  # a camera look's: no step


def key(path: Path, recipe: Recipe, side: int, screen: str = "") -> str | None:
    """The cache key of ``path`` rendered with ``recipe`` at ``side`` device pixels (``screen``: the
    display profile it was converted to, where it was); None if the photo cannot be looked at."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    what = [str(Path(path).absolute()), st.st_size, st.st_mtime_ns, _steps(recipe), side,
            _code_version()] + ([screen] if screen else [])
    return hashlib.sha256(json.dumps(what).encode("utf-8", "surrogateescape")).hexdigest()


def load(k: str | None, kind: str = THUMBNAILS) -> QImage | None:
    if k is None:
        return None
    f = cache_dir(kind) / f"{k}{SUFFIX}"
    img = QImage(str(f))
    if img.isNull():
        return None
    with contextlib.suppress(OSError):
        os.utime(f)  # used: trimmed last
    return img


def store(k: str | None, img: QImage, kind: str = THUMBNAILS) -> QImage:
    """Keep ``img`` under ``k``; returns it as kept (JPEG), so that a thumbnail looks the same when
    made and when found again. A PNG took ~100 KB a thumbnail, so the cache held a shoot or two."""
    if k is None or img.isNull():
        return img
    data = _jpeg(img)
    if data is None:
        return img
    kept = QImage.fromData(data, "JPG")
    if kept.isNull():
        return img
    kept.setDevicePixelRatio(img.devicePixelRatio())
    _write(k, data, kind)
    return kept


def keep(k: str | None, img: QImage, kind: str = PREVIEWS) -> None:
    """Keep ``img`` under ``k`` unless it is kept already (then only marked as used): a preview
    kept again at every visit of an edited photo was encoded and written each time."""
    if k is None or img.isNull():
        return
    f = cache_dir(kind) / f"{k}{SUFFIX}"
    if f.exists():
        with contextlib.suppress(OSError):
            os.utime(f)
        return
    data = _jpeg(img)
    if data is not None:
        _write(k, data, kind)


def _jpeg(img: QImage) -> bytes | None:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    ok = img.save(buf, "JPG", QUALITY)
    buf.close()
    return data.data() if ok else None


def _write(k: str, data: bytes, kind: str) -> None:
    d = cache_dir(kind)
    try:
        d.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(d / f"{k}{SUFFIX}", data, durable=False)
    except OSError:
        return
    # trimmed at the session's first write, then each time as much as a trim frees has been written
    # (a session editing hundreds of photos went past the limit: it was trimmed only once)
    max_bytes, keep_bytes = LIMITS[kind]
    _written[kind] = _written.get(kind, 0) + len(data)
    if kind not in _trimmed or _written[kind] >= max_bytes - keep_bytes:
        _trimmed.add(kind)
        _written[kind] = 0
        _trim(d, kind)


def _trim(d: Path, kind: str = THUMBNAILS) -> None:
    """Trim the folder to its kind's :data:`LIMITS` when it is over, the least recently used first."""
    max_bytes, keep_bytes = LIMITS[kind]
    try:
        files = [(e.stat().st_mtime, e.stat().st_size, e.path) for e in os.scandir(d)
                 if e.name.endswith((SUFFIX, ".png"))]  # .png: an older Retouch's
    except OSError:
        return
    total = sum(size for _, size, _ in files)
    if total <= max_bytes:
        return
    for _, size, f in sorted(files):
        if total <= keep_bytes:
            break
        with contextlib.suppress(OSError):
            os.unlink(f)
            total -= size
