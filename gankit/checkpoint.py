"""Atomic checkpoint files and safe loading.

A checkpoint is written to a temporary file in the same folder
(``.<name>.<random>.tmp``), flushed and fsynced, then renamed over the old
one and the folder fsynced, so a crash or SIGKILL at any moment leaves either
the previous checkpoint or the new one, never half of one (a killed write
leaves only a stale temp file, which a resume deletes). Every load uses
``torch.load(weights_only=True)``, which refuses pickles that would run code.

Test hook: ``GANKIT_TEST_SLOW_CHECKPOINT=seconds`` sleeps inside every
checkpoint write, after the data is written and before the rename, so tests
can kill a process while the temp file exists.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from gankit.errors import RunError

FORMAT_VERSION = 1
TEMP_GLOB = ".*.tmp"  #: the names atomic writes use for their temporary files


def atomic_write_bytes(path: Path, write: Any, *, pause: float = 0.0) -> None:
    """Call ``write(fileobj)`` on a temp file beside ``path``, fsync, then rename it to ``path``.

    ``pause`` seconds are slept between the fsync and the rename (a test hook).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        if pause > 0:
            time.sleep(pause)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every OS can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_copy(src: Path, dst: Path) -> None:
    """Make ``dst`` a copy of ``src`` atomically: a hard link where the file system allows, else a copy."""
    if dst.exists() and os.path.samefile(src, dst):
        return  # already linked (a crash after an earlier copy): rename would be a no-op and leave the temp
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    Path(tmp).unlink()
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda fh: fh.write(text.encode("utf-8")))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, dicts, lists) atomically to ``path``."""
    state = {"format": FORMAT_VERSION, **state}
    pause = float(os.environ.get("GANKIT_TEST_SLOW_CHECKPOINT") or 0)
    atomic_write_bytes(path, lambda fh: torch.save(state, fh), pause=pause)


def checkpoint_iteration(path: Path) -> int | None:
    """The ``iteration`` stored in a checkpoint, read without loading its tensors (None if unreadable)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return int(state["iteration"])
    except Exception:  # any unreadable file: the caller just does not rotate it
        return None


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
    except Exception as err:  # a damaged file can fail anywhere inside torch.load
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise RunError(f"checkpoint {path} is truncated or not a checkpoint ({first[:120]}); "
                       f"use an older checkpoint-<N>.pt of the run or start again") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise RunError(f"checkpoint {path} is not a gankit checkpoint of format {FORMAT_VERSION}")
    return state
