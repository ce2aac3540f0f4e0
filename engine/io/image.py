"""JPEG / PNG / TIFF in (Pillow, imagecodecs, tifffile) and JPEG / PNG / 16-bit TIFF out.

Inputs are linearised with the sRGB transfer curve through a lookup table (8 and 16 bit), turned
upright by their EXIF orientation, and refused above :data:`~engine.io.errors.MAX_PIXELS`.
ICC-tagged 8-bit inputs in another space (Adobe RGB, Display P3...; CMYK with its profile) are converted to sRGB with
LittleCMS first; 16-bit and float inputs with a non-sRGB profile are read as sRGB (documented gap).
Float TIFFs are taken as already linear.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import re
import threading
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image, ImageCms, ImageFile, ImageOps, PngImagePlugin

from ..atomic import atomic_path
from ..color import srgb_decode
from ..formats import DEFAULT_PPI, FORMATS, SUFFIX_FORMAT, check_ppi
from .carry import carry
from .errors import MAX_PIXELS, ImageError, check_dimensions
from .metadata import (
    EXIF_IFD,
    MAX_PAGES,
    NOT_THE_PHOTO,
    ORIENTATION,
    SOFTWARE,
    Metadata,
    exif_for_output,
    exif_from_fields,
    fill_from_tags,
    main_page,
    tiff_tags,
)
from .orientation import apply_orientation, fit_box, swaps_axes

RASTER_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff"})
TIFF_EXTENSIONS = frozenset({".tif", ".tiff"})

# Pillow caps each decompressed PNG text chunk at 1 MB, and an iCCP profile counts as one: a PNG
# with a large LUT profile (a printer's or a camera maker's, 1-4 MB) was refused whole. 16 MB still
# bounds what one chunk may inflate to (its guard against decompression bombs).
PngImagePlugin.MAX_TEXT_CHUNK = max(PngImagePlugin.MAX_TEXT_CHUNK, 16 * 1024 * 1024)

#: A JPEG holds at least a bit per 8 x 8 block (one grey, progressive: 255 pixels a byte measured);
#: one claiming more pixels per byte than this is truncated, whatever its end marker says.
JPEG_MAX_PIXELS_PER_BYTE = 4096
# Pillow's own bomb guard: warn above the limit, error at twice it. Ours (check_dimensions) is stricter.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# ...whose warning a header read (a size, a tag) raised on stderr beside our own refusal; the decode's
# open (_open_pillow) still turns it into that refusal
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
# A damaged EXIF block is read as far as it goes and the photo opens; Pillow's warning (a library
# path on stderr, several times per command) tells the photographer nothing they can act on.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")
# tifffile logs (at ERROR) what it works around in a damaged file ("incorrect StripByteCounts count") before the
# one-line error the caller gets, or for a file it reads anyway
logging.getLogger("tifffile").setLevel(logging.CRITICAL)
log = logging.getLogger(__name__)


@functools.cache
def _lut(bits: int) -> np.ndarray:
    n = 1 << bits
    return srgb_decode(np.arange(n, dtype=np.float64) / (n - 1)).astype(np.float32)


def linearize(encoded: np.ndarray) -> np.ndarray:
    """sRGB-encoded uint8/uint16/float (H, W, 3) -> linear float32 via a LUT (ints) or the curve."""
    if encoded.dtype == np.uint8:
        return _lut(8)[encoded]
    if encoded.dtype == np.uint16:
        return _lut(16)[encoded]
    return np.asarray(srgb_decode(encoded.astype(np.float32, copy=False)), np.float32)


@functools.cache
def srgb_icc() -> bytes:
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    # lcms stamps the creation time into the header (bytes 24-35); a fixed date keeps exports
    # byte-identical across processes and machines (batch resume, local vs cluster).
    icc[24:36] = (2024).to_bytes(2, "big") + bytes([0, 1, 0, 1] + [0] * 6)
    return bytes(icc)


_PROBE = np.linspace(0, 255, 6).astype(np.uint8)
# 216 colours: enough to tell sRGB from a profile that merely names itself so (a linear "sRGB")
_PROBE_RGB = np.stack(np.meshgrid(_PROBE, _PROBE, _PROBE, indexing="ij"), -1).reshape(6, 36, 3)


@functools.lru_cache(maxsize=32)
def _is_srgb_profile(icc: bytes) -> bool:
    """Whether an RGB profile is sRGB: it says so, and it maps colours to themselves (within 2 levels).

    The name alone let "sRGB linear (g10)" (GIMP's linear-light sRGB) through: 73 levels off."""
    try:
        prof = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        desc = ImageCms.getProfileDescription(prof)
        if "srgb" not in desc.lower() and "61966" not in desc:
            return False
        probe = Image.fromarray(_PROBE_RGB, "RGB")
        out = ImageCms.profileToProfile(probe, prof, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (OSError, ImageCms.PyCMSError, TypeError, ValueError):
        return True  # unreadable profile: treat as sRGB rather than refuse the photo
    return int(np.abs(np.asarray(out, np.int16) - _PROBE_RGB).max()) <= 2


_D50 = np.array([0.9642, 1.0, 0.8249])


def _colorants(prof: Any) -> np.ndarray:
    """A matrix/TRC profile's primaries as the columns of its RGB -> XYZ (D50) matrix."""
    return np.array([c[0] for c in (prof.red_colorant, prof.green_colorant, prof.blue_colorant)], np.float64).T


def _sane_matrix(prof: Any) -> bool:
    """A matrix/TRC profile whose primaries can be right: finite, luminances in [0, 1], independent,
    adding up to the D50 white. Degenerate ones turned 8-bit photos solid red or black, and put
    values of 1e9 into the working space at 16 bits; such a profile is ignored, as a damaged one."""
    try:
        cols = _colorants(prof)
    except (TypeError, IndexError, ValueError):
        return False
    return bool(np.all(np.isfinite(cols)) and cols[1].min() >= -0.01 and cols[1].max() <= 1.01
                and abs(np.linalg.det(cols)) > 1e-3 and np.abs(cols.sum(1) - _D50).max() < 0.05)


def _to_srgb8(im: Image.Image) -> Image.Image:
    icc = im.info.get("icc_profile")
    # palette and grey+alpha first, with their profile: a palette's transparency converted straight
    # to RGB made Pillow warn on stderr, and LA/P/PA skipped the profile (35 levels off in Adobe RGB)
    if im.mode in ("P", "PA"):
        im = im.convert("RGBA")
    elif im.mode in ("LA", "La"):
        im = im.convert("L")
    if im.mode not in ("RGB", "RGBA", "L", "CMYK") or not icc:
        return im.convert("RGB")
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = src.profile.xcolor_space.strip()
        damaged = src.profile.is_matrix_shaper and not _sane_matrix(src.profile)
        if space == "RGB" and (_is_srgb_profile(icc) or damaged):
            return im.convert("RGB")
        if space == "GRAY" and im.mode != "L":  # a grey profile on colour pixels: not theirs
            return im.convert("RGB")
        # a grey profile transforms the grey image itself: grey made RGB first matched no profile
        # and was shown as sRGB (17 levels off for Gray Gamma 1.8)
        source = {"GRAY": "L", "CMYK": "CMYK"}.get(space, "RGB")
        if source == "CMYK" and im.mode != "CMYK":
            return im.convert("RGB")
        if im.mode != source:
            im = im.convert(source)
        return ImageCms.profileToProfile(im, src, ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")),
                                         outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, AttributeError):
        return im.convert("RGB")


def _photo_frame(im: Image.Image) -> None:
    """A TIFF opened on its photo, past a reduced-resolution preview written first (as
    :func:`~engine.io.metadata.main_page` chooses for tifffile's reads)."""
    if im.format != "TIFF" or not int(im.tag_v2.get(254, 0) or 0) & 1:
        return
    for i in range(1, min(getattr(im, "n_frames", 1), MAX_PAGES)):
        im.seek(i)
        if not int(im.tag_v2.get(254, 0) or 0) & NOT_THE_PHOTO:
            return
    im.seek(0)


def _open_pillow(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
            _photo_frame(im)
    except FileNotFoundError as e:
        raise ImageError("file not found", path) from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # said as check_dimensions says it (Pillow's words: "could be decompression bomb DOS attack")
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(found.group(1)) / 1e6:.0f} MP is " if found else ""
        raise ImageError(f"{size}above the {MAX_PIXELS / 1e6:.0f} MP limit (refused as a possible decompression bomb)",
                         path) from e
    except Image.UnidentifiedImageError as e:  # its message repeats the path the error already names
        raise ImageError("not an image Pillow can read (unrecognised or damaged data)", path) from e
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"not an image Pillow can read ({e})", path) from e
    check_dimensions(*im.size, path)
    if im.format in ("JPEG", "MPO"):
        _check_jpeg_size(im, path)
    return im


def _check_jpeg_size(im: Image.Image, path: Path) -> None:
    """libjpeg fills what is missing with grey and only warns: a 691-byte file declaring 196 MP
    opened as a grey photo, after 23 s and 7 GB. An arithmetic-coded JPEG can be that small (125
    bytes for a flat 16 MP frame): it is taken as it says."""
    try:
        size = os.fstat(im.fp.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return
    if im.size[0] * im.size[1] > JPEG_MAX_PIXELS_PER_BYTE * size and not _arithmetic(im.fp):
        raise ImageError(f"truncated or corrupt: {size} bytes cannot hold a {im.size[0]} x {im.size[1]} JPEG", path)


def _arithmetic(fp: Any) -> bool:
    """Whether the JPEG in ``fp`` is arithmetic-coded (its frame marker SOF9-11 or SOF13-15),
    walking its marker segments from the start; ``fp`` is left where it was."""
    at = fp.tell()
    try:
        fp.seek(0)
        if fp.read(2) != b"\xff\xd8":
            return False
        while True:
            head = fp.read(4)
            if len(head) < 4 or head[0] != 0xFF:
                return False
            code, length = head[1], int.from_bytes(head[2:], "big")
            if 0xC0 <= code <= 0xCF and code not in (0xC4, 0xC8, 0xCC):
                return code >= 0xC9
            if code == 0xDA or length < 2:  # a scan before any frame: not a JPEG Pillow opened
                return False
            fp.seek(length - 2, 1)
    finally:
        fp.seek(at)


def _load_pillow(im: Image.Image, path: Path, draft: int | None = None) -> Image.Image:
    """Decode, orient and convert to 8-bit sRGB; decoding errors become ImageErrors."""
    try:
        if draft and im.format == "JPEG":
            im.draft("RGB", fit_box(im.size, draft))
        im.load()
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"the image is truncated or corrupt ({e})", path) from e
    return _to_srgb8(_upright(im))


def _upright(im: Image.Image) -> Image.Image:
    """``im`` turned by its EXIF orientation. ``ImageOps.exif_transpose`` re-encodes the EXIF, so one
    malformed tag (a string where a number belongs: struct.error) must not lose the photo."""
    try:
        return ImageOps.exif_transpose(im)
    except Exception:
        o = _orientation(im)
        return im.transpose(_TRANSPOSE[o]) if o in _TRANSPOSE else im


#: EXIF orientation -> the Pillow transpose that turns it upright (as ImageOps.exif_transpose).
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation (1 where the EXIF cannot be read or the value is not one of 1-8)."""
    try:
        o = im.getexif().get(ORIENTATION, 1)
    except Exception:  # damaged EXIF: the pixels are still the photo
        return 1
    return o if isinstance(o, int) and 1 <= o <= 8 else 1


def opacity(path: str | Path, *, premultiplied: bool = True) -> np.ndarray | None:
    """A raster file's alpha in [0, 1], read and turned upright as :func:`decode_raster` reads its
    pixels (which drop it: a transparent pixel shows its stored colour); None where it has none or
    every pixel is opaque. An alpha channel, or a PNG's transparent colour (8 or 16 bits).
    ``premultiplied=False``: None for a TIFF's associated alpha too (an export keeps straight ones)."""
    path = Path(path)
    try:
        if path.suffix.lower() in TIFF_EXTENSIONS:
            kind = tiff_alpha_kind(path)
            if kind is False:  # no extra sample, or one that is not an alpha (an infrared band, a mask)
                return None
            if kind == "associated" and not premultiplied:
                return None
            got = _tiff_array(path, alpha=True) if kind else None
            if got is not None:
                arr, orientation, _ = got
                if arr.shape[2] < 4:
                    return None
                return _visible(apply_orientation(_unit(arr[..., 3]), orientation))
        with _open_pillow(path) as im:
            key = im.info.get("transparency")
            if im.mode not in ("RGBA", "LA", "PA", "La", "RGBa") and key is None:
                return None  # told by the header: an opaque 16-bit PNG is not decoded twice
            if im.format == "PNG" and _png_is_16bit(path):  # decoded by imagecodecs, as _png16 does
                arr = _png16_decode(path)
                if arr.ndim == 3 and arr.shape[2] in (2, 4):
                    a = _unit(arr[..., -1])
                elif isinstance(key, (int, tuple)):  # tRNS: one colour, in the file's 16 bits
                    match = arr == key if arr.ndim == 2 else (arr[..., :3] == np.asarray(key)).all(-1)
                    a = np.where(match, 0.0, 1.0).astype(np.float32)
                else:
                    return None
                return _visible(apply_orientation(a, _orientation(im)))
            im.load()
            alpha = _upright(im).convert("RGBA").getchannel("A")
    except Exception:  # unreadable here: the decoder says why, or reads it without alpha (opaque)
        return None
    return _visible(np.asarray(alpha, np.float32) / 255)


def tiff_alpha_kind(path: str | Path) -> str | bool | None:
    """What a TIFF's first extra sample is, read from its tags alone: "associated" (the colours are
    premultiplied by it) or "unassociated" alpha, False where there is none or it is not an alpha
    (ExtraSamples 0, "unspecified": an infrared band or a saved mask), None where tifffile cannot
    say (Pillow reads the file then)."""
    try:
        with tifffile.TiffFile(path) as tf:
            extra = tuple(main_page(tf).extrasamples or ())
    except Exception:  # unreadable by tifffile: the decoder says why, or Pillow reads it
        return None
    if not extra or int(extra[0]) not in (1, 2):
        return False
    return "associated" if int(extra[0]) == 1 else "unassociated"


def _unit(channel: np.ndarray) -> np.ndarray:
    """Integer or float samples as floats in [0, 1]."""
    if channel.dtype.kind == "f":
        return np.clip(channel.astype(np.float32), 0, 1)
    return channel.astype(np.float32) / np.iinfo(channel.dtype).max


def _visible(alpha: np.ndarray) -> np.ndarray | None:
    return None if alpha.min() >= 1 else np.ascontiguousarray(alpha, np.float32)


def _png16(path: Path, im: Image.Image) -> np.ndarray | None:
    """16-bit PNGs through imagecodecs (Pillow drops them to 8 bits); None for 8-bit ones."""
    if im.format != "PNG" or not _png_is_16bit(path):
        return None
    arr = _png16_decode(path)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[2] < 3:  # grey, or grey + alpha (dropped, as every alpha is here)
        arr = np.repeat(arr[..., :1], 3, axis=2)
    else:  # float (linear) where it had another space's profile
        arr = _icc_to_linear16(np.ascontiguousarray(arr[..., :3]), im.info.get("icc_profile"))
    return apply_orientation(arr[..., :3], _orientation(im))


def _png16_decode(path: Path) -> np.ndarray:
    """A 16-bit PNG's samples as stored (grey, grey + alpha, RGB or RGBA), via imagecodecs."""
    import imagecodecs

    try:
        return imagecodecs.png_decode(_pixel_chunks(path.read_bytes()))
    except Exception as e:  # imagecodecs raises its own PngError
        raise ImageError(f"the PNG is truncated or corrupt ({e})", path) from e


_PIXEL_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}


def _pixel_chunks(data: bytes) -> bytes:
    """The PNG with only the chunks its pixels need: libpng printed warnings on stderr about a
    damaged colour profile (iCCP) that Pillow reads, and this path does not, anyway."""
    out, at = [data[:8]], 8
    while at + 8 <= len(data):
        n = int.from_bytes(data[at:at + 4], "big")
        kind, end = data[at + 4:at + 8], at + 12 + n
        if end > len(data):
            return data  # damaged: let the decoder say so
        if kind in _PIXEL_CHUNKS:
            out.append(data[at:end])
        at = end
    return b"".join(out)


def _png_is_16bit(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(26)
    return len(head) == 26 and head[12:16] == b"IHDR" and head[24] == 16


def _tiff_array(path: Path, alpha: bool = False) -> tuple[np.ndarray, int, bytes | None] | None:
    """(pixels, orientation, ICC profile) for grey, RGB, palette and CMYK TIFFs via tifffile; None
    lets Pillow try. ``alpha``: with the extra samples (an alpha channel fourth), else RGB. The
    profile is None where the pixels are already converted by it (CMYK) or there is none."""
    try:
        with tifffile.TiffFile(path) as tf:
            page = main_page(tf)
            check_dimensions(int(page.imagewidth), int(page.imagelength), path)
            photometric = int(page.photometric)
            if photometric not in (1, 2, 3, 5) or page.dtype is None or page.dtype.kind not in "uif":
                return None  # not MINISBLACK/RGB/palette/CMYK integer or float: Pillow tries
            if photometric in (3, 5) and (page.dtype.kind != "u" or int(page.planarconfig) == 2):
                return None
            if photometric == 5 and int(page.samplesperpixel) < 4:
                return None
            arr = page.asarray()
            planar = int(page.planarconfig) == 2 and arr.ndim == 3  # separate planes: (samples, H, W)
            orientation = int(page.tags.valueof(ORIENTATION, 1) or 1)
            icc = _tiff_icc(page)
            if photometric == 3:  # palette: each index's colour, to 8 bits as Pillow reads it (v // 256:
                # Pillow writes v * 256, so its white is 65280, not 65535)
                arr = np.moveaxis((np.asarray(page.colormap) >> 8).astype(np.uint8)[:, arr], 0, -1)
            elif photometric == 5:  # CMYK: Pillow's own conversion (its TIFF plugin turns these wrongly)
                arr = np.concatenate([_cmyk_to_rgb(arr[..., :4], icc), arr[..., 4:]], axis=-1)
                icc = None  # applied
    except ImageError:
        raise
    except tifffile.TiffFileError as e:
        raise ImageError(f"not a readable TIFF ({e})", path) from e
    except (OSError, ValueError, IndexError) as e:
        raise ImageError(f"the TIFF is truncated or corrupt ({e})", path) from e
    if planar:
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim == 3 and arr.shape[2] < 3:  # grey, or grey + alpha: the grey to all three
        arr = np.concatenate([np.repeat(arr[..., :1], 3, axis=2), arr[..., 1:]], axis=2)
    if arr.ndim != 3 or arr.shape[2] < 3:
        return None
    return (arr if alpha else arr[..., :3]), orientation, icc


def _cmyk_to_rgb(cmyk: np.ndarray, icc: bytes | None) -> np.ndarray:
    """Ink amounts to RGB: through the file's profile where it has one (8-bit), else as Pillow
    converts, ``(1 - c)(1 - k)`` per channel."""
    if cmyk.dtype == np.uint8:
        return np.asarray(_to_srgb8(_tagged(cmyk, "CMYK", icc)))
    top = float(np.iinfo(cmyk.dtype).max)
    ink = cmyk.astype(np.float64) / top
    rgb = (1 - ink[..., :3]) * (1 - ink[..., 3:4])
    return (rgb * 65535 + 0.5).astype(np.uint16)


def _tagged(arr: np.ndarray, mode: str, icc: bytes | None) -> Image.Image:
    """8-bit ``arr`` as a Pillow image carrying ``icc``, as a decoded file would: for :func:`_to_srgb8`."""
    im = Image.fromarray(np.ascontiguousarray(arr), mode)
    if icc is not None:
        im.info["icc_profile"] = icc
    return im


def _tiff_icc(page: tifffile.TiffPage) -> bytes | None:
    try:
        icc = page.tags.valueof(34675)  # InterColorProfile
    except Exception:  # a damaged tag only loses the profile, not the pixels
        return None
    return bytes(icc) if isinstance(icc, (bytes, bytearray, np.ndarray)) and len(icc) else None


def _decode_tiff(path: Path, max_size: int | None = None) -> tuple[np.ndarray, bool] | None:
    """(array, is_linear) from tifffile; ints rescaled to uint8/uint16. ``max_size``: every k-th
    pixel only, at least twice that size, taken before the colour conversion (a 60 MP ProPhoto
    TIFF's preview converted all of it first: 11 s)."""
    got = _tiff_array(path)
    if got is None:
        return None
    arr, orientation, icc = got
    if max_size:
        k = max(1, max(arr.shape[:2]) // (2 * max_size))
        arr = arr[::k, ::k]
    if arr.dtype.kind == "f":  # linear light; NaN/inf from broken renders would poison every filter
        # in place: the array is tifffile's fresh one (two more copies of a 48 MP float frame were 1.2 GB)
        arr = np.nan_to_num(arr.astype(np.float32, copy=False), copy=False, nan=0.0, posinf=1.0, neginf=0.0)
        arr = _icc_float(arr, icc)
    elif arr.dtype not in (np.uint8, np.uint16):
        info = np.iinfo(arr.dtype)
        arr = (np.clip(arr, 0, None).astype(np.float64) / info.max * 65535 + 0.5).astype(np.uint16)
    if arr.dtype == np.uint8:  # 8-bit with another space's profile: to sRGB, as Pillow's path does
        arr = _icc_to_srgb8(arr, icc)
    elif arr.dtype == np.uint16:
        arr = _icc_to_linear16(arr, icc)  # float (linear) where it had another space's profile
    return np.ascontiguousarray(apply_orientation(arr, orientation)), arr.dtype.kind == "f"


def _icc_to_srgb8(arr: np.ndarray, icc: bytes | None) -> np.ndarray:
    """8-bit RGB ``arr`` converted from ``icc``'s space to sRGB (as it is without a profile or with
    an sRGB one), by the same LittleCMS conversion as Pillow's path."""
    if icc is None or _is_srgb_profile(icc):
        return arr
    return np.asarray(_to_srgb8(_tagged(arr, "RGB", icc)))


def _other_rgb_profile(arr: np.ndarray, icc: bytes | None, whose: str, taken: str) -> Any | None:
    """The profile of RGB ``arr`` where it is another space's than sRGB; None otherwise, or where it
    cannot be read (said in the log: ``whose`` colour profile, the pixels ``taken`` as what)."""
    if icc is None or arr.ndim != 3 or arr.shape[2] != 3:
        return None
    try:
        prof = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile
        if prof.xcolor_space.strip() != "RGB" or _is_srgb_profile(icc):
            return None
    except (OSError, ImageCms.PyCMSError, TypeError, ValueError, AttributeError) as e:
        log.warning("%s colour profile cannot be read (%s): taken as %s", whose, e, taken)
        return None
    return prof


def _icc_to_linear16(arr: np.ndarray, icc: bytes | None) -> np.ndarray:
    """16-bit RGB ``arr`` with an RGB profile other than sRGB, as float32 linear sRGB; otherwise
    ``arr`` itself. Read as sRGB before: 88 levels off for ProPhoto, 65 for Adobe RGB.

    Pillow's ImageCms has no 16-bit RGB, and LittleCMS's optimised 16-bit pipeline (imagecodecs) is
    5-8 levels off at p99 for ProPhoto; its exact one takes 8 s at 24 MP. A matrix/TRC profile
    (Adobe RGB, ProPhoto, Display P3, a linear sRGB...) is applied exactly instead, as its own math:
    each channel's curve, taken by LittleCMS from a 65536-step ramp, then one 3x3 matrix from the
    profile's primaries to sRGB's (both D50-adapted, as ICC keeps them), negatives clipped. Others
    (LUT profiles) go through the optimised pipeline; an unreadable profile leaves ``arr`` as it is."""
    prof = _other_rgb_profile(arr, icc, "a 16-bit photo's", "sRGB")
    if prof is None or (prof.is_matrix_shaper and not _sane_matrix(prof)):
        return arr
    import imagecodecs

    try:
        if not prof.is_matrix_shaper:
            rgb = imagecodecs.cms_transform(np.ascontiguousarray(arr), icc, srgb_icc(),
                                            colorspace="rgb", outcolorspace="rgb")
            return linearize(rgb)
        curves, to_srgb = _matrix_shaper(icc, prof)
    except Exception as e:  # imagecodecs' CmsError, a matrix that cannot be inverted: the photo still opens
        log.warning("a 16-bit photo's colour profile cannot be applied (%s): taken as sRGB", e)
        return arr
    out = np.empty(arr.shape, np.float32)
    for c in range(3):
        out[..., c] = curves[c][arr[..., c]]
    out = out @ to_srgb.T
    return np.maximum(out, 0.0, out=out)


def _icc_float(arr: np.ndarray, icc: bytes | None) -> np.ndarray:
    """A float (linear) RGB ``arr`` tagged with another space's matrix profile (a 32-bit ProPhoto or
    Adobe RGB export, an HDR merge), in linear sRGB: the profile's primaries to sRGB's, its light
    past white kept, negatives clipped. It had been read as linear sRGB, its colours as dull as an
    untagged wide-gamut photo's. The values are light already, so the profile's curves do not
    apply; a LUT profile, which has no primaries, leaves ``arr`` as it is (said in the log)."""
    prof = _other_rgb_profile(arr, icc, "a float photo's", "linear sRGB")
    if prof is None:
        return arr
    try:
        if not prof.is_matrix_shaper or not _sane_matrix(prof):
            log.warning("a float photo's colour profile is not a matrix profile: taken as linear sRGB")
            return arr
        to_srgb = _to_srgb(prof)
    except (TypeError, ValueError, AttributeError, np.linalg.LinAlgError) as e:
        log.warning("a float photo's colour profile cannot be read (%s): taken as linear sRGB", e)
        return arr
    out = arr @ to_srgb.T
    return np.maximum(out, 0.0, out=out)


def _matrix_shaper(icc: bytes, prof: Any) -> tuple[np.ndarray, np.ndarray]:
    """(3 curves of 65536 linear values, the 3x3 matrix from the profile's linear RGB to linear
    sRGB) of a matrix/TRC profile."""
    import imagecodecs

    # the same primaries with linear curves: the transform to it is the curves alone
    xy = [v for col in (prof.red_colorant, prof.green_colorant, prof.blue_colorant) for v in col[1][:2]]
    linear = imagecodecs.cms_profile("rgb", primaries=xy, whitepoint=[0.3457, 0.3585], gamma=1.0)
    ramp = np.repeat(np.arange(65536, dtype=np.uint16)[:, None, None], 3, axis=2)
    curves = imagecodecs.cms_transform(ramp, icc, linear, colorspace="rgb", outcolorspace="rgb",
                                       outdtype=np.float32, flags=_CMS_NOOPTIMIZE)[:, 0, :].T
    return np.ascontiguousarray(curves, np.float32), _to_srgb(prof)


def _to_srgb(prof: Any) -> np.ndarray:
    """The 3x3 matrix from a matrix profile's linear RGB to linear sRGB (both D50-adapted)."""
    return (np.linalg.inv(_colorants(ImageCms.createProfile("sRGB"))) @ _colorants(prof)).astype(np.float32)


_CMS_NOOPTIMIZE = 0x0100  # LittleCMS's cmsFLAGS_NOOPTIMIZE: the exact pipeline


def decode_raster(path: str | Path) -> np.ndarray:
    """JPEG/PNG/TIFF -> float32 linear sRGB primaries (H, W, 3), upright."""
    path = Path(path)
    if path.suffix.lower() in TIFF_EXTENSIONS:
        got = _decode_tiff(path)
        if got is not None:
            arr, is_linear = got
            return arr if is_linear else linearize(arr)
    with _open_pillow(path) as im:  # closes the file handle (Windows cannot rename open files)
        arr16 = _png16(path, im)
        if arr16 is not None:
            return np.ascontiguousarray(arr16 if arr16.dtype.kind == "f" else linearize(arr16))
        return linearize(np.asarray(_load_pillow(im, path)))


def raster_preview(path: str | Path, max_size: int | None = None) -> np.ndarray:
    """uint8 sRGB (H, W, 3), upright; JPEGs use DCT-domain downscaling (draft) when it helps."""
    path = Path(path)
    if path.suffix.lower() in TIFF_EXTENSIONS:
        got = _decode_tiff(path, max_size)  # a thumbnail of a 48 MP TIFF: converted at twice its size
        if got is not None:
            arr, is_linear = got
            if is_linear:
                from ..color import srgb_encode
                arr = srgb_encode(arr)
            if arr.dtype == np.uint16:
                arr = (arr >> 8).astype(np.uint8)
            elif arr.dtype != np.uint8:
                arr = (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
            return np.ascontiguousarray(arr)
    with _open_pillow(path) as im:
        arr16 = _png16(path, im)
        if arr16 is not None:
            if arr16.dtype.kind == "f":  # converted from its profile to linear sRGB
                from ..color import srgb_encode
                return to_bits(srgb_encode(arr16), 8)
            return np.ascontiguousarray((arr16 >> 8).astype(np.uint8))
        return np.asarray(_load_pillow(im, path, draft=max_size))


def read_raster_metadata(path: str | Path) -> Metadata:
    path = Path(path)
    if path.suffix.lower() in TIFF_EXTENSIONS:
        meta = _tiff_metadata(path)
        if meta is not None:
            return meta
    im = _open_pillow(path)
    with im:
        damaged = False
        try:
            exif = im.getexif()  # a PNG may be read to its end to find its eXIf chunk
        except SyntaxError as e:  # the EXIF block itself is damaged (not TIFF): the pixels are still the photo
            log.warning("%s: its EXIF cannot be read and is left out (%s)", path.name, e)
            exif, damaged = Image.Exif(), True
        except (OSError, ValueError) as e:
            raise ImageError(f"the image is truncated or corrupt ({e})", path) from e
        meta = _oriented_meta(path, im.size, exif.get(ORIENTATION, 1))
        try:
            sub = dict(exif.get_ifd(EXIF_IFD))
        except Exception:  # damaged Exif IFD pointer
            sub = {}
        fill_from_tags(meta, dict(exif), sub)
        raw_exif = None if damaged else im.info.get("exif")
        if raw_exif is None and len(exif):
            raw_exif = exif.tobytes()
        meta.exif = bytes(raw_exif) if raw_exif else None
    return meta


def _oriented_meta(path: Path, size: tuple[int, int], orientation: object) -> Metadata:
    try:
        o = int(orientation or 1)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        o = 1
    o = o if 1 <= o <= 8 else 1
    w, h = size
    if swaps_axes(o):
        w, h = h, w
    return Metadata(path=path, width=w, height=h, orientation=o)


def _tiff_metadata(path: Path) -> Metadata | None:
    """TIFF metadata through tifffile (Pillow cannot open float or many 16-bit TIFFs)."""
    ifd0, exif = tiff_tags(path, photo=True)
    if 256 not in ifd0 or 257 not in ifd0:
        return None
    check_dimensions(int(ifd0[256]), int(ifd0[257]), path)
    meta = _oriented_meta(path, (int(ifd0[256]), int(ifd0[257])), ifd0.get(ORIENTATION, 1))
    fill_from_tags(meta, ifd0, exif)
    meta.exif = exif_from_fields(meta)  # a JPEG-ready block rebuilt from the fields
    return meta


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


#: From this JPEG quality on, colour is kept at full resolution (4:4:4).
HIGH_QUALITY = 90


#: Thresholds that replace rounding when display floats become 8 bits: a fixed tile (the same
#: file every time) of uniform values inside (0, 1). Rounding turned a smooth sky into flat bands
#: 60-90 rows wide, the steps tinted where R, G and B stepped on different rows, once a downscale
#: had averaged the sensor noise away; dithered, the levels mix at the right proportions. A value
#: on a level stays on it (the thresholds keep 1/128 from 0 and 1), so an unedited 8-bit photo
#: round-trips exactly. 16 bits need none.
_DITHER = (np.random.default_rng(20261206).integers(1, 128, (64, 64)) / np.float32(128)).astype(np.float32)


def _dithered8(a: np.ndarray) -> np.ndarray:
    """Display float (H, W, 3) -> uint8 by the dither thresholds, in bands of 64 rows."""
    h, w = a.shape[:2]
    out = np.empty(a.shape, np.uint8)
    row = np.tile(_DITHER, (1, -(-w // 64)))[:, :w, None]
    for y in range(0, h, 64):
        band = np.clip(a[y:y + 64], 0.0, 1.0, dtype=np.float32) * np.float32(255)
        band += row[: band.shape[0]]
        out[y:y + 64] = band  # truncation: floor, for values >= 0
    return out


def to_bits(srgb: np.ndarray, bits: int) -> np.ndarray:
    """Display sRGB (float [0, 1], uint8 or uint16) as ``bits``-bit integers, as the writers store
    them: 8 bits dithered (:func:`_dithered8`, in bands of its 64-row tile), 16 bits rounded."""
    a = np.asarray(srgb)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {a.shape}")
    if bits == 8 and a.dtype == np.uint8:
        return a
    if bits == 16 and a.dtype == np.uint16:
        return a
    if a.dtype == np.uint8:
        return a.astype(np.uint16) * 257
    if a.dtype == np.uint16:
        return (a >> 8).astype(np.uint8)
    if bits == 8:
        return _dithered8(a)
    out = np.clip(a, 0.0, 1.0, dtype=np.float32) * np.float32(65535.0) + np.float32(0.5)
    return out.astype(np.uint16)


#: The output formats that keep an alpha channel (a JPEG has none: its transparent pixels show
#: the colour stored under them, as before).
ALPHA_FORMATS = frozenset({"png", "png16", "tiff16"})


def alpha_for(path: str | Path, height: int, width: int) -> np.ndarray | None:
    """The source photo's transparency (:func:`opacity`) for an export, at ``height`` x ``width``
    (the decoded photo's size; area-averaged should the two differ), or None where the photo is
    opaque, a RAW, or a TIFF with an associated alpha: its premultiplied colours are read as stored,
    so written opaque they are right over black, as before, and beside their alpha they would be
    darkened twice at every soft edge."""
    from .raw import is_raw

    if is_raw(path):
        return None
    a = opacity(path, premultiplied=False)
    if a is None:
        return None
    if a.shape != (height, width):
        a = np.asarray(Image.fromarray(a, "F").resize((width, height), Image.Resampling.BOX, reducing_gap=None))
    return np.clip(a, 0.0, 1.0).astype(np.float32)


def _with_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """``rgb`` (uint8 or uint16) with ``alpha`` in [0, 1] as a fourth channel of the same depth."""
    if alpha is None:
        return rgb
    if alpha.shape != rgb.shape[:2]:
        raise ValueError(f"alpha is {alpha.shape}, the image {rgb.shape[:2]}")
    top = np.iinfo(rgb.dtype).max
    a = (np.clip(alpha, 0.0, 1.0) * np.float32(top) + np.float32(0.5)).astype(rgb.dtype)
    return np.ascontiguousarray(np.concatenate([rgb, a[..., None]], axis=-1))


def write_image(path: str | Path, srgb: np.ndarray, *, fmt: str | None = None, quality: int = 92,
                meta: Metadata | None = None, alpha: np.ndarray | None = None, ppi: int = DEFAULT_PPI,
                made_from: str | None = None) -> Path:
    """Write display sRGB (float [0, 1], uint8 or uint16; (H, W, 3)) atomically and return the path.

    ``fmt`` is "jpeg", "png", "png16" or "tiff16" (default: from the suffix, else JPEG). The sRGB ICC profile
    is embedded; the EXIF, XMP and IPTC of the photo ``meta`` describes are carried over, with
    Orientation 1 (the pixels are upright; :mod:`engine.io.carry`). The input photo (``meta.path``)
    is never overwritten. 16-bit TIFF and PNG keep 16 bits. ``alpha`` ((H, W) in [0, 1], the
    source's transparency: :func:`alpha_for`) is kept by PNG and TIFF, unassociated, as the source
    stores it; a JPEG has no alpha. ``ppi``, the print resolution, goes into the file's own header
    (JFIF density, PNG pHYs, TIFF resolution) and its EXIF alike, so every program reads one size.
    ``made_from``: what made the output, written as its EXIF ImageUniqueID, by which a later export
    tells whether it is still what it would write (:func:`engine.batch_worker.made_from`).
    """
    path = Path(path)
    if fmt is None:
        fmt = SUFFIX_FORMAT.get(path.suffix.lower(), "jpeg")
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {sorted(FORMATS)}, got {fmt!r}")
    if meta is not None and _same_file(path, meta.path):
        raise ImageError("refusing to overwrite the original photo; choose another output name", path)
    ppi = int(check_ppi(ppi))  # numpy integers too
    exif = exif_for_output(meta, ppi=ppi, made_from=made_from)
    alpha = alpha if fmt in ALPHA_FORMATS else None
    try:
        with atomic_path(path) as tmp:
            if fmt == "tiff16":
                buf = io.BytesIO()
                _write_tiff16(buf, _with_alpha(to_bits(srgb, 16), alpha), meta, ppi)
                tmp.write_bytes(carry(buf.getvalue(), meta.path if meta else None, SOFTWARE, made_from))
            elif fmt == "png16":
                tmp.write_bytes(carry(_png16_encode(_with_alpha(to_bits(srgb, 16), alpha), exif, ppi),
                                      meta.path if meta else None, SOFTWARE, made_from))
            else:
                rgb = _with_alpha(to_bits(srgb, 8), alpha)
                im = Image.fromarray(np.ascontiguousarray(rgb), "RGBA" if alpha is not None else "RGB")
                kw: dict = {"icc_profile": srgb_icc(), "dpi": (ppi, ppi)}
                if exif:
                    kw["exif"] = exif
                # encoded in memory, then written by Python: Pillow's encoder writes to a file's fd
                # itself and ignores a short write, so a disk filling up left a truncated JPEG that
                # the rename then published as complete
                if fmt == "jpeg":
                    # full-resolution colour at high quality (as Lightroom does): 4:2:0 smeared
                    # saturated edges, 39.0 against 40.2 dB on the sample at quality 92
                    sub = 0 if quality >= HIGH_QUALITY else 2
                    data = _jpeg_bytes(im, quality=int(quality), subsampling=sub, **kw)
                else:
                    buf = io.BytesIO()
                    im.save(buf, "PNG", compress_level=6, **kw)
                    data = buf.getvalue()
                tmp.write_bytes(carry(data, meta.path if meta else None, SOFTWARE, made_from))
    except OSError as e:
        raise ImageError(f"cannot write ({e.strerror or e})", path) from e
    return path


_MAXBLOCK = threading.Lock()


def _jpeg_bytes(im: Image.Image, **kw: Any) -> bytes:
    """``im`` as a JPEG with optimised Huffman tables (the same pixels in 1-6 % fewer bytes).

    Those need the whole file in one buffer, which Pillow sizes at a byte a pixel (two from
    quality 95): grain at full colour resolution takes more (1.26 bytes at quality 92 and 3.0 at
    100 on heavy ISO noise), and the export failed ("broken data stream"). Such a photo is encoded
    again with room for 4 bytes a pixel, and past that with the standard tables, which stream."""
    def encode(**more: Any) -> bytes:
        buf = io.BytesIO()
        im.save(buf, "JPEG", **kw, **more)
        return buf.getvalue()

    try:
        return encode(optimize=True)
    except OSError:
        pass
    with _MAXBLOCK:  # Pillow reads the floor of its buffer from this module global
        was = ImageFile.MAXBLOCK
        ImageFile.MAXBLOCK = max(was, 4 * im.width * im.height + len(kw.get("exif", b"")) + (1 << 16))
        try:
            return encode(optimize=True)
        except OSError:
            pass
        finally:
            ImageFile.MAXBLOCK = was
    return encode(optimize=False)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def _png16_encode(arr: np.ndarray, exif: bytes | None, ppi: int = DEFAULT_PPI) -> bytes:
    """A 16-bit RGB PNG (Pillow writes 8 bits only) with the sRGB profile, the resolution (pHYs,
    pixels per metre) and, where given, the EXIF in an eXIf chunk, all placed right after the
    header as the PNG spec asks (before IDAT)."""
    import imagecodecs

    png = imagecodecs.png_encode(np.ascontiguousarray(arr), level=6)
    head = 8 + 25  # signature + IHDR chunk
    extra = _png_chunk(b"iCCP", b"sRGB IEC61966-2.1\0\0" + zlib.compress(srgb_icc()))
    per_metre = round(ppi / 0.0254).to_bytes(4, "big")
    extra += _png_chunk(b"pHYs", per_metre * 2 + b"\x01")
    if exif:
        extra += _png_chunk(b"eXIf", exif.removeprefix(b"Exif\x00\x00"))
    return png[:head] + extra + png[head:]


def _write_tiff16(tmp: Path | io.BytesIO, arr: np.ndarray, meta: Metadata | None, ppi: int = DEFAULT_PPI) -> None:
    tags: list[tuple] = [(274, "H", 1, 1, True)]
    if meta is not None:
        from .metadata import _rational

        for code, v in ((271, meta.make), (272, meta.model)):
            if v:
                tags.append((code, "s", 0, v, True))
        if meta.captured:
            tags.append((36867, "s", 0, meta.captured.strftime("%Y:%m:%d %H:%M:%S"), True))
        if meta.iso:
            tags.append((34855, "H", 1, min(65535, round(meta.iso)), True))
        for code, v in ((33434, meta.exposure_time), (33437, meta.f_number), (37386, meta.focal_length)):
            if v:
                tags.append((code, "2I", 1, _rational(v), True))
    # strips compressed on every core: zlib on one thread was half of a 61 MP export's 22 s
    tifffile.imwrite(tmp, arr, photometric="rgb", iccprofile=srgb_icc(), software=SOFTWARE,
                     compression="zlib", predictor=True, extratags=tags, metadata=None,
                     resolution=(ppi, ppi), resolutionunit="INCH",
                     extrasamples=["unassalpha"] if arr.shape[-1] == 4 else None,
                     maxworkers=min(4, os.cpu_count() or 1))
