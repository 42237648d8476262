"""`python -m edgegen.training.letters`: data, classifier, GAN variants, figures and results for the letter study.

    data        render (or reuse) the cached letter dataset and its contact sheet
    classifier  train the letter classifier that measures coverage
    train       train one GAN variant (--variant NAME)
    fonts       render (or reuse) the many-font set of the style model (train / val / judge split)
    style       train the letter style model (fontgen's default) on the font set
    all         data -> classifier -> every variant -> figures -> results.json,
                then fonts -> style model -> style report (reports/letters/style)
    report      figures and results.json from existing runs

Training resumes what a run folder holds (same recipe: continue; more epochs: extend;
another recipe: an error). Alone, `all` trains variants in --jobs processes of one thread
each; under `torchrun --nproc-per-node=N` every variant trains on all N processes in turn
(DistributedDataParallel) and rank 0 writes checkpoints and reports.
"""
from __future__ import annotations

import time
from pathlib import Path

import click

from edgegen.training import distributed
from edgegen.training.common import default_threads, one_line_errors, run_in_processes, set_threads

QUICK_FONTS = 2


class VariantName(click.ParamType):
    """A registered variant; anything else is a one-line usage error listing the variants."""
    name = "variant"

    def convert(self, value, param, ctx):
        from edgegen.training.letters.gan import VARIANTS
        if value not in VARIANTS:
            self.fail(f"unknown variant {value!r}; choose one of: {', '.join(VARIANTS)}", param, ctx)
        return value


def _fonts_and_config(fonts: tuple[str, ...], quick: bool):
    from edgegen.training.letters import data as ld
    paths = ld.expand_font_args(list(fonts)) if fonts else ld.default_font_paths()
    if quick:
        return paths[:QUICK_FONTS], ld.quick_config()
    return paths, ld.LetterDataConfig()


def _load_data(data_dir: str, fonts: tuple[str, ...], quick: bool, log=click.echo):
    """The cached dataset; under torchrun rank 0 renders it while the others wait, then they read the cache."""
    from edgegen.training.letters.data import FontError, load_or_build
    try:
        paths, config = _fonts_and_config(fonts, quick)
        with distributed.main_first():
            return load_or_build(data_dir, paths, config, log=distributed.main_log(log))
    except FontError as err:
        raise click.ClickException(str(err)) from None


def _classifier_config(quick: bool):
    from edgegen.training.letters.classifier import ClassifierConfig
    return ClassifierConfig(epochs=1) if quick else ClassifierConfig()


def _variant_config(name: str, quick: bool):
    from edgegen.training.letters.gan import get_variant
    from edgegen.training.letters.train_gan import quick_overrides
    config = get_variant(name)
    return quick_overrides(config) if quick else config


def run_variant(name: str, data_dir: str, fonts: tuple[str, ...], runs: str, quick: bool, threads: int,
                data: dict | None = None) -> dict:
    """Train (or resume) one variant in this process (also the worker of `all --jobs N`, which loads ``data``
    from the cache itself)."""
    set_threads(threads)
    from edgegen.training.letters.classifier import load_classifier
    from edgegen.training.letters.train_gan import train_variant
    if data is None:
        data = _load_data(data_dir, fonts, quick, log=lambda *_: None)
    classifier_path = Path(runs) / "classifier" / "checkpoint.pt"
    if not classifier_path.exists():
        raise click.ClickException(f"{classifier_path} not found; run the `classifier` command first")
    with one_line_errors():
        classifier, _ = load_classifier(classifier_path)
        return train_variant(name, _variant_config(name, quick), data, classifier, Path(runs) / name,
                             log=distributed.main_log(click.echo))


def _load_font_set(fonts_dir: str, quick: bool, size: int, log=click.echo):
    from edgegen.training.letters.fonts import load_font_set
    with distributed.main_first():
        return load_font_set(fonts_dir, size=size, quick=quick, log=distributed.main_log(log))


def _style_config(variant: str, quick: bool):
    from edgegen.training.letters.style_model import get_variant, quick_overrides
    config = get_variant(variant)
    return quick_overrides(config) if quick else config


def run_style(variant: str, fonts_dir: str, runs: str, quick: bool, threads: int) -> dict:
    """Train (or resume) one style variant into RUNS/<variant>/ (one process)."""
    set_threads(threads)
    from edgegen.training.letters.train_style import train_style
    config = _style_config(variant, quick)
    font_set = _load_font_set(fonts_dir, quick, config.image_size)
    with one_line_errors():
        return train_style(variant, config, font_set, Path(runs) / variant, log=click.echo)


def run_style_report(runs: str, fonts_dir: str, reports: str, quick: bool, variant: str) -> dict:
    """The style report (REPORTS/style) of the trained checkpoint, drawn through TorchStyleModel, the runtime's
    style interface on torch (training never imports export; the exported graphs match it within 1e-5)."""
    from edgegen.training.letters.judge import JudgeConfig, train_judge
    from edgegen.training.letters.style_model import TorchStyleModel
    from edgegen.training.letters.style_report import quick_judge_config, write_style_report
    drawer = TorchStyleModel(Path(runs) / variant / "checkpoint.pt")
    font_set = _load_font_set(fonts_dir, quick, drawer.size)
    with one_line_errors():
        judge = train_judge(font_set, quick_judge_config() if quick else JudgeConfig(), Path(runs) / "judge",
                            log=click.echo)
        return write_style_report(drawer, font_set, judge, Path(reports) / "style", name=f"letters_{variant}")


data_option = click.option("--data", "data_dir", default="data/letters", show_default=True,
                           type=click.Path(file_okay=False), help="dataset cache folder")
fonts_option = click.option("--fonts", multiple=True, type=click.Path(),
                            help="font files or folders to use instead of the 10 default fonts (repeatable)")
runs_option = click.option("--runs", default="runs/letters", show_default=True, type=click.Path(file_okay=False),
                           help="folder for checkpoints: RUNS/<variant>/checkpoint.pt")
reports_option = click.option("--reports", default="reports/letters", show_default=True,
                              type=click.Path(file_okay=False), help="folder for figures and results.json")
fonts_dir_option = click.option("--fonts-data", "fonts_dir", default="data/fonts", show_default=True,
                                type=click.Path(file_okay=False), help="font set cache folder (style model)")
quick_option = click.option("--quick", is_flag=True, help="tiny data, 1 epoch per model: a smoke run")
threads_option = click.option("--threads", default=None, type=click.IntRange(1, 64),
                              help="torch threads per process (default: EDGEGEN_THREADS or 1)")


@click.group()
def cli() -> None:
    """The letter GAN study: data, classifier, GAN variants, figures, results."""


@cli.command()
@data_option
@fonts_option
@quick_option
def data(data_dir, fonts, quick):
    """Render the letter dataset (cached with a manifest) and its contact sheet."""
    arrays = _load_data(data_dir, fonts, quick)
    from edgegen.training.letters.report import contact_sheet
    contact_sheet(arrays, Path(data_dir) / "contact_sheet.png")
    click.echo(f"letters: {len(arrays['y_train'])} train, {len(arrays['y_val'])} validation images in {data_dir}")


def _train_classifier(arrays, runs, quick, threads):
    set_threads(threads or default_threads())
    from edgegen.training.letters.classifier import train_classifier
    with one_line_errors():
        ckpt = train_classifier(arrays, _classifier_config(quick), Path(runs) / "classifier",
                                log=distributed.main_log(click.echo))
    if distributed.current().is_main:
        click.echo(f"classifier: best validation accuracy {ckpt['metrics']['val_accuracy']:.4f} "
                   f"(epoch {ckpt['epoch']} of training)")
    return ckpt


@cli.command()
@data_option
@fonts_option
@runs_option
@quick_option
@threads_option
def classifier(data_dir, fonts, runs, quick, threads):
    """Train the letter classifier into RUNS/classifier/checkpoint.pt."""
    with distributed.session():
        _train_classifier(_load_data(data_dir, fonts, quick), runs, quick, threads)


@cli.command()
@click.option("--variant", required=True, type=VariantName(), help="a registered variant name")
@data_option
@fonts_option
@runs_option
@quick_option
@threads_option
def train(variant, data_dir, fonts, runs, quick, threads):
    """Train (or resume) one GAN variant into RUNS/<variant>/."""
    with distributed.session() as processes:
        result = run_variant(variant, data_dir, fonts, runs, quick, threads or default_threads())
    m = result["metrics"]
    if processes.is_main:
        click.echo(f"{variant}: coverage {m.get('coverage')} kl {m.get('kl_uniform')} high_quality {m.get('high_quality')}"
                   f" label_accuracy {m.get('label_accuracy')} in {result['train_seconds'] / 60:.1f} min")


@cli.command()
@fonts_dir_option
@quick_option
@click.option("--size", default=28, show_default=True, type=click.IntRange(16, 128), help="glyph canvas, pixels")
def fonts(fonts_dir, quick, size):
    """Render (or reuse) the font set of the style model: every allowed font, split by family."""
    font_set = _load_font_set(fonts_dir, quick, size)
    counts = ", ".join(f"{s} {len(font_set.indices(s))}" for s in ("train", "val", "judge"))
    click.echo(f"fonts: {len(font_set.names)} fonts ({counts}) in {fonts_dir}")


class StyleVariantName(click.ParamType):
    name = "variant"

    def convert(self, value, param, ctx):
        from edgegen.training.letters.style_model import VARIANTS
        if value not in VARIANTS:
            self.fail(f"unknown style variant {value!r}; choose one of: {', '.join(VARIANTS)}", param, ctx)
        return value


@cli.command()
@click.option("--variant", default="style", show_default=True, type=StyleVariantName(), help="a style variant")
@fonts_dir_option
@runs_option
@reports_option
@quick_option
@threads_option
@click.option("--report/--no-report", default=False, show_default=True,
              help="also write its style report (REPORTS/style)")
def style(variant, fonts_dir, runs, reports, quick, threads, report):
    """Train (or resume) the letter style model into RUNS/<variant>/."""
    result = run_style(variant, fonts_dir, runs, quick, threads or default_threads())
    m = result["metrics"]
    click.echo(f"{variant}: " + " ".join(f"{k} {v:.3f}" for k, v in m.items() if isinstance(v, float))
               + f" in {result['train_seconds'] / 60:.1f} min")
    if report:
        run_style_report(runs, fonts_dir, reports, quick, variant)
        click.echo(f"style report in {Path(reports) / 'style'}")


def _longest_first(names: list[str]) -> list[str]:
    from edgegen.training.letters.gan import get_variant

    def cost(name):
        c = get_variant(name)
        return c.epochs * (1 + c.unrolled_steps)
    return sorted(names, key=cost, reverse=True)


@cli.command(name="all")
@data_option
@fonts_option
@runs_option
@reports_option
@quick_option
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(1, 16),
              help="variants trained at once, each in its own 1-thread process (ignored under torchrun)")
@click.option("--variants", "only", default=None, help="comma-separated subset of variants (default: all)")
@fonts_dir_option
@click.option("--style/--no-style", "with_style", default=True, show_default=True,
              help="also train the letter style model and write its report (REPORTS/style)")
@click.option("--style-threads", default=2, show_default=True, type=click.IntRange(1, 64),
              help="torch threads for the style model, which trains alone after the GAN study (one process; "
                   "ignored under torchrun)")
def all_(data_dir, fonts, runs, reports, quick, jobs, only, fonts_dir, with_style, style_threads):
    """Data -> classifier -> every GAN variant -> figures -> REPORTS/results.json; then the style model
    (RUNS/style) and its report (REPORTS/style)."""
    from edgegen.training.letters.gan import VARIANTS
    start = time.time()
    names = list(VARIANTS) if not only else [n.strip() for n in only.split(",")]
    for n in names:
        VariantName().convert(n, None, None)
    with distributed.session() as processes:
        arrays = _load_data(data_dir, fonts, quick)
        if processes.is_main:
            from edgegen.training.letters.report import contact_sheet
            contact_sheet(arrays, Path(reports) / "contact_sheet.png")
        _train_classifier(arrays, runs, quick, 1)
        t_variants = time.time()
        if processes.distributed:
            jobs = 1
            failures = []
            for n in _longest_first(names):  # each on every process; a failure stops all of them
                run_variant(n, data_dir, fonts, runs, quick, default_threads(), data=arrays)
        else:
            failures = _variants_in_processes(names, data_dir, fonts, runs, quick, jobs)
        train_minutes = (time.time() - t_variants) / 60
        if not processes.is_main:
            return
    from edgegen.training.letters.report import write_report
    write_report(runs, reports, data_dir=data_dir, train_minutes_total=train_minutes,
                 all_minutes_total=(time.time() - start) / 60, jobs=jobs, processes=processes.world_size)
    style_minutes = 0.0
    if with_style:
        t_style = time.time()
        # alone on the machine now: 2 threads took 0.30 s a step against 0.51 for one, side by side here
        result = run_style("style", fonts_dir, runs, quick,
                           default_threads() if processes.distributed else style_threads)
        click.echo(f"style: trained in {result['train_seconds'] / 60:.1f} min")
        run_style_report(runs, fonts_dir, reports, quick, "style")
        style_minutes = (time.time() - t_style) / 60
    if failures:
        raise click.ClickException("variants failed: " + "; ".join(failures))
    click.echo(f"letters: all done in {(time.time() - start) / 60:.1f} min "
               f"(variants {train_minutes:.1f} min with {jobs} jobs x {processes.world_size} processes"
               f"{f'; style model and report {style_minutes:.1f} min' if with_style else ''})")


def _variants_in_processes(names, data_dir, fonts, runs, quick, jobs) -> list[str]:
    """Train variants in ``jobs`` one-thread processes; returns the failures (one must not hide the rest)."""
    def done(name: str, result: dict) -> None:
        click.echo(f"done {name}: {result['metrics'].get('coverage')} coverage, {result['train_seconds'] / 60:.1f} min")

    return run_in_processes(run_variant, {n: (n, data_dir, fonts, runs, quick, 1) for n in _longest_first(names)},
                            jobs, done)


@cli.command()
@runs_option
@reports_option
@data_option
def report(runs, reports, data_dir):
    """Figures and REPORTS/results.json from the checkpoints in RUNS."""
    from edgegen.training.letters.report import write_report
    write_report(runs, reports, data_dir=data_dir)
    click.echo(f"letters: report written to {reports}")


def main() -> None:
    cli(prog_name="python -m edgegen.training.letters")


