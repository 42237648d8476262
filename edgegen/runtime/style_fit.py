"""A font's style from a few of its glyphs: the encoder's reading, then a search for the style that draws them best.

The encoder reads a style in one pass (amortised inference). It is fast, but for a font
unlike the training fonts its reading is only near the best style the generator can
draw: a style the generator uses to redraw the *example* glyphs more closely often
exists nearby. :func:`fit_style` starts at the encoder's style and runs a small
cross-entropy search (a population around the current mean, the best quarter becomes
the next mean, the spread shrinks each round) on one score: how far the examples drawn
in a candidate style are from the given examples (mean absolute difference after a
light blur, so a one-pixel shift costs little). Only the examples are scored, never the
letters to be drawn, so the letters the user asks for stay unseen. The search needs
only the generator's forward pass (no gradients, no torch), and it is deterministic:
the same examples give the same style (its noise is portable_random's, seed 0).

Measured on the 12 distinct validation fonts of the style report (examples
HAMBURGEFONTS, the other 13 letters drawn): see reports/letters/style/README.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgegen.runtime import portable_random

Draw = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (styles [n, d], letters [n]) -> glyphs [n, S, S]


@dataclass(frozen=True)
class FitSettings:
    """The search's budget: rounds x population styles, each drawing every example once."""

    rounds: int = 10  # 0: the encoder's style as it is
    population: int = 16  # candidate styles per round
    elite_share: float = 0.25  # the best share of a round's candidates sets the next mean
    spread: float = 0.5  # first round's spread, in units of the prior's standard deviations
    shrink: float = 0.85  # the spread is multiplied by this after every round
    blur_sigma: float = 1.0  # pixels: the light blur before comparing glyphs


DEFAULT_FIT = FitSettings()


def blur_matrix(size: int, sigma: float) -> np.ndarray:
    """[size, size] Gaussian band matrix K (rows sum to 1 inside the canvas): K @ image @ K.T blurs an image."""
    if sigma <= 0:
        return np.eye(size, dtype=np.float32)
    distance = np.arange(size)[:, None] - np.arange(size)[None, :]
    kernel = np.exp(-0.5 * (distance / sigma) ** 2) * (np.abs(distance) <= np.ceil(3 * sigma))
    return (kernel / kernel.sum(1, keepdims=True)).astype(np.float32)


def example_distance(drawn: np.ndarray, examples: np.ndarray, sigma: float) -> np.ndarray:
    """Mean |blur(drawn) - blur(examples)| per candidate: drawn [n, k, S, S] against examples [k, S, S] -> [n]."""
    k = blur_matrix(examples.shape[-1], sigma)
    soft_drawn = k @ drawn @ k.T
    soft_examples = k @ examples @ k.T
    return np.abs(soft_drawn - soft_examples[None]).mean(axis=(1, 2, 3))


def fit_style(draw: Draw, start: np.ndarray, glyphs: np.ndarray, letters: np.ndarray, prior_cholesky: np.ndarray,
              settings: FitSettings = DEFAULT_FIT) -> np.ndarray:
    """The style [d] (from ``start``, the encoder's) whose drawing of ``letters`` [k] is nearest ``glyphs`` [k, S, S].

    Candidates are drawn around the current mean with the prior's shape (``prior_cholesky`` [d, d]),
    so the search moves along the directions in which real fonts differ. The best style seen is
    returned; the start is among those seen, so the fit is never worse than the encoder's on the examples.
    """
    glyphs = np.asarray(glyphs, np.float32)
    letters = np.asarray(letters, dtype=int).reshape(-1)
    start = np.asarray(start, np.float32).reshape(-1)
    cholesky = np.asarray(prior_cholesky, np.float32)
    k = len(letters)

    def distance(styles: np.ndarray) -> np.ndarray:
        n = len(styles)
        drawn = draw(np.repeat(styles, k, axis=0).astype(np.float32), np.tile(letters, n))
        return example_distance(np.asarray(drawn, np.float32).reshape(n, k, *glyphs.shape[1:]), glyphs,
                                settings.blur_sigma)

    best, best_distance = start, float(distance(start[None])[0])
    if settings.rounds <= 0:
        return best
    rng = portable_random.rng(0)
    mean, spread = start, settings.spread
    elite = max(1, int(round(settings.population * settings.elite_share)))
    for _ in range(settings.rounds):
        noise = rng.standard_normal((settings.population, len(start))).astype(np.float32)
        candidates = mean + spread * noise @ cholesky.T
        scores = distance(candidates)
        order = np.argsort(scores, kind="stable")
        if scores[order[0]] < best_distance:
            best, best_distance = candidates[order[0]], float(scores[order[0]])
        mean = candidates[order[:elite]].mean(axis=0)
        spread *= settings.shrink
    return best.astype(np.float32)
