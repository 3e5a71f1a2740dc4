"""Drawing noise and generated samples (docs/theory.md §1).

Shared by the training loop, evaluation and ``gankit sample``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


class Noise:
    """Draws z ~ p(z) in place into one preallocated buffer (no allocation per step).

    ``dist`` is ``normal`` (N(0, I)) or ``uniform`` (U[-1, 1]^z_dim).
    """

    def __init__(self, batch: int, z_dim: int, dist: str, generator: torch.Generator, device: torch.device):
        self.buffer = torch.empty(batch, z_dim, device=device)
        self.dist, self.generator = dist, generator

    def sample(self) -> torch.Tensor:
        """The buffer, refilled: (batch, z_dim). Clone it to keep a draw."""
        if self.dist == "normal":
            return self.buffer.normal_(generator=self.generator)
        return self.buffer.uniform_(-1.0, 1.0, generator=self.generator)


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in eval mode (batch norm uses its running statistics), restored after."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


@torch.no_grad()
def generate(G: nn.Module, n: int, config, generator: torch.Generator, device: torch.device,
             batch: int = 2048) -> torch.Tensor:
    """n samples of G in eval mode, drawn in batches of noise from ``generator``: (n, ...)."""
    out = []
    with eval_mode(G):
        for i in range(0, n, batch):
            noise = Noise(min(batch, n - i), config.z_dim, config.z_dist, generator, device)
            out.append(G(noise.sample()).float())
    return torch.cat(out)
