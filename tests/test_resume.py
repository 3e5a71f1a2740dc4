"""Exact resume after SIGKILL: a killed and resumed run ends bit-identical to an uninterrupted one (CPU).

One reference run A goes uninterrupted (in the background, while B runs).
Run B, in the same configuration, is killed with SIGKILL several times and
resumed each time, at these kill points:

1. during the first checkpoint write (the temp file exists, no checkpoint.pt
   yet): --resume must refuse with a one-line error naming --overwrite, and
   leave the folder as it was; B then restarts with --overwrite;
2. at a random moment after a random number of logged records;
3. during a checkpoint write (GANKIT_TEST_SLOW_CHECKPOINT holds the temp
   file open before the rename): metrics.jsonl is then newer than the last
   checkpoint, and a stale temp file is left; the resume truncates the one
   and deletes the other;
4. at another random moment, after which a torn line is appended to
   metrics.jsonl, as a kill in the middle of a write leaves it.

After the last resume, every tensor of checkpoint.pt (networks, optimisers,
RNG states) and of the older checkpoint kept, every metrics.jsonl record
(except wall time) and summary.json (except timings) must equal A's exactly.
Set GANKIT_KILL_SEED to replay the random kill points of a failing run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gankit.checkpoint import load_checkpoint
from gankit.runs import read_metrics

CONFIG = ["g_hidden=16", "d_hidden=16", "batch_size=32", "iterations=80", "log_every=2", "checkpoint_every=2",
          "eval_samples=64", "keep=2", "frame_every=0"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
ENV.pop("GANKIT_TEST_SLOW_CHECKPOINT", None)
TIMINGS = {"wall_seconds", "iterations_per_second", "run_dir", "seconds_per_frame", "train_seconds"}


def gankit(*args: str, slow_checkpoint: float = 0.0) -> subprocess.Popen:
    env = {**ENV, **({"GANKIT_TEST_SLOW_CHECKPOINT": str(slow_checkpoint)} if slow_checkpoint else {})}
    return subprocess.Popen([sys.executable, "-m", "gankit", "train", "--quiet", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def wait_until(condition, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    rc, _ = finish(proc)
    assert rc == -signal.SIGKILL, f"the run was not killed mid-run (rc {rc})"


def n_records(run: Path) -> int:
    try:  # the run may be replacing or removing the file (--overwrite, resume) as we look
        return (run / "metrics.jsonl").read_text().count("\n")
    except FileNotFoundError:
        return 0


def temp_files(run: Path) -> list[Path]:
    return list(run.glob(".checkpoint*.tmp"))


def assert_same(a, b, where: str = "state") -> None:
    """Recursive exact equality: torch.equal on tensors, == on the rest, timings left out."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        keys = set(a) - TIMINGS
        assert keys == set(b) - TIMINGS, f"{where}: keys {sorted(keys ^ (set(b) - TIMINGS))} differ"
        for k in keys:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: lengths {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_sigkill_at_four_points_then_resume_is_bit_identical(tmp_path):
    seed = int(os.environ.get("GANKIT_KILL_SEED", random.randrange(10**6)))
    rnd = random.Random(seed)
    note = f"(GANKIT_KILL_SEED={seed})"
    A, B = tmp_path / "A", tmp_path / "B"
    reference = gankit(*CONFIG, "--out", str(A))

    # 1. SIGKILL inside the first checkpoint write: nothing to resume from.
    proc = gankit(*CONFIG, "--out", str(B), slow_checkpoint=3.0)
    wait_until(lambda: temp_files(B), proc, "the first checkpoint write")
    kill(proc)
    assert not (B / "checkpoint.pt").exists() and temp_files(B)
    before = sorted(p.name for p in B.iterdir())
    rc, err = finish(gankit("--resume", str(B)))
    assert rc == 2 and "no checkpoint.pt" in err and "--overwrite" in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in B.iterdir()) == before, "a refused resume changed the run folder"

    # 2. Start again with --overwrite; SIGKILL at a random moment.
    proc = gankit(*CONFIG, "--out", str(B), "--overwrite")
    target = rnd.randint(2, 10)
    wait_until(lambda: n_records(B) >= target, proc, f"{target} records")
    time.sleep(rnd.uniform(0, 0.05))  # short: at ~200 it/s the 80-iteration run must not finish first
    kill(proc)

    # 3. Resume; SIGKILL while a checkpoint's temp file exists (written, not yet renamed).
    proc = gankit("--resume", str(B), slow_checkpoint=0.5)
    start, extra = n_records(B), rnd.randint(0, 3)
    wait_until(lambda: n_records(B) > start + extra and temp_files(B), proc, "a checkpoint write")
    kill(proc)
    saved = load_checkpoint(B / "checkpoint.pt")["iteration"]
    assert read_metrics(B)[-1]["iteration"] > saved, "metrics.jsonl should be ahead of the checkpoint"
    assert temp_files(B)

    # 4. Resume; SIGKILL at a random moment; then tear the last line of metrics.jsonl.
    proc = gankit("--resume", str(B))
    start = n_records(B)
    target = start + rnd.randint(1, 4)
    wait_until(lambda: n_records(B) >= target, proc, f"{target} records")
    time.sleep(rnd.uniform(0, 0.05))
    kill(proc)
    assert not (B / "summary.json").exists(), f"the run finished before the kill {note}"
    with open(B / "metrics.jsonl", "a") as fh:
        fh.write('{"iteration": 40, "d_lo')

    # The last resume runs to the end.
    rc, err = finish(gankit("--resume", str(B)))
    assert rc == 0, err
    rc, err = finish(reference)
    assert rc == 0, err
    assert not temp_files(B), "stale temp files were not cleaned"

    for name in ("checkpoint.pt", "checkpoint-78.pt"):
        assert_same(load_checkpoint(A / name), load_checkpoint(B / name), f"{name} {note}")
    a_records, b_records = read_metrics(A), read_metrics(B)
    assert [r["iteration"] for r in b_records] == list(range(2, 81, 2)), note
    assert_same(a_records, b_records, f"metrics.jsonl {note}")
    assert_same(json.loads((A / "summary.json").read_text()), json.loads((B / "summary.json").read_text()),
                f"summary.json {note}")
    assert sorted(p.name for p in A.glob("checkpoint*")) == sorted(p.name for p in B.glob("checkpoint*"))


@pytest.mark.parametrize("flags", [["--config", "x.toml"], ["--overwrite"], ["--out", "elsewhere"]])
def test_resume_refuses_conflicting_flags(tmp_path, flags, capsys):
    from gankit.cli import main

    assert main(["train", "--resume", str(tmp_path), *flags]) == 2
    assert "--resume" in capsys.readouterr().err
