"""Turn every expected failure into click's one-line `Error: ...` and a non-zero exit.

A user who mistypes a style or points at a broken model file should read one
sentence that names the problem, not a traceback. Bugs (anything not listed
here) still show their traceback, so they get reported and fixed.
"""
from __future__ import annotations

import click

from edgegen.runtime.files import OutputError
from edgegen.runtime.onnx_model import ModelError

# ValueError covers UnknownLetterError, UnknownStyleError, MidiFileError and bad numeric options.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ModelError, OutputError, ValueError, OSError)


def one_line(error: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class FriendlyGroup(click.Group):
    """A click group whose subcommands report EXPECTED_ERRORS as `Error: <one line>` (exit 1)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise
        except EXPECTED_ERRORS as error:
            raise click.ClickException(one_line(error)) from None
        except ImportError as error:  # e.g. no MIDI backend library
            raise click.ClickException(f"missing dependency: {one_line(error)}") from None


class LetterParam(click.ParamType):
    """One letter A-Z (lower case accepted), checked before any model loads."""

    name = "LETTER"

    def convert(self, value, param, ctx):
        text = str(value).strip()
        if len(text) != 1 or not text.isascii() or not text.isalpha():
            self.fail(f"{value!r} is not a letter A-Z", param, ctx)
        return text.upper()
