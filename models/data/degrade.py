"""Inverse rendering: turn a finished sRGB photo into an "unedited, RAW-like" linear image.

The agent is trained on, and evaluated against, what a RAW converter hands it before any
editing: linear light, an exposure picked by the camera's meter, the camera's white balance
guess, no tone curve and no saturation boost. From a finished photo we approximate that by

1. **linearise**: ``engine.color.srgb_decode`` (undo the display transfer);
2. **saturation**: ``x' = L + f (x - L)`` with ``f ~ U(0.55, 1.25)``
   (``L`` = paper luminance; mostly *less* colourful, as RAW renders are);
3. **contrast**: on luminance, ``L' = m (L/m)^c`` around mid grey ``m = 0.18``, ``c ~ U(0.7, 1.3)``,
   applied as a gain ``x L'/L`` so hues stay (undoes or adds a tone curve);
4. **white balance**: gains ``(exp(r), 1, exp(b))``, ``r, b ~ U(-0.35, 0.35)`` (a wrong camera WB);
5. **exposure**: ``x 2^ev``, ``ev ~ U(-2.0, 0.8)`` (RAW files are usually metered dark, like the
   paper's "-1.5 EV" FiveK inputs);
6. **sensor clip** at 1 (a sensor saturates; what is clipped is lost, as in a real RAW).

The result can be written as a synthetic DNG (``engine.io.dng.write_dng``) and decoded by the
engine's own RAW path, so that evaluation sees exactly what the app feeds the agent. The same
body runs on numpy and torch (array API) and on batches ``(*B, H, W, 3)`` with per-image
parameters ``(*B,)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from engine.color import MID_GREY, srgb_decode
from engine.filters.base import luminance, per_image
from engine.filters.black_white import black_white
from engine.filters.exposure import exposure

#: Sampling ranges (uniform) of each shift.
RANGES = {
    "saturation": (0.55, 1.25),
    "contrast": (0.7, 1.3),
    "wb_r": (-0.35, 0.35),
    "wb_b": (-0.35, 0.35),
    "ev": (-2.0, 0.8),
}


@dataclass(frozen=True)
class Degradation:
    saturation: Any = 1.0
    contrast: Any = 1.0
    wb_r: Any = 0.0
    wb_b: Any = 0.0
    ev: Any = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def scaled_ranges(scale: float) -> dict[str, tuple[float, float]]:
    """:data:`RANGES` shrunk (``scale`` < 1) or widened about the identity: milder or harsher
    degradations, for evaluation (``evaluate --degradation-scale``)."""
    ident = Degradation().as_dict()
    return {k: (ident[k] + scale * (lo - ident[k]), ident[k] + scale * (hi - ident[k]))
            for k, (lo, hi) in RANGES.items()}


def sample(rng: np.random.Generator, n: int | None = None, ranges: dict[str, tuple[float, float]] | None = None
           ) -> Degradation:
    """Random shifts (uniform in ``ranges``, default :data:`RANGES`); scalars when ``n`` is None,
    else arrays of shape ``(n,)``."""
    draw = {k: rng.uniform(lo, hi, size=n) for k, (lo, hi) in (ranges or RANGES).items()}
    if n is None:
        draw = {k: float(v) for k, v in draw.items()}
    else:
        draw = {k: v.astype(np.float32) for k, v in draw.items()}
    return Degradation(**draw)


def degrade_linear(linear: Any, d: Degradation) -> Any:
    """Steps 2-6 on an image that is already linear."""
    xp = array_namespace(linear)
    x = black_white(xp.clip(linear, 0.0, None), amount=1.0 - d.saturation)  # a saturation scale, past 1 too
    x = xp.clip(x, 0.0, None)
    lum = xp.clip(luminance(xp, x), 1e-6, None)
    c = per_image(xp, x, d.contrast)
    x = x * (MID_GREY * xp.pow(lum / MID_GREY, c) / lum)
    r = xp.exp(per_image(xp, x, d.wb_r))
    b = xp.exp(per_image(xp, x, d.wb_b))
    x = xp.concat([x[..., 0:1] * r, x[..., 1:2], x[..., 2:3] * b], axis=-1)
    x = exposure(x, ev=d.ev)
    return xp.clip(x, 0.0, 1.0)


def degrade(srgb: Any, d: Degradation) -> Any:
    """Finished sRGB photo in [0, 1] -> "unedited" linear image in [0, 1]."""
    return degrade_linear(srgb_decode(srgb), d)
