"""``retouch train-style`` (trains, is interruptible, resumes, writes a usable style) and ``retouch fit``."""

from __future__ import annotations

import argparse
import re
import shutil

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from engine.color import srgb_decode, srgb_encode
from engine.recipe import Recipe, Step
from engine.render import replay
from engine.runners import agent as agent_mod
from engine.runners.agent import Agent, apply_steps
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
              "--width", "4", "--batch", "4", "--views", "8"]
    args = _parse([*common, "--iterations", "2"])
    assert args.func(args) == 0
    style = tmp_path / "xdg" / "retouch" / "styles" / "after.onnx"
    said = capsys.readouterr()
    assert style.exists() and "after.onnx" in said.out
    # few finished photos and a short training are said, each once
    n = len(paths[3:])
    assert said.err.count(f"note: {n} finished photos: a style learns its look from what they share") == 1
    assert said.err.count("note: a short training (2 iterations): the style may add few or odd steps; "
                          "continue it towards 2000") == 1
    import onnx

    stored = {i.data_type for i in onnx.load(str(style)).graph.initializer}
    assert onnx.TensorProto.FLOAT16 in stored  # the weights stored in fp16, as the shipped model's
    import models.cli

    monkeypatch.setattr(models.cli, "FEW_PHOTOS", n)  # as many as the bars: no note
    monkeypatch.setattr(models.cli, "SHORT_TRAINING", 4)
    args = _parse([*common, "--iterations", "4", "--resume"])
    assert args.func(args) == 0
    assert "note:" not in capsys.readouterr().err
    log = (run / "train.log").read_text()
    assert "resumed" in log and "iteration 2" in log and "it 4/4" in log
    agent = Agent("after", prefer_gpu=False)
    assert agent.meta["iterations"] == 4
    # white balance v2 only widened the photographer's range: the style records v1's math and
    # mapping, so a Retouch before v2 still runs it (it refused it as "trained by a newer Retouch")
    assert agent.meta["filter_versions"]["white_balance"] == 1
    from dataclasses import replace as replaced

    from engine.filters import REGISTRY

    monkeypatch.setitem(REGISTRY, "white_balance", replaced(REGISTRY["white_balance"], version=1, network_version=None))
    assert Agent("after", prefer_gpu=False).meta["iterations"] == 4
    monkeypatch.undo()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    linear = srgb_decode(heldout_srgb[0])
    proxy, pre, _ = agent.start(linear)
    episode = agent.run_proxy(proxy[None], agent._masks(1, None), agent._used(pre), keep_noops=True)[0]
    assert len(episode) == 5 and all(s.probs for s in episode)  # the style runs the 5-step loop
    # Auto at strength 1 keeps exactly the episode's steps that move NOOP_SHARE of the proxy's pixels
    # by the no-op level on the display, each measured on the image the steps before it made. After
    # 4 iterations from a near-identity start none moves 2/255 here (at most ~0.2/255), so also at a
    # level between the least and the most a step moves: there some are kept and some left out.
    img, moved = proxy, []
    for step in episode:
        new = apply_steps(img, [step])
        shift = np.abs(srgb_encode(np.clip(new, 0, 1)) - srgb_encode(np.clip(img, 0, 1))).max(-1)
        moved.append(np.percentile(shift, 100 * (1 - agent_mod.NOOP_SHARE), method="higher"))
        img = new
    for level in (agent_mod.NOOP_LEVEL, (min(moved) + max(moved)) / 2):
        monkeypatch.setattr(agent_mod, "NOOP_LEVEL", level)  # a module global: run_proxy reads it per call
        kept = [s for s in agent.predict(linear, strength=1.0) if s.probs]
        assert kept == [s for s, m in zip(episode, moved) if m >= level], (level, moved)
    assert 0 < len(kept) < len(episode)


def test_fit_command_writes_recipe(tmp_path, capsys, heldout_srgb):
    from engine.io import write_image

    before = heldout_srgb[3]  # colourful: saturation matters there
    known = Recipe([Step("exposure", {"ev": -0.5}), Step("saturation", {"amount": 0.6})])
    after = srgb_encode(replay(known, srgb_decode(before)))
    h, w = after.shape[:2]
    after = after[h // 8: h // 8 + h * 2 // 3, w // 3: w // 3 + h * 2 // 3]  # the export was cropped square
    write_image(tmp_path / "before.png", before, fmt="png")
    write_image(tmp_path / "after.png", after, fmt="png")
    out = tmp_path / "r.json"
    args = _parse(["fit", str(tmp_path / "before.png"), str(tmp_path / "after.png"), "-o", str(out)])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    assert "after.png is a crop of before.png" in captured.err and "fitting on that part" in captured.err
    psnr = re.search(r"remaining error: RMSE [\d.]+ \(([\d.]+) dB PSNR; before fitting [\d.]+ dB\)", captured.out)
    assert psnr and float(psnr[1]) > 50, captured.out  # measured 59.3 dB: the known recipe, found again
    assert re.search(r"1\. Exposure: ev -0\.\d\d\n  2\. Saturation: amount \d", captured.out)  # readable steps
    assert "forward search: Exposure" in captured.err and "joint search" in captured.err  # progress, named as the cards
    got = Recipe.load(out)
    assert [s.op for s in got] == ["exposure", "saturation"]
    assert abs(got.steps[0].params["ev"] + 0.5) < 0.05
    assert abs(got.steps[1].params["amount"] - 0.6) < 0.03  # measured 0.5998


def test_fit_takes_an_export_resized_to_other_proportions_as_the_whole_photo(tmp_path, capsys, heldout_srgb):
    """An export "to 1000 x 640" of a 3:2 photo was fitted as a crop a few pixels inside the frame
    (its pixels a few per cent off theirs), and lost its saturation step without a word."""
    from engine.io import write_image
    from engine.render import resize_linear

    before = heldout_srgb[3]
    known = Recipe([Step("exposure", {"ev": -0.5}), Step("saturation", {"amount": 0.6})])
    after = srgb_encode(replay(known, srgb_decode(before)))
    h, w = after.shape[:2]
    squeezed = srgb_encode(resize_linear(srgb_decode(after), round(w * 0.75 * 1.04), round(h * 0.75)))
    write_image(tmp_path / "before.png", before, fmt="png")
    write_image(tmp_path / "after.png", squeezed, fmt="png")
    out = tmp_path / "r.json"
    args = _parse(["fit", str(tmp_path / "before.png"), str(tmp_path / "after.png"), "-o", str(out)])
    assert args.func(args) == 0
    err = capsys.readouterr().err
    assert "after.png is the whole of before.png resized to other proportions" in err and "crop" not in err
    got = Recipe.load(out)
    assert [s.op for s in got] == ["exposure", "saturation"]
    assert abs(got.steps[0].params["ev"] + 0.5) < 0.05 and abs(got.steps[1].params["amount"] - 0.6) < 0.05


def test_fit_says_when_no_global_look_gets_close(tmp_path, capsys, heldout_srgb):
    """A look with a vignette and a channel swap was fitted to 20.8 dB without a word: a photographer
    could not tell a rough match from a close one."""
    from engine.io import write_image

    before = heldout_srgb[3]
    h, w = before.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    vignette = 1 - 0.8 * (((yy - h / 2) / h) ** 2 + ((xx - w / 2) / w) ** 2)[..., None] * 4
    after = np.clip(before[..., ::-1] * vignette, 0, 1)  # red and blue swapped, corners darkened
    write_image(tmp_path / "before.png", before, fmt="png")
    write_image(tmp_path / "after.png", after, fmt="png")
    args = _parse(["fit", str(tmp_path / "before.png"), str(tmp_path / "after.png"), "-o", str(tmp_path / "r.json")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    psnr = float(re.search(r"\(([\d.]+) dB PSNR", out)[1])
    assert psnr < 28 and "rough match: after.png may hold what these filters cannot do" in out, out


def test_train_style_refuses_one_folder_twice_and_resume_with_replace(tmp_path, capsys, heldout_files):
    d = tmp_path / "photos"
    d.mkdir()
    for p in heldout_files[:4]:
        shutil.copy(p, d / p.name)
    args = _parse(["train-style", "--inputs", str(d), "--targets", str(d) + "/", "-o", str(tmp_path / "s.onnx")])
    assert args.func(args) == 1 and "are the same folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parse(["train-style", "--inputs", str(d), "--targets", str(tmp_path), "--resume", "--replace"])
    assert "not allowed with argument --resume" in capsys.readouterr().err


def test_fit_command_refuses_another_photo(tmp_path, capsys, heldout_srgb):
    """AFTER must show BEFORE (any size, cropped or not): another photo, or BEFORE turned upside
    down, is one clear error before any fitting, and nothing is written."""
    from engine.io import write_image

    write_image(tmp_path / "before.png", heldout_srgb[0], fmt="png")
    write_image(tmp_path / "other.png", heldout_srgb[1], fmt="png")
    write_image(tmp_path / "turned.png", heldout_srgb[0][::-1, ::-1], fmt="png")
    for after in ("other.png", "turned.png"):
        args = _parse(["fit", str(tmp_path / "before.png"), str(tmp_path / after), "-o", str(tmp_path / "r.json")])
        assert args.func(args) == 1
        assert f"{after} does not show before.png" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_fit_command_fits_one_recipe_to_several_pairs(tmp_path, capsys, heldout_srgb):
    """One photo can leave a look undetermined (nearly one hue: a warmer white balance or more
    saturation); several pairs of one look pin it down. Each pair is aligned and reported, a
    second pair's problem names its file, and an odd photo out is a usage error before any work."""
    from engine.io import write_image

    known = Recipe([Step("white_balance", {"green": 1.0, "blue": 0.8}), Step("saturation", {"amount": 0.4})])
    for i, k in ((0, 1), (3, 2)):
        write_image(tmp_path / f"b{k}.png", heldout_srgb[i], fmt="png")
        after = srgb_encode(replay(known, srgb_decode(heldout_srgb[i])))
        write_image(tmp_path / f"a{k}.png", after[: after.shape[0] * 3 // 4] if k == 2 else after, fmt="png")
    out = tmp_path / "r.json"
    photos = [str(tmp_path / n) for n in ("b1.png", "a1.png", "b2.png", "a2.png")]
    args = _parse(["fit", *photos, "-o", str(out)])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    assert "a2.png is a crop of b2.png" in captured.err
    lines = re.findall(r"  (b\d\.png) -> (a\d\.png): ([\d.]+) dB", captured.out)
    assert [(b, a) for b, a, _ in lines] == [("b1.png", "a1.png"), ("b2.png", "a2.png")], captured.out
    assert all(float(db) > 45 for *_, db in lines), captured.out
    got = Recipe.load(out)
    assert [s.op for s in got] == ["white_balance", "saturation"], got.dumps()
    assert abs(got.steps[0].params["blue"] - 0.8) < 0.03 and abs(got.steps[1].params["amount"] - 0.4) < 0.03
    # a second pair that is not one: skipped and named, the rest fitted (it sank the whole fit); an
    # unpaired photo: refused before anything is read
    args = _parse(["fit", *photos[:3], photos[1], "-o", str(tmp_path / "x.json")])
    assert args.func(args) == 0
    assert "skipped b2.png -> a1.png: a1.png does not show b2.png" in capsys.readouterr().err
    assert [s.op for s in Recipe.load(tmp_path / "x.json")] == ["white_balance", "saturation"]
    (tmp_path / "x.json").unlink()
    args = _parse(["fit", *photos[:3], "-o", str(tmp_path / "x.json")])
    assert args.func(args) == 2
    assert "give photos in pairs, BEFORE AFTER: b2.png has no AFTER" in capsys.readouterr().err
    args = _parse(["fit", *photos[:3], photos[2], "-o", str(tmp_path / "x.json")])
    assert args.func(args) == 2
    assert "b2.png is given as both BEFORE and AFTER of one pair" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(SystemExit):  # a lone BEFORE: argparse names only the AFTER missing, as before
        _parse(["fit", photos[0], "-o", str(tmp_path / "x.json")])
    assert "the following arguments are required: AFTER\n" in capsys.readouterr().err


def test_fit_command_pairs_two_folders_by_name(tmp_path, capsys, heldout_srgb):
    """``retouch fit RAWS/ EDITS/``: the photos pair by file name, as train-style pairs them; a pair
    that does not line up is skipped and said, and the rest fitted; a folder with a file is a
    usage error."""
    from engine.io import write_image

    known = Recipe([Step("exposure", {"ev": 0.4}), Step("white_balance", {"green": 1.0, "blue": 0.85})])
    shot, done = tmp_path / "shot", tmp_path / "done"
    shot.mkdir()
    done.mkdir()
    for i, name in ((0, "IMG_1"), (3, "IMG_2"), (1, "IMG_3")):
        write_image(shot / f"{name}.png", heldout_srgb[i], fmt="png")
        shown = heldout_srgb[2 if name == "IMG_3" else i]  # IMG_3's "edit" is of another photo
        edit = srgb_encode(replay(known, srgb_decode(shown)))
        write_image(done / f"{name}.jpg", edit, fmt="jpeg", quality=95)
    write_image(done / "IMG_9.jpg", heldout_srgb[4], fmt="jpeg")  # no photo of that name: not a pair
    write_image(shot / "IMG_4.png", heldout_srgb[4], fmt="png")
    (done / "IMG_4.jpg").write_bytes(b"\xff\xd8 not a whole JPEG")
    out = tmp_path / "look.json"
    args = _parse(["fit", str(shot), str(done), "-o", str(out)])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    assert "skipped IMG_3.png -> IMG_3.jpg: IMG_3.jpg does not show IMG_3.png" in captured.err
    broken = next(line for line in captured.err.splitlines() if line.startswith("skipped IMG_4.png -> IMG_4.jpg: "))
    assert broken.count("IMG_4.jpg") == 1, broken  # its name once ("IMG_4.jpg: IMG_4.jpg: …")
    assert re.findall(r"  (\S+) -> (\S+): [\d.]+ dB", captured.out) == [("IMG_1.png", "IMG_1.jpg"),
                                                                       ("IMG_2.png", "IMG_2.jpg")]
    got = Recipe.load(out)
    assert [s.op for s in got] == ["exposure", "white_balance"], got.dumps()
    assert abs(got.steps[0].params["ev"] - 0.4) < 0.05 and abs(got.steps[1].params["blue"] - 0.85) < 0.03
    args = _parse(["fit", str(shot), str(done / "IMG_1.jpg"), "-o", str(tmp_path / "x.json")])
    assert args.func(args) == 2
    assert "give two folders, BEFORE AFTER, or photos in pairs" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    args = _parse(["fit", str(shot), str(tmp_path / "empty"), "-o", str(tmp_path / "x.json")])
    assert args.func(args) == 1
    assert "no photo in" in capsys.readouterr().err and not (tmp_path / "x.json").exists()
    args = _parse(["fit", str(shot), str(shot), "-o", str(tmp_path / "x.json")])
    assert args.func(args) == 1  # said as the slip it is, not as "no photo in SHOT has the name of one in SHOT"
    assert "is given as both BEFORE and AFTER" in capsys.readouterr().err


def test_fit_command_cancelled_writes_nothing(tmp_path, monkeypatch, capsys, heldout_srgb):
    """Ctrl-C during the fit (tens of seconds) ends with a message and exit 130, and no recipe."""
    from engine.io import write_image
    from models.retouch import fit as fit_mod

    write_image(tmp_path / "before.png", heldout_srgb[0], fmt="png")
    write_image(tmp_path / "after.png", heldout_srgb[0], fmt="png")

    def interrupted(*args, **kwargs):
        kwargs["log"]("forward search: exposure (30.0 dB)")
        raise KeyboardInterrupt

    monkeypatch.setattr(fit_mod, "fit_pairs", interrupted)
    out = tmp_path / "r.json"
    args = _parse(["fit", str(tmp_path / "before.png"), str(tmp_path / "after.png"), "-o", str(out)])
    assert args.func(args) == 130
    assert "cancelled" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["after.png", "before.png"]  # no recipe, no temp file


def test_fit_leaves_the_transparent_pixels_of_an_export_out(tmp_path, capsys, heldout_srgb):
    """A PNG whose top rows are transparent (black beneath): the look is found from the opaque
    pixels. They were fitted as picture: Exposure -1.92 at 12.5 dB, for a look of -0.5 EV."""

    from engine.io import write_image

    before = heldout_srgb[3]
    known = Recipe([Step("exposure", {"ev": -0.5}), Step("saturation", {"amount": 0.6})])
    after = np.clip(srgb_encode(replay(known, srgb_decode(before))), 0, 1)
    rgba = np.dstack([(after * 255 + 0.5).astype(np.uint8), np.full(after.shape[:2], 255, np.uint8)])
    rows = after.shape[0] // 4
    rgba[:rows] = 0  # transparent and black
    write_image(tmp_path / "before.png", before, fmt="png")
    Image.fromarray(rgba, "RGBA").save(tmp_path / "after.png")
    args = _parse(["fit", str(tmp_path / "before.png"), str(tmp_path / "after.png"), "-o", str(tmp_path / "r.json")])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    assert "after.png: its transparent pixels (25%) are left out of the fit" in captured.err
    got = Recipe.load(tmp_path / "r.json")
    assert [s.op for s in got] == ["exposure", "saturation"], got.dumps()
    assert abs(got.steps[0].params["ev"] + 0.5) < 0.05
    rgba[:, :, 3] = 0  # nothing opaque: no finished photo
    Image.fromarray(rgba, "RGBA").save(tmp_path / "after.png")
    assert args.func(args) == 1
    assert "after.png is transparent almost everywhere (0% of it is opaque" in capsys.readouterr().err
    # a fine pattern: half opaque in the file, none where it is compared (half size): one line, no traceback
    big = np.repeat(np.repeat(rgba, 2, 0), 2, 1)
    big[..., 3] = np.where((np.indices(big.shape[:2]).sum(0) % 2) == 0, 255, 0)
    Image.fromarray(big, "RGBA").save(tmp_path / "after.png")
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "its transparent pixels (50%) are left out" in err
    assert f"after.png is transparent almost everywhere (0% of it is opaque at the size it is compared at, " \
           f"{after.shape[1]} x {after.shape[0]})" in err


def test_fit_command_refuses_to_overwrite_its_inputs_before_fitting(tmp_path, monkeypatch, capsys, heldout_srgb):
    """-o naming BEFORE or AFTER, or a missing folder, is refused up front: the photo is intact."""
    from engine.io import write_image
    from models.retouch import fit as fit_mod

    write_image(tmp_path / "before.png", heldout_srgb[0], fmt="png")
    write_image(tmp_path / "after.png", heldout_srgb[0], fmt="png")
    original = (tmp_path / "before.png").read_bytes()
    monkeypatch.setattr(fit_mod, "fit_pairs", lambda *a, **k: pytest.fail("fit ran"))
    for out, why in ((tmp_path / "before.png", "refusing to overwrite the input"),
                     (tmp_path / "after.png", "refusing to overwrite the input"),
                     (tmp_path / "nodir" / "r.json", "does not exist"),
                     (tmp_path / "before.png" / "r.json", f"{tmp_path / 'before.png'} is a file, not a folder")):
        args = _parse(["fit", str(tmp_path / "before.png"), str(tmp_path / "after.png"), "-o", str(out)])
        assert args.func(args) == 1
        err = capsys.readouterr().err
        assert err.startswith("retouch fit: error: ") and why in err
    # a folder that cannot be written: found before the fit, naming it (root writes anywhere: faked)
    import engine.atomic

    real = engine.atomic.tempfile.TemporaryFile

    def denied(*a, **k):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(engine.atomic.tempfile, "TemporaryFile", denied)
    args = _parse(["fit", str(tmp_path / "before.png"), str(tmp_path / "after.png"), "-o", str(tmp_path / "r.json")])
    assert args.func(args) == 1
    assert (f"retouch fit: error: cannot write to {tmp_path} (Operation not permitted); choose another folder "
            "for r.json") in capsys.readouterr().err
    monkeypatch.setattr(engine.atomic.tempfile, "TemporaryFile", real)
    assert (tmp_path / "before.png").read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["after.png", "before.png"]
    # the same photo twice: nothing to fit, said so
    monkeypatch.undo()
    args = _parse(["fit", str(tmp_path / "before.png"), str(tmp_path / "after.png"), "-o", str(tmp_path / "r.json")])
    assert args.func(args) == 0
    assert "no steps: the two already match" in capsys.readouterr().out
    assert len(Recipe.load(tmp_path / "r.json")) == 0


def test_train_style_reads_raw_skips_broken_files_and_refuses_empty_folders(tmp_path, monkeypatch, capsys,
                                                                            heldout_files, dng_file):
    """A photographer's folders hold RAW files and the odd broken one: the RAW is trained on (its
    views count), the broken file and a thumbnail are named and skipped, a small photo (under the
    80-pixel views) is used, and an empty folder is a clear error."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    ins, tgt, empty = tmp_path / "before", tmp_path / "after", tmp_path / "empty"
    for d in (ins, tgt, empty):
        d.mkdir()
    for p in heldout_files[:3]:
        shutil.copy(p, ins / p.name)
    shutil.copy(dng_file, ins / "IMG_0001.dng")
    (ins / "broken.nef").write_bytes(b"not a raw file" * 100)
    photo = np.asarray(Image.open(heldout_files[0]).convert("RGB"))
    Image.fromarray(photo[::16, ::16][:20, :20]).save(ins / "thumb.png")
    Image.fromarray(photo[:60, :70]).save(ins / "small.png")
    for p in heldout_files[3:]:
        shutil.copy(p, tgt / p.name)
    run = tmp_path / "run"
    common = ["--width", "4", "--batch", "4", "--views", "8", "--run", str(run), "--iterations", "2"]
    args = _parse(["train-style", "--inputs", str(ins), "--targets", str(tgt), *common])
    assert args.func(args) == 0
    err = capsys.readouterr().err
    assert err.count("skipped broken.nef") == 1, err
    assert "skipped thumb.png: too small to learn from (20 x " in err, err
    assert "small.png" not in err, err
    assert "40 input views" in (run / "train.log").read_text()  # 5 photos x 8 views: the DNG is in

    args = _parse(["train-style", "--inputs", str(empty), "--targets", str(tgt), "--replace", *common])
    assert args.func(args) == 1
    assert capsys.readouterr().err.splitlines()[-1] == f"retouch train-style: error: no photos in {empty}"
    # an empty targets folder: the error alone, not first a note on "0 finished photos"
    args = _parse(["train-style", "--inputs", str(ins), "--targets", str(empty), "--replace", *common])
    assert args.func(args) == 1
    assert capsys.readouterr().err.splitlines() == [f"retouch train-style: error: no photos in {empty}"]


@pytest.fixture
def folders(tmp_path, monkeypatch, heldout_files) -> tuple:
    """BEFORE and AFTER folders of fixture photos; styles and runs under a private XDG_DATA_HOME."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    ins, tgt = tmp_path / "before", tmp_path / "after"
    for d, photos in ((ins, heldout_files[:3]), (tgt, heldout_files[3:])):
        d.mkdir()
        for p in photos:
            shutil.copy(p, d / p.name)
    return ins, tgt


TINY_STYLE = ["--width", "4", "--batch", "4", "--views", "8"]


def _train_style(folders, *argv: str) -> int:
    args = _parse(["train-style", "--inputs", str(folders[0]), "--targets", str(folders[1]), *argv])
    return args.func(args)


def test_train_style_trains_as_the_agent_runs_it_at_the_shipped_width(folders, tmp_path, monkeypatch):
    """The style's inputs go through the measured steps the Agent starts with (its learned meter
    and colour constancy), at the shipped model's width, with the run beside the styles (not in
    the current folder), and the model says so."""
    import json

    from engine.runners.agent import style_run_dir
    from models.retouch.train import SHIPPED_WIDTH

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert _train_style(folders, "--iterations", "1", "--batch", "2", "--views", "8") == 0
    assert list(cwd.iterdir()) == []  # no ./runs/style-after
    run = style_run_dir("after")
    assert run == tmp_path / "xdg" / "retouch" / "runs" / "style-after" and (run / "checkpoint.pt").exists()
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["width"] == SHIPPED_WIDTH == 8
    assert cfg["views_per_photo"] == 8  # what was asked, not the trainer's default 160
    assert (cfg["auto_exposure"], cfg["auto_white_balance"], cfg["meter"], cfg["constancy"]) == (True,) * 4
    agent = Agent("after", prefer_gpu=False)
    assert agent.meta["width"] == 8 and agent.meta["pre_step_used"] is True
    assert agent.meta["pre_steps"] == {"auto_exposure": True, "auto_white_balance": True, "meter": True,
                                       "constancy": True}
    assert agent.meter is not None and agent.constancy is not None  # what it was trained on is what runs


def test_resume_keeps_the_runs_settings_and_refuses_what_it_cannot_continue(folders, tmp_path, capsys):
    """--resume: no checkpoint is an error (not a fresh start); the checkpoint's width wins over a
    different --width (no size mismatch); --iterations at or below where it is writes nothing."""
    import json

    run = tmp_path / "run"
    style = tmp_path / "xdg" / "retouch" / "styles" / "after.onnx"
    assert _train_style(folders, "--run", str(run), "--resume", "--iterations", "2", *TINY_STYLE) == 1
    err = capsys.readouterr().err
    assert err == f"retouch train-style: error: --resume: no checkpoint in {run}; start without --resume\n"
    assert not style.exists() and not (run / "checkpoint.pt").exists()

    assert _train_style(folders, "--run", str(run), "--iterations", "2", *TINY_STYLE) == 0
    capsys.readouterr()
    ck, model = (run / "checkpoint.pt").read_bytes(), style.read_bytes()
    for its, past in (("2", ""), ("1", ", past --iterations 1")):
        assert _train_style(folders, "--run", str(run), "--resume", "--iterations", its) == 1
        err = capsys.readouterr().err
        assert err == (f"retouch train-style: error: --resume: the run in {run} is already at iteration 2{past}; "
                       "give --iterations above 2 to train it further\n")
        assert (run / "checkpoint.pt").read_bytes() == ck and style.read_bytes() == model  # nothing rewritten

    assert _train_style(folders, "--run", str(run), "--resume", "--iterations", "3", "--width", "8",
                        "--views", "8") == 0
    err = capsys.readouterr().err
    assert "ignoring --width 8 (the run's is 4)" in err and "--views" not in err.split("note:")[1]
    assert json.loads((run / "config.json").read_text())["width"] == 4
    agent = Agent("after", prefer_gpu=False)
    assert agent.meta["width"] == 4 and agent.meta["iterations"] == 3


def test_interrupted_run_prints_a_command_that_continues_it(folders, tmp_path, monkeypatch, capsys):
    """Ctrl-C at iteration 1 of a run in a non-default folder with non-default settings: the
    printed command, run as it is, resumes that run at iteration 1."""
    import shlex
    import signal

    from models import cli

    run = tmp_path / "my run"  # a space: the command must quote it
    bar_call = cli._Bar.__call__

    def ctrl_c_at_1(self, it, total, elapsed):
        bar_call(self, it, total, elapsed)
        if it == 1:
            signal.raise_signal(signal.SIGINT)  # the trainer's handler: finish the iteration, save

    monkeypatch.setattr(cli._Bar, "__call__", ctrl_c_at_1)
    assert _train_style(folders, "--run", str(run), "--iterations", "3", *TINY_STYLE) == 130
    out = capsys.readouterr().out
    assert "interrupted at iteration 1/3" in out
    command = shlex.split(out.split("continue with: ")[1])
    assert command[:2] == ["retouch", "train-style"] and "--resume" in command
    monkeypatch.setattr(cli._Bar, "__call__", bar_call)
    args = _parse(command[1:])
    assert (args.run, args.width, args.batch, args.views, args.iterations) == (run, 4, 4, 8, 3)
    assert args.func(args) == 0
    log = (run / "train.log").read_text()
    assert f"resumed {run / 'checkpoint.pt'} at iteration 1" in log and "it 3/3" in log


def test_ctrl_c_before_the_first_iteration_writes_no_style(folders, tmp_path, monkeypatch, capsys):
    """An untrained policy is no style: the warm-up's Ctrl-C leaves no .onnx and no checkpoint."""
    import signal

    from models.retouch.train import Trainer

    orig = Trainer.warm_up

    def ctrl_c(self):
        signal.raise_signal(signal.SIGINT)
        orig(self)

    monkeypatch.setattr(Trainer, "warm_up", ctrl_c)
    run, out = tmp_path / "run", tmp_path / "mine.onnx"
    assert _train_style(folders, "--run", str(run), "-o", str(out), "--iterations", "3", *TINY_STYLE) == 130
    assert "interrupted before the first iteration: nothing saved" in capsys.readouterr().out
    assert not out.exists() and not (run / "checkpoint.pt").exists()
    monkeypatch.setattr(Trainer, "warm_up", orig)  # the same command again starts afresh, unrefused
    assert _train_style(folders, "--run", str(run), "-o", str(out), "--iterations", "1", *TINY_STYLE) == 0
    assert out.exists()


@pytest.mark.parametrize("argv, status, message", [
    (["--iterations", "0"], 2, "--iterations must be at least 1 (got 0)"),
    (["--iterations", "-5"], 2, "--iterations must be at least 1 (got -5)"),
    (["--batch", "0"], 2, "--batch must be at least 1 (got 0)"),
    (["--width", "0"], 2, "--width must be at least 1 (got 0)"),
    (["--width", "100000"], 2, "--width must be at most 64 (a style 64 times the shipped model's 2.6 MB; got 100000)"),
    (["--batch", "100000000"], 2, "--batch must be at most 1024 (episodes an iteration; got 100000000)"),
    (["--views", "7"], 2, "--views must be at least 8 (got 7)"),
    (["--inputs", "nowhere"], 1, "nowhere is not a folder"),
    (["-o", "/nonexistent-retouch/style.onnx"], 1, "folder /nonexistent-retouch does not exist"),
])
def test_bad_options_are_one_error_line_and_write_nothing(folders, tmp_path, capsys, argv, status, message):
    """As the engine's commands: ``retouch train-style: error: ...`` on stderr, exit status 2 for
    an option that cannot work and 1 for a folder that cannot be used, before any view is
    prepared (no model, no run folder)."""
    run = tmp_path / "run"
    assert _train_style(folders, "--run", str(run), *argv) == status
    assert capsys.readouterr().err == f"retouch train-style: error: {message}\n"
    assert not run.exists() and not (tmp_path / "xdg").exists()


def test_eta_extrapolates_the_recent_rate_not_the_warm_up(capsys):
    """The first 5 iterations train the critic 30 times (~3.2 s each), the rest twice (~0.45 s):
    at 1/200 a rate from the start said 10 minutes for a run of about 1.5. The ETA must be near
    the truth from the first line on, and its lines must stay the dialog's format."""
    from models.cli import _Bar
    from models.retouch.train import Config, critic_steps, work

    cfg, total = Config(iterations=200), 200
    seconds = [0.24 + 0.1 * critic_steps(cfg, i) for i in range(total)]  # as measured, one torch thread
    bar = _Bar(lambda start, end: work(cfg, start, end))
    assert not bar.tty  # captured: a line per 1 %
    elapsed = 0.0
    bar(0, total, elapsed)
    for it in range(1, total + 1):
        elapsed += seconds[it - 1]
        bar(it, total, elapsed)
    lines = capsys.readouterr().err.splitlines()
    pattern = re.compile(r"\] (\d+)/(\d+) +[\d.]+% elapsed (\S+) eta (\d+):(\d\d):(\d\d)$")  # the dialog's PROGRESS
    assert len(lines) == 101 and all(pattern.search(line) for line in lines)
    for line in lines:
        m = pattern.search(line)
        it, eta = int(m[1]), 3600 * int(m[4]) + 60 * int(m[5]) + int(m[6])
        truth = sum(seconds[it:])
        assert abs(eta - truth) <= 0.15 * truth + 1, line  # 1 s: the display's resolution


def test_eta_leaves_out_a_slow_start(capsys):
    """On a loaded machine the first iterations took 30-130 s (torch's first allocations), the rest
    about 1 s: a 40-iteration run said 3:17 left at 10/40 for 0:27."""
    from models.cli import _Bar

    seconds = [90.0, 60.0] + [1.0] * 38
    bar, elapsed = _Bar(), 0.0
    bar(0, 40, elapsed)
    for it in range(1, 41):
        elapsed += seconds[it - 1]
        bar(it, 40, elapsed)
        if it >= 3:
            assert abs(bar.eta(it, 40) - sum(seconds[it:])) <= 1, it
    capsys.readouterr()


def test_train_style_help_documents_every_training_option(capsys):
    """--iterations, --batch, --width, --views each say what they are and their real default and limits."""
    from models.data.crops import MAX_VIEWS, MIN_VIEWS
    from models.retouch.train import SHIPPED_WIDTH

    with pytest.raises(SystemExit):
        _parse(["train-style", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for part in ("--iterations ITERATIONS training iterations in all", "(default 2000;",
                 "--batch BATCH episodes per iteration (default 32)",
                 f"--width WIDTH channels of the networks' first layer: the model's size (default {SHIPPED_WIDTH},",
                 f"--views VIEWS training views per photo, at least {MIN_VIEWS} (default 64;",
                 f"at most {MAX_VIEWS} in all)", "~/.local/share/retouch/runs/style-<name>"):
        assert part in text, part


def test_train_style_never_writes_over_a_photo_and_names_a_style_after_the_folder(folders, tmp_path, monkeypatch,
                                                                                  capsys):
    """-o onto one of the photos is refused before any work (it used to write the model over it);
    -o must name a .onnx file; ``--targets .`` names the style after that folder (it wrote a
    hidden ".onnx"); a dangling link in a folder is skipped (it stopped the run)."""
    ins, tgt = folders
    photo = next(tgt.iterdir())
    before = photo.read_bytes()
    for out, why in ((photo, "refusing to overwrite the input"), (tmp_path / "my-style", "ends in .onnx")):
        args = _parse(["train-style", "--inputs", str(ins), "--targets", str(tgt), "-o", str(out), *TINY_STYLE])
        assert args.func(args) == 1
        assert why in capsys.readouterr().err
    assert photo.read_bytes() == before and not (tmp_path / "my-style").exists()

    (ins / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    monkeypatch.chdir(tgt)
    args = _parse(["train-style", "--inputs", str(ins), "--targets", ".", "--iterations", "2", *TINY_STYLE])
    assert args.func(args) == 0
    err = capsys.readouterr().err
    assert "skipped gone.jpg" in err, err
    style = tmp_path / "xdg" / "retouch" / "styles" / f"{tgt.name}.onnx"
    assert style.exists()
    # the same command again would silently start the style over: refused, unless asked
    kept = style.read_bytes()
    assert args.func(args) == 1
    assert "--resume continues it, --replace starts again" in capsys.readouterr().err
    assert style.read_bytes() == kept
    args = _parse(["train-style", "--inputs", str(ins), "--targets", ".", "--iterations", "2", "--replace",
                   *TINY_STYLE])
    assert args.func(args) == 0


def test_views_read_a_photo_as_the_app_does(tmp_path, heldout_srgb):
    """A camera JPEG stored sideways with EXIF orientation 6 is read upright (its edit, exported
    upright, used not to line up), and a 16-bit greyscale PNG is read as its tones, not white."""
    import piexif

    from engine.io import load_photo
    from models.data.crops import load_linear

    rgb = (np.asarray(heldout_srgb[0]) * 255).round().astype(np.uint8)
    sideways = np.ascontiguousarray(np.rot90(rgb, 1))  # the sensor's rows, as a camera stores them
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: 6}})
    Image.fromarray(sideways).save(tmp_path / "cam.jpg", quality=95, exif=exif)
    got = load_linear(tmp_path / "cam.jpg")
    assert got.shape[:2] == rgb.shape[:2]  # upright
    np.testing.assert_array_equal(got, load_photo(tmp_path / "cam.jpg").linear)
    grey = (rgb.mean(-1) * 257).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    g = load_linear(tmp_path / "grey16.png")
    assert 0.05 < float(g.mean()) < 0.6, float(g.mean())


def test_a_second_training_in_the_same_run_folder_is_refused(folders, tmp_path, capsys):
    """Two train-style runs in one folder would write over each other's checkpoints (the last
    save won). While another process trains there, a start is refused at once and writes nothing;
    once it has gone (killed, even), the folder is free again."""
    import subprocess
    import sys

    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen(  # another train-style, as far as the lock can tell
        [sys.executable, "-c", "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); "
         "lock.acquire(); print('held', flush=True); time.sleep(60)", str(run / ".lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert _train_style(folders, "--run", str(run), "--iterations", "1", *TINY_STYLE) == 1
        err = capsys.readouterr().err
        assert f"another retouch train-style is running in {run}" in err
        assert sorted(p.name for p in run.iterdir()) == [".lock"]  # no views, no checkpoint
    finally:
        holder.kill()
        holder.wait()
    assert _train_style(folders, "--run", str(run), "--iterations", "1", *TINY_STYLE) == 0
    assert (run / "checkpoint.pt").exists()


def test_resume_continues_only_the_training_that_wrote_the_style(folders, tmp_path, capsys):
    """A style imported under a trained one's name, a namesake written elsewhere, other folders:
    --resume replaced the imported style with the old run's, continued another file's training,
    or silently learnt from the new folders."""
    from engine.runners.agent import RESOURCES, style_run_dir, user_styles_dir
    from engine.styles import import_style

    assert _train_style(folders, "--iterations", "1", *TINY_STYLE) == 0
    style = user_styles_dir() / "after.onnx"
    style.unlink()  # deleted by hand (not with its training files), another style imported in its place
    import_style(RESOURCES / "retouch.onnx", "after")
    imported = style.read_bytes()
    capsys.readouterr()
    assert _train_style(folders, "--resume", "--iterations", "2") == 1
    err = capsys.readouterr().err
    assert "after.onnx is not the style that training wrote (it was replaced or imported since)" in err
    assert style.read_bytes() == imported

    # the same name elsewhere trains in a run of its own, and continues that one
    elsewhere = tmp_path / "elsewhere" / "after.onnx"
    elsewhere.parent.mkdir()
    assert style_run_dir("after", elsewhere) != style_run_dir("after")
    assert _train_style(folders, "-o", str(elsewhere), "--iterations", "1", *TINY_STYLE) == 0
    assert _train_style(folders, "-o", str(elsewhere), "--resume", "--iterations", "2") == 0
    assert Agent(elsewhere, prefer_gpu=False).meta["iterations"] == 2 and style.read_bytes() == imported

    other = tmp_path / "other"
    shutil.copytree(folders[0], other)
    capsys.readouterr()
    assert _train_style((other, folders[1]), "-o", str(elsewhere), "--resume", "--iterations", "3") == 1
    assert f"that training learns from {folders[0]} and {folders[1]}" in capsys.readouterr().err


def test_resume_under_the_folders_name_points_to_the_style_it_was_renamed_to(folders, tmp_path, capsys):
    """--resume after `retouch styles rename` said "no checkpoint …; start without --resume", and
    that started the style again from nothing under the old name."""
    from engine.runners.agent import user_styles_dir
    from engine.styles import rename_style

    assert _train_style(folders, "--iterations", "1", *TINY_STYLE) == 0
    renamed = rename_style(user_styles_dir() / "after.onnx", "Warm look é")
    capsys.readouterr()
    assert _train_style(folders, "--resume", "--iterations", "2") == 1
    err = capsys.readouterr().err
    assert "no training of a style named 'after'" in err and "the style 'Warm look é' now" in err, err
    assert f"-o '{renamed}'" in err and not (user_styles_dir() / "after.onnx").exists()
    assert _train_style(folders, "-o", str(renamed), "--resume", "--iterations", "2") == 0  # as it says
    assert Agent(renamed, prefer_gpu=False).meta["iterations"] == 2
    # another style trained from these folders: both named (the first alone sent one to the other style)
    assert _train_style(folders, "-o", str(tmp_path / "a.onnx"), "--iterations", "1", *TINY_STYLE) == 0
    capsys.readouterr()
    assert _train_style(folders, "--resume", "--iterations", "3") == 1
    err = capsys.readouterr().err
    assert "2 styles were trained from these folders" in err and f"-o '{renamed}'" in err, err
    assert f"-o {tmp_path / 'a.onnx'}" in err


def test_inputs_without_a_finished_photo_of_their_name_are_named(folders, tmp_path, capsys, heldout_files):
    ins, tgt = folders
    for a, b in ((ins, tgt), (tgt, ins)):
        for p in sorted(a.iterdir()):
            shutil.copy(p, b / p.name)  # each photo's "edit": all five pair by name
    shutil.copy(heldout_files[3], ins / "stray.jpg")
    assert _train_style((ins, tgt), "--iterations", "1", *TINY_STYLE) == 0
    err = capsys.readouterr().err
    assert "5 photos pair up by file name" in err
    assert f"1 of the photos in {ins} has no finished photo of its name and is left out (stray.jpg)" in err


def test_a_training_that_fails_before_its_first_checkpoint_leaves_no_run_folder(folders, tmp_path, capsys):
    """Its cached views (29 MB for six photos) stayed where no command lists or removes them."""
    from engine.runners.agent import style_run_dir

    empty = tmp_path / "broken"  # photos listed, none readable: found once the views are made
    empty.mkdir()
    (empty / "x.jpg").write_bytes(b"not a photo" * 100)
    out = tmp_path / "e.onnx"
    assert _train_style((folders[0], empty), "-o", str(out), *TINY_STYLE) == 1
    assert f"none of the 1 photos in {empty} could be read" in capsys.readouterr().err
    assert not style_run_dir("e", out).exists() and style_run_dir("e", out).parent.is_dir()
