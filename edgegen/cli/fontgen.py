"""`fontgen`: capital letters in learned font styles, drawn by a bundled ONNX model (no torch).

Heavy imports (numpy, onnxruntime, Pillow) happen inside the commands, so
`fontgen --help` is instant.
"""
from __future__ import annotations

from pathlib import Path

import click

from edgegen.cli.errors import FriendlyGroup
from edgegen.cli.options import (IMAGE_OUT, LETTER_MODEL, MODELS, STYLE_SEED, InputFile, LetterParam, image_options,
                                 out_option, seed_option)
from edgegen.runtime.letter_spec import DEFAULT_LIKE_LETTERS, LETTERS


FONT_EXTRA_MISSING = "fontgen font needs the font extra: pip install 'edgegen[font]'"
MAX_PNG_SAMPLES = 10_000  # a 100 x 100 grid, 2800 x 2800 pixels; 1,000,000 would be about 20 GB in memory


def _generator(model: str | None, models_dir: Path | None):
    from edgegen.runtime.font_generator import FontGenerator

    return FontGenerator(model, models_dir)


def _output(out: Path):
    """Check ``out`` before any model loads (see edgegen.runtime.files.all_or_none)."""
    from edgegen.runtime.files import all_or_none

    return all_or_none(out)


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Draw capital letters A-Z in learned font styles (28x28, onnxruntime only).

    \b
    Examples:
      fontgen render --letter Q --out q.png
      fontgen render --letter Q --seed 7 --scale 8 --out q_big.png
      fontgen word HELLO --seed 3 --scale 4 --out hello.png
      fontgen alphabet --seed 3 --out alphabet.png
      fontgen interpolate --from O --to Q --steps 8 --out o_to_q.png
      fontgen sample --n 1000 --model letters_vanilla --out samples.npy
      fontgen font --seed 3 --out edgegen3.otf --specimen edgegen3.png
      fontgen models
    """


@main.command()
@click.option("--letter", "-l", type=LetterParam(), required=True, help="The letter to draw, A-Z.")
@image_options
def render(letter: str, seed: int, model: str | None, models_dir: Path | None, scale: int, invert: bool,
           out: Path) -> None:
    """Draw one letter as a PNG.

    \b
    Example:
      fontgen render --letter Q --seed 7 --scale 8 --out q.png
    """
    from edgegen.runtime.font_generator import save_png

    with _output(out):
        generator = _generator(model, models_dir)
        save_png(generator.render(letter, seed), out, scale, invert)
    click.echo(f"wrote {out} ({letter}, seed {seed}, {generator.name})")


@main.command()
@click.argument("text")
@image_options
def word(text: str, seed: int, model: str | None, models_dir: Path | None, scale: int, invert: bool,
         out: Path) -> None:
    """Draw TEXT (letters A-Z and spaces) in one consistent style.

    \b
    Example:
      fontgen word "EDGE GEN" --seed 3 --scale 4 --out edgegen.png
    """
    from edgegen.runtime.font_generator import letter_index, save_png, tile

    for ch in text:
        if ch != " ":
            letter_index(ch)  # fail on a bad character before loading the model
    with _output(out):
        generator = _generator(model, models_dir)
        save_png(tile(generator.word(text, seed), gap=0), out, scale, invert)
    click.echo(f"wrote {out} ({text!r}, seed {seed}, {generator.name})")


@main.command()
@click.option("--columns", type=click.IntRange(1, 26), default=13, show_default=True, help="Letters per row.")
@image_options
def alphabet(columns: int, seed: int, model: str | None, models_dir: Path | None, scale: int, invert: bool,
             out: Path) -> None:
    """Draw A-Z in one style as a PNG grid.

    \b
    Example:
      fontgen alphabet --seed 3 --scale 4 --out alphabet.png
    """
    from edgegen.runtime.font_generator import save_png, tile

    with _output(out):
        generator = _generator(model, models_dir)
        save_png(tile(generator.alphabet(seed), columns), out, scale, invert)
    click.echo(f"wrote {out} (A-Z, seed {seed}, {generator.name})")


@main.command()
@click.option("--from", "letter_a", type=LetterParam(), required=True, help="Start letter.")
@click.option("--to", "letter_b", type=LetterParam(), required=True, help="End letter.")
@click.option("--steps", type=click.IntRange(2, 64), default=8, show_default=True, help="Images in the strip.")
@image_options
def interpolate(letter_a: str, letter_b: str, steps: int, seed: int, model: str | None, models_dir: Path | None,
                scale: int, invert: bool, out: Path) -> None:
    """Morph one letter into another in one style (the letter label is blended), as a PNG strip.

    \b
    Example:
      fontgen interpolate --from O --to Q --steps 8 --scale 4 --out o_to_q.png
    """
    from edgegen.runtime.font_generator import save_png, tile

    with _output(out):
        generator = _generator(model, models_dir)
        save_png(tile(generator.interpolate(letter_a, letter_b, steps, seed)), out, scale, invert)
    click.echo(f"wrote {out} ({letter_a} -> {letter_b}, {steps} steps, seed {seed}, {generator.name})")


@main.command()
@click.option("--n", "count", type=click.IntRange(1, 1_000_000), default=1000, show_default=True,
              help=f"Number of images (a PNG grid holds at most {MAX_PNG_SAMPLES:,}; .npy takes more).")
@STYLE_SEED
@LETTER_MODEL
@MODELS
@IMAGE_OUT
def sample(count: int, seed: int, model: str | None, models_dir: Path | None, out: Path) -> None:
    """Random samples, each its own style (and, for conditional models, a random letter).

    OUT.npy gets float32 [N, 28, 28] with ink = 1 (what the metrics use); OUT.png gets a grid
    image (black on white) of at most 10,000 samples.

    \b
    Example:
      fontgen sample --n 1000 --model letters_vanilla --seed 1 --out samples.npy
    """
    import numpy as np

    from edgegen.runtime.files import atomic_output
    from edgegen.runtime.font_generator import save_png, tile

    png = out.suffix.lower() == ".png"
    if not png and out.suffix.lower() != ".npy":
        raise click.BadParameter(f"{out} must end in .npy or .png", param_hint="--out")
    if png and count > MAX_PNG_SAMPLES:
        raise click.BadParameter(f"a PNG grid holds at most {MAX_PNG_SAMPLES:,} images, not {count:,} "
                                 "(write .npy for more)", param_hint="--n")
    with _output(out):
        generator = _generator(model, models_dir)
        images = generator.sample(count, seed)
        if png:
            save_png(tile(images, columns=int(np.ceil(np.sqrt(count)))), out)
        else:
            with atomic_output(out, suffix=".npy") as tmp:
                np.save(tmp, images.astype(np.float32))
    click.echo(f"wrote {out} ({count} samples, seed {seed}, {generator.name})")


def _font_builder():
    """edgegen.runtime.font_builder, or one line naming the extra when fontTools or potracer is missing."""
    try:
        from edgegen.runtime import font_builder
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] in ("fontTools", "potrace"):
            raise click.ClickException(FONT_EXTRA_MISSING) from None
        raise
    return font_builder


def _like_letters(ctx, param, value: str) -> str:
    letters = "".join(dict.fromkeys(value.replace(" ", "").upper()))
    if not letters or any(c not in LETTERS for c in letters):
        raise click.BadParameter(f"{value!r} must be letters A-Z", ctx, param)
    return letters


@main.command()
@seed_option(None, "Style seed: one z for all 26 letters [default: 0 when --like is not given].")
@click.option("--like", type=InputFile(), default=None, metavar="FONT.ttf",
              help="Pick the style nearest to this font's letters (searched among sampled styles; "
                   "there is no style encoder yet). Excludes --seed.")
@click.option("--like-letters", default=DEFAULT_LIKE_LETTERS, show_default=True, callback=_like_letters,
              help="Letters compared with --like (those the font lacks are skipped).")
@click.option("--name", default=None, help='Family name [default: "Edgegen Seed N" or "Edgegen Like FONT"].')
@LETTER_MODEL
@MODELS
@out_option("The font file: NAME.otf (OpenType, cubic CFF outlines) or NAME.ttf (TrueType).")
@click.option("--specimen", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a PNG specimen (pangram and A-Z) drawn with the new font file.")
def font(seed: int | None, like: Path | None, like_letters: str, name: str | None, model: str | None,
         models_dir: Path | None, out: Path, specimen: Path | None) -> None:
    """Build an installable font (capitals A-Z; lower case maps to them) from one style.

    Each letter is drawn by the model, enlarged, traced to smooth outlines and put
    on a common baseline and cap height; the same seed gives the same file.

    \b
    Examples:
      fontgen font --seed 3 --out edgegen3.otf
      fontgen font --seed 3 --name "My Caps" --out mycaps.ttf --specimen mycaps.png
      fontgen font --like DejaVuSerif.ttf --out like_serif.otf
    """
    if seed is not None and like is not None:
        raise click.UsageError("--seed and --like both choose the style: give one of them")
    if out.suffix.lower() not in (".otf", ".ttf"):
        raise click.BadParameter(f"{out} must end in .otf or .ttf", param_hint="--out")
    if specimen is not None and specimen.suffix.lower() != ".png":
        raise click.BadParameter(f"{specimen} must end in .png", param_hint="--specimen")
    builder = _font_builder()
    from edgegen.runtime.files import all_or_none, atomic_output, atomic_write_bytes

    with all_or_none(out, specimen):
        generator = _generator(model, models_dir)
        if like is not None:
            style = builder.like_style(generator, like, like_letters)
            family = name or f"Edgegen Like {like.stem}"
        else:
            style = builder.seed_style(generator, seed or 0)
            family = name or f"Edgegen Seed {seed or 0}"
        data = builder.make_font(generator, style, family, truetype=out.suffix.lower() == ".ttf")
        atomic_write_bytes(out, data)
        if specimen is not None:
            with atomic_output(specimen, suffix=".png") as tmp:
                builder.specimen(data, f"{family} ({style.source})").save(tmp, format="PNG")
    also = f" and {specimen}" if specimen is not None else ""
    click.echo(f"wrote {out}{also} ({family}: {style.source}, {generator.name}, {len(data):,} bytes)")


@main.command()
@MODELS
def models(models_dir: Path | None) -> None:
    """List the available models (name, kind, variant, key metrics) and mark the default.

    \b
    Example:
      fontgen models
      fontgen models --models ./my_models
    """
    from edgegen.runtime.font_generator import default_letter_model
    from edgegen.runtime.onnx_model import ModelError, available_models, inspect_models, models_dir as resolve

    folder = resolve(models_dir)
    names = available_models(folder)
    if not names:
        raise click.ClickException(f"no models in {folder}")
    try:
        default = default_letter_model(folder)
    except ModelError:
        default = None
    click.echo(f"models in {folder}:")
    for name, spec in inspect_models(folder):  # loaded as a command would load them: sha256, graph, ...
        if isinstance(spec, ModelError):
            click.echo(f"  {name:32s} UNUSABLE: {spec}")
            continue
        keys = ("label_accuracy", "coverage", "val_accuracy", "style_control_accuracy", "test_balanced_accuracy")
        metrics = ", ".join(f"{k} {spec.metrics[k]:.3g}" for k in keys
                            if isinstance(spec.metrics.get(k), (int, float)))
        mark = " (default)" if name == default else ""
        click.echo(f"  {name:32s} {spec.kind:22s} {metrics}{mark}")


if __name__ == "__main__":
    main()
