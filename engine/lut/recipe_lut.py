"""A recipe through the tables, end to end (:func:`apply_recipe_lut`: the tables, then the blown-white
pass), the cube size for an image, the kernels' warm-up and the caches' reset."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..recipe import Recipe, Step
from .apply import _LAST, _MID, apply_lut
from .bake import _CACHE, _CUBES, _MIDDLES, _PRES, _bake_middle, _bake_pre, _cached_bake, bake_lut
from .blown import _BLOWN, _CORNERS, CORNER, DRAFT_CORNER, _blown_pixels, _render_corner
from .cache import _CACHE_LOCK
from .kernels import _NO_B, _NO_F, _NO_P, HIST_STEP, MODES, _histogram
from .tables import DEFAULT_SIZE, LARGE_IMAGE, LARGE_SIZE, MID_MAX, Lut3D


def warm_up() -> None:
    """Load (or, on a fresh install, compile: ~30 s on 2 cores) every kernel and start the row
    helpers, at once: :func:`warm_up_stages` one after another."""
    for stage in warm_up_stages():
        stage()


def warm_up_stages() -> list[Callable[[], None]]:
    """The warm-up in stages of a few seconds each at most when compiled, the kernels an unedited
    photo needs first: the app runs one stage at a time, between the photo's own renders, so that a
    fresh install's first preview waits for what it needs (~7 s), not for every kernel (~30 s)."""
    img = np.full((2, 2, 3), 0.3, np.float32)
    img.setflags(write=False)  # as the app's preview levels: the third tail render takes the tail path
    hist = np.zeros((4, 256), np.int64)

    def apply(lut: Lut3D) -> Callable[[], None]:
        return lambda: apply_lut(lut, img, np.empty((2, 2), np.uint32), hist)

    def one_d() -> None:  # an unedited photo's and the per-channel steps' path
        apply(bake_lut(Recipe([Step("exposure", {"ev": 0.5})])))()

    def cubes() -> None:  # a mixing step (saturation, contrast, black & white), the tails
        for ev in (0.5, 0.6, 0.7):
            apply(bake_lut(Recipe([Step("black_white", {"amount": 0.5}), Step("exposure", {"ev": ev})]), 3))()

    def chain() -> None:
        steps = [Step("saturation", {"amount": 0.5}), Step("gamma", {"gamma": 0.7}), Step("contrast", {"amount": 0.3})]
        middle, _ = _bake_middle(steps, 3, [], top=MID_MAX, chain=True)  # compiles _apply_chain
        apply(Lut3D(_bake_pre([], 3, into_cube=True), middle[0], None, 3, *middle[1:]))()

    def blown() -> None:  # a blown white under a white balance: _corner_apply
        white = np.ones((2, 2, 3), np.float32)
        apply_recipe_lut(Recipe([Step("white_balance", {"green": 1.1, "blue": 0.9})]), white, 3,
                         np.empty((2, 2), np.uint32), hist)
        with _CACHE_LOCK:
            _MID.clear()
            _LAST.clear()

    return [one_d, cubes, chain, blown]


def clear_cache() -> None:
    """Forget every baked table (benchmarks time cold bakes with it)."""
    with _CACHE_LOCK:
        _CACHE.clear()
        _CUBES.clear()
        _MIDDLES.clear()
        _PRES.clear()
        _MID.clear()
        _LAST.clear()
        _CORNERS.clear()
        _BLOWN.clear()


def size_for(linear: np.ndarray) -> int:
    """Cube size for an image: 33³ bakes in a few ms (previews); above 4 MP the ~0.1 s bake of
    65³ is small next to the pass itself and halves the interpolation error (exports)."""
    return DEFAULT_SIZE if linear.shape[0] * linear.shape[1] <= LARGE_IMAGE else LARGE_SIZE


def apply_recipe_lut(recipe: Recipe, linear: np.ndarray, size: int | None = None,
                     out: np.ndarray | None = None, hist: np.ndarray | None = None) -> np.ndarray:
    """``render(recipe, linear)`` through the tables: display sRGB float32 (or ``out``, with
    ``hist``: see :func:`apply_lut`), same shape. The cube size follows the image
    (:func:`size_for`) unless ``size`` is given.

    The tables hold each white balance as it treats every other pixel; the pixels blown white in
    the file, which it leaves alone (:func:`engine.filters.white_balance.blown`), are then rendered
    again: a fade over a few hundredths of the range falls inside one cell of the cube, which
    smeared it (26 levels off at 33³ after a tungsten correction). They lie in a corner of the
    input, which a small table of its own holds finely (:func:`_render_corner`)."""
    size = size or size_for(linear)
    lut = _cached_bake(recipe, size)
    steps = recipe.active()
    fix = _blown_pixels(linear) if any(s.spec.uses_blown for s in steps) else None
    if fix is None or not fix.count:
        return apply_lut(lut, linear, out, hist)
    out = apply_lut(lut, linear, out)
    _render_corner(Recipe(steps), linear, fix, out, CORNER if size >= DEFAULT_SIZE else DRAFT_CORNER, size)
    if hist is not None:
        outs = [_NO_F, _NO_B, _NO_P]
        outs[MODES[out.dtype]] = out
        _histogram(MODES[out.dtype], *outs, HIST_STEP, hist)
    return out
