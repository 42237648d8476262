"""FontGenerator and DrumGenerator behave as documented, and the ONNX drum model equals the torch one."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tiny_runs import exported_models

from edgegen.runtime import drum_controls
from edgegen.runtime.drum_generator import DrumGenerator, UnknownStyleError
from edgegen.runtime.drum_render import grid_text, piano_roll
from edgegen.runtime.font_generator import (
    DEFAULT_LETTER_MODEL, FALLBACK_LETTER_MODEL, FontGenerator, StyleFontGenerator, UnknownLetterError,
    default_letter_model, open_letter_model, save_png, tile, to_pixels,
)
from edgegen.runtime.onnx_model import ModelError


@pytest.fixture(scope="module")
def fonts():
    return FontGenerator(FALLBACK_LETTER_MODEL, exported_models()[1])


@pytest.fixture(scope="module")
def drums():
    return DrumGenerator(exported_models()[1])


# ----------------------------------------------------------------------------- letters


def test_default_model_is_the_style_model_and_the_conditional_gan_without_it(fonts, tmp_path):
    models = exported_models()[1]
    assert default_letter_model(models) == DEFAULT_LETTER_MODEL == "letters_style"
    assert isinstance(open_letter_model(None, models), StyleFontGenerator)
    assert isinstance(open_letter_model(FALLBACK_LETTER_MODEL, models), FontGenerator)
    assert fonts.name == FALLBACK_LETTER_MODEL and fonts.conditional
    import shutil
    without = tmp_path / "models"
    shutil.copytree(models, without)
    for path in without.glob(f"{DEFAULT_LETTER_MODEL}.onnx*"):
        path.unlink()
    assert default_letter_model(without) == FALLBACK_LETTER_MODEL


def test_render_is_repeatable_per_seed_and_varies_across_seeds(fonts):
    a, b, c = fonts.render("Q", seed=1), fonts.render("q", seed=1), fonts.render("Q", seed=2)
    assert a.shape == (28, 28) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_a_word_uses_one_style_for_every_letter(fonts):
    word = fonts.word("AB A", seed=5)
    assert word.shape == (4, 28, 28)
    assert np.allclose(word[0], fonts.render("A", seed=5), atol=1e-6)
    assert np.allclose(word[1], fonts.render("B", seed=5), atol=1e-6)
    assert np.array_equal(word[0], word[3])
    assert not word[2].any()  # the space


def test_alphabet_is_the_26_letters_in_one_style(fonts):
    alphabet = fonts.alphabet(seed=3)
    assert alphabet.shape == (26, 28, 28)
    assert np.allclose(alphabet[16], fonts.render("Q", seed=3), atol=1e-6)


def test_interpolation_starts_and_ends_at_the_two_letters(fonts):
    strip = fonts.interpolate("O", "Q", steps=5, seed=4)
    assert strip.shape == (5, 28, 28)
    assert np.allclose(strip[0], fonts.render("O", seed=4), atol=1e-6)
    assert np.allclose(strip[-1], fonts.render("Q", seed=4), atol=1e-6)


def test_unknown_letters_are_refused(fonts):
    for bad in ("1", "É", "AB", ""):
        with pytest.raises(UnknownLetterError):
            fonts.render(bad)
    with pytest.raises(UnknownLetterError, match="only the letters A-Z"):
        fonts.word("HI!")


def test_unconditional_samples_and_refusal_to_pick_a_letter():
    vanilla = FontGenerator("letters_vanilla", exported_models()[1])
    samples = vanilla.sample(300, seed=0, batch=128)
    assert samples.shape == (300, 28, 28) and samples.dtype == np.float32
    assert np.array_equal(samples, vanilla.sample(300, seed=0))
    with pytest.raises(ModelError, match="unconditional"):
        vanilla.render("A")


def test_png_is_black_ink_on_white_scaled_and_invertible(tmp_path):
    image = np.zeros((28, 28), np.float32)
    image[10:12, 3:5] = 1.0  # ink
    save_png(image, tmp_path / "a.png", scale=3)
    pixels = np.asarray(Image.open(tmp_path / "a.png"))
    assert pixels.shape == (84, 84)
    assert pixels[0, 0] == 255 and pixels[30, 9] == 0 and pixels[35, 14] == 0
    assert to_pixels(image, invert=True)[10, 3] == 255 and to_pixels(image, invert=True)[0, 0] == 0
    assert tile(np.ones((3, 28, 28)), columns=2, gap=2).shape == (58, 58)


# ----------------------------------------------------------------------------- drums


def _played(groove):
    """What a listener gets: hits, MIDI velocities and offsets in MIDI ticks (480 per beat)."""
    from edgegen.runtime.midi_io import midi_velocities

    return np.stack([groove.hits, midi_velocities(groove.velocities), np.round(groove.offsets * 120)])


def test_sample_is_a_groove_repeatable_per_seed(drums):
    groove = drums.sample("jazz", bars=4, seed=1)
    assert groove.hits.shape == groove.velocities.shape == groove.offsets.shape == (4, 16, 9)
    assert groove.hits.dtype == bool and groove.hits.any()
    assert groove.equals(drums.sample("jazz", bars=4, seed=1))
    assert not np.array_equal(groove.hits, drums.sample("jazz", bars=4, seed=2).hits)
    assert (groove.velocities[groove.hits] > 0).all() and (groove.velocities[~groove.hits] == 0).all()


def test_unknown_style_is_a_value_error_listing_the_styles(drums):
    with pytest.raises(UnknownStyleError) as info:
        drums.sample("polka")
    assert isinstance(info.value, ValueError)
    assert "rock" in str(info.value) and "electronic" in str(info.value) and "\n" not in str(info.value)


def test_complexity_only_adds_hits(drums):
    counts = [drums.sample("rock", bars=16, seed=0, complexity=c).hits.sum() for c in (-1.0, 0.0, 1.0)]
    assert counts[0] <= counts[1] <= counts[2] and counts[0] < counts[2]


def test_evolve_keeps_each_variation_for_every_bars(drums):
    groove = drums.evolve("latin", bars=6, seed=3, every=2)
    assert groove.shape == (6, 16, 9)
    assert groove[0].equals(groove[1]) and groove[2].equals(groove[3])


def test_morph_blend_transfer_interpolate_shapes(drums):
    assert drums.morph("rock", "jazz", bars=5, seed=0).shape == (5, 16, 9)
    assert drums.blend({"jazz": 0.7, "latin": 0.3}, bars=3, seed=0).shape == (3, 16, 9)
    source = drums.sample("rock", bars=2, seed=9)
    for mode in ("fit", "shift", "replace"):
        restyled = drums.transfer(source, "latin", seed=1, mode=mode)
        assert restyled.shape == (2, 16, 9) and restyled.equals(drums.transfer(source, "latin", 1, mode=mode))
    assert drums.interpolate(source[0], source[1], steps=4).shape == (4, 16, 9)
    with pytest.raises(UnknownStyleError):
        drums.blend({"polka": 1.0})


def test_onnx_drum_model_gives_the_torch_model_s_bars():
    """Downstream parity of the whole sampling and transfer paths: identical grids, MIDI velocities and offsets."""
    from edgegen.training.drums.vae import TorchDrumModel, load_vae

    runs, models = exported_models()
    torch_model = TorchDrumModel(load_vae(runs / "drums" / "vae" / "checkpoint.pt")[0])
    onnx_model = DrumGenerator(models).model
    for style in onnx_model.styles:
        a = drum_controls.sample_style(torch_model, style, 64, np.random.default_rng(1))
        b = drum_controls.sample_style(onnx_model, style, 64, np.random.default_rng(1))
        assert np.array_equal(_played(a), _played(b))
    grooves = drum_controls.sample_style(torch_model, "rock", 7, np.random.default_rng(2))
    for mode in ("fit", "shift", "replace"):
        assert np.array_equal(
            _played(drum_controls.transfer(torch_model, grooves, "jazz", mode=mode, rng=np.random.default_rng(3))),
            _played(drum_controls.transfer(onnx_model, grooves, "jazz", mode=mode, rng=np.random.default_rng(3))))


def test_midi_round_trip(drums, tmp_path):
    from edgegen.runtime import midi_io
    from edgegen.runtime.midi_io import midi_velocities, read_midi

    groove = drums.sample("hiphop", bars=3, seed=4)
    groove.offsets[:, 0] = 0  # early hits on the first step are held at the bar start
    drums.write_midi(groove, tmp_path / "g.mid", bpm=96)
    track = read_midi(tmp_path / "g.mid")
    assert np.array_equal(track.grids, groove.hits)
    assert np.array_equal(track.velocities, midi_velocities(groove.velocities))
    written = np.clip(groove.offsets, -midi_io.MAX_OFFSET, midi_io.MAX_OFFSET)  # the writer keeps each note in its cell
    assert np.abs(track.offsets - written).max() <= 0.5 / 120 + 1e-6


def test_grid_views(drums):
    groove = drums.sample("rock", bars=2, seed=0)
    text = grid_text(groove)
    assert text.count("kick") == 2 and text.count("x") == groove.hits.sum()
    roll = piano_roll(groove, cell=4)
    assert roll.shape == (9 * 4, 32 * 4, 3) and roll.dtype == np.uint8
    # velocity as shade: a louder hit is darker than a softer one
    groove.velocities[groove.hits] = np.linspace(0.1, 1.0, groove.hits.sum())
    roll = piano_roll(groove, cell=4)
    bar, step, inst = np.argwhere(groove.hits[:1])[[0, -1]].T
    soft, loud = (roll[i * 4 + 2, s * 4 + 2].sum() for s, i in zip(step, inst))
    assert loud < soft


# ----------------------------------------------------------------------------- non-finite numbers


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_drum_generator_refuses_non_finite_settings(drums, bad):
    source = np.zeros((1, 16, 9), bool)
    calls = {
        "temperature": lambda: drums.sample("rock", temperature=bad),
        "temperature_high": lambda: drums.evolve("rock", 2, temperature_high=bad),
        "complexity": lambda: drums.sample("rock", complexity=bad),
        "strength": lambda: drums.transfer(source, "jazz", strength=bad, mode="shift"),
        "keep": lambda: drums.transfer(source, "jazz", keep=bad),
        "blend weight of 'jazz'": lambda: drums.blend({"jazz": bad, "latin": 1.0}),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=rf"^{name} must be a finite number, got {bad}$"):
            call()


@pytest.mark.parametrize("blend", ["jazz=nan,latin=1", "jazz=inf,latin=1", "jazz=-inf"])
def test_a_non_finite_blend_is_one_error_line_and_no_file(tmp_path, blend):
    from click.testing import CliRunner

    from edgegen.cli.drumgen import main

    out = tmp_path / "blend.mid"
    result = CliRunner().invoke(main, ["sample", "--blend", blend, "--models", str(exported_models()[1]),
                                       "--out", str(out)])
    assert result.exit_code == 2 and not out.exists()  # a usage error, like every other bad option value
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "--blend" in errors[0] and "'jazz'" in errors[0], result.output
    assert "Traceback" not in result.output
