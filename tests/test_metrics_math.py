"""Exact checks of the metric mathematics in gankit.metrics.distances (docs/theory.md §7).

Closed forms first (Fréchet distance of 1-D and diagonal Gaussians, hand-made
point sets for the k-NN metrics with hand-computed answers), then agreement
with the scipy.linalg.sqrtm formulation, then sampling checks whose
tolerances are several standard errors wide on both sides.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg

from gankit.errors import DataError
from gankit.metrics import distances
from gankit.metrics.distances import (
    density_coverage,
    fit_gaussian,
    frechet_distance,
    frechet_distance_from_features,
    kernel_inception_distance,
    precision_recall,
)


def _random_spd(rng: np.random.Generator, d: int, ridge: float = 0.1) -> np.ndarray:
    """A well-conditioned random symmetric positive definite (d, d) matrix."""
    a = rng.standard_normal((d, 2 * d))
    return a @ a.T / (2 * d) + ridge * np.eye(d)


def _random_rotation(rng: np.random.Generator, d: int) -> np.ndarray:
    """A random orthogonal (d, d) matrix."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def _fd_sqrtm(mu1, sigma1, mu2, sigma2) -> float:
    """The textbook formulation with scipy.linalg.sqrtm of Σ1 Σ2 (independent reference)."""
    root = scipy.linalg.sqrtm(sigma1 @ sigma2)
    root = root[0] if isinstance(root, tuple) else root
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(root).real)


# ------------------------------------------------------------ Fréchet distance
def test_fit_gaussian_matches_numpy_cov() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 3))
    mu, sigma = fit_gaussian(x)
    assert mu == pytest.approx(x.mean(axis=0), abs=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-12, atol=1e-12)


def test_fd_of_a_gaussian_with_itself_is_zero() -> None:
    rng = np.random.default_rng(1)
    sigma = _random_spd(rng, 32)
    mu = rng.standard_normal(32)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)


def test_fd_one_dimensional_closed_form() -> None:
    # N(1, 2²) vs N(-0.5, 0.5²): (μ1 - μ2)² + (σ1 - σ2)² = 1.5² + 1.5² = 4.5
    value = frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-0.5]), np.array([[0.25]]))
    assert value == pytest.approx(4.5, rel=1e-12)


def test_fd_diagonal_closed_form() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0.1, 3.0, 10), rng.uniform(0.1, 3.0, 10)
    mu1, mu2 = rng.standard_normal(10), rng.standard_normal(10)
    expected = float(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((mu1 - mu2) ** 2))
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_fd_is_rotation_invariant() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    q = _random_rotation(rng, 6)
    expected = float(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    z = np.zeros(6)
    assert frechet_distance(z, q @ np.diag(a) @ q.T, z, q @ np.diag(b) @ q.T) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("seed, d", [(0, 16), (1, 64), (2, 128), (3, 256)])
def test_fd_agrees_with_sqrtm_formulation(seed: int, d: int) -> None:
    rng = np.random.default_rng(seed)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d) * 0.1
    s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
    ours = frechet_distance(mu1, s1, mu2, s2)
    assert ours == pytest.approx(_fd_sqrtm(mu1, s1, mu2, s2), rel=1e-6)


def test_fd_singular_covariance_warns_and_is_exact() -> None:
    # Σ1 = diag(1, 4, 0, 0), Σ2 = diag(4, 0, 0, 9) rotated: rank 2 each; closed form
    # Σ (√a - √b)² = (1 - 2)² + (2 - 0)² + 0 + (0 - 3)² = 14, plus ||μ1 - μ2||² = 1.
    rng = np.random.default_rng(4)
    q = _random_rotation(rng, 4)
    s1 = q @ np.diag([1.0, 4.0, 0.0, 0.0]) @ q.T
    s2 = q @ np.diag([4.0, 0.0, 0.0, 9.0]) @ q.T
    mu1, mu2 = np.zeros(4), np.array([1.0, 0.0, 0.0, 0.0])
    with pytest.warns(UserWarning, match="singular"):
        value = frechet_distance(mu1, s1, mu2, s2)
    assert value == pytest.approx(15.0, rel=1e-7)


def test_fd_from_fewer_samples_than_dimensions_warns_and_is_finite() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((10, 20)), rng.standard_normal((10, 20)) + 1.0
    with pytest.warns(UserWarning, match="more samples than feature dimensions"):
        value = frechet_distance_from_features(x, y)
    # ||shift||² = 20 plus covariance terms of the same order: finite, positive, sane
    assert np.isfinite(value) and 10.0 < value < 60.0


def test_fd_full_rank_does_not_warn() -> None:
    rng = np.random.default_rng(6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frechet_distance_from_features(rng.standard_normal((500, 8)), rng.standard_normal((500, 8)))


def test_fd_same_distribution_is_near_zero() -> None:
    # E[FD] between two samples of N(0, I_d) of size N is O(d²/N); here ~0.02.
    rng = np.random.default_rng(7)
    value = frechet_distance_from_features(rng.standard_normal((4000, 8)), rng.standard_normal((4000, 8)))
    assert abs(value - 0.0) < 0.06


def test_fd_shifted_gaussians_give_squared_shift() -> None:
    rng = np.random.default_rng(8)
    shift = np.array([1.0, -1.0, 0.5, 1.5])  # ||shift||² = 4.5
    x = rng.standard_normal((5000, 4))
    y = rng.standard_normal((5000, 4)) + shift
    assert abs(frechet_distance_from_features(x, y) - 4.5) < 0.2


def test_fd_rejects_mismatched_dimensions() -> None:
    with pytest.raises(DataError, match="same"):
        frechet_distance_from_features(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(DataError, match="do not match"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))


# ------------------------------------------------------------------------ KID
def _mmd2_by_loops(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with the cubic kernel, written as the explicit double sums."""
    d = x.shape[1]

    def k(a, b):
        return (a @ b / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2.0 * xy


def test_kid_equals_double_sum_when_subset_is_everything() -> None:
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3)) + 0.5
    mean, std = kernel_inception_distance(x, y, num_subsets=3, subset_size=100)
    assert mean == pytest.approx(_mmd2_by_loops(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)  # every subset is a permutation of all rows


def test_kid_same_distribution_is_near_zero_and_shift_is_not() -> None:
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((1500, 16)), rng.standard_normal((1500, 16))
    mean, std = kernel_inception_distance(x, y, num_subsets=20, subset_size=500, seed=1)
    assert std > 0 and abs(mean) < 2.0 * std
    mean_shift, std_shift = kernel_inception_distance(x, y + 1.0, num_subsets=20, subset_size=500, seed=1)
    assert mean_shift > 20.0 * std_shift


def test_kid_is_deterministic_given_seed() -> None:
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal((300, 4)), rng.standard_normal((300, 4))
    assert kernel_inception_distance(x, y, num_subsets=5, subset_size=100, seed=3) == kernel_inception_distance(
        x, y, num_subsets=5, subset_size=100, seed=3
    )


# ------------------------------------------------------------- k-NN manifolds
REAL_LINE = np.array([[0.0], [1.0], [2.0], [3.0]])  # every k=1 radius is 1


def test_knn_metrics_on_hand_made_points_closed_balls() -> None:
    # fake 0.5 is in the balls of 0 and 1; fake 4.0 sits exactly on the boundary of
    # the ball of 3 (inside, closed balls); fake 10 is in none.
    fake = np.array([[0.5], [4.0], [10.0]])
    precision, recall = precision_recall(REAL_LINE, fake, k=1)
    assert precision == pytest.approx(2 / 3, abs=1e-12)
    # fake k=1 radii: 3.5, 3.5, 6 -> every real point is within 3.5 of 0.5
    assert recall == pytest.approx(1.0, abs=1e-12)
    density, coverage = density_coverage(REAL_LINE, fake, k=1)
    assert density == pytest.approx((2 + 1 + 0) / (1 * 3), abs=1e-12)
    # real 0, 1 (by 0.5) and 3 (by 4.0, on the boundary) are covered; 2 is not
    assert coverage == pytest.approx(3 / 4, abs=1e-12)


def test_recall_on_hand_made_points_k2() -> None:
    # fake k=2 radii: 0 -> 0.5, 0.25 -> 0.25, 0.5 -> 0.5. Real 0 is inside; real 1 is on
    # the boundary of the ball of 0.5 (inside); real 2 and 3 are outside. Real k=2 radii
    # are 2, 1, 1, 2, so every fake point is in the ball of real 0.
    fake = np.array([[0.0], [0.25], [0.5]])
    precision, recall = precision_recall(REAL_LINE, fake, k=2)
    assert precision == pytest.approx(1.0, abs=1e-12)
    assert recall == pytest.approx(0.5, abs=1e-12)


def test_knn_metrics_in_two_dimensions() -> None:
    # unit square corners: each k=1 radius is 1. Fake: centre (inside all 4 balls),
    # (2, 0) (on the boundary of (1, 0)), (5, 5) (in none).
    real = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    fake = np.array([[0.5, 0.5], [2.0, 0.0], [5.0, 5.0]])
    density, coverage = density_coverage(real, fake, k=1)
    assert density == pytest.approx((4 + 1 + 0) / 3, abs=1e-12)
    assert coverage == pytest.approx(1.0, abs=1e-12)  # the centre is within 1 of every corner
    precision, _ = precision_recall(real, fake, k=1)
    assert precision == pytest.approx(2 / 3, abs=1e-12)


def test_duplicates_are_neighbours_at_distance_zero() -> None:
    real = np.array([[0.0], [0.0], [5.0], [5.0]])  # k=1 radii are all 0
    fake = np.array([[0.0], [1e-3]])
    density, coverage = density_coverage(real, fake, k=1)
    assert density == pytest.approx(2 / 2, abs=1e-12)  # fake 0.0 is in both zero-radius balls at 0
    assert coverage == pytest.approx(2 / 4, abs=1e-12)


def test_chunked_distances_match_unchunked(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(12)
    real, fake = rng.standard_normal((300, 5)), rng.standard_normal((250, 5)) + 0.3
    full = precision_recall(real, fake, k=3) + density_coverage(real, fake, k=5)
    monkeypatch.setattr(distances, "_CHUNK_BYTES", 8 * 300 * 7)  # 7 rows per chunk
    assert precision_recall(real, fake, k=3) + density_coverage(real, fake, k=5) == full


def test_identical_distributions_give_density_coverage_precision_recall_near_one() -> None:
    rng = np.random.default_rng(13)
    real, fake = rng.standard_normal((3000, 2)), rng.standard_normal((3000, 2))
    density, coverage = density_coverage(real, fake, k=5)
    assert abs(density - 1.0) < 0.05
    # E[coverage] for equal distributions and N = M is ~1 - 2^-k = 0.969 (Naeem et al. 2020)
    assert abs(coverage - (1.0 - 2.0**-5)) < 0.015
    precision, recall = precision_recall(real, fake, k=3)
    assert abs(precision - 1.0) < 0.05 and abs(recall - 1.0) < 0.05


def test_disjoint_distributions_give_zero() -> None:
    rng = np.random.default_rng(14)
    real, fake = rng.standard_normal((400, 3)), rng.standard_normal((400, 3)) + 100.0
    assert precision_recall(real, fake, k=3) == (0.0, 0.0)
    assert density_coverage(real, fake, k=5) == (0.0, 0.0)


def test_knn_metrics_reject_too_few_points() -> None:
    with pytest.raises(DataError, match="lower k"):
        precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), k=3)
    with pytest.raises(DataError, match="NaN"):
        density_coverage(np.full((10, 2), np.nan), np.zeros((10, 2)), k=3)
