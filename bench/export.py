"""What carrying a photo's metadata costs an export: ``write_image`` with exiv2 against without.

A real photo (a copy of the shipped sample DNG given a photographer's metadata: artist, copyright,
lens, GPS, an XMP rating and keywords, IPTC keywords; or PATH as it is) resized to 24 MP (6000x4000),
then written N times as JPEG (quality 92) and as 16-bit TIFF, each time with the source's EXIF,
XMP and IPTC carried by exiv2 (``engine.io.carry``) and, side by side in the same run, with only
the encoder's block (exiv2 switched off, as on a platform without its wheel). Printed: the median
seconds of each and their ratio, and the file sizes.

    .venv/bin/python bench/export.py [PATH] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _photo import resized

from engine.io import carry, load_photo, write_image
from engine.render import render_uint8

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", type=Path, default=ROOT / "resources" / "samples" / "sample.dng")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from engine.recipe import Recipe

    real_exiv2 = carry._exiv2
    with tempfile.TemporaryDirectory() as tmp:
        src = args.path
        if src.name == "sample.dng" and real_exiv2():
            src = Path(tmp) / "tagged.dng"
            src.write_bytes(args.path.read_bytes())
            _tag(real_exiv2(), src)
        photo = load_photo(src)
        srgb = render_uint8(Recipe(), resized(photo.linear, 6000, 4000))
        print(f"{src.name} at {srgb.shape[1]}x{srgb.shape[0]}, exiv2 {'present' if real_exiv2() else 'MISSING'}")
        for fmt, name in (("jpeg", "out.jpg"), ("tiff16", "out.tif")):
            times: dict[str, list[float]] = {"exiv2": [], "encoder only": []}
            sizes = {}
            for _ in range(args.runs):
                for mode in times:
                    carry._exiv2 = real_exiv2 if mode == "exiv2" else (lambda: None)
                    t = time.perf_counter()
                    out = write_image(Path(tmp) / name, srgb, fmt=fmt, meta=photo.meta)
                    times[mode].append(time.perf_counter() - t)
                    sizes[mode] = out.stat().st_size
            carry._exiv2 = real_exiv2
            a, b = (statistics.median(times[m]) for m in ("exiv2", "encoder only"))
            print(f"{fmt:7s} with exiv2 {a:6.3f} s ({sizes['exiv2'] / 1e6:.1f} MB)   encoder only {b:6.3f} s "
                  f"({sizes['encoder only'] / 1e6:.1f} MB)   ratio {a / b:.2f}x")


def _tag(pyexiv2, path: Path) -> None:
    img = pyexiv2.Image(str(path))
    img.modify_exif({"Exif.Image.Artist": "Jane Photographer", "Exif.Image.Copyright": "(c) 2026 Jane",
                     "Exif.Photo.LensModel": "24-70mm F2.8", "Exif.GPSInfo.GPSLatitudeRef": "N",
                     "Exif.GPSInfo.GPSLatitude": "43/1 15/1 3012/100"})
    img.modify_xmp({"Xmp.xmp.Rating": "4", "Xmp.dc.subject": ["mountains", "autumn"]})
    img.modify_iptc({"Iptc.Application2.Keywords": ["mountains", "autumn"]})
    img.close()


if __name__ == "__main__":
    main()
