"""Iterations per second of gankit's loop against a plain hand-written PyTorch loop.

Both loops train the same networks (``gankit.nets.build_networks`` of the
objective's resolved preset on the toy data), with the same batch size,
k-step schedule, optimiser and objective, in the same process; repeats are
interleaved (gankit, plain, gankit, plain, ...) so that drifting machine load
hits both alike. The ratio printed is median(gankit it/s) / median(plain
it/s); > 1 means gankit is faster.

The plain loop is written the way tutorials write it: BCELoss on sigmoid
outputs for the classic GAN, a ``torch.autograd.grad`` gradient penalty for
WGAN-GP, ``optimizer.zero_grad()`` and a ``.item()`` of every loss every
step for logging, no ``requires_grad`` toggling. The presets' moving average
of G (``ema_decay``) is switched off for both, since the plain loop has none.

Only the training loop is timed: gankit's ``iterations_per_second`` is
measured over its loop alone (evaluation comes after it and is made trivial
with ``eval_samples=2``), and the plain loop is timed around its loop.

    python benchmarks/throughput.py --objectives ns-gan wgan-gp --iterations 300 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from gankit.config import Config
from gankit.data.toy import toy_distribution
from gankit.nets import build_networks
from gankit.train import train


def gankit_its(config: Config) -> float:
    """gankit's own measure: iterations / seconds spent in the double loop."""
    return train(config, progress=False).metrics["iterations_per_second"]


def plain_its(config: Config) -> float:
    """The same training written as a tutorial loop; iterations per second of the loop."""
    torch.manual_seed(config.seed)
    dist = toy_distribution(config.data)
    G, D = build_networks(config, (dist.dim,))
    betas = (config.beta1, config.beta2)
    if config.optimizer == "adam":
        opt_g = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=betas)
        opt_d = torch.optim.Adam(D.parameters(), lr=config.lr_d, betas=betas)
    elif config.optimizer == "rmsprop":
        opt_g = torch.optim.RMSprop(G.parameters(), lr=config.lr_g)
        opt_d = torch.optim.RMSprop(D.parameters(), lr=config.lr_d)
    else:
        raise ValueError(f"plain loop: optimizer {config.optimizer} not written")
    m, k, z_dim = config.batch_size, config.d_steps, config.z_dim
    wasserstein = config.objective in ("wgan", "wgan-gp")
    bce = nn.BCELoss()
    ones, zeros = torch.ones(m), torch.zeros(m)
    d_losses, g_losses = [], []

    start = time.perf_counter()
    for _ in range(config.iterations):
        for _ in range(k):
            real = dist.sample(m)
            fake = G(torch.randn(m, z_dim)).detach()
            opt_d.zero_grad()
            if wasserstein:
                loss_d = D(fake).mean() - D(real).mean()
                if config.objective == "wgan-gp":
                    alpha = torch.rand(m, 1)
                    interp = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
                    out = D(interp)
                    grad = torch.autograd.grad(out, interp, grad_outputs=torch.ones_like(out),
                                               create_graph=True, retain_graph=True)[0]
                    loss_d = loss_d + config.lambda_gp * ((grad.norm(2, dim=1) - 1) ** 2).mean()
            else:
                loss_d = bce(torch.sigmoid(D(real)), ones) + bce(torch.sigmoid(D(fake)), zeros)
            loss_d.backward()
            opt_d.step()
            if config.objective == "wgan":
                for p in D.parameters():
                    p.data.clamp_(-config.clip, config.clip)
            d_losses.append(loss_d.item())
        opt_g.zero_grad()
        fake = G(torch.randn(m, z_dim))
        if wasserstein:
            loss_g = -D(fake).mean()
        elif config.objective == "ns-gan":
            loss_g = bce(torch.sigmoid(D(fake)), ones)
        else:  # minimax: minimise log(1 - D(G(z))) = -BCE(D(G(z)), 0)
            loss_g = -bce(torch.sigmoid(D(fake)), zeros)
        loss_g.backward()
        opt_g.step()
        g_losses.append(loss_g.item())
    return config.iterations / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--objectives", nargs="+", default=["ns-gan", "wgan-gp"])
    p.add_argument("--data", default="ring8")
    p.add_argument("--iterations", type=int, default=300, help="iterations per timed run (default 300)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved repeats of each loop (default 5)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.iterations} iterations x "
          f"{args.repeats} interleaved repeats, data {args.data}\n")
    print("| objective | nets (G / D) | batch | k | gankit it/s | plain it/s | gankit / plain |")
    print("|---|---|---|---|---|---|---|")
    for objective in args.objectives:
        # ema_decay=0: the plain loop keeps no moving average, so neither does gankit here.
        config = Config(objective=objective, data=args.data, iterations=args.iterations, eval_samples=2,
                        ema_decay=0.0)
        warm = config.replace(iterations=max(1, args.iterations // 10))
        gankit_its(warm), plain_its(warm)  # warm-up: allocator, kernels, lazy imports
        ours, theirs = [], []
        for _ in range(args.repeats):
            ours.append(gankit_its(config))
            theirs.append(plain_its(config))
        ratio = statistics.median(o / t for o, t in zip(ours, theirs))
        nets = f"{config.g_hidden}×{config.g_layers} / {config.d_hidden}×{config.d_layers}"
        print(f"| {objective} | {nets} | {config.batch_size} | {config.d_steps} | {statistics.median(ours):.1f} "
              f"| {statistics.median(theirs):.1f} | {ratio:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
