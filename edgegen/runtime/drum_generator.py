"""Drum bars from the exported hierarchical VAE, with onnxruntime and numpy only.

:class:`OnnxDrumModel` is the onnxruntime implementation of the ``DrumModel``
protocol, so every control in :mod:`edgegen.runtime.drum_controls` (style
sampling, transfer, interpolation, blend, evolve, morph, complexity) runs here
exactly as it was measured in training. :class:`DrumGenerator` is the facade the
commands and the live player use: seeds in, :class:`Groove` out (hits [bars, 16, 9]
with the learned velocities and offsets of every hit).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgegen.runtime import drum_controls as controls
from edgegen.runtime import portable_random
from edgegen.runtime.drum_controls import Groove, UnknownStyleError
from edgegen.runtime.onnx_model import ModelError, OnnxModel

ENCODER, PRIOR_LOW, DECODER = "drum_encoder", "drum_prior_low", "drum_decoder"

__all__ = ["DrumGenerator", "Groove", "OnnxDrumModel", "UnknownStyleError"]


class OnnxDrumModel:
    """The three drum graphs behind the ``DrumModel`` protocol.

    The encoder is loaded on first use: sampling (the live player's path) needs
    only the prior and the decoder. All three must come from one checkpoint (same
    sidecar ``group``), or the latents would mean different things to each.
    """

    def __init__(self, models_dir: str | os.PathLike | None = None):
        self._models_dir = models_dir
        self._decoder = _load_kind(DECODER, models_dir)
        self._prior_low = self._load(PRIOR_LOW)
        self._encoder: OnnxModel | None = None
        spec = self._decoder.spec  # its sidecar was checked: priors [styles, z_high], calibration [styles, ...]
        self.styles: list[str] = list(spec.styles)
        self.style_prior_mu = np.asarray(spec.style_prior_mu, dtype=np.float32)
        self.style_prior_logvar = np.asarray(spec.style_prior_logvar, dtype=np.float32)
        self.hit_thresholds = np.asarray(spec.hit_thresholds, dtype=np.float32)
        self.velocity_gain = np.asarray(spec.velocity_gain, dtype=np.float32)
        self.z_high, self.z_low = spec.latent["z_high"], spec.latent["z_low"]

    def _load(self, name: str) -> OnnxModel:
        model = _load_kind(name, self._models_dir)
        if model.spec.group != self._decoder.spec.group:
            raise ModelError(f"{model.path} and {self._decoder.path} come from different trainings "
                             f"(sidecar group {model.spec.group[:12]}... vs {self._decoder.spec.group[:12]}...)")
        if model.spec.latent != self._decoder.spec.latent:
            raise ModelError(f"{model.path} has latent sizes {model.spec.latent}, "
                             f"{self._decoder.path} has {self._decoder.spec.latent}")
        return model

    @property
    def spec(self):
        """The decoder's sidecar (variant, config, metrics, instruments)."""
        return self._decoder.spec

    def encode(self, hvo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self._encoder is None:
            self._encoder = self._load(ENCODER)
        mu_high, logvar_high, mu_low, logvar_low = self._encoder.run(hvo=hvo)
        return mu_high, logvar_high, mu_low, logvar_low

    def prior_low(self, z_high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu_low, logvar_low = self._prior_low.run(z_high=z_high)
        return mu_low, logvar_low

    def decode(self, z_high: np.ndarray, z_low: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        logits, velocities, offsets = self._decoder.run(z_high=z_high, z_low=z_low)
        return logits, velocities, offsets


def _load_kind(name: str, models_dir: str | os.PathLike | None) -> OnnxModel:
    """Model ``name``, which must be of the kind of the same name (a letter model renamed drum_decoder is refused)."""
    model = OnnxModel.by_name(name, models_dir)
    if model.spec.kind != name:
        raise ModelError(f"{model.path} is a {model.spec.kind}, not a {name}")
    return model


def _temperatures(temperature: float, temperature_high: float | None,
                  temperature_low: float | None) -> tuple[float, float]:
    """One ``temperature`` scales both latent spreads around drum_controls' defaults; either can be set alone."""
    temperature = controls.finite("temperature", temperature, above=0, high=controls.MAX_TEMPERATURE)
    high = controls.DEFAULT_TEMPERATURE_HIGH * temperature if temperature_high is None else temperature_high
    low = controls.DEFAULT_TEMPERATURE_LOW * temperature if temperature_low is None else temperature_low
    return (controls.finite("temperature_high", high, 0, controls.MAX_TEMPERATURE),
            controls.finite("temperature_low", low, 0, controls.MAX_TEMPERATURE))


def _check_bars(bars: int) -> None:
    if bars < 1:
        raise ValueError(f"bars must be at least 1, got {bars}")


class DrumGenerator:
    """Drum bars by style: sample, evolve, morph, blend, transfer, interpolate, and MIDI files.

    Every method returns a :class:`Groove`: hits [bars, 16, 9] bool (instruments in
    drum_spec.INSTRUMENTS order), velocities (0-1) and offsets (16ths) of each hit; each is
    repeatable for a given ``seed`` (None = fresh randomness).
    """

    def __init__(self, models_dir: str | os.PathLike | None = None):
        self.model = OnnxDrumModel(models_dir)

    @property
    def styles(self) -> list[str]:
        return list(self.model.styles)

    def check_style(self, style: str) -> str:
        """``style`` if the model knows it; UnknownStyleError listing the styles otherwise."""
        controls.style_index(self.model, style)
        return style

    def sample(self, style: str, bars: int = 1, seed: int | None = None, temperature: float = 1.0,
               temperature_high: float | None = None, temperature_low: float | None = None,
               complexity: float = 0.0) -> Groove:
        """``bars`` independent bars of ``style``. ``temperature`` widens (>1) or narrows (<1) the
        variety; ``complexity`` in [-1, 1] removes or adds hits."""
        _check_bars(bars)
        high, low = _temperatures(temperature, temperature_high, temperature_low)
        return controls.sample_style(self.model, style, bars, portable_random.rng(seed), temperature_high=high,
                                     temperature_low=low, complexity=complexity)

    def evolve(self, style: str, bars: int, seed: int | None = None, every: int = 4, temperature: float = 1.0,
               temperature_high: float | None = None, temperature_low: float | None = None) -> Groove:
        """One groove (one z_high) for all ``bars``, with a new variation (z_low) every ``every`` bars."""
        _check_bars(bars)
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        high, low = _temperatures(temperature, temperature_high, temperature_low)
        rng = portable_random.rng(seed)
        z_high, _ = controls.sample_latents(self.model, style, 1, rng, temperature_high=high, temperature_low=low)
        variations = controls.evolve(self.model, z_high[0], -(-bars // every), rng, temperature_low=low, style=style)
        return variations[np.repeat(np.arange(len(variations)), every)[:bars]]

    def morph(self, style_from: str, style_to: str, bars: int, seed: int | None = None) -> Groove:
        """``bars`` bars gliding from one style to another (z_high walks between the style priors)."""
        _check_bars(bars)
        return controls.morph(self.model, style_from, style_to, bars, portable_random.rng(seed))

    def blend(self, weights: dict[str, float], bars: int = 1, seed: int | None = None) -> Groove:
        """Bars from a weighted mixture of styles, e.g. {"jazz": 0.7, "latin": 0.3}."""
        _check_bars(bars)
        return controls.blend(self.model, weights, bars, portable_random.rng(seed))

    def transfer(self, bars: "Groove | np.ndarray", style: str, seed: int | None = None, strength: float = 1.0,
                 mode: str = "fit", complexity: float = 0.0, keep: float = controls.TRANSFER_KEEP) -> Groove:
        """Restyle bars (a Groove, e.g. a MIDI file's, or plain grids [n, 16, 9]): keep their variation
        (z_low), move z_high to ``style``.

        ``mode`` (see drum_controls.transfer_latents): "fit" picks, among target-style
        candidates (drawn with ``seed``) that keep at least ``keep`` of each bar's kick and
        snare onsets, the one the model reads most as ``style``; "shift" moves the bar's own
        z_high by the difference of style means; "replace" uses the target's prior mean.
        """
        return controls.transfer(self.model, controls.as_groove(bars), style, strength=strength, mode=mode, complexity=complexity,
                                 rng=portable_random.rng(seed), keep=keep)

    def interpolate(self, bar_a: "Groove | np.ndarray", bar_b: "Groove | np.ndarray", steps: int = 8,
                    level: str = "both") -> Groove:
        """``steps`` bars walking from bar a to bar b through latent space."""
        return controls.interpolate(self.model, controls.as_groove(bar_a), controls.as_groove(bar_b),
                                    n_steps=steps, level=level)

    def write_midi(self, groove: "Groove | np.ndarray", path: str | os.PathLike, bpm: float = 120,
                   swing: float = 0.0, humanize: float = 0.0, seed: int | None = None,
                   note_map: dict[str, int] | str | os.PathLike | None = None, quantize: bool = False) -> None:
        """Write bars as a General MIDI drum file (channel 10), atomically, with their velocities and offsets.

        ``quantize`` writes every note on the grid (velocities kept); swing and ``humanize``
        apply on top. ``note_map`` is {instrument: pitch} or the path of such a JSON file
        (drum machines that do not follow GM).
        """
        from edgegen.runtime import midi_io

        if note_map is not None and not isinstance(note_map, dict):
            note_map = midi_io.load_note_map(note_map)
        groove = controls.as_groove(groove)
        midi_io.write_midi(Path(path), groove.hits, velocities=groove.velocities, offsets=groove.offsets, bpm=bpm,
                           swing=swing, humanize=humanize, seed=seed, note_map=note_map, quantize=quantize)
