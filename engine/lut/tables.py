"""The tables' layout, shared by the bake and the kernels: input ranges, the shaper between the stages,
the pre table's bit-indexed nodes and the baked recipe, :class:`Lut3D`."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..color import srgb_decode, srgb_encode

# the pre table's layout, which the compiled kernels bake in, is declared beside them (see kernels.py)
from .kernels import _PRE_HI, _PRE_LO, _PRE_SHIFT, IN_MAX, PRE_LO_EXP  # noqa: F401

MID_MAX = 2.0  # linear range held between the stages (values above are clamped)
POST_SIZE = 4097  # entries of each post table (uniform over the shaped [0, 1])
PRE_SIZE = ((_PRE_HI - _PRE_LO) >> _PRE_SHIFT) + 2  # + the node past IN_MAX, read with weight 0
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
