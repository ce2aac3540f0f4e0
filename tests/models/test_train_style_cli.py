"""``retouch train-style`` (trains, is interruptible, resumes, writes a usable style) and ``retouch fit``."""

from __future__ import annotations

import argparse
import re
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")

from engine.color import srgb_decode, srgb_encode
from engine.recipe import Recipe, Step
from engine.render import replay
from engine.runners.agent import Agent
from models.cli import add_subcommands


def _parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    add_subcommands(ap.add_subparsers(dest="command"))
    return ap.parse_args(argv)


def test_train_style_trains_and_resumes(tmp_path, monkeypatch, capsys, heldout_files, heldout_srgb):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    ins, tgt = tmp_path / "before", tmp_path / "after"
    ins.mkdir()
    tgt.mkdir()
    paths = heldout_files
    for p in paths[:3]:
        shutil.copy(p, ins / p.name)
    for p in paths[3:]:
        shutil.copy(p, tgt / p.name)
    run = tmp_path / "run"
    common = ["train-style", "--inputs", str(ins), "--targets", str(tgt), "--run", str(run),
              "--width", "4", "--batch", "4", "--views", "4"]
    args = _parse([*common, "--iterations", "2"])
    assert args.func(args) == 0
    style = tmp_path / "xdg" / "retouch" / "styles" / "after.onnx"
    assert style.exists() and "after.onnx" in capsys.readouterr().out
    args = _parse([*common, "--iterations", "4", "--resume"])
    assert args.func(args) == 0
    log = (run / "train.log").read_text()
    assert "resumed" in log and "iteration 2" in log and "it 4/4" in log
    agent = Agent("after", prefer_gpu=False)
    assert agent.meta["iterations"] == 4
    linear = srgb_decode(heldout_srgb[0])
    proxy, pre = agent.start(linear)
    episode = agent.run_proxy(proxy[None], agent._masks(1, None), agent._used(pre), keep_noops=True)[0]
    assert len(episode) == 5 and all(s.probs for s in episode)  # the style runs the 5-step loop
    # after 4 iterations from a near-identity start, Auto keeps those of the same steps that change a pixel
    kept = [s for s in agent.predict(linear, strength=1.0) if s.probs]
    assert kept == [s for s in episode if s in kept]


def test_fit_command_writes_recipe(tmp_path, capsys, heldout_srgb):
    from engine.io import write_image

    before = heldout_srgb[3]  # colourful: saturation matters there
    known = Recipe([Step("exposure", {"ev": -0.5}), Step("saturation", {"amount": 0.6})])
    after = srgb_encode(replay(known, srgb_decode(before)))
    write_image(tmp_path / "before.png", before, fmt="png")
    write_image(tmp_path / "after.png", after, fmt="png")
    out = tmp_path / "r.json"
    args = _parse(["fit", str(tmp_path / "before.png"), str(tmp_path / "after.png"), "-o", str(out)])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    assert "remaining error" in captured.out and "dB" in captured.out
    assert re.search(r"1\. Exposure: ev -0\.\d\d\n  2\. Saturation: amount \d", captured.out)  # readable steps
    assert "forward search: exposure" in captured.err and "joint search" in captured.err  # progress
    got = Recipe.load(out)
    assert [s.op for s in got] == ["exposure", "saturation"]
    assert abs(got.steps[0].params["ev"] + 0.5) < 0.05
    assert np.isfinite(got.steps[1].params["amount"])


def test_fit_command_cancelled_writes_nothing(tmp_path, monkeypatch, capsys, heldout_srgb):
    """Ctrl-C during the fit (tens of seconds) ends with a message and exit 130, and no recipe."""
    from engine.io import write_image
    from models.retouch import fit as fit_mod

    write_image(tmp_path / "before.png", heldout_srgb[0], fmt="png")
    write_image(tmp_path / "after.png", heldout_srgb[0], fmt="png")

    def interrupted(*args, **kwargs):
        kwargs["log"]("forward search: exposure (30.0 dB)")
        raise KeyboardInterrupt

    monkeypatch.setattr(fit_mod, "fit", interrupted)
    out = tmp_path / "r.json"
    args = _parse(["fit", str(tmp_path / "before.png"), str(tmp_path / "after.png"), "-o", str(out)])
    assert args.func(args) == 130
    assert "cancelled" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["after.png", "before.png"]  # no recipe, no temp file


def test_fit_command_refuses_to_overwrite_its_inputs_before_fitting(tmp_path, monkeypatch, capsys, heldout_srgb):
    """-o naming BEFORE or AFTER, or a missing folder, is refused up front: the photo is intact."""
    from engine.io import write_image
    from models.retouch import fit as fit_mod

    write_image(tmp_path / "before.png", heldout_srgb[0], fmt="png")
    write_image(tmp_path / "after.png", heldout_srgb[0], fmt="png")
    original = (tmp_path / "before.png").read_bytes()
    monkeypatch.setattr(fit_mod, "fit", lambda *a, **k: pytest.fail("fit ran"))
    for out, why in ((tmp_path / "before.png", "refusing to overwrite the input"),
                     (tmp_path / "after.png", "refusing to overwrite the input"),
                     (tmp_path / "nodir" / "r.json", "does not exist")):
        args = _parse(["fit", str(tmp_path / "before.png"), str(tmp_path / "after.png"), "-o", str(out)])
        assert args.func(args) == 1
        err = capsys.readouterr().err
        assert err.startswith("retouch fit: error: ") and why in err
    assert (tmp_path / "before.png").read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["after.png", "before.png"]


def test_train_style_reads_raw_skips_broken_files_and_refuses_empty_folders(tmp_path, monkeypatch, capsys,
                                                                            heldout_files, dng_file):
    """A photographer's folders hold RAW files and the odd broken one: the RAW is trained on (its
    views count), the broken file is named and skipped, and an empty folder is a clear error."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    ins, tgt, empty = tmp_path / "before", tmp_path / "after", tmp_path / "empty"
    for d in (ins, tgt, empty):
        d.mkdir()
    for p in heldout_files[:3]:
        shutil.copy(p, ins / p.name)
    shutil.copy(dng_file, ins / "IMG_0001.dng")
    (ins / "broken.nef").write_bytes(b"not a raw file" * 100)
    for p in heldout_files[3:]:
        shutil.copy(p, tgt / p.name)
    run = tmp_path / "run"
    common = ["--width", "4", "--batch", "4", "--views", "4", "--run", str(run), "--iterations", "2"]
    args = _parse(["train-style", "--inputs", str(ins), "--targets", str(tgt), *common])
    assert args.func(args) == 0
    err = capsys.readouterr().err
    assert err.count("skipped broken.nef") == 1, err
    assert "32 input views" in (run / "train.log").read_text()  # 4 photos x 8 views: the DNG is in

    args = _parse(["train-style", "--inputs", str(empty), "--targets", str(tgt), *common])
    assert args.func(args) == 2
    assert f"error: no photos in {empty}" in capsys.readouterr().err
