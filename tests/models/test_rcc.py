"""Photos inside Qt resource bundles: our reader against Qt's own ``rcc`` writer."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from models.data.assemble import downscale, open_source
from models.data.rcc import Rcc, RccError

RCC = Path(sys.executable).with_name("pyside6-rcc")
PHOTOS = sorted((Path(__file__).parent / "fixtures").glob("*.jpg"))  # real photos


def _bundle(tmp_path: Path, files: dict[str, Path], *args: str) -> Path:
    """Compile ``files`` (alias -> real file) into a binary .rcc with Qt's rcc."""
    for alias, src in files.items():
        dst = tmp_path / "src" / alias
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    entries = "".join(f"<file>{a}</file>" for a in files)
    qrc = tmp_path / "src" / "photos.qrc"
    qrc.write_text(f'<RCC><qresource prefix="/gcompris/src">{entries}</qresource></RCC>')
    out = tmp_path / f"bundle{len(args)}.rcc"
    subprocess.run([str(RCC), "--binary", *args, "-o", str(out), str(qrc)], check=True, cwd=qrc.parent)
    return out


@pytest.mark.skipif(not RCC.exists(), reason="pyside6-rcc not installed")
@pytest.mark.parametrize("args", [("--no-compress",), ("--compress-algo", "zlib", "--threshold", "0"),
                                  ("--no-compress", "--format-version", "1")])
def test_reads_the_bytes_qt_wrote(tmp_path, args):
    photos = PHOTOS[:2]
    files = {"erase/resource/a.jpg": photos[0], "monuments/france/b.jpg": photos[1],
             "erase/notes.txt": Path(__file__)}
    rcc = Rcc.open(_bundle(tmp_path, files, *args))
    assert rcc.names() == sorted("/gcompris/src/" + a for a in files)
    for alias, src in files.items():
        assert rcc.read("/gcompris/src/" + alias) == src.read_bytes()
    with pytest.raises(RccError, match="no file"):
        rcc.read("/gcompris/src/erase/missing.jpg")


@pytest.mark.skipif(not RCC.exists(), reason="pyside6-rcc not installed")
def test_assemble_opens_a_photo_inside_a_bundle(tmp_path):
    photo = PHOTOS[0]
    bundle = _bundle(tmp_path, {"erase/resource/bee.jpg": photo}, "--no-compress")
    im = open_source(tmp_path, f"/{bundle.stem}.rcc:/gcompris/src/erase/resource/bee.jpg")
    small = downscale(im, 200)
    assert max(small.size) == 200 and small.mode == "RGB"


def test_refuses_what_is_not_a_bundle():
    with pytest.raises(RccError, match="not a Qt resource"):
        Rcc(PHOTOS[0].read_bytes(), "photo.jpg")
    with pytest.raises(RccError, match="version"):
        Rcc(b"qres" + (9).to_bytes(4, "big") + bytes(12))
