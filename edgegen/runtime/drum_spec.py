"""The drum-bar format every part of edgegen shares (DESIGN section 3.2).

A bar is a binary grid [STEPS, len(INSTRUMENTS)]: 16th notes of one 4/4 bar,
instruments in a fixed order; each hit also has a velocity (0-1) and an offset
from the grid (-0.5..0.5 of a 16th). General MIDI drums live on channel 10 (mido
channel 9).
"""
from __future__ import annotations

STEPS = 16
STEPS_PER_BEAT = 4

INSTRUMENTS: tuple[str, ...] = (
    "kick", "snare", "closed_hat", "open_hat", "tom_high", "tom_low", "crash", "ride", "clap",
)

# The models see a bar as HVO [STEPS, HVO_CHANNELS]: hits, then velocities (0-1), then offsets from the
# grid (-0.5..0.5 of a step), one column per instrument each (GrooVAE's representation).
HVO_CHANNELS = 3 * len(INSTRUMENTS)
TIME_KEEPERS = (2, 3, 7)  # closed hat, open hat, ride: the voices that keep time
STYLES: tuple[str, ...] = ("rock", "jazz", "hiphop", "latin", "electronic")

KICK_SNARE = (0, 1)  # the backbone a style transfer keeps: kick and snare columns
# Every "fit" transfer bar keeps at least this share of its source's kick and snare onsets
# (chosen on GMD's validation split; reports/drums/README.md shows the trade-off). Here so the CLI
# can show it without importing numpy.
TRANSFER_KEEP = 0.75

# GMD style column (the part before any '/') -> our style; anything else is dropped.
GMD_STYLE_MAP: dict[str, str] = {
    "rock": "rock",
    "jazz": "jazz",
    "hiphop": "hiphop",
    "latin": "latin",
    "afrocuban": "latin",
    "dance": "electronic",
}

# Reading: the usual GM pitches of each class.
GM_READ_PITCHES: dict[str, tuple[int, ...]] = {
    "kick": (35, 36),
    "snare": (38, 40, 37),
    "closed_hat": (42, 44, 22),
    "open_hat": (46, 26),
    "tom_high": (48, 50, 47),
    "tom_low": (45, 43, 41, 58),
    "crash": (49, 52, 55, 57),
    "ride": (51, 53, 59),
    "clap": (39,),
}

# Writing: one pitch per class (a user can pass another map as JSON).
GM_WRITE_PITCHES: dict[str, int] = {
    "kick": 36, "snare": 38, "closed_hat": 42, "open_hat": 46, "tom_high": 50,
    "tom_low": 45, "crash": 49, "ride": 51, "clap": 39,
}

DRUM_CHANNEL = 9  # mido numbering; "channel 10" to a musician

PITCH_TO_INSTRUMENT: dict[int, int] = {
    pitch: index
    for index, name in enumerate(INSTRUMENTS)
    for pitch in GM_READ_PITCHES[name]
}
