"""``retouch train-style`` and ``retouch fit``: the CLI commands that need torch (imported lazily).

``add_subcommands(subparsers)`` is called by the ``retouch`` composition root.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.durations import hms

if TYPE_CHECKING:
    from .retouch.train import Config


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    from engine.batch import MIN_PAIRS

    p = sub.add_parser("train-style", help="learn a style model from your own before/after folders",
                       description="Train a retouching agent that edits photos like INPUTS into the look "
                                   "of TARGETS. Where the folders hold the same photos (the same file "
                                   f"names, at least {MIN_PAIRS} of them: your RAWs and your finished "
                                   "exports), it learns from each pair, your edit of each photo; else "
                                   "the folders need not be pairs and it learns the targets' look "
                                   "(the paper's unpaired training). It trains on the photos after the "
                                   "measured steps Auto starts with (exposure, white balance, contrast), "
                                   "as the style will run. Ctrl-C stops and keeps a checkpoint; "
                                   "--resume continues.")
    p.add_argument("--inputs", type=Path, required=True, help="unedited photos (RAW, JPEG, PNG or TIFF)")
    p.add_argument("--targets", type=Path, required=True, help="finished photos in the look to learn")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="style model to write (default ~/.local/share/retouch/styles/<targets name>.onnx)")
    p.add_argument("--iterations", type=int, default=None,
                   help=f"training iterations in all, resumed ones included (default {ITERATIONS}; "
                        "about 0.3 s each on two idle CPU cores, more for the first few); "
                        "with --resume, the run's own unless given")
    p.add_argument("--unpaired", action="store_true",
                   help="learn only the targets' look, even where file names pair the folders")
    again = p.add_mutually_exclusive_group()  # both at once: which one was meant?
    again.add_argument("--resume", action="store_true",
                       help="continue the run folder's checkpoint with its own --width, --batch and --views")
    again.add_argument("--replace", action="store_true",
                       help="start again where a style or a run of that name exists (without it, that is refused)")
    p.add_argument("--run", type=Path, default=None,
                   help="working folder: checkpoint, log, views cache (default "
                        "~/.local/share/retouch/runs/style-<name>, with a suffix for an -o outside your styles)")
    p.add_argument("--batch", type=int, default=None, help=f"episodes per iteration (default {BATCH})")
    p.add_argument("--width", type=int, default=None,
                   help="channels of the networks' first layer: the model's size "
                        "(default 8, the shipped model's: 2.6 MB)")
    p.add_argument("--views", type=int, default=None,
                   help=f"training views per photo, at least 8 (default {VIEWS}; fewer for large folders, "
                        "at most 12000 in all)")
    p.set_defaults(func=cmd_train_style)

    f = sub.add_parser("fit", help="find the recipe that turns BEFORE into AFTER",
                       description="Gradient descent through the differentiable filters on a pixel sample "
                                   "at the smaller image's size; "
                                   "prints the remaining error. Use it to reverse-engineer a look. Give "
                                   "several pairs of one look to pin it down: one photo of nearly one hue "
                                   "cannot tell a warmer white balance from more saturation.")
    f.add_argument("before", type=Path, metavar="BEFORE",
                   help="the photo as shot (RAW, JPEG, PNG or TIFF), or a folder of them")
    f.add_argument("after", type=Path, metavar="AFTER",
                   help="a finished version of it, any size, cropped or not; or a folder of finished photos, "
                        "paired by file name with BEFORE's (IMG_0042.CR2 and IMG_0042.jpg)")
    f.add_argument("more", type=Path, nargs="*", default=[], metavar="BEFORE AFTER",
                   help="more pairs of the same look, one recipe for all")
    f.add_argument("-o", "--output", type=Path, required=True, metavar="R.json", help="recipe JSON to write")
    f.add_argument("--iterations", type=int, default=300, metavar="N",
                   help="L-BFGS iterations of the final tuning (default 300; each candidate chain gets a fifth)")
    f.set_defaults(func=cmd_fit)


class _Bar:
    """One-line progress with ETA on a terminal, a line every 1 % otherwise (the app's Learn my
    style dialog reads those).

    The ETA extrapolates the recent seconds per unit of ``work(start, end)`` (the cost of those
    iterations; default: one each) to the iterations left: the first iterations train the critic
    many more times (``train.critic_steps``), and a rate from the start would overestimate the
    rest several fold. The first call only sets the start."""

    WARM_UP = 2  # calls

    def __init__(self, work: Callable[[int, int], float] = lambda start, end: end - start, window: int = 50):
        self.tty = sys.stderr.isatty()
        self.last = -1
        self.work = work
        self.recent: deque[tuple[float, float]] = deque(maxlen=window)  # (seconds, work) of each call's iterations
        # the first calls' iterations also pay torch's first allocations and a loaded machine's start
        # (30-130 s against ~1 s later in a review): used only until others exist
        self.first: list[tuple[float, float]] = []
        self.prev: tuple[int, float] | None = None

    def __call__(self, it: int, total: int, elapsed: float) -> None:
        if self.prev is not None and it > self.prev[0]:
            interval = (elapsed - self.prev[1], self.work(self.prev[0], it))
            (self.first if len(self.first) < self.WARM_UP else self.recent).append(interval)
        self.prev = (it, elapsed)
        if not self.first:
            return
        frac = it / max(1, total)
        line = (f"[{'#' * int(30 * frac):<30}] {it}/{total} {100 * frac:5.1f}% "
                f"elapsed {hms(elapsed)} eta {hms(self.eta(it, total))}")
        if self.tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif int(100 * frac) != self.last:
            self.last = int(100 * frac)
            print(line, file=sys.stderr, flush=True)

    def eta(self, it: int, total: int) -> float:
        seconds, work = (sum(x) for x in zip(*(self.recent or self.first)))
        return seconds / max(1e-9, work) * self.work(it, total)


def cmd_train_style(args: argparse.Namespace) -> int:
    from engine.cli import guarded

    return guarded(_train_style)(args)


def _train_style(args: argparse.Namespace) -> int:
    from engine.cli import CliError, _check_output
    from engine.folders import scan_folder
    from engine.runners.agent import style_run_dir, user_styles_dir
    from engine.styles import StyleError, check_name, continue_problem

    from .data import crops

    _check_counts(args, crops.MIN_VIEWS)
    for d in (args.inputs, args.targets):
        if not d.is_dir():
            raise CliError(f"{d} is not a folder")
    if args.inputs.resolve() == args.targets.resolve():  # it trained, unpaired, a style that does nothing
        raise CliError(f"--inputs and --targets are the same folder ({args.inputs}): give the unedited "
                       "photos and the finished ones")
    if args.output is not None and args.output.is_dir():
        raise CliError(f"{args.output} is a folder; give the style model's file name")
    listed = {d: scan_folder(d) for d in (args.inputs, args.targets)}  # once: pairs and views read the same lists
    for d, photos in listed.items():  # before any note on how many there are
        if not photos:
            raise CliError(f"no photos in {d}")
    if args.output is not None:
        _check_output(args.output, *listed[args.inputs], *listed[args.targets])  # never over a photo
        if args.output.suffix.lower() != ".onnx":
            raise CliError(f"{args.output.name}: a style model's file name ends in .onnx")
    # named after the targets' folder as the shell resolves it ("." is that folder, not a hidden ".onnx")
    try:
        name = check_name(args.output.stem if args.output else args.targets.resolve().name)
    except StyleError as e:
        raise CliError(f"{e}; give the style a name with -o NAME.onnx") from None
    out = args.output or user_styles_dir() / f"{name}.onnx"
    there = next(d for d in (out.parent, *out.parent.parents) if d.exists())  # styles/ is made when written
    if not os.access(there, os.W_OK):
        raise CliError(f"cannot write to {out.parent}: choose another -o")  # found now, not after the training
    run = args.run or style_run_dir(name, out)
    if not args.resume and not args.replace and (out.exists() or (run / "checkpoint.pt").exists()):
        what = out if out.exists() else run / "checkpoint.pt"
        can = continue_problem(run, out, args.inputs, args.targets) is None and (run / "checkpoint.pt").exists()
        raise CliError(f"{what} exists (hours of training, perhaps): "
                       + ("--resume continues it, " if can else "") + "--replace starts again"
                       + ("" if can or args.run else ", or give another -o"))
    if args.resume and (problem := continue_problem(run, out, args.inputs, args.targets)):
        raise CliError(f"--resume: {problem}; start again with --replace, or give another -o")
    held: list[bool] = []  # the run's lock was taken: the folder is this training's to remove
    created = not run.exists()
    try:
        return _train_in(args, run, out, name, listed, held)
    except BaseException:
        if created and held and not (run / "checkpoint.pt").exists():  # a failed start leaves no views cache
            shutil.rmtree(run, ignore_errors=True)  # (refused for another's lock: that folder is the other's)
        raise


def _train_in(args: argparse.Namespace, run: Path, out: Path, name: str, listed: dict, held: list[bool]) -> int:
    """The training itself, in ``run`` (its lock held), once the command line is checked."""
    from engine.batch import MIN_PAIRS, pair_by_name
    from engine.cli import CliError
    from engine.styles import record_training, record_written

    from .data import crops
    from .retouch.export import export, summary
    from .retouch.train import train, work

    with _run_lock(run):
        held.append(True)
        pairs = [] if args.unpaired else pair_by_name(listed[args.inputs], listed[args.targets])
        # all checked before the views; a resumed run keeps its own kind
        cfg = _resumed_config(args, run) if args.resume else _fresh_config(args, paired=len(pairs) >= MIN_PAIRS)
        if cfg.paired and args.unpaired:
            raise CliError(f"--unpaired: the run in {run} learnt from pairs; leave --unpaired out to continue it")
        if cfg.paired and len(pairs) < MIN_PAIRS:
            raise CliError(f"--resume: the run in {run} learnt from pairs, and the folders now pair "
                           f"{len(pairs)} photos by file name (at least {MIN_PAIRS})")
        if cfg.paired:
            print(f"{len(pairs)} photos pair up by file name: learning from each pair", file=sys.stderr)
            alone = sorted({p.name for p in listed[args.inputs]} - {i.name for i, _ in pairs})
            if alone:  # a photo of --inputs with no finished one of its name: not learnt from, and said
                names = ", ".join(alone[:3]) + (", …" if len(alone) > 3 else "")
                print(f"{len(alone)} of the photos in {args.inputs} {'has' if len(alone) == 1 else 'have'} no "
                      f"finished photo of {'its' if len(alone) == 1 else 'their'} name and "
                      f"{'is' if len(alone) == 1 else 'are'} left out ({names})", file=sys.stderr)
        elif pairs and not args.unpaired:  # too few to learn edits from: said, not silently unpaired
            print(f"only {len(pairs)} photo{'s' if len(pairs) > 1 else ''} pair{'' if len(pairs) > 1 else 's'} up "
                  f"by file name (at least {MIN_PAIRS} to learn from pairs): learning the targets' look",
                  file=sys.stderr)
        shown = len(pairs) if cfg.paired else len(listed[args.targets])
        if shown < FEW_PHOTOS:
            what = ("pair" if cfg.paired else "finished photo") + ("" if shown == 1 else "s")
            print(f"retouch train-style: note: {shown} {what}: a style learns its look from what they share, and "
                  f"{FEW_PHOTOS} or more tell it better (the built-in style learnt from 11)", file=sys.stderr)
        print(f"preparing views of {args.inputs} and {args.targets} ...", file=sys.stderr)
        originals = None
        said: set[str] = set()  # finished photos a skipped pair named: not skipped a second time below

        def pairs_log(msg: str) -> None:
            # the pair's reason is the finished photo's own ("a / b: b: truncated"), not its input's
            said.update(b.name for a, b in pairs if msg.startswith(f"skipped the pair {a.name} / {b.name}: {b.name}"))
            print(msg, file=sys.stderr, flush=True)

        def targets_log(msg: str) -> None:
            if not any(msg.startswith((f"skipped {n}: ", f"skipped {n} ")) for n in said):
                print(msg, file=sys.stderr, flush=True)

        if cfg.paired:
            try:  # the bar pairing was chosen by must hold for the pairs read, not for the names alone
                inputs, originals = crops.paired_views(pairs, cfg.views_per_photo, run / "cache", seed=1,
                                                       least=MIN_PAIRS, log=pairs_log)
            except FileNotFoundError as e:
                way_out = "" if args.resume else ", or give --unpaired to learn the targets' look alone"
                raise CliError(f"{e} (at least {MIN_PAIRS} to learn from pairs): mend or remove the pairs it "
                               f"skipped{way_out}") from None
        try:
            if not cfg.paired:
                inputs = crops.folder_views(args.inputs, cfg.views_per_photo, run / "cache", seed=1,
                                            paths=listed[args.inputs])
            targets = crops.folder_views(args.targets, cfg.views_per_photo, run / "cache", seed=2,
                                         paths=listed[args.targets], log=targets_log)
        except FileNotFoundError as e:  # no photos, or none readable
            raise CliError(str(e)) from None
        bar = _Bar(lambda start, end: work(cfg, start, end))
        log_file = run / "train.log"
        run.mkdir(parents=True, exist_ok=True)
        if not args.resume:
            record_training(run, out, args.inputs, args.targets)

        def log(msg: str) -> None:
            with open(log_file, "a") as fh:
                fh.write(f"{time.strftime('%H:%M:%S')} {msg}\n")

        tr = train(cfg, run, inputs=inputs, targets=targets, synthetic=False, resume=args.resume,
                   log=log, progress=bar, originals=originals)
        if bar.tty:
            print(file=sys.stderr)
        if tr.stop and tr.it == 0:  # Ctrl-C in the warm-up: an untrained policy is no style
            print(f"interrupted before the first iteration: nothing saved (the views stay cached in {run})")
            return 130
        # a style learnt from pairs is meant in full; an unpaired one keeps Auto's hedge (HISTORY.md, twentieth session)
        strength = {"strength": PAIRED_STRENGTH} if cfg.paired else {}
        with _shielded():  # a second Ctrl-C or SIGTERM while the style is written would lose it
            export(tr.policy.cpu(), out, {"name": name, **summary(tr.state_dict()), **strength}, fp16=True)
            record_written(run, out)
        state = "interrupted" if tr.stop else "finished"
        print(f"{state} at iteration {tr.it}/{cfg.iterations}; style model written to {out}")
        if originals is not None and not tr.stop:  # a stopped run is left at once
            try:
                _say_pairs_score(out, inputs, originals, tr.it, log)
            except KeyboardInterrupt:
                print("retouch train-style: note: its score on its pairs was skipped (interrupted)", file=sys.stderr)
            except Exception as e:  # the style is written: the score is only news
                print(f"retouch train-style: note: its score on its pairs failed ({e})", file=sys.stderr)
        if tr.it < SHORT_TRAINING:
            print(f"retouch train-style: note: a short training ({tr.it} iterations): the style may add few or "
                  f"odd steps; continue it towards {max(cfg.iterations, ITERATIONS)} for a settled one",
                  file=sys.stderr)
        if tr.stop:
            print(f"continue with: {_continue_command(args, out, run, cfg)}")
        return 130 if tr.stop else 0


def _say_pairs_score(model: Path, inputs: Any, edits: Any, iterations: int, log: Callable[[str], None]) -> None:
    """How near the style's Auto brings its own pairs' photos to the photographer's edits, beside
    leaving them unedited and Default's Auto, on up to :data:`SCORE_VIEWS` of its training views
    (display sRGB PSNR). Its own photos flatter it; a style that does worse than nothing even on
    them has not learnt the edits yet, which nothing had said: 400 iterations on five pairs blew
    out a cat's fur (QA)."""
    import numpy as np

    from engine.color import srgb_encode
    from engine.render import render_exact
    from engine.runners.agent import Agent

    from .retouch.evaluate import psnr

    picked = np.unique(np.linspace(0, len(inputs) - 1, min(SCORE_VIEWS, len(inputs))).astype(int))
    wanted = [srgb_encode(np.asarray(edits[i], np.float32)) for i in picked]

    def score(look: Callable[[Any], Any]) -> float:
        return float(np.mean([psnr(look(np.asarray(inputs[i], np.float32)), w) for i, w in zip(picked, wanted)]))

    agents = [Agent(model, prefer_gpu=False), Agent(None, prefer_gpu=False)]
    style, default = (score(lambda x, a=a: render_exact(a.predict(x), x)) for a in agents)
    unedited = score(srgb_encode)
    line = (f"on {len(picked)} views of its own pairs, the style's Auto comes to {style:.1f} dB of your edits "
            f"(unedited {unedited:.1f} dB, Default's Auto {default:.1f} dB; higher is nearer)")
    print(line)
    log(line)
    if round(style, 1) < round(unedited, 1):  # as printed: "21.1 dB (unedited 21.1 dB)" warned too (QA)
        print(f"retouch train-style: warning: after {iterations} iterations the style takes its own photos further "
              "from your edits than leaving them unedited: it has not learnt them yet; train it longer (--resume "
              "with more --iterations), or check that each pair is one photo before and after", file=sys.stderr)


@contextmanager
def _run_lock(run: Path) -> Iterator[None]:
    """:func:`train.run_lock`, refusing as the CLI refuses."""
    from engine.cli import CliError

    from .retouch.train import RunBusy, run_lock

    try:
        with run_lock(run):
            yield
    except RunBusy as e:
        raise CliError(str(RunBusy(e.run, "retouch train-style", "--run"))) from None


@contextmanager
def _shielded() -> Iterator[None]:
    """Ctrl-C, a kill and a closed terminal ignored inside (in the main thread): the export takes a
    second or two. A closed terminal still sends what is printed to /dev/null (it would fail, EIO)."""
    from engine.interrupts import catch_stops, hung_up, restore

    old = catch_stops(lambda signum, _frame: hung_up(signum))
    try:
        yield
    finally:
        restore(old)


ITERATIONS, BATCH, VIEWS = 2000, 32, 64  # train-style's defaults (the width: train.SHIPPED_WIDTH)
MAX_WIDTH, MAX_BATCH = 64, 1024
#: Fewer finished photos (or pairs) than this get a note: the built-in style learnt from 11, and a
#: style from three learns those three's subjects as much as their look.
FEW_PHOTOS = 8
#: A style that stopped before this many iterations gets a note: short styles tried in the
#: thirty-third session's review added few steps, or repeated one filter as several cards.
SHORT_TRAINING = 500
#: How many of a paired style's training views its score at the end is taken on (about 5 s on 2 cores).
SCORE_VIEWS = 48
#: Pairs train as the shipped model did on its synthetic pairs (the Makefile's ``train``): the PSNR
#: gained towards each edit rewarded 5x, the policy's learning rate as the critic's, and the policy
#: free to change the measured exposure (a style has its own brightness). Its all-action update is
#: left out: it costs ~3x the time per iteration.
PAIRED = {"paired": True, "recon_weight": 5.0, "lr": 3e-4, "g_lr_mul": 1.0, "flag_pre_step": False}
PAIRED_STRENGTH = 1.0  # the Agent's default strength for a style learnt from pairs


def _check_counts(args: argparse.Namespace, min_views: int) -> None:
    from engine.cli import UsageError

    for opt, least in (("iterations", 1), ("batch", 1), ("width", 1), ("views", min_views)):
        value = getattr(args, opt)
        if value is not None and value < least:
            raise UsageError(f"--{opt} must be at least {least} (got {value})")
    # past these a run asks for more memory than a workstation has (width 100000: 1.3 TB), and died
    # with torch's traceback after minutes of preparing views, or woke the out-of-memory killer
    for opt, most, why in (("width", MAX_WIDTH, "a style 64 times the shipped model's 2.6 MB"),
                           ("batch", MAX_BATCH, "episodes an iteration")):
        value = getattr(args, opt)
        if value is not None and value > most:
            raise UsageError(f"--{opt} must be at most {most} ({why}; got {value})")


def _checkpoint_every(iterations: int) -> int:
    return max(10, min(200, iterations // 10))


def _fresh_config(args: argparse.Namespace, paired: bool = False) -> Config:
    """A new style: the shipped width, on the measured steps the app's Agent starts with; from
    pairs (``PAIRED``) or unpaired."""
    from .retouch.train import SHIPPED_WIDTH, Config, agent_pre_steps

    iterations = args.iterations or ITERATIONS
    return Config(iterations=iterations, batch=args.batch or BATCH, width=args.width or SHIPPED_WIDTH,
                  views_per_photo=args.views or VIEWS, checkpoint_every=_checkpoint_every(iterations),
                  **agent_pre_steps(), **(PAIRED if paired else {}))


def _resumed_config(args: argparse.Namespace, run: Path) -> Config:
    """The checkpoint's own configuration (its weights' width, its batch, views and measured steps;
    ``config.json`` mirrors it), with only ``--iterations`` extending it."""
    import dataclasses

    from engine.cli import CliError

    from .retouch.train import read_checkpoint_config

    path = run / "checkpoint.pt"
    if not path.is_file():
        from engine.styles import trainings_from

        found = [] if args.output is not None or args.run is not None else trainings_from(args.inputs, args.targets)
        if len(found) == 1:  # renamed since (the run moves with its style): say which, not "start again"
            raise CliError(f"--resume: no training of a style named {run.name.removeprefix('style-')!r}; the "
                           f"training from these folders is the style {found[0].stem!r} now: continue it with "
                           f"-o {shlex.quote(str(found[0]))}")
        if found:  # one of them the style renamed: all said, the first alone sent one to another style
            each = "; ".join(f"{f.stem!r} (-o {shlex.quote(str(f))})" for f in found)
            raise CliError(f"--resume: no training of a style named {run.name.removeprefix('style-')!r}; "
                           f"{len(found)} styles were trained from these folders: {each}; continue one with its -o")
        raise CliError(f"--resume: no checkpoint in {run}; start without --resume")
    try:
        cfg, it = read_checkpoint_config(path)
    except ValueError as e:
        raise CliError(f"--resume: {e}") from None
    iterations = args.iterations or cfg.iterations
    if it >= iterations:
        raise CliError(f"--resume: the run in {run} is already at iteration {it}"
                       + (f", past --iterations {iterations}" if it > iterations else "")
                       + f"; give --iterations above {it} to train it further")
    ignored = [f"--{opt} {given} (the run's is {kept})"
               for opt, given, kept in (("width", args.width, cfg.width), ("batch", args.batch, cfg.batch),
                                        ("views", args.views, cfg.views_per_photo))
               if given is not None and given != kept]
    if ignored:
        print(f"retouch train-style: note: resuming with the run's own settings: ignoring {', '.join(ignored)}",
              file=sys.stderr)
    return dataclasses.replace(cfg, iterations=iterations, checkpoint_every=_checkpoint_every(iterations))


def _continue_command(args: argparse.Namespace, out: Path, run: Path, cfg: Config) -> str:
    """The command that resumes this run where it stopped, as typed in a shell."""
    return shlex.join(["retouch", "train-style", "--inputs", str(args.inputs), "--targets", str(args.targets),
                       "-o", str(out), "--run", str(run), "--iterations", str(cfg.iterations),
                       "--width", str(cfg.width), "--batch", str(cfg.batch), "--views", str(cfg.views_per_photo),
                       "--resume"])


#: Below this the fitted recipe is said to be a rough match (the README's fit figures: 33-47 dB).
ROUGH_FIT_DB = 28.0
#: Pairs fitted from two folders at most, spread over them: each adds its decode and alignment
#: (seconds), and a look is pinned down by a few varied photos.
MAX_FOLDER_PAIRS = 8


def _folder_pairs(before: Path, after: Path) -> list[tuple[Path, Path]]:
    """The pairs by file name of two folders, at most ``MAX_FOLDER_PAIRS`` spread evenly over them."""
    from engine.batch import pair_by_name
    from engine.cli import CliError
    from engine.folders import scan_folder

    if os.path.realpath(before) == os.path.realpath(after):  # pair_by_name pairs nothing with itself
        raise CliError(f"{before} is given as both BEFORE and AFTER; give the folder of finished photos as AFTER")
    try:
        pairs = pair_by_name(scan_folder(before), scan_folder(after))
    except OSError as e:
        raise CliError(f"cannot list {e.filename}: {e.strerror}") from None
    if not pairs:
        raise CliError(f"no photo in {after} has the name of one in {before}: fit pairs them by file name "
                       "(IMG_0042.CR2 and IMG_0042.jpg)")
    if len(pairs) > MAX_FOLDER_PAIRS:
        pick = [pairs[round(i * (len(pairs) - 1) / (MAX_FOLDER_PAIRS - 1))] for i in range(MAX_FOLDER_PAIRS)]
        print(f"{len(pairs)} photos pair by name: fitting {MAX_FOLDER_PAIRS} of them, spread over the folders",
              file=sys.stderr, flush=True)
        return pick
    return pairs


def cmd_fit(args: argparse.Namespace) -> int:
    from engine.align import find_crop, fit_grid
    from engine.auto_cli import describe
    from engine.cli import CliError, UsageError, _check_output, guarded
    from engine.color import srgb_encode
    from engine.io import ImageError, load_photo
    from engine.io.image import opacity
    from engine.render import resize_linear

    from .retouch import fit as fit_mod

    def load_pair(before_path: Path, after_path: Path) -> fit_mod.Pair:
        before = load_photo(before_path).linear
        after_linear = load_photo(after_path).linear
        crop = find_crop(before, after_linear)  # pixel i of one must be pixel i of the other
        if crop is None:
            b, a = before_path.name, after_path.name
            if a == b:  # "x.jpg does not show x.jpg": which is which, by its folder
                b, a = (f"{p.parent.name}/{p.name}" for p in (before_path, after_path))
            raise CliError(f"{a} does not show {b}: fit needs a finished version of the same photo (any size, "
                           "cropped or not, not rotated, not squashed far out of its proportions)")
        if crop.stretched:  # on one grid in the fit (fit._one_grid resizes width and height apart)
            print(f"{after_path.name} is the whole of {before_path.name} resized to other proportions "
                  f"({before.shape[1]}x{before.shape[0]} -> {after_linear.shape[1]}x{after_linear.shape[0]}): "
                  "fitting on it as it is", file=sys.stderr, flush=True)
        elif not crop.whole(before.shape[1], before.shape[0]):
            print(f"{after_path.name} is a crop of {before_path.name} (x {crop.left}-{crop.right}, "
                  f"y {crop.top}-{crop.bottom}): fitting on that part", file=sys.stderr, flush=True)
            # the crop to a fraction of a pixel (whole pixels leave an edge error larger than a
            # saturation step), on the grid it was aligned on
            box = crop.box or (crop.left, crop.top, crop.right, crop.bottom)
            before = resize_linear(before, *fit_grid(box, before.shape, after_linear.shape), box=box)
        after = srgb_encode(after_linear)
        alpha = opacity(after_path)
        if alpha is not None and alpha.shape != after.shape[:2]:
            alpha = None  # not the decoded grid (opacity reads as the decoder does; a bug if so): as opaque
        if alpha is not None:
            print(f"{after_path.name}: its transparent pixels ({float((alpha < 1).mean()):.0%}) are left out of "
                  "the fit", file=sys.stderr, flush=True)
        try:  # only the pixels compared are kept: a dozen 24 MP pairs would hold gigabytes
            return (*fit_mod.sample_pair(before, after, alpha), None)
        except fit_mod.FitError as e:
            raise CliError(f"{after_path.name} is {e}") from None

    @guarded
    def run(args: argparse.Namespace) -> int:
        if args.iterations < 1:
            raise UsageError(f"--iterations must be at least 1 (got {args.iterations})")
        folders = args.before.is_dir() or args.after.is_dir()
        if folders and (args.more or not (args.before.is_dir() and args.after.is_dir())):
            raise UsageError("give two folders, BEFORE AFTER, or photos in pairs")
        if len(args.more) % 2:
            raise UsageError(f"give photos in pairs, BEFORE AFTER: {args.more[-1].name} has no AFTER")
        if folders:
            names = _folder_pairs(args.before, args.after)
        else:
            paths = [args.before, args.after, *args.more]
            names = list(zip(paths[::2], paths[1::2]))
        for b, a in names:
            if b.absolute() == a.absolute():
                raise UsageError(f"{a} is given as both BEFORE and AFTER of one pair")
        _check_output(args.output, *(p for pair in names for p in pair), text="recipe")  # before the fit: seconds
        if len(names) == 1:
            pairs = [load_pair(b, a) for b, a in names]
        else:  # a pair that cannot be read or does not line up is skipped and said, as train-style does
            # (in folders, or photos in pairs: one wrong photo among five sank the look of the other four)
            pairs, kept = [], []
            for b, a in names:
                try:
                    pairs.append(load_pair(b, a))
                    kept.append((b, a))
                except (CliError, ImageError) as e:
                    why = str(e)
                    for p in (b, a):  # the file's name once, as the pair names it ("a.jpg: a.jpg: not an image")
                        why = why.removeprefix(f"{p}: ").removeprefix(f"{p.name}: ")
                    print(f"skipped {b.name} -> {a.name}: {why}", file=sys.stderr, flush=True)
            if not pairs:
                raise CliError(f"none of the {len(names)} pairs could be fitted")
            names = kept
        t = time.perf_counter()
        try:
            res = fit_mod.fit_pairs(pairs, iters=args.iterations, log=lambda line: print(
                f"  {time.perf_counter() - t:5.1f} s  {line}", file=sys.stderr, flush=True))
        except KeyboardInterrupt:
            print("retouch fit: cancelled: nothing written", file=sys.stderr)
            return 130
        except fit_mod.FitError as e:
            raise CliError(f"{names[e.pair][1].name} is {e}") from None
        res.recipe.save(args.output)
        if len(res.recipe):
            print(f"{len(res.recipe)} step{'s' if len(res.recipe) > 1 else ''}:\n{describe(res.recipe)}")
        else:
            print("no steps: the two already match")
        print(f"remaining error: RMSE {res.rmse:.4f} ({res.psnr:.1f} dB PSNR; before fitting "
              f"{res.start_psnr:.1f} dB) in {time.perf_counter() - t:.1f} s -> {args.output}")
        if len(pairs) > 1:
            for (b, a), rmse in zip(names, res.pair_rmse):
                print(f"  {b.name} -> {a.name}: {res.db(rmse):.1f} dB")
        rough = [a for (_, a), rmse in zip(names, res.pair_rmse) if res.db(rmse) < ROUGH_FIT_DB]
        if rough:  # a recipe of the true look lands at 33-47 dB, cropped and resized too
            # a small JPEG export at quality 60 scored 26 dB against the true recipe itself (QA)
            jpeg = any(a.suffix.lower() in (".jpg", ".jpeg") for a in rough)
            own = ", or a look of its own" if len(names) > 1 else ""
            print(f"rough match: {', '.join(a.name for a in rough)} may hold what these filters cannot do (a "
                  f"vignette, a local or selective edit, retouching{own})"
                  f"{', or lose detail to strong JPEG compression' if jpeg else ''}; the recipe is the closest "
                  "global look")
        return 0

    return run(args)
