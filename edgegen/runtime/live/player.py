"""The live player: bars of notes -> MIDI messages sent on time (DESIGN section 8).

RtMidi sends at once and has no timed queue, so all timing is ours. Every event
has an absolute deadline, ``start + position * step`` from one injectable clock
(``time.perf_counter`` by default); the player sleeps until ``spin_window`` before
it and busy-waits the rest, so sleep overshoot never accumulates into drift. Bars
come from a :class:`~edgegen.runtime.live.bar_source.BarSource`, which generates them
on another thread one bar or more ahead, so inference never holds up the clock.
An event whose deadline has passed is sent at once and counted as late, never
dropped.

A *timed* port (one with ``schedule``, the native JACK backend) writes each event
at its own frame itself; the player then hands events over ``port.lookahead``
seconds before their deadlines, with the frame ``clock.frame_at(deadline)``, and
lateness means "later than that lookahead".

Every exit (the last bar, Ctrl-C, SIGTERM, SIGHUP, an exception, a vanished port) goes
through :meth:`Player._silence`: note-offs for sounding notes, MIDI clock stop,
all-notes-off (CC 123) and all-sound-off (CC 120) on the channel, port closed.
"""
from __future__ import annotations

import contextlib
import gc
import heapq
import queue
import sys
from dataclasses import dataclass, field
from typing import Protocol

import mido
import numpy as np

from edgegen.runtime.drum_spec import DRUM_CHANNEL, STEPS, STEPS_PER_BEAT
from edgegen.runtime.live.ports import OutputPort, PortGoneError
from edgegen.runtime.live.realtime import (CLOCKS_PER_BEAT, Clock, Stopped, SystemClock, realtime_priority,
                                           signals_blocked)

CLOCKS_PER_STEP = CLOCKS_PER_BEAT // STEPS_PER_BEAT  # 6 ticks per 16th
ALL_SOUND_OFF = 120
ALL_NOTES_OFF = 123

# Order of events that share a deadline: end a note before restarting it, mark the bar,
# clock start before the first tick, the tick before the notes it times.
ORDER_NOTE_OFF, ORDER_BAR, ORDER_START, ORDER_TICK, ORDER_NOTE_ON, ORDER_END = range(6)


class BarFeed(Protocol):
    """Where bars come from: note lists of one bar each, ``None`` when there are no more."""

    def get(self, block: bool = True) -> list[tuple[float, int, int]] | None:
        """The next bar's notes (time_in_steps, pitch, velocity); raise queue.Empty if not ready and not block."""


@dataclass
class PlayerConfig:
    """How the player schedules; musical choices (style, swing, map) live in the bar source."""

    bpm: float = 120.0  # quarter notes per minute; a bar is 4 beats of 4 steps
    channel: int = DRUM_CHANNEL  # mido channel 0-15 (9 is "channel 10", General MIDI drums)
    clock: bool = False  # also send MIDI clock, 24 ticks per beat, with start and stop
    gate_steps: float = 0.5  # note length in 16th steps; drums ignore it, but every note-on gets its note-off
    spin_window: float = 0.002  # seconds: sleep until this close to a deadline, then busy-wait
    late_after: float = 0.001  # seconds: an event sent later than this after its deadline counts as late
    lead_in: float = 0.1  # seconds between start and the first deadline
    realtime: bool = False  # ask the OS for real-time (SCHED_FIFO) priority while playing, if allowed
    switch_interval: float = 0.0002  # seconds: Python's GIL switch interval while playing (default 0.005)
    housekeeping_gap: float = 0.005  # seconds: only check the port when the next deadline is this far away
    handover_interval: float = 0.1  # seconds: a timed port is handed events in batches, waking at most this often

    @property
    def step_seconds(self) -> float:
        return 60.0 / self.bpm / STEPS_PER_BEAT

    @property
    def bar_seconds(self) -> float:
        return self.step_seconds * STEPS


@dataclass
class PlaybackStats:
    """What happened: send time minus deadline of every event, late events, drift."""

    lateness: list[float] = field(default_factory=list)  # seconds, one per sent event, in sending order
    bar_of_event: list[int] = field(default_factory=list)  # the bar each of those events belongs to
    late: int = 0  # events sent more than late_after after their deadline
    notes: int = 0  # note-ons sent
    bars: int = 0  # bars whose events were all sent
    realtime: bool = False  # whether real-time priority was granted
    stopped_by: str = "end"  # "end", "SIGINT", "SIGTERM", "SIGHUP", "error"
    silenced: list[str] = field(default_factory=list)  # the messages sent by the final clean-up

    def record(self, lateness: float, bar: int, late_after: float) -> None:
        self.lateness.append(lateness)
        self.bar_of_event.append(bar)
        if lateness > late_after:
            self.late += 1

    def drift(self) -> float:
        """Mean lateness in the last played bar minus that in the first (seconds); 0 with < 2 bars."""
        if not self.lateness:
            return 0.0
        bars = np.asarray(self.bar_of_event)
        late = np.asarray(self.lateness)
        first, last = bars.min(), bars.max()
        if first == last:
            return 0.0
        return float(late[bars == last].mean() - late[bars == first].mean())

    def summary(self) -> dict[str, float | int | str | bool]:
        """Milliseconds for times; the fields bench.json and the CLI print."""
        late = np.asarray(self.lateness) if self.lateness else np.zeros(1)
        return {
            "events": len(self.lateness),
            "notes": self.notes,
            "bars": self.bars,
            "late_events": self.late,
            "send_minus_deadline_ms_p50": round(float(np.percentile(late, 50)) * 1e3, 4),
            "send_minus_deadline_ms_p99": round(float(np.percentile(late, 99)) * 1e3, 4),
            "send_minus_deadline_ms_max": round(float(late.max()) * 1e3, 4),
            "drift_ms": round(self.drift() * 1e3, 4),
            "realtime_priority": self.realtime,
            "stopped_by": self.stopped_by,
        }


@dataclass(order=True)
class _Event:
    deadline: float
    order: int
    seq: int
    message: mido.Message | None = field(compare=False)  # None: a marker (bar start, end) that sends nothing
    bar: int = field(compare=False)
    token: int = field(compare=False, default=0)  # links a note-off to the note-on it ends


class Player:
    """Plays a :class:`BarFeed` on an :class:`OutputPort` until the feed ends or playback is stopped."""

    def __init__(self, port: OutputPort, feed: BarFeed, config: PlayerConfig | None = None,
                 clock: Clock | None = None):
        self.port = port
        self.feed = feed
        self.config = config or PlayerConfig()
        self.clock = clock or SystemClock()
        self.stats = PlaybackStats()
        self._events: list[_Event] = []
        self._seq = 0
        self._sounding: dict[int, int] = {}  # pitch -> token of the note-on still sounding
        self._clock_running = False
        self._start = 0.0
        self._bars_loaded = 0
        self._feed_done = False
        self._collect_due = False  # a bar has started since the last garbage collection
        self._timed = callable(getattr(port, "schedule", None))  # the port writes events at their frames itself
        self._lead = float(getattr(port, "lookahead", 0.0)) if self._timed else 0.0  # seconds ahead of deadlines
        self._woke = float("-inf")  # when the player last woke to hand a timed port its events
        self._handover = min(self.config.handover_interval, self._lead / 2)  # never as long as the lookahead

    # ------------------------------------------------------------------ timeline

    def bar_start(self, bar: int) -> float:
        """Absolute deadline of the first step of ``bar`` (0-based)."""
        return self._start + bar * self.config.bar_seconds

    def _push(self, deadline: float, order: int, message: mido.Message | None, bar: int, token: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._events, _Event(deadline, order, self._seq, message, bar, token))

    def _load_bar(self, notes: list[tuple[float, int, int]]) -> None:
        """Turn one bar of (time_in_steps, pitch, velocity) into note-on/off events and clock ticks."""
        bar, cfg = self._bars_loaded, self.config
        step = cfg.step_seconds
        start = self.bar_start(bar)
        self._push(start, ORDER_BAR, None, bar)
        if cfg.clock:
            tick_message = mido.Message("clock")  # one shared object: 96 per bar, never modified
            for tick in range(STEPS * CLOCKS_PER_STEP):
                self._push(start + tick * step / CLOCKS_PER_STEP, ORDER_TICK, tick_message, bar)
        for time_in_steps, pitch, velocity in notes:
            on = start + time_in_steps * step
            self._seq += 1
            token = self._seq
            self._push(on, ORDER_NOTE_ON, mido.Message("note_on", channel=cfg.channel, note=pitch, velocity=velocity),
                       bar, token)
            self._push(on + cfg.gate_steps * step, ORDER_NOTE_OFF,
                       mido.Message("note_off", channel=cfg.channel, note=pitch, velocity=0), bar, token)
        self._bars_loaded += 1

    def _end_timeline(self) -> None:
        """The feed is done: the music ends at the end of the last bar (clock stop goes there)."""
        self._feed_done = True
        stop = mido.Message("stop") if self.config.clock else None
        self._push(self.bar_start(self._bars_loaded), ORDER_END, stop, self._bars_loaded)

    def _fill(self) -> None:
        """Keep one whole bar queued beyond the bar now playing.

        Bar k is wanted once bar k-1 starts; it is needed only when the next event
        is at bar k's start. Until then it is loaded only in a quiet moment (turning
        a bar into events takes a fraction of a millisecond, which must not delay a
        downbeat), and a bar that is not ready yet is polled for without blocking,
        so the current bar keeps playing on time.
        """
        while not self._feed_done:
            want = self._bars_loaded
            needed = True
            if self._events:
                next_deadline = self._events[0].deadline
                if next_deadline < self.bar_start(want - 1):
                    return  # still playing bar want-2; bar want can wait
                needed = next_deadline >= self.bar_start(want) - self.config.spin_window
                if not needed and next_deadline - self._lead - self.clock.now() < self.config.housekeeping_gap:
                    return  # an event is due soon: load after it
            try:
                notes = self.feed.get(block=needed)
            except queue.Empty:
                return
            if notes is None:
                self._end_timeline()
            else:
                self._load_bar(notes)

    # ------------------------------------------------------------------ sending

    def _wait_until(self, deadline: float) -> None:
        """Sleep to ``spin_window`` before ``deadline``, then spin; return at once if it has passed."""
        clock = self.clock
        window = 0.0 if self._timed else self.config.spin_window  # a timed port needs no spinning: it is ahead
        while True:
            remaining = deadline - clock.now()
            if remaining <= 0.0:
                return
            if remaining > window:
                clock.sleep(remaining - window)

    def _wait_for(self, event: _Event) -> None:
        """Wait until ``event`` is due to be sent (untimed port) or handed over (timed port).

        A timed port gets its events in batches: each wake hands over everything due
        within the lookahead, and the player sleeps at least ``handover_interval``
        between wakes. Every time this thread takes the GIL, JACK's callback may have
        to wait for it (longer if the OS parks this thread meanwhile), so fewer, longer
        visits are better than one per event.
        """
        target = event.deadline - self._lead
        if self._timed and target > self.clock.now():
            self._wait_until(max(target, self._woke + self._handover))
            self._woke = self.clock.now()
        else:
            self._wait_until(target)

    def _out(self, message: mido.Message, deadline: float) -> None:
        """Send now, or (a timed port) queue for the frame of ``deadline``."""
        if self._timed:
            self.port.schedule(message, self.clock.frame_at(deadline))
        else:
            self.port.send(message)

    def _send(self, event: _Event) -> None:
        message = event.message
        if message is None:
            return
        if message.type == "note_on":
            if message.note in self._sounding:  # a swung or humanised hit caught up with the last one
                self._out(mido.Message("note_off", channel=message.channel, note=message.note, velocity=0),
                          event.deadline)
            self._sounding[message.note] = event.token
        elif message.type == "note_off":
            if self._sounding.get(message.note) != event.token:
                return  # that note was already ended by a re-trigger
            del self._sounding[message.note]
        lateness = self.clock.now() - (event.deadline - self._lead + self._handover)  # 0 lead and handover: untimed
        self._out(message, event.deadline)
        if message.type == "note_on":
            self.stats.notes += 1
        elif message.type == "start":
            self._clock_running = True
        elif message.type == "stop":
            self._clock_running = False
        self.stats.record(lateness, event.bar, self.config.late_after)

    def _housekeeping(self) -> None:
        """Work that may take a moment, done only when the next deadline is not close."""
        if self._events and self._events[0].deadline - self._lead - self.clock.now() < self.config.housekeeping_gap:
            return
        if not self.port.is_alive():
            raise PortGoneError(f"MIDI port {self.port.name!r} disappeared")
        # once a bar, between events, instead of whenever an allocation triggers it; with a timed port not at all
        # while playing (the collection holds the GIL JACK's callback needs; reference counting frees the rest)
        if self._collect_due and not self._timed:
            self._collect_due = False
            gc.collect()  # sub-millisecond: objects from before playback are frozen (see run)

    # ------------------------------------------------------------------ run

    def run(self, start: float | None = None) -> PlaybackStats:
        """Play until the feed ends, a signal arrives (:class:`Stopped`) or something fails; always silence.

        ``start`` is the clock time of the first downbeat (default: now + ``lead_in``).
        """
        cfg = self.config
        previous_switch = sys.getswitchinterval()
        gc_was_enabled = gc.isenabled()
        gc.disable()  # an automatic collection can come at any moment; _housekeeping collects at quiet ones
        gc.collect()
        gc.freeze()  # a full collection scanned ~9 ms of long-lived objects (numpy, onnxruntime); now ~0.4 ms
        try:
            with realtime_priority(cfg.realtime) as granted:
                self.stats.realtime = granted
                sys.setswitchinterval(cfg.switch_interval)
                self._start = self.clock.now() + cfg.lead_in if start is None else start
                if cfg.clock:
                    self._push(self._start, ORDER_START, mido.Message("start"), 0)
                self._play()
        except Stopped as stop:
            self.stats.stopped_by = stop.reason
            raise
        except KeyboardInterrupt:
            self.stats.stopped_by = "SIGINT"
            raise
        except BaseException:
            self.stats.stopped_by = "error"
            raise
        finally:
            sys.setswitchinterval(previous_switch)
            gc.unfreeze()
            if gc_was_enabled:
                gc.enable()
            self._silence()
        return self.stats

    def _play(self) -> None:
        self._fill()
        while self._events:
            event = heapq.heappop(self._events)
            self._wait_for(event)
            self._send(event)
            if event.order in (ORDER_BAR, ORDER_END):
                self.stats.bars = event.bar  # the bars before this one are complete
                self._collect_due = True
            self._fill()
            self._housekeeping()

    def _silence(self) -> None:
        """End every sounding note, stop the clock, CC 123 + CC 120, close the port; never raises.

        A timed port still holds events queued ahead: at the end of the bars they play
        out first (the messages below queue behind them); on any other exit what has
        not played is dropped except its note-offs (``cancel_pending``).
        """
        channel = self.config.channel
        if self._timed and self.stats.stopped_by != "end":
            with contextlib.suppress(Exception):
                self.port.cancel_pending()
        messages = [mido.Message("note_off", channel=channel, note=note, velocity=0) for note in sorted(self._sounding)]
        if self._clock_running:
            messages.append(mido.Message("stop"))
        messages += [
            mido.Message("control_change", channel=channel, control=ALL_NOTES_OFF, value=0),
            mido.Message("control_change", channel=channel, control=ALL_SOUND_OFF, value=0),
        ]
        with signals_blocked():  # a timed port's close waits for its callback to play the queue out: held too
            self._send_all(messages)
            self._sounding.clear()
            self._clock_running = False
            with contextlib.suppress(Exception):
                self.port.close()

    def _send_all(self, messages: list[mido.Message]) -> None:
        for message in messages:
            try:
                self.port.send(message)
                self.stats.silenced.append(str(message))
            except Exception:  # a vanished port: keep going, closing still matters
                pass
