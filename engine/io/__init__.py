"""Photo input/output: RAW (LibRaw), JPEG/PNG/TIFF, metadata, atomic writes, synthetic DNGs.

Everything returned is in the working space: float32 linear sRGB primaries, (H, W, 3), upright.
Every failure to read or write a photo is an :class:`ImageError` with a message fit for the user.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import MAX_PIXELS, DecodeCancelled, ImageError
from .files import open_regular
from .image import (
    ALPHA_FORMATS,
    RASTER_EXTENSIONS,
    alpha_for,
    decode_raster,
    raster_preview,
    read_raster_metadata,
    write_image,
)
from .metadata import Metadata, main_page
from .raw import RAW_EXTENSIONS, is_raw, load_raw, raw_preview, read_raw_metadata

SUPPORTED_EXTENSIONS: frozenset[str] = RAW_EXTENSIONS | RASTER_EXTENSIONS

__all__ = [
    "ALPHA_FORMATS", "MAX_PIXELS", "RAW_EXTENSIONS", "SUPPORTED_EXTENSIONS", "DecodeCancelled", "ImageError",
    "Metadata", "Photo", "alpha_for", "is_raw",
    "is_supported", "load_photo", "load_preview", "read_metadata", "write_image",
]


@dataclass
class Photo:
    path: Path
    linear: np.ndarray  # float32 (H, W, 3), linear sRGB primaries, upright
    meta: Metadata


def is_supported(path: str | Path) -> bool:
    return Path(path).suffix.lower() in SUPPORTED_EXTENSIONS


def _check(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        raise ImageError("a folder, not a photo", path)
    if not is_supported(path):
        raise ImageError(f"unsupported file type {path.suffix or '(none)'!r}", path)
    try:  # opened once, so that what stops a read is said as what it is, not as a damaged file
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        raise ImageError("a link to a file that is no longer there" if path.is_symlink() else "file not found",
                         path) from None
    except PermissionError:
        raise ImageError("permission denied: this user may not read the file", path) from None
    except OSError as e:
        why = ("a link that leads back to itself" if e.errno == errno.ELOOP else
               "not a file (a FIFO, a socket or a device)" if e.errno in (None, errno.ENXIO) else
               f"cannot be read ({e.strerror or e})")
        raise ImageError(why, path) from None
    if size == 0:  # as the batch says it
        raise ImageError("empty file", path)
    return path


def read_metadata(path: str | Path) -> Metadata:
    path = _check(path)
    return read_raw_metadata(path) if is_raw(path) else read_raster_metadata(path)


def load_preview(path: str | Path, max_size: int | None = None, *, safe: bool = False,
                 coarse: bool = False, cancelled: Callable[[], bool] | None = None) -> np.ndarray:
    """A quick uint8 sRGB (H, W, 3) view, upright: a RAW's embedded JPEG (milliseconds) or a
    reduced decode; downscaled to fit ``max_size`` on the long edge when given. ``safe``: a RAW
    without a usable embedded image, or a PNG/TIFF above :data:`CHILD_PREVIEW_PIXELS`, is decoded in a
    child process (see :func:`load_photo`). ``coarse``: a JPEG may decode to as little as
    :data:`COARSE` of ``max_size`` (DCT scaling only halves): a 4000 px camera JPEG for a 2048 px
    view decoded whole: 432 ms against 67 (``bench/raw_open.py``). ``cancelled``: polled while a
    child decodes, as :func:`load_photo`'s (raises :class:`DecodeCancelled`)."""
    path = _check(path)
    if safe and max_size and not is_raw(path) and _child_preview(path):
        from .safe import preview_in_child

        return preview_in_child(path, max_size, cancelled=cancelled)
    draft = max_size and (max(1, round(max_size * COARSE)) if coarse else max_size)
    arr = raw_preview(path, max_size, safe=safe, draft=draft) if is_raw(path) else raster_preview(path, draft)
    if max_size and max(arr.shape[:2]) > max_size:
        im = Image.fromarray(np.ascontiguousarray(arr))
        im.thumbnail((max_size, max_size), Image.Resampling.LANCZOS, reducing_gap=2.0)
        arr = np.asarray(im)
    return np.ascontiguousarray(arr)


#: The least share of ``max_size`` a ``coarse`` preview's JPEG decodes to.
COARSE = 2 / 3

#: Above this a PNG or TIFF is previewed in a child (``safe``): it has no reduced decode (a JPEG
#: has, by DCT scaling), and a 570 KB PNG declaring 196 MP took 5.5 GB in the app.
CHILD_PREVIEW_PIXELS = 40_000_000


def _child_preview(path: Path) -> bool:
    """Whether the header declares more than CHILD_PREVIEW_PIXELS."""
    if path.suffix.lower() in (".jpg", ".jpeg"):
        return False
    return declared_pixels(path) > CHILD_PREVIEW_PIXELS


def declared_pixels(path: str | Path) -> int:
    """The pixels a raster's header declares, read from the header alone (Pillow's metadata read
    goes through a whole PNG to find an EXIF chunk after its pixels); 0 where it cannot be read
    (said by the photo's own read, with its message)."""
    try:  # a TIFF's photo as tifffile finds it (past a preview written first), else Pillow's size
        import tifffile

        with open_regular(path) as f, tifffile.TiffFile(f) as tf:  # a FIFO: never opened to block
            page = main_page(tf)
            return int(page.imagewidth) * int(page.imagelength)
    except Exception:  # not a TIFF, or one tifffile cannot read
        try:
            with open_regular(path) as f, Image.open(f) as im:
                return im.size[0] * im.size[1]
        except Exception:
            return 0


def load_photo(path: str | Path, *, half: bool = False, safe: bool = False, timeout: float = 120.0,
               cancelled: Callable[[], bool] | None = None) -> Photo:
    """Decode a photo into the working space.

    ``half``: RAW at half size (LibRaw's 2x2 binning, ~5x faster); rasters are box-downscaled 2x.
    ``safe``: decode in a child process; a crash, hang (> ``timeout`` s) or error is an ImageError.
    ``cancelled`` (with ``safe``): polled while the child runs; once true, the child is killed and
    :class:`DecodeCancelled` raised.
    """
    path = _check(path)
    if safe:
        from .safe import load_in_child

        return load_in_child(path, half=half, timeout=timeout, cancelled=cancelled)
    if is_raw(path):
        linear, meta = load_raw(path, half=half)
    else:
        meta = read_raster_metadata(path)
        linear = decode_raster(path)
        if half:
            h, w = (linear.shape[0] // 2) * 2, (linear.shape[1] // 2) * 2
            v = linear[:h, :w]
            linear = 0.25 * (v[0::2, 0::2] + v[0::2, 1::2] + v[1::2, 0::2] + v[1::2, 1::2])
    return Photo(path=path, linear=np.ascontiguousarray(linear, dtype=np.float32), meta=meta)
