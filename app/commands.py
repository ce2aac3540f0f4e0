"""Undo commands: every edit of a recipe is one of these, pushed on the photo's QUndoStack.

Commands address steps by index (the stack is linear, so indices are stable between a
command's redo and undo). Slider drags merge into one command per gesture.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import numpy as np
from PySide6.QtGui import QUndoCommand

from engine.recipe import Recipe, Step

from .document import Change, PhotoDoc

MERGE_PARAM = 1001


def same_value(a: Any, b: Any) -> bool:
    return bool(np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float)))


class SetParam(QUndoCommand):
    """A slider or a parameter set to a value: ``name`` is a stored parameter or a slider of the
    filter's view (white balance's Temperature moves both its gains, :meth:`FilterSpec.edit`)."""

    def __init__(self, doc: PhotoDoc, index: int, name: str, value: Any, gesture: int = -1):
        step = doc.recipe.steps[index]
        label = step.spec.slider(name).label
        super().__init__(f"Change {step.spec.label}" + ("" if label == step.spec.label else f" {label}"))
        self.doc, self.index, self.name, self.gesture = doc, index, name, gesture
        self.new = step.spec.edit(step.params, name, value)
        self.old = {k: copy.deepcopy(step.params[k]) for k in self.new}
        self.was_edited = step.edited  # a measured or agent step is marked as the photographer's since

    def id(self) -> int:
        return MERGE_PARAM

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetParam) or self.gesture < 0:
            return False
        if (other.doc, other.index, other.name, other.gesture) != (self.doc, self.index, self.name, self.gesture):
            return False
        for k, v in other.new.items():
            self.old.setdefault(k, copy.deepcopy(other.old[k]))
            self.new[k] = copy.deepcopy(v)
        return True

    def changes(self) -> bool:
        """Whether redo changes any stored value."""
        return any(not same_value(v, self.old[k]) for k, v in self.new.items())

    def _set(self, values: dict[str, Any], edited: bool) -> None:
        step = self.doc.recipe.steps[self.index]
        for k, v in values.items():
            step.params[k] = copy.deepcopy(v)
        # only a measured or agent step is marked: a hand-made one is the photographer's anyway
        step.edited = edited and (step.probs is not None or step.source is not None)
        self.doc.notify(Change("param", self.index, self.name))

    def redo(self) -> None:
        # a value set to what it was (a reset of a value already at its default) edits nothing
        self._set(self.new, self.was_edited or self.changes())

    def undo(self) -> None:
        self._set(self.old, self.was_edited)


class SetEnabled(QUndoCommand):
    def __init__(self, doc: PhotoDoc, index: int, enabled: bool):
        step = doc.recipe.steps[index]
        super().__init__(f"{'Enable' if enabled else 'Disable'} {step.spec.label}")
        self.doc, self.index, self.enabled = doc, index, enabled

    def _set(self, value: bool) -> None:
        self.doc.recipe.steps[self.index].enabled = value
        self.doc.notify(Change("enabled", self.index))

    def redo(self) -> None:
        self._set(self.enabled)

    def undo(self) -> None:
        self._set(not self.enabled)


class MoveStep(QUndoCommand):
    def __init__(self, doc: PhotoDoc, src: int, dst: int):
        super().__init__(f"Move {doc.recipe.steps[src].spec.label}")
        self.doc, self.src, self.dst = doc, src, dst

    def _move(self, a: int, b: int) -> None:
        steps = self.doc.recipe.steps
        steps.insert(b, steps.pop(a))
        self.doc.notify(Change("structure"))

    def redo(self) -> None:
        self._move(self.src, self.dst)

    def undo(self) -> None:
        self._move(self.dst, self.src)


class InsertStep(QUndoCommand):
    def __init__(self, doc: PhotoDoc, index: int, step: Step):
        super().__init__(f"Add {step.spec.label}")
        self.doc, self.index, self.step = doc, index, step

    def redo(self) -> None:
        self.doc.recipe.steps.insert(self.index, copy.deepcopy(self.step))
        self.doc.notify(Change("structure"))

    def undo(self) -> None:
        del self.doc.recipe.steps[self.index]
        self.doc.notify(Change("structure"))


class RemoveStep(QUndoCommand):
    def __init__(self, doc: PhotoDoc, index: int):
        self.step = copy.deepcopy(doc.recipe.steps[index])
        super().__init__(f"Delete {self.step.spec.label}")
        self.doc, self.index = doc, index

    def redo(self) -> None:
        del self.doc.recipe.steps[self.index]
        self.doc.notify(Change("structure"))

    def undo(self) -> None:
        self.doc.recipe.steps.insert(self.index, copy.deepcopy(self.step))
        self.doc.notify(Change("structure"))


class ReplaceRecipe(QUndoCommand):
    """Auto, adopt a variation, paste, reset: the whole recipe at once."""

    def __init__(self, doc: PhotoDoc, recipe: Recipe, text: str):
        super().__init__(text)
        self.doc = doc
        self.old = doc.recipe.copy()
        self.new = recipe.copy()

    def redo(self) -> None:
        self.doc.recipe = self.new.copy()
        self.doc.notify(Change("structure"))

    def undo(self) -> None:
        self.doc.recipe = self.old.copy()
        self.doc.notify(Change("structure"))


class StrengthChange(ReplaceRecipe):
    """Auto's result rescaled by the Strength slider; quick key presses (one ``gesture``) are one
    undo step, as on any other slider: two Right presses made two."""

    ID = 0x5752

    def __init__(self, doc: PhotoDoc, recipe: Recipe, text: str, gesture: int):
        super().__init__(doc, recipe, text)
        self.gesture = gesture

    def id(self) -> int:
        return self.ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, StrengthChange) and other.doc is self.doc and other.gesture == self.gesture):
            return False
        self.new = other.new.copy()
        self.setText(other.text())
        return True


class FromDisk(ReplaceRecipe):
    """Edits another program (or a second Retouch) saved, read again when the photo is shown."""

    def __init__(self, doc: PhotoDoc, recipe: Recipe):
        super().__init__(doc, recipe, "Edits changed on disk")

    def undo(self) -> None:
        super().undo()
        self.doc.disk_stamp = None  # the file on disk is theirs: the next save keeps it aside first


def pasted(target: Recipe, source: list[Step], *, append: bool, ticked: list[bool] | None = None) -> Recipe:
    """The recipe a paste produces from the copied ``source`` steps, of which ``ticked`` (all by
    default) are pasted: after ``target``'s steps, or instead of them. Replacing, an unticked step
    keeps the target's own steps of its filter in its place (each filter once): the photo's own
    white balance stays where the paste's would have gone, as Lightroom's unticked settings do."""
    ticked = [True] * len(source) if ticked is None else ticked
    chosen = [_as_pasted(s) for s, on in zip(source, ticked) if on]
    if append:
        return Recipe(target.copy().steps + chosen)
    own, kept, out = target.copy().steps, set(), []
    for s, on in zip(source, ticked):
        if on:
            out.append(_as_pasted(s))
        elif s.op not in kept:
            kept.add(s.op)
            out += [t for t in own if t.op == s.op]
    return Recipe(out)


def same_look(a: Recipe, b: Recipe) -> bool:
    """Whether ``a`` and ``b`` render alike: the same steps, values and bypasses, whoever made them.
    A paste that changes nothing (onto the photo copied from) is not made: it relabelled every
    step "pasted" and dropped the agent's confidences."""
    def bare(r: Recipe) -> str:
        return Recipe([replace(s, probs=None, source=None, edited=False) for s in r.steps]).dumps()

    return bare(a) == bare(b)


def _as_pasted(step: Step) -> Step:
    """A copy of ``step`` that says it was pasted: what measured it, or the agent's confidence in it,
    was about the photo it came from, and no one has edited it here yet."""
    return replace(copy.deepcopy(step), probs=None, source="pasted", edited=False)
