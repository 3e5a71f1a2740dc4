"""ResNet generator and critic for 32×32 images, of the WGAN-GP / SNGAN CIFAR kind.

G_θ: z (N, z_dim) -> linear to a 4×4 map -> three up-sampling residual blocks
(4 -> 8 -> 16 -> 32) -> batch norm, ReLU, 3×3 conv, tanh: images in [-1, 1]
(docs/theory.md §1).

D_φ: one "optimised" down-sampling block (32 -> 16), one down-sampling block
(16 -> 8), two plain blocks, ReLU, global average pooling, linear: one
logit / score per sample, shape (N,) (docs/theory.md §1, §5). No
normalisation by default, as the gradient penalty requires (docs/theory.md
§6); ``spectral_norm`` wraps every conv and the linear layer (SNGAN).

Weights: Xavier-uniform, biases zero.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.nets.dcgan import maybe_spectral_norm, norm_layer, raw_weight

IMAGE_SIZE = 32


def _xavier_init_(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every conv / linear layer, in place."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(raw_weight(m))
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class UpBlock(nn.Module):
    """Residual block doubling H and W: BN-ReLU-up-conv3-BN-ReLU-conv3, shortcut up-conv1."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(in_ch), nn.ReLU(), nn.Upsample(scale_factor=2),
            nn.Conv2d(in_ch, out_ch, 3, 1, 1), nn.BatchNorm2d(out_ch), nn.ReLU(),
            nn.Conv2d(out_ch, out_ch, 3, 1, 1),
        )
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(in_ch, out_ch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_ch, H, W) -> (N, out_ch, 2H, 2W)."""
        return self.residual(x) + self.shortcut(x)


class DownBlock(nn.Module):
    """Critic residual block: [norm-]ReLU-conv3-[norm-]ReLU-conv3[-avgpool], shortcut conv1[-avgpool].

    ``first`` makes it the "optimised" input block: no activation before the
    first conv and the shortcut pools before its 1×1 conv.
    """

    def __init__(self, in_ch: int, out_ch: int, *, down: bool, first: bool, norm: str, sn: bool) -> None:
        super().__init__()
        conv1 = maybe_spectral_norm(nn.Conv2d(in_ch, out_ch, 3, 1, 1), sn)
        conv2 = maybe_spectral_norm(nn.Conv2d(out_ch, out_ch, 3, 1, 1), sn)
        pool: list[nn.Module] = [nn.AvgPool2d(2)] if down else []
        pre: list[nn.Module] = [] if first else [norm_layer(norm, in_ch), nn.ReLU()]
        self.residual = nn.Sequential(*pre, conv1, norm_layer(norm, out_ch), nn.ReLU(), conv2, *pool)
        if in_ch == out_ch and not down:
            self.shortcut: nn.Module = nn.Identity()
        else:
            conv_sc = maybe_spectral_norm(nn.Conv2d(in_ch, out_ch, 1), sn)
            self.shortcut = nn.Sequential(*pool, conv_sc) if first else nn.Sequential(conv_sc, *pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_ch, H, W) -> (N, out_ch, H', W'), H' = H/2 if down else H."""
        return self.residual(x) + self.shortcut(x)


class ResNetGenerator(nn.Module):
    """z (N, z_dim) -> images (N, channels, 32, 32) in [-1, 1]; ``width`` channels throughout."""

    def __init__(self, z_dim: int, channels: int = 3, width: int = 128, image_size: int = IMAGE_SIZE) -> None:
        super().__init__()
        _check_size(image_size)
        self.z_dim, self.channels, self.width = z_dim, channels, width
        self.image_size = image_size
        self.linear = nn.Linear(z_dim, 4 * 4 * width)
        self.blocks = nn.Sequential(UpBlock(width, width), UpBlock(width, width), UpBlock(width, width))
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh())
        _xavier_init_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Generate images from noise z (N, z_dim)."""
        assert z.dim() == 2 and z.shape[1] == self.z_dim, (tuple(z.shape), self.z_dim)
        h = self.linear(z).view(z.shape[0], self.width, 4, 4)
        x = self.out(self.blocks(h))
        assert x.shape == (z.shape[0], self.channels, IMAGE_SIZE, IMAGE_SIZE), tuple(x.shape)
        return x


class ResNetCritic(nn.Module):
    """images (N, channels, 32, 32) -> one logit / score per sample, shape (N,).

    ``norm`` ('none', 'layer' or 'batch') goes inside the residual blocks;
    keep 'none' or 'layer' with a gradient penalty (docs/theory.md §6).
    """

    def __init__(
        self,
        channels: int = 3,
        width: int = 128,
        norm: str = "none",
        spectral_norm: bool = False,
        image_size: int = IMAGE_SIZE,
    ) -> None:
        super().__init__()
        _check_size(image_size)
        norm_layer(norm, 1)  # validate early
        self.channels, self.image_size = channels, image_size
        kw = dict(norm=norm, sn=spectral_norm)
        self.blocks = nn.Sequential(
            DownBlock(channels, width, down=True, first=True, **kw),
            DownBlock(width, width, down=True, first=False, **kw),
            DownBlock(width, width, down=False, first=False, **kw),
            DownBlock(width, width, down=False, first=False, **kw),
        )
        self.linear = maybe_spectral_norm(nn.Linear(width, 1), spectral_norm)
        _xavier_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score images x (N, C, 32, 32); returns (N,)."""
        assert x.shape[1:] == (self.channels, IMAGE_SIZE, IMAGE_SIZE), tuple(x.shape)
        h = torch.relu(self.blocks(x)).mean(dim=(2, 3))
        return self.linear(h).view(x.shape[0])


def _check_size(image_size: int) -> None:
    """The ResNet pair is built for 32×32 only."""
    if image_size != IMAGE_SIZE:
        raise ConfigError(f"the ResNet nets are for 32x32 images, got image_size={image_size}; "
                          f"use image_size 32 or the DCGAN nets")
