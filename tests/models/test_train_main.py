"""``python -m models.retouch.train``, the shipped model's trainer: what it refuses before any
training (each refusal once lost or corrupted a run, or trained on the wrong photos)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("torch")

from models.retouch.train import main


def _refused(capsys, argv: list[str], code: int = 2) -> str:
    if code == 2:
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
    else:
        assert main(argv) == code
    return capsys.readouterr().err


def test_train_refuses_what_would_lose_a_run_or_train_on_the_wrong_photos(tmp_path, capsys, heldout_files):
    run = tmp_path / "run"
    run.mkdir()
    ck = run / "checkpoint.pt"
    ck.write_bytes(b"\x80\x3ejunk that is no checkpoint")
    # a run of hours is never started over without being asked
    assert f"{ck} exists: --resume continues it, --replace starts again" in _refused(capsys, ["--run", str(run)])
    # a damaged checkpoint: one line, not a pickle traceback
    err = _refused(capsys, ["--run", str(run), "--resume"], code=1)
    assert err.startswith(f"train: error: {ck} is not a readable checkpoint") and "Traceback" not in err
    # a folder of one's own photos is not the default sets' folder (it would download Debian into it)
    mine = tmp_path / "mine"
    mine.mkdir()
    for p in heldout_files[:2]:
        (mine / p.name).write_bytes(p.read_bytes())
    err = _refused(capsys, ["--run", str(tmp_path / "r2"), "--photos", str(mine)])
    assert "holds photos, not the default sets' folders" in err and "retouch train-style --inputs DIR" in err
    assert not (mine / "apt-cache").exists() and not (tmp_path / "apt-cache").exists()
    raws = tmp_path / "raws"  # a camera's folder: RAW files only
    raws.mkdir()
    (raws / "IMG_0001.NEF").write_bytes(b"raw")
    assert "holds photos, not the default sets' folders" in _refused(capsys, ["--run", str(tmp_path / "r2"),
                                                                              "--photos", str(raws)])
    # a typo in a flag is an error, not False; counts that cannot work are refused
    assert "expected true or false, got 'treu'" in _refused(capsys, ["--run", str(tmp_path / "r3"),
                                                                     "--auto-exposure", "treu"])
    assert "--checkpoint-every must be at least 1 (got 0)" in _refused(capsys, ["--run", str(tmp_path / "r3"),
                                                                               "--checkpoint-every", "0"])


def test_a_second_training_in_one_run_folder_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); "
         "lock.acquire(); print('held', flush=True); time.sleep(60)", str(run / ".lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        err = _refused(capsys, ["--run", str(run), "--resume"], code=1)
        assert f"train: error: another training is running in {run}" in err
        assert sorted(p.name for p in run.iterdir()) == [".lock"]
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("stopped, code", [(True, 130), (False, 0)])
def test_an_interrupted_training_exits_130_so_make_does_not_export_it(tmp_path, monkeypatch, stopped, code):
    import types

    import numpy as np

    import models.retouch.train as train_mod

    monkeypatch.setattr(train_mod, "default_data", lambda *a: (np.zeros((1, 8, 8, 3)), np.zeros((1, 8, 8, 3)), None))
    monkeypatch.setattr(train_mod, "train", lambda *a, **k: types.SimpleNamespace(stop=stopped))
    assert main(["--run", str(tmp_path / "run"), "--photos", str(tmp_path / "none")]) == code


def test_an_error_inside_training_keeps_its_traceback(tmp_path, monkeypatch):
    """Only the refusals are one line: a ValueError hours into training is a bug to be seen whole."""
    import numpy as np

    import models.retouch.train as train_mod

    def broken(*a, **k):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(train_mod, "default_data", lambda *a: (np.zeros((1, 8, 8, 3)), np.zeros((1, 8, 8, 3)), None))
    monkeypatch.setattr(train_mod, "train", broken)
    with pytest.raises(ValueError, match="broadcast"):
        main(["--run", str(tmp_path / "run"), "--photos", str(tmp_path / "none")])
    assert not (tmp_path / "run").exists()  # the lock's folder goes with a run that did nothing
