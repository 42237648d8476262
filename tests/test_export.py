"""Export: every checkpoint becomes a checked ONNX graph whose outputs match torch, plus a true sidecar."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner

from tiny_runs import LETTER_VARIANTS, exported_models, make_runs

from edgegen.export import graphs
from edgegen.export.__main__ import main as export_main
from edgegen.export.onnx_export import (
    OPSET, PARITY_BATCHES, PARITY_TOLERANCE, ParityError, export_graph, measure_parity, torch_outputs,
)
from edgegen.runtime.onnx_model import FORMAT_VERSION, OnnxModel, sha256_file

EXPECTED = {
    "letters_conditional_stabilised", "letters_vanilla", "letters_infogan_balanced", "letter_classifier",
    "drum_encoder", "drum_prior_low", "drum_decoder", "drum_style_classifier", "letters_style", "letters_style_encoder",
}


def specs_by_name(runs):
    specs = [graphs.letter_generator(runs / "letters" / v / "checkpoint.pt")
             for v in LETTER_VARIANTS]
    specs.extend(graphs.letter_style(runs / "letters" / "style" / "checkpoint.pt"))
    specs.append(graphs.letter_classifier(runs / "letters" / "classifier" / "checkpoint.pt"))
    specs.extend(graphs.drum_vae(runs / "drums" / "vae" / "checkpoint.pt"))
    specs.append(graphs.drum_style_classifier(runs / "drums" / "style_classifier" / "checkpoint.pt"))
    return {s.name: s for s in specs}


def test_export_all_writes_every_model_with_a_sidecar():
    _, models = exported_models()
    assert {p.name[: -len(".onnx")] for p in models.glob("*.onnx")} == EXPECTED
    for name in EXPECTED:
        sidecar = json.loads((models / f"{name}.onnx.json").read_text())
        assert sidecar["format_version"] == FORMAT_VERSION
        assert sidecar["opset"] == OPSET
        assert sidecar["onnx_sha256"] == sha256_file(models / f"{name}.onnx")
        assert sidecar["parity"]["passed"] and sidecar["parity"]["max_abs"] <= PARITY_TOLERANCE
        assert set(sidecar["parity"]["batches"]) == {str(b) for b in PARITY_BATCHES}
        assert "config" in sidecar and "metrics" in sidecar and sidecar["variant"]


def test_graphs_pass_the_full_checker_with_named_tensors_and_dynamic_batch():
    _, models = exported_models()
    for name in EXPECTED:
        model = onnx.load(str(models / f"{name}.onnx"))
        onnx.checker.check_model(model, full_check=True)
        assert model.opset_import[0].version == OPSET
        sidecar = json.loads((models / f"{name}.onnx.json").read_text())
        assert [i.name for i in model.graph.input] == [t["name"] for t in sidecar["inputs"]]
        assert [o.name for o in model.graph.output] == [t["name"] for t in sidecar["outputs"]]
        for value in [*model.graph.input, *model.graph.output]:
            assert value.type.tensor_type.shape.dim[0].dim_param == "batch"
        assert not list(models.glob(f"{name}*.data")), "weights must live inside the one .onnx file"


def test_runtime_matches_torch_at_every_batch_size():
    """Independent of the exporter's own check: load through the runtime, compare with the torch loaders."""
    runs, models = exported_models()
    torch.set_num_threads(1)
    for name, spec in specs_by_name(runs).items():
        runtime = OnnxModel(models / f"{name}.onnx")
        for batch in (1, 7, 64):
            feed = spec.make_inputs(batch, np.random.default_rng(500 + batch))
            expected = torch_outputs(spec.module, feed)
            actual = runtime.run(**feed)
            for e, a in zip(expected, actual):
                assert e.shape == a.shape
                assert np.max(np.abs(e - a)) <= PARITY_TOLERANCE, name
            assert np.array_equal(spec.downstream(feed, expected), spec.downstream(feed, actual)), name


def test_drum_graphs_share_one_group_and_carry_the_style_priors():
    _, models = exported_models()
    sidecars = [json.loads((models / f"{n}.onnx.json").read_text())
                for n in ("drum_encoder", "drum_prior_low", "drum_decoder")]
    assert len({s["group"] for s in sidecars}) == 1 and sidecars[0]["group"]
    decoder = sidecars[2]
    assert np.array(decoder["style_prior_mu"]).shape == (len(decoder["styles"]), decoder["latent"]["z_high"])
    assert [c["name"] for c in decoder["classes"]][:2] == ["kick", "snare"]
    assert all(0 <= c["pitch"] <= 127 for c in decoder["classes"])


def test_parity_failure_stops_the_export_and_writes_nothing(tmp_path, monkeypatch):
    runs, _ = exported_models()
    spec = specs_by_name(runs)["drum_decoder"]
    from edgegen.export import onnx_export

    real_runner = onnx_export.session_runner
    monkeypatch.setattr(onnx_export, "session_runner",
                        lambda data: (lambda feed: [o + 1e-3 for o in real_runner(data)(feed)]))
    with pytest.raises(ParityError, match="drum_decoder"):
        export_graph(spec, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_measure_parity_flags_a_downstream_flip_even_within_tolerance():
    """Numbers within 1e-5 are not enough: a pixel crossing the 0.5 threshold fails parity."""
    from edgegen.export.onnx_export import GraphSpec

    spec = GraphSpec(
        name="threshold", kind="letter_generator", module=torch.nn.Identity(),
        inputs={"x": ["batch", 4]}, outputs={"y": ["batch", 4]},
        make_inputs=lambda batch, rng: {"x": np.full((batch, 4), 0.5 + 1e-6, np.float32)},
        downstream=lambda feed, out: out[0] > 0.5,
    )
    faithful = measure_parity(spec, lambda feed: [feed["x"].copy()])
    assert faithful["passed"] and faithful["max_abs"] == 0.0
    flipped = measure_parity(spec, lambda feed: [feed["x"] - 2e-6])
    assert flipped["max_abs"] <= PARITY_TOLERANCE
    assert not flipped["downstream_equal"] and not flipped["passed"]


def test_export_command_fails_cleanly_without_checkpoints(tmp_path):
    result = CliRunner().invoke(export_main, ["all", "--runs", str(tmp_path / "nothing"), "--out", str(tmp_path / "m")])
    assert result.exit_code != 0
    assert "no checkpoints" in result.output
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_int8_study_reports_parity_and_coverage(tmp_path):
    runs = make_runs(tmp_path / "runs", seed=3)
    result = CliRunner().invoke(export_main, ["all", "--runs", str(runs), "--out", str(tmp_path / "models")])
    assert result.exit_code == 0, result.output
    study = json.loads((runs / "export" / "quantization.json").read_text())
    assert set(study) == EXPECTED
    for row in study.values():
        assert 0.0 <= row["downstream_agreement"] <= 1.0
        assert row["bytes_int8"] > 0 and isinstance(row["worth_shipping"], bool)
    assert "coverage" in study["letters_vanilla"]["scores_int8"]
    assert "label_accuracy" in study["letters_conditional_stabilised"]["scores_fp32"]
    assert not list((tmp_path / "models").glob("*int8*")), "int8 graphs are a study, not shipped"
