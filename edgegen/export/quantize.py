"""Int8 dynamic quantisation as a study, not a shipping format (unless it clearly pays).

For every exported graph: quantise the weights to int8 with onnxruntime's
`quantize_dynamic`, then measure what it costs and what it buys: parity against
torch (same inputs as the fp32 check), the share of downstream results that still
agree, file size, and onnxruntime latency at batch 1. For letter generators a
coverage check too: the fp32 letter classifier scores fp32 and int8 renders, and
the letters covered (and, for conditional models, label accuracy) must not drop.
Results go to STUDY_DIR/quantization.json; the int8 files stay in STUDY_DIR.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from edgegen.export.onnx_export import GraphSpec, measure_parity, session_runner
from edgegen.training.common import write_json

CALLS = 200
SAMPLES_PER_LETTER = 20


def median_ms(run, feed: dict[str, np.ndarray], calls: int = CALLS) -> float:
    """Median wall time of ``run(feed)`` in milliseconds."""
    run(feed)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        run(feed)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def agreement(spec: GraphSpec, fp32, int8, batch: int = 256) -> float:
    """Share of downstream results (pixels, grid cells, classes) that int8 reproduces exactly."""
    feed = spec.make_inputs(batch, np.random.default_rng(99))
    return float(np.mean(spec.downstream(feed, fp32(feed)) == spec.downstream(feed, int8(feed))))


def letter_scores(spec: GraphSpec, run, classify) -> dict[str, float]:
    """Coverage and label accuracy of a generator, scored by the fp32 letter classifier."""
    rng = np.random.default_rng(7)
    labels = np.repeat(np.arange(26), SAMPLES_PER_LETTER)
    feed = spec.make_inputs(len(labels), rng)
    if "onehot" in feed:
        feed["onehot"] = np.eye(26, dtype=np.float32)[labels]
    logits = classify({"image": run(feed)[0]})[0]
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    predicted, confidence = probs.argmax(axis=1), probs.max(axis=1)
    scores = {"coverage": len(set(predicted[confidence >= 0.5].tolist())) / 26}
    if "onehot" in feed:
        scores["label_accuracy"] = float(np.mean(predicted == labels))
    return scores


def study_all(exported: list[tuple[GraphSpec, dict[str, Any]]], models_dir: Path, study_dir: Path) -> dict[str, Any]:
    """Quantise every exported graph into ``study_dir`` and write the comparison JSON."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # quantize_dynamic's "consider pre-processing" notice
    study_dir.mkdir(parents=True, exist_ok=True)
    classifier = models_dir / "letter_classifier.onnx"
    classify = session_runner(classifier) if classifier.is_file() else None
    results: dict[str, Any] = {}
    for spec, _ in exported:
        fp32_path = models_dir / f"{spec.name}.onnx"
        int8_path = study_dir / f"{spec.name}.int8.onnx"
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8)
        fp32, int8 = session_runner(fp32_path), session_runner(int8_path)
        parity = measure_parity(spec, int8)
        one = spec.make_inputs(1, np.random.default_rng(0))
        row: dict[str, Any] = {
            "max_abs_vs_torch": parity["max_abs"],
            "downstream_agreement": agreement(spec, fp32, int8),
            "bytes_fp32": fp32_path.stat().st_size,
            "bytes_int8": int8_path.stat().st_size,
            "ms_batch1_fp32": median_ms(fp32, one),
            "ms_batch1_int8": median_ms(int8, one),
        }
        if spec.kind == "letter_generator" and classify is not None:
            row["scores_fp32"] = letter_scores(spec, fp32, classify)
            row["scores_int8"] = letter_scores(spec, int8, classify)
        row["worth_shipping"] = worth_shipping(row)
        results[spec.name] = row
        click.echo(f"int8 {spec.name:28s} max|diff| {row['max_abs_vs_torch']:.2e}  agree {row['downstream_agreement']:.4f}  "
                   f"{row['bytes_int8'] / row['bytes_fp32']:.2f}x size  {row['ms_batch1_fp32']:.3f} -> "
                   f"{row['ms_batch1_int8']:.3f} ms  ship: {row['worth_shipping']}")
    write_json(study_dir / "quantization.json", results)
    return results


def worth_shipping(row: dict[str, Any]) -> bool:
    """Ship int8 only if it is clearly faster (>= 1.5x) AND loses nothing a user would see."""
    faster = row["ms_batch1_fp32"] >= 1.5 * row["ms_batch1_int8"]
    faithful = row["downstream_agreement"] >= 0.999
    if "scores_int8" in row:
        faithful = faithful and all(row["scores_int8"][k] >= row["scores_fp32"][k] - 0.01 for k in row["scores_fp32"])
    return bool(faster and faithful)
