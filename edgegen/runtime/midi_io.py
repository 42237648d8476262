"""MIDI files <-> drum grids [n_bars, 16, 9] (DESIGN section 3.2), with mido only.

Torch-free: the runtime reads a user's groove for style transfer and writes
generated bars, and the training side builds its corpus with the same reader,
so a bar means the same thing everywhere.

Reading quantises every note-on to the nearest 16th and maps General MIDI drum
pitches to the 9 classes; only 4/4 is accepted. Reading also keeps, per cell, the
loudest onset's velocity and its offset from the grid (the performance's microtiming).
Writing puts one pitch per class on channel 10, with the bars' velocities (0-1) and
offsets (in 16ths) when given, and optional swing and humanisation on top.
:func:`bar_events` is the pure timing core that both the file writer and the
live player use, so a file and a live performance of the same bar agree.
"""
from __future__ import annotations

import io
import math
import os
import struct
from array import array
from dataclasses import dataclass

import mido
import numpy as np

from edgegen.runtime import portable_random
from edgegen.runtime.drum_spec import (
    DRUM_CHANNEL,
    GM_WRITE_PITCHES,
    INSTRUMENTS,
    PITCH_TO_INSTRUMENT,
    STEPS,
    STEPS_PER_BEAT,
)
from edgegen.runtime.errors import first_line
from edgegen.runtime.files import atomic_write_bytes
from edgegen.runtime.input_files import InputError, MissingInputError, read_bounded, read_json

# Limits on a MIDI file we read, checked before the work they bound. Any file within them costs
# `drumgen show` and `drumgen transfer` under 300 MB and seconds of CPU (measured at the limits: ~200 MB
# and ~250 MB; tests/test_midi_io.py holds them to the bound).
MAX_FILE_BYTES = 2 * 1024 * 1024
"""Bytes per file: 13 times the largest Groove MIDI Dataset file (155 KB); checked before parsing."""
MAX_EVENTS = 600_000
"""MIDI events (messages) per file, counted on the raw bytes before mido builds ~250 bytes of objects
per event: 14 times GMD's largest file (42,242), and room for the densest file edgegen writes
(MAX_BARS bars with every cell a hit: 589,827 events, 1.8 MB)."""
MAX_BARS = 2048
"""Bars per file: over an hour of 4/4 at 120 BPM, 3 times GMD's longest performance (639 bars).
"fit" transfer decodes bars in batches, so its memory does not grow with this; its time does."""
MAX_NOTE_MAP_BYTES = 64 * 1024
"""A note map is a dozen entries; anything larger is not one."""
MAX_SWING = 0.75
MIN_BPM, MAX_BPM = 4.0, 1000.0  # a MIDI tempo holds at most 16.7 s per beat (3.6 BPM)
DEFAULT_VELOCITY = 100
MAX_OFFSET = 0.49  # steps: a note stays nearer its own 16th than the next, so a reader quantises it back there
NOTE_LENGTH_STEPS = 0.5  # drums ignore note length; half a 16th keeps note-offs inside the cell


class MidiFileError(ValueError):
    """A MIDI file or note map we cannot use; the message is one line meant for the user."""


@dataclass
class DrumTrack:
    """What :func:`read_midi` found in a file."""

    grids: np.ndarray  # [n_bars, 16, 9] bool, True where an onset falls in the cell
    velocities: np.ndarray  # [n_bars, 16, 9] uint8, loudest onset per cell, 0 where empty
    offsets: np.ndarray  # [n_bars, 16, 9] float32, that onset's distance from its 16th in steps (-0.5..0.5), 0 where empty
    bpm: float  # from the first set_tempo (120 if the file has none)
    ticks_per_beat: int  # the file's resolution


# ----------------------------------------------------------------------------- reading


def _open_midi(path: str | os.PathLike) -> mido.MidiFile:
    """Parse with mido within the limits above, turning every way a file can be broken into one MidiFileError."""
    try:
        data = read_bounded(path, MAX_FILE_BYTES)
    except InputError as error:
        raise MidiFileError(f"{path}: {error}") from None
    if count_events(data, stop_after=MAX_EVENTS) > MAX_EVENTS:
        raise MidiFileError(f"{path}: more than {MAX_EVENTS:,} MIDI events is too many for a drum file")
    try:
        return mido.MidiFile(file=io.BytesIO(data))
    except Exception as exc:  # mido raises OSError, EOFError, ValueError, KeyError, IndexError...
        raise MidiFileError(f"{path}: not a readable MIDI file ({first_line(exc)})") from None


# Length in bytes, status byte included, of each message mido reads from a track (its SPEC_BY_STATUS).
_MESSAGE_BYTES = {**{status: 3 for status in range(0x80, 0xF0)}, **{status: 2 for status in range(0xC0, 0xE0)},
                  0xF1: 2, 0xF2: 3, 0xF3: 2, 0xF6: 1, 0xF8: 1, 0xFA: 1, 0xFB: 1, 0xFC: 1, 0xFE: 1}
_SYSEX = (0xF0, 0xF7)


def count_events(data: bytes, stop_after: int) -> int:
    """The number of events mido reads from Standard MIDI File bytes; counting stops past ``stop_after``.

    Steps through the track chunks exactly as mido's reader does (delta times, running status,
    meta and sysex lengths) without building messages, so a file of a million tiny events is
    refused in a fraction of a second instead of costing a gigabyte. Where the bytes stop making
    sense it stops counting: mido fails at that same point (it reads the events before it, which
    are counted).
    """
    end, count = len(data), 0

    def varint(pos: int) -> tuple[int, int]:  # mido reads variable-length numbers of any length
        value = 0
        while True:
            byte = data[pos]  # IndexError at the end of the data
            pos += 1
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                return value, pos

    try:
        if data[:4] != b"MThd" or end < 14:
            return 0
        tracks = int.from_bytes(data[10:12], "big", signed=True)
        pos = 8 + int.from_bytes(data[4:8], "big")
        for _ in range(tracks):
            if data[pos:pos + 4] != b"MTrk" or pos + 8 > end:
                return count
            size, pos = int.from_bytes(data[pos + 4:pos + 8], "big"), pos + 8
            start, status = pos, None
            while pos - start != size:  # as mido: past a chunk's end it reads on, to fail at the end of the file
                while data[pos] >= 0x80:  # the delta time (its value does not matter here)
                    pos += 1
                byte = data[pos + 1]
                pos += 1
                if byte < 0x80:  # running status: this is already the first data byte
                    if status is None:
                        return count
                    pos += 1
                    if status in _SYSEX:
                        length, pos = varint(pos)
                        pos += length
                    else:
                        pos += max(_MESSAGE_BYTES[status] - 2, 0)
                elif byte == 0xFF:  # meta: type, length, data; leaves the running status alone
                    length, pos = varint(pos + 2)
                    pos += length
                elif byte in _SYSEX:
                    status = byte
                    length, pos = varint(pos + 1)
                    pos += length
                else:
                    status = byte
                    pos += _MESSAGE_BYTES[byte]
                count += 1
                if count > stop_after or pos > end:
                    return count
    except (IndexError, KeyError):  # truncated, or a status byte mido does not know either
        pass
    return count


def read_midi(path: str | os.PathLike, channel: int | None = DRUM_CHANNEL) -> DrumTrack:
    """Read a drum performance as bars of 16th-note grids.

    ``channel`` is the mido channel to read (9 = GM drums); None reads every
    channel, for files that put drums elsewhere. Notes on pitches outside the
    GM drum map are ignored. Raises MidiFileError for unreadable files, files
    without drum notes and time signatures other than 4/4, and files beyond the
    limits above (MAX_FILE_BYTES, MAX_EVENTS, MAX_BARS).

    Tracks run in parallel (as in type 1). Each is read on its own, keeping only
    onsets in compact arrays: where several tempos or time signatures compete,
    the earliest wins (ties: the earlier track, then the earlier message).
    """
    midi = _open_midi(path)
    ticks_per_beat = midi.ticks_per_beat
    if not isinstance(ticks_per_beat, int) or ticks_per_beat <= 0:
        raise MidiFileError(f"{path}: unsupported time division {ticks_per_beat!r} (SMPTE timing?)")

    tempo = signature = None  # ((tick, track, index), value) of the earliest set_tempo / time signature not 4/4
    onset_ticks, onset_cells = array("q"), array("H")  # per onset: tick; instrument << 8 | velocity
    end_tick = 0
    for track_index, track in enumerate(midi.tracks):
        tick = 0
        for index, msg in enumerate(track):
            tick += msg.time
            if msg.type == "note_on":
                if msg.velocity > 0 and (channel is None or msg.channel == channel):
                    instrument = PITCH_TO_INSTRUMENT.get(msg.note)
                    if instrument is not None:
                        onset_ticks.append(tick)
                        onset_cells.append(instrument << 8 | msg.velocity)
            elif msg.type == "set_tempo":
                if tempo is None or (tick, track_index, index) < tempo[0]:
                    tempo = ((tick, track_index, index), msg.tempo)
            elif msg.type == "time_signature" and (msg.numerator, msg.denominator) != (4, 4):
                if signature is None or (tick, track_index, index) < signature[0]:
                    signature = ((tick, track_index, index), f"{msg.numerator}/{msg.denominator}")
        end_tick = max(end_tick, tick)
        midi.tracks[track_index] = mido.MidiTrack()  # done with its messages: free them now
    if signature is not None:
        raise MidiFileError(f"{path}: time signature {signature[1]}; only 4/4 bars are supported")
    if not onset_ticks:
        where = "any channel" if channel is None else f"channel {channel + 1}"
        raise MidiFileError(f"{path}: no drum notes on {where}")

    ticks_per_step = ticks_per_beat / STEPS_PER_BEAT
    # nearest 16th, ties up; float64 as the scalar formula floor(tick / ticks_per_step + 0.5) gives
    steps = np.floor(np.frombuffer(onset_ticks, np.int64) / ticks_per_step + 0.5).astype(np.int64)
    last_bar = int(steps.max()) // STEPS
    n_bars = max(last_bar + 1, int(end_tick // (ticks_per_step * STEPS)))
    if n_bars > MAX_BARS:
        raise MidiFileError(f"{path}: {n_bars:,} bars is more than the {MAX_BARS:,} a drum file may have")
    cells = np.frombuffer(onset_cells, np.uint16)
    instrument, velocity = (cells >> 8).astype(np.int64), (cells & 0xFF).astype(np.uint8)
    offset = (np.frombuffer(onset_ticks, np.int64) / ticks_per_step - steps).astype(np.float32)  # [-0.5, 0.5)
    # one onset per cell: the loudest (the last of the cell's onsets sorted by velocity; ties: the later one)
    cell = steps * len(INSTRUMENTS) + instrument
    order = np.lexsort((np.arange(len(cell)), velocity, cell))
    last = order[np.r_[cell[order][1:] != cell[order][:-1], True]]
    where = (steps[last] // STEPS, steps[last] % STEPS, instrument[last])
    velocities = np.zeros((n_bars, STEPS, len(INSTRUMENTS)), dtype=np.uint8)
    offsets = np.zeros((n_bars, STEPS, len(INSTRUMENTS)), dtype=np.float32)
    velocities[where], offsets[where] = velocity[last], offset[last]
    bpm = float(mido.tempo2bpm(tempo[1])) if tempo and tempo[1] else 120.0
    return DrumTrack(grids=velocities > 0, velocities=velocities, offsets=offsets, bpm=bpm,
                     ticks_per_beat=ticks_per_beat)


def read_grids(path: str | os.PathLike, channel: int | None = DRUM_CHANNEL) -> np.ndarray:
    """Only the [n_bars, 16, 9] bool grids of :func:`read_midi`."""
    return read_midi(path, channel).grids


@dataclass
class DrumNotes:
    """What :func:`read_drum_notes` found: every drum onset at its real time, as a drum kit would hear it."""

    seconds: np.ndarray  # [n] float64 onset times from the start of the file, tempo map applied, sorted
    instruments: np.ndarray  # [n] int64 index into INSTRUMENTS
    velocities: np.ndarray  # [n] int64, 1-127
    end_seconds: float  # the file's last event (end of track included), >= every onset


def read_drum_notes(path: str | os.PathLike, channel: int | None = DRUM_CHANNEL, data: bytes | None = None,
                    note_map: dict[str, int] | None = None, require_notes: bool = True) -> DrumNotes:
    """Drum onsets with their exact times (no quantising) and velocities, for rendering audio.

    Same limits, channel rule and pitch map as :func:`read_midi` (pitches outside it are ignored),
    any meter. Every tempo change (from any track) applies from its tick on. ``data``: the file's
    bytes when they are only in memory (``path`` then just names it in messages); ``note_map``:
    pitches a drum-machine map gave the instruments, read before the GM ones. A file without drum
    notes is a MidiFileError unless ``require_notes`` is False (a generated bar may be silent).
    """
    if data is None:
        midi = _open_midi(path)
    else:
        try:
            midi = mido.MidiFile(file=io.BytesIO(data))
        except Exception as exc:
            raise MidiFileError(f"{path}: not a readable MIDI file ({first_line(exc)})") from None
    if not isinstance(midi.ticks_per_beat, int) or midi.ticks_per_beat <= 0:
        raise MidiFileError(f"{path}: unsupported time division {midi.ticks_per_beat!r} (SMPTE timing?)")
    pitches = {**PITCH_TO_INSTRUMENT, **{p: INSTRUMENTS.index(name) for name, p in (note_map or {}).items()}}
    onsets, tempos, end_tick = [], [(0, -1, -1, 500_000)], 0  # tempos: (tick, track, index, microseconds per beat)
    for track_index, track in enumerate(midi.tracks):
        tick = 0
        for index, msg in enumerate(track):
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0 and (channel is None or msg.channel == channel):
                if msg.note in pitches:
                    onsets.append((tick, pitches[msg.note], msg.velocity))
            elif msg.type == "set_tempo":
                tempos.append((tick, track_index, index, msg.tempo))
        end_tick = max(end_tick, tick)
    if not onsets and require_notes:
        where = "any channel" if channel is None else f"channel {channel + 1}"
        raise MidiFileError(f"{path}: no drum notes on {where}")
    tempos.sort()  # the last change at a tick is the one that holds from it
    tempo_ticks = np.array([t[0] for t in tempos], np.int64)
    seconds_per_tick = np.array([t[3] for t in tempos], np.float64) / 1e6 / midi.ticks_per_beat
    tempo_seconds = np.concatenate([[0.0], np.cumsum(np.diff(tempo_ticks) * seconds_per_tick[:-1])])

    def to_seconds(ticks: np.ndarray) -> np.ndarray:
        segment = np.searchsorted(tempo_ticks, ticks, side="right") - 1
        return tempo_seconds[segment] + (ticks - tempo_ticks[segment]) * seconds_per_tick[segment]

    onsets.sort(key=lambda onset: onset[0])
    ticks, instruments, velocities = np.array(onsets, np.int64).reshape(-1, 3).T
    return DrumNotes(seconds=to_seconds(ticks), instruments=instruments, velocities=velocities,
                     end_seconds=float(to_seconds(np.array([end_tick]))[0]))


# ----------------------------------------------------------------------------- note maps


def load_note_map(path: str | os.PathLike) -> dict[str, int]:
    """Read a user's JSON map {instrument_name: pitch}; classes it leaves out keep their GM pitch."""
    try:
        raw = read_json(path, MAX_NOTE_MAP_BYTES)
    except MissingInputError:
        raise MidiFileError(f"{path}: no such note map file") from None
    except InputError as error:
        raise MidiFileError(f"{path}: not a JSON note map ({error})") from None
    return check_note_map(raw, source=str(path))


def check_note_map(raw: object, source: str = "note map") -> dict[str, int]:
    """Validate {instrument_name: pitch 0-127} and fill in GM pitches for missing classes."""
    if not isinstance(raw, dict):
        raise MidiFileError(f"{source}: expected a JSON object {{instrument: pitch}}")
    unknown = sorted(set(raw) - set(INSTRUMENTS))
    if unknown:
        raise MidiFileError(f"{source}: unknown instrument(s) {unknown}; known: {list(INSTRUMENTS)}")
    note_map = dict(GM_WRITE_PITCHES)
    for name, pitch in raw.items():
        if isinstance(pitch, bool) or not isinstance(pitch, int) or not 0 <= pitch <= 127:
            raise MidiFileError(f"{source}: pitch for {name!r} must be an integer 0-127, got {pitch!r}")
        note_map[name] = pitch
    return note_map


# ----------------------------------------------------------------------------- writing


def accent_velocities(grid: np.ndarray, humanize: float = 0.0) -> np.ndarray:
    """Velocities [16, 9] uint8 for a bar without its own: flat, or accented on the beat when humanised.

    Humanise h in [0, 1] lowers 8th off-beats by 15h and 16th off-beats by 30h
    below DEFAULT_VELOCITY, the way a drummer leans on the beat.
    """
    steps = np.arange(STEPS)
    drop = np.where(steps % 4 == 0, 0.0, np.where(steps % 2 == 0, 15.0, 30.0)) * humanize
    vel = np.clip(np.round(DEFAULT_VELOCITY - drop), 1, 127).astype(np.uint8)
    return np.where(np.asarray(grid, bool), vel[:, None], 0).astype(np.uint8)


def midi_velocities(velocities: np.ndarray) -> np.ndarray:
    """Velocities as MIDI numbers 0-127 (int64): floats are read as 0-1 (the models' scale, x 127; any
    velocity above 0 plays at least at 1), integers (a MIDI file's own, or :func:`accent_velocities`) as
    MIDI velocities already."""
    velocities = np.asarray(velocities)
    if np.issubdtype(velocities.dtype, np.integer):
        return velocities.astype(np.int64)
    scaled = np.round(np.clip(np.nan_to_num(velocities.astype(np.float64)), 0.0, 1.0) * 127).astype(np.int64)
    return np.where(velocities > 0, np.maximum(scaled, 1), 0)  # the softest learned note is 1, not silence


def bar_events(
    grid: np.ndarray,
    velocities: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
    swing: float = 0.0,
    humanize: float = 0.0,
    rng: portable_random.PortableRandom | None = None,
    note_map: dict[str, int] | None = None,
    quantize: bool = False,
) -> list[tuple[float, int, int]]:
    """The note-ons of one bar as (time_in_steps, pitch, velocity), sorted by time.

    Pure (all randomness comes from ``rng``), so the file writer and the live
    player schedule identical notes. Time is in 16th steps from the bar start
    (0 <= t < 16; one beat = 4 steps).
    - ``velocities`` [16, 9]: floats in 0-1 (a model's), integers 1-127 (a file's),
      or None for :func:`accent_velocities`; a hit whose velocity is 0 plays at DEFAULT_VELOCITY.
    - ``offsets`` [16, 9]: each hit's distance from its 16th, in steps (-0.5..0.5, held
      within +-MAX_OFFSET; a drummer's microtiming), or None for none.
    - ``quantize``: the plain 16th grid (a machine feel, and exact times for tests): offsets,
      swing and humanise are all ignored; the velocities stay.
    - ``swing`` in [0, 0.75] delays every off-beat 16th (odd step) by swing/2
      of a step: 2/3 gives a triplet feel; on top of the offsets.
    - ``humanize`` in [0, 1] adds beat accents (when velocities is None),
      velocity jitter (sd 8h) and microtiming (sd 0.08h step, within +-0.25 step),
      drawn from ``rng`` (a fixed default seed when None, so output is repeatable):
      per hit, in (step, instrument) order, one normal for the time, then one for the velocity.
    - ``note_map`` {instrument: pitch}; GM_WRITE_PITCHES when None.
    A time that lands outside the bar is held at its edge (0 or just under 16).
    """
    grid = np.asarray(grid, dtype=bool)
    if grid.shape != (STEPS, len(INSTRUMENTS)):
        raise ValueError(f"a bar grid must have shape ({STEPS}, {len(INSTRUMENTS)}), got {grid.shape}")
    if not 0.0 <= swing <= MAX_SWING:
        raise ValueError(f"swing must be between 0 and {MAX_SWING}, got {swing}")
    if not 0.0 <= humanize <= 1.0:
        raise ValueError(f"humanize must be between 0 and 1, got {humanize}")
    pitches = check_note_map(note_map or {}) if note_map is not None else GM_WRITE_PITCHES
    if quantize:
        swing = humanize = 0.0
    if velocities is None:
        velocities = accent_velocities(grid, humanize)
    midi_velocity = midi_velocities(velocities).reshape(grid.shape)
    shift = np.zeros(grid.shape) if offsets is None or quantize else \
        np.clip(np.nan_to_num(np.asarray(offsets, np.float64).reshape(grid.shape)), -MAX_OFFSET, MAX_OFFSET)
    if humanize > 0 and rng is None:
        rng = portable_random.rng(0)

    events = []
    for step, inst in zip(*np.nonzero(grid)):
        time = float(step) + float(shift[step, inst]) + (swing / 2 if step % 2 == 1 else 0.0)
        velocity = int(midi_velocity[step, inst]) or DEFAULT_VELOCITY
        if humanize > 0:
            time += float(np.clip(rng.normal(0.0, 0.08 * humanize), -0.25, 0.25))
            velocity += int(round(rng.normal(0.0, 8.0 * humanize)))
        time = min(max(time, 0.0), STEPS - 1e-3)
        events.append((time, int(pitches[INSTRUMENTS[inst]]), int(np.clip(velocity, 1, 127))))
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def midi_bytes(
    grids: np.ndarray,
    bpm: float = 120.0,
    velocities: np.ndarray | None = None,
    swing: float = 0.0,
    humanize: float = 0.0,
    seed: int | None = None,
    note_map: dict[str, int] | None = None,
    ticks_per_beat: int = 480,
    offsets: np.ndarray | None = None,
    quantize: bool = False,
) -> bytes:
    """A type-0 Standard MIDI File of the bars [n_bars, 16, 9] on channel 10 (see :func:`bar_events`).

    ``velocities`` and ``offsets`` [n_bars, 16, 9] as :func:`bar_events` takes them per bar.

    Encoded here, byte for byte as mido writes it (running status included), because mido's
    message objects cost ~250 bytes each, and building a file with them takes 4 per note:
    hundreds of MB for a long file of dense bars; this takes 10 bytes per note.
    """
    grids = np.asarray(grids, dtype=bool)
    if grids.ndim == 2:
        grids = grids[None]
    if grids.ndim != 3 or grids.shape[1:] != (STEPS, len(INSTRUMENTS)):
        raise ValueError(f"grids must have shape (n_bars, {STEPS}, {len(INSTRUMENTS)}), got {grids.shape}")
    if not (math.isfinite(bpm) and MIN_BPM <= bpm <= MAX_BPM):
        raise ValueError(f"bpm must be between {MIN_BPM:g} and {MAX_BPM:g}, got {bpm}")
    if not 1 <= ticks_per_beat <= 0x7FFF:
        raise ValueError(f"ticks_per_beat must be between 1 and 32767, got {ticks_per_beat}")
    if velocities is not None:
        velocities = np.asarray(velocities).reshape(grids.shape)
    if offsets is not None:
        offsets = np.asarray(offsets).reshape(grids.shape)
    rng = portable_random.rng(seed)
    ticks_per_step = ticks_per_beat / STEPS_PER_BEAT
    note_ticks = max(1, int(ticks_per_step * NOTE_LENGTH_STEPS))

    # per note-on and note-off: 2 * tick + (1 for on, 0 for off), so note-offs sort first at equal ticks
    keys, notes = array("q"), array("H")  # and pitch << 8 | velocity
    for bar, grid in enumerate(grids):
        bar_vel = None if velocities is None else velocities[bar]
        bar_off = None if offsets is None else offsets[bar]
        for time, pitch, velocity in bar_events(grid, bar_vel, bar_off, swing, humanize, rng, note_map, quantize):
            start = int(round((bar * STEPS + time) * ticks_per_step))
            keys.extend((2 * start + 1, 2 * (start + note_ticks)))
            notes.extend((pitch << 8 | velocity, pitch << 8))
    keys_np, notes_np = np.frombuffer(keys, np.int64), np.frombuffer(notes, np.uint16)
    order = np.argsort(keys_np, kind="stable")  # equal keys stay in the order written

    track = bytearray(b"\x00\xff\x58\x04\x04\x02\x18\x08")  # time 0: 4/4 (24 clocks per click, 8 32nds per beat)
    track += b"\x00\xff\x51\x03" + mido.bpm2tempo(bpm).to_bytes(3, "big")  # time 0: set_tempo
    now, running = 0, None
    for first in range(0, len(order), 4096):  # Python ints for a slice at a time
        part = order[first:first + 4096]
        for key, note in zip(keys_np[part].tolist(), notes_np[part].tolist()):
            tick = key >> 1
            status = (0x90 if key & 1 else 0x80) | DRUM_CHANNEL
            track += _variable_int(tick - now)
            if status != running:
                track.append(status)
                running = status
            track += bytes((note >> 8, note & 0xFF))
            now = tick
    end = max(now, int(round(len(grids) * STEPS * ticks_per_step)))
    track += _variable_int(end - now) + b"\xff\x2f\x00"  # end_of_track
    header = struct.pack(">LhhH", 6, 0, 1, ticks_per_beat)  # 6 bytes: type 0, one track, resolution
    return b"MThd" + header + b"MTrk" + struct.pack(">L", len(track)) + bytes(track)


def _variable_int(value: int) -> bytes:
    """MIDI's variable-length quantity: 7 bits per byte, most significant first, high bit on all but the last."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def grids_to_midi(grids: np.ndarray, **options) -> mido.MidiFile:
    """:func:`midi_bytes` as a mido.MidiFile, for inspection."""
    return mido.MidiFile(file=io.BytesIO(midi_bytes(grids, **options)))


def write_midi(path: str | os.PathLike, grids: np.ndarray, **options) -> None:
    """Write bars to ``path`` atomically (no partial file on error); options as :func:`midi_bytes`."""
    atomic_write_bytes(path, midi_bytes(grids, **options))
