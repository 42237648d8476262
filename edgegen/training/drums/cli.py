"""`python -m edgegen.training.drums {corpus, train, all, report}`: the drum side of `make train-drums`.

- corpus: rebuild edgegen/data/groove_corpus.npz from a Groove MIDI Dataset folder.
- train:  train one registered VAE variant into RUNS/<folder>.
- all:    the final recipe (RUNS/vae), the style classifier (RUNS/style_classifier),
          the ablation (RUNS/ablation/*), in --jobs one-thread processes, then `report`.
- report: measure the trained checkpoints and write REPORTS/results.json, results.md and figures.

`all` reads the committed corpus only (a fresh machine has no GMD folder).
--quick trains tiny versions on a small slice so CI gets every file in about a minute.
Training resumes what a run folder holds (same recipe: continue; more epochs: extend;
another recipe: an error). Under `torchrun --nproc-per-node=N` every model trains on all
N processes (DistributedDataParallel) and rank 0 writes checkpoints and the report.
"""
from __future__ import annotations

import time
from pathlib import Path

import click

from edgegen.training import distributed
from edgegen.training.common import default_threads, one_line_errors, run_in_processes, set_threads

QUICK_TRAIN_PER_STYLE = 120  # bars per style in --quick runs
QUICK_EVAL_BARS = 200  # validation / test bars in --quick runs


def _corpus_splits(quick: bool):
    """(train, validation, test) from the committed corpus; a fixed small slice with --quick."""
    import numpy as np

    from edgegen.training.drums.corpus import load_corpus

    corpus = load_corpus()
    train, validation, test = corpus.subset("train"), corpus.subset("validation"), corpus.subset("test")
    if quick:
        rng = np.random.default_rng(0)
        keep = np.concatenate([rng.permutation(np.flatnonzero(train.styles == s))[:QUICK_TRAIN_PER_STYLE]
                               for s in np.unique(train.styles)])
        train = train.take(np.sort(keep))
        validation = validation.take(rng.permutation(len(validation))[:QUICK_EVAL_BARS])
        test = test.take(rng.permutation(len(test))[:QUICK_EVAL_BARS])
    return train, validation, test


def _quick_overrides(quick: bool, epochs: int = 2) -> dict:
    return {"epochs": epochs, "val_every": 1} if quick else {}


@click.group()
def main() -> None:
    """Drum corpus, hierarchical VAE, style classifier and their report."""


@main.command()
@click.option("--gmd", required=True, type=click.Path(exists=True, file_okay=False), help="Groove MIDI Dataset folder")
@click.option("--out", default=None, type=click.Path(file_okay=False), help="folder for the .npz (default: edgegen/data)")
@click.option("--include-fills", is_flag=True, help="also cut bars from GMD's fill recordings")
def corpus(gmd: str, out: str | None, include_fills: bool) -> None:
    """Rebuild the compact corpus (and copy GMD's attribution and license) from a GMD folder."""
    from edgegen.training.drums import corpus as drum_corpus

    out_dir = Path(out) if out else drum_corpus.DATA_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    built, skipped = drum_corpus.build_corpus(gmd, include_fills=include_fills)
    for reason in skipped:
        click.echo(f"skipped {reason}", err=True)
    drum_corpus.save_corpus(built, out_dir / drum_corpus.CORPUS_PATH.name)
    drum_corpus.copy_attribution(gmd, out_dir)
    for split, counts in built.counts().items():
        click.echo(f"{split:<11}" + "  ".join(f"{s} {n}" for s, n in counts.items()))
    short = drum_corpus.check_counts(built)
    if short:
        raise click.ClickException(f"fewer than {drum_corpus.MIN_TRAIN_BARS_PER_STYLE} training bars for {short}")


@main.command()
@click.option("--runs", default="runs/drums", show_default=True, type=click.Path(file_okay=False))
@click.option("--variant", default="final", show_default=True, help="a name from edgegen.training.drums.vae.VARIANTS")
@click.option("--folder", default=None, help="run folder under --runs (default: vae for final, else the variant)")
@click.option("--quick", is_flag=True, help="2 epochs on a small slice")
def train(runs: str, variant: str, folder: str | None, quick: bool) -> None:
    """Train (or resume) one VAE variant."""
    from edgegen.training.drums.train_vae import train_vae
    from edgegen.training.drums.vae import VARIANTS, get_config

    if variant not in VARIANTS:
        raise click.BadParameter(f"unknown variant {variant!r}; known: {', '.join(sorted(VARIANTS))}")
    set_threads(default_threads())
    tr, va, _ = _corpus_splits(quick)
    run_dir = Path(runs) / (folder or ("vae" if variant == "final" else variant))
    with distributed.session() as processes, one_line_errors():
        _, ckpt = train_vae(get_config(variant, **_quick_overrides(quick)), variant, tr, va, run_dir,
                            show_progress=processes.is_main, log=distributed.main_log())
    if processes.is_main:
        click.echo(f"{variant}: epoch {ckpt['epoch']}, {ckpt['train_seconds'] / 60:.1f} min -> {run_dir}")


@main.command(name="all")
@click.option("--runs", default="runs/drums", show_default=True, type=click.Path(file_okay=False))
@click.option("--reports", default="reports/drums", show_default=True, type=click.Path(file_okay=False))
@click.option("--quick", is_flag=True, help="tiny runs on a small slice, every output file written")
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(1, 16),
              help="models trained at once, each in its own 1-thread process (ignored under torchrun)")
@click.option("--report-threads", default=2, show_default=True, type=click.IntRange(1, 64),
              help="torch threads for the report, which runs alone after the models (ignored under torchrun)")
def all_(runs: str, reports: str, quick: bool, jobs: int, report_threads: int) -> None:
    """Final recipe, style classifier, ablation, then the report."""
    start = time.time()
    set_threads(default_threads())
    runs_dir = Path(runs)
    with distributed.session() as processes, one_line_errors():
        if processes.distributed:  # every model on every process, one after another
            splits = _corpus_splits(quick)
            for job in _training_jobs():
                _train_job(job, runs_dir, quick, default_threads(), processes.is_main, splits)
        else:
            _train_in_processes(_training_jobs(), runs_dir, quick, jobs)
        train_minutes = (time.time() - start) / 60
        if processes.is_main:
            # alone on the machine now: 2 threads wrote it in 151-154 s against 254-262 s for one, side by side here
            set_threads(default_threads() if processes.distributed else report_threads)
            _report(runs_dir, Path(reports), quick)
            click.echo(f"drums: all done in {(time.time() - start) / 60:.1f} min (models {train_minutes:.1f} min "
                       f"with {1 if processes.distributed else jobs} jobs x {processes.world_size} processes)")


def _training_jobs() -> list[str]:
    """What `all` trains: the final recipe, the style classifier, then the ablation variants."""
    from edgegen.training.drums.vae import ABLATION

    return ["final", "style_classifier", *ABLATION]


def _train_job(job: str, runs_dir: Path, quick: bool, threads: int, show_progress: bool = True,
               splits=None) -> str:
    """Train one of :func:`_training_jobs` into its run folder (also the worker of `all --jobs N`, which loads the
    corpus itself: ``splits`` None)."""
    from edgegen.training.drums.style_classifier import get_classifier_config, train_style_classifier
    from edgegen.training.drums.train_vae import train_vae
    from edgegen.training.drums.vae import get_config

    set_threads(threads)
    tr, va, _ = _corpus_splits(quick) if splits is None else splits
    log = distributed.main_log()
    if job == "style_classifier":
        classifier = "tiny" if quick else "default"
        train_style_classifier(get_classifier_config(classifier), classifier, tr, va, runs_dir / job, show_progress, log)
    elif job == "final":
        train_vae(get_config(job, **_quick_overrides(quick)), job, tr, va, runs_dir / "vae", show_progress, log)
    else:
        train_vae(get_config(job, **_quick_overrides(quick, epochs=1)), job, tr, va, runs_dir / "ablation" / job,
                  show_progress, log)
    return job


def _train_in_processes(jobs_list: list[str], runs_dir: Path, quick: bool, jobs: int) -> None:
    """Train every job in ``jobs`` one-thread processes; every failure is reported, none hides the rest."""
    if jobs == 1:
        splits = _corpus_splits(quick)
        for job in jobs_list:
            _train_job(job, runs_dir, quick, default_threads(), splits=splits)
        return
    failures = run_in_processes(_train_job, {job: (job, runs_dir, quick, 1, False) for job in jobs_list}, jobs,
                                lambda job, _: click.echo(f"done {job}"))
    if failures:
        raise click.ClickException("training failed: " + "; ".join(failures))


@main.command()
@click.option("--runs", default="runs/drums", show_default=True, type=click.Path(file_okay=False))
@click.option("--reports", default="reports/drums", show_default=True, type=click.Path(file_okay=False))
@click.option("--quick", is_flag=True, help="measure on the --quick slice with fewer samples")
def report(runs: str, reports: str, quick: bool) -> None:
    """Measure the trained checkpoints; write results.json, results.md and figures."""
    set_threads(default_threads())
    _report(Path(runs), Path(reports), quick)


def _report(runs_dir: Path, reports_dir: Path, quick: bool) -> None:
    from edgegen.training.drums.report import write_report

    for needed in (runs_dir / "vae" / "checkpoint.pt", runs_dir / "style_classifier" / "checkpoint.pt"):
        if not needed.exists():
            raise click.ClickException(f"{needed} is missing; run `python -m edgegen.training.drums all` first")
    results = write_report(runs_dir, reports_dir, _corpus_splits(quick), quick)
    click.echo(f"wrote {reports_dir / 'results.json'}: hit F1 {results['recon']['hit_f1']:.3f}, "
               f"style control {results['style_control_accuracy']:.2f}")


