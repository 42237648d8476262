"""Letter classifier, coverage metrics, GAN variants, resume and the NaN guard (tiny configs, 1 thread)."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from edgegen.training.letters import gan as gan_module
from edgegen.training.checkpoint import CheckpointError, load_checkpoint
from edgegen.training.common import NonFiniteLossError, set_threads
from edgegen.training.letters.classifier import (ClassifierConfig, accuracy, build_classifier, load_classifier,
                                                predict_proba, train_classifier)
from edgegen.training.letters.gan import VARIANTS, load_generator
from edgegen.training.letters.metrics import kl_to_uniform, letter_metrics
from edgegen.training.letters.cli import cli
from edgegen.training.letters.data import LETTERS, LetterDataConfig, build_letters, default_font_paths
from edgegen.training.letters.train_gan import train_variant

set_threads(1)


@pytest.fixture(scope="session")
def letters():
    return build_letters(default_font_paths()[:2], LetterDataConfig(train_per_font_letter=8, val_per_font_letter=3))


@pytest.fixture(scope="session")
def classifier_run(letters, tmp_path_factory):
    run = tmp_path_factory.mktemp("clf")
    train_classifier(letters, CLASSIFIER, run, log=lambda *_: None)
    model, info = load_classifier(run / "checkpoint.pt")
    return model, info, run / "checkpoint.pt"


CLASSIFIER = ClassifierConfig(epochs=12, batch_size=16, augment_shift=1, channels1=16, channels2=32, hidden=64)


def tiny(name: str, **changes):
    """The registered variant cut to a few steps and a tiny evaluation."""
    return replace(VARIANTS[name], epochs=1, max_steps_per_epoch=2, eval_samples=52, **changes)


def test_letters_constant():
    assert LETTERS == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def test_classifier_learns_on_a_tiny_run(letters, classifier_run):
    model, info, path = classifier_run
    untrained = build_classifier(ClassifierConfig(channels1=16, channels2=32, hidden=64))
    assert accuracy(untrained, letters["x_val"], letters["y_val"]) < 0.2
    best = info["metrics"]["val_accuracy"]
    assert best > 0.9
    assert best == pytest.approx(accuracy(model, letters["x_val"], letters["y_val"]))  # the best epoch's weights
    assert best == max(m["val_accuracy"] for m in info["history"].values())
    assert info["config"]["channels1"] == 16
    logits = model(torch.as_tensor(letters["x_val"][:5]).unsqueeze(1))
    assert logits.shape == (5, 26)


def test_kl_to_uniform_on_known_histograms():
    assert kl_to_uniform(np.full(26, 10)) == pytest.approx(0.0)
    one = np.zeros(26)
    one[3] = 50
    assert kl_to_uniform(one) == pytest.approx(np.log(26))


def test_coverage_of_only_real_a_images_is_one_letter(letters, classifier_run):
    model = classifier_run[0]
    only_a = letters["x_val"][letters["y_val"] == 0]
    m = letter_metrics(predict_proba(model, only_a))
    assert m["coverage"] == pytest.approx(1 / 26)
    assert m["letters_seen"] == 1
    assert m["kl_uniform"] > 3.0


def test_coverage_of_a_balanced_real_set_is_full_and_even(letters, classifier_run):
    model = classifier_run[0]
    m = letter_metrics(predict_proba(model, letters["x_val"]), requested=letters["y_val"])
    assert m["coverage"] == 1.0
    assert m["kl_uniform"] < 0.05
    assert m["label_accuracy"] > 0.9


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_trains_a_few_steps_with_finite_losses(name, letters, classifier_run, tmp_path):
    result = train_variant(name, tiny(name), letters, classifier_run[0], tmp_path, log=lambda *_: None)
    row = json.loads((tmp_path / "log.json").read_text())[0]
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "seconds"):
        assert np.isfinite(row[key]), key
    assert set(result["metrics"]) >= {"coverage", "kl_uniform", "high_quality", "label_accuracy"}
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["kind"] == "letter_gan" and ckpt["variant"] == name and ckpt["epoch"] == 1
    assert ckpt["config"]["unrolled_steps"] == VARIANTS[name].unrolled_steps
    generator, info = load_generator(tmp_path / "checkpoint.pt")
    conditional = info["config"]["conditional"]
    assert not generator.training and conditional == VARIANTS[name].conditional
    z = torch.randn(3, info["config"]["z_dim"])
    args = (z, torch.eye(26)[:3]) if conditional else (z,)
    with torch.no_grad():
        out = generator(*args)
    assert out.shape == (3, 1, 28, 28) and out.dtype == torch.float32
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0


def test_resume_continues_with_the_same_losses(letters, classifier_run, tmp_path):
    """Train 3 epochs straight, and 1 epoch then extended to 3: the same losses and weights, and the
    resumed run trains only epochs 2-3 (its first log row is the first call's, untouched)."""
    config = replace(VARIANTS["conditional"], epochs=3, max_steps_per_epoch=3, eval_samples=52, eval_every=2)
    train_variant("conditional", config, letters, classifier_run[0], tmp_path / "straight", log=lambda *_: None)
    train_variant("conditional", replace(config, epochs=1), letters, classifier_run[0], tmp_path / "resumed",
                  log=lambda *_: None)
    first = json.loads((tmp_path / "resumed" / "log.json").read_text())
    torch.manual_seed(999)   # an unrelated use of the global RNG between the runs must not matter
    train_variant("conditional", config, letters, classifier_run[0], tmp_path / "resumed", log=lambda *_: None)
    straight = json.loads((tmp_path / "straight" / "log.json").read_text())
    resumed = json.loads((tmp_path / "resumed" / "log.json").read_text())
    assert [r["epoch"] for r in resumed] == [1, 2, 3]
    assert resumed[0] == first[0]
    for a, b in zip(straight, resumed):
        assert a["loss_d"] == pytest.approx(b["loss_d"], abs=1e-6)
        assert a["loss_g"] == pytest.approx(b["loss_g"], abs=1e-6)
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")["modules"]
    b = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["modules"]
    for name in ("generator", "discriminator"):
        assert all(torch.equal(a[name][k], b[name][k]) for k in a[name]), name


def test_a_finished_run_is_not_trained_again(letters, classifier_run, tmp_path):
    config = replace(VARIANTS["vanilla"], epochs=1, max_steps_per_epoch=2, eval_samples=52)
    train_variant("vanilla", config, letters, classifier_run[0], tmp_path, log=lambda *_: None)
    before = (tmp_path / "checkpoint.pt").read_bytes(), (tmp_path / "log.json").read_bytes()
    result = train_variant("vanilla", config, letters, classifier_run[0], tmp_path, log=lambda *_: None)
    assert result["epoch"] == 1
    assert ((tmp_path / "checkpoint.pt").read_bytes(), (tmp_path / "log.json").read_bytes()) == before


def test_another_recipe_in_the_run_folder_is_an_error_not_a_restart(letters, classifier_run, tmp_path):
    config = replace(VARIANTS["vanilla"], epochs=1, max_steps_per_epoch=2, eval_samples=52)
    train_variant("vanilla", config, letters, classifier_run[0], tmp_path, log=lambda *_: None)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(CheckpointError, match="lr is 0.0002 there, 0.001 now"):
        train_variant("vanilla", replace(config, lr=1e-3), letters, classifier_run[0], tmp_path, log=lambda *_: None)
    with pytest.raises(CheckpointError, match="holds variant 'vanilla'"):
        train_variant("ema", config, letters, classifier_run[0], tmp_path, log=lambda *_: None)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_classifier_resume_matches_an_uninterrupted_run(letters, tmp_path):
    config = replace(CLASSIFIER, epochs=2, channels1=4, channels2=4, hidden=8)
    train_classifier(letters, config, tmp_path / "straight", log=lambda *_: None)
    train_classifier(letters, replace(config, epochs=1), tmp_path / "resumed", log=lambda *_: None)
    first = json.loads((tmp_path / "resumed" / "log.json").read_text())
    train_classifier(letters, config, tmp_path / "resumed", log=lambda *_: None)
    resumed = json.loads((tmp_path / "resumed" / "log.json").read_text())
    assert resumed[0] == first[0] and [r["epoch"] for r in resumed] == [1, 2]
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
    for name in ("model", "best"):
        assert all(torch.equal(a["modules"][name][k], b["modules"][name][k]) for k in a["modules"][name]), name
    assert a["metrics"] == b["metrics"] and a["history"] == b["history"]


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(letters, classifier_run, tmp_path, monkeypatch):
    config = replace(VARIANTS["vanilla"], epochs=2, max_steps_per_epoch=2, eval_samples=52)
    train_variant("vanilla", replace(config, epochs=1), letters, classifier_run[0], tmp_path, log=lambda *_: None)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    real_forward = gan_module.Discriminator.forward

    def nan_forward(self, x, onehot=None):
        logit, f, aux = real_forward(self, x, onehot)
        return logit * float("nan"), f, aux

    monkeypatch.setattr(gan_module.Discriminator, "forward", nan_forward)
    with pytest.raises(NonFiniteLossError, match="nan"):
        train_variant("vanilla", config, letters, classifier_run[0], tmp_path, log=lambda *_: None)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1
    assert not list(tmp_path.glob(".checkpoint.pt*"))


def test_unknown_variant_is_a_one_line_error_listing_the_variants(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--variant", "nonsense", "--runs", str(tmp_path)])
    assert result.exit_code == 2
    error_lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(error_lines) == 1
    assert "nonsense" in error_lines[0] and all(name in error_lines[0] for name in VARIANTS)


def test_every_subcommand_has_help():
    for command in ("data", "classifier", "train", "all", "report"):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_diffaugment_shifts_whole_pixels_without_losing_ink():
    from edgegen.training.letters.train_gan import GanTrainer
    trainer = GanTrainer(replace(VARIANTS["vanilla"], augment_shift=2))
    x = torch.zeros(16, 1, 28, 28)
    x[:, :, 13, 13] = 1.0
    moved = trainer._augment(x)
    assert torch.allclose(moved.sum(dim=(1, 2, 3)), torch.ones(16))
    positions = [divmod(int(m.flatten().argmax()), 28) for m in moved]
    assert all(abs(r - 13) <= 2 and abs(c - 13) <= 2 for r, c in positions)
    assert len(set(positions)) > 1


def test_report_writes_results_with_the_contract_keys(letters, classifier_run, tmp_path):
    import shutil

    from edgegen.training.letters.report import write_report
    runs = tmp_path / "runs"
    shutil.copy(classifier_run[2], (runs / "classifier").mkdir(parents=True) or runs / "classifier" / "checkpoint.pt")
    for name in ("vanilla", "stabilised", "conditional_stabilised"):
        train_variant(name, tiny(name), letters, classifier_run[0], runs / name, log=lambda *_: None)
    results = write_report(runs, tmp_path / "reports", train_minutes_total=0.5, jobs=2)
    saved = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert saved["default_conditional"] == "conditional_stabilised"
    assert saved["best_unconditional"] == "stabilised"          # vanilla is never the "best stabilised" one
    assert saved["train_minutes_total"] == 0.5
    assert saved["classifier_val_accuracy"] == pytest.approx(classifier_run[1]["metrics"]["val_accuracy"])
    v = saved["variants"]["conditional_stabilised"]
    assert v["conditional"] is True and v["epochs"] == 1 and set(v["final"]) >= {
        "coverage", "kl_uniform", "high_quality", "label_accuracy"}
    assert saved["variants"]["vanilla"]["final"]["label_accuracy"] is None
    assert "1" in v["coverage_by_epoch"]
    for figure in ("coverage.png", "histograms.png", "alphabet_vanilla.png", "dynamics_stabilised.png",
                   "interpolation_conditional_stabilised.png", "style_consistency_conditional_stabilised.png"):
        assert (tmp_path / "reports" / figure).stat().st_size > 1000, figure
    assert results["variants"].keys() == saved["variants"].keys()


def test_infogan_code_is_a_uniform_one_hot_of_the_first_latent_dims_and_steers_the_image():
    config = gan_module.GanConfig(z_dim=32, g_channels=8, g_mid_channels=4, code_categories=26, g_upsample=True)
    generator = gan_module.build_generator(config).eval()
    z = torch.randn(26_000, 32, generator=torch.Generator().manual_seed(0))
    counts = np.bincount(z[:, :26].argmax(1).numpy(), minlength=26)
    assert counts.min() > 850 and counts.max() < 1150  # 1000 expected per code
    z = z[:2].clone()
    other = z.clone()
    other[:, :26] = other[:, :26].flip(1)  # a different argmax, same values: only the code differs
    assert (z[:, :26].argmax(1) != other[:, :26].argmax(1)).all()
    with torch.no_grad():
        assert not torch.allclose(generator(z), generator(other))


def test_infogan_q_head_learns_to_read_the_code(letters, classifier_run, tmp_path):
    """150 steps: D's Q head recovers the code far better than chance (log 26 = 3.26 nats)."""
    from edgegen.training.letters.train_gan import GanTrainer

    config = replace(VARIANTS["letter_balanced"], code_categories=26, info_weight=5.0, z_dim=32, lr=5e-4)
    trainer = GanTrainer(config)
    x = torch.as_tensor(letters["x_train"][:64]).unsqueeze(1)
    y = torch.as_tensor(letters["y_train"][:64])
    for _ in range(150):
        trainer.train_step(x, y)
    fake, _, _, code = trainer._fake(256)
    trainer.discriminator.eval()
    with torch.no_grad():
        _, features, _ = trainer.discriminator(fake)
        loss = torch.nn.functional.cross_entropy(trainer.discriminator.code_head(features), code)
    assert loss < 1.5


def test_packing_with_the_infogan_code_is_refused():
    with pytest.raises(ValueError, match="InfoGAN"):
        gan_module.build_discriminator(gan_module.GanConfig(code_categories=26, pack=2))
