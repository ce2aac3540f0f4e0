"""The agent's jobs: Auto and its strength, Auto and Pick white balance, Variations.

A mixin of :class:`app.window.MainWindow`, whose widgets and documents it uses.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from engine.looks import differences
from engine.recipe import Recipe, Step
from engine.runners.agent import AUTO_STRENGTH, DEFAULT_MODEL, at_strength, white_balance_step

from . import agent as agent_mod
from .commands import ReplaceRecipe, StrengthChange
from .controls import commit_typing
from .display import to_screen
from .document import PhotoDoc
from .errors import show_error
from .loading import is_raw, small
from .renderer import to_display, to_qimage
from .retouch_panel import N_VARIATIONS
from .wb_pick import PROMPT as PICK_PROMPT
from .wb_pick import white_balance_index
from .workers import run_in_pool

log = logging.getLogger(__name__)


class AgentMixin:
    """Runs the agent off the GUI thread and turns its recipes into undoable edits."""

    def _strength_key(self, model: Path | None = None) -> str:
        """Each style keeps its own strength (the shipped model's under the old key); ``model``
        None: the current one."""
        model = self.model if model is None else model
        shipped = model is None or Path(model) == DEFAULT_MODEL
        return "agent/strength" if shipped else f"agent/strength/{Path(model).stem}"

    def _saved_strength(self, default: float, key: str | None = None) -> float:
        try:
            return min(max(float(self.settings.value(key or self._strength_key(), default)), 0.0), 1.5)
        except (TypeError, ValueError):
            return default

    def _follow_auto_strength(self, doc: PhotoDoc) -> None:
        """An undo or redo back to one of Auto's strengths moves the slider there too."""
        last = self._autos.get(doc)
        amount = last[2].get(doc.recipe.dumps()) if last is not None and last[3] == self._strength_key() else None
        if amount is not None and amount != self.strength:
            self.strength = amount
            self.settings.setValue(self._strength_key(), amount)
            self.panel.set_strength(amount)
        note = self._strength_note
        if note is not None and self.panel.status.text() == note[1]:
            self._say_strength_note(doc if note[0] is doc else None)

    def _say_strength_note(self, doc: PhotoDoc | None) -> str:
        """Say why the strength slider leaves ``doc``'s steps alone (nothing where it rescales them,
        or for None), and return it."""
        text = "" if doc is None else self._strength_note_for(doc)
        self._strength_note = (doc, text) if doc is not None and text else None
        self.panel.set_busy(text)
        return text

    def _strength_note_for(self, doc: PhotoDoc) -> str:
        base, _, applied, style = self._autos.get(doc, (None, None, {}, ""))
        steps = doc.recipe.dumps()
        if steps in applied:
            return "" if style == self._strength_key() else ("These steps are another style's Auto: the strength "
                                                            "applies to the next Auto.")
        return self._why_no_strength(doc, base is not None, steps in self._adopted.get(doc, ()))

    def _warm_agent(self) -> None:
        if not agent_mod.loaded_agents():
            self._load_agent()
        self.panel.set_models(agent_mod.available_models(), self.model)

    def _load_agent(self) -> None:
        model = self.model
        run_in_pool(agent_mod.get_agent, model,
                    owner=self, on_done=lambda a: self._agent_ready(model, a),
                    on_error=lambda e, tb: self.panel.set_busy(f"The agent is unavailable: {e}"))

    def _agent_ready(self, model: Path | None, agent: Any) -> None:
        """The style's strength: the photographer's last for it, else the model's own (a style
        learnt from pairs is applied in full)."""
        if self.panel.status.text().startswith("The agent"):
            self.panel.set_busy("")
        if model == self.model:
            self.strength = self._saved_strength(agent.strength)
            self._strength_known = True
            self.panel.set_strength(self.strength)

    def _need_pixels(self, action: Callable[[], None], what: str) -> PhotoDoc | None:
        """The shown photo, when its pixels are in. Pressed while it still opens, ``action`` runs
        as soon as they are (if the photo is still shown), as a photographer pressing Auto at once
        expects; it was refused, with a message that stayed after the photo had opened."""
        doc = self.doc
        if doc is None:
            return None
        if doc.failed:
            self.panel.set_busy(f"{doc.name} could not be opened: there is nothing to edit.")
            return None
        if doc.preview_linear is None:
            self._pending = (doc, action)
            self.panel.set_busy(f"{what} will run as soon as the photo has opened…")
            return None
        return doc

    def _run_pending(self, doc: PhotoDoc) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] is doc is self.doc:
            pending[1]()

    def auto(self) -> None:
        commit_typing()  # a value typed, not yet entered, goes onto its own step first
        self.picker.cancel()  # Auto replaces the steps a pick would set
        if self.model is not None and not Path(self.model).is_file():  # deleted behind the app's back
            gone = Path(self.model).stem
            self.refresh_styles()  # Default takes its place, as the ⋯ menu would show
            self.statusBar().showMessage(f"The style “{gone}” is gone from its folder; Auto uses Default", 8000)
        doc = self._need_pixels(self.auto, "Auto")
        if doc is None or ("auto", doc) in self._running:  # a second press (the shortcut) while it runs
            return
        self._running.add(("auto", doc))
        self.panel.set_busy("Auto: the agent is looking at the photo…")
        self._hold_button(self.panel.auto, doc)
        # as pressed: another photo or style may move the slider meanwhile. A style chosen a moment
        # ago has no strength yet (its model is loading): its own is taken when Auto lands
        model, style = self.model, self._strength_key()
        strength = self.strength if self._strength_known else None
        started = doc.recipe.dumps()  # what Auto replaces: an edit made while it runs is kept instead

        raw = is_raw(doc.path)  # its highlights past white are read clipped, as the agent was trained

        def predict(linear: Any) -> tuple[Recipe, np.ndarray, float]:
            agent = agent_mod.get_agent(model)  # at full strength: scaled on arrival, and by the slider
            return agent.predict(linear, strength=1.0, raw=raw), agent.proxy(linear, raw), agent.strength

        run_in_pool(predict, doc.preview_linear,
                    owner=self, on_done=lambda r, d=doc, s=started: self._auto_done(d, *r, started=s, style=style,
                                                                        strength=strength),
                    on_error=lambda e, tb, d=doc: self._agent_failed(e, tb, "auto", d))

    def auto_white_balance(self) -> None:
        """Auto's measured white balance alone: it replaces the recipe's measured white balance
        step, or goes first (it was measured on the photo as decoded); the other steps stay."""
        commit_typing()  # a value typed, not yet entered, goes onto its own step first
        self.picker.cancel()  # one way to set it at a time
        doc = self._need_pixels(self.auto_white_balance, "Auto white balance")
        if doc is None:
            return
        self.panel.set_busy("Auto white balance: measuring…")
        started = doc.recipe.dumps()  # an edit made while it measures (a pick) is kept instead
        run_in_pool(functools.partial(white_balance_step, raw=is_raw(doc.path)), doc.preview_linear,
                    owner=self, on_done=lambda s, d=doc: self._white_balance_done(d, s, started),
                    on_error=lambda e, tb: self._agent_failed(e, tb))

    def pick_white_balance(self, step: Step | None = None) -> None:
        """The white balance selector: the next click on the photo sets ``step`` (a card's Pick) or
        the photo's white balance step (one goes first where there is none) from the spot."""
        commit_typing()  # a value typed, not yet entered, goes onto its own step first
        if self.picker.active and self.picker.step is step:  # pressed again: stop
            self.picker.cancel()
            return
        doc = self._need_pixels(lambda: self.pick_white_balance(step), "Pick white balance")
        if doc is not None:
            self.picker.start(doc, step)
        else:
            self.panel.steps.refresh_pick()  # a card's Pick checked itself on the click

    def _white_balance_done(self, doc: PhotoDoc, step: Step | None, started: str) -> None:
        if doc.recipe.dumps() != started:  # a pick or a slider landed first: the photographer's, kept
            if doc is self.doc:
                self.panel.set_busy("Auto white balance finished after the steps were edited: your edit is kept; "
                                    "press it again to measure anew.")
            return
        steps = list(doc.recipe.steps)
        # the photo's white balance: a measured one, else any; a second one on top multiplied the two
        at = white_balance_index(steps)
        shown = doc is self.doc  # the photo it measured may have been left meanwhile: its words are its own
        if shown:
            self.panel.set_busy("Auto white balance: the photo is already about neutral." if step is None else "")
        if step is None:
            if at is None:
                return
            del steps[at]  # a measured step from before would now be wrong
        elif at is None:
            steps.insert(0, step)
        elif steps[at].to_json() == step.to_json():  # measured again, the same: no undo entry, and said so
            if shown:
                self.panel.set_busy(f"Auto white balance: step {at + 1} already holds what it measures.")
            return
        else:
            steps[at] = step
        self._replace(doc, Recipe(steps), "Auto white balance")

    def _strength_home(self) -> None:
        """Home on Strength: the style's own strength, as Home on a step's slider gives its default
        (Qt's went to 0 %). A style not loaded yet: the shipped default's."""
        agent = agent_mod.loaded_agents().get(str(self.model))
        own = agent.strength if agent is not None else AUTO_STRENGTH
        self.panel.strength.setValue(round(100 * own))

    def _hold_button(self, button: QWidget, doc: PhotoDoc) -> None:
        """``button`` greyed while its job on ``doc`` runs. Holding the keyboard, it hands it to the
        photo until the job ends, then takes it back: Qt passed it on to the next button, so a second
        Space on Auto ran Variations, and a third opened the Style list (QA)."""
        if button.hasFocus():
            self._parked_on = (button, doc)
            self.viewer.setFocus(Qt.FocusReason.OtherFocusReason)
        button.setEnabled(False)

    def _agent_idle(self, kind: str, doc: PhotoDoc | None) -> None:
        """``kind``'s job on ``doc`` is over: its button comes back where the photo shown can be
        edited and runs no such job itself; the status clears with the shown photo's last job."""
        self._running.discard((kind, doc))
        shown = self.doc
        button = {"auto": self.panel.auto, "variations": self.panel.vary}.get(kind)
        if button is not None:
            button.setEnabled(shown is not None and not shown.failed and (kind, shown) not in self._running)
            if self._parked_on == (button, doc):  # its job: the keyboard back only where nothing moved it
                self._parked_on = None  # (another photo shown meanwhile: left on the photo)
                if button.isEnabled() and shown is doc and self.viewer.hasFocus():
                    button.setFocus(Qt.FocusReason.OtherFocusReason)
        if not any(d is shown for _, d in self._running):
            self.panel.set_busy(PICK_PROMPT if self.picker.active else "")  # the prompt stands while picking

    def _auto_done(self, doc: PhotoDoc, recipe: Recipe, proxy: np.ndarray, own: float, started: str, style: str,
                   strength: float | None) -> None:
        self._agent_idle("auto", doc)
        if doc.recipe.dumps() != started:
            # the photographer adopted a variation or moved a slider meanwhile: never overwrite that
            if doc is self.doc:
                self.panel.set_busy("Auto finished after the steps were edited: your edit is kept; "
                                    "press Auto again to replace it.")
            return
        self._apply_auto(doc, recipe, proxy, own, style, strength)

    def _apply_auto(self, doc: PhotoDoc, recipe: Recipe, proxy: np.ndarray, own: float, style: str,
                    strength: float | None) -> None:
        """Auto's full-strength ``recipe`` on ``doc`` at ``strength`` (None: the style's, as _agent_ready
        reads it: the photographer's last, else the model's own ``own``), kept for the slider to rescale."""
        if strength is None:
            strength = self._saved_strength(own, key=style)
        applied = at_strength(recipe, proxy, strength)
        self._autos[doc] = (recipe, proxy, {applied.dumps(): strength}, style)
        self._replace(doc, applied, "Auto")  # Auto again on its own result: no entry

    @staticmethod
    def _replace(doc: PhotoDoc, recipe: Recipe, text: str, gesture: int | None = None) -> None:
        """``recipe`` as one undo step, unless the photo has it already: no entry that undoes nothing.
        ``gesture``: a Strength change, merged with the others of its gesture (quick key presses)."""
        if recipe.dumps() != doc.recipe.dumps():
            doc.undo.push(ReplaceRecipe(doc, recipe, text) if gesture is None
                          else StrengthChange(doc, recipe, text, gesture))

    def set_strength(self, amount: float) -> None:
        """Auto's strength: re-applies the photo's last Auto result while it is still on screen unedited."""
        commit_typing()  # a value typed, not yet entered, goes onto its own step first
        self.strength = amount
        self._strength_known = True  # the photographer's own choice for this style
        self.settings.setValue(self._strength_key(), amount)
        doc = self.doc
        if doc is None:
            return
        if self._say_strength_note(doc):  # edited since, or not this style's: never throw edits away
            return
        base, proxy, applied, _ = self._autos[doc]
        new = at_strength(base, proxy, amount)
        applied[new.dumps()] = amount
        # let go where pressed: no entry
        self._replace(doc, new, f"Auto strength {round(100 * amount)} %", self._strength_nudges.gesture())

    @staticmethod
    def _why_no_strength(doc: PhotoDoc, autoed: bool, variation: bool = False) -> str:
        """Why the slider leaves this photo alone, in the photographer's terms."""
        if not doc.recipe.steps:
            return "No steps yet: the strength applies when you press Auto."
        if variation:
            return ("This is a variation, shown at the agent's full strength: edit its steps, or the strength "
                    "applies to the next Auto.")
        if autoed:
            return "The steps were edited since Auto: your edits are kept; the strength applies to the next Auto."
        return ("These steps were not made by Auto since Retouch opened this photo (saved earlier, pasted or "
                "added): the strength applies when you press Auto.")

    def _agent_failed(self, exc: BaseException, tb: str, kind: str = "", doc: PhotoDoc | None = None) -> None:
        log.error("agent failed\n%s", tb)
        self._agent_idle(kind, doc)
        show_error(self, "Auto", exc)

    def request_variations(self) -> None:
        doc = self._need_pixels(self.request_variations, "Variations")
        if doc is None or ("variations", doc) in self._running:
            return
        self._running.add(("variations", doc))
        self.panel.set_busy("Variations: rendering alternatives…")
        self._hold_button(self.panel.vary, doc)
        model = self.model
        self._variation_seed += 1
        seed = self._variation_seed  # each press gives new alternatives
        raw = is_raw(doc.path)

        def job(linear: Any) -> list[tuple[Recipe, QImage, str]]:
            # at the policy's full strength, not Auto's: shortened, the alternatives look alike
            recipes = agent_mod.get_agent(model).variations(linear, N_VARIATIONS, seed=seed, raw=raw)
            thumb = small(linear, 300)
            shots = [to_display(r, thumb) for r in recipes]
            words = differences([s.astype(np.float32) / 255 for s in shots])
            return [(r, to_screen(to_qimage(s)), w) for r, s, w in zip(recipes, shots, words)]

        run_in_pool(job, doc.preview_linear,
                    owner=self, on_done=lambda res, d=doc: self._variations_done(d, res),
                    on_error=lambda e, tb, d=doc: self._agent_failed(e, tb, "variations", d))

    def _variations_done(self, doc: PhotoDoc, res: list[tuple[Recipe, QImage, str]]) -> None:
        self._agent_idle("variations", doc)
        if doc is not self.doc:
            return
        self.variations = [r for r, _, _ in res]
        self.panel.show_variations([img for _, img, _ in res], [w for _, _, w in res])
        if self._hovered is not None:  # pointed at one of the last ones: those are gone
            self.drop_hover()
            self.schedule_render()

    def show_variation(self, i: int) -> None:
        """Show the photo in variation ``i`` while the pointer is on it (-1: in its own steps again),
        as Lightroom previews a preset under the pointer; the steps stay as they are."""
        doc = self.doc
        hovered = self.variations[i] if doc is not None and 0 <= i < len(self.variations) else None
        if hovered is None:
            if self.drop_hover():
                self.schedule_render()
            return
        if hovered is not self._hovered:
            self._hovered = hovered
            # pointed at or reached with Tab: the words fit both
            self.statusBar().showMessage(f"Showing variation #{i + 1}: click it (or press Space) to adopt it; "
                                         f"your steps are shown again when you leave it")
            self.schedule_render()

    def drop_hover(self) -> bool:
        """The photo back in its own steps (the pointer left, an edit, another photo); whether it was not."""
        was, self._hovered = self._hovered, None
        if self.statusBar().currentMessage().startswith("Showing variation #"):
            self.statusBar().clearMessage()
        return was is not None

    def adopt_variation(self, i: int) -> None:
        commit_typing()  # a value typed, not yet entered, goes onto its own step first
        if self.doc is not None and 0 <= i < len(self.variations):
            self._adopted.setdefault(self.doc, set()).add(self.variations[i].dumps())
            self.doc.undo.push(ReplaceRecipe(self.doc, self.variations[i], f"Variation {i + 1}"))
            self.panel.var_box.hide()  # adopted: give the room back to the steps
