"""Evaluate the colour constancy model: ``python -m models.wb.evaluate [--set heldout|check|val] [--model M.onnx]``.

The same protocol as ``models.retouch.evaluate``: each photo is "unedited" ``--per-photo`` times
(:mod:`models.data.degrade`, seed 0), written as a synthetic DNG and decoded by the app's RAW
path. Reported against the classical baseline, max-RGB (what Auto used before:
``engine.runners.agent.auto_white_balance`` without a model):

* the RMSE of the white balance's log gains (green, blue; relative to red) against the ones that
  undo the degradation (``models.meter.train.offsets``): each estimator in full, and as Auto
  applies it (its share, each gain within its limit); "none" is no correction;
* the PSNR (dB) to the original of Auto's measured steps alone (no policy) with each white balance,
  and of LibRaw's default rendering.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from engine.color import srgb_encode
from engine.io import load_photo
from engine.io.dng import write_dng
from engine.runners.agent import (
    CONSTANCY_MAX,
    CONSTANCY_SHARE,
    agent_view,
    apply_steps,
    auto_white_balance,
    measured_steps,
)
from engine.runners.constancy import DEFAULT_WB, ColourConstancy
from engine.runners.meter import load as load_meter

from ..data import degrade
from ..data.assemble import load_srgb, photo_set
from ..meter.train import offsets
from ..retouch.evaluate import libraw_default, psnr, shrink
from .train import max_rgb


def _log(gains: dict[str, float] | None) -> np.ndarray:
    return np.zeros(2) if gains is None else np.log([gains["green"], gains["blue"]])


def evaluate(model: ColourConstancy, photos: list[Path], *, per_photo: int = 4, seed: int = 0,
             long_edge: int = 768, log=print) -> dict:
    rng = np.random.default_rng(seed)
    meter = load_meter()
    err: dict[str, list[np.ndarray]] = {"none": [], "max-RGB, full": [], "learned, full": [],
                                        "max-RGB as Auto applied it": [], "learned as Auto applies it": []}
    shown: dict[str, list[float]] = {"measured steps with max-RGB": [], "measured steps with the learned model": [],
                                     "(b) LibRaw": []}
    with tempfile.TemporaryDirectory() as tmp:
        for path in photos:
            orig = shrink(load_srgb(path), long_edge)
            for k in range(per_photo):
                d = degrade.sample(rng)
                dng = write_dng(Path(tmp) / f"{path.stem}-{k}.dng", degrade.degrade(orig, d).astype(np.float32),
                                linear=True, seed=k, preview=False)
                lin = agent_view(load_photo(dng).linear)  # as Auto reads a RAW
                want = offsets(d)[1:3]
                full = model.predict(lin)
                err["none"].append(-want)
                err["max-RGB, full"].append(max_rgb(lin) - want)
                err["learned, full"].append((np.zeros(2) if full is None else np.asarray(full)) - want)
                err["max-RGB as Auto applied it"].append(_log(auto_white_balance(lin)) - want)
                err["learned as Auto applies it"].append(
                    _log(auto_white_balance(lin, share=CONSTANCY_SHARE, constancy=model, limit=CONSTANCY_MAX)) - want)
                for name, m in zip(shown, (None, model)):  # max-RGB, then the learned model
                    steps = measured_steps(lin, meter=meter, constancy=m)
                    shown[name].append(psnr(srgb_encode(np.clip(apply_steps(lin, steps), 0, 1)), orig))
                shown["(b) LibRaw"].append(psnr(libraw_default(dng), orig))
            log(f"{path.stem}: " + "  ".join(f"{k} {v[-1]:.2f}" for k, v in shown.items()))
    return {"rmse": {k: np.sqrt(np.mean(np.square(v), 0)).tolist() for k, v in err.items()},
            "psnr": {k: float(np.mean(v)) for k, v in shown.items()}, "n_images": len(photos) * per_photo,
            "n_photos": len(photos)}


def markdown(res: dict) -> str:
    rows = ["| white balance | log green RMSE | log blue RMSE |", "|---|---|---|"]
    for k, (g, b) in res["rmse"].items():
        rows.append(f"| **{k}** | **{g:.3f}** | **{b:.3f}** |" if k.startswith("learned as")
                    else f"| {k} | {g:.3f} | {b:.3f} |")
    rows += ["", "| Auto's measured steps alone (no policy) | PSNR to original (dB) |", "|---|---|"]
    rows += [f"| {k} | {v:.2f} |" for k, v in res["psnr"].items()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.wb.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_WB)
    ap.add_argument("--photos", type=Path, default=Path("data/photos"))
    ap.add_argument("--set", default="heldout",
                    help="heldout, check (the target photos), val, or a folder of photos")
    ap.add_argument("--per-photo", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    photos = photo_set(args.set, args.photos)
    res = evaluate(ColourConstancy(args.model), photos, per_photo=args.per_photo, seed=args.seed)
    print(f"\n{res['n_images']} degraded images from {res['n_photos']} photos ({args.set}); model {args.model}\n")
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
