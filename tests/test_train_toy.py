"""CPU end-to-end runs of gankit.train on toy data: files, step counts, determinism, resume."""

from __future__ import annotations

import json
import math
import tomllib

import pytest
import torch

from gankit.config import Config, resolve_config
from gankit.errors import RunError
from gankit.train import train

RUN_FILES = ("config.toml", "metrics.jsonl", "checkpoint.pt", "samples.png", "curves.png", "summary.json")
SUMMARY_KEYS = {"modes_covered", "modes_total", "hq_fraction", "w1", "wall_seconds", "iterations"}
COMMON_FIELDS = {"iteration", "wall_seconds", "d_loss", "g_loss", "d_real", "d_fake"}
OBJECTIVE_FIELDS = {
    "gan": {"value"},
    "ns-gan": {"value"},
    "wgan": {"gap"},
    "wgan-gp": {"gap", "gp", "grad_norm"},
}
LOSS_KEYS = ("d_loss", "g_loss", "d_real", "d_fake", "value", "gap", "gp", "grad_norm")


def _ckpt(run_dir):
    return torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)


def _metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _losses(records):
    return [{k: r[k] for k in LOSS_KEYS if k in r} | {"iteration": r["iteration"]} for r in records]


def _step_counts(opt_state) -> set[int]:
    return {int(s["step"]) for s in opt_state["state"].values()}


# ---------------------------------------------------------------- end to end
@pytest.mark.parametrize(
    "extra",
    [
        {"objective": "gan"},
        {"objective": "ns-gan"},
        {"objective": "wgan"},
        {"objective": "wgan-gp"},
        {"objective": "wgan-gp", "penalty": "one-sided", "spectral_norm": True},
    ],
    ids=["gan", "ns-gan", "wgan", "wgan-gp", "wgan-gp-one-sided-sn"],
)
def test_end_to_end_run_folder(tmp_path, tiny, extra):
    cfg = Config(**tiny, **extra)
    out = tmp_path / "run"
    result = train(cfg, out, progress=False)
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    assert (out / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # config.toml: the resolved config, reloadable
    assert resolve_config(out / "config.toml") == cfg
    assert tomllib.loads((out / "config.toml").read_text())["objective"] == cfg.objective

    # metrics.jsonl: one record per log_every iterations, with the documented fields
    records = _metrics(out)
    assert [r["iteration"] for r in records] == [2, 4]
    expected = COMMON_FIELDS | OBJECTIVE_FIELDS[cfg.objective]
    for r in records:
        assert expected <= set(r), expected - set(r)
        for k in expected:
            assert isinstance(r[k], (int, float)) and math.isfinite(r[k]), (k, r[k])
        if cfg.objective in ("gan", "ns-gan"):
            assert r["value"] == pytest.approx(-r["d_loss"], rel=1e-6)
            assert 0.0 < r["d_real"] < 1.0 and 0.0 < r["d_fake"] < 1.0
        elif cfg.objective == "wgan":
            assert r["gap"] == pytest.approx(-r["d_loss"], rel=1e-5, abs=1e-9)
        else:
            lam = cfg.lambda_gp
            assert r["d_loss"] == pytest.approx(-r["gap"] + lam * r["gp"], rel=1e-4, abs=1e-6)
            assert r["gp"] >= 0.0 and r["grad_norm"] >= 0.0
    assert records == result.history or _losses(records) == _losses(result.history)

    # summary.json
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["iterations"] == 4
    assert summary["modes_total"] == 8
    assert 0 <= summary["modes_covered"] <= 8
    assert 0.0 <= summary["hq_fraction"] <= 1.0
    assert summary["w1"] > 0.0 and math.isfinite(summary["w1"])
    assert summary["wall_seconds"] >= 0.0
    assert "jsd" not in summary
    assert result.metrics["iterations"] == 4

    # checkpoint.pt: loadable with weights_only, networks equal to the returned ones
    state = _ckpt(out)
    assert state["iteration"] == 4
    for k, v in result.generator.state_dict().items():
        assert torch.equal(state["generator"][k], v), k
    assert state["discriminator"].keys() == result.discriminator.state_dict().keys()
    for k, v in result.discriminator.named_parameters():
        assert torch.equal(state["discriminator"][k], v.detach()), k


def test_drawing_the_pictures_does_not_change_the_spectrally_normalised_critic(tmp_path, tiny):
    # The final checkpoint is written before samples.png; the heatmap evaluates D, and in
    # train mode every forward pass of a spectrally normalised layer runs one power
    # iteration that updates its `_u` buffer. The critic returned (and drawn) should be
    # the one checkpointed.
    result = train(Config(objective="wgan-gp", spectral_norm=True, **tiny), tmp_path / "run", progress=False)
    saved = _ckpt(tmp_path / "run")["discriminator"]
    changed = [k for k, v in result.discriminator.state_dict().items() if not torch.equal(saved[k], v)]
    assert changed == []


def test_mog1d_run_has_jsd(tmp_path, tiny):
    result = train(Config(objective="ns-gan", data="mog1d", **tiny), tmp_path / "run", progress=False)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["modes_total"] == 3
    assert 0.0 <= summary["jsd"] <= math.log(2.0)
    assert SUMMARY_KEYS <= set(summary)
    assert result.generator(torch.zeros(5, result.config.z_dim)).shape == (5, 1)


def test_fixed_training_set(tmp_path, tiny, monkeypatch):
    from gankit.data.toy import ToyStream

    seen = []
    original = ToyStream.sample

    def spy(self, n):
        batch = original(self, n)
        seen.append((batch, self.points))
        return batch

    monkeypatch.setattr(ToyStream, "sample", spy)
    result = train(Config(objective="gan", n_train=40, **tiny), tmp_path / "run", progress=False)
    points = _ckpt(tmp_path / "run")["train_points"]
    assert points.shape == (40, 2)
    assert len(seen) == 4  # d_steps 1 x 4 iterations
    for batch, pts in seen:
        assert torch.equal(pts, points)
        assert (batch[:, None, :] == points[None]).all(-1).any(1).all()  # every real row is a training point
    assert result.metrics["iterations"] == 4


def test_zero_iterations_builds_everything_and_trains_nothing(tmp_path, tiny):
    result = train(Config(**{**tiny, "iterations": 0}), None, progress=False)
    assert result.metrics["iterations"] == 0
    assert result.history == []


# ---------------------------------------------------------------- step counts
@pytest.mark.parametrize(
    "objective, d_steps, g_steps, iterations, warmup, warmup_d, expected_d, expected_g",
    [
        ("gan", 1, 1, 4, 0, 100, 4, 4),
        ("gan", 3, 1, 4, 0, 100, 12, 4),
        ("ns-gan", 2, 3, 7, 0, 100, 6, 7),      # rounds start at 0, 3, 6; the last has 1 G step
        ("ns-gan", 1, 2, 5, 0, 100, 3, 5),      # rounds at 0, 2, 4
        ("wgan", 5, 1, 3, 0, 100, 15, 3),       # RMSprop
        ("wgan-gp", 2, 1, 5, 2, 4, 4 + 4 + 2 + 2 + 2, 5),
        ("wgan-gp", 1, 2, 6, 3, 3, 3 + 3 + 1, 6),  # d_steps_at(0) = d_steps_at(2) = 3, d_steps_at(4) = 1
    ],
)
def test_optimizer_step_counts(tmp_path, tiny, objective, d_steps, g_steps, iterations, warmup, warmup_d,
                               expected_d, expected_g):
    cfg = Config(**{**tiny, "iterations": iterations, "log_every": 1}, objective=objective, d_steps=d_steps,
                 g_steps=g_steps, warmup_iterations=warmup, warmup_d_steps=warmup_d)
    # The schedule value says the same as the hand count.
    rounds = range(0, iterations, g_steps)
    assert sum(cfg.schedule.d_steps_at(i) for i in rounds) == expected_d
    train(cfg, tmp_path / "run", progress=False)
    state = _ckpt(tmp_path / "run")
    assert _step_counts(state["opt_d"]) == {expected_d}
    assert _step_counts(state["opt_g"]) == {expected_g}
    assert state["iteration"] == iterations


# ---------------------------------------------------------------- determinism
def _weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("objective", ["ns-gan", "wgan-gp"])
def test_same_seed_same_run_different_seed_different_run(tiny, objective):
    cfg = Config(objective=objective, seed=3, **tiny)
    a = train(cfg, None, progress=False)
    b = train(cfg, None, progress=False)
    c = train(cfg.replace(seed=4), None, progress=False)
    assert _losses(a.history) == _losses(b.history)
    for k, v in _weights(a.generator).items():
        assert torch.equal(v, b.generator.state_dict()[k])
    for k, v in _weights(a.discriminator).items():
        assert torch.equal(v, b.discriminator.state_dict()[k])
    assert _losses(a.history) != _losses(c.history)
    assert any(not torch.equal(v, c.generator.state_dict()[k]) for k, v in _weights(a.generator).items())
    assert a.metrics["w1"] == b.metrics["w1"]


# ---------------------------------------------------------------- resume
@pytest.mark.parametrize(
    "extra",
    [{"objective": "wgan", "d_steps": 2}, {"objective": "wgan-gp", "n_train": 64}],
    ids=["wgan-rmsprop", "wgan-gp-adam-n_train"],
)
def test_resume_is_bit_identical(tmp_path, tiny, extra):
    cfg = Config(**{**tiny, "iterations": 8}, **extra)
    once, twice = tmp_path / "once", tmp_path / "twice"
    train(cfg, once, progress=False, checkpoint_every=4)
    train(cfg.replace(iterations=4), twice, progress=False)
    assert _ckpt(twice)["iteration"] == 4
    resumed = train(cfg.replace(iterations=8), twice, resume=True, progress=False)
    a, b = _ckpt(once), _ckpt(twice)
    assert a["iteration"] == b["iteration"] == 8
    for net in ("generator", "discriminator"):
        assert a[net].keys() == b[net].keys()
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)
    for opt in ("opt_d", "opt_g"):
        assert _step_counts(a[opt]) == _step_counts(b[opt])
        for i, s in a[opt]["state"].items():
            for k, v in s.items():
                assert torch.equal(v, b[opt]["state"][i][k]), (opt, i, k)
    la, lb = _metrics(once), _metrics(twice)
    assert [r["iteration"] for r in lb] == [2, 4, 6, 8]
    assert _losses(la) == _losses(lb)
    assert resumed.metrics["iterations"] == 8
    assert json.loads((twice / "summary.json").read_text())["iterations"] == 8
    assert resolve_config(twice / "config.toml").iterations == 8


def test_existing_run_folder_is_refused_unless_overwrite(tmp_path, tiny):
    out = tmp_path / "run"
    cfg = Config(objective="gan", **tiny)
    train(cfg, out, progress=False)
    before = (out / "checkpoint.pt").read_bytes()
    with pytest.raises(RunError) as err:
        train(cfg, out, progress=False)
    assert "\n" not in str(err.value) and "--overwrite" in str(err.value)
    assert (out / "checkpoint.pt").read_bytes() == before
    train(cfg.replace(seed=1), out, overwrite=True, progress=False)
    assert resolve_config(out / "config.toml").seed == 1


def test_resume_needs_a_checkpoint(tmp_path, tiny):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError):
        train(Config(**tiny), tmp_path / "empty", resume=True, progress=False)
    with pytest.raises(RunError):
        train(Config(**tiny), None, resume=True, progress=False)
