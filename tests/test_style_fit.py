"""runtime/style_fit.py: the search that refines the encoder's style on the example glyphs.

A toy generator with a known answer checks the search itself; the bundled model checks that
`fontgen --like` redraws a real font's examples closer than the encoder alone and still
carries the font to letters it never saw.
"""
from __future__ import annotations

import numpy as np
import pytest

from edgegen.models import MODELS_DIR
from edgegen.runtime import style_fit
from edgegen.runtime.font_generator import DEFAULT_LETTER_MODEL, StyleFontGenerator
from edgegen.runtime.letter_spec import LETTERS
from edgegen.runtime.style_examples import font_examples
from edgegen.training.letters.data import matplotlib_font_dir

FONTS = matplotlib_font_dir()
SANS, SANS_BOLD, SERIF = FONTS / "DejaVuSans.ttf", FONTS / "DejaVuSans-Bold.ttf", FONTS / "DejaVuSerif.ttf"
SIZE, DIM = 12, 6


class LinearGlyphs:
    """glyph(style, letter) = sigmoid(basis[letter] @ style): smooth, so a search can find a known style."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.basis = rng.normal(size=(26, SIZE * SIZE, DIM)).astype(np.float32)
        self.calls = 0

    def __call__(self, styles: np.ndarray, letters: np.ndarray) -> np.ndarray:
        self.calls += 1
        logits = np.einsum("npd,nd->np", self.basis[letters], styles)
        return (1 / (1 + np.exp(-logits))).reshape(len(styles), SIZE, SIZE).astype(np.float32)


def test_blur_matrix_keeps_ink_and_spreads_a_dot():
    k = style_fit.blur_matrix(SIZE, 1.0)
    assert np.allclose(k.sum(1), 1.0)
    dot = np.zeros((SIZE, SIZE), np.float32)
    dot[6, 6] = 1.0
    soft = k @ dot @ k.T
    assert soft[6, 6] < 0.5 and soft[6, 7] > 0 and soft[5, 6] > 0 and abs(soft.sum() - 1.0) < 1e-3
    assert np.array_equal(style_fit.blur_matrix(SIZE, 0.0), np.eye(SIZE, dtype=np.float32))


def test_the_search_moves_a_poor_start_towards_the_true_style_and_is_deterministic():
    draw = LinearGlyphs()
    truth = np.linspace(-1.0, 1.0, DIM).astype(np.float32)
    letters = np.arange(5)
    examples = draw(np.repeat(truth[None], 5, 0), letters)
    start = truth + 0.8 * np.random.default_rng(1).normal(size=DIM).astype(np.float32)
    settings = style_fit.FitSettings(rounds=12, population=24)
    fitted = style_fit.fit_style(draw, start, examples, letters, np.eye(DIM, dtype=np.float32), settings)

    def distance(style):
        return style_fit.example_distance(draw(np.repeat(style[None], 5, 0), letters)[None], examples, 1.0)[0]

    assert distance(fitted) < 0.5 * distance(start)
    assert np.linalg.norm(fitted - truth) < np.linalg.norm(start - truth)
    again = style_fit.fit_style(draw, start, examples, letters, np.eye(DIM, dtype=np.float32), settings)
    assert np.array_equal(fitted, again)


def test_no_rounds_is_the_encoder_s_style_and_a_perfect_start_is_kept():
    draw = LinearGlyphs()
    truth = np.ones(DIM, np.float32)
    letters = np.array([0, 3])
    examples = draw(np.repeat(truth[None], 2, 0), letters)
    eye = np.eye(DIM, dtype=np.float32)
    start = truth + 0.5
    assert np.array_equal(style_fit.fit_style(draw, start, examples, letters, eye, style_fit.FitSettings(rounds=0)),
                          start)
    assert np.array_equal(style_fit.fit_style(draw, truth, examples, letters, eye), truth)  # nothing beats 0


needs_bundled = pytest.mark.skipif(not (MODELS_DIR / f"{DEFAULT_LETTER_MODEL}.onnx").is_file(),
                                   reason="no bundled letter style model (`make export` writes it)")


@needs_bundled
def test_like_redraws_a_real_font_s_examples_closer_than_the_encoder_and_keeps_its_design():
    generator = StyleFontGenerator(models_dir=MODELS_DIR)
    targets = np.array([LETTERS.index(c) for c in "CDKPQVWXYZ"])  # none of HAMBURG
    real = {font: font_examples(font, "CDKPQVWXYZ").glyphs for font in (SANS, SANS_BOLD, SERIF)}
    k = style_fit.blur_matrix(generator.size, 1.5)
    for font in (SANS, SANS_BOLD, SERIF):
        examples = font_examples(font, "HAMBURG")
        encoded = generator.encode(examples.glyphs, examples.letters)
        fitted = generator.like(examples.glyphs, examples.letters)

        def on_examples(style):
            drawn = generator.draw(np.repeat(style[None], len(examples.letters), 0), examples.letters)
            return style_fit.example_distance(drawn[None], examples.glyphs, 1.0)[0]

        assert on_examples(fitted) < on_examples(encoded)
        unseen = generator.draw(np.repeat(fitted[None], len(targets), 0), targets)
        gaps = {other: np.abs(k @ unseen @ k.T - k @ glyphs @ k.T).mean() for other, glyphs in real.items()}
        assert min(gaps, key=gaps.get) == font, (font.name, gaps)
