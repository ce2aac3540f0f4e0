"""The output formats Retouch writes: one table for the CLI, batch, the writers and the dialogs.

Kept free of heavy imports so ``retouch --help`` and the app's dialogs can read it cheaply.
"""

from __future__ import annotations


def ppi_arg(text: str) -> int:
    """``--ppi``: a whole number of pixels per inch within :data:`PPI_RANGE`."""
    import argparse

    try:
        return check_ppi(int(text))
    except ValueError:
        lo, hi = PPI_RANGE
        raise argparse.ArgumentTypeError(f"a whole number from {lo} to {hi}, got {text!r}") from None


def check_ppi(ppi: int) -> int:
    """``ppi`` as an int within :data:`PPI_RANGE`, else ValueError saying the range."""
    import numbers

    lo, hi = PPI_RANGE
    if isinstance(ppi, bool) or not isinstance(ppi, numbers.Integral) or not lo <= ppi <= hi:
        raise ValueError(f"the resolution must be a whole number of pixels per inch from {lo} to {hi}, got {ppi!r}")
    return ppi


#: format key -> the suffix an output gets
FORMATS: dict[str, str] = {"jpeg": ".jpg", "png": ".png", "png16": ".png", "tiff16": ".tif"}
#: file suffix (lower case) -> format key (a .png is 8-bit unless png16 is asked for)
SUFFIX_FORMAT: dict[str, str] = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".tif": "tiff16", ".tiff": "tiff16"}
#: (label, key) pairs, in menu order, for export dialogs
FORMAT_LABELS: tuple[tuple[str, str], ...] = (("JPEG", "jpeg"), ("PNG (8-bit)", "png"), ("PNG (16-bit)", "png16"),
                                               ("TIFF (16-bit)", "tiff16"))
#: formats that keep 16 bits per channel
SIXTEEN_BIT = frozenset({"png16", "tiff16"})
#: the print resolution written into every output, in pixels per inch (Lightroom's export "Resolution";
#: it sets the size a print dialog proposes, never the pixels)
DEFAULT_PPI = 300
PPI_RANGE = (1, 10_000)
#: output sharpening level -> amount of its unsharp mask (:mod:`engine.sharpen`; 1.0 adds the detail once more)
SHARPEN_LEVELS: dict[str, float] = {"none": 0.0, "low": 0.35, "standard": 0.7, "high": 1.1}
#: (label, key) pairs, in menu order, for export dialogs
SHARPEN_LABELS: tuple[tuple[str, str], ...] = (("None", "none"), ("Low", "low"), ("Standard", "standard"),
                                               ("High", "high"))
