"""``gankit compare RUN RUN ...``: several runs side by side.

Writes into the output folder:

    compare.html   the table of final metrics (and the config keys that differ)
                   and one figure per quantity with every run's curve overlaid,
                   pictures embedded (self-contained, like report.html)
    metrics.csv    the same table
    <key>.png      one figure per quantity of metrics.jsonl (d_loss.png, ...)

Runs are named by their folder name (the whole path when two names clash).
"""

from __future__ import annotations

import csv
import glob
import io
import re
from pathlib import Path
from typing import Any, Sequence

from gankit.checkpoint import atomic_write_bytes, atomic_write_text
from gankit.errors import RunError
from gankit.report.html import E, Run, curve_figure, curve_keys, data_uri, define, img, load_run, page, series_of, table

#: Config keys always shown (before the ones that differ between runs).
ALWAYS = ("objective", "data")
#: Summary keys that are not metrics.
NOT_METRICS = ("run_dir", "warnings")


def expand_runs(patterns: Sequence[str]) -> list[Path]:
    """Run folders from paths and glob patterns (in order, each once); RunError when a pattern matches nothing."""
    out: list[Path] = []
    for pattern in patterns:
        matches = [pattern] if Path(pattern).exists() else sorted(glob.glob(pattern))
        if not matches:
            raise RunError(f"{pattern}: no such run folder (and no folder matches it as a pattern)")
        for m in matches:
            if Path(m) not in out:
                out.append(Path(m))
    return out


def labels(runs: Sequence[Run]) -> list[str]:
    names = [r.name for r in runs]
    return [str(r.path) if names.count(r.name) > 1 else r.name for r in runs]


def comparison_table(runs: Sequence[Run]) -> tuple[list[str], list[list[Any]]]:
    """(header, rows): one row per run; the run, ALWAYS keys, differing config keys, then every final metric."""
    config_keys = list(ALWAYS)
    for r in runs:
        for k in r.config:
            if k not in config_keys and len({repr(x.config.get(k)) for x in runs}) > 1:
                config_keys.append(k)
    metric_keys: list[str] = []
    for r in runs:
        for k in (r.summary or {}):
            if k not in NOT_METRICS and k not in metric_keys:
                metric_keys.append(k)
    header = ["run", *config_keys, *metric_keys, "warnings"]
    rows = []
    for name, r in zip(labels(runs), runs):
        summary = r.summary or {}
        rows.append([name, *(r.config.get(k, "") for k in config_keys), *(summary.get(k, "") for k in metric_keys),
                     len(summary.get("warnings") or []) if r.summary is not None else "unfinished"])
    return header, rows


def _file_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key) + ".png"


def write_comparison(run_dirs: Sequence[Path], out: Path) -> dict[str, Any]:
    """Write compare.html, metrics.csv and one PNG per quantity into ``out``.

    Returns ``{"html": path, "csv": path, "figures": count, "runs": count}``.
    """
    if not run_dirs:
        raise RunError("compare needs at least one run folder")
    runs = [load_run(p) for p in run_dirs]
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunError(f"cannot create {out} ({err.strerror}); pass a writable --out") from None
    names = labels(runs)

    header, rows = comparison_table(runs)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(out / "metrics.csv", buf.getvalue())

    keys: list[str] = []
    for r in runs:
        keys += [k for k in curve_keys(r.records) if k not in keys]
    figures = []
    for key in keys:
        series = [(name, *series_of(r.records, key)) for name, r in zip(names, runs) if key in curve_keys(r.records)]
        png = curve_figure(key, series, ylabel=key)
        atomic_write_bytes(out / _file_name(key), lambda fh, png=png: fh.write(png))
        figures.append(img(data_uri(png, "image/png"), f"curve: {key}"))

    defined = [(k, define(k)) for k in header if define(k)]
    body = [f"<h1>gankit compare: {len(runs)} runs</h1>",
            "<h2>Final metrics</h2>", table(header, rows),
            '<p class="muted">Config keys shown: objective, data and those that differ between the runs. '
            "Also in metrics.csv.</p>"]
    if defined:
        body.append("<h2>Definitions</h2>" + table(("metric", "definition"), defined))
    body.append("<h2>Curves</h2>" + (f'<div class="figs">{"".join(figures)}</div>' if figures
                                      else "<p>No metrics.jsonl records.</p>"))
    body.append("<h2>Runs</h2><ul>" + "".join(f"<li>{E(n)}: {E(str(r.path))}</li>" for n, r in zip(names, runs))
                + "</ul>")
    atomic_write_text(out / "compare.html", page(f"gankit compare: {', '.join(names)}", "\n".join(body)))
    return {"html": out / "compare.html", "csv": out / "metrics.csv", "figures": len(figures), "runs": len(runs)}
