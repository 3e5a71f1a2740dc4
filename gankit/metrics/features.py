"""Domain feature networks trained by gankit itself, for offline metrics (docs/theory.md §7 (evaluation)).

The Fréchet and kernel distances, precision/recall and density/coverage all
compare *features* of images. Inception-v3 features need a weights file; for
small image datasets gankit instead trains a small network on the labelled
real images, briefly, on CPU, deterministically from a seed:

* ``lenet``  -- a LeNet-style classifier for 28x28 images (any other size
  except 32x32 is resized to 28x28 with bilinear ``F.interpolate``);
* ``resnet`` -- a small ResNet classifier for 32x32 images;
* ``ae``     -- for *unlabelled* images: a small convolutional autoencoder
  (input resized to 32x32) whose 64-d code is the feature vector. Its
  features are not class-aware; its quality is reported as the held-out
  reconstruction MSE, and ``accuracy`` is ``None``.

A classifier holds out ``test_fraction`` of the images and reports its test
accuracy (``FeatureNet.accuracy``): quote it next to every metric, since
distances in the features of a bad classifier mean little. Classifier
features are the penultimate layer: the 128-d output of the last hidden
linear layer, taken *before* its ReLU (post-ReLU units that are dead on all
images would make the feature covariance singular).

Trained networks are cached on disk (``~/.cache/gankit/features/`` or
``cache_dir``) under a key that is the sha256 of the image bytes, shape,
labels, settings and :data:`FORMAT_VERSION`; files are written atomically
(temp file + ``os.replace``) and read with ``torch.load(weights_only=True)``.
The id (``lenet-<hash8>``, ``resnet-<hash8>``, ``ae-<hash8>``) names the
features in metric names and reports. Training is deterministic for a given
seed, data and machine (CPU kernels may differ across machines / thread counts).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import DataError

__all__ = ["FORMAT_VERSION", "FeatureSettings", "FeatureNet", "train_feature_net", "default_kind",
           "default_cache_dir", "check_images"]

FORMAT_VERSION = 1
KINDS = ("lenet", "resnet", "ae")
EMBED_DIM = 128  # width of the classifiers' penultimate layer = feature dimension
CODE_DIM = 64  # autoencoder code = feature dimension
_INPUT_SIZE = {"lenet": 28, "resnet": 32, "ae": 32}


@dataclasses.dataclass(frozen=True)
class FeatureSettings:
    """How a feature network is trained; every field is part of the cache key."""

    kind: str  # "lenet" | "resnet" | "ae"
    seed: int = 0  # seeds initialisation, the train/test split and the batch order
    epochs: int = 3  # passes over the training split
    batch_size: int = 128  # training minibatch size
    lr: float = 2e-3  # Adam learning rate
    test_fraction: float = 0.2  # held-out share of the images, for accuracy / reconstruction error

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DataError(f"unknown feature network kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise DataError("feature net epochs, batch_size and lr must be positive; fix the settings")
        if not 0.0 < self.test_fraction < 1.0:
            raise DataError(f"test_fraction must be in (0, 1), got {self.test_fraction}")


# ---------------------------------------------------------------- networks
class LeNet(nn.Module):
    """(N, C, 28, 28) in [-1, 1] -> logits (N, K); features(x) -> (N, 128)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 5, padding=2)  # 28 -> 28, pool -> 14
        self.conv2 = nn.Conv2d(16, 32, 5)  # 14 -> 10, pool -> 5
        self.embed = nn.Linear(32 * 5 * 5, EMBED_DIM)
        self.head = nn.Linear(EMBED_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.embed(x.flatten(1))  # pre-ReLU penultimate layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.features(x)))


class _ResidualBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 strided) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = (
            nn.Identity() if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """(N, C, 32, 32) in [-1, 1] -> logits (N, K); features(x) -> (N, 128).

    A 3x3 stem of width 16 at 32x32, then two residual blocks at 16x16 (width
    32) and 8x8 (width 64), global average pool, a 128-d embedding and the head.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.stages = nn.Sequential(_ResidualBlock(16, 32, 2), _ResidualBlock(32, 64, 2))
        self.embed = nn.Linear(64, EMBED_DIM)
        self.head = nn.Linear(EMBED_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x)).mean(dim=(2, 3))  # N x 64
        return self.embed(x)  # pre-ReLU penultimate layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.features(x)))


class ConvAutoencoder(nn.Module):
    """(N, C, 32, 32) in [-1, 1] -> reconstruction (N, C, 32, 32); features(x) = code (N, 64)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        # LeakyReLU and a linear output: with ReLU/tanh the decoder tends to collapse to
        # a constant image on mostly-dark data (dead units, tanh saturated near -1).
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, 16, 4, 2, 1), nn.LeakyReLU(0.2),  # 16
            nn.Conv2d(16, 32, 4, 2, 1), nn.LeakyReLU(0.2),  # 8
            nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(0.2),  # 4
            nn.Flatten(), nn.Linear(64 * 4 * 4, CODE_DIM),
        )
        self.decoder = nn.Sequential(
            nn.Linear(CODE_DIM, 64 * 4 * 4), nn.LeakyReLU(0.2), nn.Unflatten(1, (64, 4, 4)),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(16, in_channels, 4, 2, 1),
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def _build(kind: str, in_channels: int, num_classes: int) -> nn.Module:
    """The untrained network of a kind."""
    if kind == "lenet":
        return LeNet(in_channels, num_classes)
    if kind == "resnet":
        return SmallResNet(in_channels, num_classes)
    return ConvAutoencoder(in_channels)


# ---------------------------------------------------------------- data
def check_images(images: torch.Tensor | np.ndarray, name: str = "images") -> torch.Tensor:
    """Return ``images`` as a uint8 tensor (N, C, H, W) with N >= 1, or raise DataError."""
    x = torch.as_tensor(images)
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[0] == 0:
        raise DataError(
            f"{name} must be a non-empty uint8 tensor (N, C, H, W) with values 0-255, got "
            f"{x.dtype} {tuple(x.shape)}; convert with (x * 255).round().to(torch.uint8)"
        )
    return x


def _preprocess(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 (N, C, size, size) in [-1, 1] (bilinear resize if needed)."""
    x = images.float().div_(127.5).sub_(1.0)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x


def default_kind(images: torch.Tensor, labels: torch.Tensor | None) -> str:
    """``ae`` without labels, ``resnet`` for labelled 32x32 images, ``lenet`` otherwise."""
    if labels is None:
        return "ae"
    return "resnet" if tuple(images.shape[-2:]) == (32, 32) else "lenet"


def default_cache_dir() -> Path:
    """``~/.cache/gankit/features``."""
    return Path.home() / ".cache" / "gankit" / "features"


def _cache_key(images: torch.Tensor, labels: torch.Tensor | None, settings: FeatureSettings) -> str:
    """sha256 hex of format version, settings, image shape and bytes, and label bytes."""
    h = hashlib.sha256()
    h.update(f"gankit-features-v{FORMAT_VERSION}".encode())
    h.update(json.dumps(dataclasses.asdict(settings), sort_keys=True).encode())
    h.update(repr(tuple(images.shape)).encode())
    h.update(memoryview(images.contiguous().numpy()).cast("B"))
    if labels is None:
        h.update(b"no-labels")
    else:
        h.update(memoryview(labels.contiguous().numpy()).cast("B"))
    return h.hexdigest()


# ---------------------------------------------------------------- the feature net
class FeatureNet:
    """A trained feature network: ``extract(images_uint8) -> (N, feature_dim)`` float64.

    Attributes:
        id: ``<kind>-<hash8>``, stable for the same data and settings.
        kind: ``lenet`` | ``resnet`` | ``ae``.
        accuracy: held-out test accuracy of a classifier in [0, 1]; ``None`` for ``ae``.
        reconstruction_mse: held-out mean squared error of ``ae`` in [-1, 1] pixel
            units; ``None`` for classifiers.
        in_channels, input_size: the image channels it takes and the side it resizes to.
        feature_dim: width of the feature vectors.
    """

    def __init__(self, module: nn.Module, *, kind: str, digest: str, in_channels: int,
                 accuracy: float | None, reconstruction_mse: float | None) -> None:
        self.module = module.eval()
        self.kind = kind
        self.id = f"{kind}-{digest[:8]}"
        self.in_channels = in_channels
        self.input_size = _INPUT_SIZE[kind]
        self.accuracy = accuracy
        self.reconstruction_mse = reconstruction_mse
        self.feature_dim = CODE_DIM if kind == "ae" else EMBED_DIM

    def extract(self, images_uint8: torch.Tensor | np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Features (N, feature_dim) float64 of uint8 images (N, in_channels, H, W), in batches."""
        images = check_images(images_uint8)
        if images.shape[1] != self.in_channels:
            raise DataError(
                f"feature net {self.id} takes {self.in_channels}-channel images, got {images.shape[1]}; "
                "pass images of the same format as its training data"
            )
        out = np.empty((images.shape[0], self.feature_dim), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, images.shape[0], batch_size):
                batch = _preprocess(images[start : start + batch_size], self.input_size)
                out[start : start + batch.shape[0]] = self.module.features(batch).double().numpy()
        return out

    def __repr__(self) -> str:
        quality = f"accuracy={self.accuracy:.4f}" if self.accuracy is not None else f"mse={self.reconstruction_mse:.4g}"
        return f"FeatureNet({self.id}, {quality})"


def _split(n: int, test_fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (train, test) index tensors of a set of n items."""
    n_test = max(1, int(round(n * test_fraction)))
    if n - n_test < 2:
        raise DataError(f"need at least {n_test + 2} images to train a feature net, got {n}; pass more images")
    perm = torch.randperm(n, generator=generator)
    return perm[n_test:], perm[:n_test]


def _train(module: nn.Module, x: torch.Tensor, y: torch.Tensor | None, settings: FeatureSettings,
           generator: torch.Generator) -> None:
    """Fit ``module`` with Adam: cross-entropy on labels ``y``, or MSE reconstruction when y is None."""
    optimiser = torch.optim.Adam(module.parameters(), lr=settings.lr)
    module.train()
    for _ in range(settings.epochs):
        order = torch.randperm(x.shape[0], generator=generator)
        for start in range(0, x.shape[0], settings.batch_size):
            idx = order[start : start + settings.batch_size]
            out = module(x[idx])
            loss = F.mse_loss(out, x[idx]) if y is None else F.cross_entropy(out, y[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    module.eval()


def _evaluate(module: nn.Module, x: torch.Tensor, y: torch.Tensor | None, batch_size: int = 512) -> float:
    """Test accuracy (classifier) or mean squared reconstruction error (autoencoder, y None)."""
    total = 0.0
    with torch.inference_mode():
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size]
            out = module(xb)
            if y is None:
                total += float(F.mse_loss(out, xb, reduction="sum")) / xb[0].numel()
            else:
                total += float((out.argmax(dim=1) == y[start : start + batch_size]).sum())
    return total / x.shape[0]


def _load_cached(path: Path, settings: FeatureSettings) -> dict | None:
    """The cached payload at ``path`` if it exists and matches; None (with a warning if corrupt) otherwise."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(payload["meta"])
        if meta["format_version"] != FORMAT_VERSION or meta["settings"] != dataclasses.asdict(settings):
            raise ValueError("stale cache entry")
        return {"meta": meta, "state_dict": payload["state_dict"]}
    except Exception as exc:  # a corrupt or stale cache file is rebuilt, never trusted
        warnings.warn(f"ignoring unreadable feature-net cache file {path} ({exc}); retraining", stacklevel=3)
        return None


def _save_atomic(path: Path, payload: dict) -> None:
    """torch.save to a temporary file in the same folder, then rename it onto ``path``."""
    from gankit.checkpoint import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, lambda handle: torch.save(payload, handle))


def train_feature_net(
    images: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray | None = None,
    *,
    kind: str | None = None,
    seed: int = 0,
    epochs: int = 3,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
) -> FeatureNet:
    """Train (or load from the cache) a feature network on real images.

    Args:
        images: uint8 (N, C, H, W), values 0-255, the real (reference) images.
        labels: int64 (N,) class labels 0..K-1 (K >= 2), or None for an autoencoder.
        kind: ``lenet`` | ``resnet`` | ``ae``; default :func:`default_kind`.
        seed: seed of initialisation, split and batch order.
        epochs: training epochs.
        cache_dir: cache folder; default ``~/.cache/gankit/features``.
        use_cache: read and write the cache (False: always train, write nothing).

    Returns:
        The trained :class:`FeatureNet` with its held-out accuracy (classifiers)
        or reconstruction error (``ae``).
    """
    images = check_images(images)
    if labels is not None:
        labels = torch.as_tensor(labels)
        if labels.dtype != torch.int64 or labels.shape != (images.shape[0],):
            raise DataError(
                f"labels must be int64 of shape ({images.shape[0]},), got {labels.dtype} {tuple(labels.shape)}; "
                "pass one class index per image"
            )
        if int(labels.min()) < 0 or int(labels.unique().numel()) < 2:
            raise DataError("labels must be non-negative class indices with at least 2 classes; fix the labels")
    kind = kind or default_kind(images, labels)
    settings = FeatureSettings(kind=kind, seed=seed, epochs=epochs)
    if kind != "ae" and labels is None:
        raise DataError(f"a {kind} feature net is a classifier and needs labels; pass labels or use kind='ae'")
    if kind == "ae":
        labels = None  # the autoencoder ignores labels; keep them out of its key
    num_classes = int(labels.max()) + 1 if labels is not None else 0
    digest = _cache_key(images, labels, settings)
    path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = path / f"{kind}-{digest}.pt"

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = _build(kind, images.shape[1], num_classes)
    cached = _load_cached(path, settings) if use_cache else None
    if cached is not None:
        module.load_state_dict(cached["state_dict"])
        quality = cached["meta"]["quality"]
    else:
        generator = torch.Generator().manual_seed(seed)
        train_idx, test_idx = _split(images.shape[0], settings.test_fraction, generator)
        x = _preprocess(images, _INPUT_SIZE[kind])
        y = labels
        _train(module, x[train_idx], None if y is None else y[train_idx], settings, generator)
        quality = _evaluate(module, x[test_idx], None if y is None else y[test_idx])
        if use_cache:
            meta = {"format_version": FORMAT_VERSION, "settings": dataclasses.asdict(settings),
                    "quality": quality, "in_channels": int(images.shape[1]), "num_classes": num_classes}
            _save_atomic(path, {"meta": json.dumps(meta), "state_dict": module.state_dict()})
    return FeatureNet(
        module, kind=kind, digest=digest, in_channels=int(images.shape[1]),
        accuracy=None if kind == "ae" else quality,
        reconstruction_mse=quality if kind == "ae" else None,
    )
