"""Output sharpening: crisper edges at the export's size, without colour fringes or a shift of
brightness, the same whether an export is rendered whole or in bands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.io.image import to_bits
from engine.recipe import Recipe, Step
from engine.render import fit_long_edge, render
from engine.sharpen import sharpen

RECIPE = Recipe([Step("exposure", {"ev": 0.3}), Step("saturation", {"amount": 0.2})])


def acutance(img: np.ndarray) -> float:
    """Mean absolute step between neighbouring pixels of the channel mean, in levels of 255."""
    y = np.asarray(img, np.float64).mean(-1) * (255 if img.dtype != np.uint8 else 1)
    return float(np.abs(np.diff(y, axis=0)).mean() + np.abs(np.diff(y, axis=1)).mean())


@pytest.fixture(scope="module")
def web_size(photo_linear: np.ndarray) -> np.ndarray:
    """The real photo rendered at a web export's share of its pixels (Lanczos, as exports)."""
    return render(RECIPE, fit_long_edge(photo_linear, 320, sharp=True))


def test_each_level_crispens_edges_more_and_keeps_brightness(web_size: np.ndarray) -> None:
    before = acutance(web_size)
    gains = [acutance(np.clip(sharpen(web_size, level), 0, 1)) / before for level in ("low", "standard", "high")]
    assert 1.05 < gains[0] < gains[1] < gains[2] < 2.0, gains
    std = np.clip(sharpen(web_size, "standard"), 0, 1)
    assert abs(std.mean() - web_size.mean()) * 255 < 0.3
    assert sharpen(web_size, "none") is web_size


def test_it_sharpens_luma_only_so_edges_gain_no_colour(web_size: np.ndarray) -> None:
    """The same detail goes into R, G and B: the differences between the channels, the colour, stay."""
    out = sharpen(web_size, "high")
    chroma = np.diff(web_size, axis=-1)
    assert np.abs(np.diff(out, axis=-1) - chroma).max() < 1e-5
    assert np.abs(out - web_size).max() > 0.05  # while the edges themselves moved


def test_flat_areas_and_borders_stay_flat() -> None:
    flat = np.full((40, 30, 3), 0.4, np.float32)
    assert np.abs(sharpen(flat, "high") - 0.4).max() < 1e-6


def test_an_unknown_level_is_refused(web_size: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"unknown sharpening 'extra'.*none, low, standard, high"):
        sharpen(web_size, "extra")


@pytest.mark.parametrize("bits", [8, 16])
def test_a_sharpened_export_rendered_in_bands_is_the_whole_image_sharpened(photo_linear, monkeypatch, bits):
    """Each band is rendered with the rows its mask reaches beyond it: band seams are invisible."""
    import engine.render as er

    whole = to_bits(sharpen(er.render(RECIPE, photo_linear), "high"), bits)
    for rows in (64, 192):
        monkeypatch.setattr(er, "BAND_ROWS", rows)
        banded = er.render_bits(RECIPE, photo_linear, bits, sharpen="high")
        assert np.array_equal(banded, whole)


def test_apply_sharpens_what_it_writes(photo_jpeg: Path, tmp_path: Path, capsys) -> None:
    RECIPE.save(tmp_path / "r.json")
    shots = {}
    for level in ("none", "standard"):
        out = tmp_path / f"{level}.png"
        argv = ["apply", str(photo_jpeg), "-r", str(tmp_path / "r.json"), "-o", str(out), "--long-edge", "400",
                "--sharpen", level]
        assert main(argv) == 0, capsys.readouterr().err
        with Image.open(out) as im:
            shots[level] = np.asarray(im.convert("RGB"))
    assert acutance(shots["standard"]) > 1.15 * acutance(shots["none"])
    assert abs(shots["standard"].mean() - shots["none"].mean()) < 0.5


def test_batch_sharpens_every_export(photo_jpeg: Path, tmp_path: Path, capsys) -> None:
    src = tmp_path / "shoot"
    src.mkdir()
    (src / "dune.jpg").write_bytes(photo_jpeg.read_bytes())
    RECIPE.save(tmp_path / "r.json")
    shots = {}
    for level in ("none", "high"):
        argv = ["batch", str(src), str(tmp_path / level), "--recipe", str(tmp_path / "r.json"), "--format", "png",
                "--long-edge", "300", "--sharpen", level, "--jobs", "1"]
        assert main(argv) == 0, capsys.readouterr().err
        with Image.open(tmp_path / level / "dune.png") as im:
            shots[level] = np.asarray(im.convert("RGB"))
    assert acutance(shots["high"]) > 1.2 * acutance(shots["none"])
