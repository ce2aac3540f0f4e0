"""Evaluate the agent on held-out photos: ``python -m models.retouch.evaluate [--model M.onnx]``.

Protocol (exposure.md §5, plus a PSNR check the paper could not do without originals):

* Each held-out photo (never seen in training) is "unedited" ``--per-photo`` times by
  :mod:`models.data.degrade` with a fixed seed (``--degradation-scale 0.5``: every range halved
  about the identity, milder degradations), written as a synthetic DNG
  (``engine.io.dng.write_dng``: mosaic, camera WB, sensor noise) and decoded by the app's own
  RAW path (``engine.io.load_photo``): exactly what the app feeds the agent.
* Methods: **agent** (``Agent.predict`` + ``engine.render.render``: exactly the app's Auto,
  including its measured exposure, white balance and contrast steps and strength), **agent, strength 1**
  (the policy's steps as predicted), **agent, no meter** (``meter=False``: the classical measured
  exposure and white balance only, Auto before the eighth session), **agent, no pre-steps** (``auto_exposure=False,
  auto_white_balance=False``, the policy alone, for comparison), **agent, strength 0** (the
  measured steps alone: what the policy's steps add is the agent's row minus this one), **(a)** the decoded linear
  input as is (sRGB-encoded), **(b)** LibRaw's default rendering of the same DNG,
  ``rawpy.postprocess(use_camera_wb=True)`` (auto-bright + sRGB gamma), **(c)** percentile
  stretch + grey-world.
* **PSNR** (dB) of each output against the original photo (sRGB, 8-bit scale), mean over images;
  also for the agent's recipe cut after 0, 1, ... steps (``per_step``: where its gain comes from).
* **Histogram intersection** (HI) against the *target* set: per image 4 random square crops
  (side = shorter edge) -> 80x80 (area) -> 4 random 64x64 sub-crops = 16 patches; per patch
  luminance mean, ``2 std(luminance)`` ("contrast"), mean HLS saturation, after clipping to
  [0, 1]; each statistic histogrammed over all patches (32 bins on [0, 1], normalised by the
  patch count); HI = sum of bin-wise minima (1 = identical distributions).
  One draw of patches moves HI by a few points, so HI is the mean (and sd) over ``--draws``
  independent draws, each method's patches from a stream of its own; the command also says in how
  many draws the agent's HI reaches (b)'s, statistic by statistic.
* **Agent − (b) over the photos**: a paired bootstrap that resamples the photos with replacement
  (each with all its degradations) gives a 90 % interval of the agent's lead over (b) in PSNR and in
  each HI statistic: how far the verdict could move on other photos of the same kind, which the
  patch draws' sd does not say.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rawpy

from engine.auto_cli import strength_arg
from engine.color import srgb_decode, srgb_encode
from engine.filters.base import LUMA
from engine.io import ImageError, is_raw, load_photo
from engine.io.dng import write_dng
from engine.recipe import Recipe
from engine.render import render, resize_linear
from engine.runners.agent import Agent

from ..data import degrade
from ..data.assemble import AssembleError, assemble, list_images, load_srgb

BINS = 32
DRAWS = 10  # independent patch draws HI is averaged over: one draw moves by a few points (sd ~4)
BOOTSTRAP = 2000  # photo resamples of the agent-vs-(b) interval
TARGET_STREAM = 10**6  # the targets' patch streams: image numbers no evaluated set reaches
#: The methods of the per-photo table.
PHOTO_COLUMNS = ("agent", "(a) input as is", "(b) LibRaw default", "(c) stretch + grey-world")


# ---------------------------------------------------------------------------------------------
# Histogram intersection (the paper's protocol)


def patches(srgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """16 patches (64x64) of one image, as in ``histogram_intersection.py``."""
    h, w = srgb.shape[:2]
    side = min(h, w)
    out = []
    for _ in range(4):
        y = int(rng.integers(0, h - side + 1))
        x = int(rng.integers(0, w - side + 1))
        sq = resize_linear(np.ascontiguousarray(srgb[y:y + side, x:x + side], np.float32), 80, 80)
        for _ in range(4):
            dy, dx = int(rng.integers(0, 16)), int(rng.integers(0, 16))
            out.append(sq[dy:dy + 64, dx:dx + 64])
    return np.stack(out)


def patch_stats(p: np.ndarray) -> np.ndarray:
    """``(N, 64, 64, 3)`` sRGB patches -> ``(N, 3)``: lum mean, 2 lum std, mean HLS saturation."""
    p = np.clip(p, 0.0, 1.0)
    lum = p @ np.asarray(LUMA, np.float32)
    mx, mn = p.max(-1), p.min(-1)
    light = (mx + mn) / 2
    den = np.where(light < 0.5, mx + mn, 2.0 - mx - mn)
    sat = np.where(mx - mn > 1e-6, (mx - mn) / np.maximum(den, 1e-6), 0.0)
    return np.stack([lum.mean((1, 2)), 2 * lum.std((1, 2)), sat.mean((1, 2))], 1)


def histograms(stats: np.ndarray) -> np.ndarray:
    return np.stack([np.histogram(np.clip(stats[:, k], 0, 1), BINS, (0.0, 1.0))[0] / len(stats)
                     for k in range(stats.shape[1])])


def intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-statistic HI of two sets of patch statistics."""
    return np.minimum(histograms(a), histograms(b)).sum(1)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    mse = float(np.mean((np.clip(a[:h, :w], 0, 1) - np.clip(b[:h, :w], 0, 1)) ** 2))
    return 10 * math.log10(1.0 / max(mse, 1e-10))


def clipped(srgb: np.ndarray) -> float:
    """The share of an image's pixels with a channel at 255 on the display: blown highlights, which
    PSNR and HI weigh little (a look chosen on them once blew a sky; HISTORY.md, 23rd session)."""
    return float((np.asarray(srgb, np.float32).max(-1) >= 254.5 / 255).mean())


# ---------------------------------------------------------------------------------------------
# Baselines


def libraw_default(dng: Path) -> np.ndarray:
    """(b): what any converter shows without editing."""
    with rawpy.imread(str(dng)) as raw:
        return raw.postprocess(use_camera_wb=True).astype(np.float32) / 255.0


def stretch_greyworld(linear: np.ndarray, lo: float = 1.0, hi: float = 99.0) -> np.ndarray:
    """(c): grey-world white balance, then stretch luminance percentiles ``lo..hi`` to 0..1."""
    x = np.clip(linear, 0, None)
    means = x.reshape(-1, 3).mean(0) + 1e-6
    x = x * (means.mean() / means)
    lum = x @ np.asarray(LUMA, np.float32)
    p_lo, p_hi = np.percentile(lum, [lo, hi])
    return srgb_encode((x - p_lo) / max(p_hi - p_lo, 1e-6)).astype(np.float32)


def shrink(srgb: np.ndarray, long_edge: int) -> np.ndarray:
    """An original at the protocol's size: long edge at most ``long_edge`` (area-resized in linear
    light), both sides even (a whole RGGB mosaic)."""
    h, w = srgb.shape[:2]
    if max(h, w) > long_edge:
        s = long_edge / max(h, w)
        srgb = srgb_encode(resize_linear(srgb_decode(srgb), round(w * s), round(h * s)))
    return srgb[: srgb.shape[0] // 2 * 2, : srgb.shape[1] // 2 * 2]


class NoPhotosError(ValueError):
    """Not one of the photos given could be evaluated."""


MIN_SIDE = 32  # pixels a side at the protocol's size (LibRaw refuses a DNG under 22)


def load_original(path: Path, long_edge: int) -> np.ndarray:
    """A held-out photo at the protocol's size (:func:`shrink`), read as the app reads it; one too
    narrow to mosaic at that size is a ``ValueError``."""
    orig = shrink(load_srgb(path, max_size=4 * long_edge), long_edge)
    h, w = orig.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"too narrow: {w} x {h} pixels at the protocol's {long_edge} px long edge "
                         f"(at least {MIN_SIDE} a side)")
    return orig


def photo_labels(paths: list[Path]) -> dict[Path, str]:
    """Each photo's name in the tables: its stem, or its file name where two share a stem
    (``a.jpg`` and ``a.png`` are two photos, not one)."""
    stems = [p.stem for p in paths]
    labels = {p: p.stem if stems.count(p.stem) == 1 else p.name for p in paths}
    if len(set(labels.values())) < len(labels):  # a stem that is another's name (x.jpg.tif beside x.jpg)
        return {p: p.name for p in paths}
    return labels


def folder_photos(folder: Path) -> tuple[list[Path], list[str]]:
    """A held-out folder's photos, and what else in it is left out and why (said, never silent;
    hidden files, a Mac's ``._`` forks among them, are passed over as the batch passes them)."""
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder" if folder.exists() else f"{folder} does not exist")
    photos = list_images(folder)
    taken = set(photos)
    left = []
    for p in sorted(folder.iterdir()):
        if p in taken or p.name.startswith("."):
            continue
        if p.is_dir():
            left.append(f"{p.name}/: a subfolder (not searched)")
        elif is_raw(p):
            left.append(f"{p.name}: a RAW file has no finished original to compare with; export it as "
                        "JPEG, PNG or TIFF")
        elif not p.exists():
            left.append(f"{p.name}: a broken link")
        else:
            left.append(f"{p.name}: not a JPEG, PNG or TIFF")
    return photos, left


# ---------------------------------------------------------------------------------------------


def patch_rng(seed: int, draw: int, image: int, method: int) -> np.random.Generator:
    """The patches of one image for one method in one draw: their own stream, so that a method's
    patches do not depend on which other methods ran, nor in what order."""
    return np.random.default_rng([seed, draw, image, method])


def degraded_photo(orig: np.ndarray, d: degrade.Degradation, k: int, dng: Path) -> np.ndarray:
    """One degraded original as the app sees it: written as the synthetic DNG ``dng`` (seed
    ``k``) and decoded by the app's RAW path."""
    lin = degrade.degrade(orig, d).astype(np.float32)
    write_dng(dng, lin, linear=True, seed=k, preview=False)
    return load_photo(dng).linear


def target_stats(targets: list[Path], seed: int, draws: int) -> list[np.ndarray]:
    """The targets' patch statistics in each draw (their own patch streams)."""
    target_srgb = [load_srgb(p) for p in targets]  # the assembled PNGs, exactly
    return [np.concatenate([patch_stats(patches(t, patch_rng(seed, d, TARGET_STREAM + i, 0)))
                            for i, t in enumerate(target_srgb)]) for d in range(draws)]


def photo_groups(photo_of: list[str]) -> dict[str, list[int]]:
    """Each photo's degraded images (their indices), photos in the order first seen."""
    groups: dict[str, list[int]] = {}
    for i, stem in enumerate(photo_of):
        groups.setdefault(stem, []).append(i)
    return groups


def photo_bootstrap(a_stats: list[list[np.ndarray]], b_stats: list[list[np.ndarray]], tgt: list[np.ndarray],
                    photo_of: list[str], a_psnr: list[float] | None = None, b_psnr: list[float] | None = None, *,
                    resamples: int = BOOTSTRAP, seed: int = 0, level: float = 0.9) -> dict:
    """Method a − method b, paired, over photo resamples (with replacement; a photo's degraded
    images travel together). ``*_stats[draw][image]`` are patch statistics, ``tgt[draw]`` the
    targets'. Per quantity (``"psnr"``, None without PSNRs, then ``"hi"``: luminance, contrast,
    saturation) the lead on the photos as they are, the ``level`` interval and the share of
    resamples where a ≥ b; HI is averaged over the draws, as in the table. The resamples depend
    on ``seed`` and the photos only, so two calls compare methods on the same draws."""
    groups = list(photo_groups(photo_of).values())
    draws, n = len(tgt), len(groups)

    def counts(stats: list[list[np.ndarray]]) -> np.ndarray:  # (photos, draws * 3 * BINS) patch counts
        per_image = np.stack([[histograms(s) * len(s) for s in stats[d]] for d in range(draws)])
        return np.stack([per_image[:, g].sum(1).ravel() for g in groups])

    ca, cb = counts(a_stats), counts(b_stats)
    patches_of = np.asarray([sum(len(a_stats[0][i]) for i in g) for g in groups], np.float64)
    images_of = np.asarray([len(g) for g in groups], np.float64)
    with_psnr = a_psnr is not None and b_psnr is not None
    gap_of = np.asarray([sum(a_psnr[i] - b_psnr[i] for i in g) for g in groups]) if with_psnr else np.zeros(n)
    target = np.stack([histograms(t) for t in tgt])  # (draws, 3, BINS)
    rng = np.random.default_rng([seed, 2])
    weights = np.vstack([np.ones(n), np.stack([np.bincount(rng.integers(0, n, n), minlength=n)
                                               for _ in range(resamples)])])  # row 0: the photos as they are

    def hi(c: np.ndarray) -> np.ndarray:  # (1 + resamples, 3)
        h = (weights @ c / (weights @ patches_of)[:, None]).reshape(-1, draws, 3, BINS)
        return np.minimum(h, target).sum(-1).mean(1)

    leads = np.column_stack([weights @ gap_of / (weights @ images_of), hi(ca) - hi(cb)])
    tail = 50 * (1 - level)
    lo, up = np.percentile(leads[1:], [tail, 100 - tail], axis=0)
    out = [{"lead": float(leads[0, k]), "interval": (float(lo[k]), float(up[k])),
            "share_ge": float((leads[1:, k] >= 0).mean())} for k in range(4)]
    return {"psnr": out[0] if with_psnr else None, "hi": out[1:], "resamples": resamples, "level": level,
            "photos": n}


def evaluate(model: Path | None, heldout: list[Path], targets: list[Path], *, per_photo: int = 4,
             seed: int = 0, long_edge: int = 768, strength: float | None = None, draws: int = DRAWS,
             degradation_scale: float = 1.0, log=print) -> dict:
    """The table (PSNR, and HI as the mean and sd over ``draws`` independent patch draws), the
    agent's PSNR per recipe prefix, and the run's facts."""
    agent = Agent(model) if strength is None else Agent(model, strength=strength)
    bare = Agent(model, auto_exposure=False, auto_white_balance=False, strength=agent.strength)
    classical = Agent(model, meter=False, strength=agent.strength)
    max_rgb = Agent(model, constancy=False, strength=agent.strength)
    rng = np.random.default_rng(seed)
    ranges = degrade.scaled_ranges(degradation_scale)
    methods = ["agent", "agent, strength 1", "agent, no meter", "agent, no pre-steps", "(a) input as is",
               "(b) LibRaw default", "(c) stretch + grey-world", "agent, max-RGB white balance",
               "agent, strength 0 (measured steps alone)"]
    rows = [*methods, "original"]
    # each row's patch stream; rows added later take new streams, so earlier tables reproduce exactly
    stream = {m: i for i, m in enumerate([*methods[:8], "original", *methods[8:]])}
    scores: dict[str, list[float]] = {m: [] for m in methods}
    clips: dict[str, list[float]] = {m: [] for m in rows}
    stats: dict[str, list[list[np.ndarray]]] = {m: [[] for _ in range(draws)] for m in rows}  # [draw][image]
    times = []
    photo_of: list[str] = []  # each degraded image's photo (file stem)
    prefixes: list[list[float]] = []  # PSNR of the agent's recipe cut after 0, 1, ... steps

    def add_stats(m: str, image: int, srgb: np.ndarray) -> None:
        for d in range(draws):
            stats[m][d].append(patch_stats(patches(srgb, patch_rng(seed, d, image, stream[m]))))

    image = 0
    labels = photo_labels(heldout)
    skipped: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in heldout:
            try:
                orig = load_original(path, long_edge)
            except (ImageError, OSError, ValueError) as e:  # a judge's folder may hold anything
                named = isinstance(e, ImageError) and e.path is not None  # says "name: why" itself
                skipped.append(str(e) if named else f"{path.name}: {e}")
                log(f"skipped {skipped[-1]}")
                continue
            for k in range(per_photo):
                dng = Path(tmp) / f"{image}.dng"  # not the photo's name: that may be as long as a path allows
                linear = degraded_photo(orig, degrade.sample(rng, ranges=ranges), k, dng)
                t = time.perf_counter()
                recipe = agent.predict(linear, raw=True)  # a RAW decode, as the app reads a DNG
                times.append(time.perf_counter() - t)
                outs = {"agent": render(recipe, linear),
                        "agent, strength 1": render(agent.predict(linear, strength=1.0, raw=True), linear),
                        "agent, no meter": render(classical.predict(linear, raw=True), linear),
                        "agent, no pre-steps": render(bare.predict(linear, raw=True), linear),
                        "(a) input as is": srgb_encode(linear),
                        "(b) LibRaw default": libraw_default(dng),
                        "(c) stretch + grey-world": stretch_greyworld(linear),
                        "agent, max-RGB white balance": render(max_rgb.predict(linear, raw=True), linear),
                        "agent, strength 0 (measured steps alone)": render(
                            agent.predict(linear, strength=0.0, raw=True), linear)}
                prefixes.append([psnr(render(Recipe(recipe.steps[:n]), linear), orig)
                                 for n in range(len(recipe.steps))] + [psnr(outs["agent"], orig)])
                for m, o in outs.items():
                    scores[m].append(psnr(o, orig))
                    clips[m].append(clipped(o))
                    add_stats(m, image, np.asarray(o, np.float32))
                add_stats("original", image, orig)
                clips["original"].append(clipped(orig))  # once per degraded image: weighted as the outputs are
                photo_of.append(labels[path])
                image += 1
                short = [m.split(" (")[0].split(maxsplit=1)[-1] if m.startswith("agent,") else m.split()[0]
                         for m in methods]
                log(f"{labels[path]}#{k}: " + "  ".join(f"{s} {scores[m][-1]:.2f}" for s, m in zip(short, methods))
                    + "  recipe " + " > ".join(s.op for s in recipe))
    if not photo_of:
        raise NoPhotosError(f"none of the {len(heldout)} photos could be used" if heldout else "no photos to evaluate")
    tgt = target_stats(targets, seed, draws)
    table = {}
    for m in rows:
        hi = np.stack([intersection(np.concatenate(stats[m][d]), tgt[d]) for d in range(draws)])  # (draws, 3)
        table[m] = {"psnr": float(np.mean(scores[m])) if m in scores else float("nan"),
                    "hi": hi.mean(0).tolist(), "hi_sd": hi.std(0).tolist(), "hi_mean": float(hi.mean()),
                    "hi_draws": hi.tolist(), "clipped": float(np.mean(clips[m]))}
    boot = photo_bootstrap(stats["agent"], stats["(b) LibRaw default"], tgt, photo_of, scores["agent"],
                           scores["(b) LibRaw default"], seed=seed)
    # the same for the undegraded originals (HI only): what a perfect restoration would score against (b)
    boot["original"] = photo_bootstrap(stats["original"], stats["(b) LibRaw default"], tgt, photo_of, seed=seed)["hi"]
    # how often a method's HI reaches (b)'s in the same draw (same patches of the targets)
    b = np.asarray(table["(b) LibRaw default"]["hi_draws"])
    for m in rows:
        table[m]["vs_b"] = (np.asarray(table[m]["hi_draws"]) >= b).mean(0).tolist()
    longest = max(map(len, prefixes))
    per_step = [float(np.mean([p[min(n, len(p) - 1)] for p in prefixes])) for n in range(longest)]
    by_photo = {stem: {m: float(np.mean([scores[m][i] for i in images])) for m in PHOTO_COLUMNS}
                for stem, images in photo_groups(photo_of).items()}
    return {"table": table, "per_step": per_step, "by_photo": by_photo, "bootstrap": boot,
            "n_images": len(photo_of), "n_photos": len(photo_groups(photo_of)), "skipped": skipped,
            "draws": draws,
            "agent_ms": 1000 * float(np.median(times)), "model": str(agent.path), "device": agent.device,
            "strength": agent.strength}


def markdown(res: dict) -> str:
    """The table: HI as the mean ± sd over the run's patch draws."""
    rows = ["| method | PSNR to original (dB) | HI luminance | HI contrast | HI saturation | HI mean |",
            "|---|---|---|---|---|---|"]
    for m, r in res["table"].items():
        p = "–" if math.isnan(r["psnr"]) else f"{r['psnr']:.2f}"
        name = "original photos (reference)" if m == "original" else m
        rows.append(f"| {name} | {p} | " + " | ".join(f"{100 * v:.1f} ± {100 * sd:.1f} %"
                                                      for v, sd in zip(r["hi"], r["hi_sd"]))
                    + f" | {100 * r['hi_mean']:.1f} % |")
    return "\n".join(rows)


def photo_table(res: dict) -> str:
    """Mean PSNR per photo over its degradations: where Auto wins and loses against (b)."""
    rows = ["| photo | " + " | ".join(PHOTO_COLUMNS) + " | agent − (b) |", "|---|" + "---|" * (len(PHOTO_COLUMNS) + 1)]
    for stem, r in res["by_photo"].items():
        gap = r["agent"] - r["(b) LibRaw default"]
        rows.append(f"| {stem} | " + " | ".join(f"{r[m]:.2f}" for m in PHOTO_COLUMNS) + f" | {gap:+.2f} |")
    return "\n".join(rows)


def versus_b(res: dict) -> str:
    """Per statistic, the share of draws in which Auto's HI reaches (b)'s (the goal's test)."""
    share = res["table"]["agent"]["vs_b"]
    return (f"agent's HI ≥ (b)'s in {res['draws']} patch draws: "
            + ", ".join(f"{k} {100 * v:.0f} %" for k, v in zip(("luminance", "contrast", "saturation"), share)))


def bootstrap_line(res: dict) -> str:
    """The agent's lead over (b) with its interval over photo resamples (see :func:`photo_bootstrap`)."""
    b = res["bootstrap"]

    def one(name: str, r: dict, scale: float, unit: str) -> str:
        lo, up = (scale * v for v in r["interval"])
        return f"{name} {scale * r['lead']:+.2f}{unit} [{lo:+.2f}, {up:+.2f}], ≥ 0 in {100 * r['share_ge']:.0f} %"

    names = ("luminance", "contrast", "saturation")
    parts = [one("PSNR", b["psnr"], 1, " dB")] + [one(f"HI {k}", r, 100, " points") for k, r in zip(names, b["hi"])]
    ref = [one(f"HI {k}", r, 100, " points") for k, r in zip(names, b["original"])]
    return (f"agent − (b), {100 * b['level']:.0f} % interval over the photos ({b['resamples']} resamples of the "
            f"{b['photos']} photos, each with all its degradations): " + "; ".join(parts)
            + "\noriginal photos − (b), the same way (what restoring them exactly would score): " + "; ".join(ref))


def clipping(res: dict) -> str:
    """Per method, the mean share of pixels with a channel at 255 (see :func:`clipped`)."""
    return "pixels with a channel at 255 (mean per image): " + ", ".join(
        f"{'original photos' if m == 'original' else m} {100 * r['clipped']:.2f} %" for m, r in res["table"].items())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Held-out evaluation of a retouching model against baselines")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--photos", type=Path, default=Path("data/photos"))
    ap.add_argument("--heldout", type=Path, default=None, help="folder of held-out photos (default: the split's)")
    ap.add_argument("--set", choices=("heldout", "check", "val"), default="heldout",
                    help="check: the target photos, degraded the same way; val: the validation photos "
                         "(unseen scenes). Choices are made on these two, never on heldout. HI against "
                         "the targets is not meaningful for check")
    ap.add_argument("--per-photo", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strength", type=strength_arg, default=None, help="Auto's strength, 0 to 2 (default: the app's)")
    ap.add_argument("--draws", type=int, default=DRAWS, help=f"patch draws HI is averaged over (default {DRAWS})")
    ap.add_argument("--degradation-scale", type=float, default=1.0, metavar="S",
                    help="every degradation range scaled by S about the identity (0.5: milder; default 1)")
    args = ap.parse_args(argv)
    if args.degradation_scale < 0:
        ap.error(f"--degradation-scale must be at least 0 (got {args.degradation_scale:g})")
    left: list[str] = []
    if args.heldout:
        try:
            held, left = folder_photos(args.heldout)
        except ValueError as e:
            ap.error(str(e))
        for why in left:
            print(f"left out {why}", file=sys.stderr)
        if not held:
            ap.error(f"no JPEG, PNG or TIFF photos in {args.heldout}")
    try:
        sets = assemble(args.photos)  # the targets HI is measured against, fetched once
    except AssembleError as e:
        print(f"evaluate: error: the target photos: {e}", file=sys.stderr)
        return 1
    if not args.heldout:
        held = sorted(sets[{"check": "targets"}.get(args.set, args.set)])
    try:
        res = evaluate(args.model, held, sorted(sets["targets"]), per_photo=args.per_photo, seed=args.seed,
                       strength=args.strength, draws=args.draws, degradation_scale=args.degradation_scale)
    except NoPhotosError as e:
        print(f"evaluate: error: {e}", file=sys.stderr)
        return 1
    print()
    if left or res["skipped"]:
        print(f"left out ({len(left) + len(res['skipped'])}): {'; '.join(left + res['skipped'])}")
        print()
    mild = f" (degradation ranges x{args.degradation_scale:g})" if args.degradation_scale != 1.0 else ""
    print(f"{res['n_images']} degraded images from {res['n_photos']} {args.set} photos{mild}; "
          f"agent {res['agent_ms']:.1f} ms per photo (median, {res['device']}); model {res['model']}, "
          f"strength {res['strength']:g}")
    print()
    print(markdown(res))
    print()
    print(versus_b(res))
    print()
    print(bootstrap_line(res))
    print()
    print(clipping(res))
    print()
    print("agent, PSNR after the first n steps of its recipe (a shorter recipe counts as complete): "
          + "  ".join(f"{n}: {v:.2f}" for n, v in enumerate(res["per_step"])))
    print()
    print(f"PSNR per photo (dB), mean over its {args.per_photo} degradations:")
    print()
    print(photo_table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
