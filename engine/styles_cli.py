"""``retouch styles``: list, rename, delete and import the photographer's styles (engine.styles)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .cli import CliError, guarded


def add_styles_subcommand(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("styles", usage="retouch styles [-h] [ACTION ...]",
                       help="list, rename, delete, import or clean up your styles (Learn my style's models)",
                       description="Your styles, as `retouch train-style` and the app's Learn my style write "
                                   "them. With no action: list them. A style's training run (checkpoint, "
                                   "cached views) is renamed and deleted with it.")
    acts = p.add_subparsers(dest="action", metavar="ACTION")
    acts.add_parser("list", help="list them (the default)")
    r = acts.add_parser("rename", help="rename a style (it can still be trained further)")
    r.add_argument("name", metavar="NAME")
    r.add_argument("new_name", metavar="NEW_NAME")
    d = acts.add_parser("delete", help="delete a style and its training files")
    d.add_argument("name", metavar="NAME")
    i = acts.add_parser("import", help="copy a style file (someone else's) into your styles")
    i.add_argument("file", type=Path, metavar="STYLE.onnx")
    i.add_argument("--name", default=None, help="its name here (default: the file's)")
    acts.add_parser("clean", help="remove training files no style can continue (their style is gone, "
                                  "or they never reached a checkpoint)")
    p.set_defaults(func=guarded(cmd_styles))


def _style(name: str) -> Path:
    from .runners.agent import user_styles_dir

    path = user_styles_dir() / f"{name}.onnx"
    if not path.is_file():
        mine = sorted(p.stem for p in user_styles_dir().glob("*.onnx")) if user_styles_dir().is_dir() else []
        raise CliError(f"no style {name!r} (yours: {', '.join(mine) or 'none yet'})")
    return path


def _about(path: Path) -> str:
    """What a style's own metadata says: how long it trained and the strength Auto applies it at;
    or why it cannot be used."""
    from .runners import ModelError
    from .runners.agent import Agent

    try:
        agent = Agent(path, prefer_gpu=False, threads=1)
    except (ModelError, OSError) as e:
        return f"unusable: {e}"
    its = agent.meta.get("iterations")
    return (f"{its} iterations, " if its is not None else "") + f"strength {agent.strength:g}"


def cmd_styles(args: argparse.Namespace) -> int:
    from . import styles
    from .runners.agent import available_models, style_run_dir, user_styles_dir

    try:
        if args.action == "rename":
            new = styles.rename_style(_style(args.name), args.new_name)
            print(f"renamed {args.name!r} to {new.stem!r}")
        elif args.action == "delete":
            left = styles.delete_style(_style(args.name))
            print(f"deleted {args.name!r} and its training files" + (
                f", but {len(left)} could not be removed: they are in {style_run_dir(args.name)}" if left else ""))
        elif args.action == "clean":
            removed, busy = styles.clean_runs()
            for run, size in removed:
                print(f"removed {run} ({size / 1e6:.0f} MB)")
            for run in busy:
                print(f"kept {run}: a training is using it")
            if not removed and not busy:
                print("no training files without a style")
        elif args.action == "import":
            try:
                new = styles.import_style(args.file, args.name)
            except styles.StyleError as e:
                if args.name is not None or "name" not in str(e):
                    raise
                raise styles.StyleError(f"{e}; import it under another name with --name") from None
            print(f"imported {args.file.name} as {new.stem!r}: use it with retouch auto --model {new.stem!r}")
        else:
            found = [p for p in available_models() if p.parent == user_styles_dir()]
            if not found:
                print(f"no styles yet in {user_styles_dir()} (make one with retouch train-style)")
            for p in found:
                try:
                    st = p.stat()
                except OSError as e:  # gone meanwhile: the others are still listed
                    print(f"{p.stem}  unusable: {e.strerror}")
                    continue
                run = style_run_dir(p.stem)
                can = (run / "checkpoint.pt").exists() and styles.continue_problem(run, p) is None
                more = "  (can be trained further)" if can else ""
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime))
                print(f"{p.stem}  {st.st_size / 1e6:.1f} MB  {when}  {_about(p)}{more}")
            orphans = styles.orphan_runs()
            if orphans:
                total = sum(size for _, size in orphans)
                print(f"training files without a style: {len(orphans)} in {orphans[0][0].parent}, "
                      f"{total / 1e6:.0f} MB (remove them with `retouch styles clean`)")
    except styles.StyleError as e:
        raise CliError(str(e)) from None
    return 0
