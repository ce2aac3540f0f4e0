"""Fit a recipe to a before/after pair by gradient descent through the engine's filters.

The paper's §5.2 reverse-engineers a look with the trained agent; here it is done directly.
Parameters are each head's raw outputs, mapped by the engine's own ``spec.from_network`` over each
parameter's whole range (``whole``: the photographer's, wider than the agent's for white balance), so
they stay in range, and tuned with L-BFGS so that ``srgb_encode(replay(before))`` matches
``after`` on the same random pixels of both, taken on one pixel grid, the smaller image's
(every agent filter is pointwise, so a pixel sample is exact).

The chain of steps is searched. Two starts: greedy forward selection in an editor-like order
(:data:`ORDER`: add the filter that lowers the error most while it gains more than ``tol_db``)
and a joint fit of all filters with a group-sparsity pull towards identity, pruned. Each is then
refined one change at a time, every candidate chain re-tuned: drop the step whose removal costs
least, or swap a step for a filter with fewer parameters, while that stays within ``tol_db`` of
the best error (or invisible, above 55 dB); else move a step elsewhere, or add a missing filter
anywhere, where that gains more than ``tol_db``. Moving matters: a look made with white balance
after saturation, or exposure after contrast, cannot be matched in the editor order (36-50 dB on
real photos, where the right order gives 59); the editor order is kept where the order costs
under ``tol_db / 5``. Each filter is used at most once, so a look that needs one twice is
approximated. A step whose effect is lost in the AFTER's noise (a weak one under JPEG
artefacts) is left out: it cannot be told from no step. Where the look is matched invisibly, a
last pass drops every step it can be matched invisibly without, each candidate tuned in full.
Short, readable recipes in seconds.

Several pairs of one look are fitted at once (:func:`fit_pairs`: their pixel samples side by
side, exact for pointwise filters). One photo can leave a look undetermined: on a photo of nearly
one hue, a warmer white balance and more saturation do the same, and a look fitted on a cheetah
carried to 27 other photos at 28.3 dB where one fitted on a dam did at 37.1; the two fitted
together, at 36.3 (:mod:`models.retouch.fit_transfer`, four looks made outside the engine).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from engine.color import srgb_decode, srgb_encode
from engine.filters import REGISTRY, Sigmoid
from engine.filters.base import check_differentiable
from engine.filters.white_balance import blown
from engine.recipe import Recipe, Step, plain
from engine.render import replay, resize_linear

#: Starting order of the fitted chain: exposure and white balance first (as in a RAW editor),
#: curves and colour after. The refinement may move a step.
ORDER = check_differentiable(("exposure", "white_balance", "gamma", "contrast", "tone", "color_curves", "saturation",
                              "black_white"))


SPARSITY = 1e-3  # weight of the group-sparsity term in the joint start
MIN_OPAQUE = 0.05  # of AFTER's pixels: fewer opaque is no finished version of a photo


class FitError(ValueError):
    """A pair cannot be fitted; the message says why, about AFTER (of pair ``pair``, from 0)."""

    def __init__(self, message: str, pair: int = 0):
        super().__init__(message)
        self.pair = pair


INVISIBLE_MSE = 10 ** -5.5  # 55 dB PSNR, under half an 8-bit level: differences below do not justify a step
ROUNDS = 10  # refinement changes at most; the pairs measured needed up to 4
SCREEN, KEEP = 10, 3  # every candidate chain is tuned SCREEN iterations; the best KEEP go on

Pair = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # BEFORE linear, AFTER sRGB, AFTER's alpha
Chain = list[str]
Raws = dict[str, torch.Tensor]
Found = tuple[Chain, Raws, float]  # a chain, its raw parameters and its error (sRGB MSE)


@dataclass
class FitResult:
    recipe: Recipe
    rmse: float  # sRGB RMSE of the recipe on the fitted pixels (at the smaller image's size), 0..1
    start_rmse: float
    pair_rmse: tuple[float, ...] = ()  # the same, pair by pair

    @staticmethod
    def db(rmse: float) -> float:
        return -20 * math.log10(max(rmse, 1e-8))

    @property
    def psnr(self) -> float:
        return self.db(self.rmse)

    @property
    def start_psnr(self) -> float:
        return self.db(self.start_rmse)


def fit(before_linear: np.ndarray, after_srgb: np.ndarray, *, size: int = 64, iters: int = 300,
        tol_db: float = 0.5, ops: tuple[str, ...] = ORDER, opacity: np.ndarray | None = None,
        log: Callable[[str], None] | None = None) -> FitResult:
    """Recipe turning ``before_linear`` (working space) into ``after_srgb`` (display, [0, 1]).

    The two may differ in size (the same framing): both are compared on the smaller one's pixel
    grid, and the error reported is the one there. ``size``² pixels are fitted: 64² fits as well
    as 96² (the same steps and PSNR within 0.3 dB on three real pairs). ``iters`` bounds the
    L-BFGS iterations of a final tuning; each candidate chain of the search gets a fifth.
    ``opacity``: AFTER's alpha (its grid), where only fully opaque pixels are compared: a
    transparent pixel's stored colour is no part of the look (a rotated crop's corners).
    ``log`` gets a line per search stage (the fit takes seconds to tens of seconds)."""
    return fit_pairs([(before_linear, after_srgb, opacity)], size=size, iters=iters, tol_db=tol_db, ops=ops,
                     log=log)


def fit_pairs(pairs: list[Pair], *, size: int = 64, iters: int = 300, tol_db: float = 0.5,
              ops: tuple[str, ...] = ORDER, log: Callable[[str], None] | None = None) -> FitResult:
    """One recipe for every pair of one look, as :func:`fit` for each pair (``size``² pixels of
    each, weighted alike); the error reported is over all of them, and pair by pair."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread avoids sync overhead on a busy machine
    try:
        return _fit(pairs, size=size, iters=iters, tol_db=tol_db, ops=ops, log=log or (lambda _: None))
    finally:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------------------------
# Pixels


def _samples(before: np.ndarray, after: np.ndarray, size: int,
             opacity: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The same ``size``² random pixels of both images (on one grid), as ``(size, size, 3)`` float64
    tensors (in float32 an error near 60 dB changes by less than its rounding, and L-BFGS's line
    search breaks down there).

    Every agent filter is pointwise, so fitting on a pixel sample is exact, where a squeezed
    proxy is not (averaging does not commute with the curves, nor with the sRGB encoding).
    """
    if opacity is not None:  # carried through the resampling as a fourth channel
        after = np.concatenate([after, opacity[..., None].astype(after.dtype)], -1)
    before, after = _one_grid(before, after)
    h, w = before.shape[:2]
    rng = np.random.default_rng(0)
    if opacity is None:
        idx = rng.choice(h * w, size * size, replace=h * w < size * size)
    else:
        after, alpha = after[..., :3], after[..., 3].reshape(-1)
        opaque = np.flatnonzero(alpha >= 1 - 1e-6)  # where the look shows whole, at this size
        if len(opaque) < MIN_OPAQUE * len(alpha):
            raise FitError(f"transparent almost everywhere ({len(opaque) / len(alpha):.0%} of it is opaque at "
                           f"the size it is compared at, {w} x {h}): export it without transparency")
        idx = rng.choice(opaque, size * size, replace=len(opaque) < size * size)
    pick = lambda img: torch.from_numpy(np.ascontiguousarray(  # noqa: E731
        img.reshape(-1, 3)[idx].reshape(size, size, 3), dtype=np.float64))
    return pick(before), pick(after).clamp(0, 1)


def sample_pair(before_linear: np.ndarray, after_srgb: np.ndarray, opacity: np.ndarray | None = None,
                size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The ``size``² pixels :func:`fit_pairs` compares of one pair, as a pair it can take instead
    (every filter is pointwise: the fit is the same): a caller with many large pairs holds these
    rather than the photos. Raises :class:`FitError` as the fit would."""
    before, after = _samples(np.asarray(before_linear, np.float32), np.asarray(after_srgb, np.float32), size,
                             opacity)
    return before.numpy(), after.numpy()


def _one_grid(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images on the smaller one's pixel grid (the larger area-averaged down, in linear light),
    so pixel i of one is pixel i of the other and the error is the one at that size.

    Never upsampled: a 1500 px AFTER blown up to a 3000 px BEFORE lacks its detail, and the fit
    read that as error (33 dB for a recipe that re-renders at 51). Nor both squeezed further to a
    small proxy: the true recipe then scores 49 dB where it scores 56 on AFTER's grid.
    """
    (hb, wb), (ha, wa) = before.shape[:2], after.shape[:2]
    if (hb, wb) == (ha, wa):
        return before, after
    if hb * wb > ha * wa:
        return resize_linear(before, wa, ha), after
    return before, srgb_encode(resize_linear(srgb_decode(after), wb, hb))


# --------------------------------------------------------------------------------------------
# Tuning one chain


def _init_raw(op: str) -> torch.Tensor:
    """Raw outputs at the filter's defaults; sigmoid heads start at 0.12, not in the flat tail at 0."""
    spec = REGISTRY[op]
    raw = torch.tensor(spec.to_network(spec.defaults(), whole=True), dtype=torch.float64)
    i = 0
    for p in spec.params:
        if isinstance(p.mapping, Sigmoid):
            raw[i:i + p.size] = raw[i:i + p.size].clamp(min=-2.0)
        i += p.size
    return raw


#: The last pixels :func:`_chain` saw and their blown weight: a fit runs its chains on one sample
#: of BEFORE hundreds of times, and the weight cost ~11 % of each evaluation.
_LAST_BLOWN: tuple[torch.Tensor, torch.Tensor] | None = None


def _blown(x: torch.Tensor) -> torch.Tensor:
    global _LAST_BLOWN
    last = _LAST_BLOWN  # read once: another thread's fit may replace it
    if last is None or last[0] is not x:
        last = _LAST_BLOWN = (x, blown(x))
    return last[1]


def _chain(chain: Chain, raws: Raws, x: torch.Tensor) -> torch.Tensor:
    """``x`` through ``chain`` as :func:`engine.render.replay` renders it: white balance leaves
    what is blown white in ``x`` alone (without it, a fit balanced those pixels and then lost
    to them the error it is judged by)."""
    weight = _blown(x) if any(REGISTRY[op].uses_blown for op in chain) else None
    for op in chain:
        spec = REGISTRY[op]
        x = spec.apply(x, blown=weight, **spec.from_network(raws[op], whole=True))
    return x


def _deviation(op: str, raw: torch.Tensor) -> torch.Tensor:
    """How far a step is from doing nothing, in units of each parameter's range (0 = identity)."""
    spec = REGISTRY[op]
    p = spec.from_network(raw, whole=True)
    total = sum(((p[q.name] - q.default) / (q.network_range[1] - q.network_range[0])).pow(2).mean()
                for q in spec.params)
    return torch.sqrt(total + 1e-8)


def _loss(chain: Chain, raws: Raws, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    return ((srgb_encode(_chain(chain, raws, before)) - after) ** 2).mean()


def _mse(chain: Chain, raws: Raws, before: torch.Tensor, after: torch.Tensor) -> float:
    with torch.no_grad():
        return float(_loss(chain, raws, before, after))


def _optimise(chain: Chain, raws: Raws, before: torch.Tensor, after: torch.Tensor, iters: int,
              sparsity: float = 0.0) -> float:
    """Tune ``raws`` of ``chain`` in place, at most ``iters`` L-BFGS iterations; the error after.

    L-BFGS rather than Adam: a few dozen parameters on a smooth loss. On real pairs it reached a
    4-step chain's optimum in 40-50 evaluations (0.2 s) where Adam took 300 iterations (1.1 s),
    and a tone curve's in 107 where 1000 Adam iterations stopped 1.7 dB short. The loss is the
    error's log (dB, in effect): a weak step's small gradient then still counts near 60 dB, where
    on the plain error the search stopped with saturation 0.12 for a look made with 0.35."""
    params = [raws[o].requires_grad_(True) for o in chain]
    if params:
        opt = torch.optim.LBFGS(params, max_iter=iters, history_size=20, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-9, tolerance_change=1e-7)

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            loss = _loss(chain, raws, before, after)
            if sparsity:
                loss = loss + sparsity * sum(_deviation(o, raws[o]) for o in chain)
            loss = torch.log(loss)
            loss.backward()
            return loss

        opt.step(closure)
        for p in params:
            p.requires_grad_(False)
    return _mse(chain, raws, before, after)


def _trial(chain: Chain, raws: Raws, before: torch.Tensor, after: torch.Tensor, iters: int) -> Found:
    """``chain`` re-tuned from copies of ``raws`` (a filter new to it starts at its defaults)."""
    trial = {o: raws[o].detach().clone() if o in raws else _init_raw(o) for o in chain}
    return chain, trial, _optimise(chain, trial, before, after, iters)


def _names(chain: Chain) -> str:
    """The chain as the editor's cards name its steps (the progress dialog shows these lines)."""
    return ", ".join(REGISTRY[o].label for o in chain)


def _db(mse: float) -> str:
    return f"{-10 * math.log10(max(mse, 1e-16)):.1f} dB"


def _gains(new: float, old: float, tol_db: float) -> bool:
    """A change worth a step: it lowers a still visible error by more than ``tol_db``."""
    return old > INVISIBLE_MSE and new < old * 10 ** (-tol_db / 10)


def _costs_nothing(new: float, best: float, tol_db: float) -> bool:
    return new <= max(best * 10 ** (tol_db / 10), INVISIBLE_MSE)


# --------------------------------------------------------------------------------------------
# Searching the chain


def _forward(before: torch.Tensor, after: torch.Tensor, ops: tuple[str, ...], iters: int, tol_db: float,
             start: float, log: Callable[[str], None]) -> Found:
    """Greedy forward selection in ``ops``' order: add the filter that helps most (the chain
    re-tuned), while it helps."""
    chain: Chain = []
    raws: Raws = {}
    err = start
    while len(chain) < len(ops):
        cand = _best([([x for x in ops if x in chain or x == o], raws) for o in ops if o not in chain],
                     before, after, iters)
        if cand is None or not _gains(cand[2], err, tol_db):
            break
        chain, raws, err = cand
        log(f"forward search: {_names(chain)} ({_db(err)})")
    return chain, raws, err


def _joint(before: torch.Tensor, after: torch.Tensor, ops: tuple[str, ...], iters: int, tol_db: float,
           log: Callable[[str], None]) -> Found:
    """The whole chain tuned at once, a group-sparsity term pulling unneeded steps to identity;
    the steps whose removal (nothing re-tuned) costs nothing dropped, the rest re-tuned."""
    chain, raws = list(ops), {o: _init_raw(o) for o in ops}
    err = _optimise(chain, raws, before, after, iters, SPARSITY)
    log(f"joint search: all {len(chain)} filters ({_db(err)})")
    best = err
    while len(chain) > 1:
        cost, victim = min((_mse([a for a in chain if a != o], raws, before, after), o) for o in chain)
        if not _costs_nothing(cost, best, tol_db):
            break
        chain.remove(victim)
    err = _optimise(chain, raws, before, after, iters)
    log(f"joint search: {_names(chain)} ({_db(err)})")
    return chain, raws, err


def _refine(found: Found, before: torch.Tensor, after: torch.Tensor, ops: tuple[str, ...], iters: int,
            tol_db: float, log: Callable[[str], None], seen: set[tuple[str, ...]]) -> Found:
    """Stepwise search from ``found``, one change per round, every candidate chain re-tuned: drop
    the step that costs least, else swap a step for a filter with fewer parameters, while that
    costs nothing; else take the move or addition that gains most, while it gains.

    Re-tuning is what frees a simple edit that a flexible curve had absorbed: exposure +0.13
    with a tone curve at its limits, for a look made with exposure +0.6, scored 47 dB; dropping
    the curve and re-tuning gives 59 dB. A chain in ``seen`` (an earlier refinement went on from
    it) ends the search there.
    """
    chain, raws, err = found
    best = err
    for _ in range(ROUNDS):
        seen.add(tuple(chain))
        change = _next(chain, raws, err, best, before, after, ops, iters, tol_db)
        if change is None:
            break
        what, (chain, raws, err) = change
        best = min(best, err)
        log(f"refining search ({what}): {_names(chain)} ({_db(err)})")
        if tuple(chain) in seen:
            break
    return chain, raws, err


def _next(chain: Chain, raws: Raws, err: float, best: float, before: torch.Tensor, after: torch.Tensor,
          ops: tuple[str, ...], iters: int, tol_db: float) -> tuple[str, Found] | None:
    """This round's change, named, or None: the first stage whose best candidate is acceptable."""
    stages = (("dropped", _drops(chain, raws), True), ("simplified", _swaps(chain, raws, ops), True),
              ("changed", _changes(chain, raws, ops), False))
    for what, candidates, free in stages:
        if not free and err <= INVISIBLE_MSE:  # nothing visible left to gain
            return None
        cand = _best(candidates, before, after, iters)
        if cand is not None and (_costs_nothing(cand[2], best, tol_db) if free else _gains(cand[2], err, tol_db)):
            return what, cand
    return None


Candidates = list[tuple[Chain, Raws]]  # chains to try, with the raws they start from


def _drops(chain: Chain, raws: Raws) -> Candidates:
    """``chain`` less one step, re-tuned from where it is and from the defaults (the warm start can
    stay in the corner the dropped step had pushed the others to)."""
    rests = [[x for x in chain if x != o] for o in chain] if len(chain) > 1 else []
    return [(c, r) for c in rests for r in (raws, {})]


def _swaps(chain: Chain, raws: Raws, ops: tuple[str, ...]) -> Candidates:
    """``chain`` with one step replaced by a filter it lacks with fewer parameters: a tone curve at
    its limits standing in for exposure has no gradient left to give way by itself."""
    size = lambda o: REGISTRY[o].n_outputs  # noqa: E731
    return [([*chain[:i], n, *chain[i + 1:]], raws) for i, o in enumerate(chain) for n in ops
            if n not in chain and size(n) < size(o)]


def _changes(chain: Chain, raws: Raws, ops: tuple[str, ...]) -> Candidates:
    """Every chain one move (a step to another place) or one addition (anywhere) away."""
    moved = {(*rest[:j], o, *rest[j:]) for i, o in enumerate(chain)
             for rest in [chain[:i] + chain[i + 1:]] for j in range(len(chain))} - {tuple(chain)}
    added = [[*chain[:j], o, *chain[j:]] for o in ops if o not in chain for j in range(len(chain) + 1)]
    return [(list(c), raws) for c in sorted(moved)] + [(c, raws) for c in added]


def _best(candidates: Candidates, before: torch.Tensor, after: torch.Tensor, iters: int) -> Found | None:
    """The best candidate: each is tuned ``SCREEN`` iterations and only the ``KEEP`` most
    promising go on to ``iters`` (most are far off, and there can be 30 or more)."""
    screened = sorted((_trial(c, r, before, after, SCREEN) for c, r in candidates), key=lambda t: t[2])
    return min((_trial(c, r, before, after, iters) for c, r, _ in screened[:KEEP]), key=lambda t: t[2], default=None)


def _pair_samples(pairs: list[Pair], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every pair's samples, stacked: (n × ``size``, ``size``, 3), pair i in rows i × ``size`` on."""
    samples = []
    for i, (before, after, opacity) in enumerate(pairs):
        try:
            if before.shape == after.shape == (size, size, 3) and before.dtype == np.float64 and opacity is None:
                samples.append((torch.from_numpy(before), torch.from_numpy(after).clamp(0, 1)))  # sample_pair's
            else:
                samples.append(_samples(np.asarray(before, np.float32), np.asarray(after, np.float32), size,
                                        opacity))
        except FitError as e:
            raise FitError(str(e), i) from None
    return torch.cat([s[0] for s in samples]), torch.cat([s[1] for s in samples])


def _per_pair(rendered: torch.Tensor, after: torch.Tensor, size: int) -> tuple[float, ...]:
    err = ((rendered - after) ** 2).reshape(-1, size * size * 3).mean(1)
    return tuple(math.sqrt(float(e)) for e in err)


def _fit(pairs: list[Pair], *, size: int, iters: int, tol_db: float, ops: tuple[str, ...],
         log: Callable[[str], None]) -> FitResult:
    if not pairs:
        raise ValueError("no pairs to fit")
    torch.manual_seed(0)
    before, after = _pair_samples(pairs, size)
    start = float(((srgb_encode(before) - after) ** 2).mean())
    log(f"before fitting: {_db(start)}")
    if start <= INVISIBLE_MSE:  # already matched: the searches would keep a step that does nothing
        return FitResult(Recipe(), math.sqrt(start), math.sqrt(start), _per_pair(srgb_encode(before), after, size))
    trial_iters = max(1, iters // 5)
    # Two starts, because each has its trap: greedy picks a flexible curve first when several
    # simple edits were combined; the joint fit can let a curve absorb a weak edit. The stepwise
    # refinement gets out of most of either: the better start is refined first, the other only
    # while something visible is left to gain. Keep the better (fewer steps when within tol_db).
    starts = sorted([_forward(before, after, ops, trial_iters, tol_db, start, log),
                     _joint(before, after, ops, iters, tol_db, log)], key=lambda r: r[2])
    seen: set[tuple[str, ...]] = set()
    results = [_refine(starts[0], before, after, ops, trial_iters, tol_db, log, seen)]
    if results[0][2] > INVISIBLE_MSE:
        results.append(_refine(starts[1], before, after, ops, trial_iters, tol_db, log, seen))
    else:  # both may be exact (a grey frame made lighter): the one with fewer steps is then kept
        results.append(starts[1])
    best = min(r[2] for r in results)
    chain, raws, err = min((r for r in results if _costs_nothing(r[2], best, tol_db)),
                           key=lambda r: (len(r[0]), r[2]))
    ordered = sorted(chain, key=ops.index)
    if ordered != chain:  # the editor order reads better: taken where the order hardly matters
        cand = _trial(ordered, raws, before, after, trial_iters)
        if _costs_nothing(cand[2], err, tol_db / 5):
            chain, raws, err = cand
    err = _optimise(chain, raws, before, after, iters)
    chain, raws = _prune_invisible(chain, raws, err, before, after, iters, log)
    recipe = Recipe([s for s in (_step(o, raws[o]) for o in chain) if not s.is_identity()])
    with torch.no_grad():  # the error of the recipe as written (clipped, identity steps gone)
        rendered = srgb_encode(replay(recipe, before))
        err = float(((rendered - after) ** 2).mean())
    return FitResult(recipe, math.sqrt(err), math.sqrt(start), _per_pair(rendered, after, size))


def _prune_invisible(chain: Chain, raws: Raws, err: float, before: torch.Tensor, after: torch.Tensor,
                     iters: int, log: Callable[[str], None]) -> tuple[Chain, Raws]:
    """Where the look is matched invisibly, the steps it can be matched invisibly without, dropped
    with every candidate tuned in full: the search's short tuning can stop a step short of it (a
    known 5-step look came back with a 6th, colour curves at their limits, at 56.8 dB)."""
    while err <= INVISIBLE_MSE and len(chain) > 1:
        cand = _best(_drops(chain, raws), before, after, iters)
        if cand is None or cand[2] > INVISIBLE_MSE:
            break
        chain, raws, err = cand
        log(f"pruned: {_names(chain)} ({_db(err)})")
    return chain, raws


def _step(op: str, raw: torch.Tensor) -> Step:
    spec = REGISTRY[op]
    with torch.no_grad():
        p = spec.from_network(raw.detach(), whole=True)
    return Step(op, {q.name: plain(np.clip(p[q.name].numpy(), q.min, q.max)) for q in spec.params})


