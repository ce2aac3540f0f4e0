"""Learn my style in the app: the real ``retouch train-style`` in a child process, with progress,
Stop (a usable style and a checkpoint) and Continue, and the style lands in the Style list."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

from app.style_dialog import PROGRESS, StyleDialog, count_pairs
from engine.runners.agent import style_run_dir

FIXTURES = Path(__file__).parents[1] / "models" / "fixtures"
TINY = ("--width", "4", "--batch", "4", "--views", "8")  # a model small enough for a test
LONG = 180_000  # ms: the child imports torch and reads the photos before its first iteration


@pytest.fixture
def folders(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # the child inherits it
    ins, tgt = tmp_path / "before", tmp_path / "warm look"
    ins.mkdir()
    tgt.mkdir()
    photos = sorted(FIXTURES.glob("*.jpg"))
    for p in photos[:3]:
        shutil.copy(p, ins / p.name)
    for p in photos[3:]:
        shutil.copy(p, tgt / p.name)
    return ins, tgt


def _filled(win, folders: tuple[Path, Path]) -> StyleDialog:
    """The app's Learn my style dialog with the two folders filled in, for a tiny model."""
    win.learn_style()
    dlg: StyleDialog = win.style_dialog
    dlg.extra_args = TINY
    dlg.inputs.setText(str(folders[0]))
    dlg.targets.setText(str(folders[1]))
    return dlg


def test_progress_lines_of_train_style_are_read():
    m = PROGRESS.search("[#########                     ] 30/100  30.0% elapsed 0:00:12 eta 0:00:28")
    assert m and (m[1], m[2], m[3], m[4]) == ("30", "100", "0:00:12", "0:00:28")


def test_learn_my_style_trains_stops_and_continues(qtbot, win, folders):
    ins, tgt = folders
    win.learn_style()
    dlg: StyleDialog = win.style_dialog
    dlg.extra_args = TINY
    assert not dlg.start_btn.isEnabled()  # no folders yet
    dlg.inputs.setText(str(ins))
    dlg.targets.setText(str(tgt))
    assert dlg.name.text() == "warm look" and dlg.start_btn.isEnabled() and not dlg.resume.isEnabled()

    # a long run, stopped once it is training: the style so far is written, a checkpoint kept
    dlg.iterations.setValue(5000)
    with qtbot.waitSignal(dlg.styleTrained, timeout=LONG) as stopped:
        dlg.start()
        assert dlg.stop_btn.isEnabled() and not dlg.start_btn.isEnabled()
        qtbot.waitUntil(lambda: dlg.bar.maximum() == 5000 and dlg.bar.value() >= 1, timeout=LONG)
        dlg.stop()
    style = stopped.args[0]
    assert style.name == "warm look.onnx" and style.exists()
    assert (style_run_dir("warm look") / "checkpoint.pt").exists()
    assert dlg.status.text().startswith("Stopped") and "Start continues it" in dlg.status.text()
    assert dlg.resume.isChecked() and dlg.name_note.text() == ""  # Start (the default button) continues
    dlg.resume.setChecked(False)
    assert dlg.name_note.text().startswith("A style “warm look” exists: Start replaces it")  # never silently
    dlg.resume.setChecked(True)
    assert dlg.name_note.text() == ""
    assert win.model == style and win.panel.style_box.currentData() == style  # chosen for Auto

    log = (style_run_dir("warm look") / "train.log").read_text()
    stopped_at = int(re.search(r"at iteration (\d+) \(interrupted\)", log)[1])
    assert 1 <= stopped_at < 5000

    # continued to a short end: it resumes from the checkpoint, not from scratch
    done_at = max(dlg.iterations.minimum(), stopped_at + 5)
    dlg.iterations.setValue(done_at)
    dlg.resume.setChecked(True)
    assert "--resume" in dlg.command()
    with qtbot.waitSignal(dlg.styleTrained, timeout=LONG):
        dlg.start()
    assert dlg.status.text().startswith("Done"), dlg.status.text()
    log = (style_run_dir("warm look") / "train.log").read_text()
    assert f"resumed {style_run_dir('warm look') / 'checkpoint.pt'} at iteration {stopped_at}" in log
    assert f"it {done_at}/{done_at}" in log


def test_stop_while_reading_the_photos_saves_nothing_and_says_so(qtbot, win, folders):
    dlg = _filled(win, folders)
    dlg.start()
    dlg.stop()  # at once: the child is still importing torch or reading the photos
    qtbot.waitUntil(lambda: not dlg.is_training(), timeout=LONG)
    assert dlg.status.text() == "Stopped before the training began: nothing was saved."
    assert not (style_run_dir("warm look") / "checkpoint.pt").exists() and dlg.start_btn.isEnabled()


def test_quitting_mid_training_keeps_a_checkpoint(qtbot, win, folders):
    dlg = _filled(win, folders)
    dlg.iterations.setValue(5000)
    dlg.start()
    qtbot.waitUntil(lambda: dlg.bar.maximum() == 5000 and dlg.bar.value() >= 1, timeout=LONG)
    win.close()  # the photographer quits: the trainer is stopped cleanly, not killed
    assert not dlg.is_training()
    assert "(interrupted)" in (style_run_dir("warm look") / "train.log").read_text()
    assert (style_run_dir("warm look") / "checkpoint.pt").exists()


def test_the_dialog_says_whether_the_folders_pair_up(qtbot, win, folders):
    """Folders of different photos: the look is learnt; the same photos by name (a RAW folder and
    its exports, here the JPEGs as PNG "exports"): each edit is learnt, as train-style will."""
    dlg = _filled(win, folders)
    qtbot.waitUntil(lambda: "do not hold the same photos" in dlg.pairs_note.text())
    assert dlg.pairs_note.isVisibleTo(dlg)
    exports = folders[1].parent / "exports"
    exports.mkdir()
    for p in sorted(FIXTURES.glob("*.jpg"))[:4]:
        shutil.copy(p, exports / f"{p.stem}.png")  # the name pairs them; the content is not read
        shutil.copy(p, folders[0] / p.name)
    dlg.targets.setText(str(exports))
    assert not dlg.pairs_note.isVisibleTo(dlg)  # the old answer is gone while the folders are scanned
    qtbot.waitUntil(lambda: dlg.pairs_note.text() == "4 photos pair up by name: Retouch learns your edit of each.")
    (exports / f"{sorted(FIXTURES.glob('*.jpg'))[0].stem}.png").unlink()  # three pairs: too few, and said so
    dlg.targets.setText(str(folders[0]))
    dlg.targets.setText(str(exports))
    qtbot.waitUntil(lambda: dlg.pairs_note.text() == "Only 3 photos pair up by name (4 are needed to learn your "
                                                      "edits): Retouch learns the After photos' look.")
    dlg.targets.setText("")
    assert not dlg.pairs_note.isVisibleTo(dlg)


def test_a_scan_of_folders_since_changed_is_not_shown(qtbot, win, folders):
    """The folders are scanned in the background: an answer about fields that have changed since
    (the photographer kept typing) is dropped, and only the newest scan speaks."""
    dlg = _filled(win, folders)
    asked = dlg._pairs_asked
    dlg.inputs.setText(str(folders[0]) + "x")  # no such folder
    dlg._pairs_counted(asked, 12)  # the scan of the old fields comes back late
    assert not dlg.pairs_note.isVisibleTo(dlg)
    dlg.inputs.setText(str(folders[0]))
    qtbot.waitUntil(lambda: "do not hold the same photos" in dlg.pairs_note.text())
    assert count_pairs(folders[0], folders[1]) == 0 and count_pairs(folders[0] / "nope", folders[1]) is None


def test_stop_then_close_at_once_still_saves_the_style_and_the_next_run_is_shown(qtbot, win, folders):
    """Stop, then Close straight away (a second SIGTERM used to kill the trainer while it wrote the
    style: "nothing was saved" after 8 iterations). The fields are locked while it trains, a name
    Rename would refuse is refused here too, and a later run's outcome stays on screen (the dialog
    used to close itself at the end of every run after one close mid-training)."""
    dlg = _filled(win, folders)
    dlg.name.setText("Retouch")  # the built-in model's name
    assert not dlg.start_btn.isEnabled() and "built-in model" in dlg.name_note.text()
    dlg.name.setText("warm look")
    dlg.iterations.setValue(5000)
    with qtbot.waitSignal(dlg.styleTrained, timeout=LONG) as saved:
        dlg.start()
        assert not dlg.name.isEnabled() and not dlg.iterations.isEnabled()  # what trains is what they say
        qtbot.waitUntil(lambda: dlg.bar.maximum() == 5000 and dlg.bar.value() >= 1, timeout=LONG)
        dlg.stop()
        assert not dlg.stop_btn.isEnabled()  # one signal: the trainer is saving
        dlg.close()  # at once: closes when the trainer is done, without signalling it again
    assert saved.args[0].exists() and dlg.status.text().startswith("Stopped: the style so far is saved")
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=5000)
    assert dlg.name.isEnabled()

    win.learn_style()  # opened again: a run that fails says why, and the dialog stays open
    assert win.style_dialog is dlg and dlg.isVisible()
    empty = folders[0].parent / "empty"
    empty.mkdir()
    dlg.inputs.setText(str(empty))
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.is_training(), timeout=LONG)
    assert dlg.isVisible() and dlg.status.text().startswith("Training failed"), dlg.status.text()


def test_a_failed_training_says_its_error_and_the_photos_it_skipped():
    """The error comes first, without the command's prefix; the photos skipped before it follow
    (the error "only 3 of the 4 pairs could be used" is about them); other lines are left out."""
    from app.style_dialog import failure

    tail = ["4 photos pair up by file name: learning from each pair", "preparing views of a and b ...",
            "skipped the pair IMG_1.dng / IMG_1.png: IMG_1.dng: not a RAW file LibRaw can read",
            "retouch train-style: error: only 3 of the 4 pairs could be used (at least 4 to learn from pairs): "
            "mend or remove the pairs it skipped, or give --unpaired to learn the targets' look alone"]
    assert failure(tail, 1) == ("only 3 of the 4 pairs could be used (at least 4 to learn from pairs): mend or "
                                "remove the pairs it skipped\n"
                                "skipped the pair IMG_1.dng / IMG_1.png: IMG_1.dng: not a RAW file LibRaw can read")
    assert failure([], 1) == "exit status 1"
    done = ["retouch train-style: error: --resume: the run in /x/style-a is already at iteration 10; give "
            "--iterations above 10 to train it further"]  # Continue after a finished training: the dialog's words
    assert failure(done, 1) == ("Continue: the run in /x/style-a is already at iteration 10; set Iterations above 10 "
                                "to train it further")


def test_a_training_left_without_its_style_file_is_said_before_start_replaces_it(qtbot, win, folders):
    """With the style file deleted (or written elsewhere by -o) and its run kept, Start silently began
    again over the checkpoint: no word beside the name, and Continue unticked."""
    run = style_run_dir("golden hour")
    run.mkdir(parents=True)
    (run / "checkpoint.pt").write_bytes(b"a checkpoint")
    dlg = _filled(win, folders)
    dlg.name.setText("golden hour")
    assert dlg.name_note.text().startswith("A training “golden hour” exists (its style file is gone): "
                                           "Start replaces it, or tick Continue")
    assert dlg.name_note.isVisibleTo(dlg) and dlg.resume.isEnabled()
    qtbot.wait(50)
    assert dlg.height() >= dlg.layout().totalHeightForWidth(dlg.width())  # its two lines whole, not cut
    dlg.resume.setChecked(True)
    assert dlg.name_note.text() == "" and dlg.command()[-1 - len(TINY)] == "--resume"


def test_one_folder_as_before_and_after_is_said_before_start(qtbot, win, folders):
    """It said "the folders do not hold the same photos", enabled Start, and failed only then."""
    from app.style_dialog import PAIRS_DELAY_MS, SAME_FOLDER

    dlg = _filled(win, folders)
    dlg.targets.setText(str(folders[0]) + "/")
    qtbot.wait(PAIRS_DELAY_MS + 300)  # the folders' scan has answered
    assert dlg.pairs_note.text() == SAME_FOLDER and not dlg.start_btn.isEnabled()
    dlg.targets.setText(str(folders[1]))
    qtbot.waitUntil(lambda: "do not hold the same photos" in dlg.pairs_note.text())
    assert dlg.start_btn.isEnabled()


def test_a_style_its_training_did_not_write_is_not_continued(qtbot, win, folders):
    """A style imported under the name of a former one whose training files stayed: Continue
    replaced it with the old training's style."""
    from engine.runners.agent import user_styles_dir
    from engine.styles import record_training

    run = style_run_dir("warm look")
    style = user_styles_dir() / "warm look.onnx"
    record_training(run, style, *folders)  # that training never wrote this file
    (run / "checkpoint.pt").write_bytes(b"checkpoint")
    style.parent.mkdir(parents=True, exist_ok=True)
    style.write_bytes(b"someone else's style")
    dlg = _filled(win, folders)
    assert dlg.name.text() == "warm look" and not dlg.resume.isEnabled()
    assert dlg.name_note.text() == ("A style “warm look” exists: Start replaces it. It cannot be continued: "
                                    "warm look.onnx is not the style that training wrote (it was replaced or "
                                    "imported since).")


def test_a_failure_is_not_left_beside_other_folders(qtbot, win, folders):
    """"Training failed: no photos in …" stayed on after the folders were changed."""
    empty = folders[0].parent / "empty"
    empty.mkdir()
    dlg = _filled(win, (empty, folders[1]))
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.is_training(), timeout=LONG)
    assert dlg.status.text() == f"Training failed: no photos in {empty}"
    dlg.name.setText("warm look")  # what failed is still in the fields: the reason stays
    assert dlg.status.text().startswith("Training failed")
    dlg.inputs.setText(str(folders[0]))
    assert dlg.status.text() == ""


def test_pairs_skipped_by_a_training_that_succeeds_are_said(qtbot, win, folders):
    """The pairs count said "5 photos pair up" before and after; the trainer's own line that one
    could not be read reached the dialog only when the training failed."""
    photos = sorted(FIXTURES.glob("*.jpg"))[:4]
    before, after = folders[0].parent / "raws", folders[0].parent / "exports"
    for d in (before, after):
        d.mkdir()
        for p in photos:
            shutil.copy(p, d / p.name)
    (before / "broken.jpg").write_bytes(b"\xff\xd8 not a whole JPEG")
    shutil.copy(photos[0], after / "broken.jpg")
    dlg = _filled(win, (before, after))
    qtbot.waitUntil(lambda: dlg.pairs_note.text().startswith("5 photos pair up"))
    dlg.iterations.setValue(10)
    with qtbot.waitSignal(dlg.styleTrained, timeout=LONG):
        dlg.start()
    lines = dlg.status.text().splitlines()
    assert lines[0] == "Done: the style “exports” is in the Style list.", dlg.status.text()
    # its score on its own pairs (identical here: unedited is as near as can be, so it is warned of too)
    assert re.fullmatch(r"On \d+ views of its own pairs, the style's Auto comes to .+ dB of your edits \(unedited "
                        r".+ dB, Default's Auto .+ dB; higher is nearer\)\.", lines[1]), lines[1]
    # the trainer's notes: few pairs, a short training
    assert lines[2].startswith("5 pairs: a style learns its look from what they share, and 8 or more")
    short = next(line for line in lines[3:5] if line.startswith("A short training (10 iterations)"))
    assert "tick Continue and set Iterations towards 2000" in short and "--" not in short  # the dialog's words
    warned = [line for line in lines if "further from your edits than leaving them unedited" in line]
    assert all("(tick Continue, set more Iterations and press Start)" in w and "--" not in w for w in warned)
    assert lines[-2] == "Skipped 1 (unreadable, or not lining up):"
    assert lines[-1].startswith("the pair broken.jpg / broken.jpg: ")
