"""Durations as people read them (progress bars, ETAs, wall times)."""

from __future__ import annotations


def hms(seconds: float) -> str:
    """``seconds`` as ``h:mm:ss``, to the nearest second."""
    s = int(seconds + 0.5)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
