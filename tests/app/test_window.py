"""Window conventions: shortcuts, zoom/pan and the 100 % detail crop, drag and drop, settings, About."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox
from qt_helpers import TIMEOUT, auto_and_wait, open_and_wait, qimage_array, settle, shown

from app.commands import ReplaceRecipe
from app.window import MainWindow


def test_shortcuts_undo_redo_and_split(qtbot, win, folder):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    auto_and_wait(qtbot, win)
    n = len(win.doc.recipe)
    assert n >= 2
    win.activateWindow()
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(win.doc.recipe) == 0
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert len(win.doc.recipe) == n
    assert not win.viewer.split
    plain = qimage_array(win.viewer.grab().toImage())
    qtbot.keyClick(win, Qt.Key.Key_Backslash)
    assert win.viewer.split and win.a_split.isChecked()
    split = qimage_array(win.viewer.grab().toImage())
    # left of the line: the unedited photo (differs from the edit); right of it: the edit, unchanged
    r = win.viewer.image_rect()
    sx = int(win.viewer.split_x * win.viewer.width())
    y0, y1 = int(r.top()) + 40, int(r.bottom()) - 5  # below the Before/After labels
    left = np.s_[y0:y1, int(r.left()) + 5:sx - 5]
    right = np.s_[y0:y1, sx + 5:int(r.right()) - 5]
    assert np.abs(split[left].astype(int) - plain[left]).mean() > 2
    assert np.abs(split[right].astype(int) - plain[right]).mean() < 0.5
    qtbot.keyClick(win, Qt.Key.Key_Backslash)
    assert not win.viewer.split


def test_the_before_side_is_rendered_as_the_after_side_is(qtbot, win, folder):
    """At fit the before view was the 2048 px level scaled at paint time, the after view a level
    made at the size on screen: unedited, 6-19 % of the before side's pixels were 5 to 49 levels
    off the photo shown plain (crisper, more aliased), so an edit seemed to soften the photo."""
    win.resize(700, 560)  # the 640 px photo shown smaller than it is: a screen-size level
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    v = win.viewer
    assert v.scale < 0.9 and len(win.doc.recipe) == 0
    v.toggle_split()
    qtbot.waitUntil(lambda: v.before is not None and v.before.size() == v.after.size(), timeout=TIMEOUT)
    assert np.array_equal(qimage_array(v.before.toImage()), shown(win))
    was = v.after.width()
    v.set_zoom(v.scale * 1.15)  # another size on screen (still below the photo's): the before side follows
    qtbot.waitUntil(lambda: v.after.width() > was * 1.1, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: v.before.size() == v.after.size(), timeout=TIMEOUT)
    assert np.array_equal(qimage_array(v.before.toImage()), shown(win))


def test_on_a_200_percent_screen_zoom_and_detail_count_device_pixels(qtbot, win, folder, monkeypatch):
    """At 200 % a fitted photo drawn over more device pixels than the preview has was the preview
    stretched (soft on a 4K laptop), and "100 %" showed each image pixel as 2x2 device pixels."""
    monkeypatch.setattr("app.loading.PREVIEW_EDGE", 320)  # the 640 px fixture's preview: half its size
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    v = win.viewer
    monkeypatch.setattr(v, "devicePixelRatioF", lambda: 2.0)
    v.set_zoom(0.4)  # 0.8 device pixels per image pixel: more than the preview's 0.5
    assert v.device_scale() == pytest.approx(0.8) and v.needs_detail()
    qtbot.waitUntil(lambda: v.detail is not None, timeout=TIMEOUT)
    v.zoom_100()
    assert v.scale == pytest.approx(0.5) and v.device_scale() == pytest.approx(1.0)
    assert win.zoom_label.text() == "100 %"


def test_the_photo_pans_and_the_split_moves_from_the_keyboard(qtbot, win, folder):
    """Arrows pan a zoomed photo, Alt+arrows move the Before / After line: only a mouse could."""
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    v = win.viewer
    v.set_zoom(2.0)
    c0 = QPointF(v.center)
    qtbot.keyClick(v, Qt.Key.Key_Right)
    assert v.center.x() == pytest.approx(c0.x() + v.width() * 0.1 / 2.0)
    qtbot.keyClick(v, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert v.center.y() > c0.y()
    qtbot.keyClick(v, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)  # no Before / After: a pan
    assert v.split_x == 0.5 and v.center.x() == pytest.approx(c0.x())
    v.set_split(True)
    qtbot.keyClick(v, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert v.split_x == pytest.approx(0.45)
    # wherever the keyboard is (a step's slider): the window's View menu has them
    win.panel.add_step("exposure")
    settle(qtbot, win)
    slider = win.panel.steps.cards[0].controls["ev"].slider
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(slider, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert v.split_x == pytest.approx(0.55) and win.doc.recipe.steps[0].params["ev"] == 0


def test_wheel_zoom_pan_and_full_resolution_detail(qtbot, win, folder, monkeypatch):
    monkeypatch.setattr("app.loading.PREVIEW_EDGE", 320)  # the 640 px fixture then needs detail crops
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    v = win.viewer
    assert v.fit and v.preview_scale() == 0.5
    assert not v.needs_detail() or v.scale > 0.5
    fit = v.scale
    anchor = QPointF(v.width() * 0.3, v.height() * 0.4)
    under = v.to_image(anchor)
    v.wheelEvent(_wheel(anchor, 120 * 3))  # three notches: x1.25^3
    assert abs(v.scale - fit * 1.25 ** 3) < 1e-9 and not v.fit
    moved = v.to_image(anchor)
    assert abs(moved.x() - under.x()) < 1 and abs(moved.y() - under.y()) < 1  # zoom about the cursor
    # pan by dragging
    c0 = QPointF(v.center)
    qtbot.mousePress(v, Qt.MouseButton.LeftButton, pos=QPoint(200, 200))
    qtbot.mouseMove(v, QPoint(150, 180))
    qtbot.mouseRelease(v, Qt.MouseButton.LeftButton, pos=QPoint(150, 180))
    assert v.center.x() > c0.x()
    # beyond the preview's resolution a crop of the full-resolution image is rendered
    v.set_zoom(4.0)
    assert v.needs_detail()
    qtbot.waitUntil(lambda: v.detail is not None, timeout=TIMEOUT)
    pix, rect = v.detail
    vis = v.visible_rect()
    assert rect.contains(vis.adjusted(2, 2, -2, -2))
    assert pix.width() == round(rect.width())  # 1 image pixel per crop pixel: full resolution
    # Before / After at that zoom: both sides at full resolution (the Before side was the preview
    # stretched, so an exposure edit looked as if it had sharpened the photo)
    win.panel.add_step("exposure")
    win.panel.steps.cards[0].controls["ev"].spin.setValue(0.7)
    v.set_split(True)
    qtbot.waitUntil(lambda: v.detail_before is not None and v.detail is not None
                    and v.detail_before[1] == v.detail[1], timeout=TIMEOUT)
    before, after = (qimage_array(d[0].toImage()).astype(float) for d in (v.detail_before, v.detail))
    x0, y0, w, h = (int(c) for c in v.detail[1].getRect())
    from engine.color import srgb_encode

    want = np.round(srgb_encode(win.doc.linear[y0:y0 + h, x0:x0 + w]) * 255)
    assert np.abs(before - want).max() <= 1 and after.mean() > before.mean() + 20
    v.set_zoom(0.4)
    qtbot.waitUntil(lambda: v.detail is None and v.detail_before is None, timeout=TIMEOUT)


def _wheel(pos: QPointF, delta: int):
    from PySide6.QtGui import QWheelEvent

    return QWheelEvent(pos, pos, QPoint(0, 0), QPoint(0, delta), Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)


def test_drop_folder_opens_it(qtbot, win, folder):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    ev = QDropEvent(QPointF(100, 100), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                    Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.dropEvent(ev)
    assert win.folder == folder and win.filmstrip.count() == 2


def test_settings_restore_geometry_and_recent(qtbot, win, folder, tmp_path):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.resize(731, 555)  # within the offscreen screen (800x600): restoreGeometry clamps to it
    saved = (win.width(), win.height())  # the layout's minimum height depends on the fonts
    assert saved[0] == 731 and 555 <= saved[1] < 600, saved
    win.close()
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert s.value("recent/folders") in ([str(folder)], str(folder))
    w2 = MainWindow(s)
    qtbot.addWidget(w2)
    assert (w2.width(), w2.height()) == saved
    assert [a.text() for a in w2.recent_menu.actions()] == [str(folder)]
    w2.close()


def test_about_lists_models_and_device(qtbot, win, folder):
    from app import agent as agent_mod

    text = win.about_text()
    assert "Models" in text and "Device" in text
    assert "white balance: learned colour constancy (wb.onnx)" in text  # Auto's measured steps, as shipped
    assert "exposure and contrast: learned meter (meter.onnx)" in text
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    auto_and_wait(qtbot, win)
    text = win.about_text()
    device = next(iter(agent_mod.loaded_agents().values())).device
    assert device in ("CPU", "CUDA") and f"<b>Device</b>: {device}" in text
    for m in agent_mod.available_models():
        assert str(m) in text
    if agent_mod.available_models():
        assert "(in use)" in text


def test_without_a_model_auto_says_so_instead_of_a_stand_in(qtbot, win, folder, monkeypatch):
    """No made-up recipe: Auto fails with a message naming what is missing; the steps stay."""
    from app import agent as agent_mod
    from app.errors import friendly
    from engine.runners import ModelError

    monkeypatch.setattr(agent_mod, "available_models", lambda: [])
    monkeypatch.setattr(agent_mod, "_cache", {})
    try:
        agent_mod.get_agent(None)
    except ModelError as e:
        what, todo = friendly(e)
        assert "no agent model is installed" in what and "Default" in todo
    else:
        raise AssertionError("an agent without a model")
    assert "none installed: Auto and Variations are unavailable" in win.about_text()


def test_disabled_panels_say_coming(win):
    names = [win.tabs.tabText(i) for i in range(win.tabs.count())]
    assert names == ["Retouch", "Low light", "Complete", "Restore"]
    assert win.tabs.isTabEnabled(0)
    for i in (1, 2, 3):
        assert not win.tabs.isTabEnabled(i) and "coming" in win.tabs.tabToolTip(i)


def test_flicking_through_photos_skips_stale_decodes(qtbot, win, folder):
    import threading

    from app import loading

    outcomes, running, most, lock = [], {}, {}, threading.Lock()
    real = loading.decode

    def spy(path, wanted=None):
        with lock:
            running[path] = running.get(path, 0) + 1
            most[path] = max(most.get(path, 0), running[path])
        try:
            res = real(path, wanted)
        except loading.Skipped:
            outcomes.append(("skipped", path.name))
            raise
        finally:
            with lock:
                running[path] -= 1
        outcomes.append(("decoded", path.name))
        return res

    import app.window as window_mod

    window_mod.decode = spy
    try:
        win.open_path(folder)
        with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
            for _ in range(3):
                win.filmstrip.step(+1)
                win.filmstrip.step(-1)
            win.filmstrip.step(+1)
        assert win.doc.path.name == "b_dune.jpg"
        settle(qtbot, win)
    finally:
        window_mod.decode = real
    qtbot.waitUntil(lambda: not any(d.decoding for d in win.docs.values()), timeout=TIMEOUT)
    # open + 7 switches between two photos: never two decodes of one photo at once, whatever the
    # flicking (a photo shown again while its decode still ran started another beside it), each
    # decoded at most once; the one left behind is stopped unless it finished first. (A decode that
    # had already stopped itself when its photo came back is followed by a new one: on a loaded
    # machine that is a third call, as a fresh-clone run saw once.)
    assert set(most.values()) == {1} and len(most) == 2, (most, outcomes)
    done = [name for what, name in outcomes if what == "decoded"]
    assert "b_dune.jpg" in done and len(done) == len(set(done)), outcomes
    assert len(outcomes) <= 3, outcomes


def test_a_photo_shown_again_while_its_decode_skipped_itself_is_decoded(qtbot, win, folder, monkeypatch):
    """Its decode started while another photo was shown and skipped itself; the photo, shown again
    before that news arrived, found the decode still counted as running and started none: it stayed
    on its embedded preview for good (a fresh-clone run's flicking test timed out on it once)."""
    import threading

    import app.window as window_mod
    from app import loading

    real, gate, skipped = loading.decode, threading.Event(), threading.Event()
    b = folder / "b_dune.jpg"

    def held(path, wanted=None):
        if path == b and not skipped.is_set():
            gate.wait(30)  # starts only once the photographer has moved on
            try:
                return real(path, wanted)
            except loading.Skipped:
                skipped.set()
                raise
        return real(path, wanted)

    monkeypatch.setattr(window_mod, "decode", held)
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    win.show_photo(b)
    win.show_photo(folder / "a_dune.dng")
    gate.set()
    assert skipped.wait(30)  # its news is queued for the GUI thread, not yet read
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.show_photo(b)  # back on it before the news is read
    assert win.doc.path == b and win.doc.linear is not None


def test_preview_level_follows_screen_resolution(qtbot, win, tmp_path, photo_jpeg):
    from PIL import Image

    big = tmp_path / "big" / "dune_big.jpg"
    big.parent.mkdir()
    with Image.open(photo_jpeg) as im:
        im.convert("RGB").resize((2400, 1500), Image.Resampling.LANCZOS).save(big, quality=92)
    open_and_wait(qtbot, win, big)
    v = win.viewer
    assert v.fit and 2400 * v.scale <= 1024  # fit in this window: shown smaller than the draft level
    # so the preview is rendered at the size shown (once that copy is made; until then, a cached level)
    qtbot.waitUntil(lambda: v.after.width() == win.on_screen()[0], timeout=TIMEOUT)
    assert win.on_screen()[0] < 1024
    assert v.finest_preview == 2048 / 2400
    v.set_zoom(0.7)  # 1680 px on screen: a 1680 px copy of the 2048 px level
    qtbot.waitUntil(lambda: v.after.width() == 1680, timeout=TIMEOUT)
    assert v.detail is None and not v.needs_detail()
    # while a slider is held the preview follows from the draft level, then the full level
    win.panel.add_step("exposure")
    settle(qtbot, win)
    slider = win.panel.steps.cards[0].controls["ev"].slider
    slider.setSliderDown(True)
    slider.setValue(slider.value() + 100)
    settle(qtbot, win)
    assert v.after.width() == 1024
    slider.setSliderDown(False)
    qtbot.waitUntil(lambda: v.after.width() == 1680, timeout=TIMEOUT)
    assert win.doc.undo.count() == 2  # add step + one drag
    v.set_zoom(1.0)  # past the 2048 level: that level, plus full-resolution crops of the visible region
    qtbot.waitUntil(lambda: v.detail is not None and v.after.width() == 2048, timeout=TIMEOUT)
    assert v.detail[0].width() == round(v.detail[1].width())
    v.set_fit()
    qtbot.waitUntil(lambda: v.after.width() == win.on_screen()[0] and v.detail is None, timeout=TIMEOUT)


def test_reset_is_undoable_and_batch_dialog_opens_on_the_folder(qtbot, win, folder):
    from app.batch_dialog import BatchDialog

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    auto_and_wait(qtbot, win)
    edited = win.doc.recipe.to_json()
    win.reset()
    assert len(win.doc.recipe) == 0 and win.panel.steps.inner.empty.isVisible()
    win.undo_group.undo()
    assert win.doc.recipe.to_json() == edited
    win.set_strength(0.35)
    dlg = win.batch_export()
    assert isinstance(dlg, BatchDialog) and dlg.in_dir.text() == str(folder)
    # the batch's Auto is the window's: its style and strength, said in the dialog
    assert "shipped model, strength 35 %" in dlg.auto_label.text()
    dlg.src_auto.setChecked(True)
    settings = dlg.plan()[0].settings
    assert (settings.source, settings.model, settings.strength) == ("auto", None, 0.35)
    dlg.close()


def test_measured_step_cards_name_the_estimator_in_use(qtbot, win, folder, monkeypatch, tmp_path):
    """The measured white balance card says which estimator made it, as its step records: the
    learned colour constancy as shipped, max-RGB when Auto fell back to it (a sidecar of
    ``retouch auto --white-balance max-rgb``, or no model installed)."""
    import app.steps as steps_mod
    from engine.recipe import Recipe

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    auto_and_wait(qtbot, win)
    cards = win.panel.steps.cards
    wb = next(c for c in cards if c.doc.recipe.steps[c.index].source == "auto-white-balance")
    assert wb.confidence.text() == "Auto white balance, measured from the photo"  # one line; how, in its tip
    assert "(learned colour constancy), 70 % of the cast removed" in wb.confidence.toolTip()
    steps = [replace(s, source="auto-white-balance-max-rgb") if s.source == "auto-white-balance" else s
             for s in win.doc.recipe]
    win.doc.undo.push(ReplaceRecipe(win.doc, Recipe(steps), "max-RGB"))
    settle(qtbot, win)
    cards = win.panel.steps.cards
    wb = next(c for c in cards if c.doc.recipe.steps[c.index].source == "auto-white-balance-max-rgb")
    assert "(max-RGB), 70 % of the cast removed" in wb.confidence.toolTip()
    monkeypatch.setattr(steps_mod, "DEFAULT_METER", tmp_path / "none.onnx")
    ev = next(c for c in cards if c.doc.recipe.steps[c.index].source == "auto-exposure")
    assert "learned meter" not in ev._how_text() and "brightest channel" in ev._how_text()


def test_auto_pressed_twice_runs_once_and_a_failed_photo_gets_no_auto(qtbot, win, folder, dng_file):
    """The shortcut pressed twice while Auto runs adds one undo entry, not two (the first Undo
    seemed to do nothing); on a photo that could not be opened, Auto says so instead of "still
    opening", and its buttons stay off when another photo's job ends."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    doc = win.doc
    win.auto()
    win.auto()  # at once, as a double tap of Ctrl+Shift+A would
    qtbot.waitUntil(lambda: not win._running, timeout=TIMEOUT)
    assert doc.undo.count() == 1 and win.panel.auto.isEnabled()
    win.auto()  # again on its own result: nothing new to undo
    qtbot.waitUntil(lambda: not win._running, timeout=TIMEOUT)
    assert doc.undo.count() == 1

    bad = folder / "c_broken.dng"
    bad.write_bytes(dng_file.read_bytes()[:4096] + bytes(range(256)) * 64)
    win.request_variations()  # a job on this photo that ends after the switch
    with qtbot.waitSignal(win.photoFailed, timeout=TIMEOUT):
        win.open_path(bad)
    qtbot.waitUntil(lambda: not win._running, timeout=TIMEOUT)
    for box in QApplication.topLevelWidgets():
        if isinstance(box, QMessageBox):
            box.close()
    assert not win.panel.auto.isEnabled() and not win.panel.vary.isEnabled()
    win.auto()
    assert "could not be opened" in win.panel.status.text() and not win._running


def test_an_auto_that_lands_after_an_edit_keeps_the_edit(qtbot, win, folder):
    """A variation adopted (or any edit) while Auto still runs is what the photographer chose
    last: Auto's late result must not replace it, and the status says why nothing changed."""
    from engine.recipe import Recipe, Step

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    doc = win.doc
    win.auto()  # its result arrives through the event loop, after the edit below
    chosen = Recipe([Step("exposure", {"ev": 0.7})])
    doc.undo.push(ReplaceRecipe(doc, chosen, "Variation 2"))
    qtbot.waitUntil(lambda: not win._running, timeout=TIMEOUT)
    assert doc.recipe.dumps() == chosen.dumps() and doc.undo.count() == 1
    assert "your edit is kept" in win.panel.status.text()
    win.auto()  # pressed again on purpose: it replaces the edit, as one undo step
    qtbot.waitUntil(lambda: not win._running, timeout=TIMEOUT)
    assert doc.recipe.dumps() != chosen.dumps() and doc.undo.count() == 2


def test_a_remembered_style_deleted_since_gives_way_to_default(qtbot, qapp, tmp_path):
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    s.setValue("agent/model", str(tmp_path / "gone.onnx"))  # deleted outside the app
    w = MainWindow(s)
    qtbot.addWidget(w)
    assert w.model is None  # Auto uses the shipped model, as the Style list shows
    w.close()


@pytest.mark.parametrize("sig", ["SIGINT", "SIGHUP"])
def test_ctrl_c_in_the_terminal_closes_the_window_saving_edits(qtbot, win, folder, sig, monkeypatch):
    """Python runs a signal handler only between its own bytecodes, so under Qt's event loop a
    Ctrl-C did nothing at all: the app had to be killed. Now it closes the window (edits saved),
    and so does closing the terminal it was started from (SIGHUP), which ended it at once."""
    import os
    import signal

    from app.main import _close_on_ctrl_c
    from engine.recipe import read_sidecar

    photo = folder / "b_dune.jpg"
    open_and_wait(qtbot, win, photo)
    win.panel.add_step("exposure")  # an edit whose sidecar is still to be written
    kinds = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {s: signal.getsignal(s) for s in kinds}
    heard: list[int] = []  # the real one sends this process's output to /dev/null: pytest's own, here
    monkeypatch.setattr("engine.interrupts.hung_up", heard.append)
    try:
        interrupted = _close_on_ctrl_c(win)
        os.kill(os.getpid(), getattr(signal, sig))
        qtbot.waitUntil(lambda: not win.isVisible(), timeout=TIMEOUT)
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    assert interrupted and heard == [getattr(signal, sig)]
    qtbot.waitUntil(lambda: read_sidecar(photo) is not None, timeout=TIMEOUT)
    assert [s.op for s in read_sidecar(photo)] == ["exposure"]


def test_next_photo_selects_only_the_photo_it_shows(qtbot, win, folder, photo_jpeg):
    """Ctrl+Right kept an earlier Ctrl-click selection (the shortcut's Ctrl held), so Paste and
    Export went to photos no longer on screen."""
    import shutil

    for name in ("c_dune.jpg", "d_dune.jpg"):
        shutil.copy(photo_jpeg, folder / name)
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    strip = win.filmstrip
    for name in ("a_dune.dng", "b_dune.jpg"):
        strip.items[folder / name].setSelected(True)
    assert len(strip.selected_paths()) == 2
    win.show()
    qtbot.waitExposed(win)
    for _ in range(2):
        qtbot.keyClick(win, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: win.doc is not None and win.doc.path == folder / "c_dune.jpg", timeout=TIMEOUT)
    assert strip.selected_paths() == [folder / "c_dune.jpg"] == win.paste_targets()


def test_auto_pressed_while_the_photo_opens_runs_once_it_has(qtbot, win, folder):
    """It was refused with "try again in a moment", a message left standing after the photo opened."""
    win.open_path(folder / "a_dune.dng")
    doc = win.doc
    assert doc is not None and doc.preview_linear is None  # still decoding
    win.auto()
    assert "as soon as the photo has opened" in win.panel.status.text()
    qtbot.waitUntil(lambda: doc.undo.count() == 1, timeout=TIMEOUT)
    settle(qtbot, win)
    assert len(doc.recipe) > 0 and "opened" not in win.panel.status.text()
    # pressed on a photo left before it opened, it does not follow to the next one
    win.open_path(folder / "b_dune.jpg")
    win.auto()
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.filmstrip.select_path(folder / "a_dune.dng")
    settle(qtbot, win)
    assert "as soon as" not in win.panel.status.text()  # the promise made on b is not left on a
    win.decode_pool.waitForDone(TIMEOUT)  # b's decode, dropped on arrival, before the window goes
    qtbot.wait(50)
    assert win.get_doc(folder / "b_dune.jpg").undo.count() == 0 and doc.undo.count() == 1


def test_esc_leaves_full_screen(qtbot, win):
    """Only F11 did (QA); Esc is what Lightroom and a browser take."""
    win.showFullScreen()
    qtbot.waitUntil(win.isFullScreen, timeout=5_000)
    qtbot.keyClick(win, Qt.Key.Key_Escape)
    assert not win.isFullScreen()
    qtbot.keyClick(win, Qt.Key.Key_Escape)  # not full screen: Esc does nothing more
    assert not win.isFullScreen() and win.isVisible()


def test_full_screen_is_f11_without_a_desktop_session(tmp_path):
    """Qt's FullScreen key is the desktop's: on X with no desktop session (a bare window manager) it
    bound nothing, while the menu and the README said F11."""
    import os
    import shutil
    import subprocess
    import sys

    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        pytest.skip("xvfb-run is not installed (apt-get install xvfb)")
    env = {k: v for k, v in os.environ.items()
           if k not in ("XDG_CURRENT_DESKTOP", "DESKTOP_SESSION", "KDE_SESSION_VERSION", "GNOME_DESKTOP_SESSION_ID")}
    env.update(QT_QPA_PLATFORM="xcb", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    code = ("from PySide6.QtWidgets import QApplication; app = QApplication([]); "
            "from app.window import MainWindow; w = MainWindow(); "
            "a = next(a for a in w.actions() if a.text() == 'F&ull Screen'); "
            "print('keys', [k.toString() for k in a.shortcuts()])")
    run = subprocess.run([xvfb, "-a", sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert "keys" in run.stdout and "'F11'" in run.stdout, run.stdout + run.stderr[-2000:]


def test_tab_goes_through_the_step_cards_before_the_filmstrip(qtbot, win, folder):
    """The cards were made after the filmstrip, so Tab jumped from + Add step to the filmstrip and
    only then into the cards."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    auto_and_wait(qtbot, win)
    order, w = [], win.panel.add_btn
    for _ in range(400):
        w = w.nextInFocusChain()
        if w is win.filmstrip:
            break
        order.append(w)
    enables = [card.enable for card in win.panel.steps.cards]
    assert enables and all(e in order for e in enables)
    assert win.panel.steps.focusPolicy() == Qt.FocusPolicy.NoFocus


def test_the_fitted_photo_sits_on_whole_pixels(qtbot, win, folder):
    """Drawn from y = 11.83, a preview of exactly the on-screen size was resampled anyway (87 % of
    its fine detail kept)."""
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    v = win.viewer
    for w, h in ((1000, 617), (997, 703), (1234, 555)):
        v.resize(w, h)
        v.set_fit()
        r = v.image_rect()
        assert (r.x(), r.y()) == (round(r.x()), round(r.y()))


def test_the_viewer_shows_keyboard_focus_only_when_tabbed_to(qtbot, win, folder):
    """The arrows pan the photo only when the viewer has focus, and nothing showed when it did;
    a click shows nothing (a frame there read as a glitch)."""
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QFocusEvent

    open_and_wait(qtbot, win, folder / "a_dune.dng")
    v = win.viewer
    v.setFocus(Qt.FocusReason.MouseFocusReason)
    plain = qimage_array(v.grab().toImage())
    v.focusInEvent(QFocusEvent(QEvent.Type.FocusIn, Qt.FocusReason.TabFocusReason))
    monkey = v.hasFocus  # offscreen windows may not report focus: the state under test is the flag
    v.hasFocus = lambda: True
    framed = qimage_array(v.grab().toImage())
    v.hasFocus = monkey
    assert np.abs(framed[1:3, 5:-5].astype(int) - plain[1:3, 5:-5]).mean() > 10
    assert np.array_equal(framed[20:-20, 20:-20], plain[20:-20, 20:-20])


def test_the_next_start_reopens_the_photo_shown_at_quit(qtbot, win, folder, tmp_path):
    """It started empty every time: the folder had to be found again in Recent, and there it
    opened on the first photo, not the one the photographer had left off at."""
    from PySide6.QtCore import QSettings

    from app.window import MainWindow

    open_and_wait(qtbot, win, folder)
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.show_photo(folder / "b_dune.jpg")
    win.close()
    again = MainWindow(QSettings(win.settings.fileName(), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    with qtbot.waitSignal(again.photoShown, timeout=TIMEOUT):
        assert again.reopen_last()
    assert again.doc.path == folder / "b_dune.jpg" and again.folder == folder
    assert again.filmstrip.count() == 2
    (folder / "b_dune.jpg").unlink()  # gone since: nothing is opened, and nothing said
    again.close()
    third = MainWindow(QSettings(win.settings.fileName(), QSettings.Format.IniFormat))
    qtbot.addWidget(third)
    assert not third.reopen_last() and third.doc is None


def test_walking_the_filmstrip_keeps_the_next_photos_in_view(qtbot, win, folder, photo_jpeg):
    """Ctrl+Right kept the current photo at the strip's far right edge: the photos coming next
    were never in view."""
    import shutil

    for i in range(14):
        shutil.copy2(photo_jpeg, folder / f"c_{i:02d}.jpg")
    open_and_wait(qtbot, win, folder)
    strip = win.filmstrip
    width = strip.viewport().width()
    # a button Qt believes held (an earlier test's press never released, as once in a full run) made
    # the keys' step look like a click, left at the strip's edge: the keys are the keys
    qtbot.mousePress(win.viewer, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    assert QApplication.mouseButtons() == Qt.MouseButton.LeftButton
    try:
        for _ in range(10):
            with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
                strip.step(+1)
            cur = strip.visualItemRect(strip.currentItem())
            assert 0 <= cur.left() and cur.right() <= width
            nxt = strip.visualItemRect(strip.item(strip.currentRow() + 1))
            assert nxt.right() <= width, (strip.currentRow(), cur, nxt, width)  # the next one whole
    finally:
        qtbot.mouseRelease(win.viewer, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))


def test_a_recent_folder_gone_since_is_said_once_and_taken_off_the_menu(qtbot, win, folder, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(folder, other)
    open_and_wait(qtbot, win, other)
    open_and_wait(qtbot, win, folder)
    shutil.rmtree(other)
    assert [a.text() for a in win.recent_menu.actions()] == [str(folder), str(other)]
    win.recent_menu.actions()[1].trigger()
    boxes = [w for w in QApplication.topLevelWidgets() if w.objectName() == "errorBox" and w.isVisible()]
    assert len(boxes) == 1 and "it is taken off Open Recent" in boxes[0].text()
    boxes[0].close()
    assert [a.text() for a in win.recent_menu.actions()] == [str(folder)]


def test_a_pipe_named_like_a_photo_is_said_not_swapped_for_another(qtbot, win, folder):
    """``retouch fifo.jpg`` (or a drop) showed the folder's first photo after 3 s, without a word."""
    import os

    fifo = folder / "fifo.jpg"
    os.mkfifo(fifo)
    assert not win.open_path(fifo)
    boxes = [w for w in QApplication.topLevelWidgets() if w.objectName() == "errorBox" and w.isVisible()]
    assert len(boxes) == 1 and "not a regular file" in boxes[0].text() and "fifo.jpg" in boxes[0].text()
    boxes[0].close()
    assert win.doc is None and win.recent() == []


def test_a_pipe_or_dangling_link_named_like_a_photo_shows_as_one_that_cannot_be_opened(qtbot, win, folder):
    """They were left out of the filmstrip and its count without a word, where Batch Export of the
    folder lists them as failed."""
    import os

    os.mkfifo(folder / "c_pipe.jpg")
    (folder / "d_gone.NEF").symlink_to(folder.parent / "elsewhere" / "d_gone.NEF")  # moved to another drive
    (folder / "e_dir.jpg").mkdir()  # a folder is no photo
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.open_path(folder)
    assert [p.name for p in win.filmstrip.paths()] == ["a_dune.dng", "b_dune.jpg", "c_pipe.jpg", "d_gone.NEF"]
    qtbot.waitUntil(lambda: win.filmstrip.is_failed(folder / "c_pipe.jpg")
                    and win.filmstrip.is_failed(folder / "d_gone.NEF"), timeout=TIMEOUT)
    win.show_photo(folder / "d_gone.NEF")
    qtbot.waitUntil(lambda: bool(win.doc.failed), timeout=TIMEOUT)
    assert "no longer there" in win.doc.failed


def test_the_style_list_shows_its_style_before_a_photo_is_opened(win):
    """It was blank (and greyed) until the first photo opened, and read as broken."""
    assert win.doc is None and win.panel.style_box.currentText() == "Default"
    assert "Learn My Style" in win.panel.style_box.toolTip()  # why it cannot be changed yet


def test_a_start_does_not_reopen_what_is_no_longer_a_photo(qtbot, win, folder, tmp_path):
    """A folder since replaced by a text file was opened as a photo ("unsupported file type") and
    its folder put in Open Recent."""
    from PySide6.QtCore import QSettings

    from app.window import MainWindow

    notes = tmp_path / "notes"
    notes.write_text("not a photo")
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    for last in (str(notes), "relative/photo.jpg", ""):
        settings.setValue("session/last", last)
        w = MainWindow(settings)
        qtbot.addWidget(w)
        assert not w.reopen_last() and w.doc is None and w.recent() == []
        w.close()


def test_show_clipping_marks_what_is_blown_or_crushed_and_nothing_else(qtbot, win, folder, monkeypatch):
    """View ▸ Show Clipping (J), as Lightroom's: red where a channel of the shown photo is at 255,
    blue where all three are at 0, on the preview and the 100 % crops; the photo (which the
    thumbnail is taken from) and its histogram stay as they are."""
    from engine.recipe import Recipe, Step

    monkeypatch.setattr("app.loading.PREVIEW_EDGE", 320)  # the 640 px fixture then needs detail crops
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    assert win.viewer.after_clipped is None
    win.doc.undo.push(ReplaceRecipe(win.doc, Recipe([Step("exposure", {"ev": 0.2}), Step("gamma", {"gamma": 3.0})]),
                                    "a hard edit"))
    settle(qtbot, win)
    plain, hist = shown(win), win.histogram.counts.copy()
    qtbot.keyClick(win, Qt.Key.Key_J)
    assert win.a_clipping.isChecked() and win.settings.value("view/clipping") == "true"
    qtbot.waitUntil(lambda: win.viewer.after_clipped is not None, timeout=TIMEOUT)
    settle(qtbot, win)
    np.testing.assert_array_equal(shown(win), plain)  # the overlay is drawn over it, never into it
    np.testing.assert_array_equal(win.histogram.counts, hist)
    marks = qimage_array(win.viewer.after_clipped.toImage())
    red, blue = (marks == (255, 48, 48)).all(-1), (marks == (48, 112, 255)).all(-1)
    high, low = (plain == 255).any(-1), (plain == 0).all(-1)
    assert high.mean() > 0.002 and low.mean() > 0.0005  # both kinds are there to be marked
    np.testing.assert_array_equal(red, high & ~low)
    np.testing.assert_array_equal(blue, low)
    v = win.viewer
    v.zoom_100()
    qtbot.waitUntil(lambda: v.detail is not None and v.detail_clipped is not None, timeout=TIMEOUT)
    win.schedule_render()  # asked for with the marks, landing after they are turned off
    qtbot.keyClick(win, Qt.Key.Key_J)  # off: gone at once, no render needed
    assert v.after_clipped is None and v.detail_clipped is None and win.settings.value("view/clipping") == "false"
    settle(qtbot, win)
    assert v.after_clipped is None and v.detail_clipped is None
    qtbot.mouseClick(win.histogram, Qt.MouseButton.LeftButton)  # its clipping marks, as Lightroom's
    assert win.show_clipping and win.a_clipping.isChecked()


def test_ctrl_e_again_brings_back_the_export_dialog_already_open(qtbot, win, folder):
    """A second Ctrl+E stacked a second Export dialog for the same photos over the first."""
    from app.export_dialog import ExportDialog

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    first = win.export_selection()
    assert win.export_selection() is first
    assert [d for d in win.findChildren(ExportDialog) if d.isVisible()] == [first]
    first.close()
    assert win.export_selection() is not first  # closed: a new one, with the choices remembered


def test_ctrl_equals_zooms_in_as_lightroom_takes_it(qtbot, win, folder):
    """On a US keyboard + is Shift+=: Ctrl+= did nothing."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    before = win.viewer.scale
    qtbot.keyClick(win, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert win.viewer.scale == pytest.approx(before * 1.25)


def test_quitting_does_not_wait_for_a_render_that_cannot_be_stopped(qtbot, win, folder, monkeypatch):
    """A fresh install's first start compiles the render kernels on the render thread (half a
    minute); quitting meanwhile held the closing window frozen for the 5 s the window waited for
    that thread. A render of its own ends within the second the window now waits."""
    import threading

    import app.renderer as renderer

    open_and_wait(qtbot, win, folder)
    started, release = threading.Event(), threading.Event()
    real = renderer.execute

    def compiling(req):  # stands for the first compile: seconds, and nothing can interrupt it
        started.set()
        release.wait(10)
        return real(req)

    monkeypatch.setattr(renderer, "execute", compiling)
    win.panel.add_step("exposure")
    assert started.wait(5)
    threading.Timer(4, release.set).start()  # it ends 4 s on: the former wait of 5 s saw it end
    try:
        win.close()
        assert not win.isVisible() and win.renderer._thread.is_alive()  # closed while it still "compiles"
    finally:
        release.set()
    win.renderer._thread.join(5)
    assert not win.renderer._thread.is_alive()  # then it stops, emitting nothing into the closed window


def test_each_menu_gives_its_items_their_own_alt_letters(win):
    """Edit's Redo and Reset Photo shared R, Photo's Pick White Balance and Previous Photo P: a
    shared letter only moves the highlight between them, it runs neither (QA)."""
    import re
    from collections import defaultdict

    def letters(menu) -> dict[str, list[str]]:
        seen: dict[str, list[str]] = defaultdict(list)
        for a in menu.actions():
            if m := re.search(r"&(\w)", a.text()):
                seen[m.group(1).lower()].append(a.text())
        return {k: v for k, v in seen.items() if len(v) > 1}

    menus = [a.menu() for a in win.menuBar().actions()]
    menus += [a.menu() for m in menus for a in m.actions() if a.menu() is not None]
    assert len(menus) > 6
    assert {m.title(): letters(m) for m in menus if letters(m)} == {}
