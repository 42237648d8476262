"""Test doubles for the live player: a fake clock, a list-backed bar feed, a tiny numpy drum model."""
from __future__ import annotations

import queue
from typing import Callable

import numpy as np


class FakeClock:
    """Time that moves only when asked: ``sleep`` advances it (plus ``oversleep``, like a busy OS),
    ``now`` advances it by ``tick`` per call (so a busy-wait ends)."""

    def __init__(self, oversleep: float = 0.0, tick: float = 1e-6, on_sleep: Callable[[int], None] | None = None):
        self.t = 1000.0
        self.oversleep = oversleep
        self.tick = tick
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep  # called with the number of sleeps so far (to raise signals mid-play)

    def now(self) -> float:
        self.t += self.tick
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.t += seconds + self.oversleep
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))


class ListFeed:
    """Bars of notes from a list; ``delay`` {bar: seconds} makes that bar arrive late (slow inference);
    ``cost`` seconds pass on the clock at every call that hands over a bar (work done on the player thread);
    ``late_polls`` makes the first non-blocking ask for each bar find it not ready yet."""

    def __init__(self, bars: list[list[tuple[float, int, int]]], clock: FakeClock | None = None,
                 delay: dict[int, float] | None = None, fail_at: int | None = None, cost: float = 0.0,
                 late_polls: bool = False):
        self.bars = list(bars)
        self.clock = clock
        self.cost = cost
        self.late_polls = late_polls
        self.polled: set[int] = set()
        self.delay = delay or {}
        self.fail_at = fail_at
        self.served = 0

    def get(self, block: bool = True):
        if self.fail_at is not None and self.served == self.fail_at:
            raise RuntimeError("generator crashed")
        if self.served >= len(self.bars):
            return None
        if self.late_polls and not block and self.served not in self.polled:
            self.polled.add(self.served)
            raise queue.Empty
        wait = self.delay.get(self.served, 0.0)
        if wait:
            if not block:
                raise queue.Empty
            self.clock.t += wait
            self.delay.pop(self.served)
        bar = self.bars[self.served]
        self.served += 1
        if self.cost:
            self.clock.t += self.cost
        return bar


class FakeDrumModel:
    """A DrumModel whose bars show their latents: kick hits = 1 + 15 * z_high[0] (rounded, style
    position), and the hat pattern spells the signs of z_low (the variation)."""

    def __init__(self):
        self.styles = ["rock", "jazz", "latin"]
        self.style_prior_mu = np.array([[0.0, 0, 0, 0], [0.5, 0, 0, 0], [1.0, 0, 0, 0]], np.float32)
        self.style_prior_logvar = np.full((3, 4), -20.0, np.float32)  # tiny spread: style position is exact
        self.hit_thresholds = np.zeros((3, 9), np.float32)  # probability 0.5 for every style and instrument
        self.velocity_gain = np.ones(3, np.float32)

    def encode(self, x):
        raise NotImplementedError

    def prior_low(self, z_high):
        return np.zeros((len(z_high), 12), np.float32), np.zeros((len(z_high), 12), np.float32)

    def decode(self, z_high, z_low):
        logits = np.full((len(z_high), 16, 9), -5.0, np.float32)
        for n, (high, low) in enumerate(zip(z_high, z_low)):
            kicks = 1 + int(round(15 * float(np.clip(high[0], 0, 1))))
            logits[n, :kicks, 0] = 5.0
            logits[n, :12, 2] = np.where(low > 0, 5.0, -5.0)
        velocities = np.full(logits.shape, 0.5, np.float32)  # hits at MIDI velocity 64, on the grid
        return logits, velocities, np.zeros(logits.shape, np.float32)
