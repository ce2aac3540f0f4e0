"""Photo ▸ Auto on Selected Photos: each selected photo gets its own Auto, one undo step each,
in the background; a photo edited meanwhile keeps the edit; it can be stopped."""

from __future__ import annotations

import shutil

import numpy as np
from qt_helpers import TIMEOUT, open_and_wait

from engine.io import load_photo
from engine.recipe import Recipe, Step, read_sidecar
from engine.runners.agent import Agent, at_strength


def expected(level: np.ndarray, strength: float, raw: bool) -> str:
    agent = Agent()
    return at_strength(agent.predict(level, strength=1.0, raw=raw), agent.proxy(level, raw), strength).dumps()


def test_each_selected_photo_gets_its_own_auto(qtbot, win, folder, photo_jpeg, photo_srgb8):
    from PIL import Image

    Image.fromarray(photo_srgb8[::-1, :, ::-1].copy()).save(folder / "c_turned.jpg", quality=92)  # another look
    shutil.copy(photo_jpeg, folder / "d_edited.jpg")
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.filmstrip.selectAll()
    shown_level = win.doc.preview_linear
    win.auto_selected()
    assert "Stop Auto" in win.a_auto_selected.text()
    mine = Recipe([Step("gamma", {"gamma": 1.2})])
    edited = win.get_doc(folder / "d_edited.jpg")
    from app.commands import ReplaceRecipe

    edited.undo.push(ReplaceRecipe(edited, mine, "mine"))  # edited while it waits: kept
    qtbot.waitUntil(lambda: win._auto_run is None, timeout=TIMEOUT * 2)
    said = win.statusBar().currentMessage()
    assert said.startswith("Auto on 3 of 4 photos;") and "1 edited meanwhile kept" in said and "d_edited.jpg" in said
    assert win.a_auto_selected.text().replace("&", "").startswith("Auto on")
    s = win.strength
    docs = {p.name: win.get_doc(p) for p in sorted(folder.glob("*.*")) if not p.name.endswith(".json")}
    # the shown photo exactly as Auto gives it; the others from their own pixels, as they open
    assert docs["b_dune.jpg"].recipe.dumps() == expected(shown_level, s, raw=False)
    turned = load_photo(folder / "c_turned.jpg").linear
    assert docs["c_turned.jpg"].recipe.dumps() == expected(turned, s, raw=False)
    assert docs["c_turned.jpg"].recipe.dumps() != docs["b_dune.jpg"].recipe.dumps()
    assert docs["a_dune.dng"].recipe.dumps() == expected(load_photo(folder / "a_dune.dng").linear, s, raw=True)
    assert docs["d_edited.jpg"].recipe.dumps() == mine.dumps()
    for name in ("a_dune.dng", "b_dune.jpg", "c_turned.jpg"):
        assert docs[name].undo.count() == 1  # one step each, undoable on its photo
    win.flush_sidecars(wait=True)
    assert read_sidecar(folder / "c_turned.jpg").dumps() == docs["c_turned.jpg"].recipe.dumps()  # saved
    docs["c_turned.jpg"].undo.undo()
    assert len(docs["c_turned.jpg"].recipe) == 0


def start_on_all(qtbot, win, folder, photo_jpeg, copies: int) -> None:
    """``copies`` more photos in the folder, all selected, and Auto on Selected Photos started."""
    for i in range(copies):
        shutil.copy(photo_jpeg, folder / f"e{i:02}.jpg")
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.filmstrip.selectAll()
    win.auto_selected()


def test_auto_on_selected_photos_stops(qtbot, win, folder, photo_jpeg):
    start_on_all(qtbot, win, folder, photo_jpeg, 4)
    win.auto_selected()  # pressed again: stops
    assert win._auto_run is None and "(stopped)" in win.statusBar().currentMessage()
    qtbot.wait(1500)  # a photo being read when it stopped lands, and is left as it is
    assert all(len(win.get_doc(p).recipe) == 0 for p in folder.glob("e*.jpg"))


def test_quitting_stops_auto_on_selected_photos_and_keeps_what_it_did(qtbot, win, folder, photo_jpeg):
    """The one-thread pool waited, at quit, for every photo still queued."""
    import time

    start_on_all(qtbot, win, folder, photo_jpeg, 12)
    qtbot.waitUntil(lambda: win._auto_run is not None and win._auto_run.edited >= 1, timeout=TIMEOUT)
    t0 = time.perf_counter()
    win.close()
    pool_done = win._auto_pool.waitForDone(20_000)
    assert pool_done and time.perf_counter() - t0 < 15
    kept = [p for p in sorted(folder.glob("*.*g")) if read_sidecar(p) is not None]
    assert kept and len(kept) < 14  # the photos done were saved; the rest left as they are


def test_a_style_that_cannot_run_stops_auto_on_selected_photos_once(qtbot, win, folder, monkeypatch):
    """Every photo was decoded, then failed, and was summed up as "could not be read"."""
    import app.window_auto_many as auto_many
    from engine.runners import ModelError

    said = []
    monkeypatch.setattr(auto_many, "show_error", lambda parent, title, exc: said.append(str(exc)))
    decoded = []
    monkeypatch.setattr(auto_many, "decode", lambda *a: decoded.append(a))

    def broken(model):
        raise ModelError("the style is not a Retouch model")

    monkeypatch.setattr(auto_many.agent_mod, "get_agent", broken)
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.filmstrip.selectAll()
    win.auto_selected()
    qtbot.waitUntil(lambda: win._auto_run is None, timeout=TIMEOUT)
    assert said == ["the style is not a Retouch model"] and not decoded
    assert not any(win.filmstrip.is_failed(p) for p in folder.iterdir() if p.suffix in (".jpg", ".dng"))


def test_auto_on_selected_photos_asks_before_replacing_hand_edits(qtbot, win, folder, photo_jpeg):
    """A large shoot's QA: a photo's hand-made black & white was replaced by Auto's steps, the status
    saying only "Auto on 6 of 6 photos". Asked first: replace them too, only the unedited, or nothing."""
    for name in ("c.jpg", "d.jpg"):
        shutil.copy(photo_jpeg, folder / name)
    mine = Recipe([Step("black_white", {"amount": 1.0})])
    mine.save(folder / "c.jpg.retouch.json")
    Recipe([Step("exposure", {"ev": 0.4}, source="auto-exposure")]).save(folder / "d.jpg.retouch.json")  # Auto's
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    asked = []

    def answer(choice):
        def ask(names, total):
            asked.append((names, total))
            return choice
        return ask

    win.filmstrip.selectAll()
    win._ask_auto_replaces = answer(None)
    win.auto_selected()
    assert asked == [(["c.jpg"], 4)] and win._auto_run is None  # d.jpg's steps are Auto's own: not asked about
    win._ask_auto_replaces = answer("unedited")
    win.auto_selected()
    qtbot.waitUntil(lambda: win._auto_run is None, timeout=TIMEOUT * 2)
    assert win.get_doc(folder / "c.jpg").recipe.dumps() == mine.dumps()  # kept
    assert win.statusBar().currentMessage().startswith("Auto on 3 of 3 photos")
    assert all(len(win.get_doc(folder / n).recipe) > 0 for n in ("a_dune.dng", "b_dune.jpg", "d.jpg"))
    win._ask_auto_replaces = answer("all")
    win.filmstrip.selectAll()
    win.auto_selected()
    qtbot.waitUntil(lambda: win._auto_run is None, timeout=TIMEOUT * 2)
    replaced = win.get_doc(folder / "c.jpg").recipe
    assert replaced.dumps() != mine.dumps() and all(s.probs or s.source for s in replaced.steps)  # Auto's steps
    win.get_doc(folder / "c.jpg").undo.undo()  # undone on its photo
    assert win.get_doc(folder / "c.jpg").recipe.dumps() == mine.dumps()


def test_a_newer_retouchs_photo_is_left_out_and_said(qtbot, win, folder, photo_jpeg):
    """Auto on a photo whose sidecar a newer Retouch wrote showed steps that were never saved; and
    each unreadable sidecar among the selection popped its own box."""
    from engine.recipe import sidecar_path

    newer = '{"format": 99, "app": "retouch", "steps": []}'
    shutil.copy(photo_jpeg, folder / "c_newer.jpg")
    sidecar_path(folder / "c_newer.jpg").write_text(newer)
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    win.filmstrip.selectAll()
    win.auto_selected()
    qtbot.waitUntil(lambda: win._auto_run is None, timeout=TIMEOUT * 2)
    said = win.statusBar().currentMessage()
    assert said.startswith("Auto on 2 of 2 photos;") and "1 left out" in said and "c_newer.jpg" in said, said
    assert len(win.get_doc(folder / "c_newer.jpg", say=False).recipe) == 0
    assert sidecar_path(folder / "c_newer.jpg").read_text() == newer
