"""Letter images A-Z (28x28, ink = 1.0) rendered from TrueType fonts, cached on disk with a manifest.

The default fonts ship inside the matplotlib wheel, so a fresh machine needs no download.
A font's character map is not trusted: each font must draw 26 distinct, non-empty glyphs
that look like the letters they claim (checked against a reference sans font), otherwise
it is rejected with an error that names the file.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageFont

from edgegen.runtime.files import atomic_output, atomic_write_text
from edgegen.runtime.glyphs import POINT_SIZE, draw_glyph, fit_glyph
from edgegen.runtime.letter_spec import LETTERS

# the ten fonts of DESIGN 3.1, all inside matplotlib/mpl-data/fonts/ttf
DEFAULT_FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSerif.ttf",
    "DejaVuSerif-BoldItalic.ttf", "STIXGeneral.ttf", "STIXGeneralBolIta.ttf",
    "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf",
)
REFERENCE_FONT_FILE = "DejaVuSans.ttf"
DATA_FILE = "letters.npz"
MANIFEST_FILE = "manifest.json"


class FontError(ValueError):
    """A font file cannot be read or does not draw the 26 capital letters."""


@dataclass
class LetterDataConfig:
    train_per_font_letter: int = 20   # training images per font per letter (10 fonts -> 200 per letter)
    val_per_font_letter: int = 6      # validation images per font per letter (10 fonts -> 60 per letter)
    seed: int = 0                     # one seed fixes every random scale, shift, rotation and stroke
    max_rotation_deg: float = 8.0     # uniform rotation range, +-
    max_shift_px: float = 1.5         # uniform shift of the glyph centre, +- pixels (28x28 scale)
    scale_range: tuple[float, float] = (0.85, 1.08)  # relative size of the glyph box
    max_stroke: int = 2               # extra stroke width on the large canvas (0 = as designed)


def matplotlib_font_dir() -> Path:
    """The TTF folder inside the installed matplotlib wheel."""
    import matplotlib

    return Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"


def default_font_paths() -> list[Path]:
    """The ten default fonts (DESIGN 3.1)."""
    folder = matplotlib_font_dir()
    return [folder / name for name in DEFAULT_FONT_FILES]


def expand_font_args(items: list[str]) -> list[Path]:
    """Turn user --fonts arguments (files or folders) into a sorted list of font files."""
    paths: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in (".ttf", ".otf"))
            if not found:
                raise FontError(f"{p}: folder holds no .ttf or .otf files")
            paths.extend(found)
        elif p.exists():
            paths.append(p)
        else:
            raise FontError(f"{p}: no such font file or folder")
    return paths


def _load_font(path: Path) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(str(path), POINT_SIZE)
    except (OSError, ValueError) as err:
        raise FontError(f"{path}: not a readable font file ({err})") from None


def render_letter(font: ImageFont.FreeTypeFont, letter: str, rng: np.random.Generator | None,
                  config: LetterDataConfig) -> np.ndarray:
    """One 28x28 image of ``letter``; with ``rng`` None it is the clean, centred glyph."""
    if rng is None:
        return fit_glyph(draw_glyph(font, letter))
    stroke = int(rng.integers(0, config.max_stroke + 1))
    rotation = float(rng.uniform(-config.max_rotation_deg, config.max_rotation_deg))
    scale = float(rng.uniform(*config.scale_range))
    shift = (float(rng.uniform(-config.max_shift_px, config.max_shift_px)),
             float(rng.uniform(-config.max_shift_px, config.max_shift_px)))
    return fit_glyph(draw_glyph(font, letter, stroke), scale, rotation, shift)


_REFERENCE: np.ndarray | None = None


def _reference_glyphs() -> np.ndarray:
    global _REFERENCE
    if _REFERENCE is None:
        font = _load_font(matplotlib_font_dir() / REFERENCE_FONT_FILE)
        _REFERENCE = np.stack([render_letter(font, c, None, LetterDataConfig()) for c in LETTERS])
    return _REFERENCE


def _blurred_unit(glyphs: np.ndarray) -> np.ndarray:
    """Blur (so stroke width and serifs matter less), centre and normalise each glyph to a unit vector."""
    images = [Image.fromarray((g * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(2)) for g in glyphs]
    flat = np.stack([np.asarray(i, np.float32).ravel() for i in images])
    flat -= flat.mean(1, keepdims=True)
    return flat / (np.linalg.norm(flat, axis=1, keepdims=True) + 1e-8)


def validate_font(path: Path, min_recognised: int = 8) -> ImageFont.FreeTypeFont:
    """Load a font and check that it draws 26 distinct, non-empty, letter-like glyphs.

    Letter-like means: for at least ``min_recognised`` of the 26 letters, the nearest reference
    glyph (DejaVu Sans, by correlation) is the same letter. This rejects fonts whose character
    map claims letters but whose glyphs are symbols (cmex10, STIXSiz*), boxes (LastResortHE) or blank.
    """
    font = _load_font(path)
    glyphs = np.stack([render_letter(font, c, None, LetterDataConfig()) for c in LETTERS])
    empty = [c for c, g in zip(LETTERS, glyphs) if (g > 0.5).sum() < 8]
    if empty:
        raise FontError(f"{path}: draws no glyph for {''.join(empty)}")
    digests = {hashlib.sha1((g > 0.5).tobytes()).hexdigest() for g in glyphs}
    if len(digests) < len(LETTERS):
        raise FontError(f"{path}: draws only {len(digests)} distinct glyphs for the 26 letters (boxes or symbols?)")
    ref, own = _blurred_unit(_reference_glyphs()), _blurred_unit(glyphs)
    recognised = int((np.argmax(own @ ref.T, axis=1) == np.arange(26)).sum())
    if recognised < min_recognised:
        raise FontError(f"{path}: only {recognised}/26 glyphs look like the letters they claim; not a letter font")
    return font


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_letters(font_paths: list[Path], config: LetterDataConfig) -> dict[str, np.ndarray]:
    """Render the train/validation sets: arrays x_* [N, 28, 28] float32 and y_* [N] int64 (0 = 'A')."""
    fonts = [validate_font(p) for p in font_paths]
    out: dict[str, np.ndarray] = {}
    for split, per, offset in (("train", config.train_per_font_letter, 0),
                               ("val", config.val_per_font_letter, 1)):
        images, labels = [], []
        for font_index, font in enumerate(fonts):
            for letter_index, letter in enumerate(LETTERS):
                # one independent stream per (split, font, letter): adding a font never changes the others
                rng = np.random.default_rng([config.seed, offset, font_index, letter_index])
                for _ in range(per):
                    images.append(render_letter(font, letter, rng, config))
                    labels.append(letter_index)
        out[f"x_{split}"] = np.stack(images).astype(np.float32)
        out[f"y_{split}"] = np.asarray(labels, dtype=np.int64)
        out[f"font_{split}"] = np.repeat(np.arange(len(fonts)), per * len(LETTERS)).astype(np.int64)
    return out


def arrays_checksum(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over the arrays in name order; the manifest records it so a corrupt cache is caught."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    return digest.hexdigest()


def _manifest_request(font_paths: list[Path], config: LetterDataConfig) -> dict:
    return {
        "fonts": [{"file": p.name, "sha256": _file_sha256(p)} for p in font_paths],
        "config": asdict(config),
    }


def quick_config() -> LetterDataConfig:
    """Tiny data for smoke runs: with 2 fonts, 10 train / 4 val images per letter."""
    return LetterDataConfig(train_per_font_letter=5, val_per_font_letter=2)


def load_or_build(data_dir: str | os.PathLike, font_paths: list[Path] | None = None,
                  config: LetterDataConfig | None = None, log=print) -> dict[str, np.ndarray]:
    """Load the cached dataset if its manifest matches the request, otherwise render and cache it."""
    data_dir = Path(data_dir)
    font_paths = list(font_paths) if font_paths is not None else default_font_paths()
    config = config or LetterDataConfig()
    request = _manifest_request(font_paths, config)
    manifest_path, data_path = data_dir / MANIFEST_FILE, data_dir / DATA_FILE
    if manifest_path.exists() and data_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if {k: manifest.get(k) for k in request} == json.loads(json.dumps(request)):
            with np.load(data_path) as f:
                arrays = {k: f[k] for k in f.files}
            if arrays_checksum(arrays) == manifest.get("checksum"):
                log(f"letters: using cached {data_path}")
                return arrays
            log(f"letters: {data_path} does not match its manifest checksum; rebuilding")
    for path in font_paths:   # fail on a bad font before announcing any work
        validate_font(path)
    log(f"letters: rendering {len(font_paths)} fonts into {data_dir}")
    arrays = build_letters(font_paths, config)
    data_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(data_path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    manifest = dict(request, seed=config.seed, letters=LETTERS,
                    counts={"train": int(len(arrays["y_train"])), "val": int(len(arrays["y_val"])),
                            "train_per_letter": int(len(arrays["y_train"]) // 26),
                            "val_per_letter": int(len(arrays["y_val"]) // 26)},
                    checksum=arrays_checksum(arrays))
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return arrays


def read_manifest(data_dir: str | os.PathLike) -> dict:
    return json.loads((Path(data_dir) / MANIFEST_FILE).read_text())
