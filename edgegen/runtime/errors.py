"""How an exception becomes one line of a message, for every error the user reads.

Library errors (rtmidi, onnxruntime, the OS) often carry several lines or none;
a user-facing error names the problem in one line, so both the runtime (inside
its own messages) and the commands (in `Error: ...`) shorten them here.
"""
from __future__ import annotations


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
