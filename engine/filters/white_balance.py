"""Luminance-preserving white balance (Exposure paper filter 2, ``ImprovedWhiteBalanceFilter``).

Version 2 widens the photographer's range from the paper's ``exp(+-0.5)`` to ``exp(+-1.5)``: a RAW
shot on a daylight setting under tungsten light needs a blue gain of about 3 to come out neutral,
which the slider and the white balance selector (:mod:`engine.pick`) could not reach, nor two steps
stacked. The agent's heads keep the paper's range (the mapping's), so trained policies, fitted
recipes and Auto are unchanged; the math is the same.

Version 3 leaves alone what the file holds as blown white: a pixel whose every channel is at the
file's clip (a lamp, a blown sky, a JPEG's 255) had its true colour past the file's range, so gains
meant for the scene tinted it (Auto's own balance rendered blown highlights up to 27 levels pink or
blue). A RAW converter balances before it clips and keeps such a white neutral. Replay passes each
pixel's :func:`blown` weight, read from the decoded image, and the step fades its gains out by it.
Version 4: a RAW decode keeps its highlights past white (:mod:`engine.io.raw`) and rebuilds what
every channel clipped as a neutral grey there, so a neutral pixel past white counts as blown too.
Version 5 shows the gains as Temp and Tint (its :class:`View`) and widens their ranges so that every
Temp and Tint of the card can be stored: blue to exp(+-2.25), Temp +-150, which corrects a household
bulb's 2700 K on a daylight setting (version 4 stopped near 3100 K), and green to exp(+-3.06). The
math is the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from array_api_compat import array_namespace

from .base import LUMA, FilterSpec, Param, TanhRange, View, lerp, per_image, register

#: A decoded pixel whose lowest channel is below this (the file's white being 1) is balanced in
#: full; at :data:`BLOWN_AT` and above it is left as it is, a smoothstep between: a JPEG's 250 and 253.
BLOWN_FROM = 0.95
BLOWN_AT = 0.99
#: A channel past the file's white makes a coloured pixel not blown, fully from here on (a ramp
#: from 1): a float image's bright lamp, which nothing clipped, is balanced.
NOT_BLOWN_PAST = 1.02
#: ... unless the pixel is neutral: its channels within this share of its brightest (a ramp to
#: :data:`COLOURED`). That is how a RAW decode rebuilds what every channel clipped (a grey past white,
#: :mod:`engine.io.raw`), and its true colour is as lost as a JPEG's 255.
NEUTRAL = 0.01
COLOURED = 0.03


def white_balance(img: Any, *, green: Any, blue: Any, blown: Any = None) -> Any:
    r"""Scale G and B relative to R, then renormalise so a grey of luminance 1 keeps luminance 1.

    The red gain is fixed at 1 (the paper masks the red output), so two numbers describe every
    balance. Gains are ``s = (1, green, blue) / (1e-5 + 0.27 + 0.67 green + 0.06 blue)``.

    Args:
        img: linear RGB :math:`(*, H, W, 3)`.
        green, blue: gains relative to red (version 5: green in [0.047, 21.3], blue in [0.105, 9.49]),
            float or :math:`(*)`.
        blown: :func:`blown` of the decoded image, :math:`(*, H, W, 1)`: each pixel is left as it
            came in by that share (blown: all its channels near the file's clip). Left alone, a
            pixel keeps its luminance as a balanced grey would, so only its hue differs. None
            (training, the agent's proxy loop): every pixel balanced.
    """
    xp = array_namespace(img)
    g = per_image(xp, img, green)
    b = per_image(xp, img, blue)
    norm = 1e-5 + LUMA[0] + LUMA[1] * g + LUMA[2] * b
    out = xp.concat([img[..., 0:1] / norm, img[..., 1:2] * (g / norm), img[..., 2:3] * (b / norm)], axis=-1)
    return out if blown is None else lerp(out, img, blown)


def blown(decoded: Any) -> Any:
    """How far each pixel of a decoded image is blown white, 0 to 1, ``(*, H, W, 1)``: a smoothstep
    of its lowest channel from :data:`BLOWN_FROM` to :data:`BLOWN_AT` (the file's white is 1),
    faded out as its highest channel passes 1 (to 0 at :data:`NOT_BLOWN_PAST`) where it has a
    colour (a spread between its channels from :data:`NEUTRAL` to :data:`COLOURED` of its
    brightest): a float file's coloured light past white was not clipped; a neutral one past
    white is a RAW's rebuilt clip."""
    xp = array_namespace(decoded)
    low, high = xp.min(decoded, axis=-1, keepdims=True), xp.max(decoded, axis=-1, keepdims=True)
    t = xp.clip((low - BLOWN_FROM) / (BLOWN_AT - BLOWN_FROM), 0.0, 1.0)
    past = xp.clip((high - 1.0) / (NOT_BLOWN_PAST - 1.0), 0.0, 1.0)
    hue = xp.clip(((high - low) / xp.clip(high, 1e-6, None) - NEUTRAL) / (COLOURED - NEUTRAL), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t) * (1.0 - past * hue)


#: Log gain per point of the Temp and Tint sliders. Along the Planckian locus in linear sRGB,
#: ln(red / blue) grows by about 0.0104 per mired between 6500 K and 3000 K, so a point is about
#: 1.4 mired and 100 points about 144: from daylight (5500 K) to tungsten light (3100 K).
TEMP_TINT_STEP = 0.015
#: Where green lies along that line, in log, from red (0) to blue (1): as light warms, red against
#: green rises 0.36 of what red against blue does (0.356 from 5500 K to 3000 K, 0.368 from 6500 K
#: to 3500 K), so a Temp move alone stays on the locus and leaves no green or magenta.
GREEN_SHARE = 0.36
TEMP_RANGE, TINT_RANGE = 150.0, 150.0  # Temp 150: 5500 K to 2600 K


def to_temp_tint(params: Mapping[str, Any]) -> dict[str, float]:
    """The gains as Temp and Tint, the sliders a photographer moves (Lightroom's, for a rendered
    file): Temp warms (positive: red up, blue down, green in between along the daylight locus)
    or cools; Tint moves green against that line (positive: magenta)."""
    lg, lb = math.log(float(params["green"])), math.log(float(params["blue"]))
    return {"temperature": -lb / TEMP_TINT_STEP + 0.0, "tint": (GREEN_SHARE * lb - lg) / TEMP_TINT_STEP + 0.0}


def from_temp_tint(values: Mapping[str, float]) -> dict[str, float]:
    """The gains of a Temp and Tint (:func:`to_temp_tint`'s inverse)."""
    t, tint = float(values["temperature"]) * TEMP_TINT_STEP, float(values["tint"]) * TEMP_TINT_STEP
    return {"green": math.exp(-GREEN_SHARE * t - tint), "blue": math.exp(-t)}


_LO, _HI = 0.6065306597126334, 1.6487212707001282  # exp(-0.5), exp(0.5): the paper's log range, the agent's
#: Version 5: the gains reach every Temp and Tint the card offers, so that no corner of the two
#: sliders is out of reach (version 2 had exp(+-1.5) for both: Temp +-100)
_BLUE = math.exp(TEMP_TINT_STEP * TEMP_RANGE)
_GREEN = math.exp(TEMP_TINT_STEP * (GREEN_SHARE * TEMP_RANGE + TINT_RANGE))

SPEC = register(
    FilterSpec(
        id="white_balance",
        label="White balance",
        short="W",
        version=5,
        description="Neutralises or warms the colour cast; overall brightness stays the same.",
        params=(
            Param("green", "Green", "×", 1 / _GREEN, _GREEN, 1.0,
                  "Green gain relative to red (above 1: greener, below: more magenta)",
                  TanhRange(_LO, _HI, initial=1.0, log=True), log_scale=True),
            Param("blue", "Blue", "×", 1 / _BLUE, _BLUE, 1.0,
                  "Blue gain relative to red (above 1: cooler, below: warmer)",
                  TanhRange(_LO, _HI, initial=1.0, log=True), log_scale=True),
        ),
        math=white_balance,
        # v2 widened the range only, and v3's ``blown`` is not passed in training: styles trained now
        # depend on v1's math and mapping and still load in a v1 Retouch
        network_version=1,
        uses_blown=True,
        # Temp spans the blue gain's range, Tint every pair of gains version 4 could store, and the
        # green gain every pair of sliders: each side reaches all of the other
        view=View(
            params=(
                Param("temperature", "Temp", "", -TEMP_RANGE, TEMP_RANGE, 0.0,
                      "Warms (positive, towards amber) or cools (negative, towards blue) the photo; "
                      "-100 corrects a daylight setting under tungsten light (3100 K), -130 under a "
                      "household bulb (2700 K)", None, whole=True),
                Param("tint", "Tint", "", -TINT_RANGE, TINT_RANGE, 0.0,
                      "Adds magenta (positive) or green (negative), across Temp's daylight line", None, whole=True),
            ),
            to_view=to_temp_tint,
            from_view=from_temp_tint,
        ),
    )
)


@SPEC.migration(1)
def _keep_gains(params: dict) -> dict:
    """v1 -> v2: the same gains (v1's range lies inside v2's); only the range to choose from grew."""
    return params


@SPEC.migration(2)
def _same_gains(params: dict) -> dict:
    """v2 -> v3: the same gains; what was blown white in the file now stays neutral."""
    return params


@SPEC.migration(3)
def _same_gains_past_white(params: dict) -> dict:
    """v3 -> v4: the same gains; a neutral grey past white (a RAW decode's rebuilt clip) now stays
    neutral too."""
    return params


@SPEC.migration(4)
def _same_gains_wider(params: dict) -> dict:
    """v4 -> v5: the same gains; both ranges grew so that every Temp and Tint of the card can be
    stored."""
    return params
