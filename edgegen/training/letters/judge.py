"""The judge: a letter classifier trained only on fonts the style model never sees.

Legibility of generated glyphs is only evidence if the reader did not learn the
generator's own fonts, so the judge learns the FontSet's ``judge`` split alone (with
augmentation: rotation, shear, scale, shift, stroke weight, blur, contrast, so one
glyph per font and letter becomes many) and proves itself on the ``val`` fonts' real
glyphs, which it has not seen either. It reads the 28x28 crops of
:func:`edgegen.training.letters.style_metrics.crop_glyphs`, the frame every style metric
uses, and its penultimate layer gives the features of the Frechet distance.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from edgegen.training.checkpoint import load_model
from edgegen.training.loop import Trainable, fit
from edgegen.training.letters.style_metrics import CROP_SIZE, crop_glyphs

KIND = "letter_judge"
N_LETTERS = 26


@dataclass
class JudgeConfig:
    channels1: int = 32             # first conv block's channels
    channels2: int = 64             # second conv block's channels
    features: int = 64              # penultimate width: the Frechet-distance feature space
    dropout: float = 0.2            # before the logits
    epochs: int = 12                # evaluations on the val fonts; the best one is kept
    samples_per_epoch: int = 6144   # augmented glyphs per epoch (each a judge font's letter, freshly distorted)
    batch_size: int = 64
    lr: float = 2e-3                # Adam; cosine-decayed to 5 % over the run
    seed: int = 0
    max_rotation_deg: float = 8.0   # uniform +-
    max_shear: float = 0.3          # horizontal shear +- (dx/dy): italics of fonts the judge never saw
    min_scale: float = 0.8          # per-axis scale range (condensed / extended faces)
    max_scale: float = 1.1
    max_shift_px: float = 2.0       # uniform +- in both axes
    blur_prob: float = 0.3          # share of samples softened by a 3x3 Gaussian (sigma ~0.8 px)
    stroke_prob: float = 0.5        # share of samples made bolder or lighter by a grey-level 3x3 dilation/erosion
    fonts: str = ""                 # digest of the judge and val fonts (set by train_judge): a run folder's judge
                                    # is reused only for the fonts it learned, else a CheckpointError says so


class JudgeNet(nn.Module):
    """conv-conv-pool, conv-conv-pool (batch-normalised: learns in a few epochs), dense features, 26 logits."""

    def __init__(self, channels1: int = 32, channels2: int = 64, features: int = 64, dropout: float = 0.2):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, channels1, 3, padding=1), nn.BatchNorm2d(channels1), nn.ReLU(),          # [N, c1, 28, 28]
            nn.Conv2d(channels1, channels1, 3, padding=1), nn.BatchNorm2d(channels1), nn.ReLU(),  # [N, c1, 28, 28]
            nn.MaxPool2d(2),                                                                      # [N, c1, 14, 14]
            nn.Conv2d(channels1, channels2, 3, padding=1), nn.BatchNorm2d(channels2), nn.ReLU(),  # [N, c2, 14, 14]
            nn.Conv2d(channels2, channels2, 3, padding=1), nn.BatchNorm2d(channels2), nn.ReLU(),  # [N, c2, 14, 14]
            nn.MaxPool2d(2),                                                                      # [N, c2, 7, 7]
            nn.Flatten(),                                                                         # [N, c2*49]
            nn.Linear(channels2 * 49, features), nn.ReLU(),                                       # [N, features]
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(features, N_LETTERS))  # [N, 26]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def build_judge(config: JudgeConfig) -> JudgeNet:
    return JudgeNet(config.channels1, config.channels2, config.features, config.dropout)


def augment(x: torch.Tensor, config: JudgeConfig, gen: torch.Generator) -> torch.Tensor:
    """Random distortions of crops [B, 1, 28, 28]: affine (rotation, shear, scale, shift), stroke, blur, contrast."""
    b = len(x)

    def uniform(low, high):
        return low + (high - low) * torch.rand(b, generator=gen)

    angle = uniform(-config.max_rotation_deg, config.max_rotation_deg) * math.pi / 180
    shear = uniform(-config.max_shear, config.max_shear)
    sx, sy = uniform(config.min_scale, config.max_scale), uniform(config.min_scale, config.max_scale)
    shift = config.max_shift_px * 2 / CROP_SIZE
    tx, ty = uniform(-shift, shift), uniform(-shift, shift)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # output -> input map of grid_sample: inverse scale, then shear (image y points down, so +shear leans right)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos / sx, (-sin + shear) / sx
    theta[:, 1, 0], theta[:, 1, 1] = sin / sy, cos / sy
    theta[:, 0, 2], theta[:, 1, 2] = tx, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # stroke: blend towards a 3x3 dilation (bolder) or erosion (lighter) by a random amount
    pick = torch.rand(b, generator=gen)
    amount = torch.rand(b, 1, 1, 1, generator=gen)
    dilated = F.max_pool2d(x, 3, 1, 1)
    eroded = -F.max_pool2d(-x, 3, 1, 1)
    bold = (pick < config.stroke_prob / 2).view(b, 1, 1, 1)
    light = ((pick >= config.stroke_prob / 2) & (pick < config.stroke_prob)).view(b, 1, 1, 1)
    x = torch.where(bold, x + amount * (dilated - x), x)
    x = torch.where(light, x + 0.6 * amount * (eroded - x), x)
    # blur a share of them, and dim the ink a little (generated glyphs rarely reach 1.0)
    kernel = torch.tensor([0.27, 0.46, 0.27])
    kernel = (kernel[:, None] * kernel[None, :]).view(1, 1, 3, 3)
    blurred = F.conv2d(x, kernel, padding=1)
    x = torch.where((torch.rand(b, generator=gen) < config.blur_prob).view(b, 1, 1, 1), blurred, x)
    return (x * uniform(0.75, 1.0).view(b, 1, 1, 1)).clamp(0, 1)


class Judge:
    """A trained judge for numpy crops [N, 28, 28] (ink = 1): probabilities [N, 26] and features [N, f]."""

    def __init__(self, model: JudgeNet, checkpoint: dict | None = None):
        self.model = model.eval()
        self.checkpoint = checkpoint or {}

    @torch.no_grad()
    def _run(self, crops: np.ndarray, fn, batch: int = 512) -> np.ndarray:
        x = torch.as_tensor(np.asarray(crops, np.float32)).reshape(-1, 1, CROP_SIZE, CROP_SIZE)
        return torch.cat([fn(x[i:i + batch]) for i in range(0, len(x), batch)]).numpy()

    def probabilities(self, crops: np.ndarray) -> np.ndarray:
        return self._run(crops, lambda x: F.softmax(self.model(x), dim=1))

    def features(self, crops: np.ndarray) -> np.ndarray:
        return self._run(crops, self.model.features)

    @property
    def val_accuracy(self) -> float | None:
        return self.checkpoint.get("metrics", {}).get("val_accuracy")


def split_of(font_set, name: str) -> np.ndarray:
    """Indices of the fonts of one split ('train', 'val' or 'judge')."""
    return np.flatnonzero(np.asarray(font_set.split) == name)


def fonts_digest(font_set) -> str:
    """A short digest of the judge and val fonts (names, canvas and pixels): what a judge checkpoint belongs to."""
    digest = hashlib.sha256()
    for split in ("judge", "val"):
        for index in split_of(font_set, split):
            digest.update(f"{split}:{font_set.names[index]}|".encode())
        digest.update(np.ascontiguousarray(font_set.glyphs[split_of(font_set, split)], np.float32).tobytes())
    return digest.hexdigest()[:16]


def train_judge(font_set, config: JudgeConfig, run_dir: str | Path, log=print) -> Judge:
    """Train on the ``judge`` fonts of ``font_set`` (glyphs [n_fonts, 26, S, S]) into RUN_DIR (resumable);
    keeps the epoch reading the ``val`` fonts' real glyphs best. Raises ValueError without fonts in both."""
    judge_fonts, val_fonts = split_of(font_set, "judge"), split_of(font_set, "val")
    if len(judge_fonts) == 0 or len(val_fonts) == 0:
        raise ValueError(f"the judge needs fonts in the 'judge' and 'val' splits; got {len(judge_fonts)} and "
                         f"{len(val_fonts)}")
    config = replace(config, fonts=fonts_digest(font_set))
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    x = torch.as_tensor(crop_glyphs(font_set.glyphs[judge_fonts])).reshape(-1, 1, CROP_SIZE, CROP_SIZE)
    y = torch.arange(N_LETTERS).repeat(len(judge_fonts))
    val_x = crop_glyphs(font_set.glyphs[val_fonts]).reshape(-1, CROP_SIZE, CROP_SIZE)
    val_y = np.tile(np.arange(N_LETTERS), len(val_fonts))
    model = build_judge(config)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    steps = max(1, config.samples_per_epoch // config.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / (steps * config.epochs)))))

    def train_epoch(epoch: int) -> dict[str, float]:
        model.train()
        total = 0.0
        for _ in range(steps):
            idx = torch.randint(0, len(x), (config.batch_size,), generator=gen)
            loss = F.cross_entropy(model(augment(x[idx], config, gen)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
            total += loss.item() / steps
        return {"loss": total}

    def evaluate(epoch: int) -> dict:
        predicted = Judge(model).probabilities(val_x).argmax(1)
        model.train()
        accuracy = float((predicted == val_y).mean())
        log(f"judge epoch {epoch}: reads the {len(val_fonts)} val fonts' real glyphs with accuracy {accuracy:.4f}")
        return {"val_accuracy": accuracy, "n_judge_fonts": int(len(judge_fonts)), "n_val_fonts": int(len(val_fonts))}

    fit(Trainable(KIND, "judge", config, {"model": model}, {"adam": opt, "schedule": schedule}, train_epoch,
                  evaluate, generators={"augment": gen}, best="val_accuracy"), run_dir, log)
    return load_judge(Path(run_dir) / "checkpoint.pt")


def load_judge(path: str | Path) -> Judge:
    """The judge's best epoch, rebuilt from its checkpoint alone (weights_only)."""
    model, checkpoint = load_model(path, KIND, lambda config: build_judge(JudgeConfig(**config)), "best", "model")
    return Judge(model, checkpoint)
