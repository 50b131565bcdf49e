/**
 * The modality subspace M (k×d, orthonormal rows) of method.md §6, its three constructions
 * (mean difference, linear probe by logistic regression or LDA, iterative nullspace projection),
 * each concept's projection p_j = ‖M·D_jᵀ‖² against the random baseline k/d, and each concept
 * direction as a modality classifier (AUROC of ⟨a, D_j⟩ for image vs text).
 */
import { UserError } from "../pipeline/errors.ts";
import { AurocColumns } from "./auroc.ts";
import { type ScoreBlockFn, scoreBlockReference } from "./null_dictionary.ts";
import { fitLda, type GramFn } from "./lda.ts";
import {
  fitLogisticProbe,
  type LogisticProbe,
  type LogisticProbeOptions,
} from "./logistic_probe.ts";
import { iterativeNullspace, type NullspaceOptions, orthonormalizeRows } from "./nullspace.ts";

/** Construction of the modality subspace. */
export type SubspaceMethod = "mean" | "logistic" | "lda" | "nullspace";

/** Every construction, in report order. */
export const SUBSPACE_METHODS: readonly SubspaceMethod[] = ["mean", "logistic", "lda", "nullspace"];

/** A modality subspace: orthonormal rows `basis` (k×d). */
export interface ModalitySubspace {
  method: SubspaceMethod;
  k: number;
  d: number;
  basis: Float32Array;
  /** INLP only: held-out balanced accuracy per iteration (last: after the final projection). */
  accuracies?: number[];
}

/**
 * Unit direction of μ_img − μ_txt over rows `x` (n×d), labels `y` (1 = image); float64.
 * Throws when a modality is missing or the means coincide.
 */
export function meanDifferenceDirection(
  x: Float32Array,
  n: number,
  d: number,
  y: ArrayLike<number | boolean>,
): Float64Array {
  const s1 = new Float64Array(d);
  const s0 = new Float64Array(d);
  let n1 = 0;
  for (let i = 0; i < n; i++) {
    const s = y[i] ? s1 : s0;
    if (y[i]) n1++;
    for (let t = 0; t < d; t++) s[t] += x[i * d + t];
  }
  const n0 = n - n1;
  if (n1 === 0 || n0 === 0) {
    throw new UserError("modality subspace: the rows hold one modality only; need image and text");
  }
  const w = new Float64Array(d);
  let norm = 0;
  for (let t = 0; t < d; t++) {
    w[t] = s1[t] / n1 - s0[t] / n0;
    norm += w[t] * w[t];
  }
  norm = Math.sqrt(norm);
  if (!(norm > 0)) throw new UserError("modality subspace: image and text means coincide");
  for (let t = 0; t < d; t++) w[t] /= norm;
  return w;
}

/** Options of {@link modalitySubspace}. */
export interface SubspaceOptions {
  probe?: LogisticProbeOptions;
  nullspace?: NullspaceOptions;
  /** LDA shrinkage (fraction of the mean eigenvalue). */
  ldaShrinkage?: number;
  /** XᵀX provider for LDA (BLAS-backed for large n). */
  gram?: GramFn;
  /** `logistic` only: receives the fitted probe (callers that also need the probe reuse it). */
  onLogisticFit?: (probe: LogisticProbe) => void;
}

/** Build the modality subspace of rows `x` (n×d), labels `y` (1 = image) with `method`. */
export function modalitySubspace(
  method: SubspaceMethod,
  x: Float32Array,
  n: number,
  d: number,
  y: ArrayLike<number | boolean>,
  opts: SubspaceOptions = {},
): ModalitySubspace {
  if (x.length !== n * d) {
    throw new UserError(`modality subspace: x has ${x.length} values, expected ${n * d}`);
  }
  let w: ArrayLike<number>;
  switch (method) {
    case "mean":
      w = meanDifferenceDirection(x, n, d, y);
      break;
    case "logistic": {
      const probe = fitLogisticProbe(x, n, d, y, opts.probe);
      opts.onLogisticFit?.(probe);
      w = probe.w;
      break;
    }
    case "lda":
      w = fitLda(x, n, d, y, { shrinkage: opts.ldaShrinkage, gram: opts.gram }).w;
      break;
    case "nullspace": {
      const r = iterativeNullspace(x, n, d, y, { probe: opts.probe, ...opts.nullspace });
      return { method, k: r.k, d, basis: r.basis, accuracies: r.accuracies };
    }
    default:
      throw new UserError(
        `analysis.modality.methods: unknown method '${method}'; use mean | logistic | lda | nullspace`,
      );
  }
  const { basis, rank } = orthonormalizeRows(w, 1, d);
  if (rank !== 1) throw new UserError(`modality subspace (${method}): the direction is zero`);
  return { method, k: 1, d, basis };
}

/**
 * Projection of each concept on the subspace: p_j = ‖M·D_jᵀ‖² / ‖D_j‖² (D rows are unit, so
 * this is ‖M·D_jᵀ‖²). `basis` k×d orthonormal, `dict` c×d. Returns Float64Array c, in [0, 1].
 * A random unit direction has E[p] = k/d (see {@link randomProjectionBaseline}).
 */
export function conceptProjections(
  basis: Float32Array,
  k: number,
  d: number,
  dict: Float32Array,
  c: number,
): Float64Array {
  if (basis.length !== k * d) throw new UserError(`projections: basis is not k×d = ${k}×${d}`);
  if (dict.length !== c * d) throw new UserError(`projections: dictionary is not c×d = ${c}×${d}`);
  const p = new Float64Array(c);
  for (let j = 0; j < c; j++) {
    let s = 0;
    let nn = 0;
    for (let t = 0; t < d; t++) nn += dict[j * d + t] * dict[j * d + t];
    for (let r = 0; r < k; r++) {
      let q = 0;
      for (let t = 0; t < d; t++) q += basis[r * d + t] * dict[j * d + t];
      s += q * q;
    }
    p[j] = nn > 0 ? s / nn : NaN;
  }
  return p;
}

/** Expected projection of a uniformly random unit direction on a k-dimensional subspace: k/d. */
export function randomProjectionBaseline(k: number, d: number): number {
  return k / d;
}

/**
 * AUROC of each direction as an image-vs-text classifier: score of row a = ⟨a, D_j⟩ over rows
 * `x` (n×d), labels `y` (1 = image); `dirs` c×d. 1 = images score higher, 0 = texts do,
 * 0.5 = no separation. Returns Float64Array c. O(c·n·d) for the scores (through `scores`, by
 * blocks of `block` directions) plus O(c·n) for the exact ranks ({@link AurocColumns}, a radix
 * sort per column); `onProgress` gets the directions done after each block.
 */
export function directionAurocs(
  x: Float32Array,
  n: number,
  d: number,
  y: ArrayLike<number | boolean>,
  dirs: Float32Array,
  c: number,
  opts: { scores?: ScoreBlockFn; block?: number; onProgress?: (done: number) => void } = {},
): Float64Array {
  if (dirs.length !== c * d) throw new UserError(`direction AUROC: directions are not ${c}×${d}`);
  const scoreFn = opts.scores ?? scoreBlockReference;
  const block = opts.block ?? 256;
  const out = new Float64Array(c);
  const columns = new AurocColumns(y);
  let cols = new Float32Array(0);
  for (let start = 0; start < c; start += block) {
    const cb = Math.min(block, c - start);
    const s = scoreFn(x, n, d, dirs.subarray(start * d, (start + cb) * d), cb);
    // Each direction's n scores contiguous (a tiled transpose) before its column pass.
    if (cols.length < cb * n) cols = new Float32Array(cb * n);
    for (let i0 = 0; i0 < n; i0 += 64) {
      const i1 = Math.min(n, i0 + 64);
      for (let q = 0; q < cb; q++) {
        const o = q * n;
        for (let i = i0; i < i1; i++) cols[o + i] = s[i * cb + q];
      }
    }
    for (let q = 0; q < cb; q++) out[start + q] = columns.column(cols, q * n);
    opts.onProgress?.(start + cb);
  }
  return out;
}

/**
 * Separation strength of an AUROC regardless of sign: |AUROC − 0.5| · 2 ∈ [0, 1]
 * (0 = chance, 1 = perfect either way).
 */
export function aurocSeparation(a: number): number {
  return Math.abs(a - 0.5) * 2;
}
