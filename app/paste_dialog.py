"""Selective paste: which of the copied steps, and append to or replace the target's recipe."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from engine.recipe import Recipe, Step


class PasteDialog(QDialog):
    def __init__(self, recipe: Recipe, n_targets: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Paste recipe")
        self.setMinimumWidth(340)
        self.recipe = recipe
        lay = QVBoxLayout(self)
        label = QLabel(f"Paste onto <b>{n_targets} photo{'s' if n_targets != 1 else ''}</b>. Steps to paste:")
        lay.addWidget(label)
        self.list = QListWidget()
        self.list.setAccessibleName("Steps to paste")  # a screen reader named the list nothing
        label.setBuddy(self.list)
        for i, s in enumerate(recipe.steps):
            extra = "" if s.enabled else " (disabled)"
            item = QListWidgetItem(f"{i + 1}. {s.spec.label}{extra}")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            # White balance is specific to each photo's light: off by default (as darktable does).
            item.setCheckState(Qt.CheckState.Unchecked if s.op == "white_balance" else Qt.CheckState.Checked)
            self.list.addItem(item)
        lay.addWidget(self.list)
        self.replace = QRadioButton("Replace the photos' steps")
        self.append = QRadioButton("Append after the photos' steps")
        self.replace.setChecked(True)
        lay.addWidget(self.replace)
        lay.addWidget(self.append)
        note = QLabel("Replacing, the photos' steps become the copied ones: an unticked step keeps each "
                      "photo's own, and a photo's step of a filter not copied goes. White balance is unticked "
                      "by default: it belongs to each photo's light.")
        note.setObjectName("muted")
        note.setWordWrap(True)
        lay.addWidget(note)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        bb.button(QDialogButtonBox.StandardButton.Ok).setText("Paste")
        bb.button(QDialogButtonBox.StandardButton.Ok).setObjectName("primary")  # the main action, as elsewhere
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        lay.addWidget(bb)
        # nothing ticked pastes nothing: Replace still removed the photos' steps of other filters
        self.paste_btn = bb.button(QDialogButtonBox.StandardButton.Ok)
        self.list.itemChanged.connect(lambda _: self.paste_btn.setEnabled(any(self.ticked())))
        self.paste_btn.setEnabled(any(self.ticked()))

    def ticked(self) -> list[bool]:
        """For each of the copied steps, whether it is pasted."""
        return [self.list.item(i).checkState() == Qt.CheckState.Checked for i in range(self.list.count())]

    def chosen(self) -> list[Step]:
        return [s for s, on in zip(self.recipe.steps, self.ticked()) if on]

    def set_checked(self, indices: set[int]) -> None:
        for i in range(self.list.count()):
            self.list.item(i).setCheckState(Qt.CheckState.Checked if i in indices else Qt.CheckState.Unchecked)

    def is_append(self) -> bool:
        return self.append.isChecked()
