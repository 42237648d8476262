"""Figures for reports/drums: piano rolls (velocity as shade, offsets as shifts), real beside generated,
long rolls of consecutive bars, feature distributions, interpolation and transfer strips, t-SNE, KL bars.

Every function takes arrays and a path and writes one PNG atomically, so the
analysis decides what to show and this module only decides how it looks.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402

from matplotlib.patches import Rectangle  # noqa: E402

from edgegen.runtime.drum_spec import INSTRUMENTS, STEPS, STYLES  # noqa: E402
from edgegen.runtime.files import atomic_output  # noqa: E402

STYLE_COLOURS = ("tab:red", "tab:blue", "tab:orange", "tab:green", "tab:purple")


def _save(fig: plt.Figure, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, bbox_inches="tight")
    plt.close(fig)


def _bar_arrays(bar) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hits, velocities, offsets) [16, 9] of one bar: a one-bar Groove, or a plain grid (velocity 1, on the grid)."""
    if hasattr(bar, "hits"):
        return bar.hits.reshape(STEPS, -1), bar.velocities.reshape(STEPS, -1), bar.offsets.reshape(STEPS, -1)
    hits = np.asarray(bar, bool).reshape(STEPS, -1)
    return hits, hits.astype(float), np.zeros(hits.shape)


def _draw_hits(ax: plt.Axes, hits: np.ndarray, velocities: np.ndarray, offsets: np.ndarray, start: float = 0.0) -> None:
    """Each hit as a box at its step plus its offset, darker the louder (velocity 0 pale, 1 black)."""
    cmap = plt.get_cmap("Greys")
    for step, inst in zip(*np.nonzero(hits)):
        shade = 0.25 + 0.75 * float(np.clip(velocities[step, inst], 0, 1))
        ax.add_patch(Rectangle((start + step + offsets[step, inst] - 0.45, inst - 0.42), 0.9, 0.84,
                               facecolor=cmap(shade), edgecolor="none"))


def _roll(ax: plt.Axes, bar, title: str = "", labels: bool = False) -> None:
    """One bar as a piano roll: instruments bottom (kick) to top (clap), steps left to right; each hit
    shaded by its velocity and shifted by its offset from the grid."""
    hits, velocities, offsets = _bar_arrays(bar)
    ax.set_xlim(-0.5, STEPS - 0.5)
    ax.set_ylim(-0.5, len(INSTRUMENTS) - 0.5)
    _draw_hits(ax, hits, velocities, offsets)
    ax.set_xticks([0, 4, 8, 12])
    ax.set_xticklabels([])
    ax.set_yticks(range(len(INSTRUMENTS)) if labels else [])
    if labels:
        ax.set_yticklabels(INSTRUMENTS, fontsize=6)
    ax.grid(False)
    for x in (3.5, 7.5, 11.5):
        ax.axvline(x, color="tab:gray", lw=0.4)
    if title:
        ax.set_title(title, fontsize=7)


def roll_sheet(rows: dict[str, object], path: str | Path, title: str, per_row: int = 8) -> None:
    """A contact sheet: one row of bars per key (e.g. per style); values are Grooves or grids [n, 16, 9]."""
    fig, axes = plt.subplots(len(rows), per_row, figsize=(per_row * 1.3, len(rows) * 1.0), squeeze=False)
    for r, (name, bars) in enumerate(rows.items()):
        for c in range(per_row):
            ax = axes[r, c]
            if c < len(bars):
                _roll(ax, bars[c], labels=(c == 0))
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


def real_beside_generated(real: dict[str, object], generated: dict[str, object], path: str | Path, title: str,
                          per_side: int = 4) -> None:
    """Per style, ``per_side`` real bars then ``per_side`` generated ones (Grooves): velocity as shade, offsets as shifts."""
    columns = 2 * per_side
    fig, axes = plt.subplots(len(real), columns, figsize=(columns * 1.4, len(real) * 1.05), squeeze=False)
    for r, style in enumerate(real):
        for c in range(columns):
            bars, index = (real[style], c) if c < per_side else (generated[style], c - per_side)
            head = ("real" if c < per_side else "generated") if r == 0 and c % per_side == 0 else ""
            if index < len(bars):
                _roll(axes[r, c], bars[index], title=head, labels=(c == 0))
            else:
                axes[r, c].axis("off")
        axes[r, 0].set_ylabel(style, fontsize=8)
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


def long_roll(grooves: dict[str, object], path: str | Path, title: str) -> None:
    """Consecutive bars of each groove on one long roll (a row per groove), the way a drummer reads a chart."""
    fig, axes = plt.subplots(len(grooves), 1, figsize=(16, 1.6 * len(grooves)), squeeze=False)
    for ax, (name, groove) in zip(axes[:, 0], grooves.items()):
        n = len(groove)
        for bar in range(n):
            hits, velocities, offsets = _bar_arrays(groove[bar])
            _draw_hits(ax, hits, velocities, offsets, start=bar * STEPS)
        ax.set_xlim(-0.5, n * STEPS - 0.5)
        ax.set_ylim(-0.5, len(INSTRUMENTS) - 0.5)
        ax.set_yticks(range(len(INSTRUMENTS)))
        ax.set_yticklabels(INSTRUMENTS, fontsize=6)
        ax.set_xticks(np.arange(0, n * STEPS, 4))
        ax.set_xticklabels([str(b // 4 % 4 + 1) for b in range(0, n * STEPS, 4)], fontsize=5)
        for x in np.arange(3.5, n * STEPS, 4):
            ax.axvline(x, color="tab:gray", lw=0.3 if (x + 0.5) % STEPS else 1.2)
        ax.set_title(name, fontsize=8, loc="left")
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


def feature_distributions(features: dict[str, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]],
                          names: Sequence[str], path: str | Path, overlap: dict[str, dict[str, float]]) -> None:
    """Per style (rows) and feature (columns): histograms of real and generated bars' features, with their overlap."""
    fig, axes = plt.subplots(len(features), len(names), figsize=(2.6 * len(names), 1.7 * len(features)), squeeze=False)
    for r, (style, (real, generated)) in enumerate(features.items()):
        for c, name in enumerate(names):
            ax = axes[r, c]
            values = [a[np.isfinite(a)] for a in (real[name], generated[name])]
            both = np.concatenate(values)
            bins = np.linspace(both.min(), both.max() + 1e-9, 25) if len(both) else 10
            ax.hist(values[0], bins=bins, density=True, alpha=0.5, color="tab:gray", label="real")
            ax.hist(values[1], bins=bins, density=True, alpha=0.5, color="tab:blue", label="generated")
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            ax.set_title(f"{name} (overlap {overlap[style][name]:.2f})" if r == 0 else
                         f"overlap {overlap[style][name]:.2f}", fontsize=7)
        axes[r, 0].set_ylabel(style, fontsize=8)
    axes[0, 0].legend(fontsize=6)
    _save(fig, path)


def strip(rows: dict[str, np.ndarray], path: str | Path, title: str, column_titles: Sequence[str] = ()) -> None:
    """Rows of bars with shared column titles (interpolation steps, transfer targets)."""
    per_row = max(len(b) for b in rows.values())
    fig, axes = plt.subplots(len(rows), per_row, figsize=(per_row * 1.3, len(rows) * 1.05), squeeze=False)
    for r, (name, bars) in enumerate(rows.items()):
        for c in range(per_row):
            head = column_titles[c] if (r == 0 and c < len(column_titles)) else ""
            if c < len(bars):
                _roll(axes[r, c], bars[c], title=head, labels=(c == 0))
            else:
                axes[r, c].axis("off")
        axes[r, 0].set_ylabel(name, fontsize=7)
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


def tsne_plot(latents: dict[str, np.ndarray], styles: np.ndarray, path: str | Path, seed: int = 0) -> None:
    """t-SNE of each latent (z_high, z_low) coloured by style."""
    fig, axes = plt.subplots(1, len(latents), figsize=(5 * len(latents), 4.2), squeeze=False)
    for ax, (name, z) in zip(axes[0], latents.items()):
        xy = TSNE(n_components=2, perplexity=min(30, max(5, len(z) // 4)), init="pca",
                  random_state=seed).fit_transform(z)
        for s, style in enumerate(STYLES):
            keep = styles == s
            if keep.any():
                ax.scatter(xy[keep, 0], xy[keep, 1], s=5, alpha=0.7, color=STYLE_COLOURS[s], label=style)
        ax.set_title(f"t-SNE of {name} posterior means", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].legend(fontsize=7, markerscale=2)
    _save(fig, path)


def kl_bars(kl: dict[str, Sequence[float]], path: str | Path, threshold: float) -> None:
    """Mean KL per latent dimension for each level, with the collapse threshold."""
    fig, axes = plt.subplots(1, len(kl), figsize=(4 * len(kl), 3), squeeze=False)
    for ax, (name, values) in zip(axes[0], kl.items()):
        ax.bar(range(len(values)), values, color="tab:blue")
        ax.axhline(threshold, color="tab:red", lw=1, ls="--", label=f"collapse threshold {threshold}")
        ax.set_title(f"KL per dimension, {name}", fontsize=9)
        ax.set_xlabel("dimension")
        ax.set_ylabel("nats")
    axes[0, 0].legend(fontsize=7)
    _save(fig, path)
