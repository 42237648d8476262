"""The letter style model: any letter drawn in a style, a style read from a few glyphs, and a prior over styles.

Three networks (all sizes are constructor arguments, via ``StyleConfig``):

    StyleEncoder     k example glyphs of one font with their letters (and a mask for k < max)
                     -> one style vector [style_dim]. Each glyph is read with its letter (the same
                     stroke means something else in an O than in an I), the glyph codes are
                     averaged over the examples the mask keeps, and an MLP maps the mean to the style.
    StyleGenerator   (letter, style) -> glyph. The letter picks a learned 7x7 layout; the style
                     modulates every upsampling block (FiLM: per-channel scale and shift from the
                     style), so one style vector dresses all 26 letters alike.
    LetterDiscriminator  (glyph, letter) -> real/fake, by projection (Miyato and Koyama 2018):
                     the adversarial term keeps drawn glyphs as sharp as real ones, which an L1
                     reconstruction alone does not (it averages the plausible stroke edges: blur).

The prior: a Gaussian (mean, covariance) fitted to the encoder's styles of the training fonts,
each encoded from all 26 of its letters. A seed draws a style from it; fitted rather than
N(0, I), because a deterministic encoder's codes are neither centred nor white (the issue's
prototype found the fitted Gaussian far more diverse than N(0, I)).

The runtime (edgegen.runtime.font_generator.StyleFontGenerator) offers the interface the style
report draws through: ``style_dim``, ``size``, ``sample_styles(seed, n)``, ``encode(glyphs, letters)``,
``draw(styles, letters)``. ``TorchStyleModel`` below offers the same on a checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from edgegen.runtime.letter_spec import IMAGE_SIZE, N_LETTERS
from edgegen.training.checkpoint import load_checkpoint, weights, without_weights

KIND = "letter_style"


@dataclass
class StyleConfig:
    image_size: int = IMAGE_SIZE      # S: glyphs are S x S (28; 32 costs ~1.3x per step, see reports/letters)
    style_dim: int = 32               # d: size of a style vector
    max_examples: int = 13            # k: example glyphs an episode shows at most (HAMBURGEFONTS has 13; export: 26)
    min_examples: int = 1             # fewest examples in a training episode
    enc_channels: int = 32            # encoder channels at S/2 (doubles at S/4 and S/8)
    enc_hidden: int = 256             # per-glyph code size, and the style MLP's width
    gen_channels: int = 64            # generator channels at S/4 (halves at S/2 and S)
    disc_channels: int = 32           # discriminator channels at S/2 (doubles at S/4 and S/8)
    recon_weight: float = 10.0        # pixel cross-entropy between drawn and real held-out glyphs of the example font
                                      # (L1 through a sigmoid sat at blank glyphs: its gradient vanishes there)
    adv_weight: float = 0.2           # hinge adversarial term on drawn glyphs (encoded and prior styles)
    prior_adv_share: float = 0.5      # fakes from styles drawn from the running prior, per encoded fake
    style_noise: float = 0.1          # noise added to encoded styles in training, as a share of their spread across
                                      # the batch (a smooth style space between fonts)
    seeking_weight: float = 0.0       # mode seeking: penalise two prior styles that draw alike (Mao et al. 2019)
    contrast_weight: float = 1.0      # InfoNCE: the styles of two disjoint letter sets of one font match each other
                                      # and no other font's (without it the generator drew one average font for
                                      # every style: few-shot retrieval at chance after 500 steps)
    contrast_temperature: float = 0.1
    augment: bool = True              # small random scale/rotation/shift/stroke of the example glyphs
    fonts_per_batch: int = 16         # fonts per step (each: k examples and targets_per_font targets)
    targets_per_font: int = 4         # letters drawn per font per step, none among its examples
    steps_per_epoch: int = 100        # an "epoch" is this many steps (~190 training fonts: one pass is 12 steps)
    epochs: int = 40
    lr_g: float = 3e-4                # Adam, encoder + generator
    lr_d: float = 3e-4                # Adam, discriminator
    beta1: float = 0.5
    beta2: float = 0.999
    prior_momentum: float = 0.99      # running mean/covariance of encoded styles, for prior fakes in training
    eval_every: int = 3               # few-shot and prior metrics every this many epochs (and the first and last)
    seed: int = 0


# small: tests and QUICK=1; base: the shipped default. Ablations say what each term buys (reports/letters).
_BASE = StyleConfig()
VARIANTS: dict[str, StyleConfig] = {
    "style": _BASE,
    "style_recon": replace(_BASE, adv_weight=0.0),               # no discriminator: the blurred baseline
    "style_plain": replace(_BASE, contrast_weight=0.0),          # no contrastive term
    "style_seeking": replace(_BASE, seeking_weight=1.0),         # plus a mode-seeking term
    "style_tiny": replace(_BASE, style_dim=8, enc_channels=8, enc_hidden=32, gen_channels=16, disc_channels=8,
                          fonts_per_batch=8, targets_per_font=2, steps_per_epoch=4, epochs=2, eval_every=1),
}
DEFAULT_VARIANT = "style"


def quick_overrides(config: StyleConfig) -> StyleConfig:
    """Smoke runs (QUICK=1, tests): the tiny sizes, two short epochs."""
    tiny = VARIANTS["style_tiny"]
    return replace(config, style_dim=tiny.style_dim, enc_channels=tiny.enc_channels, enc_hidden=tiny.enc_hidden,
                   gen_channels=tiny.gen_channels, disc_channels=tiny.disc_channels,
                   fonts_per_batch=tiny.fonts_per_batch, targets_per_font=tiny.targets_per_font,
                   steps_per_epoch=tiny.steps_per_epoch, epochs=tiny.epochs, eval_every=tiny.eval_every)


def get_variant(name: str) -> StyleConfig:
    if name not in VARIANTS:
        raise KeyError(f"unknown style variant {name!r}; choose one of: {', '.join(VARIANTS)}")
    return VARIANTS[name]


class StyleEncoder(nn.Module):
    """glyphs [n, k, S, S], letters [n, k, 26] one-hot, mask [n, k] (1 = use) -> style [n, style_dim]."""

    def __init__(self, image_size: int, style_dim: int, channels: int, hidden: int):
        super().__init__()
        c, s8 = channels, -(-image_size // 8)
        self.convs = nn.Sequential(
            nn.Conv2d(1, c, 4, 2, 1), nn.LeakyReLU(0.2),                    # [c, S/2, S/2]
            nn.Conv2d(c, 2 * c, 4, 2, 1), nn.LeakyReLU(0.2),                # [2c, S/4, S/4]
            nn.Conv2d(2 * c, 4 * c, 3, 2, 1), nn.LeakyReLU(0.2),            # [4c, S/8, S/8] (28 -> 4)
            nn.Flatten(),                                                   # [4c * (S/8)^2]
        )
        self.image_code = nn.Linear(4 * c * s8 * s8, hidden)                # [hidden]
        self.letter_code = nn.Linear(N_LETTERS, hidden)                     # [hidden]: what this letter's shape means
        self.glyph_mlp = nn.Sequential(nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2))
        self.style_mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                                       nn.Linear(hidden, style_dim))        # [style_dim]
        self.image_size = image_size

    def forward(self, glyphs: torch.Tensor, letters: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, k = glyphs.shape[0], glyphs.shape[1]
        flat = glyphs.reshape(n * k, 1, self.image_size, self.image_size)
        code = self.image_code(self.convs(flat)) + self.letter_code(letters.reshape(n * k, N_LETTERS))
        code = self.glyph_mlp(code).reshape(n, k, -1)                       # [n, k, hidden]
        weight = mask.unsqueeze(-1)                                         # [n, k, 1]
        pooled = (code * weight).sum(1) / weight.sum(1).clamp(min=1.0)      # [n, hidden]: mean over kept examples
        return self.style_mlp(pooled)


class FiLMBlock(nn.Module):
    """Upsample x2 (nearest), 3x3 conv, then per-channel scale and shift from the style, LeakyReLU."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.film = nn.Linear(style_dim, 2 * out_channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        scale, shift = self.film(style).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return F.leaky_relu(x * (1 + scale) + shift, 0.2)


class StyleGenerator(nn.Module):
    """letter [n, 26] one-hot (or a blend), style [n, style_dim] -> glyph [n, 1, S, S] in [0, 1], ink = 1."""

    def __init__(self, image_size: int, style_dim: int, channels: int):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {image_size}")
        c, s4 = channels, image_size // 4
        self.c, self.s4 = c, s4
        self.start = nn.Linear(N_LETTERS + style_dim, c * s4 * s4)          # [c, S/4, S/4]
        self.block1 = FiLMBlock(c, c // 2, style_dim)                       # [c/2, S/2, S/2]
        self.block2 = FiLMBlock(c // 2, c // 4, style_dim)                  # [c/4, S, S]
        self.refine = nn.Conv2d(c // 4, c // 4, 3, 1, 1)                    # [c/4, S, S]
        self.refine_film = nn.Linear(style_dim, c // 2)
        self.out = nn.Conv2d(c // 4, 1, 3, 1, 1)                            # [1, S, S]
        # output temperature: the drawn glyph is sigmoid(temperature * logits). 1 in training; set after it on the
        # val fonts (train_style.calibrate_temperature) to undo the soft edges that cross-entropy leaves
        self.register_buffer("temperature", torch.ones(()))

    def logits(self, letter: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid ink [n, 1, S, S] (training scores these with cross-entropy)."""
        x = F.leaky_relu(self.start(torch.cat([letter, style], 1)), 0.2).view(-1, self.c, self.s4, self.s4)
        x = self.block2(self.block1(x, style), style)
        scale, shift = self.refine_film(style).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        x = F.leaky_relu(self.refine(x) * (1 + scale) + shift, 0.2)
        return self.out(x)

    def forward(self, letter: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.temperature * self.logits(letter, style))


class LetterDiscriminator(nn.Module):
    """glyph [n, 1, S, S], letter [n, 26] one-hot -> realness logit [n]: a linear head plus a letter projection."""

    def __init__(self, image_size: int, channels: int):
        super().__init__()
        c, s8 = channels, -(-image_size // 8)
        sn = nn.utils.spectral_norm
        self.features = nn.Sequential(
            sn(nn.Conv2d(1, c, 4, 2, 1)), nn.LeakyReLU(0.2),                # [c, S/2, S/2]
            sn(nn.Conv2d(c, 2 * c, 4, 2, 1)), nn.LeakyReLU(0.2),            # [2c, S/4, S/4]
            sn(nn.Conv2d(2 * c, 4 * c, 3, 2, 1)), nn.LeakyReLU(0.2),        # [4c, S/8, S/8]
            nn.Flatten(),
            sn(nn.Linear(4 * c * s8 * s8, 4 * c)), nn.LeakyReLU(0.2),       # [4c]
        )
        self.head = sn(nn.Linear(4 * c, 1))
        self.letter_embedding = sn(nn.Linear(N_LETTERS, 4 * c, bias=False))  # projection: <embed(letter), features>

    def forward(self, glyph: torch.Tensor, letter: torch.Tensor) -> torch.Tensor:
        h = self.features(glyph)
        return self.head(h).squeeze(1) + (self.letter_embedding(letter) * h).sum(1)


class StyleModel(nn.Module):
    """Encoder + generator (what is exported) and the style prior, kept as buffers so the checkpoint has it."""

    def __init__(self, config: StyleConfig):
        super().__init__()
        self.config = config
        self.encoder = StyleEncoder(config.image_size, config.style_dim, config.enc_channels, config.enc_hidden)
        self.generator = StyleGenerator(config.image_size, config.style_dim, config.gen_channels)
        self.register_buffer("prior_mean", torch.zeros(config.style_dim))
        self.register_buffer("prior_cov", torch.eye(config.style_dim))
        # seeds draw from the fitted Gaussian with its spread scaled by this (<= 1: fewer styles between fonts,
        # where glyphs are least legible); set after training like the output temperature
        self.register_buffer("prior_scale", torch.ones(()))

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Weights saved before the output temperature existed load with temperature 1 (what they were trained at)."""
        for key in ("generator.temperature", "prior_scale"):
            if key not in state_dict:
                state_dict = {**state_dict, key: torch.ones(())}
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def prior_cholesky(self) -> torch.Tensor:
        """L with L @ L.T the covariance seeds draw from: the fitted one, scaled by prior_scale**2."""
        d = self.prior_cov.shape[0]
        return self.prior_scale * torch.linalg.cholesky(self.prior_cov + 1e-5 * torch.eye(d))


def build_model(config: dict | StyleConfig) -> StyleModel:
    if isinstance(config, dict):
        config = StyleConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
    return StyleModel(config)


def onehot(letters: torch.Tensor) -> torch.Tensor:
    return F.one_hot(letters.long(), N_LETTERS).float()


class EncoderGraph(nn.Module):
    """The exported encoder: glyphs [n, k, S, S], letters [n, k, 26], mask [n, k] -> style [n, d]."""

    def __init__(self, model: StyleModel):
        super().__init__()
        self.encoder = model.encoder

    def forward(self, glyphs, letters, mask):
        return self.encoder(glyphs, letters, mask)


class GeneratorGraph(nn.Module):
    """The exported generator: letter [n, 26], style [n, d] -> image [n, 1, S, S]."""

    def __init__(self, model: StyleModel):
        super().__init__()
        self.generator = model.generator

    def forward(self, letter, style):
        return self.generator(letter, style)


def load_style_model(path: str | Path) -> tuple[StyleModel, dict]:
    """The trained model (EMA weights when kept) from a checkpoint alone, eval mode, and its description."""
    checkpoint = load_checkpoint(path, KIND)
    model = build_model(checkpoint["config"])
    model.load_state_dict(weights(checkpoint, "ema_model", "model"))
    model.eval()
    return model, without_weights(checkpoint)


class TorchStyleModel:
    """The runtime's style interface on a checkpoint (for reports that run before export)."""

    def __init__(self, path: str | Path):
        self.model, self.meta = load_style_model(path)
        self.style_dim = self.model.config.style_dim
        self.size = self.model.config.image_size
        self.name = f"letters_{self.meta['variant']}"

    def sample_styles(self, seed: int, n: int) -> np.ndarray:
        from edgegen.runtime import portable_random
        z = portable_random.rng(seed).standard_normal((n, self.style_dim)).astype(np.float32)
        mean = self.model.prior_mean.numpy()
        chol = self.model.prior_cholesky().numpy()
        return (mean + z @ chol.T).astype(np.float32)

    @torch.no_grad()
    def encode(self, glyphs: np.ndarray, letters: np.ndarray) -> np.ndarray:
        g = torch.as_tensor(np.asarray(glyphs, np.float32))[None]
        l = onehot(torch.as_tensor(np.asarray(letters)))[None]
        return self.model.encoder(g, l, torch.ones(1, len(letters)))[0].numpy()

    def like(self, glyphs: np.ndarray, letters: np.ndarray) -> np.ndarray:
        """The runtime's ``StyleFontGenerator.like``: the encoder's style refined on the examples (style_fit)."""
        from edgegen.runtime import style_fit
        return style_fit.fit_style(self.draw, self.encode(glyphs, letters), glyphs, letters,
                                   self.model.prior_cholesky().detach().numpy())

    @torch.no_grad()
    def draw(self, styles: np.ndarray, letters: np.ndarray) -> np.ndarray:
        s = torch.as_tensor(np.asarray(styles, np.float32))
        return self.model.generator(onehot(torch.as_tensor(np.asarray(letters))), s)[:, 0].numpy()
