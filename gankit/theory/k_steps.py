"""§3: k discriminator steps per generator step.

The §3 double loop on mog1d (non-saturating loss, MLPs, Adam), for
k in {1, 2, 5}, compared at two budgets:

* a fixed number of generator steps N_G (so k = 5 does 5x the D work);
* a fixed total compute of 3 N_G optimiser steps, D and G counted alike
  (so G gets 3 N_G / (k + 1) steps: 1.5 N_G, N_G and N_G / 2).

One run per k serves both budgets (it is measured when it reaches each).
Quality: W1 to the data (2,000 samples each) and the covered modes of
metrics.toy.mode_metrics; stability: the variance of the discriminator's
loss over the second half of the steps before the measurement. The theory
names k a hyperparameter (the original paper used k = 1) and makes no claim
about its best value; the checks are about the experiment's bookkeeping
(the schedule is exact) and the quality and stability numbers are reported.
"""

from __future__ import annotations

import numpy as np
import torch

from gankit.data.toy import toy_distribution
from gankit.metrics.toy import mode_metrics, wasserstein1
from gankit.nets.mlp import MLPDiscriminator, MLPGenerator
from gankit.objectives import build_objective
from gankit.theory.registry import close, progress_bar, register

KS = (1, 2, 5)
SIZES = {True: (400, 64), False: (2000, 64)}  # N_G generator steps, hidden units
Z_DIM, BATCH, N_EVAL = 4, 256, 2000


def train_k(dist, k: int, g_steps: int, measure_at: list[int], *, hidden: int, seed: int, bar) -> dict:
    """The §3 loop with k D steps per G step, measured after each G step in ``measure_at``."""
    torch.manual_seed(seed)  # the same initial nets for every k
    G = MLPGenerator(Z_DIM, 1, hidden=hidden, layers=3)
    D = MLPDiscriminator(1, hidden=hidden, layers=3)
    rng = torch.Generator().manual_seed(seed + 1)
    objective = build_objective("ns-gan")
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    real_eval = dist.sample(N_EVAL, rng)
    d_losses, points = [], {}
    d_steps = 0
    for g_step in range(1, g_steps + 1):
        for _ in range(k):
            with torch.no_grad():
                fake = G(torch.randn(BATCH, Z_DIM, generator=rng))
            loss, _ = objective.discriminator_loss(D, dist.sample(BATCH, rng), fake)
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
            d_losses.append(float(loss.detach()))
            d_steps += 1
        loss, _ = objective.generator_loss(D, G(torch.randn(BATCH, Z_DIM, generator=rng)))
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        bar.update(k + 1)
        if g_step in measure_at:
            with torch.no_grad():
                samples = G(torch.randn(N_EVAL, Z_DIM, generator=rng))
            window = d_losses[len(d_losses) // 2:]
            points[g_step] = {"g_steps": g_step, "d_steps": d_steps, "total_steps": d_steps + g_step,
                              "w1": wasserstein1(samples, real_eval), **mode_metrics(samples, dist),
                              "d_loss_var": float(np.var(window)), "d_loss_mean": float(np.mean(window))}
    return points


@register("k-steps", section="§3",
          summary="k = 1, 2, 5 discriminator steps per generator step at a fixed G budget and a fixed total compute")
def run(*, quick: bool, seed: int, progress: bool):
    n_g, hidden = SIZES[quick]
    total = 3 * n_g
    dist = toy_distribution("mog1d")
    with torch.no_grad():
        torch.manual_seed(seed)
        w1_init = wasserstein1(MLPGenerator(Z_DIM, 1, hidden=hidden, layers=3)(torch.randn(N_EVAL, Z_DIM)),
                               dist.sample(N_EVAL, torch.Generator().manual_seed(seed + 2)))
    plan = {k: sorted({n_g, total // (k + 1)}) for k in KS}
    work = sum(max(p) * (k + 1) for k, p in plan.items())
    fixed_g, fixed_total = {}, {}
    with progress_bar(work, "k-steps", progress) as bar:
        for k in KS:
            points = train_k(dist, k, max(plan[k]), plan[k], hidden=hidden, seed=seed, bar=bar)
            fixed_g[k], fixed_total[k] = points[n_g], points[total // (k + 1)]
    checks = []
    for k in KS:
        checks.append(close(f"k={k}: D steps = k x G steps", measured=fixed_g[k]["d_steps"], exact=k * n_g,
                            tolerance=0, note=f"at the fixed G budget of {n_g}"))
        checks.append(close(f"k={k}: D + G steps at the fixed total", measured=fixed_total[k]["total_steps"],
                            exact=total, tolerance=0))
    fig = plot(fixed_g, fixed_total, n_g, total)
    table = [{"k": k, "budget": label, **point} for k in KS
             for label, point in (("fixed G steps", fixed_g[k]), ("fixed total steps", fixed_total[k]))]
    return {"checks": checks, "table": table, "w1_init": w1_init, "g_budget": n_g, "total_budget": total}, fig


def plot(fixed_g, fixed_total, n_g, total):
    from gankit.theory.plotting import figure

    fig, axes = figure(1, 3, title=f"§3 k D steps per G step: {n_g} G steps, or {total} D+G steps")
    x = np.arange(len(KS))
    for offset, (label, pts) in zip((-0.2, 0.2), ((f"{n_g} G steps", fixed_g), (f"{total} total steps", fixed_total))):
        axes[0, 0].bar(x + offset, [pts[k]["w1"] for k in KS], width=0.4, label=label)
        axes[0, 1].bar(x + offset, [pts[k]["modes_covered"] for k in KS], width=0.4, label=label)
        axes[0, 2].bar(x + offset, [pts[k]["d_loss_var"] for k in KS], width=0.4, label=label)
    for ax, title in zip(axes[0], ("W1 to the data", "modes covered (of 3)", "variance of the D loss")):
        ax.set_xticks(x, [f"k={k}" for k in KS])
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    return fig
