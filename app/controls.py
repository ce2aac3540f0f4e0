"""Controls generated from a filter's :class:`~engine.filters.base.Param` declaration.

Scalars get a slider (log-spaced where ``Param.log_scale``) with a numeric entry and the unit;
``(8,)`` and ``(3, 8)`` parameters (tone and colour curves) get a :class:`CurveEditor`. Each
control emits ``edited(value, gesture)``: one gesture is one slider drag or handle drag, so the
undo stack merges it into a single step.
"""

from __future__ import annotations

import itertools
import math
import re
import time
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFocusEvent,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
    QValidator,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QButtonGroup,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.color import srgb_encode
from engine.filters import Param
from engine.filters.base import curve_knots, move_knot, points

from . import theme

_gestures = itertools.count(1)
SLIDER_STEPS = 1000
_controls: weakref.WeakSet = weakref.WeakSet()  # every live control, to ask who is being dragged


def new_gesture() -> int:
    return next(_gestures)


#: Key presses (or wheel notches) on one control this close together are one undo step, as
#: darktable merges quick repeats: PageUp ten times made ten entries to undo one by one.
NUDGE_MERGE_S = 1.0


class Nudges:
    """The gesture for a control's key or wheel changes: the same one while they keep coming, to
    the same ``key`` (a curve's zone and channel: each handle is its own undo step)."""

    def __init__(self) -> None:
        self._gesture, self._last, self._key = 0, -1e9, None

    def gesture(self, key: object = None) -> int:
        now = time.monotonic()
        if now - self._last > NUDGE_MERGE_S or key != self._key:
            self._gesture = new_gesture()
        self._last, self._key = now, key
        return self._gesture


def dragging() -> bool:
    """True while any slider or curve handle is held: the preview renders drafts meanwhile."""
    for w in list(_controls):
        try:
            if w.is_dragging():
                return True
        except RuntimeError:  # its C++ side is gone (card rebuilt mid-drag)
            _controls.discard(w)
    return False


def _wheel_only_focused(widget: QWidget, event: QWheelEvent, handle: Any) -> None:
    """The wheel turns a control only once it has the keyboard focus (clicked or tabbed to), as
    darktable offers and Lightroom's panels do; otherwise the event goes on to the step list, which
    scrolls. Scrolling past the cards moved every slider under the pointer."""
    if widget.hasFocus() and getattr(widget, "wheel_armed", True):
        handle(event)
    else:
        event.ignore()


def commit_typing() -> None:
    """A value typed into a step's field and not yet entered is entered now, onto its own step.
    Called before an action replaces the steps (Paste, Reset, Auto...): the field was otherwise
    entered as its card was rebuilt, onto whichever step then had its place."""
    w = QApplication.focusWidget()
    while w is not None and not isinstance(w, _ParamSpin):
        w = w.parentWidget() if not isinstance(w, ParamSlider) else None
    if isinstance(w, _ParamSpin) and w.text() != w.textFromValue(w.value()) + w.suffix():
        w.interpretText()


class FocusSlider(QSlider):
    """A slider that takes the wheel only when focused (:func:`_wheel_only_focused`)."""

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # not WheelFocus: the wheel gives no focus
        #: what Home does: the parameter's default (as on the curves), not the range's end; Qt's Home
        #: on Temp went to -150, a strong blue cast, one key away from the arrows that nudge it
        self.on_home: Callable[[], None] | None = None
        #: whether the wheel turns it while focused: not when the focus came from the app (Enter in
        #: its value field), or scrolling the steps past it changed the value (review)
        self.wheel_armed = True

    def focusInEvent(self, event: QFocusEvent) -> None:
        reason = event.reason()
        if reason == Qt.FocusReason.OtherFocusReason:
            self.wheel_armed = False
        elif reason not in (Qt.FocusReason.ActiveWindowFocusReason, Qt.FocusReason.PopupFocusReason):
            self.wheel_armed = True  # clicked or tabbed to
        super().focusInEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.wheel_armed = True
        super().mousePressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        _wheel_only_focused(self, event, super().wheelEvent)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        bare = not (event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier)  # the keypad's Home too
        if event.key() == Qt.Key.Key_Home and self.on_home is not None and bare:
            self.on_home()
            return
        super().keyPressEvent(event)


class _ParamSpin(QDoubleSpinBox):
    """A number field that takes a typed value beyond its range and clamps it on Enter, as
    Lightroom's do. Qt's own drops the keystroke that leaves the range, so "4.5" typed into
    Exposure (±3.5) stored 0.5, and the "-" of "-0.5" typed into a field that starts above zero
    (Gamma), which stored 0.5, the other way from the one asked."""

    #: a number on its way: a sign, a decimal point, an exponent not yet finished ("-", "-.", "1e")
    _PARTIAL = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d*)?([eE][+-]?\d*)?")

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.stepping = False  # a change from the arrow keys or the wheel (stepBy), not a typed value
        self.points = False  # whole signed points (Temp, Tint): "+4", "-12", "0", as Lightroom's fields

    def textFromValue(self, value: float) -> str:
        return points(value) if self.points else super().textFromValue(value)

    def stepBy(self, steps: int) -> None:
        self.stepping = True
        try:
            super().stepBy(steps)
        finally:
            self.stepping = False

    def _body(self, text: str) -> str:
        """The number typed, its unit left out."""
        return (text.removesuffix(self.suffix()) if self.suffix() else text).strip()

    def _number(self, text: str) -> float | None:
        try:
            v = float(self._body(text).replace(",", "."))
        except ValueError:
            return None
        return v if math.isfinite(v) else None

    def validate(self, text: str, pos: int) -> object:
        state, text, pos = super().validate(text, pos)
        if state == QValidator.State.Invalid and (self._number(text) is not None
                                                  or self._PARTIAL.fullmatch(self._body(text))):
            return QValidator.State.Intermediate, text, pos  # out of range, or on its way: fixup() clamps it
        return state, text, pos

    def event(self, e: QEvent) -> bool:
        """Ctrl+Z / Ctrl+Shift+Z reach the window's Undo / Redo while the field holds nothing of
        its own to undo (its text is the value stored): the field took them and did nothing."""
        if (e.type() == QEvent.Type.ShortcutOverride and isinstance(e, QKeyEvent)
                and (e.matches(QKeySequence.StandardKey.Undo) or e.matches(QKeySequence.StandardKey.Redo))
                and self.text() == self.textFromValue(self.value()) + self.suffix()):
            e.ignore()
            return False
        return super().event(e)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter enters the value and Esc drops what was typed; either hands the keys back to the
        window, as Lightroom's fields do: the field kept them, so W, J, \\ and Ctrl+Right did nothing
        until Tab or a click, and a value typed then "cancelled" with Esc was entered at the next click."""
        key = event.key()
        if key == Qt.Key.Key_Escape:
            self.lineEdit().setText(self.textFromValue(self.value()) + self.suffix())  # the value stored
            self._leave()
            return
        super().keyPressEvent(event)
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._leave()

    def _leave(self) -> None:
        """To the control's slider, which leaves the window's keys alone, so that Tab goes on from
        here: the focus cleared, Tab went back to the window's first stop (QA)."""
        slider = getattr(self.parentWidget(), "slider", None)
        if isinstance(slider, QSlider) and slider.isVisible():
            slider.setFocus(Qt.FocusReason.OtherFocusReason)
        else:
            self.clearFocus()

    def wheelEvent(self, event: QWheelEvent) -> None:
        _wheel_only_focused(self, event, super().wheelEvent)

    def fixup(self, text: str) -> str:
        v = self._number(text)
        if v is None:
            return text
        return self.textFromValue(min(max(v, self.minimum()), self.maximum())) + self.suffix()


class ParamSlider(QWidget):
    """Label, slider and spin box for one scalar parameter."""

    edited = Signal(float, int)

    def __init__(self, param: Param, value: float, parent: QWidget | None = None):
        super().__init__(parent)
        self.param = param
        self._gesture = new_gesture()
        self._nudges = Nudges()
        self.label = QLabel(param.label)
        self.label.setToolTip(param.description)
        self.label.setMinimumWidth(64)
        self.slider = FocusSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName(f"{param.name}Slider")  # Temp and Tint draw their colours (theme)
        span, whole = param.max - param.min, param.whole  # Temp and Tint: whole points, as Lightroom's
        self.steps = round(span) if whole else SLIDER_STEPS
        self.slider.setRange(0, self.steps)
        # an arrow press moves 1 % of the range (0.07 EV of Exposure; it was 0.1 %: invisible), Page 5 %;
        # a whole-point slider moves a point and ten
        self.slider.setSingleStep(1 if whole else SLIDER_STEPS // 100)
        self.slider.setPageStep(10 if whole else SLIDER_STEPS // 20)
        self.slider.setToolTip(f"{param.description}\nDouble-click the label to reset to {param.default:g}.")
        self.spin = _ParamSpin()
        self.spin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        decimals = 0 if whole else 3 if span <= 1.0 else 2
        self.spin.setDecimals(decimals)
        self.spin.points = whole
        self.spin.setRange(param.min, param.max)
        self.spin.setSingleStep(1 if decimals == 0 else 10 ** -(decimals - 1) if span > 1 else span / 100)
        if param.log_scale:  # a gain or a gamma: an arrow press moves by a share of the value, not 0.1
            self.spin.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        self.spin.setKeyboardTracking(False)
        self.spin.setToolTip(f"{param.description}\nType a value from {param.min:.4g} to {param.max:.4g}; "
                             "one beyond is brought inside.")
        if param.unit:  # a factor reads "1.14×"; spaced, the × looked like a close button
            self.spin.setSuffix(param.unit if param.unit == "×" else f" {param.unit}")
        self.spin.setFixedWidth(78)
        self.spin.setObjectName("paramSpin")  # theme hides its arrows (NoButtons collapses the text box)
        self.spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.label.setBuddy(self.spin)  # screen readers name the field and the slider by the label
        self.spin.setAccessibleName(param.label)
        self.slider.setAccessibleName(param.label)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.spin)
        self.set_value(value)
        _controls.add(self)
        self.slider.sliderPressed.connect(self._start_gesture)
        self.slider.valueChanged.connect(self._from_slider)
        self.spin.valueChanged.connect(self._from_spin)
        self.slider.on_home = self.reset

    # -- slider position <-> value (log where declared) ----------------------------------
    def to_pos(self, v: float) -> int:
        p = self.param
        if p.whole:  # a position a point, rounded as the field rounds (halves away from zero)
            return min(max(math.floor(v - p.min + 0.5), 0), self.steps)
        if p.log_scale:
            t = (math.log(v) - math.log(p.min)) / (math.log(p.max) - math.log(p.min))
        else:
            t = (v - p.min) / (p.max - p.min)
        return round(min(max(t, 0.0), 1.0) * self.steps)

    def from_pos(self, pos: int) -> float:
        if self.param.whole:
            return float(self.param.min + pos)
        p, t = self.param, pos / self.steps
        if p.log_scale:
            return math.exp(math.log(p.min) + t * (math.log(p.max) - math.log(p.min)))
        return p.min + t * (p.max - p.min)

    def value(self) -> float:
        return float(self.spin.value())

    def is_dragging(self) -> bool:
        return self.slider.isSliderDown()

    def let_go(self) -> None:
        """End a drag held on this slider: its card goes."""
        self.slider.setSliderDown(False)

    def set_value(self, v: float) -> None:
        """Model -> view, without echoing an edit."""
        for w in (self.slider, self.spin):
            w.blockSignals(True)
        self.slider.setValue(self.to_pos(float(v)))
        self.spin.setValue(float(v))
        for w in (self.slider, self.spin):
            w.blockSignals(False)

    def _start_gesture(self) -> None:
        self._gesture = new_gesture()

    def _from_slider(self, pos: int) -> None:
        v = self.from_pos(pos)
        self.spin.blockSignals(True)
        self.spin.setValue(v)
        self.spin.blockSignals(False)
        gesture = self._gesture if self.slider.isSliderDown() else self._nudges.gesture()
        self.edited.emit(v, gesture)

    def _from_spin(self, v: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(self.to_pos(v))
        self.slider.blockSignals(False)
        # the arrows held (or the wheel) are one undo step while they keep coming; each typed value its own
        self.edited.emit(float(v), self._nudges.gesture() if self.spin.stepping else new_gesture())

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.label.geometry().contains(event.position().toPoint()):
            self.reset()

    def reset(self) -> None:
        """Back to the parameter's default: a double-click on the label, or Home on the slider."""
        if self.value() != self.param.default:
            self.set_value(self.param.default)
            self.edited.emit(float(self.param.default), new_gesture())


class CurveEditor(QWidget):
    """Eight zone handles per channel; dragging one up makes that tonal zone steeper.

    The handles sit at each zone's centre, their height showing the zone's slope within the
    parameter's range; the resulting curve (what the filter applies) is drawn over the diagonal.
    """

    edited = Signal(object, int)
    CHANNEL_COLOURS = ("#ff6b6b", "#6bd36b", "#6b9bff")

    def __init__(self, param: Param, value: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.param = param
        self.values = np.array(value, np.float64).reshape(param.shape)
        self.multi = len(param.shape) == 2
        self.channel = 0
        self._drag: int | None = None
        self._gesture = 0
        self.histogram: np.ndarray | None = None  # what the curve is given, (3, bins) counts over its axis
        _controls.add(self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        if self.multi:
            row = QHBoxLayout()
            row.addWidget(QLabel("Channel"))
            self.buttons = QButtonGroup(self)
            for i, name in enumerate(("R", "G", "B")):
                b = QToolButton(text=name, checkable=True)
                b.setStyleSheet(f"QToolButton {{ color: {self.CHANNEL_COLOURS[i]}; font-weight: 600; "
                                "min-width: 22px; }")
                b.setChecked(i == 0)
                b.setAccessibleName(f"{('Red', 'Green', 'Blue')[i]} curve")  # read as "R" before
                b.setToolTip(f"Edit the {('red', 'green', 'blue')[i]} channel's curve")
                self.buttons.addButton(b, i)
                row.addWidget(b)
            row.addStretch(1)
            self.buttons.idClicked.connect(self._pick_channel)
            lay.addLayout(row)
        self.canvas = _CurveCanvas(self)  # after the R/G/B buttons: Tab reaches them first
        lay.addWidget(self.canvas)
        self.canvas.setToolTip(f"{param.description}.\nDrag a point of the curve up or down to lift or lower "
                               "that tone; the points beside it give way only once the zones next to it are at "
                               "their limit.\nBelow, drag a handle up for more contrast in that zone (shadows "
                               "left, highlights right); double-click it to reset.\nBehind the curve: the "
                               "photo's tones as this step gets them. The axis is linear light, so the first zone "
                               "holds every tone darker than 99 of 255 on screen; a point dragged reads its tone "
                               "in and out on screen, in levels of 255.")

    def _pick_channel(self, i: int) -> None:
        self.let_go()  # a drag on one channel's curve never goes on onto another's
        self.channel = i
        self.canvas.update()

    def let_go(self) -> None:
        """End a drag held on this editor: its channel changes, or its card goes."""
        self._drag = self.canvas._knot = None
        self.canvas.update()

    def rows(self) -> np.ndarray:
        return self.values if self.multi else self.values[None, :]

    def value(self) -> list:
        return self.values.tolist()

    def is_dragging(self) -> bool:
        return self._drag is not None

    def set_value(self, v: Any) -> None:
        self.values = np.array(v, np.float64).reshape(self.param.shape)
        self.canvas.update()

    def set_histogram(self, counts: np.ndarray | None) -> None:
        """Draw ``counts`` behind the curve: each channel's tones as the step gets them."""
        if counts is None and self.histogram is None:
            return
        self.histogram = None if counts is None else np.asarray(counts)
        self.canvas.update()

    def set_knot(self, knot: int, y: float, gesture: int, start: np.ndarray | None = None) -> None:
        """Move the curve's point at zone edge ``knot`` to output ``y`` (:func:`move_knot`, within
        the zones' range). ``start``: the channel's zones when the drag began, which every move
        starts from, so a point dragged away and back gives the curve back as it was."""
        row = self.rows()[self.channel]
        row[:] = move_knot(row if start is None else start, knot, y, self.param.min, self.param.max)
        self.canvas.update()
        self.edited.emit(self.value(), gesture)

    def set_zone(self, zone: int, slope: float, gesture: int) -> None:
        slope = float(min(max(slope, self.param.min), self.param.max))
        if self.multi:
            self.values[self.channel, zone] = slope
        else:
            self.values[zone] = slope
        self.canvas.update()
        self.edited.emit(self.value(), gesture)


class _CurveCanvas(QWidget):
    """Top: the resulting curve (input tone -> output tone), whose points at the zones' edges drag
    up and down as a point curve's do. Bottom: a strip with one handle per zone, its height the
    zone's steepness (the declared range, default on the dashed line)."""

    STRIP = 52

    def __init__(self, editor: CurveEditor):
        super().__init__(editor)
        self.ed = editor
        self._nudges = Nudges()
        self.setMinimumHeight(200)
        # the plot 4:3 at the panel's width: a fixed 200 px made it a wide strip (2.7:1), its slopes
        # flattened beside the square plots photographers know
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setCursor(Qt.CursorShape.SizeVerCursor)
        # the keyboard: Left/Right pick a zone, Up/Down change its steepness (Shift: 5x), Home resets
        # it; the curves could only be edited with a mouse
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName(f"{editor.param.label} curve")
        self.zone = 0
        self._press = (0.0, 0.0)  # the pointer's height and the zone's value when the drag began
        self._knot: int | None = None  # the curve point being dragged (a zone edge, 1 .. n-1)
        self._start = np.zeros(0)  # its channel's zones when that drag began
        self.point: int | None = None  # the curve point the keys move, once one was dragged; else a zone's handle

    def sizeHint(self) -> QSize:
        return QSize(240, self.heightForWidth(240))

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, w: int) -> int:
        # 4:3 up to a plot 180 px tall: taller, a curve card outgrew a 700 px window's step list
        return max(200, min(round((w - 16) * 0.75), 180) + self.STRIP + 32)

    def plot(self) -> QRectF:
        """Where the curve is drawn (square-ish, above the strip)."""
        r = QRectF(self.rect()).adjusted(8, 6, -8, -(self.STRIP + 26))  # room for the strip labels
        return r

    def strip(self) -> QRectF:
        r = QRectF(self.rect()).adjusted(8, 0, -8, -6)
        return QRectF(r.left(), r.bottom() - self.STRIP, r.width(), self.STRIP)

    def handle_pos(self, zone: int) -> QPointF:
        r, p = self.strip().adjusted(0, 6, 0, -6), self.ed.param
        v = self.ed.rows()[self.ed.channel, zone]
        t = (v - p.min) / (p.max - p.min)
        n = self.ed.param.shape[-1]
        return QPointF(r.left() + r.width() * (zone + 0.5) / n, r.bottom() - t * r.height())

    def _slope_at(self, y: float) -> float:
        r, p = self.strip().adjusted(0, 6, 0, -6), self.ed.param
        t = min(max((r.bottom() - y) / r.height(), 0.0), 1.0)
        return p.min + t * (p.max - p.min)

    def _hit(self, pos: QPointF) -> int | None:
        """The zone whose handle column ``pos`` is in, within the handle strip (the curve above
        is a picture of the result, not a control)."""
        r = self.strip()
        if not (r.left() <= pos.x() <= r.right() and r.top() - 6 <= pos.y() <= r.bottom() + 6):
            return None
        n = self.ed.param.shape[-1]
        return min(n - 1, max(0, int((pos.x() - r.left()) / r.width() * n)))

    def knot_pos(self, knot: int) -> QPointF:
        r = self.plot()
        x, y = curve_knots(self.ed.rows()[self.ed.channel])[knot]
        return QPointF(r.left() + x * r.width(), r.bottom() - y * r.height())

    def _hit_knot(self, pos: QPointF) -> int | None:
        """The curve point nearest ``pos`` across, for a press on the plot (not at its two ends,
        which stay at black and white)."""
        r = self.plot()
        if not r.adjusted(-4, -6, 4, 6).contains(pos):
            return None
        n = self.ed.param.shape[-1]
        knot = round((pos.x() - r.left()) / r.width() * n)
        return knot if 0 < knot < n else None

    def readout(self) -> str | None:
        """The curve point dragged, or the one the keys move: its tone in and out as shown on
        screen, in levels of 255 (Lightroom's "Input / Output"; the axis itself is linear light)."""
        knot = self._knot if self._knot is not None else self.point if self.hasFocus() else None
        if knot is None:
            return None
        x, y = curve_knots(self.ed.rows()[self.ed.channel])[knot]
        a, b = (round(float(v) * 255) for v in srgb_encode(np.array([x, y])))
        return f"{a} → {b}"

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """A press picks the zone (the arrow keys follow it), or on the curve the point at the
        nearest zone edge; only moving changes it, by as much as the pointer moves: a click set
        the zone to the pointer's height."""
        left = event.button() == Qt.MouseButton.LeftButton
        knot = self._hit_knot(event.position()) if left else None
        if knot is not None:
            self._knot = self.point = knot
            self.ed._drag = -1  # dragging: the preview renders drafts
            self.ed._gesture = new_gesture()
            self._press = (event.position().y(), float(curve_knots(self.ed.rows()[self.ed.channel])[knot, 1]))
            self._start = self.ed.rows()[self.ed.channel].copy()
            self.update()
            return
        zone = self._hit(event.position()) if left else None
        if zone is None:
            event.ignore()
            return
        self.zone, self.point = zone, None
        self.ed._drag = zone
        self.ed._gesture = new_gesture()
        self._press = (event.position().y(), float(self.ed.rows()[self.ed.channel, zone]))
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._knot is not None:
            y0, v0 = self._press
            self.ed.set_knot(self._knot, v0 + (y0 - event.position().y()) / self.plot().height(), self.ed._gesture,
                             self._start)
        elif self.ed._drag is not None:
            y0, v0 = self._press
            moved = self._slope_at(event.position().y()) - self._slope_at(y0)
            if moved or self.ed.rows()[self.ed.channel, self.ed._drag] != v0:
                self.ed.set_zone(self.ed._drag, v0 + moved, self.ed._gesture)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self.ed._drag = self._knot = None
        self.update()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        zone = self._hit(event.position()) if event.button() == Qt.MouseButton.LeftButton else None
        if zone is not None:  # at its default already: the step card pushes no edit (StepCard._edit)
            self.ed.set_zone(zone, self.ed.param.default, new_gesture())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """The zone handle picked last, or the curve point dragged last: Left / Right pick the next,
        Up / Down move it (Shift: 5x), Home resets it (a point: back on the line between its
        neighbours); Esc hands the keys from a point back to the zone handles."""
        key, n, prm = event.key(), self.ed.param.shape[-1], self.ed.param
        if self.point is not None and key == Qt.Key.Key_Escape:
            self.zone, self.point = self.point - 1, None  # the zone just below the point
            self.update()
        elif self.point is not None and key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            self.point = min(n - 1, max(1, self.point + (1 if key == Qt.Key.Key_Right else -1)))
            self.update()
        elif self.point is not None and key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            step = 0.01 * (5 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1)
            y = curve_knots(self.ed.rows()[self.ed.channel])[self.point, 1]
            self.ed.set_knot(self.point, y + (step if key == Qt.Key.Key_Up else -step),
                             self._nudges.gesture((self.ed.channel, "point", self.point)))
        elif self.point is not None and key in (Qt.Key.Key_Home, Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            ys = curve_knots(self.ed.rows()[self.ed.channel])[:, 1]
            self.ed.set_knot(self.point, (ys[self.point - 1] + ys[self.point + 1]) / 2, new_gesture())
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            self.zone = min(n - 1, max(0, self.zone + (1 if key == Qt.Key.Key_Right else -1)))
            self.update()
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            step = (prm.max - prm.min) / 50 * (5 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1)
            now = self.ed.rows()[self.ed.channel, self.zone]
            self.ed.set_zone(self.zone, now + (step if key == Qt.Key.Key_Up else -step),
                             self._nudges.gesture((self.ed.channel, self.zone)))
        elif key in (Qt.Key.Key_Home, Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.ed.set_zone(self.zone, prm.default, new_gesture())
        else:
            super().keyPressEvent(event)

    def _paint_histogram(self, p: QPainter, r: QRectF) -> None:
        """The tones the curve is given, behind it, on its axis: all channels in grey (the tone
        curve applies to each), or the edited channel in its colour. Square-root heights, scaled
        to the tallest bin between the ends (clipped black and white would flatten the rest).
        Smoothed across 5 bins: an 8-bit photo's levels, spread out by the linear axis, fell one
        or two to a bin and drew a comb."""
        counts = self.ed.histogram
        if counts is None:
            return
        counts = (counts[self.ed.channel] if self.ed.multi else counts.sum(axis=0)).astype(np.float64)
        inner = counts.copy()
        inner[[0, -1]] = 0  # what clipped is not smeared into its neighbours (it would top the scale)
        counts[1:-1] = np.convolve(inner, np.array([1, 4, 6, 4, 1]) / 16, mode="same")[1:-1]
        top = counts[1:-1].max(initial=0)
        if top <= 0:
            return
        h = np.sqrt(np.minimum(counts / top, 1.0))
        bins = len(h)
        poly = QPolygonF([QPointF(r.left(), r.bottom())])
        for k, v in enumerate(h):  # steps, one flat top a bin
            y = r.bottom() - v * r.height()
            poly.append(QPointF(r.left() + r.width() * k / bins, y))
            poly.append(QPointF(r.left() + r.width() * (k + 1) / bins, y))
        poly.append(QPointF(r.right(), r.bottom()))
        col = QColor(CurveEditor.CHANNEL_COLOURS[self.ed.channel] if self.ed.multi else "#d0d0d0")
        col.setAlpha(55 if self.ed.multi else 40)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(col)
        p.drawPolygon(poly)
        p.setBrush(Qt.BrushStyle.NoBrush)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("#1b1b1b"))
        r, st = self.plot(), self.strip()
        n = self.ed.param.shape[-1]
        self._paint_histogram(p, r)
        p.setPen(QPen(QColor("#2f2f2f"), 1))
        for k in range(1, n):
            x = r.left() + r.width() * k / n
            p.drawLine(QPointF(x, r.top()), QPointF(x, st.bottom()))
        for k in range(1, 4):
            y = r.top() + r.height() * k / 4
            p.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
        p.setPen(QPen(QColor("#3a3a3a"), 1))
        p.drawRect(r)
        p.setPen(QPen(QColor("#4a4a4a"), 1, Qt.PenStyle.DashLine))
        p.drawLine(r.bottomLeft(), r.topRight())  # identity
        rows = self.ed.rows()
        colours = CurveEditor.CHANNEL_COLOURS if self.ed.multi else ("#f0f0f0",)
        for ch in range(len(rows)):
            pts = curve_knots(rows[ch])
            path = QPainterPath(QPointF(r.left() + pts[0, 0] * r.width(), r.bottom() - pts[0, 1] * r.height()))
            for x, y in pts[1:]:
                path.lineTo(QPointF(r.left() + x * r.width(), r.bottom() - y * r.height()))
            col = QColor(colours[ch])
            if self.ed.multi and ch != self.ed.channel:
                col.setAlpha(170)
            p.setPen(QPen(col, 2 if ch == self.ed.channel else 1.2))
            p.drawPath(path)
        # the points a drag on the curve moves: the zones' edges of the channel edited
        p.setPen(QPen(QColor(colours[self.ed.channel if self.ed.multi else 0]), 1.5))
        for k in range(1, n):
            p.setBrush(QColor(colours[self.ed.channel if self.ed.multi else 0]) if k == self._knot
                       else QColor("#1b1b1b"))
            p.drawEllipse(self.knot_pos(k), 3.5, 3.5)
        p.setBrush(Qt.BrushStyle.NoBrush)
        # the zone strip: default level dashed, one handle per zone
        p.fillRect(st, QColor("#222"))
        inner = st.adjusted(0, 6, 0, -6)
        prm = self.ed.param
        mid = inner.bottom() - (prm.default - prm.min) / (prm.max - prm.min) * inner.height()
        p.setPen(QPen(QColor("#555"), 1, Qt.PenStyle.DashLine))
        p.drawLine(QPointF(st.left(), mid), QPointF(st.right(), mid))
        hcol = QColor(colours[self.ed.channel] if self.ed.multi else "#ffd36b")
        pts = [self.handle_pos(k) for k in range(n)]
        stem = QColor(hcol)
        stem.setAlpha(120)
        p.setPen(QPen(stem, 3))
        for pt in pts:
            p.drawLine(QPointF(pt.x(), mid), pt)
        p.setPen(QPen(QColor("#111"), 1))
        p.setBrush(hcol)
        for k, pt in enumerate(pts):
            rad = 6.0 if k == self.ed._drag else 5.0
            p.drawEllipse(pt, rad, rad)
        if self.hasFocus():  # the zone handle or the curve point the arrow keys move
            p.setPen(QPen(QColor(theme.ACCENT), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawEllipse(pts[self.zone] if self.point is None else self.knot_pos(self.point), 9.0, 9.0)
        p.setPen(QColor("#8a8a8a"))
        f = p.font()
        f.setPointSizeF(max(7.0, f.pointSizeF() * 0.85))
        p.setFont(f)
        readout = self.readout()
        if readout is not None:
            p.setPen(QColor("#e6e6e6"))
        p.drawText(r.adjusted(4, 2, 0, 0), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, readout or "curve")
        p.setPen(QColor("#8a8a8a"))
        label = QRectF(st.left(), st.top() - 17, st.width(), 12)  # clear of a focus ring on a top handle
        p.drawText(label, Qt.AlignmentFlag.AlignLeft, "shadows")
        p.drawText(label, Qt.AlignmentFlag.AlignHCenter, "zone steepness")
        p.drawText(label, Qt.AlignmentFlag.AlignRight, "highlights")


def control_for(param: Param, value: Any) -> ParamSlider | CurveEditor:
    """The widget a parameter's declaration calls for."""
    if param.shape:
        return CurveEditor(param, value)
    return ParamSlider(param, float(value))
