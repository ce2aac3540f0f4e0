"""Fit the learned meter: ``python -m models.meter.train [--photos DIR] [-o resources/models/meter.onnx]``.

Each photo (a finished rendering: the default set's ``inputs``, or any folder of the user's own)
is "unedited" ``--per-photo`` times by the project's inverse rendering
(:mod:`models.data.degrade`), written as a synthetic DNG and decoded by the app's RAW path, so
the meter sees what the app feeds it. The offsets that undo each degradation are known, so the
meter is a supervised ridge regression from :func:`engine.runners.meter.features` to them,
solved in closed form; the regularisation is picked by 5-fold cross-validation grouped by photo.
The features are cached (``--cache``), so a refit is instant. No torch: numpy and onnx only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.atomic import atomic_path
from engine.filters.base import LUMA
from engine.io import load_photo
from engine.io.dng import write_dng
from engine.io.raw import DECODE_VERSION
from engine.runners.agent import agent_view
from engine.runners.meter import DEFAULT_METER, FEATURES, OUTPUTS, features

from ..data import degrade
from ..data.assemble import list_images, load_srgb
from ..retouch.evaluate import shrink

LAMBDAS = (0.1, 1.0, 10.0, 100.0, 1000.0)
FOLDS = 5


def offsets(d: degrade.Degradation) -> np.ndarray:
    """What undoes ``d``, as ``OUTPUTS``: the exposure and white balance filters' parameters (log
    gains) that restore the photo's grey, and the log contrast and saturation it was given."""
    r, b = float(d.wb_r), float(d.wb_b)
    # white balance (1, e^r, e^(r-b)) / n restores the hue; it leaves e^r / n of the exposure to undo
    n = LUMA[0] + LUMA[1] * math.exp(r) + LUMA[2] * math.exp(r - b)
    ev = -float(d.ev) - (r - math.log(n)) / math.log(2.0)
    return np.array([ev, r, r - b, math.log(float(d.contrast)), math.log(float(d.saturation))])


def build(paths: list[Path], per_photo: int, seed: int, long_edge: int = 512,
          log=print, featurize=features) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``featurize`` of each of ``per_photo`` degradations of each photo (as the app decodes
    them), their offsets and photo index; a sample ``featurize`` returns None for is left out."""
    rng = np.random.default_rng(seed)
    feats, targets, group = [], [], []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(paths):
            orig = shrink(load_srgb(path), long_edge)
            for k in range(per_photo):
                d = degrade.sample(rng)
                lin = degrade.degrade(orig, d).astype(np.float32)
                dng = write_dng(Path(tmp) / "m.dng", lin, linear=True, seed=k, preview=False)
                f = featurize(agent_view(load_photo(dng).linear))  # as Auto reads a RAW
                if f is None:
                    continue
                feats.append(f)
                targets.append(offsets(d))
                group.append(i)
            if (i + 1) % 20 == 0 or i + 1 == len(paths):
                el = time.perf_counter() - t0
                log(f"  {i + 1}/{len(paths)} photos, {el:.0f} s, ETA {el / (i + 1) * (len(paths) - i - 1):.0f} s")
    return np.asarray(feats), np.asarray(targets, np.float64), np.asarray(group)


def ridge(x: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge on standardised features, returned as the affine map ``x @ a + b`` on raw ones."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    zc, yc = z, y - y.mean(0)
    w = np.linalg.solve(zc.T @ zc + lam * np.eye(z.shape[1]), zc.T @ yc)
    a = w / sd[:, None]
    return a, y.mean(0) - mu @ a


def cross_validate(x: np.ndarray, y: np.ndarray, group: np.ndarray, lam: float) -> np.ndarray:
    """RMSE of each output over ``FOLDS`` folds that never split a photo."""
    err = np.zeros_like(y)
    for k in range(FOLDS):
        test = group % FOLDS == k
        a, b = ridge(x[~test], y[~test], lam)
        err[test] = x[test] @ a + b - y[test]
    return np.sqrt((err**2).mean(0))


def export(a: np.ndarray, b: np.ndarray, out: Path, meta: dict) -> Path:
    """The affine map as ONNX: ``features (N, F) -> params (N, len(OUTPUTS))``."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "A"], ["ab"]), helper.make_node("Add", ["ab", "B"], ["params"])],
        "retouch-meter",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", len(FEATURES)])],
        [helper.make_tensor_value_info("params", TensorProto.FLOAT, ["N", len(OUTPUTS)])],
        [numpy_helper.from_array(a.astype(np.float32), "A"), numpy_helper.from_array(b.astype(np.float32)[None], "B")],
    )
    return save_graph(graph, out, "retouch-meter", meta)


def save_graph(graph, out: Path, key: str, meta: dict) -> Path:
    """A hand-built ONNX ``graph`` with ``meta`` (JSON) under ``key``, checked, saved atomically."""
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="retouch")
    model.ir_version = 8  # readable by onnxruntime >= 1.10
    helper.set_model_props(model, {key: json.dumps(meta)})
    onnx.checker.check_model(model)
    with atomic_path(out) as tmp:
        onnx.save(model, str(tmp))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.meter.train", description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=Path, default=Path("data/photos/inputs"),
                    help="folder of finished photos (default: the default set's inputs; `make data`)")
    ap.add_argument("-o", "--out", type=Path, default=DEFAULT_METER)
    ap.add_argument("--per-photo", type=int, default=16, help="degradations per photo")
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--cache", type=Path, default=Path("runs/meter/features.npz"),
                    help="features of a previous run with the same photos and settings are reused")
    args = ap.parse_args(argv)
    paths = list_images(args.photos)
    if len(paths) < FOLDS:
        print(f"error: {args.photos}: need at least {FOLDS} photos, found {len(paths)}", file=sys.stderr)
        return 2
    key = {"photos": [p.name for p in paths], "per_photo": args.per_photo, "seed": args.seed, "features": FEATURES,
           "decode": DECODE_VERSION}
    t0 = time.perf_counter()
    cached = None
    if args.cache.exists():
        z = np.load(args.cache, allow_pickle=False)
        if json.loads(str(z["key"])) == json.loads(json.dumps(key)):
            cached = z["x"], z["y"], z["group"]
    if cached is None:
        print(f"metering {len(paths)} photos x {args.per_photo} degradations (synthetic DNG + the app's decode)")
        cached = build(paths, args.per_photo, args.seed)
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(args.cache) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, x=cached[0], y=cached[1], group=cached[2], key=json.dumps(key))
    x, y, group = cached
    x = np.asarray(x, np.float64)
    build_s = time.perf_counter() - t0
    print(f"{len(x)} samples from {len(paths)} photos ({build_s:.0f} s)")
    table = lambda v: "  ".join(f"{k} {x:.3f}" for k, x in zip(OUTPUTS, v))  # noqa: E731
    print("offsets' spread (the error of predicting none):", table(y.std(0)))
    scores = {lam: cross_validate(x, y, group, lam) for lam in LAMBDAS}
    for lam, rmse in scores.items():
        print(f"  lambda {lam:g}: cross-validated RMSE", table(rmse))
    lam = min(scores, key=lambda k: scores[k][0] + scores[k][3])  # the two outputs Auto uses
    a, b = ridge(x, y, lam)
    meta = {"features": list(FEATURES), "outputs": list(OUTPUTS), "lambda": lam, "samples": len(x),
            "photos": len(paths), "per_photo": args.per_photo, "seed": args.seed, "source": str(args.photos),
            "cv_rmse": dict(zip(OUTPUTS, scores[lam].round(4).tolist())),
            "spread": dict(zip(OUTPUTS, y.std(0).round(4).tolist())),
            "build_s": round(build_s, 1)}
    export(a, b, args.out, meta)
    print(f"lambda {lam:g} -> {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
