"""Figure helpers for the theory experiments (matplotlib, Agg backend).

matplotlib is imported here, and this module only inside an experiment's
run, so importing gankit never touches a display or a plotting backend.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gankit.theory.registry import atomic_write_bytes  # noqa: E402


def figure(rows: int, cols: int, *, width: float = 4.2, height: float = 3.2, title: str = ""):
    """A new figure with a rows x cols grid of axes (always a 2-D array)."""
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    if title:
        fig.suptitle(title)
    return fig, axes


def save_figure(fig, path: Path) -> None:
    """Render ``fig`` to PNG atomically at ``path`` and close it."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
