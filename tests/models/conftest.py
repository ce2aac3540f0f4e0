"""Real held-out photos (never seen by the shipped model) for the model tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

FIXTURES = Path(__file__).parent / "fixtures"


def heldout_paths() -> list[Path]:
    return sorted(FIXTURES.glob("*.jpg"))


def load(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.float32) / 255.0


@pytest.fixture(scope="session")
def heldout_srgb() -> list[np.ndarray]:
    return [load(p) for p in heldout_paths()]


@pytest.fixture(scope="session")
def everyday_srgb() -> list[np.ndarray]:
    """The held-out set's everyday photos (``fixtures/everyday``): a portrait, a pet, food, a launch."""
    return [load(p) for p in sorted((FIXTURES / "everyday").glob("*.jpg"))]


@pytest.fixture(scope="session")
def tiny_views(heldout_srgb) -> np.ndarray:
    """A few 80x80 linear views of real photos (whole frames squeezed + crops)."""
    from engine.color import srgb_decode
    from models.data.crops import views

    rng = np.random.default_rng(0)
    return np.concatenate([views(srgb_decode(p), 4, rng) for p in heldout_srgb])


@pytest.fixture(scope="session")
def heldout_files() -> list[Path]:
    return heldout_paths()
