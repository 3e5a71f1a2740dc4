"""The run folder: where a training run writes everything it produces.

    config.toml     the resolved configuration
    metrics.jsonl   one JSON object per logged iteration
    checkpoint.pt   networks, optimisers, counters, RNG states, config
    samples.png     generated samples over the data and D's output
    curves.png      loss curves
    summary.json    the final metrics

Folders are checked before any work: an existing run is never overwritten
unless asked (``overwrite``), and ``resume`` needs a checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gankit.checkpoint import atomic_write_text
from gankit.errors import RunError

CONFIG_FILE = "config.toml"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
SUMMARY_FILE = "summary.json"
RUN_FILES = (CONFIG_FILE, METRICS_FILE, CHECKPOINT_FILE, SUMMARY_FILE, "samples.png", "curves.png")


def default_run_dir(root: Path, name: str) -> Path:
    """``root/NNNNN-name`` with the next free number (so runs never collide)."""
    numbers = [int(p.name[:5]) for p in root.glob("[0-9][0-9][0-9][0-9][0-9]-*")] if root.is_dir() else []
    return root / f"{max(numbers, default=-1) + 1:05d}-{name}"


def prepare_run_dir(path: Path, *, overwrite: bool = False, resume: bool = False) -> Path:
    """Check that ``path`` can hold a run, and create it; raise RunError before any work if not."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunError(f"run folder {path} is a file; pass another --out")
    if resume:
        if not (path / CHECKPOINT_FILE).is_file():
            raise RunError(f"cannot resume {path}: it has no {CHECKPOINT_FILE}; check the run folder")
        return path
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise RunError(
                f"run folder {path} already exists; pass --resume {path} to continue it, "
                f"--overwrite to replace it, or another --out"
            )
        if not (path / CONFIG_FILE).is_file():
            raise RunError(f"refusing to overwrite {path}: it is not empty and is not a gankit run folder")
        for name in RUN_FILES:
            (path / name).unlink(missing_ok=True)
        for extra in path.glob(".*.tmp"):
            extra.unlink(missing_ok=True)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise RunError(f"cannot write to run folder {path} ({err.strerror}); pass a writable --out") from None
    return path


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    with open(run_dir / METRICS_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Every complete record of metrics.jsonl (a torn last line is skipped)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def truncate_metrics(run_dir: Path, iteration: int) -> list[dict[str, Any]]:
    """Keep the records up to ``iteration`` (for resume); rewrite the file atomically."""
    kept = [r for r in read_metrics(run_dir) if r.get("iteration", 0) <= iteration]
    atomic_write_text(Path(run_dir) / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in kept))
    return kept
