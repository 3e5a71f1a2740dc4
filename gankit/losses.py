"""The GAN objectives as pure functions of discriminator outputs.

Every function takes the discriminator's raw outputs, never probabilities:

* ``*_logits`` are pre-sigmoid logits s, with D(x) = sigmoid(s) (docs/theory.md §1);
* ``*_scores`` are unbounded critic scores (docs/theory.md §5).

Shapes: every input is a 1-D tensor of shape (N,), one value per sample; every
loss is a scalar, the mean over the batch. Each loss is the quantity to
*minimise*, so the discriminator's ascent on V (§1, §3) appears as descent on
its negation. Log-probabilities are written with softplus, which is exact and
never overflows:

    log D(x)       = log sigmoid(s)      = -softplus(-s)
    log(1 - D(x))  = log sigmoid(-s)     = -softplus(s)

The functions come in discriminator / generator pairs; ``gankit.objectives``
(:func:`~gankit.objectives.build_objective`) pairs them with a Lipschitz constraint.
"""

from __future__ import annotations

import math

from torch import Tensor
from torch.nn.functional import softplus

LOG4 = math.log(4.0)


def _check(name: str, t: Tensor) -> None:
    if t.dim() != 1:
        raise ValueError(f"{name} must have shape (N,), got {tuple(t.shape)}")


def gan_discriminator_loss(*, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Binary cross-entropy with real = 1, fake = 0 (docs/theory.md §1).

    Returns -(1/N) Σ log D(x) - (1/M) Σ log(1 - D(G(z))) = -V estimate, so
    minimising it is maximum-likelihood training of D as a binary classifier.
    """
    _check("real_logits", real_logits)
    _check("fake_logits", fake_logits)
    # softplus(-s) = -log sigmoid(s);  softplus(s) = -log(1 - sigmoid(s))
    return softplus(-real_logits).mean() + softplus(fake_logits).mean()


def minimax_generator_loss(*, fake_logits: Tensor) -> Tensor:
    """The saturating ("minimax") generator loss E_z log(1 - D(G(z))) (§1, §4).

    Its gradient w.r.t. each logit s is -sigmoid(s)/N: vanishing where D
    confidently rejects the fakes (s -> -inf), which is the saturation of §4.
    """
    _check("fake_logits", fake_logits)
    return -softplus(fake_logits).mean()  # log(1 - sigmoid(s)) = -softplus(s)


def nonsaturating_generator_loss(*, fake_logits: Tensor) -> Tensor:
    """The non-saturating generator loss -E_z log D(G(z)) (docs/theory.md §4).

    Same fixed point as the minimax loss; gradient w.r.t. each logit is
    -(1 - sigmoid(s))/N, strongest exactly where the generator is worst.
    """
    _check("fake_logits", fake_logits)
    return softplus(-fake_logits).mean()  # -log sigmoid(s) = softplus(-s)


def wasserstein_critic_loss(*, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """The critic's loss -E D(x) + E D(G(z)) (docs/theory.md §5).

    Its negation, the critic gap E D(x) - E D(G(z)), estimates W1 when D is
    1-Lipschitz; without a constraint it is unbounded below.
    """
    _check("real_scores", real_scores)
    _check("fake_scores", fake_scores)
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(*, fake_scores: Tensor) -> Tensor:
    """The WGAN generator loss -E D(G(z)) (docs/theory.md §5)."""
    _check("fake_scores", fake_scores)
    return -fake_scores.mean()


def game_value(*, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Monte-Carlo estimate of V(D, G) = E log D(x) + E log(1 - D(G(z))) (§1).

    At the optimal discriminator this equals -log 4 + 2 JSD(p_data || p_g) (§2).
    """
    return -gan_discriminator_loss(real_logits=real_logits, fake_logits=fake_logits)
