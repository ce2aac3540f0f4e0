"""Each filter's math is pinned to its version: a change to a formula that keeps the version would
silently re-render every sidecar saved before it (the saturation ramp of e2e9dbe did, at v1).
When this fails on purpose, bump the filter's ``version``, add a migration (or keep the old math
for the old version), and regenerate: ``RETOUCH_PIN_FILTERS=1 pytest tests/engine/test_filter_versions.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from engine.filters import REGISTRY
from engine.filters.white_balance import blown

PINS = Path(__file__).with_name("filter_pins.json")


def _image() -> np.ndarray:
    """16 linear colours: greys from black to past white, saturated and pale colours, a highlight."""
    levels = (0.0, 0.02, 0.18, 0.5, 1.0, 1.3)
    greys = [(v, v, v) for v in levels]
    colours = [(0.6, 0.1, 0.05), (0.05, 0.4, 0.1), (0.1, 0.15, 0.7), (0.9, 0.8, 0.2), (0.3, 0.25, 0.2),
               (0.02, 0.01, 0.03), (0.7, 0.02, 0.6), (1.2, 0.9, 0.4), (0.45, 0.5, 0.55), (0.004, 0.002, 0.0)]
    return np.asarray(greys + colours, np.float32).reshape(1, 4, 4, 3)


def _settings(op: str) -> list[dict]:
    """The range's ends, its default and an inner point of each parameter, all at once."""
    spec = REGISTRY[op]
    out = []
    for t in (0.0, 0.3, 1.0, None):
        params = {}
        for p in spec.params:
            if t is None:
                params[p.name] = p.default_value()
            elif p.shape:  # a curve: a wave through the range, shifted per channel
                k = np.arange(int(np.prod(p.shape))).reshape(p.shape)
                params[p.name] = (p.min + (p.max - p.min) * (0.5 + 0.5 * np.sin(k + 3 * t))).tolist()
            else:
                params[p.name] = p.min + t * (p.max - p.min)
        out.append(params)
    return out


def _render(op: str) -> list[list[float]]:
    spec, img = REGISTRY[op], _image()
    # the colours as decoded: white balance leaves what is blown white in them alone
    return [np.round(np.asarray(spec.apply(img.copy(), blown=blown(img), **params), np.float64), 4).ravel().tolist()
            for params in _settings(op)]


def test_the_pins_cover_every_filter() -> None:
    if os.environ.get("RETOUCH_PIN_FILTERS"):
        PINS.write_text(json.dumps({op: {"version": REGISTRY[op].version, "out": _render(op)}
                                    for op in REGISTRY}, indent=0) + "\n")
    assert sorted(json.loads(PINS.read_text())) == sorted(REGISTRY)


@pytest.mark.parametrize("op", sorted(REGISTRY))
def test_a_filter_renders_as_its_version_did(op: str) -> None:
    pin = json.loads(PINS.read_text())[op]
    assert pin["version"] == REGISTRY[op].version, f"{op}: a new version; regenerate the pins (module docstring)"
    got = _render(op)
    for params, want, have in zip(_settings(op), pin["out"], got, strict=True):
        err = np.abs(np.asarray(have) - np.asarray(want)).max()
        assert err <= 2e-4, (f"{op} v{REGISTRY[op].version} with {params} renders {err:.4f} away from what "
                             "this version rendered: bump its version (module docstring)")
