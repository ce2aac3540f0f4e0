"""Luminance-preserving white balance (Exposure paper filter 2, ``ImprovedWhiteBalanceFilter``)."""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from .base import LUMA, FilterSpec, Param, TanhRange, per_image, register


def white_balance(img: Any, *, green: Any, blue: Any) -> Any:
    r"""Scale G and B relative to R, then renormalise so a grey of luminance 1 keeps luminance 1.

    The red gain is fixed at 1 (the paper masks the red output), so two numbers describe every
    balance. Gains are ``s = (1, green, blue) / (1e-5 + 0.27 + 0.67 green + 0.06 blue)``.

    Args:
        img: linear RGB :math:`(*, H, W, 3)`.
        green, blue: gains relative to red in [0.607, 1.649], float or :math:`(*)`.
    """
    xp = array_namespace(img)
    g = per_image(xp, img, green)
    b = per_image(xp, img, blue)
    norm = 1e-5 + LUMA[0] + LUMA[1] * g + LUMA[2] * b
    return xp.concat([img[..., 0:1] / norm, img[..., 1:2] * (g / norm), img[..., 2:3] * (b / norm)], axis=-1)


_LO, _HI = 0.6065306597126334, 1.6487212707001282  # exp(-0.5), exp(0.5): the paper's log range

SPEC = register(
    FilterSpec(
        id="white_balance",
        label="White balance",
        short="W",
        version=1,
        description="Neutralises or warms the colour cast; overall brightness stays the same.",
        params=(
            Param("green", "Green", "×", _LO, _HI, 1.0,
                  "Green gain relative to red (above 1: greener, below: more magenta)",
                  TanhRange(_LO, _HI, initial=1.0, log=True), log_scale=True),
            Param("blue", "Blue", "×", _LO, _HI, 1.0, "Blue gain relative to red (above 1: cooler, below: warmer)",
                  TanhRange(_LO, _HI, initial=1.0, log=True), log_scale=True),
        ),
        math=white_balance,
    )
)
