"""View ▸ Display Profile: on a wide-gamut screen the photo is shown converted from sRGB to the
screen's profile (as darktable and Lightroom show it), and nothing measured or saved changes."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QColorSpace
from qt_helpers import TIMEOUT, icon_image, open_and_wait, qimage_array, settle, shown

import app.window_display as window_display
from app import display
from app.window import MainWindow
from engine.color import srgb_decode, srgb_encode

# linear sRGB -> linear Display P3 (both D65; P3 keeps the sRGB curve)
SRGB_TO_P3 = np.array([[0.8225, 0.1774, 0.0000],
                       [0.0332, 0.9669, 0.0000],
                       [0.0171, 0.0724, 0.9108]])


@pytest.fixture(autouse=True)
def srgb_screen_after():
    yield
    display.set_current(None)  # module state: the next test's window starts from sRGB


@pytest.fixture
def p3_icc(tmp_path: Path) -> Path:
    """A Display P3 screen's profile, as a calibrator installs it."""
    path = tmp_path / "wide-gamut.icc"
    path.write_bytes(bytes(QColorSpace(QColorSpace.NamedColorSpace.DisplayP3).iccProfile()))
    return path


def on_p3(rgb8: np.ndarray) -> np.ndarray:
    """What sRGB bytes should become on a P3 screen, by the colour science, not through Qt."""
    lin = srgb_decode(rgb8.astype(np.float32) / 255) @ SRGB_TO_P3.T.astype(np.float32)
    return np.clip(srgb_encode(np.clip(lin, 0, 1)) * 255 + 0.5, 0, 255).astype(np.uint8)


def chroma(rgb8: np.ndarray) -> np.ndarray:
    x = rgb8.astype(int)
    return x.max(-1) - x.min(-1)


def test_a_wide_gamut_screen_is_shown_the_photo_converted_and_nothing_measured_changes(
        qtbot, win, folder, p3_icc):
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    win.panel.add_step("saturation")
    settle(qtbot, win)
    srgb = shown(win)
    hist = win.histogram.counts.copy()
    before_srgb = qimage_array(win.viewer.before.toImage())
    thumb_srgb = icon_image(win.filmstrip.items[folder / "b_dune.jpg"].icon())
    win.request_variations()
    qtbot.waitUntil(lambda: win.panel.var_box.isVisible() and len(win.variations) == 4, timeout=TIMEOUT)
    tile_srgb = tile(win)

    with qtbot.waitSignal(win.previewRendered, timeout=TIMEOUT):
        win.set_display_profile(str(p3_icc))
    settle(qtbot, win)
    assert "Display P3" in win.statusBar().currentMessage() and win.a_display_file.isChecked()
    p3 = shown(win)
    # the same render, converted as the colour science says (Qt's 8-bit tables: a level or two)
    err = np.abs(p3.astype(int) - on_p3(srgb))
    assert np.percentile(err, 99) <= 2 and err.mean() < 0.6
    # a P3 screen needs smaller numbers for the same colour (greys stay grey: on_p3 above)
    colourful = chroma(srgb) > 40
    assert colourful.mean() > 0.05
    assert chroma(p3)[colourful].mean() < chroma(srgb)[colourful].mean() - 5
    # the before view too, and the thumbnails (made again)
    qtbot.waitUntil(lambda: not np.array_equal(qimage_array(win.viewer.before.toImage()), before_srgb),
                    timeout=TIMEOUT)
    assert np.abs(qimage_array(win.viewer.before.toImage()).astype(int) - on_p3(before_srgb)).mean() < 0.6
    qtbot.waitUntil(lambda: not np.array_equal(icon_image(win.filmstrip.items[folder / "b_dune.jpg"].icon()),
                                               thumb_srgb), timeout=TIMEOUT)
    # a thumbnail standing in for its photo is shown as in the strip: not converted twice
    from app.viewer import _pixmap

    standin, _ = win.filmstrip.look(folder / "b_dune.jpg")
    shown_standin = qimage_array(_pixmap(standin).toImage()).astype(int)
    assert np.abs(shown_standin - icon_image(win.filmstrip.items[folder / "b_dune.jpg"].icon())).mean() < 0.5
    # the variations shown: converted once, from what they were shown as
    assert np.abs(tile(win).astype(int) - on_p3(tile_srgb)).mean() < 0.6
    # what is measured stays sRGB: the histogram, the edit
    np.testing.assert_array_equal(win.histogram.counts, hist)

    # sRGB again: exactly the bytes of before
    with qtbot.waitSignal(win.previewRendered, timeout=TIMEOUT):
        win.set_display_profile(display.SRGB)
    settle(qtbot, win)
    np.testing.assert_array_equal(shown(win), srgb)
    assert win.a_display_srgb.isChecked() and display.current() is None
    assert np.abs(tile(win).astype(int) - tile_srgb).mean() < 0.6  # back from P3, within its 8-bit steps


def tile(win) -> np.ndarray:
    """The first variation's thumbnail as shown."""
    from PySide6.QtCore import QSize

    return qimage_array(win.panel.var_buttons[0].icon().pixmap(QSize(160, 120)).toImage())


def test_the_chosen_profile_is_kept_and_a_bad_one_is_refused(qtbot, qapp, win, tmp_path, p3_icc, monkeypatch):
    win.set_display_profile(str(p3_icc))
    assert display.current() is not None
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert settings.value(window_display.SETTING) == str(p3_icc)
    win.close()
    display.set_current(None)
    again = MainWindow(settings)  # the next start shows through the same profile
    qtbot.addWidget(again)
    assert display.current() is not None and "Display P3" in display.current().description()
    assert again.a_display_file.isChecked() and again.a_display_file.text() == p3_icc.name

    # a file that is no ICC profile, picked: refused with the reason, the profile in use kept
    bad = tmp_path / "notes.icc"
    bad.write_text("not a profile")
    said = []
    monkeypatch.setattr(window_display, "show_error", lambda parent, title, text: said.append(text))
    monkeypatch.setattr(window_display.QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    again.choose_display_profile()
    assert said and "notes.icc cannot be used as the screen's profile: not an ICC colour profile." in said[0]
    assert settings.value(window_display.SETTING) == str(p3_icc) and display.current() is not None
    assert again.a_display_file.isChecked()

    # the chosen file gone by the next start: sRGB, said in the status bar, the choice kept
    moved = p3_icc.rename(tmp_path / "moved.icc")
    third = MainWindow(settings)
    qtbot.addWidget(third)
    assert display.current() is None
    assert "wide-gamut.icc cannot be read" in third.statusBar().currentMessage()
    assert settings.value(window_display.SETTING) == str(p3_icc)
    moved.rename(p3_icc)
    again.close()
    third.close()


def test_the_systems_profile_is_read_again_as_the_window_comes_forward(qtbot, win, folder, p3_icc, monkeypatch):
    """A calibration (colord, DisplayCAL) publishes a new profile while the app runs."""
    from PySide6.QtCore import QEvent

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    srgb = shown(win)
    monkeypatch.setattr(win, "isActiveWindow", lambda: True)
    monkeypatch.setattr(display, "system_icc", lambda screen=0: p3_icc.read_bytes())

    def come_forward(later: bool = True) -> None:
        if later:  # read again at most every 2 s: an X round trip at each click between windows
            win._display_read = 0.0
        win.changeEvent(QEvent(QEvent.Type.ActivationChange))

    with qtbot.waitSignal(win.previewRendered, timeout=TIMEOUT):
        come_forward()
    settle(qtbot, win)
    assert np.abs(shown(win).astype(int) - on_p3(srgb)).mean() < 0.6
    assert win.a_display_system.text() == "&System: Display P3"
    # a broken one published: said once, not at every activation; the screen taken as sRGB
    monkeypatch.setattr(display, "system_icc", lambda screen=0: b"junk" * 100)
    come_forward(later=False)
    assert display.current() is not None  # too soon: not read again
    come_forward()
    said = "The system's display profile is not an ICC colour profile; showing sRGB."
    assert win.statusBar().currentMessage() == said
    assert display.current() is None
    win.statusBar().clearMessage()
    come_forward()
    assert win.statusBar().currentMessage() == ""


def test_profiles_that_change_nothing_or_cannot_drive_a_screen(p3_icc):
    srgb = display.from_icc(bytes(QColorSpace(QColorSpace.NamedColorSpace.SRgb).iccProfile()), "file")
    assert srgb.space is None  # sRGB itself: nothing is converted
    from app.window_display import DisplayMixin

    assert DisplayMixin._display_message(srgb, "/x/s.icc") == (
        f"Display profile: {srgb.description} (from the chosen file): photos are shown unconverted")
    assert DisplayMixin._display_message(display.Profile(None, "Monitor 1", "system"), display.SYSTEM) == (
        "Display profile: Monitor 1 (from the system), the same as sRGB: photos are shown unconverted")
    p3 = display.from_icc(bytes(QColorSpace(QColorSpace.NamedColorSpace.DisplayP3).iccProfile()), "file")
    assert p3.space is not None and p3.description == "Display P3"
    with pytest.raises(display.ProfileError, match="not an ICC"):
        display.from_icc(b"\0" * 200, "file")
    from PIL import ImageCms

    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # LittleCMS's Lab profile
    with pytest.raises(display.ProfileError, match=r"an abstract profile, not a screen's profile"):
        display.from_icc(lab, "file")
    icc = bytearray(p3_icc.read_bytes())
    icc[100:200] = b"\xff" * 100  # a damaged tag table
    with pytest.raises(display.ProfileError, match=r"RGB profile Qt cannot read|not an ICC"):
        display.from_icc(bytes(icc), "file")
    with pytest.raises(display.ProfileError, match="too large"):
        display.from_icc(b"\0" * (display.MAX_PROFILE_BYTES + 1), "file")
    # without an X server (offscreen, Wayland) the system gives none: sRGB, with nothing to say
    assert display.resolve(display.SYSTEM) == (display.Profile(None, "sRGB", "none"), None)


@contextlib.contextmanager
def xvfb():
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("Xvfb is not installed (make setup installs it)")
    for n in range(140, 160):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            break
    # -noreset: the server would otherwise reset, dropping its properties, as each client leaves
    proc = subprocess.Popen([exe, f":{n}", "-noreset", "-screen", "0", "640x480x24"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if Path(f"/tmp/.X11-unix/X{n}").exists():
                break
            time.sleep(0.05)
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_system_profile_is_read_from_the_x_server(p3_icc):
    """The root window's _ICC_PROFILE, as colord and DisplayCAL publish it (one per screen)."""
    lib = display._libx11()
    if lib is None:
        pytest.skip("no libX11")
    icc = p3_icc.read_bytes()
    with xvfb() as name:
        assert display.read_x11_profile(0, name) is None  # none published yet
        dpy = lib.XOpenDisplay(name.encode())
        assert dpy
        lib.XChangeProperty.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                                        ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        cardinal = lib.XInternAtom(dpy, b"CARDINAL", False)
        root = lib.XDefaultRootWindow(dpy)
        lib.XChangeProperty(dpy, root, lib.XInternAtom(dpy, b"_ICC_PROFILE", False), cardinal, 8, 0, icc, len(icc))
        lib.XSync(dpy, 0)
        try:
            assert display.read_x11_profile(0, name) == icc
            assert display.read_x11_profile(1, name) is None  # the second screen has none of its own
            profile = display.from_icc(display.read_x11_profile(0, name), "system")
            assert profile.description == "Display P3" and profile.space is not None
        finally:
            lib.XCloseDisplay(dpy)
    assert display.read_x11_profile(0, name) is None  # the server is gone: None, no crash
    assert os.environ.get("DISPLAY") != name
