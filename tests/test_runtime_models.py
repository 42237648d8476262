"""The runtime refuses a missing, corrupt or mismatched model/sidecar pair with a message naming the file."""
from __future__ import annotations

import json
import shutil
import time

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
    with pytest.raises(ModelError, match=r"letters_vanilla\.onnx\.json: inputs are \['noise'\], a letter_generator has \['z'\]"):
        OnnxModel.by_name(NAME, models)


def test_shape_mismatch_is_named(models):
    edit_sidecar(models, lambda d: d["outputs"][0].update(shape=["batch", 1, 32, 32]))
    with pytest.raises(ModelError, match=r"letters_vanilla\.onnx\.json: shape of image is \['batch', 1, 32, 32\]"):
        OnnxModel.by_name(NAME, models)


def test_a_graph_that_is_not_the_one_the_sidecar_describes_is_named(models):
    """A sidecar consistent in itself, beside another graph whose sha256 it was given."""
    graph = models / f"{NAME}.onnx"
    shutil.copy(models / "letter_classifier.onnx", graph)
    edit_sidecar(models, lambda d: d.update(onnx_sha256=sha256_file(graph)))
    with pytest.raises(ModelError, match=r"inputs of .*letters_vanilla\.onnx are \['image'\], sidecar says \['z'\]"):
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
    assert generator.sample("rock", bars=8, seed=3).equals(before)


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


# ----------------------------------------------------------------------------- sidecar schema and graph checks


def _set(path, value):
    """A change to a sidecar: set the (nested) key ``path`` ("latent.z_dim", "inputs.0.shape") to ``value``."""
    def change(data):
        *parents, last = path.split(".")
        for key in parents:
            data = data[int(key)] if isinstance(data, list) else data[key]
        data[int(last) if isinstance(data, list) else last] = value
    return change


SIDECAR_DAMAGE = {  # change -> what the one-line error says after "corrupt sidecar .../letters_vanilla.onnx.json: "
    "latent {}": (_set("latent", {}), "a letter_generator needs latent 'z_dim', the sidecar's latent is {}"),
    "latent []": (_set("latent", []), "field 'latent' must be an object, got []"),
    "z_dim 1e12": (_set("latent.z_dim", 1e12), "latent 'z_dim' must be an integer from 1 to 4096, got 1000000000000.0"),
    "z_dim string": (_set("latent.z_dim", "8"), "latent 'z_dim' must be an integer from 1 to 4096, got '8'"),
    "z_dim true": (_set("latent.z_dim", True), "latent 'z_dim' must be an integer from 1 to 4096, got True"),
    "z_dim not the input's": (_set("latent.z_dim", 9),
                              "shape of z is ['batch', 8], a letter_generator with latent {'z_dim': 9} has ['batch', 9]"),
    "conditional lie": (_set("conditional", True),
                        "inputs are ['z'], a letter_generator has ['z', 'onehot'] (the sidecar says conditional: true)"),
    "conditional yes": (_set("conditional", "yes"), "field 'conditional' must be true or false, got 'yes'"),
    "unknown kind": (_set("kind", "letter_painter"), "unknown kind 'letter_painter'"),
    "inputs not a list": (_set("inputs", "z"), "field 'inputs' must be a list, got 'z'"),
    "float dimension": (_set("inputs.0.shape", ["batch", 8.5]), "each of 'inputs' must be {name, shape"),
    "opset string": (_set("opset", "17"), "field 'opset' must be an integer, got '17'"),
    "sha256 not hex": (_set("onnx_sha256", "z" * 64), "field 'onnx_sha256' must be 64 hex digits"),
    "priors on a letter model": (_set("style_prior_mu", [[0.0]]), "style_prior_mu must be [0 styles, z_high None]"),
}


@pytest.mark.parametrize("case", SIDECAR_DAMAGE)
def test_a_sidecar_off_its_schema_is_one_line_naming_it(models, case):
    change, problem = SIDECAR_DAMAGE[case]
    edit_sidecar(models, change)
    with pytest.raises(ModelError) as info:
        OnnxModel.by_name(NAME, models)
    message = str(info.value)
    assert message.startswith(f"corrupt sidecar {sidecar_of(models)}: {problem}"), message
    assert "\n" not in message


DRUM_DAMAGE = {
    "NaN prior": ("style_prior_mu.0.0", float("nan"), "NaN is not a number JSON allows"),
    "infinite prior": ("style_prior_logvar.1.2", float("inf"), "Infinity is not a number JSON allows"),
    "huge prior": ("style_prior_mu.0.0", 1e30, "style_prior_mu must be rows of finite numbers within +-100"),
    "short prior row": ("style_prior_mu.2", [0.0, 1.0], "style_prior_mu must be [5 styles, z_high 4], got 5 rows of [2, 4]"),
    "styles twice": ("styles", ["rock", "rock", "jazz", "latin", "hiphop"], "field 'styles' must be distinct style names"),
    "z_low 0": ("latent.z_low", 0, "latent 'z_low' must be an integer from 1 to 4096, got 0"),
}


@pytest.mark.parametrize("case", DRUM_DAMAGE)
def test_drum_sidecars_with_bad_priors_are_refused_at_load(models, case):
    """A NaN style prior would decode into empty bars (exit 0, a MIDI file of no notes)."""
    path, value, problem = DRUM_DAMAGE[case]
    edit_sidecar(models, _set(path, value), name="drum_decoder")  # json.dumps writes NaN and Infinity as such
    with pytest.raises(ModelError) as info:
        DrumGenerator(models)
    assert str(info.value).startswith(f"corrupt sidecar {sidecar_of(models, 'drum_decoder')}: {problem}"), info.value


def test_a_deeply_nested_or_huge_sidecar_is_refused_before_parsing(models):
    text = sidecar_of(models).read_text()
    sidecar_of(models).write_text(text[:-2] + ', "extra": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ModelError, match=r"letters_vanilla\.onnx\.json: JSON nested more than 32 levels deep$"):
        OnnxModel.by_name(NAME, models)
    sidecar_of(models).write_text(text[:-2] + ', "extra": "' + "x" * 2**20 + '"}')
    with pytest.raises(ModelError, match=r"letters_vanilla\.onnx\.json: [\d,]+ bytes is more than the 1,048,576 allowed"):
        OnnxModel.by_name(NAME, models)
    sidecar_of(models).write_text('"' + '\\"' * 500_000)  # 1 MB of one unterminated string
    started = time.process_time()
    with pytest.raises(ModelError, match=r"letters_vanilla\.onnx\.json: not valid JSON: unterminated string"):
        OnnxModel.by_name(NAME, models)
    assert time.process_time() - started < 2.0  # a quadratic scan of it takes about an hour


def test_the_graph_decides_when_the_sidecar_is_consistent_but_wrong(models):
    """Latent size, or conditional: true with its onehot input, changed together: only the graph knows."""
    edit_sidecar(models, lambda d: (d["latent"].update(z_dim=9), d["inputs"][0].update(shape=["batch", 9])))
    with pytest.raises(ModelError, match=r"shape of z in .*letters_vanilla\.onnx is \['batch', 8\], sidecar says \['batch', 9\]"):
        OnnxModel.by_name(NAME, models)
    edit_sidecar(models, lambda d: (d["latent"].update(z_dim=8), d["inputs"][0].update(shape=["batch", 8]),
                                    d.update(conditional=True),
                                    d["inputs"].append({"name": "onehot", "shape": ["batch", 26], "dtype": "float32"})))
    with pytest.raises(ModelError, match=r"inputs of .*letters_vanilla\.onnx are \['z'\], sidecar says \['z', 'onehot'\]"):
        OnnxModel.by_name(NAME, models)
    conditional = "letters_conditional_stabilised"
    edit_sidecar(models, lambda d: (d.update(conditional=False), d["inputs"].pop()), name=conditional)
    with pytest.raises(ModelError, match=r"inputs of .*letters_conditional_stabilised\.onnx are \['z', 'onehot'\], "
                                         r"sidecar says \['z'\]"):
        OnnxModel.by_name(conditional, models)


def test_render_with_a_lying_conditional_flag_is_an_error_not_a_random_letter(models, tmp_path):
    from click.testing import CliRunner

    from edgegen.cli.fontgen import main
    from edgegen.runtime.font_generator import FontGenerator

    edit_sidecar(models, lambda d: d.update(conditional=True))
    with pytest.raises(ModelError, match="conditional: true"):
        FontGenerator(NAME, models)
    out = tmp_path / "q.png"
    result = CliRunner().invoke(main, ["render", "--letter", "Q", "--model", NAME, "--models", str(models),
                                       "--out", str(out)])
    assert result.exit_code == 1 and not out.exists()
    assert result.output.startswith("Error: corrupt sidecar") and result.output.count("\n") == 1, result.output


def test_a_graph_with_a_fixed_batch_axis_is_refused(models):
    import onnx

    graph = models / f"{NAME}.onnx"
    proto = onnx.load(graph)
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(proto, graph)
    edit_sidecar(models, lambda d: d.update(onnx_sha256=sha256_file(graph)))
    with pytest.raises(ModelError, match=r"shape of z in .*letters_vanilla\.onnx is \[1, 8\], sidecar says \['batch', 8\]"):
        OnnxModel.by_name(NAME, models)


# ----------------------------------------------------------------------------- one file, no external data


def _externalise(models, name, convert_attribute=False):
    """Move the graph's tensors into `weights.bin` beside it (what onnx does for models over 2 GB)
    and give the sidecar the new .onnx's sha256, as a careless or hostile exporter would."""
    import onnx
    from onnx.external_data_helper import convert_model_to_external_data

    graph = models / f"{name}.onnx"
    proto = onnx.load(graph)
    convert_model_to_external_data(proto, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0,
                                   convert_attribute=convert_attribute)
    onnx.save(proto, graph)
    edit_sidecar(models, lambda d: d.update(onnx_sha256=sha256_file(graph)), name=name)
    return graph


@pytest.mark.parametrize("convert_attribute", [False, True])
def test_a_model_with_external_data_is_refused(models, convert_attribute):
    """The sha256 covers the .onnx only: weights beside it could be swapped unnoticed."""
    graph = _externalise(models, "drum_prior_low", convert_attribute)
    assert (models / "weights.bin").exists() and graph.stat().st_size < 20_000
    with pytest.raises(ModelError) as info:
        OnnxModel.by_name("drum_prior_low", models)
    assert str(info.value).startswith(f"{graph} keeps weights in external data (")
    assert "-> weights.bin" in str(info.value) and "one .onnx file" in str(info.value)


def test_external_data_is_found_without_the_onnx_package(models):
    """The scan reads protobuf wire format: every externalised tensor, constants in attributes included."""
    import onnx

    from edgegen.runtime.onnx_model import external_data

    for name in ("letters_vanilla", "drum_decoder"):
        assert external_data((models / f"{name}.onnx").read_bytes()) == []
    graph = _externalise(models, "letters_vanilla", convert_attribute=True)
    proto = onnx.load(graph, load_external_data=False)
    expected = {t.name for t in proto.graph.initializer} | {
        a.t.name or "?" for n in proto.graph.node for a in n.attribute if a.HasField("t") and a.t.data_location == 1}
    assert "?" in expected  # the unnamed tensor of a Constant node, stored in an attribute
    found = external_data(graph.read_bytes())
    assert {entry.split(" -> ")[0] for entry in found} == expected and len(found) == len(expected)
    with pytest.raises(ValueError):
        external_data(graph.read_bytes()[:-7])


# ----------------------------------------------------------------------------- listing what will load


def test_inspect_models_says_which_models_load_and_why_others_do_not(models):
    from edgegen.runtime.onnx_model import inspect_models

    truncated = models / "letters_vanilla.onnx"
    truncated.write_bytes(truncated.read_bytes()[:1000])
    edit_sidecar(models, lambda d: d.update(conditional=False), name="letters_conditional_stabilised")
    edit_sidecar(models, lambda d: d.update(latent=[]), name="letters_infogan_balanced")
    edit_sidecar(models, lambda d: d.update(group="another-checkpoint"), name="drum_prior_low")
    report = dict(inspect_models(models))
    assert sorted(report) == available_models(models)
    problems = {name: str(value) for name, value in report.items() if isinstance(value, ModelError)}
    assert problems.keys() == {"letters_vanilla", "letters_conditional_stabilised", "letters_infogan_balanced",
                               "drum_prior_low"}
    assert problems["letters_vanilla"].startswith("sha256 mismatch for ")
    assert "conditional: false" in problems["letters_conditional_stabilised"]
    assert "field 'latent' must be an object" in problems["letters_infogan_balanced"]
    assert "different training" in problems["drum_prior_low"]
    assert all(isinstance(report[name], ModelSpec) for name in ("drum_decoder", "drum_encoder", "letter_classifier"))


def test_fontgen_models_never_offers_a_damaged_model_as_usable_or_default(models):
    from click.testing import CliRunner

    from edgegen.cli.fontgen import main
    from edgegen.runtime.font_generator import DEFAULT_LETTER_MODEL

    default = models / f"{DEFAULT_LETTER_MODEL}.onnx"
    default.write_bytes(default.read_bytes()[:-100])  # truncated
    edit_sidecar(models, lambda d: d.update(latent=[]))  # an AttributeError for a careless reader
    result = CliRunner().invoke(main, ["models", "--models", str(models)])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert "UNUSABLE: sha256 mismatch" in lines[DEFAULT_LETTER_MODEL]
    assert "UNUSABLE: corrupt sidecar" in lines[NAME]
    assert "(default)" not in result.output
    assert "UNUSABLE" not in lines["letters_infogan_balanced"] and "UNUSABLE" not in lines["drum_decoder"]
