"""A dark, neutral, photo-first theme: mid-grey surfaces so the photo sets the contrast."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

BG = "#1e1e1e"        # window
SURFACE = "#262626"   # panels, cards
RAISED = "#303030"    # inputs, buttons
VIEWER = "#141414"    # behind the photo (near-black, neutral)
TEXT = "#e0e0e0"
MUTED = "#9a9a9a"
ACCENT = "#4f8fd9"    # one accent, used sparingly
PRIMARY = "#3674c0"   # the accent behind white text: 4.8:1, where the accent's 3.4:1 fell short of WCAG's 4.5

STYLESHEET = f"""
QWidget {{ font-size: 10pt; }}
QMainWindow, QDialog {{ background: {BG}; }}
QToolTip {{ color: {TEXT}; background: {RAISED}; border: 1px solid #4a4a4a; padding: 4px; }}
QTabWidget::pane {{ border: none; border-top: 1px solid #3a3a3a; }}
QTabBar::tab {{ background: transparent; color: {MUTED}; padding: 6px 10px; border: none; }}
QTabBar::tab:selected {{ color: {TEXT}; border-bottom: 2px solid {ACCENT}; }}
QTabBar::tab:disabled {{ color: #5c5c5c; }}
QPushButton {{ background: {RAISED}; color: {TEXT}; border: 1px solid #444; border-radius: 4px;
               padding: 5px 12px; }}
QPushButton:hover {{ background: #3a3a3a; }}
QPushButton:pressed {{ background: #2a2a2a; }}
QPushButton:disabled {{ color: #6a6a6a; border-color: #363636; }}
QPushButton#primary {{ background: {PRIMARY}; border-color: {PRIMARY}; color: white; font-weight: 600; }}
QPushButton#primary:hover {{ background: #3876c2; }}  /* 4.6:1 */
QPushButton#primary:disabled {{ background: #2c3540; border-color: #2c3540; color: #77808a; }}
QToolButton {{ background: transparent; color: {TEXT}; border: 1px solid transparent; border-radius: 3px;
               padding: 1px; }}
QToolButton:hover {{ background: #3a3a3a; }}
QToolButton:checked {{ background: #3d4d60; }}
QToolButton:disabled {{ color: #6a6a6a; }}
/* keyboard focus must show: the rules above replace the native focus frame (Tab gave no sign on the
   tool buttons and sliders) */
QToolButton:focus, QPushButton:focus, QDoubleSpinBox:focus, QSpinBox:focus, QLineEdit:focus,
QComboBox:focus {{ border: 1px solid {ACCENT}; }}
QPushButton#primary:focus {{ border: 1px solid white; }}
QCheckBox {{ border: 1px solid transparent; border-radius: 3px; padding: 1px; }}
QCheckBox:focus {{ border: 1px solid {ACCENT}; }}
QListWidget#filmstrip:focus {{ border-top: 1px solid {ACCENT}; }}
QFrame#card {{ background: {SURFACE}; border: 1px solid #353535; border-radius: 6px; }}
QFrame#card[disabledStep="true"] QLabel {{ color: #707070; }}
QLabel#stepTitle {{ font-weight: 600; color: {TEXT}; }}
QLabel#muted, QLabel#confidence {{ color: {MUTED}; font-size: 9pt; }}
QLabel#caption {{ color: {MUTED}; font-size: 8pt; }}
QLabel#note {{ color: {MUTED}; }}
QLabel#error {{ color: #ff8a80; }}
QScrollArea {{ border: none; background: transparent; }}
QScrollArea > QWidget > QWidget {{ background: transparent; }}
QListWidget#filmstrip {{ background: {BG}; border: none; border-top: 1px solid #333; }}
QListWidget#filmstrip::item {{ color: {MUTED}; border-radius: 4px; padding: 2px; }}
QListWidget#filmstrip::item:selected {{ background: #33475e; color: {TEXT}; }}
QDoubleSpinBox, QSpinBox, QLineEdit, QComboBox {{ background: {RAISED}; color: {TEXT};
    border: 1px solid #444; border-radius: 3px; padding: 2px 4px; selection-background-color: {ACCENT}; }}
QDoubleSpinBox, QSpinBox {{ padding-left: 6px; }}
QAbstractSpinBox::up-button, QAbstractSpinBox::down-button {{ width: 0px; border: none; }}
QDoubleSpinBox:disabled, QSpinBox:disabled, QLineEdit:disabled, QComboBox:disabled {{ color: #6a6a6a;
    background: #242424; border-color: #363636; }}
/* the theme's box leaves Qt's arrows undrawn (empty grey buttons): values are typed, or changed by
   the mouse wheel and the arrow keys, as in the step cards */
QToolButton::menu-indicator {{ image: none; width: 0px; }}
QSlider::groove:horizontal {{ height: 4px; background: #4a4a4a; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: #6f7f92; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: #d8d8d8; width: 12px; height: 12px; margin: -5px 0;
    border-radius: 6px; }}
QSlider::handle:horizontal:hover {{ background: white; }}
QSlider::handle:horizontal:focus {{ background: {ACCENT}; border: 2px solid white; width: 8px; height: 8px; }}
QSlider#temperatureSlider::groove:horizontal {{ background: qlineargradient(x1: 0, y1: 0, x2: 1, y2: 0,
    stop: 0 #4f86d9, stop: 0.5 #8a8a8a, stop: 1 #d9a13b); }}
QSlider#tintSlider::groove:horizontal {{ background: qlineargradient(x1: 0, y1: 0, x2: 1, y2: 0,
    stop: 0 #4fae57, stop: 0.5 #8a8a8a, stop: 1 #c25cc2); }}
QSlider#temperatureSlider::sub-page:horizontal, QSlider#tintSlider::sub-page:horizontal {{
    background: transparent; }}
QSlider#temperatureSlider::groove:horizontal:disabled, QSlider#tintSlider::groove:horizontal:disabled {{
    background: #4a4a4a; }}
QProgressBar {{ background: {RAISED}; border: 1px solid #444; border-radius: 3px; color: {TEXT};
    text-align: center; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 2px; }}
QStatusBar {{ color: {MUTED}; }}
QMenu {{ background: {SURFACE}; color: {TEXT}; border: 1px solid #444; }}
QMenu::item:selected {{ background: #3d4d60; }}
QMenuBar {{ background: {BG}; color: {TEXT}; }}
QMenuBar::item:selected {{ background: #3a3a3a; }}
QSplitter::handle {{ background: #2c2c2c; }}
QScrollBar:vertical {{ background: transparent; width: 10px; margin: 0; }}
QScrollBar::handle:vertical {{ background: #4a4a4a; border-radius: 4px; min-height: 24px; margin: 1px; }}
QScrollBar::handle:vertical:hover {{ background: #5a5a5a; }}
QScrollBar:horizontal {{ background: transparent; height: 10px; margin: 0; }}
QScrollBar::handle:horizontal {{ background: #4a4a4a; border-radius: 4px; min-width: 24px; margin: 1px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: transparent; }}
QGroupBox {{ color: {MUTED}; border: 1px solid #3a3a3a; border-radius: 4px; margin-top: 8px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 3px; }}
"""


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: BG, QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: RAISED, QPalette.ColorRole.AlternateBase: SURFACE,
        QPalette.ColorRole.ToolTipBase: RAISED, QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.Text: TEXT, QPalette.ColorRole.Button: RAISED,
        QPalette.ColorRole.ButtonText: TEXT, QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: ACCENT, QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: ACCENT, QPalette.ColorRole.PlaceholderText: MUTED,
        QPalette.ColorRole.Mid: "#3a3a3a", QPalette.ColorRole.Dark: "#151515",
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6a6a6a"))
    app.setPalette(pal)
    app.setStyleSheet(STYLESHEET)
