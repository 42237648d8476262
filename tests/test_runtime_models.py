"""The runtime refuses a missing, corrupt or mismatched model/sidecar pair with a message naming the file."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tiny_runs import exported_models

from edgegen.runtime.drum_generator import DrumGenerator
from edgegen.runtime.onnx_model import (
    FORMAT_VERSION, ModelError, ModelSpec, OnnxModel, available_models, models_dir, sha256_file,
)

NAME = "letters_vanilla"


@pytest.fixture
def models(tmp_path):
    """A private copy of the tiny exported models that a test may damage."""
    _, source = exported_models()
    return shutil.copytree(source, tmp_path / "models")


def sidecar_of(models, name=NAME):
    return models / f"{name}.onnx.json"


def edit_sidecar(models, change, name=NAME):
    path = sidecar_of(models, name)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_a_good_pair_loads_into_a_typed_spec_and_runs(models):
    model = OnnxModel.by_name(NAME, models)
    assert isinstance(model.spec, ModelSpec)
    assert model.spec.kind == "letter_generator" and not model.spec.conditional
    z = np.zeros((3, model.spec.latent["z_dim"]), np.float32)
    (image,) = model.run(z=z)
    assert image.shape == (3, 1, 28, 28) and image.dtype == np.float32


def test_one_intra_op_thread(models):
    model = OnnxModel.by_name(NAME, models)
    assert model.session.get_session_options().intra_op_num_threads == 1


def test_missing_model_names_the_folder_and_lists_what_exists(models):
    with pytest.raises(ModelError, match=r"'nope' not found in .*models.*letters_vanilla"):
        OnnxModel.by_name("nope", models)


def test_missing_sidecar_is_named(models):
    sidecar_of(models).unlink()
    with pytest.raises(ModelError, match=r"missing sidecar .*letters_vanilla\.onnx\.json"):
        OnnxModel.by_name(NAME, models)


def test_missing_onnx_file_is_named(models):
    with pytest.raises(ModelError, match=r"missing model file .*ghost\.onnx"):
        OnnxModel(models / "ghost.onnx")


def test_corrupt_sidecar_json_is_named(models):
    sidecar_of(models).write_text('{"format_version": 1, "name": ')
    with pytest.raises(ModelError, match=r"corrupt sidecar .*letters_vanilla\.onnx\.json"):
        OnnxModel.by_name(NAME, models)


def test_sidecar_missing_a_field_is_named(models):
    edit_sidecar(models, lambda d: d.pop("onnx_sha256"))
    with pytest.raises(ModelError, match=r"corrupt sidecar .*letters_vanilla\.onnx\.json.*onnx_sha256"):
        OnnxModel.by_name(NAME, models)


def test_wrong_format_version_is_named(models):
    edit_sidecar(models, lambda d: d.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ModelError, match=r"letters_vanilla\.onnx\.json has format version"):
        OnnxModel.by_name(NAME, models)


def test_sha256_mismatch_is_named(models):
    # a sidecar moved next to another model: it describes different bytes
    shutil.copy(models / "letters_conditional_stabilised.onnx", models / f"{NAME}.onnx")
    with pytest.raises(ModelError, match=r"sha256 mismatch for .*letters_vanilla\.onnx"):
        OnnxModel.by_name(NAME, models)


def test_corrupt_onnx_with_a_matching_sha_is_named(models):
    path = models / f"{NAME}.onnx"
    path.write_bytes(b"not an onnx graph at all")
    edit_sidecar(models, lambda d: d.update(onnx_sha256=sha256_file(path)))
    with pytest.raises(ModelError, match=r"corrupt model file .*letters_vanilla\.onnx"):
        OnnxModel.by_name(NAME, models)


def test_input_name_mismatch_is_named(models):
    edit_sidecar(models, lambda d: d["inputs"][0].update(name="noise"))
    with pytest.raises(ModelError, match=r"inputs of .*letters_vanilla\.onnx are \['z'\]"):
        OnnxModel.by_name(NAME, models)


def test_shape_mismatch_is_named(models):
    edit_sidecar(models, lambda d: d["outputs"][0].update(shape=["batch", 1, 32, 32]))
    with pytest.raises(ModelError, match=r"shape of image in .*letters_vanilla\.onnx"):
        OnnxModel.by_name(NAME, models)


def test_drum_graphs_from_different_trainings_are_refused(models):
    edit_sidecar(models, lambda d: d.update(group="another-checkpoint"), name="drum_prior_low")
    with pytest.raises(ModelError, match="different trainings"):
        DrumGenerator(models)


def test_model_folder_comes_from_argument_then_environment_then_package(models, monkeypatch):
    from edgegen.models import MODELS_DIR

    monkeypatch.delenv("EDGEGEN_MODELS", raising=False)
    assert models_dir() == MODELS_DIR
    monkeypatch.setenv("EDGEGEN_MODELS", str(models))
    assert models_dir() == models
    assert NAME in available_models()
    assert models_dir(models / "other") == models / "other"


def test_sampling_defaults_come_from_drum_controls_not_the_sidecar(models):
    """A sidecar's `controls` entry (older exports wrote one) is ignored: drum_controls alone owns the temperatures."""
    before = DrumGenerator(models).sample("rock", bars=8, seed=3)
    for name in ("drum_decoder", "drum_prior_low", "drum_encoder"):
        edit_sidecar(models, lambda d: d.update(controls={"temperature_high": 9.0, "temperature_low": 9.0}),
                     name=name)
    generator = DrumGenerator(models)
    assert not hasattr(generator.model.spec, "controls")
    assert np.array_equal(generator.sample("rock", bars=8, seed=3), before)


def test_sidecars_with_keys_the_runtime_does_not_read_still_load(models):
    """ModelSpec reads the fields it knows: the bundled sidecars' `controls` (no longer a field) or a newer key
    does not make a sidecar corrupt."""
    edit_sidecar(models, lambda d: d.update(controls={"temperature_high": 0.3}, written_by_a_newer_export=1),
                 name="drum_decoder")
    model = OnnxModel.by_name("drum_decoder", models)
    assert model.spec.kind == "drum_decoder" and not hasattr(model.spec, "controls")


def test_first_line_of_an_error():
    from edgegen.runtime.errors import first_line

    assert first_line(ValueError("no such style\n  detail\n")) == "no such style"
    assert first_line(ValueError("  \n")) == "ValueError"
    assert first_line(OSError()) == "OSError"
