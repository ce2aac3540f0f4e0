"""The white balance selector: click a spot that should be neutral, and a white balance step is
set from it (:mod:`engine.pick` does the measuring; this is the mode and the undo entry)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut

from engine.pick import SPOT_SCREEN_PX, PickError, pick_white_balance, spot
from engine.recipe import Step
from engine.render import render
from engine.runners.agent import WB_SOURCES

from .commands import InsertStep, SetEnabled, SetParam, same_value
from .document import PhotoDoc
from .viewer import Viewer

PROMPT = ("Pick white balance: click something that should be neutral, such as a grey card, a white wall "
          "or a cloud. Esc cancels.")


def white_balance_index(steps: list[Step], *, last: bool = False) -> int | None:
    """The photo's white balance step: its last one (``last``: nothing after it tints the photo
    again), else a measured one, else the first (pasted, matched, added by hand)."""
    wb = [i for i, s in enumerate(steps) if s.op == "white_balance"]
    if not wb:
        return None
    if last:
        return wb[-1]
    return next((i for i in wb if steps[i].source in WB_SOURCES.values()), wb[0])


class WhiteBalancePicker(QObject):
    """One window's pick mode. ``say`` shows a line to the photographer (the panel's status);
    ``readout`` the colour under the cursor while picking (the status bar), "" to clear it."""

    changed = Signal()  # the mode began or ended (a card's Pick shows it)

    def __init__(self, viewer: Viewer, say: Callable[[str], None], readout: Callable[[str], None] = lambda _: None):
        super().__init__(viewer)
        self.viewer, self.say, self.readout = viewer, say, readout
        self.doc: PhotoDoc | None = None
        self.step: Step | None = None  # the card's step Pick was pressed on; None: the photo's
        viewer.picked.connect(self._picked)
        viewer.pickCancelled.connect(self._cancelled)
        viewer.pickHovered.connect(self._hovered)
        self._esc: QShortcut | None = None  # Esc anywhere in the window while picking

    @property
    def active(self) -> bool:
        return self.doc is not None

    def start(self, doc: PhotoDoc, step: Step | None = None) -> None:
        if self.doc is not None:
            self.doc.changed.disconnect(self._doc_changed)
        self.doc, self.step = doc, step
        doc.changed.connect(self._doc_changed)
        self.say(PROMPT)
        self.viewer.start_pick()
        if self._esc is None:  # the viewer's own Esc needs its focus; the prompt promises Esc anywhere
            self._esc = QShortcut(QKeySequence(Qt.Key.Key_Escape), self.viewer.window(),
                                  context=Qt.ShortcutContext.WindowShortcut)
            self._esc.activated.connect(lambda: self.viewer.stop_pick(cancelled=True))
        self._esc.setEnabled(True)
        self.changed.emit()

    def cancel(self) -> None:
        """Left without a pick (another photo shown, a photo closed): quietly."""
        if self.doc is not None:
            self.viewer.stop_pick()
            self._end()
            self.say("")

    def _doc_changed(self, change: object) -> None:
        """The steps replaced while picking (the Strength re-applied Auto, an undo, a paste): the
        step a pick would set may be gone, so the mode ends, and says so (Auto landing while the
        prompt showed took it away without a word)."""
        if getattr(change, "kind", None) == "structure" and self.doc is not None:
            self.cancel()
            self.say("Pick white balance stopped: the steps were replaced. Press W to pick again.")

    def _end(self) -> None:
        if self.doc is not None:
            self.doc.changed.disconnect(self._doc_changed)
        self.doc = self.step = None
        if self._esc is not None:
            self._esc.setEnabled(False)
        self.readout("")
        self.changed.emit()

    def _cancelled(self) -> None:
        if self.doc is not None:
            self._end()
            self.say("")

    def _image(self, doc: PhotoDoc) -> tuple[np.ndarray | None, float]:
        """The photo's pixels to measure (the full decode, else the screen-size one) and their
        pixels per full-resolution pixel."""
        image = doc.linear if doc.linear is not None else doc.preview_linear
        return image, (0.0 if image is None else self._per_full(image))

    def _per_full(self, image: np.ndarray) -> float:
        """``image``'s pixels per full-resolution pixel (the viewer's coordinates)."""
        return image.shape[1] / max(1, self.viewer.full.width())

    def spot_radius(self, image: np.ndarray) -> int:
        """The spot's radius in ``image``'s pixels: ``SPOT_SCREEN_PX`` at the viewer's zoom (whole
        pixels, rounded down: at 200 % it covers 7 screen pixels, not 10)."""
        return int(SPOT_SCREEN_PX / max(self.viewer.scale, 1e-6) * self._per_full(image))

    def _hovered(self, at: QPointF | None) -> None:
        """The spot under the cursor as the photo shows it (8-bit sRGB): equal numbers are grey."""
        doc = self.doc
        image, k = (None, 0.0) if doc is None or at is None else self._image(doc)
        if image is None or any(not s.spec.pointwise for s in doc.recipe.active()):
            self.readout("")
            return
        try:
            pixels = spot(image, at.x() * k, at.y() * k, self.spot_radius(image))
        except PickError:
            self.readout("")
            return
        shown = np.asarray(render(doc.recipe, pixels[None], exact=True), np.float64)[0].mean(0) * 255
        r, g, b = (round(float(v)) for v in shown)
        self.readout(f"Under the cursor: R {r} · G {g} · B {b} (the same three numbers are a neutral grey)")

    def _picked(self, at: QPointF) -> None:
        doc, card_step = self.doc, self.step
        if doc is None:
            return
        self._end()
        image, k = self._image(doc)
        if doc.failed or image is None:
            return
        steps = doc.recipe.steps
        # the card's step where it still is (an undo since may have removed it), else the photo's
        # last white balance, so that none after it tints the spot again
        at_index = next((i for i, s in enumerate(steps) if s is card_step), None) if card_step else None
        if at_index is None:
            at_index = white_balance_index(steps, last=True)
        insert = at_index is None
        index = 0 if insert else at_index
        try:
            pixels = spot(image, at.x() * k, at.y() * k, self.spot_radius(image))
            pick = pick_white_balance(doc.recipe, index, pixels)
        except PickError as e:  # the mode goes on: the message invites another click
            self.start(doc, card_step)
            self.say(f"{e} Esc cancels.")
            return
        old = Step.default("white_balance") if insert else steps[index]
        before = dict(old.params)  # the step's own dict changes with the commands below
        changed = {n: v for n, v in pick.params.items() if not same_value(before[n], v)}
        if not (insert or changed or not old.enabled):
            self.say("White balance: that spot is already neutral.")
            return
        doc.undo.beginMacro("Pick white balance")
        if insert:  # first: the spot was measured on the photo as decoded, as Auto's would be
            doc.undo.push(InsertStep(doc, 0, replace(Step.default("white_balance"), source="picked")))
        elif not old.enabled:
            doc.undo.push(SetEnabled(doc, index, True))
        for name, value in changed.items():
            doc.undo.push(SetParam(doc, index, name, value))
        doc.undo.endMacro()
        text = pick.describe(None if insert or not old.enabled else before)  # as the photo showed it
        later = [i for i, s in enumerate(doc.recipe.steps) if i > index and s.op == "white_balance" and s.enabled]
        if later:  # a card's Pick above another white balance: that one tints the spot again
            text += f" Step {later[0] + 1}, a later white balance, changes its colour again."
        self.say(text)
