"""One checkpoint format and one resume rule for every trainer.

A checkpoint is a dict of plain data and tensors, so ``torch.load(weights_only=True)``
reads it and nothing inside one can run code:

    format         FORMAT_VERSION
    kind           what trained it: letter_classifier, letter_gan, letter_style, drum_vae, drum_style_classifier
    variant        the registry name of the recipe
    config         the recipe as a dict (``dataclasses.asdict``): rebuilds the model with no flags
    epoch          epochs completed
    modules        {name: state_dict} of every network the trainer keeps
    optimizers     {name: state_dict}
    rng            {name: state tensor}: torch's global RNG and the trainer's own generators
    metrics        the latest evaluation (JSON-like); ``best`` trainers keep the best one here
    history        {epoch: metrics} of every evaluation so far
    train_seconds  wall time spent training, summed over resumes

The resume rule (:func:`resume_point`): a run folder with no checkpoint starts fresh; one whose
checkpoint has the same kind, variant and config, apart from ``epochs``, continues (a larger
``epochs`` extends the run, an equal one has nothing left to do); anything else is a
:class:`CheckpointError` that says what differs. A run is never restarted silently.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from edgegen.runtime.files import atomic_output

FORMAT_VERSION = 1
CHECKPOINT_FILE = "checkpoint.pt"
REPORT_METRICS_FILE = "report_metrics.json"  # beside a checkpoint: test metrics a report measured, for the sidecar
KINDS = ("letter_classifier", "letter_gan", "letter_style", "drum_vae", "drum_style_classifier")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not belong to the run asking for it."""


def save_checkpoint(checkpoint: dict[str, Any], path: str | os.PathLike) -> None:
    """Write to a temp file beside ``path`` and rename it, so a crash never leaves a torn checkpoint."""
    missing = {"kind", "variant", "config", "epoch", "modules"} - set(checkpoint)
    if missing:
        raise ValueError(f"a checkpoint needs {sorted(missing)}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, suffix=".tmp") as tmp:
        torch.save({"format": FORMAT_VERSION, **_plain(checkpoint)}, tmp)


def _plain(value: Any) -> Any:
    """numpy scalars and arrays (from metrics) as Python numbers and lists, which weights_only can read."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return value


def load_checkpoint(path: str | os.PathLike, kind: str | None = None) -> dict[str, Any]:
    """Read a checkpoint onto the CPU with ``weights_only=True``; check its format and, if given, its kind."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = next((line for line in lines if "Unsupported global" in line), lines[0] if lines else
                      type(error).__name__)
        raise CheckpointError(f"{path}: not a readable edgegen checkpoint ({reason[:160]})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT_VERSION:
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(f"{path}: checkpoint format {found!r}, this edgegen reads {FORMAT_VERSION}; "
                              f"retrain it")
    if kind is not None and checkpoint.get("kind") != kind:
        raise CheckpointError(f"{path}: a {checkpoint.get('kind')} checkpoint, not a {kind} one")
    return checkpoint


def _first_difference(saved: dict[str, Any], wanted: dict[str, Any]) -> str | None:
    for key in sorted(set(saved) | set(wanted)):
        if key == "epochs":
            continue
        if saved.get(key, "<absent>") != wanted.get(key, "<absent>"):
            return f"{key} is {saved.get(key, '<absent>')!r} there, {wanted.get(key, '<absent>')!r} now"
    return None


def resume_point(path: str | os.PathLike, kind: str, variant: str, config: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint to continue from, None to start fresh, or CheckpointError (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        return None
    checkpoint = load_checkpoint(path, kind)
    fix = f"delete {path.parent} to start over, or choose another runs folder"
    if checkpoint["variant"] != variant:
        raise CheckpointError(f"{path} holds variant {checkpoint['variant']!r}, not {variant!r}; {fix}")
    difference = _first_difference(checkpoint["config"], config)
    if difference is not None:
        raise CheckpointError(f"{path} was trained with another config ({difference}); {fix}")
    if checkpoint["epoch"] > config["epochs"]:
        raise CheckpointError(f"{path} has trained {checkpoint['epoch']} epochs, more than the {config['epochs']} "
                              f"asked for; {fix}")
    return checkpoint


def weights(checkpoint: dict[str, Any], *names: str) -> dict[str, torch.Tensor]:
    """The state dict of the first of ``names`` the checkpoint holds (e.g. "ema_generator", "generator")."""
    for name in names:
        if checkpoint["modules"].get(name) is not None:
            return checkpoint["modules"][name]
    raise CheckpointError(f"a {checkpoint['kind']} checkpoint without {' or '.join(names)} weights")


def load_model(path: str | os.PathLike, kind: str, build: Callable[[dict[str, Any]], torch.nn.Module],
               *names: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a trained network from its checkpoint alone: ``build(config)``, the weights of the first of
    ``names`` it holds, eval mode. Returns it with the checkpoint without weights."""
    checkpoint = load_checkpoint(path, kind)
    model = build(checkpoint["config"])
    model.load_state_dict(weights(checkpoint, *names))
    model.eval()
    return model, without_weights(checkpoint)


def without_weights(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's description (kind, variant, config, epoch, metrics, ...) without tensors."""
    return {k: v for k, v in checkpoint.items() if k not in ("modules", "optimizers", "rng")}
