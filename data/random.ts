/**
 * Seeded pseudo-random numbers (deterministic across platforms): xoshiro128** seeded through
 * splitmix32. Every random choice in the project goes through here with an explicit seed.
 */

/** A seeded generator. */
export class Rng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;
  #spare: number | null = null;

  /** @param seed any integer (or a string, hashed); different seeds give independent streams. */
  constructor(seed: number | string) {
    let x = typeof seed === "string" ? hashString(seed) : (seed >>> 0) ^ 0x9e3779b9;
    const next = () => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#s0 = next();
    this.#s1 = next();
    this.#s2 = next();
    this.#s3 = next();
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0;
    const t = this.#s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= this.#s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box–Muller, deterministic). */
  normal(): number {
    if (this.#spare !== null) {
      const s = this.#spare;
      this.#spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /**
   * Write `count` standard normals, each multiplied by `scale[j]`, into `out[at + j]`: exactly
   * the values of `scale[j] * this.normal()` called `count` times in order (same stream, same
   * bits), without the per-call overhead. For bulk draws (the synthetic world's noise).
   * @param out float64 destination
   * @param at first index written
   * @param scale per-value factors, length ≥ count
   * @param count number of draws
   */
  scaledNormalsInto(out: Float64Array, at: number, scale: Float64Array, count: number): void {
    let j = 0;
    if (count > 0 && this.#spare !== null) {
      out[at] = scale[0] * this.#spare;
      this.#spare = null;
      j = 1;
    }
    for (; j < count; j += 2) {
      let u = 0;
      while (u === 0) u = this.uniform();
      const v = this.uniform();
      const r = Math.sqrt(-2 * Math.log(u));
      out[at + j] = scale[j] * (r * Math.cos(2 * Math.PI * v));
      const second = r * Math.sin(2 * Math.PI * v);
      if (j + 1 < count) out[at + j + 1] = scale[j + 1] * second;
      else this.#spare = second;
    }
  }

  /**
   * Write `count` standard normals times `scale[j]` into `out[at + j]` by the ziggurat method
   * (Marsaglia and Tsang 2000, 128 layers; layer and value from separate bits of one draw):
   * about one 32-bit draw per value, no trigonometry — many times faster than {@link normal}, and
   * a different stream from it. Deterministic like every draw here.
   */
  zigguratNormalsInto(out: Float32Array, at: number, scale: Float64Array, count: number): void {
    const { k, w, f } = zigguratTables();
    for (let j = 0; j < count; j++) {
      let z: number;
      for (;;) {
        const bits = this.nextUint32();
        const layer = bits & 127;
        const v = (bits | 0) >> 7; // signed 25-bit value, independent of the layer bits
        const x = v * w[layer];
        if ((v < 0 ? -v : v) < k[layer]) {
          z = x;
          break;
        }
        if (layer === 0) {
          // The tail beyond R: Marsaglia's exponential rejection.
          let a: number, b: number;
          do {
            a = -Math.log(1 - this.uniform()) / ZIG_R;
            b = -Math.log(1 - this.uniform());
          } while (b + b < a * a);
          z = v < 0 ? -(ZIG_R + a) : ZIG_R + a;
          break;
        }
        if (f[layer] + this.uniform() * (f[layer - 1] - f[layer]) < Math.exp(-0.5 * x * x)) {
          z = x;
          break;
        }
      }
      out[at + j] = scale[j] * z;
    }
  }

  /** Fill a Float32Array with standard normals scaled by `scale`. */
  fillNormal(out: Float32Array, scale = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal() * scale;
    return out;
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(a: T[] | Int32Array | Uint32Array): typeof a {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** A permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    this.shuffle(p);
    return p;
  }
}

/** Right edge of the ziggurat's base layer and the area of each of its 128 layers. */
const ZIG_R = 3.442619855899;
const ZIG_V = 9.91256303526217e-3;
let zig: { k: Float64Array; w: Float64Array; f: Float64Array } | null = null;

/** Ziggurat tables for 25-bit signed values (|v| < 2^24): accept bounds k, widths w, densities f. */
function zigguratTables(): { k: Float64Array; w: Float64Array; f: Float64Array } {
  if (zig) return zig;
  const m = 16777216; // 2^24
  const k = new Float64Array(128), w = new Float64Array(128), f = new Float64Array(128);
  let dn = ZIG_R, tn = dn;
  const q = ZIG_V / Math.exp(-0.5 * dn * dn);
  k[0] = (dn / q) * m;
  k[1] = 0;
  w[0] = q / m;
  w[127] = dn / m;
  f[0] = 1;
  f[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(ZIG_V / dn + Math.exp(-0.5 * dn * dn)));
    k[i + 1] = (dn / tn) * m;
    tn = dn;
    f[i] = Math.exp(-0.5 * dn * dn);
    w[i] = dn / m;
  }
  zig = { k, w, f };
  return zig;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** FNV-1a hash of a string to a 32-bit unsigned integer. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
