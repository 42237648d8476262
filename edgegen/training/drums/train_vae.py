"""Training of the hierarchical drum VAE: annealed KL, free bits, validation.

:func:`train_vae` takes a registered config and a corpus and leaves RUN/checkpoint.pt
and RUN/log.json through the shared loop (training.loop.fit): calling it again on
the same folder resumes. Under torchrun the objective (:class:`VaeObjective`, the
loss as a module's forward, which DDP needs to synchronise gradients) is wrapped
in DistributedDataParallel.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgegen.training import distributed
from edgegen.training.common import check_finite, progress
from edgegen.training.drums.calibration import calibrate, save_calibration
from edgegen.training.drums.corpus import Corpus, balanced_style_weights, concatenate
from edgegen.training.loop import Trainable, fit
from edgegen.training.drums.vae import (
    DrumVAEConfig,
    KIND,
    HierarchicalDrumVAE,
    TorchDrumModel,
    gaussian_kl,
    kl_weight,
    output_temperature,
)


def hit_squared_error(predicted: torch.Tensor, target: torch.Tensor, hits: torch.Tensor) -> torch.Tensor:
    """Squared error summed over each bar's hits only [N]: a rest has no velocity or offset to learn."""
    return (hits * (predicted - target).pow(2)).sum((1, 2))


def vae_loss(model: HierarchicalDrumVAE, x: torch.Tensor, styles: torch.Tensor, progress_frac: float,
             style_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The training objective for a batch of HVO bars x [N, 16, 27], with its parts (all means over the batch).

    recon: BCE of the hits summed over the 144 cells, plus velocity_weight x the squared
    velocity error and offset_weight x the squared offset error, each summed over the
    bar's hits only (a rest has no velocity or offset to learn); kl_high per dim against p(z_high | style)
    (N(0, I) when the style prior is off); kl_low per dim against p(z_low | z_high);
    free bits floor each dimension's batch-mean KL; style_ce asks z_high to be
    most likely under its own style's Gaussian (weighted per style by ``style_weights``).
    """
    c = model.config
    mu_h, logvar_h, mu_l, logvar_l = model.encoder(x)
    z_high = mu_h + torch.randn_like(mu_h) * (0.5 * logvar_h).exp()
    z_low = mu_l + torch.randn_like(mu_l) * (0.5 * logvar_l).exp()
    prior_mu_l, prior_logvar_l = model.prior_low(z_high)
    logits, velocity, offset = model.decoder(z_high, z_low)
    hits, true_velocity, true_offset = x.split(logits.shape[-1], dim=2)  # [N, 16, 9] x3
    hit_bce = F.binary_cross_entropy_with_logits(logits / output_temperature(c, progress_frac), hits,
                                                 reduction="none").sum((1, 2)).mean()
    velocity_se = hit_squared_error(velocity, true_velocity, hits).mean()
    offset_se = hit_squared_error(offset, true_offset, hits).mean()
    recon = hit_bce + c.velocity_weight * velocity_se + c.offset_weight * offset_se

    prior_mu_h, prior_logvar_h = model.high_prior(styles)
    kl_high = gaussian_kl(mu_h, logvar_h, prior_mu_h, prior_logvar_h).mean(0)  # [z_high]
    kl_low = gaussian_kl(mu_l, logvar_l, prior_mu_l, prior_logvar_l).mean(0)  # [z_low]
    floor = c.free_bits
    kl_term = c.beta_high * kl_high.clamp(min=floor).sum() + c.beta_low * kl_low.clamp(min=floor).sum()
    loss = recon + kl_weight(c, progress_frac) * kl_term
    style_ce = torch.zeros(())
    if c.style_prior and c.style_ce_weight > 0:
        style_ce = F.cross_entropy(model.style_logits(mu_h), styles, weight=style_weights)
        loss = loss + c.style_ce_weight * style_ce
    return {"loss": loss, "recon": recon, "hit_bce": hit_bce, "velocity_se": velocity_se, "offset_se": offset_se,
            "kl_high": kl_high, "kl_low": kl_low, "style_ce": style_ce}


class VaeObjective(nn.Module):
    """:func:`vae_loss` as a module's forward, so DistributedDataParallel can wrap it."""

    def __init__(self, model: HierarchicalDrumVAE, style_weights: torch.Tensor | None):
        super().__init__()
        self.model = model
        self.register_buffer("style_weights", style_weights, persistent=False)

    def forward(self, x: torch.Tensor, styles: torch.Tensor, progress_frac: float) -> dict[str, torch.Tensor]:
        return vae_loss(self.model, x, styles, progress_frac, self.style_weights)


@torch.no_grad()
def reconstruct(model: HierarchicalDrumVAE, hvo: np.ndarray, batch: int = 2048) -> tuple[np.ndarray, np.ndarray,
                                                                                         np.ndarray]:
    """Decode each bar's posterior means: hits thresholded at 0.5 (bool), velocities and offsets [N, 16, 9]."""
    model.eval()
    hits, velocities, offsets = [], [], []
    for start in range(0, len(hvo), batch):
        x = torch.as_tensor(hvo[start:start + batch], dtype=torch.float32)
        mu_h, _, mu_l, _ = model.encoder(x)
        logits, velocity, offset = model.decoder(mu_h, mu_l)
        hits.append((logits > 0).numpy())
        velocities.append(velocity.numpy())
        offsets.append(offset.numpy())
    if not hits:
        empty = np.zeros((0, hvo.shape[1], hvo.shape[2] // 3), np.float32)
        return empty.astype(bool), empty, empty
    return np.concatenate(hits), np.concatenate(velocities), np.concatenate(offsets)


def recon_scores(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Per-cell accuracy and F1 of hits (pooled over all cells)."""
    truth, pred = truth.astype(bool), pred.astype(bool)
    tp = float((truth & pred).sum())
    fp = float((~truth & pred).sum())
    fn = float((truth & ~pred).sum())
    f1 = 2 * tp / max(2 * tp + fp + fn, 1.0)
    return {"cell_accuracy": float((truth == pred).mean()), "hit_f1": f1}


def hvo_scores(corpus: Corpus, velocities: np.ndarray, offsets: np.ndarray) -> dict[str, float]:
    """Mean absolute velocity error (0-1 scale) and offset error (steps) over the true hits of ``corpus``."""
    hits = corpus.grids.astype(bool)
    return {"velocity_mae": float(np.abs(velocities[hits] - corpus.velocities[hits]).mean()),
            "offset_mae_steps": float(np.abs(offsets[hits] - corpus.offsets[hits]).mean())}


@torch.no_grad()
def validate(model: HierarchicalDrumVAE, corpus: Corpus) -> dict[str, Any]:
    """Validation loss parts (at full KL weight) and reconstruction scores."""
    model.eval()
    hvo = corpus.hvo()
    parts = vae_loss(model, torch.as_tensor(hvo), torch.as_tensor(corpus.styles), progress_frac=1.0)
    hits, velocities, offsets = reconstruct(model, hvo)
    scores = recon_scores(corpus.grids, hits) | hvo_scores(corpus, velocities, offsets)
    return {"val_loss": float(parts["loss"]), "val_recon": float(parts["recon"]),
            "val_kl_high": parts["kl_high"].tolist(), "val_kl_low": parts["kl_low"].tolist(),
            "val_cell_accuracy": scores["cell_accuracy"], "val_hit_f1": scores["hit_f1"],
            "val_velocity_mae": scores["velocity_mae"], "val_offset_mae_steps": scores["offset_mae_steps"]}


def learning_rate(config: DrumVAEConfig, epoch: int) -> float:
    """Cosine decay from lr to lr * lr_final over the epochs (constant when lr_final is 1)."""
    cosine = 0.5 * (1.0 + np.cos(np.pi * epoch / max(config.epochs - 1, 1)))
    return config.lr * (config.lr_final + (1.0 - config.lr_final) * cosine)


def train_vae(config: DrumVAEConfig, variant: str, train: Corpus, validation: Corpus, run_dir: str | Path,
              show_progress: bool = True, log=print) -> tuple[HierarchicalDrumVAE, dict[str, Any]]:
    """Train (or resume) ``variant`` into ``run_dir``; returns the model (eval mode) and its checkpoint without weights.

    With ``config.include_validation`` the validation bars are trained on too (the final fit of a chosen recipe)."""
    device = distributed.current().device
    fitted = concatenate([train, validation]) if config.include_validation else train
    torch.manual_seed(config.seed)
    model = HierarchicalDrumVAE(config).to(device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    x_all = torch.as_tensor(fitted.hvo(), device=device)  # [N, 16, 27]
    s_all = torch.as_tensor(fitted.styles, device=device)
    style_weights = torch.as_tensor(balanced_style_weights(fitted.styles, config.n_styles), device=device) \
        if config.style_ce_balanced else None
    objective = distributed.wrap(VaeObjective(model, style_weights))

    def train_epoch(epoch: int) -> dict[str, float]:
        objective.train()
        sums = {"loss": 0.0, "recon": 0.0, "hit_bce": 0.0, "velocity_se": 0.0, "offset_se": 0.0, "style_ce": 0.0}
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, epoch - 1)
        batches = list(distributed.shard_batches(len(x_all), config.batch_size, epoch, config.seed))
        shown = progress(batches, length=len(batches), label=f"drums {variant} {epoch}/{config.epochs}") \
            if show_progress else batches
        for i, idx in enumerate(shown):
            # share of training done: the annealing schedules run on it (this process's own step count)
            parts = objective(x_all[idx], s_all[idx], (epoch - 1 + i / len(batches)) / config.epochs)
            optimizer.zero_grad()
            parts["loss"].backward()
            optimizer.step()
            for key in sums:
                sums[key] += float(parts[key].detach()) / len(batches)
        check_finite(f"{variant} training loss", sums["loss"])
        return {f"train_{k}": v for k, v in sums.items()} | {"kl_weight": kl_weight(config, epoch / config.epochs)}

    def evaluate(epoch: int) -> dict[str, Any] | None:
        if epoch % config.val_every and epoch != config.epochs:
            return None
        return validate(model, validation)

    checkpoint = fit(Trainable(KIND, variant, config, {"model": model}, {"adam": optimizer}, train_epoch, evaluate),
                     run_dir, log)
    model.eval()
    if distributed.current().is_main:  # the decoding calibration of the trained model (seconds, deterministic)
        calibrate_run(model, train, validation, run_dir)
    return model, checkpoint


def calibrate_run(model: HierarchicalDrumVAE, train: Corpus, validation: Corpus, run_dir: str | Path) -> None:
    """Calibrate decoding on GMD's training and validation bars; write RUN/calibration.json."""
    save_calibration(run_dir, calibrate(TorchDrumModel(model), np.concatenate([train.grids, validation.grids]),
                                        np.concatenate([train.velocities, validation.velocities]),
                                        np.concatenate([train.styles, validation.styles])))
