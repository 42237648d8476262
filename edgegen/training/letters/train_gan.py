"""One letter-GAN variant's training: the G and D steps of every stabiliser, evaluation, and the run.

The epoch loop, checkpoints and resume are the shared ones (training.loop.fit). Resuming reproduces
an uninterrupted run: the data order is a function of (seed, epoch), and the noise generator and
torch's global RNG (dropout) are saved in every checkpoint. A NaN or exploding loss stops the run
before the epoch's checkpoint is written, so the last good one survives.

Under torchrun, G and D are DistributedDataParallel modules: D with ``sync_buffers=False``
(it sees a real and a fake batch before one backward, see distributed.wrap), and the G step
scores fakes with the unwrapped D, whose gradients the G step does not use.
"""
from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from edgegen.training import distributed
from edgegen.training.common import check_finite, progress
from edgegen.training.letters.gan import (KIND, N_CLASSES, GanConfig, build_discriminator, build_generator, make_ema,
                                  update_ema)
from edgegen.training.letters.classifier import predict_proba
from edgegen.training.letters.metrics import letter_metrics
from edgegen.training.loop import Trainable, fit

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
    device = next(generator.parameters()).device
    out = []
    for i in range(0, len(z), batch):
        args = (z[i:i + batch],) if onehot is None else (z[i:i + batch], onehot[i:i + batch])
        out.append(generator(*(a.to(device) for a in args)).cpu())
    generator.train(was_training)
    return torch.cat(out).squeeze(1).numpy()


def evaluate_generator(generator: nn.Module, classifier: nn.Module, config: GanConfig) -> tuple[dict, np.ndarray]:
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
        self.device = distributed.current().device
        torch.manual_seed(config.seed)
        self.generator = build_generator(config).to(self.device)
        self.discriminator = build_discriminator(config).to(self.device)
        self.ema = make_ema(self.generator) if config.ema_decay > 0 else None
        self.g = distributed.wrap(self.generator)
        self.d = distributed.wrap(self.discriminator, sync_buffers=False)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr, betas=betas)
        self.noise = torch.Generator().manual_seed(config.seed + 1)

    # -- one step -------------------------------------------------------------------------------------
    def _fake(self, n: int):
        """(images, one-hot letters, letters, InfoGAN code) of n generated samples; absent parts are None."""
        z = torch.randn(n, self.config.z_dim, generator=self.noise).to(self.device)
        code = self.generator.code(z).argmax(1) if self.config.code_categories else None
        if not self.config.conditional:
            return self.g(z), None, None, code
        labels = torch.randint(0, N_CLASSES, (n,), generator=self.noise).to(self.device)
        onehot = F.one_hot(labels, N_CLASSES).float()
        return self.g(z, onehot), onehot, labels, code

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
        t = torch.randint(-shift, shift + 1, (len(x), 2), generator=self.noise).float().to(self.device) * (2 / 28)
        theta = torch.zeros(len(x), 2, 3, device=self.device)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        theta[:, :, 2] = t
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _d(self, x, onehot, discriminator: nn.Module | None = None):
        return (discriminator or self.d)(self._augment(x), onehot)

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
        logit, fake_features, aux = self._d(fake, fake_onehot, self.discriminator)
        if self.config.feature_matching:
            with torch.no_grad():
                _, real_features, _ = self._d(x, onehot, self.discriminator)
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
        """One pass over this process's shard in a (seed, epoch)-determined order; the mean of each step value."""
        batches = list(distributed.shard_batches(len(x), self.config.batch_size, epoch, self.config.seed,
                                                 drop_last=True))  # full batches only (packing needs them)
        if self.config.max_steps_per_epoch:
            batches = batches[:self.config.max_steps_per_epoch]
        self.g.train()
        self.d.train()
        rows = [self.train_step(x[idx], y[idx]) for idx in progress(batches, length=len(batches), label=label)]
        return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}

    @property
    def eval_generator(self) -> nn.Module:
        return self.ema if self.ema is not None else self.generator

    def modules(self) -> dict[str, nn.Module]:
        """The networks a checkpoint keeps (unwrapped)."""
        return {"generator": self.generator, "discriminator": self.discriminator,
                **({"ema_generator": self.ema} if self.ema is not None else {})}


def train_variant(variant: str, config: GanConfig, data: dict[str, np.ndarray], classifier: nn.Module,
                  run_dir: str | Path, log=print) -> dict:
    """Train (or resume) one variant into ``run_dir`` (checkpoint.pt, log.json, samples/); the checkpoint
    without weights."""
    run_dir = Path(run_dir)
    trainer = GanTrainer(config)
    device = distributed.current().device
    x = torch.as_tensor(data["x_train"]).unsqueeze(1).to(device)
    y = torch.as_tensor(data["y_train"]).to(device)

    def train_epoch(epoch: int) -> dict[str, float]:
        return trainer.train_epoch(x, y, epoch, label=f"{variant} {epoch}/{config.epochs}")

    def evaluate(epoch: int) -> dict | None:
        if not (epoch == 1 or epoch % config.eval_every == 0 or epoch == config.epochs):
            return None
        metrics, images = evaluate_generator(trainer.eval_generator, classifier, config)
        save_grid(images[:104] if config.conditional else images[:100], 26 if config.conditional else 10,
                  run_dir / "samples" / f"epoch_{epoch:03d}.png")
        log(f"{variant} epoch {epoch}: coverage {metrics['coverage']:.3f} kl {metrics['kl_uniform']:.3f} "
            f"hq {metrics['high_quality']:.3f} label_acc {metrics['label_accuracy']}")
        return metrics

    trainable = Trainable(KIND, variant, config, trainer.modules(), {"opt_g": trainer.opt_g, "opt_d": trainer.opt_d},
                          train_epoch, evaluate, generators={"noise": trainer.noise})
    return fit(trainable, run_dir, log)
