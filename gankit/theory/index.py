"""Run every theory experiment and write the index: ``index.md`` (figures and
a table of every check) and ``index.html`` (the same, self-contained: the
figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from gankit.theory.registry import atomic_write_bytes


def run_all(out_dir: Path, *, quick: bool = False, seed: int = 0, progress: bool = True) -> list[dict[str, Any]]:
    """Run every experiment of ``gankit.theory.EXPERIMENTS`` into ``out_dir``; write the index."""
    from gankit.theory import EXPERIMENTS

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = [exp.run(out_dir, quick=quick, seed=seed, progress=progress) for exp in EXPERIMENTS.values()]
    write_index(out_dir, results)
    return results


def _num(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    return f"{x:.4g}"


def check_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    """One row per check: experiment, section, check, exact, measured, tolerance, pass, note."""
    return [[r["experiment"], r["section"], c["name"], _num(c["exact"]), _num(c["measured"]),
             _num(c["tolerance"]), "PASS" if c["pass"] else "FAIL", c.get("note", "")]
            for r in results for c in r["checks"]]


HEADER = ["experiment", "§", "check", "exact", "measured", "tolerance", "result", "note"]


def markdown_table(results: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in check_rows(results):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)


def write_index(out_dir: Path, results: list[dict[str, Any]]) -> None:
    n_checks = sum(len(r["checks"]) for r in results)
    n_pass = sum(c["pass"] for r in results for c in r["checks"])
    mode = "quick" if any(r.get("quick") for r in results) else "full"
    head = f"{n_pass}/{n_checks} checks pass ({mode} run, seed {results[0]['seed'] if results else 0})."

    md = ["# gankit theory experiments", "", head, "", markdown_table(results), ""]
    for r in results:
        md += [f"## {r['experiment']} ({r['section']})", "", r["summary"], "",
               f"![{r['experiment']}]({r['experiment']}/figure.png)", "", f"{r['seconds']} s", ""]
    atomic_write_bytes(out_dir / "index.md", "\n".join(md).encode())

    esc = html.escape
    rows = "\n".join(
        "<tr class='{}'>{}</tr>".format(row[6].lower(), "".join(f"<td>{esc(cell)}</td>" for cell in row))
        for row in check_rows(results))
    sections = []
    for r in results:
        png = (out_dir / r["experiment"] / "figure.png").read_bytes()
        sections.append(
            f"<h2>{esc(r['experiment'])} ({esc(r['section'])})</h2><p>{esc(r['summary'])}</p>"
            f"<img alt='{esc(r['experiment'])}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
            f"<p class='time'>{r['seconds']} s</p>")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>gankit theory experiments</title>
<style>
body {{ font-family: sans-serif; max-width: 1500px; margin: 2em auto; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
td, th {{ border: 1px solid #ccc; padding: 2px 6px; text-align: left; }}
tr.pass td:nth-child(7) {{ color: #070; }} tr.fail td:nth-child(7) {{ color: #b00; font-weight: bold; }}
img {{ max-width: 100%; }} .time {{ color: #777; }}
</style></head><body>
<h1>gankit theory experiments</h1><p>{esc(head)}</p>
<table><tr>{''.join(f'<th>{esc(h)}</th>' for h in HEADER)}</tr>
{rows}
</table>
{''.join(sections)}
</body></html>
"""
    atomic_write_bytes(out_dir / "index.html", page.encode())
