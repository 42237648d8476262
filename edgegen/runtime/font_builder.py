"""Installable fonts from one style of a letter model: A-Z traced to outlines, built with fontTools.

A style is one vector: a seed's (drawn from the style model's prior, or a GAN's z), or a
user's font's (read by the style model's encoder; for a GAN, the sampled z nearest to it).
Each 28x28 glyph is enlarged (bicubic), thresholded and traced by potrace (the
pure-Python port ``potracer``: no compiler, ~0.5 s for 26 glyphs at 8x) into
cubic curves, placed on a baseline at the glyph's bottom and scaled so its ink
is CAP_HEIGHT tall. Each glyph gets its own scale because the training data fit
a letter's *longer* side to 20 px: a W was drawn smaller than an I, and equal
heights undo that. The suffix of the output picks the outline format: ``.otf``
(CFF, cubic) or ``.ttf`` (glyf, quadratic through cu2qu). Lower case maps to the
capitals (a caps font). The same style gives the same bytes: timestamps are fixed.

Needs the ``font`` extra (fontTools, potracer); never torch.
"""
from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import potrace
from fontTools.fontBuilder import FontBuilder
from fontTools.misc.timeTools import timestampFromString
from fontTools.pens.areaPen import AreaPen
from fontTools.pens.boundsPen import BoundsPen, ControlBoundsPen
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.recordingPen import RecordingPen
from fontTools.pens.reverseContourPen import ReverseContourPen
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.pens.transformPen import TransformPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont, TTLibError
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from edgegen import __version__
from edgegen.runtime import portable_random
from edgegen.runtime.font_generator import LetterClassifier, LetterDrawer, StyleFontGenerator, letter_index
from edgegen.runtime.glyphs import POINT_SIZE, letters_of_font
from edgegen.runtime.letter_spec import DEFAULT_LIKE_LETTERS, IMAGE_SIZE, LETTERS
from edgegen.runtime.onnx_model import ModelError

UNITS_PER_EM = 1000
CAP_HEIGHT = 700  # every capital's ink is scaled to this height, standing on the baseline
# Q's tail hangs below the baseline in nearly every typeface; its body, not its tail, stands on the line
DESCENDERS = {"Q": 0.12}  # letter -> descent below the baseline, as a share of CAP_HEIGHT
ASCENDER = 800
DESCENDER = -200
SIDE_BEARING = 60  # units left and right of each glyph's ink
SPACE_WIDTH = 260
UPSCALE = 8  # 28 px -> 224 px before tracing: smooth curves, still ~0.5 s for A-Z
THRESHOLD = 0.5  # ink where the enlarged image is at least this dark
SMOOTH = 0.5  # Gaussian blur of the enlarged image, in original pixels: rounder outlines, same letters
TURD_SIZE = UPSCALE * UPSCALE  # specks smaller than one original pixel are dropped
FIXED_TIMESTAMP = timestampFromString("Mon Jan  1 00:00:00 2024")  # head.created/modified: same style, same bytes
PANGRAM = "SPHINX OF BLACK QUARTZ JUDGE MY VOW"

LIKE_CANDIDATES = 256  # styles sampled when matching a font (there is no style encoder yet)
LIKE_SEED = 0  # the candidates are the same on every run, so --like is deterministic too
LIKE_BLUR_SIGMA = 1.5


class FontSourceError(ValueError):
    """A --like font that cannot be read or lacks the letters to compare."""


@dataclass
class Style:
    """One z [1, z_dim] and the words that say where it came from (for the name table)."""

    z: np.ndarray
    source: str


# ----------------------------------------------------------------------------- styles


def seed_style(generator: LetterDrawer, seed: int) -> Style:
    return Style(generator.style(seed), f"style seed {seed}")


def _gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur over the last two axes (zero padding), numpy only."""
    radius = int(np.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-x**2 / (2 * sigma**2))
    kernel /= kernel.sum()
    padded = np.pad(images, [(0, 0)] * (images.ndim - 2) + [(radius, radius), (radius, radius)])
    height, width = images.shape[-2:]
    rows = sum(k * padded[..., i:i + height, :] for i, k in enumerate(kernel))
    return sum(k * rows[..., i:i + width] for i, k in enumerate(kernel))


def render_font_letters(path: str | os.PathLike | bytes, letters: str) -> np.ndarray:
    """Letters drawn with a font file as the training data draws them: [len, 28, 28], ink = 1."""
    source = io.BytesIO(path) if isinstance(path, bytes) else str(path)
    return letters_of_font(ImageFont.truetype(source, POINT_SIZE), letters)


def _letters_in_font(path: Path, letters: str) -> str:
    """The letters of ``letters`` the font maps and draws with ink; FontSourceError when it cannot be read."""
    if not path.is_file():
        raise FontSourceError(f"--like font {path} does not exist")
    try:
        with TTFont(str(path), lazy=True, fontNumber=0) as font:
            cmap = font.getBestCmap() or {}
        ImageFont.truetype(str(path), POINT_SIZE)
    except (TTLibError, OSError, AssertionError, KeyError, ValueError) as error:
        raise FontSourceError(f"cannot read {path} as a font (TrueType or OpenType): "
                              f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
    mapped = "".join(c for c in letters if ord(c) in cmap)
    if not mapped:
        raise FontSourceError(f"font {path} has none of the letters {letters} (its cmap maps no capital A-Z there)")
    drawn = render_font_letters(path, mapped)
    present = "".join(c for c, image in zip(mapped, drawn) if image.max() > 0)
    if not present:
        raise FontSourceError(f"font {path} draws none of the letters {letters} (blank glyphs)")
    return present


def _check_letters_readable(generator: LetterDrawer, path: Path, letters: str, images: np.ndarray) -> None:
    """Refuse a font whose cmap claims letters its glyphs do not draw (symbol fonts such as cmex10):
    the letter classifier beside the generator must read at least half of them (skipped if absent)."""
    try:
        classifier = LetterClassifier(generator.model.path.parent)
    except ModelError:
        return
    read, _ = classifier.predict(images)
    correct = sum(a == b for a, b in zip(read, letters))
    if 2 * correct < len(letters):
        raise FontSourceError(f"font {path} does not look like letters: the letter classifier reads only "
                              f"{correct} of {letters} (a symbol font?)")


def like_style(generator: LetterDrawer, path: str | os.PathLike, letters: str = DEFAULT_LIKE_LETTERS,
               candidates: int = LIKE_CANDIDATES) -> Style:
    """The style of the font's letters: read by the style encoder of a letter style model; for a GAN, the
    sampled style whose letters look most like the font's (mean L1 after a Gaussian blur).

    For a GAN it is a search: ``candidates`` styles from a fixed generator, each
    drawing the example letters the font has; the nearest one wins.
    """
    path = Path(path)
    letters = "".join(dict.fromkeys(c.upper() for c in letters if not c.isspace()))
    for c in letters:
        letter_index(c)
    present = _letters_in_font(path, letters)
    examples = render_font_letters(path, present)
    _check_letters_readable(generator, path, present, examples)
    if isinstance(generator, StyleFontGenerator):
        glyphs = examples if generator.size == IMAGE_SIZE else letters_of_font(
            ImageFont.truetype(str(path), POINT_SIZE), present, generator.size)
        style = generator.like(glyphs, [letter_index(c) for c in present])
        return Style(style[None], f"style of {path.name} read from {present} by the style encoder")
    target = _gaussian_blur(examples, LIKE_BLUR_SIGMA)
    z = portable_random.rng(LIKE_SEED).standard_normal((candidates, generator.z_dim)).astype(np.float32)
    indices = [letter_index(c) for c in present]
    drawn = generator.generate(np.repeat(z, len(indices), axis=0), np.tile(indices, candidates))
    drawn = _gaussian_blur(drawn.reshape(candidates, len(indices), IMAGE_SIZE, IMAGE_SIZE), LIKE_BLUR_SIGMA)
    distance = np.abs(drawn - target[None]).mean(axis=(1, 2, 3))
    best = int(np.argmin(distance))
    return Style(z[best:best + 1], f"style nearest to {path.name} (letters {present}; "
                                   f"candidate {best} of {candidates}, L1 {distance[best]:.4f})")


# ----------------------------------------------------------------------------- tracing


def enlarge(image: np.ndarray, upscale: int = UPSCALE) -> np.ndarray:
    """A glyph [28, 28] enlarged (bicubic), smoothed and thresholded: bool [28*upscale, 28*upscale], True = ink."""
    pixels = Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8))
    size = IMAGE_SIZE * upscale
    big = pixels.resize((size, size), Image.BICUBIC)
    if SMOOTH:
        big = big.filter(ImageFilter.GaussianBlur(SMOOTH * upscale))
    return np.asarray(big) >= round(THRESHOLD * 255)


def trace(image: np.ndarray, upscale: int = UPSCALE) -> tuple[RecordingPen, tuple[int, int, int, int] | None]:
    """Outlines of one glyph [28, 28] (ink = 1) in enlarged pixel units, y pointing up from the image's
    bottom edge, outer contours counter-clockwise and holes clockwise (PostScript direction), and the
    ink's bounding box (left, bottom, right, top) in the same units (None for a blank glyph)."""
    size = IMAGE_SIZE * upscale
    ink = enlarge(image, upscale)
    pen = RecordingPen()
    if not ink.any():
        return pen, None
    bitmap = potrace.Bitmap(ink)
    bitmap.data = ink  # Bitmap() inverts its input (dark = ink); ours is ink = True already
    for curve in bitmap.trace(turdsize=TURD_SIZE, alphamax=1.0, opttolerance=0.2):
        contour = RecordingPen()
        flip = lambda p: (p.x, size - p.y)  # noqa: E731  image rows grow downwards, font y grows up
        contour.moveTo(flip(curve.start_point))
        for segment in curve:
            if segment.is_corner:
                contour.lineTo(flip(segment.c))
                contour.lineTo(flip(segment.end_point))
            else:
                contour.curveTo(flip(segment.c1), flip(segment.c2), flip(segment.end_point))
        contour.closePath()
        area = AreaPen()
        contour.replay(area)
        outer = bool(curve._path.sign)  # potrace: True for an outer contour, False for a hole
        if (area.value > 0) != outer:  # outer: positive (counter-clockwise) area
            contour.replay(ReverseContourPen(pen))
        else:
            contour.replay(pen)
    if not pen.value:
        return pen, None
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    return pen, (int(cols[0]), int(size - rows[-1] - 1), int(cols[-1] + 1), int(size - rows[0]))


@dataclass
class Glyph:
    outline: RecordingPen  # font units, integer coordinates, PostScript direction
    advance: int
    lsb: int


def place(outline: RecordingPen, box: tuple[int, int, int, int] | None, truetype: bool,
          descent: float = 0.0) -> Glyph:
    """Scale a traced glyph so its ink is CAP_HEIGHT tall on the baseline, with SIDE_BEARING either side.

    A letter with a ``descent`` (a share of CAP_HEIGHT, e.g. Q's tail) reaches from that far below
    the baseline up to the cap height.

    For TrueType the cubic curves become quadratic first (cu2qu, within 1 unit) and turn
    clockwise (TrueType's outer direction); the side bearings are then measured on the
    outline as stored, so hmtx's left side bearing equals the glyph's xMin.
    """
    if box is None:
        return Glyph(RecordingPen(), SPACE_WIDTH, 0)
    left, bottom, right, top = box
    drop = descent * CAP_HEIGHT
    scale = (CAP_HEIGHT + drop) / max(1, top - bottom)
    moved = RecordingPen()
    target = Cu2QuPen(moved, max_err=1.0, reverse_direction=True) if truetype else moved
    outline.replay(TransformPen(_RoundingPen(target), (scale, 0, 0, scale, -left * scale, -bottom * scale - drop)))
    bounds = ControlBoundsPen(None) if truetype else BoundsPen(None)  # glyf stores control-point bounds
    moved.replay(bounds)
    x_min, _, x_max, _ = bounds.bounds
    shift = SIDE_BEARING - round(x_min)
    placed = RecordingPen()
    moved.replay(TransformPen(placed, (1, 0, 0, 1, shift, 0)))
    return Glyph(placed, round(x_max) + shift + SIDE_BEARING, SIDE_BEARING)


class _RoundingPen(TransformPen):
    """Round every coordinate to whole font units (smaller files, the same bytes every run)."""

    def __init__(self, out):
        super().__init__(out, (1, 0, 0, 1, 0, 0))

    def _transformPoint(self, point):
        return (round(point[0]), round(point[1]))

    def _transformPoints(self, points):
        return [self._transformPoint(p) for p in points]


# ----------------------------------------------------------------------------- the font


def _reversed(outline: RecordingPen) -> RecordingPen:
    out = RecordingPen()
    outline.replay(ReverseContourPen(out))
    return out


def _notdef() -> Glyph:
    """A hollow box: what a renderer shows for a character the font lacks."""
    pen = RecordingPen()
    for points in (((50, 0), (450, 0), (450, CAP_HEIGHT), (50, CAP_HEIGHT)),  # outer, counter-clockwise
                   ((100, 50), (100, CAP_HEIGHT - 50), (400, CAP_HEIGHT - 50), (400, 50))):  # hole
        pen.moveTo(points[0])
        for p in points[1:]:
            pen.lineTo(p)
        pen.closePath()
    return Glyph(pen, 500, 50)


def _postscript_name(family: str) -> str:
    name = re.sub(r"[^A-Za-z0-9-]", "", family)[:50] or "Edgegen"
    return f"{name}-Regular"


def build_font(images: np.ndarray, family: str, source: str, truetype: bool) -> bytes:
    """The font file's bytes (.ttf when ``truetype``, else .otf) for A-Z images [26, 28, 28]."""
    glyphs = {".notdef": _notdef(), "space": Glyph(RecordingPen(), SPACE_WIDTH, 0)}
    for letter, image in zip(LETTERS, images):
        glyphs[letter] = place(*trace(image), truetype, DESCENDERS.get(letter, 0.0))
    order = list(glyphs)
    cmap = {32: "space", 0xA0: "space"}
    for letter in LETTERS:
        cmap[ord(letter)] = letter
        cmap[ord(letter.lower())] = letter

    fb = FontBuilder(UNITS_PER_EM, isTTF=truetype)
    fb.updateHead(created=FIXED_TIMESTAMP, modified=FIXED_TIMESTAMP, fontRevision=1.0)
    fb.setupGlyphOrder(order)
    fb.setupCharacterMap(cmap)
    ps_name = _postscript_name(family)
    if truetype:
        outlines = {}
        for name, glyph in glyphs.items():
            pen = TTGlyphPen(None)
            outline = glyph.outline if name != ".notdef" else _reversed(glyph.outline)  # already quadratic
            outline.replay(pen)
            outlines[name] = pen.glyph()
        fb.setupGlyf(outlines)
    else:
        charstrings = {}
        for name, glyph in glyphs.items():
            pen = T2CharStringPen(glyph.advance, None)
            glyph.outline.replay(pen)
            charstrings[name] = pen.getCharString()
        fb.setupCFF(ps_name, {"FullName": family, "FamilyName": family, "Weight": "Regular"}, charstrings, {})
    fb.setupHorizontalMetrics({name: (g.advance, g.lsb) for name, g in glyphs.items()})
    fb.setupHorizontalHeader(ascent=ASCENDER, descent=DESCENDER)
    version = f"Version 1.000; edgegen {__version__}"
    fb.setupNameTable({
        "familyName": family,
        "styleName": "Regular",
        "uniqueFontIdentifier": f"{family}; {source}; edgegen {__version__}",
        "fullName": family,
        "psName": ps_name,
        "version": version,
        "description": f"Capitals A-Z generated by edgegen ({source}); lower case maps to the capitals.",
        "manufacturer": "edgegen",
    })
    fb.setupOS2(usWeightClass=400, sTypoAscender=ASCENDER, sTypoDescender=DESCENDER, sTypoLineGap=0,
                usWinAscent=ASCENDER, usWinDescent=-DESCENDER, sCapHeight=CAP_HEIGHT, sxHeight=CAP_HEIGHT,
                achVendID="EDGE", fsType=0, version=4, ulCodePageRange1=1,  # Latin 1
                fsSelection=0x40 | 0x80)  # REGULAR, USE_TYPO_METRICS
    fb.setupPost(underlinePosition=-100, underlineThickness=50)
    fb.font.recalcTimestamp = False
    out = io.BytesIO()
    fb.save(out)
    return out.getvalue()


def make_font(generator: LetterDrawer, style: Style, family: str, truetype: bool) -> bytes:
    """Draw A-Z in ``style`` and build the font's bytes."""
    z = np.repeat(style.z, len(LETTERS), axis=0)
    images = generator.generate(z, list(range(len(LETTERS))))
    return build_font(images, family, f"{style.source}, model {generator.name}", truetype)


def specimen(font_bytes: bytes, title: str) -> Image.Image:
    """A specimen drawn with the font itself: a pangram at three sizes, A-Z, and lower case (mapped to caps)."""
    lines = [(PANGRAM, 56), ("ABCDEFGHIJKLM", 72), ("NOPQRSTUVWXYZ", 72), (PANGRAM.lower(), 32),
             ("THE FIVE BOXING WIZARDS JUMP QUICKLY", 20)]
    fonts = [ImageFont.truetype(io.BytesIO(font_bytes), size) for _, size in lines]
    width = 40 + max(int(font.getlength(text)) for (text, _), font in zip(lines, fonts))
    height = 50 + sum(int(size * 1.3) for _, size in lines)
    image = Image.new("L", (max(width, 400), height), 255)
    draw = ImageDraw.Draw(image)
    draw.text((20, 10), title, fill=90, font=ImageFont.load_default())
    y = 40
    for (text, size), font in zip(lines, fonts):
        draw.text((20, y), text, fill=0, font=font)
        y += int(size * 1.3)
    return image
