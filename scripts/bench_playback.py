"""`make bench` (playback half): how well `drumgen play` keeps time, measured through a real JACK loopback.

For each run: the live player in evolve mode with a new variation (z_low, one
inference call) every ``--every`` bars (default 1: inference for every bar), and
MIDI clock on (96 ticks per bar scheduled too), plays ``--bars`` bars into a
virtual JACK port; an input port on the same private JACK server
(``jackd -d dummy -p 64``, 1.33 ms periods) records what arrives. The runs: each
tempo at real-time priority (what `drumgen play` does when allowed); the first
tempo again with one more thread running drum inference nonstop at normal
priority (a player embedded in a busier program: the GIL's worst case); and the
first tempo at normal priority (no real-time permission). Reported per run:

- send time minus deadline of every event: p50, p99, max (ms) and late events (> 1 ms);
- drift: mean send lateness in the last bar minus the first bar (ms);
- notes sent / received / lost, and whether the received order is the sent order;
- arrival through JACK: offset of each note from its deadline (relative to the first
  note; JACK's own timestamps), minus the median offset: p50, p99, max |jitter| (ms),
  and the drift of that offset between first and last bar.

Merges a "playback" section into the bench JSON (read-modify-write: the inference
benchmark writes its own section) and prints a table.

The "playback_backends" section compares the two backends the way a synth hears
them: `drumgen play --backend jack|rtmidi --quantize` (a two-bar pattern, 36 and 37 notes,
chords of up to five notes on one frame) into a frame-stamping receiver
(tests/jack_frame_recorder.py: JACK's own frame time of every event), per JACK
period (64, 256, 1024 frames), idle and with two spinning processes loading both
cores. Reported per run: note-on residual from the 16th grid in frames (p50, p99,
max; the grid anchored where it fits the notes best), messages lost and garbled
(received bytes that were never sent), note-offs missing, CC 123 at the end, and
the xruns JACK reported.

Usage: python scripts/bench_playback.py --out reports/bench.json [--bars 32] [--quick] [--only timing|backends]
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import collections
import subprocess
import tempfile

import click
import numpy as np

REPO = Path(__file__).resolve().parents[1]
# The private JACK server and MIDI recorder are test helpers (tests/jack_server.py), not part of
# the installed package; a script run by path sees only its own folder, so add tests/ explicitly.
sys.path.insert(0, str(REPO / "tests"))

from bench_inference import report_path  # noqa: E402  (scripts/ is on sys.path: this script's folder)
from edgegen.runtime import drum_controls, midi_io  # noqa: E402
from edgegen.runtime.drum_spec import STYLES  # noqa: E402
from edgegen.runtime.files import atomic_write_text  # noqa: E402
from edgegen.runtime.live import bar_source  # noqa: E402
from edgegen.runtime.live import ports as midi_ports  # noqa: E402
from edgegen.runtime.live.player import Player, PlayerConfig  # noqa: E402
from jack_server import JACK_BACKEND, FrameDump, JackServer, MidiRecorder, busy_pattern, busy_processes  # noqa: E402

TARGETS = {"send_p99_ms": 1.0, "send_max_ms": 3.0, "drift_ms": 1.0, "lost_notes": 0}


class RandomDrumModel:
    """Stand-in with random weights when no trained drum model is bundled: the DrumModel protocol,
    a decoder MLP (16 -> 256 -> 256 -> 144) about the size of the real one, ~15 % hits."""

    def __init__(self, seed: int = 0, hidden: int = 256):
        rng = np.random.default_rng(seed)
        self.styles = list(STYLES)
        self.style_prior_mu = rng.normal(0, 1, (len(STYLES), 4)).astype(np.float32)
        self.style_prior_logvar = np.zeros((len(STYLES), 4), np.float32)
        self.hit_thresholds = np.zeros((len(STYLES), 9), np.float32)  # probability 0.5
        self.velocity_gain = np.ones(len(STYLES), np.float32)
        self.w_prior = rng.normal(0, 0.5, (4, 24)).astype(np.float32)
        self.w1 = rng.normal(0, 1 / 4, (16, hidden)).astype(np.float32)  # [16] -> [hidden]
        self.w2 = rng.normal(0, 1 / 16, (hidden, hidden)).astype(np.float32)  # [hidden] -> [hidden]
        self.w3 = rng.normal(0, 1 / 16, (hidden, 144)).astype(np.float32)  # [hidden] -> [16*9]

    def encode(self, x):
        raise NotImplementedError("the benchmark only samples")

    def prior_low(self, z_high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = z_high @ self.w_prior  # [N, 24]
        return out[:, :12], np.clip(out[:, 12:], -2, 0)

    def decode(self, z_high: np.ndarray, z_low: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h = np.tanh(np.concatenate([z_high, z_low], axis=1) @ self.w1)  # [N, hidden]
        h = np.tanh(h @ self.w2)  # [N, hidden]
        logits = (h @ self.w3).reshape(-1, 16, 9) * 4.0 - 2.0  # [N, 16, 9]
        return logits, 1 / (1 + np.exp(-logits)), np.zeros_like(logits)  # velocities, offsets


def load_model(models: Path | None):
    """The trained drum model if there is one that plays notes; else the random stand-in (and why)."""
    try:
        from edgegen.runtime.drum_generator import DrumGenerator
        from edgegen.runtime.onnx_model import models_dir

        generator = DrumGenerator(models)
        if generator.sample(generator.styles[0], 8, seed=0).hits.any():
            variant = generator.model.spec.variant
            return generator.model, f"trained drum model (variant {variant!r}, {report_path(models_dir(models))})"
        reason = "the drum model found generates silent bars"
    except Exception as error:  # no bundled model yet, or an incompatible one
        reason = str(error).splitlines()[0]
    return RandomDrumModel(), f"random-weights numpy stand-in, not the trained model ({reason})"


def inference_load(model, stop: threading.Event, calls: list[int]) -> None:
    """Generate batches of 16 bars nonstop: what a user generating files during a set would cost."""
    rng = np.random.default_rng(1)
    while not stop.is_set():
        drum_controls.sample_style(model, model.styles[calls[0] % len(model.styles)], 16, rng)
        calls[0] += 1


def percentiles_ms(values: np.ndarray) -> dict[str, float]:
    values = np.asarray(values, dtype=float) * 1e3
    if values.size == 0:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    return {"p50": round(float(np.percentile(values, 50)), 4), "p99": round(float(np.percentile(values, 99)), 4),
            "max": round(float(values.max()), 4)}


def cpu_steal_ms() -> float | None:
    """Time the hypervisor ran someone else on our virtual CPUs, all CPUs summed (Linux /proc/stat), in ms.

    On a virtual machine a stolen slice stalls every thread on that CPU, real-time or not,
    so the worst send times are read next to it.
    """
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
        return int(fields[8]) * 1000.0 / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def one_run(jack: JackServer, model, bpm: float, bars: int, every: int, realtime: bool, load_threads: int,
            seed: int) -> dict:
    """Play ``bars`` bars in evolve mode into JACK and compare what arrives with what was scheduled."""
    backend = midi_ports.choose_backend()
    recorder = MidiRecorder("edgegen-bench-in", realtime=realtime)  # at the player's priority: it shares the GIL
    port = midi_ports.open_output(virtual="edgegen-bench", backend=backend)
    recorder.connect("edgegen-bench:")
    scheduled: list[list[tuple[float, int, int]]] = []

    def to_notes(grid):
        notes = midi_io.bar_events(grid)
        scheduled.append(notes)
        return notes

    rng = np.random.default_rng(seed)
    grids = bar_source.evolve_grids(model, model.styles[seed % len(model.styles)], every, rng)
    config = PlayerConfig(bpm=bpm, clock=True, realtime=realtime, lead_in=0.5)
    stop, calls = threading.Event(), [0]
    load = [threading.Thread(target=inference_load, args=(model, stop, calls), daemon=True)
            for _ in range(load_threads)]
    for thread in load:
        thread.start()
    source = bar_source.BarSource(grids, to_notes, bars=bars, realtime=realtime)
    player = Player(port, source, config)
    steal_before = cpu_steal_ms()
    started = time.perf_counter()
    try:
        with source:
            stats = player.run()
    finally:
        stop.set()
        for thread in load:
            thread.join(5)
    seconds = time.perf_counter() - started
    steal_after = cpu_steal_ms()
    time.sleep(0.3)  # let the last period's events arrive
    recorder.close()

    sent = [(bar * 16 + t, pitch) for bar, notes in enumerate(scheduled[:bars]) for t, pitch, _ in notes]
    got = recorder.messages("note_on")
    order_ok = [m.note for _, m in got] == [pitch for _, pitch in sent]
    arrival: dict = {"compared": False}
    if order_ok and sent:
        step = config.step_seconds
        offset = np.array([t for t, _ in got]) - (np.array([s for s, _ in sent]) - sent[0][0]) * step
        jitter = np.abs(offset - np.median(offset))
        bar_of = np.array([int(s // 16) for s, _ in sent])
        arrival = {
            "compared": True,
            "jitter_ms": percentiles_ms(jitter),
            "spread_ms": round(float(np.ptp(offset)) * 1e3, 4),
            "drift_ms": round(float(offset[bar_of == bar_of.max()].mean()
                                    - offset[bar_of == bar_of.min()].mean()) * 1e3, 4),
            "jack_period_ms": round(jack.period_ms, 4),
        }
    summary = stats.summary()
    lateness = np.asarray(stats.lateness)
    worst = np.argsort(lateness)[-5:][::-1]
    return {
        "bpm": bpm,
        "bars": stats.bars,
        "mode": f"evolve (new z_low every {every} bar(s)), MIDI clock on",
        "realtime_priority": summary["realtime_priority"],
        "inference_load_threads": load_threads,
        "inference_calls_during_run": calls[0],
        "events": summary["events"],
        "send_minus_deadline_ms": {"p50": summary["send_minus_deadline_ms_p50"],
                                   "p99": summary["send_minus_deadline_ms_p99"],
                                   "max": summary["send_minus_deadline_ms_max"]},
        "late_events": summary["late_events"],
        "worst_events": [{"event": int(i), "bar": int(stats.bar_of_event[i]), "ms": round(float(lateness[i]) * 1e3, 3)}
                         for i in worst],
        "drift_ms": summary["drift_ms"],
        "notes_sent": stats.notes,
        "notes_received": len(got),
        "lost_notes": stats.notes - len(got),
        "order_ok": order_ok,
        "arrival_through_jack": arrival,
        "wall_seconds": round(seconds, 2),
        "cpu_steal_ms_during_run": None if steal_before is None else round(steal_after - steal_before, 1),
    }


def meets_targets(run: dict) -> bool:
    send = run["send_minus_deadline_ms"]
    return (send["p99"] <= TARGETS["send_p99_ms"] and send["max"] <= TARGETS["send_max_ms"]
            and abs(run["drift_ms"]) <= TARGETS["drift_ms"] and run["lost_notes"] == 0 and run["order_ok"])


def print_table(runs: list[dict]) -> None:
    click.echo(f"{'BPM':>4} {'prio':>8} {'load':>4} {'bars':>4} {'events':>6}  "
               f"{'send-deadline ms p50/p99/max':>28} {'late':>4} "
               f"{'drift ms':>8} {'notes sent/recv':>15}  {'JACK jitter ms p99/max':>22}  targets")
    for run in runs:
        send, arrival = run["send_minus_deadline_ms"], run["arrival_through_jack"]
        jitter = (f"{arrival['jitter_ms']['p99']:.3f}/{arrival['jitter_ms']['max']:.3f}" if arrival["compared"]
                  else "order differs")
        click.echo(f"{run['bpm']:>4g} {'realtime' if run['realtime_priority'] else 'normal':>8} "
                   f"{run['inference_load_threads']:>4} {run['bars']:>4} "
                   f"{run['events']:>6}  {send['p50']:>9.3f}/{send['p99']:.3f}/{send['max']:.3f}"
                   f" {run['late_events']:>4} {run['drift_ms']:>8.3f} {run['notes_sent']:>7}/{run['notes_received']:<7}"
                   f"  {jitter:>22}  {'met' if meets_targets(run) else 'MISSED'}")


def merge_section(path: Path, section: str, value: dict) -> None:
    """Read the bench JSON (if any), replace one section, write it back atomically."""
    data = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:
            data = {}
    data[section] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


# --------------------------------------------------------------------------- backends side by side, in JACK frames

BACKEND_TARGETS = {"note_on_residual_frames_p99": 1, "lost": 0, "garbled": 0, "note_offs_missing": 0}


def sent_messages(pattern: Path, bars: int, channel: int = 9) -> collections.Counter:
    """The bytes of every note-on and note-off the bars define."""
    track = midi_io.read_midi(pattern, channel=None)
    sent = collections.Counter()
    for bar in range(bars):
        velocities = track.velocities[bar % len(track.velocities)]
        for _, pitch, velocity in midi_io.bar_events(velocities > 0, velocities):
            sent[bytes([0x90 | channel, pitch, velocity])] += 1
            sent[bytes([0x80 | channel, pitch, 0])] += 1
    return sent


def grid_residuals(frames: np.ndarray, frames_per_step: int) -> np.ndarray:
    """|distance| in frames of each note-on from the 16th grid, anchored where it fits the notes best (median)."""
    frames = np.asarray(frames, dtype=np.int64)
    half = frames_per_step // 2
    offsets = (frames - frames[0] + half) % frames_per_step - half
    anchor = frames[0] + int(np.median(offsets))
    return np.abs((frames - anchor + half) % frames_per_step - half)


def backend_run(jack: JackServer, backend: str, pattern: Path, bpm: float, bars: int, load: bool) -> dict:
    """One `drumgen play --backend B --quantize` into the frame recorder; what arrived, where."""
    frames_per_step = round(jack.rate * 60 / bpm / 4)
    dump = FrameDump(jack, client=f"edgegen-bench-{backend}")
    command = [sys.executable, "-c", "from edgegen.cli.drumgen import main; main(prog_name='drumgen')", "play",
               "--backend", backend, "--port", dump.port, "--pattern", str(pattern), "--quantize", "--bars", str(bars),
               "--bpm", f"{bpm:g}"]
    steal_before = cpu_steal_ms()
    try:
        with busy_processes(2 if load else 0):
            done = subprocess.run(command, env=jack.env(), capture_output=True, text=True,
                                  timeout=bars * 16 * 60 / bpm / 4 + 60)
        time.sleep(0.3)
        received = dump.events()
    finally:
        dump.close()
    steal_after = cpu_steal_ms()
    sent = sent_messages(pattern, bars)
    got = collections.Counter(data for _, data in received if data[0] & 0xE0 == 0x80)
    note_ons = [frame for frame, data in received if data[0] & 0xF0 == 0x90 and data[2] > 0]
    residual = grid_residuals(note_ons, frames_per_step) if note_ons else np.zeros(1, np.int64)
    ccs = [data for _, data in received if data[0] & 0xF0 == 0xB0]
    last_line = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    xruns = None
    if "xruns" in last_line:
        xruns = int(last_line.split(" xruns")[0].split()[-1])
    return {
        "backend": backend,
        "period_frames": jack.period,
        "load": "two spinning processes" if load else "idle",
        "bpm": bpm,
        "bars": bars,
        "exit_code": done.returncode,
        "notes_sent": sum(v for k, v in sent.items() if k[0] & 0xF0 == 0x90),
        "note_ons_received": len(note_ons),
        "note_on_residual_frames": {"p50": float(np.percentile(residual, 50)),
                                    "p99": float(np.percentile(residual, 99)), "max": int(residual.max())},
        "note_on_residual_ms_max": round(float(residual.max()) * 1000 / jack.rate, 3),
        "on_grid_exactly": int(np.sum(residual == 0)),
        "lost": sum((sent - got).values()),
        "garbled": sum((got - sent).values()),
        "note_offs_missing": sum(v for k, v in (sent - got).items() if k[0] & 0xF0 == 0x80),
        "cc123_at_end": len(ccs) >= 2 and ccs[-2][1] == 123 and ccs[-1][1] == 120,
        "xruns_reported_by_player": xruns,
        "cpu_steal_ms_during_run": None if steal_before is None else round(steal_after - steal_before, 1),
        "player_last_line": last_line,
    }


def meets_backend_targets(run: dict) -> bool:
    return (run["note_on_residual_frames"]["p99"] <= BACKEND_TARGETS["note_on_residual_frames_p99"]
            and run["lost"] == 0 and run["garbled"] == 0 and run["note_offs_missing"] == 0 and run["cc123_at_end"])


def print_backend_table(runs: list[dict]) -> None:
    click.echo(f"{'period':>6} {'load':>5} {'backend':>7}  {'residual frames p50/p99/max':>27} {'max ms':>7} "
               f"{'notes sent/recv':>15} {'lost':>4} {'garbled':>7} {'CC123':>5} {'xruns':>5}")
    for run in runs:
        r = run["note_on_residual_frames"]
        click.echo(f"{run['period_frames']:>6} {'busy' if run['load'] != 'idle' else 'idle':>5} {run['backend']:>7}  "
                   f"{r['p50']:>9g}/{r['p99']:g}/{r['max']:<8} {run['note_on_residual_ms_max']:>7.3f} "
                   f"{run['notes_sent']:>7}/{run['note_ons_received']:<7} {run['lost']:>4} {run['garbled']:>7} "
                   f"{'yes' if run['cc123_at_end'] else 'NO':>5} {run['xruns_reported_by_player'] or 0:>5}")


def compare_backends(periods: tuple[int, ...], bpm: float, bars: int) -> dict:
    runs = []
    with tempfile.TemporaryDirectory(prefix="edgegen-bench-") as scratch:
        pattern = busy_pattern(Path(scratch) / "busy.mid")
        for period in periods:
            with JackServer(period=period) as jack:
                for load in (False, True):
                    for backend in ("jack", "rtmidi"):
                        click.echo(f"period {period}, {'two busy processes' if load else 'idle'}, {backend}: "
                                   f"{bars} bars at {bpm:g} BPM...", err=True)
                        runs.append(backend_run(jack, backend, pattern, bpm, bars, load))
    print_backend_table(runs)
    return {
        "command": "python " + " ".join([report_path(Path(sys.argv[0])), *sys.argv[1:]]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "what": "drumgen play --backend B --quantize --pattern (2 bars, 36 and 37 notes) --port <frame recorder>",
        "receiver": "tests/jack_frame_recorder.py: JACK-Client input, JACK frame time (last_frame_time + offset)",
        "jack": "jackd -d dummy -r 48000 -p PERIOD (private server)",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average_after": [round(x, 2) for x in os.getloadavg()],
                    "note": "shared machine: other sessions were running; see cpu_steal_ms_during_run"},
        "targets_for_jack": BACKEND_TARGETS,
        "jack_targets_met": all(meets_backend_targets(run) for run in runs if run["backend"] == "jack"),
        "runs": runs,
    }


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("reports/bench.json"),
              show_default=True, help="Bench JSON to merge the 'playback' section into.")
@click.option("--bars", type=click.IntRange(min=2), default=32, show_default=True, help="Bars per run.")
@click.option("--bpm", "tempos", type=click.FloatRange(20, 300), multiple=True, default=(120.0, 180.0),
              show_default=True, help="Tempos to measure (repeat the option).")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True,
              help="Bars per new variation (one inference call each) in evolve mode.")
@click.option("--comparisons/--no-comparisons", default=True, show_default=True,
              help="Also measure the first tempo with a nonstop inference thread, and without real-time priority.")
@click.option("--models", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Models folder [default: $EDGEGEN_MODELS or the bundled models].")
@click.option("--quick", is_flag=True, help="8 bars per run (a smoke test, not a measurement).")
@click.option("--only", type=click.Choice(["all", "timing", "backends"]), default="all", show_default=True,
              help="timing: the scheduler runs ('playback'); backends: jack vs rtmidi in JACK frames "
                   "('playback_backends').")
@click.option("--period", "periods", type=int, multiple=True, default=(64, 256, 1024), show_default=True,
              help="JACK periods for the backend comparison (repeat the option).")
@click.option("--backend-bars", type=click.IntRange(min=2), default=16, show_default=True,
              help="Bars per backend-comparison run (at 150 BPM).")
def main(out: Path, bars: int, tempos: tuple[float, ...], every: int, comparisons: bool, models: Path | None,
         quick: bool, only: str, periods: tuple[int, ...], backend_bars: int) -> None:
    """Measure live playback timing through a JACK loopback and merge it into the bench JSON."""
    if quick:
        bars = backend_bars = 8
    if only in ("all", "backends"):
        merge_section(out, "playback_backends", compare_backends(periods, 150.0, backend_bars))
        click.echo(f"merged 'playback_backends' into {out}", err=True)
    if only == "backends":
        return
    model, source = load_model(models)
    click.echo(f"bars from: {source}", err=True)
    plan = [(bpm, True, 0) for bpm in tempos]  # (tempo, real-time priority, extra inference threads)
    if comparisons:
        plan += [(tempos[0], True, 1), (tempos[0], False, 0)]
    load_before = os.getloadavg()
    runs = []
    with JackServer() as jack:
        os.environ.update(jack.env({}))
        for index, (bpm, realtime, load_threads) in enumerate(plan):
            click.echo(f"run {index + 1}/{len(plan)}: {bars} bars at {bpm:g} BPM, "
                       f"{'real-time' if realtime else 'normal'} priority, {load_threads} extra inference thread(s)...",
                       err=True)
            runs.append(one_run(jack, model, bpm, bars, every, realtime, load_threads, seed=index))
    print_table(runs)
    merge_section(out, "playback", {
        "command": "python " + " ".join([report_path(Path(sys.argv[0])), *sys.argv[1:]]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "bars_from": source,
        "random_stand_in": isinstance(model, RandomDrumModel),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "jack": f"jackd -d dummy -r 48000 -p 64 (private server), MIDO_BACKEND={JACK_BACKEND}",
        "targets": TARGETS,
        "all_targets_met": all(meets_targets(run) for run in runs
                               if run["realtime_priority"] and not run["inference_load_threads"]),
        "all_targets_met_means": "the runs as `drumgen play` runs: real-time priority, no extra threads",
        "runs": runs,
    })
    click.echo(f"merged 'playback' into {out}", err=True)


if __name__ == "__main__":
    main()
