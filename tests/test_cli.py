"""fontgen and drumgen: outputs written, and every bad input a one-line error with no partial file."""
from __future__ import annotations

import json
import shutil

import mido
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tiny_runs import exported_models

from edgegen.cli.drumgen import main as drumgen
from edgegen.cli.fontgen import main as fontgen


@pytest.fixture
def models(tmp_path, monkeypatch):
    """A private copy of the tiny models, selected through EDGEGEN_MODELS like a user would."""
    folder = shutil.copytree(exported_models()[1], tmp_path / "models")
    monkeypatch.setenv("EDGEGEN_MODELS", str(folder))
    return folder


@pytest.fixture
def out(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def run(command, args):
    return CliRunner().invoke(command, [str(a) for a in args])


def assert_clean_error(result, *fragments, folder=None):
    """Non-zero exit, an `Error:` line naming the problem, no traceback, and no file left behind."""
    assert result.exit_code != 0, result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1, result.output
    for fragment in fragments:
        assert fragment in error_lines[0], result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if folder is not None:
        assert list(folder.iterdir()) == [], "a failed command must not leave files"


# ----------------------------------------------------------------------------- fontgen: happy paths


def test_render_writes_a_black_on_white_png(models, out):
    result = run(fontgen, ["render", "--letter", "Q", "--seed", 3, "--scale", 2, "--out", out / "q.png"])
    assert result.exit_code == 0, result.output
    pixels = np.asarray(Image.open(out / "q.png"))
    assert pixels.shape == (56, 56) and pixels.dtype == np.uint8
    inverted = run(fontgen, ["render", "--letter", "Q", "--seed", 3, "--scale", 2, "--invert", "--out", out / "i.png"])
    assert inverted.exit_code == 0
    assert np.array_equal(255 - pixels, np.asarray(Image.open(out / "i.png")))


def test_word_alphabet_interpolate_sample_and_models(models, out):
    assert run(fontgen, ["word", "HI YOU", "--out", out / "w.png"]).exit_code == 0
    assert np.asarray(Image.open(out / "w.png")).shape == (28, 6 * 28)
    assert run(fontgen, ["alphabet", "--columns", 13, "--out", out / "a.png"]).exit_code == 0
    assert np.asarray(Image.open(out / "a.png")).shape == (2 * 28 + 2, 13 * 28 + 12 * 2)
    assert run(fontgen, ["interpolate", "--from", "O", "--to", "Q", "--steps", 4, "--out", out / "i.png"]).exit_code == 0
    assert run(fontgen, ["sample", "--n", 50, "--model", "letters_vanilla", "--out", out / "s.npy"]).exit_code == 0
    samples = np.load(out / "s.npy")
    assert samples.shape == (50, 28, 28) and samples.dtype == np.float32
    listing = run(fontgen, ["models"])
    assert listing.exit_code == 0 and "letters_conditional_stabilised" in listing.output and "(default)" in listing.output


def test_help_explains_with_examples():
    for command, sub in ((fontgen, None), (fontgen, "render"), (fontgen, "word"), (drumgen, None),
                         (drumgen, "sample"), (drumgen, "transfer"), (drumgen, "show")):
        result = run(command, [sub, "--help"] if sub else ["--help"])
        assert result.exit_code == 0 and "Example" in result.output


# ----------------------------------------------------------------------------- fontgen: bad input


def test_unknown_letter(models, out):
    assert_clean_error(run(fontgen, ["render", "--letter", "7", "--out", out / "x.png"]), "not a letter", folder=out)


def test_unknown_word_character(models, out):
    assert_clean_error(run(fontgen, ["word", "HI!", "--out", out / "x.png"]), "'!'", folder=out)


def test_unknown_model(models, out):
    assert_clean_error(run(fontgen, ["render", "--letter", "A", "--model", "letters_nope", "--out", out / "x.png"]),
                       "letters_nope", "not found", folder=out)


def test_missing_sidecar(models, out):
    (models / "letters_conditional_stabilised.onnx.json").unlink()
    (models / "letters_vanilla.onnx.json").unlink()
    assert_clean_error(run(fontgen, ["render", "--letter", "A", "--model", "letters_vanilla", "--out", out / "x.png"]),
                       "missing sidecar", "letters_vanilla.onnx.json", folder=out)


def test_corrupt_sidecar(models, out):
    (models / "letters_conditional_stabilised.onnx.json").write_text("{oops")
    assert_clean_error(run(fontgen, ["render", "--letter", "A", "--model", "letters_conditional_stabilised",
                                     "--out", out / "x.png"]),
                       "corrupt sidecar", "letters_conditional_stabilised.onnx.json", folder=out)


def test_sha256_mismatch(models, out):
    with open(models / "letters_conditional_stabilised.onnx", "ab") as handle:
        handle.write(b"\0")
    assert_clean_error(run(fontgen, ["render", "--letter", "A", "--out", out / "x.png"]),
                       "sha256 mismatch", "letters_conditional_stabilised.onnx", folder=out)


def test_corrupt_model(models, out):
    from edgegen.runtime.onnx_model import sha256_file

    path = models / "letters_conditional_stabilised.onnx"
    path.write_bytes(b"\x08\x07garbage")
    sidecar = models / "letters_conditional_stabilised.onnx.json"
    data = json.loads(sidecar.read_text())
    data["onnx_sha256"] = sha256_file(path)
    sidecar.write_text(json.dumps(data))
    assert_clean_error(run(fontgen, ["render", "--letter", "A", "--out", out / "x.png"]),
                       "corrupt model file", folder=out)


def test_unwritable_output(models, tmp_path):
    assert_clean_error(run(fontgen, ["render", "--letter", "A", "--out", tmp_path / "no" / "such" / "q.png"]),
                       "does not exist")


def test_failed_write_leaves_no_partial_file(models, out, monkeypatch):
    from PIL import Image as PILImage

    def broken_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as handle:
            handle.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(PILImage.Image, "save", broken_save)
    assert_clean_error(run(fontgen, ["render", "--letter", "A", "--out", out / "q.png"]), "disk full", folder=out)


# ----------------------------------------------------------------------------- drumgen


def test_drum_sample_writes_midi_and_piano_roll(models, out):
    result = run(drumgen, ["sample", "--style", "jazz", "--bars", 4, "--seed", 1, "--out", out / "g.mid",
                           "--png", out / "roll.png"])
    assert result.exit_code == 0, result.output
    from edgegen.runtime.drum_generator import DrumGenerator
    from edgegen.runtime.midi_io import read_grids

    expected = DrumGenerator(models).sample("jazz", bars=4, seed=1)
    assert np.array_equal(read_grids(out / "g.mid"), expected)
    assert all(msg.channel == 9 for msg in mido.MidiFile(out / "g.mid") if msg.type == "note_on")
    from edgegen.runtime.drum_render import LABEL_WIDTH

    assert Image.open(out / "roll.png").size == (LABEL_WIDTH + 4 * 16 * 12, 9 * 12)


def test_drum_sample_modes(models, out):
    for extra in (["--evolve", 2], ["--morph-to", "latin"], ["--complexity", 0.5, "--humanize", 0.4, "--swing", 0.3]):
        result = run(drumgen, ["sample", "--style", "rock", "--bars", 4, "--seed", 2, *extra, "--out", out / "x.mid"])
        assert result.exit_code == 0, result.output
    blend = run(drumgen, ["sample", "--blend", "jazz=0.7,latin=0.3", "--bars", 2, "--seed", 2])
    assert blend.exit_code == 0 and blend.output.count("kick") == 2


def test_drum_transfer_and_show(models, out):
    assert run(drumgen, ["sample", "--style", "rock", "--bars", 2, "--seed", 5, "--out", out / "in.mid"]).exit_code == 0
    result = run(drumgen, ["transfer", out / "in.mid", "--to", "latin", "--out", out / "latin.mid"])
    assert result.exit_code == 0, result.output
    for mode in ("shift", "replace"):
        assert run(drumgen, ["transfer", out / "in.mid", "--to", "jazz", "--mode", mode,
                             "--out", out / f"{mode}.mid"]).exit_code == 0
    shown = run(drumgen, ["show", out / "latin.mid"])
    assert shown.exit_code == 0 and shown.output.count("snare") == 2
    assert run(drumgen, ["transfer", out / "in.mid", "--to", "jazz", "--keep", 1,
                         "--out", out / "kept.mid"]).exit_code == 0
    from edgegen.runtime.midi_io import read_midi
    source, kept = read_midi(out / "in.mid").grids, read_midi(out / "kept.mid").grids
    assert (kept[..., :2] >= source[..., :2]).all()  # --keep 1: every kick and snare onset stays
    generated = run(drumgen, ["show", "--style", "jazz", "--seed", 1])
    assert generated.exit_code == 0 and "jazz, seed 1" in generated.output


def test_drum_unknown_style(models, out):
    assert_clean_error(run(drumgen, ["sample", "--style", "polka", "--out", out / "x.mid"]), "polka", folder=out)
    assert_clean_error(run(drumgen, ["sample", "--blend", "polka=1", "--out", out / "x.mid"]),
                       "unknown style 'polka'", folder=out)
    assert_clean_error(run(drumgen, ["transfer", "x.mid", "--to", "polka", "--out", out / "x.mid"]), "polka", folder=out)


def test_drum_corrupt_and_missing_midi(models, tmp_path, out):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd garbage")
    assert_clean_error(run(drumgen, ["transfer", bad, "--to", "jazz", "--out", out / "x.mid"]), "bad.mid", folder=out)
    assert_clean_error(run(drumgen, ["show", tmp_path / "none.mid"]), "none.mid")


def test_drum_missing_and_mismatched_models(models, out):
    (models / "drum_decoder.onnx.json").unlink()
    assert_clean_error(run(drumgen, ["sample", "--style", "rock", "--out", out / "x.mid"]),
                       "missing sidecar", "drum_decoder.onnx.json", folder=out)
    (models / "drum_decoder.onnx").unlink()
    assert_clean_error(run(drumgen, ["sample", "--style", "rock", "--out", out / "x.mid"]),
                       "drum_decoder", "not found", folder=out)


def test_drum_unwritable_output_and_bad_note_map(models, tmp_path, out):
    assert_clean_error(run(drumgen, ["sample", "--style", "rock", "--out", tmp_path / "nope" / "x.mid"]),
                       "does not exist")
    (tmp_path / "map.json").write_text('{"cowbell": 56}')
    assert_clean_error(run(drumgen, ["sample", "--style", "rock", "--note-map", tmp_path / "map.json",
                                     "--out", out / "x.mid"]), "cowbell", folder=out)


# ----------------------------------------------------------------------------- drumgen: one set of options


def test_sample_transfer_and_play_share_one_definition_of_their_midi_options():
    """The same flags, ranges and help on every command that turns bars into MIDI (they once drifted apart)."""
    def midi_options(name):
        params = {p.name: p for p in drumgen.commands[name].params}
        return [(params[n].opts, repr(params[n].type), params[n].help) for n in
                ("bpm", "swing", "humanize", "note_map", "models_dir")]

    assert midi_options("sample") == midi_options("transfer") == midi_options("play")
    bpm = {p.name: p for p in drumgen.commands["play"].params}["bpm"]
    assert (bpm.type.min, bpm.type.max) == (20, 300)


BAD_BPM_COMMANDS = {
    "sample": ["sample", "--style", "rock"],
    "transfer": ["transfer", "in.mid", "--to", "jazz", "--out", "x.mid"],
    "play": ["play", "--virtual", "x", "--bars", "1"],
}


@pytest.mark.parametrize("command", sorted(BAD_BPM_COMMANDS))
@pytest.mark.parametrize("bpm", ["350", "19", "nan", "inf"])
def test_bpm_out_of_range_or_not_finite_is_a_usage_error_on_every_command(models, command, bpm):
    result = run(drumgen, [*BAD_BPM_COMMANDS[command], "--bpm", bpm])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--bpm'" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("option", ["--swing", "--humanize", "--complexity", "--temperature"])
def test_sample_refuses_nan(models, out, option):
    """click's FloatRange lets nan past its bounds; ours does not."""
    result = run(drumgen, ["sample", "--style", "rock", option, "nan", "--out", out / "x.mid"])
    assert result.exit_code == 2 and f"Invalid value for '{option}" in result.output and "finite" in result.output
    assert list(out.iterdir()) == []


def test_finite_float_range_refuses_nan_and_inf_even_without_bounds():
    import click

    from edgegen.cli.options import FiniteFloatRange

    assert FiniteFloatRange(min=0).convert("1.5", None, None) == 1.5
    for value in ("nan", "inf", float("nan")):
        with pytest.raises(click.BadParameter, match="not a finite number"):
            FiniteFloatRange(min=0).convert(value, None, None)


@pytest.mark.parametrize("spelling", ["--note-map", "--map"])
def test_sample_and_transfer_take_the_note_map_under_both_names(models, tmp_path, out, spelling):
    from edgegen.runtime.drum_spec import INSTRUMENTS

    note_map = tmp_path / "machine.json"
    note_map.write_text(json.dumps({name: 60 + i for i, name in enumerate(INSTRUMENTS)}))
    mapped = set(range(60, 60 + len(INSTRUMENTS)))
    assert run(drumgen, ["sample", "--style", "rock", "--bars", 4, "--seed", 1, "--out", out / "gm.mid"]).exit_code == 0
    for args in (["sample", "--style", "rock", "--bars", 4, "--seed", 1], ["transfer", out / "gm.mid", "--to", "jazz"]):
        result = run(drumgen, [*args, spelling, note_map, "--out", out / "mapped.mid"])
        assert result.exit_code == 0, result.output
        notes = {msg.note for msg in mido.MidiFile(out / "mapped.mid") if msg.type == "note_on"}
        assert notes and notes <= mapped, f"{args[0]} {spelling}: {notes}"
