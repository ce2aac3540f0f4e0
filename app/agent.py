"""The app's access to the learned agent, loaded lazily (onnxruntime) and cached per model.

Until a trained model is shipped (``resources/models/retouch*.onnx``), :class:`StandInAgent`
fills the same interface with a small recipe measured from the photo (grey-world balance,
mid-grey exposure), so every screen works; the real agent replaces it as soon as a model exists.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from engine.recipe import Recipe, Step

_lock = threading.Lock()
_cache: dict[str, Any] = {}


def available_models() -> list[Path]:
    try:
        from engine.runners.agent import available_models as am
    except ImportError:
        return []
    return list(am())


def get_agent(model: str | Path | None = None) -> Any:
    """The agent for ``model`` (``None``: the shipped default). Slow the first time: call off the GUI thread."""
    key = str(model)
    with _lock:
        if key not in _cache:
            try:
                from engine.runners.agent import Agent
            except ImportError:
                Agent = None
            if Agent is None or (model is None and not available_models()):
                _cache[key] = StandInAgent()  # no trained model shipped yet
            else:
                _cache[key] = Agent(model)
        return _cache[key]


def forget(model: str | Path) -> None:
    """Drop the cached agent of ``model`` (its file was rewritten: a style trained further)."""
    with _lock:
        _cache.pop(str(model), None)


def loaded_agents() -> dict[str, Any]:
    with _lock:
        return dict(_cache)


class StandInAgent:
    """A fixed five-step recipe fitted to the photo's statistics (used only without the real agent)."""

    device = "CPU"
    model_path = None

    def predict(self, linear: np.ndarray, *, seed: int | None = None, strength: float | None = None) -> Recipe:
        from engine.render import make_proxy

        proxy = make_proxy(np.asarray(linear, np.float32), 64).reshape(-1, 3)
        lum = proxy @ np.array([0.27, 0.67, 0.06], np.float32)
        ev = float(np.log2(0.18 / max(float(np.exp(np.mean(np.log(lum + 1e-4)))), 1e-4)))
        # never push the brightest 1 % past white, never more than a stop down
        ev = float(np.clip(min(ev, np.log2(0.95 / max(float(np.percentile(lum, 99)), 1e-4))), -1.0, 2.0))
        mean = proxy.mean(0) + 1e-6
        # half-strength grey world: cast removed partly, a blue sky is not turned grey
        green = float(np.clip(np.sqrt(mean[0] / mean[1]), 0.85, 1.2))
        blue = float(np.clip(np.sqrt(mean[0] / mean[2]), 0.85, 1.2))
        jitter = 0.0 if seed is None else np.random.default_rng(seed).normal(0, 0.25)
        probs = {"exposure": 0.6, "gamma": 0.1, "white_balance": 0.1, "saturation": 0.1, "contrast": 0.1}

        def p(op: str) -> dict[str, float]:
            d = dict.fromkeys(probs, 0.05)
            d[op] = 0.8
            return d

        return Recipe([
            Step("exposure", {"ev": ev + jitter}, probs=p("exposure")),
            Step("white_balance", {"green": green, "blue": blue}, probs=p("white_balance")),
            Step("contrast", {"amount": 0.15 + jitter / 4}, probs=p("contrast")),
            Step("saturation", {"amount": float(np.clip(0.2 + jitter / 2, 0, 1))}, probs=p("saturation")),
            Step("tone", {"slopes": [1.1, 1.05, 1.0, 1.0, 1.0, 0.95, 0.95, 0.9]}, probs=p("gamma")),
        ]).with_strength(1.0 if strength is None else strength)

    def variations(self, linear: np.ndarray, n: int, *, seed: int = 0, strength: float | None = None) -> list[Recipe]:
        return [self.predict(linear, seed=seed + i + 1, strength=strength) for i in range(n)]
