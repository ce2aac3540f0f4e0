"""What output sharpening costs an export: ``render_bits`` with each level against none.

The shipped sample DNG's linear image resized to a web export (2048 px long edge) and to 24 MP
(6000x4000), rendered to 8-bit integers in bands with a three-step recipe, without and with
sharpening, side by side in one run. Printed: the median seconds and the ratio to none.

    .venv/bin/python bench/sharpen.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from _photo import resized

from engine.io import load_photo
from engine.recipe import Recipe, Step
from engine.render import render_bits

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    linear = load_photo(ROOT / "resources" / "samples" / "sample.dng").linear
    recipe = Recipe([Step("exposure", {"ev": 0.3}), Step("gamma", {"gamma": 1.1}), Step("saturation", {"amount": 0.2})])
    for w, h in ((2048, 1365), (6000, 4000)):
        img = resized(linear, w, h)
        render_bits(recipe, img[:64], 8, sharpen="standard")  # JIT and cube warm-up
        base = None
        for level in ("none", "standard"):
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                render_bits(recipe, img, 8, sharpen=level)
                times.append(time.perf_counter() - t)
            m = statistics.median(times)
            base = base or m
            print(f"{w}x{h}  sharpen {level:8s} {m:6.3f} s   ratio {m / base:.2f}x")


if __name__ == "__main__":
    main()
