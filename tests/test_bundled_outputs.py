"""The bundled models give exactly what they gave before the code around them was reorganised.

Hashes of command outputs recorded with the code that shipped these models (commit 8ffd50c):
MIDI files are thresholded grids written at fixed times and PNGs are 8-bit pixels, so the
hashes hold across runs. They change only when the models are retrained and re-exported, and
then they must be re-recorded on purpose, with the reason in the commit.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgegen.cli.drumgen import main as drumgen
from edgegen.cli.fontgen import main as fontgen
from edgegen.models import MODELS_DIR

pytestmark = pytest.mark.skipif(not (MODELS_DIR / "drum_decoder.onnx").exists(),
                                reason="edgegen/models holds no exported models (`make export` writes them)")

RECORDED = {
    "jazz.mid": "5b6f1db4efa70a2e0473f6ddc86c7633244153852441b40b3c941161f0a6e4e1",
    "latin.mid": "058519993c35f1846592594acfa0eab311df8cab3107a35fa0fd15703d3b2c14",
    "rock.mid": "af97e6d33b4e53990bed9421593c1a208c987bf5e6f2f3770545aefcfe4433c4",
    "word.png": "89cde261251cc62512c113d755c68dc2fbea3641229b1cc2ca986351774926e8",
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bundled_models_draw_and_play_as_recorded(tmp_path, monkeypatch):
    monkeypatch.delenv("EDGEGEN_MODELS", raising=False)
    runner = CliRunner()
    commands = [
        (drumgen, ["sample", "--style", "jazz", "--bars", "8", "--seed", "5", "--out", str(tmp_path / "jazz.mid")]),
        (drumgen, ["sample", "--style", "latin", "--bars", "4", "--seed", "2", "--evolve", "2", "--humanize", "0.4",
                   "--swing", "0.3", "--out", str(tmp_path / "latin.mid")]),
        (drumgen, ["transfer", str(tmp_path / "jazz.mid"), "--to", "rock", "--out", str(tmp_path / "rock.mid")]),
        (fontgen, ["word", "HAMBURGEFONTS", "--seed", "3", "--out", str(tmp_path / "word.png")]),
    ]
    for command, args in commands:
        result = runner.invoke(command, args)
        assert result.exit_code == 0, result.output
    assert {name: _sha256(tmp_path / name) for name in RECORDED} == RECORDED
