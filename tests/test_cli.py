"""fontgen and drumgen: outputs written, and every bad input a one-line error with no partial file."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys

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
    with open(models / "letters_style.onnx", "ab") as handle:  # the default model
        handle.write(b"\0")
    assert_clean_error(run(fontgen, ["render", "--letter", "A", "--out", out / "x.png"]),
                       "sha256 mismatch", "letters_style.onnx", folder=out)


def test_corrupt_model(models, out):
    from edgegen.runtime.onnx_model import sha256_file

    path = models / "letters_style.onnx"  # the default model
    path.write_bytes(b"\x08\x07garbage")
    sidecar = models / "letters_style.onnx.json"
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
    assert np.array_equal(read_grids(out / "g.mid"), expected.hits)
    assert all(msg.channel == 9 for msg in mido.MidiFile(out / "g.mid") if msg.type == "note_on")
    from edgegen.runtime.drum_render import LABEL_WIDTH

    assert Image.open(out / "roll.png").size == (LABEL_WIDTH + 4 * 16 * 12, 9 * 12)


def test_drum_sample_plays_learned_velocities_and_offsets_and_quantize_puts_them_on_the_grid(models, out):
    from edgegen.runtime.drum_generator import DrumGenerator
    from edgegen.runtime.midi_io import midi_velocities, read_midi

    for name, extra in (("feel.mid", []), ("grid.mid", ["--quantize"])):
        result = run(drumgen, ["sample", "--style", "latin", "--bars", 4, "--seed", 3, *extra, "--out", out / name])
        assert result.exit_code == 0, result.output
    expected = DrumGenerator(models).sample("latin", bars=4, seed=3)
    feel, grid = read_midi(out / "feel.mid"), read_midi(out / "grid.mid")
    assert np.array_equal(feel.grids, expected.hits) and np.array_equal(grid.grids, expected.hits)
    assert np.array_equal(feel.velocities, midi_velocities(expected.velocities))
    assert np.array_equal(grid.velocities, feel.velocities) and len(np.unique(feel.velocities[feel.grids])) > 3
    inside = expected.offsets.copy()
    inside[:, 0] = np.maximum(inside[:, 0], 0)  # early hits on a bar's first step are held at its start
    assert np.abs(feel.offsets - np.clip(inside, -0.49, 0.49)).max() <= 0.5 / 120 + 1e-6
    assert np.abs(feel.offsets[feel.grids]).max() > 0.02 and not grid.offsets.any()
    ticks = [msg.time for msg in mido.MidiFile(out / "grid.mid").tracks[0]]
    assert np.all(np.cumsum(ticks)[[m.type == "note_on" for m in mido.MidiFile(out / "grid.mid").tracks[0]]]
                  % 120 == 0)  # every note-on on a 16th (480 ticks per beat)
    transfer = run(drumgen, ["transfer", out / "feel.mid", "--to", "rock", "--quantize", "--out", out / "t.mid"])
    assert transfer.exit_code == 0, transfer.output
    assert not read_midi(out / "t.mid").offsets.any()


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


# ----------------------------------------------------------------------------- output paths


def test_a_fifo_or_device_at_an_output_path_is_refused_and_kept(models, tmp_path, out):
    fifo_png, fifo_npy, null = out / "q.png", out / "s.npy", out / "null.mid"
    os.mkfifo(fifo_png)
    os.mkfifo(fifo_npy)
    null.symlink_to("/dev/null")
    fifo = "it is a FIFO (named pipe), not a regular file"
    device = "it links to /dev/null, which is a character device, not a regular file"
    assert_clean_error(run(fontgen, ["render", "--letter", "Q", "--out", fifo_png]), f"q.png: {fifo}")
    assert_clean_error(run(fontgen, ["sample", "--n", 4, "--out", fifo_npy]), f"s.npy: {fifo}")
    assert_clean_error(run(drumgen, ["sample", "--style", "rock", "--out", null]), device)
    assert run(drumgen, ["sample", "--style", "rock", "--out", tmp_path / "in.mid"]).exit_code == 0
    assert_clean_error(run(drumgen, ["transfer", tmp_path / "in.mid", "--to", "jazz", "--out", out / "x.mid",
                                     "--png", fifo_png]), fifo)
    assert stat.S_ISFIFO(os.lstat(fifo_png).st_mode) and stat.S_ISFIFO(os.lstat(fifo_npy).st_mode)
    assert null.is_symlink() and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert sorted(p.name for p in out.iterdir()) == ["null.mid", "q.png", "s.npy"]


def test_an_existing_outputs_mode_and_a_symlink_to_it_are_kept(models, tmp_path, out):
    target = tmp_path / "groove.mid"
    target.write_bytes(b"old")
    target.chmod(0o640)
    (out / "link.mid").symlink_to(target)
    assert run(drumgen, ["sample", "--style", "rock", "--seed", 1, "--out", out / "link.mid"]).exit_code == 0
    assert (out / "link.mid").is_symlink() and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert mido.MidiFile(target).tracks  # the file the link points to got the MIDI


def test_drum_outputs_are_written_together_or_not_at_all(models, tmp_path, out, monkeypatch):
    sample = ["sample", "--style", "jazz", "--seed", 1, "--out", out / "a.mid"]
    assert_clean_error(run(drumgen, [*sample, "--png", out / "nodir" / "x.png"]), "nodir does not exist", folder=out)
    assert_clean_error(run(drumgen, [*sample, "--png", out / "a.mid"]), "a.mid is named as two outputs", folder=out)
    assert_clean_error(run(drumgen, [*sample, "--png", out / "sub" / ".." / "a.mid"]), folder=out)
    assert run(drumgen, ["sample", "--style", "rock", "--out", tmp_path / "in.mid"]).exit_code == 0
    transfer = ["transfer", tmp_path / "in.mid", "--to", "latin", "--out", out / "a.mid"]
    assert_clean_error(run(drumgen, [*transfer, "--png", out / "nodir" / "x.png"]), "nodir", folder=out)

    from PIL import Image as PILImage

    def broken_save(self, fp, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(PILImage.Image, "save", broken_save)
    assert_clean_error(run(drumgen, [*sample, "--png", out / "x.png"]), "disk full", folder=out)
    assert_clean_error(run(drumgen, [*transfer, "--png", out / "x.png"]), "disk full", folder=out)


SLOW_PNG = """
import sys, time
from PIL import Image
def slow_save(self, fp, *args, **kwargs):
    print("saving", flush=True)
    time.sleep(60)
Image.Image.save = slow_save
from edgegen.cli.drumgen import main
main(sys.argv[1:], prog_name="drumgen")
"""


def test_sighup_while_drumgen_writes_leaves_no_file(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    process = subprocess.Popen([sys.executable, "-c", SLOW_PNG, "sample", "--style", "rock", "--out",
                                str(out / "a.mid"), "--png", str(out / "a.png")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "saving\n", process.communicate(timeout=30)
    assert len(list(out.iterdir())) == 2, "the MIDI and the PNG are being written"
    process.send_signal(signal.SIGHUP)
    _, err = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGHUP, err
    assert list(out.iterdir()) == []


# ----------------------------------------------------------------------------- numbers and input files


@pytest.mark.parametrize("command, args", [
    (fontgen, ["render", "--letter", "Q", "--out", "x.png"]),
    (fontgen, ["sample", "--n", "2", "--out", "x.npy"]),
    (drumgen, ["sample", "--style", "rock"]),
    (drumgen, ["show", "--style", "rock"]),
    (drumgen, ["transfer", "in.mid", "--to", "jazz", "--out", "x.mid"]),
], ids=["render", "fontgen-sample", "drumgen-sample", "show", "transfer"])
def test_a_negative_seed_is_a_usage_error_that_names_seed(models, command, args):
    result = run(command, [*args, "--seed", "-1"])
    assert result.exit_code == 2 and "Invalid value for '--seed'" in result.output, result.output


def test_a_png_of_samples_is_limited_and_the_help_says_so(models, out):
    result = run(fontgen, ["sample", "--n", 20000, "--out", out / "x.png"])
    assert result.exit_code == 2 and "--n" in result.output and "at most 10,000" in result.output, result.output
    assert list(out.iterdir()) == []
    assert "at most 10,000" in run(fontgen, ["sample", "--help"]).output
    assert run(fontgen, ["sample", "--n", 4, "--out", out / "x.npy"]).exit_code == 0


def test_an_input_that_is_not_a_regular_file_says_so(models, tmp_path, out):
    fifo = tmp_path / "in.mid"
    os.mkfifo(fifo)
    for args in (["show", "/dev/zero"], ["show", fifo], ["transfer", fifo, "--to", "jazz", "--out", out / "x.mid"],
                 ["sample", "--style", "rock", "--note-map", fifo, "--out", out / "x.mid"]):
        result = run(drumgen, args)
        assert result.exit_code == 2 and "not a regular file" in result.output, result.output
        assert "no such file" not in result.output
    assert "'/dev/zero' is a character device, not a regular file" in run(drumgen, ["show", "/dev/zero"]).output
    assert list(out.iterdir()) == []


# ----------------------------------------------------------------------------- Ctrl-C and imports


def interrupted_import(*args, **kwargs):
    """What pybind11 (onnxruntime) makes of a Ctrl-C that lands while the module initialises."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as interrupt:
        raise ImportError("initialization failed") from interrupt


def raises(error):
    def fail(*args, **kwargs):
        raise error
    return fail


@pytest.mark.parametrize("failure, exit_code, message", [
    (interrupted_import, 130, None),
    (raises(KeyboardInterrupt()), 130, None),
    (raises(ModuleNotFoundError("No module named 'onnxruntime'", name="onnxruntime")), 1,
     "Error: missing dependency: No module named 'onnxruntime'"),
    (raises(ImportError("initialization failed", name="onnxruntime")), 1,
     "Error: could not load the library onnxruntime: initialization failed"),
], ids=["ctrl-c-inside-import", "ctrl-c", "module-missing", "module-broken"])
def test_ctrl_c_exits_quietly_and_only_a_missing_module_is_a_missing_dependency(models, out, monkeypatch, failure,
                                                                                   exit_code, message):
    monkeypatch.setattr("edgegen.cli.fontgen._generator", failure)
    result = run(fontgen, ["render", "--letter", "Q", "--out", out / "q.png"])
    assert result.exit_code == exit_code, result.output
    if message is None:
        assert result.output == ""
    else:
        assert result.output.strip() == message
    assert list(out.iterdir()) == []


CTRL_C_WHILE_IMPORTING = """
import builtins, os, signal, sys
real_import = builtins.__import__
def interrupting_import(name, *args, **kwargs):
    if name.startswith("onnxruntime"):
        os.kill(os.getpid(), signal.SIGINT)
    return real_import(name, *args, **kwargs)
builtins.__import__ = interrupting_import
from edgegen.cli.fontgen import main
main(sys.argv[1:], prog_name="fontgen")
"""


def test_ctrl_c_while_a_command_starts_exits_130_without_a_message(models, out):
    done = subprocess.run([sys.executable, "-c", CTRL_C_WHILE_IMPORTING, "render", "--letter", "Q",
                           "--out", str(out / "q.png")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130 and done.stderr == "" and done.stdout == "", done.stderr
    assert list(out.iterdir()) == []


def test_a_reader_that_closes_the_pipe_early_ends_the_command_quietly():
    """`fontgen models | head -1`: no "Broken pipe" error line and no traceback once the reader is gone.

    The reader here is `true`, gone before Python has started, so the first write meets a closed pipe."""
    _, models = exported_models()
    command = (f"{shlex.quote(sys.executable)} -c 'from edgegen.cli.fontgen import main; main()' "
               f"models --models {shlex.quote(str(models))} | true")
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=60)
    assert result.stderr == "", result.stderr
    assert result.returncode == 1  # Python's convention for EPIPE; never a traceback's exit code with a message
