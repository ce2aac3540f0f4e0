"""Slider move -> preview updated on screen, at 2 MP (target <= 16 ms), through the real window.

Opens a 2 MP copy of the real test photo (tests/fixtures/dune.jpg upscaled to 1800x1125) in the
main window (offscreen Qt), applies Auto, then moves the exposure slider N times and measures,
for each move, the time from ``QSlider.setValue`` until the new preview is painted: undo
command, render request, worker render (the engine's fast path), QImage -> QPixmap, repaint.
The worker's own render time and the exact (naive) engine path are printed side by side.
Run: ``.venv/bin/python bench/slider.py [N]``.
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
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
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

    def wait(cond, timeout=120.0):
        t = time.perf_counter()
        while not cond():
            app.processEvents()
            time.sleep(0.0005)
            if time.perf_counter() - t > timeout:
                raise SystemExit("timed out")

    win.open_path(tmp / "dune_2mp.jpg")
    wait(lambda: win.shown_preview >= 0)
    doc = win.doc
    h, w = doc.preview_linear.shape[:2]
    win.panel.add_step("exposure")
    win.auto()
    wait(lambda: len(doc.recipe) >= 5 and win._latest.get("preview") == win.shown_preview)
    win.panel.add_step("exposure")
    wait(lambda: win._latest.get("preview") == win.shown_preview)
    ctrl = win.panel.steps.cards[-1].controls["ev"]
    for _ in range(5):  # warm: JIT, caches
        ctrl.slider.setValue(ctrl.slider.value() + 3)
        wait(lambda: win._latest.get("preview") == win.shown_preview)
    def measure(label: str) -> tuple[list[float], list[float]]:
        total, worker = [], []
        for i in range(n):
            t0 = time.perf_counter()
            ctrl.slider.setValue(400 + (i % 20) * 10)
            wait(lambda: win._latest.get("preview") == win.shown_preview)
            win.viewer.repaint()
            total.append((time.perf_counter() - t0) * 1e3)
            worker.append(win.last_render_ms)
        return total, worker

    total, worker = measure("release")
    win.pointer_down = lambda: True  # as while the slider is held: draft renders
    win._settle.stop()
    d_total, d_worker = measure("drag")
    win._settle.stop()
    dh, dw = doc.draft_linear.shape[:2]
    from engine.render import render_exact

    t = time.perf_counter()
    render_exact(doc.recipe, doc.preview_linear)
    exact = (time.perf_counter() - t) * 1e3
    med = statistics.median(total)
    print(f"preview {w}x{h} ({w * h / 1e6:.2f} MP), recipe of {len(doc.recipe)} steps, {n} slider moves")
    print(f"slider -> preview on screen  median {med:6.1f} ms   p90 {sorted(total)[int(0.9 * n)]:6.1f} ms   "
          f"(target <= 16 ms)")
    print(f"  of which worker render     median {statistics.median(worker):6.1f} ms")
    print(f"while dragging (draft {dw}x{dh}, {dw * dh / 1e6:.2f} MP; full preview follows on release):")
    print(f"slider -> draft on screen    median {statistics.median(d_total):6.1f} ms   "
          f"p90 {sorted(d_total)[int(0.9 * n)]:6.1f} ms")
    print(f"  of which worker render     median {statistics.median(d_worker):6.1f} ms")
    print(f"exact engine path (naive)          {exact:6.1f} ms   -> fast path x{exact / statistics.median(worker):.1f}")
    win.close()


if __name__ == "__main__":
    main()
