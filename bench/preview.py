"""2 MP preview refresh per slider move: bake the recipe's tables + one pass (target <= 16 ms).

A real photo (the shipped sample DNG, or PATH) at 1732x1155 (2 MP). Each "move" changes one
parameter and does what the app's render worker does (``engine.render.render_rgb32``): bake
the LUT (33³ cube; the cube of the mixing steps and the pre table are reused while a slider of
a step after them moves) and write the 0xFFRRGGBB words a Format_RGB32 QImage holds, plus the
histogram. Printed side by side: the exact per-filter chain on the same frame, the bake and
apply parts, the CPU time the move took over all threads (on a busy shared machine wall time
mostly measures the other processes), the app's draft while a slider is held (the 1024 px
level, 0.66 MP, with a 17³ cube), with its error, and the histograms behind the curve cards
that follow the preview once a slider is let go (``engine.render.curve_histograms``).

    .venv/bin/python bench/preview.py [PATH] [--moves 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from _photo import errors_8bit, load, resized

from engine.lut import apply_lut, bake_lut
from engine.recipe import Recipe, Step
from engine.render import CURVE_PIXELS, curve_histograms, render_exact, render_rgb32

TONE = [0.8, 1.1, 1.3, 1.2, 1.0, 0.9, 0.8, 0.9]


def recipe(value: float, case: str) -> Recipe:
    """The recipe after one slider move; ``value`` in [-1, 1] drives the slider of ``case``."""
    ev = value if case != "saturation" else 0.5
    steps = [Step("exposure", {"ev": ev}), Step("gamma", {"gamma": 0.85})]
    if case == "1d":
        return Recipe([*steps, Step("white_balance", {"green": 1.05, "blue": 0.9}), Step("tone", {"slopes": TONE})])
    if case == "chain":  # a steep gamma between two mixing steps: two cubes (engine.lut.bake._bake_middle)
        return Recipe([Step("exposure", {"ev": ev}), Step("saturation", {"amount": 0.5}),
                       Step("gamma", {"gamma": 0.4}), Step("contrast", {"amount": 0.3})])
    amount = 0.35 if case != "saturation" else 0.3 + 0.2 * value
    return Recipe([*steps, Step("saturation", {"amount": amount}), Step("tone", {"slopes": TONE}),
                   Step("contrast", {"amount": 0.25})])


CASES = {
    "exposure": "E G S+ T Ct, exposure slider (cube cached, 1-D pre table re-baked)",
    "saturation": "E G S+ T Ct, saturation slider (33³ cube re-baked every move)",
    "1d": "E G W T, exposure slider (per-channel recipe: one 1-D table)",
    "chain": "E S+ G0.4 Ct, exposure slider (a chain of two cubes, the gamma between them)",
}


def ms(samples: list[float]) -> str:
    s = sorted(samples)
    return f"median {1e3 * statistics.median(s):6.1f} ms  p90 {1e3 * s[int(0.9 * (len(s) - 1))]:6.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photo", nargs="?")
    ap.add_argument("--moves", type=int, default=40)
    args = ap.parse_args()
    src, name = load(args.photo)
    img = resized(src, 1732, 1155)
    print(f"photo: {name} at 1732x1155 (2.0 MP); {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
    for case in CASES:
        render_rgb32(recipe(0.1, case), img, histogram=True)  # JIT load, not timed
    evs = np.linspace(-1.0, 1.0, args.moves)
    words = np.empty(img.shape[:2], np.uint32)  # what the app renders into (the QImage's buffer)
    draft = resized(src, 1024, 683)
    dwords = np.empty(draft.shape[:2], np.uint32)
    for case, label in CASES.items():
        total, bake, apply_, drag, exact, cpu = [], [], [], [], [], []
        for ev in evs:
            r = recipe(float(ev), case)
            hist = np.zeros((4, 256), np.int64)
            c0 = time.process_time()
            t0 = time.perf_counter()
            lut = bake_lut(r, 33)  # as render_rgb32 does (cached parts reused)
            t1 = time.perf_counter()
            apply_lut(lut, img, words, hist)
            t2 = time.perf_counter()
            cpu.append(time.process_time() - c0)
            bake.append(t1 - t0)
            apply_.append(t2 - t1)
            total.append(t2 - t0)
            t0 = time.perf_counter()
            apply_lut(bake_lut(r, 17), draft, dwords, np.zeros((4, 256), np.int64))
            drag.append(time.perf_counter() - t0)
        curves = []
        for ev in evs[:: max(1, len(evs) // 4)]:
            t0 = time.perf_counter()
            render_exact(recipe(float(ev), case), img)
            exact.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            curve_histograms(recipe(float(ev), case), img)
            curves.append(time.perf_counter() - t0)
        last = recipe(float(evs[-1]), case)
        mx, p999 = errors_8bit(apply_lut(bake_lut(last, 33), img), render_exact(last, img))
        dmx, dp999 = errors_8bit(apply_lut(bake_lut(last, 17), draft), render_exact(last, draft))
        print(f"{label}")
        print(f"  bake + apply        {ms(total)}   (bake {1e3 * statistics.median(bake):.1f} ms + apply "
              f"{1e3 * statistics.median(apply_):.1f} ms)")
        print(f"  CPU time per move   {ms(cpu)}   (all threads)")
        print(f"  exact chain         {ms(exact)}   -> {statistics.median(exact) / statistics.median(total):.1f}x")
        print(f"  error vs exact      max {mx:.2f}, p99.9 {p999:.2f} levels (8-bit sRGB)")
        print(f"  draft 0.66 MP, 17³  {ms(drag)}   error max {dmx:.2f}, p99.9 {dp999:.2f} levels")
        if curves and any(s.op == "tone" for s in last):
            ratio = statistics.median(curves) / statistics.median(total)
            print(f"  curve histogram     {ms(curves)}   -> {ratio:.2f}x the move, after it ({CURVE_PIXELS} px)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
