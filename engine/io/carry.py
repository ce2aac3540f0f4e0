"""The source photo's metadata carried into an export, through exiv2 (pyexiv2).

exiv2 reads EXIF, XMP and IPTC from the RAW formats LibRaw opens and from JPEG, PNG and TIFF, and
writes them into JPEG, PNG and TIFF alike, the EXIF in its proper sub-IFDs (tifffile cannot write
those). Left behind is what describes the source's pixels or edits: sizes and layout, a DNG's
colour data, the maker note (absolute offsets into the source), thumbnails, and a raw converter's
develop settings in XMP (Lightroom's ``crs``, darktable's history), which another program would
apply a second time. Orientation becomes 1 (the pixels are upright), ColorSpace sRGB, Software
"Retouch".

pyexiv2 is not thread-safe (global state in its C++ layer), so every call holds one lock. It parses
untrusted files in C++: the app's exports run it in their worker processes, never in the app's own.
Without pyexiv2 (no wheel for the platform), or where exiv2 cannot read a source, the output keeps
the block the encoder wrote (:func:`engine.io.metadata.exif_for_output`): a JPEG or PNG source's EXIF
and GPS, a RAW or TIFF source's camera and exposure fields; no XMP or IPTC.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import threading
from pathlib import Path
from typing import Any

from .metadata import describes_pixels

log = logging.getLogger(__name__)

_LOCK = threading.Lock()

# IFD0 tags that describe the photo, not the file's pixel layout.
# (not the resolution: the output's own, which its encoder wrote, as write_image's ppi asks)
_IMAGE_KEEP = {"Make", "Model", "DateTime", "Artist", "Copyright", "ImageDescription", "Rating", "RatingPercent"}
# TIFF/EP files (many RAWs, DNGs among them) may keep shooting values in IFD0; an output keeps them
# in the Exif IFD, where readers look.
_TO_PHOTO = ("ExposureTime", "FNumber", "ExposureProgram", "ISOSpeedRatings", "DateTimeOriginal",
             "ExposureBiasValue", "MaxApertureValue", "MeteringMode", "LightSource", "Flash",
             "FocalLength", "SubjectDistance")
_PHOTO_DROP = {"MakerNote", "PixelXDimension", "PixelYDimension", "InteroperabilityTag", "ColorSpace",
               "ComponentsConfiguration", "CompressedBitsPerPixel", "ImageUniqueID"}  # the camera's image's
_XMP_DROP_PREFIX = ("Xmp.crs.", "Xmp.crss.", "Xmp.darktable.", "Xmp.tiff.", "Xmp.exif.PixelXDimension",
                    "Xmp.exif.PixelYDimension", "Xmp.exif.ColorSpace", "Xmp.photoshop.ICCProfile")
_XMP_TIFF_KEEP = {"Xmp.tiff.Make", "Xmp.tiff.Model", "Xmp.tiff.Artist", "Xmp.tiff.Copyright",
                  "Xmp.tiff.ImageDescription", "Xmp.tiff.DateTime"}
# Byte-exact round trip of EXIF and IPTC text whatever its encoding (EXIF ASCII is often not UTF-8).
_ENC = "latin-1"


_registered = False
#: A larger XMP packet is not carried: exiv2's parse time grows with the square of its size (124 s
#: for 2.2 MB of 80 000 properties, a whole batch photo lost to the watchdog).
MAX_XMP = 256 * 1024


def _exiv2() -> Any:
    global _registered
    try:
        import pyexiv2
    except ImportError:
        return None
    pyexiv2.set_log_level(4)  # exiv2's warnings about odd files would go to stderr: mute
    if not _registered:
        # exiv2 knows no prefix for darktable's namespace and keeps the first one a packet uses for
        # the whole process; registered here, its history is recognised (and dropped) in every photo
        with contextlib.suppress(Exception):
            pyexiv2.registerNs("http://darktable.sf.net/", "darktable")
        _registered = True
    return pyexiv2


def _source(pyexiv2: Any, source: Path | None) -> tuple[dict, str, dict]:
    """(EXIF, raw XMP packet, IPTC) of ``source``; empty where exiv2 cannot read it.

    A name that is not UTF-8 (pyexiv2 encodes paths so: its metadata was silently lost) or an
    oversized XMP packet (:data:`MAX_XMP`) is read from a copy of the bytes (:func:`_open`)."""
    if source is None or not source.is_file():
        return {}, "", {}
    try:
        img = _open(pyexiv2, source)
    except Exception:  # a format exiv2 does not know, a damaged file: the fields will do
        return {}, "", {}
    exif: dict = {}
    xmp, iptc = "", {}
    try:
        try:
            exif = img.read_exif(encoding=_ENC)
        except Exception:  # a malformed XP* (UCS-2) tag lost the whole EXIF: read it undecoded
            with contextlib.suppress(Exception):
                exif = pyexiv2.core._parse_key(img._exiv2api_image.read_exif(), _ENC)
        with contextlib.suppress(Exception):
            xmp = img.read_raw_xmp() or ""
        with contextlib.suppress(Exception):
            iptc = img.read_iptc(encoding=_ENC)
    finally:
        img.close()
    return exif, xmp, iptc


def _open(pyexiv2: Any, source: Path) -> Any:
    """exiv2's view of ``source``: by its path (exiv2 maps the file), or from a copy of its bytes
    where the path is not UTF-8 or the XMP packet must be made unreadable first."""
    with open(source, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        at = m.find(b"<x:xmpmeta")
        end = m.find(b"</x:xmpmeta>", at) if at >= 0 else -1
        too_big = at >= 0 and (end < 0 or end - at > MAX_XMP)
        try:
            name = os.fsencode(source).decode("utf-8")
        except UnicodeDecodeError:
            name = None
        if name is not None and not too_big:
            return pyexiv2.Image(name)
        raw = bytearray(m)
    if too_big:
        raw[at:at + 10] = b"<x:xmpskip"
    return pyexiv2.ImageData(bytes(raw))


def _exif_for_output(src: dict, out: dict, software: str, made_from: str | None = None) -> dict:
    """The EXIF changes to make in the output (value None deletes), from the source's tags ``src``
    and what the encoder already wrote (``out``); ``made_from``: the output's ImageUniqueID."""
    new: dict[str, Any] = {}
    for key, value in src.items():
        group, _, name = key.rpartition(".")
        if group == "Exif.Image" and name in _IMAGE_KEEP:
            if not (name == "ImageDescription" and describes_pixels(value)):
                new[key] = value
        elif group == "Exif.Photo" and name not in _PHOTO_DROP:
            new[key] = value
        elif group == "Exif.GPSInfo":
            new[key] = value
    for name in _TO_PHOTO:
        ifd0 = f"Exif.Image.{name}"
        value = src.get(ifd0, out.get(ifd0))
        if value is not None:
            new.setdefault(f"Exif.Photo.{name}", value)
        if ifd0 in out:
            new[ifd0] = None
    new["Exif.Image.Orientation"] = "1"
    new["Exif.Image.Software"] = software
    new["Exif.Photo.ColorSpace"] = "1"  # sRGB: the pixels are, whatever the source was
    if made_from:
        new["Exif.Photo.ImageUniqueID"] = made_from
    return new


def _modify_exif(pyexiv2: Any, data: bytes, out: Any, changes: dict) -> Any:
    """Apply the EXIF ``changes`` to ``out`` at once; where exiv2 refuses (a value, or a block too
    large for a JPEG segment), one by one on a fresh copy, each refused tag taken out again: the
    refused ones stayed in exiv2's memory and every later write failed, XMP and IPTC included.
    Returns the image to go on with."""
    try:
        out.modify_exif(changes, encoding=_ENC)
        return out
    except Exception:
        out.close()
    out = pyexiv2.ImageData(data)
    for key, value in changes.items():
        try:
            out.modify_exif({key: value}, encoding=_ENC)
        except Exception:
            with contextlib.suppress(Exception):
                out.modify_exif({key: None}, encoding=_ENC)
    return out


def _modify(set_all: Any, changes: dict) -> None:
    """Apply ``changes`` at once, or one by one where one value is refused."""
    try:
        set_all(changes)
    except Exception:
        for key, value in changes.items():
            with contextlib.suppress(Exception):
                set_all({key: value})


def carry(data: bytes, source: str | Path | None, software: str, made_from: str | None = None) -> bytes:
    """``data`` (an encoded JPEG, PNG or TIFF) with the metadata of ``source`` carried over; the
    resolution stays the one the encoder wrote (the camera's described its sensor, not the print).
    ``made_from``: the output's ImageUniqueID (:func:`engine.io.metadata.exif_for_output`).

    Returns ``data`` unchanged where pyexiv2 is missing or exiv2 cannot rewrite the output.
    """
    pyexiv2 = _exiv2()
    if pyexiv2 is None:
        return data
    with _LOCK:
        src_exif, src_xmp, src_iptc = _source(pyexiv2, Path(source) if source else None)
        try:
            out = pyexiv2.ImageData(data)
        except Exception as e:  # exiv2 raises plain Exception (RuntimeError) for any file it refuses
            log.warning("metadata not carried (exiv2 cannot read the output: %s)", e)
            return data
        try:
            written = out.read_exif(encoding=_ENC)
            out = _modify_exif(pyexiv2, data, out, _exif_for_output(src_exif, written, software, made_from))
            if src_xmp:
                with contextlib.suppress(Exception):
                    out.modify_raw_xmp(src_xmp)
                    xmp = out.read_xmp()
                    # tiff:Orientation goes too: the EXIF's 1 is the truth now
                    drop = {k: None for k in xmp if k.startswith(_XMP_DROP_PREFIX) and k not in _XMP_TIFF_KEEP}
                    if drop:
                        _modify(out.modify_xmp, drop)
            if src_iptc:
                _modify(lambda d: out.modify_iptc(d, encoding=_ENC), src_iptc)
            return out.get_bytes()
        except Exception as e:  # exiv2 refused to rewrite this output: keep the encoder's metadata
            log.warning("metadata not carried from %s (exiv2: %s)", source, e)
            return data
        finally:
            out.close()
