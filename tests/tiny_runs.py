"""Tiny untrained checkpoints in the training code's own formats, for export and runtime tests.

Built from the training constructors (so an architecture change reaches these
tests) with random weights and perturbed BatchNorm statistics (so parity is
tested on non-trivial numbers), in well under a second.
"""
from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import torch

# The plain transposed-conv generator, the conditional default and the best unconditional one (upsampling,
# InfoGAN code): every generator architecture the bundled models use.
LETTER_VARIANTS = ("conditional_stabilised", "vanilla", "infogan_balanced")


def _perturb_batchnorm(module: torch.nn.Module, generator: torch.Generator) -> None:
    for layer in module.modules():
        if isinstance(layer, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            layer.running_mean.copy_(0.1 * torch.randn(layer.running_mean.shape, generator=generator))
            layer.running_var.copy_(0.5 + torch.rand(layer.running_var.shape, generator=generator))


def make_runs(root: Path, seed: int = 0) -> Path:
    """Write RUNS-style checkpoints under ``root``: the letter GANs of LETTER_VARIANTS, the letter style model (as
    variant "style", exported as letters_style: the default), the classifier, the drum VAE and the style
    classifier. Returns ``root``."""
    from edgegen.training.drums import style_classifier
    from edgegen.training.drums import vae as drum_vae
    from edgegen.training.letters import classifier as letter_classifier
    from edgegen.training.letters import gan, style_model
    from edgegen.training.checkpoint import save_checkpoint
    from edgegen.training.common import set_threads

    set_threads(1)
    torch.manual_seed(seed)
    noise = torch.Generator().manual_seed(seed)
    for variant in LETTER_VARIANTS:
        registered = gan.get_variant(variant)  # its switches, at a tiny size
        config = replace(registered, z_dim=max(8, registered.code_categories), g_channels=8, g_mid_channels=4,
                         g_out_channels=min(registered.g_out_channels, 4))
        generator = gan.build_generator(config)
        _perturb_batchnorm(generator, noise)
        last = [m for m in generator.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))][-1]
        with torch.no_grad():  # spread the untrained outputs away from 0.5, where thresholding would be a coin toss
            last.weight.mul_(20.0)
        save_checkpoint({"kind": gan.KIND, "variant": variant, "config": asdict(config), "epoch": 1,
                         "modules": {"generator": generator.state_dict()},
                         "metrics": {"coverage": 0.5}}, root / "letters" / variant / "checkpoint.pt")
    style_config = style_model.VARIANTS["style_tiny"]
    style = style_model.StyleModel(style_config)
    with torch.no_grad():  # as for the GANs: outputs away from 0.5; a prior that is not N(0, I)
        style.generator.out.weight.mul_(20.0)
        style.prior_mean.normal_(0.0, 0.5, generator=noise)
        factor = torch.randn(style_config.style_dim, style_config.style_dim, generator=noise) * 0.3
        style.prior_cov.copy_(factor @ factor.T + 0.1 * torch.eye(style_config.style_dim))
    save_checkpoint({"kind": style_model.KIND, "variant": "style", "config": asdict(style_config), "epoch": 1,
                     "modules": {"model": style.state_dict()}, "metrics": {"few_shot_retrieval": 0.5}},
                    root / "letters" / "style" / "checkpoint.pt")
    config = letter_classifier.ClassifierConfig(channels1=4, channels2=4, hidden=8)
    classifier = letter_classifier.build_classifier(config)
    save_checkpoint({"kind": letter_classifier.KIND, "variant": "classifier", "config": asdict(config),
                     "epoch": 1, "modules": {"model": classifier.state_dict()}, "metrics": {"val_accuracy": 0.0}},
                    root / "letters" / "classifier" / "checkpoint.pt")
    vae_config = drum_vae.VARIANTS["tiny"]
    vae = drum_vae.HierarchicalDrumVAE(vae_config)
    with torch.no_grad():  # wider weights than the init: sparse, latent-dependent grids (untrained ones are all hits)
        for parameter in vae.decoder.parameters():
            parameter.normal_(0.0, 0.3, generator=noise)
    save_checkpoint({"kind": drum_vae.KIND, "variant": "tiny", "config": asdict(vae_config), "epoch": 1,
                     "modules": {"model": vae.state_dict()}, "metrics": {"test_f1": 0.1}},
                    root / "drums" / "vae" / "checkpoint.pt")
    style_config = style_classifier.CLASSIFIER_VARIANTS["tiny"]
    styles = style_classifier.StyleClassifier(style_config)
    save_checkpoint({"kind": style_classifier.KIND, "variant": "tiny", "config": asdict(style_config), "epoch": 1,
                     "modules": {"model": styles.state_dict()}},
                    root / "drums" / "style_classifier" / "checkpoint.pt")
    return root


_EXPORTED: dict[str, Path] = {}


def exported_models() -> tuple[Path, Path]:
    """(runs, models): tiny checkpoints and their ONNX export, built once per test session.

    Cached in a module global (pytest imports this helper once), removed at exit.
    Tests must copy the models folder before damaging anything in it.
    """
    if not _EXPORTED:
        import atexit
        import shutil
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="edgegen_tiny_"))
        atexit.register(shutil.rmtree, root, True)
        runs = make_runs(root / "runs")
        export_runs(runs, root / "models")
        _EXPORTED.update(runs=runs, models=root / "models")
    return _EXPORTED["runs"], _EXPORTED["models"]


def export_runs(runs: Path, out: Path) -> list[dict]:
    """Export every tiny checkpoint the way `python -m edgegen.export all --no-int8` does."""
    from click.testing import CliRunner

    from edgegen.export.__main__ import main

    result = CliRunner().invoke(main, ["all", "--runs", str(runs), "--out", str(out), "--no-int8"])
    if result.exit_code != 0:
        raise RuntimeError(f"tiny export failed: {result.output}") from result.exception
    return sorted(out.glob("*.onnx.json"))
