"""Reference generators and discriminators (docs/theory.md §1, §5, §6)."""

from __future__ import annotations

from torch import nn

from gankit.lipschitz import add_spectral_norm
from gankit.nets.mlp import MLPDiscriminator, MLPGenerator


def build_toy_networks(config, data_dim: int) -> tuple[nn.Module, nn.Module]:
    """The MLP generator and discriminator that ``config`` describes."""
    G = MLPGenerator(config.z_dim, data_dim, hidden=config.g_hidden, layers=config.g_layers,
                     activation=config.activation)
    D = MLPDiscriminator(data_dim, hidden=config.d_hidden, layers=config.d_layers, activation=config.activation)
    if config.spectral_norm:
        add_spectral_norm(D)
    return G, D
