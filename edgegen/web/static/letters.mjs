// Letters from an exported letter model: the JavaScript mirror of edgegen/runtime/font_generator.py.
// Two kinds, as there: the letter style model (StyleFontGenerator: a seed's style is drawn from the Gaussian prior
// in its sidecar, an encoder reads a style from example glyphs) and the GAN generators (FontGenerator: a style
// is a latent z ~ N(0, I)). Sizes, input names and classes come from the sidecars; every draw comes from the
// portable generator, so a seed draws the same glyph here as `fontgen render --seed N --model NAME`.

import { rng } from "./portable_random.mjs";
import { ModelError, OnnxModel } from "./models.mjs";

export class UnknownLetterError extends Error {}

// style_fit.DEFAULT_FIT
export const FIT_SETTINGS = Object.freeze({ rounds: 10, population: 16, eliteShare: 0.25, spread: 0.5, shrink: 0.85,
                                            blurSigma: 1.0 });

// style_fit.blur_matrix K (float32, rows sum to 1), applied as K @ image @ K.T to a square [size * size] image.
function blurrer(size, sigma) {
  const k = new Float32Array(size * size);
  const radius = Math.ceil(3 * sigma);
  for (let i = 0; i < size; i++) {
    if (sigma <= 0) { k[i * size + i] = 1; continue; }
    const row = new Float64Array(size);
    let total = 0;
    for (let j = 0; j < size; j++) {
      const distance = i - j;
      row[j] = Math.abs(distance) <= radius ? Math.exp(-0.5 * (distance / sigma) ** 2) : 0;
      total += row[j];
    }
    for (let j = 0; j < size; j++) k[i * size + j] = Math.fround(row[j] / total);
  }
  return (image) => {
    const left = new Float64Array(size * size); // K @ image
    for (let i = 0; i < size; i++) {
      for (let m = 0; m < size; m++) {
        const w = k[i * size + m];
        if (w === 0) continue;
        for (let j = 0; j < size; j++) left[i * size + j] += w * image[m * size + j];
      }
    }
    const out = new Float64Array(size * size); // (K @ image) @ K.T
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        let sum = 0;
        for (let n = 0; n < size; n++) sum += left[i * size + n] * k[j * size + n];
        out[i * size + j] = sum;
      }
    }
    return out;
  };
}

export const LETTER_KINDS = ["letter_generator", "letter_style_generator"]; // font_generator.LETTER_KINDS

// font_generator.open_letter_model: a StyleFontGenerator for a letter style model, a FontGenerator for a GAN.
export async function openLetterModel(ort, source, name) {
  const model = await OnnxModel.load(ort, source, name);
  return model.spec.kind === "letter_style_generator" ? new StyleFontGenerator(model, ort, source)
                                                       : new FontGenerator(model);
}

// font_generator.LetterDrawer: letters and words in one style; subclasses say what a style is (style) and draw
// (generate: styles [n * styleDim] float32 and letter indices -> images [n][H*W], ink = 1).
class LetterDrawer {
  constructor(model) {
    this.model = model;
    this.letters = model.spec.classes.map(String); // A-Z in class order (letter_spec.LETTERS)
    const [, , height, width] = model.shape(model.spec.outputs[0].name, 1); // image [batch, 1, H, W]
    this.height = height;
    this.width = width;
  }

  get name() {
    return this.model.name;
  }

  // font_generator.letter_index: index of a letter (case-insensitive); UnknownLetterError otherwise.
  letterIndex(letter) {
    const index = typeof letter === "string" && letter.length === 1 ? this.letters.indexOf(letter.toUpperCase()) : -1;
    if (index < 0) {
      throw new UnknownLetterError(`cannot draw ${JSON.stringify(letter)}: only the letters ${this.letters[0]}-` +
                                   `${this.letters[this.letters.length - 1]} are supported`);
    }
    return index;
  }

  needConditional() {
    if (!this.conditional) throw new ModelError(`${this.name} is unconditional and cannot draw a chosen letter`);
  }

  // One-hot rows [n * classes] for letter indices.
  onehot(letters) {
    const onehot = new Float32Array(letters.length * this.letters.length);
    letters.forEach((index, row) => { onehot[row * this.letters.length + index] = 1; });
    return onehot;
  }

  async images(inputs, n) {
    const [images] = await this.model.run(n, inputs);
    const size = this.height * this.width;
    return Array.from({ length: n }, (_, i) => images.slice(i * size, (i + 1) * size));
  }

  // LetterDrawer.render: one letter [H*W] in the style of seed (or the given style [styleDim]).
  async render(letter, seed, style = null) {
    this.needConditional();
    const index = this.letterIndex(letter);
    return (await this.generate(style ?? this.style(seed), [index]))[0];
  }

  // LetterDrawer.word: the letters of text [len][H*W], all in one style; spaces give blanks.
  async word(text, seed, style = null) {
    this.needConditional();
    if (!text) throw new UnknownLetterError("cannot draw an empty word");
    const indices = Array.from(text, (ch) => (ch === " " ? null : this.letterIndex(ch)));
    const drawn = indices.filter((i) => i !== null);
    if (!drawn.length) throw new UnknownLetterError("cannot draw a word of spaces only");
    const one = style ?? this.style(seed);
    const styles = new Float32Array(drawn.length * this.zDim);
    drawn.forEach((_, row) => styles.set(one, row * this.zDim));
    const images = await this.generate(styles, drawn);
    let next = 0;
    return indices.map((i) => (i === null ? new Float32Array(this.height * this.width) : images[next++]));
  }
}

// font_generator.FontGenerator: a GAN generator; a style is one latent z ~ N(0, I).
export class FontGenerator extends LetterDrawer {
  constructor(model) {
    if (model.spec.kind !== "letter_generator") {
      throw new ModelError(`${model.name} is a ${model.spec.kind}, not a letter generator`);
    }
    super(model);
    this.zDim = model.spec.latent.z_dim;
    this.conditional = Boolean(model.spec.conditional);
  }

  static async load(ort, source, name) {
    return new FontGenerator(await OnnxModel.load(ort, source, name));
  }

  // FontGenerator.style: latent styles z [n, z_dim] ~ N(0, I) for a seed, float32.
  style(seed, n = 1) {
    return Float32Array.from(rng(seed).standardNormal(n * this.zDim));
  }

  // FontGenerator.generate: images [N][H*W] (ink = 1) for latents z [N * z_dim] and letter indices.
  async generate(z, letters) {
    const n = z.length / this.zDim;
    const inputs = { z };
    if (this.conditional) inputs.onehot = this.onehot(letters);
    else if (letters) throw new ModelError(`${this.name} is unconditional: it cannot be asked for a particular letter`);
    return this.images(inputs, n);
  }
}

// font_generator.StyleFontGenerator: the letter style model's generator (letter + style -> glyph), its encoder
// (NAME_encoder: example glyphs with their letters -> style) and the style prior in the sidecar.
export class StyleFontGenerator extends LetterDrawer {
  constructor(model, ort = null, source = null) {
    const spec = model.spec;
    if (spec.kind !== "letter_style_generator") {
      throw new ModelError(`${model.name} is a ${spec.kind}, not a letter style generator`);
    }
    super(model);
    this.conditional = true;
    this.styleDim = this.zDim = spec.latent.style_dim;
    // the generator's inputs, as the sidecar names them: the letter's one-hot and the style
    this.letterInput = spec.inputs.find((t) => t.name === "onehot")?.name;
    this.styleInput = spec.inputs.find((t) => t.name !== this.letterInput)?.name;
    if (!this.letterInput || !this.styleInput || spec.inputs.length !== 2) {
      throw new ModelError(`${model.name} has inputs ${spec.inputs.map((t) => t.name)}; a letter style generator takes ` +
                           "a one-hot letter and a style");
    }
    const mean = spec.style_prior_mean;
    const cholesky = spec.style_prior_cholesky;
    if (!Array.isArray(mean) || mean.length !== this.styleDim || !Array.isArray(cholesky) ||
        cholesky.length !== this.styleDim || cholesky.some((row) => row.length !== this.styleDim)) {
      throw new ModelError(`${model.name}.onnx.json has no style prior of size ${this.styleDim}`);
    }
    this.priorMean = Float32Array.from(mean); // float32, as the runtime holds them
    this.priorCholesky = cholesky.map((row) => Float32Array.from(row));
    this.ort = ort;
    this.source = source;
    this.encoderLoading = null;
  }

  static async load(ort, source, name) {
    return new StyleFontGenerator(await OnnxModel.load(ort, source, name), ort, source);
  }

  // StyleFontGenerator._draw_styles: mean + L @ z, z [n, style_dim] float32 from the generator. numpy computes the
  // product in float32 with BLAS's own summation order; here it is summed in float64 and rounded once, which is
  // within an ulp or two of it (the generator's output moves by far less than the 1e-5 parity tolerance).
  drawStyles(stream, n) {
    const d = this.styleDim;
    const z = Float32Array.from(stream.standardNormal(n * d));
    const styles = new Float32Array(n * d);
    for (let row = 0; row < n; row++) {
      for (let i = 0; i < d; i++) {
        const l = this.priorCholesky[i];
        let sum = 0;
        for (let j = 0; j < d; j++) sum += l[j] * z[row * d + j];
        styles[row * d + i] = this.priorMean[i] + Math.fround(sum);
      }
    }
    return styles;
  }

  // StyleFontGenerator.sample_styles / style: n styles [n * style_dim] drawn from the prior for a seed.
  style(seed, n = 1) {
    return this.drawStyles(rng(seed), n);
  }

  // StyleFontGenerator.generate: glyphs [n][H*W] for styles [n * style_dim] and letter indices.
  async generate(styles, letters) {
    if (!letters) throw new ModelError(`${this.name} draws chosen letters: say which`);
    return this.images({ [this.letterInput]: this.onehot(letters), [this.styleInput]: Float32Array.from(styles) },
                       letters.length);
  }

  // StyleFontGenerator.encoder: NAME_encoder, checked to come from the same training (sidecar group and latent).
  encoder() {
    if (!this.encoderLoading) {
      this.encoderLoading = (async () => {
        if (!this.ort || !this.source) throw new ModelError(`${this.name} was opened without a way to load its encoder`);
        const encoder = await OnnxModel.load(this.ort, this.source, `${this.name}_encoder`);
        if (encoder.spec.kind !== "letter_style_encoder") {
          throw new ModelError(`${encoder.name} is a ${encoder.spec.kind}, not a letter style encoder`);
        }
        if (encoder.spec.group !== this.model.spec.group ||
            JSON.stringify(encoder.spec.latent) !== JSON.stringify(this.model.spec.latent)) {
          throw new ModelError(`${encoder.name} comes from a different training than ${this.name}`);
        }
        return encoder;
      })();
      this.encoderLoading.catch(() => { this.encoderLoading = null; }); // a failed load may be retried
    }
    return this.encoderLoading;
  }

  // StyleFontGenerator.encode: the style [style_dim] of example glyphs [k][H*W] (ink = 1) showing letter indices
  // [k]; up to `examples` (26) are used, in the slots the encoder's mask marks.
  async encode(glyphs, letters) {
    if (!glyphs.length || glyphs.length !== letters.length) {
      throw new ModelError(`encode needs at least one example glyph and one letter per glyph, got ${glyphs.length} ` +
                           `and ${letters.length}`);
    }
    const encoder = await this.encoder();
    const slots = encoder.spec.latent.examples;
    const size = this.height * this.width;
    const classes = this.letters.length;
    const k = Math.min(letters.length, slots);
    const feedGlyphs = new Float32Array(slots * size);
    const feedLetters = new Float32Array(slots * classes);
    const mask = new Float32Array(slots);
    for (let i = 0; i < k; i++) {
      if (glyphs[i].length !== size) throw new ModelError(`encode needs glyphs of ${this.height}x${this.width}`);
      feedGlyphs.set(glyphs[i], i * size);
      feedLetters[i * classes + letters[i]] = 1;
      mask[i] = 1;
    }
    const [style] = await encoder.run(1, { glyphs: feedGlyphs, letters: feedLetters, mask });
    return Float32Array.from(style.slice(0, this.styleDim));
  }

  // StyleFontGenerator.like: the style `fontgen --like` draws in, the encoder's reading refined by
  // style_fit.fit_style (a search for the style that redraws the examples best).
  async like(glyphs, letters, settings = FIT_SETTINGS) {
    return this.fitStyle(await this.encode(glyphs, letters), glyphs, letters, settings);
  }

  // style_fit.fit_style: a cross-entropy search from `start` over styles, scored by the blurred L1 between the
  // examples and the examples drawn in each candidate style. Same random stream (portable_random seed 0), same
  // float32 roundings; sums are float64 here (numpy's are float32), an ulp apart.
  async fitStyle(start, glyphs, letters, settings = FIT_SETTINGS) {
    const d = this.styleDim;
    const k = letters.length;
    const blur = blurrer(this.width, settings.blurSigma);
    const targets = glyphs.map((g) => blur(g));
    const distance = async (styles, n) => {
      const repeated = new Float32Array(n * k * d);
      const asked = [];
      for (let c = 0; c < n; c++) {
        for (let e = 0; e < k; e++) {
          repeated.set(styles.subarray(c * d, (c + 1) * d), (c * k + e) * d);
          asked.push(letters[e]);
        }
      }
      const drawn = await this.generate(repeated, asked);
      const scores = new Float64Array(n);
      for (let c = 0; c < n; c++) {
        let sum = 0;
        for (let e = 0; e < k; e++) {
          const soft = blur(drawn[c * k + e]);
          const target = targets[e];
          for (let p = 0; p < soft.length; p++) sum += Math.abs(soft[p] - target[p]);
        }
        scores[c] = sum / (k * this.height * this.width);
      }
      return scores;
    };
    let best = Float32Array.from(start);
    let bestDistance = (await distance(best, 1))[0];
    if (settings.rounds <= 0) return best;
    const stream = rng(0);
    const population = settings.population;
    const elite = Math.max(1, Math.round(population * settings.eliteShare));
    let mean = Float32Array.from(start);
    let spread = settings.spread;
    for (let round = 0; round < settings.rounds; round++) {
      const noise = Float32Array.from(stream.standardNormal(population * d));
      const candidates = new Float32Array(population * d);
      for (let c = 0; c < population; c++) {
        const scaled = noise.subarray(c * d, (c + 1) * d).map((z) => Math.fround(spread * z));
        for (let i = 0; i < d; i++) {
          const l = this.priorCholesky[i];
          let sum = 0;
          for (let j = 0; j < d; j++) sum += l[j] * scaled[j];
          candidates[c * d + i] = Math.fround(mean[i] + Math.fround(sum));
        }
      }
      const scores = await distance(candidates, population);
      const order = Array.from(scores.keys()).sort((a, b) => scores[a] - scores[b] || a - b);
      if (scores[order[0]] < bestDistance) {
        best = candidates.slice(order[0] * d, (order[0] + 1) * d);
        bestDistance = scores[order[0]];
      }
      const next = new Float32Array(d);
      for (let i = 0; i < d; i++) {
        let sum = 0;
        for (let e = 0; e < elite; e++) sum += candidates[order[e] * d + i];
        next[i] = Math.fround(sum / elite);
      }
      mean = next;
      spread *= settings.shrink;
    }
    return best;
  }
}
