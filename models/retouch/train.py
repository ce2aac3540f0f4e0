"""Exposure-style training: actor-critic policy + WGAN-GP critic + out-of-order trajectory pool.

``python -m models.retouch.train --run runs/base [--iterations N] [--resume]`` trains the shipped
model on the default photo set (``models.data.assemble``); ``retouch train-style`` calls
:func:`train` with user folders.

Per iteration (exposure.md §3):

1. pop ``batch`` records at random from the pool (out of order: records at different steps
   mix); the policy picks a filter (sampled from its pdf) and that filter's parameters; the
   engine's filter math is applied; the new state is pushed back; finished (step 5) records
   go to the critic's "fake" buffer and their slots are refilled with fresh inputs;
2. reward = ``0.05 (D(out) - D(in))`` - over-range - entropy (annealed) - filter reuse
   [+ the optional reconstruction reward, below]; ``Q = r + (1 - stopped) V(out)``,
   ``A = Q - V(in)``; value loss ``A²``; policy loss ``-Q + log pi(a) stopgrad(-A)``: a
   deterministic gradient through the differentiable filters (and D, V) for the parameters,
   REINFORCE with the value baseline for the choice;
3. ``citers`` critic updates: WGAN with a one-sided gradient penalty (lambda 10) on final outputs
   against the target photos.

Reconstruction reward (a documented departure, ``recon_weight``): our default inputs are made
from finished photos by :mod:`models.data.degrade`, so each comes with its original. The reward
then also gets ``w (log e(in) - log e(out))`` with ``e`` the sRGB mean squared error to the
original; it telescopes over the episode to ``w log(e_0 / e_5)``, i.e. PSNR gained. The critic
still learns from the disjoint target set. With user folders it is 0 and the training is the
paper's, unpaired, unless the folders hold the same photos (``paired``: ``retouch train-style``
pairs them by file name): then each input's original is its own finished version, and the reward
is the PSNR gained towards the photographer's edit.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.atomic import atomic_path
from engine.color import srgb_encode
from engine.durations import hms
from engine.filters import AGENT_FILTERS
from engine.interrupts import catch_stops, hung_up, restore
from engine.runners.agent import apply_steps, measured_steps
from engine.runners.constancy import load as load_constancy
from engine.runners.meter import load as load_meter

from ..data import crops, degrade
from .nets import MAX_ENTROPY, N_FILTERS, N_STATE, N_STEPS, Critic, Policy, apply_all, display, entropy


@dataclass
class Config:
    width: int = 16  # paper 32
    batch: int = 32  # paper 64
    iterations: int = 6000  # paper 20000
    lr: float = 2e-4  # paper base 5e-5
    g_lr_mul: float = 0.3  # as the paper
    v_lr_mul: float = 3.0  # relative to base (paper: 10 x lr_g = 3 x base)
    decay: float = 2.0  # lr * 0.1 ** (decay t / T); paper 3
    citers: int = 2  # paper 5
    critic_init: int = 30  # paper 100 critic updates ...
    critic_init_iters: int = 5  # ... for the first 10 iterations and every 500
    critic_boost_every: int = 500
    gp_lambda: float = 10.0
    critic_logit_mul: float = 0.05
    entropy_penalty: float = 0.05
    reuse_penalty: float = 1.0
    recon_weight: float = 0.0
    paired: bool = False  # user folders of the same photos: each input view comes with its edit's (train-style)
    pool_mul: int = 2  # pool = pool_mul * batch (paper 128 = 2 x 64)
    checkpoint_every: int = 200
    keep_every: int = 0  # also keep checkpoint-it{N}.pt at every multiple (to average them at export)
    stop_at: int = 0  # stop at this iteration but keep the lr schedule of ``iterations`` (0: run to the end)
    seed: int = 0
    views_per_photo: int = 160
    auto_exposure: bool = False  # normalise inputs as the app's Auto does (engine.runners.agent)
    auto_white_balance: bool = False  # then the app's measured white balance too (with auto_exposure)
    meter: bool = False  # and the shipped learned meter's exposure + contrast (with auto_exposure), as the app
    constancy: bool = False  # the white balance by the shipped learned colour constancy, as the app (else max-RGB)
    flag_pre_step: bool = True  # mark exposure "used" after that step; False lets the policy refine it
    all_actions: bool = False  # score every filter at every step ("mean actor-critic"), below
    permute_channels: float = 0.0  # share of inputs whose original gets its RGB channels shuffled
    target_share: float = 0.0  # share of the input photos (by a hash of the name) moved to the critic's targets
    source_balance: float = 0.0  # default data: 0 = every view alike, 1 = every source package alike (below)


EXPOSURE = 1 + AGENT_FILTERS.index("exposure")  # its "used" flag in the state
WHITE_BALANCE = 1 + AGENT_FILTERS.index("white_balance")
PRE_STEP_FLAGS = [EXPOSURE, WHITE_BALANCE]  # the state flags of the measured steps, in Inputs.draw's order


#: The shipped policy's width (``make train``): 16 scored no better on check + val (HISTORY.md, third session).
SHIPPED_WIDTH = 8


def agent_pre_steps() -> dict:
    """The Config fields that put training inputs through the measured steps the app's ``Agent``
    starts every recipe with by default: the exposure (with the learned meter's exposure and
    contrast) and the white balance (by the learned colour constancy), each model where installed,
    as the Agent falls back without it. ``retouch train-style`` trains on these."""
    return {"auto_exposure": True, "auto_white_balance": True, "meter": load_meter() is not None,
            "constancy": load_constancy() is not None}


#: An iteration's policy part (pool step, policy and value updates, fresh inputs) costs about 2.5
#: critic updates: 3.2 s per iteration with 30 of them, 0.44 s with 2 (width 8, batch 32, a style's
#: measured steps, one torch thread).
POLICY_COST = 2.5


def critic_steps(cfg: Config, it: int) -> int:
    """Critic updates in iteration ``it``: many in the first ones and every ``critic_boost_every``."""
    boost = it < cfg.critic_init_iters or it % cfg.critic_boost_every == 0
    return cfg.critic_init if boost else cfg.citers


def work(cfg: Config, start: int, end: int) -> float:
    """The cost of iterations ``start`` to ``end - 1`` in critic updates, each iteration's policy
    part counted as ``POLICY_COST`` of them: what an ETA extrapolates, so that the iterations that
    train the critic more do not skew it."""
    if end <= start:
        return 0.0
    k, lo = cfg.critic_boost_every, max(start, cfg.critic_init_iters)
    boosts = max(0, min(end, cfg.critic_init_iters) - start) + max(0, (end - 1) // k - (lo - 1) // k)
    return (end - start) * (POLICY_COST + cfg.citers) + boosts * (cfg.critic_init - cfg.citers)


def lr_at(cfg: Config, it: int) -> float:
    return cfg.lr * 0.1 ** (cfg.decay * it / max(1, cfg.iterations))


class Inputs:
    """Source of fresh episodes: linear views, degraded on the fly when ``synthetic``, or each with
    its finished version (``originals``, the same rectangles: a user's pairs)."""

    def __init__(self, views: np.ndarray, synthetic: bool, rng: np.random.Generator, auto_exposure: bool = False,
                 permute: float = 0.0, *, flag_pre_step: bool = True, auto_white_balance: bool = False,
                 meter: bool = False, constancy: bool = False, weights: np.ndarray | None = None,
                 originals: np.ndarray | None = None):
        self.paired = originals is not None and not synthetic
        self.originals = originals if self.paired else None
        self.views, self.synthetic, self.rng, self.auto_exposure = views, synthetic, rng, auto_exposure
        self.weights = weights  # each view's chance of starting an episode (None: uniform)
        self.flag_pre_step, self.auto_white_balance = flag_pre_step, auto_white_balance and auto_exposure
        self.meter = load_meter() if meter and auto_exposure else None
        if meter and auto_exposure and self.meter is None:
            raise FileNotFoundError("--meter true: no learned meter in resources/models (python -m models.meter.train)")
        self.constancy = load_constancy() if constancy and self.auto_white_balance else None
        if constancy and self.auto_white_balance and self.constancy is None:
            raise FileNotFoundError("--constancy true: no colour constancy model in resources/models "
                                    "(python -m models.wb.train)")
        self.permute = permute if synthetic else 0.0

    def draw(self, n: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Inputs, their originals (or None) and ``(n, 2)``: whether to flag exposure and white
        balance as used (their pre-step ran), as the app's ``Agent.start`` does."""
        idx = (self.rng.integers(0, len(self.views), n) if self.weights is None
               else self.rng.choice(len(self.views), n, p=self.weights))
        if self.originals is not None:  # one seed for both: a crop and a flip take the same pixels of each
            seed = int(self.rng.integers(2**63))
            img = crops.random_crops(self.views, idx, np.random.default_rng(seed))
            clean = crops.random_crops(self.originals, idx, np.random.default_rng(seed))
        else:
            clean = crops.random_crops(self.views, idx, self.rng)
        if self.permute:  # a scene's colours can no longer be recalled from its content
            which = self.rng.random(n) < self.permute
            perms = np.argsort(self.rng.random((n, 3)), axis=1)  # uniform over the 6 orders
            clean = np.where(which[:, None, None, None], np.take_along_axis(clean, perms[:, None, None, :], 3), clean)
        if self.synthetic:
            img = degrade.degrade_linear(clean, degrade.sample(self.rng, n)).astype(np.float32)
        elif not self.paired:
            img = clean
        img = np.array(img, np.float32)
        flags = np.zeros((n, 2), bool)
        if self.auto_exposure:
            for i in range(n):  # measured and applied as the app's Agent.start does
                steps = measured_steps(img[i], white_balance=self.auto_white_balance, meter=self.meter,
                                       constancy=self.constancy)
                img[i] = apply_steps(img[i], steps)
                ops = {s.op for s in steps}
                flags[i] = ["exposure" in ops, "white_balance" in ops]
        return img, (clean if self.synthetic or self.paired else None), flags & self.flag_pre_step


class Pool:
    """The out-of-order trajectory pool (images, originals, states)."""

    def __init__(self, inputs: Inputs, size: int, device: torch.device):
        self.inputs, self.device = inputs, device
        img, clean, pre = inputs.draw(size)
        self.img = torch.from_numpy(img).to(device)
        self.clean = None if clean is None else torch.from_numpy(clean).to(device)
        self.state = torch.zeros(size, N_STATE, device=device)
        self.state[:, PRE_STEP_FLAGS] = torch.from_numpy(pre).to(device, torch.float32)  # as Agent._used

    def refill(self, idx: torch.Tensor) -> None:
        img, clean, pre = self.inputs.draw(len(idx))
        self.img[idx] = torch.from_numpy(img).to(self.device)
        if self.clean is not None:
            self.clean[idx] = torch.from_numpy(clean).to(self.device)
        state = torch.zeros(len(idx), N_STATE, device=self.device)
        state[:, PRE_STEP_FLAGS] = torch.from_numpy(pre).to(self.device, torch.float32)
        self.state[idx] = state


def recon_error(linear: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    return ((srgb_encode(linear) - srgb_encode(clean)) ** 2).mean(dim=(1, 2, 3))


def recon_gain(e_in: torch.Tensor, e_out: torch.Tensor) -> torch.Tensor:
    """``log e(in) - log e(out)``: telescopes over an episode to the PSNR gained (in nepers)."""
    return torch.log(e_in + 1e-5) - torch.log(e_out + 1e-5)


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    a = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    x = (a * real + (1 - a) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    norm = g.flatten(1).norm(dim=1)
    return (torch.relu(norm - 1) ** 2).mean()  # one-sided


class Trainer:
    def __init__(self, cfg: Config, inputs: np.ndarray, targets: np.ndarray, *, synthetic: bool,
                 run: Path, device: str | None = None, weights: np.ndarray | None = None,
                 originals: np.ndarray | None = None):
        self.cfg, self.run = cfg, run
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.policy = Policy(cfg.width).to(self.device)
        self.value = Critic(cfg.width, extra=N_STATE).to(self.device)
        self.critic = Critic(cfg.width).to(self.device)
        betas = (0.5, 0.9)
        self.opt_g = torch.optim.Adam(self.policy.parameters(), cfg.lr * cfg.g_lr_mul, betas=betas)
        self.opt_v = torch.optim.Adam(self.value.parameters(), cfg.lr * cfg.v_lr_mul, betas=betas)
        self.opt_c = torch.optim.Adam(self.critic.parameters(), cfg.lr, betas=betas)
        self.synthetic = synthetic and cfg.recon_weight >= 0
        self.inputs = Inputs(inputs, synthetic, self.rng, cfg.auto_exposure, cfg.permute_channels,
                             flag_pre_step=cfg.flag_pre_step, auto_white_balance=cfg.auto_white_balance,
                             meter=cfg.meter, constancy=cfg.constancy, weights=weights, originals=originals)
        self.targets = targets
        self.pool = Pool(self.inputs, cfg.pool_mul * cfg.batch, self.device)
        self.fake = torch.zeros(0, 3, 64, 64, device=self.device)  # finished outputs (sRGB NCHW)
        self.it = 0
        self.elapsed = 0.0
        self.history: list[dict] = []
        self.stop = False

    # -- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"config": dataclasses.asdict(self.cfg), "it": self.it, "elapsed": self.elapsed,
                "policy": self.policy.state_dict(), "value": self.value.state_dict(),
                "critic": self.critic.state_dict(), "opt_g": self.opt_g.state_dict(),
                "opt_v": self.opt_v.state_dict(), "opt_c": self.opt_c.state_dict(),
                "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                "history": self.history[-2000:]}

    def save(self, path: Path | None = None) -> Path:
        path = path or self.run / "checkpoint.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save(self.state_dict(), tmp)
        return path

    def load(self, path: Path) -> None:
        ck = torch.load(path, map_location=self.device, weights_only=False)
        for k in ("policy", "value", "critic", "opt_g", "opt_v", "opt_c"):
            getattr(self, k).load_state_dict(ck[k])
        self.it, self.elapsed, self.history = ck["it"], ck["elapsed"], ck.get("history", [])
        self.rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"].cpu())  # mapped to the GPU with the rest; the generator is the CPU's

    # -- one iteration -------------------------------------------------------------------
    def _set_lr(self) -> float:
        lr = lr_at(self.cfg, self.it)
        for opt, mul in ((self.opt_g, self.cfg.g_lr_mul), (self.opt_v, self.cfg.v_lr_mul), (self.opt_c, 1.0)):
            for g in opt.param_groups:
                g["lr"] = lr * mul
        return lr

    def _step_pool(self, learn: bool) -> dict:
        cfg, pool = self.cfg, self.pool
        idx = torch.from_numpy(self.rng.choice(len(pool.img), cfg.batch, replace=False)).to(self.device)
        x, st = pool.img[idx], pool.state[idx]
        clean = None if pool.clean is None else pool.clean[idx]
        self.policy.train()
        with torch.set_grad_enabled(learn):
            pdf, raw = self.policy(x, st)
            outs = apply_all(x, raw)
            a = torch.multinomial(pdf.detach(), 1)[:, 0]
            onehot = torch.nn.functional.one_hot(a, N_FILTERS).to(x.dtype)
            y = (outs * onehot[:, :, None, None, None]).sum(1)
            used = st[:, 1:]
            new_st = torch.cat([st[:, :1] + 1, torch.maximum(used, onehot)], 1)
            stopped = (new_st[:, 0] >= N_STEPS).to(x.dtype)
            info: dict = {}
            if learn and cfg.all_actions:
                info = self._learn_all(x, st, outs, stopped, pdf, used, clean)
            elif learn:
                info = self._learn(x, st, y, new_st, stopped, pdf, a, onehot, used, clean)
        y = y.detach()
        pool.img[idx], pool.state[idx] = y, new_st.detach()
        done = idx[stopped.bool()]
        if len(done):
            self.fake = torch.cat([display(y[stopped.bool()]), self.fake])[: 4 * cfg.batch]
            pool.refill(done)
        return info

    def _entropy_penalty(self, pdf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The selector's entropy and its penalty, annealed to 0 over the run."""
        progress = min(1.0, self.it / max(1, self.cfg.iterations))
        ent = entropy(pdf)
        return ent, (1 - progress) * self.cfg.entropy_penalty * (MAX_ENTROPY - ent)

    def _update(self, g_loss: torch.Tensor, v_loss: torch.Tensor) -> None:
        """One step of the policy on ``g_loss`` and of the value net on ``v_loss`` (shared graph)."""
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_v.zero_grad(set_to_none=True)
        g_loss.backward(inputs=list(self.policy.parameters()), retain_graph=True)
        v_loss.backward(inputs=list(self.value.parameters()))
        self.opt_g.step()
        self.opt_v.step()

    def _learn(self, x, st, y, new_st, stopped, pdf, a, onehot, used, clean) -> dict:
        cfg = self.cfg
        din, dout = display(x), display(y)
        d_in = self.critic(din).detach()
        d_out = self.critic(dout)
        r_gan = cfg.critic_logit_mul * (d_out - d_in)
        over = (torch.relu(y - 1) ** 2).mean(dim=(1, 2, 3))
        ent, ent_pen = self._entropy_penalty(pdf)
        reuse = cfg.reuse_penalty * (used * onehot).sum(1)
        reward = r_gan - over - ent_pen - reuse
        gain = torch.zeros_like(reward)
        if clean is not None and cfg.recon_weight > 0:
            gain = recon_gain(recon_error(x, clean), recon_error(y, clean))
            reward = reward + cfg.recon_weight * gain
        q = reward + (1 - stopped) * self.value(dout, new_st)
        v_in = self.value(din, st)
        adv = q.detach() - v_in
        v_loss = (adv ** 2).mean()
        logp = torch.log(pdf.gather(1, a[:, None])[:, 0])
        g_loss = (-q + logp * (-adv).detach()).mean()
        self._update(g_loss, v_loss)
        return {"g_loss": g_loss.item(), "v_loss": v_loss.item(), "r_gan": r_gan.mean().item(),
                "reward": reward.mean().item(), "entropy": ent.mean().item(),
                "reuse": (used * onehot).sum(1).mean().item(), "over": over.mean().item(),
                "db_gain": (gain.mean().item() * 10 / math.log(10))}

    def _learn_all(self, x, st, outs, stopped, pdf, used, clean) -> dict:
        """The all-action update ("mean actor-critic", Allen et al. 2017).

        ``apply_all`` already runs every filter with its own head's parameters, so each of the 8
        actions gets its own ``Q(s, a) = r(s, a) + (1 - stopped) V(s'_a)``. Then the selector
        maximises ``sum_a pi(a) Q(s, a)`` (the exact expectation instead of one REINFORCE
        sample), every parameter head climbs its own ``Q`` at every step (not only when its
        filter happens to be drawn), and the value net regresses on the expected ``Q``. Same
        rewards, penalties and networks as :meth:`_learn`; far less variance per iteration.
        """
        cfg = self.cfg
        b, f = outs.shape[:2]
        din = display(x)
        flat = outs.flatten(0, 1)
        dout = display(flat)
        d_in = self.critic(din).detach()
        r_gan = cfg.critic_logit_mul * (self.critic(dout).view(b, f) - d_in[:, None])
        over = (torch.relu(outs - 1) ** 2).mean(dim=(2, 3, 4))
        reuse = cfg.reuse_penalty * used
        reward = r_gan - over - reuse
        gain = torch.zeros_like(reward)
        if clean is not None and cfg.recon_weight > 0:
            e_out = recon_error(flat, clean.repeat_interleave(f, 0)).view(b, f)
            gain = recon_gain(recon_error(x, clean)[:, None], e_out)
            reward = reward + cfg.recon_weight * gain
        eye = torch.eye(f, dtype=x.dtype, device=x.device)
        new_used = torch.maximum(used[:, None, :], eye[None])  # (b, f, f)
        new_st = torch.cat([(st[:, :1] + 1)[:, None].expand(b, f, 1), new_used], 2).flatten(0, 1)
        q = reward + (1 - stopped)[:, None] * self.value(dout, new_st).view(b, f)
        ent, ent_pen = self._entropy_penalty(pdf)
        v_in = self.value(din, st)
        v_target = (pdf.detach() * q.detach()).sum(1) - ent_pen.detach()
        v_loss = ((v_target - v_in) ** 2).mean()
        sel_loss = (-(pdf * q.detach()).sum(1) + ent_pen).mean()
        par_loss = -q.mean()
        self._update(sel_loss + par_loss, v_loss)
        w = pdf.detach()
        return {"g_loss": (sel_loss + par_loss).item(), "v_loss": v_loss.item(),
                "r_gan": (w * r_gan).sum(1).mean().item(), "reward": (w * reward).sum(1).mean().item(),
                "entropy": ent.mean().item(), "reuse": (w * used).sum(1).mean().item(),
                "over": (w * over).sum(1).mean().item(),
                "db_gain": (w * gain).sum(1).mean().item() * 10 / math.log(10),
                "db_best": gain.max(1).values.mean().item() * 10 / math.log(10)}

    def _critic_step(self) -> float:
        b = self.cfg.batch
        real_lin = crops.random_crops(self.targets, self.rng.integers(0, len(self.targets), b), self.rng)
        real = display(torch.from_numpy(real_lin).to(self.device))
        fake = self.fake[torch.from_numpy(self.rng.integers(0, len(self.fake), b)).to(self.device)]
        c_loss = self.critic(fake).mean() - self.critic(real).mean()
        loss = c_loss + self.cfg.gp_lambda * gradient_penalty(self.critic, real, fake)
        self.opt_c.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_c.step()
        return -c_loss.item()  # the Wasserstein estimate

    def warm_up(self) -> None:
        """Fill the fake buffer with finished episodes (the paper's iteration 0, lr 0); a Ctrl-C
        (``stop``) ends it early."""
        while len(self.fake) < self.cfg.batch and not self.stop:
            self._step_pool(learn=False)

    def iteration(self) -> dict:
        cfg = self.cfg
        lr = self._set_lr()
        info = self._step_pool(learn=True)
        wdist = []
        for _ in range(critic_steps(cfg, self.it)):
            wdist.append(self._critic_step())
            if self.stop:  # Ctrl-C / SIGTERM: save now, not after up to 30 critic updates (~3 s each loaded)
                break
        info["wdist"] = float(np.mean(wdist))
        info["lr"] = lr
        self.it += 1
        return info

    def fit(self, log: Callable[[str], None] = print,
            progress: Callable[[int, int, float], None] | None = None) -> Path:
        """Run to ``cfg.iterations``; checkpoints every ``checkpoint_every`` and on SIGINT, SIGTERM and
        SIGHUP (its terminal closed)."""
        cfg = self.cfg

        def _sig(signum, frame):  # end the current iteration (its critic updates cut short), save, return
            hung_up(signum)  # its terminal gone: the progress bar writes to nothing, not failing (EIO)
            self.stop = True

        # from the warm-up on: a Ctrl-C there was a traceback (nothing trained, nothing to save)
        old = catch_stops(_sig)
        try:
            self.warm_up()
            if self.stop:
                log(f"interrupted before iteration {self.it + 1}: nothing new to save")
                return self.run / "checkpoint.pt"
            path = self._iterate(log, progress)
        finally:
            restore(old)
        state = "interrupted" if self.stop else "done" if self.it >= cfg.iterations else f"stopped at {cfg.stop_at}"
        log(f"saved {path} at iteration {self.it} ({state})")
        return path

    def _iterate(self, log: Callable[[str], None], progress: Callable[[int, int, float], None] | None) -> Path:
        """Iterations to the end (or a stop), logged, checkpointed, and saved last whatever happens."""
        cfg = self.cfg
        t_last, it_last = time.time(), self.it
        acc: list[dict] = []
        if progress:  # the start: a progress bar then times the first iteration too
            progress(self.it, cfg.iterations, self.elapsed)
        try:
            end = min(cfg.iterations, cfg.stop_at or cfg.iterations)
            while self.it < end and not self.stop:
                t0 = time.time()
                info = self.iteration()
                self.elapsed += time.time() - t0
                acc.append(info)
                if progress:
                    progress(self.it, cfg.iterations, self.elapsed)
                if self.it % 20 == 0 or self.it == cfg.iterations:
                    rate = (time.time() - t_last) / max(1, self.it - it_last)
                    # to where this invocation stops, at the recent cost per critic update
                    eta = (time.time() - t_last) / work(cfg, it_last, self.it) * work(cfg, self.it, end)
                    t_last, it_last = time.time(), self.it
                    mean = {k: float(np.mean([a[k] for a in acc])) for k in acc[0]}
                    acc = []
                    self.history.append({"it": self.it, **mean})
                    log(f"it {self.it}/{cfg.iterations} {rate:.2f}s/it eta {hms(eta)} lr {mean['lr']:.2e} "
                        f"W {mean['wdist']:+.3f} r {mean['reward']:+.3f} gan {mean['r_gan']:+.4f} "
                        f"dB {mean['db_gain']:+.2f} H {mean['entropy']:.2f} reuse {mean['reuse']:.2f} "
                        f"v {mean['v_loss']:.4f}")
                if self.it % cfg.checkpoint_every == 0 or (cfg.keep_every and self.it % cfg.keep_every == 0):
                    path = self.save()
                    if cfg.keep_every and self.it % cfg.keep_every == 0:
                        shutil.copyfile(path, path.with_name(f"checkpoint-it{self.it}.pt"))
        finally:
            path = self.save()
        return path


def split_targets(inputs: list[Path], targets: list[Path], share: float) -> tuple[list[Path], list[Path]]:
    """Move ``share`` of the input photos, chosen by a hash of the name, to the targets: the
    critic then learns "finished" from many scenes, and the two sets stay disjoint."""
    import hashlib

    moved = [p for p in inputs if int(hashlib.sha1(p.stem.encode()).hexdigest()[:8], 16) / 16 ** 8 < share]
    return [p for p in inputs if p not in moved], sorted([*targets, *moved])


def default_data(photos: Path, cache: Path, per_photo: int, target_share: float = 0.0,
                 source_balance: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Input views, target views, and each input view's sampling weight (None: uniform)."""
    from ..data.assemble import assemble, plan

    sets = assemble(photos)
    inputs, targets = split_targets(sorted(sets["inputs"]), sorted(sets["targets"]), target_share)
    views = crops.build(inputs, per_photo, cache, seed=1)
    weights = None
    if source_balance:
        package = {e.name: e.package for e in plan()[0]}
        weights = source_weights([package.get(p.stem, "") for p in inputs], len(views), source_balance)
    return views, crops.build(targets, per_photo, cache, seed=2), weights


def source_weights(sources: list[str], n_views: int, balance: float) -> np.ndarray:
    """Each view's sampling weight: ``1 - balance`` of the draws uniform over the views, ``balance``
    uniform over the sources (a source's views share its part equally).

    The default inputs are 238 GCompris object photos and 21 wallpapers from four packages, while
    the check and held-out photos are wallpapers; ``balance`` lets the few wallpapers count for
    more without dropping the many objects. Views are ``crops.build``'s: the same count per photo,
    in the photos' order.
    """
    if n_views % len(sources):
        raise ValueError(f"{n_views} views do not split evenly over {len(sources)} photos (an unreadable photo?)")
    per_view = np.repeat(np.asarray(sources), n_views // len(sources))
    names, inverse, counts = np.unique(per_view, return_inverse=True, return_counts=True)
    w = (1 - balance) / n_views + balance / (len(names) * counts[inverse])
    return w / w.sum()


def train(cfg: Config, run: Path, *, inputs: np.ndarray, targets: np.ndarray, synthetic: bool,
          weights: np.ndarray | None = None, resume: bool = False, log: Callable[[str], None] = print,
          progress: Callable[[int, int, float], None] | None = None, device: str | None = None,
          originals: np.ndarray | None = None) -> Trainer:
    """``originals``: each input view's finished version (a user's pairs; ``cfg.paired``)."""
    torch.set_num_threads(int(os.environ.get("RETOUCH_THREADS", "2")))
    tr = Trainer(cfg, inputs, targets, synthetic=synthetic, run=run, device=device, weights=weights,
                 originals=originals)
    ck = run / "checkpoint.pt"
    if resume and ck.exists():
        tr.load(ck)
        log(f"resumed {ck} at iteration {tr.it}")
    run.mkdir(parents=True, exist_ok=True)
    with atomic_path(run / "config.json") as tmp:  # as the checkpoints: never half a file
        tmp.write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
    log(f"device {tr.device}; {len(inputs)} input views, {len(targets)} target views; "
        f"policy {sum(p.numel() for p in tr.policy.parameters()):,} params")
    tr.fit(log=log, progress=progress)
    return tr


class RunBusy(RuntimeError):
    """Another training holds the run folder ``run``; each command says so in its own words."""

    def __init__(self, run: Path, who: str = "training", folder: str = "run folder") -> None:
        self.run = run
        super().__init__(f"another {who} is running in {run}: wait for it to finish, or give this one "
                         f"another {folder}")


class CheckpointError(ValueError):
    """A file that is not a readable checkpoint."""


@contextmanager
def run_lock(run: Path) -> Iterator[None]:
    """The run folder to this process alone while it trains (the lock goes with the process, even
    when it is killed): two trainings in one folder would write over each other's checkpoints."""
    from filelock import FileLock, Timeout

    made = not run.exists()
    run.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run / ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunBusy(run) from None
    try:
        yield
    finally:
        if made and [p.name for p in run.iterdir()] == [".lock"]:  # refused before any work: leave no folder
            (run / ".lock").unlink()  # (a run folder is "a former style's training files" to a rename)
            lock.release()
            run.rmdir()
        else:
            lock.release()


def read_checkpoint_config(path: Path) -> tuple[Config, int]:
    """A checkpoint's own configuration (unknown keys of older versions dropped) and iteration; a
    :class:`CheckpointError` saying why for a file that is not a readable checkpoint."""
    import pickle

    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
        saved, it = ck["config"], int(ck["it"])
    except (RuntimeError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError, AttributeError,
            ImportError) as e:
        raise CheckpointError(f"{path} is not a readable checkpoint ({e})") from None
    known = {f.name for f in dataclasses.fields(Config)}
    return Config(**{k: v for k, v in saved.items() if k in known}), it


def _flag(text: str) -> bool:
    v = text.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


AT_LEAST_ONE = ("width", "batch", "iterations", "checkpoint_every", "citers", "pool_mul", "views_per_photo")


def main(argv: list[str] | None = None) -> int:
    from engine.folders import scan_folder

    from ..data.assemble import SPLITS

    ap = argparse.ArgumentParser(description="Train the shipped retouching agent on the default photo set "
                                             "(your own photos: retouch train-style --inputs DIR --targets DIR)")
    ap.add_argument("--run", type=Path, default=Path("runs/base"), help="working folder: checkpoints, log, config")
    ap.add_argument("--photos", type=Path, default=Path("data/photos"),
                    help="the default sets' folder, as `python -m models.data.assemble --out` makes it")
    ap.add_argument("--resume", action="store_true",
                    help="continue the run's checkpoint with its settings (a run without one starts afresh)")
    ap.add_argument("--replace", action="store_true", help="start again where the run has a checkpoint")
    for f in dataclasses.fields(Config):
        kind = _flag if isinstance(f.default, bool) else type(f.default)
        ap.add_argument("--" + f.name.replace("_", "-"), type=kind, default=None)
    args = ap.parse_args(argv)
    over = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config) if getattr(args, f.name) is not None}
    for name in AT_LEAST_ONE:
        if name in over and over[name] < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1 (got {over[name]})")
    if args.photos.is_dir() and scan_folder(args.photos):  # photos of one's own, RAW or not
        if not any((args.photos / s).is_dir() for s in SPLITS):
            ap.error(f"{args.photos} holds photos, not the default sets' folders ({', '.join(SPLITS)}): "
                     "to learn from your own photos, use retouch train-style --inputs DIR --targets DIR")
    ck = args.run / "checkpoint.pt"
    if ck.exists() and not (args.resume or args.replace):
        ap.error(f"{ck} exists: --resume continues it, --replace starts again")
    try:
        with run_lock(args.run):
            return _train_main(args, over, ck)
    except (RunBusy, CheckpointError) as e:  # not any ValueError of hours of training: those keep their traceback
        print(f"train: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before the trainer's own handler (reading photos, loading): nothing trained yet
        print("train: cancelled before training began: nothing saved", file=sys.stderr)
        return 130


def _train_main(args: argparse.Namespace, over: dict, ck: Path) -> int:
    cfg = Config(**over)
    if args.resume and ck.exists():  # the run's settings (the checkpoint's own), the options given on top
        saved, _ = read_checkpoint_config(ck)
        cfg = dataclasses.replace(saved, **over)
    logfile = args.run / "train.log"  # appended across resumes: the run's whole history

    def log(msg: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
        print(line, flush=True)
        with logfile.open("a") as f:
            f.write(line + "\n")

    if args.resume and not ck.exists():
        log(f"--resume: no checkpoint in {args.run} yet: starting afresh")
    inputs, targets, weights = default_data(args.photos, Path("data/cache"), cfg.views_per_photo, cfg.target_share,
                                            cfg.source_balance)
    if weights is not None:
        log(f"source balance {cfg.source_balance}: views drawn with weights {weights.min():.2e}-{weights.max():.2e}")
    tr = train(cfg, args.run, inputs=inputs, targets=targets, synthetic=True, weights=weights,
               resume=args.resume, log=log)
    return 130 if tr.stop else 0  # interrupted: a Makefile must not go on to export it


if __name__ == "__main__":
    sys.exit(main())
