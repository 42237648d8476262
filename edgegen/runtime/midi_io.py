"""MIDI files <-> drum grids [n_bars, 16, 9] (DESIGN section 3.2), with mido only.

Torch-free: the runtime reads a user's groove for style transfer and writes
generated bars, and the training side builds its corpus with the same reader,
so a bar means the same thing everywhere.

Reading quantises every note-on to the nearest 16th and maps General MIDI drum
pitches to the 9 classes; only 4/4 is accepted. Writing puts one pitch per
class on channel 10, with optional velocities, swing and humanisation.
:func:`bar_events` is the pure timing core that both the file writer and the
live player use, so a file and a live performance of the same bar agree.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from edgegen.runtime.drum_spec import (
    DRUM_CHANNEL,
    GM_WRITE_PITCHES,
    INSTRUMENTS,
    PITCH_TO_INSTRUMENT,
    STEPS,
    STEPS_PER_BEAT,
)
from edgegen.runtime.errors import first_line
from edgegen.runtime.files import atomic_output

MAX_FILE_BYTES = 16 * 1024 * 1024  # far above any one-performance drum file; refuses junk early
MAX_BARS = 10_000  # a 4/4 piece longer than this is not a groove; protects memory on odd files
MAX_SWING = 0.75
DEFAULT_VELOCITY = 100
NOTE_LENGTH_STEPS = 0.5  # drums ignore note length; half a 16th keeps note-offs inside the cell


class MidiFileError(ValueError):
    """A MIDI file or note map we cannot use; the message is one line meant for the user."""


@dataclass
class DrumTrack:
    """What :func:`read_midi` found in a file."""

    grids: np.ndarray  # [n_bars, 16, 9] bool, True where an onset falls in the cell
    velocities: np.ndarray  # [n_bars, 16, 9] uint8, loudest onset per cell, 0 where empty
    bpm: float  # from the first set_tempo (120 if the file has none)
    ticks_per_beat: int  # the file's resolution


# ----------------------------------------------------------------------------- reading


def _open_midi(path: str | os.PathLike) -> mido.MidiFile:
    """Parse with mido, turning every way a file can be broken into one MidiFileError."""
    path = Path(path)
    if not path.is_file():
        raise MidiFileError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise MidiFileError(f"{path}: {size} bytes is too large for a drum MIDI file")
    try:
        return mido.MidiFile(path)
    except Exception as exc:  # mido raises OSError, EOFError, ValueError, KeyError, IndexError...
        raise MidiFileError(f"{path}: not a readable MIDI file ({first_line(exc)})") from None


def _absolute_messages(midi: mido.MidiFile) -> list[tuple[int, mido.Message]]:
    """All messages of all tracks with absolute tick times (tracks run in parallel, as in type 1)."""
    events = []
    for track in midi.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            events.append((tick, msg))
    events.sort(key=lambda pair: pair[0])
    return events


def read_midi(path: str | os.PathLike, channel: int | None = DRUM_CHANNEL) -> DrumTrack:
    """Read a drum performance as bars of 16th-note grids.

    ``channel`` is the mido channel to read (9 = GM drums); None reads every
    channel, for files that put drums elsewhere. Notes on pitches outside the
    GM drum map are ignored. Raises MidiFileError for unreadable files, files
    without drum notes and time signatures other than 4/4.
    """
    midi = _open_midi(path)
    ticks_per_beat = midi.ticks_per_beat
    if not isinstance(ticks_per_beat, int) or ticks_per_beat <= 0:
        raise MidiFileError(f"{path}: unsupported time division {ticks_per_beat!r} (SMPTE timing?)")
    events = _absolute_messages(midi)

    tempo = None
    onsets: list[tuple[int, int, int]] = []  # (tick, instrument, velocity)
    end_tick = 0
    for tick, msg in events:
        end_tick = max(end_tick, tick)
        if msg.type == "time_signature" and (msg.numerator, msg.denominator) != (4, 4):
            raise MidiFileError(
                f"{path}: time signature {msg.numerator}/{msg.denominator}; only 4/4 bars are supported"
            )
        if msg.type == "set_tempo" and tempo is None:
            tempo = msg.tempo
        if msg.type == "note_on" and msg.velocity > 0 and (channel is None or msg.channel == channel):
            instrument = PITCH_TO_INSTRUMENT.get(msg.note)
            if instrument is not None:
                onsets.append((tick, instrument, msg.velocity))
    if not onsets:
        where = "any channel" if channel is None else f"channel {channel + 1}"
        raise MidiFileError(f"{path}: no drum notes on {where}")

    ticks_per_step = ticks_per_beat / STEPS_PER_BEAT
    steps = [(int(math.floor(tick / ticks_per_step + 0.5)), inst, vel) for tick, inst, vel in onsets]
    last_bar = max(step for step, _, _ in steps) // STEPS
    n_bars = max(last_bar + 1, int(end_tick // (ticks_per_step * STEPS)))
    if n_bars > MAX_BARS:
        raise MidiFileError(f"{path}: {n_bars} bars is too long for a drum file")
    velocities = np.zeros((n_bars, STEPS, len(INSTRUMENTS)), dtype=np.uint8)
    for step, inst, vel in steps:
        bar, cell = divmod(step, STEPS)
        velocities[bar, cell, inst] = max(velocities[bar, cell, inst], vel)
    bpm = float(mido.tempo2bpm(tempo)) if tempo else 120.0
    return DrumTrack(grids=velocities > 0, velocities=velocities, bpm=bpm, ticks_per_beat=ticks_per_beat)


def read_grids(path: str | os.PathLike, channel: int | None = DRUM_CHANNEL) -> np.ndarray:
    """Only the [n_bars, 16, 9] bool grids of :func:`read_midi`."""
    return read_midi(path, channel).grids


# ----------------------------------------------------------------------------- note maps


def load_note_map(path: str | os.PathLike) -> dict[str, int]:
    """Read a user's JSON map {instrument_name: pitch}; classes it leaves out keep their GM pitch."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise MidiFileError(f"{path}: no such note map file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MidiFileError(f"{path}: not a JSON note map ({exc})") from None
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


def bar_events(
    grid: np.ndarray,
    velocities: np.ndarray | None = None,
    swing: float = 0.0,
    humanize: float = 0.0,
    rng: np.random.Generator | None = None,
    note_map: dict[str, int] | None = None,
) -> list[tuple[float, int, int]]:
    """The note-ons of one bar as (time_in_steps, pitch, velocity), sorted by time.

    Pure (all randomness comes from ``rng``), so the file writer and the live
    player schedule identical notes. Time is in 16th steps from the bar start
    (0 <= t < 16; one beat = 4 steps).
    - ``velocities`` [16, 9] (1-127 where hits) or None for :func:`accent_velocities`.
    - ``swing`` in [0, 0.75] delays every off-beat 16th (odd step) by swing/2
      of a step: 2/3 gives a triplet feel.
    - ``humanize`` in [0, 1] adds beat accents (when velocities is None),
      velocity jitter (sd 8h) and microtiming (sd 0.08h step, within +-0.25 step),
      drawn from ``rng`` (a fixed default seed when None, so output is repeatable).
    - ``note_map`` {instrument: pitch}; GM_WRITE_PITCHES when None.
    """
    grid = np.asarray(grid, dtype=bool)
    if grid.shape != (STEPS, len(INSTRUMENTS)):
        raise ValueError(f"a bar grid must have shape ({STEPS}, {len(INSTRUMENTS)}), got {grid.shape}")
    if not 0.0 <= swing <= MAX_SWING:
        raise ValueError(f"swing must be between 0 and {MAX_SWING}, got {swing}")
    if not 0.0 <= humanize <= 1.0:
        raise ValueError(f"humanize must be between 0 and 1, got {humanize}")
    pitches = check_note_map(note_map or {}) if note_map is not None else GM_WRITE_PITCHES
    if velocities is None:
        velocities = accent_velocities(grid, humanize)
    velocities = np.asarray(velocities)
    if humanize > 0 and rng is None:
        rng = np.random.default_rng(0)

    events = []
    for step, inst in zip(*np.nonzero(grid)):
        time = float(step) + (swing / 2 if step % 2 == 1 else 0.0)
        velocity = int(velocities[step, inst]) or DEFAULT_VELOCITY
        if humanize > 0:
            time += float(np.clip(rng.normal(0.0, 0.08 * humanize), -0.25, 0.25))
            velocity += int(round(rng.normal(0.0, 8.0 * humanize)))
        time = min(max(time, 0.0), STEPS - 1e-3)
        events.append((time, int(pitches[INSTRUMENTS[inst]]), int(np.clip(velocity, 1, 127))))
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def grids_to_midi(
    grids: np.ndarray,
    bpm: float = 120.0,
    velocities: np.ndarray | None = None,
    swing: float = 0.0,
    humanize: float = 0.0,
    seed: int | None = None,
    note_map: dict[str, int] | None = None,
    ticks_per_beat: int = 480,
) -> mido.MidiFile:
    """Build a type-0 MIDI file of the bars [n_bars, 16, 9] on channel 10 (see :func:`bar_events`)."""
    grids = np.asarray(grids, dtype=bool)
    if grids.ndim == 2:
        grids = grids[None]
    if grids.ndim != 3 or grids.shape[1:] != (STEPS, len(INSTRUMENTS)):
        raise ValueError(f"grids must have shape (n_bars, {STEPS}, {len(INSTRUMENTS)}), got {grids.shape}")
    if not (math.isfinite(bpm) and 1.0 <= bpm <= 1000.0):
        raise ValueError(f"bpm must be between 1 and 1000, got {bpm}")
    if velocities is not None:
        velocities = np.asarray(velocities).reshape(grids.shape)
    rng = np.random.default_rng(seed)
    ticks_per_step = ticks_per_beat / STEPS_PER_BEAT
    note_ticks = max(1, int(ticks_per_step * NOTE_LENGTH_STEPS))

    timed: list[tuple[int, int, mido.Message]] = []  # (tick, order, message); note-offs sort first
    for bar, grid in enumerate(grids):
        bar_vel = None if velocities is None else velocities[bar]
        for time, pitch, velocity in bar_events(grid, bar_vel, swing, humanize, rng, note_map):
            start = int(round((bar * STEPS + time) * ticks_per_step))
            timed.append((start, 1, mido.Message("note_on", channel=DRUM_CHANNEL, note=pitch, velocity=velocity)))
            timed.append((start + note_ticks, 0, mido.Message("note_off", channel=DRUM_CHANNEL, note=pitch, velocity=0)))
    timed.sort(key=lambda t: (t[0], t[1]))

    track = mido.MidiTrack()
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    now = 0
    for tick, _, msg in timed:
        track.append(msg.copy(time=tick - now))
        now = tick
    end = max(now, int(round(len(grids) * STEPS * ticks_per_step)))
    track.append(mido.MetaMessage("end_of_track", time=end - now))
    midi = mido.MidiFile(type=0, ticks_per_beat=ticks_per_beat)
    midi.tracks.append(track)
    return midi


def write_midi(path: str | os.PathLike, grids: np.ndarray, **options) -> None:
    """Write bars to ``path`` atomically (no partial file on error); options as :func:`grids_to_midi`."""
    midi = grids_to_midi(grids, **options)
    with atomic_output(path, suffix=".mid") as tmp:
        midi.save(tmp)
