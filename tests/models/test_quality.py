"""The shipped model on held-out photos it never saw, against the baselines.

Each held-out photo is "unedited" (models.data.degrade, fixed seeds), written as a synthetic DNG
and decoded by the app's RAW path; PSNR to the original photo, mean over 10 images.

The goal is to beat LibRaw's default rendering (``rawpy.postprocess(use_camera_wb=True)``) by a
margin. The shipped Auto (the measured steps with the learned meter and the learned white balance,
then the policy at strength 0.6) does since the thirteenth session: 22.39 vs 21.73 dB here when
measured (21.99 with max-RGB's white balance, short of the margin; that test was a strict xfail
until then; see models/retouch/MODEL.md). The other margins are below the measured ones: +6.7 dB
over the raw input (asserted: 4), +4.9 dB over the classical stretch + grey world (asserted: 2),
+6.6 dB over the policy without the measured steps (asserted: 0.4; this policy was trained on
pre-stepped inputs), +1.0 dB over Auto without the learned meter (asserted: 0.3), and over Auto
with max-RGB's white balance by 0.41 dB (asserted: 0.2).

The policy's own share is small, and measured against the measured steps alone (``strength`` 0, the
policy's steps dropped), so that a policy that does nothing cannot pass: on the everyday photos Auto
leads them by 0.17 dB (asserted: 0.1); on the close-ups the policy costs 0.17 dB (22.36 against
22.53), a known weakness (MODEL.md) kept as a strict xfail so that a model that mends it is noticed.
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
from models.retouch.evaluate import libraw_default, psnr, stretch_greyworld

MARGIN_DB = 0.5

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no shipped model")


#: The Auto variants the tests compare, by the options that make them.
AGENTS: dict[str, dict] = {"agent": {}, "bare": {"auto_exposure": False, "auto_white_balance": False},
                           "classical": {"meter": False}, "max_rgb": {"constancy": False},
                           "measured": {"strength": 0.0}}


def shown(method: str, agents: dict[str, Agent], linear: np.ndarray, dng) -> np.ndarray:
    """What ``method`` shows of a decoded photo (sRGB): a DNG's, read as a RAW decode."""
    if method in agents:
        return render(agents[method].predict(linear, raw=True), linear)
    if method == "libraw":
        return libraw_default(dng)
    return srgb_encode(linear) if method == "as_is" else stretch_greyworld(linear)


def measure(photos: list[np.ndarray], tmp, methods: tuple[str, ...]) -> dict[str, float]:
    """Mean PSNR to the originals of each of ``methods`` over two degradations of each photo."""
    agents = {m: Agent(prefer_gpu=False, **AGENTS[m]) for m in methods if m in AGENTS}
    rng = np.random.default_rng(2024)
    out: dict[str, list[float]] = {m: [] for m in methods}
    for i, orig in enumerate(photos):
        orig = orig[: orig.shape[0] // 2 * 2, : orig.shape[1] // 2 * 2]
        for k in range(2):
            lin = degrade.degrade(orig, degrade.sample(rng)).astype(np.float32)
            dng = write_dng(tmp / f"{i}-{k}.dng", lin, linear=True, seed=k, preview=False)
            linear = load_photo(dng).linear
            for m in methods:
                out[m].append(psnr(shown(m, agents, linear, dng), orig))
    return {k: float(np.mean(v)) for k, v in out.items()}


@pytest.fixture(scope="module")
def scores(heldout_srgb, tmp_path_factory) -> dict[str, float]:
    return measure(heldout_srgb, tmp_path_factory.mktemp("quality"),
                   ("agent", "bare", "classical", "libraw", "as_is", "stretch", "max_rgb", "measured"))


def test_shipped_model_improves_the_raw_input(scores):
    assert scores["agent"] > scores["as_is"] + 4.0, scores


def test_shipped_model_beats_the_classical_stretch_grey_world_auto(scores):
    assert scores["agent"] > scores["stretch"] + 2.0, scores


def test_measured_pre_steps_help_the_policy(scores):
    assert scores["agent"] > scores["bare"] + 0.4, scores


def test_the_learned_meter_helps_auto(scores):
    assert scores["agent"] > scores["classical"] + 0.3, scores


def test_the_learned_white_balance_helps_auto(scores):
    assert scores["agent"] > scores["max_rgb"] + 0.2, scores


@pytest.mark.xfail(strict=True, reason="on close-ups the policy's steps cost 0.17 dB (MODEL.md)")
def test_the_policy_adds_to_the_measured_steps_on_close_ups(scores):
    assert scores["agent"] > scores["measured"], scores


def test_shipped_model_beats_libraw_default(scores):
    assert scores["agent"] > scores["libraw"] + MARGIN_DB, scores


def test_shipped_model_beats_libraw_default_on_everyday_photos(everyday_srgb, tmp_path):
    """The held-out set's everyday photos (a portrait, a cat, coffee, a launch, Grace Hopper), unlike
    the close-ups above: Auto 23.70 against LibRaw's default 22.34 dB here when measured."""
    got = measure(everyday_srgb, tmp_path, ("agent", "libraw", "measured"))
    assert got["agent"] > got["libraw"] + MARGIN_DB, got
    # the policy's own steps earn their place: 23.70 against 23.53 dB for the measured steps alone
    assert got["agent"] > got["measured"] + 0.1, got
