"""An RGB + luminance histogram of the displayed render (counted by the render worker).

The graph is rasterised with numpy into one image per new histogram (~0.3 ms) instead of
being stroked as four 256-point antialiased paths on every paint (~2.5 ms of the GUI thread
after each slider move, most of it building the paths point by point in Python).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from . import theme

BACKGROUND = (0x18, 0x18, 0x18)
GUIDE = (0x2E, 0x2E, 0x2E)
#: R, G, B fills: colour x alpha (150/255), added to what is below (the old Plus composition)
FILLS = np.array([[200, 60, 60], [60, 180, 60], [70, 100, 230]], np.float32) * (150 / 255)
LUMA = (np.array([230, 230, 230], np.float32), 170 / 255)


def raster(counts: np.ndarray, width: int, height: int) -> np.ndarray:
    """(4, 256) counts -> (height, width, 3) uint8 RGB graph: sqrt scale, normalised ignoring the
    end bins (clipping spikes must not flatten the rest), filled R, G, B areas added together,
    the luma curve as a 1 px line on top. Edges are antialiased by pixel coverage."""
    c = np.sqrt(counts.astype(np.float32))
    v = np.minimum(c / max(1.0, float(c[:, 1:255].max())), 1.0)
    pos = np.linspace(0.0, 255.0, width, dtype=np.float32)
    i = np.minimum(pos.astype(np.int32), 254)
    f = pos - i
    tops = (v[:, i] * (1 - f) + v[:, i + 1] * f) * np.float32(height - 4)  # (4, W) heights in pixels
    rows = np.arange(height - 1, -1, -1, dtype=np.float32)[:, None]  # each row's height above the bottom
    cover = _unit(tops[:3, None, :] - rows)  # (3, H, W) coverage of the filled areas
    img = (cover.reshape(3, -1).T @ FILLS).reshape(height, width, 3)
    img += np.asarray(BACKGROUND, np.float32)
    for q in range(1, 4):  # quarter-tone guides, behind the fills
        img[:, min(width - 1, round(width * q / 4)), :] += np.asarray(GUIDE, np.float32) - BACKGROUND
    # the luma line spans each column's height to halfway to its neighbours', so steep parts stay joined
    lum = tops[3]
    left, right = np.r_[lum[0], lum[:-1]], np.r_[lum[1:], lum[-1]]
    lo = np.minimum(lum, np.minimum(left, right) * 0.5 + lum * 0.5)
    hi = np.maximum(lum, np.maximum(left, right) * 0.5 + lum * 0.5)
    line = _unit(np.minimum(rows - lo + 1.0, hi - rows + 1.0)) * np.float32(LUMA[1])
    img += line[..., None] * (LUMA[0] - img)
    img += 0.5
    return np.minimum(img, 255.0, out=img).astype(np.uint8)  # >= 0: every term is


def _unit(x: np.ndarray) -> np.ndarray:
    """Clamp to [0, 1] in place (np.clip costs ~5x more on arrays this small)."""
    return np.minimum(np.maximum(x, 0.0, out=x), 1.0, out=x)


class Histogram(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.counts: np.ndarray | None = None
        self._image: QImage | None = None
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Histogram of the edited photo (R, G, B and luminance). "
                        "Marks at the ends show clipped shadows or highlights.")

    def sizeHint(self) -> QSize:
        return QSize(280, 100)

    def set_counts(self, counts: np.ndarray | None) -> None:
        self.counts = counts
        self._image = None
        self.update()

    def clipped(self) -> tuple[float, float]:
        """Fraction of pixels at 0 and at 255 in luminance."""
        if self.counts is None:
            return 0.0, 0.0
        lum = self.counts[3]
        n = max(1, int(lum.sum()))
        return float(lum[0]) / n, float(lum[255]) / n

    def _graph(self, r: QRect) -> QImage:
        dpr = self.devicePixelRatioF()
        w, h = max(2, round(r.width() * dpr)), max(2, round(r.height() * dpr))
        img = self._image
        if img is None or img.width() != w or img.height() != h:
            rgb = raster(self.counts, w, h)
            img = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()  # copy: owns its bytes
            img.setDevicePixelRatio(dpr)
            self._image = img
        return img

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        r = self.rect().adjusted(1, 1, -1, -1)
        if self.counts is None:
            p.fillRect(r, QColor(*BACKGROUND))
            p.setPen(QColor(theme.MUTED))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "Histogram")
            return
        p.drawImage(r.topLeft(), self._graph(r))
        lo, hi = self.clipped()
        for frac, x in ((lo, r.left() + 3), (hi, r.right() - 9)):
            if frac > 0.005:
                p.fillRect(int(x), r.top() + 3, 6, 6, QColor("#ff5252"))
