/**
 * Stability across runs (method.md §5): for dictionaries D (cA×d) and D′ (cB×d) with unit rows,
 * Stability(D, D′) = max over one-to-one matchings π of the mean cosine (1/min(cA, cB))·Σ_j cos(D_j, D′_π(j)),
 * solved exactly as a linear assignment on the cost 1 − D·D′ᵀ (analysis/assignment.ts).
 * Per-concept stability s_j = cos(D_j, D′_π(j)); reported against frequency and energy deciles
 * and for the top-N most frequent concepts against the rest.
 */
import { type AssignmentOptions, type AssignmentStats, linearAssignment } from "./assignment.ts";
import { binnedMeans, type QuantileBin } from "./deciles.ts";

/**
 * Similarity S = A·Bᵀ (ca×cb, row-major) of the rows of A (ca×d) and B (cb×d). Inject a
 * BLAS-backed one (kernels/host_gemm.ts) for real sizes.
 */
export type SimilarityFn = (
  a: Float32Array,
  ca: number,
  b: Float32Array,
  cb: number,
  d: number,
) => Float32Array | Promise<Float32Array>;

/** Reference {@link SimilarityFn}: float64-accumulated JS loops (small inputs only). */
export function similarityReference(
  a: Float32Array,
  ca: number,
  b: Float32Array,
  cb: number,
  d: number,
): Float32Array {
  const s = new Float32Array(ca * cb);
  for (let i = 0; i < ca; i++) {
    const o = i * d;
    for (let j = 0; j < cb; j++) {
      const p = j * d;
      let acc = 0;
      for (let t = 0; t < d; t++) acc += a[o + t] * b[p + t];
      s[i * cb + j] = acc;
    }
  }
  return s;
}

/** Largest |‖row‖ − 1| over the c rows of a row-major c×d matrix. */
export function unitRowDeviation(dict: Float32Array, c: number, d: number): number {
  let worst = 0;
  for (let j = 0; j < c; j++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += dict[j * d + t] * dict[j * d + t];
    worst = Math.max(worst, Math.abs(Math.sqrt(s) - 1));
  }
  return worst;
}

/** The optimal one-to-one matching of two dictionaries. */
export interface DictionaryMatch {
  cA: number;
  cB: number;
  /** Partner in B of each concept of A, −1 when unmatched (only when cA > cB); length cA. */
  matchOfA: Int32Array;
  /** Partner in A of each concept of B, −1 when unmatched (only when cB > cA); length cB. */
  matchOfB: Int32Array;
  /** s_j = cos(D_j, D′_π(j)) per concept of A; NaN when unmatched. */
  cosine: Float64Array;
  /** Mean cosine over the min(cA, cB) matched pairs: Stability(D, D′). */
  stability: number;
  /** How the assignment was solved (certificate, rounds, timings). */
  solver: AssignmentStats;
}

/**
 * Match concepts by the exact maximum-similarity assignment.
 * @param similarity row-major cA×cB cosines D·D′ᵀ (rows of D and D′ of unit norm)
 */
export function matchFromSimilarity(
  similarity: Float32Array,
  cA: number,
  cB: number,
  opts: Omit<AssignmentOptions, "maximize"> = {},
): DictionaryMatch {
  const r = linearAssignment(similarity, cA, cB, { ...opts, maximize: true });
  const cosine = new Float64Array(cA).fill(NaN);
  for (let i = 0; i < cA; i++) {
    const j = r.rowToCol[i];
    if (j >= 0) cosine[i] = similarity[i * cB + j];
  }
  const pairs = Math.min(cA, cB);
  return {
    cA,
    cB,
    matchOfA: r.rowToCol,
    matchOfB: r.colToRow,
    cosine,
    stability: pairs > 0 ? r.total / pairs : NaN,
    solver: r.stats,
  };
}

/**
 * Match two dictionaries (row-major cA×d and cB×d, unit rows): S = D·D′ᵀ through `similarity`
 * (default: {@link similarityReference}), then {@link matchFromSimilarity}.
 */
export async function matchDictionaries(
  a: Float32Array,
  cA: number,
  b: Float32Array,
  cB: number,
  d: number,
  opts: Omit<AssignmentOptions, "maximize"> & { similarity?: SimilarityFn } = {},
): Promise<DictionaryMatch> {
  if (a.length !== cA * d || b.length !== cB * d) {
    throw new RangeError(
      `matchDictionaries: expected ${cA}×${d} and ${cB}×${d}, got ${a.length} and ${b.length} values`,
    );
  }
  const { similarity = similarityReference, ...rest } = opts;
  const s = await similarity(a, cA, b, cB, d);
  return matchFromSimilarity(s, cA, cB, rest);
}

/** Options of {@link stabilityReport}. */
export interface StabilityReportOptions {
  /** Quantile bins for frequency and energy (default 10: deciles). */
  bins?: number;
  /** Size of the most-frequent group (default 100; capped at the included concepts). */
  topN?: number;
  /** Include dead concepts (frequency 0) in bins and groups (default false). */
  includeDead?: boolean;
}

/** Stability of the top-N most frequent concepts against the rest. */
export interface TopNStability {
  n: number;
  meanTop: number;
  meanRest: number;
  countTop: number;
  countRest: number;
}

/** Everything method.md §5 reports for one pair of runs (from run A's side). */
export interface StabilityReport {
  /** Mean cosine over all matched pairs: Stability(D, D′). */
  overall: number;
  /** Mean s_j over live (frequency > 0) matched concepts of A, and over dead ones. */
  meanLive: number;
  meanDead: number;
  live: number;
  dead: number;
  /** s_j per frequency decile and per energy decile of A's concepts. */
  byFrequency: QuantileBin[];
  byEnergy: QuantileBin[];
  topN: TopNStability;
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : NaN;
}

/**
 * Stability against frequency and energy of run A's concepts.
 * @param match the matching of A (cA concepts) to B
 * @param frequency P(z_j > 0) per concept of A (length cA)
 * @param energy E[z_j] per concept of A (length cA)
 */
export function stabilityReport(
  match: DictionaryMatch,
  frequency: ArrayLike<number>,
  energy: ArrayLike<number>,
  opts: StabilityReportOptions = {},
): StabilityReport {
  const c = match.cA;
  if (frequency.length !== c || energy.length !== c) {
    throw new RangeError(
      `stabilityReport: ${frequency.length} frequencies and ${energy.length} energies for ${c} concepts`,
    );
  }
  const bins = opts.bins ?? 10;
  const include = new Uint8Array(c);
  const liveS: number[] = [], deadS: number[] = [];
  let live = 0, dead = 0;
  for (let j = 0; j < c; j++) {
    const isLive = frequency[j] > 0;
    if (isLive) live++;
    else dead++;
    include[j] = isLive || opts.includeDead ? 1 : 0;
    const s = match.cosine[j];
    if (Number.isFinite(s)) (isLive ? liveS : deadS).push(s);
  }
  const order: number[] = [];
  for (let j = 0; j < c; j++) if (include[j]) order.push(j);
  order.sort((x, y) => frequency[y] - frequency[x] || x - y);
  const n = Math.min(opts.topN ?? 100, order.length);
  const top: number[] = [], rest: number[] = [];
  order.forEach((j, r) => {
    const s = match.cosine[j];
    if (Number.isFinite(s)) (r < n ? top : rest).push(s);
  });
  return {
    overall: match.stability,
    meanLive: mean(liveS),
    meanDead: mean(deadS),
    live,
    dead,
    byFrequency: binnedMeans(frequency, match.cosine, bins, include),
    byEnergy: binnedMeans(energy, match.cosine, bins, include),
    topN: { n, meanTop: mean(top), meanRest: mean(rest), countTop: n, countRest: order.length - n },
  };
}
