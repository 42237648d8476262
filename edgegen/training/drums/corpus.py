"""The drum corpus: one-bar HVO bars cut from the Groove MIDI Dataset (DESIGN section 3.2).

A bar is hits [16, 9], and for each hit its velocity (0-1: the MIDI velocity / 127)
and its offset from the 16th-note grid (-0.5..0.5 of a step), GrooVAE's HVO
representation: what a drummer played, not only where. A cell with several onsets
keeps the loudest. Built once from a GMD folder and shipped inside the package
(edgegen/data/groove_corpus.npz, about 0.5 MB: hits as packed bits, then per hit its
MIDI velocity as uint8 and its offset as int8 in 1/254ths of a step, 0.5 ms at 120 BPM)
with GMD's attribution and license, so a fresh machine trains without the dataset. GMD's own
train/validation/test split is kept: its test performances never leak into
training, and duplicates are removed only within a split (about 10 % of test
bars also occur in training; that is what the nearest-bar baseline measures).
"""
from __future__ import annotations

import csv
import shutil
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from edgegen.data import DATA_DIR
from edgegen.runtime.drum_spec import GMD_STYLE_MAP, INSTRUMENTS, STEPS, STYLES
from edgegen.runtime.files import atomic_output
from edgegen.runtime.midi_io import MidiFileError, read_midi

SPLITS: tuple[str, ...] = ("train", "validation", "test")
OFFSET_SCALE = 254  # stored int8 offset = round(offset in steps * OFFSET_SCALE): -0.5..0.5 -> -127..127
CORPUS_PATH = DATA_DIR / "groove_corpus.npz"
MIN_TRAIN_BARS_PER_STYLE = 200


@dataclass
class Corpus:
    """Bars with their style, split and source; all arrays share the first axis."""

    grids: np.ndarray  # [N, 16, 9] bool, the hits
    styles: np.ndarray  # [N] int64 index into STYLES
    splits: np.ndarray  # [N] int64 index into SPLITS
    sources: np.ndarray  # [N] str, "<GMD id>:<bar index>"
    velocities: np.ndarray  # [N, 16, 9] float32 in 0-1 (MIDI velocity / 127), 0 where no hit
    offsets: np.ndarray  # [N, 16, 9] float32, steps from the grid in -0.5..0.5, 0 where no hit

    def subset(self, split: str) -> "Corpus":
        """The bars of one split ("train", "validation" or "test")."""
        return self.take(self.splits == SPLITS.index(split))

    def take(self, index: np.ndarray) -> "Corpus":
        """The bars at ``index`` (an index array or a boolean mask; for splits, quick runs and tests)."""
        return Corpus(self.grids[index], self.styles[index], self.splits[index], self.sources[index],
                      self.velocities[index], self.offsets[index])

    def hvo(self) -> np.ndarray:
        """The model's input [N, 16, 27] float32: hits, velocities, offsets, 9 columns each."""
        return hvo(self.grids, self.velocities, self.offsets)

    def counts(self) -> dict[str, dict[str, int]]:
        """{split: {style: bars}}, the table the results report."""
        return {
            split: {
                style: int(((self.splits == si) & (self.styles == st)).sum())
                for st, style in enumerate(STYLES)
            }
            for si, split in enumerate(SPLITS)
        }

    def __len__(self) -> int:
        return len(self.grids)


def concatenate(corpora: "list[Corpus] | tuple[Corpus, ...]") -> Corpus:
    """One corpus of the bars of ``corpora``, in order (e.g. training and validation bars for the final fit)."""
    return Corpus(*(np.concatenate([getattr(c, f.name) for c in corpora]) for f in fields(Corpus)))


def pack_grids(grids: np.ndarray) -> np.ndarray:
    """[N, 16, 9] bool -> [N, 18] uint8 bits (144 cells per bar)."""
    return np.packbits(grids.reshape(len(grids), -1).astype(bool), axis=1)


def unpack_grids(packed: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_grids`."""
    cells = STEPS * len(INSTRUMENTS)
    return np.unpackbits(packed, axis=1, count=cells).astype(bool).reshape(-1, STEPS, len(INSTRUMENTS))


def hvo(grids: np.ndarray, velocities: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Hits, velocities and offsets [N, 16, 9] each -> [N, 16, 27] float32 (velocity and offset 0 where no hit)."""
    hits = np.asarray(grids, dtype=np.float32)
    return np.concatenate([hits, hits * velocities, hits * offsets], axis=-1).astype(np.float32)


def build_corpus(gmd: str | Path, include_fills: bool = False) -> tuple[Corpus, list[str]]:
    """Read every mapped-style, 4/4 GMD performance into unique non-empty bars per split.

    Returns the corpus and the list of files skipped (with the reason), which
    the command prints.
    """
    gmd = Path(gmd)
    rows = list(csv.DictReader(open(gmd / "info.csv", newline="")))
    seen: set[tuple[int, bytes]] = set()
    grids, velocities, offsets, styles, splits, sources, skipped = [], [], [], [], [], [], []
    for row in rows:
        style = GMD_STYLE_MAP.get(row["style"].split("/")[0])
        if style is None or row["split"] not in SPLITS:
            continue
        if row["beat_type"] != "beat" and not include_fills:
            continue
        try:
            track = read_midi(gmd / row["midi_filename"])
        except MidiFileError as exc:
            skipped.append(str(exc))
            continue
        split = SPLITS.index(row["split"])
        for bar_index, grid in enumerate(track.grids):
            key = (split, np.packbits(grid).tobytes())
            if not grid.any() or key in seen:
                continue
            seen.add(key)
            grids.append(grid)
            velocities.append(track.velocities[bar_index])
            offsets.append(track.offsets[bar_index])
            styles.append(STYLES.index(style))
            splits.append(split)
            sources.append(f"{row['id']}:{bar_index}")
    corpus = Corpus(
        np.array(grids, dtype=bool), np.array(styles, dtype=np.int64),
        np.array(splits, dtype=np.int64), np.array(sources),
        np.array(velocities, dtype=np.float32).reshape(-1, STEPS, len(INSTRUMENTS)) / 127.0,
        _dequantise_offsets(_quantise_offsets(np.array(offsets, dtype=np.float32).reshape(-1, STEPS, len(INSTRUMENTS)))),
    )
    return corpus, skipped


def _quantise_offsets(offsets: np.ndarray) -> np.ndarray:
    return np.clip(np.round(offsets * OFFSET_SCALE), -127, 127).astype(np.int8)


def _dequantise_offsets(stored: np.ndarray) -> np.ndarray:
    return (stored.astype(np.float32) / OFFSET_SCALE).astype(np.float32)


def save_corpus(corpus: Corpus, path: str | Path = CORPUS_PATH) -> None:
    """Write the compact .npz atomically (packed bits, per-hit uint8 velocity and int8 offset, no pickled objects)."""
    hits = corpus.grids.astype(bool)
    with atomic_output(path, suffix=".npz") as tmp:
        np.savez_compressed(
            tmp, grids_packed=pack_grids(corpus.grids),
            hit_velocities=np.clip(np.round(corpus.velocities[hits] * 127), 1, 127).astype(np.uint8),  # C order
            hit_offsets=_quantise_offsets(corpus.offsets[hits]), styles=corpus.styles.astype(np.int8),
            splits=corpus.splits.astype(np.int8), sources=corpus.sources.astype(str),
            style_names=np.array(STYLES), split_names=np.array(SPLITS), instruments=np.array(INSTRUMENTS),
        )


def load_corpus(path: str | Path = CORPUS_PATH) -> Corpus:
    """Load the committed corpus (or another built by :func:`save_corpus`)."""
    with np.load(path, allow_pickle=False) as data:
        if tuple(data["style_names"]) != STYLES or tuple(data["instruments"]) != INSTRUMENTS:
            raise ValueError(f"{path}: corpus was built for other styles or instruments")
        grids = unpack_grids(data["grids_packed"])
        velocities, offsets = np.zeros(grids.shape, np.float32), np.zeros(grids.shape, np.float32)
        if "hit_velocities" in data:  # corpora built before HVO have hits only: velocity 0, offset 0
            velocities[grids] = data["hit_velocities"].astype(np.float32) / 127.0
            offsets[grids] = _dequantise_offsets(data["hit_offsets"])
        return Corpus(grids, data["styles"].astype(np.int64), data["splits"].astype(np.int64), data["sources"],
                      velocities, offsets)


def copy_attribution(gmd: str | Path, out_dir: str | Path = DATA_DIR) -> None:
    """Ship GMD's ATTRIBUTION.md and LICENSE (CC BY 4.0) beside the derived corpus."""
    gmd, out_dir = Path(gmd), Path(out_dir)
    for name, target in (("ATTRIBUTION.md", "GROOVE_ATTRIBUTION.md"), ("LICENSE", "GROOVE_LICENSE")):
        with atomic_output(out_dir / target) as tmp:
            shutil.copyfile(gmd / name, tmp)


def balanced_style_weights(styles: np.ndarray, n_styles: int = len(STYLES)) -> np.ndarray:
    """Per-style loss weights total / (n_styles * count) [n_styles] float32: 1 for every style of a
    balanced corpus, so electronic (a tenth of rock's bars) counts as much as rock. Absent styles count as 1 bar."""
    counts = np.maximum(np.bincount(styles, minlength=n_styles).astype(np.float64), 1)
    return (counts.sum() / (n_styles * counts)).astype(np.float32)


def check_counts(corpus: Corpus) -> list[str]:
    """Styles with fewer than MIN_TRAIN_BARS_PER_STYLE distinct training bars (should be none)."""
    train = Counter(corpus.subset("train").styles.tolist())
    return [s for i, s in enumerate(STYLES) if train.get(i, 0) < MIN_TRAIN_BARS_PER_STYLE]
