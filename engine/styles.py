"""A photographer's styles: the models Learn my style writes, renamed, deleted and imported.

A style is ``<name>.onnx`` in :func:`~engine.runners.agent.user_styles_dir`, with its training
run (checkpoint, cached views, log) in :func:`~engine.runners.agent.style_run_dir`; the two move
and go together, so a renamed style can still be trained further and a deleted one leaves no
cached views behind (they can take gigabytes). The shipped models are never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .atomic import atomic_path, atomic_write_bytes
from .runners.agent import Agent, runs_dir, style_run_dir, user_styles_dir

MAX_NAME = 80
RESERVED = ("retouch",)  # the shipped model's name: the Style list shows it as "Default"
#: In a training run: the style file it trains, the folders it learns from, and a digest of the
#: file it last wrote. Continuing a run that trains another file (an imported style under the same
#: name, a namesake written elsewhere) replaced that style with this run's.
RUN_RECORD = "style.json"


class StyleError(ValueError):
    """A style operation that cannot be done; the message says why, for a dialog or the CLI."""


def is_user_style(path: str | Path) -> bool:
    """Whether ``path`` is one of the photographer's styles (not a shipped model)."""
    p = Path(path)
    return p.suffix == ".onnx" and p.parent.resolve() == user_styles_dir().resolve()


def check_name(name: str) -> str:
    """``name`` stripped, or a :class:`StyleError` saying why it cannot name a style file."""
    name = name.strip()
    if not name:
        raise StyleError("a style needs a name")
    if len(name) > MAX_NAME:
        raise StyleError(f"a style's name has at most {MAX_NAME} characters")
    if any(c in name for c in '/\\:\0') or name.startswith("."):
        raise StyleError(f"“{name}” cannot name a file: leave out / \\ : and a leading dot")
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name):  # a newline broke every list of styles
        raise StyleError(f"“{name.encode('unicode_escape').decode()}” holds a line break or another control "
                         "character: a style's name is one line")
    if name.lower() in RESERVED:
        raise StyleError(f"“{name}” is the built-in model's name")
    return name


def _user_style(path: str | Path) -> Path:
    p = Path(path)
    if not is_user_style(p):
        raise StyleError(f"{p.name} is not one of your styles (built-in models cannot be changed)")
    if not p.is_file():
        raise StyleError(f"the style “{p.stem}” is gone ({p})")
    return p


@contextlib.contextmanager
def _holding(run: Path) -> Iterator[bool]:
    """Holds ``run``'s lock (the one ``retouch train-style`` holds while it trains) for the duration;
    yields False at once, holding nothing, if a training holds it."""
    from filelock import FileLock, Timeout

    if not run.is_dir():
        yield True
        return
    lock = FileLock(run / ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


@contextlib.contextmanager
def _not_in_training(name: str) -> Iterator[None]:
    """:func:`_holding` the style's run, refusing at once if a training holds it. Renamed or deleted
    under a training, the run died at its next log line and left its checkpoint where no style
    could reach it."""
    run = style_run_dir(name)
    with _holding(run) as free:
        if not free:
            raise StyleError(f"the style “{name}” is being trained ({run}): stop its training first")
        yield


def rename_style(path: str | Path, new_name: str) -> Path:
    """Rename a style and its training run; returns the new model path. Refuses a name in use,
    and a style being trained."""
    src = _user_style(path)
    name = check_name(new_name)
    dst = user_styles_dir() / f"{name}.onnx"
    if dst == src:
        return src
    if dst.exists() and not dst.samefile(src):  # (same file: a change of case on a case-blind disk)
        raise StyleError(f"a style “{name}” exists already")
    old_run, new_run = style_run_dir(src.stem), style_run_dir(name)
    with _not_in_training(src.stem):
        if old_run.exists() and new_run.exists():
            raise StyleError(f"the training files of a former style “{name}” are in the way ({new_run})")
        src.rename(dst)
        if old_run.exists():
            old_run.rename(new_run)
            rec = _read_record(new_run)
            if rec is not None and Path(rec["output"]) == src.resolve():
                _write_record(new_run, {**rec, "output": str(dst.resolve())})
    return dst


def delete_style(path: str | Path) -> list[str]:
    """Delete a style and its training run (checkpoint, cached views, log); refuses a style being
    trained. Returns the training files that could not be removed (the style itself is gone)."""
    src = _user_style(path)
    left: list[str] = []

    def failed(fn: Any, where: str, _exc: Any) -> None:
        if fn is not os.rmdir:  # a folder still holding what could not go is not one more file
            left.append(where)

    with _not_in_training(src.stem):
        src.unlink()
        run = style_run_dir(src.stem)
        if run.exists():
            shutil.rmtree(run, **({"onexc": failed} if sys.version_info >= (3, 12) else {"onerror": failed}))
    return left


def import_style(src: str | Path, name: str | None = None) -> Path:
    """Copy a style model (a colleague's, or one from another machine) into the styles folder,
    after checking that it is a Retouch policy; returns its new path. ``name`` defaults to the
    file's. The copy is atomic: a failed import leaves nothing half written."""
    src = Path(src)
    if not src.is_file():
        raise StyleError(f"{src} is not a file")
    name = check_name(src.stem if name is None else name)
    styles = user_styles_dir()
    dst = styles / f"{name}.onnx"
    if dst.exists():
        raise StyleError(f"a style “{name}” exists already")
    Agent(src, prefer_gpu=False, threads=1)  # a ModelError (a ValueError) unless it is a policy
    styles.mkdir(parents=True, exist_ok=True)
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return dst


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_record(run: Path) -> dict | None:
    try:
        rec = json.loads((run / RUN_RECORD).read_text())
        return rec if isinstance(rec, dict) and isinstance(rec.get("output"), str) else None
    except (OSError, ValueError):
        return None


def _write_record(run: Path, rec: dict) -> None:
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(run / RUN_RECORD, (json.dumps(rec, indent=1) + "\n").encode())


def record_training(run: Path, output: Path, inputs: Path, targets: Path) -> None:
    """A new training in ``run``: of ``output``, from the two folders (nothing written yet)."""
    _write_record(run, {"output": str(output.resolve()), "inputs": str(inputs.resolve()),
                        "targets": str(targets.resolve()), "written": None})


def record_written(run: Path, output: Path) -> None:
    """The run has just written ``output``: what a later Continue checks the file against."""
    rec = _read_record(run)
    if rec is not None:
        _write_record(run, {**rec, "output": str(output.resolve()), "written": _digest(output)})


def continue_problem(run: Path, output: Path, inputs: Path | None = None, targets: Path | None = None) -> str | None:
    """Why the training in ``run`` cannot be continued into ``output`` from these folders, or None
    where it can. A run from before the record was kept is taken as it is."""
    rec = _read_record(run)
    if rec is None:
        return None
    if Path(rec["output"]) != output.resolve():
        return f"its training there is of another file, {rec['output']}"
    try:
        if output.exists() and _digest(output) != rec.get("written"):
            return f"{output.name} is not the style that training wrote (it was replaced or imported since)"
    except OSError as e:
        return f"{output.name} cannot be read ({e.strerror})"
    for given, key in ((inputs, "inputs"), (targets, "targets")):
        if given is not None and isinstance(rec.get(key), str) and Path(rec[key]) != given.resolve():
            return f"that training learns from {rec['inputs']} and {rec['targets']}"
    return None


def trainings_from(inputs: Path, targets: Path) -> list[Path]:
    """The style files whose training (a checkpoint in its run) learns from these two folders and
    can be continued: where a style was renamed, ``--resume`` under the folder's name finds none."""
    runs = runs_dir()
    found = []
    for run in sorted(runs.glob("style-*")) if runs.is_dir() else []:
        rec = _read_record(run)
        if rec is None or not (run / "checkpoint.pt").is_file():
            continue
        out = Path(rec["output"])
        if (rec.get("inputs"), rec.get("targets")) == (str(inputs.resolve()), str(targets.resolve())) \
                and out.is_file() and continue_problem(run, out, inputs, targets) is None:
            found.append(out)
    return found


def orphan_runs() -> list[tuple[Path, int]]:
    """Training runs no style can continue, with their size in bytes: the style file they train is
    gone (deleted by hand, an ``-o`` file removed) or is not the one they wrote (replaced, imported
    under its name), or they never reached a checkpoint. Their cached
    views can take gigabytes, and no other command lists them."""
    runs = runs_dir()
    found = []
    for run in sorted(runs.glob("style-*")) if runs.is_dir() else []:
        if not run.is_dir():
            continue
        rec = _read_record(run)
        target = Path(rec["output"]) if rec is not None else user_styles_dir() / f"{run.name[len('style-'):]}.onnx"
        if (run / "checkpoint.pt").is_file() and target.is_file() and continue_problem(run, target) is None:
            continue
        found.append((run, sum(f.stat().st_size for f in run.rglob("*") if f.is_file() and not f.is_symlink())))
    return found


def clean_runs() -> tuple[list[tuple[Path, int]], list[Path]]:
    """Remove :func:`orphan_runs`; returns those removed and those left because a training holds them."""
    removed, busy = [], []
    for run, size in orphan_runs():
        with _holding(run) as free:
            if free:
                shutil.rmtree(run, ignore_errors=True)
        if free:
            removed.append((run, size))
        else:
            busy.append(run)
    return removed, busy
