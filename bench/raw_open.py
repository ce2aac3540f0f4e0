"""How long opening a RAW takes through engine.io, next to rawpy's own decode, in one run.

A 24 MP (6000x4000) synthetic DNG is made in a temp folder from a real photo (the shipped sample's
decode, else the test fixture, upscaled), then each way of opening it is timed (median of --repeat
runs after one warm-up, the cases taking turns):

- embedded preview: ``engine.io.load_preview`` (1024 px JPEG like a Sony's; and a full-size JPEG
  like a Canon's/Nikon's) vs ``rawpy.extract_thumb`` alone; for the app's 2048 px view, a 4000 and
  a 6000 px JPEG decoded to cover 2048 px, and ``coarse`` (to 2/3 of it), as the app asks;
- half size: ``load_photo(half=True)`` (linear float32, 16 bit) vs ``postprocess(half_size=True)``;
- full: ``load_photo()`` (PPG demosaic, linear float32) and ``load_photo(safe=True)`` (child process)
  vs ``postprocess()`` with rawpy's defaults (AHD, 8 bit, gamma, auto-bright).

    .venv/bin/python bench/raw_open.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rawpy
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.io import load_photo, load_preview  # noqa: E402
from engine.io.dng import write_dng  # noqa: E402

SAMPLE = ROOT / "resources" / "samples" / "sample.dng"
FIXTURE = ROOT / "tests" / "fixtures" / "dune.jpg"


def source_linear(width: int, height: int) -> tuple[np.ndarray, str]:
    """A real photo in linear light, upscaled (bicubic, per channel in float) to width x height."""
    if SAMPLE.exists():
        lin, name = load_photo(SAMPLE).linear * 2.0, SAMPLE.name  # undo the sample's -1 EV
    else:
        from engine.color import srgb_decode

        with Image.open(FIXTURE) as im:
            lin = srgb_decode(np.asarray(im.convert("RGB")) / np.float32(255)).astype(np.float32)
        name = FIXTURE.name
    chans = [np.asarray(Image.fromarray(np.ascontiguousarray(lin[..., c]), "F")
                        .resize((width, height), Image.Resampling.BICUBIC)) for c in range(3)]
    return np.clip(np.stack(chans, -1), 0, None).astype(np.float32), name


def timeit_round_robin(cases: list[tuple[str, Callable[[], object]]], repeat: int) -> list[tuple[str, float]]:
    """Median ms per case; the cases take turns so that a change in machine load hits all alike."""
    for _, fn in cases:
        fn()  # warm-up: imports, page cache, LibRaw first-use costs
    times: dict[str, list[float]] = {label: [] for label, _ in cases}
    for _ in range(repeat):
        for label, fn in cases:
            t = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - t)
    return [(label, statistics.median(ts) * 1000) for label, ts in times.items()]


def rawpy_thumb(path: Path) -> None:
    with rawpy.imread(str(path)) as raw:
        raw.extract_thumb()


def rawpy_post(path: Path, **kw) -> None:
    with rawpy.imread(str(path)) as raw:
        raw.postprocess(**kw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="RAW open times: engine.io vs rawpy")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size", default="6000x4000")
    args = ap.parse_args(argv)
    w, h = (int(x) for x in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="raw_open-") as tmp:
        t = time.perf_counter()
        lin, name = source_linear(w, h)
        dng = write_dng(Path(tmp) / "bench.dng", lin, linear=True, preview_size=1024)
        dng_big = write_dng(Path(tmp) / "bench_fullpreview.dng", lin, linear=True, preview_size=max(w, h))
        dng_4k = write_dng(Path(tmp) / "bench_4kpreview.dng", lin, linear=True, preview_size=4000)
        del lin
        print(f"{w}x{h} ({w * h / 1e6:.0f} MP) DNG from {name}: {dng.stat().st_size / 1e6:.1f} MB, "
              f"made in {time.perf_counter() - t:.1f} s; median of {args.repeat} after a warm-up\n")
        r = args.repeat
        rows = timeit_round_robin([
            ("preview  engine.io.load_preview (1024 px JPEG)", lambda: load_preview(dng)),
            ("preview  rawpy extract_thumb only (1024 px)", lambda: rawpy_thumb(dng)),
            ("preview  engine.io.load_preview (6000 px JPEG)", lambda: load_preview(dng_big)),
            ("preview  load_preview(max_size=1024) (6000 px)", lambda: load_preview(dng_big, 1024)),
            ("preview  load_preview(2048) (4000 px JPEG)", lambda: load_preview(dng_4k, 2048)),
            ("preview  load_preview(2048, coarse) (4000 px): app", lambda: load_preview(dng_4k, 2048, coarse=True)),
            ("preview  load_preview(2048) (6000 px JPEG)", lambda: load_preview(dng_big, 2048)),
            ("preview  load_preview(2048, coarse) (6000 px): app", lambda: load_preview(dng_big, 2048, coarse=True)),
            ("half     engine.io.load_photo(half=True)", lambda: load_photo(dng, half=True)),
            ("half     rawpy postprocess(half_size=True)", lambda: rawpy_post(dng, half_size=True)),
            ("full     engine.io.load_photo()", lambda: load_photo(dng)),
            ("full     engine.io.load_photo(safe=True)", lambda: load_photo(dng, safe=True)),
            ("full     rawpy postprocess() defaults", lambda: rawpy_post(dng)),
        ], r)
    ref = dict(rows)["full     rawpy postprocess() defaults"]
    half_ref = dict(rows)["half     rawpy postprocess(half_size=True)"]
    print(f"{'call':52s} {'ms':>8s} {'/ rawpy full':>13s} {'/ rawpy half':>13s}")
    for label, ms in rows:
        print(f"{label:52s} {ms:8.1f} {ms / ref:13.3f} {ms / half_ref:13.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
