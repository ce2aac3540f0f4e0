"""View ▸ Display Profile: which colour profile the screen has, and showing every photo through it.

A mixin of :class:`app.window.MainWindow`. The choice (System, sRGB or an ICC file) is kept in
the settings as ``display/profile``; :mod:`app.display` resolves it and converts the images.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QEvent
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QShowEvent
from PySide6.QtWidgets import QFileDialog, QMenu

from . import display
from .errors import show_error

SETTING = "display/profile"


class DisplayMixin:
    """The screen's colour profile: its menu, its setting, and re-showing the photo when it changes."""

    def _build_display_menu(self, view: QMenu) -> None:
        m = view.addMenu("Display &Profile")
        m.setToolTipsVisible(True)
        group = QActionGroup(self)
        self.a_display_system = QAction("&System", self, checkable=True)
        self.a_display_system.setToolTip("The profile your desktop gives the screen (colord, DisplayCAL…); "
                                         "sRGB where it gives none")
        self.a_display_srgb = QAction("s&RGB (no conversion)", self, checkable=True)
        self.a_display_file = QAction("", self, checkable=True)  # the chosen file, once there is one
        for a in (self.a_display_system, self.a_display_srgb, self.a_display_file):
            group.addAction(a)
            m.addAction(a)
        self.a_display_system.triggered.connect(lambda: self.set_display_profile(display.SYSTEM))
        self.a_display_srgb.triggered.connect(lambda: self.set_display_profile(display.SRGB))
        self.a_display_file.triggered.connect(lambda: self.set_display_profile(self._display_file))
        m.addSeparator()
        choose = m.addAction("&Choose Profile File…")
        choose.triggered.connect(self.choose_display_profile)

    def display_choice(self) -> str:
        return str(self.settings.value(SETTING, display.SYSTEM) or display.SYSTEM)

    def choose_display_profile(self) -> None:
        start = self._display_file or "/usr/share/color/icc"
        name, _ = QFileDialog.getOpenFileName(self, "Display Profile", start,
                                              "ICC profiles (*.icc *.icm *.ICC *.ICM);;All files (*)")
        if not name:
            self._sync_display_menu()
            return
        try:
            display.read_file(Path(name))
        except display.ProfileError as e:
            show_error(self, "Display profile", f"{Path(name).name} cannot be used as the screen's profile: {e}.")
            self._sync_display_menu()
            return
        self.set_display_profile(name)

    def set_display_profile(self, choice: str) -> None:
        """Use ``choice`` (display.SYSTEM, display.SRGB or an ICC file's path) from now on, and
        say what the screen is now taken to be."""
        self.settings.setValue(SETTING, choice)
        self.apply_display_profile(announce=True)

    def apply_display_profile(self, announce: bool = False) -> None:
        """Resolve the chosen profile for the screen the window is on; where it differs from the
        one in use, show the photo, its before view and the thumbnails through it again."""
        choice = self.display_choice()
        if choice not in (display.SYSTEM, display.SRGB):
            self._display_file = choice
        profile, warning = display.resolve(choice, self._display_screen)
        changed = profile.space != display.current()
        self._display_profile = profile
        display.set_current(profile.space)
        self._sync_display_menu()
        if warning and (announce or warning != self._display_warning):  # not again at each activation
            self.statusBar().showMessage(warning, 10000)
        elif announce and not warning:
            self.statusBar().showMessage(self._display_message(profile, choice), 8000)
        self._display_warning = warning
        if changed:
            self._reshow_for_display()

    @staticmethod
    def _display_message(profile: display.Profile, choice: str) -> str:
        """What the screen is now taken to be, for the status bar."""
        how = {"file": "from the chosen file", "system": "from the system"}.get(profile.source)
        if how is None:
            return "No display profile" + (" from the system" if choice == display.SYSTEM else "") + \
                ": the screen is taken as sRGB"
        if profile.space is not None:
            return f"Display profile: {profile.description} ({how})"
        same = "" if "srgb" in profile.description.casefold() else ", the same as sRGB"
        return f"Display profile: {profile.description} ({how}){same}: photos are shown unconverted"

    def _sync_display_menu(self) -> None:
        choice = self.display_choice()
        if self._display_file:
            self.a_display_file.setText(Path(self._display_file).name)
            self.a_display_file.setToolTip(self._display_file)
        self.a_display_file.setVisible(bool(self._display_file))
        self.a_display_system.setChecked(choice == display.SYSTEM)
        self.a_display_srgb.setChecked(choice == display.SRGB)
        self.a_display_file.setChecked(choice not in (display.SYSTEM, display.SRGB))
        p = self._display_profile
        self.a_display_system.setText("&System" + (f": {p.description}" if p.source == "system" else ""))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._watch_screen()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        # the system's profile is read again as the window comes forward: a calibration (colord,
        # DisplayCAL) publishes a new one while the app runs; unchanged, nothing is redrawn
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow() \
                and self.display_choice() == display.SYSTEM and time.monotonic() - self._display_read > 2.0:
            self._display_read = time.monotonic()  # an X round trip: not at every click between windows
            self.apply_display_profile()

    def _watch_screen(self) -> None:
        """Follow the window to another screen: each may have its own profile."""
        handle = self.windowHandle()
        if handle is not None and not self._screen_watched:
            self._screen_watched = True
            handle.screenChanged.connect(lambda _s: self._screen_moved())
            self._screen_moved()

    def _screen_moved(self) -> None:
        # Qt lists the primary screen first, as X numbers them in the common case (one row of RandR
        # outputs from the primary); a layout numbered otherwise reads its neighbour's profile
        screens = QGuiApplication.screens()
        handle = self.windowHandle()
        index = screens.index(handle.screen()) if handle is not None and handle.screen() in screens else 0
        if index != self._display_screen:
            self._display_screen = index
            if self.display_choice() == display.SYSTEM:
                self.apply_display_profile()

    def _reshow_for_display(self) -> None:
        doc = self.doc
        if doc is not None and doc.preview_linear is not None:
            self._request_before(doc, doc.preview_linear)
            self.viewer.set_detail_before(None)  # re-rendered with the crop
            self.schedule_render()
        self.flush_sidecars()
        self.filmstrip.reload_thumbnails()
        for d in self.docs.values():  # the edits as they stand here, not as a save not yet landed left them
            if d.dirty or d.saves_pending:
                self.filmstrip.refresh(d.path, d.recipe.copy())
        self.panel.reshow_variations()
