"""`python -m edgegen.export all --runs RUNS --out OUT`: every trained checkpoint -> ONNX + sidecar.

Looks for
    RUNS/letters/<variant>/checkpoint.pt      -> letters_<variant>   (every GAN variant)
    RUNS/letters/<style variant>/checkpoint.pt -> letters_<variant> + letters_<variant>_encoder (style models)
    RUNS/letters/classifier/checkpoint.pt     -> letter_classifier
    RUNS/drums/vae/checkpoint.pt              -> drum_encoder, drum_prior_low, drum_decoder
    RUNS/drums/style_classifier/checkpoint.pt -> drum_style_classifier
and stops with a non-zero exit at the first graph whose parity check fails.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from edgegen.runtime.onnx_model import sha256_file


def find_checkpoints(runs: Path) -> dict[str, list[Path]]:
    """Checkpoints by family; a missing family is an empty list."""
    letters = runs / "letters"
    from edgegen.training.letters.gan import VARIANTS as GAN_VARIANTS
    from edgegen.training.letters.style_model import VARIANTS as STYLE_VARIANTS

    found = sorted(letters.glob("*/checkpoint.pt")) if letters.is_dir() else []
    is_style = lambda p: p.parent.name in STYLE_VARIANTS  # noqa: E731
    gans = [p for p in found if p.parent.name in GAN_VARIANTS]  # not the classifier, the style model, the judge
    pick = lambda p: [p] if p.is_file() else []  # noqa: E731
    return {
        "letter_generator": gans,
        "letter_style": [p for p in found if is_style(p)],
        "letter_classifier": pick(letters / "classifier" / "checkpoint.pt"),
        "drum_vae": pick(runs / "drums" / "vae" / "checkpoint.pt"),
        "drum_style_classifier": pick(runs / "drums" / "style_classifier" / "checkpoint.pt"),
    }


@click.group()
def main() -> None:
    """Export trained edgegen models to ONNX with JSON sidecars and parity checks."""


@main.command("all")
@click.option("--runs", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"), show_default=True,
              help="Training runs folder (holds letters/ and drums/).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for NAME.onnx + NAME.onnx.json (edgegen/models for the bundled models).")
@click.option("--quick", is_flag=True, help="Smoke mode for CI: skip the int8 quantisation study.")
@click.option("--int8/--no-int8", "study_int8", default=True, show_default=True,
              help="Also quantise every graph to int8 (dynamic) and record its parity in RUNS/export/quantization.json; "
                   "the int8 files are not shipped.")
@click.option("--tolerance", type=click.FloatRange(0, 1e-3), default=1e-5, show_default=True,
              help="Max abs torch/onnxruntime difference allowed (recorded in every sidecar). Raise it only "
                   "knowingly: float32 rounding is relative, so very large logits can exceed 1e-5 with exact math.")
def export_all(runs: Path, out: Path, quick: bool, study_int8: bool, tolerance: float) -> None:
    """Export every model found under RUNS into OUT; fail loudly when a parity check breaks.

    \b
    Example:
      python -m edgegen.export all --runs runs --out edgegen/models
    """
    from edgegen.export import graphs
    from edgegen.export.onnx_export import ParityError, export_graph
    from edgegen.training.common import default_threads, set_threads

    from edgegen.models import MODELS_DIR

    if quick and out.resolve() == MODELS_DIR.resolve():
        raise click.ClickException(f"--quick models are tiny smoke-run models; they never replace the bundled ones "
                                   f"in {MODELS_DIR} (choose another --out, e.g. scratch/models)")
    set_threads(default_threads())
    found = find_checkpoints(runs)
    if not any(found.values()):
        raise click.ClickException(f"no checkpoints under {runs} (expected letters/*/checkpoint.pt or drums/vae/checkpoint.pt)")
    for family, paths in found.items():
        if not paths:
            click.echo(f"warning: no {family} checkpoint under {runs}; skipped", err=True)

    builders = {
        "letter_generator": lambda p: [graphs.letter_generator(p)],
        "letter_style": graphs.letter_style,
        "letter_classifier": lambda p: [graphs.letter_classifier(p)],
        "drum_vae": graphs.drum_vae,
        "drum_style_classifier": lambda p: [graphs.drum_style_classifier(p)],
    }
    specs = []
    for family, paths in found.items():
        for path in paths:
            try:
                built = builders[family](path)
            except Exception as error:  # a checkpoint from other code: say which file, not a traceback
                raise click.ClickException(f"cannot load {path}: {type(error).__name__}: {error}") from None
            group = sha256_file(path) if family in ("drum_vae", "letter_style") else ""
            specs.extend((spec, group) for spec in built)

    exported = []
    for spec, group in specs:
        try:
            sidecar = export_graph(spec, out, group=group, tolerance=tolerance)
        except ParityError as error:
            raise click.ClickException(f"parity check failed, export stopped: {error}")
        exported.append((spec, sidecar))
        click.echo(f"{spec.name:28s} {sidecar['onnx_bytes'] / 1024:8.1f} KB  max|torch-ort| "
                   f"{sidecar['parity']['max_abs']:.2e}  downstream equal")
    if study_int8 and not quick:
        from edgegen.export.quantize import study_all

        study_all(exported, out, runs / "export")
    click.echo(f"exported {len(exported)} models to {out}")


if __name__ == "__main__":
    sys.exit(main())
