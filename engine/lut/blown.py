"""The second pass over the pixels blown white in the file, which a white balance leaves alone: found by a
scan, then rendered again from a fine table of their corner of the input (see
:func:`engine.lut.apply_recipe_lut`)."""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numba
import numpy as np

from ..filters.white_balance import BLOWN_AT, BLOWN_FROM, COLOURED, NEUTRAL, NOT_BLOWN_PAST
from ..recipe import Recipe
from .apply import _frozen, apply_lut
from .bake import _cached_bake
from .cache import _CACHE_LOCK, _recall, _remember
from .kernels import _F0, _F1, _NO_B, _NO_F, _NO_P, MODES, _byte
from .tables import DEFAULT_SIZE


@dataclass(frozen=True)
class _Blown:
    """Flat indices of the pixels a white balance leaves (partly) alone
    (:func:`engine.filters.white_balance.blown`), by how they are rendered again."""

    corner: np.ndarray  #: every channel in (BLOWN_FROM, NOT_BLOWN_PAST): the corner table
    alone: np.ndarray  #: neutral past white, left wholly alone (a RAW's rebuilt clip): the tables without it
    fade: np.ndarray  #: nearly neutral past white, partly alone: the exact math

    @property
    def count(self) -> int:
        return len(self.corner) + len(self.alone) + len(self.fade)


_BLOWN: list[tuple[weakref.ref, _Blown]] = []  # the last read-only images' blown pixels


def _blown_pixels(linear: np.ndarray) -> _Blown:
    """The pixels a white balance leaves (partly) alone (:class:`_Blown`); remembered for the
    last two read-only images (the app's preview levels, which slider moves re-render)."""
    with _CACHE_LOCK:
        for ref, fix in _BLOWN:
            if ref() is linear:
                return fix
    flat = np.ascontiguousarray(linear, np.float32).reshape(-1, 3)
    found = np.empty((3, len(flat)), np.int64)
    counts = np.zeros(3, np.int64)
    _scan_corner(flat, np.float32(BLOWN_FROM), np.float32(NOT_BLOWN_PAST), np.float32(BLOWN_AT),
                 np.float32(NEUTRAL), np.float32(COLOURED), found, counts)
    parts = [found[k, :counts[k]].copy() for k in range(3)]
    for a in parts:
        a.flags.writeable = False
    fix = _Blown(*parts)
    if _frozen(linear):
        with _CACHE_LOCK:
            _BLOWN[:] = [(weakref.ref(linear), fix), *_BLOWN[:1]]
    return fix


@numba.njit(cache=True, nogil=True)
def _scan_corner(flat: np.ndarray, lo: np.float32, hi: np.float32, at: np.float32, neutral: np.float32,
                 coloured: np.float32, found: np.ndarray, counts: np.ndarray) -> None:
    """Sorts the rows of ``flat`` with every channel past ``lo`` into ``found[k, :counts[k]]``:
    k = 0, every channel below ``hi``; past it, 1 with every channel from ``at`` and a spread
    between them of at most ``neutral`` of the brightest, 2 with one under ``coloured``. One pass,
    ~4x faster than numpy's three."""
    for j in range(flat.shape[0]):
        r, g, b = flat[j, 0], flat[j, 1], flat[j, 2]
        low, high = min(r, g, b), max(r, g, b)
        if low <= lo:
            continue
        if high < hi:
            k = 0
        elif low >= at and high - low <= neutral * high:
            k = 1
        elif high - low < coloured * high:
            k = 2
        else:
            continue
        found[k, counts[k]] = j
        counts[k] += 1


#: Nodes per axis of the table over the corner of blown whites, [BLOWN_FROM, 1]³: within 1.5 levels of
#: the exact math after a tungsten correction (3.4 with 17, where the display's clip bends inside a
#: cell); ~5 ms to bake. Drafts (a cube under 33³, while a slider is held) take 17.
CORNER = 33
DRAFT_CORNER = 17
_CORNERS: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()


def _corner_table(recipe: Recipe, n: int = CORNER) -> np.ndarray:
    """The exact render (display sRGB) on an n³ lattice over the corner where a white balance
    leaves pixels of an integer file alone, [BLOWN_FROM, 1]³, cached."""
    key = (recipe.dumps(), n)
    if (hit := _recall(_CORNERS, key)) is not None:
        return hit
    from ..render import render_exact

    axis = np.linspace(BLOWN_FROM, 1.0, n, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(1, -1, 3)
    table = np.ascontiguousarray(render_exact(recipe, grid).reshape(n, n, n, 3), np.float32)
    table.flags.writeable = False
    return _remember(_CORNERS, key, table, 8)


@numba.njit(cache=True, inline="always", fastmath=True)
def _write_pixel(j: int, r: float, g: float, b: float, mode: int, out_f: np.ndarray, out_b: np.ndarray,
                 out_p: np.ndarray) -> None:
    """Pixel ``j`` of the output of ``mode`` (flat views, as :func:`_write_row`'s), rounded as the
    tables' rows are (:func:`_byte`)."""
    if mode == 0:
        out_f[j, 0], out_f[j, 1], out_f[j, 2] = r, g, b
    elif mode == 1:
        out_b[j, 0], out_b[j, 1], out_b[j, 2] = _byte(r), _byte(g), _byte(b)
    else:
        out_p[j] = np.uint32(0xFF000000) | (_byte(r) << 16) | (_byte(g) << 8) | _byte(b)


@numba.njit(cache=True, fastmath=True, nogil=True)
def _corner_apply(flat: np.ndarray, fix: np.ndarray, table: np.ndarray, lo: float, mode: int,
                  out_f: np.ndarray, out_b: np.ndarray, out_p: np.ndarray, beyond: np.ndarray) -> int:
    """Trilinear interpolation of ``table`` (n³ nodes over [lo, 1]³) at the pixels ``fix`` of
    ``flat`` (N, 3), written into the output of ``mode`` (flat views, as :func:`_write_row`).
    Pixels with a channel past 1 (a float file's) are listed in ``beyond`` instead; returns how many."""
    n = table.shape[0]
    scale = np.float32((n - 1) / (1.0 - lo))
    top = np.float32(n - 1)
    past = 0
    for k in range(fix.shape[0]):
        j = fix[k]
        if flat[j, 0] > _F1 or flat[j, 1] > _F1 or flat[j, 2] > _F1:
            beyond[past] = j
            past += 1
            continue
        u0 = min(max((flat[j, 0] - np.float32(lo)) * scale, _F0), top)
        u1 = min(max((flat[j, 1] - np.float32(lo)) * scale, _F0), top)
        u2 = min(max((flat[j, 2] - np.float32(lo)) * scale, _F0), top)
        i0, i1, i2 = min(int(u0), n - 2), min(int(u1), n - 2), min(int(u2), n - 2)
        f0, f1, f2 = u0 - np.float32(i0), u1 - np.float32(i1), u2 - np.float32(i2)
        r = g = b = np.float32(0.0)
        for d0 in range(2):
            w0 = f0 if d0 else _F1 - f0
            for d1 in range(2):
                w1 = w0 * (f1 if d1 else _F1 - f1)
                for d2 in range(2):
                    w = w1 * (f2 if d2 else _F1 - f2)
                    r += w * table[i0 + d0, i1 + d1, i2 + d2, 0]
                    g += w * table[i0 + d0, i1 + d1, i2 + d2, 1]
                    b += w * table[i0 + d0, i1 + d1, i2 + d2, 2]
        _write_pixel(j, r, g, b, mode, out_f, out_b, out_p)
    return past


#: Pixels per row when the pixels left wholly alone are run through the tables as an image of
#: their own: rows are what the tables' threads share.
_ALONE_ROW = 4096


def _render_corner(recipe: Recipe, linear: np.ndarray, fix: _Blown, out: np.ndarray, n: int,
                   size: int = DEFAULT_SIZE) -> None:
    """Overwrite the pixels ``fix`` of ``out``, in ``out``'s format: those in the corner with the
    corner table's render (:func:`_corner_table`, n³); those past white and left wholly alone (a
    RAW's rebuilt clip, often a whole sky) with the tables of the recipe without its white
    balances (``size``³); the rest (a fade past white) by the exact math."""
    flat = np.ascontiguousarray(linear, np.float32).reshape(-1, 3)
    mode = MODES[out.dtype]
    outs = [_NO_F.reshape(-1, 3), _NO_B.reshape(-1, 3), _NO_P.reshape(-1)]
    outs[mode] = out.reshape(-1) if mode == 2 else out.reshape(-1, 3)
    beyond = np.empty(len(fix.corner), np.int64)
    beyond = beyond[:_corner_apply(flat, fix.corner, _corner_table(recipe, n), BLOWN_FROM, mode, *outs, beyond)]
    if m := len(fix.alone):
        lut = _cached_bake(Recipe([s for s in recipe.steps if not s.spec.uses_blown]), size)
        rows = -(-m // _ALONE_ROW)
        px = np.zeros((rows * _ALONE_ROW, 3), np.float32)
        _take(flat, fix.alone, px)
        got = np.empty((rows, _ALONE_ROW, *out.shape[2:]), out.dtype)
        apply_lut(lut, px.reshape(rows, _ALONE_ROW, 3), got)
        _put(got.reshape(rows * _ALONE_ROW, -1), fix.alone, outs[mode].reshape(len(flat), -1))
    beyond = np.concatenate([beyond, fix.fade]) if len(fix.fade) else beyond
    if not len(beyond):
        return
    from ..render import render_exact

    srgb = np.ascontiguousarray(render_exact(recipe, flat[beyond][None])[0], np.float32)
    _scatter(srgb, beyond, mode, *outs)


@numba.njit(cache=True, nogil=True)
def _take(src: np.ndarray, at: np.ndarray, dst: np.ndarray) -> None:
    """``dst[k] = src[at[k]]`` for rows (numpy's fancy indexing, ~4x faster)."""
    for k in range(at.shape[0]):
        for c in range(src.shape[1]):
            dst[k, c] = src[at[k], c]


@numba.njit(cache=True, nogil=True)
def _put(src: np.ndarray, at: np.ndarray, dst: np.ndarray) -> None:
    """``dst[at[k]] = src[k]`` for rows."""
    for k in range(at.shape[0]):
        for c in range(src.shape[1]):
            dst[at[k], c] = src[k, c]


@numba.njit(cache=True, nogil=True)
def _scatter(srgb: np.ndarray, at: np.ndarray, mode: int, out_f: np.ndarray, out_b: np.ndarray,
             out_p: np.ndarray) -> None:
    """Writes display sRGB rows ``srgb`` (N, 3) at the flat indices ``at`` of the output of
    ``mode`` (:func:`_write_pixel`)."""
    for k in range(at.shape[0]):
        j, r, g, b = at[k], srgb[k, 0], srgb[k, 1], srgb[k, 2]
        _write_pixel(j, r, g, b, mode, out_f, out_b, out_p)
