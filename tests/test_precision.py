"""Precision and memory format (gankit.distributed, docs/scaling.md): bf16 autocast, channels_last, auto."""

from __future__ import annotations

import pytest
import torch

from gankit import distributed
from gankit.config import build_config
from gankit.errors import ConfigError
from gankit.lipschitz import gradient_penalty
from gankit.nets.dcgan import DCGANDiscriminator
from gankit.train import train


def _critic_and_batches(seed: int = 0):
    torch.manual_seed(seed)
    D = DCGANDiscriminator(28, 1, width=8, norm="layer")
    real = torch.rand(16, 1, 28, 28) * 2 - 1
    fake = torch.rand(16, 1, 28, 28) * 2 - 1
    eps = torch.rand(16)
    return D, real, fake, eps


def test_bf16_penalty_matches_fp32_and_trains():
    """The penalty under bf16 autocast: fp32 norm arithmetic, a working double backward, close to fp32."""
    D, real, fake, eps = _critic_and_batches()
    penalty32, norms32 = gradient_penalty(D, real, fake, eps=eps)
    grads32 = torch.autograd.grad(penalty32, list(D.parameters()), materialize_grads=True)  # last bias: no input grad

    with torch.autocast("cpu", dtype=torch.bfloat16):
        penalty16, norms16 = gradient_penalty(D, real, fake.bfloat16(), eps=eps)  # G's output is bf16 under autocast
    assert penalty16.dtype == torch.float32 and norms16.dtype == torch.float32  # norm and penalty in fp32
    grads16 = torch.autograd.grad(penalty16, list(D.parameters()), materialize_grads=True)  # the double backward, through bf16 convs

    # bf16 keeps 8 bits of mantissa (relative step 2^-8 ≈ 0.4%); a few layers compound it to ~1-2%.
    torch.testing.assert_close(norms16, norms32, rtol=3e-2, atol=1e-3)
    torch.testing.assert_close(penalty16, penalty32, rtol=5e-2, atol=1e-3)
    flat32 = torch.cat([g.flatten() for g in grads32])
    flat16 = torch.cat([g.float().flatten() for g in grads16])
    assert torch.isfinite(flat16).all()
    cosine = torch.nn.functional.cosine_similarity(flat32, flat16, dim=0)
    assert cosine > 0.99, cosine
    assert (flat16.norm() / flat32.norm()).item() == pytest.approx(1.0, abs=0.05)


def test_penalty_is_the_same_in_channels_last():
    D, real, fake, eps = _critic_and_batches(1)
    p_nchw, _ = gradient_penalty(D, real, fake, eps=eps)
    D_cl = D.to(memory_format=torch.channels_last)
    cl = lambda x: x.contiguous(memory_format=torch.channels_last)  # noqa: E731
    p_nhwc, _ = gradient_penalty(D_cl, cl(real), cl(fake), eps=eps)
    torch.testing.assert_close(p_nhwc, p_nchw, rtol=1e-4, atol=1e-6)


def test_fast_settings_resolution():
    cpu = torch.device("cpu")
    assert distributed.fast_settings("fp32", "off", "dcgan", cpu) == ("fp32", False)
    assert distributed.fast_settings("bf16", "on", "dcgan", cpu) == ("bf16", True)
    assert distributed.fast_settings("auto", "auto", "mlp", cpu) == ("fp32", False)  # toy MLPs stay fp32
    expected = "bf16" if distributed.cpu_bf16_supported() else "fp32"
    precision, cl = distributed.fast_settings("auto", "auto", "dcgan", cpu)
    assert precision == expected
    assert cl is True  # measured on CPU: NHWC helps fp32 and bf16 alike (docs/scaling.md)


def test_channels_last_only_for_conv_nets():
    with pytest.raises(ConfigError, match="channels_last"):
        build_config(dict(data="ring8", channels_last="on"))
    with pytest.raises(ConfigError, match="channels_last"):
        build_config(dict(data="ring8", channels_last="yes"))
    assert build_config(dict(data="ring8", channels_last="auto", precision="auto")).precision == "auto"


@pytest.mark.parametrize("objective", ["ns-gan", "wgan-gp"])
def test_fast_conv_training_runs(objective):
    """bf16 + channels_last through the whole loop: finite statistics, resolved settings reported."""
    torch.set_num_threads(1)
    config = build_config(dict(data="digits", image_size=28, width=8, objective=objective, iterations=2, d_steps=1,
                               batch_size=16, log_every=1, sample_every=0, ema_decay=0.0, device="cpu",
                               precision="bf16", channels_last="on"))
    result = train(config, progress=False)
    assert result.metrics["precision"] == "bf16" and result.metrics["channels_last"] is True
    assert result.discriminator.net[2].weight.is_contiguous(memory_format=torch.channels_last)
    for record in result.history:
        for key in ("d_loss", "g_loss"):
            assert torch.isfinite(torch.tensor(record[key])), (key, record)
