"""A private JACK server with the dummy driver, for tests and benchmarks on machines without a sound card.

DESIGN section 8: with no /dev/snd, ALSA MIDI fails, but jackd runs in user space
with ``-d dummy`` and RtMidi speaks JACK. Each server here gets its own name
(``jackd -n NAME``), so it never meets a JACK server someone else runs; clients
find it through ``JACK_DEFAULT_SERVER=NAME`` (see :meth:`JackServer.env`). Only
the PID we started is ever stopped. :class:`MidiRecorder` is the listening end
of a loopback: the e2e tests and the playback benchmark connect it to
`drumgen play`'s port.
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import mido
import numpy as np

from edgegen.runtime import midi_io
from edgegen.runtime.drum_spec import INSTRUMENTS

JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"


class JackUnavailable(RuntimeError):
    """jackd is not installed or did not come up; the message says which."""


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the process that started it dies (Linux prctl).

    A test process that crashes (or is killed) must not leave its jackd running.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def jackd_path() -> str | None:
    return shutil.which("jackd")


def _jackd_running() -> bool:
    """Whether any jackd process exists (so its /dev/shm files are not stale)."""
    for stat in glob.glob("/proc/[0-9]*/comm"):
        try:
            if Path(stat).read_text().strip() in ("jackd", "jackdbus"):
                return True
        except OSError:
            continue
    return False


def remove_stale_shm() -> list[str]:
    """Delete /dev/shm/jack* left by a crashed server, but only when no jackd runs at all."""
    if _jackd_running():
        return []
    removed = []
    for path in glob.glob("/dev/shm/jack*"):
        try:
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
            removed.append(path)
        except OSError:
            pass
    return removed


SERVER_NAMES = tuple(f"edgegen-test-{k}" for k in range(6))


def _running_server_names() -> set[str]:
    """The -n NAME of every jackd process there is."""
    names = set()
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            args = Path(cmdline).read_bytes().split(b"\0")
        except OSError:
            continue
        if args and os.path.basename(args[0]) in (b"jackd", b"jackdmp") and b"-n" in args[:-1]:
            names.add(args[args.index(b"-n") + 1].decode(errors="replace"))
    return names


def free_server_name() -> str:
    """A name from a small fixed pool that no running jackd uses.

    JACK2 keeps a registry of 8 server slots in shared memory and frees a killed
    server's slot only when a server of the same name starts again; unique names
    per test (as before) filled it with stale slots ("Too many servers already
    active") once a few servers had been killed.
    """
    running = _running_server_names()
    for name in SERVER_NAMES:
        if name not in running:
            return name
    return f"edgegen-{os.getpid()}-{time.monotonic_ns() % 100000}"


def terminate(process: subprocess.Popen) -> None:
    """SIGTERM this process (its PID only), SIGKILL after 5 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def busy_pattern(path: Path) -> Path:
    """Two bars, 36 and 37 notes, chords of up to five notes on one frame: back-to-back messages (JACK tests, bench)."""
    grids = np.zeros((2, 16, 9), bool)
    col = {name: i for i, name in enumerate(INSTRUMENTS)}
    grids[:, :, col["closed_hat"]] = True
    grids[:, [0, 4, 8, 12], col["kick"]] = True
    grids[:, [4, 12, 14, 15], col["snare"]] = True
    grids[:, 0:16:2, col["ride"]] = True
    grids[0, [2, 6, 10], col["tom_low"]] = True
    grids[1, [3, 7, 11], col["tom_high"]] = True
    grids[:, 0, col["crash"]] = True
    grids[1, 13, col["open_hat"]] = True
    velocities = np.where(grids, 40 + (np.arange(16)[:, None] * 5 + np.arange(9)[None, :] * 7) % 88, 0)
    midi_io.write_midi(path, grids, velocities=velocities.astype(np.uint8))
    return path


class JackServer:
    """``with JackServer() as jack:`` starts ``jackd -n NAME -d dummy -r RATE -p PERIOD`` and stops that PID.

    ``EDGEGEN_JACKD_OPTIONS`` adds server options (``-S``: synchronous mode, where no client reads a
    cycle before the clients it depends on have written it; JACK2 runs asynchronously by default).

    ``period`` 64 frames at 48 kHz delivers MIDI every 1.33 ms.
    """

    def __init__(self, name: str | None = None, rate: int = 48000, period: int = 64, timeout: float = 10.0):
        self.name = name  # None: a free name from SERVER_NAMES, chosen when it starts
        self.rate, self.period, self.timeout = rate, period, timeout
        self.server_options: tuple[str, ...] = tuple(os.environ.get("EDGEGEN_JACKD_OPTIONS", "").split())
        self.process: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="jackd-", suffix=".log", delete=False)

    @property
    def period_ms(self) -> float:
        return 1000.0 * self.period / self.rate

    def log_tail(self, chars: int = 2000) -> str:
        """The end of jackd's own output (xruns, client errors), for failure messages."""
        try:
            return Path(self.log.name).read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a client of this server (mido's JACK backend, this server's name)."""
        env = dict(os.environ if base is None else base)
        env["MIDO_BACKEND"] = JACK_BACKEND
        env["JACK_DEFAULT_SERVER"] = self.name
        env["JACK_NO_START_SERVER"] = "1"
        return env

    def _ready(self) -> bool:
        """Ask a throwaway client (jack_lsp if installed, else RtMidi in a subprocess) whether the server answers."""
        probe = ["jack_lsp"] if shutil.which("jack_lsp") else None
        if probe is None:
            probe = [sys.executable, "-c", "import rtmidi; rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK).get_ports()"]
        done = subprocess.run(probe, env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=self.timeout)
        return done.returncode == 0

    def start(self) -> "JackServer":
        jackd = jackd_path()
        if jackd is None:
            raise JackUnavailable("jackd is not installed (apt-get install jackd2)")
        if self.process is not None and self.process.poll() is None:
            return self  # already running: `with server(...)` on a started server must not start a second jackd
        remove_stale_shm()
        if self.name is None or (self.name in SERVER_NAMES and self.name in _running_server_names()):
            self.name = free_server_name()
        self.process = subprocess.Popen(
            [jackd, "-n", self.name, *self.server_options, "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self._ready():
                return self
            time.sleep(0.1)
        self.stop()
        running = sorted(_running_server_names())
        raise JackUnavailable(f"jackd did not start: {self.log_tail(500)} (jackd servers running: {running})")

    def stop(self) -> None:
        """SIGTERM our jackd (its PID only), SIGKILL after 5 s."""
        if self.process is not None:
            terminate(self.process)
        self.process = None

    def __enter__(self) -> "JackServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


class MidiRecorder:
    """A MIDI input on the JACK server that records (arrival time, message); ``on_message`` hook per message.

    No Python runs in JACK's process thread: RtMidi queues input in C and stamps it
    with JACK's clock, and a Python thread drains the queue. (A Python callback there
    must take the GIL; a garbage collection in the test process then made the client
    miss its JACK cycle, and the next cycle read half-written events: measured here.)
    Arrival times are seconds since the first message, from RtMidi's delta times.
    ``realtime``: drain at real-time priority, for a benchmark that shares this
    process (and its GIL) with the player.
    """

    def __init__(self, client: str = "edgegen-sink", realtime: bool = False):
        import rtmidi

        self.rt = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=client, queue_size_limit=65536)
        self.rt.ignore_types(sysex=True, timing=False, active_sense=True)
        self.received: list[tuple[float, mido.Message]] = []
        self.on_message = None
        self._clock = 0.0
        self._running = True
        self._realtime = realtime
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        from edgegen.runtime.live.realtime import realtime_priority

        with realtime_priority(self._realtime):
            self._drain_until_closed()

    def _drain_until_closed(self) -> None:
        while self._running:
            event = self.rt.get_message() if self.rt is not None else None
            if event is None:
                time.sleep(0.0005)
                continue
            data, delta = event
            self._clock += delta
            message = mido.Message.from_bytes(data)
            self.received.append((self._clock, message))
            if self.on_message is not None:
                self.on_message(message)

    def open_virtual(self, port: str) -> None:
        self.rt.open_virtual_port(port)

    def connect(self, contains: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            names = self.rt.get_ports()
            for index, name in enumerate(names):
                if contains in name:
                    self.rt.open_port(index)
                    return name
            time.sleep(0.005)
        raise AssertionError(f"no JACK port containing {contains!r} appeared; ports: {self.rt.get_ports()}")

    def messages(self, kind: str | None = None) -> list[tuple[float, mido.Message]]:
        return [(t, m) for t, m in self.received if kind is None or m.type == kind]

    def close(self) -> None:
        """Close the port and the JACK client (once: RtMidi crashes on a second delete)."""
        if self.rt is None:
            return
        self._running = False
        self._thread.join(1.0)
        rt, self.rt = self.rt, None
        rt.close_port()
        rt.delete()


def jack_lsp_path() -> str | None:
    return shutil.which("jack_lsp")


class FrameDump:
    """A frame-stamping MIDI receiver in its own process (tests/jack_frame_recorder.py, a JACK-Client input).

    Every event is written with JACK's own frame time (its cycle's ``last_frame_time``
    plus its offset), from JACK's process thread, so what is measured is where the
    event sits in the JACK timeline, not when some Python thread got around to
    reading it. (``jack_midi_dump -a`` counts the frames of the cycles it was called
    for instead: a cycle the dummy driver skips under load shifts every later stamp.)
    The input port is ``CLIENT:input``. Only the PID started here is ever stopped.
    """

    def __init__(self, server: JackServer, client: str = "edgegen-dump", timeout: float = 10.0):
        self.client, self.port = client, f"{client}:input"
        self.out = tempfile.NamedTemporaryFile(prefix="midi-frames-", suffix=".txt", delete=False)
        self.process = self._start(server, client)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            listed = subprocess.run(["jack_lsp"], env=server.env(), capture_output=True, text=True).stdout.split("\n")
            if self.port in listed:
                return
            time.sleep(0.05)
        self.stop()
        raise JackUnavailable(f"the frame recorder did not register {self.port}: {self.process.stderr.read()[-500:]}")

    def events(self) -> list[tuple[int, bytes]]:
        """(frame, message bytes) of every event so far, in arrival order."""
        events = []
        for line in Path(self.out.name).read_text(errors="replace").splitlines():
            stamp, sep, rest = line.partition(":")
            if not sep or not stamp.strip().isdigit():
                continue
            data = []
            for word in rest.split():
                if len(word) != 2:
                    break
                try:
                    data.append(int(word, 16))
                except ValueError:
                    break
            if data:
                events.append((int(stamp), bytes(data)))
        return events

    def _start(self, server: JackServer, client: str) -> subprocess.Popen:
        command = [sys.executable, str(Path(__file__).with_name("jack_frame_recorder.py")), client, self.out.name]
        return subprocess.Popen(command, env=server.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)

    def note_ons(self) -> list[tuple[int, bytes]]:
        return [(frame, data) for frame, data in self.events() if data[0] & 0xF0 == 0x90 and data[2] > 0]

    def stop(self) -> None:
        terminate(self.process)

    def close(self) -> None:
        self.stop()
        self.out.close()
        with contextlib.suppress(OSError):
            os.unlink(self.out.name)


class ByteDump(FrameDump):
    """A C receiver, ``jack_midi_dump -a CLIENT`` (jackd2's example client), for counting what arrives.

    It copies each event into a ring buffer in its process callback and prints it from its main
    thread, so it never misses a cycle for want of a GIL. At a 64-frame period on a busy 2-core
    virtual machine the Python recorder (FrameDump) now and then does (a cycle skipped, its
    events gone); the messages are counted here and their frames measured there. Its own stamps
    count the frames of the cycles it was called for, so they are not JACK frame times.
    """

    def __init__(self, server: JackServer, client: str = "edgegen-bytes", timeout: float = 10.0):
        super().__init__(server, client, timeout)

    def _start(self, server: JackServer, client: str) -> subprocess.Popen:
        if shutil.which("jack_midi_dump") is None:
            raise JackUnavailable("jack_midi_dump is not installed (apt-get install jackd2)")
        return subprocess.Popen(["jack_midi_dump", "-a", client], env=server.env(), stdout=self.out,
                                stderr=subprocess.PIPE, start_new_session=True,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)

    def stop(self) -> None:
        """SIGINT first: jack_midi_dump prints what its ring buffer still holds, then exits."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        terminate(self.process)

    def messages(self) -> list[bytes]:
        """Every message's bytes, in arrival order."""
        return [data for _, data in self.events()]


@contextlib.contextmanager
def busy_processes(count: int = 2):
    """``count`` processes spinning at full speed (``while True: pass``): both cores of a 2-core machine loaded.

    Started here and stopped by their own PIDs when the block ends.
    """
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True,
                                 preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
                for _ in range(count)]
    try:
        time.sleep(0.2)
        yield spinners
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait(5)
