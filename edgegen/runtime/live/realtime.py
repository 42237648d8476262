"""What every live part shares: the clock interface, MIDI clock resolution, the stop signal,
real-time priority and signal handling.

Kept apart from the player so the bar source, the clock follower and the ports can
use them without importing the player (imports in ``live/`` point one way:
realtime <- ports <- clock_sync, bar_source <- player).
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Iterator, Protocol

CLOCKS_PER_BEAT = 24  # MIDI clock resolution (PPQN)


class Clock(Protocol):
    """Where the player reads the time and how it waits; a fake one makes timing testable."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: ``time.perf_counter`` and ``time.sleep``."""

    now = staticmethod(time.perf_counter)
    sleep = staticmethod(time.sleep)


# Every signal that asks playback to end: Ctrl-C, kill, and the terminal closing (SIGHUP).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class Stopped(BaseException):
    """Playback was asked to stop (Ctrl-C, SIGTERM, SIGHUP, or the master clock's Stop); ``reason`` says which.

    A BaseException, like KeyboardInterrupt: a signal can land inside any Python code
    (mido's ``send``, a backend probe), and an ``except Exception`` there must not turn
    it into "port failed".
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@contextlib.contextmanager
def realtime_priority(enabled: bool, priority: int = 1) -> Iterator[bool]:
    """SCHED_FIFO for the calling thread while inside, if the OS allows it; yield whether it did.

    Priority 1 is the lowest real-time priority: above every ordinary process
    (a busy neighbour can no longer delay a deadline), below the audio system's
    own threads. JACK runs its clients' process threads at FIFO 5 by default;
    measured here, a player at the same priority spinning on one of two cores
    kept them from finishing their cycle (xruns and corrupted MIDI events).
    Restored on exit so a test process does not keep it.
    """
    if not enabled or not hasattr(os, "sched_setscheduler"):
        yield False
        return
    try:
        before = os.sched_getscheduler(0), os.sched_getparam(0)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, AttributeError):
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, before[0], before[1])


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn the first SIGINT, SIGTERM or SIGHUP into :class:`Stopped` in the main thread; ignore repeats.

    SIGHUP comes when the terminal running `drumgen play` closes; its default
    action would kill the process with notes still sounding on the synth. A second
    Ctrl-C while the player is silencing the port must not cut the clean-up short
    (that is how notes get stuck).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def handler(signum: int, frame: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise Stopped(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP back (they arrive afterwards) so a clean-up is never cut in half."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(STOP_SIGNALS))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
