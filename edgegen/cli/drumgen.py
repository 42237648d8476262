"""`drumgen`: one-bar drum grooves in five styles from the bundled ONNX VAE (no torch), written with the
velocities and microtiming the model learned from drummers (--quantize: on the grid).

The live commands `ports` and `play` are in edgegen/cli/drumgen_live.py; options
the commands share are in edgegen/cli/options.py. Heavy imports happen inside
the commands so `drumgen --help` is instant.
"""
from __future__ import annotations

import math
from pathlib import Path

import click

from edgegen.cli.drumgen_live import play, ports
from edgegen.cli.errors import FriendlyGroup
from edgegen.cli.options import (BARS, CHANNEL, COMPLEXITY, DEFAULT_BPM, MODELS, PNG, SEED, STYLE_CHOICE,
                                 FiniteFloatRange, InputFile, midi_options, out_option, resolve_seed, seed_option,
                                 style_option, to_style_option)
from edgegen.runtime.drum_spec import TRANSFER_KEEP


def _parse_blend(text: str) -> dict[str, float]:
    """'jazz=0.7,latin=0.3' -> {'jazz': 0.7, 'latin': 0.3} (styles checked by the generator)."""
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise click.BadParameter(f"{part!r} is not STYLE=WEIGHT", param_hint="--blend") from None
        if not math.isfinite(value) or value < 0:
            raise click.BadParameter(f"the weight of {name.strip()!r} must be a finite number >= 0, got {weight}",
                                     param_hint="--blend")
        weights[name.strip().lower()] = value
    return weights


WAV = click.option("--wav", type=click.Path(dir_okay=False, path_type=Path), default=None,
                   help="Also write the groove as audio, played by a built-in drum kit: a WAV file of exactly "
                        "the notes the MIDI file holds.")
QUANTIZE = click.option("--quantize", is_flag=True,
                        help="Write every note on the 16th-note grid (the learned velocities stay); "
                             "without it each hit keeps the learned offset of a drummer's timing.")


def _write_outputs(groove, out: Path | None, png: Path | None, bpm: float | None, swing: float,
                   humanize: float, seed: int, note_map: Path | None, title: str = "",
                   wav: Path | None = None, quantize: bool = False) -> None:
    """MIDI, PNG and/or WAV, or the grid on the terminal when none is asked for.

    Called inside the command's ``all_or_none(out, png, wav)``: the files appear together or none does.
    The WAV is rendered from the very bytes the MIDI file gets, so it plays what the file holds.
    """
    from edgegen.runtime.drum_render import grid_text, save_piano_roll

    if note_map is not None:  # check before writing anything
        from edgegen.runtime.midi_io import load_note_map

        note_map = load_note_map(note_map)
    if out is not None or wav is not None:
        from edgegen.runtime import drum_controls, midi_io

        groove = drum_controls.as_groove(groove)
        midi = midi_io.midi_bytes(groove.hits, bpm=bpm or DEFAULT_BPM, velocities=groove.velocities,
                                  offsets=groove.offsets, swing=swing, humanize=humanize, seed=seed,
                                  note_map=note_map, quantize=quantize)
        if out is not None:
            from edgegen.runtime.files import atomic_write_bytes

            atomic_write_bytes(out, midi)
        if wav is not None:
            from edgegen.runtime.drum_synth import write_wav

            write_wav(wav, midi_io.read_drum_notes("the generated MIDI", data=midi, note_map=note_map,
                                                   require_notes=False))
    if png is not None:
        save_piano_roll(groove, png)
    if out is None and png is None and wav is None:
        click.echo(grid_text(groove.hits, title=title))


def _written(out: Path | None, png: Path | None, wav: Path | None = None) -> str:
    return " and ".join(str(p) for p in (out, png, wav) if p is not None)


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Drum grooves in five styles (rock, jazz, hiphop, latin, electronic) as MIDI, PNG or text.

    \b
    Examples:
      drumgen sample --style jazz --bars 4 --seed 1 --out groove.mid
      drumgen sample --style latin --bars 8 --evolve 4 --humanize 0.5 --swing 0.3 --out latin.mid --png latin.png
      drumgen sample --blend jazz=0.7,latin=0.3 --bars 4 --out blend.mid
      drumgen sample --style rock --morph-to electronic --bars 8 --out morph.mid
      drumgen sample --style hiphop --bars 4 --quantize --out on_the_grid.mid
      drumgen transfer my_beat.mid --to latin --out my_beat_latin.mid
      drumgen sample --style jazz --bars 4 --seed 1 --out groove.mid --wav groove.wav
      drumgen render groove.mid --out groove.wav
      drumgen show groove.mid
      drumgen show --style hiphop --seed 3
      drumgen ports
      drumgen play --virtual edgegen --style jazz --bpm 96
    """


@main.command()
@style_option("Style to generate (required unless --blend).")
@BARS
@SEED
@click.option("--temperature", "-t", type=FiniteFloatRange(0.05, 5), default=1.0, show_default=True,
              help="Variety: below 1 stays close to the style's typical groove, above 1 wanders.")
@COMPLEXITY
@click.option("--evolve", "every", type=click.IntRange(1, 1024), default=None,
              help="Keep one groove and vary it every N bars (instead of independent bars).")
@click.option("--morph-to", type=STYLE_CHOICE, default=None, help="Glide from --style to this style over the bars.")
@click.option("--blend", default=None, metavar="STYLE=W,...", help="Mix styles, e.g. jazz=0.7,latin=0.3.")
@midi_options
@QUANTIZE
@out_option("MIDI file to write (atomically). Without --out/--png/--wav the grid is printed.", required=False)
@PNG
@WAV
def sample(style, bars, seed, temperature, complexity, every, morph_to, blend, bpm, swing, humanize, note_map,
           quantize, models_dir, out, png, wav) -> None:
    """Generate bars in a style and write them as MIDI (and/or a piano-roll PNG).

    \b
    Examples:
      drumgen sample --style jazz --bars 4 --seed 1 --out groove.mid
      drumgen sample --style hiphop --complexity 0.5 --png roll.png
      drumgen sample --style latin --bars 8 --humanize 0.5 --wav latin.wav
    """
    from edgegen.runtime.drum_generator import DrumGenerator
    from edgegen.runtime.files import all_or_none

    if (style is None) == (blend is None):
        raise click.UsageError("give either --style or --blend")
    if blend is not None and (every or morph_to):
        raise click.UsageError("--blend cannot be combined with --evolve or --morph-to")
    if every and morph_to:
        raise click.UsageError("choose one of --evolve and --morph-to")
    seed = resolve_seed(seed)
    with all_or_none(out, png, wav):  # every path checked before any work
        generator = DrumGenerator(models_dir)
        if blend is not None:
            groove = generator.blend(_parse_blend(blend), bars, seed)
            what = f"blend {blend}"
        elif morph_to is not None:
            groove = generator.morph(style.lower(), morph_to.lower(), bars, seed)
            what = f"{style} -> {morph_to}"
        elif every is not None:
            groove = generator.evolve(style.lower(), bars, seed, every=every, temperature=temperature)
            what = f"{style}, new variation every {every} bars"
        else:
            groove = generator.sample(style.lower(), bars, seed, temperature=temperature, complexity=complexity)
            what = style
        _write_outputs(groove, out, png, bpm, swing, humanize, seed, note_map,
                       title=f"{what}, seed {seed}", wav=wav, quantize=quantize)
    if out is not None or png is not None or wav is not None:
        click.echo(f"wrote {_written(out, png, wav)} ({bars} bar{'s' * (bars > 1)}, {what}, seed {seed})")


@main.command()
@click.argument("midi_in", metavar="IN.mid", type=InputFile())
@to_style_option("Target style.", required=True)
@click.option("--strength", type=FiniteFloatRange(0, 1), default=1.0, show_default=True,
              help="shift and replace modes: how far to move toward the target style (0 = unchanged groove, "
                   "1 = all the way).")
@click.option("--mode", type=click.Choice(["fit", "shift", "replace"]), default="fit", show_default=True,
              help="fit: the groove that sounds most like the target style while keeping your kick and snare "
                   "(see --keep); shift: move your groove by the difference between styles; replace: the target "
                   "style's typical groove.")
@click.option("--keep", type=FiniteFloatRange(0, 1), default=TRANSFER_KEEP, show_default=True,
              help="fit mode: share of each bar's kick and snare hits that must stay in place "
                   "(1 = all of them; lower lets the style change more).")
@seed_option(0, "Seed of the fit mode's candidates (repeatable: the same input gives the same output).")
@COMPLEXITY
@CHANNEL
@midi_options
@QUANTIZE
@out_option("MIDI file to write (atomically); --out, --wav or both.", required=False)
@PNG
@WAV
def transfer(midi_in, to_style, strength, mode, keep, seed, complexity, channel, bpm, swing, humanize, note_map,
             quantize, models_dir, out, png, wav) -> None:
    """Restyle a drum MIDI file: keep its variation, move it to another style.

    \b
    Example:
      drumgen transfer my_beat.mid --to latin --out my_beat_latin.mid
      drumgen transfer my_beat.mid --to jazz --wav my_beat_jazz.wav
    """
    from edgegen.runtime.drum_generator import DrumGenerator, Groove
    from edgegen.runtime.files import all_or_none
    from edgegen.runtime.midi_io import read_midi

    if out is None and wav is None:
        raise click.UsageError("give --out (a MIDI file), --wav (audio) or both")
    with all_or_none(out, png, wav):  # every path checked before any work
        track = read_midi(midi_in, channel=channel - 1)
        generator = DrumGenerator(models_dir)
        source = Groove(track.grids, track.velocities / 127.0, track.offsets)  # the file's own dynamics and feel
        groove = generator.transfer(source, to_style.lower(), seed=seed, strength=strength, mode=mode,
                                    complexity=complexity, keep=keep)
        _write_outputs(groove, out, png, bpm or track.bpm, swing, humanize, seed, note_map,
                       wav=wav, quantize=quantize)
    click.echo(f"wrote {_written(out, png, wav)} ({len(groove)} bars of {midi_in} as {to_style})")


@main.command()
@click.argument("midi_in", metavar="[FILE.mid]", required=False, type=InputFile())
@style_option("Show generated bars of this style instead of a file.")
@BARS
@SEED
@CHANNEL
@MODELS
def show(midi_in, style, bars, seed, channel, models_dir) -> None:
    """Print drum bars in the terminal: a MIDI file's, or freshly generated ones (--style).

    \b
    Examples:
      drumgen show groove.mid
      drumgen show --style jazz --bars 2 --seed 4
    """
    from edgegen.runtime.drum_render import grid_text

    if (midi_in is None) == (style is None):
        raise click.UsageError("give a MIDI file or --style")
    if midi_in is not None:
        from edgegen.runtime.midi_io import read_midi

        track = read_midi(midi_in, channel=channel - 1)
        click.echo(grid_text(track.grids, title=f"{midi_in}: {len(track.grids)} bars at {track.bpm:g} BPM"))
    else:
        from edgegen.runtime.drum_generator import DrumGenerator

        seed = resolve_seed(seed)
        groove = DrumGenerator(models_dir).sample(style.lower(), bars, seed)
        click.echo(grid_text(groove.hits, title=f"{style}, seed {seed}"))


@main.command()
@click.argument("midi_in", metavar="IN.mid", type=InputFile())
@CHANNEL
@click.option("--note-map", "--map", "note_map", type=InputFile(), default=None,
              help="JSON {instrument: pitch} the file was written with (drum machines that are not General MIDI).")
@out_option("WAV file to write (atomically): 44.1 kHz, 16-bit, mono.")
def render(midi_in, channel, note_map, out) -> None:
    """Play a drum MIDI file through the built-in drum kit into a WAV file (no DAW or sound font needed).

    Every note sounds at its exact time and velocity (the file's tempo changes included);
    General MIDI drum pitches map to kick, snare, hats, toms, crash, ride and clap.

    \b
    Examples:
      drumgen render groove.mid --out groove.wav
      drumgen render performance.mid --channel 1 --out performance.wav
    """
    from edgegen.runtime.drum_synth import write_wav
    from edgegen.runtime.files import all_or_none
    from edgegen.runtime.midi_io import load_note_map, read_drum_notes

    with all_or_none(out):  # checked before the file is read
        notes = read_drum_notes(midi_in, channel=channel - 1,
                                note_map=None if note_map is None else load_note_map(note_map))
        seconds = write_wav(out, notes, source=str(midi_in))
    click.echo(f"wrote {out} ({seconds:.1f} s, {len(notes.seconds)} notes of {midi_in})")


main.add_command(ports, "ports")
main.add_command(play, "play")


if __name__ == "__main__":
    main()
