"""How well a fitted look carries to other photos: ``python -m models.retouch.fit_transfer``.

A look is fitted on one photo's before/after pair (or on two photos' pairs at once) and the recipe
found is applied to every other photo of the set, scored by PSNR against the look itself there.
The looks are made as another tool would make them, on the display values and not with the
engine's filters, and their AFTERs are saved as JPEG (quality 90), so no fit is exact. Printed: a
row per fit and the means; ``--json`` keeps the rows.

Photos of nearly one hue are where one pair fails: a warmer white balance and more saturation do
the same there (README, "Match a Look").
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from engine.color import REC709_LUMA, srgb_encode
from engine.io.image import linearize
from engine.render import render

from .evaluate import psnr
from .fit import fit_pairs

LUMA = np.array(REC709_LUMA)


def _s_curve(x: np.ndarray, a: float) -> np.ndarray:
    return np.clip(x - a * np.sin(2 * np.pi * x) / (2 * np.pi), 0, 1)


def _saturate(x: np.ndarray, k: float) -> np.ndarray:
    y = (x @ LUMA)[..., None]
    return np.clip(y + k * (x - y), 0, 1)


#: Display-space looks: sRGB in [0, 1] to sRGB.
LOOKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "warm": lambda x: _s_curve(np.clip(x * [1.06, 1.0, 0.86], 0, 1), 0.25),
    "cool_bright": lambda x: np.clip(x * [0.92, 1.0, 1.1], 0, 1) ** 0.85,
    "punchy": lambda x: _saturate(_s_curve(x, 0.45), 1.3),
    "faded_warm": lambda x: 0.07 + 0.9 * _saturate(np.clip(x * [1.05, 1.0, 0.9], 0, 1), 0.7),
}

#: Photos of the validation set (``make data``): three of nearly one hue, each with a varied one.
PAIRS = (("gc_erase_cheetah.png", "gc_cat_renewable_dam2.png"),
         ("gc_world_animals_chameleon.png", "gc_cat_monuments_burj.png"),
         ("gc_farm_animals_chicken.png", "gc_world_animals_scarlet_macaw.png"))


def look(name: str, linear: np.ndarray, jpeg: bool = False) -> np.ndarray:
    out = LOOKS[name](srgb_encode(linear).astype(np.float64))
    if jpeg:
        buf = io.BytesIO()
        Image.fromarray((out * 255 + 0.5).astype(np.uint8)).save(buf, "JPEG", quality=90)
        out = np.asarray(Image.open(buf), np.float64) / 255
    return out.astype(np.float32)


def _load(path: Path, size: int) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((size, size))
        return linearize(np.asarray(im))


def run(photos: Path, pairs: tuple[tuple[str, str], ...], log: Callable[[str], None] = print) -> list[dict]:
    """Each photo of ``pairs`` fitted alone, then each pair together, every fit scored on the same
    photos: those of ``photos`` in no pair."""
    fitted = {n for pair in pairs for n in pair}
    small = {p.name: _load(p, 160) for p in sorted(photos.glob("*.png")) if p.name not in fitted}
    rows = []
    for names in [(a,) for a, _ in pairs] + [(b,) for _, b in pairs] + [tuple(p) for p in pairs]:
        befores = [_load(photos / n, 512) for n in names]
        for lk in LOOKS:
            t = time.perf_counter()
            res = fit_pairs([(b, look(lk, b, jpeg=True), None) for b in befores])
            scores = [psnr(render(res.recipe, x, exact=True), look(lk, x)) for x in small.values()]
            rows.append(dict(photos=list(names), look=lk, pair_db=res.psnr, transfer_db=statistics.mean(scores),
                             seconds=time.perf_counter() - t, steps=[s.op for s in res.recipe]))
            log(f"{' + '.join(names):60s} {lk:11s} pair {res.psnr:5.1f} dB  to {len(scores)} others "
                f"{rows[-1]['transfer_db']:5.1f} dB  {rows[-1]['seconds']:4.0f} s  {', '.join(rows[-1]['steps'])}")
    return rows


def summary(rows: list[dict]) -> str:
    one = {(r["photos"][0], r["look"]): r["transfer_db"] for r in rows if len(r["photos"]) == 1}
    two = [(r["transfer_db"], one[(r["photos"][0], r["look"])], one[(r["photos"][1], r["look"])])
           for r in rows if len(r["photos"]) == 2]
    if not two:
        return ""
    mean = statistics.mean
    return (f"to the other photos, two pairs: mean {mean(t for t, _, _ in two):.1f} dB, worst "
            f"{min(t for t, _, _ in two):.1f}; one pair: mean {mean((a + b) / 2 for _, a, b in two):.1f} dB "
            f"(the worse of the two {mean(min(a, b) for _, a, b in two):.1f}), worst "
            f"{min(min(a, b) for _, a, b in two):.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.retouch.fit_transfer", description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=Path, default=Path("data/photos/val"), help="a folder of PNG photos")
    ap.add_argument("--pair", nargs=2, action="append", metavar=("A", "B"),
                    help="two photos of the folder to fit together (default: three pairs of the validation set)")
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args(argv)
    rows = run(args.photos, tuple(map(tuple, args.pair)) if args.pair else PAIRS)
    print(summary(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
