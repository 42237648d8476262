"""The judge and the style report: a judge learns from a few fonts in seconds and reads fonts it never saw;
the report scores real fonts as real, a collapsed model as collapsed, and the bundled GAN as the issue found it."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from edgegen.training.letters import style_metrics as sm
from edgegen.training.letters import style_report as sr
from edgegen.training.letters.data import matplotlib_font_dir
from edgegen.training.letters.judge import load_judge, train_judge

TRAIN = ("DejaVuSans", "DejaVuSerif-BoldItalic", "STIXGeneral", "cmss10", "cmtt10", "DejaVuSans-Bold")
VAL = ("DejaVuSerif", "STIXGeneralBolIta", "cmr10", "DejaVuSansMono")
JUDGE = ("DejaVuSans-Oblique", "DejaVuSerif-Bold", "STIXGeneralItalic", "cmb10", "DejaVuSansMono-Bold")
TINY_JUDGE = sr.quick_judge_config()


@pytest.fixture(scope="module")
def fonts():
    names = TRAIN + VAL + JUDGE
    split = ["train"] * len(TRAIN) + ["val"] * len(VAL) + ["judge"] * len(JUDGE)
    return sr.render_fonts([matplotlib_font_dir() / f"{name}.ttf" for name in names], split)


@pytest.fixture(scope="module")
def judge(fonts, tmp_path_factory):
    torch.set_num_threads(1)
    return train_judge(fonts, TINY_JUDGE, tmp_path_factory.mktemp("judge"), log=lambda *_: None)


def test_a_tiny_judge_reads_fonts_it_never_saw_and_reloads_from_its_checkpoint(fonts, judge, tmp_path_factory):
    val = np.flatnonzero(np.asarray(fonts.split) == "val")
    crops = sm.crop_glyphs(fonts.glyphs[val]).reshape(-1, 28, 28)
    asked = np.tile(np.arange(26), len(val))
    accuracy = sm.legibility(judge.probabilities(crops), asked)
    assert accuracy > 0.6 and judge.val_accuracy == pytest.approx(accuracy)      # chance: 1/26
    own = np.flatnonzero(np.asarray(fonts.split) == "judge")
    assert sm.legibility(judge.probabilities(sm.crop_glyphs(fonts.glyphs[own]).reshape(-1, 28, 28)),
                         np.tile(np.arange(26), len(own))) > 0.9
    assert judge.checkpoint["metrics"]["n_judge_fonts"] == len(JUDGE)
    assert judge.features(crops[:5]).shape == (5, TINY_JUDGE.features)
    noise = np.random.default_rng(0).random((26, 28, 28)).astype(np.float32)
    assert sm.legibility(judge.probabilities(noise), np.arange(26)) < 0.3   # it reads letters, not anything
    again = load_judge(next(tmp_path_factory.getbasetemp().glob("judge*")) / "checkpoint.pt")
    assert np.allclose(again.probabilities(crops), judge.probabilities(crops), atol=1e-6)


def test_the_report_scores_real_fonts_as_real_and_a_collapsed_model_as_collapsed(fonts, judge, tmp_path):
    real = sr.write_style_report(sr.RealFontsDrawer(fonts), fonts, judge, tmp_path / "real", seeds=6, name="real",
                                 many_seeds=12)
    collapsed = sr.write_style_report(sr.CollapsedDrawer(fonts), fonts, judge, tmp_path / "collapsed", seeds=6,
                                      figures=False, many_seeds=12)
    r, c = real["random_styles"], collapsed["random_styles"]
    assert 0.75 < r["diversity"] < 1.3 and c["diversity"] == 0.0
    assert r["weight_spread"] > 0.6 and c["weight_spread"] < 1e-9
    assert real["many_seeds"]["diversity"] > 0.75 and collapsed["many_seeds"]["diversity"] == 0.0
    low, _, high = r["real_fonts_at_random"]["diversity"]
    assert low < 1.0 < high
    assert r["cleanliness"]["mid_gray_ratio"] == pytest.approx(1.0, abs=0.15)
    assert r["frechet"] < c["frechet"]
    assert real["few_shot"]["retrieval"] == 1.0 and real["few_shot"]["l1_to_true"] == 0.0
    assert collapsed["few_shot"]["retrieval"] == pytest.approx(1 / len(VAL))
    assert real["few_shot"]["baseline_retrieval"] < 1.0      # copying the nearest training font is not the font
    checks = {a["check"]: a["pass"] for a in collapsed["acceptance"]}
    assert not checks["random styles: diversity (blurred L1 / real fonts)"]
    # files: results.json (the returned numbers), results.md with the acceptance table, four figures
    assert json.loads((tmp_path / "real" / "results.json").read_text())["random_styles"]["diversity"] == r["diversity"]
    assert "| check | value | threshold |" in (tmp_path / "real" / "results.md").read_text()
    for figure in ("random_styles.png", "few_shot.png", "interpolation.png", "distributions.png"):
        assert (tmp_path / "real" / figure).stat().st_size > 5000
    assert sorted(p.name for p in (tmp_path / "collapsed").iterdir()) == ["results.json", "results.md"]


def test_the_bundled_gan_shows_the_collapse_the_issue_found(fonts, judge, tmp_path):
    from edgegen.runtime.font_generator import FontGenerator
    gan = sr.write_style_report(sr.GanDrawer(FontGenerator("letters_conditional_stabilised")), fonts, judge,
                                tmp_path, seeds=12, figures=False, many_seeds=0)
    r = gan["random_styles"]
    assert gan["few_shot"] is None and "no style encoder" in gan["few_shot_note"]
    assert r["weight_spread"] < 0.5 and r["diversity"] < 0.8           # seeds vary far less than fonts
    assert r["cleanliness"]["mid_gray_ratio"] > 1.2                      # and are blurrier than real glyphs
    assert not gan["all_pass"]


def test_a_canvas_that_does_not_match_the_fonts_is_refused(fonts, judge, tmp_path):
    drawer = sr.RealFontsDrawer(fonts)
    drawer.size = 32
    with pytest.raises(ValueError, match="28 px"):
        sr.write_style_report(drawer, fonts, judge, tmp_path)
    assert not list(tmp_path.iterdir())


def test_the_command_names_a_missing_model_in_one_line(tmp_path):
    result = CliRunner().invoke(sr.style_report_command, ["--model", "no_such_model", "--runs", str(tmp_path)])
    assert result.exit_code != 0 and result.output.startswith("Error: ") and len(result.output.splitlines()) == 1


def test_a_judge_is_not_reused_for_other_fonts(fonts, judge, tmp_path_factory):
    from edgegen.training.checkpoint import CheckpointError
    other = sr.RenderedFonts(fonts.glyphs, fonts.names, fonts.families, fonts.paths,
                             ["judge" if s == "val" else "val" if s == "judge" else s for s in fonts.split])
    run_dir = next(tmp_path_factory.getbasetemp().glob("judge*"))
    with pytest.raises(CheckpointError, match="fonts"):
        train_judge(other, TINY_JUDGE, run_dir, log=lambda *_: None)
    assert train_judge(fonts, TINY_JUDGE, run_dir, log=lambda *_: None).val_accuracy == judge.val_accuracy
