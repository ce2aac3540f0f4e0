"""The learned agent at inference: 5 steps on a 64x64 proxy, returned as an editable Recipe.

The policy graph (``models/retouch/export.py``) maps a linear proxy and the episode state to
a pdf over the 8 filters and every filter head's raw outputs. Here, each step picks the most
likely filter (the paper's test-time argmax), maps its raw outputs to parameters with the
engine's own ``spec.from_network``, applies ``spec.apply`` to the proxy and records the step
with the probabilities of all 8 filters. The Recipe is then replayed at full resolution by
``engine.render``.

Variations use the paper's dropout "one-to-many": each variation draws its own dropout masks
from ``seed`` (keep 0.5) and samples each step's filter from the policy's probabilities, as in
training: on the five held-out fixtures, dropout alone moved the picture by ~1/255 on average
from Auto, too little to tell apart; with sampling, ~1.7/255. So the pdf is flattened
(``VARIATION_TEMPERATURE``: less likely filters get more of a chance), 8 candidates are drawn per
variation shown and the most distinct kept (:func:`spread`). The same seed gives the same recipes.

Auto exposure (a departure from the paper, on by default): before the policy runs, a
classical, deterministic exposure normalisation in the spirit of LibRaw's auto-bright maps the
99th percentile of the brightest channel to 0.9 (:func:`auto_exposure_ev`). It is recorded as an ordinary
first ``exposure`` step (``probs=None``: not the policy's choice), applied to the proxy, and the
policy's 5 steps refine the normalised proxy. The trained policy responds only weakly to a
photo's overall brightness; this pre-step supplies exactly that.

Strength (also a departure): the policy's steps are returned at ``AUTO_STRENGTH`` of what it
predicted, each parameter moved that far from its default (``Recipe.with_strength``). On photos
it has not seen, the policy's guesses are often right and sometimes far off; a shorter step
keeps most of the gain and loses less when it is wrong (measured in models/retouch/MODEL.md).
The app's Strength slider and ``retouch auto --strength`` change it.

Auto white balance (a departure too, on by default, after the exposure step): the learned colour
constancy (:mod:`engine.runners.constancy`, thirteenth session), taken 70 % of the way
(``CONSTANCY_SHARE``): a cast the photographer meant (a sunset) keeps some of its warmth, a camera's
wrong guess loses most of its error. Where the photo's colours cannot tell the light from the
subject, the model answers about neutral and the colours stay. Without the model (or with
``constancy=False``) it is classical max-RGB (each channel's 99.5th percentile over the unclipped
pixels is the white) at ``AUTO_WB_SHARE``; shades of grey (Finlayson & Trezzi 2004) until the ninth
session. The shipped policy rarely fixes a cast itself (one step in three on the check set);
measured in models/retouch/HISTORY.md (sixth session).

The learned meter (eighth session, :mod:`engine.runners.meter`): a linear model of 24 photo
statistics, fitted to degraded photos whose offsets are known. Auto's exposure takes
``METER_EV_SHARE`` of its EV (the rest is the percentile rule's), and a ``gamma`` step about mid
grey undoes ``AUTO_CONTRAST_SHARE`` of the contrast it measures. ``Agent(meter=False)``: without.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import color
from ..color import MID_GREY, srgb_encode  # the contrast step pivots at mid grey
from ..filters import AGENT_FILTERS, REGISTRY, FilterSpec
from ..filters.base import replay_steps
from ..recipe import Recipe, Step, plain
from ..render import make_proxy, render_exact
from . import RESOURCES, ModelError
from .constancy import DEFAULT_WB, ColourConstancy
from .constancy import load as load_constancy
from .meter import DEFAULT_METER, Meter, ranks
from .meter import load as load_meter

DEFAULT_MODEL = RESOURCES / "retouch.onnx"

AUTO_PERCENTILE = 99.0  # like LibRaw's auto-bright (auto_bright_thr 0.01): ~1 % of values above the level
AUTO_TARGET = 0.9  # chosen on the check set (degraded target photos) over 1.0; models/retouch/MODEL.md
AUTO_MIN_EV = 0.05  # smaller corrections are not worth a step card
#: Chosen on the check + val sets for the shipped policy, retrained on the meter's steps (0.3 for
#: the weights before it, 0.7 before the meter); models/retouch/HISTORY.md, tenth session.
AUTO_STRENGTH = 0.6
#: The most a strength may be (``--strength``, a style's own): twice what the policy predicted
MAX_STRENGTH = 2.0
#: A policy step that moves fewer than ``NOOP_SHARE`` of the proxy's pixels by this much on the
#: display is a "pass" and gets no card: the shipped policy spends a step on a saturation of ~0.000
#: on nearly every photo, and at Auto's strength leaves cards such as "Black & white: amount 0.01"
#: that change a few saturated pixels by a level and nothing visible. 2 levels is about the least
#: a careful eye notices side by side (models/retouch/HISTORY.md: any pixel by half a level until
#: the sixteenth session, 1 % by 1 level until the twenty-first; 2.9 -> 1.6 policy cards per photo
#: on check + val, +0.03 dB).
NOOP_LEVEL = 2 / 255
#: a photo whose channels differ by no more than this (linear), on ``GREY_CELLS`` cells at the
#: ``GREY_PERCENTILE``, is a grey photo (:func:`is_grey`)
GREY_TOLERANCE = 2e-3
GREY_PERCENTILE = 99.0
#: the area average a photo is judged grey on: each cell holds ~10x the samples of a 64 x 64 proxy's
#: pixel, so channel noise falls ~3x below the tolerance; a colour region of more than ~1 % of the
#: frame still shows (at the 99th percentile, two cells of 256 may be coloured: a selective-colour
#: accent that small is judged grey, and only the policy's colour steps and a white balance give way)
GREY_CELLS = 16
NOOP_SHARE = 0.01
#: The bounds of a display change, cheap to take from the linear one.
SRGB_MAX_SLOPE, SRGB_MIN_SLOPE = color.MAX_SLOPE, color.MIN_SLOPE
#: max-RGB: the white is each channel's 99.5th percentile over the unclipped pixels; with the share,
#: picked among 7 estimators on the training inputs (models/retouch/HISTORY.md, ninth session; shades of grey before).
AUTO_WB_PERCENTILE = 99.5
PARAM_DECIMALS = 4  # the agent's parameters in a recipe (a 1e-4 step changes no pixel)
#: The policy's ONNX inputs, in order (``models.retouch.export`` writes them).
POLICY_INPUTS = ("proxy", "state", "mask_sel", "mask_par")
AUTO_WB_SHARE = 0.7  # how much of the measured cast is removed
#: Auto's measured white balance, as ``retouch auto`` and ``retouch batch`` offer it: the learned
#: colour constancy, max-RGB, or none (the camera's, as shot).
WHITE_BALANCES = ("learned", "max-rgb", "off")


def white_balance_options(choice: str) -> dict[str, bool]:
    """The :class:`Agent` options for one of ``WHITE_BALANCES``."""
    if choice not in WHITE_BALANCES:
        raise ValueError(f"white balance {choice!r}: not one of {', '.join(WHITE_BALANCES)}")
    return {"auto_white_balance": choice != "off", "constancy": choice == "learned"}


AUTO_WB_MIN = 0.01  # smaller gain changes (1 %) are not worth a step card
#: The measured gains stay within exp(+-0.3) (the agent's range is exp(+-0.5), the card's exp(+-1.5)):
#: a frame filled by one colour
#: (an orange flower) otherwise reaches the filter's limit. Chosen on check + val; MODEL.md.
AUTO_WB_MAX = 0.3
#: The learned meter (engine.runners.meter) takes this share of the exposure (the rest is the
#: percentile rule's) and removes this share of the contrast it measures; models/retouch/HISTORY.md, eighth session.
METER_EV_SHARE = 0.5  # 0.3 at the policy's old strength 0.7 (eighth session)
AUTO_CONTRAST_SHARE = 0.5
#: The learned colour constancy (engine.runners.constancy), Auto's white balance since the thirteenth
#: session: the share of the cast it measures that is removed, and each gain's limit (exp(+-limit)),
#: as max-RGB's; chosen on check + val among 0.7 / 1 and 0.3 / 0.5 (models/retouch/MODEL.md).
CONSTANCY_SHARE = 0.7
CONSTANCY_MAX = 0.3
AUTO_CONTRAST_MIN = 0.01  # |log gamma| below this is not worth a step card
AUTO_CONTRAST_MAX = 0.3  # the gamma stays within exp(+-0.3), beyond any contrast the meter saw
#: A steepening contrast step never pushes the exposure's white (the brightest channel's
#: ``AUTO_PERCENTILE``) past 1: see :func:`highlight_cap` (twenty-third session, HISTORY.md).
AUTO_CONTRAST_CAP = True
SAMPLE_FACTOR = 2  # the sample has at least this many times the proxy size per side (see sample)
#: Variations: candidates drawn per variation shown (the most distinct are kept). Four variations
#: of 19 val photos (proxy renders, 8-bit sRGB) differ by 1.5 / 3.6 (/255) with 1 / 8 at
#: temperature 1, in ~0.06 / 0.35 s; 16 draws take twice as long for ~1/255 more (MODEL.md).
VARIATION_POOL = 8
#: Variations sample each step's filter from the policy's pdf raised to 1 / T and renormalised:
#: at T = 2 four variations differ by 6.1/255 instead of 3.6 (19 val photos), and each is on
#: average 0.5 dB further from the original than at T = 1 (23.05 vs 23.54 dB; Auto 23.67, LibRaw's
#: default 22.14). Steps record the policy's own pdf, not the tempered one.
VARIATION_TEMPERATURE = 2.0
#: Variations show the policy's alternatives as it predicted them: shortened (at 0.3) four of them
#: differed by 0.8/255 on average, which no one can see in a thumbnail (2.7/255 at 1; MODEL.md).
VARIATION_STRENGTH = 1.0


def auto_exposure_ev(linear: np.ndarray, percentile: float = AUTO_PERCENTILE, target: float = AUTO_TARGET) -> float:
    """EV that maps the brightest channel's ``percentile`` to ``target``, clamped to the exposure
    filter's range; 0.0 when the correction is below ``AUTO_MIN_EV``.

    As LibRaw's auto-bright: the white level is the largest per-channel percentile, so a
    saturated colour is not pushed into clipping (a luminance percentile would be).
    """
    return exposure_ev(white_level(linear, percentile), target)


def exposure_ev(level: float, target: float = AUTO_TARGET) -> float:
    """:func:`auto_exposure_ev` for a white ``level`` already measured (:func:`white_level`)."""
    ev_param = REGISTRY["exposure"].params[0]
    ev = ev_param.max if level <= 1e-6 else math.log2(target / level)
    ev = float(np.clip(ev, ev_param.min, ev_param.max))
    return 0.0 if abs(ev) < AUTO_MIN_EV else round(ev, 4)


def auto_white_balance(linear: np.ndarray, percentile: float = AUTO_WB_PERCENTILE,
                       share: float = AUTO_WB_SHARE, constancy: ColourConstancy | None = None,
                       limit: float = AUTO_WB_MAX) -> dict[str, float] | None:
    """The white balance filter's ``green`` and ``blue`` gains that remove ``share`` of the
    colour cast measured by :func:`measured_white`, or None when they are within ``AUTO_WB_MIN``
    of neutral or the photo has too little to measure. Each gain stays within ``exp(+-limit)``."""
    full, _ = measured_white(linear, constancy, percentile)
    return None if full is None else _gains(REGISTRY["white_balance"], full, share, limit)


#: The measured white balance step's ``source``, by the estimator that measured it.
WB_SOURCES = {"learned": "auto-white-balance", "max-RGB": "auto-white-balance-max-rgb"}


def measured_white(linear: np.ndarray, constancy: ColourConstancy | None = None,
                   percentile: float = AUTO_WB_PERCENTILE) -> tuple[np.ndarray | None, str]:
    """The full-strength (green, blue) gains relative to red that neutralise the photo's cast
    (None: too little to measure), and the estimator that measured them (a key of ``WB_SOURCES``):
    the learned ``constancy`` model when given and able to, else max-RGB (each channel's
    ``percentile`` is the white).

    Pixels near the brightest value are left out: clipped highlights are white whatever the light.
    A high percentile rather than the maximum: a few hot or saturated pixels do not decide it.
    """
    pred = constancy.predict(linear) if constancy is not None else None
    if pred is not None:
        return np.exp(np.asarray(pred)), "learned"
    # no model, or too few pixels for its histograms (no channel may be near black there): max-RGB
    e = max_rgb_white(linear, percentile)
    return (None if e is None else np.array([e[0] / e[1], e[0] / e[2]])), "max-RGB"


def max_rgb_white(linear: np.ndarray, percentile: float = AUTO_WB_PERCENTILE) -> np.ndarray | None:
    """Max-RGB's white: each channel's ``percentile`` over the pixels below 95 % of the brightest
    (clipped highlights are white whatever the light), or None with too little to measure."""
    x = np.asarray(linear, np.float32).reshape(-1, 3)
    top = np.maximum(np.maximum(x[:, 0], x[:, 1]), x[:, 2])  # ~10x faster than x.max(1)
    peak = float(top.max()) if len(x) else 0.0
    kept = np.compress((top < 0.95 * peak) & (top > 1e-4), x, axis=0)  # ~8x faster than x[mask]
    if len(kept) < 64:
        return None
    e = np.array([float(ranks(kept[:, c], (percentile,))[0]) for c in range(3)])
    return None if np.any(e <= 1e-8) else e


def _gains(wb: FilterSpec, full: np.ndarray, share: float, limit: float) -> dict[str, float] | None:
    """``share`` of the full-strength gains ``full`` (green, blue), within the filter and ``limit``."""
    gains = {}
    for p, g in zip(wb.params, full):  # green, blue relative to red
        gains[p.name] = float(rounded(float(g) ** share, max(p.min, math.exp(-limit)), min(p.max, math.exp(limit))))
    if all(abs(math.log(g)) < AUTO_WB_MIN for g in gains.values()):
        return None
    return gains


def auto_contrast_gamma(log_contrast: float, share: float = AUTO_CONTRAST_SHARE,
                        cap: float = math.inf, floor: float = 0.0) -> float | None:
    """The ``gamma`` filter's value that removes ``share`` of a measured log contrast (> 0: the
    photo is harsher than a finished rendering), within ``floor`` and ``cap`` (:func:`highlight_cap`,
    :func:`pivot_room`), or None when too small to be worth a step."""
    g = float(np.clip(-share * log_contrast, -AUTO_CONTRAST_MAX, AUTO_CONTRAST_MAX))
    if cap < math.inf:  # the cap rounded down, as the gamma is to 4 decimals: at or below white
        g = min(g, math.log(math.floor(cap * 1e4) / 1e4))
    if floor > 0.0:  # and the floor rounded up
        g = max(g, math.log(math.ceil(floor * 1e4) / 1e4))
    return None if abs(g) < AUTO_CONTRAST_MIN else round(math.exp(g), 4)


def pivot_room(up: float, down: float) -> tuple[float, float]:
    """The gammas (floor, cap) whose :func:`pivot_ev` fits in the exposure range left: ``up`` EV
    above the exposure, ``down`` EV below it. A photo metered at the exposure's limit keeps mid
    grey where it is only with a gentler contrast step (none at all, at the limit itself)."""
    a = math.log2(MID_GREY)  # < 0: pivot_ev(g) = a / g - a, increasing in g
    cap = a / (up + a) if up < -a else math.inf
    return a / (a - down), cap


def highlight_cap(level: float) -> float:
    """The largest gamma about mid grey that keeps ``level`` (a linear value, the highlights) at or
    below white: ``0.18 (level / 0.18)^g <= 1``; 1 once ``level`` is at white already (a steeper
    curve would only clip more), and no cap (inf) for highlights at or below mid grey."""
    if level <= MID_GREY:
        return math.inf
    if level >= 1.0:
        return 1.0
    return math.log(1.0 / MID_GREY) / math.log(level / MID_GREY)


def white_level(linear: np.ndarray, percentile: float = AUTO_PERCENTILE) -> float:
    """The brightest channel's ``percentile``: the white :func:`auto_exposure_ev` meters."""
    flat = np.asarray(linear, np.float32).reshape(-1, 3)
    return max(float(ranks(flat[:, c], (percentile,))[0]) for c in range(3))  # ~15x np.percentile's speed


def pivot_ev(gamma: float) -> float:
    """The exposure (EV) that, applied before a ``gamma`` step, keeps mid grey where it is: the
    pair is ``x -> 0.18 (x / 0.18)^gamma``, Auto's contrast step."""
    return math.log2(MID_GREY) * (1 - gamma) / gamma


def blend_ev(percentile_ev: float, meter_ev: float) -> float:
    """Auto's exposure: ``METER_EV_SHARE`` of the learned meter's, the rest the percentile rule's."""
    return (1 - METER_EV_SHARE) * percentile_ev + METER_EV_SHARE * meter_ev


def measured_steps(sample: np.ndarray, *, exposure: bool = True, white_balance: bool = True,
                   contrast: bool = True, meter: Meter | None = None,
                   constancy: ColourConstancy | None = None, grey: bool | None = None) -> list[Step]:
    """The measured steps Auto starts with, each from ``sample`` (the photo as decoded) and left
    out when off or not needed:

    1. exposure: :func:`auto_exposure_ev`, blended with the learned ``meter``'s (when given) by
       ``METER_EV_SHARE``, plus the contrast step's pivot (below);
    2. white balance: :func:`auto_white_balance`, by the learned ``constancy`` model when given
       (scale-free: the exposure does not change it);
    3. contrast (with a meter): a ``gamma`` step removing ``AUTO_CONTRAST_SHARE`` of the contrast
       the meter measures, pivoting at mid grey, i.e. ``x -> 0.18 (x / 0.18)^gamma``; its
       ``0.18^(1 - gamma)`` is folded into step 1's exposure (applied before the power). A
       steepening gamma is capped so that the exposure's white (measured before the white
       balance) stays at or below 1 (:func:`highlight_cap`).

    A grey photo (``grey``, else judged here by :func:`is_grey`) gets no white balance.
    """
    steps = []
    pred = meter.predict(sample) if meter is not None and (exposure or contrast) else None
    level = white_level(sample) if exposure or pred is not None else 0.0  # the exposure's white, measured once
    ev = exposure_ev(level) if exposure else 0.0
    if pred is not None and exposure:
        ev = blend_ev(ev, pred["ev"])
    ev_param = REGISTRY["exposure"].params[0]
    ev = float(np.clip(ev, ev_param.min, ev_param.max))  # before the pivot, so the pivot is never clipped away
    cap = highlight_cap(level * 2.0**ev) if AUTO_CONTRAST_CAP else math.inf  # keep the exposure's highlights
    floor, room = pivot_room(ev_param.max - ev, ev - ev_param.min)
    gamma = (auto_contrast_gamma(pred["log_contrast"], cap=min(cap, room), floor=floor)
             if pred is not None and contrast else None)
    if gamma is not None:
        ev = float(np.clip(ev + pivot_ev(gamma), ev_param.min, ev_param.max))  # the clip: rounding only
    if abs(ev) >= AUTO_MIN_EV or (gamma is not None and ev != 0.0):
        steps.append(Step("exposure", {"ev": round(ev, 4)}, source="auto-exposure"))
    if white_balance and grey is None:
        grey = is_grey(sample)
    if white_balance and not grey:  # a grey photo stays grey
        full, how = measured_white(sample, constancy)
        share, limit = (CONSTANCY_SHARE, CONSTANCY_MAX) if constancy is not None else (AUTO_WB_SHARE, AUTO_WB_MAX)
        gains = None if full is None else _gains(REGISTRY["white_balance"], full, share, limit)
        if gains is not None:
            steps.append(Step("white_balance", gains, source=WB_SOURCES[how]))
    if gamma is not None:
        steps.append(Step("gamma", {"gamma": gamma}, source="auto-contrast"))
    return steps


def white_balance_step(linear: np.ndarray, constancy: bool | str | Path = True, *, raw: bool = False) -> Step | None:
    """Auto's measured white balance alone, as a step (Photo > Auto White Balance), measured on the
    photo as decoded, sampled as Auto samples it (``raw``: a RAW decode, see :func:`agent_view`);
    None when the photo is already about neutral or has too little to measure. ``constancy``: the
    learned model (True: the shipped one; or a path), False: max-RGB."""
    model = None if constancy is False else load_constancy(DEFAULT_WB if constancy is True else constancy)
    steps = measured_steps(sample_of(linear, raw=raw), exposure=False, contrast=False, constancy=model)
    return steps[0] if steps else None


def display_change(before: np.ndarray, after: np.ndarray) -> float:
    """How far a step moves the display (sRGB, 0-1) between two linear images: the change that
    ``NOOP_SHARE`` of the pixels reach (each pixel's largest channel change). Exact where it
    decides; far from ``NOOP_LEVEL`` a bound on the same side of it, as the sRGB curve's slope
    lies between ``SRGB_MIN_SLOPE`` and ``SRGB_MAX_SLOPE`` (encoding both images costs ~10x more,
    and a step that moves nearly every pixel would pay it twice per Auto)."""
    d = np.abs(np.clip(after, 0, 1) - np.clip(before, 0, 1))
    k = min(d[..., 0].size - 1, int(d[..., 0].size * (1 - NOOP_SHARE)))
    linear = _share_reached(d, k)
    if SRGB_MAX_SLOPE * linear < NOOP_LEVEL:  # surely nothing visible
        return SRGB_MAX_SLOPE * linear
    if SRGB_MIN_SLOPE * linear >= NOOP_LEVEL:  # surely visible
        return SRGB_MIN_SLOPE * linear
    return _share_reached(np.abs(srgb_encode(after) - srgb_encode(before)), k)


def _share_reached(d: np.ndarray, k: int) -> float:
    """The ``k``-th smallest of the pixels' largest channel ``d`` (np.maximum: ~10x .max(-1))."""
    moved = np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2]).ravel()
    return float(np.partition(moved, k)[k])


def at_strength(recipe: Recipe, proxy: np.ndarray, amount: float) -> Recipe:
    """``recipe.with_strength(amount)`` without the agent's steps that, so shortened, no longer
    move ``NOOP_SHARE`` of the pixels of ``proxy`` (the image before the recipe's first step) by
    ``NOOP_LEVEL`` on the display: a card that does nothing visible is left out, as the policy's
    own passes are. Other steps all stay."""
    scaled = recipe.with_strength(amount)
    if amount == 1.0:  # as predicted: the policy's passes are already out
        return scaled
    for step in scaled.steps:
        if step.probs is not None:
            step.params = {p.name: plain(rounded(step.params[p.name], p.min, p.max)) for p in step.spec.params}
    img, kept = np.asarray(proxy, np.float32), []
    for step in scaled.steps:
        if step.is_identity():  # off, or at its defaults: rendering skips it (a gamma of 1 floors black)
            if step.probs is None:
                kept.append(step)
            continue
        new = apply_steps(img, [step])
        if step.probs is None or display_change(img, new) >= NOOP_LEVEL:
            kept.append(step)
            img = new
    return Recipe(kept)


def rounded(value: Any, lo: float, hi: float) -> np.ndarray:
    """``value`` to ``PARAM_DECIMALS`` decimals inside [``lo``, ``hi``]: a limit such as exp(-0.5)
    rounds to its inner neighbour (0.6066, not 0.6065), so a saved recipe always loads again."""
    scale = 10.0**PARAM_DECIMALS
    lo, hi = math.ceil(lo * scale) / scale, math.floor(hi * scale) / scale
    return np.clip(np.round(np.asarray(value, np.float64), PARAM_DECIMALS), lo, hi)


def sample_of(linear: np.ndarray, size: int = 64, *, raw: bool = False) -> np.ndarray:
    """The photo subsampled by an integer stride to at least ``SAMPLE_FACTOR`` x ``size`` per side
    (see :meth:`Agent.sample`); a RAW decode's (``raw``) as the agent sees it (:func:`agent_view`)."""
    lin = np.asarray(linear, np.float32)
    stride = max(1, min(lin.shape[:2]) // (SAMPLE_FACTOR * size))
    # one gather into a compact copy: the exposure percentile, the white balance and the proxy
    # each read it, ~5x faster than from the strided view of a large photo
    sample = np.ascontiguousarray(lin[stride // 2 :: stride, stride // 2 :: stride]) if stride > 1 else lin
    return agent_view(sample) if raw else sample


def agent_view(linear: np.ndarray) -> np.ndarray:
    """A RAW decode as the agent and its measured steps see it: each channel clipped at white (a copy).

    A RAW decode keeps its highlights past white for the photographer's edits
    (:mod:`engine.io.raw`), but the agent is trained on inputs clipped at white per channel, as a
    sensor clips (:mod:`models.data.degrade`), and its measured steps were set on such inputs
    (models/retouch/HISTORY.md, thirty-seventh session: seeing past white scored no better). Other
    files are read as they are: a float file's light past white is light the exposure step meters."""
    return np.minimum(linear, np.float32(1.0), dtype=np.float32)


def is_grey(image: np.ndarray) -> bool:
    """Whether the photo (a linear image: a sample or a proxy, as decoded) has no colour at all (a
    black-and-white photo, a greyscale scan): R, G and B equal to within rounding or noise, on a
    ``GREY_CELLS`` area average, at the 99th percentile. The largest deviation of the 64 x 64 proxy
    put a film scan's per-channel noise past the tolerance, and the photo on the colour path,
    tinted (forty-seventh session, HISTORY.md)."""
    cells = make_proxy(np.asarray(image, np.float32), min(GREY_CELLS, *image.shape[:2]))
    dev = np.abs(cells - cells.mean(axis=-1, keepdims=True)).max(axis=-1)
    return bool(np.percentile(dev, GREY_PERCENTILE) <= GREY_TOLERANCE)


def grey_params(spec: FilterSpec, params: dict[str, Any]) -> dict[str, Any]:
    """A step's parameters as they keep a grey photo grey: the colour curves' three rows made one
    (their average: the tonal part of the curve kept, its tint dropped), a white balance neutral.
    The policy never saw a grey photo in training; its colour steps tinted one (up to 2.3 levels
    between channels, on 59 % of a greyscale PNG's pixels, a QA's)."""
    if spec.id == "color_curves":
        rows = np.asarray(params["slopes"], np.float64)
        (p,) = spec.params
        return {**params, "slopes": rounded(np.broadcast_to(rows.mean(axis=0), rows.shape), p.min, p.max)}
    if spec.id == "white_balance":
        return {**params, **{p.name: np.asarray(p.default_value(), np.float64) for p in spec.params}}
    return params


def apply_steps(img: np.ndarray, steps: list[Step]) -> np.ndarray:
    """``img`` through each step's filter math, in order (float32), as the agent saw its measured
    steps in training: on its view, already clipped at white, so with no blown-white weight."""
    return np.asarray(replay_steps(steps, img), np.float32)


def user_styles_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME", "")
    if not os.path.isabs(base):  # unset, or relative: the XDG spec says to ignore it (styles would follow the cwd)
        base = str(Path.home() / ".local" / "share")
    return Path(base) / "retouch" / "styles"


def runs_dir() -> Path:
    """Where the styles' training runs live: beside the styles folder."""
    return user_styles_dir().parent / "runs"


def style_run_dir(name: str, output: str | Path | None = None) -> Path:
    """Where ``retouch train-style`` keeps a style's training run (checkpoint, views, log), for the
    command and the app's Learn my style alike: beside the styles, not in the folder it started in.

    ``output``: the style file it trains, where that is not in the styles folder (``-o`` elsewhere):
    its run is then its own, so two files of one name never continue each other's training."""
    runs = runs_dir()
    if output is None or Path(output).resolve().parent == user_styles_dir().resolve():
        return runs / f"style-{name}"
    import hashlib

    tag = hashlib.sha1(str(Path(output).resolve()).encode()).hexdigest()[:8]
    return runs / f"style-{name}-{tag}"


def available_models() -> list[Path]:
    """Shipped models (``resources/models/retouch*.onnx``) first, then the user's styles."""
    shipped = sorted(RESOURCES.glob("retouch*.onnx"))
    styles = user_styles_dir()
    try:  # a data folder this user may not read (its owner root): no styles, where the app crashed
        users = sorted(styles.glob("*.onnx")) if styles.is_dir() else []
    except OSError:
        users = []
    return [p for p in shipped + users if _is_file(p)]  # not a folder, a pipe or a dangling link


def _is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except OSError:
        return False


class Agent:
    """Runs a policy model. ``model`` is a path, a name from :func:`available_models`, or None."""

    def __init__(self, model: str | Path | None = None, *, prefer_gpu: bool = True, threads: int | None = None,
                 auto_exposure: bool = True, auto_white_balance: bool = True, strength: float | None = None,
                 meter: bool | str | Path = True, constancy: bool | str | Path = True):
        """``auto_exposure``: start every recipe with the measured exposure (:func:`auto_exposure_ev`)
        and let the policy refine the normalised proxy.
        ``auto_white_balance``: then the measured white balance (:func:`auto_white_balance`).
        ``meter``: the learned meter (True: the shipped one; or a path) refines the exposure and
        adds a measured contrast step (:func:`measured_steps`); False: the classical rules only.
        ``constancy``: the learned colour constancy (True: the shipped one; or a path) measures the
        white balance; False: max-RGB (:func:`auto_white_balance`).
        ``strength``: how far the policy's steps go (1: as predicted; see the module docstring);
        None: the model's own (``strength`` in its metadata: a style learnt from pairs says 1), else
        ``AUTO_STRENGTH``."""
        self.auto_exposure = auto_exposure
        self.auto_white_balance = auto_white_balance
        self.meter: Meter | None = None if meter is False else load_meter(DEFAULT_METER if meter is True else meter)
        self.constancy: ColourConstancy | None = (
            None if constancy is False else load_constancy(DEFAULT_WB if constancy is True else constancy))
        from .onnx import session  # onnxruntime loads here, not when the app imports this module

        self.path = self.resolve(model)
        self.session, self.device = session(self.path, prefer_gpu=prefer_gpu, threads=threads)
        inputs = [i.name for i in self.session.get_inputs()]
        if inputs != list(POLICY_INPUTS):
            raise ModelError(f"{self.path.name}: not a Retouch style model (its inputs are {', '.join(inputs)}; "
                             f"a policy's are {', '.join(POLICY_INPUTS)})")
        try:
            meta = json.loads(self.session.get_modelmeta().custom_metadata_map.get("retouch") or "{}")
        except json.JSONDecodeError:
            raise ModelError(f"{self.path.name}: its 'retouch' metadata is not JSON") from None
        self.meta: dict = meta if isinstance(meta, dict) else {}
        try:
            self._read_meta(strength)
        except ModelError:
            raise
        except (TypeError, ValueError) as e:  # a hand-made or damaged style: one line, never a traceback
            raise ModelError(f"{self.path.name}: not a usable Retouch style ({e})") from None

    def _read_meta(self, strength: float | None) -> None:
        """The policy's settings from its metadata, checked against its graph (a style that would
        fail at every photo, or loop for ever, is refused when loaded)."""
        filters = self.meta.get("filters", AGENT_FILTERS)
        if not isinstance(filters, list | tuple) or not filters or not all(isinstance(f, str) for f in filters):
            raise ValueError(f"its filters are {filters!r}")
        self.filters: tuple[str, ...] = tuple(filters)
        unknown = [f for f in self.filters if f not in REGISTRY]
        if unknown:
            raise ModelError(f"{self.path.name}: model uses unknown filters {unknown}")
        versions = self.meta.get("filter_versions", {})
        newer = [f"{f} v{v}" for f, v in (versions.items() if isinstance(versions, dict) else ())
                 if f in REGISTRY and isinstance(v, int) and v > REGISTRY[f].version]
        if newer:  # trained through math this Retouch does not have: its steps would mean something else
            raise ModelError(f"{self.path.name}: model was trained by a newer Retouch ({', '.join(newer)})")
        self.widths = [REGISTRY[f].n_outputs for f in self.filters]
        if self.meta.get("head_widths", self.widths) != self.widths:
            raise ModelError(f"{self.path.name}: model heads do not match this Retouch's filters")
        self.steps = int(self.meta.get("steps", 5))
        self.size = int(self.meta.get("proxy", 64))
        self.keep = float(self.meta.get("keep", 0.5))
        own = float(self.meta.get("strength", AUTO_STRENGTH))  # the caller's strength is the caller's to check
        if not 1 <= self.steps <= 20 or not 0 < self.keep <= 1 or not 0 <= own <= MAX_STRENGTH:  # NaN fails too
            raise ValueError(f"steps {self.steps}, keep {self.keep:g}, strength {own:g}")
        self.strength = own if strength is None else float(strength)
        ins, outs = self.session.get_inputs(), {o.name: o.shape for o in self.session.get_outputs()}
        self.feat_dim = int(ins[2].shape[1])
        if int(ins[3].shape[1]) != self.feat_dim:
            raise ValueError("its two dropout masks differ in size")
        expected = {"proxy size": (ins[0].shape[1], self.size), "state": (ins[1].shape[1], 1 + len(self.filters)),
                    "filter choice": ((outs.get("pdf") or [None, None])[1], len(self.filters)),
                    "parameters": ((outs.get("raw") or [None, None])[1], sum(self.widths))}
        wrong = [f"{what} {got} where its metadata needs {want}" for what, (got, want) in expected.items()
                 if got is not None and not isinstance(got, str) and got != want]
        if wrong or set(outs) != {"pdf", "raw"}:
            raise ValueError("; ".join(wrong) or f"its outputs are {', '.join(outs)}")

    @staticmethod
    def resolve(model: str | Path | None) -> Path:
        """A model file, or a model's name (its file's stem: a shipped model or a style)."""
        if model is None:
            return DEFAULT_MODEL
        if not str(model).strip():  # Path("") is the current folder: ". is not a model file"
            raise FileNotFoundError("no model named: give a model file or a style's name")
        p = Path(model).expanduser()
        if p.is_file() and (p.suffix.lower() == ".onnx" or p.name != str(model)):  # plainly a path
            return p
        for cand in available_models():  # a name, before a stray file or folder of that name here
            if str(model) in (cand.stem, cand.name):
                return cand
        if p.is_file():
            return p
        if p.exists():  # a folder, a pipe
            raise FileNotFoundError(f"{p} is not a model file")
        if p.suffix.lower() == ".onnx" or len(p.parts) > 1 or os.sep in str(model):  # a file, not a name
            raise FileNotFoundError(f"model file {model} not found")
        names = [m.stem for m in available_models()]
        # "warm look" for "Warm Look": said, not taken (two styles may differ by case alone)
        near = [n for n in names if n.casefold() == str(model).strip().casefold()]
        hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
        raise FileNotFoundError(f"no model {str(model)!r} (available: {', '.join(names)}){hint}")

    @property
    def name(self) -> str:
        """A style's name is its file's (``styles rename`` and ``import --name`` rename the file,
        not the name stored in it at training); other models say their stored name."""
        if self.path.resolve().parent == user_styles_dir().resolve():
            return self.path.stem
        name = self.meta.get("name")
        return name if isinstance(name, str) and name else self.path.stem

    # ------------------------------------------------------------------------------------
    def _masks(self, n: int, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
        if rng is None:  # deterministic: the expectation of dropout
            ones = np.ones((n, self.feat_dim), np.float32)
            return ones, ones
        draw = lambda: (rng.random((n, self.feat_dim)) < self.keep).astype(np.float32) / self.keep  # noqa: E731
        return draw(), draw()

    def run_proxy(self, proxy: np.ndarray, masks: tuple[np.ndarray, np.ndarray],
                  used: tuple[str, ...] = (), rng: np.random.Generator | None = None,
                  keep_noops: bool = False, temperature: float = 1.0, grey: bool | None = None) -> list[Recipe]:
        """Episodes for a batch of proxies ``(N, 64, 64, 3)``, one dropout mask pair per episode.

        ``used``: filters already applied before the policy (their state flag starts set).
        ``rng``: sample each step's filter from the policy's pdf (sharpened or flattened by
        ``temperature``: ``pdf ** (1 / temperature)``); None = the most likely one.
        ``keep_noops``: also return the steps that change nothing visible (``display_change``; by
        default they are left out of the recipe, and the policy's state still counts them, as in
        training).
        ``grey``: whether the photo is grey, judged as decoded (:meth:`start`), which every caller
        with a decoded photo passes; None: each proxy judged as given (tests, benchmarks), where the
        measured steps' exposure may have scaled a grey photo's noise past the tolerance.
        """
        img = np.array(proxy, np.float32)  # a copy: the episode writes into it
        n = len(img)
        greys = [is_grey(img[i]) if grey is None else grey for i in range(n)]
        state = np.zeros((n, 1 + len(self.filters)), np.float32)
        for f in used:
            if f in self.filters:
                state[:, 1 + self.filters.index(f)] = 1
        steps: list[list[Step]] = [[] for _ in range(n)]
        for _ in range(self.steps):
            pdf, raw = self.session.run(None, {"proxy": img, "state": state,
                                               "mask_sel": masks[0], "mask_par": masks[1]})
            if not (np.isfinite(pdf).all() and np.isfinite(raw).all()):  # a style whose training diverged
                raise ModelError(f"{self.path.name}: the model's answer is not a number (NaN); "
                                 "retrain the style or choose another")
            if (pdf < 0).any() or not (pdf.sum(axis=1) > 0).all():  # a damaged or hand-made graph: a draw failed
                raise ModelError(f"{self.path.name}: the model's choice of filter is not a probability "
                                 "(negative, or all zero); retrain the style or choose another")
            heads = np.split(raw, np.cumsum(self.widths)[:-1], axis=1)
            for i in range(n):
                if rng is None:
                    a = int(np.argmax(pdf[i]))
                else:
                    p = pdf[i].astype(np.float64)
                    if temperature != 1.0:
                        p = np.power(p, 1.0 / temperature)
                    a = int(rng.choice(len(p), p=p / p.sum()))
                spec = REGISTRY[self.filters[a]]
                params = spec.from_network(heads[a][i].astype(np.float64))
                # 4 decimals, as the measured steps: a readable recipe, and the one the episode ran
                params = {p.name: rounded(params[p.name], p.min, p.max) for p in spec.params}
                if greys[i]:
                    params = grey_params(spec, params)
                new = spec.apply(img[i], **params)
                change = display_change(img[i], new)
                img[i] = new
                if keep_noops or change >= NOOP_LEVEL:
                    probs = {f: float(pdf[i, k]) for k, f in enumerate(self.filters)}
                    steps[i].append(Step(spec.id, {k: plain(v) for k, v in params.items()}, probs=probs))
                state[i, 0] += 1
                state[i, 1 + a] = 1
        return [Recipe(s) for s in steps]

    def sample(self, linear: np.ndarray, raw: bool = False) -> np.ndarray:
        """The photo subsampled by an integer stride to at least ``SAMPLE_FACTOR`` x the proxy size.

        The 64x64 area average of 128+ evenly spread samples per side moves the proxy by ~2/255
        on average from the full one, and Auto's recipes score the same as from 4x or 8x denser
        samples (also at 24 MP); it costs ~0.6 ms instead of ~100 ms at 24 MP, and the same samples
        give the measured steps. (256+ per side until the ninth session: 4-6 ms at 24 MP.)
        ``raw``: the photo is a RAW decode, whose highlights past white the agent reads clipped
        (:func:`agent_view`); every method that reads a photo takes it.
        """
        return sample_of(linear, self.size, raw=raw)

    def proxy(self, linear: np.ndarray, raw: bool = False) -> np.ndarray:
        """The whole frame squeezed to the model's proxy size (``engine.render.make_proxy``)."""
        return make_proxy(self.sample(linear, raw), self.size)

    def start(self, linear: np.ndarray, raw: bool = False) -> tuple[np.ndarray, list[Step], bool]:
        """The proxy the policy sees and the steps before it (the measured exposure and white
        balance steps, each if on and needed), and whether the photo is grey, judged as decoded."""
        sample = self.sample(linear, raw)
        proxy = make_proxy(sample, self.size)
        grey = is_grey(sample)
        pre = measured_steps(sample, exposure=self.auto_exposure, white_balance=self.auto_white_balance,
                             contrast=self.auto_exposure, meter=self.meter, constancy=self.constancy, grey=grey)
        return apply_steps(proxy, pre), pre, grey

    def _used(self, pre: list[Step]) -> tuple[str, ...]:
        """The state flags the pre-step sets: as the policy was trained (``pre_step_used`` in its
        metadata; models that predate the key were trained with the flag set, or never saw it)."""
        flagged = ("exposure", "white_balance")  # as training's Inputs.draw flags them (not the contrast)
        return tuple(s.op for s in pre if s.op in flagged) if self.meta.get("pre_step_used", True) else ()

    def predict(self, linear: np.ndarray, *, seed: int | None = None, strength: float | None = None,
                raw: bool = False) -> Recipe:
        """The agent's recipe for a linear photo (``raw``: a RAW decode, see :meth:`sample`);
        ``seed`` None = deterministic (no dropout); ``strength`` None = the agent's ``strength``."""
        proxy, pre, grey = self.start(linear, raw)
        rng = None if seed is None else np.random.default_rng(seed)
        steps = self.run_proxy(proxy[None], self._masks(1, rng), self._used(pre), rng, grey=grey)[0]
        return Recipe(pre + at_strength(steps, proxy, self.strength if strength is None else strength).steps)

    def variations(self, linear: np.ndarray, n: int, *, seed: int = 0, strength: float | None = None,
                   pool: int = VARIATION_POOL, temperature: float = VARIATION_TEMPERATURE,
                   raw: bool = False) -> list[Recipe]:
        """``n`` alternative recipes from the policy's dropout and sampled choices, reproducible by ``seed``.

        Single draws differ by ~1-2/255 on average, too little to tell apart as thumbnails, so each
        step's filter is drawn from the pdf at ``temperature`` (1: as the policy gives it), and
        ``pool * n`` episodes are drawn and ``n`` kept by farthest-point selection on their proxy
        renders: first the most typical one (nearest the mean of all), then each time the one
        farthest from those already kept. ``strength`` None = ``VARIATION_STRENGTH`` (not Auto's).
        """
        if n <= 0:
            return []
        if temperature <= 0:
            raise ValueError(f"temperature must be above 0 (got {temperature:g})")
        proxy, pre, grey = self.start(linear, raw)
        m = max(n, n * pool)
        rng = np.random.default_rng(seed)
        drawn = self.run_proxy(np.repeat(proxy[None], m, axis=0), self._masks(m, rng), self._used(pre), rng,
                               temperature=temperature, grey=grey)
        amount = VARIATION_STRENGTH if strength is None else strength
        recipes = [Recipe(pre + at_strength(r, proxy, amount).steps) for r in drawn]
        return [recipes[i] for i in spread(recipes, proxy, len(pre), n)]


def spread(recipes: list[Recipe], proxy: np.ndarray, skip: int, n: int) -> list[int]:
    """Indices of ``n`` of ``recipes`` chosen by farthest-point selection on their proxy renders
    (mean absolute difference), starting from the one nearest the mean render. The first ``skip``
    steps of each recipe are already in ``proxy``."""
    shots = np.stack([render_exact(Recipe(r.steps[skip:]), proxy).reshape(-1) for r in recipes])
    chosen = [int(np.argmin(np.abs(shots - shots.mean(0)).mean(1)))]
    nearest = np.abs(shots - shots[chosen[0]]).mean(1)
    while len(chosen) < min(n, len(recipes)):
        nearest[chosen] = -1.0  # never twice, even among identical candidates
        nxt = int(np.argmax(nearest))
        chosen.append(nxt)
        nearest = np.minimum(nearest, np.abs(shots - shots[nxt]).mean(1))
    return chosen


