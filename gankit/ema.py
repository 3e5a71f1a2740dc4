"""Exponential moving average of a generator's weights.

Sampling from an average of G_θ over the last iterations instead of the last
iterate damps the oscillation of the two-player game (docs/theory.md §3):

    θ_ema <- decay · θ_ema + (1 − decay) · θ        (step >= start)
    θ_ema <- θ                                      (step <  start)

With ``warmup`` the decay used at the t-th update after ``start`` is
min(decay, (1 + t) / (10 + t)): a short run is not dominated by the random
initial weights (at decay 0.999 the plain average still remembers them
after 1,000 steps), and long runs are unaffected.

Buffers (batch-norm running statistics) are copied, not averaged. The
averaged copy is kept in eval mode with gradients off; the loop owns when
:meth:`EMA.update` is called.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class EMA:
    """An averaged copy of ``module``, updated with torch._foreach ops.

    Args:
        module: the network to average (left untouched).
        decay: weight of the old average, in [0, 1).
        start: steps before this one copy the weights instead of averaging.
    """

    def __init__(self, module: nn.Module, decay: float = 0.999, start: int = 0, warmup: bool = False) -> None:
        assert 0.0 <= decay < 1.0, decay
        assert start >= 0, start
        self.decay, self.start, self.warmup = float(decay), int(start), bool(warmup)
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self._params = [p for _, p in self.module.named_parameters()]
        self._buffers = [b for _, b in self.module.named_buffers()]
        self._names = [n for n, _ in self.module.named_parameters()]

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        """Fold the current weights of ``module`` into the average (copy them before ``start``)."""
        named = list(module.named_parameters())
        assert [n for n, _ in named] == self._names, "EMA.update got a module of another architecture"
        params = [p.detach() for _, p in named]
        if step < self.start:
            _copy_all(self._params, params)
        else:
            # lerp(avg, p, 1 - decay) = avg + (1 - decay)(p - avg) = decay·avg + (1 - decay)·p
            torch._foreach_lerp_(self._params, params, 1.0 - self.decay_at(step))
        buffers = [b.detach() for _, b in module.named_buffers()]
        assert len(buffers) == len(self._buffers), (len(buffers), len(self._buffers))
        if buffers:
            _copy_all(self._buffers, buffers)

    def decay_at(self, step: int) -> float:
        """The decay of the update at ``step`` (>= start)."""
        if not self.warmup:
            return self.decay
        t = step - self.start
        return min(self.decay, (1.0 + t) / (10.0 + t))

    def state_dict(self) -> dict[str, Any]:
        """Decay, start and the averaged module's state, for a checkpoint."""
        return {"decay": self.decay, "start": self.start, "module": self.module.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (in place, so cached tensors stay valid)."""
        self.decay, self.start = float(state["decay"]), int(state["start"])
        self.module.load_state_dict(state["module"])


def _copy_all(targets: list[torch.Tensor], sources: list[torch.Tensor]) -> None:
    """targets[i].copy_(sources[i]) for all i, fused where torch has _foreach_copy_."""
    if hasattr(torch, "_foreach_copy_"):
        torch._foreach_copy_(targets, sources)
    else:  # torch < 2.1
        for target, source in zip(targets, sources):
            target.copy_(source)
