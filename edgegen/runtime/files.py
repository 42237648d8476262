"""Output files: complete or absent, never a replaced device, and several outputs written together.

A writer gets a temporary path beside the destination; the result is moved into
place only once the writer has finished, so a reader never sees half a file and
a failure leaves nothing behind. What is at the destination decides the rest:

- nothing, or a regular file: the temporary file replaces it (``os.replace``, atomic);
  an existing file keeps its permission bits (and, when root writes, its owner);
- a regular file with more than one hard link: the finished bytes are copied into
  it, so every link sees them (the one case where a concurrent reader could see a
  partial file; replacing it would silently cut the links);
- a symlink: the file it points to is written as above, and the link stays;
- a FIFO, device, socket or folder, directly or through a symlink, and an open
  file descriptor (``/dev/stdout``, ``/dev/fd/N``: maybe a file opened for appending):
  refused with :class:`OutputError` before anything is written. Replacing it destroys
  it (``--out /dev/null`` run as root) and writing into a FIFO can block for ever.

Temporary files are called ``.edgegen-XXXXXXXX<ext>``: short whatever the final
name's length, so any name that fits the file system (NAME_MAX, 255 bytes) works.
They are removed on every exit: exceptions, Ctrl-C, and SIGTERM or SIGHUP (whose
default action kills the process at once): while outputs are open these remove
the temporary files first and then take their usual effect.

:func:`all_or_none` groups the outputs of one command: it checks every
destination first (and refuses one file named twice), the writers inside it
(:func:`atomic_output`, directly or through helpers such as ``write_midi``) fill
temporary files, and the files are moved into place together at the end, with
SIGINT, SIGTERM and SIGHUP held back until the last one is in place. (The moves
are renames within each destination's folder, made after every destination was
checked again; only a rename failing between two others, a file system turning
read-only at that very moment, could leave some outputs written.)
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

TEMP_PREFIX = ".edgegen-"
MAX_TEMP_SUFFIX = 16  # longer extensions become ".tmp": a temporary name stays far below NAME_MAX

# Signals whose usual handling would leave temporary files: SIGTERM and SIGHUP kill at once,
# SIGINT raises KeyboardInterrupt wherever the program happens to be (also halfway through the renames).
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_local = threading.local()  # the open group of outputs of this thread (see all_or_none)


class OutputError(Exception):
    """An output path cannot be written (missing folder, not a regular file, named twice, ...)."""


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, for messages: 'a FIFO (named pipe)', 'a character device', ..."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a regular file"


@dataclass
class _Target:
    """One output: where its bytes go and how."""

    path: Path  # as the caller named it (for messages)
    final: Path  # the file written: ``path``, or the file a symlink at ``path`` points to
    mode: int | None  # permission bits of the file there now (None: a new file)
    owner: tuple[int, int] | None  # its (uid, gid)
    in_place: bool  # more than one hard link: copy the bytes into the existing file
    identity: object  # (device, inode) of an existing file, else its resolved path: spots one file named twice
    temp: Path | None = None  # the temporary file, once a writer asked for it


def _is_open_descriptor(path: Path) -> bool:
    """Whether ``path`` is, or links to, an entry of /proc/PID/fd (/dev/stdout, /dev/fd/3).

    Such an entry stands for a file some process has open, maybe for appending
    (``>> log``): replacing what it resolves to would destroy that file.
    """
    hop = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on links followed
        if os.path.realpath(os.path.dirname(hop)).startswith("/proc/"):
            return True
        if not os.path.islink(hop):
            return False
        hop = os.path.join(os.path.dirname(hop), os.readlink(hop))
    return False


def _check(path: str | os.PathLike) -> _Target:
    """Refuse a destination that cannot or must not be written, before anything is written."""
    path = Path(path)
    final = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        found = os.stat(path)  # through every link, also the kernel's own (/dev/stdout -> a pipe or a terminal)
    except FileNotFoundError:
        found = None
    except OSError as error:  # a symlink loop, a folder we may not search, ...
        raise OutputError(f"cannot write {path}: {error.strerror}") from None
    if _is_open_descriptor(path):
        raise OutputError(f"cannot write {path}: it is an open file descriptor, not a file name; "
                          "give the name of the file to write")
    if found is not None and not stat.S_ISREG(found.st_mode):
        where = "it is" if final == path else f"it links to {final}, which is"
        raise OutputError(f"cannot write {path}: {where} {file_kind(found.st_mode)}, not a regular file")
    folder = final.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write {path}: folder {folder} is not writable")
    if found is None:
        return _Target(path, final, None, None, False, os.path.realpath(final))
    return _Target(path, final, stat.S_IMODE(found.st_mode) & 0o777, (found.st_uid, found.st_gid),
                   found.st_nlink > 1, (found.st_dev, found.st_ino))


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _copy_into(source: Path, target: _Target) -> None:
    """Overwrite the existing file ``target.final`` with the bytes of ``source`` (its inode, links and mode stay)."""
    fd = os.open(target.final, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "wb") as out, open(source, "rb") as data:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OutputError(f"cannot write {target.path}: it is no longer a regular file")
        os.ftruncate(fd, 0)
        shutil.copyfileobj(data, out)


class _Outputs:
    """The outputs of one :func:`all_or_none` block, and the signal handling while it is open."""

    def __init__(self) -> None:
        self.targets: list[_Target] = []
        self.holding = False  # renames or bookkeeping under way: signals wait in ``pending``
        self.pending: int | None = None
        self.previous: dict[int, object] = {}

    # ------------------------------------------------------------------ destinations

    def declare(self, path: str | os.PathLike) -> _Target:
        """Check a destination and add it; one file may be named only once."""
        target = _check(path)
        for other in self.targets:
            if other.identity == target.identity:
                if other.path == target.path:
                    raise OutputError(f"{target.path} is named as two outputs; give each output its own file")
                raise OutputError(f"{other.path} and {target.path} are the same file; give each output its own file")
        self.targets.append(target)
        return target

    def claim(self, path: str | os.PathLike, suffix: str) -> _Target:
        """A temporary file for ``path`` (declared before or not); each destination gets one."""
        target = _check(path)
        declared = next((t for t in self.targets if t.identity == target.identity), None)
        if declared is None:
            declared = self.declare(path)
        elif declared.temp is not None:
            raise OutputError(f"{path} is written twice; give each output its own file")
        suffix = suffix or declared.path.suffix
        if len(suffix) > MAX_TEMP_SUFFIX:
            suffix = ".tmp"
        self.holding = True  # a signal between creating the file and listing it would leave it behind
        try:
            fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=suffix, dir=declared.final.parent)
            os.close(fd)
            declared.temp = Path(name)
        except OSError as error:
            raise OutputError(f"cannot write {path}: {error.strerror}") from None
        finally:
            self._release()
        return declared

    def drop(self, target: _Target) -> None:
        if target.temp is not None:
            with contextlib.suppress(FileNotFoundError):
                target.temp.unlink()
            target.temp = None

    def _discard(self) -> None:
        for target in self.targets:
            self.drop(target)

    def _commit(self) -> None:
        """Move every finished temporary file into place (all destinations re-checked first)."""
        written = [t for t in self.targets if t.temp is not None]
        for target in written:
            with contextlib.suppress(FileNotFoundError):
                now = os.lstat(target.final)
                if not stat.S_ISREG(now.st_mode):
                    raise OutputError(f"cannot write {target.path}: {target.final} became {file_kind(now.st_mode)}")
        for target in written:
            try:
                if target.in_place:
                    _copy_into(target.temp, target)
                    self.drop(target)
                    continue
                if target.owner is not None and target.owner != (os.geteuid(), os.getegid()):
                    with contextlib.suppress(OSError):  # only root (or a member of the group) may
                        os.chown(target.temp, *target.owner)
                os.chmod(target.temp, _new_file_mode() if target.mode is None else target.mode)
                os.replace(target.temp, target.final)
                target.temp = None
            except OSError as error:
                raise OutputError(f"cannot write {target.path}: {error.strerror or error}") from None

    # ------------------------------------------------------------------ signals

    def _catch_signals(self) -> None:
        """Take over SIGINT/SIGTERM/SIGHUP where they still have their default handling (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in _SIGNALS:
            default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
            if signal.getsignal(signum) is default:
                self.previous[signum] = signal.signal(signum, self._on_signal)

    def _restore_signals(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.holding:
            if self.pending in (None, signal.SIGINT):  # a termination outranks a Ctrl-C
                self.pending = signum
            return
        self._interrupt(signum)

    def _interrupt(self, signum: int) -> None:
        """A signal outside the held moments: remove the temporary files, then do what the signal does."""
        self._discard()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        self._restore_signals()
        os.kill(os.getpid(), signum)  # the default action: the process ends here, killed by the signal
        raise SystemExit(128 + signum)

    def _release(self) -> None:
        self.holding = False
        pending, self.pending = self.pending, None
        if pending is not None:
            self._interrupt(pending)

    # ------------------------------------------------------------------ context

    def __enter__(self) -> _Outputs:
        self._catch_signals()
        _local.outputs = self
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.holding = True
        try:
            if kind is None:
                self._commit()
        finally:
            self._discard()  # after a commit nothing is left to discard
            _local.outputs = None
            self._restore_signals()
            self._release()


@contextlib.contextmanager
def all_or_none(*paths: str | os.PathLike | None) -> Iterator[None]:
    """Write several outputs together: every one of them, or (on any failure) none.

    Every destination is checked on entry (``None`` is skipped), so a missing
    folder or the same file given twice fails before any work is done. Inside the
    block each :func:`atomic_output` fills a temporary file; on leaving without an
    error all of them are moved into place. Nested blocks join the outer one.
    """
    outer = getattr(_local, "outputs", None)
    if outer is not None:
        for path in paths:
            if path is not None:
                outer.declare(path)
        yield
        return
    with _Outputs() as outputs:
        for path in paths:
            if path is not None:
                outputs.declare(path)
        yield


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; it becomes ``path`` when the block ends without error.

    Inside :func:`all_or_none` the move waits for the whole group. ``suffix``
    gives the temporary file an extension for writers that look at it (PIL,
    numpy); by default it is ``path``'s own.
    """
    outputs = getattr(_local, "outputs", None)
    if outputs is None:
        with all_or_none(path), atomic_output(path, suffix) as tmp:
            yield tmp
        return
    target = outputs.claim(path, suffix)
    try:
        yield target.temp
    except BaseException:
        outputs.drop(target)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))
