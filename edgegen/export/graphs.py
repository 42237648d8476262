"""Which graphs each checkpoint becomes, with their parity inputs and downstream checks.

The training code owns the models; it hands them over through one loader per
family (`load_*_for_export`), so this module never needs to know a layer.

The drum VAE becomes three graphs that share one sidecar group (the sha256 of the
checkpoint): ``drum_encoder`` (grid -> posterior of z_high and z_low, for style
transfer), ``drum_prior_low`` (z_high -> conditional prior of z_low) and
``drum_decoder`` (z_high, z_low -> logits). Split rather than combined because the
runtime calls them in different orders (sample: prior then decoder; transfer:
encoder then decoder), and sampling noise is drawn in numpy between them.
"""
from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgegen.export.onnx_export import GraphSpec
from edgegen.runtime.drum_spec import GM_WRITE_PITCHES, INSTRUMENTS, STEPS

LETTERS = list(string.ascii_uppercase)
IMAGE_SHAPE = [1, 28, 28]
GRID_SHAPE = [STEPS, len(INSTRUMENTS)]
HIT_DENSITY = 0.126  # share of hits in a GMD bar (DESIGN section 9): realistic parity inputs


def _normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def _onehot(rng: np.random.Generator, batch: int, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[rng.integers(0, classes, batch)]


def _grids(rng: np.random.Generator, batch: int) -> np.ndarray:
    return (rng.random((batch, *GRID_SHAPE)) < HIT_DENSITY).astype(np.float32)


def _common(info: dict[str, Any], checkpoint: Path) -> dict[str, Any]:
    """Sidecar fields every graph carries: what it is and how well it trained."""
    return {
        "variant": info.get("variant", checkpoint.parent.name),
        "config": info.get("config", {}),
        "metrics": info.get("metrics", {}),
        "extra": {"checkpoint": str(checkpoint), "epoch": info.get("epoch")},
    }


def letter_generator(checkpoint: Path) -> GraphSpec:
    """A GAN generator: z [N, z_dim] (+ onehot [N, 26]) -> image [N, 1, 28, 28], ink 1 in [0, 1]."""
    from edgegen.training.letters.gan import load_generator_for_export

    module, info = load_generator_for_export(checkpoint)
    z_dim, conditional = int(info["z_dim"]), bool(info["conditional"])
    inputs: dict[str, list[int | str]] = {"z": ["batch", z_dim]}
    if conditional:
        inputs["onehot"] = ["batch", len(LETTERS)]

    def make_inputs(batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        feed = {"z": _normal(rng, batch, z_dim)}
        if conditional:
            feed["onehot"] = _onehot(rng, batch, len(LETTERS))
        return feed

    common = _common(info, checkpoint)
    return GraphSpec(
        name=f"letters_{common['variant']}", kind="letter_generator", module=module.eval(),
        inputs=inputs, outputs={"image": ["batch", *IMAGE_SHAPE]},
        make_inputs=make_inputs, downstream=lambda feed, out: out[0] > 0.5,
        sidecar={**common, "conditional": conditional, "latent": {"z_dim": z_dim}, "classes": LETTERS},
    )


def letter_classifier(checkpoint: Path) -> GraphSpec:
    """The letter CNN: image [N, 1, 28, 28] -> logits [N, 26]; downstream = predicted letter."""
    from edgegen.training.letters.classifier import load_classifier_for_export

    loaded = load_classifier_for_export(checkpoint)
    module, info = loaded if isinstance(loaded, tuple) else (loaded, {})
    if "val_accuracy" in info:
        info = {**info, "metrics": {**info.get("metrics", {}), "val_accuracy": info["val_accuracy"]}}
    return GraphSpec(
        name="letter_classifier", kind="letter_classifier", module=module.eval(),
        inputs={"image": ["batch", *IMAGE_SHAPE]}, outputs={"logits": ["batch", len(LETTERS)]},
        make_inputs=lambda batch, rng: {"image": rng.random((batch, *IMAGE_SHAPE)).astype(np.float32)},
        downstream=lambda feed, out: out[0].argmax(axis=1),
        sidecar={**_common({"variant": "classifier", **info}, checkpoint), "classes": LETTERS},
    )


def drum_vae(checkpoint: Path) -> list[GraphSpec]:
    """The hierarchical VAE as encoder, conditional prior of z_low, and decoder."""
    from edgegen.training.drums.vae import load_vae_for_export

    vae, info = load_vae_for_export(checkpoint)
    vae.eval()
    with torch.no_grad():
        mu_high, _, mu_low, _ = vae.encoder(torch.zeros(1, *GRID_SHAPE))
    z_high, z_low = int(mu_high.shape[1]), int(mu_low.shape[1])

    def grid_of(zh: np.ndarray, zl: np.ndarray) -> np.ndarray:
        """The torch decoder's grid for given latents: the one fixed yardstick for every graph."""
        with torch.no_grad():
            return (vae.decoder(torch.from_numpy(zh), torch.from_numpy(zl)) > 0).numpy()

    common = {
        **_common(info, checkpoint),
        "latent": {"z_high": z_high, "z_low": z_low},
        "classes": [{"name": name, "pitch": GM_WRITE_PITCHES[name]} for name in INSTRUMENTS],
        "styles": list(info["styles"]),
        "style_prior_mu": np.asarray(info["style_prior_mu"], dtype=float).tolist(),
        "style_prior_logvar": np.asarray(info["style_prior_logvar"], dtype=float).tolist(),
        "controls": {key: info[key] for key in ("temperature_high", "temperature_low", "decode_mode",
                                                "complexity_settings", "complexity_logit_shift") if key in info},
    }
    encoder = GraphSpec(
        name="drum_encoder", kind="drum_encoder", module=vae.encoder,
        inputs={"grid": ["batch", *GRID_SHAPE]},
        outputs={"mu_high": ["batch", z_high], "logvar_high": ["batch", z_high],
                 "mu_low": ["batch", z_low], "logvar_low": ["batch", z_low]},
        make_inputs=lambda batch, rng: {"grid": _grids(rng, batch)},
        downstream=lambda feed, out: grid_of(out[0], out[2]),  # transfer path: decode the posterior means
        sidecar=common,
    )
    prior_low = GraphSpec(
        name="drum_prior_low", kind="drum_prior_low", module=vae.prior_low,
        inputs={"z_high": ["batch", z_high]},
        outputs={"mu_low": ["batch", z_low], "logvar_low": ["batch", z_low]},
        make_inputs=lambda batch, rng: {"z_high": _normal(rng, batch, z_high)},
        downstream=lambda feed, out: grid_of(feed["z_high"], out[0]),  # sampling path at the prior mean
        sidecar=common,
    )
    decoder = GraphSpec(
        name="drum_decoder", kind="drum_decoder", module=vae.decoder,
        inputs={"z_high": ["batch", z_high], "z_low": ["batch", z_low]},
        outputs={"logits": ["batch", *GRID_SHAPE]},
        make_inputs=lambda batch, rng: {"z_high": _normal(rng, batch, z_high), "z_low": _normal(rng, batch, z_low)},
        downstream=lambda feed, out: out[0] > 0,
        sidecar=common,
    )
    return [encoder, prior_low, decoder]


def drum_style_classifier(checkpoint: Path) -> GraphSpec:
    """The style classifier on real bars: grid [N, 16, 9] -> logits [N, styles]."""
    from edgegen.training.drums.style_classifier import load_style_classifier_for_export

    loaded = load_style_classifier_for_export(checkpoint)
    module, info = loaded if isinstance(loaded, tuple) else (loaded, {})
    styles = list(info.get("styles", ()))
    if not styles:
        from edgegen.runtime.drum_spec import STYLES

        styles = list(STYLES)
    return GraphSpec(
        name="drum_style_classifier", kind="drum_style_classifier", module=module.eval(),
        inputs={"grid": ["batch", *GRID_SHAPE]}, outputs={"logits": ["batch", len(styles)]},
        make_inputs=lambda batch, rng: {"grid": _grids(rng, batch)},
        downstream=lambda feed, out: out[0].argmax(axis=1),
        sidecar={**_common({"variant": "style_classifier", **info}, checkpoint), "classes": styles, "styles": styles},
    )
