"""Training arrays: many whole-frame and cropped views of each photo, squeezed to 80x80.

The agent's observation is :func:`engine.render.make_proxy`: the *whole* frame squeezed to
64x64 by area averaging (aspect not kept). Training views therefore keep that squeeze: one view
is the whole frame, the others are random sub-rectangles (each side 40-100 % of the photo,
independent aspect), all area-resized in linear light to 80x80; a batch then takes a random
64x64 crop and a random flip, as the paper does (exposure.md §4).

Arrays are cached as ``.npy`` (float32, ``(N, 80, 80, 3)``) keyed by the source files, so a
second run starts in a second.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.align import find_crop
from engine.atomic import atomic_path
from engine.folders import scan_folder
from engine.io import ImageError, load_photo
from engine.io.raw import DECODE_VERSION
from engine.render import resize_linear
from engine.runners.agent import agent_view

VIEW = 80
CROP = 64
MAX_VIEWS = 12_000  # ~920 MB of float32 views: many photos get fewer views each, not more memory
MIN_VIEWS = 8  # per photo, however many photos: the whole frame and 7 crops
MIN_SIDE = 32  # a smaller file (an icon, a thumbnail) has nothing to teach at the 64x64 proxy


def views(linear: np.ndarray, n: int, rng: np.random.Generator, size: int = VIEW) -> np.ndarray:
    """The whole frame plus ``n - 1`` random sub-rectangles, each area-resized to ``size``²
    (a side under ``size`` pixels is cropped no further); a ``ValueError`` for a photo under
    ``MIN_SIDE`` pixels on a side."""
    h, w = linear.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"too small to learn from ({w} x {h} pixels; at least {MIN_SIDE} on each side)")
    out = [resize_linear(linear, size, size)]
    for _ in range(n - 1):
        ch = min(h, max(size, int(h * rng.uniform(0.4, 1.0))))
        cw = min(w, max(size, int(w * rng.uniform(0.4, 1.0))))
        y = int(rng.integers(0, h - ch + 1))
        x = int(rng.integers(0, w - cw + 1))
        out.append(resize_linear(linear[y:y + ch, x:x + cw], size, size))
    return np.stack(out).astype(np.float32)


def load_linear(path: Path) -> np.ndarray:
    """Linear RGB of any photo, read as the app reads it (EXIF orientation, ICC profiles, 16-bit
    and greyscale files, a decompression bomb refused); RAW at half size, which the views need.
    A RAW's highlights past white are clipped, as the agent sees them (:func:`engine.runners.agent.agent_view`)."""
    photo = load_photo(path, half=path.suffix.lower() not in {".png", ".jpg", ".jpeg"})
    return agent_view(photo.linear) if photo.meta.is_raw else np.asarray(photo.linear, np.float32)


def _warn(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build(paths: list[Path], per_photo: int, cache_dir: Path, seed: int = 0,
          max_views: int = MAX_VIEWS, log: Callable[[str], None] = _warn) -> np.ndarray:
    """Linear views ``(len(paths) * n, 80, 80, 3)``, cached on disk.

    ``n`` is ``per_photo``, lowered (to at least ``MIN_VIEWS``) so that the set stays within
    ``max_views``: a folder of 300 photos gets 40 views of each rather than 4 GB of arrays; a
    changed count is reported through ``log``. A file that cannot be read is skipped and reported
    too; none readable is a ``FileNotFoundError``.
    """
    return _cached_views(paths, paths, load_linear, per_photo, cache_dir, seed, max_views, log, "views",
                         lambda p, e: f"skipped {e}" if p.name in str(e) else f"skipped {p.name}: {e}",
                         lambda _: f"none of the {len(paths)} photos in {paths[0].parent} could be read")


def paired_views(pairs: list[tuple[Path, Path]], per_photo: int, cache_dir: Path, seed: int = 0,
                 max_views: int = MAX_VIEWS, log: Callable[[str], None] = _warn,
                 least: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Aligned views ``(N, 80, 80, 3)`` of each pair's input and target, as :func:`build` makes
    them: the same rectangles of both. A cropped edit (another aspect ratio, or zoomed in) is
    matched to the part of the input it shows (:func:`engine.align.find_crop`), which is then
    the input; the target is resized to it. A pair that cannot be read or does not line up
    (another photo under the same name, or rotated) is skipped and reported; fewer than ``least``
    left is a ``FileNotFoundError``."""
    cropped: list[str] = []

    def stacked(pair: tuple[Path, Path]) -> np.ndarray:
        x, y = load_linear(pair[0]), load_linear(pair[1])
        crop = find_crop(x, y)
        if crop is None:
            raise ValueError("the edit does not line up with the photo (another photo, or rotated)")
        if not crop.whole(x.shape[1], x.shape[0]):
            cropped.append(pair[1].name)
        x = crop.of(x)
        return np.concatenate([x, resize_linear(y, x.shape[1], x.shape[0])], -1)

    both = _cached_views(pairs, [p for pair in pairs for p in pair], stacked, per_photo, cache_dir, seed,
                         max_views, log, "pairs-aligned",  # not the views cached before crops were found
                         lambda pair, e: f"skipped the pair {pair[0].name} / {pair[1].name}: {e}",
                         lambda used: f"only {used} of the {len(pairs)} pairs could be used" if used else
                         f"none of the {len(pairs)} pairs could be used", least)
    if cropped:  # said once, when the views are made (not from the cache)
        names = ", ".join(cropped[:3]) + (", …" if len(cropped) > 3 else "")
        verb = "is" if len(cropped) == 1 else "are"
        log(f"{len(cropped)} of the edits {verb} cropped ({names}): each is learnt from the part of its photo it shows")
    return both[..., :3], both[..., 3:]


def _stamp(p: Path) -> tuple[int, int] | tuple[()]:
    """Size and time of a file for the cache key; none for one that cannot be read (a dangling
    link), which the loading then skips and reports."""
    try:
        st = p.stat()
    except OSError:
        return ()
    return st.st_size, st.st_mtime_ns


def _cached_views(items: list, files: list[Path], load: Callable, per_photo: int, cache_dir: Path, seed: int,
                  max_views: int, log: Callable[[str], None], kind: str, skipped: Callable[..., str],
                  too_few: Callable[[int], str], least: int = 1) -> np.ndarray:
    """:func:`views` of each of ``items`` as ``load`` reads it, cached on disk under ``kind`` and
    the ``files``' names, sizes and times; what cannot be read is reported by ``skipped``, and
    fewer than ``least`` items read is a ``FileNotFoundError`` saying ``too_few(read)``."""
    asked, per_photo = per_photo, max(MIN_VIEWS, min(per_photo, max_views // max(1, len(items))))
    if per_photo != asked:
        log(f"{per_photo} views of each of {len(items)} photos rather than {asked} "
            f"(at least {MIN_VIEWS}, at most {max_views} in all)")
    what = ([(str(p), *_stamp(p)) for p in files], per_photo, seed, DECODE_VERSION)  # a new decode: new views
    key = hashlib.sha1(repr(what).encode()).hexdigest()[:16]
    f = cache_dir / f"{kind}-{key}.npy"
    if f.exists():
        arr = np.load(f)
        if len(arr) // per_photo < least:  # the same files, read before for a lower bar
            raise FileNotFoundError(too_few(len(arr) // per_photo))
        return arr
    rng = np.random.default_rng(seed)
    parts = []
    for item in items:
        try:
            parts.append(views(load(item), per_photo, rng))
        except (ImageError, OSError, ValueError) as e:  # a user's folder may hold anything
            log(skipped(item, e))
    if len(parts) < max(1, least):
        raise FileNotFoundError(too_few(len(parts)))
    arr = np.concatenate(parts)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(f) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr)
    return arr


def folder_views(folder: Path, per_photo: int, cache_dir: Path, seed: int = 0,
                 log: Callable[[str], None] = _warn, paths: list[Path] | None = None) -> np.ndarray:
    """Views of every photo in a user's folder (what a batch export there would read:
    :func:`engine.batch.scan_folder`, or ``paths`` when the caller has listed it already),
    unreadable ones skipped and reported."""
    paths = scan_folder(Path(folder)) if paths is None else paths
    if not paths:
        raise FileNotFoundError(f"no photos in {folder}")
    return build(paths, per_photo, cache_dir, seed, log=log)


def random_crops(arr: np.ndarray, idx: np.ndarray, rng: np.random.Generator, crop: int = CROP) -> np.ndarray:
    """Batch of random ``crop``² crops with random horizontal flips from views ``arr[idx]``."""
    n, s = len(idx), arr.shape[1]
    ys = rng.integers(0, s - crop + 1, n)
    xs = rng.integers(0, s - crop + 1, n)
    out = np.empty((n, crop, crop, 3), np.float32)
    for k, (i, y, x) in enumerate(zip(idx, ys, xs)):
        v = arr[i, y:y + crop, x:x + crop]
        out[k] = v[:, ::-1] if rng.random() < 0.5 else v
    return out
