"""EXIF orientation (1..8) for numpy images, and LibRaw's ``flip`` code in EXIF terms."""

from __future__ import annotations

import math

import numpy as np

# LibRaw ``sizes.flip``: 0 none, 3 rotate 180, 5 rotate 90 CCW, 6 rotate 90 CW (dcraw's convention).
_FLIP_TO_EXIF = {0: 1, 3: 3, 5: 8, 6: 6}


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


def swaps_axes(orientation: int) -> bool:
    return int(orientation or 1) in (5, 6, 7, 8)


def fit_box(size: tuple[int, int], max_size: int) -> tuple[int, int]:
    """The (w, h) that ``size`` scales down to so its long edge is ``max_size`` (for JPEG draft)."""
    w, h = size
    s = min(1.0, max_size / max(w, h))
    return max(1, math.ceil(w * s)), max(1, math.ceil(h * s))
