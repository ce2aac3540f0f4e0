"""What keeping blown whites neutral costs: the fast path's second pass over the pixels a white
balance leaves alone (``engine.lut.apply_recipe_lut``: found by a scan, rendered from a fine table
of their corner of the input), side by side with the tables alone.

A real photo (the shipped sample DNG, or PATH) written as a DNG pushed over and decoded by the
app's RAW path, so that a share of it is blown: what all three channels clipped is then a neutral
grey past white (LibRaw's blend), rendered apart by the exact math. Per share, with the pass and
without it (ratio):
* a 2 MP preview re-rendered as a slider after the white balance moves (read-only: the scan is
  remembered; the corner table is cached);
* a slider drag on the white balance itself (every move a new recipe: the tables and the corner
  table re-baked);
* a 24 MP export to 16-bit TIFF, in bands of a writable image (the scan runs on every band);
and the largest difference between the channels of a blown pixel on the preview (8-bit levels).

    .venv/bin/python bench/blown.py [PATH] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _photo import load, resized

import engine.lut.recipe_lut as lut_mod  # apply_recipe_lut looks _blown_pixels up here
from engine.filters.white_balance import blown as blown_weight
from engine.io import load_photo
from engine.io.dng import write_dng
from engine.lut.blown import _Blown
from engine.recipe import Recipe, Step
from engine.render import render_bits, render_rgb32

TONE = [0.8, 1.1, 1.3, 1.2, 1.0, 0.9, 0.8, 0.9]
RECIPE = Recipe([Step("exposure", {"ev": -0.3}), Step("white_balance", {"green": 0.9, "blue": 1.25}),
                 Step("gamma", {"gamma": 1.1}), Step("saturation", {"amount": 0.2}), Step("tone", {"slopes": TONE})])


def timed(fn, repeat: int) -> float:
    fn(0)  # warm: JIT, bake, the blown pixels' indices
    runs = []
    for i in range(1, repeat + 1):
        t = time.perf_counter()
        fn(i)
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def spread(words: np.ndarray, blown: np.ndarray) -> float:
    rgb = np.stack([(words >> 16) & 255, (words >> 8) & 255, words & 255], axis=-1).astype(int)[blown]
    return float((rgb.max(axis=-1) - rgb.min(axis=-1)).max()) if len(rgb) else 0.0


def no_second_pass(linear: np.ndarray) -> _Blown:
    """Stands in for ``engine.lut.blown._blown_pixels``: no pixel rendered again (the tables alone)."""
    return _Blown(*(np.empty(0, np.int64) for _ in range(3)))


def dragged(i: int) -> Recipe:
    """The recipe after the ``i``-th move of the white balance (its blue gain), as a slider drag makes."""
    steps = list(RECIPE.steps)
    steps[1] = Step("white_balance", {"green": 0.9, "blue": 1.25 + 0.003 * i})
    return Recipe(steps)


def shot(photo: np.ndarray, over: float) -> np.ndarray:
    """``photo`` written as a DNG ``over`` stops over, decoded as the app decodes it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_dng(Path(tmp) / "over.dng", np.clip(photo, 0, 1), exposure=over, preview=False, linear=True)
        return load_photo(path).linear


def measure(photo: np.ndarray, over: float, repeat: int) -> str:
    """One row: the photo pushed ``over`` stops, with the second pass and without it."""
    small = shot(resized(photo, 1732, 1155), over)
    small.flags.writeable = False
    big = shot(resized(photo, 6000, 4000), over)
    blown = np.asarray(blown_weight(small))[..., 0] >= 1.0
    out = np.empty(small.shape[:2], np.uint32)
    row = []
    for first, fn in ((0, _REAL), (100, no_second_pass)):  # fresh recipes for each drag: nothing cached
        lut_mod._blown_pixels = fn
        preview = timed(lambda i: render_rgb32(RECIPE, small, out=out, histogram=True), repeat)
        shown = spread(out, blown)
        drag = timed(lambda i, first=first: render_rgb32(dragged(first + i), small, out=out, histogram=True), repeat)
        row.append((preview, shown, drag, timed(lambda i: render_bits(RECIPE, big, 16), 1)))
    lut_mod._blown_pixels = _REAL
    (p1, s1, d1, e1), (p0, s0, d0, e0) = row
    return (f"{100 * blown.mean():6.1f} % | {1e3 * p1:6.1f} / {1e3 * p0:5.1f} ms ({p1 / p0:4.2f}x) "
            f"| {1e3 * d1:6.1f} / {1e3 * d0:5.1f} ms ({d1 / d0:4.2f}x) | {e1:5.2f} / {e0:5.2f} s ({e1 / e0:4.2f}x) "
            f"| {s1:3.0f} / {s0:3.0f}")


_REAL = lut_mod._blown_pixels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    photo, name = load(args.path)
    print(f"{name}; recipe: {' > '.join(s.op for s in RECIPE.steps)}; with the second pass / the tables alone")
    print(" blown | 2 MP preview             | 2 MP white balance drag  | 24 MP 16-bit export    "
          "| blown pixels' channel spread (levels)")
    for over in (0.0, 2.0, 3.0):  # stops pushed over: more and more of the photo blown
        print(measure(photo, over, args.repeat))


if __name__ == "__main__":
    main()
