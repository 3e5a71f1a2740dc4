"""Speed and scale: data-parallel training over processes, and the fast settings of one.

Many processes (docs/scaling.md). Under ``torchrun`` (or ``gankit train
--nproc N``, which re-launches itself under ``torch.distributed.run``) every
process is one *rank*; :func:`setup` reads the launcher's environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) and joins the process group: gloo
on CPU, NCCL on CUDA. Without a launcher it returns a one-process
:class:`Dist` and everything below is a no-op, so the loop has one code path.

The design that makes an N-process run *the same run* as one process:

* ``batch_size`` is the **global** batch m; it must divide by N and each rank
  trains on m / N rows of it.
* Every rank holds the same data, noise and penalty-ε generators (same
  seeds) and draws the whole global batch from them, keeping its own rows
  (:meth:`Dist.shard`). Drawing m rows of noise or m indices costs next to
  nothing beside the networks; in exchange, an N-process run draws exactly
  the batches a one-process run draws, the RNG states are the same on every
  rank (rank 0's checkpoint resumes all of them), and the equivalence test
  (tests/test_ddp.py) is exact up to floating-point summation order.
* Per-rank losses are means over m / N rows; averaging gradients over equal
  ranks gives the gradient of the mean over all m rows. The generator is
  wrapped in DistributedDataParallel (its all-reduce overlaps its backward).
  The critic is *not* wrapped: a gradient penalty differentiates D twice
  (``autograd.grad(..., create_graph=True)``), which DDP's reducer hooks do
  not support, so the critic's loss, penalty included, runs through the
  plain module and :meth:`Dist.average_gradients` all-reduces its parameter
  gradients once per step, after backward. The penalty is therefore per rank
  (a mean over the rank's rows) and, after averaging, the global mean.
* Weight clipping after the step sees identical weights and gradients on
  every rank, so the clipped weights stay identical.
* Batch norm normalises over each rank's m / N rows (not over m), as in most
  DDP GAN code; runs with batch norm agree with one process only
  statistically.
* Statistics are averaged over ranks at the logging cadence only
  (:meth:`Dist.mean_record`); rank 0 alone writes the run folder, the
  progress bar and checkpoints.

One machine: :func:`fast_settings` resolves ``precision=auto`` and
``channels_last=auto`` (``gankit train --fast``) to what benchmarks/throughput_conv.py
measured helps; :func:`to_memory_format` converts a model or batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor, nn

from gankit.errors import ConfigError, GankitError, RunError


@dataclass
class Dist:
    """Where this process stands among the ranks of a run (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    cpu_group: Any = None  #: a gloo group for small host-side agreements (stop flags)
    channels_last: bool = False  #: batches from :meth:`local` in NHWC memory (the nets' format)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files, logs and the progress bar."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def local_batch(self, batch_size: int) -> int:
        """Rows of a global batch of ``batch_size`` that this rank trains on."""
        if batch_size % self.world_size:
            raise ConfigError(f"config key 'batch_size': the global batch {batch_size} must divide by the "
                              f"{self.world_size} processes; use a multiple of {self.world_size}")
        return batch_size // self.world_size

    def shard(self, batch: Tensor) -> Tensor:
        """This rank's rows of a global batch (a view; the whole batch when one process)."""
        if not self.enabled:
            return batch
        n = self.local_batch(batch.shape[0])
        return batch[self.rank * n:(self.rank + 1) * n]

    def local(self, batch: Tensor) -> Tensor:
        """This rank's rows of a global batch, in the networks' memory format."""
        return to_memory_format(self.shard(batch), self.channels_last)

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` in DistributedDataParallel when there are several ranks (else itself).

        Only for modules differentiated once per step (the generator); see the
        module docstring for why the critic is not wrapped.
        """
        if not self.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=True)

    def average_gradients(self, module: nn.Module) -> None:
        """All-reduce the parameter gradients of ``module`` to their mean over ranks, in place.

        One flat all-reduce per call (no host synchronisation: on CUDA it is
        queued on the stream like any kernel). A no-op for one process.
        """
        if not self.enabled:
            return
        import torch.distributed as dist
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if not grads:
            return
        flat = _flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        flat.div_(self.world_size)
        torch._foreach_copy_(grads, list(_unflatten_dense_tensors(flat, grads)))

    def mean_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """The float statistics of a metrics record averaged over ranks (called at the log cadence)."""
        if not self.enabled:
            return record
        import torch.distributed as dist

        keys = [k for k, v in record.items() if isinstance(v, float) and k != "wall_seconds"]
        if not keys:
            return record
        values = torch.tensor([record[k] for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(values)
        return {**record, **dict(zip(keys, (values / self.world_size).tolist()))}

    def agree_stop(self, signal_name: str | None) -> str | None:
        """A stop request seen by any rank, known to all ranks (so all stop at the same round)."""
        if not self.enabled:
            return signal_name
        import torch.distributed as dist

        flag = torch.tensor([1 if signal_name else 0], dtype=torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self.cpu_group)  # host-side, gloo
        return (signal_name or "SIGTERM") if int(flag) else None

    def call_on_main(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on rank 0 only and give every rank its result (or its error).

        For what must happen once (preparing the run folder, reading the
        checkpoint): a refusal on rank 0 becomes the same error on every rank
        instead of leaving the others waiting at the next collective.
        """
        if not self.enabled:
            return fn()
        import torch.distributed as dist

        box: list[Any] = [None]
        if self.is_main:
            try:
                box[0] = ("ok", fn())
            except GankitError as err:
                box[0] = ("error", type(err), str(err))
            except Exception as err:  # noqa: BLE001 - passed on, then raised on every rank
                box[0] = ("error", RunError, f"rank 0: {type(err).__name__}: {err}")
        dist.broadcast_object_list(box, src=0, group=self.cpu_group)
        if box[0][0] == "error":
            raise box[0][1](box[0][2])
        return box[0][1]


def setup(device: torch.device) -> Dist:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1); else one process.

    CPU runs use gloo; CUDA runs use NCCL, one GPU per rank (``cuda:LOCAL_RANK``).
    Calling it again in the same process reuses the group.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(device=device)
    import torch.distributed as dist

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"process {rank} has LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} "
                              f"GPUs are visible; start at most that many processes per node")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    cpu_group = dist.new_group(backend="gloo") if device.type == "cuda" else None
    return Dist(rank=rank, world_size=world, device=device, cpu_group=cpu_group)


def teardown() -> None:
    """Leave the process group, if this process joined one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def relaunch(nproc: int, argv: list[str]) -> int:
    """Run ``python -m gankit <argv>`` in ``nproc`` processes on this machine, under torchrun.

    ``--standalone`` lets torchrun pick a free rendezvous port on localhost;
    for several machines use torchrun directly (docs/scaling.md).
    """
    from torch.distributed import run as torchrun

    if nproc < 1:
        raise ConfigError(f"--nproc must be >= 1, got {nproc}")
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torchrun's default too; say it so nothing oversubscribes
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    try:
        torchrun.main(["--standalone", f"--nproc_per_node={nproc}", "--module", "gankit", *argv])
    except ChildFailedError:
        return 1  # the failing rank printed its own error
    return 0


# ----------------------------------------------------------------------------
# one machine: precision and memory format
# ----------------------------------------------------------------------------
def cpu_bf16_supported() -> bool:
    """True when this CPU runs bf16 matmuls / convs natively (avx512_bf16 or AMX, via oneDNN)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def fast_settings(precision: str, channels_last: str, net: str, device: torch.device) -> tuple[str, bool]:
    """Resolve ``auto`` precision and memory format to (precision, channels_last).

    What benchmarks/throughput_conv.py measured on a CPU with avx512_bf16
    (AMD EPYC, one thread, DCGAN 28×28, batch 64; docs/scaling.md): bf16
    autocast speeds a training iteration up by about 1.8-2.2×, and
    channels_last adds 20-60% in fp32 and about 25% on top of bf16, so auto
    picks both on such a CPU and channels_last alone without bf16. On CUDA with bf16 (compute capability ≥ 8.0), auto picks bf16
    + channels_last, NVIDIA's guidance for convolutions on tensor cores (not
    measured in this project yet). MLPs (toy data) stay fp32: their layers are
    too small for bf16 to pay for its casts. Explicit values pass through.
    """
    conv = net != "mlp"
    if precision == "auto":
        if not conv:
            precision = "fp32"
        elif device.type == "cuda":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        else:
            precision = "bf16" if cpu_bf16_supported() else "fp32"
    if channels_last == "auto":
        use_cl = conv and (device.type == "cpu" or precision == "bf16")
    else:
        use_cl = channels_last == "on"
    return precision, use_cl


def to_memory_format(x, channels_last: bool):
    """A module or a 4-d batch in channels_last (NHWC) memory when asked; anything else unchanged."""
    if not channels_last:
        return x
    if isinstance(x, nn.Module):
        return x.to(memory_format=torch.channels_last)
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x
