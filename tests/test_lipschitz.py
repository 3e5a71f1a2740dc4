"""The Lipschitz tools of gankit.lipschitz (docs/theory.md §6), exactly.

For a linear critic D(x) = w·x + b the input gradient is w everywhere, so the
gradient penalty is (‖w‖ - 1)² exactly, for any input shape, and its gradient
with respect to w is 2(‖w‖ - 1) w / ‖w‖.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from gankit.config import Config
from gankit.lipschitz import add_spectral_norm, clip_weights_, gradient_penalty, interpolate
from gankit.objectives import Wasserstein, build_objective


class LinearCritic(nn.Module):
    """D(x) = w · flatten(x) + b, for inputs of any shape (N, ...)."""

    def __init__(self, w: torch.Tensor, b: float = 0.3):
        super().__init__()
        self.w = nn.Parameter(w.clone().double())
        self.b = nn.Parameter(torch.tensor(b, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w + self.b


def _w(numel: int, norm: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(numel, generator=g, dtype=torch.float64)
    return w * (norm / w.norm())


SHAPES = [(5, 3), (4, 3, 4, 4), (2, 1, 2, 3)]  # vectors (N, d) and images (N, C, H, W)


# ---------------------------------------------------------------- interpolation
def test_interpolate_one_eps_per_sample_on_images():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(3, 2, 4, 5, generator=g, dtype=torch.float64)
    fake = torch.randn(3, 2, 4, 5, generator=g, dtype=torch.float64)
    eps = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)
    x_hat = interpolate(real, fake, eps)
    assert x_hat.shape == real.shape
    assert_close(x_hat[0], fake[0], rtol=0, atol=0)          # ε = 0: the fake
    assert_close(x_hat[1], 0.25 * real[1] + 0.75 * fake[1], rtol=1e-14, atol=1e-15)
    assert_close(x_hat[2], real[2], rtol=0, atol=0)          # ε = 1: the real


def test_interpolate_vectors_and_float32():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    fake = torch.tensor([[0.0, 0.0], [-1.0, 1.0]])
    eps = torch.tensor([0.5, 0.75], dtype=torch.float64)  # cast to the data's dtype
    x_hat = interpolate(real, fake, eps)
    assert x_hat.dtype == torch.float32
    assert_close(x_hat, torch.tensor([[0.5, 1.0], [2.0, 3.25]]), rtol=0, atol=1e-7)


def test_interpolate_rejects_bad_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        interpolate(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2))
    with pytest.raises(ValueError, match="eps must have shape"):
        interpolate(torch.zeros(2, 1, 2, 2), torch.zeros(2, 1, 2, 2), torch.zeros(2, 1, 1, 1))
    with pytest.raises(ValueError, match="eps must have shape"):
        interpolate(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3))


# ---------------------------------------------------------------- gradient penalty
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("norm", [0.5, 1.0, 2.5])
def test_penalty_of_linear_critic_is_norm_minus_one_squared(shape, norm):
    numel = math.prod(shape[1:])
    critic = LinearCritic(_w(numel, norm))
    g = torch.Generator().manual_seed(2)
    real = torch.randn(*shape, generator=g, dtype=torch.float64)
    fake = torch.randn(*shape, generator=g, dtype=torch.float64)
    penalty, norms = gradient_penalty(critic, real, fake, generator=g)
    assert penalty.shape == () and norms.shape == (shape[0],)
    # The penalty's arithmetic is fp32 by design (lipschitz.py), hence rel 1e-6.
    assert penalty.item() == pytest.approx((norm - 1.0) ** 2, rel=1e-6, abs=1e-12)
    assert_close(norms.double(), torch.full((shape[0],), norm, dtype=torch.float64), rtol=1e-6, atol=0)
    assert not norms.requires_grad


@pytest.mark.parametrize("shape", SHAPES)
def test_one_sided_penalty(shape):
    numel = math.prod(shape[1:])
    real = torch.randn(*shape, dtype=torch.float64)
    fake = torch.randn(*shape, dtype=torch.float64)
    below = LinearCritic(_w(numel, 0.4))
    above = LinearCritic(_w(numel, 1.7))
    p_below, _ = gradient_penalty(below, real, fake, one_sided=True)
    p_above, _ = gradient_penalty(above, real, fake, one_sided=True)
    assert p_below.item() == 0.0
    assert p_above.item() == pytest.approx(0.7**2, rel=1e-6)
    # The two-sided penalty does penalise the small norm.
    p_two, _ = gradient_penalty(below, real, fake, one_sided=False)
    assert p_two.item() == pytest.approx(0.6**2, rel=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("norm", [0.5, 2.0])
def test_penalty_gradient_wrt_critic_weights(shape, norm):
    # create_graph=True: the penalty is differentiable in the critic's weights,
    # d/dw (‖w‖ - 1)² = 2 (‖w‖ - 1) w / ‖w‖.
    numel = math.prod(shape[1:])
    w = _w(numel, norm, seed=3)
    critic = LinearCritic(w)
    real = torch.randn(*shape, dtype=torch.float64)
    fake = torch.randn(*shape, dtype=torch.float64)
    penalty, _ = gradient_penalty(critic, real, fake)
    assert penalty.requires_grad
    penalty.backward()
    assert_close(critic.w.grad, 2 * (norm - 1.0) * w / norm, rtol=1e-6, atol=1e-12)
    assert critic.b.grad is None or critic.b.grad.abs().max().item() == 0.0


def test_one_sided_penalty_gradient():
    w = _w(6, 0.5)
    critic = LinearCritic(w)
    penalty, _ = gradient_penalty(critic, torch.randn(4, 6, dtype=torch.float64),
                                  torch.randn(4, 6, dtype=torch.float64), one_sided=True)
    penalty.backward()
    assert_close(critic.w.grad, torch.zeros(6, dtype=torch.float64), rtol=0, atol=0)
    critic = LinearCritic(_w(6, 3.0))
    penalty, _ = gradient_penalty(critic, torch.randn(4, 6, dtype=torch.float64),
                                  torch.randn(4, 6, dtype=torch.float64), one_sided=True)
    penalty.backward()
    assert_close(critic.w.grad, 2 * 2.0 * critic.w.detach() / 3.0, rtol=1e-6, atol=1e-12)


def test_penalty_uses_one_eps_per_sample_and_the_per_sample_norm():
    # D(x) = ½ ‖x‖² per sample: ∇D(x̂) = x̂, so the norms are ‖x̂_i‖ for the given ε,
    # taken over all of C, H, W.
    def critic(x):
        return 0.5 * x.flatten(1).square().sum(1)

    g = torch.Generator().manual_seed(4)
    real = torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64)
    fake = torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64)
    eps = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    penalty, norms = gradient_penalty(critic, real, fake, eps=eps)
    x_hat = torch.stack([e * r + (1 - e) * f for e, r, f in zip(eps, real, fake)])
    expected_norms = torch.stack([x.flatten().norm() for x in x_hat])
    assert_close(norms.double(), expected_norms, rtol=1e-6, atol=0)
    assert penalty.item() == pytest.approx(((expected_norms - 1) ** 2).mean().item(), rel=1e-6)


def test_penalty_random_eps_comes_from_the_generator():
    def critic(x):
        return 0.5 * x.flatten(1).square().sum(1)

    real, fake = torch.randn(8, 2, 2, 2, dtype=torch.float64), torch.randn(8, 2, 2, 2, dtype=torch.float64)
    a = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(7))[1]
    b = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(7))[1]
    c = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(8))[1]
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    eps = torch.rand(8, generator=torch.Generator().manual_seed(7))
    assert_close(a, gradient_penalty(critic, real, fake, eps=eps.double())[1], rtol=1e-6, atol=0)


def test_penalty_does_not_backprop_into_the_generator():
    gen_param = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    fake = gen_param * torch.ones(3, 4, dtype=torch.float64)
    critic = LinearCritic(_w(4, 2.0))
    penalty, _ = gradient_penalty(critic, torch.zeros(3, 4, dtype=torch.float64), fake)
    penalty.backward()
    assert gen_param.grad is None


def test_wgan_gp_objective_adds_lambda_times_penalty():
    w = _w(2, 3.0)
    critic = LinearCritic(w, b=0.0)
    real = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    fake = torch.tensor([[0.0, 0.0], [-1.0, 2.0]], dtype=torch.float64)
    obj = build_objective("wgan-gp", lambda_gp=10.0, rng=torch.Generator().manual_seed(0))
    loss, stats = obj.discriminator_loss(critic, real, fake)
    gap = (real @ w).mean() - (fake @ w).mean()
    assert stats["gap"].item() == pytest.approx(gap.item(), rel=1e-6)
    assert stats["gp"].item() == pytest.approx(4.0, rel=1e-6)  # (3 - 1)²
    assert stats["grad_norm"].item() == pytest.approx(3.0, rel=1e-6)
    assert loss.item() == pytest.approx(-gap.item() + 40.0, rel=1e-6)


# ---------------------------------------------------------------- weight clipping
def test_clip_weights_clamps_every_parameter_exactly():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.linspace(-1.0, 1.0, p.numel()).view_as(p))
    before = [p.detach().clone() for p in net.parameters()]
    clip_weights_(net, 0.25)
    for old, p in zip(before, net.parameters()):
        assert p.min().item() >= -0.25 and p.max().item() <= 0.25
        assert torch.equal(p.detach(), old.clamp(-0.25, 0.25))
        assert p.requires_grad  # still trainable parameters, modified in place
    assert any((old.abs() > 0.25).any() for old in before)  # the test did clip something


@pytest.mark.parametrize("clip", [0.0, -0.01])
def test_clip_weights_rejects_nonpositive_clip(clip):
    with pytest.raises(ValueError, match="clip"):
        clip_weights_(nn.Linear(2, 2), clip)


def test_clip_weights_on_module_without_parameters_is_a_no_op():
    clip_weights_(nn.ReLU(), 0.01)


def test_wgan_objective_clips_and_others_do_not():
    net = nn.Linear(3, 1)
    with torch.no_grad():
        net.weight.fill_(0.5)
    build_objective("wgan-gp", lambda_gp=10.0).after_discriminator_step(net)
    build_objective("gan").after_discriminator_step(net)
    assert net.weight.max().item() == 0.5
    build_objective("wgan", clip=0.01).after_discriminator_step(net)
    assert net.weight.max().item() == pytest.approx(0.01, rel=1e-6)


def test_every_critic_step_of_a_wgan_run_ends_clipped(monkeypatch, tiny):
    from gankit.train import train

    cfg = Config(objective="wgan", clip=0.02, d_steps=3, **tiny)
    calls = []
    original = Wasserstein.after_discriminator_step

    def checked(self, critic):
        original(self, critic)
        worst = max(p.detach().abs().max().item() for p in critic.parameters())
        calls.append(worst)

    monkeypatch.setattr(Wasserstein, "after_discriminator_step", checked)
    result = train(cfg, None, progress=False)
    assert len(calls) == 3 * 4  # d_steps x iterations (g_steps = 1)
    assert all(w <= 0.02 for w in calls)
    assert max(calls) == pytest.approx(0.02, rel=1e-6)  # the clamp is active, not vacuous
    for p in result.discriminator.parameters():
        assert p.min().item() >= -0.02 and p.max().item() <= 0.02


# ---------------------------------------------------------------- spectral norm
def _largest_singular_value(weight: torch.Tensor) -> float:
    return torch.linalg.matrix_norm(weight.detach().flatten(1).double(), ord=2).item()


def test_spectral_norm_normalises_every_linear_layer():
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Sequential(nn.Linear(32, 32), nn.ReLU()))
            self.head = nn.Linear(32, 1)

        def forward(self, x):
            return self.head(self.body(x)).squeeze(-1)

    net = Net()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Linear):
                m.weight.mul_(5.0)  # far from norm 1 before normalising
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 3
    assert all(_largest_singular_value(m.weight) > 2.0 for m in linears)
    assert add_spectral_norm(net) is net
    net.train()
    x = torch.randn(16, 2)
    for _ in range(10):
        net(x)
    for m in linears:
        assert hasattr(m, "parametrizations") and "weight" in m.parametrizations
        assert _largest_singular_value(m.weight) == pytest.approx(1.0, abs=1e-3)
    # The normalised network is 1-Lipschitz up to ReLU: gradient norms <= 1.
    x = torch.randn(64, 2, requires_grad=True)
    (grad,) = torch.autograd.grad(net(x).sum(), x)
    assert grad.norm(dim=1).max().item() <= 1.0 + 1e-3


def test_spectral_norm_on_conv_layers():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.LeakyReLU(0.2), nn.Conv2d(8, 4, 3))
    add_spectral_norm(net).train()
    x = torch.randn(2, 3, 8, 8)
    for _ in range(10):
        net(x)
    for m in (net[0], net[2]):
        assert _largest_singular_value(m.weight) == pytest.approx(1.0, abs=1e-3)


def test_spectral_norm_on_the_mlp_discriminator():
    from gankit.nets.mlp import MLPDiscriminator

    torch.manual_seed(2)
    D = add_spectral_norm(MLPDiscriminator(2, hidden=16, layers=3, activation="relu"))
    linears = [m for m in D.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 4
    D.train()
    for _ in range(20):  # one power iteration per forward pass in train mode
        D(torch.randn(8, 2))
    for m in linears:
        assert _largest_singular_value(m.weight) == pytest.approx(1.0, abs=1e-2)


def test_spectral_norm_run_normalises_only_the_critic(tiny):
    from gankit.train import train

    cfg = Config(objective="wgan-gp", spectral_norm=True, **tiny)
    result = train(cfg, None, progress=False)
    d_linears = [m for m in result.discriminator.modules() if isinstance(m, nn.Linear)]
    assert len(d_linears) == cfg.d_layers + 1
    for m in d_linears:
        assert "weight" in m.parametrizations
        assert _largest_singular_value(m.weight) == pytest.approx(1.0, abs=1e-2)
    g_linears = [m for m in result.generator.modules() if isinstance(m, nn.Linear)]
    assert g_linears and not any(hasattr(m, "parametrizations") for m in g_linears)
