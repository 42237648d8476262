"""The click options and parameter types that more than one command uses, each defined once.

`fontgen`, `drumgen` and drumgen's live commands take their shared options from
here, so a flag has one spelling, one range and one help text on every command
that has it (DESIGN section 7 is a contract others script against). An option
only one command has stays with that command.

Where commands share a flag but not its meaning (``--seed`` is a style seed in
fontgen and a fresh random seed in drumgen sample), a small factory fixes the
spelling and type and the command passes its own default and help.

Only click, the drum format's constants and the seed range are imported, so `--help` stays instant.
"""
from __future__ import annotations

import math
import os
import random
import stat
from pathlib import Path

import click

from edgegen.runtime.drum_spec import STYLES
from edgegen.runtime.letter_spec import DEFAULT_LIKE_LETTERS, LETTERS
from edgegen.runtime.portable_random import PortableRandom

# ----------------------------------------------------------------------------- parameter types


class FiniteFloatRange(click.FloatRange):
    """click's FloatRange that also refuses ``nan`` and ``inf`` (FloatRange lets ``nan`` past any bound)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class LetterParam(click.ParamType):
    """One letter A-Z (lower case accepted), checked before any model loads."""

    name = "LETTER"

    def convert(self, value, param, ctx):
        text = str(value).strip()
        if len(text) != 1 or not text.isascii() or not text.isalpha():
            self.fail(f"{value!r} is not a letter A-Z", param, ctx)
        return text.upper()


class InputFile(click.Path):
    """A file to read. A folder, FIFO or device is refused here, before anything opens it (reading a
    FIFO waits for a writer for ever, /dev/zero never ends); a missing file is left to the reader,
    whose message says what the file was for."""

    def __init__(self):
        super().__init__(dir_okay=False, path_type=Path)

    def convert(self, value, param, ctx):
        path = super().convert(value, param, ctx)
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return path
        if not stat.S_ISREG(mode):
            from edgegen.runtime.files import file_kind

            self.fail(f"{str(path)!r} is {file_kind(mode)}, not a regular file", param, ctx)
        return path


STYLE_CHOICE = click.Choice(STYLES, case_sensitive=False)

# ----------------------------------------------------------------------------- both commands

MODELS = click.option("--models", "models_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                      envvar="EDGEGEN_MODELS", help="Folder of NAME.onnx + NAME.onnx.json models [env EDGEGEN_MODELS; "
                                                    "default: the models bundled with edgegen].")


def seed_option(default: int | None, help: str):
    """``--seed``: an integer from 0 to 2**53-1 (the seeds the portable generator, and so the web page,
    can hold); what it seeds and its default depend on the command."""
    return click.option("--seed", type=click.IntRange(min=0, max=PortableRandom.MAX_SEED), default=default,
                        show_default=default is not None, help=help)


def out_option(help: str, required: bool = True):
    """``--out/-o``: the file a command writes (atomically: complete or not at all)."""
    return click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), required=required,
                        default=None, help=help)


# ----------------------------------------------------------------------------- fontgen

IMAGE_OUT = out_option("Output file (written atomically: complete or not at all).")
STYLE_SEED = seed_option(0, "Style seed: the same seed gives the same style (one z) for every letter.")
LETTER_MODEL = click.option("--model", default=None, metavar="NAME",
                            help="Letter model name (see `fontgen models`); default: the bundled letter style model.")
SCALE = click.option("--scale", type=click.IntRange(1, 64), default=1, show_default=True,
                     help="Enlarge by this factor (nearest neighbour: crisp pixels).")
INVERT = click.option("--invert", is_flag=True, help="White ink on black instead of black ink on white.")


def _like_letters(ctx, param, value: str) -> str:
    letters = "".join(dict.fromkeys(value.replace(" ", "").upper()))
    if not letters or any(c not in LETTERS for c in letters):
        raise click.BadParameter(f"{value!r} must be letters A-Z", ctx, param)
    return letters


LIKE = click.option("--like", "likes", multiple=True, metavar="FONT.ttf|L=IMAGE",
                    help="Draw in the style of examples (repeatable): a font file (its --like-letters), or one "
                         "letter's image as L=IMAGE (any size; dark ink on light or the reverse). Excludes --seed.")
LIKE_LETTERS = click.option("--like-letters", default=DEFAULT_LIKE_LETTERS, show_default=True, callback=_like_letters,
                            help="The letters of a --like font used as examples (those it lacks are skipped).")


def like_options(command):
    """--like and --like-letters: a style read by the letter style model's encoder from example glyphs."""
    for option in (LIKE_LETTERS, LIKE):
        command = option(command)
    return command


def image_options(command):
    """The options every PNG-writing fontgen command shares: --seed --model --models --scale --invert --out."""
    for option in (IMAGE_OUT, INVERT, SCALE, MODELS, LETTER_MODEL, STYLE_SEED):
        command = option(command)
    return command


# ----------------------------------------------------------------------------- drumgen

DEFAULT_BPM = 120.0

SEED = seed_option(None, "Random seed [default: a fresh one, printed so you can repeat it].")


def resolve_seed(seed: int | None) -> int:
    """The seed SEED promises: the user's, or a fresh one (which the command prints)."""
    return random.SystemRandom().randrange(2**31) if seed is None else seed


def style_option(help: str, default: str | None = None):
    """``--style/-s``: one of the drum styles (any case)."""
    return click.option("--style", "-s", type=STYLE_CHOICE, default=default, show_default=default is not None,
                        help=help)


def to_style_option(help: str, required: bool = False):
    """``--to``: the style a command moves toward."""
    return click.option("--to", "to_style", type=STYLE_CHOICE, required=required, default=None, help=help)


BARS = click.option("--bars", type=click.IntRange(1, 1024), default=1, show_default=True,
                    help="Number of bars to generate.")
CHANNEL = click.option("--channel", type=click.IntRange(1, 16), default=10, show_default=True,
                       help="MIDI channel of the drums, 1-16 (10 = General MIDI drums).")
COMPLEXITY = click.option("--complexity", type=FiniteFloatRange(-1, 1), default=0.0, show_default=True,
                          help="Fewer (-1) or more (+1) hits.")
PNG = click.option("--png", type=click.Path(dir_okay=False, path_type=Path), default=None,
                   help="Also write a piano-roll PNG.")
BPM = click.option("--bpm", type=FiniteFloatRange(20, 300), default=None,
                   help=f"Tempo in beats per minute [default: {DEFAULT_BPM:g}; transfer: the input file's].")
SWING = click.option("--swing", type=FiniteFloatRange(0, 0.75), default=0.0, show_default=True,
                     help="Delay off-beat 16ths by SWING/2 of a step (2/3 = triplet feel), 0-0.75.")
HUMANIZE = click.option("--humanize", type=FiniteFloatRange(0, 1), default=0.0, show_default=True,
                        help="Human feel 0-1: beat accents, velocity and timing variation (within a quarter step).")
NOTE_MAP = click.option("--note-map", "--map", "note_map", type=InputFile(),
                        default=None, help='JSON {instrument: pitch} for drum machines that are not General MIDI, '
                                           'e.g. {"kick": 35, "snare": 40}; unnamed instruments keep GM.')


def midi_options(command):
    """The options every command that turns bars into MIDI (a file or live) shares:
    --bpm --swing --humanize --note-map --models."""
    for option in (MODELS, NOTE_MAP, HUMANIZE, SWING, BPM):
        command = option(command)
    return command
