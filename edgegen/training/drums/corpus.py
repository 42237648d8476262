"""The drum corpus: one-bar grids cut from the Groove MIDI Dataset (DESIGN section 3.2).

Built once from a GMD folder and shipped inside the package
(edgegen/data/groove_corpus.npz, a few hundred KB) with GMD's attribution and
license, so a fresh machine trains without the dataset. GMD's own
train/validation/test split is kept: its test performances never leak into
training, and duplicates are removed only within a split (about 10 % of test
bars also occur in training; that is what the nearest-bar baseline measures).
"""
from __future__ import annotations

import csv
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgegen.data import DATA_DIR
from edgegen.runtime.drum_spec import GMD_STYLE_MAP, INSTRUMENTS, STEPS, STYLES
from edgegen.runtime.files import atomic_output
from edgegen.runtime.midi_io import MidiFileError, read_midi

SPLITS: tuple[str, ...] = ("train", "validation", "test")
CORPUS_PATH = DATA_DIR / "groove_corpus.npz"
MIN_TRAIN_BARS_PER_STYLE = 200


@dataclass
class Corpus:
    """Bars with their style, split and source; all arrays share the first axis."""

    grids: np.ndarray  # [N, 16, 9] bool
    styles: np.ndarray  # [N] int64 index into STYLES
    splits: np.ndarray  # [N] int64 index into SPLITS
    sources: np.ndarray  # [N] str, "<GMD id>:<bar index>"

    def subset(self, split: str) -> "Corpus":
        """The bars of one split ("train", "validation" or "test")."""
        keep = self.splits == SPLITS.index(split)
        return Corpus(self.grids[keep], self.styles[keep], self.splits[keep], self.sources[keep])

    def take(self, index: np.ndarray) -> "Corpus":
        """The bars at ``index`` (for quick runs and tests)."""
        return Corpus(self.grids[index], self.styles[index], self.splits[index], self.sources[index])

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


def pack_grids(grids: np.ndarray) -> np.ndarray:
    """[N, 16, 9] bool -> [N, 18] uint8 bits (144 cells per bar)."""
    return np.packbits(grids.reshape(len(grids), -1).astype(bool), axis=1)


def unpack_grids(packed: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_grids`."""
    cells = STEPS * len(INSTRUMENTS)
    return np.unpackbits(packed, axis=1, count=cells).astype(bool).reshape(-1, STEPS, len(INSTRUMENTS))


def build_corpus(gmd: str | Path, include_fills: bool = False) -> tuple[Corpus, list[str]]:
    """Read every mapped-style, 4/4 GMD performance into unique non-empty bars per split.

    Returns the corpus and the list of files skipped (with the reason), which
    the command prints.
    """
    gmd = Path(gmd)
    rows = list(csv.DictReader(open(gmd / "info.csv", newline="")))
    seen: set[tuple[int, bytes]] = set()
    grids, styles, splits, sources, skipped = [], [], [], [], []
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
            styles.append(STYLES.index(style))
            splits.append(split)
            sources.append(f"{row['id']}:{bar_index}")
    corpus = Corpus(
        np.array(grids, dtype=bool), np.array(styles, dtype=np.int64),
        np.array(splits, dtype=np.int64), np.array(sources),
    )
    return corpus, skipped


def save_corpus(corpus: Corpus, path: str | Path = CORPUS_PATH) -> None:
    """Write the compact .npz atomically (packed bits, no pickled objects)."""
    with atomic_output(path, suffix=".npz") as tmp:
        np.savez_compressed(
            tmp, grids_packed=pack_grids(corpus.grids), styles=corpus.styles.astype(np.int8),
            splits=corpus.splits.astype(np.int8), sources=corpus.sources.astype(str),
            style_names=np.array(STYLES), split_names=np.array(SPLITS), instruments=np.array(INSTRUMENTS),
        )


def load_corpus(path: str | Path = CORPUS_PATH) -> Corpus:
    """Load the committed corpus (or another built by :func:`save_corpus`)."""
    with np.load(path, allow_pickle=False) as data:
        if tuple(data["style_names"]) != STYLES or tuple(data["instruments"]) != INSTRUMENTS:
            raise ValueError(f"{path}: corpus was built for other styles or instruments")
        return Corpus(
            unpack_grids(data["grids_packed"]), data["styles"].astype(np.int64),
            data["splits"].astype(np.int64), data["sources"],
        )


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
