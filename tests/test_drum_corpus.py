"""The drum corpus: the committed file's guarantees, and the builder on a tiny fake GMD folder."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import mido
import numpy as np
from click.testing import CliRunner

from edgegen.runtime.drum_spec import STYLES
from edgegen.training.drums import corpus as drum_corpus
from edgegen.training.drums.cli import main as drums_cli

DATA = Path(__file__).parent / "data"
ROCK = DATA / "gmd_drummer7_session2_3_rock_120_beat_4-4.mid"
HIPHOP = DATA / "gmd_drummer7_session1_39_hiphop_100_beat_4-4.mid"


def test_committed_corpus_guarantees():
    corpus = drum_corpus.load_corpus()
    train = corpus.subset("train")
    counts = np.bincount(train.styles, minlength=len(STYLES))
    assert (counts >= drum_corpus.MIN_TRAIN_BARS_PER_STYLE).all(), counts
    assert corpus.grids.shape[1:] == (16, 9) and corpus.grids.reshape(len(corpus), -1).any(axis=1).all()
    for split in drum_corpus.SPLITS:
        part = corpus.subset(split)
        packed = {bytes(b) for b in drum_corpus.pack_grids(part.grids)}
        assert len(packed) == len(part), f"duplicates in {split}"
    assert len(corpus.subset("test")) > 500
    # sources name GMD performances, and no performance is in two splits
    performance = np.array([s.rsplit(":", 1)[0] for s in corpus.sources])
    for a in range(3):
        for b in range(a + 1, 3):
            assert not set(performance[corpus.splits == a]) & set(performance[corpus.splits == b])


def test_pack_round_trip():
    grids = np.random.default_rng(0).random((7, 16, 9)) < 0.3
    assert np.array_equal(drum_corpus.unpack_grids(drum_corpus.pack_grids(grids)), grids)


def _fake_gmd(root: Path) -> Path:
    """Five performances: rock train (twice: duplicates), afrocuban test, funk (dropped), a 3/4 file, a fill."""
    (root / "d").mkdir(parents=True)
    shutil.copy(ROCK, root / "d" / "rock.mid")
    shutil.copy(HIPHOP, root / "d" / "afro.mid")
    shutil.copy(HIPHOP, root / "d" / "fill.mid")
    track = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=3, denominator=4),
                            mido.Message("note_on", note=36, velocity=90, channel=9, time=0)])
    waltz = mido.MidiFile()
    waltz.tracks.append(track)
    waltz.save(root / "d" / "waltz.mid")
    (root / "ATTRIBUTION.md").write_text("attribution\n")
    (root / "LICENSE").write_text("license\n")
    rows = [("d/1", "rock", "beat", "d/rock.mid", "train"), ("d/2", "rock/fast", "beat", "d/rock.mid", "train"),
            ("d/3", "afrocuban/x", "beat", "d/afro.mid", "test"), ("d/4", "funk", "beat", "d/rock.mid", "train"),
            ("d/5", "jazz", "beat", "d/waltz.mid", "validation"), ("d/6", "jazz", "fill", "d/fill.mid", "validation")]
    with open(root / "info.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "style", "beat_type", "midi_filename", "split"])
        writer.writerows(rows)
    return root


def test_builder_maps_styles_keeps_splits_and_removes_duplicates(tmp_path):
    gmd = _fake_gmd(tmp_path / "gmd")
    corpus, skipped = drum_corpus.build_corpus(gmd)
    counts = corpus.counts()
    rock_bars = len({bytes(b) for b in drum_corpus.pack_grids(
        np.array([g for g in drum_corpus.read_midi(ROCK).grids if g.any()]))})
    assert counts["train"]["rock"] == rock_bars  # the second copy added nothing
    assert counts["test"]["latin"] > 0  # afrocuban -> latin
    assert sum(counts["validation"].values()) == 0  # the 3/4 file was skipped, the fill left out
    assert len(skipped) == 1 and "3/4" in skipped[0]
    with_fills, _ = drum_corpus.build_corpus(gmd, include_fills=True)
    assert with_fills.counts()["validation"]["jazz"] > 0


def test_corpus_command_writes_files_and_reports_short_styles(tmp_path):
    gmd = _fake_gmd(tmp_path / "gmd")
    out = tmp_path / "out"
    result = CliRunner().invoke(drums_cli, ["corpus", "--gmd", str(gmd), "--out", str(out)])
    assert result.exit_code == 1 and "fewer than 200 training bars" in result.output
    assert "Traceback" not in result.output
    assert (out / "groove_corpus.npz").exists() and (out / "GROOVE_LICENSE").read_text() == "license\n"
    rebuilt = drum_corpus.load_corpus(out / "groove_corpus.npz")
    assert rebuilt.counts()["train"]["rock"] > 0
