"""Measurements of a trained drum VAE (DESIGN section 5), numpy + scikit-learn.

Everything here takes plain arrays or a drum_controls.DrumModel, so the same
numbers can be computed for the torch model and, later, the ONNX one. The
latent-health metrics answer "is every dimension alive?" three ways, because
free bits can hold a dimension's KL up without it carrying information:
KL per dimension (collapsed if the mean is < 0.1 nats), active units (the
posterior mean moves with the input: Cov_x E[z|x] > 0.01) and mutual
information I(x; z) under the aggregate posterior.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score

from edgegen.runtime import drum_controls
from edgegen.runtime.drum_spec import STYLES, TIME_KEEPERS

COLLAPSE_KL = 0.1  # nats: a dimension whose mean KL is below this is collapsed
ACTIVE_COV = 0.01  # a dimension is active when its posterior mean varies more than this over inputs


def gaussian_kl_np(mu_q: np.ndarray, logvar_q: np.ndarray, mu_p: np.ndarray, logvar_p: np.ndarray) -> np.ndarray:
    """Elementwise KL(N(mu_q, var_q) || N(mu_p, var_p))."""
    return 0.5 * (logvar_p - logvar_q + (np.exp(logvar_q) + (mu_q - mu_p) ** 2) / np.exp(logvar_p) - 1.0)


def kl_per_dim(mu_q: np.ndarray, logvar_q: np.ndarray, mu_p: np.ndarray | float = 0.0,
               logvar_p: np.ndarray | float = 0.0) -> np.ndarray:
    """Mean over bars of each dimension's KL [D]; priors broadcast (per-bar [N, D] or shared)."""
    mu_p = np.broadcast_to(mu_p, np.shape(mu_q))
    logvar_p = np.broadcast_to(logvar_p, np.shape(mu_q))
    return gaussian_kl_np(mu_q, logvar_q, mu_p, logvar_p).mean(axis=0)


def collapsed_dims(kl: np.ndarray, threshold: float = COLLAPSE_KL) -> int:
    """How many dimensions carry a mean KL below ``threshold``."""
    return int((np.asarray(kl) < threshold).sum())


def active_units(mu: np.ndarray, threshold: float = ACTIVE_COV) -> int:
    """Dimensions whose posterior mean varies across inputs: Var_x E[z_i | x] > threshold."""
    return int((np.var(mu, axis=0) > threshold).sum())


def mutual_information(mu: np.ndarray, logvar: np.ndarray, rng: np.random.Generator | None = None) -> float:
    """I(x; z) in nats, estimated as E_x E_q(z|x)[log q(z|x) - log q(z)].

    q(z) is the aggregate posterior, the mixture of the N posteriors given; one
    sample z per bar (the estimator of Hoffman & Johnson 2016, as in He et al. 2019).
    It is at most log N.
    """
    rng = rng or np.random.default_rng(0)
    n, d = mu.shape
    std = np.exp(0.5 * logvar)
    z = mu + std * rng.standard_normal(mu.shape)  # [N, D]
    log_norm = -0.5 * d * np.log(2 * np.pi)
    log_q_own = log_norm - 0.5 * (logvar + ((z - mu) / std) ** 2).sum(1)  # [N]
    # log q(z_i | x_j) for every pair, in chunks to bound memory.
    log_q_agg = np.empty(n)
    for start in range(0, n, 256):
        zi = z[start:start + 256, None, :]  # [B, 1, D]
        lp = log_norm - 0.5 * (logvar[None] + ((zi - mu[None]) / std[None]) ** 2).sum(-1)  # [B, N]
        top = lp.max(1, keepdims=True)
        log_q_agg[start:start + 256] = (top[:, 0] + np.log(np.exp(lp - top).sum(1))) - np.log(n)
    return float((log_q_own - log_q_agg).mean())


def probe_accuracy(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray) -> float:
    """Balanced accuracy of a linear (logistic) probe from latents to style, fitted on train bars."""
    probe = LogisticRegression(max_iter=2000, class_weight="balanced")
    probe.fit(z_train, y_train)
    return float(balanced_accuracy_score(y_test, probe.predict(z_test)))


def style_variance(z: np.ndarray, styles: np.ndarray) -> dict[str, float]:
    """Within-style and between-style variance (traces) and their ratio as a separation score."""
    groups = [z[styles == s] for s in np.unique(styles)]
    weights = np.array([len(g) for g in groups], dtype=np.float64) / len(z)
    within = float(sum(w * g.var(axis=0).sum() for w, g in zip(weights, groups)))
    means = np.stack([g.mean(axis=0) for g in groups])
    between = float((weights[:, None] * (means - z.mean(axis=0)) ** 2).sum())
    return {"within": within, "between": between, "separation": between / max(within, 1e-12)}


def nearest_bar_copy(train: np.ndarray, query: np.ndarray) -> np.ndarray:
    """For each query bar, the training bar with the smallest Hamming distance [N, 16, 9]."""
    t = train.reshape(len(train), -1).astype(np.float32)
    out = np.empty((len(query), t.shape[1]), dtype=bool)
    for start in range(0, len(query), 512):
        q = query[start:start + 512].reshape(-1, t.shape[1]).astype(np.float32)
        dist = q.sum(1)[:, None] + t.sum(1)[None] - 2 * q @ t.T
        out[start:start + 512] = t[dist.argmin(1)] > 0
    return out.reshape(query.shape)


def copy_share(samples: np.ndarray, train: np.ndarray) -> float:
    """Share of sampled bars identical to some training bar."""
    known = {bytes(b) for b in np.packbits(train.reshape(len(train), -1), axis=1)}
    packed = np.packbits(samples.reshape(len(samples), -1).astype(bool), axis=1)
    return float(np.mean([bytes(b) in known for b in packed])) if len(samples) else 0.0


def rhythm_kept(source: np.ndarray, output: np.ndarray) -> float:
    """Share of the source's kick and snare onsets that are still there in the output (pooled)."""
    kept, total = drum_controls.kick_snare_onsets(source, output)
    return float(kept.sum() / max(total.sum(), 1))


def style_control(model: drum_controls.DrumModel, classify, n_per_style: int, seed: int,
                  **sample_options: Any) -> dict[str, Any]:
    """Share of sampled bars the classifier assigns to the requested style, per style and mean.

    ``classify`` maps hits [N, 16, 9] -> style indices [N]. The same samples (a Groove,
    ``n_per_style`` bars of each style in STYLES order) give the novelty and realism checks,
    so they are returned too.
    """
    rng = np.random.default_rng(seed)
    per_style, samples = {}, []
    for s, style in enumerate(model.styles):
        bars = drum_controls.sample_style(model, style, n_per_style, rng, **sample_options)
        per_style[style] = float((classify(bars.hits) == s).mean())
        samples.append(bars)
    return {"accuracy": float(np.mean(list(per_style.values()))), "per_style": per_style,
            "samples": drum_controls.Groove.concat(samples)}


def transfer_scores(model: drum_controls.DrumModel, classify, bars: drum_controls.Groove, styles: np.ndarray,
                    targets: Sequence[str] = STYLES, **options: Any) -> dict[str, Any]:
    """Transfer every source bar to every other style: target-style share and kick/snare kept."""
    per_target, kept_src, kept_out = {}, [], []
    for t, target in enumerate(targets):
        source = bars[np.flatnonzero(styles != t)]
        if len(source) == 0:
            continue
        out = drum_controls.transfer(model, source, target, **options)
        per_target[target] = float((classify(out.hits) == t).mean())
        kept_src.append(source.hits)
        kept_out.append(out.hits)
    return {"target_accuracy": float(np.mean(list(per_target.values()))), "per_target": per_target,
            "rhythm_kept": rhythm_kept(np.concatenate(kept_src), np.concatenate(kept_out))}


def fitted_style_priors(mu_high: np.ndarray, logvar_high: np.ndarray, styles: np.ndarray,
                        n_styles: int = len(STYLES)) -> tuple[np.ndarray, np.ndarray]:
    """Gaussians fitted to each style's aggregate posterior of z_high (the unsupervised baseline).

    Variance = variance of the posterior means + mean posterior variance (law of total variance).
    """
    mus, logvars = [], []
    for s in range(n_styles):
        m, lv = mu_high[styles == s], logvar_high[styles == s]
        mus.append(m.mean(0))
        logvars.append(np.log(m.var(0) + np.exp(lv).mean(0)))
    return np.stack(mus).astype(np.float32), np.stack(logvars).astype(np.float32)


def latent_report(model: drum_controls.DrumModel, hvo: np.ndarray, styles: np.ndarray,
                  style_prior: bool = True) -> dict[str, Any]:
    """KL per dimension (both levels), collapsed dims, active units and MI on the given HVO bars [N, 16, 27]."""
    mu_h, lv_h, mu_l, lv_l = model.encode(hvo.astype(np.float32))
    rng = np.random.default_rng(0)
    z_high = mu_h + np.exp(0.5 * lv_h) * rng.standard_normal(mu_h.shape)
    prior_mu_l, prior_lv_l = model.prior_low(z_high.astype(np.float32))
    if style_prior:
        prior_mu_h, prior_lv_h = model.style_prior_mu[styles], model.style_prior_logvar[styles]
    else:
        prior_mu_h, prior_lv_h = 0.0, 0.0
    kl_high = kl_per_dim(mu_h, lv_h, prior_mu_h, prior_lv_h)
    kl_low = kl_per_dim(mu_l, lv_l, prior_mu_l, prior_lv_l)
    return {
        "kl_per_dim": {"z_high": kl_high.tolist(), "z_low": kl_low.tolist()},
        "collapsed_dims": {"z_high": collapsed_dims(kl_high), "z_low": collapsed_dims(kl_low)},
        "active_units": {"z_high": active_units(mu_h), "z_low": active_units(mu_l)},
        "mutual_information": {"z_high": mutual_information(mu_h, lv_h), "z_low": mutual_information(mu_l, lv_l)},
        "posterior_mean_variance": {"z_high": np.var(mu_h, 0).tolist(), "z_low": np.var(mu_l, 0).tolist()},
    }


# ----------------------------------------------------------------------------- realism (DESIGN section 5)

TIME_KEEPER_MIN_HITS = 4  # a bar keeps time when its closed hat, open hat and ride play at least this often
MS_PER_STEP_AT_120 = 125.0  # one 16th at 120 BPM
FEATURES = ("hits_per_bar", "time_keeper_hits", "velocity_spread", "offset_spread_ms", "mean_velocity")


def bar_features(hits: np.ndarray, velocities: np.ndarray, offsets: np.ndarray) -> dict[str, np.ndarray]:
    """Per-bar features [N] each: hits, time-keeping hits (hats and ride), the standard deviation of the
    velocities of its hits (MIDI units, 0-127) and of its offsets (ms at 120 BPM), and its mean velocity.
    Spreads of bars with fewer than two hits are NaN (no spread to speak of)."""
    hits = np.asarray(hits, bool)
    n = hits.sum(axis=(1, 2))
    count = np.maximum(n, 1)

    def spread(values: np.ndarray) -> np.ndarray:
        mean = (values * hits).sum(axis=(1, 2)) / count
        var = (((values - mean[:, None, None]) ** 2) * hits).sum(axis=(1, 2)) / count
        return np.where(n >= 2, np.sqrt(var), np.nan)

    return {
        "hits_per_bar": n.astype(np.float64),
        "time_keeper_hits": hits[..., list(TIME_KEEPERS)].sum(axis=(1, 2)).astype(np.float64),
        "velocity_spread": 127.0 * spread(np.asarray(velocities, np.float64)),
        "offset_spread_ms": MS_PER_STEP_AT_120 * spread(np.asarray(offsets, np.float64)),
        "mean_velocity": np.where(n > 0, 127.0 * (np.asarray(velocities) * hits).sum(axis=(1, 2)) / count, np.nan),
    }


def voice_mix(hits: np.ndarray) -> np.ndarray:
    """Per-instrument share of all hits [9]."""
    per_instrument = np.asarray(hits, bool).sum(axis=(0, 1)).astype(np.float64)
    return per_instrument / max(per_instrument.sum(), 1.0)


def overlapping_area(real: np.ndarray, generated: np.ndarray, points: int = 400) -> float:
    """Overlapping area of two feature distributions (Yang & Lerch, 2020): the integral of min(p, q) of their
    Gaussian kernel density estimates (Scott's bandwidth), 1 for identical distributions, 0 for disjoint ones."""
    from scipy.stats import gaussian_kde

    real, generated = [np.asarray(a, np.float64) for a in (real, generated)]
    real, generated = real[np.isfinite(real)], generated[np.isfinite(generated)]
    if len(real) < 2 or len(generated) < 2:
        return float("nan")
    jitter = 1e-3 * max(np.ptp(np.concatenate([real, generated])), 1.0)  # a constant feature has no KDE
    spread = np.random.default_rng(0)
    real = real + jitter * spread.standard_normal(len(real))
    generated = generated + jitter * spread.standard_normal(len(generated))
    p_kde, q_kde = gaussian_kde(real), gaussian_kde(generated)
    pad = 5 * np.sqrt(max(p_kde.covariance[0, 0], q_kde.covariance[0, 0]))  # the kernels' tails, all of them
    x = np.linspace(min(real.min(), generated.min()) - pad, max(real.max(), generated.max()) + pad, points)
    p, q = p_kde(x), q_kde(x)
    return float(np.trapezoid(np.minimum(p, q), x))


def realism(real: tuple[np.ndarray, np.ndarray, np.ndarray],
            generated: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict[str, Any]:
    """Generated bars against real bars of one style, each (hits, velocities, offsets) [N, 16, 9]:
    means of the bar features, their ratios (generated / real), the share of bars with a
    time-keeping voice, voice-mix L1 and the overlapping area of every feature's distribution."""
    fr, fg = bar_features(*real), bar_features(*generated)
    out: dict[str, Any] = {"real": {}, "generated": {}, "ratio": {}, "overlap": {}}
    for name in FEATURES:
        r, g = float(np.nanmean(fr[name])), float(np.nanmean(fg[name])) if np.isfinite(fg[name]).any() else 0.0
        out["real"][name], out["generated"][name] = r, g
        out["ratio"][name] = g / r if r else float("nan")
        out["overlap"][name] = overlapping_area(fr[name], fg[name])
    share_r = float((fr["time_keeper_hits"] >= TIME_KEEPER_MIN_HITS).mean())
    share_g = float((fg["time_keeper_hits"] >= TIME_KEEPER_MIN_HITS).mean())
    out["real"]["time_keeper_share"], out["generated"]["time_keeper_share"] = share_r, share_g
    out["ratio"]["time_keeper_share"] = share_g / share_r if share_r else float("nan")
    out["voice_mix_l1"] = float(np.abs(voice_mix(real[0]) - voice_mix(generated[0])).sum())
    out["voice_mix"] = {"real": voice_mix(real[0]).round(4).tolist(), "generated": voice_mix(generated[0]).round(4).tolist()}
    return out
