"""``retouch train-style`` and ``retouch fit``: the CLI commands that need torch (imported lazily).

``add_subcommands(subparsers)`` is called by the ``retouch`` composition root.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-style", help="learn a style model from your own before/after folders (unpaired)",
                       description="Train a retouching agent that edits photos like INPUTS into the look "
                                   "of TARGETS. The folders need not be pairs. Ctrl-C stops and keeps a "
                                   "checkpoint; --resume continues.")
    p.add_argument("--inputs", type=Path, required=True, help="unedited photos (RAW or 8-bit)")
    p.add_argument("--targets", type=Path, required=True, help="finished photos in the look to learn")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="style model to write (default ~/.local/share/retouch/styles/<targets name>.onnx)")
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    p.add_argument("--run", type=Path, default=None, help="working folder (default runs/style-<name>)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--views", type=int, default=64, help="training views per photo")
    p.set_defaults(func=cmd_train_style)

    f = sub.add_parser("fit", help="find the recipe that turns BEFORE into AFTER",
                       description="Gradient descent through the differentiable filters on small proxies; "
                                   "prints the remaining error. Use it to reverse-engineer a look.")
    f.add_argument("before", type=Path)
    f.add_argument("after", type=Path)
    f.add_argument("-o", "--output", type=Path, required=True, help="recipe JSON to write")
    f.add_argument("--iterations", type=int, default=300)
    f.set_defaults(func=cmd_fit)


class _Bar:
    """One-line progress with ETA on a terminal, a line every 1 % otherwise (the app's Learn my
    style dialog reads those)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = -1

    def __call__(self, it: int, total: int, elapsed: float) -> None:
        frac = it / max(1, total)
        eta = elapsed / max(1e-9, it) * (total - it) if it else 0
        line = (f"[{'#' * int(30 * frac):<30}] {it}/{total} {100 * frac:5.1f}% "
                f"elapsed {_hms(elapsed)} eta {_hms(eta)}")
        if self.tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif int(100 * frac) != self.last:
            self.last = int(100 * frac)
            print(line, file=sys.stderr, flush=True)


def _hms(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def cmd_train_style(args: argparse.Namespace) -> int:
    from engine.runners.agent import user_styles_dir

    from .data import crops
    from .retouch.export import export, summary
    from .retouch.train import Config, train

    for d in (args.inputs, args.targets):
        if not d.is_dir():
            print(f"error: {d} is not a folder", file=sys.stderr)
            return 2
    name = args.output.stem if args.output else args.targets.name
    out = args.output or user_styles_dir() / f"{name}.onnx"
    run = args.run or Path("runs") / f"style-{name}"
    cache = run / "cache"
    print(f"preparing views of {args.inputs} and {args.targets} ...", file=sys.stderr)
    try:
        inputs = crops.folder_views(args.inputs, args.views, cache, seed=1)
        targets = crops.folder_views(args.targets, args.views, cache, seed=2)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cfg = Config(iterations=args.iterations, batch=args.batch, width=args.width,
                 checkpoint_every=max(10, min(200, args.iterations // 10)))
    bar = _Bar()
    log_file = run / "train.log"
    run.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        with open(log_file, "a") as fh:
            fh.write(f"{time.strftime('%H:%M:%S')} {msg}\n")

    tr = train(cfg, run, inputs=inputs, targets=targets, synthetic=False, resume=args.resume,
               log=log, progress=bar)
    if bar.tty:
        print(file=sys.stderr)
    export(tr.policy.cpu(), out, {"name": name, **summary(tr.state_dict())})
    state = "interrupted" if tr.stop else "finished"
    print(f"{state} at iteration {tr.it}/{cfg.iterations}; style model written to {out}"
          + (f"\ncontinue with: retouch train-style --inputs {args.inputs} --targets {args.targets} "
             f"-o {out} --iterations {cfg.iterations} --resume" if tr.stop else ""))
    return 130 if tr.stop else 0


def cmd_fit(args: argparse.Namespace) -> int:
    from engine.auto_cli import describe
    from engine.cli import CliError, _check_output, guarded
    from engine.color import srgb_encode
    from engine.io import load_photo

    from .retouch.fit import fit

    @guarded
    def run(args: argparse.Namespace) -> int:
        _check_output(args.output, args.before, args.after)  # before the fit: it takes seconds
        if args.iterations < 1:
            raise CliError(f"--iterations must be at least 1 (got {args.iterations})")
        before = load_photo(args.before).linear
        after = srgb_encode(load_photo(args.after).linear)
        (hb, wb), (ha, wa) = before.shape[:2], after.shape[:2]
        if abs(math.log((wb / hb) / (wa / ha))) > 0.01:  # pixel i of one must be pixel i of the other
            raise CliError(f"{args.after.name} is not framed like {args.before.name} ({wa}x{ha} against "
                           f"{wb}x{hb}): fit needs the same photo, uncropped (any size)")
        t = time.perf_counter()
        try:
            res = fit(before, after, iters=args.iterations,
                      log=lambda line: print(f"  {time.perf_counter() - t:5.1f} s  {line}", file=sys.stderr,
                                             flush=True))
        except KeyboardInterrupt:
            print("retouch fit: cancelled: nothing written", file=sys.stderr)
            return 130
        res.recipe.save(args.output)
        print(f"{len(res.recipe)} steps:\n{describe(res.recipe)}")
        print(f"remaining error: RMSE {res.rmse:.4f} ({res.psnr:.1f} dB PSNR; before fitting "
              f"{res.start_psnr:.1f} dB) in {time.perf_counter() - t:.1f} s -> {args.output}")
        return 0

    return run(args)
