"""The evaluate command's bookkeeping on real held-out photos (its numbers go into MODEL.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.runners.agent import DEFAULT_MODEL
from models.retouch.evaluate import (
    bootstrap_line,
    clipped,
    clipping,
    evaluate,
    intersection,
    patch_stats,
    patches,
    photo_bootstrap,
    photo_table,
)

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no shipped model")


def test_table_and_per_step_curve_agree(heldout_files):
    res = evaluate(None, heldout_files[:2], heldout_files[2:4], per_photo=2, long_edge=256, log=lambda _: None)
    t = res["table"]
    assert res["n_images"] == 4 and set(t) >= {"agent", "(a) input as is", "(b) LibRaw default", "original"}
    steps = res["per_step"]
    assert 5 <= len(steps) <= 9  # nothing, the measured steps (up to 3) and the policy's 5, less no-ops
    # no steps is the input as is; the whole recipe is the agent's score
    assert steps[0] == pytest.approx(t["(a) input as is"]["psnr"], abs=0.01)  # render vs plain encode
    assert steps[-1] == pytest.approx(t["agent"]["psnr"], abs=1e-6)
    for row in t.values():
        assert all(0 < h <= 1 for h in row["hi"]) and (math.isnan(row["psnr"]) or 5 < row["psnr"] < 60)
    # the per-photo table: one row per photo, in order, whose means are the table's
    by_photo = res["by_photo"]
    assert list(by_photo) == [p.stem for p in heldout_files[:2]]
    for m in ("agent", "(b) LibRaw default"):
        assert np.mean([r[m] for r in by_photo.values()]) == pytest.approx(t[m]["psnr"], abs=1e-9)
    assert by_photo[heldout_files[0].stem]["agent"] != by_photo[heldout_files[1].stem]["agent"]
    assert photo_table(res).count("\n") == 3 and heldout_files[1].stem in photo_table(res)
    # blown highlights per method, a share of the pixels
    assert all(0 <= row["clipped"] <= 1 for row in t.values()) and "original photos" in clipping(res)
    # the lead over (b) over photo resamples starts from the table's own differences
    boot, b = res["bootstrap"], t["(b) LibRaw default"]
    assert boot["psnr"]["lead"] == pytest.approx(t["agent"]["psnr"] - b["psnr"], abs=1e-9)
    for k in range(3):
        assert boot["hi"][k]["lead"] == pytest.approx(t["agent"]["hi"][k] - b["hi"][k], abs=1e-9)
    assert boot["photos"] == 2 and bootstrap_line(res).count("≥ 0 in") == 7
    for k in range(3):
        assert boot["original"][k]["lead"] == pytest.approx(t["original"]["hi"][k] - b["hi"][k], abs=1e-9)


def test_clipped_counts_blown_pixels_of_a_real_photo(heldout_srgb):
    photo = np.asarray(heldout_srgb[0], np.float32)
    base = clipped(photo)
    brighter = clipped(np.clip(photo * 1.6, 0, 1))  # overexposed: its highlights blow
    assert brighter > base + 0.01
    assert clipped(photo * 0.5) == 0.0
    white = photo.copy()
    white[: white.shape[0] // 4] = 1.0  # a quarter of the frame blown
    assert clipped(white) == pytest.approx(0.25 + 0.75 * clipped(photo[white.shape[0] // 4:]), abs=0.01)


def test_strength_row_is_the_policy_as_predicted(heldout_files):
    from engine.runners.agent import AUTO_STRENGTH

    kw = dict(per_photo=1, long_edge=192, log=lambda _: None)
    res = evaluate(None, heldout_files[:1], heldout_files[2:3], **kw)
    assert res["strength"] == AUTO_STRENGTH
    t = res["table"]
    assert t["agent"]["psnr"] != pytest.approx(t["agent, strength 1"]["psnr"], abs=1e-4)
    full = evaluate(None, heldout_files[:1], heldout_files[2:3], strength=1.0, **kw)["table"]
    assert full["agent"]["psnr"] == pytest.approx(full["agent, strength 1"]["psnr"], abs=1e-9)
    assert full["agent"]["psnr"] == pytest.approx(t["agent, strength 1"]["psnr"], abs=1e-9)
    # the measured steps alone: Auto at strength 0, the policy's steps all left out
    measured = "agent, strength 0 (measured steps alone)"
    zero = evaluate(None, heldout_files[:1], heldout_files[2:3], strength=0.0, **kw)["table"]
    assert zero["agent"]["psnr"] == pytest.approx(t[measured]["psnr"], abs=1e-9)
    assert t[measured]["psnr"] != pytest.approx(t["agent"]["psnr"], abs=1e-4)


def test_hi_is_averaged_over_independent_patch_draws(heldout_files):
    """HI is the mean over draws; each method's patches are its own (rerunning with fewer draws
    gives the same first draws), and the draws differ from one another."""
    kw = dict(per_photo=1, long_edge=192, log=lambda _: None)
    three = evaluate(None, heldout_files[:2], heldout_files[2:4], draws=3, **kw)
    one = evaluate(None, heldout_files[:2], heldout_files[2:4], draws=1, **kw)
    for m, row in three["table"].items():
        draws = np.asarray(row["hi_draws"])
        assert draws.shape == (3, 3)
        assert np.allclose(draws.mean(0), row["hi"]) and np.allclose(draws.std(0), row["hi_sd"])
        assert np.allclose(draws[0], one["table"][m]["hi_draws"][0])
        assert 0 <= min(row["vs_b"]) and max(row["vs_b"]) <= 1
    assert not np.allclose(three["table"]["agent"]["hi_draws"][0], three["table"]["agent"]["hi_draws"][1])
    assert three["table"]["(b) LibRaw default"]["vs_b"] == [1.0, 1.0, 1.0]


def _stats(photos: list[np.ndarray], draws: int, stream: int) -> list[list[np.ndarray]]:
    return [[patch_stats(patches(p, np.random.default_rng([stream, d, i]))) for i, p in enumerate(photos)]
            for d in range(draws)]


def test_photo_bootstrap_resamples_whole_photos(heldout_srgb):
    """The interval comes from which photos are drawn: a photo's degradations travel together, a
    method against itself leads by exactly nothing, and photos that all score alike leave no spread."""
    photos = [np.asarray(p, np.float32) for p in heldout_srgb[:3]]
    images = [p for p in photos for _ in range(2)]  # 3 photos x 2 "degradations"
    photo_of = [f"p{i // 2}" for i in range(6)]
    a = _stats(images, 2, 1)
    b = _stats([np.clip(p * 0.6, 0, 1) for p in images], 2, 2)  # a darker rendering of the same photos
    tgt = [np.concatenate(d) for d in _stats([np.asarray(p, np.float32) for p in heldout_srgb[3:]], 2, 3)]
    gaps = [1.0, 3.0, 5.0]  # each photo's PSNR lead, the same on both of its images
    b_psnr = [20.0] * 6
    a_psnr = [20.0 + gaps[i // 2] for i in range(6)]
    boot = photo_bootstrap(a, b, tgt, photo_of, a_psnr, b_psnr, resamples=500)
    p = boot["psnr"]
    assert p["lead"] == pytest.approx(3.0) and 1.0 <= p["interval"][0] < 3.0 < p["interval"][1] <= 5.0
    assert p["share_ge"] == 1.0
    for k, r in enumerate(boot["hi"]):
        direct = np.mean([intersection(np.concatenate(a[d]), tgt[d])[k] - intersection(np.concatenate(b[d]), tgt[d])[k]
                          for d in range(2)])
        assert r["lead"] == pytest.approx(direct, abs=1e-12)
        assert r["interval"][0] <= r["interval"][1]
    assert boot["hi"][0]["interval"][1] - boot["hi"][0]["interval"][0] > 0.01  # three different photos

    same = photo_bootstrap(a, a, tgt, photo_of, a_psnr, a_psnr, resamples=200)
    assert all(r["interval"] == (0.0, 0.0) and r["share_ge"] == 1.0 for r in [same["psnr"], *same["hi"]])
    alike = [[d[0]] * 6 for d in a]  # every image the first one: any resample is the same set of patches
    flat = photo_bootstrap(alike, b, tgt, photo_of, b_psnr, b_psnr, resamples=200)
    assert flat["hi"][1]["interval"][0] < flat["hi"][1]["interval"][1]  # (b)'s photos still differ
    hi_only = photo_bootstrap(a, b, tgt, photo_of, resamples=500)  # the originals' line: no PSNR
    assert hi_only["psnr"] is None and hi_only["hi"] == boot["hi"]  # the same resamples
    darker = [[d[0]] * 6 for d in b]
    flat = photo_bootstrap(alike, darker, tgt, photo_of, b_psnr, b_psnr, resamples=200)
    assert abs(flat["hi"][0]["lead"]) > 0.01  # a lead, but the same one in every resample
    assert all(r["interval"][1] - r["interval"][0] < 1e-12 for r in flat["hi"])


def test_a_judges_messy_folder_is_evaluated_photo_by_photo(tmp_path, heldout_files, heldout_srgb, capsys):
    """``evaluate --heldout DIR`` on a folder as photographers keep them: what cannot be evaluated is
    left out with its reason (a RAW, a subfolder, an empty or truncated JPEG, a panorama too narrow
    to mosaic; a Mac's ``._`` file is passed over) and the rest is evaluated as the app reads it: two photos
    sharing a stem stay two, a 16-bit grey PNG is grey (not white), an EXIF-rotated JPEG upright."""
    import shutil

    from PIL import Image

    from engine.io.dng import write_dng
    from models.retouch.evaluate import folder_photos, load_original, main, shrink

    d = tmp_path / "heldout"
    d.mkdir()
    shutil.copy(heldout_files[0], d / "good.jpg")
    shutil.copy(heldout_files[1], d / "a.jpg")
    Image.open(heldout_files[2]).save(d / "a.png")  # another photo under the same stem
    (d / "._good.jpg").write_bytes(b"\x00\x05\x16\x07" + bytes(60))  # AppleDouble resource fork
    (d / "empty.jpg").write_bytes(b"")
    (d / "truncated.jpg").write_bytes(heldout_files[3].read_bytes()[:300])
    grey = heldout_srgb[0].mean(-1)
    Image.fromarray((grey * 65535).astype(np.uint16)).save(d / "grey16.png")
    up = (heldout_srgb[1] * 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: shown rotated 90° clockwise
    Image.fromarray(np.ascontiguousarray(np.rot90(up, 1))).save(d / "rot6.jpg", exif=exif, quality=95)
    Image.fromarray((heldout_srgb[2][:20] * 255).astype(np.uint8)).resize((3000, 60)).save(d / "pano.jpg")
    (d / "sub").mkdir()
    shutil.copy(heldout_files[0], d / "sub" / "deep.jpg")
    write_dng(d / "IMG_0001.dng", (heldout_srgb[0] * 255).astype(np.uint8), seed=1)
    (d / "notes.txt").write_text("shot list")
    (d / "gone.jpg").symlink_to(d / "nowhere.jpg")

    photos, left = folder_photos(d)
    assert [p.name for p in photos] == ["a.jpg", "a.png", "empty.jpg", "good.jpg", "grey16.png", "pano.jpg",
                                        "rot6.jpg", "truncated.jpg"]
    assert left == ["IMG_0001.dng: a RAW file has no finished original to compare with; export it as JPEG, PNG "
                    "or TIFF", "gone.jpg: a broken link", "notes.txt: not a JPEG, PNG or TIFF",
                    "sub/: a subfolder (not searched)"]
    g = load_original(d / "grey16.png", 256)
    assert abs(float(g.mean()) - float(grey.mean())) < 0.02 and np.ptp(g, -1).max() < 1e-6
    r, upright = load_original(d / "rot6.jpg", 256), shrink(heldout_srgb[1], 256)
    assert r.shape == upright.shape and r.shape[0] != r.shape[1] and np.abs(r - upright).mean() < 0.02

    said: list[str] = []
    res = evaluate(None, photos, heldout_files[3:5], per_photo=1, long_edge=256, draws=1, log=said.append)
    assert list(res["by_photo"]) == ["a.jpg", "a.png", "good", "grey16", "rot6"]
    assert res["n_photos"] == 5 and res["n_images"] == 5 and res["bootstrap"]["photos"] == 5
    assert [s.split(":")[0] for s in res["skipped"]] == ["empty.jpg", "pano.jpg", "truncated.jpg"]
    assert "too narrow: 256 x 4 pixels" in res["skipped"][1]
    assert sum(line.startswith("skipped ") for line in said) == 3

    for bad, message in ((tmp_path / "nowhere", "does not exist"), (d / "notes.txt", "is not a folder")):
        with pytest.raises(SystemExit) as e:
            main(["--heldout", str(bad)])
        assert e.value.code == 2 and message in capsys.readouterr().err
    only_raw = tmp_path / "raws"
    only_raw.mkdir()
    shutil.copy(d / "IMG_0001.dng", only_raw)
    with pytest.raises(SystemExit):
        main(["--heldout", str(only_raw)])
    err = capsys.readouterr().err
    assert "left out IMG_0001.dng: a RAW file" in err and f"no JPEG, PNG or TIFF photos in {only_raw}" in err


def test_a_strength_out_of_range_is_the_commands_error(capsys):
    from models.retouch.evaluate import main

    with pytest.raises(SystemExit) as e:
        main(["--strength", "-0.5"])
    assert e.value.code == 2 and "must be between 0 and 2, got -0.5" in capsys.readouterr().err


def test_photo_labels_stay_distinct():
    from pathlib import Path

    from models.retouch.evaluate import photo_labels

    assert list(photo_labels([Path("d/a.jpg"), Path("d/b.png")]).values()) == ["a", "b"]
    assert list(photo_labels([Path("d/x.jpg"), Path("d/x.png"), Path("d/x.jpg.tif")]).values()) == [
        "x.jpg", "x.png", "x.jpg.tif"]
