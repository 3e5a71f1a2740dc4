"""Learning-rate schedules (gankit.schedules): the factor, the loop's lrs, exact resume."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from gankit.config import Config
from gankit.errors import ConfigError
from gankit.schedules import lr_factor
from gankit.train import train


def _ckpt(run_dir):
    return torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)


@pytest.mark.parametrize("final", [0.0, 0.1, 0.5, 1.0])
def test_linear_factor_at_start_middle_end(final):
    n = 1000
    assert lr_factor("linear", 0, n, final) == 1.0
    assert lr_factor("linear", n // 2, n, final) == final + (1.0 - final) / 2
    assert lr_factor("linear", n, n, final) == final
    assert lr_factor("linear", 2 * n, n, final) == final  # past the end it stays at the floor
    assert all(lr_factor("constant", i, n, final) == 1.0 for i in (0, n // 2, n))


def test_linear_factor_decreases():
    values = [lr_factor("linear", i, 10, 0.2) for i in range(11)]
    assert all(a > b for a, b in zip(values, values[1:]))


def test_config_keys_are_validated(tiny):
    assert Config(**tiny, objective="wgan-gp", data="spiral").lr_schedule == "constant"
    with pytest.raises(ConfigError, match="lr_schedule"):
        Config(**tiny, lr_schedule="cosine")
    with pytest.raises(ConfigError, match="lr_final_fraction"):
        Config(**tiny, lr_final_fraction=1.5)


@pytest.mark.parametrize("objective", ["ns-gan", "wgan"])
def test_final_learning_rates_follow_the_formula(tmp_path, tiny, objective):
    cfg = Config(**{**tiny, "iterations": 10}, objective=objective, lr_schedule="linear", lr_final_fraction=0.25,
                 lr_d=1e-3, lr_g=4e-4)
    train(cfg, tmp_path / "run", progress=False)
    ck = _ckpt(tmp_path / "run")
    assert ck["iteration"] == 10
    # The last round starts at iteration 9 (g_steps = 1): its rates are base × factor(9).
    f = lr_factor("linear", 9, 10, 0.25)
    assert f == 0.25 + 0.75 * 1 / 10
    assert [g["lr"] for g in ck["opt_d"]["param_groups"]] == [1e-3 * f]
    assert [g["lr"] for g in ck["opt_g"]["param_groups"]] == [4e-4 * f]


def test_constant_schedule_leaves_the_lrs(tmp_path, tiny):
    cfg = Config(**{**tiny, "iterations": 6}, lr_schedule="constant", lr_d=1e-3, lr_g=4e-4)
    train(cfg, tmp_path / "run", progress=False)
    ck = _ckpt(tmp_path / "run")
    assert ck["opt_d"]["param_groups"][0]["lr"] == 1e-3
    assert ck["opt_g"]["param_groups"][0]["lr"] == 4e-4


@pytest.mark.parametrize("extra", [{"objective": "ns-gan"}, {"objective": "wgan", "d_steps": 2}], ids=["adam", "rmsprop"])
def test_resume_with_linear_schedule_is_bit_identical(tmp_path, tiny, extra):
    """Stop an 8-iteration run at 4 (its checkpoint-4.pt) and resume it: same weights, optimisers, losses."""
    cfg = Config(**{**tiny, "iterations": 8}, lr_schedule="linear", lr_final_fraction=0.1, **extra)
    once, twice = tmp_path / "once", tmp_path / "twice"
    train(cfg.replace(keep=2), once, progress=False, checkpoint_every=4)
    assert (once / "checkpoint-4.pt").is_file()
    shutil.copytree(once, twice)
    (twice / "checkpoint-4.pt").replace(twice / "checkpoint.pt")  # as if the run had stopped at iteration 4
    assert _ckpt(twice)["iteration"] == 4
    train(cfg.replace(keep=2), twice, resume=True, progress=False)
    a, b = _ckpt(once), _ckpt(twice)
    assert a["iteration"] == b["iteration"] == 8
    for net in ("generator", "discriminator"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)
    for opt in ("opt_d", "opt_g"):
        assert a[opt]["param_groups"][0]["lr"] == b[opt]["param_groups"][0]["lr"]
        for i, s in a[opt]["state"].items():
            for k, v in s.items():
                assert torch.equal(v, b[opt]["state"][i][k]), (opt, i, k)
    la, lb = (_losses(d) for d in (once, twice))
    assert la == lb and [r["iteration"] for r in lb] == [2, 4, 6, 8]


def _losses(run_dir):
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("wall_seconds", "warnings")} for r in records]


def test_rollback_still_lowers_scheduled_lrs(tiny):
    """Under a schedule the loop resets the lrs each round; a rollback's factor must survive that."""
    from gankit.schedules import set_learning_rates

    cfg = Config(**{**tiny, "iterations": 10}, lr_schedule="linear", on_nan="rollback", rollback_lr_factor=0.5,
                 lr_d=1e-3, lr_g=4e-4)
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    set_learning_rates(((opt, cfg.lr_d),), cfg, 5, rollbacks=2)
    assert opt.param_groups[0]["lr"] == 1e-3 * lr_factor("linear", 5, 10) * 0.25
