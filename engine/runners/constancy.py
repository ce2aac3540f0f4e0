"""Learned colour constancy: the white balance that undoes a photo's colour cast.

Convolutional colour constancy (Barron, ICCV 2015; FFCC, CVPR 2017). A diagonal cast (each
channel scaled) shifts every pixel's log-chroma ``(log R/G, log R/B)`` by the same amount, so the
2D histogram of the log-chroma shifts by the cast, without changing shape. The model scores each
candidate correction on a grid by correlating the histogram with a learned filter (plus a learned
prior over corrections), takes the softmax over the grid and returns its mean: shift the photo's
cast and the answer shifts with it, which is what lets a few thousand training photos suffice.
Three histograms are read: as in the paper, the pixels', and that of their local deviation from a
3x3 mean (edges, whose colour is the light's more often than the surfaces' are); and that of the
brightest pixels, where max-RGB looks for the white.

The answer is in the white balance filter's own terms, its ``green`` and ``blue`` gains relative
to red, as log gains (the exact gains that restore a degraded photo's hue in training; see
``models/wb``). The model ships as ``resources/models/wb.onnx``: a ``Conv`` over the
histograms, the prior, a softmax and the grid's mean. :func:`histograms` is the one definition
of its input, used by the trainer and here.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import RESOURCES

DEFAULT_WB = RESOURCES / "wb.onnx"

BIN = 1 / 16  # histogram and grid step, in log units (about 6.4 % of a gain)
OUT = 25  # candidate corrections per axis: -0.75 .. +0.75 (the filter allows +-0.5)
KERNEL = 33  # the filter reads the histogram +-1.0 around each candidate
BINS = OUT + KERNEL - 1  # 57: the histogram spans +-1.75
MAX_SIDE = 128  # the histograms read ~128+ rows: statistics, not detail
CLIP = 0.95  # pixels this close to the brightest are left out: clipped highlights are white whatever the light
DARK = 2e-3  # darker pixels are mostly noise in their chroma
MIN_PIXELS = 64
BRIGHT = 0.97  # the third histogram: the brightest 3 % of the usable pixels (max-RGB's white)
CHANNELS = 3
#: Everything that shapes the histograms: a trainer's cache and a model are only valid for these.
HISTOGRAMS = {"bin": BIN, "bins": BINS, "channels": CHANNELS, "max_side": MAX_SIDE, "clip": CLIP, "dark": DARK,
              "bright": BRIGHT, "min_pixels": MIN_PIXELS}


def grid() -> np.ndarray:
    """The candidate corrections ``(OUT * OUT, 2)``: (log green gain, log blue gain), row-major."""
    c = (np.arange(OUT) - (OUT - 1) / 2) * BIN
    g, b = np.meshgrid(c, c, indexing="ij")
    return np.stack([g.ravel(), b.ravel()], 1).astype(np.float32)


def _bins(x: np.ndarray) -> np.ndarray:
    """Each pixel's flat histogram bin ``(N,)`` for pixels ``(N, 3)``, or -1 outside the histogram."""
    lg = np.log(np.maximum(np.ascontiguousarray(x.T), np.float32(1e-6)))  # planar: ~2x faster below
    half = np.float32((BINS - 1) / 2)
    i = np.rint((lg[0] - lg[1]) * np.float32(1 / BIN) + half)
    j = np.rint((lg[0] - lg[2]) * np.float32(1 / BIN) + half)
    inside = (i >= 0) & (i < BINS) & (j >= 0) & (j < BINS)
    return np.where(inside, i * BINS + j, -1).astype(np.int32)


def _hist(bins: np.ndarray, total: int) -> np.ndarray:
    """The histogram of ``bins`` over ``total`` pixels (those outside it count in the total)."""
    h = np.bincount(bins[bins >= 0], minlength=BINS * BINS).astype(np.float32)
    return h.reshape(BINS, BINS) / max(total, 1)


def histograms(sample: np.ndarray) -> np.ndarray | None:
    """The model's input ``(CHANNELS, BINS, BINS)`` float32 for a linear photo or its sample
    ``(H, W, 3)``: the log-chroma histograms of the pixels, of their deviation from a 3x3 mean, and
    of the brightest of them, each summing to at most 1; None when fewer than ``MIN_PIXELS`` pixels
    are usable (a black or blown frame)."""
    img = np.asarray(sample, np.float32)
    stride = max(1, min(img.shape[:2]) // MAX_SIDE)
    img = np.ascontiguousarray(img[::stride, ::stride])
    if img.shape[0] < 3 or img.shape[1] < 3:
        return None
    top = np.maximum(np.maximum(img[..., 0], img[..., 1]), img[..., 2])
    ok = (top < CLIP * float(top.max())) & (np.minimum(np.minimum(img[..., 0], img[..., 1]), img[..., 2]) > DARK)
    n = int(ok.sum())
    if n < MIN_PIXELS:
        return None
    pad = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    mean = sum(pad[dy : dy + img.shape[0], dx : dx + img.shape[1]] for dy in range(3) for dx in range(3)) / 9
    edge = np.abs(img - mean)
    ok_e = (ok & (np.minimum(np.minimum(edge[..., 0], edge[..., 1]), edge[..., 2]) > DARK * 0.1)).ravel()
    ok = ok.ravel()
    pix = _bins(np.compress(ok, img.reshape(-1, 3), axis=0))  # only the usable pixels: ~2x faster
    top_ok = np.compress(ok, top.ravel())
    k = int(BRIGHT * (n - 1))
    bright = top_ok >= np.partition(top_ok, k)[k]
    return np.stack([_hist(pix, n), _hist(_bins(np.compress(ok_e, edge.reshape(-1, 3), axis=0)), int(ok_e.sum())),
                     _hist(pix[bright], int(bright.sum()))])


class ColourConstancy:
    """The shipped (or a given) colour constancy model."""

    def __init__(self, path: str | Path = DEFAULT_WB):
        from .onnx import session  # onnxruntime loads here, not on import

        self.path = Path(path)
        self.session, _ = session(self.path, prefer_gpu=False, threads=1)  # one small conv: CPU beats a transfer
        meta = self.session.get_modelmeta().custom_metadata_map.get("retouch-wb")
        self.meta: dict = json.loads(meta) if meta else {}
        if self.meta.get("histograms") != HISTOGRAMS or self.meta.get("out") != OUT:
            raise ValueError(f"{self.path.name}: not a colour constancy model for this Retouch's histograms")

    def predict(self, sample: np.ndarray) -> tuple[float, float] | None:
        """The log gains (green, blue; relative to red) that remove the cast of a linear photo, as
        decoded; None when the photo has too few usable pixels."""
        h = histograms(sample)
        if h is None:
            return None
        g, b = self.session.run(None, {"histograms": h[None]})[0][0]
        return float(g), float(b)


def load(path: str | Path = DEFAULT_WB) -> ColourConstancy | None:
    """The model at ``path`` (one shared session per file), or None when it is not installed."""
    return _load(Path(path).resolve())


@lru_cache(maxsize=4)
def _load(path: Path) -> ColourConstancy | None:
    return ColourConstancy(path) if path.exists() else None
