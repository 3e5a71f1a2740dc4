"""Reference generators and discriminators (docs/theory.md §1, §5, §6).

:func:`build_networks` picks them from the config: MLPs for toy data, DCGAN
or ResNet (32×32) conv nets for images.
"""

from __future__ import annotations

from torch import nn

from gankit.lipschitz import add_spectral_norm
from gankit.nets.mlp import MLPDiscriminator, MLPGenerator


def build_networks(config, sample_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    """(G, D) for samples of ``sample_shape``: (dim,) for toy data, (C, H, W) for images."""
    if config.net == "mlp":
        (dim,) = sample_shape
        G = MLPGenerator(config.z_dim, dim, hidden=config.g_hidden, layers=config.g_layers,
                         activation=config.activation)
        D = MLPDiscriminator(dim, hidden=config.d_hidden, layers=config.d_layers, activation=config.activation)
        if config.spectral_norm:
            add_spectral_norm(D)
        return G, D
    channels, size, _ = sample_shape
    if config.net == "dcgan":
        from gankit.nets.dcgan import DCGANDiscriminator, DCGANGenerator

        return (DCGANGenerator(config.z_dim, size, channels, width=config.width),
                DCGANDiscriminator(size, channels, width=config.width, norm=config.d_norm,
                                   spectral_norm=config.spectral_norm))
    from gankit.nets.resnet import ResNetCritic, ResNetGenerator

    return (ResNetGenerator(config.z_dim, channels, width=config.width),
            ResNetCritic(channels, width=config.width, norm=config.d_norm, spectral_norm=config.spectral_norm))
