"""Learning-rate schedules, as pure functions of the iteration number.

The factor is computed from ``iteration`` alone, so a resumed run sets the
same learning rates as an uninterrupted one without any scheduler state in
the checkpoint:

    constant:  factor(i) = 1
    linear:    factor(i) = final + (1 - final) · (N - min(i, N)) / N     (N = iterations)

so ``linear`` decays from 1 at i = 0 to ``final`` (``lr_final_fraction``) at
i = N. The loop sets ``lr = base_lr × rollback_lr_factor**rollbacks ×
factor(iteration)`` once per round, before the discriminator steps; the
rollback term keeps ``on_nan=rollback`` lowering the rates under a schedule
(the guard's rollback count is already in every checkpoint).
"""

from __future__ import annotations

from typing import Iterable

import torch

SCHEDULES = ("constant", "linear")


def lr_factor(schedule: str, iteration: int, iterations: int, final_fraction: float = 0.0) -> float:
    """The multiplier of the base learning rates at ``iteration`` of a run of ``iterations``."""
    if schedule == "constant" or iterations <= 0:
        return 1.0
    if schedule == "linear":  # exact at both ends: 1 at iteration 0, final_fraction from `iterations` on
        if iteration >= iterations:
            return float(final_fraction)
        return final_fraction + (1.0 - final_fraction) * (iterations - max(iteration, 0)) / iterations
    raise ValueError(f"unknown lr_schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")


def set_learning_rates(optimizers: Iterable[tuple[torch.optim.Optimizer, float]], config, iteration: int,
                       rollbacks: int = 0) -> None:
    """Set every param group of each (optimizer, base lr) pair for ``iteration``; a no-op for constant.

    A constant schedule leaves the optimisers alone (their lrs, rollbacks included,
    live in their state dicts as before).
    """
    if config.lr_schedule == "constant":
        return
    scale = lr_factor(config.lr_schedule, iteration, config.iterations, config.lr_final_fraction)
    scale *= config.rollback_lr_factor ** rollbacks
    for opt, base in optimizers:
        for group in opt.param_groups:
            group["lr"] = base * scale
