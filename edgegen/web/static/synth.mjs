// A small synthesised drum kit: one sample per instrument, rendered once into Float32Arrays and played as
// AudioBuffers. A minimal stand-in written for the page (the numpy kit of `drumgen --wav` was not on main
// when it was written); every recipe is one function, so a port of that kit replaces them one by one.
// Noise comes from the portable generator (seed 0), so the kit is the same on every load.

import { rng } from "./portable_random.mjs";

function envelope(t, decay) {
  return Math.exp(-t / decay);
}

function noise(n, seed) {
  const u = rng(seed).random(n);
  return Float32Array.from(u, (x) => 2 * x - 1);
}

// One-pole high-pass: keeps the hiss of cymbals and hats.
function highpass(x, sampleRate, cutoff) {
  const a = 1 / (1 + 2 * Math.PI * cutoff / sampleRate);
  const out = new Float32Array(x.length);
  let prevIn = 0;
  let prevOut = 0;
  for (let i = 0; i < x.length; i++) {
    prevOut = a * (prevOut + x[i] - prevIn);
    prevIn = x[i];
    out[i] = prevOut;
  }
  return out;
}

// A sine whose pitch falls exponentially from `start` to `end` Hz: kicks and toms.
function sweep(sampleRate, seconds, start, end, fall, decay) {
  const out = new Float32Array(Math.round(sampleRate * seconds));
  let phase = 0;
  for (let i = 0; i < out.length; i++) {
    const t = i / sampleRate;
    phase += 2 * Math.PI * (end + (start - end) * Math.exp(-t / fall)) / sampleRate;
    out[i] = Math.sin(phase) * envelope(t, decay);
  }
  return out;
}

function shaped(x, sampleRate, decay, gain = 1) {
  return x.map((v, i) => gain * v * envelope(i / sampleRate, decay));
}

function mixInto(a, b, gain = 1) {
  const out = new Float32Array(Math.max(a.length, b.length));
  out.set(a);
  b.forEach((v, i) => { out[i] += gain * v; });
  return out;
}

const RECIPES = {
  kick: (sr) => sweep(sr, 0.45, 160, 48, 0.03, 0.16),
  snare: (sr) => mixInto(shaped(highpass(noise(Math.round(sr * 0.3), 1), sr, 1200), sr, 0.07, 0.7),
                         sweep(sr, 0.2, 240, 180, 0.02, 0.06), 0.6),
  closed_hat: (sr) => shaped(highpass(noise(Math.round(sr * 0.08), 2), sr, 7000), sr, 0.015, 0.5),
  open_hat: (sr) => shaped(highpass(noise(Math.round(sr * 0.5), 3), sr, 6000), sr, 0.12, 0.4),
  tom_high: (sr) => sweep(sr, 0.4, 260, 200, 0.05, 0.14),
  tom_low: (sr) => sweep(sr, 0.5, 150, 110, 0.06, 0.18),
  crash: (sr) => shaped(highpass(noise(Math.round(sr * 1.5), 4), sr, 4000), sr, 0.45, 0.35),
  ride: (sr) => {
    const n = Math.round(sr * 0.9);
    const bell = Float32Array.from({ length: n }, (_, i) =>
      [3100, 4400, 5870].reduce((s, f) => s + Math.sign(Math.sin(2 * Math.PI * f * i / sr)), 0) / 3);
    return mixInto(shaped(highpass(noise(n, 5), sr, 5000), sr, 0.3, 0.25), shaped(bell, sr, 0.25, 0.12));
  },
  clap: (sr) => {
    const burst = highpass(noise(Math.round(sr * 0.25), 6), sr, 1000);
    return burst.map((v, i) => {
      const t = i / sr;
      const pulses = [0, 0.011, 0.022].reduce((s, start) => s + (t >= start ? envelope(t - start, 0.006) : 0), 0);
      return 0.6 * v * (pulses + 0.6 * envelope(Math.max(0, t - 0.022), 0.06));
    });
  },
};

// The kit: Float32Array samples by instrument name, for the model's instruments (an unknown name gets a click).
export function renderKit(instruments, sampleRate) {
  const click = (sr) => shaped(noise(Math.round(sr * 0.02), 7), sr, 0.004, 0.5);
  return Object.fromEntries(instruments.map((name) => [name, (RECIPES[name] || click)(sampleRate)]));
}
