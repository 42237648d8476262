"""A random generator small enough to write again in JavaScript, so a seed means the same thing everywhere.

``fontgen render --seed 7`` and seed 7 on the web page must draw the same glyph,
and NumPy's generators (PCG64, its Box-Muller/ziggurat variants) are not
something a browser can reproduce. This one is counter-based: the i-th 32-bit
word of a stream is a hash of (seed, i), built only from 32-bit multiply, xor
and shift (``Math.imul`` and ``>>>`` in JavaScript), so NumPy computes a whole
array of draws at once and the page computes the same words one by one.

- uniform: (word + 0.5) / 2**32, never 0 or 1;
- standard normal: Box-Muller on two consecutive uniforms (cos branch only),
  computed in float64;
- integers: floor(uniform x span).

:class:`PortableRandom` offers the subset of ``numpy.random.Generator`` the
runtime uses (``standard_normal``, ``random``, ``normal``, ``integers``), so it
drops in wherever a Generator was passed. It is not for cryptography.
"""
from __future__ import annotations

import secrets

import numpy as np

__all__ = ["PortableRandom", "rng", "words"]

_MASK32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9


def _mix(x: np.ndarray) -> np.ndarray:
    """The lowbias32 integer hash (C. Wellons): a bijection on uint32 with good avalanche."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def words(seed: int, start: int, count: int) -> np.ndarray:
    """Words ``start .. start+count-1`` [count] uint32 of the stream for ``seed`` (0 <= seed < 2**53).

    word(i) = mix(mix(mix(i) ^ lo) + hi * GOLDEN), with lo/hi the low/high 32 bits of the seed.
    """
    lo, hi = np.uint32(seed & _MASK32), np.uint32((seed >> 32) & _MASK32)
    key = np.uint32((int(hi) * _GOLDEN) & _MASK32)
    counter = (np.arange(start, start + count, dtype=np.uint64) & np.uint64(_MASK32)).astype(np.uint32)
    with np.errstate(over="ignore"):
        return _mix(_mix(_mix(counter) ^ lo) + key)


class PortableRandom:
    """A stream of draws for one seed; each draw takes the next words of the stream, in C order."""

    MAX_SEED = 2**53 - 1  # JavaScript numbers hold integers exactly up to here

    def __init__(self, seed: int):
        if not 0 <= int(seed) <= self.MAX_SEED:
            raise ValueError(f"seed must be between 0 and {self.MAX_SEED}, got {seed}")
        self.seed, self.position = int(seed), 0

    def _take(self, count: int) -> np.ndarray:
        out = words(self.seed, self.position, count)
        self.position += count
        return out

    def random(self, size: int | tuple[int, ...] | None = None) -> np.ndarray | float:
        """Uniform floats in (0, 1), float64."""
        shape = _shape(size)
        values = (self._take(_count(shape)).astype(np.float64) + 0.5) / 2.0**32
        return float(values[0]) if size is None else values.reshape(shape)

    def standard_normal(self, size: int | tuple[int, ...] | None = None) -> np.ndarray | float:
        """N(0, 1) float64 by Box-Muller: value k uses uniforms 2k and 2k+1."""
        shape = _shape(size)
        n = _count(shape)
        u = (self._take(2 * n).astype(np.float64) + 0.5) / 2.0**32
        values = np.sqrt(-2.0 * np.log(u[0::2])) * np.cos(2.0 * np.pi * u[1::2])
        return float(values[0]) if size is None else values.reshape(shape)

    def normal(self, loc: float = 0.0, scale: float = 1.0,
               size: int | tuple[int, ...] | None = None) -> np.ndarray | float:
        return loc + scale * self.standard_normal(size)

    def integers(self, low: int, high: int | None = None,
                 size: int | tuple[int, ...] | None = None) -> np.ndarray | int:
        """Integers in [low, high) (or [0, low) with one bound), int64."""
        if high is None:
            low, high = 0, low
        if high <= low:
            raise ValueError("high must be greater than low")
        uniform = np.asarray(self.random(size if size is not None else 1))
        values = low + np.floor(uniform * (high - low)).astype(np.int64)
        return int(values.reshape(-1)[0]) if size is None else values


def _shape(size: int | tuple[int, ...] | None) -> tuple[int, ...]:
    if size is None:
        return (1,)
    return (int(size),) if np.isscalar(size) else tuple(int(s) for s in size)


def _count(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def rng(seed: int | None) -> PortableRandom:
    """The runtime's generator for ``seed``; None draws a fresh seed from the operating system."""
    return PortableRandom(secrets.randbelow(PortableRandom.MAX_SEED + 1) if seed is None else seed)
