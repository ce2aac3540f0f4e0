"""Export one photo, the selection, or a whole folder through ``engine.batch``'s generator.

The engine does the full-resolution work in worker processes (decode, replay, write with EXIF);
this dialog only collects settings, plans the jobs, and shows the progress it yields. Cancel stops
the export at once: the photos being made are stopped (their temp files swept), queued ones dropped;
what was written stays, complete.
"""

from __future__ import annotations

import html
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
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

from engine.formats import DEFAULT_PPI, FORMAT_LABELS
from engine.recipe import Recipe

from .fields import engine_words, output_folder, ppi_spin, sharpen_combo

#: output folders an export of this app is writing into: the dialogs are not modal, and a second
#: export into one folder rendered every photo twice, racing for the same names
_WRITING: set[str] = set()
log = logging.getLogger(__name__)


class ExportBug(Exception):
    """A RuntimeError on the export's thread, passed on as another error: superqt takes one for its
    worker deleted and reports neither ``errored`` nor ``finished``, so the dialog ran for ever (and
    the window could not quit)."""


def plan_and_export(plan: Callable[[], Any], out: Path, cancel: threading.Event, **export: Any) -> Iterator[Any]:
    """An export's whole run, on its worker thread: the plan first, yielded once made, then each
    photo's :class:`engine.batch.Progress`. Planning lists the folder and reads the tags of the
    exports already there (0.5-0.7 s for 800 photos on a local disk, seconds on a network share),
    which froze the window when it was done on the GUI thread. Cancelled meanwhile, nothing is
    made, the output folder neither."""
    from engine.batch import export_all, prepare_output

    try:
        jobs = plan()
        if not cancel.is_set():
            prepare_output(out)
        yield jobs
        if jobs and not cancel.is_set():
            yield from export_all(jobs, cancel=cancel, **export)
    except RuntimeError as e:
        raise ExportBug(f"{type(e).__name__}: {e}") from e


class ExportingDialog(QDialog):
    """A dialog that runs an export (``worker`` set while it does, ``cancel()`` stops it): Esc and
    the window's close button cancel the export and keep the window for its summary. Esc had hidden
    the Export dialog while its export ran on; a closed window must never leave a pool running."""

    worker: Any = None
    #: the choices, greyed out while an export runs; ``fmt``, ``quality`` and ``long_edge`` among them
    _inputs: list[QWidget]
    _claimed: str | None = None
    cancel_event: threading.Event
    results: list
    cancel_btn: QPushButton
    export_btn: QPushButton
    _planned_jobs: Any = None  # the running export's plan, once made
    _error: BaseException | None = None  # what stopped it (its plan refused, or a bug)

    def _run(self, out: Path, plan: Callable[[], Any], **export: Any) -> str | None:
        """Plan (``plan()``) and export into ``out`` on a worker thread; why not, if another export
        is writing there. The subclass hears of it through ``_planned(jobs)``, ``_progress(p)`` and
        ``_finished()``, or ``_refused(error)`` when the plan could not be made."""
        from superqt.utils import create_worker

        busy = self._claim(out)
        if busy:
            return busy
        self._planned_jobs = self._error = None
        self.cancel_btn.setText("Cancel")  # "Close" after the last run: it cancels this one
        self.cancel_btn.setEnabled(True)
        self.cancel_event.clear()
        self.results = []
        self._set_inputs_enabled(False)
        # errored connected here: superqt otherwise raises the error again in the GUI thread
        # grace 0: Cancel stops the photos being made (one 54 MP export went on 9 s and was written)
        self.worker = create_worker(plan_and_export, plan, out, self.cancel_event, grace=0.0, **export,
                                    _start_thread=False,
                                    _connect={"yielded": self._yielded, "errored": self._errored,
                                              "finished": self._ended})
        self.worker.start()
        return None

    def _yielded(self, item: Any) -> None:
        from engine.batch import Plan

        if isinstance(item, Plan):
            self._planned_jobs = item
            self._planned(item)
        else:
            self._progress(item)

    def _errored(self, e: BaseException) -> None:
        self._error = e  # said when it has ended: by the refusal, or at the head of the summary
        if not isinstance(e, (ValueError, OSError)):  # a bug, not a refusal: its traceback for the report
            log.error("export failed", exc_info=e)

    def _ended(self) -> None:
        self._release()
        if self._planned_jobs is None:  # no plan was made: a refusal, as before any photo was started
            self.worker = None
            self._set_inputs_enabled(True)
            self.cancel_btn.setEnabled(True)  # disabled by a Cancel while planning
            self._refused(self._error or ExportBug("the photos could not be listed"))
            return
        self._finished()

    def _starting(self) -> bool:
        """Export pressed: False while an export runs already. The button is off until the
        export starts or is refused: pending sidecars are flushed first, which runs the event loop,
        and a second click queued meanwhile started a second export."""
        if self.running():
            return False
        self.export_btn.setEnabled(False)
        return True

    def _planned(self, jobs: Any) -> None:
        raise NotImplementedError

    def _progress(self, p: Any) -> None:
        raise NotImplementedError

    def _finished(self) -> None:
        raise NotImplementedError

    def _refused(self, e: BaseException) -> None:
        raise NotImplementedError

    def _say_error(self, text: str) -> None:
        raise NotImplementedError

    def _claim(self, out: Path) -> str | None:
        """Take ``out`` for this dialog's export; why not, if another export is writing there."""
        key = os.path.realpath(out)
        if key in _WRITING:
            return f"another export is writing into {out}: wait for it to end, or choose another folder"
        _WRITING.add(key)
        self._claimed = key
        return None

    def _release(self) -> None:
        if self._claimed is not None:
            _WRITING.discard(self._claimed)
            self._claimed = None

    def cancel(self) -> None:
        raise NotImplementedError

    def _resizes(self) -> bool:
        """Whether the long-edge box is ticked (the dialogs name it differently)."""
        raise NotImplementedError

    def _set_inputs_enabled(self, on: bool) -> None:
        for w in self._inputs:
            w.setEnabled(on)
        if on:  # the fields that depend on another's choice
            self.quality.setEnabled(self.fmt.currentData() == "jpeg")
            self.long_edge.setEnabled(self._resizes())

    def reject(self) -> None:
        if self.worker is not None:
            self.cancel()
            return
        super().reject()

    def closeEvent(self, event) -> None:
        if self.worker is not None:
            self.cancel()
            event.ignore()
        else:
            super().closeEvent(event)


class ExportDialog(ExportingDialog):
    """``photos``: (path, recipe) pairs; ``recipe=None`` means use the sidecar, or Auto without one."""

    def __init__(self, photos: list[tuple[Path, Recipe | None]], settings: QSettings,
                 parent: QWidget | None = None, *, title: str = "Export", unreadable: int = 0,
                 recipe_of: Callable[[Path], Recipe | None] | None = None,
                 before_start: Callable[[], object] | None = None):
        """``unreadable``: selected photos that cannot be opened, left out (said in the heading).
        ``recipe_of``: each photo's recipe as it is when Export is pressed (the window stays usable
        while the dialog is open, so ``photos``' recipes may have changed); ``before_start``: called
        first (the window saves pending sidecars)."""
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(520)
        self.photos = photos
        self.settings = settings
        self.recipe_of, self.before_start = recipe_of, before_start
        self.cancel_event = threading.Event()
        self.worker = None
        self.results: list = []
        from engine.batch import Plan

        self.plan = Plan()  # the last export's
        self.exported_to: Path | None = None  # the folder of the last export started
        lay = QVBoxLayout(self)
        n = len(photos)
        head = QLabel((f"Export <b>{photos[0][0].name}</b>" if n == 1 else f"Export <b>{n} photos</b>")
                      + (f" ({unreadable} selected {'photo that cannot' if unreadable == 1 else 'photos that cannot'}"
                         " be opened left out)" if unreadable else ""))
        lay.addWidget(head)
        form = QFormLayout()
        self.fmt = QComboBox()
        for label, key in FORMAT_LABELS:
            self.fmt.addItem(label, key)
        self.fmt.setCurrentIndex(max(0, self.fmt.findData(settings.value("export/fmt", "jpeg"))))
        form.addRow("Format", self.fmt)
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(int(settings.value("export/quality", 92)))
        self.quality.setSuffix(" %")
        form.addRow("JPEG quality", self.quality)
        size_row = QHBoxLayout()
        self.resize = QCheckBox("Fit long edge to")
        self.long_edge = QSpinBox()
        self.long_edge.setRange(16, 100000)
        self.long_edge.setValue(int(settings.value("export/long_edge", 2048)))
        self.long_edge.setSuffix(" px")
        self.resize.setChecked(settings.value("export/resize", "false") == "true")
        self.long_edge.setEnabled(self.resize.isChecked())
        self.resize.toggled.connect(self.long_edge.setEnabled)
        size_row.addWidget(self.resize)
        size_row.addWidget(self.long_edge)
        size_row.addStretch(1)
        form.addRow("Size", size_row)
        self.sharpen = sharpen_combo(settings.value("export/sharpen", "none"))
        form.addRow("Sharpen", self.sharpen)
        self.ppi = ppi_spin(settings.value("export/ppi", DEFAULT_PPI))
        form.addRow("Resolution", self.ppi)
        out_row = QHBoxLayout()
        # a folder inside the photos' own (the default "export") is remembered as such: the next
        # folder's photos export into their own "export", not among the last folder's exports
        src = photos[0][0].parent
        sub, last = str(settings.value("export/out_sub", "export")), str(settings.value("export/out_dir", ""))
        self.out_dir = QLineEdit(str(src / sub) if sub or not last else last)  # "" and "": no setting yet
        browse = self._browse_btn = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        out_row.addWidget(self.out_dir, 1)
        out_row.addWidget(browse)
        form.addRow("Folder", out_row)
        self.template = QLineEdit(str(settings.value("export/template", "{stem}")))
        from engine.batch import FIELDS

        self.template.setToolTip("Fields: " + "; ".join(f"{{{k}}} = {v}" for k, v in FIELDS.items()))
        form.addRow("File name", self.template)
        self.overwrite = QCheckBox("Replace existing exports")
        self.overwrite.setToolTip("Otherwise a photo exported before is redone only if it, its edits or these "
                                  "settings changed since")
        form.addRow("", self.overwrite)
        lay.addLayout(form)
        self.fmt.currentIndexChanged.connect(self._fmt_changed)
        self._fmt_changed()
        self.progress = QProgressBar()
        self.progress.setRange(0, n)
        self.progress.setValue(0)
        self.progress.setFormat(f"{n} photo{'s' if n != 1 else ''} to export")  # "%v / %m" once it starts
        lay.addWidget(self.progress)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setObjectName("muted")
        lay.addWidget(self.message)
        self.buttons = QDialogButtonBox()
        self.export_btn = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_btn.setObjectName("primary")
        self.cancel_btn = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.export_btn.clicked.connect(self.start)
        self.cancel_btn.clicked.connect(self.cancel)
        lay.addWidget(self.buttons)
        # Browse… too: a folder browsed during a run was named by the summary as where the photos went
        self._inputs = [self.fmt, self.quality, self.resize, self.long_edge, self.sharpen, self.ppi, self.out_dir,
                        self._browse_btn, self.template, self.overwrite, self.export_btn]

    def out_folder(self) -> Path:
        """The folder the field names (a relative one beside the photos; ValueError when empty)."""
        return output_folder(self.out_dir.text(), self.photos[0][0].parent)

    def _fmt_changed(self) -> None:
        self.quality.setEnabled(self.fmt.currentData() == "jpeg")

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Export to", self.out_dir.text())
        if d:
            self.out_dir.setText(d)

    def jobs(self) -> Any:
        """Plan the jobs, as an :class:`engine.batch.Plan` (raises TemplateError / ValueError with
        a message for the user)."""
        return self._planner()()

    def _planner(self) -> Callable[[], Any]:
        """What the plan needs from the dialog and the window, read now (a refusal is raised at once);
        the function returned reads the folders, on a worker thread when exporting."""
        from engine.batch import ExportSettings, Plan, check_template, plan_jobs, sidecar_steps

        settings = ExportSettings(fmt=self.fmt.currentData(), quality=self.quality.value(),
                                  long_edge=self.long_edge.value() if self.resize.isChecked() else None,
                                  sharpen=self.sharpen.currentData(), ppi=self.ppi.value(),
                                  overwrite=self.overwrite.isChecked())
        out, template = self.out_folder(), self.template.text().strip()
        check_template(template)
        by_folder: dict[Path, list[Path]] = {}
        for path, _ in self.photos:
            by_folder.setdefault(path.parent, []).append(path)
        # as each is when Export is pressed: the window's recipes change in place as it edits on
        recipes = {p: (None if r is None else r.to_json())
                   for p, r in ((p, self.recipe_of(p) if self.recipe_of else r) for p, r in self.photos)}

        def plan() -> Plan:
            # a photo not open: its sidecar read first (the worker read it at the photo's turn, and an
            # edit made meanwhile went into the export); here, not on the GUI thread, for a large selection
            for p, r in recipes.items():
                if r is None:
                    recipes[p] = sidecar_steps(p)
            jobs = Plan()
            for folder, srcs in by_folder.items():
                made = plan_jobs(folder, out, settings, template=template, sources=srcs)
                jobs.left_out += made.left_out
                jobs.renamed.update(made.renamed)
                for job in made:
                    r = recipes[job.src]
                    if r is not None:  # the recipe on screen, even if its sidecar write is pending
                        job = replace(job, settings=replace(settings, source="recipe", recipe=r))
                    jobs.append(job)
            if not jobs and jobs.left_out:
                raise ValueError("the photos chosen are all Retouch's own exports: export the originals instead")
            return jobs

        return plan

    def start(self) -> None:
        from engine.batch import TemplateError

        if not self._starting():
            return
        try:
            if self.before_start is not None:
                self.before_start()
            out = self.out_folder()
            busy = self._run(out, self._planner())
            if busy:
                raise ValueError(busy)
        except (TemplateError, ValueError, OSError) as e:
            self._refused(e)
            return
        finally:
            if not self.running():
                self.export_btn.setEnabled(True)
        self.exported_to = out
        self.progress.setRange(0, 0)  # busy until the photos are counted
        self.message.setText("Looking at the photos and the export folder…")

    def _refused(self, e: BaseException) -> None:
        """Nothing exported: why, in the dialog's words."""
        self.progress.setRange(0, len(self.photos))
        self.progress.setValue(0)
        if isinstance(e, (ValueError, OSError)):
            self._say_error(engine_words(str(e), self.photos[0][0].parent))
        else:  # a bug: said as it is
            self._say_error(f"Export stopped: {e}")

    def _say_error(self, text: str) -> None:
        words = html.escape(text, quote=False).replace("\n", "<br>")  # a summary's renamed line under it
        self.message.setText(f"<span style='color:#ff8a80'>{words}</span>")

    def _planned(self, jobs: Any) -> None:
        self._remember()
        self.plan = jobs
        self.progress.setRange(0, len(jobs))
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m")
        if self.cancel_event.is_set():  # cancelled while planning: "Cancelling…" stays until the summary
            return
        ours = len(jobs.left_out)
        self.message.setText((f"Exporting at {self.long_edge.value()} px on the long edge…" if self.resize.isChecked()
                              else "Exporting at full resolution…")
                             + (f" ({ours} of Retouch's own exports left out)" if ours else ""))

    def _progress(self, prog) -> None:
        self.results.append(prog.result)
        self.progress.setValue(prog.done)
        r = prog.result
        verb = {"done": "Exported", "skipped": "Skipped", "failed": "Failed"}.get(r.status, r.status)
        self.message.setText(f"{verb} {r.src.name}" + (f": {r.reason}" if r.reason else ""))

    def _finished(self) -> None:
        done = sum(r.status == "done" for r in self.results)
        failed = [r for r in self.results if r.status == "failed"]
        skipped = sum(r.status == "skipped" for r in self.results)
        parts = [f"{done} exported"]
        if skipped:
            parts.append(f"{skipped} skipped (exported before, unchanged since; tick “Replace existing exports” "
                         "to redo them)")
        if failed:  # the reason names the photo already ("x.jpg: cannot write…")
            parts.append(f"{len(failed)} failed: " + "; ".join(
                f"{r.src.name}: {r.reason.removeprefix(f'{r.src.name}: ')}" for r in failed[:3]))
        planned = len(self.plan)
        if len(self.results) < planned:
            parts.append(f"{planned - len(self.results)} not exported")
        fatal = next((r for r in self.results if r.fatal), None)
        if self._error is not None:  # a bug stopped it: said first, not hidden under the counts
            parts.insert(0, f"Export stopped by an error ({self._error})")
        elif fatal is not None:  # the batch stopped itself (a full disk): not the photographer's Cancel
            parts.insert(0, f"Stopped ({fatal.reason.removeprefix(f'{fatal.src.name}: ')}, so no later photo "
                            "could be written either)")
        elif self.cancel_event.is_set():
            parts.insert(0, "Cancelled")
        if self.plan.left_out:
            parts.append(f"{len(self.plan.left_out)} left out (Retouch's own exports)")
        made = self.exported_to is not None and self.exported_to.is_dir()  # not made when cancelled first
        said = ", ".join(parts) + (f" → {self.exported_to}" if made else "")
        from engine.batch import renamed_text

        renamed = renamed_text(self.plan, {r.src: r.dst for r in self.results if r.status == "done"}, "→")
        if renamed:  # the photographer looks for the name the template gives
            said += "\n" + renamed
        if self._error is not None:
            self._say_error(said)
        else:
            self.message.setText(said)
        self.worker = None
        self.cancel_btn.setText("Close")
        self.cancel_btn.setEnabled(True)
        self._set_inputs_enabled(True)  # tick Replace, or change a choice, and go again
        self.export_btn.setText("Export again")

    def _resizes(self) -> bool:
        return self.resize.isChecked()

    def cancel(self) -> None:
        if self.worker is not None:
            self.cancel_event.set()
            self.message.setText("Cancelling…")
            self.cancel_btn.setEnabled(False)  # back as Close with the summary: what was written where
        else:
            self.reject()

    def running(self) -> bool:
        return self.worker is not None

    def _remember(self) -> None:
        s = self.settings
        s.setValue("export/fmt", self.fmt.currentData())
        s.setValue("export/quality", self.quality.value())
        s.setValue("export/long_edge", self.long_edge.value())
        s.setValue("export/resize", "true" if self.resize.isChecked() else "false")
        s.setValue("export/sharpen", self.sharpen.currentData())
        s.setValue("export/ppi", self.ppi.value())
        out, src = self.out_folder(), self.photos[0][0].parent
        inside = out.is_relative_to(src)  # the photos' folder itself too ("."), as Lightroom's "same folder"
        s.setValue("export/out_sub", str(out.relative_to(src)) if inside else "")
        s.setValue("export/out_dir", "" if inside else str(out))
        s.setValue("export/template", self.template.text())

