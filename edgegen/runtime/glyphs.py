"""Letters drawn with a font file the way the letter models saw them in training (Pillow, numpy).

The training data (edgegen.training.letters.data, with random scale, rotation,
shift and stroke) and `fontgen font --like` (a user's font, as it is) both draw
glyphs here, so a user's letters are compared with the model's in the same frame:
drawn large and reduced (anti-aliased strokes), cropped to the ink, the longer
side fitted to GLYPH_BOX pixels, centred in IMAGE_SIZE x IMAGE_SIZE, ink = 1.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from edgegen.runtime.letter_spec import IMAGE_SIZE

CANVAS = 112  # glyphs are drawn at 4x and reduced, which anti-aliases strokes
POINT_SIZE = 80  # font size on the large canvas
GLYPH_BOX = 20  # the glyph's longer side fits this many pixels of the 28x28 image (as MNIST)


def draw_glyph(font: ImageFont.FreeTypeFont, text: str, stroke: int = 0) -> Image.Image:
    """The glyph drawn white on black in the middle of the large canvas ("L" mode)."""
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    ImageDraw.Draw(canvas).text((CANVAS / 2, CANVAS / 2), text, fill=255, font=font,
                                anchor="mm", stroke_width=stroke, stroke_fill=255)
    return canvas


def fit_glyph(glyph: Image.Image, scale: float = 1.0, rotation: float = 0.0,
              shift: tuple[float, float] = (0.0, 0.0), size: int = IMAGE_SIZE) -> np.ndarray:
    """Crop to the ink, rotate, fit the longer side to GLYPH_BOX*scale pixels, centre (plus shift) in 28x28.

    Another ``size`` scales the box with it (GLYPH_BOX * size / 28), so glyphs keep the same margins.
    A glyph with no ink gives a blank image.
    """
    if rotation:
        glyph = glyph.rotate(rotation, resample=Image.BILINEAR, expand=True, fillcolor=0)
    bbox = glyph.getbbox()
    if bbox is None:
        return np.zeros((size, size), np.float32)
    glyph = glyph.crop(bbox)
    w, h = glyph.size
    factor = GLYPH_BOX * size / IMAGE_SIZE * scale / max(w, h)
    fitted = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = glyph.resize(fitted, resample=Image.LANCZOS)
    out = Image.new("L", (size, size), 0)
    # paste at a sub-pixel-free integer offset; the shift is rounded to whole pixels after centring
    x0 = round((size - fitted[0]) / 2 + shift[0])
    y0 = round((size - fitted[1]) / 2 + shift[1])
    out.paste(small, (x0, y0))
    return np.asarray(out, dtype=np.float32) / 255.0


def letters_of_font(font: ImageFont.FreeTypeFont, letters: str, size: int = IMAGE_SIZE) -> np.ndarray:
    """Each of ``letters`` drawn with ``font`` (loaded at POINT_SIZE), undistorted: [len, size, size]."""
    return np.stack([fit_glyph(draw_glyph(font, letter), size=size) for letter in letters])
