"""DCGAN generator and discriminator / critic for 28×28, 32×32 and 64×64 images.

G_θ maps z (N, z_dim) to images (N, C, S, S) in [-1, 1] (tanh), the range the
data are scaled to (docs/theory.md §1). D_φ returns one unbounded number per
sample, shape (N,): a logit for the original GAN losses (docs/theory.md §1,
§4; the sigmoid lives in the loss) or a score for a Wasserstein critic
(docs/theory.md §5).

Normalisation in D is a choice, not a default buried in the model: a critic
trained with a gradient penalty must not use batch norm, because the penalty
is a per-sample quantity and batch norm couples the samples of a batch
(docs/theory.md §6). :func:`critic_norm` gives the right choice.

Weights are drawn from N(0, 0.02) as in the DCGAN paper (batch-norm scales
from N(1, 0.02), biases zero).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.lipschitz import spectral_norm_layer

IMAGE_SIZES = (28, 32, 64)
NORMS = ("batch", "layer", "none")


def critic_norm(per_sample_penalty: bool) -> str:
    """The normalisation D may use: 'layer' with a per-sample gradient penalty, else 'batch'.

    docs/theory.md §6: the penalty E[(‖∇D(x̂)‖ − 1)²] is per sample, and batch
    norm makes D(x̂_i) depend on the rest of the batch.
    """
    return "layer" if per_sample_penalty else "batch"


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A normalisation layer for a conv feature map with ``channels`` channels.

    'batch': BatchNorm2d; 'layer': layer norm over (C, H, W) of each sample
    (GroupNorm with one group, per-channel affine); 'none': identity.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"norm must be one of {', '.join(NORMS)}, got {kind!r}")


def maybe_spectral_norm(module: nn.Module, enabled: bool) -> nn.Module:
    """Wrap a conv / linear layer in spectral normalisation (docs/theory.md §6) if enabled."""
    return spectral_norm_layer(module) if enabled else module


def raw_weight(module: nn.Module) -> torch.Tensor:
    """The stored weight of a layer: under spectral norm, the un-normalised original."""
    if nn.utils.parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module.weight


def dcgan_init_(module: nn.Module) -> None:
    """DCGAN initialisation in place: conv / linear weights N(0, 0.02), norm scales N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(raw_weight(m), 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _check_size(image_size: int) -> tuple[int, int]:
    """(base, doublings): 28 = 7·2², 32 = 4·2³, 64 = 4·2⁴."""
    if image_size not in IMAGE_SIZES:
        raise ConfigError(f"DCGAN image_size must be one of {IMAGE_SIZES}, got {image_size!r}; "
                          f"resize the data with image_size")
    base = 7 if image_size == 28 else 4
    return base, int(math.log2(image_size // base))


class DCGANGenerator(nn.Module):
    """z (N, z_dim) -> images (N, channels, S, S) in [-1, 1].

    A transposed conv lifts z to a base×base map with width·2^(n−1) channels
    (base 7 for S = 28, else 4); n stride-2 transposed convs double the size
    while halving the channels; batch norm + ReLU between, tanh at the end.
    """

    def __init__(self, z_dim: int, image_size: int, channels: int, width: int = 64) -> None:
        super().__init__()
        base, n = _check_size(image_size)
        self.z_dim, self.image_size, self.channels = z_dim, image_size, channels
        layers: list[nn.Module] = []
        ch = width * 2 ** (n - 1)
        layers += [nn.ConvTranspose2d(z_dim, ch, base, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2),
                       nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Generate images from noise z (N, z_dim)."""
        assert z.dim() == 2 and z.shape[1] == self.z_dim, (tuple(z.shape), self.z_dim)
        x = self.net(z[:, :, None, None])
        assert x.shape == (z.shape[0], self.channels, self.image_size, self.image_size), tuple(x.shape)
        return x


class DCGANDiscriminator(nn.Module):
    """images (N, channels, S, S) -> one logit / score per sample, shape (N,).

    n stride-2 convs (4×4) halve the size and double the channels, LeakyReLU
    0.2 between, ``norm`` after every conv but the first; a final base×base
    conv gives one number. ``spectral_norm`` wraps every conv.
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        width: int = 64,
        norm: str = "batch",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        base, n = _check_size(image_size)
        norm_layer(norm, 1)  # validate early
        self.image_size, self.channels = image_size, channels
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = width
        for _ in range(n - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=norm == "none"), norm_layer(norm, ch * 2),
                       nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers.append(nn.Conv2d(ch, 1, base, 1, 0))
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)
        if spectral_norm:
            for i, layer in enumerate(self.net):
                if isinstance(layer, nn.Conv2d):
                    self.net[i] = maybe_spectral_norm(layer, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score images x (N, C, S, S); returns (N,)."""
        assert x.shape[1:] == (self.channels, self.image_size, self.image_size), tuple(x.shape)
        out = self.net(x).view(x.shape[0])
        return out
