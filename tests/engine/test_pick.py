"""``engine.pick``: the white balance from a spot that should be neutral, on the real photo."""

from __future__ import annotations

import numpy as np
import pytest

from engine.filters import REGISTRY
from engine.filters.base import LUMA
from engine.filters.white_balance import from_temp_tint
from engine.pick import PickError, pick_white_balance, spot
from engine.recipe import Recipe, Step
from engine.render import replay

# two light, nearly grey patches of the 640x400 fixture, (x, y), whose 7x7 spots want white balance
# green 0.94, blue 0.81 (a cool one) and green 1.00, blue 1.43 (a warm one); the sky and the sand
# are coloured past the filter's range
COOL, WARM = (277, 105), (113, 197)


def _through(recipe: Recipe, pixels: np.ndarray, upto: int) -> np.ndarray:
    """The spot's mean after the recipe's first ``upto`` steps."""
    return np.asarray(replay(Recipe(recipe.steps[:upto]), pixels[None]), np.float64)[0].mean(0)


@pytest.mark.parametrize("where", [COOL, WARM])
def test_the_picked_spot_leaves_the_step_neutral_with_its_brightness(photo_linear, where):
    px = spot(photo_linear, *where, 3)
    assert px.shape == (49, 3)
    before = px.mean(0).astype(np.float64)
    assert np.ptp(before / before.mean()) > 0.1  # the spot has a colour to remove
    pick = pick_white_balance(Recipe(), 0, px)
    assert not pick.limited
    recipe = Recipe([Step("white_balance", pick.params)])
    after = _through(recipe, px, 1)
    np.testing.assert_allclose(after / after.mean(), 1.0, atol=2e-3)  # grey, to the gains' 4 decimals
    assert after[0] == pytest.approx(before[0] / (LUMA @ np.array([1, *pick.params.values()])), rel=1e-4)


def test_steps_before_the_white_balance_are_replayed_and_steps_after_are_not(photo_linear):
    """A pick measures the spot as it enters the step: a curve before it changes the gains, a
    saturation after it (the photographer's look) does not."""
    px = spot(photo_linear, *WARM, 3)
    before = [Step("exposure", {"ev": 0.7}), Step("color_curves", Step.default("color_curves").params)]
    before[1].params["slopes"] = [[1.1] * 6 + [0.9] * 2, [1.0] * 8, [0.9] * 6 + [1.1] * 2]  # warmer mids
    recipe = Recipe([*before, Step.default("white_balance"), Step("saturation", {"amount": 0.8})])
    pick = pick_white_balance(recipe, 2, px)
    recipe.steps[2] = Step("white_balance", pick.params)
    out = _through(recipe, px, 3)
    np.testing.assert_allclose(out / out.mean(), 1.0, atol=2e-3)
    plain = pick_white_balance(Recipe(), 0, px)
    assert plain.params["blue"] < pick.params["blue"]  # the curve's warmth is removed too
    assert pick_white_balance(Recipe([*recipe.steps[:3], Step("saturation", {"amount": 0.1})]), 2, px) == pick


def test_a_cast_is_read_back_from_the_same_spot(photo_linear):
    """The same photo under a known cast: the picked gains differ by exactly the cast, whatever
    colour the spot itself has (the gains are relative to red, as the filter's)."""
    cast = {"green": 1.08, "blue": 1.15}
    tinted = np.asarray(replay(Recipe([Step("white_balance", cast)]), photo_linear), np.float32)
    for where in (COOL, WARM):
        plain = pick_white_balance(Recipe(), 0, spot(photo_linear, *where, 3)).params
        under = pick_white_balance(Recipe(), 0, spot(tinted, *where, 3)).params
        for k in cast:
            assert under[k] == pytest.approx(plain[k] / cast[k], rel=2e-3)


def test_a_cast_past_the_filters_range_is_partly_removed_and_said(photo_linear):
    """A candle's cast is past Temp's end: Temp stops there and the tint is still removed in full
    (clamping the blue gain alone left a 2700 K spot olive, off the daylight line); said so."""
    spec = REGISTRY["white_balance"]
    cast = np.array([1.0, 0.35, 0.03], np.float32)  # orange past a household bulb's
    px = spot(photo_linear, *WARM, 3) * cast
    pick = pick_white_balance(Recipe(), 0, px)
    plain = pick_white_balance(Recipe(), 0, px / cast).params  # the same spot without the cast
    whole = spec.view.to_view({"green": plain["green"] / cast[1], "blue": plain["blue"] / cast[2]})
    shown = spec.slider_values(pick.params)
    assert pick.limited and whole["temperature"] < -150 and pick.params["blue"] == pytest.approx(np.exp(2.25), rel=1e-4)
    assert shown == pytest.approx({"temperature": -150, "tint": whole["tint"]}, abs=0.01)  # Temp at its end
    assert "stronger than the white balance can take" in pick.describe()
    # said as the photo changes, in the card's Temp and Tint, by the points the card shows
    assert pick.describe().startswith(
        "White balance set from the spot: the photo is now cooler and more magenta (Temp -150, Tint +23)")
    assert pick.describe(from_temp_tint({"temperature": -150.0, "tint": 30.0})).startswith(
        "White balance set from the spot: the photo is now greener (")
    assert "nearly as it was" in pick.describe(from_temp_tint({"temperature": -149.0, "tint": 24.0}))
    assert "nearly as it was" in pick.describe(pick.params)


def test_spots_that_cannot_say_the_light_are_refused_with_the_reason(photo_linear):
    blown = np.clip(spot(photo_linear, *COOL, 3) * 20, 0, 1)
    with pytest.raises(PickError, match="blown out"):
        pick_white_balance(Recipe(), 0, blown)
    with pytest.raises(PickError, match="too dark"):
        pick_white_balance(Recipe(), 0, spot(photo_linear, *WARM, 3) * 1e-3)
    with pytest.raises(PickError, match="too strongly coloured"):  # a deep yellow: no blue to measure
        pick_white_balance(Recipe(), 0, spot(photo_linear, *WARM, 3) * np.array([1, 1, 0.002], np.float32))
    with pytest.raises(PickError, match="too dark"):  # dark as it enters the step, after an exposure
        pick_white_balance(Recipe([Step("exposure", {"ev": -10})]), 1, spot(photo_linear, *WARM, 3))
    for x, y in ((-1, 10), (10, 400), (640, 0)):
        with pytest.raises(PickError, match="on the photo itself"):
            spot(photo_linear, x, y, 3)


def test_a_spot_at_the_edge_is_cut_at_the_edge(photo_linear):
    assert spot(photo_linear, 0, 0, 3).shape == (16, 3)
    assert spot(photo_linear, 639.5, 399.9, 0).shape == (1, 3)


def test_a_daylight_setting_under_tungsten_is_removed_in_one_step(photo_linear):
    """Tungsten light on a daylight setting: blue at about a third of red and green at 0.7 (the
    white balance's version 1 stopped at 1.65, so that a pick or two stacked steps left it orange)."""
    tungsten = (photo_linear * np.array([1.0, 0.7, 0.33], np.float32)).astype(np.float32)
    for where in (COOL, WARM):
        px = spot(tungsten, *where, 3)
        pick = pick_white_balance(Recipe(), 0, px)
        assert not pick.limited and pick.params["blue"] > 2.0
        out = _through(Recipe([Step("white_balance", pick.params)]), px, 1)
        np.testing.assert_allclose(out / out.mean(), 1.0, atol=2e-3)
