"""The real photo the replay benches run on, in the working space (float32 linear)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "resources" / "samples" / "sample.dng"
FIXTURE = ROOT / "tests" / "fixtures" / "dune.jpg"


def load(path: str | None = None) -> tuple[np.ndarray, str]:
    """A real photo, linear: PATH if given, else the shipped sample DNG, else the test fixture."""
    from engine.io import load_photo

    src = Path(path) if path else SAMPLE if SAMPLE.exists() else FIXTURE
    return load_photo(src).linear, src.name


def resized(linear: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic resize per channel (upscaling a real photo to a camera's pixel count)."""
    chans = [np.asarray(Image.fromarray(np.ascontiguousarray(linear[..., c]), mode="F")
                        .resize((width, height), Image.Resampling.BICUBIC)) for c in range(3)]
    return np.clip(np.stack(chans, axis=-1), 0, None).astype(np.float32)


def errors_8bit(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Max and 99.9th percentile of |a - b| in 8-bit sRGB levels (a, b display sRGB in [0, 1])."""
    e = np.abs(a - b).max(axis=-1) * 255.0
    return float(e.max()), float(np.quantile(e[::7, ::7], 0.999))
