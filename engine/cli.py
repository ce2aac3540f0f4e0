"""The engine's ``retouch`` subcommands: ``apply``, ``info``, ``export-lut`` (and ``batch``).

Each subcommand is two small functions: ``add_<name>(subparsers)`` declares it and
``cmd_<name>(args) -> int`` runs it. :func:`add_subcommands` registers everything listed in
:data:`SUBCOMMANDS`, plus those in :data:`PLUGINS` (modules of ``engine`` exposing a
registrar, e.g. ``batch_cli.add_batch_subcommand``; a new one such as ``auto`` is one more line).

Failures the user can fix (missing file, bad recipe, unsupported format, refusing to overwrite
the original) print one ``retouch <cmd>: error: ...`` line on stderr and return 1; an option
value that cannot work (:class:`UsageError`) exits 2, as argparse's own refusals do. Nothing
here prints a traceback for them. Heavy imports (numba, rawpy, PIL) happen inside the commands,
so ``retouch --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .atomic import unwritable
from .formats import DEFAULT_PPI, FORMATS, SHARPEN_LEVELS, SUFFIX_FORMAT, ppi_arg

BAND_ROWS = 256  # rows rendered between progress updates


def quality(text: str) -> int:
    """argparse type for --quality: an integer in 1-100."""
    try:
        q = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= q <= 100:
        raise argparse.ArgumentTypeError("must be between 1 and 100")
    return q


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


class UsageError(CliError):
    """An option value that cannot work: printed as one line, exit status 2 (as argparse's own)."""


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _fail(args: argparse.Namespace, msg: str, code: int = 1) -> int:
    print(f"retouch {getattr(args, 'command', '')}: error: {msg}".replace("  ", " "), file=sys.stderr)
    return code


def guarded(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn the errors a user can cause into one line on stderr and exit status 1 (2 for an
    option that cannot work)."""

    def run(args: argparse.Namespace) -> int:
        from .io import ImageError
        from .recipe import RecipeError
        from .runners import ModelError

        try:
            return fn(args)
        except UsageError as e:
            return _fail(args, str(e), 2)
        except (CliError, ImageError, RecipeError, ModelError) as e:
            return _fail(args, str(e))
        except OSError as e:
            return _fail(args, f"{e.filename or ''}: {e.strerror or e}".lstrip(": "))
        except KeyboardInterrupt:
            return _fail(args, "cancelled", 130)
        except MemoryError:  # a photo too large for this machine's memory (or a decompression bomb)
            return _fail(args, "not enough memory for this photo")

    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


@contextmanager
def progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (silent when stderr is not a terminal); yields ``advance(n)``."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                   TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
                   disable=not console.is_terminal)
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


@contextmanager
def status(text: str) -> Iterator[None]:
    """A spinner on stderr for one long call (decode, encode); silent when not a terminal."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    with console.status(text):
        yield


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


TEXT_SUFFIXES = {".json": "recipe", ".cube": "LUT", ".xmp": "sidecar"}


def _check_output(out: Path, *inputs: Path, text: str | None = None) -> None:
    """Refuse an output that would overwrite an input, or that cannot be written, before any work.
    ``text``: what a text writer writes (a recipe, a LUT), never over an existing photo."""
    from .io import SUPPORTED_EXTENSIONS

    # an output replaces whatever is at its name (atomically): a link or a device would be lost to it
    if str(out) == "-":
        raise CliError("'-': writing to standard output is not supported; name an output file")
    if out.is_symlink():
        raise CliError(f"{out} is a link (to {os.readlink(out)}); an output replaces what is at its name, "
                       "so name the file itself")
    if out.exists() and not out.is_file() and not out.is_dir():
        raise CliError(f"{out} is not a regular file (a device or a pipe); name an output file")
    for src in inputs:
        if _same_file(out, src) or out.absolute() == src.absolute():
            raise CliError(f"refusing to overwrite the input {src}; choose another output name")
    from .batch_worker import looks_like_a_photo, someone_elses

    if text is not None:  # never over a photo (by its name, or its first bytes where it has no suffix)
        end = ".json" if text == "recipe" else ".cube"
        if out.suffix.lower() in SUPPORTED_EXTENSIONS or (out.is_file() and looks_like_a_photo(out)):
            if out.exists():
                raise CliError(f"{out} is a photo; a {text} is never written over one (choose a name ending in {end})")
            raise CliError(f"{out} is a photo's name; give the {text} a name ending in {end}")
        if out.is_file() and out.suffix.lower() != end:  # a sidecar, a trained style, notes: never lost to it
            raise CliError(f"{out} exists and is not a {text} file; a {text} replaces only a file ending in {end} "
                           "(choose another name)")
    if text is None and out.suffix.lower() in TEXT_SUFFIXES:  # a recipe, LUT or sidecar is never lost to a photo
        raise CliError(f"{out.name} is named as a {TEXT_SUFFIXES[out.suffix.lower()]}, not a photo; give the "
                       "output a name ending in .jpg, .png or .tif")
    if out.is_dir():
        raise CliError(f"{out} is a folder; give an output file name")
    if text is None and someone_elses(out):  # the camera's JPEG beside its RAW is the natural -o name
        raise CliError(f"{out} is a photo Retouch did not write (a camera's or another program's), and it "
                       "is never replaced; choose another output name")
    if out.parent.exists() and not out.parent.is_dir():
        raise CliError(f"{out.parent} is a file, not a folder")
    if not out.parent.is_dir():
        raise CliError(f"folder {out.parent} does not exist")
    why = unwritable(out.parent)  # found now, not after seconds of work
    if why:
        raise CliError(f"cannot write to {out.parent} ({why}); choose another folder for {out.name}")


def _output_format(out: Path, hint: str) -> str:
    """The format key OUT's suffix names; ``hint`` tells the user how to fix an unknown suffix."""
    if out.is_dir():
        raise CliError(f"{out} is a folder; give an output file name")
    fmt = SUFFIX_FORMAT.get(out.suffix.lower())
    if fmt is None:
        raise CliError(f"cannot tell the format from {out.name!r}; {hint}")
    return fmt


def _check_recipe_file(path: Path) -> None:
    """A recipe named on the command line: there, and a file (/dev/zero or a pipe was "not found")."""
    if not path.exists():
        raise CliError(f"recipe {path} not found")
    if not path.is_file():
        raise CliError(f"recipe {path} is not a regular file (a folder, a device or a pipe); name a recipe file")


def _load_recipe(path: Path | None, photo: Path) -> Any:
    from .recipe import Recipe, has_sidecar, sidecar_path

    if path is not None:
        _check_recipe_file(path)
        return Recipe.load(path)
    if not has_sidecar(photo):
        raise CliError(f"no --recipe given and {photo.name} has no sidecar ({sidecar_path(photo).name})")
    # only read, as a batch reads it: a broken one is said and left where it is (the app sets it
    # aside when it opens the photo; moved here, the next batch gave that photo Auto without a word)
    return Recipe.load(sidecar_path(photo))


def render_with_progress(recipe: Any, linear: Any, label: str = "rendering") -> Any:
    """``engine.render.render`` in bands of rows, advancing a progress bar."""
    import numpy as np

    from . import render as er

    if any(not s.spec.pointwise for s in recipe.active()):
        return er.render(recipe, linear)
    from .lut import apply_recipe_lut, size_for

    size = size_for(linear)  # 65³ above 4 MP, as render() would
    out = np.empty(linear.shape, np.float32)
    h = linear.shape[0]
    with progress(label, h) as advance:
        for y in range(0, h, BAND_ROWS):
            band = slice(y, min(h, y + BAND_ROWS))
            apply_recipe_lut(recipe, linear[band], size, out[band])
            advance(band.stop - band.start)
    return out


# ---------------------------------------------------------------------------------------------
# apply


def add_apply(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("apply", help="render a photo with a recipe and write JPEG/PNG/16-bit TIFF",
                       description="Render IN with a recipe (default: IN's own sidecar, IN.retouch.json) "
                                   "and write OUT atomically, with EXIF (orientation reset) and an sRGB "
                                   "ICC profile. The original is never modified.")
    p.add_argument("input", type=Path, metavar="IN", help="photo: RAW (any LibRaw format), JPEG, PNG or TIFF")
    p.add_argument("--recipe", "-r", type=Path, metavar="R.json", help="recipe to apply (default: IN's sidecar)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="file to write")
    p.add_argument("--format", "-f", dest="fmt", choices=list(FORMATS),
                   help="output format (default: from OUT's suffix; needed only for a name without one)")
    p.add_argument("--quality", "-q", type=quality, default=92, metavar="Q", help="JPEG quality 1-100 (default 92)")
    p.add_argument("--long-edge", type=int, metavar="N", help="downscale so the long edge is at most N px")
    p.add_argument("--sharpen", choices=list(SHARPEN_LEVELS), default="none",
                   help="output sharpening for screens, after any downscale (default none)")
    p.add_argument("--ppi", type=ppi_arg, default=DEFAULT_PPI, metavar="N",
                   help=f"print resolution stated in the file, pixels per inch (default {DEFAULT_PPI}); "
                        "it sets a print's size, never the pixels")
    p.add_argument("--exact", action="store_true", help="run the exact per-filter math (slow) instead of the LUT")
    p.set_defaults(func=guarded(cmd_apply))


def cmd_apply(args: argparse.Namespace) -> int:
    """Render IN with a recipe and write OUT."""
    if args.long_edge is not None and args.long_edge < 16:
        raise UsageError("--long-edge must be at least 16")
    named = SUFFIX_FORMAT.get(args.output.suffix.lower())
    if args.fmt and named and FORMATS[named] != FORMATS[args.fmt]:  # a PNG under a .jpg name fools every other program
        raise UsageError(f"--format {args.fmt} but {args.output.name} names {named}; make them agree")
    # and a JPEG under a .webp one (a recipe's or LUT's name is refused as such by _check_output)
    if args.fmt and not named and args.output.suffix and args.output.suffix.lower() not in TEXT_SUFFIXES:
        raise UsageError(f"{args.output.name} names a format Retouch does not write; use .jpg, .png or .tif "
                         "(--format is for a name without a suffix)")
    # a name without a suffix takes --format; one with another suffix (.webp) is renamed, or it
    # would be a JPEG under a WebP name
    fmt = args.fmt or _output_format(args.output, "use .jpg, .png or .tif" if args.output.suffix
                                     else f"add --format {'|'.join(FORMATS)}")
    from .recipe import sidecar_path

    # without -r the photo's sidecar is read: an input too
    _check_output(args.output, args.input, args.recipe if args.recipe else sidecar_path(args.input))

    from . import render as er
    from .io import ALPHA_FORMATS, alpha_for, load_photo, write_image

    t0 = time.perf_counter()
    recipe = _load_recipe(args.recipe, args.input)
    with status(f"decoding {args.input.name}"):
        photo = load_photo(args.input)
    alpha = alpha_for(args.input, *photo.linear.shape[:2]) if fmt in ALPHA_FORMATS else None
    linear, alpha = er.fit_long_edge_cutout(photo.linear, alpha, args.long_edge)
    srgb = er.render(recipe, linear, exact=True) if args.exact else render_with_progress(recipe, linear)
    from .sharpen import sharpen

    srgb = sharpen(srgb, args.sharpen)
    with status(f"writing {args.output.name}"):
        out = write_image(args.output, srgb, fmt=fmt, quality=args.quality, meta=photo.meta, alpha=alpha,
                          ppi=args.ppi)
    h, w = srgb.shape[:2]
    steps = ", ".join(s.op for s in recipe.active()) or "no edits"
    print(f"{out}: {w}x{h} {fmt} ({steps}) in {time.perf_counter() - t0:.2f} s")
    return 0


# ---------------------------------------------------------------------------------------------
# info


def add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="print camera, size and an EXIF summary of a photo",
                       description="Print what Retouch reads from a photo's metadata (no full decode).")
    p.add_argument("input", type=Path, metavar="IN", help="photo: RAW, JPEG, PNG or TIFF")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=guarded(cmd_info))


def _fraction_seconds(t: float) -> str:
    return f"1/{round(1 / t)} s" if 0 < t < 0.5 else f"{t:g} s"


def info_fields(meta: Any) -> dict[str, Any]:
    """The summary ``retouch info`` prints, as plain values."""
    from .recipe import has_sidecar, sidecar_path

    return {
        "file": str(meta.path),
        "type": "RAW" if meta.is_raw else meta.path.suffix.lstrip(".").upper(),
        "camera": meta.camera,
        "size": f"{meta.width}x{meta.height}",
        "megapixels": round(meta.width * meta.height / 1e6, 1),
        "orientation": meta.orientation,
        "captured": meta.captured.isoformat(sep=" ") if meta.captured else None,
        "exposure": _fraction_seconds(meta.exposure_time) if meta.exposure_time else None,
        "aperture": f"f/{meta.f_number:g}" if meta.f_number else None,
        "iso": int(meta.iso) if meta.iso else None,
        "focal_length": f"{meta.focal_length:g} mm" if meta.focal_length else None,
        "exif_bytes": len(meta.exif) if meta.exif else 0,
        "sidecar": sidecar_path(meta.path).name if has_sidecar(meta.path) else None,
    }


def cmd_info(args: argparse.Namespace) -> int:
    """Print a photo's metadata summary."""
    from .io import read_metadata

    fields = info_fields(read_metadata(args.input))
    if args.json:
        print(json.dumps(fields, indent=1))
        return 0
    width = max(map(len, fields))
    for k, v in fields.items():
        print(f"{k.replace('_', ' '):<{width}}  {'-' if v is None else v}")
    return 0


# ---------------------------------------------------------------------------------------------
# export-lut


def _cube_size(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 2 <= n <= 129:
        raise argparse.ArgumentTypeError("size must be between 2 and 129 (17, 33 and 65 are usual)")
    return n


def add_export_lut(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-lut", help="write a recipe as a .cube 3D LUT (Resolve, Photoshop, ffmpeg)",
                       description="Write R.json as a standard .cube 3D LUT. The LUT is display-to-display: "
                                   "it expects sRGB-encoded input in [0, 1], linearises it, applies the "
                                   "recipe and re-encodes to sRGB (stated in the file's header).")
    p.add_argument("recipe", type=Path, metavar="R.json", help="recipe or sidecar file")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="look.cube")
    p.add_argument("--size", type=_cube_size, default=33, help="lattice points per axis (default 33)")
    p.set_defaults(func=guarded(cmd_export_lut))


def cmd_export_lut(args: argparse.Namespace) -> int:
    """Write a recipe as a .cube file."""
    from .lut import write_cube
    from .recipe import Recipe

    _check_recipe_file(args.recipe)
    _check_output(args.output, args.recipe, text="LUT")
    recipe = Recipe.load(args.recipe)
    write_cube(recipe, args.output, args.size)
    print(f"{args.output}: {args.size}³ LUT of {len(recipe.active())} step(s), sRGB in -> sRGB out")
    return 0


# ---------------------------------------------------------------------------------------------
# Registration

#: The engine's own subcommands, in the order ``retouch --help`` lists them.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], Any]] = [add_apply, add_info, add_export_lut]
#: Subcommands that live in their own engine modules (so ``retouch apply`` never imports them):
#: (module, registrar). They ship with the engine: one that fails to import is a bug, and raises.
PLUGINS: list[tuple[str, str]] = [("engine.auto_cli", "add_auto_subcommand"),
                                  ("engine.batch_cli", "add_batch_subcommand"),
                                  ("engine.styles_cli", "add_styles_subcommand")]


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    """Register every engine subcommand on an ``add_subparsers()`` object."""
    for add in SUBCOMMANDS:
        add(sub)
    for module, name in PLUGINS:
        getattr(importlib.import_module(module), name)(sub)


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.cli``: the engine subcommands alone (no GUI, no training)."""
    ap = argparse.ArgumentParser(prog="retouch", description="Retouch engine commands")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_subcommands(sub)
    args = ap.parse_args(argv)
    from .interrupts import quiet_when_gone, stopping_as_ctrl_c

    with stopping_as_ctrl_c(), quiet_when_gone():  # as ``retouch``'s: a kill stops as Ctrl-C does
        return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
