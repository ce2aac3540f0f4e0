"""Recipes as ``.cube`` 3-D LUT files (Adobe/Resolve, display-referred), for other software, and reading one back."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..color import srgb_decode, srgb_encode
from ..filters.base import replay_steps
from ..recipe import Recipe
from .tables import DEFAULT_SIZE


def cube_table(recipe: Recipe, size: int = DEFAULT_SIZE) -> np.ndarray:
    """The recipe as a display-to-display 3-D table: (size, size, size, 3) indexed [r, g, b].

    Input: sRGB-encoded values on a uniform lattice over [0, 1], decoded to linear, run through
    the exact recipe math, clipped and sRGB-encoded again. A white balance is baked as it treats
    every pixel but a blown white, which it leaves alone over a fade narrower than a cell: a table
    interpolating that fade was 34 levels off near white (the app renders those pixels apart).
    """
    axis = np.linspace(0.0, 1.0, size)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    linear = replay_steps(recipe.active(), srgb_decode(grid).astype(np.float32))  # no blown weight
    return srgb_encode(linear).astype(np.float32, copy=False)


def write_cube(recipe: Recipe, path: str | os.PathLike, size: int = DEFAULT_SIZE, *, title: str | None = None) -> Path:
    """Write the recipe as an Adobe/Resolve ``.cube`` 3-D LUT (atomic); returns the path.

    The table is display-referred: it expects **sRGB-encoded** RGB in [0, 1] (what Resolve,
    Photoshop and ffmpeg's ``lut3d`` feed an sRGB/Rec.709-gamma clip), linearises it with the sRGB
    transfer function, applies the recipe and encodes the result back to sRGB. Rows list red
    fastest, then green, then blue, as the format requires.
    """
    if not 2 <= size <= 256:
        raise ValueError("cube size must be between 2 and 256")
    path = Path(path)
    table = cube_table(recipe, size)
    ops = ", ".join(s.op for s in recipe.active()) or "identity"
    lines = [
        f"# Retouch recipe: {ops}",
        "# Input: sRGB-encoded RGB in [0, 1] (display-referred), linearised with the sRGB curve,",
        "# processed in linear Rec.709/sRGB primaries, output sRGB-encoded in [0, 1].",
        f'TITLE "{_title(title or path.stem)}"',
        f"LUT_3D_SIZE {size}",
        "DOMAIN_MIN 0.0 0.0 0.0",
        "DOMAIN_MAX 1.0 1.0 1.0",
    ]
    # .cube order: red changes fastest -> iterate b, g, r; table is [r, g, b].
    rows = table.transpose(2, 1, 0, 3).reshape(-1, 3)
    body = "\n".join(f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in rows.tolist())
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n" + body + "\n", encoding="ascii")
    return path


def _title(name: str) -> str:
    """A .cube TITLE: one line of printable ASCII without a quote (a file named "Été ☃.cube" failed
    to write, and a newline in a name wrote a second LUT_3D_SIZE line, which no reader accepts)."""
    text = "".join(c if c.isprintable() else " " for c in name).replace('"', "'")
    return text.encode("ascii", "replace").decode("ascii")[:120]


def read_cube(path: str | os.PathLike) -> np.ndarray:
    """Parse a 3-D ``.cube`` file -> (n, n, n, 3) float32 indexed [r, g, b] (domain [0, 1] only)."""
    size, values = None, []
    for line in Path(path).read_text(encoding="ascii").splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        head = s.split()[0]
        if head == "LUT_3D_SIZE":
            size = int(s.split()[1])
        elif head in ("TITLE", "DOMAIN_MIN", "DOMAIN_MAX", "LUT_1D_SIZE", "LUT_1D_INPUT_RANGE",
                      "LUT_3D_INPUT_RANGE"):
            if head.startswith("LUT_1D"):
                raise ValueError("1-D .cube files are not supported")
            continue
        else:
            values.append([float(v) for v in s.split()])
    if size is None or len(values) != size**3:
        raise ValueError(f"{path}: expected LUT_3D_SIZE and size³ rows")
    return np.asarray(values, np.float32).reshape(size, size, size, 3).transpose(2, 1, 0, 3).copy()
