/**
 * Semi-NMF (Ding, Li & Jordan 2010) as a dictionary (method.md §2 baselines): X ≈ Z·D with
 * Z ≥ 0 (n×c) and D free (c×d). Alternating updates:
 *   D ← (ZᵀZ + εI)⁻¹ ZᵀX                                  (least squares, float64 Cholesky)
 *   Z ← Z ⊙ sqrt((P⁺ + Z·N⁻) / (P⁻ + Z·N⁺)),  P = X·Dᵀ, N = D·Dᵀ,  M⁺ = max(M,0), M⁻ = max(−M,0)
 * After the fit, D's rows are normalised to unit length and the scale moved into Z. Encoding
 * new rows keeps D fixed and runs the same multiplicative Z updates from the clipped
 * least-squares solution. Products with n run on the backend; c×c solves in float64 on the host.
 */
import type { Backend } from "../../kernels/backend.ts";
import type { EpochLog, FittedDictionary, HostSparseCodes } from "../learner.ts";
import { decoderOnlyDictionary } from "./decoder_dictionary.ts";
import { Rng } from "../../data/random.ts";
import { normalizeRows } from "../../data/rows.ts";
import { UserError } from "../../pipeline/errors.ts";
import { checkShape, denseToSparseNonzero, matmul } from "./ops.ts";

/** Options of {@link fitSemiNmf}. */
export interface SemiNmfOptions {
  /** Number of concepts. */
  c: number;
  seed: number;
  /** Alternating iterations of the fit (default 100). */
  iterations?: number;
  /** Multiplicative Z iterations when encoding new rows (default 100). */
  encodeIterations?: number;
  /** Ridge ε of the D solve, relative to the mean diagonal of ZᵀZ (default 1e-6). */
  ridge?: number;
}

const EPS = 1e-12;

/** Solve (A + λI) X = B for symmetric positive definite A (c×c) and B (c×d), float64 Cholesky. */
export function solveSpd(
  a: Float32Array | Float64Array,
  b: Float32Array,
  c: number,
  d: number,
  lambda: number,
): Float32Array {
  const L = new Float64Array(c * c);
  for (let i = 0; i < c; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0.5 * (a[i * c + j] + a[j * c + i]) + (i === j ? lambda : 0);
      for (let q = 0; q < j; q++) s -= L[i * c + q] * L[j * c + q];
      if (i === j) {
        if (!(s > 0)) throw new Error("solveSpd: matrix is not positive definite");
        L[i * c + i] = Math.sqrt(s);
      } else L[i * c + j] = s / L[j * c + j];
    }
  }
  const out = new Float32Array(c * d);
  const y = new Float64Array(c);
  for (let t = 0; t < d; t++) {
    for (let i = 0; i < c; i++) {
      let s = b[i * d + t];
      for (let q = 0; q < i; q++) s -= L[i * c + q] * y[q];
      y[i] = s / L[i * c + i];
    }
    for (let i = c - 1; i >= 0; i--) {
      let s = y[i];
      for (let q = i + 1; q < c; q++) s -= L[q * c + i] * y[q];
      y[i] = s / L[i * c + i];
    }
    for (let i = 0; i < c; i++) out[i * d + t] = y[i];
  }
  return out;
}

/**
 * Multiplicative Semi-NMF Z updates with D fixed: `iterations` steps on Z (n×c, ≥ 0, updated in
 * place) given P = X·Dᵀ (n×c) and N = D·Dᵀ (c×c). Returns Z.
 */
export async function updateCodes(
  backend: Backend,
  z: Float32Array,
  p: Float32Array,
  nMat: Float32Array,
  n: number,
  c: number,
  iterations: number,
): Promise<Float32Array> {
  const nPos = nMat.map((v) => Math.max(v, 0));
  const nNeg = nMat.map((v) => Math.max(-v, 0));
  for (let it = 0; it < iterations; it++) {
    const zp = await matmul(backend, z, nPos, n, c, c);
    const zn = await matmul(backend, z, nNeg, n, c, c);
    for (let e = 0; e < n * c; e++) {
      const pv = p[e];
      const num = (pv > 0 ? pv : 0) + zn[e];
      const den = (pv < 0 ? -pv : 0) + zp[e];
      z[e] = z[e] * Math.sqrt(num / (den + EPS));
    }
  }
  return z;
}

/**
 * Fit Semi-NMF with c concepts on X (n×d). Initial Z: seeded random rows of X as centres, each
 * row's indicator of its nearest centre plus 0.2 (Ding et al.). One log entry per 10 iterations.
 */
export async function fitSemiNmf(
  x: Float32Array,
  n: number,
  d: number,
  opts: SemiNmfOptions,
  backend: Backend,
): Promise<FittedDictionary> {
  checkShape("fitSemiNmf", x, n, d);
  const c = opts.c;
  if (!(Number.isInteger(c) && c >= 1)) {
    throw new UserError(`train.c: Semi-NMF needs c ≥ 1, got ${c}`);
  }
  if (n < c) {
    throw new UserError(`train.c: Semi-NMF needs at least c = ${c} training rows, got ${n}`);
  }
  const iterations = opts.iterations ?? 100;
  const ridge = opts.ridge ?? 1e-6;
  const rng = new Rng(opts.seed);
  const perm = rng.permutation(n);
  const centres = new Float32Array(c * d);
  for (let j = 0; j < c; j++) centres.set(x.subarray(perm[j] * d, (perm[j] + 1) * d), j * d);
  normalizeRows(centres, c, d);
  let z: Float32Array = new Float32Array(n * c);
  {
    const s = await matmul(backend, x, centres, n, d, c, { transB: true });
    for (let i = 0; i < n; i++) {
      let bj = 0;
      for (let j = 1; j < c; j++) if (s[i * c + j] > s[i * c + bj]) bj = j;
      for (let j = 0; j < c; j++) z[i * c + j] = (j === bj ? 1 : 0) + 0.2;
    }
  }
  let sumSq = 0;
  const mean = new Float64Array(d);
  for (let e = 0; e < n * d; e++) {
    sumSq += x[e] * x[e];
    mean[e % d] += x[e] / n;
  }
  let sst = 0;
  for (let e = 0; e < n * d; e++) sst += (x[e] - mean[e % d]) ** 2;
  const solveD = async (zz: Float32Array) => {
    const ztz = await matmul(backend, zz, zz, c, n, c, { transA: true });
    const ztx = await matmul(backend, zz, x, c, n, d, { transA: true });
    let tr = 0;
    for (let j = 0; j < c; j++) tr += ztz[j * c + j];
    return solveSpd(ztz, ztx, c, d, ridge * Math.max(tr / c, EPS));
  };
  const log: EpochLog[] = [];
  let dict: Float32Array = new Float32Array(c * d);
  for (let it = 1; it <= iterations; it++) {
    dict = await solveD(z);
    const p = await matmul(backend, x, dict, n, d, c, { transB: true });
    const nm = await matmul(backend, dict, dict, c, d, c, { transB: true });
    z = await updateCodes(backend, z, p, nm, n, c, 1);
    if (it % 10 === 0 || it === iterations) {
      // ‖X − ZD‖² = ‖X‖² − 2⟨Z, P⟩ + ⟨Z, Z·N⟩
      const zn = await matmul(backend, z, nm, n, c, c);
      let cross = 0;
      let quad = 0;
      for (let e = 0; e < n * c; e++) {
        cross += z[e] * p[e];
        quad += z[e] * zn[e];
      }
      const sse = Math.max(0, sumSq - 2 * cross + quad);
      let nnz = 0;
      const alive = new Uint8Array(c);
      for (let e = 0; e < n * c; e++) {
        if (z[e] > 0) {
          nnz++;
          alive[e % c] = 1;
        }
      }
      log.push({
        epoch: it,
        loss: sse / n,
        r2: 1 - sse / sst,
        l0: nnz / n,
        deadFraction: 1 - alive.reduce((a, b) => a + b, 0) / c,
      });
    }
  }
  dict = await solveD(z);
  normalizeRows(dict, c, d);
  return semiNmfDictionary(dict, c, d, opts.encodeIterations ?? 100, log);
}

/**
 * A Semi-NMF dictionary from D (c×d, unit rows): used by the fit and to reload weights.
 * Codes of X: Z₀ = max(X·Dᵀ·(D·Dᵀ + εI)⁻¹, 0) + 1e-3, then `encodeIterations` multiplicative
 * updates; entries below 1e-7 are dropped (ℓ0 counts the rest).
 */
export function semiNmfDictionary(
  dict: Float32Array,
  c: number,
  d: number,
  encodeIterations: number,
  log: EpochLog[] = [],
): FittedDictionary {
  return decoderOnlyDictionary({
    method: "seminmf",
    dict,
    c,
    d,
    log,
    async encode(x: Float32Array, n: number, backend: Backend): Promise<HostSparseCodes> {
      checkShape("seminmf.encode", x, n, d);
      const p = await matmul(backend, x, dict, n, d, c, { transB: true });
      const nm = await matmul(backend, dict, dict, c, d, c, { transB: true });
      // least-squares start: Z = P·(N + εI)⁻¹ (N symmetric), clipped
      const pt = new Float32Array(c * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < c; j++) pt[j * n + i] = p[i * c + j];
      const zt = solveSpd(nm, pt, c, n, 1e-6);
      const z = new Float32Array(n * c);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < c; j++) z[i * c + j] = Math.max(zt[j * n + i], 0) + 1e-3;
      }
      await updateCodes(backend, z, p, nm, n, c, encodeIterations);
      for (let e = 0; e < n * c; e++) if (z[e] < 1e-7) z[e] = 0;
      return denseToSparseNonzero(z, n, c);
    },
    config: {
      encode_iterations: encodeIterations,
      encoder:
        "P = x @ W_dec.T; N = W_dec @ W_dec.T; z = max(P @ inv(N + 1e-6 I), 0) + 1e-3; repeat encode_iterations: z *= sqrt((P+ + z N-) / (P- + z N+ + 1e-12)); z[z < 1e-7] = 0",
    },
  });
}
