"""Batch export of a whole folder: the GUI face of ``retouch batch`` (same options, same engine).

The dialog only collects options, plans the jobs with :func:`engine.batch.plan_jobs` and shows
the :class:`engine.batch.Progress` that :func:`engine.batch.export_all` yields on a superqt worker
thread (the GUI thread never decodes or waits). Cancel stops it at once: queued photos are dropped,
photos in progress stopped (nothing half-written stays), the pool shuts down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QSettings, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.durations import hms
from engine.formats import DEFAULT_PPI, FORMAT_LABELS

from .errors import few_names
from .export_dialog import ExportingDialog
from .fields import engine_words, folder_field, output_folder, ppi_spin, ppi_value, sharpen_combo, user_path


class BatchDialog(ExportingDialog):
    """``BatchDialog(parent, in_dir, model=, strength=)``: export every photo of a folder. Auto
    (where a photo has no sidecar, or for all) uses the window's style ``model`` and ``strength``,
    so the batch gives what Auto gives in the window."""

    def __init__(self, parent: QWidget | None = None, in_dir: Path | None = None, *,
                 model: Path | None = None, strength: float | None = None, settings: QSettings | None = None,
                 before_start: Callable[[], object] | None = None,
                 auto_of: Callable[[], tuple[Path | None, float | None]] | None = None,
                 held_of: Callable[[], dict[Path, dict]] | None = None):
        """``before_start``: called when Export is pressed (the window saves pending sidecars).
        ``auto_of``: the window's style and strength now; the dialog is not modal, so they may change
        while it is open, and it says and uses the window's (it said "as in the window" of the old).
        ``held_of``: the edits the window holds that their sidecars could not take, which stand for
        them (:func:`engine.batch.steps_now`), as Export applies them."""
        super().__init__(parent)
        self.model, self.strength, self.settings = model, strength, settings
        self.before_start, self.auto_of, self.held_of = before_start, auto_of, held_of
        self.setWindowTitle("Batch export")
        self.setMinimumWidth(620)
        self.cancel_event = threading.Event()
        self.worker = None
        self.results: list = []
        self.total = 0
        self.unreadable: list[Path] = []  # sub-folders the last plan could not read
        lay = QVBoxLayout(self)
        form = QFormLayout()

        self.in_dir = QLineEdit(str(in_dir) if in_dir else "")
        self._in_row = folder_field(self, self.in_dir, "Photos folder")
        form.addRow("Photos in", self._in_row)
        self.recursive = QCheckBox("Include sub-folders")
        form.addRow("", self.recursive)
        self.out_dir = QLineEdit(str(Path(in_dir) / "export") if in_dir else "")
        self._out_row = folder_field(self, self.out_dir, "Export folder")
        form.addRow("Export to", self._out_row)
        # another photos' folder takes the export folder along where it was inside the last one
        # ("export" beside the photos): the QA's second shoot went into the first shoot's exports
        self._in_was = self.in_dir.text().strip()
        self.in_dir.editingFinished.connect(self._in_dir_changed)  # entered or browsed: not each keystroke

        src_row = QHBoxLayout()
        self.src_sidecar = QRadioButton("Sidecar, else Auto")
        self.src_auto = QRadioButton("Auto")
        self.src_recipe = QRadioButton("Recipe file:")
        self.src_sidecar.setChecked(True)
        self.source_group = QButtonGroup(self)
        for b in (self.src_sidecar, self.src_auto, self.src_recipe):
            self.source_group.addButton(b)
            src_row.addWidget(b)
        self.recipe_path = QLineEdit()
        self.recipe_path.setPlaceholderText("recipe .json")
        src_row.addWidget(self.recipe_path, 1)
        pick = self._pick = QPushButton("…")
        pick.setToolTip("Choose a recipe file")
        pick.clicked.connect(self._pick_recipe)
        src_row.addWidget(pick)
        form.addRow("Recipe", src_row)
        self.auto_label = QLabel(self._auto_text())
        self.auto_label.setToolTip("Choose the style and strength in the Auto panel")
        form.addRow("", self.auto_label)

        self.fmt = QComboBox()
        for label, key in FORMAT_LABELS:
            self.fmt.addItem(label, key)
        form.addRow("Format", self.fmt)
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(92)  # as the Export dialog and the command line
        self.quality.setSuffix(" %")
        form.addRow("JPEG quality", self.quality)
        self.fmt.currentIndexChanged.connect(lambda: self.quality.setEnabled(self.fmt.currentData() == "jpeg"))
        size_row = QHBoxLayout()
        self.fit_box = QCheckBox("Fit long edge to")
        self.long_edge = QSpinBox()
        self.long_edge.setRange(16, 100000)
        self.long_edge.setValue(2048)
        self.long_edge.setSuffix(" px")
        self.long_edge.setEnabled(False)
        self.fit_box.toggled.connect(self.long_edge.setEnabled)
        size_row.addWidget(self.fit_box)
        size_row.addWidget(self.long_edge)
        size_row.addStretch(1)
        form.addRow("Size", size_row)
        self.sharpen = sharpen_combo("none")
        form.addRow("Sharpen", self.sharpen)
        self.ppi = ppi_spin(DEFAULT_PPI)
        form.addRow("Resolution", self.ppi)
        from engine.batch import FIELDS, default_workers

        self.template = QLineEdit("{stem}")
        self.template.setToolTip("Fields: " + "; ".join(f"{{{k}}} = {v}" for k, v in FIELDS.items()))
        form.addRow("File name", self.template)
        self.jobs_spin = QSpinBox()
        self.jobs_spin.setRange(1, 256)
        self.jobs_spin.setValue(default_workers())
        form.addRow("Parallel photos", self.jobs_spin)
        self.overwrite = QCheckBox("Replace existing exports")  # the rest in the tooltip: it ran past a 620 px dialog
        self.overwrite.setToolTip("Otherwise a photo exported before is redone only if it, its edits or these "
                                  "settings changed since")
        form.addRow("", self.overwrite)
        self.scheduler = QLineEdit()
        self.scheduler.setPlaceholderText("optional Dask scheduler, e.g. tcp://host:8786")
        self.scheduler.setToolTip("Spread the photos over other computers' Dask workers (see the README)")
        form.addRow("Cluster", self.scheduler)
        lay.addLayout(form)

        self.progress = QProgressBar()
        self.progress.setFormat("")  # "%v / %m" once the photos are counted (it read "0 / 100" before)
        self.progress.setValue(0)
        lay.addWidget(self.progress)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.failed_table = QTableWidget(0, 2)
        self.failed_table.setHorizontalHeaderLabels(["Failed photo", "Reason"])
        self.failed_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.failed_table.verticalHeader().setVisible(False)
        self.failed_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.failed_table.hide()
        lay.addWidget(self.failed_table)
        lay.addStretch(1)  # a hidden table's room goes below the message, not between the rows

        self.buttons = QDialogButtonBox()
        self.export_btn = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_btn.setObjectName("primary")  # the main action, as in the Export dialog
        self.cancel_btn = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.export_btn.clicked.connect(self.start)
        self.cancel_btn.clicked.connect(self.cancel)
        lay.addWidget(self.buttons)
        # the folders with their Browse… buttons: a folder browsed during a run changed the fields only
        self._inputs = [self._in_row, self.recursive, self._out_row, self.src_sidecar, self.src_auto, self.src_recipe,
                        self.recipe_path, self._pick, self.fmt, self.quality, self.fit_box, self.long_edge,
                        self.sharpen, self.ppi, self.template, self.jobs_spin, self.overwrite, self.scheduler,
                        self.export_btn]
        self._restore()

    # -- the choices of the last batch, as the Export dialog keeps its own ------------------
    def _restore(self) -> None:
        s = self.settings
        if s is None:
            return
        fmt = self.fmt.findData(s.value("batch/fmt", "jpeg"))
        self.fmt.setCurrentIndex(max(fmt, 0))
        self.quality.setValue(int(s.value("batch/quality", 92)))
        self.fit_box.setChecked(s.value("batch/fit", "false") == "true")
        self.long_edge.setValue(int(s.value("batch/long_edge", 2048)))
        self.sharpen.setCurrentIndex(max(0, self.sharpen.findData(str(s.value("batch/sharpen", "none")))))
        self.ppi.setValue(ppi_value(s.value("batch/ppi", DEFAULT_PPI)))
        self.template.setText(str(s.value("batch/template", "{stem}")))
        self.recursive.setChecked(s.value("batch/recursive", "false") == "true")
        self.scheduler.setText(str(s.value("batch/scheduler", "")))
        self.recipe_path.setText(str(s.value("batch/recipe", "")))
        source = {"auto": self.src_auto, "recipe": self.src_recipe}.get(str(s.value("batch/source", "sidecar")))
        (source or self.src_sidecar).setChecked(True)
        in_dir = self.in_dir.text().strip()
        sub, out = str(s.value("batch/out_sub", "")), str(s.value("batch/out_dir", ""))
        if in_dir and sub:  # a folder inside the photos' folder follows the photos (each shoot its own)
            self.out_dir.setText(str(Path(in_dir) / sub))
        elif out:
            self.out_dir.setText(out)

    def _in_dir_changed(self) -> None:
        was, self._in_was = self._in_was, self.in_dir.text().strip()
        if not was or not self._in_was or was == self._in_was:
            return
        try:
            out, old, new = (user_path(t) for t in (self.out_dir.text(), was, self._in_was))
        except ValueError:  # ~name of no such user: said when Export is pressed
            return
        if out.is_absolute() and out.is_relative_to(old) and out != old:
            self.out_dir.setText(str(new / out.relative_to(old)))

    def _remember(self) -> None:
        s = self.settings
        if s is None:
            return
        s.setValue("batch/fmt", self.fmt.currentData())
        s.setValue("batch/quality", self.quality.value())
        s.setValue("batch/fit", "true" if self.fit_box.isChecked() else "false")
        s.setValue("batch/long_edge", self.long_edge.value())
        s.setValue("batch/sharpen", self.sharpen.currentData())
        s.setValue("batch/ppi", self.ppi.value())
        s.setValue("batch/template", self.template.text())
        s.setValue("batch/recursive", "true" if self.recursive.isChecked() else "false")
        s.setValue("batch/scheduler", self.scheduler.text().strip())
        s.setValue("batch/recipe", self.recipe_path.text().strip())
        source = "auto" if self.src_auto.isChecked() else "recipe" if self.src_recipe.isChecked() else "sidecar"
        s.setValue("batch/source", source)
        src = user_path(self.in_dir.text())
        out = output_folder(self.out_dir.text(), src)
        inside = out.is_relative_to(src) and out != src
        s.setValue("batch/out_sub", str(out.relative_to(src)) if inside else "")
        s.setValue("batch/out_dir", "" if inside else str(out))

    def _resizes(self) -> bool:
        return self.fit_box.isChecked()

    def _pick_recipe(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Recipe", self.recipe_path.text(), "Recipes (*.json)")
        if f:
            self.recipe_path.setText(f)
            self.src_recipe.setChecked(True)

    def _auto_text(self) -> str:
        style = self.model.stem if self.model else "the shipped model"
        amount = "" if self.strength is None else f", strength {round(100 * self.strength)} %"
        return f"Auto uses {style}{amount}, as in the window"

    def _sync_auto(self) -> None:
        if self.auto_of is not None and not self.running():
            self.model, self.strength = self.auto_of()
            self.auto_label.setText(self._auto_text())

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.WindowActivate:  # back from the window, where the style may have changed
            self._sync_auto()
        return super().event(e)

    # -- planning and running -------------------------------------------------------------
    def plan(self) -> Any:
        """The jobs for the current options; raises ValueError/OSError with a message for the user."""
        from engine.batch import prepare_output

        out_dir, plan = self._planner()
        jobs = plan()
        prepare_output(out_dir)
        return jobs

    def _planner(self) -> tuple[Path, Callable[[], Any]]:
        """The export folder, and the planning of the current options: what it needs from the
        fields is read now (a refusal is raised at once), the folders are read by the function
        returned, on a worker thread when exporting."""
        from engine.batch import ExportSettings, check_template, plan_jobs, steps_now
        from engine.recipe import Recipe

        self._sync_auto()
        in_dir = user_path(self.in_dir.text())
        if not self.in_dir.text().strip():
            raise ValueError("choose the folder of photos to export")
        if not in_dir.is_dir():  # moved, renamed or unplugged since it was chosen
            raise ValueError(f"{in_dir} is no longer there (moved, renamed or unplugged?)" if not in_dir.exists()
                             else f"{in_dir} is not a folder: choose the folder of photos to export")
        out_dir = output_folder(self.out_dir.text(), in_dir)
        recipe = recipe_file = None
        source = "auto" if self.src_auto.isChecked() else "sidecar"
        if self.src_recipe.isChecked():
            if not self.recipe_path.text().strip():  # "": the working folder, "not a regular file"
                raise ValueError("choose the recipe file to apply")
            recipe_file = str(user_path(self.recipe_path.text()).absolute())
            recipe, source = Recipe.load(recipe_file).to_json(), "recipe"
        settings = ExportSettings(fmt=self.fmt.currentData(), quality=self.quality.value(),
                                  long_edge=self.long_edge.value() if self.fit_box.isChecked() else None,
                                  sharpen=self.sharpen.currentData(), ppi=self.ppi.value(), source=source,
                                  recipe=recipe,
                                  overwrite=self.overwrite.isChecked(),
                                  model=str(self.model) if self.model else None, strength=self.strength,
                                  recipe_file=recipe_file)
        template, recursive = self.template.text().strip(), self.recursive.isChecked()
        check_template(template)
        held = self.held_of() if self.held_of is not None and source == "sidecar" else {}

        def plan() -> Any:
            jobs = plan_jobs(in_dir.absolute(), out_dir.absolute(), settings, template=template, recursive=recursive)
            if not jobs:
                raise ValueError(f"no photos in {in_dir}" + (_unreadable(jobs.unreadable) if jobs.unreadable else
                                                             "" if recursive else " (tick “Include sub-folders”?)"))
            return steps_now(jobs, held)  # each photo's edits as they are when Export is pressed

        return out_dir, plan

    def start(self) -> None:
        if not self._starting():
            return
        try:
            if self.before_start is not None:
                self.before_start()
            out_dir, plan = self._planner()
            busy = self._run(out_dir, plan, workers=self.jobs_spin.value(),
                             scheduler=self.scheduler.text().strip() or None)
            if busy:
                raise ValueError(busy)
        except (ValueError, OSError) as e:  # TemplateError and RecipeError are ValueErrors
            self._refused(e)
            return
        finally:
            if not self.running():
                self.export_btn.setEnabled(True)
        self._clear_last_run()
        self.progress.setRange(0, 0)  # busy until the photos are counted
        self._say("Looking at the photos and the export folder…")

    def _refused(self, e: BaseException) -> None:
        self._clear_last_run()  # the error is about these choices, not under the last run's table
        if isinstance(e, (ValueError, OSError)):
            # the engine's words are the command line's (OUT_DIR); here the fields have names
            self._say(engine_words(str(e), Path(self.in_dir.text().strip())), error=True)
        else:  # a bug: said as it is
            self._say(f"Export stopped: {e}", error=True)

    def _say_error(self, text: str) -> None:
        self._say(text, error=True)

    def _planned(self, jobs: Any) -> None:
        self._remember()
        self.total = len(jobs)
        self.unreadable = list(jobs.unreadable)
        self.progress.setRange(0, self.total)
        self.progress.setFormat("%v / %m")
        if self.cancel_event.is_set():  # cancelled while planning: "Cancelling…" stays until the summary
            return
        ours = len(jobs.left_out)
        self._say(f"Exporting {self.total} photos…" + (f" ({ours} of Retouch's own earlier exports left out)"
                                                       if ours else ""))

    def _clear_last_run(self) -> None:
        self.results = []
        self.failed_table.setRowCount(0)
        self.failed_table.hide()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        if not self.running():
            self.export_btn.setText("Export")  # "again" of a run whose results are gone

    def _progress(self, p) -> None:
        self.results.append(p.result)
        self.progress.setValue(p.done)
        eta = "" if p.eta is None else f", about {hms(p.eta)} left"
        rate = f"{p.rate * 60:.1f} photos/min" if p.rate else ""
        self._say(f"{p.result.status.capitalize()}: {p.result.src.name}  ({rate}{eta})")
        if p.result.status == "failed":
            self._add_failed(p.result)

    def _add_failed(self, r) -> None:
        row = self.failed_table.rowCount()
        self.failed_table.insertRow(row)
        reason = r.reason.removeprefix(f"{r.src.name}: ")  # the name is in the first column
        for col, text in enumerate((r.src.name, reason)):
            item = QTableWidgetItem(text)
            item.setToolTip(str(r.src) if col == 0 else text)
            self.failed_table.setItem(row, col, item)
        self.failed_table.resizeColumnToContents(0)  # whole names: the reason column takes the rest
        # up to five rows in view (it showed about one), the rest by scrolling
        rows = min(self.failed_table.rowCount(), 5)
        self.failed_table.setMinimumHeight(self.failed_table.horizontalHeader().height()
                                           + rows * self.failed_table.verticalHeader().defaultSectionSize() + 4)
        self.failed_table.show()

    def summary(self) -> str:
        counts = {s: sum(r.status == s for r in self.results) for s in ("done", "skipped", "failed")}
        text = (f"{counts['done']} exported, {counts['skipped']} skipped (exported before, unchanged since), "
                f"{counts['failed']} failed")
        if len(self.results) < self.total:
            text += f", {self.total - len(self.results)} not exported"
        if self.unreadable:
            text += _unreadable(self.unreadable)
        fatal = next((r for r in self.results if r.fatal), None)
        if self._error is not None:  # a bug stopped it: said first, not as "Finished"
            return f"Export stopped by an error ({self._error}): " + text
        if fatal is not None:
            return f"Stopped ({fatal.reason}): " + text
        return ("Cancelled: " if self.cancel_event.is_set() else "Finished: ") + text

    def _finished(self) -> None:
        self.worker = None
        self._say(self.summary(), error=bool(self.unreadable) or self._error is not None
                  or any(r.status == "failed" for r in self.results))
        self.cancel_btn.setText("Close")
        self.cancel_btn.setEnabled(True)
        self._set_inputs_enabled(True)  # tick Replace, or change a choice, and go again
        self.export_btn.setText("Export again")

    def cancel(self) -> None:
        if self.worker is not None:
            self.cancel_event.set()
            self._say("Cancelling…")
            self.cancel_btn.setEnabled(False)
        else:
            super().reject()

    def running(self) -> bool:
        return self.worker is not None

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setStyleSheet("color: #ff8a80" if error else "")
        self.status.setText(text)


def _unreadable(folders: list[Path]) -> str:
    """The sub-folders a batch could not read, said after its counts (their photos are not in it)."""
    names = few_names([f.name for f in folders])
    return (f"; {len(folders)} sub-folder{'s' if len(folders) > 1 else ''} could not be read ({names}): "
            "their photos are left out")
