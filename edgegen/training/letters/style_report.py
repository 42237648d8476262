"""The letter-style report: do seeds draw many real, clean styles, and does a font's style carry over?

:func:`write_style_report` measures any *drawer* (the interface below) against a FontSet with
the metrics of :mod:`edgegen.training.letters.style_metrics` and a judge trained on fonts the
generator never saw, and writes REPORTS/results.json, results.md (numbers, acceptance
thresholds of issue 13, pass/fail) and figures. Reference drawers calibrate the instruments:
:class:`RealFontsDrawer` (draws real fonts: every ratio near 1, retrieval 1) and
:class:`CollapsedDrawer` (one font for every style: diversity 0, retrieval at chance).
:class:`GanDrawer` measures the GAN study's conditional generators, which have no encoder.

    python -m edgegen.training.letters.style_report --model NAME --reports reports/letters/style
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import matplotlib

matplotlib.use("Agg")
import click  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from edgegen.runtime.files import atomic_write_text  # noqa: E402
from edgegen.runtime.letter_spec import DEFAULT_LIKE_LETTERS, LETTERS  # noqa: E402
from edgegen.training.common import progress, write_json  # noqa: E402
from edgegen.training.letters import style_metrics as sm  # noqa: E402

SEED_OFFSET = 1  # styles come from seeds 1..n, as `fontgen word ... --seed 1/2/3` would draw them
MAX_FEW_SHOT_FIGURE_FONTS = 8
MANY_SEEDS = 64  # diversity and spreads also over this many seeds (0: not), beside the 12
DISTINCT_FEW_SHOT_FONTS = 12  # few-shot retrieval is scored among this many mutually distinct val fonts
INTERPOLATION_STEPS = 7


class Drawer(Protocol):
    """What a style model offers the report (the runtime style generator implements it)."""

    style_dim: int
    size: int  # S: the canvas of draw() and of the glyphs encode() reads

    def sample_styles(self, seed: int, n: int) -> np.ndarray:  # [n, style_dim] from the prior
        ...

    def encode(self, glyphs: np.ndarray, letters: np.ndarray) -> np.ndarray:  # [k, S, S], [k] -> [style_dim]
        ...

    def like(self, glyphs: np.ndarray, letters: np.ndarray) -> np.ndarray:  # what `fontgen --like` uses
        ...

    def draw(self, styles: np.ndarray, letters: np.ndarray) -> np.ndarray:  # [n, d], [n] -> [n, S, S] in [0, 1]
        ...


# ----------------------------------------------------------------------------- reference drawers


class RealFontsDrawer:
    """Draws real glyphs: style k of the prior is the k-th training font, encode finds the font whose
    glyphs were given (any split). A perfect model: the report should score it near 1 everywhere."""

    style_dim = 1

    def __init__(self, font_set, pool: str = "train"):
        self.glyphs = np.asarray(font_set.glyphs, np.float32)
        self.size = self.glyphs.shape[-1]
        self.pool = np.flatnonzero(np.asarray(font_set.split) == pool)

    def sample_styles(self, seed: int, n: int) -> np.ndarray:
        return self.pool[(seed + np.arange(n)) % len(self.pool)].astype(np.float32)[:, None]

    def encode(self, glyphs: np.ndarray, letters: np.ndarray) -> np.ndarray:
        distance = np.abs(self.glyphs[:, np.asarray(letters)] - np.asarray(glyphs)[None]).sum((1, 2, 3))
        return np.asarray([distance.argmin()], np.float32)

    def like(self, glyphs: np.ndarray, letters: np.ndarray) -> np.ndarray:
        return self.encode(glyphs, letters)

    def draw(self, styles: np.ndarray, letters: np.ndarray) -> np.ndarray:
        fonts = np.clip(np.rint(np.asarray(styles)[:, 0]).astype(int), 0, len(self.glyphs) - 1)
        return self.glyphs[fonts, np.asarray(letters)]


class CollapsedDrawer(RealFontsDrawer):
    """Mode collapse made explicit: every style, sampled or encoded, draws the same font."""

    def __init__(self, font_set, font: int = 0):
        super().__init__(font_set)
        self.font = font

    def sample_styles(self, seed: int, n: int) -> np.ndarray:
        return np.full((n, 1), self.font, np.float32)

    def encode(self, glyphs: np.ndarray, letters: np.ndarray) -> np.ndarray:
        return np.asarray([self.font], np.float32)


class GanDrawer:
    """A conditional GAN generator of the letter study (runtime FontGenerator): styles are its z; no encoder,
    so few-shot retrieval does not apply."""

    def __init__(self, generator):
        self.generator = generator
        self.style_dim = generator.z_dim
        self.size = sm.CROP_SIZE

    def sample_styles(self, seed: int, n: int) -> np.ndarray:
        return self.generator.style(seed, n)

    def encode(self, glyphs: np.ndarray, letters: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{self.generator.name} has no style encoder")

    like = encode

    def draw(self, styles: np.ndarray, letters: np.ndarray) -> np.ndarray:
        return self.generator.generate(np.asarray(styles, np.float32), np.asarray(letters))


@dataclass
class RenderedFonts:
    """A FontSet stand-in (same fields) rendered from font files: for tests and for development."""

    glyphs: np.ndarray  # [n_fonts, 26, 28, 28] float32, ink = 1
    names: list[str]
    families: list[str]
    paths: list[str]
    split: list[str]


def render_fonts(paths: list[Path], split: list[str]) -> RenderedFonts:
    """Render A-Z of each font file (validated as the letter data does) at 28x28."""
    from edgegen.runtime.glyphs import letters_of_font
    from edgegen.training.letters.data import validate_font
    glyphs = np.stack([letters_of_font(validate_font(Path(p)), LETTERS) for p in paths]).astype(np.float32)
    names = [Path(p).stem for p in paths]
    return RenderedFonts(glyphs, names, names, [str(p) for p in paths], list(split))


# ----------------------------------------------------------------------------- measuring


def _split(font_set, name: str) -> np.ndarray:
    return np.flatnonzero(np.asarray(font_set.split) == name)


def example_and_target_letters(example_letters: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the example letters (unique, in A-Z order) and of the other letters (drawn and scored)."""
    examples = sorted({LETTERS.index(c) for c in example_letters.upper()})
    return np.asarray(examples), np.asarray([i for i in range(len(LETTERS)) if i not in examples])


def draw_seed_styles(drawer: Drawer, seeds: int) -> tuple[np.ndarray, np.ndarray]:
    """Styles of seeds 1..n (one each, as a user's --seed) and their A-Z [n, 26, S, S]."""
    styles = np.concatenate([drawer.sample_styles(SEED_OFFSET + s, 1) for s in range(seeds)])
    letters = np.tile(np.arange(len(LETTERS)), seeds)
    drawn = drawer.draw(np.repeat(styles, len(LETTERS), axis=0), letters)
    return styles, np.asarray(drawn, np.float32).reshape(seeds, len(LETTERS), *drawn.shape[-2:])


def judge_summary(judge, font_set, real: np.ndarray) -> dict:
    """The judge's own exam: its accuracy on the val fonts' real glyphs (``real``: crops of all fonts), and the
    val fonts it reads worst (a legibility number is only as good as this)."""
    val = _split(font_set, "val")
    asked = np.arange(len(LETTERS))
    per_font = [sm.legibility(judge.probabilities(real[f]), asked) for f in val]
    worst = np.argsort(per_font, kind="stable")[:3]
    metrics = judge.checkpoint.get("metrics", {})
    return {"val_accuracy": float(np.mean(per_font)) if len(val) else None,
            "n_judge_fonts": metrics.get("n_judge_fonts"), "n_val_fonts": int(len(val)),
            "epochs_trained": judge.checkpoint.get("epoch"), "train_seconds": judge.checkpoint.get("train_seconds"),
            "worst_val_fonts": {font_set.names[val[i]]: per_font[i] for i in worst}}


def measure_random_styles(drawn: np.ndarray, real_train: np.ndarray, real_val: np.ndarray, judge) -> dict:
    """Every metric of random styles: ``drawn`` [seeds, 26, 28, 28] crops against real fonts' crops
    [fonts, 26, 28, 28] (train and val fonts together; the Frechet distance is to the train fonts, beside
    that of as many val fonts as there are seeds, which is what real styles the model never saw score)."""
    real = np.concatenate([real_train, real_val])
    asked = np.tile(np.arange(len(LETTERS)), len(drawn))
    flat = drawn.reshape(-1, sm.CROP_SIZE, sm.CROP_SIZE)
    probs = judge.probabilities(flat)
    weight, weight_real = sm.stroke_weight(drawn), sm.stroke_weight(real)
    slant, slant_real = sm.slant(drawn), sm.slant(real)
    n = len(drawn)
    same_n = real_val[np.random.default_rng(0).choice(len(real_val), size=min(n, len(real_val)), replace=False)]
    real_features = judge.features(real_train.reshape(-1, sm.CROP_SIZE, sm.CROP_SIZE))
    return {
        "n_styles": int(n), "n_real_fonts": int(len(real)),
        "legibility": sm.legibility(probs, asked),
        "legibility_per_letter": {c: sm.legibility(probs[asked == i], asked[asked == i])
                                  for i, c in enumerate(LETTERS)},
        **sm.diversity(drawn, real),
        "weight_spread": sm.spread_ratio(weight, weight_real),
        "slant_spread": sm.spread_ratio(slant, slant_real),
        "weight_mean": float(np.nanmean(weight)), "weight_mean_real": float(np.nanmean(weight_real)),
        "consistency": sm.style_consistency(weight, slant, weight_real, slant_real),
        "cleanliness": sm.cleanliness(drawn, real),
        "real_fonts_at_random": sm.real_font_ranges(real, n),
        "frechet": sm.frechet_distance(judge.features(flat), real_features),
        "frechet_val_fonts_same_n": sm.frechet_distance(judge.features(same_n.reshape(-1, sm.CROP_SIZE, sm.CROP_SIZE)),
                                                   real_features),
    }


def measure_few_shot(drawer: Drawer, font_set, real: np.ndarray, judge, example_letters: str,
                     distinct: int = DISTINCT_FEW_SHOT_FONTS) -> tuple[dict, np.ndarray, np.ndarray]:
    """Few-shot on the ``val`` fonts: encode each from its example letters, draw the other letters, score them
    (retrieval, blurred L1 to the true glyphs, legibility) beside the nearest-training-font baseline.

    ``real`` are the crops of all fonts [n_fonts, 26, 28, 28]. Retrieval is scored among ``distinct``
    mutually distinct val fonts (style_metrics.distinct_fonts; the acceptance numbers) and among all val
    fonts, siblings included (``all_val``). Returns the results, the drawn glyphs [n_val, n_targets, S, S]
    and the baseline's training font of each val font.
    """
    val, train = _split(font_set, "val"), _split(font_set, "train")
    examples, targets = example_and_target_letters(example_letters)

    def drawn_from(read_style) -> np.ndarray:  # [n_val, n_targets, S, S]
        drawn = []
        for font in progress(val, label="few-shot fonts"):
            style = np.asarray(read_style(font_set.glyphs[font, examples], examples), np.float32).reshape(1, -1)
            drawn.append(drawer.draw(np.repeat(style, len(targets), axis=0), targets))
        return np.asarray(drawn, np.float32)

    drawn = drawn_from(drawer.like)  # what `fontgen --like` draws: the encoder's style refined on the examples
    drawn_crops = sm.crop_glyphs(drawn)
    truth = real[val][:, targets]
    nearest = train[sm.nearest_fonts(real[val][:, examples], real[train][:, examples])]
    baseline = real[nearest][:, targets]
    subset = sm.distinct_fonts(real[val], distinct)
    model, copied = sm.retrieval(drawn_crops[subset], truth[subset]), sm.retrieval(baseline[subset], truth[subset])
    encoded = sm.retrieval(sm.crop_glyphs(drawn_from(drawer.encode))[subset], truth[subset])  # the encoder alone
    model_all, copied_all = sm.retrieval(drawn_crops, truth), sm.retrieval(baseline, truth)
    asked = np.tile(targets, len(val))
    return {
        "fonts": [font_set.names[val[i]] for i in subset], "example_letters": "".join(LETTERS[i] for i in examples),
        "drawn_letters": "".join(LETTERS[i] for i in targets),
        "retrieval": model["retrieval"], "chance": model["chance"], "n_fonts": model["n_fonts"],
        "retrieval_per_font": model["retrieval_per_font"], "l1_to_true": model["l1_to_true"],
        "baseline_retrieval": copied["retrieval"], "baseline_l1_to_true": copied["l1_to_true"],
        "baseline_fonts": [font_set.names[nearest[i]] for i in subset],
        "encoder_only": {"retrieval": encoded["retrieval"], "l1_to_true": encoded["l1_to_true"],
                         "retrieval_per_font": encoded["retrieval_per_font"]},
        "all_val": {"n_fonts": model_all["n_fonts"], "retrieval": model_all["retrieval"],
                    "chance": model_all["chance"], "l1_to_true": model_all["l1_to_true"],
                    "baseline_retrieval": copied_all["retrieval"], "baseline_l1_to_true": copied_all["l1_to_true"],
                    "fonts": [font_set.names[i] for i in val]},
        "legibility": sm.legibility(judge.probabilities(drawn_crops.reshape(-1, sm.CROP_SIZE, sm.CROP_SIZE)), asked),
        "cleanliness": sm.cleanliness(drawn_crops, truth),
    }, drawn[subset], nearest[subset]


def acceptance(random_styles: dict, few_shot: dict | None) -> list[dict]:
    """Issue 13's acceptance thresholds (and ours where it sets none) with pass/fail."""
    r, c = random_styles, random_styles["cleanliness"]
    rows = [
        ("random styles: legibility", r["legibility"], ">=", 0.98, "issue"),
        ("random styles: diversity (blurred L1 / real fonts)", r["diversity"], ">=", 0.8, "issue"),
        ("random styles: stroke-weight spread / real fonts", r["weight_spread"], ">=", 0.8, "issue"),
        ("random styles: slant spread / real fonts", r["slant_spread"], ">=", 0.8, "ours"),
        ("random styles: mid-gray edge pixels / real (blur)", c["mid_gray_ratio"], "<=", 1.15,
         "ours: issue says as clean as real"),
        ("random styles: specks per glyph minus real", c["specks_per_glyph"] - c["specks_per_glyph_real"], "<=", 0.05,
         "ours: issue says no speckle"),
        ("random styles: weight CV across A-Z / real fonts", r["consistency"]["weight_cv_ratio"], "<=", 1.25, "ours"),
        ("random styles: slant SD across A-Z / real fonts", r["consistency"]["slant_sd_ratio"], "<=", 1.25, "ours"),
    ]
    if few_shot is not None:
        f = few_shot
        rows += [
            (f"few-shot: retrieval among {f['n_fonts']} distinct val fonts", f["retrieval"], ">=", 0.85,
             "issue (>= 8 fonts)"),
            ("few-shot: retrieval minus nearest-training-font baseline", f["retrieval"] - f["baseline_retrieval"],
             ">", 0.0, "issue"),
            ("few-shot: blurred L1 to true glyphs minus baseline's", f["l1_to_true"] - f["baseline_l1_to_true"],
             "<", 0.0, "issue"),
            ("few-shot: legibility", f["legibility"], ">=", 0.95, "issue"),
            ("few-shot: at least 8 val fonts", f["n_fonts"], ">=", 8, "issue"),
        ]
    compare = {">=": np.greater_equal, "<=": np.less_equal, ">": np.greater, "<": np.less}
    return [{"check": name, "value": float(value), "op": op, "threshold": threshold, "source": source,
             "pass": bool(compare[op](value, threshold))} for name, value, op, threshold, source in rows]


# ----------------------------------------------------------------------------- figures


def _tile(images: np.ndarray, rows: int, cols: int, fill: float = 0.35) -> np.ndarray:
    """[rows*cols, S, S] (NaN images = empty cells) -> one image with 1-pixel gaps."""
    size = images.shape[-1]
    grid = np.full((rows * (size + 1) - 1, cols * (size + 1) - 1), fill, np.float32)
    for i, img in enumerate(images[:rows * cols]):
        r, c = divmod(i, cols)
        grid[r * (size + 1):r * (size + 1) + size, c * (size + 1):c * (size + 1) + size] = \
            0.15 if np.isnan(img).any() else img
    return grid


def _show(ax, grid: np.ndarray, size: int, title: str, col_labels: str = "", row_labels: list[str] = ()) -> None:
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([i * (size + 1) + size / 2 for i in range(len(col_labels))], list(col_labels), fontsize=7)
    ax.set_yticks([i * (size + 1) + size / 2 for i in range(len(row_labels))], list(row_labels), fontsize=7)


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def random_styles_figure(drawn: np.ndarray, seeds: list[int], path: Path, title: str) -> None:
    """Rows: one style per seed; columns A-Z (the drawer's own canvas)."""
    n, size = len(drawn), drawn.shape[-1]
    fig, ax = plt.subplots(figsize=(13, 0.5 * n + 0.8))
    _show(ax, _tile(drawn.reshape(-1, size, size), n, 26), size, title, LETTERS, [f"seed {s}" for s in seeds])
    _save(fig, path)


def few_shot_figure(font_set, few_shot: dict, drawn: np.ndarray, nearest: np.ndarray, path: Path) -> None:
    """Per scored val font: its real A-Z, the model's drawing of the other letters, the copied nearest training font.
    ``drawn`` and ``nearest`` follow few_shot["fonts"]."""
    val = [list(font_set.names).index(name) for name in few_shot["fonts"][:MAX_FEW_SHOT_FIGURE_FONTS]]
    _, targets = example_and_target_letters(few_shot["example_letters"])
    size = font_set.glyphs.shape[-1]
    rows, labels = [], []
    blank = np.full((size, size), np.nan, np.float32)
    for k, font in enumerate(val):
        row = np.stack([blank] * 26)
        row[targets] = drawn[k]
        base = np.stack([blank] * 26)
        base[targets] = font_set.glyphs[nearest[k], targets]
        rows += [font_set.glyphs[font], row, base]
        labels += [f"{font_set.names[font][:18]} (real)", "model (few-shot)",
                   f"copy {few_shot['baseline_fonts'][k][:14]}"]
    fig, ax = plt.subplots(figsize=(13, 0.45 * len(rows) + 1))
    _show(ax, _tile(np.concatenate(rows), len(rows), 26), size,
          f"few-shot on distinct val fonts never trained on: examples {few_shot['example_letters']}, "
          f"drawn {few_shot['drawn_letters']}", LETTERS, labels)
    _save(fig, path)


def interpolation_ends(font_set, real: np.ndarray, judge) -> tuple[int, int]:
    """Two val fonts to interpolate between, among those the judge reads without a mistake (plain letters, not,
    say, a math font's script): the most typical one and the one most different from it (blurred L1 over A-Z)."""
    val = _split(font_set, "val")
    readable = [f for f in val if sm.legibility(judge.probabilities(real[f]), np.arange(len(LETTERS))) == 1.0]
    pool = np.asarray(readable if len(readable) >= 2 else val)
    ends = sm.distinct_fonts(real[pool], 2) if len(pool) > 2 else np.arange(len(pool))
    return tuple(int(pool[i]) for i in ends)


def interpolation_figure(drawer: Drawer, font_set, ends: tuple[int, int], path: Path, example_letters: str) -> str:
    """A-Z along a straight line between two styles: fonts ``ends``' encodings, else two seeds' styles."""
    examples, _ = example_and_target_letters(example_letters)
    try:
        ends_styles = [np.asarray(drawer.like(font_set.glyphs[f, examples], examples), np.float32) for f in ends]
        what = f"between val fonts {font_set.names[ends[0]]} and {font_set.names[ends[1]]}"
    except (NotImplementedError, IndexError):
        ends_styles = [drawer.sample_styles(SEED_OFFSET, 1)[0], drawer.sample_styles(SEED_OFFSET + 1, 1)[0]]
        what = f"between the styles of seeds {SEED_OFFSET} and {SEED_OFFSET + 1}"
    t = np.linspace(0, 1, INTERPOLATION_STEPS, dtype=np.float32)[:, None]
    styles = (1 - t) * ends_styles[0].reshape(1, -1) + t * ends_styles[1].reshape(1, -1)
    drawn = drawer.draw(np.repeat(styles, 26, axis=0), np.tile(np.arange(26), INTERPOLATION_STEPS))
    size = drawn.shape[-1]
    fig, ax = plt.subplots(figsize=(13, 0.5 * INTERPOLATION_STEPS + 0.8))
    _show(ax, _tile(np.asarray(drawn), INTERPOLATION_STEPS, 26), size, f"interpolation {what}", LETTERS,
          [f"t={v:.2f}" for v in t[:, 0]])
    _save(fig, path)
    return what


def distributions_figure(drawn: np.ndarray, real: np.ndarray, path: Path) -> None:
    """Stroke weight and slant per style (each glyph relative to its letter's real mean, averaged over A-Z):
    real fonts as a histogram, seeds as marks below it. Collapsed seeds bunch up; real styles spread out."""
    weight_norm = np.nanmean(sm.stroke_weight(real), axis=0)
    slant_norm = np.nanmean(sm.slant(real), axis=0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax, measure, label in ((axes[0], lambda x: np.nanmean(sm.stroke_weight(x) / weight_norm, axis=1),
                                "stroke weight / letter's real mean, per style"),
                               (axes[1], lambda x: np.nanmean(sm.slant(x) - slant_norm, axis=1),
                                "slant - letter's real mean (dx/dy), per style")):
        real_values, drawn_values = measure(real), measure(drawn)
        both = np.concatenate([real_values, drawn_values])
        ax.hist(real_values, np.histogram_bin_edges(both[np.isfinite(both)], 30), alpha=0.6,
                label=f"real fonts ({len(real)})")
        ax.plot(drawn_values, np.full(len(drawn_values), -0.4), "|", color="C1", markersize=18, mew=2,
                label=f"seeds ({len(drawn)})")
        ax.set_xlabel(label)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("fonts")
    _save(fig, path)


# ----------------------------------------------------------------------------- results


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def results_markdown(results: dict) -> str:
    """results.md: acceptance table, then the numbers behind it."""
    r = results["random_styles"]
    lines = [f"# Letter styles: {results['drawer']}", "",
             f"Font set: {results['font_set']}. "
             f"Judge: trained on {results['judge']['n_judge_fonts']} judge fonts only, "
             f"reads the {results['judge']['n_val_fonts']} val fonts' real glyphs with accuracy "
             f"{_fmt(results['judge']['val_accuracy'])} (worst: "
             + ", ".join(f"{k} {v:.2f}" for k, v in results["judge"]["worst_val_fonts"].items()) + "; "
             + f"{results['judge']['epochs_trained']} epochs, {(results['judge']['train_seconds'] or 0) / 60:.1f} min "
             "of training; the best epoch on the val fonts is kept).", "",
             "All metrics on 28x28 crops (each glyph cut to its ink, longer side 20 px, centred).", "",
             "| check | value | threshold | source | pass |", "|---|---|---|---|---|"]
    lines += [f"| {a['check']} | {a['value']:.3f} | {a['op']} {a['threshold']} | {a['source']} | "
              f"{'yes' if a['pass'] else '**no**'} |" for a in results["acceptance"]]
    c, k = r["cleanliness"], r["consistency"]
    lines += ["", f"## Random styles (seeds {SEED_OFFSET}..{SEED_OFFSET + r['n_styles'] - 1}, A-Z)", "",
              f"- legibility {r['legibility']:.3f}",
              f"- diversity {r['diversity']:.3f} (pairwise blurred L1 {r['pairwise_l1_seeds']:.4f} between seeds, "
              f"{r['pairwise_l1_real']:.4f} between {r['n_real_fonts']} real fonts)",
              f"- stroke-weight spread {r['weight_spread']:.3f}, slant spread {r['slant_spread']:.3f} "
              f"(mean weight {r['weight_mean']:.2f} px, real {r['weight_mean_real']:.2f} px)",
              f"- {r['n_styles']} real fonts picked at random score (5th / 50th / 95th percentile): "
              + "; ".join(f"{k.replace('_', ' ')} " + " / ".join(f"{q:.2f}" for q in v)
                          for k, v in r["real_fonts_at_random"].items()),
              *([f"- over {results['many_seeds']['n_styles']} seeds: diversity "
                 f"{results['many_seeds']['diversity']:.3f}, stroke-weight spread "
                 f"{results['many_seeds']['weight_spread']:.3f}, slant spread "
                 f"{results['many_seeds']['slant_spread']:.3f}"] if results.get("many_seeds") else []),
              f"- consistency across A-Z: weight CV {k['weight_cv']:.3f} (real {k['weight_cv_real']:.3f}), "
              f"slant SD {k['slant_sd']:.3f} (real {k['slant_sd_real']:.3f})",
              f"- cleanliness: mid-gray edge share {c['mid_gray_share']:.3f} (real {c['mid_gray_share_real']:.3f}), "
              f"specks per glyph {c['specks_per_glyph']:.3f} (real {c['specks_per_glyph_real']:.3f})",
              f"- Frechet distance in judge features to the train fonts {r['frechet']:.2f} "
              f"(as many val fonts as seeds: {r['frechet_val_fonts_same_n']:.2f})"]
    f = results.get("few_shot")
    if f is None:
        lines += ["", f"## Few-shot: n/a ({results.get('few_shot_note', 'no encoder')})"]
    else:
        a = f["all_val"]
        lines += ["", f"## Few-shot on {f['n_fonts']} distinct val fonts (of {a['n_fonts']})", "",
                  f"- examples {f['example_letters']}, drawn and scored {f['drawn_letters']}",
                  f"- retrieval {f['retrieval']:.3f} (chance {f['chance']:.3f}); nearest-training-font baseline "
                  f"{f['baseline_retrieval']:.3f}",
                  f"- blurred L1 to the true glyphs {f['l1_to_true']:.4f}, baseline {f['baseline_l1_to_true']:.4f}",
                  f"- the encoder alone, without the search on the examples (runtime/style_fit.py): retrieval "
                  f"{f['encoder_only']['retrieval']:.3f}, blurred L1 {f['encoder_only']['l1_to_true']:.4f}",
                  f"- among all {a['n_fonts']} val fonts, family siblings included: retrieval {a['retrieval']:.3f} "
                  f"(chance {a['chance']:.3f}), baseline {a['baseline_retrieval']:.3f}; blurred L1 "
                  f"{a['l1_to_true']:.4f}, baseline {a['baseline_l1_to_true']:.4f}",
                  f"- distinct fonts: {', '.join(f['fonts'])}",
                  f"- legibility (all val fonts) {f['legibility']:.3f}; mid-gray ratio "
                  f"{f['cleanliness']['mid_gray_ratio']:.3f}"]
    lines += ["", f"Figures: {', '.join(results['figures'])}. Measured in {results['seconds']:.0f} s.", ""]
    return "\n".join(lines)


def many_seed_spreads(drawer: Drawer, real: np.ndarray, seeds: int) -> dict:
    """Diversity and spreads over ``seeds`` seeds (a tighter estimate than 12: the spread of 12 real fonts
    picked at random ranges 0.6-1.5 of all fonts')."""
    _, drawn = draw_seed_styles(drawer, seeds)
    crops = sm.crop_glyphs(drawn)
    return {"n_styles": seeds, "diversity": sm.diversity(crops, real)["diversity"],
            "weight_spread": sm.spread_ratio(sm.stroke_weight(crops), sm.stroke_weight(real)),
            "slant_spread": sm.spread_ratio(sm.slant(crops), sm.slant(real))}


def write_style_report(drawer: Drawer, font_set, judge, out_dir: str | Path, seeds: int = 12,
                       example_letters: str = DEFAULT_LIKE_LETTERS, name: str = "style model",
                       figures: bool = True, many_seeds: int = MANY_SEEDS) -> dict:
    """Measure ``drawer`` (random styles from ``seeds`` seeds, spreads also from ``many_seeds``; few-shot on the
    val fonts if it can encode)
    against ``font_set`` (glyphs at the drawer's canvas) with ``judge``; write OUT_DIR/results.json,
    results.md and figures. Returns the results."""
    start = time.time()
    glyphs = np.asarray(font_set.glyphs, np.float32)
    if glyphs.shape[-1] != drawer.size:
        raise ValueError(f"the font set's glyphs are {glyphs.shape[-1]} px, the drawer's canvas {drawer.size} px")
    out_dir = Path(out_dir)
    real = sm.crop_glyphs(glyphs)
    reference = np.concatenate([_split(font_set, "train"), _split(font_set, "val")])
    styles, drawn = draw_seed_styles(drawer, seeds)
    drawn_crops = sm.crop_glyphs(drawn)
    results = {"drawer": name, "style_dim": int(drawer.style_dim), "canvas": int(drawer.size),
               "font_set": {s: int(len(_split(font_set, s))) for s in ("train", "val", "judge")},
               "judge": judge_summary(judge, font_set, real),
               "random_styles": measure_random_styles(drawn_crops, real[_split(font_set, "train")],
                                                      real[_split(font_set, "val")], judge)}
    if many_seeds:
        results["many_seeds"] = many_seed_spreads(drawer, real[reference], many_seeds)
    few_shot = None
    try:
        few_shot, few_drawn, nearest = measure_few_shot(drawer, font_set, real, judge, example_letters)
    except NotImplementedError as err:
        results["few_shot_note"] = str(err)
    results["few_shot"] = few_shot
    results["acceptance"] = checks = acceptance(results["random_styles"], few_shot)
    results["all_pass"] = all(a["pass"] for a in checks)
    results["figures"] = []
    if figures:
        random_styles_figure(drawn, list(range(SEED_OFFSET, SEED_OFFSET + seeds)), out_dir / "random_styles.png",
                             f"{name}: A-Z for {seeds} seeds (one style per row)")
        distributions_figure(drawn_crops, real[reference], out_dir / "distributions.png")
        results["interpolation"] = interpolation_figure(drawer, font_set, interpolation_ends(font_set, real, judge),
                                                        out_dir / "interpolation.png", example_letters)
        results["figures"] = ["random_styles.png", "distributions.png", "interpolation.png"]
        if few_shot is not None:
            few_shot_figure(font_set, few_shot, few_drawn, nearest, out_dir / "few_shot.png")
            results["figures"].append("few_shot.png")
    results["seconds"] = time.time() - start
    write_json(out_dir / "results.json", results)
    atomic_write_text(out_dir / "results.md", results_markdown(results))
    return results


# ----------------------------------------------------------------------------- command


def drawer_for(model: str | None, models_dir: str | Path | None) -> Drawer:
    """The exported letter model ``model`` (default: fontgen's default) as a drawer: a style model through the
    runtime's StyleFontGenerator when it is one, a GAN generator through :class:`GanDrawer` otherwise."""
    from edgegen.runtime import font_generator as fg
    from edgegen.runtime.onnx_model import ModelError
    style_class = getattr(fg, "StyleFontGenerator", None)
    if style_class is not None:
        try:
            return style_class(model, models_dir)
        except (ModelError, TypeError, ValueError):
            pass
    return GanDrawer(fg.FontGenerator(model, models_dir))


def quick_judge_config():
    """A judge for smoke runs and tests: small and gently augmented, so it learns a few fonts in seconds."""
    from edgegen.training.letters.judge import JudgeConfig
    return JudgeConfig(channels1=8, channels2=16, features=16, dropout=0.0, epochs=4, samples_per_epoch=1536,
                       lr=3e-3, max_rotation_deg=3, max_shear=0.1, min_scale=0.92, max_scale=1.05, max_shift_px=1,
                       blur_prob=0.1, stroke_prob=0.2)


@click.command(name="style-report")
@click.option("--model", default=None, help="exported letter model name (default: fontgen's default)")
@click.option("--models", "models_dir", default=None, type=click.Path(file_okay=False),
              help="folder of exported models (default: the bundled edgegen/models)")
@click.option("--data", "data_dir", default="data/fonts", show_default=True, type=click.Path(file_okay=False),
              help="font set cache folder")
@click.option("--runs", default="runs/letters", show_default=True, type=click.Path(file_okay=False),
              help="the judge trains into (or is read from) RUNS/judge")
@click.option("--reports", default="reports/letters/style", show_default=True, type=click.Path(file_okay=False),
              help="folder for results.json, results.md and figures")
@click.option("--reference", type=click.Choice(["real", "collapsed"]), default=None,
              help="measure a reference drawer instead of a model: real fonts (every ratio near 1) or one font for "
                   "every style (collapse): calibrates the instruments")
@click.option("--seeds", default=12, show_default=True, type=click.IntRange(2, 1000), help="random styles measured")
@click.option("--quick", is_flag=True, help="matplotlib fonts and a tiny judge: a smoke run")
@click.option("--threads", default=None, type=click.IntRange(1, 64),
              help="torch threads (default: EDGEGEN_THREADS or 1)")
def style_report_command(model, models_dir, data_dir, runs, reports, reference, seeds, quick, threads):
    """Measure a letter model's styles (random and few-shot) against real fonts; write REPORTS/results.*."""
    from edgegen.runtime.onnx_model import ModelError
    from edgegen.training.common import default_threads, one_line_errors, set_threads
    from edgegen.training.letters.fonts import load_font_set
    from edgegen.training.letters.judge import JudgeConfig, train_judge
    set_threads(threads or default_threads())
    try:
        drawer = drawer_for(model, models_dir) if reference is None else None
    except ModelError as error:
        raise click.ClickException(str(error)) from None
    with one_line_errors():
        try:
            font_set = load_font_set(data_dir, size=drawer.size if drawer else sm.CROP_SIZE, quick=quick,
                                     log=click.echo)
            if reference == "real":
                drawer, name = RealFontsDrawer(font_set), "reference: real training fonts"
            elif reference == "collapsed":
                drawer, name = CollapsedDrawer(font_set, int(_split(font_set, "train")[0])), "reference: one font"
            else:
                name = (getattr(drawer, "name", None) or getattr(getattr(drawer, "generator", None), "name", None)
                        or str(model))
            judge = train_judge(font_set, quick_judge_config() if quick else JudgeConfig(), Path(runs) / "judge",
                                log=click.echo)
            results = write_style_report(drawer, font_set, judge, reports, seeds=seeds, name=name)
        except ValueError as error:  # fonts without judge or val fonts, a canvas that does not match the fonts
            raise click.ClickException(str(error)) from None
    failed = [a["check"] for a in results["acceptance"] if not a["pass"]]
    click.echo(f"style report for {name} in {reports}: " + ("all checks pass" if not failed else
                                                             f"{len(failed)} checks fail: " + "; ".join(failed)))


def main() -> None:
    style_report_command(prog_name="python -m edgegen.training.letters.style_report")


if __name__ == "__main__":
    main()
