"""Small form widgets the dialogs share."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QSpinBox, QWidget

from engine.formats import DEFAULT_PPI, PPI_RANGE, SHARPEN_LABELS, check_ppi


def folder_field(parent: QWidget, edit: QLineEdit, title: str) -> QWidget:
    """``edit`` with a Browse… button that picks a folder into it (a cancelled pick changes nothing)."""
    w = QWidget()
    row = QHBoxLayout(w)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(edit, 1)
    b = QPushButton("Browse…")

    def browse() -> None:
        d = QFileDialog.getExistingDirectory(parent, title, edit.text())
        if d:
            edit.setText(d)
            edit.editingFinished.emit()  # a folder chosen, as one typed and entered

    b.clicked.connect(browse)
    row.addWidget(b)
    return w


def sharpen_combo(level: object) -> QComboBox:
    """The output sharpening's levels (engine.sharpen), ``level`` chosen (None as unknown)."""
    box = QComboBox()
    for label, key in SHARPEN_LABELS:
        box.addItem(label, key)
    box.setCurrentIndex(max(0, box.findData(str(level))))
    box.setToolTip("Sharpening for screens, applied to the exported pixels after any resize "
                   "(the editing view shows the photo without it)")
    return box


def ppi_spin(value: object) -> QSpinBox:
    """The print resolution stated in exports, in pixels per inch (``value`` from the settings;
    the default where it is not a number)."""
    box = QSpinBox()
    box.setRange(*PPI_RANGE)
    box.setSuffix(" ppi")
    box.setValue(ppi_value(value))
    box.setToolTip("The print resolution written into the file: a print dialog proposes the pixels divided "
                   "by it as the size (6000 px at 300 ppi: 20 inches, 50.8 cm). The pixels are not changed")
    return box


def ppi_value(value: object) -> int:
    """A remembered resolution as a number of pixels per inch (the default where it is none)."""
    try:
        return check_ppi(int(str(value)))
    except ValueError:
        return DEFAULT_PPI


def output_folder(text: str, base: Path) -> Path:
    """The export folder a dialog's field names: ``~`` expanded, and a relative one inside ``base``,
    the photos' folder (as the default "export" is), not the folder the app was started from. An
    empty field raises ValueError: it wrote into the app's working folder."""
    text = text.strip()
    if not text:
        raise ValueError("choose the folder to export to")
    path = user_path(text)
    return path if path.is_absolute() else base / path


def user_path(text: str) -> Path:
    """``text`` as a path, ``~`` expanded; ValueError for ``~name`` of no such user (Python raises
    RuntimeError, which the dialogs did not expect)."""
    try:
        return Path(text.strip()).expanduser()
    except RuntimeError as e:
        raise ValueError(f"{text.strip()}: {e}") from None


def engine_words(message: str, photos: Path) -> str:
    """An engine message in a dialog's words: the command line's OUT_DIR and IN_DIR are the
    fields' folders ("the name must be relative to OUT_DIR" in the Export dialog)."""
    return (message.replace("IN_DIR/export", str(photos / "export")).replace("OUT_DIR", "the export folder")
            .replace("IN_DIR", "the photos' folder"))
