"""Where the live player's bars come from: the playing modes, generated ahead on their own thread.

The modes are plain iterators of bar grids [16, 9] bool, written against the
:class:`~edgegen.runtime.drum_controls.DrumModel` protocol, so a fake model
tests them without onnxruntime:

- loop: one bar of the style, repeated;
- evolve: one z_high (the groove's style and feel) kept, a new z_low (variation) every N bars;
- morph: z_high walks from one style's prior mean to another's over N bars, one
  z_low kept; then the target style evolves as above;
- pattern: the bars of a MIDI file, in order, repeated (a groove from a file),
  as uint8 velocity grids (0 = no hit) so the file's dynamics are kept.

:class:`BarSource` runs one of them on a daemon thread, turns each grid into
timed notes (swing, humanise, note map via :func:`midi_io.bar_events`) and keeps
a few bars queued, so inference and numpy never run on the player's clock. Each
call does one bar (or one short morph), keeping every stretch of GIL-holding
Python short.
"""
from __future__ import annotations

import itertools
import queue
import threading
import time
from typing import Callable, Iterator

import numpy as np

from edgegen.runtime import drum_controls, portable_random
from edgegen.runtime.drum_controls import DrumModel
from edgegen.runtime.live.realtime import realtime_priority

Notes = list[tuple[float, int, int]]  # (time_in_steps, pitch, velocity) of one bar

HIGH, LOW = drum_controls.DEFAULT_TEMPERATURE_HIGH, drum_controls.DEFAULT_TEMPERATURE_LOW


def loop_grids(model: DrumModel, style: str, rng: portable_random.PortableRandom,
               temperature_high: float = HIGH, temperature_low: float = LOW) -> Iterator[np.ndarray]:
    """One bar of ``style``, forever."""
    bar = drum_controls.sample_style(model, style, 1, rng, temperature_high, temperature_low)[0]
    while True:
        yield bar


def evolve_from(model: DrumModel, z_high: np.ndarray, every: int, rng: portable_random.PortableRandom,
                temperature_low: float = LOW) -> Iterator[np.ndarray]:
    """Keep ``z_high`` [4]; draw a new z_low and play its bar for ``every`` bars, forever."""
    while True:
        bar = drum_controls.evolve(model, z_high, 1, rng, temperature_low)[0]
        for _ in range(every):
            yield bar


def evolve_grids(model: DrumModel, style: str, every: int, rng: portable_random.PortableRandom,
                 temperature_high: float = HIGH, temperature_low: float = LOW) -> Iterator[np.ndarray]:
    """A groove of ``style`` that varies every ``every`` bars but keeps its style and feel (one z_high)."""
    z_high, _ = drum_controls.sample_latents(model, style, 1, rng, temperature_high, temperature_low)
    yield from evolve_from(model, z_high[0], every, rng, temperature_low)


def morph_grids(model: DrumModel, style_from: str, style_to: str, over: int, every: int,
                rng: portable_random.PortableRandom, temperature_low: float = LOW) -> Iterator[np.ndarray]:
    """``over`` bars gliding from ``style_from`` to ``style_to``, then ``style_to`` evolving every ``every`` bars."""
    yield from drum_controls.morph(model, style_from, style_to, over, rng, temperature_low)
    target = model.style_prior_mu[drum_controls.style_index(model, style_to)]
    yield from evolve_from(model, target, every, rng, temperature_low)


def pattern_grids(grids: np.ndarray) -> Iterator[np.ndarray]:
    """The bars [n, 16, 9] of a file, in order, repeated forever (bool grids, or uint8 velocities)."""
    grids = np.asarray(grids)
    if len(grids) == 0:
        raise ValueError("a pattern needs at least one bar")
    return itertools.cycle(list(grids))


_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class BarSource:
    """Runs a grid iterator on a daemon thread, ``ahead`` bars ahead of the player.

    ``to_notes`` turns a grid into the bar's notes (this is where swing,
    humanise and the note map apply). ``bars`` stops after that many bars
    (None: never). An exception on the thread is re-raised by :meth:`get`, so it
    ends playback through the player's clean exit. ``realtime`` asks for the
    same real-time priority as the player: this thread shares the GIL with the
    player, and if the OS parks it while it holds the GIL, the player waits
    (measured: 1-3 ms late events on a busy machine without it).
    """

    def __init__(self, grids: Iterator[np.ndarray], to_notes: Callable[[np.ndarray], Notes],
                 bars: int | None = None, ahead: int = 2, realtime: bool = False):
        self._grids = grids
        self._to_notes = to_notes
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
                if not self._put(self._to_notes(grid)):
                    return
            self._put(_END)
        except BaseException as error:  # handed to the player thread, which owns the exit
            self._put(_Failure(error))

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
