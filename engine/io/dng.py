"""Write a synthetic but honest DNG from a real photo: a Bayer mosaic LibRaw decodes like a camera's.

Used by the tests, by the shipped sample and by training (inverse rendering: photo -> RAW -> decode).
Layout (tifffile, DNG 1.4):

* IFD0: 256 px RGB thumbnail (NewSubFileType 1) + DNG tags: ColorMatrix1, AsShotNeutral, Make/Model,
  Orientation and the usual EXIF shooting values (ISO, shutter, aperture, focal length, date).
* SubIFD0: the full-size RGGB CFA, uint16, uncompressed, BlackLevel 512 / WhiteLevel 16383 (14 bit).
  LibRaw cannot read tifffile's deflate CFA, so it stays uncompressed.
* SubIFD1: a JPEG preview (long edge <= ``preview_size``), what ``rawpy.extract_thumb`` returns.

Colour: the sensor is "linear sRGB seen through white-balance gains": ``raw = linear / wb``. So
ColorMatrix1 (XYZ -> camera) is ``diag(1/wb) @ XYZ_to_sRGB`` and AsShotNeutral is ``1/wb``; LibRaw then
derives ``rgb_cam = identity`` and camera WB ``= wb``, and a linear decode (sRGB, gamma 1, camera WB,
no auto-bright, ``adjust_maximum_thr=0``) returns the input linear image up to demosaicing and noise.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image

from ..atomic import atomic_path
from ..color import srgb_decode, srgb_encode
from .image import linearize

BLACK = 512
WHITE = 16383
# D65 XYZ -> linear sRGB (IEC 61966-2-1).
XYZ_TO_SRGB = np.array([[3.2404542, -1.5371385, -0.4985314],
                        [-0.9692660, 1.8760108, 0.0415560],
                        [0.0556434, -0.2040259, 1.0572252]])
# Sensor noise model (per 14-bit DN): ~0.8 DN per electron, 20k e- full well, read noise 3 DN.
FULL_WELL_E = 20000.0
READ_NOISE_DN = 3.0


@dataclass(frozen=True)
class Shot:
    """EXIF shooting values written into IFD0 (LibRaw reads them as ``rawpy.Other``)."""

    make: str = "Retouch"
    model: str = "Synthetic DNG"
    iso: int = 400
    exposure_time: float = 1 / 125
    f_number: float = 5.6
    focal_length: float = 35.0
    captured: datetime = datetime(2024, 5, 17, 18, 30, 0)


def _rational(x: float, den: int = 10000) -> tuple[int, int]:
    return round(x * den), den


def _to_linear(image: np.ndarray, linear: bool | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(linear float32, the sRGB uint8 input itself if that is what was given)."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {img.shape}")
    if linear is None:
        linear = img.dtype.kind == "f"
    if linear:
        return img.astype(np.float32, copy=False), None
    if img.dtype in (np.uint8, np.uint16):
        return linearize(img), (img if img.dtype == np.uint8 else None)
    return np.asarray(srgb_decode(img.astype(np.float32)), np.float32), None


def _display(lin: np.ndarray, src8: np.ndarray | None, long_edge: int) -> np.ndarray:
    """What the camera's JPEG would show, fitted to ``long_edge``: the sRGB input itself, or the
    linear image area-averaged first (encoding 24 MP to show 1 MP would waste seconds)."""
    if src8 is not None:
        return np.ascontiguousarray(_fit(src8, long_edge))
    h, w = lin.shape[:2]
    s = min(1.0, long_edge / max(h, w))
    if s < 1.0:
        size = (max(1, round(w * s)), max(1, round(h * s)))
        lin = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(lin[..., c]), "F")
                                   .resize(size, Image.Resampling.BOX)) for c in range(3)], -1)
    return np.ascontiguousarray((srgb_encode(lin) * 255.0 + 0.5).astype(np.uint8))


def mosaic(linear: np.ndarray, wb: Sequence[float], *, noise: bool | float = True, seed: int = 0) -> np.ndarray:
    """Linear RGB (H, W, 3) -> RGGB uint16 CFA in [BLACK, WHITE], with shot + read noise.

    ``noise`` may be a float: a multiplier of the noise standard deviation (2.0 ~ two stops more ISO).
    """
    h, w = linear.shape[0] & ~1, linear.shape[1] & ~1
    lin = linear[:h, :w]
    gains = 1.0 / np.asarray(wb, dtype=np.float32)
    cfa = np.empty((h, w), np.float32)
    # RGGB: (0,0)=R, (0,1)=G, (1,0)=G, (1,1)=B; sensor sees linear / wb.
    cfa[0::2, 0::2] = lin[0::2, 0::2, 0] * gains[0]
    cfa[0::2, 1::2] = lin[0::2, 1::2, 1] * gains[1]
    cfa[1::2, 0::2] = lin[1::2, 0::2, 1] * gains[1]
    cfa[1::2, 1::2] = lin[1::2, 1::2, 2] * gains[2]
    span = np.float32(WHITE - BLACK)
    np.clip(cfa, 0.0, 1.0, out=cfa)
    cfa *= span
    if noise:
        k = float(noise)
        dn_per_e = span / FULL_WELL_E
        rng = np.random.default_rng(seed)
        # Gaussian approximation of Poisson shot noise (variance = signal * gain) plus read noise.
        std = np.sqrt(cfa * dn_per_e + READ_NOISE_DN**2, dtype=np.float32)
        std *= np.float32(k)
        cfa += rng.standard_normal(cfa.shape, dtype=np.float32) * std
    cfa += BLACK
    np.clip(cfa, 0, WHITE, out=cfa)
    return (cfa + 0.5).astype(np.uint16)


def _fit(img: np.ndarray, long_edge: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(1.0, long_edge / max(h, w))
    if s >= 1.0:
        return img
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))


def _cfa_data(cfa: np.ndarray, ljpeg: bool) -> tuple[Any, dict[str, Any]]:
    """TiffWriter.write's data and keywords for the CFA: the samples, or one lossless-JPEG strip."""
    if not ljpeg:
        return cfa, {}
    import imagecodecs

    strip = imagecodecs.ljpeg_encode(cfa, bitspersample=14)
    return iter([strip]), {"shape": cfa.shape, "dtype": np.uint16, "compression": 7, "rowsperstrip": cfa.shape[0]}


def write_dng(
    path: str | Path,
    image: np.ndarray,
    *,
    wb: Sequence[float] = (2.0, 1.0, 1.5),
    as_shot: Sequence[float] | None = None,
    preview: bool = True,
    noise: bool | float = True,
    seed: int = 0,
    linear: bool | None = None,
    exposure: float = 0.0,
    orientation: int = 1,
    preview_size: int = 1024,
    shot: Shot | None = None,
    default_crop: tuple[int, int, int, int] | None = None,
    thumbnail: bool = True,
    ljpeg: bool = False,
) -> Path:
    """Write ``image`` as a 14-bit RGGB DNG at ``path`` (atomically) and return the path.

    ``image`` is (H, W, 3): uint8/uint16 are read as **sRGB-encoded**, float as **linear** sRGB
    primaries (1.0 = sensor white; above it clips like a real sensor). ``linear`` overrides the guess.
    ``wb`` are the camera's white-balance gains (R, G, B), stored as AsShotNeutral = 1/wb.
    ``as_shot``: other gains for AsShotNeutral alone (a shot balanced for another light than the
    one the sensor's matrix neutralises, as a tungsten setting outdoors).
    ``exposure`` (EV) scales the linear light before the mosaic (e.g. -1 for an underexposed shot);
    the previews show the exposed image as a camera JPEG would. Odd sizes are cropped to even.
    ``orientation`` is the EXIF/TIFF Orientation (1..8) stored in IFD0; pixels stay as given.
    ``default_crop`` (x, y, width, height of the stored pixels) is the DNG DefaultCrop: the part a
    camera's JPEG shows (the previews show only it), the rest masked sensor border.
    ``thumbnail=False`` (with ``preview=False``) writes the CFA alone, in IFD0: a DNG with no image
    to show but its raw data. ``ljpeg`` stores the CFA as lossless JPEG (one strip), as most DNG
    converters and cameras do, in place of uncompressed samples.
    """
    if not thumbnail and preview:
        raise ValueError("a preview needs the thumbnail's IFD0: give preview=False too")
    if not 1 <= orientation <= 8:
        raise ValueError(f"orientation must be 1..8, got {orientation}")
    shot = shot or Shot()
    lin, src8 = _to_linear(image, linear)
    if exposure:
        lin, src8 = lin * np.float32(2.0**exposure), None
    cfa = mosaic(lin, wb, noise=noise, seed=seed)
    h, w = cfa.shape
    lin = lin[:h, :w]
    src8 = None if src8 is None else src8[:h, :w]

    wb_arr = np.asarray(wb, dtype=np.float64)
    color_matrix = np.diag(1.0 / wb_arr) @ XYZ_TO_SRGB
    neutral = 1.0 / np.asarray(wb if as_shot is None else as_shot, dtype=np.float64)
    shown, shown8 = lin, src8  # what the previews show
    if default_crop is not None:
        x, y, cw, ch = default_crop
        shown, shown8 = lin[y:y + ch, x:x + cw], None if src8 is None else src8[y:y + ch, x:x + cw]
    thumb = _display(shown, shown8, 256)
    ifd0_tags = [
        (271, "s", 0, shot.make, True),
        (272, "s", 0, shot.model, True),
        (274, "H", 1, orientation, True),
        (306, "s", 0, shot.captured.strftime("%Y:%m:%d %H:%M:%S"), True),  # LibRaw's timestamp
        (33434, "2I", 1, _rational(shot.exposure_time, 1_000_000), True),
        (33437, "2I", 1, _rational(shot.f_number, 100), True),
        (34855, "H", 1, shot.iso, True),
        (36867, "s", 0, shot.captured.strftime("%Y:%m:%d %H:%M:%S"), True),
        (37386, "2I", 1, _rational(shot.focal_length, 100), True),
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, f"{shot.make} {shot.model}", True),  # UniqueCameraModel
        (50721, "2i", 9, tuple(v for x in color_matrix.ravel() for v in _rational(x)), True),
        (50728, "2I", 3, tuple(v for x in neutral for v in _rational(x, 1_000_000)), True),
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1 = D65
    ]
    cfa_tags = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern RGGB
        (50714, "H", 1, BLACK, True),  # BlackLevel
        (50717, "H", 1, WHITE, True),  # WhiteLevel
    ]
    if default_crop is not None:
        x, y, cw, ch = default_crop
        cfa_tags += [(50719, "2I", 2, (x, 1, y, 1), True),  # DefaultCropOrigin
                     (50720, "2I", 2, (cw, 1, ch, 1), True)]  # DefaultCropSize
    path = Path(path)
    cfa_data, cfa_kw = _cfa_data(cfa, ljpeg)
    with atomic_path(path) as tmp, tifffile.TiffWriter(tmp) as tif:
        if not thumbnail:
            tif.write(cfa_data, **cfa_kw, photometric="cfa", subfiletype=0, extratags=ifd0_tags + cfa_tags,
                      metadata=None)
            return path
        tif.write(thumb, photometric="rgb", subfiletype=1, subifds=2 if preview else 1,
                  extratags=ifd0_tags, metadata=None)
        tif.write(cfa_data, **cfa_kw, photometric="cfa", subfiletype=0, extratags=cfa_tags, metadata=None)
        if preview:
            prev = _display(shown, shown8, preview_size)
            buf = io.BytesIO()
            Image.fromarray(prev).save(buf, "JPEG", quality=90)
            tif.write(iter([buf.getvalue()]), shape=prev.shape, dtype=np.uint8, photometric="ycbcr",
                      compression="jpeg", rowsperstrip=prev.shape[0], subfiletype=1,
                      metadata=None)
    return path
