/**
 * Iterative nullspace projection (INLP, method.md §6): repeatedly fit a modality probe, add its
 * direction to the subspace, project it out of the data, until the probe is near chance.
 * Also the small orthogonal-projection helpers the modality subspace uses.
 */
import { Rng } from "../data/random.ts";
import { UserError } from "../pipeline/errors.ts";
import {
  balancedAccuracy,
  fitLogisticProbe,
  type LogisticProbeOptions,
  probeScores,
} from "./logistic_probe.ts";

/**
 * Gram–Schmidt (twice, float64) of `k` candidate rows (k×d). Rows whose residual norm falls
 * below `eps` are dropped. Returns the orthonormal basis (r×d, float32) and its rank r.
 */
export function orthonormalizeRows(
  rows: ArrayLike<number>,
  k: number,
  d: number,
  eps = 1e-8,
): { basis: Float32Array; rank: number } {
  const kept: Float64Array[] = [];
  for (let r = 0; r < k; r++) {
    const v = new Float64Array(d);
    let n0 = 0;
    for (let t = 0; t < d; t++) {
      v[t] = rows[r * d + t];
      n0 += v[t] * v[t];
    }
    for (let pass = 0; pass < 2; pass++) {
      for (const u of kept) {
        let p = 0;
        for (let t = 0; t < d; t++) p += u[t] * v[t];
        for (let t = 0; t < d; t++) v[t] -= p * u[t];
      }
    }
    let nv = 0;
    for (let t = 0; t < d; t++) nv += v[t] * v[t];
    if (!(nv > eps * eps * Math.max(n0, 1e-300)) || nv === 0) continue;
    const inv = 1 / Math.sqrt(nv);
    for (let t = 0; t < d; t++) v[t] *= inv;
    kept.push(v);
  }
  const basis = new Float32Array(kept.length * d);
  kept.forEach((u, r) => basis.set(u, r * d));
  return { basis, rank: kept.length };
}

/**
 * Remove from every row of `x` (n×d) its component in the span of the orthonormal rows `basis`
 * (k×d): x ← x − (x·Mᵀ)·M. Returns a new array.
 */
export function projectOut(
  x: Float32Array,
  n: number,
  d: number,
  basis: Float32Array,
  k: number,
): Float32Array {
  const out = new Float32Array(x);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let r = 0; r < k; r++) {
      let p = 0;
      for (let t = 0; t < d; t++) p += out[o + t] * basis[r * d + t];
      for (let t = 0; t < d; t++) out[o + t] -= p * basis[r * d + t];
    }
  }
  return out;
}

/** Options of {@link iterativeNullspace}. */
export interface NullspaceOptions {
  /** Stop once held-out balanced accuracy ≤ 0.5 + tolerance. Default 0.05. */
  tolerance?: number;
  /** Maximum number of directions. Default 20. */
  maxDirections?: number;
  /** Held-out fraction for the accuracy check. Default 0.3. */
  heldOut?: number;
  /** Seed of the train/held-out split. Default 0. */
  seed?: number;
  /** Options of each probe fit. */
  probe?: LogisticProbeOptions;
  /** Called after each probe fit with the directions so far and its held-out accuracy. */
  onFit?: (directions: number, accuracy: number) => void;
}

/** Result of {@link iterativeNullspace}. */
export interface NullspaceResult {
  /** Orthonormal basis of the modality subspace, k×d (k ≥ 1). */
  basis: Float32Array;
  k: number;
  /**
   * Held-out balanced accuracy of the probe fitted at each iteration, before its direction
   * is removed; the last entry is the accuracy after the final projection (near chance when
   * converged).
   */
  accuracies: number[];
  /** True when the final accuracy is within the tolerance of chance. */
  converged: boolean;
}

/**
 * INLP on rows `x` (n×d) with labels `y` (1 = image). A seeded, stratified split holds out
 * `heldOut` of each class to measure accuracy. Always returns at least one direction.
 */
export function iterativeNullspace(
  x: Float32Array,
  n: number,
  d: number,
  y: ArrayLike<number | boolean>,
  opts: NullspaceOptions = {},
): NullspaceResult {
  const tol = opts.tolerance ?? 0.05;
  const maxDirections = Math.min(opts.maxDirections ?? 20, d);
  const heldOut = opts.heldOut ?? 0.3;
  if (!(heldOut > 0 && heldOut < 1)) {
    throw new UserError(`nullspace: heldOut = ${heldOut}; use a fraction in (0, 1)`);
  }
  if (maxDirections < 1) throw new UserError("nullspace: maxDirections must be ≥ 1");
  const rng = new Rng(opts.seed ?? 0);
  const trainIdx: number[] = [];
  const testIdx: number[] = [];
  for (const cls of [1, 0]) {
    const members: number[] = [];
    for (let i = 0; i < n; i++) if ((y[i] ? 1 : 0) === cls) members.push(i);
    rng.shuffle(members);
    const nTest = Math.max(1, Math.round(members.length * heldOut));
    members.forEach((m, r) => (r < nTest ? testIdx : trainIdx).push(m));
  }
  trainIdx.sort((a, b) => a - b);
  testIdx.sort((a, b) => a - b);
  const gather = (idx: number[]) => {
    const out = new Float32Array(idx.length * d);
    idx.forEach((i, r) => out.set(x.subarray(i * d, (i + 1) * d), r * d));
    return out;
  };
  let xTrain: Float32Array = gather(trainIdx);
  let xTest: Float32Array = gather(testIdx);
  const yTrain = trainIdx.map((i) => (y[i] ? 1 : 0));
  const yTest = testIdx.map((i) => (y[i] ? 1 : 0));
  const directions: number[] = [];
  let basis: Float32Array = new Float32Array(0);
  let k = 0;
  const accuracies: number[] = [];
  let converged = false;
  while (true) {
    const probe = fitLogisticProbe(xTrain, trainIdx.length, d, yTrain, opts.probe);
    const acc = balancedAccuracy(
      probeScores(xTest, testIdx.length, d, probe.w, probe.b),
      yTest,
    );
    accuracies.push(acc);
    opts.onFit?.(k, acc);
    if (acc <= 0.5 + tol && k > 0) {
      converged = true;
      break;
    }
    if (k >= maxDirections) break;
    for (let t = 0; t < d; t++) directions.push(probe.w[t]);
    const ortho = orthonormalizeRows(directions, directions.length / d, d);
    if (ortho.rank === k) break; // no new direction: the probe is degenerate
    const fresh = ortho.basis.subarray(k * d, ortho.rank * d);
    xTrain = projectOut(xTrain, trainIdx.length, d, fresh, ortho.rank - k);
    xTest = projectOut(xTest, testIdx.length, d, fresh, ortho.rank - k);
    basis = ortho.basis;
    k = ortho.rank;
    directions.length = 0;
    for (let t = 0; t < basis.length; t++) directions.push(basis[t]);
  }
  if (k === 0) throw new UserError("nullspace: the probe found no direction; check the labels");
  return { basis, k, accuracies, converged };
}
