"""A large RAW opens from a half-size decode first: editable in seconds, the full decode following."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from qt_helpers import TIMEOUT, settle

import app.window as window_mod
from app.loading import PREVIEW_EDGE, QUICK_RAW_BYTES


@pytest.fixture(scope="module")
def big_dng(tmp_path_factory, photo_srgb8: np.ndarray) -> Path:
    """The real photo at 4800x3000 as an uncompressed 14 MP DNG (~29 MB): half its sensor still
    fills the 2048 px preview level."""
    from engine.io.dng import write_dng

    big = np.asarray(Image.fromarray(photo_srgb8).resize((4800, 3000), Image.Resampling.BICUBIC))
    path = tmp_path_factory.mktemp("big") / "big.dng"
    write_dng(path, big, seed=3)
    assert path.stat().st_size >= QUICK_RAW_BYTES
    return path


def test_a_large_raw_is_editable_before_its_full_decode(qtbot, win, big_dng, monkeypatch):
    shown_first = threading.Event()
    real_full = window_mod.decode

    def full(path, wanted=None):  # held back until the photo is shown, as a slow decode would be
        shown_first.wait(TIMEOUT / 1000)  # (waiting for the quick levels alone lost a race under load once)
        return real_full(path, wanted)

    monkeypatch.setattr(window_mod, "decode", full)
    try:
        with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
            win.open_path(big_dng)
        doc = win.doc
        assert doc.linear is None  # shown from the half-size decode; the full one still runs
    finally:
        shown_first.set()
    levels = doc.preview_linear
    assert max(levels.shape[:2]) == PREVIEW_EDGE and (win.viewer.full.width(), win.viewer.full.height()) == (4800, 3000)
    assert "4800 × 3000" in win.info_label.text()
    win.panel.add_step("exposure")  # editable at once
    qtbot.waitUntil(lambda: doc.linear is not None, timeout=TIMEOUT * 2)
    assert doc.linear.shape == (3000, 4800, 3)
    assert doc.preview_linear is levels  # the screen does not change when the full decode lands
    settle(qtbot, win)
    # the half-size levels look as the full decode's would: the same photo, the same colours
    from app.loading import small

    full_level = small(doc.linear, PREVIEW_EDGE)
    assert np.abs(full_level.mean((0, 1)) - levels.mean((0, 1))).max() < 0.01
    win.viewer.zoom_100()  # 100 % crops come from the full decode
    qtbot.waitUntil(lambda: win.viewer.detail is not None, timeout=TIMEOUT)


def test_a_full_decode_failing_after_the_quick_one_keeps_the_photo_and_its_edits(qtbot, win, big_dng, monkeypatch,
                                                                                     tmp_path):
    """The photo turned '⚠ cannot be opened' under the photographer's edits, which were then
    neither saved nor asked about at quit."""
    import shutil

    from engine.io import ImageError
    from engine.recipe import read_sidecar

    big_dng = Path(shutil.copy(big_dng, tmp_path / "big.dng"))  # its own sidecar

    quick_in = threading.Event()
    real_quick = window_mod.decode_quick

    def quick(path, wanted=None):
        try:
            return real_quick(path, wanted)
        finally:
            quick_in.set()

    def full(path, wanted=None):  # fails once the quick levels are on screen
        quick_in.wait(TIMEOUT / 1000)
        deadline = time.monotonic() + TIMEOUT / 1000
        while (win.doc is None or win.doc.preview_linear is None) and time.monotonic() < deadline:
            time.sleep(0.05)
        raise ImageError("LibRaw could not decode the RAW data (out of memory)", path)

    monkeypatch.setattr(window_mod, "decode_quick", quick)
    monkeypatch.setattr(window_mod, "decode", full)
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.open_path(big_dng)
    doc = win.doc
    win.panel.add_step("exposure")
    qtbot.waitUntil(lambda: "full-resolution decode failed" in win.statusBar().currentMessage(), timeout=TIMEOUT)
    assert not doc.failed and win.panel.auto.isEnabled()
    win.flush_sidecars(wait=True)
    assert [s.op for s in read_sidecar(big_dng).steps] == ["exposure"]


def test_coming_back_while_its_decodes_run_starts_none_again(qtbot, win, big_dng, photo_jpeg, monkeypatch, tmp_path):
    """Left and shown again within a second, a large RAW started a second quick and full decode
    beside the first ones, which were wanted again: two decodes of a 45 MP RAW at once."""
    import shutil

    d = tmp_path / "s"
    d.mkdir()
    shutil.copy(big_dng, d / "a_big.dng")
    shutil.copy(photo_jpeg, d / "b.jpg")
    gate, started = threading.Event(), []
    real_quick, real_full = window_mod.decode_quick, window_mod.decode

    def held(real, kind):
        def run(path, wanted=None):
            started.append((kind, path.name))
            if path.suffix == ".dng":
                gate.wait(TIMEOUT / 1000)
            return real(path, wanted)
        return run

    monkeypatch.setattr(window_mod, "decode_quick", held(real_quick, "quick"))
    monkeypatch.setattr(window_mod, "decode", held(real_full, "full"))
    win.open_path(d / "a_big.dng")
    win.filmstrip.step(+1)  # to the JPEG, while the RAW's decodes wait (and hold the pool's threads)
    assert win.doc.path.name == "b.jpg"
    win.filmstrip.step(-1)  # and back
    gate.set()
    qtbot.waitUntil(lambda: win.doc.linear is not None, timeout=TIMEOUT * 2)
    assert sorted(k for k in started if k[1] == "a_big.dng") == [("full", "a_big.dng"), ("quick", "a_big.dng")]


def test_a_large_jpeg_is_editable_and_shown_edited_before_its_full_decode(qtbot, win, photo_srgb8, tmp_path,
                                                                          monkeypatch):
    """A 24 MP camera JPEG was editable, and shown with its edits, only after its full decode in a
    child (2 s; an edited one showed its blurred thumbnail until then). Its reduced decode (DCT
    scaling, as its quick preview) gives the preview levels first, as a large RAW's half-size one."""
    from app.loading import QUICK_JPEG_BYTES, small
    from engine.recipe import Recipe, Step, sidecar_path

    rng = np.random.default_rng(0)
    big = np.asarray(Image.fromarray(photo_srgb8).resize((4800, 3000), Image.Resampling.BICUBIC), np.int16)
    big = np.clip(big + rng.integers(-6, 7, big.shape), 0, 255).astype(np.uint8)  # a camera's grain
    path = tmp_path / "big.jpg"
    Image.fromarray(big).save(path, quality=92)
    assert path.stat().st_size >= QUICK_JPEG_BYTES
    Recipe([Step("exposure", {"ev": 1.0})]).save(sidecar_path(path))
    gate, real_full = threading.Event(), window_mod.decode
    monkeypatch.setattr(window_mod, "decode", lambda p, wanted=None: gate.wait(TIMEOUT / 1000) and real_full(p, wanted))
    try:
        with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
            win.open_path(path)
        doc = win.doc
        assert doc.linear is None and max(doc.preview_linear.shape[:2]) == PREVIEW_EDGE
        assert (win.viewer.full.width(), win.viewer.full.height()) == (4800, 3000)
        settle(qtbot, win)
        assert win.render_label.text().startswith("render")  # its edits on screen, the full decode held
    finally:
        gate.set()
    levels = doc.preview_linear
    qtbot.waitUntil(lambda: doc.linear is not None, timeout=TIMEOUT * 2)
    assert doc.preview_linear is levels  # the screen does not change when the full decode lands
    full_level = small(doc.linear, PREVIEW_EDGE)
    assert np.abs(full_level - levels).mean() < 0.005  # the same photo, the same colours
