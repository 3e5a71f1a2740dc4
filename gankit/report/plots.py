"""Pictures of a toy run: samples over the data and D's output, and loss curves.

matplotlib is imported inside each function (Agg backend), so importing
gankit stays fast and never needs a display.
"""

from __future__ import annotations

import io
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from gankit.checkpoint import atomic_write_bytes
from gankit.sampling import eval_mode


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    atomic_write_bytes(Path(path), lambda fh: fh.write(buf.getvalue()))


@torch.no_grad()
def plot_toy_samples(
    path: Path,
    *,
    real: torch.Tensor,
    fake: torch.Tensor,
    critic: Callable[[torch.Tensor], torch.Tensor],
    wasserstein: bool,
    log_prob: Callable[[torch.Tensor], torch.Tensor] | None = None,
    title: str = "",
) -> None:
    """2-D: generated points over real ones, D's output as a heatmap beneath.
    1-D: histograms of real and generated samples, the true density and D(x).

    ``critic`` maps (n, dim) points on its own device to (n,) logits/scores;
    the heatmap shows sigmoid(logit) = D(x), or raw critic scores.
    """
    plt = _pyplot()
    real, fake = real.detach().cpu().float(), fake.detach().cpu().float()
    device = next(iter(getattr(critic, "parameters", lambda: iter([torch.empty(0)]))()), torch.empty(0)).device
    out_label = "critic score D(x)" if wasserstein else "D(x) = P(real)"

    def d_of(points: torch.Tensor) -> np.ndarray:
        # Eval mode: a spectrally normalised critic must not run a power iteration here.
        with eval_mode(critic) if isinstance(critic, torch.nn.Module) else nullcontext():
            out = critic(points.to(device)).float().cpu()
        return (out if wasserstein else torch.sigmoid(out)).numpy()

    fig, ax = plt.subplots(figsize=(6, 5))
    both = torch.cat([real, fake])
    if real.shape[1] == 2:
        lo = torch.quantile(both, 0.005, dim=0).numpy()
        hi = torch.quantile(both, 0.995, dim=0).numpy()
        pad = 0.15 * (hi - lo) + 1e-3
        xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 200)
        ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], 200)
        gx, gy = np.meshgrid(xs, ys)
        grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1)).float()
        heat = d_of(grid).reshape(gx.shape)
        mesh = ax.pcolormesh(gx, gy, heat, shading="auto", cmap="RdBu_r",
                             vmin=None if wasserstein else 0.0, vmax=None if wasserstein else 1.0)
        fig.colorbar(mesh, ax=ax, label=out_label)
        ax.scatter(real[:, 0], real[:, 1], s=3, c="k", alpha=0.5, label="real")
        ax.scatter(fake[:, 0], fake[:, 1], s=3, c="gold", alpha=0.6, label="generated")
        ax.set_aspect("equal")
    else:
        lo = float(torch.quantile(both[:, 0], 0.001)) - 0.5
        hi = float(torch.quantile(both[:, 0], 0.999)) + 0.5
        bins = np.linspace(lo, hi, 121)
        ax.hist(real[:, 0].numpy(), bins=bins, density=True, alpha=0.45, color="k", label="real")
        ax.hist(fake[:, 0].numpy(), bins=bins, density=True, alpha=0.45, color="orange", label="generated")
        xs = torch.linspace(lo, hi, 600)[:, None]
        if log_prob is not None:
            ax.plot(xs[:, 0], log_prob(xs).exp().numpy(), "k-", lw=1, label="p_data")
        ax.set_ylabel("density")
        ax2 = ax.twinx()
        ax2.plot(xs[:, 0], d_of(xs), "b-", lw=1.2, label=out_label)
        ax2.set_ylabel(out_label, color="b")
        if not wasserstein:
            ax2.set_ylim(0, 1)
    ax.legend(loc="upper right", fontsize=8, markerscale=3)
    ax.set_title(title, fontsize=9)
    _save(fig, path)


def plot_curves(path: Path, records: Sequence[dict], keys: Sequence[str] = ("d_loss", "g_loss", "gap", "gp")) -> None:
    """Loss curves from metrics.jsonl records, one panel per quantity present."""
    plt = _pyplot()
    present = [k for k in keys if any(k in r for r in records)]
    if not present:
        return
    fig, axes = plt.subplots(len(present), 1, figsize=(6, 1.8 * len(present)), sharex=True, squeeze=False)
    for ax, key in zip(axes[:, 0], present):
        pts = [(r["iteration"], r[key]) for r in records if key in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("iteration (generator steps)")
    _save(fig, path)
