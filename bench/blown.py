"""What keeping blown whites neutral costs: the fast path's exact pass over the pixels a white
balance leaves alone (``engine.lut.apply_recipe_lut``), side by side with the tables alone.

A real photo (the shipped sample DNG, or PATH) pushed over so that a share of it is blown white
in all three channels, at 2 MP (a preview: read-only, re-rendered as a slider moves, the app's
RGB32 words and histogram) and at 24 MP (an export to 16-bit TIFF, in bands). The recipe is
Auto-like: exposure, white balance, gamma, saturation, tone. Printed per share of blown pixels:
the time with the exact pass, the tables alone, their ratio, and the largest difference between
the channels of a blown pixel (8-bit levels) each way.

    .venv/bin/python bench/blown.py [PATH] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _photo import load, resized

import engine.lut as lut_mod
from engine.recipe import Recipe, Step
from engine.render import render_bits, render_rgb32

TONE = [0.8, 1.1, 1.3, 1.2, 1.0, 0.9, 0.8, 0.9]
RECIPE = Recipe([Step("exposure", {"ev": -0.3}), Step("white_balance", {"green": 0.9, "blue": 1.25}),
                 Step("gamma", {"gamma": 1.1}), Step("saturation", {"amount": 0.2}), Step("tone", {"slopes": TONE})])


def timed(fn, repeat: int) -> float:
    fn()  # warm: JIT, bake, the blown pixels' indices
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def spread(words: np.ndarray, blown: np.ndarray) -> float:
    rgb = np.stack([(words >> 16) & 255, (words >> 8) & 255, words & 255], axis=-1).astype(int)[blown]
    return float((rgb.max(axis=-1) - rgb.min(axis=-1)).max()) if len(rgb) else 0.0


def no_exact_pass(linear: np.ndarray) -> np.ndarray:
    """Stands in for ``engine.lut._blown_pixels``: no pixel rendered again (the tables alone)."""
    return np.empty(0, np.int64)


def measure(photo: np.ndarray, over: float, repeat: int) -> str:
    """One row: the photo pushed ``over`` stops, with the exact pass and without it."""
    small = np.clip(resized(photo, 1732, 1155) * 2.0 ** over, 0.0, 1.0)
    small.flags.writeable = False
    big = np.clip(resized(photo, 6000, 4000) * 2.0 ** over, 0.0, 1.0)
    blown = small.min(axis=-1) >= 0.99
    out = np.empty(small.shape[:2], np.uint32)
    row = []
    for fn in (lut_mod._blown_pixels, no_exact_pass):
        lut_mod._blown_pixels = fn
        preview = timed(lambda: render_rgb32(RECIPE, small, out=out, histogram=True), repeat)
        row.append((preview, spread(out, blown), timed(lambda: render_bits(RECIPE, big, 16), 1)))
    (p1, s1, e1), (p0, s0, e0) = row
    lut_mod._blown_pixels = _REAL
    return (f"{100 * blown.mean():10.1f} % | {1e3 * p1:7.1f} / {1e3 * p0:6.1f} ms ({p1 / p0:4.2f}x) "
            f"| {s1:3.0f} / {s0:3.0f} levels | {e1:6.2f} / {e0:5.2f} s ({e1 / e0:4.2f}x)")


_REAL = lut_mod._blown_pixels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    photo, name = load(args.path)
    print(f"{name}; recipe: {' > '.join(s.op for s in RECIPE.steps)}")
    print("share blown | 2 MP preview: exact pass / tables alone (ratio) | channel spread on blown | "
          "24 MP 16-bit export: exact pass / tables alone (ratio)")
    for over in (0.0, 1.0, 2.0):  # stops pushed over: more and more of the photo blown
        print(measure(photo, over, args.repeat))


if __name__ == "__main__":
    main()
