"""Letter-style metrics: they tell many real styles from one collapsed style, and blur and speckle from clean ink."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from edgegen.training.letters import style_metrics as sm
from edgegen.training.letters.data import matplotlib_font_dir
from edgegen.training.letters.style_report import render_fonts

FONTS = ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono", "DejaVuSerif", "DejaVuSerif-BoldItalic", "STIXGeneral",
         "STIXGeneralBolIta", "cmr10", "cmss10", "cmtt10", "DejaVuSans-Oblique", "STIXGeneralItalic")


@pytest.fixture(scope="module")
def real():
    """Crops [12 fonts, 26, 28, 28] of matplotlib's fonts."""
    fonts = render_fonts([matplotlib_font_dir() / f"{name}.ttf" for name in FONTS], ["train"] * len(FONTS))
    return sm.crop_glyphs(fonts.glyphs)


def test_crop_ignores_position_and_size(real):
    glyph = real[0, 0]                                   # A of DejaVu Sans, centred, 20 px tall
    canvas = np.zeros((40, 40), np.float32)
    canvas[3:31, 9:37] = glyph                           # the same glyph elsewhere on a larger canvas
    assert np.allclose(sm.crop_glyph(canvas), sm.crop_glyph(glyph), atol=1e-6)
    twice = np.asarray(Image.fromarray(glyph, mode="F").resize((56, 56), Image.LANCZOS)).clip(0, 1)
    assert np.abs(sm.crop_glyph(twice) - sm.crop_glyph(glyph)).mean() < 0.03   # a 56 px canvas, same crop
    assert np.abs(sm.crop_glyph(twice) - sm.crop_glyph(real[1, 0])).mean() > 0.05  # another font is not
    assert not sm.crop_glyph(np.zeros((32, 32))).any()


def test_crop_of_a_real_glyph_is_the_glyph(real):
    assert np.abs(sm.crop_glyphs(real) - real).mean() < 0.02


def test_diversity_and_spreads_tell_real_fonts_from_one_collapsed_font(real):
    many, collapsed = real[:8], np.repeat(real[:1], 8, axis=0)
    d_real, d_collapsed = sm.diversity(many, real)["diversity"], sm.diversity(collapsed, real)["diversity"]
    assert 0.8 < d_real < 1.25 and d_collapsed == 0.0
    for measure in (sm.stroke_weight, sm.slant):
        assert sm.spread_ratio(measure(collapsed), measure(real)) < 1e-9
        assert sm.spread_ratio(measure(many), measure(real)) > 0.6
    # edge noise on one font is not style: blurred distances stay far below real fonts'
    noisy = np.clip(collapsed + np.random.default_rng(0).normal(0, 0.08, collapsed.shape), 0, 1).astype(np.float32)
    assert sm.diversity(noisy, real)["diversity"] < 0.3


def test_weight_and_slant_measure_bold_and_italic(real):
    weight, slant = sm.stroke_weight(real).mean(1), sm.slant(real).mean(1)
    sans, bold, oblique = FONTS.index("DejaVuSans"), FONTS.index("DejaVuSans-Bold"), FONTS.index("DejaVuSans-Oblique")
    assert weight[bold] > 1.4 * weight[sans]
    assert slant[oblique] > slant[sans] + 0.1 and abs(slant[sans]) < 0.05
    bolder = ndimage.grey_dilation(real[sans], size=(1, 2, 2))
    assert sm.stroke_weight(bolder).mean() > weight[sans] + 0.5


def test_consistency_sees_a_style_that_mixes_fonts(real):
    weight, slant = sm.stroke_weight(real), sm.slant(real)
    mixed = np.stack([real[(np.arange(26) + k) % len(real), np.arange(26)] for k in range(len(real))])
    own = sm.style_consistency(weight, slant, weight, slant)
    ransom = sm.style_consistency(sm.stroke_weight(mixed), sm.slant(mixed), weight, slant)
    assert own["weight_cv_ratio"] == pytest.approx(1.0) and own["slant_sd_ratio"] == pytest.approx(1.0)
    assert ransom["weight_cv_ratio"] > 2.0 and ransom["slant_sd_ratio"] > 1.5


def test_retrieval_is_one_for_the_true_glyphs_and_chance_for_one_font(real):
    truth = real[:, 13:]
    assert sm.retrieval(truth, truth)["retrieval"] == 1.0
    collapsed = np.repeat(truth[:1], len(truth), axis=0)
    result = sm.retrieval(collapsed, truth)
    assert result["retrieval"] == pytest.approx(1 / len(truth)) == result["chance"]
    assert sm.retrieval(truth, truth)["l1_to_true"] == 0.0 < result["l1_to_true"]
    assert np.array_equal(sm.nearest_fonts(real[:4, :13], real[:, :13]), np.arange(4))


def test_blur_raises_the_mid_gray_share_and_specks_are_counted(real):
    blurred = ndimage.gaussian_filter(real, sigma=(0, 0, 0.8, 0.8))
    assert sm.cleanliness(real, real)["mid_gray_ratio"] == 1.0
    assert sm.cleanliness(blurred, real)["mid_gray_ratio"] > 1.3
    glyphs = real[0].copy()
    assert sm.speck_counts(glyphs).sum() == 0
    rng = np.random.default_rng(1)
    added = 0
    for glyph in glyphs:
        for _ in range(3):       # single dark pixels on the paper, away from the ink
            y, x = rng.integers(0, 28, 2)
            if glyph[max(0, y - 1):y + 2, max(0, x - 1):x + 2].max() < sm.INK_THRESHOLD:
                glyph[y, x] = 0.9
                added += 1
    assert added > 20 and sm.speck_counts(glyphs).sum() == added
    assert sm.cleanliness(glyphs, real[0])["specks_per_glyph"] == pytest.approx(added / 26)


def test_frechet_distance_is_zero_for_one_set_and_grows_with_a_shift():
    features = np.random.default_rng(0).normal(size=(400, 8))
    assert abs(sm.frechet_distance(features, features)) < 1e-6
    assert sm.frechet_distance(features, features + 1.0) == pytest.approx(8.0, rel=0.05)


def test_distinct_fonts_leave_out_a_near_copy(real):
    sibling = np.clip(real[:1] + 0.02, 0, 1)                 # the first font again, a shade darker
    fonts = np.concatenate([real[:6], sibling])
    chosen = sm.distinct_fonts(fonts, 6)
    assert len(chosen) == 6 and not {0, 6} <= set(chosen.tolist())
    assert np.array_equal(sm.distinct_fonts(fonts, 99), np.arange(7))
