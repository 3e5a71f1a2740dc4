"""Small pieces shared by the theory experiments: densities on a grid, fixed
distributions, and the optimiser loop for a discriminator against frozen data.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from gankit.data.toy import GaussianMixture, ToyDistribution

Sampler = Callable[[int, torch.Generator], Tensor]


def gaussian(name: str, mean: float | list[float], std: float) -> GaussianMixture:
    """A single isotropic Gaussian as a one-component mixture (exact sampler and density)."""
    means = torch.tensor([mean] if isinstance(mean, list) else [[mean]], dtype=torch.float64)
    return GaussianMixture(name, means, std)


def density(dist: ToyDistribution, grid: np.ndarray) -> np.ndarray:
    """Exact density of a 1-D distribution on ``grid`` (n,)."""
    return np.exp(dist.log_prob(torch.from_numpy(grid)[:, None]).numpy())


def mass_interval(grid: np.ndarray, p: np.ndarray, mass: float = 0.99) -> tuple[float, float]:
    """The central interval holding ``mass`` of the density p on ``grid``."""
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(grid))])
    cdf /= cdf[-1]
    tail = 0.5 * (1.0 - mass)
    return float(np.interp(tail, cdf, grid)), float(np.interp(1.0 - tail, cdf, grid))


def logits_on(D: nn.Module, points: np.ndarray) -> np.ndarray:
    """D's outputs at 1-D ``points`` (n,), as float64 numpy."""
    with torch.no_grad():
        return D(torch.from_numpy(points).float()[:, None]).double().numpy()


def value_by_quadrature(grid: np.ndarray, p: np.ndarray, q: np.ndarray, logits: np.ndarray) -> float:
    """V(D, G) = ∫ p log D + ∫ q log(1 - D) with D = sigmoid(logits) (§1), trapezoid rule."""
    log_d = -np.logaddexp(0.0, -logits)  # log sigmoid(s)
    log_1md = -np.logaddexp(0.0, logits)  # log(1 - sigmoid(s))
    return float(np.trapezoid(p * log_d, grid) + np.trapezoid(q * log_1md, grid))


def cosine_adam(params, lr: float, steps: int, betas=(0.9, 0.999)):
    """Adam with a cosine decay to zero over ``steps``: the last steps average the noise out."""
    opt = torch.optim.Adam(params, lr=lr, betas=betas)
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))


def linear_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares y ≈ a x + b: (slope a, intercept b, R²)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    a, b = np.polyfit(x, y, 1)
    resid = y - (a * x + b)
    total = ((y - y.mean()) ** 2).sum()
    r2 = 1.0 - (resid**2).sum() / total if total > 0 else math.nan
    return float(a), float(b), float(r2)
