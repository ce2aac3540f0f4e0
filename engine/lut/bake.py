"""Baking a recipe into the tables: its declared math evaluated on their lattices, in the layout (one cube,
a chain, a wider range) that is checked most accurate; each stage cached, so a slider re-bakes only its own."""

from __future__ import annotations

import itertools
from collections import OrderedDict

import numpy as np

from ..color import srgb_encode
from ..recipe import Recipe, Step
from .apply import apply_lut
from .cache import _recall, _remember
from .channelwise import is_channelwise
from .tables import DEFAULT_SIZE, IN_MAX, MID_MAX, POST_SIZE, Lut3D, pack_cube, pre_nodes, shape_mid, unshape_mid


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


def _channels(values: np.ndarray) -> np.ndarray:
    """A 1-D ramp as a (1, N, 3) grey image, for per-channel stages."""
    return np.repeat(values.astype(np.float32)[None, :, None], 3, axis=2)


def bake_lut(recipe: Recipe, size: int = DEFAULT_SIZE) -> Lut3D:
    """Evaluate the recipe's declared math on the lattices (see the package docstring, :mod:`engine.lut`)."""
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


_CACHE: OrderedDict[tuple[str, int], Lut3D] = OrderedDict()


def _cached_bake(recipe: Recipe, size: int) -> Lut3D:
    """The last few baked recipes (keyed by their JSON), so re-renders of one recipe are free."""
    key = (Recipe(recipe.active()).dumps(), size)
    if (hit := _recall(_CACHE, key)) is not None:
        return hit
    lut = bake_lut(recipe, size)
    return _remember(_CACHE, key, lut, 8)
