"""The letter classifier: a small CNN that is the instrument measuring a GAN's mode coverage.

It must be accurate (>= 99 % on validation) or the coverage numbers mean nothing.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from edgegen.training.common import load_checkpoint, progress, save_checkpoint

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


def train_classifier(data: dict[str, np.ndarray], config: ClassifierConfig, out_path: str | Path,
                     log=print) -> dict:
    """Train on data['x_train'], pick the epoch with the best validation accuracy, save it, return the checkpoint."""
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    model = build_classifier(config)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    x = torch.as_tensor(data["x_train"]).unsqueeze(1)
    y = torch.as_tensor(data["y_train"])
    best: dict | None = None
    start = time.time()
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        batches = range(0, len(x), config.batch_size)
        for i in progress(batches, length=len(batches), label=f"classifier epoch {epoch}"):
            idx = order[i:i + config.batch_size]
            loss = F.cross_entropy(model(_random_shift(x[idx], config.augment_shift, gen)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        val_acc = accuracy(model, data["x_val"], data["y_val"])
        log(f"classifier epoch {epoch}: loss {loss.item():.4f} val accuracy {val_acc:.4f}")
        if best is None or val_acc > best["val_accuracy"]:
            best = {"kind": KIND, "variant": "classifier", "config": asdict(config), "epoch": epoch,
                    "model": {k: v.clone() for k, v in model.state_dict().items()},
                    "val_accuracy": val_acc, "metrics": {"val_accuracy": val_acc},
                    "train_seconds": 0.0}
    best["train_seconds"] = time.time() - start
    save_checkpoint(best, out_path)
    return best


def load_classifier(path: str | Path) -> tuple[LetterClassifier, dict]:
    """The classifier in eval mode and its checkpoint (without weights)."""
    ckpt = load_checkpoint(path)
    if ckpt.get("kind") != KIND:
        raise ValueError(f"{path}: not a letter classifier checkpoint")
    model = build_classifier(ClassifierConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, {k: v for k, v in ckpt.items() if k != "model"}


def load_classifier_for_export(path: str | Path) -> tuple[nn.Module, dict]:
    """forward(x [N,1,28,28] float32 in [0,1]) -> logits [N,26]; info has config and val_accuracy."""
    model, ckpt = load_classifier(path)
    info = {"config": ckpt["config"], "val_accuracy": ckpt["val_accuracy"], "epoch": ckpt["epoch"],
            "metrics": ckpt.get("metrics", {}), "variant": "classifier"}
    return model, info
