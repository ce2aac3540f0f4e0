"""What showing the preview through a display profile (and View ▸ Show Clipping's overlay) costs,
next to the render it follows.

A real photo (the shipped sample DNG, or PATH) at 1732x1155 (2 MP, the bench/preview.py frame)
and at 2048x1365 (the app's largest preview level). Each round renders it with a four-step recipe
as the app's render worker does (``app.renderer.render_qimage``), then converts that QImage to a
Display P3 and an Adobe RGB screen's profile (``app.display.to_screen``, Qt's colour management),
the cases taking turns; medians are printed with the conversion's share of the render. The clipping
overlay (``app.renderer.clipping_overlay``) is timed on the same frames, with some of the photo blown.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/display.py [PATH] [--rounds 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from _photo import load, resized
from PySide6.QtGui import QColorSpace, QGuiApplication

from app import display
from app.renderer import clipping_overlay, render_qimage
from engine.recipe import Recipe, Step

RECIPE = Recipe([Step("exposure", {"ev": 0.3}), Step("white_balance", {"green": 1.02, "blue": 0.95}),
                 Step("saturation", {"amount": 0.3}), Step("contrast", {"amount": 0.2})])

BRIGHT = Recipe([Step("exposure", {"ev": 1.6}), Step("contrast", {"amount": 0.6})])  # the sky blown


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photo", nargs="?")
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QGuiApplication([])
    src, name = load(args.photo)
    spaces = {n: QColorSpace(getattr(QColorSpace.NamedColorSpace, n)) for n in ("DisplayP3", "AdobeRgb")}
    print(f"photo: {name}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
    for w, h in ((1732, 1155), (2048, 1365)):
        img = resized(src, w, h)
        render_qimage(RECIPE, img)  # JIT load, not timed
        times: dict[str, list[float]] = {"render": [], **{n: [] for n in spaces}, "clipping": []}
        for _ in range(args.rounds):
            for label in times:
                display.set_current(None)
                t0 = time.perf_counter()
                q, _ = render_qimage(RECIPE, img, histogram=True)
                t1 = time.perf_counter()
                if label == "render":
                    times[label].append(t1 - t0)
                    continue
                if label == "clipping":
                    bright, _ = render_qimage(BRIGHT, img)
                    t1 = time.perf_counter()
                    clipping_overlay(bright)
                    times[label].append(time.perf_counter() - t1)
                    continue
                display.set_current(spaces[label])
                t1 = time.perf_counter()
                display.to_screen(q)
                times[label].append(time.perf_counter() - t1)
        base = statistics.median(times["render"])
        print(f"{w}x{h} ({w * h / 1e6:.1f} MP)")
        print(f"  render (4 steps, histogram)   {1e3 * base:6.1f} ms")
        for n in spaces:
            t = statistics.median(times[n])
            print(f"  + to a {n:<9} screen      {1e3 * t:6.1f} ms   ({t / base:.2f}x the render)")
        t = statistics.median(times["clipping"])
        print(f"  + the clipping overlay        {1e3 * t:6.1f} ms   ({t / base:.2f}x the render)")
    display.set_current(None)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    del app


if __name__ == "__main__":
    main()
