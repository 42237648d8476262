"""Letter GANs: a DCGAN-style generator and discriminator whose stabilisers are switches in one config.

Every named variant is a ``GanConfig`` in ``VARIANTS``; checkpoints record the variant name and the
full config, so ``load_generator`` rebuilds the network without any flags.
The stabilisers live in the discriminator (spectral norm, minibatch discrimination, minibatch
stddev, packing, the InfoGAN Q head) or in the training loop (feature matching, unrolling, EMA),
so the generator stays a plain Linear + (transposed-)conv stack that exports cleanly to ONNX; its
InfoGAN code is computed from z inside the graph, so an unconditional model still takes only z.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn as nn

from edgegen.runtime.letter_spec import N_LETTERS
from edgegen.training.checkpoint import load_model

KIND = "letter_gan"
N_CLASSES = N_LETTERS


@dataclass
class GanConfig:
    z_dim: int = 64                  # latent size
    g_channels: int = 64             # generator channels at 7x7
    g_mid_channels: int = 32         # generator channels at 14x14
    g_out_channels: int = 0          # >0: channels at 28x28 before a final 3x3 conv (smooths checkerboard); 0 = none
    g_upsample: bool = False         # nearest-neighbour upsampling + 3x3 conv instead of transposed convs (no checkerboard)
    d_channels: int = 32             # discriminator channels at 14x14
    d_mid_channels: int = 64         # discriminator channels at 7x7 (these features feed feature matching)
    d_dropout: float = 0.3           # dropout after each discriminator conv
    conditional: bool = False        # G gets a one-hot letter; D scores (image, letter) by projection
    aux_classifier_weight: float = 0.0   # >0: D also learns the letter of real images; conditional G must match
                                     # the requested letter (AC-GAN), unconditional G must draw clear letters that
                                     # use all 26 evenly (per-sample minus batch entropy, as CatGAN / AM-GAN)
    code_categories: int = 0         # >0: InfoGAN categorical code: the argmax of the first K latent dims (uniform over
                                     # K, no extra input) picks a one-hot code G also reads; D's Q head must recover it,
                                     # so G draws K distinct kinds of image instead of blends between them (no labels)
    info_weight: float = 1.0         # weight of that code-recovery loss (lambda of InfoGAN)
    feature_matching: bool = False   # G matches mean D features of real data instead of fooling D
    minibatch_disc_kernels: int = 0  # >0: minibatch discrimination with this many kernels (B)
    minibatch_disc_dim: int = 4      # size of each minibatch-discrimination kernel (C)
    minibatch_stddev: bool = False   # append the batch's feature std as an extra channel (ProGAN)
    pack: int = 1                    # PacGAN: D judges this many samples jointly (1 = off)
    spectral_norm: bool = False      # spectral normalisation of every D layer
    ema_decay: float = 0.0           # >0: keep an exponential moving average of G; it is what is evaluated/exported
    augment_shift: int = 0           # >0: DiffAugment-style random shift (+- pixels) of every image D sees, real and fake
    unrolled_steps: int = 0          # >0: G sees D after this many extra (first-order) D steps
    epochs: int = 30                 # passes over the 5,200 training images
    batch_size: int = 64             # images per step (as in the report)
    lr: float = 2e-4                 # Adam learning rate for G and D
    beta1: float = 0.5               # Adam beta1
    beta2: float = 0.999             # Adam beta2
    eval_every: int = 10             # metrics and a sample grid every this many epochs (and at epoch 1 and the end)
    eval_samples: int = 1040         # generated images scored per evaluation (>= 1000; a multiple of 26)
    max_steps_per_epoch: int = 0     # >0: cut epochs short (tests only)
    seed: int = 0                    # weights, data order and noise


# Epochs are 0.6x those of the committed study (20 / 15 / 10 / 30 / 35 -> 12 / 9 / 6 / 18 / 21), so that the GAN
# study (2 processes of 1 thread) takes ~8 minutes on a quiet 2-core machine and `make train-letters`, which now
# also trains the letter style model (~25 minutes), fits in 45. reports/letters/README.md says what this changes.
_BASE = GanConfig(epochs=12, eval_every=5)
_SWITCH = replace(_BASE, epochs=9)
VARIANTS: dict[str, GanConfig] = {
    # the report's study
    "vanilla": _BASE,
    "conditional": replace(_BASE, conditional=True),
    "feature_matching": replace(_BASE, feature_matching=True),
    "minibatch_disc": replace(_BASE, minibatch_disc_kernels=16, minibatch_disc_dim=4),
    "unrolled": replace(_BASE, unrolled_steps=5, epochs=6),
    # what the field has learned since, one switch at a time
    "minibatch_stddev": replace(_SWITCH, minibatch_stddev=True),
    "pacgan": replace(_SWITCH, pack=2),
    "spectral_norm": replace(_SWITCH, spectral_norm=True),
    "ema": replace(_SWITCH, ema_decay=0.995),
    "diffaugment": replace(_SWITCH, augment_shift=2),
    # combinations
    "stabilised": replace(_BASE, epochs=18, spectral_norm=True, pack=2, minibatch_stddev=True, ema_decay=0.995),
    "letter_balanced": replace(_BASE, epochs=21, spectral_norm=True, minibatch_stddev=True, ema_decay=0.995,
                               aux_classifier_weight=2.0),
    # a cleaner generator (upsample + conv, a 28x28 layer) and a 52-way InfoGAN code (about two per letter):
    # G draws distinct glyphs instead of blends; without labels, then with letter_balanced's letter head
    "infogan": replace(_BASE, epochs=21, spectral_norm=True, minibatch_stddev=True, ema_decay=0.995,
                       g_upsample=True, g_out_channels=16, code_categories=52),
    "infogan_balanced": replace(_BASE, epochs=21, spectral_norm=True, minibatch_stddev=True, ema_decay=0.995,
                                aux_classifier_weight=2.0, g_upsample=True, g_out_channels=16, code_categories=52),
    # stays with transposed convs: the upsampling generator drew smoother glyphs but a classifier trained only on
    # 23 fonts it never saw read fewer of them (0.983 vs 0.994 of 520 renders), and our own one agreed
    "conditional_stabilised": replace(_BASE, epochs=21, conditional=True, spectral_norm=True, ema_decay=0.995,
                                      aux_classifier_weight=3.0, d_dropout=0.5, augment_shift=2),
}
DEFAULT_CONDITIONAL = "conditional_stabilised"


class UnknownVariantError(KeyError):
    def __str__(self) -> str:
        return f"unknown variant {self.args[0]!r}; choose one of: {', '.join(VARIANTS)}"


def get_variant(name: str) -> GanConfig:
    if name not in VARIANTS:
        raise UnknownVariantError(name)
    return VARIANTS[name]


class Generator(nn.Module):
    """z (+ one-hot letter) -> Linear -> 7x7 -> 14x14 -> 28x28 sigmoid image (ink = 1)."""

    def __init__(self, z_dim: int, channels: int, mid_channels: int, n_classes: int = 0, out_channels: int = 0,
                 upsample: bool = False, code_categories: int = 0):
        super().__init__()
        self.z_dim, self.channels, self.n_classes, self.code_categories = z_dim, channels, n_classes, code_categories
        width = z_dim + n_classes + code_categories
        self.project = nn.Sequential(
            nn.Linear(width, channels * 49, bias=False),                      # [N, c*49]
            nn.BatchNorm1d(channels * 49), nn.ReLU(),
        )
        def up(c_in: int, c_out: int, bias: bool = False) -> list[nn.Module]:
            """Doubles the side: a 4x4 stride-2 transposed conv, or nearest upsampling + 3x3 conv."""
            if upsample:
                return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias)]
            return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias)]

        layers = [*up(channels, mid_channels), nn.BatchNorm2d(mid_channels), nn.ReLU()]    # [N, mid, 14, 14]
        if out_channels:
            layers += [
                *up(mid_channels, out_channels), nn.BatchNorm2d(out_channels), nn.ReLU(),  # [N, out, 28, 28]
                nn.Conv2d(out_channels, 1, 3, padding=1),                             # [N, 1, 28, 28]
            ]
        else:
            layers += up(mid_channels, 1, bias=True)                                  # [N, 1, 28, 28]
        self.upsample = nn.Sequential(*layers, nn.Sigmoid())

    def code(self, z: torch.Tensor) -> torch.Tensor:
        """The InfoGAN code of each z [N, K]: one-hot of the argmax of its first K dims (uniform over K).

        Written with max/equal rather than argmax/one_hot so the ONNX graph needs only elementary ops.
        """
        head = z[:, :self.code_categories]
        return (head == head.amax(1, keepdim=True)).float()

    def forward(self, z: torch.Tensor, onehot: torch.Tensor | None = None) -> torch.Tensor:
        if self.code_categories:
            z = torch.cat([z, self.code(z)], dim=1)                           # [N, z + K]
        if self.n_classes:
            z = torch.cat([z, onehot], dim=1)                                 # [N, z (+ K) + 26]
        return self.upsample(self.project(z).view(-1, self.channels, 7, 7))


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016: per-sample closeness to the rest of the batch, B kernels of size C."""

    def __init__(self, in_features: int, kernels: int, kernel_dim: int):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m = (h @ self.T).view(-1, self.kernels, self.kernel_dim)             # [N, B, C]
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(3)                   # [N, N, B]
        return torch.exp(-l1).sum(1) - 1.0                                    # [N, B]


class Discriminator(nn.Module):
    """(pack x) 28x28 -> 14x14 -> 7x7 conv features -> real/fake logit (+ letter projection, + letter logits)."""

    def __init__(self, channels: int, mid_channels: int, dropout: float, pack: int = 1, n_classes: int = 0,
                 spectral_norm: bool = False, minibatch_stddev: bool = False,
                 minibatch_disc_kernels: int = 0, minibatch_disc_dim: int = 4, aux_classes: int = 0,
                 code_categories: int = 0):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        self.pack, self.minibatch_stddev = pack, minibatch_stddev
        self.features = nn.Sequential(
            sn(nn.Conv2d(pack, channels, 4, 2, 1)), nn.LeakyReLU(0.2), nn.Dropout(dropout),      # [N/p, c, 14, 14]
            sn(nn.Conv2d(channels, mid_channels, 4, 2, 1)), nn.LeakyReLU(0.2), nn.Dropout(dropout),  # [N/p, m, 7, 7]
            nn.Flatten(),                                                                      # [N/p, m*49]
        )
        n_features = mid_channels * 49
        head_in = n_features + (49 if minibatch_stddev else 0)
        self.mbd = MinibatchDiscrimination(n_features, minibatch_disc_kernels, minibatch_disc_dim) \
            if minibatch_disc_kernels else None
        head_in += minibatch_disc_kernels
        self.head = sn(nn.Linear(head_in, 1))                                                  # [N/p, 1]
        self.projection = sn(nn.Linear(n_classes, n_features, bias=False)) if n_classes else None
        self.aux = nn.Linear(n_features, aux_classes) if aux_classes else None                 # [N, 26]
        self.code_head = nn.Linear(n_features, code_categories) if code_categories else None   # [N, K] InfoGAN Q

    def forward(self, x: torch.Tensor, onehot: torch.Tensor | None = None):
        """Returns (logit [N/p], features [N/p, m*49], letter logits [N/p, 26] or None)."""
        x = x.reshape(-1, self.pack, 28, 28)                                                   # [N/p, p, 28, 28]
        f = self.features(x)
        h = f
        if self.minibatch_stddev:
            std = f.std(dim=0).mean()                                                          # scalar
            h = torch.cat([h, std.expand(len(f), 49)], dim=1)                                  # [N/p, m*49 + 49]
        if self.mbd is not None:
            h = torch.cat([h, self.mbd(f)], dim=1)                                             # [N/p, ... + B]
        logit = self.head(h).squeeze(1)
        if self.projection is not None:
            logit = logit + (self.projection(onehot) * f).sum(1)
        aux = self.aux(f) if self.aux is not None else None
        return logit, f, aux


def build_generator(config: GanConfig) -> Generator:
    return Generator(config.z_dim, config.g_channels, config.g_mid_channels,
                     N_CLASSES if config.conditional else 0, config.g_out_channels, config.g_upsample,
                     config.code_categories)


def build_discriminator(config: GanConfig) -> Discriminator:
    if (config.conditional or config.aux_classifier_weight > 0) and config.pack != 1:
        raise ValueError("packing does not combine with labels in the discriminator (conditional or letter head)")
    if config.code_categories and config.pack != 1:
        raise ValueError("packing does not combine with the InfoGAN code head (it reads one image at a time)")
    if config.code_categories > config.z_dim:
        raise ValueError("code_categories cannot exceed z_dim (the code is the argmax of the first latent dims)")
    return Discriminator(config.d_channels, config.d_mid_channels, config.d_dropout, config.pack,
                         N_CLASSES if config.conditional else 0, config.spectral_norm, config.minibatch_stddev,
                         config.minibatch_disc_kernels, config.minibatch_disc_dim,
                         N_CLASSES if config.aux_classifier_weight > 0 else 0, config.code_categories)


def make_ema(generator: Generator) -> Generator:
    ema = copy.deepcopy(generator)
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


@torch.no_grad()
def update_ema(ema: Generator, generator: Generator, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * generator; BatchNorm running stats are copied."""
    for pe, p in zip(ema.parameters(), generator.parameters()):
        pe.lerp_(p, 1.0 - decay)
    for be, b in zip(ema.buffers(), generator.buffers()):
        be.copy_(b)


def load_generator(path: str | Path) -> tuple[Generator, dict]:
    """Generator in eval mode (the EMA weights when the variant keeps them) and the checkpoint without weights."""
    return load_model(path, KIND, lambda config: build_generator(GanConfig(**config)), "ema_generator", "generator")
