"""Shared fixtures of the test suite.

The test machines have few, shared cores: oversubscribed OpenMP threads make
tiny tensor operations tens of times slower, so every test runs single-threaded.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest
import torch

torch.set_num_threads(1)

#: The smallest configuration that still runs every part of the training loop.
TINY = dict(iterations=4, batch_size=32, g_hidden=16, d_hidden=16, g_layers=2, d_layers=2,
            eval_samples=64, log_every=2)


@pytest.fixture
def tiny() -> dict:
    """Keyword arguments of a tiny, fast Config (a fresh copy per test)."""
    return dict(TINY)
