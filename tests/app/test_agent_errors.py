"""What the app says when the agent cannot load: the real reason, not a guess."""

from __future__ import annotations

import sys

import pytest

import app.agent as agent_mod
from engine.runners import ModelError


def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_mod, "_cache", {})
    monkeypatch.delitem(sys.modules, "engine.runners.onnx", raising=False)  # imported again at the next Agent


def test_a_missing_onnxruntime_is_said_as_such(monkeypatch):
    _fresh(monkeypatch)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as on a machine without it: ModuleNotFoundError
    with pytest.raises(ModelError, match="onnxruntime is not installed"):
        agent_mod.get_agent()


def test_any_other_import_failure_is_not_taken_for_a_missing_onnxruntime(monkeypatch):
    """Every ImportError used to read "onnxruntime is not installed", a bug in the engine included."""
    _fresh(monkeypatch)
    monkeypatch.setitem(sys.modules, "engine.runners.agent", None)  # the engine's own module, broken
    with pytest.raises(ModuleNotFoundError) as got:
        agent_mod.get_agent()
    assert got.value.name == "engine.runners.agent"
