"""An RGB + luminance histogram of the displayed render (computed by the render worker)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from . import theme


class Histogram(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.counts: np.ndarray | None = None
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Histogram of the edited photo (R, G, B and luminance). "
                        "Marks at the ends show clipped shadows or highlights.")

    def sizeHint(self) -> QSize:
        return QSize(280, 100)

    def set_counts(self, counts: np.ndarray | None) -> None:
        self.counts = counts
        self.update()

    def clipped(self) -> tuple[float, float]:
        """Fraction of pixels at 0 and at 255 in luminance."""
        if self.counts is None:
            return 0.0, 0.0
        lum = self.counts[3]
        n = max(1, int(lum.sum()))
        return float(lum[0]) / n, float(lum[255]) / n

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = self.rect().adjusted(1, 1, -1, -1)
        p.fillRect(r, QColor("#181818"))
        p.setPen(QPen(QColor("#2e2e2e"), 1))
        for i in range(1, 4):  # quarter-tone guides
            x = r.x() + r.width() * i / 4
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
        if self.counts is None:
            p.setPen(QColor(theme.MUTED))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "Histogram")
            return
        # sqrt scale, normalised ignoring the end bins so clipping spikes do not flatten the rest
        c = np.sqrt(self.counts.astype(np.float64))
        top = max(1.0, float(c[:, 1:255].max()))
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Plus)
        colours = [QColor(200, 60, 60, 150), QColor(60, 180, 60, 150), QColor(70, 100, 230, 150)]
        for ch, col in enumerate(colours):
            p.fillPath(self._path(c[ch] / top, r), col)
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
        p.setPen(QPen(QColor(230, 230, 230, 170), 1))
        p.drawPath(self._path(c[3] / top, r, closed=False))
        lo, hi = self.clipped()
        for frac, x in ((lo, r.left() + 3), (hi, r.right() - 9)):
            if frac > 0.005:
                p.fillRect(int(x), r.top() + 3, 6, 6, QColor("#ff5252"))

    @staticmethod
    def _path(v: np.ndarray, r, closed: bool = True) -> QPainterPath:
        path = QPainterPath()
        n = len(v)
        ys = r.bottom() - np.minimum(v, 1.0) * (r.height() - 4)
        xs = r.left() + np.arange(n) * (r.width() / (n - 1))
        if closed:
            path.moveTo(QPointF(r.left(), r.bottom()))
            for x, y in zip(xs, ys):
                path.lineTo(QPointF(float(x), float(y)))
            path.lineTo(QPointF(r.right(), r.bottom()))
            path.closeSubpath()
        else:
            path.moveTo(QPointF(float(xs[0]), float(ys[0])))
            for x, y in zip(xs[1:], ys[1:]):
                path.lineTo(QPointF(float(x), float(y)))
        return path
