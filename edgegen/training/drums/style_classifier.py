"""Style classifier for drum bars: the measuring instrument for style control and transfer.

Trained on real GMD training bars only, with class weights because styles are
unbalanced (rock has ten times the bars of electronic), and judged by balanced
accuracy on GMD's test bars. It never sees generated bars, so when it calls a
sampled bar "jazz" that is evidence the bar looks like real jazz.
GMD's validation and test splits contain no electronic ("dance") bars, so
balanced accuracy is taken over the styles present (sklearn's definition);
the report says so beside the number.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, recall_score
from torch import nn
from torch.nn import functional as F

from edgegen.runtime.drum_spec import INSTRUMENTS, STEPS, STYLES
from edgegen.training.common import JsonLog, load_checkpoint, progress, save_checkpoint
from edgegen.training.drums.corpus import Corpus, balanced_style_weights


@dataclass
class StyleClassifierConfig:
    """Sizes and optimiser of the style classifier."""

    channels: int = 48  # Conv1d channels over the 16 steps
    hidden: int = 128  # width of the dense layer
    dropout: float = 0.3  # dropout before the output layer
    n_styles: int = len(STYLES)  # output classes
    epochs: int = 25  # passes over the training bars
    batch_size: int = 128  # bars per step
    lr: float = 1e-3  # Adam learning rate
    weight_decay: float = 1e-4  # Adam weight decay
    seed: int = 0  # torch seed


CLASSIFIER_VARIANTS: dict[str, StyleClassifierConfig] = {
    "default": StyleClassifierConfig(),
    "tiny": StyleClassifierConfig(channels=8, hidden=16, epochs=2),
}


class StyleClassifier(nn.Module):
    """Bars [N, 16, 9] -> style logits [N, n_styles]."""

    def __init__(self, config: StyleClassifierConfig):
        super().__init__()
        c = config
        self.config = config
        self.conv = nn.Sequential(
            nn.Conv1d(len(INSTRUMENTS), c.channels, 3, padding=1), nn.ReLU(),  # [N, C, 16]
            nn.Conv1d(c.channels, c.channels, 3, padding=1), nn.ReLU(),  # [N, C, 16]
        )
        self.head = nn.Sequential(
            nn.Flatten(),  # [N, C*16]
            nn.Linear(c.channels * STEPS, c.hidden), nn.ReLU(),  # [N, H]
            nn.Dropout(c.dropout),
            nn.Linear(c.hidden, c.n_styles),  # [N, S]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x.transpose(1, 2)))  # [N, 9, 16] -> [N, S]


@torch.no_grad()
def predict(model: StyleClassifier, grids: np.ndarray) -> np.ndarray:
    """Predicted style index [N] for bars [N, 16, 9]."""
    model.eval()
    if len(grids) == 0:
        return np.zeros(0, dtype=np.int64)
    return model(torch.as_tensor(np.asarray(grids), dtype=torch.float32)).argmax(1).numpy()


def style_scores(model: StyleClassifier, corpus: Corpus) -> dict[str, Any]:
    """Balanced accuracy over the styles present, and recall per present style."""
    pred = predict(model, corpus.grids)
    present = sorted(set(corpus.styles.tolist()))
    warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")  # absent styles
    recalls = recall_score(corpus.styles, pred, labels=present, average=None, zero_division=0)
    return {"balanced_accuracy": float(balanced_accuracy_score(corpus.styles, pred)),
            "recall": {STYLES[s]: float(r) for s, r in zip(present, recalls)}}


def train_style_classifier(config: StyleClassifierConfig, variant: str, train: Corpus, validation: Corpus,
                           run_dir: str | Path, show_progress: bool = True) -> tuple[StyleClassifier, dict[str, Any]]:
    """Train with class-balanced cross-entropy; keep the epoch with the best validation balanced accuracy."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    model = StyleClassifier(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    weights = torch.as_tensor(balanced_style_weights(train.styles, config.n_styles))
    x_all = torch.as_tensor(train.grids, dtype=torch.float32)
    y_all = torch.as_tensor(train.styles)
    log = JsonLog(run_dir / "log.json")
    started = time.perf_counter()
    best: dict[str, Any] = {}
    epochs = range(config.epochs)
    for epoch in (progress(epochs, label=f"style classifier {variant}") if show_progress else epochs):
        model.train()
        order = torch.randperm(len(x_all))
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            loss = F.cross_entropy(model(x_all[idx]), y_all[idx], weight=weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx) / len(order)
        val = style_scores(model, validation)
        log.append({"epoch": epoch + 1, "train_loss": total, "val_balanced_accuracy": val["balanced_accuracy"]})
        if not best or val["balanced_accuracy"] > best["val_balanced_accuracy"]:
            best = {"variant": variant, "config": asdict(config), "epoch": epoch + 1,
                    "model": {k: v.clone() for k, v in model.state_dict().items()},
                    "val_balanced_accuracy": val["balanced_accuracy"], "styles": list(STYLES)}
    best["train_seconds"] = time.perf_counter() - started
    save_checkpoint(best, run_dir / "checkpoint.pt")
    model.load_state_dict(best["model"])
    model.eval()
    return model, best


def load_style_classifier(path: str | Path) -> tuple[StyleClassifier, dict[str, Any]]:
    """Rebuild a trained classifier from its checkpoint, in eval mode."""
    ckpt = load_checkpoint(path)
    model = StyleClassifier(StyleClassifierConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, ckpt


def load_style_classifier_for_export(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The exporter's entry point: (eval module x [N,16,9] -> logits [N,5], info dict)."""
    model, ckpt = load_style_classifier(path)
    info = {"variant": ckpt["variant"], "config": ckpt["config"], "epoch": ckpt["epoch"],
            "styles": list(STYLES), "instruments": list(INSTRUMENTS), "metrics": ckpt.get("metrics", {})}
    return model, info


def get_classifier_config(variant: str, **overrides: Any) -> StyleClassifierConfig:
    """The registered classifier config with optional overrides."""
    return replace(CLASSIFIER_VARIANTS[variant], **overrides)
