"""Learn my style: the GUI face of ``retouch train-style`` (the same command, in a child process).

Training needs torch, which the app never imports (it starts fast and bundles small), so the
dialog runs ``python -m retouch train-style …`` as a :class:`QProcess` and reads the progress
lines it prints when its stderr is not a terminal (``[###…] it/total pct% elapsed H:MM:SS eta
H:MM:SS``). Stop sends SIGTERM: the trainer saves a checkpoint and writes the style model as it
is, and "Continue the last training" resumes from there. The GUI thread never waits on it.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from PySide6.QtCore import QProcess, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from engine.batch import MIN_PAIRS, pair_by_name, scan_folder
from engine.runners.agent import style_run_dir, user_styles_dir
from engine.styles import StyleError, check_name, continue_problem

from .fields import folder_field
from .workers import retouch_child, run_in_pool, signal_child

PROGRESS = re.compile(r"\] (\d+)/(\d+) +[\d.]+% elapsed (\S+) eta (\S+)")
WRITTEN = re.compile(r"style model written to (.+)$")
PAIRS_DELAY_MS = 250  # the folders are scanned once typing pauses, not at every keystroke


SAME_FOLDER = "Before and After are the same folder: choose your unedited photos and the finished ones."
NOTE = "retouch train-style: note: "
WARNING = "retouch train-style: warning: "
SCORE = re.compile(r"^on \d+ views of its own pairs, .+$")  # a paired style's score on its pairs
TAIL = 8  # the trainer's last lines kept: the error, and the photos it skipped before it
ERROR_PREFIX = "retouch train-style: error: "


#: The trainer's words for the dialog's own fields (regex, replacement).
DIALOG_WORDS = ((r"^--resume: ", "Continue: "), (r"give --iterations above (\d+)", r"set Iterations above \1"),
                (r", past --iterations (\d+)", r", past the \1 iterations asked"),
                # a finished style's notes: continuing is the Continue box here, with more Iterations
                (r"\(--resume with more --iterations\)", "(tick Continue, set more Iterations and press Start)"),
                (r"continue it towards (\d+)", r"tick Continue and set Iterations towards \1"))


def dialog_words(text: str) -> str:
    """The trainer's words for its options as the dialog names its fields."""
    for option, field in DIALOG_WORDS:
        text = re.sub(option, field, text)
    return text


def failure(tail: list[str], code: int) -> str:
    """Why a training failed, from the trainer's last lines: its error, after the photos it said
    it skipped (an error such as "only 3 of the 4 pairs could be used" refers to them)."""
    if not tail:
        return f"exit status {code}"
    # the command's own options are not the dialog's ways out (removing a broken pair is one here),
    # and those the dialog has are named as its fields are
    error = dialog_words(re.sub(r", or give --[\w-]+[^,;]*", "", tail[-1].removeprefix(ERROR_PREFIX)))
    skipped = [line for line in tail[:-1] if line.startswith("skipped ")]
    return "\n".join([error, *skipped])


def count_pairs(inputs: Path, targets: Path) -> int | None:
    """How many photos of the two folders pair up by name, as train-style pairs them; None when
    either is not a readable folder (train-style will say why). Runs off the GUI thread: a folder
    of thousands of RAWs, or one on a network share, can take seconds to list."""
    try:
        if not (inputs.is_dir() and targets.is_dir()):
            return None
        return len(pair_by_name(scan_folder(inputs), scan_folder(targets)))
    except OSError:
        return None


def training_available() -> bool:
    """Whether the training components (the ``models`` package and torch) are installed; looked
    up without importing them."""
    return all(importlib.util.find_spec(m) is not None for m in ("models", "torch"))


class StyleDialog(QDialog):
    """``StyleDialog(parent, extra_args=())``: train a style from two folders. ``extra_args`` go to
    ``retouch train-style`` as they are (the tests use them for a tiny model)."""

    styleTrained = Signal(Path)  # the style model written (also after Stop)

    def __init__(self, parent: QWidget | None = None, extra_args: tuple[str, ...] = ()):
        super().__init__(parent)
        self.setWindowTitle("Learn my style")
        self.setMinimumWidth(560)
        self.extra_args = tuple(extra_args)
        self.proc: QProcess | None = None
        self.written: Path | None = None
        self._close_when_done = False
        self._stopping = False
        self.training_name: str | None = None  # the style being trained: its name field may change
        self._err = ""
        self._tail: list[str] = []
        self._skipped: list[str] = []  # the pairs or photos the training said it skipped
        self._notes: list[str] = []  # what the training noted about the style (few photos, short)
        self._score = ""  # a paired style's score on its own pairs
        self._failed_fields: tuple = ()
        self._same = False  # Before and After name one folder
        lay = QVBoxLayout(self)
        intro = QLabel("Retouch learns to edit photos like those in <b>Before</b> into the look of those in "
                       "<b>After</b>. If both folders hold the same photos under the same names (your RAWs "
                       "and your exports of them), it learns your edit of each; otherwise the folders need "
                       "not hold the same photos. The new style appears in the Style list.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        form = QFormLayout()
        self.inputs = QLineEdit()
        self.inputs.setPlaceholderText("unedited photos (RAW or JPEG)")
        self.inputs.textChanged.connect(self._update)
        form.addRow("Before", folder_field(self, self.inputs, "Unedited photos"))
        self.targets = QLineEdit()
        self.targets.setPlaceholderText("finished photos in the look to learn")
        self.targets.textChanged.connect(self._targets_changed)
        self.targets.textChanged.connect(self._update)
        form.addRow("After", folder_field(self, self.targets, "Finished photos"))
        self.pairs_note = QLabel("")  # how the folders pair up
        self.pairs_note.setObjectName("muted")
        self.pairs_note.setWordWrap(True)
        form.addRow("", self.pairs_note)
        self._pairs_timer = QTimer(self, singleShot=True, interval=PAIRS_DELAY_MS)
        self._pairs_timer.timeout.connect(self._scan_pairs)
        self._pairs_asked = 0  # generation of the latest scan: an older one's answer is dropped
        for field in (self.inputs, self.targets):
            field.textChanged.connect(self._pairs_changed)
        self.name = QLineEdit()
        self.name.textChanged.connect(self._update)
        form.addRow("Style name", self.name)
        self.name_note = QLabel("")  # when the name is taken
        self.name_note.setObjectName("muted")
        self.name_note.setWordWrap(True)
        form.addRow("", self.name_note)
        self.iterations = QSpinBox()
        self.iterations.setRange(10, 100_000)
        self.iterations.setSingleStep(500)
        self.iterations.setValue(2000)
        self.iterations.setToolTip("About 0.3-0.5 s each on two CPU cores (the first few take longer); "
                                   "more learn the look better")
        form.addRow("Iterations", self.iterations)
        self.resume = QCheckBox("Continue the last training of this style")
        self.resume.toggled.connect(self._update)
        form.addRow("", self.resume)
        lay.addLayout(form)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        lay.addWidget(self.bar)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.start_btn = QPushButton("Start")
        self.start_btn.setObjectName("primary")  # the dialog's main action, as Export's
        self.start_btn.setDefault(True)
        self.start_btn.clicked.connect(self.start)
        self.stop_btn = QPushButton("Stop")
        self.stop_btn.setToolTip("Stop and keep what was learnt so far (it can be continued)")
        self.stop_btn.clicked.connect(self.stop)
        self.close_btn = QPushButton("Close")
        self.close_btn.clicked.connect(self.close)
        for b in (self.start_btn, self.stop_btn, self.close_btn):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        if not training_available():
            self.status.setText("Training needs the training components (torch), which this installation "
                                "lacks: install them with pip install 'retouch[train]'.")
        self._pairs_changed()
        self._update()

    def _targets_changed(self, text: str) -> None:
        if text and not self.name.isModified():
            self.name.setText(Path(text).name)

    def _pairs_changed(self) -> None:
        """Say whether train-style will learn from pairs (it pairs the folders the same way): the
        note is cleared at once and filled by a background scan once typing pauses."""
        self._pairs_asked += 1
        self._show_pairs(None)
        if self.inputs.text() and self.targets.text():
            self._pairs_timer.start()
        else:
            self._pairs_timer.stop()

    def _scan_pairs(self) -> None:
        asked = self._pairs_asked
        run_in_pool(count_pairs, Path(self.inputs.text()), Path(self.targets.text()),
                    owner=self, on_done=lambda n: self._pairs_counted(asked, n))

    def _pairs_counted(self, asked: int, n: int | None) -> None:
        # the fields have not changed since the scan began, and the dialog is still there
        if isValid(self) and isValid(self.pairs_note) and asked == self._pairs_asked:
            self._show_pairs(n)

    def _show_pairs(self, n: int | None) -> None:
        text = SAME_FOLDER if self._same else "" if n is None else (
            f"{n} photos pair up by name: Retouch learns your edit of each." if n >= MIN_PAIRS else
            f"Only {n} photo{'s' if n > 1 else ''} pair{'' if n > 1 else 's'} up by name ({MIN_PAIRS} are needed "
            "to learn your edits): Retouch learns the After photos' look." if n else
            "The folders do not hold the same photos by name: Retouch learns the After photos' look.")
        self.pairs_note.setText(text)
        self.pairs_note.setVisible(bool(text))
        self._fit_height()

    def _fit_height(self) -> None:
        """Grown to show a note's every line: a two-line note was cut to one and a half (the form
        keeps the height it opened with)."""
        need = self.layout().totalHeightForWidth(self.width())
        if need > self.height():
            self.resize(self.width(), need)

    def _fields(self) -> tuple:
        return self.inputs.text(), self.targets.text(), self.name.text().strip()

    def is_training(self) -> bool:
        return self.proc is not None and self.proc.state() != QProcess.ProcessState.NotRunning

    def _update(self) -> None:
        name, bad = self.name.text().strip(), ""
        try:
            if name:
                check_name(name)
        except StyleError as e:  # the names Rename refuses ("retouch": the built-in model's), refused here too
            bad = f"{str(e)[0].upper()}{str(e)[1:]}."
        folders = [Path(e.text()).expanduser() for e in (self.inputs, self.targets)]
        dirs = all(e.text() and f.is_dir() for e, f in zip((self.inputs, self.targets), folders))
        same = dirs and folders[0].resolve() == folders[1].resolve()  # train-style refuses it; said here first
        ok = training_available() and dirs and not same and bool(name) and not bad
        busy = self.is_training()
        if same != self._same:
            self._same = same
            self._show_pairs(None)
        if not busy and self.status.text().startswith("Training failed") and self._failed_fields != self._fields():
            self.status.setText("")  # about folders or a name no longer in the fields
        self.start_btn.setEnabled(ok and not busy)
        self.stop_btn.setEnabled(busy and not self._stopping)  # a second signal would kill the export
        for field in (self.inputs.parentWidget(), self.targets.parentWidget(), self.name, self.iterations):
            field.setEnabled(not busy)  # what is being trained stays what the fields say
        out = user_styles_dir() / f"{name}.onnx"
        has_run = bool(name) and (style_run_dir(name) / "checkpoint.pt").exists()
        # a style imported under this name, or folders other than its training's: not continued
        problem = continue_problem(style_run_dir(name), out, *(folders if dirs else (None, None))) if has_run else None
        has_run = has_run and problem is None
        self.resume.setEnabled(has_run and not busy)
        if not has_run:
            self.resume.setChecked(False)
        exists = bool(name) and out.exists()
        # a training of that name without its style file (deleted, or written elsewhere) is said too:
        # Start would begin again over its checkpoint
        what = f"A style “{name}” exists" if exists else f"A training “{name}” exists (its style file is gone)"
        self.name_note.setText(bad or (f"{what}: Start replaces it"
                                      + (", or tick Continue to train it further." if has_run else
                                         f". It cannot be continued: {problem}." if problem else ".")
                                      if (exists or has_run or problem) and not self.resume.isChecked()
                                      and not busy else ""))
        self.name_note.setVisible(bool(self.name_note.text()))  # no empty row in the form
        self._fit_height()

    def command(self) -> list[str]:
        """The ``retouch train-style`` arguments for the current fields."""
        name = self.name.text().strip()
        args = ["train-style", "--inputs", self.inputs.text(), "--targets", self.targets.text(),
                "-o", str(user_styles_dir() / f"{name}.onnx"), "--run", str(style_run_dir(name)),
                "--iterations", str(self.iterations.value())]
        # Start replaces a style of that name, as the dialog says beside the name; Continue resumes it
        args.append("--resume" if self.resume.isChecked() else "--replace")
        return [*args, *self.extra_args]

    def start(self) -> None:
        if self.is_training():
            return
        self.written, self._err, self._tail, self._skipped, self._notes, self._score = None, "", [], [], [], ""
        self._close_when_done, self._stopping = False, False  # a close or stop of an earlier run is over
        self.training_name = self.name.text().strip()
        user_styles_dir().mkdir(parents=True, exist_ok=True)  # train-style -o wants an existing folder
        self.bar.setRange(0, 0)  # busy until the first progress line: reading the photos
        self.status.setText("Reading the photos…")
        self.proc = retouch_child(self, self.command(), stderr=self._read_err, stdout=self._read_out,
                                  finished=self._finished, error=self._failed)
        self._update()

    def stop(self) -> None:
        if self.is_training() and not self._stopping:  # once: a second SIGTERM would end the export
            self._stopping = True
            self.status.setText("Stopping: saving what was learnt so far…")
            signal_child(self.proc)  # SIGTERM: the trainer checkpoints and writes the model
            self._update()

    def _read_err(self) -> None:
        self._err += bytes(self.proc.readAllStandardError()).decode(errors="replace")
        *lines, self._err = self._err.replace("\r", "\n").split("\n")
        for line in lines:
            m = PROGRESS.search(line)
            if m:
                it, total, elapsed, eta = int(m[1]), int(m[2]), m[3], m[4]
                self.bar.setRange(0, total)
                self.bar.setValue(it)
                self.status.setText(f"Iteration {it} of {total} · {elapsed} elapsed · about {eta} left")
            elif line.strip():
                self._tail = [*self._tail, line.strip()][-TAIL:]
                if line.startswith("skipped "):
                    self._skipped.append(line.strip())
                elif line.startswith((NOTE, WARNING)):  # few photos, a short training: said with the result
                    self._notes.append(line.strip().removeprefix(NOTE).removeprefix(WARNING))

    def _read_out(self) -> None:
        for line in bytes(self.proc.readAllStandardOutput()).decode(errors="replace").splitlines():
            m = WRITTEN.search(line)
            if m:
                self.written = Path(m[1].strip())
            elif SCORE.match(line.strip()):
                self._score = line.strip()

    def _finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        self._read_out()
        self.bar.setRange(0, max(1, self.bar.maximum()))
        stopped = False
        if self.written is not None and self.written.exists():
            stopped = self.bar.value() < self.bar.maximum()
            if stopped:
                said = f"Stopped: the style so far is saved as “{self.written.stem}”; Start continues it."
            else:
                self.bar.setValue(self.bar.maximum())
                said = f"Done: the style “{self.written.stem}” is in the Style list."
            if self._score:
                said += "\n" + self._score[:1].upper() + self._score[1:] + "."
            if self._notes:
                said += "\n" + "\n".join(n[:1].upper() + n[1:] + "." for n in map(dialog_words, self._notes))
            if self._skipped:  # the pairs count said before the training did not know of them
                said += f"\nSkipped {len(self._skipped)} (unreadable, or not lining up):\n" + "\n".join(
                    s.removeprefix("skipped ") for s in self._skipped[:TAIL])
            self.status.setText(said)
            self.styleTrained.emit(self.written)
        elif self._stopping:
            self.status.setText("Stopped before the training began: nothing was saved.")
        else:
            self.status.setText(f"Training failed: {failure(self._tail, code)}")
            self._failed_fields = self._fields()
        self._stopping, self.training_name = False, None
        self._update()
        if stopped and self.resume.isEnabled():  # Start (the default button) continues, not replaces
            self.resume.setChecked(True)
        if self._close_when_done:
            self._close_when_done = False
            self.close()

    def _failed(self, err: QProcess.ProcessError) -> None:
        if err == QProcess.ProcessError.FailedToStart:
            self.bar.setRange(0, 1)
            self.status.setText("Training could not start (Python was not found).")
            self._update()

    def reject(self) -> None:
        if self.is_training():  # Esc: as the window's close button (it skips closeEvent)
            self.close()
            return
        super().reject()

    def closeEvent(self, event) -> None:
        if self.is_training():  # stop first (a second or two to checkpoint), then close, without waiting here
            self._close_when_done = True
            self.stop()
            event.ignore()
            return
        super().closeEvent(event)
