"""2 MP preview refresh per slider move: bake the recipe's tables + one pass (target <= 16 ms).

A real photo (the shipped sample DNG, or PATH) at 1732x1155 (2 MP). Each "move" changes one
parameter: ``engine.render.render_uint8`` bakes the LUT (33³ cube; the cube of the mixing steps
is reused while a slider of a per-channel step before or after them moves) and writes the 8-bit
display values a QImage takes. Printed side by side: the exact per-filter chain on the same
frame, the bake and apply parts, the CPU time the move took over all threads (on a busy shared
machine wall time mostly measures the other processes; CPU time / cores is what an idle machine
would show) and a 17³ "while dragging" variant.

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
from engine.render import render, render_exact  # render = cached bake_lut + apply_lut

TONE = [0.8, 1.1, 1.3, 1.2, 1.0, 0.9, 0.8, 0.9]


def recipe(value: float, case: str) -> Recipe:
    """The recipe after one slider move; ``value`` in [-1, 1] drives the slider of ``case``."""
    ev = value if case != "saturation" else 0.5
    steps = [Step("exposure", {"ev": ev}), Step("gamma", {"gamma": 0.85})]
    if case == "1d":
        return Recipe([*steps, Step("white_balance", {"green": 1.05, "blue": 0.9}), Step("tone", {"slopes": TONE})])
    amount = 0.35 if case != "saturation" else 0.3 + 0.2 * value
    return Recipe([*steps, Step("saturation", {"amount": amount}), Step("tone", {"slopes": TONE}),
                   Step("contrast", {"amount": 0.25})])


CASES = {
    "exposure": "E G S+ T Ct, exposure slider (cube cached, 1-D pre table re-baked)",
    "saturation": "E G S+ T Ct, saturation slider (33³ cube re-baked every move)",
    "1d": "E G W T, exposure slider (per-channel recipe: one 1-D table)",
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
    print(f"photo: {name} at 1732x1155 (2.0 MP); {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}")
    for case in CASES:
        render(recipe(0.1, case), img)  # JIT load, not timed
    evs = np.linspace(-1.0, 1.0, args.moves)
    out8 = np.empty(img.shape, np.uint8)
    for case, label in CASES.items():
        total, bake, apply_, drag, exact, cpu = [], [], [], [], [], []
        for ev in evs:
            r = recipe(float(ev), case)
            c0 = time.process_time()
            t0 = time.perf_counter()
            lut = bake_lut(r, 33)  # as render() does: the exposure case reuses the cached cube
            t1 = time.perf_counter()
            apply_lut(lut, img, out8)  # 8-bit display values, what a QImage takes (render_uint8)
            t2 = time.perf_counter()
            cpu.append(time.process_time() - c0)
            bake.append(t1 - t0)
            apply_.append(t2 - t1)
            total.append(t2 - t0)
            t0 = time.perf_counter()
            apply_lut(bake_lut(r, 17), img, out8)
            drag.append(time.perf_counter() - t0)
        for ev in evs[:: max(1, len(evs) // 4)]:
            t0 = time.perf_counter()
            ref = render_exact(recipe(float(ev), case), img)
            exact.append(time.perf_counter() - t0)
        last = recipe(float(evs[-1]), case)  # out8 holds the 17³ render now: redo the 33³ one
        out = apply_lut(bake_lut(last, 33), img, out8).astype(np.float32) / 255.0
        mx, p999 = errors_8bit(out, ref if ev == evs[-1] else render_exact(last, img))
        print(f"{label}")
        print(f"  bake + apply        {ms(total)}   (bake {1e3 * statistics.median(bake):.1f} ms + apply "
              f"{1e3 * statistics.median(apply_):.1f} ms)")
        print(f"  CPU time per move   {ms(cpu)}   (all threads; /2 = wall on 2 idle cores)")
        print(f"  17³ while dragging  {ms(drag)}")
        print(f"  exact chain         {ms(exact)}   -> {statistics.median(exact) / statistics.median(total):.1f}x")
        print(f"  error vs exact      max {mx:.2f}, p99.9 {p999:.2f} levels (8-bit sRGB)")


if __name__ == "__main__":
    main()
