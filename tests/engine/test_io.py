"""engine.io: decoding to the working space, previews, metadata, writes, and hostile files."""

from __future__ import annotations

import io
import os
import shutil
import time
from datetime import datetime
from pathlib import Path

import imagecodecs
import numpy as np
import piexif
import pytest
import tifffile
from PIL import Image, ImageCms, ImageOps

from engine.color import srgb_decode, srgb_encode
from engine.formats import FORMATS
from engine.io import (
    SUPPORTED_EXTENSIONS,
    ImageError,
    is_supported,
    load_photo,
    load_preview,
    read_metadata,
    write_image,
)
from engine.io.dng import write_dng
from engine.io.image import srgb_icc

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "samples" / "sample.dng"


def psnr8(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse)) if mse else float("inf")


def psnr_lin(a: np.ndarray, b: np.ndarray) -> float:
    d = srgb_encode(a).astype(np.float64) - srgb_encode(b).astype(np.float64)
    return float(10 * np.log10(1.0 / np.mean(d**2)))


def test_supported_extensions() -> None:
    for ext in (".nef", ".cr2", ".cr3", ".arw", ".raf", ".dng", ".orf", ".rw2", ".jpg", ".jpeg", ".png", ".tif"):
        assert ext in SUPPORTED_EXTENSIONS
    assert is_supported("a/B.NEF") and is_supported("x.TIFF")
    assert not is_supported("notes.txt") and not is_supported("noext")


# --- RAW -----------------------------------------------------------------------------------------

def test_raw_preview_is_the_embedded_jpeg(dng_file: Path, photo_srgb8: np.ndarray) -> None:
    # its speed is measured side by side with rawpy's in bench/raw_open.py, not timed here
    prev = load_preview(dng_file)
    assert prev.dtype == np.uint8 and prev.shape == photo_srgb8.shape
    assert psnr8(prev, photo_srgb8) > 30  # it is the source photo, JPEG-compressed (measured 37 dB)


@pytest.mark.skipif(not SAMPLE.exists(), reason="sample not built")
def test_sample_preview_is_the_embedded_jpeg_at_the_size_asked() -> None:
    prev = load_preview(SAMPLE, max_size=512)
    assert max(prev.shape[:2]) == 512 and prev.shape[2] == 3
    # the same scene as the RAW data (the preview shows the photo, not some other picture)
    raw = (np.clip(srgb_encode(load_photo(SAMPLE, half=True).linear), 0, 1) * 255).astype(np.uint8)
    ref = np.asarray(Image.fromarray(raw).resize(prev.shape[1::-1], Image.Resampling.BOX), np.float64)
    assert np.corrcoef(prev.reshape(-1), ref.reshape(-1))[0, 1] > 0.95  # measured 0.998; shifted by half: 0.83


def test_raw_preview_falls_back_to_the_thumbnail(dng_no_preview: Path) -> None:
    prev = load_preview(dng_no_preview)
    assert prev.shape == (160, 256, 3)


def test_raw_preview_and_decode_are_upright(dng_rotated: Path, photo_srgb8: np.ndarray,
                                            photo_linear: np.ndarray) -> None:
    prev = load_preview(dng_rotated)
    assert prev.shape == photo_srgb8.shape
    assert psnr8(prev, photo_srgb8) > 30
    # Control: the stored (unrotated) orientation would not match at all.
    assert psnr8(np.rot90(prev, 1)[: 400, : 400], photo_srgb8[:400, :400]) < 20
    photo = load_photo(dng_rotated)
    assert photo.linear.shape == photo_linear.shape
    assert psnr_lin(photo.linear, photo_linear) > 29.0
    assert photo.meta.orientation == 6 and (photo.meta.width, photo.meta.height) == (640, 400)


def test_raw_half_and_full(dng_file: Path, photo_linear: np.ndarray) -> None:
    full = load_photo(dng_file)
    half = load_photo(dng_file, half=True)
    assert full.linear.shape == (400, 640, 3) and full.linear.dtype == np.float32
    assert half.linear.shape == (200, 320, 3) and half.linear.dtype == np.float32
    from engine.render import resize_linear

    assert psnr_lin(half.linear, resize_linear(photo_linear, 320, 200)) > 28.0  # measured 29.4 dB
    assert half.linear.mean() == pytest.approx(full.linear.mean(), rel=0.01)
    assert full.meta.is_raw and full.meta == half.meta


def test_raw_metadata(dng_file: Path) -> None:
    m = read_metadata(dng_file)
    assert (m.make, m.model, m.camera) == ("Retouch", "Synthetic DNG", "Retouch Synthetic DNG")
    assert (m.width, m.height, m.orientation, m.is_raw) == (640, 400, 1, True)
    assert m.iso == 400 and m.exposure_time == pytest.approx(1 / 125) and m.f_number == pytest.approx(5.6)
    assert m.focal_length == pytest.approx(35.0)
    assert m.captured == datetime(2024, 5, 17, 18, 30)
    ex = piexif.load(m.exif)
    assert ex["0th"][piexif.ImageIFD.Make] == b"Retouch"
    assert ex["Exif"][piexif.ExifIFD.ISOSpeedRatings] == 400


def test_truncated_dng_and_garbage_nef(dng_file: Path, tmp_path: Path) -> None:
    data = dng_file.read_bytes()
    cut = tmp_path / "cut.dng"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"cut.dng: .*truncated"):
        load_photo(cut)
    stub = tmp_path / "stub.dng"
    stub.write_bytes(data[:200])
    for fn in (load_photo, load_preview, read_metadata):
        with pytest.raises(ImageError, match=r"stub.dng"):
            fn(stub)
    nef = tmp_path / "holiday.NEF"
    nef.write_bytes(b"This is a text file, not a Nikon RAW.\n" * 50)
    for fn in (load_photo, load_preview, read_metadata):
        with pytest.raises(ImageError, match=r"holiday.NEF: not a RAW file"):
            fn(nef)
    with pytest.raises(ImageError, match=r"file not found"):
        load_photo(tmp_path / "missing.cr2")
    with pytest.raises(ImageError, match=r"unsupported"):
        load_photo(tmp_path / "notes.txt")


def test_lossless_jpeg_dng_and_its_damaged_twin(photo_srgb8: np.ndarray, tmp_path: Path) -> None:
    """Most DNGs store their CFA as lossless JPEG. A good one decodes as its uncompressed twin; one
    whose strip is not JPEG (LibRaw reads it without an error, as a near-black frame that differs
    from one decode to the next) is refused with a clear error, at full and half size."""
    plain = write_dng(tmp_path / "plain.dng", photo_srgb8[:200, :300])
    packed = write_dng(tmp_path / "packed.dng", photo_srgb8[:200, :300], ljpeg=True)
    with tifffile.TiffFile(packed) as tif:
        assert tif.pages[0].pages[0].compression == 7
        offset = tif.pages[0].pages[0].tags["Compression"].valueoffset
    np.testing.assert_array_equal(load_photo(packed).linear, load_photo(plain).linear)
    bogus = tmp_path / "bogus.dng"  # the plain DNG's samples, labelled lossless JPEG
    data = bytearray(plain.read_bytes())
    data[offset:offset + 2] = (7).to_bytes(2, "little")
    bogus.write_bytes(bytes(data))
    for half in (False, True):
        with pytest.raises(ImageError, match=r"bogus.dng: the RAW data is corrupt: .*not JPEG"):
            load_photo(bogus, half=half)
        with pytest.raises(ImageError, match=r"bogus.dng: the RAW data is corrupt"):
            load_photo(bogus, half=half, safe=True)
    # the same with the CFA in IFD0, a DNG without SubIFDs
    alone = write_dng(tmp_path / "alone.dng", photo_srgb8[:200, :300], preview=False, thumbnail=False)
    with tifffile.TiffFile(alone) as tif:
        offset = tif.pages[0].tags["Compression"].valueoffset
    data = bytearray(alone.read_bytes())
    data[offset:offset + 2] = (7).to_bytes(2, "little")
    alone.write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"alone.dng: the RAW data is corrupt: .*not JPEG"):
        load_photo(alone)


def test_flat_raw_frame_is_refused(tmp_path: Path) -> None:
    """A frame with every pixel the same, which no sensor gives (its noise alone varies), is what
    LibRaw returns for some data it cannot read: refused rather than opened as a black photo."""
    flat = write_dng(tmp_path / "flat.dng", np.zeros((64, 96, 3), np.float32), noise=False)
    with pytest.raises(ImageError, match=r"flat.dng: the RAW data is corrupt: .*blank"):
        load_photo(flat)
    dark = write_dng(tmp_path / "dark.dng", np.full((64, 96, 3), 1e-3, np.float32))  # lens cap on
    assert load_photo(dark).linear.max() > 0


# --- JPEG / PNG / TIFF ---------------------------------------------------------------------------

def test_png_and_tiff16_are_linearised_exactly(png_file: Path, tiff16_file: Path, photo_srgb8: np.ndarray) -> None:
    expected = srgb_decode(photo_srgb8.astype(np.float64) / 255.0)
    for path in (png_file, tiff16_file):
        lin = load_photo(path).linear
        assert lin.dtype == np.float32 and lin.shape == photo_srgb8.shape
        np.testing.assert_allclose(lin, expected, atol=2e-6)


def test_tiff16_keeps_16_bits(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    fine = photo_srgb8.astype(np.uint16) * 257 + 100  # values between 8-bit steps
    path = tmp_path / "fine.tif"
    tifffile.imwrite(path, fine, photometric="rgb")
    lin = load_photo(path).linear
    np.testing.assert_allclose(lin, srgb_decode(fine / 65535.0), atol=2e-6)
    png = tmp_path / "fine.png"
    import imagecodecs

    png.write_bytes(imagecodecs.png_encode(fine))
    np.testing.assert_allclose(load_photo(png).linear, srgb_decode(fine / 65535.0), atol=2e-6)


def test_png16_export_keeps_16_bits_and_reads_back_exactly(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    """Values between two 8-bit levels survive a 16-bit PNG, as they do a 16-bit TIFF."""
    fine = (photo_srgb8.astype(np.float32) * 257 + 100) / 65535  # between 8-bit steps
    path = write_image(tmp_path / "fine.png", fine, fmt="png16")
    assert path.read_bytes()[24] == 16  # IHDR bit depth
    with Image.open(path) as im:
        assert im.info["icc_profile"] == srgb_icc()
    np.testing.assert_allclose(load_photo(path).linear, srgb_decode(np.round(fine * 65535) / 65535), atol=2e-6)
    eight = write_image(tmp_path / "eight.png", fine, fmt="png")
    assert eight.read_bytes()[24] == 8
    assert np.abs(load_photo(eight).linear - load_photo(path).linear).max() > 1e-4


def test_jpeg_decode_and_metadata(photo_jpeg: Path) -> None:
    photo = load_photo(photo_jpeg)
    with Image.open(photo_jpeg) as im:
        ref = srgb_decode(np.asarray(im.convert("RGB")) / 255.0)
    np.testing.assert_allclose(photo.linear, ref, atol=2e-6)
    m = photo.meta
    assert (m.make, m.model, m.camera) == ("Canon", "Canon EOS DIGITAL REBEL", "Canon EOS DIGITAL REBEL")
    assert (m.width, m.height, m.orientation, m.is_raw) == (960, 600, 1, False)
    assert m.iso == 100 and m.exposure_time == pytest.approx(1 / 4000)
    assert m.f_number is None  # the file says 0/1: a manual lens
    assert m.captured == datetime(2007, 8, 6, 10, 29, 13)
    assert m.exif and piexif.load(m.exif)["0th"][piexif.ImageIFD.Make] == b"Canon"


def test_jpeg_exif_orientation(jpeg_rotated: Path, photo_srgb8: np.ndarray, photo_linear: np.ndarray) -> None:
    m = read_metadata(jpeg_rotated)
    assert (m.orientation, m.width, m.height) == (6, 640, 400)
    lin = load_photo(jpeg_rotated).linear
    assert lin.shape == photo_linear.shape
    assert psnr_lin(lin, photo_linear) > 35
    prev = load_preview(jpeg_rotated, max_size=320)
    assert prev.shape == (200, 320, 3)


ADOBE_RGB_D50 = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446))
SRGB_D50 = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))


def _adobe_rgb_icc(name: bytes = b"Adobe RGB test", primaries=ADOBE_RGB_D50, gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 matrix/TRC display profile: Adobe RGB (1998) primaries, gamma 2.2 by default."""
    import struct

    def s15(x: float) -> bytes:
        return struct.pack(">i", round(x * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ " + bytes(4) + s15(x) + s15(y) + s15(z)

    name += b"\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(name)) + name + bytes(4 + 4 + 2 + 1 + 67)
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
            (b"rXYZ", xyz(*primaries[0])), (b"gXYZ", xyz(*primaries[1])),
            (b"bXYZ", xyz(*primaries[2])), (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve),
            (b"cprt", b"text" + bytes(4) + b"none\0" + bytes(3))]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += bytes(-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + bytes(4) + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + bytes(12) + b"acsp"
              + bytes(24) + struct.pack(">I", 0) + s15(0.9642) + s15(1.0) + s15(0.8249) + bytes(48))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def test_icc_tagged_inputs(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    untagged = tmp_path / "untagged.jpg"
    Image.fromarray(photo_srgb8).save(untagged, quality=95)
    base = load_photo(untagged).linear
    # sRGB-tagged: decoded exactly like untagged.
    tagged = tmp_path / "srgb.jpg"
    Image.fromarray(photo_srgb8).save(tagged, quality=95, icc_profile=srgb_icc())
    np.testing.assert_array_equal(load_photo(tagged).linear, base)
    # Adobe RGB-tagged: the same numbers mean more saturated colours, so they must be converted.
    adobe = tmp_path / "adobe.jpg"
    Image.fromarray(photo_srgb8).save(adobe, quality=95, icc_profile=_adobe_rgb_icc())
    conv = load_photo(adobe).linear

    def chroma(x: np.ndarray) -> float:
        return float((x.max(-1) - x.min(-1)).mean())

    assert chroma(conv) > 1.15 * chroma(base)
    assert conv.mean() == pytest.approx(base.mean(), rel=0.1)  # same exposure, wider colours


def test_16_bit_files_tagged_with_another_space_are_converted(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    """16-bit TIFFs and PNGs with an Adobe RGB profile were read as sRGB (65 levels off): they must
    read as the same numbers in 8 bits do, which LittleCMS converts through Pillow."""
    icc = _adobe_rgb_icc()
    eight = tmp_path / "adobe8.png"
    Image.fromarray(photo_srgb8).save(eight, icc_profile=icc)
    ref = srgb_encode(load_photo(eight).linear)
    sixteen = photo_srgb8.astype(np.uint16) * 257
    tif = tmp_path / "adobe16.tif"
    tifffile.imwrite(tif, sixteen, photometric="rgb", iccprofile=icc)
    png = tmp_path / "adobe16.png"
    png.write_bytes(imagecodecs.png_encode(sixteen))
    Image.fromarray(photo_srgb8).save(tmp_path / "tmp8.png", icc_profile=icc)  # for its iCCP chunk
    chunk = (tmp_path / "tmp8.png").read_bytes()
    start = chunk.index(b"iCCP") - 4
    end = start + 12 + int.from_bytes(chunk[start:start + 4], "big")
    data = png.read_bytes()
    png.write_bytes(data[:33] + chunk[start:end] + data[33:])  # after IHDR
    untagged = photo_srgb8 / 255.0
    for path in (tif, png):
        got = srgb_encode(load_photo(path).linear)
        # exact at 16 bits; the 8-bit reference is rounded to 8 bits
        assert np.abs(got - ref).mean() * 255 < 0.4 and np.percentile(np.abs(got - ref), 99) * 255 < 1
        assert np.abs(got - untagged).mean() * 255 > 3  # not read as sRGB


def test_a_png_with_a_large_profile_opens(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    """A LUT profile runs to megabytes; Pillow's 1 MB cap on a PNG chunk refused the whole photo."""
    icc = _adobe_rgb_icc()
    big = bytearray(icc + np.random.default_rng(0).integers(0, 256, 1_500_000, np.uint8).tobytes())
    big[:4] = len(big).to_bytes(4, "big")  # the header's size covers the (private) data appended
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    Image.fromarray(photo_srgb8).save(small, icc_profile=icc)
    Image.fromarray(photo_srgb8).save(large, icc_profile=bytes(big))
    assert large.stat().st_size > 1_500_000
    np.testing.assert_array_equal(load_photo(large).linear, load_photo(small).linear)


def test_a_linear_profile_named_srgb_is_not_taken_for_srgb(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    """GIMP's linear-light sRGB names itself "sRGB": taken for sRGB by its name, it read 73 levels off."""
    path = tmp_path / "linear.png"
    Image.fromarray(photo_srgb8).save(path, icc_profile=_adobe_rgb_icc(b"sRGB linear (g10)", SRGB_D50, 1.0))
    got = load_photo(path).linear  # the stored numbers are linear light already
    assert np.abs(got - photo_srgb8 / 255.0).mean() < 0.005


def test_grey_and_palette_images_are_converted_by_their_profiles(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    """A grey image with a Gray Gamma 1.8 profile was shown as sRGB (17 levels off), and a palette
    PNG's profile was skipped (35 levels off for Adobe RGB)."""
    grey = np.asarray(Image.fromarray(photo_srgb8).convert("L"))
    path = tmp_path / "grey18.png"
    Image.fromarray(grey).save(path, icc_profile=imagecodecs.cms_profile("gray", gamma=1.8))
    got = load_photo(path).linear[..., 1]
    expected = (grey / 255.0) ** 1.8  # the grey profile's own light, the same in every space
    assert np.abs(got - expected).mean() < 0.004  # read as sRGB: ~0.03
    palette = Image.fromarray(photo_srgb8).quantize(64)
    p = tmp_path / "palette.png"
    palette.save(p, icc_profile=_adobe_rgb_icc())
    as_rgb = tmp_path / "rgb.png"
    palette.convert("RGB").save(as_rgb, icc_profile=_adobe_rgb_icc())
    np.testing.assert_allclose(load_photo(p).linear, load_photo(as_rgb).linear, atol=1e-6)


def test_decompression_bomb_is_refused(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    import struct
    import zlib

    buf = io.BytesIO()
    Image.fromarray(photo_srgb8[:8, :8]).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    for w, h, said in ((30000, 30000, "900 MP"), (15000, 14000, "210 MP")):  # Pillow's error, then its warning
        ihdr = struct.pack(">II", w, h) + bytes(data[24:29])  # declare the size, keep the rest
        data[16:29] = ihdr
        data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
        bomb = tmp_path / "bomb.png"
        bomb.write_bytes(bytes(data))
        t = time.perf_counter()
        for fn in (load_photo, load_preview, read_metadata):
            # said in Retouch's words, not Pillow's "could be decompression bomb DOS attack"
            with pytest.raises(ImageError, match=rf"bomb.png: {said} is above the 200 MP limit"):
                fn(bomb)
        assert time.perf_counter() - t < 2.0  # refused from the header, nothing allocated


def test_truncated_and_fake_jpeg(photo_jpeg: Path, tmp_path: Path) -> None:
    data = photo_jpeg.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match=r"cut.jpg: .*truncated"):
        load_photo(cut)
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"<html>not an image</html>")
    with pytest.raises(ImageError) as e:
        load_photo(fake)
    assert str(e.value) == "fake.png: not an image Pillow can read (unrecognised or damaged data)"  # named once
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match=r"^empty.jpg: empty file$"):  # the same words as the batch's
        load_photo(empty)
    with pytest.raises(ImageError, match=r": a folder, not a photo$"):
        load_photo(tmp_path)


# --- writing -------------------------------------------------------------------------------------

def _no_temp_files(folder: Path, expected: set[str]) -> None:
    assert {p.name for p in folder.iterdir()} == expected


def test_write_jpeg_png_carry_exif_and_icc(tmp_copy, photo_jpeg: Path, jpeg_rotated: Path) -> None:
    src = tmp_copy(jpeg_rotated)
    before = (src.read_bytes(), src.stat().st_mtime_ns)
    photo = load_photo(src)
    srgb = srgb_encode(photo.linear)
    out_dir = src.parent
    for name, fmt in (("out.jpg", "jpeg"), ("out.png", "png")):
        path = write_image(out_dir / name, srgb, fmt=fmt, quality=95, meta=photo.meta)
        with Image.open(path) as im:
            assert im.size == (640, 400)  # written upright
            assert im.info["icc_profile"] == srgb_icc()
            desc = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"])))
            assert "sRGB" in desc
            back = np.asarray(im.convert("RGB"))
            exif_block = im.info["exif"]
        ex = piexif.load(str(path) if fmt == "jpeg" else exif_block)
        assert ex["0th"][piexif.ImageIFD.Orientation] == 1
        assert ex["0th"][piexif.ImageIFD.Make] == b"Canon"
        assert ex["Exif"][piexif.ExifIFD.DateTimeOriginal] == b"2007:08:06 10:29:13"
        expected = (srgb * 255 + 0.5).astype(np.uint8)
        assert psnr8(back, expected) > (40 if fmt == "jpeg" else 99)
        m = read_metadata(path)
        assert (m.orientation, m.width, m.height, m.iso) == (1, 640, 400, 100)
    assert (src.read_bytes(), src.stat().st_mtime_ns) == before
    _no_temp_files(out_dir, {src.name, "out.jpg", "out.png"})
    from PIL import JpegImagePlugin

    for quality, sampling in ((95, 0), (90, 0), (85, 2)):  # 4:4:4 from quality 90 on, else 4:2:0
        path = write_image(out_dir / "q.jpg", srgb, quality=quality)
        with Image.open(path) as im:
            assert JpegImagePlugin.get_sampling(im) == sampling


def test_write_tiff16(tmp_path: Path, dng_file: Path) -> None:
    photo = load_photo(dng_file)
    srgb = srgb_encode(photo.linear).astype(np.float32)
    path = write_image(tmp_path / "out.tif", srgb, fmt="tiff16", meta=photo.meta)
    with tifffile.TiffFile(path) as tf:
        page = tf.pages.first
        arr = page.asarray()
        assert arr.dtype == np.uint16 and arr.shape == (400, 640, 3)
        assert page.tags["InterColorProfile"].value == srgb_icc()
        assert page.tags["Orientation"].value == 1
        assert page.tags["Make"].value == "Retouch"
    np.testing.assert_array_equal(arr, (np.clip(srgb, 0, 1) * 65535 + 0.5).astype(np.uint16))
    assert len(np.unique(arr[..., 1])) > 256  # more than 8 bits of levels survive
    m = read_metadata(path)
    assert m.iso == 400 and m.exposure_time == pytest.approx(1 / 125)
    _no_temp_files(tmp_path, {"out.tif"})


def _tag_dng(path: Path) -> None:
    """What a photographer's camera and catalogue put in a RAW: written by exiv2, read back by Pillow."""
    import pyexiv2

    img = pyexiv2.Image(str(path))
    img.modify_exif({"Exif.Image.Artist": "Jane Photographer", "Exif.Image.Copyright": "(c) 2026 Jane",
                     "Exif.Photo.LensModel": "TEST 24-70mm F2.8", "Exif.GPSInfo.GPSLatitudeRef": "N",
                     "Exif.GPSInfo.GPSLatitude": "43/1 15/1 3012/100", "Exif.Image.Orientation": "1"})
    img.modify_xmp({"Xmp.xmp.Rating": "4", "Xmp.dc.subject": ["MARKER_KEYWORD"],
                    "Xmp.crs.Exposure2012": "+1.50"})  # Lightroom's develop settings for the RAW
    img.modify_iptc({"Iptc.Application2.Keywords": ["MARKER_IPTC"]})
    img.close()


@pytest.mark.parametrize("fmt", ["jpeg", "png", "png16", "tiff16"])
def test_exports_carry_a_raws_gps_copyright_lens_xmp_and_iptc(tmp_path: Path, dng_file: Path, fmt: str) -> None:
    """RAW exports kept 7 fields rebuilt from the decode: GPS, Artist, Copyright, the lens, XMP and
    IPTC were lost, and a 16-bit TIFF held its EXIF values in IFD0, where readers do not look."""
    import pyexiv2

    src = tmp_path / "shot.dng"
    shutil.copy(dng_file, src)
    _tag_dng(src)
    before = src.read_bytes()
    photo = load_photo(src)
    path = write_image(tmp_path / f"out{FORMATS[fmt]}", srgb_encode(photo.linear), fmt=fmt, meta=photo.meta)
    with Image.open(path) as im:
        exif, xmp = im.getexif(), im.info.get("xmp", b"")
        photo_ifd, gps = exif.get_ifd(0x8769), exif.get_ifd(0x8825)
        assert im.info["icc_profile"] == srgb_icc()
    assert (exif[315], exif[33432], exif[271], exif[305], exif[274]) == (
        "Jane Photographer", "(c) 2026 Jane", "Retouch", "Retouch", 1)
    # the DNG keeps its shooting values in IFD0 (TIFF/EP); the export, in the Exif IFD
    assert photo_ifd[0xA434] == "TEST 24-70mm F2.8" and photo_ifd[0x8827] == 400
    assert photo_ifd[0x9003] == "2024:05:17 18:30:00" and photo_ifd[0xA001] == 1  # sRGB
    assert 0x9003 not in exif and 0x8827 not in exif
    assert gps[1] == "N" and [float(x) for x in gps[2]] == pytest.approx([43, 15, 30.12])
    xmp = xmp.decode() if isinstance(xmp, bytes) else xmp
    assert "MARKER_KEYWORD" in xmp and "Exposure2012" not in xmp  # not re-developed elsewhere
    out = pyexiv2.Image(str(path))
    try:
        assert out.read_iptc()["Iptc.Application2.Keywords"] == ["MARKER_IPTC"]
    finally:
        out.close()
    assert read_metadata(path).iso == 400
    assert src.read_bytes() == before
    _no_temp_files(tmp_path, {"shot.dng", path.name})


def test_exports_without_exiv2_keep_the_camera_fields(tmp_path: Path, dng_file: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Where pyexiv2 has no wheel (ARM), exports keep what the decode read, as before."""
    from engine.io import carry

    monkeypatch.setattr(carry, "_exiv2", lambda: None)
    photo = load_photo(dng_file)
    path = write_image(tmp_path / "out.jpg", srgb_encode(photo.linear), meta=photo.meta)
    ex = piexif.load(str(path))
    assert ex["0th"][piexif.ImageIFD.Make] == b"Retouch" and ex["0th"][piexif.ImageIFD.Software] == b"Retouch"
    assert ex["Exif"][piexif.ExifIFD.ISOSpeedRatings] == 400 and not ex["GPS"]


def test_write_refuses_the_original_and_is_atomic(tmp_copy, dng_file: Path, photo_jpeg: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_copy(photo_jpeg)
    before = (src.read_bytes(), src.stat().st_mtime_ns)
    photo = load_photo(src)
    srgb = srgb_encode(photo.linear)
    with pytest.raises(ImageError, match=r"original"):
        write_image(src, srgb, meta=photo.meta)
    link = src.parent / "alias.jpg"
    os.symlink(src, link)
    with pytest.raises(ImageError, match=r"original"):
        write_image(link, srgb, meta=photo.meta)
    link.unlink()
    assert (src.read_bytes(), src.stat().st_mtime_ns) == before

    target = write_image(src.parent / "export.jpg", srgb, meta=photo.meta)
    old = target.read_bytes()

    def broken_save(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(ImageError, match=r"No space left"):
        write_image(target, srgb * 0.5, meta=photo.meta)
    assert target.read_bytes() == old  # the previous export is intact
    _no_temp_files(src.parent, {src.name, "export.jpg"})
    assert (src.read_bytes(), src.stat().st_mtime_ns) == before


@pytest.mark.parametrize("fmt", ["jpeg", "png", "png16", "tiff16"])
def test_exports_state_the_print_resolution_asked_in_the_header_and_the_exif_alike(
        tmp_path: Path, photo_jpeg: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lightroom's export Resolution: the camera's 72 ppi (its EXIF) gave way to the export's, and
    the file's own header (JFIF density, PNG pHYs, TIFF tags) says the same, or a print dialog and
    an EXIF reader proposed two sizes."""
    photo = load_photo(photo_jpeg)
    assert piexif.load(str(photo_jpeg))["0th"][piexif.ImageIFD.XResolution] == (72, 1)
    srgb = srgb_encode(photo.linear)
    for exiv2 in (True, False):  # exiv2 carries the metadata; without it (ARM), piexif's block does
        if not exiv2:
            from engine.io import carry

            monkeypatch.setattr(carry, "_exiv2", lambda: None)
        path = write_image(tmp_path / f"out{exiv2}{FORMATS[fmt]}", srgb, fmt=fmt, meta=photo.meta, ppi=240)
        with Image.open(path) as im:
            assert im.info["dpi"] == pytest.approx((240, 240), abs=0.01)  # what Pillow, GIMP, a print dialog read
            exif = im.getexif()
        assert (exif[282], exif[283], exif[296]) == (240, 240, 2), exiv2  # inches
        assert exif[271] == "Canon" and exif[0x0131] == "Retouch"  # the rest is carried as before
    np.testing.assert_array_equal(_pixels(path), _pixels(write_image(tmp_path / f"d{FORMATS[fmt]}", srgb, fmt=fmt,
                                                                      meta=photo.meta)))  # the pixels: never
    with pytest.raises(ValueError, match="pixels per inch from 1 to 10000"):
        write_image(tmp_path / f"bad{FORMATS[fmt]}", srgb, fmt=fmt, ppi=0)
    assert not (tmp_path / f"bad{FORMATS[fmt]}").exists()


def _pixels(path: Path) -> np.ndarray:
    if path.suffix == ".tif":
        return tifffile.imread(path)
    if path.suffix == ".png" and _png_is_16(path):
        return imagecodecs.png_decode(path.read_bytes())
    with Image.open(path) as im:
        return np.asarray(im)


def _png_is_16(path: Path) -> bool:
    return path.read_bytes()[24] == 16  # IHDR's bit depth


def test_write_without_meta_and_format_from_suffix(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    p = write_image(tmp_path / "x.png", photo_srgb8)
    with Image.open(p) as im:  # no camera EXIF to carry: only Retouch's mark (Software), upright
        exif = im.getexif()
        assert im.format == "PNG" and (exif[0x0131], exif[0x0112]) == ("Retouch", 1)
        # and the print resolution (XResolution, YResolution, ResolutionUnit), the default 300 ppi
        assert set(exif) <= {0x0131, 0x0112, 0x8769, 282, 283, 296} and set(exif.get_ifd(0x8769)) <= {0xA001}
        assert (exif[282], exif[296], im.info["dpi"][0]) == (300, 2, pytest.approx(300, abs=0.01))
        np.testing.assert_array_equal(np.asarray(im), photo_srgb8)
    with pytest.raises(ValueError):
        write_image(tmp_path / "x.bmp", photo_srgb8, fmt="bmp")


# --- child-process decoding ----------------------------------------------------------------------

def test_safe_load_matches_in_process(dng_file: Path) -> None:
    a = load_photo(dng_file)
    b = load_photo(dng_file, safe=True)
    np.testing.assert_array_equal(a.linear, b.linear)
    assert a.meta == b.meta


def test_safe_load_reports_errors_from_the_child(tmp_path: Path) -> None:
    nef = tmp_path / "holiday.nef"
    nef.write_bytes(b"\0garbage" * 100)
    with pytest.raises(ImageError, match=r"holiday.nef: not a RAW file"):
        load_photo(nef, safe=True)


def test_safe_load_survives_a_crashing_decoder(dng_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.io.safe import FAULT_ENV

    monkeypatch.setenv(FAULT_ENV, "crash")
    with pytest.raises(ImageError, match=r"crashed \(signal SIGSEGV\)"):
        load_photo(dng_file, safe=True)
    assert os.environ[FAULT_ENV] == "crash"  # we are still here, in the same process


def test_a_raw_without_an_embedded_image_is_previewed_safely(dng_no_preview: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """With no embedded image the preview is LibRaw's whole decode: the app asks for it in a child
    process, so a crash there is an error about the file, as for the full decode."""
    from engine.io.safe import FAULT_ENV

    with_thumb = load_preview(dng_no_preview)  # the fixture keeps a small thumbnail: no decode yet
    np.testing.assert_array_equal(load_preview(dng_no_preview, safe=True), with_thumb)
    bare = dng_no_preview.parent / "bare_for_safe.dng"
    from engine.io.dng import write_dng

    write_dng(bare, np.asarray(Image.fromarray(with_thumb)), preview=False, thumbnail=False, noise=False)
    np.testing.assert_array_equal(load_preview(bare, safe=True), load_preview(bare))  # the same pixels
    monkeypatch.setenv(FAULT_ENV, "crash")
    with pytest.raises(ImageError, match=r"no preview, and .*crashed"):
        load_preview(bare, safe=True)


def test_safe_load_stops_a_hung_decoder(dng_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.io.safe import FAULT_ENV

    monkeypatch.setenv(FAULT_ENV, "hang")
    t = time.perf_counter()
    with pytest.raises(ImageError, match=r"longer than 1.5 s"):
        load_photo(dng_file, safe=True, timeout=1.5)
    assert time.perf_counter() - t < 10


def test_a_decode_child_dies_with_its_parent_and_its_leftovers_are_swept(dng_file: Path, tmp_path: Path) -> None:
    """A killed app left its decode running, and the pixels on /dev/shm (RAM) for ever."""
    import signal
    import subprocess
    import sys

    from engine.io import safe

    parent = subprocess.Popen(
        [sys.executable, "-c", f"from engine.io import load_photo; load_photo({str(dng_file)!r}, safe=True)"],
        env={**os.environ, safe.FAULT_ENV: "hang"})
    try:
        deadline = time.time() + 30
        children: list[int] = []
        while not children and time.time() < deadline:
            time.sleep(0.1)
            kids = Path(f"/proc/{parent.pid}/task/{parent.pid}/children")
            children = [int(c) for c in kids.read_text().split()] if kids.exists() else []
        assert children, "the decode child never started"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.time() + 10
        while safe._alive(children[0]) and Path(f"/proc/{children[0]}/stat").read_text().split()[2] != "Z" \
                and time.time() < deadline:
            time.sleep(0.1)
        assert time.time() < deadline, "the decode child outlived its parent"
    finally:
        parent.kill()
    # its scratch folder, and one of a version that named no pid, an hour old, are swept by the next decode
    dead = tmp_path / f"{safe._PREFIX}{parent.pid}-x1y2"
    old = tmp_path / f"{safe._PREFIX}k3j2h1"
    live = tmp_path / f"{safe._PREFIX}{os.getpid()}-a1b2"
    for d in (dead, old, live):
        d.mkdir()
        (d / "pixels.npy").write_bytes(b"0" * 1000)
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    safe._sweep(tmp_path)
    assert not dead.exists() and not old.exists() and live.exists()


def test_a_decode_no_longer_wanted_is_stopped(dng_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once started, a decode ran to its end even after the user had moved on."""
    from engine.io import DecodeCancelled
    from engine.io.safe import FAULT_ENV

    monkeypatch.setenv(FAULT_ENV, "hang")
    t = time.perf_counter()
    with pytest.raises(DecodeCancelled):
        load_photo(dng_file, safe=True, timeout=60, cancelled=lambda: time.perf_counter() - t > 0.5)
    assert time.perf_counter() - t < 5


def test_every_child_decode_stops_as_the_app_exits(dng_file: Path, tmp_path: Path, photo_srgb8: np.ndarray,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Quitting while a large photo decoded: the app's exit waited for its decodes (5-25 s, the
    window gone, gigabytes held). ``ABANDON`` (set as the app exits) stops them, a big PNG's
    preview too, which also stops once it is no longer wanted."""
    import threading

    import engine.io
    from engine.io import DecodeCancelled, safe

    monkeypatch.setenv(safe.FAULT_ENV, "hang")
    monkeypatch.setattr(engine.io, "CHILD_PREVIEW_PIXELS", 640 * 400 - 1)
    png = tmp_path / "p.png"
    Image.fromarray(photo_srgb8).save(png)
    t = time.perf_counter()
    with pytest.raises(DecodeCancelled):
        load_preview(png, max_size=256, safe=True, cancelled=lambda: time.perf_counter() - t > 0.5)
    assert time.perf_counter() - t < 5
    timer = threading.Timer(0.5, safe.ABANDON.set)
    timer.start()
    t = time.perf_counter()
    try:
        for decode in (lambda: load_photo(dng_file, safe=True, timeout=60),
                       lambda: load_preview(png, max_size=256, safe=True)):
            with pytest.raises(DecodeCancelled):
                decode()
    finally:
        timer.join()
        safe.ABANDON.clear()
    assert time.perf_counter() - t < 5


def test_a_header_read_of_a_huge_image_warns_nothing(tmp_path: Path) -> None:
    """Pillow's DecompressionBombWarning (a library path on stderr) came from the header reads beside
    the refusal itself, which still says the limit. In a process of its own: pytest resets the
    warning filters a module sets as it is imported."""
    import subprocess
    import sys

    from engine.io.image import MAX_PIXELS

    side = int(MAX_PIXELS**0.5) + 100
    big = tmp_path / "big.png"
    Image.new("1", (side, side)).save(big)
    script = ("import sys; from pathlib import Path\n"
              "from engine.io import ImageError, _child_preview, load_photo, read_metadata\n"
              f"assert _child_preview(Path({str(big)!r}))\n"
              f"try: read_metadata({str(big)!r}); load_photo({str(big)!r})\n"
              "except ImageError as e: print(e, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    said = proc.stderr.strip()
    assert proc.returncode == 0 and "\n" not in said and said.endswith("(refused as a possible decompression bomb)"), \
        said


def test_a_big_png_or_tiff_is_previewed_in_a_child(tmp_path: Path, photo_srgb8: np.ndarray,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A PNG or TIFF has no reduced decode: a 570 KB PNG declaring 196 MP took 5.5 GB in the app.
    Above the limit (lowered here to the fixture's size) the preview is made in a child process,
    the same pixels; a JPEG keeps its in-process DCT-scaled decode."""
    import engine.io
    from engine.io import safe

    calls = []
    real = safe.preview_in_child
    monkeypatch.setattr(safe, "preview_in_child", lambda *a, **k: calls.append(a) or real(*a, **k))
    monkeypatch.setattr(engine.io, "CHILD_PREVIEW_PIXELS", 640 * 400 - 1)
    png, tif, jpg = tmp_path / "p.png", tmp_path / "p.tif", tmp_path / "p.jpg"
    Image.fromarray(photo_srgb8).save(png)
    tifffile.imwrite(tif, photo_srgb8.astype(np.float32) / 255, photometric="rgb")  # Pillow cannot open it
    Image.fromarray(photo_srgb8).save(jpg)
    for p in (png, tif, jpg):
        assert np.array_equal(load_preview(p, max_size=256, safe=True), load_preview(p, max_size=256))
    assert [a[0] for a in calls] == [png, tif]


@pytest.mark.parametrize(("software", "ours"), [("Retouch", True), ("Retouch 1.2", True),
                                                ("RetouchPilot 3.1", False), ("Retouch4me Heal 1.0", False)])
def test_only_retouchs_own_outputs_read_as_its_own(tmp_path: Path, software: str, ours: bool) -> None:
    from engine.io.metadata import written_by_retouch

    exif = Image.Exif()
    exif[0x0131] = software
    for name in ("x.jpg", "x.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / name, exif=exif.tobytes())
        assert written_by_retouch(tmp_path / name) is ours


def test_tiff_variants(tmp_path: Path, photo_jpeg: Path, photo_srgb8: np.ndarray, photo_linear: np.ndarray) -> None:
    # Float TIFF: already linear, passed through untouched (Pillow cannot even open it).
    f32 = tmp_path / "linear.tif"
    tifffile.imwrite(f32, photo_linear, photometric="rgb")
    np.testing.assert_array_equal(load_photo(f32).linear, photo_linear)
    assert (read_metadata(f32).width, read_metadata(f32).height) == (640, 400)
    # Planar 16-bit with LZW.
    planar = tmp_path / "planar.tif"
    tifffile.imwrite(planar, np.moveaxis(photo_srgb8.astype(np.uint16) * 257, -1, 0).copy(), photometric="rgb",
                     planarconfig="separate", compression="lzw")
    np.testing.assert_allclose(load_photo(planar).linear, photo_linear, atol=2e-6)
    # 8-bit TIFF with camera EXIF and Orientation 6: upright pixels, metadata from its Exif IFD.
    d = piexif.load(str(photo_jpeg))
    d["0th"][piexif.ImageIFD.Orientation] = 6
    rotated = tmp_path / "rot.tif"
    Image.fromarray(np.ascontiguousarray(np.rot90(photo_srgb8, 1))).save(rotated, exif=piexif.dump(d))
    m = read_metadata(rotated)
    assert (m.orientation, m.width, m.height, m.make, m.iso) == (6, 640, 400, "Canon", 100)
    assert m.captured == datetime(2007, 8, 6, 10, 29, 13)  # DateTimeOriginal, not the 2008 DateTime
    np.testing.assert_allclose(load_photo(rotated).linear, photo_linear, atol=2e-6)


def test_raw_with_absurd_declared_size_is_refused(tmp_copy, dng_file: Path) -> None:
    import struct

    from tifffile import TiffFile, TiffPage

    bomb = tmp_copy(dng_file, "bomb.dng")
    with TiffFile(bomb) as tf:  # find the CFA sub-IFD's ImageWidth / ImageLength values
        tf.filehandle.seek(tf.pages.first.subifds[0])
        cfa = TiffPage(tf, index=0)
        where = [cfa.tags[code].valueoffset for code in (256, 257)]
        assert [cfa.tags[code].value for code in (256, 257)] == [640, 400]
    with open(bomb, "r+b") as f:
        for offset in where:
            f.seek(offset)
            f.write(struct.pack("<I", 60000))  # declare 60000 x 60000 = 3.6 GP
    for fn in (load_photo, load_preview, read_metadata):
        with pytest.raises(ImageError, match=r"bomb.dng: 60000x60000 .* above the 200 MP limit"):
            fn(bomb)


def _with_trns(png: bytes, key: tuple[int, ...]) -> bytes:
    """A PNG with a tRNS chunk (one transparent colour) after its header."""
    import struct
    import zlib

    payload = struct.pack(f">{len(key)}H", *key)
    chunk = struct.pack(">I", len(payload)) + b"tRNS" + payload
    chunk += struct.pack(">I", zlib.crc32(b"tRNS" + payload) & 0xFFFFFFFF)
    return png[:33] + chunk + png[33:]


def test_opacity_is_read_where_the_pixels_are(tmp_path):
    """``opacity`` (what ``retouch fit`` leaves out) lines up with the decoded pixels: an alpha
    channel (8 and 16 bits, PNG and TIFF, turned upright by the TIFF's orientation as the pixels
    are) and a 16-bit PNG's transparent colour (both were missed: all opaque, or the wrong way up)."""
    import imagecodecs
    import tifffile

    from engine.io.image import opacity

    h, w = 40, 60
    rgba = np.full((h, w, 4), 190, np.uint8)
    rgba[..., 3] = 255
    rgba[: h // 2, : w // 3] = 0  # the top-left block: transparent, black beneath
    files = {}
    Image.fromarray(rgba, "RGBA").save(files.setdefault("rgba.png", tmp_path / "rgba.png"))
    (tmp_path / "rgba16.png").write_bytes(imagecodecs.png_encode(rgba.astype(np.uint16) * 257))
    files["rgba16.png"] = tmp_path / "rgba16.png"
    for o in (6, 8):
        files[f"o{o}.tif"] = tmp_path / f"o{o}.tif"
        tifffile.imwrite(files[f"o{o}.tif"], rgba, photometric="rgb", extrasamples=["unassalpha"],
                         extratags=[(274, 3, 1, o, True)])
    rgb16 = np.where(rgba[..., 3:] == 0, np.uint16(1000), np.uint16(40000)) * np.ones(3, np.uint16)
    (tmp_path / "trns16.png").write_bytes(_with_trns(imagecodecs.png_encode(rgb16), (1000, 1000, 1000)))
    files["trns16.png"] = tmp_path / "trns16.png"
    grey16 = np.where(rgba[..., 3] == 0, np.uint16(1234), np.uint16(40000))
    (tmp_path / "grey16.png").write_bytes(_with_trns(imagecodecs.png_encode(grey16), (1234,)))
    files["grey16.png"] = tmp_path / "grey16.png"
    for name, path in files.items():
        a = opacity(path)
        black = load_photo(path).linear.max(-1) < 0.02  # where the transparent block decodes
        assert a is not None and a.shape == black.shape, name
        assert np.array_equal(a < 1, black) and black.mean() == pytest.approx(1 / 6, abs=0.01), name
    Image.fromarray(rgba[..., :3]).save(tmp_path / "opaque.png")
    Image.fromarray(np.dstack([rgba[..., :3], np.full((h, w), 255, np.uint8)]), "RGBA").save(tmp_path / "full.png")
    assert opacity(tmp_path / "opaque.png") is None and opacity(tmp_path / "full.png") is None


def test_grey_with_alpha_16_bit_png_and_tiff_read_as_grey_rgb(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    """A 16-bit grey + alpha PNG came back with two channels (a traceback in Auto and apply), and
    the same TIFF was refused as unreadable."""
    grey = (photo_srgb8.astype(np.uint16).mean(-1) * 257).astype(np.uint16)
    la = np.stack([grey, np.full_like(grey, 65535)], -1)
    png = tmp_path / "la16.png"
    png.write_bytes(imagecodecs.png_encode(la))
    tif = tmp_path / "la16.tif"
    tifffile.imwrite(tif, la, photometric="minisblack", extrasamples=[2])
    for path in (png, tif):
        lin = load_photo(path).linear
        assert lin.shape == (*grey.shape, 3)
        np.testing.assert_array_equal(lin[..., 0], lin[..., 2])
        np.testing.assert_allclose(lin[..., 1], srgb_decode(grey / 65535.0), atol=1e-5)
        assert load_preview(path).shape == (*grey.shape, 3)


def test_a_malformed_exif_tag_does_not_lose_the_photo(tmp_path: Path, photo_jpeg: Path,
                                                      photo_srgb8: np.ndarray) -> None:
    """One tag holding a string where a number belongs made Pillow's exif_transpose raise
    struct.error (a traceback, and 'the decoder crashed' in the app); the orientation still counts."""
    d = piexif.load(str(photo_jpeg))
    d["0th"][piexif.ImageIFD.Orientation] = 6
    d["0th"][piexif.ImageIFD.DateTime] = b"2026:12:06 01:02:03"
    exif = piexif.dump(d)
    bad = exif.replace(b"\x01\x32\x00\x02", b"\x01\x17\x00\x02", 1)  # DateTime's tag -> StripByteCounts (big-endian)
    assert bad != exif
    path = tmp_path / "bad_exif.jpg"
    Image.fromarray(np.ascontiguousarray(np.rot90(photo_srgb8, 1))).save(path, quality=95, exif=bad)
    with Image.open(path) as im, pytest.raises(Exception):  # noqa: B017 - Pillow's own failure, whatever it is
        ImageOps.exif_transpose(im)
    lin = load_photo(path).linear
    assert lin.shape == photo_srgb8.shape  # upright all the same
    assert psnr8((srgb_encode(lin) * 255 + 0.5).astype(np.uint8), photo_srgb8) > 30
    assert load_preview(path).shape == photo_srgb8.shape


def test_tiffs_as_pillow_turns_them_wrongly_and_with_profiles(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    """CMYK and palette TIFFs with orientations 5-8 came out transposed (Pillow 13 turns them
    twice), a 3-pixel-wide planar TIFF was read across its planes, and an 8-bit TIFF's Adobe RGB
    profile was ignored (the PNG with the same pixels and profile was converted)."""
    small = np.ascontiguousarray(photo_srgb8[:120, :200])
    for mode in ("CMYK", "P"):
        stored = Image.fromarray(np.ascontiguousarray(np.rot90(small, 1)))  # turned upright by orientation 6
        stored = stored.convert(mode, palette=Image.Palette.ADAPTIVE) if mode == "P" else stored.convert(mode)
        path = tmp_path / f"{mode}.tif"
        exif = Image.Exif()
        exif[274] = 6
        stored.save(path, exif=exif)
        lin = load_photo(path).linear
        assert lin.shape == small.shape, mode
        assert psnr8((srgb_encode(lin) * 255 + 0.5).astype(np.uint8), small) > (40 if mode == "CMYK" else 25)
    narrow = tmp_path / "planar3.tif"
    tifffile.imwrite(narrow, np.moveaxis(small[:, :3], -1, 0).copy(), photometric="rgb", planarconfig="separate")
    assert load_photo(narrow).linear.shape == (120, 3, 3)
    np.testing.assert_allclose(load_photo(narrow).linear, srgb_decode(small[:, :3] / 255.0), atol=1e-6)
    png, tif = tmp_path / "adobe.png", tmp_path / "adobe.tif"
    Image.fromarray(small).save(png, icc_profile=_adobe_rgb_icc())
    tifffile.imwrite(tif, small, photometric="rgb", extratags=[(34675, 7, None, _adobe_rgb_icc(), True)])
    np.testing.assert_allclose(load_photo(tif).linear, load_photo(png).linear, atol=1e-6)
    assert not np.allclose(load_photo(tif).linear, srgb_decode(small / 255.0), atol=0.01)  # converted


def test_a_raws_embedded_preview_with_a_malformed_exif_tag_still_shows(tmp_path: Path, photo_jpeg: Path,
                                                                       photo_srgb8: np.ndarray, monkeypatch) -> None:
    """The camera's embedded JPEG goes through the same upright fallback as a JPEG file."""
    import contextlib
    import io as bytes_io

    import rawpy

    import engine.io.raw as raw_mod
    from engine.io.dng import write_dng

    d = piexif.load(str(photo_jpeg))
    d["0th"][piexif.ImageIFD.Orientation] = 6
    d["0th"][piexif.ImageIFD.DateTime] = b"2026:12:06 01:02:03"
    bad = piexif.dump(d).replace(b"\x01\x32\x00\x02", b"\x01\x17\x00\x02", 1)
    buf = bytes_io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.rot90(photo_srgb8, 1))).save(buf, "JPEG", quality=95, exif=bad)
    dng = write_dng(tmp_path / "a.dng", photo_srgb8, noise=False)

    class Thumb:  # what rawpy gives: the camera's JPEG, here with one malformed tag
        format = rawpy.ThumbFormat.JPEG
        data = buf.getvalue()

    real = raw_mod.open_raw

    class WithThumb:
        def __init__(self, raw):
            self._raw = raw

        def extract_thumb(self):
            return Thumb()

        def __getattr__(self, name):
            return getattr(self._raw, name)

    @contextlib.contextmanager
    def open_raw(path):
        with real(path) as raw:
            yield WithThumb(raw)

    monkeypatch.setattr(raw_mod, "open_raw", open_raw)
    prev = load_preview(dng)
    assert prev.shape == photo_srgb8.shape and psnr8(prev, photo_srgb8) > 30  # upright by the JPEG's own tag


def test_palette_and_cmyk_alpha_tiffs(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    """Pillow writes a palette's white as 65280 (v * 256): it still reads as white. A CMYK TIFF's
    alpha is its transparency (Match a Look leaves transparent pixels out)."""
    from engine.io.image import opacity

    img = np.ascontiguousarray(photo_srgb8[:64, :96])
    img[:8, :8] = 255
    path = tmp_path / "p.tif"
    Image.fromarray(img).convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    assert load_photo(path).linear[:8, :8].min() == 1.0
    cmyk = np.asarray(Image.fromarray(img).convert("CMYK"))
    alpha = np.full(img.shape[:2], 255, np.uint8)
    alpha[:, :20] = 0
    path = tmp_path / "cmyka.tif"
    tifffile.imwrite(path, np.dstack([cmyk, alpha]), photometric="separated", extrasamples=[2])
    assert load_photo(path).linear.shape == img.shape
    a = opacity(path)
    assert a is not None and a[:, :20].max() == 0 and a[:, 20:].min() == 1


def test_pillows_exif_warnings_are_not_printed(tmp_path: Path) -> None:
    """A damaged EXIF block is read as far as it goes; Pillow's warnings about it (library paths
    on stderr, several per command) tell a photographer nothing."""
    import subprocess
    import sys

    d = {"0th": {piexif.ImageIFD.ImageDescription: b"x" * 200, piexif.ImageIFD.Make: b"Canon"},
         "Exif": {}, "GPS": {}, "1st": {}}
    path = tmp_path / "short_exif.jpg"
    Image.fromarray(np.full((40, 60, 3), 128, np.uint8)).save(path, exif=piexif.dump(d)[:-120])
    got = subprocess.run([sys.executable, "-m", "retouch", "info", str(path)], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert got.returncode == 0 and "Warning" not in got.stderr, got.stderr


def _xmp_packet(body: str, ns: str = 'xmlns:xmp="http://ns.adobe.com/xap/1.0/"') -> bytes:
    return ('<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" {ns}>{body}</rdf:Description></rdf:RDF></x:xmpmeta>'
            '<?xpacket end="w"?>').encode()


def test_hostile_metadata_never_stalls_or_loses_an_export(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    """A 2 MB XMP packet took exiv2 124 s (its parse grows with the square of the size); a name that
    is not UTF-8 lost all the metadata; darktable's history leaked under a prefix exiv2 met first."""
    import pyexiv2

    from engine.io.carry import MAX_XMP

    many = "".join(f"<xmp:P{i}>v</xmp:P{i}>" for i in range(40_000))
    big = tmp_path / "big_xmp.tif"
    tifffile.imwrite(big, photo_srgb8, photometric="rgb", extratags=[(271, "s", 0, "BigCam", True),
                                                                       (700, "B", 0, _xmp_packet(many), True)])
    assert len(_xmp_packet(many)) > MAX_XMP
    t = time.perf_counter()
    out = write_image(tmp_path / "big.jpg", photo_srgb8, meta=load_photo(big).meta)
    assert time.perf_counter() - t < 5  # 28.7 s before, at 40 000 properties
    with Image.open(out) as im:
        assert im.getexif()[271] == "BigCam" and "P39999" not in str(im.info.get("xmp", b""))

    odd = tmp_path / os.fsdecode(b"caf\xe9.tif")  # a Latin-1 name on a UTF-8 system
    dt = _xmp_packet('<xmp:Rating>3</xmp:Rating><dt:history>edits</dt:history>',
                     'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dt="http://darktable.sf.net/"')
    tifffile.imwrite(odd, photo_srgb8, photometric="rgb", extratags=[(700, "B", 0, dt, True)])
    img = pyexiv2.ImageData(odd.read_bytes())
    img.modify_exif({"Exif.GPSInfo.GPSLatitudeRef": "N", "Exif.GPSInfo.GPSLatitude": "43/1 15/1 3012/100"})
    odd.write_bytes(img.get_bytes())
    img.close()
    out = write_image(tmp_path / "odd.jpg", photo_srgb8, meta=load_photo(odd).meta)
    with Image.open(out) as im:
        xmp = im.info.get("xmp", b"").decode()
        assert im.getexif().get_ifd(0x8825)[1] == "N"
    assert "Rating" in xmp and "history" not in xmp


def test_a_degenerate_profile_is_ignored_at_8_and_16_bits_alike(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    """Singular primaries turned an 8-bit photo solid red and put values of 1e9 into the working
    space at 16 bits; a damaged profile is ignored, as the README says."""
    bad = _adobe_rgb_icc(b"singular", ((0.5, 0.3, 0.02), (0.5, 0.3, 0.02), (0.1, 0.06, 0.7)))
    eight, sixteen = tmp_path / "s8.png", tmp_path / "s16.tif"
    Image.fromarray(photo_srgb8).save(eight, icc_profile=bad)
    tifffile.imwrite(sixteen, photo_srgb8.astype(np.uint16) * 257, photometric="rgb", iccprofile=bad)
    plain = srgb_decode(photo_srgb8.astype(np.float32) / 255)
    for path in (eight, sixteen):
        got = load_photo(path).linear
        assert np.isfinite(got).all() and np.abs(got - plain).max() < 1e-3


def test_a_coarse_preview_decodes_the_camera_jpeg_at_a_smaller_scale(photo_srgb8: np.ndarray, tmp_path: Path) -> None:
    """The app's first view of a RAW: a 4000 px camera JPEG for a 2048 px view decoded whole
    (DCT scaling only halves), 432 ms where half size takes 67 (bench/raw_open.py)."""
    big = np.asarray(Image.fromarray(photo_srgb8).resize((1280, 800), Image.Resampling.BICUBIC))
    dng = write_dng(tmp_path / "big_preview.dng", big, preview_size=1280)
    exact = load_preview(dng, max_size=700)
    coarse = load_preview(dng, max_size=700, coarse=True)
    assert max(exact.shape[:2]) == 700 and max(coarse.shape[:2]) == 640  # the JPEG's half: 2/3 of 700 or more
    small = np.asarray(Image.fromarray(exact).resize(coarse.shape[1::-1], Image.Resampling.BOX), float)
    assert np.abs(small - coarse).mean() < 3  # the same picture


def test_8_bit_exports_are_dithered_so_a_smooth_sky_does_not_band(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    """Rounding to 8 bits turned a smooth gradient into flat bands 60-90 rows wide (tinted where
    R, G and B stepped on different rows). Dithered, each row's mean follows the gradient; a value
    on a level stays on it, so an unedited 8-bit photo still round-trips exactly."""
    sky = np.linspace(0.30, 0.35, 1000, dtype=np.float32)[:, None, None] * np.float32([0.8, 0.9, 1.0])
    sky = np.ascontiguousarray(np.broadcast_to(sky, (1000, 400, 3)))
    out = write_image(tmp_path / "sky.png", sky)
    got = np.asarray(Image.open(out), np.float64)
    rows = got.mean(axis=1) / 255  # what the eye averages
    error = np.abs(rows - sky[:, 0]) * 255  # in levels; rounding: 0.25 on average, up to 0.5
    assert error.mean() < 0.06 and error.max() < 0.3
    assert np.abs(got / 255 - sky).max() * 255 < 1.0  # never more than one level from the value
    back = write_image(tmp_path / "same.png", srgb_encode(srgb_decode(photo_srgb8 / np.float32(255))))
    np.testing.assert_array_equal(np.asarray(Image.open(back)), photo_srgb8)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_outputs_and_sidecars_get_the_permissions_a_plain_write_would(tmp_path: Path, photo_srgb8: np.ndarray,
                                                                       umask: int, mode: int) -> None:
    """A temp file is created 0600; published so, an export was unreadable to a web server, a Samba
    share or another user of the machine. A fixed 0644 then made private exports world-readable and
    took group write from a studio's shared folder: a new file gets 0666 less the umask, and a file
    replaced keeps its own permissions, as editors write them."""
    import stat

    from engine.recipe import Recipe, Step, save_sidecar, sidecar_path

    old = os.umask(umask)
    try:
        for fmt in ("jpeg", "tiff16"):
            out = write_image(tmp_path / f"out{FORMATS[fmt]}", photo_srgb8, fmt=fmt)
            assert stat.S_IMODE(out.stat().st_mode) == mode
        photo = tmp_path / "p.jpg"
        Image.fromarray(photo_srgb8).save(photo)
        save_sidecar(photo, Recipe([Step("exposure", {"ev": 0.5})]), None)
        assert stat.S_IMODE(sidecar_path(photo).stat().st_mode) == mode
        os.chmod(out, 0o640)
        write_image(out, photo_srgb8, fmt="tiff16")  # replaced: its own permissions kept
        assert stat.S_IMODE(out.stat().st_mode) == 0o640
    finally:
        os.umask(old)


@pytest.mark.parametrize("orientation", [5, 7])
def test_mirrored_orientations_are_turned_when_pillow_cannot(tmp_path: Path, photo_jpeg: Path,
                                                             photo_srgb8: np.ndarray, orientation: int) -> None:
    """The fallback used when Pillow's exif_transpose raises (a malformed tag): the mirrored
    orientations 5 and 7 are turned as the EXIF says, not swapped."""
    from engine.io.orientation import apply_orientation

    stored = np.ascontiguousarray(np.transpose(photo_srgb8[:120, :200], (1, 0, 2)))  # any stored frame
    d = piexif.load(str(photo_jpeg))
    d["0th"][piexif.ImageIFD.Orientation] = orientation
    d["0th"][piexif.ImageIFD.DateTime] = b"2026:12:06 01:02:03"
    exif = piexif.dump(d)
    bad = exif.replace(b"\x01\x32\x00\x02", b"\x01\x17\x00\x02", 1)  # DateTime -> StripByteCounts: Pillow raises
    path = tmp_path / f"o{orientation}.jpg"
    Image.fromarray(stored).save(path, quality=98, exif=bad)
    with Image.open(path) as im, pytest.raises(Exception):  # noqa: B017 - Pillow's own failure, whatever it is
        ImageOps.exif_transpose(im)
    want = apply_orientation(stored, orientation)
    got = (srgb_encode(load_photo(path).linear) * 255 + 0.5).astype(np.uint8)
    assert got.shape == want.shape and psnr8(got, want) > 30


@pytest.mark.parametrize("quality", [92, 100])
def test_a_grainy_photo_exports_as_jpeg(photo_srgb8: np.ndarray, tmp_path: Path, quality: int) -> None:
    """The QA's: heavy grain at full colour resolution takes more than the byte a pixel (two from
    quality 95) Pillow gives optimised tables, and the export failed with "broken data stream"."""
    from PIL import Image

    from engine.io import write_image

    grain = np.random.default_rng(0).normal(0, 40, photo_srgb8.shape)
    noisy = np.clip(photo_srgb8 + grain, 0, 255).astype(np.uint8)
    path = write_image(tmp_path / "grain.jpg", noisy, quality=quality)
    assert path.stat().st_size > (1.0 if quality < 95 else 2.0) * noisy.shape[0] * noisy.shape[1]  # past Pillow's room
    with Image.open(path) as im:
        back = np.asarray(im.convert("RGB"), float)
    assert back.shape == noisy.shape
    assert np.abs(back - noisy).mean() < (8 if quality < 95 else 2)
    from PIL import ImageFile

    assert ImageFile.MAXBLOCK == 65536  # Pillow's own again: other reads and saves never see the room given


def test_a_png_with_a_damaged_exif_block_still_opens(photo_srgb8: np.ndarray, tmp_path: Path) -> None:
    """The QA's: a PNG whose eXIf chunk is not a TIFF structure was refused as "truncated or
    corrupt", while a JPEG with damaged EXIF opened; the pixels are the photo, its EXIF is left out."""
    from PIL import Image

    from engine.io import load_photo, read_metadata

    path = tmp_path / "damaged_exif.png"
    Image.fromarray(photo_srgb8).save(path, exif=bytes(range(256)) + b"garbage" * 20)
    meta = read_metadata(path)
    assert (meta.width, meta.height) == (photo_srgb8.shape[1], photo_srgb8.shape[0]) and meta.exif is None
    photo = load_photo(path)
    assert photo.linear.shape == photo_srgb8.shape


def test_what_stops_a_read_is_said_as_what_it_is(tmp_path, photo_jpeg, monkeypatch):
    """A file this user may not read was "truncated or unreadable" (a RAW) or "not an image Pillow
    can read ([Errno 13] ...)", and a link loop "file not found" (QA): each is said as what it is,
    and a FIFO is never opened for good."""
    from engine.io import ImageError, read_metadata

    (tmp_path / "loop.jpg").symlink_to(tmp_path / "loop.jpg")
    (tmp_path / "gone.NEF").symlink_to(tmp_path / "elsewhere.NEF")
    os.mkfifo(tmp_path / "pipe.png")
    shutil.copy(photo_jpeg, tmp_path / "locked.jpg")
    (tmp_path / "locked.jpg").chmod(0)
    if os.geteuid() == 0:  # root reads it all the same: the refusal as the kernel gives it
        import engine.io

        real = engine.io.open_regular
        monkeypatch.setattr(engine.io, "open_regular", lambda p: (_ for _ in ()).throw(
            PermissionError(13, "Permission denied", str(p))) if Path(p).name == "locked.jpg" else real(p))
    for name, said in (("loop.jpg", "a link that leads back to itself"),
                       ("gone.NEF", "a link to a file that is no longer there"),
                       ("pipe.png", "not a file (a FIFO, a socket or a device)"),
                       ("locked.jpg", "permission denied: this user may not read the file")):
        for read in (load_photo, read_metadata):
            with pytest.raises(ImageError) as e:
                read(tmp_path / name)
            assert str(e.value) == f"{name}: {said}"


@pytest.mark.parametrize("fmt", ["tif", "jpg"])
def test_a_tiffs_note_of_its_pixels_is_left_behind_and_its_caption_kept(tmp_path, photo_jpeg, fmt):
    """tifffile's ImageDescription ``{"shape": [...]}`` of the source was carried into a TIFF export,
    where it described another shape (tifffile warned); a caption is the photographer's and stays."""
    from engine.recipe import Recipe
    from retouch.main import main

    rgb = np.asarray(Image.open(photo_jpeg).convert("RGB"))
    Recipe().save(tmp_path / "none.json")
    for name, description, kept in (("shaped.tif", None, None),  # tifffile writes its own shape note
                                    ("caption.tif", "Dunes at dusk, Sylt", "Dunes at dusk, Sylt")):
        tifffile.imwrite(tmp_path / name, rgb.transpose(2, 0, 1), photometric="rgb", planarconfig="separate",
                         description=description, metadata=None if description else {})
        if description is None:
            with tifffile.TiffFile(tmp_path / name) as t:
                assert t.pages[0].tags.valueof(270).startswith('{"shape"')  # the note, in the source
        out = tmp_path / f"{name}.{fmt}"
        assert main(["apply", str(tmp_path / name), "-r", str(tmp_path / "none.json"), "-o", str(out)]) == 0
        with Image.open(out) as im:
            assert im.getexif().get(270) == kept, name


def test_a_tiff_whose_first_page_is_its_preview_opens_as_the_photo(tmp_path, photo_jpeg):
    """A reduced-resolution copy written first (NewSubfileType 1) opened as the photo: 40 x 25 px
    for 320 x 200, and exported so (QA). Pages of full resolution are read as before: the first."""
    from engine.io import load_preview, read_metadata

    rgb = np.asarray(Image.open(photo_jpeg).convert("RGB"))
    small = np.ascontiguousarray(rgb[::8, ::8])
    with tifffile.TiffWriter(tmp_path / "preview_first.tif") as t:
        t.write(small, photometric="rgb", subfiletype=1)
        t.write(rgb, photometric="rgb", subfiletype=0, metadata=None)
    with tifffile.TiffWriter(tmp_path / "two_photos.tif") as t:  # a multi-page scan: its first page
        t.write(rgb, photometric="rgb", metadata=None)
        t.write(255 - rgb, photometric="rgb", metadata=None)
    for name in ("preview_first.tif", "two_photos.tif"):
        path = tmp_path / name
        meta = read_metadata(path)
        assert (meta.height, meta.width) == rgb.shape[:2], name
        got = srgb_encode(load_photo(path).linear)
        assert np.abs(got * 255 - rgb).max() < 1, name
        assert load_preview(path, 480).shape == (300, 480, 3), name
    # a photo Pillow decodes (tifffile's reader declines JPEG-in-TIFF and CIELab), after a mask page;
    # the preview's orientation is not the photo's
    for kw in ({"photometric": "ycbcr", "compression": "jpeg"}, {"photometric": "cielab"}):
        alone, first = tmp_path / "alone.tif", tmp_path / "first.tif"
        tifffile.imwrite(alone, rgb, metadata=None, **kw)
        with tifffile.TiffWriter(first) as t:
            t.write(small, photometric="rgb", subfiletype=1, extratags=[(274, "H", 1, 6, True)])
            t.write(np.zeros(rgb.shape[:2], np.uint8), photometric="minisblack", extratags=[(254, "I", 1, 4, True)])
            t.write(rgb, subfiletype=0, metadata=None, **kw)
        meta = read_metadata(first)
        assert (meta.height, meta.width, meta.orientation) == (*rgb.shape[:2], 1), kw
        assert np.array_equal(load_photo(first).linear, load_photo(alone).linear), kw


def test_a_float_tiff_tagged_with_another_space_is_converted(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    """A 32-bit TIFF with a wide-gamut profile (ProPhoto, Adobe RGB: an HDR merge, a 32-bit export)
    was read as linear sRGB, its colours dull. Its values are light: the profile's primaries are
    applied as the 16-bit path applies them to a linear profile, light past white kept."""
    icc = _adobe_rgb_icc(b"Adobe RGB linear", ADOBE_RGB_D50, 1.0)
    light = (photo_srgb8 / 255.0) ** 2.2
    tifffile.imwrite(tmp_path / "ref16.tif", np.round(light * 65535).astype(np.uint16), photometric="rgb",
                     iccprofile=icc)
    ref = load_photo(tmp_path / "ref16.tif").linear
    brighter = light.astype(np.float32) * 2  # an exposure past white
    tifffile.imwrite(tmp_path / "hdr.tif", brighter, photometric="rgb", iccprofile=icc)
    tifffile.imwrite(tmp_path / "untagged.tif", brighter, photometric="rgb")
    got = load_photo(tmp_path / "hdr.tif").linear
    assert np.abs(got - 2 * ref).max() < 1e-3 and got.max() > 1.5  # the 16-bit path: its curves sampled
    assert np.abs(load_photo(tmp_path / "untagged.tif").linear - brighter).max() < 1e-6  # as before
    assert np.abs(got - brighter).mean() > 0.01  # not read as linear sRGB


def test_a_jpeg_declaring_more_pixels_than_its_bytes_can_hold_is_refused(tmp_path: Path, photo_jpeg: Path) -> None:
    """A 691-byte JPEG declaring 14000 x 14000 (a 64 x 64 scan and its end marker) opened as a grey
    photo after 23 s and 7 GB: libjpeg fills what is missing and only warns."""
    import io

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 120, 60)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = (14000).to_bytes(2, "big") * 2  # height, width
    bomb = tmp_path / "bomb.jpg"
    bomb.write_bytes(bytes(data))
    for read in (load_photo, lambda p: load_preview(p, max_size=256), read_metadata):
        with pytest.raises(ImageError, match=r"truncated or corrupt: \d+ bytes cannot hold a 14000 x 14000 JPEG"):
            read(bomb)
    assert load_photo(photo_jpeg).linear.shape[:2] == (600, 960)  # a real one, however flat, is not
    flat = tmp_path / "grey.jpg"
    Image.new("L", (4000, 3000), 128).save(flat, "JPEG", progressive=True, optimize=True, quality=1)
    assert load_preview(flat, max_size=256).shape[:2] == (192, 256)
    # arithmetic coding holds a flat 16 MP frame in 125 bytes (jpegtran -arithmetic): taken as it says
    arith = tmp_path / "arith.jpg"
    arith.write_bytes(bytes.fromhex(
        "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f141d"
        "1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc9000b080fa00fa001011100ffcc"
        "000600101005ffda0008010100003f001eb780ffd9"))
    assert load_preview(arith, max_size=256).shape[:2] == (256, 256)
