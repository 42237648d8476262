"""The live player's timing and clean exits, with a recording port and a fake clock (no MIDI, no model)."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from edgegen.runtime.portable_random import rng
from edgegen.runtime import midi_io
from edgegen.runtime.live import bar_source
from edgegen.runtime.drum_controls import Groove
from edgegen.runtime.live.bar_source import BarSource
from edgegen.runtime.drum_spec import GM_WRITE_PITCHES, INSTRUMENTS
from edgegen.runtime.live.ports import PortGoneError, RecordingPort
from edgegen.runtime.live.player import Player, PlayerConfig
from edgegen.runtime.live.realtime import Stopped, signals_blocked, stop_on_signals
from player_fakes import FakeClock, FakeDrumModel, ListFeed

KICK, SNARE, HAT = GM_WRITE_PITCHES["kick"], GM_WRITE_PITCHES["snare"], GM_WRITE_PITCHES["closed_hat"]


def every_step(pitch: int = HAT) -> list[tuple[float, int, int]]:
    return [(float(step), pitch, 100) for step in range(16)]


def play(bars, config=None, clock=None, port=None, feed=None):
    clock = clock or FakeClock()
    port = port or RecordingPort(now=clock.now)
    player = Player(port, feed or ListFeed(bars, clock), config or PlayerConfig(), clock=clock)
    return player, port, player.run()


def note_on_times(port: RecordingPort, pitch: int | None = None) -> np.ndarray:
    return np.array([t for t, m in port.sent if m.type == "note_on" and (pitch is None or m.note == pitch)])


def assert_silenced(port: RecordingPort, channel: int = 9) -> None:
    """Every note-on was ended, then CC 123 and CC 120 on the channel, then the port was closed."""
    sounding = set()
    for _, message in port.sent:
        if message.type == "note_on":
            assert message.note not in sounding, f"note {message.note} restarted while sounding"
            sounding.add(message.note)
        elif message.type == "note_off":
            sounding.discard(message.note)
    assert not sounding, f"stuck notes {sounding}"
    ccs = [(m.control, m.channel) for m in port.messages("control_change")]
    assert ccs[-2:] == [(123, channel), (120, channel)]
    assert port.sent[-1][1].type == "control_change"
    assert port.closed


# --------------------------------------------------------------------------- deadlines


def test_notes_meet_absolute_deadlines_although_every_sleep_overshoots():
    config = PlayerConfig(bpm=120)
    clock = FakeClock(oversleep=0.0015)  # each sleep wakes 1.5 ms late, inside the 2 ms spin window
    player, port, stats = play([every_step()] * 4, config, clock)
    times = note_on_times(port)
    deadlines = player.bar_start(0) + np.arange(64) * config.step_seconds
    assert len(times) == 64
    assert np.all(times >= deadlines), "never early"
    assert np.max(times - deadlines) < 1e-4
    assert stats.late == 0 and abs(stats.drift()) < 1e-4


def test_lateness_does_not_accumulate_when_sleeps_overshoot_the_spin_window():
    config = PlayerConfig(bpm=180)
    clock = FakeClock(oversleep=0.004)  # worse than the spin window: every event ends up late...
    player, port, stats = play([every_step()] * 8, config, clock)
    late = note_on_times(port) - (player.bar_start(0) + np.arange(128) * config.step_seconds)
    assert np.all(late > config.late_after) and stats.late == len(stats.lateness)
    # ...but by the same amount in bar 8 as in bar 1: deadlines are absolute, sleeps never add up
    assert np.allclose(late, 0.004 - config.spin_window, atol=1e-4) and abs(stats.drift()) < 1e-4


def test_a_late_bar_is_sent_at_once_in_order_and_counted():
    clock = FakeClock()
    bars = [[(0.0, KICK, 100), (8.0, SNARE, 100)] for _ in range(4)]
    feed = ListFeed(bars, clock, delay={2: 0.9})  # inference of bar 3 takes 0.9 s (just under a 2 s bar... late)
    config = PlayerConfig(bpm=240)  # 1 s bars: bar 3 arrives 0.9 s into bar 2 and its first note is late
    player, port, stats = play(bars, config, clock, feed=feed)
    assert [m.note for m in port.messages("note_on")] == [KICK, SNARE] * 4, "nothing skipped, order kept"
    assert stats.late >= 1 and stats.notes == 8
    assert max(stats.lateness) > config.late_after
    times = note_on_times(port)
    assert np.all(np.diff(times) > 0)


def test_taking_the_next_bar_waits_for_a_quiet_moment_and_never_delays_a_downbeat():
    clock = FakeClock()
    bars = [[(0.0, KICK, 100), (8.0, SNARE, 100)]] * 6
    # handing over a bar costs the player thread 2 ms, and each bar is not ready the first time it is asked for
    feed = ListFeed(bars, clock, cost=0.002, late_polls=True)
    player, port, stats = play(bars, PlayerConfig(bpm=120, clock=True), clock, feed=feed)
    assert stats.late == 0 and max(stats.lateness) < 1e-4
    assert stats.notes == 12


# --------------------------------------------------------------------------- musical options


def events(grids, **options):
    rng = np.random.default_rng(3)
    return [midi_io.bar_events(g, rng=rng, **options) for g in grids]


def hat_grid() -> np.ndarray:
    grid = np.zeros((16, 9), bool)
    grid[:, INSTRUMENTS.index("closed_hat")] = True
    return grid


def test_swing_delays_every_offbeat_sixteenth():
    config = PlayerConfig(bpm=100)
    player, port, _ = play(events([hat_grid()] * 2, swing=0.5), config)
    gaps = np.diff(note_on_times(port, HAT)) / config.step_seconds
    assert np.allclose(gaps[0::2], 1.25, atol=1e-3) and np.allclose(gaps[1::2], 0.75, atol=1e-3)


def test_humanize_moves_notes_within_a_quarter_step_and_keeps_velocities_valid():
    config = PlayerConfig(bpm=90)
    player, port, _ = play(events([hat_grid()] * 8, humanize=1.0), config)
    offset = (note_on_times(port, HAT) - player.bar_start(0)) / config.step_seconds - np.arange(128)
    assert np.all(np.abs(offset) <= 0.25 + 1e-3)
    assert np.std(offset) > 0.01, "humanize changed something"
    velocities = [m.velocity for m in port.messages("note_on")]
    assert min(velocities) >= 1 and max(velocities) <= 127 and len(set(velocities)) > 3


def test_channel_and_note_map_reach_every_message():
    grid = np.zeros((16, 9), bool)
    grid[0, 0] = grid[4, 1] = True
    bars = events([grid], note_map={"kick": 60})
    player, port, _ = play(bars, PlayerConfig(channel=2))
    assert [m.note for m in port.messages("note_on")] == [60, SNARE]
    assert {m.channel for _, m in port.sent if hasattr(m, "channel")} == {2}
    assert_silenced(port, channel=2)


def test_midi_clock_sends_24_per_beat_between_start_and_stop():
    config = PlayerConfig(bpm=150, clock=True)
    player, port, _ = play([[(0.0, KICK, 100)]] * 2, config)
    types = [m.type for _, m in port.sent]
    assert types[0] == "start" and types.count("clock") == 2 * 96 and types.count("stop") == 1
    assert types.index("stop") > max(i for i, t in enumerate(types) if t == "clock")
    ticks = np.array([t for t, m in port.sent if m.type == "clock"])
    assert np.allclose(np.diff(ticks), config.step_seconds / 6, atol=1e-4)
    stop = next(t for t, m in port.sent if m.type == "stop")
    assert stop == pytest.approx(player.bar_start(2), abs=1e-4), "stop at the end of the last bar"
    kick_times = note_on_times(port, KICK)
    assert np.allclose(kick_times, ticks[[0, 96]], atol=1e-4), "notes land on their clock tick"


def test_every_note_on_gets_its_note_off_even_when_swing_makes_hits_overlap():
    grid = np.zeros((16, 9), bool)
    grid[:, 0] = True  # a kick on every 16th, swung and humanised: a hit can start before the last one ends
    player, port, stats = play(events([grid] * 4, swing=0.75, humanize=1.0), PlayerConfig(gate_steps=1.5))
    assert stats.notes == 64
    assert_silenced(port)


# --------------------------------------------------------------------------- clean exit on every path


class VanishingPort(RecordingPort):
    """Still records, but reports itself gone after ``gone_after`` messages (like a closed DAW)."""

    def __init__(self, now, gone_after: int):
        super().__init__(now=now)
        self.gone_after = gone_after

    def is_alive(self) -> bool:
        return len(self.sent) < self.gone_after


def signal_after(signum: int, sleeps: int):
    def on_sleep(count: int) -> None:
        if count == sleeps:
            os.kill(os.getpid(), signum)
    return on_sleep


@pytest.fixture
def sighup_fails_the_test():
    """Without a handler SIGHUP would end the test process itself; if playback does not catch it, fail instead."""
    def uncaught(signum, frame):
        raise AssertionError("SIGHUP was not caught by playback")

    previous = signal.signal(signal.SIGHUP, uncaught)
    yield
    signal.signal(signal.SIGHUP, previous)


@pytest.mark.parametrize("path", ["end", "SIGINT", "SIGTERM", "SIGHUP", "exception", "port_vanishes",
                                  "keyboard_interrupt"])
def test_every_exit_path_ends_notes_and_sends_cc123_cc120(path, sighup_fails_the_test):
    clock = FakeClock()
    bars = [[(float(s), KICK + s % 3, 100) for s in range(0, 16, 2)]] * 6
    feed = ListFeed(bars, clock, fail_at=3 if path == "exception" else None)
    port = RecordingPort(now=clock.now)
    if path in ("SIGINT", "SIGTERM", "SIGHUP"):
        clock.on_sleep = signal_after(getattr(signal, path), 20)
    if path == "port_vanishes":
        port = VanishingPort(clock.now, gone_after=40)
    if path == "keyboard_interrupt":
        def interrupt(count):
            if count == 25:
                raise KeyboardInterrupt
        clock.on_sleep = interrupt
    # a long gate keeps notes sounding at the moment playback is cut
    player = Player(port, feed, PlayerConfig(clock=True, gate_steps=1.5), clock=clock)
    expected = {"end": None, "SIGINT": Stopped, "SIGTERM": Stopped, "SIGHUP": Stopped, "exception": RuntimeError,
                "port_vanishes": PortGoneError, "keyboard_interrupt": KeyboardInterrupt}[path]
    with stop_on_signals():
        if expected is None:
            player.run()
        else:
            with pytest.raises(expected):
                player.run()
    assert_silenced(port)
    assert "stop" in [m.type for m in port.messages()], "clock stopped"
    assert player.stats.stopped_by == {"SIGINT": "SIGINT", "SIGTERM": "SIGTERM", "SIGHUP": "SIGHUP", "end": "end",
                                       "keyboard_interrupt": "SIGINT"}.get(path, "error")
    if path != "end":
        assert player.stats.notes < 48, "playback was cut short"
        assert [m.type for m in port.messages()][-3:] == ["stop", "control_change", "control_change"]


def test_a_port_that_fails_to_send_is_still_closed_and_the_error_says_so():
    clock = FakeClock()
    port = RecordingPort(now=clock.now, fail_after=10)
    player = Player(port, ListFeed([every_step()] * 4, clock), PlayerConfig(), clock=clock)
    with pytest.raises(PortGoneError, match="disappeared"):
        player.run()
    assert port.closed and len(port.sent) == 10


def test_signals_are_restored_after_playback():
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    before = [signal.getsignal(s) for s in signals]
    with stop_on_signals():
        assert all(signal.getsignal(s) is not old for s, old in zip(signals, before)), "all three are caught"
    assert [signal.getsignal(s) for s in signals] == before


def test_sighup_is_held_back_while_the_port_is_silenced():
    with signals_blocked():
        assert signal.SIGHUP in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    assert signal.SIGHUP not in signal.pthread_sigmask(signal.SIG_BLOCK, set())


# --------------------------------------------------------------------------- modes and the bar thread


def kicks_per_bar(port: RecordingPort, player: Player, config: PlayerConfig) -> list[int]:
    bars = (note_on_times(port, KICK) - player.bar_start(0)) // config.bar_seconds
    return np.bincount(bars.astype(int)).tolist()


def run_source(grids, bars: int, config: PlayerConfig | None = None):
    config = config or PlayerConfig(bpm=300)
    clock = FakeClock()
    port = RecordingPort(now=clock.now)
    with BarSource(grids, bars=bars) as source:
        player = Player(port, source, config, clock=clock)
        player.run()
    return player, port, config


def test_morph_walks_from_one_style_to_the_other_in_order_then_stays():
    model = FakeDrumModel()
    grids = bar_source.morph_grids(model, "rock", "latin", over=6, every=2, rng=np.random.default_rng(0))
    player, port, config = run_source(grids, bars=9)
    kicks = kicks_per_bar(port, player, config)
    assert kicks == [1, 4, 7, 10, 13, 16, 16, 16, 16]  # rock (1 kick) -> latin (16), evenly, then latin


def test_evolve_keeps_the_style_and_changes_the_variation_every_n_bars():
    model = FakeDrumModel()
    source = bar_source.evolve_grids(model, "jazz", every=3, rng=np.random.default_rng(1))
    grooves = [next(source) for _ in range(9)]
    same = [grooves[i].equals(grooves[i + 1]) for i in range(8)]
    assert same == [True, True, False, True, True, False, True, True]
    assert all(g.hits[0, :, 0].sum() == 9 for g in grooves), "one style (jazz: 1 + 15 * 0.5 kicks) throughout"


def test_loop_repeats_one_bar_and_pattern_cycles_the_file_bars():
    model = FakeDrumModel()
    loop = bar_source.loop_grids(model, "rock", np.random.default_rng(0))
    first = next(loop)
    assert all(first.equals(next(loop)) for _ in range(5))
    file_bars = np.zeros((3, 16, 9), bool)
    for bar in range(3):
        file_bars[bar, : bar + 1, 0] = True
    player, port, config = run_source(bar_source.pattern_grids(file_bars), bars=7)
    assert kicks_per_bar(port, player, config) == [1, 2, 3, 1, 2, 3, 1]


def test_bar_source_hands_a_generator_crash_to_the_player():
    def broken():
        yield np.zeros((16, 9), bool)
        raise ValueError("model exploded")

    with pytest.raises(ValueError, match="model exploded"):
        run_source(broken(), bars=None)


def test_bar_source_stops_promptly_while_its_thread_waits_on_a_full_queue():
    source = BarSource(bar_source.pattern_grids(hat_grid()[None]), midi_io.bar_events, bars=None, ahead=1)
    with source:
        assert source.get() is not None
    assert not source._thread.is_alive()


def test_live_modes_play_the_bars_drumgen_sample_writes_for_the_same_seed():
    from edgegen.runtime.drum_generator import DrumGenerator

    model = FakeDrumModel()
    model.prior_low = lambda z: (np.zeros((len(z), 12), np.float32), np.full((len(z), 12), -1.0, np.float32))
    generator = object.__new__(DrumGenerator)  # the real facade around the fake model
    generator.model = model
    written = generator.evolve("jazz", 10, seed=5, every=3)
    source = bar_source.evolve_grids(model, "jazz", 3, rng(5))
    played = Groove.concat([next(source) for _ in range(10)])
    assert played.equals(written)
    assert not all(np.array_equal(written.hits[0], bar) for bar in written.hits), "the variation did change"
    looped = next(bar_source.loop_grids(model, "latin", rng(5)))
    assert looped.equals(generator.sample("latin", 1, seed=5)[0])
    morphed = bar_source.morph_grids(model, "rock", "latin", 6, 2, rng(5))
    assert Groove.concat([next(morphed) for _ in range(6)]).equals(generator.morph("rock", "latin", 6, seed=5))


def _played_bar() -> Groove:
    hits = np.zeros((1, 16, 9), bool)
    hits[0, [0, 5, 10], INSTRUMENTS.index("closed_hat")] = True
    velocities = np.where(hits, 0.0, 0.0)
    velocities[0, [0, 5, 10], INSTRUMENTS.index("closed_hat")] = [1.0, 0.3, 0.6]
    offsets = np.zeros(hits.shape)
    offsets[0, [5, 10], INSTRUMENTS.index("closed_hat")] = [0.2, -0.1]
    return Groove(hits, velocities, offsets)


def test_bar_source_plays_learned_velocities_and_offsets_and_quantize_puts_them_on_the_grid():
    bar = _played_bar()
    for quantize, times in ((False, [0.0, 5.2, 9.9]), (True, [0.0, 5.0, 10.0])):
        with BarSource(iter([bar]), bars=1, quantize=quantize) as source:
            notes = source.get()
        assert [t for t, _, _ in notes] == pytest.approx(times)
        assert [v for _, _, v in notes] == [127, 38, 76]
    # swing and humanise stay knobs on top of the feel
    swung = BarSource(iter([bar]), bar_source.GrooveNotes(swing=0.5), bars=1)
    with swung:
        assert [t for t, _, _ in swung.get()] == pytest.approx([0.0, 5.45, 9.9])


def test_bar_source_hands_a_plain_callable_the_bar_s_midi_velocities_on_the_grid():
    """to_notes written for velocity grids (a uint8 [16, 9] per bar) still gets the learned dynamics."""
    seen = []

    def to_notes(grid):
        seen.append(grid)
        return midi_io.bar_events(grid > 0, grid)

    with BarSource(iter([_played_bar()]), to_notes, bars=1) as source:
        notes = source.get()
    assert seen[0].dtype == np.uint8 and seen[0][[0, 5, 10], 2].tolist() == [127, 38, 76]
    assert [t for t, _, _ in notes] == [0.0, 5.0, 10.0]


def test_pattern_plays_a_file_with_its_own_velocities_and_offsets(tmp_path):
    bar = _played_bar()
    midi_io.write_midi(tmp_path / "p.mid", bar.hits, velocities=bar.velocities, offsets=bar.offsets)
    pattern = bar_source.pattern_grids(midi_io.read_midi(tmp_path / "p.mid"))
    with BarSource(pattern, bars=2) as source:
        first, second = source.get(), source.get()
    assert first == second and [v for _, _, v in first] == [127, 38, 76]
    assert [t for t, _, _ in first] == pytest.approx([0.0, 5.2, 9.9], abs=1 / 120)
