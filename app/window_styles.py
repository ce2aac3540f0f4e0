"""The photographer's styles: Learn my style, and the Style list's rename, delete and import.

A mixin of :class:`app.window.MainWindow`, whose widgets and documents it uses.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox
from shiboken6 import isValid

from engine import styles
from engine.runners.agent import style_run_dir, user_styles_dir

from . import agent as agent_mod
from .workers import run_in_pool


class StylesMixin:
    """The Style list's actions and the current style (``self.model``)."""

    def learn_style(self) -> None:
        """The Learn my style dialog (non-modal: editing goes on while it trains)."""
        from .style_dialog import StyleDialog

        if self.style_dialog is None:
            self.style_dialog = StyleDialog(self)
            self.style_dialog.styleTrained.connect(self._style_trained)
        self.style_dialog.show()
        self.style_dialog.raise_()

    def _style_trained(self, path: Path) -> None:
        """A new (or continued) style: the agent is reloaded from it and it becomes the current one."""
        agent_mod.forget(path)
        self._style_changed(path)
        self.panel.set_models(agent_mod.available_models(), self.model)

    def _style_action(self, key: str) -> None:
        {"learn": self.learn_style, "rename": self.rename_style, "delete": self.delete_style,
         "import": self.import_style, "folder": self.open_styles_folder}[key]()

    def refresh_styles(self) -> None:
        """The Style list from the folders as they are now; a current style deleted elsewhere gives
        way to Default (Auto would otherwise fail on the missing file)."""
        models = agent_mod.available_models()
        if self.model is not None and Path(self.model) not in models:
            self._style_changed(None)
        self.panel.set_models(models, self.model)

    def _refuse_in_training(self, model: Path) -> bool:
        d = self.style_dialog
        if d is not None and d.is_training() and d.training_name == model.stem:
            self.panel.set_busy(f"“{model.stem}” is being trained: change it once the training stops.")
            return True
        return False

    def _is_current(self, model: Path) -> bool:
        return self.model is not None and Path(self.model) == model

    def _styles_changed(self, current: Path | None) -> None:
        """The Style list again, showing ``current`` (the agent for it is reloaded if it changed);
        an open Learn my style dialog re-reads which names are taken."""
        if current != self.model:
            self._style_changed(current)
        self.panel.set_models(agent_mod.available_models(), self.model)
        if self.style_dialog is not None and isValid(self.style_dialog):
            self.style_dialog._update()

    def rename_style(self, new_name: str | None = None) -> None:
        """Rename the style shown (and its training run, and its remembered strength)."""
        model = self.panel.current_style()
        if model is None or not styles.is_user_style(model) or self._refuse_in_training(model):
            return
        if new_name is None:
            new_name, ok = QInputDialog.getText(self, "Rename Style", "New name:", text=model.stem)
            if not ok or new_name.strip() == model.stem:
                return
        try:
            new = styles.rename_style(model, new_name)
        except (styles.StyleError, OSError) as e:
            self.panel.set_busy(f"The style was not renamed: {e}")
            return
        old_key, new_key = self._strength_key(model), self._strength_key(new)
        if self.settings.contains(old_key):
            self.settings.setValue(new_key, self.settings.value(old_key))
            self.settings.remove(old_key)
        for doc, (base, proxy, applied, key) in list(self._autos.items()):  # its Autos stay its own
            if key == old_key:
                self._autos[doc] = (base, proxy, applied, new_key)
        agent_mod.forget(model)
        self._styles_changed(new if self._is_current(model) else self.model)
        self.panel.set_busy(f"Renamed the style “{model.stem}” to “{new.stem}”.")

    def delete_style(self, confirm: bool | None = None) -> None:
        """Delete the style shown and its training files, after asking; Auto falls back to Default."""
        model = self.panel.current_style()
        if model is None or not styles.is_user_style(model) or self._refuse_in_training(model):
            return
        if confirm is None:
            confirm = QMessageBox.question(
                self, "Delete Style", f"Delete the style “{model.stem}” and its training files? Recipes "
                "already made with it stay as they are.") == QMessageBox.StandardButton.Yes
        if not confirm:
            return
        self.panel.set_busy(f"Deleting the style “{model.stem}”…")

        def failed(e: BaseException, _tb: str) -> None:
            self.panel.set_busy(f"The style was not deleted: {e}")

        def done(left: list[str]) -> None:
            self.settings.remove(self._strength_key(model))
            agent_mod.forget(model)
            self._styles_changed(None if self._is_current(model) else self.model)
            self.panel.set_busy(f"Deleted the style “{model.stem}”." + (
                f" {len(left)} of its training files could not be removed: they are in "
                f"{style_run_dir(model.stem)}." if left else ""))

        # its training files (checkpoints, cached views) can be large: removed off the GUI thread
        run_in_pool(styles.delete_style, model, owner=self, on_done=done, on_error=failed)

    def import_style(self, path: Path | None = None) -> None:
        """Copy a style model into the styles folder (checked off the GUI thread) and use it."""
        if path is None:
            f, _ = QFileDialog.getOpenFileName(self, "Import a Style", str(Path.home()), "Style models (*.onnx)")
            if not f:
                return
            path = Path(f)
        self.panel.set_busy(f"Importing {path.name}…")

        def failed(e: BaseException, _tb: str) -> None:
            self.panel.set_busy(f"{path.name} was not imported: {e}")

        def done(new: Path) -> None:
            self._styles_changed(new)
            self.panel.set_busy(f"Imported the style “{new.stem}”.")

        run_in_pool(styles.import_style, path, owner=self, on_done=done, on_error=failed)

    def open_styles_folder(self) -> None:
        folder = user_styles_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _style_changed(self, model: Path | None) -> None:
        self._strength_known = False  # the slider still shows the last style's until the new one loads
        self.model = model
        self.settings.setValue("agent/model", str(model) if model else "")
        self._load_agent()
