"""Build resources/samples/sample.dng, the photo `make run` opens, from a real CC-BY-4.0 photo.

The source is "aitzgorri" by Aitzol Berasategi (CC-BY-4.0) from the Debian package
lomiri-wallpapers-16.04:

    apt-get download lomiri-wallpapers-16.04 && dpkg-deb -x lomiri-wallpapers-16.04_*.deb /tmp/lw
    .venv/bin/python scripts/make_sample.py /tmp/lw/usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg

The photo is centre-cropped to 3:2 and resized to 3000x2000, then written as a 14-bit RGGB DNG
(engine.io.dng) the way an imperfect camera would have taken it: **1 EV underexposed** and with a
**warm cast** (linear light x (1.08, 1.0, 0.84) before the sensor, i.e. the as-shot white balance is
off), plus shot and read noise at ISO 400. So the agent and the user have something to fix.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.color import srgb_decode  # noqa: E402
from engine.io.dng import Shot, write_dng  # noqa: E402

DEFAULT_SOURCE = Path("/usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg")


def crop_resize(im: Image.Image, width: int, height: int) -> np.ndarray:
    w, h = im.size
    target = width / height
    if w / h > target:
        cw = round(h * target)
        im = im.crop(((w - cw) // 2, 0, (w - cw) // 2 + cw, h))
    else:
        ch = round(w / target)
        im = im.crop((0, (h - ch) // 2, w, (h - ch) // 2 + ch))
    return np.asarray(im.convert("RGB").resize((width, height), Image.Resampling.LANCZOS))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--out", type=Path, default=ROOT / "resources" / "samples" / "sample.dng")
    ap.add_argument("--size", default="3000x2000", help="WxH of the mosaic")
    ap.add_argument("--exposure", type=float, default=-1.0, help="EV applied before the sensor")
    ap.add_argument("--cast", default="1.08,1.0,0.84", help="linear RGB multipliers (the WB error)")
    args = ap.parse_args(argv)
    if not args.source.is_file():
        print(f"source photo not found: {args.source}\n{__doc__}", file=sys.stderr)
        return 1
    width, height = (int(x) for x in args.size.lower().split("x"))
    cast = np.array([float(x) for x in args.cast.split(",")], np.float32)
    with Image.open(args.source) as im:
        srgb = crop_resize(im, width, height)
    linear = srgb_decode(srgb.astype(np.float32) / 255.0).astype(np.float32) * cast
    shot = Shot(model="Sample DNG", iso=400, exposure_time=1 / 250, f_number=8.0, focal_length=24.0)
    path = write_dng(args.out, linear, linear=True, exposure=args.exposure, seed=2018, shot=shot)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {width}x{height})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
