"""Training on several processes with PyTorch's own engine: ``torchrun`` + DistributedDataParallel.

Every trainer runs the same code alone or under
``torchrun --standalone --nproc-per-node=N -m edgegen.training.letters all``: torchrun sets
RANK / WORLD_SIZE / LOCAL_RANK and the rendezvous, :func:`setup` joins the process group
(gloo on CPU, nccl where CUDA is present), each process trains on its own shard of every
epoch (:func:`shard_batches`, a DistributedSampler re-seeded per epoch with ``set_epoch``),
DDP averages the gradients, and only rank 0 evaluates, writes checkpoints and reports.
Alone, the same code sees one process of rank 0 and no process group, and with N=1 a
torchrun run gives the same numbers as a plain one (the sampler's order depends only on
the seed and the epoch).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler


@dataclass(frozen=True)
class Processes:
    """Where this process stands among the training processes."""

    rank: int = 0  # 0 .. world_size-1; rank 0 writes checkpoints, logs and reports
    world_size: int = 1  # processes training together
    local_rank: int = 0  # index on this machine (picks the GPU under nccl)
    device: torch.device = torch.device("cpu")  # where tensors live

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 or (dist.is_available() and dist.is_initialized())


_CURRENT = Processes()


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup() -> Processes:
    """Join torchrun's process group if this process was launched by it; idempotent."""
    global _CURRENT
    if not launched_by_torchrun() or dist.is_initialized():
        return _CURRENT
    cuda = torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    _CURRENT = Processes(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank,
                         device=torch.device("cuda", local_rank) if cuda else torch.device("cpu"))
    return _CURRENT


def teardown() -> None:
    global _CURRENT
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _CURRENT = Processes()


def current() -> Processes:
    """This process's place (rank 0 of 1 unless :func:`setup` joined a group)."""
    return _CURRENT


def _silent(*_args: object, **_kwargs: object) -> None:
    pass


def main_log(log: Callable[..., None] = print) -> Callable[..., None]:
    """``log`` on rank 0, a no-op on the other ranks (N processes would print every line N times)."""
    return log if current().is_main else _silent


def barrier() -> None:
    """Wait for every process (e.g. while rank 0 renders the data); nothing to do alone."""
    if current().distributed:
        dist.barrier()


def wrap(module: torch.nn.Module, sync_buffers: bool = True) -> torch.nn.Module:
    """DDP around ``module`` when distributed (gradients averaged across processes), else the module.

    ``sync_buffers=False`` is for modules called more than once before one backward
    (a GAN discriminator on real and fake batches; spectral norm's power-iteration
    vectors): rank 0's buffers broadcast in place before the second call would invalidate
    tensors the first call saved for backward. Buffers are still synced once, when wrapped;
    after that BatchNorm statistics stay per process and rank 0's are the ones saved.
    (SyncBatchNorm would share them, but runs on CUDA only.)
    """
    processes = current()
    module = module.to(processes.device)
    if not processes.distributed:
        return module
    device_ids = [processes.local_rank] if processes.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids, forward_sync_buffers=sync_buffers)


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP wrapper (or the module itself)."""
    return module.module if isinstance(module, DistributedDataParallel) else module


def shard_batches(n_items: int, batch_size: int, epoch: int, seed: int, shuffle: bool = True,
                  drop_last: bool = False) -> Iterator[torch.Tensor]:
    """Index batches of this process's shard of one epoch, in an order fixed by (seed, epoch).

    A DistributedSampler over ``range(n_items)`` with ``set_epoch(epoch)``; indices are
    batched here rather than through a DataLoader, because the datasets are tensors in
    memory and per-item collation would cost more than a small model's step.
    """
    processes = current()
    sampler = DistributedSampler(range(n_items), num_replicas=processes.world_size, rank=processes.rank,
                                 shuffle=shuffle, seed=seed, drop_last=processes.world_size > 1)
    sampler.set_epoch(epoch)
    order = torch.as_tensor(list(sampler), dtype=torch.long)
    stop = len(order) - len(order) % batch_size if drop_last else len(order)
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def mean_over_processes(values: dict[str, float]) -> dict[str, float]:
    """Average each value over the processes (epoch losses for the log); unchanged alone."""
    if not current().distributed or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=current().device)
    dist.all_reduce(tensor)
    tensor /= current().world_size
    return {k: float(v) for k, v in zip(keys, tensor.tolist())}


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (renders data, fills a cache) while the others wait, then they run it."""
    if not current().is_main:
        barrier()
    yield
    if current().is_main:
        barrier()


@contextlib.contextmanager
def session() -> Iterator[Processes]:
    """Join torchrun's process group for the block (a no-op alone) and leave it afterwards."""
    processes = setup()
    try:
        yield processes
    finally:
        teardown()
