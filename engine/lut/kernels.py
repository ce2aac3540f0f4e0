"""The numba kernels that run the baked tables over rows of an image, and the histogram of their output."""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

# The pre table's layout, declared here and not in tables.py: the compiled kernels bake these in,
# and numba's on-disk cache is checked against this file alone (changed in tables.py, the cached
# kernels kept the old layout, and every render was wrong, by 0.96 of white).
IN_MAX = 4.0  # linear input range of the pre table (a power of two: see tables.pre_nodes)
# The pre table's nodes are float32 values whose low mantissa bits are zero: 2**(23 - SHIFT)
# nodes per octave from 2**PRE_LO_EXP up to IN_MAX (see tables.pre_nodes).
_PRE_SHIFT = 13  # 1024 nodes per octave: relative spacing 1/1024
PRE_LO_EXP = -20  # inputs below 2**-20 (~1e-6, 0.003 8-bit levels) read as 2**-20
_PRE_LO = (127 + PRE_LO_EXP) << 23
_PRE_HI = int(np.array(IN_MAX, np.float32).view(np.int32))

# One parallel pass over blocks of rows. Each row goes through the stages one loop at a time,
# into three float32 planes small enough to stay in L1: every loop is then branch-free and
# LLVM vectorises it (AVX2/AVX-512 gathers for the table lookups), which is ~3x faster than
# one scalar loop doing everything per pixel. The last loop writes float32 RGB, uint8 RGB or
# packed 0xFFRRGGBB words (Qt's Format_RGB32, so a preview needs no conversion at all).


_F0, _F1 = np.float32(0.0), np.float32(1.0)
_PRE_MASK = (1 << _PRE_SHIFT) - 1
_PRE_FRAC = np.float32(1.0 / (1 << _PRE_SHIFT))
_K16 = np.float32(1.0 / 65535.0)
_M16 = np.uint64(0xFFFF)
MODES = {np.dtype(np.float32): 0, np.dtype(np.uint8): 1, np.dtype(np.uint32): 2}
HIST_STEP = 4  # the histogram counts every 4th pixel of every 4th row


@numba.njit(cache=True, inline="always", fastmath=True)
def _pre_row(bits: np.ndarray, y: int, pre: np.ndarray, rr: np.ndarray, gg: np.ndarray, bb: np.ndarray) -> None:
    """The pre table, indexed by the float's own bits (see :func:`pre_nodes`): no sqrt, no log."""
    for x in range(bits.shape[1]):
        b0 = min(max(bits[y, x, 0], _PRE_LO), _PRE_HI) - _PRE_LO
        b1 = min(max(bits[y, x, 1], _PRE_LO), _PRE_HI) - _PRE_LO
        b2 = min(max(bits[y, x, 2], _PRE_LO), _PRE_HI) - _PRE_LO
        i0, i1, i2 = b0 >> _PRE_SHIFT, b1 >> _PRE_SHIFT, b2 >> _PRE_SHIFT
        a = pre[0, i0]
        rr[x] = a + (pre[0, i0 + 1] - a) * (np.float32(b0 & _PRE_MASK) * _PRE_FRAC)
        a = pre[1, i1]
        gg[x] = a + (pre[1, i1 + 1] - a) * (np.float32(b1 & _PRE_MASK) * _PRE_FRAC)
        a = pre[2, i2]
        bb[x] = a + (pre[2, i2 + 1] - a) * (np.float32(b2 & _PRE_MASK) * _PRE_FRAC)


@numba.njit(cache=True, inline="always", fastmath=True)
def _cube_row(rr: np.ndarray, gg: np.ndarray, bb: np.ndarray, packed: np.ndarray, n: int) -> None:
    """Tetrahedral lookup, in place: ``rr, gg, bb`` hold lattice coordinates in [0, n - 1].

    ``packed`` holds each node's three 16-bit values in one uint64, so a pixel costs 4 gathers,
    not 12. The tetrahedron is picked without branches (max/min of the fractions and selects):
    the hue's sextant is unpredictable on a photo.
    """
    top = np.int32(n - 2)  # int32 throughout: with int64 indices LLVM leaves this loop scalar
    sb, sg, sr = np.int32(1), np.int32(n), np.int32(n * n)
    s111 = sr + sg + sb
    for x in range(rr.shape[0]):
        r, g, b = rr[x], gg[x], bb[x]
        i, j, k = min(np.int32(r), top), min(np.int32(g), top), min(np.int32(b), top)
        fr, fg, fb = r - np.float32(i), g - np.float32(j), b - np.float32(k)
        # Walk 000 -> (+ axis of the largest fraction) -> 111 - (axis of the smallest) -> 111.
        hi = max(fr, max(fg, fb))
        lo = min(fr, min(fg, fb))
        mid = fr + fg + fb - hi - lo
        r_max = (fr >= fg) & (fr >= fb)
        g_max = (fg > fr) & (fg >= fb)
        off1 = sr if r_max else (sg if g_max else sb)
        b_min = (fb <= fr) & (fb <= fg)  # ties break so that the max and min axes differ
        g_min = (fg < fb) & (fg <= fr)
        off2 = s111 - (sb if b_min else (sg if g_min else sr))
        base = i * sr + j * sg + k * sb
        c0, c1, c2, c3 = packed[base], packed[base + off1], packed[base + off2], packed[base + s111]
        w0, w1, w2, w3 = (_F1 - hi) * _K16, (hi - mid) * _K16, (mid - lo) * _K16, lo * _K16
        rr[x] = (w0 * np.float32(c0 & _M16) + w1 * np.float32(c1 & _M16)
                 + w2 * np.float32(c2 & _M16) + w3 * np.float32(c3 & _M16))
        gg[x] = (w0 * np.float32((c0 >> 16) & _M16) + w1 * np.float32((c1 >> 16) & _M16)
                 + w2 * np.float32((c2 >> 16) & _M16) + w3 * np.float32((c3 >> 16) & _M16))
        bb[x] = (w0 * np.float32(c0 >> 32) + w1 * np.float32(c1 >> 32)
                 + w2 * np.float32(c2 >> 32) + w3 * np.float32(c3 >> 32))


@numba.njit(cache=True, inline="always", fastmath=True)
def _post_row(rr: np.ndarray, gg: np.ndarray, bb: np.ndarray, post: np.ndarray) -> None:
    """The post table, uniform over the shaped [0, 1], in place."""
    n1 = post.shape[1] - 1
    fn1 = np.float32(n1)
    for x in range(rr.shape[0]):
        p0 = min(max(rr[x], _F0), _F1) * fn1
        p1 = min(max(gg[x], _F0), _F1) * fn1
        p2 = min(max(bb[x], _F0), _F1) * fn1
        i0, i1, i2 = min(np.int32(p0), n1 - 1), min(np.int32(p1), n1 - 1), min(np.int32(p2), n1 - 1)
        a = post[0, i0]
        rr[x] = a + (post[0, i0 + 1] - a) * (p0 - np.float32(i0))
        a = post[1, i1]
        gg[x] = a + (post[1, i1 + 1] - a) * (p1 - np.float32(i1))
        a = post[2, i2]
        bb[x] = a + (post[2, i2 + 1] - a) * (p2 - np.float32(i2))


@numba.njit(cache=True, inline="always", fastmath=True)
def _byte(v: float) -> int:
    return np.uint32(min(max(v, _F0), _F1) * np.float32(255.0) + np.float32(0.5))


@numba.njit(cache=True, inline="always", fastmath=True)
def _write_row(y: int, rr: np.ndarray, gg: np.ndarray, bb: np.ndarray, mode: int, out_f: np.ndarray,
               out_b: np.ndarray, out_p: np.ndarray) -> None:
    w = rr.shape[0]
    if mode == 0:
        for x in range(w):
            out_f[y, x, 0] = rr[x]
            out_f[y, x, 1] = gg[x]
            out_f[y, x, 2] = bb[x]
    elif mode == 1:
        for x in range(w):
            out_b[y, x, 0] = _byte(rr[x])
            out_b[y, x, 1] = _byte(gg[x])
            out_b[y, x, 2] = _byte(bb[x])
    else:
        for x in range(w):
            out_p[y, x] = np.uint32(0xFF000000) | (_byte(rr[x]) << 16) | (_byte(gg[x]) << 8) | _byte(bb[x])


@numba.njit(cache=True, fastmath=True, nogil=True)
def _histogram(mode: int, out_f: np.ndarray, out_b: np.ndarray, out_p: np.ndarray, step: int,
               hist: np.ndarray) -> None:
    """R, G, B and Rec.709 luma (0.2126, 0.7152, 0.0722 in 1/256) counts of the 8-bit output
    over every ``step``-th pixel of every ``step``-th row. A pass of its own: counting inside
    :func:`_apply` keeps LLVM from vectorising any of its loops (~4x slower)."""
    h, w = (out_p.shape[0], out_p.shape[1]) if mode == 2 else (out_b.shape[0], out_b.shape[1])
    if mode == 0:
        h, w = out_f.shape[0], out_f.shape[1]
    for y in range(0, h, step):
        for x in range(0, w, step):
            if mode == 2:
                v = out_p[y, x]
                r, g, b = (v >> 16) & 255, (v >> 8) & 255, v & 255
            elif mode == 1:
                r, g, b = np.uint32(out_b[y, x, 0]), np.uint32(out_b[y, x, 1]), np.uint32(out_b[y, x, 2])
            else:
                r, g, b = _byte(out_f[y, x, 0]), _byte(out_f[y, x, 1]), _byte(out_f[y, x, 2])
            hist[0, r] += 1
            hist[1, g] += 1
            hist[2, b] += 1
            hist[3, (r * 54 + g * 183 + b * 19) >> 8] += 1


@numba.njit(parallel=True, cache=True, fastmath=True, error_model="numpy", nogil=True)
def _apply(bits: np.ndarray, pre: np.ndarray, packed: np.ndarray, n: int, post: np.ndarray, mode: int,
           out_f: np.ndarray, out_b: np.ndarray, out_p: np.ndarray, y0: int, y1: int, mid: np.ndarray,
           keep_mid: bool) -> None:
    """Rows ``y0:y1``: pre -> (cube, when ``n`` > 0) -> (post, when it has more than one column)
    -> output. ``bits``: the float32 image viewed as int32; ``mode``: see :data:`MODES`.
    ``keep_mid``: also store the cube's output in ``mid`` (uint16 (H, W, 3)), see :func:`_apply_tail`.

    Called with numba's thread count set to 1 from each thread of :class:`_Rows`, which shares
    the rows out; ``parallel=True`` is kept because numba then marks the array arguments
    ``noalias``, without which LLVM vectorises none of the loops (measured ~4x slower).
    """
    w = bits.shape[1]
    has_post = post.shape[1] > 1
    for y in prange(y0, y1):
        rr = np.empty(w, np.float32)
        gg = np.empty(w, np.float32)
        bb = np.empty(w, np.float32)
        _pre_row(bits, y, pre, rr, gg, bb)
        if n > 0:
            _cube_row(rr, gg, bb, packed, n)
        if keep_mid:
            for x in range(w):
                mid[y, x, 0] = np.uint16(min(max(rr[x], _F0), _F1) * np.float32(65535.0) + np.float32(0.5))
                mid[y, x, 1] = np.uint16(min(max(gg[x], _F0), _F1) * np.float32(65535.0) + np.float32(0.5))
                mid[y, x, 2] = np.uint16(min(max(bb[x], _F0), _F1) * np.float32(65535.0) + np.float32(0.5))
        if has_post:
            _post_row(rr, gg, bb, post)
        _write_row(y, rr, gg, bb, mode, out_f, out_b, out_p)


@numba.njit(parallel=True, cache=True, fastmath=True, error_model="numpy", nogil=True)
def _apply_chain(bits: np.ndarray, pre: np.ndarray, packed: np.ndarray, n: int, post: np.ndarray, mode: int,
                 out_f: np.ndarray, out_b: np.ndarray, out_p: np.ndarray, y0: int, y1: int, between: np.ndarray,
                 more: np.ndarray, between2: np.ndarray, more2: np.ndarray, links: int) -> None:
    """:func:`_apply` for a chain of cubes (see :func:`_bake_middle`): pre -> cube -> ``between``
    table -> ``more`` cube (-> ``between2`` -> ``more2`` when ``links`` is 2) -> post -> output.
    A kernel of its own, with each link its own contiguous arrays: a loop over the links in the
    single-cube kernel made it a quarter slower even with nothing to loop over, and slices of one
    stacked array in the loop 3x slower than two plain cubes."""
    w = bits.shape[1]
    has_post = post.shape[1] > 1
    for y in prange(y0, y1):
        rr = np.empty(w, np.float32)
        gg = np.empty(w, np.float32)
        bb = np.empty(w, np.float32)
        _pre_row(bits, y, pre, rr, gg, bb)
        _cube_row(rr, gg, bb, packed, n)
        _post_row(rr, gg, bb, between)
        _cube_row(rr, gg, bb, more, n)
        if links > 1:
            _post_row(rr, gg, bb, between2)
            _cube_row(rr, gg, bb, more2, n)
        if has_post:
            _post_row(rr, gg, bb, post)
        _write_row(y, rr, gg, bb, mode, out_f, out_b, out_p)


@numba.njit(parallel=True, cache=True, fastmath=True, error_model="numpy", nogil=True)
def _apply_tail(mid: np.ndarray, post: np.ndarray, mode: int, out_f: np.ndarray, out_b: np.ndarray,
                out_p: np.ndarray, y0: int, y1: int) -> None:
    """Rows ``y0:y1`` from the cube's stored output: post -> output. A slider of a step after the
    last mixing step (the tail: a step added at the end, typically) changes only the post table,
    so the pre and cube stages of the previous render are reused (see :func:`apply_lut`)."""
    w = mid.shape[1]
    k = np.float32(1.0 / 65535.0)
    for y in prange(y0, y1):
        rr = np.empty(w, np.float32)
        gg = np.empty(w, np.float32)
        bb = np.empty(w, np.float32)
        for x in range(w):
            rr[x] = np.float32(mid[y, x, 0]) * k
            gg[x] = np.float32(mid[y, x, 1]) * k
            bb[x] = np.float32(mid[y, x, 2]) * k
        _post_row(rr, gg, bb, post)
        _write_row(y, rr, gg, bb, mode, out_f, out_b, out_p)


_NO_POST = np.zeros((3, 1), np.float32)
_NO_CUBE = np.zeros(1, np.uint64)
_NO_F = np.zeros((1, 1, 3), np.float32)
_NO_B = np.zeros((1, 1, 3), np.uint8)
_NO_P = np.zeros((1, 1), np.uint32)
_NO_MID = np.zeros((1, 1, 3), np.uint16)
