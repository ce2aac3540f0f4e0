"""Evaluate the learned meter: ``python -m models.meter.evaluate [--set heldout|check|val] [--meter M.onnx]``.

The same protocol as ``models.retouch.evaluate``: each photo is "unedited" ``--per-photo`` times
(:mod:`models.data.degrade`, seed 0), written as a synthetic DNG and decoded by the app's RAW
path. Reported against the classical baseline, the percentile rule Auto used before (the
brightest channel's 99th percentile to 0.9, ``engine.runners.agent.auto_exposure_ev``):

* the RMSE of the exposure (EV) and of the log contrast each predicts, against the truth
  (``models.meter.train.offsets``); "none" predicts 0 (no correction, or the training mean for EV);
* the PSNR (dB) to the original of the measured steps alone (no policy): the classical ones
  (exposure + white balance) and Auto's (with the meter: blended exposure, white balance, contrast).
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
from engine.runners.agent import METER_EV_SHARE, agent_view, apply_steps, auto_exposure_ev, blend_ev, measured_steps
from engine.runners.meter import DEFAULT_METER, Meter

from ..data import degrade
from ..data.assemble import load_srgb, photo_set
from ..retouch.evaluate import libraw_default, psnr, shrink
from .train import offsets


def evaluate(meter: Meter, photos: list[Path], *, per_photo: int = 4, seed: int = 0, long_edge: int = 768,
             log=print) -> dict:
    rng = np.random.default_rng(seed)
    ev: dict[str, list[float]] = {"none": [], "classical": [], "meter": [], "Auto (blend)": []}
    contrast: dict[str, list[float]] = {"none": [], "meter": []}
    shown: dict[str, list[float]] = {"classical steps": [], "Auto's steps (meter)": [], "(b) LibRaw": []}
    with tempfile.TemporaryDirectory() as tmp:
        for path in photos:
            orig = shrink(load_srgb(path), long_edge)
            for k in range(per_photo):
                d = degrade.sample(rng)
                dng = write_dng(Path(tmp) / f"{path.stem}-{k}.dng", degrade.degrade(orig, d).astype(np.float32),
                                linear=True, seed=k, preview=False)
                lin = load_photo(dng).linear
                seen = agent_view(lin)  # as Auto reads a RAW
                truth = offsets(d)
                p = meter.predict(seen)
                classical = auto_exposure_ev(seen)
                for name, v in (("none", 0.0), ("classical", classical), ("meter", p["ev"]),
                                ("Auto (blend)", blend_ev(classical, p["ev"]))):
                    ev[name].append(v - truth[0])
                contrast["none"].append(-truth[3])
                contrast["meter"].append(p["log_contrast"] - truth[3])
                for name, m in (("classical steps", None), ("Auto's steps (meter)", meter)):
                    shown[name].append(psnr(srgb_encode(np.clip(apply_steps(lin, measured_steps(seen, meter=m)), 0, 1)),
                                            orig))
                shown["(b) LibRaw"].append(psnr(libraw_default(dng), orig))
            log(f"{path.stem}: " + "  ".join(f"{k} {v[-1]:.2f}" for k, v in shown.items()))
    rmse = lambda v: float(np.sqrt(np.mean(np.square(v))))  # noqa: E731
    return {"ev": {k: rmse(v) for k, v in ev.items()}, "contrast": {k: rmse(v) for k, v in contrast.items()},
            "psnr": {k: float(np.mean(v)) for k, v in shown.items()}, "n_images": len(photos) * per_photo,
            "n_photos": len(photos)}


def markdown(res: dict) -> str:
    rows = ["| predictor | exposure RMSE (EV) | log contrast RMSE |", "|---|---|---|"]
    rows.append(f"| none (no correction) | {res['ev']['none']:.3f} | {res['contrast']['none']:.3f} |")
    rows.append(f"| classical: brightest channel p99 -> 0.9 | {res['ev']['classical']:.3f} | – |")
    rows.append(f"| **learned meter** | **{res['ev']['meter']:.3f}** | **{res['contrast']['meter']:.3f}** |")
    share = f"{1 - METER_EV_SHARE:g} classical + {METER_EV_SHARE:g} meter"
    rows.append(f"| Auto's blend ({share}) | {res['ev']['Auto (blend)']:.3f} | – |")
    rows += ["", "| measured steps alone (no policy) | PSNR to original (dB) |", "|---|---|"]
    rows += [f"| {k} | {v:.2f} |" for k, v in res["psnr"].items()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.meter.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("--meter", type=Path, default=DEFAULT_METER)
    ap.add_argument("--photos", type=Path, default=Path("data/photos"))
    ap.add_argument("--set", default="heldout",
                    help="heldout, check (the target photos), val, or a folder of photos")
    ap.add_argument("--per-photo", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    photos = photo_set(args.set, args.photos)
    res = evaluate(Meter(args.meter), photos, per_photo=args.per_photo, seed=args.seed)
    print(f"\n{res['n_images']} degraded images from {res['n_photos']} photos ({args.set}); meter {args.meter}\n")
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
