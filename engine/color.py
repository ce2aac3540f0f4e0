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

#: Rec. 709 luma weights (of sRGB's primaries): what "brightness" means to alignment, sharpening and
#: the histogram; the filters use the paper's luminance (``engine.filters.base.LUMA``).
REC709_LUMA = (0.2126, 0.7152, 0.0722)
#: Mid grey in linear light: a contrast or exposure pivot keeps it where it is.
MID_GREY = 0.18

#: The sRGB transfer (IEC 61966-2-1): a straight segment near black, then a power curve.
LINEAR_SLOPE = 12.92
SCALE, OFFSET, EXPONENT = 1.055, 0.055, 2.4
LINEAR_KNEE, ENCODED_KNEE = 0.0031308, 0.04045
#: The encoding's steepest and flattest slopes (at black and at white): what a change in linear
#: light can at most and at least become on the display.
MAX_SLOPE, MIN_SLOPE = LINEAR_SLOPE, SCALE / EXPONENT


def srgb_encode(linear: Any) -> Any:
    """Linear [0, 1] -> sRGB-encoded [0, 1]; inputs are clipped to [0, 1] first."""
    xp = array_namespace(linear)
    x = xp.clip(linear, 0.0, 1.0)
    lo = x * LINEAR_SLOPE
    hi = SCALE * xp.pow(xp.clip(x, LINEAR_KNEE, None), 1.0 / EXPONENT) - OFFSET
    return xp.where(x <= LINEAR_KNEE, lo, hi)


def srgb_decode(encoded: Any) -> Any:
    """sRGB-encoded [0, 1] -> linear [0, 1]."""
    xp = array_namespace(encoded)
    x = xp.clip(encoded, 0.0, 1.0)
    lo = x / LINEAR_SLOPE
    hi = xp.pow((xp.clip(x, ENCODED_KNEE, None) + OFFSET) / SCALE, EXPONENT)
    return xp.where(x <= ENCODED_KNEE, lo, hi)
