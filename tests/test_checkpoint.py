"""Checkpoints: what they hold, rotation (keep), best.pt, atomic writes, refusals, SIGINT between logs."""

from __future__ import annotations

import signal

import pytest
import torch

import gankit.train as train_module
from gankit import __version__
from gankit.checkpoint import atomic_write_bytes, load_checkpoint, save_checkpoint
from gankit.config import Config
from gankit.errors import RunError
from gankit.runs import (check_run_dir, clean_temp_files, numbered_checkpoints, prepare_run_dir, read_metrics,
                         save_best, save_run_checkpoint)

TINY = dict(batch_size=32, g_hidden=16, d_hidden=16, g_layers=2, d_layers=2, eval_samples=64, frame_every=0)


def assert_same(a, b, where="state"):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        keys = set(a) - {"train_seconds", "wall_seconds"}
        assert keys == set(b) - {"train_seconds", "wall_seconds"}, where
        for k in keys:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_a_checkpoint_holds_everything_that_determines_the_rest_of_the_run(tmp_path):
    config = Config(**TINY, iterations=6, log_every=2, checkpoint_every=2, keep=3, n_train=256, ema_decay=0.9)
    train_module.train(config, tmp_path / "run", progress=False)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert {"generator", "discriminator", "ema", "opt_g", "opt_d", "iteration", "cycle_position", "rng", "config",
            "gankit_version", "stats", "guard", "train_points", "sample_shape"} <= set(state)
    assert set(state["rng"]) == {"data", "noise", "gp", "torch", "python", "numpy"}  # + "cuda" on CUDA
    assert state["iteration"] == 6 and state["cycle_position"] == 0 and state["gankit_version"] == __version__
    assert state["config"] == config.to_dict()
    assert state["opt_d"]["state"], "Adam moments are saved"
    # keep=3: the latest and the two before it
    assert [n for _, n in numbered_checkpoints(tmp_path / "run")] == [2, 4]
    assert load_checkpoint(tmp_path / "run" / "checkpoint-4.pt")["iteration"] == 4


def test_rotation_keeps_keep_checkpoints_and_survives_a_repeated_link(tmp_path):
    for it in range(1, 6):
        save_run_checkpoint(tmp_path, {"iteration": it, "w": torch.tensor([float(it)])}, keep=2)
        # a crash after linking the previous latest and before replacing it, replayed:
        if it == 3:
            save_run_checkpoint(tmp_path, {"iteration": it, "w": torch.tensor([float(it)])}, keep=2)
    assert [n for _, n in numbered_checkpoints(tmp_path)] == [4]
    assert load_checkpoint(tmp_path / "checkpoint.pt")["iteration"] == 5
    assert load_checkpoint(tmp_path / "checkpoint-4.pt")["w"].item() == 4.0
    assert not list(tmp_path.glob(".*.tmp"))
    save_run_checkpoint(tmp_path, {"iteration": 6}, keep=1)
    assert numbered_checkpoints(tmp_path) == []


def test_save_best(tmp_path):
    path = save_best(tmp_path, {"iteration": 4, "best": {"metric": "w1", "value": 0.5}})
    save_best(tmp_path, {"iteration": 8, "best": {"metric": "w1", "value": 0.25}})
    assert path.name == "best.pt" and load_checkpoint(path)["best"]["value"] == 0.25
    with pytest.raises(RunError, match="not finite; best.pt was kept"):
        save_best(tmp_path, {"iteration": 9, "generator": {"w": torch.tensor([float("nan")])}})
    assert load_checkpoint(path)["iteration"] == 8


def test_a_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "checkpoint.pt"
    save_checkpoint(target, {"iteration": 1})

    def broken(fh):
        fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write_bytes(target, broken)
    assert load_checkpoint(target)["iteration"] == 1 and not list(tmp_path.glob(".*.tmp"))


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04truncated", "evil"])
def test_bad_checkpoints_are_refused_in_one_line(tmp_path, content):
    path = tmp_path / "checkpoint.pt"
    if content == "evil":
        torch.save({"format": 1, "x": _Evil()}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(RunError) as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value)
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"iteration": 3})
    good.write_bytes(good.read_bytes()[:-20])  # torn
    with pytest.raises(RunError, match="truncated"):
        load_checkpoint(good)


def test_resume_folder_checks_and_temp_cleaning(tmp_path):
    run = prepare_run_dir(tmp_path / "run")
    with pytest.raises(RunError, match="no checkpoint.pt .*--overwrite"):
        check_run_dir(run, resume=True)
    with pytest.raises(RunError, match="no such run folder"):
        check_run_dir(tmp_path / "missing", resume=True)
    save_checkpoint(run / "checkpoint.pt", {"iteration": 0})
    (run / ".checkpoint.pt.abc123.tmp").write_bytes(b"partial")
    (run / "keep.tmp").write_bytes(b"not ours")
    prepare_run_dir(run, resume=True)
    assert not (run / ".checkpoint.pt.abc123.tmp").exists() and (run / "keep.tmp").exists()
    assert clean_temp_files(run) == []


def test_sigint_between_two_logs_resumes_exactly(tmp_path, monkeypatch):
    """SIGINT mid-interval: the checkpoint holds the half-accumulated statistics, so the log is unchanged."""
    config = Config(**TINY, iterations=10, log_every=4, objective="ns-gan")
    train_module.train(config, tmp_path / "A", progress=False)

    calls = {"n": 0}
    original = train_module.Noise.sample

    def sample(self):
        calls["n"] += 1
        if calls["n"] == 11:  # the fixed grid noise, then 2 draws per iteration: inside iteration 5
            signal.raise_signal(signal.SIGINT)
        return original(self)

    monkeypatch.setattr(train_module.Noise, "sample", sample)
    with pytest.raises(RunError, match="stopped by SIGINT at iteration 5; checkpoint saved"):
        train_module.train(config, tmp_path / "B", progress=False)
    monkeypatch.setattr(train_module.Noise, "sample", original)
    assert load_checkpoint(tmp_path / "B" / "checkpoint.pt")["stats"]["counts"]["g_loss"] == 1
    train_module.train(config, tmp_path / "B", resume=True, progress=False)
    assert_same(load_checkpoint(tmp_path / "A" / "checkpoint.pt"), load_checkpoint(tmp_path / "B" / "checkpoint.pt"))
    assert_same(read_metrics(tmp_path / "A"), read_metrics(tmp_path / "B"), "metrics")


def test_checkpoint_every_is_a_config_key_and_must_match_log_every():
    from gankit.errors import ConfigError

    with pytest.raises(ConfigError, match="checkpoint_every.*multiple of log_every=4"):
        Config(**TINY, log_every=4, checkpoint_every=6)
    for bad in (dict(keep=0), dict(on_nan="ignore"), dict(rollback_lr_factor=0.0), dict(rollback_tries=-1)):
        with pytest.raises(ConfigError):
            Config(**TINY, **bad)
