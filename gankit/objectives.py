"""Objectives: a D/G loss pair from ``gankit.losses`` plus its Lipschitz constraint.

The training loop never knows which objective it runs. It asks the objective
for the discriminator's loss on a real and a fake batch, for the generator's
loss on a fake batch, and calls :meth:`Objective.after_discriminator_step`
after every optimiser step of D (where WGAN clips its weights). Statistics
come back as detached 0-d tensors so the loop can average them without a
host-device synchronisation per step.

| name      | D loss                  | G loss           | constraint          | docs/theory.md |
|-----------|-------------------------|------------------|---------------------|----------------|
| gan       | BCE (real 1, fake 0)    | E log(1 - D(G))  | none                | §1, §3, §4     |
| ns-gan    | BCE                     | -E log D(G)      | none                | §4             |
| wgan      | -E D(x) + E D(G(z))     | -E D(G(z))       | weight clipping     | §5, §6         |
| wgan-gp   | -E D(x) + E D(G(z)) + λ GP | -E D(G(z))    | gradient penalty    | §5, §6         |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from gankit import losses
from gankit.lipschitz import clip_weights_, gradient_penalty

Stats = dict[str, Tensor]


class Objective:
    """Base class; see the module docstring for the contract."""

    # Subclasses define ``name`` (one of OBJECTIVE_NAMES) and ``wasserstein``:
    # True when D outputs unbounded critic scores, False for logits.
    wasserstein = False

    def discriminator_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> tuple[Tensor, Stats]:
        raise NotImplementedError

    def generator_loss(self, critic: nn.Module, fake: Tensor) -> tuple[Tensor, Stats]:
        raise NotImplementedError

    def after_discriminator_step(self, critic: nn.Module) -> None:
        """Project D back onto the constraint set; a no-op unless clipping."""

    #: Score real and fake batches in one forward pass of D. Only where D treats samples
    #: independently (no batch norm): then it is the same function, evaluated once.
    joint_forward = False

    def _scores(self, critic: nn.Module, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """(D(real), D(fake)) as float32 (N,) each."""
        if self.joint_forward:
            both = critic(torch.cat([real, fake.to(real.dtype)])).float()
            return both[: real.shape[0]], both[real.shape[0]:]
        return critic(real).float(), critic(fake).float()


@dataclass
class ClassicGAN(Objective):
    """The original game (§1) with the saturating or non-saturating G loss (§4)."""

    name: str
    generator_loss_fn: Callable[..., Tensor]

    def discriminator_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> tuple[Tensor, Stats]:
        real_logits, fake_logits = self._scores(critic, real, fake)
        loss = losses.gan_discriminator_loss(real_logits=real_logits, fake_logits=fake_logits)
        return loss, {
            "d_loss": loss.detach(),
            "d_real": torch.sigmoid(real_logits.detach()).mean(),  # mean D(x)
            "d_fake": torch.sigmoid(fake_logits.detach()).mean(),  # mean D(G(z))
            "value": -loss.detach(),  # V(D, G), §1
        }

    def generator_loss(self, critic: nn.Module, fake: Tensor) -> tuple[Tensor, Stats]:
        loss = self.generator_loss_fn(fake_logits=critic(fake).float())
        return loss, {"g_loss": loss.detach()}


@dataclass
class Wasserstein(Objective):
    """The Wasserstein critic (§5) under clipping or a gradient penalty (§6).

    clip: clamp every critic weight to [-clip, clip] after each step (None: off).
    lambda_gp: weight of the gradient penalty (0: off).
    one_sided: penalise max(0, ‖∇D‖ - 1)² instead of (‖∇D‖ - 1)².
    """

    name: str
    clip: float | None = None
    lambda_gp: float = 0.0
    one_sided: bool = False
    rng: torch.Generator | None = None
    wasserstein: bool = True
    #: (rank, ranks): ε is drawn for the global batch and this rank keeps its rows (gankit.distributed)
    shard: tuple[int, int] = (0, 1)

    def discriminator_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> tuple[Tensor, Stats]:
        real_scores, fake_scores = self._scores(critic, real, fake)
        loss = losses.wasserstein_critic_loss(real_scores=real_scores, fake_scores=fake_scores)
        stats: Stats = {
            "d_real": real_scores.detach().mean(),
            "d_fake": fake_scores.detach().mean(),
            "gap": -loss.detach(),  # E D(x) - E D(G(z)), the W1 estimate (§5)
        }
        if self.lambda_gp > 0:
            rank, ranks = self.shard
            n = real.shape[0]
            eps = torch.rand(n * ranks, device=real.device, generator=self.rng)[rank * n:(rank + 1) * n]
            penalty, norms = gradient_penalty(critic, real, fake, eps=eps, one_sided=self.one_sided)
            loss = loss + self.lambda_gp * penalty
            stats["gp"] = penalty.detach()
            stats["grad_norm"] = norms.mean()
        stats["d_loss"] = loss.detach()
        return loss, stats

    def generator_loss(self, critic: nn.Module, fake: Tensor) -> tuple[Tensor, Stats]:
        loss = losses.wasserstein_generator_loss(fake_scores=critic(fake).float())
        return loss, {"g_loss": loss.detach()}

    def after_discriminator_step(self, critic: nn.Module) -> None:
        if self.clip is not None:
            clip_weights_(critic, self.clip)


OBJECTIVE_NAMES = ("gan", "ns-gan", "wgan", "wgan-gp")


def build_objective(
    name: str,
    *,
    clip: float | None = None,
    lambda_gp: float = 0.0,
    one_sided: bool = False,
    rng: torch.Generator | None = None,
    shard: tuple[int, int] = (0, 1),
    joint_forward: bool = False,
) -> Objective:
    """The objective called ``name`` (one of :data:`OBJECTIVE_NAMES`).

    ``shard`` = (rank, ranks); ``joint_forward``: D has no batch norm, so real and
    fake batches may share one forward pass (see :attr:`Objective.joint_forward`).
    """
    if name == "gan":
        objective: Objective = ClassicGAN("gan", losses.minimax_generator_loss)
    elif name == "ns-gan":
        objective = ClassicGAN("ns-gan", losses.nonsaturating_generator_loss)
    elif name == "wgan":
        objective = Wasserstein("wgan", clip=clip, lambda_gp=0.0, rng=rng)
    elif name == "wgan-gp":
        objective = Wasserstein("wgan-gp", clip=None, lambda_gp=lambda_gp, one_sided=one_sided, rng=rng, shard=shard)
    else:
        raise ValueError(f"unknown objective {name!r}; expected one of {', '.join(OBJECTIVE_NAMES)}")
    objective.joint_forward = joint_forward
    return objective


def has_batch_norm(module: nn.Module) -> bool:
    """True when some layer of ``module`` normalises over the batch (its samples are coupled)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
