"""The preview's fast paths on the real photo: RGB32 words and the histogram written by the kernel,
the bit-indexed pre table, the tail cache, the draft cube, odd inputs and concurrent callers."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import engine.lut.apply as lut_apply  # apply_lut looks its kernels and the tail cache up here
from engine.lut import (
    IN_MAX,
    PRE_LO_EXP,
    apply_lut,
    apply_recipe_lut,
    bake_lut,
    clear_cache,
    count_histogram,
    pre_nodes,
)
from engine.recipe import Recipe, Step
from engine.render import render_exact, render_rgb32, render_uint8

TONE = [0.8, 1.1, 1.3, 1.2, 1.0, 0.9, 0.8, 0.9]
MIXED = Recipe([Step("exposure", {"ev": 0.6}), Step("white_balance", {"green": 1.0, "blue": 0.85}),
                Step("contrast", {"amount": 0.3}), Step("tone", {"slopes": TONE}),
                Step("black_white", {"amount": 0.25})])
STRONG_SATURATION = Recipe([Step("exposure", {"ev": 0.3}), Step("saturation", {"amount": 1.0}),
                            Step("contrast", {"amount": 0.3})])


def with_tail(ev: float) -> Recipe:
    """Auto-like steps, then an exposure step added at the end (the tail: after the last mixing step)."""
    return Recipe([Step("exposure", {"ev": 0.5}), Step("gamma", {"gamma": 0.85}), Step("saturation", {"amount": 0.35}),
                   Step("tone", {"slopes": TONE}), Step("contrast", {"amount": 0.25}), Step("exposure", {"ev": ev})])


def unpack(words: np.ndarray) -> np.ndarray:
    return np.stack([(words >> 16) & 255, (words >> 8) & 255, words & 255], axis=-1).astype(np.uint8)


def numpy_histogram(rgb8: np.ndarray) -> np.ndarray:
    """The app's former numpy histogram: every 4th pixel of every 4th row, Rec.709 luma in 1/256."""
    sub = rgb8[::4, ::4].reshape(-1, 3)
    r, g, b = (sub[:, c].astype(np.uint16) for c in range(3))
    lum = ((r * 54 + g * 183 + b * 19) >> 8).astype(np.uint8)
    return np.stack([np.bincount(sub[:, c], minlength=256) for c in range(3)] + [np.bincount(lum, minlength=256)])


def errors_8bit(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    e = np.abs(a.astype(np.float64) - b.astype(np.float64)) * 255
    return float(e.max()), float(np.quantile(e, 0.999))


@pytest.mark.parametrize("recipe", [Recipe([Step("exposure", {"ev": 0.4}), Step("tone", {"slopes": TONE})]),
                                    MIXED, with_tail(0.3)], ids=["1d", "cube", "cube+post"])
def test_rgb32_words_and_histogram_match_the_uint8_render(photo_linear: np.ndarray, recipe: Recipe) -> None:
    rgb8 = render_uint8(recipe, photo_linear)
    words, hist = render_rgb32(recipe, photo_linear, histogram=True)
    assert words.dtype == np.uint32 and words.shape == photo_linear.shape[:2]
    assert np.all(words >> 24 == 0xFF)  # opaque: what QImage.Format_RGB32 expects
    np.testing.assert_array_equal(unpack(words), rgb8)
    np.testing.assert_array_equal(hist, numpy_histogram(rgb8))
    assert hist[3].sum() == len(range(0, rgb8.shape[0], 4)) * len(range(0, rgb8.shape[1], 4))
    np.testing.assert_array_equal(count_histogram(rgb8, np.zeros((4, 256), np.int64)), hist)
    # the exact path gives the same words layout
    exact_words, _ = render_rgb32(recipe, photo_linear, exact=True)
    assert np.abs(unpack(exact_words).astype(int) - rgb8).max() <= 4


def test_pre_table_nodes_are_the_float_bit_lattice() -> None:
    nodes = pre_nodes().astype(np.float64)
    assert nodes[0] == 2.0**PRE_LO_EXP and IN_MAX in nodes and 1.0 in nodes
    assert np.all(np.diff(nodes) > 0)
    octave = nodes[(nodes >= 0.5) & (nodes <= 1.0)]
    assert len(octave) == 1025 and np.allclose(np.diff(octave), 0.5 / 1024)  # 1024 nodes per octave


def test_odd_inputs_read_as_the_ends_of_the_range() -> None:
    """Negative zero, negatives and tiny values read as black, inf and NaN as IN_MAX: found from
    the float's bits, without a branch."""
    x = np.array([[[0.0, -0.0, -3.0], [np.inf, np.nan, 1e-30], [IN_MAX, 2 * IN_MAX, 0.5]]], np.float32)
    per_channel = Recipe([Step("exposure", {"ev": -1.0})])
    out = apply_lut(bake_lut(per_channel), x)
    black = apply_lut(bake_lut(per_channel), np.zeros((1, 1, 3), np.float32))[0, 0, 0]
    top = apply_lut(bake_lut(per_channel), np.full((1, 1, 3), IN_MAX, np.float32))[0, 0, 0]
    np.testing.assert_allclose(out[0, 0], black, atol=1e-4)
    np.testing.assert_allclose(out[0, 1], [top, top, black], atol=1e-4)
    np.testing.assert_allclose(out[0, 2, :2], top, atol=1e-4)  # above IN_MAX clamps to it
    assert top > 0.99 and black < 1e-4  # exposure -1 EV: IN_MAX = 4 still clips, black stays black
    mixed = apply_lut(bake_lut(MIXED), x)
    assert np.all(np.isfinite(mixed)) and mixed.min() >= 0 and mixed.max() <= 1
    np.testing.assert_allclose(mixed[0, 0], apply_lut(bake_lut(MIXED), np.zeros((1, 1, 3), np.float32))[0, 0],
                               atol=1e-4)


def test_tail_cache_reuses_the_cube_output_and_never_goes_stale(photo_linear: np.ndarray, monkeypatch) -> None:
    clear_cache()
    frozen = photo_linear.copy()
    frozen.setflags(write=False)
    calls = {"full": 0, "tail": 0}
    full, tail = lut_apply._apply, lut_apply._apply_tail

    def count(name, fn):
        def wrapped(*args):
            calls[name] += args[0].shape[:2] == frozen.shape[:2]  # the photo's, not a bake's probe colours
            return fn(*args)
        return wrapped

    monkeypatch.setattr(lut_apply, "_apply", count("full", full))
    monkeypatch.setattr(lut_apply, "_apply_tail", count("tail", tail))
    words = np.empty(frozen.shape[:2], np.uint32)
    for i, ev in enumerate((0.1, 0.2, 0.3, 0.4)):  # a tail slider moving: the 3rd render on is post-only
        calls.update(full=0, tail=0)
        apply_recipe_lut(with_tail(ev), frozen, 33, words)
        assert (calls["tail"] > 0) == (i >= 2) and (calls["full"] > 0) == (i < 2)
        reference = render_uint8(with_tail(ev), photo_linear.copy())  # writable: computed in full
        assert np.abs(unpack(words).astype(int) - reference).max() <= 1
    calls.update(full=0, tail=0)
    moved_head = with_tail(0.4)
    moved_head.steps[0].params["ev"] = 0.9  # a step before the cube: everything is recomputed
    apply_recipe_lut(moved_head, frozen, 33, words)
    assert calls["tail"] == 0 and calls["full"] > 0
    np.testing.assert_array_equal(unpack(words), render_uint8(moved_head, photo_linear.copy()))
    # a writable image is never cached: changing its pixels in place changes the render
    img = photo_linear.copy()
    for _ in range(3):
        apply_recipe_lut(with_tail(0.4), img, 33, words)
    img *= 0.25
    apply_recipe_lut(with_tail(0.4), img, 33, words)
    np.testing.assert_array_equal(unpack(words), render_uint8(with_tail(0.4), img))


# Measured on this photo: MIXED 2.79 / 2.55 levels at 17³ (2.10 / 1.75 at 33³),
# STRONG_SATURATION 5.96 / 3.02 (4.75 / 2.05 at 33³).
@pytest.mark.parametrize(("recipe", "max_err", "p999_err"), [(MIXED, 3.25, 3.0), (STRONG_SATURATION, 6.5, 3.5)],
                         ids=["mixed", "strong-saturation"])
def test_draft_cube_while_a_slider_is_held(photo_linear: np.ndarray, recipe: Recipe, max_err: float,
                                           p999_err: float) -> None:
    """The app renders drafts with a 17³ cube (baked ~7x faster); they stay within a few levels."""
    lut = bake_lut(recipe, 17)
    assert lut.cube.shape == (17, 17, 17, 3) and lut.packed.shape == (17**3,)
    mx, p999 = errors_8bit(apply_lut(lut, photo_linear), render_exact(recipe, photo_linear))
    assert mx <= max_err and p999 <= p999_err, (mx, p999)


def test_concurrent_renders_agree_with_a_lone_render(photo_linear: np.ndarray) -> None:
    """The row pool serves one render at a time; others run alone in their own thread."""
    big = np.ascontiguousarray(np.tile(photo_linear, (3, 2, 1)))  # enough rows for several blocks
    expected = render_uint8(with_tail(0.2), big)
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(render_uint8(with_tail(0.2), big))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and all(np.array_equal(r, expected) for r in results)


def test_kernel_errors_reach_the_caller(photo_linear: np.ndarray, monkeypatch) -> None:
    def broken(*args):
        raise RuntimeError("kernel failed")

    monkeypatch.setattr(lut_apply, "_apply", broken)
    with pytest.raises(RuntimeError, match="kernel failed"):
        apply_lut(bake_lut(MIXED), np.ascontiguousarray(np.tile(photo_linear, (2, 1, 1))))


def test_tail_cache_does_not_keep_a_photo_alive(photo_linear: np.ndarray) -> None:
    import gc
    import weakref

    img = photo_linear.copy()
    img.setflags(write=False)
    for ev in (0.1, 0.2, 0.3):
        apply_recipe_lut(with_tail(ev), img, 33, np.empty(img.shape[:2], np.uint32))
    assert lut_apply._MID and lut_apply._MID[0][0]() is img  # cached ...
    gone = weakref.ref(img)
    del img
    gc.collect()
    assert gone() is None  # ... but only weakly: closing the photo frees its pixels


def test_the_compiled_kernels_bake_in_no_other_module_s_constants():
    """numba's on-disk cache is checked against the kernel's own source file: a constant it took
    from tables.py, changed there, kept the old value in the cached kernels, and every render was
    wrong (0.96 of white) until the cache was removed by hand."""
    import ast
    import inspect

    from engine.lut import kernels

    tree = ast.parse(inspect.getsource(kernels))
    local = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.level > 0]
    assert not local, [ast.unparse(n) for n in local]
