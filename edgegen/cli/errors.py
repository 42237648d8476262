"""Turn every expected failure into click's one-line `Error: ...` and a non-zero exit.

A user who mistypes a style or points at a broken model file should read one
sentence that names the problem, not a traceback. Bugs (anything not listed
here) still show their traceback, so they get reported and fixed.
"""
from __future__ import annotations

import os
import signal
import sys

import click

from edgegen.runtime.errors import first_line

INTERRUPTED = 128 + signal.SIGINT  # the shell's exit status for a command ended by Ctrl-C


def expected_errors() -> tuple[type[BaseException], ...]:
    """The failures a user can cause. Imported late so `--help` does not pay for numpy.

    ValueError covers UnknownLetterError, UnknownStyleError, MidiFileError and bad numeric options.
    """
    from edgegen.runtime.files import OutputError
    from edgegen.runtime.onnx_model import ModelError

    return (ModelError, OutputError, ValueError, OSError)


def find_cause(error: BaseException | None, kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    """``error``, or the exception it was raised from or while handling, that is one of ``kinds`` (else None).

    A Ctrl-C that lands while a compiled module initialises comes back wrapped:
    pybind11 (onnxruntime) reports it as ``ImportError: initialization failed``.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kinds):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def import_failure(error: ImportError) -> str:
    """One line for an ImportError: "missing" only when the module really is not installed."""
    if isinstance(error, ModuleNotFoundError):
        return f"missing dependency: {first_line(error)}"
    library = f" {error.name}" if error.name else ""
    return f"could not load the library{library}: {first_line(error)}"


def _reader_went_away() -> int:
    """`fontgen models | head -3`: the reader closed the pipe. End quietly (exit 1, as Python does on EPIPE);
    stdout goes to /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 1


class FriendlyGroup(click.Group):
    """A click group whose subcommands report expected errors as `Error: <one line>` (exit 1).

    Ctrl-C ends a command quietly with exit status 130, also when it lands while a
    library is being imported (never as "missing dependency").
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise SystemExit(INTERRUPTED) from None
        except BrokenPipeError:
            raise SystemExit(_reader_went_away()) from None
        except ImportError as error:  # e.g. no MIDI backend library
            if find_cause(error, (KeyboardInterrupt,)):
                raise SystemExit(INTERRUPTED) from None
            raise click.ClickException(import_failure(error)) from None
        except Exception as error:
            if isinstance(error, expected_errors()):
                raise click.ClickException(first_line(error)) from None
            raise
