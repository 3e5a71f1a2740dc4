"""The training loop: k discriminator steps, then the generator (docs/theory.md §3).

:func:`train` is the whole loop in one function. It owns optimisation
(zero_grad, backward, step, requires_grad toggling, checkpoints, logging);
the objective (``gankit.objectives``) owns the mathematics.

    repeat until `iterations` generator steps are done:
        inner loop, d_steps_at(iteration) times, G fixed:
            a fresh real batch and fresh noise; descend D's loss; project D
        outer loop, g_steps times, D fixed:
            fresh noise; descend G's loss

Reproducibility: a seed fixes the run on CPU. Weight initialisation uses the
global torch RNG seeded with ``seed``; data, noise, gradient-penalty ε and
evaluation each draw from their own ``torch.Generator``, whose states go
into every checkpoint, so a resumed run continues exactly where it stopped.
On CUDA some kernels are nondeterministic, so runs there agree only
statistically.
"""

from __future__ import annotations

import math
import signal
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from gankit import __version__
from gankit.checkpoint import load_checkpoint, save_checkpoint
from gankit.config import Config, build_config
from gankit.data import build_data
from gankit.ema import EMA
from gankit.errors import ConfigError, RunError
from gankit.metrics.toy import toy_summary
from gankit.nets import build_networks
from gankit.objectives import build_objective
from gankit.report.stats import Stats
from gankit import runs


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    config: Config
    metrics: dict[str, Any]  #: the final metrics, as written to summary.json
    generator: nn.Module
    discriminator: nn.Module
    run_dir: Path | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  #: the metrics.jsonl records
    generator_ema: nn.Module | None = None  #: the moving average of G's weights, when ema_decay > 0


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("config key 'device': got 'cuda', but no CUDA device is available; use device=cpu or auto")
    return torch.device(name)


def _autocast(config: Config, device: torch.device):
    if config.precision == "bf16":
        if device.type == "cpu" and not torch.backends.mkldnn.is_available():
            raise ConfigError("config key 'precision': bf16 needs a CPU with bf16 support or CUDA; use precision=fp32")
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


class Noise:
    """Draws z ~ p(z) in place into one preallocated buffer (no allocation per step)."""

    def __init__(self, batch: int, z_dim: int, dist: str, generator: torch.Generator, device: torch.device):
        self.buffer = torch.empty(batch, z_dim, device=device)
        self.dist, self.generator = dist, generator

    def sample(self) -> torch.Tensor:
        if self.dist == "normal":
            return self.buffer.normal_(generator=self.generator)
        return self.buffer.uniform_(-1.0, 1.0, generator=self.generator)


def _seeds(seed: int, n: int) -> list[int]:
    """n independent 63-bit seeds derived from one (numpy's SeedSequence)."""
    return [int(s) >> 1 for s in np.random.SeedSequence(seed).generate_state(n, dtype=np.uint64)]


def build_optimizer(config: Config, params, lr: float, device: torch.device) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(config.beta1, config.beta2), fused=device.type == "cuda")
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.SGD(params, lr=lr)


@contextmanager
def _stop_on_signals() -> Iterator[dict[str, str | None]]:
    """Turn SIGINT/SIGTERM into a flag the loop checks between rounds."""
    flag: dict[str, str | None] = {"signal": None}

    def handler(signum, frame):
        flag["signal"] = signal.Signals(signum).name

    try:
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals stay as they are
        previous = {}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def train(
    config: Config,
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool | None = None,
    checkpoint_every: int = 0,
) -> TrainResult:
    """Train the GAN that ``config`` describes; write the run folder ``out`` if given.

    Args:
        config: the resolved configuration.
        out: the run folder (None: write nothing, keep the result in memory).
        overwrite: replace an existing run folder at ``out``.
        resume: continue the run in ``out`` from its checkpoint (``config``'s
            ``iterations`` may extend it; everything else comes from the checkpoint).
        progress: show a progress bar (None: only on a terminal).
        checkpoint_every: also checkpoint every N iterations (0: only at the end
            and on SIGINT/SIGTERM); must be a multiple of ``log_every``.
    """
    run_dir = runs.prepare_run_dir(Path(out), overwrite=overwrite, resume=resume) if out is not None else None
    state = None
    if resume:
        if run_dir is None:
            raise RunError("resume needs the run folder to continue (out=...)")
        state = load_checkpoint(run_dir / runs.CHECKPOINT_FILE)
        config = build_config({**state["config"], "iterations": config.iterations})
    if checkpoint_every and checkpoint_every % config.log_every:
        raise ConfigError(f"checkpoint_every={checkpoint_every} must be a multiple of log_every={config.log_every}")

    # --- build everything ------------------------------------------------------
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    data_seed, noise_seed, gp_seed, eval_seed = _seeds(config.seed, 4)
    rng = {name: torch.Generator(device).manual_seed(s)
           for name, s in (("data", data_seed), ("noise", noise_seed), ("gp", gp_seed))}
    data, source = build_data(config, rng["data"], device)
    G, D = build_networks(config, data.sample_shape)
    G, D = G.to(device), D.to(device)
    ema = EMA(G, config.ema_decay, config.ema_start) if config.ema_decay > 0 else None
    opt_g = build_optimizer(config, G.parameters(), config.lr_g, device)
    opt_d = build_optimizer(config, D.parameters(), config.lr_d, device)
    objective = build_objective(config.objective, clip=config.clip, lambda_gp=config.lambda_gp or 0.0,
                                one_sided=config.penalty == "one-sided", rng=rng["gp"])
    noise = Noise(config.batch_size, config.z_dim, config.z_dist, rng["noise"], device)
    autocast = _autocast(config, device)
    schedule = config.schedule
    # One fixed noise batch for every sample grid of the run.
    fixed_z = Noise(64, config.z_dim, config.z_dist, torch.Generator(device).manual_seed(eval_seed), device).sample().clone()

    iteration, history, elapsed_before = 0, [], 0.0
    if state is not None:
        G.load_state_dict(state["generator"])
        D.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        for name, g in rng.items():
            g.set_state(state["rng"][name])
        torch.set_rng_state(state["rng"]["torch"])
        if "train_points" in state:
            data.points = state["train_points"].to(device)
        iteration, elapsed_before = state["iteration"], state["train_seconds"]
        history = runs.truncate_metrics(run_dir, iteration)
    if run_dir is not None:
        from gankit.checkpoint import atomic_write_text

        atomic_write_text(run_dir / runs.CONFIG_FILE, config.to_toml())

    def checkpoint() -> None:
        if run_dir is None:
            return
        save_checkpoint(run_dir / runs.CHECKPOINT_FILE, {
            "gankit_version": __version__, "config": config.to_dict(), "iteration": iteration,
            "train_seconds": elapsed_before + time.perf_counter() - start,
            "generator": G.state_dict(), "discriminator": D.state_dict(),
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "rng": {**{name: g.get_state() for name, g in rng.items()}, "torch": torch.get_rng_state()},
            "sample_shape": list(data.sample_shape),
            **({"ema": ema.state_dict()} if ema is not None else {}),
            **({"train_points": data.points.cpu()} if getattr(data, "points", None) is not None else {}),
        })

    # --- the double loop (§3) ----------------------------------------------------
    from tqdm.auto import tqdm

    stats = Stats()
    start = time.perf_counter()
    next_log = (iteration // config.log_every + 1) * config.log_every
    bar = tqdm(total=config.iterations, initial=iteration, disable=False if progress else None if progress is None else True,
               desc=f"{config.objective} on {config.data}", unit="it", dynamic_ncols=True, leave=True)
    with _stop_on_signals() as interrupted:
        while iteration < config.iterations:
            # Inner loop: k discriminator steps, G fixed, fresh real and fake batches.
            for _ in range(schedule.d_steps_at(iteration)):
                real = data.sample(config.batch_size)
                with torch.no_grad(), autocast:
                    fake = G(noise.sample())
                with autocast:
                    d_loss, d_stats = objective.discriminator_loss(D, real, fake)
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
                objective.after_discriminator_step(D)  # e.g. clip weights to [-c, c]
                stats.add(d_stats)

            # Outer loop: generator steps, D fixed (no gradients into its weights).
            D.requires_grad_(False)
            for _ in range(min(schedule.g_steps, config.iterations - iteration)):
                with autocast:
                    g_loss, g_stats = objective.generator_loss(D, G(noise.sample()))
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_g.step()
                stats.add(g_stats)
                iteration += 1
                if ema is not None:
                    ema.update(G, iteration)
            D.requires_grad_(True)
            bar.update(iteration - bar.n)

            if iteration >= next_log or iteration == config.iterations:
                record = {"iteration": iteration, "wall_seconds": round(elapsed_before + time.perf_counter() - start, 3),
                          **stats.flush()}
                history.append(record)
                if run_dir is not None:
                    runs.append_metrics(run_dir, record)
                bar.set_postfix(d_loss=f"{record.get('d_loss', math.nan):.3f}", g_loss=f"{record.get('g_loss', math.nan):.3f}")
                next_log = (iteration // config.log_every + 1) * config.log_every
                if checkpoint_every and iteration % checkpoint_every == 0:
                    checkpoint()
            if run_dir is not None and config.sample_every and iteration % config.sample_every < schedule.g_steps:
                _save_grid(ema.module if ema is not None else G, fixed_z, run_dir / "grids" / f"{iteration:07d}.png")
            if interrupted["signal"]:
                bar.close()
                checkpoint()
                where = f"; checkpoint saved, continue with: gankit train --resume {run_dir}" if run_dir else ""
                raise RunError(f"stopped by {interrupted['signal']} at iteration {iteration}{where}")
    bar.close()
    train_seconds = elapsed_before + time.perf_counter() - start

    # --- final metrics and pictures -------------------------------------------------
    metrics: dict[str, Any] = {"iterations": iteration}
    if iteration > 0 or state is not None:
        checkpoint()
    sampler = ema.module if ema is not None else G  # the averaged generator samples, when there is one
    if config.iterations > 0 and config.kind == "toy":
        metrics.update(evaluate_toy(sampler, source, config, eval_seed, device))
    metrics["wall_seconds"] = round(train_seconds, 3)
    metrics["iterations_per_second"] = round(iteration / train_seconds, 2) if train_seconds > 0 else None
    if run_dir is not None:
        metrics["run_dir"] = str(run_dir)
        runs.write_json(run_dir / runs.SUMMARY_FILE, metrics)
        if config.iterations > 0:
            if config.kind == "toy":
                _write_toy_pictures(run_dir, sampler, D, source, config, eval_seed, device, objective.wasserstein)
            else:
                _save_grid(sampler, fixed_z, run_dir / "samples.png")
            from gankit.report.plots import plot_curves

            plot_curves(run_dir / "curves.png", history)
    return TrainResult(config, metrics, G, D, run_dir, history, ema.module if ema is not None else None)


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
def generate(G: nn.Module, n: int, config: Config, generator: torch.Generator, device: torch.device,
             batch: int = 2048) -> torch.Tensor:
    """n samples of G in eval mode, drawn in batches, shape (n, ...)."""
    out = []
    with eval_mode(G):
        for i in range(0, n, batch):
            noise = Noise(min(batch, n - i), config.z_dim, config.z_dist, generator, device)
            out.append(G(noise.sample()).float())
    return torch.cat(out)


def evaluate_toy(G: nn.Module, dist, config: Config, seed: int, device: torch.device) -> dict[str, Any]:
    """The toy metrics of ``gankit.metrics.toy`` on ``config.eval_samples`` fresh samples."""
    g = torch.Generator(device).manual_seed(seed)
    fake = generate(G, config.eval_samples, config, g, device).cpu()
    real = dist.sample(config.eval_samples, torch.Generator().manual_seed(seed)).cpu()
    return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in toy_summary(fake, real, dist).items()}


@torch.no_grad()
def _save_grid(G: nn.Module, z: torch.Tensor, path: Path) -> None:
    """A grid of G(z) for the fixed noise batch z, G in eval mode."""
    from gankit.report.grid import save_grid

    path.parent.mkdir(exist_ok=True)
    with eval_mode(G):
        save_grid(G(z).float().cpu(), path)


def _write_toy_pictures(run_dir, G, D, dist, config, seed, device, wasserstein) -> None:
    from gankit.report.plots import plot_toy_samples

    g = torch.Generator(device).manual_seed(seed)
    fake = generate(G, 2500, config, g, device)
    real = dist.sample(2500, torch.Generator().manual_seed(seed))
    title = f"{config.objective} on {config.data}, {config.iterations} iterations, seed {config.seed}"
    plot_toy_samples(run_dir / "samples.png", real=real, fake=fake, critic=D, wasserstein=wasserstein,
                     log_prob=dist.log_prob, title=title)
