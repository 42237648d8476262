// Letters from an exported letter generator: the JavaScript mirror of edgegen/runtime/font_generator.py
// (FontGenerator). Sizes, input names and classes come from the model's sidecar; z comes from the
// portable generator, so a seed draws the same glyph here as `fontgen render --seed N`.

import { rng } from "./portable_random.mjs";
import { ModelError, OnnxModel } from "./models.mjs";

export class UnknownLetterError extends Error {}

// font_generator.FontGenerator
export class FontGenerator {
  constructor(model) {
    if (model.spec.kind !== "letter_generator") {
      throw new ModelError(`${model.name} is a ${model.spec.kind}, not a letter generator`);
    }
    this.model = model;
    this.letters = model.spec.classes.map(String); // A-Z in class order (letter_spec.LETTERS)
    this.zDim = model.spec.latent.z_dim;
    this.conditional = Boolean(model.spec.conditional);
    const [, , height, width] = model.shape(model.spec.outputs[0].name, 1); // image [batch, 1, H, W]
    this.height = height;
    this.width = width;
  }

  static async load(ort, source, name) {
    return new FontGenerator(await OnnxModel.load(ort, source, name));
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

  // FontGenerator.style: latent styles z [n, z_dim] ~ N(0, I) for a seed, float32.
  style(seed, n = 1) {
    return Float32Array.from(rng(seed).standardNormal(n * this.zDim));
  }

  // FontGenerator.generate: images [N][H*W] (ink = 1) for latents z [N * z_dim] and letter indices.
  async generate(z, letters) {
    const n = z.length / this.zDim;
    const inputs = { z };
    if (this.conditional) {
      const onehot = new Float32Array(n * this.letters.length);
      letters.forEach((index, row) => { onehot[row * this.letters.length + index] = 1; });
      inputs.onehot = onehot;
    } else if (letters) {
      throw new ModelError(`${this.name} is unconditional: it cannot be asked for a particular letter`);
    }
    const [images] = await this.model.run(n, inputs);
    const size = this.height * this.width;
    return Array.from({ length: n }, (_, i) => images.slice(i * size, (i + 1) * size));
  }

  needConditional() {
    if (!this.conditional) throw new ModelError(`${this.name} is unconditional and cannot draw a chosen letter`);
  }

  // FontGenerator.render: one letter [H*W] in the style of seed.
  async render(letter, seed) {
    this.needConditional();
    const index = this.letterIndex(letter);
    return (await this.generate(this.style(seed), [index]))[0];
  }

  // FontGenerator.word: the letters of text [len][H*W], all from one z; spaces give blanks.
  async word(text, seed) {
    this.needConditional();
    if (!text) throw new UnknownLetterError("cannot draw an empty word");
    const indices = Array.from(text, (ch) => (ch === " " ? null : this.letterIndex(ch)));
    const drawn = indices.filter((i) => i !== null);
    if (!drawn.length) throw new UnknownLetterError("cannot draw a word of spaces only");
    const style = this.style(seed);
    const z = new Float32Array(drawn.length * this.zDim);
    drawn.forEach((_, row) => z.set(style, row * this.zDim));
    const images = await this.generate(z, drawn);
    let next = 0;
    return indices.map((i) => (i === null ? new Float32Array(this.height * this.width) : images[next++]));
  }
}
