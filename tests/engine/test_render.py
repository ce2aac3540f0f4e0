"""Replay at any resolution: downscale(render(full)) ≈ render(downscale(full))."""

from __future__ import annotations

import numpy as np
import pytest

from engine.color import srgb_decode, srgb_encode
from engine.recipe import Recipe, Step
from engine.render import fit_long_edge, make_proxy, render, render_exact, replay, resize_linear

RECIPE = Recipe([Step("exposure", {"ev": 0.5}), Step("gamma", {"gamma": 0.9}), Step("saturation", {"amount": 0.3}),
                 Step("tone", {"slopes": [0.8, 1.1, 1.3, 1.2, 1.0, 0.9, 0.8, 0.9]}), Step("contrast", {"amount": 0.2})])


@pytest.mark.parametrize("exact", [False, True], ids=["lut", "exact"])
def test_resolution_independence(photo_linear: np.ndarray, exact: bool) -> None:
    h, w = photo_linear.shape[:2]
    small = resize_linear(photo_linear, w // 4, h // 4)
    # compare in linear light: averaging display values would differ by the sRGB curve alone
    a = resize_linear(srgb_decode(render(RECIPE, photo_linear, exact=exact)), w // 4, h // 4)
    b = srgb_decode(render(RECIPE, small, exact=exact))
    diff = np.abs(srgb_encode(a) - srgb_encode(b)) * 255
    assert np.median(diff) < 1.0 and np.quantile(diff, 0.99) < 8.0, (np.median(diff), np.quantile(diff, 0.99))
    # and the edit is real: the rendered photo differs from the unedited one far more than that
    assert np.median(np.abs(srgb_encode(b) - srgb_encode(small)) * 255) > 5


@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 5, 3), (17, 1, 3), (400, 1, 3)])
def test_any_shape(photo_linear: np.ndarray, shape: tuple[int, int, int]) -> None:
    img = np.ascontiguousarray(photo_linear[: shape[0], : shape[1]])
    out = render(RECIPE, img)
    assert out.shape == img.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, render_exact(RECIPE, img), atol=12 / 255)


def test_render_output_is_display_srgb(photo_linear: np.ndarray) -> None:
    out = render(RECIPE, photo_linear)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    np.testing.assert_allclose(out, srgb_encode(np.clip(replay(RECIPE, photo_linear), 0, 1)), atol=12 / 255)


def test_proxy_and_fit_long_edge(photo_linear: np.ndarray) -> None:
    proxy = make_proxy(photo_linear)
    assert proxy.shape == (64, 64, 3)
    assert proxy.mean() == pytest.approx(photo_linear.mean(), rel=0.02)  # area average keeps the mean
    fitted = fit_long_edge(photo_linear, 320)
    assert fitted.shape == (200, 320, 3)
    assert fit_long_edge(photo_linear, 4000) is photo_linear


def test_an_export_downscale_keeps_fine_detail_from_turning_into_moire(photo_linear: np.ndarray) -> None:
    """Exports were downscaled with the preview's box filter: 1-px stripes reduced 2.5x came out as
    a beat pattern (0.33 to 0.67 where the stripes average 0.5), moiré a photographer sees on fabric
    and fences. The export's Lanczos keeps them an even grey, in linear light, and never below black."""
    stripes = np.zeros((200, 1000, 3), np.float32)
    stripes[:, ::2] = 1.0
    box, sharp = (resize_linear(stripes, 400, 80, sharp=k) for k in (False, True))
    assert box.std() > 0.1 and sharp.std() < 0.01
    assert sharp.mean() == pytest.approx(0.5, abs=0.005)  # linear light: the stripes' average
    photo = fit_long_edge(photo_linear, 320, sharp=True)
    assert photo.shape == (200, 320, 3) and photo.min() >= 0
    assert photo.mean() == pytest.approx(fit_long_edge(photo_linear, 320).mean(), rel=0.01)


@pytest.mark.parametrize("exact", [False, True], ids=["lut", "exact"])
def test_render_uint8(photo_linear: np.ndarray, exact: bool) -> None:
    from engine.render import render_uint8

    u8 = render_uint8(RECIPE, photo_linear, exact=exact)
    assert u8.dtype == np.uint8 and u8.shape == photo_linear.shape
    ref = np.round(render(RECIPE, photo_linear, exact=exact) * 255)
    assert np.abs(u8 - ref).max() <= 1 and (u8 == ref).mean() > 0.999


@pytest.mark.parametrize("bits", [8, 16])
def test_banded_rendering_to_integers_is_the_whole_image_rendering(photo_linear, monkeypatch, bits):
    """Exports render a band of rows at a time straight to the file's integers (the float render
    of a whole 199 MP panorama held 2.4 GB more); the bands are invisible: same dither, same cube."""
    import engine.render as er
    from engine.io.image import to_bits

    recipe = Recipe([Step("exposure", {"ev": 0.4}), Step("saturation", {"amount": 0.3}),
                     Step("gamma", {"gamma": 1.1})])
    whole = to_bits(er.render(recipe, photo_linear), bits)
    for rows in (64, 192):  # bands of a whole dither tile, and three
        monkeypatch.setattr(er, "BAND_ROWS", rows)
        banded = er.render_bits(recipe, photo_linear, bits)
        assert banded.dtype == whole.dtype and np.array_equal(banded, whole)


def test_step_inputs_are_what_replay_gives_each_step(photo_linear: np.ndarray) -> None:
    from engine.render import step_inputs

    recipe = Recipe([Step("exposure", {"ev": 0.7}), Step("gamma", {"gamma": 1.4}, enabled=False),
                     Step.default("saturation"), Step("white_balance", {"green": 1.1, "blue": 0.8}),
                     Step.default("tone"), Step("contrast", {"amount": 0.4})])
    got = step_inputs(recipe, photo_linear, [0, 2, 4])
    assert sorted(got) == [0, 2, 4]
    assert got[0] is photo_linear
    for i in (2, 4):  # a bypassed or identity step passes the photo on as it came
        np.testing.assert_allclose(got[i], replay(Recipe(recipe.steps[:i]), photo_linear), atol=1e-6)
    assert not np.allclose(got[4], got[2])  # the white balance between them is applied


def test_curve_histograms_count_what_each_curve_is_given(photo_linear: np.ndarray) -> None:
    from engine.render import CURVE_BINS, curve_histograms

    tone, colour = Step.default("tone"), Step.default("color_curves")
    recipe = Recipe([tone, Step("exposure", {"ev": 1.5}), colour, Step("exposure", {"ev": -1.0})])
    hists = curve_histograms(recipe, photo_linear, pixels=20_000)
    assert sorted(hists) == [0, 2]  # the curve steps only
    h, w = photo_linear.shape[:2]
    stride = int(np.ceil(np.sqrt(h * w / 20_000)))
    n = len(range(0, h, stride)) * len(range(0, w, stride))
    for counts in hists.values():
        assert counts.shape == (3, CURVE_BINS)
        np.testing.assert_array_equal(counts.sum(axis=1), n)  # every pixel read, past white at white
    before, after = hists[0].sum(axis=0), hists[2].sum(axis=0)
    x = (np.arange(CURVE_BINS) + 0.5) / CURVE_BINS
    assert (after * x).sum() / n > 1.8 * (before * x).sum() / n  # 1.5 EV brighter (less what clips)
    assert after[-1] > 5 * max(before[-1], 1)  # and what it pushes past white piles up at white
    ref = curve_histograms(Recipe([tone]), photo_linear, pixels=20_000)[0]
    np.testing.assert_array_equal(ref, hists[0])  # what comes after a step does not change its input
    assert curve_histograms(Recipe([Step("exposure", {"ev": 1.0})]), photo_linear) == {}
