"""§2-§3: at the equilibrium of the game p_g = p_data, D = 1/2 and V = -log 4.

A non-saturating GAN (§4 loss, the §3 double loop with k = 1) is trained on
a two-Gaussian mixture (means ±1.5, std 0.5). Every few iterations it
records, on fresh batches, V(D, G), the mean D(x) and D(G(z)), and
JSD(p_data ‖ p_g) with p_g a Gaussian KDE of 2,000 of G's samples
(metrics.toy.jsd_1d). The final numbers are averages over the
last fifth of the run: V -> -log 4, D(x) and D(G(z)) -> 1/2, and the JSD has
fallen to a small fraction of its value at initialisation.

The KDE's bandwidth biases the measured JSD upwards even for perfect samples
(measured on 2,000 exact samples of p_data: reported as ``jsd_floor``).
"""

from __future__ import annotations

import numpy as np
import torch

from gankit.data.toy import GaussianMixture
from gankit.losses import LOG4
from gankit.metrics.toy import jsd_1d
from gankit.nets.mlp import MLPDiscriminator, MLPGenerator
from gankit.objectives import build_objective
from gankit.theory.common import cosine_adam
from gankit.theory.registry import close, progress_bar, register, within

# quick / full: (iterations, hidden units, batch, evaluation every)
SIZES = {True: (2000, 64, 256, 200), False: (6000, 128, 256, 200)}
N_EVAL, JSD_GRID = 2000, 1001  # samples per evaluation, quadrature points of the JSD
Z_DIM = 4
TOL_V, TOL_D = 0.03, 0.03  # |V + log 4|, |mean D - 1/2| over the last fifth
MAX_JSD_RATIO = 0.2  # final JSD / initial JSD


@register("equilibrium", section="§2-§3",
          summary="a GAN trained on a 1-D mixture: V -> -log 4, D(x), D(G(z)) -> 1/2, JSD(p_data||p_g) falls")
def run(*, quick: bool, seed: int, progress: bool):
    iters, hidden, batch, every = SIZES[quick]
    dist = GaussianMixture("mix2", torch.tensor([[-1.5], [1.5]]), 0.5)
    rng = torch.Generator().manual_seed(seed + 1)
    G = MLPGenerator(Z_DIM, 1, hidden=hidden, layers=3)
    D = MLPDiscriminator(1, hidden=hidden, layers=3)
    objective = build_objective("ns-gan")
    # Adam, decayed to zero over the run so that the iterates settle at the fixed point.
    opt_g, sched_g = cosine_adam(G.parameters(), 1e-3, iters, betas=(0.5, 0.999))
    opt_d, sched_d = cosine_adam(D.parameters(), 1e-3, iters, betas=(0.5, 0.999))
    history: dict[str, list[float]] = {"iteration": [], "value": [], "d_real": [], "d_fake": [], "jsd": []}

    def evaluate(it: int) -> None:
        with torch.no_grad():
            real = dist.sample(N_EVAL, rng)
            fake = G(torch.randn(N_EVAL, Z_DIM, generator=rng))
            _, stats = objective.discriminator_loss(D, real, fake)
        history["iteration"].append(it)
        history["value"].append(float(stats["value"]))
        history["d_real"].append(float(stats["d_real"]))
        history["d_fake"].append(float(stats["d_fake"]))
        history["jsd"].append(jsd_1d(fake, dist, grid_points=JSD_GRID))

    with progress_bar(iters, "equilibrium", progress) as bar:
        evaluate(0)
        for it in range(1, iters + 1):
            # §3 inner step (k = 1): ascend V in D with G fixed.
            real = dist.sample(batch, rng)
            with torch.no_grad():
                fake = G(torch.randn(batch, Z_DIM, generator=rng))
            d_loss, _ = objective.discriminator_loss(D, real, fake)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            # §3 outer step, with the non-saturating loss of §4.
            g_loss, _ = objective.generator_loss(D, G(torch.randn(batch, Z_DIM, generator=rng)))
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            sched_d.step()
            sched_g.step()
            if it % every == 0:
                evaluate(it)
            bar.update()

    tail = slice(-max(len(history["iteration"]) // 5, 1), None)
    final = {k: float(np.mean(v[tail])) for k, v in history.items() if k != "iteration"}
    jsd_floor = jsd_1d(dist.sample(N_EVAL, rng), dist, grid_points=JSD_GRID)
    ratio = final["jsd"] / history["jsd"][0]
    last = "mean over the last fifth of the run, 2,000 fresh samples per evaluation"
    checks = [
        close("V(D, G) -> -log 4", measured=final["value"], exact=-LOG4, tolerance=TOL_V, note=last),
        close("mean D(x) -> 1/2", measured=final["d_real"], exact=0.5, tolerance=TOL_D, note=last),
        close("mean D(G(z)) -> 1/2", measured=final["d_fake"], exact=0.5, tolerance=TOL_D, note=last),
        within("JSD(p_data||p_g) final / initial", measured=ratio, lo=0.0, hi=MAX_JSD_RATIO, exact=0.0,
               note=f"initial {history['jsd'][0]:.3f}, final {final['jsd']:.4f} nats; KDE floor {jsd_floor:.4f}"),
    ]
    fig = plot(history, jsd_floor)
    return {"checks": checks, "final": final, "jsd_initial": history["jsd"][0], "jsd_floor": jsd_floor,
            "history": history, "iterations": iters, "hidden": hidden, "batch": batch}, fig


def plot(history: dict, jsd_floor: float):
    from gankit.theory.plotting import figure

    it = history["iteration"]
    fig, axes = figure(1, 3, title="§2-§3 equilibrium of a non-saturating GAN on a two-Gaussian mixture (±1.5, std 0.5)")
    ax = axes[0, 0]
    ax.plot(it, history["value"], label="V(D, G)")
    ax.axhline(-LOG4, color="k", ls="--", label="-log 4")
    ax.set_xlabel("iteration")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    ax.plot(it, history["d_real"], label="mean D(x)")
    ax.plot(it, history["d_fake"], label="mean D(G(z))")
    ax.axhline(0.5, color="k", ls="--", label="1/2")
    ax.set_xlabel("iteration")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax = axes[0, 2]
    ax.semilogy(it, history["jsd"], label="JSD(p_data || KDE of G)")
    ax.axhline(jsd_floor, color="0.5", ls=":", label="KDE floor (exact samples)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("nats")
    ax.legend(fontsize=8)
    return fig
