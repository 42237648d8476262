"""Generation controls for the hierarchical drum VAE, written once against a small protocol.

Torch-free (numpy only). Training wraps its torch VAE in this protocol
(edgegen.training.drums.vae.TorchDrumModel) and the runtime wraps its
onnxruntime sessions, so every control -- sampling by style, transfer,
interpolation, blend, evolve, morph, complexity -- is the same code in both
places and is measured in training exactly as users get it.

Latents: z_high [N, 4] carries style (its prior is a learned Gaussian per
style), z_low [N, 12] carries the variation within a style (its prior is
p(z_low | z_high)). Every control returns a :class:`Groove`: hits, and for each
hit the velocity and the offset from the grid that the decoder learned from GMD.

Decoding (:func:`decode`) keeps each style's texture with per-style,
per-instrument hit thresholds calibrated after training (stored in the model's
sidecar): a cell is a hit when its logit clears its instrument's threshold for
the bar's style. A single threshold at probability 0.5 kept the confident kick
and snare and dropped the uncertain hi-hat and ride strokes (jazz lost its
ride); the calibrated thresholds give each instrument of each style as many hits
per bar as real bars of the style have. Decoding is deterministic: it draws
nothing from the random generator.

Order of random draws (a web page replicates it with portable_random): every
control draws only latents, in the order its docstring states, each call one
block in C order; :func:`sample_latents` draws z_high noise [n, 4], then
z_low noise [n, 12].
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from edgegen.runtime import portable_random
from edgegen.runtime.drum_spec import INSTRUMENTS, KICK_SNARE, STEPS, TRANSFER_KEEP

# Defaults chosen on the validation split after training (see reports/drums/results.json).
DEFAULT_TEMPERATURE_HIGH = 0.3  # spread around a style's prior mean; < 1 keeps bars typical of the style
DEFAULT_TEMPERATURE_LOW = 0.5  # spread of the within-style variation
COMPLEXITY_SETTINGS: tuple[float, ...] = (-1.0, -0.5, 0.0, 0.5, 1.0)  # the five documented knob positions
COMPLEXITY_LOGIT_SHIFT = 2.0  # complexity c lowers every hit threshold by c * this (in logits)
# Bounds far outside the useful ranges (the commands allow temperatures 0.05-5 and complexity -1..1) that keep
# every latent and logit finite in float32: a temperature of 1e300 overflowed into empty bars, like NaN.
MAX_TEMPERATURE = 100.0
MIN_DECODE_TEMPERATURE = 1e-3
MAX_COMPLEXITY = 100.0
N_INSTRUMENTS = len(INSTRUMENTS)


class UnknownStyleError(ValueError):
    """A style name the model was not trained on; the message lists the known ones."""


class DrumModel(Protocol):
    """What the controls need from a model (torch or onnxruntime behind it)."""

    styles: list[str]  # style names, the order of the prior rows
    style_prior_mu: np.ndarray  # [n_styles, z_high] mean of p(z_high | style)
    style_prior_logvar: np.ndarray  # [n_styles, z_high] log-variance of p(z_high | style)
    hit_thresholds: np.ndarray  # [n_styles, 9] logit a cell must exceed to be a hit, per style and instrument
    velocity_gain: np.ndarray  # [n_styles] how much each style's bars spread their velocities around their mean

    def encode(self, hvo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """hvo [N,16,27] float32 -> mu_high [N,4], logvar_high [N,4], mu_low [N,12], logvar_low [N,12]."""

    def prior_low(self, z_high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """z_high [N,4] -> mu_low [N,12], logvar_low [N,12] of p(z_low | z_high)."""

    def decode(self, z_high: np.ndarray, z_low: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """z_high [N,4], z_low [N,12] -> hit logits, velocities (0-1), offsets (steps, -0.5..0.5) [N,16,9] each."""


@dataclass(eq=False)  # compare with .equals: == on arrays is elementwise
class Groove:
    """Bars as a drummer plays them: where (hits), how hard (velocities) and how early or late (offsets).

    Velocities and offsets are 0 where there is no hit.
    """

    hits: np.ndarray  # [n, 16, 9] bool
    velocities: np.ndarray  # [n, 16, 9] float32, 0-1 (MIDI velocity / 127)
    offsets: np.ndarray  # [n, 16, 9] float32, in 16th steps from the grid, -0.5..0.5

    def __post_init__(self) -> None:
        self.hits = np.asarray(self.hits, dtype=bool).reshape(-1, STEPS, N_INSTRUMENTS)
        self.velocities = np.where(self.hits, np.asarray(self.velocities, np.float32).reshape(self.hits.shape),
                                   0).astype(np.float32)
        self.offsets = np.where(self.hits, np.asarray(self.offsets, np.float32).reshape(self.hits.shape),
                                0).astype(np.float32)

    @classmethod
    def from_hits(cls, hits: np.ndarray, velocity: float = 100 / 127) -> "Groove":
        """Bars with hits only (a plain grid): one velocity everywhere, on the grid."""
        hits = np.asarray(hits, dtype=bool).reshape(-1, STEPS, N_INSTRUMENTS)
        return cls(hits, np.full(hits.shape, velocity, np.float32), np.zeros(hits.shape, np.float32))

    @classmethod
    def concat(cls, grooves: Sequence["Groove"]) -> "Groove":
        return cls(np.concatenate([g.hits for g in grooves]), np.concatenate([g.velocities for g in grooves]),
                   np.concatenate([g.offsets for g in grooves]))

    def __len__(self) -> int:
        return len(self.hits)

    def __getitem__(self, index) -> "Groove":
        """Bars ``index`` (an int keeps the bar axis: groove[0] is a one-bar Groove; IndexError past the end)."""
        if isinstance(index, (int, np.integer)):
            position = int(index) + len(self) if int(index) < 0 else int(index)
            if not 0 <= position < len(self):
                raise IndexError(f"bar {int(index)} of a groove of {len(self)} bars")
            index = slice(position, position + 1)
        return Groove(self.hits[index], self.velocities[index], self.offsets[index])

    def __iter__(self):
        """One-bar Grooves, in order."""
        return (self[i] for i in range(len(self)))

    def __array__(self, *args, **kwargs):
        """Not an array: say which of the three is meant (numpy would otherwise nest one-bar Grooves)."""
        raise TypeError("a Groove is hits, velocities and offsets: use .hits, .velocities or .offsets")

    @property
    def shape(self) -> tuple[int, ...]:
        return self.hits.shape

    def quantized(self) -> "Groove":
        """The same hits and velocities on the plain grid (offsets 0)."""
        return Groove(self.hits, self.velocities, np.zeros_like(self.offsets))

    def hvo(self) -> np.ndarray:
        """[n, 16, 27] float32: hits, velocities, offsets; the encoder's input."""
        return np.concatenate([self.hits.astype(np.float32), self.velocities, self.offsets], axis=-1)

    def equals(self, other: "Groove") -> bool:
        """Exactly the same bars (hits, velocities and offsets)."""
        return (np.array_equal(self.hits, other.hits) and np.array_equal(self.velocities, other.velocities)
                and np.array_equal(self.offsets, other.offsets))


def as_groove(bars: "Groove | np.ndarray") -> Groove:
    """A Groove as it is; a plain grid [.., 16, 9] (bool) as hits at one velocity on the grid."""
    return bars if isinstance(bars, Groove) else Groove.from_hits(bars)


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

    Draws: standard normal [N, 12] (none when ``noise`` [N, 12] is passed, to reuse one
    variation across z_high values).
    """
    temperature_low = finite("temperature_low", temperature_low, 0, MAX_TEMPERATURE)
    mu, logvar = model.prior_low(_f32(z_high))
    if noise is None:
        noise = rng.standard_normal(mu.shape)
    return _f32(mu + temperature_low * np.exp(0.5 * logvar) * noise)


def sample_latents(model: DrumModel, style: str, n: int, rng: portable_random.PortableRandom,
                   temperature_high: float = DEFAULT_TEMPERATURE_HIGH,
                   temperature_low: float = DEFAULT_TEMPERATURE_LOW) -> tuple[np.ndarray, np.ndarray]:
    """z_high from the style's prior and z_low from p(z_low | z_high), each with its own temperature.

    Draws: standard normal [n, 4] for z_high, then [n, 12] for z_low.
    """
    s = style_index(model, style)
    temperature_high = finite("temperature_high", temperature_high, 0, MAX_TEMPERATURE)
    mu, std = model.style_prior_mu[s], np.exp(0.5 * model.style_prior_logvar[s])
    z_high = _f32(mu + temperature_high * std * rng.standard_normal((n, len(mu))))
    return z_high, sample_low(model, z_high, rng, temperature_low)


def one_hot(model: DrumModel, style: str, n: int) -> np.ndarray:
    """Style weights [n, styles] that put every bar in ``style``."""
    weights = np.zeros((n, len(model.styles)), np.float64)
    weights[:, style_index(model, style)] = 1.0
    return weights


def style_calibration(model: DrumModel, z_high: np.ndarray,
                      style_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar hit thresholds [N, 9] and velocity gains [N]: the style weights [N, S] times the per-style
    calibration (hit_thresholds [S, 9], velocity_gain [S]).

    Without weights (interpolation, where a bar's style is whatever its z_high says) the
    weights are q(style | z_high), the style priors read as a classifier.
    """
    if style_weights is None:
        style_weights = np.exp(style_log_posterior(model, np.asarray(z_high, np.float64)))
    weights = np.asarray(style_weights, np.float64)
    return (weights @ np.asarray(model.hit_thresholds, np.float64),
            weights @ np.asarray(model.velocity_gain, np.float64))


MIN_VELOCITY = 1 / 127  # the softest note MIDI can play


def spread_velocities(hits: np.ndarray, velocities: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Each bar's velocities moved away from (gain > 1) or toward (gain < 1) the mean velocity of its hits [N, 16, 9].

    The decoder's velocities are averages of what drummers played at a cell, so accents are
    learned but flattened (about half of a real bar's spread); the calibrated gain restores
    the spread of the style, keeping which notes are loud and which soft.
    """
    hits = np.asarray(hits, bool)
    count = np.maximum(hits.sum(axis=(1, 2)), 1)[:, None, None]
    mean = (velocities * hits).sum(axis=(1, 2), keepdims=True) / count
    spread = mean + np.asarray(gain, np.float64).reshape(-1, 1, 1) * (velocities - mean)
    return np.clip(spread, MIN_VELOCITY, 1.0).astype(np.float32)


def decode(model: DrumModel, z_high: np.ndarray, z_low: np.ndarray, temperature: float = 1.0,
           complexity: float = 0.0, style_weights: np.ndarray | None = None) -> Groove:
    """Latents -> a Groove of N bars.

    A cell is a hit when (logit - threshold) / temperature > -complexity * COMPLEXITY_LOGIT_SHIFT,
    with the threshold of its instrument for the bar's style (:func:`style_calibration`;
    ``style_weights`` [N, S] say which style each bar is, e.g. one-hot for a sampled style,
    a mix for a blend). Raising complexity lowers every threshold, so it only adds hits
    (hits per bar rise monotonically); ``temperature`` sharpens (< 1) or flattens (> 1)
    the logits around the thresholds. Velocities are the decoder's at each hit, spread
    around the bar's mean by the style's gain (:func:`spread_velocities`); offsets are the
    decoder's. No random draws.
    """
    temperature = finite("temperature", temperature, MIN_DECODE_TEMPERATURE, MAX_TEMPERATURE)
    complexity = finite("complexity", complexity, -MAX_COMPLEXITY, MAX_COMPLEXITY)
    logits, velocities, offsets = model.decode(_f32(z_high), _f32(z_low))
    thresholds, gain = style_calibration(model, z_high, style_weights)
    hits = (logits - thresholds[:, None, :]) / temperature > -complexity * COMPLEXITY_LOGIT_SHIFT
    return Groove(hits, spread_velocities(hits, velocities, gain), offsets)


def decode_grid(model: DrumModel, z_high: np.ndarray, z_low: np.ndarray, temperature: float = 1.0,
                complexity: float = 0.0, style_weights: np.ndarray | None = None) -> np.ndarray:
    """Only the hits [N, 16, 9] of :func:`decode`."""
    return decode(model, z_high, z_low, temperature, complexity, style_weights).hits


def sample_style(model: DrumModel, style: str, n: int, rng: portable_random.PortableRandom,
                 temperature_high: float = DEFAULT_TEMPERATURE_HIGH,
                 temperature_low: float = DEFAULT_TEMPERATURE_LOW, complexity: float = 0.0) -> Groove:
    """``n`` independent bars of one style. Draws: those of :func:`sample_latents`."""
    z_high, z_low = sample_latents(model, style, n, rng, temperature_high, temperature_low)
    return decode(model, z_high, z_low, complexity=complexity, style_weights=one_hot(model, style, n))


def encode_mean(model: DrumModel, bars: "Groove | np.ndarray") -> tuple[np.ndarray, np.ndarray]:
    """Posterior means (z_high, z_low) of bars (a Groove, or plain grids [N, 16, 9])."""
    mu_high, _, mu_low, _ = model.encode(_f32(as_groove(bars).hvo()))
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
# z_high candidates drawn from the target style's prior (with the HVO model, on validation: 128 reached the
# target style in 0.515 of bars, 256 in 0.535, both keeping 0.84 of the kick and snare onsets)
TRANSFER_CANDIDATES = 256
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


def _style_score(model: DrumModel, bars: Groove, s: int) -> np.ndarray:
    """log q(style s | bar) [N]: the model's own judgement, the re-encoded z_high read against the style priors."""
    return style_log_posterior(model, model.encode(_f32(bars.hvo()))[0])[:, s]


def _fit_transfer(model: DrumModel, source: Groove, s: int, rng: portable_random.PortableRandom, candidates: int,
                  keep: float, complexity: float) -> tuple[np.ndarray, np.ndarray, Groove]:
    """(z_high, z_low, bars) of the "fit" transfer; see :func:`transfer_latents`.

    Draws: standard normal [candidates, 4], once for every bar, before any decoding, so the
    result does not depend on TRANSFER_BATCH_BARS; bars are decoded TRANSFER_BATCH_BARS at a time.
    """
    _, z_low = encode_mean(model, source)
    mu, std = model.style_prior_mu[s], np.exp(0.5 * model.style_prior_logvar[s])
    draws = _f32(mu + TRANSFER_SPREAD * std * rng.standard_normal((candidates, len(mu))))
    draws[0] = mu  # the prior mean is always a candidate
    choice = np.zeros(len(source), dtype=np.int64)
    parts = []
    for start in range(0, len(source), TRANSFER_BATCH_BARS):
        batch = slice(start, start + TRANSFER_BATCH_BARS)
        choice[batch], bars = _fit_bars(model, source[batch], z_low[batch], draws, s, keep, complexity)
        parts.append(bars)
    return draws[choice], z_low, Groove.concat(parts) if parts else Groove.from_hits(np.zeros((0, STEPS, 9), bool))


def _fit_bars(model: DrumModel, source: Groove, z_low: np.ndarray, draws: np.ndarray, s: int, keep: float,
              complexity: float) -> tuple[np.ndarray, Groove]:
    """For bars with their z_low [N, 12]: the chosen candidate [N] and its bars."""
    n, k = len(source), len(draws)
    decoded = decode(model, np.tile(draws, (n, 1)), np.repeat(z_low, k, axis=0), complexity=complexity,
                     style_weights=one_hot(model, model.styles[s], n * k))  # N*K bars, candidate fastest
    hits = decoded.hits.reshape(n, k, STEPS, N_INSTRUMENTS)
    feasible = kick_snare_kept(source.hits[:, None], hits) >= keep  # [N, K]
    score = _style_score(model, decoded, s).reshape(n, k)
    choice = np.where(feasible, score, -np.inf).argmax(1)  # [N]
    stuck = np.flatnonzero(~feasible.any(1))  # bars no candidate keeps enough of: put the source's back
    if len(stuck):
        rows = (stuck[:, None] * k + np.arange(k)).ravel()  # [M*K] candidates of the stuck bars
        restored = decoded[rows]
        backbone = np.zeros((N_INSTRUMENTS,), bool)
        backbone[list(KICK_SNARE)] = True
        src = source[np.repeat(stuck, k)]
        put_back = src.hits & backbone & ~restored.hits
        restored = Groove(restored.hits | put_back, np.where(put_back, src.velocities, restored.velocities),
                          np.where(put_back, src.offsets, restored.offsets))
        best = _style_score(model, restored, s).reshape(len(stuck), k).argmax(1)  # [M]
        choice[stuck] = best
        keep_rows = np.arange(len(stuck)) * k + best
        restored_best = restored[keep_rows]
    picked = decoded[np.arange(n) * k + choice]
    if len(stuck):
        picked.hits[stuck] = restored_best.hits
        picked.velocities[stuck] = restored_best.velocities
        picked.offsets[stuck] = restored_best.offsets
    return choice, picked


def _transfer_settings(model: DrumModel, target_style: str, strength: float, mode: str, candidates: int,
                       keep: float, complexity: float) -> tuple[int, float, float, float]:
    """(style row, strength, keep, complexity) once each is checked, before any bar is encoded."""
    if mode not in ("fit", "shift", "replace"):
        raise ValueError(f"mode must be 'fit', 'shift' or 'replace', got {mode!r}")
    if isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) or candidates < 1:
        raise ValueError(f"candidates must be a positive integer, got {candidates!r}")
    return (style_index(model, target_style), finite("strength", strength, 0, 1), finite("keep", keep, 0, 1),
            finite("complexity", complexity, -MAX_COMPLEXITY, MAX_COMPLEXITY))


def transfer_latents(model: DrumModel, bars: "Groove | np.ndarray", target_style: str, strength: float = 1.0,
                     mode: str = "fit", rng: portable_random.PortableRandom | None = None,
                     candidates: int = TRANSFER_CANDIDATES, keep: float = TRANSFER_KEEP,
                     complexity: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The (z_high, z_low) that :func:`transfer` decodes; z_low is the source's posterior mean, untouched.

    ``bars`` is a Groove (a MIDI file's hits, velocities and offsets) or plain grids.
    Modes for the new z_high:
    - "replace": the target style's prior mean.
    - "shift": the bar's own z_high plus (target prior mean - mean of the style its
      z_high is most likely under), so its offset from its style moves along.
    - "fit" (default): ``candidates`` draws of z_high from the target style's prior
      (at TRANSFER_SPREAD, the prior mean included), each decoded with the source's
      z_low. Among the bars that keep at least ``keep`` of the source's kick and
      snare onsets, the winner is the one the model itself reads as most likely the
      target style (the re-encoded z_high against the style priors). A bar none of
      whose candidates keeps enough gets the source's kick and snare onsets (with their
      velocities and offsets) put back into the candidate that, so restored, reads most
      like the target. A search by sampling that needs only encode() and decode(), with
      the user's backbone as a hard constraint rather than a weight to trade.
      Draws (fit only): standard normal [candidates, 4].
    ``strength`` in [0, 1] moves z_high only part of the way (replace and shift).
    """
    s, strength, keep, complexity = _transfer_settings(model, target_style, strength, mode, candidates, keep,
                                                       complexity)
    source = as_groove(bars)
    if mode == "fit":
        z_high, z_low, _ = _fit_transfer(model, source, s, rng or portable_random.rng(0), candidates, keep,
                                         complexity)
        return z_high, z_low
    z_high, z_low = encode_mean(model, source)
    target = model.style_prior_mu[s][None, :]
    if mode == "replace":
        moved = target
    else:
        moved = z_high + target - model.style_prior_mu[infer_style(model, z_high)]
    return _f32(z_high + strength * (moved - z_high)), _f32(z_low)


def transfer(model: DrumModel, bars: "Groove | np.ndarray", target_style: str, strength: float = 1.0,
             mode: str = "fit", complexity: float = 0.0, rng: portable_random.PortableRandom | None = None,
             candidates: int = TRANSFER_CANDIDATES, keep: float = TRANSFER_KEEP) -> Groove:
    """Restyle bars: encode, keep z_low, move z_high to the target style (see transfer_latents).

    The output is decoded with the target style's thresholds. In "fit" mode every output bar
    keeps at least ``keep`` of its source's kick and snare onsets.
    """
    source = as_groove(bars)
    if mode == "fit":
        s, _, keep, complexity = _transfer_settings(model, target_style, strength, mode, candidates, keep, complexity)
        return _fit_transfer(model, source, s, rng or portable_random.rng(0), candidates, keep, complexity)[2]
    z_high, z_low = transfer_latents(model, source, target_style, strength, mode, rng, candidates, keep)
    return decode(model, z_high, z_low, complexity=complexity,
                  style_weights=one_hot(model, target_style, len(z_high)))


def interpolate(model: DrumModel, bar_a: "Groove | np.ndarray", bar_b: "Groove | np.ndarray", n_steps: int = 8,
                level: str = "both") -> Groove:
    """Bars [n_steps] walking from bar a to bar b in latent space (no random draws).

    ``level`` "high" moves only z_high (style; z_low stays a's), "low" moves
    only z_low (variation; z_high stays a's), "both" moves both. Each bar is decoded
    with the thresholds of the styles its z_high is likely under.
    """
    if level not in ("high", "low", "both"):
        raise ValueError(f"level must be 'high', 'low' or 'both', got {level!r}")
    (ha, la), (hb, lb) = encode_mean(model, bar_a), encode_mean(model, bar_b)
    t = np.linspace(0.0, 1.0, n_steps)[:, None]
    z_high = ha + t * (hb - ha) if level in ("high", "both") else np.repeat(ha, n_steps, axis=0)
    z_low = la + t * (lb - la) if level in ("low", "both") else np.repeat(la, n_steps, axis=0)
    return decode(model, z_high, z_low)


def blend(model: DrumModel, weights: dict[str, float], n: int, rng: portable_random.PortableRandom,
          temperature_high: float = DEFAULT_TEMPERATURE_HIGH,
          temperature_low: float = DEFAULT_TEMPERATURE_LOW) -> Groove:
    """Bars from a mixture of styles: z_high around the weighted mean of the style priors.

    ``weights`` {style: weight >= 0}, normalised here, e.g. {"jazz": 0.7, "latin": 0.3};
    the hit thresholds are mixed with the same weights.
    Draws: standard normal [n, 4] for z_high, then [n, 12] for z_low.
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
    style_weights = np.zeros((n, len(model.styles)))
    np.add.at(style_weights, (slice(None), rows), w)
    return decode(model, z_high, sample_low(model, z_high, rng, temperature_low), style_weights=style_weights)


def evolve(model: DrumModel, z_high: np.ndarray, n: int, rng: portable_random.PortableRandom,
           temperature_low: float = DEFAULT_TEMPERATURE_LOW, style: str | None = None) -> Groove:
    """``n`` bars that share one z_high [4] (the same groove and style) with fresh z_low.

    ``style`` picks the hit thresholds (None: the styles z_high is likely under).
    Draws: standard normal [n, 12] for z_low.
    """
    z_high = np.repeat(_f32(z_high).reshape(1, -1), n, axis=0)
    weights = None if style is None else one_hot(model, style, n)
    return decode(model, z_high, sample_low(model, z_high, rng, temperature_low), style_weights=weights)


def morph(model: DrumModel, style_a: str, style_b: str, n_bars: int, rng: portable_random.PortableRandom,
          temperature_low: float = DEFAULT_TEMPERATURE_LOW) -> Groove:
    """``n_bars`` bars gliding from style a to style b.

    z_high walks from a's prior mean to b's, and the hit thresholds from a's to b's; one
    z_low noise draw is shared, so the variation stays put while the style changes under it.
    Draws: standard normal [1, 12].
    """
    a, b = style_index(model, style_a), style_index(model, style_b)
    t = np.linspace(0.0, 1.0, n_bars)[:, None]
    z_high = _f32(model.style_prior_mu[a] + t * (model.style_prior_mu[b] - model.style_prior_mu[a]))
    noise = np.repeat(rng.standard_normal((1, model.prior_low(z_high[:1])[0].shape[1])), n_bars, axis=0)
    weights = np.zeros((n_bars, len(model.styles)))
    weights[:, a] += 1.0 - t[:, 0]
    weights[:, b] += t[:, 0]
    return decode(model, z_high, sample_low(model, z_high, rng, temperature_low, noise=noise), style_weights=weights)


def hits_per_bar_by_complexity(model: DrumModel, style: str, n: int, seed: int = 0,
                               settings: Sequence[float] = COMPLEXITY_SETTINGS) -> list[float]:
    """Mean hits per bar of the same latents decoded at each complexity setting."""
    z_high, z_low = sample_latents(model, style, n, portable_random.rng(seed))
    weights = one_hot(model, style, n)
    return [float(decode_grid(model, z_high, z_low, complexity=c, style_weights=weights).sum(axis=(1, 2)).mean())
            for c in settings]
