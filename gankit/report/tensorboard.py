"""The optional TensorBoard writer (config key ``logger = "tensorboard"``).

metrics.jsonl is always written and stays the source of truth; with
``logger = "tensorboard"`` the loop also writes, into ``RUN/tensorboard/``:

* every key of every log record as a scalar (tag = the key, step = iteration);
* histograms ``D_output/real`` and ``D_output/fake`` of D's raw outputs
  (logits for gan / ns-gan, critic scores for wgan / wgan-gp) on the last
  real and fake batches, at the log cadence;
* each sample grid of an image run (tag ``samples``), when it is saved.

View with ``tensorboard --logdir RUN/tensorboard``. The ``tensorboard``
package is an optional extra (``pip install 'gankit[tensorboard]'``) and is
imported only when a run asks for it.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.errors import ConfigError

LOG_DIR = "tensorboard"


def check_logger(logger: str) -> None:
    """Raise ConfigError, before any work, when ``logger`` needs a package that is not installed."""
    if logger == "tensorboard" and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError("config key 'logger': tensorboard is not installed; "
                          "pip install 'gankit[tensorboard]' or use logger=jsonl")


class NullLogger:
    """logger = jsonl: metrics.jsonl only (the loop writes it), nothing else."""

    def log(self, record: dict[str, Any], D: nn.Module | None = None, real: torch.Tensor | None = None,
            fake: torch.Tensor | None = None) -> None:
        pass

    def image(self, tag: str, path: Path, iteration: int) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TensorBoardLogger(NullLogger):
    """Writes scalars, D-output histograms and sample grids to ``run_dir/tensorboard``.

    Args:
        run_dir: the run folder.
        start_iteration: 0 for a new run (old event files are removed); on
            resume, events after this iteration are purged (they belong to
            the part of the run that is being redone).
    """

    def __init__(self, run_dir: Path, start_iteration: int = 0) -> None:
        from torch.utils.tensorboard import SummaryWriter

        log_dir = Path(run_dir) / LOG_DIR
        if start_iteration == 0 and log_dir.is_dir():
            shutil.rmtree(log_dir)
        self.writer = SummaryWriter(str(log_dir), purge_step=start_iteration or None)

    def log(self, record: dict[str, Any], D: nn.Module | None = None, real: torch.Tensor | None = None,
            fake: torch.Tensor | None = None) -> None:
        """Every numeric key of ``record`` as a scalar, and D's outputs on ``real`` and ``fake``."""
        step = record["iteration"]
        for key, value in record.items():
            if key != "iteration" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)
        if D is not None and real is not None and fake is not None:
            for tag, out in zip(("D_output/real", "D_output/fake"), discriminator_outputs(D, real, fake)):
                out = out[torch.isfinite(out)]  # a diverged D (the guard reports it) has no histogram
                if out.numel():
                    self.writer.add_histogram(tag, out, step)

    def image(self, tag: str, path: Path, iteration: int) -> None:
        """A saved PNG (a sample grid) as an image at ``iteration``."""
        import numpy as np
        from PIL import Image

        with Image.open(path) as im:
            pixels = np.asarray(im.convert("RGB"))
        self.writer.add_image(tag, pixels, iteration, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()


@torch.no_grad()
def discriminator_outputs(D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D's raw outputs on ``real`` and ``fake``, (n,) each, on the CPU, leaving D exactly as it was.

    D stays in training mode (the mode the losses see), and its buffers
    (batch-norm statistics, spectral-norm power-iteration vectors) are put
    back afterwards, so a run with TensorBoard trains exactly like one without.
    """
    saved = {name: b.clone() for name, b in D.named_buffers()}
    try:
        real_out, fake_out = D(real).float().flatten().cpu(), D(fake).float().flatten().cpu()
    finally:
        buffers = dict(D.named_buffers())
        for name, value in saved.items():
            buffers[name].copy_(value)
    return real_out, fake_out


def open_logger(logger: str, run_dir: Path | None, start_iteration: int = 0) -> NullLogger:
    """The writer the config key ``logger`` names (a NullLogger when nothing is written)."""
    check_logger(logger)
    if logger == "tensorboard" and run_dir is not None:
        return TensorBoardLogger(run_dir, start_iteration)
    return NullLogger()
