// Drum bars from the exported hierarchical VAE: the JavaScript mirror of edgegen/runtime/drum_controls.py
// and drum_generator.py (DrumGenerator). Draw order and float32 rounding follow the Python lines named in
// each comment, so a seed gives the groove `drumgen sample --seed N` gives: the same hits, and the same
// velocities and offsets (microtiming) of each hit. Styles, priors, latent sizes and the per-style, per-instrument
// hit thresholds and velocity gains come from the decoder's sidecar.
//
// A groove here is drum_controls.Groove: {hits [bars][steps][instruments] of 0/1, velocities and offsets, each a
// Float32Array [bars * steps * instruments] in C order, 0 where there is no hit}.

import { rng as portableRng } from "./portable_random.mjs";
import { ModelError, OnnxModel } from "./models.mjs";

const f32 = Math.fround;
const fexp = (x) => f32(Math.exp(x)); // numpy's float32 exp (may differ from it by an ulp)

// drum_controls' constants, used when a sidecar has no "controls" block.
const DEFAULT_CONTROLS = { temperature_high: 0.3, temperature_low: 0.5, complexity_logit_shift: 2.0 };
const MAX_TEMPERATURE = 100.0; // drum_controls.MAX_TEMPERATURE
const MIN_DECODE_TEMPERATURE = 1e-3; // drum_controls.MIN_DECODE_TEMPERATURE
const MAX_COMPLEXITY = 100.0; // drum_controls.MAX_COMPLEXITY
const MIN_VELOCITY = 1 / 127; // drum_controls.MIN_VELOCITY
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

// drum_generator.OnnxDrumModel: the prior and decoder graphs behind the DrumModel protocol, with the decoder
// sidecar's calibration (hit_thresholds [styles][instruments], velocity_gain [styles]).
export class OnnxDrumModel {
  constructor(priorLow, decoder) {
    for (const [model, kind] of [[priorLow, "drum_prior_low"], [decoder, "drum_decoder"]]) {
      if (model.spec.kind !== kind) throw new ModelError(`${model.name} is a ${model.spec.kind}, not a ${kind}`);
    }
    if (priorLow.spec.group !== decoder.spec.group) {
      throw new ModelError(`${priorLow.name} and ${decoder.name} come from different trainings`);
    }
    const spec = decoder.spec;
    const outputs = spec.outputs.map((t) => t.name);
    if (outputs.join() !== "logits,velocities,offsets") {
      throw new ModelError(`${decoder.name} has outputs ${outputs}; this page decodes logits, velocities and offsets`);
    }
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
    const [, steps, instruments] = decoder.shape("logits", 1); // [batch, steps, instruments]
    this.steps = steps;
    this.cells = steps * instruments;
    const thresholds = spec.hit_thresholds;
    const gain = spec.velocity_gain;
    if (!Array.isArray(thresholds) || thresholds.length !== this.styles.length ||
        thresholds.some((row) => row.length !== instruments) || !Array.isArray(gain) || gain.length !== this.styles.length) {
      throw new ModelError(`${decoder.name}.onnx.json has no hit_thresholds [${this.styles.length}][${instruments}] ` +
                           `and velocity_gain [${this.styles.length}]`);
    }
    this.hitThresholds = thresholds.map((row) => Float32Array.from(row)); // float32 in the runtime, float64 in use
    this.velocityGain = Float32Array.from(gain);
  }

  static async load(ort, source) {
    const [priorLow, decoder] = await Promise.all([OnnxModel.load(ort, source, "drum_prior_low"),
                                                   OnnxModel.load(ort, source, "drum_decoder")]);
    return new OnnxDrumModel(priorLow, decoder);
  }

  // OnnxDrumModel.prior_low: z_high [n * z_high] -> [mu_low, logvar_low], each [n * z_low].
  async priorLow(zHigh) {
    const n = zHigh.length / this.zHigh;
    const [mu, logvar] = await this.priorLowModel.run(n, { z_high: zHigh });
    return [mu, logvar];
  }

  // OnnxDrumModel.decode: z_high, z_low -> [logits, velocities (0-1), offsets (steps)], each [n * cells].
  async decode(zHigh, zLow) {
    const n = zHigh.length / this.zHigh;
    return this.decoder.run(n, { z_high: zHigh, z_low: zLow });
  }
}

// drum_controls.style_index: the prior row of style; UnknownStyleError (one line) for a name the model lacks.
export function styleIndex(model, style) {
  const index = model.styles.indexOf(style);
  if (index < 0) throw new UnknownStyleError(`unknown style '${style}'; choose from ${model.styles.join(", ")}`);
  return index;
}

// drum_controls.sample_low: z_low = mu + temperature_low * exp(0.5 * logvar) * noise, as float32.
// Draws: standard normal [n, z_low] (none when noise is passed).
export async function sampleLow(model, zHigh, rng, temperatureLow, noise = null) {
  temperatureLow = finite("temperature_low", temperatureLow, { low: 0, high: MAX_TEMPERATURE });
  const [mu, logvar] = await model.priorLow(zHigh);
  if (noise === null) noise = rng.standardNormal(mu.length);
  const t = f32(temperatureLow);
  return Float32Array.from(mu, (m, i) => f32(m + f32(t * fexp(f32(0.5 * logvar[i]))) * noise[i]));
}

// drum_controls.sample_latents: z_high from the style's prior, then z_low from p(z_low | z_high).
// Draws: standard normal [n, z_high], then [n, z_low].
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

// drum_controls.one_hot: style weights [n][styles] that put every bar in style.
export function oneHot(model, style, n) {
  const s = styleIndex(model, style);
  return Array.from({ length: n }, () => model.styles.map((_, i) => (i === s ? 1.0 : 0.0)));
}

// drum_controls.style_calibration: per-bar hit thresholds [n][instruments] and velocity gains [n], the style
// weights times the per-style calibration, in float64.
export function styleCalibration(model, styleWeights) {
  if (!styleWeights) throw new ModelError("the page decodes with explicit style weights (no style inference)");
  const instruments = model.cells / model.steps;
  const thresholds = styleWeights.map((w) => Array.from({ length: instruments }, (_, k) =>
    w.reduce((sum, ws, s) => sum + ws * model.hitThresholds[s][k], 0)));
  const gains = styleWeights.map((w) => w.reduce((sum, ws, s) => sum + ws * model.velocityGain[s], 0));
  return [thresholds, gains];
}

// numpy's float32 add.reduce over one bar's cells (steps * instruments contiguous values, here 144), started at
// its identity 0: pairwise summation, blocks of up to 128 summed with 8 running float32 accumulators.
function pairwiseSum32(values, start, n) {
  if (n < 8) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum = f32(sum + values[start + i]);
    return sum;
  }
  if (n <= 128) {
    const r = Array.from({ length: 8 }, (_, j) => values[start + j]);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] = f32(r[j] + values[start + i + j]);
    let sum = f32(f32(f32(r[0] + r[1]) + f32(r[2] + r[3])) + f32(f32(r[4] + r[5]) + f32(r[6] + r[7])));
    for (; i < n; i++) sum = f32(sum + values[start + i]);
    return sum;
  }
  let half = Math.floor(n / 2);
  half -= half % 8;
  return f32(pairwiseSum32(values, start, half) + pairwiseSum32(values, start + half, n - half));
}

// drum_controls.spread_velocities: each bar's velocities moved away from (gain > 1) the mean velocity of its hits,
// clipped to [1/127, 1], float32. The bar's sum is float32 (numpy's), the rest float64 (float32 / int64 count).
export function spreadVelocities(hits, velocities, gains, cells) {
  const out = new Float32Array(velocities.length);
  const inked = new Float32Array(cells);
  gains.forEach((gain, bar) => {
    let count = 0;
    for (let c = 0; c < cells; c++) {
      const hit = hits[bar * cells + c];
      count += hit;
      inked[c] = hit ? velocities[bar * cells + c] : 0;
    }
    const mean = f32(0 + pairwiseSum32(inked, 0, cells)) / Math.max(count, 1);
    for (let c = 0; c < cells; c++) {
      const spread = mean + gain * (velocities[bar * cells + c] - mean);
      out[bar * cells + c] = Math.min(Math.max(spread, MIN_VELOCITY), 1.0);
    }
  });
  return out;
}

// drum_controls.decode: latents -> a groove. A cell is a hit when (logit - threshold) / temperature >
// -complexity * shift, with its instrument's threshold for the bar's style (styleWeights [n][styles]); velocities
// are the decoder's spread by the style's gain, offsets the decoder's; both 0 where there is no hit. No draws.
export async function decode(model, zHigh, zLow, { temperature = 1.0, complexity = 0.0, styleWeights = null } = {}) {
  temperature = finite("temperature", temperature, { low: MIN_DECODE_TEMPERATURE, high: MAX_TEMPERATURE });
  complexity = finite("complexity", complexity, { low: -MAX_COMPLEXITY, high: MAX_COMPLEXITY });
  const [logits, velocities, offsets] = await model.decode(zHigh, zLow);
  const [thresholds, gains] = styleCalibration(model, styleWeights);
  const instruments = model.cells / model.steps;
  const floor = -complexity * model.controls.complexity_logit_shift;
  const flat = Uint8Array.from(logits, (l, i) =>
    ((l - thresholds[Math.floor(i / model.cells)][i % instruments]) / temperature > floor ? 1 : 0));
  const spread = spreadVelocities(flat, velocities, gains, model.cells);
  return {
    hits: nest(flat, model),
    velocities: Float32Array.from(spread, (v, i) => (flat[i] ? v : 0)),
    offsets: Float32Array.from(offsets, (o, i) => (flat[i] ? o : 0)),
  };
}

function nest(flat, model) {
  const width = model.cells / model.steps;
  return Array.from({ length: flat.length / model.cells }, (_, b) =>
    Array.from({ length: model.steps }, (_, s) => Array.from(flat.subarray(b * model.cells + s * width,
                                                                               b * model.cells + (s + 1) * width))));
}

// Groove[rows]: the bars of a groove at the given indices, in order.
export function pickBars(groove, rows, cells) {
  const take = (flat) => {
    const out = new Float32Array(rows.length * cells);
    rows.forEach((r, i) => out.set(flat.subarray(r * cells, (r + 1) * cells), i * cells));
    return out;
  };
  return { hits: rows.map((r) => groove.hits[r].map((step) => [...step])), velocities: take(groove.velocities),
           offsets: take(groove.offsets) };
}

// drum_controls.sample_style: n independent bars of one style. Draws: those of sampleLatents.
export async function sampleStyle(model, style, n, rng, temperatureHigh, temperatureLow, complexity = 0.0) {
  const [zHigh, zLow] = await sampleLatents(model, style, n, rng, temperatureHigh, temperatureLow);
  return decode(model, zHigh, zLow, { complexity, styleWeights: oneHot(model, style, n) });
}

// drum_controls.evolve: n bars sharing one z_high [z_high] with fresh z_low, decoded with style's thresholds.
// Draws: standard normal [n, z_low]. (complexity: the page's knob; drumgen's evolve decodes at 0.)
export async function evolveBars(model, zHigh, n, rng, temperatureLow, style, complexity = 0.0) {
  const repeated = new Float32Array(n * zHigh.length);
  for (let i = 0; i < n; i++) repeated.set(zHigh, i * zHigh.length);
  return decode(model, repeated, await sampleLow(model, repeated, rng, temperatureLow),
                { complexity, styleWeights: oneHot(model, style, n) });
}

// numpy.linspace(0, 1, n): i * (1 / (n - 1)), the last value exactly 1; [0] for one value.
function linspace01(n) {
  if (n === 1) return [0.0];
  const step = 1 / (n - 1);
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? 1 : i * step));
}

// drum_controls.morph: z_high walks from style a's prior mean to b's and the thresholds from a's to b's; one z_low
// noise draw is shared. Draws: standard normal [1, z_low]. (complexity: the page's knob; drumgen's is 0.)
export async function morphBars(model, styleA, styleB, nBars, rng, temperatureLow, complexity = 0.0) {
  const ia = styleIndex(model, styleA);
  const ib = styleIndex(model, styleB);
  const a = model.stylePriorMu[ia];
  const b = model.stylePriorMu[ib];
  const t = linspace01(nBars);
  const zHigh = new Float32Array(nBars * a.length);
  t.forEach((ti, r) => a.forEach((ai, j) => { zHigh[r * a.length + j] = f32(ai + ti * f32(b[j] - ai)); }));
  const draw = rng.standardNormal(model.zLow);
  const noise = new Float64Array(nBars * model.zLow);
  for (let r = 0; r < nBars; r++) noise.set(draw, r * model.zLow);
  const weights = t.map((ti) => {
    const w = model.styles.map(() => 0.0);
    w[ia] += 1.0 - ti;
    w[ib] += ti;
    return w;
  });
  return decode(model, zHigh, await sampleLow(model, zHigh, rng, temperatureLow, noise),
                { complexity, styleWeights: weights });
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

// drum_generator.DrumGenerator: seeds in, grooves out ({hits, velocities, offsets}).
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
                                        low, style, complexity);
    return pickBars(variations, Array.from({ length: bars }, (_, i) => Math.floor(i / every)), this.model.cells);
  }

  // DrumGenerator.morph: bars gliding from one style to another.
  async morph(styleFrom, styleTo, bars, seed = null, { complexity = 0.0 } = {}) {
    checkBars(bars);
    return morphBars(this.model, styleFrom, styleTo, bars, portableRng(seed), this.model.controls.temperature_low,
                     complexity);
  }
}
