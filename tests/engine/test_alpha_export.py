"""A cut-out stays a cut-out: exports of a photo with transparency keep its alpha in PNG and TIFF
(they dropped it: the transparent background came out as the black stored under it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from engine.batch import ExportSettings, plan_jobs
from engine.batch_worker import export_one
from engine.io import load_photo
from engine.io.image import opacity
from engine.recipe import Recipe, Step
from retouch.main import main

LOOK = Recipe([Step("exposure", {"ev": 0.3}), Step("saturation", {"amount": 0.7})])


def _jobs(folder: Path, out: Path, settings: ExportSettings) -> list:
    out.mkdir(parents=True, exist_ok=True)  # as the batch makes it before its workers start
    return plan_jobs(folder, out, settings)


def _soft_alpha(h: int, w: int) -> np.ndarray:
    """An oval cut-out with a soft edge, 0 outside it (the real photo's background removed)."""
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((yy - h / 2) / (0.4 * h), (xx - w / 2) / (0.4 * w))
    return np.clip((1.1 - r) / 0.2, 0.0, 1.0).astype(np.float32)


@pytest.fixture
def cutouts(tmp_path: Path, photo_srgb8: np.ndarray) -> tuple[Path, np.ndarray]:
    """The real photo as an 8-bit RGBA PNG and a 16-bit RGBA TIFF, black under the transparent part."""
    h, w = photo_srgb8.shape[:2]
    alpha = _soft_alpha(h, w)
    rgb = np.where(alpha[..., None] > 0, photo_srgb8, 0).astype(np.uint8)
    d = tmp_path / "cutouts"
    d.mkdir()
    a8 = np.round(alpha * 255).astype(np.uint8)
    Image.fromarray(np.dstack([rgb, a8]), "RGBA").save(d / "oval.png")
    rgba16 = np.dstack([rgb.astype(np.uint16) * 257, np.round(alpha * 65535).astype(np.uint16)])
    tifffile.imwrite(d / "oval16.tif", rgba16, photometric="rgb", extrasamples=["unassalpha"])
    return d, a8.astype(np.float32) / 255


@pytest.mark.parametrize("fmt", ["png", "png16", "tiff16"])
def test_batch_exports_keep_the_alpha_and_the_colours(cutouts, tmp_path, fmt):
    folder, alpha = cutouts
    settings = ExportSettings(recipe=LOOK.to_json(), source="recipe", fmt=fmt)
    opaque = ExportSettings(recipe=LOOK.to_json(), source="recipe", fmt="png" if fmt == "png" else "tiff16")
    for job in _jobs(folder, tmp_path / fmt, settings):
        res = export_one(job)
        assert res.status == "done", res.reason
        got = opacity(job.dst)
        assert got is not None, f"{job.dst.name} lost its transparency"
        step = 1 / 255 if fmt == "png" else 1 / 65535
        np.testing.assert_allclose(got, alpha, atol=step + 1 / 255 * (job.src.suffix == ".tif"))
        # the colours are the export's without alpha, to the last level
        (plain,) = [j for j in _jobs(folder, tmp_path / "plain" / fmt, opaque) if j.src == job.src]
        assert export_one(plain).status == "done"
        with Image.open(job.dst) as im:
            assert im.mode in ("RGBA", "RGBA;16B", "I;16") or len(im.getbands()) == 4
        ours = load_photo(job.dst).linear
        ref = load_photo(plain.dst).linear
        np.testing.assert_allclose(ours, ref, atol=1 / 255 if fmt == "png" else 1e-4)


def test_a_smaller_export_gets_the_alpha_at_its_size(cutouts, tmp_path):
    folder, alpha = cutouts
    settings = ExportSettings(recipe=LOOK.to_json(), source="recipe", fmt="png", long_edge=200)
    job = next(j for j in _jobs(folder, tmp_path / "small", settings) if j.src.suffix == ".png")
    assert export_one(job).status == "done"
    got = opacity(job.dst)
    with Image.open(job.dst) as im:
        assert max(im.size) == 200 and got.shape == (im.size[1], im.size[0])
    assert abs(float(got.mean()) - float(alpha.mean())) < 0.01  # the cut-out's share of the frame
    assert got[0, 0] == 0.0 and got[got.shape[0] // 2, got.shape[1] // 2] == 1.0


def test_jpeg_and_raw_exports_stay_opaque_rgb(cutouts, dng_file, tmp_path, capsys):
    folder, _ = cutouts
    job = next(j for j in _jobs(folder, tmp_path / "jpeg", ExportSettings(recipe=LOOK.to_json(), source="recipe"))
               if j.src.suffix == ".png")
    assert export_one(job).status == "done"
    with Image.open(job.dst) as im:
        assert im.format == "JPEG" and im.mode == "RGB"
    out, recipe = tmp_path / "raw.png", tmp_path / "look.json"
    LOOK.save(recipe)
    assert main(["apply", str(dng_file), "-r", str(recipe), "-o", str(out)]) == 0
    with Image.open(out) as im:
        assert im.mode == "RGB"


def test_apply_and_auto_keep_the_alpha(cutouts, tmp_path, capsys):
    folder, alpha = cutouts
    src = folder / "oval.png"
    out = tmp_path / "applied.png"
    recipe = tmp_path / "look.json"
    LOOK.save(recipe)
    assert main(["apply", str(src), "-r", str(recipe), "-o", str(out)]) == 0
    np.testing.assert_allclose(opacity(out), alpha, atol=1 / 255)
    auto = tmp_path / "auto.tif"
    assert main(["auto", str(src), "-o", str(auto)]) == 0
    np.testing.assert_allclose(opacity(auto), alpha, atol=1 / 255)


def test_what_is_stored_under_the_transparent_part_does_not_bleed_into_a_smaller_export(photo_srgb8, tmp_path):
    """A hard-edged cut-out stored over black and over white: a 200 px export's visible pixels are
    the same (the colours averaged weighted by alpha). Unweighted, the edges came out 48 levels too
    dark over black and 60 too light over white."""
    h, w = photo_srgb8.shape[:2]
    alpha = (_soft_alpha(h, w) > 0.5).astype(np.uint8) * 255  # hard edge
    d = tmp_path / "keyed"
    d.mkdir()
    for name, under in (("black.png", 0), ("white.png", 255)):
        rgb = np.where(alpha[..., None] > 0, photo_srgb8, under).astype(np.uint8)
        Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(d / name)
    settings = ExportSettings(recipe=LOOK.to_json(), source="recipe", fmt="png", long_edge=200)
    out = {}
    for job in _jobs(d, tmp_path / "out", settings):
        assert export_one(job).status == "done"
        with Image.open(job.dst) as im:
            out[job.src.name] = np.asarray(im.convert("RGBA")).astype(int)
    black, white = out["black.png"], out["white.png"]
    np.testing.assert_array_equal(black[..., 3], white[..., 3])
    seen = black[..., 3] > 5
    edge = seen & (black[..., 3] < 250)
    assert edge.sum() > 100  # the soft edge a downscale makes of a hard one
    assert np.abs(black[..., :3] - white[..., :3])[seen].max() <= 1


@pytest.mark.parametrize(("extra", "kept"), [("unassalpha", True), ("assocalpha", False), ("unspecified", False)])
def test_a_tiffs_fourth_sample_is_kept_only_as_a_straight_alpha(photo_srgb8, tmp_path, capsys, extra, kept):
    """An unspecified fourth sample (an infrared band, a saved mask: value 7 here) made the export
    97 % transparent; an associated alpha's premultiplied colours, written beside it as a straight
    one, halved every soft edge. Both are written opaque, as they read."""
    h, w = photo_srgb8.shape[:2]
    a = np.round(_soft_alpha(h, w) * 255).astype(np.uint8) if extra != "unspecified" else np.full((h, w), 7, np.uint8)
    src = tmp_path / f"{extra}.tif"
    tifffile.imwrite(src, np.dstack([photo_srgb8, a]), photometric="rgb", extrasamples=[extra])
    out, recipe = tmp_path / f"{extra}.png", tmp_path / "look.json"
    LOOK.save(recipe)
    assert main(["apply", str(src), "-r", str(recipe), "-o", str(out)]) == 0
    with Image.open(out) as im:
        assert im.mode == ("RGBA" if kept else "RGB")
    if kept:
        np.testing.assert_allclose(opacity(out), a / 255, atol=1 / 255)


def test_a_hard_edge_stays_clean_in_a_smaller_exports_alpha(photo_srgb8, tmp_path):
    """The alpha was Lanczos-resized: a faint rim rang a pixel outside a hard edge and dipped inside."""
    h, w = photo_srgb8.shape[:2]
    alpha = np.zeros((h, w), np.uint8)
    alpha[:, : w // 2] = 255  # a straight hard edge at an exact half: the 200 px export puts it on a pixel border
    d = tmp_path / "edge"
    d.mkdir()
    Image.fromarray(np.dstack([photo_srgb8, alpha]), "RGBA").save(d / "half.png")
    (job,) = _jobs(d, tmp_path / "out", ExportSettings(recipe=LOOK.to_json(), source="recipe", fmt="png",
                                                       long_edge=200))
    assert export_one(job).status == "done"
    got = opacity(job.dst)
    half = got.shape[1] // 2
    assert (got[:, :half] == 1.0).all() and (got[:, half:] == 0.0).all()
