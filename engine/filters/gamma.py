"""Gamma: ``max(x, 0.001) ** g`` (Exposure paper filter 1)."""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from .base import FilterSpec, Param, TanhRange, per_image, register

#: The paper's floor. It keeps the slope of ``x**g`` finite at 0 for g < 1, so training gradients
#: stay bounded; a side effect is that values below 0.001 read as 0.001.
FLOOR = 0.001


def gamma(img: Any, *, gamma: Any) -> Any:
    r"""Raise linear RGB to the power ``gamma`` after flooring at 0.001.

    Args:
        img: linear RGB :math:`(*, H, W, 3)`.
        gamma: exponent in [1/3, 3], float or :math:`(*)`; below 1 brightens the shadows.

    Example:
        >>> import numpy as np
        >>> round(float(gamma(np.full((1, 1, 3), 0.25, np.float32), gamma=0.5)[0, 0, 0]), 4)
        0.5
    """
    xp = array_namespace(img)
    return xp.pow(xp.clip(img, FLOOR, None), per_image(xp, img, gamma))


SPEC = register(
    FilterSpec(
        id="gamma",
        label="Gamma",
        short="G",
        version=1,
        description="Bends the tones with a power law: below 1 opens the shadows, above 1 deepens them.",
        params=(
            Param("gamma", "Gamma", "", 1 / 3, 3.0, 1.0, "Power applied to linear values (1 = unchanged)",
                  TanhRange(1 / 3, 3.0, initial=1.0, log=True), log_scale=True),
        ),
        math=gamma,
    )
)
