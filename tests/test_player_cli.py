"""`drumgen play` / `drumgen ports`: options reach the port, bad input is one line, no MIDI backend is explained."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mido
import numpy as np
import pytest
from click.testing import CliRunner

from edgegen.cli.drumgen import main
from edgegen.runtime import midi_io
from edgegen.runtime.live import ports as midi_ports
from edgegen.runtime.drum_spec import INSTRUMENTS
from edgegen.runtime.live.realtime import Stopped


class FakeMidoPort:
    def __init__(self, name: str):
        self.name = name
        self.sent: list[tuple[float, mido.Message]] = []
        self.closed = False

    def send(self, message: mido.Message) -> None:
        self.sent.append((time.perf_counter(), message))

    def close(self) -> None:
        self.closed = True


class FakeBackend:
    """A mido backend with fixed output ports that records what is opened."""

    name, api = "fake", None

    def __init__(self, outputs=("Synth A:in", "Synth B:in")):
        self.outputs = list(outputs)
        self.opened: list[FakeMidoPort] = []
        self.virtual: list[str] = []

    def get_output_names(self):
        return list(self.outputs)

    def get_input_names(self):
        return ["Clock Master:out"]

    def open_output(self, name, virtual=False, client_name=None):
        if virtual:
            self.virtual.append(name)
        self.opened.append(FakeMidoPort(name))
        return self.opened[-1]


@pytest.fixture
def backend(monkeypatch) -> FakeBackend:
    fake = FakeBackend()
    monkeypatch.setattr(midi_ports, "choose_backend", lambda: fake)
    return fake


@pytest.fixture
def pattern(tmp_path) -> Path:
    grids = np.zeros((1, 16, 9), bool)
    grids[0, [0, 8], INSTRUMENTS.index("kick")] = True
    grids[0, [4, 12], INSTRUMENTS.index("snare")] = True
    grids[0, 0:16:2, INSTRUMENTS.index("closed_hat")] = True
    path = tmp_path / "groove.mid"
    midi_io.write_midi(path, grids)
    return path


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("Error")]


# --------------------------------------------------------------------------- options reach the port


def test_play_sends_the_pattern_with_channel_map_clock_and_swing(backend, pattern, tmp_path):
    note_map = tmp_path / "machine.json"
    note_map.write_text(json.dumps({"kick": 60}))
    result = invoke("play", "--virtual", "edgegen", "--pattern", str(pattern), "--bars", "2", "--bpm", "300",
                    "--channel", "3", "--map", str(note_map), "--clock", "--swing", "0.5", "--no-realtime")
    assert result.exit_code == 0, result.output
    assert backend.virtual == ["edgegen"]
    port = backend.opened[0]
    messages = [m for _, m in port.sent]
    notes = [m for m in messages if m.type == "note_on"]
    assert len(notes) == 2 * 12 and {m.channel for m in notes} == {2}
    assert {m.note for m in notes[:2]} == {42, 60} and 36 not in {m.note for m in notes}
    assert messages[0].type == "start" and sum(m.type == "clock" for m in messages) == 2 * 96
    assert [(m.control, m.channel) for m in messages[-2:]] == [(123, 2), (120, 2)] and port.closed
    hats = [t for t, m in port.sent if m.type == "note_on" and m.note == 42]
    gaps = np.diff(hats[:8]) / (60 / 300 / 4)
    assert np.allclose(gaps, 2.0, atol=0.1), "hats on 8ths: swing moves odd 16ths only"
    assert "Finished after 2 bars" in result.output


def test_pattern_keeps_the_files_velocities(backend, tmp_path):
    grids = np.zeros((1, 16, 9), bool)
    grids[0, [0, 4, 8, 12], INSTRUMENTS.index("kick")] = True
    velocities = np.zeros((1, 16, 9), np.uint8)
    velocities[0, [0, 4, 8, 12], INSTRUMENTS.index("kick")] = [127, 40, 90, 15]
    path = tmp_path / "dynamics.mid"
    midi_io.write_midi(path, grids, velocities=velocities)
    result = invoke("play", "--virtual", "x", "--pattern", str(path), "--bars", "2", "--bpm", "300", "--no-realtime")
    assert result.exit_code == 0, result.output
    assert [m.velocity for _, m in backend.opened[0].sent if m.type == "note_on"] == [127, 40, 90, 15] * 2


def test_play_humanize_changes_velocities(backend, pattern):
    result = invoke("play", "--virtual", "x", "--pattern", str(pattern), "--bars", "1", "--bpm", "300",
                    "--humanize", "1", "--seed", "3", "--no-realtime")
    assert result.exit_code == 0, result.output
    velocities = {m.velocity for _, m in backend.opened[0].sent if m.type == "note_on"}
    assert len(velocities) > 2


def test_port_by_index_substring_and_exact_name(backend, pattern):
    for query, expected in [("1", "Synth B:in"), ("synth a", "Synth A:in"), ("Synth B:in", "Synth B:in")]:
        result = invoke("play", "--port", query, "--pattern", str(pattern), "--bars", "1", "--bpm", "300",
                        "--no-realtime")
        assert result.exit_code == 0, result.output
        assert backend.opened[-1].name == expected


def test_ports_lists_numbered_names(backend):
    result = invoke("ports")
    assert result.exit_code == 0
    assert result.output.splitlines() == ["0: Synth A:in", "1: Synth B:in"]
    result = invoke("ports", "--inputs")
    assert result.exit_code == 0 and result.output.splitlines() == ["0: Clock Master:out"]


def test_sync_errors_are_one_line(backend, pattern):
    result = invoke("play", "--virtual", "x", "--pattern", str(pattern), "--sync", "master", "--clock")
    assert result.exit_code == 2 and "--sync follows another program's clock" in result.output
    result = invoke("play", "--virtual", "x", "--pattern", str(pattern), "--sync", "drum machine")
    assert result.exit_code == 1
    assert error_lines(result) == ["Error: no MIDI input port matches 'drum machine'; ports: 0: 'Clock Master:out'"]
    assert backend.opened[-1].closed, "the output opened first is closed again"


# --------------------------------------------------------------------------- bad input: one line, non-zero exit


@pytest.mark.parametrize("args, message", [
    (["--bpm", "301"], "Invalid value for '--bpm'"),
    (["--bpm", "19"], "Invalid value for '--bpm'"),
    (["--swing", "0.8"], "Invalid value for '--swing'"),
    (["--humanize", "1.5"], "Invalid value for '--humanize'"),
    (["--channel", "17"], "Invalid value for '--channel'"),
    (["--style", "polka"], "Invalid value for '--style'"),
    (["--mode", "morph"], "--mode morph needs --to STYLE"),
])
def test_bad_options_are_usage_errors(backend, pattern, args, message):
    base = ["play", "--virtual", "x"] + ([] if "--mode" in args else ["--pattern", str(pattern)])
    result = invoke(*base, *args)
    assert result.exit_code == 2
    assert len(error_lines(result)) == 1 and message in error_lines(result)[0]
    assert not backend.opened


def test_port_and_virtual_are_exclusive_and_one_is_needed(backend, pattern):
    for args in (["--pattern", str(pattern)], ["--port", "0", "--virtual", "x", "--pattern", str(pattern)]):
        result = invoke("play", *args)
        assert result.exit_code == 2 and "--port NAME or --virtual NAME" in result.output


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a JSON note map"),
    ('{"cowbell": 56}', "unknown instrument"),
    ('{"kick": 200}', "must be an integer 0-127"),
])
def test_malformed_map_file_is_one_line(backend, pattern, tmp_path, content, message):
    bad = tmp_path / "map.json"
    bad.write_text(content)
    result = invoke("play", "--virtual", "x", "--pattern", str(pattern), "--map", str(bad))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(error_lines(result)) == 1 and message in error_lines(result)[0]
    assert not backend.opened, "nothing opened before the input was checked"


def test_missing_or_corrupt_pattern_is_one_line(backend, tmp_path):
    junk = tmp_path / "junk.mid"
    junk.write_bytes(b"MThd junk")
    for path in (tmp_path / "missing.mid", junk):
        result = invoke("play", "--virtual", "x", "--pattern", str(path))
        assert result.exit_code == 1 and len(error_lines(result)) == 1 and str(path) in result.output


def test_unknown_port_lists_the_ports_there_are(backend, pattern):
    result = invoke("play", "--port", "drumbrute", "--pattern", str(pattern))
    assert result.exit_code == 1
    assert error_lines(result) == ["Error: no MIDI output port matches 'drumbrute'; ports: 0: 'Synth A:in', "
                                   "1: 'Synth B:in'"]
    result = invoke("play", "--port", "synth", "--pattern", str(pattern))
    assert result.exit_code == 1 and "matches several" in result.output
    result = invoke("play", "--port", "7", "--pattern", str(pattern))
    assert result.exit_code == 1 and "no MIDI output port number 7" in result.output


def test_help_explains_options_with_a_daw_example():
    result = invoke("play", "--help")
    assert result.exit_code == 0
    for option in ("--port", "--virtual", "--style", "--bpm", "--swing", "--humanize", "--bars", "--mode", "--every",
                   "--to", "--channel", "--map", "--clock", "--seed", "--pattern"):
        assert option in result.output
    assert "DAW" in result.output and "MIDO_BACKEND" in result.output and "--lead-in" not in result.output


# --------------------------------------------------------------------------- no MIDI backend


def run_drumgen(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "from edgegen.cli.drumgen import main; main(prog_name='drumgen')", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(Path("/dev/snd/seq").exists(), reason="this machine has an ALSA sequencer")
@pytest.mark.parametrize("backend_name", ["mido.backends.rtmidi/LINUX_ALSA", None])
def test_no_midi_backend_is_one_line_pointing_to_jack_and_sample(pattern, backend_name):
    env = dict(os.environ, JACK_DEFAULT_SERVER="edgegen-no-such-server", JACK_NO_START_SERVER="1")
    env.pop("MIDO_BACKEND", None)
    if backend_name:
        env["MIDO_BACKEND"] = backend_name
    for args in (["ports"], ["play", "--virtual", "x", "--pattern", str(pattern)]):
        done = run_drumgen(*args, env=env)
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr  # no ALSA/JACK library noise, no traceback
        assert lines[0].startswith("Error: no MIDI backend works") and "ALSA" in lines[0]
        assert "jackd" in lines[0] and "drumgen sample" in lines[0]


def test_unknown_backend_name_is_one_line(monkeypatch):
    monkeypatch.setenv("MIDO_BACKEND", "mido.backends.no_such_thing")
    with pytest.raises(midi_ports.MidiBackendError, match="no_such_thing"):
        midi_ports.choose_backend()


def test_native_stderr_is_captured_not_printed(capfd):
    with midi_ports.quiet_native_stderr() as lines:
        os.write(2, b"ALSA lib seq_hw.c:466: open /dev/snd/seq failed\n")
    assert lines == ["ALSA lib seq_hw.c:466: open /dev/snd/seq failed"]
    assert "ALSA" not in capfd.readouterr().err


def test_a_connected_port_notices_its_target_vanish():
    outputs = ["Synth A:in"]
    port = midi_ports.MidoOutputPort(FakeMidoPort("Synth A:in"), "Synth A:in", target="Synth A:in",
                                     list_outputs=lambda: list(outputs), check_every=0.0)
    assert port.is_alive()
    outputs.clear()
    assert not port.is_alive()


def test_a_failing_send_becomes_port_gone():
    class Broken(FakeMidoPort):
        def send(self, message):
            raise OSError("device unplugged")

    port = midi_ports.MidoOutputPort(Broken("x"), "x")
    with pytest.raises(midi_ports.PortGoneError, match="device unplugged"):
        port.send(mido.Message("note_on"))


def test_a_signal_that_lands_inside_a_send_stops_playback_rather_than_failing_the_port():
    """mido's send is Python code, so SIGHUP/SIGTERM handlers can run inside it (then exit 1, "port failed")."""
    class Interrupted(FakeMidoPort):
        def send(self, message):
            raise Stopped("SIGHUP")

    def list_outputs():
        raise Stopped("SIGTERM")

    port = midi_ports.MidoOutputPort(Interrupted("x"), "x", target="x", list_outputs=list_outputs, check_every=0.0)
    with pytest.raises(Stopped, match="SIGHUP"):
        port.send(mido.Message("note_on"))
    with pytest.raises(Stopped, match="SIGTERM"):
        port.is_alive()


# --------------------------------------------------------------------------- modes with a real (tiny) ONNX model


@pytest.mark.parametrize("mode_args, generate", [
    (["--mode", "loop", "--style", "jazz"], lambda g: g.sample("jazz", 1, seed=11)[np.zeros(3, int)]),
    (["--mode", "evolve", "--style", "rock", "--every", "2"], lambda g: g.evolve("rock", 3, seed=11, every=2)),
    (["--mode", "morph", "--style", "rock", "--to", "latin", "--every", "3"],
     lambda g: g.morph("rock", "latin", 3, seed=11)),
])
def test_play_modes_send_the_bars_the_model_generates(backend, mode_args, generate):
    from tiny_runs import exported_models

    from edgegen.runtime.drum_generator import DrumGenerator

    _, models = exported_models()
    result = invoke("play", "--virtual", "x", "--models", str(models), "--seed", "11", "--bars", "3", "--bpm", "300",
                    "--no-realtime", *mode_args)
    assert result.exit_code == 0, result.output
    grooves = generate(DrumGenerator(models))
    expected = [pitch for hits, velocities, offsets in zip(grooves.hits, grooves.velocities, grooves.offsets)
                for _, pitch, _ in midi_io.bar_events(hits, velocities, offsets)]  # learned offsets reorder notes
    played = [m.note for _, m in backend.opened[0].sent if m.type == "note_on"]
    assert expected and played == expected


def test_missing_model_is_one_line(backend, tmp_path):
    result = invoke("play", "--virtual", "x", "--models", str(tmp_path), "--style", "rock")
    assert result.exit_code == 1 and len(error_lines(result)) == 1 and "drum_decoder" in result.output


# --------------------------------------------------------------------------- DESIGN section 2: no torch at play time

PLAY_WITHOUT_TORCH = """
import atexit, sys
forbidden = ("torch", "onnx", "matplotlib", "sklearn", "edgegen.training", "edgegen.export")
atexit.register(lambda: print("IMPORTED:" + ",".join(m for m in forbidden if m in sys.modules)))

class Port:
    def send(self, message): pass
    def close(self): pass

class Backend:
    name, api = "fake", None
    def get_output_names(self): return []
    def open_output(self, name, virtual=False, client_name=None): return Port()

from edgegen.runtime.live import ports as midi_ports
midi_ports.choose_backend = Backend
from edgegen.cli.drumgen import main
main(sys.argv[1:])
"""


def test_play_never_imports_torch():
    from tiny_runs import exported_models

    env = {**os.environ, "EDGEGEN_MODELS": str(exported_models()[1])}
    args = ["play", "--virtual", "x", "--mode", "morph", "--style", "rock", "--to", "jazz", "--bars", "2",
            "--bpm", "300", "--no-realtime"]
    done = subprocess.run([sys.executable, "-c", PLAY_WITHOUT_TORCH, *args], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Finished after 2 bars" in done.stderr
    assert [line for line in done.stdout.splitlines() if line.startswith("IMPORTED:")] == ["IMPORTED:"]


@pytest.mark.parametrize("spelling", ["--map", "--note-map"])
def test_play_takes_the_note_map_under_both_names_and_prints_its_seed(backend, pattern, tmp_path, spelling):
    note_map = tmp_path / "machine.json"
    note_map.write_text(json.dumps({"kick": 60}))
    result = invoke("play", "--virtual", "x", "--pattern", str(pattern), "--bars", "1", "--bpm", "300", "--seed", "7",
                    spelling, str(note_map), "--no-realtime")
    assert result.exit_code == 0, result.output
    assert 60 in {m.note for _, m in backend.opened[0].sent if m.type == "note_on"}
    assert "seed 7" in result.output


@pytest.mark.parametrize("option, value", [("--bpm", "350"), ("--bpm", "nan"), ("--swing", "nan"),
                                           ("--humanize", "inf")])
def test_play_refuses_the_same_numbers_sample_refuses(backend, pattern, option, value):
    result = invoke("play", "--virtual", "x", "--pattern", str(pattern), option, value)
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output
    assert not backend.opened


# --------------------------------------------------------------------------- signals: the terminal closing (SIGHUP) like kill


PLAY_INTO_PRINTING_PORT = """
import sys

class Port:
    def send(self, message): print("sent", message, flush=True)
    def close(self): print("closed", flush=True)

class Backend:
    name, api = "fake", None
    def get_output_names(self): return []
    def open_output(self, name, virtual=False, client_name=None): return Port()

from edgegen.runtime.live import ports as midi_ports
midi_ports.choose_backend = Backend
from edgegen.cli.drumgen import main
main(sys.argv[1:], prog_name="drumgen")
"""


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signal_while_playing_ends_every_note_and_sends_cc123_cc120(pattern, signum):
    process = subprocess.Popen([sys.executable, "-c", PLAY_INTO_PRINTING_PORT, "play", "--virtual", "x", "--pattern",
                                str(pattern), "--bpm", "60", "--lead-in", "0", "--no-realtime"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("sent note_on"):  # a note is sounding now: its note-off is half a step away
            break
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    lines += out.splitlines()
    assert process.returncode == 0, err
    assert f"Stopped by {signum.name}" in err and "Traceback" not in err
    sent = [mido.Message.from_str(line.strip()[len("sent "):]) for line in lines if line.startswith("sent ")]
    sounding = set()
    for message in sent:
        if message.type == "note_on" and message.velocity > 0:
            sounding.add(message.note)
        elif message.type == "note_off":
            sounding.discard(message.note)
    assert not sounding, f"stuck notes: {sorted(sounding)}"
    assert [(m.control, m.channel) for m in sent[-2:] if m.type == "control_change"] == [(123, 9), (120, 9)]
    assert lines[-1].strip() == "closed"


def interrupted_import():
    """What pybind11 makes of a signal that lands while a compiled module initialises."""
    try:
        raise Stopped("SIGINT")
    except Stopped as stop:
        raise ImportError("initialization failed") from stop


def raises(error):
    def fail():
        raise error
    return fail


@pytest.mark.parametrize("failure, exit_code", [
    (interrupted_import, 130), (raises(Stopped("SIGHUP")), 129), (raises(Stopped("SIGTERM")), 143),
], ids=["ctrl-c-inside-import", "SIGHUP", "SIGTERM"])
def test_a_signal_while_play_starts_exits_quietly(monkeypatch, pattern, failure, exit_code):
    monkeypatch.setattr(midi_ports, "choose_backend", failure)
    result = invoke("play", "--virtual", "x", "--pattern", str(pattern), "--no-realtime")
    assert result.exit_code == exit_code and "Error" not in result.output, result.output


def test_a_pattern_or_note_map_that_is_not_a_regular_file_is_refused(backend, pattern, tmp_path):
    fifo = tmp_path / "fifo.mid"
    os.mkfifo(fifo)
    for args in (["--pattern", str(fifo)], ["--pattern", str(pattern), "--map", str(fifo)]):
        result = invoke("play", "--virtual", "x", *args, "--bars", "1", "--no-realtime")
        assert result.exit_code == 2 and "is a FIFO (named pipe), not a regular file" in result.output, result.output
    assert not backend.opened


# --------------------------------------------------------------------------- backends and --quantize


def test_quantize_plays_the_plain_grid_whatever_swing_and_humanize_say(backend, pattern):
    result = invoke("play", "--virtual", "x", "--pattern", str(pattern), "--bars", "2", "--bpm", "300", "--swing",
                    "0.6", "--humanize", "1", "--quantize", "--backend", "rtmidi", "--no-realtime")
    assert result.exit_code == 0, result.output
    hats = np.array([t for t, m in backend.opened[0].sent if m.type == "note_on" and m.note == 42])
    gaps = np.diff(hats) / (60 / 300 / 4)
    assert np.allclose(gaps, 2.0, atol=0.1), "hats on straight 8ths (swing 0.6 would make them 2.3 and 1.7 steps)"
    velocities = [m.velocity for _, m in backend.opened[0].sent if m.type == "note_on"]
    assert velocities[:12] == velocities[12:24], "the same bar twice: no random velocity jitter"


def test_sync_jack_needs_the_jack_backend(backend, pattern):
    result = invoke("play", "--virtual", "x", "--pattern", str(pattern), "--sync", "jack", "--backend", "rtmidi")
    assert result.exit_code == 2 and "--sync jack follows JACK transport" in result.output
    assert not backend.opened


def test_jack_backend_without_jack_client_is_one_line(backend, pattern, monkeypatch):
    from edgegen.runtime.live import jack_backend

    def missing():
        raise midi_ports.MidiBackendError("the JACK backend needs JACK-Client and libjack (pip install 'edgegen[jack]', "
                                          "apt-get install libjack-jackd2-0): No module named 'jack'")

    monkeypatch.setattr(jack_backend, "import_jack", missing)
    result = invoke("play", "--virtual", "x", "--pattern", str(pattern), "--backend", "jack")
    assert result.exit_code == 1 and len(error_lines(result)) == 1 and "edgegen[jack]" in result.output
    assert not backend.opened


def test_auto_uses_rtmidi_when_mido_backend_names_another_midi_system(monkeypatch):
    from edgegen.cli import drumgen_live

    monkeypatch.setenv("MIDO_BACKEND", "mido.backends.rtmidi/LINUX_ALSA")
    assert drumgen_live._backend("auto") == "rtmidi"
    monkeypatch.setenv("MIDO_BACKEND", "mido.backends.rtmidi/UNIX_JACK")
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "edgegen-no-such-server")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    assert drumgen_live._backend("auto") == "rtmidi", "no JACK server answers"
    assert drumgen_live._backend("jack") == "jack"
