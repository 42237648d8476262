"""Decoding calibration: per-style, per-instrument hit thresholds and per-style velocity gains.

Thresholding every cell at probability 0.5 keeps the most likely bar: the confident
kick and snare stay, the uncertain hi-hat and ride strokes go (jazz lost its ride, rock
a quarter of its hits). Here, after training, bars are sampled from each style's prior
at the default temperatures, and each instrument of each style gets the logit threshold
above which its cells are hits as often as that instrument plays in real bars of the
style (a quantile of the sampled logits). Density and the mix of voices then match real
bars by construction; what stays for the model to get right is where in the bar the
hits go, which the report measures (time-keeping voice share, style control, feature
overlap, the piano rolls).

The velocity head predicts the average of what drummers played at a cell, so its
accents are right but flattened; each style gets the gain that, applied around each
bar's mean velocity (drum_controls.spread_velocities), gives sampled bars the velocity
spread of real bars of the style.

Real bars are GMD's training and validation bars (never test). The result is written
to RUN/calibration.json beside the checkpoint; the report and the exporter (into the
sidecars) read it from there.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgegen.runtime import drum_controls, portable_random
from edgegen.runtime.drum_spec import INSTRUMENTS, STYLES
from edgegen.runtime.files import atomic_write_text

CALIBRATION_FILE = "calibration.json"
CALIBRATION_BARS = 4000  # bars sampled per style
CALIBRATION_SEED = 7
THRESHOLD_LIMIT = 30.0  # an instrument a style never plays gets this (no cell clears it)
GAIN_RANGE = (1.0, 4.0)  # velocity gains are clipped here: never flatten, never more than 4x
GAIN_ROUNDS = 3  # fixed-point rounds (clipping at 0 and 1 makes a gain give a little less than asked)


def mean_velocity_spread(hits: np.ndarray, velocities: np.ndarray) -> float:
    """Mean over bars with >= 2 hits of the standard deviation of their hits' velocities."""
    hits = np.asarray(hits, bool)
    n = hits.sum(axis=(1, 2))
    keep = n >= 2
    if not keep.any():
        return 0.0
    h, v, n = hits[keep], np.asarray(velocities, np.float64)[keep], n[keep][:, None, None]
    mean = (v * h).sum(axis=(1, 2), keepdims=True) / n
    return float(np.sqrt((((v - mean) ** 2) * h).sum(axis=(1, 2), keepdims=True) / n).mean())


def calibrate(model: drum_controls.DrumModel, grids: np.ndarray, velocities: np.ndarray, styles: np.ndarray,
              n: int = CALIBRATION_BARS, seed: int = CALIBRATION_SEED) -> dict[str, np.ndarray]:
    """{"hit_thresholds": [styles, 9] logits, "velocity_gain": [styles]} from real bars (hits, velocities, styles)."""
    thresholds = np.zeros((len(STYLES), len(INSTRUMENTS)), np.float32)
    gains = np.ones(len(STYLES), np.float32)
    for s, style in enumerate(STYLES):
        real = styles == s
        if not real.any():
            continue  # no bars of the style: probability 0.5, gain 1
        rate = grids[real].mean(axis=(0, 1))  # [9] share of cells that are hits, per instrument
        z_high, z_low = drum_controls.sample_latents(model, style, n, portable_random.rng(seed + s))
        logits, decoded_velocities, _ = model.decode(z_high, z_low)  # [n, 16, 9] each
        for i in range(len(INSTRUMENTS)):
            thresholds[s, i] = THRESHOLD_LIMIT if rate[i] <= 0 else np.quantile(logits[..., i], 1.0 - rate[i])
        thresholds[s] = np.clip(thresholds[s], -THRESHOLD_LIMIT, THRESHOLD_LIMIT)
        hits = logits > thresholds[s]
        target = mean_velocity_spread(grids[real], velocities[real])
        gain = 1.0
        for _ in range(GAIN_ROUNDS):
            got = mean_velocity_spread(hits, drum_controls.spread_velocities(hits, decoded_velocities,
                                                                              np.full(n, gain)))
            gain = float(np.clip(gain * target / max(got, 1e-6), *GAIN_RANGE))
        gains[s] = gain
    return {"hit_thresholds": thresholds, "velocity_gain": gains}


def save_calibration(run_dir: str | Path, calibration: dict[str, np.ndarray]) -> None:
    payload = {"hit_thresholds": np.asarray(calibration["hit_thresholds"], float).round(6).tolist(),
               "velocity_gain": np.asarray(calibration["velocity_gain"], float).round(6).tolist(),
               "styles": list(STYLES), "instruments": list(INSTRUMENTS), "bars_per_style": CALIBRATION_BARS,
               "seed": CALIBRATION_SEED,
               "rule": "a cell is a hit when its logit > the threshold of its style and instrument "
                       "(minus complexity * COMPLEXITY_LOGIT_SHIFT); velocities = bar mean + gain x "
                       "(velocity - bar mean), clipped to [1/127, 1]"}
    atomic_write_text(Path(run_dir) / CALIBRATION_FILE, json.dumps(payload, indent=1) + "\n")


def load_calibration(run_dir: str | Path) -> dict[str, np.ndarray] | None:
    """The calibration saved beside a checkpoint, or None when the run has none."""
    path = Path(run_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None
    payload = json.loads(path.read_text())
    if payload["styles"] != list(STYLES) or payload["instruments"] != list(INSTRUMENTS):
        raise ValueError(f"{path}: calibrated for other styles or instruments")
    return {"hit_thresholds": np.asarray(payload["hit_thresholds"], np.float32),
            "velocity_gain": np.asarray(payload["velocity_gain"], np.float32)}
