"""The Style menu beside the Style list: rename, delete and import the photographer's styles, as
Lightroom's preset menu does; the built-in model cannot be renamed or deleted."""

from __future__ import annotations

import shutil

from app import agent as agent_mod
from engine.runners.agent import DEFAULT_MODEL, user_styles_dir


def _labels(win) -> list[str]:
    box = win.panel.style_box
    return [box.itemText(i) for i in range(box.count())]


def _choose(win, label: str) -> None:
    win.panel.style_box.setCurrentIndex(_labels(win).index(label))  # as the photographer picks it


def test_rename_delete_and_import_styles(qtbot, win, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    user_styles_dir().mkdir(parents=True)
    shutil.copyfile(DEFAULT_MODEL, user_styles_dir() / "warm.onnx")
    shutil.copyfile(DEFAULT_MODEL, user_styles_dir() / "retouch_film_v2.onnx")  # listed by its own name
    win.panel.set_models(agent_mod.available_models(), win.model)
    acts = win.panel.style_acts
    assert _labels(win) == ["Default", "retouch_film_v2", "warm"]  # it read "film v2"
    (user_styles_dir() / "retouch_film_v2.onnx").unlink()
    win.panel.set_models(agent_mod.available_models(), win.model)
    assert _labels(win) == ["Default", "warm"]
    assert not acts["rename"].isEnabled() and not acts["delete"].isEnabled() and acts["import"].isEnabled()
    win.rename_style("cold")  # nothing happens to the built-in model
    assert _labels(win) == ["Default", "warm"]

    _choose(win, "warm")
    assert win.model == user_styles_dir() / "warm.onnx" and acts["rename"].isEnabled()
    win.panel.strength.setValue(90)  # remembered for this style
    win.rename_style("warm evening")
    assert _labels(win) == ["Default", "warm evening"] and win.panel.style_box.currentText() == "warm evening"
    assert win.model == user_styles_dir() / "warm evening.onnx" and win.settings.value("agent/model") == str(win.model)
    assert float(win.settings.value("agent/strength/warm evening")) == 0.9
    assert win.settings.value("agent/strength/warm") is None
    assert "Renamed" in win.panel.status.text()

    win.rename_style("a/b")  # refused, with the reason, and nothing changes
    assert "not renamed" in win.panel.status.text() and "cannot name a file" in win.panel.status.text()
    assert _labels(win) == ["Default", "warm evening"]

    win.delete_style(confirm=False)
    assert (user_styles_dir() / "warm evening.onnx").exists()
    win.learn_style()  # open, with the name of the style about to go
    win.style_dialog.name.setText("warm evening")
    assert "exists" in win.style_dialog.name_note.text()
    win.delete_style(confirm=True)  # its training files go off the GUI thread
    qtbot.waitUntil(lambda: "Deleted" in win.panel.status.text(), timeout=10_000)
    assert win.style_dialog.name_note.text() == ""  # the dialog knows the name is free again
    win.style_dialog.close()
    assert not (user_styles_dir() / "warm evening.onnx").exists() and _labels(win) == ["Default"]
    assert win.model is None and win.panel.current_style() == DEFAULT_MODEL
    assert win.settings.value("agent/strength/warm evening") is None

    colleague = tmp_path / "Film look.onnx"
    shutil.copyfile(DEFAULT_MODEL, colleague)
    win.import_style(colleague)  # checked off the GUI thread, then chosen
    qtbot.waitUntil(lambda: "Film look" in _labels(win), timeout=20_000)
    assert win.panel.style_box.currentText() == "Film look" and win.model == user_styles_dir() / "Film look.onnx"
    not_a_style = tmp_path / "notes.onnx"
    not_a_style.write_text("not a model")
    win.import_style(not_a_style)
    qtbot.waitUntil(lambda: "was not imported" in win.panel.status.text(), timeout=20_000)
    assert _labels(win) == ["Default", "Film look"]


def test_the_style_list_follows_the_folder_while_the_app_runs(qtbot, win, tmp_path, monkeypatch):
    """Styles made or deleted outside the app (``retouch train-style``, ``retouch styles``) show
    when the list or its menu opens; a current style deleted elsewhere gives way to Default."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    user_styles_dir().mkdir(parents=True)
    shutil.copyfile(DEFAULT_MODEL, user_styles_dir() / "warm.onnx")
    win.panel.set_models(agent_mod.available_models(), win.model)
    _choose(win, "warm")
    shutil.copyfile(DEFAULT_MODEL, user_styles_dir() / "new look.onnx")  # trained in a terminal meanwhile
    (user_styles_dir() / "warm.onnx").unlink()  # and the current one deleted there
    assert _labels(win) == ["Default", "warm"]  # nothing rescans while the list is closed
    win.panel.style_btn.menu().aboutToShow.emit()  # the ⋯ menu opens
    assert _labels(win) == ["Default", "new look"] and win.model is None
    shutil.copyfile(DEFAULT_MODEL, user_styles_dir() / "third.onnx")
    win.panel.style_box.showPopup()  # the list itself opens
    assert _labels(win) == ["Default", "new look", "third"]
    win.panel.style_box.hidePopup()


def test_auto_with_a_style_deleted_elsewhere_falls_back_to_default_and_says_so(qtbot, win, folder, tmp_path,
                                                                               monkeypatch):
    """Auto went on with the deleted style's model still in memory, the list still naming it."""
    from qt_helpers import open_and_wait

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    user_styles_dir().mkdir(parents=True)
    shutil.copyfile(DEFAULT_MODEL, user_styles_dir() / "warm.onnx")
    win.panel.set_models(agent_mod.available_models(), win.model)
    _choose(win, "warm")
    open_and_wait(qtbot, win, folder / "b_dune.jpg")
    (user_styles_dir() / "warm.onnx").unlink()  # `retouch styles delete warm` in a terminal
    win.auto()
    assert win.model is None and _labels(win) == ["Default"]
    assert "“warm” is gone" in win.statusBar().currentMessage()
