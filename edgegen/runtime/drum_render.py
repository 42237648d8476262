"""Drum grids for eyes: a terminal view and a piano-roll PNG (Pillow, no matplotlib).

Both take plain grids [n, 16, 9] or anything with ``.hits`` (a drum_controls.Groove); the
PNG shades each hit by its velocity (darker = louder) when the bars carry velocities.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgegen.runtime.drum_spec import INSTRUMENTS, STEPS, STEPS_PER_BEAT
from edgegen.runtime.files import atomic_output

HIT, REST, BEAT_REST = "x", ".", ":"


def grid_text(grids: np.ndarray, title: str = "") -> str:
    """Bars [n, 16, 9] as text: one block per bar, one row per instrument, one column per 16th."""
    grids = np.asarray(getattr(grids, "hits", grids), dtype=bool).reshape(-1, STEPS, len(INSTRUMENTS))
    width = max(len(name) for name in INSTRUMENTS)
    lines = [title] if title else []
    for bar, grid in enumerate(grids):
        counts = " ".join(str(s // STEPS_PER_BEAT + 1) if s % STEPS_PER_BEAT == 0 else " " for s in range(STEPS))
        lines.append(f"{'bar ' + str(bar + 1):<{width}}  {counts}")
        for i, name in enumerate(INSTRUMENTS):
            cells = " ".join(
                HIT if grid[s, i] else (BEAT_REST if s % STEPS_PER_BEAT == 0 else REST) for s in range(STEPS)
            )
            lines.append(f"{name:<{width}}  {cells}")
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def piano_roll(grids: np.ndarray, cell: int = 12) -> np.ndarray:
    """RGB image [H, W, 3] uint8: instruments top to bottom, time left to right, beat and bar lines."""
    velocities = getattr(grids, "velocities", None)
    grids = np.asarray(getattr(grids, "hits", grids), dtype=bool).reshape(-1, STEPS, len(INSTRUMENTS))
    velocities = np.ones(grids.shape) if velocities is None else np.asarray(velocities).reshape(grids.shape)
    steps = grids.shape[0] * STEPS
    roll = np.concatenate(list(grids), axis=0).T  # [9, steps]
    loud = np.concatenate(list(velocities), axis=0).T  # [9, steps] 0-1
    image = np.full((len(INSTRUMENTS) * cell, steps * cell, 3), 255, np.uint8)
    for s in range(steps):  # shade every other beat so the pulse reads at a glance
        if (s // STEPS_PER_BEAT) % 2 == 1:
            image[:, s * cell:(s + 1) * cell] = 242
    for i, s in zip(*np.nonzero(roll)):
        shade = 0.25 + 0.75 * float(np.clip(loud[i, s], 0, 1))  # soft notes pale, loud ones full blue
        colour = np.round(255 - shade * (255 - np.array((30, 60, 160)))).astype(np.uint8)
        image[i * cell + 1:(i + 1) * cell - 1, s * cell + 1:(s + 1) * cell - 1] = colour
    for i in range(1, len(INSTRUMENTS)):
        image[i * cell, :] = 220
    for s in range(0, steps, STEPS):
        image[:, s * cell] = (90, 90, 90)
    return image


LABEL_WIDTH = 72  # pixels for the instrument names left of the roll


def save_piano_roll(grids: np.ndarray, path: str | os.PathLike, cell: int = 12) -> None:
    """Write :func:`piano_roll` as a PNG with instrument names on the left, atomically."""
    from PIL import Image, ImageDraw

    roll = Image.fromarray(piano_roll(grids, cell))
    image = Image.new("RGB", (LABEL_WIDTH + roll.width, roll.height), (255, 255, 255))
    image.paste(roll, (LABEL_WIDTH, 0))
    draw = ImageDraw.Draw(image)
    for i, name in enumerate(INSTRUMENTS):
        draw.text((4, i * cell + cell // 2), name, fill=(40, 40, 40), anchor="lm")
    with atomic_output(Path(path), suffix=".png") as tmp:
        image.save(tmp, format="PNG")
