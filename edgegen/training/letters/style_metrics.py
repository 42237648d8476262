"""Letter-style metrics of DESIGN section 5: do letters come in many real, clean styles?

Coverage, KL and label accuracy count letters, not styles: a model that draws every
seed in the same font passes them. These functions measure the styles themselves.
All of them take glyph *crops*: each glyph cut to its ink, its longer side fitted to
CROP_BOX pixels and centred in CROP_SIZE x CROP_SIZE (:func:`crop_glyphs`), so where a
glyph sits on the canvas and how large it is do not count as style, and a model with a
32 or 64 pixel canvas is measured in the same frame as one with 28.

Pure numpy/scipy functions; the judge (a classifier trained on fonts the generator
never saw) is passed in as numbers (its probabilities or features), not as a model.
"""
from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import linalg, ndimage
from scipy.spatial.distance import cdist, pdist

CROP_SIZE = 28
CROP_BOX = 20           # the crop's longer side, as runtime.glyphs.GLYPH_BOX: the frame the letter data uses
INK_THRESHOLD = 0.25    # a pixel at least this dark is ink when finding the glyph's box and its pieces
BLUR_SIGMA = 1.5        # px at 28x28: blurred distances compare shapes, not anti-aliasing or edge noise
MID_GRAY = (0.2, 0.8)   # an edge pixel in this range is neither ink nor paper: blur shows as many of them
SPECK_MAX_SHARE = 0.05  # an ink piece under this share of the glyph's ink (and under SPECK_MAX_PIXELS) is a speck
SPECK_MAX_PIXELS = 6


# ----------------------------------------------------------------------------- the common frame


def _ink_edges(profile: np.ndarray) -> tuple[float, float]:
    """Sub-pixel first and last edge of the ink along one axis, from the profile of its darkest pixels.

    Pixel i spans [i, i + 1). The first pixel of at least INK_THRESHOLD and its neighbour outside
    hold the partial coverage of the edge (an anti-aliased edge crosses one of them), so the edge
    lies at first + (1 - p[first]) - p[first - 1]; likewise at the far end. Whole-pixel boxes
    would move and scale a glyph by up to 5 % of its size with the canvas it was drawn on.
    """
    p = np.concatenate([[0.0], np.clip(profile, 0, 1), [0.0]])
    inked = np.flatnonzero(p >= INK_THRESHOLD)
    first, last = inked[0], inked[-1]
    start = first + (1 - p[first]) - p[first - 1] - 1
    stop = last + p[last] + p[last + 1] - 1
    return float(start), float(max(stop, start + 1e-3))


def crop_glyph(image: np.ndarray) -> np.ndarray:
    """One glyph [S, S] (ink = 1) cut to its ink, longer side fitted to CROP_BOX px, centred in 28x28.

    The ink box (pixels >= INK_THRESHOLD, so faint haze does not stretch it) is found to a fraction
    of a pixel (:func:`_ink_edges`) and resampled in one Lanczos step (anti-aliased when the canvas
    is larger), so a glyph lands in the same place at the same size whatever its canvas or position.
    A blank image stays blank.
    """
    image = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    if not (image >= INK_THRESHOLD).any():
        return np.zeros((CROP_SIZE, CROP_SIZE), np.float32)
    top, bottom = _ink_edges(image.max(1))
    left, right = _ink_edges(image.max(0))
    half = CROP_SIZE / 2 * max(bottom - top, right - left) / CROP_BOX  # source pixels from centre to crop edge
    cy, cx = (top + bottom) / 2, (left + right) / 2
    pad = int(np.ceil(half)) + 2
    padded = Image.fromarray(np.pad(image, pad), mode="F")
    box = (cx - half + pad, cy - half + pad, cx + half + pad, cy + half + pad)
    out = padded.resize((CROP_SIZE, CROP_SIZE), resample=Image.LANCZOS, box=box)
    return np.clip(np.asarray(out, np.float32), 0.0, 1.0)


def crop_glyphs(images: np.ndarray) -> np.ndarray:
    """:func:`crop_glyph` over any leading shape: [..., S, S] -> [..., 28, 28]."""
    images = np.asarray(images, np.float32)
    flat = images.reshape(-1, *images.shape[-2:])
    crops = np.stack([crop_glyph(g) for g in flat]) if len(flat) else np.zeros((0, CROP_SIZE, CROP_SIZE), np.float32)
    return crops.reshape(*images.shape[:-2], CROP_SIZE, CROP_SIZE)


def blur(crops: np.ndarray) -> np.ndarray:
    """Gaussian blur (BLUR_SIGMA) of each crop: distances after it see shape and weight, not pixel noise."""
    crops = np.asarray(crops, np.float32)
    sigma = (0,) * (crops.ndim - 2) + (BLUR_SIGMA, BLUR_SIGMA)
    return ndimage.gaussian_filter(crops, sigma=sigma, mode="constant")


def _flat(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, np.float64).reshape(len(images), -1)


def blurred_l1(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean per-pixel |blur(a) - blur(b)| for paired crops [n, 28, 28] -> [n]."""
    return np.abs(blur(a) - blur(b)).reshape(len(a), -1).mean(1)


# ----------------------------------------------------------------------------- diversity


def mean_pairwise_blurred_l1(crops: np.ndarray) -> float:
    """Mean per-pixel blurred L1 over all pairs of crops [n, 28, 28] (n >= 2): how different n glyphs are."""
    flat = _flat(blur(crops))
    return float(pdist(flat, "cityblock").mean() / flat.shape[1])


def diversity(drawn: np.ndarray, real: np.ndarray) -> dict:
    """Pairwise blurred L1 between styles, letter by letter, relative to real fonts.

    ``drawn`` [n_styles, n_letters, 28, 28] and ``real`` [n_fonts, n_letters, 28, 28] crops, the same
    letters in the same order. Comparing a letter only with itself keeps letter shape out of it; the
    blur keeps edge noise out of it (a collapsed model's seeds differ mostly there). 1.0 = seeds differ
    as much as real fonts do; near 0 = every seed draws the same font.
    """
    seeds = [mean_pairwise_blurred_l1(drawn[:, i]) for i in range(drawn.shape[1])]
    fonts = [mean_pairwise_blurred_l1(real[:, i]) for i in range(real.shape[1])]
    return {"diversity": float(np.mean(seeds) / np.mean(fonts)),
            "pairwise_l1_seeds": float(np.mean(seeds)), "pairwise_l1_real": float(np.mean(fonts))}


# ----------------------------------------------------------------------------- stroke weight and slant


def stroke_weight(crops: np.ndarray) -> np.ndarray:
    """Stroke width in pixels of each crop [..., 28, 28]: 2 x ink area / outline length.

    A stroke of width w and length L has area w*L and outline about 2L, so the ratio is the width,
    whatever the letter. The outline length is the summed gradient magnitude of the (anti-aliased)
    ink, which needs no binarising or skeleton. Blank crops give NaN.
    """
    crops = np.asarray(crops, np.float64)
    gy, gx = np.gradient(crops, axis=(-2, -1))
    outline = np.hypot(gx, gy).sum((-2, -1))
    area = crops.sum((-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(outline > 0, 2.0 * area / outline, np.nan)


def slant(crops: np.ndarray) -> np.ndarray:
    """Shear of each crop's ink [..., 28, 28]: the slope dx/dy of its second moments (mu_xy / mu_yy).

    With y pointing up, an italic leaning right has a positive slant (about tan of its angle); an
    upright symmetric letter 0. Letters have their own shear (N, Z), so compare a letter only with
    itself across styles. Blank crops give NaN.
    """
    crops = np.asarray(crops, np.float64)
    size = crops.shape[-1]
    y = (size - 1 - np.arange(size))[:, None] * np.ones((1, size))
    x = np.ones((size, 1)) * np.arange(size)[None, :]
    mass = crops.sum((-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = (crops * x).sum((-2, -1)) / mass
        my = (crops * y).sum((-2, -1)) / mass
        dx = x - mx[..., None, None]
        dy = y - my[..., None, None]
        mu_xy = (crops * dx * dy).sum((-2, -1))
        mu_yy = (crops * dy * dy).sum((-2, -1))
        return np.where(mass > 0, mu_xy / mu_yy, np.nan)


def spread_ratio(drawn_values: np.ndarray, real_values: np.ndarray) -> float:
    """Spread of a per-glyph measure across styles relative to real fonts.

    Inputs [n_styles, n_letters] and [n_fonts, n_letters]: the standard deviation across styles of
    each letter, averaged over letters, divided by the same across real fonts. 1.0 = seeds vary as much
    as fonts; a collapsed model that draws one weight for every seed is near 0.
    """
    drawn_std = np.nanmean(np.nanstd(drawn_values, axis=0, ddof=1))
    real_std = np.nanmean(np.nanstd(real_values, axis=0, ddof=1))
    return float(drawn_std / real_std)


def style_consistency(drawn_weight: np.ndarray, drawn_slant: np.ndarray,
                      real_weight: np.ndarray, real_slant: np.ndarray) -> dict:
    """How much one style varies across its letters, relative to how much one real font does.

    Inputs [n_styles or n_fonts, n_letters] with the same letters in the same order. Each letter's
    values are first related to that letter's mean over real fonts (a W is measured heavier and an N
    more sheared than an O in any font, which is not inconsistency). Weight: coefficient of variation
    (std / mean) of weight / real-letter-mean weight across the letters of a style. Slant: standard
    deviation of slant - real-letter-mean slant (slants sit around 0, where a CV means nothing).
    Ratios near 1 = as consistent as real fonts; above 1 = letters of one style disagree.
    """
    weight_norm = np.nanmean(real_weight, axis=0)
    slant_norm = np.nanmean(real_slant, axis=0)

    def weight_cv(values):
        relative = values / weight_norm
        return np.nanstd(relative, axis=1) / np.nanmean(relative, axis=1)

    def slant_sd(values):
        return np.nanstd(values - slant_norm, axis=1)

    drawn_cv, real_cv = float(np.nanmean(weight_cv(drawn_weight))), float(np.nanmean(weight_cv(real_weight)))
    drawn_sd, real_sd = float(np.nanmean(slant_sd(drawn_slant))), float(np.nanmean(slant_sd(real_slant)))
    return {"weight_cv": drawn_cv, "weight_cv_real": real_cv, "weight_cv_ratio": drawn_cv / real_cv,
            "slant_sd": drawn_sd, "slant_sd_real": real_sd, "slant_sd_ratio": drawn_sd / real_sd}


def real_font_ranges(real: np.ndarray, n: int, draws: int = 200, seed: int = 0) -> dict:
    """What n *real* fonts picked at random score on diversity and the spreads: 5th, 50th and 95th percentiles.

    With n = 12 seeds a standard deviation is itself uncertain (about 20 %), so a ratio of 0.8 can be
    a real-looking sample or a narrow one; this range says which. ``real`` [n_fonts, n_letters, 28, 28].
    """
    rng = np.random.default_rng(seed)
    flat = [_flat(blur(real[:, i])) for i in range(real.shape[1])]
    fonts_l1 = np.mean([pdist(f, "cityblock").mean() / f.shape[1] for f in flat])
    weight, shear = stroke_weight(real), slant(real)
    out: dict[str, list[float]] = {"diversity": [], "weight_spread": [], "slant_spread": []}
    for _ in range(draws):
        pick = rng.choice(len(real), size=min(n, len(real)), replace=False)
        out["diversity"].append(np.mean([pdist(f[pick], "cityblock").mean() / f.shape[1] for f in flat]) / fonts_l1)
        out["weight_spread"].append(spread_ratio(weight[pick], weight))
        out["slant_spread"].append(spread_ratio(shear[pick], shear))
    return {k: [float(q) for q in np.percentile(v, [5, 50, 95])] for k, v in out.items()}


# ----------------------------------------------------------------------------- legibility, Frechet distance


def legibility(probabilities: np.ndarray, asked: np.ndarray) -> float:
    """Share of glyphs the judge reads as the letter that was asked for (probabilities [n, 26], asked [n])."""
    return float((np.asarray(probabilities).argmax(1) == np.asarray(asked)).mean())


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets [n, f] (the FID formula).

    In the judge's feature space it compares whole distributions of glyphs (shape and variety at once),
    which a per-glyph score cannot. Small samples bias it upwards, so compare numbers of equal n.
    """
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mean_a, mean_b = a.mean(0), b.mean(0)
    # a little ridge: with fewer glyphs than features (or dead ReLU units) a covariance is singular
    ridge = 1e-6 * np.eye(a.shape[1])
    cov_a, cov_b = np.cov(a, rowvar=False) + ridge, np.cov(b, rowvar=False) + ridge
    root = np.real(linalg.sqrtm(cov_a @ cov_b))
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * root))


# ----------------------------------------------------------------------------- cleanliness


def edge_band(crops: np.ndarray) -> np.ndarray:
    """Boolean masks [..., 28, 28] of the pixels within one pixel of the ink outline (ink >= 0.5)."""
    crops = np.asarray(crops, np.float32)
    flat = crops.reshape(-1, *crops.shape[-2:]) >= 0.5
    cross = ndimage.generate_binary_structure(2, 1)
    bands = [ndimage.binary_dilation(m, cross) & ~ndimage.binary_erosion(m, cross) for m in flat]
    return np.stack(bands).reshape(crops.shape) if bands else np.zeros(crops.shape, bool)


def edge_mid_gray_share(crops: np.ndarray) -> float:
    """Share of edge-band pixels that are mid-gray (MID_GRAY): about one per outline pixel for a crisp
    anti-aliased glyph, many more for a blurred one (its outline is a wide ramp)."""
    crops = np.asarray(crops, np.float32)
    band = edge_band(crops)
    gray = (crops >= MID_GRAY[0]) & (crops <= MID_GRAY[1])
    return float((band & gray).sum() / max(1, band.sum()))


def speck_counts(crops: np.ndarray) -> np.ndarray:
    """Number of small detached ink pieces per crop [n, 28, 28] -> [n].

    Pieces are 8-connected components of pixels >= INK_THRESHOLD; a speck is one under SPECK_MAX_PIXELS
    pixels and under SPECK_MAX_SHARE of the glyph's ink (a real dot or serif fragment of a capital is
    rare; GAN noise leaves many).
    """
    counts = []
    eight = np.ones((3, 3), bool)
    for crop in np.asarray(crops, np.float32).reshape(-1, CROP_SIZE, CROP_SIZE):
        labels, n = ndimage.label(crop >= INK_THRESHOLD, structure=eight)
        if n == 0:
            counts.append(0)
            continue
        sizes = np.bincount(labels.ravel())[1:]
        limit = min(SPECK_MAX_PIXELS, SPECK_MAX_SHARE * sizes.sum())
        counts.append(int((sizes < limit).sum()))
    return np.asarray(counts, np.int64)


def cleanliness(drawn: np.ndarray, real: np.ndarray) -> dict:
    """Blur and speckle of drawn crops against real ones (any shapes [..., 28, 28]).

    mid_gray_ratio = edge mid-gray share drawn / real (1.0 = as crisp as real glyphs, > 1 blurred);
    specks per glyph, drawn and real (real capitals have almost none).
    """
    drawn_gray, real_gray = edge_mid_gray_share(drawn), edge_mid_gray_share(real)
    return {"mid_gray_share": drawn_gray, "mid_gray_share_real": real_gray,
            "mid_gray_ratio": drawn_gray / real_gray,
            "specks_per_glyph": float(speck_counts(drawn).mean()),
            "specks_per_glyph_real": float(speck_counts(real).mean())}


# ----------------------------------------------------------------------------- few-shot retrieval


def retrieval(drawn: np.ndarray, real: np.ndarray) -> dict:
    """Few-shot retrieval: is each drawn glyph nearest (blurred L1) to its own font's real glyph?

    ``drawn`` [n_fonts, n_letters, 28, 28]: font f's letters drawn from a style encoded from f's
    examples (letters not among the examples); ``real`` [n_fonts, n_letters, 28, 28]: the true glyphs
    of the same fonts and letters. A hit is a drawn glyph nearer to its own font's glyph of that letter
    than to any other font's (chance 1 / n_fonts). Also the mean blurred L1 to the true glyph.
    """
    n_fonts, n_letters = drawn.shape[:2]
    drawn_blur, real_blur = blur(drawn), blur(real)
    hits = np.zeros((n_fonts, n_letters), bool)
    for letter in range(n_letters):
        distances = cdist(_flat(drawn_blur[:, letter]), _flat(real_blur[:, letter]), "cityblock")
        hits[:, letter] = distances.argmin(1) == np.arange(n_fonts)
    true_l1 = blurred_l1(drawn.reshape(-1, CROP_SIZE, CROP_SIZE), real.reshape(-1, CROP_SIZE, CROP_SIZE))
    return {"retrieval": float(hits.mean()), "chance": 1.0 / n_fonts, "n_fonts": int(n_fonts),
            "retrieval_per_font": hits.mean(1).tolist(), "l1_to_true": float(true_l1.mean())}


def nearest_fonts(examples: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """For each font's example crops [n, k, 28, 28], the candidate font [m, k, 28, 28] whose glyphs of the
    same letters are nearest in mean blurred L1 -> indices [n]. The baseline a style model must beat:
    copy the most similar font it was trained on."""
    a = _flat(blur(examples).reshape(len(examples), -1))
    b = _flat(blur(candidates).reshape(len(candidates), -1))
    return cdist(a, b, "cityblock").argmin(1)


def distinct_fonts(crops: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` mutually distinct fonts among crops [n_fonts, n_letters, 28, 28], by farthest-point
    sampling in mean blurred L1 (starting from the font nearest the average glyphs).

    A family's siblings (Gillius ADF and Gillius ADF No2, a Light and a Regular) differ in a few pixels;
    retrieval among them tests pixel-exact copying more than style. Retrieval among distinct fonts asks
    what the issue asks (is the drawn glyph recognisably this font's, against other fonts).
    """
    flat = _flat(blur(crops).reshape(len(crops), -1))
    n = min(n, len(flat))
    chosen = [int(np.abs(flat - flat.mean(0)).sum(1).argmin())]
    nearest = cdist(flat, flat[chosen], "cityblock")[:, 0]
    while len(chosen) < n:
        chosen.append(int(nearest.argmax()))
        nearest = np.minimum(nearest, cdist(flat, flat[chosen[-1:]], "cityblock")[:, 0])
    return np.asarray(sorted(chosen))
