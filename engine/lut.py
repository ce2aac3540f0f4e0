"""The fast replay path: a recipe baked into 1-D and 3-D lookup tables, applied by numba.

Every filter is pointwise, so ``render(recipe, x)`` is a fixed function of each pixel's RGB.
:func:`bake_lut` evaluates the *declared* filter math once on small lattices (no formula is
written twice) and :func:`apply_lut` interpolates them over the photo in one vectorised pass.

The recipe's enabled, non-identity steps are split in three, the layout of an ACES/OCIO
"shaper + cube + post" transform:

* **pre** (1-D, per channel): the leading run of per-channel steps (exposure, gamma, white
  balance, tone, colour curves), sampled at 1024 nodes per octave from 2**-20 to IN_MAX
  (:func:`pre_nodes`), so the samples crowd the shadows where the sRGB curve is steepest.
* **cube** (3-D, ``size``³, tetrahedral): the middle, from the first step that mixes channels
  (saturation, contrast, black & white) to the last; its input and output are encoded with the
  :data:`MID_MAX` shaper below, which puts linear 1.0 exactly on a lattice plane (the clip of
  saturation and contrast) and spaces the nodes like sRGB.
* **post** (1-D, per channel): the trailing per-channel steps and the sRGB output encoding
  (left out when nothing follows the cube: the cube then stores display sRGB itself).

A recipe of per-channel steps only is a single 1-D table: exact to ~1e-4 and the fastest case.
Which steps are per-channel is probed numerically from the math itself (:func:`is_channelwise`).

Each middle is checked once, when baked, against the exact math on fixed probe colours, with the
steps after it run exactly, in display levels (:func:`_bake_middle`). Where one cube is more than
:data:`CHAIN_ABOVE` levels off, other layouts are tried and the most accurate kept: a **chain** (a
cube per run of mixing steps, the per-channel steps between them in 1-D tables: a steep gamma between
saturation and contrast was 48 levels off), and a **wider range** between the stages with a denser
cube (where the steps before the cube lift white past :data:`MID_MAX`).

Range: the fast path reads linear input in [0, :data:`IN_MAX`] = [0, 4] (two stops above
white); between the pre and cube stages values are held to about [0, :data:`MID_MAX`] = [0, 2]
(1.91 for a 33³ cube, so that 1.0 sits on a node), or up to 16 where the steps before the cube lift
white further and a later step would pull it back down (see above). Anything above is clamped
there, while ``render(..., exact=True)`` keeps it.

Accuracy (8-bit sRGB levels against the exact math, real photos): per-channel recipes < 0.05
(pixels blown white in the file under a white balance: within 1.5, see below); with saturation /
contrast / black & white in the cube ~1-3 at 33³, ~0.5-1.5 at 65³ (worst where a clip, e.g. tone's
at 1, falls between lattice planes); over random 5-step recipes of mid-range values on real photos,
at most 6 levels at 1024 px with 33³ (28 before chains and wide ranges, 77 for one white pushed to
6.9, 140 for +3.5 EV, contrast, -3.5 EV). Every filter is continuous (the saturation filter fades its
boost in near grey instead of the paper's jump there), so plain interpolation suffices, with one
exception: a white balance leaves pixels blown white in the file alone over a fade narrower than a
cell (:func:`engine.filters.white_balance.blown`), so those pixels, all in a small corner of the
input, are rendered again from a fine table of that corner (:func:`apply_recipe_lut`).

Speed (``bench/preview.py``): each row goes through the stages one branch-free loop at a
time, which LLVM vectorises (table lookups become AVX2/AVX-512 gathers); the pre table is
indexed by the input float's own bits (no sqrt or log per pixel) and the cube is read as one
uint64 of three 16-bit values per node (4 loads per pixel, not 12). Rows are shared between the
calling thread and one helper per extra core without a fork-join barrier (:class:`_Rows`). The
cube of the mixing steps and the pre table are cached, so moving a slider of a per-channel step
re-bakes only a 1-D table; for a read-only image the cube's per-pixel output is kept too, so a
slider of a step after the last mixing step re-runs only the post stage (the tail cache, in
:func:`apply_lut`). For the app, :func:`apply_lut` writes Qt's RGB32 words and the histogram.
Measured at 2 MP on one core of the AMD EPYC here: ~12 ms for pre + 33³ cube, ~4 ms more with
a post table, ~7 ms post-only from the tail cache, ~6 ms for a 1-D recipe (the former
single-loop scalar kernel: ~35 ms for pre + cube).
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
from numba import prange

from .atomic import atomic_path
from .color import srgb_decode, srgb_encode
from .filters.base import replay_steps
from .filters.white_balance import BLOWN_AT, BLOWN_FROM, COLOURED, NEUTRAL, NOT_BLOWN_PAST
from .recipe import Recipe, Step

IN_MAX = 4.0  # linear input range of the pre table (a power of two: see pre_nodes)
MID_MAX = 2.0  # linear range held between the stages (values above are clamped)
POST_SIZE = 4097  # entries of each post table (uniform over the shaped [0, 1])
# The pre table's nodes are float32 values whose low mantissa bits are zero: 2**(23 - SHIFT)
# nodes per octave from 2**PRE_LO_EXP up to IN_MAX (see pre_nodes).
_PRE_SHIFT = 13  # 1024 nodes per octave: relative spacing 1/1024
PRE_LO_EXP = -20  # inputs below 2**-20 (~1e-6, 0.003 8-bit levels) read as 2**-20
_PRE_LO = (127 + PRE_LO_EXP) << 23
_PRE_HI = int(np.array(IN_MAX, np.float32).view(np.int32))
PRE_SIZE = ((_PRE_HI - _PRE_LO) >> _PRE_SHIFT) + 2  # + the node past IN_MAX, read with weight 0
_CACHE_LOCK = threading.Lock()  # guards the bake caches below (the app renders from worker threads)


def _recall(store: OrderedDict, key: tuple) -> Any:
    """The table a bake cache holds under ``key`` (now its most recent), or None."""
    with _CACHE_LOCK:
        if key in store:
            store.move_to_end(key)
            return store[key]
    return None


def _remember(store: OrderedDict, key: tuple, value: Any, limit: int) -> Any:
    """``value`` kept in a bake cache under ``key``, the oldest dropped past ``limit``; returns it."""
    with _CACHE_LOCK:
        store[key] = value
        while len(store) > limit:
            store.popitem(last=False)
    return value
DEFAULT_SIZE = 33  # lattice points per axis of the cube
LARGE_SIZE = 65  # ... for images above LARGE_IMAGE pixels
LARGE_IMAGE = 4_000_000


@functools.lru_cache(maxsize=16)
def _mid_scale(size: int, top: float = MID_MAX) -> float:
    """Linear value that maps to shaped 1.0, about ``top``: chosen so that linear 1.0 sits exactly
    on a node."""
    want = float(srgb_encode(np.float64(1.0 / top)))  # where 1.0 would fall with scale ``top``
    node = max(1, round(want * (size - 1)))
    # srgb_encode(1 / s) = node / (size - 1)  =>  s = 1 / srgb_decode(node / (size - 1))
    return 1.0 / float(srgb_decode(np.float64(node / (size - 1))))


def shape_mid(x: np.ndarray, size: int, top: float = MID_MAX) -> np.ndarray:
    """Linear [0, ~top] -> cube coordinate [0, 1] (sRGB-like spacing, 1.0 on a node)."""
    s = _mid_scale(size, top)
    x = np.asarray(x)
    if x.dtype != np.float32:  # float32 stays float32: half the time on a cube (error < 2e-7)
        x = x.astype(np.float64)
    return srgb_encode(np.clip(x, 0.0, s) * x.dtype.type(1.0 / s))


def unshape_mid(u: np.ndarray, size: int, top: float = MID_MAX) -> np.ndarray:
    return srgb_decode(np.asarray(u, np.float64)) * _mid_scale(size, top)


# ---------------------------------------------------------------------------------------------
# Which steps are per-channel


_PROBE = np.array([0.0, 0.0013, 0.021, 0.087, 0.23, 0.46, 0.79, 1.0, 1.37, 1.9], np.float32)


def is_channelwise(step: Step) -> bool:
    """True when each output channel depends on the same input channel only.

    Read from the filter's ``channelwise`` attribute when it declares one, otherwise probed once per
    filter version: its math runs, at fixed values away from the defaults, on a 10³ grid of
    independent R, G, B values, and every output channel must be constant along the other two
    input axes.
    """
    declared = getattr(step.spec, "channelwise", None)
    if declared is not None:
        return bool(declared)
    # Mixing channels is a property of the formula, so the probe runs at fixed probe values, never
    # at the step's own: a near-identity value (the policy's "pass", a saturation of 1e-5) would
    # look per-channel, and caching that would bake every later step of that filter wrongly.
    key = (step.op, step.spec.version)
    if key not in _CHANNELWISE:
        _CHANNELWISE[key] = _probe_channelwise(step.spec)
    return _CHANNELWISE[key]


_CHANNELWISE: dict[tuple[str, int], bool] = {}


def _probe_params(spec) -> dict:
    """Values away from every default: 0.37 of each range, varied along curve parameters."""
    out: dict = {}
    for p in spec.params:
        if p.shape:
            frac = np.linspace(0.2, 0.8, p.size).reshape(p.shape)
            out[p.name] = p.min + frac * (p.max - p.min)
        else:
            out[p.name] = p.min + 0.37 * (p.max - p.min)
    return out


def _probe_channelwise(spec) -> bool:
    grid = np.stack(np.meshgrid(_PROBE, _PROBE, _PROBE, indexing="ij"), axis=-1)
    out = np.asarray(spec.apply(grid, **_probe_params(spec)), np.float64)
    tol = 1e-6 * max(1.0, float(np.abs(out).max()))
    return bool(np.ptp(out[..., 0], axis=(1, 2)).max() <= tol
                and np.ptp(out[..., 1], axis=(0, 2)).max() <= tol
                and np.ptp(out[..., 2], axis=(0, 1)).max() <= tol)


def _run(steps: list[Step], x: np.ndarray) -> np.ndarray:
    for s in steps:
        x = s.spec.apply(x, **s.params)
    return np.asarray(x)


_FINE = 8193  # points of the ramp a per-channel step inside the cube is evaluated on


def _interp_uniform(x: np.ndarray, lo: float, hi: float, table: np.ndarray) -> np.ndarray:
    """Per channel, linear interpolation of ``table (N, 3)`` sampled uniformly on [lo, hi]: what
    ``np.interp`` gives, ~3x faster as the nodes are evenly spaced (no search, float32)."""
    n = table.shape[0]
    u = (x - np.float32(lo)) * np.float32((n - 1) / (hi - lo))
    np.clip(u, 0.0, n - 1.0, out=u)
    i = np.minimum(u.astype(np.int32), n - 2)
    u -= i  # the fraction
    idx = i * 3
    idx += np.arange(3, dtype=np.int32)  # flat (node, channel) index: take() beats 2-D fancy indexing
    flat = np.ascontiguousarray(table).ravel()
    a = flat.take(idx)
    b = flat.take(idx + 3)
    b -= a
    b *= u
    b += a
    return b


def _run_lattice(steps: list[Step], x: np.ndarray) -> np.ndarray:
    """:func:`_run` over the cube's lattice, with each per-channel step (a tone curve between
    saturation and contrast, say) evaluated on a fine ramp over the values it receives and
    interpolated: the same declared math, within ~1e-5 (0.003 levels), at a quarter of the cost
    of the 8-segment curve on every node (~5 of the ~9 ms of a 33³ bake)."""
    x = np.asarray(x, np.float32)
    for s in steps:
        if not is_channelwise(s):
            x = np.asarray(s.spec.apply(x, **s.params), np.float32)
            continue
        lo, hi = float(x.min()), float(x.max())
        ramp = np.linspace(lo, hi if hi > lo else lo + 1.0, _FINE, dtype=np.float32)
        table = np.asarray(s.spec.apply(_channels(ramp), **s.params), np.float32)[0]  # (N, 3)
        x = _interp_uniform(x, float(ramp[0]), float(ramp[-1]), table)
    return x


# ---------------------------------------------------------------------------------------------
# Baking


@functools.cache
def pre_nodes() -> np.ndarray:
    """The linear inputs at which the pre table is sampled: float32 (PRE_SIZE,).

    Node ``i`` is the float whose bit pattern is ``bits(2**PRE_LO_EXP) + (i << 13)``: 1024
    nodes per octave, so the samples crowd the shadows like a log scale, and the kernel finds
    a pixel's node and its fraction from the pixel's own bits with a shift and a mask (no sqrt
    or log per pixel). Within an octave the mantissa is linear in the value, so the fraction
    is exact linear interpolation between the two nodes.
    """
    bits = _PRE_LO + (np.arange(PRE_SIZE, dtype=np.int64) << _PRE_SHIFT)
    nodes = bits.astype(np.int32).view(np.float32)
    nodes.flags.writeable = False
    return nodes


@dataclass(frozen=True, eq=False)
class Lut3D:
    """A baked recipe. ``cube`` is None when every step is per-channel (then ``pre`` already
    holds display sRGB); otherwise ``pre`` -> ``cube`` -> ``post``."""

    pre: np.ndarray  # (3, PRE_SIZE) float32 at pre_nodes(): display sRGB, or the cube's lattice
    #                  coordinate in [0, size - 1] when there is a cube
    cube: np.ndarray | None  # (n, n, n, 3) float32, shaped in and out, [r, g, b] indexing
    post: np.ndarray | None  # (3, POST_SIZE) float32, indexed uniformly by the shaped value;
    #                          None when no per-channel step follows the cube (it then holds sRGB)
    size: int
    packed: np.ndarray | None = None  # (n³,) uint64: the cube as three 16-bit values per node,
    #                                   what the kernel reads (4 loads per pixel instead of 12)
    between: np.ndarray | None = None  # (k, 3, POST_SIZE) float32: per-channel steps between mixing
    #                                    ones (shaped in, lattice coordinate out), each followed by
    more: np.ndarray | None = None  # (k, n³) uint64: ... the next mixing steps' cube (see _bake_middle)
    top: float = MID_MAX  # values between the stages are held to [0, ~top] (see bake_lut)


def pack_cube(cube: np.ndarray) -> np.ndarray:
    """(n, n, n, 3) values in [0, 1] -> (n³,) uint64 holding r | g << 16 | b << 32 (16 bits each:
    1/65535, far below an 8-bit level)."""
    q = np.rint(np.clip(cube.astype(np.float64), 0.0, 1.0) * 65535.0).astype(np.uint64)
    packed = (q[..., 0] | (q[..., 1] << np.uint64(16)) | (q[..., 2] << np.uint64(32))).reshape(-1)
    packed.flags.writeable = False
    return packed


def _channels(values: np.ndarray) -> np.ndarray:
    """A 1-D ramp as a (1, N, 3) grey image, for per-channel stages."""
    return np.repeat(values.astype(np.float32)[None, :, None], 3, axis=2)


def bake_lut(recipe: Recipe, size: int = DEFAULT_SIZE) -> Lut3D:
    """Evaluate the recipe's declared math on the lattices (see the module docstring)."""
    if size < 2:
        raise ValueError("LUT size must be at least 2")
    steps = Recipe(recipe.active()).copy().steps  # a snapshot: the app edits its steps in place
    if any(not s.spec.pointwise for s in steps):
        raise ValueError("only pointwise steps can be baked into a LUT")
    flags = [is_channelwise(s) for s in steps]
    mixing = [i for i, f in enumerate(flags) if not f]
    if not mixing:
        return Lut3D(_bake_pre(steps, size, into_cube=False), None, None, size)
    head, mid, tail = steps[: mixing[0]], steps[mixing[0] : mixing[-1] + 1], steps[mixing[-1] + 1 :]
    pre_post = {}
    tried: list[tuple[float, Lut3D]] = []
    enter, inside = _reach(head, mid)
    # a wider range spreads the lattice thinner: its cube gets half as many nodes again per axis
    reach = max(enter, inside)
    wide = [] if reach <= MID_MAX else [(min(WIDEST, reach * 1.05), (size - 1) * 3 // 2 + 1)]
    layouts = [(top, n, chain) for top, n in [(MID_MAX, size), *wide]
               for chain in ((False, True) if len(mixing) < len(mid) else (False,))]
    for top, n, chain in layouts:
        if top not in pre_post:
            pre_post[top] = _bake_pre(head, n, into_cube=True, top=top), _bake_post(tail, n, top)
        # probed on the colours that can enter the middle (up to white after the steps before it),
        # unless there is no other layout to choose: a slider of a mixing step re-bakes every move
        probe = None if len(layouts) == 1 else min(enter, WIDEST)
        middle, err = _bake_middle(mid, n, tail, top=top, chain=chain, reach=probe)
        lut = Lut3D(pre_post[top][0], middle[0], pre_post[top][1], n, *middle[1:], top=top)
        if err <= CHAIN_ABOVE:
            return lut
        tried.append((err, lut))
    return min(tried, key=lambda t: t[0])[1]


#: The widest range held between the stages
WIDEST = 16.0


def _reach(head: list[Step], mid: list[Step]) -> tuple[float, float]:
    """How far above white values go: entering the middle (white after the steps before it), and
    inside it (after each of its per-channel steps, which a chain's cubes must hold). Where that
    is beyond :data:`MID_MAX` a wider range is tried too: +1.1 EV and two gammas of 1.5 put white at
    6.9, which the cube saw as 2, and a black & white step after them then turned a clipped red
    into dark grey (77 levels off)."""
    x = _run(head, _channels(np.array([1.0], np.float32)))
    enter = inside = float(np.max(x))
    for s in mid:
        if is_channelwise(s):
            x = np.asarray(s.spec.apply(x, **s.params))
            inside = max(inside, float(np.max(x)))
    return enter, inside


def _bake_post(tail: list[Step], size: int, top: float) -> np.ndarray | None:
    """The trailing per-channel steps and the sRGB encoding, shaped value in; None without a tail
    (the cube then holds display sRGB directly: one table lookup less per pixel)."""
    if not tail:
        return None
    return np.ascontiguousarray(srgb_encode(_run(tail, _shaped_ramp(size, top)))[0].T, np.float32)


def _shaped_ramp(size: int, top: float) -> np.ndarray:
    """The linear values at the POST_SIZE uniform nodes of the shaped range, as a (1, N, 3) ramp:
    where the tables read after a cube (post, between) are sampled."""
    return _channels(unshape_mid(np.linspace(0.0, 1.0, POST_SIZE), size, top))


#: Most links (a 1-D table and a cube) a chain has after its first cube (:func:`_apply_chain`)
MAX_LINKS = 2

#: Largest error, in 8-bit levels, over :data:`_PROBE_PIXELS` for which the middle of a recipe is
#: baked as one cube with values held to :data:`MID_MAX`; above it the other layouts are tried and
#: the most accurate is kept.
CHAIN_ABOVE = 3.0


def _probe_pixels() -> np.ndarray:
    """Colours a middle's accuracy is checked on: a 13-level grid per channel, crowded in the
    shadows where a steep curve inside the cube strays furthest (a near-black channel beside bright
    ones, as in sand or foliage), plus 2048 log-uniform colours. Writable: no tail caching."""
    levels = np.array([0, 1e-4, 4e-4, 0.0015, 0.004, 0.01, 0.025, 0.06, 0.13, 0.25, 0.45, 0.7, 1.0], np.float32)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    rng = np.random.default_rng(20261206)
    rand = np.exp(rng.uniform(np.log(1e-4), np.log(1.2), (2048, 3))).astype(np.float32)
    return np.concatenate([grid, rand])[None]


_PROBE_PIXELS = _probe_pixels()
_MIDDLES: OrderedDict[tuple, tuple[tuple, float]] = OrderedDict()


def _bake_middle(mid: list[Step], size: int, tail: list[Step], *, top: float, chain: bool,
                 reach: float | None = 1.0) -> tuple[tuple, float]:
    """The middle's stages, ``(cube, packed, between, more)``, and their largest error in display
    levels over the probe colours (and, where values reach above 1.2, the probe colours stretched up
    to ``reach``), with the ``tail`` run exactly after them (a tail that darkens shows what the range
    clamped); ``reach`` None: not probed (the error given as 0). Cached by the middle and the tail:
    the steps before them only choose which colours a photo brings, so dragging their sliders checks
    nothing again.

    ``chain``: a cube per run of mixing steps with the per-channel steps between them in 1-D tables.
    One cube over them all interpolates a steep per-channel curve (a gamma of 0.4, a tone curve's
    dark zone) from its nodes alone: 48 levels off on sand's near-black blue after saturation,
    gamma 0.4 and contrast. Each extra cube costs one more lookup per pixel, so a recipe is chained
    only where one cube is inaccurate."""
    display = not tail
    if reach is None:  # the cube alone, cached as such (_bake_cube)
        return (*_bake_cube(mid, size, display=display, top=top), None, None), 0.0
    reach = round(max(reach, 1.2), 1)
    key = (Recipe(mid).dumps(), Recipe(tail).dumps(), size, top, chain, reach)
    if (hit := _recall(_MIDDLES, key)) is not None:
        return hit
    if chain:
        runs = [list(g) for _, g in itertools.groupby(mid, key=is_channelwise)]  # mixing, per-channel, ...
        while len(runs) > 2 * MAX_LINKS + 1:  # the kernel chains up to three cubes: the last ones share one
            runs[-3:] = [runs[-3] + runs[-2] + runs[-1]]
        cubes = [_bake_cube(r, size, display=display and i == len(runs) - 1, top=top)
                 for i, r in enumerate(runs) if i % 2 == 0]
        between = np.ascontiguousarray(np.stack([_bake_between(r, size, top) for r in runs[1::2]]), np.float32)
        more = np.ascontiguousarray(np.stack([packed for _, packed in cubes[1:]]))
        for a in (between, more):
            a.flags.writeable = False
        middle = (cubes[0][0], cubes[0][1], between, more)
    else:
        middle = (*_bake_cube(mid, size, display=display, top=top), None, None)
    alone = Lut3D(_bake_pre([], size, into_cube=True, top=top), middle[0], None, size, *middle[1:], top=top)
    probe = _PROBE_PIXELS if reach <= 1.2 else np.concatenate([_PROBE_PIXELS, _PROBE_PIXELS * (reach / 1.2)], 1)
    got = apply_lut(alone, probe.copy())  # the middle's own output: display, or shaped
    if not display:
        got = srgb_encode(_run(tail, unshape_mid(got, size, top)))
    want = srgb_encode(_run(mid + tail, probe))
    result = middle, float(np.abs(got - want).max()) * 255
    return _remember(_MIDDLES, key, result, 8)


def _bake_between(steps: list[Step], size: int, top: float) -> np.ndarray:
    """Per-channel steps between two cubes: shaped value in (uniform, POST_SIZE nodes) -> lattice
    coordinate of the next cube out, (3, POST_SIZE)."""
    return (shape_mid(_run(steps, _shaped_ramp(size, top)), size, top) * (size - 1))[0].T


#: Where the per-channel math is evaluated: 4097 points spaced as sqrt(x / IN_MAX), dense in the
#: shadows, with linear 1.0 on a point (u = 1/2). The pre table's ~22k nodes are interpolated
#: from them: evaluating the filters on every node would cost ~4 ms per bake instead of ~0.7.
_RAMP = IN_MAX * np.linspace(0.0, 1.0, POST_SIZE) ** 2
_PRES: OrderedDict[tuple[str, int, bool, float], np.ndarray] = OrderedDict()


def _bake_pre(head: list[Step], size: int, *, into_cube: bool, top: float = MID_MAX) -> np.ndarray:
    """The pre table of the leading per-channel steps, cached like the cube: display sRGB, or the
    cube's lattice coordinate in [0, size - 1] (``into_cube``)."""
    key = (Recipe(head).dumps(), size, into_cube, top)
    if (hit := _recall(_PRES, key)) is not None:
        return hit
    out = _run(head, _channels(_RAMP))
    vals = (shape_mid(out, size, top) * (size - 1) if into_cube else srgb_encode(out))[0].T
    nodes = pre_nodes()
    pre = np.ascontiguousarray(np.stack([np.interp(nodes, _RAMP, vals[c]) for c in range(3)]), np.float32)
    pre.flags.writeable = False
    return _remember(_PRES, key, pre, 8)


_CUBES: OrderedDict[tuple[str, int, bool, float], tuple[np.ndarray, np.ndarray]] = OrderedDict()


def _bake_cube(mid: list[Step], size: int, *, display: bool, top: float = MID_MAX) -> tuple[np.ndarray, np.ndarray]:
    """The cube of the mixing steps, cached: dragging a slider of a step before or after them
    (exposure, tone, ...) then only re-bakes a 1-D table (~1 ms instead of ~10)."""
    key = (Recipe(mid).dumps(), size, display, top)
    if (hit := _recall(_CUBES, key)) is not None:
        return hit
    nodes = unshape_mid(np.linspace(0.0, 1.0, size), size, top).astype(np.float32)
    grid = np.stack(np.meshgrid(nodes, nodes, nodes, indexing="ij"), axis=-1)
    out = _run_lattice(mid, grid)
    cube = np.ascontiguousarray(srgb_encode(out) if display else shape_mid(out, size, top), np.float32)
    cube.flags.writeable = False
    return _remember(_CUBES, key, (cube, pack_cube(cube)), 4)


# ---------------------------------------------------------------------------------------------
# Applying (numba)
#
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


class _Rows:
    """Blocks of rows shared between the calling thread and ``cores - 1`` helper threads.

    Unlike a fork-join pool (numba's ``parallel=True``), the caller never waits for a helper
    that has not started: it takes blocks itself until none are left and then waits only for
    blocks a helper is in the middle of. On a machine where another process keeps the other
    cores busy, a helper may be scheduled only at the next timer tick (4 ms here); a barrier
    would make every render wait for that, this just runs on the cores it gets.
    """

    def __init__(self, helpers: int) -> None:
        self._cond = threading.Condition()
        self._job: tuple | None = None  # (fn, n_blocks)
        self._next = self._n = self._busy = 0
        self._error: BaseException | None = None
        self._busy_lock = threading.Lock()  # one job at a time; a second caller works alone
        self._helpers = helpers
        for i in range(helpers):
            threading.Thread(target=self._helper, name=f"retouch-rows-{i}", daemon=True).start()

    def _take(self) -> int | None:
        """The next block index (counted as in flight), or None; call with ``_cond`` held."""
        if self._job is None or self._next >= self._n:
            return None
        self._next += 1
        self._busy += 1
        return self._next - 1

    def _work(self, fn, first: int | None) -> None:
        block = first
        numba.set_num_threads(1)  # thread-local: each block runs in this thread alone
        while block is not None:
            try:
                fn(block)
            except BaseException as e:  # re-raised in the caller
                with self._cond:
                    self._error = self._error or e
            with self._cond:
                self._busy -= 1
                block = self._take()
                if block is None and self._busy == 0:
                    self._cond.notify_all()

    def _helper(self) -> None:
        while True:
            with self._cond:
                while (block := self._take()) is None:
                    self._cond.wait()
                fn = self._job[0]
            self._work(fn, block)

    def run(self, fn, n_blocks: int) -> None:
        """Call ``fn(i)`` for every i in range(n_blocks), from this thread and the helpers."""
        if n_blocks <= 1 or not self._helpers or not self._busy_lock.acquire(blocking=False):
            with _ALONE:  # another render holds the helpers (or there are none): this thread alone
                threads = numba.get_num_threads()
                numba.set_num_threads(1)
                try:
                    for i in range(n_blocks):
                        fn(i)
                finally:
                    numba.set_num_threads(threads)
            return
        try:
            with self._cond:
                self._job, self._n, self._next, self._busy, self._error = (fn,), n_blocks, 0, 0, None
                first = self._take()
                self._cond.notify_all()
            threads = numba.get_num_threads()
            try:
                self._work(fn, first)
            finally:
                numba.set_num_threads(threads)
            with self._cond:
                while self._busy or self._next < self._n:
                    self._cond.wait()
                self._job, error = None, self._error
            if error is not None:
                raise error
        finally:
            self._busy_lock.release()


_ROWS_POOL: _Rows | None = None
_POOL_LOCK = threading.Lock()
_ALONE = threading.Lock()  # replaced by a no-op lock when numba's threading layer is thread-safe


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _rows_pool() -> _Rows:
    """The shared row pool, made on first use: one helper per extra core, when numba's threading
    layer may be entered from several threads at once (omp, tbb); with its fallback workqueue
    layer, which may not, every launch runs in the calling thread, one at a time."""
    global _ROWS_POOL, _ALONE
    with _POOL_LOCK:
        if _ROWS_POOL is None:
            tiny = np.zeros((1, 1, 3), np.float32)
            _apply(tiny.view(np.int32), np.zeros((3, PRE_SIZE), np.float32), _NO_CUBE, 0, _NO_POST, 2,
                   _NO_F, _NO_B, np.zeros((1, 1), np.uint32), 0, 1, _NO_MID, False)  # the layer is known now
            safe = numba.threading_layer() in ("omp", "tbb")
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            _ROWS_POOL = _Rows(max(0, min(cores, 8) - 1) if safe else 0)
            if safe:
                _ALONE = _NoLock()  # type: ignore[assignment]
        return _ROWS_POOL


def _blocks(h: int, w: int) -> int:
    """Row blocks of ~128k pixels (>= 8 rows): 16 at 2 MP, enough to balance two cores unevenly
    loaded, few enough that the per-call overhead (~20 us) stays small."""
    return max(1, min(h // 8, (h * w) // 131072))


# The tail cache's entries hold the image weakly: a photo the app has let go of is not kept alive.
_MID: list[tuple[weakref.ref, np.ndarray, np.ndarray, np.ndarray]] = []  # [(image, pre, packed, cube output)]
_LAST: list[tuple[weakref.ref, np.ndarray, np.ndarray]] = []  # [(image, pre, packed)] of the last tail render


def _same(entry: tuple, key: tuple) -> bool:
    return entry[0]() is key[0] and entry[1] is key[1] and entry[2] is key[2]


def _frozen(a: np.ndarray) -> bool:
    """A read-only array is taken to be immutable: numpy's flag is the caller's promise (the app's
    preview levels set it; their base may be a writable memmap from the decoding process, which
    nobody writes to). Pass a writable array when its pixels may change between renders."""
    return not a.flags.writeable


def apply_lut(lut: Lut3D, linear: np.ndarray, out: np.ndarray | None = None,
              hist: np.ndarray | None = None) -> np.ndarray:
    """Apply a baked LUT to a linear (H, W, 3) image -> display sRGB, written into ``out``.

    ``out``: None (a new float32 array in [0, 1]); a float32 (H, W, 3) array; a **uint8**
    (H, W, 3) one, which receives the rounded 8-bit values directly; or a **uint32** (H, W) one,
    which receives ``0xFFRRGGBB`` words (native-endian, Qt's ``QImage.Format_RGB32``).
    ``hist``: an int64 (4, 256) array to which the R, G, B and luma counts of the 8-bit output
    over every 4th pixel of every 4th row are added (a quick second pass, ~0.3 ms at 2 MP).

    A **read-only** ``linear`` is taken to be immutable and may be served from the tail cache
    below; pass a writable array if its pixels can change between calls.
    """
    if linear.ndim != 3 or linear.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {linear.shape}")
    img = np.ascontiguousarray(linear, dtype=np.float32)
    if out is None:
        out = np.empty(img.shape, np.float32)
    mode = MODES.get(out.dtype)
    shape = img.shape[:2] if mode == 2 else img.shape
    if mode is None or out.shape != shape or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be a writable C-contiguous float32 or uint8 (H, W, 3) array, "
                         "or uint32 (H, W)")
    if hist is not None and (hist.shape != (4, 256) or hist.dtype != np.int64):
        raise ValueError("hist must be an int64 (4, 256) array")
    outs = [_NO_F, _NO_B, _NO_P]
    outs[mode] = out
    packed, n = (_NO_CUBE, 0) if lut.packed is None else (lut.packed, lut.size)
    post = _NO_POST if lut.post is None else lut.post
    h = img.shape[0]
    n_blocks = _blocks(h, img.shape[1])
    # The tail cache: with a post table, an immutable image (the app's preview levels) can keep the
    # cube's output per pixel, so that the next render with the same image, pre table and cube
    # (only a slider of a step after the last mixing step moved) runs the post stage alone (~2.5x
    # less work). Storing costs ~15 %, so it starts on the second render in a row with the same
    # key: dragging a slider before the cube never pays for it.
    # (a chain's stages are not in the key: it is not kept)
    keep = lut.post is not None and lut.packed is not None and lut.more is None and img is linear and _frozen(linear)
    key = (linear, lut.pre, lut.packed)
    with _CACHE_LOCK:  # the entry is taken out while in use (a concurrent render computes everything)
        have = _MID.pop() if keep and _MID else None
        repeat = keep and bool(_LAST) and _same(_LAST[0], key)
        if keep:
            _LAST[:] = [(weakref.ref(linear), lut.pre, lut.packed)]
    hit = have is not None and _same(have, key)
    if lut.more is not None:
        bits = img.view(np.int32)
        links = [(lut.between[j], lut.more[j]) for j in range(len(lut.more))]
        first, second = links[0], links[-1]  # the same link twice where there is one (unused then)

        def block(i: int) -> None:
            _apply_chain(bits, lut.pre, packed, n, post, mode, *outs, h * i // n_blocks, h * (i + 1) // n_blocks,
                         *first, *second, len(links))
    elif hit:
        mid = have[3]

        def block(i: int) -> None:
            _apply_tail(mid, post, mode, *outs, h * i // n_blocks, h * (i + 1) // n_blocks)
    else:
        bits = img.view(np.int32)
        if not repeat:
            mid = _NO_MID
        elif have is not None and have[3].shape == img.shape:
            mid = have[3]  # refilled: a fresh 12 MB array would cost ~3 ms of page faults at 2 MP
        else:
            mid = np.empty(img.shape, np.uint16)

        def block(i: int) -> None:
            _apply(bits, lut.pre, packed, n, post, mode, *outs, h * i // n_blocks, h * (i + 1) // n_blocks,
                   mid, repeat)

    _rows_pool().run(block, n_blocks)
    if hit or repeat:
        with _CACHE_LOCK:
            _MID[:] = [(weakref.ref(linear), lut.pre, lut.packed, mid)]
    elif have is not None:
        with _CACHE_LOCK:
            _MID[:] = _MID or [have]  # kept for its buffer
    if hist is not None:
        _histogram(mode, *outs, HIST_STEP, hist)
    return out


def count_histogram(out: np.ndarray, hist: np.ndarray) -> np.ndarray:
    """Add to ``hist`` (int64 (4, 256)) the R, G, B and luma counts of an 8-bit display image,
    uint8 (H, W, 3) or RGB32 words (H, W), over every 4th pixel of every 4th row, as
    :func:`apply_lut` does for its output."""
    mode = MODES.get(out.dtype)
    if mode not in (1, 2) or out.ndim != (3 if mode == 1 else 2):
        raise ValueError("expected a uint8 (H, W, 3) or uint32 (H, W) image")
    outs = [_NO_F, _NO_B, _NO_P]
    outs[mode] = out
    _histogram(mode, *outs, HIST_STEP, hist)
    return hist


_CACHE: OrderedDict[tuple[str, int], Lut3D] = OrderedDict()


def _cached_bake(recipe: Recipe, size: int) -> Lut3D:
    """The last few baked recipes (keyed by their JSON), so re-renders of one recipe are free."""
    key = (Recipe(recipe.active()).dumps(), size)
    if (hit := _recall(_CACHE, key)) is not None:
        return hit
    lut = bake_lut(recipe, size)
    return _remember(_CACHE, key, lut, 8)


def warm_up() -> None:
    """Load (or, on a fresh install, compile: ~10 s, against ~4 s for the former scalar kernels)
    the kernels and start the row helpers;
    call it from a background thread at app start so that the first preview does not wait."""
    img = np.full((2, 2, 3), 0.3, np.float32)
    img.setflags(write=False)  # as the app's preview levels: the third tail render takes the tail path
    hist = np.zeros((4, 256), np.int64)
    luts = [bake_lut(Recipe([Step("exposure", {"ev": 0.5})]))]
    luts += [bake_lut(Recipe([Step("black_white", {"amount": 0.5}), Step("exposure", {"ev": ev})]), 3)
             for ev in (0.5, 0.6, 0.7)]
    chain = [Step("saturation", {"amount": 0.5}), Step("gamma", {"gamma": 0.7}), Step("contrast", {"amount": 0.3})]
    middle, _ = _bake_middle(chain, 3, [], top=MID_MAX, chain=True)  # compiles _apply_chain
    luts.append(Lut3D(_bake_pre([], 3, into_cube=True), middle[0], None, 3, *middle[1:]))
    for lut in luts:
        apply_lut(lut, img, np.empty((2, 2), np.uint32), hist)
    white = np.ones((2, 2, 3), np.float32)  # a blown white under a white balance: _corner_apply
    apply_recipe_lut(Recipe([Step("white_balance", {"green": 1.1, "blue": 0.9})]), white, 3,
                     np.empty((2, 2), np.uint32), hist)
    with _CACHE_LOCK:
        _MID.clear()
        _LAST.clear()


def clear_cache() -> None:
    """Forget every baked table (benchmarks time cold bakes with it)."""
    with _CACHE_LOCK:
        _CACHE.clear()
        _CUBES.clear()
        _MIDDLES.clear()
        _PRES.clear()
        _MID.clear()
        _LAST.clear()
        _CORNERS.clear()
        _BLOWN.clear()


def size_for(linear: np.ndarray) -> int:
    """Cube size for an image: 33³ bakes in a few ms (previews); above 4 MP the ~0.1 s bake of
    65³ is small next to the pass itself and halves the interpolation error (exports)."""
    return DEFAULT_SIZE if linear.shape[0] * linear.shape[1] <= LARGE_IMAGE else LARGE_SIZE


def apply_recipe_lut(recipe: Recipe, linear: np.ndarray, size: int | None = None,
                     out: np.ndarray | None = None, hist: np.ndarray | None = None) -> np.ndarray:
    """``render(recipe, linear)`` through the tables: display sRGB float32 (or ``out``, with
    ``hist``: see :func:`apply_lut`), same shape. The cube size follows the image
    (:func:`size_for`) unless ``size`` is given.

    The tables hold each white balance as it treats every other pixel; the pixels blown white in
    the file, which it leaves alone (:func:`engine.filters.white_balance.blown`), are then rendered
    again: a fade over a few hundredths of the range falls inside one cell of the cube, which
    smeared it (26 levels off at 33³ after a tungsten correction). They lie in a corner of the
    input, which a small table of its own holds finely (:func:`_render_corner`)."""
    size = size or size_for(linear)
    lut = _cached_bake(recipe, size)
    steps = recipe.active()
    fix = _blown_pixels(linear) if any(s.spec.uses_blown for s in steps) else None
    if fix is None or not fix.count:
        return apply_lut(lut, linear, out, hist)
    out = apply_lut(lut, linear, out)
    _render_corner(Recipe(steps), linear, fix, out, CORNER if size >= DEFAULT_SIZE else DRAFT_CORNER, size)
    if hist is not None:
        outs = [_NO_F, _NO_B, _NO_P]
        outs[MODES[out.dtype]] = out
        _histogram(MODES[out.dtype], *outs, HIST_STEP, hist)
    return out


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
    from .render import render_exact

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
    from .render import render_exact

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


# ---------------------------------------------------------------------------------------------
# .cube export


def cube_table(recipe: Recipe, size: int = DEFAULT_SIZE) -> np.ndarray:
    """The recipe as a display-to-display 3-D table: (size, size, size, 3) indexed [r, g, b].

    Input: sRGB-encoded values on a uniform lattice over [0, 1], decoded to linear, run through
    the exact recipe math, clipped and sRGB-encoded again. A white balance is baked as it treats
    every pixel but a blown white, which it leaves alone over a fade narrower than a cell: a table
    interpolating that fade was 34 levels off near white (the app renders those pixels apart).
    """
    axis = np.linspace(0.0, 1.0, size)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    linear = replay_steps(recipe.active(), srgb_decode(grid).astype(np.float32))  # no blown weight
    return srgb_encode(linear).astype(np.float32, copy=False)


def write_cube(recipe: Recipe, path: str | os.PathLike, size: int = DEFAULT_SIZE, *, title: str | None = None) -> Path:
    """Write the recipe as an Adobe/Resolve ``.cube`` 3-D LUT (atomic); returns the path.

    The table is display-referred: it expects **sRGB-encoded** RGB in [0, 1] (what Resolve,
    Photoshop and ffmpeg's ``lut3d`` feed an sRGB/Rec.709-gamma clip), linearises it with the sRGB
    transfer function, applies the recipe and encodes the result back to sRGB. Rows list red
    fastest, then green, then blue, as the format requires.
    """
    if not 2 <= size <= 256:
        raise ValueError("cube size must be between 2 and 256")
    path = Path(path)
    table = cube_table(recipe, size)
    ops = ", ".join(s.op for s in recipe.active()) or "identity"
    lines = [
        f"# Retouch recipe: {ops}",
        "# Input: sRGB-encoded RGB in [0, 1] (display-referred), linearised with the sRGB curve,",
        "# processed in linear Rec.709/sRGB primaries, output sRGB-encoded in [0, 1].",
        f'TITLE "{(title or path.stem)[:120].replace(chr(34), chr(39))}"',
        f"LUT_3D_SIZE {size}",
        "DOMAIN_MIN 0.0 0.0 0.0",
        "DOMAIN_MAX 1.0 1.0 1.0",
    ]
    # .cube order: red changes fastest -> iterate b, g, r; table is [r, g, b].
    rows = table.transpose(2, 1, 0, 3).reshape(-1, 3)
    body = "\n".join(f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in rows.tolist())
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n" + body + "\n", encoding="ascii")
    return path


def read_cube(path: str | os.PathLike) -> np.ndarray:
    """Parse a 3-D ``.cube`` file -> (n, n, n, 3) float32 indexed [r, g, b] (domain [0, 1] only)."""
    size, values = None, []
    for line in Path(path).read_text(encoding="ascii").splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        head = s.split()[0]
        if head == "LUT_3D_SIZE":
            size = int(s.split()[1])
        elif head in ("TITLE", "DOMAIN_MIN", "DOMAIN_MAX", "LUT_1D_SIZE", "LUT_1D_INPUT_RANGE",
                      "LUT_3D_INPUT_RANGE"):
            if head.startswith("LUT_1D"):
                raise ValueError("1-D .cube files are not supported")
            continue
        else:
            values.append([float(v) for v in s.split()])
    if size is None or len(values) != size**3:
        raise ValueError(f"{path}: expected LUT_3D_SIZE and size³ rows")
    return np.asarray(values, np.float32).reshape(size, size, size, 3).transpose(2, 1, 0, 3).copy()
