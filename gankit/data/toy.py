"""Low-dimensional distributions whose density is known exactly (docs/theory.md §2).

Each distribution has a sampler, an exact ``log_prob``, and a notion of modes
for the VEEGAN / PacGAN quality metrics (``gankit.metrics.toy``): a sample is
*high quality* when it lies within ``hq_radius`` (3 standard deviations) of
its nearest mode, and a mode is *covered* when at least one high-quality
sample is nearest to it.

Built in (all mixtures have equal weights; the scales are PacGAN's so that
numbers compare with its tables):

* ``ring8``:  8 Gaussians, means (cos 2πk/8, sin 2πk/8), k = 0..7, std 0.01.
* ``grid25``: 25 Gaussians, means {-4, -2, 0, 2, 4}², std 0.05.
* ``mog1d``:  3 Gaussians on the line, means -2, 0, 2, std 0.25.
* ``spiral``: a noisy 2-D swiss roll. t ~ U[1.5π, 4.5π], x = (t cos t, t sin t)/5
  + N(0, 0.05² I). Its density is the continuous mixture
  p(x) = ∫ U(t) N(x; c(t), 0.05² I) dt, computed by quadrature over t (8,000
  midpoints: relative error below 1e-8 along the curve, below 5e-4 within
  0.2 of its two ends, where the midpoint rule meets the ends of U(t)). Its 16
  "modes" are the 16 arcs of equal t-length (hence equal probability); a
  sample's nearest mode is the arc holding the nearest curve point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from gankit.errors import ConfigError


class ToyDistribution:
    """Interface shared by every toy distribution."""

    name: str
    dim: int
    #: standard deviation of each mode's noise; high quality = within 3 of these.
    mode_std: float
    n_modes: int

    def sample(self, n: int, generator: torch.Generator | None = None, device: str | torch.device = "cpu") -> Tensor:
        """n i.i.d. samples, shape (n, dim)."""
        raise NotImplementedError

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log density at x (n, dim), shape (n,)."""
        raise NotImplementedError

    def nearest_mode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(index (n,) of the nearest mode, Euclidean distance (n,) to it)."""
        raise NotImplementedError

    @property
    def hq_radius(self) -> float:
        """A sample within this distance of its nearest mode is high quality."""
        return 3.0 * self.mode_std


@dataclass
class GaussianMixture(ToyDistribution):
    """Equal-weight mixture of isotropic Gaussians with a common std."""

    name: str
    means: Tensor  # (K, dim)
    mode_std: float

    def __post_init__(self) -> None:
        self.means = self.means.double()
        self.dim = self.means.shape[1]
        self.n_modes = self.means.shape[0]

    def sample(self, n: int, generator: torch.Generator | None = None, device: str | torch.device = "cpu") -> Tensor:
        means = self.means.float().to(device)
        k = torch.randint(self.n_modes, (n,), generator=generator, device=device)
        noise = torch.randn(n, self.dim, generator=generator, device=device)
        return means[k] + self.mode_std * noise

    def log_prob(self, x: Tensor) -> Tensor:
        x = x.double()
        sq = torch.cdist(x, self.means.to(x.device)).square()  # (n, K)
        log_norm = -0.5 * self.dim * math.log(2 * math.pi * self.mode_std**2)
        log_comp = log_norm - sq / (2 * self.mode_std**2)
        return torch.logsumexp(log_comp, dim=1) - math.log(self.n_modes)

    def nearest_mode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        d = torch.cdist(x.double(), self.means.to(x.device))
        dist, idx = d.min(dim=1)
        return idx, dist


@dataclass
class SwissRoll(ToyDistribution):
    """Noisy 2-D swiss roll; see the module docstring for its density."""

    name: str = "spiral"
    noise: float = 0.05
    scale: float = 0.2
    t_min: float = 1.5 * math.pi
    t_max: float = 4.5 * math.pi
    n_modes: int = 16
    quadrature: int = 8000
    dim: int = field(default=2, init=False)

    def __post_init__(self) -> None:
        self.mode_std = self.noise
        # Midpoint rule over t: the curve points used by log_prob and nearest_mode.
        width = (self.t_max - self.t_min) / self.quadrature
        self._t = self.t_min + width * (torch.arange(self.quadrature, dtype=torch.float64) + 0.5)
        self._curve = self._point(self._t)

    def _point(self, t: Tensor) -> Tensor:
        return self.scale * torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=-1)

    def sample(self, n: int, generator: torch.Generator | None = None, device: str | torch.device = "cpu") -> Tensor:
        u = torch.rand(n, generator=generator, device=device, dtype=torch.float64)
        t = self.t_min + (self.t_max - self.t_min) * u
        noise = torch.randn(n, 2, generator=generator, device=device)
        return self._point(t).float() + self.noise * noise

    def log_prob(self, x: Tensor) -> Tensor:
        sq = torch.cdist(x.double(), self._curve.to(x.device)).square()
        log_norm = -math.log(2 * math.pi * self.noise**2)
        # ∫ U(t) N(x; c(t), σ²I) dt  ≈  (1/Q) Σ_q N(x; c(t_q), σ²I)
        return torch.logsumexp(log_norm - sq / (2 * self.noise**2), dim=1) - math.log(self.quadrature)

    def nearest_mode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        d = torch.cdist(x.double(), self._curve.to(x.device))
        dist, q = d.min(dim=1)
        return (q * self.n_modes) // self.quadrature, dist


def _ring8() -> GaussianMixture:
    angles = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
    return GaussianMixture("ring8", torch.stack([angles.cos(), angles.sin()], dim=1), 0.01)


def _grid25() -> GaussianMixture:
    axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0], dtype=torch.float64)
    gx, gy = torch.meshgrid(axis, axis, indexing="ij")
    return GaussianMixture("grid25", torch.stack([gx.flatten(), gy.flatten()], dim=1), 0.05)


def _mog1d() -> GaussianMixture:
    return GaussianMixture("mog1d", torch.tensor([[-2.0], [0.0], [2.0]], dtype=torch.float64), 0.25)


TOY_DATASETS = {"ring8": _ring8, "grid25": _grid25, "mog1d": _mog1d, "spiral": SwissRoll}


def toy_distribution(name: str) -> ToyDistribution:
    """The built-in toy distribution called ``name``."""
    try:
        return TOY_DATASETS[name]()
    except KeyError:
        raise ConfigError(
            f"config key 'data': unknown toy dataset {name!r}; expected one of {', '.join(TOY_DATASETS)}"
        ) from None


class ToyStream:
    """Real batches for the training loop: fresh samples, or a fixed training set.

    n_train = 0 draws every batch fresh from the distribution (an infinite
    stream); n_train = N samples N points once and then draws batches from
    them uniformly with replacement. Both use only ``generator``, so saving
    its state saves the stream's position.
    """

    def __init__(self, dist: ToyDistribution, *, n_train: int, generator: torch.Generator, device: torch.device):
        self.dist, self.generator, self.device = dist, generator, device
        self.points = dist.sample(n_train, generator, device) if n_train > 0 else None

    def sample(self, n: int) -> Tensor:
        """A batch of n real points, shape (n, dim), on the stream's device."""
        if self.points is None:
            return self.dist.sample(n, self.generator, self.device)
        idx = torch.randint(self.points.shape[0], (n,), generator=self.generator, device=self.device)
        return self.points[idx]
