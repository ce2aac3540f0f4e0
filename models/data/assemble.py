"""Fetch the default photo set and split it into disjoint targets / inputs / held-out.

``python -m models.data.assemble [--out data/photos]``

The photos are listed in ``models/data/photos.tsv`` (package, version, path, licence): real
photographs shipped in Debian wallpaper packages. Each package is fetched with
``apt-get download`` into a cache, unpacked with ``dpkg-deb -x``, and the listed photos are
downscaled (long edge 1024, area filter) into ``OUT/<split>/<name>.png``. The split is a pure
function of the file names (a hash), so every machine gets the same sets:

* ``heldout``: evaluation only, never seen in training;
* ``targets``: the "finished photos" the critic learns from;
* ``inputs``: photos that get "unedited" by :mod:`models.data.degrade`.

``models/data/extra_inputs.tsv`` lists more photos (with an explicit ``name`` column, as their
file names collide) that always go to ``inputs``: they add training scenes without moving a
single photo of the hashed split, so the held-out set stays the one every table was made on.

The three sets are disjoint by construction. The full-size photos are never committed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.atomic import atomic_path

TSV = Path(__file__).with_name("photos.tsv")
EXTRA_INPUTS = Path(__file__).with_name("extra_inputs.tsv")
SPLITS = ("targets", "inputs", "heldout")
LONG_EDGE = 1024
N_HELDOUT = 5


@dataclass(frozen=True)
class PhotoEntry:
    package: str
    version: str
    path: str
    licence: str
    alias: str = ""  # explicit name where the file's own stem is not unique

    @property
    def name(self) -> str:
        return self.alias or Path(self.path).stem


def read_list(tsv: Path = TSV) -> list[PhotoEntry]:
    with open(tsv, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [PhotoEntry(r["package"], r["version"], r["path"], r["licence"], r.get("name") or "") for r in rows]


def split_of(entries: list[PhotoEntry], n_heldout: int = N_HELDOUT) -> dict[str, str]:
    """Deterministic split: order by a hash of the name, first ``n_heldout`` held out, rest alternate."""
    order = sorted(entries, key=lambda e: hashlib.sha1(e.name.encode()).hexdigest())
    out = {}
    for i, e in enumerate(order):
        if i < n_heldout:
            out[e.name] = "heldout"
        else:
            out[e.name] = SPLITS[(i - n_heldout) % 2]
    return out


def plan(tsv: Path = TSV, extra_inputs: Path | None = EXTRA_INPUTS) -> tuple[list[PhotoEntry], dict[str, str]]:
    """Every listed photo and its set: the hashed split of ``tsv``, plus the extra inputs."""
    entries = read_list(tsv)
    split = split_of(entries)
    if extra_inputs is not None and extra_inputs.exists():
        extra = read_list(extra_inputs)
        clash = {e.name for e in extra} & set(split)
        if clash:
            raise ValueError(f"{extra_inputs}: names already in {tsv}: {sorted(clash)}")
        entries += extra
        split.update({e.name: "inputs" for e in extra})
    return entries, split


def fetch_package(package: str, cache: Path) -> Path:
    """Download (once) and unpack a Debian package; returns the unpacked root."""
    root = cache / "unpacked" / package
    if root.exists():
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        subprocess.run(["apt-get", "download", package], cwd=debs, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        raise RuntimeError(f"apt-get download {package} produced no .deb")
    tmp = Path(tempfile.mkdtemp(dir=cache / "unpacked" if (cache / "unpacked").exists() else cache))
    subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(tmp)], check=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(root)
    return root


def downscale(src: Path, long_edge: int = LONG_EDGE) -> Image.Image:
    im = Image.open(src)
    im.draft("RGB", (long_edge, long_edge))  # JPEG DCT scaling: fast, and still area-like
    im = im.convert("RGB")
    scale = long_edge / max(im.size)
    if scale < 1:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                       Image.Resampling.BOX)
    return im


def assemble(out: Path, cache: Path | None = None, tsv: Path = TSV, long_edge: int = LONG_EDGE,
             extra_inputs: Path | None = EXTRA_INPUTS) -> dict[str, list[Path]]:
    cache = cache or out.parent / "apt-cache"
    entries, split = plan(tsv, extra_inputs)
    result: dict[str, list[Path]] = {s: [] for s in SPLITS}
    for e in entries:
        dst = out / split[e.name] / f"{e.name}.png"
        if not dst.exists():
            root = fetch_package(e.package, cache)
            src = root / e.path.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(dst) as tmp:
                downscale(src, long_edge).save(tmp, format="PNG")
        result[split[e.name]].append(dst)
    return result


def load_srgb(path: Path) -> np.ndarray:
    """An 8-bit photo as float32 sRGB in [0, 1], (H, W, 3)."""
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def list_images(folder: Path) -> list[Path]:
    exts = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in exts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("data/photos"))
    ap.add_argument("--cache", type=Path, default=None, help="where .deb files are kept (default OUT/../apt-cache)")
    ap.add_argument("--clean-cache", action="store_true", help="remove unpacked packages afterwards")
    args = ap.parse_args(argv)
    res = assemble(args.out, args.cache)
    for s in SPLITS:
        print(f"{s:8s} {len(res[s]):3d}  " + ", ".join(p.stem for p in res[s]))
    if args.clean_cache:
        shutil.rmtree((args.cache or args.out.parent / "apt-cache") / "unpacked", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
