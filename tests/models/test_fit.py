"""``fit`` recovers a known recipe from a synthetic before/after pair of a real photo."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from engine.color import srgb_decode, srgb_encode
from engine.io import load_photo
from engine.recipe import Recipe, Step
from engine.render import replay, resize_linear
from models.retouch.fit import fit


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(-10 * np.log10(((a - b) ** 2).mean()))


def _8bit(srgb: np.ndarray, **save) -> np.ndarray:
    """``srgb`` as another tool would export it: 8-bit, PNG unless ``save`` asks for a JPEG."""
    buf = io.BytesIO()
    Image.fromarray((np.clip(srgb, 0, 1) * 255 + 0.5).astype(np.uint8)).save(buf, **({"format": "PNG"} | save))
    return np.asarray(Image.open(buf).convert("RGB"), np.float32) / 255


def test_fit_recovers_known_recipe(heldout_srgb):
    before = srgb_decode(heldout_srgb[3])
    known = Recipe([Step("exposure", {"ev": 0.8}), Step("white_balance", {"green": 1.0, "blue": 1.3}),
                    Step("contrast", {"amount": 0.5})])
    after = srgb_encode(replay(known, before))
    res = fit(before, after)
    assert res.start_psnr < 25
    assert res.psnr > 45, res.recipe.dumps()
    assert [s.op for s in res.recipe] == ["exposure", "white_balance", "contrast"]
    got = {s.op: s.params for s in res.recipe}
    assert abs(got["exposure"]["ev"] - 0.8) < 0.05
    assert abs(got["white_balance"]["blue"] - 1.3) < 0.05
    # the fitted recipe reproduces the look at full resolution, not only on the proxy
    assert abs(got["contrast"]["amount"] - 0.5) < 0.05
    full = srgb_encode(replay(res.recipe, before))
    assert float(((full - after) ** 2).mean()) < 10 ** (-35 / 10)


def test_fit_reports_the_error_at_the_smaller_size(photo_jpeg):
    """An AFTER exported at half size: the error reported is the one the recipe re-renders with at
    AFTER's size (AFTER blown up to BEFORE's size lacked the detail: 33 dB reported for 55)."""
    before = load_photo(photo_jpeg).linear
    h, w = before.shape[:2]
    known = Recipe([Step("exposure", {"ev": -0.4}), Step("saturation", {"amount": 0.4})])
    after = _8bit(srgb_encode(resize_linear(replay(known, before), w // 2, h // 2)))
    res = fit(before, after)
    rendered = _psnr(srgb_encode(replay(res.recipe, resize_linear(before, w // 2, h // 2))), after)
    assert rendered > 45, res.recipe.dumps()
    assert abs(res.psnr - rendered) < 1.0, (res.psnr, rendered)


def _jpeg_look(photo_jpeg, known: Recipe) -> dict[str, dict]:
    """The parameters fit finds for the look ``known`` on the real photo, exported as a q95 JPEG,
    once it found the same filters in the same order."""
    before = load_photo(photo_jpeg).linear
    after = _8bit(srgb_encode(replay(known, before)), format="JPEG", quality=95)
    res = fit(before, after)
    assert [s.op for s in res.recipe] == [s.op for s in known], res.recipe.dumps()  # no spurious step
    assert abs(res.psnr - _psnr(srgb_encode(replay(res.recipe, before)), after)) < 1.0
    return {s.op: s.params for s in res.recipe}


# Tolerances of the JPEG looks: fitting the known chain itself to these JPEGs gives exposure, white
# balance and contrast within 0.007 of the truth, so 0.03 is JPEG noise with room. Saturation comes
# out low because Pillow's 4:2:0 chroma subsampling blurs colour, which reads as less saturation:
# the known chain fits 0.27 for 0.35 and 0.43 for 0.5 (0.34 and 0.49 from a 4:4:4 JPEG), so
# saturation is checked for the step being there and about right, not to 0.03.


def test_fit_recovers_a_look_from_a_jpeg(photo_jpeg):
    """The audit's 4-step look with saturation, from a q95 JPEG: the same 4 steps."""
    known = Recipe([Step("exposure", {"ev": 0.6}), Step("white_balance", {"green": 1.0, "blue": 0.85}),
                    Step("contrast", {"amount": 0.25}), Step("saturation", {"amount": 0.35})])
    got = _jpeg_look(photo_jpeg, known)
    assert abs(got["exposure"]["ev"] - 0.6) < 0.03
    assert abs(got["white_balance"]["green"] - 1.0) < 0.03
    assert abs(got["white_balance"]["blue"] - 0.85) < 0.03
    assert abs(got["contrast"]["amount"] - 0.25) < 0.03
    assert 0.22 < got["saturation"]["amount"] < 0.40


def test_fit_recovers_a_look_made_in_another_order(photo_jpeg):
    """White balance after saturation, from a q95 JPEG: in the editor order (balance first) it
    cannot be matched, and the old fixed-order search returned a tone curve instead of exposure."""
    known = Recipe([Step("exposure", {"ev": 0.3}), Step("saturation", {"amount": 0.5}),
                    Step("white_balance", {"green": 1.0, "blue": 0.8})])
    got = _jpeg_look(photo_jpeg, known)
    assert abs(got["exposure"]["ev"] - 0.3) < 0.03
    assert abs(got["white_balance"]["green"] - 1.0) < 0.03
    assert abs(got["white_balance"]["blue"] - 0.8) < 0.03
    assert 0.38 < got["saturation"]["amount"] < 0.55


def test_a_pair_that_already_matches_needs_no_step(photo_jpeg):
    """The same photo as BEFORE and AFTER (a copy, or a crop of an unedited photo: 58 dB): no
    step, where the searches came back with "Exposure -0.00" (ev -1.9e-07)."""
    before = load_photo(photo_jpeg).linear
    res = fit(before, _8bit(srgb_encode(before)))
    assert len(res.recipe) == 0 and res.psnr == res.start_psnr > 55


def test_a_grey_frame_made_lighter_is_one_step():
    """Two exact starts (a grey frame has no shape to its tones): the greedy one, Gamma + Contrast,
    was kept over the joint one's single Exposure, as only the better start was refined."""
    before = srgb_decode(np.full((64, 96, 3), 120 / 255, np.float32))
    res = fit(before, np.full((64, 96, 3), 200 / 255, np.float32))
    assert [s.op for s in res.recipe] == ["exposure"] and res.psnr > 60, res.recipe.dumps()


def test_a_step_the_look_can_be_matched_without_is_left_out(photo_jpeg):
    """A known 5-step look, exported losslessly, comes back as its 5 steps: the search's short
    tuning had left colour curves pinned at their limits as a 6th step (56.8 dB before the last
    tuning), which the recipe matches the look invisibly without."""
    before = load_photo(photo_jpeg).linear
    known = Recipe([Step("exposure", {"ev": -0.4}), Step("gamma", {"gamma": 1.2}),
                    Step("tone", {"slopes": [0.6, 0.8, 1.0, 1.2, 1.4, 1.3, 1.0, 0.8]}),
                    Step("saturation", {"amount": 0.4}), Step("black_white", {"amount": 0.2})])
    res = fit(before, srgb_encode(replay(known, before)))
    assert [s.op for s in res.recipe] == [s.op for s in known], res.recipe.dumps()
    assert res.psnr > 55


@pytest.mark.parametrize("box", [(61, 37, 861, 537), (8, 5, 952, 595)])  # zoomed in; 0.8 % off each side
def test_fit_recovers_a_look_from_a_cropped_export(photo_jpeg, box):
    """A crop exported at its own size is found to the pixel (``find_crop``'s last level works at
    the original's pixels), so the fit sees the look, not a misalignment: one pixel off, it
    found the exposure alone at 28.5 dB and lost the saturation step; a crop of under 1 % a side
    was taken for the whole frame (20 dB)."""
    from engine.align import find_crop

    before = load_photo(photo_jpeg).linear  # 960 x 600: above the coarse levels' 480 px
    left, top, right, bottom = box
    known = Recipe([Step("exposure", {"ev": 0.5}), Step("saturation", {"amount": 0.3})])
    after = _8bit(srgb_encode(replay(known, before[top:bottom, left:right])))
    crop = find_crop(before, srgb_decode(after))
    assert crop is not None and (crop.left, crop.top, crop.right, crop.bottom) == box
    res = fit(crop.of(before), after, iters=30)
    assert res.psnr > 45 and [s.op for s in res.recipe] == ["exposure", "saturation"], res.recipe.dumps()
    assert abs(res.recipe.steps[1].params["amount"] - 0.3) < 0.03


def test_fit_recovers_a_look_from_a_crop_of_a_large_raw():
    """The bundled 3000 x 2000 RAW, beyond the aligner's 1024 px levels: the crop is polished to a
    fraction of a pixel and compared on the grid it was found on (as ``retouch fit`` does). Found
    on the 480 px grid alone it was a pixel off at full size: 30.0 dB and the exposure alone (a
    third of a pixel off on this grass still leaves 37.8 dB; the exact box 67)."""
    from pathlib import Path

    from engine.align import find_crop, fit_grid

    sample = Path(__file__).parents[2] / "resources" / "samples" / "sample.dng"
    before = load_photo(sample).linear
    box = (311, 207, 2411, 1607)
    known = Recipe([Step("exposure", {"ev": 0.5}), Step("saturation", {"amount": 0.3})])
    after = _8bit(srgb_encode(replay(known, before[box[1]:box[3], box[0]:box[2]])))
    crop = find_crop(before, srgb_decode(after))
    assert crop is not None and (crop.left, crop.top, crop.right, crop.bottom) == box
    assert crop.box is None  # polished to within 1/8 pixel of whole pixels: a crop made on the grid
    part = resize_linear(before, *fit_grid(box, before.shape, after.shape), box=box)
    res = fit(part, after)
    assert res.psnr > 45 and [s.op for s in res.recipe] == ["exposure", "saturation"], res.recipe.dumps()


def test_fit_recovers_a_white_balance_past_the_agents_reach(heldout_srgb):
    """A look another tool made with a strong white balance (a tungsten correction: blue x2.6) was
    matched by six or so steps at 39-55 dB in up to two minutes: fit searched only the agent's
    range (the paper's x1.65). It searches the photographer's now."""
    before = srgb_decode(heldout_srgb[3])
    known = Recipe([Step("white_balance", {"green": 1.3, "blue": 2.6})])
    after = _8bit(srgb_encode(replay(known, before)))
    res = fit(before, after)
    assert [s.op for s in res.recipe] == ["white_balance"], res.recipe.dumps()
    assert res.psnr > 50
    got = res.recipe.steps[0].params
    assert abs(np.log(got["green"] / 1.3)) < 0.02 and abs(np.log(got["blue"] / 2.6)) < 0.02


def test_a_white_balance_is_fitted_as_replay_renders_it_on_an_overexposed_photo(media_dir, photo_srgb8):
    """Replay leaves what is blown white in the file alone (white balance v3). The fit tunes the
    same math: tuned with every pixel balanced, a cooling look on a photo 1.5 EV over (its sky and
    sand clipped) came back at the error it is judged by, with the balance pulled off."""
    from engine.io.dng import write_dng

    before = load_photo(write_dng(media_dir / "fit_over.dng", photo_srgb8, exposure=1.5, seed=5)).linear
    assert (before.min(axis=-1) >= 0.99).mean() > 0.05  # a real share of it is blown
    known = Recipe([Step("exposure", {"ev": -0.6}), Step("white_balance", {"green": 1.05, "blue": 1.6})])
    after = _8bit(srgb_encode(replay(known, before)))
    res = fit(before, after)
    got = {s.op: s.params for s in res.recipe}
    assert res.psnr > 45, res.recipe.dumps()
    assert abs(got["white_balance"]["blue"] - 1.6) < 0.03, res.recipe.dumps()
