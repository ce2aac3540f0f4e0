"""Fetch the default photo set and split it into disjoint targets / inputs / held-out.

``python -m models.data.assemble [--out data/photos]``

The photos are listed in ``models/data/photos.tsv`` (package, version, path, licence): real
photographs shipped in Debian wallpaper packages. Each package is fetched with
``apt-get download`` into a cache, unpacked with ``dpkg-deb -x``, and the listed photos are
downscaled (long edge 1024, area filter) into ``OUT/<split>/<name>.png``. The split is a pure
function of the file names (a hash), so every machine gets the same sets:

* ``heldout``: evaluation only, never seen in training, nor used to choose anything;
* ``targets``: the "finished photos" the critic learns from;
* ``inputs``: photos that get "unedited" by :mod:`models.data.degrade`;
* ``val`` (extra photos only): validation, never trained on.

``models/data/extra_photos.tsv`` lists more photos (with an explicit ``name`` column, as their
file names collide) and the set each goes to: ``inputs``, ``val`` (a validation set of unseen scenes that
checkpoints and settings are chosen on, never trained on), or ``heldout``. They add scenes without
moving a single photo of the hashed split. The held-out set was the hashed split's five close-ups
until the twenty-second session, which added six everyday photos from ``python3-skimage`` and
``python-matplotlib-data`` (portraits, a pet, food, a street, a launch; models/retouch/HISTORY.md).
A path of the form ``bundle.rcc:/inner/path`` names a file inside a Qt resource bundle
(GCompris ships its photos that way), read by :mod:`models.data.rcc`.

The three sets are disjoint by construction. The full-size photos are never committed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.atomic import atomic_path
from engine.folders import scan_folder
from engine.io import RASTER_EXTENSIONS, ImageError, is_raw, load_preview

from .rcc import Rcc

TSV = Path(__file__).with_name("photos.tsv")
EXTRA = Path(__file__).with_name("extra_photos.tsv")
SPLITS = ("targets", "inputs", "heldout", "val")
LONG_EDGE = 1024
N_HELDOUT = 5  # of the hashed split; extra_photos.tsv adds more
#: The sets an extra photo may go to (never ``targets``: the critic's set stays the hashed split's).
EXTRA_SETS = ("inputs", "val", "heldout")


@dataclass(frozen=True)
class PhotoEntry:
    package: str
    version: str
    path: str
    licence: str
    alias: str = ""  # explicit name where the file's own stem is not unique
    set: str = ""  # extra photos only: one of EXTRA_SETS

    @property
    def name(self) -> str:
        return self.alias or Path(self.path).stem


def read_list(tsv: Path = TSV) -> list[PhotoEntry]:
    with open(tsv, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [PhotoEntry(r["package"], r["version"], r["path"], r["licence"], r.get("name") or "",
                       r.get("set") or "") for r in rows]


def split_of(entries: list[PhotoEntry], n_heldout: int = N_HELDOUT) -> dict[str, str]:
    """Deterministic split: order by a hash of the name, first ``n_heldout`` held out, rest alternate."""
    order = sorted(entries, key=lambda e: hashlib.sha1(e.name.encode()).hexdigest())
    out = {}
    for i, e in enumerate(order):
        if i < n_heldout:
            out[e.name] = "heldout"
        else:
            out[e.name] = ("targets", "inputs")[(i - n_heldout) % 2]
    return out


def plan(tsv: Path = TSV, extra: Path | None = EXTRA) -> tuple[list[PhotoEntry], dict[str, str]]:
    """Every listed photo and its set: the hashed split of ``tsv``, plus the extra photos."""
    entries = read_list(tsv)
    split = split_of(entries)
    if extra is not None and extra.exists():
        more = read_list(extra)
        clash = {e.name for e in more} & set(split)
        if clash:
            raise ValueError(f"{extra}: names already in {tsv}: {sorted(clash)}")
        bad = sorted(e.name for e in more if e.set not in EXTRA_SETS)
        if bad:
            raise ValueError(f"{extra}: set must be one of {', '.join(EXTRA_SETS)}: {bad}")
        entries += more
        split.update({e.name: e.set for e in more})
    return entries, split


class AssembleError(RuntimeError):
    """A package could not be had; the message says why and what to do."""


@contextmanager
def cache_lock(cache: Path) -> Iterator[None]:
    """The cache's lock; a run that has to wait says so (the other may be downloading for minutes)."""
    from filelock import FileLock, Timeout

    lock = FileLock(cache / ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"assemble: another run is using {cache}: waiting for it to finish ...", file=sys.stderr, flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def fetch_package(package: str, cache: Path, version: str | None = None) -> Path:
    """Download (once) and unpack a Debian package, at the listed ``version`` where the archive
    still has it (else its current one, said on stderr: the photos may differ); returns the
    unpacked root.

    Runs sharing a cache (``make data`` beside an ``evaluate``) take turns on its lock; a root is
    used only once marked complete, a failed unpack leaves nothing behind, and a damaged ``.deb``
    is removed so that the next run downloads it afresh."""
    cache = cache.resolve()  # the tools run inside it: a relative path (make data's) would be read twice over
    root = cache / "unpacked" / package
    done = root / ".complete"  # written before the rename: a root without it is an older or broken one
    if done.exists():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    with cache_lock(cache):
        if done.exists():  # the other run unpacked it meanwhile
            return root
        debs = cache / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        found = _debs(debs, package, version)
        if found and version and not _listed(found[-1], package, version):  # only another version cached
            try:
                got = _tool(["apt-get", "download", f"{package}={version}"], debs)
                why = _last_line(got) if got.returncode else None
            except AssembleError as e:  # no apt-get here: the cached one is what there is
                why = str(e).split(":")[0]
            found = _debs(debs, package, version)
            if why:
                print(f"assemble: {package} {version} could not be had ({why}); using the cached "
                      f"{found[-1].name} (the photos may differ from the model card's)", file=sys.stderr)
        if not found:
            got = _tool(["apt-get", "download", f"{package}={version}" if version else package], debs)
            if got.returncode and version:  # another release: its own version of the package
                got = _tool(["apt-get", "download", package], debs)
                if not got.returncode:
                    print(f"assemble: {package} {version} is not in this system's archive; using its current "
                          "version (the photos may differ from the model card's)", file=sys.stderr)
            found = _debs(debs, package, version)
            if not found:
                raise AssembleError(f"apt-get download {package} failed ({_last_line(got)}); offline, put "
                                    f"{package}_*.deb in {debs} and run again")
        tmp = Path(tempfile.mkdtemp(prefix=f".{package}-", dir=cache))
        try:
            got = _tool(["dpkg-deb", "-x", str(found[-1]), str(tmp)], cache)
            if got.returncode:
                if _reads_whole(found[-1]):
                    # the archive reads to its end: the unpacking failed here (a full disk), keep it
                    raise AssembleError(f"could not unpack {found[-1].name} ({_last_line(got)})")
                found[-1].unlink()
                raise AssembleError(f"{found[-1].name} is damaged ({_last_line(got)}); it was removed: "
                                    "run again to download it afresh")
            (tmp / ".complete").touch()
            if root.exists():
                shutil.rmtree(root)  # unpacked by an older version, or half unpacked
            root.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone already when renamed
    return root


def _debs(debs: Path, package: str, version: str | None) -> list[Path]:
    """The package's .deb files in the cache, the listed version's last (the one used)."""
    return sorted(sorted(debs.glob(f"{package}_*.deb")), key=lambda d: _listed(d, package, version))


def _listed(deb: Path, package: str, version: str | None) -> bool:
    """Whether ``deb`` is the listed version of ``package`` (apt writes an epoch's colon as %3a)."""
    return version is not None and deb.name.startswith(f"{package}_{version.replace(':', '%3a')}_")


def _reads_whole(deb: Path) -> bool:
    """Whether a package's files read to their end (a truncated download does not)."""
    return subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False).returncode == 0


def _tool(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise AssembleError(f"{cmd[0]} not found: the default photos come from Debian packages "
                            "(apt-get and dpkg-deb)") from None


def _last_line(got: subprocess.CompletedProcess) -> str:
    lines = (got.stderr or "").strip().splitlines()
    return lines[-1].strip() if lines else f"exit status {got.returncode}"


def open_source(root: Path, path: str) -> Image.Image:
    """A listed photo inside an unpacked package; ``bundle.rcc:/inner`` reads from a Qt bundle."""
    if ".rcc:" in path:
        bundle, inner = path.split(".rcc:", 1)
        return Image.open(io.BytesIO(Rcc.open(root / (bundle.lstrip("/") + ".rcc")).read(inner)))
    return Image.open(root / path.lstrip("/"))


def downscale(im: Image.Image, long_edge: int = LONG_EDGE) -> Image.Image:
    im.draft("RGB", (long_edge, long_edge))  # JPEG DCT scaling: fast, and still area-like
    im = im.convert("RGB")
    scale = long_edge / max(im.size)
    if scale < 1:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                       Image.Resampling.BOX)
    return im


def assemble(out: Path, cache: Path | None = None, tsv: Path = TSV, long_edge: int = LONG_EDGE,
             extra: Path | None = EXTRA) -> dict[str, list[Path]]:
    cache = cache or out.parent / "apt-cache"
    entries, split = plan(tsv, extra)
    result: dict[str, list[Path]] = {s: [] for s in SPLITS}
    failed: dict[str, str] = {}  # package -> why: the other packages' photos are still made
    for e in entries:
        dst = out / split[e.name] / f"{e.name}.png"
        if not dst.exists():
            if e.package in failed:
                continue
            try:
                root = fetch_package(e.package, cache, e.version or None)
            except AssembleError as err:
                failed[e.package] = str(err)
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(dst) as tmp:
                downscale(open_source(root, e.path), long_edge).save(tmp, format="PNG")
        result[split[e.name]].append(dst)
    if failed:
        raise AssembleError(f"{len(failed)} package(s) could not be had, the others' photos are made: "
                            + "; ".join(failed.values()))
    return result


def load_srgb(path: Path, max_size: int | None = None) -> np.ndarray:
    """A finished photo (JPEG, PNG or TIFF) as float32 sRGB in [0, 1], (H, W, 3), read as the app
    reads it: upright, colour-managed to sRGB, 16-bit, float and grey files too, a decompression
    bomb refused. Anything it cannot use is an :class:`engine.io.ImageError` saying why.
    ``max_size``: a larger photo is decoded reduced (a JPEG in the DCT) to about that long edge,
    so that a 48 MP original does not take gigabytes; the assembled sets are never that large."""
    if is_raw(path):
        raise ImageError("a RAW file has no finished original to compare with: export it as JPEG, PNG or TIFF",
                         path)
    return load_preview(path, max_size).astype(np.float32) / 255.0


def list_images(folder: Path) -> list[Path]:
    """The JPEG, PNG and TIFF files of a folder (not its subfolders), hidden files (``.*``: a Mac's
    ``._IMG_0001.JPG`` resource forks) left out as the batch leaves them out."""
    return [p for p in scan_folder(Path(folder)) if p.suffix.lower() in RASTER_EXTENSIONS and p.is_file()]



def photo_set(name: str, root: Path = Path("data/photos")) -> list[Path]:
    """The photos of an evaluation set: a folder, or ``heldout``, ``val`` or ``check`` (the
    targets) of the default split under ``root``."""
    if Path(name).is_dir():
        return list_images(Path(name))
    return sorted(assemble(root)[{"check": "targets"}.get(name, name)])

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("data/photos"))
    ap.add_argument("--cache", type=Path, default=None, help="where .deb files are kept (default OUT/../apt-cache)")
    ap.add_argument("--clean-cache", action="store_true", help="remove unpacked packages afterwards")
    args = ap.parse_args(argv)
    try:
        res = assemble(args.out, args.cache)
    except AssembleError as e:
        print(f"assemble: error: {e}", file=sys.stderr)
        return 1
    for s in SPLITS:
        names = [p.stem for p in res[s]]
        print(f"{s:8s} {len(names):3d}  " + ", ".join(names[:12]) + (", ..." if len(names) > 12 else ""))
    if args.clean_cache:
        cache = args.cache or args.out.parent / "apt-cache"
        with cache_lock(cache):  # not while another run unpacks into it
            shutil.rmtree(cache / "unpacked", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
