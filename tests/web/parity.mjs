// Runs the page's JavaScript mirrors in Node on the cases pytest wrote (tests/test_web_parity.py) and writes what
// they give; pytest compares with the Python runtime. Uses the page's own files: the ES modules in
// edgegen/web/static and the onnxruntime-web build `make web` put in static/vendor (wasm backend, one thread).
//   node tests/web/parity.mjs CASES.json RESULTS.json

import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const staticDir = path.join(root, "edgegen/web/static");
const ort = await import(path.join(staticDir, "vendor/ort.wasm.bundle.min.mjs"));
const { words, rng } = await import(path.join(staticDir, "portable_random.mjs"));
const { openLetterModel } = await import(path.join(staticDir, "letters.mjs"));
const { DrumGenerator } = await import(path.join(staticDir, "drums.mjs"));
const { midiBytes } = await import(path.join(staticDir, "midi.mjs"));
const { oneShot, softLimit } = await import(path.join(staticDir, "synth.mjs"));
const { fitGlyph } = await import(path.join(staticDir, "fonts.mjs"));

ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = path.join(staticDir, "vendor") + path.sep;

const [casesPath, resultsPath] = process.argv.slice(2);
const cases = JSON.parse(await readFile(casesPath, "utf8"));
const diskSource = (dir) => ({
  sidecar: async (name) => JSON.parse(await readFile(path.join(dir, `${name}.onnx.json`), "utf8")),
  bytes: async (name) => new Uint8Array(await readFile(path.join(dir, `${name}.onnx`))),
});
const source = diskSource(cases.models_dir);
const results = { random: [], letters: [], drums: [], midi: [], errors: [], synth: null };

for (const c of cases.random) {
  const stream = rng(c.seed);
  results.random.push({
    words: Array.from(words(c.seed, c.start, c.count)),
    normals: Array.from(stream.standardNormal(c.count)),
    uniforms: Array.from(stream.random(c.count)),
    integers: stream.integers(0, 26, c.count),
  });
}

// every letter model the cases name (the default style model and a GAN the page also offers), each letter case
// drawn by each
const letterModels = {};
for (const name of cases.letter_models) letterModels[name] = await openLetterModel(ort, source, name);
const letters = letterModels[cases.letter_models[0]];
for (const name of cases.letter_models) {
  const model = letterModels[name];
  const drawn = { letters: [], words: [] };
  for (const c of cases.letters) {
    drawn.letters.push({ style: Array.from(model.style(c.seed)), image: Array.from(await model.render(c.letter, c.seed)) });
  }
  for (const c of cases.words) drawn.words.push((await model.word(c.text, c.seed)).map((image) => Array.from(image)));
  results.letters.push(drawn);
}
// glyphs.fit_glyph on large glyphs Pillow drew (glyphs.draw_glyph): crop, Lanczos fit, paste
results.fit = (cases.fit || []).map((big) => Array.from(fitGlyph(Uint8Array.from(big))));
// StyleFontGenerator.encode on the example glyphs Python drew from a font (style_examples.font_examples)
if (cases.encode) {
  const style = await letters.encode(cases.encode.glyphs.map((g) => Float32Array.from(g)), cases.encode.letters);
  results.encode = { style: Array.from(style), word: (await letters.word(cases.encode.word, 0, style)).map((i) => Array.from(i)) };
  // StyleFontGenerator.like (the encoder's style fitted to the examples) on the first LIKE_EXAMPLES of them
  const n = cases.encode.like_examples;
  results.like = Array.from(await letters.like(cases.encode.glyphs.slice(0, n).map((g) => Float32Array.from(g)),
                                                cases.encode.letters.slice(0, n)));
}

const drums = await DrumGenerator.load(ort, source);
for (const c of cases.drums) {
  let groove;
  if (c.method === "sample") groove = await drums.sample(c.style, c.bars, c.seed, c.options);
  else if (c.method === "evolve") groove = await drums.evolve(c.style, c.bars, c.seed, c.options);
  else groove = await drums.morph(c.style, c.to, c.bars, c.seed);
  results.drums.push({ hits: groove.hits, velocities: Array.from(groove.velocities), offsets: Array.from(groove.offsets) });
}
for (const c of cases.midi) {
  const options = { ...c.options, velocities: c.velocities && Float32Array.from(c.velocities),
                    offsets: c.offsets && Float32Array.from(c.offsets) };
  results.midi.push(Buffer.from(midiBytes(c.grids, drums.model.pitches, options)).toString("base64"));
}
for (const c of cases.errors) {
  try {
    if (c.kind === "style") await drums.sample(c.value, 1, 0);
    else if (c.kind === "letter") await letters.render(c.value, 0);
    else if (c.kind === "seed") letters.style(c.value);
    results.errors.push(null);
  } catch (error) {
    results.errors.push(error.message);
  }
}
{
  const asBase64 = (array) => Buffer.from(Float64Array.from(array).buffer).toString("base64");
  results.synth = {
    voices: cases.synth.kit.voices.map((voice) => oneShot(voice, cases.synth.sample_rate).map(asBase64)),
    limited: asBase64(cases.synth.limiter_inputs.map((x) => softLimit(x, cases.synth.kit.limiter_threshold))),
  };
}
await writeFile(resultsPath, JSON.stringify(results));
