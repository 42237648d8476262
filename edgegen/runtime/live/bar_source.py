"""Where the live player's bars come from: the playing modes, generated ahead on their own thread.

The modes are plain iterators of one-bar :class:`~edgegen.runtime.drum_controls.Groove`
objects (hits, learned velocities and offsets), written against the
:class:`~edgegen.runtime.drum_controls.DrumModel` protocol, so a fake model tests
them without onnxruntime:

- loop: one bar of the style, repeated;
- evolve: one z_high (the groove's style and feel) kept, a new z_low (variation) every N bars;
- morph: z_high walks from one style's prior mean to another's over N bars, one
  z_low kept; then the target style evolves as above;
- pattern: the bars of a MIDI file, in order, repeated (a groove from a file), with
  the file's own velocities and microtiming.

:class:`BarSource` runs one of them on a daemon thread, turns each bar into timed
notes (:class:`GrooveNotes`: the bar's velocities and offsets, then swing, humanise
and the note map via :func:`midi_io.bar_events`; ``quantize`` plays the plain grid
with the learned velocities) and keeps a few bars queued, so inference and numpy
never run on the player's clock. Each call does one bar (or one short morph),
keeping every stretch of GIL-holding Python short.
"""
from __future__ import annotations

import itertools
import queue
import threading
import time
from typing import Callable, Iterator

import numpy as np

from edgegen.runtime import drum_controls, midi_io, portable_random
from edgegen.runtime.drum_controls import DrumModel, Groove
from edgegen.runtime.live.realtime import realtime_priority

Notes = list[tuple[float, int, int]]  # (time_in_steps, pitch, velocity) of one bar

HIGH, LOW = drum_controls.DEFAULT_TEMPERATURE_HIGH, drum_controls.DEFAULT_TEMPERATURE_LOW


def _bars(groove: Groove) -> Iterator[Groove]:
    for index in range(len(groove)):
        yield groove[index]


def loop_grids(model: DrumModel, style: str, rng: portable_random.PortableRandom,
               temperature_high: float = HIGH, temperature_low: float = LOW) -> Iterator[Groove]:
    """One bar of ``style``, forever."""
    bar = drum_controls.sample_style(model, style, 1, rng, temperature_high, temperature_low)
    while True:
        yield bar


def evolve_from(model: DrumModel, z_high: np.ndarray, every: int, rng: portable_random.PortableRandom,
                temperature_low: float = LOW, style: str | None = None) -> Iterator[Groove]:
    """Keep ``z_high`` [4]; draw a new z_low and play its bar for ``every`` bars, forever.

    ``style`` picks the decoding calibration (None: the styles z_high is likely under).
    """
    while True:
        bar = drum_controls.evolve(model, z_high, 1, rng, temperature_low, style=style)
        for _ in range(every):
            yield bar


def evolve_grids(model: DrumModel, style: str, every: int, rng: portable_random.PortableRandom,
                 temperature_high: float = HIGH, temperature_low: float = LOW) -> Iterator[Groove]:
    """A groove of ``style`` that varies every ``every`` bars but keeps its style and feel (one z_high)."""
    z_high, _ = drum_controls.sample_latents(model, style, 1, rng, temperature_high, temperature_low)
    yield from evolve_from(model, z_high[0], every, rng, temperature_low, style=style)


def morph_grids(model: DrumModel, style_from: str, style_to: str, over: int, every: int,
                rng: portable_random.PortableRandom, temperature_low: float = LOW) -> Iterator[Groove]:
    """``over`` bars gliding from ``style_from`` to ``style_to``, then ``style_to`` evolving every ``every`` bars."""
    yield from _bars(drum_controls.morph(model, style_from, style_to, over, rng, temperature_low))
    target = model.style_prior_mu[drum_controls.style_index(model, style_to)]
    yield from evolve_from(model, target, every, rng, temperature_low, style=style_to)


def pattern_grids(bars: "Groove | midi_io.DrumTrack | np.ndarray") -> Iterator["Groove | np.ndarray"]:
    """The bars of a file, in order, repeated forever.

    A DrumTrack (from :func:`midi_io.read_midi`) plays with its own velocities and
    offsets; a Groove as it is; plain arrays [n, 16, 9] (bool grids, or uint8 MIDI
    velocities) are passed on as arrays.
    """
    if isinstance(bars, midi_io.DrumTrack):
        bars = Groove(bars.grids, bars.velocities / 127.0, bars.offsets)
    if isinstance(bars, Groove):
        if len(bars) == 0:
            raise ValueError("a pattern needs at least one bar")
        return itertools.cycle(list(_bars(bars)))
    grids = np.asarray(bars)
    if len(grids) == 0:
        raise ValueError("a pattern needs at least one bar")
    return itertools.cycle(list(grids))


def as_bar(item: "Groove | np.ndarray") -> Groove:
    """One bar as a Groove: a Groove as it is, a uint8 grid as MIDI velocities on the grid, a bool grid as hits."""
    if isinstance(item, Groove):
        return item
    grid = np.asarray(item)
    if grid.dtype == np.uint8:
        return Groove(grid > 0, grid / 127.0, np.zeros(grid.shape, np.float32))
    return Groove.from_hits(grid)


class GrooveNotes:
    """A bar's notes as :func:`midi_io.bar_events` plays them: its velocities and offsets, then the
    knobs on top (swing, humanise with draws from ``rng``, note map)."""

    def __init__(self, swing: float = 0.0, humanize: float = 0.0,
                 rng: portable_random.PortableRandom | None = None, note_map: dict[str, int] | None = None):
        self.swing, self.humanize, self.rng, self.note_map = swing, humanize, rng, note_map

    def __call__(self, bar: Groove, quantize: bool = False) -> Notes:
        return midi_io.bar_events(bar.hits[0], bar.velocities[0], bar.offsets[0], swing=self.swing,
                                  humanize=self.humanize, rng=self.rng, note_map=self.note_map, quantize=quantize)


_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class BarSource:
    """Runs a bar iterator on a daemon thread, ``ahead`` bars ahead of the player.

    ``to_notes`` turns a bar into its notes: a :class:`GrooveNotes` (or None for a
    plain one) gets the bar as a one-bar Groove, so its learned velocities and offsets
    play, and ``quantize`` puts every note on the grid (velocities kept). Any other
    callable gets, as before, an array [16, 9]: the bar's MIDI velocities as uint8
    (0 = no hit), on the grid. ``bars`` stops after that many bars
    (None: never). ``bars`` stops after that many bars
    (None: never). An exception on the thread is re-raised by :meth:`get`, so it
    ends playback through the player's clean exit. ``realtime`` asks for the
    same real-time priority as the player: this thread shares the GIL with the
    player, and if the OS parks it while it holds the GIL, the player waits
    (measured: 1-3 ms late events on a busy machine without it).
    """

    def __init__(self, grids: Iterator["Groove | np.ndarray"],
                 to_notes: "GrooveNotes | Callable[[np.ndarray], Notes] | None" = None,
                 bars: int | None = None, ahead: int = 2, realtime: bool = False, quantize: bool = False):
        self._grids = grids
        self._to_notes = GrooveNotes() if to_notes is None else to_notes
        self._quantize = bool(quantize)
        self._bars = bars
        self._realtime = realtime
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, ahead))
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._produce, name="edgegen-bars", daemon=True)

    def __enter__(self) -> "BarSource":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, wait: float = 5.0) -> None:
        """Start the thread and wait (up to ``wait`` s) until its queue is full or the bars are over.

        The first bars then cost nothing during playback: onnxruntime's first run
        (arena allocation, ~ms) happens before the first beat, not on it.
        """
        self._thread.start()
        deadline = time.monotonic() + wait
        while not self._queue.full() and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.002)

    def stop(self, timeout: float = 0.2) -> None:
        """Ask the thread to finish; it is a daemon, so a long inference call cannot delay exit."""
        self._stop.set()
        while True:  # free a producer blocked on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        with realtime_priority(self._realtime):
            self._produce_all()

    def _produce_all(self) -> None:
        try:
            grids = self._grids if self._bars is None else itertools.islice(self._grids, self._bars)
            for grid in grids:
                if not self._put(self._notes(grid)):
                    return
            self._put(_END)
        except BaseException as error:  # handed to the player thread, which owns the exit
            self._put(_Failure(error))

    def _notes(self, item: "Groove | np.ndarray") -> Notes:
        bar = as_bar(item)
        if isinstance(self._to_notes, GrooveNotes):
            return self._to_notes(bar, self._quantize)
        return self._to_notes(midi_io.midi_velocities(bar.velocities[0]).clip(1, 127).astype(np.uint8)
                              * bar.hits[0])

    def get(self, block: bool = True) -> Notes | None:
        """The next bar's notes, None once the bars are over; queue.Empty if not ready and not ``block``."""
        if self._done:
            return None
        item = self._queue.get(block=block)
        if item is _END:
            self._done = True
            return None
        if isinstance(item, _Failure):
            self._done = True
            raise item.error
        return item
