// Drum bars from the exported hierarchical VAE: the JavaScript mirror of edgegen/runtime/drum_controls.py
// and drum_generator.py (DrumGenerator). Draw order and float32 rounding follow the Python lines named in
// each comment, so a seed gives the grid `drumgen sample --seed N` gives. Styles, priors, latent sizes and
// the control defaults come from the decoder's sidecar.

import { rng as portableRng } from "./portable_random.mjs";
import { ModelError, OnnxModel } from "./models.mjs";

const f32 = Math.fround;
const fexp = (x) => f32(Math.exp(x)); // numpy's float32 exp (may differ from it by an ulp)

// drum_controls' constants, used when a sidecar has no "controls" block.
const DEFAULT_CONTROLS = { temperature_high: 0.3, temperature_low: 0.5, complexity_logit_shift: 2.0 };
const MAX_TEMPERATURE = 100.0; // drum_controls.MAX_TEMPERATURE
const MIN_DECODE_TEMPERATURE = 1e-3; // drum_controls.MIN_DECODE_TEMPERATURE
const MAX_COMPLEXITY = 100.0; // drum_controls.MAX_COMPLEXITY

export class UnknownStyleError extends Error {}

// drum_controls.finite: value as a number when finite and within the bounds; RangeError of one line otherwise.
export function finite(name, value, { low = null, high = null, above = null } = {}) {
  const number = typeof value === "number" ? value : Number(value);
  if (value === null || value === "" || Number.isNaN(number) && typeof value !== "number") {
    throw new RangeError(`${name} must be a number, got ${JSON.stringify(value)}`);
  }
  if (!Number.isFinite(number)) throw new RangeError(`${name} must be a finite number, got ${number}`);
  if (above !== null && !(number > above)) throw new RangeError(`${name} must be above ${above}, got ${number}`);
  if (low !== null && high !== null && !(low <= number && number <= high)) {
    throw new RangeError(`${name} must be between ${low} and ${high}, got ${number}`);
  }
  if (low !== null && number < low) throw new RangeError(`${name} must be at least ${low}, got ${number}`);
  if (high !== null && number > high) throw new RangeError(`${name} must be at most ${high}, got ${number}`);
  return number;
}

// drum_generator.OnnxDrumModel: the prior and decoder graphs behind the DrumModel protocol.
export class OnnxDrumModel {
  constructor(priorLow, decoder) {
    for (const [model, kind] of [[priorLow, "drum_prior_low"], [decoder, "drum_decoder"]]) {
      if (model.spec.kind !== kind) throw new ModelError(`${model.name} is a ${model.spec.kind}, not a ${kind}`);
    }
    if (priorLow.spec.group !== decoder.spec.group) {
      throw new ModelError(`${priorLow.name} and ${decoder.name} come from different trainings`);
    }
    const spec = decoder.spec;
    this.priorLowModel = priorLow;
    this.decoder = decoder;
    this.styles = [...spec.styles];
    this.stylePriorMu = spec.style_prior_mu.map((row) => Float32Array.from(row)); // float32, as numpy holds them
    this.stylePriorLogvar = spec.style_prior_logvar.map((row) => Float32Array.from(row));
    this.zHigh = spec.latent.z_high;
    this.zLow = spec.latent.z_low;
    this.controls = { ...DEFAULT_CONTROLS, ...(spec.controls || {}) };
    this.instruments = spec.classes.map((c) => c.name);
    this.pitches = spec.classes.map((c) => c.pitch);
    const [, steps, instruments] = decoder.shape(spec.outputs[0].name, 1); // logits [batch, steps, instruments]
    this.steps = steps;
    this.cells = steps * instruments;
  }

  static async load(ort, source) {
    const [priorLow, decoder] = await Promise.all([OnnxModel.load(ort, source, "drum_prior_low"),
                                                   OnnxModel.load(ort, source, "drum_decoder")]);
    return new OnnxDrumModel(priorLow, decoder);
  }

  // OnnxDrumModel.prior_low: z_high [n * z_high] -> [mu_low, logvar_low], each [n * z_low].
  async priorLow(zHigh) {
    const n = zHigh.length / this.zHigh;
    const [mu, logvar] = await this.priorLowModel.run(n, { [this.priorLowModel.spec.inputs[0].name]: zHigh });
    return [mu, logvar];
  }

  // OnnxDrumModel.decode: z_high, z_low -> {logits [n * cells], other outputs by name}.
  async decode(zHigh, zLow) {
    const n = zHigh.length / this.zHigh;
    const outputs = await this.decoder.run(n, { z_high: zHigh, z_low: zLow });
    const named = {};
    this.decoder.spec.outputs.forEach((t, i) => { named[t.name] = outputs[i]; });
    return named;
  }
}

// drum_controls.style_index: the prior row of style; UnknownStyleError (one line) for a name the model lacks.
export function styleIndex(model, style) {
  const index = model.styles.indexOf(style);
  if (index < 0) throw new UnknownStyleError(`unknown style '${style}'; choose from ${model.styles.join(", ")}`);
  return index;
}

// drum_controls.sample_low: z_low = mu + temperature_low * exp(0.5 * logvar) * noise, as float32.
export async function sampleLow(model, zHigh, rng, temperatureLow, noise = null) {
  temperatureLow = finite("temperature_low", temperatureLow, { low: 0, high: MAX_TEMPERATURE });
  const [mu, logvar] = await model.priorLow(zHigh);
  if (noise === null) noise = rng.standardNormal(mu.length);
  const t = f32(temperatureLow);
  return Float32Array.from(mu, (m, i) => f32(m + f32(t * fexp(f32(0.5 * logvar[i]))) * noise[i]));
}

// drum_controls.sample_latents: z_high from the style's prior, then z_low from p(z_low | z_high).
export async function sampleLatents(model, style, n, rng, temperatureHigh, temperatureLow) {
  const s = styleIndex(model, style);
  temperatureHigh = finite("temperature_high", temperatureHigh, { low: 0, high: MAX_TEMPERATURE });
  const mu = model.stylePriorMu[s];
  const std = model.stylePriorLogvar[s].map((lv) => fexp(f32(0.5 * lv)));
  const normals = rng.standardNormal(n * mu.length);
  const t = f32(temperatureHigh);
  const zHigh = Float32Array.from(normals, (x, i) => f32(mu[i % mu.length] + f32(t * std[i % mu.length]) * x));
  return [zHigh, await sampleLow(model, zHigh, rng, temperatureLow)];
}

// drum_controls.decode_grid: latents -> {hits [n][steps][instruments] of 0/1, and any other decoder outputs}.
// Thresholds logit / temperature + complexity * shift at 0, or samples each cell when rng is given.
export async function decodeGrid(model, zHigh, zLow, temperature = 1.0, complexity = 0.0, rng = null) {
  temperature = finite("temperature", temperature, { low: MIN_DECODE_TEMPERATURE, high: MAX_TEMPERATURE });
  complexity = finite("complexity", complexity, { low: -MAX_COMPLEXITY, high: MAX_COMPLEXITY });
  const outputs = await model.decode(zHigh, zLow);
  const t = f32(temperature);
  const shift = f32(complexity * model.controls.complexity_logit_shift);
  const logits = Float32Array.from(outputs.logits, (l) => f32(f32(l / t) + shift));
  const uniforms = rng === null ? null : rng.random(logits.length);
  const hit = (l, i) => (uniforms === null ? l > 0 : uniforms[i] < f32(1 / f32(1 + fexp(-l))));
  const flat = Array.from(logits, (l, i) => (hit(l, i) ? 1 : 0));
  const extras = Object.fromEntries(Object.entries(outputs).filter(([name]) => name !== "logits"));
  return { hits: nest(flat, model), extras };
}

function nest(flat, model) {
  const width = model.cells / model.steps;
  return Array.from({ length: flat.length / model.cells }, (_, b) =>
    Array.from({ length: model.steps }, (_, s) => flat.slice(b * model.cells + s * width, b * model.cells + (s + 1) * width)));
}

// drum_controls.sample_style: n independent bars of one style.
export async function sampleStyle(model, style, n, rng, temperatureHigh, temperatureLow, complexity = 0.0) {
  const [zHigh, zLow] = await sampleLatents(model, style, n, rng, temperatureHigh, temperatureLow);
  return decodeGrid(model, zHigh, zLow, 1.0, complexity);
}

// drum_controls.evolve: n bars sharing one z_high [z_high] with fresh z_low.
export async function evolveBars(model, zHigh, n, rng, temperatureLow, complexity = 0.0) {
  const repeated = new Float32Array(n * zHigh.length);
  for (let i = 0; i < n; i++) repeated.set(zHigh, i * zHigh.length);
  return decodeGrid(model, repeated, await sampleLow(model, repeated, rng, temperatureLow), 1.0, complexity);
}

// numpy.linspace(0, 1, n): i * (1 / (n - 1)), the last value exactly 1.
function linspace01(n) {
  const step = 1 / (n - 1);
  return Array.from({ length: n }, (_, i) => (n > 1 && i === n - 1 ? 1 : i * step));
}

// drum_controls.morph: z_high walks from style a's prior mean to b's; one z_low noise draw is shared.
export async function morphBars(model, styleA, styleB, nBars, rng, temperatureLow, complexity = 0.0) {
  const a = model.stylePriorMu[styleIndex(model, styleA)];
  const b = model.stylePriorMu[styleIndex(model, styleB)];
  const t = linspace01(nBars);
  const zHigh = new Float32Array(nBars * a.length);
  t.forEach((ti, r) => a.forEach((ai, j) => { zHigh[r * a.length + j] = f32(ai + ti * f32(b[j] - ai)); }));
  const draw = rng.standardNormal(model.zLow);
  const noise = new Float64Array(nBars * model.zLow);
  for (let r = 0; r < nBars; r++) noise.set(draw, r * model.zLow);
  return decodeGrid(model, zHigh, await sampleLow(model, zHigh, rng, temperatureLow, noise), 1.0, complexity);
}

// drum_generator._temperatures: one temperature scales both latent spreads around the model's defaults.
export function temperatures(model, temperature = 1.0) {
  temperature = finite("temperature", temperature, { above: 0, high: MAX_TEMPERATURE });
  const high = model.controls.temperature_high * temperature;
  const low = model.controls.temperature_low * temperature;
  return [finite("temperature_high", high, { low: 0, high: MAX_TEMPERATURE }),
          finite("temperature_low", low, { low: 0, high: MAX_TEMPERATURE })];
}

function checkBars(bars) {
  if (!Number.isInteger(bars) || bars < 1) throw new RangeError(`bars must be at least 1, got ${bars}`);
}

// drum_generator.DrumGenerator: seeds in, bars out ({hits, extras}).
export class DrumGenerator {
  constructor(model) {
    this.model = model;
  }

  static async load(ort, source) {
    return new DrumGenerator(await OnnxDrumModel.load(ort, source));
  }

  get styles() {
    return [...this.model.styles];
  }

  // DrumGenerator.check_style
  checkStyle(style) {
    styleIndex(this.model, style);
    return style;
  }

  // DrumGenerator.sample: bars independent bars of style.
  async sample(style, bars = 1, seed = null, { temperature = 1.0, complexity = 0.0 } = {}) {
    checkBars(bars);
    const [high, low] = temperatures(this.model, temperature);
    return sampleStyle(this.model, style, bars, portableRng(seed), high, low, complexity);
  }

  // DrumGenerator.evolve: one z_high for all bars, a new z_low every `every` bars.
  async evolve(style, bars, seed = null, { every = 4, temperature = 1.0, complexity = 0.0 } = {}) {
    checkBars(bars);
    if (!Number.isInteger(every) || every < 1) throw new RangeError(`every must be at least 1, got ${every}`);
    const [high, low] = temperatures(this.model, temperature);
    const rng = portableRng(seed);
    const [zHigh] = await sampleLatents(this.model, style, 1, rng, high, low);
    const variations = await evolveBars(this.model, zHigh.slice(0, this.model.zHigh), Math.ceil(bars / every), rng,
                                        low, complexity);
    const pick = (list) => Array.from({ length: bars }, (_, i) => list[Math.floor(i / every)]);
    const extras = Object.fromEntries(Object.entries(variations.extras).map(([k, v]) => [k, repeatRows(v, every, bars)]));
    return { hits: pick(variations.hits), extras };
  }

  // DrumGenerator.morph: bars gliding from one style to another.
  async morph(styleFrom, styleTo, bars, seed = null, { complexity = 0.0 } = {}) {
    checkBars(bars);
    return morphBars(this.model, styleFrom, styleTo, bars, portableRng(seed), this.model.controls.temperature_low,
                     complexity);
  }
}

function repeatRows(flat, every, bars) {
  const size = flat.length / Math.ceil(bars / every);
  const out = new Float32Array(bars * size);
  for (let i = 0; i < bars; i++) out.set(flat.subarray(Math.floor(i / every) * size, (Math.floor(i / every) + 1) * size), i * size);
  return out;
}
