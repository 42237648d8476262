// Drum bars -> a Standard MIDI File, byte for byte as edgegen/runtime/midi_io.py writes it
// (bar_events + midi_bytes, without humanisation): the page's "download MIDI" equals `drumgen sample --out`, with
// the groove's learned velocities and offsets (microtiming), or on the grid as `--quantize` writes it.

export const MAX_SWING = 0.75; // midi_io.MAX_SWING
export const MIN_BPM = 4.0; // midi_io.MIN_BPM
export const MAX_BPM = 1000.0; // midi_io.MAX_BPM
const DEFAULT_VELOCITY = 100; // midi_io.DEFAULT_VELOCITY
const NOTE_LENGTH_STEPS = 0.5; // midi_io.NOTE_LENGTH_STEPS
const MAX_OFFSET = 0.49; // midi_io.MAX_OFFSET: a note stays nearer its own 16th than the next
const STEPS_PER_BEAT = 4; // drum_spec.STEPS_PER_BEAT
const DRUM_CHANNEL = 9; // drum_spec.DRUM_CHANNEL (mido numbering)

// Python's round(): halves go to the even neighbour.
export function roundHalfEven(x) {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

// midi_io.midi_velocities for a model's velocities (floats 0-1): round(v * 127) (halves to even), at least 1 for
// any velocity above 0; 0 stays 0 (and plays at DEFAULT_VELOCITY).
export function midiVelocity(v) {
  const x = Number.isNaN(v) ? 0 : v;
  const scaled = roundHalfEven(Math.min(Math.max(x, 0.0), 1.0) * 127);
  return v > 0 ? Math.max(scaled, 1) : 0;
}

// midi_io.bar_events (without humanisation): the note-ons of one bar [steps][instruments] as
// [time_in_steps, pitch, velocity], sorted by time, then pitch.
// velocities: the bar's model velocities (0-1), steps * instruments in C order, or null for a flat DEFAULT_VELOCITY
// (accent_velocities with humanize 0); offsets: each hit's distance from its 16th in steps (held within
// +-MAX_OFFSET), or null. Swing delays odd steps by swing/2 of a step, on top of the offsets. quantize: the plain
// 16th grid (drumgen --quantize): offsets and swing are ignored, the velocities stay.
export function barEvents(grid, pitches, swing = 0.0, velocities = null, offsets = null, quantize = false) {
  if (!(swing >= 0 && swing <= MAX_SWING)) throw new RangeError(`swing must be between 0 and ${MAX_SWING}, got ${swing}`);
  if (quantize) swing = 0.0;
  const steps = grid.length;
  const events = [];
  grid.forEach((row, step) => row.forEach((hit, inst) => {
    if (!hit) return;
    const cell = step * row.length + inst;
    const raw = offsets === null || quantize ? 0.0 : offsets[cell];
    const shift = Math.min(Math.max(Number.isNaN(raw) ? 0 : raw, -MAX_OFFSET), MAX_OFFSET);
    let time = step + shift + (step % 2 === 1 ? swing / 2 : 0.0);
    time = Math.min(Math.max(time, 0.0), steps - 1e-3);
    const velocity = (velocities === null ? DEFAULT_VELOCITY : midiVelocity(velocities[cell])) || DEFAULT_VELOCITY;
    events.push([time, pitches[inst], Math.min(Math.max(velocity, 1), 127)]);
  }));
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return events;
}

// midi_io._variable_int: MIDI's variable-length quantity.
function variableInt(value) {
  const out = [value & 0x7f];
  value = Math.floor(value / 128);
  while (value) {
    out.push(0x80 | (value & 0x7f));
    value = Math.floor(value / 128);
  }
  return out.reverse();
}

// midi_io.midi_bytes: a type-0 file of the bars on channel 10 (480 ticks per beat, 4/4, one tempo).
// velocities and offsets: the groove's, [bars * steps * instruments] in C order (or null), as barEvents takes them.
export function midiBytes(grids, pitches, { bpm = 120.0, swing = 0.0, velocities = null, offsets = null, quantize = false,
                                            ticksPerBeat = 480 } = {}) {
  if (!(Number.isFinite(bpm) && bpm >= MIN_BPM && bpm <= MAX_BPM)) {
    throw new RangeError(`bpm must be between ${MIN_BPM} and ${MAX_BPM}, got ${bpm}`);
  }
  const steps = grids[0].length;
  const ticksPerStep = ticksPerBeat / STEPS_PER_BEAT;
  const noteTicks = Math.max(1, Math.trunc(ticksPerStep * NOTE_LENGTH_STEPS));
  const notes = []; // [key, pitch, velocity]; key = 2 * tick + 1 for on, 2 * tick for off, so offs sort first
  const cells = steps * (grids[0][0] || []).length;
  const ofBar = (flat, bar) => (flat ? flat.slice(bar * cells, (bar + 1) * cells) : null);
  grids.forEach((grid, bar) => {
    const events = barEvents(grid, pitches, swing, ofBar(velocities, bar), ofBar(offsets, bar), quantize);
    for (const [time, pitch, velocity] of events) {
      const start = roundHalfEven((bar * steps + time) * ticksPerStep);
      notes.push([2 * start + 1, pitch, velocity], [2 * (start + noteTicks), pitch, 0]);
    }
  });
  const order = notes.map((_, i) => i).sort((i, j) => notes[i][0] - notes[j][0] || i - j); // stable
  const tempo = roundHalfEven(60 * 1e6 / bpm * 4 / 4); // mido.bpm2tempo
  const track = [0x00, 0xff, 0x58, 0x04, 0x04, 0x02, 0x18, 0x08,
                 0x00, 0xff, 0x51, 0x03, (tempo >> 16) & 0xff, (tempo >> 8) & 0xff, tempo & 0xff];
  let now = 0;
  let running = null;
  for (const i of order) {
    const [key, pitch, velocity] = notes[i];
    const tick = Math.floor(key / 2);
    const status = (key % 2 ? 0x90 : 0x80) | DRUM_CHANNEL;
    track.push(...variableInt(tick - now));
    if (status !== running) {
      track.push(status);
      running = status;
    }
    track.push(pitch, velocity);
    now = tick;
  }
  const end = Math.max(now, roundHalfEven(grids.length * steps * ticksPerStep));
  track.push(...variableInt(end - now), 0xff, 0x2f, 0x00);
  const header = [0x4d, 0x54, 0x68, 0x64, 0, 0, 0, 6, 0, 0, 0, 1, (ticksPerBeat >> 8) & 0xff, ticksPerBeat & 0xff];
  const length = track.length;
  const trackHeader = [0x4d, 0x54, 0x72, 0x6b, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff,
                       length & 0xff];
  return Uint8Array.from([...header, ...trackHeader, ...track]);
}
