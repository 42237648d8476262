"""Hierarchical VAE for one-bar drum bars in HVO form [16 steps, 9 instruments x 3] (DESIGN section 4).

A bar is hits, velocities (0-1) and offsets from the grid (-0.5..0.5 of a 16th), as in
GrooVAE (Gillick et al., 2019). Inference is bottom-up: Conv1d over the 16 steps of all
27 channels -> shared features -> q(z_low|x) (12-d) and, from the same features,
q(z_high|x) (4-d). Generation is top-down: z_high ~ p(z_high | style) (a learned
Gaussian per style), z_low ~ p(z_low | z_high), x ~ decoder(z_high, z_low), whose last
layer has three heads: hit logits, velocities (sigmoid) and offsets (tanh / 2). The
velocity and offset heads are trained only where the bar has a hit (a rest has neither),
so they say how a hit at that cell would be played, and a hit that decoding adds
(complexity) still gets a velocity and an offset. The KL of z_low is taken against that conditional
prior, so fixing z_high and resampling z_low varies a groove within its style.

The style prior is what makes "sample jazz" work: an unsupervised 4-d z_high
separates GMD styles poorly (DESIGN section 9), so z_high's KL is taken against
the prior of the bar's own style, and a small cross-entropy term asks each bar's
z_high to be most likely under its own style's Gaussian. The unsupervised variant
(z_high ~ N(0, I)) stays in the registry for the ablation.

Every size is a constructor argument; VARIANTS is the one registry of named
recipes, and checkpoints store the variant name with its full config.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgegen.runtime.drum_spec import HVO_CHANNELS, INSTRUMENTS, STEPS, STYLES
from edgegen.training.checkpoint import load_model

KIND = "drum_vae"
LOGVAR_MIN, LOGVAR_MAX = -10.0, 6.0  # keeps exp() finite; posteriors never need more range
# Hit logits are clamped here: beyond it a cell is certain (probability 1 - 1e-7) and every calibrated threshold,
# complexity included, lies far inside (within +-7; an instrument a style never plays sits at 30, above it). Unclamped,
# logits of 40 differed between torch and onnxruntime by 3 float32 ulps (1.1e-5), over the export's 1e-5 parity bound.
LOGIT_LIMIT = 16.0


@dataclass
class DrumVAEConfig:
    """One training recipe: model sizes, loss weights, schedules, optimiser."""

    z_high: int = 4  # style latent size
    z_low: int = 12  # variation latent size
    n_styles: int = len(STYLES)  # rows of the style prior
    conv_channels: int = 64  # encoder Conv1d channels over the 16 steps
    hidden: int = 256  # encoder features and decoder first layer width
    prior_hidden: int = 64  # width of the p(z_low | z_high) network
    decoder_channels: int = 64  # decoder Conv1d channels over the 16 steps
    dropout: float = 0.0  # dropout on the encoder features and the decoder's projection (regularises)
    style_prior: bool = True  # learned p(z_high | style); False = unsupervised N(0, I)
    style_ce_weight: float = 1.0  # weight of "z_high is most likely under its own style's Gaussian"
    style_ce_balanced: bool = True  # weigh that cross-entropy by inverse style frequency (rock has 10x electronic)
    beta_high: float = 0.05  # KL weight of z_high (beta < 1 trades KL for reconstruction)
    beta_low: float = 0.05  # KL weight of z_low
    kl_schedule: str = "cyclical"  # "none", "linear" or "cyclical" annealing of both KL weights
    kl_cycles: int = 4  # cycles of the cyclical schedule
    kl_rise: float = 0.5  # share of each cycle (or of the linear warm-up span) spent rising
    linear_span: float = 0.5  # share of training over which the linear schedule rises
    free_bits: float = 0.25  # nats per dimension below which a dimension's KL is not penalised
    velocity_weight: float = 3.0  # weight of the squared velocity error, summed over a bar's hits
    offset_weight: float = 3.0  # weight of the squared offset error (in steps), summed over a bar's hits
    groove_branch: bool = False  # velocities and offsets from their own decoder branch instead of the hits' last layer
    groove_detach: bool = False  # that branch reads the latents without sending gradient back (latents carry hits)
    temperature_start: float = 1.5  # output temperature at the start, annealed to 1 over the first half
    epochs: int = 30  # passes over the training bars (validation F1 stops rising around 25)
    batch_size: int = 128  # bars per step
    lr: float = 2e-3  # Adam learning rate
    lr_final: float = 0.05  # cosine decay of the learning rate to lr * lr_final by the last epoch (1 = constant)
    val_every: int = 5  # validate (and checkpoint) every this many epochs
    seed: int = 0  # torch and numpy seed
    # also fit GMD's validation bars; the recipe was chosen on them, so the final model may then learn from them
    # (its validation scores become in-sample; the test bars stay unseen)
    include_validation: bool = False


VARIANTS: dict[str, DrumVAEConfig] = {
    # The recipe `all` trains and exports.
    "final": DrumVAEConfig(include_validation=True),
    # Ablation: the annealing and free-bits switches, then the unsupervised z_high.
    "ablation_none": DrumVAEConfig(kl_schedule="none", free_bits=0.0),
    "ablation_linear": DrumVAEConfig(kl_schedule="linear", free_bits=0.0),
    "ablation_cyclical": DrumVAEConfig(kl_schedule="cyclical", free_bits=0.0),
    "ablation_cyclical_freebits": DrumVAEConfig(kl_schedule="cyclical", free_bits=0.25),  # = final, train bars only
    "ablation_unsupervised": DrumVAEConfig(style_prior=False, style_ce_weight=0.0),
    # How hard z_high is tied to style: the earlier unweighted cross-entropy, and a stronger weight.
    "ablation_style_ce_unbalanced": DrumVAEConfig(style_ce_balanced=False),
    "ablation_style_ce2": DrumVAEConfig(style_ce_weight=2.0),
    # The same switches at beta 1 (the second report's setting), where collapse has room to happen.
    "ablation_none_beta1": DrumVAEConfig(kl_schedule="none", free_bits=0.0, beta_high=1.0, beta_low=1.0),
    "ablation_cyclical_freebits_beta1": DrumVAEConfig(beta_high=1.0, beta_low=1.0),
    # Explored while adding velocities and offsets (reports/drums/README.md), not part of `all`:
    "hits_only": DrumVAEConfig(velocity_weight=0.0, offset_weight=0.0),  # HVO in, hits learned only
    "groove_weight10": DrumVAEConfig(velocity_weight=10.0, offset_weight=10.0, beta_high=0.1, beta_low=0.1),
    "groove_branch_detached": DrumVAEConfig(groove_branch=True, groove_detach=True),
    "style_ce_half": DrumVAEConfig(style_ce_weight=0.5),
    # Tests and --quick: tiny and fast.
    "tiny": DrumVAEConfig(conv_channels=8, hidden=32, prior_hidden=16, decoder_channels=8, epochs=2,
                          batch_size=64, val_every=1),
}
ABLATION = ("ablation_none", "ablation_linear", "ablation_cyclical", "ablation_cyclical_freebits",
            "ablation_unsupervised", "ablation_style_ce_unbalanced", "ablation_style_ce2", "ablation_none_beta1",
            "ablation_cyclical_freebits_beta1")


def get_config(variant: str, **overrides: Any) -> DrumVAEConfig:
    """The registered config of ``variant`` with optional field overrides (e.g. epochs for --quick)."""
    if variant not in VARIANTS:
        raise KeyError(f"unknown drum VAE variant {variant!r}; known: {sorted(VARIANTS)}")
    return replace(VARIANTS[variant], **overrides)


# ----------------------------------------------------------------------------- modules


class Encoder(nn.Module):
    """Bottom-up inference: bars -> (mu_high, logvar_high, mu_low, logvar_low)."""

    def __init__(self, in_channels: int, steps: int, conv_channels: int, hidden: int, z_high: int, z_low: int,
                 dropout: float = 0.0):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(in_channels, conv_channels, 3, padding=1), nn.ReLU(),  # [N, C, 16]
            nn.Conv1d(conv_channels, conv_channels, 3, padding=1), nn.ReLU(),  # [N, C, 16]
        )
        self.features = nn.Sequential(nn.Linear(conv_channels * steps, hidden), nn.ReLU(),  # [N, H]
                                      nn.Dropout(dropout))
        self.low = nn.Linear(hidden, 2 * z_low)  # [N, 2*z_low]
        self.high = nn.Sequential(nn.Linear(hidden, hidden // 2), nn.ReLU(),  # [N, H/2]
                                  nn.Linear(hidden // 2, 2 * z_high))  # [N, 2*z_high]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.conv(x.transpose(1, 2))  # [N, 16, 27] -> [N, 27, 16] -> [N, C, 16]
        h = self.features(h.flatten(1))  # [N, H]
        mu_low, logvar_low = self.low(h).chunk(2, dim=1)  # [N, z_low] x2
        mu_high, logvar_high = self.high(h).chunk(2, dim=1)  # [N, z_high] x2
        return (mu_high, logvar_high.clamp(LOGVAR_MIN, LOGVAR_MAX),
                mu_low, logvar_low.clamp(LOGVAR_MIN, LOGVAR_MAX))


class PriorLow(nn.Module):
    """Top-down conditional prior p(z_low | z_high)."""

    def __init__(self, z_high: int, z_low: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_high, hidden), nn.ReLU(),  # [N, P]
                                 nn.Linear(hidden, 2 * z_low))  # [N, 2*z_low]

    def forward(self, z_high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(z_high).chunk(2, dim=1)  # [N, z_low] x2
        return mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)


class Decoder(nn.Module):
    """(z_high, z_low) -> hit logits, velocities (0-1), offsets (-0.5..0.5) [N, 16, 9] each.

    The Conv1d layers shape each step from its neighbours; one 1x1 conv gives all three heads.
    """

    def __init__(self, z_high: int, z_low: int, hidden: int, channels: int, steps: int, n_instruments: int,
                 dropout: float = 0.0, groove_branch: bool = False, groove_detach: bool = False):
        super().__init__()
        self.channels, self.steps, self.n_instruments = channels, steps, n_instruments
        self.groove_detach = groove_detach
        self.trunk = self._branch(z_high + z_low, hidden, channels, steps, n_instruments * (1 if groove_branch else 3),
                                  dropout)  # [N, 9 or 27, 16]
        self.groove = self._branch(z_high + z_low, hidden, channels, steps, 2 * n_instruments, dropout) \
            if groove_branch else None  # [N, 18, 16]: velocity, offset

    @staticmethod
    def _branch(z: int, hidden: int, channels: int, steps: int, out: int, dropout: float) -> nn.Module:
        return nn.Sequential(
            nn.Linear(z, hidden), nn.ReLU(),  # [N, H]
            nn.Linear(hidden, channels * steps), nn.ReLU(),  # [N, C*16]
            nn.Dropout(dropout),
            nn.Unflatten(1, (channels, steps)),  # [N, C, 16]
            nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(),  # [N, C, 16]
            nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(),  # [N, C, 16]
            nn.Conv1d(channels, out, 1),  # [N, out, 16]
        )

    def forward(self, z_high: torch.Tensor, z_low: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = torch.cat([z_high, z_low], dim=1)  # [N, z_high + z_low]
        out = self.trunk(z).transpose(1, 2)  # [N, 16, 9 or 27]
        if self.groove is not None:
            groove = self.groove(z.detach() if self.groove_detach else z).transpose(1, 2)  # [N, 16, 18]
            out = torch.cat([out, groove], dim=2)  # [N, 16, 27]
        logits, velocity, offset = out.split(self.n_instruments, dim=2)  # [N, 16, 9] x3
        return logits.clamp(-LOGIT_LIMIT, LOGIT_LIMIT), torch.sigmoid(velocity), 0.5 * torch.tanh(offset)


class HierarchicalDrumVAE(nn.Module):
    """Encoder, conditional prior, decoder and the per-style Gaussian prior of z_high."""

    def __init__(self, config: DrumVAEConfig):
        super().__init__()
        c = config
        self.config = config
        n_inst = len(INSTRUMENTS)
        self.encoder = Encoder(HVO_CHANNELS, STEPS, c.conv_channels, c.hidden, c.z_high, c.z_low, c.dropout)
        self.prior_low = PriorLow(c.z_high, c.z_low, c.prior_hidden)
        self.decoder = Decoder(c.z_high, c.z_low, c.hidden, c.decoder_channels, STEPS, n_inst, c.dropout,
                               c.groove_branch, c.groove_detach)
        # p(z_high | style): start the means apart on a small random layout so styles can separate.
        generator = torch.Generator().manual_seed(c.seed)
        init_mu = torch.randn(c.n_styles, c.z_high, generator=generator) if c.style_prior else \
            torch.zeros(c.n_styles, c.z_high)
        self.style_prior_mu = nn.Parameter(init_mu, requires_grad=c.style_prior)  # [S, z_high]
        self.style_prior_logvar = nn.Parameter(torch.zeros(c.n_styles, c.z_high),
                                               requires_grad=c.style_prior)  # [S, z_high]

    def high_prior(self, styles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prior (mu, logvar) of z_high for each bar's style [N] -> [N, z_high] x2."""
        return self.style_prior_mu[styles], self.style_prior_logvar[styles].clamp(LOGVAR_MIN, LOGVAR_MAX)

    def style_logits(self, z_high: torch.Tensor) -> torch.Tensor:
        """log p(z_high | style) for every style [N, S]: the prior read as a classifier."""
        mu = self.style_prior_mu[None]  # [1, S, z]
        logvar = self.style_prior_logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)[None]  # [1, S, z]
        diff = z_high[:, None, :] - mu  # [N, S, z]
        return -0.5 * (diff.pow(2) / logvar.exp() + logvar + math.log(2 * math.pi)).sum(-1)


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(N(mu_q, var_q) || N(mu_p, var_p)), same shape as the inputs."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp() - 1.0)


def kl_weight(config: DrumVAEConfig, progress: float) -> float:
    """Annealing factor in [0, 1] at ``progress`` in [0, 1] of training."""
    if config.kl_schedule == "none":
        return 1.0
    if config.kl_schedule == "linear":
        return min(1.0, progress / max(config.linear_span, 1e-9))
    if config.kl_schedule == "cyclical":
        position = (progress * config.kl_cycles) % 1.0
        return min(1.0, position / config.kl_rise)
    raise ValueError(f"unknown kl_schedule {config.kl_schedule!r}")


def output_temperature(config: DrumVAEConfig, progress: float) -> float:
    """Decoder temperature, annealed linearly from temperature_start to 1 over the first half."""
    return 1.0 + (config.temperature_start - 1.0) * max(0.0, 1.0 - 2.0 * progress)


# ----------------------------------------------------------------------------- loading


def load_vae(path: str | Path) -> tuple[HierarchicalDrumVAE, dict[str, Any]]:
    """Rebuild a trained VAE from its checkpoint (config inside), in eval mode, and the checkpoint without weights."""
    return load_model(path, KIND, lambda config: HierarchicalDrumVAE(DrumVAEConfig(**config)), "model")


def style_priors(model: HierarchicalDrumVAE) -> tuple[np.ndarray, np.ndarray]:
    """The per-style Gaussians of z_high as the runtime uses them: (mu, logvar) [styles, z_high], logvar clamped."""
    return (model.style_prior_mu.detach().cpu().numpy().astype(np.float32),
            model.style_prior_logvar.detach().clamp(LOGVAR_MIN, LOGVAR_MAX).cpu().numpy().astype(np.float32))


class TorchDrumModel:
    """A trained VAE seen through the drum_controls.DrumModel protocol (numpy in, numpy out).

    ``calibration`` {"hit_thresholds": [styles, 9], "velocity_gain": [styles]} comes from the file
    beside the checkpoint (training.drums.calibration); without one every threshold is logit 0
    (probability 0.5) and every gain 1.
    """

    def __init__(self, model: HierarchicalDrumVAE, calibration: dict[str, np.ndarray] | None = None):
        self.model = model.eval()
        self.styles = list(STYLES)
        self.style_prior_mu, self.style_prior_logvar = style_priors(model)
        calibration = calibration or {}
        self.hit_thresholds = np.asarray(calibration.get(
            "hit_thresholds", np.zeros((len(STYLES), len(INSTRUMENTS)))), np.float32)  # [S, 9]
        self.velocity_gain = np.asarray(calibration.get("velocity_gain", np.ones(len(STYLES))), np.float32)  # [S]

    @torch.no_grad()
    def encode(self, hvo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return tuple(t.numpy() for t in self.model.encoder(torch.as_tensor(hvo, dtype=torch.float32)))

    @torch.no_grad()
    def prior_low(self, z_high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return tuple(t.numpy() for t in self.model.prior_low(torch.as_tensor(z_high, dtype=torch.float32)))

    @torch.no_grad()
    def decode(self, z_high: np.ndarray, z_low: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = self.model.decoder(torch.as_tensor(z_high, dtype=torch.float32),
                                 torch.as_tensor(z_low, dtype=torch.float32))
        return tuple(t.numpy() for t in out)
