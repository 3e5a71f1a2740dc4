"""§6: what the two constraints do to the critic.

A critic is trained between ring8 (real) and N(0, 0.5² I) (fake) under weight
clipping (c = 0.01, RMSProp) and under the gradient penalty (λ = 10, Adam).
Then, on fresh interpolates x̂ = ε x + (1 - ε) y, the distribution of
‖∇D(x̂)‖: the penalised critic's concentrates near 1 (the penalty's target);
the clipped critic's is far below 1 and relatively much wider (its scale is
the unknown K of §6, so spreads are compared as coefficients of variation,
std / mean). And the clipped critic's weights: most sit at ±c, pushed
against the clip.
"""

from __future__ import annotations

import numpy as np
import torch

from gankit.data.toy import toy_distribution
from gankit.lipschitz import gradient_penalty
from gankit.theory.common import gaussian
from gankit.theory.registry import close, progress_bar, register, within
from gankit.theory.wasserstein_critic import CLIP, train_critic

SIZES = {True: (400, 64), False: (2000, 128)}  # critic steps, hidden units
N_INTERP = 4000
AT_CLIP = 0.99  # a weight is "at ±c" when |w| >= 0.99 c


def interpolate_norms(D, real, fake, rng) -> np.ndarray:
    _, norms = gradient_penalty(D, real, fake, generator=rng)
    return norms.numpy()


@register("lipschitz", section="§6",
          summary="‖∇D‖ on interpolates: near 1 under the gradient penalty, spread out under clipping; clipped weights sit at ±c")
def run(*, quick: bool, seed: int, progress: bool):
    steps, hidden = SIZES[quick]
    rng = torch.Generator().manual_seed(seed + 1)
    real_dist, fake_dist = toy_distribution("ring8"), gaussian("N(0,0.5²I)", [0.0, 0.0], 0.5)
    norms, weights = {}, {}
    with progress_bar(2 * steps, "lipschitz", progress) as bar:
        for kind in ("clip", "gp"):
            D, _ = train_critic(real_dist, fake_dist, kind, dim=2, steps=steps, hidden=hidden, every=steps,
                                rng=rng, bar=bar)
            norms[kind] = interpolate_norms(D, real_dist.sample(N_INTERP, rng), fake_dist.sample(N_INTERP, rng), rng)
            weights[kind] = torch.cat([p.detach().flatten() for p in D.parameters()]).numpy()
    stats = {k: {"mean": float(v.mean()), "median": float(np.median(v)), "std": float(v.std()),
                 "cv": float(v.std() / v.mean()), "q05": float(np.quantile(v, 0.05)),
                 "q95": float(np.quantile(v, 0.95))} for k, v in norms.items()}
    at_clip = float((np.abs(weights["clip"]) >= AT_CLIP * CLIP).mean())
    within_gp_band = float(((norms["gp"] > 0.8) & (norms["gp"] < 1.2)).mean())
    checks = [
        close("GP: median ‖∇D(x̂)‖", measured=stats["gp"]["median"], exact=1.0, tolerance=0.1),
        within("GP: fraction of ‖∇D(x̂)‖ in (0.8, 1.2)", measured=within_gp_band, lo=0.8, hi=1.0, exact=1.0),
        within("clip: median ‖∇D(x̂)‖", measured=stats["clip"]["median"], lo=0.0, hi=0.1,
               note=f"K-Lipschitz with an unknown K far below 1 (c = {CLIP})"),
        within("CV(‖∇D‖): GP / clip", measured=stats["gp"]["cv"] / stats["clip"]["cv"], lo=0.0, hi=0.5,
               note=f"GP {stats['gp']['cv']:.3f}, clip {stats['clip']['cv']:.3f}: the penalised one is tighter"),
        within("clip: fraction of parameters at ±c", measured=at_clip, lo=0.5, hi=1.0,
               note=f"|w| >= {AT_CLIP} c over all {weights['clip'].size} parameters"),
        close("clip: max |w| = c", measured=float(np.abs(weights["clip"]).max()), exact=CLIP, tolerance=1e-9,
              note="clipping is applied after every step"),
    ]
    fig = plot(norms, weights, at_clip)
    return {"checks": checks, "grad_norm": stats, "clip_fraction_at_c": at_clip,
            "gp_weight_abs_max": float(np.abs(weights["gp"]).max()), "steps": steps, "hidden": hidden}, fig


def plot(norms, weights, at_clip):
    from gankit.theory.plotting import figure

    fig, axes = figure(1, 4, width=3.6, title="§6 Lipschitz constraints: ‖∇D(x̂)‖ on interpolates and the weights")
    axes[0, 0].hist(norms["gp"], bins=60, color="tab:blue")
    axes[0, 0].axvline(1.0, color="k", ls="--")
    axes[0, 0].set_title("GP critic: ‖∇D(x̂)‖", fontsize=9)
    axes[0, 1].hist(norms["clip"], bins=60, color="tab:red")
    axes[0, 1].set_title("clipped critic: ‖∇D(x̂)‖", fontsize=9)
    axes[0, 2].hist(weights["clip"], bins=80, color="tab:red")
    axes[0, 2].set_title(f"clipped weights ({at_clip:.0%} at ±c)", fontsize=9)
    axes[0, 3].hist(weights["gp"], bins=80, color="tab:blue")
    axes[0, 3].set_title("GP critic weights", fontsize=9)
    for ax in axes[0]:
        ax.set_ylabel("count")
    return fig
