"""Speed of the metric code on this machine.

1. Fréchet distance at d = 2048 (the Inception feature width): gankit's
   eigenvalue formulation against the scipy.linalg.sqrtm formulation (the
   pytorch-fid one), same inputs, same process; prints both times, the
   speed-up and the relative difference.
2. Feature-extraction throughput (images/s) of a LeNet feature net and of the
   FID Inception-v3 with random weights.

Run: .venv/bin/python benchmarks/metrics_speed.py [--dim 2048] [--inception-images 32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg
import torch

from gankit.metrics.distances import fit_gaussian, frechet_distance
from gankit.metrics.features import train_feature_net
from gankit.metrics.inception import FIDInceptionV3, inception_features


def fd_sqrtm(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """FD with tr((Σ1Σ2)^{1/2}) from scipy.linalg.sqrtm, real part taken (the pytorch-fid formulation)."""
    root = scipy.linalg.sqrtm(sigma1 @ sigma2)
    root = root[0] if isinstance(root, tuple) else root
    if not np.all(np.isfinite(root)):  # pytorch-fid's fallback: regularise both covariances
        offset = np.eye(sigma1.shape[0]) * 1e-6
        root = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(root).real)


def _timed(fn, *args) -> tuple[float, float]:
    """(result, seconds) of one call."""
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def bench_fd(dim: int, n: int, seed: int = 0) -> None:
    """FD of two fitted Gaussians of n samples of correlated dim-d features."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((dim, dim)) / np.sqrt(dim)
    f1 = np.abs(rng.standard_normal((n, dim)) @ mix)  # nonnegative, correlated, like pool features
    f2 = np.abs(rng.standard_normal((n, dim)) @ mix + 0.1)
    mu1, s1 = fit_gaussian(f1)
    mu2, s2 = fit_gaussian(f2)
    ours, t_ours = min((_timed(frechet_distance, mu1, s1, mu2, s2) for _ in range(3)), key=lambda r: r[1])
    ref, t_ref = _timed(fd_sqrtm, mu1, s1, mu2, s2)
    print(f"FD d={dim} (N={n} per set): gankit {t_ours:.3f} s (best of 3), scipy sqrtm {t_ref:.3f} s, "
          f"speed-up {t_ref / t_ours:.1f}x, FD {ours:.6f} vs {ref:.6f}, "
          f"relative difference {abs(ours - ref) / abs(ref):.2e}")


def bench_lenet(n: int) -> None:
    """Throughput of LeNet feature extraction on 28x28 one-channel images."""
    images = torch.randint(0, 256, (2000, 1, 28, 28), dtype=torch.uint8)
    labels = torch.arange(2000) % 10
    start = time.perf_counter()
    net = train_feature_net(images, labels, epochs=1, use_cache=False)
    print(f"LeNet: trained 1 epoch on 1,600 images in {time.perf_counter() - start:.1f} s")
    batch = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8)
    net.extract(batch[:256])  # warm-up
    _, seconds = _timed(net.extract, batch)
    print(f"LeNet feature extraction: {n / seconds:,.0f} images/s ({n} images, batch 256)")


def bench_inception(n: int) -> None:
    """Throughput of the FID Inception-v3 (random weights) on 32x32 colour images (resized to 299)."""
    net = FIDInceptionV3().eval()
    batch = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8)
    inception_features(net, batch[:4], batch_size=4)  # warm-up
    _, seconds = _timed(lambda: inception_features(net, batch, batch_size=16))
    print(f"Inception-v3 feature extraction: {n / seconds:.1f} images/s ({n} images, batch 16, "
          f"{torch.get_num_threads()} threads)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048, help="feature dimension of the FD benchmark")
    parser.add_argument("--samples", type=int, default=4096, help="samples per set in the FD benchmark")
    parser.add_argument("--lenet-images", type=int, default=10000, help="images for the LeNet throughput")
    parser.add_argument("--inception-images", type=int, default=32, help="images for the Inception throughput")
    args = parser.parse_args()
    torch.manual_seed(0)
    bench_fd(args.dim, args.samples)
    bench_lenet(args.lenet_images)
    bench_inception(args.inception_images)


if __name__ == "__main__":
    main()
