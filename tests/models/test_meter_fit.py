"""Fitting the learned meter (models.meter.train) and the shipped meter on held-out photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.color import srgb_encode
from engine.io import load_photo
from engine.io.dng import write_dng
from engine.runners.agent import apply_steps, measured_steps
from engine.runners.meter import DEFAULT_METER, OUTPUTS, Meter, features, load
from models.data import degrade
from models.meter import train
from models.retouch.evaluate import psnr

FIXTURES = sorted(Path(__file__).with_name("fixtures").glob("*.jpg"))


def test_fit_writes_a_meter_the_engine_runs(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in FIXTURES:
        (photos / p.name).write_bytes(p.read_bytes())
    out, cache = tmp_path / "m.onnx", tmp_path / "f.npz"
    args = ["--photos", str(photos), "-o", str(out), "--per-photo", "3", "--cache", str(cache)]
    assert train.main(args) == 0
    z = np.load(cache)
    assert z["x"].shape == (3 * len(FIXTURES), len(train.FEATURES)) and z["y"].shape[1] == len(OUTPUTS)
    m = Meter(out)
    assert m.meta["samples"] == len(z["x"]) and m.meta["lambda"] in train.LAMBDAS
    a, b = train.ridge(z["x"], z["y"], m.meta["lambda"])  # the ONNX graph is exactly the fitted map
    got = m.session.run(None, {"features": z["x"].astype(np.float32)})[0]
    assert np.allclose(got, z["x"] @ a + b, atol=1e-3)
    first = capsys.readouterr().out
    assert "metering" in first and "cross-validated RMSE" in first
    assert train.main(args) == 0 and "metering" not in capsys.readouterr().out  # the cache is reused
    few = tmp_path / "few"
    few.mkdir()
    (few / FIXTURES[0].name).write_bytes(FIXTURES[0].read_bytes())
    assert train.main(["--photos", str(few), "-o", str(tmp_path / "x.onnx")]) == 2  # too few to cross-validate
    assert not (tmp_path / "x.onnx").exists()


def test_offsets_undo_a_degradation_exactly(photo_linear):
    """Exposure and white balance with the offsets' values restore the photo's colours."""
    from engine.filters import REGISTRY

    img = np.asarray(photo_linear, np.float32) * 0.5
    d = degrade.Degradation(wb_r=0.2, wb_b=-0.25, ev=-1.2)
    off = dict(zip(OUTPUTS, train.offsets(d)))
    bad = np.clip(degrade.degrade_linear(img, d), 0, 1)
    fixed = REGISTRY["exposure"].apply(bad, ev=off["ev"])
    fixed = REGISTRY["white_balance"].apply(fixed, green=np.exp(off["log_green"]), blue=np.exp(off["log_blue"]))
    assert np.abs(fixed - img).max() < 1e-4
    assert off["log_contrast"] == 0.0 and off["log_saturation"] == 0.0


@pytest.mark.skipif(not DEFAULT_METER.exists(), reason="no shipped meter")
def test_shipped_meter_on_held_out_photos(heldout_srgb, tmp_path):
    """On the five held-out photos (never trained on), 4 degradations each through a DNG: the
    meter's exposure error is well below the spread of the exposures, and its measured steps
    restore the photos better than the classical ones alone."""
    m = load()
    rng = np.random.default_rng(7)
    err, spread, with_meter, classical = [], [], [], []
    for i, orig in enumerate(heldout_srgb):
        orig = orig[: orig.shape[0] // 2 * 2, : orig.shape[1] // 2 * 2]
        for k in range(4):
            d = degrade.sample(rng)
            dng = write_dng(tmp_path / f"{i}-{k}.dng", degrade.degrade(orig, d).astype(np.float32), linear=True,
                            seed=k, preview=False)
            lin = load_photo(dng).linear
            err.append(m.predict(lin)["ev"] - train.offsets(d)[0])
            spread.append(train.offsets(d)[0])
            for out, meter in ((with_meter, m), (classical, None)):
                shown = srgb_encode(np.clip(apply_steps(lin, measured_steps(lin, meter=meter)), 0, 1))
                out.append(psnr(shown, orig))
    rmse = float(np.sqrt(np.mean(np.square(err))))
    assert rmse < 0.7 * float(np.std(spread)), (rmse, np.std(spread))
    assert np.mean(with_meter) > np.mean(classical) + 0.2, (np.mean(with_meter), np.mean(classical))
    assert np.isfinite(features(lin)).all()


@pytest.mark.skipif(not DEFAULT_METER.exists(), reason="no shipped meter")
def test_evaluate_table(tmp_path):
    from models.meter.evaluate import evaluate, markdown

    res = evaluate(load(), FIXTURES, per_photo=2, long_edge=256, log=lambda _: None)
    assert res["n_images"] == 2 * len(FIXTURES)
    assert res["ev"]["meter"] < res["ev"]["none"] and res["contrast"]["meter"] < res["contrast"]["none"]
    assert set(res["psnr"]) == {"classical steps", "Auto's steps (meter)", "(b) LibRaw"}
    table = markdown(res)
    assert "**learned meter**" in table and f"{res['psnr']['(b) LibRaw']:.2f}" in table
