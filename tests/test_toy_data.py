"""The toy distributions of gankit.data.toy: exact densities and matching samplers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

from gankit.data.toy import TOY_DATASETS, ToyStream, toy_distribution
from gankit.errors import ConfigError


def _grid_integral(dist, lo: float, hi: float, h: float, chunk: int = 8192) -> float:
    """∫∫ p over [lo, hi]² by the trapezoid rule with step h (float64)."""
    axis = torch.arange(lo, hi + h / 2, h, dtype=torch.float64)
    gx, gy = torch.meshgrid(axis, axis, indexing="ij")
    pts = torch.stack([gx.flatten(), gy.flatten()], dim=1)
    dens = torch.cat([dist.log_prob(pts[i : i + chunk]).exp() for i in range(0, len(pts), chunk)])
    dens = dens.view(len(axis), len(axis)).numpy()
    ax = axis.numpy()
    return float(np.trapezoid(np.trapezoid(dens, ax, axis=1), ax))


# ---------------------------------------------------------------- densities integrate to 1
def test_mog1d_integrates_to_one_by_quadrature():
    dist = toy_distribution("mog1d")

    def p(x: float) -> float:
        return math.exp(dist.log_prob(torch.tensor([[x]], dtype=torch.float64)).item())

    total, err = scipy.integrate.quad(p, -np.inf, np.inf, points=None, limit=200)
    # quad over (-inf, inf) can miss narrow peaks; integrate over a box holding the mass too.
    box, _ = scipy.integrate.quad(p, -6.0, 6.0, points=[-2.0, 0.0, 2.0], limit=200)
    assert box == pytest.approx(1.0, abs=1e-9)
    grid = np.linspace(-6.0, 6.0, 24001)
    dens = dist.log_prob(torch.from_numpy(grid)[:, None]).exp().numpy()
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, abs=1e-9)
    assert total == pytest.approx(1.0, abs=1e-6) or err > 1e-3  # report-only: quad's own estimate


@pytest.mark.parametrize(
    "name, lo, hi, h",
    [
        ("ring8", -1.1, 1.1, 0.005),      # std 0.01; the trapezoid rule is spectrally accurate for h <= σ
        ("grid25", -4.5, 4.5, 0.025),     # std 0.05
        ("spiral", -3.3, 3.3, 0.05),      # radius ≤ 0.2·4.5π ≈ 2.83, noise 0.05 (h = σ: error ~ e^-2π²)
    ],
)
def test_2d_densities_integrate_to_one(name, lo, hi, h):
    dist = toy_distribution(name)
    assert _grid_integral(dist, lo, hi, h) == pytest.approx(1.0, abs=1e-5)


def test_2d_integral_would_catch_a_wrong_normaliser():
    # The same grid on half the box holds only part of the mass: the check has teeth.
    dist = toy_distribution("ring8")
    assert _grid_integral(dist, 0.0, 1.1, 0.005) < 0.75


# ---------------------------------------------------------------- exact log densities
def test_ring8_log_prob_at_a_mode():
    dist = toy_distribution("ring8")
    sigma = 0.01
    # Other modes are ≥ 0.765 away = 76σ: their contribution is e^-2900, nothing.
    expected = -math.log(8) - math.log(2 * math.pi * sigma**2)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [math.cos(5 * math.pi / 4), math.sin(5 * math.pi / 4)]], dtype=torch.float64)
    got = dist.log_prob(x)
    assert got.dtype == torch.float64 and got.shape == (3,)
    torch.testing.assert_close(got, torch.full((3,), expected, dtype=torch.float64), rtol=1e-12, atol=1e-9)
    # One σ off the mode: minus ½.
    assert dist.log_prob(torch.tensor([[1.0 + sigma, 0.0]])).item() == pytest.approx(expected - 0.5, rel=1e-6)


def test_mog1d_log_prob_by_hand():
    dist = toy_distribution("mog1d")
    s = 0.25

    def normal(x, m):
        return math.exp(-((x - m) ** 2) / (2 * s * s)) / math.sqrt(2 * math.pi * s * s)

    for x in [0.0, 1.0, -2.3, 5.0]:
        expected = math.log(sum(normal(x, m) for m in (-2.0, 0.0, 2.0)) / 3)
        got = dist.log_prob(torch.tensor([[x]], dtype=torch.float64)).item()
        assert got == pytest.approx(expected, rel=1e-12)


def test_grid25_modes_and_log_prob():
    dist = toy_distribution("grid25")
    assert dist.n_modes == 25 and dist.dim == 2
    means = {tuple(m) for m in dist.means.tolist()}
    assert means == {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    expected = -math.log(25) - math.log(2 * math.pi * 0.05**2)
    assert dist.log_prob(torch.tensor([[2.0, -4.0]])).item() == pytest.approx(expected, rel=1e-9)


@pytest.fixture(scope="module")
def spiral_quadrature_error():
    dist = toy_distribution("spiral")
    fine = TOY_DATASETS["spiral"](quadrature=80_000)  # reference: midpoint error ~ 100x smaller
    x = dist.sample(400, torch.Generator().manual_seed(0)).double()
    # |Δ log p| = relative error of the density
    err = (dist.log_prob(x) - fine.log_prob(x)).abs()
    ends = torch.cdist(x, dist._point(torch.tensor([dist.t_min, dist.t_max], dtype=torch.float64))).min(1).values
    return err, ends


def test_spiral_log_prob_matches_a_finer_quadrature_away_from_the_ends(spiral_quadrature_error):
    err, ends = spiral_quadrature_error
    interior = ends > 0.3  # 6σ away from both ends of the curve
    assert interior.float().mean().item() > 0.9
    assert err[interior].max().item() < 1e-8


def test_spiral_log_prob_relative_error_everywhere_as_documented(spiral_quadrature_error):
    # gankit/data/toy.py documents a relative error below 5e-4 within 0.2 of the curve's
    # two ends (the midpoint rule's edge error), and below 1e-8 along the rest of it.
    err, _ = spiral_quadrature_error
    worst = err.max().item()
    assert worst < 5e-4, f"spiral log_prob worst relative error {worst:.1e} (documented: below 5e-4 at the ends)"


# ---------------------------------------------------------------- samplers match log_prob
def test_mog1d_sampler_passes_ks_against_the_mixture_cdf():
    dist = toy_distribution("mog1d")
    x = dist.sample(20000, torch.Generator().manual_seed(0))
    assert x.shape == (20000, 1) and x.dtype == torch.float32

    def cdf(v, shift=0.0, scale=0.25):
        return sum(scipy.stats.norm.cdf(v, loc=m + shift, scale=scale) for m in (-2.0, 0.0, 2.0)) / 3

    xs = x[:, 0].double().numpy()
    good = scipy.stats.kstest(xs, cdf)
    assert good.pvalue > 1e-3 and good.statistic < 0.015
    # The test can fail: a slightly wrong mixture is rejected.
    assert scipy.stats.kstest(xs, lambda v: cdf(v, shift=0.05)).pvalue < 1e-6
    assert scipy.stats.kstest(xs, lambda v: cdf(v, scale=0.3)).pvalue < 1e-4


@pytest.mark.parametrize("name, dim, k", [("ring8", 2, 8), ("grid25", 2, 25), ("mog1d", 1, 3)])
def test_mean_log_prob_on_samples_is_minus_entropy(name, dim, k):
    # Modes are ≥ 8σ apart, so H = log K + (d/2) log(2πe σ²) up to e^-8 terms.
    dist = toy_distribution(name)
    x = dist.sample(20000, torch.Generator().manual_seed(1))
    lp = dist.log_prob(x)
    entropy = math.log(k) + 0.5 * dim * math.log(2 * math.pi * math.e * dist.mode_std**2)
    se = lp.std().item() / math.sqrt(len(lp))  # ≈ sqrt(d/2)/sqrt(n)
    assert lp.mean().item() == pytest.approx(-entropy, abs=5 * se)


@pytest.mark.parametrize("name, k", [("ring8", 8), ("grid25", 25), ("mog1d", 3), ("spiral", 16)])
def test_samples_spread_equally_over_the_modes(name, k):
    n = 10000 if name == "spiral" else 40000  # spiral: (n, 2000) distances
    dist = toy_distribution(name)
    assert dist.n_modes == k
    x = dist.sample(n, torch.Generator().manual_seed(2))
    idx, dist_to_mode = dist.nearest_mode(x)
    assert idx.shape == (n,) and dist_to_mode.shape == (n,)
    counts = torch.bincount(idx, minlength=k).double() / n
    assert len(counts) == k
    se = math.sqrt((1 / k) * (1 - 1 / k) / n)
    torch.testing.assert_close(counts, torch.full((k,), 1 / k, dtype=torch.float64), rtol=0, atol=5 * se)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("ring8", 1 - math.exp(-4.5)),   # P(χ₂ ≤ 3) for a 2-D Gaussian
        ("grid25", 1 - math.exp(-4.5)),
        ("mog1d", math.erf(3 / math.sqrt(2))),  # P(|N(0,1)| ≤ 3)
        ("spiral", math.erf(3 / math.sqrt(2))),  # distance to a curve: 1-D noise across it
    ],
)
def test_fraction_within_three_sigma(name, expected):
    n = 10000 if name == "spiral" else 40000
    dist = toy_distribution(name)
    x = dist.sample(n, torch.Generator().manual_seed(3))
    _, d = dist.nearest_mode(x)
    frac = (d <= dist.hq_radius).double().mean().item()
    se = math.sqrt(expected * (1 - expected) / n)
    assert dist.hq_radius == pytest.approx(3 * dist.mode_std, rel=1e-15)
    assert frac == pytest.approx(expected, abs=max(5 * se, 1e-3))


def test_spiral_samples_lie_on_the_roll():
    dist = toy_distribution("spiral")
    x = dist.sample(5000, torch.Generator().manual_seed(4)).double()
    r = x.norm(dim=1)
    lo, hi = 0.2 * 1.5 * math.pi, 0.2 * 4.5 * math.pi
    assert r.min().item() > lo - 0.3 and r.max().item() < hi + 0.3
    # t uniform on [1.5π, 4.5π] and r ≈ 0.2 t: the mean radius is 0.2 · 3π
    assert r.mean().item() == pytest.approx(0.2 * 3 * math.pi, abs=0.02)


# ---------------------------------------------------------------- sampling mechanics
@pytest.mark.parametrize("name", list(TOY_DATASETS))
def test_sampling_is_seeded_and_shaped(name):
    dist = toy_distribution(name)
    a = dist.sample(50, torch.Generator().manual_seed(5))
    b = dist.sample(50, torch.Generator().manual_seed(5))
    c = dist.sample(50, torch.Generator().manual_seed(6))
    assert a.shape == (50, dist.dim) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.isfinite(dist.log_prob(a)).all()


def test_unknown_dataset_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        toy_distribution("moons")
    assert "'data'" in str(err.value) and "ring8" in str(err.value) and "\n" not in str(err.value)


def test_toy_stream_fresh_and_fixed():
    dist = toy_distribution("ring8")
    fresh = ToyStream(dist, n_train=0, generator=torch.Generator().manual_seed(0), device=torch.device("cpu"))
    assert fresh.points is None
    b1, b2 = fresh.sample(16), fresh.sample(16)
    assert b1.shape == (16, 2) and not torch.equal(b1, b2)
    fixed = ToyStream(dist, n_train=10, generator=torch.Generator().manual_seed(0), device=torch.device("cpu"))
    assert fixed.points.shape == (10, 2)
    batch = fixed.sample(200)
    # every row of a batch is one of the 10 training points, and (almost surely) all of them appear
    matches = (batch[:, None, :] == fixed.points[None, :, :]).all(-1)
    assert matches.any(1).all()
    assert matches.any(0).sum().item() == 10
