"""Small form widgets the dialogs share."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget

from engine.formats import SHARPEN_LABELS


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
