"""The learned agent at inference: 5 steps on a 64x64 proxy, returned as an editable Recipe.

The policy graph (``models/retouch/export.py``) maps a linear proxy and the episode state to
a pdf over the 8 filters and every filter head's raw outputs. Here, each step picks the most
likely filter (the paper's test-time argmax), maps its raw outputs to parameters with the
engine's own ``spec.from_network``, applies ``spec.apply`` to the proxy and records the step
with the probabilities of all 8 filters. The Recipe is then replayed at full resolution by
``engine.render``.

Variations use the paper's dropout "one-to-many": each variation draws its own dropout masks
from ``seed`` (keep 0.5), so the same seed gives the same recipes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..filters import AGENT_FILTERS, REGISTRY
from ..recipe import Recipe, Step
from ..render import make_proxy
from .onnx import session

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "models"
DEFAULT_MODEL = RESOURCES / "retouch.onnx"


def user_styles_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "retouch" / "styles"


def available_models() -> list[Path]:
    """Shipped models (``resources/models/retouch*.onnx``) first, then the user's styles."""
    shipped = sorted(RESOURCES.glob("retouch*.onnx"))
    styles = user_styles_dir()
    users = sorted(styles.glob("*.onnx")) if styles.is_dir() else []
    return shipped + users


class Agent:
    """Runs a policy model. ``model`` is a path, a name from :func:`available_models`, or None."""

    def __init__(self, model: str | Path | None = None, *, prefer_gpu: bool = True, threads: int | None = None):
        self.path = self._resolve(model)
        self.session, self.device = session(self.path, prefer_gpu=prefer_gpu, threads=threads)
        meta = self.session.get_modelmeta().custom_metadata_map.get("retouch")
        self.meta: dict = json.loads(meta) if meta else {}
        self.filters: tuple[str, ...] = tuple(self.meta.get("filters", AGENT_FILTERS))
        unknown = [f for f in self.filters if f not in REGISTRY]
        if unknown:
            raise ValueError(f"{self.path.name}: model uses unknown filters {unknown}")
        self.widths = [REGISTRY[f].n_outputs for f in self.filters]
        if self.meta.get("head_widths", self.widths) != self.widths:
            raise ValueError(f"{self.path.name}: model heads do not match this Retouch's filters")
        self.steps = int(self.meta.get("steps", 5))
        self.size = int(self.meta.get("proxy", 64))
        self.keep = float(self.meta.get("keep", 0.5))
        self.feat_dim = int(self.session.get_inputs()[2].shape[1])

    @staticmethod
    def _resolve(model: str | Path | None) -> Path:
        if model is None:
            return DEFAULT_MODEL
        p = Path(model).expanduser()
        if p.exists():
            return p
        for cand in available_models():
            if cand.stem == str(model):
                return cand
        raise FileNotFoundError(f"no model {model!r} (available: {', '.join(m.stem for m in available_models())})")

    @property
    def name(self) -> str:
        return str(self.meta.get("name", self.path.stem))

    # ------------------------------------------------------------------------------------
    def _masks(self, n: int, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
        if rng is None:  # deterministic: the expectation of dropout
            ones = np.ones((n, self.feat_dim), np.float32)
            return ones, ones
        draw = lambda: (rng.random((n, self.feat_dim)) < self.keep).astype(np.float32) / self.keep  # noqa: E731
        return draw(), draw()

    def run_proxy(self, proxy: np.ndarray, masks: tuple[np.ndarray, np.ndarray]) -> list[Recipe]:
        """Episodes for a batch of proxies ``(N, 64, 64, 3)``, one dropout mask pair per episode."""
        img = np.ascontiguousarray(proxy, np.float32)
        n = len(img)
        state = np.zeros((n, 1 + len(self.filters)), np.float32)
        steps: list[list[Step]] = [[] for _ in range(n)]
        for _ in range(self.steps):
            pdf, raw = self.session.run(None, {"proxy": img, "state": state,
                                               "mask_sel": masks[0], "mask_par": masks[1]})
            heads = np.split(raw, np.cumsum(self.widths)[:-1], axis=1)
            for i in range(n):
                a = int(np.argmax(pdf[i]))
                spec = REGISTRY[self.filters[a]]
                params = spec.from_network(heads[a][i].astype(np.float64))
                params = {p.name: np.clip(params[p.name], p.min, p.max) for p in spec.params}
                img[i] = spec.apply(img[i], **params)
                probs = {f: float(pdf[i, k]) for k, f in enumerate(self.filters)}
                steps[i].append(Step(spec.id, {k: _plain(v) for k, v in params.items()}, probs=probs))
                state[i, 0] += 1
                state[i, 1 + a] = 1
        return [Recipe(s) for s in steps]

    def proxy(self, linear: np.ndarray) -> np.ndarray:
        """The whole frame squeezed to the model's proxy size (``engine.render.make_proxy``).

        A large photo is first subsampled by an integer stride to at least 4x the proxy size:
        the 64x64 area average of 256+ evenly spread samples per side differs from the full one
        by far less than the policy can see, and it costs ~1 ms instead of ~100 ms at 24 MP.
        """
        lin = np.asarray(linear, np.float32)
        stride = max(1, min(lin.shape[:2]) // (4 * self.size))
        if stride > 1:
            lin = lin[stride // 2 :: stride, stride // 2 :: stride]
        return make_proxy(lin, self.size)

    def predict(self, linear: np.ndarray, *, seed: int | None = None) -> Recipe:
        """The agent's recipe for a linear photo; ``seed`` None = deterministic (no dropout)."""
        proxy = self.proxy(linear)[None]
        rng = None if seed is None else np.random.default_rng(seed)
        return self.run_proxy(proxy, self._masks(1, rng))[0]

    def variations(self, linear: np.ndarray, n: int, *, seed: int = 0) -> list[Recipe]:
        """``n`` alternative recipes from the policy's dropout, reproducible by ``seed``."""
        batch = np.repeat(self.proxy(linear)[None], n, axis=0)
        return self.run_proxy(batch, self._masks(n, np.random.default_rng(seed)))


def _plain(v: np.ndarray) -> float | list:
    a = np.asarray(v, np.float64)
    return float(a) if a.ndim == 0 else a.tolist()
