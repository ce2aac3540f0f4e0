"""The learned meter (engine.runners.meter) and the measured steps it feeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.filters import REGISTRY
from engine.recipe import Recipe
from engine.render import render
from engine.runners import agent as agent_mod
from engine.runners.agent import Agent, measured_steps
from engine.runners.meter import DEFAULT_METER, FEATURES, OUTPUTS, Meter, features, load

pytestmark = pytest.mark.skipif(not DEFAULT_METER.exists(), reason="no shipped meter")


def test_features_follow_exposure_and_ignore_it_for_colour(photo_linear):
    """Darkening a real photo by 2 EV (nothing clips) moves every log2 brightness feature by -2
    and leaves the clipped share alone; the colour statistics move a little (which pixels count as
    well exposed changes)."""
    img = np.asarray(photo_linear, np.float32) * 0.5
    a, b = features(img), features(img * 0.25)
    assert a.shape == b.shape == (len(FEATURES),) and np.isfinite(a).all()
    log2 = [i for i, n in enumerate(FEATURES) if n.startswith(("log2", "mean log2"))]
    dark = np.asarray([a[i] > -14 for i in log2])  # above the 1e-5 floor
    assert np.allclose((b - a)[log2][dark], -2.0, atol=1e-3)
    rest = [i for i in range(len(FEATURES)) if i not in log2]
    assert np.allclose(a[rest], b[rest], atol=0.15) and a[FEATURES.index("clipped share")] == 0
    with pytest.raises(ValueError, match="too few pixels"):
        features(np.zeros((2, 2, 3), np.float32))


def test_shipped_meter_loads_and_is_affine_in_its_features(photo_linear):
    m = load()
    assert m is not None and m is load()  # shared
    assert set(m.meta) >= {"lambda", "samples", "photos", "cv_rmse"} and m.meta["samples"] > 1000
    p = m.predict(photo_linear)
    assert list(p) == list(OUTPUTS) and all(math.isfinite(v) for v in p.values())
    # a 2 EV darker photo gets more exposure, though less than 2 EV: a ridge fit shrinks toward the
    # exposures it saw, as a photo that dark was more likely metered dark on purpose
    img = np.asarray(photo_linear, np.float32) * 0.5
    assert 1.4 < m.predict(img * 0.25)["ev"] - m.predict(img)["ev"] < 2.05
    assert load(DEFAULT_METER.with_name("no-such-meter.onnx")) is None


def test_a_model_that_is_not_a_meter_is_refused():
    with pytest.raises(ValueError, match="not a meter"):
        Meter(agent_mod.DEFAULT_MODEL)


def test_contrast_gamma_sign_cap_and_threshold():
    assert agent_mod.auto_contrast_gamma(0.0) is None
    assert agent_mod.auto_contrast_gamma(0.01) is None  # half of it is below AUTO_CONTRAST_MIN
    assert agent_mod.auto_contrast_gamma(0.2) == pytest.approx(math.exp(-0.1), abs=1e-4)  # harsh: gamma < 1
    assert agent_mod.auto_contrast_gamma(-0.2) == pytest.approx(math.exp(0.1), abs=1e-4)  # flat: gamma > 1
    cap = math.exp(agent_mod.AUTO_CONTRAST_MAX)
    assert agent_mod.auto_contrast_gamma(-5.0) == pytest.approx(cap, abs=1e-4)
    assert REGISTRY["gamma"].params[0].min < 1 / cap and cap < REGISTRY["gamma"].params[0].max


def test_measured_steps_with_the_meter(photo_linear):
    """The exposure is the blend of the two meters, plus the contrast step's pivot: mid grey of the
    blended exposure stays mid grey through the gamma."""
    m = load()
    img = np.asarray(photo_linear, np.float32) * 0.3
    p = m.predict(img)
    steps = measured_steps(img, meter=m)
    ops = [s.op for s in steps]
    assert [s.source for s in steps] == [{"exposure": "auto-exposure", "white_balance": "auto-white-balance-max-rgb",
                                          "gamma": "auto-contrast"}[o] for o in ops]
    blend = (1 - agent_mod.METER_EV_SHARE) * agent_mod.auto_exposure_ev(img) + agent_mod.METER_EV_SHARE * p["ev"]
    gamma = agent_mod.auto_contrast_gamma(p["log_contrast"])
    if gamma is None:
        assert "gamma" not in ops and steps[0].params["ev"] == pytest.approx(blend, abs=1e-3)
    else:
        assert ops[0] == "exposure" and ops[-1] == "gamma" and steps[-1].params["gamma"] == gamma
        grey = np.full((1, 1, 3), 0.18 * 2.0 ** -blend, np.float32)
        only = Recipe([s for s in steps if s.op != "white_balance"])
        assert render(only, grey, exact=True) == pytest.approx(render(Recipe(), np.full_like(grey, 0.18), exact=True),
                                                               abs=2e-3)
    # without the meter: the classical steps only, as before
    assert [s.op for s in measured_steps(img)] == [o for o in ops if o != "gamma"]
    classical = Agent(prefer_gpu=False, meter=False)
    assert "gamma" not in [s.op for s in classical.predict(img).steps if s.source]


def test_a_harsh_photo_gets_a_softening_contrast_step(photo_linear):
    """The same photo with its contrast raised (a power 1.3 about mid grey) measures harsher than
    with it lowered (0.7), so the first gets the smaller gamma."""
    m = load()
    lum = np.maximum(np.asarray(photo_linear, np.float32) @ np.asarray([0.27, 0.67, 0.06], np.float32), 1e-6)
    harsh, flat = (np.clip(photo_linear * (0.18 * (lum / 0.18) ** c / lum)[..., None], 0, 1) for c in (1.3, 0.7))
    assert m.predict(harsh)["log_contrast"] > m.predict(flat)["log_contrast"] + 0.1


def test_highlight_cap_keeps_the_exposures_white_below_one():
    cap = agent_mod.highlight_cap
    assert cap(0.18) == math.inf and cap(0.1) == math.inf  # highlights at mid grey: nothing to clip
    assert cap(1.0) == 1.0 and cap(3.0) == 1.0  # already at white: no steeper curve
    for level in (0.3, 0.6, 0.9):
        g = cap(level)
        assert g > 1 and 0.18 * (level / 0.18) ** g == pytest.approx(1.0)
    assert cap(0.9) == pytest.approx(1.0655, abs=1e-4)  # the percentile rule's white: a gamma of ~1.07 at most


def test_a_flat_photo_gets_contrast_without_blown_highlights(photo_linear, monkeypatch):
    """A flattened photo (a power < 1 about mid grey) gets a steepening contrast step, capped so that
    Auto's exposure and contrast together leave the brightest channel's 99th percentile at most at
    white: in no channel do more than the exposure's 1 % of the pixels reach it."""
    img = np.asarray(photo_linear, np.float32)
    lum = np.maximum(img @ np.asarray([0.27, 0.67, 0.06], np.float32), 1e-6)
    flat = np.clip(img * (0.18 * (lum / 0.18) ** 0.4 / lum)[..., None], 0, 1).astype(np.float32)
    steps = measured_steps(flat, meter=load(), white_balance=False)
    gamma = [s.params["gamma"] for s in steps if s.op == "gamma"]
    assert gamma and gamma[0] > 1  # flatter than a finished rendering: more contrast
    out = agent_mod.apply_steps(flat, steps)
    assert agent_mod.white_level(out) <= 1.0 + 1e-3
    assert ((out >= 1.0).reshape(-1, 3).mean(0) <= 0.0101).all()  # in each channel, 1 % at most
    monkeypatch.setattr(agent_mod, "AUTO_CONTRAST_CAP", False)  # without the cap it would clip more
    free = measured_steps(flat, meter=load(), white_balance=False)
    uncapped = next(s.params["gamma"] for s in free if s.op == "gamma")
    assert uncapped > gamma[0]  # the cap binds here (1.091 against 1.114)
    assert agent_mod.white_level(agent_mod.apply_steps(flat, free)) > 1.02


def test_contrast_cap_on_photos_without_highlights(photo_linear, monkeypatch):
    """A photo whose brightest tones stay at or below mid grey has nothing to clip, so its contrast
    step is left as measured (no highlight cap, and no overflow from an infinite one); a black
    frame gets no error."""
    img = np.asarray(photo_linear, np.float32) * 1e-3
    m = load()
    measure = m.predict
    # a flat photo: a gamma of exp(0.2); on the shared (cached) meter, so undone after the test
    monkeypatch.setattr(m, "predict", lambda x: {**measure(x), "log_contrast": -0.4})
    steps = measured_steps(img, meter=m, exposure=False, white_balance=False)
    assert agent_mod.white_level(img) < agent_mod.MID_GREY  # the highlights: under mid grey
    assert [s.params["gamma"] for s in steps if s.op == "gamma"] == [round(math.exp(0.2), 4)]
    assert [s.op for s in measured_steps(np.zeros((64, 64, 3), np.float32), meter=load())] in (
        [], ["exposure"])  # nothing to keep at mid grey: no contrast step


@pytest.mark.parametrize("log_contrast", [-0.4, 0.4])
def test_a_photo_metered_at_the_exposures_limit_keeps_mid_grey(photo_linear, monkeypatch, log_contrast):
    """Far too dark to reach by the exposure's +3.5 EV: the contrast step's pivot exposure cannot
    be added, so a steepening step (which would darken what the exposure lifted) is left out, and
    a flattening one (whose pivot lowers the exposure) stays as measured. Either way the pixel the
    exposure puts at mid grey stays there, where it used to land 0.5-1 EV darker."""
    img = np.asarray(photo_linear, np.float32) * 2.0**-7
    m = load()
    measure = m.predict
    monkeypatch.setattr(m, "predict", lambda x: {**measure(x), "log_contrast": log_contrast})
    steps = measured_steps(img, meter=m, white_balance=False)
    top = REGISTRY["exposure"].params[0].max
    gamma = [s.params["gamma"] for s in steps if s.op == "gamma"]
    assert gamma == ([] if log_contrast < 0 else [round(math.exp(-0.2), 4)])
    ev = steps[0].params["ev"]
    assert ev == (top if not gamma else pytest.approx(top + agent_mod.pivot_ev(gamma[0]), abs=1e-4))
    grey = np.full((1, 1, 3), agent_mod.MID_GREY / 2.0**top, np.float32)  # what +3.5 EV puts at mid grey
    assert agent_mod.apply_steps(grey, steps)[0, 0] == pytest.approx(agent_mod.MID_GREY, rel=1e-3)
