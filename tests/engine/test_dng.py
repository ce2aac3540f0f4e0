"""engine.io.dng: the synthetic DNG is a RAW that LibRaw reads like a camera's, built from a real photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rawpy
from PIL import Image, ImageFilter

from engine.color import srgb_decode, srgb_encode
from engine.io import load_photo
from engine.io.dng import BLACK, WHITE, write_dng


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two linear images compared as displayed (sRGB-encoded, peak 1)."""
    d = srgb_encode(a).astype(np.float64) - srgb_encode(b).astype(np.float64)
    return float(10 * np.log10(1.0 / np.mean(d**2)))


def test_rawpy_reads_the_cfa_layout(dng_file: Path) -> None:
    with rawpy.imread(str(dng_file)) as raw:
        assert raw.raw_type == rawpy.RawType.Flat
        assert raw.color_desc == b"RGBG"
        assert raw.raw_pattern.tolist() == [[0, 1], [3, 2]]  # RGGB
        assert raw.black_level_per_channel == [BLACK] * 4
        assert raw.white_level == WHITE
        assert raw.camera_whitebalance[:3] == pytest.approx([2.0, 1.0, 1.5], rel=1e-4)
        # ColorMatrix1 = diag(1/wb) @ XYZ->sRGB, so LibRaw's camera->sRGB matrix is the identity.
        np.testing.assert_allclose(raw.color_matrix[:, :3], np.eye(3), atol=1e-3)
        assert (raw.sizes.width, raw.sizes.height) == (640, 400)
        img = raw.raw_image_visible
        assert img.dtype == np.uint16 and BLACK - 20 < img.min() and img.max() <= WHITE


def test_decode_matches_the_source_photo(dng_file: Path, photo_linear: np.ndarray) -> None:
    lin = load_photo(dng_file).linear
    assert lin.shape == photo_linear.shape
    # Measured 30.0 dB at 640x400 (PPG demosaicing of grass; noise costs only 0.1 dB here).
    assert psnr(lin, photo_linear) > 29.0
    np.testing.assert_allclose(lin.mean((0, 1)), photo_linear.mean((0, 1)), rtol=0.02)
    # Control: the same file decoded without its white balance is far off (measured 18.9 dB).
    with rawpy.imread(str(dng_file)) as raw:
        unbalanced = raw.postprocess(output_color=rawpy.ColorSpace.sRGB, gamma=(1, 1), no_auto_bright=True,
                                     user_wb=[1.0, 1.0, 1.0, 1.0], output_bps=16, adjust_maximum_thr=0.0)
    assert psnr(unbalanced / 65535.0, photo_linear) < 22.0


def test_noise_free_decode_is_closer(tmp_path: Path, photo_srgb8: np.ndarray, photo_linear: np.ndarray) -> None:
    clean = load_photo(write_dng(tmp_path / "clean.dng", photo_srgb8, noise=False)).linear
    noisy = load_photo(write_dng(tmp_path / "noisy.dng", photo_srgb8, noise=8.0)).linear
    # Measured 30.1 dB clean vs 26.3 dB with 8x the noise; what is left when clean is demosaicing.
    assert psnr(clean, photo_linear) > psnr(noisy, photo_linear) + 2.0
    assert psnr(clean, photo_linear) > 29.5


@pytest.mark.parametrize("wb", [(1.0, 1.0, 1.0), (2.4, 1.0, 1.3), (1.6, 1.0, 2.6)])
def test_colour_survives_any_white_balance(tmp_path: Path, photo_srgb8: np.ndarray, photo_linear: np.ndarray,
                                           wb: tuple[float, float, float]) -> None:
    path = write_dng(tmp_path / "wb.dng", photo_srgb8, wb=wb, noise=False)
    with rawpy.imread(str(path)) as raw:
        assert raw.camera_whitebalance[:3] == pytest.approx(list(wb), rel=1e-4)
    lin = load_photo(path).linear
    np.testing.assert_allclose(lin.mean((0, 1)), photo_linear.mean((0, 1)), rtol=0.02)


def test_linear_float_input_and_exposure(tmp_path: Path, photo_srgb8: np.ndarray, photo_linear: np.ndarray) -> None:
    a = write_dng(tmp_path / "u8.dng", photo_srgb8, noise=False)
    b = write_dng(tmp_path / "f32.dng", photo_linear, noise=False)  # float = linear
    with rawpy.imread(str(a)) as ra, rawpy.imread(str(b)) as rb:
        diff = np.abs(ra.raw_image_visible.astype(int) - rb.raw_image_visible.astype(int))
        assert diff.max() <= 1
    from engine.io import load_preview

    mse = np.mean((load_preview(b).astype(float) - photo_srgb8) ** 2)  # preview rendered from linear
    assert 10 * np.log10(255.0**2 / mse) > 30
    dark = load_photo(write_dng(tmp_path / "dark.dng", photo_linear, exposure=-1.0, noise=False)).linear
    ratio = dark.mean() / load_photo(b).linear.mean()
    assert ratio == pytest.approx(0.5, abs=0.01)


#: A bridge's cables over a bright sky, 1024 x 576 (CC-BY-SA-4.0, see fixtures/README.md).
BRIDGE = Path(__file__).parent / "fixtures" / "Bridge_by_Sander_Klootwijk.jpg"


def _clip_mode(path: Path) -> np.ndarray:
    """LibRaw's default highlight mode, clip, decoded as the app decodes otherwise."""
    with rawpy.imread(str(path)) as raw:
        rgb = raw.postprocess(output_color=rawpy.ColorSpace.sRGB, gamma=(1, 1), no_auto_bright=True,
                              use_camera_wb=True, output_bps=16, adjust_maximum_thr=0.0,
                              demosaic_algorithm=rawpy.DemosaicAlgorithm.PPG)
    return rgb / np.float32(65535)


def test_highlights_past_white_are_rebuilt(tmp_path: Path) -> None:
    """A shot 1 EV over: where the sensor clipped one or two channels, the decode keeps what the
    others saw, past white, so pulling the exposure back brings the sky back; LibRaw's clip mode
    made it flat white. The rest decodes as clip mode does."""
    with Image.open(BRIDGE) as im:
        srgb = np.asarray(im.convert("RGB"))
    right = srgb_decode(srgb / np.float32(255))
    path = write_dng(tmp_path / "over.dng", right, exposure=1.0, noise=False)
    over, clip = load_photo(path).linear, _clip_mode(path)
    truth = right * np.float32(2.0)
    partly = (truth / np.array([2.0, 1.0, 1.5], np.float32) >= 1.0).any(-1)  # write_dng's default wb
    assert 0.2 < partly.mean() < 0.9 and over.max() > 1.2
    want = srgb_encode(right)[partly] * 255
    rebuilt, clipped = (np.abs(srgb_encode(np.clip(x / 2, 0, 1))[partly] * 255 - want).mean() for x in (over, clip))
    assert rebuilt < 0.7 * clipped, (rebuilt, clipped)  # 17 against 27 levels


def test_the_decode_away_from_highlights_is_clip_modes(tmp_path: Path, photo_linear: np.ndarray) -> None:
    """Blend mode's decode is scaled back by the largest over the smallest multiplier: 4 px from any
    highlight (where the demosaic sees the same neighbours) it is clip mode's, to 16-bit rounding."""
    path = write_dng(tmp_path / "over.dng", photo_linear, exposure=0.5, noise=False)
    over, clip = load_photo(path).linear, _clip_mode(path)
    near = Image.fromarray(((photo_linear.max(-1) >= 0.65) * 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(9))
    far = np.asarray(near) == 0
    assert far.mean() > 0.2 and over.max() > 1.2
    assert np.percentile(np.abs(over - clip)[far], 99.9) < 2e-3


def _patch_as_shot(path: Path, neutral: tuple[float, float, float] | None) -> None:
    """Rewrite the DNG's AsShotNeutral in place, or (None) hide it under an unknown tag number."""
    import struct

    import tifffile

    with tifffile.TiffFile(path) as tf:
        tag = tf.pages[0].tags[50728]
        at, values = tag.offset, tag.valueoffset
    data = bytearray(path.read_bytes())
    if neutral is None:
        data[at:at + 2] = struct.pack("<H", 0xC6FE)
    else:
        for i, v in enumerate(neutral):
            data[values + 8 * i:values + 8 * i + 8] = struct.pack("<II", round(v * 1_000_000), 1_000_000)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("neutral", [None, (0.005, 1.0, 0.6667)], ids=["no AsShotNeutral", "one LibRaw rejects"])
def test_a_camera_white_balance_libraw_cannot_use_decodes_as_clip_mode(tmp_path: Path, photo_linear: np.ndarray,
                                                                       neutral) -> None:
    """LibRaw falls back to an automatic white balance where the camera's is missing or implausible;
    the decode reads back the multipliers LibRaw used, so it is still clip mode's away from the
    highlights (choosing the daylight ones itself, it was 9 % redder)."""
    path = write_dng(tmp_path / "x.dng", photo_linear, noise=False, preview=False)
    _patch_as_shot(path, neutral)
    got, clip = load_photo(path).linear, _clip_mode(path)
    near = Image.fromarray(((clip.max(-1) >= 0.8) * 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(9))
    far = np.asarray(near) == 0
    assert far.mean() > 0.2 and np.percentile(np.abs(got - clip)[far], 99.9) < 2e-3


def test_what_every_channel_clipped_is_a_neutral_grey_past_white(tmp_path: Path, photo_linear: np.ndarray) -> None:
    """What a white balance must leave alone (:func:`engine.filters.white_balance.blown`)."""
    blown = load_photo(write_dng(tmp_path / "blown.dng", photo_linear, exposure=5.0, noise=False)).linear
    fully = (photo_linear * np.float32(2**5.0) / np.array([2.0, 1.0, 1.5], np.float32) >= 1.0).all(-1)
    assert fully.mean() > 0.5
    grey = blown[4:-4, 4:-4][fully[4:-4, 4:-4]]  # the demosaic's border aside
    assert np.median(grey.min(-1)) > 1.2 and np.percentile(np.ptp(grey, -1) / grey.max(-1), 99) < 0.015


def test_preview_is_a_real_jpeg(dng_file: Path, dng_no_preview: Path) -> None:
    with rawpy.imread(str(dng_file)) as raw:
        thumb = raw.extract_thumb()
    assert thumb.format == rawpy.ThumbFormat.JPEG
    assert thumb.data[:2] == b"\xff\xd8" and thumb.data[-2:] == b"\xff\xd9"
    with rawpy.imread(str(dng_no_preview)) as raw:
        thumb = raw.extract_thumb()
    assert thumb.format == rawpy.ThumbFormat.BITMAP
    assert thumb.data.shape == (160, 256, 3)


def test_orientation_tag_and_odd_sizes(dng_rotated: Path, tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    with rawpy.imread(str(dng_rotated)) as raw:
        assert raw.sizes.flip == 6
    path = write_dng(tmp_path / "odd.dng", photo_srgb8[:399, :637])
    with rawpy.imread(str(path)) as raw:
        assert (raw.sizes.height, raw.sizes.width) == (398, 636)
    with pytest.raises(ValueError):
        write_dng(tmp_path / "bad.dng", photo_srgb8, orientation=9)
    with pytest.raises(ValueError):
        write_dng(tmp_path / "bad.dng", photo_srgb8[..., 0])


def test_write_is_atomic(tmp_path: Path, photo_srgb8: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    target = write_dng(tmp_path / "a.dng", photo_srgb8)
    before = target.read_bytes()
    import engine.io.dng as dng

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(dng, "mosaic", boom)
    monkeypatch.setattr(dng.tifffile.TiffWriter, "write", boom)
    with pytest.raises(RuntimeError):
        write_dng(target, photo_srgb8)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.dng"]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_default_crop_is_applied_as_the_camera_shows_it(tmp_path: Path, photo_srgb8: np.ndarray,
                                                           orientation: int) -> None:
    """A DNG's DefaultCrop (the masked sensor border a camera's JPEG leaves out) is cut from every
    decode, full and half size, turned with the photo, and the sizes say so: it was ignored, so a
    magenta border framed every render and export, unlike the embedded preview."""
    from engine.io import load_preview, read_metadata
    from engine.io.orientation import apply_orientation
    from engine.io.raw import load_raw

    h, w = photo_srgb8.shape[:2]
    h, w = h - h % 2, w - w % 2
    framed = np.zeros((h + 64, w + 96, 3), np.uint8)
    framed[...] = (255, 0, 255)  # the border: magenta
    framed[32:32 + h, 48:48 + w] = photo_srgb8[:h, :w]
    framed = framed[:, 16:]  # a border unequal on each side: a crop turned the wrong way shows it
    path = write_dng(tmp_path / "crop.dng", framed, orientation=orientation, noise=False,
                     default_crop=(32, 32, w, h))
    want = apply_orientation(photo_srgb8[:h, :w], orientation)
    lin = load_photo(path).linear
    assert lin.shape == want.shape
    assert psnr(lin[4:-4, 4:-4], srgb_decode(want[4:-4, 4:-4].astype(np.float32) / 255)) > 29  # the photo, upright
    edges = np.concatenate([lin[:2].reshape(-1, 3), lin[-2:].reshape(-1, 3), lin[:, :2].reshape(-1, 3),
                            lin[:, -2:].reshape(-1, 3)])
    assert (edges[:, 1] > 0.5 * edges[:, [0, 2]].min(1)).mean() > 0.95  # no magenta frame (green as low as it)
    half, meta = load_raw(path, half=True)
    assert abs(half.shape[0] - want.shape[0] / 2) <= 1 and abs(half.shape[1] - want.shape[1] / 2) <= 1
    assert (meta.height, meta.width) == want.shape[:2] == (read_metadata(path).height, read_metadata(path).width)
    prev = load_preview(path)
    assert abs(prev.shape[1] / prev.shape[0] - want.shape[1] / want.shape[0]) < 0.02  # the preview's framing


def test_a_raw_without_a_preview_is_previewed_as_it_renders(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    """No embedded image at all (the CFA alone): the preview and the filmstrip's thumbnail are a
    half-size decode through the render's pipeline. LibRaw's defaults auto-brightened them: a shot
    3 EV under showed bright, then the render replaced it dark."""
    from engine.io import load_preview

    path = write_dng(tmp_path / "bare.dng", photo_srgb8, preview=False, thumbnail=False, exposure=-3)
    with rawpy.imread(str(path)) as raw, pytest.raises(rawpy.LibRawNoThumbnailError):
        raw.extract_thumb()
    prev = load_preview(path).astype(np.float32)
    render = srgb_encode(load_photo(path).linear) * 255
    assert prev.shape[0] == render.shape[0] // 2 and prev.shape[1] == render.shape[1] // 2
    assert abs(prev.mean() - render.mean()) < 2 and render.mean() < 70  # dark, as the render


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_gives_an_upright_preview_render_and_size(tmp_path: Path, photo_srgb8: np.ndarray,
                                                                    orientation: int) -> None:
    """The mirrored orientations (2, 4, 5, 7; LibRaw's flip 1, 2, 4, 7) were read as 1: the
    preview stayed mirrored and 5 and 7 reported their sizes swapped."""
    from engine.io import load_preview, read_metadata
    from engine.io.orientation import apply_orientation

    undo = {6: 8, 8: 6}.get(orientation, orientation)  # each orientation's inverse
    stored = np.ascontiguousarray(apply_orientation(photo_srgb8, undo))
    path = write_dng(tmp_path / f"o{orientation}.dng", stored, orientation=orientation, noise=False)
    want = srgb_decode(photo_srgb8.astype(np.float32) / 255)
    lin = load_photo(path).linear
    assert lin.shape == want.shape and psnr(lin, want) > 29
    prev = load_preview(path)
    assert prev.shape == photo_srgb8.shape
    assert psnr(srgb_decode(prev.astype(np.float32) / 255), want) > 29
    meta = read_metadata(path)
    assert (meta.orientation, meta.height, meta.width) == (orientation, *photo_srgb8.shape[:2])


def test_a_raw_libraw_decodes_to_one_channel_opens_grey(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    """A CFA LibRaw reads as monochrome gave (H, W, 1) pixels: tracebacks in apply and auto, a
    photo the app never showed. It now opens as grey RGB."""
    path = write_dng(tmp_path / "mono.dng", photo_srgb8, preview=False, noise=False)
    data = path.read_bytes()
    entry = (33422).to_bytes(2, "little") + (1).to_bytes(2, "little") + (4).to_bytes(4, "little")
    at = data.index(entry) + len(entry)  # the CFAPattern's 4 bytes, inline in its IFD entry
    path.write_bytes(data[:at] + bytes([9, 9, 9, 9]) + data[at + 4:])
    img = load_photo(path).linear
    assert img.ndim == 3 and img.shape[2] == 3 and img.mean() > 0.01
    np.testing.assert_array_equal(img[..., 0], img[..., 2])


def test_the_decode_follows_the_white_balance_the_photo_was_shot_with(tmp_path: Path, photo_srgb8: np.ndarray) -> None:
    """A RAW opens with the camera's as-shot white balance (a tungsten setting outdoors comes out
    blue, as the camera's JPEG shows it), not the daylight balance of the sensor's matrix. The
    synthetic DNGs had both the same, so decoding with either went unnoticed."""
    daylight, tungsten = (2.0, 1.0, 1.5), (2.0 / 1.4, 1.0, 1.5 * 1.4)  # less red, more blue
    plain = load_photo(write_dng(tmp_path / "day.dng", photo_srgb8, wb=daylight, noise=False)).linear
    shot = load_photo(write_dng(tmp_path / "tungsten.dng", photo_srgb8, wb=daylight, as_shot=tungsten,
                                noise=False)).linear
    ratio = lambda lin: float(lin[..., 2].mean() / lin[..., 0].mean())  # noqa: E731 - blue over red
    assert ratio(shot) > 1.6 * ratio(plain)  # 1.4² = 1.96 ideally; clipping takes a little
