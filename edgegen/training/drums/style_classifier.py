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

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, recall_score
from torch import nn
from torch.nn import functional as F

from edgegen.runtime.drum_spec import INSTRUMENTS, STEPS, STYLES
from edgegen.training import distributed
from edgegen.training.checkpoint import CHECKPOINT_FILE, load_model
from edgegen.training.common import progress
from edgegen.training.drums.corpus import Corpus, balanced_style_weights
from edgegen.training.loop import Trainable, fit

KIND = "drum_style_classifier"


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
                           run_dir: str | Path, show_progress: bool = True,
                           log=print) -> tuple[StyleClassifier, dict[str, Any]]:
    """Train (or resume) with class-balanced cross-entropy; the checkpoint keeps the epoch with the best validation
    balanced accuracy as "best". Returns that model (eval mode) and the checkpoint without weights."""
    device = distributed.current().device
    torch.manual_seed(config.seed)
    model = StyleClassifier(config).to(device)
    network = distributed.wrap(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    class_weights = torch.as_tensor(balanced_style_weights(train.styles, config.n_styles), device=device)
    x_all = torch.as_tensor(train.grids, dtype=torch.float32, device=device)
    y_all = torch.as_tensor(train.styles, device=device)

    def train_epoch(epoch: int) -> dict[str, float]:
        network.train()
        batches = list(distributed.shard_batches(len(x_all), config.batch_size, epoch, config.seed))
        shown = progress(batches, length=len(batches), label=f"style classifier {epoch}/{config.epochs}") \
            if show_progress else batches
        total = 0.0
        for idx in shown:
            loss = F.cross_entropy(network(x_all[idx]), y_all[idx], weight=class_weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) / len(batches)
        return {"train_loss": total}

    def evaluate(epoch: int) -> dict[str, Any]:
        return {"val_balanced_accuracy": style_scores(model, validation)["balanced_accuracy"]}

    checkpoint = fit(Trainable(KIND, variant, config, {"model": model}, {"adam": optimizer}, train_epoch, evaluate,
                               best="val_balanced_accuracy"), run_dir, log)
    if distributed.current().is_main:
        model, _ = load_style_classifier(Path(run_dir) / CHECKPOINT_FILE)
    model.eval()
    return model, checkpoint


def load_style_classifier(path: str | Path) -> tuple[StyleClassifier, dict[str, Any]]:
    """Rebuild a trained classifier (its best epoch) from its checkpoint, in eval mode."""
    return load_model(path, KIND, lambda config: StyleClassifier(StyleClassifierConfig(**config)), "best", "model")


def get_classifier_config(variant: str, **overrides: Any) -> StyleClassifierConfig:
    """The registered classifier config with optional overrides."""
    return replace(CLASSIFIER_VARIANTS[variant], **overrides)
