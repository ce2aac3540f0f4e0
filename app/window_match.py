"""Match a look: fit the steps that turn the open photo into a finished version of it.

A mixin of :class:`app.window.MainWindow`, whose widgets and documents it uses.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from engine.folders import list_photos
from engine.recipe import Recipe

from .commands import ReplaceRecipe
from .controls import commit_typing


class MatchLookMixin:
    """Photo ▸ Match a Look…."""

    def match_look_dialog(self) -> None:
        if self.doc is None:
            return
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Match the look of (a finished version of this photo, or several of this folder's photos)",
            str(self.doc.path.parent), "Images (*.jpg *.jpeg *.png *.tif *.tiff);;All files (*)")
        if paths:
            self.match_look(Path(paths[0]) if len(paths) == 1 else [Path(p) for p in paths])

    def match_look(self, after: Path | list[Path]) -> None:
        """Replace the open photo's steps by those that turn it into ``after`` (``retouch fit``).
        Several finished photos pin a look down better than one (one of nearly one hue cannot tell
        a warmer white balance from more saturation): each is paired by name with a photo of the
        open one's folder, the open photo's among them, and one recipe is fitted to every pair."""
        commit_typing()
        from .match_look import LookMatcher
        from .style_dialog import training_available

        doc = self.doc
        if doc is None:
            return
        if not training_available():
            self.panel.set_busy("Match a look needs the training components (torch), which this "
                                "installation lacks.")
            return
        if self.matcher is not None and self.matcher.running():
            self.panel.set_busy("A look is already being matched.")
            return
        pairs, left = look_pairs(doc.path, after)
        if not pairs:
            self.panel.set_busy(f"Match a look: none of the {len(after)} files picked is a finished version "
                                f"of {doc.path.name} by its name; pick one among them (the others pair by name "
                                "with this folder's photos).")
            return
        what = pairs[0][1].name if len(pairs) == 1 else f"{len(pairs)} finished photos"
        unpaired = f" Left out: {', '.join(left)}." if left else ""

        def done(recipe: Recipe, summary: str) -> None:
            if doc is not self.doc:
                self.panel.set_busy(f"Matched the look of {what}, but another photo is open now: "
                                    "nothing was changed.")
                return
            fitted = Recipe([replace(s, source="match-look") for s in recipe.steps])
            doc.undo.push(ReplaceRecipe(doc, fitted, f"Match look of {what}"))
            text = f"Matched the look of {what}: {summary}.{unpaired}"
            self.panel.set_busy(text)
            self._match_said = (doc, fitted.dumps(), text)

        self._match_said = None
        if self.matcher is not None:  # the last one is done: let its dialog and temp folder go
            self.matcher.dialog.deleteLater()
            self.matcher.deleteLater()
        self.matcher = LookMatcher(self, done, lambda message: self.panel.set_busy(message + unpaired))
        self.matcher.start(pairs)


    def _match_note_stale(self, doc: object) -> None:
        """The "Matched the look of …" line goes once the steps it speaks of are undone or edited
        (it stood over a photo with no steps, QA)."""
        said = self._match_said
        if said is not None and said[0] is doc and doc.recipe.dumps() != said[1]:
            self._match_said = None
            if self.panel.status.text() == said[2]:
                self.panel.set_busy("")


def look_pairs(photo: Path, after: Path | list[Path]) -> tuple[list[tuple[Path, Path]], list[str]]:
    """The (photo, finished version) pairs to fit, the open ``photo``'s first, and why each other
    picked file was left out. One finished photo is the open photo's, whatever its name. Of
    several, the open photo's is the one of its name (the first, if two are); each other pairs
    with the photo of its name in ``photo``'s folder (a RAW before a camera JPEG of the same shot).
    No finished version of ``photo`` among them is no pairs."""
    if isinstance(after, Path):
        return [(photo, after)], []
    from engine.io import is_raw

    key = lambda p: p.stem.casefold()  # noqa: E731  IMG_0042.CR2 and img_0042.jpg: a RAW and its export
    picked = {p.resolve() for p in after}
    # files alone: the folder also lists a dangling link named like a RAW, which would win the name
    folder = [p for p in list_photos(photo.parent) if p.resolve() not in picked and p.is_file()]
    pairs: list[tuple[Path, Path]] = []
    left: list[str] = []
    for a in after:
        if a.resolve() == photo.resolve():
            left.append(f"{a.name} (the open photo itself)")
        elif key(a) == key(photo):
            if pairs and pairs[0][0] == photo:
                left.append(f"{a.name} (another finished version of {photo.name})")
            else:
                pairs.insert(0, (photo, a))
        else:
            same = [p for p in folder if key(p) == key(a)]
            raws = [p for p in same if is_raw(p)]
            one = same if len(same) == 1 else raws if len(raws) == 1 else []
            if one and all(b != one[0] for b, _ in pairs):
                pairs.append((one[0], a))
            else:
                left.append(f"{a.name} (" + (f"no photo of that name in {photo.parent.name}" if not same else
                                            f"several photos of that name in {photo.parent.name}" if not one else
                                            f"another finished version of {one[0].name}") + ")")
    if not pairs or pairs[0][0] != photo:
        return [], left
    return pairs, left
