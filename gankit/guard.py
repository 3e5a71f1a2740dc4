"""The divergence guard: non-finite values and warning signs, checked at the logging cadence.

Nothing here synchronises with the device per step. After each backward pass
the loop adds :func:`grad_max` of the network (the largest |∂loss/∂θ|, a 0-d
tensor: NaN or inf if any gradient is) to the statistics, beside the losses.
At each logging step :meth:`Guard.inspect` reads the flushed record (one sync
for everything) and returns

* a *problem*: a non-finite loss, statistic or gradient since the last log.
  ``on_nan=stop`` stops the run with a RunError naming the iteration and the
  quantity; ``on_nan=rollback`` restores the last good state, multiplies the
  learning rates by ``rollback_lr_factor`` and continues, at most
  ``rollback_tries`` times. The loop never writes a checkpoint whose weights
  are not finite (:func:`all_finite`);
* new *warnings*: signs that training is failing while every number is still
  finite. Each is raised when its sign has held for ``patience`` consecutive
  logging steps:

  - classic objectives (gan, ns-gan): the discriminator loss collapses to ~0
    (D separates real from fake perfectly, §4), or D(x) → 1 and D(G(z)) → 0
    (D saturates; the minimax G loss then has no gradient, §4);
  - wgan-gp: the mean critic gradient norm at the interpolates is outside
    [0.5, 2] although the penalty asks for 1 (§6);
  - toy data, at the end: the generator covers fewer modes than the data has.

docs/reliability.md describes the policies.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

#: Statistics the loop adds for the guard alone; :meth:`Guard.inspect` removes them from the record.
GRAD_KEYS = {"d_grad_max": "discriminator gradient", "g_grad_max": "generator gradient"}

D_LOSS_COLLAPSE = 0.01  #: classic d_loss below this is "≈ 0" (BCE of a perfect D)
SATURATION = 0.99  #: D(x) above this and D(G(z)) below 1 - this is saturation
GRAD_NORM_RANGE = (0.5, 2.0)  #: wgan-gp: mean ‖∇D(x̂)‖ outside this is far from the target 1


def grad_max(module: nn.Module) -> Tensor:
    """max |grad| over the parameters of ``module`` as a 0-d tensor (NaN/inf if any gradient is); no sync."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.stack(torch._foreach_norm(grads, math.inf)).max()


@torch.no_grad()
def all_finite(*modules: nn.Module) -> bool:
    """True when every parameter and buffer of ``modules`` is finite (one sync)."""
    tensors = [t for m in modules for t in (*m.parameters(), *m.buffers()) if t.is_floating_point()]
    if not tensors:
        return True
    return bool(torch.isfinite(torch.stack(torch._foreach_norm(tensors, math.inf))).all())


class Guard:
    """Inspects each logged record; remembers warnings, streaks and rollbacks (saved in checkpoints).

    Args:
        objective: the objective's name (which warnings apply).
        patience: consecutive logging steps a sign must hold before it warns.
    """

    def __init__(self, objective: str, *, patience: int = 3) -> None:
        self.classic = objective in ("gan", "ns-gan")
        self.penalty = objective == "wgan-gp"
        self.patience = patience
        self.streaks: dict[str, int] = {}
        self.warnings: list[str] = []  #: every warning of the run, "iteration N: ..."
        self.rollbacks = 0

    def inspect(self, record: dict[str, Any]) -> tuple[str | None, list[str]]:
        """(problem or None, new warnings) for a flushed record; removes the guard's own keys from it."""
        grads = {key: record.pop(key) for key in list(record) if key in GRAD_KEYS}
        for key, value in record.items():
            if isinstance(value, float) and not math.isfinite(value):
                return f"{key} = {value}", []
        for key, value in grads.items():
            if not math.isfinite(value):
                return f"{GRAD_KEYS[key]} (max |grad| = {value})", []
        new = [f"iteration {record['iteration']}: {text}" for text in self._signs(record)]
        self.warnings.extend(new)
        return None, new

    def _signs(self, record: dict[str, Any]) -> list[str]:
        d_loss, d_real, d_fake, norm = (record.get(k) for k in ("d_loss", "d_real", "d_fake", "grad_norm"))
        signs = {
            "collapse": self.classic and d_loss is not None and d_loss < D_LOSS_COLLAPSE and
            f"discriminator loss {d_loss:.2g} ≈ 0: D separates real from fake perfectly and G's gradients vanish "
            f"(docs/theory.md §4); lower lr_d or d_steps",
            "saturation": self.classic and d_real is not None and d_fake is not None and
            d_real > SATURATION and d_fake < 1 - SATURATION and
            f"D(x) = {d_real:.3f} → 1 and D(G(z)) = {d_fake:.3g} → 0: the discriminator saturates "
            f"(docs/theory.md §4); objective=ns-gan or wgan-gp keeps G's gradient alive",
            "grad_norm": self.penalty and norm is not None and not GRAD_NORM_RANGE[0] <= norm <= GRAD_NORM_RANGE[1] and
            f"mean critic gradient norm {norm:.3g} is far from 1 under the penalty (outside "
            f"[{GRAD_NORM_RANGE[0]}, {GRAD_NORM_RANGE[1]}], docs/theory.md §6); raise lambda_gp or d_steps",
        }
        out = []
        for kind, text in signs.items():
            self.streaks[kind] = self.streaks.get(kind, 0) + 1 if text else 0
            if self.streaks[kind] == self.patience:
                out.append(text)
        return out

    def finish(self, metrics: dict[str, Any]) -> list[str]:
        """Every warning of the run, with those the final metrics show (modes lost on toy data)."""
        covered, total = metrics.get("modes_covered"), metrics.get("modes_total")
        if covered is not None and total is not None and covered < total:
            self.warnings.append(f"final: modes lost: the generator covers {covered} of the {total} modes "
                                 f"(mode collapse); train longer, or change the objective or the learning rates")
        return list(self.warnings)

    def state_dict(self) -> dict[str, Any]:
        return {"streaks": dict(self.streaks), "warnings": list(self.warnings), "rollbacks": self.rollbacks}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.streaks, self.warnings = dict(state["streaks"]), list(state["warnings"])
        self.rollbacks = int(state["rollbacks"])
