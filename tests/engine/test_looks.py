"""``engine.looks`` names how renderings of a real photo differ."""

from __future__ import annotations

import pytest

from engine.looks import differences
from engine.recipe import Recipe, Step
from engine.render import render


@pytest.mark.parametrize(("step", "first"), [
    (Step("exposure", {"ev": 0.3}), "brighter"),
    (Step("exposure", {"ev": -0.3}), "darker"),
    (Step("white_balance", {"green": 1.0, "blue": 0.85}), "warmer"),  # less blue
    (Step("white_balance", {"green": 1.0, "blue": 1.15}), "cooler"),
    (Step("saturation", {"amount": 0.5}), "more colourful"),
])
def test_differences_name_the_edit_that_made_a_rendering(photo_linear, step, first):
    base = render(Recipe([]), photo_linear)
    words = differences([base, base, render(Recipe([step]), photo_linear)])
    assert words[2].split(", ")[0] == first, words
    assert len(words[2].split(", ")) <= 2
    assert words[0] == words[1]  # the two alike, each against the mean of the other two


def test_identical_renderings_are_alike(photo_linear):
    img = render(Recipe([]), photo_linear)
    assert differences([img, img, img]) == ["like the others"] * 3
    assert differences([img, img]) == ["like the other"] * 2  # `retouch auto --variations 2`
    assert differences([img]) == [""]
