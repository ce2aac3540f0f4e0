"""Match a look in the app: the real ``retouch fit`` in a child process finds the steps from the
open photo to a finished version of it; the recipe replaces the photo's (undoable); Cancel changes
nothing; a differently framed "after" is refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QProcess
from PySide6.QtWidgets import QPushButton
from qt_helpers import TIMEOUT, open_and_wait

pytest.importorskip("torch")

from engine.io import load_photo, write_image
from engine.recipe import Recipe, Step
from engine.render import render

LONG = 180_000  # ms: the child imports torch, decodes both photos and searches (~30 s here)


def _after(folder: Path, tmp_path: Path, recipe: Recipe, turn: bool = False) -> Path:
    """A finished version of the folder's JPEG, as another tool would export it (``turn``: upside down)."""
    srgb = render(recipe, load_photo(folder / "b_dune.jpg").linear)
    if turn:
        srgb = srgb[::-1, ::-1]
    out = tmp_path / ("turned.png" if turn else "finished.png")
    write_image(out, np.clip(srgb, 0, 1), fmt="png")
    return out


def test_match_a_look_finds_the_steps_and_is_undoable(qtbot, win, folder, tmp_path):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    known = Recipe([Step("exposure", {"ev": -0.5}), Step("saturation", {"amount": 0.6})])
    after = _after(folder, tmp_path, known)
    win.match_look(after)
    assert win.matcher.dialog.isVisible()
    qtbot.waitUntil(lambda: len(win.doc.recipe) > 0, timeout=LONG)
    got = win.doc.recipe
    assert [s.op for s in got] == ["exposure", "saturation"], got.dumps()
    assert abs(got.steps[0].params["ev"] + 0.5) < 0.05
    assert abs(got.steps[1].params["amount"] - 0.6) < 0.05, got.dumps()
    assert all(s.source == "match-look" for s in got)  # the cards say where the steps came from
    card = win.panel.steps.cards[0]
    assert card.confidence.text() == "Fitted by Match a Look"
    assert card.confidence.toolTip().startswith("Fitted to match a finished version")
    assert win.panel.status.text().startswith("Matched the look of finished.png: 2 steps")
    assert not win.matcher.dialog.isVisible()
    win.undo_group.undo()
    assert len(win.doc.recipe) == 0
    assert not win.panel.status.text().startswith("Matched")  # it stood over a photo with no steps (QA)
    win.undo_group.redo()
    assert len(win.doc.recipe) == 2


def test_what_fit_said_of_a_finished_photo_is_shown_with_the_result(qtbot, win):
    """A crop, other proportions, transparency, a pair left out: the command line says how it took
    each finished photo, the app had kept it to itself unless the fit failed (QA)."""
    from app.match_look import NOTICE, STAGE, LookMatcher

    said = ["a.png is a crop of a.dng (x 10-600, y 0-400): fitting on that part",  # retouch fit's own lines
            "a.png is the whole of a.dng resized to other proportions (640x400 -> 600x400): fitting on it as it is",
            "a.png: its transparent pixels (12%) are left out of the fit",
            "skipped b.dng -> b.png: b.png does not show b.dng: fit needs a finished version of the same photo"]
    assert all(NOTICE.search(line) for line in said)
    assert not any(NOTICE.search(line) or STAGE.match(line) for line in ("retouch fit: error: x", "2 steps:"))
    got: list[str] = []
    m = LookMatcher(win, lambda recipe, summary: got.append(summary), got.append)
    m._read_out = lambda: None
    m._notices = ["finished.png is the whole of b_dune.jpg resized to other proportions (640x400 -> 600x400): "
                  "fitting on it as it is"]
    Recipe([Step("exposure", {"ev": 0.3})]).save(m.out)
    m._pairs, m._stdout = 1, "remaining error: RMSE 0.0101 (39.9 dB PSNR; before fitting 20.0 dB)\n"
    m._finished(0, QProcess.ExitStatus.NormalExit)
    assert got == ["1 step, 2.6 levels of 255 from the target on average (39.9 dB); finished.png is the whole of "
                   "b_dune.jpg resized to other proportions (640x400 -> 600x400): fitting on it as it is"]


def test_match_a_look_from_several_finished_photos(qtbot, win, folder, tmp_path):
    """Several finished photos are paired by name with the folder's photos, the open one's among
    them, and one recipe fits them all; a file that pairs with none is named; a choice without the
    open photo's finished version starts nothing and says why."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    known = Recipe([Step("white_balance", {"green": 1.0, "blue": 0.8}), Step("saturation", {"amount": 0.4})])
    edited = tmp_path / "edited"
    edited.mkdir()
    for name in ("a_dune.dng", "b_dune.jpg"):
        srgb = render(known, load_photo(folder / name).linear)
        write_image(edited / f"{Path(name).stem}.png", np.clip(srgb, 0, 1), fmt="png")
    write_image(edited / "stray.png", np.full((8, 8, 3), 0.5, np.float32), fmt="png")
    afters = sorted(edited.iterdir())
    win.match_look([p for p in afters if p.name != "b_dune.png"])
    assert win.matcher is None or not win.matcher.running()
    assert "none of the 2 files picked is a finished version of b_dune.jpg by its name" in win.panel.status.text()
    win.match_look(afters)
    assert "2 photos to their finished versions" in win.matcher.dialog.labelText()
    qtbot.waitUntil(lambda: len(win.doc.recipe) > 0, timeout=LONG)
    got = win.doc.recipe
    assert [s.op for s in got] == ["white_balance", "saturation"], got.dumps()
    assert abs(got.steps[0].params["blue"] - 0.8) < 0.03 and abs(got.steps[1].params["amount"] - 0.4) < 0.03
    status = win.panel.status.text()
    assert status.startswith("Matched the look of 2 finished photos: 2 steps"), status
    assert "from the targets" in status and status.endswith("Left out: stray.png (no photo of that name in photos).")


def test_several_finished_photos_pair_as_a_photographer_keeps_them(tmp_path):
    """The open photo pairs with the finished photo of its name, even where its folder holds the
    RAW of the same shot or the exports sit beside it; the others by name, a RAW before a camera
    JPEG; what pairs with nothing, or twice, is left out with the reason."""
    from app.window_match import look_pairs

    shoot, edited = tmp_path / "shoot", tmp_path / "edited"
    shoot.mkdir()
    edited.mkdir()
    for name in ("IMG_1.CR2", "IMG_1.JPG", "IMG_2.CR2", "IMG_2.JPG", "IMG_3.jpg", "IMG_3.tif", "x.jpg"):
        (shoot / name).write_bytes(b"")
    for name in ("img_1.jpg", "IMG_1.tif", "IMG_2.jpg", "IMG_4.jpg"):
        (edited / name).write_bytes(b"")
    e = lambda n: edited / n  # noqa: E731
    # the camera JPEG open: its finished version by name, the RAW of the other shot
    pairs, left = look_pairs(shoot / "IMG_1.JPG", [e("IMG_2.jpg"), e("img_1.jpg"), e("IMG_1.tif"), e("IMG_4.jpg"),
                                                   shoot / "IMG_1.JPG"])
    assert pairs == [(shoot / "IMG_1.JPG", e("img_1.jpg")), (shoot / "IMG_2.CR2", e("IMG_2.jpg"))]
    assert left == ["IMG_1.tif (another finished version of IMG_1.JPG)", "IMG_4.jpg (no photo of that name in shoot)",
                    "IMG_1.JPG (the open photo itself)"]
    # exports beside the originals: the export is never its own BEFORE
    pairs, left = look_pairs(shoot / "IMG_3.jpg", [shoot / "IMG_3.tif", e("IMG_2.jpg")])
    assert pairs == [(shoot / "IMG_3.jpg", shoot / "IMG_3.tif"), (shoot / "IMG_2.CR2", e("IMG_2.jpg"))] and not left
    # no finished version of the open photo: nothing to fit
    assert look_pairs(shoot / "x.jpg", [e("IMG_2.jpg"), e("IMG_4.jpg")])[0] == []
    # one file picked is the open photo's, whatever its name
    assert look_pairs(shoot / "x.jpg", e("IMG_4.jpg")) == ([(shoot / "x.jpg", e("IMG_4.jpg"))], [])


def test_match_a_look_cancelled_changes_nothing(qtbot, win, folder, tmp_path):
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    after = _after(folder, tmp_path, Recipe([Step("exposure", {"ev": 0.4})]))
    win.match_look(after)
    qtbot.waitUntil(lambda: "search" in win.matcher.dialog.labelText(), timeout=LONG)  # it is fitting
    win.matcher.dialog.findChild(QPushButton).click()  # the dialog's Cancel
    qtbot.waitUntil(lambda: not win.matcher.running(), timeout=TIMEOUT)
    assert "cancelled" in win.panel.status.text() and len(win.doc.recipe) == 0


def test_match_a_look_refuses_another_photo(qtbot, win, folder, tmp_path):
    """A finished version must show the open photo (cropped or not): the photo upside down does
    not, and is refused with the reason before any search."""
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    after = _after(folder, tmp_path, Recipe([]), turn=True)
    win.match_look(after)
    qtbot.waitUntil(lambda: not win.matcher.running(), timeout=LONG)
    assert "does not show b_dune.jpg" in win.panel.status.text(), win.panel.status.text()
    assert len(win.doc.recipe) == 0


def test_a_rough_match_among_several_names_the_finished_photo(qtbot, win):
    """With several pairs, the summary says which finished photo ``retouch fit`` found no global
    look for; with one, it reads as before."""
    from app.match_look import LookMatcher

    got: list[str] = []
    m = LookMatcher(win, lambda recipe, summary: got.append(summary), got.append)
    m._read_out = lambda: None  # the child's output, as read: set below
    for pairs, line in ((2, "rough match: a2.png may hold what these filters cannot do (…, or a look of its own)"),
                        (1, "rough match: a1.png may hold what these filters cannot do (…)")):
        Recipe([Step("exposure", {"ev": 0.3})]).save(m.out)
        m._pairs, m._stdout = pairs, f"remaining error: RMSE 0.0501 (26.0 dB PSNR; before fitting 20.0 dB)\n{line}\n"
        m._finished(0, QProcess.ExitStatus.NormalExit)
    assert got == ["1 step, 12.8 levels of 255 from the targets on average (26.0 dB) (a rough match for a2.png: "
                   "it may hold what these filters cannot do, such as a local edit, or a look of its own)",
                   "1 step, 12.8 levels of 255 from the target on average (26.0 dB) (a rough match: the look may "
                   "hold what these filters cannot do, such as a local edit)"]
