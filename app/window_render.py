"""The preview pipeline: which linear cache to render from, render requests, their results.

A mixin of :class:`app.window.MainWindow`, whose widgets and documents it uses.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF
from shiboken6 import isValid

from engine.recipe import Recipe

from . import display, thumb_cache
from .document import PhotoDoc
from .renderer import RenderRequest, RenderResult
from .workers import run_in_pool

log = logging.getLogger(__name__)

DRAFT_CUBE = 17  # 3-D table size while a slider is held (the release render uses the engine's 33³)
DRAFT_GAIN = 2.0  # drafts from the 1024 px level only when the preview has more than this many times its pixels


class RenderMixin:
    """Preview, before and detail-crop renders of the shown photo, and putting their results on screen."""

    def _submit(self, kind: str, recipe: Recipe, image: Any, **kw: Any) -> int:
        rid = self.renderer.new_id()
        self._latest[kind] = rid
        kw.setdefault("clipping", self.show_clipping and kind in ("preview", "crop"))
        self.renderer.submit(RenderRequest(rid, kind, recipe.copy(), image, tag=self.doc, **kw))
        return rid

    @staticmethod
    def pointer_down() -> bool:
        """A slider or curve handle is being dragged: render drafts until it is let go."""
        from .controls import dragging

        return dragging()

    def on_screen(self) -> tuple[int, int]:
        """The photo's size on screen at the current zoom, in device pixels."""
        v = self.viewer
        s = v.scale * v.devicePixelRatioF()
        return max(1, round(v.full.width() * s)), max(1, round(v.full.height() * s))

    def preview_source(self, doc: PhotoDoc) -> Any:
        """The linear cache to render the preview from: the photo's size on screen, never more.

        - Shown at least as large as the 2048 px level: that level (beyond it, full-resolution
          crops of the visible region, ``_request_detail``).
        - Otherwise a copy of that level resized to exactly the on-screen size (made once per
          view size, in the background): the render costs only the pixels shown and the paint
          is a 1:1 blit. Until it is ready, the smallest level at least as large as the screen.
        - While a slider or curve handle is dragged, the 1024 px draft level when that saves
          more than half the pixels (below, its upscaled paint costs what it saves); the full
          preview follows once the pointer is released.
        """
        if doc.draft_linear is None:
            return doc.preview_linear
        w, h = self.on_screen()
        draft = max(doc.draft_linear.shape[:2])
        if max(w, h) >= max(doc.preview_linear.shape[:2]):  # larger than it: crops fill in (needs_detail)
            fine = doc.preview_linear
        else:
            fine = self._screen_level(doc, w, h)
            if fine is None:
                fine = doc.draft_linear if max(w, h) <= draft * 1.02 else doc.preview_linear
        if self.pointer_down() and fine.shape[0] * fine.shape[1] > DRAFT_GAIN * doc.draft_linear[..., 0].size:
            return doc.draft_linear
        return fine

    def _screen_level(self, doc: PhotoDoc, w: int, h: int) -> Any:
        """The preview level resized to (w, h) when it is ready; otherwise ask for it and return None."""
        have = self._screen
        if have is not None and have[0] is doc and have[1] == (w, h):
            return have[2]
        self._screen_wanted = (doc, (w, h))
        if not self._screen_busy and self._screen_broken != (doc, (w, h)):
            self._screen_busy = True
            from engine.render import resize_linear

            def make(src: Any, size: tuple[int, int]) -> tuple[tuple[int, int], Any]:
                level = np.ascontiguousarray(resize_linear(src, *size), dtype=np.float32)
                level.setflags(write=False)
                return size, level

            run_in_pool(make, doc.preview_linear, (w, h),
                        owner=self, on_done=lambda res, d=doc: self._screen_ready(d, *res),
                        on_error=lambda e, tb, d=doc, size=(w, h): self._screen_failed(d, size, tb))
        return None

    def _screen_ready(self, doc: PhotoDoc, size: tuple[int, int], level: Any) -> None:
        self._screen_busy = False
        if not isValid(self.viewer):
            return  # the window was closed meanwhile
        cur = self.doc
        if doc is cur and cur.preview_linear is not None:
            self._screen = (doc, size, level)
        wanted, have = self._screen_wanted, self._screen
        if wanted is not None and wanted[0] is cur and not (have and have[0] is cur and have[1] == wanted[1]):
            self._screen_level(cur, *wanted[1])  # the view or the photo changed meanwhile: the newest
        elif cur is not None and cur.preview_linear is not None and self._shown_source is not self.preview_source(cur):
            self.schedule_render()  # also the first render of a photo, which waits for its level

    def _screen_failed(self, doc: PhotoDoc, size: tuple[int, int], tb: str) -> None:
        self._screen_busy = False
        self._screen_broken = (doc, size)  # not retried for this view
        log.warning("screen-size preview level failed (the cached levels are used)\n%s", tb)
        if isValid(self.viewer) and self._latest.get("preview") is None:
            self.schedule_render()  # the first render was waiting for it

    def schedule_render(self) -> int | None:
        """Ask for a fresh preview (latest wins) and, when zoomed in, a full-resolution crop.

        During a drag the draft cache (a quarter of the pixels) keeps the preview following the
        pointer, with a 17³ cube (baked in ~1 ms instead of ~7 when a mixing step's slider
        moves); the full preview follows once the pointer is released.
        """
        doc = self.doc
        if doc is None or doc.preview_linear is None:
            return None
        src = self.preview_source(doc)
        recipe = self.shown_recipe(doc)
        if self.pointer_down():
            self._settle.start()
            return self._submit("preview", recipe, src, cube=DRAFT_CUBE)
        rid = self._submit("preview", recipe, src)
        if self.viewer.split and src is not self._before_source:
            self._request_before(doc, src)
        if self.viewer.needs_detail():
            self._request_detail()
        self._request_curves(doc, src)
        return rid

    def _request_before(self, doc: PhotoDoc, src: Any) -> None:
        """The before view, unedited, from ``src``: the preview's own source while the split shows
        (the 2048 px level scaled at paint time looked crisper and more aliased: unedited, 6-19 % of
        its pixels were 5 to 49 levels off the photo shown plain, so an edit seemed to soften it)."""
        self._before_source = src
        self._submit("before", Recipe(), src)

    def _split_on(self) -> None:
        doc = self.doc
        if doc is not None and doc.preview_linear is not None and not self.pointer_down():
            src = self.preview_source(doc)
            if src is not self._before_source:
                self._request_before(doc, src)
        self._request_detail()

    def _request_curves(self, doc: PhotoDoc, src: Any) -> None:
        """The histograms behind the curve cards, of the photo's own steps (those on the cards, not
        a variation pointed at), once for each edit: a drag's drafts wait for its release."""
        from engine.render import curve_steps

        if not curve_steps(doc.recipe):
            return
        steps, last = doc.recipe.dumps(), self._curves_for
        if not (last is not None and last[0] == steps and last[1] is src):
            self._curves_for = (steps, src)
            self._submit("curves", doc.recipe, src)

    def shown_recipe(self, doc: PhotoDoc) -> Recipe:
        """What the photo is shown in: its steps, or the variation under the pointer."""
        return self._hovered if self._hovered is not None and doc is self.doc else doc.recipe

    def _view_changed(self) -> None:
        """Zoomed or panned: a finer preview level or a detail crop may be needed now."""
        doc = self.doc
        if doc is not None and doc.preview_linear is not None and self._shown_source is not self.preview_source(doc):
            self.schedule_render()
        else:
            self._request_detail()

    def _settled(self) -> None:
        if self.pointer_down():
            self._settle.start()
        else:
            self.schedule_render()

    def set_clipping(self, on: bool) -> None:
        """View ▸ Show Clipping (J), as Lightroom's: the photo's clipped pixels marked, red where a
        channel is at 255, blue where all three are at 0 (the shown photo's sRGB, as the histogram
        counts them). Kept across starts."""
        self.show_clipping = on
        self.a_clipping.setChecked(on)
        self.settings.setValue("view/clipping", "true" if on else "false")
        if not on:
            self.viewer.hide_clipping()
        elif self.doc is not None and self._rendered_once:
            self.schedule_render()  # the overlay comes with the next preview (and crop)

    def _clipped(self, res: Any) -> Any:
        """``res``'s clipping overlay, if Show Clipping is still on: one asked for before it was
        turned off, and landing after, drew the marks again under an unticked menu item."""
        return res.clipped if self.show_clipping else None

    def _request_detail(self) -> None:
        doc = self.doc
        if doc is None or doc.linear is None or not self.viewer.needs_detail():
            for kind in ("crop", "crop_before"):
                self.renderer.cancel(kind)
                self._latest.pop(kind, None)
            self.viewer.set_detail(None)
            self.viewer.set_detail_before(None)
            return
        vis = self.viewer.visible_rect()
        h, w = doc.linear.shape[:2]
        x0, y0 = max(0, int(vis.left()) - 8), max(0, int(vis.top()) - 8)
        x1, y1 = min(w, int(vis.right()) + 9), min(h, int(vis.bottom()) + 9)
        if x1 <= x0 or y1 <= y0:
            return
        rect = (x0, y0, x1 - x0, y1 - y0)
        self._submit("crop", self.shown_recipe(doc), doc.linear[y0:y1, x0:x1], rect=rect)
        if self.viewer.split and (self.viewer.detail_before is None or self.viewer.detail_before[1] != QRectF(*rect)):
            self._submit("crop_before", Recipe(), doc.linear[y0:y1, x0:x1], rect=rect)  # an edit leaves it as is

    def _on_rendered(self, res: RenderResult) -> None:
        req = res.request
        if req.kind == "warmup":
            self._warmed()
            return
        if req.tag is not self.doc or self._latest.get(req.kind) != req.id:
            return  # stale: a newer request of this kind exists, or another photo is shown
        if req.kind == "before":
            self.viewer.set_before(res.image)
        elif req.kind == "preview":
            if not self._rendered_once:
                v = self.viewer
                keep = v.before if v.before is not None and v.before is not v.after else None
                finest = self.viewer.finest_preview
                self.viewer.set_photo(self.viewer.full if not self.viewer.full.isEmpty() else res.image.size(),
                                      res.image)
                self.viewer.set_clipped(self._clipped(res))
                self.viewer.finest_preview = finest
                if keep is not None:
                    self.viewer.before = keep
                self._rendered_once = True
                self.photoShown.emit(self.doc)
            else:
                self.viewer.set_after(res.image, self._clipped(res))
            if self.viewer.detail is not None and self._latest.get("crop", -1) < req.id:
                self.viewer.set_detail(None)  # the crop shows an older edit
            self.histogram.set_counts(res.histogram)
            self.last_render_ms = res.ms
            self.shown_preview = req.id
            self._shown_source = req.image
            # a variation pointed at: never the thumbnail, even once the pointer has left
            self._shown_variation = bool(self.variations) and (shown := req.recipe.dumps()) != \
                self.doc.recipe.dumps() and any(shown == v.dumps() for v in self.variations)
            if self.doc is not None and (self.doc.undo.count() or self.doc.recipe.active()) \
                    and not self._shown_variation:
                self._thumb_timer.start()  # edited here, or opened with edits
            self.render_label.setText(f"render {res.ms:.0f} ms")
            self.previewRendered.emit(req.id)
        elif req.kind == "curves" and res.curves is not None:
            self.panel.steps.set_curve_histograms(res.curves, req.recipe)
        elif req.kind == "crop" and req.rect is not None:
            self.viewer.set_detail(res.image, QRectF(*req.rect), self._clipped(res))
        elif req.kind == "crop_before" and req.rect is not None:
            self.viewer.set_detail_before(res.image, QRectF(*req.rect))

    def _refresh_thumbnail(self) -> None:
        if self.doc is not None and self.viewer.after is not None and self.shown_preview >= 0 \
                and not self._shown_variation:
            newest = self.shown_preview == self._latest.get("preview")  # the newest edit is in it
            self.filmstrip.set_thumbnail(self.doc.path, self.viewer.after, self.doc.recipe if newest else None)
            if newest:
                self._thumb_owed = None
                # kept for the next visit, an edited photo's as it settled: not a pause in a drag
                if self.doc.recipe.active() and not self.pointer_down():
                    run_in_pool(thumb_cache.keep, preview_key(self.doc), self.viewer.after.toImage(),
                                thumb_cache.PREVIEWS, pool=self._preview_pool)

    def _warmed(self) -> None:
        self._renderer_ready = True
        for kind in ("embedded preview", "quick preview", "thumbnail", "kept preview"):
            if self.render_label.text().startswith(kind):
                self.render_label.setText(self._embedded_label(kind))
        if self.viewer.notice:
            self._show_notice()

    def _render_failed(self, exc: BaseException, tb: str) -> None:
        log.error("render failed\n%s", tb)
        self.viewer.set_notice("")  # "Loading the photo…" would stay over the quick preview for good
        self.statusBar().showMessage(f"Could not render the preview: {exc}. Your edit is kept; "
                                     "try undoing the last change.", 8000)


def preview_key(doc: PhotoDoc) -> str | None:
    """The key of ``doc``'s screen preview with its edits, as shown on this screen's profile."""
    return thumb_cache.key(doc.path, doc.recipe, 0, screen=display.tag())
