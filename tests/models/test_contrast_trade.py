"""The contrast trade-off measurement (models/retouch/HISTORY.md, eighteenth session) scores as evaluate does."""

from __future__ import annotations

import numpy as np
import pytest

from engine.recipe import Recipe
from engine.render import replay
from engine.runners.agent import DEFAULT_MODEL, MID_GREY
from models.retouch.contrast_trade import looks, trade
from models.retouch.evaluate import evaluate

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no shipped model")


def test_gamma_looks_pivot_at_mid_grey():
    ramp = np.linspace(0.02, 0.9, 64, dtype=np.float32)[None, :, None].repeat(3, 2)
    for name, steps in looks().items():
        if not name.startswith("+ gamma") or "saturation" in name:
            continue
        out = np.asarray(replay(Recipe(steps), ramp))
        grey = np.full((1, 1, 3), MID_GREY, np.float32)
        assert np.asarray(replay(Recipe(steps), grey)).ravel() == pytest.approx([MID_GREY] * 3, abs=1e-4)
        assert out[0, 0, 0] < ramp[0, 0, 0] and out[0, -1, 0] > ramp[0, -1, 0]  # more contrast both sides


def test_unchanged_rows_reproduce_evaluate(heldout_files):
    """Auto, (b) and the originals: the same PSNR and the same HI patches as evaluate's table."""
    photos, targets = heldout_files[:1], heldout_files[2:3]
    res = trade(photos, targets, per_photo=2, long_edge=192, jobs=1)
    ref = evaluate(None, photos, targets, per_photo=2, long_edge=192, log=lambda _: None)["table"]
    for mine, theirs in (("Auto", "agent"), ("(b) LibRaw default", "(b) LibRaw default"), ("original", "original")):
        if theirs != "original":
            assert res[mine]["psnr"] == pytest.approx(ref[theirs]["psnr"], abs=1e-9)
        assert np.allclose(res[mine]["hi"], ref[theirs]["hi"])
    assert res["+ gamma 1.3"]["psnr"] != pytest.approx(res["Auto"]["psnr"], abs=0.05)
