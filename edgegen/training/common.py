"""Shared training plumbing: thread count, JSON logs, the NaN guard, progress bars."""
from __future__ import annotations

import contextlib
import json
import math
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

import click
import torch

from edgegen.runtime.files import atomic_write_text
from edgegen.training import distributed
from edgegen.training.checkpoint import CheckpointError

T = TypeVar("T")


def set_threads(threads: int) -> None:
    """Pin torch's intra-op threads. On a busy 2-core machine 2 threads can run 10-100x slower than 1."""
    torch.set_num_threads(max(1, int(threads)))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def run_in_processes(target: Callable[..., T], tasks: dict[str, tuple], workers: int,
                     on_done: Callable[[str, T], None] = lambda name, result: None) -> list[str]:
    """``target(*args)`` for every ``name: args`` of ``tasks`` in ``workers`` fresh (spawned) processes, reporting
    each result to ``on_done`` in task order; returns the failures as "name: error", so one cannot hide the rest."""
    failures = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {name: pool.submit(target, *args) for name, args in tasks.items()}
        for name, future in futures.items():
            try:
                on_done(name, future.result())
            except Exception as error:
                failures.append(f"{name}: {error}")
    return failures


def default_threads() -> int:
    """Thread count from EDGEGEN_THREADS (default 1, the safe choice when another job shares the CPU)."""
    return int(os.environ.get("EDGEGEN_THREADS", "1"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write pretty JSON atomically, creating the folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


class JsonLog:
    """A per-epoch log kept as a JSON list on disk, rewritten atomically after every append.

    On resume it is reloaded and truncated to the epochs the checkpoint has seen.
    """

    def __init__(self, path: str | os.PathLike, keep_until_epoch: int | None = None):
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []
        if keep_until_epoch is not None and self.path.exists():
            self.rows = [r for r in json.loads(self.path.read_text()) if r.get("epoch", 0) <= keep_until_epoch]

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        write_json(self.path, self.rows)


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf or exploding loss; the last good checkpoint is kept."""


def check_finite(name: str, value: float, limit: float = 1e4) -> None:
    """Stop a run whose loss is NaN, infinite or above ``limit`` with a message saying which."""
    if not math.isfinite(value) or abs(value) > limit:
        raise NonFiniteLossError(f"{name} became {value!r}; stopping, the last good checkpoint is kept")


def progress(items: Iterable[T], length: int | None = None, label: str = "") -> Iterator[T]:
    """A click progress bar on stderr (quiet when stderr is not a terminal, and on every rank but 0)."""
    if not distributed.current().is_main:
        yield from items
        return
    with click.progressbar(items, length=length, label=label, file=None, show_pos=True) as bar:
        yield from bar


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """A training command's expected failures (a checkpoint of another recipe, a NaN loss) as one-line errors."""
    try:
        yield
    except (CheckpointError, NonFiniteLossError) as error:
        raise click.ClickException(str(error)) from None
