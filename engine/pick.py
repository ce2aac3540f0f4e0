"""Pick the white balance from a spot that should be neutral (Lightroom's White Balance Selector,
darktable's "spot" white balance).

The photographer clicks a grey card, a white wall or a cloud; the white balance step's gains are
set so that the spot, as it enters that step, has no colour. Everything before the step (an
exposure, a curve) is replayed on the spot's pixels, so the gains are right wherever the step
sits in the recipe; everything after it is the photographer's look and stays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .filters import REGISTRY
from .filters.base import LUMA, points, whole_points
from .recipe import Recipe
from .render import replay

#: A decoded value this close to white is clipped (a blown highlight, or 254-255 in a JPEG): the
#: channels stopped at the white, not at the light's colour, so such pixels cannot say the cast.
CLIPPED = 0.99
#: A spot whose luminance, as it enters the step, is below this (linear; ~6/255 in sRGB) is too
#: dark: its colour is the sensor's noise and the black level's rounding.
TOO_DARK = 0.002
#: At least this share of the spot must be unclipped to be measured.
MIN_UNCLIPPED = 0.5
#: The spot's radius in screen pixels, so that a click at any zoom averages what the eye sees
#: under the cursor (Lightroom's loupe averages a few screen pixels too).
SPOT_SCREEN_PX = 3
#: A change of Temp or Tint by this many points, as the card shows them, is told (a 3 % gain).
NOTICED = 2


class PickError(ValueError):
    """A spot that cannot give a white balance; the message says why and what to pick instead."""


@dataclass(frozen=True)
class Pick:
    """The white balance step's parameters that neutralise the spot."""

    params: dict[str, float]
    colour: tuple[float, float, float]  # the spot's mean linear RGB as it enters the step
    limited: bool  # the spot's cast is past the filter's range: it is only partly removed

    def describe(self, old: dict[str, float] | None = None) -> str:
        """Words for the status line: how the photo changes from the ``old`` gains (None: no white
        balance before), as the photographer sees it, and the new Temp and Tint."""
        spec = REGISTRY["white_balance"]
        now, was = spec.slider_values(self.params), spec.slider_values(old or spec.defaults())
        # told by the points the card shows (a Tint from +2 to +1 read "greener")
        words = [w for name, up, down in (("temperature", "warmer", "cooler"), ("tint", "more magenta", "greener"))
                 for shift in [whole_points(now[name]) - whole_points(was[name])]
                 for w in ([up] if shift >= NOTICED else [down] if shift <= -NOTICED else [])]
        change = f"the photo is now {' and '.join(words)}" if words else "nearly as it was"
        text = (f"White balance set from the spot: {change} "
                f"(Temp {points(now['temperature'])}, Tint {points(now['tint'])})")
        if self.limited:
            text += ". Its cast is stronger than the white balance can take, so some of it is left"
        return text + "."


def spot(image: np.ndarray, x: float, y: float, radius: int) -> np.ndarray:
    """The square of ``image``'s pixels within ``radius`` of (``x``, ``y``) (pixel coordinates,
    fractions allowed), cut at the image's edges, as an (N, 3) array. Raises :class:`PickError`
    for a point off the image."""
    h, w = image.shape[:2]
    if not (0 <= x < w and 0 <= y < h):
        raise PickError("Click on the photo itself to pick its white balance.")
    cx, cy, r = int(x), int(y), max(0, int(radius))
    return np.asarray(image[max(0, cy - r):cy + r + 1, max(0, cx - r):cx + r + 1], np.float32).reshape(-1, 3)


def pick_white_balance(recipe: Recipe, index: int, pixels: np.ndarray) -> Pick:
    """The gains of a white balance step at ``index`` of ``recipe`` that make ``pixels`` (the
    spot as decoded, (N, 3) linear RGB) neutral, after the enabled steps before ``index``.

    Gains are relative to red, as the filter's: a spot that enters as (r, g, b) leaves as grey with
    green ``r / g`` and blue ``r / b``; a cast past the card's Temp or Tint is clamped there (``limited``).
    """
    px = np.asarray(pixels, np.float32).reshape(-1, 3)
    if not len(px):
        raise PickError("Click on the photo itself to pick its white balance.")
    unclipped = px[px.max(axis=1) < CLIPPED]
    if len(unclipped) < MIN_UNCLIPPED * len(px):
        raise PickError("That spot is blown out: its colour is lost. Pick something light grey or white that "
                        "still shows detail.")
    entering = np.asarray(replay(Recipe(recipe.steps[:index]), unclipped[None]), np.float64)[0]
    mean = entering.mean(axis=0)
    if float(mean @ np.asarray(LUMA)) < TOO_DARK:
        raise PickError("That spot is too dark to measure its colour. Pick something grey or white in the light.")
    if float(mean.min()) < TOO_DARK:  # one channel at the noise: a deep colour, no grey under any light
        raise PickError("That spot is too strongly coloured to be something neutral. Pick something grey or white.")
    spec = REGISTRY["white_balance"]
    # clamped as the card's Temp and Tint: a cast past Temp's end (a candle) keeps its tint removed,
    # where clamping the blue gain alone left it off the daylight line (a 2700 K spot came out olive)
    wanted = spec.view.to_view({"green": mean[0] / mean[1], "blue": mean[0] / mean[2]})
    shown = {name: float(spec.slider(name).clip(v)) for name, v in wanted.items()}
    limited = any(not math.isclose(shown[k], v, abs_tol=1e-6) for k, v in wanted.items())
    params = {name: float(spec.param(name).clip(round(v, 4))) for name, v in spec.view.from_view(shown).items()}
    return Pick(params, (float(mean[0]), float(mean[1]), float(mean[2])), limited)
