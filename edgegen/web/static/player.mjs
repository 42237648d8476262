// Playback on the AudioContext clock: each bar's notes are scheduled a bar ahead (start(when) on the audio
// thread's clock, never setTimeout for timing), optionally mirrored to a WebMIDI output with timestamps.
// Timing per bar comes from midi.barEvents, the same function the MIDI file uses (learned offsets and velocities,
// swing on top); the sound is
// drum_synth's rendering of a note (synth.mjs): body + bright layers by velocity, hat choke, soft limiter.

import { barEvents } from "./midi.mjs";
import { noteGains, softLimit } from "./synth.mjs";

const START_DELAY = 0.1; // seconds between pressing play and the first note
const TICK_MS = 25; // how often the scheduler looks ahead
const NOTE_OFF_STEPS = 0.5; // midi_io.NOTE_LENGTH_STEPS
const LIMITER_RANGE = 4; // the limiter's curve covers mixes up to 4x full scale

export class Player {
  // nextBar(): Promise of {hits [steps][instruments] (one bar), velocities and offsets (the bar's, steps * instruments,
  // or null), quantize};
  // kit: Promise of synth.renderKit's result at sampleRate (built in a worker while the page is idle).
  constructor({ instruments, pitches, kit, sampleRate, nextBar, onBar = () => {}, stats }) {
    this.instruments = instruments;
    this.pitches = pitches;
    this.rendered = kit;
    this.sampleRate = sampleRate;
    this.nextBar = nextBar;
    this.onBar = onBar;
    this.stats = stats;
    this.context = null;
    this.kit = null;
    this.timer = null;
    this.midiOutput = null;
    this.bpm = 120;
    this.swing = 0;
  }

  get playing() {
    return this.timer !== null;
  }

  stepSeconds() {
    return 60 / this.bpm / 4;
  }

  // drum_synth.soft_limit as a WaveShaper on the master bus (input scaled by 1 / LIMITER_RANGE).
  makeLimiter(threshold) {
    const points = 8193;
    const curve = Float32Array.from({ length: points }, (_, i) =>
      softLimit(LIMITER_RANGE * (2 * i / (points - 1) - 1), threshold));
    const input = this.context.createGain();
    input.gain.value = 1 / LIMITER_RANGE;
    const shaper = this.context.createWaveShaper();
    shaper.curve = curve;
    input.connect(shaper).connect(this.context.destination);
    return input;
  }

  buffer(data) {
    const buffer = this.context.createBuffer(1, data.length, this.context.sampleRate);
    buffer.copyToChannel(data, 0);
    return buffer;
  }

  // The context runs at the kit's rate (the browser resamples to the device), so notes are drum_synth's samples.
  async prepare() {
    const context = new AudioContext({ sampleRate: this.sampleRate, latencyHint: "interactive" });
    const resumed = context.resume(); // within the click's user activation, before awaiting anything
    this.context = context;
    const kit = await this.rendered;
    this.kit = { ...kit, voices: kit.voices.map((v) => ({ ...v, body: this.buffer(v.body), bright: this.buffer(v.bright) })) };
    this.output = this.makeLimiter(kit.limiter_threshold);
    await resumed;
  }

  async start() {
    if (this.playing) return;
    if (!this.preparing) this.preparing = this.prepare();
    await this.preparing;
    if (this.playing) return;
    await this.context.resume();
    this.nextBarTime = this.context.currentTime + START_DELAY;
    this.pending = null;
    this.sources = new Set();
    this.ringing = {}; // choke group -> {start, gains} of its latest notes
    this.timer = setInterval(() => this.tick(), TICK_MS);
    await this.tick();
  }

  stop() {
    if (!this.playing) return;
    clearInterval(this.timer);
    this.timer = null;
    for (const source of this.sources) source.stop();
    this.sources.clear();
    if (this.midiOutput) {
      this.midiOutput.send([0xb9, 123, 0]); // all notes off, channel 10
      this.midiOutput.send([0xb9, 120, 0]); // all sound off
    }
  }

  // Schedule the next bar once it starts within a bar of now (a bar ahead on the audio clock).
  async tick() {
    if (!this.playing || this.pending) return;
    const barSeconds = 16 * this.stepSeconds();
    if (this.nextBarTime - this.context.currentTime > barSeconds) return;
    this.pending = this.nextBar();
    const bar = await this.pending;
    this.pending = null;
    if (!this.playing) return;
    const start = Math.max(this.nextBarTime, this.context.currentTime + 0.01);
    this.scheduleBar(bar, start);
    this.onBar(bar, start, this.context);
    this.nextBarTime = start + bar.hits.length * this.stepSeconds();
  }

  play(source, gain, destination, when) {
    const node = this.context.createBufferSource();
    const level = this.context.createGain();
    node.buffer = source;
    level.gain.value = gain;
    node.connect(level).connect(destination);
    node.onended = () => this.sources.delete(node);
    this.sources.add(node);
    node.start(when);
  }

  // One note as drum_synth renders it: loud * (body + bright * bright_gain); a later note of the voice's choke
  // group fades it out linearly over kit.choke_fade from that note's start.
  scheduleNote(voice, velocity, when) {
    const [loud, brightGain] = noteGains(this.kit, velocity);
    const choke = this.context.createGain();
    choke.connect(this.output);
    this.play(voice.body, loud, choke, when);
    this.play(voice.bright, loud * brightGain, choke, when);
    if (!voice.chokeGroup) return;
    const ringing = this.ringing[voice.chokeGroup];
    if (ringing && ringing.start < when) {
      for (const gain of ringing.gains) {
        gain.gain.setValueAtTime(1, when);
        gain.gain.linearRampToValueAtTime(0, when + this.kit.choke_fade);
      }
      this.ringing[voice.chokeGroup] = { start: when, gains: [choke] };
    } else if (ringing && ringing.start === when) {
      ringing.gains.push(choke);
    } else {
      this.ringing[voice.chokeGroup] = { start: when, gains: [choke] };
    }
  }

  scheduleBar(bar, start) {
    const step = this.stepSeconds();
    const midiOffset = performance.now() - this.context.currentTime * 1000; // audio clock -> DOMHighResTimeStamp
    const events = barEvents(bar.hits, this.pitches, this.swing, bar.velocities ?? null, bar.offsets ?? null,
                             Boolean(bar.quantize));
    const scheduled = [];
    for (const [time, pitch, velocity] of events) {
      const when = start + time * step;
      scheduled.push([time, pitch, velocity, when]);
      this.scheduleNote(this.kit.voices[this.pitches.indexOf(pitch)], velocity, when);
      if (this.midiOutput) {
        this.midiOutput.send([0x99, pitch, velocity], midiOffset + when * 1000);
        this.midiOutput.send([0x89, pitch, 0], midiOffset + (when + NOTE_OFF_STEPS * step) * 1000);
      }
      this.stats.scheduledEvents += 1;
    }
    this.stats.scheduledBars += 1;
    // the last few bars as scheduled: [time in steps, pitch, velocity, audio-clock time] per note, for tests
    this.stats.recentBars = [...(this.stats.recentBars || []).slice(-7), { index: bar.index, start, events: scheduled }];
  }
}
