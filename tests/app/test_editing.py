"""Open the real photo, Auto, edit steps, undo: the preview on screen follows every change."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton
from qt_helpers import TIMEOUT, auto_and_wait, icon_image, open_and_wait, qimage_array, settle, shown

from app.commands import MoveStep
from engine.filters import REGISTRY
from engine.recipe import Recipe, Step, read_sidecar, sidecar_path
from engine.runners.agent import AUTO_STRENGTH, at_strength


def test_open_shows_photo_then_auto_then_slider_changes_preview(qtbot, win, folder):
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    assert win.doc.path.name == "a_dune.dng"
    assert (win.viewer.full.width(), win.viewer.full.height()) == (640, 400)  # the fixture DNG
    assert win.histogram.counts is not None and win.histogram.counts[3].sum() > 0
    assert win.filmstrip.count() == 2
    before = shown(win)
    qtbot.waitUntil(lambda: win.doc.path in win.filmstrip.thumbs_done, timeout=TIMEOUT)
    auto_and_wait(qtbot, win)
    n_pre = sum(1 for s in win.doc.recipe if not s.probs)  # the agent's measured steps, each when needed
    sources = [s.source for s in win.doc.recipe.steps[:n_pre]]
    assert sources == [x for x in ("auto-exposure", "auto-white-balance", "auto-contrast") if x in sources]
    assert 1 <= len(win.doc.recipe) - n_pre <= 5  # the policy's 5, less the no-ops
    cards = win.panel.steps.cards
    assert len(cards) == len(win.doc.recipe) and all(c.doc is win.doc for c in cards)
    assert all(s.probs for s in win.doc.recipe.steps[n_pre:])  # confidences shown on the cards
    assert "%" in cards[-1].confidence.text()
    after_auto = shown(win)
    assert np.abs(after_auto.astype(int) - before).mean() > 1.0  # Auto changed the photo
    # the filmstrip thumbnail follows the edit once it settles
    item = win.filmstrip.items[win.doc.path]
    assert _thumb_error(item, before) < _thumb_error(item, after_auto)  # still the camera's preview
    qtbot.waitUntil(lambda: _thumb_error(item, after_auto) < _thumb_error(item, before) / 2, timeout=5000)

    # Add an exposure step after the agent's and push its slider up: the preview gets brighter.
    win.panel.add_step("exposure")
    settle(qtbot, win)
    base = shown(win)
    ctrl = win.panel.steps.cards[-1].controls["ev"]
    ctrl.slider.setValue(ctrl.slider.value() + 150)  # +1.05 EV
    settle(qtbot, win)
    assert abs(win.doc.recipe.steps[-1].params["ev"] - 1.05) < 1e-6
    assert ctrl.spin.value() == 1.05
    assert shown(win).mean() > base.mean() + 3


def test_undo_restores_render_and_redo_reapplies(qtbot, win, folder):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    auto_and_wait(qtbot, win)
    ref = shown(win)
    card = win.panel.steps.cards[2]
    name, ctrl = next((n, c) for n, c in card.controls.items() if hasattr(c, "slider"))
    old = win.doc.recipe.steps[2].params[name]
    ctrl.slider.setValue(0 if ctrl.slider.value() > 500 else 1000)
    settle(qtbot, win)
    edited = shown(win)
    assert not np.array_equal(edited, ref)
    win.undo_group.undo()
    settle(qtbot, win)
    assert win.doc.recipe.steps[2].params[name] == old
    assert ctrl.value() == ctrl.spin.value() and abs(ctrl.value() - old) < 1e-2  # the view follows
    np.testing.assert_array_equal(shown(win), ref)
    win.undo_group.redo()
    settle(qtbot, win)
    np.testing.assert_array_equal(shown(win), edited)


def test_slider_drag_is_one_undo_step(qtbot, win, folder):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.panel.add_step("contrast")
    settle(qtbot, win)
    n = win.doc.undo.count()
    s = win.panel.steps.cards[0].controls["amount"].slider
    s.setSliderDown(True)
    for v in range(500, 800, 30):
        s.setValue(v)
    s.setSliderDown(False)
    assert win.doc.undo.count() == n + 1
    assert abs(win.doc.recipe.steps[0].params["amount"] - s.value() / 1000 * 2 + 1) < 1e-6


def _type(qtbot, spin, text: str) -> None:
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), text)
    qtbot.keyClick(spin, Qt.Key.Key_Return)


def test_typed_values_beyond_a_range_are_brought_inside_and_the_sidecar_reopens(qtbot, win, folder):
    """Qt's field dropped the keystroke that left the range ("4.5" in Exposure stored 0.5), and its
    two decimals let 0.33 into Gamma (declared from 1/3), a sidecar the next open refused."""
    photo = folder / "b_dune.jpg"
    open_and_wait(qtbot, win, photo)
    win.panel.add_step("exposure")
    win.panel.add_step("gamma")
    settle(qtbot, win)
    cards = win.panel.steps.cards
    ev, gamma = cards[0].controls["ev"], cards[1].controls["gamma"]
    ev.spin.show(), gamma.spin.show()
    _type(qtbot, ev.spin, "4.5")
    _type(qtbot, gamma.spin, "0.33")
    settle(qtbot, win)
    steps = win.doc.recipe.steps
    assert steps[0].params["ev"] == REGISTRY["exposure"].param("ev").max == 3.5
    assert steps[1].params["gamma"] == REGISTRY["gamma"].param("gamma").min
    _type(qtbot, ev.spin, "-9")
    settle(qtbot, win)
    assert win.doc.recipe.steps[0].params["ev"] == -3.5 and ev.spin.text() == "-3.50 EV"
    # a minus typed into a field that starts above zero: its minimum, not the number without its sign
    # (the "-" was dropped, and "-2" in Gamma stored 2.00, the other way from the one asked)
    win.panel.add_step("white_balance")
    settle(qtbot, win)
    gamma, temp = win.panel.steps.cards[1].controls["gamma"], win.panel.steps.cards[2].controls["temperature"]
    gamma.spin.show(), temp.spin.show()
    n = win.doc.undo.count()
    for spin, text in ((gamma.spin, "1.5"), (temp.spin, "-500"), (gamma.spin, "-2"), (gamma.spin, "-")):
        _type(qtbot, spin, text)
    settle(qtbot, win)
    steps = win.doc.recipe.steps
    # Temp at its coolest: the blue gain at its end, the tint kept at 0
    assert steps[2].params["blue"] == REGISTRY["white_balance"].param("blue").max and temp.spin.text() == "-150"
    assert REGISTRY["white_balance"].slider_values(steps[2].params)["tint"] == pytest.approx(0, abs=1e-9)
    assert steps[1].params["gamma"] == REGISTRY["gamma"].param("gamma").min  # a lone "-" then changes nothing
    # each typed value is its own undo step, however quickly they come
    assert win.doc.undo.count() == n + 3
    win.undo_group.undo()
    assert win.doc.recipe.steps[1].params["gamma"] == 1.5
    win.flush_sidecars(wait=True)
    again = read_sidecar(photo)
    assert [s.params for s in again.steps] == [s.params for s in win.doc.recipe.steps]


def test_disable_and_reorder_steps(qtbot, win, folder):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.panel.add_step("exposure")
    win.panel.add_step("saturation")
    settle(qtbot, win)
    plain = shown(win)  # both steps are at their defaults: the unedited photo
    win.doc.undo.push(_set(win.doc, 0, "ev", 1.0))
    settle(qtbot, win)
    bright = shown(win)
    assert bright.mean() > plain.mean() + 5
    # disable through the card's toggle: the render goes back to the unedited photo
    win.panel.steps.cards[0].enable.setChecked(False)
    settle(qtbot, win)
    assert win.doc.recipe.steps[0].enabled is False
    assert np.abs(shown(win).astype(int) - plain).max() <= 1
    win.undo_group.undo()
    settle(qtbot, win)
    assert win.doc.recipe.steps[0].enabled is True
    # reorder through the card menu action, then by a drop-equivalent command
    ops = [s.op for s in win.doc.recipe]
    win.panel.steps.cards[0].move(+1)
    assert [s.op for s in win.doc.recipe] == ops[::-1]
    assert win.panel.steps.cards[0].doc.recipe.steps[0].op == "saturation"
    win.doc.undo.push(MoveStep(win.doc, 1, 0))
    assert [s.op for s in win.doc.recipe] == ops
    win.panel.steps.cards[1].delete()
    assert [s.op for s in win.doc.recipe] == ops[:1]
    win.undo_group.undo()
    assert [s.op for s in win.doc.recipe] == ops
    # three steps: a move and its undo are not the same swap (with two, a broken undo passed)
    win.panel.add_step("gamma")
    win.doc.undo.push(MoveStep(win.doc, 0, 2))
    assert [s.op for s in win.doc.recipe] == ["saturation", "gamma", "exposure"]
    win.undo_group.undo()
    assert [s.op for s in win.doc.recipe] == ["exposure", "saturation", "gamma"]
    win.undo_group.redo()
    assert [s.op for s in win.doc.recipe] == ["saturation", "gamma", "exposure"]


def test_curve_editor_drag_changes_tone_and_merges(qtbot, win, folder):
    from PySide6.QtCore import QPoint, Qt

    from app.controls import CurveEditor

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.panel.add_step("tone")
    settle(qtbot, win)
    before = shown(win)
    ed = win.panel.steps.cards[0].controls["slopes"]
    assert isinstance(ed, CurveEditor)
    canvas = ed.canvas
    plot = canvas.plot()
    assert 0.5 < plot.height() / plot.width() < 0.85  # 4:3 up to 180 px tall, not the 2.7:1 strip of a fixed height
    n = win.doc.undo.count()
    h0 = canvas.handle_pos(1).toPoint()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=h0)
    for dy in (10, 20, 40):
        qtbot.mouseMove(canvas, QPoint(h0.x(), max(1, h0.y() - dy)))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(h0.x(), max(1, h0.y() - 40)))
    slopes = win.doc.recipe.steps[0].params["slopes"]
    assert slopes[1] > 1.1 and all(abs(v - 1.0) < 1e-9 for i, v in enumerate(slopes) if i != 1)
    assert win.doc.undo.count() == n + 1  # one drag, one undo step
    settle(qtbot, win)
    assert not np.array_equal(shown(win), before)


def test_a_point_of_the_curve_drags_up_and_the_rest_of_the_curve_stays(qtbot, win, folder):
    """A photographer drags the curve itself, as in any point curve: the point at a zone edge follows
    the pointer and every other point of the curve stays; one drag is one undo step."""
    from PySide6.QtCore import QPoint, Qt

    from engine.filters.base import curve_knots

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.panel.add_step("tone")
    settle(qtbot, win)
    before = shown(win).astype(float)
    canvas = win.panel.steps.cards[0].controls["slopes"].canvas
    n = win.doc.undo.count()
    mid = canvas.knot_pos(4).toPoint()  # linear 0.5 in, 0.5 out
    press = QPoint(mid.x() + 3, mid.y() + 2)  # a few pixels off the point picks it
    assert canvas.readout() is None  # no point held: the plot says "curve"
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=press)
    assert canvas.readout() == "188 → 188"  # linear 0.5 is 188 of 255 on screen, in and out
    for dy in (2, 4, 6):
        qtbot.mouseMove(canvas, QPoint(press.x(), press.y() - dy))
    held = canvas.readout().split(" → ")
    assert held[0] == "188" and 190 <= int(held[1]) <= 200  # the tone it now gives, as the photo shows it
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(press.x(), press.y() - 6))
    settle(qtbot, win)
    knots = curve_knots(win.doc.recipe.steps[0].params["slopes"])
    assert knots[4, 1] == pytest.approx(0.5 + 6 / canvas.plot().height(), abs=1e-6)  # where the pointer went
    others = [k for k in range(9) if k != 4]
    np.testing.assert_allclose(knots[others, 1], np.arange(9)[others] / 8, atol=1e-12)  # the rest stays
    assert win.doc.undo.count() == n + 1
    lift = shown(win).astype(float) - before
    assert lift.mean() > 0.5 and lift.max() >= 5 and lift.min() >= -1  # lifted on screen, darkened nowhere
    # farther than the two zones beside it allow: the nearest others give what they can, the ends
    # stay at black and white, and at the range's end the point stops: the four zones above at 0.5
    # gave 2 of the sum of 8, which the nearest two below took (0.5 + 2 / 8 = 0.75)
    press = canvas.knot_pos(4).toPoint()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=press)
    qtbot.mouseMove(canvas, QPoint(press.x(), press.y() - 20))
    far = curve_knots(win.doc.recipe.steps[0].params["slopes"])
    assert far[4, 1] > knots[4, 1] + 0.1 and far[1, 1] == pytest.approx(1 / 8) and far[7, 1] == pytest.approx(7 / 8)
    qtbot.mouseMove(canvas, QPoint(press.x(), press.y() - 400))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(press.x(), press.y() - 400))
    slopes = win.doc.recipe.steps[0].params["slopes"]
    assert slopes == pytest.approx([1.0, 1.0, 2.0, 2.0] + [0.5] * 4)
    assert curve_knots(slopes)[4, 1] == pytest.approx(0.75)
    assert win.doc.undo.count() == n + 2
    # dragged away and back in one drag: the curve as it was, as a point curve gives it back
    was = list(slopes)
    press = canvas.knot_pos(2).toPoint()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=press)
    qtbot.mouseMove(canvas, QPoint(press.x(), press.y() + 60))
    assert win.doc.recipe.steps[0].params["slopes"] != pytest.approx(was)
    qtbot.mouseMove(canvas, press)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=press)
    assert win.doc.recipe.steps[0].params["slopes"] == pytest.approx(was)
    # the keys then move that point (Up, Shift: 5x), not a zone's handle; Home puts it on the line
    # between its neighbours
    y0 = curve_knots(was)[:, 1]
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Up)
    qtbot.keyClick(canvas, Qt.Key.Key_Up, Qt.KeyboardModifier.ShiftModifier)
    y = curve_knots(win.doc.recipe.steps[0].params["slopes"])[:, 1]
    assert y[2] == pytest.approx(y0[2] + 0.06) and np.delete(y, 2) == pytest.approx(np.delete(y0, 2))
    qtbot.keyClick(canvas, Qt.Key.Key_Home)
    y = curve_knots(win.doc.recipe.steps[0].params["slopes"])[:, 1]
    assert y[2] == pytest.approx((y0[1] + y0[3]) / 2)
    # Esc gives the keys back to the zone handles: the zone below the point
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    assert canvas.point is None and canvas.zone == 1
    before = list(win.doc.recipe.steps[0].params["slopes"])
    qtbot.keyClick(canvas, Qt.Key.Key_Up)
    after = win.doc.recipe.steps[0].params["slopes"]
    assert after[1] > before[1] and after[:1] + after[2:] == before[:1] + before[2:]


def test_a_channel_picked_mid_drag_ends_the_drag_and_keeps_its_own_curve(qtbot, win, folder):
    """Holding a red curve point and clicking G, then moving on, wrote red's curve over green's
    (green's own edit lost): a drag stays on the channel it began on, and a channel switch ends it."""
    from PySide6.QtCore import QPoint, Qt

    from app.controls import dragging

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.panel.add_step("color_curves")
    settle(qtbot, win)
    ed = win.panel.steps.cards[0].controls["slopes"]
    canvas = ed.canvas
    ed.buttons.button(1).click()  # green: one zone of its own
    canvas.zone = 6
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Up)
    green = list(win.doc.recipe.steps[0].params["slopes"][1])
    assert green[6] > 1
    ed.buttons.button(0).click()
    press = canvas.knot_pos(2).toPoint()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=press)
    qtbot.mouseMove(canvas, QPoint(press.x(), press.y() - 3))
    red = list(win.doc.recipe.steps[0].params["slopes"][0])
    assert red != [1.0] * 8 and dragging()
    ed.buttons.button(1).click()  # mid-drag
    assert not dragging()
    qtbot.mouseMove(canvas, QPoint(press.x(), press.y() - 6))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(press.x(), press.y() - 6))
    slopes = win.doc.recipe.steps[0].params["slopes"]
    assert slopes[1] == green and slopes[0] == red


def _thumb_error(item, full: np.ndarray) -> float:
    """Mean abs difference between a filmstrip icon and a render scaled to the icon's size."""
    from PIL import Image
    from qt_helpers import icon_image

    icon = icon_image(item.icon()).astype(int)
    ref = np.asarray(Image.fromarray(full).resize((icon.shape[1], icon.shape[0]), Image.Resampling.BOX))
    return float(np.abs(icon - ref).mean())


def _set(doc, i, name, v):
    from app.commands import SetParam

    return SetParam(doc, i, name, v)


def test_variations_adopt_is_undoable(qtbot, win, folder):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.request_variations()
    qtbot.waitUntil(lambda: win.panel.var_box.isVisible() and len(win.variations) == 4, timeout=TIMEOUT)
    assert all(not b.icon().isNull() for b in win.panel.var_buttons)
    assert len({r.dumps() for r in win.variations}) == 4  # four different alternatives
    # each captioned with how it differs from the others (engine.looks), under its number
    assert [b.text().split("\n")[0] for b in win.panel.var_buttons] == ["#1", "#2", "#3", "#4"]
    assert all(len(b.text().split("\n")) == 2 for b in win.panel.var_buttons)
    win.panel.var_buttons[2].click()
    assert win.doc.recipe.to_json() == win.variations[2].to_json()
    assert not win.panel.var_box.isVisible()
    win.undo_group.undo()
    assert len(win.doc.recipe) == 0


def test_a_variation_under_the_pointer_is_shown_in_the_photo_and_the_steps_stay(qtbot, win, folder, monkeypatch):
    """As Lightroom previews a preset under the pointer: judged at 150 px the four looked alike."""
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QEnterEvent, QFocusEvent
    from PySide6.QtWidgets import QApplication

    from engine.render import render_uint8

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    auto_and_wait(qtbot, win)
    steps, own = win.doc.recipe.dumps(), shown(win)
    undo = win.doc.undo.count()
    win.request_variations()
    qtbot.waitUntil(lambda: win.panel.var_box.isVisible() and len(win.variations) == 4, timeout=TIMEOUT)
    b = win.panel.var_buttons[2]
    with qtbot.waitSignal(win.previewRendered, timeout=TIMEOUT):
        QApplication.sendEvent(b, QEnterEvent(QPointF(5, 5), QPointF(5, 5), QPointF(5, 5)))
    settle(qtbot, win)
    src = win._shown_source
    np.testing.assert_array_equal(shown(win), render_uint8(win.variations[2], src))  # the photo in it
    assert win.doc.recipe.dumps() == steps and win.doc.undo.count() == undo  # nothing edited
    assert "variation #3" in win.statusBar().currentMessage()
    thumbs = []
    monkeypatch.setattr(win.filmstrip, "set_thumbnail", lambda *a: thumbs.append(a))
    win._refresh_thumbnail()  # the thumbnail shows the steps, never the look pointed at
    assert not thumbs
    with qtbot.waitSignal(win.previewRendered, timeout=TIMEOUT):
        QApplication.sendEvent(b, QEvent(QEvent.Type.Leave))
    settle(qtbot, win)
    np.testing.assert_array_equal(shown(win), own)  # its own steps again
    # pointed at, then hidden (Hide): the steps shown again too
    with qtbot.waitSignal(win.previewRendered, timeout=TIMEOUT):
        QApplication.sendEvent(win.panel.var_buttons[0], QEnterEvent(QPointF(5, 5), QPointF(5, 5), QPointF(5, 5)))
    with qtbot.waitSignal(win.previewRendered, timeout=TIMEOUT):
        win.panel.var_box.hide()
    settle(qtbot, win)
    np.testing.assert_array_equal(shown(win), own)
    assert win.doc.recipe.dumps() == steps
    # pointed at and clicked: adopted, and the "Showing variation" line goes (it stayed for good)
    win.panel.var_box.show()
    QApplication.sendEvent(win.panel.var_buttons[1], QEnterEvent(QPointF(5, 5), QPointF(5, 5), QPointF(5, 5)))
    win.panel.var_buttons[1].click()
    assert win.doc.recipe.dumps() == win.variations[1].dumps() and win._hovered is None
    assert not win.statusBar().currentMessage().startswith("Showing variation")
    # new variations while one of the last is pointed at: the photo leaves the one that is gone
    win.undo_group.undo()
    win.panel.var_box.show()
    QApplication.sendEvent(win.panel.var_buttons[0], QEnterEvent(QPointF(5, 5), QPointF(5, 5), QPointF(5, 5)))
    assert win._hovered is win.variations[0]
    # reached with Tab, a tile previews as one pointed at does (only a mouse could)
    QApplication.sendEvent(win.panel.var_buttons[0], QEvent(QEvent.Type.Leave))
    QApplication.sendEvent(win.panel.var_buttons[2], QFocusEvent(QEvent.Type.FocusIn, Qt.FocusReason.TabFocusReason))
    assert win._hovered is win.variations[2]
    QApplication.sendEvent(win.panel.var_buttons[2], QFocusEvent(QEvent.Type.FocusOut, Qt.FocusReason.TabFocusReason))
    assert win._hovered is None
    win.request_variations()
    qtbot.waitUntil(lambda: win._hovered is None, timeout=TIMEOUT)


def test_strength_says_why_it_leaves_an_adopted_variation_and_stops_saying_it_after_undo(qtbot, win, folder):
    """It said "the steps were edited since Auto" of a variation nobody edited, and kept saying it
    after an undo back to Auto's result, which the slider then rescaled."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    auto_and_wait(qtbot, win)
    auto = win.doc.recipe.dumps()
    win.request_variations()
    qtbot.waitUntil(lambda: win.panel.var_box.isVisible() and len(win.variations) == 4, timeout=TIMEOUT)
    win.panel.var_buttons[1].click()
    adopted = win.doc.recipe.dumps()
    win.set_strength(0.8)
    assert win.doc.recipe.dumps() == adopted  # kept as adopted
    said = win.panel.status.text()
    assert "variation" in said and "full strength" in said and "edited" not in said
    win.undo_group.undo()  # Auto's result again: the slider rescales it, so the note goes
    assert win.doc.recipe.dumps() == auto and win.panel.status.text() == ""
    win.set_strength(0.3)
    assert win.doc.recipe.dumps() != auto and win.panel.status.text() == ""
    win.undo_group.undo()
    win.panel.add_step("saturation")  # edited: said so, and the edit kept
    edited = win.doc.recipe.dumps()
    win.set_strength(0.9)
    assert "edited since Auto" in win.panel.status.text() and win.doc.recipe.dumps() == edited


def test_variations_fit_a_720p_window(qtbot, win, folder):
    """Shown Variations grew a 1280 x 720 window to 882 px (past a laptop's screen): the panel
    scrolls as a whole instead, and the step list keeps room for a curve card."""
    win.resize(1280, 720)
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    qtbot.wait(100)
    height = win.height()
    assert height <= 720
    win.request_variations()
    qtbot.waitUntil(lambda: win.panel.var_box.isVisible() and len(win.variations) == 4, timeout=TIMEOUT)
    qtbot.wait(100)
    assert win.height() == height and win.panel.steps.height() >= 240


def test_cards_fit_a_panel_that_scrolls_as_a_whole(qtbot, win, folder):
    """A 720p window scrolls the panel as a whole, which narrows it: the White balance card's
    title and Pick held every card wider than the list, and each card's value fields and delete
    button were cut at the right edge. Its title gives way (elided) instead."""
    win.resize(1280, 720)
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    auto_and_wait(qtbot, win)
    win.request_variations()
    qtbot.waitUntil(lambda: win.panel.var_box.isVisible() and len(win.variations) == 4, timeout=TIMEOUT)
    qtbot.wait(100)
    steps = win.panel.steps
    assert win.tabs.widget(0).verticalScrollBar().isVisible()  # the case: the panel scrolls as a whole
    assert any(c.step.op == "white_balance" for c in steps.cards)
    right = steps.viewport().width()
    for card in steps.cards:
        for w in [*(c.spin for c in card.controls.values() if hasattr(c, "spin")), *card.findChildren(QToolButton)]:
            edge = w.mapTo(steps.viewport(), w.rect().topRight()).x()
            assert edge < right, f"{card.step.op}: {w.text() or w.accessibleName()} cut at {edge} of {right} px"


def test_drag_card_onto_list_reorders(qtbot, win, folder):
    from PySide6.QtCore import QMimeData, QPointF, Qt
    from PySide6.QtGui import QDropEvent

    from app.steps import MIME

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    for op in ("exposure", "saturation", "contrast"):
        win.panel.add_step(op)
    area = win.panel.steps.inner
    cards = win.panel.steps.cards
    qtbot.waitUntil(lambda: cards[-1].geometry().height() > 0)
    mime = QMimeData()
    mime.setData(MIME, b"0")  # drag the first card ...
    below_last = QPointF(10, cards[-1].geometry().bottom() + 2)  # ... below the last one
    ev = QDropEvent(below_last, Qt.DropAction.MoveAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    area.dropEvent(ev)
    assert [s.op for s in win.doc.recipe] == ["saturation", "contrast", "exposure"]
    assert [c.doc.recipe.steps[c.index].op for c in win.panel.steps.cards] == ["saturation", "contrast", "exposure"]
    win.undo_group.undo()
    assert [s.op for s in win.doc.recipe] == ["exposure", "saturation", "contrast"]


def test_embedded_preview_shows_before_the_decode_finishes(qtbot, win, folder, monkeypatch):
    """And says over the photo why edits do not show yet: the first start after an install compiles
    the render kernels for half a minute (a QA's photographer took edits and Auto for broken)."""
    import threading

    import app.window as window_mod
    import engine.lut

    gate, compiled = threading.Event(), threading.Event()
    real, stages = window_mod.decode, engine.lut.warm_up_stages

    def slow_decode(path, wanted=None):
        gate.wait(30)
        return real(path, wanted)

    monkeypatch.setattr(window_mod, "decode", slow_decode)
    # the kernels' first compile, held: read when the window's warm-up starts, after this
    monkeypatch.setattr(engine.lut, "warm_up_stages", lambda: [lambda: compiled.wait(30), *stages()])
    try:
        win.open_path(folder / "a_dune.dng")
        qtbot.waitUntil(win.viewer.has_image, timeout=TIMEOUT)  # the DNG's embedded JPEG
        assert win.doc.preview_linear is None and win.shown_preview == -1
        assert win.render_label.text() == "embedded preview · preparing the editor…"
        qtbot.waitUntil(lambda: win.viewer.notice == window_mod.PREPARING, timeout=TIMEOUT)
        compiled.set()
        qtbot.waitUntil(lambda: win._renderer_ready, timeout=TIMEOUT)
        assert win.render_label.text() == "embedded preview" and win.viewer.notice == window_mod.LOADING
    finally:
        compiled.set()
    embedded_key = win.viewer.after.cacheKey()
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        gate.set()
    settle(qtbot, win)
    assert win.viewer.after.cacheKey() != embedded_key  # replaced by the real render
    assert shown(win).shape[:2] == (400, 640) and win.render_label.text().startswith("render")
    assert win.viewer.notice == ""


def test_a_jpegs_quick_preview_is_not_called_embedded(qtbot, win, folder, monkeypatch):
    """A QA's: a JPEG's small first read was labelled "embedded preview", which only a RAW has."""
    import threading

    import app.window as window_mod

    gate, real = threading.Event(), window_mod.decode
    monkeypatch.setattr(window_mod, "decode", lambda path, wanted=None: gate.wait(30) and real(path, wanted))
    try:
        win.open_path(folder / "b_dune.jpg")
        qtbot.waitUntil(win.viewer.has_image, timeout=TIMEOUT)
        qtbot.waitUntil(lambda: win._renderer_ready, timeout=TIMEOUT)
        assert win.render_label.text() == "quick preview"
    finally:
        gate.set()
    qtbot.waitUntil(lambda: win.render_label.text().startswith("render"), timeout=TIMEOUT)


def test_a_photo_reached_shows_its_thumbnail_and_never_its_camera_look_over_its_edits(qtbot, win, folder,
                                                                                        monkeypatch):
    """Walking a shoot showed a blank "Opening…" frame at each photo, and an edited photo its camera
    preview (unedited) until its render, ~650 ms later. Its thumbnail now stands in: the edited
    one stays until the render; a camera one until the sharper embedded preview."""
    import threading

    import app.window as window_mod
    from app import thumb_cache

    a, b = folder / "a_dune.dng", folder / "b_dune.jpg"
    open_and_wait(qtbot, win, b)
    plain = icon_image(win.filmstrip.items[a].icon())
    edit = Recipe([Step("exposure", {"ev": 1.5})])
    edit.save(sidecar_path(a))
    win.filmstrip.set_paths([a, b])  # as the folder reopened with a's edits
    qtbot.waitUntil(lambda: (win.filmstrip.look(a) or (None, ""))[1] == thumb_cache.steps_key(edit), timeout=TIMEOUT)
    win.filmstrip.pool.waitForDone(TIMEOUT)
    gate, real = threading.Event(), window_mod.decode
    monkeypatch.setattr(window_mod, "decode", lambda path, wanted=None: gate.wait(30) and real(path, wanted))
    monkeypatch.setattr(window_mod, "quick_open", lambda path: False)  # the full decode alone, held
    put: list[tuple[int, int]] = []
    real_put = win.viewer.set_photo
    monkeypatch.setattr(win.viewer, "set_photo", lambda full, after, *rest: put.append((full.width(), after.width()))
                        or real_put(full, after, *rest))
    try:
        win.show_photo(a)
        assert win.viewer.has_image() and not win.viewer.message  # no blank frame
        standin = qimage_array(win.viewer.after.toImage())
        assert standin.mean() > plain.mean() + 30  # its edits, not its camera look
        assert win.render_label.text().startswith("thumbnail") and win.zoom_label.text() == ""
        qtbot.wait(800)  # the embedded preview is read meanwhile, and not shown over the edits
        assert len(put) == 1 and win.viewer.after.width() == standin.shape[1]
        qtbot.waitUntil(lambda: win.viewer.notice == window_mod.LOADING, timeout=TIMEOUT)
    finally:
        gate.set()
    qtbot.waitUntil(lambda: win.render_label.text().startswith("render"), timeout=TIMEOUT)
    settle(qtbot, win)
    assert win.viewer.notice == "" and win.zoom_label.text().endswith("%")
    assert shown(win).shape[:2] == (400, 640)
    # an unedited photo: its thumbnail, then its sharper embedded (here: quick) preview
    gate.clear()
    put.clear()
    try:
        win.show_photo(b)
        assert win.viewer.has_image() and win.render_label.text().startswith("thumbnail")
        qtbot.waitUntil(lambda: len(put) == 2, timeout=TIMEOUT)
        assert win.render_label.text() == "quick preview"
    finally:
        gate.set()
    qtbot.waitUntil(lambda: win.render_label.text().startswith("render"), timeout=TIMEOUT)


def test_an_older_edits_thumbnail_never_stands_in_for_the_photo(qtbot, win, folder):
    """A photo edited since its thumbnail was made (here, or in another window) showed the older
    edit's look over the new one until its render: 1.4 s at 24 MP, the edit the other way."""
    from app import thumb_cache

    a, b = folder / "a_dune.dng", folder / "b_dune.jpg"
    brighter = Recipe([Step("exposure", {"ev": 1.5})])
    brighter.save(sidecar_path(a))
    open_and_wait(qtbot, win, b)
    qtbot.waitUntil(lambda: (win.filmstrip.look(a) or (None, ""))[1] == thumb_cache.steps_key(brighter),
                    timeout=TIMEOUT)
    Recipe([Step("exposure", {"ev": -1.5})]).save(sidecar_path(a))  # another window's edit
    win.show_photo(a)
    assert win.viewer.message.startswith("Opening") and not win.render_label.text().startswith("thumbnail")
    qtbot.waitUntil(lambda: win._rendered_once, timeout=TIMEOUT)
    settle(qtbot, win)
    assert shown(win).mean() < 100  # the darker edit
    # back on b, then a again at once: its thumbnail now shows the darker edit (set from the render)
    qtbot.waitUntil(lambda: (win.filmstrip.look(a) or (None, ""))[1] == thumb_cache.steps_key(win.doc.recipe),
                    timeout=TIMEOUT)
    win.show_photo(b)
    win.show_photo(a)
    assert win.render_label.text().startswith("thumbnail") and win._edited_standin


def test_an_edited_photo_reached_again_shows_its_kept_screen_preview(qtbot, win, folder, monkeypatch, tmp_path,
                                                                     private_cache):
    """An edited RAW reached again (another day) showed its blurred thumbnail for 1-2 s, until its
    render: its screen preview is kept on disk, as Lightroom's standard previews, and stands in."""
    import threading

    from PySide6.QtCore import QSettings

    import app.window as window_mod
    from app.window import MainWindow

    a, b = folder / "a_dune.dng", folder / "b_dune.jpg"
    Recipe([Step("exposure", {"ev": 1.5})]).save(sidecar_path(a))
    open_and_wait(qtbot, win, a)
    rendered = shown(win)
    qtbot.waitUntil(lambda: len(list((private_cache / "retouch" / "previews").glob("*.jpg"))) == 1, timeout=TIMEOUT)
    again = MainWindow(QSettings(str(tmp_path / "again.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    again.resize(1280, 820)
    again.show()
    again._ask_quit_unsaved = lambda docs: True
    gate, real = threading.Event(), window_mod.decode
    monkeypatch.setattr(window_mod, "decode", lambda path, wanted=None: gate.wait(30) and real(path, wanted))
    try:
        again.open_path(a)  # the photo a folder opens on too, its thumbnail not yet made (a review's)
        qtbot.waitUntil(lambda: again.render_label.text().startswith("kept preview"), timeout=TIMEOUT)
        kept = qimage_array(again.viewer.after.toImage())
        assert kept.shape == rendered.shape  # the screen's size, not the thumbnail's 128 px
        assert np.abs(kept.astype(float).mean((0, 1)) - rendered.mean((0, 1))).max() < 3
    finally:
        gate.set()
    qtbot.waitUntil(lambda: again.render_label.text().startswith("render"), timeout=TIMEOUT)
    # reached from another photo, its edited thumbnail first, then the kept preview
    open_and_wait(qtbot, again, b)
    gate.clear()
    try:
        again.show_photo(a)
        assert again.render_label.text().startswith("thumbnail")
        qtbot.waitUntil(lambda: again.render_label.text().startswith("kept preview"), timeout=TIMEOUT)
    finally:
        gate.set()
    again.close()


def test_strength_slider_rescales_auto_until_the_steps_are_edited(qtbot, win, folder):
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    default = round(100 * AUTO_STRENGTH)  # the shipped default
    assert win.panel.strength.value() == default and win.panel.strength_label.text() == f"{default} %"
    auto_and_wait(qtbot, win)
    base, proxy = win._autos[win.doc][:2]
    at = lambda a: at_strength(base, proxy, a).dumps()  # noqa: E731
    assert win.doc.recipe.dumps() == at(AUTO_STRENGTH)
    at_default = shown(win)
    win.panel.strength.setValue(0)  # as a key press would: applied at once, one undo step
    settle(qtbot, win)
    assert win.doc.recipe.dumps() == at(0.0)
    assert not any(s.probs for s in win.doc.recipe)  # only the measured steps: no card that does nothing
    assert np.abs(shown(win).astype(int) - at_default).mean() > 0.5  # the preview follows
    assert float(win.settings.value("agent/strength")) == 0.0
    win.doc.undo.undo()
    assert win.doc.recipe.dumps() == at(AUTO_STRENGTH)
    assert win.panel.strength.value() == default and win.strength == AUTO_STRENGTH  # the slider follows
    win.panel.strength.setValue(120)  # after an undo it still rescales
    assert win.doc.recipe.dumps() == at(1.2)
    # once a step is edited by hand, the slider leaves the recipe alone
    c = next(c for card in win.panel.steps.cards[1:] for c in card.controls.values() if hasattr(c, "slider"))
    c.slider.setValue(c.slider.value() + 40)
    edited = win.doc.recipe.dumps()
    win.panel.strength.setValue(50)
    assert win.doc.recipe.dumps() == edited
    assert "next Auto" in win.panel.status.text()

    # each photo keeps its own Auto: after Auto on another photo, the slider still rescales this one's
    a = win.doc
    a.undo.undo()  # back to the Auto result at 120 %
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    auto_and_wait(qtbot, win)
    win.panel.strength.setValue(80)  # rescales b's Auto
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    assert win.panel.strength.value() == 120  # the shown photo's own Auto, not the last one's
    win.panel.strength.setValue(30)
    assert a.recipe.dumps() == at(0.3)


def test_an_edited_auto_step_says_so_on_its_card_and_in_its_sidecar(qtbot, win, folder):
    """A measured or agent step the photographer moves is no longer only Auto's: its card says so
    (the caption came and went with undo), the sidecar keeps it, and a hand-made step is not marked."""
    from engine.recipe import Recipe, sidecar_path

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    auto_and_wait(qtbot, win)
    card = win.panel.steps.cards[0]
    why = card.confidence.text()
    assert win.doc.recipe.steps[0].source == "auto-exposure" and "edited" not in why
    ctrl = card.controls["ev"]
    ctrl.slider.setValue(ctrl.slider.value() + 30)
    settle(qtbot, win)
    assert win.doc.recipe.steps[0].edited and card.confidence.text() == why + " · since edited by you"
    qtbot.waitUntil(lambda: sidecar_path(win.doc.path).exists()
                    and Recipe.load(sidecar_path(win.doc.path)).steps[0].edited, timeout=5000)
    win.doc.undo.undo()
    assert not win.doc.recipe.steps[0].edited and win.panel.steps.cards[0].confidence.text() == why
    from app.commands import SetParam

    value = win.doc.recipe.steps[0].params["ev"]
    win.doc.undo.push(SetParam(win.doc, 0, "ev", value))  # a reset of a value already there edits nothing
    assert not win.doc.recipe.steps[0].edited
    win.panel.add_step("gamma")
    settle(qtbot, win)
    g = win.panel.steps.cards[-1]
    g.controls["gamma"].slider.setValue(g.controls["gamma"].slider.value() + 30)
    settle(qtbot, win)
    assert not win.doc.recipe.steps[-1].edited and g.confidence.text() == "Added by hand"


def test_auto_lands_at_the_strength_it_was_pressed_at(qtbot, win, folder, monkeypatch):
    """Switching photos while Auto runs moves the shared slider to the other photo's Auto; the
    result still lands at the strength in force when Auto was pressed."""
    import threading

    from app import agent as app_agent

    open_and_wait(qtbot, win, folder / "a_dune.dng")
    win.panel.strength.setValue(100)
    auto_and_wait(qtbot, win)  # a: Auto at 100 %
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    b = win.doc
    win._strength_known = False  # as before the model has loaded (a fresh clone's slow first load)
    win.panel.strength.setValue(30)  # the photographer's own choice: known from now on
    gate, real = threading.Event(), app_agent.get_agent

    class Slow:
        def __init__(self, agent):
            self.agent = agent

        def predict(self, *a, **k):
            gate.wait(30)
            return self.agent.predict(*a, **k)

        def __getattr__(self, name):
            return getattr(self.agent, name)

    monkeypatch.setattr(app_agent, "get_agent", lambda model=None: Slow(real(model)))
    n = b.undo.count()
    win.auto()
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    assert win.panel.strength.value() == 100  # a's own Auto
    gate.set()
    qtbot.waitUntil(lambda: b.undo.count() == n + 1, timeout=TIMEOUT)
    base, proxy, applied = win._autos[b][:3]
    assert b.recipe.dumps() == at_strength(base, proxy, 0.3).dumps() and list(applied.values()) == [0.3]


def test_auto_white_balance_sets_one_measured_step_and_keeps_the_others(qtbot, win, folder):
    """Photo > Auto White Balance: the learned model's white balance goes first in a hand-made
    recipe, replaces Auto's own measured step in place after Auto, never stacks, and undoes."""
    import copy

    from engine.runners.agent import white_balance_step

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    doc = win.doc
    want = white_balance_step(doc.preview_linear)
    assert want is not None and want.source == "auto-white-balance"
    win.panel.add_step("exposure")
    settle(qtbot, win)

    def measure() -> None:
        n = doc.undo.count()
        win.auto_white_balance()
        qtbot.waitUntil(lambda: doc.undo.count() == n + 1, timeout=TIMEOUT)
        settle(qtbot, win)

    measure()
    assert [(s.op, s.source) for s in doc.recipe] == [("white_balance", "auto-white-balance"), ("exposure", None)]
    assert doc.recipe.steps[0].params == want.params
    auto_and_wait(qtbot, win)  # a fresh recipe, with Auto's own measured white balance
    at = [s.source for s in doc.recipe].index("auto-white-balance")
    assert doc.recipe.steps[at].params == want.params  # the same measurement as Auto's
    ctrl = win.panel.steps.cards[at].controls["tint"]
    ctrl.slider.setValue(ctrl.slider.value() + 100)  # the photographer moves it
    settle(qtbot, win)
    edited, edited_steps = doc.recipe.dumps(), copy.deepcopy(doc.recipe.steps)
    assert doc.recipe.steps[at].params != want.params
    measure()  # measured again, in place; every other step as it was
    assert doc.recipe.steps[at].params == want.params
    assert [s.source for s in doc.recipe].count("auto-white-balance") == 1
    assert [s for i, s in enumerate(doc.recipe.steps) if i != at] == edited_steps[:at] + edited_steps[at + 1:]
    win.undo_group.undo()
    settle(qtbot, win)
    assert doc.recipe.dumps() == edited
    win.undo_group.redo()
    n, same = doc.undo.count(), doc.recipe.dumps()
    win.auto_white_balance()  # measured again, the same: it said nothing and seemed to do nothing (QA)
    qtbot.waitUntil(lambda: "already holds" in win.panel.status.text(), timeout=TIMEOUT)
    assert win.panel.status.text() == f"Auto white balance: step {at + 1} already holds what it measures."
    assert doc.undo.count() == n and doc.recipe.dumps() == same


def test_undo_keys_in_an_unchanged_number_field_reach_the_window(qtbot, win, folder):
    """Typing a value and Enter, then Ctrl+Z with the cursor still in the field: the field took the
    key and did nothing, so the window's Undo never ran."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.panel.add_step("exposure")
    settle(qtbot, win)
    spin = win.panel.steps.cards[-1].controls["ev"].spin
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "0.5")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert win.doc.recipe.steps[-1].params["ev"] == 0.5
    qtbot.keyClick(spin, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.doc.recipe.steps[-1].params["ev"] == 0.0
    qtbot.keyClick(win.panel.steps.cards[-1].controls["ev"].spin, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert win.doc.recipe.steps[-1].params["ev"] == 0.5
    ctrl = win.panel.steps.cards[-1].controls["ev"]
    assert ctrl.spin.accessibleName() == ctrl.slider.accessibleName() == "Exposure" and ctrl.label.buddy() is ctrl.spin


def test_a_value_typed_then_another_step_deleted_or_moved_is_kept(qtbot, win, folder):
    """A value typed into step 3's field and not entered, then ✕ on step 1: the ✕ takes no focus,
    the list was rebuilt, and the late value was dropped (its card no longer at its step's place)."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    for op in ("contrast", "saturation", "exposure"):
        win.panel.add_step(op)
    settle(qtbot, win)

    def type_ev(text: str) -> None:
        spin = next(c for c in win.panel.steps.cards if c.step.op == "exposure").controls["ev"].spin
        spin.setFocus()
        spin.selectAll()
        qtbot.keyClicks(spin, text)

    type_ev("2.5")
    close = next(b for b in win.panel.steps.cards[0].findChildren(QToolButton) if b.text() == "✕")
    qtbot.mouseClick(close, Qt.MouseButton.LeftButton)
    assert [(s.op, s.params.get("ev")) for s in win.doc.recipe.steps] == [("saturation", None), ("exposure", 2.5)]
    type_ev("-1")
    win.panel.steps.cards[1].move(-1)  # ⋯ Move up on the card typed into
    assert [(s.op, s.params.get("ev")) for s in win.doc.recipe.steps] == [("exposure", -1.0), ("saturation", None)]
    type_ev("1")
    win.panel.add_step("gamma")
    assert win.doc.recipe.steps[0].params["ev"] == 1.0


def test_auto_reads_a_raw_clipped_at_white_and_other_files_as_they_are(qtbot, win, folder, monkeypatch):
    """Auto, Variations and Auto White Balance tell the agent whether the photo is a RAW decode,
    whose highlights past white it reads clipped (:func:`engine.runners.agent.agent_view`)."""
    import functools

    import app.window_agent as window_agent
    from app import agent as app_agent
    from engine.runners.agent import white_balance_step

    seen: list[tuple[str, bool]] = []
    real = app_agent.get_agent

    class Spy:
        def __init__(self, agent):
            self.agent = agent

        def __getattr__(self, name):
            method = getattr(self.agent, name)
            if name not in ("predict", "proxy", "variations"):
                return method

            @functools.wraps(method)
            def spied(*a, **k):
                seen.append((name, k.get("raw", a[1] if name == "proxy" and len(a) > 1 else False)))
                return method(*a, **k)

            return spied

    def wb(linear, constancy=True, *, raw=False):
        seen.append(("white_balance_step", raw))
        return white_balance_step(linear, constancy, raw=raw)

    monkeypatch.setattr(app_agent, "get_agent", lambda model=None: Spy(real(model)))
    monkeypatch.setattr(window_agent, "white_balance_step", wb)  # where Auto White Balance looks it up
    for name, raw in (("a_dune.dng", True), ("b_dune.jpg", False)):
        seen.clear()
        open_and_wait(qtbot, win, folder / name)
        auto_and_wait(qtbot, win)
        n = win.doc.undo.count()
        win.auto_white_balance()
        qtbot.waitUntil(lambda n=n, r=raw: win.doc.undo.count() > n or ("white_balance_step", r) in seen,
                        timeout=TIMEOUT)
        win.request_variations()
        qtbot.waitUntil(lambda: win.panel.var_box.isVisible() and len(win.variations) == 4, timeout=TIMEOUT)
        assert sorted(set(seen)) == [("predict", raw), ("proxy", raw), ("variations", raw),
                                     ("white_balance_step", raw)], name
        settle(qtbot, win)


def test_enter_and_esc_in_a_number_field_hand_the_keys_back(qtbot, win, folder):
    """The field kept the keyboard after Enter, so W, J, \\ and Ctrl+Right did nothing until Tab or
    a click; and a value typed then "cancelled" with Esc was entered at the next click."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.panel.add_step("exposure")
    settle(qtbot, win)
    win.activateWindow()

    def typed(text: str, key: Qt.Key):
        spin = win.panel.steps.cards[-1].controls["ev"].spin
        spin.setFocus()
        qtbot.waitUntil(spin.hasFocus, timeout=5_000)
        spin.selectAll()
        qtbot.keyClicks(spin, text)
        qtbot.keyClick(spin, key)
        return spin

    spin = typed("1.5", Qt.Key.Key_Return)
    slider = win.panel.steps.cards[-1].controls["ev"].slider
    # to the slider beside it, not cleared: Tab went back to the window's first stop (QA)
    assert win.doc.recipe.steps[-1].params["ev"] == 1.5 and not spin.hasFocus() and slider.hasFocus()
    qtbot.keyClick(slider, Qt.Key.Key_J)  # the window's own keys again
    assert win.show_clipping
    spin = typed("3", Qt.Key.Key_Escape)
    assert not spin.hasFocus() and slider.hasFocus() and spin.text() == "1.50 EV"
    assert win.doc.recipe.steps[-1].params["ev"] == 1.5  # and no later click enters the "3"


def test_space_on_auto_or_variations_keeps_the_keyboard_on_the_button(qtbot, win, folder, monkeypatch):
    """Greyed while it ran, the button pressed passed the keyboard on: a second Space on Auto ran
    Variations, and a third opened the Style list (QA)."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.activateWindow()
    for button, done in ((win.panel.auto, lambda: len(win.doc.recipe) > 0),
                         (win.panel.vary, lambda: win.panel.var_box.isVisible() and len(win.variations) == 4)):
        button.setFocus()
        qtbot.waitUntil(button.hasFocus, timeout=5_000)
        qtbot.keyClick(button, Qt.Key.Key_Space)
        assert not button.isEnabled() and win.viewer.hasFocus()  # parked on the photo meanwhile
        qtbot.waitUntil(lambda b=button, d=done: d() and b.isEnabled(), timeout=TIMEOUT)
        assert button.hasFocus()
    settle(qtbot, win)
    # another photo shown while it runs: the keyboard stays on that photo when it ends (review)
    import threading

    from engine.runners.agent import Agent

    predict, go = Agent.predict, threading.Event()
    monkeypatch.setattr(Agent, "predict", lambda *a, **k: (go.wait(TIMEOUT / 1000), predict(*a, **k))[1])
    b = win.doc
    win.undo_group.undo()  # b unedited again
    win.panel.auto.setFocus()
    qtbot.waitUntil(win.panel.auto.hasFocus, timeout=5_000)
    qtbot.keyClick(win.panel.auto, Qt.Key.Key_Space)
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.show_photo(folder / "a_dune.dng")
    win.viewer.setFocus()
    assert ("auto", b) in win._running  # still running as the other photo shows
    go.set()
    qtbot.waitUntil(lambda: len(b.recipe) > 0 and ("auto", b) not in win._running, timeout=TIMEOUT)
    qtbot.wait(50)
    assert win.viewer.hasFocus() and not win.panel.auto.hasFocus() and win._parked_on is None


def test_a_step_added_from_the_keyboard_takes_the_keyboard(qtbot, win, folder):
    """+ Add step by Space, the arrows and Enter left the keyboard on the button (QA): the new step's
    first control has it, to be set at once."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMenu

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.activateWindow()
    btn = win.panel.add_btn
    btn.setFocus()
    qtbot.waitUntil(btn.hasFocus, timeout=5_000)

    def choose() -> None:  # in the menu, once it is up: the first filter
        menu = QApplication.activePopupWidget()
        assert isinstance(menu, QMenu)
        qtbot.keyClick(menu, Qt.Key.Key_Down)
        qtbot.keyClick(menu, Qt.Key.Key_Return)

    QTimer.singleShot(200, choose)
    qtbot.keyClick(btn, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: len(win.doc.recipe) == 1, timeout=5_000)
    card = win.panel.steps.cards[0]
    first = next(iter(card.controls.values()))
    assert getattr(first, "slider", first).hasFocus()
    btn.setFocus()
    qtbot.waitUntil(btn.hasFocus, timeout=5_000)
    win.panel.add_step("tone")  # a curve: its plot (or its first button) takes it
    curve = next(iter(win.panel.steps.cards[-1].controls.values()))
    assert curve.isAncestorOf(QApplication.focusWidget())


def test_the_keyboard_stays_in_the_steps_when_their_cards_are_rebuilt(qtbot, win, folder):
    """Deleting a step from the keyboard (or Reset, Undo) rebuilt the cards and Qt handed the focus
    on to Folders ▾ under the photo, where Space then opened its menu; then it stayed on the card's
    place by its on/off box (QA), whatever control it had been on and wherever the step moved."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    for op in ("exposure", "gamma", "saturation"):
        win.panel.add_step(op)
    settle(qtbot, win)
    win.activateWindow()
    from PySide6.QtWidgets import QToolButton

    close = next(b for b in win.panel.steps.cards[1].findChildren(QToolButton) if b.text() == "✕")
    close.setFocus()
    qtbot.waitUntil(close.hasFocus, timeout=5_000)
    qtbot.keyClick(close, Qt.Key.Key_Space)
    assert [s.op for s in win.doc.recipe] == ["exposure", "saturation"]
    # the same control of the card now in its place: on its on/off box, a second Space turned it off
    assert win.panel.steps.cards[1].close_btn.hasFocus()
    win.panel.steps.cards[0].controls["ev"].slider.setFocus()
    win.panel.steps.cards[0].move(+1)  # from its ⋯ menu: the keyboard follows the step moved
    assert [s.op for s in win.doc.recipe] == ["saturation", "exposure"]
    assert win.panel.steps.cards[1].controls["ev"].slider.hasFocus()
    win.undo_group.undo()
    assert win.panel.steps.cards[0].controls["ev"].slider.hasFocus()
    win.panel.add_step("gamma")  # another step moved (a drag, its ⋯ menu): the keyboard stays with its own
    from app.commands import MoveStep

    win.doc.undo.push(MoveStep(win.doc, 2, 0))
    assert [s.op for s in win.doc.recipe] == ["gamma", "exposure", "saturation"]
    assert win.panel.steps.cards[1].controls["ev"].slider.hasFocus()


def test_quick_strength_key_presses_are_one_undo_step(qtbot, win, folder, monkeypatch):
    """Two Right presses on Strength made two undo steps (one Ctrl+Z went back to 65 %, not 60 %);
    quick presses on any other slider are one. A pause starts another."""
    import time

    from app import controls

    monkeypatch.setattr(controls, "NUDGE_MERGE_S", 0.5)
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    auto_and_wait(qtbot, win)
    auto = win.doc.recipe.dumps()
    n = win.doc.undo.count()
    win.panel.strength.setFocus()
    for _ in range(2):
        qtbot.keyClick(win.panel.strength, Qt.Key.Key_Right)
    assert win.panel.strength.value() == 70 and win.doc.undo.count() == n + 1
    time.sleep(0.6)
    qtbot.keyClick(win.panel.strength, Qt.Key.Key_Right)
    assert win.doc.undo.count() == n + 2
    win.doc.undo.undo()
    win.doc.undo.undo()
    assert win.doc.recipe.dumps() == auto and win.panel.strength.value() == 60
    time.sleep(0.6)
    qtbot.keyClick(win.panel.strength, Qt.Key.Key_End)
    assert win.panel.strength.value() == 150
    qtbot.keyClick(win.panel.strength, Qt.Key.Key_Home)  # the style's own, as on a step's slider (it went to 0 %)
    assert win.panel.strength.value() == 60 and win.doc.recipe.dumps() == auto


def test_a_curve_shows_the_tones_its_step_is_given(qtbot, win, folder):
    from app.commands import SetParam
    from engine.render import CURVE_BINS, curve_histograms

    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.panel.add_step("tone")
    settle(qtbot, win)
    curve = win.panel.steps.cards[0].controls["slopes"]
    qtbot.waitUntil(lambda: curve.histogram is not None, timeout=TIMEOUT)
    np.testing.assert_array_equal(curve.histogram,
                                  curve_histograms(win.doc.recipe, win._shown_source)[0])
    x = (np.arange(CURVE_BINS) + 0.5) / CURVE_BINS

    def mean(counts):
        return float((counts.sum(axis=0) * x).sum() / counts.sum())

    plain = mean(curve.histogram)
    canvas = curve.canvas
    with_hist = qimage_array(canvas.grab().toImage())
    curve.set_histogram(None)
    assert np.abs(qimage_array(canvas.grab().toImage()).astype(int) - with_hist).max() > 10  # it is drawn

    # an exposure step moved before the curve: the curve is given a brighter photo (the card rebuilt)
    win.panel.add_step("exposure")
    settle(qtbot, win)
    win.doc.undo.push(MoveStep(win.doc, 1, 0))
    win.doc.undo.push(SetParam(win.doc, 0, "ev", 1.0))
    settle(qtbot, win)
    curve = win.panel.steps.cards[1].controls["slopes"]
    qtbot.waitUntil(lambda: curve.histogram is not None and mean(curve.histogram) > plain + 0.05, timeout=TIMEOUT)

    # another photo: its own tones, never the last photo's
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    win.panel.add_step("color_curves")
    settle(qtbot, win)
    colour = win.panel.steps.cards[-1].controls["slopes"]
    qtbot.waitUntil(lambda: colour.histogram is not None, timeout=TIMEOUT)
    np.testing.assert_array_equal(colour.histogram,
                                  curve_histograms(win.doc.recipe, win._shown_source)[len(win.doc.recipe) - 1])
