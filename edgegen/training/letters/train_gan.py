"""Training loop for one letter-GAN variant: epochs, per-epoch JSON log, evaluation, checkpoints, resume.

Resuming reproduces an uninterrupted run: the data order is a function of (seed, epoch), and the noise
generator and torch's global RNG (dropout) are saved in every checkpoint. A NaN or exploding loss stops
the run before the epoch's checkpoint is written, so the last good one survives.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from edgegen.training.common import JsonLog, check_finite, load_checkpoint, progress, save_checkpoint
from edgegen.training.letters.gan import (KIND, N_CLASSES, GanConfig, build_discriminator, build_generator, make_ema,
                                  update_ema)
from edgegen.training.letters.classifier import predict_proba
from edgegen.training.letters.metrics import letter_metrics

EVAL_SEED = 12345
LOSS_LIMIT = 1e4


def quick_overrides(config: GanConfig) -> GanConfig:
    """Smoke-run settings: one epoch, a tiny evaluation."""
    return replace(config, epochs=1, eval_every=1, eval_samples=104)


def eval_inputs(config: GanConfig, n: int) -> tuple[torch.Tensor, torch.Tensor | None, np.ndarray | None]:
    """Fixed latent codes (and requested letters A..Z repeated) so every evaluation scores the same inputs."""
    gen = torch.Generator().manual_seed(EVAL_SEED)
    z = torch.randn(n, config.z_dim, generator=gen)
    if not config.conditional:
        return z, None, None
    labels = np.arange(n) % N_CLASSES
    return z, F.one_hot(torch.as_tensor(labels), N_CLASSES).float(), labels


@torch.no_grad()
def generate(generator: nn.Module, z: torch.Tensor, onehot: torch.Tensor | None, batch: int = 512) -> np.ndarray:
    was_training = generator.training
    generator.eval()
    out = []
    for i in range(0, len(z), batch):
        args = (z[i:i + batch],) if onehot is None else (z[i:i + batch], onehot[i:i + batch])
        out.append(generator(*args))
    generator.train(was_training)
    return torch.cat(out).squeeze(1).numpy()


def evaluate(generator: nn.Module, classifier: nn.Module, config: GanConfig) -> tuple[dict, np.ndarray]:
    """Section-5 metrics over ``config.eval_samples`` fixed samples; also returns the images."""
    z, onehot, labels = eval_inputs(config, config.eval_samples)
    images = generate(generator, z, onehot)
    return letter_metrics(predict_proba(classifier, images), labels), images


def save_grid(images: np.ndarray, cols: int, path: Path, scale: int = 2) -> None:
    """A plain image grid (PIL, no matplotlib) for the per-epoch samples."""
    rows = int(np.ceil(len(images) / cols))
    grid = np.zeros((rows * 28, cols * 28), np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * 28:(r + 1) * 28, c * 28:(c + 1) * 28] = img
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((grid * 255).astype(np.uint8)).resize((cols * 28 * scale, rows * 28 * scale),
                                                          Image.NEAREST).save(path)


def _grad_norm(module: nn.Module) -> float:
    grads = [p.grad.detach().flatten() for p in module.parameters() if p.grad is not None]
    return float(torch.cat(grads).norm()) if grads else 0.0


class GanTrainer:
    """Holds G, D (and EMA G), their optimisers and RNGs; ``train_epoch`` runs one pass over the data."""

    def __init__(self, config: GanConfig):
        self.config = config
        torch.manual_seed(config.seed)
        self.generator = build_generator(config)
        self.discriminator = build_discriminator(config)
        self.ema = make_ema(self.generator) if config.ema_decay > 0 else None
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr, betas=betas)
        self.noise = torch.Generator().manual_seed(config.seed + 1)

    # -- one step -------------------------------------------------------------------------------------
    def _fake(self, n: int):
        """(images, one-hot letters, letters, InfoGAN code) of n generated samples; absent parts are None."""
        z = torch.randn(n, self.config.z_dim, generator=self.noise)
        code = self.generator.code(z).argmax(1) if self.config.code_categories else None
        if not self.config.conditional:
            return self.generator(z), None, None, code
        labels = torch.randint(0, N_CLASSES, (n,), generator=self.noise)
        onehot = F.one_hot(labels, N_CLASSES).float()
        return self.generator(z, onehot), onehot, labels, code

    def _info_loss(self, features: torch.Tensor, code: torch.Tensor | None) -> torch.Tensor | float:
        """InfoGAN: D's Q head recovers the code from the generated image's features (0 when off)."""
        if code is None:
            return 0.0
        return self.config.info_weight * F.cross_entropy(self.discriminator.code_head(features), code)

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable random translation of each image (DiffAugment): D cannot memorise the 5,200 real images."""
        shift = self.config.augment_shift
        if not shift:
            return x
        t = torch.randint(-shift, shift + 1, (len(x), 2), generator=self.noise).float() * (2 / 28)
        theta = torch.zeros(len(x), 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        theta[:, :, 2] = t
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _d(self, x, onehot):
        return self.discriminator(self._augment(x), onehot)

    def _d_loss(self, x, onehot, labels, fake, fake_onehot, fake_labels, code=None):
        real_logit, _, real_aux = self._d(x, onehot)
        fake_logit, fake_features, fake_aux = self._d(fake, fake_onehot)
        loss = (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
                + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
                + self._info_loss(fake_features, code))
        if real_aux is not None:
            # the letter head learns from real images only, so G cannot pass with letters only D reads
            loss = loss + self.config.aux_classifier_weight * F.cross_entropy(real_aux, labels)
        return loss, real_logit, fake_logit

    def _d_step(self, x, onehot, labels):
        with torch.no_grad():
            fake, fake_onehot, fake_labels, code = self._fake(len(x))
        loss, real_logit, fake_logit = self._d_loss(x, onehot, labels, fake, fake_onehot, fake_labels, code)
        self.opt_d.zero_grad()
        loss.backward()
        norm = _grad_norm(self.discriminator)
        self.opt_d.step()
        return loss, real_logit, fake_logit, norm

    def _g_step(self, x, onehot):
        fake, fake_onehot, fake_labels, code = self._fake(len(x))
        logit, fake_features, aux = self._d(fake, fake_onehot)
        if self.config.feature_matching:
            with torch.no_grad():
                _, real_features, _ = self._d(x, onehot)
            loss = F.mse_loss(fake_features.mean(0), real_features.mean(0))
        else:
            loss = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
        loss = loss + self._info_loss(fake_features, code)
        if aux is not None and fake_labels is not None:
            loss = loss + self.config.aux_classifier_weight * F.cross_entropy(aux, fake_labels)
        elif aux is not None:
            # unconditional G, D's letter head trained on real labels: each sample should be one clear
            # letter (low entropy) and the batch should use all letters evenly (high marginal entropy)
            p = F.softmax(aux, dim=1)
            per_sample = -(p * torch.log(p + 1e-8)).sum(1).mean()
            marginal = p.mean(0)
            balance = -(marginal * torch.log(marginal + 1e-8)).sum()
            loss = loss + self.config.aux_classifier_weight * (per_sample - balance)
        self.opt_g.zero_grad()
        loss.backward()
        norm = _grad_norm(self.generator)
        self.opt_g.step()
        if self.ema is not None:
            update_ema(self.ema, self.generator, self.config.ema_decay)
        return loss, norm

    def train_step(self, x: torch.Tensor, labels: torch.Tensor) -> dict:
        onehot = F.one_hot(labels, N_CLASSES).float() if self.config.conditional else None
        loss_d, real_logit, fake_logit, d_norm = self._d_step(x, onehot, labels)
        if self.config.unrolled_steps:
            # first-order unrolling: G is updated against D after k more steps, then D is put back
            saved_d = copy.deepcopy(self.discriminator.state_dict())
            saved_opt = copy.deepcopy(self.opt_d.state_dict())
            for _ in range(self.config.unrolled_steps):
                self._d_step(x, onehot, labels)
            loss_g, g_norm = self._g_step(x, onehot)
            self.discriminator.load_state_dict(saved_d)
            self.opt_d.load_state_dict(saved_opt)
        else:
            loss_g, g_norm = self._g_step(x, onehot)
        row = {"loss_d": loss_d.item(), "loss_g": loss_g.item(),
               "d_real": torch.sigmoid(real_logit).mean().item(), "d_fake": torch.sigmoid(fake_logit).mean().item(),
               "grad_norm_d": d_norm, "grad_norm_g": g_norm}
        check_finite("discriminator loss", row["loss_d"], LOSS_LIMIT)
        check_finite("generator loss", row["loss_g"], LOSS_LIMIT)
        return row

    def train_epoch(self, x: torch.Tensor, y: torch.Tensor, epoch: int, label: str = "") -> dict:
        """One pass over the data in a (seed, epoch)-determined order; returns the mean of each step value."""
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.config.seed * 100003 + epoch))
        bs = self.config.batch_size
        starts = list(range(0, len(x) - bs + 1, bs))          # full batches only (packing needs them)
        if self.config.max_steps_per_epoch:
            starts = starts[:self.config.max_steps_per_epoch]
        self.generator.train()
        self.discriminator.train()
        rows = [self.train_step(x[order[i:i + bs]], y[order[i:i + bs]])
                for i in progress(starts, length=len(starts), label=label)]
        return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}

    @property
    def eval_generator(self) -> nn.Module:
        return self.ema if self.ema is not None else self.generator

    # -- checkpoints -------------------------------------------------------------------------------------
    def state(self) -> dict:
        return {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                "ema_generator": self.ema.state_dict() if self.ema is not None else None,
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "rng": {"noise": self.noise.get_state(), "torch": torch.get_rng_state()}}

    def load_state(self, ckpt: dict) -> None:
        self.generator.load_state_dict(ckpt["generator"])
        self.discriminator.load_state_dict(ckpt["discriminator"])
        if self.ema is not None:
            self.ema.load_state_dict(ckpt["ema_generator"])
        self.opt_g.load_state_dict(ckpt["opt_g"])
        self.opt_d.load_state_dict(ckpt["opt_d"])
        self.noise.set_state(ckpt["rng"]["noise"])
        torch.set_rng_state(ckpt["rng"]["torch"])


def train_variant(variant: str, config: GanConfig, data: dict[str, np.ndarray], classifier: nn.Module,
                  run_dir: str | Path, resume: bool = False, log=print) -> dict:
    """Train one variant into ``run_dir`` (checkpoint.pt, log.json, samples/); returns the final checkpoint meta."""
    run_dir = Path(run_dir)
    ckpt_path = run_dir / "checkpoint.pt"
    trainer = GanTrainer(config)
    start_epoch, history, seconds_total, metrics = 1, {}, 0.0, {}
    if resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        if ckpt.get("variant") != variant:
            raise ValueError(f"{ckpt_path} holds variant {ckpt.get('variant')!r}, not {variant!r}")
        trainer.load_state(ckpt)
        start_epoch = ckpt["epoch"] + 1
        history, seconds_total, metrics = ckpt["metrics_by_epoch"], ckpt["train_seconds"], ckpt["metrics"]
        log(f"{variant}: resuming after epoch {ckpt['epoch']}")
    log_file = JsonLog(run_dir / "log.json", keep_until_epoch=start_epoch - 1)
    x = torch.as_tensor(data["x_train"]).unsqueeze(1)
    y = torch.as_tensor(data["y_train"])
    for epoch in range(start_epoch, config.epochs + 1):
        t0 = time.time()
        row = trainer.train_epoch(x, y, epoch, label=f"{variant} {epoch}/{config.epochs}")
        seconds = time.time() - t0
        row = {"epoch": epoch, **row, "seconds": seconds}
        if epoch == 1 or epoch % config.eval_every == 0 or epoch == config.epochs:
            metrics, images = evaluate(trainer.eval_generator, classifier, config)
            history[str(epoch)] = metrics
            row["metrics"] = {k: v for k, v in metrics.items() if k != "histogram"}
            save_grid(images[:104] if config.conditional else images[:100], 26 if config.conditional else 10,
                      run_dir / "samples" / f"epoch_{epoch:03d}.png")
            log(f"{variant} epoch {epoch}: coverage {metrics['coverage']:.3f} kl {metrics['kl_uniform']:.3f} "
                f"hq {metrics['high_quality']:.3f} label_acc {metrics['label_accuracy']}")
        seconds_total += time.time() - t0
        save_checkpoint({"kind": KIND, "variant": variant, "config": asdict(config), "epoch": epoch,
                         **trainer.state(), "metrics": metrics, "metrics_by_epoch": history,
                         "train_seconds": seconds_total}, ckpt_path)
        log_file.append(row)
    return {"variant": variant, "config": asdict(config), "metrics": metrics, "metrics_by_epoch": history,
            "train_seconds": seconds_total}
