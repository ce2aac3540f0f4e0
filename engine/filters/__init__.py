"""Retouch's image operations, each declared once (see :mod:`engine.filters.base`).

Registration order (below, the Exposure paper's filter order) is the order menus list them in.
"""

# isort: off
from . import (  # noqa: F401  (imported to register)
    exposure,
    gamma,
    white_balance,
    saturation,
    tone,
    contrast,
    black_white,
    color_curves,
    highlights,
)
# isort: on
from .base import LUMA, REGISTRY, FilterSpec, Param, Sigmoid, TanhRange, View, register

#: The agent's eight actions, in the order of its network's heads. Exported models record their
#: own order in their metadata (engine.runners.agent reads it), so this only binds new training.
AGENT_FILTERS: tuple[str, ...] = (
    "black_white", "color_curves", "contrast", "exposure", "gamma", "saturation", "tone", "white_balance",
)

__all__ = ["AGENT_FILTERS", "LUMA", "REGISTRY", "FilterSpec", "Param", "Sigmoid", "TanhRange", "View", "register"]
