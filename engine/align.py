"""Where an edited photo sits in its original: the crop a photographer made before exporting.

An export is often cropped (to another aspect ratio, or zoomed in at the same one), so pixel i of
the export is not pixel i of the RAW. :func:`find_crop` finds the rectangle of the original that
the export shows, by normalised cross-correlation of the two photos' detail (high-passed log
luminance, which tone curves, exposure, white balance and saturation leave nearly unchanged)
over crop sizes and positions: coarse first, then refined around the best few, and last each edge
moved by fractions of a pixel (``Crop.box``: a fit compares pixel by pixel). Rotation (a
straightened horizon) and perspective are not searched; such a pair does not match and is said
so. ``retouch train-style`` (paired styles) and ``retouch fit`` use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .color import REC709_LUMA as LUMA
from .render import resize_linear

COARSE = 160  # long edge (pixels) of the first search over every crop size
FINE = 480  # long edge of the refinement
#: Long edge of the last levels: the crop is searched at the original's pixels up to this size
#: (at 2048 it took 3.4 s on a 3000 px photo, against 0.3 s before this level), and polished to
#: a fraction of a pixel on the grid :func:`fit_grid` gives, where ``retouch fit`` compares.
SHARP = 1024
MIN_SHARE = 0.35  # the smallest crop searched, as a share of the largest that fits
#: Ratio between neighbouring crop widths in the coarse search. A true crop's peak can be only
#: ~2 % wide in scale (thin cables over flat sky: Bridge), and at 0.96 the search stepped over it
#: onto a false one (11-44 px off). With the candidates below, 0 of 160 random crops of 8 photos
#: and 5 of 60 of Bridge are more than 2 px off (8 and 21 with 0.96 and one candidate).
STEP = 0.99
CANDIDATES = 4  # distinct coarse peaks each refined at the fine level
DISTINCT = 0.03  # coarse peaks 3 % apart in width (log) or in position (a share of the width)
#: Fine matches compared again at the sharp level: the best few of every size and place the fine
#: searches met, half ``DISTINCT`` apart, that score within ``MARGIN`` of the best. Thin lines that
#: meet at a point (Bridge's cables) match almost as well scaled about it, and at the fine level a
#: box 5-15 % too small there outscored the true one (0.971 against 0.948); the sharp level ranks them.
SHARP_CANDIDATES = 4
MARGIN = 0.05
#: Box-blur radius (applied twice) of the detail at the fine and sharp levels: one-pixel detail
#: (wires, grain) resampled to another grid no longer decides the match; the polish is unblurred.
FINE_BLUR = 1
MATCH = 0.5  # correlation above which the export is taken to show that rectangle
#: detail (high-passed log luminance, its standard deviation) below which a frame has none: 8-bit
#: quantisation of a smooth ramp leaves ~1e-3, a real photo's texture 0.05 and more
FLAT_DETAIL = 4e-3
POLISH_STEPS = (1.0, 0.5, 0.25, 0.125)  # the last level's edge moves, in pixels of the original


@dataclass(frozen=True)
class Crop:
    """The rectangle ``[top:bottom, left:right]`` of the original (its pixels) and how well the
    export matches it (normalised cross-correlation of their detail, 1 = identical)."""

    left: int
    top: int
    right: int
    bottom: int
    score: float
    #: The same rectangle to a fraction of a pixel (None: exactly the integer one), for a fit that
    #: compares pixel by pixel: resample with ``resize_linear(img, w, h, box=crop.box)``.
    box: tuple[float, float, float, float] | None = None
    #: The whole frame resized to the export's other proportions (width and height scaled apart),
    #: not a crop: resample the original to the export's own size to compare pixel by pixel.
    stretched: bool = False

    def whole(self, width: int, height: int) -> bool:
        return (self.left, self.top, self.right, self.bottom) == (0, 0, width, height)

    def of(self, img: np.ndarray) -> np.ndarray:
        return img[self.top:self.bottom, self.left:self.right]


def detail(linear: np.ndarray, long_edge: int, blur: int = 0) -> np.ndarray:
    """High-passed log luminance at ``long_edge`` pixels: what an edit's tones leave in place;
    box-blurred twice by ``blur`` pixels."""
    h, w = linear.shape[:2]
    k = long_edge / max(h, w)
    small = resize_linear(np.asarray(linear, np.float32), max(8, round(w * k)), max(8, round(h * k)))
    d = _high_pass(small[..., :3] @ np.asarray(LUMA, np.float32))
    return _box_blur(_box_blur(d, blur), blur) if blur else d


def _high_pass(lum: np.ndarray) -> np.ndarray:
    """Log luminance less its broad tones (~ a Gaussian of sigma 3 removed): the scene's detail."""
    log = np.log(np.maximum(lum, 1e-3))
    return log - _box_blur(_box_blur(log, 4), 4)


def _shrink(img: np.ndarray, long_edge: int) -> np.ndarray:
    """``img`` at ``long_edge`` pixels at most: strided to twice that first (a 24 MP photo's area
    resize alone takes a second), then area-averaged."""
    stride = max(1, max(img.shape[:2]) // (2 * long_edge))
    img = img[::stride, ::stride]
    h, w = img.shape[:2]
    k = min(1.0, long_edge / max(h, w))
    return resize_linear(np.asarray(img, np.float32), max(8, round(w * k)), max(8, round(h * k)))


def _integral(a: np.ndarray) -> np.ndarray:
    return np.pad(np.cumsum(np.cumsum(a, 0), 1), ((1, 0), (1, 0)))


def _window_sums(a: np.ndarray, h: int, w: int, c: np.ndarray | None = None) -> np.ndarray:
    """The sum over every ``h`` x ``w`` window inside ``a`` (from its integral image ``c``)."""
    c = _integral(a) if c is None else c
    return c[h:, w:] - c[:-h, w:] - c[h:, :-w] + c[:-h, :-w]


def _box_blur(a: np.ndarray, r: int) -> np.ndarray:
    n = 2 * r + 1
    return _window_sums(np.pad(a, r, mode="edge"), n, n) / (n * n)


def _ncc(image: np.ndarray, template: np.ndarray, pre: tuple[np.ndarray, ...] | None = None) -> np.ndarray:
    """Normalised cross-correlation of ``template`` at every position inside ``image`` (FFT);
    ``pre`` is :func:`_prepared` ``image``, for many templates in one image."""
    H, W = image.shape
    h, w = template.shape
    t = template - template.mean()
    tn = np.sqrt((t * t).sum())
    shape = (H, W)
    spectrum, c1, c2 = pre or _prepared(image)
    corr = np.fft.irfft2(spectrum * np.conj(np.fft.rfft2(t, shape)), shape)[: H - h + 1, : W - w + 1]
    s1, s2 = _window_sums(image, h, w, c1), _window_sums(image, h, w, c2)
    var = np.maximum(s2 - s1 * s1 / (h * w), 1e-12)
    return corr / (np.sqrt(var) * tn + 1e-12)


def _prepared(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What :func:`_ncc` needs of ``image`` whatever the template: its spectrum, and the integral
    images of it and its square."""
    return np.fft.rfft2(image), _integral(image), _integral(image * image)


def _matches(before: np.ndarray, after: np.ndarray, widths: list[int], aspect: float,
             near: tuple[float, float] | None = None, radius: int = 0, centred: bool = False,
             blur: int = 0, templates: dict | None = None) -> list[tuple[float, int, int, int]]:
    """The best (score, width, x, y) of each crop width in ``widths`` of ``before`` (a detail image,
    blurred by ``blur``) for ``after`` (linear, small). ``near`` (x, y in before's pixels) with
    ``radius`` limits the positions searched: about the top-left corner, or with ``centred`` about
    each width's own corner for a crop centred there. ``templates`` keeps ``after``'s detail at
    each size, for the next call with the same ``after``."""
    H, W = before.shape
    templates = {} if templates is None else templates
    pre = _prepared(before) if near is None else None
    found = []
    for cw in widths:
        ch = round(cw / aspect)
        if not (8 <= cw <= W and 8 <= ch <= H):
            continue
        tmpl = templates.get((cw, ch, blur))
        if tmpl is None:
            tmpl = detail(after, max(cw, ch), blur)  # the export at this crop's size, high-passed at that size
            if tmpl.shape != (ch, cw):
                tmpl = resize_linear(tmpl[..., None], cw, ch)[..., 0]
            templates[cw, ch, blur] = tmpl
        if near is None:
            x0, y0, img = 0, 0, before
        else:
            nx, ny = (near[0] - cw / 2, near[1] - cw / aspect / 2) if centred else near
            x0 = int(np.clip(round(nx) - radius, 0, W - cw))
            y0 = int(np.clip(round(ny) - radius, 0, H - ch))
            img = before[y0:min(H, y0 + ch + 2 * radius), x0:min(W, x0 + cw + 2 * radius)]
        score = _ncc(img, tmpl, pre)
        i = int(np.argmax(score))
        y, x = divmod(i, score.shape[1])
        found.append((float(score.flat[i]), cw, x0 + x, y0 + y))
    return found


def _search(*args, **kwargs) -> tuple[float, int, int, int]:
    """The best of :func:`_matches` (score -1 where no width fits)."""
    return max(_matches(*args, **kwargs), default=(-1.0, 0, 0, 0))


def _peaks(found: list[tuple[float, int, int, int]], k: int, distinct: float = DISTINCT
           ) -> list[tuple[float, int, int, int]]:
    """The best ``k`` of ``found``, each ``distinct`` from every better one in width or position."""
    kept: list[tuple[float, int, int, int]] = []
    for c in sorted(found, reverse=True):
        if all(abs(math.log(c[1] / d[1])) > distinct or max(abs(c[2] - d[2]), abs(c[3] - d[3])) > distinct * d[1]
               for d in kept):
            kept.append(c)
            if len(kept) == k:
                break
    return kept


#: Proportions (log ratio) within which an export is taken to have its original's: whole-frame exports
SAME_ASPECT = 0.01
#: Proportions an export may differ from its original's by and still be taken for the whole frame
#: resized without keeping them (an export "to 1000 x 640"), where no crop matches it better.
MAX_STRETCH = 1.25


def find_crop(before: np.ndarray, after: np.ndarray) -> Crop | None:
    """The rectangle of ``before`` (linear RGB) that ``after`` (an edit of it, any size, linear
    or encoded alike) shows, or None when no rectangle matches (another photo, or rotated). An
    export of other proportions is a crop, or the whole frame resized without keeping them
    (``Crop.stretched``), whichever its detail matches better."""
    H, W = before.shape[:2]
    ha, wa = after.shape[:2]
    off = abs(math.log((wa / ha) / (W / H)))
    flat = is_flat(before), is_flat(after)
    if any(flat):  # nothing to match by: a grey frame, a smooth ramp (a tone-curve chart) is taken whole
        return Crop(0, 0, W, H, 1.0) if all(flat) and off < SAME_ASPECT else None
    crop = _find_crop(before, after)
    if off < SAME_ASPECT or off >= math.log(MAX_STRETCH):
        return crop
    if crop is not None and crop.whole(W, H):  # the polish grew the box to the frame: squeezed, not cut
        return Crop(0, 0, W, H, crop.score, stretched=True)
    # a true crop scores ~0.9 and more here; the whole frame squeezed to it, well below
    score = _stretched_score(before, after)
    if score >= MATCH and (crop is None or score > crop.score):
        return Crop(0, 0, W, H, score, stretched=True)
    return crop


def is_flat(img: np.ndarray) -> bool:
    """Whether ``img`` has no detail at all (a uniform frame, a smooth gradient): no crop can be
    told from another by it."""
    return float(detail(_shrink(img, COARSE), COARSE).std()) < FLAT_DETAIL


def _stretched_score(before: np.ndarray, after: np.ndarray) -> float:
    """How well ``after``'s detail matches the whole of ``before`` resized to ``after``'s own
    proportions (unblurred, as :func:`_polish` scores a box), at no finer a grid than either."""
    (H, W), (ha, wa) = before.shape[:2], after.shape[:2]
    k = min(1.0, SHARP / max(ha, wa), W / wa, H / ha)
    size = max(8, round(wa * k)), max(8, round(ha * k))
    return _correlation(_sharp_detail(before, size), _unit(_sharp_detail(after, size)))


def _sharp_detail(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``img``'s unblurred detail (high-passed luminance) resized to ``size``, as the last level scores."""
    return _high_pass(resize_linear(np.asarray(img[..., :3], np.float32), *size) @ np.asarray(LUMA, np.float32))


def _unit(detail: np.ndarray) -> np.ndarray:
    return (detail - detail.mean()) / (detail.std() + 1e-12)


def _correlation(part: np.ndarray, target: np.ndarray) -> float:
    """Normalised cross-correlation of ``part`` with ``target`` (already :func:`_unit`)."""
    return float(((part - part.mean()) * target).mean() / (part.std() + 1e-12))


def _find_crop(before: np.ndarray, after: np.ndarray) -> Crop | None:
    H, W = before.shape[:2]
    ha, wa = after.shape[:2]
    aspect = wa / ha
    small, base = _shrink(after, FINE), _shrink(before, FINE)  # a 24 MP photo is resized once
    if abs(np.log(aspect / (W / H))) < SAME_ASPECT:  # the usual case first: the whole frame, at one position
        # never finer than the export: a thumbnail blown up to FINE has no detail left to match
        # (a 120 px export of the whole frame scored 0.47 there, 0.95 at its own size)
        bw = detail(base, min(FINE, max(ha, wa)))
        whole = _search(bw, small, [bw.shape[1]], bw.shape[1] / bw.shape[0])[0]
        if whole >= MATCH:
            return Crop(0, 0, W, H, whole)
    # coarse: every crop size from the largest that fits down to MIN_SHARE of it
    b = detail(base, COARSE)
    k = b.shape[1] / W
    largest = min(b.shape[1], b.shape[0] * aspect)
    widths = sorted({round(largest * STEP**i) for i in range(int(math.log(MIN_SHARE, STEP)) + 1)})
    templates: dict = {}  # the export's detail at each size, shared by the levels and candidates
    coarse = _peaks(_matches(b, small, widths, aspect, templates=templates), CANDIDATES)
    if not coarse or coarse[0][0] < MATCH * 0.8:  # far below: not this photo (finer levels sharpen a match)
        return None
    # fine: for each coarse peak, sizes about it and positions near it; the best few go on
    bf = detail(base, FINE, FINE_BLUR)
    kf = bf.shape[1] / W
    largest_f = min(bf.shape[1], bf.shape[0] * aspect)
    fine, seen, met = [], set(), []  # each chain's result; every size's best on the way
    for _, cw, x, y in coarse:
        centre, near = cw * kf / k, (x * kf / k, y * kf / k)
        for spread, radius in ((0.08, round(3 * kf / k)), (0.015, 2)):  # sizes around the best, then finer
            if (spread, centre, near) in seen:  # an earlier peak led here: the rest of its way is known
                break
            seen.add((spread, centre, near))
            ratios = np.linspace(1 - spread, 1 + spread, 17)
            widths_f = sorted({min(round(largest_f), round(centre * r)) for r in ratios})
            # each size centred on the crop so far: its corner moves with its size, its centre barely
            middle = (near[0] + centre / 2, near[1] + centre / aspect / 2)
            found = _matches(bf, small, widths_f, aspect, near=middle, radius=radius, centred=True,
                             blur=FINE_BLUR, templates=templates)
            met += found
            score, cw, x, y = max(found, default=(-1.0, 0, 0, 0))
            centre, near = cw, (x, y)
        else:
            fine.append((score, cw, x, y))
    score, cw, x, y = max(fine)
    if score < MATCH:
        return None
    if max(H, W) > FINE:  # then at the original's own pixels (up to SHARP), a fine pixel around
        sharp = min(max(H, W), SHARP)
        bs = detail(_shrink(before, sharp), sharp, FINE_BLUR)
        ks = bs.shape[1] / W
        r = ks / kf  # sharp pixels per fine pixel
        reach = math.ceil(r) + 1
        largest_s = min(bs.shape[1], bs.shape[0] * aspect)
        sa, sharp_templates = _shrink(after, sharp), {}
        cands = [c for c in _peaks(met, SHARP_CANDIDATES, DISTINCT / 2) if c[0] >= score - MARGIN]

        def at_sharp(widths: list[int], near: tuple[float, float]) -> tuple[float, int, int, int]:
            return _search(bs, sa, widths, aspect, near=near, radius=reach, blur=FINE_BLUR, templates=sharp_templates)

        # each candidate at its own size and places about it, then sizes about the best
        _, cw_s, x_s, y_s = max(at_sharp([min(round(largest_s), round(c[1] * r))], (c[2] * r, c[3] * r)) for c in cands)
        last = at_sharp(sorted({min(round(largest_s), cw_s + d) for d in range(-reach, reach + 1)}), (x_s, y_s))
        # the sharper level sees the same match (it can only gain detail), or it chose among several
        if last[0] >= score - 0.02 or len(cands) > 1:
            (score, cw, x, y), kf = last, ks
    s = 1 / kf  # back to the original's pixels
    box = (max(0.0, x * s), max(0.0, y * s), min(float(W), (x + cw) * s), min(float(H), (y + cw / aspect) * s))
    box, score = _polish(before, after, box)
    # judged on the unblurred detail, as the blurred levels are not: their blur lifts every score
    # by ~0.15-0.2, and a crop of the photo rotated by 1-3 degrees (a straightened horizon, which
    # is not searched) scored 0.56-0.70 there
    if score < MATCH:
        return None
    left, top, right, bottom = (round(v) for v in box)
    if left <= 0 and top <= 0 and right >= W and bottom >= H:
        return Crop(0, 0, W, H, score)  # the same framing: not a crop at all
    # within the polish's last step of whole pixels: a crop made on the pixel grid, as most are
    # (the fractional box, 0.05 px off, left 52 dB where the whole pixels leave 67: bench/align.py)
    on_grid = max(abs(v - round(v)) for v in box) <= POLISH_STEPS[-1]
    return Crop(left, top, right, bottom, score, None if on_grid else box)


def fit_grid(box: tuple[float, float, float, float], shape: tuple[int, ...], after_shape: tuple[int, ...]
             ) -> tuple[int, int]:
    """The (width, height) a crop ``box`` of an original of ``shape`` is compared with its export
    (of ``after_shape``) on: the original's pixels up to ``SHARP`` on the long edge, and never
    finer than the export (``retouch fit`` compares there; :func:`find_crop` aligns there).

    Where the export is the coarser, its own grid: the box's height scaled and rounded could land
    a row off it (574 x 323 for a 574 x 322 export), and the export resampled once more cost a fit
    8-23 dB on an exact box."""
    k_export = after_shape[1] / max(box[2] - box[0], 1e-6)
    k = min(1.0, SHARP / max(shape[:2]), k_export)
    if k == k_export:
        return after_shape[1], after_shape[0]
    return max(8, round((box[2] - box[0]) * k)), max(8, round((box[3] - box[1]) * k))


def _polish(before: np.ndarray, after: np.ndarray, box: tuple[float, float, float, float]
            ) -> tuple[tuple[float, float, float, float], float]:
    """``box`` moved edge by edge (and whole, or grown about its centre), by each of ``POLISH_STEPS``
    pixels of the original in turn, while the export's detail correlates better with the part of
    ``before`` it then covers, resampled to :func:`fit_grid` exactly (a fractional box): unbiased
    where a correlation peak's vertex is not, to ~1/8 pixel. A fit compares pixel by pixel, and a
    third of a pixel off already costs the saturation step of a look (37.8 dB left where the exact
    box leaves 67). Returns the box and its correlation."""
    H, W = before.shape[:2]
    luma = np.asarray(LUMA, np.float32)
    lum = Image.fromarray(np.ascontiguousarray(np.asarray(before[..., :3], np.float32) @ luma), mode="F")
    size = fit_grid(box, before.shape, after.shape)
    target = _unit(_sharp_detail(after, size))

    def score(b: tuple[float, ...]) -> float:
        return _correlation(_high_pass(np.asarray(lum.resize(size, Image.Resampling.BOX, box=b, reducing_gap=None))),
                            target)

    limits = (W, H, W, H)
    a = (box[3] - box[1]) / max(box[2] - box[0], 1e-6)  # the box's height per width
    # each edge alone, and the whole box moved or grown about its centre: thin lines correlate over a
    # ridge narrower than a step, and a box off in place or size was a valley of single-edge moves away
    moves = [tuple(sign * (i == edge) for i in range(4)) for edge in range(4) for sign in (-1.0, 1.0)]
    moves += [(d, 0.0, d, 0.0) for d in (-1.0, 1.0)] + [(0.0, d, 0.0, d) for d in (-1.0, 1.0)]
    moves += [(-d / 2, -d * a / 2, d / 2, d * a / 2) for d in (-1.0, 1.0)]
    best, top = box, score(box)
    for step in POLISH_STEPS:
        moved, budget = True, 16  # a few pixels at most: the levels before found it to about one
        while moved and budget:
            moved, budget = False, budget - 1
            for move in moves:
                b = [float(np.clip(v + d * step, 0.0, limit)) for v, d, limit in zip(best, move, limits)]
                if b[2] - b[0] < 8 or b[3] - b[1] < 8:
                    continue
                got = score(tuple(b))
                if got > top + 1e-6:
                    best, top, moved = tuple(b), got, True
    return best, top
