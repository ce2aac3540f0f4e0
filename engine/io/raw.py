"""Camera RAW through LibRaw (rawpy): embedded preview, half-size and full decodes, metadata.

Decoding to the working space: camera white balance, the camera matrix to **linear sRGB primaries**,
gamma 1, no auto-brightening and ``adjust_maximum_thr=0`` (LibRaw's default 0.75 rescales the
white level to the brightest pixel, which changes exposure from photo to photo), 16 bit, / 65535.
LibRaw applies the camera orientation (``sizes.flip``) itself; previews are turned here.

Highlights: LibRaw's blend mode, scaled back (:func:`_headroom`), so white (what no channel clips)
is 1 and what one or two channels clipped keeps what the others saw, past white: an Exposure step
below zero brings a sky's gradation back where clip mode left flat grey. What all three clipped is
a neutral grey past white, which a white balance leaves alone
(:func:`engine.filters.white_balance.blown`).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import rawpy
import tifffile
from PIL import Image

from ..color import srgb_encode
from .errors import ImageError, check_dimensions
from .image import _orientation, _upright, to_bits
from .metadata import EXIF_IFD, Metadata, camera_name, exif_from_fields, fill_from_tags, tiff_pages, tiff_tags
from .orientation import apply_orientation, exif_from_flip, fit_box, swaps_axes, upright_box

#: What a RAW decodes to, for caches of renders: 2 keeps the highlights past white (blend mode).
DECODE_VERSION = 2

# Everything LibRaw opens (lower case, with dot).
RAW_EXTENSIONS = frozenset(
    ".3fr .ari .arw .bay .cap .cr2 .cr3 .crw .cs1 .dc2 .dcr .dcs .dng .drf .eip .erf .fff .gpr .iiq "
    ".k25 .kc2 .kdc .mdc .mef .mfw .mos .mrw .nef .nrw .obm .orf .ori .pef .ptx .pxn .qtk .raf .raw "
    ".rdc .rw2 .rwl .rwz .sr2 .srf .srw .sti .x3f".split()
)


def is_raw(path: str | Path) -> bool:
    return Path(path).suffix.lower() in RAW_EXTENSIONS


_quiet_lock = threading.Lock()
_quiet = {"depth": 0, "saved": -1}


@contextlib.contextmanager
def _libraw_quiet() -> Iterator[None]:
    """LibRaw prints its data errors ("x.dng: Unexpected end of file") on the C stderr, where they
    land between a CLI's or a batch's lines; the ImageError says it in one line instead. So fd 2
    goes to /dev/null while any decode of the process runs (shared: decodes in threads nest)."""
    if os.name != "posix":
        yield
        return
    with _quiet_lock:
        if _quiet["depth"] == 0:
            sys.stderr.flush()
            _quiet["saved"] = os.dup(2)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
        _quiet["depth"] += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet["depth"] -= 1
            if _quiet["depth"] == 0:
                os.dup2(_quiet["saved"], 2)
                os.close(_quiet["saved"])


@contextlib.contextmanager
def open_raw(path: str | Path) -> Iterator[rawpy.RawPy]:
    """rawpy.imread with LibRaw's errors turned into clear ImageErrors and the size checked;
    LibRaw's own messages are kept off the terminal while the file is open (:func:`_libraw_quiet`)."""
    with _libraw_quiet():
        with _open_raw(Path(path)) as raw:
            yield raw


@contextlib.contextmanager
def _open_raw(path: Path) -> Iterator[rawpy.RawPy]:
    try:
        raw = rawpy.imread(str(path))
    except FileNotFoundError as e:
        raise ImageError("file not found", path) from e
    except rawpy.LibRawFileUnsupportedError as e:
        raise ImageError("not a RAW file LibRaw can read (unsupported or not an image)", path) from e
    except rawpy.LibRawIOError as e:
        raise ImageError("the RAW file is truncated or unreadable", path) from e
    except (rawpy.LibRawError, OSError) as e:
        raise ImageError(f"cannot open RAW file ({type(e).__name__}: {e})", path) from e
    try:
        s = raw.sizes
        check_dimensions(s.raw_width, s.raw_height, path)
        yield raw
    finally:
        raw.close()


def _inset_crop(raw: rawpy.RawPy) -> tuple[int, int, int, int] | None:
    """The DNG DefaultCrop LibRaw reads but does not apply, as (left, top, width, height) of the
    upright visible image; None where there is none (or it does not fit, as a damaged file's)."""
    s = raw.sizes
    left, top = int(s.crop_left_margin), int(s.crop_top_margin)
    cw, ch, W, H = int(s.crop_width), int(s.crop_height), int(s.width), int(s.height)
    if cw <= 0 or ch <= 0 or left < 0 or top < 0 or left + cw > W or top + ch > H or (cw, ch) == (W, H):
        return None
    return upright_box((left, top, cw, ch), (W, H), exif_from_flip(s.flip))


def _cropped(raw: rawpy.RawPy, decode: Callable[[], np.ndarray]) -> np.ndarray:
    """LibRaw's output (upright, full or half size) cut to the file's DefaultCrop: what the
    camera's own JPEG and the embedded preview show (the rest is masked sensor border). The sizes
    are read before ``decode``: a half-size decode halves them, not the crop."""
    box, s = _inset_crop(raw), raw.sizes
    full_w, full_h = (s.height, s.width) if swaps_axes(exif_from_flip(s.flip)) else (s.width, s.height)
    rgb = decode()
    if box is None:
        return rgb
    kx, ky = rgb.shape[1] / full_w, rgb.shape[0] / full_h  # 1/2 for a half-size decode
    left, top, cw, ch = box
    return np.ascontiguousarray(rgb[round(top * ky): round((top + ch) * ky), round(left * kx): round((left + cw) * kx)])


def _postprocess(raw: rawpy.RawPy, path: Path, half: bool) -> np.ndarray:
    """The decode as float32, white (what no channel clips) at 1, with the highlights' headroom."""
    if _unreadable_ljpeg(path):
        raise ImageError("the RAW data is corrupt: its lossless-JPEG data is not JPEG", path)
    rgb = _cropped(raw, lambda: _decode(raw, path, half))
    return _to_float(rgb, _headroom(raw))


def _headroom(raw: rawpy.RawPy) -> float:
    """How far past white the decode reaches: 1 over the smallest of the white-balance multipliers
    LibRaw used (read back after the decode: the camera's as shot, or what LibRaw falls back to).

    Clip mode scales the channel with the smallest multiplier so that its clip is white, and
    clips every channel there: a highlight with one channel clipped is rebuilt as white, and
    pulling the exposure down turns it into flat grey. Blend keeps what the unclipped channels saw
    and divides the multipliers by the largest instead, so the photo comes out darker by their
    ratio; scaled back by it, every pixel away from the highlights is as clip mode gives it. (For
    clip mode, and for files whose white balance is already applied, the smallest is 1.)"""
    used = np.asarray(raw.auto_whitebalance or (), np.float64)[: max(raw.num_colors, 1) + 1]
    low = used.min() if used.size else 0.0
    return 1.0 / low if 0.0 < low <= 1.0 else 1.0


def _decode(raw: rawpy.RawPy, path: Path, half: bool) -> np.ndarray:
    rgb = _libraw_decode(raw, path, half)
    if rgb.ndim == 3 and rgb.shape[2] == 1:  # a monochrome sensor (or a CFA LibRaw reads as one)
        return np.repeat(rgb, 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageError(f"LibRaw decoded {rgb.shape[2] if rgb.ndim == 3 else 0} channels, not RGB", path)
    if _is_blank(rgb):
        raise ImageError("the RAW data is corrupt: it decodes to a blank frame (every pixel the same)", path)
    return rgb


def _unreadable_ljpeg(path: Path) -> bool:
    """A DNG whose raw image claims lossless JPEG (compression 7) but whose first strip or tile does
    not start a JPEG stream. LibRaw gives no error for it: it returns whatever its buffer held, a
    near-black frame that differs from one decode to the next."""
    if path.suffix.lower() != ".dng":
        return False
    try:
        with tifffile.TiffFile(path) as tf:
            for page in tiff_pages(tf):
                if page.compression == 7 and page.dataoffsets:
                    tf.filehandle.seek(page.dataoffsets[0])
                    if tf.filehandle.read(2) != b"\xff\xd8":
                        return True
    except Exception:  # tifffile raises many kinds on damaged files; LibRaw has the last word
        return False
    return False


def _is_blank(rgb: np.ndarray) -> bool:
    """Every pixel the same value: what LibRaw returns, without an error, for some compressed RAW
    data it cannot read. A sensor's noise keeps any real frame, even one shot with the lens cap on,
    from being flat. A sparse sample first, so a real photo costs microseconds."""
    first = rgb.flat[0]
    return not (rgb[::13, ::13] != first).any() and not (rgb != first).any()


def _libraw_decode(raw: rawpy.RawPy, path: Path, half: bool) -> np.ndarray:
    """LibRaw's 16-bit linear sRGB, the camera's white balance, blend mode for an RGB sensor's
    highlights (:func:`_headroom`), clip mode for others (monochrome, four colours)."""
    with _libraw_errors(path):
        return raw.postprocess(
            output_color=rawpy.ColorSpace.sRGB, gamma=(1, 1), no_auto_bright=True, output_bps=16,
            adjust_maximum_thr=0.0, half_size=half, use_camera_wb=True,
            highlight_mode=rawpy.HighlightMode.Blend if raw.num_colors == 3 else rawpy.HighlightMode.Clip,
            # PPG (darktable's long-time default): same PSNR as AHD on our DNG round trip
            # (43.9 dB both) at less than half the time (1.5 vs 3.6 s for 24 MP, one core).
            demosaic_algorithm=rawpy.DemosaicAlgorithm.PPG,
        )


@contextlib.contextmanager
def _libraw_errors(path: Path) -> Iterator[None]:
    """LibRaw's errors as :class:`ImageError` naming the file."""
    try:
        yield
    except rawpy.LibRawIOError as e:
        raise ImageError("the RAW data is truncated or corrupt", path) from e
    except rawpy.LibRawError as e:
        raise ImageError(f"LibRaw could not decode the RAW data ({type(e).__name__}: {e})", path) from e


def _to_float(rgb: np.ndarray, headroom: float = 1.0) -> np.ndarray:
    out = np.empty(rgb.shape, np.float32)
    np.multiply(rgb, np.float32(headroom / 65535.0), out=out)
    return out


def raw_preview(path: str | Path, max_size: int | None = None, safe: bool = False,
                draft: int | None = None) -> np.ndarray:
    """The camera's embedded preview as upright uint8 sRGB; falls back to a half-size 8-bit decode.

    With ``max_size`` a JPEG preview is decoded at a reduced DCT scale (1/2 .. 1/8) that still
    covers ``max_size``: a full-size 24 MP camera JPEG costs a fraction of a full decode.
    ``safe``: that fallback decode (LibRaw's whole pipeline, where a corrupt file can crash or hang
    it) runs in a child process, as ``load_photo(safe=True)``; reading the embedded image does not.
    ``draft``: the long edge the JPEG's reduced decode must still cover (default ``max_size``).
    """
    with open_raw(path) as raw:
        flip = raw.sizes.flip
        try:
            thumb = raw.extract_thumb()
        except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError, rawpy.LibRawIOError,
                rawpy.LibRawDataError):
            thumb = None
        if thumb is not None and thumb.format == rawpy.ThumbFormat.JPEG:
            try:
                im = Image.open(io.BytesIO(thumb.data))
                check_dimensions(*im.size, path)
                if draft or max_size:
                    im.draft("RGB", fit_box(im.size, draft or max_size))
                exif_o = _orientation(im)
                im = _upright(im) if exif_o != 1 else im
                arr = np.asarray(im.convert("RGB"))
                # The JPEG's own EXIF orientation wins; otherwise LibRaw's flip.
                return arr if exif_o != 1 else np.ascontiguousarray(
                    apply_orientation(arr, exif_from_flip(flip)))
            except (OSError, ValueError, Image.DecompressionBombError):
                pass  # broken embedded JPEG: decode the RAW instead
        elif thumb is not None and thumb.format == rawpy.ThumbFormat.BITMAP:
            arr = np.asarray(thumb.data)
            if arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8:
                return np.ascontiguousarray(apply_orientation(arr, exif_from_flip(flip)))
        # no usable preview: a half-size decode through the render's own pipeline (LibRaw's defaults
        # auto-brighten, so a dark shot's thumbnail was bright until its render replaced it)
        if not safe:
            return _decoded_preview(lambda: _postprocess(raw, path, half=True), path)
    from .safe import load_in_child

    return _decoded_preview(lambda: load_in_child(Path(path), half=True).linear, path)


def _decoded_preview(decode: Callable[[], np.ndarray], path: str | Path) -> np.ndarray:
    """``decode()``'s half-size linear photo as a preview, rounded as the writer rounds."""
    try:
        lin = decode()
    except ImageError as e:
        raise ImageError(f"no preview, and {str(e).split(': ', 1)[-1]}", path) from e
    return to_bits(srgb_encode(lin), 8)


def _metadata(raw: rawpy.RawPy, path: Path) -> Metadata:
    """Metadata from an open RawPy: the file's TIFF/EXIF tags first (cheap, local time), then
    LibRaw's ``other`` (rawpy unpacks the image to read it, so only when tags are missing)."""
    s = raw.sizes
    orientation = exif_from_flip(s.flip)
    box = _inset_crop(raw)
    if box is not None:
        w, h = box[2], box[3]
    else:
        w, h = (s.height, s.width) if swaps_axes(orientation) else (s.width, s.height)
    meta = Metadata(path=path, width=int(w), height=int(h), orientation=orientation, is_raw=True)
    ifd0, exif = tiff_tags(path)
    fill_from_tags(meta, ifd0, exif)
    if meta.iso is None or meta.exposure_time is None or meta.captured is None:
        try:
            other = raw.other
        except rawpy.LibRawError as e:
            raise ImageError("the RAW file is truncated or corrupt", path) from e
        meta.iso = meta.iso or float(other.iso_speed) or None
        meta.exposure_time = meta.exposure_time or float(other.shutter_speed) or None
        meta.f_number = meta.f_number or float(other.aperture) or None
        meta.focal_length = meta.focal_length or float(other.focal_length) or None
        ts = other.timestamp
        if meta.captured is None and ts is not None and ts.year > 1970:
            meta.captured = ts.replace(tzinfo=None)
    if meta.make is None:
        _fill_from_thumb_exif(raw, meta)
    meta.camera = camera_name(meta.make, meta.model)
    meta.exif = exif_from_fields(meta)
    return meta


def _fill_from_thumb_exif(raw: rawpy.RawPy, meta: Metadata) -> None:
    """Non-TIFF RAWs (CR3, RAF...): camera make/model from the embedded JPEG's EXIF, if it has one."""
    with contextlib.suppress(Exception):
        thumb = raw.extract_thumb()
        if thumb.format == rawpy.ThumbFormat.JPEG:
            with Image.open(io.BytesIO(thumb.data)) as im:
                ex = im.getexif()
                fill_from_tags(meta, dict(ex), dict(ex.get_ifd(EXIF_IFD)))


def read_raw_metadata(path: str | Path) -> Metadata:
    path = Path(path)
    with open_raw(path) as raw:
        return _metadata(raw, path)


def load_raw(path: str | Path, *, half: bool = False) -> tuple[np.ndarray, Metadata]:
    """(linear float32 image, metadata) with a single open of the file."""
    path = Path(path)
    with open_raw(path) as raw:
        meta = _metadata(raw, path)
        linear = _postprocess(raw, path, half)
    return linear, meta
