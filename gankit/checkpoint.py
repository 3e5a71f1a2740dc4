"""Atomic checkpoint files and safe loading.

A checkpoint is written to a temporary file in the same folder, flushed and
fsynced, then renamed over the old one, so a crash mid-write leaves the
previous checkpoint intact. Every load uses ``torch.load(weights_only=True)``,
which refuses pickles that would run code.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from gankit.errors import RunError

FORMAT_VERSION = 1


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Call ``write(fileobj)`` on a temp file beside ``path``, fsync, then rename it to ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda fh: fh.write(text.encode("utf-8")))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, dicts, lists) atomically to ``path``."""
    state = {"format": FORMAT_VERSION, **state}
    atomic_write_bytes(path, lambda fh: torch.save(state, fh))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; refuse anything else clearly."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"checkpoint {path} does not exist; pass a run folder that finished at least one checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unsafe content"
        raise RunError(
            f"checkpoint {path} was refused: it holds objects that are not plain tensors or data "
            f"and could run code when loaded ({first[:120]}); only load checkpoints gankit wrote"
        ) from None
    except (RuntimeError, EOFError, OSError) as err:
        raise RunError(f"checkpoint {path} is truncated or not a checkpoint ({str(err).splitlines()[0][:120]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise RunError(f"checkpoint {path} is not a gankit checkpoint of format {FORMAT_VERSION}")
    return state
