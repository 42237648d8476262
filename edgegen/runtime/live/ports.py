"""MIDI output ports: backend choice, listing, opening, and a recording double for tests.

The backend follows mido's convention: ``MIDO_BACKEND`` names a mido backend module
and, after a slash, an RtMidi API (``mido.backends.rtmidi/UNIX_JACK``,
``mido.backends.rtmidi/LINUX_ALSA``, ``mido.backends.rtmidi/MACOSX_CORE``,
``mido.backends.rtmidi/WINDOWS_MM``). With no ``MIDO_BACKEND`` we try mido's default
and, when that fails (ALSA on a machine without /dev/snd), RtMidi's JACK API, so the
same command works wherever some MIDI system runs.

The player only needs :class:`OutputPort` (``name``, ``send``, ``close``,
``is_alive``); :class:`MidoOutputPort` wraps a real port and :class:`RecordingPort`
records what would have been sent, so timing logic is tested without hardware.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

import mido

from edgegen.runtime.errors import first_line

JACK_HINT = (
    "start a JACK server (`jackd -d dummy -r 48000 -p 64 &`) and set "
    "MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK, or write a file instead with "
    "`drumgen sample --style rock --out groove.mid`"
)


class MidiPortError(Exception):
    """Anything that keeps a MIDI port from being listed, opened or used; the message is one line."""


class MidiBackendError(MidiPortError):
    """No MIDI system answers (no ALSA sequencer, no JACK server, unknown backend name)."""


class UnknownPortError(MidiPortError):
    """``--port`` matches no output port (or several); the message lists the ports there are."""


class PortGoneError(MidiPortError):
    """The port (or the program behind it) disappeared while playing."""


class OutputPort(Protocol):
    """What the player needs from a MIDI output."""

    name: str

    def send(self, message: mido.Message) -> None: ...

    def close(self) -> None: ...

    def is_alive(self) -> bool: ...


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[list[str]]:
    """Keep C libraries (ALSA, JACK) from printing onto our stderr; yield the lines they wrote.

    ``ALSA lib seq_hw.c: ... open /dev/snd/seq failed`` and JACK's "Cannot connect to
    server socket" are printed by C code straight to file descriptor 2, around the
    exception we turn into a one-line error anyway.
    """
    lines: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2: nothing to hide
        yield lines
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode("utf-8", "replace").splitlines())


def backend_label(backend: mido.Backend) -> str:
    """How a backend is named in messages: ``mido.backends.rtmidi/UNIX_JACK``."""
    return f"{backend.name}/{backend.api}" if backend.api else backend.name


def _candidate_backends() -> list[mido.Backend]:
    """MIDO_BACKEND if set (and only that); else mido's default, then RtMidi's JACK API."""
    if os.environ.get("MIDO_BACKEND"):
        return [mido.Backend(os.environ["MIDO_BACKEND"])]
    return [mido.Backend("mido.backends.rtmidi"), mido.Backend("mido.backends.rtmidi", api="UNIX_JACK")]


def _list_outputs(backend: mido.Backend) -> list[str]:
    with quiet_native_stderr():
        return list(backend.get_output_names())


def choose_backend() -> mido.Backend:
    """The first backend whose output ports can be listed; raise :class:`MidiBackendError` if none."""
    failures = []
    for backend in _candidate_backends():
        try:
            _list_outputs(backend)
            return backend
        except Exception as error:  # rtmidi raises SystemError/OSError, mido ImportError/ValueError
            failures.append(f"{backend_label(backend)}: {first_line(error)}")
    raise MidiBackendError(f"no MIDI backend works ({'; '.join(failures)}); {JACK_HINT}")


def list_output_ports(backend: mido.Backend | None = None) -> list[str]:
    """Names of the output ports there are (in the order ``--port INDEX`` counts them)."""
    backend = backend or choose_backend()
    try:
        return _list_outputs(backend)
    except Exception as error:
        raise MidiBackendError(f"cannot list MIDI ports with {backend_label(backend)}: {first_line(error)}") from None


def list_input_ports(backend: mido.Backend | None = None) -> list[str]:
    """Names of the input ports there are (for ``--sync``, in the order its index counts them)."""
    backend = backend or choose_backend()
    try:
        with quiet_native_stderr():
            return list(backend.get_input_names())
    except Exception as error:
        raise MidiBackendError(f"cannot list MIDI ports with {backend_label(backend)}: {first_line(error)}") from None


def resolve_port_name(query: str, names: list[str], kind: str = "output") -> str:
    """Pick the port ``query`` means: an index into ``names``, an exact name, or a unique substring."""
    listing = ", ".join(f"{index}: {name!r}" for index, name in enumerate(names)) or "none"
    if query.strip().isdigit():
        index = int(query)
        if index < len(names):
            return names[index]
        raise UnknownPortError(f"no MIDI {kind} port number {index}; ports: {listing}")
    if query in names:
        return query
    matches = [name for name in names if query.lower() in name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UnknownPortError(f"no MIDI {kind} port matches {query!r}; ports: {listing}")
    raise UnknownPortError(f"{query!r} matches several MIDI {kind} ports ({', '.join(map(repr, matches))}); "
                           f"ports: {listing}")


def _loaded_libjack() -> ctypes.CDLL | None:
    """The libjack RtMidi already loaded (the wheel bundles its own copy), else the system's."""
    with contextlib.suppress(OSError), open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if os.path.basename(path).startswith(("libjack.so", "libjack-")):
                return ctypes.CDLL(path)
    path = ctypes.util.find_library("jack")
    return ctypes.CDLL(path) if path else None


class JackShutdownWatch:
    """A port-less JACK client whose shutdown callback notices the JACK server going away.

    RtMidi keeps sending into a dead server without an error, so a stopped or
    crashed jackd would otherwise leave the player playing to nobody, forever.
    libjack calls the callback from its own thread (measured: ~10-20 ms after the
    server dies); :attr:`gone` is all the player reads.
    """

    JACK_NO_START_SERVER = 0x01
    _CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)

    def __init__(self, client_name: str):
        self.gone = False
        self._lib = _loaded_libjack()
        self._client = None
        if self._lib is None:
            return
        self._lib.jack_client_open.restype = ctypes.c_void_p
        self._lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        self._lib.jack_on_shutdown.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self._lib.jack_client_close.argtypes = [ctypes.c_void_p]
        status = ctypes.c_int()
        with quiet_native_stderr():
            self._client = self._lib.jack_client_open(client_name.encode()[:60], self.JACK_NO_START_SERVER,
                                                      ctypes.byref(status))
        if self._client:
            self._on_shutdown = self._CALLBACK(self._mark_gone)  # kept referenced: libjack holds the pointer
            self._lib.jack_on_shutdown(self._client, self._on_shutdown, None)

    def _mark_gone(self, _arg: object) -> None:
        self.gone = True

    def close(self) -> None:
        if self._client and not self.gone:
            with quiet_native_stderr():
                self._lib.jack_client_close(self._client)
        self._client = None


@dataclass
class MidoOutputPort:
    """A real mido output port; a failing send becomes :class:`PortGoneError`.

    ``target`` is the other program's port we connected to (``--port``): ``is_alive``
    checks it is still listed, at most every ``check_every`` seconds, because a JACK or
    ALSA connection to a vanished program fails silently instead of raising. With
    JACK, ``server_watch`` also notices the server itself stopping.
    """

    port: mido.ports.BaseOutput
    name: str
    target: str | None = None
    list_outputs: Callable[[], list[str]] | None = None
    check_every: float = 0.5
    server_watch: JackShutdownWatch | None = None
    _checked_at: float = field(default=float("-inf"), repr=False)
    _alive: bool = field(default=True, repr=False)

    def send(self, message: mido.Message) -> None:
        try:
            self.port.send(message)
        except Exception as error:
            raise PortGoneError(f"MIDI port {self.name!r} failed: {first_line(error)}") from None

    def is_alive(self) -> bool:
        if self.server_watch is not None and self.server_watch.gone:
            self._alive = False
        if self.target is None or self.list_outputs is None or not self._alive:
            return self._alive
        now = time.perf_counter()
        if now - self._checked_at >= self.check_every:
            self._checked_at = now
            try:
                self._alive = self.target in self.list_outputs()
            except Exception:
                self._alive = False
        return self._alive

    def close(self) -> None:
        with quiet_native_stderr(), contextlib.suppress(Exception):
            self.port.close()
        if self.server_watch is not None:
            self.server_watch.close()


def _watch_server(backend: mido.Backend, name: str) -> JackShutdownWatch | None:
    """A :class:`JackShutdownWatch` when the backend is RtMidi's JACK API (None otherwise or if it fails)."""
    if backend.api != "UNIX_JACK":
        return None
    try:
        return JackShutdownWatch(f"{name}-watch")
    except Exception:
        return None


def _port_lister(port: mido.ports.BaseOutput, backend: mido.Backend) -> Callable[[], list[str]]:
    """A cheap way to list outputs while playing: RtMidi's own client if there is one, else the backend."""
    rt = getattr(port, "_rt", None)
    if rt is not None and hasattr(rt, "get_ports"):
        return rt.get_ports
    return lambda: _list_outputs(backend)


def open_output(port: str | None = None, virtual: str | None = None,
                backend: mido.Backend | None = None) -> MidoOutputPort:
    """Open ``--port`` (index, name or substring of another program's port) or a ``--virtual`` port of ours.

    A virtual port is named ``NAME:NAME`` (client and port) in JACK and ALSA, so a DAW
    lists it under the name the user gave.
    """
    if (port is None) == (virtual is None):
        raise ValueError("give exactly one of port and virtual")
    backend = backend or choose_backend()
    label = backend_label(backend)
    if virtual is not None:
        try:
            with quiet_native_stderr():
                opened = backend.open_output(virtual, virtual=True, client_name=virtual)
        except Exception as error:
            raise MidiBackendError(f"cannot open virtual MIDI port {virtual!r} with {label}: {first_line(error)}; "
                                   f"{JACK_HINT}") from None
        return MidoOutputPort(opened, name=virtual, server_watch=_watch_server(backend, virtual))
    target = resolve_port_name(port, list_output_ports(backend))
    try:
        with quiet_native_stderr():
            opened = backend.open_output(target)
    except Exception as error:
        raise MidiBackendError(f"cannot open MIDI port {target!r} with {label}: {first_line(error)}") from None
    return MidoOutputPort(opened, name=target, target=target, list_outputs=_port_lister(opened, backend),
                          server_watch=_watch_server(backend, "edgegen"))


@dataclass
class RecordingPort:
    """A test double: records ``(time, message)`` with the player's clock instead of sending.

    ``fail_after`` makes the port vanish after that many messages (sends raise
    :class:`PortGoneError` and ``is_alive`` turns false), like an unplugged device.
    """

    now: Callable[[], float] = time.perf_counter
    name: str = "recording"
    fail_after: int | None = None
    sent: list[tuple[float, mido.Message]] = field(default_factory=list)
    closed: bool = False

    def send(self, message: mido.Message) -> None:
        if self.closed:
            raise PortGoneError(f"MIDI port {self.name!r} is closed")
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise PortGoneError(f"MIDI port {self.name!r} disappeared")
        self.sent.append((self.now(), message))

    def is_alive(self) -> bool:
        return not self.closed and (self.fail_after is None or len(self.sent) < self.fail_after)

    def close(self) -> None:
        self.closed = True

    def messages(self, kind: str | None = None) -> list[mido.Message]:
        """The recorded messages, optionally only those of one type (``note_on``, ``control_change``...)."""
        return [message for _, message in self.sent if kind is None or message.type == kind]
