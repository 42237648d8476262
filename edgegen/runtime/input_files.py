"""Reading the files others hand us (MIDI files, note maps, model sidecars) within fixed bounds.

A file given by a user or found in a models folder may be huge, endless (a
device or a pipe), nested a million levels deep or full of NaN. Each reader
here refuses such a file with an :class:`InputError` of one line *before*
memory or time is spent on it; the caller prefixes the path and turns it into
its own error type (MidiFileError, ModelError).
"""
from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays/objects a JSON document may have; sidecars need 4 and note maps 1.
Python's parser recurses per level and dies of RecursionError near 1,000."""

_JSON_SPECIAL = re.compile(r'[\[\]{}"\\]')  # the characters that open or close arrays, objects and strings


class InputError(ValueError):
    """A file we will not read; the message is one line without the path (the caller adds it)."""


class MissingInputError(InputError):
    """The file does not exist (callers name what was missing: a note map, a sidecar, ...)."""


def read_bounded(path: str | os.PathLike, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; InputError otherwise.

    Devices, pipes and folders are refused without opening them (reading /dev/zero never ends,
    opening a pipe with no writer blocks); the size is checked again on the bytes read, so a file
    that grows meanwhile cannot slip past the bound.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise MissingInputError("no such file") from None
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or type(error).__name__}") from None
    if not stat.S_ISREG(mode):
        raise InputError("not a regular file (a folder, device or pipe)")
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            chunks, total = [], 0
            while size <= max_bytes and total <= max_bytes:  # in chunks: read(n) would allocate n bytes at once
                chunk = handle.read(min(1 << 20, max_bytes + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or type(error).__name__}") from None
    if size > max_bytes or total > max_bytes:
        raise InputError(f"{max(size, total):,} bytes is more than the {max_bytes:,} allowed")
    return b"".join(chunks)


def json_depth(text: str) -> int:
    """Deepest nesting of arrays and objects in ``text`` (brackets inside strings do not count).

    One pass over the special characters: a regular expression that skips whole strings takes
    quadratic time on a file of unterminated ones (`"\\"\\"\\"...`), minutes for a sidecar.
    """
    depth = deepest = 0
    in_string, escaped = False, -1  # escaped: the position of a character after a backslash
    for match in _JSON_SPECIAL.finditer(text):
        position, char = match.start(), match.group()
        if position == escaped:
            continue
        if in_string:
            if char == "\\":
                escaped = position + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> float:
    raise InputError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InputError(f"{text[:24]} is out of the range of a float")
    return value


def parse_json(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> object:
    """Strict JSON: UTF-8, nesting at most ``max_depth`` deep, every number finite (no NaN,
    Infinity or 1e999), integers of at most 4,300 digits. InputError (one line) otherwise."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text (byte {error.start})") from None
    if json_depth(text) > max_depth:
        raise InputError(f"JSON nested more than {max_depth} levels deep")
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except InputError:
        raise
    except json.JSONDecodeError as error:
        raise InputError(f"not valid JSON: {error.msg.lower()} (line {error.lineno}, column {error.colno})") from None
    except ValueError:  # int() refuses more than 4,300 digits (sys.get_int_max_str_digits)
        raise InputError("not valid JSON: an integer of more than 4,300 digits") from None
    except RecursionError:  # json_depth counts brackets, so this is a safety net
        raise InputError("not valid JSON: nested too deeply") from None


def read_json(path: str | os.PathLike, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> object:
    """:func:`read_bounded` then :func:`parse_json`."""
    return parse_json(read_bounded(path, max_bytes), max_depth)
