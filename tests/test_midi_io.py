"""MIDI <-> grid: round trips, GM mapping, swing/humanise timing, and clear errors for bad files."""
from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
