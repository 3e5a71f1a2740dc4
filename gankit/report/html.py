"""``gankit report RUN``: one self-contained HTML page about a run.

The page (``RUN/report.html`` by default) needs no network and no other
file: every picture is a base64 ``data:`` URI, the only script is a few
inline lines for the frame slider. It shows

* the resolved configuration (config.toml) as a table;
* the final metrics (summary.json), each with a one-line definition;
* the warnings of the run (summary.json ``warnings``), if any;
* the curves of metrics.jsonl, one figure per family of quantities;
* the samples: the grids over time (image runs, RUN/grids/*.png) and
  samples.png;
* for 2-D toy runs, the animation (animation.gif) and a slider over its frames.

Every piece of text from the run folder is escaped (``html.escape``).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from gankit import runs
from gankit.checkpoint import atomic_write_text
from gankit.errors import RunError

#: Quantities of metrics.jsonl drawn together (same units); any other key gets a figure of its own.
FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("losses", ("d_loss", "g_loss")),
    ("D on real and generated batches", ("d_real", "d_fake")),
    ("value V(D, G) and W1 estimate", ("value", "gap")),
    ("gradient penalty and gradient norm", ("gp", "grad_norm")),
)
NOT_CURVES = ("iteration", "wall_seconds")

#: One line per final metric of summary.json.
DEFINITIONS: dict[str, str] = {
    "iterations": "generator steps done",
    "modes_covered": "modes with at least one high-quality sample nearest to them (VEEGAN / PacGAN)",
    "modes_total": "modes of the toy distribution",
    "hq_fraction": "fraction of samples within 3 standard deviations of their nearest mode (high quality)",
    "w1": "exact Wasserstein-1 distance between generated and real samples (empirical optimal transport)",
    "jsd": "Jensen-Shannon divergence JSD(p_data ‖ p_g) in nats, p_g a kernel density estimate (1-D); at most log 2",
    "wall_seconds": "training time, wall clock, seconds",
    "iterations_per_second": "generator steps per second of training",
    "frames": "frames of the training animation (RUN/frames, animation.gif)",
    "seconds_per_frame": "mean time to draw and write one animation frame, seconds",
    "run_dir": "the run folder",
    "precision": "arithmetic of the run as resolved: fp32, or bf16 autocast",
    "channels_last": "whether the conv nets used the channels-last memory format",
    "processes": "processes (ranks) that trained the run together",
    "feature_net": "the feature network of the image metrics (id)",
    "feature_net_accuracy": "the feature network's accuracy on held-out reference images",
    "n_samples": "generated images the image metrics use",
    "n_reference": "reference images the image metrics use",
    "seed": "seed of the metric's subsets and noise images",
    "warnings": "signs that training went wrong (listed below)",
}
#: Definitions of the image metrics, by prefix; <f> is the feature network (inception, lenet, resnet, ae).
PREFIX_DEFINITIONS: tuple[tuple[str, str, str], ...] = (
    ("fd_", "_floor", "FD between two disjoint halves of the reference: what a perfect generator scores"),
    ("fd_", "_noise", "FD of uniform-noise images to the reference: what a generator that learned nothing scores"),
    ("fd_", "", "Fréchet distance between Gaussians fitted to generated and reference features of <f> "
                "(FID when <f> = inception); lower is better"),
    ("kid_", "_std", "standard deviation of the KID estimate over subsets"),
    ("kid_", "", "kernel distance (KID): unbiased MMD² with a cubic polynomial kernel on <f> features; lower is better"),
    ("precision_", "", "fraction of generated samples inside the reference manifold (k-NN balls of <f> features)"),
    ("recall_", "", "fraction of reference samples inside the generated manifold (k-NN balls of <f> features)"),
    ("density_", "", "mean count of reference k-NN balls that hold a generated sample, / k (1 for equal distributions)"),
    ("coverage_", "", "fraction of reference k-NN balls that hold at least one generated sample"),
)
MAX_GRIDS = 16  #: sample grids shown over time (evenly spaced, the last one always)
MAX_FRAMES = 100  #: frames behind the slider


def define(key: str) -> str:
    """The one-line definition of a final metric (empty when unknown)."""
    if key in DEFINITIONS:
        return DEFINITIONS[key]
    for prefix, suffix, text in PREFIX_DEFINITIONS:
        if key.startswith(prefix) and key.endswith(suffix) and len(key) > len(prefix) + len(suffix):
            return text.replace("<f>", key[len(prefix) : len(key) - len(suffix)])
    return ""


# ----------------------------------------------------------------------------
# reading a run folder
# ----------------------------------------------------------------------------
@dataclass
class Run:
    """What a report shows of one run folder."""

    path: Path
    config: dict[str, Any]
    summary: dict[str, Any] | None  #: None while the run has not finished
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name


def load_run(path: str | Path) -> Run:
    """The config, summary and metrics of a run folder; RunError if it is not one."""
    path = Path(path)
    if not (path / runs.CONFIG_FILE).is_file():
        raise RunError(f"{path} is not a gankit run folder (it has no {runs.CONFIG_FILE}); pass a run folder")
    try:
        config = tomllib.loads((path / runs.CONFIG_FILE).read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise RunError(f"{path / runs.CONFIG_FILE} is not readable TOML ({err}); the run folder is damaged") from None
    summary = None
    if (path / runs.SUMMARY_FILE).is_file():
        try:
            summary = json.loads((path / runs.SUMMARY_FILE).read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            summary = None
    return Run(path, config, summary, runs.read_metrics(path))


def curve_keys(records: Sequence[dict[str, Any]]) -> list[str]:
    """The numeric quantities of metrics records, in first-seen order."""
    keys: dict[str, None] = {}
    for r in records:
        for k, v in r.items():
            if k not in NOT_CURVES and isinstance(v, (int, float)) and not isinstance(v, bool):
                keys.setdefault(k)
    return list(keys)


def families(keys: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Group quantities into figures: the FAMILIES present, then one figure per other key."""
    out, used = [], set()
    for title, members in FAMILIES:
        present = [k for k in members if k in keys]
        if present:
            out.append((title, present))
            used.update(present)
    out.extend((k, [k]) for k in keys if k not in used)
    return out


# ----------------------------------------------------------------------------
# pictures
# ----------------------------------------------------------------------------
def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def file_uri(path: Path) -> str:
    mime = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg"}[path.suffix.lower()]
    return data_uri(path.read_bytes(), mime)


def figure_png(fig) -> bytes:
    from gankit.report.plots import _pyplot

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def curve_figure(title: str, series: Sequence[tuple[str, list[float], list[float]]], ylabel: str = "") -> bytes:
    """One panel of lines (label, x, y) as PNG bytes; non-finite values are gaps."""
    from gankit.report.plots import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    for label, xs, ys in series:
        ax.plot(xs, [y if math.isfinite(y) else math.nan for y in ys], lw=1.2, label=label)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("iteration (generator steps)")
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return figure_png(fig)


def series_of(records: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    pts = [(r["iteration"], float(r[key])) for r in records
           if "iteration" in r and isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)]
    return [p[0] for p in pts], [p[1] for p in pts]


def evenly(items: list, n: int) -> list:
    """At most n items, evenly spaced, first and last kept."""
    if len(items) <= n:
        return items
    idx = sorted({round(i * (len(items) - 1) / (n - 1)) for i in range(n)})
    return [items[i] for i in idx]


# ----------------------------------------------------------------------------
# HTML pieces
# ----------------------------------------------------------------------------
E = html.escape

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: .9em; } td, th { border: 1px solid #ddd; padding: .25em .6em; text-align: left; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; } figure { margin: 0; } figcaption { font-size: .8em; color: #555; }
.warn { background: #fff4e0; border-left: 4px solid #e8a33d; padding: .4em .8em; }
.muted { color: #777; font-size: .9em; }
"""


def fmt(value: Any) -> str:
    """A value as table text: floats with 5 significant digits."""
    if isinstance(value, float):
        return f"{value:.5g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{E(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{E(fmt(c))}</td>' if isinstance(c, (int, float)) and not isinstance(c, bool)
                         else f"<td>{E(fmt(c))}</td>" for c in row) + "</tr>"
        for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def img(uri: str, alt: str, caption: str = "", width: int | None = None) -> str:
    w = f' width="{width}"' if width else ""
    cap = f"<figcaption>{E(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{E(alt)}"{w}>{cap}</figure>'


def page(title: str, body: str) -> str:
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{E(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def _slider(frames: list[Path]) -> str:
    """An <img> of the first frame, a range input and a few lines of inline JS that switch frames."""
    uris = [file_uri(f) for f in frames]
    labels = [f"iteration {int(f.stem)}" if f.stem.isdigit() else f.stem for f in frames]
    return (f'<figure><img id="frame-image" src="{uris[0]}" alt="animation frame"></figure>'
            f'<p><input type="range" id="frame-slider" min="0" max="{len(uris) - 1}" value="0" step="1" '
            f'style="width: 320px" aria-label="frame"> <span id="frame-label">{E(labels[0])}</span></p>\n'
            "<script>\n(function () {\n"
            f"  var frames = {json.dumps(uris)};\n  var labels = {json.dumps(labels)};\n"
            "  var slider = document.getElementById('frame-slider');\n"
            "  slider.addEventListener('input', function () {\n"
            "    document.getElementById('frame-image').src = frames[slider.value];\n"
            "    document.getElementById('frame-label').textContent = labels[slider.value];\n"
            "  });\n})();\n</script>")


def build_report(run: Run) -> str:
    """The HTML text of the report of ``run``."""
    cfg, summary = run.config, run.summary
    title = f"gankit report: {run.name}"
    done = summary.get("iterations", "?") if summary else (run.records[-1].get("iteration", 0) if run.records else 0)
    parts = [f"<h1>{E(title)}</h1>",
             f"<p>{E(str(cfg.get('objective', '?')))} on {E(str(cfg.get('data', '?')))}, {E(str(done))} of "
             f"{E(str(cfg.get('iterations', '?')))} iterations, seed {E(str(cfg.get('seed', '?')))}. "
             f'<span class="muted">Run folder {E(str(run.path))}.</span></p>']

    # final metrics and warnings
    parts.append("<h2>Final metrics</h2>")
    if summary is None:
        parts.append(f'<p class="warn">No {runs.SUMMARY_FILE}: the run has not finished (or was stopped); '
                     "curves below are what metrics.jsonl holds so far.</p>")
    else:
        rows = [(k, v, define(k)) for k, v in summary.items() if k != "warnings"]
        parts.append(table(("metric", "value", "definition"), rows))
        warnings = summary.get("warnings") or []
        if isinstance(warnings, str):
            warnings = [warnings]
        if warnings:
            parts.append("<h2>Warnings</h2><ul>" + "".join(f'<li class="warn">{E(fmt(w))}</li>' for w in warnings)
                         + "</ul>")

    # curves
    parts.append("<h2>Curves</h2>")
    keys = curve_keys(run.records)
    if not keys:
        parts.append(f"<p>No records in {runs.METRICS_FILE}.</p>")
    figs = [img(data_uri(curve_figure(name, [(k, *series_of(run.records, k)) for k in members]), "image/png"),
                f"curve: {name}") for name, members in families(keys)]
    parts.append(f'<div class="figs">{"".join(figs)}</div>')

    # samples
    parts.append("<h2>Samples</h2>")
    grids = evenly(sorted((run.path / "grids").glob("*.png")), MAX_GRIDS)
    if grids:
        parts.append("<p>One fixed noise batch over training:</p><div class=\"figs\">"
                     + "".join(img(file_uri(g), f"grid {g.stem}", f"iteration {int(g.stem)}" if g.stem.isdigit()
                                   else g.stem, width=200) for g in grids) + "</div>")
    if (run.path / "samples.png").is_file():
        caption = "final samples" + (" over the data, D's output beneath" if cfg.get("net") == "mlp" else "")
        parts.append(img(file_uri(run.path / "samples.png"), "samples", caption))
    elif not grids:
        parts.append("<p>No samples yet.</p>")

    # animation
    frames = evenly(sorted((run.path / "frames").glob("[0-9]*.png")), MAX_FRAMES)
    gif = run.path / "animation.gif"
    if frames or gif.is_file():
        parts.append("<h2>Training animation</h2><p>Generated samples (gold) of one fixed noise batch over real "
                     "points (black), D's output beneath (red: real, blue: fake; a critic's scores are scaled "
                     "to each frame's range).</p><div class=\"figs\">")
        if gif.is_file():
            parts.append(img(file_uri(gif), "training animation", "animation.gif"))
        if frames:
            parts.append(f"<div>{_slider(frames)}</div>")
        parts.append("</div>")

    # config
    parts.append(f"<h2>Configuration</h2><p class=\"muted\">The resolved config ({runs.CONFIG_FILE}).</p>")
    parts.append(table(("key", "value"), list(cfg.items())))
    return page(title, "\n".join(parts))


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of ``run_dir`` to ``out`` (default RUN/report.html); returns the path."""
    run = load_run(run_dir)
    out = Path(out) if out is not None else run.path / "report.html"
    if not out.parent.is_dir():
        raise RunError(f"--out {out}: folder {out.parent} does not exist")
    atomic_write_text(out, build_report(run))
    return out
