"""``retouch auto``: the learned agent's recipe for a photo, printed step by step, optionally rendered.

``retouch auto IN [-o OUT] [--recipe-out R.json] [--model M.onnx] [--variations N] [--seed S]
[--strength A]``.
Registered by :mod:`engine.cli` through its ``PLUGINS`` list.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from .cli import CliError, UsageError, _check_output, _output_format, guarded, quality, render_with_progress, status
from .filters import REGISTRY
from .filters.base import points
from .formats import DEFAULT_PPI, SHARPEN_LEVELS, ppi_arg
from .recipe import Recipe, Step
from .runners.agent import AUTO_STRENGTH, MAX_STRENGTH, VARIATION_STRENGTH, WHITE_BALANCES

MAX_VARIATIONS = 32  # each costs a render and a recipe file; the app offers 4


def add_auto_subcommand(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("auto", help="let the learned agent retouch a photo (prints its editable recipe)",
                       description="Predict editable filter steps for IN from a 64x64 view of the whole frame: "
                                   "up to 3 measured ones (exposure, white balance, contrast, where needed), then "
                                   "the agent's 5 less those that change nothing. Print them with the agent's "
                                   "confidence, and optionally render OUT and save the recipe. The original is "
                                   "never modified.")
    p.add_argument("input", type=Path, metavar="IN", help="photo: RAW (any LibRaw format), JPEG, PNG or TIFF")
    p.add_argument("-o", "--output", type=Path, metavar="OUT", help="render the result to this file")
    p.add_argument("--recipe-out", type=Path, metavar="R.json", help="save the recipe (JSON, like a sidecar)")
    p.add_argument("--model", metavar="M.onnx|STYLE", help="model file or style name (default: the shipped model)")
    p.add_argument("--variations", type=int, default=0, metavar="N",
                   help="N alternative recipes from the agent's dropout (OUT and R.json get -1..-N when N > 1)")
    p.add_argument("--seed", type=int, default=None, metavar="S",
                   help="sample the agent: its dropout and each step's filter drawn by seed S "
                        "(default: deterministic, the likeliest filters; variations use 0)")
    p.add_argument("--strength", type=strength_arg, default=None, metavar="A",
                   help="how far the agent's steps go, 0-2: 1 = as predicted, 0 = only the measured steps "
                        f"(default: the style's own, 1 for a style learnt from pairs, else Auto's {AUTO_STRENGTH}; "
                        f"variations {VARIATION_STRENGTH:g}, as predicted)")
    p.add_argument("--white-balance", choices=WHITE_BALANCES, default="learned",
                   help="Auto's measured white balance: learned (the learned colour constancy, default), "
                        "max-rgb (the classical estimate), or off (the camera's, as shot)")
    p.add_argument("--quality", "-q", type=quality, default=92, metavar="Q", help="JPEG quality 1-100 (default 92)")
    p.add_argument("--long-edge", type=int, metavar="N",
                   help="downscale the image -o writes to a long edge of at most N px (Auto reads the whole photo)")
    p.add_argument("--sharpen", choices=list(SHARPEN_LEVELS), default="none",
                   help="output sharpening of the image -o writes, for screens, after any downscale (default none)")
    p.add_argument("--ppi", type=ppi_arg, default=DEFAULT_PPI, metavar="N",
                   help=f"print resolution stated in the file, pixels per inch (default {DEFAULT_PPI}); "
                        "it sets a print's size, never the pixels")
    p.set_defaults(func=guarded(cmd_auto))


def strength_arg(text: str) -> float:
    """``--strength``: a number from 0 to :data:`MAX_STRENGTH` (2)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= v <= MAX_STRENGTH:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_STRENGTH:g}, got {v:g}")
    return v


# sRGB levels at which a curve step is described: what a photographer reads off a curve
ZONES = {"shadows": 0.25, "midtones": 0.5, "highlights": 0.75}


def describe(recipe: Recipe) -> str:
    """One line per step: filter, parameters, confidence and the runner-up."""
    lines = []
    for i, s in enumerate(recipe, 1):
        if s.spec.view:  # the card's sliders (white balance: Temp and Tint over its gains)
            params = ", ".join(f"{s.spec.slider(k).label.lower()} {points(v)}"
                               for k, v in s.spec.slider_values(s.params).items())
        else:
            params = ", ".join(_zones(s) if isinstance(v, list) else f"{k} {_fmt(v, s.spec.param(k).min < 0)}"
                               for k, v in s.params.items())
        conf = ""
        if s.probs:
            p = s.probs.get(s.op, 0.0)
            conf = f"  ({100 * p:.0f} %"
            ru = s.runner_up()
            if ru:  # a variation may have drawn a filter the agent did not rank first
                conf += f"; {'next' if ru[1] <= p else 'first choice'} {REGISTRY[ru[0]].label} {100 * ru[1]:.0f} %"
            conf += ")"
        elif s.source == "match-look":
            conf = "  (fitted)"
        elif s.source == "pasted":
            conf = "  (pasted)"
        elif s.source == "picked":
            conf = "  (picked)"
        elif s.source:
            conf = "  (measured)"  # the classical steps Auto starts with, not the policy's
        lines.append(f"  {i}. {s.spec.label}: {params}{conf}")
    return "\n".join(lines)


def _points(n: int) -> str:
    return f"{n:+d}" if n else "0"


def _fmt(v: float, signed: bool) -> str:
    """Two decimals; a value they would show as zero gets its first significant digit (a black &
    white of 0.004 read "0.00" and still moved 6.5 % of a photo's pixels by two levels)."""
    digits = 2 if v == 0 or abs(v) >= 0.005 else min(6, -math.floor(math.log10(abs(v))))
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def _grey_moved(step: Step, levels: np.ndarray) -> np.ndarray:
    """How far ``step`` moves grey at each sRGB level, per channel, in points of 100 (levels, RGB),
    through the filter's own math."""
    from .color import srgb_decode, srgb_encode

    grey = np.repeat(srgb_decode(levels)[:, None], 3, axis=1)[None]  # (1, levels, RGB)
    return 100 * (srgb_encode(np.asarray(step.spec.apply(grey, **step.params), np.float32))[0] - levels[:, None])


def _zones(step: Step) -> str:
    """A curve step as what it does to grey at three sRGB levels, in points of 100, through the
    filter's own math: ``shadows +4, midtones +6, highlights +3`` (per channel where they differ).
    The recipe file keeps every slope."""
    pts = np.rint(_grey_moved(step, np.array(list(ZONES.values()), np.float32))).astype(int)
    peak, at, where, channel = _peak(step)
    if not pts.any():  # where it does act, then: the darkest shadows or the last highlights
        if abs(peak) < 0.05:
            return "flat"
        if abs(peak) < PEAK_POINTS:
            return f"nearly flat (at most {peak:+.1f} points, at sRGB {at} %, in the {where})"
    parts = []
    for zone, d in zip(ZONES, pts):
        if (d == d[0]).all():  # the channels move alike (always, for the tone curve)
            parts.append(f"{zone} {_points(d[0])}")
        else:
            parts.append(f"{zone} " + " ".join(f"{c}{_points(x)}" for c, x in zip("RGB", d)))
    if abs(peak) >= np.abs(pts).max() + PEAK_POINTS:  # its largest move lies between the three levels
        parts.append(f"most {channel}{peak:+.0f} at sRGB {at} %")
    return ", ".join(parts)


PEAK_POINTS = 2  # a curve's largest move is named when it passes the three levels' by this many points


def _peak(step: Step) -> tuple[float, int, str, str]:
    """A curve's largest move over every 1 % of sRGB: (points, at sRGB %, its zone, its channel,
    "" where the three move alike)."""
    levels = np.linspace(0, 1, 101, dtype=np.float32)
    moved = _grey_moved(step, levels)
    at, c = np.unravel_index(np.abs(moved).argmax(), moved.shape)
    where = next((z for z, v in zip(ZONES, (1 / 3, 2 / 3, 1.0)) if levels[at] <= v), "highlights")
    alike = np.allclose(moved[at], moved[at, 0], atol=0.05)
    return float(moved[at, c]), int(at), where, "" if alike else "RGB"[c]


def _numbered(path: Path | None, i: int, n: int) -> Path | None:
    if path is None or n <= 1:
        return path
    return path.with_name(f"{path.stem}-{i}{path.suffix}")


def cmd_auto(args: argparse.Namespace) -> int:
    """Run the agent on IN."""
    if not 0 <= args.variations <= MAX_VARIATIONS:
        raise UsageError(f"--variations must be 0 to {MAX_VARIATIONS} (0: one Auto recipe, as without it)")
    if args.seed is not None and args.seed < 0:  # numpy's generators refuse it with a traceback
        raise UsageError(f"--seed must be 0 or more (got {args.seed})")
    if args.long_edge is not None and args.long_edge < 16:
        raise UsageError("--long-edge must be at least 16")
    if args.variations > 1 and args.strength == 0:
        raise UsageError("--variations needs a --strength above 0: at 0 the policy's steps are all left out, "
                         "so every variation would be the same")
    if args.output is None:  # they shape the image -o writes: given without it, they did nothing unsaid
        idle = [flag for flag, given in (("--long-edge", args.long_edge is not None), ("--quality", args.quality != 92),
                                         ("--sharpen", args.sharpen != "none"), ("--ppi", args.ppi != DEFAULT_PPI))
                if given]
        if idle:
            named = " and ".join([", ".join(idle[:-1]), idle[-1]] if len(idle) > 1 else idle)
            raise UsageError(f"{named} only shape{'s' if len(idle) == 1 else ''} the image that -o writes; add -o OUT")
    fmt = None if args.output is None else _output_format(args.output, "use .jpg, .png or .tif")
    # every file this run will write, numbered as the variations are, checked before any work:
    # none may be the input (the original is never written) and no image may land on a recipe
    count = max(1, args.variations)
    outputs = {kind: [_numbered(path, i, count) for i in range(1, count + 1)]
               for kind, path in (("image", args.output), ("recipe", args.recipe_out)) if path is not None}
    clash = {p.absolute() for p in outputs.get("image", ())} & {p.absolute() for p in outputs.get("recipe", ())}
    if clash:
        raise CliError(f"-o and --recipe-out would both write {min(clash)}; give them different names")
    for kind, paths in outputs.items():
        for path in paths:
            _check_output(path, args.input, text="recipe" if kind == "recipe" else None)

    from .io import ALPHA_FORMATS, alpha_for, load_photo, write_image
    from .runners.agent import Agent, white_balance_options

    try:
        agent = Agent(args.model, **white_balance_options(args.white_balance))
    except FileNotFoundError as e:
        raise CliError(str(e)) from None
    t0 = time.perf_counter()
    with status(f"decoding {args.input.name}"):
        photo = load_photo(args.input)
    t1 = time.perf_counter()
    n = args.variations
    if n:
        recipes = agent.variations(photo.linear, n, seed=args.seed or 0, strength=args.strength,
                                   raw=photo.meta.is_raw)
    else:
        recipes = [agent.predict(photo.linear, seed=args.seed, strength=args.strength, raw=photo.meta.is_raw)]
    t2 = time.perf_counter()
    default = VARIATION_STRENGTH if n else agent.strength
    amount = default if args.strength is None else args.strength
    # a first call: the models' sessions start in it (bench/auto.py measures Auto warm, ~20 ms)
    print(f"{args.input.name}: model {agent.name} on {agent.device}, strength {amount:g}, "
          f"{1000 * (t2 - t1):.0f} ms with the models' start-up")
    words = []
    if len(recipes) > 1:  # how each differs from the others, judged on a small rendering
        from .looks import differences
        from .render import fit_long_edge, render

        thumb = np.ascontiguousarray(fit_long_edge(photo.linear, 300), dtype=np.float32)
        words = differences([render(r, thumb) for r in recipes])
    shown = alpha = None
    for i, recipe in enumerate(recipes, 1):
        if words:
            print(f"variation {i} ({words[i - 1]}):")
        elif n:  # one variation: a sampled recipe at the variations' strength, not Auto's, and said so
            print(f"variation 1 (seed {args.seed or 0}):")
        print(describe(recipe))
        opath = _numbered(args.output, i, len(recipes))
        if opath is not None:
            if shown is None:  # the same downscale for every variation
                from .render import fit_long_edge_cutout

                alpha = alpha_for(args.input, *photo.linear.shape[:2]) if fmt in ALPHA_FORMATS else None
                shown, alpha = fit_long_edge_cutout(photo.linear, alpha, args.long_edge)
            from .sharpen import sharpen

            srgb = sharpen(render_with_progress(recipe, shown), args.sharpen)
            with status(f"writing {opath.name}"):
                write_image(opath, srgb, fmt=fmt, quality=args.quality, meta=photo.meta, alpha=alpha, ppi=args.ppi)
            print(f"  image -> {opath}")
        rpath = _numbered(args.recipe_out, i, len(recipes))
        if rpath is not None:  # after its image: an image that could not be written leaves no recipe for it
            recipe.save(rpath)
            print(f"  recipe -> {rpath}")
    print(f"done in {time.perf_counter() - t0:.2f} s")
    return 0
