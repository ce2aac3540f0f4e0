"""Highlight roll-off: brightness past white eased back below it, each pixel keeping its hue.

Not one of the Exposure paper's filters, and not one the agent picks: a step the photographer adds
(as Lightroom's Highlights or darktable's filmic shoulder) after pushing the exposure. Without it the
display clips each channel on its own, so a colour with one channel past white changes hue: at +2 EV
an orange turned yellow (+38°) and a blue sky cyan (-82°).
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from .base import FilterSpec, Param, Sigmoid, lerp, luminance, per_image, register

#: Below this (linear; sRGB 0.91) a pixel's brightest channel is left as it is.
KNEE = 0.8
#: Luminance (white = 1) at which a colour has faded to white: a light that bright shows none.
WHITE_AT = 2.0
_EPS = 1e-6


def highlights(img: Any, *, amount: Any) -> Any:
    r"""Scale each pixel so that its brightest channel ``m`` follows a shoulder, then fade colours
    whose luminance passes white towards white.

    The shoulder is the identity up to :data:`KNEE` and ``k + (1 - k)(1 - e^{-(m - k) / (1 - k)})``
    above it: continuous with its first derivative, rising to 1 and never reaching it. Scaling all
    three channels by the same factor keeps the pixel's hue and saturation, which clipping each
    channel does not. A colour brighter than white by luminance (``Y`` from 1 to :data:`WHITE_AT`)
    then fades towards the grey of its new brightest channel, as film and the eye see a bright
    light: an overexposed sunset goes to white, not to a flat saturated orange.

    Args:
        img: linear RGB :math:`(*, H, W, 3)`, values above 1 welcome.
        amount: in [0, 1], float or :math:`(*)`; 0 leaves the image unchanged.
    """
    xp = array_namespace(img)
    x = xp.clip(img, 0.0, None)
    m = xp.maximum(xp.maximum(x[..., 0:1], x[..., 1:2]), x[..., 2:3])
    over = xp.clip(m - KNEE, 0.0, None)
    shoulder = KNEE + (1.0 - KNEE) * (1.0 - xp.exp(-over / (1.0 - KNEE)))
    top = xp.where(m > KNEE, shoulder, m)
    scaled = x * (top / xp.clip(m, _EPS, None))
    fade = xp.clip((luminance(xp, x) - 1.0) / (WHITE_AT - 1.0), 0.0, 1.0)
    fade = fade * fade * (3.0 - 2.0 * fade)  # smoothstep: no kink where the fading starts or ends
    rolled = lerp(scaled, top, fade)
    return lerp(img, rolled, per_image(xp, img, amount))


SPEC = register(
    FilterSpec(
        id="highlights",
        label="Highlight roll-off",
        short="Hl",
        version=1,
        description="Eases highlights past white back below it, keeping their colour: clipped, skies turn "
                    "cyan and oranges yellow. Add it after pushing the exposure.",
        params=(
            Param("amount", "Amount", "", 0.0, 1.0, 0.0, "How far highlights are eased back (1: none clips)",
                  Sigmoid(0.0, 1.0)),
        ),
        math=highlights,
    )
)
