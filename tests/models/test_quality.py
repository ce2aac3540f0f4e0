"""The shipped model beats LibRaw's default rendering on held-out photos it never saw.

Each held-out photo is "unedited" (models.data.degrade, fixed seeds), written as a synthetic DNG
and decoded by the app's RAW path; the agent's render must be closer to the original photo than
``rawpy.postprocess(use_camera_wb=True)`` of the same DNG, by a margin, on average.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.color import srgb_encode
from engine.io import load_photo
from engine.io.dng import write_dng
from engine.render import render
from engine.runners.agent import DEFAULT_MODEL, Agent
from models.data import degrade
from models.retouch.evaluate import libraw_default, psnr

MARGIN_DB = 0.5


@pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no shipped model")
def test_shipped_model_beats_libraw_default(heldout_srgb, tmp_path):
    agent = Agent(prefer_gpu=False)
    rng = np.random.default_rng(2024)
    ours, libraw, as_is = [], [], []
    for i, orig in enumerate(heldout_srgb):
        orig = orig[: orig.shape[0] // 2 * 2, : orig.shape[1] // 2 * 2]
        for k in range(2):
            lin = degrade.degrade(orig, degrade.sample(rng)).astype(np.float32)
            dng = write_dng(tmp_path / f"{i}-{k}.dng", lin, linear=True, seed=k, preview=False)
            linear = load_photo(dng).linear
            ours.append(psnr(render(agent.predict(linear), linear), orig))
            libraw.append(psnr(libraw_default(dng), orig))
            as_is.append(psnr(srgb_encode(linear), orig))
    assert np.mean(ours) > np.mean(libraw) + MARGIN_DB, (np.mean(ours), np.mean(libraw), np.mean(as_is))
    assert np.mean(ours) > np.mean(as_is) + MARGIN_DB
