// The page: wires the letter and drum mirrors to the controls, and fills in window.edgegen, the testable
// surface (ready, renderLetter, sampleBars, ...). All model work runs in onnxruntime-web's single-threaded
// wasm backend, from files served by `edgegen web`.

import * as ort from "./vendor/ort.wasm.bundle.min.mjs";
import { DrumGenerator, UnknownStyleError } from "./drums.mjs";
import { checkReadable, fontExamples, loadFont } from "./fonts.mjs";
import { LETTER_KINDS, openLetterModel } from "./letters.mjs";
import { midiBytes, MAX_SWING } from "./midi.mjs";
import { fetchSource, ModelError, OnnxModel } from "./models.mjs";
import { Player } from "./player.mjs";
import { renderKitInWorker } from "./synth.mjs";
import { MAX_SEED, rng } from "./portable_random.mjs";

ort.env.wasm.numThreads = 1; // single thread: no SharedArrayBuffer, no cross-origin isolation needed
ort.env.wasm.proxy = false;
ort.env.wasm.wasmPaths = new URL("./vendor/", import.meta.url).href; // served locally, never a CDN
ort.env.logLevel = "error";

const LIKE_LETTERS = "HAMBURGEFONTS"; // letter_spec.DEFAULT_LIKE_LETTERS: the capitals `fontgen --like FONT` reads
const LETTER_SCALE = 8; // pixels per model pixel on the canvas and in the PNG
const GAP = 2; // font_generator.tile's gap between letters
const api = window.edgegen;
const $ = (id) => document.getElementById(id);
const state = { letters: null, letterModels: new Map(), drums: null, groove: null, playIndex: 0, player: null };

// ----------------------------------------------------------------------------- messages

function showMessage(text) {
  const box = $("message");
  if (box.textContent === text && box.hidden === !text) return; // most calls clear an empty box: no DOM work
  box.textContent = text;
  box.hidden = !text;
}

// Run an action for the user: a failure becomes one line in the message box (and the rejection for callers).
async function guarded(action) {
  try {
    const result = await action();
    showMessage("");
    return result;
  } catch (error) {
    showMessage(`Error: ${error.message}`);
    throw error;
  }
}

// options.seed_option: an integer from 0 to 2**53-1.
function checkSeed(seed) {
  const number = typeof seed === "string" && seed.trim() !== "" ? Number(seed) : seed;
  if (!Number.isInteger(number) || number < 0 || number > MAX_SEED) {
    throw new RangeError(`seed must be an integer from 0 to ${MAX_SEED}, got ${JSON.stringify(seed)}`);
  }
  return number;
}

function checkInteger(name, value, low, high) {
  const number = Number(value);
  if (!Number.isInteger(number) || number < low || number > high) {
    throw new RangeError(`${name} must be an integer from ${low} to ${high}, got ${JSON.stringify(value)}`);
  }
  return number;
}

// ----------------------------------------------------------------------------- letters

// Setting a canvas's size reallocates and clears it: only when it changes.
function resize(canvas, width, height) {
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
}

// font_generator.tile + to_pixels: images in one row (gap 2), black ink on white, then scaled up by
// LETTER_SCALE with nearest-neighbour sampling (each model pixel a LETTER_SCALE square).
function drawLetters(images, canvas = $("letters-canvas")) {
  const { height, width } = state.letters;
  const sheetWidth = images.length * width + (images.length - 1) * GAP;
  if (!state.sheet || state.sheet.width !== sheetWidth || state.sheet.height !== height) {
    state.sheet = new OffscreenCanvas(sheetWidth, height);
  }
  const sheet = state.sheet.getContext("2d");
  const pixels = sheet.createImageData(sheetWidth, height);
  pixels.data.fill(255);
  images.forEach((image, k) => {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = 4 * (y * sheetWidth + k * (width + GAP) + x);
        pixels.data[i] = pixels.data[i + 1] = pixels.data[i + 2] =
          Math.round((1 - Math.min(Math.max(image[y * width + x], 0), 1)) * 255);
      }
    }
  });
  sheet.putImageData(pixels, 0, 0);
  resize(canvas, sheetWidth * LETTER_SCALE, height * LETTER_SCALE);
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.drawImage(state.sheet, 0, 0, canvas.width, canvas.height);
}

// The text in the style of seed, or in the given style (a dropped font's, read by the style encoder).
async function renderText(text, seed, style = null) {
  const letters = state.letters;
  const images = text.length === 1 ? [await letters.render(text, seed, style)]
                                   : await letters.word(text.toUpperCase(), seed, style);
  drawLetters(images);
  return images;
}

// The dropped font's style when "in the font's style" is ticked and the model on show is the one that read it.
function fontStyleInUse() {
  const font = state.fontStyle;
  return $("font-style").checked && font && font.model === state.letters.name ? font.style : null;
}

async function drawFromForm() {
  const text = $("text").value.trim().toUpperCase();
  const seed = checkSeed($("letter-seed").value);
  const name = $("letter-model").value;
  if (name !== state.letters.name) {
    if (!state.letterModels.has(name)) state.letterModels.set(name, openLetterModel(ort, state.source, name));
    state.letters = await state.letterModels.get(name); // renderLetter follows the chosen model, as --model does
  }
  return renderText(text, seed, fontStyleInUse());
}

function downloadBlob(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

async function downloadPng() {
  const canvas = $("letters-canvas");
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  downloadBlob(blob, `edgegen-${$("text").value.trim().toLowerCase() || "letters"}-${$("letter-seed").value}.png`);
}

// A dropped font, as `fontgen ... --like FONT` reads it (style_examples.font_examples: the capitals of
// HAMBURGEFONTS the font draws, drawn as runtime/glyphs.py draws them); with the letter style model its encoder
// reads the font's style from them and the letters are drawn in it ("in the font's style").
function showGlyphs(images) {
  const preview = $("font-preview");
  const size = state.letters.height;
  preview.hidden = false;
  preview.width = images.length * size;
  preview.height = size;
  const context = preview.getContext("2d");
  const pixels = context.createImageData(preview.width, size);
  images.forEach((image, k) => image.forEach((v, i) => {
    const j = 4 * ((Math.floor(i / size)) * preview.width + k * size + (i % size));
    pixels.data[j] = pixels.data[j + 1] = pixels.data[j + 2] = Math.round((1 - v) * 255);
    pixels.data[j + 3] = 255;
  }));
  context.putImageData(pixels, 0, 0);
}

// The bundled letter classifier, loaded on the first dropped font; null when the models folder has none (as
// fontgen, which then skips the check).
async function letterClassifier() {
  if (state.classifier === undefined) {
    state.classifier = OnnxModel.load(ort, state.source, "letter_classifier").catch((error) => {
      if (error instanceof ModelError) return null;
      throw error;
    });
  }
  return state.classifier;
}

async function useFontFile(file) {
  const family = await loadFont(file);
  const letters = state.letters;
  const examples = fontExamples(family, file.name, LIKE_LETTERS, letters.letters, letters.height);
  const classifier = await letterClassifier();
  if (classifier) await checkReadable(classifier, examples, letters.letters, file.name, letters.height);
  showGlyphs(examples.glyphs);
  if (!letters.encode) {
    $("font-note").textContent = `${file.name} (${examples.drawn}): read, its letters above as the style encoder sees ` +
      `them. ${letters.name} draws styles from seeds only; choose letters_style to draw in the font's style.`;
    return { ...examples, style: null };
  }
  const style = await letters.like(examples.glyphs, examples.letters);
  state.fontStyle = { name: file.name, model: letters.name, style, ...examples };
  $("font-style").disabled = false;
  $("font-style").checked = true;
  $("font-note").textContent = `${file.name} (${examples.drawn}): its style read by ${letters.name}_encoder and fitted to these letters; ` +
    "the letters above are drawn in it (untick \"in the font's style\" for the seed's style).";
  await drawFromForm();
  return { ...examples, style };
}

// ----------------------------------------------------------------------------- drums

function grooveSettings() {
  return {
    style: $("style").value,
    mode: $("mode").value,
    styleTo: $("style-to").value,
    bars: checkInteger("bars", $("bars").value, 1, 64),
    seed: checkSeed($("drum-seed").value),
    complexity: Number($("complexity").value),
    temperature: Number($("temperature").value),
    quantize: $("quantize").checked,
  };
}

// The CLI's choice of DrumGenerator method (drumgen sample --evolve 4 / --morph-to / plain). drumgen's evolve and
// morph decode at complexity 0 and morph at temperature 1; the page's knobs apply to them too (at their defaults
// the grooves are drumgen's).
async function makeGroove({ style, mode, styleTo, bars, seed, complexity, temperature }) {
  const drums = state.drums;
  if (mode === "evolve") return drums.evolve(style, bars, seed, { every: 4, temperature, complexity });
  if (mode === "morph") return drums.morph(style, styleTo, bars, seed, { complexity });
  return drums.sample(style, bars, seed, { temperature, complexity });
}

function setGroove(groove, settings) {
  state.groove = { ...groove, settings };
  state.playIndex = 0;
  drawRoll();
}

async function grooveFromForm() {
  const settings = grooveSettings();
  setGroove(await makeGroove(settings), settings);
}

// A groove's flat per-cell values [bars * steps * instruments] as nested arrays [bars][steps][instruments].
function perCell(flat) {
  const { steps, cells } = state.drums.model;
  return nested(flat, [flat.length / cells, steps, cells / steps]);
}

// The piano roll: instruments bottom to top, steps left to right, the playing step highlighted; a hit's shade is
// its velocity (darker = louder) and a tick inside the cell marks its offset from the grid (unless quantised).
function drawRoll(playing = null) {
  const canvas = $("roll");
  const context = canvas.getContext("2d");
  const hits = state.groove ? state.groove.hits : [];
  const names = state.drums.model.instruments;
  const steps = hits.length * state.drums.model.steps;
  const label = 80;
  const cell = Math.max(4, Math.min(20, Math.floor((960 - label) / Math.max(steps, 16))));
  resize(canvas, label + cell * Math.max(steps, 16), cell * names.length);
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.font = `${Math.min(12, cell)}px sans-serif`;
  names.forEach((name, row) => {
    const y = (names.length - 1 - row) * cell;
    context.fillStyle = "#333";
    context.fillText(name, 2, y + cell * 0.8);
    hits.forEach((bar, b) => bar.forEach((stepHits, s) => {
      const x = label + (b * bar.length + s) * cell;
      const now = playing && playing.bar === b && playing.step === s;
      const empty = now ? "#fbe3a4" : (s % 4 === 0 ? "#e4e4ee" : "#f3f3f7"); // the playhead's column, beats
      const at = (b * bar.length + s) * names.length + row;
      const velocity = state.groove.velocities ? state.groove.velocities[at] : 1;
      const shade = Math.round(200 * (1 - velocity)); // velocity 1: #000055-ish, soft notes pale
      context.fillStyle = stepHits[row] ? (now ? "#d33" : `rgb(${shade}, ${shade}, ${85 + Math.round(0.6 * shade)})`) : empty;
      context.fillRect(x + 1, y + 1, cell - 2, cell - 2);
      if (stepHits[row] && state.groove.offsets && !state.groove.settings.quantize && cell >= 8) {
        context.fillStyle = "#fff"; // the offset tick: centre = on the grid, left = early, right = late
        context.fillRect(x + Math.round(cell / 2 - 1 + state.groove.offsets[at] * (cell - 4)), y + cell - 4, 2, 2);
      }
    }));
  });
}

function nextBarToPlay() {
  const groove = state.groove;
  const index = state.playIndex % groove.hits.length;
  state.playIndex += 1;
  // the bar's learned velocities and offsets, as midi_io.bar_events plays them (offsets ignored when quantised)
  const cells = state.drums.model.cells;
  const ofBar = (flat) => flat.slice(index * cells, (index + 1) * cells);
  const bar = { hits: groove.hits[index], velocities: ofBar(groove.velocities), offsets: ofBar(groove.offsets),
                quantize: Boolean(groove.settings.quantize), index };
  if (index === groove.hits.length - 1 && groove.settings.mode === "evolve") {
    // evolve keeps going: the next round is the next seed's groove (shown in the seed box, so it can be replayed)
    $("drum-seed").value = String(groove.settings.seed + 1);
    grooveFromForm().catch(() => {});
  }
  return Promise.resolve(bar);
}

// The playhead: the bar that started last on the audio clock (of those scheduled) and the step within it.
function animateRoll() {
  const player = state.player;
  if (!player.playing) {
    drawRoll();
    return;
  }
  const now = player.context.currentTime;
  const started = state.barStarts.filter((s) => s.start <= now);
  const current = started.reduce((latest, s) => (!latest || s.start > latest.start ? s : latest), null);
  state.barStarts = state.barStarts.filter((s) => s.start > now || s === current);
  if (current) {
    const step = Math.floor((now - current.start) / player.stepSeconds());
    drawRoll({ bar: current.index, step: Math.min(step, 15) });
  }
  requestAnimationFrame(animateRoll);
}

function playerSettings() {
  const player = state.player;
  player.bpm = checkInteger("BPM", $("bpm").value, 40, 300);
  const swing = Number($("swing").value);
  if (!(swing >= 0 && swing <= MAX_SWING)) throw new RangeError(`swing must be between 0 and ${MAX_SWING}`);
  player.swing = swing;
}

async function play() {
  playerSettings();
  state.barStarts = [];
  state.player.onBar = (bar, start) => state.barStarts.push({ index: bar.index, start });
  await state.player.start();
  requestAnimationFrame(animateRoll);
}

// drumgen sample --out (with --quantize when "on the grid" is ticked): velocities and offsets as learned.
function midiOfGroove() {
  const { hits, velocities, offsets } = state.groove;
  playerSettings();
  return midiBytes(hits, state.drums.model.pitches, { bpm: state.player.bpm, swing: state.player.swing, velocities,
                                                      offsets, quantize: $("quantize").checked });
}

function downloadMidi() {
  const { settings } = state.groove;
  const bytes = midiOfGroove();
  downloadBlob(new Blob([bytes], { type: "audio/midi" }), `edgegen-${settings.style}-${settings.seed}.mid`);
}

async function listMidiPorts() {
  const select = $("midi-out");
  select.hidden = false;
  if (!navigator.requestMIDIAccess) {
    select.options[0].textContent = "(WebMIDI is not available in this browser)";
    return;
  }
  try {
    const access = await navigator.requestMIDIAccess();
    select.replaceChildren(new Option("(no MIDI output)", ""));
    for (const output of access.outputs.values()) select.append(new Option(output.name, output.id));
    select.onchange = () => { state.player.midiOutput = access.outputs.get(select.value) || null; };
  } catch (error) {
    select.options[0].textContent = `(MIDI not allowed: ${error.message})`;
  }
}

// ----------------------------------------------------------------------------- the testable surface

// A flat array as nested arrays of `shape` (C order).
function nested(flat, shape) {
  if (shape.length === 1) return Array.from(flat.slice(0, shape[0]));
  const size = shape.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: shape[0] }, (_, i) => nested(flat.slice(i * size, (i + 1) * size), shape.slice(1)));
}

Object.assign(api, {
  // Letter [H*W] float32, ink = 1, for letter and seed (the CLI's `fontgen render --letter L --seed N`); drawn too.
  renderLetter: (letter, seed = 0) => guarded(async () => {
    await api.ready;
    const image = await state.letters.render(letter, checkSeed(seed));
    drawLetters([image]);
    return image;
  }),
  // The last dropped font as the style encoder read it: {name, drawn (its letters), letters (indices), glyphs
  // [k][H*W], style [style_dim]}; null before a font is dropped (or with a model that has no encoder).
  fontStyle: () => state.fontStyle && { name: state.fontStyle.name, model: state.fontStyle.model,
                                        drawn: state.fontStyle.drawn, letters: [...state.fontStyle.letters],
                                        glyphs: state.fontStyle.glyphs.map((g) => Array.from(g)),
                                        style: Array.from(state.fontStyle.style) },
  // Letters [len][H*W] of text in the dropped font's style (`fontgen word TEXT --like FONT`); drawn too.
  renderLike: (text) => guarded(async () => {
    await api.ready;
    if (!state.fontStyle) throw new Error("drop a font file first");
    if (state.letters.name !== state.fontStyle.model) throw new Error(`the font was read by ${state.fontStyle.model}`);
    return renderText(String(text).toUpperCase(), 0, state.fontStyle.style);
  }),
  // Letters [len][H*W] of a word in one style (`fontgen word TEXT --seed N`).
  renderWord: (text, seed = 0) => guarded(async () => {
    await api.ready;
    const images = await state.letters.word(String(text).toUpperCase(), checkSeed(seed));
    drawLetters(images);
    return images;
  }),
  // Hits [bars][steps][instruments] of 0/1 (`drumgen sample --style S --bars B --seed N`), with .velocities and
  // .offsets when the decoder has those outputs, and .seed; shown in the piano roll. Defaults as drumgen's:
  // one bar, a fresh seed.
  sampleBars: (style, bars = 1, seed = null) => guarded(async () => {
    await api.ready;
    if (seed === null || seed === undefined) seed = rng(null).seed;
    const settings = { style: String(style).toLowerCase(), mode: "sample", bars: checkInteger("bars", bars, 1, 1024),
                       seed: checkSeed(seed), complexity: 0, temperature: 1, quantize: $("quantize").checked };
    const groove = await state.drums.sample(settings.style, settings.bars, settings.seed);
    setGroove(groove, settings);
    const hits = groove.hits.map((bar) => bar.map((row) => [...row]));
    hits.velocities = perCell(groove.velocities);
    hits.offsets = perCell(groove.offsets);
    hits.seed = settings.seed;
    return hits;
  }),
  play: () => guarded(play),
  stop: () => state.player.stop(),
  styles: () => state.drums.styles,
  // The groove on show (and playing): {hits, velocities, offsets [bars][steps][instruments], settings} as the
  // controls made it.
  groove: () => state.groove && { hits: state.groove.hits.map((bar) => bar.map((row) => [...row])),
                                  velocities: perCell(state.groove.velocities), offsets: perCell(state.groove.offsets),
                                  settings: { ...state.groove.settings } },
  // The bytes "Download MIDI" saves for the groove on show (drumgen sample --out, --bpm, --swing, --quantize).
  midiBytes: () => Array.from(midiOfGroove()),
  // The audio clock (seconds) and when the next bar is due on it; null before the first play.
  audioClock: () => (state.player && state.player.context
    ? { now: state.player.context.currentTime, nextBar: state.player.nextBarTime, state: state.player.context.state,
        sampleRate: state.player.context.sampleRate, kitReady: Boolean(state.player.kit) }
    : null),
});
Object.defineProperty(api, "playing", { get: () => Boolean(state.player && state.player.playing) });

// ----------------------------------------------------------------------------- start-up

function fillSelect(select, names, chosen) {
  select.replaceChildren(...names.map((name) => new Option(name, name, false, name === chosen)));
}

function wireLetterControls() {
  $("letters-form").addEventListener("submit", (event) => { event.preventDefault(); guarded(drawFromForm).catch(() => {}); });
  $("download-png").addEventListener("click", () => guarded(downloadPng).catch(() => {}));
  $("font-style").addEventListener("change", () => guarded(drawFromForm).catch(() => {}));
  $("font-file").addEventListener("change", () => {
    const file = $("font-file").files[0];
    if (file) guarded(() => useFontFile(file)).catch(() => {});
  });
}

function wireDrumControls() {
  $("drums-form").addEventListener("submit", (event) => { event.preventDefault(); guarded(grooveFromForm).catch(() => {}); });
  for (const id of ["style", "mode", "style-to", "complexity", "temperature", "quantize"]) {
    $(id).addEventListener("change", () => guarded(grooveFromForm).catch(() => {}));
  }
  for (const id of ["complexity", "temperature", "swing"]) {
    $(id).addEventListener("input", () => { $(`${id}-value`).textContent = $(id).value; });
  }
  for (const id of ["bpm", "swing"]) $(id).addEventListener("change", () => guarded(async () => playerSettings()).catch(() => {}));
  $("mode").addEventListener("change", () => { $("morph-label").hidden = $("mode").value !== "morph"; });
  $("morph-label").hidden = true;
  $("play").addEventListener("click", () => api.play().catch(() => {}));
  $("stop").addEventListener("click", () => api.stop());
  $("download-midi").addEventListener("click", () => guarded(async () => downloadMidi()).catch(() => {}));
  $("midi-ports").addEventListener("click", () => listMidiPorts());
}

// ?text=EDGE&seed=3 set the first drawing; ?style=jazz&bars=4&drumseed=1 the first groove.
function applyLetterQuery(params) {
  if (params.has("text")) $("text").value = params.get("text");
  if (params.has("seed")) $("letter-seed").value = params.get("seed");
}

function applyDrumQuery(params) {
  if (params.has("bars")) $("bars").value = params.get("bars");
  if (params.has("drumseed")) $("drum-seed").value = params.get("drumseed");
  const style = params.get("style");
  if (style !== null && !state.drums.styles.includes(style.toLowerCase())) {
    throw new UnknownStyleError(`unknown style '${style}'; choose from ${state.drums.styles.join(", ")}`);
  }
  if (style !== null) $("style").value = style.toLowerCase();
}

// The letter model first (the first letter is drawn as soon as it is in), the drum graphs next; then the first
// groove, then the kit in a worker.
async function start() {
  const source = fetchSource(new URL("./models", import.meta.url).href);
  state.source = source;
  api.timings.moduleMs = performance.now();
  const index = await source.index();
  if (!index.letters) throw new Error("the models folder has no conditional letter model");
  const params = new URLSearchParams(location.search);
  const letters = await openLetterModel(ort, source, index.letters);
  // the drum graphs' sessions after the letter model's (one wasm thread); their files are preloaded
  const drumsLoading = DrumGenerator.load(ort, source);
  drumsLoading.catch(() => {}); // awaited below; a failure there must not pass unseen before then
  state.letters = letters;
  state.letterModels.set(letters.name, Promise.resolve(letters));
  // the models `fontgen render --model` takes: the letter style model and the conditional GANs
  fillSelect($("letter-model"), index.models.filter((m) => m.kind === LETTER_KINDS[1] || (m.kind === LETTER_KINDS[0] && m.conditional))
    .map((m) => m.name), letters.name);
  wireLetterControls();
  applyLetterQuery(params);
  await drawFromForm();
  api.timings.firstLetterMs = performance.now();

  const drums = await drumsLoading;
  api.timings.modelsMs = performance.now();
  state.drums = drums;
  fillSelect($("style"), drums.styles, drums.styles[0]);
  fillSelect($("style-to"), drums.styles, drums.styles[drums.styles.length - 1]);
  const kit = new Promise((resolve) => { state.startKit = resolve; }).then(() =>
    renderKitInWorker(drums.model.instruments, index.kit.sample_rate, index.kit));
  kit.catch(() => {}); // a kit that cannot be built is reported when Play is pressed
  api.kitReady = kit.then(() => true, () => false);
  state.player = new Player({ instruments: drums.model.instruments, pitches: drums.model.pitches, kit,
                              sampleRate: index.kit.sample_rate,
                              nextBar: nextBarToPlay, stats: api.stats });
  wireDrumControls();
  let queryError = null;
  try {
    applyDrumQuery(params);
  } catch (error) {
    queryError = error;
  }
  await grooveFromForm();
  api.timings.firstGrooveMs = performance.now();
  $("status").textContent = `${letters.name} and the drum VAE (${drums.styles.join(", ")}) loaded in ` +
                            `${Math.round(api.timings.firstGrooveMs)} ms, onnxruntime-web ${ort.env.versions.web ?? ort.env.versions.common}, wasm, 1 thread`;
  if (queryError) showMessage(`Error: ${queryError.message}`);
  state.startKit(); // the kit is built in a worker once the first letter and groove are out
}

start().then(() => api.settle.resolve(api), (error) => {
  showMessage(`Error: ${error.message}`);
  $("status").textContent = "the models could not be loaded";
  api.settle.reject(error);
});
