"""Shared fixtures: one real photo (tests/fixtures/dune.jpg) and every input format made from it.

Session-scoped files live in a session temp folder; treat them as read-only originals and use
``tmp_copy`` when a test needs a file it may touch.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PIL import Image


def _signals_as_a_terminal_gives_them() -> None:
    """Ctrl-C, a kill and a hang-up as a terminal would deliver them, in this process and the
    children it starts. A shell that starts ``make test`` in the background ignores SIGINT (and
    ``nohup`` SIGHUP); Retouch rightly leaves an ignored signal alone, so nine tests of its stops
    failed there only (forty-seventh session)."""
    import signal

    for name, handler in (("SIGINT", signal.default_int_handler), ("SIGTERM", signal.SIG_DFL),
                          ("SIGHUP", signal.SIG_DFL)):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is signal.SIG_IGN:
            signal.signal(sig, handler)


_signals_as_a_terminal_gives_them()

FIXTURES = Path(__file__).parent / "fixtures"
PHOTO = FIXTURES / "dune.jpg"  # real photo with camera EXIF, see fixtures/README.md
SIZE = (640, 400)  # (W, H) of the derived test images: small enough to keep the suite fast


@pytest.fixture(scope="session")
def photo_jpeg() -> Path:
    """The real photo itself (960x600 JPEG with Canon EXIF). Never write to it."""
    return PHOTO


@pytest.fixture(scope="session")
def photo_srgb8() -> np.ndarray:
    """The real photo at 640x400, uint8 sRGB (H, W, 3)."""
    with Image.open(PHOTO) as im:
        return np.asarray(im.convert("RGB").resize(SIZE, Image.Resampling.LANCZOS))


@pytest.fixture(scope="session")
def photo_linear(photo_srgb8: np.ndarray) -> np.ndarray:
    """The real photo at 640x400 in the working space (float32 linear sRGB primaries)."""
    from engine.color import srgb_decode

    return srgb_decode(photo_srgb8.astype(np.float32) / 255.0).astype(np.float32)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def dng_file(media_dir: Path, photo_srgb8: np.ndarray) -> Path:
    """A 640x400 RGGB DNG of the real photo: WB gains (2, 1, 1.5), noise, JPEG preview."""
    from engine.io.dng import write_dng

    return write_dng(media_dir / "dune.dng", photo_srgb8, seed=1)


@pytest.fixture(scope="session")
def dng_rotated(media_dir: Path, photo_srgb8: np.ndarray) -> Path:
    """DNG whose pixels are stored rotated 90 deg CCW with Orientation 6: upright it equals the photo."""
    from engine.io.dng import write_dng

    return write_dng(media_dir / "dune_rot6.dng", np.ascontiguousarray(np.rot90(photo_srgb8, 1)),
                     orientation=6, seed=2)


@pytest.fixture(scope="session")
def dng_no_preview(media_dir: Path, photo_srgb8: np.ndarray) -> Path:
    """DNG with only the small IFD0 RGB thumbnail (no JPEG preview)."""
    from engine.io.dng import write_dng

    return write_dng(media_dir / "dune_nopreview.dng", photo_srgb8, preview=False, seed=3)


@pytest.fixture(scope="session")
def jpeg_rotated(media_dir: Path, photo_srgb8: np.ndarray, photo_jpeg: Path) -> Path:
    """JPEG stored rotated 90 deg CCW with EXIF Orientation 6 (plus the photo's camera EXIF)."""
    import piexif

    d = piexif.load(str(photo_jpeg))
    d["0th"][piexif.ImageIFD.Orientation] = 6
    path = media_dir / "dune_rot6.jpg"
    Image.fromarray(np.ascontiguousarray(np.rot90(photo_srgb8, 1))).save(
        path, quality=95, exif=piexif.dump(d))
    return path


@pytest.fixture(scope="session")
def tiff16_file(media_dir: Path, photo_srgb8: np.ndarray) -> Path:
    """16-bit RGB TIFF of the photo (sRGB-encoded, value * 257)."""
    import tifffile

    path = media_dir / "dune16.tif"
    tifffile.imwrite(path, photo_srgb8.astype(np.uint16) * 257, photometric="rgb")
    return path


@pytest.fixture(scope="session")
def png_file(media_dir: Path, photo_srgb8: np.ndarray) -> Path:
    path = media_dir / "dune.png"
    Image.fromarray(photo_srgb8).save(path)
    return path


@pytest.fixture
def tmp_copy(tmp_path: Path) -> Callable[[Path], Path]:
    """``tmp_copy(path)`` -> a private copy of ``path`` in this test's tmp_path (same name)."""
    def copy(path: Path, name: str | None = None) -> Path:
        dst = tmp_path / (name or Path(path).name)
        shutil.copy2(path, dst)
        return dst

    return copy


@pytest.fixture
def refuse_listing(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """``refuse_listing(folder)``: listing ``folder`` raises PermissionError, as a folder without
    read permission does for a user (root, who runs the tests, reads any folder)."""
    import os

    refused: set[Path] = set()
    real = os.scandir

    def scandir(path):
        if Path(path) in refused:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return refused.add
