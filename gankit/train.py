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

import copy
import random
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
from gankit.checkpoint import load_checkpoint
from gankit.config import Config, build_config
from gankit.data import build_data
from gankit import distributed
from gankit.ema import EMA
from gankit.errors import ConfigError, RunError
from gankit.guard import Guard, all_finite, grad_max
from gankit.evaluation import Evaluator, evaluate_toy
from gankit.nets import build_networks
from gankit.objectives import build_objective, has_batch_norm
from gankit.report.frames import Frames
from gankit.report.progress import Progress
from gankit.report.stats import Stats
from gankit.sampling import Noise, eval_mode, generate
from gankit.schedules import set_learning_rates
from gankit.report.tensorboard import check_logger, open_logger
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


def _autocast(precision: str, device: torch.device):
    if precision == "bf16":
        if device.type == "cpu" and not distributed.cpu_bf16_supported():
            raise ConfigError("config key 'precision': bf16 needs a CPU with bf16 support or CUDA; use precision=fp32")
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def crossed(every: int, before: int, after: int) -> bool:
    """True when a multiple of ``every`` (> 0) lies in (before, after]: the log lines need not fall on it
    (with g_steps > 1 they land on the first iteration at or past each multiple of log_every)."""
    return every > 0 and after // every > before // every


def _seeds(seed: int, n: int) -> list[int]:
    """n independent 63-bit seeds derived from one (numpy's SeedSequence)."""
    return [int(s) >> 1 for s in np.random.SeedSequence(seed).generate_state(n, dtype=np.uint64)]


def build_optimizer(config: Config, params, lr: float) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        # Fused Adam: one kernel for all parameters, on CUDA and on CPU (3.4× faster steps on the toy MLP).
        return torch.optim.Adam(params, lr=lr, betas=(config.beta1, config.beta2), fused=True)
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
    verbose: bool = False,
) -> TrainResult:
    """Train the GAN that ``config`` describes; write the run folder ``out`` if given.

    Args:
        config: the resolved configuration.
        out: the run folder (None: write nothing, keep the result in memory).
        overwrite: replace an existing run folder at ``out``.
        resume: continue the run in ``out`` from its checkpoint (``config``'s
            ``iterations`` may extend it; everything else comes from the checkpoint).
        progress: show a progress bar (None: only on a terminal).
        checkpoint_every: if not 0, replaces the config key ``checkpoint_every``
            (the older spelling of it).
        verbose: also print each metrics record as one line.
    """
    dist = distributed.setup(resolve_device(config.device))  # under torchrun: this process's rank; else rank 0 of 1
    check_logger(config.logger)  # an optional package is missing: refuse before any work
    if out is not None:  # refuse a bad run folder before any work; it is created once everything is built
        dist.call_on_main(lambda: runs.check_run_dir(Path(out), overwrite=overwrite, resume=resume))
    state = None
    if resume:
        if out is None:
            raise RunError("resume needs the run folder to continue (out=...)")
        state = dist.call_on_main(lambda: load_checkpoint(runs.resume_checkpoint(Path(out))))  # rank 0 reads it
        config = build_config({**state["config"], "iterations": config.iterations})
    if checkpoint_every:
        config = config.replace(checkpoint_every=checkpoint_every)

    # --- build everything ------------------------------------------------------
    device = dist.device
    precision, channels_last = distributed.fast_settings(config.precision, config.channels_last, config.net, device)
    torch.manual_seed(config.seed)
    random.seed(config.seed)  # gankit draws nothing from these two; seeded so that the seed fixes them too
    np.random.seed(config.seed % 2**32)
    data_seed, noise_seed, gp_seed, eval_seed = _seeds(config.seed, 4)
    rng = {name: torch.Generator(device).manual_seed(s)
           for name, s in (("data", data_seed), ("noise", noise_seed), ("gp", gp_seed))}
    data, source = build_data(config, rng["data"], device)
    G, D = build_networks(config, data.sample_shape)
    G, D = (distributed.to_memory_format(m.to(device), channels_last) for m in (G, D))
    dist.channels_last = channels_last  # dist.local(batch): this rank's rows, in the nets' memory format
    G_train = dist.wrap(G)  # DDP over several ranks; D is not wrapped (gradient penalty), see gankit.distributed
    ema = EMA(G, config.ema_decay, config.ema_start, warmup=True) if config.ema_decay > 0 else None
    opt_g = build_optimizer(config, G.parameters(), config.lr_g)
    opt_d = build_optimizer(config, D.parameters(), config.lr_d)
    objective = build_objective(config.objective, clip=config.clip, lambda_gp=config.lambda_gp or 0.0,
                                one_sided=config.penalty == "one-sided", rng=rng["gp"], shard=(dist.rank, dist.world_size),
                                joint_forward=not has_batch_norm(D))  # one D forward for real and fake
    noise = Noise(config.batch_size, config.z_dim, config.z_dist, rng["noise"], device)
    autocast = _autocast(precision, device)
    schedule = config.schedule
    # One fixed noise batch for every sample grid of the run.
    fixed_z = Noise(64, config.z_dim, config.z_dist, torch.Generator(device).manual_seed(eval_seed), device).sample().clone()
    stats = Stats()
    guard = Guard(config.objective)  # non-finite values and warning signs, at the logging cadence
    evaluator = Evaluator(config, source, device, eval_seed)  # eval_every; the best checkpoint
    run_dir = dist.call_on_main(lambda: runs.prepare_run_dir(Path(out), overwrite=overwrite, resume=resume)) \
        if out is not None else None

    def capture() -> dict[str, Any]:
        """Everything that determines the rest of the run (docs/reliability.md), by reference.

        Taken only between rounds, so the k-step cycle is at its start: the
        next step is the first discriminator step of a round (cycle_position 0).
        """
        return {
            "gankit_version": __version__, "config": config.to_dict(), "iteration": iteration, "cycle_position": 0,
            "train_seconds": elapsed_before + time.perf_counter() - start,
            "generator": G.state_dict(), "discriminator": D.state_dict(),
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "rng": {**{name: g.get_state() for name, g in rng.items()}, "torch": torch.get_rng_state(),
                    "python": random.getstate(), "numpy": _numpy_rng_state(),
                    **({"cuda": torch.cuda.get_rng_state_all()} if device.type == "cuda" else {})},
            "stats": stats.state_dict(), "guard": guard.state_dict(), "best_value": evaluator.best_value,
            "sample_shape": list(data.sample_shape),
            **({"ema": ema.state_dict()} if ema is not None else {}),
            **({"train_points": data.points.cpu()} if getattr(data, "points", None) is not None else {}),
        }

    def restore(state: dict[str, Any]) -> int:
        """Load what :func:`capture` took into every network, optimiser, RNG and accumulator; its iteration."""
        assert state.get("cycle_position", 0) == 0, "checkpoints are taken between rounds"
        G.load_state_dict(state["generator"])
        D.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        for name, g in rng.items():
            g.set_state(state["rng"][name])
        torch.set_rng_state(state["rng"]["torch"])
        if "python" in state["rng"]:  # checkpoints of gankit 0.1.0 before issue 6 lack these
            random.setstate(_as_tuple(state["rng"]["python"]))
            _set_numpy_rng_state(state["rng"]["numpy"])
        if "cuda" in state["rng"] and device.type == "cuda":
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        if "train_points" in state:
            data.points = state["train_points"].to(device)
        if "stats" in state:
            stats.load_state_dict(state["stats"], device)
            guard.load_state_dict(state["guard"])
        evaluator.best_value = state.get("best_value")
        return int(state["iteration"])

    def roll_back(good: dict[str, Any], problem: str, bad_iteration: int, history: list) -> tuple[int, list]:
        """on_nan=rollback: restore the last good state, learning rates × rollback_lr_factor.

        The RNG states come back too, so the same batches are replayed with smaller steps.
        Returns the restored iteration and the history truncated to it.
        """
        lrs = [g["lr"] for o in (opt_g, opt_d) for g in o.param_groups]
        seen = guard.state_dict()
        iteration = restore(copy.deepcopy(good))  # replaces the optimisers' param_groups: look them up after
        for group, lr in zip([g for o in (opt_g, opt_d) for g in o.param_groups], lrs):
            group["lr"] = lr * config.rollback_lr_factor
        guard.load_state_dict(seen)  # the guard remembers every rollback and warning
        guard.rollbacks += 1
        guard.warnings.append(f"iteration {bad_iteration}: non-finite {problem}; rolled back to iteration "
                              f"{iteration}, learning rates × {config.rollback_lr_factor} (rollback {guard.rollbacks})")
        if run_dir is not None:
            return iteration, runs.truncate_metrics(run_dir, iteration)
        return iteration, [r for r in history if r["iteration"] <= iteration]

    iteration, history, elapsed_before = 0, [], 0.0
    if state is not None:
        iteration, elapsed_before = restore(state), state["train_seconds"]
        history = dist.call_on_main(lambda: runs.truncate_metrics(run_dir, iteration))
    run_dir = run_dir if dist.is_main else None  # rank 0 alone writes the run folder
    if run_dir is not None:
        from gankit.checkpoint import atomic_write_text

        atomic_write_text(run_dir / runs.CONFIG_FILE, config.to_toml())

    def checkpoint() -> None:
        if run_dir is None:
            return
        if not all_finite(G, D):  # never replace a good checkpoint by non-finite weights
            raise RunError(f"iteration {iteration}: the weights are not finite, so they were not checkpointed; "
                           f"the last good checkpoint in {run_dir} is kept; lower lr_d and lr_g")
        runs.save_run_checkpoint(run_dir, capture(), keep=config.keep)

    # --- the double loop (§3) ----------------------------------------------------
    start = time.perf_counter()
    good = copy.deepcopy(capture()) if config.on_nan == "rollback" else None  # the state a rollback returns to
    next_log = (iteration // config.log_every + 1) * config.log_every
    bar = Progress(config.iterations, iteration, desc=f"{config.objective} on {config.data}", show=progress if dist.is_main else False,
                   verbose=verbose and dist.is_main)
    frames = Frames.for_run(config, run_dir, source, device, wasserstein=objective.wasserstein,
                            start_iteration=iteration, seed=eval_seed)  # None unless a 2-D toy run with frame_every
    with _stop_on_signals() as interrupted, open_logger(config.logger, run_dir, iteration) as logger:
        while iteration < config.iterations:
            set_learning_rates(((opt_d, config.lr_d), (opt_g, config.lr_g)), config, iteration, guard.rollbacks)  # lr_schedule
            # The guard checks gradients in the round before each log line only: a non-finite
            # gradient earlier makes the weights, and so the logged losses, non-finite too.
            check_gradients = iteration + schedule.g_steps >= min(next_log, config.iterations)
            # Inner loop: k discriminator steps, G fixed, fresh real and fake batches.
            for _ in range(schedule.d_steps_at(iteration)):
                real = dist.local(data.sample(config.batch_size))
                with torch.no_grad(), autocast:
                    fake = G_train(dist.local(noise.sample()))
                with autocast:
                    d_loss, d_stats = objective.discriminator_loss(D, real, fake)
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                dist.average_gradients(D)  # several ranks: one all-reduce of D's gradients (no-op for one)
                opt_d.step()
                objective.after_discriminator_step(D)  # e.g. clip weights to [-c, c]
                if check_gradients:
                    d_stats["d_grad_max"] = grad_max(D)  # no sync: read at the log line
                stats.add(d_stats)

            # Outer loop: generator steps, D fixed (no gradients into its weights).
            D.requires_grad_(False)
            for _ in range(min(schedule.g_steps, config.iterations - iteration)):
                with autocast:
                    g_loss, g_stats = objective.generator_loss(D, G_train(dist.local(noise.sample())))
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_g.step()
                if check_gradients:
                    g_stats["g_grad_max"] = grad_max(G)
                stats.add(g_stats)
                iteration += 1
                if ema is not None:
                    ema.update(G, iteration)
            D.requires_grad_(True)
            bar.update(iteration)

            if iteration >= next_log or iteration == config.iterations:
                last_logged = history[-1]["iteration"] if history else 0
                record = dist.mean_record({"iteration": iteration,  # statistics averaged over ranks
                                           "wall_seconds": round(elapsed_before + time.perf_counter() - start, 3),
                                           **stats.flush()})
                problem, warnings = guard.inspect(record)  # the same verdict on every rank (averaged record)
                if warnings:
                    record["warnings"] = warnings
                improved = False
                if problem is None and dist.is_main and crossed(config.eval_every, last_logged, iteration):
                    values, improved = evaluator(ema.module if ema is not None else G)  # eval_every
                    record.update(values)
                history.append(record)
                if run_dir is not None:
                    runs.append_metrics(run_dir, record)
                bar.log(record)
                logger.log(record, D, real, fake)  # tensorboard: scalars, histograms of D(real), D(fake)
                next_log = (iteration // config.log_every + 1) * config.log_every
                if problem is not None:
                    if good is None or guard.rollbacks >= config.rollback_tries:
                        raise RunError(_nan_message(problem, iteration, config, guard.rollbacks, run_dir))
                    iteration, history = roll_back(good, problem, iteration, history)  # on_nan=rollback
                    next_log = (iteration // config.log_every + 1) * config.log_every
                    continue
                if good is not None:
                    good = copy.deepcopy(capture())
                if improved and run_dir is not None:  # only once the guard found the record finite
                    runs.save_best(run_dir, capture())
                if crossed(config.checkpoint_every, last_logged, iteration):
                    checkpoint()
            if run_dir is not None and config.sample_every and iteration % config.sample_every < schedule.g_steps:
                grid = _save_grid(ema.module if ema is not None else G, fixed_z, run_dir / "grids" / f"{iteration:07d}.png")
                logger.image("samples", grid, iteration)
            if frames is not None:
                frames.maybe_save(iteration, ema.module if ema is not None else G, D, schedule.g_steps)
            interrupted["signal"] = dist.agree_stop(interrupted["signal"])  # all ranks stop at the same round
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
    if getattr(source, "skipped", 0):  # skip_corrupt: unreadable image files left out of the data
        metrics["images_skipped"] = source.skipped
    metrics["wall_seconds"] = round(train_seconds, 3)
    metrics["iterations_per_second"] = round(iteration / train_seconds, 2) if train_seconds > 0 else None
    metrics.update(precision=precision, channels_last=channels_last, processes=dist.world_size)  # as resolved
    metrics["warnings"] = guard.finish(metrics)  # docs/reliability.md
    if frames is not None:
        metrics.update(frames.finish(iteration, sampler, D))  # RUN/animation.gif; frames, seconds_per_frame
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


def _nan_message(problem: str, iteration: int, config: Config, rollbacks: int, run_dir: Path | None) -> str:
    """The one-line RunError of the divergence guard."""
    kept = f"; the last good checkpoint in {run_dir} is kept" if run_dir is not None else ""
    if config.on_nan == "stop":
        return (f"non-finite {problem} at iteration {iteration} (on_nan=stop){kept}; "
                f"lower lr_d and lr_g, or set on_nan=rollback")
    return (f"non-finite {problem} at iteration {iteration}, still after {rollbacks} rollbacks (learning rates "
            f"× {config.rollback_lr_factor ** rollbacks:g}){kept}; lower lr_d and lr_g or change the objective")


def _numpy_rng_state() -> dict[str, Any]:
    """NumPy's global RNG state with its key as a tensor (a checkpoint holds tensors, not arrays)."""
    state = np.random.get_state(legacy=False)
    return {**state, "state": {"key": torch.from_numpy(state["state"]["key"].astype(np.int64)),
                               "pos": int(state["state"]["pos"])}}


def _set_numpy_rng_state(state: dict[str, Any]) -> None:
    key = state["state"]["key"].numpy().astype(np.uint32)
    np.random.set_state({**state, "state": {"key": key, "pos": state["state"]["pos"]}})


def _as_tuple(value: Any) -> Any:
    """random.getstate() after a round trip through a checkpoint: nested tuples again."""
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


@torch.no_grad()
def _save_grid(G: nn.Module, z: torch.Tensor, path: Path) -> Path:
    """A grid of G(z) for the fixed noise batch z, G in eval mode; returns ``path``."""
    from gankit.report.grid import save_grid

    path.parent.mkdir(exist_ok=True)
    with eval_mode(G):
        return save_grid(G(z).float().cpu(), path)


def _write_toy_pictures(run_dir, G, D, dist, config, seed, device, wasserstein) -> None:
    from gankit.report.plots import plot_toy_samples

    g = torch.Generator(device).manual_seed(seed)
    fake = generate(G, 2500, config, g, device)
    real = dist.sample(2500, torch.Generator().manual_seed(seed))
    title = f"{config.objective} on {config.data}, {config.iterations} iterations, seed {config.seed}"
    plot_toy_samples(run_dir / "samples.png", real=real, fake=fake, critic=D, wasserstein=wasserstein,
                     log_prob=dist.log_prob, title=title)
