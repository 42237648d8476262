"""Training the letter style model: few-shot episodes over the training fonts, with a sharpness critic.

One step draws ``fonts_per_batch`` training fonts; for each, k (1..max_examples) of its letters
are the examples (slightly distorted, as a user's glyphs would be) and ``targets_per_font``
other letters are the targets. The encoder reads the examples, the generator draws the targets
from that style, and the losses are:

    recon    pixel cross-entropy between drawn and real target glyphs: the style must carry the
             font, since the targets are letters the encoder never saw (L1 through the sigmoid
             was tried first: it settled on blank glyphs, where its gradient vanishes);
    adv      hinge loss against a letter-projection discriminator, on those glyphs and on glyphs
             drawn from styles sampled from the running prior (mean and covariance of the encoded
             styles): recon alone draws the average of the plausible edges (blur), and nothing else
             would teach the generator to draw clean letters from a *random* style;
    contrast InfoNCE between the styles of two disjoint letter sets of each font (its examples and
             its targets): the encoder must tell the fonts of a batch apart from the first steps,
             instead of waiting for the generator to make use of a style it has not learned to read;
    seeking  (optional) two prior styles should draw glyphs as far apart as the styles are.

The epoch loop, checkpoints and resume are the shared ones (training.loop.fit); an "epoch" is
``steps_per_epoch`` steps. The exported weights are an exponential moving average of the
encoder and generator; after every epoch the prior is refitted exactly: the styles of all
training fonts, each encoded from all its 26 letters. After the last epoch the output
temperature is calibrated on the val fonts (:func:`calibrate_temperature`): cross-entropy
leaves edges softer than real anti-aliasing, and a temperature above 1 sharpens them.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from edgegen.runtime.letter_spec import DEFAULT_LIKE_LETTERS, LETTERS, N_LETTERS
from edgegen.training import distributed
from edgegen.training.checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint, without_weights
from edgegen.training.common import check_finite, progress
from edgegen.training.letters.fonts import FontSet
from edgegen.training.letters.style_model import (KIND, LetterDiscriminator, StyleConfig, StyleModel, build_model,
                                                  onehot)
from edgegen.training.loop import Trainable, fit

EMA_DECAY = 0.995  # half-life ~140 steps: smooths the adversarial jitter, follows a 3,000-step run
EVAL_SEEDS = 12
BLUR_SIGMA = 1.5  # px at 28x28, as DESIGN 5: edge noise is not style
MID_GRAY = (0.2, 0.8)  # pixel values counted as blur/speckle edge pixels
LOSS_LIMIT = 1e4


def blur(images: torch.Tensor, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """Gaussian blur of [..., S, S] images (separable, zero padding)."""
    radius = int(np.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-x ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    shape = images.shape
    flat = images.reshape(-1, 1, shape[-2], shape[-1])
    flat = F.conv2d(flat, kernel.view(1, 1, 1, -1), padding=(0, radius))
    flat = F.conv2d(flat, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    return flat.reshape(shape)


def augment(glyphs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random rotation (+-5 deg), scale (0.92-1.05), shift (+-1 px at 28) and stroke change of [n, 1, S, S]."""
    n, size = glyphs.shape[0], glyphs.shape[-1]
    u = torch.rand(n, 5, generator=generator) * 2 - 1
    angle = u[:, 0] * np.deg2rad(5.0)
    scale = 0.985 + u[:, 1] * 0.065
    shift = u[:, 2:4] * (2.0 / 28)  # affine_grid works in [-1, 1]: 1 px at 28 is 2/28
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = torch.cos(angle) / scale
    theta[:, 0, 1] = -torch.sin(angle) / scale
    theta[:, 1, 0] = torch.sin(angle) / scale
    theta[:, 1, 1] = torch.cos(angle) / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
    out = F.grid_sample(glyphs, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    stroke = (u[:, 4] * 0.4).view(n, 1, 1, 1)
    thicker = F.max_pool2d(out, 3, 1, 1)
    thinner = -F.max_pool2d(-out, 3, 1, 1)
    return torch.where(stroke > 0, out + stroke * (thicker - out), out - stroke * (thinner - out)).clamp(0, 1)


class StyleTrainer:
    """The model (encoder + generator + prior), its EMA copy, the discriminator, optimisers and noise."""

    def __init__(self, config: StyleConfig, font_set: FontSet):
        self.config = config
        torch.manual_seed(config.seed)
        self.model = StyleModel(config)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.discriminator = LetterDiscriminator(config.image_size, config.disc_channels)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.model.parameters(), lr=config.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=betas)
        self.noise = torch.Generator().manual_seed(config.seed + 1)
        if font_set.size != config.image_size:
            raise ValueError(f"the font set is {font_set.size}x{font_set.size}, the model draws {config.image_size}")
        self.train = torch.as_tensor(font_set.glyphs[font_set.indices("train")])  # [F, 26, S, S]
        self.val = torch.as_tensor(font_set.glyphs[font_set.indices("val")])
        if len(self.train) < 2:
            raise ValueError("the style model needs at least 2 training fonts")

    # -- one step ------------------------------------------------------------------------------------
    def _episode(self):
        """Example glyphs, letters and mask [B, k, ...] and target letters and glyphs [B * T, ...]."""
        c, b, size = self.config, self.config.fonts_per_batch, self.config.image_size
        k, t = c.max_examples, min(c.targets_per_font, N_LETTERS - c.max_examples)
        # distinct fonts per step: the contrastive term treats every other row as another font
        fonts = torch.randperm(len(self.train), generator=self.noise)[:b]
        b = len(fonts)
        order = torch.argsort(torch.rand(b, N_LETTERS, generator=self.noise), dim=1)
        example_letters, target_letters = order[:, :k], order[:, k:k + t]
        counts = torch.randint(c.min_examples, k + 1, (b, 1), generator=self.noise)
        mask = (torch.arange(k).unsqueeze(0) < counts).float()
        examples = self.train[fonts.unsqueeze(1), example_letters]  # [B, k, S, S]
        if c.augment:
            examples = augment(examples.reshape(b * k, 1, size, size), self.noise).reshape(b, k, size, size)
        targets = self.train[fonts.unsqueeze(1), target_letters].reshape(b * t, 1, size, size)
        return examples, onehot(example_letters), mask, target_letters.reshape(-1), targets, t

    def _prior_styles(self, n: int) -> torch.Tensor:
        z = torch.randn(n, self.config.style_dim, generator=self.noise)
        return self.model.prior_mean + z @ self.model.prior_cholesky().T

    @torch.no_grad()
    def _track_prior(self, styles: torch.Tensor) -> None:
        """Running mean and covariance of the (noise-free) encoded styles: the prior the step samples from."""
        m = self.config.prior_momentum
        mean = styles.mean(0)
        cov = torch.cov(styles.T) if len(styles) > 1 else torch.zeros_like(self.model.prior_cov)
        self.model.prior_mean.mul_(m).add_(mean, alpha=1 - m)
        self.model.prior_cov.mul_(m).add_(cov, alpha=1 - m)

    def train_step(self) -> dict[str, float]:
        c = self.config
        examples, example_onehot, mask, target_letters, targets, t = self._episode()
        styles = self.model.encoder(examples, example_onehot, mask)  # [B, d]
        self._track_prior(styles.detach())
        # noise relative to how much styles differ across the batch: a fixed signal-to-noise ratio (an absolute std
        # drowned the small untrained codes, and the generator learned to ignore the style)
        spread = styles.detach().std(0, keepdim=True) if len(styles) > 1 else torch.ones_like(styles)
        noisy = styles + c.style_noise * spread * torch.randn(styles.shape, generator=self.noise)
        target_onehot = onehot(target_letters)
        drawn_logits = self.model.generator.logits(target_onehot, noisy.repeat_interleave(t, 0))  # [B * T, 1, S, S]
        drawn = torch.sigmoid(drawn_logits)
        n_prior = int(round(len(drawn) * c.prior_adv_share)) if c.adv_weight > 0 or c.seeking_weight > 0 else 0
        n_prior -= n_prior % 2
        prior_onehot = prior_drawn = prior_styles = None
        if n_prior:
            prior_letters = torch.randint(0, N_LETTERS, (n_prior // 2,), generator=self.noise).repeat(2)
            prior_onehot = onehot(prior_letters)
            prior_styles = self._prior_styles(n_prior)
            prior_drawn = self.model.generator(prior_onehot, prior_styles)
        recon = F.binary_cross_entropy_with_logits(drawn_logits, targets)
        row = {"recon": recon.item(), "l1": F.l1_loss(drawn.detach(), targets).item()}
        contrast = None
        if c.contrast_weight > 0:
            # a second view of each font: its target letters (none among the examples), as the encoder sees them
            b = len(styles)
            view = self.model.encoder(targets.reshape(b, t, *targets.shape[-2:]),
                                      target_onehot.reshape(b, t, -1), torch.ones(b, t))
            # centred on the batch first: the codes share a large common offset, and cosines of raw codes were all
            # ~1 (the term sat at chance, log(batch), for 300 steps)
            centre = torch.cat([styles, view]).mean(0, keepdim=True)
            a, v = F.normalize(styles - centre, dim=1), F.normalize(view - centre, dim=1)
            logits = a @ v.T / c.contrast_temperature
            labels = torch.arange(b)
            contrast = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
            row["contrast"] = contrast.item()
        if c.adv_weight > 0:
            fakes = torch.cat([drawn, prior_drawn]) if n_prior else drawn
            fake_onehot = torch.cat([target_onehot, prior_onehot]) if n_prior else target_onehot
            real_logit = self.discriminator(targets, target_onehot)
            fake_logit = self.discriminator(fakes.detach(), fake_onehot)
            loss_d = F.relu(1 - real_logit).mean() + F.relu(1 + fake_logit).mean()
            self.opt_d.zero_grad()
            loss_d.backward()
            self.opt_d.step()
            row.update(loss_d=loss_d.item(), d_real=real_logit.mean().item(), d_fake=fake_logit.mean().item())
            check_finite("discriminator loss", row["loss_d"], LOSS_LIMIT)
        loss = c.recon_weight * recon
        if contrast is not None:
            loss = loss + c.contrast_weight * contrast
        if c.adv_weight > 0:
            self.discriminator.requires_grad_(False)
            adv = -self.discriminator(torch.cat([drawn, prior_drawn]) if n_prior else drawn,
                                      torch.cat([target_onehot, prior_onehot]) if n_prior else target_onehot).mean()
            self.discriminator.requires_grad_(True)
            loss = loss + c.adv_weight * adv
            row["adv"] = adv.item()
        if c.seeking_weight > 0 and n_prior:
            half = n_prior // 2
            image_gap = (prior_drawn[:half] - prior_drawn[half:]).abs().mean((1, 2, 3))
            style_gap = (prior_styles[:half] - prior_styles[half:]).abs().mean(1)
            seeking = (style_gap / (image_gap + 1e-5)).mean()
            loss = loss + c.seeking_weight * 1e-2 * seeking
            row["seeking"] = seeking.item()
        self.opt_g.zero_grad()
        loss.backward()
        self.opt_g.step()
        self._update_ema()
        row["loss_g"] = loss.item()
        check_finite("generator loss", row["loss_g"], LOSS_LIMIT)
        return row

    @torch.no_grad()
    def _update_ema(self) -> None:
        for ema, live in zip(self.ema.parameters(), self.model.parameters()):
            ema.lerp_(live, 1 - EMA_DECAY)

    def train_epoch(self, label: str = "") -> dict[str, float]:
        self.model.train()
        self.discriminator.train()
        rows = [self.train_step() for _ in progress(range(self.config.steps_per_epoch),
                                                   length=self.config.steps_per_epoch, label=label)]
        return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}

    # -- the prior and evaluation -------------------------------------------------------------------
    @torch.no_grad()
    def fit_prior(self, model: StyleModel) -> None:
        """The prior of ``model``: mean and covariance of every training font's style from all 26 letters."""
        styles = encode_fonts(model, self.train, np.arange(N_LETTERS))
        model.prior_mean.copy_(styles.mean(0))
        cov = torch.cov(styles.T) if len(styles) > 1 else torch.eye(len(styles[0]))
        model.prior_cov.copy_(cov)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"model": self.model, "ema_model": self.ema, "discriminator": self.discriminator}


@torch.no_grad()
def encode_fonts(model: StyleModel, glyphs: torch.Tensor, letters: np.ndarray, batch: int = 64) -> torch.Tensor:
    """Styles [F, d] of fonts [F, 26, S, S], each from its glyphs of ``letters``."""
    letters = torch.as_tensor(np.asarray(letters))
    out = []
    for i in range(0, len(glyphs), batch):
        chunk = glyphs[i:i + batch][:, letters]
        n = len(chunk)
        out.append(model.encoder(chunk, onehot(letters).expand(n, -1, -1), torch.ones(n, len(letters))))
    return torch.cat(out)


@torch.no_grad()
def draw_fonts(model: StyleModel, styles: torch.Tensor, letters: np.ndarray) -> torch.Tensor:
    """Glyphs [F, len(letters), S, S] of each style."""
    letters = torch.as_tensor(np.asarray(letters))
    n, m = len(styles), len(letters)
    images = model.generator(onehot(letters).repeat(n, 1), styles.repeat_interleave(m, 0))
    return images.reshape(n, m, images.shape[-2], images.shape[-1])


def few_shot_split() -> tuple[np.ndarray, np.ndarray]:
    """Example letters (HAMBURGEFONTS) and the letters drawn from them (the other 13)."""
    examples = np.array([LETTERS.index(ch) for ch in dict.fromkeys(DEFAULT_LIKE_LETTERS)])
    return examples, np.array([i for i in range(N_LETTERS) if i not in examples])


def retrieval(drawn: torch.Tensor, real: torch.Tensor) -> float:
    """Share of drawn glyphs [V, L, S, S] nearer (blurred L1) to their own font's real glyph than to any other
    of the V fonts' glyph of that letter (chance 1/V)."""
    a, b = blur(drawn), blur(real)
    distance = (a.unsqueeze(1) - b.unsqueeze(0)).abs().mean((-1, -2))  # [V drawn, V real, L]
    return float((distance.argmin(1) == torch.arange(len(a)).unsqueeze(1)).float().mean())


def nearest_letter_accuracy(drawn: torch.Tensor, letters: np.ndarray, reference: torch.Tensor) -> float:
    """Legibility proxy for training logs: share of glyphs whose nearest reference glyph (blurred, centred
    correlation, over every reference font and letter) is of the asked letter."""
    def unit(x):
        x = blur(x).reshape(len(x), -1)
        x = x - x.mean(1, keepdim=True)
        return x / (x.norm(dim=1, keepdim=True) + 1e-8)
    ref = unit(reference.reshape(-1, *reference.shape[-2:]))
    predicted = (unit(drawn) @ ref.T).argmax(1) % N_LETTERS
    return float((predicted == torch.as_tensor(letters)).float().mean())


def mid_gray_share(images: torch.Tensor) -> float:
    """Share of ink-touched pixels (> 0.05) that are mid-gray: blur and speckle raise it."""
    touched = images > 0.05
    gray = (images > MID_GRAY[0]) & (images < MID_GRAY[1])
    return float(gray.sum() / touched.sum().clamp(min=1))


def pairwise_blurred_l1(glyphs: torch.Tensor) -> float:
    """Mean blurred L1 between every two rows of [N, L, S, S] (per letter, then averaged)."""
    b = blur(glyphs)
    n = len(b)
    total, pairs = 0.0, 0
    for i in range(n):
        total += float((b[i + 1:] - b[i]).abs().mean((-1, -2)).sum())
        pairs += (n - i - 1) * b.shape[1]
    return total / max(pairs, 1)


@torch.no_grad()
def evaluate_style_model(model: StyleModel, train: torch.Tensor, val: torch.Tensor, seed: int = 12345) -> dict:
    """The few-shot and prior measures the training log tracks (the style report has the full set)."""
    model.eval()
    examples, targets = few_shot_split()
    metrics: dict = {}
    if len(val) >= 2:
        styles = encode_fonts(model, val, examples)
        drawn = draw_fonts(model, styles, targets)
        real = val[:, targets]
        # the baseline: copy the training font whose example glyphs are nearest (blurred L1)
        train_examples = blur(train[:, examples])
        gaps = torch.stack([(train_examples - blur(v[examples])).abs().mean((1, 2, 3)) for v in val])
        copied = train[gaps.argmin(1)][:, targets]
        metrics.update(
            few_shot_retrieval=retrieval(drawn, real), nearest_font_retrieval=retrieval(copied, real),
            few_shot_l1=float((blur(drawn) - blur(real)).abs().mean()),
            nearest_font_l1=float((blur(copied) - blur(real)).abs().mean()),
            few_shot_legibility=nearest_letter_accuracy(drawn.reshape(-1, *drawn.shape[-2:]),
                                                        np.tile(targets, len(val)), train),
            val_fonts=len(val))
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(EVAL_SEEDS, model.config.style_dim, generator=gen)
    styles = model.prior_mean + z @ model.prior_cholesky().T
    drawn = draw_fonts(model, styles, np.arange(N_LETTERS))
    picks = torch.randperm(len(train), generator=gen)[:max(2, min(len(train), 40))]
    metrics.update(
        prior_legibility=nearest_letter_accuracy(drawn.reshape(-1, *drawn.shape[-2:]),
                                                 np.tile(np.arange(N_LETTERS), EVAL_SEEDS), train),
        prior_diversity=pairwise_blurred_l1(drawn) / max(pairwise_blurred_l1(train[picks]), 1e-8),
        prior_weight_spread=float(drawn.mean((1, 2, 3)).std() / train.mean((1, 2, 3)).std().clamp(min=1e-8)),
        mid_gray_ratio=mid_gray_share(drawn) / max(mid_gray_share(train), 1e-8))
    return metrics


TEMPERATURES = (1.0, 1.25, 1.5, 1.75, 2.0)
MIN_PROXY_LEGIBILITY = 0.97  # of random styles, by the nearest-training-glyph reader
MAX_RETRIEVAL_LOSS = 0.02
PRIOR_SCALES = (1.0, 0.85, 0.7)
MIN_PRIOR_LEGIBILITY = 0.995  # random styles read by the nearest-training-glyph reader, for the prior's spread
CALIBRATION_VERSION = 2  # 1: temperature only; 2: and the prior's spread


@torch.no_grad()
def calibrate_temperature(model: StyleModel, train: torch.Tensor, val: torch.Tensor) -> dict:
    """Set ``model.generator.temperature`` to the one of TEMPERATURES whose glyphs have the share of mid-gray
    edge pixels nearest to real glyphs', among those that keep random styles legible (>= MIN_PROXY_LEGIBILITY)
    and few-shot retrieval on the val fonts within MAX_RETRIEVAL_LOSS of temperature 1. Returns the measurements."""
    measured = {}
    for t in TEMPERATURES:
        model.generator.temperature.fill_(t)
        measured[t] = evaluate_style_model(model, train, val)
    base = measured[1.0].get("few_shot_retrieval", 0.0)
    allowed = [t for t, m in measured.items() if t == 1.0 or (
        m["prior_legibility"] >= MIN_PROXY_LEGIBILITY and m.get("few_shot_retrieval", 0.0) >= base - MAX_RETRIEVAL_LOSS)]
    chosen = min(allowed, key=lambda t: abs(measured[t]["mid_gray_ratio"] - 1.0))
    model.generator.temperature.fill_(chosen)
    return {"chosen": chosen, "grid": {str(t): m for t, m in measured.items()}}


@torch.no_grad()
def calibrate_prior_scale(model: StyleModel, train: torch.Tensor, val: torch.Tensor) -> dict:
    """Set ``model.prior_scale`` to the largest of PRIOR_SCALES whose random styles are read as their letter
    (nearest training glyph) at least MIN_PRIOR_LEGIBILITY of the time: the fitted Gaussian also covers the
    space between fonts, where a few glyphs come out illegible. Returns the measurements."""
    measured = {}
    chosen = PRIOR_SCALES[-1]
    for scale in PRIOR_SCALES:
        model.prior_scale.fill_(scale)
        measured[scale] = evaluate_style_model(model, train, val)
        if measured[scale]["prior_legibility"] >= MIN_PRIOR_LEGIBILITY:
            chosen = scale
            break
    model.prior_scale.fill_(chosen)
    return {"chosen": chosen, "grid": {str(t): m for t, m in measured.items()}}


def save_sheet(images: torch.Tensor, path: Path, scale: int = 2) -> None:
    """Rows of glyphs [R, C, S, S] as one PNG (ink black on white)."""
    r, c, s = images.shape[0], images.shape[1], images.shape[-1]
    sheet = images.permute(0, 2, 1, 3).reshape(r * s, c * s).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(((1 - sheet) * 255).astype(np.uint8)).resize((c * s * scale, r * s * scale),
                                                                 Image.NEAREST).save(path)


def train_style(variant: str, config: StyleConfig, font_set: FontSet, run_dir: str | Path, log=print) -> dict:
    """Train (or resume) the style model into ``run_dir`` (checkpoint.pt, log.json, samples/); returns the
    checkpoint without weights. The EMA model, with its prior refitted, is what evaluation sees and export takes."""
    run_dir = Path(run_dir)
    trainer = StyleTrainer(config, font_set)

    def train_epoch(epoch: int) -> dict[str, float]:
        return trainer.train_epoch(label=f"{variant} {epoch}/{config.epochs}")

    def evaluate(epoch: int) -> dict | None:
        trainer.fit_prior(trainer.ema)  # cheap (one encoder pass over ~200 fonts); export needs it every epoch
        if not (epoch == 1 or epoch % config.eval_every == 0 or epoch == config.epochs):
            return None
        metrics = evaluate_style_model(trainer.ema, trainer.train, trainer.val)
        styles = trainer.ema.prior_mean + torch.randn(6, config.style_dim, generator=torch.Generator().manual_seed(
            7)) @ trainer.ema.prior_cholesky().T
        save_sheet(draw_fonts(trainer.ema, styles, np.arange(N_LETTERS)), run_dir / "samples" / f"epoch_{epoch:03d}.png")
        log(f"{variant} epoch {epoch}: " + " ".join(f"{k} {v:.3f}" for k, v in metrics.items()
                                                     if isinstance(v, float)))
        return metrics

    trainable = Trainable(KIND, variant, config, trainer.modules(),
                          {"opt_g": trainer.opt_g, "opt_d": trainer.opt_d}, train_epoch, evaluate,
                          generators={"noise": trainer.noise})
    done = fit(trainable, run_dir, log)
    if distributed.current().is_main and done.get("calibration", {}).get("version") != CALIBRATION_VERSION:
        done = _calibrate(run_dir, trainer, log)
    return done


def _calibrate(run_dir: Path, trainer: StyleTrainer, log) -> dict:
    """After the last epoch: the EMA model's output temperature (see calibrate_temperature), written into the
    checkpoint (both weight sets) with the measurements; the checkpoint's metrics become the calibrated model's."""
    path = run_dir / CHECKPOINT_FILE
    checkpoint = load_checkpoint(path, KIND)
    model = build_model(checkpoint["config"])
    model.load_state_dict(checkpoint["modules"]["ema_model"])
    model.eval()
    model.prior_scale.fill_(1.0)
    calibration = calibrate_temperature(model, trainer.train, trainer.val)
    prior = calibrate_prior_scale(model, trainer.train, trainer.val)
    for name in ("ema_model", "model"):
        checkpoint["modules"][name]["generator.temperature"] = torch.tensor(float(calibration["chosen"]))
        checkpoint["modules"][name]["prior_scale"] = torch.tensor(float(prior["chosen"]))
    checkpoint["calibration"] = {"version": CALIBRATION_VERSION, "temperature": calibration, "prior_scale": prior,
                                 "chosen": calibration["chosen"]}
    checkpoint["metrics"] = {**prior["grid"][str(prior["chosen"])], "output_temperature": calibration["chosen"],
                             "prior_scale": prior["chosen"]}
    save_checkpoint(checkpoint, path)
    log(f"output temperature {calibration['chosen']}: mid_gray_ratio "
        f"{calibration['grid'][str(calibration['chosen'])]['mid_gray_ratio']:.3f} "
        f"(1.0: {calibration['grid']['1.0']['mid_gray_ratio']:.3f}); prior scale {prior['chosen']}: "
        f"random styles' legibility {checkpoint['metrics']['prior_legibility']:.3f}")
    return without_weights(checkpoint)
