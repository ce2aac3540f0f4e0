"""The app's access to the learned agent, loaded lazily (onnxruntime) and cached per model.

Without a model (``resources/models/retouch*.onnx`` or a style) :func:`get_agent` raises a
:class:`~engine.runners.ModelError` saying so; the window shows it. There is no stand-in: a
made-up recipe with made-up confidences would pass for the agent's.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from engine.runners import ModelError

_lock = threading.Lock()
_cache: dict[str, Any] = {}


def available_models() -> list[Path]:
    from engine.runners.agent import available_models as am

    return list(am())


def get_agent(model: str | Path | None = None) -> Any:
    """The agent for ``model`` (``None``: the shipped default). Slow the first time: call off the GUI thread."""
    key = str(model)
    with _lock:
        if key not in _cache:
            from engine.runners.agent import Agent

            if model is None and not available_models():
                raise ModelError("no agent model is installed (resources/models/retouch.onnx)")
            try:
                _cache[key] = Agent(model)  # onnxruntime is imported here, at the first Auto
            except FileNotFoundError as e:
                raise ModelError(str(e)) from None
            except ModuleNotFoundError as e:
                if (e.name or "").partition(".")[0] != "onnxruntime":
                    raise
                raise ModelError("the agent cannot run: onnxruntime is not installed") from None
        return _cache[key]


def forget(model: str | Path) -> None:
    """Drop the cached agent of ``model`` (its file was rewritten: a style trained further)."""
    with _lock:
        _cache.pop(str(model), None)


def loaded_agents() -> dict[str, Any]:
    with _lock:
        return dict(_cache)
