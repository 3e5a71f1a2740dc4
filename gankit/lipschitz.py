"""Enforcing the critic's Lipschitz constraint (docs/theory.md §6).

Three tools, each independent of the training loop:

* :func:`clip_weights_` — WGAN weight clipping, applied after every critic step;
* :func:`gradient_penalty` — the WGAN-GP penalty on per-sample interpolates,
  two-sided (‖∇‖ - 1)² or one-sided max(0, ‖∇‖ - 1)²;
* :func:`add_spectral_norm` — spectral normalisation of every linear and
  convolutional layer.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn


@torch.no_grad()
def clip_weights_(module: nn.Module, clip: float) -> None:
    """Clamp every parameter of ``module`` to [-clip, clip] in place (§6, WGAN)."""
    if clip <= 0:
        raise ValueError(f"clip must be > 0, got {clip}")
    params = [p for p in module.parameters()]
    if params:
        torch._foreach_clamp_min_(params, -clip)
        torch._foreach_clamp_max_(params, clip)


def interpolate(real: Tensor, fake: Tensor, eps: Tensor) -> Tensor:
    """x̂ = ε·x + (1 - ε)·G(z), one ε per sample, for inputs of any rank (§6).

    real, fake: (N, ...) of the same shape; eps: (N,) in [0, 1].
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    if eps.shape != real.shape[:1]:
        raise ValueError(f"eps must have shape ({real.shape[0]},), got {tuple(eps.shape)}")
    # Under autocast G's output may be bf16 while real is fp32: interpolate in the wider type.
    dtype = torch.promote_types(real.dtype, fake.dtype)
    eps = eps.view(-1, *([1] * (real.dim() - 1))).to(dtype)
    return torch.lerp(fake.to(dtype), real.to(dtype), eps)  # fake + eps * (real - fake)


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    eps: Tensor | None = None,
    one_sided: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """The WGAN-GP penalty E_x̂[(‖∇_x̂ D(x̂)‖₂ - 1)²] (docs/theory.md §6).

    Args:
        critic: maps (N, ...) inputs to (N,) scores.
        real, fake: (N, ...) batches of the same shape; ``fake`` should be
            detached from the generator.
        eps: (N,) interpolation weights; drawn from U[0, 1] when None.
        one_sided: use max(0, ‖∇‖ - 1)² (penalise only norms above 1).
        generator: RNG for ``eps``.

    Returns:
        (penalty, grad_norms): the scalar penalty, *not* multiplied by λ, and
        the (N,) detached gradient norms. The norm is over all non-batch
        dimensions, and the gradient is built with ``create_graph=True`` so
        that the penalty itself is trained.
    """
    if eps is None:
        eps = torch.rand(real.shape[0], device=real.device, generator=generator)
    x_hat = interpolate(real.detach(), fake.detach(), eps).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    # The penalty's own arithmetic in fp32, whatever the autocast dtype.
    norms = grad.float().flatten(1).norm(2, dim=1)
    excess = norms - 1.0
    if one_sided:
        excess = excess.clamp(min=0.0)
    return excess.square().mean(), norms.detach()


def spectral_norm_layer(layer: nn.Module) -> nn.Module:
    """One Linear or Conv layer with its weight divided by its largest singular value (§6)."""
    return nn.utils.parametrizations.spectral_norm(layer)


def add_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectrally normalise every Linear and Conv layer of ``module`` in place (§6)."""
    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)):
            setattr(module, name, spectral_norm_layer(child))
        else:
            add_spectral_norm(child)
    return module
