"""Real data for the training loop: toy distributions and image datasets.

:func:`build_data` turns ``config.data`` into a stream with one method,
``sample(n)``, that returns a batch of n real samples on the device, and a
``sample_shape``. Both kinds draw only from the generator they are given, so
its state is the stream's position (saved in every checkpoint).
"""

from __future__ import annotations

import torch

from gankit.data.images import ImageData, load_images
from gankit.data.toy import ToyStream, toy_distribution
from gankit.errors import ConfigError


class ImageStream:
    """Batches of an in-memory uint8 dataset, scaled to [-1, 1] on the fly.

    Indices are drawn uniformly with replacement (no per-sample Python work,
    no epoch bookkeeping, and the generator state alone fixes the stream).
    """

    def __init__(self, images: ImageData, *, flip: bool, generator: torch.Generator, device: torch.device):
        self.images = images.to(device)
        self.flip, self.generator, self.device = flip, generator, device
        self.sample_shape = tuple(self.images.images.shape[1:])

    def sample(self, n: int) -> torch.Tensor:
        """n real images (n, C, H, W) in [-1, 1]."""
        idx = torch.randint(len(self.images), (n,), generator=self.generator, device=self.device)
        return self.images.batch(idx, self.flip, self.generator)


def load_image_data(config) -> ImageData:
    """The image dataset of ``config`` (resized / converted as configured)."""
    data = load_images(config.data, image_size=config.image_size or None, channels=config.channels or None,
                       skip_corrupt=config.skip_corrupt)
    size = data.images.shape[-1]
    if data.images.shape[-2] != size or size not in (28, 32, 64):
        raise ConfigError(
            f"config key 'image_size': {config.data} has {data.images.shape[-2]}×{size} images; "
            f"the conv nets take 28, 32 or 64: set image_size=28, 32 or 64"
        )
    if len(data) < config.batch_size:
        raise ConfigError(f"config key 'batch_size': {config.batch_size} is larger than the {len(data)} images "
                          f"of {config.data}; use batch_size <= {len(data)}")
    return data


def build_data(config, generator: torch.Generator, device: torch.device):
    """(stream, source): the real-data stream and the toy distribution or ImageData behind it."""
    if config.kind == "toy":
        dist = toy_distribution(config.data)
        stream = ToyStream(dist, n_train=config.n_train, generator=generator, device=device)
        stream.sample_shape = (dist.dim,)
        return stream, dist
    images = load_image_data(config)
    return ImageStream(images, flip=config.flip, generator=generator, device=device), images
