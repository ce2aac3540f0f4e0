"""What more contrast would cost: ``python -m models.retouch.contrast_trade [--set val]``.

The goal's two halves pull apart on HI contrast (HISTORY.md, "Eighteenth session"): this measures
how far. Auto's recipe (exactly the app's) gets one more look appended, and each variant is scored
as ``evaluate`` scores Auto: PSNR to the original, and HI against the targets over the same patch
draws. The looks: a gamma about mid grey (``x -> 0.18 (x / 0.18)^g``, g > 1 adds contrast, as
Auto's own measured contrast step does), the contrast filter's S-curve, and either gamma plus a
saturation boost. Same degradations, seeds and patch streams as ``evaluate``, so the unchanged
Auto, (b) and the originals reproduce its table. Nothing here is shipped: a measurement.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from engine.recipe import Recipe, Step
from engine.render import render
from engine.runners.agent import Agent, pivot_ev

from ..data import degrade
from ..data.assemble import assemble, load_srgb
from .evaluate import (
    DRAWS,
    degraded_photo,
    intersection,
    libraw_default,
    patch_rng,
    patch_stats,
    patches,
    psnr,
    shrink,
    target_stats,
)

GAMMAS = (1.05, 1.1, 1.15, 1.2, 1.3)
CONTRASTS = (0.05, 0.1, 0.2, 0.3)
SATURATIONS = (0.1, 0.2, 0.3)
#: variant -> the patch stream ``evaluate`` gives that method (Auto 0, (b) 5, the originals 8)
STREAMS = {"Auto": 0, "(b) LibRaw default": 5, "original": 8}
_agent: Agent | None = None


def looks() -> dict[str, list[Step]]:
    """Each variant's steps appended to Auto's recipe."""
    def gamma(g: float) -> list[Step]:
        return [Step("exposure", {"ev": pivot_ev(g)}), Step("gamma", {"gamma": g})]

    out: dict[str, list[Step]] = {"Auto": []}
    out |= {f"+ gamma {g}": gamma(g) for g in GAMMAS}
    out |= {f"+ contrast {c}": [Step("contrast", {"amount": c})] for c in CONTRASTS}
    for g in (1.0, 1.1, 1.15):
        out |= {f"+ gamma {g}, saturation {s}": (gamma(g) if g != 1.0 else []) + [Step("saturation", {"amount": s})]
                for s in SATURATIONS}
    return out


def stream(name: str, names: list[str]) -> int:
    return STREAMS.get(name, 100 + names.index(name))


def _score(job: tuple[int, str, int, degrade.Degradation, int, int]) -> dict[str, tuple[float, list[np.ndarray]]]:
    """One degraded image: every variant's PSNR and its patch statistics in each draw."""
    global _agent
    if _agent is None:
        _agent = Agent(prefer_gpu=False, threads=1)
    image, path, k, d, seed, long_edge = job
    orig = shrink(load_srgb(Path(path)), long_edge)
    with tempfile.TemporaryDirectory() as tmp:
        dng = Path(tmp) / "x.dng"
        linear = degraded_photo(orig, d, k, dng)
        outs = {"(b) LibRaw default": libraw_default(dng), "original": orig}
    recipe = _agent.predict(linear, raw=True)  # a RAW decode
    outs |= {n: render(Recipe([*recipe.steps, *extra]), linear) for n, extra in looks().items()}
    names = list(outs)

    def stats(n: str, o: np.ndarray) -> list[np.ndarray]:
        o = np.asarray(o, np.float32)
        return [patch_stats(patches(o, patch_rng(seed, dr, image, stream(n, names)))) for dr in range(DRAWS)]

    return {n: (psnr(o, orig), stats(n, o)) for n, o in outs.items()}


def trade(photos: list[Path], targets: list[Path], *, per_photo: int = 4, seed: int = 0, long_edge: int = 768,
          jobs: int = 2) -> dict[str, dict[str, float | np.ndarray]]:
    """Per variant: ``psnr`` (mean over the degraded images; nan for the originals) and ``hi``,
    ``hi_sd`` (per statistic, mean and sd over the patch draws), as ``evaluate`` computes them."""
    rng = np.random.default_rng(seed)  # the degradations in evaluate's order
    work = [(i * per_photo + k, str(p), k, degrade.sample(rng), seed, long_edge)
            for i, p in enumerate(photos) for k in range(per_photo)]
    if jobs > 1:
        with Pool(jobs) as pool:
            res = pool.map(_score, work, chunksize=1)
    else:
        res = [_score(w) for w in work]
    tgt = target_stats(targets, seed, DRAWS)
    out = {}
    for n in res[0]:
        hi = np.stack([intersection(np.concatenate([r[n][1][dr] for r in res]), tgt[dr]) for dr in range(DRAWS)])
        out[n] = {"psnr": float("nan") if n == "original" else float(np.mean([r[n][0] for r in res])),
                  "hi": hi.mean(0), "hi_sd": hi.std(0)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=Path("data/photos"))
    ap.add_argument("--set", choices=("heldout", "check", "val"), default="val")
    ap.add_argument("--per-photo", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    sets = assemble(args.photos)
    photos = sorted(sets[{"check": "targets"}.get(args.set, args.set)])
    res = trade(photos, sorted(sets["targets"]), per_photo=args.per_photo, seed=args.seed, jobs=args.jobs)
    print(f"{len(photos) * args.per_photo} degraded images, {args.set}; HI mean ± sd over {DRAWS} patch draws\n")
    print("| look appended to Auto | PSNR to original (dB) | HI luminance | HI contrast | HI saturation |")
    print("|---|---|---|---|---|")
    for n, r in res.items():
        p = "–" if n == "original" else f"{r['psnr']:.2f}"
        print(f"| {n} | {p} | " + " | ".join(f"{100 * m:.1f} ± {100 * sd:.1f}" for m, sd in zip(r["hi"], r["hi_sd"]))
              + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
