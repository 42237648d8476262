"""A drum kit synthesised from a parameter table, and drum notes rendered through it to a WAV file.

Why: a user who samples a groove should hear it without a DAW or a sound font,
and the web page (issue 15) must play the same kit. So the kit is data (:data:`KIT`,
also as JSON from :func:`kit_json`) plus the small recipe below, built only from
operations that are a few lines in JavaScript: sines, uniform noise from
:mod:`edgegen.runtime.portable_random`, exponential envelopes and RBJ biquads
written out. Numpy and the standard ``wave`` module only; no scipy, no torch.

Recipe for one voice's one-shot at sample rate ``sr`` (float64 throughout)
---------------------------------------------------------------------------
``n = round(voice.length * sr)`` (numpy rounds halves to even, JavaScript's Math.round up;
no length in the table lands on a half), ``t[i] = i / sr``. One random stream per voice,
``rng(voice.seed)``; layers are built in table order, and each ``noise`` layer
takes the next ``n`` uniforms ``u`` of that stream as ``x = 2u - 1``.

For each layer:
1. source ``x[i]``:
   - ``sine``: ``sin(phase)``, ``square``: ``+1 if sin(phase) >= 0 else -1``, with
     ``phase = 2 pi (hz t + drop_hz drop_decay (1 - exp(-t / drop_decay)))``, the
     integral of the pitch ``hz + drop_hz exp(-t / drop_decay)`` (a drop from
     ``hz + drop_hz`` to ``hz``);
   - ``noise``: as above.
2. each filter of ``layer.filters`` in order: an RBJ cookbook biquad (see
   :func:`biquad_coefficients`) run in direct form I from zero state:
   ``y = b0 x[i] + b1 x[i-1] + b2 x[i-2] - a1 y[i-1] - a2 y[i-2]``.
3. envelope: with ``u = t - delay``: 0 where ``u < 0``, else
   ``exp(-u / decay) * min(1, u / attack)`` (the min term only if ``attack > 0``).
4. ``gain * envelope * filtered`` is added to the voice's ``bright`` buffer if
   ``layer.bright`` else to its ``body`` buffer.

Then both buffers are multiplied by a fade-out over the last ``FADE_OUT`` s,
``min(1, (n - 1 - i) / round(FADE_OUT sr))``, and both are scaled by one factor
so that ``max |body + bright| = voice.level``.

Playing a note (time s, instrument, velocity v)
-----------------------------------------------
It starts at sample ``round(s * sr)`` (sample-accurate, so microtiming is heard) and adds
``loud * (body + bright * bright_gain)`` with ``loud = (v/127) ** kit.velocity_exponent``
and ``bright_gain = (v/127) ** kit.brightness_exponent``: harder hits are louder and
brighter. A note of a voice with a ``choke_group`` is cut by the next later note of
the same group (a closed hat chokes a ringing open hat): from that note's sample on
it is multiplied by a linear ramp from 1 to 0 over ``kit.choke_fade`` s. The file
lasts ``max(end of the MIDI file, last onset) + kit.tail`` s, and the mix passes a
soft limiter that never clips (:func:`soft_limit`: identity below
``kit.limiter_threshold``, then a rational knee that approaches 1 and never
reaches it) before 16-bit PCM (``round(y * 32767)``), mono, 44.1 kHz.
"""
from __future__ import annotations

import json
import math
import os
import wave
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from edgegen.runtime import portable_random
from edgegen.runtime.drum_spec import INSTRUMENTS
from edgegen.runtime.files import atomic_output

SAMPLE_RATE = 44100
SAMPLE_WIDTH = 2  # bytes: 16-bit PCM
CHANNELS = 1
FADE_OUT = 0.005  # s at the end of every one-shot, so cutting it off does not click
MAX_SECONDS = 3600.0
"""Longest audio a render writes (318 MB of 16-bit mono); a longer file is refused before any work."""
BLOCK = 1 << 16  # samples mixed at a time: memory stays flat however long the file is
KIT_FORMAT = 1

SOURCES = ("sine", "square", "noise")
FILTER_KINDS = ("lowpass", "highpass", "bandpass")


class RenderError(ValueError):
    """Notes we will not render (too long); the message is one line meant for the user."""


# ----------------------------------------------------------------------------- the kit as data


@dataclass(frozen=True)
class Filter:
    """One RBJ biquad."""

    kind: str  # "lowpass" | "highpass" | "bandpass" (constant 0 dB peak gain)
    hz: float  # cutoff or centre frequency, below half the sample rate
    q: float = 0.7071  # quality factor; 0.7071 = Butterworth for low/high pass


@dataclass(frozen=True)
class Layer:
    """One sound source of a voice with its filters and envelope (recipe steps 1-4 in the module docstring)."""

    source: str  # "sine" | "square" | "noise"
    gain: float  # relative to the voice's other layers (the voice is normalised to its level)
    decay: float  # s: the envelope falls by 1/e every `decay` seconds
    hz: float = 0.0  # sine/square: resting pitch
    drop_hz: float = 0.0  # sine/square: extra pitch at the start, decaying away (a kick's thump)
    drop_decay: float = 0.01  # s: time constant of that pitch drop
    delay: float = 0.0  # s from the note's start before the layer sounds (a clap's bursts)
    attack: float = 0.0  # s of linear rise (0 = instant)
    filters: tuple[Filter, ...] = ()
    bright: bool = False  # part of the bright buffer, which harder hits bring up


@dataclass(frozen=True)
class Voice:
    """One instrument's one-shot: a sum of layers, a length and a peak level."""

    name: str  # one of drum_spec.INSTRUMENTS
    length: float  # s of the one-shot
    level: float  # peak of body + bright at velocity 127, before the limiter
    seed: int  # of the voice's portable_random stream (its noise)
    layers: tuple[Layer, ...]
    choke_group: str = ""  # a later note of the same group cuts this one ("" = rings out)


@dataclass(frozen=True)
class Kit:
    """Voices (in drum_spec.INSTRUMENTS order) and how notes play them."""

    voices: tuple[Voice, ...]
    velocity_exponent: float = 1.6  # loudness = (v/127) ** this
    brightness_exponent: float = 1.5  # bright layers = (v/127) ** this, on top of the loudness
    choke_fade: float = 0.01  # s of linear fade when a note is choked
    tail: float = 1.5  # s after the end of the file (cymbals ring on)
    limiter_threshold: float = 0.75  # the mix passes unchanged up to this level
    format: int = KIT_FORMAT


def _noise(gain, decay, *filters, **options) -> Layer:
    return Layer("noise", gain, decay, filters=tuple(filters), **options)


def _tone(source, hz, gain, decay, **options) -> Layer:
    return Layer(source, gain, decay, hz=hz, **options)


def HP(hz: float, q: float = 0.7071) -> Filter:  # noqa: N802 (reads like the table it builds)
    return Filter("highpass", hz, q)


def LP(hz: float, q: float = 0.7071) -> Filter:  # noqa: N802
    return Filter("lowpass", hz, q)


def BP(hz: float, q: float = 0.7071) -> Filter:  # noqa: N802
    return Filter("bandpass", hz, q)


# Inharmonic square partials of the TR-808 cymbal circuit: high-passed, they ring metallic.
_METAL_HZ = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)


def _metal(gain, decay, *filters) -> tuple[Layer, ...]:
    return tuple(_tone("square", hz, gain, decay, filters=tuple(filters)) for hz in _METAL_HZ)


KIT = Kit(voices=(
    Voice("kick", length=0.6, level=0.75, seed=1, layers=(
        _tone("sine", 48.0, 1.0, 0.30, drop_hz=110.0, drop_decay=0.035),  # the thump: 158 -> 48 Hz
        _tone("sine", 96.0, 0.12, 0.08, drop_hz=200.0, drop_decay=0.02),  # a little body above it
        _tone("sine", 180.0, 0.35, 0.012, drop_hz=900.0, drop_decay=0.004, bright=True),  # beater click
        _noise(0.25, 0.004, HP(2500.0), bright=True),
    )),
    Voice("snare", length=0.45, level=0.6, seed=2, layers=(
        _tone("sine", 185.0, 0.55, 0.07, drop_hz=60.0, drop_decay=0.02),  # the drum head
        _tone("sine", 330.0, 0.25, 0.045, drop_hz=40.0, drop_decay=0.02),
        _noise(0.75, 0.16, HP(1200.0), LP(8000.0)),  # the wires
        _noise(0.45, 0.08, HP(5000.0), bright=True),
    )),
    Voice("closed_hat", length=0.15, level=0.3, seed=3, choke_group="hat", layers=(
        _noise(1.0, 0.028, HP(6000.0), HP(6000.0), LP(13000.0)),
        *_metal(0.12, 0.025, HP(6500.0), HP(6500.0)),
        _noise(0.35, 0.015, HP(10000.0), bright=True),
    )),
    Voice("open_hat", length=1.0, level=0.3, seed=4, choke_group="hat", layers=(
        _noise(1.0, 0.32, HP(5500.0), HP(5500.0), LP(13000.0), attack=0.002),
        *_metal(0.14, 0.30, HP(6000.0), HP(6000.0)),
        _noise(0.35, 0.12, HP(10000.0), bright=True),
    )),
    Voice("tom_high", length=0.8, level=0.55, seed=5, layers=(
        _tone("sine", 196.0, 1.0, 0.25, drop_hz=70.0, drop_decay=0.06),
        _tone("sine", 294.0, 0.2, 0.12, drop_hz=100.0, drop_decay=0.06),
        _noise(0.25, 0.015, LP(5000.0), HP(800.0), bright=True),
    )),
    Voice("tom_low", length=1.0, level=0.55, seed=6, layers=(
        _tone("sine", 105.0, 1.0, 0.35, drop_hz=40.0, drop_decay=0.08),
        _tone("sine", 158.0, 0.2, 0.16, drop_hz=60.0, drop_decay=0.08),
        _noise(0.25, 0.015, LP(4000.0), HP(600.0), bright=True),
    )),
    Voice("crash", length=2.5, level=0.38, seed=7, layers=(
        _noise(1.0, 0.85, HP(2500.0), LP(11000.0), attack=0.003),  # a wash of broadband noise
        _noise(0.6, 0.15, BP(5000.0, 0.6)),  # the splash of the first moment
        _noise(0.6, 0.45, HP(8500.0), bright=True),
    )),
    Voice("ride", length=2.5, level=0.3, seed=8, layers=(
        # the ping: inharmonic partials that ring long (the "bell-like" part a crash does not have)
        _tone("sine", 3180.0, 0.30, 0.9), _tone("sine", 3710.0, 0.22, 0.7), _tone("sine", 4630.0, 0.20, 0.8),
        _tone("sine", 5360.0, 0.14, 0.6), _tone("sine", 820.0, 0.10, 0.5), _tone("sine", 1240.0, 0.08, 0.4),
        _noise(0.35, 0.55, HP(6000.0)),  # a light shimmer under it
        _noise(0.45, 0.012, HP(8000.0), bright=True),  # the stick
    )),
    Voice("clap", length=0.5, level=0.5, seed=9, layers=(
        _noise(1.0, 0.006, BP(1200.0, 1.2)),  # three hands a few milliseconds apart ...
        _noise(1.0, 0.006, BP(1200.0, 1.2), delay=0.011),
        _noise(1.0, 0.006, BP(1200.0, 1.2), delay=0.022),
        _noise(0.8, 0.11, BP(1200.0, 1.2), delay=0.031),  # ... and the room after them
        _noise(0.15, 0.05, HP(4000.0), delay=0.031, bright=True),
    )),
))


def kit_dict(kit: Kit = KIT) -> dict:
    """The kit as plain data (lists and numbers), as :func:`kit_json` writes it."""
    return asdict(kit)


def kit_json(kit: Kit = KIT) -> str:
    """The kit as JSON: everything :func:`one_shot` needs besides the sample rate (the web page reads this)."""
    return json.dumps(kit_dict(kit), indent=1)


def kit_from_dict(data: dict) -> Kit:
    """A Kit from :func:`kit_dict`'s data, checked; ValueError on anything else."""
    try:
        if data.get("format") != KIT_FORMAT:
            raise ValueError(f"kit format {data.get('format')!r}, expected {KIT_FORMAT}")
        voices = tuple(
            Voice(**{**v, "layers": tuple(Layer(**{**layer, "filters": tuple(Filter(**f) for f in layer["filters"])})
                                          for layer in v["layers"])})
            for v in data["voices"])
        kit = Kit(**{**data, "voices": voices})
    except (TypeError, KeyError, AttributeError) as error:
        raise ValueError(f"not a drum kit description ({error})") from None
    check_kit(kit)
    return kit


def kit_from_json(text: str) -> Kit:
    """The inverse of :func:`kit_json`."""
    return kit_from_dict(json.loads(text))


def check_kit(kit: Kit, sample_rate: int = SAMPLE_RATE) -> None:
    """Raise ValueError if the kit cannot be built at ``sample_rate`` (names, sources, filter frequencies)."""
    if tuple(v.name for v in kit.voices) != INSTRUMENTS:
        raise ValueError(f"a kit needs the voices {list(INSTRUMENTS)} in that order")
    for voice in kit.voices:
        if not (voice.length > 0 and voice.level > 0):
            raise ValueError(f"{voice.name}: length and level must be positive")
        for layer in voice.layers:
            if layer.source not in SOURCES:
                raise ValueError(f"{voice.name}: unknown source {layer.source!r}")
            if layer.decay <= 0 or layer.drop_decay <= 0:
                raise ValueError(f"{voice.name}: decays must be positive")
            for f in layer.filters:
                if f.kind not in FILTER_KINDS or not 0 < f.hz < sample_rate / 2 or f.q <= 0:
                    raise ValueError(f"{voice.name}: bad filter {f}")


# ----------------------------------------------------------------------------- the recipe


def biquad_coefficients(kind: str, hz: float, q: float, sample_rate: int) -> tuple[float, ...]:
    """(b0, b1, b2, a1, a2) of the RBJ Audio EQ Cookbook filter, divided by a0."""
    w0 = 2.0 * math.pi * hz / sample_rate
    cos_w0, alpha = math.cos(w0), math.sin(w0) / (2.0 * q)
    if kind == "lowpass":
        b = ((1 - cos_w0) / 2, 1 - cos_w0, (1 - cos_w0) / 2)
    elif kind == "highpass":
        b = ((1 + cos_w0) / 2, -(1 + cos_w0), (1 + cos_w0) / 2)
    elif kind == "bandpass":
        b = (alpha, 0.0, -alpha)
    else:
        raise ValueError(f"unknown filter kind {kind!r}")
    a0 = 1 + alpha
    return b[0] / a0, b[1] / a0, b[2] / a0, -2 * cos_w0 / a0, (1 - alpha) / a0


def biquad(x: np.ndarray, coefficients: tuple[float, ...]) -> np.ndarray:
    """Direct form I from zero state, sample by sample, exactly as the JavaScript loop does it."""
    b0, b1, b2, a1, a2 = coefficients
    out = [0.0] * len(x)
    x1 = x2 = y1 = y2 = 0.0
    for i, xi in enumerate(x.tolist()):
        y = b0 * xi + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
        x2, x1, y2, y1 = x1, xi, y1, y
        out[i] = y
    return np.array(out, dtype=np.float64)


def _layer_signal(layer: Layer, t: np.ndarray, noise: portable_random.PortableRandom, sample_rate: int) -> np.ndarray:
    if layer.source == "noise":
        x = 2.0 * noise.random(len(t)) - 1.0
    else:
        phase = 2 * np.pi * (layer.hz * t + layer.drop_hz * layer.drop_decay * (1 - np.exp(-t / layer.drop_decay)))
        x = np.sin(phase)
        if layer.source == "square":
            x = np.where(x >= 0, 1.0, -1.0)
    for f in layer.filters:
        x = biquad(x, biquad_coefficients(f.kind, f.hz, f.q, sample_rate))
    u = t - layer.delay
    envelope = np.exp(-np.maximum(u, 0.0) / layer.decay)
    if layer.attack > 0:
        envelope *= np.minimum(1.0, np.maximum(u, 0.0) / layer.attack)
    return layer.gain * np.where(u < 0, 0.0, envelope) * x


def one_shot(voice: Voice, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """(body, bright), each [round(length * sample_rate)] float64: the voice's sample, a pure function of
    the voice's parameters and the sample rate (recipe in the module docstring)."""
    n = round(voice.length * sample_rate)
    t = np.arange(n, dtype=np.float64) / sample_rate
    noise = portable_random.rng(voice.seed)
    body, bright = np.zeros(n), np.zeros(n)
    for layer in voice.layers:
        signal = _layer_signal(layer, t, noise, sample_rate)
        if layer.bright:
            bright += signal
        else:
            body += signal
    fade = np.minimum(1.0, (n - 1 - np.arange(n)) / max(1, round(FADE_OUT * sample_rate)))
    body, bright = body * fade, bright * fade
    scale = voice.level / max(float(np.max(np.abs(body + bright))), 1e-12)
    return body * scale, bright * scale


@lru_cache(maxsize=4)
def kit_samples(kit: Kit = KIT, sample_rate: int = SAMPLE_RATE) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Every voice's (body, bright) as float32, in INSTRUMENTS order (built once per process)."""
    check_kit(kit, sample_rate)
    return tuple(tuple(part.astype(np.float32) for part in one_shot(voice, sample_rate)) for voice in kit.voices)


# ----------------------------------------------------------------------------- rendering notes


def soft_limit(x: np.ndarray, threshold: float) -> np.ndarray:
    """Identity up to ``threshold``; above it ``threshold + (1 - threshold) d / (1 + d)`` with
    ``d = (|x| - threshold) / (1 - threshold)``: continuous in value and slope, always below 1."""
    magnitude = np.abs(x)
    over = np.maximum(magnitude - threshold, 0.0) / (1.0 - threshold)
    limited = np.where(magnitude > threshold, threshold + (1.0 - threshold) * over / (1.0 + over), magnitude)
    return np.sign(x) * limited


@dataclass
class _Schedule:
    """Per note, sorted by start: where it starts, how loud, and where (if anywhere) it is choked."""

    starts: np.ndarray  # [n] int64 sample
    voices: np.ndarray  # [n] int64
    loud: np.ndarray  # [n] float64
    bright: np.ndarray  # [n] float64
    chokes: np.ndarray  # [n] int64 sample where a later note of its choke group starts, -1 if none
    total: int  # samples in the file


def _schedule(seconds, instruments, velocities, end_seconds: float, kit: Kit, sample_rate: int) -> _Schedule:
    starts = np.round(np.asarray(seconds, np.float64) * sample_rate).astype(np.int64)
    order = np.argsort(starts, kind="stable")
    starts, voices = starts[order], np.asarray(instruments, np.int64)[order]
    level = np.clip(np.asarray(velocities, np.float64)[order], 1, 127) / 127.0
    chokes = np.full(len(starts), -1, np.int64)
    groups = np.array([kit.voices[v].choke_group for v in voices.tolist()], dtype=object)
    for group in {g for g in groups.tolist() if g}:
        members = np.flatnonzero(groups == group)
        times = np.unique(starts[members])  # sorted
        later = np.searchsorted(times, starts[members], side="right")  # the group's next start after each note
        choked = later < len(times)
        chokes[members[choked]] = times[later[choked]]
    end = max(float(end_seconds), float(starts[-1]) / sample_rate if len(starts) else 0.0)
    total = round((end + kit.tail) * sample_rate)
    return _Schedule(starts, voices, level ** kit.velocity_exponent, level ** kit.brightness_exponent, chokes, total)


def render_blocks(seconds, instruments, velocities, end_seconds: float, kit: Kit = KIT,
                  sample_rate: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """The mix as int16 blocks of at most BLOCK samples; together they hold :func:`duration` worth."""
    shots = kit_samples(kit, sample_rate)
    plan = _schedule(seconds, instruments, velocities, end_seconds, kit, sample_rate)
    longest = max(len(body) for body, _ in shots)
    fade = max(1, round(kit.choke_fade * sample_rate))
    for block_start in range(0, plan.total, BLOCK):
        block_end = min(block_start + BLOCK, plan.total)
        mix = np.zeros(block_end - block_start, np.float64)
        first = np.searchsorted(plan.starts, block_start - longest, side="right")
        last = np.searchsorted(plan.starts, block_end, side="left")
        for i in range(first, last):
            body, bright = shots[plan.voices[i]]
            start, length = int(plan.starts[i]), len(body)
            if plan.chokes[i] >= 0:
                length = min(length, int(plan.chokes[i]) - start + fade)
            lo, hi = max(block_start, start), min(block_end, start + length)
            if hi <= lo:
                continue
            part = slice(lo - start, hi - start)
            sound = plan.loud[i] * (body[part] + plan.bright[i] * bright[part])
            if plan.chokes[i] >= 0:
                since = np.arange(lo, hi) - plan.chokes[i]
                sound = sound * np.clip(1.0 - since / fade, 0.0, 1.0)
            mix[lo - block_start:hi - block_start] += sound
        yield np.round(soft_limit(mix, kit.limiter_threshold) * 32767).astype(np.int16)


def duration(seconds, end_seconds: float, kit: Kit = KIT) -> float:
    """Seconds of audio a render of these notes writes: the end of the file (or last onset) plus the tail."""
    last = float(np.max(seconds)) if len(seconds) else 0.0
    return max(float(end_seconds), last) + kit.tail


def render(seconds, instruments, velocities, end_seconds: float, kit: Kit = KIT,
           sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The whole mix as one int16 array [samples] (for short grooves and tests; files go block by block)."""
    blocks = list(render_blocks(seconds, instruments, velocities, end_seconds, kit, sample_rate))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.int16)


def write_wav(path: str | os.PathLike, notes, kit: Kit = KIT, sample_rate: int = SAMPLE_RATE,
              source: str = "") -> float:
    """Render ``notes`` (a midi_io.DrumNotes) to a 16-bit mono WAV file, atomically; returns its seconds.

    RenderError (before anything is written) if the audio would last more than MAX_SECONDS.
    """
    seconds = duration(notes.seconds, notes.end_seconds, kit)
    if seconds > MAX_SECONDS:
        raise RenderError(f"{source or path}: {seconds / 60:.0f} minutes of audio is more than the "
                          f"{MAX_SECONDS / 60:.0f} a render may write")
    with atomic_output(Path(path), suffix=".wav") as tmp:
        with wave.open(str(tmp), "wb") as out:
            out.setnchannels(CHANNELS)
            out.setsampwidth(SAMPLE_WIDTH)
            out.setframerate(sample_rate)
            for block in render_blocks(notes.seconds, notes.instruments, notes.velocities, notes.end_seconds,
                                       kit, sample_rate):
                out.writeframes(block.astype("<i2").tobytes())
    return seconds
