"""Acceptance: the bundled letter classifier reads >= 95 % of the default model's renders as the requested letter."""
from __future__ import annotations

import string

import numpy as np
import pytest

from edgegen.models import MODELS_DIR
from edgegen.runtime.font_generator import CLASSIFIER_MODEL, LetterClassifier, open_letter_model

SEEDS = range(10)


@pytest.mark.skipif(not (MODELS_DIR / f"{CLASSIFIER_MODEL}.onnx").is_file(),
                    reason="edgegen/models holds no exported models (`make export` writes them)")
def test_rendered_letters_are_recognisable():
    generator = open_letter_model(None, MODELS_DIR)
    classifier = LetterClassifier(MODELS_DIR)
    images = np.stack([generator.render(letter, seed) for letter in string.ascii_uppercase for seed in SEEDS])
    requested = [letter for letter in string.ascii_uppercase for _ in SEEDS]
    predicted, _ = classifier.predict(images)
    agreement = np.mean([p == r for p, r in zip(predicted, requested)])
    assert agreement >= 0.95, f"only {agreement:.1%} of {len(requested)} renders read as the requested letter"
