"""§4: the saturating generator loss log(1 - D(G(z))) gives almost no gradient
early in training; the non-saturating -log D(G(z)) gives a strong one.

Setup (1-D, MLP G and D): the data are two Gaussians at 3 and 5 (std 0.3);
G at initialisation puts its mass near the origin, far from the data; D is
pre-trained against this frozen G until it rejects the fakes confidently,
D(G(z)) ≈ 0, the early-training regime of §4. At that point, on the same
nets and the same noise batch, the norm of the generator's parameter
gradient is measured under both losses. Then two copies of (G, D) are
trained from that point, identical except for the generator loss (§3 loop,
k = 1), recording the generator's gradient norm at every iteration, W1 to
the data every few iterations, and the first iteration at which W1 falls
below a threshold.

G is trained by plain SGD, where the step is the gradient, so a vanishing
gradient is a vanishing step (the original GAN used SGD with momentum). The
full run repeats the race with Adam for G: Adam divides each step by the
gradient's running RMS, which undoes most of the scale difference, so there
the saturating loss also trains (reported, not checked).

Also checked exactly: the derivative of each loss w.r.t. one logit s is
-σ(s)/N (saturating) and -(1 - σ(s))/N (non-saturating), by autograd.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from gankit.data.toy import GaussianMixture
from gankit.losses import gan_discriminator_loss, minimax_generator_loss, nonsaturating_generator_loss
from gankit.metrics.toy import wasserstein1
from gankit.nets.mlp import MLPDiscriminator, MLPGenerator
from gankit.theory.registry import close, progress_bar, register, within

# quick / full: (D pre-training steps, race iterations, W1 evaluation every)
SIZES = {True: (200, 400, 50), False: (200, 2000, 50)}
Z_DIM, HIDDEN, BATCH, N_EVAL = 2, 64, 256, 2000
SGD_LR, ADAM_LR = 0.01, 1e-3  # the generator's learning rate in the SGD and the Adam race
W1_THRESHOLD = 1.0  # "fixed quality": a quarter of W1 at initialisation (≈ 3.9)
MAX_GRAD_RATIO = 0.1  # saturating / non-saturating gradient norm at the early-training point
LOSSES = {"saturating": minimax_generator_loss, "non-saturating": nonsaturating_generator_loss}


def grad_norm(loss: torch.Tensor, module: torch.nn.Module) -> float:
    """‖∂loss/∂θ‖₂ over all of ``module``'s parameters, without touching .grad."""
    grads = torch.autograd.grad(loss, list(module.parameters()), retain_graph=True)
    return float(torch.sqrt(sum(g.square().sum() for g in grads)))


def logit_derivative_error() -> tuple[float, dict]:
    """Max |autograd dL/ds - analytic| over s in [-12, 12], both losses, scaled by N."""
    s = torch.linspace(-12, 12, 481, dtype=torch.float64, requires_grad=True)
    n = s.numel()
    (g_sat,) = torch.autograd.grad(minimax_generator_loss(fake_logits=s), s)
    (g_ns,) = torch.autograd.grad(nonsaturating_generator_loss(fake_logits=s), s)
    sig = torch.sigmoid(s.detach())
    err = max(float((n * g_sat + sig).abs().max()), float((n * g_ns + (1 - sig)).abs().max()))
    return err, {"s": s.detach().numpy(), "sigma": sig.numpy()}


@register("saturation", section="§4",
          summary="early in training the saturating G loss has a vanishing gradient; the non-saturating one does not")
def run(*, quick: bool, seed: int, progress: bool):
    pretrain, iters, every = SIZES[quick]
    dist = GaussianMixture("far", torch.tensor([[3.0], [5.0]]), 0.3)
    rng = torch.Generator().manual_seed(seed + 1)
    G = MLPGenerator(Z_DIM, dist.dim, hidden=HIDDEN, layers=3)
    D = MLPDiscriminator(dist.dim, hidden=HIDDEN, layers=3)
    real_eval = dist.sample(N_EVAL, rng)
    bar = progress_bar(pretrain + (2 if quick else 4) * iters, "saturation", progress)

    # Pre-train D against the frozen, freshly initialised G: D(G(z)) -> 0.
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    for _ in range(pretrain):
        with torch.no_grad():
            fake = G(torch.randn(BATCH, Z_DIM, generator=rng))
        loss = gan_discriminator_loss(real_logits=D(dist.sample(BATCH, rng)), fake_logits=D(fake))
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()
        bar.update()

    # The early-training point: both losses on the same nets and the same batch.
    logits = D(G(torch.randn(4 * BATCH, Z_DIM, generator=rng)))
    d_fake0 = float(torch.sigmoid(logits.detach()).mean())
    norms0 = {name: grad_norm(fn(fake_logits=logits), G) for name, fn in LOSSES.items()}
    ratio0 = norms0["saturating"] / norms0["non-saturating"]
    w1_init = wasserstein1(G(torch.randn(N_EVAL, Z_DIM, generator=rng)).detach(), real_eval)

    race = {name: train_from(G, D, dist, fn, optimizer="sgd", iters=iters, every=every, real_eval=real_eval,
                             seed=seed + 7, bar=bar) for name, fn in LOSSES.items()}
    race_adam = {} if quick else {
        name: train_from(G, D, dist, fn, optimizer="adam", iters=iters, every=every, real_eval=real_eval,
                         seed=seed + 7, bar=bar) for name, fn in LOSSES.items()}
    bar.close()
    first = slice(0, 50)
    ratio_first = float(np.mean(race["saturating"]["grad_norm"][first]) /
                        np.mean(race["non-saturating"]["grad_norm"][first]))

    ns_hit = race["non-saturating"]["iterations_to_threshold"]
    sat_hit = race["saturating"]["iterations_to_threshold"]
    deriv_err, curves = logit_derivative_error()
    checks = [
        close("dL/ds by autograd = -σ(s) and -(1-σ(s))", measured=deriv_err, exact=0.0, tolerance=1e-12,
              note="both losses, s in [-12, 12], float64"),
        close("mean D(G(z)) at the early-training point", measured=d_fake0, exact=0.0, tolerance=0.02,
              note=f"after {pretrain} D steps against the initial G"),
        within("grad-norm ratio saturating / non-saturating at that point", measured=ratio0, lo=0.0,
               hi=MAX_GRAD_RATIO, note=f"‖∇θ‖: {norms0['saturating']:.3g} vs {norms0['non-saturating']:.3g}"),
        within("grad-norm ratio over the first 50 training iterations", measured=ratio_first, lo=0.0,
               hi=MAX_GRAD_RATIO, note="mean norms, each loss training its own copy"),
        within("non-saturating (SGD): iterations to W1 <= threshold", measured=_or_inf(ns_hit), lo=1, hi=iters,
               note=f"threshold {W1_THRESHOLD}, budget {iters} iterations"),
        within("saturating (SGD): W1 at the end / W1 at the start", measured=race["saturating"]["w1"][-1] / w1_init,
               lo=0.9, hi=1.1, exact=1.0, note=f"it does not move: W1 <= {W1_THRESHOLD} reached at {sat_hit}"),
    ]
    fig = plot(curves, race, race_adam, norms0)
    summary = {f"{name} ({opt})": {"iterations_to_threshold": r["iterations_to_threshold"], "final_w1": r["w1"][-1]}
               for opt, runs in (("sgd", race), ("adam", race_adam)) for name, r in runs.items()}
    return {"checks": checks, "d_fake_at_start": d_fake0, "grad_norm_at_start": norms0,
            "grad_ratio_at_start": ratio0, "grad_ratio_first_50": ratio_first, "w1_at_start": w1_init,
            "w1_threshold": W1_THRESHOLD, "iterations": iters, "race": summary,
            "history": {name: {k: v for k, v in r.items() if k != "iterations_to_threshold"}
                        for name, r in race.items()}}, fig


def _or_inf(x):
    return float("inf") if x is None else float(x)


def train_from(G0, D0, dist, loss_fn, *, optimizer: str, iters: int, every: int, real_eval, seed: int, bar) -> dict:
    """Train copies of (G0, D0) with the given G loss; the same noise for either loss."""
    G, D = copy.deepcopy(G0), copy.deepcopy(D0)
    rng = torch.Generator().manual_seed(seed)
    if optimizer == "sgd":
        opt_g = torch.optim.SGD(G.parameters(), lr=SGD_LR)
    else:
        opt_g = torch.optim.Adam(G.parameters(), lr=ADAM_LR, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    out = {"grad_norm": [], "w1_iteration": [], "w1": []}
    for it in range(1, iters + 1):
        with torch.no_grad():
            fake = G(torch.randn(BATCH, Z_DIM, generator=rng))
        d_loss = gan_discriminator_loss(real_logits=D(dist.sample(BATCH, rng)), fake_logits=D(fake))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = loss_fn(fake_logits=D(G(torch.randn(BATCH, Z_DIM, generator=rng))))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        out["grad_norm"].append(float(torch.sqrt(sum(p.grad.square().sum() for p in G.parameters()))))
        opt_g.step()
        if it % every == 0:
            with torch.no_grad():
                out["w1_iteration"].append(it)
                out["w1"].append(wasserstein1(G(torch.randn(N_EVAL, Z_DIM, generator=rng)), real_eval))
        bar.update()
    hits = [it for it, w in zip(out["w1_iteration"], out["w1"]) if w <= W1_THRESHOLD]
    out["iterations_to_threshold"] = hits[0] if hits else None
    return out


def plot(curves: dict, race: dict, race_adam: dict, norms0: dict):
    from gankit.theory.plotting import figure

    fig, axes = figure(1, 4, width=3.8, title="§4 saturation: log(1 - D(G(z))) vs -log D(G(z))")
    d = curves["sigma"]
    ax = axes[0, 0]
    ax.plot(d, np.log1p(-d), label="saturating: log(1 - D)")
    ax.plot(d, -np.log(d), label="non-saturating: -log D")
    ax.set_xlabel("D(G(z))")
    ax.set_ylabel("generator loss")
    ax.set_ylim(-5, 5)
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    ax.plot(d, -d, label="saturating: -σ(s)")
    ax.plot(d, -(1 - d), label="non-saturating: -(1-σ(s))")
    ax.set_xlabel("D(G(z)) = σ(s)")
    ax.set_ylabel("dL/ds")
    ax.legend(fontsize=7)
    ax = axes[0, 2]
    for name, r in race.items():
        ax.semilogy(np.arange(1, len(r["grad_norm"]) + 1), r["grad_norm"], label=f"{name} (SGD)", lw=0.8)
    ax.set_xlabel("iteration")
    ax.set_ylabel("‖∇θ L_G‖")
    ax.set_title(f"at start: {norms0['saturating']:.2g} vs {norms0['non-saturating']:.2g}", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[0, 3]
    for opt, runs, style in (("SGD", race, "-"), ("Adam", race_adam, ":")):
        for name, r in runs.items():
            reached = r["iterations_to_threshold"]
            label = f"{name}, {opt}: " + (f"W1<{W1_THRESHOLD} at {reached}" if reached else "never")
            ax.plot(r["w1_iteration"], r["w1"], style, marker=".", ms=3, label=label)
    ax.axhline(W1_THRESHOLD, color="k", ls="--")
    ax.set_xlabel("iteration")
    ax.set_ylabel("W1 to the data")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    return fig
