"""`play --sync`: following a master's MIDI clock, with a simulated master and the fake clock."""
from __future__ import annotations

import numpy as np
import pytest

from edgegen.runtime.live.clock_sync import CLOCK, START, STOP, ExternalClock
from edgegen.runtime.live.ports import RecordingPort
from edgegen.runtime.live.player import Player, PlayerConfig
from edgegen.runtime.live.realtime import Stopped
from player_fakes import FakeClock, ListFeed

HAT = 42


class FakeMaster:
    """A master's Start, clock ticks at ``bpm`` and optional Stop, revealed as the fake time passes."""

    def __init__(self, clock: FakeClock, bpm: float, start_at: float, ticks: int, stop_after: int | None = None):
        self.clock, self.tick = clock, 60.0 / bpm / 24
        first = start_at + 0.001
        self.events = [(START, start_at)] + [(CLOCK, first + n * self.tick) for n in range(ticks)]
        if stop_after is not None:
            self.events.insert(stop_after + 2, (STOP, first + (stop_after + 0.5) * self.tick))
        self.tick_times = [t for status, t in self.events if status == CLOCK]
        self.closed = False

    def poll(self):
        now = self.clock.t
        ready = [event for event in self.events if event[1] <= now]
        self.events = self.events[len(ready):]
        return ready

    def close(self):
        self.closed = True


def hats_every_step():
    return [(float(step), HAT, 100) for step in range(16)]


def play_synced(master_bpm: float, nominal_bpm: float, bars: int = 2, stop_after: int | None = None,
                start_at: float = 1000.5):
    clock = FakeClock()
    master = FakeMaster(clock, master_bpm, start_at=start_at, ticks=24 * 4 * (bars + 1), stop_after=stop_after)
    external = ExternalClock(master, bpm=nominal_bpm, wall=clock.now, sleep=clock.sleep)
    port = RecordingPort(now=clock.now)
    config = PlayerConfig(bpm=nominal_bpm)
    player = Player(port, ListFeed([hats_every_step()] * bars, clock), config, clock=external)
    return player, port, master, external, config


def test_notes_land_on_the_masters_ticks_at_the_masters_tempo():
    player, port, master, external, config = play_synced(master_bpm=93.0, nominal_bpm=120.0)
    player.run(start=external.next_downbeat(config.bar_seconds))
    times = np.array([t for t, m in port.sent if m.type == "note_on"])
    ticks = np.array(master.tick_times)[::6][:32]  # a 16th is 6 ticks
    assert len(times) == 32
    assert np.all(times >= ticks) and np.max(times - ticks) < 1e-4, "each note goes out as its tick arrives"
    assert external.bpm() == pytest.approx(93.0, rel=1e-3)


def test_the_masters_stop_ends_playback_cleanly():
    player, port, master, external, config = play_synced(master_bpm=120.0, nominal_bpm=120.0, bars=4,
                                                         stop_after=100)
    with pytest.raises(Stopped, match="Stop"):
        player.run(start=external.next_downbeat(config.bar_seconds))
    notes = [m for _, m in port.sent if m.type == "note_on"]
    assert 0 < len(notes) < 64 and len(notes) == 100 // 6 + 1  # the notes on ticks 0, 6, ..., 96
    assert [m.control for _, m in port.sent[-2:]] == [123, 120] and port.closed


def test_joining_a_running_master_starts_at_its_next_bar_line():
    clock = FakeClock()
    master = FakeMaster(clock, 120.0, start_at=999.0, ticks=400)
    external = ExternalClock(master, bpm=120.0, wall=clock.now, sleep=clock.sleep)
    clock.t = 1000.3  # 1.3 s after the master's Start: bar 0 (2 s long at 120 BPM) is under way
    assert external.now() > 0
    assert external.next_downbeat(PlayerConfig(bpm=120.0).bar_seconds) == pytest.approx(2.0)


def test_before_the_masters_start_time_stands_still():
    clock = FakeClock()
    master = FakeMaster(clock, 120.0, start_at=2000.0, ticks=10)
    external = ExternalClock(master, bpm=120.0, wall=clock.now, sleep=clock.sleep)
    first = external.now()
    clock.t += 10
    assert external.now() == first < 0
