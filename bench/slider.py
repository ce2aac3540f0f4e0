"""Slider move -> preview updated on screen, through the real window (target <= 16 ms at 2 MP).

Opens a 2 MP copy of the real test photo (tests/fixtures/dune.jpg upscaled to 1800x1125) in the
main window (offscreen Qt), applies Auto, adds an exposure step and a saturation step, then
moves their sliders N times each and measures, for each move, the time from
``QSlider.setValue`` until the new preview is painted: undo command, render request, worker
render (the engine's fast path, straight into the QImage), QPixmap, repaint of the window.

Two window sizes, because the preview renders at the photo's size on screen:

* **2 MP on screen**: a window large enough to show the 1800x1125 preview 1:1 (the target's
  case; the preview renders at 2 MP);
* **1600x1000 window**: the photo fits at ~2/3 scale, so the preview renders at that size.

For each: the slider moved by the keyboard or a click (the full preview) and held down while
moving (``QSlider.setSliderDown``: the app renders drafts, the full preview follows on
release). Three sliders, three paths through the engine: Auto's first (measured exposure)
step comes before the 3-D cube, so every move re-bakes the pre table and runs the whole pass;
the saturation step mixes channels, so every move re-bakes the cube too; the exposure step
added last comes after the cube, so from the third move on only the post stage runs (the tail
cache, see engine.lut.apply_lut). Also printed: the load average and the CPU time of the
whole process per move (on a busy machine wall time mostly measures the other processes).
Run: ``.venv/bin/python bench/slider.py [N] [--poll]``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 40
    poll = "--poll" in sys.argv
    from PIL import Image
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    tmp = Path(tempfile.mkdtemp(prefix="retouch-bench-"))
    with Image.open(ROOT / "tests" / "fixtures" / "dune.jpg") as im:
        im.convert("RGB").resize((1800, 1125), Image.Resampling.LANCZOS).save(tmp / "dune_2mp.jpg", quality=95)
    app = QApplication.instance() or QApplication([])
    from app.theme import apply_theme
    from app.window import MainWindow

    apply_theme(app)
    win = MainWindow(QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat))
    win.resize(1600, 1000)
    win.show()

    from PySide6.QtCore import QEventLoop, QTimer

    tick = QTimer()  # bounds each wait below: some event arrives at least every 20 ms
    tick.start(20)

    def wait(cond, timeout=120.0):
        """Run the event loop as the app does: sleep until an event (the render worker's result)
        arrives, handle it, check ``cond``. (``--poll``: the earlier bench's loop, processEvents
        and 0.5 ms sleeps, which adds wake-up latency on a loaded machine; for comparisons.)"""
        t = time.perf_counter()
        app.processEvents()
        while not cond():
            if poll:
                app.processEvents()
                time.sleep(0.0005)
            else:
                app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
            if time.perf_counter() - t > timeout:
                raise SystemExit("timed out")

    def settled() -> bool:
        return win._latest.get("preview") == win.shown_preview and win.renderer.idle()

    win.open_path(tmp / "dune_2mp.jpg")
    wait(lambda: win.shown_preview >= 0)
    doc = win.doc
    win.auto()
    wait(lambda: len(doc.recipe) >= 5 and settled())
    win.panel.add_step("saturation")
    win.panel.add_step("exposure")
    wait(settled)
    cards = win.panel.steps.cards
    sliders = {}
    if doc.recipe.steps[0].op == "exposure":  # Auto's measured exposure: before the cube
        sliders["exposure, 1st step (pre: full pass)"] = cards[0].controls["ev"].slider
    sliders["saturation (mixing: cube re-baked)"] = cards[-2].controls["amount"].slider
    sliders["exposure, last step (tail cache)"] = cards[-1].controls["ev"].slider

    def measure(slider, held: bool) -> tuple[list[float], list[float], list[float], tuple[int, ...]]:
        total, worker, cpu = [], [], []
        slider.setSliderDown(held)
        for i in range(n + 3):
            c0, t0 = time.process_time(), time.perf_counter()
            slider.setValue(400 + (i % 20) * 10 + (5 if held else 0))
            wait(lambda: win._latest.get("preview") == win.shown_preview)
            win.viewer.repaint()
            if i >= 3:  # the first moves load caches (a drag's first draft bakes its 17³ cube)
                total.append((time.perf_counter() - t0) * 1e3)
                cpu.append((time.process_time() - c0) * 1e3)
                worker.append(win.last_render_ms)
            wait(settled)  # let the histogram, labels and (after a drag) the settle render finish
        shape = win._shown_source.shape[:2]
        slider.setSliderDown(False)
        wait(lambda: not win._settle.isActive() and settled())
        return total, worker, cpu, shape

    def p90(v: list[float]) -> float:
        return sorted(v)[int(0.9 * (len(v) - 1))]

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; recipe of {len(doc.recipe)} steps "
          f"(Auto + saturation + exposure); {n} moves per line; waiting by {'polling' if poll else 'event loop'}")
    for label, size in (("2 MP on screen", None), ("1600x1000 window", (1600, 1000))):
        if size is None:  # a window whose viewer holds the 1800x1125 preview at 100 %
            win.resize(2300, 1500)
            wait(lambda: win.viewer.width() > 1816 and win.viewer.height() > 1141)
            win.viewer.zoom_100()
        else:
            win.resize(*size)
            win.viewer.set_fit()
        app.processEvents()
        win._view_changed()
        wait(lambda: settled() and win._shown_source is win.preview_source(doc) and not win._screen_busy)
        w, h = win.on_screen()
        print(f"\n{label}: photo shown at {w}x{h} ({w * h / 1e6:.2f} MP), scale {win.viewer.scale:.3f}")
        for name, slider in sliders.items():
            for held in (False, True):
                total, worker, cpu, shape = measure(slider, held)
                mp = shape[0] * shape[1] / 1e6
                what = "held, draft" if held else "released   "
                print(f"  {name:35s} {what} {shape[1]}x{shape[0]} ({mp:.2f} MP): "
                      f"median {statistics.median(total):5.1f} ms  p90 {p90(total):5.1f}   "
                      f"worker {statistics.median(worker):5.1f}   "
                      f"CPU {statistics.median(cpu):5.1f} ms/move")
    from engine.render import render_exact

    t = time.perf_counter()
    render_exact(doc.recipe, doc.preview_linear)
    print(f"\nexact engine path (naive), 2 MP: {(time.perf_counter() - t) * 1e3:.0f} ms; load average now "
          f"{os.getloadavg()[0]:.2f}")
    win.close()


if __name__ == "__main__":
    main()
