// Playback on the AudioContext clock: each bar's notes are scheduled a bar ahead (start(when) on the audio
// thread's clock, never setTimeout for timing), optionally mirrored to a WebMIDI output with timestamps.
// Timing per bar comes from midi.barEvents, the same function the MIDI file uses (swing included).

import { barEvents } from "./midi.mjs";
import { renderKit } from "./synth.mjs";

const START_DELAY = 0.1; // seconds between pressing play and the first note
const TICK_MS = 25; // how often the scheduler looks ahead
const NOTE_OFF_STEPS = 0.5; // midi_io.NOTE_LENGTH_STEPS

export class Player {
  // nextBar(): Promise of {hits [steps][instruments] (one bar), velocities [steps][instruments] or null}.
  constructor({ instruments, pitches, nextBar, onBar = () => {}, stats }) {
    this.instruments = instruments;
    this.pitches = pitches;
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

  async start() {
    if (this.playing) return;
    if (!this.context) {
      this.context = new AudioContext();
      const samples = renderKit(this.instruments, this.context.sampleRate);
      this.kit = Object.fromEntries(Object.entries(samples).map(([name, data]) => {
        const buffer = this.context.createBuffer(1, data.length, this.context.sampleRate);
        buffer.copyToChannel(data, 0);
        return [name, buffer];
      }));
    }
    await this.context.resume();
    this.nextBarTime = this.context.currentTime + START_DELAY;
    this.pending = null;
    this.sources = new Set();
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

  scheduleBar(bar, start) {
    const step = this.stepSeconds();
    const midiOffset = performance.now() - this.context.currentTime * 1000; // audio clock -> DOMHighResTimeStamp
    for (const [time, pitch, velocity] of barEvents(bar.hits, this.pitches, this.swing, bar.velocities)) {
      const when = start + time * step;
      const name = this.instruments[this.pitches.indexOf(pitch)];
      const source = this.context.createBufferSource();
      const gain = this.context.createGain();
      source.buffer = this.kit[name];
      gain.gain.value = velocity / 127;
      source.connect(gain).connect(this.context.destination);
      source.onended = () => this.sources.delete(source);
      this.sources.add(source);
      source.start(when);
      if (this.midiOutput) {
        this.midiOutput.send([0x99, pitch, velocity], midiOffset + when * 1000);
        this.midiOutput.send([0x89, pitch, 0], midiOffset + (when + NOTE_OFF_STEPS * step) * 1000);
      }
      this.stats.scheduledEvents += 1;
    }
    this.stats.scheduledBars += 1;
  }
}
