"""Edits the photographer did not mean: the wheel while scrolling, a value typed but not entered when
the steps are replaced, a click on a curve, a second white balance, undo entries that undo nothing."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication
from qt_helpers import TIMEOUT, auto_and_wait, open_and_wait, settle

from engine.recipe import Recipe, Step


def _wheel(widget, notches: int = -1) -> bool:
    """One wheel turn over ``widget``; whether it took the event (an ignored one goes on to the
    step list, which scrolls: Qt passes a real wheel event to the parent)."""
    pos = QPointF(widget.rect().center())
    ev = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, 120 * notches),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, ev)
    return ev.isAccepted()


def test_the_wheel_scrolls_past_sliders_and_fields_until_one_is_clicked(qtbot, win, folder):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.panel.add_step("exposure")
    settle(qtbot, win)
    doc, ctrl = win.doc, win.panel.steps.cards[0].controls["ev"]
    n, strength = doc.undo.count(), win.panel.strength.value()
    win.viewer.setFocus()
    for w in (ctrl.slider, ctrl.spin, win.panel.strength):
        assert not _wheel(w), w
    assert doc.recipe.steps[0].params["ev"] == 0.0 and doc.undo.count() == n
    assert win.panel.strength.value() == strength
    ctrl.slider.setFocus(Qt.FocusReason.TabFocusReason)  # clicked or tabbed to: now the wheel is for it
    assert _wheel(ctrl.slider, +1)
    assert doc.recipe.steps[0].params["ev"] > 0.0 and doc.undo.count() == n + 1
    # Enter in the value field hands the keyboard to the slider, not the wheel: scrolling the steps
    # past it changed the value (review)
    ctrl.spin.setFocus(Qt.FocusReason.MouseFocusReason)
    ctrl.spin.lineEdit().selectAll()
    qtbot.keyClicks(ctrl.spin.lineEdit(), "0.5")
    qtbot.keyClick(ctrl.spin, Qt.Key.Key_Return)
    assert ctrl.slider.hasFocus() and doc.recipe.steps[0].params["ev"] == 0.5
    assert not _wheel(ctrl.slider, +1) and doc.recipe.steps[0].params["ev"] == 0.5
    qtbot.mouseClick(ctrl.slider, Qt.MouseButton.LeftButton, pos=ctrl.slider.rect().center())  # clicked: it is
    assert _wheel(ctrl.slider, +1)


def _type_only(qtbot, spin, text: str) -> None:
    """Type into a step's field without Enter: the cursor stays in it."""
    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), text)


def test_a_value_typed_then_pasted_over_lands_on_its_own_step_first(qtbot, win, folder):
    """Typed, not entered, then Paste: the field was entered as the cards were rebuilt, onto the
    pasted step in its place (the paste then read 2.5 EV, not its own), after the paste in the undo
    history, so that Undo and Redo gave another photo."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    doc = win.doc
    win.panel.add_step("exposure")
    settle(qtbot, win)
    win.clipboard = Recipe([Step("exposure", {"ev": 0.75}), Step("gamma", {"gamma": 1.2})])
    _type_only(qtbot, win.panel.steps.cards[0].controls["ev"].spin, "2.5")
    assert doc.recipe.steps[0].params["ev"] == 0.0  # not entered yet
    win.paste_recipe()
    assert [(s.op, s.params) for s in doc.recipe] == [("exposure", {"ev": 0.75}), ("gamma", {"gamma": 1.2})]
    texts = [doc.undo.text(i) for i in range(doc.undo.count())]
    assert texts[-2:] == ["Change Exposure", "Paste recipe"]
    doc.undo.undo()
    assert doc.recipe.steps[0].params["ev"] == 2.5  # the typed value, on its own step
    doc.undo.redo()
    assert doc.recipe.steps[0].params["ev"] == 0.75


def test_reset_and_auto_while_a_value_is_typed_raise_nothing_and_keep_it_undoable(qtbot, win, folder):
    """Reset (Ctrl+R) raised IndexError and Auto a KeyError ("filter 'exposure' has no parameter
    'amount'") from the old card's field entered onto the new steps."""
    errors = []
    hook = lambda *exc: errors.append(exc[1])  # noqa: E731
    import sys

    saved, sys.excepthook = sys.excepthook, hook
    try:
        open_and_wait(qtbot, win, folder / "b_dune.jpg")
        doc = win.doc
        win.panel.add_step("exposure")
        win.panel.add_step("saturation")
        settle(qtbot, win)
        _type_only(qtbot, win.panel.steps.cards[1].controls["amount"].spin, "0.4")
        win.reset()
        assert len(doc.recipe) == 0
        doc.undo.undo()
        assert doc.recipe.steps[1].params["amount"] == 0.4
        _type_only(qtbot, win.panel.steps.cards[1].controls["amount"].spin, "-0.3")
        auto_and_wait(qtbot, win)
        assert "saturation" not in [s.op for s in doc.recipe][:1]
        texts = [doc.undo.text(i) for i in range(doc.undo.count())]
        assert texts[-2:] == ["Change Saturation Amount", "Auto"]
    finally:
        sys.excepthook = saved
    assert errors == []


def test_a_click_on_a_curve_picks_its_zone_and_only_a_drag_changes_it(qtbot, win, folder):
    """A press set the zone to the pointer's height (a click on a handle moved it; one in the plot
    above set the zone under it to the steepest), a right-click too, and the arrow keys then moved
    zone 0, not the one clicked."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.panel.add_step("color_curves")
    settle(qtbot, win)
    doc, ed = win.doc, win.panel.steps.cards[0].controls["slopes"]
    canvas = ed.canvas
    ed.buttons.button(2).click()  # the blue channel
    n = doc.undo.count()
    flat = [[1.0] * 8] * 3
    h6 = canvas.handle_pos(6).toPoint()
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=canvas.plot().center().toPoint())
    assert canvas.point == 4  # a click on the curve picks its point, for the keyboard
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=h6)
    qtbot.mouseClick(canvas, Qt.MouseButton.RightButton, pos=canvas.handle_pos(2).toPoint())
    assert doc.recipe.steps[0].params["slopes"] == flat and doc.undo.count() == n
    assert canvas.zone == 6 and canvas.point is None  # the last left click's zone, for the keyboard
    qtbot.keyClick(canvas, Qt.Key.Key_Up)
    slopes = doc.recipe.steps[0].params["slopes"]
    assert slopes[2][6] > 1.0 and sum(v != 1.0 for row in slopes for v in row) == 1
    # a drag moves it by as much as the pointer moves, from where it was
    before = slopes[2][6]
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=h6 + QPoint(0, 3))  # a little below the handle
    qtbot.mouseMove(canvas, h6 + QPoint(0, -7))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=h6 + QPoint(0, -7))
    moved = doc.recipe.steps[0].params["slopes"][2][6] - before
    assert 0 < moved < 0.5  # 10 px of a ~40 px strip spanning 0.5-2: ~0.37, never a jump to the pointer


def test_auto_white_balance_replaces_a_pasted_white_balance(qtbot, win, folder):
    """A pasted (or hand-added) white balance stayed, and the measured one went first: two gains
    multiplied."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    doc = win.doc
    win.clipboard = Recipe([Step("exposure", {"ev": 0.3}), Step("white_balance", {"green": 1.1, "blue": 0.8})])
    win.paste_recipe()
    n = doc.undo.count()
    win.auto_white_balance()
    qtbot.waitUntil(lambda: doc.undo.count() == n + 1, timeout=TIMEOUT)
    assert [(s.op, s.source) for s in doc.recipe] == [("exposure", "pasted"), ("white_balance", "auto-white-balance")]
    # measured again: the same step, no undo entry that changes nothing, and said so
    win.auto_white_balance()
    qtbot.waitUntil(lambda: "already holds" in win.panel.status.text(), timeout=TIMEOUT)
    assert doc.undo.count() == n + 1


def test_no_undo_entry_for_an_edit_that_changes_nothing(qtbot, win, folder):
    """The Strength handle pressed and let go in place, a label double-clicked at its default and
    Reset to defaults on a step at its defaults each added an entry that Ctrl+Z undid invisibly."""
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    doc = win.doc
    auto_and_wait(qtbot, win)
    n = doc.undo.count()
    win.panel.strength.sliderReleased.emit()  # let go where it was
    win.panel.add_step("saturation")
    settle(qtbot, win)
    card = win.panel.steps.cards[-1]
    label = card.controls["amount"].label
    qtbot.mouseDClick(card.controls["amount"], Qt.MouseButton.LeftButton, pos=label.geometry().center())
    card.reset_params()
    assert [doc.undo.text(i) for i in range(n, doc.undo.count())] == ["Add Saturation"]


def test_strength_says_why_it_leaves_a_photo_alone(qtbot, win, folder):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.panel.strength.setValue(80)
    assert win.panel.status.text() == "No steps yet: the strength applies when you press Auto."
    win.panel.add_step("exposure")
    win.panel.strength.setValue(70)
    assert "not made by Auto" in win.panel.status.text()


def test_a_value_typed_then_next_photo_stays_with_its_photo(qtbot, win, folder):
    """Ctrl+Right with a value typed and not entered: the value was dropped."""
    open_and_wait(qtbot, win, folder / "a_dune.dng")
    doc = win.doc
    win.panel.add_step("exposure")
    _type_only(qtbot, win.panel.steps.cards[0].controls["ev"].spin, "1.5")
    with qtbot.waitSignal(win.photoShown, timeout=TIMEOUT):
        win.filmstrip.step(+1)
    assert win.doc is not doc and doc.recipe.steps[0].params["ev"] == 1.5


def test_quick_key_presses_on_a_slider_are_one_undo_step(qtbot, win, folder, monkeypatch):
    """PageUp ten times made ten "Change" entries, undone one by one; quick repeats are one, as
    darktable merges them. A pause starts another."""
    import time

    from app import controls

    monkeypatch.setattr(controls, "NUDGE_MERGE_S", 0.5)
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.panel.add_step("exposure")
    settle(qtbot, win)
    doc, ctrl = win.doc, win.panel.steps.cards[0].controls["ev"]
    n = doc.undo.count()
    ctrl.slider.setFocus()
    for _ in range(5):
        qtbot.keyClick(ctrl.slider, Qt.Key.Key_PageUp)
    five = doc.recipe.steps[0].params["ev"]
    assert five > 0.2 and doc.undo.count() == n + 1
    time.sleep(0.6)
    qtbot.keyClick(ctrl.slider, Qt.Key.Key_PageUp)
    assert doc.recipe.steps[0].params["ev"] > five and doc.undo.count() == n + 2
    doc.undo.undo()
    assert doc.recipe.steps[0].params["ev"] == five
    doc.undo.undo()
    assert doc.recipe.steps[0].params["ev"] == 0.0
    # Home resets, as on the curves (Qt's Home went to the range's end: Temp's -150, a strong blue cast)
    win.panel.add_step("white_balance")

    def temp():
        return win.panel.steps.cards[-1].controls["temperature"]

    temp().slider.setFocus()
    qtbot.keyClick(temp().slider, Qt.Key.Key_PageUp)
    assert temp().value() == 10 and not doc.recipe.steps[-1].is_identity()
    qtbot.keyClick(temp().slider, Qt.Key.Key_Home)
    assert temp().value() == 0 and temp().slider.value() == temp().to_pos(0) and doc.recipe.steps[-1].is_identity()
    doc.undo.undo()
    assert temp().value() == 10
    qtbot.keyClick(temp().slider, Qt.Key.Key_Home, Qt.KeyboardModifier.KeypadModifier)  # the keypad's Home
    assert temp().value() == 0


def test_a_step_deleted_by_mouse_leaves_the_list_where_it_is_and_the_wheel_to_its_own_step(qtbot, win, folder):
    """A slider clicked, the list scrolled to its end, the last card deleted: the list jumped back to
    the clicked slider, and a delete above it gave its wheel to the next step's slider (QA)."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.resize(1280, 720)
    for op in ("exposure", "exposure", "exposure", "gamma", "contrast", "gamma", "contrast", "exposure"):
        win.panel.add_step(op)
    settle(qtbot, win)
    steps = win.panel.steps
    first = steps.cards[1].controls["ev"].slider
    qtbot.mouseClick(first, Qt.MouseButton.LeftButton, pos=first.rect().center())  # clicked: the wheel is its
    assert first.hasFocus() and first.wheel_armed
    bar = steps.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=TIMEOUT)
    bar.setValue(bar.maximum())
    qtbot.mouseClick(steps.cards[-1].close_btn, Qt.MouseButton.LeftButton)
    qtbot.wait(100)  # the rebuild's deferred scroll, had there been one
    assert len(win.doc.recipe) == 7 and bar.value() >= bar.maximum() - 5, (bar.value(), bar.maximum())
    slider = steps.cards[1].controls["ev"].slider
    assert slider.hasFocus() and slider.wheel_armed  # the same step: its wheel kept
    qtbot.mouseClick(steps.cards[0].close_btn, Qt.MouseButton.LeftButton)  # a step above it deleted
    ev = win.doc.recipe.steps[0].params["ev"]
    now = steps.cards[0].controls["ev"].slider  # the clicked step, now first: still the same step
    assert now.hasFocus() and now.wheel_armed and _wheel(now, +1) and win.doc.recipe.steps[0].params["ev"] != ev
