"""Photo ▸ Auto on Selected Photos: the agent's edit for each photo of a selection, as Lightroom's
Auto on a selection gives each photo its own, ready to be looked at and tweaked before export.

A mixin of :class:`app.window.MainWindow`. Each photo is decoded (a RAW at half size, in a child
process, as the app previews it) and predicted in turn on a one-thread pool, off the GUI thread;
its result lands as one undo step on that photo, at the current strength, and the slider then
rescales it there as it rescales a single Auto. A photo edited while it waits keeps the edit.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import agent as agent_mod
from .controls import commit_typing
from .document import PhotoDoc
from .errors import few_names, show_error
from .loading import Skipped, decode, decode_quick, is_raw, quick_open
from .workers import clear_pool, run_in_pool

log = logging.getLogger(__name__)

RUN_TEXT, STOP_TEXT = "Auto &on Selected Photos", "Stop Auto &on Selected Photos"  # the menu item, by state


@dataclass
class AutoRun:
    """One Auto on Selected Photos: how far it is, and what it could not do."""

    total: int
    cancel: threading.Event = field(default_factory=threading.Event)
    done: int = 0
    edited: int = 0
    kept: list[str] = field(default_factory=list)  # edited by the photographer while waiting
    failed: list[str] = field(default_factory=list)  # could not be read
    locked: list[str] = field(default_factory=list)  # a newer Retouch's edits: left out


def predict_photo(path: Path, level: Any, model: Path | None, cancel: threading.Event) -> tuple:
    """On the pool: ``path``'s Auto at full strength, its proxy and the style's own strength.
    ``level``: the photo's preview level where the app holds it (the shown photo), else decoded
    here as the app decodes it to show it (a large RAW from its half-size decode), so that the
    result is the one Auto gives on the photo shown."""
    wanted = lambda: not cancel.is_set()  # noqa: E731  (Skipped once stopped: decode() checks it)
    if not wanted():
        raise Skipped(path)
    agent = agent_mod.get_agent(model)  # first: a style gone or no runtime stops the run before any decode
    raw = is_raw(path)
    if level is None:
        got = decode_quick(path, wanted) if quick_open(path) else None
        level = (got or decode(path, wanted)).preview_linear
        del got
    return agent.predict(level, strength=1.0, raw=raw), agent.proxy(level, raw), agent.strength


def has_own_edits(recipe: Any) -> bool:
    """Steps the photographer made or changed: not only Auto's own (the agent's, its measured
    ones), which Auto again may replace without asking."""
    return any(s.edited or (s.probs is None and not (s.source or "").startswith("auto-")) for s in recipe.steps)


class AutoManyMixin:
    """Auto on each photo of the filmstrip's selection, in the background, stoppable."""

    def auto_selected(self) -> None:
        """Auto on the selected photos (the shown one alone: Auto); pressed again while it runs, stop."""
        commit_typing()  # a value typed, not yet entered, goes onto its own step first
        if self._auto_run is not None:
            self.stop_auto_selected()
            return
        targets = self.paste_targets()
        if len(targets) <= 1:
            self.auto()
            return
        # a newer Retouch's photos are left out: their Auto would show and never be saved (as Paste)
        docs = self.docs_for(targets)
        locked = [d.name for d in docs if d.sidecar_locked]
        targets = [d.path for d in docs if not d.sidecar_locked]
        if not targets:
            self.statusBar().showMessage("Auto left the selected photos as they are: their edits are a newer "
                                         "Retouch's", 8000)
            return
        own = [p for p in targets if has_own_edits(self.get_doc(p).recipe)]
        if own:  # Auto replaces a photo's steps: a hand-made black & white went without a word (a QA's)
            choice = self._ask_auto_replaces([self.get_doc(p).name for p in own], len(targets))
            if choice is None:
                return
            if choice == "unedited":
                targets = [p for p in targets if p not in own]
                if not targets:
                    self.statusBar().showMessage("Every selected photo has edits of its own: Auto left them as "
                                                 "they are", 8000)
                    return
        run = self._auto_run = AutoRun(len(targets), locked=locked)
        model, style = self.model, self._strength_key()
        strength = self.strength if self._strength_known else None
        for path in targets:
            doc = self.get_doc(path)
            started = doc.recipe.dumps()
            level = doc.preview_linear  # the shown photo's: exactly what Auto would read
            run_in_pool(predict_photo, path, level, model, run.cancel, pool=self._auto_pool, owner=self,
                        on_done=lambda res, d=doc, s=started: self._auto_landed(run, d, s, style, strength, res),
                        on_error=lambda e, tb, d=doc: self._auto_failed(run, d, e, tb))
        self.a_auto_selected.setText(STOP_TEXT)
        self._say_auto_run(run)

    def _ask_auto_replaces(self, names: list[str], total: int) -> str | None:
        """Some selected photos have edits of their own: "all" (Auto replaces them too),
        "unedited" (only the others), or None (nothing done)."""
        from PySide6.QtWidgets import QMessageBox

        n = len(names)
        shown = few_names(names)
        has = "has edits of its" if n == 1 else "have edits of their"
        box = QMessageBox(QMessageBox.Icon.Question, "Auto on Selected Photos",
                          f"{n} of the {total} photos {has} own: {shown}.", parent=self)
        box.setObjectName("auto-replaces")
        box.setInformativeText("Auto replaces a photo's steps with its own. Each photo can undo it on its own "
                               "(Edit ▸ Undo with the photo shown).")
        replace = box.addButton("Replace Their Edits Too", QMessageBox.ButtonRole.DestructiveRole)
        unedited = box.addButton("Only the Unedited Photos", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(unedited)
        box.exec()
        return {replace: "all", unedited: "unedited"}.get(box.clickedButton())

    def stop_auto_selected(self) -> None:
        """The photos done keep their Auto; the rest are left as they are."""
        run = self._auto_run
        if run is None:
            return
        run.cancel.set()
        clear_pool(self._auto_pool)  # not started: never will be
        self._end_auto_run(run)

    def _auto_landed(self, run: AutoRun, doc: PhotoDoc, started: str, style: str, strength: float | None,
                     res: tuple) -> None:
        if run.cancel.is_set():
            return  # stopped while this photo was read: left as it is, as the rest
        run.done += 1
        recipe, proxy, own = res
        if doc.recipe.dumps() != started:  # edited meanwhile: never overwrite that
            run.kept.append(doc.name)
        else:
            self._apply_auto(doc, recipe, proxy, own, style, strength)
            run.edited += 1
            self.flush_sidecars()  # saved, and its thumbnail shows the edit
        self._step_auto_run(run)

    def _auto_failed(self, run: AutoRun, doc: PhotoDoc, exc: BaseException, tb: str) -> None:
        from engine.io import ImageError

        if isinstance(exc, Skipped) or run is not self._auto_run:
            return  # stopped
        if not isinstance(exc, ImageError):  # the agent itself (no model, no runtime): said once, and the run ends
            log.error("Auto on %s failed\n%s", doc.name, tb)
            self.stop_auto_selected()
            show_error(self, "Auto", exc)
            return
        run.done += 1
        run.failed.append(doc.name)
        self.filmstrip.mark_failed(doc.path, str(exc))
        self._step_auto_run(run)

    def _step_auto_run(self, run: AutoRun) -> None:
        if run is not self._auto_run:
            return  # stopped: a photo read meanwhile is left as it is (_auto_landed)
        if run.done >= run.total:
            self._end_auto_run(run)
        else:
            self._say_auto_run(run)

    def _say_auto_run(self, run: AutoRun) -> None:
        self.statusBar().showMessage(f"Auto on {run.total} photos: {run.done} done… "
                                     "(Photo ▸ Stop Auto on Selected Photos stops it)")

    def _end_auto_run(self, run: AutoRun) -> None:
        self._auto_run = None
        self.a_auto_selected.setText(RUN_TEXT)
        stopped = run.cancel.is_set() and run.done < run.total
        words = [f"Auto on {run.edited} of {run.total} photos" + (" (stopped)" if stopped else "")]
        if run.kept:
            words.append(f"{len(run.kept)} edited meanwhile kept as you left {'it' if len(run.kept) == 1 else 'them'}"
                         f" ({', '.join(run.kept[:3])}{', …' if len(run.kept) > 3 else ''})")
        if run.failed:
            words.append(f"{len(run.failed)} could not be read ({', '.join(run.failed[:3])}"
                         f"{', …' if len(run.failed) > 3 else ''})")
        if run.locked:
            words.append(f"{len(run.locked)} left out, {'its' if len(run.locked) == 1 else 'their'} edits a newer "
                         f"Retouch's ({', '.join(run.locked[:3])}{', …' if len(run.locked) > 3 else ''})")
        self.statusBar().showMessage("; ".join(words) + ". Each is one undo step on its photo.", 15000)
