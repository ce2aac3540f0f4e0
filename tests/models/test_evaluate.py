"""The evaluate command's bookkeeping on real held-out photos (its numbers go into MODEL.md)."""

from __future__ import annotations

import math

import pytest

from engine.runners.agent import DEFAULT_MODEL
from models.retouch.evaluate import evaluate

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no shipped model")


def test_table_and_per_step_curve_agree(heldout_files):
    res = evaluate(None, heldout_files[:2], heldout_files[2:4], per_photo=2, long_edge=256, log=lambda _: None)
    t = res["table"]
    assert res["n_images"] == 4 and set(t) >= {"agent", "(a) input as is", "(b) LibRaw default", "original"}
    steps = res["per_step"]
    assert 5 <= len(steps) <= 9  # nothing, the measured steps (up to 3) and the policy's 5, less no-ops
    # no steps is the input as is; the whole recipe is the agent's score
    assert steps[0] == pytest.approx(t["(a) input as is"]["psnr"], abs=0.01)  # render vs plain encode
    assert steps[-1] == pytest.approx(t["agent"]["psnr"], abs=1e-6)
    for row in t.values():
        assert all(0 < h <= 1 for h in row["hi"]) and (math.isnan(row["psnr"]) or 5 < row["psnr"] < 60)


def test_strength_row_is_the_policy_as_predicted(heldout_files):
    from engine.runners.agent import AUTO_STRENGTH

    kw = dict(per_photo=1, long_edge=192, log=lambda _: None)
    res = evaluate(None, heldout_files[:1], heldout_files[2:3], **kw)
    assert res["strength"] == AUTO_STRENGTH
    t = res["table"]
    assert t["agent"]["psnr"] != pytest.approx(t["agent, strength 1"]["psnr"], abs=1e-4)
    full = evaluate(None, heldout_files[:1], heldout_files[2:3], strength=1.0, **kw)["table"]
    assert full["agent"]["psnr"] == pytest.approx(full["agent, strength 1"]["psnr"], abs=1e-9)
    assert full["agent"]["psnr"] == pytest.approx(t["agent, strength 1"]["psnr"], abs=1e-9)
