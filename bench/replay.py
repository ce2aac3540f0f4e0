"""5-step replay at 24 MP: the naive per-operation numpy chain vs the LUT fast path, one run.

A real photo (the shipped sample DNG, or PATH) is upscaled to 6000x4000 and rendered with an
agent-like 5-step recipe by ``engine.render.render_exact`` (each filter's declared math over the
whole image, then sRGB) and by the fast path (``engine.lut``: bake the tables + one numba pass),
taking turns. Prints medians, the ratio, the error of the fast path against the exact math
in 8-bit sRGB levels (max and 99.9th percentile), and the fast path's CPU time (on a busy
shared machine, CPU time / cores is what idle cores would take).

    .venv/bin/python bench/replay.py [PATH] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from _photo import errors_8bit, load, resized

from engine.lut import LARGE_SIZE, apply_lut, bake_lut, clear_cache
from engine.recipe import Recipe, Step
from engine.render import render_exact

TONE = [0.8, 1.1, 1.3, 1.2, 1.0, 0.9, 0.8, 0.9]
CURVES = [[1.05, 1, 0.95, 1, 1, 1.02, 1, 0.98], [1.0] * 8, [0.95, 0.97, 1, 1.03, 1.05, 1, 1, 1]]
RECIPES = {
    "E G S+ T Ct": Recipe([Step("exposure", {"ev": 0.6}), Step("gamma", {"gamma": 0.85}),
                           Step("saturation", {"amount": 0.35}), Step("tone", {"slopes": TONE}),
                           Step("contrast", {"amount": 0.25})]),
    "E W Ct T BW": Recipe([Step("exposure", {"ev": 0.6}), Step("white_balance", {"green": 1.0, "blue": 0.85}),
                           Step("contrast", {"amount": 0.3}), Step("tone", {"slopes": TONE}),
                           Step("black_white", {"amount": 0.25})]),
    "E G W T C (per-channel)": Recipe([
        Step("exposure", {"ev": 0.7}), Step("gamma", {"gamma": 0.8}),
        Step("white_balance", {"green": 1.05, "blue": 0.9}), Step("tone", {"slopes": TONE}),
        Step("color_curves", {"slopes": CURVES})]),
}


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photo", nargs="?")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size", type=int, default=LARGE_SIZE, help="cube size (render() uses 65 above 4 MP)")
    args = ap.parse_args()
    src, name = load(args.photo)
    img = resized(src, 6000, 4000)
    print(f"photo: {name} upscaled to 6000x4000 (24 MP); {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}")
    apply_lut(bake_lut(RECIPES["E G S+ T Ct"], args.size), img[:4])  # JIT load, not timed
    out = np.empty_like(img)
    print(f"{'recipe':<26}{'naive chain':>13}{'fast path':>11}{'(bake)':>9}{'ratio':>8}{'max err':>9}{'p99.9':>7}"
          f"{'fast CPU s':>12}")
    for label, recipe in RECIPES.items():
        naive, fast, bakes, cpu = [], [], [], []
        exact = None
        for _ in range(args.repeat):
            exact, t = timed(render_exact, recipe, img)
            naive.append(t)
            clear_cache()
            c0 = time.process_time()
            t0 = time.perf_counter()
            lut = bake_lut(recipe, args.size)  # uncached: what a new recipe costs
            bakes.append(time.perf_counter() - t0)
            apply_lut(lut, img, out)  # what render() does above 4 MP
            fast.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        mx, p999 = errors_8bit(out, exact)
        tn, tf = statistics.median(naive), statistics.median(fast)
        print(f"{label:<26}{tn:>12.2f}s{tf:>10.3f}s{statistics.median(bakes):>8.3f}s{tn / tf:>7.1f}x"
              f"{mx:>9.2f}{p999:>7.2f}{statistics.median(cpu):>12.3f}")
    print("errors in 8-bit sRGB levels against the exact math; times are medians of", args.repeat)
    print("fast CPU s: CPU time of the fast path over all threads (wall time on idle cores ~ this / cores)")


if __name__ == "__main__":
    main()
