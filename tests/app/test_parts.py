"""The app's parts on their own: control mappings, the curve editor, commands, the render queue."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from app.controls import CurveEditor, ParamSlider
from app.renderer import Renderer, RenderRequest, to_display
from engine.filters import REGISTRY
from engine.filters.base import curve_knots
from engine.recipe import Recipe, Step


def test_log_slider_is_geometric_and_round_trips(qtbot):
    p = REGISTRY["white_balance"].param("green")
    assert p.log_scale
    w = ParamSlider(p, 1.0)
    qtbot.addWidget(w)
    assert w.slider.value() == 500  # 1.0 is the geometric middle of exp(-0.5)..exp(0.5)
    assert w.spin.suffix() == "×"
    for v in (p.min, 0.8, 1.0, 1.3, p.max):
        assert abs(w.from_pos(w.to_pos(v)) - v) < (p.max - p.min) / 500
    lin = ParamSlider(REGISTRY["exposure"].param("ev"), 0.0)
    qtbot.addWidget(lin)
    assert lin.slider.value() == 500 and lin.spin.suffix() == " EV"
    got = []
    lin.edited.connect(lambda v, g: got.append(v))
    lin.spin.setValue(1.5)  # typing a number moves the slider too
    assert got == [1.5] and lin.slider.value() == lin.to_pos(1.5)


def test_curve_knots_match_the_filter():
    slopes = np.array([0.5, 1, 2, 1, 1, 1.5, 1, 0.7])
    pts = curve_knots(slopes)
    x = pts[:, 0].astype(np.float32)
    img = np.repeat(x[None, :, None], 3, axis=2)
    out = REGISTRY["tone"].apply(img, slopes=slopes)[0, :, 0]
    np.testing.assert_allclose(out, pts[:, 1], atol=1e-6)
    assert pts[0, 1] == 0 and abs(pts[-1, 1] - 1) < 1e-12


def _colour_curves(qtbot) -> CurveEditor:
    """The colour curves' editor at its defaults, shown."""
    p = REGISTRY["color_curves"].param("slopes")
    ed = CurveEditor(p, p.default_value())
    qtbot.addWidget(ed)
    ed.resize(300, 200)
    ed.show()
    qtbot.waitExposed(ed)
    return ed


def test_colour_curve_editor_edits_the_chosen_channel(qtbot):
    ed = _colour_curves(qtbot)
    got = []
    ed.edited.connect(lambda v, g: got.append((v, g)))
    ed.buttons.button(2).click()  # blue
    h = ed.canvas.handle_pos(6).toPoint()
    qtbot.mousePress(ed.canvas, Qt.MouseButton.LeftButton, pos=h)
    qtbot.mouseMove(ed.canvas, QPoint(h.x(), 2))
    qtbot.mouseRelease(ed.canvas, Qt.MouseButton.LeftButton, pos=QPoint(h.x(), 2))
    v = np.array(got[-1][0])
    assert v.shape == (3, 8)
    assert v[2, 6] > 1.08 and np.all(v[:2] == 1.0) and np.all(np.delete(v[2], 6) == 1.0)
    assert len({g for _, g in got}) == 1  # one gesture for the whole drag
    qtbot.mouseDClick(ed.canvas, Qt.MouseButton.LeftButton, pos=ed.canvas.handle_pos(6).toPoint())
    assert np.array(got[-1][0])[2, 6] == 1.0


def test_curves_are_edited_from_the_keyboard(qtbot):
    """Left/Right pick a zone, Up/Down steepen or flatten it (quick presses one undo step, as on a
    slider), Home resets it: the curves could only be edited with a mouse."""
    ed = _colour_curves(qtbot)
    p = ed.param
    got = []
    ed.edited.connect(lambda v, g: got.append((np.array(v), g)))
    ed.buttons.button(1).click()  # green
    assert ed.canvas.focusPolicy() == Qt.FocusPolicy.StrongFocus and ed.canvas.accessibleName()
    for key in (Qt.Key.Key_Right, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Up):
        qtbot.keyClick(ed.canvas, key)
    v = got[-1][0]
    step = (p.max - p.min) / 50
    assert v[1, 2] == pytest.approx(1.0 + 2 * step) and np.count_nonzero(v != 1.0) == 1
    assert len({g for _, g in got}) == 1  # two quick presses, one undo step
    qtbot.keyClick(ed.canvas, Qt.Key.Key_Right)
    qtbot.keyClick(ed.canvas, Qt.Key.Key_Up)
    assert len({g for _, g in got}) == 2  # another zone: its own step
    qtbot.keyClick(ed.canvas, Qt.Key.Key_Left)
    qtbot.keyClick(ed.canvas, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert got[-1][0][1, 2] == pytest.approx(1.0 - 3 * step)
    qtbot.keyClick(ed.canvas, Qt.Key.Key_Home)
    assert got[-1][0][1, 2] == 1.0 and np.count_nonzero(got[-1][0] != 1.0) == 1  # zone 3's step stays


def test_commands_merge_per_gesture_and_paste(qtbot, tmp_path):
    from app.commands import SetParam, pasted
    from app.document import PhotoDoc

    doc = PhotoDoc(tmp_path / "x.jpg")
    doc.recipe = Recipe([Step.default("exposure"), Step.default("contrast")])
    for v in (0.1, 0.2, 0.3):
        doc.undo.push(SetParam(doc, 0, "ev", v, gesture=7))
    doc.undo.push(SetParam(doc, 0, "ev", 0.9, gesture=8))
    assert doc.undo.count() == 2 and doc.recipe.steps[0].params["ev"] == 0.9
    doc.undo.undo()
    assert doc.recipe.steps[0].params["ev"] == 0.3
    doc.undo.undo()
    assert doc.recipe.steps[0].params["ev"] == 0.0
    src = [Step("saturation", {"amount": 0.4})]
    assert [s.op for s in pasted(doc.recipe, src, append=True).steps] == ["exposure", "contrast", "saturation"]
    assert [s.op for s in pasted(doc.recipe, src, append=False).steps] == ["saturation"]
    # replacing, an unticked step keeps the photo's own steps of that filter, in the paste's order:
    # Paste Selectively's default (white balance unticked) deleted the photo's own white balance
    own = Recipe([Step("exposure", {"ev": 0.5}), Step("white_balance", {"green": 1.0, "blue": 0.8}),
                  Step("saturation", {"amount": 0.1}), Step("white_balance", {"green": 1.0, "blue": 1.1})])
    copied = [Step("white_balance", {"green": 0.9, "blue": 1.2}), Step("exposure", {"ev": -0.3}),
              Step("contrast", {"amount": 0.2}), Step("white_balance", {"green": 1.0, "blue": 0.95})]
    got = pasted(own, copied, append=False, ticked=[False, True, True, False])
    assert [(s.op, s.params) for s in got.steps] == [
        ("white_balance", {"green": 1.0, "blue": 0.8}), ("white_balance", {"green": 1.0, "blue": 1.1}),
        ("exposure", {"ev": -0.3}), ("contrast", {"amount": 0.2})]
    # a pasted step says so: the measured source, the agent's confidence and "edited" were the other photo's
    measured = Step("exposure", {"ev": 1.0}, source="auto-exposure", edited=True)
    agent = Step("contrast", {"amount": 0.1}, probs={"contrast": 0.9, "gamma": 0.1})
    for s in pasted(Recipe([]), [measured, agent], append=False).steps:
        assert (s.source, s.probs, s.edited) == ("pasted", None, False)
    assert Recipe.loads(pasted(Recipe([]), [agent], append=False).dumps()).steps[0].source == "pasted"
    got = pasted(own, copied, append=True, ticked=[False, True, True, False])
    assert [s.op for s in got.steps] == ["exposure", "white_balance", "saturation", "white_balance", "exposure",
                                         "contrast"]
    assert doc.recipe.steps[-1].op == "contrast"  # the target itself is not modified


@pytest.fixture
def renderer(qtbot):
    r = Renderer()
    yield r
    r.shutdown()


def test_render_queue_keeps_only_the_newest_request(qtbot, renderer, photo_linear):
    results = []
    renderer.finished.connect(results.append)
    recipes = [Recipe([Step("exposure", {"ev": ev})]) for ev in np.linspace(-1, 1, 12)]
    with renderer._cond:  # the worker cannot take a request while we hold its lock: a burst of edits
        for i, r in enumerate(recipes):
            renderer.submit(RenderRequest(i, "preview", r, photo_linear))
    qtbot.waitUntil(lambda: bool(renderer.idle() and results and results[-1].request.id == 11), timeout=30000)
    ids = [res.request.id for res in results]
    assert ids == [11]  # the eleven stale requests were never started
    want = to_display(recipes[-1], photo_linear)
    img = results[-1].image.convertToFormat(results[-1].image.Format.Format_RGB888)
    h, w = want.shape[:2]
    got = np.frombuffer(img.constBits(), np.uint8, count=img.sizeInBytes()).reshape(h, img.bytesPerLine())
    np.testing.assert_array_equal(got[:, : w * 3].reshape(h, w, 3), want)
    hist = results[-1].histogram
    assert hist.shape == (4, 256) and hist[3].sum() == math.ceil(h / 4) * math.ceil(w / 4)


def test_the_kernels_warm_up_lets_the_photo_render_between_its_stages(qtbot, renderer, photo_linear, monkeypatch):
    """A fresh install's first preview waited for every kernel's compile (32 s measured by a QA)
    where the kernels it needs take ~7 s: the warm-up runs a stage at a time, and a preview asked
    meanwhile goes before the next stage."""
    import threading

    import app.renderer as renderer_mod
    import engine.lut

    order, first, held = [], threading.Event(), threading.Event()

    def stage(name: str, hold: bool = False):
        def run() -> None:
            order.append(name)
            if hold:
                first.set()
                held.wait(10)
        return run

    real = renderer_mod.execute
    monkeypatch.setattr(engine.lut, "warm_up_stages", lambda: [stage("stage 1", hold=True), stage("stage 2"),
                                                               stage("stage 3")])
    monkeypatch.setattr(renderer_mod, "execute", lambda req: order.append(req.kind) or real(req))
    done = []
    renderer.finished.connect(lambda res: done.append(res.request.kind))
    renderer.submit(RenderRequest(1, "warmup", Recipe(), photo_linear[:8, :8]))
    assert first.wait(10)
    renderer.submit(RenderRequest(2, "preview", Recipe([Step("exposure", {"ev": 0.3})]), photo_linear))
    held.set()
    qtbot.waitUntil(lambda: len(done) == 2, timeout=30000)
    assert order == ["stage 1", "preview", "stage 2", "stage 3", "warmup"]
    assert done == ["preview", "warmup"]


def test_render_queue_reports_failures_and_keeps_serving(qtbot, renderer, photo_linear):
    errors, ok = [], []
    renderer.failed.connect(lambda e, tb: errors.append(e))
    renderer.finished.connect(ok.append)
    renderer.submit(RenderRequest(1, "preview", Recipe(), np.zeros((4, 4), np.float32)))  # not an image
    qtbot.waitUntil(lambda: bool(errors), timeout=10000)
    time.sleep(0.05)
    renderer.submit(RenderRequest(2, "preview", Recipe(), photo_linear))
    qtbot.waitUntil(lambda: bool(ok), timeout=30000)
    assert ok[0].request.id == 2


def test_a_finished_task_frees_what_it_was_given(qtbot):
    """Its slots held the task through a Qt connection, a cycle the collector cannot see: every
    finished task stayed alive with the photo it was given (~32 MB per photo viewed)."""
    import gc
    import weakref

    from app.workers import run_in_pool

    class Pixels:  # an ndarray cannot be weakly referenced; this stands for one
        pass

    from PySide6.QtCore import QThreadPool

    got, pool = [], QThreadPool()
    for fails in (False, True):
        pixels = Pixels()
        ref = weakref.ref(pixels)

        def work(p, fails=fails):
            if fails:
                raise ValueError("no")
            return 1

        before = len(got)
        # a pool of its own: the global one may still be busy with an earlier test's decodes
        run_in_pool(work, pixels, on_done=got.append, on_error=lambda e, tb: got.append(e), pool=pool)
        del pixels
        qtbot.waitUntil(lambda b=before: len(got) == b + 1, timeout=10_000)
        # freed once the deleteLater of its signals has run: a turn of the event loop, more than
        # the 10 ms once waited here on a loaded machine (a full run failed once)
        qtbot.waitUntil(lambda r=ref: gc.collect() is not None and r() is None, timeout=5000)


def test_a_result_for_a_closed_window_goes_nowhere(qtbot):
    """A decode that ended after its window closed called into deleted widgets."""
    import threading

    from PySide6.QtWidgets import QLabel

    from app.workers import run_in_pool

    owner = QLabel()
    gate = threading.Event()
    called = []
    run_in_pool(gate.wait, 5, owner=owner, on_done=lambda _: called.append(owner.text()))
    owner.deleteLater()
    qtbot.wait(20)
    gate.set()
    qtbot.wait(200)
    assert called == []


def test_tasks_taken_off_a_pool_queue_are_let_go(qtbot):
    """pool.clear() (a new folder while thumbnails load) left every queued task alive for ever."""
    import threading

    from app import workers
    from app.workers import clear_pool, run_in_pool, serial_pool

    pool = serial_pool()
    gate = threading.Event()
    first = run_in_pool(gate.wait, 5, pool=pool)
    queued = [run_in_pool(len, [0] * 10, pool=pool) for _ in range(5)]
    clear_pool(pool)
    assert not any(t in workers._live for t in queued) and all(t.args is None for t in queued)
    gate.set()
    pool.waitForDone(5000)
    qtbot.waitUntil(lambda: first not in workers._live, timeout=5000)


def test_a_failed_warm_up_still_ends_the_warm_up(qtbot, renderer, photo_linear, monkeypatch):
    """A review's: were the warm-up's last render to fail, the window would say "preparing the
    editor" over every photo for good; it is told the warm-up is over, as after a success."""
    import app.renderer as renderer_mod
    import engine.lut

    monkeypatch.setattr(engine.lut, "warm_up_stages", lambda: [])
    monkeypatch.setattr(renderer_mod, "execute", lambda req: 1 / 0)
    done, failed = [], []
    renderer.finished.connect(lambda res: done.append(res))
    renderer.failed.connect(lambda e, tb: failed.append(e))
    renderer.submit(RenderRequest(1, "warmup", Recipe(), photo_linear[:8, :8]))
    qtbot.waitUntil(lambda: bool(done), timeout=10000)
    assert done[0].request.kind == "warmup" and done[0].image is None and not failed


@pytest.mark.parametrize("ratio", [1.5, 2.0])
def test_a_thumbnail_fills_its_box_on_a_scaled_screen(qapp, monkeypatch, ratio):
    """At 150 % and 200 % a kept thumbnail (an image carrying the screen's ratio) was drawn at
    1/1.5 or 1/2 of its size in the corner of its cell, and the viewer's stand-in with it."""
    from PySide6.QtGui import QImage

    import app.filmstrip as fm
    from app.renderer import to_qimage

    monkeypatch.setattr(fm, "_dpr", ratio)
    w, h = round(fm.THUMB * ratio), round(fm.THUMB * 3 // 4 * ratio)
    img = to_qimage(np.full((h, w, 3), 200, np.uint8))
    img.setDevicePixelRatio(ratio)  # as thumb_cache hands it back (_at_dpr)
    box, at = fm._boxed(img)
    pixels = box.toImage().convertToFormat(QImage.Format.Format_RGBA8888)
    drawn = np.frombuffer(pixels.constBits(), np.uint8).reshape(pixels.height(), -1, 4)[:, :pixels.width()]
    assert at.size().width() == w and (drawn[..., 3] > 0).mean() > 0.99  # the whole box, not a corner
