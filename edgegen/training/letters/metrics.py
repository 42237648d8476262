"""Mode-collapse metrics of DESIGN section 5, computed from the letter classifier's probabilities.

- coverage: letters seen with confidence >= 0.5, divided by 26;
- kl_uniform: KL(histogram of predicted letters || uniform), 0 = perfectly even;
- high_quality: share of samples predicted with confidence >= 0.9;
- label_accuracy: for conditional models, share predicted as the requested letter.
"""
from __future__ import annotations

import numpy as np

SEEN_CONFIDENCE = 0.5
HIGH_QUALITY_CONFIDENCE = 0.9


def letter_histogram(probs: np.ndarray) -> np.ndarray:
    """Counts [26] of the classifier's predicted letter over all samples."""
    return np.bincount(probs.argmax(1), minlength=26)


def kl_to_uniform(counts: np.ndarray) -> float:
    """KL(p || uniform) in nats for a histogram; empty bins contribute 0."""
    p = counts / max(1, counts.sum())
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] * len(counts))))


def letter_metrics(probs: np.ndarray, requested: np.ndarray | None = None) -> dict:
    """All section-5 metrics for classifier probabilities [N, 26]; ``requested`` [N] labels for conditional models."""
    predicted = probs.argmax(1)
    confidence = probs.max(1)
    seen = np.unique(predicted[confidence >= SEEN_CONFIDENCE])
    counts = letter_histogram(probs)
    return {
        "coverage": len(seen) / 26,
        "letters_seen": int(len(seen)),
        "kl_uniform": kl_to_uniform(counts),
        "high_quality": float((confidence >= HIGH_QUALITY_CONFIDENCE).mean()),
        "label_accuracy": None if requested is None else float((predicted == requested).mean()),
        "histogram": counts.astype(int).tolist(),
        "n_samples": int(len(probs)),
    }
