"""Locating a cropped export in its RAW (``engine.align.find_crop``) for ``retouch fit``: time, the
box found against the true one, and what the fit recovers on the found box against the exact
one, side by side in one run.

The pairs: the shipped sample DNG (3000 x 2000) and crops of it (2100 x 1400, off the pixel grid
of the search levels) with a known look, exported as 8-bit, as another tool would.

    .venv/bin/python bench/align.py
"""

from __future__ import annotations

import time

import numpy as np
from _photo import SAMPLE

from engine.align import find_crop, fit_grid
from engine.color import srgb_decode, srgb_encode
from engine.io import load_photo
from engine.recipe import Recipe, Step
from engine.render import replay, resize_linear
from models.retouch.fit import fit

#: (box, export scale): a crop made on the pixel grid (as most are) exported at its size, and one
#: half a pixel off it (made on another rendering of the RAW: another converter's margins)
#: exported at 2/3 size.
CASES = (((311.0, 207.0, 2411.0, 1607.0), 1.0), ((311.5, 206.5, 2411.5, 1606.5), 2 / 3))
LOOK = Recipe([Step("exposure", {"ev": 0.5}), Step("saturation", {"amount": 0.3})])


def _steps(recipe: Recipe) -> str:
    return ", ".join(f"{s.op} {v:.3f}" if isinstance(v := next(iter(s.params.values())), float) else s.op
                     for s in recipe)


def main() -> None:
    before = load_photo(SAMPLE).linear
    print(f"{SAMPLE.name} {before.shape[1]}x{before.shape[0]}; the look: {_steps(LOOK)}; fit on the grid "
          "fit_grid gives (as retouch fit)")
    print(f"{'true box':>32} {'find_crop s':>11} {'found to px':>11} {'box':>10} {'fit s':>6} {'PSNR dB':>8}  steps")
    for true, scale in CASES:
        w, h = round((true[2] - true[0]) * scale), round((true[3] - true[1]) * scale)
        part = resize_linear(before, w, h, box=true)
        after = np.rint(np.clip(srgb_encode(replay(LOOK, part)), 0, 1) * 255).astype(np.float32) / 255
        times = []
        for _ in range(3):
            t = time.perf_counter()
            crop = find_crop(before, srgb_decode(after))
            times.append(time.perf_counter() - t)
        assert crop is not None
        found = crop.box or (crop.left, crop.top, crop.right, crop.bottom)
        err = max(abs(a - b) for a, b in zip(found, true))
        for name, box in (("found", found), ("exact", true)):
            t = time.perf_counter()
            res = fit(resize_linear(before, *fit_grid(box, before.shape, after.shape), box=box), after)
            print(f"{true!s:>32} {np.median(times):11.2f} {err:11.2f} {name:>10} {time.perf_counter() - t:6.1f} "
                  f"{res.psnr:8.1f}  {_steps(res.recipe)}")


if __name__ == "__main__":
    main()
