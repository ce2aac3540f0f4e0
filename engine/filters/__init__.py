"""Retouch's image operations, each declared once (see :mod:`engine.filters.base`).

The import order below is the action order of the agent (the Exposure paper's filter ids).
"""

from . import (  # noqa: F401  (imported to register)
    black_white,
    color_curves,
    contrast,
    exposure,
    gamma,
    saturation,
    tone,
    white_balance,
)
from .base import LUMA, REGISTRY, FilterSpec, Param, Sigmoid, TanhRange, register

#: The agent's eight actions, in the paper's order.
AGENT_FILTERS: tuple[str, ...] = tuple(REGISTRY)

__all__ = ["AGENT_FILTERS", "LUMA", "REGISTRY", "FilterSpec", "Param", "Sigmoid", "TanhRange", "register"]
