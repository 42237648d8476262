"""The letter style model at run time: the exported pair, its prior, the encoder, and fontgen's --like and
style morphs (tiny exported checkpoint for the mechanics; the bundled model for what users see)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

from tiny_runs import exported_models

from edgegen.cli.fontgen import main as fontgen
from edgegen.models import MODELS_DIR
from edgegen.runtime.font_generator import DEFAULT_LETTER_MODEL, StyleFontGenerator
from edgegen.runtime.glyphs import POINT_SIZE, letters_of_font
from edgegen.runtime.letter_spec import LETTERS
from edgegen.runtime.onnx_model import ModelError, OnnxModel
from edgegen.runtime.style_examples import ExampleError, font_examples, gather_examples, image_glyph
from edgegen.training.letters.data import matplotlib_font_dir

FONTS = matplotlib_font_dir()
SANS, SANS_BOLD, SERIF = FONTS / "DejaVuSans.ttf", FONTS / "DejaVuSans-Bold.ttf", FONTS / "DejaVuSerif.ttf"


@pytest.fixture
def models(tmp_path, monkeypatch):
    """The tiny models without the (untrained) letter classifier, which would read no example as its letter;
    test_symbol_fonts_are_refused_by_the_bundled_classifier checks that step with the real one."""
    folder = shutil.copytree(exported_models()[1], tmp_path / "models")
    for path in folder.glob("letter_classifier.onnx*"):
        path.unlink()
    monkeypatch.setenv("EDGEGEN_MODELS", str(folder))
    return folder


@pytest.fixture(scope="module")
def tiny():
    return StyleFontGenerator(models_dir=exported_models()[1])


def run(*args):
    return CliRunner().invoke(fontgen, [str(a) for a in args])


def one_line_error(result, *fragments):
    assert result.exit_code != 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in lines[0], result.output


# ----------------------------------------------------------------------------- the exported pair


def test_the_pair_carries_the_prior_and_refuses_a_mixed_up_encoder(models):
    generator = OnnxModel.by_name(DEFAULT_LETTER_MODEL, models).spec
    encoder = OnnxModel.by_name(f"{DEFAULT_LETTER_MODEL}_encoder", models).spec
    d = generator.latent["style_dim"]
    assert generator.kind == "letter_style_generator" and encoder.kind == "letter_style_encoder"
    assert generator.group == encoder.group and len(generator.group) == 64
    chol = np.array(generator.style_prior_cholesky)
    assert chol.shape == (d, d) and np.allclose(chol, np.tril(chol)) and (np.diag(chol) > 0).all()
    assert generator.parity["passed"] and encoder.parity["passed"]

    sidecar = models / f"{DEFAULT_LETTER_MODEL}_encoder.onnx.json"
    data = json.loads(sidecar.read_text())
    data["group"] = "f" * 64
    sidecar.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="different training"):
        StyleFontGenerator(models_dir=models).encode(np.zeros((1, 28, 28), np.float32), [0])


@pytest.mark.parametrize("damage, message", [
    (lambda d: d.update(style_prior_mean=d["style_prior_mean"][:-1]), "style_prior_mean must have"),
    (lambda d: d["style_prior_cholesky"][0].__setitem__(1, 0.5), "lower-triangular"),
    (lambda d: d["style_prior_cholesky"][0].__setitem__(0, -1.0), "positive diagonal"),
    (lambda d: d.update(latent={**d["latent"], "image_size": 32}), "shape of image"),
])
def test_a_damaged_style_sidecar_is_one_clear_error(models, damage, message):
    sidecar = models / f"{DEFAULT_LETTER_MODEL}.onnx.json"
    data = json.loads(sidecar.read_text())
    damage(data)
    sidecar.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=message):
        StyleFontGenerator(models_dir=models)


def test_seeds_draw_styles_from_the_prior(tiny):
    a, b = tiny.sample_styles(1, 3), tiny.sample_styles(2, 3)
    assert a.shape == (3, tiny.style_dim) and a.dtype == np.float32
    assert np.array_equal(a, tiny.sample_styles(1, 3)) and not np.allclose(a, b)
    many = tiny.sample_styles(7, 20000)
    cov = tiny.prior_cholesky @ tiny.prior_cholesky.T
    assert np.allclose(many.mean(0), tiny.prior_mean, atol=0.05 * np.sqrt(np.diag(cov)).max() + 1e-3)
    assert np.allclose(np.cov(many.T), cov, atol=0.05 * np.abs(cov).max())


def test_encode_draw_and_style_morphs(tiny):
    glyphs = letters_of_font(ImageFont.truetype(str(SERIF), POINT_SIZE), "HAMBURG")
    letters = np.array([LETTERS.index(c) for c in "HAMBURG"])
    style = tiny.encode(glyphs, letters)
    assert style.shape == (tiny.style_dim,)
    order = np.random.default_rng(0).permutation(7)
    assert np.allclose(tiny.encode(glyphs[order], letters[order]), style, atol=1e-5)
    assert not np.allclose(tiny.encode(glyphs[:2], letters[:2]), style)
    drawn = tiny.draw(np.stack([style] * 3), np.array([0, 16, 25]))
    assert drawn.shape == (3, 28, 28) and drawn.dtype == np.float32 and 0 <= drawn.min() and drawn.max() <= 1
    assert np.allclose(tiny.word("AQZ", style=style), drawn, atol=1e-6)
    other = tiny.sample_styles(3, 1)[0]
    rows = tiny.interpolate_styles(style, other, "QR", steps=4)
    assert rows.shape == (4, 2, 28, 28)
    assert np.allclose(rows[0], tiny.word("QR", style=style), atol=1e-6)
    assert np.allclose(rows[-1], tiny.word("QR", style=other), atol=1e-6)
    with pytest.raises(ValueError, match="encode needs"):
        tiny.encode(glyphs[:, :20, :20], letters)


# ----------------------------------------------------------------------------- examples from files


def _letter_image(path, letter="R", size=64, dark_on_light=True, alpha=False, font=SERIF):
    ink, paper = (0, 255) if dark_on_light else (255, 0)
    image = Image.new("RGBA" if alpha else "L", (size, size), (0, 0, 0, 0) if alpha else paper)
    draw = ImageDraw.Draw(image)
    draw.text((size / 2, size / 2), letter, fill=(ink, ink, ink, 255) if alpha else ink,
              font=ImageFont.truetype(str(font), int(size * 0.7)), anchor="mm")
    image.save(path)
    return path


def test_letter_images_are_normalised_whatever_their_size_and_polarity(tmp_path):
    variants = [image_glyph(_letter_image(tmp_path / "a.png", size=64)),
                image_glyph(_letter_image(tmp_path / "b.png", size=200, dark_on_light=False)),
                image_glyph(_letter_image(tmp_path / "c.png", size=90, alpha=True))]
    reference = letters_of_font(ImageFont.truetype(str(SERIF), POINT_SIZE), "R")[0]
    for glyph in variants:
        assert glyph.shape == (28, 28) and glyph.max() == pytest.approx(1.0, abs=0.02)
        assert glyph[0].max() == 0 and glyph[:, 0].max() == 0  # background is 0, ink 1
        assert np.abs(glyph - reference).mean() < 0.08, np.abs(glyph - reference).mean()


def test_font_examples_use_only_the_asked_letters_it_has(tmp_path):
    examples = font_examples(SANS, "hamburg")
    assert "".join(LETTERS[i] for i in examples.letters) == "HAMBURG" and examples.glyphs.shape == (7, 28, 28)
    mixed = gather_examples([str(SANS), f"Q={_letter_image(tmp_path / 'q.png', 'Q')}"], "AB")
    assert "".join(LETTERS[i] for i in mixed.letters) == "ABQ"
    with pytest.raises(ExampleError, match="no usable capital letters"):
        font_examples(FONTS / "STIXSizOneSymReg.ttf", "HAMBURG")


@pytest.mark.skipif(not (MODELS_DIR / "letter_classifier.onnx").is_file(), reason="no bundled letter classifier")
def test_symbol_fonts_are_refused_by_the_bundled_classifier():
    from edgegen.runtime.font_generator import LetterClassifier
    from edgegen.runtime.style_examples import check_readable

    classifier = LetterClassifier(MODELS_DIR)
    check_readable(font_examples(SERIF, "HAMBURGEFONTS"), classifier)
    with pytest.raises(ExampleError, match="does not look like letters"):
        check_readable(font_examples(FONTS / "cmex10.ttf", "HAMBURGEFONTS"), classifier)


# ----------------------------------------------------------------------------- the commands


def test_like_commands_write_pngs(models, tmp_path):
    r = _letter_image(tmp_path / "r.png", "R")
    b = _letter_image(tmp_path / "b.png", "B", dark_on_light=False)
    for args in (["render", "--letter", "Q", "--like", SERIF, "--like-letters", "HAMBURG"],
                 ["render", "--letter", "Q", "--like", f"R={r}", "--like", f"b={b}"],
                 ["word", "QUARTZ", "--like", SERIF],
                 ["alphabet", "--like", SERIF, "--columns", "13"],
                 ["interpolate", "--from-style", "1", "--to-style", SERIF, "--text", "AQ", "--steps", "3"],
                 ["interpolate", "--from", "O", "--to", "Q"]):
        out = tmp_path / f"{args[0]}.png"
        result = run(*args, "--out", out)
        assert result.exit_code == 0, result.output
        assert "letters_style" in result.output and out.is_file()
        if "--like" in args:
            assert "like " in result.output
    assert np.asarray(Image.open(tmp_path / "interpolate.png")).shape == (28, 8 * 28 + 7 * 2)  # O -> Q, 8 steps
    result = run("interpolate", "--from-style", "1", "--to-style", "2", "--text", "AQ", "--steps", "3",
                 "--out", tmp_path / "m.png")
    assert result.exit_code == 0 and np.asarray(Image.open(tmp_path / "m.png")).shape == (3 * 28, 2 * 28)


def test_like_renders_differ_by_font_and_equal_the_fitted_style(models, tmp_path, tiny):
    outs = []
    for font in (SANS, SERIF):
        out = tmp_path / f"{font.stem}.png"
        assert run("render", "--letter", "Q", "--like", font, "--out", out).exit_code == 0
        outs.append(np.asarray(Image.open(out), np.float32))
    assert not np.array_equal(*outs)
    examples = font_examples(SERIF, "HAMBURGEFONTS")
    expected = tiny.render("Q", style=tiny.like(examples.glyphs, examples.letters))
    assert np.abs((255 - outs[1]) / 255 - expected).max() <= 1 / 255 + 1e-6


@pytest.mark.parametrize("args, fragments", [
    (["render", "--letter", "Q", "--like", "missing.ttf"], ["missing.ttf", "does not exist"]),
    (["render", "--letter", "Q", "--like", "A=missing.png"], ["missing.png", "does not exist"]),
    (["render", "--letter", "Q", "--like", "1=a.png"], []),  # not a letter: taken as a font file name
    (["word", "AB", "--like", str(FONTS / "STIXSizOneSymReg.ttf")], ["no usable capital letters"]),
    (["render", "--letter", "Q", "--like", str(SERIF), "--seed", "3"], ["--seed and --like"]),
    (["render", "--letter", "Q", "--like", str(SERIF), "--model", "letters_vanilla"], ["no style encoder"]),
    (["interpolate", "--from-style", "1"], ["--from-style and --to-style"]),
    (["interpolate", "--from", "A", "--from-style", "1", "--to-style", "2"], ["--from-style and --to-style"]),
    (["interpolate", "--from-style", "1", "--to-style", "2", "--model", "letters_vanilla"], ["style morph"]),
])
def test_bad_like_input_is_one_line(models, tmp_path, args, fragments):
    out = tmp_path / "x.png"
    result = run(*args, "--out", out)
    one_line_error(result, *fragments)
    assert not out.exists()


def test_unreadable_and_blank_images_and_fonts_are_one_line(models, tmp_path):
    garbage = tmp_path / "a.png"
    garbage.write_bytes(b"not a png at all")
    one_line_error(run("render", "--letter", "Q", "--like", f"A={garbage}", "--out", tmp_path / "q.png"),
                   "cannot read", "a.png")
    blank = tmp_path / "blank.png"
    Image.new("L", (40, 40), 255).save(blank)
    one_line_error(run("render", "--letter", "Q", "--like", f"A={blank}", "--out", tmp_path / "q.png"),
                   "no letter found")
    not_a_font = tmp_path / "font.ttf"
    not_a_font.write_bytes(b"\0" * 100)
    one_line_error(run("alphabet", "--like", not_a_font, "--out", tmp_path / "q.png"), "cannot read", "font.ttf")
    assert not (tmp_path / "q.png").exists()


def test_fontgen_font_like_reads_the_style_with_the_encoder(models, tmp_path):
    pytest.importorskip("fontTools")
    pytest.importorskip("potrace")
    out = tmp_path / "like.otf"
    result = run("font", "--like", SERIF, "--out", out)
    assert result.exit_code == 0, result.output
    assert "style encoder" in result.output and out.stat().st_size > 1000


# ----------------------------------------------------------------------------- the bundled model


needs_bundled = pytest.mark.skipif(not (MODELS_DIR / f"{DEFAULT_LETTER_MODEL}.onnx").is_file(),
                                   reason="no bundled letter style model (`make export` writes it)")


def _blur(images, sigma=1.5):
    from edgegen.runtime.font_builder import _gaussian_blur
    return _gaussian_blur(np.asarray(images, np.float32), sigma)


@needs_bundled
def test_bundled_seeds_draw_distinct_styles():
    generator = StyleFontGenerator(models_dir=MODELS_DIR)
    alphabets = np.stack([generator.alphabet(seed) for seed in range(1, 7)])
    blurred = _blur(alphabets)
    gaps = [np.abs(blurred[i] - blurred[j]).mean() for i in range(6) for j in range(i + 1, 6)]
    sans, serif = (_blur(font_examples(f, LETTERS).glyphs) for f in (SANS, SERIF))
    assert min(gaps) > 0.25 * np.abs(sans - serif).mean(), (min(gaps), np.abs(sans - serif).mean())


@needs_bundled
def test_bundled_encoder_carries_weight_and_design_to_unseen_letters():
    generator = StyleFontGenerator(models_dir=MODELS_DIR)
    targets = [LETTERS.index(c) for c in "CDKPQVWXYZ"]  # none of HAMBURG
    drawn = {}
    for font in (SANS, SANS_BOLD, SERIF):
        examples = font_examples(font, "HAMBURG")
        style = generator.encode(examples.glyphs, examples.letters)
        drawn[font] = generator.draw(np.repeat(style[None], len(targets), 0), np.array(targets))
    assert drawn[SANS_BOLD].mean() > 1.15 * drawn[SANS].mean()  # bold examples, bolder unseen letters
    real = {font: _blur(font_examples(font, "CDKPQVWXYZ").glyphs) for font in (SANS, SANS_BOLD, SERIF)}
    for font in (SANS, SANS_BOLD, SERIF):
        gaps = {other: np.abs(_blur(drawn[font]) - real[other]).mean() for other in real}
        assert min(gaps, key=gaps.get) == font, (font.name, gaps)
