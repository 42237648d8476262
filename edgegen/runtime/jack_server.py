"""A private JACK server with the dummy driver, for tests and benchmarks on machines without a sound card.

DESIGN section 8: with no /dev/snd, ALSA MIDI fails, but jackd runs in user space
with ``-d dummy`` and RtMidi speaks JACK. Each server here gets its own name
(``jackd -n NAME``), so it never meets a JACK server someone else runs; clients
find it through ``JACK_DEFAULT_SERVER=NAME`` (see :meth:`JackServer.env`). Only
the PID we started is ever stopped.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"


class JackUnavailable(RuntimeError):
    """jackd is not installed or did not come up; the message says which."""


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


class JackServer:
    """``with JackServer() as jack:`` starts ``jackd -n NAME -d dummy -r RATE -p PERIOD`` and stops that PID.

    ``period`` 64 frames at 48 kHz delivers MIDI every 1.33 ms.
    """

    def __init__(self, name: str | None = None, rate: int = 48000, period: int = 64, timeout: float = 10.0):
        self.name = name or f"edgegen-{os.getpid()}-{time.monotonic_ns() % 100000}"
        self.rate, self.period, self.timeout = rate, period, timeout
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
            import sys

            probe = [sys.executable, "-c", "import rtmidi; rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK).get_ports()"]
        done = subprocess.run(probe, env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=self.timeout)
        return done.returncode == 0

    def start(self) -> "JackServer":
        jackd = jackd_path()
        if jackd is None:
            raise JackUnavailable("jackd is not installed (apt-get install jackd2)")
        remove_stale_shm()
        self.process = subprocess.Popen(
            [jackd, "-n", self.name, "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self._ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise JackUnavailable(f"jackd did not start: {self.log_tail(500)}")

    def stop(self) -> None:
        """SIGTERM our jackd (its PID only), SIGKILL after 5 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
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
