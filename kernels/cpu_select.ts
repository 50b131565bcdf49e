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

/**
 * Screening groups of a row of c entries for {@link topkRowsScreened}: lane l of the 16 vectors of
 * each 64-entry chunk is one group of 16 entries, and each of the c mod 64 tail entries is a
 * group of its own (the layout of the wasm kernel `groupmax`).
 */
export function topkGroups(c: number): number {
  return 4 * (c >> 6) + (c & 63);
}

/**
 * Per row, a lower bound on its k-th largest entry from its group maxima (n×ng, ng =
 * {@link topkGroups}): the k-th largest maximum (k of the groups each hold an entry at least that
 * large). Rows whose maxima hold a NaN get +Infinity (no candidates: the heap takes them).
 * `work` is scratch of ≥ ng floats. Requires k ≤ ng.
 */
export function topkThresholds(
  maxima: Float32Array,
  n: number,
  ng: number,
  k: number,
  thresholds: Float32Array,
  work: Float32Array,
): void {
  for (let i = 0; i < n; i++) {
    const row = maxima.subarray(i * ng, i * ng + ng);
    let nan = false;
    for (let g = 0; g < ng; g++) if (row[g] !== row[g]) nan = true;
    if (nan) {
      thresholds[i] = Infinity;
      continue;
    }
    work.set(row);
    thresholds[i] = selectDescending(work, ng, k - 1);
  }
}

/**
 * The r-th largest (0-based) of x[0..n) by quickselect (x is reordered; no NaN).
 * @returns the value (exact: an element of x)
 */
export function selectDescending(x: Float32Array, n: number, r: number): number {
  let lo = 0, hi = n - 1;
  while (lo < hi) {
    const pivot = x[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (x[i] > pivot) i++;
      while (x[j] < pivot) j--;
      if (i <= j) {
        const t = x[i];
        x[i] = x[j];
        x[j] = t;
        i++;
        j--;
      }
    }
    if (r <= j) hi = j;
    else if (r >= i) lo = i;
    else return x[r];
  }
  return x[r];
}

/**
 * Per-row top-k from screened candidates, the result of {@link topkRowsHost}: row i's entries
 * at or above its threshold (from {@link topkThresholds}) are cv/ci[i·cap .. i·cap + cnt[i]) in
 * column order (cnt[i] = −1: more than cap). Sorts them by value (descending, ties: lower column),
 * keeps k, writes them in column order with value max(pre, 0); a row without a finite threshold,
 * with too many candidates or with fewer than k (a NaN among them) goes through the heap.
 * Returns how many rows went through the heap.
 */
export function topkRowsScreened(
  pre: Float32Array,
  n: number,
  c: number,
  k: number,
  thresholds: Float32Array,
  cv: Float32Array,
  ci: Int32Array,
  cnt: Int32Array,
  cap: number,
  z: CsrCodes,
): number {
  if (n * k > z.index.length) throw overflow("topkRows", n * k, z.index.length);
  const { rowPtr, index, value } = z;
  const sv = new Float32Array(cap), sc = new Int32Array(cap), cols = new Int32Array(k);
  const one = new Int32Array(2);
  let heapRows = 0;
  for (let i = 0; i < n; i++) {
    const m = cnt[i], o = i * k;
    rowPtr[i] = o;
    if (!(thresholds[i] < Infinity) || m < k) {
      const row: CsrCodes = {
        rows: 1,
        cols: c,
        rowPtr: one,
        index: index.subarray(o, o + k),
        value: value.subarray(o, o + k),
      };
      topkRowsHost(pre.subarray(i * c, i * c + c), 1, c, k, row);
      heapRows++;
      continue;
    }
    // insertion sort of the candidates: value descending, then column ascending
    const b = i * cap;
    for (let t = 0; t < m; t++) {
      const v = cv[b + t], col = ci[b + t];
      let u = t - 1;
      while (u >= 0 && (sv[u] < v || (sv[u] === v && sc[u] > col))) {
        sv[u + 1] = sv[u];
        sc[u + 1] = sc[u];
        u--;
      }
      sv[u + 1] = v;
      sc[u + 1] = col;
    }
    cols.set(sc.subarray(0, k));
    cols.sort();
    for (let t = 0; t < k; t++) {
      const j = cols[t], v = pre[i * c + j];
      index[o + t] = j;
      value[o + t] = v > 0 ? v : 0;
    }
  }
  rowPtr[n] = n * k;
  return heapRows;
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

/** What the last {@link batchTopkHost} call did (for benchmarks and tests). */
export interface BatchTopkStats {
  /** Which guess produced the candidates: the caller's hint, the sample, or none (full pass). */
  path: "hint" | "sample" | "full" | "empty";
  /** Candidate passes run (0–2). */
  scans: number;
  /** Candidates of the successful pass (0 on the full path). */
  candidates: number;
  /** Wall time of all candidate passes (ms). */
  scanMs: number;
  /** The caller's hint was above the threshold: its pass found fewer than K candidates. */
  hintShort: boolean;
}

/** Reusable scratch for {@link batchTopkHost} (kept by the backend across steps). */
export interface BatchTopkScratch {
  hist: Int32Array;
  candBits: Int32Array;
  candIdx: Int32Array;
  /** Filled by every call. */
  stats: BatchTopkStats;
}

/** New scratch buffers for {@link batchTopkHost}. */
export function newBatchTopkScratch(): BatchTopkScratch {
  return {
    hist: new Int32Array(65536),
    candBits: new Int32Array(0),
    candIdx: new Int32Array(0),
    stats: { path: "empty", scans: 0, candidates: 0, scanMs: 0, hintShort: false },
  };
}

/**
 * The candidate pass of {@link batchTopkHost}: over the N = n·c flat positions f of `bits`
 * (int32 patterns of pre, n×c), with v = pre[f] + bias[f mod c] rounded to float32 when `bias`
 * (c floats) is given, else v = pre[f], the positions whose pattern b of v satisfies
 * guess ≤ b ≤ 0x7f800000 (1 ≤ guess), in increasing f, as patterns `cv[0..nc)` and positions
 * `ci[0..nc)`; null when more than `cap` qualify. The CPU backend supplies a wasm-threads
 * version; {@link scanCandidatesHost} is the plain one.
 */
export type CandidateScan = (
  bits: Int32Array,
  N: number,
  guess: number,
  cap: number,
  bias: Float32Array | null,
  c: number,
) => { cv: Int32Array; ci: Int32Array; nc: number } | null;

/** Largest bit pattern of a positive, non-NaN float32 (+Infinity). */
const INF_BITS = 0x7f800000;

/** Options of {@link batchTopkHost}. */
export interface BatchTopkHostOptions {
  /** f32 [c], added to every row of pre before the selection (pre is not modified). */
  bias?: Float32Array | null;
  /**
   * A first guess (int32 pattern of a positive float, e.g. from {@link guessBelow}) for the
   * candidate pass; when it yields fewer than K candidates or more than the capacity, the
   * sample-based guess runs instead. The result never depends on it.
   */
  guess?: number;
}

/**
 * The pattern of the float just below `margin`·t (margin < 1), or 1 (every positive entry)
 * when t ≤ 0 or not finite: a candidate-pass guess a little below an expected threshold t.
 */
export function guessBelow(t: number, margin = 0.97): number {
  if (!(t > 0) || !Number.isFinite(t)) return 1;
  const b = floatBits(Math.fround(t * margin));
  return Math.max(1, b - 1);
}

/**
 * The first guess for the next batch from the exact thresholds of the last two (`t`, then
 * `tPrev`, null when unknown) of the same `pre`: the threshold predicted by the last step's
 * ratio (clamped to [0.8, 1]: a rising threshold only adds candidates, so it is never
 * extrapolated), lowered by the fraction `gap` (see {@link nextHintGap}). Measured on the
 * study-scale bench (bench/kernels_bench.ts steps 1–12): the threshold falls 0.7–1.9 % per step
 * and the ratio changes by < 0.2 % between steps, so a 1 % gap never misses there and collects
 * ~1.1·K candidates, where a fixed 0.97·t collects 1.1–1.6·K (denser near the threshold as
 * training goes on) and the sample guess ~1.5–1.7·K. A miss costs one extra candidate pass and
 * a sample; the result never depends on the guess.
 */
export function guessFromHistory(t: number, tPrev: number | null, gap: number): number {
  const trend = tPrev !== null && tPrev > 0 && t > 0;
  const r = trend ? Math.min(1, Math.max(0.8, t / tPrev)) : 1;
  return guessBelow(t * r, 1 - gap);
}

/** Gap of {@link guessFromHistory}: at the first hint, the least, the most. */
export const HINT_GAP = { first: 0.03, min: 0.01, max: 0.5 } as const;

/**
 * The gap of the next hint after a call that used one with `gap`: smaller after a hit (×0.95,
 * down to 1 %), doubled (+1 %) after a guess above the threshold (too few candidates), halved
 * after one far below it (more candidates than the pass holds). At the study scale the
 * threshold moves < 2 % per step and the gap settles at 1 %. On the default study's small
 * batches (512 rows × 512 concepts) it moves ±15 % from step to step (5 %–95 % quantiles of
 * t/tPrev: 0.85–1.18 for batchtopk k = 8): a fixed 1–3 % gap missed on about a third of those
 * steps, ×0.8 after a hit on 18 %, ×0.95 on 6 %.
 */
export function nextHintGap(gap: number, stats: Readonly<BatchTopkStats>): number {
  if (stats.path === "hint") return Math.max(HINT_GAP.min, gap * 0.95);
  if (stats.hintShort) return Math.min(HINT_GAP.max, gap * 2 + 0.01);
  return Math.max(HINT_GAP.min, gap / 2);
}

/** The int32 bit pattern of a float32 value. */
function floatBits(v: number): number {
  F1[0] = v;
  return I1[0];
}
const F1 = new Float32Array(1);
const I1 = new Int32Array(F1.buffer);

/** Reusable candidate arrays of the plain candidate pass. */
function hostCandidates(s: BatchTopkScratch, cap: number): [Int32Array, Int32Array] {
  if (s.candBits.length < cap) {
    s.candBits = new Int32Array(cap);
    s.candIdx = new Int32Array(cap);
  }
  return [s.candBits, s.candIdx];
}

/** The plain-TypeScript {@link CandidateScan}, writing into `scratch`'s candidate arrays. */
function scanCandidatesHost(scratch: BatchTopkScratch): CandidateScan {
  return (bits, N, guess, cap, bias, c) => {
    const [cv, ci] = hostCandidates(scratch, cap);
    let nc = 0;
    if (!bias) {
      for (let f = 0; f < N; f++) {
        const b = bits[f];
        if (b >= guess && b <= INF_BITS) {
          if (nc === cap) return null;
          cv[nc] = b;
          ci[nc++] = f;
        }
      }
      return { cv, ci, nc };
    }
    const pre = new Float32Array(bits.buffer, bits.byteOffset, N);
    const n = N / c;
    for (let i = 0, base = 0; i < n; i++, base += c) {
      for (let j = 0; j < c; j++) {
        F1[0] = pre[base + j] + bias[j];
        const b = I1[0];
        if (b >= guess && b <= INF_BITS) {
          if (nc === cap) return null;
          cv[nc] = b;
          ci[nc++] = base + j;
        }
      }
    }
    return { cv, ci, nc };
  };
}

/**
 * Over the whole of `pre` (n×c), plus `opts.bias` (c) on every row when given, keep the K
 * (`total`, e.g. n·k) largest positive entries (ties: lower flat index first); fewer when fewer
 * are positive. Writes them (values pre + bias, in float32) to `z` in row-major order and
 * returns the smallest kept value (0 when none is kept). `pre` is not modified.
 *
 * Method: exact radix selection on the float bit patterns read as int32 (for positive floats,
 * int32 order = float order; negative floats are negative int32). A threshold guess below the
 * K-th value (the caller's `opts.guess`, else one from a spread sample), one pass collects the
 * candidates at or above it, and the exact K-th value is found among the candidates only; a
 * guess that yields fewer than K or too many candidates is replaced (hint → sample → a full
 * two-level 16-bit histogram selection over all entries). `scan`, when given, runs the
 * candidate pass (the output does not depend on who runs it, nor on the guess).
 */
export function batchTopkHost(
  pre: Float32Array,
  n: number,
  c: number,
  total: number,
  z: CsrCodes,
  scratch: BatchTopkScratch = newBatchTopkScratch(),
  scan?: CandidateScan,
  opts: BatchTopkHostOptions = {},
): number {
  const N = n * c;
  const K = Math.min(total, N);
  if (K > z.index.length) throw overflow("batchTopk", K, z.index.length);
  const bias = opts.bias ?? null;
  if (bias && bias.length !== c) {
    throw new RangeError(`batchTopk: bias has ${bias.length} entries, expected c=${c}`);
  }
  const bits = new Int32Array(pre.buffer, pre.byteOffset, N);
  const st = scratch.stats;
  st.path = "empty";
  st.scans = 0;
  st.candidates = 0;
  st.scanMs = 0;
  st.hintShort = false;
  if (K === 0) return emitNone(z, n);
  const capCand = Math.min(N, Math.max(4 * K + 1024, 1 << 16));
  const run = scan ?? scanCandidatesHost(scratch);
  // a candidate set is usable when it holds every one of the K largest: at least K candidates,
  // or every positive entry (guess 1)
  const attempt = (guess: number) => {
    const t0 = performance.now();
    const r = run(bits, N, guess, capCand, bias, c);
    st.scanMs += performance.now() - t0;
    st.scans++;
    const ok = r && (r.nc >= K || guess <= 1) ? r : null;
    return { ok, short: r !== null && !ok };
  };
  let r = null, guess = 1;
  if (opts.guess !== undefined && Number.isFinite(opts.guess)) {
    guess = Math.min(INF_BITS, Math.max(1, Math.floor(opts.guess)));
    const h = attempt(guess);
    r = h.ok;
    st.hintShort = h.short;
    st.path = "hint";
  }
  if (!r) {
    guess = sampleGuess(bits, N, K, c, bias);
    r = attempt(guess).ok;
    st.path = "sample";
  }
  if (!r) {
    st.path = "full";
    return batchTopkFull(bits, N, K, c, z, scratch.hist, bias);
  }
  st.candidates = r.nc;
  const K2 = Math.min(K, r.nc);
  if (K2 === 0) return emitNone(z, n);
  const t = kthLargest(r.cv, r.nc, K2, scratch.hist, guess);
  return emit(r.cv, r.ci, r.nc, t.bits, t.tiesToKeep, c, n, z);
}

/**
 * A threshold pattern from a sample, aiming at ~1.5·K candidates. The sample is S/RUN runs of
 * RUN adjacent entries (two cache lines each, not S misses), one in each of S/RUN equal slices
 * of the flat range, at an offset within its slice that moves by a golden-ratio step from slice
 * to slice: evenly spaced runs would start at the same columns of every row whenever the slice
 * length is a multiple of c (at n·c = 512·512 they covered 64 of the 512 columns, and a guess
 * from those few concepts missed on a third of the steps).
 */
function sampleGuess(
  bits: Int32Array,
  N: number,
  K: number,
  c: number,
  bias: Float32Array | null,
): number {
  const S = Math.min(N, 32768);
  const RUN = S === N ? 1 : 32;
  const stride = N / (S / RUN);
  const sample = new Int32Array(S);
  const pre = new Float32Array(bits.buffer, bits.byteOffset, N);
  let sPos = 0;
  for (let r = 0; r < S / RUN; r++) {
    const shift = RUN === 1 ? 0 : ((r * GOLDEN) % 1) * (stride - RUN);
    const f0 = Math.min(N - RUN, Math.floor(r * stride + shift));
    for (let u = 0; u < RUN; u++) {
      const f = f0 + u;
      const b = bias ? floatBits(pre[f] + bias[f % c]) : bits[f];
      if (b > 0 && b <= INF_BITS) sample[sPos++] = b;
    }
  }
  const sorted = sample.subarray(0, sPos).sort();
  const want = Math.min(N, Math.ceil(K * 1.5) + 64);
  const rank = Math.floor((want / N) * S); // sample entries expected above the guess
  return rank < sPos ? sorted[sPos - 1 - rank] : 1; // 1: all positives
}

/** The golden ratio's fractional part: the offset step of {@link sampleGuess}'s runs. */
const GOLDEN = (Math.sqrt(5) - 1) / 2;

function emitNone(z: CsrCodes, n: number): number {
  z.rowPtr.fill(0, 0, n + 1);
  return 0;
}

/**
 * K-th largest (1-based) of the patterns vals[0..len) (all in [guess, +Inf], guess ≥ 1), and
 * how many ties to keep.
 */
function kthLargest(
  vals: Int32Array,
  len: number,
  K: number,
  hist: Int32Array,
  guess: number,
): { bits: number; tiesToKeep: number } {
  // every candidate is ≥ guess ≥ 1 and ≤ +Inf: clear and scan only that window of the histogram
  const lo = guess >>> 16, hi = INF_BITS >>> 16;
  hist.fill(0, lo, hi + 1);
  for (let i = 0; i < len; i++) hist[vals[i] >>> 16]++;
  let above = 0;
  let hb = hi;
  for (; hb > lo; hb--) {
    if (above + hist[hb] >= K) break;
    above += hist[hb];
  }
  hist.fill(0);
  for (let i = 0; i < len; i++) {
    const v = vals[i];
    if (v >>> 16 === hb) hist[v & 0xffff]++;
  }
  let lb = 65535;
  for (; lb > 0; lb--) {
    if (above + hist[lb] >= K) break;
    above += hist[lb];
  }
  return { bits: (hb << 16) | lb, tiesToKeep: K - above };
}

function bitsToFloat(b: number): number {
  I1[0] = b;
  return F1[0];
}

/** Write the candidates above tBits (and the first `ties` equal to it) in flat order. */
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
  let rowStart = 0; // flat position of column 0 of `row`
  rowPtr[0] = 0;
  // branchless: every candidate is written at slot o, which advances only when it is kept
  // (a write at o = capacity is a typed-array no-op; slots past the kept ones are unspecified)
  for (let e = 0; e < nc; e++) {
    const b = cv[e];
    const f = ci[e];
    while (f - rowStart >= c) {
      rowPtr[++row] = o;
      rowStart += c;
    }
    index[o] = f - rowStart;
    vbits[o] = b;
    if (b === tBits) o += ties-- > 0 ? 1 : 0;
    else o += (tBits - b) >>> 31; // 1 when b > tBits (both in [1, +Inf], no overflow)
  }
  while (row < n) rowPtr[++row] = o;
  return bitsToFloat(tBits);
}

/** The selection over all entries (two 16-bit histogram passes), when no guess worked. */
function batchTopkFull(
  bits: Int32Array,
  N: number,
  K: number,
  c: number,
  z: CsrCodes,
  hist: Int32Array,
  bias: Float32Array | null,
): number {
  const n = N / c;
  // patterns of row i (pre + bias in float32 when a bias is given)
  const rowBuf = new Float32Array(bias ? c : 0);
  const rowBits = new Int32Array(rowBuf.buffer);
  const pre = new Float32Array(bits.buffer, bits.byteOffset, N);
  const patterns = (i: number): Int32Array => {
    if (!bias) return bits.subarray(i * c, i * c + c);
    const base = i * c;
    for (let j = 0; j < c; j++) rowBuf[j] = pre[base + j] + bias[j];
    return rowBits;
  };
  hist.fill(0);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const p = patterns(i);
    for (let j = 0; j < c; j++) {
      const b = p[j];
      if (b > 0 && b <= INF_BITS) {
        hist[b >>> 16]++;
        pos++;
      }
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
  for (let i = 0; i < n; i++) {
    const p = patterns(i);
    for (let j = 0; j < c; j++) {
      const b = p[j];
      if (b > 0 && b >>> 16 === hb) hist[b & 0xffff]++;
    }
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
    const p = patterns(i);
    for (let j = 0; j < c; j++) {
      const b = p[j];
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
 * Keep entries with pre[i,j] > theta[j] (theta length c, or length 1 for one shared threshold)
 * and, with `hi` (length c or 1), pre[i,j] ≤ hi[j]; value = pre[i,j]; ascending column within
 * a row. Throws when the capacity is exceeded.
 */
export function thresholdHost(
  pre: Float32Array,
  n: number,
  c: number,
  theta: Float32Array,
  z: CsrCodes,
  hi: Float32Array | null = null,
): void {
  const { rowPtr, index, value } = z;
  const cap = index.length;
  const shared = theta.length === 1;
  const t0 = theta[0], h0 = hi ? hi[0] : Infinity, hiShared = !hi || hi.length === 1;
  let o = 0;
  for (let i = 0; i < n; i++) {
    rowPtr[i] = o;
    const base = i * c;
    for (let j = 0; j < c; j++) {
      const v = pre[base + j];
      if (v > (shared ? t0 : theta[j]) && (!hi || v <= (hiShared ? h0 : hi[j]))) {
        if (o >= cap) throw overflow("threshold", o + 1, cap);
        index[o] = j;
        value[o++] = v;
      }
    }
  }
  rowPtr[n] = o;
}
