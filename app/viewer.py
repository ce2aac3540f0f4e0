"""The central photo viewer: fit / 100 % zoom, pan, wheel zoom, and a before/after split line.

Coordinates: everything is kept in *full-resolution image pixels*; the screen-size preview
(and the embedded JPEG before it) are stretched over the full image rectangle, and a
full-resolution ``detail`` crop is drawn on top when zoomed in past the preview's resolution.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from . import theme
from .display import to_screen

MIN_SCALE, MAX_SCALE = 0.02, 8.0


def _pixmap(img: QImage) -> QPixmap:
    """``img`` on screen: converted on its worker already (the render thread), so this is a check;
    it converts only what was made under a display profile changed since."""
    return QPixmap.fromImage(to_screen(img))


class Viewer(QWidget):
    viewChanged = Signal()      # zoom or pan moved (debounced): time to ask for a detail crop
    zoomChanged = Signal(float)  # device pixels per image pixel
    splitToggled = Signal(bool)
    picked = Signal(QPointF)    # pick mode: the image pixel clicked (full-resolution coordinates)
    pickCancelled = Signal()    # pick mode left without a click (Esc, a right click)
    pickHovered = Signal(object)  # pick mode: the image pixel under the cursor (QPointF), None off the photo

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._kb_focus = False
        self.full = QSize()                  # image size in full-resolution pixels
        self.after: QPixmap | None = None
        self.before: QPixmap | None = None
        self.detail: tuple[QPixmap, QRectF] | None = None
        self.detail_before: tuple[QPixmap, QRectF] | None = None
        self.after_clipped: QPixmap | None = None   # View ▸ Show Clipping: drawn over ``after``
        self.detail_clipped: QPixmap | None = None  # and over ``detail``
        self.finest_preview: float | None = None  # finest preview level, in its pixels per image pixel
        self.message = "Open a photo or a folder (Ctrl+O), or drop one here"
        self.notice = ""  # over the photo, bottom centre: why the edits do not show yet ("Loading…")
        self.fit = True
        self.scale = 1.0
        self.center = QPointF()
        self.split = False
        self.split_x = 0.5                   # fraction of the widget's width
        self._drag: str | None = None        # "pan" | "split"
        self.picking = False                 # the next left click picks a spot instead of panning
        self._picked = False                 # the last press picked: its double click does not zoom
        self._last = QPointF()
        self._debounce = QTimer(self, singleShot=True, interval=60)
        self._debounce.timeout.connect(self.viewChanged)

    # -- content -------------------------------------------------------------------------
    def set_photo(self, full: QSize, after: QImage | None, before: QImage | None = None) -> None:
        """A new photo: reset to fit. ``after``/``before`` may be the embedded preview."""
        self.full = QSize(full)
        self.detail = self.detail_before = None
        self.after_clipped = self.detail_clipped = None
        self.finest_preview = None
        self.after = _pixmap(after) if after is not None else None
        self.before = _pixmap(before) if before is not None else self.after
        self.message = ""
        self.notice = ""
        self.fit = True
        self._fit_now()
        self.update()

    def set_full(self, full: QSize) -> None:
        """The real size is known (decoded): keep the view, refit if fitting."""
        self.full = QSize(full)
        if self.fit:
            self._fit_now()
        else:
            self._clamp()
        self.update()

    def set_after(self, img: QImage, clipped: QImage | None = None) -> None:
        self.after = _pixmap(img)
        self.set_clipped(clipped)

    def set_clipped(self, clipped: QImage | None) -> None:
        """The clipping overlay of ``after`` (None: none shown)."""
        self.after_clipped = None if clipped is None else QPixmap.fromImage(clipped)
        self.update()

    def set_before(self, img: QImage) -> None:
        self.before = _pixmap(img)
        self.update()

    def set_detail(self, img: QImage | None, rect: QRectF | None = None, clipped: QImage | None = None) -> None:
        self.detail = None if img is None or rect is None else (_pixmap(img), QRectF(rect))
        self.detail_clipped = None if self.detail is None or clipped is None else QPixmap.fromImage(clipped)
        self.update()

    def hide_clipping(self) -> None:
        self.after_clipped = self.detail_clipped = None
        self.update()

    def set_detail_before(self, img: QImage | None, rect: QRectF | None = None) -> None:
        """The unedited photo's full-resolution crop, for the Before side of a zoomed-in split: it
        compared a stretched preview with a sharp After, as if the edit had sharpened the photo."""
        self.detail_before = None if img is None or rect is None else (_pixmap(img), QRectF(rect))
        self.update()

    def clear(self, message: str) -> None:
        self.after = self.before = None
        self.detail = self.detail_before = None
        self.after_clipped = self.detail_clipped = None
        self.full = QSize()
        self.message = message
        self.notice = ""
        self.update()

    def set_notice(self, text: str) -> None:
        """A line over the photo saying why it is not the rendered edit yet ("" removes it): as
        Lightroom's "Loading…" over a preview still being built."""
        if text != self.notice:
            self.notice = text
            self.update()

    def has_image(self) -> bool:
        return self.after is not None and not self.full.isEmpty()

    # -- geometry ------------------------------------------------------------------------
    def fit_scale(self) -> float:
        if self.full.isEmpty():
            return 1.0
        return min((self.width() - 16) / self.full.width(), (self.height() - 16) / self.full.height())

    def _fit_now(self) -> None:
        if self.full.isEmpty():
            return
        self.scale = max(MIN_SCALE, self.fit_scale())
        self.center = QPointF(self.full.width() / 2, self.full.height() / 2)
        self._changed()

    def image_rect(self) -> QRectF:
        """The full image's rectangle in widget coordinates, its corner on a whole device pixel:
        at y = 11.83 a preview of the on-screen size was resampled anyway (87 % of its detail)."""
        s, dpr = self.scale, self.devicePixelRatioF()
        x0 = round((self.width() / 2 - self.center.x() * s) * dpr) / dpr
        y0 = round((self.height() / 2 - self.center.y() * s) * dpr) / dpr
        return QRectF(x0, y0, self.full.width() * s, self.full.height() * s)

    def to_image(self, p: QPointF) -> QPointF:
        r = self.image_rect()
        return QPointF((p.x() - r.x()) / self.scale, (p.y() - r.y()) / self.scale)

    def visible_rect(self) -> QRectF:
        """The part of the image on screen, in full-resolution pixels."""
        tl = self.to_image(QPointF(0, 0))
        br = self.to_image(QPointF(self.width(), self.height()))
        return QRectF(tl, br).intersected(QRectF(0, 0, self.full.width(), self.full.height()))

    def preview_scale(self) -> float:
        """Preview pixels per full-resolution pixel."""
        if self.after is None or self.full.isEmpty():
            return 1.0
        return self.after.width() / self.full.width()

    def device_scale(self) -> float:
        """Device pixels per image pixel: ``scale`` is in logical pixels, 2 device pixels each on a
        screen scaled to 200 %."""
        return self.scale * self.devicePixelRatioF()

    def needs_detail(self) -> bool:
        """Zoomed past the finest preview's resolution (in device pixels: at 200 % a fitted photo on
        a 4K screen was the 2048 px preview stretched), and that is not already full resolution."""
        ps = self.finest_preview or self.preview_scale()
        return self.has_image() and ps < 0.999 and self.device_scale() > ps * 1.001

    def set_fit(self) -> None:
        self.fit = True
        self._fit_now()
        self.update()

    def set_zoom(self, scale: float, anchor: QPointF | None = None) -> None:
        if self.full.isEmpty():
            return
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        before = self.to_image(anchor)
        self.scale = min(MAX_SCALE, max(MIN_SCALE, scale))
        self.fit = False
        after = self.to_image(anchor)
        self.center += before - after
        self._clamp()
        self._changed()
        self.update()

    def zoom_100(self) -> None:
        """One image pixel per device pixel, what checking focus needs (not per logical pixel)."""
        self.set_zoom(1.0 / self.devicePixelRatioF())

    def set_split(self, on: bool) -> None:
        if on != self.split:
            self.split = on
            self.splitToggled.emit(on)
            self.update()

    def toggle_split(self) -> None:
        self.set_split(not self.split)

    def move_split(self, delta: float) -> None:
        """Move the Before / After line by ``delta`` of the photo's width (kept on it)."""
        if self.split:
            self.split_x = min(max(self.split_x + delta, 0.0), 1.0)
            self.update()

    def _clamp(self) -> None:
        w, h = self.full.width(), self.full.height()
        half_w, half_h = self.width() / 2 / self.scale, self.height() / 2 / self.scale
        cx = w / 2 if half_w * 2 >= w else min(max(self.center.x(), half_w), w - half_w)
        cy = h / 2 if half_h * 2 >= h else min(max(self.center.y(), half_h), h - half_h)
        self.center = QPointF(cx, cy)

    def _changed(self) -> None:
        self.zoomChanged.emit(self.device_scale())
        self._debounce.start()

    # -- events --------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        if self.fit:
            self._fit_now()
        else:
            self._clamp()
            self._changed()
        super().resizeEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps and self.has_image():
            self.set_zoom(self.scale * (1.25 ** steps), event.position())

    def _near_split(self, x: float) -> bool:
        return self.split and abs(x - self.split_x * self.width()) < 8

    # -- pick mode (the white balance selector) ------------------------------------------
    def start_pick(self) -> None:
        """The next left click on the photo emits ``picked`` (a right click or Esc cancels);
        the wheel and the keys still zoom and pan, to find the spot."""
        self.picking = True
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setFocus(Qt.FocusReason.OtherFocusReason)  # for Esc

    def stop_pick(self, *, cancelled: bool = False) -> None:
        if not self.picking:
            return
        self.picking = False
        self.setCursor(Qt.CursorShape.ArrowCursor)
        if cancelled:
            self.pickCancelled.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._picked = False
        if self.picking:
            if event.button() == Qt.MouseButton.LeftButton and self.has_image():
                self.stop_pick()
                self._picked = True
                self.picked.emit(self.to_image(event.position()))
            elif event.button() == Qt.MouseButton.RightButton:
                self.stop_pick(cancelled=True)
            return
        if event.button() != Qt.MouseButton.LeftButton or not self.has_image():
            return
        self._drag = "split" if self._near_split(event.position().x()) else "pan"
        self._last = event.position()
        self.setCursor(Qt.CursorShape.SplitHCursor if self._drag == "split" else Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._drag == "split":
            self.split_x = min(max(pos.x() / max(1, self.width()), 0.0), 1.0)
            self.update()
        elif self._drag == "pan":
            delta, self._last = (self._last - pos) / self.scale, pos
            self.fit = False
            self._pan(delta)
        elif self.picking:
            self.setCursor(Qt.CursorShape.CrossCursor)
            at = self.to_image(pos)
            on = self.has_image() and 0 <= at.x() < self.full.width() and 0 <= at.y() < self.full.height()
            self.pickHovered.emit(at if on else None)
        else:
            self.setCursor(Qt.CursorShape.SplitHCursor if self._near_split(pos.x()) else Qt.CursorShape.ArrowCursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag = None
        self.setCursor(Qt.CursorShape.CrossCursor if self.picking else Qt.CursorShape.ArrowCursor)

    def leaveEvent(self, event) -> None:
        if self.picking:
            self.pickHovered.emit(None)  # the readout is of the spot under the cursor, and there is none
        super().leaveEvent(event)

    def focusInEvent(self, event) -> None:
        # an edge shows that the arrows now pan, only when Tab brought the focus: on a click it
        # would read as a glitch
        self._kb_focus = event.reason() in (Qt.FocusReason.TabFocusReason, Qt.FocusReason.BacktabFocusReason)
        self.update()
        super().focusInEvent(event)

    def focusOutEvent(self, event) -> None:
        self._kb_focus = False
        self.update()
        super().focusOutEvent(event)

    def keyPressEvent(self, event) -> None:
        """Arrows pan a zoomed photo by a tenth of the view (Shift: half); only the mouse could.
        (Alt+Left/Right move the Before / After line: the window's View menu.)"""
        if self.picking and event.key() == Qt.Key.Key_Escape:
            self.stop_pick(cancelled=True)
            return
        arrows = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}
        mods = event.modifiers()
        if event.key() not in arrows or not self.has_image() or mods & Qt.KeyboardModifier.ControlModifier:
            super().keyPressEvent(event)  # Ctrl+arrows are the window's (next / previous photo)
            return
        dx, dy = arrows[event.key()]
        k = 0.5 if mods & Qt.KeyboardModifier.ShiftModifier else 0.1
        self._pan(QPointF(dx * self.width() * k / self.scale, dy * self.height() * k / self.scale))

    def _pan(self, delta: QPointF) -> None:
        """Move the view by ``delta`` image pixels, kept on the photo."""
        self.center += delta
        self._clamp()
        self._changed()
        self.update()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if not self.has_image() or self._picked or self.picking:
            return
        if self.fit:
            self.set_zoom(1.0 / self.devicePixelRatioF(), event.position())
        else:
            self.set_fit()

    # -- painting ------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(theme.VIEWER))
        if not self.has_image():
            p.setPen(QColor(theme.MUTED))
            f = QFont(self.font())
            f.setPointSizeF(f.pointSizeF() * 1.3)
            p.setFont(f)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
            return
        # smoothed below 2 device pixels per image pixel; from there on each pixel shows as a block
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.device_scale() < 2.0)
        target = self.image_rect()
        if self.split and self.before is not None:
            sx = self.split_x * self.width()
            p.save()
            p.setClipRect(QRectF(0, 0, sx, self.height()))
            p.drawPixmap(target, self.before, QRectF(self.before.rect()))
            if self.detail_before is not None:
                self._draw_detail(p, self.detail_before)
            p.restore()
            p.save()
            p.setClipRect(QRectF(sx, 0, self.width() - sx, self.height()))
            self._draw_after(p, target)
            p.restore()
            p.setPen(QPen(QColor(255, 255, 255, 220), 1.5))
            p.drawLine(QPointF(sx, 0), QPointF(sx, self.height()))
            top = max(8.0, target.top() + 8)
            self._label(p, "Before", QPointF(sx - 8, top), right=True)
            self._label(p, "After", QPointF(sx + 8, top), right=False)
        else:
            self._draw_after(p, target)
        if self.notice:
            self._draw_notice(p)
        if self._kb_focus and self.hasFocus():
            p.setPen(QPen(QColor(theme.ACCENT), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(self.rect()).adjusted(1, 1, -1, -1))

    def _draw_after(self, p: QPainter, target: QRectF) -> None:
        assert self.after is not None
        p.drawPixmap(target, self.after, QRectF(self.after.rect()))
        if self.after_clipped is not None:
            p.drawPixmap(target, self.after_clipped, QRectF(self.after_clipped.rect()))
        if self.detail is not None:
            self._draw_detail(p, self.detail, self.detail_clipped)

    def _draw_detail(self, p: QPainter, detail: tuple[QPixmap, QRectF], clipped: QPixmap | None = None) -> None:
        pix, rect = detail
        r = self.image_rect()
        dst = QRectF(r.x() + rect.x() * self.scale, r.y() + rect.y() * self.scale,
                     rect.width() * self.scale, rect.height() * self.scale)
        p.drawPixmap(dst, pix, QRectF(pix.rect()))
        if clipped is not None:  # the crop's own marks, over the preview's coarser ones
            p.drawPixmap(dst, clipped, QRectF(clipped.rect()))

    def _draw_notice(self, p: QPainter) -> None:
        fm = p.fontMetrics()
        # 4 px to spare: at its exact width the word wrap broke a short line in two
        width = min(fm.horizontalAdvance(self.notice) + 28, int(self.width() * 0.8))
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        text = fm.boundingRect(0, 0, width - 24, 1000, flags, self.notice)
        box = QRectF((self.width() - width) / 2, self.height() - text.height() - 36, width, text.height() + 14)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 170))
        p.drawRoundedRect(box, 6, 6)
        p.setPen(QColor("#f0f0f0"))
        p.drawText(box.adjusted(12, 7, -12, -7), flags, self.notice)

    def _label(self, p: QPainter, text: str, at: QPointF, *, right: bool) -> None:
        fm = p.fontMetrics()
        w, h = fm.horizontalAdvance(text) + 12, fm.height() + 6
        box = QRectF(at.x() - w if right else at.x(), at.y(), w, h)
        p.fillRect(box, QColor(0, 0, 0, 150))
        p.setPen(QColor("#f0f0f0"))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
