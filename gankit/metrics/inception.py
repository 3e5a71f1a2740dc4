"""The FID Inception-v3 feature network, in plain torch (docs/theory.md §7 (evaluation)).

This is the network of the TensorFlow FID code (Heusel et al. 2017), in the
PyTorch port used by pytorch-fid, so that ``fd_inception`` computed here is
the usual FID. It differs from the ImageNet Inception-v3 of torchvision in
three places, all kept here:

* every average pool inside the A, C and first E blocks excludes the zero
  padding from its mean (TensorFlow's behaviour: ``count_include_pad=False``);
* the pool branch of the last E block (``Mixed_7c``) is a 3x3 *max* pool;
* the classifier has 1008 outputs (unused for features).

Features are the 2048-d global average pool of ``Mixed_7c``. Input images
are scaled to [0, 1], resized to 299 x 299 bilinearly
(``align_corners=False``), then mapped to [-1, 1]; one-channel images are
repeated to three channels.

Weights: :func:`load_inception` reads the standard file
``pt_inception-2015-12-05-6726825d.pth`` (published with pytorch-fid) from a
path the user gives; nothing is downloaded. Module attribute names are
chosen so that ``state_dict()`` keys equal that file's keys
(``Conv2d_1a_3x3.conv.weight``, ``Mixed_5b.branch_pool.bn.running_var``,
``fc.bias``, ...). BatchNorm ``num_batches_tracked`` counters are optional in
the file (unused in eval mode).

How this was checked without the real weights (tests/test_features.py): the
list of state-dict keys and tensor shapes is rebuilt in the test from an
independent table of the reference architecture (torchvision's Inception3 with
``aux_logits=False, num_classes=1008`` and the pytorch-fid block patches) and
compared key by key; the parameter count is compared with torchvision's
published 27,161,264 for Inception-v3, minus its auxiliary classifier
(3,326,696) plus the 8 extra classes (16,392) = 23,850,960; a random
state dict is saved, reloaded through :func:`load_inception` and must give
identical (N, 2048) outputs; and damaged files must be refused. Numerical
agreement with the real pretrained network was NOT checked here (no weights
file is available offline): do that once with the real file before quoting
FID values against published ones.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import DataError

__all__ = ["FIDInceptionV3", "load_inception", "inception_features", "INCEPTION_WEIGHTS_NAME", "FEATURE_DIM"]

INCEPTION_WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
FEATURE_DIM = 2048
INPUT_SIZE = 299


class _ConvBN(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU; keys ``conv.weight`` and ``bn.*``."""

    def __init__(self, c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-1 average pool that ignores the zero padding (TensorFlow semantics)."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class _BlockA(nn.Module):
    """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1; out 224 + pool_features channels."""

    def __init__(self, c_in: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = _ConvBN(c_in, 64, 1)
        self.branch5x5_1 = _ConvBN(c_in, 48, 1)
        self.branch5x5_2 = _ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _ConvBN(c_in, 64, 1)
        self.branch3x3dbl_2 = _ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(96, 96, 3, padding=1)
        self.branch_pool = _ConvBN(c_in, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        d = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([a, b, c, d], dim=1)


class _BlockB(nn.Module):
    """35 -> 17 reduction: 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2; out 384 + 96 + c_in channels."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3 = _ConvBN(c_in, 384, 3, stride=2)
        self.branch3x3dbl_1 = _ConvBN(c_in, 64, 1)
        self.branch3x3dbl_2 = _ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([a, b, F.max_pool2d(x, kernel_size=3, stride=2)], dim=1)


class _BlockC(nn.Module):
    """17x17 block with factorised 7x7 convolutions of width c7; out 768 channels."""

    def __init__(self, c_in: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = _ConvBN(c_in, 192, 1)
        self.branch7x7_1 = _ConvBN(c_in, c7, 1)
        self.branch7x7_2 = _ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _ConvBN(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _ConvBN(c_in, c7, 1)
        self.branch7x7dbl_2 = _ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _ConvBN(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _ConvBN(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                      self.branch7x7dbl_4, self.branch7x7dbl_5):
            c = layer(c)
        d = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([a, b, c, d], dim=1)


class _BlockD(nn.Module):
    """17 -> 8 reduction: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2; out 320 + 192 + c_in channels."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3_1 = _ConvBN(c_in, 192, 1)
        self.branch3x3_2 = _ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _ConvBN(c_in, 192, 1)
        self.branch7x7x3_2 = _ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([a, b, F.max_pool2d(x, kernel_size=3, stride=2)], dim=1)


class _BlockE(nn.Module):
    """8x8 block with split 1x3 / 3x1 heads; out 2048 channels.

    ``pool`` is ``"avg"`` (padding-excluding average, Mixed_7b) or ``"max"``
    (Mixed_7c: the FID network's max pool in the last block).
    """

    def __init__(self, c_in: int, pool: str) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = _ConvBN(c_in, 320, 1)
        self.branch3x3_1 = _ConvBN(c_in, 384, 1)
        self.branch3x3_2a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _ConvBN(c_in, 448, 1)
        self.branch3x3dbl_2 = _ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _ConvBN(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch3x3_1(x)
        b = torch.cat([self.branch3x3_2a(b), self.branch3x3_2b(b)], dim=1)
        c = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        c = torch.cat([self.branch3x3dbl_3a(c), self.branch3x3dbl_3b(c)], dim=1)
        pooled = _tf_avg_pool(x) if self.pool == "avg" else F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([a, b, c, self.branch_pool(pooled)], dim=1)


class FIDInceptionV3(nn.Module):
    """FID Inception-v3: images (N, 3, H, W) in [0, 1] -> pool features (N, 2048).

    Built with random (He-normal) weights; load the real weights
    with :func:`load_inception`. ``fc`` (2048 -> 1008) is kept so the state
    dict matches the weights file; it is not used for features.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = _ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = _ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = _ConvBN(80, 192, 3)
        self.Mixed_5b = _BlockA(192, pool_features=32)
        self.Mixed_5c = _BlockA(256, pool_features=64)
        self.Mixed_5d = _BlockA(288, pool_features=64)
        self.Mixed_6a = _BlockB(288)
        self.Mixed_6b = _BlockC(768, c7=128)
        self.Mixed_6c = _BlockC(768, c7=160)
        self.Mixed_6d = _BlockC(768, c7=160)
        self.Mixed_6e = _BlockC(768, c7=192)
        self.Mixed_7a = _BlockD(768)
        self.Mixed_7b = _BlockE(1280, pool="avg")
        self.Mixed_7c = _BlockE(2048, pool="max")
        self.fc = nn.Linear(FEATURE_DIM, 1008)
        # Variance-preserving random init (He et al. 2015), so that a network
        # with random weights (tests, benchmarks) gives O(1) features; PyTorch's
        # default conv init shrinks activations ~1e-7-fold over 47 layers.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 3, H, W) float in [0, 1] -> (N, 2048) pool features."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected (N, 3, H, W) input, got {tuple(x.shape)}")
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = 2.0 * x - 1.0
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # N x 64 x 147 x 147
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # N x 64 x 73 x 73
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))  # N x 192 x 71 x 71
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # N x 192 x 35 x 35
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
                      self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b,
                      self.Mixed_7c):
            x = block(x)  # ... N x 2048 x 8 x 8
        return x.mean(dim=(2, 3))  # N x 2048


def _refuse(path: str, problem: str) -> DataError:
    """The one-line error for an unusable weights file."""
    return DataError(
        f"Inception weights {path!r}: {problem}; pass the unmodified {INCEPTION_WEIGHTS_NAME} "
        "(pytorch-fid release) via inception_weights"
    )


def load_inception(path: str | os.PathLike) -> FIDInceptionV3:
    """Build :class:`FIDInceptionV3` in eval mode with the weights of the file at ``path``.

    The file must be a plain state dict (str -> tensor) with exactly the keys
    and shapes of :class:`FIDInceptionV3` (``num_batches_tracked`` may be
    absent). Anything else raises :class:`~gankit.errors.DataError`: missing
    file, unreadable or non-state-dict file, missing or unexpected keys,
    wrong tensor shapes. Loaded with ``torch.load(weights_only=True)``.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise _refuse(path, "file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling/format failure is the same user mistake
        raise _refuse(path, f"not a readable torch state dict ({type(exc).__name__})") from None
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise _refuse(path, "not a state dict of named tensors")
    net = FIDInceptionV3()
    expected = net.state_dict()
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(state) - optional)
    unexpected = sorted(set(state) - set(expected))
    if missing:
        raise _refuse(path, f"{len(missing)} missing keys (first: {missing[0]})")
    if unexpected:
        raise _refuse(path, f"{len(unexpected)} unexpected keys (first: {unexpected[0]})")
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise _refuse(path, f"{key} has shape {tuple(value.shape)}, expected {tuple(expected[key].shape)}")
    merged = {**expected, **state}
    net.load_state_dict(merged, strict=True)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _to_unit_rgb(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W), C in {1, 3} -> float32 (N, 3, H, W) in [0, 1]."""
    x = images.float() / 255.0
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def inception_features(net: FIDInceptionV3, images_uint8: torch.Tensor | np.ndarray, *,
                       batch_size: int = 64) -> np.ndarray:
    """Pool features (N, 2048) float64 of uint8 images (N, C, H, W), C in {1, 3}, values 0-255."""
    images = torch.as_tensor(images_uint8)
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise DataError(
            f"Inception features need uint8 images (N, 1 or 3, H, W), got {images.dtype} {tuple(images.shape)}; "
            "convert to uint8 0-255 first"
        )
    out = np.empty((images.shape[0], FEATURE_DIM), dtype=np.float64)
    net.eval()
    with torch.inference_mode():
        for start in range(0, images.shape[0], batch_size):
            batch = _to_unit_rgb(images[start : start + batch_size])
            out[start : start + batch.shape[0]] = net(batch).double().numpy()
    return out
