// A user's font file -> glyph images [28*28] (ink = 1), drawn the way edgegen/runtime/glyphs.py draws them
// (large canvas, crop to the ink, longer side fitted to GLYPH_BOX, centred): the input a style encoder
// takes. The browser's rasteriser is not Pillow's, so pixels are close to the Python ones, not equal.

const CANVAS = 112; // glyphs.CANVAS
const POINT_SIZE = 80; // glyphs.POINT_SIZE
const GLYPH_BOX = 20; // glyphs.GLYPH_BOX

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

// glyphs.draw_glyph + glyphs.fit_glyph: one letter in `family`, [size*size] float32 with ink = 1.
export function glyphImage(family, letter, size = 28) {
  const big = new OffscreenCanvas(CANVAS, CANVAS);
  const g = big.getContext("2d", { willReadFrequently: true });
  g.fillStyle = "#000";
  g.fillRect(0, 0, CANVAS, CANVAS);
  g.fillStyle = "#fff";
  g.font = `${POINT_SIZE}px "${family}"`;
  g.textAlign = "center";
  g.textBaseline = "middle";
  g.fillText(letter, CANVAS / 2, CANVAS / 2);
  const pixels = g.getImageData(0, 0, CANVAS, CANVAS).data;
  let [x0, y0, x1, y1] = [CANVAS, CANVAS, -1, -1];
  for (let y = 0; y < CANVAS; y++) {
    for (let x = 0; x < CANVAS; x++) {
      if (pixels[4 * (y * CANVAS + x)] > 0) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  const out = new Float32Array(size * size);
  if (x1 < 0) return out;
  const [w, h] = [x1 - x0 + 1, y1 - y0 + 1];
  const scale = GLYPH_BOX / Math.max(w, h);
  const [tw, th] = [Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(h * scale))];
  const small = new OffscreenCanvas(size, size);
  const s = small.getContext("2d", { willReadFrequently: true });
  s.imageSmoothingQuality = "high";
  s.drawImage(big, x0, y0, w, h, Math.floor((size - tw) / 2), Math.floor((size - th) / 2), tw, th);
  const reduced = s.getImageData(0, 0, size, size).data;
  for (let i = 0; i < out.length; i++) out[i] = reduced[4 * i] / 255;
  return out;
}
