"""Each style keeps its own Auto strength: a style learnt from pairs says 1 in its metadata and
the slider follows it; the photographer's own setting for a style is remembered per style."""

from __future__ import annotations

import json

import pytest

from engine.runners.agent import AUTO_STRENGTH, DEFAULT_MODEL

onnx = pytest.importorskip("onnx")


def _style(path, **meta) -> None:
    """The shipped policy with ``meta`` added to its ``retouch`` metadata, as a style file."""
    model = onnx.load(str(DEFAULT_MODEL))
    prop = next(p for p in model.metadata_props if p.key == "retouch")
    prop.value = json.dumps({**json.loads(prop.value), **meta})
    onnx.save(model, str(path))


def test_the_slider_follows_each_styles_own_strength(qtbot, win, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    styles = tmp_path / "xdg" / "retouch" / "styles"
    styles.mkdir(parents=True)
    _style(styles / "paired.onnx", strength=1.0)
    _style(styles / "plain.onnx")
    default = round(100 * AUTO_STRENGTH)
    assert win.panel.strength.value() == default
    win._style_changed(styles / "paired.onnx")
    qtbot.waitUntil(lambda: win.panel.strength.value() == 100, timeout=20_000)
    assert win.strength == 1.0 and win.panel.strength_label.text() == "100 %"
    win.panel.strength.setValue(80)  # the photographer's choice for this style
    assert float(win.settings.value("agent/strength/paired")) == 0.8
    win._style_changed(styles / "plain.onnx")  # no strength of its own: Auto's
    qtbot.waitUntil(lambda: win.panel.strength.value() == default, timeout=20_000)
    win._style_changed(DEFAULT_MODEL)
    qtbot.waitUntil(lambda: win.strength == AUTO_STRENGTH, timeout=20_000)
    assert win.settings.value("agent/strength") is None  # the shipped model's untouched by the styles'
    win._style_changed(styles / "paired.onnx")
    qtbot.waitUntil(lambda: win.panel.strength.value() == 80, timeout=20_000)  # remembered


def test_the_slider_never_rescales_another_styles_auto(qtbot, win, folder, tmp_path, monkeypatch):
    """Auto under Default, then a style with its own strength: the slider shows the style's, and
    moving it leaves the other style's steps alone, saying why."""
    from qt_helpers import auto_and_wait, open_and_wait

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    styles = tmp_path / "xdg" / "retouch" / "styles"
    styles.mkdir(parents=True)
    _style(styles / "paired.onnx", strength=1.0)
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    auto_and_wait(qtbot, win)
    done = win.doc.recipe.dumps()
    win._style_changed(styles / "paired.onnx")
    qtbot.waitUntil(lambda: win.panel.strength.value() == 100, timeout=20_000)
    win.panel.strength.setValue(40)
    assert win.doc.recipe.dumps() == done and "another style" in win.panel.status.text()
    win._style_changed(DEFAULT_MODEL)  # its own style again: the slider rescales it
    qtbot.waitUntil(lambda: win.strength == AUTO_STRENGTH, timeout=20_000)
    win.panel.strength.setValue(20)
    assert win.doc.recipe.dumps() != done


def test_auto_pressed_while_a_new_style_loads_takes_that_styles_strength(qtbot, win, folder, tmp_path, monkeypatch):
    """The slider still shows the last style's strength until the new one loads: Auto pressed in
    between lands at the new style's own, and nothing is saved over that style's setting."""
    from qt_helpers import open_and_wait

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    styles = tmp_path / "xdg" / "retouch" / "styles"
    styles.mkdir(parents=True)
    _style(styles / "paired.onnx", strength=1.0)
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    doc, n = win.doc, win.doc.undo.count()
    win._style_changed(styles / "paired.onnx")
    win.auto()  # at once, while the style loads
    qtbot.waitUntil(lambda: doc.undo.count() == n + 1, timeout=20_000)
    qtbot.waitUntil(lambda: win.strength == 1.0, timeout=20_000)
    assert list(win._autos[doc][2].values()) == [1.0] and win.panel.strength.value() == 100
    assert win.settings.value("agent/strength/paired") is None


def test_a_renamed_style_still_rescales_its_own_auto(qtbot, win, folder, tmp_path, monkeypatch):
    from qt_helpers import auto_and_wait, open_and_wait

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    styles = tmp_path / "xdg" / "retouch" / "styles"
    styles.mkdir(parents=True)
    _style(styles / "warm.onnx", strength=1.0)
    win._styles_changed(styles / "warm.onnx")
    qtbot.waitUntil(lambda: win.panel.strength.value() == 100, timeout=20_000)
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    auto_and_wait(qtbot, win)
    done = win.doc.recipe.dumps()
    qtbot.waitUntil(lambda: win.panel.current_style() == styles / "warm.onnx", timeout=5000)
    win.rename_style("warmer")
    qtbot.waitUntil(lambda: win.model == styles / "warmer.onnx" and win._strength_known, timeout=20_000)
    win.panel.strength.setValue(20)
    assert win.doc.recipe.dumps() != done and "another style" not in win.panel.status.text()
