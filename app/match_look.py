"""Match a look: the GUI face of ``retouch fit`` (the same command, in a child process).

The photographer picks a finished version of the open photo (a JPEG exported by another tool,
say); ``retouch fit PHOTO AFTER -o R.json`` finds the filter steps that turn one into the other
and the recipe replaces the photo's steps (undoable). Several finished photos are matched to the
photos of the open one's folder by name, and one recipe is fitted to every pair. Fitting needs
torch, which the app never imports, so it runs as a :class:`QProcess`; its stage lines ("forward
search: Exposure, Tone curve (31.2 dB)") show in a progress dialog whose Cancel stops it, and
nothing changes then.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Qt
from PySide6.QtWidgets import QProgressDialog, QWidget

from engine.recipe import Recipe

from .workers import retouch_child, signal_child

STAGE = re.compile(r"^\s*[\d.]+ s\s+(.+)$")
RESULT = re.compile(r"remaining error: .*\(([\d.]+) dB PSNR")
ROUGH = re.compile(r"^rough match: (.+?) may hold", re.MULTILINE)
#: fit's lines on how it took a finished photo (a crop, other proportions, transparency) or left a pair
#: out, which the command line shows and the dialog had kept to itself (QA)
NOTICE = re.compile(r"^skipped |: fitting on |are left out of the fit")


class LookMatcher(QObject):
    """One fit at a time: ``start([(photo, after), ...])``; ``done(recipe, summary)`` on success,
    ``failed(message)`` otherwise (also on Cancel, with ``cancelled`` True)."""

    def __init__(self, parent: QWidget, done: Callable[[Recipe, str], None], failed: Callable[[str], None]):
        super().__init__(parent)
        self._done, self._failed = done, failed
        self.proc: QProcess | None = None
        self.cancelled = False
        self._tmp = tempfile.TemporaryDirectory(prefix="retouch-fit-")  # removed when this object goes
        self.out = Path(self._tmp.name) / "recipe.json"
        self._err, self._tail, self._stdout = "", "", ""
        self._notices: list[str] = []
        self._pairs = 1
        self.dialog = QProgressDialog("", "Cancel", 0, 0, parent)
        self.dialog.setWindowTitle("Match a look")
        self.dialog.setWindowModality(Qt.WindowModality.NonModal)
        self.dialog.setMinimumDuration(0)
        self.dialog.setMinimumWidth(460)
        self.dialog.canceled.connect(self.cancel)
        self.dialog.reset()
        self.dialog.hide()

    def running(self) -> bool:
        return self.proc is not None and self.proc.state() != QProcess.ProcessState.NotRunning

    def start(self, pairs: list[tuple[Path, Path]]) -> None:
        if self.running():
            return
        self.cancelled = False
        self._err, self._tail, self._stdout, self._notices = "", "", "", []
        self.out.unlink(missing_ok=True)
        self.dialog.setRange(0, 0)
        (photo, after), *more = pairs
        self._pairs = len(pairs)
        what = f"{photo.name} to {after.name}" if not more else f"{len(pairs)} photos to their finished versions"
        self.dialog.setLabelText(f"Finding the steps from {what}…\n(reading the photos; this takes about "
                                 f"{'half a minute' if len(pairs) < 3 else 'a minute or more'})")
        self.dialog.show()
        self.proc = retouch_child(self, ["fit", *(str(p) for pair in pairs for p in pair), "-o", str(self.out)],
                                  stderr=self._read_err, stdout=self._read_out, finished=self._finished,
                                  error=self._error)

    def cancel(self) -> None:
        if self.running():
            self.cancelled = True
            signal_child(self.proc, kill=True)  # the recipe is written only at the end: nothing to save

    def _read_err(self) -> None:
        self._err += bytes(self.proc.readAllStandardError()).decode(errors="replace")
        *lines, self._err = self._err.split("\n")
        for line in lines:
            m = STAGE.match(line)
            if m:
                self.dialog.setLabelText(f"Finding the steps…\n{m[1]}")
            elif line.strip():
                self._tail = line.strip().removeprefix("retouch fit: error: ")
                if NOTICE.search(line):  # how a finished photo was taken: said with the result too
                    self._notices.append(line.strip())

    def _read_out(self) -> None:
        self._stdout += bytes(self.proc.readAllStandardOutput()).decode(errors="replace")

    def _finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        self._read_out()
        self.dialog.reset()
        self.dialog.hide()
        if self.cancelled:
            self._failed("Match a look: cancelled; the steps are unchanged.")
        elif code == 0 and self.out.exists():
            recipe = Recipe.load(self.out)
            m = RESULT.search(self._stdout)
            # the PSNR as what a photographer can picture: the typical difference, in levels of 255
            fit = (f", {255 * 10 ** (-float(m[1]) / 20):.1f} levels of 255 from "
                   f"{'the target' if self._pairs == 1 else 'the targets'} on average ({m[1]} dB)") if m else ""
            rough = ROUGH.search(self._stdout)  # retouch fit says when no global look gets close
            jpeg = ", or strong JPEG compression" if "JPEG compression" in self._stdout else ""
            if rough and self._pairs == 1:
                fit += (" (a rough match: the look may hold what these filters cannot do, such as a local "
                        f"edit{jpeg})")
            elif rough:
                fit += (f" (a rough match for {rough[1]}: it may hold what these filters cannot do, such as a "
                        f"local edit, or a look of its own{jpeg})")
            said = f"{len(recipe)} step{'s' if len(recipe) != 1 else ''}{fit}" if len(recipe) else \
                "no steps: the photo already matches it"
            notes = "".join(f"; {n[:1].lower() + n[1:]}" for n in self._notices)
            self._done(recipe, said + notes)
        else:
            self._failed(f"Match a look failed: {self._tail or f'exit status {code}'}")

    def _error(self, err: QProcess.ProcessError) -> None:
        if err == QProcess.ProcessError.FailedToStart:
            self.dialog.reset()
            self.dialog.hide()
            self._failed("Match a look could not start (Python was not found).")
