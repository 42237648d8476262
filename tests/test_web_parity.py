"""The page's JavaScript mirrors give what the Python runtime gives, run in Node on the page's own files.

Fixtures are written by the Python runtime at test time, so when a model or the sampling changes on the
Python side, these tests name the mirror (in edgegen/web/static) that must follow: the portable generator
word for word, letters within 1e-5 before thresholding and equal after, drum grids and MIDI bytes equal.
Needs node (Debian nodejs) and `make web` (onnxruntime-web in edgegen/web/static/vendor).
"""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgegen.runtime import midi_io, portable_random
from edgegen.runtime.drum_generator import DrumGenerator, Groove
from edgegen.runtime.font_generator import FALLBACK_LETTER_MODEL, default_letter_model, open_letter_model
from edgegen.runtime.onnx_model import models_dir
from edgegen.web import STATIC_DIR
from edgegen.web.server import drum_kit, missing_vendor_files

ROOT = Path(__file__).resolve().parent.parent
LETTER_TOLERANCE = 1e-5  # max abs, before thresholding (DESIGN section 6)
DRUM_TOLERANCE = 1e-5  # velocities and offsets of hits, max abs
INK = 0.5  # the export parity's threshold on glyph pixels
SEEDS = (0, 7, 2**32 + 5, 2**53 - 1)
LETTER_CASES = [("A", 0), ("Q", 7), ("Z", 123456789), ("g", 2**53 - 1)]
WORD_CASES = [("EDGE GEN", 3)]
SYNTH_RATE = 48000  # a rate other than the kit's own 44.1 kHz, so sample-rate handling is covered
SYNTH_TOLERANCE = 1e-9  # float64 recipes; V8's sin/exp and numpy's may differ in the last bits
LIMITER_INPUTS = np.linspace(-3.0, 3.0, 601)

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (apt-get install nodejs)")


def drum_cases(styles: list[str]) -> list[dict]:
    """DrumGenerator calls the page makes: every style at the CLI's defaults, and each control once."""
    cases = [{"method": "sample", "style": s, "bars": 4, "seed": seed, "options": {}} for s in styles for seed in (0, 7)]
    cases += [
        {"method": "sample", "style": styles[1], "bars": 8, "seed": 11, "options": {"temperature": 1.6}},
        {"method": "sample", "style": styles[2], "bars": 8, "seed": 12, "options": {"complexity": 0.5}},
        {"method": "sample", "style": styles[0], "bars": 8, "seed": 13, "options": {"complexity": -0.75}},
        {"method": "evolve", "style": styles[3], "bars": 10, "seed": 5, "options": {"every": 4}},
        {"method": "morph", "style": styles[0], "to": styles[-1], "bars": 6, "seed": 9, "options": {}},
        {"method": "morph", "style": styles[1], "to": styles[1], "bars": 1, "seed": 4, "options": {}},
        {"method": "evolve", "style": styles[4], "bars": 7, "seed": 2**53 - 1, "options": {"every": 3, "temperature": 0.5}},
        {"method": "sample", "style": styles[4], "bars": 64, "seed": 2**32 + 1, "options": {"complexity": 1.0}},
    ]
    return cases


def python_grooves(generator: DrumGenerator, cases: list[dict]) -> list[Groove]:
    out = []
    for c in cases:
        if c["method"] == "sample":
            out.append(generator.sample(c["style"], c["bars"], c["seed"], **c["options"]))
        elif c["method"] == "evolve":
            out.append(generator.evolve(c["style"], c["bars"], c["seed"], **c["options"]))
        else:
            out.append(generator.morph(c["style"], c["to"], c["bars"], c["seed"]))
    return out


def midi_case(groove: Groove, plain: bool = False, **options) -> dict:
    """midi.mjs midiBytes' arguments for a groove (plain: its hits only, at midi_io's flat velocity)."""
    case = {"grids": groove.hits.astype(int).tolist(), "options": options}
    if not plain:
        case |= {"velocities": groove.velocities.reshape(-1).tolist(), "offsets": groove.offsets.reshape(-1).tolist()}
    return case


def python_midi(case: dict) -> bytes:
    """midi_io.midi_bytes for a midi_case, as DrumGenerator.write_midi calls it."""
    extra = {k: np.asarray(case[k], np.float32).reshape(-1, 16, 9) for k in ("velocities", "offsets") if k in case}
    return midi_io.midi_bytes(np.asarray(case["grids"], bool), **case["options"], **extra)


LIKE_EXAMPLES = 13  # examples the fitted-style case uses (the search draws each of them 161 times)


def encode_case() -> dict | None:
    """Example glyphs of a real font as `fontgen --like FONT` draws them (matplotlib's DejaVu Sans), for the encoder."""
    import importlib.util

    from edgegen.runtime.letter_spec import DEFAULT_LIKE_LETTERS
    from edgegen.runtime.style_examples import font_examples

    spec = importlib.util.find_spec("matplotlib")
    font = Path(spec.origin).parent / "mpl-data/fonts/ttf/DejaVuSans.ttf" if spec else None
    if font is None or not font.is_file():
        return None
    from PIL import ImageFont

    from edgegen.runtime.glyphs import POINT_SIZE, draw_glyph

    examples = font_examples(font, DEFAULT_LIKE_LETTERS)
    # J and I are more than twice as tall as wide (Pillow's vertical pass first), the others not
    large = [np.asarray(draw_glyph(ImageFont.truetype(str(font), POINT_SIZE), c)).reshape(-1).tolist() for c in "AIJMQW"]
    return {"glyphs": examples.glyphs.reshape(len(examples.glyphs), -1).tolist(), "letters": examples.letters.tolist(),
            "word": "STYLE", "large": large, "large_letters": "AIJMQW", "like_examples": LIKE_EXAMPLES}


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    """(cases, Python results, JavaScript results) for one run of tests/web/parity.mjs."""
    missing = missing_vendor_files()
    assert not missing, f"{STATIC_DIR / 'vendor'} lacks {missing}: run `make web` first"
    folder = models_dir()
    drums = DrumGenerator(folder)
    grooves_cases = drum_cases(drums.styles)
    grooves = python_grooves(drums, grooves_cases)
    # what `drumgen sample --out` writes (the groove's velocities and offsets), with --quantize, and a plain grid
    midi_cases = [midi_case(grooves[0], bpm=96.0, swing=0.5),
                  midi_case(grooves[-1], bpm=133.0, swing=1 / 120),
                  midi_case(grooves[-2], bpm=120.0, swing=0.0),
                  midi_case(grooves[5], bpm=87.0, swing=0.25, quantize=True),
                  midi_case(grooves[3], bpm=120.0, swing=0.0, plain=True)]
    cases = {
        "models_dir": str(folder),
        # the default (the letter style model) first, then a GAN the page's model menu also offers
        "letter_models": [default_letter_model(folder), FALLBACK_LETTER_MODEL],
        "random": [{"seed": s, "start": start, "count": 16} for s in SEEDS for start in (0, 2**32 - 3)],
        "letters": [{"letter": letter, "seed": seed} for letter, seed in LETTER_CASES],
        "words": [{"text": text, "seed": seed} for text, seed in WORD_CASES],
        "encode": (encode := encode_case()),
        "fit": encode["large"] if encode else [],
        "drums": grooves_cases,
        "midi": midi_cases,
        "errors": [{"kind": "style", "value": "polka"}, {"kind": "letter", "value": "7"},
                   {"kind": "seed", "value": -1}, {"kind": "seed", "value": 2**53}],
        "synth": {"kit": drum_kit(), "sample_rate": SYNTH_RATE, "limiter_inputs": LIMITER_INPUTS.tolist()},
    }
    tmp = tmp_path_factory.mktemp("web_parity")
    (tmp / "cases.json").write_text(json.dumps(cases))
    run = subprocess.run(["node", str(ROOT / "tests/web/parity.mjs"), str(tmp / "cases.json"), str(tmp / "results.json")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return cases, {"grooves": grooves, "drums": drums}, json.loads((tmp / "results.json").read_text())


def test_the_portable_generator_port_gives_the_same_words_uniforms_normals_and_integers(mirrored):
    cases, _, js = mirrored
    for case, got in zip(cases["random"], js["random"]):
        stream = portable_random.rng(case["seed"])
        where = f"portable_random.mjs, seed {case['seed']}"
        assert got["words"] == portable_random.words(case["seed"], case["start"], case["count"]).tolist(), where
        # Box-Muller in float64: V8's log/cos and numpy's may differ in the last bit
        np.testing.assert_allclose(got["normals"], stream.standard_normal(case["count"]), rtol=0, atol=1e-14,
                                   err_msg=where)
        assert got["uniforms"] == stream.random(case["count"]).tolist(), where
        assert got["integers"] == stream.integers(0, 26, case["count"]).tolist(), where


@pytest.mark.parametrize("which", [0, 1], ids=["style_model", "gan"])
def test_letters_match_fontgen_within_tolerance_and_exactly_after_thresholding(mirrored, which):
    """`fontgen render --model NAME --letter L --seed S`: the style from the seed (the style model's prior, a GAN's
    z), then the glyph; and a word in one style."""
    cases, _, js = mirrored
    generator = open_letter_model(cases["letter_models"][which])
    assert type(generator).__name__ == ("StyleFontGenerator", "FontGenerator")[which]
    drawn = js["letters"][which]
    for case, got in zip(cases["letters"], drawn["letters"]):
        where = f"letters.mjs {type(generator).__name__}.render({case['letter']!r}, seed {case['seed']}) vs {generator.name}"
        # a GAN's z is the generator's normals cast to float32: equal. The style model's mean + L z is a float32
        # matrix product, which numpy sums in BLAS's order: equal to the last ulp or two.
        np.testing.assert_allclose(np.float32(got["style"]), generator.style(case["seed"])[0], rtol=0,
                                   atol=0 if which else 1e-6, err_msg=f"{where}: style differs")
        expected = generator.render(case["letter"], case["seed"]).reshape(-1)
        image = np.float32(got["image"])
        assert image.shape == expected.shape, where
        assert np.abs(image - expected).max() <= LETTER_TOLERANCE, where
        assert np.array_equal(image > INK, expected > INK), where
    for case, got in zip(cases["words"], drawn["words"]):
        expected = generator.word(case["text"], case["seed"]).reshape(len(case["text"]), -1)
        assert np.abs(np.float32(got) - expected).max() <= LETTER_TOLERANCE, f"letters.mjs word({case['text']!r})"
        assert np.array_equal(np.float32(got) > INK, expected > INK), f"letters.mjs word({case['text']!r})"


def test_the_style_encoder_reads_a_font_s_glyphs_as_fontgen_like_does(mirrored):
    """StyleFontGenerator.encode in the page: the style of a font's example glyphs, and a word drawn in it."""
    cases, _, js = mirrored
    if cases["encode"] is None:
        pytest.skip("matplotlib's DejaVuSans.ttf is not installed")
    generator = open_letter_model(cases["letter_models"][0])
    glyphs = np.float32(cases["encode"]["glyphs"]).reshape(-1, generator.size, generator.size)
    style = generator.encode(glyphs, cases["encode"]["letters"])
    assert np.abs(np.float32(js["encode"]["style"]) - style).max() <= LETTER_TOLERANCE, "letters.mjs encode"
    expected = generator.word(cases["encode"]["word"], style=style).reshape(len(cases["encode"]["word"]), -1)
    got = np.float32(js["encode"]["word"])
    assert np.abs(got - expected).max() <= LETTER_TOLERANCE and np.array_equal(got > INK, expected > INK)


def test_the_page_fits_a_font_s_style_to_its_examples_as_fontgen_like_does(mirrored):
    """StyleFontGenerator.like in the page: the same search (random stream, elite, shrinking spread) ends on the
    same style as runtime/style_fit.py, and that style redraws the examples closer than the encoder's."""
    cases, _, js = mirrored
    if cases["encode"] is None:
        pytest.skip("matplotlib's DejaVuSans.ttf is not installed")
    generator = open_letter_model(cases["letter_models"][0])
    n = cases["encode"]["like_examples"]
    glyphs = np.float32(cases["encode"]["glyphs"]).reshape(-1, generator.size, generator.size)[:n]
    letters = np.asarray(cases["encode"]["letters"][:n])
    style = generator.like(glyphs, letters)
    assert np.abs(np.float32(js["like"]) - style).max() <= LETTER_TOLERANCE, "letters.mjs like"
    assert not np.array_equal(style, generator.encode(glyphs, letters)), "the search moved from the encoder's style"


def test_the_page_fits_a_large_glyph_as_glyphs_fit_glyph_does(mirrored):
    """fonts.mjs fitGlyph on glyphs Pillow drew: the crop, Pillow's Lanczos arithmetic and the paste, so a font's
    examples differ from Python's only by the browser's rasteriser."""
    from PIL import Image

    from edgegen.runtime.glyphs import CANVAS, fit_glyph

    cases, _, js = mirrored
    if not cases["fit"]:
        pytest.skip("matplotlib's DejaVuSans.ttf is not installed")
    for letter, large, got in zip(cases["encode"]["large_letters"], cases["fit"], js["fit"]):
        expected = fit_glyph(Image.fromarray(np.uint8(large).reshape(CANVAS, CANVAS))).reshape(-1)
        assert np.array_equal(np.float32(got), expected), f"fonts.mjs fitGlyph({letter!r})"


def test_drum_grooves_equal_drumgen_for_every_style_and_control(mirrored):
    """Hits equal; each hit's velocity (the decoder's, spread by the style's gain) and offset within 1e-5."""
    cases, python, js = mirrored
    for case, expected, got in zip(cases["drums"], python["grooves"], js["drums"]):
        where = f"drums.mjs DrumGenerator.{case['method']} {case}"
        hits = np.asarray(got["hits"])
        assert hits.shape == expected.hits.shape, where
        assert np.array_equal(hits.astype(bool), expected.hits), \
            f"{where}: {int((hits.astype(bool) != expected.hits).sum())} cells differ"
        for name in ("velocities", "offsets"):
            values = np.float32(got[name]).reshape(expected.hits.shape)
            assert np.abs(values - getattr(expected, name)).max() <= DRUM_TOLERANCE, f"{where}: {name}"
    assert sum(int(g.hits.sum()) for g in python["grooves"]) > 0, "the cases drew no hits at all: a comparison of nothing"
    hit = np.concatenate([g.velocities[g.hits] for g in python["grooves"]])
    assert hit.std() > 0.05, "velocities are flat: the comparison would not see the gain"
    assert np.abs(np.concatenate([g.offsets[g.hits] for g in python["grooves"]])).max() > 0.01, "no microtiming"


def test_the_midi_download_is_byte_for_byte_the_cli_file(mirrored):
    cases, python, js = mirrored
    pitches = [python["drums"].model.spec.classes[i]["pitch"] for i in range(len(python["drums"].model.spec.classes))]
    assert pitches == [midi_io.GM_WRITE_PITCHES[name] for name in midi_io.INSTRUMENTS], "sidecar pitches vs midi_io"
    for case, got in zip(cases["midi"], js["midi"]):
        expected = python_midi(case)
        assert base64.b64decode(got) == expected, f"midi.mjs midiBytes {case['options']} ({'plain' * ('offsets' not in case)})"
    grooved, quantized = python_midi(cases["midi"][0]), python_midi({**cases["midi"][0], "options": {"bpm": 96.0, "swing": 0.5, "quantize": True}})
    assert grooved != quantized, "the first case's offsets change nothing in the file: a comparison that cannot fail"


def test_bad_input_gives_the_runtime_s_one_line_messages(mirrored):
    _, _, js = mirrored
    style, letter, low_seed, high_seed = js["errors"]
    styles = ', '.join(DrumGenerator().styles)
    assert style == f"unknown style 'polka'; choose from {styles}"
    assert letter is not None and "cannot draw" in letter
    assert low_seed is not None and "seed must be between 0 and" in low_seed
    assert high_seed is not None and "seed must be between 0 and" in high_seed


def test_the_page_s_kit_is_drum_synth_s_sample_for_sample(mirrored):
    """synth.mjs builds every voice's one-shot from the kit table as drumgen --wav does (drum_synth.one_shot)."""
    from edgegen.runtime import drum_synth

    _, _, js = mirrored
    decode = lambda text: np.frombuffer(base64.b64decode(text), dtype=np.float64)  # noqa: E731
    for voice, (body, bright) in zip(drum_synth.KIT.voices, js["synth"]["voices"]):
        expected_body, expected_bright = drum_synth.one_shot(voice, SYNTH_RATE)
        for name, got, expected in (("body", decode(body), expected_body), ("bright", decode(bright), expected_bright)):
            assert got.shape == expected.shape, f"synth.mjs oneShot({voice.name}) {name}"
            assert np.abs(got - expected).max() <= SYNTH_TOLERANCE, f"synth.mjs oneShot({voice.name}) {name}"
    expected = drum_synth.soft_limit(LIMITER_INPUTS, drum_synth.KIT.limiter_threshold)
    assert np.abs(decode(js["synth"]["limited"]) - expected).max() <= 1e-12, "synth.mjs softLimit"
