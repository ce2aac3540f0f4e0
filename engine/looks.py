"""Words for how alternative renderings of one photo differ: "brighter, warmer".

Variations (:meth:`engine.runners.agent.Agent.variations`) differ by a few levels, which is hard to
judge from four thumbnails. Each is compared here with the mean of the others on five display
statistics, and the one or two differences well past what one can see are named, so the
photographer knows what each alternative offers before clicking it. Contrast and colour are
compared at equal brightness, so an exposure change reads "brighter", not "brighter, more colourful".
"""

from __future__ import annotations

import numpy as np

from .filters.base import LUMA

#: (name, word when higher, word when lower, the step that counts as one visible unit).
#: Units are display sRGB in [0, 1]: 4/255 of brightness is plainly visible side by side, and
#: the others were set to read alike on the sample photo's variations.
STATS = (
    ("brightness", "brighter", "darker", 4 / 255),
    ("contrast", "more contrast", "softer", 3 / 255),
    ("warmth", "warmer", "cooler", 3 / 255),
    ("saturation", "more colourful", "more muted", 3 / 255),
    ("tint", "greener", "more magenta", 2 / 255),
)
MIN_UNITS = 0.75  # smaller differences are not named (3/255 of brightness still is)
#: Between renderings whose words came out the same, a difference this large is still named, as
#: "slightly ...": two thumbnails captioned alike would say nothing about which to pick.
SLIGHT_UNITS = 0.3


def stats(srgb: np.ndarray) -> np.ndarray:
    """The five ``STATS`` of a display image ``(H, W, 3)`` in [0, 1]."""
    x = np.asarray(srgb, np.float32).reshape(-1, 3)
    luma = x @ np.asarray(LUMA, np.float32)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    return np.array([luma.mean(), luma.std(), (r - b).mean(), (x.max(1) - x.min(1)).mean(),
                     (g - (r + b) / 2).mean()], np.float64)


def differences(images: list[np.ndarray], most: int = 2) -> list[str]:
    """For each of ``images`` (renderings of one photo), up to ``most`` words for how it differs
    from the mean of the others, the largest first; "like the others" ("like the other" for a pair)
    when nothing is visible. Renderings whose words came out the same get one more, for how each
    differs from the others so captioned ("slightly warmer" where it is under ``MIN_UNITS``)."""
    if len(images) < 2:
        return [""] * len(images)
    s = np.stack([stats(im) for im in images])
    # contrast and colour read relative to brightness: a brighter rendering has more of both in
    # absolute terms, and an S-curve that darkens would otherwise read "more muted" (it is not).
    # Each is taken at the set's mean brightness, so the units keep their meaning.
    bright = np.maximum(s[:, :1], 1e-3)
    s[:, 1:] *= bright.mean() / bright
    s /= np.array([u for *_, u in STATS])
    named = [_named(s, i, range(len(images)), MIN_UNITS)[:most] for i in range(len(images))]
    alike_groups = {}
    for i, n in enumerate(named):
        alike_groups.setdefault(tuple(n), []).append(i)
    for key, group in alike_groups.items():
        if len(group) > 1:
            said = {k for k, *_ in key}
            for i in group:
                named[i] = named[i] + [w for w in _named(s, i, group, SLIGHT_UNITS) if w[0] not in said][:1]
    alike = "like the other" if len(images) == 2 else "like the others"
    return [", ".join(_word(*w) for w in n) or alike for n in named]


def _named(s: np.ndarray, i: int, among: range | list[int], least: float) -> list[tuple[int, bool, bool]]:
    """(statistic, higher, slight) for each difference of ``s[i]`` from the mean of the rest of
    ``among`` of at least ``least`` units, the largest first."""
    d = s[i] - s[[j for j in among if j != i]].mean(0)
    return [(int(k), bool(d[k] > 0), bool(abs(d[k]) < MIN_UNITS)) for k in np.argsort(-np.abs(d)) if abs(d[k]) >= least]


def _word(k: int, higher: bool, slight: bool) -> str:
    return ("slightly " if slight else "") + STATS[k][1 if higher else 2]
