"""``retouch auto`` on a real DNG: readable steps on stdout, a rendered image and an editable recipe."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from PIL import Image

from engine.cli import add_subcommands
from engine.recipe import Recipe
from engine.render import render
from engine.runners.agent import DEFAULT_MODEL

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no shipped model")


def _run(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    add_subcommands(ap.add_subparsers(dest="command"))
    args = ap.parse_args(argv)
    return args.func(args)


def test_auto_writes_image_and_recipe(dng_file, tmp_path, capsys):
    from engine.io import load_photo

    out, rec = tmp_path / "out.png", tmp_path / "r.json"
    assert _run(["auto", str(dng_file), "-o", str(out), "--recipe-out", str(rec)]) == 0
    text = capsys.readouterr().out
    assert "1. " in text and "%" in text
    recipe = Recipe.load(rec)
    # the measured exposure, white balance and contrast steps (no probs) when needed, then
    # the policy's 5 steps less those that change nothing
    pre = [s for s in recipe if not s.probs]
    assert 1 <= len(recipe) - len(pre) <= 5 and all(s.probs for s in recipe.steps[len(pre):])
    assert f"{len(recipe)}. " in text and f"{len(recipe) + 1}. " not in text
    ops = [s.op for s in pre]
    assert ops == [o for o in ("exposure", "white_balance", "gamma") if o in ops]
    assert text.count("(measured)") == len(pre)  # told apart from the policy's steps
    # the image is the recipe rendered, not the photo as decoded (Auto at its strength moves this
    # one by ~4/255 on average: a PNG, as JPEG's own loss here is as large)
    linear = load_photo(dng_file).linear
    got = np.asarray(Image.open(out), np.float32)
    want, plain = (np.rint(render(r, linear) * 255) for r in (recipe, Recipe([])))
    assert got.shape == want.shape and np.abs(got - want).mean() < 0.5, np.abs(got - want).mean()
    assert np.abs(got - plain).mean() > 2.5, np.abs(got - plain).mean()


def test_auto_variations_are_numbered_and_reproducible(dng_file, tmp_path, capsys):
    rec = tmp_path / "r.json"
    assert _run(["auto", str(dng_file), "--variations", "2", "--seed", "4", "--recipe-out", str(rec)]) == 0
    first = [(tmp_path / f"r-{i}.json").read_text() for i in (1, 2)]
    a, b = (Recipe.loads(t) for t in first)
    assert [s for s in a if s.probs] != [s for s in b if s.probs]  # alternatives: the agent's steps differ
    assert _run(["auto", str(dng_file), "--variations", "2", "--seed", "4", "--recipe-out", str(rec)]) == 0
    assert first == [(tmp_path / f"r-{i}.json").read_text() for i in (1, 2)]
    heads = [line for line in capsys.readouterr().out.splitlines() if line.startswith("variation ")]
    assert len(heads) == 4 and heads[0].startswith("variation 1 (") and heads[0].endswith("):")  # how it differs
    assert heads[0].partition(" (")[2] != heads[1].partition(" (")[2]  # visibly so: not both "like the other"


def test_auto_refuses_to_overwrite_input_and_unknown_model(dng_file, capsys):
    assert _run(["auto", str(dng_file), "--recipe-out", str(dng_file)]) == 1
    assert _run(["auto", str(dng_file), "--model", "no-such-style"]) == 1
    assert "no model" in capsys.readouterr().err


def test_auto_never_writes_the_original_under_a_numbered_name(dng_file, tmp_path, capsys):
    """Variations number their files (``r.dng`` -> ``r-1.dng``): a numbered name that is the input,
    or an image landing on a recipe, is refused before anything is written."""
    import shutil

    src = tmp_path / "orig-1.dng"  # what "--recipe-out orig.dng" numbers the first variation
    shutil.copy(dng_file, src)
    before = src.read_bytes()
    assert _run(["auto", str(src), "--variations", "2", "--recipe-out", str(tmp_path / "orig.dng")]) == 1
    assert "refusing to overwrite the input" in capsys.readouterr().err and src.read_bytes() == before
    both = tmp_path / "both.png"
    for extra in ([], ["--variations", "2"]):
        assert _run(["auto", str(src), "-o", str(both), "--recipe-out", str(both), *extra]) == 1
        assert "-o and --recipe-out would both write" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orig-1.dng"]  # nothing written
    # at strength 0 every variation would be the same recipe: an option that cannot work (status 2)
    assert _run(["auto", str(src), "--variations", "3", "--strength", "0"]) == 2
    assert "--variations needs a --strength above 0" in capsys.readouterr().err


def test_auto_refuses_a_file_that_is_not_a_policy_model(dng_file, tmp_path, capsys):
    """Garbage, an empty file and another of Retouch's models (the meter) each give one line."""
    from engine.runners.meter import DEFAULT_METER

    junk, empty = tmp_path / "junk.onnx", tmp_path / "empty.onnx"
    junk.write_bytes(b"not a model at all" * 50)
    empty.write_bytes(b"")
    cases = [(junk, "not a model onnxruntime can load"), (empty, "not a model onnxruntime can load")]
    if DEFAULT_METER.exists():
        cases.append((DEFAULT_METER, "not a Retouch style model"))
    for model, why in cases:
        assert _run(["auto", str(dng_file), "--model", str(model)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"retouch auto: error: {model.name}: {why}"), err
        assert err.count("\n") == 1 and "Traceback" not in err
    # batch refuses it before decoding a single photo
    out = tmp_path / "out"
    assert _run(["batch", str(dng_file.parent), str(out), "--auto", "--model", str(junk)]) == 1
    assert "not a model onnxruntime can load" in capsys.readouterr().err and not out.exists()


def test_auto_strength_scales_the_agents_steps(dng_file, tmp_path, capsys):
    full, half = tmp_path / "full.json", tmp_path / "half.json"
    assert _run(["auto", str(dng_file), "--strength", "1", "--recipe-out", str(full)]) == 0
    assert _run(["auto", str(dng_file), "--strength", "0.5", "--recipe-out", str(half)]) == 0
    assert "strength 0.5" in capsys.readouterr().out
    a, b = Recipe.load(full), Recipe.load(half)
    pre = [s for s in a if not s.probs]  # the measured steps are not the agent's guess: unchanged
    assert [s for s in b if not s.probs] == pre
    agents_a, agents_b = [s for s in a if s.probs], [s for s in b if s.probs]
    ops = [s.op for s in agents_a]  # halved, a step may no longer do anything and go; none is added
    it = iter(ops)
    assert agents_b and all(op in it for op in (s.op for s in agents_b))
    assert any(sa.params != sb.params for sa, sb in zip(agents_a, agents_b) if sa.op == sb.op)
    with pytest.raises(SystemExit):
        _run(["auto", str(dng_file), "--strength", "3"])
    assert "between 0 and 2" in capsys.readouterr().err


def test_auto_white_balance_choice(dng_file, tmp_path):
    """--white-balance off keeps the camera's (no measured white balance step); max-rgb measures it
    the classical way; the default is the learned model's."""
    from engine.io import load_photo
    from engine.runners.agent import Agent

    got = {}
    for wb in ("learned", "max-rgb", "off"):
        rec = tmp_path / f"{wb}.json"
        assert _run(["auto", str(dng_file), "--white-balance", wb, "--recipe-out", str(rec)]) == 0
        got[wb] = [s for s in Recipe.load(rec) if s.op == "white_balance" and not s.probs]
    assert got["off"] == []
    linear = load_photo(dng_file).linear
    for wb, constancy, source in (("learned", True, "auto-white-balance"),
                                  ("max-rgb", False, "auto-white-balance-max-rgb")):
        auto = Agent(constancy=constancy).predict(linear, raw=True)  # a DNG: a RAW decode, as the CLI reads it
        want = [s for s in auto if s.op == "white_balance" and not s.probs]
        assert want and [s.params for s in got[wb]] == [s.params for s in want]
        assert [s.source for s in got[wb]] == [source]  # the recipe says which estimator measured it
    assert got["learned"][0].params != got["max-rgb"][0].params
    default = tmp_path / "default.json"
    assert _run(["auto", str(dng_file), "--recipe-out", str(default)]) == 0
    assert [s for s in Recipe.load(default) if s.op == "white_balance" and not s.probs] == got["learned"]


def test_auto_writes_a_downscaled_image_from_a_recipe_of_the_whole_photo(dng_file, tmp_path, capsys):
    """--long-edge as apply's: the image -o writes is downscaled; Auto still reads the whole photo,
    so the recipe is the one without it."""
    from PIL import Image

    small, full = tmp_path / "small.jpg", tmp_path / "full.json"
    assert _run(["auto", str(dng_file), "-o", str(small), "--long-edge", "200", "--recipe-out",
                 str(tmp_path / "small.json")]) == 0
    assert _run(["auto", str(dng_file), "--recipe-out", str(full)]) == 0
    assert max(Image.open(small).size) == 200
    assert (tmp_path / "small.json").read_text() == full.read_text()
    assert _run(["auto", str(dng_file), "-o", str(small), "--long-edge", "8"]) == 2


def test_a_negative_seed_or_too_many_variations_is_one_line(photo_jpeg, tmp_path, capsys) -> None:
    """``--seed -1`` ended in numpy's traceback; ``--variations 100`` ran for a minute."""
    from engine.cli import main

    for argv, said in ((["--seed", "-1"], "--seed must be 0 or more (got -1)"),
                       (["--variations", "2", "--seed", "-5"], "--seed must be 0 or more"),
                       (["--variations", "100"], "--variations must be 0 to 32"),
                       # without -o they did nothing, and nothing said so
                       (["--long-edge", "100", "--quality", "50"], "--long-edge and --quality only shape the image"),
                       (["--ppi", "72", "--recipe-out", str(tmp_path / "r.json")], "--ppi only shapes the image")):
        assert main(["auto", str(photo_jpeg), *argv]) == 2
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err


def test_a_missing_model_file_is_said_as_a_file(photo_jpeg, tmp_path, capsys) -> None:
    from engine.cli import main

    assert main(["auto", str(photo_jpeg), "--model", str(tmp_path / "nope.onnx")]) == 1
    assert f"model file {tmp_path / 'nope.onnx'} not found" in capsys.readouterr().err
    assert main(["auto", str(photo_jpeg), "--model", "nope"]) == 1
    err = capsys.readouterr().err
    assert "no model 'nope' (available: retouch" in err and "did you mean" not in err
    assert main(["auto", str(photo_jpeg), "--model", "RETOUCH"]) == 1  # a style's name in another case
    err = capsys.readouterr().err
    assert "no model 'RETOUCH' (available: retouch" in err and "did you mean 'retouch'?" in err


def test_one_variation_says_it_is_one(photo_jpeg, capsys) -> None:
    """``--variations 1`` printed a recipe like Auto's, though sampled at the variations' strength."""
    from engine.cli import main

    assert main(["auto", str(photo_jpeg), "--variations", "1", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "strength 1," in out and "\nvariation 1 (seed 3):\n" in out


def test_an_image_that_cannot_be_written_leaves_no_recipe(dng_file, tmp_path, capsys, monkeypatch):
    """The QA's: `auto -o X.jpg --recipe-out R.json` wrote R.json before the image, which then
    failed: a recipe for an image that is not there. The recipe follows its image now."""
    import engine.io
    from engine.io import ImageError

    def refuse(path, *a, **k):
        raise ImageError("cannot write (No space left on device)", path)

    monkeypatch.setattr(engine.io, "write_image", refuse)
    out, recipe = tmp_path / "out.jpg", tmp_path / "out.json"
    assert _run(["auto", str(dng_file), "-o", str(out), "--recipe-out", str(recipe)]) == 1
    assert "No space left" in capsys.readouterr().err
    assert not out.exists() and not recipe.exists()
