"""The learned meter: a photo's exposure and contrast offsets from 24 simple statistics.

A camera's meter guesses one number from a fixed rule. This one is a linear model over
statistics of the decoded photo (log-luminance percentiles, the brightest channel's
percentiles, the clipped share, the spread of chromaticity and saturation), fitted by ridge
regression to thousands of photos "unedited" by the project's inverse rendering, whose true
offsets are known (``models/meter``). It predicts, in the engine's own terms:

* ``ev``: the exposure (EV) that undoes the camera's, as the ``exposure`` filter takes it;
* ``log_contrast``: the log of the contrast change around mid grey that the photo has
  against a finished rendering (0 = none; > 0 = harsher);
* and, unused by Auto, the white balance (``log_green``, ``log_blue``) and ``log_saturation``.

The model ships as ``resources/models/meter.onnx`` (a 24 -> 5 affine map with the feature
standardisation folded in); :func:`features` is the one definition of its inputs, used by the
trainer and here.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..filters.base import LUMA as FILTER_LUMA
from . import RESOURCES

DEFAULT_METER = RESOURCES / "meter.onnx"

LUMA = np.asarray(FILTER_LUMA, np.float32)  # the paper's luminance, as the filters use
LUM_PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 98, 99, 99.5, 99.9)
TOP_PERCENTILES = (50, 90, 99, 99.9)
CLIP_LEVEL = 0.98
FEATURES = (
    *(f"log2 luminance p{p}" for p in LUM_PERCENTILES),
    *(f"log2 brightest channel p{p}" for p in TOP_PERCENTILES),
    "mean log2 luminance", "clipped share", "sqrt clipped share",
    "std log(R/G)", "std log(B/G)", "mean saturation", "saturation p90", "corr(log R/G, log B/G)",
)
OUTPUTS = ("ev", "log_green", "log_blue", "log_contrast", "log_saturation")
MIN_PIXELS = 16  # fewer say nothing about a photo (a thumbnail of a few pixels): no meter reading
MAX_SIDE = 128  # features read at most ~128 rows: statistics, not detail (~4x faster than 256)


def ranks(values: np.ndarray, percentiles: tuple[float, ...]) -> np.ndarray:
    """Nearest-rank percentiles by one partition (several times faster than np.percentile)."""
    k = np.round(np.asarray(percentiles) / 100 * (len(values) - 1)).astype(int)
    return np.partition(values, k)[k]


def features(sample: np.ndarray) -> np.ndarray:
    """The meter's inputs (``FEATURES``, float32) for a linear photo or its sample ``(H, W, 3)``."""
    img = np.asarray(sample, np.float32)
    stride = max(1, min(img.shape[:2]) // MAX_SIDE)
    x = np.ascontiguousarray(img[::stride, ::stride]).reshape(-1, 3)  # one compact copy: ~2x faster below
    if len(x) < MIN_PIXELS:
        raise ValueError(f"too few pixels to meter ({len(x)})")
    lum = np.maximum(x @ LUMA, np.float32(1e-5))
    top = np.maximum(np.maximum(x[:, 0], x[:, 1]), x[:, 2])
    clip = float(np.mean(top >= CLIP_LEVEL))
    # log2 is monotonic: the percentiles of log2(lum) are log2 of lum's (12 logs instead of all)
    f = [*np.log2(ranks(lum, LUM_PERCENTILES)), *np.log2(np.maximum(ranks(top, TOP_PERCENTILES), 1e-5)),
         float(np.log2(lum).mean()), clip, clip ** 0.5]
    ok = (top > 0.01) & (top < 0.95)  # well exposed: colour is measurable
    xo = np.maximum(np.compress(ok, x, axis=0) if ok.sum() >= 16 else x, np.float32(1e-5))
    top_o = np.maximum(np.maximum(xo[:, 0], xo[:, 1]), xo[:, 2])
    low_o = np.minimum(np.minimum(xo[:, 0], xo[:, 1]), xo[:, 2])
    u, v = np.log(xo[:, 0] / xo[:, 1]), np.log(xo[:, 2] / xo[:, 1])
    s = (top_o - low_o) / top_o
    su, sv = float(u.std()), float(v.std())
    corr = float(np.mean((u - u.mean()) * (v - v.mean())) / (su * sv)) if su > 1e-6 and sv > 1e-6 else 0.0
    f += [su, sv, float(s.mean()), float(ranks(s, (90,))[0]), corr]
    return np.asarray(f, np.float32)


class Meter:
    """The shipped (or a given) meter model."""

    def __init__(self, path: str | Path = DEFAULT_METER):
        from .onnx import session  # onnxruntime loads here, not on import

        self.path = Path(path)
        self.session, _ = session(self.path, prefer_gpu=False, threads=1)  # 24x5: CPU beats a transfer
        meta = self.session.get_modelmeta().custom_metadata_map.get("retouch-meter")
        self.meta: dict = json.loads(meta) if meta else {}
        if tuple(self.meta.get("features", ())) != FEATURES or tuple(self.meta.get("outputs", ())) != OUTPUTS:
            raise ValueError(f"{self.path.name}: not a meter for this Retouch's features")

    def predict(self, sample: np.ndarray) -> dict[str, float] | None:
        """The meter's ``OUTPUTS`` for one photo (linear, as decoded); None for a photo of fewer than
        ``MIN_PIXELS`` pixels (a thumbnail of a few pixels says nothing about exposure)."""
        if sample.shape[0] * sample.shape[1] < MIN_PIXELS:
            return None
        out = self.session.run(None, {"features": features(sample)[None]})[0][0]
        return {k: float(v) for k, v in zip(OUTPUTS, out)}


@lru_cache(maxsize=4)
def load(path: str | Path = DEFAULT_METER) -> Meter | None:
    """The meter at ``path`` (shared), or None when it is not installed."""
    return Meter(path) if Path(path).exists() else None
