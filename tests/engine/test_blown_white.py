"""White balance v3: what the file holds as blown white stays neutral; everything else is balanced
as before. On a real photo written as an overexposed DNG (its sky and sand clip like a sensor's):
its decode rebuilds what every channel clipped as a neutral grey past white."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.color import srgb_decode, srgb_encode
from engine.filters import LUMA, REGISTRY
from engine.filters.white_balance import BLOWN_AT, BLOWN_FROM, COLOURED, NEUTRAL, NOT_BLOWN_PAST
from engine.filters.white_balance import blown as blown_weight
from engine.io import load_photo
from engine.io.dng import write_dng
from engine.lut import count_histogram, cube_table
from engine.recipe import Recipe, Step
from engine.render import render, render_rgb32, render_uint8, replay

#: A darkening exposure, then a strong cooling balance (a tungsten correction), then a look that
#: mixes channels (the fast path's cube)
COOL = [Step("exposure", {"ev": -0.5}), Step("white_balance", {"green": 1.33, "blue": 2.8}),
        Step("saturation", {"amount": 0.2})]


@pytest.fixture(scope="module")
def blown(media_dir: Path, photo_srgb8: np.ndarray) -> np.ndarray:
    """The real photo shot 1.5 EV over, decoded by the app's RAW path."""
    path = write_dng(media_dir / "dune_over.dng", photo_srgb8, exposure=1.5, seed=3)
    return load_photo(path).linear


def _unprotected(steps: list[Step], linear: np.ndarray) -> np.ndarray:
    """The chain as version 2 ran it: every pixel balanced (no blown weight passed)."""
    out = linear
    for s in steps:
        out = s.spec.apply(out, **s.params)
    return np.asarray(out)


def _spread(display: np.ndarray) -> np.ndarray:
    """Each pixel's largest difference between channels, in 8-bit levels."""
    return (display.max(axis=-1) - display.min(axis=-1)) * 255


def _at_white(decoded: np.ndarray) -> np.ndarray:
    """The pixels left fully alone: at the file's white, or neutral past it."""
    return np.asarray(blown_weight(decoded))[..., 0] >= 1.0


def test_a_blown_white_stays_neutral_after_a_strong_balance(blown: np.ndarray) -> None:
    at_white = _at_white(blown)
    assert at_white.mean() > 0.02, "the overexposed photo should clip somewhere"
    assert (blown.min(axis=-1)[at_white] > 1.02).mean() > 0.5, "most of it rebuilt past white"
    before = srgb_encode(np.clip(_unprotected(COOL, blown), 0, 1))
    assert np.median(_spread(before)[at_white]) > 40  # v2: a cyan cast on what was white
    for exact in (True, False):  # the reference chain and the app's fast path (cube)
        got = render(Recipe(COOL), blown, exact=exact)
        assert np.percentile(_spread(got)[at_white], 99) <= 2.0, exact


def test_only_what_nears_the_files_white_changes(blown: np.ndarray) -> None:
    low = blown.min(axis=-1)
    want = _unprotected(COOL, blown)
    got = np.asarray(replay(Recipe(COOL), blown))
    below = low < BLOWN_FROM  # includes partly clipped pixels: one channel at white, one below
    partly = below & (blown.max(axis=-1) >= BLOWN_AT)
    assert partly.sum() > 100
    np.testing.assert_allclose(got[below], want[below], atol=1e-6)
    assert np.abs(got - want)[low >= BLOWN_AT].max() > 0.1


def test_brightness_rises_smoothly_into_the_blown_white() -> None:
    """A grey ramp through the file's white: the balance fades out, the luminance keeps rising."""
    ramp = np.linspace(0.8, 1.0, 401, dtype=np.float32)
    grey = np.repeat(ramp[None, :, None], 3, axis=-1)
    out = np.asarray(replay(Recipe(COOL[:2]), grey))[0]
    lum = out @ np.asarray(LUMA, np.float32)
    assert np.all(np.diff(lum) > 0)
    np.testing.assert_allclose(lum, ramp * 2 ** -0.5, rtol=1e-4)  # a balanced grey keeps its luminance
    assert np.ptp(out[-1]) < 1e-6 and np.ptp(out[0]) > 0.3  # white neutral, below the fade balanced


def test_the_fast_path_renders_near_white_as_the_exact_math(blown: np.ndarray) -> None:
    """Every output the app writes (float, 8-bit, Qt's words and their histogram) from a read-only
    preview image, re-rendered as a slider moves, and from a writable one. The tables alone were
    26 levels off there after this balance (the fade falls inside one cell of the cube)."""
    near = blown.min(axis=-1) > BLOWN_FROM
    frozen = blown.copy()
    frozen.flags.writeable = False
    for ev in (-1.0, -0.5, 0.0):
        recipe = Recipe([Step("exposure", {"ev": ev}), *COOL[1:]])
        exact = render(recipe, blown, exact=True)
        for img in (blown, frozen, frozen):  # interpolated on a fine table of that corner
            assert np.abs(render(recipe, img) - exact)[near].max() * 255 <= 1.5, ev
        want8 = render_uint8(recipe, blown, exact=True).astype(int)
        assert np.abs(render_uint8(recipe, frozen)[near] - want8[near]).max() <= 2
        words, hist = render_rgb32(recipe, frozen, histogram=True)
        got8 = np.stack([(words >> 16) & 255, (words >> 8) & 255, words & 255], axis=-1).astype(int)
        assert np.abs(got8[near] - want8[near]).max() <= 2
        assert np.array_equal(hist, count_histogram(words, np.zeros((4, 256), np.int64)))


def test_every_balance_in_a_chain_leaves_the_white_alone(blown: np.ndarray) -> None:
    """Two balances with a tone step between them."""
    steps = [COOL[1], Step("tone", {"slopes": [1.2, 1.1, 1.0, 1.0, 0.9, 0.9, 1.0, 1.1]}),
             Step("white_balance", {"green": 0.7, "blue": 0.5})]
    got = render(Recipe(steps), blown)
    assert np.percentile(_spread(got)[_at_white(blown)], 99) <= 2.0


def test_a_version_2_3_or_4_step_migrates_with_its_gains() -> None:
    spec = REGISTRY["white_balance"]
    assert spec.version == 5  # v5 widened the green gain's range, for the card's Temp and Tint
    for old in (2, 3, 4):
        assert spec.migrate({"green": 1.2, "blue": 3.5}, old) == {"green": 1.2, "blue": 3.5}
    assert spec.trained_version == 1  # training passes no weight: models keep depending on v1's math


def test_light_past_white_in_a_float_file_is_balanced(blown: np.ndarray) -> None:
    """A float file holds light past white, which nothing clipped: a bright lamp is balanced, and
    so is any colour past white. Only a neutral grey past white is taken for a rebuilt clip."""
    tint = np.array([4.0, 3.7, 3.4], np.float32)  # the top half as a warm float HDR render
    hdr = np.concatenate([blown[:200] * tint, blown[200:]])
    lamp = np.array([[[4.0, 3.0, 1.43]]], np.float32)
    steps = [Step("exposure", {"ev": -2.0}), COOL[1]]
    assert np.ptp(render(Recipe(steps), lamp, exact=True)) < 0.01  # neutral, as version 2 made it
    high, low = hdr.max(axis=-1), hdr.min(axis=-1)
    past = (high >= NOT_BLOWN_PAST) & (high - low >= COLOURED * high)
    assert past.mean() > 0.1
    grey = (low >= NOT_BLOWN_PAST) & (high - low <= NEUTRAL * high)  # the few the tint made grey
    assert 0 < grey.sum() and np.percentile(_spread(render(Recipe(COOL), hdr))[grey], 99) <= 2.0
    want = _unprotected(COOL, hdr)
    np.testing.assert_allclose(np.asarray(replay(Recipe(COOL), hdr))[past], want[past], atol=1e-6)
    fast, exact = render(Recipe(COOL), hdr), render(Recipe(COOL), hdr, exact=True)
    assert np.abs(fast - exact)[hdr.min(axis=-1) > BLOWN_FROM].max() * 255 <= 1.5


def test_a_draft_renders_the_blown_corner_from_a_coarser_table(blown: np.ndarray) -> None:
    near = blown.min(axis=-1) > BLOWN_FROM
    want = render_uint8(Recipe(COOL), blown, exact=True).astype(int)
    words, _ = render_rgb32(Recipe(COOL), blown, cube_size=17)
    got = np.stack([(words >> 16) & 255, (words >> 8) & 255, words & 255], axis=-1).astype(int)
    assert 0 < np.abs(got[near] - want[near]).max() <= 4


def test_a_cube_file_bakes_the_balance_without_the_fade() -> None:
    """A .cube table cannot hold a fade narrower than its cells (34 levels off near white): it
    bakes the balance as every other pixel gets it, and says so."""
    table = cube_table(Recipe(COOL), 17)
    axis = np.linspace(0.0, 1.0, 17)
    grid = srgb_decode(np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)).astype(np.float32)
    np.testing.assert_allclose(table, srgb_encode(np.clip(_unprotected(COOL, grid), 0, 1)), atol=1e-5)
