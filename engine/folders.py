"""Photos and folders on disk, by name alone (no file is opened): what the app's filmstrip and
Folders menu list, and what a batch exports.

The app lists the folder it opens on its GUI thread (27 ms for 3000 photos on a local disk, 2
cores); the Folders menu lists the sub-folders' names there (one listing) and counts their photos
in the background (20 ms for 300 sub-folders locally, seconds on a slow network share)."""

from __future__ import annotations

import os
import re
from pathlib import Path

#: the Folders menu lists at most this many sub-folders (each is listed to count its photos; a
#: folder of thousands of sub-folders is not a shoot)
MAX_SUBFOLDERS = 300


def natural_key(name: str) -> tuple[list, list, str]:
    """Sort key that orders file names as people count: IMG_9 before IMG_10 (as file managers and
    Lightroom do), the name before its extension (IMG_1 before IMG_1x); runs of digits compare by
    value, the rest case-insensitively, then the name itself. The parts alternate text and number,
    so any two keys compare without a type clash."""
    stem, ext = os.path.splitext(name)
    return _parts(stem), _parts(ext), name


def _parts(text: str) -> list:
    return [int(t) if i % 2 else t.casefold() for i, t in enumerate(re.split(r"(\d+)", text))]


def list_photos(folder: Path) -> list[Path]:
    """The photos directly in ``folder`` (regular files, by extension), in natural order; none
    where it cannot be listed (:func:`folder_error` says why)."""
    try:
        return sorted(_photos_in(folder), key=lambda p: natural_key(p.name))
    except OSError:
        return []


def _photos_in(folder: Path) -> list[Path]:
    """The photos directly in ``folder``, by extension (no file is opened), in no order; OSError
    where it cannot be listed. Entries that only look like photos (a dangling link, a FIFO) are
    kept, to be shown as photos that cannot be opened, as a batch reports them; a folder is not."""
    from .io import is_supported

    with os.scandir(folder) as it:
        return [Path(e.path) for e in it if not e.name.startswith(".") and is_supported(e.name) and not _is_dir(e)]


def folder_error(folder: Path) -> str | None:
    """Why ``folder`` cannot be listed (permission denied, gone...); None where it can."""
    try:
        with os.scandir(folder):
            return None
    except OSError as e:
        return e.strerror or type(e).__name__


def sub_folder_names(folder: Path) -> list[Path]:
    """The folder's visible sub-folders, in natural order, at most :data:`MAX_SUBFOLDERS`: one
    listing, so quick where :func:`photo_count` of each is not (a network share)."""
    try:
        with os.scandir(folder) as it:
            dirs = [Path(e.path) for e in it if not e.name.startswith(".") and _is_dir(e)]
    except OSError:
        return []
    return sorted(dirs, key=lambda p: natural_key(p.name))[:MAX_SUBFOLDERS]


def photo_count(folder: Path) -> int | None:
    """How many photos ``folder`` holds directly (by extension); None where it cannot be read
    (opening it says why: :func:`folder_error`)."""
    try:
        return len(_photos_in(folder))
    except OSError:
        return None


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows a link; a dangling one is no folder
    except OSError:
        return False


def scan_folder(in_dir: Path, *, recursive: bool = False, exclude: Path | None = None,
                unreadable: list[Path] | None = None) -> list[Path]:
    """Photos in ``in_dir`` by extension, sorted. Hidden names (our temp files among them) are
    ignored; ``exclude`` (OUT_DIR when it sits inside IN_DIR) is never descended into.

    A link to a folder is followed (a card's folder linked into the shoot, as the app's Folders
    menu lists it), once every real folder of the tree is read, so that a real folder keeps its own
    name in the outputs; each real folder is read once, and a link to a folder holding IN_DIR (back
    up the tree) is not followed at all: it would export the parent's photos and their siblings.
    Entries that only look like photos (a folder or FIFO named ``x.NEF``) are kept, to be reported
    as failed; a sub-folder that cannot be read goes to ``unreadable``."""
    from .io import is_supported

    root = os.path.realpath(in_dir)
    seen = {root} | ({os.path.realpath(exclude)} if exclude is not None else set())
    found: list[Path] = []
    links: list[Path] = []  # folder links met, followed after the real folders
    stack = [in_dir]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            if folder is in_dir:
                raise
            if unreadable is not None:
                unreadable.append(folder)
            entries = []
        subs = []
        for e in entries:
            if e.name.startswith("."):
                continue
            p = Path(e.path)
            if recursive and _is_dir(e):
                if e.is_symlink():
                    links.append(p)
                elif (real := os.path.realpath(p)) not in seen:
                    seen.add(real)
                    subs.append(p)
                continue
            if is_supported(p):
                found.append(p)
        stack.extend(reversed(subs))
        while not stack and links:  # the real folders are read: the next link not read yet
            link = links.pop(0)
            real = os.path.realpath(link)
            if real not in seen and os.path.commonpath([real, root]) != real:
                seen.add(real)
                stack.append(link)
    return sorted(found)
