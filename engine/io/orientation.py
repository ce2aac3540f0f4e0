"""EXIF orientation (1..8) for numpy images, and LibRaw's ``flip`` code in EXIF terms."""

from __future__ import annotations

import math

import numpy as np

# LibRaw ``sizes.flip`` (dcraw's bits: 1 mirror, 2 flip, 4 transpose), the inverse of LibRaw's
# ``"50132467"[orientation & 7]``: 0 none, 3 rotate 180, 5 rotate 90 CCW, 6 rotate 90 CW, and the
# mirrored ones 1, 2, 4, 7.
_FLIP_TO_EXIF = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}


def exif_from_flip(flip: int) -> int:
    return _FLIP_TO_EXIF.get(int(flip), 1)


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Return ``img`` (H, W, ...) turned upright according to the EXIF Orientation value."""
    o = int(orientation or 1)
    if o == 2:
        return img[:, ::-1]
    if o == 3:
        return img[::-1, ::-1]
    if o == 4:
        return img[::-1]
    if o == 5:
        return np.swapaxes(img, 0, 1)
    if o == 6:
        return np.rot90(img, -1)
    if o == 7:
        return np.swapaxes(img, 0, 1)[::-1, ::-1]
    if o == 8:
        return np.rot90(img, 1)
    return img


def upright_box(box: tuple[int, int, int, int], size: tuple[int, int], orientation: int) -> tuple[int, int, int, int]:
    """A (left, top, width, height) box of a stored image of ``size`` (W, H), in the coordinates of
    the image :func:`apply_orientation` turns upright."""
    left, top, w, h = box
    W, H = size
    corners = [_upright_point(x, y, W, H, int(orientation or 1)) for x, y in ((left, top), (left + w - 1, top + h - 1))]
    (x0, y0), (x1, y1) = corners
    return min(x0, x1), min(y0, y1), abs(x1 - x0) + 1, abs(y1 - y0) + 1


def _upright_point(x: int, y: int, W: int, H: int, o: int) -> tuple[int, int]:
    """Where the stored pixel (x, y) lands in the upright image (as :func:`apply_orientation`)."""
    return {2: (W - 1 - x, y), 3: (W - 1 - x, H - 1 - y), 4: (x, H - 1 - y), 5: (y, x), 6: (H - 1 - y, x),
            7: (H - 1 - y, W - 1 - x), 8: (y, W - 1 - x)}.get(o, (x, y))


def swaps_axes(orientation: int) -> bool:
    return int(orientation or 1) in (5, 6, 7, 8)


def fit_box(size: tuple[int, int], max_size: int) -> tuple[int, int]:
    """The (w, h) that ``size`` scales down to so its long edge is ``max_size`` (for JPEG draft)."""
    w, h = size
    s = min(1.0, max_size / max(w, h))
    return max(1, math.ceil(w * s)), max(1, math.ceil(h * s))
