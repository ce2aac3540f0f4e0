"""3 x 8 colour curves (Exposure paper filter 7, ``ColorFilter``)."""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from .base import FilterSpec, Param, TanhRange, per_image, piecewise_curve, register

SEGMENTS = 8


def color_curves(img: Any, *, slopes: Any) -> Any:
    r"""One piecewise-linear curve per channel, each normalised so that it maps [0, 1] onto [0, 1].

    Args:
        img: linear RGB :math:`(*, H, W, 3)`.
        slopes: :math:`(*, 3, 8)` in [0.9, 1.1], rows R, G, B; equal slopes = identity.
    """
    xp = array_namespace(img)
    return piecewise_curve(xp, img, per_image(xp, img, slopes, (3, SEGMENTS)))


SPEC = register(
    FilterSpec(
        id="color_curves",
        label="Colour curves",
        short="C",
        version=1,
        description="Gentle per-channel curves that shift the colour of shadows, midtones and highlights.",
        params=(
            Param("slopes", "Zones", "", 0.9, 1.1, 1.0,
                  "Relative steepness of 8 tonal zones for each of R, G, B",
                  TanhRange(0.9, 1.1, initial=1.0), shape=(3, SEGMENTS)),
        ),
        math=color_curves,
    )
)
