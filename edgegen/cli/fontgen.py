"""`fontgen`: capital letters in learned font styles, drawn by a bundled ONNX model (no torch).

Heavy imports (numpy, onnxruntime, Pillow) happen inside the commands, so
`fontgen --help` is instant.
"""
from __future__ import annotations

from pathlib import Path

import click

from edgegen.cli.errors import FriendlyGroup
from edgegen.cli.options import (IMAGE_OUT, LETTER_MODEL, LIKE, LIKE_LETTERS, MODELS, STYLE_SEED, InputFile,
                                 LetterParam, image_options, like_options, out_option, seed_option)
from edgegen.runtime.letter_spec import DEFAULT_LIKE_LETTERS, LETTERS


FONT_EXTRA_MISSING = "fontgen font needs the font extra: pip install 'edgegen[font]'"
MAX_PNG_SAMPLES = 10_000  # a 100 x 100 grid, 2800 x 2800 pixels; 1,000,000 would be about 20 GB in memory


def _generator(model: str | None, models_dir: Path | None):
    from edgegen.runtime.font_generator import open_letter_model

    return open_letter_model(model, models_dir)


def _check_like(likes: tuple[str, ...]) -> None:
    """Parse every --like item before any model loads (a bad letter in A=a.png fails here)."""
    from edgegen.runtime.style_examples import parse_like

    for item in likes:
        parse_like(item)


def _seed_given() -> bool:
    ctx = click.get_current_context()
    return ctx.get_parameter_source("seed") == click.core.ParameterSource.COMMANDLINE


def _encoded_style(generator, likes: tuple[str, ...], like_letters: str):
    """The style the encoder reads from the --like examples: (style [d], words for the message)."""
    from edgegen.runtime.font_generator import StyleFontGenerator
    from edgegen.runtime.style_examples import gather_examples

    if not isinstance(generator, StyleFontGenerator):
        raise click.UsageError(f"--like needs a letter style model; {generator.name} has no style encoder "
                               f"(leave out --model to use the default)")
    examples = gather_examples(list(likes), like_letters, generator.size)
    _check_examples_readable(generator, examples)
    return generator.like(examples.glyphs, examples.letters), f"like {examples.source}"


def _check_examples_readable(generator, examples) -> None:
    """Font examples must look like their letters (the bundled letter classifier, when present, reads them)."""
    from edgegen.runtime.font_generator import LetterClassifier
    from edgegen.runtime.onnx_model import ModelError
    from edgegen.runtime.style_examples import check_readable

    try:
        classifier = LetterClassifier(generator.model.path.parent)
    except ModelError:
        return
    check_readable(examples, classifier)


def _style(generator, seed: int, likes: tuple[str, ...], like_letters: str):
    """(style or None for the seed's, words for the message) from --seed or --like."""
    if not likes:
        return None, f"seed {seed}"
    if _seed_given():
        raise click.UsageError("--seed and --like both choose the style: give one of them")
    return _encoded_style(generator, likes, like_letters)


def _output(out: Path):
    """Check ``out`` before any model loads (see edgegen.runtime.files.all_or_none)."""
    from edgegen.runtime.files import all_or_none

    return all_or_none(out)


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Draw capital letters A-Z in learned font styles (28x28, onnxruntime only).

    A seed draws a style; --like reads one from a font file or letter images.

    \b
    Examples:
      fontgen render --letter Q --out q.png
      fontgen render --letter Q --seed 7 --scale 8 --out q_big.png
      fontgen word HELLO --seed 3 --scale 4 --out hello.png
      fontgen word HELLO --like MyFont.ttf --like-letters HAMBURG --scale 4 --out hello_like.png
      fontgen render --letter Q --like A=a.png --like B=b.png --out q_like.png
      fontgen alphabet --seed 3 --out alphabet.png
      fontgen interpolate --from O --to Q --steps 8 --out o_to_q.png
      fontgen interpolate --from-style 1 --to-style MyFont.ttf --text QUARTZ --out morph.png
      fontgen sample --n 1000 --model letters_vanilla --out samples.npy
      fontgen font --seed 3 --out edgegen3.otf --specimen edgegen3.png
      fontgen models
    """


@main.command()
@click.option("--letter", "-l", type=LetterParam(), required=True, help="The letter to draw, A-Z.")
@like_options
@image_options
def render(letter: str, likes: tuple[str, ...], like_letters: str, seed: int, model: str | None,
           models_dir: Path | None, scale: int, invert: bool, out: Path) -> None:
    """Draw one letter as a PNG, in a seed's style or in the style of a font or example images.

    \b
    Examples:
      fontgen render --letter Q --seed 7 --scale 8 --out q.png
      fontgen render --letter Q --like DejaVuSerif.ttf --like-letters HAMBURG --out q.png
      fontgen render --letter Q --like A=a.png --like B=b.png --out q.png
    """
    from edgegen.runtime.font_generator import save_png

    _check_like(likes)
    with _output(out):
        generator = _generator(model, models_dir)
        style, source = _style(generator, seed, likes, like_letters)
        save_png(generator.render(letter, seed, style), out, scale, invert)
    click.echo(f"wrote {out} ({letter}, {source}, {generator.name})")


@main.command()
@click.argument("text")
@like_options
@image_options
def word(text: str, likes: tuple[str, ...], like_letters: str, seed: int, model: str | None,
         models_dir: Path | None, scale: int, invert: bool, out: Path) -> None:
    """Draw TEXT (letters A-Z and spaces) in one consistent style.

    \b
    Examples:
      fontgen word "EDGE GEN" --seed 3 --scale 4 --out edgegen.png
      fontgen word QUARTZ --like DejaVuSerif.ttf --scale 4 --out quartz.png
    """
    from edgegen.runtime.font_generator import letter_index, save_png, tile

    for ch in text:
        if ch != " ":
            letter_index(ch)  # fail on a bad character before loading the model
    _check_like(likes)
    with _output(out):
        generator = _generator(model, models_dir)
        style, source = _style(generator, seed, likes, like_letters)
        save_png(tile(generator.word(text, seed, style), gap=0), out, scale, invert)
    click.echo(f"wrote {out} ({text!r}, {source}, {generator.name})")


@main.command()
@click.option("--columns", type=click.IntRange(1, 26), default=13, show_default=True, help="Letters per row.")
@like_options
@image_options
def alphabet(columns: int, likes: tuple[str, ...], like_letters: str, seed: int, model: str | None,
             models_dir: Path | None, scale: int, invert: bool, out: Path) -> None:
    """Draw A-Z in one style as a PNG grid.

    \b
    Examples:
      fontgen alphabet --seed 3 --scale 4 --out alphabet.png
      fontgen alphabet --like DejaVuSerif.ttf --like-letters HAMBURG --out serif_az.png
    """
    from edgegen.runtime.font_generator import save_png, tile

    _check_like(likes)
    with _output(out):
        generator = _generator(model, models_dir)
        style, source = _style(generator, seed, likes, like_letters)
        save_png(tile(generator.alphabet(seed, style), columns), out, scale, invert)
    click.echo(f"wrote {out} (A-Z, {source}, {generator.name})")


def _style_end(generator, value: str, like_letters: str):
    """A --from-style/--to-style value: a seed (digits) or a font file (or LETTER=image) -> (style [d], words)."""
    if value.isdigit():
        return generator.style(int(value))[0], f"seed {value}"  # out of range: portable_random's ValueError
    return _encoded_style(generator, (value,), like_letters)


@main.command()
@click.option("--from", "letter_a", type=LetterParam(), default=None, help="Start letter (a letter morph).")
@click.option("--to", "letter_b", type=LetterParam(), default=None, help="End letter (a letter morph).")
@click.option("--from-style", default=None, metavar="SEED|FONT",
              help="Start style (a style morph): a seed, or a font file read by the style encoder.")
@click.option("--to-style", default=None, metavar="SEED|FONT", help="End style (a style morph).")
@click.option("--text", default="HAMBURGEFONTS", show_default=True,
              help="What a style morph draws: one row per step.")
@LIKE_LETTERS
@click.option("--steps", type=click.IntRange(2, 64), default=8, show_default=True, help="Images (or rows) in the morph.")
@image_options
def interpolate(letter_a: str | None, letter_b: str | None, from_style: str | None, to_style: str | None, text: str,
                like_letters: str, steps: int, seed: int, model: str | None, models_dir: Path | None, scale: int,
                invert: bool, out: Path) -> None:
    """Morph one letter into another in one style (--from/--to), or one style into another (--from-style/
    --to-style: seeds or fonts, with the letter style model), as a PNG.

    \b
    Examples:
      fontgen interpolate --from O --to Q --steps 8 --scale 4 --out o_to_q.png
      fontgen interpolate --from-style 1 --to-style 2 --text QUARTZ --out seeds.png
      fontgen interpolate --from-style DejaVuSans.ttf --to-style cmr10.ttf --out fonts.png
    """
    from edgegen.runtime.font_generator import letter_index, save_png, tile

    letters_given, styles_given = (letter_a, letter_b) != (None, None), (from_style, to_style) != (None, None)
    if letters_given == styles_given or None in ((letter_a, letter_b) if letters_given else (from_style, to_style)):
        raise click.UsageError("give --from and --to (two letters) or --from-style and --to-style (two styles)")
    if styles_given:
        for ch in text:
            if ch != " ":
                letter_index(ch)
        _check_like(tuple(v for v in (from_style, to_style) if not v.isdigit()))
    with _output(out):
        generator = _generator(model, models_dir)
        if letters_given:
            save_png(tile(generator.interpolate(letter_a, letter_b, steps, seed)), out, scale, invert)
            click.echo(f"wrote {out} ({letter_a} -> {letter_b}, {steps} steps, seed {seed}, {generator.name})")
            return
        if not hasattr(generator, "interpolate_styles"):
            raise click.UsageError(f"a style morph needs a letter style model; {generator.name} is not one")
        (a, source_a), (b, source_b) = (_style_end(generator, v, like_letters) for v in (from_style, to_style))
        rows = generator.interpolate_styles(a, b, text, steps)
        save_png(tile(rows.reshape(-1, *rows.shape[2:]), columns=len(text), gap=0), out, scale, invert)
    click.echo(f"wrote {out} ({text!r}: {source_a} -> {source_b}, {steps} steps, {generator.name})")


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


@main.command()
@seed_option(None, "Style seed: one z for all 26 letters [default: 0 when --like is not given].")
@click.option("--like", type=InputFile(), default=None, metavar="FONT.ttf",
              help="The style of this font's letters (read by the style encoder; with a GAN --model, the "
                   "nearest of 256 sampled styles). Excludes --seed.")
@LIKE_LETTERS
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
        keys = ("label_accuracy", "coverage", "val_accuracy", "style_control_accuracy", "test_balanced_accuracy",
                "few_shot_retrieval", "prior_diversity")
        metrics = ", ".join(f"{k} {spec.metrics[k]:.3g}" for k in keys
                            if isinstance(spec.metrics.get(k), (int, float)))
        mark = " (default)" if name == default else ""
        click.echo(f"  {name:32s} {spec.kind:22s} {metrics}{mark}")


if __name__ == "__main__":
    main()
