"""Generation controls for the hierarchical drum VAE, written once against a small protocol.

Torch-free (numpy only). Training wraps its torch VAE in this protocol
(edgegen.training.drums.vae.TorchDrumModel) and the runtime wraps its
onnxruntime sessions, so every control -- sampling by style, transfer,
interpolation, blend, evolve, morph, complexity -- is the same code in both
places and is measured in training exactly as users get it.

Latents: z_high [N, 4] carries style (its prior is a learned Gaussian per
style), z_low [N, 12] carries the variation within a style (its prior is
p(z_low | z_high)).
"""
from __future__ import annotations

import math
from typing import Protocol, Sequence

import numpy as np

from edgegen.runtime import portable_random
from edgegen.runtime.drum_spec import KICK_SNARE, TRANSFER_KEEP

# Defaults chosen on the validation split after training (see reports/drums/results.json).
DEFAULT_TEMPERATURE_HIGH = 0.3  # spread around a style's prior mean; < 1 keeps bars typical of the style
DEFAULT_TEMPERATURE_LOW = 0.5  # spread of the within-style variation
COMPLEXITY_SETTINGS: tuple[float, ...] = (-1.0, -0.5, 0.0, 0.5, 1.0)  # the five documented knob positions
COMPLEXITY_LOGIT_SHIFT = 2.0  # complexity c moves the hit threshold from logit 0 to logit -c * this
# Bounds far outside the useful ranges (the commands allow temperatures 0.05-5 and complexity -1..1) that keep
# every latent and logit finite in float32: a temperature of 1e300 overflowed into empty bars, like NaN.
MAX_TEMPERATURE = 100.0
MIN_DECODE_TEMPERATURE = 1e-3
MAX_COMPLEXITY = 100.0


class UnknownStyleError(ValueError):
    """A style name the model was not trained on; the message lists the known ones."""


class DrumModel(Protocol):
    """What the controls need from a model (torch or onnxruntime behind it)."""

    styles: list[str]  # style names, the order of the prior rows
    style_prior_mu: np.ndarray  # [n_styles, z_high] mean of p(z_high | style)
    style_prior_logvar: np.ndarray  # [n_styles, z_high] log-variance of p(z_high | style)

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """x [N,16,9] float32 -> mu_high [N,4], logvar_high [N,4], mu_low [N,12], logvar_low [N,12]."""

    def prior_low(self, z_high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """z_high [N,4] -> mu_low [N,12], logvar_low [N,12] of p(z_low | z_high)."""

    def decode(self, z_high: np.ndarray, z_low: np.ndarray) -> np.ndarray:
        """z_high [N,4], z_low [N,12] -> logits [N,16,9]."""


def style_index(model: DrumModel, style: str) -> int:
    """The prior row of ``style``; UnknownStyleError (one line) for a name the model lacks."""
    if style not in model.styles:
        raise UnknownStyleError(f"unknown style {style!r}; choose from {', '.join(model.styles)}")
    return list(model.styles).index(style)


def finite(name: str, value: float, low: float | None = None, high: float | None = None,
           above: float | None = None) -> float:
    """``value`` as a float when it is a finite number within the bounds given; ValueError of one line otherwise.

    NaN slips through every comparison (``nan <= 0`` is False) and turns a whole groove into empty
    bars, so every number a control takes is checked here first.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {number}")
    if above is not None and not number > above:
        raise ValueError(f"{name} must be above {above:g}, got {number:g}")
    if low is not None and high is not None and not low <= number <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {number:g}")
    if low is not None and number < low:
        raise ValueError(f"{name} must be at least {low:g}, got {number:g}")
    if high is not None and number > high:
        raise ValueError(f"{name} must be at most {high:g}, got {number:g}")
    return number


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def sample_low(model: DrumModel, z_high: np.ndarray, rng: portable_random.PortableRandom,
               temperature_low: float = DEFAULT_TEMPERATURE_LOW, noise: np.ndarray | None = None) -> np.ndarray:
    """Draw z_low ~ p(z_low | z_high) with its spread scaled by ``temperature_low``.

    ``noise`` [N, 12] (standard normal) can be passed to reuse one variation across z_high values.
    """
    temperature_low = finite("temperature_low", temperature_low, 0, MAX_TEMPERATURE)
    mu, logvar = model.prior_low(_f32(z_high))
    if noise is None:
        noise = rng.standard_normal(mu.shape)
    return _f32(mu + temperature_low * np.exp(0.5 * logvar) * noise)


def sample_latents(model: DrumModel, style: str, n: int, rng: portable_random.PortableRandom,
                   temperature_high: float = DEFAULT_TEMPERATURE_HIGH,
                   temperature_low: float = DEFAULT_TEMPERATURE_LOW) -> tuple[np.ndarray, np.ndarray]:
    """z_high from the style's prior and z_low from p(z_low | z_high), each with its own temperature."""
    s = style_index(model, style)
    temperature_high = finite("temperature_high", temperature_high, 0, MAX_TEMPERATURE)
    mu, std = model.style_prior_mu[s], np.exp(0.5 * model.style_prior_logvar[s])
    z_high = _f32(mu + temperature_high * std * rng.standard_normal((n, len(mu))))
    return z_high, sample_low(model, z_high, rng, temperature_low)


def decode_grid(model: DrumModel, z_high: np.ndarray, z_low: np.ndarray, temperature: float = 1.0,
                complexity: float = 0.0, rng: portable_random.PortableRandom | None = None) -> np.ndarray:
    """Latents -> bars bool [N, 16, 9].

    Without ``rng`` it THRESHOLDS: a cell is a hit when logit / temperature >
    -complexity * COMPLEXITY_LOGIT_SHIFT (complexity 0 = probability 0.5), the
    most likely bar, which is what keeps sampled bars recognisable as their
    style. With ``rng`` it SAMPLES each cell from sigmoid(logit / temperature +
    complexity * COMPLEXITY_LOGIT_SHIFT). Either way raising complexity only
    adds hits (the threshold falls), so hits per bar rise monotonically.
    """
    temperature = finite("temperature", temperature, MIN_DECODE_TEMPERATURE, MAX_TEMPERATURE)
    complexity = finite("complexity", complexity, -MAX_COMPLEXITY, MAX_COMPLEXITY)
    logits = model.decode(_f32(z_high), _f32(z_low)) / temperature + complexity * COMPLEXITY_LOGIT_SHIFT
    if rng is None:
        return logits > 0.0
    return rng.random(logits.shape) < 1.0 / (1.0 + np.exp(-logits))


def sample_style(model: DrumModel, style: str, n: int, rng: portable_random.PortableRandom,
                 temperature_high: float = DEFAULT_TEMPERATURE_HIGH,
                 temperature_low: float = DEFAULT_TEMPERATURE_LOW, complexity: float = 0.0) -> np.ndarray:
    """``n`` independent bars [n, 16, 9] of one style."""
    z_high, z_low = sample_latents(model, style, n, rng, temperature_high, temperature_low)
    return decode_grid(model, z_high, z_low, complexity=complexity)


def encode_mean(model: DrumModel, grids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means (z_high, z_low) of bars [N, 16, 9]."""
    mu_high, _, mu_low, _ = model.encode(_f32(np.asarray(grids).reshape(-1, 16, 9)))
    return mu_high, mu_low


def style_log_posterior(model: DrumModel, z_high: np.ndarray) -> np.ndarray:
    """log q(style | z_high) [N, S]: the per-style Gaussian priors read as a classifier (uniform style prior)."""
    mu, logvar = model.style_prior_mu[None], model.style_prior_logvar[None]  # [1, S, 4]
    diff = np.asarray(z_high)[:, None, :] - mu  # [N, S, 4]
    log_lik = -0.5 * (diff ** 2 / np.exp(logvar) + logvar).sum(-1)  # [N, S]
    return log_lik - np.logaddexp.reduce(log_lik, axis=1, keepdims=True)


def infer_style(model: DrumModel, z_high: np.ndarray) -> np.ndarray:
    """Most likely style index [N] of each z_high under the per-style Gaussian priors."""
    return style_log_posterior(model, z_high).argmax(1)


# "fit" transfer settings, chosen on GMD's validation split (reports/drums/README.md shows the trade-off):
TRANSFER_CANDIDATES = 128  # z_high candidates drawn from the target style's prior
TRANSFER_SPREAD = 1.0  # their spread (prior temperature); wider finds more bars that keep the backbone
# Bars whose candidates are decoded and re-encoded in one call: 16 x 128 = 2,048 bars, about 40 MB of
# activations. Memory stays flat in the length of the file (one batch of every bar needs 2.6 GB at 1,000 bars).
TRANSFER_BATCH_BARS = 16


def kick_snare_onsets(source: np.ndarray, output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per bar, (source kick and snare onsets still in the output, source kick and snare onsets): [..., 16, 9] -> [...]."""
    src = np.asarray(source)[..., list(KICK_SNARE)].astype(bool)
    out = np.asarray(output)[..., list(KICK_SNARE)].astype(bool)
    return (src & out).sum(axis=(-1, -2)), src.sum(axis=(-1, -2))


def kick_snare_kept(source: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Per bar, the share of the source's kick and snare onsets still in the output ([..., 16, 9] -> [...]).

    A source bar with no kick or snare keeps everything (1.0).
    """
    kept, total = kick_snare_onsets(source, output)
    return np.where(total > 0, kept / np.maximum(total, 1), 1.0)


def _style_score(model: DrumModel, bars: np.ndarray, s: int) -> np.ndarray:
    """log q(style s | bar) [...]: the model's own judgement, the re-encoded z_high read against the style priors."""
    flat = _f32(bars.reshape(-1, 16, 9))
    return style_log_posterior(model, model.encode(flat)[0])[:, s].reshape(bars.shape[:-2])


def _fit_transfer(model: DrumModel, grids: np.ndarray, s: int, rng: portable_random.PortableRandom, candidates: int,
                  keep: float, complexity: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z_high, z_low, bars) of the "fit" transfer; see :func:`transfer_latents`.

    One set of candidates serves every bar, drawn before any decoding, so the draws (and the
    result) do not depend on TRANSFER_BATCH_BARS; bars are decoded TRANSFER_BATCH_BARS at a time.
    """
    _, z_low = encode_mean(model, grids)
    mu, std = model.style_prior_mu[s], np.exp(0.5 * model.style_prior_logvar[s])
    draws = _f32(mu + TRANSFER_SPREAD * std * rng.standard_normal((candidates, len(mu))))
    draws[0] = mu  # the prior mean is always a candidate
    choice = np.zeros(len(grids), dtype=np.int64)
    out = np.zeros(grids.shape, dtype=bool)
    for start in range(0, len(grids), TRANSFER_BATCH_BARS):
        batch = slice(start, start + TRANSFER_BATCH_BARS)
        choice[batch], out[batch] = _fit_bars(model, grids[batch], z_low[batch], draws, s, keep, complexity)
    return draws[choice], z_low, out


def _fit_bars(model: DrumModel, grids: np.ndarray, z_low: np.ndarray, draws: np.ndarray, s: int, keep: float,
              complexity: float) -> tuple[np.ndarray, np.ndarray]:
    """For bars [N, 16, 9] with their z_low [N, 12]: the chosen candidate [N] and its bar [N, 16, 9]."""
    n, k = len(grids), len(draws)
    bars = decode_grid(model, np.tile(draws, (n, 1)), np.repeat(z_low, k, axis=0),
                       complexity=complexity).reshape(n, k, 16, 9)  # [N, K, 16, 9]
    feasible = kick_snare_kept(grids[:, None], bars) >= keep  # [N, K]
    choice = np.where(feasible, _style_score(model, bars, s), -np.inf).argmax(1)  # [N]
    out = bars[np.arange(n), choice]  # [N, 16, 9]
    stuck = np.flatnonzero(~feasible.any(1))  # bars no candidate keeps enough of: put the source's back
    if len(stuck):
        restored = bars[stuck].copy()  # [M, K, 16, 9]
        restored[..., list(KICK_SNARE)] |= grids[stuck][:, None, :, list(KICK_SNARE)].astype(bool)
        best = _style_score(model, restored, s).argmax(1)  # [M]
        choice[stuck] = best
        out[stuck] = restored[np.arange(len(stuck)), best]
    return choice, out


def _transfer_settings(model: DrumModel, target_style: str, strength: float, mode: str, candidates: int,
                       keep: float, complexity: float) -> tuple[int, float, float, float]:
    """(style row, strength, keep, complexity) once each is checked, before any bar is encoded."""
    if mode not in ("fit", "shift", "replace"):
        raise ValueError(f"mode must be 'fit', 'shift' or 'replace', got {mode!r}")
    if isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) or candidates < 1:
        raise ValueError(f"candidates must be a positive integer, got {candidates!r}")
    return (style_index(model, target_style), finite("strength", strength, 0, 1), finite("keep", keep, 0, 1),
            finite("complexity", complexity, -MAX_COMPLEXITY, MAX_COMPLEXITY))


def transfer_latents(model: DrumModel, grids: np.ndarray, target_style: str, strength: float = 1.0,
                     mode: str = "fit", rng: portable_random.PortableRandom | None = None,
                     candidates: int = TRANSFER_CANDIDATES, keep: float = TRANSFER_KEEP,
                     complexity: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The (z_high, z_low) that :func:`transfer` decodes; z_low is the source's posterior mean, untouched.

    Modes for the new z_high:
    - "replace": the target style's prior mean.
    - "shift": the bar's own z_high plus (target prior mean - mean of the style its
      z_high is most likely under), so its offset from its style moves along.
    - "fit" (default): ``candidates`` draws of z_high from the target style's prior
      (at TRANSFER_SPREAD, the prior mean included), each decoded with the source's
      z_low. Among the bars that keep at least ``keep`` of the source's kick and
      snare onsets, the winner is the one the model itself reads as most likely the
      target style (the re-encoded z_high against the style priors). A bar none of
      whose candidates keeps enough gets the source's kick and snare onsets put back
      into the candidate that, so restored, reads most like the target. A search by
      sampling that needs only encode() and decode(), with the user's backbone as a
      hard constraint rather than a weight to trade.
    ``strength`` in [0, 1] moves z_high only part of the way (replace and shift).
    """
    s, strength, keep, complexity = _transfer_settings(model, target_style, strength, mode, candidates, keep,
                                                       complexity)
    grids = np.asarray(grids).reshape(-1, 16, 9)
    if mode == "fit":
        z_high, z_low, _ = _fit_transfer(model, grids, s, rng or portable_random.rng(0), candidates, keep,
                                         complexity)
        return z_high, z_low
    z_high, z_low = encode_mean(model, grids)
    target = model.style_prior_mu[s][None, :]
    if mode == "replace":
        moved = target
    else:
        moved = z_high + target - model.style_prior_mu[infer_style(model, z_high)]
    return _f32(z_high + strength * (moved - z_high)), _f32(z_low)


def transfer(model: DrumModel, grids: np.ndarray, target_style: str, strength: float = 1.0,
             mode: str = "fit", complexity: float = 0.0, rng: portable_random.PortableRandom | None = None,
             candidates: int = TRANSFER_CANDIDATES, keep: float = TRANSFER_KEEP) -> np.ndarray:
    """Restyle bars [N, 16, 9]: encode, keep z_low, move z_high to the target style (see transfer_latents).

    In "fit" mode every output bar keeps at least ``keep`` of its source's kick and snare onsets.
    """
    if mode == "fit":
        s, _, keep, complexity = _transfer_settings(model, target_style, strength, mode, candidates, keep, complexity)
        grids = np.asarray(grids).reshape(-1, 16, 9)
        return _fit_transfer(model, grids, s, rng or portable_random.rng(0), candidates, keep, complexity)[2]
    z_high, z_low = transfer_latents(model, grids, target_style, strength, mode, rng, candidates, keep)
    return decode_grid(model, z_high, z_low, complexity=complexity)


def interpolate(model: DrumModel, grid_a: np.ndarray, grid_b: np.ndarray, n_steps: int = 8,
                level: str = "both") -> np.ndarray:
    """Bars [n_steps, 16, 9] walking from bar a to bar b in latent space.

    ``level`` "high" moves only z_high (style; z_low stays a's), "low" moves
    only z_low (variation; z_high stays a's), "both" moves both.
    """
    if level not in ("high", "low", "both"):
        raise ValueError(f"level must be 'high', 'low' or 'both', got {level!r}")
    (ha, la), (hb, lb) = encode_mean(model, grid_a), encode_mean(model, grid_b)
    t = np.linspace(0.0, 1.0, n_steps)[:, None]
    z_high = ha + t * (hb - ha) if level in ("high", "both") else np.repeat(ha, n_steps, axis=0)
    z_low = la + t * (lb - la) if level in ("low", "both") else np.repeat(la, n_steps, axis=0)
    return decode_grid(model, z_high, z_low)


def blend(model: DrumModel, weights: dict[str, float], n: int, rng: portable_random.PortableRandom,
          temperature_high: float = DEFAULT_TEMPERATURE_HIGH,
          temperature_low: float = DEFAULT_TEMPERATURE_LOW) -> np.ndarray:
    """Bars from a mixture of styles: z_high around the weighted mean of the style priors.

    ``weights`` {style: weight >= 0}, normalised here, e.g. {"jazz": 0.7, "latin": 0.3}.
    """
    rows = [style_index(model, s) for s in weights]
    w = np.array([finite(f"blend weight of {s!r}", weights[s], low=0) for s in weights], dtype=np.float64)
    if not w.any():
        raise ValueError("blend weights must not all be zero" if len(w) else "a blend needs at least one style")
    w /= w.max()  # first, so huge weights cannot sum to infinity
    w /= w.sum()
    mu = (w[:, None] * model.style_prior_mu[rows]).sum(axis=0)
    std = (w[:, None] * np.exp(0.5 * model.style_prior_logvar[rows])).sum(axis=0)
    z_high = _f32(mu + temperature_high * std * rng.standard_normal((n, len(mu))))
    return decode_grid(model, z_high, sample_low(model, z_high, rng, temperature_low))


def evolve(model: DrumModel, z_high: np.ndarray, n: int, rng: portable_random.PortableRandom,
           temperature_low: float = DEFAULT_TEMPERATURE_LOW) -> np.ndarray:
    """``n`` bars [n, 16, 9] that share one z_high [4] (the same groove and style) with fresh z_low."""
    z_high = np.repeat(_f32(z_high).reshape(1, -1), n, axis=0)
    return decode_grid(model, z_high, sample_low(model, z_high, rng, temperature_low))


def morph(model: DrumModel, style_a: str, style_b: str, n_bars: int, rng: portable_random.PortableRandom,
          temperature_low: float = DEFAULT_TEMPERATURE_LOW) -> np.ndarray:
    """``n_bars`` bars gliding from style a to style b.

    z_high walks from a's prior mean to b's; one z_low noise draw is shared, so
    the variation stays put while the style changes under it.
    """
    a, b = style_index(model, style_a), style_index(model, style_b)
    t = np.linspace(0.0, 1.0, n_bars)[:, None]
    z_high = _f32(model.style_prior_mu[a] + t * (model.style_prior_mu[b] - model.style_prior_mu[a]))
    noise = np.repeat(rng.standard_normal((1, model.prior_low(z_high[:1])[0].shape[1])), n_bars, axis=0)
    return decode_grid(model, z_high, sample_low(model, z_high, rng, temperature_low, noise=noise))


def hits_per_bar_by_complexity(model: DrumModel, style: str, n: int, seed: int = 0,
                               settings: Sequence[float] = COMPLEXITY_SETTINGS) -> list[float]:
    """Mean hits per bar of the same latents decoded at each complexity setting."""
    z_high, z_low = sample_latents(model, style, n, portable_random.rng(seed))
    return [float(decode_grid(model, z_high, z_low, complexity=c).sum(axis=(1, 2)).mean()) for c in settings]
