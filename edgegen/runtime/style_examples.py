"""Example glyphs for the style encoder, from a font file or from images of letters (Pillow and numpy only).

`fontgen ... --like FONT.ttf` draws the font's capitals (only those of --like-letters) the way
the training data drew them (runtime/glyphs.py); `--like A=a.png` reads an image of one letter:
any size, dark ink on light or light on dark, with or without transparency. Both end as glyphs
[k, S, S] with ink = 1, cropped to the ink and centred like the training glyphs.

Everything a user can get wrong (a missing or unreadable file, a font without capitals, a
symbol font whose character map claims letters, a blank image) is an :class:`ExampleError`
with one line that names the file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFont, UnidentifiedImageError

from edgegen.runtime.glyphs import POINT_SIZE, draw_glyph, fit_glyph
from edgegen.runtime.letter_spec import IMAGE_SIZE, LETTERS

MAX_IMAGE_PIXELS = 4096 * 4096  # a glyph photo or scan; anything larger is not one letter
MIN_INK_CONTRAST = 0.15  # darkest minus lightest share of an image: less is a blank image
NOT_A_CODEPOINT = "\U0010FFFD"  # a private-use code point no font maps: what the font draws when it lacks a letter
MIN_READ_SHARE = 1 / 3  # of a font's example glyphs the letter classifier must read as their letter


class ExampleError(ValueError):
    """Example glyphs that cannot be used; the message is one line naming the file."""


@dataclass
class Examples:
    """Glyphs [k, S, S] (ink = 1), their letters [k] (0-25), and words for messages."""

    glyphs: np.ndarray
    letters: np.ndarray
    source: str


def parse_like(item: str) -> tuple[str | None, Path]:
    """``A=a.png`` -> ("A", a.png); anything else is a font file -> (None, path)."""
    head, sep, tail = item.partition("=")
    if sep and len(head.strip()) == 1 and tail:
        letter = head.strip().upper()
        if letter not in LETTERS:
            raise ExampleError(f"--like {item}: {head!r} is not a letter A-Z")
        return letter, Path(tail)
    return None, Path(item)


def _load_font(path: Path) -> ImageFont.FreeTypeFont:
    if not path.is_file():
        raise ExampleError(f"--like font {path} does not exist")
    try:
        return ImageFont.truetype(str(path), POINT_SIZE)
    except (OSError, ValueError) as error:
        raise ExampleError(f"cannot read {path} as a font (TrueType or OpenType): {str(error) or 'unknown format'}") \
            from None


def font_examples(path: str | os.PathLike, letters: str, size: int = IMAGE_SIZE) -> Examples:
    """The capitals of ``letters`` the font draws (skipping those it lacks: blank, or the same drawing as a code
    point no font maps, i.e. its .notdef box), as the training data drew them."""
    path = Path(path)
    font = _load_font(path)
    missing = np.asarray(draw_glyph(font, NOT_A_CODEPOINT))
    present, glyphs = [], []
    for letter in dict.fromkeys(letters.upper()):
        if letter not in LETTERS:
            raise ExampleError(f"--like-letters: {letter!r} is not a letter A-Z")
        drawn = draw_glyph(font, letter)
        pixels = np.asarray(drawn)
        if pixels.max() == 0 or np.array_equal(pixels, missing):
            continue
        present.append(letter)
        glyphs.append(fit_glyph(drawn, size=size))
    if not present:
        raise ExampleError(f"font {path} draws none of the capitals {letters} (no usable capital letters)")
    return Examples(np.stack(glyphs), np.array([LETTERS.index(c) for c in present]),
                    f"{path.name} ({''.join(present)})")


def image_glyph(path: str | os.PathLike, size: int = IMAGE_SIZE) -> np.ndarray:
    """One letter image as a glyph [S, S], ink = 1: flattened onto its background, polarity found from the
    border (the background is what surrounds the letter), contrast stretched, cropped to the ink, centred."""
    path = Path(path)
    if not path.is_file():
        raise ExampleError(f"--like image {path} does not exist")
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ExampleError(f"{path}: {image.width}x{image.height} is too large for one letter image")
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                alpha = np.asarray(rgba.getchannel("A"), np.float32) / 255
                gray = np.asarray(rgba.convert("L"), np.float32) / 255
                # transparent pixels are background: put the letter on the opposite of its own colour
                inked = alpha > 0.5
                ink_level = float(gray[inked].mean()) if inked.any() else 0.0
                background = 1.0 if ink_level < 0.5 else 0.0
                gray = alpha * gray + (1 - alpha) * background
            else:
                gray = np.asarray(image.convert("L"), np.float32) / 255
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise ExampleError(f"cannot read {path} as an image ({str(error).splitlines()[0] if str(error) else 'unknown format'})") \
            from None
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ink = 1.0 - gray if np.median(border) > 0.5 else gray
    low, high = float(np.median(np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]]))), float(ink.max())
    if high - low < MIN_INK_CONTRAST:
        raise ExampleError(f"{path}: no letter found (the image is blank or has almost no contrast)")
    ink = np.clip((ink - low) / (high - low), 0.0, 1.0)
    ink[ink < 0.1] = 0.0  # paper texture and JPEG noise are not ink
    glyph = fit_glyph(Image.fromarray(np.round(ink * 255).astype(np.uint8)), size=size)
    if glyph.max() <= 0:
        raise ExampleError(f"{path}: no letter found")
    return glyph


def gather_examples(likes: list[str], like_letters: str, size: int = IMAGE_SIZE) -> Examples:
    """Every ``--like`` item (font files and LETTER=image pairs) as one set of example glyphs."""
    glyphs, letters, sources = [], [], []
    for item in likes:
        letter, path = parse_like(item)
        if letter is None:
            found = font_examples(path, like_letters, size)
            glyphs.extend(found.glyphs)
            letters.extend(found.letters.tolist())
            sources.append(found.source)
        else:
            glyphs.append(image_glyph(path, size))
            letters.append(LETTERS.index(letter))
            sources.append(f"{letter}={path.name}")
    if not glyphs:
        raise ExampleError("--like needs a font file or LETTER=image")
    return Examples(np.stack(glyphs).astype(np.float32), np.asarray(letters), ", ".join(sources))


def check_readable(examples: Examples, classifier, min_share: float = MIN_READ_SHARE) -> None:
    """Refuse examples that do not look like their letters (a symbol font whose character map claims capitals):
    ``classifier`` (the bundled letter classifier, 28x28) must read at least ``min_share`` of them."""
    glyphs = examples.glyphs
    if glyphs.shape[-1] != IMAGE_SIZE:
        glyphs = np.stack([np.asarray(Image.fromarray(np.round(g * 255).astype(np.uint8)).resize(
            (IMAGE_SIZE, IMAGE_SIZE), Image.LANCZOS), np.float32) / 255 for g in glyphs])
    read, _ = classifier.predict(glyphs)
    correct = sum(r == LETTERS[i] for r, i in zip(read, examples.letters))
    if correct < min_share * len(read):
        raise ExampleError(f"{examples.source} does not look like letters: the letter classifier reads only "
                           f"{correct} of {len(read)} as the letter they claim (a symbol font?)")
