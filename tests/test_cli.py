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
# In-process through gankit.cli.main (the same code path, without a torch import per case) ...
@pytest.mark.parametrize(
    "args, key",
    [
        (["d_stepz=5"], "d_stepz"),
        (["d_steps=0"], "d_steps"),
        (["g_steps=0"], "g_steps"),
        (["iterations=ten"], "iterations"),
        (["batch_size=2.5"], "batch_size"),
        (["lr_d=-1e-4"], "lr_d"),
        (["objective=gan", "clip=0.01"], "clip"),
        (["objective=wgan-gp", "lambda_gp=-1"], "lambda_gp"),
        (["objective=wgan", "clip=0"], "clip"),
        (["d_steps"], "d_steps"),  # not key=value
    ],
)
def test_config_errors_in_process(tmp_path, monkeypatch, capsys, args, key):
    from gankit.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", *args]) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gankit: error: ") and key in lines[0], err
    assert out == ""
    nothing_written(tmp_path)


# ... and as a user runs it: exit status 2, one line on stderr, no traceback, no runs/ folder.
@pytest.mark.parametrize("args, key", [(["d_stepz=5"], "d_stepz"), (["objective=gan", "clip=0.01"], "clip")])
def test_config_errors_are_one_line_exit_2_nothing_written(tmp_path, args, key):
    proc = gankit(tmp_path, "train", *args)
    assert_user_error(proc, key)
    assert proc.stdout == ""
    nothing_written(tmp_path)
    assert not (tmp_path / "runs").exists()


def test_toml_errors_from_the_command_line(tmp_path):
    (tmp_path / "bad.toml").write_text("objective = wgan\n")  # unquoted string: syntax error
    assert_user_error(gankit(tmp_path, "train", "--config", "bad.toml"), "bad.toml", "TOML")
    nothing_written(tmp_path, "bad.toml")


def test_toml_key_errors_in_process(tmp_path, monkeypatch, capsys):
    from gankit.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "typo.toml").write_text('objective = "wgan"\nclp = 0.02\n')
    assert main(["train", "--config", "typo.toml"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "clp" in err and "typo.toml" in err
    assert main(["train", "--config", "missing.toml"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "missing.toml" in err
    nothing_written(tmp_path, "typo.toml")


def test_entry_point_reports_errors_the_same_way(tmp_path):
    assert ENTRY_POINT.is_file()
    assert_user_error(gankit(tmp_path, "train", "batch_size=0", entry_point=True), "batch_size")
    nothing_written(tmp_path)


# ---------------------------------------------------------------- dry run
def test_dry_run_prints_the_resolved_config_and_trains_nothing(tmp_path, monkeypatch, capsys):
    from gankit.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dry-run", "objective=wgan", "data=grid25", "seed=7"]) == 0
    out = capsys.readouterr().out
    body = "\n".join(line for line in out.splitlines() if not line.startswith("#"))
    printed = tomllib.loads(body)
    expected = Config(objective="wgan", data="grid25", seed=7)
    assert printed["objective"] == "wgan" and printed["clip"] == 0.01 and printed["optimizer"] == "rmsprop"
    assert printed["lr_d"] == expected.lr_d and printed["d_steps"] == expected.d_steps and printed["seed"] == 7
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


def test_existing_out_is_refused_without_overwrite(trained_run, monkeypatch, capsys):
    from gankit.cli import main

    before = {p.name: p.stat().st_mtime_ns for p in (trained_run / "run").iterdir()}
    monkeypatch.chdir(trained_run)
    assert main(["train", "--out", "run", "--quiet", *TINY_ARGS]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("gankit: error: ") and "--overwrite" in err
    after = {p.name: p.stat().st_mtime_ns for p in (trained_run / "run").iterdir()}
    assert after == before


def test_sample_writes_npz(trained_run):
    proc = gankit(trained_run, "sample", "run", "-n", "100", "--out", "s.npz")
    assert proc.returncode == 0, proc.stderr
    with np.load(trained_run / "s.npz") as f:
        x = f["x"]
    assert x.shape == (100, 2) and x.dtype == np.float32
    assert np.isfinite(x).all()


def test_sample_errors(trained_run, monkeypatch, capsys):
    from gankit.cli import main

    monkeypatch.chdir(trained_run)
    assert main(["sample", "nope", "-n", "10", "--out", "s2.npz"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["sample", "run", "-n", "0", "--out", "s2.npz"]) == 2
    assert "-n" in capsys.readouterr().err
    assert main(["sample", "run", "-n", "5", "--out", "s2.txt"]) == 2
    assert ".npz" in capsys.readouterr().err
    assert not (trained_run / "s2.npz").exists() and not (trained_run / "s2.txt").exists()


def test_resume_continues(trained_run):
    proc = gankit(trained_run, "train", "--resume", "run", "iterations=6", "--quiet")
    assert proc.returncode == 0, proc.stderr
    run = trained_run / "run"
    assert json.loads((run / "summary.json").read_text())["iterations"] == 6
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records] == [2, 4, 6]
    assert resolve_config(run / "config.toml").iterations == 6


def test_resume_refusals_in_process(trained_run, tmp_path, monkeypatch, capsys):
    from gankit.cli import main

    monkeypatch.chdir(trained_run)
    assert main(["train", "--resume", "run", "d_steps=3"]) == 2  # only iterations may change on resume
    assert "--resume" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["train", "--resume", str(tmp_path / "empty"), "iterations=8"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "empty" in err


def test_overrides_may_stand_between_options(tmp_path, monkeypatch, capsys):
    from gankit.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "objective=wgan", "--dry-run", "seed=7", "d_steps=3"]) == 0
    printed = tomllib.loads("\n".join(l for l in capsys.readouterr().out.splitlines() if not l.startswith("#")))
    assert (printed["objective"], printed["seed"], printed["d_steps"]) == ("wgan", 7, 3)
    with pytest.raises(SystemExit) as stop:
        main(["train", "--no-such-flag"])
    assert stop.value.code == 2
