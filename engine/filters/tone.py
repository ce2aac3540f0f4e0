"""8-segment tone curve (Exposure paper filter 4, ``ToneFilter``)."""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from .base import FilterSpec, Param, TanhRange, per_image, piecewise_curve, register

SEGMENTS = 8


def tone(img: Any, *, slopes: Any) -> Any:
    r"""One monotone piecewise-linear curve for all channels; maps [0, 1] onto [0, 1].

    Args:
        img: linear RGB :math:`(*, H, W, 3)`; inputs outside [0, 1] saturate.
        slopes: relative segment slopes in [0.5, 2], :math:`(*, 8)`; equal slopes = identity.
    """
    xp = array_namespace(img)
    t = per_image(xp, img, slopes, (SEGMENTS,))  # (*B, 1, 1, 8)
    return piecewise_curve(xp, img, t[..., None, :])


SPEC = register(
    FilterSpec(
        id="tone",
        label="Tone curve",
        short="T",
        version=1,
        description="A smooth curve over eight tonal zones, from shadows (left) to highlights (right).",
        params=(
            Param("slopes", "Zones", "", 0.5, 2.0, 1.0,
                  "Relative steepness of each of 8 tonal zones; steeper = more contrast there",
                  TanhRange(0.5, 2.0), shape=(SEGMENTS,)),
        ),
        math=tone,
    )
)
