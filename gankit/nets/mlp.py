"""Multilayer perceptrons for low-dimensional data (docs/theory.md §1, §5).

The WGAN-GP toy networks were 3 hidden layers of 512 ReLU units; these are
configurable in width, depth and activation.
"""

from __future__ import annotations

from torch import Tensor, nn

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU}


def mlp(in_dim: int, out_dim: int, *, hidden: int, layers: int, activation: str) -> nn.Sequential:
    """``layers`` hidden layers of ``hidden`` units, then a linear output."""
    act = ACTIVATIONS[activation]
    modules: list[nn.Module] = []
    width = in_dim
    for _ in range(layers):
        modules += [nn.Linear(width, hidden), act()]
        width = hidden
    modules.append(nn.Linear(width, out_dim))
    return nn.Sequential(*modules)


class MLPGenerator(nn.Module):
    """G(z): (N, z_dim) noise -> (N, data_dim) points."""

    def __init__(self, z_dim: int, data_dim: int, *, hidden: int = 512, layers: int = 3, activation: str = "relu"):
        super().__init__()
        self.z_dim, self.data_dim = z_dim, data_dim
        self.net = mlp(z_dim, data_dim, hidden=hidden, layers=layers, activation=activation)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """D(x): (N, data_dim) points -> (N,) logits or critic scores."""

    def __init__(self, data_dim: int, *, hidden: int = 512, layers: int = 3, activation: str = "relu"):
        super().__init__()
        self.data_dim = data_dim
        self.net = mlp(data_dim, 1, hidden=hidden, layers=layers, activation=activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)
