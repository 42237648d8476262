"""The JACK backend's frame arithmetic and queue, without a JACK server: musical time -> frames -> cycle offsets."""
from __future__ import annotations

import collections

import mido
import numpy as np
import pytest

from edgegen.runtime.live import jack_backend
from edgegen.runtime.live.jack_backend import LATE, LATE_MAX, NOW, FrameUnwrapper, write_cycle
from edgegen.runtime.live.player import Player, PlayerConfig
from edgegen.runtime.live.realtime import Stopped
from player_fakes import FakeClock, ListFeed

RATE = 48000


class FakeTimedPort:
    """A timed port like JackMidiOutput, whose "callback" is :meth:`cycle`, run by the test."""

    def __init__(self, lookahead: float = 0.03):
        self.name = "fake-jack"
        self.lookahead = lookahead
        self.pending: collections.deque = collections.deque()
        self.scheduled: list[tuple[int, mido.Message]] = []
        self.cancelled = False
        self.closed = False
        self.counts = [0, 0, 0, 0]

    def schedule(self, message: mido.Message, frame: int) -> None:
        assert not self.scheduled or frame >= self.scheduled[-1][0], "frames never decrease"
        self.scheduled.append((frame, message))
        self.pending.append((frame, bytes(message.bin())))

    def send(self, message: mido.Message) -> None:
        self.pending.append((NOW, bytes(message.bin())))

    def cancel_pending(self) -> None:
        self.cancelled = True

    def is_alive(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True

    def drain(self, start: int, period: int = 64) -> list[tuple[int, bytes]]:
        """Run cycles from ``start`` until the queue is empty; (absolute frame, bytes) as written."""
        written = []
        cancel, self.cancelled = self.cancelled, False
        while self.pending:
            write_cycle(self.pending, start, start + period, lambda offset, data: written.append((start + offset, data)),
                        cancel, self.counts)
            cancel = False
            start += period
        return written


class FrameClock(FakeClock):
    """A fake clock that is a JACK clock: seconds are frames / RATE."""

    def frame_at(self, seconds: float) -> int:
        return round(seconds * RATE)


def test_every_note_lands_on_its_frame_16ths_of_a_whole_number_of_frames():
    clock = FrameClock()
    port = FakeTimedPort()
    bars = [[(float(step), 42, 100) for step in range(16)] + [(0.0, 36, 110), (8.0, 38, 90)]] * 3
    config = PlayerConfig(bpm=150)  # a 16th is 4800 frames at 48 kHz
    start = 1000.0  # a whole frame: 48,000,000
    Player(port, ListFeed(bars, clock), config, clock=clock).run(start=start)
    ons = [(frame, m.note) for frame, m in port.scheduled if m.type == "note_on"]
    hats = np.array([frame for frame, note in ons if note == 42])
    assert np.array_equal(hats, 48_000_000 + np.arange(48) * 4800)
    offs = [frame for frame, m in port.scheduled if m.type == "note_off" and m.note == 42]
    assert np.array_equal(offs, hats + 2400), "gate half a 16th"


def test_events_are_handed_over_a_lookahead_before_their_deadline():
    clock = FrameClock()
    port = FakeTimedPort(lookahead=0.05)
    handed = []
    original = port.schedule

    def record(message, frame):
        handed.append((clock.t, frame))
        original(message, frame)

    port.schedule = record
    Player(port, ListFeed([[(float(s), 42, 100) for s in range(16)]], clock), PlayerConfig(bpm=120),
           clock=clock).run(start=1000.2)
    ahead = np.array([frame / RATE - t for t, frame in handed])
    assert np.all(ahead > 0.045) and np.all(ahead <= 0.0501), "handed over ~50 ms ahead, never after"


def test_the_callback_writes_each_event_at_its_offset_in_its_cycle():
    pending = collections.deque([(1000, b"\x99\x24\x64"), (1000, b"\x99\x2a\x64"), (1063, b"\x89\x24\x00"),
                                 (1064, b"\x89\x2a\x00")])
    written, counts = [], [0, 0, 0, 0]
    write_cycle(pending, 960, 1024, lambda offset, data: written.append((offset, data)), False, counts)
    assert written == [(40, b"\x99\x24\x64"), (40, b"\x99\x2a\x64")]
    write_cycle(pending, 1024, 1088, lambda offset, data: written.append((offset, data)), False, counts)
    assert written[2:] == [(39, b"\x89\x24\x00"), (40, b"\x89\x2a\x00")]
    assert not pending and counts[LATE] == 0


def test_a_late_event_goes_at_the_first_free_offset_and_is_counted():
    pending = collections.deque([(900, b"\x99\x24\x64"), (1010, b"\x99\x26\x64"), (NOW, b"\xb9\x7b\x00")])
    written, counts = [], [0, 0, 0, 0]
    write_cycle(pending, 1000, 1064, lambda offset, data: written.append((offset, data)), False, counts)
    assert written == [(0, b"\x99\x24\x64"), (10, b"\x99\x26\x64"), (10, b"\xb9\x7b\x00")], "order kept"
    assert counts[LATE] == 1 and counts[LATE_MAX] == 100


def test_stopping_drops_what_has_not_played_but_plays_every_pending_note_off():
    pending = collections.deque([(2000, b"\x89\x24\x00"), (2100, b"\x99\x26\x64"), (2200, b"\x89\x26\x00"),
                                 (NOW, b"\xb9\x7b\x00"), (NOW, b"\xb9\x78\x00")])
    written = []
    write_cycle(pending, 1000, 1064, lambda offset, data: written.append((offset, data)), True, [0, 0, 0, 0])
    assert written == [(0, b"\x89\x24\x00"), (0, b"\x89\x26\x00"), (0, b"\xb9\x7b\x00"), (0, b"\xb9\x78\x00")]
    assert not pending


def test_frame_times_unwrap_past_32_bits():
    unwrap = FrameUnwrapper()
    assert [unwrap(x) for x in (2**32 - 100, 2**32 - 1, 5, 3000)] == [2**32 - 100, 2**32 - 1, 2**32 + 5, 2**32 + 3000]


@pytest.mark.parametrize("stop_at, expect_cancel", [(None, False), (12, True)])
def test_every_exit_leaves_no_note_hanging_in_the_queue(stop_at, expect_cancel):
    """End of bars: the queue plays out, then CC 123/120. A signal: what has not played is dropped, note-offs kept."""
    clock = FrameClock()
    port = FakeTimedPort(lookahead=0.2)  # a long lookahead: many events are queued when the stop comes
    bars = [[(float(s), 36 + s % 4, 100) for s in range(16)]] * 4
    if stop_at is not None:
        def stop(count):
            if count == stop_at:
                raise Stopped("SIGTERM")
        clock.on_sleep = stop
    player = Player(port, ListFeed(bars, clock), PlayerConfig(bpm=150, gate_steps=1.5), clock=clock)
    try:
        player.run(start=1000.0)
    except Stopped:
        pass
    written = port.drain(start=round(clock.t * RATE) - 64)
    messages = [mido.Message.from_bytes(data) for _, data in written]
    sounding = set()
    for message in messages:
        if message.type == "note_on":
            sounding.add(message.note)
        elif message.type == "note_off":
            sounding.discard(message.note)
    assert not sounding, f"hanging notes {sounding}"
    assert [m.control for m in messages[-2:]] == [123, 120]
    assert port.closed
    if expect_cancel:
        assert sum(m.type == "note_on" for m in messages) < 64
    frames = [frame for frame, _ in written]
    assert frames == sorted(frames)


def test_transport_position_and_tempo_give_frames():
    class Port:
        rate = RATE
        transport = (48_000, 1, 96_000, True, 3, 2, 960, 1920.0, 90.0, 4.0)  # bar 3, beat 2 and a half, 90 BPM

        def now_frames(self):
            return 48_000 + 480

    follow = jack_backend.TransportClock(Port(), bpm=120.0)
    beats = 2 * 4 + 1 + 0.5  # 9.5 beats since the transport's zero
    assert follow.now() == pytest.approx((beats + 0.01 * 1.5) * 0.5)  # 10 ms later at 90 BPM, in 120 BPM seconds
    assert follow.bpm() == 90.0
    # the next bar line (beat 12) is 2.5 beats of 90 BPM (1.6667 s, 80,000 frames) after the snapshot
    assert follow.frame_at(12 * 0.5) == 48_000 + 80_000
    Port.transport = (60_000, 0, 96_000, True, 3, 2, 960, 1920.0, 90.0, 4.0)
    with pytest.raises(Stopped, match="transport"):
        follow.now()


def test_a_timed_port_is_handed_its_events_in_batches_still_well_ahead():
    """Fewer visits by the player thread (each takes the GIL JACK's callback needs): one per 100 ms, not per event."""
    clock = FrameClock()
    port = FakeTimedPort(lookahead=0.25)
    handed = []
    original = port.schedule

    def record(message, frame):
        handed.append((clock.t, frame))
        original(message, frame)

    port.schedule = record
    bars = [[(float(s), 42, 100) for s in range(16)]] * 4  # a 16th every 50 ms at 300 BPM: 128 events in 3.2 s
    Player(port, ListFeed(bars, clock), PlayerConfig(bpm=300), clock=clock).run(start=1000.5)
    ahead = np.array([frame / RATE - t for t, frame in handed])
    assert np.all(ahead >= 0.15 - 1e-3) and np.all(ahead <= 0.25 + 1e-4), "between lookahead - interval and lookahead"
    wakes = len(clock.sleeps)
    assert wakes <= 3.2 / 0.1 + 2, f"{wakes} wakes for 128 events"
