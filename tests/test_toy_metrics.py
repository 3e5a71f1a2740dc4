"""Exact values of the toy metrics in gankit.metrics.toy on hand-made samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
import scipy.spatial.distance
import scipy.stats
import torch

from gankit.data.toy import toy_distribution
from gankit.metrics.toy import jsd_1d, jsd_from_densities, mode_metrics, toy_summary, wasserstein1


def ring_mode(k: int, r: float = 1.0) -> list[float]:
    a = 2 * math.pi * k / 8
    return [r * math.cos(a), r * math.sin(a)]


# ---------------------------------------------------------------- mode metrics
def test_ring8_five_modes_and_two_outliers():
    # 8 points exactly on modes 0..4 (0, 1, 2 twice), 2 far-off points
    pts = [ring_mode(k) for k in (0, 0, 1, 1, 2, 2, 3, 4)] + [[0.0, 0.0], [5.0, 5.0]]
    m = mode_metrics(torch.tensor(pts), toy_distribution("ring8"))
    assert m == {"modes_covered": 5, "modes_total": 8, "hq_fraction": 0.8}
    assert type(m["modes_covered"]) is int and type(m["hq_fraction"]) is float


def test_low_quality_points_do_not_cover_their_nearest_mode():
    # Points 0.5 from modes 6 and 7: nearest to them, but not high quality.
    pts = [ring_mode(0), ring_mode(6, r=1.5), ring_mode(7, r=0.5)]
    m = mode_metrics(torch.tensor(pts), toy_distribution("ring8"))
    assert m["modes_covered"] == 1
    assert m["hq_fraction"] == pytest.approx(1 / 3, rel=1e-15)


def test_three_sigma_boundary_ring8():
    # σ = 0.01: radius 0.03. Points at 2.99σ and 3.01σ from mode 0 = (1, 0), and exactly 3σ.
    dist = toy_distribution("ring8")
    assert dist.hq_radius == pytest.approx(0.03, rel=1e-15)
    inside = torch.tensor([[1.0299, 0.0], [1.0, -0.0299]], dtype=torch.float64)
    outside = torch.tensor([[1.0301, 0.0], [1.0, 0.0301]], dtype=torch.float64)
    on = torch.tensor([[1.0, 0.03]], dtype=torch.float64)  # distance sqrt(0.03²) == 0.03 exactly
    assert mode_metrics(inside, dist) == {"modes_covered": 1, "modes_total": 8, "hq_fraction": 1.0}
    assert mode_metrics(outside, dist) == {"modes_covered": 0, "modes_total": 8, "hq_fraction": 0.0}
    # "within 3 standard deviations" is inclusive
    assert mode_metrics(on, dist)["hq_fraction"] == 1.0


def test_three_sigma_boundary_grid25_and_mog1d():
    grid = toy_distribution("grid25")  # σ = 0.05: radius 0.15
    pts = torch.tensor([[2.0, 2.149], [-4.0, -4.151], [0.1, 0.1], [4.0, 0.0]])
    # (0.1, 0.1) is 0.141 < 0.15 from (0, 0): high quality
    m = mode_metrics(pts, grid)
    assert m == {"modes_covered": 3, "modes_total": 25, "hq_fraction": 0.75}
    line = toy_distribution("mog1d")  # σ = 0.25: radius 0.75
    pts = torch.tensor([[-2.0], [-1.26], [0.74], [2.76], [0.0]])
    m = mode_metrics(pts, line)
    # -1.26 is 0.74 from -2 (hq); 0.74 is 0.74 from 0 (hq); 2.76 is 0.76 from 2 (not)
    assert m == {"modes_covered": 2, "modes_total": 3, "hq_fraction": 0.8}


def test_all_modes_covered_on_exact_modes():
    dist = toy_distribution("grid25")
    m = mode_metrics(dist.means.float(), dist)
    assert m == {"modes_covered": 25, "modes_total": 25, "hq_fraction": 1.0}


def test_spiral_modes_are_arcs():
    dist = toy_distribution("spiral")
    # Points exactly on the curve in the middle of arcs 0, 5 and 15 (16 arcs of equal t-length)
    width = (dist.t_max - dist.t_min) / 16
    t = torch.tensor([dist.t_min + (j + 0.5) * width for j in (0, 5, 15)], dtype=torch.float64)
    pts = dist._point(t)
    idx, d = dist.nearest_mode(pts)
    assert idx.tolist() == [0, 5, 15]
    assert d.max().item() < 0.01  # curve points are ~0.009 apart
    far = torch.tensor([[10.0, 10.0]], dtype=torch.float64)
    m = mode_metrics(torch.cat([pts, far]), dist)
    assert m == {"modes_covered": 3, "modes_total": 16, "hq_fraction": 0.75}


def test_mode_metrics_of_no_samples():
    m = mode_metrics(torch.zeros(0, 2), toy_distribution("ring8"))
    assert m == {"modes_covered": 0, "modes_total": 8, "hq_fraction": 0.0}


def test_mode_metrics_of_real_data():
    dist = toy_distribution("ring8")
    m = mode_metrics(dist.sample(2500, torch.Generator().manual_seed(0)), dist)
    assert m["modes_covered"] == 8
    assert m["hq_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.012)


# ---------------------------------------------------------------- Wasserstein-1
def test_w1_1d_sorted_formula():
    # sorted: |0-3| + |1-4| + |2-5| = 9 over 3 points
    assert wasserstein1(np.array([0.0, 1.0, 2.0]), np.array([5.0, 3.0, 4.0])) == pytest.approx(3.0, rel=1e-15)
    # sorted: (|0-1| + |10-2|) / 2 = 4.5 (not the unsorted pairing's (2 + 9)/2)
    assert wasserstein1(np.array([[10.0], [0.0]]), np.array([[1.0], [2.0]])) == pytest.approx(4.5, rel=1e-15)


def test_w1_1d_unequal_sizes():
    # x = {0}, y = {1, 3}: all mass of 0 moves to 1 and 3 in halves: (1 + 3) / 2
    assert wasserstein1(np.array([0.0]), np.array([1.0, 3.0])) == pytest.approx(2.0, rel=1e-12)
    x, y = np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.5, 2.5])
    assert wasserstein1(x, y) == pytest.approx(scipy.stats.wasserstein_distance(x, y), rel=1e-12)


def test_w1_2d_assignment_beats_greedy():
    # greedy (nearest pair first) pays (1 + 5)/2 = 3; the optimum is (√2 + 3√2)/2 = 2√2
    x = np.array([[0.0, 0.0], [0.0, 1.0]])
    y = np.array([[3.0, 4.0], [1.0, 1.0]])
    assert wasserstein1(x, y) == pytest.approx(2 * math.sqrt(2), rel=1e-12)
    assert wasserstein1(y, x) == pytest.approx(2 * math.sqrt(2), rel=1e-12)


def test_w1_2d_unequal_sizes_and_identity():
    x = np.array([[0.0, 0.0]])
    y = np.array([[3.0, 4.0], [0.0, 1.0]])
    assert wasserstein1(x, y) == pytest.approx(3.0, rel=1e-12)  # (5 + 1) / 2
    pts = np.array([[0.0, 1.0], [2.0, 3.0], [-1.0, 5.0]])
    assert wasserstein1(pts, pts[::-1].copy()) == pytest.approx(0.0, abs=1e-15)


def test_w1_matches_linear_sum_assignment_on_random_points():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 2)), rng.normal(loc=0.5, size=(40, 2))
    cost = scipy.spatial.distance.cdist(x, y)
    r, c = scipy.optimize.linear_sum_assignment(cost)
    assert wasserstein1(torch.from_numpy(x).float(), y) == pytest.approx(cost[r, c].mean(), rel=1e-6)
    assert wasserstein1(x, y) == pytest.approx(cost[r, c].mean(), rel=1e-12)
    xs, ys = rng.normal(size=50), rng.normal(size=50) + 1
    assert wasserstein1(xs, ys) == pytest.approx(scipy.stats.wasserstein_distance(xs, ys), rel=1e-12)


def test_w1_rejects_different_dimensions():
    with pytest.raises(ValueError, match="one dimension"):
        wasserstein1(np.zeros((3, 2)), np.zeros((3, 1)))


# ---------------------------------------------------------------- JSD
GRID = np.linspace(-20.0, 20.0, 40001)


def normal_pdf(x, m, s=1.0):
    return np.exp(-((x - m) ** 2) / (2 * s * s)) / math.sqrt(2 * math.pi * s * s)


def test_jsd_identical_is_zero():
    p = normal_pdf(GRID, 0.0)
    assert jsd_from_densities(GRID, p, p.copy()) == pytest.approx(0.0, abs=1e-15)


def test_jsd_disjoint_is_log_2():
    p, q = normal_pdf(GRID, -10.0), normal_pdf(GRID, 10.0)  # 20σ apart: overlap ~ e^-50
    assert jsd_from_densities(GRID, p, q) == pytest.approx(math.log(2.0), abs=1e-9)


def test_jsd_of_nested_uniforms():
    # p = U[0, 1], q = U[0, 2], m = 3/4 on [0, 1] and 1/4 on [1, 2]:
    # KL(p‖m) = log(4/3), KL(q‖m) = ½ log(2/3) + ½ log 2 = ½ log(4/3); JSD = ¾ log(4/3)
    grid = np.linspace(-1.0, 3.0, 400001)
    p = ((grid >= 0) & (grid <= 1)).astype(float)
    q = 0.5 * ((grid >= 0) & (grid <= 2)).astype(float)
    expected = 0.75 * math.log(4 / 3)
    assert jsd_from_densities(grid, p, q) == pytest.approx(expected, abs=1e-4)
    assert jsd_from_densities(grid, q, p) == pytest.approx(expected, abs=1e-4)


def test_jsd_1d_of_one_mode_against_mog1d():
    # All generated mass on the middle mode: p = ⅓ each, q = the middle mode, m = ⅔ / ⅙ / ⅙.
    # KL(p‖m) = ⅓ log ½ + ⅔ log 2 = ⅓ log 2; KL(q‖m) = log(3/2); JSD = ⅙ log 2 + ½ log(3/2)
    dist = toy_distribution("mog1d")
    s = torch.randn(5000, generator=torch.Generator().manual_seed(0)) * 0.25
    expected = math.log(2) / 6 + 0.5 * math.log(1.5)
    assert jsd_1d(s, dist) == pytest.approx(expected, abs=5e-3)


def test_jsd_1d_of_the_data_itself_is_near_zero():
    # A perfect generator, evaluated at the run's default eval_samples = 2,500.
    # With a bandwidth below the mode std (e.g. 0.05-0.12) the KDE gives JSD ≈ 0.001-0.003.
    # gankit.metrics.toy.jsd_1d uses scipy's default Scott bandwidth on the whole
    # multimodal sample (≈ 0.35 > the mode std 0.25), which gives ≈ 0.06 here: about as
    # much as a generator whose modes are 1.4x too wide (0.088 at std 0.35).
    dist = toy_distribution("mog1d")
    real = dist.sample(2500, torch.Generator().manual_seed(1))
    assert 0.0 <= jsd_1d(real, dist) < 0.01


def test_toy_summary_fields():
    dist = toy_distribution("mog1d")
    a = dist.sample(300, torch.Generator().manual_seed(0))
    b = dist.sample(300, torch.Generator().manual_seed(1))
    out = toy_summary(a, b, dist)
    assert set(out) == {"modes_covered", "modes_total", "hq_fraction", "w1", "jsd"}
    assert out["modes_total"] == 3 and out["modes_covered"] == 3
    assert out["w1"] == pytest.approx(wasserstein1(a, b), rel=1e-15)
    ring = toy_distribution("ring8")
    out = toy_summary(ring.sample(50), ring.sample(50), ring)
    assert set(out) == {"modes_covered", "modes_total", "hq_fraction", "w1"}
