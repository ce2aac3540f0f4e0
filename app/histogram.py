"""An RGB + luminance histogram of the displayed render (counted by the render worker).

The R, G, B areas are rasterised with numpy into one image per new histogram and the luma
curve is one polyline, instead of four 256-point antialiased paths filled with a Plus
composition on every paint: ~2.5 ms of the GUI thread after each slider move, most of it
building the paths point by point in Python.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from . import theme

BACKGROUND = (0x18, 0x18, 0x18)
GUIDE = (0x2E, 0x2E, 0x2E)
#: R, G, B fills: colour x alpha (150/255), added to what is below (the old Plus composition)
FILLS = np.array([[200, 60, 60], [60, 180, 60], [70, 100, 230]], np.float32) * (150 / 255)


def columns(counts: np.ndarray, width: int, height: int) -> np.ndarray:
    """(4, 256) counts -> (4, width) heights in pixels: sqrt scale, normalised ignoring the end
    bins (clipping spikes must not flatten the rest)."""
    c = np.sqrt(counts.astype(np.float32))
    v = np.minimum(c / max(1.0, float(c[:, 1:255].max())), 1.0)
    pos = np.linspace(0.0, 255.0, width, dtype=np.float32)
    i = np.minimum(pos.astype(np.int32), 254)
    f = pos - i
    return (v[:, i] * (1 - f) + v[:, i + 1] * f) * np.float32(height - 4)


def raster(tops: np.ndarray, height: int) -> np.ndarray:
    """The R, G, B areas under ``tops`` (from :func:`columns`) -> (height, width, 3) uint8:
    added together over the background and the quarter-tone guides, edges antialiased by
    pixel coverage."""
    width = tops.shape[1]
    rows = np.arange(height - 1, -1, -1, dtype=np.float32)[:, None]  # each row's height above the bottom
    cover = tops[:3, None, :] - rows  # (3, H, W) coverage of the filled areas
    np.minimum(np.maximum(cover, 0.0, out=cover), 1.0, out=cover)  # np.clip costs ~5x more here
    img = (cover.reshape(3, -1).T @ FILLS).reshape(height, width, 3)
    img += np.asarray(BACKGROUND, np.float32) + 0.5
    for q in range(1, 4):  # quarter-tone guides, behind the fills
        img[:, min(width - 1, round(width * q / 4)), :] += np.asarray(GUIDE, np.float32) - BACKGROUND
    return np.minimum(img, 255.0, out=img).astype(np.uint8)


#: The histogram repaints this long after new counts arrive (coalesced): the preview's frame goes
#: out first, and while a slider is dragged the histogram follows at up to ~30 fps.
PAINT_DELAY_MS = 30


class Histogram(QWidget):
    clicked = Signal()  # as Lightroom's histogram: shows or hides the clipping in the photo

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.counts: np.ndarray | None = None
        self._image: tuple[QImage, QPolygonF] | None = None
        self._paint_timer = QTimer(self, singleShot=True, interval=PAINT_DELAY_MS)
        self._paint_timer.timeout.connect(self.update)
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Histogram of the edited photo (R, G, B and luminance). Marks at the ends show "
                        "clipped shadows or highlights; click to show them in the photo (View ▸ Show Clipping, J).")
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()

    def sizeHint(self) -> QSize:
        return QSize(280, 100)

    def set_counts(self, counts: np.ndarray | None) -> None:
        """New counts (read at once by :meth:`clipped`); the repaint follows ``PAINT_DELAY_MS`` later."""
        self.counts = counts
        self._image = None
        if not self._paint_timer.isActive():
            self._paint_timer.start()

    def clipped(self) -> tuple[float, float]:
        """Fraction of pixels at 0 and at 255 in luminance."""
        if self.counts is None:
            return 0.0, 0.0
        lum = self.counts[3]
        n = max(1, int(lum.sum()))
        return float(lum[0]) / n, float(lum[255]) / n

    def _graph(self, r: QRect) -> tuple[QImage, QPolygonF]:
        """The filled areas as an image and the luma curve as a polygon, in ``r``; kept until
        the counts or the size change."""
        dpr = self.devicePixelRatioF()
        w, h = max(2, round(r.width() * dpr)), max(2, round(r.height() * dpr))
        if self._image is None or self._image[0].width() != w or self._image[0].height() != h:
            tops = columns(self.counts, w, h)
            rgb = raster(tops, h)
            img = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()  # copy: owns its bytes
            img.setDevicePixelRatio(dpr)
            xs = (r.left() + np.arange(w) / dpr).tolist()
            ys = (r.top() + (h - 1 - tops[3]) / dpr).tolist()
            self._image = img, QPolygonF([QPointF(x, y) for x, y in zip(xs, ys)])
        return self._image

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        r = self.rect().adjusted(1, 1, -1, -1)
        if self.counts is None:
            p.fillRect(r, QColor(*BACKGROUND))
            p.setPen(QColor(theme.MUTED))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "Histogram")
            return
        img, luma = self._graph(r)
        p.drawImage(r.topLeft(), img)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(230, 230, 230, 170), 1))
        p.drawPolyline(luma)
        lo, hi = self.clipped()
        for frac, x in ((lo, r.left() + 3), (hi, r.right() - 9)):
            if frac > 0.005:
                p.fillRect(int(x), r.top() + 3, 6, 6, QColor("#ff5252"))
