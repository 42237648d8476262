"""Turn every expected failure into click's one-line `Error: ...` and a non-zero exit.

A user who mistypes a style or points at a broken model file should read one
sentence that names the problem, not a traceback. Bugs (anything not listed
here) still show their traceback, so they get reported and fixed.
"""
from __future__ import annotations

import click

from edgegen.runtime.errors import first_line


def expected_errors() -> tuple[type[BaseException], ...]:
    """The failures a user can cause. Imported late so `--help` does not pay for numpy.

    ValueError covers UnknownLetterError, UnknownStyleError, MidiFileError and bad numeric options.
    """
    from edgegen.runtime.files import OutputError
    from edgegen.runtime.onnx_model import ModelError

    return (ModelError, OutputError, ValueError, OSError)


class FriendlyGroup(click.Group):
    """A click group whose subcommands report expected errors as `Error: <one line>` (exit 1)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except ImportError as error:  # e.g. no MIDI backend library
            raise click.ClickException(f"missing dependency: {first_line(error)}") from None
        except Exception as error:
            if isinstance(error, expected_errors()):
                raise click.ClickException(first_line(error)) from None
            raise
