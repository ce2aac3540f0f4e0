"""The Exposure networks in torch: policy (selector + parameter heads), value, critic.

Shapes follow Hu et al. 2018 (exposure.md §2) scaled by ``width`` (the paper: 32):

* common CNN: 4x (conv 4x4 stride 2, padding 1, lrelu 0.2), channels w, 2w, 4w, 8w on
  64 -> 32 -> 16 -> 8 -> 4; no normalisation; flatten = 128 w features; the *whole* input,
  state planes included, is centred by ``- 0.5``;
* policy: a selector extractor -> dropout -> fc 128 -> 8 logits -> softmax, mixed with 5 %
  uniform exploration; a shared parameter extractor -> dropout -> per-filter fc 128 -> fc
  ``spec.n_outputs`` (the engine's declared head width; the paper's 6 unused mask outputs are
  left out);
* value: RGB + state planes + 3 statistic planes -> CNN -> fc 128 -> 1;
* critic: RGB + 3 statistic planes -> CNN -> fc 128 -> 1.

Images enter as linear ``(B, H, W, 3)`` and are shown to every network in display form,
``engine.color.srgb_encode`` (what the critic's sRGB targets are in). State planes: the step
count (raw 0..5, not normalised, as in the paper) and 8 "filter already used" flags.

Dropout masks can be given explicitly (``masks=(sel, par)``, values 0 or 1/keep) so that an ONNX
export and a seeded variation reproduce exactly; ``masks=None`` uses torch dropout in training
mode and none in eval mode.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn import functional as F

from engine.color import srgb_encode
from engine.filters import AGENT_FILTERS, REGISTRY
from engine.filters.base import LUMA, check_differentiable

N_FILTERS = len(AGENT_FILTERS)
N_STEPS = 5
N_STATE = 1 + N_FILTERS  # step count + used flags
EXPLORATION = 0.05
KEEP = 0.5
HEAD_WIDTHS = [REGISTRY[f].n_outputs for f in check_differentiable(AGENT_FILTERS)]


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class Extractor(nn.Module):
    """4x conv 4x4/2 + lrelu; ``(B, C, 64, 64) -> (B, 128 w)``."""

    def __init__(self, in_ch: int, width: int):
        super().__init__()
        chans = [in_ch, width, 2 * width, 4 * width, 8 * width]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 4, 2, 1) for a, b in itertools.pairwise(chans))
        self.out_dim = 8 * width * 4 * 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - 0.5
        for c in self.convs:
            x = lrelu(c(x))
        return x.flatten(1)


def display(linear: torch.Tensor) -> torch.Tensor:
    """Linear NHWC -> sRGB-encoded NCHW (what the networks see)."""
    return srgb_encode(linear).permute(0, 3, 1, 2)


def stat_planes(srgb_nchw: torch.Tensor) -> torch.Tensor:
    """The critic's 3 global statistics as constant planes: mean lum, lum variance, mean saturation."""
    img = srgb_nchw.clamp(0, 1)
    lum = LUMA[0] * img[:, 0] + LUMA[1] * img[:, 1] + LUMA[2] * img[:, 2]
    mean = lum.mean(dim=(1, 2))
    var = lum.var(dim=(1, 2), unbiased=False)
    mx, mn = img.max(dim=1).values, img.min(dim=1).values
    sat = ((mx - mn) / (torch.minimum(mx + mn, 2 - mx - mn) + 1e-2)).mean(dim=(1, 2))
    s = torch.stack([mean, var, sat], 1)
    return s[:, :, None, None].expand(-1, -1, img.shape[2], img.shape[3])


def state_planes(state: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return state[:, :, None, None].expand(-1, -1, like.shape[2], like.shape[3])


class Policy(nn.Module):
    def __init__(self, width: int = 16, hidden: int = 128):
        super().__init__()
        self.width = width
        self.sel_extractor = Extractor(3 + N_STATE, width)
        self.par_extractor = Extractor(3 + N_STATE, width)
        d = self.sel_extractor.out_dim
        self.feat_dim = d
        self.sel_fc1 = nn.Linear(d, hidden)
        self.sel_fc2 = nn.Linear(hidden, N_FILTERS)
        self.heads = nn.ModuleList(nn.Sequential(nn.Linear(d, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, n))
                                   for n in HEAD_WIDTHS)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for h in self.heads:  # start at each filter's default-ish parameters (raw near 0)
            h[2].weight.data.mul_(0.1)

    def _drop(self, f: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if mask is not None:
            return f * mask
        return F.dropout(f, 1 - KEEP, self.training)

    def forward(self, linear: torch.Tensor, state: torch.Tensor,
                masks: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``linear (B, 64, 64, 3), state (B, 9)`` -> ``pdf (B, 8)``, raw head outputs ``(B, sum n_outputs)``."""
        img = display(linear)
        x = torch.cat([img, state_planes(state, img)], 1)
        ms, mp = masks if masks is not None else (None, None)
        fs = self._drop(self.sel_extractor(x), ms)
        logits = self.sel_fc2(lrelu(self.sel_fc1(fs)))
        pdf = torch.softmax(logits, -1) * (1 - EXPLORATION) + EXPLORATION / N_FILTERS
        fp = self._drop(self.par_extractor(x), mp)
        raw = torch.cat([h(fp) for h in self.heads], -1)
        return pdf, raw


def split_raw(raw: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.split(raw, HEAD_WIDTHS, -1))


def apply_all(linear: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """Every agent filter applied with its own head's parameters: ``(B, 8, H, W, 3)``.

    Goes through the engine's declaration (``spec.from_network`` then ``spec.apply``): the
    training graph differentiates the very math the app replays.
    """
    outs = []
    for fid, r in zip(AGENT_FILTERS, split_raw(raw)):
        spec = REGISTRY[fid]
        outs.append(spec.apply(linear, **spec.from_network(r)))
    return torch.stack(outs, 1)


class Critic(nn.Module):
    """WGAN critic on sRGB images (NCHW) + 3 stat planes; also the value net with state planes."""

    def __init__(self, width: int = 16, extra: int = 0, hidden: int = 128):
        super().__init__()
        self.extra = extra
        self.cnn = Extractor(3 + 3 + extra, width)
        self.fc1 = nn.Linear(self.cnn.out_dim, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, srgb: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        parts = [srgb, stat_planes(srgb)]
        if self.extra:
            parts.append(state_planes(state, srgb))
        return self.fc2(lrelu(self.fc1(self.cnn(torch.cat(parts, 1)))))[:, 0]


def entropy(pdf: torch.Tensor) -> torch.Tensor:
    return -(pdf * torch.log(pdf + 1e-8)).sum(-1)


MAX_ENTROPY = math.log(N_FILTERS)
