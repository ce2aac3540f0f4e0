"""Fit a recipe to a before/after pair by gradient descent through the engine's filters.

The paper's §5.2 reverse-engineers a look with the trained agent; here it is done directly: a
chain of all agent filters in a fixed, editor-like order is optimised (Adam on each head's raw
outputs, mapped by the engine's own ``spec.from_network`` so parameters stay in range) to make
``srgb_encode(replay(before))`` match ``after`` on a random sample of the same pixels of both.
Steps that do not earn their place (removing one raises the error by less than ``tol``) are then dropped and the rest
re-tuned, so the recipe stays short and readable. A small group-sparsity term (distance of each
step from identity) during the first pass keeps the fit from spreading one edit over several
filters. Works in seconds (96² pixel samples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from engine.color import srgb_decode, srgb_encode
from engine.filters import REGISTRY
from engine.recipe import Recipe, Step
from engine.render import resize_linear

#: Order of the fitted chain: exposure and white balance first (as in a RAW editor), curves and
#: colour after.
ORDER = ("exposure", "white_balance", "gamma", "contrast", "tone", "color_curves", "saturation", "black_white")


INVISIBLE_MSE = 1e-5  # 50 dB PSNR: differences below this do not justify a step


@dataclass
class FitResult:
    recipe: Recipe
    rmse: float  # sRGB RMSE on the proxy, 0..1
    start_rmse: float

    @property
    def psnr(self) -> float:
        return -20 * math.log10(max(self.rmse, 1e-8))

    @property
    def start_psnr(self) -> float:
        return -20 * math.log10(max(self.start_rmse, 1e-8))


def _init_raw(op: str) -> torch.Tensor:
    spec = REGISTRY[op]
    return torch.tensor(spec.to_network(spec.defaults()), dtype=torch.float32)


def _chain(ops: list[str], raws: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    for op in ops:
        spec = REGISTRY[op]
        x = spec.apply(x, **spec.from_network(raws[op]))
    return x


def _deviation(op: str, raw: torch.Tensor) -> torch.Tensor:
    """How far a step is from doing nothing, in units of each parameter's range (0 = identity)."""
    spec = REGISTRY[op]
    p = spec.from_network(raw)
    total = 0.0
    for q in spec.params:
        d = (p[q.name] - q.default) / (q.max - q.min)
        total = total + (d ** 2).mean()
    return torch.sqrt(total + 1e-8)


def _optimise(ops: list[str], raws: dict[str, torch.Tensor], before: torch.Tensor, after: torch.Tensor,
              iters: int, lr: float, sparsity: float = 0.0) -> float:
    params = [raws[o] for o in ops]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters)
    loss = None
    for _ in range(iters):
        opt.zero_grad(set_to_none=True)
        loss = ((srgb_encode(_chain(ops, raws, before)) - after) ** 2).mean()
        if sparsity:  # group sparsity: steps the pair does not need drift back to identity
            loss = loss + sparsity * sum(_deviation(o, raws[o]) for o in ops)
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        return float(((srgb_encode(_chain(ops, raws, before)) - after) ** 2).mean())


def _mse(ops: list[str], raws: dict[str, torch.Tensor], before: torch.Tensor, after: torch.Tensor) -> float:
    with torch.no_grad():
        return float(((srgb_encode(_chain(ops, raws, before)) - after) ** 2).mean())


def fit(before_linear: np.ndarray, after_srgb: np.ndarray, *, size: int = 96, iters: int = 300,
        lr: float = 0.05, tol_db: float = 0.5, sparsity: float = 1e-3,
        ops: tuple[str, ...] = ORDER) -> FitResult:
    """Recipe turning ``before_linear`` (working space) into ``after_srgb`` (display, [0, 1])."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread avoids sync overhead on a busy machine
    try:
        return _fit(before_linear, after_srgb, size=size, iters=iters, lr=lr, tol_db=tol_db,
                    sparsity=sparsity, ops=ops)
    finally:
        torch.set_num_threads(threads)


def _samples(before: np.ndarray, after: np.ndarray, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same ``size``² random pixels of both images, as ``(size, size, 3)`` tensors.

    Every agent filter is pointwise, so fitting on a pixel sample is exact, where a squeezed
    proxy is not (averaging does not commute with the curves, nor with the sRGB encoding).
    """
    h, w = before.shape[:2]
    if after.shape[:2] != (h, w):  # e.g. a resized export: resample it in linear light
        after = srgb_encode(resize_linear(srgb_decode(after), w, h))
    rng = np.random.default_rng(0)
    idx = rng.choice(h * w, size * size, replace=h * w < size * size)
    pick = lambda img: torch.from_numpy(np.ascontiguousarray(  # noqa: E731
        img.reshape(-1, 3)[idx].reshape(size, size, 3), dtype=np.float32))
    return pick(before), pick(after).clamp(0, 1)


def _prune(active: list[str], raws: dict[str, torch.Tensor], before: torch.Tensor, after: torch.Tensor,
           err: float, tol_db: float) -> float:
    """Drop the step whose removal costs least, while that costs under ``tol_db`` (or stays invisible)."""
    while len(active) > 1:
        best_err, victim = min((_mse([a for a in active if a != o], raws, before, after), o) for o in active)
        if best_err > max(err * 10 ** (tol_db / 10), INVISIBLE_MSE):
            break
        active.remove(victim)
        err = best_err
    return err


def _fit(before_linear: np.ndarray, after_srgb: np.ndarray, *, size: int, iters: int, lr: float,
         tol_db: float, sparsity: float, ops: tuple[str, ...]) -> FitResult:
    torch.manual_seed(0)
    before, after = _samples(np.asarray(before_linear, np.float32), np.asarray(after_srgb, np.float32), size)
    start = float(((srgb_encode(before) - after) ** 2).mean())
    raws = {o: _init_raw(o) for o in ops}
    active = list(ops)
    err = _optimise(active, raws, before, after, iters, lr, sparsity)
    for _ in range(3):  # prune, re-tune the survivors, and again while that removes something
        n = len(active)
        err = _prune(active, raws, before, after, err, tol_db)
        err = min(err, _optimise(active, raws, before, after, iters, lr / 2))
        if len(active) == n:
            break
    steps = []
    for o in active:
        spec = REGISTRY[o]
        with torch.no_grad():
            p = spec.from_network(raws[o].detach())
        params = {q.name: _plain(np.clip(p[q.name].numpy(), q.min, q.max)) for q in spec.params}
        step = Step(o, params)
        if not step.is_identity():
            steps.append(step)
    return FitResult(Recipe(steps), math.sqrt(err), math.sqrt(start))


def _plain(a: np.ndarray) -> float | list:
    a = np.asarray(a, np.float64)
    return float(a) if a.ndim == 0 else a.tolist()
