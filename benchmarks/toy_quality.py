"""Sample quality of every objective on the toy mixtures, at each preset's default budget.

Trains ``Config(objective=X, data=Y, seed=S)`` -- nothing else set, so each run
uses exactly the preset values of gankit.config (DATA_PRESETS over TOY_PRESETS,
KIND_DEFAULTS, PAPER_PRESETS and BASE_DEFAULTS) -- for every objective, dataset and seed
asked for, and prints a Markdown table of the PacGAN metrics
(gankit.metrics.toy): modes covered, % high-quality samples, the exact
empirical W1 to the data, and the training wall time, each as the mean ± std
over seeds (std with n - 1; blank for one seed).

    python benchmarks/toy_quality.py --seeds 0 1 2 --objectives ns-gan wgan-gp --data ring8 grid25 --out table.md

Runs one training at a time with one CPU thread (``--threads``), as the
documented timings assume. Each finished run is also printed as one JSON line
on stderr, so a long benchmark can be watched or salvaged.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from gankit.config import Config
from gankit.objectives import OBJECTIVE_NAMES
from gankit.train import train

#: PacGAN (Lin et al. 2018), Table 1, for the plain GAN; same scales and metrics.
PACGAN_GAN = {"ring8": (6.3, 98.2), "grid25": (17.3, 94.8)}


def _mean_std(values: list[float], digits: int) -> str:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def run_one(objective: str, data: str, seed: int) -> dict:
    """The final metrics of one default-budget run (no run folder)."""
    result = train(Config(objective=objective, data=data, seed=seed), progress=False)
    m = result.metrics
    return {"objective": objective, "data": data, "seed": seed, "iterations": m["iterations"],
            "modes_covered": m["modes_covered"], "modes_total": m["modes_total"],
            "hq_fraction": m["hq_fraction"], "w1": m["w1"], "train_seconds": m["wall_seconds"]}


def table(rows: list[dict]) -> str:
    """The Markdown table, one line per (objective, data), in the order first seen."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["objective"], r["data"]), []).append(r)
    lines = ["| objective | data | seeds | iterations | modes covered | all modes (runs) | % high quality | W1 | train s | total s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (objective, data), rs in groups.items():
        full = sum(r["modes_covered"] == r["modes_total"] for r in rs)
        lines.append(
            f"| {objective} | {data} | {len(rs)} | {rs[0]['iterations']} "
            f"| {_mean_std([r['modes_covered'] for r in rs], 1)} / {rs[0]['modes_total']} | {full}/{len(rs)} "
            f"| {_mean_std([100 * r['hq_fraction'] for r in rs], 1)} | {_mean_std([r['w1'] for r in rs], 3)} "
            f"| {_mean_std([r['train_seconds'] for r in rs], 1)} | {_mean_std([r['total_seconds'] for r in rs], 1)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default 0 1 2)")
    p.add_argument("--objectives", nargs="+", default=list(OBJECTIVE_NAMES), choices=OBJECTIVE_NAMES,
                   help="objectives (default: all)")
    p.add_argument("--data", nargs="+", default=["ring8", "grid25"], help="toy datasets (default ring8 grid25)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", type=Path, help="also write the Markdown table to this file")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    rows = []
    for objective in args.objectives:
        for data in args.data:
            for seed in args.seeds:
                start = time.perf_counter()
                row = run_one(objective, data, seed)
                row["total_seconds"] = round(time.perf_counter() - start, 3)  # training + evaluation
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    text = table(rows)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
