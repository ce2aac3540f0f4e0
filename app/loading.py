"""Worker-side loading jobs (run in the thread pool, never on the GUI thread)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtGui import QImage

PREVIEW_EDGE = 2048  # the screen-resolution linear cache every interactive render uses
DRAFT_EDGE = 1024    # while a slider or curve is being dragged: 4x fewer pixels, then the full preview
DECODE_TIMEOUT_S = 120.0


#: A RAW file at least this large opens from a half-size decode first (see :func:`decode_quick`)
QUICK_RAW_BYTES = 16 * 2**20
#: A JPEG this large may open from a reduced decode first (:func:`decode_quick`: one at least twice
#: the preview level, read by DCT scaling)
QUICK_JPEG_BYTES = 1 * 2**20


def is_raw(path: Path) -> bool:
    """A camera RAW, by its extension: read clipped at white by the agent, opened half-size first when large."""
    import engine.io  # at first use: the window opens before the decoders load

    return engine.io.is_raw(path)


def quick_open(path: Path) -> bool:
    """A RAW or a JPEG large enough to open from a reduced decode first (:func:`decode_quick`)."""
    try:
        if is_raw(path):
            return path.stat().st_size >= QUICK_RAW_BYTES
        return path.suffix.lower() in (".jpg", ".jpeg") and path.stat().st_size >= QUICK_JPEG_BYTES
    except OSError:
        return False


@dataclass(frozen=True, eq=False)
class Decoded:
    path: Path
    linear: np.ndarray | None   # full resolution, working space (None from decode_quick)
    preview_linear: np.ndarray  # long edge <= PREVIEW_EDGE
    draft_linear: np.ndarray    # long edge <= DRAFT_EDGE
    meta: Any


def embedded_preview(path: Path, wanted: Callable[[], bool] | None = None) -> QImage:
    """The RAW's embedded JPEG (or a reduced decode): shown at once, before the real render.
    ``wanted`` as :func:`decode`'s: flicking through 60 photos queued 60 previews, and the one
    landed on showed its own 8 s later."""
    if wanted is not None and not wanted():
        raise Skipped(path)
    from engine.io import DecodeCancelled, load_preview

    from .display import to_screen
    from .renderer import to_qimage

    try:  # a large PNG's, decoded in a child: stopped when the photo is left
        rgb8 = load_preview(path, max_size=PREVIEW_EDGE, safe=True, coarse=True,
                            cancelled=None if wanted is None else lambda: not wanted())
    except DecodeCancelled:
        raise Skipped(path) from None
    return to_screen(to_qimage(np.asarray(rgb8, np.uint8)))


def first_look(path: Path, kept: str | None, wanted: Callable[[], bool] | None = None) -> tuple[QImage, str]:
    """What to show of ``path`` until its render: its screen preview with its edits kept from an
    earlier visit, under the key ``kept`` (an edited photo), where there is one, else its
    :func:`embedded_preview`; and that key, or "" for the embedded preview."""
    if wanted is not None and not wanted():
        raise Skipped(path)
    if kept is not None:
        from . import thumb_cache

        img = thumb_cache.load(kept, thumb_cache.PREVIEWS)
        if img is not None:
            return img, kept
    return embedded_preview(path, wanted), ""


class Skipped(Exception):
    """The user moved on before this decode started."""


def decode(path: Path, wanted: Callable[[], bool] | None = None) -> Decoded:
    """Full decode in a child process (a LibRaw crash or hang cannot take the app down).

    ``wanted`` is checked when the job starts and while the child decodes: flicking through a
    folder queues decodes that are no longer needed, and each costs a process and seconds of CPU
    (the photo finally stopped on settled in 4.5 s at 48 MP, twice a single open).
    """
    if wanted is not None and not wanted():
        raise Skipped(path)
    from engine.io import DecodeCancelled, load_photo
    from engine.render import fit_long_edge

    try:
        photo = load_photo(path, safe=True, timeout=DECODE_TIMEOUT_S,
                           cancelled=None if wanted is None else lambda: not wanted())
    except DecodeCancelled:
        raise Skipped(path) from None
    linear = np.ascontiguousarray(photo.linear, dtype=np.float32)
    linear.setflags(write=False)  # shared with render threads: nobody may mutate it
    preview = np.ascontiguousarray(fit_long_edge(linear, PREVIEW_EDGE), dtype=np.float32)
    preview.setflags(write=False)
    draft = np.ascontiguousarray(fit_long_edge(preview, DRAFT_EDGE), dtype=np.float32)
    draft.setflags(write=False)
    return Decoded(path, linear, preview, draft, photo.meta)


def decode_quick(path: Path, wanted: Callable[[], bool] | None = None) -> Decoded | None:
    """The preview levels of a large RAW from LibRaw's half-size decode (no demosaic, a quarter of
    the pixels), in a child as :func:`decode`: editable in ~2 s where the full decode of a 45 MP RAW
    took 8.5 s (the embedded JPEG is on screen meanwhile, but cannot be edited). The full decode
    follows for 100 % views. None where half the sensor is smaller than the preview level.
    A large JPEG's, from its reduced decode (:func:`_jpeg_quick`)."""
    if wanted is not None and not wanted():
        raise Skipped(path)
    if not is_raw(path):
        return _jpeg_quick(path)
    from engine.io import DecodeCancelled, load_photo

    try:
        photo = load_photo(path, half=True, safe=True, timeout=DECODE_TIMEOUT_S,
                           cancelled=None if wanted is None else lambda: not wanted())
    except DecodeCancelled:
        raise Skipped(path) from None
    if max(photo.linear.shape[:2]) < PREVIEW_EDGE:
        return None
    preview = small(photo.linear, PREVIEW_EDGE)
    preview.setflags(write=False)
    draft = small(preview, DRAFT_EDGE)
    draft.setflags(write=False)
    return Decoded(path, None, preview, draft, photo.meta)


def _jpeg_quick(path: Path) -> Decoded | None:
    """A large JPEG's preview levels from its reduced decode (DCT scaling, as its quick preview is
    read), linearised as the full decode is: a 24 MP camera JPEG was editable, and an edited one
    shown as edited, after its full decode (1.9-2.2 s; this takes 0.24-0.35 s). None where the JPEG
    is under twice the preview level (DCT scaling cannot reduce it: the full decode is as quick)."""
    from engine.io import read_metadata
    from engine.io.image import linearize, raster_preview

    meta = read_metadata(path)
    if max(meta.width, meta.height) < 2 * PREVIEW_EDGE:
        return None
    preview = small(linearize(raster_preview(path, PREVIEW_EDGE)), PREVIEW_EDGE)
    preview.setflags(write=False)
    draft = small(preview, DRAFT_EDGE)
    draft.setflags(write=False)
    return Decoded(path, None, preview, draft, meta)


def small(linear: np.ndarray, edge: int) -> np.ndarray:
    from engine.render import fit_long_edge

    return np.ascontiguousarray(fit_long_edge(linear, edge), dtype=np.float32)


def capture_order(paths: list[Path]) -> list[Path]:
    """``paths`` by capture time (the file's modification time where no date is in its tags, as
    Lightroom falls back), then by name; runs in a worker: ~1-5 ms a file."""
    from datetime import datetime

    from engine.folders import natural_key
    from engine.io.metadata import capture_time

    def key(p: Path) -> tuple[datetime, tuple]:
        when = capture_time(p)
        if when is None:
            try:
                when = datetime.fromtimestamp(p.stat().st_mtime)
            except (OSError, ValueError, OverflowError):
                when = datetime.max
        return when, natural_key(p.name)

    return sorted(paths, key=key)
