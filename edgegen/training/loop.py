"""The epoch loop every trainer shares: resume, train, evaluate on rank 0, checkpoint, log.

A trainer describes itself as a :class:`Trainable` (its modules, optimisers, random
generators, one epoch of training, one evaluation) and :func:`fit` does the rest the
same way for all of them: the resume rule of :mod:`edgegen.training.checkpoint`, a
checkpoint after every epoch (rank 0, atomic), one JSON log row per epoch, and,
for trainers that keep their best epoch, the best weights beside the current ones.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from edgegen.training import distributed
from edgegen.training.checkpoint import CHECKPOINT_FILE, resume_point, save_checkpoint, without_weights
from edgegen.training.common import JsonLog


@dataclass
class Trainable:
    """What a trainer hands to :func:`fit`."""

    kind: str  # checkpoint kind (see checkpoint.KINDS)
    variant: str  # registry name
    config: Any  # the recipe dataclass; needs ``epochs`` and ``seed``
    modules: dict[str, torch.nn.Module]  # every network to save and restore (unwrapped, not DDP)
    optimizers: dict[str, torch.optim.Optimizer]
    train_epoch: Callable[[int], dict[str, float]]  # one epoch (1-based) on every process -> mean losses
    evaluate: Callable[[int], dict[str, Any] | None]  # rank 0 after an epoch: metrics, or None (no evaluation)
    generators: dict[str, torch.Generator] = field(default_factory=dict)  # the trainer's own random streams
    best: str | None = None  # metric to maximise: keep modules["model"] of the best evaluation as "best"


def _row_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}


def _reseed_other_ranks(trainable: Trainable, epoch: int) -> None:
    """Ranks above 0 draw their own noise; on resume they restart it from (seed, rank, epoch)."""
    rank = distributed.current().rank
    torch.manual_seed(trainable.config.seed * 1_000_003 + rank * 1009 + epoch)
    for offset, generator in enumerate(trainable.generators.values(), 1):
        generator.manual_seed(trainable.config.seed * 1_000_003 + rank * 1009 + epoch + offset)


def fit(trainable: Trainable, run_dir: str | Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train ``trainable`` into ``run_dir`` (checkpoint.pt, log.json); returns the checkpoint without weights.

    Resumes a checkpoint of the same recipe (see checkpoint.resume_point). Every process
    reads the run folder; only rank 0 writes to it.
    """
    processes = distributed.current()
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT_FILE
    config = asdict(trainable.config)
    saved = resume_point(path, trainable.kind, trainable.variant, config)
    start, metrics, history, seconds, best_state = 0, {}, {}, 0.0, None
    if saved is not None:
        for name, module in trainable.modules.items():
            module.load_state_dict(saved["modules"][name])
        for name, optimizer in trainable.optimizers.items():
            optimizer.load_state_dict(saved["optimizers"][name])
        if processes.is_main:
            torch.set_rng_state(saved["rng"]["torch"])
            for name, generator in trainable.generators.items():
                generator.set_state(saved["rng"][name])
        else:
            _reseed_other_ranks(trainable, saved["epoch"])
        start, metrics, history = saved["epoch"], saved["metrics"], saved["history"]
        seconds, best_state = saved["train_seconds"], saved["modules"].get("best")
        if start < trainable.config.epochs:
            log(f"{trainable.variant}: resuming after epoch {start} of {trainable.config.epochs}")
    elif not processes.is_main:
        _reseed_other_ranks(trainable, 0)
    log_file = JsonLog(run_dir / "log.json", keep_until_epoch=start) if processes.is_main else None
    checkpoint: dict[str, Any] = without_weights(saved) if saved is not None else {}
    for epoch in range(start + 1, trainable.config.epochs + 1):
        began = time.perf_counter()
        row: dict[str, Any] = {"epoch": epoch, **distributed.mean_over_processes(trainable.train_epoch(epoch))}
        if not processes.is_main:
            continue
        measured = trainable.evaluate(epoch)
        if measured is not None:
            history[str(epoch)] = measured
            row["metrics"] = _row_metrics(measured)
            if trainable.best is None:
                metrics = measured
            elif not metrics or measured[trainable.best] > metrics[trainable.best]:
                metrics = measured
                best_state = {k: v.detach().clone() for k, v in trainable.modules["model"].state_dict().items()}
        seconds += time.perf_counter() - began
        checkpoint = {
            "kind": trainable.kind, "variant": trainable.variant, "config": config, "epoch": epoch,
            "metrics": metrics, "history": history, "train_seconds": seconds,
        }
        modules = {name: module.state_dict() for name, module in trainable.modules.items()}
        if trainable.best is not None:
            modules["best"] = best_state
        rng = {"torch": torch.get_rng_state(), **{n: g.get_state() for n, g in trainable.generators.items()}}
        save_checkpoint({**checkpoint, "modules": modules, "rng": rng,
                         "optimizers": {n: o.state_dict() for n, o in trainable.optimizers.items()}}, path)
        log_file.append({**row, "seconds": round(time.perf_counter() - began, 3), "finished_at": time.time()})
    distributed.barrier()  # rank 0's last checkpoint is on disk before any process reads it
    return checkpoint
