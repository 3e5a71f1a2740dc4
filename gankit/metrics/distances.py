"""Distances between two sets of feature vectors (docs/theory.md §7 (evaluation)).

Pure numpy functions, computed in float64. Every function takes feature
arrays shaped ``(N, d)`` (one row per image, the output of a feature network)
and returns plain Python floats.

* :func:`fit_gaussian`, :func:`frechet_distance`,
  :func:`frechet_distance_from_features` -- the Fréchet distance between the
  Gaussians fitted to two feature sets (Heusel et al. 2017, "GANs trained by a
  two time-scale update rule converge to a local Nash equilibrium"). It is
  called FID only when the features are the FID Inception-v3 pool features.
* :func:`kernel_inception_distance` -- unbiased MMD² with the cubic
  polynomial kernel, averaged over random subsets (Bińkowski et al. 2018,
  "Demystifying MMD GANs").
* :func:`precision_recall` -- improved precision and recall from k-NN ball
  manifolds (Kynkäänniemi et al. 2019, "Improved precision and recall metric
  for assessing generative models").
* :func:`density_coverage` -- density and coverage (Naeem et al. 2020,
  "Reliable fidelity and diversity metrics for generative models").

Boundary convention of the k-NN metrics: every ball is *closed*. A point
``y`` lies in the ball of ``x`` when ``||y - x|| <= r_k(x)``, where
``r_k(x)`` is the distance from ``x`` to its k-th nearest neighbour in its
own set, the point itself excluded. Kynkäänniemi et al.'s reference code
uses ``<=``; Naeem et al.'s reference code (prdc) uses ``<``. The two agree
except when a distance equals a radius exactly, which has probability zero
for continuous features but matters for duplicated or hand-made points.
Distances are compared squared (``||a||² + ||b||² - 2 a·b``, clamped at 0),
computed in row chunks, so 10k x 10k sets need only tens of MB.
"""

from __future__ import annotations

import warnings

import numpy as np

from gankit.errors import DataError

__all__ = [
    "fit_gaussian",
    "frechet_distance",
    "frechet_distance_from_features",
    "kernel_inception_distance",
    "precision_recall",
    "density_coverage",
]

# A Cholesky pivot p_i with p_i² <= _SINGULAR_RTOL * max_i Σ_ii marks Σ as
# numerically singular (rank-deficient), e.g. fitted from fewer samples than
# dimensions.
_SINGULAR_RTOL = 1e-10
# Bytes of one chunk of the pairwise squared-distance matrix (float64).
_CHUNK_BYTES = 64 * 2**20


# ---------------------------------------------------------------- validation
def _as_features(x: np.ndarray, name: str) -> np.ndarray:
    """Return ``x`` as a finite float64 array shaped (N, d), or raise DataError."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(
            f"{name} must be a non-empty 2-D array (N, d) of features, got shape {arr.shape}; "
            "pass one row per image"
        )
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} contains NaN or inf; check the feature network and its input images")
    return arr


def _same_dim(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise DataError unless the two feature arrays have the same width d."""
    if a.shape[1] != b.shape[1]:
        raise DataError(
            f"{name_a} has {a.shape[1]} feature dimensions but {name_b} has {b.shape[1]}; "
            "extract both with the same feature network"
        )


# ------------------------------------------------------------ Fréchet distance
def fit_gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of a feature set.

    Args:
        features: (N, d) array, N >= 2.

    Returns:
        ``(mu, sigma)``: mu (d,) float64 and sigma (d, d) float64, the sample
        covariance with the 1/(N-1) normalisation (as in the FID reference code).
    """
    f = _as_features(features, "features")
    if f.shape[0] < 2:
        raise DataError(f"fit_gaussian needs at least 2 feature vectors, got {f.shape[0]}; pass more images")
    mu = f.mean(axis=0)
    centred = f - mu
    sigma = centred.T @ centred / (f.shape[0] - 1)
    return mu, sigma


def _check_gaussian(mu: np.ndarray, sigma: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate (mu (d,), sigma (d, d)); return float64 copies with sigma symmetrised."""
    mu = np.atleast_1d(np.asarray(mu, dtype=np.float64))
    sigma = np.atleast_2d(np.asarray(sigma, dtype=np.float64))
    d = mu.shape[0]
    if mu.ndim != 1 or sigma.shape != (d, d):
        raise DataError(
            f"{name}: mean shape {mu.shape} and covariance shape {sigma.shape} do not match; "
            "pass mu (d,) and sigma (d, d)"
        )
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise DataError(f"{name}: mean or covariance contains NaN or inf; recompute it from finite features")
    return mu, 0.5 * (sigma + sigma.T)


def _psd_factor(sigma: np.ndarray) -> tuple[np.ndarray, bool]:
    """A factor F with F Fᵀ = sigma, and whether sigma is numerically singular.

    Cholesky when sigma is comfortably positive definite (cheap); otherwise
    the symmetric eigendecomposition sigma = V diag(w) Vᵀ with negative
    rounding in w clamped to 0, F = V diag(sqrt(w)).

    Args:
        sigma: (d, d) symmetric positive semi-definite.

    Returns:
        ``(F, singular)`` with F (d, d).
    """
    scale = float(np.max(np.diag(sigma), initial=0.0))
    try:
        chol = np.linalg.cholesky(sigma)
        pivots_sq = np.diag(chol) ** 2
        if scale > 0 and float(pivots_sq.min()) > _SINGULAR_RTOL * scale:
            return chol, False
    except np.linalg.LinAlgError:
        pass
    w, v = np.linalg.eigh(sigma)
    return v * np.sqrt(np.clip(w, 0.0, None)), True


def _is_singular(sigma: np.ndarray) -> bool:
    """Whether the PSD matrix sigma (d, d) is numerically singular (see _psd_factor)."""
    scale = float(np.max(np.diag(sigma), initial=0.0))
    if scale <= 0:
        return True
    try:
        chol = np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        return True
    return float((np.diag(chol) ** 2).min()) <= _SINGULAR_RTOL * scale


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> tuple[float, bool]:
    """tr((Σ1 Σ2)^{1/2}) for symmetric PSD Σ1, Σ2, and whether either is singular.

    With Σ1 = F Fᵀ, Σ1 Σ2 is similar to the symmetric PSD matrix Fᵀ Σ2 F, so
    the eigenvalues of Σ1 Σ2 are real and >= 0 and
    tr((Σ1 Σ2)^{1/2}) = Σ_i sqrt(λ_i(Fᵀ Σ2 F)): one Cholesky, two matrix
    products and one symmetric eigenvalue solve, no complex numbers. Negative
    rounding in the eigenvalues is clamped to 0. Exact also for singular Σ.

    Args:
        sigma1, sigma2: (d, d) symmetric PSD, float64.
    """
    factor, singular1 = _psd_factor(sigma1)
    middle = factor.T @ sigma2 @ factor
    eig = np.linalg.eigvalsh(0.5 * (middle + middle.T))
    singular = singular1 or _is_singular(sigma2)
    return float(np.sqrt(np.clip(eig, 0.0, None)).sum()), singular


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, Σ1) and N(mu2, Σ2).

    FD = ||mu1 - mu2||² + tr(Σ1) + tr(Σ2) - 2 tr((Σ1 Σ2)^{1/2})
    (Heusel et al. 2017; docs/theory.md §7 (evaluation)). The trace of the
    matrix square root comes from eigenvalues (:func:`trace_sqrt_product`),
    in float64, which is exact for singular covariances and about 10x faster
    than ``scipy.linalg.sqrtm(Σ1 @ Σ2)`` at d = 2048. A singular covariance
    (e.g. fitted from fewer samples than dimensions) gives a ``UserWarning``:
    the value is computed correctly, but as an estimate from so few samples
    it is strongly biased. Negative rounding noise (|FD| below 1e-10 of the
    traces) is returned as 0.

    Args:
        mu1, mu2: (d,) means.
        sigma1, sigma2: (d, d) symmetric positive semi-definite covariances.

    Returns:
        FD as a float, >= 0.
    """
    mu1, sigma1 = _check_gaussian(mu1, sigma1, "first Gaussian")
    mu2, sigma2 = _check_gaussian(mu2, sigma2, "second Gaussian")
    if mu1.shape != mu2.shape:
        raise DataError(
            f"the Gaussians have different dimensions ({mu1.shape[0]} vs {mu2.shape[0]}); "
            "fit both on features from the same network"
        )
    tr_sqrt, singular = trace_sqrt_product(sigma1, sigma2)
    if singular:
        warnings.warn(
            "Fréchet distance: a covariance matrix is singular (fewer samples than feature "
            "dimensions?); the value is exact for these covariances but a high-bias estimate, "
            "use more samples than dimensions",
            UserWarning,
            stacklevel=2,
        )
    diff = mu1 - mu2
    traces = float(np.trace(sigma1) + np.trace(sigma2))
    value = float(diff @ diff) + traces - 2.0 * tr_sqrt
    if value < 0.0 and value > -1e-10 * max(traces, 1.0):
        value = 0.0
    return value


def frechet_distance_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """FD between the Gaussians fitted to two feature sets (N1, d) and (N2, d)."""
    f1 = _as_features(features1, "features1")
    f2 = _as_features(features2, "features2")
    _same_dim(f1, f2, "features1", "features2")
    mu1, sigma1 = fit_gaussian(f1)
    mu2, sigma2 = fit_gaussian(f2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = frechet_distance(mu1, sigma1, mu2, sigma2)
    if caught:
        warnings.warn(
            f"Fréchet distance from {f1.shape[0]} and {f2.shape[0]} samples of {f1.shape[1]}-d "
            "features: a covariance is singular, so the value is a high-bias estimate; "
            "use more samples than feature dimensions",
            UserWarning,
            stacklevel=2,
        )
    return value


# ------------------------------------------------------------------------ KID
def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (xᵀy / d + 1)³ for rows x (m, d), y (n, d); returns (m, n)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² estimate between rows x (m, d) and y (n, d), m, n >= 2."""
    m, n = x.shape[0], y.shape[0]
    k_xx = _polynomial_kernel(x, x)
    k_yy = _polynomial_kernel(y, y)
    k_xy = _polynomial_kernel(x, y)
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def kernel_inception_distance(
    features1: np.ndarray,
    features2: np.ndarray,
    *,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel distance: unbiased MMD² with k(x, y) = (xᵀy/d + 1)³ over random subsets.

    Bińkowski et al. 2018; docs/theory.md §7 (evaluation). For each of
    ``num_subsets`` rounds, draw ``m = min(subset_size, N1, N2)`` rows from each
    set without replacement and compute the unbiased MMD² estimate
    (diagonal kernel terms excluded). The estimate is unbiased, so it can be
    slightly negative when the two distributions are equal. Called KID only
    when the features are Inception features.

    Args:
        features1: (N1, d) array. features2: (N2, d) array. N1, N2 >= 2.
        num_subsets: number of random subsets, >= 1.
        subset_size: rows per subset, capped by N1 and N2.
        seed: seed of the subset draws (numpy default_rng).

    Returns:
        ``(mean, std)`` over the subsets; std is the population standard
        deviation (ddof = 0) of the per-subset estimates.
    """
    f1 = _as_features(features1, "features1")
    f2 = _as_features(features2, "features2")
    _same_dim(f1, f2, "features1", "features2")
    if num_subsets < 1 or subset_size < 2:
        raise DataError(
            f"kernel distance needs num_subsets >= 1 and subset_size >= 2, got {num_subsets} and "
            f"{subset_size}; raise them"
        )
    m = min(subset_size, f1.shape[0], f2.shape[0])
    if m < 2:
        raise DataError(f"kernel distance needs at least 2 samples in each set, got {f1.shape[0]} and {f2.shape[0]}")
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        x = f1[rng.choice(f1.shape[0], m, replace=False)]
        y = f2[rng.choice(f2.shape[0], m, replace=False)]
        values[i] = _unbiased_mmd2(x, y)
    return float(values.mean()), float(values.std())


# ------------------------------------------------------------- k-NN manifolds
def _row_chunk(n_columns: int) -> int:
    """Rows per chunk so that a (rows, n_columns) float64 block fits in _CHUNK_BYTES."""
    return max(1, _CHUNK_BYTES // (8 * max(n_columns, 1)))


def _squared_distances(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """||a_i - b_j||² for rows a (m, d), b (n, d) with b_sq = ||b_j||² (n,); returns (m, n) >= 0."""
    a_sq = np.einsum("ij,ij->i", a, a)
    d2 = a_sq[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0, out=d2)


def knn_radii_squared(features: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each row to its k-th nearest other row.

    Args:
        features: (N, d) float64, N > k.
        k: neighbour index, >= 1 (the point itself is excluded by index, so
            duplicates count as neighbours at distance 0).

    Returns:
        (N,) array of squared radii.
    """
    n = features.shape[0]
    sq = np.einsum("ij,ij->i", features, features)
    radii = np.empty(n)
    step = _row_chunk(n)
    for start in range(0, n, step):
        stop = min(start + step, n)
        d2 = _squared_distances(features[start:stop], features, sq)
        d2[np.arange(stop - start), np.arange(start, stop)] = np.inf
        radii[start:stop] = np.partition(d2, k - 1, axis=1)[:, k - 1]
    return radii


def _ball_counts(points: np.ndarray, centres: np.ndarray, radii_sq: np.ndarray) -> np.ndarray:
    """For each row of points (M, d): how many closed balls (centres (N, d), radii_sq (N,)) contain it."""
    c_sq = np.einsum("ij,ij->i", centres, centres)
    counts = np.empty(points.shape[0], dtype=np.int64)
    step = _row_chunk(centres.shape[0])
    for start in range(0, points.shape[0], step):
        d2 = _squared_distances(points[start : start + step], centres, c_sq)
        counts[start : start + step] = (d2 <= radii_sq[None, :]).sum(axis=1)
    return counts


def _nearest_squared(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    """For each row of points (M, d): squared distance to its nearest row of others (N, d)."""
    o_sq = np.einsum("ij,ij->i", others, others)
    out = np.empty(points.shape[0])
    step = _row_chunk(others.shape[0])
    for start in range(0, points.shape[0], step):
        out[start : start + step] = _squared_distances(points[start : start + step], others, o_sq).min(axis=1)
    return out


def _check_knn(real: np.ndarray, fake: np.ndarray, k: int, need_fake_radii: bool) -> tuple[np.ndarray, np.ndarray]:
    """Validate the inputs of the k-NN metrics; return float64 (N_real, d), (N_fake, d)."""
    r = _as_features(real, "real features")
    f = _as_features(fake, "fake features")
    _same_dim(r, f, "real features", "fake features")
    if k < 1:
        raise DataError(f"k must be >= 1, got {k}")
    smallest = min(r.shape[0], f.shape[0]) if need_fake_radii else r.shape[0]
    if smallest <= k:
        raise DataError(
            f"k = {k} nearest neighbours need more than {k} points per set, got {r.shape[0]} real and "
            f"{f.shape[0]} fake; pass more samples or lower k"
        )
    return r, f


def precision_recall(real: np.ndarray, fake: np.ndarray, *, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019; docs/theory.md §7 (evaluation)).

    The real manifold is the union of closed balls around each real point
    with radius its distance to its k-th nearest real neighbour (itself
    excluded); likewise for the fake manifold.
    precision = fraction of fake points inside the real manifold;
    recall = fraction of real points inside the fake manifold.
    Closed balls (``<=``), as in the paper's reference code.

    Args:
        real: (N_real, d) features. fake: (N_fake, d) features; both > k rows.
        k: neighbour index of the radii.

    Returns:
        ``(precision, recall)``, each in [0, 1].
    """
    r, f = _check_knn(real, fake, k, need_fake_radii=True)
    precision = float((_ball_counts(f, r, knn_radii_squared(r, k)) > 0).mean())
    recall = float((_ball_counts(r, f, knn_radii_squared(f, k)) > 0).mean())
    return precision, recall


def density_coverage(real: np.ndarray, fake: np.ndarray, *, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020; docs/theory.md §7 (evaluation)).

    With B(x_i, r_i) the closed ball around real point x_i of radius its
    distance to its k-th nearest real neighbour (itself excluded):
    density = (1 / (k M)) Σ_j Σ_i 1[y_j ∈ B(x_i, r_i)] over the M fake points y_j
    (1 in expectation for identical distributions, can exceed 1);
    coverage = (1 / N) Σ_i 1[∃ j: y_j ∈ B(x_i, r_i)], the fraction of real
    balls that hold at least one fake point. Closed balls (``<=``); the
    authors' reference code uses open balls (``<``), which differs only on
    exact ties.

    Args:
        real: (N, d) features, N > k. fake: (M, d) features.
        k: neighbour index of the radii.

    Returns:
        ``(density, coverage)``.
    """
    r, f = _check_knn(real, fake, k, need_fake_radii=False)
    radii_sq = knn_radii_squared(r, k)
    density = float(_ball_counts(f, r, radii_sq).sum() / (k * f.shape[0]))
    coverage = float((_nearest_squared(r, f) <= radii_sq).mean())
    return density, coverage
