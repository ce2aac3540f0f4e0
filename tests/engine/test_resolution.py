"""The print resolution (ppi) every command writes into its outputs, as Lightroom's export Resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from engine.cli import main
from engine.recipe import Recipe, Step


def dpi(path: Path) -> tuple[float, int, int]:
    """(the header's density, the EXIF's XResolution, its unit)."""
    with Image.open(path) as im:
        exif = im.getexif()
        return round(im.info["dpi"][0], 2), exif[282], exif[296]


def test_apply_auto_and_batch_write_the_resolution_asked(photo_jpeg: Path, tmp_path: Path, capsys) -> None:
    Recipe([Step("exposure", {"ev": 0.3})]).save(tmp_path / "r.json")
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    (shoot / "dune.jpg").write_bytes(photo_jpeg.read_bytes())
    runs = {
        "apply": (["apply", str(photo_jpeg), "-r", str(tmp_path / "r.json"), "-o", str(tmp_path / "a.jpg")],
                  tmp_path / "a.jpg"),
        "auto": (["auto", str(photo_jpeg), "-o", str(tmp_path / "b.tif")], tmp_path / "b.tif"),
        "batch": (["batch", str(shoot), str(tmp_path / "out"), "--recipe", str(tmp_path / "r.json"),
                   "--format", "png", "--jobs", "1", "--overwrite"], tmp_path / "out" / "dune.png"),
    }
    for name, (argv, out) in runs.items():
        assert main(argv) == 0, capsys.readouterr().err
        assert dpi(out) == (300, 300, 2), name  # the default, not the camera's 72
        assert main([*argv, "--ppi", "240"]) == 0, capsys.readouterr().err
        assert dpi(out) == (240, 240, 2), name


@pytest.mark.parametrize("bad", ["0", "72.5", "10001", "many"])
def test_a_resolution_that_is_no_whole_number_in_range_is_refused(photo_jpeg: Path, tmp_path: Path, capsys,
                                                                   bad: str) -> None:
    Recipe().save(tmp_path / "r.json")
    with pytest.raises(SystemExit) as e:
        main(["apply", str(photo_jpeg), "-r", str(tmp_path / "r.json"), "-o", str(tmp_path / "a.jpg"), "--ppi", bad])
    assert e.value.code == 2
    assert f"argument --ppi: a whole number from 1 to 10000, got '{bad}'" in capsys.readouterr().err
    assert not (tmp_path / "a.jpg").exists()
