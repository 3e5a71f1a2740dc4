"""Sample-quality metrics for the toy distributions of ``gankit.data.toy``.

* :func:`mode_metrics` — VEEGAN / PacGAN: a sample is high quality when it is
  within 3 standard deviations of its nearest mode; a mode is covered when at
  least one high-quality sample is nearest to it.
* :func:`wasserstein1` — the exact W1 between two empirical samples: an
  exact optimal-transport solve (POT's network simplex, ``ot.emd2``), or
  sorting in 1-D. Exact for the empirical measures; it estimates W1 between
  the distributions with the usual sampling bias.
* :func:`jsd_1d` — JSD(p_data ‖ p_g) by quadrature, p_g a Gaussian kernel
  density estimate of the generated samples (bandwidth a third of the mode std) (docs/theory.md §2).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial.distance import cdist

from gankit.data.toy import ToyDistribution


def mode_metrics(samples: torch.Tensor, dist: ToyDistribution) -> dict[str, float | int]:
    """modes_covered, modes_total and hq_fraction of ``samples`` (n, dim)."""
    idx, distance = dist.nearest_mode(samples)
    hq = distance <= dist.hq_radius
    covered = torch.unique(idx[hq]).numel()
    return {
        "modes_covered": int(covered),
        "modes_total": int(dist.n_modes),
        "hq_fraction": float(hq.double().mean()) if len(hq) else 0.0,
    }


def wasserstein1(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
    """Exact W1 between the empirical measures of x (n, d) and y (m, d), uniform weights.

    For n = m this is the optimal assignment's mean distance. POT's network
    simplex is used rather than scipy's ``linear_sum_assignment`` because the
    latter slows down by an order of magnitude on the many ties of a
    collapsed generator (18 s against 1.5 s at n = 2,500).
    """
    import ot

    x, y = _as_2d(x), _as_2d(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"wasserstein1 needs samples of one dimension, got {x.shape} and {y.shape}")
    if x.shape[1] == 1 and len(x) == len(y):  # 1-D: the monotone coupling is optimal
        return float(np.abs(np.sort(x[:, 0]) - np.sort(y[:, 0])).mean())
    return float(ot.emd2([], [], cdist(x, y), numItermax=100_000_000))


def jsd_1d(samples: np.ndarray | torch.Tensor, dist: ToyDistribution, *, grid_points: int = 4001) -> float:
    """JSD(p_data ‖ p_g) in nats, p_g a Gaussian KDE of 1-D ``samples`` (n,) or (n, 1).

    JSD = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q)/2, integrated by the
    trapezoid rule on a grid covering both densities. Ranges in [0, log 2].
    The kernel's bandwidth is a third of the modes' standard deviation: a
    rule of thumb on the whole multimodal sample (Scott's) would be wider
    than the modes and score even the true distribution at about 0.06.
    """
    s = _as_2d(samples)[:, 0]
    lo = min(s.min(), _support(dist)[0]) - 1.0
    hi = max(s.max(), _support(dist)[1]) + 1.0
    grid = np.linspace(lo, hi, grid_points)
    p = np.exp(dist.log_prob(torch.from_numpy(grid)[:, None]).numpy())
    q = gaussian_kde_1d(s, grid, bandwidth=dist.mode_std / 3)
    return jsd_from_densities(grid, p, q)


def gaussian_kde_1d(samples: np.ndarray, grid: np.ndarray, *, bandwidth: float, chunk: int = 512) -> np.ndarray:
    """(1/n) Σ_i N(grid; samples_i, bandwidth²), evaluated on ``grid`` (g,), in chunks of samples."""
    q = np.zeros_like(grid, dtype=np.float64)
    for start in range(0, len(samples), chunk):
        z = (grid[:, None] - samples[None, start:start + chunk]) / bandwidth
        q += np.exp(-0.5 * z * z).sum(axis=1)
    return q / (len(samples) * bandwidth * math.sqrt(2 * math.pi))


def jsd_from_densities(grid: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    """JSD of two densities tabulated on ``grid`` (trapezoid rule), in nats."""
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0)
    value = 0.5 * np.trapezoid(kl_p, grid) + 0.5 * np.trapezoid(kl_q, grid)
    return float(min(max(value, 0.0), math.log(2.0)))


def _support(dist: ToyDistribution) -> tuple[float, float]:
    means = getattr(dist, "means", None)
    if means is None:
        return (-5.0, 5.0)
    return (float(means.min()) - 6 * dist.mode_std, float(means.max()) + 6 * dist.mode_std)


def _as_2d(a: np.ndarray | torch.Tensor) -> np.ndarray:
    a = a.detach().cpu().double().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, dtype=np.float64)
    return a[:, None] if a.ndim == 1 else a


def toy_summary(samples: torch.Tensor, real: torch.Tensor, dist: ToyDistribution) -> dict[str, float | int]:
    """Every toy metric of ``samples`` against ``real`` (equal sizes) from ``dist``."""
    out: dict[str, float | int] = dict(mode_metrics(samples, dist))
    out["w1"] = wasserstein1(samples, real)
    if dist.dim == 1:
        out["jsd"] = jsd_1d(samples, dist)
    return out
