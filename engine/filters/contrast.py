"""Cosine contrast (Exposure paper filter 5, ``ContrastFilter``)."""

from __future__ import annotations

import math
from typing import Any

from array_api_compat import array_namespace

from .base import FilterSpec, Param, TanhRange, lerp, luminance, per_image, register


def contrast(img: Any, *, amount: Any) -> Any:
    r"""Blend towards an S-curve on luminance ``L' = (1 - cos(pi L)) / 2`` applied as a gain.

    Args:
        img: linear RGB :math:`(*, H, W, 3)`.
        amount: in [-1, 1], float or :math:`(*)`; negative values flatten the photo.
    """
    xp = array_namespace(img)
    lum = xp.clip(luminance(xp, img), 0.0, 1.0)
    curved = -xp.cos(math.pi * lum) * 0.5 + 0.5
    return lerp(img, img / (lum + 1e-6) * curved, per_image(xp, img, amount))


SPEC = register(
    FilterSpec(
        id="contrast",
        label="Contrast",
        short="Ct",
        version=1,
        description="Separates darks from lights with an S-curve; negative values soften.",
        params=(
            Param("amount", "Amount", "", -1.0, 1.0, 0.0, "Blend towards the S-curve (negative: away from it)",
                  TanhRange(-1.0, 1.0)),
        ),
        math=contrast,
    )
)
