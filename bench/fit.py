"""``retouch fit`` (Match a look): time and remaining error at the shipped pixel sample (64²)
against the earlier 96², side by side in one run, on two real pairs and a known recipe.

The pairs: the shipped sample DNG against LibRaw's own rendering of it (what another converter
exports), and that rendering against a graded version of itself (desaturated, contrastier,
warmer); plus a real photo against a known 5-step recipe, where the steps themselves can be
checked. PSNR is measured on the whole image, not the fitted pixels.

    .venv/bin/python bench/fit.py
"""

from __future__ import annotations

import time

import numpy as np
import rawpy
from _photo import FIXTURE, SAMPLE

from engine.color import srgb_decode, srgb_encode
from engine.io import load_photo
from engine.recipe import Recipe, Step
from engine.render import render, replay
from models.retouch.fit import fit

KNOWN = Recipe([Step("exposure", {"ev": -0.4}), Step("gamma", {"gamma": 1.2}),
                Step("tone", {"slopes": [0.6, 0.8, 1.0, 1.2, 1.4, 1.3, 1.0, 0.8]}),
                Step("saturation", {"amount": 0.4}), Step("black_white", {"amount": 0.2})])


def pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    raw = load_photo(SAMPLE).linear
    with rawpy.imread(str(SAMPLE)) as r:
        libraw = r.postprocess(use_camera_wb=True).astype(np.float32) / 255
    x = libraw
    luma = x.mean(-1, keepdims=True)
    graded = np.clip(0.5 + 1.25 * (luma + 0.7 * (x - luma) - 0.5), 0, 1) * np.array([1.06, 1.0, 0.92], np.float32)
    photo = load_photo(FIXTURE).linear
    return [("sample DNG -> LibRaw's rendering", raw, libraw),
            ("LibRaw's rendering -> a graded look", srgb_decode(libraw), np.clip(graded, 0, 1)),
            ("photo -> a known 5-step recipe", photo, srgb_encode(replay(KNOWN, photo)))]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(-10 * np.log10(max(float(((a - b) ** 2).mean()), 1e-12)))


def main() -> int:
    print("retouch fit: whole-image PSNR and time, pixel sample 64² (shipped) vs 96², one thread")
    ratios = []
    for name, before, after in pairs():
        sub = (slice(None, None, 3), slice(None, None, 3))
        row = {}
        for size in (64, 96):
            t = time.perf_counter()
            res = fit(before, after, size=size)
            row[size] = (time.perf_counter() - t, psnr(render(res.recipe, before[sub]), after[sub]),
                         [s.op for s in res.recipe])
        ratios.append(row[96][0] / row[64][0])
        print(f"  {name}:")
        for size, (sec, db, ops) in row.items():
            print(f"    {size}²: {sec:5.1f} s  {db:5.1f} dB  {', '.join(ops)}")
        print(f"    96² / 64² time: {ratios[-1]:.2f}x")
    print(f"mean speed-up of 64² over 96²: {np.mean(ratios):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
