"""`fontgen font`: a font file that fontTools and Pillow load, whose letters the classifier reads, built torch-free."""
from __future__ import annotations

import importlib.util
import io
import string
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

pytest.importorskip("fontTools")
pytest.importorskip("potrace")

from fontTools.pens.areaPen import AreaPen  # noqa: E402
from fontTools.pens.recordingPen import RecordingPen  # noqa: E402
from fontTools.ttLib import TTFont  # noqa: E402

from edgegen.cli.fontgen import FONT_EXTRA_MISSING, main as fontgen  # noqa: E402
from edgegen.models import MODELS_DIR  # noqa: E402
from edgegen.runtime.font_generator import CLASSIFIER_MODEL, DEFAULT_LETTER_MODEL, LetterClassifier  # noqa: E402

pytestmark = pytest.mark.skipif(
    not all((MODELS_DIR / f"{name}.onnx").is_file() for name in (CLASSIFIER_MODEL, DEFAULT_LETTER_MODEL)),
    reason="edgegen/models holds no exported models (`make export` writes them)")



def matplotlib_font(name: str) -> Path | None:
    """A font file matplotlib ships (found without importing matplotlib), or None."""
    spec = importlib.util.find_spec("matplotlib")
    path = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / name if spec else None
    return path if path is not None and path.is_file() else None


LIKE_FONT = matplotlib_font("DejaVuSerif.ttf")
SYMBOL_FONT = matplotlib_font("cmex10.ttf")  # its cmap claims A-Z, its glyphs are brackets and integrals
MAX_BYTES = 200_000


def build(tmp_path: Path, *args: str, name: str = "f.otf") -> Path:
    out = tmp_path / name
    result = CliRunner().invoke(fontgen, ["font", *args, "--models", str(MODELS_DIR), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def draw_letters(path: Path) -> np.ndarray:
    """Each capital drawn with the font at 100 pt, cropped to its ink, longer side fitted to 20 px in 28x28."""
    font = ImageFont.truetype(str(path), 100)
    images = []
    for letter in string.ascii_uppercase:
        canvas = Image.new("L", (160, 160), 0)
        ImageDraw.Draw(canvas).text((80, 80), letter, fill=255, font=font, anchor="mm")
        glyph = canvas.crop(canvas.getbbox())
        factor = 20 / max(glyph.size)
        size = (max(1, round(glyph.size[0] * factor)), max(1, round(glyph.size[1] * factor)))
        image = Image.new("L", (28, 28), 0)
        image.paste(glyph.resize(size, Image.LANCZOS), ((28 - size[0]) // 2, (28 - size[1]) // 2))
        images.append(np.asarray(image, np.float32) / 255)
    return np.stack(images)


STYLES = [(["--seed", "0"], "f.otf"), (["--seed", "1"], "f.ttf")]
if LIKE_FONT is not None:
    STYLES.append((["--like", str(LIKE_FONT)], "like.otf"))


@pytest.mark.parametrize("args, name", STYLES, ids=[" ".join(a[:1] + [n]) for a, n in STYLES])
def test_font_loads_maps_every_letter_and_reads_correctly(tmp_path, args, name):
    path = build(tmp_path, *args, name=name)
    assert path.stat().st_size < MAX_BYTES
    font = TTFont(str(path))
    cmap = font.getBestCmap()
    for char in string.ascii_uppercase + string.ascii_lowercase + " ":
        assert ord(char) in cmap, f"{char!r} is not mapped"
    assert cmap[ord("q")] == cmap[ord("Q")] == "Q"
    assert ("glyf" in font) == (name.endswith(".ttf"))
    assert font["OS/2"].sCapHeight == 700 and font["head"].unitsPerEm == 1000
    names = " ".join(record.toUnicode() for record in font["name"].names)
    assert ("seed" in names) if "--seed" in args else ("DejaVuSerif.ttf" in names)
    predicted, _ = LetterClassifier(MODELS_DIR).predict(draw_letters(path))
    accuracy = np.mean([p == t for p, t in zip(predicted, string.ascii_uppercase)])
    assert accuracy >= 0.95, f"the classifier read {''.join(predicted)}"


def outlines(path: Path) -> dict[str, list]:
    font = TTFont(str(path))
    glyphs = font.getGlyphSet()
    recorded = {}
    for name in string.ascii_uppercase:
        pen = RecordingPen()
        glyphs[name].draw(pen)
        recorded[name] = pen.value
    return recorded


def test_seeds_differ_and_a_seed_repeats_byte_for_byte(tmp_path):
    for suffix in (".otf", ".ttf"):
        first = build(tmp_path, "--seed", "5", name=f"a{suffix}").read_bytes()
        again = build(tmp_path, "--seed", "5", name=f"b{suffix}").read_bytes()
        assert first == again
        other = build(tmp_path, "--seed", "6", name=f"c{suffix}")
        differing = [n for n, v in outlines(tmp_path / f"a{suffix}").items() if v != outlines(other)[n]]
        assert len(differing) == 26


@pytest.mark.parametrize("suffix, outer_sign", [(".otf", 1), (".ttf", -1)])
def test_outer_contours_run_the_way_the_format_expects_and_o_has_a_hole(tmp_path, suffix, outer_sign):
    """CFF: outer contours counter-clockwise (positive area); TrueType: clockwise. Holes run the other way."""
    path = build(tmp_path, "--seed", "0", name=f"f{suffix}")
    for name, value in outlines(path).items():
        areas, contour = [], RecordingPen()
        for op, points in value:
            getattr(contour, op)(*points)
            if op in ("closePath", "endPath"):
                pen = AreaPen()
                contour.replay(pen)
                areas.append(pen.value)
                contour = RecordingPen()
        largest = max(areas, key=abs)
        assert np.sign(largest) == outer_sign, f"{name}: outer contour area {largest}"
    canvas = Image.new("L", (200, 200), 0)
    ImageDraw.Draw(canvas).text((100, 100), "O", fill=255, font=ImageFont.truetype(str(path), 150), anchor="mm")
    left, top, right, bottom = canvas.getbbox()
    assert canvas.getpixel(((left + right) // 2, (top + bottom) // 2)) == 0, "O's counter is filled"


def test_specimen_is_drawn_with_the_font(tmp_path):
    out, specimen = tmp_path / "s.otf", tmp_path / "s.png"
    result = CliRunner().invoke(fontgen, ["font", "--seed", "2", "--name", "Test Caps", "--models", str(MODELS_DIR),
                                          "--out", str(out), "--specimen", str(specimen)])
    assert result.exit_code == 0, result.output
    image = np.asarray(Image.open(specimen).convert("L"))
    assert image.shape[1] > 400 and (image < 128).mean() > 0.02
    assert TTFont(str(out))["name"].getDebugName(1) == "Test Caps"


@pytest.mark.parametrize("case", ["missing like", "not a font", "symbol font", "missing folder", "out is a folder"])
def test_bad_input_is_one_line_and_no_file(tmp_path, case):
    folder = tmp_path / "out"
    folder.mkdir()
    (tmp_path / "notes.ttf").write_text("not a font\n")
    out = folder / "f.otf"
    args = {"missing like": ["--like", str(tmp_path / "absent.ttf")],
            "not a font": ["--like", str(tmp_path / "notes.ttf")],
            "symbol font": ["--like", str(SYMBOL_FONT or tmp_path / "absent.ttf")],
            "missing folder": ["--seed", "1"],
            "out is a folder": ["--seed", "1"]}[case]
    if case == "missing folder":
        out = folder / "nowhere" / "f.otf"
    if case == "out is a folder":
        out = folder / "sub.otf"
        out.mkdir()
    result = CliRunner().invoke(fontgen, ["font", *args, "--models", str(MODELS_DIR), "--out", str(out),
                                          "--specimen", str(folder / "s.png")])
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    left = sorted(p.name for p in folder.iterdir())
    assert left == (["sub.otf"] if case == "out is a folder" else []), left


def test_a_missing_font_extra_is_one_line(tmp_path, monkeypatch):
    import edgegen.runtime

    monkeypatch.setitem(sys.modules, "potrace", None)  # `import potrace` now fails as if not installed
    monkeypatch.delitem(sys.modules, "edgegen.runtime.font_builder", raising=False)
    monkeypatch.delattr(edgegen.runtime, "font_builder", raising=False)
    result = CliRunner().invoke(fontgen, ["font", "--seed", "1", "--out", str(tmp_path / "f.otf")])
    assert result.exit_code == 1 and result.output.strip() == f"Error: {FONT_EXTRA_MISSING}", result.output
    assert not (tmp_path / "f.otf").exists()


def test_font_command_never_imports_torch(tmp_path):
    forbidden = ("torch", "onnx", "matplotlib", "sklearn", "edgegen.training", "edgegen.export")
    code = (f"import atexit, sys\n"
            f"atexit.register(lambda: print('IMPORTED:' + ','.join(m for m in {forbidden!r} if m in sys.modules)))\n"
            f"from edgegen.cli.fontgen import main\nmain(sys.argv[1:])\n")
    result = subprocess.run([sys.executable, "-c", code, "font", "--seed", "3", "--models", str(MODELS_DIR),
                             "--out", str(tmp_path / "f.otf"), "--specimen", str(tmp_path / "f.png")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("IMPORTED:")] == ["IMPORTED:"]
    TTFont(io.BytesIO((tmp_path / "f.otf").read_bytes()))


@pytest.mark.parametrize("suffix", [".otf", ".ttf"])
def test_the_opentype_sanitizer_accepts_the_font(tmp_path, suffix):
    """OTS is what browsers run on web fonts: it refuses malformed tables a lenient reader would accept."""
    ots = pytest.importorskip("ots")
    path = build(tmp_path, "--seed", "4", name=f"f{suffix}")
    result = ots.sanitize(str(path), str(tmp_path / f"clean{suffix}"), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("suffix", [".otf", ".ttf"])
def test_capitals_share_baseline_and_cap_height_and_q_hangs_its_tail_below(tmp_path, suffix):
    from fontTools.pens.boundsPen import BoundsPen

    from edgegen.runtime.font_builder import CAP_HEIGHT, DESCENDERS

    font = TTFont(build(tmp_path, "--seed", "3", name=f"f{suffix}"))
    glyphs = font.getGlyphSet()
    bottoms = {}
    for letter in string.ascii_uppercase:
        pen = BoundsPen(glyphs)
        glyphs[letter].draw(pen)
        _, y_min, _, y_max = pen.bounds
        expected_bottom = -DESCENDERS.get(letter, 0.0) * CAP_HEIGHT
        assert abs(y_max - CAP_HEIGHT) <= 10 and abs(y_min - expected_bottom) <= 10, (letter, y_min, y_max)
        bottoms[letter] = y_min
    assert bottoms["Q"] < -0.05 * CAP_HEIGHT and abs(bottoms["O"]) <= 10  # the tail below, the body on the line
