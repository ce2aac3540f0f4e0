"""Where an edited photo sits in its original: the crop a photographer made before exporting.

An export is often cropped (to another aspect ratio, or zoomed in at the same one), so pixel i of
the export is not pixel i of the RAW. :func:`find_crop` finds the rectangle of the original that
the export shows, by normalised cross-correlation of the two photos' detail (high-passed log
luminance, which tone curves, exposure, white balance and saturation leave nearly unchanged)
over crop sizes and positions: coarse first, then refined around the best. Rotation (a
straightened horizon) and perspective are not searched; such a pair does not match and is said
so. ``retouch train-style`` (paired styles) and ``retouch fit`` use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .render import resize_linear

COARSE = 160  # long edge (pixels) of the first search over every crop size
FINE = 480  # long edge of the refinement
MIN_SHARE = 0.35  # the smallest crop searched, as a share of the largest that fits
STEP = 0.96  # ratio between neighbouring crop widths in the coarse search
MATCH = 0.5  # correlation above which the export is taken to show that rectangle
FULL = 0.01  # a rectangle within this share of the whole frame on every side is the whole frame
LUMA = (0.2126, 0.7152, 0.0722)


@dataclass(frozen=True)
class Crop:
    """The rectangle ``[top:bottom, left:right]`` of the original (its pixels) and how well the
    export matches it (normalised cross-correlation of their detail, 1 = identical)."""

    left: int
    top: int
    right: int
    bottom: int
    score: float

    def whole(self, width: int, height: int) -> bool:
        return (self.left, self.top, self.right, self.bottom) == (0, 0, width, height)

    def of(self, img: np.ndarray) -> np.ndarray:
        return img[self.top:self.bottom, self.left:self.right]


def detail(linear: np.ndarray, long_edge: int) -> np.ndarray:
    """High-passed log luminance at ``long_edge`` pixels: what an edit's tones leave in place."""
    h, w = linear.shape[:2]
    k = long_edge / max(h, w)
    small = resize_linear(np.asarray(linear, np.float32), max(8, round(w * k)), max(8, round(h * k)))
    lum = np.log(np.maximum(small[..., :3] @ np.asarray(LUMA, np.float32), 1e-3))
    return lum - _box_blur(_box_blur(lum, 4), 4)  # ~ a Gaussian of sigma 3: the scene's broad tones go


def _shrink(img: np.ndarray, long_edge: int) -> np.ndarray:
    """``img`` at ``long_edge`` pixels at most: strided to twice that first (a 24 MP photo's area
    resize alone takes a second), then area-averaged."""
    stride = max(1, max(img.shape[:2]) // (2 * long_edge))
    img = img[::stride, ::stride]
    h, w = img.shape[:2]
    k = min(1.0, long_edge / max(h, w))
    return resize_linear(np.asarray(img, np.float32), max(8, round(w * k)), max(8, round(h * k)))


def _window_sums(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """The sum over every ``h`` x ``w`` window inside ``a`` (from its integral image)."""
    c = np.pad(np.cumsum(np.cumsum(a, 0), 1), ((1, 0), (1, 0)))
    return c[h:, w:] - c[:-h, w:] - c[h:, :-w] + c[:-h, :-w]


def _box_blur(a: np.ndarray, r: int) -> np.ndarray:
    n = 2 * r + 1
    return _window_sums(np.pad(a, r, mode="edge"), n, n) / (n * n)


def _ncc(image: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of ``template`` at every position inside ``image`` (FFT)."""
    H, W = image.shape
    h, w = template.shape
    t = template - template.mean()
    tn = np.sqrt((t * t).sum())
    shape = (H, W)
    corr = np.fft.irfft2(np.fft.rfft2(image, shape) * np.conj(np.fft.rfft2(t, shape)), shape)[: H - h + 1, : W - w + 1]
    s1, s2 = _window_sums(image, h, w), _window_sums(image * image, h, w)
    var = np.maximum(s2 - s1 * s1 / (h * w), 1e-12)
    return corr / (np.sqrt(var) * tn + 1e-12)


def _search(before: np.ndarray, after: np.ndarray, widths: list[int], aspect: float,
            near: tuple[float, float] | None = None, radius: int = 0) -> tuple[float, int, int, int]:
    """The best (score, width, x, y) over crop ``widths`` of ``before`` (a detail image) for
    ``after`` (linear, small); ``near`` (x, y in before's pixels) with ``radius`` limits the
    positions searched."""
    H, W = before.shape
    best = (-1.0, 0, 0, 0)
    for cw in widths:
        ch = round(cw / aspect)
        if not (8 <= cw <= W and 8 <= ch <= H):
            continue
        tmpl = detail(after, max(cw, ch))  # the export at this crop's size, high-passed at that size
        if tmpl.shape != (ch, cw):
            tmpl = resize_linear(tmpl[..., None], cw, ch)[..., 0]
        if near is None:
            x0, y0, img = 0, 0, before
        else:
            x0 = int(np.clip(round(near[0]) - radius, 0, W - cw))
            y0 = int(np.clip(round(near[1]) - radius, 0, H - ch))
            img = before[y0:min(H, y0 + ch + 2 * radius), x0:min(W, x0 + cw + 2 * radius)]
        score = _ncc(img, tmpl)
        i = int(np.argmax(score))
        y, x = divmod(i, score.shape[1])
        if score.flat[i] > best[0]:
            best = (float(score.flat[i]), cw, x0 + x, y0 + y)
    return best


def find_crop(before: np.ndarray, after: np.ndarray) -> Crop | None:
    """The rectangle of ``before`` (linear RGB) that ``after`` (an edit of it, any size, linear
    or encoded alike) shows, or None when no rectangle matches (another photo, or rotated)."""
    H, W = before.shape[:2]
    ha, wa = after.shape[:2]
    aspect = wa / ha
    small, base = _shrink(after, FINE), _shrink(before, FINE)  # a 24 MP photo is resized once
    bf = detail(base, FINE)
    if abs(np.log(aspect / (W / H))) < 0.01:  # the usual case first: the whole frame, at one position
        whole = _search(bf, small, [bf.shape[1]], bf.shape[1] / bf.shape[0])[0]
        if whole >= MATCH:
            return Crop(0, 0, W, H, whole)
    # coarse: every crop size from the largest that fits down to MIN_SHARE of it
    b = detail(base, COARSE)
    k = b.shape[1] / W
    largest = min(b.shape[1], b.shape[0] * aspect)
    widths = sorted({round(largest * STEP**i) for i in range(200) if STEP**i >= MIN_SHARE})
    score, cw, x, y = _search(b, small, widths, aspect)
    if score < MATCH * 0.8:  # far below: not this photo (the finer level sharpens a true match)
        return None
    # fine: sizes around the coarse best, positions near it
    kf = bf.shape[1] / W
    largest_f = min(bf.shape[1], bf.shape[0] * aspect)
    centre = cw * kf / k
    near = (x * kf / k, y * kf / k)
    for spread, radius in ((0.08, round(3 * kf / k)), (0.015, 2)):  # sizes around the best, then finer
        widths_f = sorted({min(round(largest_f), round(centre * r)) for r in np.linspace(1 - spread, 1 + spread, 17)})
        score, cw, x, y = _search(bf, small, widths_f, aspect, near=near, radius=radius)
        centre, near = cw, (x, y)
    if score < MATCH:
        return None
    s = 1 / kf  # back to the original's pixels
    left, top = round(x * s), round(y * s)
    right, bottom = min(W, round((x + cw) * s)), min(H, round((y + cw / aspect) * s))
    if left <= FULL * W and top <= FULL * H and right >= (1 - FULL) * W and bottom >= (1 - FULL) * H:
        left, top, right, bottom = 0, 0, W, H  # the same framing: not a crop of a few pixels
    return Crop(left, top, right, bottom, score)
