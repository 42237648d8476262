"""The built-in drum kit (runtime/drum_synth.py) and `drumgen render` / `--wav`: real MIDI files in, WAV files out."""
from __future__ import annotations

import dataclasses
import json
import shutil
import wave
from pathlib import Path

import mido
import numpy as np
import pytest
from click.testing import CliRunner

from tiny_runs import exported_models

from edgegen.cli.drumgen import main as drumgen
from edgegen.runtime import drum_synth, midi_io
from edgegen.runtime.drum_spec import INSTRUMENTS

SR = drum_synth.SAMPLE_RATE
# The Groove MIDI Dataset beside the checkout (DESIGN: ../shared), or beside the main checkout of a worktree
GROOVE = next((p for p in (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "groove",
                           Path("/work/shared/data/groove")) if p.is_dir()), Path("missing"))


@pytest.fixture
def models(tmp_path, monkeypatch):
    folder = shutil.copytree(exported_models()[1], tmp_path / "models")
    monkeypatch.setenv("EDGEGEN_MODELS", str(folder))
    return folder


@pytest.fixture
def out(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def run(args):
    return CliRunner().invoke(drumgen, [str(a) for a in args])


def read_wav(path: Path) -> tuple[wave._wave_params, np.ndarray]:
    with wave.open(str(path)) as w:
        return w.getparams(), np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768


def write_grid_midi(path: Path, grid: np.ndarray, velocities: np.ndarray | None = None, bpm: float = 120.0) -> None:
    midi_io.write_midi(path, grid, bpm=bpm, velocities=velocities)


def energy(x: np.ndarray, start: int, stop: int) -> float:
    return float(np.sum(x[max(start, 0):stop] ** 2))


def assert_clean_error(result, *fragments, folder=None):
    assert result.exit_code != 0, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0], result.output
    assert "Traceback" not in result.output
    if folder is not None:
        assert list(folder.iterdir()) == [], "a failed command must not leave files"


# ----------------------------------------------------------------------------- the WAV file


def test_sample_wav_header_and_length_follow_the_bars_and_tempo(models, out):
    result = run(["sample", "--style", "rock", "--bars", 3, "--seed", 4, "--bpm", 100, "--wav", out / "g.wav"])
    assert result.exit_code == 0, result.output
    params, _ = read_wav(out / "g.wav")
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 44100)
    bars_seconds = 3 * 4 * 60 / 100  # three 4/4 bars at 100 BPM, then the kit's tail
    assert params.nframes == round((bars_seconds + drum_synth.KIT.tail) * SR)
    assert sorted(p.name for p in out.iterdir()) == ["g.wav"]


def test_render_plays_every_note_of_a_sparse_groove_at_its_time(tmp_path):
    """Each instrument alone on its own beat: a clear jump in energy right after every note time."""
    order = ["kick", "snare", "closed_hat", "clap", "tom_high", "tom_low", "open_hat", "ride", "crash"]
    grid = np.zeros((5, 16, 9), bool)
    for half, name in enumerate(order):  # a half note apart
        grid[half // 2, (half % 2) * 8, INSTRUMENTS.index(name)] = True
    write_grid_midi(tmp_path / "sparse.mid", grid, bpm=110)
    result = run(["render", tmp_path / "sparse.mid", "--out", tmp_path / "sparse.wav"])
    assert result.exit_code == 0, result.output
    _, x = read_wav(tmp_path / "sparse.wav")
    notes = midi_io.read_drum_notes(tmp_path / "sparse.mid")
    assert [INSTRUMENTS[i] for i in notes.instruments] == order
    window = round(0.03 * SR)
    for seconds, instrument in zip(notes.seconds, notes.instruments):
        at = round(seconds * SR)
        before, after = energy(x, at - window, at), energy(x, at, at + window)
        assert after > 4 * before + 1e-3, f"{INSTRUMENTS[instrument]} at {seconds:.3f} s is not heard"


def test_microtiming_and_tempo_changes_are_sample_accurate(tmp_path):
    """A note off the grid, after a tempo change, starts at exactly round(seconds * 44100)."""
    track = mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=500_000, time=0),  # 120 BPM for one beat ...
        mido.MetaMessage("set_tempo", tempo=1_000_000, time=480),  # ... then 60 BPM
        mido.Message("note_on", channel=9, note=38, velocity=90, time=37),  # 37 ticks past the change
        mido.Message("note_off", channel=9, note=38, velocity=0, time=60),
    ])
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track)
    midi.save(tmp_path / "late.mid")
    notes = midi_io.read_drum_notes(tmp_path / "late.mid")
    expected = 0.5 + 37 / 480 * 1.0
    assert notes.seconds.tolist() == pytest.approx([expected], abs=1e-12)
    assert run(["render", tmp_path / "late.mid", "--out", tmp_path / "late.wav"]).exit_code == 0
    _, x = read_wav(tmp_path / "late.wav")
    assert np.flatnonzero(x)[0] == round(expected * SR)  # the snare's noise sounds from its first sample


@pytest.mark.skipif(not GROOVE.is_dir(), reason="the Groove MIDI Dataset is not here")
def test_a_gmd_performance_is_read_at_mido_s_own_times():
    """Real drummers' files: every onset time equals mido's own tempo-mapped clock."""
    path = GROOVE / "drummer1" / "eval_session" / "8_rock-groove8_65_beat_4-4.mid"
    notes = midi_io.read_drum_notes(path)
    clock, expected = 0.0, []
    for msg in mido.MidiFile(path):
        clock += msg.time
        if msg.type == "note_on" and msg.velocity > 0 and msg.channel == 9 and msg.note in midi_io.PITCH_TO_INSTRUMENT:
            expected.append(clock)
    assert len(notes.seconds) == len(expected) > 100
    assert np.allclose(notes.seconds, sorted(expected), atol=1e-9)
    x = drum_synth.render(notes.seconds[:40], notes.instruments[:40], notes.velocities[:40], notes.seconds[39])
    assert len(x) == round((notes.seconds[39] + drum_synth.KIT.tail) * SR) and np.abs(x).max() > 3000


# ----------------------------------------------------------------------------- how it sounds


def one_note(name: str, velocity: int) -> np.ndarray:
    return drum_synth.render([0.0], [INSTRUMENTS.index(name)], [velocity], 0.0).astype(np.float64) / 32768


@pytest.mark.parametrize("name", INSTRUMENTS)
def test_harder_hits_are_louder(name):
    soft, hard = one_note(name, 40), one_note(name, 120)
    assert np.sum(hard ** 2) > 4 * np.sum(soft ** 2)


def centroid(x: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    return float(np.sum(np.fft.rfftfreq(len(x), 1 / SR) * power) / np.sum(power))


@pytest.mark.parametrize("name", ["kick", "snare", "crash", "ride"])
def test_harder_hits_are_brighter(name):
    """The attack (first 20 ms) of a hard hit has more high end: the beater's click, the stick on the cymbal."""
    attack = round(0.02 * SR)
    assert centroid(one_note(name, 120)[:attack]) > 1.1 * centroid(one_note(name, 40)[:attack])


def test_the_voices_sound_like_their_instruments():
    """Kick: low end; hats: energy above 6 kHz; ride: ringing partials (peaky spectrum), crash: noise (flat)."""
    shares = {}
    for voice, (body, bright) in zip(drum_synth.KIT.voices, drum_synth.kit_samples()):
        x = (body + bright).astype(np.float64)
        power, freq = np.abs(np.fft.rfft(x)) ** 2, np.fft.rfftfreq(len(x), 1 / SR)
        band = power[(freq > 2000) & (freq < 12000)]
        total = power.sum()
        shares[voice.name] = dict(low=power[freq < 150].sum() / total, high=power[freq > 6000].sum() / total,
                                  flatness=np.exp(np.mean(np.log(band + 1e-30))) / np.mean(band))
    assert shares["kick"]["low"] > 0.8 and shares["tom_low"]["low"] > 0.5
    assert shares["closed_hat"]["high"] > 0.8 and shares["open_hat"]["high"] > 0.8
    assert shares["crash"]["high"] > 0.5 and shares["snare"]["low"] < 0.1
    assert shares["ride"]["flatness"] < 0.3 * shares["crash"]["flatness"]
    lengths = {v.name: v.length for v in drum_synth.KIT.voices}
    assert lengths["open_hat"] > 4 * lengths["closed_hat"] and lengths["crash"] >= 2.0 and lengths["ride"] >= 2.0


def test_a_dense_bar_never_clips(tmp_path):
    """Every instrument on every 16th at full velocity: loud, limited, and never at full scale."""
    write_grid_midi(tmp_path / "dense.mid", np.ones((2, 16, 9), bool), velocities=np.full((2, 16, 9), 127))
    assert run(["render", tmp_path / "dense.mid", "--out", tmp_path / "dense.wav"]).exit_code == 0
    _, x = read_wav(tmp_path / "dense.wav")
    assert 0.8 < np.abs(x).max() < 32767 / 32768
    assert np.mean(np.abs(x) > 0.99) == 0.0


def test_soft_limit_is_the_identity_below_its_threshold_and_stays_below_one():
    x = np.linspace(-50, 50, 100_001)
    y = drum_synth.soft_limit(x, 0.75)
    assert np.array_equal(y[np.abs(x) <= 0.75], x[np.abs(x) <= 0.75])
    assert np.all(np.abs(y) < 1) and np.all(np.diff(y) > 0)


def test_a_closed_hat_chokes_a_ringing_open_hat():
    open_hat, closed_hat = INSTRUMENTS.index("open_hat"), INSTRUMENTS.index("closed_hat")
    at = 0.25
    alone = drum_synth.render([0.0], [open_hat], [100], at).astype(np.float64)
    closed = drum_synth.render([at], [closed_hat], [100], at).astype(np.float64)
    both = drum_synth.render([0.0, at], [open_hat, closed_hat], [100, 100], at).astype(np.float64)
    start, after_fade = round(at * SR), round((at + drum_synth.KIT.choke_fade) * SR)
    assert np.array_equal(both[:start], alone[:start])  # rings untouched until the closed hat
    assert energy(alone, after_fade, after_fade + round(0.2 * SR)) > 1e6  # it would still ring ...
    assert np.array_equal(both[after_fade:], closed[after_fade:])  # ... but only the closed hat is left
    # a closed hat struck with it does not choke it; the next one does
    together = drum_synth.render([0.0, 0.0, at], [open_hat, closed_hat, closed_hat], [100, 60, 100], at)
    closed_twice = drum_synth.render([0.0, at], [closed_hat, closed_hat], [60, 100], at)
    assert energy(together[:start] - closed_twice[:start].astype(np.float64), 0, start) > 1e6
    assert np.array_equal(together[after_fade:], closed_twice[after_fade:])
    without_group = dataclasses.replace(drum_synth.KIT, voices=tuple(
        dataclasses.replace(v, choke_group="") for v in drum_synth.KIT.voices))
    ringing = drum_synth.render([0.0, at], [open_hat, closed_hat], [100, 100], at, kit=without_group)
    assert not np.array_equal(ringing[after_fade:], closed[after_fade:].astype(np.int16))


def test_same_input_same_bytes(models, out, tmp_path):
    for name in ("a", "b"):
        assert run(["sample", "--style", "jazz", "--bars", 2, "--seed", 9, "--humanize", 0.5,
                    "--out", out / f"{name}.mid", "--wav", out / f"{name}.wav"]).exit_code == 0
        assert run(["render", out / f"{name}.mid", "--out", tmp_path / f"{name}.wav"]).exit_code == 0
    assert (out / "a.wav").read_bytes() == (out / "b.wav").read_bytes()
    # --wav plays exactly what the MIDI file holds: rendering the file gives the same bytes
    assert (tmp_path / "a.wav").read_bytes() == (out / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def test_transfer_wav_plays_the_restyled_file(models, out, tmp_path):
    assert run(["sample", "--style", "rock", "--bars", 2, "--seed", 5, "--out", tmp_path / "in.mid"]).exit_code == 0
    result = run(["transfer", tmp_path / "in.mid", "--to", "latin", "--out", out / "x.mid", "--wav", out / "x.wav"])
    assert result.exit_code == 0, result.output
    assert run(["render", out / "x.mid", "--out", tmp_path / "x.wav"]).exit_code == 0
    assert (tmp_path / "x.wav").read_bytes() == (out / "x.wav").read_bytes()
    assert run(["transfer", tmp_path / "in.mid", "--to", "latin", "--wav", out / "only.wav"]).exit_code == 0
    assert (out / "only.wav").read_bytes() == (out / "x.wav").read_bytes()


# ----------------------------------------------------------------------------- the kit as data


def test_the_kit_json_round_trips_and_rebuilds_identical_one_shots():
    text = drum_synth.kit_json()
    data = json.loads(text)
    assert [v["name"] for v in data["voices"]] == list(INSTRUMENTS)
    kit = drum_synth.kit_from_json(text)
    assert kit == drum_synth.KIT
    for voice, rebuilt in zip(drum_synth.KIT.voices, kit.voices):
        for part, again in zip(drum_synth.one_shot(voice), drum_synth.one_shot(rebuilt)):
            assert np.array_equal(part, again)
    data["voices"][0]["layers"][0]["hz"] = 60.0  # the table, not code, decides the sound
    changed = drum_synth.kit_from_dict(data)
    assert not np.array_equal(drum_synth.one_shot(changed.voices[0])[0], drum_synth.one_shot(kit.voices[0])[0])


def test_one_shots_are_a_pure_function_of_the_table_and_the_rate():
    voice = drum_synth.KIT.voices[INSTRUMENTS.index("snare")]
    body, bright = drum_synth.one_shot(voice)
    assert len(body) == len(bright) == round(voice.length * SR)
    assert np.max(np.abs(body + bright)) == pytest.approx(voice.level)
    reseeded = drum_synth.one_shot(dataclasses.replace(voice, seed=voice.seed + 100))
    assert not np.array_equal(reseeded[0], body)  # the noise comes from the voice's own stream
    assert len(drum_synth.one_shot(voice, 48000)[0]) == round(voice.length * 48000)


def test_a_kit_that_cannot_be_built_is_refused():
    data = drum_synth.kit_dict()
    data["voices"][2]["layers"][0]["filters"][0]["hz"] = 30000.0  # above half the sample rate
    with pytest.raises(ValueError, match="closed_hat"):
        drum_synth.kit_from_dict(data)
    with pytest.raises(ValueError, match="format"):
        drum_synth.kit_from_dict({**drum_synth.kit_dict(), "format": 99})


# ----------------------------------------------------------------------------- bad input


def test_render_errors_are_one_line_and_leave_no_file(tmp_path, out):
    assert_clean_error(run(["render", tmp_path / "none.mid", "--out", out / "x.wav"]), "none.mid", folder=out)
    (tmp_path / "text.mid").write_text("not a MIDI file")
    assert_clean_error(run(["render", tmp_path / "text.mid", "--out", out / "x.wav"]), "not a readable MIDI file",
                       folder=out)
    melody = mido.MidiFile()
    melody.tracks.append(mido.MidiTrack([mido.Message("note_on", channel=0, note=60, velocity=90, time=0),
                                         mido.Message("note_off", channel=0, note=60, time=480)]))
    melody.save(tmp_path / "melody.mid")
    assert_clean_error(run(["render", tmp_path / "melody.mid", "--out", out / "x.wav"]),
                       "no drum notes on channel 10", folder=out)
    write_grid_midi(tmp_path / "ok.mid", np.eye(16, 9, dtype=bool))
    assert_clean_error(run(["render", tmp_path / "ok.mid", "--out", tmp_path / "nodir" / "x.wav"]), "does not exist")


def test_a_write_that_fails_half_way_leaves_no_partial_file(tmp_path, out, monkeypatch):
    write_grid_midi(tmp_path / "long.mid", np.ones((8, 16, 9), bool))  # several blocks of audio
    written = []

    def writeframes(self, data):
        if written:
            raise OSError(28, "No space left on device")
        written.append(len(data))
        self.writeframesraw(data)

    monkeypatch.setattr(wave.Wave_write, "writeframes", writeframes)
    assert_clean_error(run(["render", tmp_path / "long.mid", "--out", out / "x.wav"]), "No space left", folder=out)
    assert written  # the first block was on disk before the failure


def test_too_long_a_render_is_refused_before_writing(tmp_path, out):
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=16_000_000, time=0),
                            mido.Message("note_on", channel=9, note=36, velocity=90, time=480 * 300)])
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track)
    midi.save(tmp_path / "slow.mid")  # one kick after 300 beats of 16 s: 80 minutes
    assert_clean_error(run(["render", tmp_path / "slow.mid", "--out", out / "x.wav"]), "80 minutes", folder=out)


def test_wav_options_errors(models, tmp_path, out):
    assert run(["sample", "--style", "rock", "--out", tmp_path / "in.mid"]).exit_code == 0
    no_output = run(["transfer", tmp_path / "in.mid", "--to", "jazz"])
    assert no_output.exit_code == 2 and "--wav" in no_output.output
    assert_clean_error(run(["sample", "--style", "rock", "--out", out / "a.mid", "--wav", out / "a.mid"]),
                       "named as two outputs", folder=out)
    assert_clean_error(run(["sample", "--style", "rock", "--out", out / "a.mid", "--wav", out / "no" / "a.wav"]),
                       "does not exist", folder=out)


def test_render_and_wav_never_import_torch(tmp_path):
    """DESIGN section 2: the audio path is runtime code (numpy and wave only)."""
    from test_cli_torch_free import run_isolated

    sampled = run_isolated("drumgen", ["sample", "--style", "jazz", "--bars", "2", "--seed", "1",
                                       "--out", str(tmp_path / "g.mid"), "--wav", str(tmp_path / "g.wav")])
    rendered = run_isolated("drumgen", ["render", str(tmp_path / "g.mid"), "--out", str(tmp_path / "r.wav")])
    for result in (sampled, rendered):
        assert result.returncode == 0, result.stderr
        assert [line for line in result.stdout.splitlines() if line.startswith("IMPORTED:")] == ["IMPORTED:"]
    assert (tmp_path / "g.wav").read_bytes() == (tmp_path / "r.wav").read_bytes()
