"""Save PNGs of the app's main states into screenshots/ (offscreen Qt, or a real X server / Xvfb).

Usage: ``QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [OUT_DIR] [--extra PHOTO.jpg]``
(or under ``xvfb-run -a``). The photos are the bundled sample RAW (resources/samples/sample.dng, shot
by default), the real test photo (tests/fixtures/dune.jpg) as a JPEG and as synthetic DNGs built
from it, and a corrupt DNG. ``--extra`` adds a larger real photo
(e.g. a Debian wallpaper), also converted to a DNG, and the shots are taken on that RAW.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_folder(extra: Path | None) -> Path:
    import numpy as np
    from PIL import Image

    from engine.io.dng import write_dng

    d = Path(tempfile.mkdtemp(prefix="retouch-shots-")) / "Dunes"
    d.mkdir()
    src = ROOT / "tests" / "fixtures" / "dune.jpg"
    shutil.copy2(src, d / "dune.jpg")
    with Image.open(src) as im:
        rgb = np.asarray(im.convert("RGB"))
    write_dng(d / "dune_raw.dng", rgb, seed=1)
    # a darker, cooler frame so the strip is not three identical photos
    dark = (rgb.astype(np.float32) * np.array([0.55, 0.6, 0.75])).clip(0, 255).astype(np.uint8)
    write_dng(d / "dune_dusk.dng", dark, seed=2)
    write_dng(d / "dune_portrait.dng", rgb, seed=4, orientation=6)  # shot upright: a portrait frame
    data = (d / "dune_raw.dng").read_bytes()
    (d / "zz_corrupt.dng").write_bytes(data[:4096] + bytes(range(256)) * 64)
    sample = ROOT / "resources" / "samples" / "sample.dng"
    if sample.exists():
        shutil.copy2(sample, d / "aitzgorri_sample.dng")
    if extra is not None:
        shutil.copy2(extra, d / extra.name)
        with Image.open(extra) as im:
            write_dng(d / f"{extra.stem}.dng", np.asarray(im.convert("RGB")), seed=3)
    return d


def pair_folders(parent: Path) -> tuple[Path, Path]:
    """A shoot and its edits under the same names (four real photos, their edits darker and
    harder as PNG exports): Learn my style learns each edit."""
    import numpy as np
    from PIL import Image

    shoot, edits = parent / "Shoot", parent / "Shoot edits"
    for d in (shoot, edits):
        d.mkdir(exist_ok=True)
    for p in sorted((ROOT / "tests" / "models" / "fixtures").glob("*.jpg"))[:4]:
        shutil.copy2(p, shoot / p.name)
        with Image.open(p) as im:
            rgb = np.asarray(im.convert("RGB"), np.float32) / 255
        Image.fromarray((rgb ** 1.3 * 255 + 0.5).astype(np.uint8)).save(edits / f"{p.stem}.png")
    return shoot, edits


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", type=Path, default=ROOT / "screenshots")
    ap.add_argument("--extra", type=Path, help="a larger real photo to shoot (converted to DNG)")
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    from PySide6.QtCore import QPointF, QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from app.theme import apply_theme
    from app.window import MainWindow

    apply_theme(app)
    folder = make_folder(args.extra)
    win = MainWindow(QSettings(str(folder.parent / "s.ini"), QSettings.Format.IniFormat))
    win.resize(1440, 900)
    win.show()

    def spin(cond=lambda: True, timeout: float = 60.0, settle: float = 0.3) -> None:
        t = time.perf_counter()
        while not cond() and time.perf_counter() - t < timeout:
            app.processEvents()
            time.sleep(0.005)
        t = time.perf_counter()
        while time.perf_counter() - t < settle:
            app.processEvents()
            time.sleep(0.005)

    def fresh() -> bool:
        return win.shown_preview >= 0 and win._latest.get("preview") == win.shown_preview

    def save(name: str, widget=None) -> None:
        (widget or win).grab().save(str(out / f"{name}.png"))
        print("saved", out / f"{name}.png")

    main_photo = folder / (f"{args.extra.stem}.dng" if args.extra else "aitzgorri_sample.dng")
    if not main_photo.exists():
        main_photo = folder / "dune_dusk.dng"
    win.open_path(main_photo)
    spin(fresh)
    spin(lambda: len(win.filmstrip.thumbs_done) >= win.filmstrip.count() - 1, settle=0.5)
    save("01_opened")
    n = win.doc.undo.count()
    win.auto()
    spin(lambda: win.doc.undo.count() > n and fresh())
    save("02_after_auto")
    win.request_variations()
    spin(lambda: win.panel.var_box.isVisible() and bool(win.variations), settle=0.5)
    save("03_variations")
    win.viewer.set_split(True)
    win.viewer.split_x = 0.45
    spin()
    save("04_before_after")
    win.viewer.set_split(False)
    win.viewer.set_zoom(1.0, win.viewer.rect().center().toPointF() + QPointF(200, 150))
    spin(lambda: win.viewer.detail is not None, timeout=30)
    save("05_zoom_100")
    win.viewer.set_fit()
    win.set_clipping(True)  # View ▸ Show Clipping (J) on Auto's result
    spin(fresh)
    save("15_clipping")
    win.set_clipping(False)
    # tone curve card visible: scroll the step list to a curve if the recipe has one
    win.panel.var_box.hide()
    win.panel.add_step("tone")
    spin(fresh)
    win.panel.steps.ensureWidgetVisible(win.panel.steps.cards[-1])
    spin()
    save("06_curve_editor")
    dlg = win.export_selection()
    spin()
    save("07_export_dialog", dlg)
    dlg.close()
    # Learn my style, training a tiny model on the shoot's own photos (the real child process)
    import importlib.util
    import os

    if importlib.util.find_spec("torch") is not None:
        os.environ["XDG_DATA_HOME"] = str(folder.parent / "xdg")  # never the user's own styles
        win.learn_style()
        sd = win.style_dialog
        sd.extra_args = ("--width", "4", "--batch", "4", "--views", "8")  # the minimum
        shoot, edits = pair_folders(folder.parent)
        sd.inputs.setText(str(shoot))
        sd.targets.setText(str(edits))
        sd.name.setText("My look")
        sd.iterations.setValue(400)
        sd.start()
        spin(lambda: sd.bar.maximum() == 400 and sd.bar.value() >= 40, timeout=180, settle=0.2)
        save("10_learn_my_style", sd)
        sd.close()  # stops the training: a usable style and a checkpoint
        spin(lambda: not sd.is_training(), timeout=60)
        # Match a look: finished versions of the open photo and of another of its folder, as
        # another tool would export them (several pin a look down better than one)
        import numpy as np

        from engine.io import load_photo, write_image
        from engine.recipe import Recipe, Step
        from engine.render import render

        look = Recipe([Step("white_balance", {"green": 1.0, "blue": 0.8}), Step("contrast", {"amount": 0.3}),
                       Step("saturation", {"amount": -0.3})])
        finished = folder.parent / "Finished by another tool"
        finished.mkdir()
        afters = [finished / f"{p.stem}.jpg" for p in (win.doc.path, folder / "dune.jpg")]
        for src, after in zip((win.doc.path, folder / "dune.jpg"), afters):
            write_image(after, np.clip(render(look, load_photo(src).linear), 0, 1), fmt="jpeg", quality=92)
        win.match_look(afters)
        spin(lambda: "search" in win.matcher.dialog.labelText(), timeout=120, settle=0.2)
        save("11_match_look_progress", win.matcher.dialog)
        spin(lambda: not win.matcher.running(), timeout=180)
        spin(fresh)
        save("12_match_look_done")
        # the Style menu beside the Style list, on the style just learnt: rename, delete, import
        from PySide6.QtCore import QPoint
        from PySide6.QtGui import QPainter

        box = win.panel.style_box
        spin(lambda: box.findText("My look") >= 0, timeout=30)
        box.setCurrentIndex(box.findText("My look"))
        menu = win.panel.style_btn.menu()
        btn = win.panel.style_btn
        menu.popup(btn.mapToGlobal(QPoint(btn.width() - menu.sizeHint().width(), btn.height())))
        spin(menu.isVisible, timeout=5)
        shot = win.grab()
        painter = QPainter(shot)
        painter.drawPixmap(btn.mapTo(win, QPoint(btn.width() - menu.width(), btn.height())), menu.grab())
        painter.end()
        shot.save(str(out / "13_style_menu.png"))
        print("saved", out / "13_style_menu.png")
        menu.hide()
    shoot_display_menu(win, folder, out, spin)
    win.filmstrip.select_path(folder / "zz_corrupt.dng")
    spin(lambda: win.filmstrip.is_failed(folder / "zz_corrupt.dng"), settle=0.5)
    save("08_failed_file")  # said in the viewer and the filmstrip (no message box)
    win.close()
    return 0


def shoot_display_menu(win, folder: Path, out: Path, spin) -> None:
    """View ▸ Display Profile open, on a Display P3 screen's profile chosen as a file."""
    from PySide6.QtGui import QColorSpace, QPainter

    icc = folder.parent / "Wide gamut P3.icc"
    icc.write_bytes(bytes(QColorSpace(QColorSpace.NamedColorSpace.DisplayP3).iccProfile()))
    shown = win.shown_preview
    win.set_display_profile(str(icc))
    spin(lambda: win.shown_preview != shown, timeout=30)
    bar = win.menuBar()
    view = next(a for a in bar.actions() if a.text() == "&View")
    sub = next(a for a in view.menu().actions() if a.text() == "Display &Profile")
    at = bar.mapToGlobal(bar.actionGeometry(view).bottomLeft())
    view.menu().popup(at)
    spin(view.menu().isVisible, timeout=5)
    view.menu().setActiveAction(sub)
    sub.menu().popup(view.menu().mapToGlobal(view.menu().actionGeometry(sub).topRight()))
    spin(sub.menu().isVisible, timeout=5)
    shot = win.grab()
    painter = QPainter(shot)
    p1 = win.mapFromGlobal(view.menu().pos())
    painter.drawPixmap(p1, view.menu().grab())
    painter.drawPixmap(win.mapFromGlobal(sub.menu().pos()), sub.menu().grab())
    painter.end()
    shot.save(str(out / "14_display_profile.png"))
    print("saved", out / "14_display_profile.png")
    sub.menu().hide()
    view.menu().hide()
    win.set_display_profile("system")


if __name__ == "__main__":
    raise SystemExit(main())
