"""Figures for reports/drums: piano rolls, interpolation and transfer strips, t-SNE, KL bars.

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

from edgegen.runtime.drum_spec import INSTRUMENTS, STYLES  # noqa: E402
from edgegen.runtime.files import atomic_output  # noqa: E402

STYLE_COLOURS = ("tab:red", "tab:blue", "tab:orange", "tab:green", "tab:purple")


def _save(fig: plt.Figure, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, bbox_inches="tight")
    plt.close(fig)


def _roll(ax: plt.Axes, grid: np.ndarray, title: str = "", labels: bool = False) -> None:
    """One bar as a piano roll: instruments bottom (kick) to top (clap), steps left to right."""
    ax.imshow(np.asarray(grid, float).T, origin="lower", cmap="Greys", vmin=0, vmax=1, aspect="auto",
              interpolation="nearest")
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


def roll_sheet(rows: dict[str, np.ndarray], path: str | Path, title: str, per_row: int = 8) -> None:
    """A contact sheet: one row of bars per key (e.g. per style)."""
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
