"""The exceptions engine.io raises, and the size limits that keep a hostile file from eating RAM."""

from __future__ import annotations

from pathlib import Path

# 200 MP: above the largest stills cameras (Fuji GFX100 pixel-shift 400 MP is refused on purpose:
# a float32 working image of it would need 4.8 GB).
MAX_PIXELS = 200_000_000
MAX_SIDE = 65_535


class ImageError(Exception):
    """A photo could not be read or written; ``str(err)`` is a clear, user-facing message."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(f"{self.path.name}: {message}" if self.path is not None else message)


class DecodeCancelled(Exception):
    """A decode in a child process was stopped because its caller no longer wanted it."""


def check_dimensions(width: int, height: int, path: str | Path | None = None) -> None:
    """Refuse absurd declared sizes before any pixel buffer is allocated."""
    if width <= 0 or height <= 0 or width > MAX_SIDE or height > MAX_SIDE:
        raise ImageError(f"declared size {width}x{height} is not a plausible photo", path)
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{width}x{height} = {width * height / 1e6:.0f} MP is above the {MAX_PIXELS / 1e6:.0f} MP limit "
            "(refused as a possible decompression bomb)", path)
