"""The experiment registry, the check records and the run-folder writers.

An :class:`Experiment` is one checkable claim of docs/theory.md. Its ``run``
trains what it needs, writes ``<out_dir>/<name>/figure.png`` and
``<out_dir>/<name>/results.json`` and returns the results dict::

    {"experiment": name, "section": "§2", "summary": ..., "quick": bool, "seed": int,
     "seconds": float,
     "checks": [{"name", "exact", "measured", "tolerance", "pass", "note"}, ...],
     ...extra numbers}

A check is two-sided wherever the theory states a value (``close``:
|measured - exact| <= tolerance) and a range or a bound only where the theory
states one (``within``: lo <= measured <= hi, the tolerance written "[lo, hi]").
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

Check = dict[str, Any]


def close(name: str, *, measured: float, exact: float, tolerance: float, note: str = "") -> Check:
    """Two-sided check |measured - exact| <= tolerance."""
    measured, exact = float(measured), float(exact)
    ok = math.isfinite(measured) and abs(measured - exact) <= tolerance
    return {"name": name, "exact": exact, "measured": measured, "tolerance": float(tolerance),
            "pass": bool(ok), "note": note}


def within(name: str, *, measured: float, lo: float = -math.inf, hi: float = math.inf,
           exact: float | None = None, note: str = "") -> Check:
    """Range check lo <= measured <= hi; ``exact`` is the theory's value if it has one."""
    measured = float(measured)
    ok = math.isfinite(measured) and lo <= measured <= hi
    return {"name": name, "exact": None if exact is None else float(exact), "measured": measured,
            "tolerance": f"[{_fmt(lo)}, {_fmt(hi)}]", "pass": bool(ok), "note": note}


def _fmt(x: float) -> str:
    return "-inf" if x == -math.inf else "inf" if x == math.inf else f"{x:g}"


@dataclass(frozen=True)
class Experiment:
    """One experiment: ``run(out_dir, quick=, seed=, progress=)`` -> results dict."""

    name: str
    section: str  # the docs/theory.md section(s), e.g. "§2"
    summary: str  # one line
    body: Callable[..., tuple[dict[str, Any], Any]]  # (folder, quick, seed, progress) -> (results, figure)

    def run(self, out_dir: Path, *, quick: bool = False, seed: int = 0, progress: bool = True) -> dict[str, Any]:
        folder = Path(out_dir) / self.name
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        with deterministic_cpu(seed):
            results, figure = self.body(quick=quick, seed=seed, progress=progress)
        from gankit.theory.plotting import save_figure

        save_figure(figure, folder / "figure.png")
        results = {
            "experiment": self.name,
            "section": self.section,
            "summary": self.summary,
            "quick": quick,
            "seed": seed,
            "seconds": round(time.perf_counter() - start, 2),
            **results,
        }
        write_json(folder / "results.json", results)
        return results


EXPERIMENTS: dict[str, Experiment] = {}


def register(name: str, *, section: str, summary: str) -> Callable:
    """Decorator adding an experiment body to :data:`EXPERIMENTS` under ``name``."""

    def wrap(body: Callable) -> Callable:
        if name in EXPERIMENTS:
            raise ValueError(f"experiment {name!r} registered twice")
        EXPERIMENTS[name] = Experiment(name, section, summary, body)
        return body

    return wrap


@contextlib.contextmanager
def deterministic_cpu(seed: int) -> Iterator[None]:
    """Seed torch and use one intra-op thread while an experiment runs.

    The experiments' nets are tiny: one thread is faster than several (no
    synchronisation, and no collapse when the cores are shared) and keeps the
    float reductions in one order. The caller's thread count is restored.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON atomically; NaN and inf become null (JSON has neither)."""
    atomic_write_bytes(path, (json.dumps(_finite(data), indent=2) + "\n").encode())


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to a temporary file beside ``path``, then rename it over ``path``."""
    from gankit import checkpoint

    checkpoint.atomic_write_bytes(Path(path), lambda fh: fh.write(payload))


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, torch.Tensor):
        return _finite(x.tolist())
    return x


def progress_bar(total: int, desc: str, enabled: bool):
    """A tqdm bar on stderr, or a silent stand-in."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, mininterval=0.5)
