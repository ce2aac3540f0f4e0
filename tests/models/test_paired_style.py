"""Styles from pairs: folders of the same photos (a photographer's RAWs and their finished exports)
pair up by file name, their views line up pixel for pixel, and ``retouch train-style`` trains on
each edit with the reconstruction reward."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from engine.batch import pair_by_name
from engine.color import srgb_decode, srgb_encode
from models.data import crops
from tests.models.test_train_style_cli import TINY_STYLE, _parse


def _save(path, srgb: np.ndarray) -> None:
    Image.fromarray((np.clip(srgb, 0, 1) * 255 + 0.5).astype(np.uint8)).save(path)


def test_pair_up_matches_names_not_extensions_and_skips_ambiguous_ones(tmp_path):
    """A camera's RAW + JPEG of one shot pairs by the RAW (it used to pair nothing, and a folder of
    them trained unpaired without a word); two files of one kind under one name pair nothing."""
    names_in = ["IMG_0001.CR2", "IMG_0002.dng", "IMG_0003.jpg", "IMG_0003.dng", "IMG_0004.jpg", "IMG_0004.png",
                "lonely.nef"]
    names_out = ["img_0001.jpg", "IMG_0002.tif", "IMG_0003.jpg", "IMG_0004.jpg", "other.jpg"]
    ins = [tmp_path / "in" / n for n in names_in]
    outs = [tmp_path / "out" / n for n in names_out]
    pairs = pair_by_name(ins, outs)
    assert [(a.name, b.name) for a, b in pairs] == [("IMG_0001.CR2", "img_0001.jpg"), ("IMG_0002.dng", "IMG_0002.tif"),
                                                    ("IMG_0003.dng", "IMG_0003.jpg")]
    assert pair_by_name(ins, ins) == []  # one folder given twice: no photo is its own edit


def test_paired_views_line_up_even_for_a_cropped_edit(tmp_path, heldout_files, heldout_srgb):
    """Each edit is its photo darkened 1 EV: every view of it is half its input's view (within the
    8-bit file's rounding), which no misaligned rectangle would be. The first two are exported at
    half size, the third cropped to a square first (found in its photo); a fourth "edit" is
    another photo under the photo's name, reported and left out."""
    ins, outs = tmp_path / "in", tmp_path / "out"
    ins.mkdir()
    outs.mkdir()
    pairs = []
    for k, (path, srgb) in enumerate(zip(heldout_files[:4], heldout_srgb[:4])):
        shutil.copy(path, ins / path.name)
        h, w = srgb.shape[:2]
        if k == 2:  # cropped: a square from the right of the frame
            srgb = srgb[h // 10: h // 10 + h * 3 // 4, w - h * 3 // 4 - 4: w - 4]
        if k == 3:  # not this photo at all
            srgb = heldout_srgb[4][:h, :w]
        edit = Image.fromarray((srgb_encode(srgb_decode(srgb) / 2) * 255 + 0.5).astype(np.uint8))
        edit.resize((edit.width // 2, edit.height // 2) if k < 2 else edit.size).save(outs / f"{path.stem}.png")
        pairs.append((ins / path.name, outs / f"{path.stem}.png"))
    said = []
    x, y = crops.paired_views(pairs, 8, tmp_path / "cache", seed=1, log=said.append)
    assert x.shape == y.shape == (24, crops.VIEW, crops.VIEW, 3)  # 3 pairs x 8 views: the other photo left out
    assert len(said) == 2 and heldout_files[3].name in said[0] and "does not line up" in said[0], said
    assert said[1].startswith(f"1 of the edits is cropped ({heldout_files[2].stem}.png)"), said
    bright = x > 0.02  # where the 8-bit rounding is small against the value (the half-size edit blurs edges)
    ratio = y[bright] / x[bright]
    assert abs(float(np.median(ratio)) - 0.5) < 0.01 and np.percentile(np.abs(ratio - 0.5), 90) < 0.1
    cropped = slice(16, 24)  # the third pair's views: the square found in its photo
    sq = bright[cropped]
    assert np.percentile(np.abs(y[cropped][sq] / x[cropped][sq] - 0.5), 90) < 0.1
    shifted = y[:, :, 4:][bright[:, :, :-4]] / x[:, :, :-4][bright[:, :, :-4]]  # 4 view pixels off
    assert np.percentile(np.abs(shifted - 0.5), 90) > 2 * np.percentile(np.abs(ratio - 0.5), 90)
    again = crops.paired_views(pairs, 8, tmp_path / "cache", seed=1, log=said.append)  # from the cache
    assert np.array_equal(again[0], x) and np.array_equal(again[1], y) and len(said) == 2


def test_paired_inputs_draw_each_crop_with_its_edits_pixels(tiny_views):
    """A pair's crop and flip take the same pixels of both: the episode's original is exactly
    the edit of what the policy sees."""
    from models.retouch.train import Inputs

    edits = np.sqrt(tiny_views)
    inputs = Inputs(tiny_views, False, np.random.default_rng(0), originals=edits)
    img, clean, _ = inputs.draw(16)
    assert clean is not None and img.shape == clean.shape == (16, 64, 64, 3)
    np.testing.assert_allclose(clean, np.sqrt(img), rtol=1e-6)
    assert Inputs(tiny_views, False, np.random.default_rng(0)).draw(4)[1] is None  # unpaired: no originals


def _pair_folders(tmp_path, heldout_files, heldout_srgb, n: int) -> tuple:
    ins, tgt = tmp_path / "before", tmp_path / "after"
    ins.mkdir()
    tgt.mkdir()
    for path, srgb in zip(heldout_files[:n], heldout_srgb[:n]):
        shutil.copy(path, ins / path.name)
        _save(tgt / f"{path.stem}.png", srgb ** 1.2)  # "the edit": darker, more contrast
    for path in heldout_files[n:]:
        shutil.copy(path, tgt / path.name)  # finished photos without a before
    return ins, tgt


@pytest.mark.parametrize("n, extra, paired", [(4, [], True), (4, ["--unpaired"], False), (3, [], False)])
def test_train_style_learns_from_pairs_when_the_names_pair(tmp_path, monkeypatch, capsys, heldout_files,
                                                          heldout_srgb, n, extra, paired):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    ins, tgt = _pair_folders(tmp_path, heldout_files, heldout_srgb, n)
    run = tmp_path / "run"
    args = _parse(["train-style", "--inputs", str(ins), "--targets", str(tgt), "--run", str(run),
                   "--iterations", "2", *TINY_STYLE, *extra])
    assert args.func(args) == 0
    err = capsys.readouterr().err
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["paired"] is paired and (cfg["recon_weight"] > 0) is paired
    assert (f"{n} photos pair up by file name: learning from each pair" in err) is paired
    # three pairs, too few: said, not silently unpaired
    assert ("only 3 photos pair up by file name (at least 4 to learn from pairs): learning the targets' look"
            in err) is (n == 3)
    log = (run / "train.log").read_text()
    views = (n if paired else len(list(ins.iterdir()))) * 8
    assert f"{views} input views, {5 * 8} target views" in log  # the critic still sees every finished photo
    lines = log.splitlines()
    gained = [float(line.split(" dB ")[1].split()[0]) for line in lines if " dB " in line and "your edits" not in line]
    assert gained and all(np.isfinite(gained))
    # a paired style is scored on its own pairs at the end, beside leaving them unedited and Default's Auto
    scored = [line for line in lines if "of its own pairs, the style's Auto comes to" in line]
    assert len(scored) == int(paired)
    if paired:
        style, unedited, default = (float(w) for w in re.findall(r"(-?\d+\.\d) dB", scored[0]))
        assert 5 < unedited < 60 and 5 < style < 60 and 5 < default < 60
        # as printed, to 0.1 dB: "21.1 dB (unedited 21.1 dB)" had warned too
        assert (style < unedited) == ("further from your edits than leaving them unedited" in err)
    from engine.runners.agent import AUTO_STRENGTH, Agent

    assert Agent("after", prefer_gpu=False).strength == (1.0 if paired else AUTO_STRENGTH)  # a paired style in full
    if paired:  # a resumed paired run needs its pairs
        for p in list(ins.iterdir())[1:]:
            p.unlink()
        args = _parse(["train-style", "--inputs", str(ins), "--targets", str(tgt), "--run", str(run),
                       "--iterations", "3", "--resume"])
        assert args.func(args) == 1
        assert "learnt from pairs" in capsys.readouterr().err


def test_a_broken_finished_photo_is_said_once(tmp_path, monkeypatch, capsys, heldout_files, heldout_srgb):
    """Its pair was skipped, and then the photo again as the critic's targets were read: "skipped
    the pair A / B" and "skipped B" for one file (QA)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    ins, tgt = _pair_folders(tmp_path, heldout_files, heldout_srgb, 5)
    broken = sorted(tgt.glob("*.png"))[0]
    broken.write_bytes(broken.read_bytes()[:2000])  # a truncated copy
    args = _parse(["train-style", "--inputs", str(ins), "--targets", str(tgt), "--run", str(tmp_path / "run"),
                   "--iterations", "2", *TINY_STYLE])
    assert args.func(args) == 0
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if broken.name in line]
    assert len(said) == 1 and said[0].startswith(f"skipped the pair {broken.stem}"), err


def test_train_style_refuses_pairs_that_the_skips_leave_too_few(tmp_path, monkeypatch, capsys, heldout_files,
                                                                heldout_srgb):
    """Four names pair, so the run is paired; one photo is broken, so three pairs are left, under
    the bar pairing was chosen by: refused with the reason and both ways out, before any training."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    ins, tgt = _pair_folders(tmp_path, heldout_files, heldout_srgb, 4)
    broken = sorted(ins.iterdir())[0]
    broken.write_bytes(broken.read_bytes()[:2000])  # a truncated copy
    run = tmp_path / "run"
    args = _parse(["train-style", "--inputs", str(ins), "--targets", str(tgt), "--run", str(run),
                   "--iterations", "2", *TINY_STYLE])
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert f"skipped the pair {broken.name}" in err
    assert "only 3 of the 4 pairs could be used (at least 4 to learn from pairs)" in err and "--unpaired" in err
    assert not run.exists()  # not even the lock's folder: it would be "a former style's files" to a rename
    args = _parse(["train-style", "--inputs", str(ins), "--targets", str(tgt), "--run", str(run),
                   "--iterations", "2", "--unpaired", *TINY_STYLE])
    assert args.func(args) == 0  # the way out it names works
