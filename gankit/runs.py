"""The run folder: where a training run writes everything it produces.

    config.toml              the resolved configuration
    metrics.jsonl            one JSON object per logged iteration
    checkpoint.pt            the latest checkpoint: everything that determines the rest of the run
    checkpoint-<N>.pt        older checkpoints (config key ``keep``), N = their iteration
    best.pt                  the checkpoint with the best tracked metric (:func:`save_best`)
    samples.png              generated samples over the data and D's output
    curves.png               loss curves
    summary.json             the final metrics and the run's warnings

Folders are checked before any work (:func:`check_run_dir`) and created only
once everything is built (:func:`prepare_run_dir`): an existing run is never
overwritten unless asked (``overwrite``), and ``resume`` needs a checkpoint.
docs/reliability.md says what survives a crash.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gankit.checkpoint import TEMP_GLOB, atomic_copy, atomic_write_text, checkpoint_iteration, save_checkpoint
from gankit.errors import RunError

CONFIG_FILE = "config.toml"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"
SUMMARY_FILE = "summary.json"
RUN_FILES = (CONFIG_FILE, METRICS_FILE, CHECKPOINT_FILE, BEST_FILE, SUMMARY_FILE, "samples.png", "curves.png")
_NUMBERED = re.compile(r"^checkpoint-(\d+)\.pt$")


def default_run_dir(root: Path, name: str) -> Path:
    """``root/NNNNN-name`` with the next free number (so runs never collide)."""
    numbers = [int(p.name[:5]) for p in root.glob("[0-9][0-9][0-9][0-9][0-9]-*")] if root.is_dir() else []
    return root / f"{max(numbers, default=-1) + 1:05d}-{name}"


def check_run_dir(path: Path, *, overwrite: bool = False, resume: bool = False) -> Path:
    """Raise RunError if ``path`` cannot hold the run; touch nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunError(f"run folder {path} is a file; pass another --out")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RunError(f"run folder {path}: {parent} is a file, not a folder; pass another --out")
            break
    if resume:
        resume_checkpoint(path)
        return path
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise RunError(
                f"run folder {path} already exists; pass --resume {path} to continue it, "
                f"--overwrite to replace it, or another --out"
            )
        if not (path / CONFIG_FILE).is_file():
            raise RunError(f"refusing to overwrite {path}: it is not empty and is not a gankit run folder")
    return path


def resume_checkpoint(path: Path) -> Path:
    """The checkpoint a resume of ``path`` starts from; RunError naming the fix if there is none."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"cannot resume {path}: no such run folder; check the path")
    if not (path / CHECKPOINT_FILE).is_file():
        raise RunError(
            f"cannot resume {path}: it has no {CHECKPOINT_FILE} (the run stopped before its first checkpoint); "
            f"start it again with --overwrite --out {path}, and set checkpoint_every to checkpoint during the run"
        )
    return path / CHECKPOINT_FILE


def prepare_run_dir(path: Path, *, overwrite: bool = False, resume: bool = False) -> Path:
    """Check that ``path`` can hold a run, and create it; raise RunError before writing anything if not.

    A resume deletes the temp files of writes a crash interrupted; an
    overwrite deletes the old run's files.
    """
    path = check_run_dir(path, overwrite=overwrite, resume=resume)
    if resume:
        clean_temp_files(path)
        return path
    if overwrite and path.is_dir():
        for name in RUN_FILES:
            (path / name).unlink(missing_ok=True)
        for old, _ in numbered_checkpoints(path):
            old.unlink(missing_ok=True)
        clean_temp_files(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise RunError(f"cannot write to run folder {path} ({err.strerror}); pass a writable --out") from None
    return path


def clean_temp_files(run_dir: Path) -> list[Path]:
    """Delete what interrupted atomic writes left behind (``.*.tmp``, ``.write-test``); return them."""
    stale = [p for p in Path(run_dir).glob(TEMP_GLOB) if p.is_file()] + [
        p for p in (Path(run_dir) / ".write-test",) if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


# ----------------------------------------------------------------------------
# checkpoints of a run
# ----------------------------------------------------------------------------
def numbered_checkpoints(run_dir: Path) -> list[tuple[Path, int]]:
    """The older checkpoints ``checkpoint-<N>.pt`` of a run, oldest first."""
    found = [(p, int(m.group(1))) for p in Path(run_dir).iterdir() if (m := _NUMBERED.match(p.name))]
    return sorted(found, key=lambda item: item[1])


def save_run_checkpoint(run_dir: Path, state: dict[str, Any], *, keep: int = 1) -> Path:
    """Write ``state`` as ``checkpoint.pt``; keep the ``keep - 1`` checkpoints before it as ``checkpoint-<N>.pt``.

    Crash-safe at every step: the previous latest is first linked (or copied)
    to its numbered name, then the new latest replaces it atomically, then
    numbered ones beyond ``keep`` are deleted.
    """
    run_dir = Path(run_dir)
    latest = run_dir / CHECKPOINT_FILE
    if keep > 1 and latest.is_file():
        previous = checkpoint_iteration(latest)
        if previous is not None and previous < state["iteration"]:
            atomic_copy(latest, run_dir / f"checkpoint-{previous}.pt")
    save_checkpoint(latest, state)
    numbered = [(p, n) for p, n in numbered_checkpoints(run_dir) if n < state["iteration"]]
    stale = [p for p, n in numbered_checkpoints(run_dir) if n >= state["iteration"]]
    for p in stale + [p for p, _ in numbered[: max(0, len(numbered) - (keep - 1))]]:
        p.unlink(missing_ok=True)
    return latest


def save_best(run_dir: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (a checkpoint, usually with a ``"best"`` entry naming the metric) as ``best.pt``, atomically.

    The caller decides what is best; a later call replaces the file. Load it
    with :func:`gankit.checkpoint.load_checkpoint`. Non-finite network weights
    are refused (RunError): a good best.pt is never replaced by a diverged one.
    """
    for name in ("generator", "discriminator"):
        if not all(bool(t.isfinite().all()) for t in state.get(name, {}).values() if t.is_floating_point()):
            raise RunError(f"iteration {state.get('iteration')}: the {name} weights are not finite; best.pt was kept")
    path = Path(run_dir) / BEST_FILE
    save_checkpoint(path, state)
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
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
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
