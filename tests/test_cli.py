"""The command line, run as a user runs it: a subprocess in a fresh folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from gankit.config import Config, resolve_config

ENTRY_POINT = Path(sys.executable).with_name("gankit")
TINY_ARGS = ["iterations=4", "batch_size=32", "g_hidden=16", "d_hidden=16", "g_layers=2", "d_layers=2",
             "eval_samples=64", "log_every=2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def gankit(cwd: Path, *args: str, entry_point: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [str(ENTRY_POINT)] if entry_point else [sys.executable, "-m", "gankit"]
    return subprocess.run(cmd + list(args), cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)


def assert_user_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("gankit: error: "), lines[0]
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def nothing_written(cwd: Path, *allowed: str) -> None:
    assert sorted(p.name for p in cwd.iterdir()) == sorted(allowed)


# ---------------------------------------------------------------- config errors
@pytest.mark.parametrize(
    "args, key",
    [
        (["d_stepz=5"], "d_stepz"),
        (["d_steps=0"], "d_steps"),
        (["iterations=ten"], "iterations"),
        (["lr_d=-1e-4"], "lr_d"),
        (["objective=gan", "clip=0.01"], "clip"),
        (["objective=wgan-gp", "lambda_gp=-1"], "lambda_gp"),
        (["objective=wgan", "clip=0"], "clip"),
        (["d_steps"], "d_steps"),  # not key=value
    ],
)
def test_config_errors_are_one_line_exit_2_nothing_written(tmp_path, args, key):
    proc = gankit(tmp_path, "train", *args)
    assert_user_error(proc, key)
    assert proc.stdout == ""
    nothing_written(tmp_path)
    assert not (tmp_path / "runs").exists()


def test_toml_errors_from_the_command_line(tmp_path):
    (tmp_path / "bad.toml").write_text("objective = wgan\n")  # unquoted string: syntax error
    assert_user_error(gankit(tmp_path, "train", "--config", "bad.toml"), "bad.toml", "TOML")
    (tmp_path / "typo.toml").write_text('objective = "wgan"\nclp = 0.02\n')
    assert_user_error(gankit(tmp_path, "train", "--config", "typo.toml"), "clp", "typo.toml")
    assert_user_error(gankit(tmp_path, "train", "--config", "missing.toml"), "missing.toml")
    nothing_written(tmp_path, "bad.toml", "typo.toml")


def test_entry_point_reports_errors_the_same_way(tmp_path):
    assert ENTRY_POINT.is_file()
    assert_user_error(gankit(tmp_path, "train", "batch_size=0", entry_point=True), "batch_size")
    nothing_written(tmp_path)


# ---------------------------------------------------------------- dry run
def test_dry_run_prints_the_resolved_config_and_trains_nothing(tmp_path):
    proc = gankit(tmp_path, "train", "--dry-run", "objective=wgan", "data=grid25", "seed=7", entry_point=True)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    body = "\n".join(line for line in proc.stdout.splitlines() if not line.startswith("#"))
    printed = tomllib.loads(body)
    expected = Config(objective="wgan", data="grid25", seed=7)
    assert printed["objective"] == "wgan" and printed["clip"] == 0.01 and printed["optimizer"] == "rmsprop"
    assert printed["lr_d"] == 5e-5 and printed["d_steps"] == 5 and printed["seed"] == 7
    (tmp_path / "printed.toml").write_text(body)
    assert resolve_config(tmp_path / "printed.toml") == expected
    nothing_written(tmp_path, "printed.toml")  # no runs/ folder


# ---------------------------------------------------------------- train, refuse, sample, resume
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("cli")
    proc = gankit(cwd, "train", "--out", "run", "--quiet", "objective=ns-gan", *TINY_ARGS)
    assert proc.returncode == 0, proc.stderr
    return cwd


def test_train_writes_the_run_folder(trained_run):
    run = trained_run / "run"
    for name in ("config.toml", "metrics.jsonl", "checkpoint.pt", "samples.png", "curves.png", "summary.json"):
        assert (run / name).is_file(), name
    assert json.loads((run / "summary.json").read_text())["iterations"] == 4
    assert resolve_config(run / "config.toml").objective == "ns-gan"


def test_existing_out_is_refused_without_overwrite(trained_run):
    before = {p.name: p.stat().st_mtime_ns for p in (trained_run / "run").iterdir()}
    proc = gankit(trained_run, "train", "--out", "run", "--quiet", *TINY_ARGS)
    assert_user_error(proc, "run", "--overwrite")
    after = {p.name: p.stat().st_mtime_ns for p in (trained_run / "run").iterdir()}
    assert after == before


def test_sample_writes_npz(trained_run):
    proc = gankit(trained_run, "sample", "run", "-n", "100", "--out", "s.npz")
    assert proc.returncode == 0, proc.stderr
    with np.load(trained_run / "s.npz") as f:
        x = f["x"]
    assert x.shape == (100, 2) and x.dtype == np.float32
    assert np.isfinite(x).all()
    # the same seed gives the same samples
    proc = gankit(trained_run, "sample", "run", "-n", "100", "--out", "t.npz")
    with np.load(trained_run / "t.npz") as f:
        assert np.array_equal(f["x"], x)


def test_sample_errors(trained_run):
    assert_user_error(gankit(trained_run, "sample", "nope", "-n", "10", "--out", "s2.npz"), "nope")
    assert_user_error(gankit(trained_run, "sample", "run", "-n", "0", "--out", "s2.npz"), "-n")
    assert not (trained_run / "s2.npz").exists()


def test_resume_continues(trained_run):
    proc = gankit(trained_run, "train", "--resume", "run", "iterations=6", "--quiet")
    assert proc.returncode == 0, proc.stderr
    run = trained_run / "run"
    assert json.loads((run / "summary.json").read_text())["iterations"] == 6
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records] == [2, 4, 6]
    assert resolve_config(run / "config.toml").iterations == 6
    # only iterations may change on resume
    assert_user_error(gankit(trained_run, "train", "--resume", "run", "d_steps=3"), "--resume")


def test_resume_without_checkpoint(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_user_error(gankit(tmp_path, "train", "--resume", "empty", "iterations=8"), "empty")
