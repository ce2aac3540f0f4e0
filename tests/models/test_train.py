"""A few training iterations on tiny real data: finite losses, moving weights, a resumable checkpoint."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from models.retouch.train import Config, Trainer, critic_steps, recon_error, recon_gain, train  # noqa: E402

TINY = dict(width=4, batch=4, iterations=4, citers=1, critic_init=2, critic_init_iters=1,
            checkpoint_every=2, recon_weight=1.0)


@pytest.mark.parametrize("all_actions", [False, True])
def test_iterations_are_finite_and_learn(tiny_views, tmp_path, all_actions):
    cfg = Config(**TINY, all_actions=all_actions)
    tr = Trainer(cfg, tiny_views, tiny_views[::-1].copy(), synthetic=True, run=tmp_path)
    before = {k: v.clone() for k, v in tr.policy.state_dict().items()}
    c_before = [p.clone() for p in tr.critic.parameters()]
    tr.warm_up()
    for _ in range(3):
        info = tr.iteration()
        for k in ("g_loss", "v_loss", "wdist", "reward", "db_gain"):
            assert math.isfinite(info[k]), k
    assert 0 < info["entropy"] <= math.log(8) + 1e-6
    moved = [k for k, v in tr.policy.state_dict().items() if not torch.equal(v, before[k])]
    # every part of the policy gets gradient: selector (REINFORCE) and the heads (through the filters)
    assert any(k.startswith("sel_") for k in moved) and any(k.startswith("heads.") for k in moved)
    assert any(k.startswith("par_extractor") for k in moved)
    assert any(not torch.equal(a, b) for a, b in zip(c_before, tr.critic.parameters()))
    if all_actions:  # every filter's head is scored at every step, drawn or not
        heads = {k.split(".")[1] for k in moved if k.startswith("heads.")}
        assert heads == {str(i) for i in range(8)}


def test_the_reconstruction_reward_pays_for_steps_towards_the_original(tiny_views):
    """Paired styles and the shipped recipe learn from it: a step towards the clean photo earns,
    one away from it costs, and over an episode the gains add up to the PSNR gained (in nepers)."""
    clean = torch.from_numpy(tiny_views)
    dark, darker, closer = clean * 0.5, clean * 0.3, clean * 0.8
    assert (recon_gain(recon_error(dark, clean), recon_error(closer, clean)) > 0).all()
    assert (recon_gain(recon_error(dark, clean), recon_error(darker, clean)) < 0).all()
    assert (recon_gain(recon_error(dark, clean), recon_error(dark, clean)) == 0).all()

    def db(x):  # PSNR, with the reward's floor of 1e-5 on the squared error
        return -10 * torch.log10(recon_error(x, clean) + 1e-5)

    episode = recon_gain(recon_error(darker, clean), recon_error(dark, clean)) \
        + recon_gain(recon_error(dark, clean), recon_error(closer, clean))
    torch.testing.assert_close(episode * 10 / math.log(10), db(closer) - db(darker), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("all_actions", [False, True])
def test_the_trainer_adds_the_reconstruction_reward_with_its_weight(tiny_views, tmp_path, all_actions):
    """Same seeds, same first iteration: the reward with weight 2 is the reward without it plus
    twice the gain the trainer reports, so the policy is paid for PSNR gained, not lost."""
    infos = []
    for w in (0.0, 2.0):
        torch.manual_seed(0)
        cfg = Config(**{**TINY, "recon_weight": w}, all_actions=all_actions)
        tr = Trainer(cfg, tiny_views, tiny_views[::-1].copy(), synthetic=True, run=tmp_path / str(w))
        tr.warm_up()
        infos.append(tr.iteration())
    gain = infos[1]["db_gain"] * math.log(10) / 10
    assert infos[0]["db_gain"] == 0 and gain != 0
    assert infos[1]["reward"] - infos[0]["reward"] == pytest.approx(2 * gain, rel=1e-3, abs=1e-5)


def test_a_stop_cuts_the_critic_updates_short(tiny_views, tmp_path, monkeypatch):
    """Ctrl-C or the app's SIGTERM mid-iteration saves after the critic update under way, not after
    the iteration's remaining ones (30 in the first iterations: tens of seconds on a loaded machine)."""
    cfg = Config(**{**TINY, "iterations": 5, "critic_init": 6})
    calls: list[int] = []
    orig = Trainer._critic_step

    def counted(self):
        calls.append(self.it)
        if len(calls) == 3:
            self.stop = True  # as the signal handler does
        return orig(self)

    monkeypatch.setattr(Trainer, "_critic_step", counted)
    assert critic_steps(cfg, 0) > 3  # the first iteration would train the critic more than that
    tr = train(cfg, tmp_path, inputs=tiny_views, targets=tiny_views, synthetic=True, log=lambda m: None)
    assert tr.stop and tr.it == 1 and calls == [0, 0, 0]
    assert (tmp_path / "checkpoint.pt").exists()


def test_ctrl_c_in_the_warm_up_stops_without_a_traceback_or_a_checkpoint(tiny_views, tmp_path, monkeypatch):
    """The warm-up (seconds to fill the critic's fakes) is under the trainer's handler too: a
    SIGINT there ends the run with nothing trained, so nothing is saved over a run's checkpoint."""
    import signal

    cfg = Config(**TINY)
    orig = Trainer._step_pool
    steps: list[bool] = []

    def ctrl_c_in_warm_up(self, learn):
        steps.append(learn)
        if len(steps) == 1:
            signal.raise_signal(signal.SIGINT)
        return orig(self, learn)

    monkeypatch.setattr(Trainer, "_step_pool", ctrl_c_in_warm_up)
    logs: list[str] = []
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where a shell started the tests in the background
    tr = train(cfg, tmp_path, inputs=tiny_views, targets=tiny_views, synthetic=True, log=logs.append)
    assert tr.stop and tr.it == 0 and steps == [False]  # the warm-up's first step, then no more
    assert not (tmp_path / "checkpoint.pt").exists()
    assert "interrupted before iteration 1: nothing new to save" in logs[-1]
    assert signal.getsignal(signal.SIGINT) is before  # the handler given back


def test_checkpoint_resumes(tiny_views, tmp_path):
    cfg = Config(**TINY)
    logs: list[str] = []

    def stop_at_2(it, total, elapsed):  # what Ctrl-C does: finish the iteration, save, return
        if it == 2:
            tr_holder[0].stop = True

    tr_holder: list = []
    orig_fit = Trainer.fit

    def fit(self, log=print, progress=None):
        tr_holder.append(self)
        return orig_fit(self, log=log, progress=stop_at_2)

    Trainer.fit = fit
    try:
        tr = train(cfg, tmp_path, inputs=tiny_views, targets=tiny_views, synthetic=True, log=logs.append)
    finally:
        Trainer.fit = orig_fit
    assert tr.stop and tr.it == 2
    ck = tmp_path / "checkpoint.pt"
    assert ck.exists()
    saved = torch.load(ck, weights_only=False)
    assert saved["it"] == 2
    tr2 = train(cfg, tmp_path, inputs=tiny_views, targets=tiny_views, synthetic=True, resume=True,
                log=logs.append)
    assert any("resumed" in m and "iteration 2" in m for m in logs)
    assert tr2.it == cfg.iterations
    # the resumed run started from the saved weights, then kept training
    w = "heads.0.2.weight"
    assert not torch.equal(torch.load(ck, weights_only=False)["policy"][w], saved["policy"][w])


def test_permuted_originals_keep_each_pixel_and_change_the_colours(tiny_views):
    import numpy as np

    from models.retouch.train import Inputs

    plain = Inputs(tiny_views, True, np.random.default_rng(3))
    shuffled = Inputs(tiny_views, True, np.random.default_rng(3), permute=1.0)
    _, a, _ = plain.draw(16)
    _, b, _ = shuffled.draw(16)  # the same crops (same seed), then every one's channels shuffled
    np.testing.assert_array_equal(np.sort(a, -1), np.sort(b, -1))
    changed = [not np.array_equal(x, y) for x, y in zip(a, b)]
    assert 8 <= sum(changed) < 16  # 5 of the 6 permutations change a photo


def test_stop_at_keeps_the_schedule_and_keep_every_keeps_copies(tiny_views, tmp_path):
    """The shipped recipe trains in phases (``make train``): stop early, resume with other settings."""
    cfg = Config(**{**TINY, "iterations": 6, "checkpoint_every": 100}, stop_at=2, keep_every=2)
    logs: list[str] = []
    tr = train(cfg, tmp_path, inputs=tiny_views, targets=tiny_views, synthetic=True, log=logs.append)
    assert tr.it == 2 and not tr.stop and "stopped at 2" in logs[-1]
    # the learning rate decays on the schedule of 6 iterations, not of 2
    assert tr._set_lr() == pytest.approx(cfg.lr * 0.1 ** (cfg.decay * 2 / 6))
    assert sorted(p.name for p in tmp_path.glob("checkpoint-it*.pt")) == ["checkpoint-it2.pt"]
    cfg2 = Config(**{**TINY, "iterations": 6, "checkpoint_every": 100}, stop_at=4, keep_every=2,
                  flag_pre_step=False)
    tr2 = train(cfg2, tmp_path, inputs=tiny_views, targets=tiny_views, synthetic=True, resume=True,
                log=logs.append)
    assert tr2.it == 4
    assert sorted(p.name for p in tmp_path.glob("checkpoint-it*.pt")) == ["checkpoint-it2.pt", "checkpoint-it4.pt"]
    its = [torch.load(tmp_path / f"checkpoint-it{i}.pt", weights_only=False)["it"] for i in (2, 4)]
    assert its == [2, 4]


def test_command_line_run_keeps_a_log_across_resumes(tiny_views, tmp_path, monkeypatch):
    from models.retouch import train as train_mod

    monkeypatch.setattr(train_mod, "default_data", lambda *a: (tiny_views, tiny_views, None))
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    run = tmp_path / "run"
    assert train_mod.main(["--run", str(run), *flags, "--stop-at", "2"]) == 0
    assert train_mod.main(["--run", str(run), "--resume", "--stop-at", "0"]) == 0  # 0: to the end
    lines = (run / "train.log").read_text().splitlines()
    assert "stopped at 2" in lines[next(i for i, x in enumerate(lines) if "resumed" in x) - 1]
    assert "at iteration 2" in next(x for x in lines if "resumed" in x)
    assert lines[-1].endswith("(done)") and "iteration 4" in lines[-1]


def test_source_balance_draws_the_few_wallpapers_more_often(tiny_views):
    """``--source-balance``: half the draws uniform over the views, half over the sources, so a
    source of 2 photos among 8 goes from 25 % of the episodes to 25 / 2 + 50 / 2 = 37.5 %."""
    import numpy as np

    from models.retouch.train import Inputs, source_weights

    sources = ["objects"] * 6 + ["wallpapers"] * 2
    w = source_weights(sources, 8 * 3, 0.5)  # 3 views per photo, in the photos' order
    few = np.repeat(np.array(sources), 3) == "wallpapers"
    assert w.sum() == pytest.approx(1) and w[few].sum() == pytest.approx(0.375)
    np.testing.assert_allclose(source_weights(sources, 24, 0.0), 1 / 24)  # 0: every view alike
    with pytest.raises(ValueError, match="do not split evenly"):
        source_weights(sources, 25, 0.5)

    # the draws follow the weights: four flat views told apart by their level
    views = np.broadcast_to(np.array([0.1, 0.2, 0.3, 0.4], np.float32)[:, None, None, None], (4, 80, 80, 3))
    inputs = Inputs(np.ascontiguousarray(views), False, np.random.default_rng(0), weights=np.array([0.5, 0, 0, 0.5]))
    img, _, _ = inputs.draw(64)
    levels = np.unique(np.round(img.reshape(64, -1).mean(1), 3))
    np.testing.assert_allclose(levels, [0.1, 0.4])


def test_constancy_gives_the_training_inputs_the_apps_learned_white_balance(tiny_views):
    """``--constancy true``: each input's white balance step is the learned model's, as Auto's."""
    import numpy as np

    from engine.runners.agent import apply_steps, measured_steps
    from engine.runners.constancy import load as load_constancy
    from engine.runners.meter import load as load_meter
    from models.retouch.train import Inputs

    kw = dict(auto_exposure=True, auto_white_balance=True, meter=True)
    learned = Inputs(tiny_views, False, np.random.default_rng(4), constancy=True, **kw)
    classical = Inputs(tiny_views, False, np.random.default_rng(4), **kw)
    a, _, _ = learned.draw(6)
    b, _, _ = classical.draw(6)  # the same crops (same seed), balanced by max-RGB instead
    clean = Inputs(tiny_views, False, np.random.default_rng(4)).draw(6)[0]
    for x, c in zip(a, clean):
        want = apply_steps(c, measured_steps(c, meter=load_meter(), constancy=load_constancy()))
        np.testing.assert_allclose(x, want, atol=1e-6)
    assert not np.allclose(a, b)  # and that is not max-RGB's


def test_work_counts_each_iterations_critic_updates():
    """The ETA's cost of a span of iterations, from any start (a resumed run too), is the sum of
    each iteration's: the first ones and every ``critic_boost_every``-th train the critic 15 x more."""
    from models.retouch.train import POLICY_COST, critic_steps, work

    for cfg in (Config(), Config(critic_init_iters=0, critic_boost_every=7), Config(**TINY)):
        for start, end in ((0, 1), (0, 5), (3, 12), (0, 1200), (499, 501), (500, 1001), (7, 7), (9, 4)):
            brute = sum(POLICY_COST + critic_steps(cfg, i) for i in range(start, end))
            assert work(cfg, start, end) == pytest.approx(brute), (cfg.critic_boost_every, start, end)
    cfg = Config()
    assert [critic_steps(cfg, i) for i in (0, 4, 5, 499, 500, 501)] == [30, 30, 2, 2, 30, 2]


def test_config_json_is_written_atomically(tiny_views, tmp_path, monkeypatch):
    """A failure while writing config.json (a full disk) leaves the run's previous one whole."""
    import pathlib

    old = '{"width": 4}'
    (tmp_path / "config.json").write_text(old)
    write_text = pathlib.Path.write_text

    def half_then_fail(self, data, *args, **kwargs):
        write_text(self, data[:10], *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_text", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        train(Config(**TINY), tmp_path, inputs=tiny_views, targets=tiny_views, synthetic=True, log=lambda m: None)
    monkeypatch.undo()
    assert (tmp_path / "config.json").read_text() == old
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temp file left behind


def test_exported_summary_tells_which_measured_steps_the_policy_trained_on():
    """``pre_step_used`` (the Agent then flags exposure and white balance as used) only where the
    training inputs did go through the measured steps; ``pre_steps`` says which."""
    import dataclasses

    from models.retouch.export import summary
    from models.retouch.train import agent_pre_steps

    def meta(**kw) -> dict:
        return summary({"it": 1, "elapsed": 0.0, "config": dataclasses.asdict(Config(**kw))})

    none = meta()  # train-style's Config before: no measured step, yet pre_step_used was true
    assert none["pre_step_used"] is False and not any(none["pre_steps"].values())
    style = meta(**agent_pre_steps())
    assert style["pre_step_used"] is True
    assert style["pre_steps"] == {"auto_exposure": True, "auto_white_balance": True, "meter": True,
                                  "constancy": True}  # the shipped meter and colour constancy are installed
    shipped = meta(auto_exposure=True, auto_white_balance=True, meter=True, flag_pre_step=False)  # make train
    assert shipped["pre_step_used"] is False and shipped["pre_steps"]["constancy"] is False
    assert meta(meter=True, constancy=True)["pre_steps"]["meter"] is False  # only with the exposure step
