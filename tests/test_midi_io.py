"""MIDI <-> grid: round trips, GM mapping, swing/humanise timing, and clear errors for bad files."""
from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import mido
from mido.midifiles.meta import encode_variable_int
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgegen.runtime import midi_io
from edgegen.runtime.drum_spec import DRUM_CHANNEL, GM_READ_PITCHES, GM_WRITE_PITCHES, INSTRUMENTS, STEPS
from edgegen.runtime.files import OutputError
from edgegen.runtime.midi_io import (
    MidiFileError,
    bar_events,
    grids_to_midi,
    load_note_map,
    read_midi,
    write_midi,
)

DATA = Path(__file__).parent / "data"
GMD_FILES = sorted(DATA.glob("gmd_*.mid"))


def _every_cell_grids() -> np.ndarray:
    """Bar 0: every instrument on every step; bars 1-3: random sparse bars; bar 4: empty-but-one."""
    rng = np.random.default_rng(7)
    grids = np.zeros((5, STEPS, len(INSTRUMENTS)), dtype=bool)
    grids[0] = True
    grids[1:4] = rng.random((3, STEPS, len(INSTRUMENTS))) < 0.25
    grids[4, 15, 8] = True  # last step of the last bar, last instrument
    return grids


@pytest.mark.parametrize("bpm", [60.0, 97.5, 174.0])
@pytest.mark.parametrize("ticks_per_beat", [96, 220, 480, 960])
def test_round_trip_is_identical(tmp_path, bpm, ticks_per_beat):
    grids = _every_cell_grids()
    path = tmp_path / "bars.mid"
    write_midi(path, grids, bpm=bpm, ticks_per_beat=ticks_per_beat)
    track = read_midi(path)
    assert track.grids.shape == grids.shape
    assert np.array_equal(track.grids, grids)
    assert track.bpm == pytest.approx(bpm, rel=1e-3)
    assert track.ticks_per_beat == ticks_per_beat


def test_round_trip_keeps_velocities_and_survives_swing(tmp_path):
    grids = _every_cell_grids()
    velocities = np.where(grids, np.random.default_rng(1).integers(1, 128, grids.shape), 0).astype(np.uint8)
    write_midi(tmp_path / "v.mid", grids, velocities=velocities, swing=0.75)
    track = read_midi(tmp_path / "v.mid")
    assert np.array_equal(track.grids, grids)
    assert np.array_equal(track.velocities, velocities)


def test_round_trip_keeps_learned_velocities_and_offsets(tmp_path):
    """Velocities 0-1 come back as MIDI velocities; offsets (16ths) to within a tick (1/120 of a 16th at 480 ppq)."""
    rng = np.random.default_rng(2)
    grids = _every_cell_grids()
    grids[:, 0] = False  # a hit pushed early off the first step would be held at the bar start
    velocities = np.where(grids, rng.random(grids.shape), 0)
    offsets = np.where(grids, rng.uniform(-0.45, 0.45, grids.shape), 0)
    write_midi(tmp_path / "hvo.mid", grids, velocities=velocities, offsets=offsets)
    track = read_midi(tmp_path / "hvo.mid")
    assert np.array_equal(track.grids, grids)
    assert np.array_equal(track.velocities, np.where(grids, np.clip(np.round(velocities * 127), 1, 127), 0))
    assert np.abs(track.offsets - offsets).max() <= 0.5 / 120 + 1e-6
    assert np.abs(track.offsets[grids]).mean() > 0.2  # the feel survived
    write_midi(tmp_path / "grid.mid", grids, velocities=velocities, offsets=offsets, quantize=True)
    flat = read_midi(tmp_path / "grid.mid")
    assert np.array_equal(flat.velocities, track.velocities) and not flat.offsets.any()


def test_read_keeps_the_loudest_onset_of_a_cell_with_its_offset(tmp_path):
    path = tmp_path / "flam.mid"
    track = mido.MidiTrack()
    for tick, velocity in ((470, 40), (490, 110), (500, 60)):  # three snares around step 4 (480 ticks)
        track.append(mido.Message("note_on", note=38, velocity=velocity, channel=DRUM_CHANNEL, time=0))
        track[-1].time = tick - sum(m.time for m in track[:-1])
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track)
    midi.save(path)
    read = read_midi(path)
    assert read.grids[0, 4, 1] and read.grids.sum() == 1
    assert read.velocities[0, 4, 1] == 110 and read.offsets[0, 4, 1] == pytest.approx(10 / 120)


def test_bar_events_play_offsets_and_velocities_with_swing_on_top():
    grid = np.zeros((STEPS, len(INSTRUMENTS)), bool)
    grid[[0, 3, 8], 2] = True
    velocities = np.where(grid, 0.5, 0.0)
    velocities[8, 2] = 1.0
    offsets = np.where(grid, 0.0, 0.0)
    offsets[3, 2], offsets[8, 2] = 0.2, -0.1
    plain = bar_events(grid, velocities, offsets)
    assert [t for t, _, _ in plain] == pytest.approx([0.0, 3.2, 7.9])
    assert [v for _, _, v in plain] == [64, 64, 127]
    swung = bar_events(grid, velocities, offsets, swing=0.5)
    assert [t for t, _, _ in swung] == pytest.approx([0.0, 3.45, 7.9])  # the odd step swings, plus its offset
    assert [t for t, _, _ in bar_events(grid, velocities, offsets, quantize=True)] == [0.0, 3.0, 8.0]
    as_midi = bar_events(grid, np.where(grid, 64, 0).astype(np.uint8))  # integers are MIDI velocities already
    assert [v for _, _, v in as_midi] == [64, 64, 64]


def test_trailing_empty_bars_are_kept(tmp_path):
    grids = np.zeros((3, STEPS, len(INSTRUMENTS)), dtype=bool)
    grids[0, 0, 0] = True
    write_midi(tmp_path / "e.mid", grids)
    assert read_midi(tmp_path / "e.mid").grids.shape[0] == 3


def _file_with_notes(path: Path, notes: list[tuple[int, int, int]], ticks_per_beat: int = 480,
                     time_signature: tuple[int, int] | None = (4, 4)) -> Path:
    """notes: (tick, pitch, channel)."""
    track = mido.MidiTrack()
    if time_signature:
        track.append(mido.MetaMessage("time_signature", numerator=time_signature[0], denominator=time_signature[1]))
    now = 0
    for tick, pitch, channel in sorted(notes):
        track.append(mido.Message("note_on", note=pitch, velocity=90, channel=channel, time=tick - now))
        track.append(mido.Message("note_off", note=pitch, velocity=0, channel=channel, time=10))
        now = tick + 10
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    midi.tracks.append(track)
    midi.save(path)
    return path


def test_every_gm_read_pitch_maps_to_its_class(tmp_path):
    pitches = [(name, p) for name in INSTRUMENTS for p in GM_READ_PITCHES[name]]
    ticks_per_step = 120
    notes = [(i * ticks_per_step, p, DRUM_CHANNEL) for i, (_, p) in enumerate(pitches)]
    track = read_midi(_file_with_notes(tmp_path / "gm.mid", notes))
    cells = track.grids.reshape(-1, len(INSTRUMENTS))
    for i, (name, _) in enumerate(pitches):
        assert cells[i].tolist() == [n == name for n in INSTRUMENTS], (i, name)


def test_onsets_quantise_to_the_nearest_sixteenth(tmp_path):
    # 480 ticks per beat -> 120 per step; 59 ticks late stays, 61 ticks late moves to the next step.
    notes = [(120 * 2 + 59, 36, DRUM_CHANNEL), (120 * 5 + 61, 38, DRUM_CHANNEL), (120 * 16 - 10, 42, DRUM_CHANNEL)]
    grids = read_midi(_file_with_notes(tmp_path / "q.mid", notes)).grids
    assert grids[0, 2, 0] and grids[0, 6, 1]
    assert grids[1, 0, 2]  # just before the bar line rounds into the next bar
    assert grids.sum() == 3


def test_channel_choice(tmp_path):
    path = _file_with_notes(tmp_path / "ch.mid", [(0, 36, 0), (120, 38, DRUM_CHANNEL)])
    assert read_midi(path).grids.sum() == 1
    assert read_midi(path, channel=None).grids.sum() == 2


def test_written_file_uses_channel_10_and_the_note_map(tmp_path):
    grids = np.zeros((1, STEPS, len(INSTRUMENTS)), dtype=bool)
    grids[0, 0, :] = True
    note_map_path = tmp_path / "map.json"
    note_map_path.write_text(json.dumps({"kick": 24, "clap": 75}))
    write_midi(tmp_path / "m.mid", grids, note_map=load_note_map(note_map_path))
    ons = [m for m in mido.MidiFile(tmp_path / "m.mid") if m.type == "note_on"]
    assert {m.channel for m in ons} == {DRUM_CHANNEL}
    expected = dict(GM_WRITE_PITCHES, kick=24, clap=75)
    assert sorted(m.note for m in ons) == sorted(expected.values())


def test_real_gmd_files_read_as_4_4_bars():
    for path in GMD_FILES:
        track = read_midi(path)
        assert track.grids.ndim == 3 and track.grids.shape[1:] == (STEPS, len(INSTRUMENTS))
        assert track.grids.any() and track.ticks_per_beat == 480


# ----------------------------------------------------------------------------- timing


def test_bar_events_swing_delays_only_off_beats():
    grid = np.zeros((STEPS, len(INSTRUMENTS)), dtype=bool)
    grid[:, 2] = True
    times = [t for t, _, _ in bar_events(grid, swing=0.5)]
    assert times == [s + (0.25 if s % 2 else 0.0) for s in range(STEPS)]


def test_bar_events_humanise_is_seeded_and_bounded():
    grid = np.zeros((STEPS, len(INSTRUMENTS)), dtype=bool)
    grid[:, 0] = grid[::4, 1] = True
    a = bar_events(grid, humanize=1.0, rng=np.random.default_rng(3))
    b = bar_events(grid, humanize=1.0, rng=np.random.default_rng(3))
    plain = bar_events(grid)
    assert a == b
    assert a != plain
    assert all(abs(t - round(t)) <= 0.25 and 1 <= v <= 127 for t, _, v in a)
    assert all(v == 100 for _, _, v in plain)
    # accents: humanised on-beat hits are louder on average than 16th off-beats
    on = np.mean([v for t, n, v in a if round(t) % 4 == 0 and n == 36])
    off = np.mean([v for t, n, v in a if round(t) % 2 == 1 and n == 36])
    assert on > off


def test_bar_events_rejects_bad_settings():
    grid = np.zeros((STEPS, len(INSTRUMENTS)), dtype=bool)
    with pytest.raises(ValueError):
        bar_events(grid, swing=0.9)
    with pytest.raises(ValueError):
        bar_events(grid, humanize=-0.1)
    with pytest.raises(ValueError):
        bar_events(np.zeros((8, 9), bool))


# ----------------------------------------------------------------------------- errors


def test_non_midi_and_truncated_files_raise_our_error(tmp_path):
    text = tmp_path / "notes.mid"
    text.write_text("this is not a MIDI file\n")
    truncated = tmp_path / "cut.mid"
    truncated.write_bytes(GMD_FILES[0].read_bytes()[:40])
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    for path in (text, truncated, empty, tmp_path / "missing.mid"):
        with pytest.raises(MidiFileError) as info:
            read_midi(path)
        assert str(path.name) in str(info.value) and "\n" not in str(info.value)


def test_file_without_drum_notes_raises(tmp_path):
    only_piano = _file_with_notes(tmp_path / "piano.mid", [(0, 60, 0), (120, 64, 0)])
    with pytest.raises(MidiFileError, match="no drum notes"):
        read_midi(only_piano)
    unmapped = _file_with_notes(tmp_path / "odd.mid", [(0, 80, DRUM_CHANNEL)])
    with pytest.raises(MidiFileError, match="no drum notes"):
        read_midi(unmapped)


def test_three_four_file_raises(tmp_path):
    path = _file_with_notes(tmp_path / "waltz.mid", [(0, 36, DRUM_CHANNEL)], time_signature=(3, 4))
    with pytest.raises(MidiFileError, match="3/4"):
        read_midi(path)


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"cowbell": 56}', '{"kick": 200}', '{"kick": "36"}'])
def test_bad_note_maps_raise(tmp_path, content):
    path = tmp_path / "map.json"
    path.write_text(content)
    with pytest.raises(MidiFileError):
        load_note_map(path)


def test_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(OutputError):
        write_midi(tmp_path / "no_such_folder" / "x.mid", _every_cell_grids())
    with pytest.raises(ValueError):
        write_midi(tmp_path / "bad.mid", np.zeros((2, 8, 9), bool))
    assert list(tmp_path.iterdir()) == []


def test_grids_to_midi_rejects_bad_bpm():
    with pytest.raises(ValueError):
        grids_to_midi(_every_cell_grids(), bpm=0)


# ----------------------------------------------------------------------------- fuzz

mutation = st.tuples(st.sampled_from(["set", "insert", "delete"]), st.integers(0, 10**6), st.integers(0, 255))


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.sampled_from(range(max(1, len(GMD_FILES)))), mutations=st.lists(mutation, min_size=1, max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 10**6)))
def test_fuzzed_midi_bytes_raise_only_our_error(tmp_path, source, mutations, cut):
    data = bytearray(GMD_FILES[source].read_bytes())
    for op, position, value in mutations:
        position %= max(len(data), 1)
        if op == "set" and data:
            data[position] = value
        elif op == "insert":
            data.insert(position, value)
        elif data:
            del data[position]
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    path = tmp_path / "fuzz.mid"
    path.write_bytes(bytes(data))
    try:
        track = read_midi(path)
    except MidiFileError:
        return
    assert track.grids.shape[1:] == (STEPS, len(INSTRUMENTS)) and track.grids.any()


# ----------------------------------------------------------------------------- input limits and what they cost


def _smf(track: bytes, ticks_per_beat: int = 480) -> bytes:
    """A type-0 Standard MIDI File around raw track bytes."""
    return b"MThd" + struct.pack(">LhhH", 6, 0, 1, ticks_per_beat) + b"MTrk" + struct.pack(">L", len(track)) + track


END_OF_TRACK = b"\x00\xff\x2f\x00"


def _kick_at_bar(bar: int) -> bytes:
    """33 bytes: one kick at the start of ``bar`` (480 ticks per beat)."""
    return _smf(bytes(encode_variable_int(bar * STEPS * 120)) + b"\x99\x24\x64" + END_OF_TRACK)


def test_a_tiny_file_cannot_ask_for_more_bars_than_the_limit(tmp_path):
    last = tmp_path / "last.mid"
    last.write_bytes(_kick_at_bar(midi_io.MAX_BARS - 1))
    assert read_midi(last).grids.shape == (midi_io.MAX_BARS, STEPS, len(INSTRUMENTS))
    far = tmp_path / "far.mid"
    far.write_bytes(_kick_at_bar(9_999))
    assert len(far.read_bytes()) < 40
    with pytest.raises(MidiFileError) as info:
        read_midi(far)
    assert str(info.value) == f"{far}: 10,000 bars is more than the 2,048 a drum file may have"


def test_events_are_counted_on_the_bytes_and_refused_before_mido_builds_them(tmp_path):
    path = tmp_path / "many.mid"
    # running status: 3 bytes per kick, so the byte limit alone would let 700,000 events through
    path.write_bytes(_smf(b"\x00\x99\x24\x64" + b"\x00\x24\x64" * midi_io.MAX_EVENTS + END_OF_TRACK))
    assert path.stat().st_size < midi_io.MAX_FILE_BYTES
    probe = ("import resource, sys\n"
             "from edgegen.runtime.midi_io import MidiFileError, read_midi\n"
             "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
             "try:\n    read_midi(sys.argv[1])\nexcept MidiFileError as error:\n    print(error)\n"
             "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)\n")
    message, grown_mb = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True,
                                       check=True).stdout.splitlines()
    assert message == f"{path}: more than 600,000 MIDI events is too many for a drum file"
    assert float(grown_mb) < 20  # the bytes, not ~250 bytes of mido objects per event (150 MB)


def test_a_file_over_the_byte_limit_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.mid"
    path.write_bytes(_kick_at_bar(0).ljust(midi_io.MAX_FILE_BYTES + 1, b"\0"))  # mido ignores bytes after the tracks
    with pytest.raises(MidiFileError) as info:
        read_midi(path)
    assert str(info.value) == f"{path}: 2,097,153 bytes is more than the 2,097,152 allowed"


def test_devices_pipes_and_folders_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "pipe.mid"
    os.mkfifo(fifo)  # opening a pipe without a writer would block for ever
    for path in (Path("/dev/zero"), fifo, tmp_path):
        with pytest.raises(MidiFileError) as info:
            read_midi(path)
        assert str(info.value) == f"{path}: not a regular file (a folder, device or pipe)"


def test_count_events_agrees_with_mido_on_real_files():
    for path in GMD_FILES:
        data = path.read_bytes()
        assert midi_io.count_events(data, stop_after=10**9) == sum(len(t) for t in mido.MidiFile(path).tracks)


def test_written_bytes_are_those_mido_writes_for_the_same_messages():
    """midi_bytes encodes without mido objects; mido re-saving the parsed file gives the same bytes."""
    grids = _every_cell_grids()
    velocities = np.where(grids, np.random.default_rng(2).integers(1, 128, grids.shape), 0).astype(np.uint8)
    for options in ({}, {"humanize": 1.0, "seed": 4, "swing": 0.5}, {"velocities": velocities, "ticks_per_beat": 1}):
        data = midi_io.midi_bytes(grids, **options)
        again = io.BytesIO()
        mido.MidiFile(file=io.BytesIO(data)).save(file=again)
        assert again.getvalue() == data, options


def _peak_rss_mb(*commands: list[str]) -> list[tuple[int, str, float]]:
    """(exit code, stderr, peak RSS in MB) of each `drumgen ARGS`, run side by side, each in a fresh
    process with a fresh parent (so RUSAGE_CHILDREN sees that one child, not the session's earlier ones)."""
    probe = ("import resource, subprocess, sys\n"
             "r = subprocess.run([sys.executable, '-c', 'from edgegen.cli.drumgen import main; main()'] + sys.argv[1:],"
             " capture_output=True, text=True)\n"
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
             "sys.stdout.write(r.stderr)\n")
    running = [subprocess.Popen([sys.executable, "-c", probe, *args], stdout=subprocess.PIPE, text=True)
               for args in commands]
    results = []
    for process in running:
        head, _, stderr = process.communicate()[0].partition("\n")
        code, kilobytes = head.split()
        results.append((int(code), stderr, int(kilobytes) / 1024))
    return results


MEMORY_BOUND_MB = 300  # what README promises for any accepted input (measured: show ~160 MB, transfer ~230 MB)


def test_the_largest_accepted_file_stays_under_the_memory_bound(tmp_path):
    """A file at the bar limit with nearly the most events: `show`, and fit `transfer` (128 candidates
    decoded per bar, and the tiny models' dense output is about the longest file to write)."""
    from tiny_runs import exported_models

    path = tmp_path / "long.mid"
    write_midi(path, np.ones((midi_io.MAX_BARS, STEPS, len(INSTRUMENTS)), bool))  # every cell: the most events
    assert midi_io.MAX_BARS * STEPS * len(INSTRUMENTS) * 2 > 0.98 * midi_io.MAX_EVENTS
    out = tmp_path / "out.mid"
    commands = (["show", str(path)],
                ["transfer", str(path), "--to", "rock", "--out", str(out), "--models", str(exported_models()[1])])
    for args, (code, stderr, peak) in zip(commands, _peak_rss_mb(*commands)):
        assert code == 0, stderr
        assert peak < MEMORY_BOUND_MB, (args[0], peak)
    assert out.read_bytes().startswith(b"MThd")


@pytest.mark.parametrize("content, problem", [
    ("[" * 20_000 + "]" * 20_000, "not a JSON note map (JSON nested more than 32 levels deep)"),
    ('{"kick": NaN}', "not a JSON note map (NaN is not a number JSON allows)"),
    ('{"kick": 1e999}', "not a JSON note map (1e999 is out of the range of a float)"),
    ('{"kick": 36.0}', "pitch for 'kick' must be an integer 0-127, got 36.0"),
    ('{"kick": ' + "9" * 5000 + "}", "not a JSON note map (not valid JSON: an integer of more than 4,300 digits)"),
    ('"' + '\\"' * 30_000, "not a JSON note map (not valid JSON: unterminated string starting at (line 1, column 1))"),
    (" " * (midi_io.MAX_NOTE_MAP_BYTES + 1), "not a JSON note map (65,537 bytes is more than the 65,536 allowed)"),
])
def test_hostile_note_maps_are_one_line(tmp_path, content, problem):
    path = tmp_path / "map.json"
    path.write_text(content)
    started = time.process_time()
    with pytest.raises(MidiFileError) as info:
        load_note_map(path)
    assert str(info.value) == f"{path}: {problem}"
    assert time.process_time() - started < 1.0  # a quadratic scan of unterminated strings takes 9 s


def test_a_note_map_that_is_a_device_or_a_pipe_is_refused(tmp_path):
    fifo = tmp_path / "map.json"
    os.mkfifo(fifo)
    for path in (Path("/dev/zero"), fifo):
        with pytest.raises(MidiFileError, match="not a regular file"):
            load_note_map(path)
