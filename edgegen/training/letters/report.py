"""Figures and results.json of the letter study (matplotlib, Agg backend, PNG files in reports/letters/).

Everything here reads finished checkpoints and logs, so `report` can be re-run without training.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from edgegen.runtime.files import atomic_write_text  # noqa: E402
from edgegen.training.common import write_json  # noqa: E402
from edgegen.training.letters.gan import DEFAULT_CONDITIONAL, N_CLASSES, VARIANTS, load_generator  # noqa: E402
from edgegen.training.letters.classifier import load_classifier, predict_proba  # noqa: E402
from edgegen.training.letters.data import LETTERS  # noqa: E402
from edgegen.training.letters.train_gan import eval_inputs, generate  # noqa: E402

TIMING_FILE = "timing.json"


def _tile(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """[rows*cols, 28, 28] (NaN = empty cell) -> one [rows*28, cols*28] image with 1-pixel gaps."""
    grid = np.full((rows * 29 - 1, cols * 29 - 1), 0.35, np.float32)
    for i, img in enumerate(images[:rows * cols]):
        r, c = divmod(i, cols)
        grid[r * 29:r * 29 + 28, c * 29:c * 29 + 28] = img if not np.isnan(img).any() else 0.15
    return grid


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _show_grid(ax, grid: np.ndarray, title: str, col_labels: str | None = None) -> None:
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_yticks([])
    if col_labels:
        ax.set_xticks([i * 29 + 13.5 for i in range(len(col_labels))], list(col_labels), fontsize=7)
    else:
        ax.set_xticks([])


def contact_sheet(arrays: dict[str, np.ndarray], path: Path) -> None:
    """One training image per (font, letter): rows are fonts, columns A-Z."""
    x, y, fonts = arrays["x_train"], arrays["y_train"], arrays["font_train"]
    n_fonts = int(fonts.max()) + 1
    cells = [x[np.flatnonzero((fonts == f) & (y == l))[0]] for f in range(n_fonts) for l in range(26)]
    fig, ax = plt.subplots(figsize=(13, 0.55 * n_fonts + 0.8))
    _show_grid(ax, _tile(np.stack(cells), n_fonts, 26), f"letter data: {n_fonts} fonts x 26 letters "
               f"({len(y)} train / {len(arrays['y_val'])} validation images)", LETTERS)
    _save(fig, path)


def alphabet_figure(variant: str, generator, conditional: bool, z_dim: int, classifier, path: Path,
                    seeds: int = 6, per_letter: int = 6) -> None:
    """Conditional: A-Z for several seeds. Unconditional: eval samples sorted by predicted letter (gaps = lost letters)."""
    if conditional:
        gen = torch.Generator().manual_seed(7)
        z = torch.randn(seeds, z_dim, generator=gen).repeat_interleave(26, 0)
        onehot = F.one_hot(torch.arange(26).repeat(seeds), N_CLASSES).float()
        grid = _tile(generate(generator, z, onehot), seeds, 26)
        title = f"{variant}: A-Z for {seeds} latent codes (one row each)"
    else:
        z, _, _ = eval_inputs_for(z_dim, 1040)
        images = generate(generator, z, None)
        probs = predict_proba(classifier, images)
        pred, conf = probs.argmax(1), probs.max(1)
        cells = np.full((per_letter, 26, 28, 28), np.nan, np.float32)
        for letter in range(26):
            idx = np.flatnonzero(pred == letter)
            idx = idx[np.argsort(-conf[idx])][:per_letter]
            cells[:len(idx), letter] = images[idx]
        grid = _tile(cells.reshape(-1, 28, 28), per_letter, 26)
        title = f"{variant}: 1,040 samples sorted by predicted letter (grey = letter never drawn)"
    fig, ax = plt.subplots(figsize=(13, 0.55 * (seeds if conditional else per_letter) + 0.8))
    _show_grid(ax, grid, title, LETTERS)
    _save(fig, path)


def eval_inputs_for(z_dim: int, n: int):
    from edgegen.training.letters.gan import GanConfig
    return eval_inputs(GanConfig(z_dim=z_dim), n)


def interpolation_figure(variant: str, generator, conditional: bool, z_dim: int, path: Path,
                         rows: int = 4, steps: int = 12) -> None:
    """Straight lines between random latent codes (conditional: fixed letter per row, A, G, Q, X...)."""
    gen = torch.Generator().manual_seed(11)
    a, b = torch.randn(rows, z_dim, generator=gen), torch.randn(rows, z_dim, generator=gen)
    t = torch.linspace(0, 1, steps).view(1, steps, 1)
    z = (a.unsqueeze(1) * (1 - t) + b.unsqueeze(1) * t).reshape(-1, z_dim)
    letters = [LETTERS.index(c) for c in "AGQX"[:rows]] + [0] * max(0, rows - 4)
    onehot = F.one_hot(torch.tensor(letters).repeat_interleave(steps), N_CLASSES).float() if conditional else None
    fig, ax = plt.subplots(figsize=(0.55 * steps + 0.6, 0.55 * rows + 0.8))
    _show_grid(ax, _tile(generate(generator, z, onehot), rows, steps),
               f"{variant}: latent interpolation" + (" (rows: A, G, Q, X)" if conditional else ""))
    _save(fig, path)


def style_consistency_figure(variant: str, generator, z_dim: int, path: Path, rows: int = 8) -> None:
    """One latent code across all 26 letters per row: a consistent style means z carries the font, the label the letter."""
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(rows, z_dim, generator=gen).repeat_interleave(26, 0)
    onehot = F.one_hot(torch.arange(26).repeat(rows), N_CLASSES).float()
    fig, ax = plt.subplots(figsize=(13, 0.55 * rows + 0.8))
    _show_grid(ax, _tile(generate(generator, z, onehot), rows, 26),
               f"{variant}: style consistency, one z per row across A-Z", LETTERS)
    _save(fig, path)


def _epochs_and(log: list[dict], key: str) -> tuple[list[int], list[float]]:
    return [r["epoch"] for r in log], [r[key] for r in log]


def dynamics_figure(variant: str, log: list[dict], path: Path) -> None:
    """Losses, D/G loss ratio, D(x) and D(G(z)), gradient norms, and the eval metrics over epochs."""
    fig, axes = plt.subplots(1, 5, figsize=(20, 3.4))
    e, d = _epochs_and(log, "loss_d")
    _, g = _epochs_and(log, "loss_g")
    axes[0].plot(e, d, marker=".", label="D loss")
    axes[0].plot(e, g, marker=".", label="G loss")
    axes[0].set_title("losses")
    d_arr, g_arr = np.asarray(d), np.asarray(g)
    ratio = np.where(g_arr > 0, d_arr / np.where(g_arr > 0, g_arr, 1.0), np.nan)
    axes[1].plot(e, ratio, marker=".", color="C2")
    # a letter-entropy term can make the G loss negative; the ratio is only meaningful where it is positive
    axes[1].set_title("D loss / G loss" + ("" if np.all(g_arr > 0) else " (where G loss > 0)"))
    for key, name in (("d_real", "D(x)"), ("d_fake", "D(G(z))")):
        axes[2].plot(*_epochs_and(log, key), marker=".", label=name)
    axes[2].set_ylim(0, 1)
    axes[2].set_title("discriminator outputs")
    for key, name in (("grad_norm_d", "|grad D|"), ("grad_norm_g", "|grad G|")):
        axes[3].plot(*_epochs_and(log, key), marker=".", label=name)
    axes[3].set_yscale("log")
    axes[3].set_title("gradient norms")
    evals = [r for r in log if "metrics" in r]
    for key in ("coverage", "kl_uniform", "high_quality", "label_accuracy"):
        values = [r["metrics"][key] for r in evals]
        if values and values[0] is not None:
            axes[4].plot([r["epoch"] for r in evals], values, marker="o", label=key)
    axes[4].axhline(1.0, color="k", lw=0.5, ls=":")
    n = evals[-1]["metrics"].get("n_samples", "?") if evals else "?"
    axes[4].set_title(f"evaluation ({n} samples)")
    for ax in axes:
        ax.set_xlabel("epoch")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(f"{variant}: training dynamics", fontsize=11, y=1.04)
    _save(fig, path)


def coverage_figure(results: dict, path: Path) -> None:
    """Coverage over epochs for every variant on one plot (1.0 and 0.5 reference lines), and beside it the
    KL to uniform, which separates variants that all keep 26 letters but draw them unevenly."""
    fig, (ax, ax_kl) = plt.subplots(1, 2, figsize=(15, 5.5))
    colours = plt.get_cmap("tab20").colors
    for i, (name, r) in enumerate(results["variants"].items()):
        epochs = sorted(int(k) for k in r["coverage_by_epoch"])
        style = dict(marker="o", ms=3, color=colours[i % 20], ls="--" if r["conditional"] else "-", label=name)
        ax.plot(epochs, [r["coverage_by_epoch"][str(k)] for k in epochs], **style)
        ax_kl.plot(epochs, [max(r["kl_uniform_by_epoch"][str(k)], 1e-3) for k in epochs], **style)
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.axhline(0.5, color="r", lw=0.8, ls=":")
    ax.set_ylabel("coverage (letters seen / 26)")
    ax.set_ylim(0, 1.05)
    ax.set_title("mode coverage over training")
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    ax_kl.axhline(0.10, color="k", lw=0.8, ls=":")
    ax_kl.set_yscale("log")
    ax_kl.set_ylabel("KL(letter histogram || uniform), log scale")
    ax_kl.set_title("evenness over training (dotted: 0.10 target)")
    for a in (ax, ax_kl):
        a.set_xlabel("epoch")
    _save(fig, path)


def histogram_figure(results: dict, path: Path) -> None:
    """The final letter histogram (1,040 samples) of every variant; a dashed line marks the uniform count."""
    names = list(results["variants"])
    cols = 3
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(15, 2.4 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        r = results["variants"][name]
        hist = np.asarray(r["final"]["histogram"])
        ax.bar(range(26), hist, color="C0")
        ax.axhline(hist.sum() / 26, color="k", ls="--", lw=0.8)
        ax.set_xticks(range(26), list(LETTERS), fontsize=6)
        ax.set_title(f"{name}: KL {r['final']['kl_uniform']:.3f}, {round(r['final']['coverage'] * 26)}/26",
                     fontsize=9)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.suptitle("predicted-letter histogram of the final samples", fontsize=11)
    fig.tight_layout()
    _save(fig, path)


def _variant_result(ckpt_meta: dict, log: list[dict]) -> dict:
    by_epoch = ckpt_meta["history"]
    final = ckpt_meta["metrics"]
    later = [m["coverage"] for e, m in by_epoch.items() if int(e) >= 10]
    return {
        "conditional": bool(ckpt_meta["config"]["conditional"]),
        "epochs": int(ckpt_meta["epoch"]),
        "train_minutes": round(ckpt_meta["train_seconds"] / 60, 2),
        "seconds_per_epoch": round(float(np.mean([r["seconds"] for r in log])), 2) if log else None,
        "final": {k: final.get(k) for k in ("coverage", "kl_uniform", "high_quality", "label_accuracy",
                                            "letters_seen", "histogram", "n_samples")},
        "min_coverage_from_epoch_10": min(later) if later else None,
        "coverage_by_epoch": {e: m["coverage"] for e, m in by_epoch.items()},
        "kl_uniform_by_epoch": {e: round(m["kl_uniform"], 4) for e, m in by_epoch.items()},
        "high_quality_by_epoch": {e: m["high_quality"] for e, m in by_epoch.items()},
        "label_accuracy_by_epoch": {e: m["label_accuracy"] for e, m in by_epoch.items()},
        "config": ckpt_meta["config"],
    }


def pick_best_unconditional(variants: dict) -> str | None:
    """The stabilised unconditional variant that meets most of the targets, then has the best quality minus unevenness."""
    def key(name):
        r = variants[name]
        f, min10 = r["final"], r["min_coverage_from_epoch_10"] or 0.0
        meets = min10 >= 1.0 and f["coverage"] >= 1.0 and f["kl_uniform"] <= 0.10 and f["high_quality"] >= 0.6
        return (meets, min10, f["coverage"], f["high_quality"] - 2 * f["kl_uniform"])
    candidates = [n for n, r in variants.items() if not r["conditional"] and n != "vanilla"]
    return max(candidates, key=key) if candidates else None


def results_table(results: dict) -> str:
    """A markdown table of results.json for the README."""
    lines = ["| variant | cond. | epochs | minutes | coverage | min cov. from ep. 10 | KL to uniform | high quality | label acc. |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results["variants"].items():
        f = r["final"]
        la = "-" if f["label_accuracy"] is None else f"{f['label_accuracy']:.3f}"
        m10 = "-" if r["min_coverage_from_epoch_10"] is None else f"{round(r['min_coverage_from_epoch_10'] * 26)}/26"
        lines.append(f"| {name} | {'yes' if r['conditional'] else 'no'} | {r['epochs']} | {r['train_minutes']:.1f} | "
                     f"{round(f['coverage'] * 26)}/26 | {m10} | {f['kl_uniform']:.3f} | {f['high_quality']:.2f} | {la} |")
    lines.append("")
    lines.append(f"Classifier validation accuracy {results['classifier_val_accuracy']:.4f}; best unconditional: "
                 f"`{results['best_unconditional']}`; default conditional: `{results['default_conditional']}`; "
                 f"all variants trained in {results['train_minutes_total']} min wall "
                 f"({results.get('jobs', '?')} jobs x {results.get('processes') or 1} processes of 1 thread each).")
    return "\n".join(lines) + "\n"


def write_report(runs: str | Path, reports: str | Path, data_dir: str | Path | None = None,
                 train_minutes_total: float | None = None, all_minutes_total: float | None = None,
                 jobs: int | None = None, processes: int = 1) -> dict:
    """Every figure plus results.json and results.md, from RUNS/<variant>/{checkpoint.pt,log.json}."""
    runs, reports = Path(runs), Path(reports)
    timing_path = runs / TIMING_FILE
    timing = json.loads(timing_path.read_text()) if timing_path.exists() else {}
    if train_minutes_total is not None:
        timing = {"train_minutes_total": round(train_minutes_total, 2), "jobs": jobs, "processes": processes,
                  "all_minutes_total": round(all_minutes_total, 2) if all_minutes_total is not None else None}
        write_json(timing_path, timing)
    classifier, clf_meta = load_classifier(runs / "classifier" / "checkpoint.pt")
    results = {"classifier_val_accuracy": clf_meta["metrics"]["val_accuracy"], "variants": {}}
    for name in VARIANTS:
        ckpt_path = runs / name / "checkpoint.pt"
        if not ckpt_path.exists():
            continue
        generator, meta = load_generator(ckpt_path)
        log_path = runs / name / "log.json"
        log = json.loads(log_path.read_text()) if log_path.exists() else []
        results["variants"][name] = _variant_result(meta, log)
        conditional, z_dim = bool(meta["config"]["conditional"]), int(meta["config"]["z_dim"])
        alphabet_figure(name, generator, conditional, z_dim, classifier, reports / f"alphabet_{name}.png")
        interpolation_figure(name, generator, conditional, z_dim, reports / f"interpolation_{name}.png")
        if log:
            dynamics_figure(name, log, reports / f"dynamics_{name}.png")
        if conditional:
            style_consistency_figure(name, generator, z_dim, reports / f"style_consistency_{name}.png")
    results["best_unconditional"] = pick_best_unconditional(results["variants"])
    results["default_conditional"] = DEFAULT_CONDITIONAL if DEFAULT_CONDITIONAL in results["variants"] else None
    results["train_minutes_total"] = timing.get("train_minutes_total")
    results["all_minutes_total"] = timing.get("all_minutes_total")
    results["jobs"] = timing.get("jobs")
    results["processes"] = timing.get("processes", 1)
    if results["variants"]:
        coverage_figure(results, reports / "coverage.png")
        histogram_figure(results, reports / "histograms.png")
    if data_dir is not None and (Path(data_dir) / "letters.npz").exists():
        with np.load(Path(data_dir) / "letters.npz") as f:
            contact_sheet({k: f[k] for k in f.files}, reports / "contact_sheet.png")
    write_json(reports / "results.json", results)
    atomic_write_text(reports / "results.md", results_table(results))
    return results
