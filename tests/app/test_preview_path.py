"""The preview path a slider move takes: render straight into an RGB32 QImage at the photo's
on-screen size, drafts with a small cube while a slider is held, the full render on release."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage
from qt_helpers import TIMEOUT, open_and_wait, qimage_array, settle, shown

from app.renderer import render_qimage, to_display
from app.window_render import DRAFT_CUBE
from engine.recipe import Recipe, Step

TONE = [0.8, 1.1, 1.3, 1.2, 1.0, 0.9, 0.8, 0.9]
RECIPE = Recipe([Step("exposure", {"ev": 0.4}), Step("saturation", {"amount": 0.4}), Step("tone", {"slopes": TONE}),
                 Step("exposure", {"ev": -0.2})])


def histogram(rgb8: np.ndarray) -> np.ndarray:
    """The reference the engine's counting pass is checked against: (4, 256) counts of R, G, B and
    Rec.709 luma (0.2126, 0.7152, 0.0722 in 1/256) over every 4th pixel of every 4th row."""
    sub = rgb8[::4, ::4].reshape(-1, 3)
    r, g, b = (sub[:, c].astype(np.uint16) for c in range(3))
    lum = ((r * 54 + g * 183 + b * 19) >> 8).astype(np.uint8)
    return np.stack([np.bincount(sub[:, c], minlength=256) for c in range(3)]
                    + [np.bincount(lum, minlength=256)])


def test_render_qimage_is_the_uint8_render_without_conversion(qapp, photo_linear):
    img, hist = render_qimage(RECIPE, photo_linear, histogram=True)
    assert img.format() == QImage.Format.Format_RGB32  # what the raster paint engine blits as is
    assert (img.width(), img.height()) == (photo_linear.shape[1], photo_linear.shape[0])
    rgb8 = to_display(RECIPE, photo_linear)
    np.testing.assert_array_equal(qimage_array(img), rgb8)
    np.testing.assert_array_equal(hist, histogram(rgb8))
    again, none = render_qimage(RECIPE, photo_linear)  # a new buffer each time: the shown one is never rewritten

    def address(i: QImage) -> int:
        return np.frombuffer(i.constBits(), np.uint8).__array_interface__["data"][0]

    assert none is None and address(again) != address(img)
    np.testing.assert_array_equal(qimage_array(again), rgb8)


def test_slider_held_renders_drafts_then_the_full_preview(qtbot, win, folder):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.panel.add_step("saturation")
    settle(qtbot, win)
    full = shown(win)
    sent = []
    submit = win.renderer.submit
    win.renderer.submit = lambda req: (sent.append(req), submit(req))[1]
    slider = win.panel.steps.cards[0].controls["amount"].slider
    slider.setSliderDown(True)
    for v in range(520, 700, 60):
        slider.setValue(v)
        settle(qtbot, win)
    previews = [r for r in sent if r.kind == "preview"]
    assert previews and all(r.cube == DRAFT_CUBE for r in previews)  # drafts: a 17³ cube, quick to bake
    drafted = shown(win)
    assert drafted.shape != full.shape or not np.array_equal(drafted, full)
    sent.clear()
    slider.setSliderDown(False)
    qtbot.waitUntil(lambda: any(r.kind == "preview" and r.cube is None for r in sent), timeout=TIMEOUT)
    settle(qtbot, win)
    assert shown(win).shape == full.shape  # the full preview follows on release
    assert win._shown_source is win.preview_source(win.doc) and win.viewer.after.width() == win.on_screen()[0]


def test_preview_follows_the_window_size(qtbot, win, folder):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    v = win.viewer
    # rendered at the size it is shown; when a late layout change (the filmstrip filling in) resized
    # the viewer after the first render, the re-render follows its debounce
    qtbot.waitUntil(lambda: v.after.width() == win.on_screen()[0], timeout=TIMEOUT)
    first = win.on_screen()
    win.resize(900, 640)
    qtbot.waitUntil(lambda: win.on_screen() != first, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: v.after.width() == win.on_screen()[0], timeout=TIMEOUT)
    assert v.after.width() < first[0] and win._shown_source.shape[1] == v.after.width()


def test_a_photo_opened_while_the_last_ones_level_is_made_still_renders(qtbot, win, folder, monkeypatch):
    import threading

    import engine.render as er

    real, gate = er.resize_linear, threading.Event()

    def held(*args, **kwargs):  # the screen-size levels wait here (the photos are too small for
        gate.wait(30)           # the decode to call it)
        return real(*args, **kwargs)

    monkeypatch.setattr(er, "resize_linear", held)
    win.open_path(folder / "b_dune.jpg")
    qtbot.waitUntil(lambda: win.doc.preview_linear is not None and win._screen_busy, timeout=TIMEOUT)
    second = folder / "a_dune.dng"
    win.filmstrip.select_path(second)
    win.show_photo(second)
    qtbot.waitUntil(lambda: win.doc.path == second and win.doc.preview_linear is not None, timeout=TIMEOUT)
    # the second photo (640 px, shown larger) renders from its own level at once
    qtbot.waitUntil(lambda: win.shown_preview >= 0, timeout=TIMEOUT)
    assert win._shown_source is win.doc.preview_linear
    win.resize(760, 600)  # now it is shown smaller: it waits for a level while the first one's is still held
    qtbot.waitUntil(lambda: win._screen_wanted is not None and win._screen_wanted[0] is win.doc, timeout=TIMEOUT)
    gate.set()  # the first photo's level arrives late and is dropped; the second's is made and shown
    qtbot.waitUntil(lambda: win.viewer.after.width() == win.on_screen()[0] < 640, timeout=TIMEOUT)
    assert win.doc.path == second and win._shown_source is win.preview_source(win.doc)
