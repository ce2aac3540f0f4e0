"""The Retouch tab: Auto, variations, the style selector, the step list and "add step"."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.filters import REGISTRY
from engine.recipe import Step
from engine.styles import is_user_style

from .commands import InsertStep
from .controls import FocusSlider, commit_typing
from .display import to_screen
from .document import PhotoDoc
from .steps import StepList

N_VARIATIONS = 4


STYLE_TIP = "The model Auto uses: the shipped one or a style trained with Learn My Style (`retouch train-style`)"

class StyleBox(QComboBox):
    """The Style list; it asks to be refilled each time it opens (styles made, renamed or deleted
    by ``retouch train-style`` or ``retouch styles`` while the app runs appear)."""

    aboutToPopup = Signal()

    def showPopup(self) -> None:
        self.aboutToPopup.emit()
        super().showPopup()


class RetouchPanel(QWidget):
    autoRequested = Signal()
    variationsRequested = Signal()
    variationChosen = Signal(int)
    variationHovered = Signal(int)  # the variation under the pointer, -1 when none (shown large meanwhile)
    styleChanged = Signal(object)  # Path | None
    styleAction = Signal(str)  # "learn", "rename", "delete", "import" or "folder", from the style menu
    stylesWanted = Signal()  # the Style list or its menu opens: refill it from the folders
    strengthChanged = Signal(float)  # 0..1.5, on release (or a key press)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 4, 8)
        lay.setSpacing(8)
        row = QHBoxLayout()
        self.auto = QPushButton("Auto")
        self.auto.setObjectName("primary")
        self.auto.setToolTip("Let the agent predict an edit for this photo (Ctrl+Shift+A)")
        self.auto.setMinimumHeight(32)
        self.auto.clicked.connect(self.autoRequested)
        self.vary = QPushButton("Variations")
        self.vary.setToolTip(f"Show {N_VARIATIONS} alternative edits; click one to adopt it")
        self.vary.setMinimumHeight(32)
        self.vary.clicked.connect(self.variationsRequested)
        for b in (self.auto, self.vary):  # disabled while they work: a clicked one passed its focus on
            b.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        row.addWidget(self.auto, 2)
        row.addWidget(self.vary, 1)
        lay.addLayout(row)
        srow = QHBoxLayout()
        style_label = QLabel("Style")
        srow.addWidget(style_label)
        self.style_box = StyleBox()
        self.style_box.setAccessibleName("Style")  # read by its value alone ("Default") before
        style_label.setBuddy(self.style_box)
        self.style_box.aboutToPopup.connect(self.stylesWanted)
        self.style_box.setToolTip(STYLE_TIP)
        self.style_box.currentIndexChanged.connect(lambda i: self.styleChanged.emit(self.style_box.itemData(i)))
        self.style_box.currentIndexChanged.connect(self._style_menu_state)
        srow.addWidget(self.style_box, 1)
        self.style_btn = QToolButton()  # the photographer's styles: like Lightroom's preset menu
        self.style_btn.setText("⋯")
        self.style_btn.setToolTip("Learn, rename, delete or import styles")
        self.style_btn.setAccessibleName("Style actions")
        self.style_btn.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.style_btn)
        menu.aboutToShow.connect(self.stylesWanted)
        self.style_acts = {}
        for key, text in (("learn", "Learn My Style…"), ("rename", "Rename Style…"), ("delete", "Delete Style…"),
                          ("import", "Import a Style…"), ("folder", "Open the Styles Folder")):
            if key in ("rename", "import"):
                menu.addSeparator()
            self.style_acts[key] = menu.addAction(text, lambda key=key: self.styleAction.emit(key))
        self.style_btn.setMenu(menu)
        srow.addWidget(self.style_btn)
        lay.addLayout(srow)
        krow = QHBoxLayout()
        krow.addWidget(QLabel("Strength"))
        self.strength = FocusSlider(Qt.Orientation.Horizontal)
        self.strength.setRange(0, 150)
        self.strength.setAccessibleName("Strength")
        self.strength.setSingleStep(5)
        self.strength.setPageStep(10)
        self.strength.setToolTip("How far Auto's learned steps go: 100 % is what the agent predicted, 0 % keeps "
                                 "only the measured steps (exposure, white balance, gamma). Changes the current Auto "
                                 "result and the next ones.")
        self.strength_label = QLabel()
        self.strength_label.setMinimumWidth(40)
        self.strength_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.strength.valueChanged.connect(self._strength_moved)
        self.strength.sliderReleased.connect(lambda: self.strengthChanged.emit(self.strength.value() / 100))
        krow.addWidget(self.strength, 1)
        krow.addWidget(self.strength_label)
        lay.addLayout(krow)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.status.hide()  # shown with news only: an empty line took the steps' room
        lay.addWidget(self.status)
        # variations strip (hidden until asked for)
        self.var_box = QWidget()
        outer = QVBoxLayout(self.var_box)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        vhead = QHBoxLayout()
        vnote = QLabel("At full strength: point to preview, click to adopt")
        vnote.setObjectName("muted")
        vnote.setWordWrap(True)  # never wider than the panel
        vhead.addWidget(vnote, 1)
        hide = QToolButton(text="Hide")
        hide.setToolTip("Hide the variations")
        hide.clicked.connect(lambda: self.var_box.hide())
        vhead.addWidget(hide)
        outer.addLayout(vhead)
        # one row of small tiles: the photo itself shows the one pointed at, so the tiles need only be
        # told apart, and the steps keep their room (a 2 x 2 of 150 px left one card in view at 900 px)
        vlay = QGridLayout()
        vlay.setSpacing(4)
        vlay.setVerticalSpacing(1)
        outer.addLayout(vlay)
        self.var_buttons: list[QToolButton] = []
        self.var_captions: list[QLabel] = []
        self.var_images: list[QImage | None] = []  # what they show, in the profile they were shown through
        for i in range(N_VARIATIONS):
            b = QToolButton()
            b.setIconSize(QSize(72, 48))
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
            b.setText(f"#{i + 1}")  # read by screen readers; the caption below shows it
            b.setToolTip("Shown in the photo while the pointer is here; click to adopt this variation (undoable)")
            b.clicked.connect(lambda _=False, i=i: self.variationChosen.emit(i))
            b.installEventFilter(self)
            cap = QLabel(f"#{i + 1}")
            cap.setObjectName("caption")
            cap.setWordWrap(True)
            cap.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            vlay.addWidget(b, 0, i, Qt.AlignmentFlag.AlignHCenter)
            vlay.addWidget(cap, 1, i)
            vlay.setColumnStretch(i, 1)
            self.var_buttons.append(b)
            self.var_captions.append(cap)
        self.var_box.hide()
        self.var_box.installEventFilter(self)  # hidden (Hide, adopted, another photo): none is pointed at
        lay.addWidget(self.var_box)
        head = QHBoxLayout()
        steps_label = QLabel("Steps")
        steps_label.setObjectName("stepTitle")
        head.addWidget(steps_label)
        head.addStretch(1)
        self.add_btn = QToolButton(text="+ Add step")
        self.add_btn.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_btn.setToolTip("Add a filter as a step at the end, to edit by hand")
        self.add_menu = QMenu(self.add_btn)
        for op, spec in REGISTRY.items():
            act = self.add_menu.addAction(spec.label, lambda op=op: self.add_step(op))
            act.setToolTip(spec.description)
        self.add_btn.setMenu(self.add_menu)
        head.addWidget(self.add_btn)
        lay.addLayout(head)
        self.steps = StepList()
        self.steps.tab_anchor = self.add_btn
        self.steps.setMinimumHeight(240)  # a curve card whole: below that, the panel itself scrolls
        lay.addWidget(self.steps, 1)
        self.doc: PhotoDoc | None = None
        self.set_doc(None)

    def set_models(self, models: list[Path], current: Path | None) -> None:
        self.style_box.blockSignals(True)
        self.style_box.clear()
        if not models:
            self.style_box.addItem("Built-in", None)
        for m in models:
            # a style of yours by its own name (what Rename shows and --model takes); shipped ones prettified
            label = m.stem if is_user_style(m) else (
                "Default" if m.stem == "retouch" else m.stem.removeprefix("retouch_").replace("_", " "))
            self.style_box.addItem(label, m)
            self.style_box.setItemData(self.style_box.count() - 1, str(m), Qt.ItemDataRole.ToolTipRole)
            if current is not None and Path(current) == m:
                self.style_box.setCurrentIndex(self.style_box.count() - 1)
        # enabled with the built-in style alone too: greyed out, it looked broken
        self.style_box.setToolTip(STYLE_TIP if len(models) > 1 else
                                  STYLE_TIP + ". Only the built-in style so far: ⋯ ▸ Learn My Style… makes your own")
        self.style_box.blockSignals(False)
        self._style_menu_state()

    def current_style(self) -> Path | None:
        return self.style_box.currentData()

    def _style_menu_state(self, *_: object) -> None:
        """Rename and Delete act on the style shown, and only on the photographer's own."""
        model = self.current_style()
        mine = model is not None and is_user_style(model)
        for key in ("rename", "delete"):
            self.style_acts[key].setEnabled(mine)

    def set_strength(self, amount: float) -> None:
        self.strength.blockSignals(True)
        self.strength.setValue(round(100 * amount))
        self.strength.blockSignals(False)
        self.strength_label.setText(f"{self.strength.value()} %")

    def _strength_moved(self, value: int) -> None:
        self.strength_label.setText(f"{value} %")
        if not self.strength.isSliderDown():  # keyboard, wheel or a click on the groove
            self.strengthChanged.emit(value / 100)

    def set_doc(self, doc: PhotoDoc | None) -> None:
        self.doc = doc
        for w in (self.auto, self.vary, self.add_btn):
            w.setEnabled(doc is not None)
        self.var_box.hide()
        self.steps.set_doc(doc)
        if doc is None:  # a photo that cannot be opened: the last photo's news does not stand over it
            self.set_busy("")

    def set_busy(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def show_variations(self, images: list[QImage | None], words: list[str] | None = None) -> None:
        """The thumbnails, each captioned with how it differs from the others (``engine.looks``)."""
        words = words or [""] * len(images)
        self.var_images = list(images)
        for i, (b, cap, img, w) in enumerate(zip(self.var_buttons, self.var_captions, images, words)):
            b.setText(f"#{i + 1}\n{w}" if w else f"#{i + 1}")
            cap.setText(b.text())
            if img is None:
                b.setIcon(QIcon())
                b.setEnabled(False)
            else:
                b.setIcon(QIcon(QPixmap.fromImage(to_screen(img))))  # a profile changed while they were made
                b.setEnabled(True)
        self.var_box.show()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if watched is self.var_box and kind == QEvent.Type.Hide:
            self.variationHovered.emit(-1)
        elif watched in self.var_buttons and kind in (QEvent.Type.Enter, QEvent.Type.Leave, QEvent.Type.FocusIn,
                                                      QEvent.Type.FocusOut):
            # pointed at, or reached with Tab: the photo shows it (it took a mouse before)
            on = kind in (QEvent.Type.Enter, QEvent.Type.FocusIn) and watched.isEnabled()
            self.variationHovered.emit(self.var_buttons.index(watched) if on else -1)
        return super().eventFilter(watched, event)

    def reshow_variations(self) -> None:
        """The thumbnails shown through the screen's profile again (it changed): each is converted
        from the profile it was shown through (``app.display.to_screen``)."""
        for b, img in zip(self.var_buttons, self.var_images):
            if img is not None:
                b.setIcon(QIcon(QPixmap.fromImage(to_screen(img))))

    def add_step(self, op: str) -> None:
        commit_typing()  # the list is rebuilt: a value typed and not entered goes onto its own step first
        if self.doc is not None:
            from_button = self.add_btn.hasFocus()  # chosen from its menu, by keyboard or mouse
            self.doc.undo.push(InsertStep(self.doc, len(self.doc.recipe), Step.default(op)))
            card = self.steps.cards[-1] if self.steps.cards else None
            if from_button and card is not None:  # the new step's first control, to set at once: the
                first = next(iter(card.controls.values()), card.enable)  # keyboard stayed on + Add step (QA)
                stops = [w for w in (first, *first.findChildren(QWidget))  # a slider, a curve's R button
                         if w.focusPolicy() & Qt.FocusPolicy.TabFocus]
                (stops[0] if stops else card.enable).setFocus(Qt.FocusReason.OtherFocusReason)
                QTimer.singleShot(0, self.steps, self.steps.show_focus)
