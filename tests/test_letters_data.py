"""Letter dataset: determinism, manifest and cache, font validation."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgegen.training.letters import data as ld
from edgegen.training.letters.cli import cli

TINY = ld.LetterDataConfig(train_per_font_letter=2, val_per_font_letter=1)


def two_fonts():
    return ld.default_font_paths()[:2]


def test_default_fonts_are_the_ten_and_all_valid():
    paths = ld.default_font_paths()
    assert len(paths) == 10
    for p in paths:
        ld.validate_font(p)


def test_same_seed_same_images_other_seed_other_images():
    a = ld.build_letters(two_fonts(), TINY)
    b = ld.build_letters(two_fonts(), TINY)
    c = ld.build_letters(two_fonts(), ld.LetterDataConfig(train_per_font_letter=2, val_per_font_letter=1, seed=1))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["x_train"], c["x_train"])
    assert a["x_train"].shape == (2 * 26 * 2, 28, 28) and a["x_train"].dtype == np.float32
    assert 0.0 <= a["x_train"].min() and a["x_train"].max() <= 1.0
    # every letter equally often, ink on a dark background
    assert np.all(np.bincount(a["y_train"], minlength=26) == 4)
    assert a["x_train"].mean() < 0.4


def test_manifest_records_fonts_counts_seed_checksum_and_cache_is_reused(tmp_path):
    messages = []
    arrays = ld.load_or_build(tmp_path, two_fonts(), TINY, log=messages.append)
    manifest = json.loads((tmp_path / ld.MANIFEST_FILE).read_text())
    assert [f["file"] for f in manifest["fonts"]] == [p.name for p in two_fonts()]
    assert manifest["counts"]["train"] == len(arrays["y_train"]) == 104
    assert manifest["counts"]["val"] == 52
    assert manifest["seed"] == 0
    assert manifest["checksum"] == ld.arrays_checksum(arrays)
    again = ld.load_or_build(tmp_path, two_fonts(), TINY, log=messages.append)
    assert "cached" in messages[-1]
    assert all(np.array_equal(arrays[k], again[k]) for k in arrays)
    # another request (different seed) is not served from the cache
    ld.load_or_build(tmp_path, two_fonts(), ld.LetterDataConfig(2, 1, seed=3), log=messages.append)
    assert "rendering" in messages[-1]
    assert json.loads((tmp_path / ld.MANIFEST_FILE).read_text())["seed"] == 3


def test_unreadable_font_is_named(tmp_path):
    bad = tmp_path / "broken.ttf"
    bad.write_bytes(b"not a font at all")
    with pytest.raises(ld.FontError, match="broken.ttf"):
        ld.validate_font(bad)


@pytest.mark.parametrize("name", ["cmex10.ttf", "LastResortHE-Regular.ttf", "STIXSizOneSymReg.ttf",
                                  "DejaVuSansDisplay.ttf"])
def test_fonts_that_claim_letters_but_draw_symbols_boxes_or_nothing_are_rejected(name):
    with pytest.raises(ld.FontError, match=name):
        ld.validate_font(ld.matplotlib_font_dir() / name)


def test_cli_names_a_bad_font_in_one_line(tmp_path):
    bad = tmp_path / "broken.ttf"
    bad.write_bytes(b"\x00" * 64)
    result = CliRunner().invoke(cli, ["data", "--data", str(tmp_path / "d"), "--fonts", str(bad)])
    assert result.exit_code == 1
    assert "broken.ttf" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "d" / ld.DATA_FILE).exists()


def test_fonts_option_accepts_a_folder(tmp_path):
    folder = tmp_path / "fonts"
    folder.mkdir()
    for p in two_fonts():
        (folder / p.name).write_bytes(p.read_bytes())
    assert [p.name for p in ld.expand_font_args([str(folder)])] == sorted(p.name for p in two_fonts())
