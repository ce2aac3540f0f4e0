"""Photo > Pick White Balance (W) and a white balance card's Pick: click a spot that should be
neutral, on the real photo, and see it grey on screen."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from qt_helpers import auto_and_wait, open_and_wait, settle, shown

from engine.pick import spot
from engine.recipe import Recipe, Step
from engine.render import render


def _grey_spot(linear: np.ndarray, radius: int) -> tuple[int, int]:
    """A light spot of the photo, off grey by a cast the white balance can remove, and even (its
    pixels alike), so that a pixel or two of aim does not change what it says."""
    best = None
    h, w = linear.shape[:2]
    for y in range(40, h - 40, 6):
        for x in range(40, w - 40, 6):
            m = spot(linear, x, y, radius).mean(0)
            if m.max() > 0.8 or m.mean() < 0.1:
                continue
            g, b = m[0] / m[1], m[0] / m[2]
            if not (0.75 < g < 1.35 and 0.75 < b < 1.35) or max(abs(g - 1), abs(b - 1)) < 0.2:
                continue
            sd = float((spot(linear, x, y, radius + 2).std(0) / m).max())
            if best is None or sd < best[0]:
                best = (sd, x, y)
    assert best is not None
    return best[1], best[2]


def _widget_pos(win, x: float, y: float) -> QPoint:
    """Where the viewer shows the image pixel (x, y) (full-resolution coordinates)."""
    r, s = win.viewer.image_rect(), win.viewer.scale
    return QPoint(round(r.x() + (x + 0.5) * s), round(r.y() + (y + 0.5) * s))


def _click_image(qtbot, win, x: float, y: float) -> None:
    qtbot.mouseClick(win.viewer, Qt.MouseButton.LeftButton, pos=_widget_pos(win, x, y))


def _on_screen(win, x: float, y: float) -> np.ndarray:
    """The preview's colour (8-bit sRGB) over the spot a click at image pixel (x, y) picks."""
    img, k = shown(win).astype(float), win.viewer.preview_scale()
    r = round(win.picker.spot_radius(win.doc.linear) * k)
    px, py = round((x + 0.5) * k - 0.5), round((y + 0.5) * k - 0.5)  # the preview pixel over the spot's centre
    return img[py - r:py + r + 1, px - r:px + r + 1].reshape(-1, 3).mean(0)


def test_pick_sets_a_white_balance_from_the_spot_and_it_shows_grey(qtbot, win, folder):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    doc = win.doc
    qtbot.waitUntil(lambda: doc.linear is not None, timeout=60_000)
    x, y = _grey_spot(doc.linear, win.picker.spot_radius(doc.linear))
    before = _on_screen(win, x, y)
    assert np.ptp(before) > 10  # a cast one can see, in 8-bit levels
    qtbot.keyClick(win, Qt.Key.Key_W)  # Lightroom's key for its selector
    assert win.viewer.picking and "neutral" in win.panel.status.text()
    qtbot.mouseMove(win.viewer, _widget_pos(win, x, y))  # the readout: the spot as shown, in 8-bit levels
    said = re.fullmatch(r"Under the cursor: R (\d+) · G (\d+) · B (\d+) \(.*\)", win.statusBar().currentMessage())
    assert said, win.statusBar().currentMessage()
    assert np.abs(np.array([int(v) for v in said.groups()]) - before).max() <= 3, (said.groups(), before)
    qtbot.mouseMove(win.viewer, QPoint(2, 2))  # off the photo: no numbers
    assert win.statusBar().currentMessage() == ""
    _click_image(qtbot, win, x, y)
    settle(qtbot, win)
    assert not win.viewer.picking and win.statusBar().currentMessage() == ""
    assert [(s.op, s.source) for s in doc.recipe] == [("white_balance", "picked")]  # first, the photographer's
    assert win.panel.steps.cards[0].confidence.text().startswith("Picked on a spot you chose as neutral")
    assert "White balance set from the spot" in win.panel.status.text()
    after = _on_screen(win, x, y)
    # grey on screen, to a few levels: the preview's pixels about the spot, a level made smaller, mix
    # in the texture beside it (4 levels at one window size); the spot itself, rendered, to a level
    assert np.ptp(after) <= 5 < np.ptp(before) / 3, (before, after)
    picked = render(doc.recipe, spot(doc.linear, x, y, win.picker.spot_radius(doc.linear))[None], exact=True)
    assert np.ptp(np.asarray(picked)[0].mean(0) * 255) <= 1.0
    win.undo_group.undo()  # one entry
    settle(qtbot, win)
    assert len(doc.recipe) == 0


def test_pick_after_auto_sets_its_measured_white_balance_in_place(qtbot, win, folder):
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    doc = win.doc
    auto_and_wait(qtbot, win)
    qtbot.waitUntil(lambda: doc.linear is not None, timeout=60_000)
    auto = doc.recipe.copy()
    at = [s.source for s in auto].index("auto-white-balance")
    x, y = _grey_spot(doc.linear, win.picker.spot_radius(doc.linear))
    win.pick_white_balance()
    _click_image(qtbot, win, x, y)
    settle(qtbot, win)
    steps = doc.recipe.steps
    assert [s.op for s in steps] == [s.op for s in auto]  # no second white balance on top
    assert steps[at].params != auto.steps[at].params and steps[at].edited
    assert "the photo is now" in win.panel.status.text(), win.panel.status.text()  # as it changed from Auto's
    assert [s.to_json() for i, s in enumerate(steps) if i != at] == [s.to_json() for i, s in enumerate(auto) if i != at]
    # grey as it leaves the step, after the exposure before it
    from engine.render import replay

    px = spot(doc.linear, x, y, win.picker.spot_radius(doc.linear))
    out = np.asarray(replay(Recipe(steps[:at + 1]), px[None]))[0].mean(0)
    np.testing.assert_allclose(out / out.mean(), 1.0, atol=3e-3)
    win.undo_group.undo()
    settle(qtbot, win)
    assert doc.recipe.dumps() == auto.dumps()


def _neutral_after(doc, x: float, y: float, radius: int, upto: int | None = None) -> np.ndarray:
    """The spot's colour after the recipe's steps (all, or the first ``upto``), normalised to 1."""
    from engine.render import replay

    px = spot(doc.linear, x, y, radius)
    out = np.asarray(replay(Recipe(doc.recipe.steps[:upto]), px[None]))[0].mean(0)
    return out / out.mean()


def test_two_white_balances_esc_a_miss_and_a_cards_pick(qtbot, win, folder):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    doc = win.doc
    qtbot.waitUntil(lambda: doc.linear is not None, timeout=60_000)
    first = Step("white_balance", {"green": 1.1, "blue": 0.9})
    win._replace(doc, Recipe([first, Step("exposure", {"ev": 0.4}), Step.default("white_balance")]), "setup")
    settle(qtbot, win)
    saved = doc.recipe.dumps()
    x, y = _grey_spot(doc.linear, win.picker.spot_radius(doc.linear))
    r = win.picker.spot_radius(doc.linear)
    # Esc leaves the mode, wherever the focus is; the next click pans as ever
    win.pick_white_balance()
    win.filmstrip.setFocus()
    qtbot.keyClick(win.filmstrip, Qt.Key.Key_Escape)
    assert not win.viewer.picking and win.panel.status.text() == ""
    _click_image(qtbot, win, x, y)
    assert doc.recipe.dumps() == saved
    # a click off the photo says so, and the mode goes on for the next click
    win.pick_white_balance()
    qtbot.mouseClick(win.viewer, Qt.MouseButton.LeftButton, pos=QPoint(2, 2))
    assert "on the photo itself" in win.panel.status.text() and doc.recipe.dumps() == saved
    assert win.viewer.picking
    # the menu's pick sets the last white balance: nothing after it tints the spot again
    _click_image(qtbot, win, x, y)
    settle(qtbot, win)
    steps = doc.recipe.steps
    assert steps[0].params == first.params and steps[2].params != Step.default("white_balance").params
    np.testing.assert_allclose(_neutral_after(doc, x, y, r), 1.0, atol=3e-3)
    assert "the photo is now" in win.panel.status.text()
    # the first card's Pick: that step, and the message says the later one tints the spot again
    card = win.panel.steps.cards[0]
    assert card.pick is not None and not card.pick.isChecked()
    card.pick.click()
    assert win.viewer.picking and card.pick.isChecked() and not win.panel.steps.cards[2].pick.isChecked()
    card.pick.click()  # pressed again: stops
    assert not win.viewer.picking and not card.pick.isChecked()
    card.pick.click()  # the steps replaced meanwhile (Strength, an undo, a paste): the mode ends
    win._replace(doc, Recipe([*doc.recipe.copy().steps, Step("exposure", {"ev": 0.1})]), "Paste")
    assert not win.viewer.picking and not win.picker.active
    assert win.panel.status.text().startswith("Pick white balance stopped: the steps were replaced.")
    assert not any(c.pick.isChecked() for c in win.panel.steps.cards if c.pick is not None)
    doc.undo.undo()
    settle(qtbot, win)
    card = win.panel.steps.cards[0]
    card.pick.click()
    _click_image(qtbot, win, x, y)
    settle(qtbot, win)
    assert not win.panel.steps.cards[0].pick.isChecked()
    np.testing.assert_allclose(_neutral_after(doc, x, y, r, upto=1), 1.0, atol=3e-3)
    assert win.panel.status.text().endswith("Step 3, a later white balance, changes its colour again.")


def test_an_auto_white_balance_landing_after_a_pick_keeps_the_pick(qtbot, win, folder):
    """Ctrl+Shift+W, then a pick before it had measured: the measurement replaced the pick."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    doc = win.doc
    qtbot.waitUntil(lambda: doc.linear is not None, timeout=60_000)
    x, y = _grey_spot(doc.linear, win.picker.spot_radius(doc.linear))
    win.auto_white_balance()  # measures in the pool; its result comes through the event loop
    win.pick_white_balance()
    win.viewer.picked.emit(QPointF(x + 0.5, y + 0.5))  # the click, before the loop runs again
    picked = doc.recipe.dumps()
    assert [s.op for s in doc.recipe] == ["white_balance"]
    qtbot.waitUntil(lambda: "finished after the steps were edited" in win.panel.status.text(), timeout=60_000)
    assert doc.recipe.dumps() == picked and doc.undo.count() == 1


def test_showing_another_photo_leaves_pick_mode(qtbot, win, folder):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.pick_white_balance()
    assert win.viewer.picking
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    assert not win.viewer.picking and not win.picker.active
    win.viewer.picked.emit(QPointF(10, 10))  # a click that was under way: not onto this photo
    assert len(win.doc.recipe) == 0


def test_the_cards_temp_and_tint_move_the_gains_and_follow_a_pick(qtbot, win, folder):
    """The white balance card shows Lightroom's Temp and Tint over the two gains it stores: a Temp
    drag warms the photo on screen and is one undo step, the tint held; a pick moves both sliders."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    doc = win.doc
    win.panel.add_step("white_balance")
    settle(qtbot, win)
    card = win.panel.steps.cards[0]
    temp, tint = card.controls["temperature"], card.controls["tint"]
    assert (temp.value(), tint.value()) == (0, 0) and temp.label.text() == "Temp"
    before, n = shown(win).astype(float), doc.undo.count()
    temp.slider.setSliderDown(True)  # one drag, in three moves
    assert temp.slider.maximum() == 300  # a position a whole point
    for pos in (170, 190, 200):
        temp.slider.setValue(pos)
    temp.slider.setSliderDown(False)
    settle(qtbot, win)
    assert doc.undo.count() == n + 1 and temp.spin.text() == "+50"  # signed, as Lightroom's
    params = dict(doc.recipe.steps[0].params)
    assert params["blue"] < 1 and params["green"] < 1  # red up against both, blue the most
    assert doc.recipe.steps[0].spec.slider_values(params) == pytest.approx({"temperature": 50, "tint": 0})
    warmer = shown(win).astype(float)
    shift = (warmer[..., 0] - warmer[..., 2]).mean() - (before[..., 0] - before[..., 2]).mean()
    assert shift > 10, shift  # red against blue, in 8-bit levels on screen
    tint.spin.setFocus()
    tint.spin.selectAll()
    qtbot.keyClicks(tint.spin, "30")
    qtbot.keyClick(tint.spin, Qt.Key.Key_Return)
    settle(qtbot, win)
    assert doc.recipe.steps[0].spec.slider_values(doc.recipe.steps[0].params) == pytest.approx(
        {"temperature": 50, "tint": 30}) and doc.recipe.steps[0].params["blue"] == params["blue"]
    # a pick on this card: both sliders show the new balance
    x, y = _grey_spot(doc.linear, win.picker.spot_radius(doc.linear))
    card.pick.click()
    _click_image(qtbot, win, x, y)
    settle(qtbot, win)
    card = win.panel.steps.cards[0]
    picked = doc.recipe.steps[0].spec.slider_values(doc.recipe.steps[0].params)
    assert abs(picked["temperature"] - 50) > 5
    assert {k: c.value() for k, c in card.controls.items()} == {k: round(v) for k, v in picked.items()}
    win.undo_group.undo()
    win.undo_group.undo()
    win.undo_group.undo()
    settle(qtbot, win)
    assert doc.recipe.steps[0].params == {"green": 1.0, "blue": 1.0}
    card = win.panel.steps.cards[0]
    assert {k: c.value() for k, c in card.controls.items()} == {"temperature": 0, "tint": 0}
    # the keys move whole points: an arrow one, Page ten
    card.controls["temperature"].slider.setFocus()
    qtbot.keyClick(card.controls["temperature"].slider, Qt.Key.Key_Right)
    qtbot.keyClick(card.controls["temperature"].slider, Qt.Key.Key_PageUp)
    settle(qtbot, win)
    assert card.controls["temperature"].spin.text() == "+11" and card.controls["tint"].spin.text() == "0"
    assert doc.recipe.steps[0].spec.slider_values(doc.recipe.steps[0].params)["temperature"] == pytest.approx(11)
