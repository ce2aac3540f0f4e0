"""Fit the colour constancy model: ``python -m models.wb.train [--photos DIR] [-o resources/models/wb.onnx]``.

The samples are the meter's (:func:`models.meter.train.build`): each finished photo "unedited"
``--per-photo`` times by the project's inverse rendering, written as a synthetic DNG and decoded
by the app's RAW path; the white balance that undoes each one is known. The model
(:mod:`engine.runners.constancy`) is fitted by minibatch Adam on the mean squared error of its
answer, with the correlation done by FFT (the ONNX export does the same sum as a ``Conv``); a
smoothness penalty on the filter and the prior is picked by 5-fold cross-validation grouped by
photo. Classical max-RGB (what Auto used before) is scored on the same samples.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from engine.atomic import atomic_path
from engine.io.raw import DECODE_VERSION
from engine.runners.agent import AUTO_WB_PERCENTILE, max_rgb_white
from engine.runners.constancy import BINS, CHANNELS, DEFAULT_WB, HISTOGRAMS, KERNEL, OUT, grid, histograms

from ..data import degrade
from ..data.assemble import list_images
from ..meter.train import FOLDS, build, save_graph

LAMBDAS = (1e-3, 1e-2, 1e-1)  # the smoothness penalty's weight
SCALE = 100.0  # histograms sum to 1; scaled so that a filter of order 1 gives a peaked softmax
FFT = 64  # >= BINS: the correlation's outputs 0..OUT-1 never wrap
ITERATIONS = 400
BATCH = 512


def max_rgb(sample: np.ndarray) -> np.ndarray:
    """Max-RGB's log gains (green, blue) at full strength, as Auto measured them before (zero where
    it cannot measure)."""
    e = max_rgb_white(sample)
    return np.zeros(2) if e is None else np.log([e[0] / e[1], e[0] / e[2]])


def featurize(linear: np.ndarray) -> np.ndarray | None:
    """One training sample: the flattened histograms, then max-RGB's answer (the baseline)."""
    h = histograms(linear)
    return None if h is None else np.concatenate([h.ravel(), max_rgb(linear)]).astype(np.float32)


class Model(torch.nn.Module):
    """The engine's model in torch: filter (CHANNELS, KERNEL, KERNEL) and prior (OUT, OUT)."""

    def __init__(self):
        super().__init__()
        self.filt = torch.nn.Parameter(torch.zeros(CHANNELS, KERNEL, KERNEL))
        self.prior = torch.nn.Parameter(torch.zeros(OUT, OUT))
        self.register_buffer("grid", torch.from_numpy(grid()))

    def scores(self, hf: torch.Tensor) -> torch.Tensor:
        """Scores ``(N, OUT, OUT)`` from the histograms' rfft2 ``(N, CHANNELS, FFT, FFT // 2 + 1)``."""
        ff = torch.fft.rfft2(self.filt, s=(FFT, FFT))
        corr = torch.fft.irfft2((hf * ff.conj()).sum(1), s=(FFT, FFT))  # sum_k h[o + k] f[k]
        return corr[:, :OUT, :OUT] + self.prior

    def forward(self, hf: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(self.scores(hf).flatten(1), 1)
        return p @ self.grid

    def penalty(self) -> torch.Tensor:
        """Squared differences between neighbours: a smooth filter and prior generalise."""
        tv = lambda a: ((a[..., 1:, :] - a[..., :-1, :]) ** 2).sum() + ((a[..., 1:] - a[..., :-1]) ** 2).sum()  # noqa: E731
        return tv(self.filt) + tv(self.prior) + 1e-3 * (self.filt**2).sum()


def spectra(h: np.ndarray) -> torch.Tensor:
    return torch.fft.rfft2(torch.from_numpy(h.reshape(-1, CHANNELS, BINS, BINS) * SCALE), s=(FFT, FFT))


def fit(hf: torch.Tensor, t: np.ndarray, lam: float, iterations: int = ITERATIONS, batch: int = BATCH) -> Model:
    """Adam on minibatches (full batches were ~20x slower for the same error), cosine lr decay."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    m = Model()
    target = torch.from_numpy(t.astype(np.float32))
    opt = torch.optim.Adam(m.parameters(), lr=0.02)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iterations)
    for _ in range(iterations):
        b = torch.from_numpy(rng.choice(len(t), min(batch, len(t)), replace=False))
        opt.zero_grad()
        loss = ((m(hf[b]) - target[b]) ** 2).sum(1).mean() + lam * m.penalty()
        loss.backward()
        opt.step()
        sched.step()
    return m


def cross_validate(hf: torch.Tensor, t: np.ndarray, group: np.ndarray, lam: float) -> np.ndarray:
    """Each sample's error when its photo was not fitted on (``FOLDS`` folds by photo)."""
    err = np.zeros_like(t)
    for k in range(FOLDS):
        test = group % FOLDS == k
        m = fit(hf[~test], t[~test], lam)
        with torch.no_grad():
            err[test] = m(hf[test]).numpy() - t[test]
    return err


def rmse(err: np.ndarray) -> np.ndarray:
    return np.sqrt((err**2).mean(0))


def export(m: Model, out: Path, meta: dict) -> Path:
    """``histograms (N, CHANNELS, BINS, BINS) -> log_gains (N, 2)``: Conv, the prior, softmax, the grid's mean."""
    from onnx import TensorProto, helper, numpy_helper

    w = (m.filt.detach().numpy() * SCALE)[None].astype(np.float32)  # (1, CHANNELS, K, K): cross-correlation, as torch's
    nodes = [
        helper.make_node("Conv", ["histograms", "W"], ["s"]),
        helper.make_node("Add", ["s", "prior"], ["sp"]),
        helper.make_node("Reshape", ["sp", "flat"], ["sf"]),
        helper.make_node("Softmax", ["sf"], ["p"], axis=1),
        helper.make_node("MatMul", ["p", "grid"], ["log_gains"]),
    ]
    inits = [numpy_helper.from_array(w, "W"),
             numpy_helper.from_array(m.prior.detach().numpy().astype(np.float32)[None, None], "prior"),
             numpy_helper.from_array(np.array([-1, OUT * OUT], np.int64), "flat"),
             numpy_helper.from_array(grid(), "grid")]
    graph = helper.make_graph(
        nodes, "retouch-wb",
        [helper.make_tensor_value_info("histograms", TensorProto.FLOAT, ["N", CHANNELS, BINS, BINS])],
        [helper.make_tensor_value_info("log_gains", TensorProto.FLOAT, ["N", 2])], inits)
    return save_graph(graph, out, "retouch-wb", meta)


def samples(paths: list[Path], per_photo: int, seed: int,
            cache: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The training samples (:func:`featurize`), their offsets and photo index, cached in ``cache``."""
    key = {"photos": [p.name for p in paths], "per_photo": per_photo, "seed": seed, "histograms": HISTOGRAMS,
           "ranges": degrade.RANGES, "max_rgb_percentile": AUTO_WB_PERCENTILE, "decode": DECODE_VERSION}
    t0 = time.perf_counter()
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        if json.loads(str(z["key"])) == json.loads(json.dumps(key)):
            return z["x"], z["y"], z["group"], time.perf_counter() - t0
    print(f"histograms of {len(paths)} photos x {per_photo} degradations (synthetic DNG + the app's decode)")
    x, y, group = build(paths, per_photo, seed, featurize=featurize)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, x=x, y=y, group=group, key=json.dumps(key))
    return x, y, group, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.wb.train", description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=Path, default=Path("data/photos/inputs"),
                    help="folder of finished photos (default: the default set's inputs; `make data`)")
    ap.add_argument("-o", "--out", type=Path, default=DEFAULT_WB)
    ap.add_argument("--per-photo", type=int, default=16, help="degradations per photo")
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path("runs/wb/samples.npz"),
                    help="samples of a previous run with the same photos and settings are reused")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    paths = list_images(args.photos)
    if len(paths) < FOLDS:
        print(f"error: {args.photos}: need at least {FOLDS} photos, found {len(paths)}", file=sys.stderr)
        return 2
    x, y, group, build_s = samples(paths, args.per_photo, args.seed, args.cache)
    h, classical, t = x[:, :-2], x[:, -2:].astype(np.float64), y[:, 1:3]
    print(f"{len(x)} samples from {len(paths)} photos ({build_s:.0f} s)")
    fmt = lambda v: f"log green {v[0]:.3f}  log blue {v[1]:.3f}"  # noqa: E731
    print("  none (the spread):       ", fmt(rmse(t)))
    for share in (1.0, 0.7):
        print(f"  max-RGB at {share:g}:          ", fmt(rmse(share * classical - t)))
    hf = spectra(h)
    t1 = time.perf_counter()
    scores = {}
    for lam in LAMBDAS:
        scores[lam] = rmse(cross_validate(hf, t, group, lam))
        print(f"  lambda {lam:g}: cross-validated", fmt(scores[lam]), f"({time.perf_counter() - t1:.0f} s)", flush=True)
    lam = min(scores, key=lambda k: scores[k].sum())
    m = fit(hf, t, lam)
    meta = {"histograms": HISTOGRAMS, "out": OUT, "kernel": KERNEL, "lambda": lam, "samples": len(x),
            "photos": len(paths), "per_photo": args.per_photo, "seed": args.seed, "source": str(args.photos),
            "iterations": ITERATIONS, "batch": BATCH, "cv_rmse": scores[lam].round(4).tolist(),
            "spread": rmse(t).round(4).tolist(),
            "max_rgb_rmse": rmse(classical - t).round(4).tolist(), "fit_s": round(time.perf_counter() - t1, 1),
            "build_s": round(build_s, 1)}
    export(m, args.out, meta)
    print(f"lambda {lam:g} -> {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
