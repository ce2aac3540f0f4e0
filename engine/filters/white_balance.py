"""Luminance-preserving white balance (Exposure paper filter 2, ``ImprovedWhiteBalanceFilter``).

Version 2 widens the photographer's range from the paper's ``exp(+-0.5)`` to ``exp(+-1.5)``: a RAW
shot on a daylight setting under tungsten light needs a blue gain of about 3 to come out neutral,
which the slider and the white balance selector (:mod:`engine.pick`) could not reach, nor two steps
stacked. The agent's heads keep the paper's range (the mapping's), so trained policies, fitted
recipes and Auto are unchanged; the math is the same.
"""

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
        green, blue: gains relative to red in [0.223, 4.48], float or :math:`(*)`.
    """
    xp = array_namespace(img)
    g = per_image(xp, img, green)
    b = per_image(xp, img, blue)
    norm = 1e-5 + LUMA[0] + LUMA[1] * g + LUMA[2] * b
    return xp.concat([img[..., 0:1] / norm, img[..., 1:2] * (g / norm), img[..., 2:3] * (b / norm)], axis=-1)


_LO, _HI = 0.6065306597126334, 1.6487212707001282  # exp(-0.5), exp(0.5): the paper's log range, the agent's
_MIN, _MAX = 0.22313016014842982, 4.4816890703380645  # exp(-1.5), exp(1.5): the photographer's (version 2)

SPEC = register(
    FilterSpec(
        id="white_balance",
        label="White balance",
        short="W",
        version=2,
        description="Neutralises or warms the colour cast; overall brightness stays the same.",
        params=(
            Param("green", "Green", "×", _MIN, _MAX, 1.0,
                  "Green gain relative to red (above 1: greener, below: more magenta)",
                  TanhRange(_LO, _HI, initial=1.0, log=True), log_scale=True),
            Param("blue", "Blue", "×", _MIN, _MAX, 1.0, "Blue gain relative to red (above 1: cooler, below: warmer)",
                  TanhRange(_LO, _HI, initial=1.0, log=True), log_scale=True),
        ),
        math=white_balance,
        network_version=1,  # v2's math and mapping are v1's: styles trained now still load in a v1 Retouch
    )
)


@SPEC.migration(1)
def _keep_gains(params: dict) -> dict:
    """v1 -> v2: the same gains (v1's range lies inside v2's); only the range to choose from grew."""
    return params
