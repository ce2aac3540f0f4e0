"""The colour pipeline's fixed ends, written once for numpy (app) and torch (training).

Working space (what every filter and the agent receive): **linear light, Rec.709/sRGB
primaries, D65 white, float32, (H, W, 3)**, black at 0 and the sensor/diffuse white at 1.
RAW files reach it through LibRaw (camera WB, camera matrix to sRGB, gamma 1); JPEG/PNG/TIFF
inputs through the inverse sRGB transfer. Output is display-referred sRGB: the recipe's result
is clipped to [0, 1] and encoded with the sRGB transfer function (IEC 61966-2-1).
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace


def srgb_encode(linear: Any) -> Any:
    """Linear [0, 1] -> sRGB-encoded [0, 1]; inputs are clipped to [0, 1] first."""
    xp = array_namespace(linear)
    x = xp.clip(linear, 0.0, 1.0)
    lo = x * 12.92
    hi = 1.055 * xp.pow(xp.clip(x, 0.0031308, None), 1.0 / 2.4) - 0.055
    return xp.where(x <= 0.0031308, lo, hi)


def srgb_decode(encoded: Any) -> Any:
    """sRGB-encoded [0, 1] -> linear [0, 1]."""
    xp = array_namespace(encoded)
    x = xp.clip(encoded, 0.0, 1.0)
    lo = x / 12.92
    hi = xp.pow((xp.clip(x, 0.04045, None) + 0.055) / 1.055, 2.4)
    return xp.where(x <= 0.04045, lo, hi)
