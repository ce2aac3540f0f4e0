"""Small form widgets the dialogs share."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget


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
