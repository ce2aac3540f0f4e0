"""Black & white (Exposure paper filter 6, ``WNBFilter``)."""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from .base import FilterSpec, Param, Sigmoid, lerp, luminance, per_image, register


def black_white(img: Any, *, amount: Any) -> Any:
    r"""Blend towards luminance ``0.27 R + 0.67 G + 0.06 B``.

    Args:
        img: linear RGB :math:`(*, H, W, 3)`.
        amount: in [0, 1], float or :math:`(*)`; 1 is fully monochrome.
    """
    xp = array_namespace(img)
    return lerp(img, luminance(xp, img), per_image(xp, img, amount))


SPEC = register(
    FilterSpec(
        id="black_white",
        label="Black & white",
        short="BW",
        version=1,
        description="Removes colour, partly or fully.",
        params=(
            Param("amount", "Amount", "", 0.0, 1.0, 0.0, "How far towards monochrome", Sigmoid(0.0, 1.0)),
        ),
        math=black_white,
    )
)
