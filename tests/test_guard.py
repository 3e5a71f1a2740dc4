"""The divergence guard: injected NaNs stop or roll back the run; warning signs reach the log and summary."""

from __future__ import annotations

import math

import pytest
import torch

import gankit.train as train_module
from gankit.checkpoint import load_checkpoint
from gankit.config import Config
from gankit.errors import RunError
from gankit.guard import Guard, all_finite, grad_max
from gankit.runs import read_metrics

TINY = dict(iterations=12, batch_size=32, g_hidden=16, d_hidden=16, g_layers=2, d_layers=2, eval_samples=64,
            log_every=2, frame_every=0, objective="ns-gan", lr_d=2e-4, lr_g=2e-4, lr_schedule="constant")


class _NaNGrad(torch.autograd.Function):
    """Identity forward; NaN gradient backward (a finite loss whose gradient is not)."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * math.nan


def inject(monkeypatch, *, which: str, calls: set[int], kind: str = "loss") -> dict:
    """Make the ``which`` ('d' or 'g') loss NaN (or only its gradient) at the given 1-based calls."""
    build = train_module.build_objective
    seen = {"n": 0}

    def patched(*args, **kwargs):
        objective = build(*args, **kwargs)
        name = "discriminator_loss" if which == "d" else "generator_loss"
        original = getattr(objective, name)

        def loss(*a, **k):
            value, stats = original(*a, **k)
            seen["n"] += 1
            if seen["n"] in calls:
                value = value * math.nan if kind == "loss" else _NaNGrad.apply(value)
            return value, stats

        setattr(objective, name, loss)
        return objective

    monkeypatch.setattr(train_module, "build_objective", patched)
    return seen


def test_stop_names_iteration_and_quantity_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    inject(monkeypatch, which="d", calls={7})  # ns-gan: one D step per iteration, so iteration 7's round
    with pytest.raises(RunError, match=r"non-finite d_loss = nan at iteration 8 \(on_nan=stop\).*last good checkpoint"):
        train_module.train(Config(**TINY, checkpoint_every=2), tmp_path / "run", progress=False)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["iteration"] == 6
    assert all(torch.isfinite(t).all() for t in state["generator"].values())
    assert math.isnan(read_metrics(tmp_path / "run")[-1]["d_loss"])  # the bad interval is logged, for diagnosis


def test_a_nan_gradient_behind_a_finite_loss_is_caught(monkeypatch):
    # G's last step before the log at iteration 4: every logged loss is finite, only the gradient is not.
    inject(monkeypatch, which="g", calls={4}, kind="grad")
    with pytest.raises(RunError, match=r"non-finite generator gradient .* at iteration 4"):
        train_module.train(Config(**TINY), None, progress=False)


def test_signal_checkpoint_refuses_nonfinite_weights(tmp_path, monkeypatch):
    import signal

    seen = inject(monkeypatch, which="g", calls={3}, kind="grad")  # G's weights turn NaN in iteration 3
    original = train_module.Noise.sample

    def sample(self):
        if seen["n"] == 2:  # round 3 (D steps, then G's NaN step): SIGINT stops the run after it
            signal.raise_signal(signal.SIGINT)
        return original(self)

    monkeypatch.setattr(train_module.Noise, "sample", sample)
    with pytest.raises(RunError, match="not finite, so they were not checkpointed"):
        train_module.train(Config(**TINY, checkpoint_every=2), tmp_path / "run", progress=False)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["iteration"] == 2


def test_rollback_restores_lowers_the_learning_rates_and_continues(tmp_path, monkeypatch):
    inject(monkeypatch, which="d", calls={7, 10})  # iteration 7, and iteration 8 after the rollback to 6
    result = train_module.train(Config(**TINY, on_nan="rollback", checkpoint_every=2), tmp_path / "run",
                                progress=False)
    assert result.metrics["iterations"] == 12
    rolled = [w for w in result.metrics["warnings"] if "rolled back" in w]
    assert len(rolled) == 2 and all("rolled back to iteration 6" in w for w in rolled), result.metrics["warnings"]
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    for opt, lr in (("opt_g", 2e-4), ("opt_d", 2e-4)):
        assert state[opt]["param_groups"][0]["lr"] == pytest.approx(lr * 0.25)
    assert state["guard"]["rollbacks"] == 2
    records = read_metrics(tmp_path / "run")
    assert [r["iteration"] for r in records] == list(range(2, 13, 2))  # the bad intervals were truncated
    assert all(math.isfinite(r["d_loss"]) for r in records)
    assert result.history == records


def test_rollback_gives_up_after_rollback_tries(monkeypatch):
    inject(monkeypatch, which="d", calls=set(range(5, 100)))  # every round from iteration 5 on
    with pytest.raises(RunError, match=r"still after 2 rollbacks \(learning rates × 0.25\)"):
        train_module.train(Config(**TINY, on_nan="rollback", rollback_tries=2), None, progress=False)


def test_warnings_for_a_saturated_discriminator_reach_log_and_summary(tmp_path):
    guard = Guard("gan", patience=2)
    for it in (2, 4, 6):
        problem, new = guard.inspect({"iteration": it, "d_loss": 0.001, "d_real": 0.999, "d_fake": 0.0005,
                                      "d_grad_max": 0.1, "g_grad_max": 0.1})
        assert problem is None
        assert (len(new) == 2) == (it == 4), (it, new)  # collapse + saturation, once each
    gp = Guard("wgan-gp", patience=3)
    news = [gp.inspect({"iteration": it, "grad_norm": 3.0})[1] for it in (2, 4, 6)]
    assert news[:2] == [[], []] and "far from 1" in news[2][0]
    assert "modes lost" in gp.finish({"modes_covered": 5, "modes_total": 8})[-1]
    assert not [w for w in Guard("wgan-gp").finish({"modes_covered": 8, "modes_total": 8})]
    # in a real run: the default toy wgan-gp critic starts with gradient norms far below 1
    result = train_module.train(Config(**{**TINY, "objective": "wgan-gp", "iterations": 8}), tmp_path / "run",
                                progress=False)
    assert any("far from 1" in w for w in result.metrics["warnings"])
    assert any("warnings" in r for r in read_metrics(tmp_path / "run"))
    assert "d_grad_max" not in result.history[0]  # the guard's own statistics stay out of the log


def test_helpers():
    net = torch.nn.Linear(2, 1)
    assert grad_max(net).item() == 0.0
    net(torch.ones(1, 2)).sum().backward()
    assert math.isfinite(grad_max(net).item())
    assert all_finite(net)
    with torch.no_grad():
        net.weight[0, 0] = math.inf
    assert not all_finite(net)
    guard = Guard("gan")
    assert guard.inspect({"iteration": 2, "g_loss": math.inf})[0] == "g_loss = inf"
    assert guard.inspect({"iteration": 2, "d_grad_max": math.nan})[0].startswith("discriminator gradient")
