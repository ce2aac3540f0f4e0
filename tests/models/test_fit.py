"""``fit`` recovers a known recipe from a synthetic before/after pair of a real photo."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from engine.color import srgb_decode, srgb_encode
from engine.recipe import Recipe, Step
from engine.render import replay
from models.retouch.fit import fit


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
