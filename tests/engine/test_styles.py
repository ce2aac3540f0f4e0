"""The photographer's styles as files: renamed and deleted with their training runs, imported only
when they are Retouch policies, and the built-in models never touched."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine import styles
from engine.filters import AGENT_FILTERS, REGISTRY
from engine.runners import ModelError
from engine.runners.agent import DEFAULT_MODEL, RESOURCES, Agent, available_models, style_run_dir, user_styles_dir


@pytest.fixture
def style(tmp_path, monkeypatch) -> Path:
    """A style "warm" (the shipped policy under a user's name) with a training run beside it."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    user_styles_dir().mkdir(parents=True)
    path = user_styles_dir() / "warm.onnx"
    shutil.copyfile(DEFAULT_MODEL, path)
    run = style_run_dir("warm")
    (run / "cache").mkdir(parents=True)
    (run / "checkpoint.pt").write_bytes(b"checkpoint")
    (run / "cache" / "views.npy").write_bytes(b"views")
    return path


def test_a_renamed_style_keeps_its_training_run(style):
    new = styles.rename_style(style, "  warm evening ")
    assert new == user_styles_dir() / "warm evening.onnx" and new.read_bytes() == DEFAULT_MODEL.read_bytes()
    assert not style.exists() and not style_run_dir("warm").exists()
    assert (style_run_dir("warm evening") / "checkpoint.pt").read_bytes() == b"checkpoint"  # still continues
    assert new in available_models() and Agent(new, prefer_gpu=False).path == new
    assert Agent(new, prefer_gpu=False).name == "warm evening"  # not the name stored in the file at training
    assert Agent(new.parent / ".." / "styles" / new.name, prefer_gpu=False).name == "warm evening"


@pytest.mark.parametrize("name, why", [("", "needs a name"), ("a/b", "cannot name a file"), (".hidden", "cannot name"),
                                       ("x" * 81, "at most 80"), ("nl\nx", "a style.s name is one line"),
                                       ("Retouch", "built-in"), ("cold", "exists already")])
def test_a_rename_that_cannot_be_done_says_why_and_changes_nothing(style, name, why):
    shutil.copyfile(style, user_styles_dir() / "cold.onnx")
    before = sorted(p.name for p in user_styles_dir().parent.rglob("*"))
    with pytest.raises(styles.StyleError, match=why):
        styles.rename_style(style, name)
    assert sorted(p.name for p in user_styles_dir().parent.rglob("*")) == before


def test_a_name_in_any_script_is_a_name():
    """A Persian word's zero-width non-joiner, an emoji's joiner and a no-break space are part of a
    name, not control characters (the first check refused them as "a line break")."""
    for name in ("می\u200cخواهم", "👨\u200d👩\u200d👧 family", "Golden\u00a0hour"):
        assert styles.check_name(name) == name


def test_training_files_that_cannot_be_removed_are_named(style, monkeypatch):
    """They were ignored (``rmtree(ignore_errors=True)``): a full disk's worth could stay unseen."""
    real = os.unlink

    def unlink(path, *a, **k):  # root removes anything; the refusal a user meets, made here
        if os.fspath(path).endswith("views.npy") or (k.get("dir_fd") is not None and path == "views.npy"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path, *a, **k)

    monkeypatch.setattr(os, "unlink", unlink)
    left = styles.delete_style(style)
    assert not style.exists() and [os.path.basename(p) for p in left] == ["views.npy"], left  # not its folders
    assert (style_run_dir("warm") / "cache" / "views.npy").exists()


def test_a_deleted_style_leaves_no_training_files(style):
    assert style_run_dir("warm").is_dir()
    assert styles.delete_style(style) == []
    assert not style.exists() and not style_run_dir("warm").exists()
    assert available_models() == sorted(RESOURCES.glob("retouch*.onnx"))
    with pytest.raises(styles.StyleError, match="gone"):
        styles.delete_style(style)


def test_a_style_being_trained_is_neither_renamed_nor_deleted(style):
    """``retouch train-style`` holds its run's lock while it trains: renamed or deleted under it,
    the training died at its next log line and left its checkpoint where no style could reach it."""
    import subprocess
    import sys

    holder = subprocess.Popen(  # a training of "warm", holding the lock as train.run_lock does
        [sys.executable, "-c", "import sys; from filelock import FileLock; lock = FileLock(sys.argv[1]); "
         "lock.acquire(); print('held', flush=True); sys.stdin.readline()", str(style_run_dir("warm") / ".lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = sorted(p.relative_to(user_styles_dir().parent) for p in user_styles_dir().parent.rglob("*"))
        for op in (lambda: styles.rename_style(style, "renamed"), lambda: styles.delete_style(style)):
            with pytest.raises(styles.StyleError, match=r"“warm” is being trained .*: stop its training first"):
                op()
        after = sorted(p.relative_to(user_styles_dir().parent) for p in user_styles_dir().parent.rglob("*"))
        assert after == before
    finally:
        holder.communicate("done\n", timeout=10)
    new = styles.rename_style(style, "renamed")  # the training over: both work again
    assert (style_run_dir("renamed") / "checkpoint.pt").exists()
    styles.delete_style(new)
    assert not style_run_dir("renamed").exists() and not new.exists()


def test_built_in_models_are_never_renamed_or_deleted(style):
    for op in (lambda: styles.rename_style(DEFAULT_MODEL, "mine"), lambda: styles.delete_style(DEFAULT_MODEL)):
        with pytest.raises(styles.StyleError, match="not one of your styles"):
            op()
    assert DEFAULT_MODEL.is_file() and not styles.is_user_style(DEFAULT_MODEL) and styles.is_user_style(style)


def test_an_imported_style_is_checked_then_copied(style, tmp_path):
    colleague = tmp_path / "Film look.onnx"
    shutil.copyfile(DEFAULT_MODEL, colleague)
    new = styles.import_style(colleague)
    assert new == user_styles_dir() / "Film look.onnx" and new.read_bytes() == colleague.read_bytes()
    with pytest.raises(styles.StyleError, match="exists already"):
        styles.import_style(colleague)
    assert styles.import_style(colleague, name="Film look 2").exists()
    # not a policy: the white balance model, and a file that is not ONNX at all; nothing is left behind
    (tmp_path / "notes.onnx").write_text("not a model")
    for bad in (RESOURCES / "wb.onnx", tmp_path / "notes.onnx"):
        with pytest.raises(ModelError):
            styles.import_style(bad)
    assert sorted(p.name for p in user_styles_dir().iterdir()) == ["Film look 2.onnx", "Film look.onnx", "warm.onnx"]


def test_retouch_styles_lists_renames_imports_and_deletes(style, tmp_path, capsys):
    from engine.cli import main

    assert main(["styles"]) == 0 and "warm  2.6 MB" in capsys.readouterr().out
    assert main(["styles", "rename", "warm", "evening"]) == 0 and "renamed" in capsys.readouterr().out
    assert main(["styles"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 1 and listed[0].startswith("evening  2.6 MB") and "(can be trained further)" in listed[0]
    assert re.search(r"  \d+ iterations, strength 0\.6  ", listed[0])  # what the model's own metadata says
    (user_styles_dir() / "broken.onnx").write_bytes(b"half a download")
    assert main(["styles"]) == 0
    broken = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("broken"))
    assert "unusable: broken.onnx: not a model" in broken
    (user_styles_dir() / "broken.onnx").unlink()
    assert main(["styles", "delete", "warm"]) == 1 and "no style 'warm' (yours: evening)" in capsys.readouterr().err
    assert main(["styles", "rename", "evening", "a/b"]) == 1 and "cannot name a file" in capsys.readouterr().err
    assert main(["styles", "import", str(DEFAULT_MODEL), "--name", "mine"]) == 0
    assert main(["styles", "import", str(RESOURCES / "meter.onnx")]) == 1
    assert "not a Retouch style model" in capsys.readouterr().err
    assert main(["styles", "import", str(DEFAULT_MODEL)]) == 1  # the shipped file, under its reserved name
    assert "is the built-in model's name; import it under another name with --name" in capsys.readouterr().err
    assert main(["styles", "delete", "evening"]) == 0
    assert sorted(p.stem for p in user_styles_dir().glob("*.onnx")) == ["mine"]
    assert not style_run_dir("evening").exists()


def _with_meta(tmp_path: Path, file: str, **changes) -> Path:
    """The shipped policy with its metadata changed as a hand edit or a damaged copy would."""
    import json

    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(DEFAULT_MODEL))
    prop = next(p for p in model.metadata_props if p.key == "retouch")
    meta = json.loads(prop.value)
    meta.update(changes)
    prop.value = json.dumps(meta)
    path = tmp_path / f"{file}.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("changes, why", [
    ({"steps": 10_000_000}, "steps 10000000"),  # looped for ever at the first photo
    ({"steps": "five"}, "invalid literal for int()"),
    ({"keep": 0}, "keep 0"),  # NaN probabilities in variations
    ({"proxy": 0}, "proxy size 64 where its metadata needs 0"),  # a division by zero
    ({"filters": ["exposure", "gamma"], "head_widths": [1, 1]}, "state 9 where its metadata needs 3"),
    ({"filters": 5}, "its filters are 5"),
    ({"strength": "strong"}, "could not convert string to float"),
])
def test_a_style_whose_metadata_cannot_work_is_refused_when_loaded(tmp_path, changes, why):
    """Each of these crashed or hung at the first photo, in Auto, the batch and the listing."""
    path = _with_meta(tmp_path, "bad", **changes)
    with pytest.raises(ModelError) as e:
        Agent(path, prefer_gpu=False)
    assert str(e.value).startswith("bad.onnx: not a usable Retouch style (") and why in str(e.value)


def test_a_style_trained_through_newer_filter_math_is_refused(tmp_path):
    """Its parameters were learnt for another formula: replayed here they would mean something else."""
    versions = {f: REGISTRY[f].version for f in AGENT_FILTERS}
    assert Agent(_with_meta(tmp_path, "same", filter_versions=versions), prefer_gpu=False)
    path = _with_meta(tmp_path, "later", filter_versions={**versions, "saturation": versions["saturation"] + 1})
    newer = versions["saturation"] + 1
    with pytest.raises(ModelError, match=rf"later\.onnx: .*newer Retouch \(saturation v{newer}\)"):
        Agent(path, prefer_gpu=False)


def test_a_style_that_answers_nan_says_so(tmp_path, photo_linear):
    """A style whose training diverged gave the measured steps alone, without a word."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    model = onnx.load(str(DEFAULT_MODEL))
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype.kind == "f" and arr.size > 1000:
            init.CopyFrom(numpy_helper.from_array(np.full_like(arr, np.nan), init.name))
    path = tmp_path / "diverged.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match=r"diverged\.onnx: .*not a number"):
        Agent(path, prefer_gpu=False).predict(photo_linear)


@pytest.mark.parametrize("op", ["Neg", "Zero"])
def test_a_style_whose_choice_is_not_a_probability_says_so(tmp_path, photo_linear, op):
    """The QA's: a damaged graph answering negative or all-zero choices made `auto --seed` and
    Variations fail with numpy's "Probabilities contain NaN" and a traceback."""
    onnx = pytest.importorskip("onnx")
    from onnx import helper

    model = onnx.load(str(DEFAULT_MODEL))
    node = next(n for n in model.graph.node if "pdf" in n.output)
    node.output[list(node.output).index("pdf")] = "pdf_made"
    if op == "Neg":
        model.graph.node.append(helper.make_node("Neg", ["pdf_made"], ["pdf"]))
    else:
        model.graph.node.append(helper.make_node("Sub", ["pdf_made", "pdf_made"], ["pdf"]))
    path = tmp_path / "damaged.onnx"
    onnx.save(model, str(path))
    agent = Agent(path, prefer_gpu=False)
    with pytest.raises(ModelError, match=r"damaged\.onnx: the model's choice of filter is not a probability"):
        agent.variations(photo_linear, 2, seed=3)


def test_the_listing_goes_past_what_is_not_a_style(style, tmp_path, capsys):
    """A dangling link, a folder named like a style and a style with impossible metadata are said
    or skipped, and every other style is still listed (the listing stopped at the first)."""
    from engine.cli import main

    d = user_styles_dir()
    (d / "gone.onnx").symlink_to(tmp_path / "nowhere.onnx")
    (d / "adir.onnx").mkdir()
    shutil.copyfile(_with_meta(tmp_path, "loops", steps=10_000_000), d / "loops.onnx")
    shutil.copyfile(_with_meta(tmp_path, "untitled", name=None), d / "untitled.onnx")
    assert main(["styles"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["loops", "untitled", "warm"]
    assert "unusable: loops.onnx: not a usable Retouch style (steps 10000000" in out[0]
    assert [p.stem for p in available_models() if p.parent == d] == ["loops", "untitled", "warm"]
    assert Agent("untitled", prefer_gpu=False).name == "untitled"  # not "None"


def test_an_unloadable_model_says_onnxruntimes_reason_not_its_path(tmp_path):
    """The reason came after the model's full path and was cut to 160 characters: in a deep
    folder only the path was left."""
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 8)
    deep.mkdir(parents=True)
    (deep / "half.onnx").write_bytes(b"half a download")
    with pytest.raises(ModelError) as e:
        Agent(deep / "half.onnx", prefer_gpu=False)
    assert str(e.value).startswith("half.onnx: not a model onnxruntime can load (")
    assert "Protobuf parsing failed" in str(e.value) and str(deep) not in str(e.value)
    (tmp_path / "adir.onnx").mkdir()
    with pytest.raises(FileNotFoundError, match=r"^/.*adir\.onnx is not a model file$"):
        Agent(tmp_path / "adir.onnx", prefer_gpu=False)  # not "PosixPath(...)"


def test_a_relative_xdg_data_home_is_ignored_as_the_spec_says(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", "relxdg")  # styles would have followed the current folder
    assert user_styles_dir() == tmp_path / ".local" / "share" / "retouch" / "styles"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_styles_dir() == tmp_path / "xdg" / "retouch" / "styles"


def test_a_callers_strength_is_not_blamed_on_the_model():
    """The strength given is the caller's to check (``evaluate --strength`` checks its own): a
    shipped model is not "unusable" for it."""
    assert Agent(None, prefer_gpu=False, strength=1.5).strength == 1.5
    assert Agent(None, prefer_gpu=False, strength=-0.5).strength == -0.5


def test_training_files_no_style_can_continue_are_listed_and_cleaned(style, tmp_path, capsys):
    """A style deleted by hand, an -o file removed, a training that never reached a checkpoint:
    their runs (views cached: 100 MB for six photos) stayed where no command listed them."""
    from engine.cli import main

    gone = style_run_dir("gone")  # its style file deleted by hand
    (gone / "cache").mkdir(parents=True)
    (gone / "checkpoint.pt").write_bytes(b"c")
    (gone / "cache" / "views.npy").write_bytes(b"v" * 3_000_000)
    elsewhere = tmp_path / "mine.onnx"
    shutil.copyfile(DEFAULT_MODEL, elsewhere)
    kept = style_run_dir("mine", elsewhere)  # a style written with -o, still there: it can be continued
    styles.record_training(kept, elsewhere, tmp_path, tmp_path)
    (kept / "checkpoint.pt").write_bytes(b"c")
    styles.record_written(kept, elsewhere)
    started = style_run_dir("started")  # no checkpoint
    (started / "cache").mkdir(parents=True)
    replaced = user_styles_dir() / "replaced.onnx"  # trained, then another style imported over it
    styles.record_training(style_run_dir("replaced"), replaced, tmp_path, tmp_path)
    (style_run_dir("replaced") / "checkpoint.pt").write_bytes(b"c")
    shutil.copyfile(DEFAULT_MODEL, replaced)
    assert main(["styles"]) == 0
    out = capsys.readouterr().out
    assert "training files without a style: 3 in " in out and "3 MB (remove them with `retouch styles clean`)" in out
    assert main(["styles", "clean"]) == 0
    out = capsys.readouterr().out
    assert f"removed {gone} (3 MB)" in out and f"removed {started} (0 MB)" in out
    assert not gone.exists() and not started.exists() and not style_run_dir("replaced").exists()
    assert kept.is_dir() and style_run_dir("warm").is_dir()  # continuable runs stay
    assert main(["styles", "clean"]) == 0 and "no training files without a style" in capsys.readouterr().out
