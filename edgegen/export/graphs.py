"""Which graphs each checkpoint becomes, with their parity inputs and downstream checks.

The training code owns the models; this module loads them with the training side's
own loaders (config inside every checkpoint), so it never needs to know a layer.
Metrics come from the checkpoint and, where a report measured more (the drum models'
test metrics), from the report's REPORT_METRICS_FILE beside it.

The drum VAE becomes three graphs that share one sidecar group (the sha256 of the
checkpoint): ``drum_encoder`` (HVO bar [16, 27]: hits, velocities, offsets -> posterior
of z_high and z_low, for style transfer), ``drum_prior_low`` (z_high -> conditional prior
of z_low) and ``drum_decoder`` (z_high, z_low -> hit logits, velocities, offsets), whose
sidecar also carries the decoding calibration (per-style hit thresholds and velocity
gains, from calibration.json beside the checkpoint). Split rather than combined because the
runtime calls them in different orders (sample: prior then decoder; transfer:
encoder then decoder), and sampling noise is drawn in numpy between them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgegen.export.onnx_export import GraphSpec
from edgegen.runtime import drum_controls
from edgegen.runtime.drum_spec import GM_WRITE_PITCHES, HVO_CHANNELS, INSTRUMENTS, STEPS, STYLES
from edgegen.runtime.letter_spec import IMAGE_SIZE, LETTERS
from edgegen.training.checkpoint import REPORT_METRICS_FILE

IMAGE_SHAPE = [1, IMAGE_SIZE, IMAGE_SIZE]
GRID_SHAPE = [STEPS, len(INSTRUMENTS)]
HVO_SHAPE = [STEPS, HVO_CHANNELS]
TICKS_PER_STEP = 120  # midi_io writes 480 ticks per beat: an offset is heard to 1/120 of a 16th
HIT_DENSITY = 0.126  # share of hits in a GMD bar (DESIGN section 9): realistic parity inputs


def _normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def _onehot(rng: np.random.Generator, batch: int, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[rng.integers(0, classes, batch)]


def _grids(rng: np.random.Generator, batch: int) -> np.ndarray:
    return (rng.random((batch, *GRID_SHAPE)) < HIT_DENSITY).astype(np.float32)


def _hvo(rng: np.random.Generator, batch: int) -> np.ndarray:
    """Realistic encoder inputs: sparse hits, with velocities in 0-1 and offsets in -0.5..0.5 where they are."""
    hits = _grids(rng, batch)
    velocities = rng.random((batch, *GRID_SHAPE)).astype(np.float32)
    offsets = (rng.random((batch, *GRID_SHAPE)) - 0.5).astype(np.float32)
    return np.concatenate([hits, hits * velocities, hits * offsets], axis=-1).astype(np.float32)


class _Calibrated:
    """The style priors and decoding calibration, as drum_controls reads them from a model."""

    def __init__(self, styles, mu, logvar, calibration):
        self.styles, self.style_prior_mu, self.style_prior_logvar = list(styles), mu, logvar
        self.hit_thresholds, self.velocity_gain = calibration["hit_thresholds"], calibration["velocity_gain"]


def _played(model: _Calibrated, z_high: np.ndarray, logits: np.ndarray, velocities: np.ndarray,
            offsets: np.ndarray) -> np.ndarray:
    """What a user hears from decoder outputs [3, N, 16, 9] int: hits (thresholds of the styles z_high is likely
    under), MIDI velocities and offsets in MIDI ticks, as drum_controls.decode and midi_io write them."""
    thresholds, gain = drum_controls.style_calibration(model, z_high)
    hits = logits - thresholds[:, None, :] > 0
    played = drum_controls.spread_velocities(hits, velocities, gain)
    return np.stack([hits, np.round(played * 127) * hits, np.round(offsets * TICKS_PER_STEP) * hits]).astype(int)


def _common(meta: dict[str, Any], checkpoint: Path) -> dict[str, Any]:
    """Sidecar fields every graph carries: what it is and how well it trained."""
    report = checkpoint.parent / REPORT_METRICS_FILE
    measured = json.loads(report.read_text()) if report.is_file() else {}
    return {
        "variant": meta["variant"],
        "config": meta["config"],
        "metrics": {**meta.get("metrics", {}), **measured},
        "extra": {"checkpoint": "/".join(checkpoint.parts[-3:]), "epoch": meta["epoch"]},
    }


def letter_generator(checkpoint: Path) -> GraphSpec:
    """A GAN generator: z [N, z_dim] (+ onehot [N, 26]) -> image [N, 1, 28, 28], ink 1 in [0, 1]."""
    from edgegen.training.letters.gan import load_generator

    module, meta = load_generator(checkpoint)
    z_dim, conditional = int(meta["config"]["z_dim"]), bool(meta["config"]["conditional"])
    inputs: dict[str, list[int | str]] = {"z": ["batch", z_dim]}
    if conditional:
        inputs["onehot"] = ["batch", len(LETTERS)]

    def make_inputs(batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        feed = {"z": _normal(rng, batch, z_dim)}
        if conditional:
            feed["onehot"] = _onehot(rng, batch, len(LETTERS))
        return feed

    common = _common(meta, checkpoint)
    return GraphSpec(
        name=f"letters_{common['variant']}", kind="letter_generator", module=module.eval(),
        inputs=inputs, outputs={"image": ["batch", *IMAGE_SHAPE]},
        make_inputs=make_inputs, downstream=lambda feed, out: out[0] > 0.5,
        sidecar={**common, "conditional": conditional, "latent": {"z_dim": z_dim}, "classes": list(LETTERS)},
    )


def letter_style(checkpoint: Path) -> list[GraphSpec]:
    """The style model as two graphs sharing one sidecar group: ``letters_<variant>`` (the generator:
    onehot [N, 26] + style [N, d] -> image [N, 1, S, S]) and ``letters_<variant>_encoder`` (glyphs
    [N, 26, S, S] + letters [N, 26, 26] one-hot + mask [N, 26] -> style [N, d]; up to 26 examples, the
    unused slots masked out). The prior (mean and Cholesky factor of the covariance) is in both sidecars."""
    from edgegen.training.letters.style_model import EncoderGraph, GeneratorGraph, load_style_model

    model, meta = load_style_model(checkpoint)
    d, size, n = model.config.style_dim, model.config.image_size, len(LETTERS)
    prior_mean = model.prior_mean.numpy().astype(float)
    prior_chol = model.prior_cholesky().numpy().astype(float)

    def drawn(letters: np.ndarray, styles: np.ndarray) -> np.ndarray:
        """The torch generator's thresholded glyphs: the one fixed yardstick for both graphs."""
        with torch.no_grad():
            return (model.generator(torch.from_numpy(letters), torch.from_numpy(styles)) > 0.5).numpy()

    def styles_of(rng: np.random.Generator, batch: int) -> np.ndarray:
        return (prior_mean + _normal(rng, batch, d) @ prior_chol.T).astype(np.float32)

    def encoder_inputs(batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        glyphs = (rng.random((batch, n, size, size)) ** 3).astype(np.float32)  # mostly background, some ink
        letters = np.stack([np.eye(n, dtype=np.float32)[rng.permutation(n)] for _ in range(batch)])
        counts = rng.integers(1, n + 1, batch)
        mask = (np.arange(n)[None, :] < counts[:, None]).astype(np.float32)
        return {"glyphs": glyphs, "letters": letters, "mask": mask}

    common = {
        **_common(meta, checkpoint),
        "latent": {"style_dim": d, "image_size": size, "examples": n},
        "classes": list(LETTERS),
        "style_prior_mean": prior_mean.tolist(),
        "style_prior_cholesky": prior_chol.tolist(),
    }
    name = f"letters_{meta['variant']}"
    generator = GraphSpec(
        name=name, kind="letter_style_generator", module=GeneratorGraph(model).eval(),
        inputs={"onehot": ["batch", n], "style": ["batch", d]}, outputs={"image": ["batch", 1, size, size]},
        make_inputs=lambda batch, rng: {"onehot": _onehot(rng, batch, n), "style": styles_of(rng, batch)},
        downstream=lambda feed, out: out[0] > 0.5, sidecar=common,
    )
    encoder = GraphSpec(
        name=f"{name}_encoder", kind="letter_style_encoder", module=EncoderGraph(model).eval(),
        inputs={"glyphs": ["batch", n, size, size], "letters": ["batch", n, n], "mask": ["batch", n]},
        outputs={"style": ["batch", d]}, make_inputs=encoder_inputs,
        downstream=lambda feed, out: drawn(np.eye(n, dtype=np.float32)[np.arange(len(out[0])) % n], out[0]),
        sidecar=common,
    )
    return [generator, encoder]


def letter_classifier(checkpoint: Path) -> GraphSpec:
    """The letter CNN: image [N, 1, 28, 28] -> logits [N, 26]; downstream = predicted letter."""
    from edgegen.training.letters.classifier import load_classifier

    module, meta = load_classifier(checkpoint)
    return GraphSpec(
        name="letter_classifier", kind="letter_classifier", module=module.eval(),
        inputs={"image": ["batch", *IMAGE_SHAPE]}, outputs={"logits": ["batch", len(LETTERS)]},
        make_inputs=lambda batch, rng: {"image": rng.random((batch, *IMAGE_SHAPE)).astype(np.float32)},
        downstream=lambda feed, out: out[0].argmax(axis=1),
        sidecar={**_common(meta, checkpoint), "classes": list(LETTERS)},
    )


def drum_vae(checkpoint: Path) -> list[GraphSpec]:
    """The hierarchical VAE as encoder, conditional prior of z_low, and decoder."""
    from edgegen.training.drums.calibration import load_calibration
    from edgegen.training.drums.vae import load_vae, style_priors

    vae, meta = load_vae(checkpoint)
    prior_mu, prior_logvar = style_priors(vae)
    with torch.no_grad():
        mu_high, _, mu_low, _ = vae.encoder(torch.zeros(1, *HVO_SHAPE))
    z_high, z_low = int(mu_high.shape[1]), int(mu_low.shape[1])
    calibration = load_calibration(checkpoint.parent)
    calibrated = calibration is not None
    if calibration is None:  # a run without one (tests' tiny checkpoints): probability 0.5, velocities as decoded
        calibration = {"hit_thresholds": np.zeros((len(STYLES), len(INSTRUMENTS)), np.float32),
                       "velocity_gain": np.ones(len(STYLES), np.float32)}
    model = _Calibrated(STYLES, prior_mu, prior_logvar, calibration)

    def played_of(zh: np.ndarray, zl: np.ndarray) -> np.ndarray:
        """The torch decoder's played bars for given latents: the one fixed yardstick for every graph."""
        with torch.no_grad():
            outputs = [t.numpy() for t in vae.decoder(torch.from_numpy(zh), torch.from_numpy(zl))]
        return _played(model, zh, *outputs)

    common = {
        **_common(meta, checkpoint),
        "latent": {"z_high": z_high, "z_low": z_low},
        "classes": [{"name": name, "pitch": GM_WRITE_PITCHES[name]} for name in INSTRUMENTS],
        "styles": list(STYLES),
        "style_prior_mu": prior_mu.astype(float).tolist(),
        "style_prior_logvar": prior_logvar.astype(float).tolist(),
    }
    decoding = {"hit_thresholds": np.asarray(calibration["hit_thresholds"], float).tolist(),
                "velocity_gain": np.asarray(calibration["velocity_gain"], float).tolist(),
                "calibrated": calibrated}
    encoder = GraphSpec(
        name="drum_encoder", kind="drum_encoder", module=vae.encoder,
        inputs={"hvo": ["batch", *HVO_SHAPE]},
        outputs={"mu_high": ["batch", z_high], "logvar_high": ["batch", z_high],
                 "mu_low": ["batch", z_low], "logvar_low": ["batch", z_low]},
        make_inputs=lambda batch, rng: {"hvo": _hvo(rng, batch)},
        downstream=lambda feed, out: played_of(out[0], out[2]),  # transfer path: decode the posterior means
        sidecar=common,
    )
    prior_low = GraphSpec(
        name="drum_prior_low", kind="drum_prior_low", module=vae.prior_low,
        inputs={"z_high": ["batch", z_high]},
        outputs={"mu_low": ["batch", z_low], "logvar_low": ["batch", z_low]},
        make_inputs=lambda batch, rng: {"z_high": _normal(rng, batch, z_high)},
        downstream=lambda feed, out: played_of(feed["z_high"], out[0]),  # sampling path at the prior mean
        sidecar=common,
    )
    decoder = GraphSpec(
        name="drum_decoder", kind="drum_decoder", module=vae.decoder,
        inputs={"z_high": ["batch", z_high], "z_low": ["batch", z_low]},
        outputs={"logits": ["batch", *GRID_SHAPE], "velocities": ["batch", *GRID_SHAPE],
                 "offsets": ["batch", *GRID_SHAPE]},
        make_inputs=lambda batch, rng: {"z_high": _normal(rng, batch, z_high), "z_low": _normal(rng, batch, z_low)},
        downstream=lambda feed, out: _played(model, feed["z_high"], *out),  # hits, MIDI velocities, offset ticks
        sidecar={**common, **decoding},
    )
    return [encoder, prior_low, decoder]


def drum_style_classifier(checkpoint: Path) -> GraphSpec:
    """The style classifier on real bars: grid [N, 16, 9] -> logits [N, styles]."""
    from edgegen.training.drums.style_classifier import load_style_classifier

    module, meta = load_style_classifier(checkpoint)
    return GraphSpec(
        name="drum_style_classifier", kind="drum_style_classifier", module=module.eval(),
        inputs={"grid": ["batch", *GRID_SHAPE]}, outputs={"logits": ["batch", len(STYLES)]},
        make_inputs=lambda batch, rng: {"grid": _grids(rng, batch)},
        downstream=lambda feed, out: out[0].argmax(axis=1),
        sidecar={**_common(meta, checkpoint), "classes": list(STYLES), "styles": list(STYLES)},
    )
