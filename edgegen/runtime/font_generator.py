"""Letters in learned font styles from an exported letter model, with onnxruntime and numpy only.

Two kinds of model draw letters. The default, a letter *style model*, has a style space
with a prior (a seed draws a style from it) and an encoder that reads a style from a few
example glyphs (a font file's, or images). The GAN generators of the letters study take a
latent z ~ N(0, I) as their style. Either way one style draws every letter, so a word in
one style looks like one font. Images are float32 [S, S] (S = 28 for every bundled model)
with ink = 1; :func:`to_pixels` turns them into black ink on white for people.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgegen.runtime import portable_random, style_fit
from edgegen.runtime.files import atomic_output
from edgegen.runtime.letter_spec import IMAGE_SIZE, LETTERS
from edgegen.runtime.onnx_model import ModelError, OnnxModel, available_models, models_dir, read_sidecar

DEFAULT_LETTER_MODEL = "letters_style"
"""The bundled default: the letter style model (a seed draws a style from its prior; an encoder reads a
style from example glyphs). Without it, the GAN the letters study recommends, then any conditional GAN."""
FALLBACK_LETTER_MODEL = "letters_conditional_stabilised"
CLASSIFIER_MODEL = "letter_classifier"
LETTER_KINDS = ("letter_generator", "letter_style_generator")


class UnknownLetterError(ValueError):
    """A character the letter models cannot draw (only A-Z; lower case is accepted and upper-cased)."""


def letter_index(letter: str) -> int:
    """Index 0-25 of a letter A-Z (case-insensitive); UnknownLetterError otherwise."""
    if len(letter) != 1 or letter.upper() not in LETTERS:
        raise UnknownLetterError(f"cannot draw {letter!r}: only the letters A-Z are supported")
    return LETTERS.index(letter.upper())


def default_letter_model(folder: str | os.PathLike | None = None) -> str:
    """DEFAULT_LETTER_MODEL if present, else FALLBACK_LETTER_MODEL, else the first letter style model or
    conditional letter generator (by name), else ModelError."""
    names = available_models(folder)
    for name in (DEFAULT_LETTER_MODEL, FALLBACK_LETTER_MODEL):
        if name in names:
            return name
    directory = models_dir(folder)
    for name in names:
        if name.startswith("letters_"):
            try:
                spec = read_sidecar(directory / f"{name}.onnx")
            except ModelError:
                continue
            if spec.kind == "letter_style_generator" or (spec.kind == "letter_generator" and spec.conditional):
                return name
    raise ModelError(f"no conditional letter model in {directory} (available: {', '.join(names) or 'none'})")


def open_letter_model(model: str | None = None, folder: str | os.PathLike | None = None) -> "LetterDrawer":
    """The generator for a model name (default: :func:`default_letter_model`): a StyleFontGenerator for a letter
    style model, a FontGenerator for a GAN."""
    name = model or default_letter_model(folder)
    path = models_dir(folder) / f"{name}.onnx"
    if path.is_file() and read_sidecar(path).kind == "letter_style_generator":
        return StyleFontGenerator(name, folder)
    return FontGenerator(name, folder)


class LetterDrawer:
    """What every letter model offers the commands: styles from seeds, and letters, words, alphabets,
    letter morphs and samples drawn in one style. Subclasses say what a style is (:meth:`style`) and
    draw (:meth:`generate`, :meth:`generate_blend`)."""

    model: OnnxModel
    z_dim: int
    conditional: bool
    size: int = IMAGE_SIZE

    @property
    def name(self) -> str:
        return self.model.name

    def style(self, seed: int | None = None, n: int = 1) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def generate(self, z: np.ndarray, letters: list[int] | np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - abstract

    def generate_blend(self, z: np.ndarray, onehot: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - abstract

    def _need_conditional(self) -> None:
        if not self.conditional:
            raise ModelError(f"{self.name} is unconditional and cannot draw a chosen letter; "
                             f"use `sample` or a conditional model")

    def _style(self, seed: int | None, style: np.ndarray | None) -> np.ndarray:
        return self.style(seed) if style is None else np.asarray(style, np.float32).reshape(1, self.z_dim)

    def render(self, letter: str, seed: int | None = None, style: np.ndarray | None = None) -> np.ndarray:
        """One letter [S, S] in the style of ``seed`` (or the given ``style``)."""
        self._need_conditional()
        index = letter_index(letter)
        return self.generate(self._style(seed, style), [index])[0]

    def word(self, text: str, seed: int | None = None, style: np.ndarray | None = None) -> np.ndarray:
        """Letters of ``text`` [len, S, S], all in one style. Spaces give blanks."""
        self._need_conditional()
        if not text:
            raise UnknownLetterError("cannot draw an empty word")
        indices = [None if ch == " " else letter_index(ch) for ch in text]
        drawn = [i for i in indices if i is not None]
        if not drawn:
            raise UnknownLetterError("cannot draw a word of spaces only")
        z = np.repeat(self._style(seed, style), len(drawn), axis=0)
        images = iter(self.generate(z, drawn))
        blank = np.zeros((self.size, self.size), np.float32)
        return np.stack([blank if i is None else next(images) for i in indices])

    def alphabet(self, seed: int | None = None, style: np.ndarray | None = None) -> np.ndarray:
        """A-Z [26, S, S] in one style."""
        return self.word(LETTERS, seed, style)

    def interpolate(self, letter_a: str, letter_b: str, steps: int = 8, seed: int | None = None) -> np.ndarray:
        """[steps, S, S] morphing letter a into letter b: one style, the one-hot label blended linearly."""
        self._need_conditional()
        if steps < 2:
            raise ValueError(f"interpolation needs at least 2 steps, got {steps}")
        a, b = letter_index(letter_a), letter_index(letter_b)
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
        eye = np.eye(len(LETTERS), dtype=np.float32)
        onehot = (1 - t) * eye[a] + t * eye[b]
        return self.generate_blend(np.repeat(self.style(seed), steps, axis=0), onehot)

    def sample(self, n: int, seed: int | None = None, batch: int = 256) -> np.ndarray:
        """``n`` samples [n, S, S]: each its own style; conditional models draw letters uniformly at random."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        rng = portable_random.rng(seed)
        out = []
        for start in range(0, n, batch):
            size = min(batch, n - start)
            z = self._draw_styles(rng, size)
            letters = rng.integers(0, len(LETTERS), size) if self.conditional else None
            out.append(self.generate(z, letters))
        return np.concatenate(out)

    def _draw_styles(self, rng, n: int) -> np.ndarray:
        return rng.standard_normal((n, self.z_dim)).astype(np.float32)


class FontGenerator(LetterDrawer):
    """Letters from one exported GAN generator: a style is one latent z ~ N(0, I)."""

    def __init__(self, model: str | None = None, models_dir: str | os.PathLike | None = None):
        name = model or default_letter_model(models_dir)
        self.model = OnnxModel.by_name(name, models_dir)
        if self.model.spec.kind != "letter_generator":
            raise ModelError(f"{self.model.path} is a {self.model.spec.kind}, not a letter generator")
        self.z_dim = self.model.spec.latent["z_dim"]
        self.conditional = self.model.spec.conditional

    def style(self, seed: int | None = None, n: int = 1) -> np.ndarray:
        """Latent styles z [n, z_dim] ~ N(0, I) for a seed (random when None)."""
        return portable_random.rng(seed).standard_normal((n, self.z_dim)).astype(np.float32)

    def generate(self, z: np.ndarray, letters: list[int] | np.ndarray | None = None) -> np.ndarray:
        """Images [N, 28, 28] for latents z [N, z_dim] and letter indices (conditional models only)."""
        feed = {"z": np.asarray(z, dtype=np.float32)}
        if self.conditional:
            if letters is None:
                raise ValueError(f"{self.name} is conditional: say which letters to draw")
            feed["onehot"] = np.eye(len(LETTERS), dtype=np.float32)[np.asarray(letters, dtype=int)]
        elif letters is not None:
            raise ValueError(f"{self.name} is unconditional: it cannot be asked for a particular letter")
        return self.model.run(**feed)[0][:, 0]

    def generate_blend(self, z: np.ndarray, onehot: np.ndarray) -> np.ndarray:
        return self.model.run(z=z, onehot=onehot)[0][:, 0]


class StyleFontGenerator(LetterDrawer):
    """Letters from an exported letter style model: a generator (letter + style -> glyph), its encoder
    (example glyphs with their letters -> style) and the style prior in the sidecar.

    A seed's style is drawn from the prior: mean + L @ z, z from ``portable_random.rng(seed)``. This is also
    the interface the style report draws through: ``style_dim``, ``size``, ``sample_styles``, ``encode``, ``draw``.
    """

    conditional = True

    def __init__(self, model: str | None = None, models_dir: str | os.PathLike | None = None):
        name = model or DEFAULT_LETTER_MODEL
        self.model = OnnxModel.by_name(name, models_dir)
        spec = self.model.spec
        if spec.kind != "letter_style_generator":
            raise ModelError(f"{self.model.path} is a {spec.kind}, not a letter style generator")
        self.models_dir = models_dir
        self.style_dim = self.z_dim = spec.latent["style_dim"]
        self.size = spec.latent["image_size"]
        self.prior_mean = np.asarray(spec.style_prior_mean, np.float32)
        self.prior_cholesky = np.asarray(spec.style_prior_cholesky, np.float32)
        self._encoder: OnnxModel | None = None

    @property
    def encoder(self) -> OnnxModel:
        """The encoder graph beside the generator (NAME_encoder), from the same training (sidecar group)."""
        if self._encoder is None:
            encoder = OnnxModel.by_name(f"{self.name}_encoder", self.models_dir)
            if encoder.spec.kind != "letter_style_encoder":
                raise ModelError(f"{encoder.path} is a {encoder.spec.kind}, not a letter style encoder")
            if encoder.spec.group != self.model.spec.group or encoder.spec.latent != self.model.spec.latent:
                raise ModelError(f"{encoder.path} comes from a different training than {self.model.path}")
            self._encoder = encoder
        return self._encoder

    def _draw_styles(self, rng, n: int) -> np.ndarray:
        z = rng.standard_normal((n, self.style_dim)).astype(np.float32)
        return (self.prior_mean + z @ self.prior_cholesky.T).astype(np.float32)

    def sample_styles(self, seed: int | None, n: int = 1) -> np.ndarray:
        """``n`` styles [n, style_dim] drawn from the prior with ``portable_random.rng(seed)``."""
        return self._draw_styles(portable_random.rng(seed), n)

    def style(self, seed: int | None = None, n: int = 1) -> np.ndarray:
        return self.sample_styles(seed, n)

    def encode(self, glyphs: np.ndarray, letters: np.ndarray | list[int]) -> np.ndarray:
        """The style [style_dim] of example glyphs [k, S, S] (ink = 1) showing ``letters`` [k] (indices 0-25).

        Up to ``examples`` (26) glyphs are used; a letter given twice counts twice."""
        glyphs = np.asarray(glyphs, np.float32)
        letters = np.asarray(letters, dtype=int).reshape(-1)
        slots = self.encoder.spec.latent["examples"]
        if glyphs.ndim != 3 or glyphs.shape[1:] != (self.size, self.size) or len(glyphs) != len(letters):
            raise ValueError(f"encode needs glyphs [k, {self.size}, {self.size}] and k letters, "
                             f"got {glyphs.shape} and {len(letters)}")
        if not 1 <= len(letters) or letters.min() < 0 or letters.max() >= len(LETTERS):
            raise ValueError("encode needs at least one example, with letters 0-25")
        k = min(len(letters), slots)
        feed_glyphs = np.zeros((1, slots, self.size, self.size), np.float32)
        feed_letters = np.zeros((1, slots, len(LETTERS)), np.float32)
        mask = np.zeros((1, slots), np.float32)
        feed_glyphs[0, :k] = glyphs[:k]
        feed_letters[0, np.arange(k), letters[:k]] = 1.0
        mask[0, :k] = 1.0
        return self.encoder.run(glyphs=feed_glyphs, letters=feed_letters, mask=mask)[0][0]

    def like(self, glyphs: np.ndarray, letters: np.ndarray | list[int],
             settings: style_fit.FitSettings = style_fit.DEFAULT_FIT) -> np.ndarray:
        """The style [style_dim] ``fontgen --like`` draws in: the encoder's reading of the example glyphs
        [k, S, S], refined by a search for the style that redraws them best (runtime/style_fit.py)."""
        glyphs = np.asarray(glyphs, np.float32)
        letters = np.asarray(letters, dtype=int).reshape(-1)
        return style_fit.fit_style(self.draw, self.encode(glyphs, letters), glyphs, letters, self.prior_cholesky,
                                   settings)

    def draw(self, styles: np.ndarray, letters: np.ndarray | list[int]) -> np.ndarray:
        """Glyphs [n, S, S] in [0, 1], ink = 1, of ``styles`` [n, style_dim] and ``letters`` [n] (0-25)."""
        return self.generate(styles, letters)

    def generate(self, z: np.ndarray, letters: list[int] | np.ndarray | None = None) -> np.ndarray:
        if letters is None:
            raise ValueError(f"{self.name} draws chosen letters: say which")
        onehot = np.eye(len(LETTERS), dtype=np.float32)[np.asarray(letters, dtype=int)]
        return self.generate_blend(z, onehot)

    def generate_blend(self, z: np.ndarray, onehot: np.ndarray) -> np.ndarray:
        return self.model.run(onehot=onehot, style=np.asarray(z, np.float32))[0][:, 0]

    def interpolate_styles(self, a: np.ndarray, b: np.ndarray, text: str, steps: int = 8) -> np.ndarray:
        """[steps, len(text), S, S]: ``text`` drawn in styles moving linearly from ``a`` to ``b``."""
        if steps < 2:
            raise ValueError(f"interpolation needs at least 2 steps, got {steps}")
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
        styles = (1 - t) * np.asarray(a, np.float32).reshape(1, -1) + t * np.asarray(b, np.float32).reshape(1, -1)
        return np.stack([self.word(text, style=s) for s in styles])


class LetterClassifier:
    """The exported letter classifier: images [N, 28, 28] (ink = 1) -> predicted letter and confidence."""

    def __init__(self, models_dir: str | os.PathLike | None = None):
        self.model = OnnxModel.by_name(CLASSIFIER_MODEL, models_dir)
        if self.model.spec.kind != "letter_classifier":
            raise ModelError(f"{self.model.path} is a {self.model.spec.kind}, not a letter classifier")

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        logits = self.model.run(image=np.asarray(images, np.float32).reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE))[0]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, images: np.ndarray) -> tuple[list[str], np.ndarray]:
        probs = self.probabilities(images)
        return [LETTERS[i] for i in probs.argmax(axis=1)], probs.max(axis=1)


# ----------------------------------------------------------------------------- images


def tile(images: np.ndarray, columns: int | None = None, gap: int = 2) -> np.ndarray:
    """Lay images [N, 28, 28] out on a grid (``columns`` per row, default all in one row), ink = 1."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    columns = max(1, min(columns or n, n))
    rows = -(-n // columns)
    sheet = np.zeros((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap), np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = image
    return sheet


def to_pixels(image: np.ndarray, scale: int = 1, invert: bool = False) -> np.ndarray:
    """Ink-is-1 float image -> uint8 grayscale: black ink on white, or white on black when ``invert``."""
    if scale < 1:
        raise ValueError(f"scale must be at least 1, got {scale}")
    ink = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    pixels = np.round((ink if invert else 1.0 - ink) * 255).astype(np.uint8)
    return np.kron(pixels, np.ones((scale, scale), np.uint8)) if scale > 1 else pixels


def save_png(image: np.ndarray, path: str | os.PathLike, scale: int = 1, invert: bool = False) -> None:
    """Write a PNG atomically (nearest-neighbour ``scale``, black on white unless ``invert``)."""
    from PIL import Image

    pixels = to_pixels(image, scale, invert)
    with atomic_output(Path(path), suffix=".png") as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")
