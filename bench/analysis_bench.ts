/**
 * Analysis benchmarks at paper scale (issue 16: no stage that crawls), on synthetic inputs of
 * the study's sizes (d = 768, c = 8·d = 6144, k = 32):
 * - `analysis.modality_paper_scale` (directions/s): the scoring half of the `modality` stage on
 *   its capped 20,000 eval rows — the null model's top-k codes, then the learned and null
 *   dictionaries and 256 random directions as modality classifiers (exact AUROC per direction);
 *   beside it the subspace fits (mean, logistic, LDA, INLP) on 20,000 fit rows, timed apart.
 *   Floor: the score products (2·n·d flops per direction; the null dictionary twice) at the
 *   best GEMM rate measured in the same run.
 * - `analysis.bridge_paper_scale` (pairs/s): the `bridge` stage on 30,000 image–caption pairs
 *   (the eval split of a 300,000-row world): the Bridge Score of k = 32 codes, the null model's
 *   top-k codes of the 60,000 rows, and the null Bridge Score. Floor: the null codes' GEMM
 *   (2·n·c·d) and the null's cosine blocks (2·c²·d) at the measured GEMM rate.
 * `--quick`: d = 256, c = 2048, 4,000 rows.
 */
import type { Benchmark, BenchResult } from "./types.ts";
import { randomUnitRows } from "../data/rows.ts";
import { Rng } from "../data/random.ts";
import type { CsrCodes } from "../data/csr_codes.ts";
import { syncProducts } from "../analysis/sync_products.ts";
import { nullModel, randomDictionary } from "../analysis/null_dictionary.ts";
import { directionAurocs, modalitySubspace } from "../analysis/modality_subspace.ts";
import { conceptStatistics } from "../analysis/concept_stats.ts";
import { bridgeScores } from "../analysis/bridge.ts";

const FULL = { d: 768, c: 6144, k: 32, rows: 20000, pairs: 30000 };
const QUICK = { d: 256, c: 2048, k: 32, rows: 4000, pairs: 2000 };

/** Seconds of `f`. */
function timed<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const v = f();
  return [v, (performance.now() - t0) / 1000];
}

/** Unit rows with a modality offset along one direction: image rows (y = 1) +gap/2, text −gap/2. */
function modalityRows(n: number, d: number, seed: number): { x: Float32Array; y: Uint8Array } {
  const x = randomUnitRows(n, d, seed);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2 === 0 ? 1 : 0;
    x[i * d] += y[i] ? 0.15 : -0.15;
  }
  return { x, y };
}

type Scores = NonNullable<Awaited<ReturnType<typeof syncProducts>>["scores"]>;

/** Best flop/s of the score product X·Dᵀ on a 2048 × d by d × c block (3 tries). */
function gemmRate(scores: Scores, d: number, c: number): number {
  const x = randomUnitRows(2048, d, 1), dict = randomDictionary(c, d, 2);
  let best = Infinity;
  for (let r = 0; r < 3; r++) best = Math.min(best, timed(() => scores(x, 2048, d, dict, c))[1]);
  return (2 * 2048 * d * c) / best;
}

/** Codes of `rows` rows with k concepts each, drawn with Zipf-like frequencies (a stand-in SAE). */
function zipfCodes(rows: number, c: number, k: number, rng: Rng): CsrCodes {
  const rowPtr = new Int32Array(rows + 1);
  const index = new Int32Array(rows * k), value = new Float32Array(rows * k);
  const chosen = new Set<number>();
  for (let r = 0; r < rows; r++) {
    chosen.clear();
    while (chosen.size < k) chosen.add(Math.min(c - 1, Math.floor(c ** rng.uniform()) - 1));
    let e = r * k;
    for (const j of [...chosen].sort((a, b) => a - b)) {
      index[e] = j;
      value[e++] = 0.05 + rng.uniform();
    }
    rowPtr[r + 1] = e;
  }
  return { rows, cols: c, rowPtr, index, value };
}

async function modalityCase(quick: boolean, log: (l: string) => void): Promise<BenchResult[]> {
  const { d, c, k, rows: n } = quick ? QUICK : FULL;
  const products = await syncProducts();
  if (!products.scores) {
    log(`analysis: no synchronous BLAS (${products.name}); modality bench skipped`);
    return [];
  }
  const scores = products.scores;
  const rate = gemmRate(scores, d, c);
  const evalRows = modalityRows(n, d, 3), fitRows = modalityRows(n, d, 4);
  const learned = randomDictionary(c, d, 5), random = randomUnitRows(256, d, 6);
  log(`analysis: modality scoring, ${n} rows × d ${d}, c ${c}`);
  const [nul, nullS] = timed(() => nullModel(evalRows.x, n, d, c, { seed: 0, k, scores }));
  const [, aucS] = timed(() => {
    for (const [dirs, m] of [[learned, c], [nul.dictionary, c], [random, 256]] as const) {
      directionAurocs(evalRows.x, n, d, evalRows.y, dirs, m, { scores });
    }
  });
  conceptStatistics(nul.codes, evalRows.y);
  log(`analysis: modality subspaces on ${n} fit rows`);
  const [ks, subS] = timed(() =>
    (["mean", "logistic", "lda", "nullspace"] as const).map((m) =>
      modalitySubspace(m, fitRows.x, n, d, fitRows.y, { gram: products.gram }).k
    )
  );
  const directions = 2 * c + 256;
  const seconds = nullS + aucS;
  const flops = 2 * n * d * (3 * c + 256);
  const floor = flops / rate;
  return [{
    name: `analysis.modality_${quick ? "quick" : "paper_scale"}`,
    value: directions / aucS,
    unit: "dirs/s",
    seconds,
    rows: n,
    d,
    c,
    null_codes_s: nullS,
    classifiers_s: aucS,
    floor_s: floor,
    floor_ratio: seconds / floor,
    gemm_gflops: rate / 1e9,
    subspaces_s: subS,
    inlp_k: ks[3],
    products: products.name,
  }];
}

async function bridgeCase(quick: boolean, log: (l: string) => void): Promise<BenchResult[]> {
  const { d, c, k, pairs } = quick ? QUICK : FULL;
  const products = await syncProducts();
  if (!products.scores) {
    log(`analysis: no synchronous BLAS (${products.name}); bridge bench skipped`);
    return [];
  }
  const rate = gemmRate(products.scores, d, c);
  const rng = new Rng(7);
  const dict = randomDictionary(c, d, 8);
  const m = Float64Array.from({ length: c }, (_, j) => (j % 3) / 2);
  const paired = { image: zipfCodes(pairs, c, k, rng), text: zipfCodes(pairs, c, k, rng) };
  const opts = { topN: 100, cosineBlock: products.cosineBlock };
  log(`analysis: bridge, ${pairs} pairs, c ${c}, k ${k}`);
  const [r, learnedS] = timed(() =>
    bridgeScores(paired, dict, c, d, { ...opts, modalityScore: m })
  );
  // Null model of the 2·pairs rows (image row 2p, its caption 2p + 1), then its Bridge Score.
  const n = 2 * pairs;
  const { x, y } = modalityRows(n, d, 9);
  const [nul, nullS] = timed(() => nullModel(x, n, d, c, { seed: 0, k, scores: products.scores }));
  const split = (parity: number): CsrCodes => {
    const rowPtr = new Int32Array(pairs + 1), idx: number[] = [], val: number[] = [];
    for (let p = 0; p < pairs; p++) {
      const row = 2 * p + parity;
      for (let e = nul.codes.rowPtr[row]; e < nul.codes.rowPtr[row + 1]; e++) {
        idx.push(nul.codes.index[e]);
        val.push(nul.codes.value[e]);
      }
      rowPtr[p + 1] = idx.length;
    }
    return {
      rows: pairs,
      cols: c,
      rowPtr,
      index: Int32Array.from(idx),
      value: Float32Array.from(val),
    };
  };
  const nullM = conceptStatistics(nul.codes, y).modalityScore;
  const [nr, nullBridgeS] = timed(() =>
    bridgeScores({ image: split(0), text: split(1) }, nul.dictionary, c, d, {
      ...opts,
      modalityScore: nullM,
    })
  );
  const seconds = learnedS + nullS + nullBridgeS;
  const floor = (2 * n * c * d + 2 * c * c * d) / rate;
  return [{
    name: `analysis.bridge_${quick ? "quick" : "paper_scale"}`,
    value: pairs / seconds,
    unit: "pairs/s",
    seconds,
    pairs,
    c,
    d,
    k,
    bridge_s: learnedS,
    coactive: r.coactivePairs,
    null_codes_s: nullS,
    null_bridge_s: nullBridgeS,
    null_coactive: nr.coactivePairs,
    floor_s: floor,
    floor_ratio: seconds / floor,
    gemm_gflops: rate / 1e9,
    products: products.name,
  }];
}

/** The analysis benchmarks. */
export const benchmarks: Benchmark[] = [
  { group: "analysis.modality", run: ({ quick, log }) => modalityCase(quick, log) },
  { group: "analysis.bridge", run: ({ quick, log }) => bridgeCase(quick, log) },
];
