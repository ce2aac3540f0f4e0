"""Output sharpening: what an export gets after it is sized, as Lightroom's "Sharpen for Screen".

A downscale (above all a box or Lanczos one to a tenth of a RAW's pixels) and a RAW's unsharpened
demosaic both leave edges softer than a camera's own JPEG. An unsharp mask of the display luma,
at the output's own pixel scale, restores the crispness a viewer expects. It runs on luma, not on
each channel, so edges gain no colour fringes, and on display (gamma-encoded) values, so the
light and dark halos look alike.

It is an export setting, not a recipe step: it belongs to the output's size and medium, not to
the photo, and the editing view shows the photo unsharpened, as Lightroom's Develop does.
"""

from __future__ import annotations

import numpy as np

from .color import REC709_LUMA
from .formats import SHARPEN_LEVELS as LEVELS

#: the Gaussian's sigma in output pixels: screen sharpening works on the finest detail
SIGMA = 0.7
RADIUS = 3  # taps each side (over 4 sigma)
#: rows an image band needs beyond its own on each side so that it sharpens as the whole image
MARGIN = RADIUS

_LUMA = np.array(REC709_LUMA, np.float32)  # on the encoded values


def _kernel() -> np.ndarray:
    x = np.arange(-RADIUS, RADIUS + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / SIGMA) ** 2)
    return (k / k.sum()).astype(np.float32)


_K = _kernel()


def _blur(plane: np.ndarray) -> np.ndarray:
    """Separable Gaussian, edges mirrored (so a flat border stays flat); the kernel's symmetric
    taps are summed in pairs first."""
    h, w = plane.shape
    p = np.pad(plane, RADIUS, mode="symmetric")
    rows = _K[RADIUS] * p[:, RADIUS:RADIUS + w]
    for i in range(RADIUS):
        rows += _K[i] * (p[:, i:i + w] + p[:, 2 * RADIUS - i:2 * RADIUS - i + w])
    out = _K[RADIUS] * rows[RADIUS:RADIUS + h]
    for i in range(RADIUS):
        out += _K[i] * (rows[i:i + h] + rows[2 * RADIUS - i:2 * RADIUS - i + h])
    return out


def amount_of(level: str) -> float:
    try:
        return LEVELS[level]
    except KeyError:
        raise ValueError(f"unknown sharpening {level!r}; choose {', '.join(LEVELS)}") from None


def sharpen(srgb: np.ndarray, level: str) -> np.ndarray:
    """Display sRGB float (H, W, 3) sharpened at ``level`` (a key of :data:`LEVELS`); the same
    array for "none". Values may leave [0, 1] by a halo's height: the writers clip."""
    amount = amount_of(level)
    if amount == 0.0 or min(srgb.shape[:2]) < 2:
        return srgb
    luma = srgb @ _LUMA
    detail = luma - _blur(luma)
    detail *= np.float32(amount)
    return srgb + detail[..., None]
