"""The letter style model's training side: the many-font set, training and resume, the prior, the torch drawer."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from edgegen.training.letters import fonts as lf
from edgegen.training.letters.style_model import (KIND, TorchStyleModel, build_model, get_variant, load_style_model,
                                                  quick_overrides)
from edgegen.training.letters.train_style import (StyleTrainer, augment, evaluate_style_model, retrieval,
                                                  train_style)


@pytest.fixture(scope="module")
def quick_fonts(tmp_path_factory):
    return lf.load_font_set(tmp_path_factory.mktemp("fonts"), quick=True, log=lambda *_: None)


# ----------------------------------------------------------------------------- fonts


def test_quick_font_set_is_real_capitals_split_by_family(quick_fonts):
    fs = quick_fonts
    n = len(fs.names)
    assert 6 <= n <= lf.QUICK_FONTS
    assert fs.glyphs.shape == (n, 26, 28, 28) and fs.glyphs.dtype == np.float32
    assert 0.0 <= fs.glyphs.min() and fs.glyphs.max() <= 1.0
    assert set(fs.split) == {"train", "val", "judge"}
    groups = {s: {g for g, t in zip(fs.groups, fs.split) if t == s} for s in ("train", "val", "judge")}
    assert not (groups["train"] & groups["val"]) and not (groups["train"] & groups["judge"]) \
        and not (groups["val"] & groups["judge"])
    # 26 distinct letters per font: no glyph repeats within a font
    for glyphs in fs.glyphs:
        assert len({g.tobytes() for g in (glyphs > 0.5)}) == 26


def test_font_set_is_cached_and_a_corrupt_cache_is_rebuilt(tmp_path):
    messages = []
    first = lf.load_font_set(tmp_path, quick=True, log=messages.append)
    again = lf.load_font_set(tmp_path, quick=True, log=messages.append)
    assert any("using cached" in m for m in messages)
    assert np.array_equal(first.glyphs, again.glyphs) and list(first.split) == list(again.split)
    manifest_path = next(tmp_path.glob("*.json"))
    manifest = json.loads(manifest_path.read_text())
    assert manifest["counts"] == {s: int((first.split == s).sum()) for s in lf.SPLITS}
    manifest["checksum"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    messages.clear()
    lf.load_font_set(tmp_path, quick=True, log=messages.append)
    assert any("does not match its manifest checksum" in m for m in messages)


def test_reserved_fonts_are_caught_by_path_and_by_family():
    assert lf.is_reserved_path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf")
    assert lf.is_reserved_path("/usr/share/fonts/opentype/noto/NotoSans-Regular.ttf")
    assert lf.is_reserved_path("/usr/share/texmf/fonts/opentype/public/tex-gyre/texgyreheros-regular.otf")
    for family in ("Liberation Serif", "Nimbus Sans", "TeX Gyre Pagella", "Noto Serif", "Tinos", "Arimo", "C059"):
        assert lf.is_reserved_family(family), family
    for family in ("DejaVu Sans", "Lato", "Linux Libertine O", "EB Garamond"):
        assert not lf.is_reserved_family(family), family
    for path in lf.candidate_font_files():
        assert not lf.is_reserved_path(path), path


def test_family_groups_keep_one_design_on_one_side():
    assert {lf.family_group(f) for f in ("cmr10", "CMU Serif", "Latin Modern Roman", "LM Roman 10")} \
        == {"computer-modern"}
    assert lf.family_group("Verana Sans") == lf.family_group("DejaVu Serif") == "dejavu"
    assert lf.merge_prefix_groups(["beteckna", "betecknags", "betecknagscondensed", "go", "gothic"]) \
        == ["beteckna", "beteckna", "beteckna", "go", "gothic"]
    split = lf.split_by_group(["a", "a", "b", "c", "d", "d", "d"], seed=0)
    for group in "abcd":
        assert len({s for s, g in zip(split, "aabcddd") if g == group}) == 1
    assert set(split) == set(lf.SPLITS)


def test_glyph_check_refuses_blank_repeated_and_symbol_glyphs(quick_fonts):
    real = np.stack([np.asarray(g) for g in quick_fonts.glyphs[0]])
    assert lf.glyph_problem(real) is None
    assert "no glyph" in lf.glyph_problem(np.zeros_like(real))
    assert "distinct" in lf.glyph_problem(np.repeat(real[:1], 26, axis=0))
    shuffled = real[np.roll(np.arange(26), 5)]  # every glyph drawn as another letter
    assert "look like their letters" in lf.glyph_problem(shuffled)


def test_augmented_glyphs_stay_close_but_differ(quick_fonts):
    glyphs = quick_fonts.glyphs[0, :8]
    out = lf.augment_glyphs(glyphs, np.random.default_rng(0))
    assert out.shape == glyphs.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    change = np.abs(out - glyphs).mean(axis=(1, 2))
    assert (change > 0).all() and (change < 0.25 * glyphs.mean(axis=(1, 2)) * 4).all()
    assert np.allclose(lf.augment_glyphs(glyphs, np.random.default_rng(0)), out)
    torch_out = augment(torch.as_tensor(glyphs).unsqueeze(1), torch.Generator().manual_seed(0))
    assert torch_out.shape == (8, 1, 28, 28) and 0 <= float(torch_out.min()) and float(torch_out.max()) <= 1


# ----------------------------------------------------------------------------- the model


def test_the_encoder_ignores_masked_slots_and_the_order_of_examples():
    model = build_model(quick_overrides(get_variant("style"))).eval()
    glyphs = torch.rand(1, 8, 28, 28)
    letters = torch.nn.functional.one_hot(torch.arange(8), 26).float().unsqueeze(0)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0, 0, 0]], dtype=torch.float32)
    style = model.encoder(glyphs, letters, mask)
    junk = glyphs.clone()
    junk[:, 3:] = torch.rand(1, 5, 28, 28)
    assert torch.allclose(model.encoder(junk, letters, mask), style, atol=1e-6)
    order = torch.tensor([2, 0, 1, 3, 4, 5, 6, 7])
    assert torch.allclose(model.encoder(glyphs[:, order], letters[:, order], mask), style, atol=1e-5)


def test_training_lowers_the_reconstruction_loss_and_resumes(quick_fonts, tmp_path):
    torch.set_num_threads(1)
    config = replace(quick_overrides(get_variant("style")), steps_per_epoch=15, epochs=2, eval_every=1)
    trainer = StyleTrainer(config, quick_fonts)
    first = trainer.train_step()["recon"]
    losses = [trainer.train_step()["recon"] for _ in range(60)]
    last = float(np.mean(losses[-5:]))
    assert last < 0.85 * first, (first, last)

    run = tmp_path / "run"
    done = train_style("style", config, quick_fonts, run, log=lambda *_: None)
    assert done["kind"] == KIND and done["epoch"] == 2
    assert {"few_shot_retrieval", "nearest_font_retrieval", "prior_diversity", "mid_gray_ratio",
            "output_temperature"} <= set(done["metrics"])
    # the output temperature is one of the grid's, chosen on the val fonts, and stored with the weights
    assert done["calibration"]["chosen"] in (1.0, 1.25, 1.5, 1.75, 2.0)
    assert len(done["calibration"]["temperature"]["grid"]) == 5
    assert done["metrics"]["prior_scale"] in (1.0, 0.85, 0.7)
    longer = train_style("style", replace(config, epochs=3), quick_fonts, run, log=lambda *_: None)
    assert longer["epoch"] == 3 and len(json.loads((run / "log.json").read_text())) == 3
    model, meta = load_style_model(run / "checkpoint.pt")
    assert float(model.generator.temperature) == pytest.approx(meta["calibration"]["chosen"])
    assert float(model.prior_scale) == pytest.approx(meta["metrics"]["prior_scale"])
    # the prior is the styles of the training fonts, each from all 26 letters (refitted after every epoch)
    assert not torch.allclose(model.prior_cov, torch.eye(config.style_dim))
    assert torch.linalg.eigvalsh(model.prior_cov).min() > -1e-5


def test_torch_drawer_offers_the_report_interface(quick_fonts, tmp_path):
    config = replace(quick_overrides(get_variant("style")), steps_per_epoch=2, epochs=1)
    train_style("style", config, quick_fonts, tmp_path, log=lambda *_: None)
    drawer = TorchStyleModel(tmp_path / "checkpoint.pt")
    styles = drawer.sample_styles(3, 5)
    assert styles.shape == (5, drawer.style_dim) and np.array_equal(styles, drawer.sample_styles(3, 5))
    assert not np.allclose(styles, drawer.sample_styles(4, 5))
    style = drawer.encode(quick_fonts.glyphs[0, :4], np.arange(4))
    assert style.shape == (drawer.style_dim,)
    drawn = drawer.draw(np.stack([style, styles[0]]), np.array([16, 16]))
    assert drawn.shape == (2, drawer.size, drawer.size) and 0 <= drawn.min() and drawn.max() <= 1


def test_retrieval_is_one_for_the_real_glyphs_and_chance_for_one_font(quick_fonts):
    real = torch.as_tensor(quick_fonts.glyphs[:6, :5])
    assert retrieval(real, real) == 1.0
    assert retrieval(real[:1].expand(6, -1, -1, -1), real) == pytest.approx(1 / 6)


def test_evaluation_measures_the_copy_baseline(quick_fonts):
    config = quick_overrides(get_variant("style"))
    model = build_model(config).eval()
    train = torch.as_tensor(quick_fonts.glyphs[quick_fonts.indices("train")])
    val = torch.as_tensor(quick_fonts.glyphs[quick_fonts.indices("val")])
    metrics = evaluate_style_model(model, train, val)
    assert metrics["val_fonts"] == len(val)
    assert 0 <= metrics["few_shot_retrieval"] <= 1 and 0 <= metrics["nearest_font_retrieval"] <= 1
    assert metrics["nearest_font_l1"] < metrics["few_shot_l1"]  # an untrained model is worse than copying
