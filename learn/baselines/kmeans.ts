/**
 * K-means as a dictionary (method.md §2 baselines): 1-sparse codes. We use spherical k-means,
 * the k-means that matches a unit-norm dictionary and L2-normalised embeddings: a row is
 * assigned to the centroid of highest cosine, centroids are the normalised means of their rows.
 * Encoding is the best 1-sparse non-negative code for the unit dictionary:
 * j = argmax_j ⟨x, D_j⟩, z_j = max(0, ⟨x, D_j⟩), so Â = z_j·D_j (the projection on D_j).
 * Initialisation: k-means++ (D² sampling on the unit sphere, seeded).
 */
import type { Backend } from "../../kernels/backend.ts";
import type { EpochLog, FittedDictionary, HostSparseCodes } from "../learner.ts";
import { decoderOnlyDictionary } from "./decoder_dictionary.ts";
import { Rng } from "../../data/random.ts";
import { normalizeRows } from "../../data/rows.ts";
import { UserError } from "../../pipeline/errors.ts";
import { blockRows, checkShape, scoresBlock } from "./ops.ts";

/** Options of {@link fitKmeans}. */
export interface KmeansOptions {
  /** Number of clusters (concepts). */
  c: number;
  seed: number;
  /** Lloyd iterations at most (default 25). */
  iterations?: number;
  /** Stop when at most this fraction of rows changes cluster in an iteration (default 1e-4). */
  tolerance?: number;
}

/** For each row of X (n×d): best concept and its score ⟨x, D_j⟩ against D (c×d). */
export async function assignRows(
  backend: Backend,
  x: Float32Array,
  n: number,
  d: number,
  dict: Float32Array,
  c: number,
): Promise<{ best: Int32Array; score: Float32Array }> {
  const best = new Int32Array(n);
  const score = new Float32Array(n);
  const step = blockRows(c);
  for (let s = 0; s < n; s += step) {
    const m = Math.min(step, n - s);
    const sc = await scoresBlock(backend, x, d, s, m, dict, c);
    for (let i = 0; i < m; i++) {
      let bj = 0;
      let bv = sc[i * c];
      for (let j = 1; j < c; j++) {
        const v = sc[i * c + j];
        if (v > bv) {
          bv = v;
          bj = j;
        }
      }
      best[s + i] = bj;
      score[s + i] = bv;
    }
  }
  return { best, score };
}

/** k-means++ seeding on the unit sphere: c unit rows chosen by D² sampling (seeded). */
async function kmeansPlusPlus(
  backend: Backend,
  xu: Float32Array,
  n: number,
  d: number,
  c: number,
  rng: Rng,
): Promise<Float32Array> {
  const dict = new Float32Array(c * d);
  const dist = new Float64Array(n).fill(Infinity);
  const xt = backend.upload(xu, [n, d]);
  const ct = backend.zeros([1, d]);
  const out = backend.zeros([n, 1]);
  try {
    let pick = rng.int(n);
    for (let j = 0; j < c; j++) {
      const row = xu.subarray(pick * d, (pick + 1) * d);
      dict.set(row, j * d);
      backend.write(ct, row);
      backend.gemm(xt, ct, out, { transB: true });
      const cos = (await backend.read(out)) as Float32Array;
      let total = 0;
      for (let i = 0; i < n; i++) {
        const dd = Math.max(0, 2 - 2 * cos[i]);
        if (dd < dist[i]) dist[i] = dd;
        total += dist[i];
      }
      if (j + 1 === c) break;
      if (!(total > 0)) {
        pick = rng.int(n); // every row coincides with a centre: any row will do
        continue;
      }
      let u = rng.uniform() * total;
      pick = n - 1;
      for (let i = 0; i < n; i++) {
        u -= dist[i];
        if (u < 0) {
          pick = i;
          break;
        }
      }
    }
  } finally {
    backend.dispose(xt);
    backend.dispose(ct);
    backend.dispose(out);
  }
  return dict;
}

/**
 * Fit spherical k-means with c clusters on X (n×d). Needs n ≥ c. Deterministic for a seed on a
 * given backend. The log has one entry per Lloyd iteration (loss = mean squared residual of the
 * 1-sparse reconstruction, r2 against the per-dimension mean).
 */
export async function fitKmeans(
  x: Float32Array,
  n: number,
  d: number,
  opts: KmeansOptions,
  backend: Backend,
): Promise<FittedDictionary> {
  checkShape("fitKmeans", x, n, d);
  const c = opts.c;
  if (!(Number.isInteger(c) && c >= 1)) {
    throw new UserError(`train.c: k-means needs c ≥ 1, got ${c}`);
  }
  if (n < c) {
    throw new UserError(
      `train.c: k-means needs at least c = ${c} training rows, got ${n}; lower the expansion factor or c`,
    );
  }
  const iterations = opts.iterations ?? 25;
  const tolerance = opts.tolerance ?? 1e-4;
  const rng = new Rng(opts.seed);
  const xu = x.slice();
  normalizeRows(xu, n, d);
  const dict = await kmeansPlusPlus(backend, xu, n, d, c, rng);
  let sst = 0;
  let sumSq = 0;
  {
    const mean = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t] += x[i * d + t] / n;
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < d; t++) {
        const v = x[i * d + t];
        sst += (v - mean[t]) ** 2;
        sumSq += v * v;
      }
    }
  }
  const log: EpochLog[] = [];
  let prev: Int32Array = new Int32Array(n).fill(-1);
  for (let it = 1; it <= iterations; it++) {
    const { best, score } = await assignRows(backend, x, n, d, dict, c);
    let changed = 0;
    let captured = 0;
    for (let i = 0; i < n; i++) {
      if (best[i] !== prev[i]) changed++;
      const s = Math.max(0, score[i]);
      captured += s * s;
    }
    // residual of the projection on a unit direction: ‖x‖² − max(0,⟨x,D⟩)²
    const sse = sumSq - captured;
    // centroid update: normalised mean of the unit rows of each cluster
    const sums = new Float64Array(c * d);
    const counts = new Int32Array(c);
    for (let i = 0; i < n; i++) {
      const j = best[i];
      counts[j]++;
      for (let t = 0; t < d; t++) sums[j * d + t] += xu[i * d + t];
    }
    // empty clusters: re-seed with the worst-fitting rows (lowest score), deterministic
    const empty: number[] = [];
    for (let j = 0; j < c; j++) if (counts[j] === 0) empty.push(j);
    if (empty.length > 0) {
      const order = Array.from({ length: n }, (_, i) => i).sort((a, b) =>
        score[a] - score[b] || a - b
      );
      empty.forEach((j, r) => {
        const i = order[r];
        for (let t = 0; t < d; t++) sums[j * d + t] = xu[i * d + t];
      });
    }
    for (let j = 0; j < c * d; j++) dict[j] = sums[j];
    normalizeRows(dict, c, d);
    let alive = 0;
    for (let j = 0; j < c; j++) if (counts[j] > 0) alive++;
    log.push({
      epoch: it,
      loss: sse / n,
      r2: 1 - sse / sst,
      l0: 1,
      deadFraction: 1 - alive / c,
      extra: { changed_fraction: changed / n, reseeded: empty.length },
    });
    prev = best;
    if (changed / n <= tolerance && empty.length === 0) break;
  }
  return kmeansDictionary(dict, c, d, log);
}

/** A k-means dictionary from its unit centroids D (c×d): used by the fit and to reload weights. */
export function kmeansDictionary(
  dict: Float32Array,
  c: number,
  d: number,
  log: EpochLog[] = [],
): FittedDictionary {
  return decoderOnlyDictionary({
    method: "kmeans",
    dict,
    c,
    d,
    log,
    async encode(x: Float32Array, n: number, backend: Backend): Promise<HostSparseCodes> {
      checkShape("kmeans.encode", x, n, d);
      const { best, score } = await assignRows(backend, x, n, d, dict, c);
      const rowPtr = new Int32Array(n + 1);
      for (let i = 0; i <= n; i++) rowPtr[i] = i;
      const value = new Float32Array(n);
      for (let i = 0; i < n; i++) value[i] = Math.max(0, score[i]);
      return { rows: n, cols: c, rowPtr, index: best, value };
    },
    config: {
      k: 1,
      encoder: "s = x @ W_dec.T; j = argmax(s); z_j = max(s_j, 0), all other codes 0",
    },
  });
}
