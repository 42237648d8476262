"""`drumgen ports` and `drumgen play`: generated grooves, live, to a DAW or drum machine.

Registered on the `drumgen` group by edgegen/cli/drumgen.py; the options `play`
shares with `sample` and `transfer` come from edgegen/cli/options.py. Heavy imports
(numpy, onnxruntime, mido backends) happen inside the commands, so `--help` is
instant, and every expected failure ends as one `Error: ...` line.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import click

from edgegen.cli.errors import INTERRUPTED, find_cause, import_failure
from edgegen.cli.options import (CHANNEL, DEFAULT_BPM, SEED, FiniteFloatRange, InputFile, midi_options, resolve_seed,
                                 style_option, to_style_option)
from edgegen.runtime import portable_random
from edgegen.runtime.errors import first_line

DAW_EXAMPLE = """\b
Connecting to a DAW (Linux, JACK; ALSA, CoreMIDI and Windows MIDI work the same way):
  jackd -d dummy -r 48000 -p 64 &          # or your usual JACK setup
  export MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK
  drumgen play --virtual edgegen --style jazz --bpm 96 --mode evolve
  # with JACK-Client installed (pip install 'edgegen[jack]') notes are written at their exact
  # JACK frame (--backend jack, chosen automatically when a JACK server answers)
  # then pick "edgegen" as the MIDI input of a drum track in your DAW
  # (Ardour, Bitwig, Reaper, Carla...), or: jack_connect edgegen:edgegen <synth>:midi_in
\b
Driving another program's input port instead:
  drumgen ports                            # 0: 'Hydrogen:midi_in' ...
  drumgen play --port hydrogen --style rock --bpm 120 --clock
"""


BACKEND = click.option(
    "--backend", type=click.Choice(["auto", "jack", "rtmidi"]), default="auto", show_default=True,
    help="jack: a native JACK client that writes every note at its exact frame (needs JACK-Client); "
         "rtmidi: ALSA, CoreMIDI, Windows MIDI or JACK through RtMidi; auto: jack when MIDO_BACKEND selects "
         "JACK or a JACK server answers, and JACK-Client is installed.")


def _backend(requested: str) -> str:
    """'jack' or 'rtmidi' for --backend auto|jack|rtmidi."""
    if requested != "auto":
        return requested
    from edgegen.runtime.live import jack_backend

    selected = os.environ.get("MIDO_BACKEND")
    if selected and not jack_backend.mido_backend_is_jack():
        return "rtmidi"  # the user chose another MIDI system
    return "jack" if jack_backend.jack_available() else "rtmidi"


@click.command()
@click.option("--inputs", is_flag=True, help="List input ports instead (for `play --sync`).")
@BACKEND
def ports(inputs: bool, backend: str) -> None:
    """List MIDI output ports (use the name, a part of it, or the number with `play --port`).

    The MIDI system follows mido's MIDO_BACKEND variable, e.g.
    MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK for JACK; with --backend jack these
    are the JACK MIDI input ports there are.
    """
    from edgegen.runtime.live import ports as midi_ports

    try:
        if _backend(backend) == "jack":
            from edgegen.runtime.live import jack_backend

            names = jack_backend.list_midi_ports(is_input=not inputs)
        else:
            names = midi_ports.list_input_ports() if inputs else midi_ports.list_output_ports()
    except midi_ports.MidiPortError as error:
        raise click.ClickException(first_line(error)) from None
    if not names and not inputs:
        click.echo("No MIDI output ports. Make one with `drumgen play --virtual edgegen` and connect your DAW to it.",
                   err=True)
    for index, name in enumerate(names):
        click.echo(f"{index}: {name}")


def _grids(mode: str, style: str, to_style: str | None, every: int, seed: int, models_dir: Path | None,
           pattern: Path | None):
    """The bar iterator for the chosen mode (models and files are checked here, before any port opens)."""
    from edgegen.runtime import midi_io
    from edgegen.runtime.live import bar_source

    if pattern is not None:
        return bar_source.pattern_grids(midi_io.read_midi(pattern, channel=None))
    from edgegen.runtime.drum_generator import DrumGenerator

    generator = DrumGenerator(models_dir)
    for name in (style, to_style):
        if name is not None:
            generator.check_style(name)
    model, rng = generator.model, portable_random.rng(seed)
    if mode == "morph":
        return bar_source.morph_grids(model, style, to_style, every, every, rng)
    if mode == "evolve":
        return bar_source.evolve_grids(model, style, every, rng)
    return bar_source.loop_grids(model, style, rng)


@click.command(epilog=DAW_EXAMPLE)
@click.option("--port", "port_name", metavar="NAME", help="Play into another program's MIDI input: a name, a unique "
              "part of one, or a number from `drumgen ports`.")
@click.option("--virtual", metavar="NAME", help="Open a MIDI output port called NAME for a DAW to connect to.")
@style_option("Style to play.", default="rock")
@midi_options
@click.option("--bars", type=click.IntRange(min=1), default=None, help="Stop after N bars [default: until Ctrl-C].")
@click.option("--mode", type=click.Choice(["loop", "evolve", "morph"]), default="loop", show_default=True,
              help="loop: repeat one bar; evolve: new variation every --every bars, same groove; "
                   "morph: glide from --style to --to over --every bars, then evolve there.")
@click.option("--every", type=click.IntRange(min=1), default=4, show_default=True,
              help="Bars per variation (evolve) or bars of the glide (morph).")
@to_style_option("Target style of --mode morph.")
@CHANNEL
@click.option("--clock", is_flag=True, help="Also send MIDI clock (24 per beat) with start and stop, "
              "so a DAW or drum machine can follow the tempo.")
@click.option("--sync", metavar="PORT", help="Follow the MIDI clock of another program or device on this input "
              "port (see `drumgen ports --inputs`): start on its Start, its tempo, stop on its Stop; or "
              "`--sync jack`: follow JACK transport (start, stop, and the master's tempo). "
              "--bpm is then only the first guess.")
@click.option("--quantize", is_flag=True, help="Play the plain 16th grid: no swing, no humanise, no learned "
              "microtiming (a machine feel; also what the timing tests measure).")
@BACKEND
@SEED
@click.option("--pattern", type=InputFile(), default=None,
              help="Play the bars of this MIDI file (drums quantised to 16ths, with their velocities) in a loop "
                   "instead of generating.")
@click.option("--realtime/--no-realtime", default=True, show_default=True,
              help="Ask the OS for real-time scheduling priority while playing (used only if allowed).")
@click.option("--lead-in", type=FiniteFloatRange(0, 30), default=0.1, hidden=True,
              help="Seconds between opening the port and the first beat (time to connect a listener; tests).")
def play(port_name: str | None, virtual: str | None, style: str, bpm: float | None, swing: float, humanize: float,
         bars: int | None, mode: str, every: int, to_style: str | None, channel: int, note_map: Path | None,
         clock: bool, sync: str | None, quantize: bool, backend: str, seed: int | None, pattern: Path | None,
         models_dir: Path | None, realtime: bool, lead_in: float) -> None:
    """Play generated drums live to a MIDI port, in time, until --bars or Ctrl-C.

    Timing: every event has an absolute deadline; bars are generated ahead on
    another thread. With the JACK backend each note is written at its exact frame
    of the JACK clock. Ctrl-C, SIGTERM or SIGHUP (the terminal closing) ends every sounding note and sends
    all-notes-off (CC 123) and all-sound-off (CC 120) before exiting.

    \b
    Examples:
      drumgen play --virtual edgegen --style jazz --bpm 96 --swing 0.5
      drumgen play --virtual edgegen --style rock --mode evolve --every 4 --humanize 0.3
      drumgen play --virtual edgegen --style rock --mode morph --to latin --every 8 --bars 16
      drumgen play --port 0 --pattern groove.mid --bpm 100 --note-map machinedrum.json --clock
      drumgen play --virtual edgegen --style latin --sync "Bitwig"   # follow the DAW's clock
      drumgen play --virtual edgegen --style rock --sync jack          # follow JACK transport
    """
    if (port_name is None) == (virtual is None):
        raise click.UsageError("give one of --port NAME or --virtual NAME")
    if mode == "morph" and to_style is None:
        raise click.UsageError("--mode morph needs --to STYLE")
    if pattern is not None and (mode != "loop" or to_style is not None):
        raise click.UsageError("--pattern plays the file's bars; --mode and --to do not apply")
    if sync is not None and clock:
        raise click.UsageError("--sync follows another program's clock; --clock would send a second one")
    bpm = DEFAULT_BPM if bpm is None else bpm
    seed = resolve_seed(seed)

    from edgegen.runtime import midi_io
    from edgegen.runtime.live import ports as midi_ports
    from edgegen.runtime.live import bar_source
    from edgegen.runtime.live.bar_source import BarSource
    from edgegen.runtime.live import jack_backend
    from edgegen.runtime.live.clock_sync import ExternalClock, open_clock_input
    from edgegen.runtime.onnx_model import ModelError
    from edgegen.runtime.live.player import Player, PlayerConfig
    from edgegen.runtime.live.realtime import Stopped, stop_on_signals

    with stop_on_signals():
        port = master = player_clock = None
        try:
            pitches = midi_io.load_note_map(note_map) if note_map is not None else None
            use_jack = _backend(backend) == "jack"
            if sync == "jack" and not use_jack:
                raise click.UsageError("--sync jack follows JACK transport: it needs --backend jack (JACK-Client)")
            if use_jack:
                jack_backend.import_jack()
                mido_backend = midi_ports.choose_backend() if sync not in (None, "jack") else None
            else:
                mido_backend = midi_ports.choose_backend()
            grids = _grids(mode, style.lower(), to_style and to_style.lower(), every, seed, models_dir, pattern)
            if use_jack:
                port = jack_backend.JackMidiOutput(virtual=virtual, target=port_name, follow_transport=sync == "jack",
                                                   lookahead=0.25 if sync is None else 0.05)
                player_clock = jack_backend.JackClock(port)
            else:
                port = midi_ports.open_output(port=port_name, virtual=virtual, backend=mido_backend)
            if sync == "jack":
                player_clock = master = jack_backend.TransportClock(port, bpm)
            elif sync is not None:
                master = ExternalClock(open_clock_input(sync, mido_backend), bpm)
                player_clock = master
                if use_jack:
                    player_clock = jack_backend.FollowedClock(master, port,
                                                              speed=lambda: master.period / master.nominal_tick)
        except (Stopped, midi_ports.MidiPortError, ModelError, ValueError, OSError, ImportError) as error:
            if port is not None:
                port.close()
            stop = find_cause(error, (Stopped, KeyboardInterrupt))
            if stop is not None:  # a signal before the first beat: end quietly, as the shell expects
                raise SystemExit(_exit_status(stop)) from None
            if isinstance(error, ImportError):
                raise click.ClickException(import_failure(error)) from None
            raise click.ClickException(first_line(error)) from None

        rng = portable_random.rng(seed)

        # a bar's learned velocities and offsets (or a --pattern file's own), then swing and humanise on top;
        # --quantize: the plain 16th grid, velocities kept
        to_notes = bar_source.GrooveNotes(swing=swing, humanize=humanize, rng=rng, note_map=pitches)

        # The JACK backend's timing is in its callback (JACK's real-time thread); the player and bar threads
        # work 250 ms ahead and need no real-time priority (A/B runs here, at load average 6-10 from other
        # sessions, showed no clear difference in xruns or lost messages either way).
        realtime = realtime and not use_jack
        config = PlayerConfig(bpm=bpm, channel=channel - 1, clock=clock, realtime=realtime, lead_in=lead_in)
        what = f"{pattern.name}" if pattern else (f"{style} -> {to_style}" if mode == "morph" else style)
        kind = "pattern" if pattern else mode
        timing = f"following the MIDI clock on {sync!r} (waiting for its Start)" if master else f"at {bpm:g} BPM"
        if sync == "jack":
            timing = "following JACK transport (waiting for it to roll)"
        source = BarSource(grids, to_notes, bars=bars, realtime=realtime, quantize=quantize)
        player = Player(port, source, config, clock=player_clock)

        def start_time() -> float | None:
            """The first downbeat, once the bar thread has its first bars ready (None: the player's now + lead-in)."""
            if master is not None:
                return master.next_downbeat(config.bar_seconds)
            return player_clock.start_at(lead_in) if use_jack else None  # JACK: on a whole frame

        start = None
        outcome, error = "Finished", None
        try:
            via = f"JACK port {port.name!r} (native, {port.period} frames per period)" if use_jack \
                else f"MIDI port {port.name!r}"
            click.echo(f"Playing {what} ({kind}, seed {seed}) {timing} on {via}, "
                       f"channel {channel}. Ctrl-C stops.", err=True)
            with source:
                start = start_time()
                player.run(start=start)
        except Stopped as stop:
            outcome = f"Stopped by {stop.reason}"
        except KeyboardInterrupt:
            outcome = "Stopped by SIGINT"
        except (midi_ports.MidiPortError, ValueError, OSError) as failure:
            outcome, error = "Failed", failure
        finally:
            if isinstance(master, ExternalClock):
                master.source.close()
            port.close()  # the player has closed it, unless a signal came before it started
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
            _report(outcome, player.stats.summary(), master, port.report() if use_jack else None, start)
        if error is not None:
            raise click.ClickException(first_line(error))


def _exit_status(stop: BaseException) -> int:
    """128 + the signal that stopped start-up (a Stopped names it; KeyboardInterrupt is Ctrl-C)."""
    import signal

    signum = signal.Signals.__members__.get(getattr(stop, "reason", ""))
    return INTERRUPTED if signum is None else 128 + signum


def _report(outcome: str, summary: dict, master, jack: dict | None = None, start: float | None = None) -> None:
    """The closing line: what ended playback, and how well it kept time (JACK: in frames, and xruns)."""
    scale = getattr(master, "period", 1.0) / getattr(master, "nominal_tick", 1.0)  # a MIDI master's time: its tempo
    tempo = "" if master is None else f" (master at {master.bpm():.1f} BPM)"
    head = f"{outcome} after {summary['bars']} bars: {summary['notes']} notes, all notes off, port closed."
    if jack is not None:
        start_frame = "" if start is None or master is not None else f", start frame {round(start * jack['rate'])}"
        click.echo(f"{head} JACK: {jack['written']} events written at their frames{start_frame}, {jack['late']} late "
                   f"(max {jack['late_frames_max']} frames), {jack['failed']} failed, {jack['xruns']} xruns{tempo}.",
                   err=True)
        return
    late = {q: summary[f"send_minus_deadline_ms_{q}"] * scale for q in ("p50", "p99", "max")}
    click.echo(f"{head} Send minus deadline p50 {late['p50']:.3f} ms, p99 {late['p99']:.3f} ms, max {late['max']:.3f} ms"
               f"{tempo}; {summary['late_events']} late events.", err=True)
