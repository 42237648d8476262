// The exact JavaScript port of edgegen/runtime/portable_random.py: the same seed gives the same
// 32-bit words, uniforms and normals as the Python runtime, so seed 7 here is `--seed 7` there.
// Words use only 32-bit multiply (Math.imul), xor and unsigned shifts (>>> 0); Box-Muller runs in float64.

const GOLDEN = 0x9e3779b9;
const TWO_32 = 4294967296;
export const MAX_SEED = 2 ** 53 - 1; // PortableRandom.MAX_SEED: JavaScript numbers hold integers exactly up to here

// portable_random._mix: the lowbias32 integer hash (C. Wellons), a bijection on uint32.
export function mix(x) {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

function seedHalves(seed) {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new RangeError(`seed must be between 0 and ${MAX_SEED}, got ${seed}`);
  }
  return [seed % TWO_32 >>> 0, Math.floor(seed / TWO_32) >>> 0];
}

// portable_random.words: words start .. start+count-1 (uint32) of the stream for seed.
// word(i) = mix(mix(mix(i) ^ lo) + hi * GOLDEN)
export function words(seed, start, count) {
  const [lo, hi] = seedHalves(seed);
  const key = Math.imul(hi, GOLDEN) >>> 0;
  const out = new Uint32Array(count);
  for (let k = 0; k < count; k++) {
    const counter = (start + k) % TWO_32 >>> 0;
    out[k] = mix(((mix((mix(counter) ^ lo) >>> 0) + key) % TWO_32) >>> 0);
  }
  return out;
}

// portable_random.PortableRandom: a stream of draws for one seed; each draw takes the next words, in C order.
export class PortableRandom {
  constructor(seed) {
    seedHalves(seed);
    this.seed = seed;
    this.position = 0;
  }

  // PortableRandom._take
  take(count) {
    const out = words(this.seed, this.position, count);
    this.position += count;
    return out;
  }

  // PortableRandom.random: uniform float64 in (0, 1), `count` of them.
  random(count) {
    const w = this.take(count);
    const out = new Float64Array(count);
    for (let k = 0; k < count; k++) out[k] = (w[k] + 0.5) / TWO_32;
    return out;
  }

  // PortableRandom.standard_normal: N(0, 1) float64 by Box-Muller; value k uses uniforms 2k and 2k+1.
  standardNormal(count) {
    const w = this.take(2 * count);
    const out = new Float64Array(count);
    for (let k = 0; k < count; k++) {
      const u1 = (w[2 * k] + 0.5) / TWO_32;
      const u2 = (w[2 * k + 1] + 0.5) / TWO_32;
      out[k] = Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2);
    }
    return out;
  }

  // PortableRandom.integers: integers in [low, high), `count` of them.
  integers(low, high, count) {
    if (high <= low) throw new RangeError("high must be greater than low");
    const u = this.random(count);
    return Array.from(u, (x) => low + Math.floor(x * (high - low)));
  }
}

// portable_random.rng: the generator for a seed (a fresh random seed when null/undefined).
export function rng(seed) {
  if (seed === null || seed === undefined) {
    const w = crypto.getRandomValues(new Uint32Array(2));
    seed = (w[0] & 0x1fffff) * TWO_32 + w[1];
  }
  return new PortableRandom(seed);
}
