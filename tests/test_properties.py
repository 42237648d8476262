"""Random floats, JSON documents and MIDI bytes thrown at the parsers and the commands.

Every example must end in a result or in one clean failure: at the API level a
one-line ValueError/ModelError, at the command level exit 0 or exactly one
`Error:` line, never a traceback, never an output file left by a failure. Each
example also stays within a time bound (hypothesis' deadline) and a memory bound
(the tracemalloc peak of the Python and numpy allocations it makes).
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
import tracemalloc
from pathlib import Path

import mido
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tiny_runs import exported_models

from edgegen.cli.drumgen import main as drumgen
from edgegen.cli.fontgen import main as fontgen
from edgegen.runtime import midi_io
from edgegen.runtime.drum_controls import finite
from edgegen.runtime.drum_generator import DrumGenerator
from edgegen.runtime.drum_spec import INSTRUMENTS, PITCH_TO_INSTRUMENT, STEPS, STYLES
from edgegen.runtime.input_files import InputError, parse_json
from edgegen.runtime.onnx_model import ModelError, OnnxModel

FAST = settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.function_scoped_fixture])
COMMANDS = settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])
MEMORY_MB = 64  # per example, Python and numpy allocations (decoding every bar's candidates at once held 2.6 GB)


@contextlib.contextmanager
def memory_bound(limit_mb: float = MEMORY_MB):
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert peak < limit_mb, f"{peak:.0f} MB"


def one_line(error: BaseException) -> str:
    text = str(error)
    assert text and "\n" not in text, repr(text)
    return text


def clean_exit(result, *outputs: Path) -> bool:
    """True for success; False for a failure told in exactly one `Error:` line with no output left behind."""
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"{result.exception!r}\n{result.output}"
    assert "Traceback" not in result.output
    event(f"exit {result.exit_code}")
    if result.exit_code == 0:
        return True
    assert result.exit_code in (1, 2), result.exit_code
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert result.exit_code == 2 or result.output == errors[0] + "\n", result.output  # usage errors show usage
    assert not any(p.exists() for p in outputs), outputs
    return False


@pytest.fixture(scope="module")
def tiny_models():
    return exported_models()[1]


@pytest.fixture(scope="module")
def models_copy(tiny_models, tmp_path_factory):
    """A private copy whose sidecars the sidecar properties rewrite (and restore) example by example."""
    return shutil.copytree(tiny_models, tmp_path_factory.mktemp("property_models") / "models")


# ----------------------------------------------------------------------------- floats

float_texts = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e309", "-1e309", "1e-320", "-0", "0x10", ""]),
)
any_float = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([float("nan"), math.inf]))


@FAST
@given(value=any_float, low=st.none() | st.floats(-10, 10), high=st.none() | st.floats(-10, 10))
def test_finite_accepts_exactly_the_finite_numbers_in_range(value, low, high):
    inside = math.isfinite(value) and (low is None or value >= low) and (high is None or value <= high)
    try:
        assert finite("x", value, low, high) == value and inside
    except ValueError as error:
        assert not inside and one_line(error).startswith("x must be")


@settings(max_examples=100, deadline=2000)
@given(temperature=any_float, complexity=any_float, weights=st.lists(any_float, min_size=1, max_size=3),
       strength=any_float, keep=any_float)
def test_drum_generator_gives_bars_or_one_line_for_any_float(tiny_models, temperature, complexity, weights,
                                                             strength, keep):
    drums = DrumGenerator(tiny_models)
    source = np.zeros((2, STEPS, len(INSTRUMENTS)), bool)
    calls = [((temperature, complexity), lambda: drums.sample("rock", 2, seed=0, temperature=temperature,
                                                              complexity=complexity)),
             (weights, lambda: drums.blend(dict(zip(STYLES, weights)), 2, seed=0)),
             ((strength, keep), lambda: drums.transfer(source, "jazz", seed=0, strength=strength, keep=keep,
                                                       mode="shift")),
             ((keep, complexity), lambda: drums.transfer(source, "jazz", seed=0, keep=keep, complexity=complexity))]
    with memory_bound():
        for numbers, call in calls:
            try:
                bars = call()
            except ValueError as error:
                one_line(error)
                continue
            assert all(math.isfinite(x) for x in numbers)  # NaN and infinity never become (empty) bars
            assert bars.hits.dtype == bool and bars.shape[1:] == (STEPS, len(INSTRUMENTS))


def mostly(valid: st.SearchStrategy, hostile: st.SearchStrategy = float_texts) -> st.SearchStrategy:
    """A number as text: in one case of four a hostile one, so that most commands get to run."""
    return st.integers(0, 3).flatmap(lambda i: hostile if i == 0 else valid.map(repr))


@COMMANDS
@given(temperature=mostly(st.floats(0.05, 5)), complexity=mostly(st.floats(-1, 1)), bpm=mostly(st.floats(20, 300)),
       blend=st.lists(mostly(st.floats(0, 10)), max_size=2))
def test_drumgen_sample_with_any_number_text(tiny_models, tmp_path, temperature, complexity, bpm, blend):
    out = tmp_path / "g.mid"
    out.unlink(missing_ok=True)
    args = ["sample", "--bars", "2", "--seed", "1", "--models", str(tiny_models), "--out", str(out)]
    if blend:
        args += ["--blend", ",".join(f"{s}={w}" for s, w in zip(("jazz", "latin"), blend))]
    else:
        args += ["--style", "rock", "--temperature", temperature, "--complexity", complexity]
    with memory_bound():
        result = CliRunner().invoke(drumgen, args + ["--bpm", bpm])
    if clean_exit(result, out):
        assert len(mido.MidiFile(out).tracks) == 1


# ----------------------------------------------------------------------------- JSON documents

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=16,
)
json_texts = st.one_of(
    json_values.map(json.dumps),  # NaN and Infinity as Python writes them
    st.text(alphabet='[]{}",:0123456789.eE-+ aNInfity\\tru', max_size=200),
    st.integers(1, 5000).map(lambda depth: "[" * depth + "]" * depth),
)


@FAST
@given(text=json_texts)
def test_parse_json_gives_a_document_or_one_line(text):
    try:
        parse_json(text)
    except InputError as error:
        one_line(error)


note_maps = st.one_of(
    st.dictionaries(st.sampled_from(list(INSTRUMENTS) + ["cowbell", ""]), json_values, max_size=4).map(json.dumps),
    json_texts,
)


@FAST
@given(text=note_maps)
def test_note_maps_give_pitches_0_127_or_one_line(tmp_path, text):
    path = tmp_path / "map.json"
    path.write_text(text)
    try:
        note_map = midi_io.load_note_map(path)
    except midi_io.MidiFileError as error:
        assert one_line(error).startswith(str(path))
        return
    assert set(note_map) == set(INSTRUMENTS)
    assert all(type(p) is int and 0 <= p <= 127 for p in note_map.values())


def _paths(document, prefix=()):
    """Every (key path) in a JSON document, containers included."""
    yield prefix
    children = document.items() if isinstance(document, dict) else enumerate(document) \
        if isinstance(document, list) else ()
    for key, value in children:
        yield from _paths(value, prefix + (key,))


@st.composite
def damaged_sidecars(draw, original: dict) -> str:
    """The sidecar with a few values replaced by random JSON or removed, or its text cut short."""
    document = json.loads(json.dumps(original))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in sorted(_paths(document), key=repr) if p]))
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    text = json.dumps(document)
    if draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text


@contextlib.contextmanager
def sidecar_text(models: Path, name: str, text: str):
    path = models / f"{name}.onnx.json"
    original = path.read_bytes()
    path.write_text(text)
    try:
        yield path
    finally:
        path.write_bytes(original)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), name=st.sampled_from(["letters_vanilla", "letters_conditional_stabilised", "drum_decoder"]))
def test_damaged_sidecars_load_and_run_or_give_one_line(models_copy, data, name):
    original = json.loads((models_copy / f"{name}.onnx.json").read_text())
    text = data.draw(damaged_sidecars(original))
    with sidecar_text(models_copy, name, text) as sidecar, memory_bound():
        try:
            model = OnnxModel.by_name(name, models_copy)
        except ModelError as error:
            assert str(sidecar) in one_line(error) or str(sidecar)[: -len(".json")] in str(error)
            event("refused")
            return
        event("loaded")
        feed = {t.name: np.zeros([2 if d == "batch" else d for d in t.shape], np.float32) for t in model.spec.inputs}
        outputs = model.run(**feed)
        assert [list(o.shape[1:]) for o in outputs] == [t.shape[1:] for t in model.spec.outputs]


@COMMANDS
@given(data=st.data(), name=st.sampled_from(["letters_conditional_stabilised", "drum_decoder", "drum_prior_low"]))
def test_commands_with_damaged_sidecars_exit_cleanly(models_copy, tmp_path, data, name):
    original = json.loads((models_copy / f"{name}.onnx.json").read_text())
    text = data.draw(damaged_sidecars(original))
    if name.startswith("letters"):
        out = tmp_path / "q.png"
        command, args = fontgen, ["render", "--letter", "Q", "--model", name]
    else:
        out = tmp_path / "g.mid"
        command, args = drumgen, ["sample", "--style", "rock", "--bars", "2", "--seed", "0"]
    out.unlink(missing_ok=True)
    with sidecar_text(models_copy, name, text), memory_bound():
        result = CliRunner().invoke(command, args + ["--models", str(models_copy), "--out", str(out)])
    clean_exit(result, out)


# ----------------------------------------------------------------------------- MIDI bytes

DRUM_PITCHES = sorted(PITCH_TO_INSTRUMENT)


def _varint(value: int) -> bytes:
    return bytes(mido.midifiles.meta.encode_variable_int(value))


@st.composite
def midi_tracks(draw, max_delta: int, pristine: bool) -> bytes:
    """One MTrk chunk of random events: mostly drum notes, with running status, other channels,
    tempos, time signatures, text and sysex; a damaged track adds junk bytes, data bytes over 127,
    metas of the wrong length and a chunk size that lies."""
    kinds = ["drum"] * 4 + ["running", "other", "tempo", "signature", "text", "sysex"]
    if not pristine:
        kinds += ["junk", "bad note", "bad tempo"]
    events, channel_status = bytearray(), None
    deltas = st.integers(0, max_delta) if draw(st.integers(0, 5)) == 0 else st.integers(0, min(480, max_delta))
    meters = [(4, 2), (3, 2), (7, 2), (4, 3)] if draw(st.integers(0, 5)) == 0 else [(4, 2)]
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(kinds))
        events += _varint(draw(deltas))
        if kind == "running" and channel_status is None:
            kind = "drum"
        if kind == "drum":
            channel_status = 0x99
            events += bytes([0x99, draw(st.sampled_from(DRUM_PITCHES)), draw(st.integers(0, 127))])
        elif kind == "running":
            events += bytes([draw(st.integers(0, 127)), draw(st.integers(0, 127))][: 2 if channel_status < 0xC0 else 1])
        elif kind == "other":
            channel_status = draw(st.sampled_from([0x80, 0x90, 0xB0])) | draw(st.integers(0, 15))
            events += bytes([channel_status, draw(st.integers(0, 127)), draw(st.integers(0, 127))])
        elif kind == "tempo":
            events += b"\xff\x51\x03" + draw(st.integers(0, 2**24 - 1)).to_bytes(3, "big")
        elif kind == "signature":
            numerator, power = draw(st.sampled_from(meters))
            events += bytes([0xFF, 0x58, 4, numerator, power, 24, 8])
        elif kind in ("text", "sysex"):
            payload = draw(st.binary(max_size=8).map(lambda b: bytes(x & 0x7F for x in b)))
            events += (b"\xff\x01" if kind == "text" else b"\xf0") + _varint(len(payload)) + payload
            channel_status = None if kind == "sysex" else channel_status  # a sysex sets mido's running status
        elif kind == "bad note":
            events += bytes([draw(st.integers(0x80, 0xEF))]) + draw(st.binary(min_size=1, max_size=2))
        elif kind == "bad tempo":
            events += b"\xff\x51" + draw(st.sampled_from([b"\x02\x07\xa1", b"\x00", b"\x04\x00\x00\x00\x00"]))
        else:
            events += draw(st.binary(min_size=1, max_size=4))
    events += b"\x00\xff\x2f\x00"
    size = len(events) if pristine or draw(st.integers(0, 5)) else draw(st.integers(0, len(events) + 8))
    return b"MTrk" + size.to_bytes(4, "big") + bytes(events)


@st.composite
def midi_files(draw, max_delta: int = 2**28 - 1, min_ticks_per_beat: int = -32768) -> bytes:
    """Standard MIDI Files built from random events, half of them pristine; the others with damaged
    tracks, a header whose track count or resolution lies, or a byte flipped or the file cut short."""
    pristine = draw(st.booleans())
    tracks = draw(st.lists(midi_tracks(max_delta, pristine), min_size=1 if pristine else 0, max_size=3))
    declared = len(tracks) if pristine or draw(st.integers(0, 5)) else draw(st.integers(0, 5))
    resolutions = st.sampled_from([96, 480, 960]) | st.integers(max(min_ticks_per_beat, 1), 32767)
    if not pristine:
        resolutions |= st.integers(max(min_ticks_per_beat, -32768), 32767)
    header = b"MThd\x00\x00\x00\x06" + draw(st.integers(0, 1)).to_bytes(2, "big") + declared.to_bytes(2, "big") \
        + draw(resolutions).to_bytes(2, "big", signed=True)
    data = header + b"".join(tracks)
    if not pristine and draw(st.booleans()):  # flip a byte or cut the file short
        position = draw(st.integers(0, len(data) - 1))
        data = data[:position] + bytes([draw(st.integers(0, 255))]) + data[position + 1:] \
            if draw(st.booleans()) else data[:position]
    return data


@FAST
@given(data=midi_files())
def test_count_events_is_what_mido_reads(data):
    counted = midi_io.count_events(data, stop_after=10**9)
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except Exception:  # noqa: BLE001 - mido's many error types; it failed where our count stops mattering
        event("mido refused")
        return
    event("mido parsed")
    assert counted == sum(len(track) for track in midi.tracks)


@FAST
@given(data=midi_files())
def test_read_midi_gives_bars_or_one_line(tmp_path, data):
    path = tmp_path / "in.mid"
    path.write_bytes(data)
    with memory_bound():
        try:
            track = midi_io.read_midi(path)
        except midi_io.MidiFileError as error:
            assert one_line(error).startswith(str(path))
            event(str(error)[len(str(path)) + 2:][:24])
            return
    event("read")
    assert 1 <= len(track.grids) <= midi_io.MAX_BARS and track.grids.any()
    assert track.grids.shape[1:] == (STEPS, len(INSTRUMENTS)) and math.isfinite(track.bpm) and track.bpm > 0


def _drumgen_on_bytes(tmp_path: Path, data: bytes, command: str, *options: str, out: Path | None = None):
    """(input path, result) of `drumgen COMMAND IN.mid OPTIONS [--out OUT]` on ``data``, within the memory bound."""
    path = tmp_path / "in.mid"
    path.write_bytes(data)
    if out is not None:
        out.unlink(missing_ok=True)
        options += ("--out", str(out))
    with memory_bound():
        return path, CliRunner().invoke(drumgen, [command, str(path), *options])


@COMMANDS
@given(data=midi_files())
def test_drumgen_show_of_any_bytes(tmp_path, data):
    clean_exit(_drumgen_on_bytes(tmp_path, data, "show")[1])


@COMMANDS
@given(data=midi_files(max_delta=1000, min_ticks_per_beat=96))
def test_drumgen_transfer_of_any_bytes(tiny_models, tmp_path, data):
    """Short files (deltas under 11 beats at 96 ticks or more), so an example decodes at most a few hundred bars."""
    out = tmp_path / "out.mid"
    path, result = _drumgen_on_bytes(tmp_path, data, "transfer", "--to", "rock", "--models", str(tiny_models), out=out)
    if clean_exit(result, out):  # as many bars (which may hold no notes: the tiny models are untrained)
        assert sum(m.time for m in mido.MidiFile(out).tracks[0]) == len(midi_io.read_midi(path).grids) * 4 * 480
