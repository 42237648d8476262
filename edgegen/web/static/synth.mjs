// The drum kit of `drumgen --wav` in the browser: the JavaScript port of edgegen/runtime/drum_synth.py's recipe.
// The kit is data (drum_synth.kit_dict, served in models/index.json as "kit"); each voice's one-shot is built
// here from sines, squares and portable_random noise through RBJ biquads, as the Python recipe builds it, and
// played by player.mjs with the same velocity curves, hat choke and soft limiter.

import { rng } from "./portable_random.mjs";
import { roundHalfEven } from "./midi.mjs";

const FADE_OUT = 0.005; // drum_synth.FADE_OUT: s at the end of every one-shot

// drum_synth.biquad_coefficients: (b0, b1, b2, a1, a2) of the RBJ cookbook filter, divided by a0.
export function biquadCoefficients(kind, hz, q, sampleRate) {
  const w0 = 2.0 * Math.PI * hz / sampleRate;
  const cosW0 = Math.cos(w0);
  const alpha = Math.sin(w0) / (2.0 * q);
  let b;
  if (kind === "lowpass") b = [(1 - cosW0) / 2, 1 - cosW0, (1 - cosW0) / 2];
  else if (kind === "highpass") b = [(1 + cosW0) / 2, -(1 + cosW0), (1 + cosW0) / 2];
  else if (kind === "bandpass") b = [alpha, 0.0, -alpha];
  else throw new RangeError(`unknown filter kind ${kind}`);
  const a0 = 1 + alpha;
  return [b[0] / a0, b[1] / a0, b[2] / a0, -2 * cosW0 / a0, (1 - alpha) / a0];
}

// drum_synth.biquad: direct form I from zero state.
export function biquad(x, [b0, b1, b2, a1, a2]) {
  const out = new Float64Array(x.length);
  let x1 = 0, x2 = 0, y1 = 0, y2 = 0;
  for (let i = 0; i < x.length; i++) {
    const y = b0 * x[i] + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
    x2 = x1; x1 = x[i]; y2 = y1; y1 = y;
    out[i] = y;
  }
  return out;
}

// drum_synth._layer_signal: one layer's source, filters and envelope, times its gain.
function layerSignal(layer, n, noise, sampleRate) {
  let x;
  if (layer.source === "noise") {
    x = Float64Array.from(noise.random(n), (u) => 2.0 * u - 1.0);
  } else {
    const drop = layer.drop_hz * layer.drop_decay;
    x = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const t = i / sampleRate;
      const s = Math.sin(2 * Math.PI * (layer.hz * t + drop * (1 - Math.exp(-t / layer.drop_decay))));
      x[i] = layer.source === "square" ? (s >= 0 ? 1.0 : -1.0) : s;
    }
  }
  for (const f of layer.filters) x = biquad(x, biquadCoefficients(f.kind, f.hz, f.q, sampleRate));
  for (let i = 0; i < n; i++) {
    const u = i / sampleRate - layer.delay;
    let envelope = Math.exp(-Math.max(u, 0.0) / layer.decay);
    if (layer.attack > 0) envelope *= Math.min(1.0, Math.max(u, 0.0) / layer.attack);
    x[i] = layer.gain * (u < 0 ? 0.0 : envelope) * x[i];
  }
  return x;
}

// drum_synth.one_shot: [body, bright] (Float64Array) of a voice, normalised so max |body + bright| = level.
export function oneShot(voice, sampleRate) {
  const n = roundHalfEven(voice.length * sampleRate);
  const noise = rng(voice.seed);
  const body = new Float64Array(n);
  const bright = new Float64Array(n);
  for (const layer of voice.layers) {
    const signal = layerSignal(layer, n, noise, sampleRate);
    const target = layer.bright ? bright : body;
    for (let i = 0; i < n; i++) target[i] += signal[i];
  }
  const fadeSamples = Math.max(1, roundHalfEven(FADE_OUT * sampleRate));
  let peak = 0;
  for (let i = 0; i < n; i++) {
    const fade = Math.min(1.0, (n - 1 - i) / fadeSamples);
    body[i] *= fade;
    bright[i] *= fade;
    peak = Math.max(peak, Math.abs(body[i] + bright[i]));
  }
  const scale = voice.level / Math.max(peak, 1e-12);
  for (let i = 0; i < n; i++) {
    body[i] *= scale;
    bright[i] *= scale;
  }
  return [body, bright];
}

// drum_synth.soft_limit: identity up to threshold, then a knee that approaches 1 and never reaches it.
export function softLimit(x, threshold) {
  const magnitude = Math.abs(x);
  if (magnitude <= threshold) return x;
  const over = (magnitude - threshold) / (1.0 - threshold);
  return Math.sign(x) * (threshold + (1.0 - threshold) * over / (1.0 + over));
}

// drum_synth._schedule's loudness: [loud, bright gain] of a note of velocity v.
export function noteGains(kit, velocity) {
  const level = Math.min(Math.max(velocity, 1), 127) / 127.0;
  return [level ** kit.velocity_exponent, level ** kit.brightness_exponent];
}

// The voices to play, in the model's instrument order: {name, body, bright, chokeGroup} (float32), plus the
// kit's note curves (velocity_exponent, brightness_exponent, choke_fade, limiter_threshold).
export function renderKit(instruments, sampleRate, kit) {
  const byName = Object.fromEntries(kit.voices.map((voice) => [voice.name, voice]));
  const voices = instruments.map((name) => {
    if (!byName[name]) throw new RangeError(`the drum kit has no voice for ${name}`);
    const [body, bright] = oneShot(byName[name], sampleRate);
    return { name, body: Float32Array.from(body), bright: Float32Array.from(bright), chokeGroup: byName[name].choke_group };
  });
  return { ...kit, voices };
}

// renderKit in a worker (kit_worker.mjs): a Promise of its result, the main thread free meanwhile.
export function renderKitInWorker(instruments, sampleRate, kit) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./kit_worker.mjs", import.meta.url), { type: "module" });
    worker.onmessage = ({ data }) => {
      worker.terminate();
      if (data.error) reject(new Error(`the drum kit could not be built: ${data.error}`));
      else resolve(data.kit);
    };
    worker.onerror = (event) => {
      worker.terminate();
      reject(new Error(`the drum kit could not be built: ${event.message}`));
    };
    worker.postMessage({ instruments, sampleRate, kit });
  });
}
