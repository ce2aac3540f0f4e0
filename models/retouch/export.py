"""Export a trained policy to ONNX: ``python -m models.retouch.export CHECKPOINT [...] -o model.onnx``.

Several checkpoints of one run are averaged weight by weight before export (stochastic weight
averaging, Izmailov et al. 2018): a policy trained on a noisy RL signal wanders between
checkpoints, and the average of late checkpoints is usually steadier than any one of them.

Graph (dynamic batch ``N``)::

    proxy    (N, 64, 64, 3) float32   linear proxy (engine.render.make_proxy)
    state    (N, 9)         float32   step count, 8 "filter used" flags
    mask_sel (N, F)         float32   dropout mask of the selector features (1 = deterministic)
    mask_par (N, F)         float32   dropout mask of the parameter features
 -> pdf      (N, 8)                   filter probabilities (paper's 5 % exploration mixed in)
    raw      (N, sum n_outputs)       raw head outputs; params = spec.from_network(slice)

Dropout is an explicit input, so variations are reproducible from a seed (masks of 0 and
1/keep) and the deterministic mode is masks of ones (the usual eval-mode scaling). The model's
metadata (filter order, head widths, training summary) is stored in the ONNX file itself under
the key ``retouch``, so a user's style model is one self-contained file.

``--ensemble`` adds further members, each one checkpoint or several averaged: independently trained
policies (other seeds) cannot be weight-averaged, so the graph runs them all on the same inputs and
outputs the mean of their ``pdf`` and ``raw``. Its inputs and outputs are those of one policy, so
the engine runs an ensemble like any model; the dropout masks are shared, each member applying them
to its own features.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import warnings
from pathlib import Path

import torch

from engine.atomic import atomic_write_bytes
from engine.filters import AGENT_FILTERS, REGISTRY
from engine.runners.agent import POLICY_INPUTS

from .nets import HEAD_WIDTHS, KEEP, N_STATE, N_STEPS, Policy

OPSET = 17


def average_policies(checkpoints: list[Path]) -> tuple[Policy, dict]:
    """The weight average of several checkpoints' policies; the last checkpoint's metadata."""
    cks = [torch.load(c, map_location="cpu", weights_only=False) for c in checkpoints]
    widths = {ck["config"]["width"] for ck in cks}
    if len(widths) != 1:
        raise ValueError(f"cannot average policies of different widths {sorted(widths)}")
    policy = Policy(widths.pop())
    states = [ck["policy"] for ck in cks]
    policy.load_state_dict({k: sum(s[k].double() for s in states).div(len(states)).to(v.dtype)
                            if v.is_floating_point() else v for k, v in states[-1].items()})
    policy.eval()
    return policy, {**cks[-1], "averaged": [ck["it"] for ck in cks]}


def load_policy(checkpoint: Path) -> tuple[Policy, dict]:
    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    policy = Policy(ck["config"]["width"])
    policy.load_state_dict(ck["policy"])
    policy.eval()
    return policy, ck


class _Graph(torch.nn.Module):
    def __init__(self, policy: Policy):
        super().__init__()
        self.policy = policy

    def forward(self, proxy: torch.Tensor, state: torch.Tensor, mask_sel: torch.Tensor,
                mask_par: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.policy(proxy, state, (mask_sel, mask_par))


class Ensemble(torch.nn.Module):
    """Several policies of one width behind one policy's interface: the mean of their outputs."""

    def __init__(self, members: list[Policy]):
        super().__init__()
        if len({m.width for m in members}) != 1:
            raise ValueError(f"ensemble members differ in width: {sorted({m.width for m in members})}")
        self.members = torch.nn.ModuleList(members)
        self.width, self.feat_dim = members[0].width, members[0].feat_dim

    def forward(self, linear: torch.Tensor, state: torch.Tensor,
                masks: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        outs = [m(linear, state, masks) for m in self.members]
        return (torch.stack([o[0] for o in outs]).mean(0), torch.stack([o[1] for o in outs]).mean(0))


def metadata(policy: Policy | Ensemble, extra: dict | None = None) -> dict:
    return {"format": 1, "filters": list(AGENT_FILTERS), "head_widths": HEAD_WIDTHS,
            "filter_versions": {f: REGISTRY[f].trained_version for f in AGENT_FILTERS},
            "state": ["step", *(f"used_{f}" for f in AGENT_FILTERS)], "steps": N_STEPS,
            "proxy": 64, "feature_dim": policy.feat_dim, "keep": KEEP, "width": policy.width,
            **(extra or {})}


def export(policy: Policy | Ensemble, out: Path, extra: dict | None = None, *, fp16: bool = False) -> Path:
    """Write ``policy`` as ONNX; ``fp16``: its weights stored in fp16 and computed in fp32
    (:mod:`models.onnx_fp16`, half the file), unless a weight is beyond fp16's range."""
    import onnx

    from ..onnx_fp16 import store_fp16

    policy = policy.eval()
    n, f = 2, policy.feat_dim
    args = (torch.rand(n, 64, 64, 3), torch.zeros(n, N_STATE), torch.ones(n, f), torch.ones(n, f))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Graph(policy), args, buf, dynamo=False, opset_version=OPSET,
                          input_names=list(POLICY_INPUTS), output_names=["pdf", "raw"],
                          dynamic_axes={k: {0: "N"} for k in (*POLICY_INPUTS, "pdf", "raw")})
    model = onnx.load_from_string(buf.getvalue())
    entry = model.metadata_props.add()
    entry.key, entry.value = "retouch", json.dumps(metadata(policy, extra))
    onnx.checker.check_model(model)
    if fp16:
        try:
            model = store_fp16(model)
        except ValueError:  # a weight fp16 cannot hold: the fp32 file is still right
            pass
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, model.SerializeToString())
    return out


def pre_steps(cfg: dict) -> dict[str, bool]:
    """The measured steps a policy's training inputs went through (``train.Inputs``: each one only
    with the exposure step, the colour constancy only with the white balance)."""
    exposure = bool(cfg.get("auto_exposure", False))
    wb = exposure and bool(cfg.get("auto_white_balance", False))
    return {"auto_exposure": exposure, "auto_white_balance": wb, "meter": exposure and bool(cfg.get("meter", False)),
            "constancy": wb and bool(cfg.get("constancy", False))}


def summary(ck: dict) -> dict:
    cfg = ck["config"]
    return {"iterations": ck["it"], "train_seconds": round(ck["elapsed"]),
            "config": {k: cfg[k] for k in ("width", "batch", "lr", "citers", "recon_weight") if k in cfg},
            "pre_steps": pre_steps(cfg),
            # whether their state flags were set, which the Agent then does too: only if they ran
            "pre_step_used": bool(cfg.get("flag_pre_step", True) and cfg.get("auto_exposure", False)),
            **({"averaged_iterations": ck["averaged"]} if "averaged" in ck else {})}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Export a policy checkpoint to ONNX")
    ap.add_argument("checkpoint", type=Path, nargs="+", help="one checkpoint, or several to average")
    ap.add_argument("-o", "--out", type=Path, default=Path("resources/models/retouch.onnx"))
    ap.add_argument("--ensemble", type=Path, nargs="+", action="append", default=[], metavar="CHECKPOINT",
                    help="another member (one checkpoint, or several to average); repeat for more")
    ap.add_argument("--name", default=None, help="style name stored in the model")
    args = ap.parse_args(argv)
    members = [load_policy(cks[0]) if len(cks) == 1 else average_policies(cks)
               for cks in [args.checkpoint, *args.ensemble]]
    policy, ck = members[0]
    extra = {"name": args.name or args.out.stem, **summary(ck)}
    if len(members) > 1:
        policy = Ensemble([p for p, _ in members])
        extra["ensemble"] = [summary(c) for _, c in members]
    out = export(policy, args.out, extra)
    for _, c in members:
        print(f"iteration {', '.join(map(str, c.get('averaged', [c['it']])))} of seed {c['config'].get('seed')}")
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB), {len(members)} member(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
