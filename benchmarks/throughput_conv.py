"""Conv GAN speed: gankit's loop on the 28×28 DCGAN against a plain tutorial loop, and GFLOP/s.

For each objective (ns-gan, wgan-gp; batch 64; ``digits`` images at 28×28),
in one process with repeats interleaved (plain, gankit fp32, gankit fast,
plain, ...) so that drifting machine load hits all alike, it reports the
median iterations/s (one iteration = one generator step and its k critic
steps) and median ratios against the plain loop:

* plain: the loop tutorials write — a Sigmoid at D's output and BCELoss
  (ns-gan), an ``autograd.grad`` penalty (wgan-gp), fresh ``torch.randn``
  every step, a ``.item()`` of every loss every step, fp32, NCHW. Like the
  tutorials, ns-gan reuses the D step's fake batch for the G step (one G
  forward less per iteration than the exact §3 loop, which draws fresh
  noise for G).
* gankit fp32: ``gankit.train.train`` with precision=fp32, channels_last=off.
* gankit fast: what ``gankit train --fast`` resolves to on this machine
  (precision=auto, channels_last=auto), and the other combinations.

Both sides use the same networks (gankit.nets.dcgan), optimiser, batch and
k; gankit runs with ema_decay=0 and sample_every=0 (the plain loop has no EMA
and no grids), and only its loop is timed (its own iterations_per_second).

It also reports the achieved GFLOP/s of gankit's training iteration (FLOPs
counted with torch.utils.flop_counter.FlopCounterMode over one iteration)
against a ceiling it measures itself: the net's largest conv (by FLOPs),
timed alone, forward + backward, in fp32 and bf16.

    OMP_NUM_THREADS=1 python benchmarks/throughput_conv.py --iterations 12 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from gankit.config import Config, build_config
from gankit.data import load_image_data
from gankit.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from gankit.train import train

SETTINGS = {  # name -> (precision, channels_last)
    "gankit fp32": ("fp32", "off"),
    "gankit fp32+NHWC": ("fp32", "on"),
    "gankit bf16": ("bf16", "off"),
    "gankit bf16+NHWC": ("bf16", "on"),
    "gankit --fast": ("auto", "auto"),
}


def make_config(objective: str, iterations: int, precision: str = "fp32", channels_last: str = "off") -> Config:
    return build_config(dict(objective=objective, data="digits", image_size=28, batch_size=64, iterations=iterations,
                             ema_decay=0.0, sample_every=0, log_every=max(1, iterations), device="cpu",
                             precision=precision, channels_last=channels_last, seed=0))


def gankit_its(config: Config) -> float:
    return train(config, progress=False).metrics["iterations_per_second"]


def plain_its(config: Config) -> float:
    """The tutorial loop on the same nets; iterations per second of its loop."""
    torch.manual_seed(config.seed)
    images = load_image_data(config).images.float().div(127.5).sub(1.0)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images), batch_size=config.batch_size,
                                         shuffle=True, drop_last=True)
    netG = DCGANGenerator(config.z_dim, 28, 1, width=config.width)
    netD = DCGANDiscriminator(28, 1, width=config.width, norm=config.d_norm)
    wgan = config.objective == "wgan-gp"
    if not wgan:
        netD = nn.Sequential(netD, nn.Sigmoid())
    optD = torch.optim.Adam(netD.parameters(), lr=config.lr_d, betas=(config.beta1, config.beta2))
    optG = torch.optim.Adam(netG.parameters(), lr=config.lr_g, betas=(config.beta1, config.beta2))
    criterion = nn.BCELoss()
    m, log = config.batch_size, []

    def batches():
        while True:
            for (x,) in loader:
                yield x

    data = batches()
    start = time.perf_counter()
    for _ in range(config.iterations):
        if not wgan:
            real = next(data)
            netD.zero_grad()
            err_real = criterion(netD(real).view(-1), torch.full((m,), 1.0))
            err_real.backward()
            fake = netG(torch.randn(m, config.z_dim))
            err_fake = criterion(netD(fake.detach()).view(-1), torch.full((m,), 0.0))
            err_fake.backward()
            optD.step()
            netG.zero_grad()
            err_g = criterion(netD(fake).view(-1), torch.full((m,), 1.0))  # the D step's fake, reused
            err_g.backward()
            optG.step()
            log.append((err_real.item() + err_fake.item(), err_g.item()))
        else:
            for _ in range(config.d_steps):
                real = next(data)
                netD.zero_grad()
                fake = netG(torch.randn(m, config.z_dim)).detach()
                alpha = torch.rand(m, 1, 1, 1)
                x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
                grad = torch.autograd.grad(netD(x_hat).sum(), x_hat, create_graph=True)[0]
                gp = ((grad.view(m, -1).norm(2, dim=1) - 1) ** 2).mean()
                err_d = netD(fake).mean() - netD(real).mean() + config.lambda_gp * gp
                err_d.backward()
                optD.step()
                log.append(err_d.item())
            netG.zero_grad()
            err_g = -netD(netG(torch.randn(m, config.z_dim))).mean()
            err_g.backward()
            optG.step()
            log.append(err_g.item())
    return config.iterations / (time.perf_counter() - start)


class _NoModuleTracker:
    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return None


class GlobalFlopCounter(FlopCounterMode):
    """FlopCounterMode counting totals only: its module tracker's backward hooks make
    ``autograd.grad(..., create_graph=True)`` (the gradient penalty) fail in torch 2.13."""

    def __init__(self) -> None:
        super().__init__(display=False)
        self.mod_tracker = _NoModuleTracker()


def flops_per_iteration(config: Config) -> float:
    """FLOPs of one gankit iteration (k critic steps + one generator step), by FlopCounterMode."""
    with GlobalFlopCounter() as counter:
        train(config.replace(iterations=1, log_every=1), progress=False)
    return float(counter.get_total_flops())


def largest_conv_ceiling(config: Config, repeats: int) -> dict:
    """GFLOP/s of the net's largest conv (by FLOPs) alone, forward + backward, fp32 and bf16."""
    G = DCGANGenerator(config.z_dim, 28, 1, width=config.width)
    D = DCGANDiscriminator(28, 1, width=config.width, norm=config.d_norm)
    inputs: dict[nn.Module, torch.Tensor] = {}

    def keep_input(mod, args, out) -> None:
        inputs.setdefault(mod, args[0].detach())

    hooks = [m.register_forward_hook(keep_input)
             for m in list(G.modules()) + list(D.modules()) if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        D(G(torch.randn(config.batch_size, config.z_dim)))
    for h in hooks:
        h.remove()

    def fwd_bwd(layer, x):
        x = x.clone().requires_grad_(True)
        layer(x).sum().backward()

    def count(layer, x):
        with GlobalFlopCounter() as c:
            fwd_bwd(layer, x)
        return float(c.get_total_flops())

    layer, x = max(inputs.items(), key=lambda kv: count(*kv))
    flops = count(layer, x)
    out = {"layer": f"{type(layer).__name__}({layer.in_channels}→{layer.out_channels}, input {tuple(x.shape)})",
           "mflop_fwd_bwd": round(flops / 1e6, 1)}
    for name, ctx in (("fp32", torch.autocast("cpu", enabled=False)), ("bf16", torch.autocast("cpu", dtype=torch.bfloat16))):
        with ctx:
            for _ in range(3):
                fwd_bwd(layer, x)
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                for _ in range(20):
                    fwd_bwd(layer, x)
                times.append((time.perf_counter() - t) / 20)
        out[f"gflops_{name}"] = round(flops / statistics.median(times) / 1e9, 2)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objectives", nargs="+", default=["ns-gan", "wgan-gp"])
    p.add_argument("--iterations", type=int, default=12, help="generator steps per timed run (wgan-gp: 5 critic steps each)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = p.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print(f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} thread(s), cpu capability {torch.backends.cpu.get_cpu_capability()}")
    results = {}
    for objective in args.objectives:
        iters = args.iterations if objective == "ns-gan" else max(2, args.iterations // 4)
        runs = {"plain": [], **{name: [] for name in args.settings}}
        gankit_its(make_config(objective, 2))  # warm-up: data load, oneDNN kernel selection
        plain_its(make_config(objective, 2))
        for _ in range(args.repeats):
            runs["plain"].append(plain_its(make_config(objective, iters)))
            for name in args.settings:
                runs[name].append(gankit_its(make_config(objective, iters, *SETTINGS[name])))
        med = {k: statistics.median(v) for k, v in runs.items()}
        flops = {name: flops_per_iteration(make_config(objective, 1, *SETTINGS[name])) for name in ("gankit fp32",)}
        resolved = train(make_config(objective, 0, "auto", "auto"), progress=False).metrics
        results[objective] = {"its": med, "ratio_vs_plain": {k: v / med["plain"] for k, v in med.items()},
                              "gflop_per_iteration": flops["gankit fp32"] / 1e9,
                              "fast_resolves_to": (resolved["precision"], resolved["channels_last"]),
                              "iterations_per_run": iters}
        print(f"\n## {objective} (DCGAN 28×28, batch 64, {iters} iterations per run, median of {args.repeats})")
        print(f"--fast resolves to precision={resolved['precision']} channels_last={resolved['channels_last']}")
        print("| loop | it/s | × plain | achieved GFLOP/s |\n|---|---|---|---|")
        for k, v in med.items():
            print(f"| {k} | {v:.2f} | {v / med['plain']:.2f} | {v * flops['gankit fp32'] / 1e9:.1f} |")
    ceiling = largest_conv_ceiling(make_config("wgan-gp", 1), args.repeats)
    results["ceiling"] = ceiling
    print(f"\nlargest conv {ceiling['layer']}: {ceiling['mflop_fwd_bwd']} MFLOP fwd+bwd; "
          f"ceiling {ceiling['gflops_fp32']} GFLOP/s fp32, {ceiling['gflops_bf16']} GFLOP/s bf16")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
