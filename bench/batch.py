"""Batch export speed: ``retouch batch --auto`` vs ``rawtherapee-cli`` vs ``darktable-cli``.

Same files, same run, same machine: a folder of 24 MP (6000x4000) DNGs made from real photos
with engine.io.dng.write_dng, exported to JPEG quality 90 by each tool in turn. Prints seconds,
photos per minute and the ratios (targets: >= 2x rawtherapee-cli, >= 3x darktable-cli). A tool
that is not installed is skipped with a message (``apt-get install rawtherapee darktable``).

    .venv/bin/python bench/batch.py [--photos DIR] [--count 4] [--work DIR] [--keep]

``--photos``: a folder of real photos (JPEG/PNG) to build the DNGs from; by default the Debian
wallpapers in /usr/share/backgrounds, else data/photos, else the test fixture photo.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SIZE = (6000, 4000)  # 24 MP, 3:2
PHOTO_EXTS = {".jpg", ".jpeg", ".png"}


def find_photos(folder: Path | None) -> list[Path]:
    candidates = [folder] if folder else [Path("/usr/share/backgrounds"), ROOT / "data" / "photos",
                                          ROOT / "tests" / "fixtures"]
    for c in candidates:
        if c and c.is_dir():
            found = sorted(p for p in c.rglob("*") if p.suffix.lower() in PHOTO_EXTS)
            if found:
                # Largest first: the least upscaling to 24 MP.
                return sorted(found, key=lambda p: -_pixels(p))
    raise SystemExit("no source photos found; pass --photos DIR")


def _pixels(p: Path) -> int:
    with Image.open(p) as im:
        return im.size[0] * im.size[1]


def make_dngs(photos: list[Path], count: int, out: Path, size: tuple[int, int] = SIZE) -> list[Path]:
    """``count`` 24 MP DNGs, cycling through the photos (centre-cropped to 3:2, then resized)."""
    from engine.io.dng import write_dng

    out.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(count):
        src = photos[i % len(photos)]
        with Image.open(src) as im:
            im = im.convert("RGB")
            w, h = im.size
            if w < h:
                im = im.rotate(90, expand=True)
                w, h = h, w
            cw, ch = (w, round(w * 2 / 3)) if w * 2 / 3 <= h else (round(h * 3 / 2), h)
            left, top = (w - cw) // 2, (h - ch) // 2
            rgb = np.asarray(im.crop((left, top, left + cw, top + ch)).resize(size, Image.Resampling.BICUBIC))
        dst = out / f"IMG_{i + 1:04d}.DNG"
        write_dng(dst, rgb, seed=i)
        made.append(dst)
        print(f"  {dst.name}: from {src.name} ({w}x{h})", flush=True)
    return made


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    return time.perf_counter() - t0, p.returncode, (p.stdout + p.stderr)[-600:]


def retouch_cmd(in_dir: Path, out: Path, jobs: int | None) -> list[str]:
    # The composition root's `retouch batch` when registered, else the same CLI module directly.
    exe = Path(sys.executable).with_name("retouch")
    probe = subprocess.run([str(exe), "batch", "--help"], capture_output=True, check=False) if exe.exists() else None
    base = [str(exe), "batch"] if probe is not None and probe.returncode == 0 else [sys.executable, "-m",
                                                                                    "engine.batch_cli"]
    return [*base, str(in_dir), str(out), "--auto", "--format", "jpeg", "--quality", "90"] + (
        ["--jobs", str(jobs)] if jobs else [])


def run_rawtherapee(in_dir: Path, out: Path, dngs: list[Path]) -> tuple[float, int, str] | None:
    exe = shutil.which("rawtherapee-cli")
    if not exe:
        print("rawtherapee-cli not found: skipped (apt-get install rawtherapee)")
        return None
    out.mkdir()
    env = dict(os.environ, HOME=str(out.parent / "rt-home"))  # a fresh config, not the user's
    return timed([exe, "-o", str(out), "-j90", "-Y", "-c", *map(str, dngs)], env)


def run_darktable(in_dir: Path, out: Path, dngs: list[Path]) -> tuple[float, int, str] | None:
    exe = shutil.which("darktable-cli")
    if not exe:
        print("darktable-cli not found: skipped (apt-get install darktable)")
        return None
    out.mkdir()
    conf = out.parent / "dt-config"
    # One process for the whole folder (its fastest mode), OpenCL off (no GPU here), fresh config.
    return timed([exe, str(in_dir), str(out / "$(FILE_NAME)"), "--out-ext", "jpg", "--core", "--configdir",
                  str(conf), "--disable-opencl", "--conf", "plugins/imageio/format/jpeg/quality=90"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, help="folder of real photos to build the DNGs from")
    ap.add_argument("--count", type=int, default=4, help="number of 24 MP DNGs (>= 4)")
    ap.add_argument("--work", type=Path, help="work folder (default: a temp folder, removed unless --keep)")
    ap.add_argument("--jobs", type=int, help="retouch worker processes (default: by cores and memory)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--size", default="6000x4000", help="DNG size WxH (default 6000x4000 = 24 MP)")
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="retouch-bench-batch-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        size = tuple(int(v) for v in args.size.lower().split("x"))
        print(f"Building {args.count} DNGs of {size[0]}x{size[1]} in {work}/in", flush=True)
        dngs = make_dngs(find_photos(args.photos), max(4, args.count), work / "in", size)
        n = len(dngs)
        rows: dict[str, float] = {}
        try:
            from engine.runners.agent import available_models

            models = available_models()
        except ImportError:
            models = []
        print("Auto:", f"agent {models[0].name}" if models else "stand-in (no model shipped)", flush=True)
        cmd = retouch_cmd(work / "in", work / "retouch", args.jobs)
        print("retouch:", " ".join(cmd[:4]), "…", flush=True)
        secs, rc, tail = timed(cmd)
        got = len(list((work / "retouch").glob("*.jpg")))
        print(f"  {secs:.1f} s, rc={rc}, {got}/{n} JPEGs" + ("" if rc == 0 else f"\n{tail}"), flush=True)
        stages = [line.strip() for line in tail.splitlines() if line.startswith("Per photo")]
        if stages:
            print(f"  {stages[0]}", flush=True)
        if got == n:
            rows["retouch batch --auto"] = secs
        for name, fn in (("rawtherapee-cli -j90 -Y -c", run_rawtherapee), ("darktable-cli", run_darktable)):
            out = work / name.split()[0]
            print(f"{name}:", flush=True)
            res = fn(work / "in", out, dngs)
            if res is None:
                continue
            secs, rc, tail = res
            got = len([p for p in out.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg")])
            print(f"  {secs:.1f} s, rc={rc}, {got}/{n} JPEGs" + ("" if got == n else f"\n{tail}"), flush=True)
            if got == n:
                rows[name] = secs
        print(f"\n{n} x {size[0] * size[1] / 1e6:.0f} MP DNG -> JPEG q90, {os.cpu_count()} CPU(s)")
        print(f"{'tool':30s} {'seconds':>8s} {'s/photo':>8s} {'photos/min':>11s}")
        for name, secs in rows.items():
            print(f"{name:30s} {secs:8.1f} {secs / n:8.2f} {60 * n / secs:11.1f}")
        ours = rows.get("retouch batch --auto")
        if ours:
            for name, target in (("rawtherapee-cli -j90 -Y -c", 2.0), ("darktable-cli", 3.0)):
                if name in rows:
                    ratio = rows[name] / ours
                    verdict = "meets" if ratio >= target else "MISSES"
                    print(f"speed-up vs {name}: {ratio:.2f}x ({verdict} the {target:g}x target)")
        return 0
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
