// A user's font file -> glyph images [28*28] (ink = 1), drawn the way edgegen/runtime/glyphs.py draws them
// (white on black on a 112-pixel canvas at 80 px, cropped to the ink, the longer side fitted to GLYPH_BOX with
// Pillow's LANCZOS filter, pasted centred): the input the style encoder takes, as `fontgen --like FONT` feeds it.
// The resize is Pillow's own arithmetic (its Lanczos coefficients in 22-bit fixed point, two passes with 8-bit
// rounding between them), so the only difference left is the rasteriser: the browser's (Skia) draws the large glyph,
// not FreeType.

const CANVAS = 112; // glyphs.CANVAS
const POINT_SIZE = 80; // glyphs.POINT_SIZE
const GLYPH_BOX = 20; // glyphs.GLYPH_BOX
const IMAGE_SIZE = 28; // letter_spec.IMAGE_SIZE
const MIN_READ_SHARE = 1 / 3; // style_examples.MIN_READ_SHARE
const NOT_A_CODEPOINT = "\u{10FFFD}"; // style_examples.NOT_A_CODEPOINT: what a font draws for a letter it lacks

export class FontFileError extends Error {}

const SFNT_TAGS = new Set([0x00010000, 0x4f54544f, 0x74727565, 0x774f4646, 0x774f4632]); // 1.0, OTTO, true, wOFF, wOF2

// Read a dropped file as a font the browser can draw; FontFileError (one line) for anything else.
export async function loadFont(file) {
  const bytes = await file.arrayBuffer();
  if (bytes.byteLength < 12 || !SFNT_TAGS.has(new DataView(bytes).getUint32(0))) {
    throw new FontFileError(`cannot read ${file.name}: not a TrueType, OpenType or WOFF font`);
  }
  const family = `edgegen-user-${Date.now()}`;
  try {
    const face = await new FontFace(family, bytes).load();
    document.fonts.add(face);
  } catch (error) {
    throw new FontFileError(`cannot read ${file.name}: the browser could not load it as a font (${error.message})`);
  }
  return family;
}

// Python's round(): halves to the even neighbour.
function roundHalfEven(x) {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff !== 0.5) return diff < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

// glyphs.draw_glyph: the glyph white on black in the middle of the large canvas, as 8-bit gray [CANVAS*CANVAS].
export function drawGlyph(family, text) {
  const big = new OffscreenCanvas(CANVAS, CANVAS);
  const g = big.getContext("2d", { willReadFrequently: true });
  g.fillStyle = "#000";
  g.fillRect(0, 0, CANVAS, CANVAS);
  g.fillStyle = "#fff";
  g.font = `${POINT_SIZE}px "${family}"`;
  g.textAlign = "center";
  g.textBaseline = "middle"; // Pillow's anchor "mm"; the crop to the ink below makes the exact line irrelevant
  g.fillText(text, CANVAS / 2, CANVAS / 2);
  const rgba = g.getImageData(0, 0, CANVAS, CANVAS).data;
  return Uint8Array.from({ length: CANVAS * CANVAS }, (_, i) => rgba[4 * i]);
}

// Pillow's Resample.c: lanczos_filter (a = 3) and precompute_coeffs + normalize_coeffs_8bpc for one axis.
const PRECISION_BITS = 32 - 8 - 2;
const sinc = (x) => (x === 0 ? 1 : Math.sin(x * Math.PI) / (x * Math.PI));
const lanczos = (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0);

function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 3 * filterScale;
  const out = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    const weights = Array.from({ length: xmax }, (_, x) => lanczos((x + xmin - center + 0.5) / filterScale));
    const total = weights.reduce((a, b) => a + b, 0);
    const fixed = weights.map((w) => {
      const k = total !== 0 ? w / total : w;
      return Math.trunc(k < 0 ? -0.5 + k * (1 << PRECISION_BITS) : 0.5 + k * (1 << PRECISION_BITS));
    });
    out.push({ xmin, fixed });
  }
  return out;
}

// clip8: a fixed-point sum back to 0-255.
function clip8(sum) {
  if (sum >= 2 ** (PRECISION_BITS + 8)) return 255;
  if (sum <= 0) return 0;
  return Math.floor(sum / 2 ** PRECISION_BITS);
}

// One Lanczos pass of Pillow's along x (rows of `width`) over `rows` rows, 8-bit out.
function horizontalPass(pixels, width, rows, outWidth) {
  const taps = coefficients(width, outWidth);
  const out = new Uint8Array(rows * outWidth);
  for (let y = 0; y < rows; y++) {
    for (let xx = 0; xx < outWidth; xx++) {
      const { xmin, fixed } = taps[xx];
      let sum = 2 ** (PRECISION_BITS - 1);
      for (let x = 0; x < fixed.length; x++) sum += pixels[y * width + x + xmin] * fixed[x];
      out[y * outWidth + xx] = clip8(sum);
    }
  }
  return out;
}

function verticalPass(pixels, width, height, outHeight) {
  const taps = coefficients(height, outHeight);
  const out = new Uint8Array(width * outHeight);
  for (let yy = 0; yy < outHeight; yy++) {
    const { xmin, fixed } = taps[yy];
    for (let x = 0; x < width; x++) {
      let sum = 2 ** (PRECISION_BITS - 1);
      for (let y = 0; y < fixed.length; y++) sum += pixels[(y + xmin) * width + x] * fixed[y];
      out[yy * width + x] = clip8(sum);
    }
  }
  return out;
}

// Image.resize(size, LANCZOS) of an 8-bit gray image [h][w] (flat): two passes, each rounded to 8 bits. Pillow 13
// runs the vertical pass first for images more than twice as tall as wide and the horizontal pass first otherwise
// (measured against Image.resize: tests/test_web_parity.py; its rounding differs between the orders).
export function lanczosResize(pixels, width, height, outWidth, outHeight) {
  let out = Uint8Array.from(pixels);
  if (height > 2 * width) {
    if (outHeight !== height) out = verticalPass(out, width, height, outHeight);
    if (outWidth !== width) out = horizontalPass(out, width, outHeight, outWidth);
  } else {
    if (outWidth !== width) out = horizontalPass(out, width, height, outWidth);
    if (outHeight !== height) out = verticalPass(out, outWidth, height, outHeight);
  }
  return out;
}

// glyphs.fit_glyph (no distortion): crop to the ink, fit the longer side to GLYPH_BOX * size / 28 pixels, paste
// centred; [size*size] float32 with ink = 1 (blank for a glyph with no ink).
export function fitGlyph(pixels, size = IMAGE_SIZE) {
  let [x0, y0, x1, y1] = [CANVAS, CANVAS, -1, -1];
  for (let y = 0; y < CANVAS; y++) {
    for (let x = 0; x < CANVAS; x++) {
      if (pixels[y * CANVAS + x] > 0) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  const out = new Float32Array(size * size);
  if (x1 < 0) return out;
  const [w, h] = [x1 - x0 + 1, y1 - y0 + 1];
  const crop = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) crop.set(pixels.subarray((y + y0) * CANVAS + x0, (y + y0) * CANVAS + x0 + w), y * w);
  const factor = GLYPH_BOX * size / IMAGE_SIZE / Math.max(w, h);
  const [fw, fh] = [Math.max(1, roundHalfEven(w * factor)), Math.max(1, roundHalfEven(h * factor))];
  const small = lanczosResize(crop, w, h, fw, fh);
  const [px, py] = [roundHalfEven((size - fw) / 2), roundHalfEven((size - fh) / 2)];
  for (let y = 0; y < fh; y++) {
    for (let x = 0; x < fw; x++) {
      const [tx, ty] = [x + px, y + py];
      if (tx >= 0 && ty >= 0 && tx < size && ty < size) out[ty * size + tx] = small[y * fw + x] / 255;
    }
  }
  return out;
}

// glyphs.draw_glyph + fit_glyph: one letter in `family`, [size*size] float32 with ink = 1.
export function glyphImage(family, letter, size = IMAGE_SIZE) {
  return fitGlyph(drawGlyph(family, letter), size);
}

// style_examples.font_examples: the capitals of `letters` (each once) the font draws, skipping those it lacks
// (no ink, or the same drawing as a code point no font maps: its .notdef box); {glyphs, letters (indices), drawn}.
export function fontExamples(family, name, letters, alphabet, size = IMAGE_SIZE) {
  const missing = drawGlyph(family, NOT_A_CODEPOINT);
  const found = { glyphs: [], letters: [], drawn: "" };
  for (const letter of new Set(letters.toUpperCase())) {
    const drawn = drawGlyph(family, letter);
    if (!drawn.some((v) => v > 0) || drawn.every((v, i) => v === missing[i])) continue;
    found.glyphs.push(fitGlyph(drawn, size));
    found.letters.push(alphabet.indexOf(letter));
    found.drawn += letter;
  }
  if (!found.glyphs.length) {
    throw new FontFileError(`font ${name} draws none of the capitals ${letters} (no usable capital letters)`);
  }
  return found;
}

// style_examples.check_readable: the letter classifier (its classes A-Z, input [batch, 1, 28, 28]) must read at
// least a third of a font's examples as the letters they claim, or the font is refused: a symbol font whose
// character map claims the capitals (cmex10 draws brackets and integrals for them) passes fontExamples.
export async function checkReadable(classifier, examples, alphabet, name, size = IMAGE_SIZE) {
  const n = examples.glyphs.length;
  const pixels = IMAGE_SIZE * IMAGE_SIZE;
  const batch = new Float32Array(n * pixels);
  examples.glyphs.forEach((glyph, k) => {
    let image = glyph;
    if (size !== IMAGE_SIZE) { // as check_readable: to 8 bits, Pillow's LANCZOS to 28x28, back to 0-1
      const resized = lanczosResize(Uint8Array.from(glyph, (v) => Math.round(v * 255)), size, size, IMAGE_SIZE, IMAGE_SIZE);
      image = Float32Array.from(resized, (v) => v / 255);
    }
    batch.set(image, k * pixels);
  });
  const [logits] = await classifier.run(n, { image: batch });
  const classes = classifier.spec.classes.map(String);
  let correct = 0;
  examples.letters.forEach((letter, k) => {
    const row = Array.from(logits.subarray(k * classes.length, (k + 1) * classes.length));
    if (classes[row.indexOf(Math.max(...row))] === alphabet[letter]) correct += 1;
  });
  if (correct < MIN_READ_SHARE * n) {
    throw new FontFileError(`font ${name} does not look like letters: the letter classifier reads only ${correct} ` +
                            `of ${n} as the letter they claim (a symbol font?)`);
  }
}
