"""``retouch``: the one command line entry point (``[project.scripts]``).

``retouch [PATH]`` opens the desktop app; ``retouch COMMAND ...`` runs a subcommand: the engine's
(``apply``, ``info``, ``export-lut``, ``batch``, ... from :mod:`engine.cli`) and the training
ones (``train-style``, ``fit`` from :mod:`models.cli`, which import torch only when they run).
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from pathlib import Path

from engine import cli as engine_cli

GUI_HELP = "open the desktop app on PATH (a photo or a folder); the default when no command is given"


def _add_models(sub: argparse._SubParsersAction) -> None:
    """Training subcommands; without the models package (or torch) they explain what is missing."""
    try:
        from models.cli import add_subcommands
    except ImportError as e:
        for name, text in (("train-style", "learn a style model (needs the training extras)"),
                           ("fit", "fit a recipe to a before/after pair (needs the training extras)")):
            p = sub.add_parser(name, help=text, description=text)
            p.set_defaults(func=lambda _a, n=name, err=e: _missing(n, err))
        return
    add_subcommands(sub)


def _missing(name: str, err: Exception) -> int:
    print(f"retouch {name}: error: the training components are not installed ({err}); "
          "install them with: pip install 'retouch[train]'", file=sys.stderr)
    return 1


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="retouch",
        description="Retouch: a RAW photo retoucher whose learned agent suggests editable filter steps.",
        epilog="Run 'retouch PATH' (or just 'retouch') for the desktop app, "
               "'retouch COMMAND --help' for a command's options.")
    ap.add_argument("--version", action="version", version=f"retouch {_version()}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("open", help=GUI_HELP, description=GUI_HELP)
    gui.add_argument("path", nargs="?", help="photo or folder to open")
    gui.set_defaults(func=lambda a: _open_path(gui, a.path))
    engine_cli.add_subcommands(sub)
    _add_models(sub)
    return ap


def _open_path(parser: argparse.ArgumentParser, path: str | None) -> int:
    if path is not None and not Path(path).exists():
        parser.error(f"{path} does not exist")  # exit 2, as for 'retouch PATH'
    return open_gui([path] if path else [])


def open_gui(argv: list[str]) -> int:
    why = _no_display()
    if why:
        print(f"retouch: error: {why}", file=sys.stderr)
        return 1
    try:
        from app.main import main as gui_main
    except ImportError as e:
        print(f"retouch: error: the desktop app is not available ({e}); install it with: "
              "pip install 'retouch[app]'", file=sys.stderr)
        return 1
    return int(gui_main(argv) or 0)


def _no_display() -> str | None:
    """Why the app cannot open a window here (Qt would abort with its own plugin messages), else None."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None  # a platform chosen by hand (offscreen, vnc...) is taken as meant
    display = os.environ.get("DISPLAY", "")
    if os.environ.get("WAYLAND_DISPLAY") or (display and _x_server_listens(display)):
        return None
    if display:  # Qt aborted (exit 134) blaming a missing xcb-cursor library
        return (f"no X server answers on DISPLAY {display} (it stopped, or the variable is stale); start the app "
                "in a session with a display, or under a virtual one: xvfb-run -a retouch")
    return ("no display to open the app on (DISPLAY and WAYLAND_DISPLAY are unset: an SSH session without -X?); "
            "the commands work without one: retouch --help")


def _x_server_listens(display: str) -> bool:
    """Whether a local X server listens on ``display`` (":99"): its socket, in the file system or
    the abstract namespace. Another machine's display (an SSH forward, "localhost:10.0") is
    taken as answering."""
    import re

    local = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", display)
    if local is None:
        return True
    sock = f"/tmp/.X11-unix/X{local.group(1)}"
    if os.path.exists(sock):
        return True
    try:
        with open("/proc/net/unix", encoding="ascii", errors="replace") as f:
            if any(line.rstrip().endswith("@" + sock) for line in f):
                return True
    except OSError:
        return True  # cannot tell: Qt says what it finds
    import socket  # libxcb's own fallback for ":N": TCP on this machine (VcXsrv under WSL, Xvfb -listen tcp)

    try:
        with socket.create_connection(("127.0.0.1", 6000 + int(local.group(1))), timeout=0.2):
            return True
    except OSError:
        return False


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Each command's own parser, by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("retouch")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:  # before a command started (its imports): no traceback either
        print("retouch: cancelled", file=sys.stderr)
        return 130


def _main(argv: list[str]) -> int:
    parser = build_parser()
    # `retouch` and `retouch PATH` open the app; anything starting with '-' or naming a command is CLI.
    commands = list(_subcommands(parser))
    if not argv or (not argv[0].startswith("-") and argv[0] not in commands):
        if argv and not Path(argv[0]).exists():  # a mistyped command must not open the app on nothing
            close = difflib.get_close_matches(argv[0], commands, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f" (commands: {', '.join(commands)})"
            print(f"retouch: error: {argv[0]!r} is neither a command nor a file or folder{hint}", file=sys.stderr)
            return 2
        return open_gui(argv)
    args, extra = parser.parse_known_args(argv)
    if extra:  # said with the command's own usage, not the top level's
        (_subcommands(parser).get(args.command) or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    from contextlib import nullcontext

    from engine.interrupts import quiet_when_gone, stopping_as_ctrl_c

    # the app closes on these as its close button does (app.main)
    try:
        with stopping_as_ctrl_c() if args.command != "open" else nullcontext(), quiet_when_gone():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"retouch {args.command}: cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
