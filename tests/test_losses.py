"""Exact values and gradients of the loss pairs in gankit.losses (docs/theory.md §1, §4, §5).

Expected values are computed by hand with the math module, independently of
torch's softplus; every comparison is two-sided.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from gankit import losses

LOGITS = [-2.0, 0.0, 3.0]


def softplus(x: float) -> float:
    """log(1 + e^x), computed the textbook way (fine for |x| < 700)."""
    return math.log1p(math.exp(x))


def softplus_stable(x: float) -> float:
    """log(1 + e^x) = max(x, 0) + log(1 + e^-|x|), exact for any x."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def t(values, dtype=torch.float64, grad=False) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, requires_grad=grad)


# ---------------------------------------------------------------- values on fixed logits
def test_hand_softplus_is_what_we_think():
    # softplus(0) = log 2, softplus(-2) = log(1 + e^-2), softplus(3) = log(1 + e^3)
    assert softplus(0.0) == pytest.approx(math.log(2.0), rel=1e-15)
    assert softplus(3.0) == pytest.approx(3.0 + math.log1p(math.exp(-3.0)), rel=1e-15)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gan_discriminator_loss_fixed_logits(dtype):
    real, fake = [-2.0, 0.0, 3.0], [1.0, -1.0]
    # -(1/3) Σ log σ(r) - (1/2) Σ log(1 - σ(f)) = (1/3) Σ softplus(-r) + (1/2) Σ softplus(f)
    expected = sum(softplus(-r) for r in real) / 3 + sum(softplus(f) for f in fake) / 2
    got = losses.gan_discriminator_loss(real_logits=t(real, dtype), fake_logits=t(fake, dtype))
    assert got.dtype == dtype and got.shape == ()
    assert got.item() == pytest.approx(expected, rel=1e-6 if dtype == torch.float32 else 1e-12)
    # Also against the definition with probabilities (fine at these moderate logits).
    direct = (-sum(math.log(sigmoid(r)) for r in real) / 3
              - sum(math.log(1 - sigmoid(f)) for f in fake) / 2)
    assert got.item() == pytest.approx(direct, rel=1e-6 if dtype == torch.float32 else 1e-12)


def test_gan_discriminator_loss_is_asymmetric_in_real_and_fake():
    a = losses.gan_discriminator_loss(real_logits=t([3.0]), fake_logits=t([-2.0]))
    b = losses.gan_discriminator_loss(real_logits=t([-2.0]), fake_logits=t([3.0]))
    assert a.item() == pytest.approx(softplus(-3.0) + softplus(-2.0), rel=1e-12)
    assert b.item() == pytest.approx(softplus(2.0) + softplus(3.0), rel=1e-12)


def test_minimax_generator_loss_fixed_logits():
    # E log(1 - σ(s)) = -E softplus(s)
    expected = -sum(softplus(s) for s in LOGITS) / 3
    got = losses.minimax_generator_loss(fake_logits=t(LOGITS))
    assert got.item() == pytest.approx(expected, rel=1e-12)
    assert got.item() == pytest.approx(sum(math.log(1 - sigmoid(s)) for s in LOGITS) / 3, rel=1e-12)


def test_nonsaturating_generator_loss_fixed_logits():
    # -E log σ(s) = E softplus(-s)
    expected = sum(softplus(-s) for s in LOGITS) / 3
    got = losses.nonsaturating_generator_loss(fake_logits=t(LOGITS))
    assert got.item() == pytest.approx(expected, rel=1e-12)
    assert got.item() == pytest.approx(-sum(math.log(sigmoid(s)) for s in LOGITS) / 3, rel=1e-12)


def test_wasserstein_losses_fixed_scores():
    real, fake = [1.5, -0.5, 2.0, 1.0], [0.25, -3.0]
    critic = losses.wasserstein_critic_loss(real_scores=t(real), fake_scores=t(fake))
    # -E D(x) + E D(G(z)) = -(4/4) + (-2.75/2) = -1 - 1.375
    assert critic.item() == pytest.approx(-2.375, rel=1e-15)
    gen = losses.wasserstein_generator_loss(fake_scores=t(fake))
    assert gen.item() == pytest.approx(1.375, rel=1e-15)


def test_wasserstein_critic_loss_is_unbounded_without_constraint():
    # Scaling the scores scales the loss: no lower bound (docs/theory.md §5).
    real, fake = t([1.0, 2.0]), t([-1.0, 0.0])
    base = losses.wasserstein_critic_loss(real_scores=real, fake_scores=fake).item()
    scaled = losses.wasserstein_critic_loss(real_scores=1e6 * real, fake_scores=1e6 * fake).item()
    assert base == pytest.approx(-2.0, rel=1e-15)
    assert scaled == pytest.approx(-2e6, rel=1e-12)


# ---------------------------------------------------------------- extreme logits
EXTREME = [-1e4, -100.0, 100.0, 1e4]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_logits_stay_finite_and_exact(dtype):
    s = t(EXTREME, dtype)
    n = len(EXTREME)
    sp = [softplus_stable(v) for v in EXTREME]       # softplus(s)
    sp_neg = [softplus_stable(-v) for v in EXTREME]  # softplus(-s)
    # The naive log(sigmoid(.)) gives -inf at these logits; the losses must not.
    with torch.no_grad():
        naive = torch.log(torch.sigmoid(t(EXTREME, torch.float32)))
    assert torch.isinf(naive).any()

    d = losses.gan_discriminator_loss(real_logits=s, fake_logits=s)
    mm = losses.minimax_generator_loss(fake_logits=s)
    ns = losses.nonsaturating_generator_loss(fake_logits=s)
    rel = 1e-6 if dtype == torch.float32 else 1e-12
    for got in (d, mm, ns):
        assert torch.isfinite(got)
    assert d.item() == pytest.approx(sum(sp_neg) / n + sum(sp) / n, rel=rel)
    assert mm.item() == pytest.approx(-sum(sp) / n, rel=rel)
    assert ns.item() == pytest.approx(sum(sp_neg) / n, rel=rel)
    # (1e4 + 100) / 4 exactly, up to e^-100 terms
    assert ns.item() == pytest.approx((1e4 + 100.0) / 4, rel=rel)


@pytest.mark.parametrize("value, expected", [(100.0, 100.0), (1e4, 1e4), (-100.0, math.exp(-100.0)), (-1e4, 0.0)])
def test_single_extreme_logit(value, expected):
    got = losses.minimax_generator_loss(fake_logits=t([value]))
    assert got.item() == pytest.approx(-expected, rel=1e-12, abs=1e-300)
    got = losses.nonsaturating_generator_loss(fake_logits=t([-value]))
    assert got.item() == pytest.approx(expected, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("fn", [losses.minimax_generator_loss, losses.nonsaturating_generator_loss])
def test_extreme_logit_gradients_are_finite(fn):
    s = t(EXTREME, torch.float32, grad=True)
    fn(fake_logits=s).backward()
    assert torch.isfinite(s.grad).all()


# ---------------------------------------------------------------- saturation (§4)
GRAD_LOGITS = [-10.0, -2.0, 0.0, 3.0, 100.0]


def test_saturating_gradient_is_minus_sigmoid_over_n():
    s = t(GRAD_LOGITS, grad=True)
    losses.minimax_generator_loss(fake_logits=s).backward()
    n = len(GRAD_LOGITS)
    expected = t([-sigmoid(v) / n for v in GRAD_LOGITS])
    assert_close(s.grad, expected, rtol=1e-12, atol=0.0)


def test_nonsaturating_gradient_is_minus_one_minus_sigmoid_over_n():
    s = t(GRAD_LOGITS, grad=True)
    losses.nonsaturating_generator_loss(fake_logits=s).backward()
    n = len(GRAD_LOGITS)
    # 1 - σ(s) written as σ(-s), which stays exact where 1 - σ(s) would round to 0
    expected = t([-sigmoid(-v) / n for v in GRAD_LOGITS])
    assert_close(s.grad, expected, rtol=1e-12, atol=0.0)
    assert_close(s.grad[:4], t([-(1.0 - sigmoid(v)) / n for v in GRAD_LOGITS[:4]]), rtol=1e-9, atol=0.0)


def test_saturation_where_the_generator_is_worst():
    # D confidently rejects the fake (s = -10): saturating gradient ~ e^-10 / N,
    # non-saturating ~ 1 / N (docs/theory.md §4).
    s1, s2 = t([-10.0], grad=True), t([-10.0], grad=True)
    losses.minimax_generator_loss(fake_logits=s1).backward()
    losses.nonsaturating_generator_loss(fake_logits=s2).backward()
    assert s1.grad.item() == pytest.approx(-sigmoid(-10.0), rel=1e-12)
    assert s2.grad.item() == pytest.approx(-(1 - sigmoid(-10.0)), rel=1e-12)
    assert abs(s2.grad.item()) > 2e4 * abs(s1.grad.item())


def test_discriminator_loss_gradients():
    # d/dr softplus(-r)/N = -(1 - σ(r))/N ; d/df softplus(f)/M = σ(f)/M
    real, fake = t([-2.0, 0.0, 3.0], grad=True), t([1.0, -1.0], grad=True)
    losses.gan_discriminator_loss(real_logits=real, fake_logits=fake).backward()
    assert_close(real.grad, t([-(1 - sigmoid(v)) / 3 for v in [-2.0, 0.0, 3.0]]), rtol=1e-12, atol=0.0)
    assert_close(fake.grad, t([sigmoid(v) / 2 for v in [1.0, -1.0]]), rtol=1e-12, atol=0.0)


def test_wasserstein_gradients():
    real, fake = t([1.0, 2.0, 3.0, 4.0], grad=True), t([0.0, 1.0], grad=True)
    losses.wasserstein_critic_loss(real_scores=real, fake_scores=fake).backward()
    assert_close(real.grad, t([-0.25] * 4), rtol=0, atol=0)
    assert_close(fake.grad, t([0.5] * 2), rtol=0, atol=0)
    fake2 = t([0.0, 1.0], grad=True)
    losses.wasserstein_generator_loss(fake_scores=fake2).backward()
    assert_close(fake2.grad, t([-0.5] * 2), rtol=0, atol=0)


# ---------------------------------------------------------------- the game value (§1, §2)
@pytest.mark.parametrize("n", [1, 7, 256])
def test_game_value_at_d_one_half_is_minus_log_4(n):
    v = losses.game_value(real_logits=torch.zeros(n, dtype=torch.float64), fake_logits=torch.zeros(n, dtype=torch.float64))
    assert v.item() == pytest.approx(-math.log(4.0), rel=1e-15)
    assert losses.LOG4 == pytest.approx(math.log(4.0), rel=1e-15)


def test_game_value_on_fixed_logits():
    real, fake = [-2.0, 0.0, 3.0], [1.0, -1.0]
    expected = sum(math.log(sigmoid(r)) for r in real) / 3 + sum(math.log(1 - sigmoid(f)) for f in fake) / 2
    v = losses.game_value(real_logits=t(real), fake_logits=t(fake))
    assert v.item() == pytest.approx(expected, rel=1e-12)
    assert expected < -math.log(4.0) or expected > -math.log(4.0)  # not trivially -log 4


def test_game_value_is_maximised_at_d_star():
    # With p_data = p_g the best D is 1/2: any constant logit c gives
    # log σ(c) + log(1 - σ(c)) <= -log 4, with equality only at c = 0.
    for c in [-1.0, -0.1, 0.1, 2.0]:
        v = losses.game_value(real_logits=t([c, c]), fake_logits=t([c, c])).item()
        assert v == pytest.approx(math.log(sigmoid(c)) + math.log(1 - sigmoid(c)), rel=1e-12)
        assert v < -math.log(4.0)


# ---------------------------------------------------------------- shapes
@pytest.mark.parametrize("bad", [torch.zeros(3, 1), torch.zeros(()), torch.zeros(2, 3)])
def test_losses_reject_non_vector_inputs(bad):
    good = torch.zeros(3)
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        losses.gan_discriminator_loss(real_logits=bad, fake_logits=good)
    with pytest.raises(ValueError, match="fake_logits"):
        losses.gan_discriminator_loss(real_logits=good, fake_logits=bad)
    with pytest.raises(ValueError):
        losses.minimax_generator_loss(fake_logits=bad)
    with pytest.raises(ValueError):
        losses.nonsaturating_generator_loss(fake_logits=bad)
    with pytest.raises(ValueError):
        losses.wasserstein_critic_loss(real_scores=bad, fake_scores=good)
    with pytest.raises(ValueError):
        losses.wasserstein_generator_loss(fake_scores=bad)


def test_losses_take_keyword_arguments_only():
    with pytest.raises(TypeError):
        losses.gan_discriminator_loss(torch.zeros(2), torch.zeros(2))  # type: ignore[misc]
