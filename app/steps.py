"""The step list: one card per recipe step, with controls generated from the filter declaration.

Views push undo commands on the photo's stack and listen to ``PhotoDoc.changed`` to update
(param changes update one control; structural changes rebuild the cards).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QDrag,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QIcon,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.filters import REGISTRY
from engine.recipe import Recipe, Step
from engine.runners.agent import (
    AUTO_CONTRAST_SHARE,
    AUTO_PERCENTILE,
    AUTO_WB_SHARE,
    CONSTANCY_SHARE,
    WB_SOURCES,
)
from engine.runners.meter import DEFAULT_METER

from . import theme
from .commands import MoveStep, RemoveStep, SetEnabled, SetParam, same_value
from .controls import CurveEditor, ParamSlider, commit_typing, control_for
from .document import Change, PhotoDoc

MIME = "application/x-retouch-step"
EYEDROPPER = Path(__file__).resolve().parents[1] / "resources" / "icons" / "eyedropper.svg"


class _Handle(QLabel):
    """The grip a card is dragged by."""

    def __init__(self, card: StepCard):
        super().__init__("⋮⋮")
        self.card = card
        self.setToolTip("Drag to reorder")
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.setStyleSheet(f"color: {theme.MUTED}; font-size: 12pt; padding: 0 2px;")

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            drag = QDrag(self)
            mime = QMimeData()
            mime.setData(MIME, str(self.card.index).encode())
            drag.setMimeData(mime)
            shot = self.card.grab()  # at the screen's pixel ratio: 220 device pixels were 110 px at 200 %
            drag.setPixmap(shot.scaledToWidth(round(220 * shot.devicePixelRatio()),
                                              Qt.TransformationMode.SmoothTransformation))
            drag.setHotSpot(QPoint(10, 10))
            drag.exec(Qt.DropAction.MoveAction)


#: A step's source -> (its card's line, the tooltip's longer words); the measured steps' tooltips
#: are made by ``StepCard._how_text`` (they name how each was measured)
SOURCE_TEXT = {
    "auto-exposure": ("Auto exposure, measured from the photo", ""),
    "auto-white-balance": ("Auto white balance, measured from the photo", ""),
    "auto-contrast": ("Auto contrast, measured from the photo", ""),
    "pasted": ("Pasted from another photo", "Pasted from another photo's recipe (Edit ▸ Paste)"),
    "picked": ("Picked on a spot you chose as neutral",
               "Picked: set from a spot you clicked as neutral (Photo ▸ Pick White Balance)"),
    "match-look": ("Fitted by Match a Look",
                   "Fitted to match a finished version of this photo (Photo ▸ Match a Look)"),
}


class _Title(QLabel):
    """A card's title that gives way, elided, where the panel is narrow: its full width set the
    cards' least width (White balance's, with its Pick), and a panel scrolling as a whole (a 720p
    laptop, Variations shown) cut every card's value fields and delete buttons instead."""

    def minimumSizeHint(self) -> QSize:
        return QSize(min(super().minimumSizeHint().width(), self.fontMetrics().horizontalAdvance("0. Whi…")),
                     super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.fontMetrics().horizontalAdvance(self.text()) <= self.contentsRect().width():
            super().paintEvent(event)
            return
        painter = QPainter(self)
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.contentsRect().width())
        self.style().drawItemText(painter, self.contentsRect(), int(self.alignment()), self.palette(), self.isEnabled(),
                                  text, self.foregroundRole())


class StepCard(QFrame):
    def __init__(self, doc: PhotoDoc, index: int, parent: QWidget | None = None,
                 on_pick: Callable[[Step], None] | None = None, picking: Callable[[Step], bool] | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self.doc, self.index = doc, index
        step = self.step = doc.recipe.steps[index]
        spec = step.spec
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 8)
        lay.setSpacing(4)
        head = QHBoxLayout()
        head.setSpacing(6)
        head.addWidget(_Handle(self))
        self.enable = QCheckBox()
        self.enable.setToolTip("Enable or bypass this step")
        self.enable.setAccessibleName(f"Enable {spec.label}")  # screen readers read glyphs and blanks
        self.enable.setChecked(step.enabled)
        self.enable.toggled.connect(lambda on: self.doc.undo.push(SetEnabled(self.doc, self.index, on)))
        head.addWidget(self.enable)
        title = _Title(f"{index + 1}. {spec.label}")
        title.setObjectName("stepTitle")
        title.setToolTip(spec.description)
        head.addWidget(title, 1)
        self.pick: QToolButton | None = None
        if spec.id == "white_balance" and on_pick is not None:
            self.pick = QToolButton(text="Pick")
            self.pick.setIcon(QIcon(str(EYEDROPPER)))
            self.pick.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            self.pick.setCheckable(True)  # checked while the next click on the photo picks for this card
            self.pick.setChecked(picking is not None and picking(step))
            self.pick.setToolTip("Click a spot in the photo that should be neutral (a grey card, a white wall) to set "
                                 "this white balance from it; press again or Esc to stop")
            self.pick.setAccessibleName("Pick white balance from the photo")
            self.pick.clicked.connect(lambda: on_pick(self.step))
            head.addWidget(self.pick)
        menu_btn = QToolButton(text="⋯")
        menu_btn.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(menu_btn)
        menu.addAction("Move up", lambda: self.move(-1)).setEnabled(index > 0)
        menu.addAction("Move down", lambda: self.move(+1)).setEnabled(index < len(doc.recipe) - 1)
        menu.addAction("Reset to defaults", self.reset_params)
        menu.addSeparator()
        menu.addAction("Delete step", self.delete)
        menu_btn.setMenu(menu)
        menu_btn.setToolTip("Step actions")
        menu_btn.setAccessibleName(f"{spec.label} actions")
        head.addWidget(menu_btn)
        self.menu_btn = menu_btn
        close = self.close_btn = QToolButton(text="✕")
        close.setToolTip("Delete this step")
        close.setAccessibleName(f"Delete {spec.label}")
        close.clicked.connect(self.delete)
        head.addWidget(close)
        lay.addLayout(head)
        self.confidence = QLabel(self._confidence_text())
        self.confidence.setObjectName("confidence")
        self.confidence.setWordWrap(True)
        if step.probs:
            ranked = sorted(step.probs.items(), key=lambda kv: -kv[1])[:4]
            self.confidence.setToolTip("The agent's choice for this step:\n" + "\n".join(
                f"{REGISTRY[k].label}: {v:.0%}" for k, v in ranked))
        else:  # the card says where the step came from in one line; how it was measured, here
            self.confidence.setToolTip(self._how_text())
        lay.addWidget(self.confidence)
        self.controls: dict[str, ParamSlider | CurveEditor] = {}
        shown = spec.slider_values(step.params)
        for p in spec.sliders:
            w = control_for(p, shown[p.name])
            w.edited.connect(lambda v, g, name=p.name: self._edit(name, v, g))
            self.controls[p.name] = w
            lay.addWidget(w)
        self._style_enabled(step.enabled)

    def roles(self) -> dict[str, QWidget]:
        """The card's keyboard stops by what they do: a card rebuilt puts the focus back on the same one."""
        head = {"enable": self.enable, "pick": self.pick, "menu": self.menu_btn, "close": self.close_btn}
        return {k: w for k, w in {**head, **self.controls}.items() if w is not None}

    def role_of(self, widget: QWidget) -> str | None:
        return next((k for k, w in self.roles().items() if w is widget or w.isAncestorOf(widget)), None)

    def _confidence_text(self) -> str:
        text = self._why_text()
        return text + " · since edited by you" if self.doc.recipe.steps[self.index].edited else text

    def _why_text(self) -> str:
        """Where the step came from, in one line (a card of two caption lines left three cards in
        view at 1440 x 900); :meth:`_how_text` says how it was measured, in the tooltip."""
        step = self.doc.recipe.steps[self.index]
        source = "auto-white-balance" if step.source in WB_SOURCES.values() else step.source
        if source in SOURCE_TEXT:
            return SOURCE_TEXT[source][0]
        if not step.probs:
            return "Added by hand"
        conf = step.probs.get(step.op, 0.0)
        ru = step.runner_up()
        text = f"Agent confidence {conf:.0%}"
        if ru:  # a variation may have drawn a filter the agent did not rank first
            text += f" · {'runner-up' if ru[1] <= conf else 'its first choice'} {REGISTRY[ru[0]].label} {ru[1]:.0%}"
        return text

    def _how_text(self) -> str:
        step = self.doc.recipe.steps[self.index]
        if step.source == "auto-exposure":
            how = "learned meter + " if DEFAULT_METER.exists() else ""
            return (f"Auto exposure: measured from the photo ({how}brightest channel's "
                    f"{AUTO_PERCENTILE:g}th percentile)")
        if step.source in WB_SOURCES.values():  # the step says which estimator measured it
            learned = step.source == WB_SOURCES["learned"]
            how, share = ("learned colour constancy", CONSTANCY_SHARE) if learned else ("max-RGB", AUTO_WB_SHARE)
            return (f"Auto white balance: measured from the photo's colours ({how}), "
                    f"{round(100 * share)} % of the cast removed")
        if step.source == "auto-contrast":
            return (f"Auto contrast: measured by the learned meter, {round(100 * AUTO_CONTRAST_SHARE)} % of it "
                    "undone about mid grey, never pushing the highlights past white")
        return SOURCE_TEXT.get(step.source, ("", "Added by hand"))[1]

    def _current(self) -> bool:
        """Whether this card's step is still the recipe's step at its place: a card being replaced
        (its recipe pasted over, reset, re-Autoed) can still emit an edit as its field loses the
        focus, which went onto another step, or failed on a filter without that parameter."""
        steps = self.doc.recipe.steps
        return self.index < len(steps) and steps[self.index] is self.step

    def _edit(self, name: str, value: object, gesture: int) -> None:
        if not self._current():
            return
        command = SetParam(self.doc, self.index, name, value, gesture)
        if command.changes():  # no undo entry that undoes nothing
            self.doc.undo.push(command)

    def _style_enabled(self, on: bool) -> None:
        for w in self.controls.values():
            w.setEnabled(on)
        self.setProperty("disabledStep", not on)
        self.style().unpolish(self)
        self.style().polish(self)

    def refresh(self, change: Change) -> None:
        step = self.doc.recipe.steps[self.index]
        if change.kind == "enabled":
            self.enable.blockSignals(True)
            self.enable.setChecked(step.enabled)
            self.enable.blockSignals(False)
            self._style_enabled(step.enabled)
        elif change.kind == "param":  # a view's slider moves with any of its parameters (a picked balance)
            self._show_params(step)
            self.confidence.setText(self._confidence_text())  # "edited by you" comes and goes with undo

    def _show_params(self, step: Step) -> None:
        for name, value in step.spec.slider_values(step.params).items():
            self.controls[name].set_value(value)

    def move(self, delta: int) -> None:
        commit_typing()  # a value typed on a card, not yet entered, onto its own step before they move
        dst = self.index + delta
        if 0 <= dst < len(self.doc.recipe):
            self.doc.undo.push(MoveStep(self.doc, self.index, dst))

    def delete(self) -> None:
        commit_typing()  # ✕ takes no focus: the card typed into was rebuilt at another step's place
        self.doc.undo.push(RemoveStep(self.doc, self.index))

    def reset_params(self) -> None:
        commit_typing()
        step = self.doc.recipe.steps[self.index]
        changed = [p for p in step.spec.params if not same_value(step.params[p.name], p.default_value())]
        if not changed:
            return
        self.doc.undo.beginMacro(f"Reset {step.spec.label}")
        for p in changed:
            self.doc.undo.push(SetParam(self.doc, self.index, p.name, p.default_value()))
        self.doc.undo.endMacro()


class StepList(QScrollArea):
    """Cards in a vertical list that accepts card drops to reorder."""

    structureChanged = Signal()
    pickRequested = Signal(object)  # a white balance card's Pick: its Step

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # a Tab stop that showed nothing
        self.inner = _DropArea(self)
        self.setWidget(self.inner)
        self.doc: PhotoDoc | None = None
        self.cards: list[StepCard] = []
        self.tab_anchor: QWidget | None = None  # the focusable widget Tab reaches the cards from
        self.picking: Callable[[Step], bool] | None = None  # whether a card's step is being picked for
        self._curves: dict[int, tuple[str, np.ndarray]] = {}  # step index: its filter, what its curve is given

    def set_curve_histograms(self, counts: dict[int, np.ndarray], recipe: Recipe) -> None:
        """What each curve step's curve is given (:func:`engine.render.curve_histograms` of
        ``recipe``, the steps they were counted for), drawn behind its curve."""
        self._curves = {i: (recipe.steps[i].op, c) for i, c in counts.items() if i < len(recipe)}
        self._show_curves()

    def _show_curves(self) -> None:
        """Each card's histogram: until a card's own comes (a preview follows every edit), one of
        the same filter at its place, as a step moved or added leaves most of them right."""
        for card in self.cards:
            op, counts = self._curves.get(card.index, (None, None))
            for control in card.controls.values():
                if isinstance(control, CurveEditor):
                    control.set_histogram(counts if op == card.step.op else None)

    def refresh_pick(self) -> None:
        """The white balance cards' Pick shows whether the next click picks for that card."""
        for card in self.cards:
            if card.pick is not None:
                card.pick.setChecked(self.picking is not None and self.picking(card.step))

    def set_doc(self, doc: PhotoDoc | None) -> None:
        if self.doc is not None:
            self.doc.changed.disconnect(self._on_change)
        self.doc = doc
        self._curves = {}  # another photo's tones
        if doc is not None:
            doc.changed.connect(self._on_change)
        self.rebuild()

    def _on_change(self, change: Change) -> None:
        if change.kind == "structure":
            self.rebuild()
        elif 0 <= change.index < len(self.cards):
            self.cards[change.index].refresh(change)

    def rebuild(self) -> None:
        """The cards made again. The keyboard, where it was in a card, stays in the list (the focused
        card went, and Qt handed the focus on to whatever came next: Folders ▾ under the photo, where
        Space opened its menu), on the same control of the same step where it is still there (moved,
        or another deleted), else of the card at its place, and scrolled into view where it was in
        view: a second Space after ✕ had turned the next step off."""
        lay = self.inner.lay
        focused = QApplication.focusWidget()
        held = next((i for i, c in enumerate(self.cards) if focused is not None and c.isAncestorOf(focused)), None)
        role = self.cards[held].role_of(focused) if held is not None else None
        step = self.cards[held].step if held is not None else None
        # scrolled back to only where it was in view: a mouse user's list had jumped away from a card
        # deleted or dropped far from the control clicked before (QA)
        in_view = held is not None and self.viewport().rect().intersects(
            focused.rect().translated(focused.mapTo(self.viewport(), QPoint(0, 0))))
        for card in self.cards:
            lay.removeWidget(card)
            card.hide()  # at once: deleteLater waits for the event loop
            for control in card.controls.values():  # a drag held in it is over: no more drafts for it
                control.let_go()
            card.deleteLater()
        self.cards = []
        self.inner.empty.setVisible(self.doc is not None and len(self.doc.recipe) == 0)  # none: nothing to edit
        if self.doc is not None:
            for i in range(len(self.doc.recipe)):
                card = StepCard(self.doc, i, on_pick=self.pickRequested.emit, picking=self.picking)
                lay.insertWidget(lay.count() - 1, card)
                self.cards.append(card)
            self._show_curves()
        # Tab goes through the cards right after the list: made after the filmstrip, they came after it
        prev: QWidget = self.tab_anchor or self
        for card in self.cards:
            for w in card.findChildren(QWidget):
                if w.focusPolicy() & Qt.FocusPolicy.TabFocus:
                    QWidget.setTabOrder(prev, w)
                    prev = w
        if held is not None:
            target = self.tab_anchor
            if self.cards:
                # the same step where it still is (moved, or another deleted or added), else the card
                # now at its place (it was deleted, or the steps replaced)
                card = next((c for c in self.cards if c.step is step), self.cards[min(held, len(self.cards) - 1)])
                target = card.roles().get(role or "", card.enable)
                inner = target.findChild(QWidget, focused.objectName()) if focused.objectName() else None
                target = inner or target  # a control's slider or value field, not the control
            if target is not None:
                target.setFocus(Qt.FocusReason.OtherFocusReason)
                if hasattr(target, "wheel_armed"):  # the same step's slider keeps the wheel it had; another
                    # step's takes it only once clicked (a delete above gave the wheel to the next step, QA)
                    target.wheel_armed = card.step is step and getattr(focused, "wheel_armed", False)
                if in_view and self.isAncestorOf(target):  # Auto's new steps came with the list at its top
                    QTimer.singleShot(0, self, self.show_focus)  # once the new cards are laid out
        self.structureChanged.emit()

    def show_focus(self) -> None:
        focused = QApplication.focusWidget()
        if focused is not None and self.isAncestorOf(focused):
            self.ensureWidgetVisible(focused)

    def drop_index(self, y: int) -> int:
        for i, card in enumerate(self.cards):
            if y < card.geometry().center().y():
                return i
        return len(self.cards)


class _DropArea(QWidget):
    def __init__(self, owner: StepList):
        super().__init__()
        self.owner = owner
        self.setAcceptDrops(True)
        self.lay = QVBoxLayout(self)
        self.lay.setContentsMargins(0, 4, 4, 4)
        self.lay.setSpacing(6)
        self.empty = QLabel("No steps yet. Press Auto to let the agent edit this photo, "
                            "or add one with + Add step.")
        self.empty.setObjectName("note")
        self.empty.setWordWrap(True)
        self.lay.addWidget(self.empty)
        self.lay.addStretch(1)
        self._marker: int | None = None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasFormat(MIME):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasFormat(MIME):
            self._marker = self.owner.drop_index(event.position().toPoint().y())
            self.update()
            event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:
        self._marker = None
        self.update()

    def dropEvent(self, event: QDropEvent) -> None:
        self._marker = None
        self.update()
        doc = self.owner.doc
        if doc is None or not event.mimeData().hasFormat(MIME):
            return
        commit_typing()
        src = int(bytes(event.mimeData().data(MIME)).decode())
        dst = self.owner.drop_index(event.position().toPoint().y())
        if dst > src:
            dst -= 1
        if dst != src and 0 <= src < len(doc.recipe):
            doc.undo.push(MoveStep(doc, src, dst))
        event.acceptProposedAction()

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self._marker is None:
            return
        cards = self.owner.cards
        if not cards:
            return
        y = cards[self._marker].geometry().top() - 3 if self._marker < len(cards) else cards[-1].geometry().bottom() + 3
        p = QPainter(self)
        p.setPen(QPen(QColor(theme.ACCENT), 2))
        p.drawLine(4, y, self.width() - 4, y)
