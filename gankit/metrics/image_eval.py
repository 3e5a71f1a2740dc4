"""Evaluate generated images against reference images (docs/theory.md §7 (evaluation)).

One call, :func:`evaluate_images`, extracts features of samples and
reference images with one feature network and computes, from those
features, the Fréchet distance, the kernel distance, precision/recall and
density/coverage, plus two anchors that give the numbers a scale:

* ``fd_<features>_floor`` -- FD between two disjoint random halves of the
  reference (what a perfect generator would score, up to sample size);
* ``fd_<features>_noise`` -- FD between uniform-noise images and the reference
  (what a generator that learned nothing would score).

``<features>`` is ``inception`` (the FID network; only then is ``fd_inception``
the usual FID), or a domain network trained on the reference by
:mod:`gankit.metrics.features`: ``lenet``, ``resnet`` or ``ae``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import numpy as np
import torch

from gankit.errors import ConfigError, DataError
from gankit.metrics import distances
from gankit.metrics.features import FeatureNet, check_images, train_feature_net

__all__ = ["evaluate_images", "METRICS"]

METRICS = ("fd", "kid", "pr", "dc")  # Fréchet, kernel, precision/recall, density/coverage


class _InceptionExtractor:
    """Adapter giving the FID Inception network the FeatureNet interface (id, kind, accuracy, extract)."""

    kind = "inception"
    accuracy = None

    def __init__(self, weights_path: str | os.PathLike) -> None:
        from gankit.metrics.inception import load_inception

        self.net = load_inception(weights_path)
        digest = hashlib.sha256()
        with open(weights_path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        self.id = "inception-" + digest.hexdigest()[:8]

    def extract(self, images_uint8: torch.Tensor, batch_size: int = 64) -> np.ndarray:
        from gankit.metrics.inception import inception_features

        return inception_features(self.net, images_uint8, batch_size=batch_size)


def _check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    """Validate the requested metric names."""
    metrics = tuple(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ConfigError(f"unknown or no metrics {unknown or list(metrics)}; choose from {', '.join(METRICS)}")
    return metrics


def evaluate_images(
    samples_uint8: torch.Tensor | np.ndarray,
    reference_uint8: torch.Tensor | np.ndarray,
    *,
    reference_labels: torch.Tensor | np.ndarray | None = None,
    metrics: Sequence[str] = METRICS,
    n: int = 10000,
    seed: int = 0,
    inception_weights: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    feature_net: FeatureNet | None = None,
    k_pr: int = 3,
    k_dc: int = 5,
) -> dict:
    """Distances between generated and reference images in one feature space.

    Args:
        samples_uint8: generated images, uint8 (N_s, C, H, W), values 0-255.
        reference_uint8: real images, uint8 (N_r, C, H, W), same C, H, W.
        reference_labels: int64 (N_r,) labels of the reference; with them the
            feature net is a classifier (lenet / resnet), without an autoencoder.
        metrics: any of ``fd`` (Fréchet), ``kid`` (kernel), ``pr``
            (precision/recall, k = ``k_pr``), ``dc`` (density/coverage, k = ``k_dc``).
        n: at most this many samples and reference images are used (random subsets).
        seed: seed of the subsets, the noise images and the feature-net training.
        inception_weights: path of ``pt_inception-2015-12-05-6726825d.pth``;
            when given, features are FID Inception-v3 features (``inception``).
        cache_dir: feature-net cache folder (default ``~/.cache/gankit/features``).
        feature_net: an already trained FeatureNet to use instead of training one.

    Returns:
        A dict of floats and strings: ``fd_<f>``, ``fd_<f>_floor``,
        ``fd_<f>_noise`` (with ``fd``), ``kid_<f>``, ``kid_<f>_std`` (with ``kid``),
        ``precision_<f>``, ``recall_<f>`` (with ``pr``), ``density_<f>``,
        ``coverage_<f>`` (with ``dc``), and ``feature_net`` (id),
        ``feature_net_accuracy`` (None for ``ae`` and ``inception``),
        ``n_samples``, ``n_reference`` (images used), ``seed``.
    """
    samples = check_images(samples_uint8, "samples")
    reference = check_images(reference_uint8, "reference images")
    if samples.shape[1:] != reference.shape[1:]:
        raise DataError(
            f"samples are {tuple(samples.shape[1:])} but reference images are {tuple(reference.shape[1:])}; "
            "generate images of the reference format"
        )
    metrics = _check_metrics(metrics)
    if n < 2:
        raise ConfigError(f"n must be at least 2, got {n}")
    rng = np.random.default_rng(seed)

    if inception_weights is not None:
        extractor = _InceptionExtractor(inception_weights)
    elif feature_net is not None:
        extractor = feature_net
    else:
        extractor = train_feature_net(reference, reference_labels, seed=seed, cache_dir=cache_dir)
    name = extractor.kind

    n_samples = min(n, samples.shape[0])
    n_reference = min(n, reference.shape[0])
    half = min(n, reference.shape[0] // 2)  # floor: two disjoint halves of the reference
    perm = torch.as_tensor(rng.permutation(reference.shape[0]))
    ref_feats_all = extractor.extract(reference[perm[: max(n_reference, 2 * half)]])
    ref_feats = ref_feats_all[:n_reference]
    sample_idx = torch.as_tensor(rng.permutation(samples.shape[0])[:n_samples])
    fake_feats = extractor.extract(samples[sample_idx])

    out: dict = {"feature_net": extractor.id, "feature_net_accuracy": extractor.accuracy,
                 "n_samples": n_samples, "n_reference": n_reference, "seed": seed}
    if "fd" in metrics:
        out[f"fd_{name}"] = distances.frechet_distance_from_features(fake_feats, ref_feats)
        if half >= 2:
            out[f"fd_{name}_floor"] = distances.frechet_distance_from_features(
                ref_feats_all[:half], ref_feats_all[half : 2 * half]
            )
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randint(0, 256, (n_samples, *reference.shape[1:]), generator=generator, dtype=torch.uint8)
        out[f"fd_{name}_noise"] = distances.frechet_distance_from_features(extractor.extract(noise), ref_feats)
    if "kid" in metrics:
        mean, std = distances.kernel_inception_distance(fake_feats, ref_feats, seed=seed)
        out[f"kid_{name}"], out[f"kid_{name}_std"] = mean, std
    if "pr" in metrics:
        out[f"precision_{name}"], out[f"recall_{name}"] = distances.precision_recall(ref_feats, fake_feats, k=k_pr)
    if "dc" in metrics:
        out[f"density_{name}"], out[f"coverage_{name}"] = distances.density_coverage(ref_feats, fake_feats, k=k_dc)
    return out
