"""Many font styles for the letter style model: every allowed font on this machine, A-Z each, split by family.

Where the fonts come from: the TTFs inside the matplotlib wheel (always present) and the
Debian font packages of DESIGN 3.1 that `make fonts` installs (/usr/share/fonts, and the
Latin Modern OpenType files under /usr/share/texmf). Fonts of the packages reserved for
evaluation (URW base35, Liberation, Noto, TeX Gyre, Croscore) are never read here: their
files are excluded by the package's own file list (dpkg -L), by path, and, as a second
guard, by family name (a copy installed some other way is still caught).

What a font must draw: its character map is not trusted (DESIGN 3.1), so every font goes
through the same check as the GAN study's data (training.letters.data): 26 non-empty,
distinct glyphs of which enough look like the letters they claim (nearest reference glyph).
Exact copies (same bytes, e.g. DejaVu in matplotlib and in /usr/share/fonts) and near
copies (the same design at another optical size or hinting: mean pixel difference below
NEAR_DUPLICATE) keep one representative, so no style is counted twice.

The split is by *family group* (the first word of the family name, with every Computer
Modern clone in one group), so no design is on both sides of a line:
    train  the style model's generator and encoder train on these;
    val    few-shot validation of the style model, never trained on;
    judge  only the held-out legibility classifier of the style report trains on these.

``load_font_set`` renders the set once (about a minute for ~350 fonts) and caches it with
a manifest (the candidate files and their sha256, size, seed, a checksum of the arrays).
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import ImageFont

from edgegen.runtime.files import atomic_output, atomic_write_text
from edgegen.runtime.glyphs import POINT_SIZE, draw_glyph, fit_glyph
from edgegen.runtime.letter_spec import IMAGE_SIZE, LETTERS
from edgegen.training.letters.data import _blurred_unit, matplotlib_font_dir

FORMAT = 3  # bump when the rendering or the split rule changes: old caches are rebuilt
SPLITS = ("train", "val", "judge")
SPLIT_SHARES = {"train": 0.66, "val": 0.14, "judge": 0.20}  # of the fonts, assigned group by group
SYSTEM_FONT_ROOTS = (Path("/usr/share/fonts"), Path("/usr/share/texmf/fonts/opentype"))
FONT_SUFFIXES = (".ttf", ".otf")
MIN_RECOGNISED = 10  # of 26 glyphs whose nearest reference glyph is of their own letter
NEAR_DUPLICATE = 0.015  # mean |pixel difference| over A-Z (28x28) below which two fonts are one style
# upright and slanted references, so an italic is judged against italics (matplotlib's own TTFs)
REFERENCE_FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Italic.ttf",
                        "cmr10.ttf", "cmti10.ttf")
MAX_PER_GROUP = 12  # the most distinct fonts kept of a family group (Latin Modern alone has ~90 near-alikes)
QUICK_FONTS = 12  # quick sets: matplotlib's fonts only, at most this many

# DESIGN 3.1: the packages the style model may train on (`make fonts` installs them) ...
ALLOWED_PACKAGES = (
    "fonts-dejavu-extra", "fonts-freefont-ttf", "fonts-crosextra-carlito", "fonts-crosextra-caladea",
    "fonts-open-sans", "fonts-roboto", "fonts-lato", "fonts-cantarell", "fonts-ebgaramond",
    "fonts-linuxlibertine", "fonts-inconsolata", "fonts-comic-neue", "fonts-firacode", "fonts-league-spartan",
    "fonts-junicode", "fonts-cabin", "fonts-hack", "fonts-adf-accanthis", "fonts-adf-gillius",
    "fonts-adf-baskervald", "fonts-adf-universalis", "fonts-adf-verana", "fonts-adf-berenis", "fonts-adf-ikarius",
    "fonts-adf-libris", "fonts-adf-tribun", "fonts-adf-mekanus", "fonts-adf-romande", "fonts-beteckna",
    "fonts-breip", "fonts-dkg-handwriting", "fonts-humor-sans", "fonts-isabella", "fonts-jura",
    "fonts-oldstandard", "fonts-sil-gentium", "fonts-sil-charis", "fonts-sil-andika", "fonts-quicksand",
    "fonts-yanone-kaffeesatz", "fonts-go", "fonts-courier-prime", "fonts-averia-gwf", "fonts-kristi",
    "fonts-fantasque-sans", "fonts-blankenburg", "fonts-cmu", "fonts-lmodern",
)
# ... and those reserved for evaluation: never read for training (glob patterns over package names)
RESERVED_PACKAGES = ("fonts-urw-base35", "fonts-liberation", "fonts-liberation2", "fonts-noto*", "fonts-texgyre*",
                     "fonts-croscore")
RESERVED_PATH_WORDS = ("liberation", "urw-base35", "noto", "texgyre", "croscore")
RESERVED_FAMILY_WORDS = ("liberation", "noto", "tex gyre", "texgyre", "nimbus", "urw", "arimo", "tinos", "cousine",
                         "c059", "p052", "z003", "d050000l", "standard symbols ps")
COMPUTER_MODERN_WORDS = ("cmu", "latin", "lm")  # CMU Serif, Latin Modern Roman, LM Roman 10: one design family
GROUP_ALIASES = {"verana": "dejavu"}  # Verana Sans is derived from Bitstream Vera, as DejaVu is


@dataclass
class FontSet:
    """A-Z of many fonts, split by family group (see the module docstring)."""

    glyphs: np.ndarray  # [n_fonts, 26, S, S] float32 in [0, 1], ink = 1
    names: list[str]  # "Family Style" of each font
    families: list[str]  # the family name the font reports
    paths: list[str]  # the font file each row was drawn from
    split: np.ndarray  # [n_fonts] of "train" / "val" / "judge"
    groups: list[str] = field(default_factory=list)  # the family group the split was made by

    @property
    def size(self) -> int:
        return int(self.glyphs.shape[-1])

    def indices(self, split: str) -> np.ndarray:
        """Row numbers of one split's fonts."""
        return np.flatnonzero(self.split == split)

    def subset(self, split: str) -> "FontSet":
        keep = self.indices(split)
        return FontSet(self.glyphs[keep], [self.names[i] for i in keep], [self.families[i] for i in keep],
                       [self.paths[i] for i in keep], self.split[keep],
                       [self.groups[i] for i in keep] if self.groups else [])


# ----------------------------------------------------------------------------- which files


def _installed_reserved_files() -> set[str]:
    """Real paths of every file that an installed reserved package owns (empty without dpkg)."""
    try:
        listing = subprocess.run(["dpkg-query", "-W", "-f=${Package}\n"], capture_output=True, text=True,
                                 check=True, timeout=60).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return set()
    reserved = [p for p in listing if any(fnmatch.fnmatch(p, pattern) for pattern in RESERVED_PACKAGES)]
    files: set[str] = set()
    for package in reserved:
        try:
            out = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=True,
                                 timeout=60).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        files.update(os.path.realpath(line) for line in out.splitlines() if line.strip())
    return files


def is_reserved_path(path: str | os.PathLike) -> bool:
    """A file under a reserved package's folder name (the path guard)."""
    text = str(path).lower()
    return any(word in text for word in RESERVED_PATH_WORDS)


def is_reserved_family(family: str) -> bool:
    """A family name of the reserved designs (the name guard)."""
    text = family.lower()
    return any(word in text for word in RESERVED_FAMILY_WORDS)


def candidate_font_files(roots: list[Path] | None = None) -> list[Path]:
    """Font files under matplotlib's folder and ``roots`` (default: the system font folders), minus every file
    of a reserved package or under a reserved path; sorted, one path per real file."""
    roots = [matplotlib_font_dir(), *(SYSTEM_FONT_ROOTS if roots is None else roots)]
    reserved = _installed_reserved_files()
    seen: set[str] = set()
    found: list[Path] = []
    for root in roots:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in FONT_SUFFIXES or not path.is_file():
                continue
            real = os.path.realpath(path)
            if real in seen or real in reserved or str(path) in reserved or is_reserved_path(real) \
                    or is_reserved_path(path):
                continue
            seen.add(real)
            found.append(path)
    return found


def family_group(family: str) -> str:
    """The unit of the split: the family name's first word, Computer Modern clones together."""
    words = re.findall(r"[a-z0-9]+", family.lower())
    first = words[0] if words else family.lower()
    if first in COMPUTER_MODERN_WORDS or re.fullmatch(r"cm[a-z]{0,4}\d*", first):
        return "computer-modern"
    return GROUP_ALIASES.get(first, first)


def merge_prefix_groups(groups: list[str]) -> list[str]:
    """A group whose name starts with another group's (of 4+ letters) joins it: Beteckna, BetecknaGS and
    BetecknaGSCondensed are one design."""
    names = sorted(set(groups), key=len)
    parent = {}
    for name in names:
        parent[name] = next((p for p in names if len(p) >= 4 and len(p) < len(name) and name.startswith(p)), name)
    return [parent[g] for g in groups]


# ----------------------------------------------------------------------------- which fonts draw letters


@dataclass
class _Rendered:
    path: Path
    family: str
    name: str
    sha256: str
    glyphs28: np.ndarray  # [26, 28, 28] for the checks
    glyphs: np.ndarray  # [26, S, S]


def _render(path: Path, size: int) -> _Rendered | str:
    """A-Z of one font at 28 (for the checks) and at ``size``; a reason string if the font is unusable."""
    try:
        font = ImageFont.truetype(str(path), POINT_SIZE)
        family, style = font.getname()
    except (OSError, ValueError) as error:
        return f"unreadable ({error})"
    family = family or path.stem
    if is_reserved_family(family):
        return f"reserved family {family!r}"
    drawn = [draw_glyph(font, letter) for letter in LETTERS]
    glyphs28 = np.stack([fit_glyph(g) for g in drawn])
    glyphs = glyphs28 if size == IMAGE_SIZE else np.stack([fit_glyph(g, size=size) for g in drawn])
    name = f"{family} {style}".strip() if style and style.lower() not in ("regular", "book", "roman") else family
    return _Rendered(path, family, name, hashlib.sha256(path.read_bytes()).hexdigest(), glyphs28, glyphs)


_REFERENCE: np.ndarray | None = None


def _reference_glyphs() -> np.ndarray:
    """A-Z of every REFERENCE_FONT_FILES font, [n_fonts * 26, 28, 28] (row % 26 is the letter)."""
    global _REFERENCE
    if _REFERENCE is None:
        fonts = [ImageFont.truetype(str(matplotlib_font_dir() / name), POINT_SIZE) for name in REFERENCE_FONT_FILES]
        _REFERENCE = np.concatenate([[fit_glyph(draw_glyph(f, c)) for c in LETTERS] for f in fonts])
    return _REFERENCE


def glyph_problem(glyphs28: np.ndarray, min_recognised: int = MIN_RECOGNISED) -> str | None:
    """Why A-Z [26, 28, 28] are not 26 usable capitals (None if they are): empty, repeated or not letter-like."""
    empty = [c for c, g in zip(LETTERS, glyphs28) if (g > 0.5).sum() < 8]
    if empty:
        return f"no glyph for {''.join(empty)}"
    distinct = len({hashlib.sha1((g > 0.5).tobytes()).hexdigest() for g in glyphs28})
    if distinct < len(LETTERS):
        return f"only {distinct} distinct glyphs"
    ref, own = _blurred_unit(_reference_glyphs()), _blurred_unit(glyphs28)
    nearest_letter = np.argmax(own @ ref.T, axis=1) % len(LETTERS)
    recognised = int((nearest_letter == np.arange(len(LETTERS))).sum())
    if recognised < min_recognised:
        return f"only {recognised}/26 glyphs look like their letters"
    return None


def _drop_near_duplicates(fonts: list[_Rendered]) -> tuple[list[_Rendered], list[str]]:
    """Keep the first of each set of fonts whose A-Z differ by less than NEAR_DUPLICATE per pixel."""
    kept: list[_Rendered] = []
    dropped: list[str] = []
    hashes: set[str] = set()
    names: set[str] = set()
    flat: list[np.ndarray] = []
    for font in fonts:
        vector = font.glyphs28.reshape(-1)
        if font.sha256 in hashes or font.name in names:
            dropped.append(f"{font.path}: a copy of an earlier file (same bytes or same name)")
            continue
        if flat:
            distance = np.abs(np.stack(flat) - vector).mean(axis=1)
            nearest = int(distance.argmin())
            if distance[nearest] < NEAR_DUPLICATE:
                dropped.append(f"{font.path}: near copy of {kept[nearest].path} ({distance[nearest]:.4f})")
                continue
        hashes.add(font.sha256)
        names.add(font.name)
        kept.append(font)
        flat.append(vector)
    return kept, dropped


def cap_groups(fonts: list[_Rendered], groups: list[str], cap: int = MAX_PER_GROUP) -> list[int]:
    """Indices of at most ``cap`` fonts per group: the first, then each time the one farthest (mean |pixel
    difference|) from those kept, so a group keeps its range of weights and slants, not its many near-alikes."""
    keep: list[int] = []
    for group in dict.fromkeys(groups):
        rows = [i for i, g in enumerate(groups) if g == group]
        chosen = [rows[0]]
        vectors = {i: fonts[i].glyphs28.reshape(-1) for i in rows}
        while len(chosen) < min(cap, len(rows)):
            rest = [i for i in rows if i not in chosen]
            gaps = [min(np.abs(vectors[i] - vectors[j]).mean() for j in chosen) for i in rest]
            chosen.append(rest[int(np.argmax(gaps))])
        keep.extend(chosen)
    return sorted(keep)


def split_by_group(groups: list[str], seed: int = 0) -> np.ndarray:
    """train / val / judge per font: whole groups, visited in a seeded hash order, each to the split that has the
    least of its share (SPLIT_SHARES) of the fonts so far (so three groups already give every split one)."""
    counts: dict[str, int] = {}
    for g in groups:
        counts[g] = counts.get(g, 0) + 1
    order = sorted(counts, key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    total = len(groups)
    filled = {s: 0 for s in SPLITS}
    assigned: dict[str, str] = {}
    for group in order:
        target = min(SPLITS, key=lambda s: (filled[s] / (SPLIT_SHARES[s] * total), SPLITS.index(s)))
        assigned[group] = target
        filled[target] += counts[group]
    return np.asarray([assigned[g] for g in groups])


# ----------------------------------------------------------------------------- the cached set


def _manifest_request(files: list[Path], size: int, seed: int, quick: bool) -> dict:
    return {"format": FORMAT, "size": size, "seed": seed, "quick": quick,
            "candidates": [{"file": str(p), "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in files]}


def _checksum(glyphs: np.ndarray, split: np.ndarray) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(glyphs).tobytes())
    digest.update("|".join(split.tolist()).encode())
    return digest.hexdigest()


def build_font_set(files: list[Path], size: int = IMAGE_SIZE, seed: int = 0,
                   log=print) -> tuple[FontSet, list[str]]:
    """Render, check, de-duplicate and split ``files``; also returns why each dropped file was dropped."""
    rendered: list[_Rendered] = []
    rejected: list[str] = []
    for path in files:
        result = _render(path, size)
        if isinstance(result, str):
            rejected.append(f"{path}: {result}")
            continue
        problem = glyph_problem(result.glyphs28)
        if problem:
            rejected.append(f"{path}: {problem}")
            continue
        rendered.append(result)
    kept, dropped = _drop_near_duplicates(rendered)
    groups = merge_prefix_groups([family_group(f.family) for f in kept])
    capped = cap_groups(kept, groups)
    dropped += [f"{f.path}: more than {MAX_PER_GROUP} in group {g}" for i, (f, g) in enumerate(zip(kept, groups))
                if i not in capped]
    kept, groups = [kept[i] for i in capped], [groups[i] for i in capped]
    font_set = FontSet(np.stack([f.glyphs for f in kept]).astype(np.float32) if kept else
                       np.zeros((0, len(LETTERS), size, size), np.float32),
                       [f.name for f in kept], [f.family for f in kept], [str(f.path) for f in kept],
                       split_by_group(groups, seed), groups)
    log(f"fonts: {len(kept)} fonts from {len(files)} files ({len(rejected)} rejected, {len(dropped)} duplicates); "
        + ", ".join(f"{s} {int((font_set.split == s).sum())}" for s in SPLITS))
    return font_set, rejected + dropped


def _quick_subset(font_set: FontSet, seed: int) -> FontSet:
    """At most QUICK_FONTS fonts taken from each family group in turn, so every split still gets a group."""
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(font_set.groups):
        by_group.setdefault(g, []).append(i)
    keep: list[int] = []
    while len(keep) < min(QUICK_FONTS, len(font_set.names)):
        for rows in by_group.values():
            if rows and len(keep) < QUICK_FONTS:
                keep.append(rows.pop(0))
    keep.sort()
    groups = [font_set.groups[i] for i in keep]
    return FontSet(font_set.glyphs[keep], [font_set.names[i] for i in keep], [font_set.families[i] for i in keep],
                   [font_set.paths[i] for i in keep], split_by_group(groups, seed), groups)


def load_font_set(cache_dir: str | os.PathLike, size: int = IMAGE_SIZE, seed: int = 0, quick: bool = False,
                  roots: list[Path] | None = None, log=print) -> FontSet:
    """The font set, from ``cache_dir`` if its manifest matches the fonts on this machine, else rendered and
    cached. ``quick``: matplotlib's fonts only (at most QUICK_FONTS), for smoke runs and tests."""
    files = candidate_font_files([] if quick else roots)
    cache_dir = Path(cache_dir)
    stem = f"fonts_{size}{'_quick' if quick else ''}_seed{seed}"
    data_path, manifest_path = cache_dir / f"{stem}.npz", cache_dir / f"{stem}.json"
    request = _manifest_request(files, size, seed, quick)
    if data_path.exists() and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if {k: manifest.get(k) for k in request} == request:
            with np.load(data_path, allow_pickle=False) as f:
                font_set = FontSet(f["glyphs"], f["names"].tolist(), f["families"].tolist(), f["paths"].tolist(),
                                   f["split"].astype(str), f["groups"].tolist())
            if _checksum(font_set.glyphs, font_set.split) == manifest.get("checksum"):
                log(f"fonts: using cached {data_path} ({len(font_set.names)} fonts)")
                return font_set
            log(f"fonts: {data_path} does not match its manifest checksum; rebuilding")
    log(f"fonts: rendering {len(files)} candidate files at {size}x{size} into {cache_dir}")
    font_set, dropped = build_font_set(files, size, seed, log)
    if quick:
        font_set = _quick_subset(font_set, seed)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(data_path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, glyphs=font_set.glyphs, names=np.asarray(font_set.names),
                            families=np.asarray(font_set.families), paths=np.asarray(font_set.paths),
                            split=np.asarray(font_set.split, dtype=str), groups=np.asarray(font_set.groups))
    manifest = dict(request, checksum=_checksum(font_set.glyphs, font_set.split),
                    fonts=[{"name": n, "family": f, "group": g, "file": p, "split": str(s)}
                           for n, f, g, p, s in zip(font_set.names, font_set.families, font_set.groups,
                                                    font_set.paths, font_set.split)],
                    counts={s: int((font_set.split == s).sum()) for s in SPLITS}, dropped=dropped)
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return font_set


# ----------------------------------------------------------------------------- training variants


@dataclass
class AugmentConfig:
    """Small distortions of a cached glyph, as the GAN study's data draws them (data.LetterDataConfig)."""

    max_rotation_deg: float = 5.0  # uniform, +-
    max_shift_px: float = 1.0  # uniform shift of the glyph, +- pixels at 28x28 (scaled with the size)
    scale_range: tuple[float, float] = (0.92, 1.05)  # relative size about the centre
    max_stroke: float = 0.5  # stroke change: blend towards the dilated (or eroded) glyph by up to this much


def augment_glyphs(glyphs: np.ndarray, rng: np.random.Generator, config: AugmentConfig | None = None) -> np.ndarray:
    """A random variant of each glyph [n, S, S] (ink = 1): rotation, scale, shift and a stroke change."""
    from scipy import ndimage

    config = config or AugmentConfig()
    glyphs = np.asarray(glyphs, np.float32)
    size = glyphs.shape[-1]
    out = np.empty_like(glyphs)
    centre = (size - 1) / 2
    for i, glyph in enumerate(glyphs):
        stroke = rng.uniform(-config.max_stroke, config.max_stroke)
        if stroke > 0:
            glyph = glyph + stroke * (ndimage.grey_dilation(glyph, size=(2, 2)) - glyph)
        elif stroke < 0:
            glyph = glyph - stroke * (ndimage.grey_erosion(glyph, size=(2, 2)) - glyph)
        angle = np.deg2rad(rng.uniform(-config.max_rotation_deg, config.max_rotation_deg))
        scale = rng.uniform(*config.scale_range)
        shift = rng.uniform(-config.max_shift_px, config.max_shift_px, 2) * size / IMAGE_SIZE
        # output pixel p samples input pixel M @ (p - centre - shift) + centre, M = R(-angle) / scale
        matrix = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) / scale
        offset = centre - matrix @ (np.array([centre, centre]) + shift)
        out[i] = ndimage.affine_transform(glyph, matrix, offset=offset, order=1, mode="constant", cval=0.0)
    return np.clip(out, 0.0, 1.0)
