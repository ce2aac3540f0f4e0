"""Which steps are per-channel: declared by the filter, or probed once from its math."""

from __future__ import annotations

import numpy as np

from ..filters import FilterSpec
from ..recipe import Step

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


def _probe_params(spec: FilterSpec) -> dict:
    """Values away from every default: 0.37 of each range, varied along curve parameters."""
    out: dict = {}
    for p in spec.params:
        if p.shape:
            frac = np.linspace(0.2, 0.8, p.size).reshape(p.shape)
            out[p.name] = p.min + frac * (p.max - p.min)
        else:
            out[p.name] = p.min + 0.37 * (p.max - p.min)
    return out


def _probe_channelwise(spec: FilterSpec) -> bool:
    grid = np.stack(np.meshgrid(_PROBE, _PROBE, _PROBE, indexing="ij"), axis=-1)
    out = np.asarray(spec.apply(grid, **_probe_params(spec)), np.float64)
    tol = 1e-6 * max(1.0, float(np.abs(out).max()))
    return bool(np.ptp(out[..., 0], axis=(1, 2)).max() <= tol
                and np.ptp(out[..., 1], axis=(0, 2)).max() <= tol
                and np.ptp(out[..., 2], axis=(0, 1)).max() <= tol)
