"""``retouch batch IN_DIR OUT_DIR``: export a folder, locally or on a Dask cluster.

Registered by :mod:`engine.cli` through :func:`add_batch_subcommand`; :func:`main` runs it alone
(``python -m engine.batch_cli``). Exit status: 0 all good, 1 some photos failed, 2 bad usage,
130 cancelled with Ctrl-C (finished outputs are kept, no partial files are left).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .batch_names import FIELDS
from .durations import hms
from .formats import DEFAULT_PPI, FORMATS, SHARPEN_LEVELS, ppi_arg
from .interrupts import catch_stops, hung_up, restore

if TYPE_CHECKING:  # the batch engine (dask, rich) loads only when a batch runs
    from .batch import ExportSettings, Plan

LOG_EVERY_S = 10.0  # not on a terminal: a progress line this often, for logs and CI

EPILOG = (
    "name template fields: " + "; ".join(f"{{{k}}} = {v}" for k, v in FIELDS.items())
    + ". '/' makes sub-folders inside OUT_DIR; nothing may leave it."
)


def add_batch_subcommand(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("batch", help="export a folder of photos (resumable, parallel, cluster-ready)",
                              description="Export every photo of a folder, locally or on a Dask cluster. "
                              "Resumable (finished outputs are skipped), parallel, never writes to originals.",
                              epilog=EPILOG)
    configure_parser(p)
    return p


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("in_dir", type=Path, metavar="IN_DIR", help="folder of photos (only read)")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="where the exports go (created if needed)")
    p.add_argument("--recursive", action="store_true", help="include sub-folders (mirrored in OUT_DIR)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--recipe", type=Path, metavar="R.json", help="apply this recipe to every photo")
    src.add_argument("--auto", action="store_true", help="the learned Auto recipe for every photo")
    src.add_argument("--sidecar", action="store_true",
                     help="each photo's own sidecar, Auto where there is none (the default)")
    from .auto_cli import strength_arg
    from .runners.agent import WHITE_BALANCES

    p.add_argument("--model", metavar="M.onnx|STYLE",
                   help="Auto's model file or style name (default: the shipped model)")
    p.add_argument("--strength", type=strength_arg, metavar="A",
                   help="how far Auto's learned steps go, 0-2 (default: the style's own, as in the app "
                        "and retouch auto)")
    p.add_argument("--white-balance", choices=WHITE_BALANCES, default="learned",
                   help="Auto's measured white balance: learned (default), max-rgb, or off (as shot)")
    p.add_argument("--format", dest="fmt", choices=list(FORMATS), default="jpeg")
    p.add_argument("--quality", type=int, default=92, help="JPEG quality 1-100 (default 92, as apply and auto)")
    p.add_argument("--long-edge", type=int, metavar="N", help="downscale so the long edge is at most N px")
    p.add_argument("--sharpen", choices=list(SHARPEN_LEVELS), default="none",
                   help="output sharpening for screens, after any downscale (default none)")
    p.add_argument("--ppi", type=ppi_arg, default=DEFAULT_PPI, metavar="N",
                   help=f"print resolution stated in the file, pixels per inch (default {DEFAULT_PPI}); "
                        "it sets a print's size, never the pixels")
    p.add_argument("--name", default="{stem}", metavar="TEMPLATE", help="output name (default '{stem}')")
    p.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: by cores and memory)")
    ex = p.add_mutually_exclusive_group()
    ex.add_argument("--skip-existing", dest="overwrite", action="store_false",
                    help="keep outputs that already exist, unless the photo or its sidecar changed since: "
                         "a re-run resumes (the default)")
    ex.add_argument("--overwrite", dest="overwrite", action="store_true",
                    help="replace every existing output of Retouch's")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on this Dask scheduler's workers")
    p.set_defaults(func=run_batch, overwrite=False)


def _error(msg: str, status: int = 2) -> int:
    """One line on stderr. As every command: 2 for an option that cannot work, 1 for a file,
    folder or model that cannot be used (``engine.cli``)."""
    print(f"retouch batch: error: {msg}", file=sys.stderr)
    return status


def run_batch(args: argparse.Namespace) -> int:
    from .batch import ExportSettings, TemplateError, plan_jobs, prepare_output, steps_now
    from .recipe import Recipe, RecipeError

    if not 1 <= args.quality <= 100:
        return _error("--quality must be between 1 and 100")
    if args.long_edge is not None and args.long_edge < 16:
        return _error("--long-edge must be at least 16")
    if args.jobs is not None and args.jobs < 1:
        return _error("--jobs must be at least 1")
    if not args.in_dir.is_dir():
        return _error(f"{args.in_dir} is not a folder", 1)
    recipe = None
    if args.recipe:
        try:
            recipe = Recipe.load(args.recipe).to_json()
        except RecipeError as e:
            return _error(str(e), 1)
    source = "recipe" if recipe else "auto" if args.auto else "sidecar"
    model = None
    if args.model:
        from .runners import ModelError
        from .runners.agent import Agent

        try:  # checked now, not once per photo: the file is there and is a policy the agent can run
            model = str(Agent(args.model, meter=False, constancy=False).path.absolute())
        except (FileNotFoundError, ModelError) as e:
            return _error(str(e), 1)
    settings = ExportSettings(fmt=args.fmt, quality=args.quality, long_edge=args.long_edge, sharpen=args.sharpen,
                              ppi=args.ppi, source=source,
                              recipe=recipe, overwrite=args.overwrite, model=model, strength=args.strength,
                              white_balance=args.white_balance,
                              recipe_file=str(args.recipe.absolute()) if args.recipe else None)
    in_dir, out_dir = args.in_dir.absolute(), args.out_dir.absolute()
    try:
        jobs = plan_jobs(in_dir, out_dir, settings, template=args.name, recursive=args.recursive)
    except (TemplateError, ValueError) as e:
        return _error(str(e))
    except OSError as e:
        return _error(str(e), 1)
    steps_now(jobs)  # each sidecar as it is now: one saved while the batch runs is not half taken
    if jobs.left_out:
        print(f"Left out {_count(len(jobs.left_out), 'image')} that Retouch exported before (first: "
              f"{jobs.left_out[0].relative_to(in_dir)})", file=sys.stderr)
    for folder in jobs.unreadable:  # its photos are not in the plan: said, and the batch fails
        print(_shown(f"Cannot read the sub-folder {folder.relative_to(in_dir)} (check its permissions): "
                     "its photos are left out"), file=sys.stderr)
    if not jobs:
        hint = " (use --recursive for sub-folders)" if not args.recursive and _has_folders(in_dir) else ""
        print(f"No {'other ' if jobs.left_out else ''}photos found in {in_dir}{hint}", file=sys.stderr)
        return 1 if jobs.unreadable else 0
    try:
        created = prepare_output(out_dir)
    except OSError as e:
        return _error(str(e), 1)
    try:
        return _run(jobs, in_dir, out_dir, args, settings)
    except RuntimeError as e:  # engine.batch_dask.ClusterError: nothing could run
        if created and not any(out_dir.iterdir()):
            out_dir.rmdir()
        return _error(str(e), 1)


def _run(jobs: Plan, in_dir: Path, out_dir: Path, args: argparse.Namespace, s: ExportSettings) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .batch import default_workers, export_all, renamed_text

    console = Console(stderr=True)
    workers = args.jobs or default_workers(len(jobs), jobs)
    where = f"cluster {args.scheduler}" if args.scheduler else f"{workers} worker process(es)"
    console.print(_shown(f"Exporting {len(jobs)} photo(s) from {in_dir} to {out_dir} on {where}"), soft_wrap=True)
    if s.source != "recipe" and (s.model or s.strength is not None or s.white_balance != "learned"):
        model = Path(s.model).stem if s.model else "the shipped model"
        # a style may carry its own strength (one learnt from pairs says 1), which the workers use
        own = "the style's own strength" if s.model else "Auto's strength"
        strength = own if s.strength is None else f"strength {s.strength:g}"
        console.print(f"Auto: {model}, {strength}, white balance {s.white_balance}", soft_wrap=True)
    cancel = threading.Event()
    results = []
    cancelled = False
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TextColumn("ETA {task.fields[eta]}"), TimeElapsedColumn())

    def on_ctrl_c(signum: int, _frame: object) -> None:
        """The first Ctrl-C only asks to cancel, whatever the main thread was doing (a
        KeyboardInterrupt raised inside the export loop would lose the running photos' results
        while their files still appear); a second one raises KeyboardInterrupt, as every Ctrl-C
        did before."""
        hung_up(signum)  # its terminal gone: the summary goes nowhere rather than failing (EIO)
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        console.print("Cancelling: letting running photos finish, dropping the rest…")

    # a kill (SIGTERM) or a closed terminal (SIGHUP) cancels as Ctrl-C does: without it the batch
    # died with no summary, its workers left behind (not under nohup, which ignores SIGHUP)
    previous = catch_stops(on_ctrl_c)
    # a log gets the lines below, not the bar's last frame
    with Progress(*columns, console=console, transient=False, disable=not console.is_terminal) as bar:
        task = bar.add_task("export", total=len(jobs), rate="", eta="-")
        gen = export_all(jobs, workers=workers, cancel=cancel, scheduler=args.scheduler)
        said = time.monotonic()
        try:
            for p in gen:
                results.append(p.result)
                eta = "-" if p.eta is None else hms(p.eta)
                bar.update(task, completed=p.done, rate=f"{p.rate * 60:.1f} photos/min", eta=eta,
                           description=_short(p.result.src.name))
                if not console.is_terminal and time.monotonic() - said >= LOG_EVERY_S:  # a log has no bar
                    said = time.monotonic()
                    console.print(f"{p.done}/{len(jobs)} photos, {p.rate * 60:.1f} photos/min, ETA {eta}",
                                  soft_wrap=True)
        except KeyboardInterrupt:
            cancelled = True
            if not cancel.is_set():  # not said yet: the handler is only installed on the main thread
                cancel.set()
                console.print("Cancelling: letting running photos finish, dropping the rest…")
            for p in gen:
                results.append(p.result)
        finally:
            gen.close()
            restore(previous)
    cancelled = cancelled or cancel.is_set()
    fatal = next((r for r in results if r.fatal), None)
    if fatal is not None:
        console.print(f"[red]Stopped:[/red] {_shown(fatal.reason)} (no later photo could be written)")
    _summary(console, results, len(jobs), in_dir, "stopped" if fatal is not None else "cancelled" if cancelled else "")
    renamed = renamed_text(jobs, {r.src: r.dst for r in results if r.status == "done"})
    if renamed:  # the photographer looks for the name the template gives
        console.print(_shown(renamed), soft_wrap=True)  # file names are copied from it: never broken mid-name
    if cancelled and fatal is None:
        return 130
    return 1 if jobs.unreadable or any(r.status == "failed" for r in results) else 0


def _summary(console, results: list, total: int, in_dir: Path, ended: str) -> None:
    """The table of counts; ``ended``: "cancelled" (Ctrl-C), "stopped" (a full disk) or "". Not on
    a terminal (a log, a pipe), plain lines instead: one per failed photo, its path whole (a table
    80 columns wide cut the names and wrapped the reasons)."""
    from rich.table import Table

    counts = {s: sum(r.status == s for r in results) for s in ("done", "skipped", "failed")}
    failed = sorted((r for r in results if r.status == "failed"), key=lambda r: r.src)
    if not console.is_terminal:
        console.print(f"Batch export{f' ({ended})' if ended else ''}: {counts['done']} done, {counts['skipped']} "
                      f"skipped, {counts['failed']} failed, {total - len(results)} not started", soft_wrap=True)
        _timings(console, results)
        if failed:
            console.print("Failed photos:", soft_wrap=True)
            for r in failed:
                console.print(_shown(f"  {_rel(r.src, in_dir)}: {r.reason}"), soft_wrap=True, markup=False,
                              highlight=False)
        return
    t = Table(title="Batch export" + (f" ({ended})" if ended else ""))
    for col in ("done", "skipped", "failed", "not started"):
        t.add_column(col, justify="right")
    t.add_row(str(counts["done"]), str(counts["skipped"]), str(counts["failed"]), str(total - len(results)))
    console.print(t)
    _timings(console, results)
    if failed:
        ft = Table(title="Failed photos")
        ft.add_column("photo")
        ft.add_column("reason")
        for r in failed:
            ft.add_row(_shown(_rel(r.src, in_dir)), _shown(r.reason))
        console.print(ft)


def _timings(console, results: list) -> None:
    timed = [r for r in results if r.status == "done" and r.stages]
    if timed:
        names = [k for k in ("decode", "auto", "render", "write") if any(k in r.stages for r in timed)]
        avg = ", ".join(f"{k} {sum(r.stages.get(k, 0.0) for r in timed) / len(timed):.2f} s" for k in names)
        console.print(f"Per photo (one worker): {avg}")


def _rel(p: Path, root: Path) -> str:
    try:
        return str(p.relative_to(root))
    except ValueError:
        return str(p)


def _shown(text: str) -> str:
    """``text`` printable: a file name that is not UTF-8 (its bytes kept as surrogates) made rich
    raise UnicodeEncodeError, and the batch stop, when it was shown."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _short(name: str, n: int = 28) -> str:
    name = _shown(name)
    return name if len(name) <= n else name[: n - 1] + "…"


def _has_folders(folder: Path) -> bool:
    try:
        return any(p.is_dir() and not p.name.startswith(".") for p in folder.iterdir())
    except OSError:
        return False


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="retouch batch", epilog=EPILOG)
    configure_parser(p)
    return run_batch(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
