"""Gamma: ``x ** g`` (Exposure paper filter 1), with a straight toe below 0.001 (version 2)."""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from .base import FilterSpec, Param, TanhRange, per_image, register

#: The paper's floor. It keeps the slope of ``x**g`` finite at 0 for g < 1, so training gradients
#: stay bounded. Version 1 read every value below it as 0.001, which lifted black (to level 50 of
#: 255 at gamma 0.5) and merged the deepest shadows; version 2 continues below it in a straight
#: line through black, ``x * FLOOR ** (g - 1)``, which meets the power law at FLOOR.
FLOOR = 0.001


def gamma(img: Any, *, gamma: Any) -> Any:
    r"""Raise linear RGB to the power ``gamma``; below 0.001, the straight line to black.

    Args:
        img: linear RGB :math:`(*, H, W, 3)`.
        gamma: exponent in [1/3, 3], float or :math:`(*)`; below 1 brightens the shadows.

    Example:
        >>> import numpy as np
        >>> round(float(gamma(np.full((1, 1, 3), 0.25, np.float32), gamma=0.5)[0, 0, 0]), 4)
        0.5
    """
    xp = array_namespace(img)
    g = per_image(xp, img, gamma)
    # a straight toe of slope FLOOR**(g-1): the slope stays bounded at black, which v1's floor was for
    toe = img * xp.pow(xp.full_like(g, FLOOR), g - 1)
    return xp.where(img < FLOOR, toe, xp.pow(xp.clip(img, FLOOR, None), g))


SPEC = register(
    FilterSpec(
        id="gamma",
        label="Gamma",
        short="G",
        version=2,
        description="Bends the tones with a power law: below 1 opens the shadows, above 1 deepens them.",
        params=(
            Param("gamma", "Gamma", "", 1 / 3, 3.0, 1.0, "Power applied to linear values (1 = unchanged)",
                  TanhRange(1 / 3, 3.0, initial=1.0, log=True), log_scale=True),
        ),
        math=gamma,
    )
)


@SPEC.migration(1)
def _keep_gamma(params: dict) -> dict:
    """v1 -> v2: the same gamma; only values below linear 0.001 (under 4 levels of 255) render
    differently: toward black instead of lifted to one flat level."""
    return params
