"""Batch export on a real photo folder with bad files mixed in (engine.batch + the batch CLI).

Inputs are built from the real photo tests/fixtures/dune.jpg: a synthetic DNG mosaic of it
(engine.io.dng.write_dng), the JPEG itself (camera EXIF), a 16-bit TIFF of it, plus bad entries:
a truncated DNG, a text file named .NEF, and "unreadable" entries. Tests run as root here, so
``chmod 000`` does not make a file unreadable; we use what root cannot read either: a folder named
``folder.CR2``, a FIFO named ``pipe.ARW`` (reading it would block forever) and a dangling symlink
named ``gone.DNG``.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import batch_cli
from engine.batch import (
    ExportSettings,
    TemplateError,
    check_template,
    cleanup_partials,
    default_workers,
    export_all,
    plan_jobs,
)
from engine.batch_worker import CRASH_ENV, HANG_ENV
from engine.recipe import Recipe, Step, sidecar_path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# A fixed look for tests about the machinery rather than the recipe source (no model needed).
LOOK = Recipe([Step("exposure", {"ev": 0.4}), Step("saturation", {"amount": 0.3})])
GOOD = ("dune_raw.DNG", "dune.jpg", "dune16.tif")
BAD = ("truncated.DNG", "notes.NEF", "folder.CR2", "pipe.ARW", "gone.DNG")


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """A pristine folder of good inputs, built once; tests copy it."""
    from engine.io.dng import write_dng

    d = tmp_path_factory.mktemp("sources")
    shutil.copy(FIXTURES / "dune.jpg", d / "dune.jpg")
    rgb = np.asarray(Image.open(FIXTURES / "dune.jpg").convert("RGB"))
    write_dng(d / "dune_raw.DNG", rgb, seed=1)
    import tifffile

    tifffile.imwrite(d / "dune16.tif", (rgb.astype(np.uint16) * 257), photometric="rgb")
    return d


def make_shoot(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for name in GOOD:
        shutil.copy(src / name, dst / name)
    raw = (src / "dune_raw.DNG").read_bytes()
    (dst / "truncated.DNG").write_bytes(raw[: len(raw) // 3])
    (dst / "notes.NEF").write_text("shopping list: not a photo\n" * 40)
    (dst / "folder.CR2").mkdir()
    os.mkfifo(dst / "pipe.ARW")
    (dst / "gone.DNG").symlink_to(dst / "deleted-before-export.DNG")
    # The JPEG has a user recipe: +1 EV, saved as its sidecar.
    Recipe([Step("exposure", {"ev": 1.0})]).save(sidecar_path(dst / "dune.jpg"))
    return dst


def snapshot(folder: Path) -> dict[str, str]:
    """Hash of every regular file (originals and sidecars) under ``folder``."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink() and not p.is_fifo():
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def outputs(folder: Path) -> dict[str, tuple[int, int, str]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.iterdir())}


@pytest.fixture
def shoot(sources, tmp_path) -> Path:
    return make_shoot(sources, tmp_path / "shoot")


def run_cli(capsys, *args: str) -> tuple[int, str]:
    os.environ["COLUMNS"] = "200"  # rich wraps its tables to the terminal width
    rc = batch_cli.main([str(a) for a in args])
    return rc, capsys.readouterr().err


def test_mixed_folder_exports_good_reports_bad_and_resumes(shoot, tmp_path, capsys):
    out = tmp_path / "out"
    before = snapshot(shoot)
    rc, err = run_cli(capsys, shoot, out, "--jobs", "2")
    assert rc == 1, err
    assert sorted(p.name for p in out.iterdir()) == ["dune.jpg", "dune16.jpg", "dune_raw.jpg"]
    for p in out.iterdir():
        with Image.open(p) as im:
            assert im.format == "JPEG" and im.size == (960, 600)
            assert im.info.get("icc_profile"), f"{p.name}: no ICC profile"
    with Image.open(out / "dune.jpg") as im:  # the camera's EXIF is carried over
        exif = im.getexif()
        assert exif.get(0x010F, "").startswith("Canon") and "REBEL" in exif.get(0x0110, "")
    assert "failed" in err and "Failed photos" in err
    for name in BAD:
        assert name in err, f"{name} not reported"
    assert "not a RAW file" in err or "not a photo" in err.lower() or "LibRaw" in err  # notes.NEF's reason
    assert "a folder" in err and "not a regular file" in err
    assert snapshot(shoot) == before  # originals and the sidecar untouched

    first = outputs(out)
    rc, err = run_cli(capsys, shoot, out)  # second run: all good photos skipped, nothing rewritten
    assert rc == 1
    assert outputs(out) == first
    assert "0 done, 3 skipped, 5 failed" in err

    rc, err = run_cli(capsys, shoot, out, "--overwrite", "--quality", "60")
    again = outputs(out)
    assert rc == 1 and set(again) == set(first)
    for name in first:  # replaced: new inode (atomic rename), different bytes at another quality
        assert again[name][0] != first[name][0] and again[name][2] != first[name][2]
    assert snapshot(shoot) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_sidecar_is_applied_and_matches_explicit_recipe(sources, tmp_path, capsys):
    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "dune.jpg")
    recipe = Recipe([Step("exposure", {"ev": 1.0})])
    recipe.save(sidecar_path(shoot / "dune.jpg"))
    recipe.save(tmp_path / "r.json")
    assert run_cli(capsys, shoot, tmp_path / "a")[0] == 0  # default: the sidecar
    assert run_cli(capsys, shoot, tmp_path / "b", "--recipe", tmp_path / "r.json")[0] == 0
    assert run_cli(capsys, shoot, tmp_path / "c", "--auto")[0] == 0
    a, b, c = ((tmp_path / x / "dune.jpg").read_bytes() for x in "abc")
    assert a == b
    assert a != c  # Auto is not the user's +1 EV
    with Image.open(tmp_path / "a" / "dune.jpg") as ia, Image.open(shoot / "dune.jpg") as orig:
        assert np.asarray(ia).mean() > np.asarray(orig).mean() + 10  # +1 EV is brighter


def test_a_sidecar_saved_while_the_batch_runs_is_not_taken(sources, tmp_path, capsys, monkeypatch):
    """The batch exports each photo's sidecar as it was when it started: read at the photo's
    turn, an edit saved meanwhile (the app open on the folder) went into the export."""
    import engine.batch

    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "dune.jpg")
    Recipe([Step("exposure", {"ev": 1.0})]).save(sidecar_path(shoot / "dune.jpg"))
    run = engine.batch.export_all

    def edited_meanwhile(*args, **kwargs):
        Recipe([Step("exposure", {"ev": -1.0})]).save(sidecar_path(shoot / "dune.jpg"))
        yield from run(*args, **kwargs)

    monkeypatch.setattr(engine.batch, "export_all", edited_meanwhile)
    assert run_cli(capsys, shoot, tmp_path / "out")[0] == 0
    with Image.open(tmp_path / "out" / "dune.jpg") as out, Image.open(shoot / "dune.jpg") as orig:
        assert np.asarray(out).mean() > np.asarray(orig).mean() + 10  # +1 EV, not the later -1 EV
    monkeypatch.setattr(engine.batch, "export_all", run)
    rc, err = run_cli(capsys, shoot, tmp_path / "out")  # the later edit is a change: exported again
    assert rc == 0 and "1 done, 0 skipped" in err, err
    with Image.open(tmp_path / "out" / "dune.jpg") as out, Image.open(shoot / "dune.jpg") as orig:
        assert np.asarray(out).mean() < np.asarray(orig).mean() - 10


def test_bad_sidecar_fails_that_photo_and_is_left_alone(sources, tmp_path, capsys):
    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "dune.jpg")
    sc = sidecar_path(shoot / "dune.jpg")
    sc.write_text('{"format": 1, "steps": [{"op": "exposure", "params": {"ev": 99}}]}')
    before = snapshot(shoot)
    rc, err = run_cli(capsys, shoot, tmp_path / "out")
    assert rc == 1 and "ev" in err and "outside" in err
    from engine.batch_worker import export_one

    (job,) = plan_jobs(shoot, tmp_path / "o2", ExportSettings())
    reason = export_one(job).reason  # the sidecar by its name: its folder's path pushed it off the table
    assert reason.startswith("dune.jpg.retouch.json:") and str(shoot) not in reason
    assert snapshot(shoot) == before  # not moved aside, not rewritten
    assert not (tmp_path / "out" / "dune.jpg").exists()


def test_refusals_before_any_photo_follow_the_cli_s_exit_statuses(shoot, tmp_path, capsys):
    """As every command: 2 for an option that cannot work, 1 for a folder, recipe or model that
    cannot be used; one line each, and OUT_DIR is not created."""
    (tmp_path / "bad.json").write_text('{"format": 1, "steps": [{"op": "exposure", "params": {"ev": 99}}]}')
    cases = [
        (("--quality", "0"), 2, "--quality must be between 1 and 100"),
        (("--long-edge", "8"), 2, "--long-edge must be at least 16"),
        (("--name", "../{stem}"), 2, "would escape"),
        (("--recipe", tmp_path / "bad.json"), 1, "outside"),
        (("--recipe", tmp_path / "missing.json"), 1, "missing.json"),
        (("--auto", "--model", tmp_path / "missing.onnx"), 1, "missing.onnx"),
    ]
    for args, status, message in cases:
        rc, err = run_cli(capsys, shoot, tmp_path / "out", *args)
        assert (rc, err.count("\n")) == (status, 1) and message in err and err.startswith("retouch batch: error: "), err
    rc, err = run_cli(capsys, tmp_path / "nowhere", tmp_path / "out")
    assert rc == 1 and err == f"retouch batch: error: {tmp_path / 'nowhere'} is not a folder\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("template", [
    "", "   ", "/etc/{stem}", "../{stem}", "{stem}/../../x", "a/../{stem}", "{stem}/", "{stem}\\..\\x",
    "{unknown}", "{stem!r}", "{stem:>300}", "{stem.__class__}", "{0}", "{}", "plain", ".{stem}",
    "{stem}//x", "C:{stem}", "{stem}\x00", "{stem", "./{stem}",
])
def test_hostile_templates_are_refused(template, shoot, tmp_path, capsys):
    with pytest.raises(TemplateError):
        check_template(template)
    rc, err = run_cli(capsys, shoot, tmp_path / "out", "--name", template)
    assert rc == 2 and "error" in err
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "x").exists()


def test_template_fields_and_subfolders(sources, tmp_path):
    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "dune.jpg")
    shutil.copy(sources / "dune_raw.DNG", shoot / "dune_raw.DNG")
    jobs = plan_jobs(shoot, tmp_path / "out", template="{date}/{camera} {stem}.{ext}")
    names = [str(j.dst.relative_to(tmp_path / "out")) for j in jobs]
    assert names == ["2007-08-06/Canon EOS DIGITAL REBEL dune.jpg.jpg",
                     "2024-05-17/Retouch Synthetic DNG dune_raw.DNG.jpg"]


def test_a_template_with_the_suffix_and_one_name_for_a_days_photos(sources, tmp_path):
    """The QA's: "{stem}.jpg" gave IMG_1.jpg.jpg, and "{date}" alone for a day's JPEGs gave
    2007-08-06_jpg.jpg and 2007-08-06_jpg-2.jpg, the _EXT of a RAW + JPEG pair where none is."""
    shoot = tmp_path / "in"
    shoot.mkdir()
    for name in ("IMG_1.jpg", "IMG_2.jpg"):
        shutil.copy(sources / "dune.jpg", shoot / name)
    out = tmp_path / "out"
    assert [j.dst.name for j in plan_jobs(shoot, out, template="{stem}.jpg")] == ["IMG_1.jpg", "IMG_2.jpg"]
    assert [j.dst.name for j in plan_jobs(shoot, out, template="{stem}.JPEG")] == ["IMG_1.jpg", "IMG_2.jpg"]
    png = ExportSettings(fmt="png16")
    assert [j.dst.name for j in plan_jobs(shoot, out, png, template="{stem}.png")] == ["IMG_1.png", "IMG_2.png"]
    assert [j.dst.name for j in plan_jobs(shoot, out, png, template="{stem}.jpg")] == ["IMG_1.jpg.png",
                                                                                     "IMG_2.jpg.png"]
    plan = plan_jobs(shoot, out, template="{date}")
    assert [j.dst.name for j in plan] == ["2007-08-06.jpg", "2007-08-06-2.jpg"]
    assert plan.renamed == {shoot / "IMG_2.jpg": out / "2007-08-06.jpg"}


def test_a_photo_exported_alone_never_replaces_another_photos_export(sources, tmp_path):
    """The forty-second session's open point: with "{date}" alone, exporting a second photo of
    that day on its own replaced the first one's export (Retouch's own file, so not kept). Each
    output's fingerprint names its photo: another photo's export keeps its name, and a re-run of
    the whole day finds each photo's own file again."""
    from engine.batch_worker import photo_mark
    from engine.io.metadata import made_from_tag

    shoot, out = tmp_path / "in", tmp_path / "out"
    shoot.mkdir()
    for name in ("IMG_1.jpg", "IMG_2.jpg"):  # one size: told apart by their names
        shutil.copy(sources / "dune.jpg", shoot / name)
    small = ExportSettings(long_edge=120)

    def export(*names: str) -> dict[str, str]:
        plan = plan_jobs(shoot, out, small, template="{date}", sources=[shoot / n for n in names])
        done = {p.result.src.name: p.result.dst.name for p in export_all(plan, workers=1)
                if p.result.status in ("done", "skipped")}
        assert len(done) == len(names)
        return done

    assert export("IMG_2.jpg") == {"IMG_2.jpg": "2007-08-06.jpg"}
    first = (out / "2007-08-06.jpg").read_bytes()
    assert export("IMG_1.jpg") == {"IMG_1.jpg": "2007-08-06-2.jpg"}  # not over IMG_2's
    assert (out / "2007-08-06.jpg").read_bytes() == first
    assert made_from_tag(out / "2007-08-06-2.jpg")[:8] == photo_mark(shoot / "IMG_1.jpg") != photo_mark(
        shoot / "IMG_2.jpg")
    plan = plan_jobs(shoot, out, small, template="{date}")  # the whole day: each to its own file
    assert {j.src.name: j.dst.name for j in plan} == {"IMG_1.jpg": "2007-08-06-2.jpg",
                                                      "IMG_2.jpg": "2007-08-06.jpg"}
    assert {p.result.status for p in export_all(plan, workers=1)} == {"skipped"}
    (shoot / "IMG_2.jpg").unlink()  # a photo deleted from the shoot: its export is not taken over
    assert export("IMG_1.jpg") == {"IMG_1.jpg": "2007-08-06-2.jpg"}
    assert (out / "2007-08-06.jpg").read_bytes() == first
    # a photo edited elsewhere since (its size changed) is still this photo: its export redone in place
    before = (out / "2007-08-06-2.jpg").read_bytes()
    with open(shoot / "IMG_1.jpg", "ab") as f:
        f.write(b"\0" * 100)
    assert export("IMG_1.jpg") == {"IMG_1.jpg": "2007-08-06-2.jpg"}
    assert (out / "2007-08-06-2.jpg").read_bytes() != before and not (out / "2007-08-06-3.jpg").exists()


def test_two_cameras_photos_of_one_name_keep_their_own_exports(sources, tmp_path):
    """Two cameras' IMG_0001.JPG of one day, exported into one folder with "{date}" or "{stem}",
    passed for one photo (the forty-third session's fingerprint named a photo by its file name):
    the second replaced the first's export. Their capture times tell them apart now."""
    import piexif

    from engine.batch_worker import made_from, mark_version, photo_mark
    from engine.io.metadata import made_from_tag

    cards = [tmp_path / "card_a", tmp_path / "card_b"]
    for card, when in zip(cards, (b"2007:08:06 10:00:00", b"2007:08:06 11:30:00"), strict=True):
        card.mkdir()
        exif = piexif.load(str(sources / "dune.jpg"))
        exif["Exif"][piexif.ExifIFD.DateTimeOriginal] = when
        shutil.copy(sources / "dune.jpg", card / "IMG_0001.JPG")
        piexif.insert(piexif.dump(exif), str(card / "IMG_0001.JPG"))
    assert photo_mark(cards[0] / "IMG_0001.JPG") != photo_mark(cards[1] / "IMG_0001.JPG")
    assert photo_mark(cards[0] / "IMG_0001.JPG", 1) == photo_mark(cards[1] / "IMG_0001.JPG", 1)
    out, small = tmp_path / "out", ExportSettings(long_edge=96)
    for template in ("{date}", "{stem}"):
        names = []
        for card in cards:  # each card exported on its own, into one folder
            plan = plan_jobs(card, out / template.strip("{}"), small, template=template)
            [p] = export_all(plan, workers=1)
            assert p.result.status == "done"
            names.append(p.result.dst.name)
        assert names in (["2007-08-06.jpg", "2007-08-06-2.jpg"], ["IMG_0001.jpg", "IMG_0001-2.jpg"])
        for card, name in zip(cards, names, strict=True):  # again: each its own file, nothing to redo
            [job] = plan_jobs(card, out / template.strip("{}"), small, template=template)
            assert job.dst.name == name and mark_version(made_from_tag(job.dst)) == 2
            assert [p.result.status for p in export_all([job], workers=1)] == ["skipped"]
    # an export the forty-third session wrote (the photo by its name) is still its photo's, and done
    from engine.io import write_image

    (out / "v1").mkdir()
    [job] = plan_jobs(cards[0], out / "v1", small)
    from engine.io import read_metadata

    write_image(job.dst, np.zeros((8, 8, 3), np.uint8), meta=read_metadata(job.src), made_from=made_from(job, 1))
    assert mark_version(made_from_tag(job.dst)) == 1
    [again] = plan_jobs(cards[0], out / "v1", small)
    assert again.dst == job.dst and [p.result.status for p in export_all([again], workers=1)] == ["skipped"]
    # ... and not the other camera's photo of that name: its capture time, carried into the export,
    # tells them apart (a QA's: the other camera's export replaced it without a word)
    kept = job.dst.read_bytes()
    [other] = plan_jobs(cards[1], out / "v1", small)
    assert other.dst != job.dst and [p.result.status for p in export_all([other], workers=1)] == ["done"]
    assert job.dst.read_bytes() == kept


def test_colliding_names_are_distinct_and_never_hit_an_original(sources, tmp_path):
    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "IMG_1.jpg")
    shutil.copy(sources / "dune_raw.DNG", shoot / "IMG_1.DNG")
    shutil.copy(sources / "dune16.tif", shoot / "img_1.tif")
    jobs = plan_jobs(shoot, tmp_path / "out")
    dsts = [j.dst.name for j in jobs]
    assert len({d.lower() for d in dsts}) == 3  # distinct even on a case-insensitive share
    assert dsts == ["IMG_1_DNG.jpg", "IMG_1_jpg.jpg", "img_1_tif.jpg"]
    assert plan_jobs(shoot, tmp_path / "out") == jobs  # deterministic
    # Exporting a chosen photo next to its original (the GUI's case) never lands on the original.
    (job,) = plan_jobs(shoot, shoot, sources=[shoot / "IMG_1.jpg"])
    assert job.dst == shoot / "IMG_1_jpg.jpg"
    with pytest.raises(ValueError, match="must not be IN_DIR"):
        plan_jobs(shoot, shoot)  # the next run would take the exports for photos


def test_an_export_beside_the_originals_never_replaces_one_it_did_not_write(sources, tmp_path):
    """Exporting the chosen RAW into its own folder with Replace on replaced the camera's JPEG of
    the same shot (and another original of that name). Only an earlier export of Retouch's (its
    Software tag) may be replaced; a photo of the user's makes the output take another name."""
    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune_raw.DNG", shoot / "IMG_1.DNG")
    shutil.copy(sources / "dune.jpg", shoot / "IMG_1.jpg")  # the camera's JPEG of the shot
    shutil.copy(sources / "dune16.tif", shoot / "IMG_2.tif")
    Image.open(sources / "dune.jpg").save(shoot / "IMG_2.jpg")  # an original of that name
    before = snapshot(shoot)
    settings = ExportSettings(recipe=LOOK.to_json(), source="recipe", overwrite=True, long_edge=200)
    jobs = plan_jobs(shoot, shoot, settings, sources=[shoot / "IMG_1.DNG", shoot / "IMG_2.tif"])
    assert [j.dst.name for j in jobs] == ["IMG_1_DNG.jpg", "IMG_2_tif.jpg"]
    assert [p.result.status for p in export_all(jobs, workers=1)] == ["done", "done"]
    after = snapshot(shoot)
    assert {k: after[k] for k in before} == before
    # Retouch's own export is replaced on the next run, as Replace says
    again = plan_jobs(shoot, shoot, settings, sources=[shoot / "IMG_1.DNG"])
    assert [j.dst.name for j in again] == ["IMG_1_DNG.jpg"]
    for fmt, suffix in (("png", ".png"), ("png16", ".png"), ("tiff16", ".tif")):
        fresh = tmp_path / f"out_{fmt}"
        fresh.mkdir()
        (job,) = plan_jobs(shoot, fresh, replace(settings, fmt=fmt), sources=[shoot / "IMG_1.DNG"])
        assert [p.result.status for p in export_all([job], workers=1)] == ["done"]
        assert job.dst.read_bytes()[24] == (16 if fmt == "png16" else 8) or fmt == "tiff16"  # IHDR bit depth
        (job2,) = plan_jobs(shoot, fresh, replace(settings, fmt=fmt), sources=[shoot / "IMG_1.DNG"])
        assert job2.dst == job.dst == fresh / f"IMG_1_DNG{suffix}"  # ours, every format: replaceable


def test_a_photo_exported_alone_is_named_as_with_its_namesakes(sources, tmp_path):
    """IMG_1.DNG exported alone took IMG_1.jpg; the camera's IMG_1.jpg exported alone later then
    found that name taken by its sibling's export and skipped it (or, with Replace, replaced it with
    itself). Each photo's output name is now the one a whole-folder export gives it."""
    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune_raw.DNG", shoot / "IMG_1.DNG")
    shutil.copy(sources / "dune.jpg", shoot / "IMG_1.jpg")
    shutil.copy(sources / "dune.jpg", shoot / "IMG_2.jpg")
    out = tmp_path / "out"
    whole = {j.src.name: j.dst.name for j in plan_jobs(shoot, out)}
    assert whole == {"IMG_1.DNG": "IMG_1_DNG.jpg", "IMG_1.jpg": "IMG_1_jpg.jpg", "IMG_2.jpg": "IMG_2.jpg"}
    for name in whole:
        (job,) = plan_jobs(shoot, out, sources=[shoot / name])
        assert job.dst.name == whole[name]
    settings = ExportSettings(recipe=LOOK.to_json(), source="recipe", overwrite=True, long_edge=200)
    for name in ("IMG_1.DNG", "IMG_1.jpg"):  # one after the other, as two Export clicks
        (job,) = plan_jobs(shoot, out, settings, sources=[shoot / name])
        assert [p.result.status for p in export_all([job], workers=1)] == ["done"]
    assert sorted(p.name for p in out.iterdir()) == ["IMG_1_DNG.jpg", "IMG_1_jpg.jpg"]


def test_names_that_are_not_utf8_and_link_loops_do_not_stop_the_batch(sources, tmp_path, capsys):
    """One photo named in Latin-1 stopped the whole batch (exit 2, nothing exported), and a link
    loop in the folder raised a traceback from the planning."""
    shoot = tmp_path / "in"
    shoot.mkdir()
    latin1 = os.fsdecode(b"caf\xe9.jpg")
    shutil.copy(sources / "dune.jpg", shoot / latin1)
    shutil.copy(sources / "dune.jpg", shoot / "plain.jpg")
    (shoot / "loop1.jpg").symlink_to(shoot / "loop2.jpg")
    (shoot / "loop2.jpg").symlink_to(shoot / "loop1.jpg")
    LOOK.save(tmp_path / "look.json")
    rc, err = run_cli(capsys, shoot, tmp_path / "out", "--recipe", tmp_path / "look.json", "--long-edge", "200")
    assert rc == 1 and "loop1.jpg" in err and "Traceback" not in err
    assert sorted(os.fsencode(p.name) for p in (tmp_path / "out").iterdir()) == [b"caf\xe9.jpg", b"plain.jpg"]
    assert batch_cli._short(latin1).encode() == "caf\ufffd.jpg".encode()  # as the progress bar shows it


def test_out_dir_inside_in_dir_is_not_rescanned(sources, tmp_path, capsys):
    shoot = tmp_path / "in"
    (shoot / "day2").mkdir(parents=True)
    shutil.copy(sources / "dune.jpg", shoot / "a.jpg")
    shutil.copy(sources / "dune.jpg", shoot / "day2" / "b.jpg")
    LOOK.save(tmp_path / "look.json")
    rc, _ = run_cli(capsys, shoot, shoot / "export", "--recursive", "--long-edge", "300",
                    "--recipe", tmp_path / "look.json")
    assert rc == 0
    got = sorted(str(p.relative_to(shoot / "export")) for p in (shoot / "export").rglob("*.jpg"))
    assert got == ["a.jpg", "day2/b.jpg"]
    with Image.open(shoot / "export" / "day2" / "b.jpg") as im:
        assert max(im.size) == 300
    jobs = plan_jobs(shoot, shoot / "export", recursive=True)
    assert [j.src.name for j in jobs] == ["a.jpg", "b.jpg"]


def test_worker_crash_is_reported_and_the_batch_goes_on(sources, tmp_path, monkeypatch):
    shoot = tmp_path / "in"
    shoot.mkdir()
    for i in range(4):
        shutil.copy(sources / "dune.jpg", shoot / f"p{i}.jpg")
    monkeypatch.setenv(CRASH_ENV, "p1.jpg")  # the worker that takes p1.jpg dies like a segfault
    jobs = plan_jobs(shoot, tmp_path / "out", ExportSettings(long_edge=200, source="recipe", recipe=LOOK.to_json()))
    results = {p.result.src.name: p.result for p in export_all(jobs, workers=2)}
    assert results["p1.jpg"].status == "failed" and "crashed" in results["p1.jpg"].reason
    assert {n for n, r in results.items() if r.status == "done"} == {"p0.jpg", "p2.jpg", "p3.jpg"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.jpg", "p2.jpg", "p3.jpg"]
    assert not multiprocessing.active_children()


def test_cancel_stops_cleanly(sources, tmp_path):
    shoot = tmp_path / "in"
    shoot.mkdir()
    for i in range(12):
        shutil.copy(sources / "dune.jpg", shoot / f"p{i:02d}.jpg")
    jobs = plan_jobs(shoot, tmp_path / "out", ExportSettings(source="recipe", recipe=LOOK.to_json()))
    cancel = threading.Event()
    seen = []
    for p in export_all(jobs, workers=1, cancel=cancel):
        seen.append(p.result)
        cancel.set()  # cancel after the first photo
    outs = sorted((tmp_path / "out").iterdir())
    assert 1 <= len(seen) < len(jobs)
    assert all(r.status == "done" for r in seen)
    assert [p.name for p in outs] == sorted(r.dst.name for r in seen)  # only complete files, no temp files
    assert not multiprocessing.active_children()  # the pool is shut down
    # Resuming finishes the rest and skips what was done.
    rest = list(export_all(jobs, workers=2))
    assert sum(p.result.status == "skipped" for p in rest) == len(seen)
    assert len(list((tmp_path / "out").iterdir())) == len(jobs)


def test_leftover_temp_files_are_removed(sources, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "a.jpg")
    jobs = plan_jobs(shoot, out)
    jobs += plan_jobs(shoot, out, template="{stem}_" + "é" * 118)  # 242 bytes: a temp name cut short
    stray = out / ".a.jpg.k3j2h1.part.jpg"  # what a SIGKILLed atomic writer leaves
    stray.write_bytes(b"half a jpeg")
    from engine.atomic import temp_stem

    long = jobs[-1].dst.name
    assert temp_stem(long) != long
    stray_long = out / f".{temp_stem(long)}.a8b7c6d5.part.jpg"
    stray_long.write_bytes(b"half a jpeg")
    assert len(os.fsencode(stray_long.name)) <= 255
    # another output of the same long beginning, being written by another batch, is not touched
    twin = f".{temp_stem(long[:-8] + 'X_png.jpg')}.a8b7c6d5.part.jpg"
    assert twin != stray_long.name
    (out / twin).write_bytes(b"someone else's export in progress")
    keep = out / "other.jpg"
    keep.write_bytes(b"someone else's file")
    assert cleanup_partials(jobs) == 2 and (out / twin).exists()
    assert not stray.exists() and not stray_long.exists() and keep.read_bytes() == b"someone else's file"


def test_workers_are_sized_to_memory(monkeypatch):
    import engine.batch as b

    monkeypatch.setattr(b, "cpu_count", lambda: 16)
    monkeypatch.setattr(b, "available_memory", lambda: 3 * b.WORKER_COST + 1)
    assert default_workers() == 3
    assert default_workers(2) == 2
    monkeypatch.setattr(b, "available_memory", lambda: 100 * 2**20)
    assert default_workers() == 1


def test_workers_are_sized_to_the_largest_photo(sources, tmp_path, monkeypatch):
    """A fixed 1.2 GB per worker: a 45 MP camera's 16-bit TIFFs took 2.4 GB each, past it twice."""
    import engine.batch as b

    shoot = tmp_path / "in"
    shoot.mkdir()
    Image.new("RGB", (8000, 6000)).save(shoot / "big.png")  # 48 MP, a small file
    shutil.copy(sources / "dune.jpg", shoot / "small.jpg")
    monkeypatch.setattr(b, "cpu_count", lambda: 16)
    monkeypatch.setattr(b, "available_memory", lambda: 16 * 2**30)
    tiff = plan_jobs(shoot, tmp_path / "out", ExportSettings(fmt="tiff16"))
    jpeg = plan_jobs(shoot, tmp_path / "out", ExportSettings(fmt="jpeg"))
    assert b.worker_cost(tiff) == b.BASE_COST + 55 * 48_000_000
    assert default_workers(None, tiff) == 16 * 2**30 // b.worker_cost(tiff) == 5  # 1.2 GB each: 13
    for i in range(3):  # larger files of smaller photos: only the 3 largest files were looked at
        shutil.copy(sources / "dune.jpg", shoot / f"more{i}.jpg")
    assert (shoot / "more0.jpg").stat().st_size > (shoot / "big.png").stat().st_size
    assert b.worker_cost(plan_jobs(shoot, tmp_path / "out", ExportSettings(fmt="tiff16"))) == b.worker_cost(tiff)
    import io

    buf = io.BytesIO()  # a JPEG declaring 14000 x 14000 in a few hundred bytes: refused, it sizes nothing
    Image.new("RGB", (64, 64)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = (14000).to_bytes(2, "big") * 2
    (shoot / "bomb.jpg").write_bytes(bytes(data))
    assert b.worker_cost(plan_jobs(shoot, tmp_path / "out", ExportSettings(fmt="tiff16"))) == b.worker_cost(tiff)
    assert default_workers(None, jpeg) == 7
    small = plan_jobs(shoot, tmp_path / "out", ExportSettings(), sources=[shoot / "small.jpg"])
    assert default_workers(1, small) == 1 and b.worker_cost(small) < b.WORKER_COST
    # an uncompressed DNG is sized by its header's pixels, not its file (2 bytes a pixel and more)
    raws = tmp_path / "raws"
    raws.mkdir()
    shutil.copy(sources / "dune_raw.DNG", raws / "a.dng")
    (job,) = plan_jobs(raws, tmp_path / "out", ExportSettings())
    w, h = Image.open(sources / "dune.jpg").size
    assert b.worker_cost([job]) == b.BASE_COST + 45 * w * h
    assert (raws / "a.dng").stat().st_size > 2 * w * h


def test_unreachable_scheduler_is_a_clear_error(sources, tmp_path, capsys, monkeypatch):
    import socket

    import engine.batch_dask

    monkeypatch.setattr(engine.batch_dask, "CONNECT_TIMEOUT_S", 2)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "a.jpg")
    rc, err = run_cli(capsys, shoot, tmp_path / "out", "--scheduler", f"tcp://127.0.0.1:{port}")
    assert rc == 1 and "retouch batch: error: cannot reach the Dask scheduler" in err, err
    assert not (tmp_path / "out").exists()  # nothing ran: OUT_DIR is not left behind


def test_retouch_batch_entry_point(sources, tmp_path):
    """The installed ``retouch batch`` command, as a user runs it."""
    import subprocess
    import sys

    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune_raw.DNG", shoot / "a.DNG")
    (shoot / "b.NEF").write_text("not a raw file\n" * 30)
    LOOK.save(tmp_path / "look.json")
    exe = Path(sys.executable).with_name("retouch")
    cmd = [str(exe), "batch", str(shoot), str(tmp_path / "out"), "--recipe", str(tmp_path / "look.json"),
           "--format", "tiff16", "--name", "{date}_{stem}"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, COLUMNS="200"), check=False)
    assert p.returncode == 1, p.stderr
    assert "b.NEF" in p.stderr and "Failed photos" in p.stderr
    assert os.listdir(tmp_path / "out") == ["2024-05-17_a.tif"]
    import tifffile

    arr = tifffile.imread(tmp_path / "out" / "2024-05-17_a.tif")
    assert arr.dtype == np.uint16 and arr.shape == (600, 960, 3)


def test_hung_photo_is_stopped_by_the_watchdog(sources, tmp_path, monkeypatch):
    shoot = tmp_path / "in"
    shoot.mkdir()
    for i in range(3):
        shutil.copy(sources / "dune.jpg", shoot / f"p{i}.jpg")
    monkeypatch.setenv(HANG_ENV, "p0.jpg")
    jobs = plan_jobs(shoot, tmp_path / "out", ExportSettings(long_edge=200, source="recipe", recipe=LOOK.to_json()))
    results = {p.result.src.name: p.result for p in export_all(jobs, workers=1, job_timeout=10)}
    assert results["p0.jpg"].status == "failed" and "hung" in results["p0.jpg"].reason
    assert results["p1.jpg"].status == results["p2.jpg"].status == "done"
    assert not multiprocessing.active_children()


def _batch_in_session(sources: Path, tmp_path: Path, n: int, jobs: int, *, sigint_default: bool = False):
    """`retouch batch` of ``n`` copies of the real photo with LOOK into ``tmp_path / "out"``, in a
    session of its own as from a terminal. ``sigint_default``: SIGINT as a terminal leaves it
    (pytest-xdist workers ignore SIGINT, and a child would inherit that: Python then never raises
    KeyboardInterrupt)."""
    import signal
    import subprocess
    import sys

    shoot = tmp_path / "in"
    shoot.mkdir()
    for i in range(n):
        shutil.copy(sources / "dune.jpg", shoot / f"p{i:03d}.jpg")
    LOOK.save(tmp_path / "look.json")
    exe = Path(sys.executable).with_name("retouch")
    terminal = (lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) if sigint_default else None
    return subprocess.Popen([str(exe), "batch", str(shoot), str(tmp_path / "out"), "--jobs", str(jobs), "--recipe",
                             str(tmp_path / "look.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env=dict(os.environ, COLUMNS="200"),
                            preexec_fn=terminal)


def _wait_for_first_output(proc, out: Path) -> None:
    import time

    deadline = time.monotonic() + 60
    while not (out.is_dir() and any(p.suffix == ".jpg" for p in out.iterdir())):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)


def test_ctrl_c_cancels_cleanly_and_reports_exactly_what_was_written(sources, tmp_path):
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it."""
    import signal

    n = 240  # enough that a loaded machine cannot finish them all before the Ctrl-C
    out = tmp_path / "out"
    proc = _batch_in_session(sources, tmp_path, n, 1, sigint_default=True)
    _wait_for_first_output(proc, out)
    assert proc.poll() is None, "the batch finished before the Ctrl-C"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    counts = re.search(r"(\d+) done, (\d+) skipped, (\d+) failed, (\d+) not started", err)
    done, skipped, failed, not_started = map(int, counts.groups())
    files = sorted(os.listdir(out))
    assert 1 <= done < n and not_started == n - done and failed == skipped == 0
    assert len(files) == done and not [f for f in files if f.startswith(".")]  # no half files


def test_ctrl_c_while_the_workers_start_prints_no_traceback(sources, tmp_path):
    """A terminal's Ctrl-C reaches the whole process group, the workers too: one still importing
    (before its initializer ignores SIGINT) printed a KeyboardInterrupt traceback. They now start
    with SIGINT ignored; the parent cancels as before."""
    import signal
    import subprocess
    import time

    proc = _batch_in_session(sources, tmp_path, 6, 2, sigint_default=True)
    deadline = time.monotonic() + 60
    while not subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True).stdout.strip():
        assert time.monotonic() < deadline and proc.poll() is None  # a worker has been spawned: it imports
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err


def test_a_cancel_exports_only_the_photos_already_running(sources, tmp_path):
    """One worker, cancelled as the first photo comes back: nothing more is exported (with two
    photos queued per worker, the second was already in the pool's hands and was written too)."""
    import threading

    from engine.batch import ExportSettings, plan_jobs, run_local

    shoot = tmp_path / "in"
    shoot.mkdir()
    for i in range(4):
        shutil.copy(sources / "dune.jpg", shoot / f"p{i}.jpg")
    out = tmp_path / "out"
    out.mkdir()
    jobs = plan_jobs(shoot, out, ExportSettings(source="recipe", recipe=LOOK.to_json()))
    cancel = threading.Event()
    results = []
    for r in run_local(jobs, 1, cancel):
        results.append(r)
        cancel.set()
    assert [r.status for r in results] == ["done"] and sorted(os.listdir(out)) == ["p0.jpg"]


def test_disk_full_is_fatal_other_errors_are_not(tmp_path):
    """ENOSPC/EROFS stop the batch (every later photo would fail too); a bad photo does not."""
    import errno

    from engine.batch_worker import is_fatal
    from engine.io import ImageError

    def wrapped(code: int) -> ImageError:  # how engine.io reports a failed write
        try:
            try:
                raise OSError(code, os.strerror(code))
            except OSError as e:
                raise ImageError(f"cannot write ({e.strerror})", tmp_path / "a.jpg") from e
        except ImageError as e:
            return e

    assert is_fatal(wrapped(errno.ENOSPC)) and is_fatal(wrapped(errno.EROFS))
    assert not is_fatal(wrapped(errno.EACCES))
    assert not is_fatal(ImageError("the RAW data is truncated or corrupt", tmp_path / "a.DNG"))


def test_an_output_folder_that_cannot_be_written_is_refused_before_any_photo(sources, tmp_path, capsys,
                                                                            monkeypatch):
    """Permission denied on OUT_DIR: every photo was decoded and rendered, then failed alone at
    its write. It is one line before any work now (root writes anywhere, so the denial is faked)."""
    import engine.atomic
    import engine.batch

    real = engine.atomic.tempfile.TemporaryFile

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(engine.atomic.tempfile, "TemporaryFile", denied)
    out = tmp_path / "out"
    rc, err = run_cli(capsys, sources, out, "--jobs", "1")
    assert rc == 1 and f"retouch batch: error: cannot write to {out} (Permission denied)" in err
    assert "Exporting" not in err and list(out.iterdir()) == []
    monkeypatch.setattr(engine.atomic.tempfile, "TemporaryFile", real)
    assert engine.batch.prepare_output(out) is False and list(out.iterdir()) == []  # nothing left behind
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match=f"cannot write to {tmp_path / 'file' / 'sub'}"):
        engine.batch.prepare_output(tmp_path / "file" / "sub")


def test_disk_full_stops_the_batch_without_half_files(sources, tmp_path, capsys):
    """A real full disk: a 600 kB tmpfs as OUT_DIR (needs root, as the tests run here)."""
    import subprocess

    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(small)],
                      capture_output=True, check=False).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        shoot = tmp_path / "in"
        shoot.mkdir()
        for i in range(30):
            shutil.copy(sources / "dune.jpg", shoot / f"p{i:02d}.jpg")
        LOOK.save(tmp_path / "look.json")
        rc, err = run_cli(capsys, shoot, small / "out", "--jobs", "1", "--recipe", tmp_path / "look.json")
        assert rc == 1 and "Stopped:" in err and "No space left on device" in err
        files = os.listdir(small / "out")
        assert 1 <= len(files) < 30 and not [f for f in files if f.startswith(".")]  # no half files
        done = int(re.search(r"(\d+) done,", err).group(1))
        assert done == len(files)
        for f in files:  # every file that is there is complete
            with Image.open(small / "out" / f) as im:
                im.load()
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_auto_takes_the_model_strength_and_white_balance_of_retouch_auto(sources, tmp_path, capsys):
    """``--model/--strength/--white-balance`` reach every photo's Auto: each batch writes exactly
    what the recipe ``Agent.predict`` gives for those settings. The style is the shipped policy
    with strength 0 in its metadata, so only a batch that reads the style's file (not the shipped
    one under its name) writes the strength-0 recipe without ``--strength``."""
    import json

    onnx = pytest.importorskip("onnx")
    from engine.io import load_photo
    from engine.runners.agent import DEFAULT_MODEL, Agent

    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "dune.jpg")
    style = tmp_path / "my-style.onnx"  # a style file outside the styles folder, by path
    model = onnx.load(str(DEFAULT_MODEL))
    prop = next(p for p in model.metadata_props if p.key == "retouch")
    prop.value = json.dumps({**json.loads(prop.value), "strength": 0.0})
    onnx.save(model, str(style))
    linear = load_photo(shoot / "dune.jpg").linear
    expected = Agent(auto_white_balance=False).predict(linear, strength=0.0)
    assert expected.steps and all(s.op != "white_balance" for s in expected.steps)
    assert Agent(style, auto_white_balance=False).predict(linear).dumps() == expected.dumps()
    expected.save(tmp_path / "r.json")

    common = ("--format", "png")
    assert run_cli(capsys, shoot, tmp_path / "ref", "--recipe", tmp_path / "r.json", *common)[0] == 0
    rc, err = run_cli(capsys, shoot, tmp_path / "a", "--auto", "--model", style, "--white-balance", "off", *common)
    assert rc == 0 and "Auto: my-style, the style's own strength, white balance off" in err
    rc, err = run_cli(capsys, shoot, tmp_path / "s", "--auto", "--strength", "0", "--white-balance", "off", *common)
    assert rc == 0 and "Auto: the shipped model, strength 0, white balance off" in err
    # the shipped model at Auto's strength (0.6): what --model would give if only its name arrived
    assert run_cli(capsys, shoot, tmp_path / "b", "--auto", "--white-balance", "off", *common)[0] == 0
    ref, a, s, b = (np.asarray(Image.open(tmp_path / x / "dune.png")) for x in ("ref", "a", "s", "b"))
    assert np.array_equal(a, ref) and np.array_equal(s, ref)
    assert np.abs(b.astype(int) - ref).mean() > 1  # so a and s equal ref only as the style and --strength 0 arrived

    rc, err = run_cli(capsys, shoot, tmp_path / "c", "--auto", "--model", "no-such-style")
    assert rc == 1 and "no model 'no-such-style'" in err and not (tmp_path / "c").exists()


def test_auto_reads_a_raws_highlights_clipped_at_white(sources, tmp_path, capsys):
    """A RAW decode keeps its highlights past white; ``retouch auto`` and a batch's Auto read them
    clipped at white, as the app's Auto does (``raw``), and as the agent was trained."""
    from engine.io import load_photo
    from engine.io.dng import write_dng
    from engine.runners.agent import Agent
    from retouch.main import main

    shoot = tmp_path / "in"
    shoot.mkdir()
    with Image.open(sources / "dune.jpg") as im:
        write_dng(shoot / "over.dng", np.asarray(im.convert("RGB")), exposure=1.0, seed=5, preview=False)
    linear = load_photo(shoot / "over.dng").linear
    expected = Agent().predict(np.minimum(linear, 1.0))
    assert expected.dumps() != Agent().predict(linear).dumps()  # read past white, it differs
    expected.save(tmp_path / "r.json")
    assert main(["auto", str(shoot / "over.dng"), "--recipe-out", str(tmp_path / "cli.json")]) == 0
    assert Recipe.load(tmp_path / "cli.json").dumps() == expected.dumps()
    common = ("--format", "png")
    assert run_cli(capsys, shoot, tmp_path / "ref", "--recipe", tmp_path / "r.json", *common)[0] == 0
    assert run_cli(capsys, shoot, tmp_path / "a", "--auto", *common)[0] == 0
    ref, got = (np.asarray(Image.open(tmp_path / x / "over.png")) for x in ("ref", "a"))
    assert np.array_equal(got, ref)


@pytest.mark.parametrize("overwrite", [True, False])
def test_a_camera_photo_appearing_at_an_output_name_mid_batch_is_kept(sources, tmp_path, overwrite):
    """The never-replace-a-photo check ran only when the jobs were planned: a camera JPEG copied into
    the output folder during the batch was overwritten (or, without overwrite, counted as done)."""
    from engine.batch_worker import export_one

    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "p0.jpg")
    out = tmp_path / "out"
    (job,) = plan_jobs(shoot, out, ExportSettings(long_edge=200, overwrite=overwrite, source="recipe",
                                                  recipe=LOOK.to_json()))
    out.mkdir()
    shutil.copy(sources / "dune.jpg", job.dst)  # someone's photo, no "Retouch" in its EXIF
    before = job.dst.read_bytes()
    r = export_one(job)
    assert r.status == "failed" and "did not write" in r.reason and not r.fatal
    assert job.dst.read_bytes() == before


def test_an_output_folder_gone_mid_batch_stops_it_and_is_not_recreated(sources, tmp_path):
    """An unplugged drive or a deleted folder: the outputs went to the empty mount point (recreated
    by the worker) and the batch said done."""
    from engine.batch_worker import export_one

    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "p0.jpg")
    out = tmp_path / "usb" / "export"
    (job,) = plan_jobs(shoot, out, ExportSettings(long_edge=200, source="recipe", recipe=LOOK.to_json()))
    assert not out.exists()
    r = export_one(job)
    assert r.status == "failed" and r.fatal and "gone" in r.reason
    assert not out.exists()


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_a_killed_batch_leaves_no_workers_behind(sources, tmp_path, sig):
    """SIGTERM cancels as Ctrl-C does (summary, status 130); SIGKILL cannot be caught, but the
    workers die with their parent (they blocked for good, 364 MB each)."""
    import signal
    import subprocess
    import time

    proc = _batch_in_session(sources, tmp_path, 120, 2)
    _wait_for_first_output(proc, tmp_path / "out")
    workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert workers
    os.kill(proc.pid, getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    if sig == "SIGTERM":
        assert proc.returncode == 130 and "not started" in err, err
    deadline = time.monotonic() + 20
    while any(os.path.exists(f"/proc/{pid}") and "Z" not in open(f"/proc/{pid}/stat").read().split()[2]
              for pid in workers):
        assert time.monotonic() < deadline, "a worker outlived its batch"
        time.sleep(0.1)


def _four_with_p0_hung(sources, tmp_path, monkeypatch) -> list:
    """The jobs of four copies of the photo in ``tmp_path / "in"``, p0.jpg's worker hanging."""
    shoot = tmp_path / "in"
    shoot.mkdir()
    for i in range(4):
        shutil.copy(sources / "dune.jpg", shoot / f"p{i}.jpg")
    monkeypatch.setenv(HANG_ENV, "p0.jpg")
    return plan_jobs(shoot, tmp_path / "out", ExportSettings(long_edge=200, source="recipe", recipe=LOOK.to_json()))


def test_a_cancel_stops_a_hung_photo_after_the_grace(sources, tmp_path, monkeypatch):
    """A cancel waited for every running photo: a hung one held it for the watchdog's 10 minutes
    (a second Ctrl-C too). Now running photos get a grace, then their workers are killed."""
    import time

    monkeypatch.setattr("engine.batch.CANCEL_GRACE_S", 2.0)
    jobs = _four_with_p0_hung(sources, tmp_path, monkeypatch)
    cancel = threading.Event()
    results = []
    t0 = time.monotonic()
    for p in export_all(jobs, workers=2, cancel=cancel, job_timeout=600):
        results.append(p.result)
        if p.result.status == "done":
            cancel.set()
    hung = next(r for r in results if r.src.name == "p0.jpg")
    assert hung.status == "failed" and "cancelled" in hung.reason
    assert time.monotonic() - t0 < 60
    assert not multiprocessing.active_children()
    assert not [f for f in os.listdir(tmp_path / "out") if f.startswith(".")]


def test_the_apps_cancel_stops_running_photos_at_once(sources, tmp_path, monkeypatch):
    """The app's Cancel (grace 0): a 54 MP export went on for 9 s after it, and was written. The
    photo running is stopped at once, not reported (neither exported nor failed), and nothing of
    it is left; what was written before stays."""
    import time

    jobs = _four_with_p0_hung(sources, tmp_path, monkeypatch)
    cancel = threading.Event()
    results, stopped = [], None
    for p in export_all(jobs, workers=2, cancel=cancel, job_timeout=600, grace=0):
        results.append(p.result)
        if p.result.status == "done" and stopped is None:
            cancel.set()
            stopped = time.monotonic()
    assert stopped is not None and time.monotonic() - stopped < 5
    assert "p0.jpg" not in [r.src.name for r in results] and all(r.status == "done" for r in results)
    # every file there is reported done (one renamed into place as its worker was killed too)
    assert sorted(f for f in os.listdir(tmp_path / "out")) == sorted(r.dst.name for r in results)
    assert not multiprocessing.active_children()


def test_a_second_batch_never_deletes_a_live_writers_temp_file(sources, tmp_path):
    """Two batches into one folder: each one's start and end swept the other's temp files as a dead
    writer's leftovers, and 7 of 24 photos failed. A live writer's temp file is locked."""
    from engine.atomic import atomic_path

    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "p0.jpg")
    out = tmp_path / "out"
    out.mkdir()
    jobs = plan_jobs(shoot, out, ExportSettings())
    dead = out / f".{jobs[0].dst.name}.abcd1234.part.jpg"  # a killed writer's: no lock held
    dead.write_bytes(b"half")
    with atomic_path(jobs[0].dst) as tmp:
        tmp.write_bytes(b"being written")
        assert cleanup_partials(jobs) == 1  # the dead one only
        assert tmp.exists() and not dead.exists()
    assert jobs[0].dst.read_bytes() == b"being written"


def test_retouchs_own_exports_in_the_folder_are_not_taken_for_photos(sources, tmp_path, capsys):
    """A shoot with the app's default export/ sub-folder, batch-exported with --recursive, exported
    Retouch's own JPEGs again (Auto on top of the edit): 21 files for 11 photos. An export saved
    beside the originals was taken for a photo the same way."""
    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune_raw.DNG", shoot / "IMG_1.DNG")
    shutil.copy(sources / "dune.jpg", shoot / "IMG_2.jpg")
    settings = ExportSettings(recipe=LOOK.to_json(), source="recipe", long_edge=200)
    first = plan_jobs(shoot, shoot / "export", settings)
    assert [p.result.status for p in export_all(first, workers=1)] == ["done", "done"]
    (job,) = plan_jobs(shoot, shoot, settings, sources=[shoot / "IMG_1.DNG"])  # one beside the originals
    assert job.dst == shoot / "IMG_1.jpg"
    assert [p.result.status for p in export_all([job], workers=1)] == ["done"]
    plan = plan_jobs(shoot, tmp_path / "out", settings, recursive=True)
    assert [j.src.name for j in plan] == ["IMG_1.DNG", "IMG_2.jpg"]
    assert sorted(str(p.relative_to(shoot)) for p in plan.left_out) == ["IMG_1.jpg", "export/IMG_1.jpg",
                                                                       "export/IMG_2.jpg"]
    # the export beside the RAW is its output, to be replaced, not a namesake that renames it
    (again,) = plan_jobs(shoot, shoot, settings, sources=[shoot / "IMG_1.DNG"])
    assert again.dst == shoot / "IMG_1.jpg"
    LOOK.save(tmp_path / "look.json")
    rc, err = run_cli(capsys, shoot, tmp_path / "cli", "--recursive", "--recipe", tmp_path / "look.json",
                      "--long-edge", "200")
    assert rc == 0, err
    assert "Left out 3 images that Retouch exported before" in err
    assert sorted(p.name for p in (tmp_path / "cli").rglob("*.jpg")) == ["IMG_1.jpg", "IMG_2.jpg"]
    # a folder of exports alone: nothing else to export, and no sub-folder to suggest --recursive for
    rc, err = run_cli(capsys, shoot / "export", tmp_path / "again", "--recipe", tmp_path / "look.json")
    assert rc == 0, err
    assert "Left out 2 images that Retouch exported before" in err
    assert f"No other photos found in {shoot / 'export'}\n" in err
    (tmp_path / "nested" / "day1").mkdir(parents=True)  # photos only in a sub-folder: the hint
    shutil.copy(sources / "dune.jpg", tmp_path / "nested" / "day1" / "a.jpg")
    rc, err = run_cli(capsys, tmp_path / "nested", tmp_path / "again", "--recipe", tmp_path / "look.json")
    assert f"No photos found in {tmp_path / 'nested'} (use --recursive for sub-folders)" in err


def test_a_rerun_redoes_the_photos_edited_since_their_export(sources, tmp_path):
    """A re-run skipped every photo with an output, so a photo tweaked after its export kept the
    old look in the export folder without a word. A photo whose sidecar (or file) is newer than its
    output is exported again; the others are still skipped."""
    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "a.jpg")
    shutil.copy(sources / "dune.jpg", shoot / "b.jpg")
    for name in ("a.jpg", "b.jpg"):
        LOOK.save(sidecar_path(shoot / name))
    out = tmp_path / "out"
    settings = ExportSettings(long_edge=200)
    assert [p.result.status for p in export_all(plan_jobs(shoot, out, settings), workers=1)] == ["done", "done"]
    first = np.asarray(Image.open(out / "a.jpg"), float).mean()
    now = time.time()
    for name in ("a.jpg", "b.jpg"):  # the photos shot long ago, exported an hour ago
        os.utime(shoot / name, (now - 86400, now - 86400))
        os.utime(out / name, (now - 3600, now - 3600))
        os.utime(sidecar_path(shoot / name), (now - 7200, now - 7200))
    Recipe([Step("exposure", {"ev": -1.5})]).save(sidecar_path(shoot / "a.jpg"))  # edited now
    got = {p.result.src.name: p.result for p in export_all(plan_jobs(shoot, out, settings), workers=1)}
    assert (got["a.jpg"].status, got["b.jpg"].status) == ("done", "skipped"), got
    assert "unchanged" in got["b.jpg"].reason
    assert np.asarray(Image.open(out / "a.jpg"), float).mean() < first - 20  # the new edit
    again = [p.result.status for p in export_all(plan_jobs(shoot, out, settings), workers=1)]
    assert again == ["skipped", "skipped"]

    def statuses(settings: ExportSettings) -> dict[str, str]:
        return {p.result.src.name: p.result.status for p in export_all(plan_jobs(shoot, out, settings), workers=1)}

    os.utime(sidecar_path(shoot / "b.jpg"), (now, now))  # saved again since (its steps may have changed)
    assert statuses(settings) == {"a.jpg": "skipped", "b.jpg": "done"}
    # Auto instead of the sidecars' steps makes other files (the QA's: a photo exported with its
    # steps was then skipped by a batch that gives Auto, and the reverse)
    auto = replace(settings, source="auto")
    assert statuses(auto) == {"a.jpg": "done", "b.jpg": "done"}
    assert statuses(auto) == {"a.jpg": "skipped", "b.jpg": "skipped"}
    # a photo reset (its sidecar deleted) gets Auto, which its file already is; the other its steps
    sidecar_path(shoot / "a.jpg").unlink()
    assert statuses(settings) == {"a.jpg": "skipped", "b.jpg": "done"}
    assert statuses(replace(settings, long_edge=300)) == {"a.jpg": "done", "b.jpg": "done"}  # another size


def test_a_photo_reset_after_its_export_is_exported_again(sources, tmp_path):
    """The QA's: after Reset Photo, Export said "skipped (exported before, unchanged since)" and left
    the old edited file, as nothing newer than it was left to compare with (the sidecar is deleted).
    Each output carries what made it (its EXIF ImageUniqueID), in every format."""
    from engine.batch_worker import already_done, made_from
    from engine.io.metadata import made_from_tag

    shoot, out = tmp_path / "in", tmp_path / "out"
    shoot.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "a.jpg")
    plain = np.asarray(Image.open(shoot / "a.jpg").reduce(4), float).mean()
    for fmt in ("jpeg", "png", "png16", "tiff16"):
        edited = ExportSettings(fmt=fmt, long_edge=240, source="recipe", recipe=LOOK.to_json())
        reset = replace(edited, recipe=Recipe().to_json())
        [job] = plan_jobs(shoot, out, edited)
        assert [p.result.status for p in export_all([job], workers=1)] == ["done"]
        assert made_from_tag(job.dst) == made_from(job) and len(made_from(job)) == 32
        with Image.open(job.dst) as im:
            looked = np.asarray(im.convert("RGB"), float).mean()
        assert abs(looked - plain) > 10  # LOOK's exposure
        assert [p.result.status for p in export_all(plan_jobs(shoot, out, edited), workers=1)] == ["skipped"]
        assert [p.result.status for p in export_all(plan_jobs(shoot, out, reset), workers=1)] == ["done"], fmt
        with Image.open(job.dst) as im:
            assert abs(np.asarray(im.convert("RGB"), float).mean() - plain) < 3  # the photo as it is
        assert [p.result.status for p in export_all(plan_jobs(shoot, out, reset), workers=1)] == ["skipped"]
    # the photo is in it: another photo's export at the same steps and settings is not this one's
    shutil.copy(shoot / "a.jpg", shoot / "b.jpg")
    [a, b] = plan_jobs(shoot, out, reset)
    assert made_from(a) != made_from(b)
    # an export of an older Retouch (no fingerprint) is judged by the times alone, as before
    from engine.io import write_image

    old = out / "old.jpg"
    write_image(old, np.zeros((8, 8, 3), np.uint8))
    assert made_from_tag(old) is None
    assert already_done(replace(a, dst=old))
    os.utime(shoot / "a.jpg", (time.time() + 60, time.time() + 60))  # the photo replaced since
    assert not already_done(replace(a, dst=old))


def test_a_small_export_of_a_raw_is_demosaiced_as_apply_does(sources, tmp_path, capsys):
    """Exports at most half the photo's size decoded the RAW with LibRaw's half-size binning (no
    demosaic): red and blue a quarter pixel apart, false colour on edges, 34.6 dB against the 39.8
    of `retouch apply` on the sample. The batch (and so the app's Export) now gives apply's file."""
    from engine.cli import main as retouch

    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune_raw.DNG", shoot / "dune_raw.DNG")
    LOOK.save(tmp_path / "look.json")
    rc, err = run_cli(capsys, shoot, tmp_path / "out", "--recipe", tmp_path / "look.json", "--long-edge", "300")
    assert rc == 0, err
    assert retouch(["apply", str(shoot / "dune_raw.DNG"), "-r", str(tmp_path / "look.json"), "-o",
                    str(tmp_path / "apply.jpg"), "--long-edge", "300"]) == 0
    with Image.open(tmp_path / "out" / "dune_raw.jpg") as a, Image.open(tmp_path / "apply.jpg") as b:
        batch, single = np.asarray(a, float), np.asarray(b, float)
    assert batch.shape == single.shape and max(batch.shape) == 300
    assert np.abs(batch - single).max() <= 2  # the same pixels, within JPEG's rounding


def test_a_rerun_redoes_every_photo_when_the_recipe_file_changed(sources, tmp_path, capsys):
    """`--recipe look.json` applied to a folder, then look.json edited: the re-run kept the old look
    in every file (the photos and their sidecars had not changed)."""
    shoot = tmp_path / "in"
    shoot.mkdir()
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(sources / "dune.jpg", shoot / name)
    look, out = tmp_path / "look.json", tmp_path / "out"
    LOOK.save(look)
    args = (shoot, out, "--recipe", look, "--long-edge", "200")
    assert run_cli(capsys, *args)[0] == 0
    before = np.asarray(Image.open(out / "a.jpg"), float).mean()
    now = time.time()
    for name in ("a.jpg", "b.jpg"):
        os.utime(shoot / name, (now - 3600, now - 3600))  # shot an hour ago
        os.utime(out / name, (now - 60, now - 60))  # exported a minute ago
    Recipe([Step("exposure", {"ev": -1.5})]).save(look)  # the look changed since
    rc, err = run_cli(capsys, *args)
    assert rc == 0, err
    assert np.asarray(Image.open(out / "a.jpg"), float).mean() < before - 20
    settings = ExportSettings(recipe=Recipe.load(look).to_json(), source="recipe", long_edge=200, recipe_file=str(look))
    assert [p.result.status for p in export_all(plan_jobs(shoot, out, settings), workers=1)] == ["skipped"] * 2


def test_a_camera_photo_appearing_while_a_photo_renders_is_kept(sources, tmp_path, monkeypatch):
    """The check made just before writing (the decode and render take seconds): a JPEG copied to
    the output name meanwhile is someone's photo, never replaced."""
    import engine.render
    from engine.batch_worker import export_one

    shoot = tmp_path / "in"
    shoot.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "p0.jpg")
    out = tmp_path / "out"
    out.mkdir()
    (job,) = plan_jobs(shoot, out, ExportSettings(long_edge=200, overwrite=True, source="recipe",
                                                  recipe=LOOK.to_json()))
    real = engine.render.render_bits

    def render_while_copied(*args, **kw):
        shutil.copy(sources / "dune.jpg", job.dst)  # copied in from the card meanwhile
        return real(*args, **kw)

    monkeypatch.setattr(engine.render, "render_bits", render_while_copied)
    before = (sources / "dune.jpg").read_bytes()
    r = export_one(job)
    assert r.status == "failed" and "did not write" in r.reason and not r.fatal
    assert job.dst.read_bytes() == before


def test_a_slash_in_a_camera_name_makes_no_sub_folder(sources, tmp_path):
    """{camera} from a Model such as "EOS 5D/IV" would have made a folder "EOS 5D"."""
    import piexif

    shoot = tmp_path / "in"
    shoot.mkdir()
    exif = piexif.load(str(sources / "dune.jpg"))
    exif["0th"][piexif.ImageIFD.Make] = b"Canon"
    exif["0th"][piexif.ImageIFD.Model] = b"EOS 5D/IV"
    shutil.copy(sources / "dune.jpg", shoot / "a.jpg")
    piexif.insert(piexif.dump(exif), str(shoot / "a.jpg"))
    (job,) = plan_jobs(shoot, tmp_path / "out", template="{camera}/{stem}")
    assert job.dst.relative_to(tmp_path / "out").parts == ("Canon EOS 5D_IV", "a.jpg")


def test_the_command_names_an_output_saved_under_another_name(tmp_path, capsys, photo_jpeg):
    """A photo Retouch did not write holds the template's name in OUT_DIR: kept, and the export goes
    to another name, which the app's dialog said and the command did not."""
    shoot, out = tmp_path / "shoot", tmp_path / "out"
    shoot.mkdir()
    out.mkdir()
    shutil.copy(photo_jpeg, shoot / "x.jpg")
    shutil.copy(photo_jpeg, out / "x.jpg")  # someone else's photo
    before = (out / "x.jpg").read_bytes()
    rc, err = run_cli(capsys, shoot, out, "--jobs", "1", "--overwrite")
    assert rc == 0, err
    assert (out / "x.jpg").read_bytes() == before
    (renamed,) = [p.name for p in out.iterdir() if p.name != "x.jpg"]
    assert "Saved under another name, as the template's was taken: x.jpg -> " + renamed in " ".join(err.split())


def test_a_dangling_link_is_said_to_be_one(tmp_path, capsys, photo_jpeg):
    shoot, out = tmp_path / "shoot", tmp_path / "out"
    shoot.mkdir()
    shutil.copy(photo_jpeg, shoot / "x.jpg")
    (shoot / "gone.jpg").symlink_to(tmp_path / "elsewhere" / "gone.jpg")
    rc, err = run_cli(capsys, shoot, out, "--jobs", "1")
    assert rc == 1 and (out / "x.jpg").is_file()
    assert "gone.jpg: a link to a file that is no longer there" in " ".join(err.split())


def test_recursive_follows_folder_links_once_each(sources, tmp_path):
    """A link to a folder (a card's folder linked into the shoot) is exported as the app's Folders
    menu lists it; a link back up the tree or to a folder already read neither loops nor exports a
    photo twice. Before, every folder link was skipped."""
    shoot, card = tmp_path / "in", tmp_path / "card"
    (shoot / "a").mkdir(parents=True)
    card.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "a" / "x.jpg")
    shutil.copy(sources / "dune.jpg", card / "z.jpg")
    (shoot / "card").symlink_to(card)
    (shoot / "a" / "up").symlink_to(shoot)  # a loop
    (shoot / "a" / "top").symlink_to(tmp_path)  # up past IN_DIR: the parent's photos and their siblings
    shutil.copy(sources / "dune.jpg", tmp_path / "parents.jpg")
    (shoot / "0").symlink_to(shoot / "z" / "real")  # a link met before the real folder, a level up
    (shoot / "z" / "real").mkdir(parents=True)
    shutil.copy(sources / "dune.jpg", shoot / "z" / "real" / "y.jpg")
    (shoot / "b").symlink_to(shoot / "a")  # the same folder again
    jobs = plan_jobs(shoot, tmp_path / "out", recursive=True)
    assert sorted(str(j.dst.relative_to(tmp_path / "out")) for j in jobs) == ["a/x.jpg", "card/z.jpg", "z/real/y.jpg"]
    assert plan_jobs(shoot, tmp_path / "out2") == []  # not recursive: no links followed either


def test_an_unreadable_sub_folder_is_reported_and_the_rest_exports(sources, tmp_path, capsys, refuse_listing):
    shoot = tmp_path / "in"
    (shoot / "locked").mkdir(parents=True)
    shutil.copy(sources / "dune.jpg", shoot / "a.jpg")
    refuse_listing(shoot / "locked")
    LOOK.save(tmp_path / "look.json")
    rc, err = run_cli(capsys, shoot, tmp_path / "out", "--recursive", "--jobs", "1", "--long-edge", "200",
                      "--recipe", tmp_path / "look.json")
    assert rc == 1 and (tmp_path / "out" / "a.jpg").is_file()
    assert "Cannot read the sub-folder locked (check its permissions): its photos are left out" in err, err
    # nor does it take a name from a photo: an unreadable "sub2" beside "sub2.jpg" renamed that one's output
    shutil.copy(sources / "dune.jpg", shoot / "locked.jpg")
    plan = plan_jobs(shoot, tmp_path / "out2", recursive=True)
    assert [j.dst.name for j in plan] == ["a.jpg", "locked.jpg"] and plan.unreadable == [shoot / "locked"]


def test_a_log_gets_progress_lines_and_whole_names(sources, tmp_path, capsys, monkeypatch):
    """Not on a terminal (a log, CI), the bar printed nothing until the end, and the summary's table,
    80 columns wide, cut the failed photos' names."""
    shoot = tmp_path / "in"
    shoot.mkdir()
    for i in range(2):
        shutil.copy(sources / "dune.jpg", shoot / f"p{i}.jpg")
    long = "a_very_long_file_name_from_a_wedding_in_biarritz_by_the_sea_at_dusk_0042.jpg"
    (shoot / long).write_bytes(b"\xff\xd8\xff\xe0 truncated")
    monkeypatch.setattr(batch_cli, "LOG_EVERY_S", 0.0)
    LOOK.save(tmp_path / "look.json")
    rc, err = run_cli(capsys, shoot, tmp_path / "out", "--jobs", "1", "--long-edge", "200",
                      "--recipe", tmp_path / "look.json")
    assert rc == 1
    assert re.search(r"^1/3 photos, [\d.]+ photos/min, ETA ", err, re.M) and "\n3/3 photos" in err, err
    assert "Batch export: 2 done, 0 skipped, 1 failed, 0 not started\n" in err
    assert f"\n  {long}: " in err
    assert "━" not in err  # no bar's last frame
    assert f"Exporting 3 photo(s) from {shoot} to {tmp_path / 'out'} on 1 worker process(es)\n" in err  # unwrapped


def test_outputs_saved_under_another_name_say_which_photo_where_two_asked_for_one():
    """A RAW and the camera's JPEG of one shot both asked for IMG_1.jpg: the line read
    "IMG_1.jpg -> IMG_1_JPG.jpg; IMG_1.jpg -> IMG_1_dng.jpg", which photo each was left unsaid."""
    from engine.batch import Plan, renamed_text

    out = Path("/out")
    plan = Plan(renamed={Path("/in/IMG_1.JPG"): out / "IMG_1.jpg", Path("/in/IMG_1.dng"): out / "IMG_1.jpg",
                         Path("/in/x.jpg"): out / "x.jpg", Path("/in/y.jpg"): out / "y.jpg"})
    done = {Path("/in/IMG_1.JPG"): out / "IMG_1_JPG.jpg", Path("/in/IMG_1.dng"): out / "IMG_1_dng.jpg",
            Path("/in/x.jpg"): out / "x_jpg.jpg"}  # y.jpg failed: not said
    assert renamed_text(plan, done) == (
        "Saved under another name, as the template gave two photos one name, or it was taken: "
        "IMG_1.jpg -> IMG_1_JPG.jpg (from IMG_1.JPG); "
        "IMG_1.jpg -> IMG_1_dng.jpg (from IMG_1.dng); x.jpg -> x_jpg.jpg")
    assert renamed_text(Plan(), done) == ""


def test_a_failed_photos_reason_does_not_name_it_again(sources, tmp_path, capsys):
    """The report names each failed photo ("day2/IMG_1.jpg: ..."); its reason repeated the name
    ("day2/IMG_1.jpg: IMG_1.jpg: the image is truncated ...")."""
    shoot = tmp_path / "in"
    (shoot / "day2").mkdir(parents=True)
    (shoot / "day2" / "IMG_1.jpg").write_bytes((sources / "dune.jpg").read_bytes()[:5000])
    [job] = plan_jobs(shoot, tmp_path / "out", recursive=True)
    [p] = export_all([job], workers=1)
    assert p.result.status == "failed" and p.result.reason.startswith("the image is truncated"), p.result.reason
    rc, err = run_cli(capsys, shoot, tmp_path / "out", "--recursive")
    assert rc == 1 and "IMG_1.jpg: IMG_1.jpg" not in err and err.count("IMG_1.jpg") == 1, err


def test_numbering_a_days_photos_looks_at_each_name_about_once(sources, tmp_path, monkeypatch):
    """"{date}" alone for a day's 800 photos took 3.8 s on the GUI thread (a QA's): each photo's
    search for a free number started again at 1, looking at every name before it (n² in all); and
    again (a review's) once the day's last photo had been exported alone first, to the day's name."""
    import engine.batch as batch

    shoot, out = tmp_path / "in", tmp_path / "out"
    shoot.mkdir()
    for i in range(60):
        os.link(sources / "dune.jpg", shoot / f"IMG_{i:02d}.jpg")
    looked = []
    real = batch._real
    monkeypatch.setattr(batch, "_real", lambda p: looked.append(p) or real(p))
    plan = plan_jobs(shoot, out, ExportSettings(long_edge=64), template="{date}")
    assert [j.dst.name for j in plan][:3] == ["2007-08-06.jpg", "2007-08-06-2.jpg", "2007-08-06-3.jpg"]
    assert len({j.dst for j in plan}) == 60 and plan[-1].dst.name == "2007-08-06-60.jpg"
    assert len(looked) <= 4 * 60, len(looked)  # about 1900 when each search started again at 1
    last = plan_jobs(shoot, out, ExportSettings(long_edge=64), template="{date}", sources=[shoot / "IMG_59.jpg"])
    assert [p.result.status for p in export_all(last, workers=1)] == ["done"]
    assert last[0].dst.name == "2007-08-06.jpg"
    looked.clear()
    plan = plan_jobs(shoot, out, ExportSettings(long_edge=64), template="{date}")
    assert plan[-1].dst.name == "2007-08-06.jpg" and plan[0].dst.name == "2007-08-06-2.jpg"
    assert len({j.dst for j in plan}) == 60 and len(looked) <= 4 * 60, len(looked)


def test_an_older_retouchs_export_is_still_its_photos(sources, tmp_path):
    """The forty-second session's fingerprints (a plain hash, 32 hex digits too) name no photo: a
    review found every such export taken for another photo's, and each re-export numbered beside it."""
    from engine.batch_worker import made_from, marked
    from engine.io import write_image

    shoot, out = tmp_path / "in", tmp_path / "out"
    shoot.mkdir()
    out.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "IMG_0.jpg")
    old = hashlib.blake2b(b"an older Retouch's", digest_size=16).hexdigest()
    write_image(out / "IMG_0.jpg", np.zeros((8, 8, 3), np.uint8), made_from=old)
    assert not marked(old)
    [job] = plan_jobs(shoot, out)
    assert job.dst == out / "IMG_0.jpg" and marked(made_from(job))
    assert [p.result.status for p in export_all([job], workers=1)] == ["done"]  # redone in place
    assert sorted(p.name for p in out.iterdir()) == ["IMG_0.jpg"]


@pytest.fixture
def look_file(tmp_path) -> Path:
    LOOK.save(tmp_path / "look.json")
    return tmp_path / "look.json"


def test_a_fifo_named_like_a_raster_photo_is_reported_never_waited_on(sources, tmp_path, capsys, look_file):
    """``mkfifo IMG_1.jpg``: planning read its tags to tell Retouch's own exports apart, and the
    open blocked for good (the command line and the app's Batch Export hung, and so did quitting)."""
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "dune.jpg")
    fifos = [shoot / n for n in ("pipe.jpg", "pipe.png", "pipe.tif")]
    for f in fifos:
        os.mkfifo(f)
    done: list = []
    t = threading.Thread(target=lambda: done.append(run_cli(capsys, shoot, tmp_path / "out", "--recipe", look_file)),
                         daemon=True)
    t.start()
    t.join(60)
    if not done:  # blocked in an open: a writer lets it go, so that the run ends
        for f in fifos:
            try:
                os.close(os.open(f, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        t.join(30)
        pytest.fail("the batch waited on a FIFO")
    rc, err = done[0]
    assert rc == 1 and (tmp_path / "out" / "dune.jpg").is_file()
    assert err.count("not a regular file") == 3, err


@pytest.mark.parametrize("kind", ["fifo", "folder", "link to nothing"])
def test_anything_but_a_file_at_an_outputs_name_is_kept_and_the_output_named_anew(sources, tmp_path, capsys, kind,
                                                                                  look_file):
    """A FIFO, a folder or a dangling link at ``OUT/a.jpg`` passed for an earlier export: the photo
    was counted as skipped and nothing was written (QA)."""
    shoot, out = tmp_path / "shoot", tmp_path / "out"
    shoot.mkdir()
    out.mkdir()
    shutil.copy(sources / "dune.jpg", shoot / "a.jpg")
    there = out / "a.jpg"
    {"fifo": os.mkfifo, "folder": os.mkdir,
     "link to nothing": lambda p: p.symlink_to(tmp_path / "gone.jpg")}[kind](there)
    rc, err = run_cli(capsys, shoot, out, "--recipe", look_file)
    assert rc == 0 and "1 done, 0 skipped" in err, err
    assert (out / "a_jpg.jpg").is_file() and os.path.lexists(there) and not there.is_file()
