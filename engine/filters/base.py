"""The one declaration of a filter: parameters, network mapping, version, migrations, math.

Every image operation of Retouch is a :class:`FilterSpec` registered in :data:`REGISTRY`.
Sliders (``app/``), sidecars (``engine/recipe.py``), training (``models/``) and replay
(``engine/render.py``) all read this declaration; no formula exists twice.

Images are float32 linear RGB with Rec.709/sRGB primaries, shape ``(*B, H, W, 3)``, nominal
range [0, 1], scene-referred (values above 1 are kept until a filter clips them). Parameters
are floats for one image or arrays of shape ``(*B, *param.shape)`` for a batch. The math is
written once against the array API (``array_api_compat``), so the same body runs under numpy
in the app and under torch, with autograd, in training.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from array_api_compat import array_namespace, device, is_array_api_obj

#: Luminance weights of the Exposure paper (``util.rgb2lum``), used by every filter that needs one.
LUMA = (0.27, 0.67, 0.06)


# --------------------------------------------------------------------------------------------
# Network output -> parameter mappings (the paper's tanh_range / sigmoid heads)


@dataclass(frozen=True)
class TanhRange:
    """``(tanh(x + b)/2 + 1/2)(hi - lo) + lo``; raw 0 maps to ``initial`` (the midpoint if None).

    With ``log=True`` the range is taken in log space and exponentiated (the paper's gamma and
    white-balance heads), so ``lo``/``hi`` are given in user units.
    """

    lo: float
    hi: float
    initial: float | None = None
    log: bool = False

    def _bounds(self) -> tuple[float, float, float | None]:
        if self.log:
            init = None if self.initial is None else math.log(self.initial)
            return math.log(self.lo), math.log(self.hi), init
        return self.lo, self.hi, self.initial

    def forward(self, xp: Any, raw: Any) -> Any:
        lo, hi, init = self._bounds()
        bias = 0.0 if init is None else math.atanh(2 * (init - lo) / (hi - lo) - 1)
        y = (xp.tanh(raw + bias) * 0.5 + 0.5) * (hi - lo) + lo
        return xp.exp(y) if self.log else y

    def inverse(self, value: np.ndarray) -> np.ndarray:
        lo, hi, init = self._bounds()
        v = np.log(value) if self.log else np.asarray(value, np.float64)
        bias = 0.0 if init is None else math.atanh(2 * (init - lo) / (hi - lo) - 1)
        t = np.clip(2 * (v - lo) / (hi - lo) - 1, -0.999, 0.999)
        return np.arctanh(t) - bias


@dataclass(frozen=True)
class Sigmoid:
    """``lo + (hi - lo) * sigmoid(x)`` (the paper's saturation and black & white heads)."""

    lo: float = 0.0
    hi: float = 1.0

    def forward(self, xp: Any, raw: Any) -> Any:
        return self.lo + (self.hi - self.lo) / (1.0 + xp.exp(-raw))

    def inverse(self, value: np.ndarray) -> np.ndarray:
        t = np.clip((np.asarray(value, np.float64) - self.lo) / (self.hi - self.lo), 0.02, 0.98)
        return np.log(t / (1 - t))


Mapping_ = TanhRange | Sigmoid


# --------------------------------------------------------------------------------------------
# Parameters and filters


@dataclass(frozen=True)
class Param:
    """One named parameter in user units. ``shape`` is ``()`` for a scalar, e.g. ``(8,)`` for a curve."""

    name: str
    label: str
    unit: str
    min: float
    max: float
    default: float
    description: str
    mapping: Mapping_ | None  # None: a slider of a filter's View, which no network outputs
    shape: tuple[int, ...] = ()
    log_scale: bool = False  # a slider should move in log space (gamma, gains)
    whole: bool = False  # a slider in whole signed points, as Lightroom's Temp and Tint (:func:`points`)

    @property
    def network_range(self) -> tuple[float, float]:
        """The values a network's output reaches (its mapping's ends, in user units): the whole
        range, or a part of it where the photographer may go further than the agent (white balance)."""
        return self.mapping.lo, self.mapping.hi

    def reach(self, whole: bool = False) -> Mapping_:
        """The mapping from a raw output to this parameter: the network's (``mapping``), or with
        ``whole`` the same curve stretched over the photographer's whole range (what ``retouch fit``
        searches: a look made with a strong white balance is past the agent's reach)."""
        if not whole or (self.mapping.lo, self.mapping.hi) == (self.min, self.max):
            return self.mapping
        return replace(self.mapping, lo=self.min, hi=self.max)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=int)) if self.shape else 1

    def default_value(self) -> float | list:
        if not self.shape:
            return float(self.default)
        return np.full(self.shape, self.default, dtype=float).tolist()

    def clip(self, value: Any) -> float | list:
        """``value`` inside [min, max] (a field that rounds its range, e.g. 0.33 for 1/3, cannot
        store a value a sidecar would refuse)."""
        out = np.clip(np.asarray(value, np.float64), self.min, self.max)
        return float(out) if not self.shape else out.tolist()


Migration = Callable[[dict], dict]


def whole_points(value: float) -> int:
    """A whole-point slider's value rounded as the app's number field rounds it: halves away from zero."""
    n = math.floor(abs(float(value)) + 0.5)
    return n if value > 0 else -n


def points(value: float) -> str:
    """A whole-point slider's value as a photographer reads it, as Lightroom's fields do: "+4",
    "-12", "0" (:func:`whole_points`; never "-0")."""
    n = whole_points(value)
    return f"{n:+d}" if n else "0"


@dataclass(frozen=True)
class View:
    """The sliders a photographer moves in place of a filter's stored parameters, where another
    pair of numbers reads better than the parameters themselves: white balance's Temperature and
    Tint over its two gains, as Lightroom and darktable show it. ``params`` declare the sliders
    (mapping None); ``to_view`` and ``from_view`` convert a whole set either way. Sidecars,
    training, ``fit`` and replay keep the stored parameters."""

    params: tuple[Param, ...]
    to_view: Callable[[Mapping[str, Any]], dict[str, float]]
    from_view: Callable[[Mapping[str, float]], dict[str, float]]


@dataclass(frozen=True, eq=False)
class FilterSpec:
    """A registered image operation. ``math(img, **params)`` is array-API generic.

    ``pointwise`` filters map each pixel independently of every other pixel, so a recipe made of
    them can be baked into a 3D LUT (``engine/render.py``). Future panel steps (completion,
    restoration) register with ``pointwise=False`` and are replayed directly.
    """

    id: str
    label: str
    short: str
    version: int
    params: tuple[Param, ...]
    math: Callable[..., Any]
    description: str
    pointwise: bool = True
    differentiable: bool = True
    migrations: dict[int, Migration] = field(default_factory=dict)
    #: The last version that changed the math or the network mapping, where a later one did neither
    #: (white balance's v2 only widened the photographer's range): what a trained model records, so
    #: that a Retouch before the later version still runs models trained after it.
    network_version: int | None = None
    #: Whether the math takes ``blown=``: how far each pixel was blown white in the file as decoded
    #: (``engine.filters.white_balance.blown``), or None where nobody passes it (training and the
    #: agent's proxy loop). :func:`replay_steps` passes it.
    uses_blown: bool = False
    #: Sliders shown in place of ``params`` (:class:`View`), or None: one slider per parameter.
    view: View | None = None

    @property
    def trained_version(self) -> int:
        """The version a trained model depends on (see ``network_version``)."""
        return self.network_version or self.version

    # -- declaration helpers -------------------------------------------------------------
    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"filter {self.id!r} has no parameter {name!r}")

    @property
    def sliders(self) -> tuple[Param, ...]:
        """What the photographer moves: the view's sliders, or the parameters themselves."""
        return self.view.params if self.view else self.params

    def slider(self, name: str) -> Param:
        """A slider of :attr:`sliders`, or a stored parameter, by name."""
        for p in (*self.sliders, *self.params):
            if p.name == name:
                return p
        raise KeyError(f"filter {self.id!r} has no slider {name!r}")

    def slider_values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` as the sliders show them."""
        if self.view is None:
            return {p.name: params[p.name] for p in self.params}
        return {n: float(np.clip(v, self.slider(n).min, self.slider(n).max))
                for n, v in self.view.to_view(params).items()}

    def edit(self, params: Mapping[str, Any], name: str, value: Any) -> dict[str, Any]:
        """The stored parameters that change, each clipped to its range, when the photographer sets
        ``name`` (a slider of the view, or a parameter) to ``value``; the other sliders hold their
        stored values, also one past its slider's end (a fit over the gains' whole range can make
        one), which only shows at that end."""
        if self.view is None or name in {p.name for p in self.params}:
            return {name: self.param(name).clip(value)}
        values = dict(self.view.to_view(params))
        values[name] = self.slider(name).clip(value)
        return {k: self.param(k).clip(v) for k, v in self.view.from_view(values).items()}

    def defaults(self) -> dict[str, float | list]:
        return {p.name: p.default_value() for p in self.params}

    def toward_default(self, params: Mapping[str, Any], amount: float) -> dict[str, float | list]:
        """``params`` moved ``amount`` of the way from the defaults (0: the defaults, 1: unchanged,
        above 1: exaggerated), geometrically for log-scale parameters, clipped to each range.

        Every default is the identity, so this is the strength of a step (Auto's "Strength").
        """
        out: dict[str, float | list] = {}
        for p in self.params:
            v = np.asarray(params.get(p.name, p.default_value()), np.float64)
            if p.log_scale:
                scaled = p.default * (np.maximum(v, 1e-12) / p.default) ** amount
            else:
                scaled = p.default + amount * (v - p.default)
            scaled = np.clip(scaled, p.min, p.max)
            out[p.name] = float(scaled) if scaled.ndim == 0 else scaled.tolist()
        return out

    @property
    def n_outputs(self) -> int:
        """Width of this filter's head in a network: one raw output per parameter value."""
        return sum(p.size for p in self.params)

    def migration(self, from_version: int) -> Callable[[Migration], Migration]:
        """Decorator registering the step ``from_version -> from_version + 1``."""

        def register_(fn: Migration) -> Migration:
            self.migrations[from_version] = fn
            return fn

        return register_

    def migrate(self, params: dict, version: int) -> dict:
        if version > self.version:
            raise ValueError(f"{self.id} v{version} is newer than this Retouch (v{self.version})")
        while version < self.version:
            if version not in self.migrations:
                raise ValueError(f"no migration for {self.id} from v{version}")
            params = self.migrations[version](dict(params))
            version += 1
        return params

    # -- network mapping -----------------------------------------------------------------
    def from_network(self, raw: Any, *, whole: bool = False) -> dict[str, Any]:
        """Map a head's raw outputs ``(*B, n_outputs)`` to parameters ``(*B, *shape)`` (``whole``:
        over each parameter's whole range, :meth:`Param.reach`)."""
        xp = array_namespace(raw)
        out, i = {}, 0
        for p in self.params:
            chunk = raw[..., i : i + p.size]
            if p.shape:
                chunk = xp.reshape(chunk, (*chunk.shape[:-1], *p.shape))
            else:
                chunk = chunk[..., 0]
            out[p.name] = p.reach(whole).forward(xp, chunk)
            i += p.size
        return out

    def to_network(self, params: Mapping[str, Any], *, whole: bool = False) -> np.ndarray:
        """Raw outputs that map (approximately, at the open ends) to ``params``; used to start a fit."""
        parts = []
        for p in self.params:
            v = np.asarray(params.get(p.name, p.default_value()), np.float64).reshape(-1)
            parts.append(p.reach(whole).inverse(np.clip(v, p.min, p.max)))
        return np.concatenate(parts).astype(np.float32)

    # -- math ----------------------------------------------------------------------------
    def apply(self, img: Any, blown: Any = None, **params: Any) -> Any:
        """The math on ``img``; ``blown`` reaches only the filters that use it (``uses_blown``)."""
        if self.uses_blown:
            return self.math(img, blown=blown, **params)
        return self.math(img, **params)


REGISTRY: dict[str, FilterSpec] = {}


def replay_steps(steps: Any, decoded: Any, blown: Callable[[Any], Any] | None = None) -> Any:
    """Each step's math in order on a decoded image (``steps``: objects with ``spec`` and
    ``params``); ``blown(decoded)`` is computed once and given to the filters that use it."""
    *_, img = replay_stages(steps, decoded, blown)
    return img


def replay_stages(steps: Any, decoded: Any, blown: Callable[[Any], Any] | None = None) -> Iterator[Any]:
    """:func:`replay_steps` one stage at a time: the image entering each step, then the result."""
    steps = list(steps)
    weight = blown(decoded) if blown is not None and any(s.spec.uses_blown for s in steps) else None
    img = decoded
    for s in steps:
        yield img
        img = s.spec.apply(img, blown=weight, **s.params)
    yield img


def check_differentiable(ids: Iterable[str]) -> tuple[str, ...]:
    """``ids``, each a filter whose math torch can differentiate (what training and ``fit`` descend
    through); a ValueError names any that is numpy-only (``differentiable=False``)."""
    ids = tuple(ids)
    bad = [i for i in ids if not REGISTRY[i].differentiable]
    if bad:
        raise ValueError(f"not differentiable, so not trainable: {', '.join(bad)}")
    return ids


def register(spec: FilterSpec) -> FilterSpec:
    if spec.id in REGISTRY:
        raise ValueError(f"filter {spec.id!r} registered twice")
    REGISTRY[spec.id] = spec
    return spec


# --------------------------------------------------------------------------------------------
# Array helpers shared by the filter bodies


def per_image(xp: Any, img: Any, value: Any, shape: tuple[int, ...] = ()) -> Any:
    """Broadcast a parameter ``(*B, *shape)`` against an image ``(*B, H, W, 3)``.

    The result has shape ``(*B, 1, 1, *shape)`` (scalars: ``(*B, 1, 1, 1)``) in the image's
    dtype and device. Floats work for any batch.
    """
    if is_array_api_obj(value) and array_namespace(value) is xp:
        v = value if value.dtype == img.dtype else xp.astype(value, img.dtype)
    else:
        v = xp.asarray(value, dtype=img.dtype, device=device(img))
    batch = img.ndim - 3
    if v.ndim == 0:
        return v
    lead = v.ndim - len(shape)
    if lead == 0:  # one value shared by the whole batch
        return xp.reshape(v, (1, 1, *shape)) if shape else v
    if lead != batch:
        raise ValueError(f"parameter of shape {tuple(v.shape)} does not fit images {tuple(img.shape)}")
    new = (*v.shape[:lead], 1, 1, *shape) if shape else (*v.shape, 1, 1, 1)
    return xp.reshape(v, new)


def luminance(xp: Any, img: Any) -> Any:
    """Paper luminance ``0.27 R + 0.67 G + 0.06 B`` with a kept last axis: ``(*B, H, W, 1)``."""
    return img[..., 0:1] * LUMA[0] + img[..., 1:2] * LUMA[1] + img[..., 2:3] * LUMA[2]


def lerp(a: Any, b: Any, t: Any) -> Any:
    return a + (b - a) * t


def piecewise_curve(xp: Any, x: Any, slopes: Any) -> Any:
    """The paper's monotone 8-segment curve: ``sum_k clip(x - k/n, 0, 1/n) * t_k * n / sum(t)``.

    ``x`` is ``(..., C)`` and ``slopes`` broadcasts to ``(..., C, n)``. Maps [0, 1] onto [0, 1];
    inputs outside saturate.
    """
    n = slopes.shape[-1]
    k = xp.asarray(np.arange(n, dtype=np.float32) / n, dtype=x.dtype, device=device(x))
    seg = xp.clip(x[..., None] - k, 0.0, 1.0 / n)
    total = xp.sum(slopes, axis=-1, keepdims=True)
    return xp.sum(seg * (slopes * (n / total)), axis=-1)


def curve_knots(slopes: Any) -> np.ndarray:
    """Knots (x, y) of :func:`piecewise_curve` for one channel's ``n`` slopes, shape ``(n + 1, 2)``:
    the curve at its zone edges, between which it is straight (what a curve editor draws)."""
    s = np.asarray(slopes, np.float64)
    x = np.arange(len(s) + 1, dtype=np.float64) / len(s)
    return np.stack([x, piecewise_curve(np, x[:, None], s[None, :])[:, 0]], axis=1)


def move_knot(slopes: Any, knot: int, y: float, lo: float, hi: float) -> np.ndarray:
    """One channel's ``n`` slopes of :func:`piecewise_curve` with the curve's point at zone edge
    ``knot`` (1 .. n-1) moved to output ``y``, as a point curve's drag moves it: the zones below
    grow steeper by what those above give up, nearest first, each within [``lo``, ``hi``]. Their
    sum stays, so every other point stays where it was while the two zones beside the point have
    room, and beyond that the fewest move; past the zones' room the point stops."""
    row = np.array(slopes, np.float64)
    need = (y - float(curve_knots(row)[knot, 1])) * float(row.sum())  # the height the curve is drawn at
    up = need > 0
    below = [(j, (hi - row[j]) if up else (row[j] - lo)) for j in range(knot - 1, -1, -1)]
    above = [(j, (row[j] - lo) if up else (hi - row[j])) for j in range(knot, len(row))]
    amount = max(0.0, min(abs(need), sum(r for _, r in below), sum(r for _, r in above)))
    for side, sign in ((below, 1.0 if up else -1.0), (above, -1.0 if up else 1.0)):
        left = amount
        for j, room in side:  # nearest first
            take = min(room, left)
            row[j] += sign * take
            left -= take
            if left <= 0:
                break
    return row
