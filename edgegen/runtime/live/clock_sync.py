"""Following an external MIDI clock (`drumgen play --sync PORT`): the master's ticks are the player's clock.

The player schedules against a :class:`~edgegen.runtime.live.player.Clock`;
:class:`ExternalClock` is one whose time advances with the master's MIDI clock
(24 ticks per beat) instead of the wall clock. Its unit is "seconds at the
nominal tempo" (``--bpm``), so the player needs no changes: tick n after the
master's Start is time ``n * nominal_tick``, and between ticks time is
interpolated with the measured tick period, never past the next tick (if the
master slows down, the player waits for it; an event on a tick goes out as that
tick arrives). A Stop from the master ends playback through the player's clean
exit. MIDI's rule: the first clock after Start is the downbeat (position 0).

Input is read by polling RtMidi's own queue from the player thread, so no Python
runs in the MIDI system's thread (see jack_server.MidiRecorder for why).
"""
from __future__ import annotations

import time
from typing import Callable, Protocol

import mido

from edgegen.runtime.errors import first_line
from edgegen.runtime.live.ports import (MidiBackendError, backend_label, choose_backend, list_input_ports,
                                        quiet_native_stderr, resolve_port_name)
from edgegen.runtime.live.realtime import CLOCKS_PER_BEAT, Stopped

START, CONTINUE, STOP, CLOCK = 0xFA, 0xFB, 0xFC, 0xF8


class ClockInput(Protocol):
    """Where the master's realtime messages come from."""

    def poll(self) -> list[tuple[int, float]]:
        """Messages that arrived since the last poll, as (status byte, arrival time on the perf_counter scale)."""

    def close(self) -> None: ...


class RtMidiClockInput:
    """An RtMidi input port drained without a callback; arrival times from RtMidi's own delta stamps."""

    def __init__(self, midi_in, now: Callable[[], float] = time.perf_counter):
        self._in = midi_in
        self._in.ignore_types(sysex=True, timing=False, active_sense=True)
        self._now = now

    def poll(self) -> list[tuple[int, float]]:
        batch = []
        while (event := self._in.get_message()) is not None:
            data, delta = event
            batch.append((data[0] if data else 0, delta))
        if not batch:
            return []
        # the last message arrived about now; earlier ones by their delta stamps before it
        arrived, messages = self._now(), []
        for status, delta in reversed(batch):
            messages.append((status, arrived))
            arrived -= delta
        return messages[::-1]

    def close(self) -> None:
        self._in.close_port()
        self._in.delete()


class ExternalClock:
    """A player clock driven by a master's MIDI clock; see the module docstring.

    ``bpm`` is only the starting guess for the tick period (and the unit of
    time); the period is then measured (mean of the last ``window`` intervals).
    """

    def __init__(self, source: ClockInput, bpm: float = 120.0, window: int = 24, max_sleep: float = 0.001,
                 wall: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = time.sleep):
        self.source = source
        self.nominal_tick = 60.0 / bpm / CLOCKS_PER_BEAT  # seconds per tick at --bpm: the unit of now()
        self.period = self.nominal_tick  # measured seconds per tick of the master
        self.window = window
        self.max_sleep = max_sleep  # poll at least this often while sleeping
        self._wall, self._sleep = wall, sleep
        self.started = False
        self.ticks = -1  # ticks since Start: the first tick after Start is 0
        self._last_tick = 0.0  # wall time of that tick
        self._intervals: list[float] = []

    def _update(self) -> None:
        for status, arrived in self.source.poll():
            if status == START:
                self.started, self.ticks = True, -1
            elif status == STOP and self.started:
                raise Stopped("the master's Stop")
            elif status == CLOCK and self.started:
                if self.ticks >= 0:
                    self._intervals = (self._intervals + [arrived - self._last_tick])[-self.window:]
                    self.period = sum(self._intervals) / len(self._intervals)
                self.ticks += 1
                self._last_tick = arrived

    def next_downbeat(self, bar: float) -> float:
        """Where playback should start (nominal seconds): the Start's downbeat, or the next bar line
        if the master is already running."""
        now = self.now()
        if now < 0:
            return 0.0
        return (int(now // bar) + 1) * bar

    def bpm(self) -> float:
        """The master's tempo as measured."""
        return 60.0 / self.period / CLOCKS_PER_BEAT

    def now(self) -> float:
        """Position in nominal seconds: ticks since Start, plus the share of the next tick that has passed."""
        wall = self._wall()
        self._update()
        if not self.started:
            return -self.nominal_tick  # no Start yet: the player sleeps (in max_sleep steps)
        if self.ticks < 0:
            return -1e-6  # started, the downbeat tick is due any moment: the player busy-waits for it
        share = min(max(wall - self._last_tick, 0.0) / self.period, 0.99)
        return (self.ticks + share) * self.nominal_tick

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of nominal time in the master's tempo, but no longer than ``max_sleep`` of wall time."""
        self._sleep(min(seconds * self.period / self.nominal_tick, self.max_sleep))


def open_clock_input(query: str, backend: mido.Backend | None = None):
    """Open the input port ``query`` means for reading a master's MIDI clock (RtMidi backends only).

    Returns a :class:`RtMidiClockInput`, which RtMidi fills
    in C and the player drains, so no Python runs in the MIDI system's thread.
    """
    backend = backend or choose_backend()
    name = resolve_port_name(query, list_input_ports(backend), kind="input")
    if backend.name != "mido.backends.rtmidi":
        raise MidiBackendError(f"--sync needs the RtMidi backend (MIDO_BACKEND=mido.backends.rtmidi/...), "
                               f"not {backend_label(backend)}")
    try:
        import rtmidi

        api = getattr(rtmidi, f"API_{backend.api}") if backend.api else rtmidi.API_UNSPECIFIED
        with quiet_native_stderr():
            midi_in = rtmidi.MidiIn(rtapi=api, name="edgegen-sync", queue_size_limit=4096)
            midi_in.open_port(midi_in.get_ports().index(name))
    except Exception as error:
        raise MidiBackendError(f"cannot open MIDI input {name!r}: {first_line(error)}") from None
    return RtMidiClockInput(midi_in)
