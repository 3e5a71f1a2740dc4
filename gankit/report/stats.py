"""Cheap statistics: accumulate 0-d tensors on the device, read them out rarely.

``Stats.add`` never synchronises with the device; ``Stats.flush`` does, once,
at the logging cadence, returning the mean of each quantity since the last
flush.
"""

from __future__ import annotations

import torch
from torch import Tensor


class Stats:
    def __init__(self) -> None:
        self._sums: dict[str, Tensor] = {}
        self._counts: dict[str, int] = {}

    def add(self, values: dict[str, Tensor]) -> None:
        for name, value in values.items():
            value = value.detach().float()
            if name in self._sums:
                self._sums[name] = self._sums[name] + value
                self._counts[name] += 1
            else:
                self._sums[name], self._counts[name] = value, 1

    def flush(self) -> dict[str, float]:
        """Means since the last flush (one host-device sync), then reset."""
        if not self._sums:
            return {}
        names = list(self._sums)
        means = torch.stack([self._sums[n] / self._counts[n] for n in names]).tolist()
        self._sums.clear()
        self._counts.clear()
        return dict(zip(names, means))

    def state_dict(self) -> dict[str, object]:
        """The running sums and counts (for a checkpoint taken between two flushes)."""
        return {"sums": {n: s.detach().cpu() for n, s in self._sums.items()}, "counts": dict(self._counts)}

    def load_state_dict(self, state: dict[str, object], device: torch.device | str = "cpu") -> None:
        self._sums = {n: s.to(device) for n, s in state["sums"].items()}
        self._counts = dict(state["counts"])
