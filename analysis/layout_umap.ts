/**
 * A neighbour-embedding layout of concept directions: UMAP (McInnes, Healy & Melville 2018)
 * through the `umap-js` package, seeded (every random draw comes from data/random.ts), so the same
 * input and seed give the same layout. Input is usually the leading principal coordinates
 * (analysis/layout_pca.ts), which keeps the neighbour search cheap at c = 16k.
 */
import { UMAP } from "umap-js";
import { Rng } from "../data/random.ts";

/** Options of {@link umapLayout}. */
export interface UmapLayoutOptions {
  seed: number;
  /** Neighbours per point (capped at n − 1). Default 15. */
  neighbours?: number;
  /** Minimum distance between embedded points. Default 0.1. */
  minDist?: number;
  /** Optimisation epochs (default: umap-js's choice by n). */
  epochs?: number;
  /** Called after each epoch with (epoch, total). */
  onEpoch?: (epoch: number, total: number) => void;
  /**
   * Precomputed neighbours (analysis/layout_knn.ts; each row's list starts with the row itself
   * and has at least `neighbours` entries): skips umap-js's approximate search.
   */
  knn?: { indices: number[][]; distances: number[][] };
}

/**
 * 2-D UMAP coordinates of the n rows of `x` (n×dims, row-major; Euclidean distance).
 * Fewer than 3 rows: the first two input coordinates (zero-padded) are returned as they are.
 * @returns length 2n: x_j = out[2j], y_j = out[2j+1]
 */
export function umapLayout(
  x: Float64Array | Float32Array,
  n: number,
  dims: number,
  opts: UmapLayoutOptions,
): Float64Array {
  if (x.length !== n * dims) throw new RangeError(`umapLayout: x is not ${n}×${dims}`);
  const out = new Float64Array(2 * n);
  if (n < 3) {
    for (let j = 0; j < n; j++) {
      out[2 * j] = dims > 0 ? x[j * dims] : 0;
      out[2 * j + 1] = dims > 1 ? x[j * dims + 1] : 0;
    }
    return out;
  }
  const rng = new Rng(opts.seed);
  const nn = Math.max(2, Math.min(opts.neighbours ?? 15, n - 1));
  const umap = new UMAP({
    nComponents: 2,
    nNeighbors: nn,
    minDist: opts.minDist ?? 0.1,
    ...(opts.epochs ? { nEpochs: opts.epochs } : {}),
    random: () => rng.uniform(),
  });
  if (opts.knn) {
    umap.setPrecomputedKNN(
      opts.knn.indices.map((r) => r.slice(0, nn)),
      opts.knn.distances.map((r) => r.slice(0, nn)),
    );
  }
  const rows: number[][] = [];
  for (let j = 0; j < n; j++) rows.push(Array.from(x.subarray(j * dims, (j + 1) * dims)));
  const total = umap.initializeFit(rows);
  for (let e = 0; e < total; e++) {
    umap.step();
    opts.onEpoch?.(e + 1, total);
  }
  const emb = umap.getEmbedding();
  for (let j = 0; j < n; j++) {
    out[2 * j] = emb[j][0];
    out[2 * j + 1] = emb[j][1];
  }
  return out;
}
