"""The portable generator: NumPy's vectorised words equal a plain scalar transcription (what the
JavaScript port does with Math.imul and >>>), and its draws have the distributions they claim."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgegen.runtime.portable_random import PortableRandom, rng, words

MASK = 0xFFFFFFFF


def scalar_mix(x: int) -> int:
    x ^= x >> 16
    x = (x * 0x7FEB352D) & MASK
    x ^= x >> 15
    x = (x * 0x846CA68B) & MASK
    return x ^ (x >> 16)


def scalar_word(seed: int, i: int) -> int:
    lo, hi = seed & MASK, (seed >> 32) & MASK
    return scalar_mix((scalar_mix(scalar_mix(i & MASK) ^ lo) + hi * 0x9E3779B9) & MASK)


@pytest.mark.parametrize("seed", [0, 1, 7, 2**31 - 1, 2**32 + 5, 2**53 - 1])
def test_vectorised_words_equal_the_scalar_transcription(seed):
    start = 1000
    expected = [scalar_word(seed, start + i) for i in range(64)]
    assert words(seed, start, 64).tolist() == expected


def test_draws_continue_the_stream_in_c_order():
    a = PortableRandom(3)
    first, second = a.random((2, 3)), a.random(4)
    whole = PortableRandom(3).random(10)
    assert np.array_equal(np.concatenate([first.ravel(), second]), whole)
    b = PortableRandom(3)
    normals = b.standard_normal(5)
    u = (np.array([scalar_word(3, i) for i in range(10)], dtype=np.float64) + 0.5) / 2**32
    expected = [math.sqrt(-2 * math.log(u[2 * k])) * math.cos(2 * math.pi * u[2 * k + 1]) for k in range(5)]
    assert np.allclose(normals, expected, rtol=0, atol=1e-12)


def test_distributions():
    g = PortableRandom(11)
    u = g.random(200_000)
    assert 0 < u.min() and u.max() < 1
    counts = np.histogram(u, bins=20, range=(0, 1))[0]
    chi2 = ((counts - 10_000) ** 2 / 10_000).sum()
    assert chi2 < 50  # 19 degrees of freedom: p < 0.0002 beyond this
    z = g.standard_normal(200_000)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs(np.mean(np.abs(z) > 1.96) - 0.05) < 0.003
    ints = g.integers(0, 26, 26_000)
    assert ints.min() == 0 and ints.max() == 25 and np.bincount(ints).min() > 850
    assert g.normal(5.0, 0.0) == 5.0 and isinstance(g.integers(3), int)


def test_seeds_give_different_streams_and_bad_seeds_are_refused():
    assert not np.array_equal(PortableRandom(1).random(8), PortableRandom(2).random(8))
    assert not np.array_equal(PortableRandom(1).random(8), PortableRandom(1 + 2**32).random(8))
    assert np.array_equal(rng(9).standard_normal(4), rng(9).standard_normal(4))
    assert rng(None).seed != rng(None).seed
    for bad in (-1, 2**53):
        with pytest.raises(ValueError):
            PortableRandom(bad)
