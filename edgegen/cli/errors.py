"""Turn every expected failure into click's one-line `Error: ...` and a non-zero exit.

A user who mistypes a style or points at a broken model file should read one
sentence that names the problem, not a traceback. Bugs (anything not listed
here) still show their traceback, so they get reported and fixed.
"""
from __future__ import annotations

import click


def expected_errors() -> tuple[type[BaseException], ...]:
    """The failures a user can cause. Imported late so `--help` does not pay for numpy.

    ValueError covers UnknownLetterError, UnknownStyleError, MidiFileError and bad numeric options.
    """
    from edgegen.runtime.files import OutputError
    from edgegen.runtime.onnx_model import ModelError

    return (ModelError, OutputError, ValueError, OSError)


def one_line(error: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class FriendlyGroup(click.Group):
    """A click group whose subcommands report expected errors as `Error: <one line>` (exit 1)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except ImportError as error:  # e.g. no MIDI backend library
            raise click.ClickException(f"missing dependency: {one_line(error)}") from None
        except Exception as error:
            if isinstance(error, expected_errors()):
                raise click.ClickException(one_line(error)) from None
            raise


class LetterParam(click.ParamType):
    """One letter A-Z (lower case accepted), checked before any model loads."""

    name = "LETTER"

    def convert(self, value, param, ctx):
        text = str(value).strip()
        if len(text) != 1 or not text.isascii() or not text.isalpha():
            self.fail(f"{value!r} is not a letter A-Z", param, ctx)
        return text.upper()
