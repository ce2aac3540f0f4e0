"""Replay a recipe at any resolution: the exact path, the proxy, and the display transform.

``replay`` runs each enabled step's declared math in order (the reference, and what training
differentiates). ``render`` is what the app, the CLI and batch call: the recipe plus the output
transform (clip, sRGB encode), through the fast path of :mod:`engine.lut` when every step is
pointwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from PIL import Image

from .color import srgb_encode
from .filters.base import replay_stages, replay_steps
from .filters.white_balance import blown
from .recipe import Recipe

PROXY_SIZE = 64


def replay(recipe: Recipe, linear: Any) -> Any:
    """Apply every non-identity step's exact math to a decoded linear image (numpy or torch); a
    white balance leaves what is blown white in it alone (:func:`engine.filters.white_balance.blown`)."""
    return replay_steps(recipe.active(), linear, blown)


def step_inputs(recipe: Recipe, linear: Any, indices: Iterable[int]) -> dict[int, Any]:
    """The image entering each of ``recipe``'s steps at ``indices``, as :func:`replay` runs them
    (a bypassed step gets what the next one does); nothing past the last of them is computed."""
    wanted, steps = set(indices), recipe.active()
    active = {id(s) for s in steps}
    stages = replay_stages(steps, linear, blown)
    img, owed, out = next(stages), False, {}
    for i, s in enumerate(recipe.steps):
        if not wanted - out.keys():
            break
        if owed:
            img = next(stages)
        if i in wanted:
            out[i] = img
        owed = id(s) in active
    return out


def curve_steps(recipe: Recipe) -> list[int]:
    """The indices of ``recipe``'s curve steps: filters with a curve parameter (a shaped one)."""
    return [i for i, s in enumerate(recipe.steps) if any(p.shape for p in s.spec.params)]


#: Bins of a curve's histogram over its input axis, [0, 1] in linear light: 16 a zone of eight
CURVE_BINS = 128


#: Pixels a curve's histogram reads: 2.5-5 ms for a preview's four to six steps (``bench/preview.py``)
CURVE_PIXELS = 1 << 15


def curve_histograms(recipe: Recipe, linear: np.ndarray, *, pixels: int = CURVE_PIXELS,
                     bins: int = CURVE_BINS) -> dict[int, np.ndarray]:
    """For each curve step of ``recipe`` (a filter with a curve parameter), by its index: what its
    curve is given, each channel's values counted over the curve's axis, ``(3, bins)`` int64 (past
    white at white and below black at black, as the curve saturates them). As a curve editor
    draws behind its curve, so the photo's tones show against the zones. Every n-th pixel of
    ``linear`` is read, about ``pixels`` of them."""
    wanted = curve_steps(recipe)
    if not wanted:
        return {}
    h, w = linear.shape[:2]
    stride = max(1, math.ceil(math.sqrt(h * w / pixels)))
    out = {}
    for i, img in step_inputs(recipe, linear[::stride, ::stride], wanted).items():
        x = np.clip(np.nan_to_num(np.asarray(img, np.float32).reshape(-1, 3), nan=0.0), 0.0, 1.0)
        idx = np.minimum((x * bins).astype(np.int64), bins - 1)
        out[i] = np.stack([np.bincount(idx[:, c], minlength=bins) for c in range(3)])
    return out


def render_exact(recipe: Recipe, linear: np.ndarray) -> np.ndarray:
    """The naive, exact chain: one full-image array operation after another, then sRGB."""
    return srgb_encode(replay(recipe, linear)).astype(np.float32, copy=False)


def render(recipe: Recipe, linear: np.ndarray, *, exact: bool = False) -> np.ndarray:
    """Recipe + output transform -> display sRGB float32 in [0, 1], same shape as ``linear``.

    Fast path (:mod:`engine.lut`): up to 4 MP (previews) a 33³ cube, above (exports) 65³; within
    a few 8-bit levels of the exact math. ``exact=True`` runs the per-filter chain
    (:func:`render_exact`).
    """
    if exact or any(not s.spec.pointwise for s in recipe.active()):
        return render_exact(recipe, linear)
    from .lut import apply_recipe_lut  # numba JIT: imported on first render, not at app start

    return apply_recipe_lut(recipe, linear)


#: Rows rendered at a time by :func:`render_bits`: a multiple of the 8-bit dither tile's 64 rows,
#: so that the bands dither as the whole image would
BAND_ROWS = 512


def render_bits(recipe: Recipe, linear: np.ndarray, bits: int, *, exact: bool = False,
                sharpen: str = "none") -> np.ndarray:
    """:func:`render` straight to the integers a file stores (8 bits dithered, 16 bits rounded, as
    :func:`engine.io.image.to_bits`), a band of rows at a time, with the cube the whole image would
    get: the float render of a whole photo (12 bytes a pixel) is never held. Exports of a 199 MP
    panorama took 6.7 GB, 34 bytes a pixel.

    ``sharpen``: the output sharpening (:mod:`engine.sharpen`); each band is rendered with the
    rows its mask reaches beyond it, so the bands sharpen as the whole image would."""
    from .io.image import to_bits
    from .lut import apply_recipe_lut, size_for
    from .sharpen import MARGIN, amount_of
    from .sharpen import sharpen as sharpened

    h = linear.shape[0]
    out = np.empty(linear.shape, np.uint8 if bits == 8 else np.uint16)
    exact = exact or any(not s.spec.pointwise for s in recipe.active())
    size = size_for(linear)
    margin = MARGIN if amount_of(sharpen) else 0
    for y in range(0, h, BAND_ROWS):
        top, bottom = max(0, y - margin), min(h, y + BAND_ROWS + margin)
        band = linear[top:bottom]
        srgb = render_exact(recipe, band) if exact else apply_recipe_lut(recipe, band, size)
        srgb = sharpened(srgb, sharpen)[y - top:y - top + min(BAND_ROWS, h - y)]
        out[y:y + BAND_ROWS] = to_bits(srgb, bits)
    return out


def render_uint8(recipe: Recipe, linear: np.ndarray, *, exact: bool = False) -> np.ndarray:
    """:func:`render` straight to 8-bit display sRGB (H, W, 3) uint8, rounded: the fast path
    writes the bytes itself, so a preview needs no float -> uint8 pass of its own."""
    if exact or any(not s.spec.pointwise for s in recipe.active()):
        out = render_exact(recipe, linear) * 255.0 + 0.5
        return out.astype(np.uint8)
    from .lut import apply_recipe_lut

    return apply_recipe_lut(recipe, linear, out=np.empty(linear.shape, np.uint8))


def render_rgb32(recipe: Recipe, linear: np.ndarray, *, out: np.ndarray | None = None, histogram: bool = False,
                 cube_size: int | None = None, exact: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`render` as packed ``0xFFRRGGBB`` words, (H, W) uint32 (native-endian: the layout
    of Qt's ``QImage.Format_RGB32``, so a preview is shown without any conversion), plus,
    with ``histogram``, the (4, 256) int64 counts of R, G, B and Rec.709 luma over every 4th
    pixel of every 4th row.

    ``out``: a C-contiguous (H, W) uint32 array to fill (e.g. a view of a QImage's buffer).
    ``cube_size``: the 3-D table's lattice (default: :func:`engine.lut.size_for`); a smaller one
    bakes faster for drafts while a slider is held.
    """
    from .lut import apply_recipe_lut, count_histogram  # numba: imported on first render

    h, w = linear.shape[:2]
    if out is None:
        out = np.empty((h, w), np.uint32)
    hist = np.zeros((4, 256), np.int64) if histogram else None
    if exact or any(not s.spec.pointwise for s in recipe.active()):
        rgb8 = render_uint8(recipe, linear, exact=True).astype(np.uint32)
        out[...] = 0xFF000000 | (rgb8[..., 0] << 16) | (rgb8[..., 1] << 8) | rgb8[..., 2]
        if hist is not None:
            count_histogram(out, hist)
        return out, hist
    apply_recipe_lut(recipe, linear, cube_size, out, hist)
    return out, hist


def resize_linear(linear: np.ndarray, width: int, height: int,
                  box: tuple[float, float, float, float] | None = None, *, sharp: bool = False) -> np.ndarray:
    """Area-average resize of a float image (box filter, i.e. correct in linear light); ``box``
    (left, top, right, bottom, in pixels, fractions allowed): only that part of it.

    ``sharp``: Lanczos-3 instead, for files (what the preview and the agent's proxy need is speed
    and no overshoot). A box lets detail just past the new size's resolution through as moiré
    (0.6 of a pattern's contrast at 1.1x Nyquist, against 0.3) and softens what it keeps; Lanczos'
    dark lobes, below black in linear light, are cut at 0."""
    kind = Image.Resampling.LANCZOS if sharp else Image.Resampling.BOX
    chans = [
        np.asarray(Image.fromarray(np.ascontiguousarray(linear[..., c], dtype=np.float32), mode="F")
                   .resize((width, height), kind, box=box, reducing_gap=None))
        for c in range(linear.shape[-1])
    ]
    out = np.stack(chans, axis=-1)
    return np.maximum(out, 0, out=out) if sharp else out


def make_proxy(linear: np.ndarray, size: int = PROXY_SIZE) -> np.ndarray:
    """The agent's view: the **whole frame** squeezed to ``size`` x ``size`` by area averaging.

    The filters are global, so the agent needs the statistics of the whole photo, not its shape;
    the Exposure paper's centre crop would miss skies and foregrounds at the edges.
    """
    return resize_linear(linear, size, size)


def fit_long_edge(linear: np.ndarray, long_edge: int, *, sharp: bool = False) -> np.ndarray:
    """Downscale (never upscale) so the longer side is at most ``long_edge``; ``sharp`` as
    :func:`resize_linear`'s (exports)."""
    h, w = linear.shape[:2]
    scale = long_edge / max(h, w)
    if scale >= 1:
        return linear
    return resize_linear(linear, max(1, round(w * scale)), max(1, round(h * scale)), sharp=sharp)


def fit_long_edge_cutout(linear: np.ndarray, alpha: np.ndarray | None,
                         long_edge: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`fit_long_edge` (``sharp``, for files) of a photo and its transparency ``alpha``
    ((H, W) in [0, 1], or None: the photo alone). The colours are averaged weighted by their alpha,
    so that what is stored under the transparent pixels (black, white, a key colour) does not
    bleed into the cut-out's edges: unweighted, a 300 px export of a hard-edged cut-out stored over
    black had edges 48 levels too dark."""
    if long_edge is None:
        return linear, alpha
    if alpha is None:
        return fit_long_edge(linear, long_edge, sharp=True), None
    if long_edge / max(linear.shape[:2]) >= 1:
        return linear, alpha
    both = np.concatenate([linear * alpha[..., None], alpha[..., None]], axis=-1).astype(np.float32)
    small = fit_long_edge(both, long_edge, sharp=True)
    a = np.clip(small[..., 3], 0.0, 1.0)
    seen = a > 1.0 / 1024  # where less shows, the colour is invisible: black, as stored under it
    colour = np.where(seen[..., None], small[..., :3] / np.maximum(a, 1.0 / 1024)[..., None], 0.0)
    # the alpha itself area-averaged: Lanczos' lobes rang around a hard edge (a faint rim of 0.012
    # a pixel outside it, a dip to 0.989 inside), which shows over a light background
    shown = fit_long_edge(alpha[..., None], long_edge)[..., 0]
    # Lanczos' overshoot divided by a small alpha: held to the photo's own brightest value
    return np.minimum(colour, float(linear.max())).astype(np.float32), np.clip(shown, 0.0, 1.0).astype(np.float32)
