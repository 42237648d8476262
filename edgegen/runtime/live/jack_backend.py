"""Sample-accurate live MIDI through a native JACK client (the `JACK-Client` package, cffi over libjack).

Why (DESIGN section 8): RtMidi writes every message at frame 0 of the next JACK
cycle, so against the JACK clock (the one every synth in the graph plays by) a
note lands anywhere within a period, later still when the sender is late, and
RtMidi 5.0.0 garbles back-to-back messages. JACK sequencers instead write each
event at its exact frame offset inside the process callback; so does this module.

How:

- :class:`JackClock` is the player's clock: JACK frames since the client opened,
  in seconds. The player's deadlines (start + steps x step seconds) are therefore
  JACK times, and :meth:`JackClock.frame_at` turns each into an absolute frame.
- The player (on its own thread) calls :meth:`JackMidiOutput.schedule` a
  ``lookahead`` (several periods) before each event's deadline; the message's
  bytes and frame go onto a deque in frame order (``deque.append``/``popleft``
  are atomic under the GIL: no lock).
- The process callback clears the port buffer, pops the events due before the
  end of this cycle and writes each at ``frame - cycle start`` with
  ``write_midi_event``. It never waits, logs or allocates more than an int; an
  event that arrives after its frame has passed is written at the first free
  offset and counted late.
- Clean exit: :meth:`JackMidiOutput.cancel_pending` drops queued events that have
  not played except note-offs (played at once, so no note hangs); messages sent
  with :meth:`send` go at the tail of the queue (after everything before them);
  :meth:`close` waits until the callback has written them all (a timeout if the
  server is gone) before the client closes.

``jack`` is imported lazily, so the runtime works without JACK-Client installed.
"""
from __future__ import annotations

import collections
import os
import time
from typing import Callable

import mido

from edgegen.runtime.errors import first_line
from edgegen.runtime.live.ports import (MidiBackendError, PortGoneError, quiet_native_stderr, resolve_port_name)
from edgegen.runtime.live.realtime import Stopped

WRAP = 1 << 32  # jack_nframes_t is 32 bits: frame times wrap after ~24.8 h at 48 kHz
NOTE_OFF_STATUS = 0x80
NOW = -1  # the frame of a message that goes out as soon as everything queued before it has


def import_jack():
    """The `jack` module, or :class:`MidiBackendError` saying how to get it (JACK-Client and libjack)."""
    try:
        with quiet_native_stderr():
            import jack
    except (ImportError, OSError) as error:
        raise MidiBackendError(f"the JACK backend needs JACK-Client and libjack (pip install 'edgegen[jack]', "
                               f"apt-get install libjack-jackd2-0): {first_line(error)}") from None
    return jack


def jack_available() -> bool:
    """Whether JACK-Client is installed and a JACK server answers (the `--backend auto` test)."""
    try:
        jack = import_jack()
        with quiet_native_stderr():
            client = jack.Client("edgegen-probe", no_start_server=True)
        client.close()
        return True
    except Exception:
        return False


def open_client(name: str):
    """A JACK client that never starts a server of its own; one-line errors."""
    jack = import_jack()
    try:
        with quiet_native_stderr():
            return jack.Client(name, no_start_server=True)
    except Exception as error:
        raise MidiBackendError(f"no JACK server answers ({first_line(error)}); start one with "
                               f"`jackd -d dummy -r 48000 -p 64 &`") from None


def list_midi_ports(is_input: bool) -> list[str]:
    """Names of the JACK MIDI ports others can be connected to (inputs: where we play; outputs: for --sync)."""
    client = open_client("edgegen-list")
    try:
        return [port.name for port in client.get_ports(is_midi=True, is_input=is_input, is_output=not is_input)]
    finally:
        client.close()


WRITTEN, LATE, LATE_MAX, FAILED = range(4)  # the callback's counters


def write_cycle(pending: collections.deque, start: int, end: int, write: Callable[[int, bytes], None],
                cancel: bool, counts: list[int]) -> None:
    """One process cycle [start, end) frames: pop the due (frame, bytes) events and ``write(offset, bytes)`` each.

    Offsets never decrease (libjack refuses out-of-order events): an event whose
    frame has passed (or a ``NOW`` message) goes at the latest offset used so far,
    and a late one is counted. ``cancel``: playback stopped early, so queued events
    are dropped, except note-offs, which are written at once (no note may hang).
    """
    last = 0
    if cancel:
        while pending and pending[0][0] != NOW:
            frame, data = pending.popleft()
            if data[0] & 0xF0 == NOTE_OFF_STATUS:
                write(last, data)
    while pending and pending[0][0] < end:
        frame, data = pending.popleft()
        offset = last if frame == NOW else frame - start
        if offset < last:
            if frame != NOW:
                counts[LATE] += 1
                if last - offset > counts[LATE_MAX]:
                    counts[LATE_MAX] = last - offset
            offset = last
        write(offset, data)
        last = offset


class FrameUnwrapper:
    """32-bit JACK frame times -> an ever-growing frame count (one per thread: it keeps the last value)."""

    def __init__(self):
        self._last = None
        self._epoch = 0

    def __call__(self, raw: int) -> int:
        if self._last is not None and raw < self._last and self._last - raw > WRAP // 2:
            self._epoch += WRAP
        self._last = raw
        return self._epoch + raw


class JackMidiOutput:
    """A JACK MIDI output port written sample-accurately by the process callback; see the module docstring.

    ``virtual``: a client and port both called NAME (``NAME:NAME``) for others to connect to.
    ``target``: a JACK MIDI input port (name, unique part of one, or index) to connect to.
    ``lookahead``: seconds before its deadline that the player hands an event over
    (at least two periods). Generous by default: measured on a shared 2-core machine
    (load average 10), the player thread at normal priority was up to 66 ms late
    with a 30 ms lookahead. A stop still ends at once (:meth:`cancel_pending`); only a
    followed tempo (``--sync``) would react a lookahead late, so sync uses less.
    ``follow_transport``: snapshot the transport every cycle (for :class:`TransportClock`).
    """

    def __init__(self, virtual: str | None = None, target: str | None = None, lookahead: float = 0.25,
                 follow_transport: bool = False, check_every: float = 0.5):
        if (virtual is None) == (target is None):
            raise ValueError("give exactly one of virtual and target")
        self._client = open_client(virtual or "edgegen")
        try:
            self._port = self._client.midi_outports.register(virtual or "out")
        except Exception as error:
            self._client.close()
            raise MidiBackendError(f"cannot open JACK MIDI port: {first_line(error)}") from None
        self.rate = self._client.samplerate
        self.period = self._client.blocksize
        self.lookahead = max(lookahead, 2.0 * self.period / self.rate)
        self.name = virtual or ""
        self.target: str | None = None
        self.check_every = check_every
        self._checked_at = float("-inf")
        self._follow_transport = follow_transport
        self._pending: collections.deque = collections.deque()  # (frame, bytes) in frame order; NOW = at once
        self._cancel = False
        self._last_frame = 0
        self._unwrap_callback = FrameUnwrapper()
        self._unwrap_clock = FrameUnwrapper()
        self.origin = self._unwrap_clock(self._client.frame_time)  # frame 0 of the player's clock
        # what the callback counts (ints only): events written, written late, the latest by frames, refused
        self.counts = [0, 0, 0, 0]
        self.cycles = 0
        self.xruns = 0  # cycles that did not start where the last one ended
        self._next_cycle = 0
        self.gone_reason: str | None = None
        self.transport: tuple | None = None
        self._closed = False
        self._client.set_process_callback(self._process)
        self._client.set_shutdown_callback(self._on_shutdown)
        try:
            self._client.activate()
            if target is not None:
                names = [p.name for p in self._client.get_ports(is_midi=True, is_input=True)]
                self.target = resolve_port_name(target, names)
                self._client.connect(self._port, self.target)
                self.name = self.target
        except BaseException:
            self._close_client()
            raise
        if virtual is not None:
            self.name = virtual

    # ------------------------------------------------------------------ the process callback (JACK's thread)

    def _process(self, frames: int) -> None:
        """Write this cycle's events at their frame offsets. No waiting, no logging, no allocation beyond ints."""
        try:
            port = self._port
            port.clear_buffer()
            start = self._unwrap_callback(self._client.last_frame_time) - self.origin
            if start != self._next_cycle and self.cycles:  # JACK skipped frames: an xrun (counted here, not by
                self.xruns += 1  # an xrun callback, which would take the GIL in another, non-real-time thread)
            self._next_cycle = start + frames
            if self._follow_transport:
                self._snapshot_transport(start)
            cancel, self._cancel = self._cancel, False
            write_cycle(self._pending, start, start + frames, self._write, cancel, self.counts)
            self.cycles += 1
        except Exception:  # an exception would stop the callback for good; count it instead
            self.counts[FAILED] += 1

    def _write(self, offset: int, data: bytes) -> None:
        try:
            self._port.write_midi_event(offset, data)
            self.counts[WRITTEN] += 1
        except Exception:
            self.counts[FAILED] += 1

    def _snapshot_transport(self, cycle_frame: int) -> None:
        state, pos = self._client.transport_query_struct()
        bbt = bool(pos.valid & 0x10)  # JackPositionBBT
        self.transport = (cycle_frame, state, pos.frame, bbt, pos.bar, pos.beat, pos.tick, pos.ticks_per_beat,
                          pos.beats_per_minute, pos.beats_per_bar)

    def _on_shutdown(self, status, reason: str) -> None:
        self.gone_reason = reason or "the JACK server stopped"

    # ------------------------------------------------------------------ the player's side

    def now_frames(self) -> int:
        """The estimated current JACK frame (relative to :attr:`origin`), from any thread but the callback."""
        return self._unwrap_clock(self._client.frame_time) - self.origin

    def schedule(self, message: mido.Message, frame: int) -> None:
        """Queue ``message`` for ``frame``; never before the last one queued (a followed tempo can jitter
        back a frame), so the queue stays in frame order."""
        frame = max(frame, self._last_frame)
        self._last_frame = frame
        self._pending.append((frame, bytes(message.bin())))

    def send(self, message: mido.Message) -> None:
        """Queue ``message`` to go out once everything queued before it has (no later than the next cycle)."""
        if self.gone_reason is not None or self._closed:
            raise PortGoneError(f"MIDI port {self.name!r} disappeared ({self.gone_reason or 'closed'})")
        self._pending.append((NOW, bytes(message.bin())))

    def cancel_pending(self) -> None:
        """Playback stopped early: drop what has not played yet except note-offs (they play at once)."""
        self._cancel = True

    def pending(self) -> int:
        return len(self._pending)

    def is_alive(self) -> bool:
        if self.gone_reason is not None:
            return False
        if self.target is None:
            return True
        now = time.monotonic()
        if now - self._checked_at >= self.check_every:
            self._checked_at = now
            try:
                self._client.get_port_by_name(self.target)
            except Exception:
                return False
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Wait (up to lookahead + ``timeout``; not if the server is gone) until the callback has written
        everything, then close."""
        if self._closed:
            return
        deadline = time.monotonic() + self.lookahead + timeout
        while self._pending and self.gone_reason is None and time.monotonic() < deadline:
            time.sleep(0.001)
        # the last events are in this cycle's buffer: let the cycle (and one more) finish before deactivating
        cycles = self.cycles
        while self.cycles < cycles + 2 and self.gone_reason is None and time.monotonic() < deadline:
            time.sleep(0.001)
        self._close_client()

    def _close_client(self) -> None:
        self._closed = True
        with quiet_native_stderr():
            try:
                if self.gone_reason is None:
                    self._client.deactivate()
                self._client.close()
            except Exception:
                pass

    def report(self) -> dict[str, int]:
        """What the callback counted: events written, written late (and the latest, in frames), refused; xruns."""
        return {"written": self.counts[WRITTEN], "late": self.counts[LATE], "late_frames_max": self.counts[LATE_MAX],
                "failed": self.counts[FAILED], "xruns": self.xruns, "period": self.period, "rate": self.rate}


class JackClock:
    """The player's clock on a JACK port: seconds of JACK frames since the port opened (``frame / rate``).

    Deadlines are then JACK times and :meth:`frame_at` is exact: a start on a whole
    frame plus n 16ths of a whole number of frames lands on whole frames.
    """

    def __init__(self, port: JackMidiOutput, sleep: Callable[[float], None] = time.sleep):
        self.port = port
        self.rate = port.rate
        self.sleep = sleep

    def now(self) -> float:
        return self.port.now_frames() / self.rate

    def frame_at(self, seconds: float) -> int:
        return round(seconds * self.rate)

    def start_at(self, lead_in: float) -> float:
        """A start time ``lead_in`` from now (at least the port's lookahead and a period), on a whole frame."""
        lead_in = max(lead_in, self.port.lookahead + self.port.period / self.rate)
        return round((self.now() + lead_in) * self.rate) / self.rate


class FollowedClock:
    """Frames for a clock that follows a master (``--sync PORT`` with the JACK backend): extrapolated from now.

    The followed clock's time runs at the master's tempo (``speed`` seconds of
    wall time per unit), so an event ``d`` units ahead is ``d * speed * rate`` frames ahead.
    """

    def __init__(self, clock, port: JackMidiOutput, speed: Callable[[], float]):
        self.clock, self.port, self.speed = clock, port, speed
        self.now, self.sleep = clock.now, clock.sleep

    def frame_at(self, seconds: float) -> int:
        ahead = (seconds - self.clock.now()) * self.speed()
        return self.port.now_frames() + max(0, round(ahead * self.port.rate))


class TransportClock:
    """Follow JACK transport (``--sync jack``): start when it rolls, its tempo, stop when it stops.

    Time is the transport's musical position in "seconds at ``--bpm``" (like
    :class:`~edgegen.runtime.live.clock_sync.ExternalClock`), so the player needs
    no changes. With a timebase master (a DAW) the position and tempo come from its
    bar/beat/tick and BPM; without one, from the transport frame at ``--bpm``. The
    callback snapshots the transport every cycle; :meth:`frame_at` extrapolates
    from the latest snapshot at the master's tempo.
    """

    def __init__(self, port: JackMidiOutput, bpm: float, max_sleep: float = 0.002,
                 sleep: Callable[[float], None] = time.sleep):
        self.port = port
        self.nominal_bpm = bpm
        self.master_bpm = bpm
        self.max_sleep = max_sleep
        self._sleep = sleep
        self.started = False
        self._anchor: tuple[int, float, float] | None = None  # (transport frame, beats, BPM) of the BBT read

    def _position(self) -> tuple[int, float, float] | None:
        """(JACK frame, beats since the transport's zero, BPM) at the last cycle start; None if not rolling."""
        snapshot = self.port.transport
        if snapshot is None:
            return None
        cycle_frame, state, frame, bbt, bar, beat, tick, ticks_per_beat, bpm, beats_per_bar = snapshot
        if state != 1:  # JackTransportRolling
            if self.started and state == 0:  # JackTransportStopped
                raise Stopped("the JACK transport stopping")
            return None
        self.started = True
        if bbt and bpm > 0 and ticks_per_beat > 0:
            beats = self._bbt_beats(frame, (bar - 1) * beats_per_bar + (beat - 1) + tick / ticks_per_beat,
                                    bpm, ticks_per_beat)
        else:
            bpm = self.nominal_bpm
            beats = frame / self.port.rate * bpm / 60.0
        self.master_bpm = bpm
        return cycle_frame, beats, bpm

    def _bbt_beats(self, frame: int, beats: float, bpm: float, ticks_per_beat: float) -> float:
        """The master's position in beats, to the frame.

        BBT counts whole ticks (1920 per beat is 12.5 frames at 120 BPM and 48 kHz), so
        reading it every cycle puts notes up to a tick off the grid. The position is read
        once (an anchor) and then follows the transport frame at the master's tempo; a new
        anchor is taken when the tempo changes or the master relocates (the BBT and the
        frame disagree by more than a tick).
        """
        anchor = self._anchor
        if anchor is not None and anchor[2] == bpm:
            followed = anchor[1] + (frame - anchor[0]) / self.port.rate * bpm / 60.0
            if abs(followed - beats) <= 1.5 / ticks_per_beat:
                return followed
        self._anchor = (frame, beats, bpm)
        return beats

    def now(self) -> float:
        position = self._position()
        if position is None:
            return -1.0  # not rolling yet: the player sleeps in max_sleep steps
        cycle_frame, beats, bpm = position
        elapsed = (self.port.now_frames() - cycle_frame) / self.port.rate
        return (beats + elapsed * bpm / 60.0) * 60.0 / self.nominal_bpm

    def frame_at(self, seconds: float) -> int:
        position = self._position()
        if position is None:
            return self.port.now_frames()
        cycle_frame, beats, bpm = position
        beats_ahead = seconds * self.nominal_bpm / 60.0 - beats
        return cycle_frame + round(beats_ahead * 60.0 / bpm * self.port.rate)

    def next_downbeat(self, bar: float) -> float:
        """The transport's start if it is not rolling yet, else the next bar line."""
        now = self.now()
        if now < 0:
            return 0.0
        return (int(now // bar) + 1) * bar

    def bpm(self) -> float:
        return self.master_bpm

    def sleep(self, seconds: float) -> None:
        self._sleep(min(seconds * self.nominal_bpm / self.master_bpm, self.max_sleep))


def mido_backend_is_jack() -> bool:
    """Whether MIDO_BACKEND selects JACK (``mido.backends.rtmidi/UNIX_JACK``)."""
    return os.environ.get("MIDO_BACKEND", "").upper().endswith("UNIX_JACK")
