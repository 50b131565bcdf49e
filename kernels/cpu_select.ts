/**
 * Sparsification kernels on host arrays: per-row top-k, batch top-k, thresholding.
 * Output entries of each row are in ascending concept order (a canonical form shared with the
 * WebGPU backend).
 */
import type { CsrCodes } from "./host_sparse.ts";

function overflow(op: string, need: number, capacity: number): Error {
  return new RangeError(
    `${op}: ${need} entries exceed the sparse capacity ${capacity}; allocate a larger SparseCodes`,
  );
}

/**
 * Per row of `pre` (n×c), keep the k largest entries (ties: lower column first) with value
 * max(pre, 0); writes exactly n·k entries (rowPtr[i] = i·k), ascending column within a row.
 * Requires 1 ≤ k ≤ c and capacity ≥ n·k.
 */
export function topkRowsHost(
  pre: Float32Array,
  n: number,
  c: number,
  k: number,
  z: CsrCodes,
): void {
  if (n * k > z.index.length) throw overflow("topkRows", n * k, z.index.length);
  const hv = new Float32Array(k); // min-heap of (value, -col): root = weakest kept
  const hi = new Int32Array(k);
  const { rowPtr, index, value } = z;
  // weaker(a, b): a is ranked below b (smaller value, or equal value and larger column).
  for (let i = 0; i < n; i++) {
    const base = i * c;
    // fill heap with first k columns
    for (let j = 0; j < k; j++) {
      hv[j] = pre[base + j];
      hi[j] = j;
      siftUp(hv, hi, j);
    }
    let minV = hv[0];
    for (let j = k; j < c; j++) {
      const v = pre[base + j];
      if (v > minV) { // equal value and larger column never beats the root
        hv[0] = v;
        hi[0] = j;
        siftDown(hv, hi, k);
        minV = hv[0];
      }
    }
    // write sorted by column
    const o = i * k;
    const cols = hi.slice(0, k).sort();
    // map col -> value: re-read from pre (exact same float)
    for (let t = 0; t < k; t++) {
      const j = cols[t];
      index[o + t] = j;
      const v = pre[base + j];
      value[o + t] = v > 0 ? v : 0;
    }
    rowPtr[i] = o;
  }
  rowPtr[n] = n * k;
}

function weaker(hv: Float32Array, hi: Int32Array, a: number, b: number): boolean {
  return hv[a] < hv[b] || (hv[a] === hv[b] && hi[a] > hi[b]);
}
function swap(hv: Float32Array, hi: Int32Array, a: number, b: number): void {
  const tv = hv[a];
  hv[a] = hv[b];
  hv[b] = tv;
  const ti = hi[a];
  hi[a] = hi[b];
  hi[b] = ti;
}
function siftUp(hv: Float32Array, hi: Int32Array, j: number): void {
  while (j > 0) {
    const p = (j - 1) >> 1;
    if (weaker(hv, hi, j, p)) {
      swap(hv, hi, j, p);
      j = p;
    } else break;
  }
}
function siftDown(hv: Float32Array, hi: Int32Array, size: number): void {
  let j = 0;
  for (;;) {
    const l = 2 * j + 1;
    if (l >= size) break;
    const r = l + 1;
    let w = l;
    if (r < size && weaker(hv, hi, r, l)) w = r;
    if (weaker(hv, hi, w, j)) {
      swap(hv, hi, w, j);
      j = w;
    } else break;
  }
}

/** Reusable scratch for {@link batchTopkHost} (kept by the backend across steps). */
export interface BatchTopkScratch {
  hist: Int32Array;
  candBits: Int32Array;
  candIdx: Int32Array;
}

/** New scratch buffers for {@link batchTopkHost}. */
export function newBatchTopkScratch(): BatchTopkScratch {
  return { hist: new Int32Array(65536), candBits: new Int32Array(0), candIdx: new Int32Array(0) };
}

/**
 * The candidate pass of {@link batchTopkHost}, supplied by a faster engine (the CPU backend's
 * wasm threads): the flat positions f of `bits` (N int32 patterns) with guess ≤ bits[f] ≤
 * 0x7f800000, in increasing f, as patterns `cv[0..nc)` and positions `ci[0..nc)`; null when more
 * than `cap` qualify.
 */
export type CandidateScan = (
  bits: Int32Array,
  N: number,
  guess: number,
  cap: number,
) => { cv: Int32Array; ci: Int32Array; nc: number } | null;

/** Largest bit pattern of a positive, non-NaN float32 (+Infinity). */
const INF_BITS = 0x7f800000;

/**
 * Over the whole of `pre` (n×c), keep the K (`total`, e.g. n·k) largest positive entries (ties:
 * lower flat index first); fewer when fewer are positive. Writes them to `z` in row-major order
 * and returns the smallest kept value (0 when none is kept).
 *
 * Method: exact radix selection on the float bit patterns read as int32 (for positive floats,
 * int32 order = float order; negative floats are negative int32). A spread sample first guesses
 * a threshold below the K-th value, one pass collects the candidates at or above the guess, and
 * the exact K-th value is found among the candidates only; when the guess fails, a full
 * two-level 16-bit histogram selection over all entries runs instead. `scan`, when given, runs
 * the candidate pass (the output does not depend on who runs it).
 */
export function batchTopkHost(
  pre: Float32Array,
  n: number,
  c: number,
  total: number,
  z: CsrCodes,
  scratch: BatchTopkScratch = newBatchTopkScratch(),
  scan?: CandidateScan,
): number {
  const N = n * c;
  const K = Math.min(total, N);
  if (K > z.index.length) throw overflow("batchTopk", K, z.index.length);
  const bits = new Int32Array(pre.buffer, pre.byteOffset, N);
  if (K === 0) return emitNone(z, n);
  // 1. guess a threshold pattern from a sample: aim for ~1.5·K candidates. The sample is
  // S/RUN evenly spaced runs of RUN adjacent entries (two cache lines each, not S misses).
  const S = Math.min(N, 32768);
  const RUN = S === N ? 1 : 32;
  const stride = N / (S / RUN);
  const sample = new Int32Array(S);
  let sPos = 0;
  for (let r = 0; r < S / RUN; r++) {
    const f0 = Math.min(N - RUN, Math.floor(r * stride));
    for (let u = 0; u < RUN; u++) {
      const b = bits[f0 + u];
      if (b > 0 && b <= INF_BITS) sample[sPos++] = b;
    }
  }
  const sorted = sample.subarray(0, sPos).sort();
  const want = Math.min(N, Math.ceil(K * 1.5) + 64);
  const rank = Math.floor((want / N) * S); // sample entries expected above the guess
  let guess = 1; // smallest positive pattern: all positives
  if (rank < sPos) guess = sorted[sPos - 1 - rank];
  const capCand = Math.min(N, Math.max(4 * K + 1024, 1 << 16));
  if (scan) {
    const r = scan(bits, N, guess, capCand);
    if (!r || (r.nc < K && guess > 1)) return batchTopkFull(bits, N, K, c, z, scratch.hist);
    const K2 = Math.min(K, r.nc);
    if (K2 === 0) return emitNone(z, n);
    const t = kthLargest(r.cv, r.nc, K2, scratch.hist);
    return emit(r.cv, r.ci, r.nc, t.bits, t.tiesToKeep, c, n, z);
  }
  if (scratch.candBits.length < capCand) {
    scratch.candBits = new Int32Array(capCand);
    scratch.candIdx = new Int32Array(capCand);
  }
  const cv = scratch.candBits;
  const ci = scratch.candIdx;
  // 2. one pass: candidates with pattern ≥ guess (positive only; NaN dropped), in flat order
  let nc = 0;
  let ok = true;
  for (let f = 0; f < N; f++) {
    const b = bits[f];
    if (b >= guess) {
      if (b > INF_BITS) continue;
      if (nc === capCand) {
        ok = false;
        break;
      }
      cv[nc] = b;
      ci[nc++] = f;
    }
  }
  // With fewer than K candidates the guess may have excluded positives: select over all.
  if (ok && nc < K && guess > 1) ok = false;
  if (!ok) return batchTopkFull(bits, N, K, c, z, scratch.hist);
  const K2 = Math.min(K, nc);
  if (K2 === 0) return emitNone(z, n);
  // 3. exact K-th largest among the candidates, then emit in flat order
  const t = kthLargest(cv, nc, K2, scratch.hist);
  return emit(cv, ci, nc, t.bits, t.tiesToKeep, c, n, z);
}

function emitNone(z: CsrCodes, n: number): number {
  z.rowPtr.fill(0, 0, n + 1);
  return 0;
}

/** K-th largest (1-based) of the positive patterns vals[0..len), and how many ties to keep. */
function kthLargest(
  vals: Int32Array,
  len: number,
  K: number,
  hist: Int32Array,
): { bits: number; tiesToKeep: number } {
  hist.fill(0);
  for (let i = 0; i < len; i++) hist[vals[i] >>> 16]++;
  let above = 0;
  let hb = 0x7f80;
  for (; hb > 0; hb--) {
    if (above + hist[hb] >= K) break;
    above += hist[hb];
  }
  hist.fill(0);
  for (let i = 0; i < len; i++) if (vals[i] >>> 16 === hb) hist[vals[i] & 0xffff]++;
  let lb = 65535;
  for (; lb > 0; lb--) {
    if (above + hist[lb] >= K) break;
    above += hist[lb];
  }
  return { bits: (hb << 16) | lb, tiesToKeep: K - above };
}

function bitsToFloat(b: number): number {
  return new Float32Array(new Int32Array([b]).buffer)[0];
}

function emit(
  cv: Int32Array,
  ci: Int32Array,
  nc: number,
  tBits: number,
  ties: number,
  c: number,
  n: number,
  z: CsrCodes,
): number {
  const { rowPtr, index, value } = z;
  const vbits = new Int32Array(value.buffer, value.byteOffset, value.length);
  let o = 0;
  let row = 0;
  rowPtr[0] = 0;
  for (let e = 0; e < nc; e++) {
    const b = cv[e];
    if (b > tBits || (b === tBits && ties-- > 0)) {
      const f = ci[e];
      const r = (f / c) | 0;
      while (row < r) rowPtr[++row] = o;
      index[o] = f - r * c;
      vbits[o++] = b;
    }
  }
  while (row < n) rowPtr[++row] = o;
  return bitsToFloat(tBits);
}

function batchTopkFull(
  bits: Int32Array,
  N: number,
  K: number,
  c: number,
  z: CsrCodes,
  hist: Int32Array,
): number {
  const n = N / c;
  hist.fill(0);
  let pos = 0;
  for (let f = 0; f < N; f++) {
    const b = bits[f];
    if (b > 0 && b <= INF_BITS) {
      hist[b >>> 16]++;
      pos++;
    }
  }
  const K2 = Math.min(K, pos);
  if (K2 === 0) return emitNone(z, n);
  let above = 0;
  let hb = 0x7f80;
  for (; hb > 0; hb--) {
    if (above + hist[hb] >= K2) break;
    above += hist[hb];
  }
  hist.fill(0);
  for (let f = 0; f < N; f++) {
    const b = bits[f];
    if (b > 0 && b >>> 16 === hb) hist[b & 0xffff]++;
  }
  let lb = 65535;
  for (; lb > 0; lb--) {
    if (above + hist[lb] >= K2) break;
    above += hist[lb];
  }
  const tBits = (hb << 16) | lb;
  let ties = K2 - above;
  const { rowPtr, index, value } = z;
  const vbits = new Int32Array(value.buffer, value.byteOffset, value.length);
  let o = 0;
  for (let i = 0; i < n; i++) {
    rowPtr[i] = o;
    const base = i * c;
    for (let j = 0; j < c; j++) {
      const b = bits[base + j];
      if (b >= tBits && b <= INF_BITS && (b > tBits || ties-- > 0)) {
        index[o] = j;
        vbits[o++] = b;
      }
    }
  }
  rowPtr[n] = o;
  return bitsToFloat(tBits);
}

/**
 * Keep entries with pre[i,j] > theta[j] (theta length c, or length 1 for one shared threshold),
 * value = pre[i,j]; ascending column within a row. Throws when the capacity is exceeded.
 */
export function thresholdHost(
  pre: Float32Array,
  n: number,
  c: number,
  theta: Float32Array,
  z: CsrCodes,
): void {
  const { rowPtr, index, value } = z;
  const cap = index.length;
  const shared = theta.length === 1;
  const t0 = theta[0];
  let o = 0;
  for (let i = 0; i < n; i++) {
    rowPtr[i] = o;
    const base = i * c;
    for (let j = 0; j < c; j++) {
      const v = pre[base + j];
      if (v > (shared ? t0 : theta[j])) {
        if (o >= cap) throw overflow("threshold", o + 1, cap);
        index[o] = j;
        value[o++] = v;
      }
    }
  }
  rowPtr[n] = o;
}
