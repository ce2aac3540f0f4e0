"""The fast replay path: a recipe baked into 1-D and 3-D lookup tables, applied by numba.

Every filter is pointwise, so ``render(recipe, x)`` is a fixed function of each pixel's RGB.
:func:`bake_lut` evaluates the *declared* filter math once on small lattices (no formula is
written twice) and :func:`apply_lut` interpolates them over the photo in one parallel pass.

The recipe's enabled, non-identity steps are split in three, the layout of an ACES/OCIO
"shaper + cube + post" transform:

* **pre** (1-D, per channel, 4097 entries): the leading run of per-channel steps (exposure,
  gamma, white balance, tone, colour curves), indexed by ``sqrt(x / IN_MAX)`` so the samples
  crowd the shadows where the sRGB curve is steepest.
* **cube** (3-D, ``size``³, tetrahedral): the middle, from the first step that mixes channels
  (saturation, contrast, black & white) to the last; its input and output are encoded with the
  :data:`MID_MAX` shaper below, which puts linear 1.0 exactly on a lattice plane (the clip of
  saturation and contrast) and spaces the nodes like sRGB.
* **post** (1-D, per channel): the trailing per-channel steps and the sRGB output encoding
  (left out when nothing follows the cube: the cube then stores display sRGB itself).

A recipe of per-channel steps only is a single 1-D table: exact to ~1e-4 and the fastest case.
Which steps are per-channel is probed numerically from the math itself (:func:`is_channelwise`).

Range: the fast path reads linear input in [0, :data:`IN_MAX`] = [0, 4] (two stops above
white); between the pre and cube stages values are held to about [0, :data:`MID_MAX`] = [0, 2]
(1.91 for a 33³ cube, so that 1.0 sits on a node). Anything above is clamped there, while
``render(..., exact=True)`` keeps it; since every output is finally clipped to [0, 1], this only
matters for highlights more than one stop over white that a *later* step pulls back down.

Accuracy (8-bit sRGB levels against the exact math, real photos): per-channel recipes < 0.05;
with saturation / contrast / black & white in the cube ~1-3 at 33³, ~0.5-1.5 at 65³ (worst
where a clip, e.g. tone's at 1, falls between lattice planes). Every filter is continuous (the
saturation filter fades its boost in near grey instead of the paper's jump there), so plain
interpolation suffices: no pixel needs the exact math.

Speed: one numba pass (``parallel=True``, prange over rows, float32, cached JIT); the cube of
the mixing steps is cached, so moving a slider of a per-channel step re-bakes only a 1-D table.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
from numba import prange

from .atomic import atomic_path
from .color import srgb_decode, srgb_encode
from .recipe import Recipe, Step

IN_MAX = 4.0  # linear input range of the pre table
MID_MAX = 2.0  # linear range held between the stages (values above are clamped)
PRE_SIZE = 4097  # entries of each 1-D table (odd: linear 1.0 = sqrt(1/4) falls on a node)
_CACHE_LOCK = threading.Lock()  # guards the bake caches below (the app renders from worker threads)
DEFAULT_SIZE = 33  # lattice points per axis of the cube
LARGE_SIZE = 65  # ... for images above LARGE_IMAGE pixels
LARGE_IMAGE = 4_000_000


@functools.lru_cache(maxsize=16)
def _mid_scale(size: int) -> float:
    """Linear value that maps to shaped 1.0: chosen so that linear 1.0 sits exactly on a node."""
    want = float(srgb_encode(np.float64(1.0 / MID_MAX)))  # where 1.0 would fall with scale MID_MAX
    node = round(want * (size - 1))
    # srgb_encode(1 / s) = node / (size - 1)  =>  s = 1 / srgb_decode(node / (size - 1))
    return 1.0 / float(srgb_decode(np.float64(node / (size - 1))))


def shape_mid(x: np.ndarray, size: int) -> np.ndarray:
    """Linear [0, ~MID_MAX] -> cube coordinate [0, 1] (sRGB-like spacing, 1.0 on a node)."""
    s = _mid_scale(size)
    return srgb_encode(np.clip(np.asarray(x, np.float64), 0.0, s) / s)


def unshape_mid(u: np.ndarray, size: int) -> np.ndarray:
    return srgb_decode(np.asarray(u, np.float64)) * _mid_scale(size)


# ---------------------------------------------------------------------------------------------
# Which steps are per-channel


_PROBE = np.array([0.0, 0.0013, 0.021, 0.087, 0.23, 0.46, 0.79, 1.0, 1.37, 1.9], np.float32)


def is_channelwise(step: Step) -> bool:
    """True when each output channel depends on the same input channel only.

    Read from the filter's ``channelwise`` attribute when it declares one, otherwise probed: the
    step's math runs on a 10³ grid of independent R, G, B values and every output channel must be
    constant along the other two input axes.
    """
    declared = getattr(step.spec, "channelwise", None)
    if declared is not None:
        return bool(declared)
    # Cached per filter version: mixing channels is a property of the formula, not of the values
    # (a value that would make a mixing filter per-channel is its identity, dropped before this).
    key = (step.op, step.spec.version)
    if key not in _CHANNELWISE:
        _CHANNELWISE[key] = _probe_channelwise(step)
    return _CHANNELWISE[key]


_CHANNELWISE: dict[tuple[str, int], bool] = {}


def _probe_channelwise(step: Step) -> bool:
    grid = np.stack(np.meshgrid(_PROBE, _PROBE, _PROBE, indexing="ij"), axis=-1)
    out = np.asarray(step.spec.apply(grid, **step.params), np.float64)
    tol = 1e-6 * max(1.0, float(np.abs(out).max()))
    return bool(np.ptp(out[..., 0], axis=(1, 2)).max() <= tol
                and np.ptp(out[..., 1], axis=(0, 2)).max() <= tol
                and np.ptp(out[..., 2], axis=(0, 1)).max() <= tol)


def _run(steps: list[Step], x: np.ndarray) -> np.ndarray:
    for s in steps:
        x = s.spec.apply(x, **s.params)
    return np.asarray(x)


# ---------------------------------------------------------------------------------------------
# Baking


@dataclass(frozen=True, eq=False)
class Lut3D:
    """A baked recipe. ``cube`` is None when every step is per-channel (then ``pre`` already
    holds display sRGB); otherwise ``pre`` -> ``cube`` -> ``post``."""

    pre: np.ndarray  # (3, PRE_SIZE) float32, indexed by sqrt(x / IN_MAX)
    cube: np.ndarray | None  # (n, n, n, 3) float32, shaped in and out, [r, g, b] indexing
    post: np.ndarray | None  # (3, PRE_SIZE) float32, indexed uniformly by the shaped value;
    #                          None when no per-channel step follows the cube (it then holds sRGB)
    size: int


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
    ramp = IN_MAX * np.linspace(0.0, 1.0, PRE_SIZE) ** 2
    if not mixing:
        pre = srgb_encode(_run(steps, _channels(ramp)))[0].T
        return Lut3D(np.ascontiguousarray(pre, np.float32), None, None, size)
    head, mid, tail = steps[: mixing[0]], steps[mixing[0] : mixing[-1] + 1], steps[mixing[-1] + 1 :]
    pre = np.ascontiguousarray(shape_mid(_run(head, _channels(ramp)), size)[0].T, np.float32)
    cube = _bake_cube(mid, size, display=not tail)
    if not tail:  # the cube holds display sRGB directly: one table lookup less per pixel
        return Lut3D(pre, cube, None, size)
    post = srgb_encode(_run(tail, _channels(unshape_mid(np.linspace(0.0, 1.0, PRE_SIZE), size))))[0].T
    return Lut3D(pre, cube, np.ascontiguousarray(post, np.float32), size)


_CUBES: OrderedDict[tuple[str, int, bool], np.ndarray] = OrderedDict()


def _bake_cube(mid: list[Step], size: int, *, display: bool) -> np.ndarray:
    """The cube of the mixing steps, cached: dragging a slider of a step before or after them
    (exposure, tone, ...) then only re-bakes a 1-D table (~1 ms instead of ~10)."""
    key = (Recipe(mid).dumps(), size, display)
    with _CACHE_LOCK:
        if key in _CUBES:
            _CUBES.move_to_end(key)
            return _CUBES[key]
    nodes = unshape_mid(np.linspace(0.0, 1.0, size), size).astype(np.float32)
    grid = np.stack(np.meshgrid(nodes, nodes, nodes, indexing="ij"), axis=-1)
    out = _run(mid, grid)
    cube = np.ascontiguousarray(srgb_encode(out) if display else shape_mid(out, size), np.float32)
    cube.flags.writeable = False
    with _CACHE_LOCK:
        _CUBES[key] = cube
        while len(_CUBES) > 4:
            _CUBES.popitem(last=False)
    return cube


# ---------------------------------------------------------------------------------------------
# Applying (numba)


_F0, _F1 = np.float32(0.0), np.float32(1.0)
_U1 = np.uint32(1)


@numba.njit(cache=True, inline="always", fastmath=True)
def _lerp1(table: np.ndarray, c: int, t: float) -> float:
    """Linear interpolation of ``table[c]`` at ``t`` in [0, 1] (clamped).

    float32 throughout and unsigned indices (numba skips the negative-index wraparound for
    them): together ~20% faster than the plain version.
    """
    n1 = table.shape[1] - 1
    p = min(max(t, _F0), _F1) * np.float32(n1)
    i = min(np.uint32(p), np.uint32(n1 - 1))
    a = table[c, i]
    return a + (table[c, i + _U1] - a) * (p - np.float32(i))


@numba.njit(cache=True, inline="always", fastmath=True)
def _pre(img: np.ndarray, y: int, x: int, c: int, pre: np.ndarray, inv_in_max: float) -> float:
    return _lerp1(pre, c, math.sqrt(min(max(img[y, x, c], _F0) * inv_in_max, _F1)))


@numba.njit(parallel=True, cache=True, fastmath=True, error_model="numpy")
def _apply_1d(img: np.ndarray, pre: np.ndarray, inv_in_max: float, out: np.ndarray, scale: float,
              offset: float) -> None:
    """``out = pre(img) * scale + offset``: (1, 0) for float output, (255, 0.5) for uint8 (rounds)."""
    for y in prange(img.shape[0]):
        for x in range(img.shape[1]):
            for c in range(3):
                out[y, x, c] = _pre(img, y, x, c, pre, inv_in_max) * scale + offset


@numba.njit(parallel=True, cache=True, fastmath=True, error_model="numpy")
def _apply_3d(img: np.ndarray, pre: np.ndarray, inv_in_max: float, flat: np.ndarray, n: int, post: np.ndarray,
              out: np.ndarray, scale: float, offset: float) -> None:
    """Pre table -> tetrahedral lookup in the cube (``flat`` = cube.reshape(-1), ``n`` per axis)
    -> post table, written as ``value * scale + offset`` (see :func:`_apply_1d`).

    The tetrahedron is picked without branches (max/min of the fractions and selects): twice as
    fast as nested ifs on a photo, where the branch predictor cannot guess the hue's sextant.
    """
    n1 = n - 1
    top = np.uint32(n1 - 1)
    fn1 = np.float32(n1)
    sb, sg, sr = np.uint32(3), np.uint32(3 * n), np.uint32(3 * n * n)
    s111 = sr + sg + sb
    has_post = post.shape[1] > 1
    for y in prange(img.shape[0]):
        for x in range(img.shape[1]):
            r = _pre(img, y, x, 0, pre, inv_in_max) * fn1
            g = _pre(img, y, x, 1, pre, inv_in_max) * fn1
            b = _pre(img, y, x, 2, pre, inv_in_max) * fn1
            i = min(np.uint32(r), top)
            j = min(np.uint32(g), top)
            k = min(np.uint32(b), top)
            fr, fg, fb = r - np.float32(i), g - np.float32(j), b - np.float32(k)
            # Tetrahedral: walk 000 -> (+ axis of the largest fraction) -> 111 - (axis of the smallest) -> 111.
            hi = max(fr, max(fg, fb))
            lo = min(fr, min(fg, fb))
            mid = fr + fg + fb - hi - lo
            r_max = (fr >= fg) & (fr >= fb)
            g_max = (not r_max) & (fg >= fb)
            off1 = sr if r_max else (sg if g_max else sb)
            b_min = (fb <= fr) & (fb <= fg)  # ties break so that the max and min axes differ
            g_min = (not b_min) & (fg <= fr)
            off2 = s111 - (sb if b_min else (sg if g_min else sr))
            base = i * sr + j * sg + k * sb
            for c in range(3):
                c0 = flat[base + c]
                c1 = flat[base + off1 + c]
                c2 = flat[base + off2 + c]
                c3 = flat[base + s111 + c]
                v = c0 + hi * (c1 - c0) + mid * (c2 - c1) + lo * (c3 - c2)
                out[y, x, c] = (_lerp1(post, c, v) if has_post else v) * scale + offset


_NO_POST = np.zeros((3, 1), np.float32)


# numba's default (OpenMP/workqueue) pools are not re-entrant across Python threads; the app
# renders from a worker thread and batch may call from several, so launches are serialised.
_LAUNCH = threading.Lock()


def apply_lut(lut: Lut3D, linear: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Apply a baked LUT to a linear (H, W, 3) image -> display sRGB float32 in [0, 1].

    ``out``: a float32 array to fill, or a **uint8** (H, W, 3) one, which then receives the 8-bit
    display values directly (rounded), saving the preview a float -> uint8 pass.
    """
    if linear.ndim != 3 or linear.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {linear.shape}")
    img = np.ascontiguousarray(linear, dtype=np.float32)
    if out is None:
        out = np.empty(img.shape, np.float32)
    if out.shape != img.shape or out.dtype not in (np.float32, np.uint8) or not out.flags.c_contiguous:
        raise ValueError("out must be a C-contiguous float32 or uint8 array shaped like the image")
    eight = out.dtype == np.uint8
    scale, offset = (np.float32(255.0), np.float32(0.5)) if eight else (_F1, _F0)
    with _LAUNCH:
        if lut.cube is None:
            _apply_1d(img, lut.pre, np.float32(1.0 / IN_MAX), out, scale, offset)
        else:
            post = _NO_POST if lut.post is None else lut.post
            _apply_3d(img, lut.pre, np.float32(1.0 / IN_MAX), lut.cube.reshape(-1), lut.size, post, out,
                      scale, offset)
    return out


_CACHE: OrderedDict[tuple[str, int], Lut3D] = OrderedDict()


def _cached_bake(recipe: Recipe, size: int) -> Lut3D:
    """The last few baked recipes (keyed by their JSON), so re-renders of one recipe are free."""
    key = (Recipe(recipe.active()).dumps(), size)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    lut = bake_lut(recipe, size)
    with _CACHE_LOCK:
        _CACHE[key] = lut
        while len(_CACHE) > 8:
            _CACHE.popitem(last=False)
    return lut


def warm_up() -> None:
    """Load (or, on a fresh install, compile: ~4 s) both kernels; call it from a background
    thread at app start so that the first preview does not wait for numba."""
    img = np.full((2, 2, 3), 0.3, np.float32)
    apply_lut(bake_lut(Recipe([Step("exposure", {"ev": 0.5})])), img)
    apply_lut(bake_lut(Recipe([Step("black_white", {"amount": 0.5}), Step("exposure", {"ev": 0.5})]), 3), img)


def clear_cache() -> None:
    """Forget every baked table (benchmarks time cold bakes with it)."""
    with _CACHE_LOCK:
        _CACHE.clear()
        _CUBES.clear()


def size_for(linear: np.ndarray) -> int:
    """Cube size for an image: 33³ bakes in a few ms (previews); above 4 MP the ~0.1 s bake of
    65³ is small next to the pass itself and halves the interpolation error (exports)."""
    return DEFAULT_SIZE if linear.shape[0] * linear.shape[1] <= LARGE_IMAGE else LARGE_SIZE


def apply_recipe_lut(recipe: Recipe, linear: np.ndarray, size: int | None = None,
                     out: np.ndarray | None = None) -> np.ndarray:
    """``render(recipe, linear)`` through the tables: display sRGB float32 (or ``out``), same shape.

    The cube size follows the image (:func:`size_for`) unless ``size`` is given.
    """
    return apply_lut(_cached_bake(recipe, size or size_for(linear)), linear, out)


# ---------------------------------------------------------------------------------------------
# .cube export


def cube_table(recipe: Recipe, size: int = DEFAULT_SIZE) -> np.ndarray:
    """The recipe as a display-to-display 3-D table: (size, size, size, 3) indexed [r, g, b].

    Input: sRGB-encoded values on a uniform lattice over [0, 1], decoded to linear, run through
    the exact recipe math, clipped and sRGB-encoded again.
    """
    from .render import render_exact

    axis = np.linspace(0.0, 1.0, size)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    return render_exact(recipe, srgb_decode(grid).astype(np.float32))


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
