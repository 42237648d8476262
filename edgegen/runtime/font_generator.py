"""Letters in learned font styles from an exported GAN generator, with onnxruntime and numpy only.

A "style" is one latent vector z: the conditional generator draws any letter
from it, so a word rendered with one z looks like one font. Images are float32
[28, 28] with ink = 1 (the training convention); :func:`to_png` turns them into
black ink on white for people.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgegen.runtime import portable_random
from edgegen.runtime.files import atomic_output
from edgegen.runtime.letter_spec import IMAGE_SIZE, LETTERS
from edgegen.runtime.onnx_model import ModelError, OnnxModel, available_models, models_dir, read_sidecar

DEFAULT_LETTER_MODEL = "letters_conditional_stabilised"
"""The bundled default: the conditional variant the letters study recommends (gan.DEFAULT_CONDITIONAL).
If a models folder lacks it, the first conditional letter generator (by name) is used instead."""
CLASSIFIER_MODEL = "letter_classifier"


class UnknownLetterError(ValueError):
    """A character the letter models cannot draw (only A-Z; lower case is accepted and upper-cased)."""


def letter_index(letter: str) -> int:
    """Index 0-25 of a letter A-Z (case-insensitive); UnknownLetterError otherwise."""
    if len(letter) != 1 or letter.upper() not in LETTERS:
        raise UnknownLetterError(f"cannot draw {letter!r}: only the letters A-Z are supported")
    return LETTERS.index(letter.upper())


def default_letter_model(folder: str | os.PathLike | None = None) -> str:
    """DEFAULT_LETTER_MODEL if present, else the first conditional letter generator, else ModelError."""
    names = available_models(folder)
    if DEFAULT_LETTER_MODEL in names:
        return DEFAULT_LETTER_MODEL
    directory = models_dir(folder)
    for name in names:
        if name.startswith("letters_"):
            try:
                spec = read_sidecar(directory / f"{name}.onnx")
            except ModelError:
                continue
            if spec.kind == "letter_generator" and spec.conditional:
                return name
    raise ModelError(f"no conditional letter model in {directory} (available: {', '.join(names) or 'none'})")


class FontGenerator:
    """Render letters, alphabets, words and interpolations from one exported letter generator."""

    def __init__(self, model: str | None = None, models_dir: str | os.PathLike | None = None):
        name = model or default_letter_model(models_dir)
        self.model = OnnxModel.by_name(name, models_dir)
        if self.model.spec.kind != "letter_generator":
            raise ModelError(f"{self.model.path} is a {self.model.spec.kind}, not a letter generator")
        self.z_dim = self.model.spec.latent["z_dim"]
        self.conditional = self.model.spec.conditional

    @property
    def name(self) -> str:
        return self.model.name

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

    def _need_conditional(self) -> None:
        if not self.conditional:
            raise ModelError(f"{self.name} is unconditional and cannot draw a chosen letter; "
                             f"use `sample` or a conditional model")

    def render(self, letter: str, seed: int | None = None) -> np.ndarray:
        """One letter [28, 28] in the style of ``seed``."""
        self._need_conditional()
        index = letter_index(letter)
        return self.generate(self.style(seed), [index])[0]

    def word(self, text: str, seed: int | None = None) -> np.ndarray:
        """Letters of ``text`` [len, 28, 28], all from one z so they share a style. Spaces give blanks."""
        self._need_conditional()
        if not text:
            raise UnknownLetterError("cannot draw an empty word")
        indices = [None if ch == " " else letter_index(ch) for ch in text]
        drawn = [i for i in indices if i is not None]
        if not drawn:
            raise UnknownLetterError("cannot draw a word of spaces only")
        z = np.repeat(self.style(seed), len(drawn), axis=0)
        images = iter(self.generate(z, drawn))
        return np.stack([np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32) if i is None else next(images) for i in indices])

    def alphabet(self, seed: int | None = None) -> np.ndarray:
        """A-Z [26, 28, 28] in one style."""
        return self.word(LETTERS, seed)

    def interpolate(self, letter_a: str, letter_b: str, steps: int = 8, seed: int | None = None) -> np.ndarray:
        """[steps, 28, 28] morphing letter a into letter b: one z, the one-hot label blended linearly."""
        self._need_conditional()
        if steps < 2:
            raise ValueError(f"interpolation needs at least 2 steps, got {steps}")
        a, b = letter_index(letter_a), letter_index(letter_b)
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
        eye = np.eye(len(LETTERS), dtype=np.float32)
        onehot = (1 - t) * eye[a] + t * eye[b]
        z = np.repeat(self.style(seed), steps, axis=0)
        return self.model.run(z=z, onehot=onehot)[0][:, 0]

    def sample(self, n: int, seed: int | None = None, batch: int = 256) -> np.ndarray:
        """``n`` samples [n, 28, 28]: each its own z; conditional models draw letters uniformly at random."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        rng = portable_random.rng(seed)
        out = []
        for start in range(0, n, batch):
            size = min(batch, n - start)
            z = rng.standard_normal((size, self.z_dim)).astype(np.float32)
            letters = rng.integers(0, len(LETTERS), size) if self.conditional else None
            out.append(self.generate(z, letters))
        return np.concatenate(out)


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
