"""Tests for gankit.nets.dcgan, gankit.nets.resnet and gankit.ema."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.ema import EMA
from gankit.errors import ConfigError
from gankit.nets.dcgan import DCGANDiscriminator, DCGANGenerator, critic_norm
from gankit.nets.resnet import ResNetCritic, ResNetGenerator


def _count(module: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in module.modules())


def _is_spectral(module: nn.Module) -> bool:
    return nn.utils.parametrize.is_parametrized(module, "weight")


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("width", [8, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(size: int, width: int, channels: int) -> None:
    torch.manual_seed(0)
    g = DCGANGenerator(z_dim=16, image_size=size, channels=channels, width=width)
    d = DCGANDiscriminator(image_size=size, channels=channels, width=width)
    x = g(torch.randn(3, 16))
    assert x.shape == (3, channels, size, size)
    assert x.min() >= -1.0 and x.max() <= 1.0  # tanh output
    assert d(x).shape == (3,)


def test_dcgan_rejects_wrong_inputs() -> None:
    g = DCGANGenerator(z_dim=16, image_size=32, channels=3, width=8)
    with pytest.raises(AssertionError):
        g(torch.randn(2, 15))
    with pytest.raises(AssertionError):
        DCGANDiscriminator(32, 3, width=8)(torch.randn(2, 3, 28, 28))
    with pytest.raises(ConfigError, match="image_size must be one of \\(28, 32, 64\\), got 48"):
        DCGANGenerator(16, 48, 3)
    with pytest.raises(ConfigError, match="norm must be one of batch, layer, none, got 'group'"):
        DCGANDiscriminator(32, 3, norm="group")


def test_dcgan_init_is_normal_002() -> None:
    torch.manual_seed(0)
    g = DCGANGenerator(z_dim=100, image_size=64, channels=3, width=64)
    weight = g.net[0].weight  # 100 x 512 x 4 x 4 = 819,200 draws
    assert abs(weight.mean().item()) < 1e-3 and 0.0195 < weight.std().item() < 0.0205
    bn = g.net[1]
    assert torch.equal(bn.bias, torch.zeros_like(bn.bias)) and abs(bn.weight.mean().item() - 1) < 0.01


def test_critic_norm_choices() -> None:
    assert critic_norm(per_sample_penalty=True) == "layer"
    assert critic_norm(per_sample_penalty=False) == "batch"
    layer = DCGANDiscriminator(64, 3, width=8, norm="layer")
    assert _count(layer, nn.BatchNorm2d) == 0 and _count(layer, nn.GroupNorm) == 3
    none = DCGANDiscriminator(64, 3, width=8, norm="none")
    assert _count(none, nn.BatchNorm2d) == 0 and _count(none, nn.GroupNorm) == 0
    assert _count(DCGANDiscriminator(64, 3, width=8, norm="batch"), nn.BatchNorm2d) == 3


def test_layer_norm_critic_is_per_sample() -> None:
    """With no batch norm, D(x_i) does not depend on the other samples (docs/theory.md §6)."""
    torch.manual_seed(0)
    d = DCGANDiscriminator(32, 3, width=8, norm="layer").train()
    x = torch.randn(4, 3, 32, 32)
    alone = torch.cat([d(x[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(d(x), alone, rtol=1e-5, atol=1e-6)


def test_spectral_norm_applied_and_effective() -> None:
    torch.manual_seed(0)
    d = DCGANDiscriminator(32, 3, width=8, norm="none", spectral_norm=True).train()
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4 and all(_is_spectral(c) for c in convs)
    for _ in range(15):  # power iterations converge during forward passes
        d(torch.randn(2, 3, 32, 32))
    for conv in convs:
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, abs=0.05)
    assert not any(_is_spectral(m) for m in DCGANDiscriminator(32, 3, width=8).modules())


@pytest.mark.parametrize("width", [16, 32])
def test_resnet_shapes(width: int) -> None:
    torch.manual_seed(0)
    g = ResNetGenerator(z_dim=12, channels=3, width=width)
    d = ResNetCritic(channels=3, width=width)
    x = g(torch.randn(2, 12))
    assert x.shape == (2, 3, 32, 32) and x.abs().max() <= 1.0
    assert d(x).shape == (2,)
    assert _count(d, nn.BatchNorm2d) == 0 and _count(g, nn.BatchNorm2d) == 7


def test_resnet_critic_options() -> None:
    sn = ResNetCritic(channels=1, width=8, spectral_norm=True)
    layers = [m for m in sn.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 11 and all(_is_spectral(m) for m in layers)  # 4 blocks x 2 convs, 2 shortcut convs, 1 linear
    layer = ResNetCritic(channels=1, width=8, norm="layer")
    assert _count(layer, nn.BatchNorm2d) == 0 and _count(layer, nn.GroupNorm) == 7
    assert sn(torch.randn(2, 1, 32, 32)).shape == (2,)
    with pytest.raises(ConfigError, match="ResNet nets are for 32x32 images, got image_size=64"):
        ResNetGenerator(z_dim=8, image_size=64)


# --------------------------------------------------------------------------
# EMA


def _net(weight: float, bias: float) -> nn.Module:
    net = nn.Sequential(nn.Linear(1, 1), nn.BatchNorm1d(1))
    with torch.no_grad():
        net[0].weight.fill_(weight)
        net[0].bias.fill_(bias)
        net[1].running_mean.fill_(weight)
    return net


def test_ema_arithmetic_exact() -> None:
    net = _net(0.0, 2.0)
    ema = EMA(net, decay=0.75, start=0)
    assert not ema.module.training and not any(p.requires_grad for p in ema.module.parameters())
    with torch.no_grad():
        net[0].weight.fill_(4.0)
        net[0].bias.fill_(6.0)
        net[1].running_mean.fill_(4.0)
    ema.update(net, step=0)  # 0.75·0 + 0.25·4 = 1;  0.75·2 + 0.25·6 = 3
    assert ema.module[0].weight.item() == 1.0 and ema.module[0].bias.item() == 3.0
    with torch.no_grad():
        net[0].weight.fill_(8.0)
    ema.update(net, step=1)  # 0.75·1 + 0.25·8 = 2.75;  0.75·3 + 0.25·6 = 3.75
    assert ema.module[0].weight.item() == 2.75 and ema.module[0].bias.item() == 3.75
    assert ema.module[1].running_mean.item() == 4.0  # buffers copied, not averaged
    assert net[0].weight.item() == 8.0  # the live module is untouched


def test_ema_copies_before_start_and_round_trips() -> None:
    net = _net(1.0, 0.0)
    ema = EMA(net, decay=0.5, start=2)
    with torch.no_grad():
        net[0].weight.fill_(10.0)
    ema.update(net, step=1)  # before start: copy
    assert ema.module[0].weight.item() == 10.0
    with torch.no_grad():
        net[0].weight.fill_(20.0)
    ema.update(net, step=2)  # 0.5·10 + 0.5·20
    assert ema.module[0].weight.item() == 15.0
    other = EMA(_net(0.0, 0.0), decay=0.9)
    other.load_state_dict(ema.state_dict())
    assert other.decay == 0.5 and other.start == 2 and other.module[0].weight.item() == 15.0
    other.update(net, step=3)  # cached tensors still live after load: 0.5·15 + 0.5·20
    assert other.module[0].weight.item() == 17.5


def test_ema_warmup_ramps_the_decay() -> None:
    net = _net(0.0, 0.0)
    ema = EMA(net, decay=0.9, start=2, warmup=True)
    assert ema.decay_at(2) == 0.1  # (1 + 0) / (10 + 0)
    assert ema.decay_at(12) == 11 / 20  # t = 10
    assert ema.decay_at(3) == 2 / 11
    assert ema.decay_at(82) == 0.9 and ema.decay_at(1000) == 0.9  # (1 + 80)/(10 + 80) = 0.9
    with torch.no_grad():
        net[0].weight.fill_(10.0)
    ema.update(net, step=2)  # 0.1·0 + 0.9·10
    assert ema.module[0].weight.item() == 9.0
