"""The letter classifier: a small CNN that is the instrument measuring a GAN's mode coverage.

It must be accurate (>= 99 % on validation) or the coverage numbers mean nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from edgegen.training import distributed
from edgegen.training.checkpoint import load_model
from edgegen.training.common import progress
from edgegen.training.loop import Trainable, fit

KIND = "letter_classifier"


@dataclass
class ClassifierConfig:
    channels1: int = 32        # first conv block's channels
    channels2: int = 64        # second conv block's channels
    hidden: int = 128          # width of the dense layer before the 26 logits
    dropout: float = 0.3       # dropout before the last layer
    epochs: int = 8            # passes over the training set
    batch_size: int = 64       # images per step
    lr: float = 1e-3           # Adam learning rate
    seed: int = 0              # weight init and shuffling
    augment_shift: int = 2     # random +- pixel shift while training, so it also scores off-centre GAN glyphs


class LetterClassifier(nn.Module):
    """conv-conv-pool, conv-conv-pool, dense, 26 logits."""

    def __init__(self, channels1: int = 32, channels2: int = 64, hidden: int = 128, dropout: float = 0.3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels1, 3, padding=1), nn.ReLU(),          # [N, c1, 28, 28]
            nn.Conv2d(channels1, channels1, 3, padding=1), nn.ReLU(),  # [N, c1, 28, 28]
            nn.MaxPool2d(2),                                           # [N, c1, 14, 14]
            nn.Conv2d(channels1, channels2, 3, padding=1), nn.ReLU(),  # [N, c2, 14, 14]
            nn.MaxPool2d(2),                                           # [N, c2, 7, 7]
        )
        self.head = nn.Sequential(
            nn.Flatten(),                                              # [N, c2*49]
            nn.Linear(channels2 * 49, hidden), nn.ReLU(),              # [N, hidden]
            nn.Dropout(dropout),
            nn.Linear(hidden, 26),                                     # [N, 26]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_classifier(config: ClassifierConfig) -> LetterClassifier:
    return LetterClassifier(config.channels1, config.channels2, config.hidden, config.dropout)


def _random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    if max_shift <= 0:
        return x
    dx, dy = (torch.randint(-max_shift, max_shift + 1, (2,), generator=gen)).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


@torch.no_grad()
def predict_proba(model: nn.Module, images: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Softmax probabilities [N, 26] for images [N, 28, 28] or [N, 1, 28, 28] in [0, 1]."""
    model.eval()
    x = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(-1, 1, 28, 28)
    out = [F.softmax(model(x[i:i + batch_size]), dim=1) for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, 26), np.float32)


def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    return float((predict_proba(model, images).argmax(1) == labels).mean())


def train_classifier(data: dict[str, np.ndarray], config: ClassifierConfig, run_dir: str | Path,
                     log=print) -> dict:
    """Train on data['x_train'] into RUN_DIR (resumable); the checkpoint keeps the epoch with the best
    validation accuracy as "best". Returns the checkpoint without weights."""
    processes = distributed.current()
    torch.manual_seed(config.seed)
    shifts = torch.Generator().manual_seed(config.seed)
    model = build_classifier(config)
    network = distributed.wrap(model)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    x = torch.as_tensor(data["x_train"]).unsqueeze(1).to(processes.device)
    y = torch.as_tensor(data["y_train"]).to(processes.device)

    def train_epoch(epoch: int) -> dict[str, float]:
        network.train()
        batches = list(distributed.shard_batches(len(x), config.batch_size, epoch, config.seed))
        total = 0.0
        for idx in progress(batches, length=len(batches), label=f"classifier epoch {epoch}"):
            loss = F.cross_entropy(network(_random_shift(x[idx], config.augment_shift, shifts)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() / len(batches)
        return {"loss": total}

    def evaluate(epoch: int) -> dict:
        val_accuracy = accuracy(model, data["x_val"], data["y_val"])
        log(f"classifier epoch {epoch}: val accuracy {val_accuracy:.4f}")
        return {"val_accuracy": val_accuracy}

    return fit(Trainable(KIND, "classifier", config, {"model": model}, {"adam": opt}, train_epoch, evaluate,
                         generators={"shifts": shifts}, best="val_accuracy"), run_dir, log)


def load_classifier(path: str | Path) -> tuple[LetterClassifier, dict]:
    """The classifier (its best epoch) in eval mode, and its checkpoint without weights."""
    return load_model(path, KIND, lambda config: build_classifier(ClassifierConfig(**config)), "best", "model")
