"""End to end through a real MIDI server: `drumgen play --backend rtmidi` in a subprocess -> JACK (dummy driver) -> our input.

Each test module run starts its own named jackd (jack_server) and
stops only that PID. In CI (CI=true) these tests must run; elsewhere they skip
when jackd is missing.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import mido
import numpy as np
import pytest

from edgegen.runtime import midi_io
from edgegen.runtime.drum_spec import GM_WRITE_PITCHES, INSTRUMENTS
from jack_server import JackServer, JackUnavailable, MidiRecorder, jackd_path
from edgegen.runtime.onnx_model import models_dir

MODELS = models_dir()  # $EDGEGEN_MODELS or the bundled models

# One retry per test: python-rtmidi 1.5.8 (RtMidi 5.0.0) drops or garbles back-to-back JACK messages now
# and then (measured: 11 of 1,600 in a loopback; 189 of 192 clock ticks in one run here), and a busy
# machine can stall the system-clock scheduler past TOLERANCE. The native JACK backend of the live
# playback issue removes both causes; until then a failure must happen twice in a row to count.
pytestmark = [pytest.mark.jack, pytest.mark.flaky(reruns=1)]

BPM = 240.0
STEP = 60.0 / BPM / 4  # 62.5 ms
TOLERANCE = 0.005  # seconds; JACK delivers per 1.33 ms period, the rest is scheduling


def assert_on_time(offsets: np.ndarray, step: float = STEP) -> None:
    """Arrival minus expected time, less its median: 90 % within TOLERANCE, every one well inside its own 16th.

    The offsets are measured from the first note, whose own latency is one draw of the
    JACK period jitter; a clock slave also answers each tick one hop late. A constant
    latency is not a timing error, so the median is taken off: drift still spreads
    the offsets and fails. The strict bound is on the bulk: on a shared virtual machine
    the hypervisor can stall any process for 10+ ms now and then (bench.json records
    the steal time), which says nothing about the scheduler; a note in the wrong step still fails.
    """
    offsets = np.asarray(offsets, dtype=float)
    offsets = np.abs(offsets - np.median(offsets))
    assert np.percentile(offsets, 90) < TOLERANCE, f"p90 {np.percentile(offsets, 90) * 1e3:.2f} ms off"
    assert offsets.max() < step / 4, f"a note {offsets.max() * 1e3:.2f} ms off"


@pytest.fixture(scope="module")
def jack():
    if jackd_path() is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but jackd is not installed (.ci/run installs jackd2)")
        pytest.skip("jackd is not installed (apt-get install jackd2); the JACK end-to-end tests need it")
    try:
        server = JackServer().start()
    except JackUnavailable as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(str(error))
        pytest.skip(str(error))
    with pytest.MonkeyPatch.context() as patch:
        for key, value in server.env({}).items():
            patch.setenv(key, value)
        yield server
    server.stop()


@pytest.fixture
def sink(jack):
    made = []

    def make(client: str = "edgegen-sink") -> MidiRecorder:
        made.append(MidiRecorder(client))
        return made[-1]

    yield make
    for each in made:
        try:
            each.close()
        except Exception:
            pass


def drumgen(*args: str, env: dict[str, str] | None = None, wait: bool = False, timeout: float = 60.0):
    """Run the `drumgen` command group in a subprocess (stdout/stderr captured as text).

    These tests are about the RtMidi path (`--backend rtmidi`); the native JACK backend,
    which `auto` picks when JACK-Client is installed, is tested in test_jack_native.py.
    """
    if args and args[0] in ("play", "ports"):
        args = (args[0], "--backend", "rtmidi", *args[1:])
    command = [sys.executable, "-c", "from edgegen.cli.drumgen import main; main(prog_name='drumgen')", *args]
    process = subprocess.Popen(command, env=env or dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    if wait:
        out, err = process.communicate(timeout=timeout)
        return process.returncode, out, err
    return process


@pytest.fixture
def pattern(tmp_path) -> tuple[Path, np.ndarray]:
    """Two known bars written to a MIDI file: what `play --pattern` must deliver, note for note."""
    grids = np.zeros((2, 16, 9), bool)
    col = {name: i for i, name in enumerate(INSTRUMENTS)}
    grids[:, 0:16:2, col["closed_hat"]] = True
    grids[:, [0, 6, 10], col["kick"]] = True
    grids[:, [4, 12], col["snare"]] = True
    grids[0, 0, col["crash"]] = True
    grids[1, 14, col["open_hat"]] = True
    grids[1, 15, col["tom_low"]] = True
    path = tmp_path / "pattern.mid"
    midi_io.write_midi(path, grids, bpm=100)
    return path, grids


def expected_notes(grids, bars: int) -> list[tuple[float, int]]:
    """(time in steps from the first bar, pitch) of every note-on, in sending order.

    ``grids`` [n, 16, 9] plays on the grid; a Groove plays its learned velocities and offsets.
    """
    notes = []
    for bar in range(bars):
        if hasattr(grids, "offsets"):
            i = bar % len(grids.hits)
            events = midi_io.bar_events(grids.hits[i], grids.velocities[i], grids.offsets[i])
        else:
            events = midi_io.bar_events(grids[bar % len(grids)])
        notes += [(bar * 16 + t, pitch) for t, pitch, _ in events]
    return notes


def check_silenced(sink: MidiRecorder, channel: int = 9) -> None:
    """Every note-on was answered by a note-off, and CC 123 then CC 120 arrived on the channel."""
    sounding: set[int] = set()
    for _, message in sink.received:
        if message.type == "note_on" and message.velocity > 0:
            sounding.add(message.note)
        elif message.type == "note_off" or (message.type == "note_on" and message.velocity == 0):
            sounding.discard(message.note)
    assert not sounding, f"stuck notes: {sorted(sounding)}"
    ccs = [(m.control, m.channel) for _, m in sink.messages("control_change")]
    assert ccs[-2:] == [(ALL_NOTES_OFF, channel), (ALL_SOUND_OFF, channel)]


ALL_NOTES_OFF, ALL_SOUND_OFF = 123, 120


def wait_exit(process: subprocess.Popen, timeout: float) -> tuple[float, str, str]:
    started = time.perf_counter()
    out, err = process.communicate(timeout=timeout + 10)
    return time.perf_counter() - started, out, err


# --------------------------------------------------------------------------- tests


def test_virtual_port_delivers_every_note_with_right_pitch_order_and_spacing(jack, sink, pattern):
    path, grids = pattern
    listener = sink()
    process = drumgen("play", "--virtual", "edgegen-test", "--pattern", str(path), "--bars", "4",
                      "--bpm", str(BPM), "--lead-in", "1.0", env=jack.env())
    listener.connect("edgegen-test")
    elapsed, out, err = wait_exit(process, timeout=20)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "Finished after 4 bars" in err

    want = expected_notes(grids, 4)
    got = listener.messages("note_on")
    assert [m.note for _, m in got] == [pitch for _, pitch in want], \
        f"every note, right pitch, right order\n{err}\n{jack.log_tail()}"
    assert all(m.channel == 9 for _, m in got)
    arrival = np.array([t for t, _ in got])
    offsets = (arrival - arrival[0]) - np.array([t for t, _ in want]) * STEP
    assert_on_time(offsets)
    check_silenced(listener)


def test_clock_channel_and_map_arrive_through_jack(jack, sink, pattern, tmp_path):
    path, grids = pattern
    note_map = tmp_path / "map.json"
    note_map.write_text('{"kick": 60, "snare": 61}')
    listener = sink()
    process = drumgen("play", "--virtual", "edgegen-clock", "--pattern", str(path), "--bars", "2", "--bpm", str(BPM),
                      "--clock", "--channel", "3", "--map", str(note_map), "--lead-in", "1.0", env=jack.env())
    listener.connect("edgegen-clock")
    _, out, err = wait_exit(process, timeout=20)
    assert process.returncode == 0, err
    types = [m.type for _, m in listener.received]
    assert types[0] == "start" and types.count("clock") == 2 * 96 and "stop" in types
    ticks = np.array([t for t, m in listener.messages("clock")])
    assert abs(np.mean(np.diff(ticks)) - STEP / 6) < 2e-4, "24 clocks per beat"
    assert_on_time((ticks - ticks[0]) - np.arange(len(ticks)) * STEP / 6)
    notes = [m for _, m in listener.messages("note_on")]
    assert {m.channel for m in notes} == {2}
    pitches = {m.note for m in notes}
    assert {60, 61} <= pitches and GM_WRITE_PITCHES["kick"] not in pitches and GM_WRITE_PITCHES["snare"] not in pitches
    check_silenced(listener, channel=2)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_sounding_notes_and_exits_within_a_second(jack, sink, pattern, signum):
    path, _ = pattern
    listener = sink()
    process = drumgen("play", "--virtual", "edgegen-stop", "--pattern", str(path), "--bpm", str(BPM),
                      "--lead-in", "1.0", env=jack.env())
    fired_at: list[tuple[int, float, float]] = []  # (messages received, their JACK time, our clock) at the signal
    fired = threading.Event()

    def stop_on_fifth_note(message: mido.Message) -> None:
        # right after a note-on arrives the note is sounding (its note-off is half a step away)
        if message.type == "note_on" and not fired.is_set() and len(listener.messages("note_on")) == 5:
            fired_at.append((len(listener.received), listener.received[-1][0], time.perf_counter()))
            fired.set()
            process.send_signal(signum)

    listener.on_message = stop_on_fifth_note
    listener.connect("edgegen-stop")
    assert fired.wait(15), "no notes arrived"
    _, out, err = wait_exit(process, timeout=5)
    count_at_signal, jack_time_at_signal, signalled = fired_at[0]
    exit_time = time.perf_counter() - signalled
    assert exit_time < 1.0, f"took {exit_time:.2f} s to exit"
    assert process.returncode == 0, err
    assert "Traceback" not in err and f"Stopped by {signal.Signals(signum).name}" in err
    last_note_on = max(t for t, _ in listener.messages("note_on"))
    assert last_note_on - jack_time_at_signal < STEP, "playback stopped at the signal"
    after = [m.type for _, m in listener.received[count_at_signal:]]
    assert "note_off" in after, "the sounding note was ended after the signal"
    check_silenced(listener)


def test_port_disappearing_ends_playback_with_a_clear_error(jack, sink, pattern):
    path, _ = pattern
    listener = sink("edgegen-sink")
    listener.open_virtual("in")
    time.sleep(0.2)
    code, out, err = drumgen("ports", env=jack.env(), wait=True)
    assert code == 0 and "edgegen-sink:in" in out
    process = drumgen("play", "--port", "edgegen-sink", "--pattern", str(path), "--bpm", str(BPM), env=jack.env())
    deadline = time.monotonic() + 15
    while len(listener.messages("note_on")) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(listener.messages("note_on")) >= 3, err
    listener.close()
    gone_at = time.perf_counter()
    _, out, err = wait_exit(process, timeout=5)
    assert time.perf_counter() - gone_at < 2.0
    assert process.returncode == 1
    assert "Traceback" not in err and "Error: MIDI port 'edgegen-sink:in' disappeared" in err


def test_unknown_port_lists_the_ports_there_are(jack, sink, pattern):
    listener = sink("edgegen-sink2")
    listener.open_virtual("drums in")
    time.sleep(0.2)
    code, out, err = drumgen("play", "--port", "no-such-synth", "--pattern", str(pattern[0]), env=jack.env(),
                             wait=True)
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "Error: no MIDI output port matches 'no-such-synth'; ports: 0: 'edgegen-sink2:drums in'"]


@pytest.mark.skipif(not (MODELS / "drum_decoder.onnx").exists(),
                    reason=f"no drum model in {MODELS} yet (make train-drums export)")
def test_bundled_model_plays_the_grooves_drumgen_sample_writes(jack, sink, tmp_path):
    from edgegen.runtime.drum_generator import DrumGenerator

    bars, every, seed = 4, 2, 7
    expected = DrumGenerator().evolve("jazz", bars, seed=seed, every=every)  # learned velocities and offsets
    if not expected.hits.any():
        pytest.skip(f"the drum model in {MODELS} generates silent bars; nothing to compare")
    listener = sink()
    process = drumgen("play", "--virtual", "edgegen-model", "--style", "jazz", "--mode", "evolve", "--every",
                      str(every), "--seed", str(seed), "--bars", str(bars), "--bpm", str(BPM), "--lead-in", "1.0",
                      env=jack.env())
    listener.connect("edgegen-model")
    _, out, err = wait_exit(process, timeout=30)
    assert process.returncode == 0, err
    want = expected_notes(expected, bars)
    got = listener.messages("note_on")
    assert [m.note for _, m in got] == [pitch for _, pitch in want]
    arrival = np.array([t for t, _ in got])
    offsets = (arrival - arrival[0]) - (np.array([t for t, _ in want]) - want[0][0]) * STEP
    assert_on_time(offsets)
    check_silenced(listener)


def test_jack_server_stopping_ends_playback_with_a_clear_error(jack, pattern, monkeypatch):
    """A second, private server that we stop mid-play: RtMidi would keep sending into the void."""
    path, _ = pattern
    with JackServer() as doomed:
        monkeypatch.setenv("JACK_DEFAULT_SERVER", doomed.name)
        listener = MidiRecorder("edgegen-sink3")
        try:
            process = drumgen("play", "--virtual", "edgegen-doomed", "--pattern", str(path), "--bpm", str(BPM),
                              "--lead-in", "1.0", env=doomed.env())
            listener.connect("edgegen-doomed")
            deadline = time.monotonic() + 15
            while len(listener.messages("note_on")) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(listener.messages("note_on")) >= 3
            stopped_at = time.perf_counter()
            doomed.stop()
            _, out, err = wait_exit(process, timeout=5)
        finally:
            listener.close()
    assert time.perf_counter() - stopped_at < 2.0
    assert process.returncode == 1 and "Traceback" not in err
    assert "Error: MIDI port 'edgegen-doomed' disappeared" in err


def test_sync_follows_a_masters_clock_through_jack(jack, sink, pattern):
    """We are the master (150 BPM); `play --sync` with --bpm 100 must play at 150, start on Start, end on Stop."""
    import rtmidi

    path, grids = pattern
    master = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="edgegen-master")
    master.open_virtual_port("out")
    listener = sink()
    try:
        process = drumgen("play", "--virtual", "edgegen-slave", "--sync", "edgegen-master", "--pattern", str(path),
                          "--bpm", "100", env=jack.env())
        listener.connect("edgegen-slave")
        assert "following the MIDI clock" in process.stderr.readline()  # both ports are open and connected
        tick = 60.0 / 150.0 / 24
        started = time.perf_counter() + 0.05
        master.send_message([0xFA])
        for n in range(2 * 96 + 10):  # two bars and a little, on absolute deadlines
            while time.perf_counter() < started + n * tick:
                pass
            master.send_message([0xF8])
        master.send_message([0xFC])
        _, out, err = wait_exit(process, timeout=10)
    finally:
        master.close_port()
        del master
    assert process.returncode == 0, err
    assert "Stopped by the master's Stop" in err and "Traceback" not in err
    want = expected_notes(grids, 2)
    got = listener.messages("note_on")
    assert [m.note for _, m in got][:len(want)] == [pitch for _, pitch in want]
    arrival = np.array([t for t, _ in got[:len(want)]])
    offsets = (arrival - arrival[0]) - np.array([t for t, _ in want]) * (60.0 / 150.0 / 4)
    assert_on_time(offsets, step=60.0 / 150.0 / 4)  # at the master's 150 BPM, not --bpm 100
    check_silenced(listener)
