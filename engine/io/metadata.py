"""Photo metadata: the fields the app shows, and the EXIF block that outputs carry over."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import piexif

from .files import open_regular

# Tag numbers (TIFF/EXIF).
MAKE, MODEL, ORIENTATION, DATETIME = 271, 272, 274, 306
EXPOSURE_TIME, F_NUMBER, ISO, DATETIME_ORIGINAL, FOCAL_LENGTH = 33434, 33437, 34855, 36867, 37386
EXIF_IFD = 34665

# IFD0 tags worth carrying into an output file; the rest describe the source's pixel layout.
_KEEP_0TH = {
    piexif.ImageIFD.Make, piexif.ImageIFD.Model, piexif.ImageIFD.DateTime, piexif.ImageIFD.Artist,
    piexif.ImageIFD.Copyright, piexif.ImageIFD.ImageDescription, piexif.ImageIFD.XResolution,
    piexif.ImageIFD.YResolution, piexif.ImageIFD.ResolutionUnit,
}
# MakerNotes hold absolute offsets that break when moved; pixel dimensions would be stale.
# The camera's ImageUniqueID names the camera's image, not an output: an output gets its own (made_from).
_DROP_EXIF = {piexif.ExifIFD.MakerNote, piexif.ExifIFD.PixelXDimension, piexif.ExifIFD.PixelYDimension,
              piexif.ExifIFD.InteroperabilityTag, piexif.ExifIFD.ImageUniqueID}


@dataclass
class Metadata:
    path: Path
    camera: str | None = None
    make: str | None = None
    model: str | None = None
    width: int = 0  # upright size (orientation applied)
    height: int = 0
    orientation: int = 1  # EXIF orientation of the file; pixels from engine.io are already upright
    captured: datetime | None = None
    iso: float | None = None
    exposure_time: float | None = None  # seconds
    f_number: float | None = None
    focal_length: float | None = None  # mm
    is_raw: bool = False
    exif: bytes | None = field(default=None, repr=False)  # EXIF block to carry into outputs


def _text(v: Any) -> str | None:
    if isinstance(v, bytes):
        v = v.split(b"\0", 1)[0].decode("utf-8", "replace")
    if v is None:
        return None
    s = str(v).strip().strip("\0").strip()
    return s or None


def number(v: Any) -> float | None:
    """EXIF numbers come as ints, floats, Pillow IFDRationals or (num, den) tuples."""
    with contextlib.suppress(TypeError, ValueError, ZeroDivisionError):
        if isinstance(v, tuple | list):
            if len(v) == 2 and all(isinstance(x, int) for x in v):
                return v[0] / v[1] if v[1] else None
            return number(v[0]) if v else None
        f = float(v)
        return f if f == f else None  # NaN (0/0 rational) -> None
    return None


def _positive(v: Any) -> float | None:
    x = number(v)
    return x if x is not None and 0 < x < 1e9 else None


def parse_date(v: Any) -> datetime | None:
    s = _text(v)
    if not s:
        return None
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d"):
        with contextlib.suppress(ValueError):
            return datetime.strptime(s[:19], fmt)
    return None


def camera_name(make: str | None, model: str | None) -> str | None:
    if make and model and model.lower().startswith(make.split()[0].lower()):
        return model  # "Canon" + "Canon EOS 70D" -> "Canon EOS 70D"
    return " ".join(x for x in (make, model) if x) or None


def fill_from_tags(meta: Metadata, ifd0: Mapping[int, Any], exif: Mapping[int, Any]) -> Metadata:
    """Fill empty fields of ``meta`` from IFD0 and Exif-IFD tag dicts (tag number -> value)."""
    def get(tag: int) -> Any:
        v = exif.get(tag)
        return ifd0.get(tag) if v is None else v

    meta.make = meta.make or _text(ifd0.get(MAKE))
    meta.model = meta.model or _text(ifd0.get(MODEL))
    meta.camera = camera_name(meta.make, meta.model)
    meta.captured = meta.captured or parse_date(get(DATETIME_ORIGINAL)) or parse_date(ifd0.get(DATETIME))
    meta.iso = meta.iso or _positive(get(ISO))
    meta.exposure_time = meta.exposure_time or _positive(get(EXPOSURE_TIME))
    meta.f_number = meta.f_number or _positive(get(F_NUMBER))  # 0 = manual lens, unknown
    meta.focal_length = meta.focal_length or _positive(get(FOCAL_LENGTH))
    return meta


def tiff_pages(tf: Any) -> Iterator[Any]:
    """Every IFD of an open ``tifffile.TiffFile`` and its SubIFDs (where a DNG keeps its raw data);
    tifffile gives None, not an empty list, for an IFD without them."""
    for ifd in tf.pages:
        yield ifd
        yield from getattr(ifd, "pages", None) or ()


#: NewSubfileType bits of a page that is not the photo: a reduced-resolution copy (1), a mask (4)
NOT_THE_PHOTO = 1 | 4
#: pages looked through for the photo after a preview written first (a stack of thousands is not read)
MAX_PAGES = 16


def main_page(tf: Any) -> Any:
    """A TIFF's photo: its first page, or where that is a reduced-resolution copy (NewSubfileType
    bit 0: a preview written first) the first full-resolution page after it that is no mask. The
    preview had opened as the photo (40 x 25 px for 320 x 200, a QA's), and exported so."""
    first = tf.pages.first
    if not int(first.subfiletype) & 1:
        return first
    for i in range(1, MAX_PAGES):
        try:
            page = tf.pages[i]
        except IndexError:
            break
        if not int(page.subfiletype) & NOT_THE_PHOTO:
            return page
    return first


def tiff_tags(path: Path, *, photo: bool = False) -> tuple[dict[int, Any], dict[int, Any]]:
    """IFD0 and Exif-IFD tags (number -> value) of a TIFF-based file (TIFF, DNG, NEF, CR2, ARW,
    PEF...); two empty dicts for anything tifffile cannot parse (CR3, RAF, ORF, RW2...). ``photo``
    (a raster TIFF): the tags of its :func:`main_page` over IFD0's (a RAW's IFD0 is its own)."""
    import tifffile

    try:
        with open_regular(path) as f, tifffile.TiffFile(f) as tf:
            page = tf.pages.first
            ifd0 = {t.code: t.value for t in page.tags.values() if t.code != EXIF_IFD}
            if photo and (main := main_page(tf)) is not page:  # its size and orientation, not the preview's
                ifd0 = {k: v for k, v in ifd0.items() if k not in (256, 257, ORIENTATION)}
                ifd0.update({t.code: t.value for t in main.tags.values() if t.code != EXIF_IFD})
                page = main if main.tags.get(EXIF_IFD) is not None else page
            exif_tag = page.tags.get(EXIF_IFD)
            exif: dict[int, Any] = {}
            if exif_tag is not None and isinstance(exif_tag.value, dict):
                for k, v in exif_tag.value.items():  # tifffile keys the Exif IFD by tag name
                    code = k if isinstance(k, int) else tifffile.TIFF.TAGS.get(k)
                    if isinstance(code, int):
                        exif[code] = v
            return ifd0, exif
    except Exception:  # tifffile raises many kinds on non-TIFF input
        return {}, {}


def _rational(x: float, limit: int = 1_000_000) -> tuple[int, int]:
    f = Fraction(x).limit_denominator(limit)
    return f.numerator, f.denominator


#: What every output's EXIF Software tag starts with: how a later export tells its own earlier
#: output (which it may replace) from a photo that merely shares the name (which it never does).
SOFTWARE = "Retouch"


def exif_from_fields(meta: Metadata | None, software: str | None = None, ppi: int | None = None,
                     made_from: str | None = None) -> bytes | None:
    """Build an EXIF block from the fields (for RAW files, whose EXIF is not a JPEG-ready block);
    None when there are none and no ``software`` to name. ``ppi``: the resolution to state;
    ``made_from``: the ImageUniqueID to write (:func:`exif_for_output`)."""
    zeroth: dict[int, Any] = {piexif.ImageIFD.Software: software.encode()} if software else {}
    zeroth.update(_resolution(ppi))
    ex: dict[int, Any] = {piexif.ExifIFD.ImageUniqueID: made_from.encode()} if made_from else {}
    m = meta or Metadata(path=Path())
    if m.make:
        zeroth[piexif.ImageIFD.Make] = m.make.encode()
    if m.model:
        zeroth[piexif.ImageIFD.Model] = m.model.encode()
    if m.captured:
        ex[piexif.ExifIFD.DateTimeOriginal] = m.captured.strftime("%Y:%m:%d %H:%M:%S").encode()
    if m.iso:
        ex[piexif.ExifIFD.ISOSpeedRatings] = min(65535, round(m.iso))
    if m.exposure_time:
        ex[piexif.ExifIFD.ExposureTime] = _rational(m.exposure_time)
    if m.f_number:
        ex[piexif.ExifIFD.FNumber] = _rational(m.f_number, 1000)
    if m.focal_length:
        ex[piexif.ExifIFD.FocalLength] = _rational(m.focal_length, 1000)
    if not zeroth and not ex:
        return None
    zeroth[piexif.ImageIFD.Orientation] = 1
    return piexif.dump({"0th": zeroth, "Exif": ex, "GPS": {}, "1st": {}, "thumbnail": None})


def _resolution(ppi: int | None) -> dict[int, Any]:
    """IFD0's resolution tags for ``ppi`` pixels per inch (none for None)."""
    if ppi is None:
        return {}
    return {piexif.ImageIFD.XResolution: (ppi, 1), piexif.ImageIFD.YResolution: (ppi, 1),
            piexif.ImageIFD.ResolutionUnit: 2}


def describes_pixels(description: Any) -> bool:
    """Whether a TIFF's ImageDescription is a program's note of its pixels' layout (tifffile's
    ``{"shape": [...]}``, ImageJ's ``ImageJ=...``), not a caption: carried into an output, it
    described the source's shape there, and tifffile warned that it did not match (QA)."""
    text = description.decode("latin-1") if isinstance(description, bytes) else str(description or "")
    return text.lstrip().startswith(('{"shape"', "ImageJ="))


def exif_for_output(meta: Metadata | None, software: str = SOFTWARE, ppi: int | None = None,
                    made_from: str | None = None) -> bytes | None:
    """The EXIF block to write into an output: source EXIF, Orientation reset to 1, no thumbnail,
    Software ``Retouch`` (also without a source: see :data:`SOFTWARE`), and as its ImageUniqueID
    ``made_from``, the fingerprint of what made it (:func:`engine.batch_worker.made_from`).

    Pixels written by engine.io are already upright, so any other orientation would turn them twice.
    Unparseable source EXIF falls back to the fields (never fails the export).
    """
    if meta is None:
        return exif_from_fields(None, software, ppi, made_from)
    d = None
    if meta.exif:
        with contextlib.suppress(Exception):  # piexif raises assorted errors on damaged blocks
            d = piexif.load(meta.exif)
    if d is None:
        return exif_from_fields(meta, software, ppi, made_from)
    zeroth = {k: v for k, v in d.get("0th", {}).items() if k in _KEEP_0TH}
    if describes_pixels(zeroth.get(piexif.ImageIFD.ImageDescription)):
        del zeroth[piexif.ImageIFD.ImageDescription]
    zeroth.update(_resolution(ppi))  # the export's, not the camera's
    zeroth[piexif.ImageIFD.Orientation] = 1
    zeroth[piexif.ImageIFD.Software] = software.encode()
    ex = {k: v for k, v in d.get("Exif", {}).items() if k not in _DROP_EXIF}
    if made_from:
        ex[piexif.ExifIFD.ImageUniqueID] = made_from.encode()
    out = {"0th": zeroth, "Exif": ex, "GPS": d.get("GPS", {}), "1st": {}, "thumbnail": None}
    try:
        return piexif.dump(out)
    except Exception:  # a tag piexif cannot re-encode: keep what the fields say
        return exif_from_fields(meta, software, ppi, made_from)


def _output_tags(path: str | Path) -> tuple[str, str] | None:
    """The Software and ImageUniqueID tags of the image file at ``path`` (text, "" where absent), or
    None where it cannot be read."""
    from PIL import Image

    try:
        with open_regular(path) as f, Image.open(f) as im:
            if im.format == "PNG":  # its EXIF as read with the header: getexif() decodes a whole PNG
                exif = Image.Exif()    # to look for one after the pixels (225 ms at 24 MP)
                if im.info.get("exif"):
                    exif.load(im.info["exif"])
            else:
                exif = im.getexif()
            software = exif.get(piexif.ImageIFD.Software, "")
            ident = ""
            with contextlib.suppress(Exception):  # a damaged Exif IFD: still ours by its Software tag
                ident = exif.get_ifd(piexif.ImageIFD.ExifTag).get(piexif.ExifIFD.ImageUniqueID, "")
    except Exception:  # any damaged or foreign file
        return None
    text = [v.decode("latin-1") if isinstance(v, bytes) else v for v in (software, ident)]
    return tuple(v.strip("\0 ") if isinstance(v, str) else "" for v in text)  # type: ignore[return-value]


def written_by_retouch(path: str | Path) -> bool:
    """Whether the image file at ``path`` is an output of Retouch (its Software tag). Anything
    unreadable says no: it is then treated as a photo of the user's, never to be replaced."""
    return _ours(_output_tags(path))


def _ours(tags: tuple[str, str] | None) -> bool:
    # "Retouch", or "Retouch 1.2" as a later version may write; not "Retouch4me" or "RetouchPilot"
    return tags is not None and tags[0].split(" ")[0] == SOFTWARE


def output_mark(path: str | Path) -> str | None:
    """The ImageUniqueID of the Retouch output at ``path`` ("" where written without one), or None
    where it is not one of Retouch's outputs (or cannot be read): one read of the file's header."""
    tags = _output_tags(path)
    return tags[1] if tags is not None and _ours(tags) else None


def made_from_tag(path: str | Path) -> str | None:
    """What made the Retouch output at ``path``, as :func:`exif_for_output` wrote it (its
    ImageUniqueID), or None: not an output of Retouch's, unreadable, or written without one."""
    return output_mark(path) or None


def capture_time(path: str | Path) -> datetime | None:
    """When the photo was taken, from its own tags alone: a JPEG's or PNG's EXIF (Pillow reads the
    header, not the pixels), a TIFF-based file's tags (TIFF, DNG, NEF, CR2, ARW, PEF...). Pure
    Python parsers and no decode, so the app may read a folder's dates itself. None for formats
    only LibRaw parses (CR3, RAF...), and for a photo without a date, or anything but a regular
    file (a FIFO named IMG_1.ARW blocked its reader for good: both reads open through
    :func:`open_regular`)."""
    path = Path(path)
    if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
        from PIL import Image

        try:
            with open_regular(path) as f, Image.open(f) as im:
                if im.format == "PNG":  # its header's eXIf chunk alone: getexif() decoded a whole PNG
                    exif = Image.Exif()  # to look for one after its pixels (0.2 s at 24 MP)
                    if im.info.get("exif"):
                        exif.load(im.info["exif"])
                else:
                    exif = im.getexif()
                return parse_date(exif.get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL)) or parse_date(exif.get(DATETIME))
        except Exception:  # unreadable or damaged EXIF: no date (the file's own error shows when opened)
            return None
    ifd0, exif = tiff_tags(path)
    return parse_date(exif.get(DATETIME_ORIGINAL)) or parse_date(ifd0.get(DATETIME_ORIGINAL)) or \
        parse_date(ifd0.get(DATETIME))
