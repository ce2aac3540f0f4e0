"""``python -m engine.lut``: compile the render kernels into numba's on-disk cache (once after an
install or an update of ``engine/lut``; ``make run`` and ``make test`` do it), so that the app's
first start renders at once instead of compiling for half a minute on its render thread."""

from __future__ import annotations

import time

from . import warm_up


def main() -> None:
    t0 = time.perf_counter()
    warm_up()
    print(f"render kernels ready in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
