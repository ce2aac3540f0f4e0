"""Preview rendering off the GUI thread: latest request wins, stale ones are never started.

The GUI thread builds a frozen :class:`RenderRequest` (a recipe copy and a reference to an
immutable linear image) and hands it to :meth:`Renderer.submit`; a single worker thread
takes only the newest request of each kind, renders it and emits ``finished``. Receivers
drop results whose ``id`` is not the latest they asked for.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from engine.recipe import Recipe

from .display import to_screen

log = logging.getLogger(__name__)

KINDS = ("preview", "before", "crop", "crop_before", "curves", "variation", "warmup")  # priority order


@dataclass(frozen=True, eq=False)
class RenderRequest:
    id: int
    kind: str
    recipe: Recipe
    image: np.ndarray                               # linear float32 (H, W, 3), never mutated
    rect: tuple[int, int, int, int] | None = None   # crop: (x, y, w, h) in full-image pixels
    tag: Any = None                                 # e.g. the doc or variation index
    cube: int | None = None                         # 3-D table size (None: the engine's); drafts: smaller
    clipping: bool = False                          # preview and crops: also the clipping overlay


@dataclass(frozen=True, eq=False)
class RenderResult:
    request: RenderRequest
    image: QImage | None  # None for "curves", which renders no image
    histogram: np.ndarray | None  # (4, 256): R, G, B, luminance counts
    ms: float
    clipped: QImage | None = None  # asked for and anything clipped: the overlay (transparent elsewhere)
    curves: dict[int, np.ndarray] | None = None  # "curves": what each curve step is given, counted (3, bins)


def to_display(recipe: Recipe, linear: np.ndarray) -> np.ndarray:
    """Recipe -> display sRGB uint8, the engine's fast path writing the bytes directly."""
    from engine.render import render_uint8

    return render_uint8(recipe, linear)


def to_qimage(rgb8: np.ndarray) -> QImage:
    rgb8 = np.ascontiguousarray(rgb8)
    h, w = rgb8.shape[:2]
    return QImage(rgb8.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def render_qimage(recipe: Recipe, linear: np.ndarray, *, histogram: bool = False,
                  cube: int | None = None) -> tuple[QImage, np.ndarray | None]:
    """Recipe -> a Format_RGB32 QImage the engine wrote in place (no uint8 array, no format
    conversion, no copy: QPixmap.fromImage shares it) and, optionally, its histogram."""
    from engine.render import render_rgb32

    h, w = linear.shape[:2]
    img = QImage(w, h, QImage.Format.Format_RGB32)
    if img.bytesPerLine() != 4 * w:  # never for RGB32 (rows are 32-bit aligned); a guard for the view below
        raise RuntimeError("unexpected QImage stride")
    words = np.frombuffer(img.bits(), np.uint32).reshape(h, w)
    _, hist = render_rgb32(recipe, linear, out=words, histogram=histogram, cube_size=cube)
    return img, hist


#: View ▸ Show Clipping's colours, as Lightroom's: red where a channel is at 255 (detail lost in it),
#: blue where all three are at 0 (crushed to black).
HIGHLIGHT_CLIP, SHADOW_CLIP = 0xFFFF3030, 0xFF3070FF


def clipping_overlay(img: QImage) -> QImage | None:
    """Of a rendered Format_RGB32 ``img`` (sRGB, before the screen's profile): an overlay marking
    its clipped pixels, or None where none is clipped."""
    h, w = img.height(), img.width()
    words = np.frombuffer(img.constBits(), np.uint32).reshape(h, w)
    r, g, b = (words >> 16) & 255, (words >> 8) & 255, words & 255
    high = (r == 255) | (g == 255) | (b == 255)
    low = (words & 0xFFFFFF) == 0
    if not (high.any() or low.any()):
        return None
    marks = np.zeros((h, w), np.uint32)
    marks[high] = HIGHLIGHT_CLIP
    marks[low] = SHADOW_CLIP
    return QImage(marks.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied).copy()


def execute(req: RenderRequest) -> RenderResult:
    t0 = time.perf_counter()
    if req.kind == "curves":  # after the preview and crops: the photo is never kept waiting for them
        from engine.render import curve_histograms

        curves = curve_histograms(req.recipe, req.image)
        return RenderResult(req, None, None, (time.perf_counter() - t0) * 1e3, curves=curves)
    img, hist = render_qimage(req.recipe, req.image, histogram=req.kind == "preview", cube=req.cube)
    clipped = clipping_overlay(img) if req.clipping else None  # of the sRGB bytes, as the histogram
    to_screen(img)  # the histogram stays sRGB: the screen's profile changes only what is shown
    return RenderResult(req, img, hist, (time.perf_counter() - t0) * 1e3, clipped)


class Renderer(QObject):
    finished = Signal(object)  # RenderResult
    failed = Signal(object, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending: dict[str, RenderRequest] = {}
        self._stop = False
        self._next_id = 0
        self._thread = threading.Thread(target=self._loop, name="retouch-render", daemon=True)
        self._thread.start()

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def submit(self, req: RenderRequest) -> None:
        """Queue ``req``, replacing any not-yet-started request of the same kind (and tag for variations)."""
        key = f"{req.kind}:{req.tag}" if req.kind == "variation" else req.kind
        with self._cond:
            self._pending[key] = req
            self._cond.notify()

    def cancel(self, kind: str) -> None:
        with self._cond:
            for k in [k for k in self._pending if k.split(":")[0] == kind]:
                del self._pending[k]

    def idle(self) -> bool:
        with self._cond:
            return not self._pending and not self._busy

    _busy = False

    def _take(self) -> RenderRequest | None:
        with self._cond:
            while not self._pending and not self._stop:
                self._cond.wait()
            if self._stop:
                return None
            for kind in KINDS:
                for key in list(self._pending):
                    if key.split(":")[0] == kind:
                        self._busy = True
                        return self._pending.pop(key)
            return self._pending.pop(next(iter(self._pending)))

    _stages: list | None = None  # what is left of the kernels' warm-up

    def _warm_stage(self, req: RenderRequest) -> bool:
        """One stage of the kernels' warm-up (every kernel, the tail and histogram ones too: a
        fresh install compiles them once); True while more remain, the request then queued again
        behind the photo's renders asked meanwhile, which compile what they need themselves."""
        from engine.lut import warm_up_stages

        if self._stages is None:
            self._stages = warm_up_stages()
        if self._stages:
            try:
                self._stages.pop(0)()
            except Exception:  # the render that needs the kernel compiles it, or fails and says why
                log.exception("kernel warm-up failed")
                self._stages = []
        if not self._stages:
            return False
        with self._cond:
            self._pending.setdefault("warmup", req)
            self._busy = False
        return True

    def _loop(self) -> None:
        while (req := self._take()) is not None:
            if req.kind == "warmup" and self._warm_stage(req):
                continue
            try:
                signal, args = self.finished, (execute(req),)
            except Exception as e:  # shown by the window; the thread keeps serving
                import traceback

                signal, args = self.failed, (e, traceback.format_exc())
                # a warm-up failed is over all the same: the renders compile what they need, or fail
                # and say so; "preparing the editor" must not stay for good
                if req.kind == "warmup":
                    log.error("kernel warm-up failed\n%s", args[1])
                    signal, args = self.finished, (RenderResult(req, None, None, 0.0),)
            try:
                signal.emit(*args)
            except RuntimeError:  # "Signal source has been deleted": the window is gone, nobody waits
                return
            finally:
                with self._cond:
                    self._busy = False

    def shutdown(self, wait: float = 5.0) -> None:
        """Stop after the render in progress, waiting up to ``wait`` seconds for it."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout=wait)
