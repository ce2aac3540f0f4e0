"""Auto: from an open photo (decoded linear array) to a Recipe, on CPU. Target <= 20 ms.

``python bench/auto.py [--model M.onnx] [--repeat N]``. Prints the median (and min) time of
``Agent.predict`` on a real photo at a display size (2 MP) and at 24 MP, split into the proxy
(whole frame squeezed to 64x64) and the 5-step policy loop, side by side in one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.color import srgb_decode  # noqa: E402
from engine.runners.agent import Agent  # noqa: E402

PHOTO = ROOT / "tests" / "fixtures" / "dune.jpg"
TARGET_MS = 20.0


def timed(fn, repeat: int) -> tuple[float, float]:
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(1000 * (time.perf_counter() - t))
    return statistics.median(ts), min(ts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    agent = Agent(args.model, prefer_gpu=False, threads=1)
    base = Image.open(PHOTO).convert("RGB")
    print(f"model {agent.path.name} on {agent.device}; photo {PHOTO.name}; median (min) of {args.repeat} runs")
    print(f"{'size':>12} {'proxy ms':>14} {'policy ms':>14} {'Auto total ms':>16}  target <= {TARGET_MS:.0f} ms")
    worst = 0.0
    for w, h in ((1800, 1125), (6000, 4000)):
        linear = srgb_decode(np.asarray(base.resize((w, h), Image.Resampling.BILINEAR), np.float32) / 255.0)
        linear = np.ascontiguousarray(linear, np.float32)
        agent.predict(linear)  # warm-up
        proxy = agent.proxy(linear)
        masks = agent._masks(1, None)
        p_med, p_min = timed(lambda lin=linear: agent.proxy(lin), args.repeat)
        l_med, l_min = timed(lambda px=proxy, m=masks: agent.run_proxy(px[None], m), args.repeat)
        t_med, t_min = timed(lambda lin=linear: agent.predict(lin), args.repeat)
        worst = max(worst, t_med)
        print(f"{f'{w}x{h}':>12} {p_med:8.2f} ({p_min:.2f}) {l_med:8.2f} ({l_min:.2f}) {t_med:10.2f} ({t_min:.2f})"
              f"  {'ok' if t_med <= TARGET_MS else 'over'}")
    print(f"worst median {worst:.2f} ms = {worst / TARGET_MS:.2f}x the {TARGET_MS:.0f} ms target")
    # the measured white balance step, side by side at the largest size
    plain = Agent(args.model, prefer_gpu=False, threads=1, auto_white_balance=False)
    plain.predict(linear)
    w_med, _ = timed(lambda lin=linear: agent.predict(lin), args.repeat)
    n_med, _ = timed(lambda lin=linear: plain.predict(lin), args.repeat)
    print(f"{w}x{h}: Auto {w_med:.2f} ms with the measured white balance, {n_med:.2f} ms without "
          f"({w_med / n_med:.2f}x)")
    # the learned colour constancy against max-RGB, side by side
    learned = Agent(args.model, prefer_gpu=False, threads=1, constancy=True)
    maxrgb = Agent(args.model, prefer_gpu=False, threads=1, constancy=False)
    if learned.constancy is not None:
        learned.predict(linear)
        maxrgb.predict(linear)
        l_med, _ = timed(lambda lin=linear: learned.predict(lin), args.repeat)
        x_med, _ = timed(lambda lin=linear: maxrgb.predict(lin), args.repeat)
        sample = agent.sample(linear)
        s_med, _ = timed(lambda s=sample: learned.constancy.predict(s), args.repeat)
        print(f"{w}x{h}: Auto {l_med:.2f} ms with the learned colour constancy, {x_med:.2f} ms with max-RGB "
              f"({l_med / x_med:.2f}x); the model alone {s_med:.2f} ms")
    # the learned meter (blended exposure + measured contrast), side by side
    classical = Agent(args.model, prefer_gpu=False, threads=1, meter=False)
    classical.predict(linear)
    m_med, _ = timed(lambda lin=linear: agent.predict(lin), args.repeat)
    c_med, _ = timed(lambda lin=linear: classical.predict(lin), args.repeat)
    sample = agent.sample(linear)
    f_med, _ = timed(lambda s=sample: agent.meter.predict(s), args.repeat)
    print(f"{w}x{h}: Auto {m_med:.2f} ms with the learned meter, {c_med:.2f} ms without ({m_med / c_med:.2f}x); "
          f"the meter alone {f_med:.2f} ms")
    # the app's agent: onnxruntime's default thread count (all cores), side by side
    app_agent = Agent(args.model, prefer_gpu=False)
    app_agent.predict(linear)
    one_med, _ = timed(lambda lin=linear: agent.predict(lin), args.repeat)
    all_med, _ = timed(lambda lin=linear: app_agent.predict(lin), args.repeat)
    print(f"{w}x{h}: Auto {one_med:.2f} ms on 1 thread, {all_med:.2f} ms with onnxruntime's default threads "
          f"(the app's; {one_med / all_med:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
