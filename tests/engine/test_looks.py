"""``engine.looks`` names how renderings of a real photo differ."""

from __future__ import annotations

import pytest

from engine.looks import differences
from engine.recipe import Recipe, Step
from engine.render import render


@pytest.mark.parametrize(("step", "first", "opposite"), [
    (Step("exposure", {"ev": 0.3}), "brighter", "darker"),
    (Step("exposure", {"ev": -0.3}), "darker", "brighter"),
    (Step("white_balance", {"green": 1.0, "blue": 0.85}), "warmer", "cooler"),  # less blue
    (Step("white_balance", {"green": 1.0, "blue": 1.15}), "cooler", "warmer"),
    (Step("saturation", {"amount": 0.5}), "more colourful", "more muted"),
    # the S-curve also darkens this bright dune (2.5 units), but its contrast, at equal brightness,
    # leads; before contrast and colour were compared at equal brightness it read "more muted, darker"
    (Step("contrast", {"amount": 0.5}), "more contrast", "softer"),
    (Step("contrast", {"amount": -0.5}), "brighter", "darker"),
    # 0.57 units of brightness (0.07 EV makes 0.81): under MIN_UNITS, so all three first read alike;
    # told apart, the edit is "slightly brighter" and the two unedited ones (0.29 units, under
    # SLIGHT_UNITS from the rest) stay alike
    (Step("exposure", {"ev": 0.05}), "slightly brighter", "like the others"),
])
def test_differences_name_the_edit_that_made_a_rendering(photo_linear, step, first, opposite):
    base = render(Recipe([]), photo_linear)
    words = differences([base, base, render(Recipe([step]), photo_linear)])
    assert words[2].split(", ")[0] == first, words
    assert len(words[2].split(", ")) <= 2
    # each unedited one, against the mean of the other unedited and the edit, is half as far the other way
    assert words[0].split(", ")[0] == opposite and words[0] == words[1], words


@pytest.mark.parametrize("ev", [0.3, -0.3])
def test_an_exposure_change_reads_as_brightness_alone(photo_linear, ev):
    """Brighter pixels carry more colour and spread in absolute terms; a photographer who moved the
    exposure sees it brighter or darker, not more colourful or more contrasty."""
    base = render(Recipe([]), photo_linear)
    words = differences([base, render(Recipe([Step("exposure", {"ev": ev})]), photo_linear)])
    assert words == (["darker", "brighter"] if ev > 0 else ["brighter", "darker"]), words


def test_identical_renderings_are_alike(photo_linear):
    img = render(Recipe([]), photo_linear)
    assert differences([img, img, img]) == ["like the others"] * 3
    assert differences([img, img]) == ["like the other"] * 2  # `retouch auto --variations 2`
    assert differences([img]) == [""]


def test_variations_captioned_alike_are_told_apart(photo_linear):
    """Four renderings where two differ from the rest the same way (both warmer) and from each
    other only slightly: each caption must differ, naming how the two differ between themselves."""
    looks = [Recipe([]), Recipe([Step("exposure", {"ev": 0.3})]),
             Recipe([Step("white_balance", {"green": 1.0, "blue": 0.85})]),
             Recipe([Step("white_balance", {"green": 1.0, "blue": 0.85}), Step("exposure", {"ev": 0.06})])]
    words = differences([render(r, photo_linear) for r in looks])
    assert len(set(words)) == 4, words
    assert words[2].startswith("warmer") and words[3].startswith("warmer"), words
    assert "slightly darker" in words[2] and "slightly brighter" in words[3], words
