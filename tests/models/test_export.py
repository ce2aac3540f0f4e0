"""The ONNX graph computes what the torch policy computes; dropout masks make variations reproducible."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from engine.runners.agent import Agent  # noqa: E402
from models.retouch.export import export  # noqa: E402
from models.retouch.nets import N_STATE, Policy  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(3)
    policy = Policy(width=8).eval()
    path = export(policy, tmp_path_factory.mktemp("m") / "p.onnx", {"name": "test"})
    return policy, path


def test_torch_onnx_parity(exported, tiny_views):
    policy, path = exported
    agent = Agent(path, prefer_gpu=False)
    x = tiny_views[:6, :64, :64].copy()
    state = np.zeros((6, N_STATE), np.float32)
    state[:, 0] = np.arange(6) % 5
    state[np.arange(6), 1 + np.arange(6) % 8] = 1
    rng = np.random.default_rng(0)
    masks = [(rng.random((6, policy.feat_dim)) < 0.5).astype(np.float32) * 2 for _ in range(2)]
    pdf_o, raw_o = agent.session.run(None, {"proxy": x, "state": state, "mask_sel": masks[0], "mask_par": masks[1]})
    with torch.no_grad():
        pdf_t, raw_t = policy(torch.from_numpy(x), torch.from_numpy(state), tuple(torch.from_numpy(m) for m in masks))
    np.testing.assert_allclose(pdf_o, pdf_t.numpy(), atol=1e-5)
    np.testing.assert_allclose(raw_o, raw_t.numpy(), atol=1e-4)
    assert agent.name == "test"


def test_fp16_storage_halves_the_file_and_keeps_the_policy(exported, tiny_views, tmp_path):
    """``models.onnx_fp16``: the weights stored in fp16 and cast back, the inputs, outputs and
    metadata as they were; the outputs move by the weights' rounding only (~1e-3 at most)."""
    import onnx

    from models.onnx_fp16 import main as to_fp16

    _, path = exported
    small = tmp_path / "p16.onnx"
    assert to_fp16([str(path), "-o", str(small)]) == 0
    assert small.stat().st_size < 0.55 * path.stat().st_size
    graph = onnx.load(str(small)).graph
    assert {i.name for i in graph.input} == {i.name for i in onnx.load(str(path)).graph.input}
    assert sum(i.data_type == onnx.TensorProto.FLOAT16 for i in graph.initializer) >= 5
    a, b = Agent(path, prefer_gpu=False), Agent(small, prefer_gpu=False)
    assert a.meta == b.meta and b.name == "test"
    x = tiny_views[:6, :64, :64].copy()
    feeds = {"proxy": x, "state": np.zeros((6, N_STATE), np.float32),
             "mask_sel": np.ones((6, a.feat_dim), np.float32), "mask_par": np.ones((6, a.feat_dim), np.float32)}
    (pdf_a, raw_a), (pdf_b, raw_b) = a.session.run(None, feeds), b.session.run(None, feeds)
    assert 0 < np.abs(raw_a - raw_b).max() < 1e-2
    np.testing.assert_allclose(pdf_b, pdf_a, atol=1e-3)


def test_variations_reproducible_by_seed(exported, heldout_srgb):
    from engine.color import srgb_decode

    _, path = exported
    agent = Agent(path, prefer_gpu=False)
    lin = srgb_decode(heldout_srgb[0])
    a = agent.variations(lin, 3, seed=7)
    b = agent.variations(lin, 3, seed=7)
    c = agent.variations(lin, 3, seed=8)
    assert [r.dumps() for r in a] == [r.dumps() for r in b]
    assert [r.dumps() for r in a] != [r.dumps() for r in c]
    assert agent.predict(lin).dumps() == agent.predict(lin).dumps()


@pytest.mark.parametrize("flag", [True, False])
def test_the_pre_step_flag_travels_from_training_to_the_agent(tiny_views, tmp_path, flag):
    """A policy trained to refine Auto's measured exposure and white balance (flag off) must not
    see them as used at inference, and one trained with the flag must; the trainer's pool follows
    the same setting."""
    from models.retouch.export import summary
    from models.retouch.train import EXPOSURE, WHITE_BALANCE, Config, Trainer

    cfg = Config(width=4, batch=4, iterations=1, auto_exposure=True, auto_white_balance=True, flag_pre_step=flag)
    tr = Trainer(cfg, tiny_views, tiny_views, synthetic=True, run=tmp_path)
    assert bool(tr.pool.state[:, EXPOSURE].any()) == flag  # degraded inputs always need a pre-step
    assert bool(tr.pool.state[:, WHITE_BALANCE].any()) == flag  # ... and nearly always a white balance
    path = export(tr.policy.eval(), tmp_path / "p.onnx", summary(tr.state_dict()))
    agent = Agent(path)
    seen: list[tuple[str, ...]] = []
    run_proxy = agent.run_proxy
    agent.run_proxy = lambda proxy, masks, used=(), rng=None, **k: seen.append(used) or run_proxy(proxy, masks, used,
                                                                                                   rng, **k)
    photo = tiny_views[0] * 0.25 * np.asarray([1.3, 1.0, 0.8], np.float32)  # dark and warm: both pre-steps
    recipe = agent.predict(photo)
    assert [s.source for s in recipe.steps[:2]] == ["auto-exposure", "auto-white-balance"]
    assert seen == [("exposure", "white_balance") if flag else ()]


def test_checkpoints_average_weight_by_weight(tmp_path):
    from models.retouch.export import average_policies

    paths = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        p = Policy(width=4)
        paths.append(tmp_path / f"ck{seed}.pt")
        torch.save({"policy": p.state_dict(), "config": {"width": 4}, "it": 10 * seed}, paths[-1])
    avg, ck = average_policies(paths)
    a, b = (torch.load(p, weights_only=False)["policy"] for p in paths)
    for k, v in avg.state_dict().items():
        torch.testing.assert_close(v, (a[k] + b[k]) / 2)
    assert ck["averaged"] == [10, 20] and ck["it"] == 20
    torch.save({"policy": Policy(width=8).state_dict(), "config": {"width": 8}, "it": 1}, tmp_path / "w8.pt")
    with pytest.raises(ValueError, match="widths"):
        average_policies([paths[0], tmp_path / "w8.pt"])
