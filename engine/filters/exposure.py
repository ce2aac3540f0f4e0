"""Exposure: multiply linear RGB by ``2**ev`` (Exposure paper filter 0)."""

from __future__ import annotations

import math
from typing import Any

from array_api_compat import array_namespace

from .base import FilterSpec, Param, TanhRange, per_image, register


def exposure(img: Any, *, ev: Any) -> Any:
    r"""Scale linear RGB by ``2**ev``; same shape, unclipped.

    Args:
        img: linear RGB :math:`(*, H, W, 3)`, nominal range [0, 1].
        ev: stops, float or :math:`(*)`, one value per image.

    Example:
        >>> import numpy as np
        >>> float(exposure(np.full((1, 1, 3), 0.25, np.float32), ev=1.0)[0, 0, 0])
        0.5
    """
    xp = array_namespace(img)
    return img * xp.exp(per_image(xp, img, ev) * math.log(2.0))


SPEC = register(
    FilterSpec(
        id="exposure",
        label="Exposure",
        short="E",
        version=1,
        description="Brightens or darkens the whole photo in photographic stops, in linear light.",
        params=(
            Param("ev", "Exposure", "EV", -3.5, 3.5, 0.0, "Exposure compensation in stops",
                  TanhRange(-3.5, 3.5, initial=0.0)),
        ),
        math=exposure,
    )
)
