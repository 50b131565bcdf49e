/**
 * Dead concepts at scale (issue #16 item 5): a planted world at d = 768 with 3,072 planted
 * directions (1,024 image/text twin pairs, 512 image-only, 512 text-only), an SAE with c = 6,144
 * trained with the study's defaults (batch 512, lr 5e-3, 30 epochs, the study's option defaults
 * for the method: weight decay 1 for the k-sparse SAEs; other options at the method's defaults),
 * then: the dead fraction (concepts that fire on no training row at the end), planted recovery
 * by frequency decile (best cosine of each planted direction over the dictionary rows; decile 1
 * = the most frequent tenth of the directions, by their row counts), and diagnostics of the
 * silent concepts (b_enc, ‖w_j‖, cos(w_j, d_j), largest pre-activation on 8192 rows); recovery
 * by kind of direction (image and text twins of the shared concepts, the best of each twin pair,
 * the pair's centroid, whether both twins share one best atom, image-only, text-only); and the
 * planted ceiling of the world: mean planted terms per row and the R² of a k-sparse oracle that
 * knows the directions (`planted_ceiling`).
 *
 * Usage: `deno run -A scripts/dead_concepts_at_scale.ts [--images 50000] [--captions 1]
 *   [--epochs 30] [--batch 512] [--lr 5e-3] [--k 32] [--c 6144] [--method batchtopk]
 *   [--d 768] [--shared 1024] [--image-only 512] [--text-only 512]
 *   [--set key=value ...] [--json out.json] [--cache /tmp/world] [--save-dict f] [--dict f]`
 *   (`--cache`: keep the generated world in /tmp/world.bin + .json and reuse it; `--epochs 0`
 *   only generates it; `--save-dict`: write the trained dictionary (c×d float32); `--dict`: report
 *   on such a file instead of training). `--set` passes an SAE option (number, boolean, null or
 *   string; e.g. `--set initRows=1` for the dictionary start at centred training rows,
 *   `--set initRows=0.5` for half of it). The smaller worlds of the sweeps in the README come
 *   from `--d`, `--shared`, `--image-only`, `--text-only`. The world has images·(1 + captions)
 *   rows (default 100,000: smaller than the paper's 600,000 so that it generates and trains in
 *   minutes; the question is whether concepts die and why, which a world where every planted
 *   direction occurs on hundreds of rows answers).
 */
import { generateWorldOn, type WorldParams } from "../data/synthetic_world.ts";
import { worldSection } from "../tasks/config/dataset.ts";
import { STUDY_OPTION_DEFAULTS } from "../tasks/config/train.ts";
import { createBackend } from "../kernels/select.ts";
import { fitSae, type SaeMethod } from "../learn/sae/mod.ts";
import type { Backend } from "../kernels/backend.ts";

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : fallback;
}

/** The study's option defaults for `method`, then every `--set key=value` (which wins). */
function sets(method: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...STUDY_OPTION_DEFAULTS[method] };
  Deno.args.forEach((a, i) => {
    if (a !== "--set") return;
    const [k, v] = Deno.args[i + 1].split("=");
    out[k] = v === "true"
      ? true
      : v === "false"
      ? false
      : v === "null"
      ? null
      : isNaN(Number(v))
      ? v
      : Number(v);
  });
  return out;
}

/**
 * Best cosine of each planted direction (m×d, unit rows) over the dictionary rows (c×d, unit
 * rows): one GEMM on the backend (the float64 loops of analysis/truth_checks.ts take minutes here).
 */
async function bestCosines(
  be: Backend,
  dirs: Float32Array,
  m: number,
  dict: Float32Array,
  c: number,
  d: number,
): Promise<{ best: Float64Array; atom: Int32Array }> {
  const a = be.upload(dirs, [m, d]), b = be.upload(dict, [c, d]), out = be.zeros([m, c]);
  be.gemm(a, b, out, { transB: true });
  const cos = (await be.read(out)) as Float32Array;
  for (const t of [a, b, out]) be.dispose(t);
  const best = new Float64Array(m).fill(-2);
  const atom = new Int32Array(m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < c; j++) {
      if (cos[i * c + j] > best[i]) {
        best[i] = cos[i * c + j];
        atom[i] = j;
      }
    }
  }
  return { best, atom };
}

/**
 * How far a k-sparse code of the planted terms could go: R² of the rows rebuilt from all planted
 * terms (`all`: only the noise is lost) and from the n·k largest planted coefficients over the
 * whole table (`topk[k]`: a BatchTopK oracle that knows the directions), the cone and gap offsets
 * given for free in both; and the mean number of planted terms per row.
 */
function plantedCeiling(
  x: Float32Array,
  n: number,
  d: number,
  truth: {
    directions: Float32Array;
    rowActive: { rowPtr: Int32Array; index: Int32Array; value: Float32Array };
    gapDirection?: Float32Array;
    coneDirection?: Float32Array;
  },
  ks: number[],
): { l0: number; all: number; topk: Record<string, number> } {
  const { rowPtr, index, value } = truth.rowActive;
  const dirs = truth.directions;
  const offsets = [truth.coneDirection, truth.gapDirection].filter((v) => v !== undefined);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let q = 0; q < d; q++) mean[q] += x[i * d + q] / n;
  let sst = 0;
  for (let i = 0; i < n; i++) {
    for (let q = 0; q < d; q++) sst += (x[i * d + q] - mean[q]) ** 2;
  }
  const sorted = Float32Array.from(value).sort();
  const r = new Float64Array(d);
  const sse = (tau: number) => {
    let e = 0;
    for (let i = 0; i < n; i++) {
      for (let q = 0; q < d; q++) r[q] = x[i * d + q];
      for (let t = rowPtr[i]; t < rowPtr[i + 1]; t++) {
        if (value[t] < tau) continue; // dropped: stays in the residual
        const a = value[t], o = index[t] * d;
        for (let q = 0; q < d; q++) r[q] -= a * dirs[o + q];
      }
      // offsets for free: project them out of the residual
      for (const g of offsets) {
        let dot = 0;
        for (let q = 0; q < d; q++) dot += r[q] * g[q];
        for (let q = 0; q < d; q++) r[q] -= dot * g[q];
      }
      for (let q = 0; q < d; q++) e += r[q] * r[q];
    }
    return e;
  };
  const topk: Record<string, number> = {};
  for (const k of ks) {
    const keep = Math.min(sorted.length, n * k);
    const tau = keep === 0 ? Infinity : sorted[sorted.length - keep];
    topk[k] = Number((1 - sse(tau) / sst).toFixed(4));
  }
  return { l0: value.length / n, all: Number((1 - sse(-Infinity) / sst).toFixed(4)), topk };
}

/** Layout of the planted directions (data/synthetic_world.ts): S twin pairs, I image-, T text-only. */
interface Layout {
  S: number;
  I: number;
  T: number;
  /** Cosine of each twin pair. */
  twinCos: number[];
}

/**
 * Recovery split by kind of planted direction: image and text twins of the shared concepts, the
 * best of each pair, the pair's centroid (u + v)/‖u + v‖, image-only and text-only; each with its
 * share at cosine ≥ 0.9 over all and over its own frequent half (by row count), and for the twin
 * pairs the share whose twins have the same best atom (one concept between the two) and recovery
 * by twin-cosine third.
 */
function byKind(
  best: Float64Array,
  atom: Int32Array,
  centroidBest: Float64Array,
  freq: Float64Array,
  L: Layout,
): Record<string, unknown> {
  const { S, I, T } = L;
  const r09 = (v: number[]) =>
    Number((v.filter((c) => c >= 0.9).length / (v.length || 1)).toFixed(4));
  const med = (v: number[]) =>
    v.length ? Number([...v].sort((a, b) => a - b)[Math.floor(v.length / 2)].toFixed(4)) : null;
  const summary = (cos: number[], rows: number[]) => {
    const ord = cos.map((_, i) => i).sort((a, b) => rows[b] - rows[a] || a - b);
    const half = ord.slice(0, Math.ceil(ord.length / 2)).map((i) => cos[i]);
    const rare = ord.slice(Math.ceil(ord.length / 2)).map((i) => cos[i]);
    return {
      count: cos.length,
      recovered_09: r09(cos),
      frequent_half_09: r09(half),
      rare_half_09: r09(rare),
      median_cos: med(cos),
    };
  };
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
  const img = range(0, S).map((j) => 2 * j), txt = range(0, S).map((j) => 2 * j + 1);
  const pairRows = range(0, S).map((j) => freq[2 * j] + freq[2 * j + 1]);
  const bestOf = range(0, S).map((j) => Math.max(best[2 * j], best[2 * j + 1]));
  const merged = range(0, S).filter((j) => atom[2 * j] === atom[2 * j + 1]);
  const byTwinCos = [];
  const tc = [...L.twinCos].sort((a, b) => a - b);
  for (let q = 0; q < 3; q++) {
    const lo = tc[Math.floor(q * S / 3)], hi = q === 2 ? Infinity : tc[Math.floor((q + 1) * S / 3)];
    const js = range(0, S).filter((j) => L.twinCos[j] >= lo && L.twinCos[j] < hi);
    byTwinCos.push({
      twin_cos_from: Number(lo.toFixed(3)),
      pairs: js.length,
      twins_09: r09(js.flatMap((j) => [best[2 * j], best[2 * j + 1]])),
      merged: Number(
        (js.filter((j) => atom[2 * j] === atom[2 * j + 1]).length / (js.length || 1)).toFixed(4),
      ),
      centroid_09: r09(js.map((j) => centroidBest[j])),
    });
  }
  return {
    image_twin: summary(img.map((i) => best[i]), img.map((i) => freq[i])),
    text_twin: summary(txt.map((i) => best[i]), txt.map((i) => freq[i])),
    best_of_twins: summary(bestOf, pairRows),
    twin_centroid: summary(Array.from(centroidBest), pairRows),
    twins_merged: Number((merged.length / (S || 1)).toFixed(4)),
    merged_centroid_09: r09(merged.map((j) => centroidBest[j])),
    by_twin_cosine: byTwinCos,
    image_only: summary(
      range(2 * S, 2 * S + I).map((i) => best[i]),
      range(2 * S, 2 * S + I).map((i) => freq[i]),
    ),
    text_only: summary(
      range(2 * S + I, 2 * S + I + T).map((i) => best[i]),
      range(2 * S + I, 2 * S + I + T).map((i) => freq[i]),
    ),
  };
}

/** Quantiles (10/50/90%) of `v` rounded to 4 digits; null when empty. */
function quantiles(v: number[]): number[] | null {
  if (v.length === 0) return null;
  const s = [...v].sort((a, b) => a - b);
  return [0.1, 0.5, 0.9].map((q) => Number(s[Math.floor(q * (s.length - 1))].toFixed(4)));
}

/**
 * Why concepts are silent: on the first 8192 rows, the concepts that fire (inference encode) and
 * those that do not, with quantiles of b_enc, ‖w_j‖, cos(w_j, d_j) and the largest
 * pre-activation ⟨x, w_j⟩ + b_j over the sample.
 */
async function diagnostics(
  be: Backend,
  f: Awaited<ReturnType<typeof fitSae>>,
  x: Float32Array,
  n: number,
  d: number,
): Promise<Record<string, unknown>> {
  const ns = Math.min(n, 8192), c = f.c;
  const sample = x.subarray(0, ns * d);
  const z = await f.encode(sample, ns, be);
  const fires = new Float64Array(c);
  for (let e = 0; e < z.rowPtr[ns]; e++) fires[z.index[e]]++;
  const t = f.exportWeights().tensors;
  const wEnc = t.W_enc.data as Float32Array, bEnc = t.b_enc.data as Float32Array;
  const wDec = t.W_dec.data as Float32Array;
  const a = be.upload(sample, [ns, d]), w = be.upload(wEnc, [d, c]), pre = be.zeros([ns, c]);
  be.gemm(a, w, pre);
  const p = (await be.read(pre)) as Float32Array;
  for (const q of [a, w, pre]) be.dispose(q);
  const maxPre = new Float64Array(c).fill(-Infinity);
  for (let i = 0; i < ns; i++) {
    for (let j = 0; j < c; j++) maxPre[j] = Math.max(maxPre[j], p[i * c + j] + bEnc[j]);
  }
  const group = (sel: (j: number) => boolean) => {
    const js = Array.from({ length: c }, (_, j) => j).filter(sel);
    const norm = (j: number) => {
      let s = 0;
      for (let q = 0; q < d; q++) s += wEnc[q * c + j] ** 2;
      return Math.sqrt(s);
    };
    const cosWD = (j: number) => {
      let s = 0;
      for (let q = 0; q < d; q++) s += wEnc[q * c + j] * wDec[j * d + q];
      return s / (norm(j) || 1);
    };
    return {
      count: js.length,
      b_enc: quantiles(js.map((j) => bEnc[j])),
      w_norm: quantiles(js.map(norm)),
      cos_w_d: quantiles(js.map(cosWD)),
      max_pre: quantiles(js.map((j) => maxPre[j])),
    };
  };
  return {
    sample_rows: ns,
    firing: group((j) => fires[j] > 0),
    silent: group((j) => fires[j] === 0),
  };
}

/**
 * The planted world (rows, directions, row count of each direction, twin cosines, the
 * {@link plantedCeiling} for `ks`), cached in `cache` if set (a cache without twin cosines and
 * ceiling is regenerated).
 */
async function world(p: WorldParams, cache: string, be: Backend, ks: number[]) {
  if (cache) {
    try {
      const meta = JSON.parse(await Deno.readTextFile(`${cache}.json`));
      if (!meta.ceiling || ks.some((k) => !(k in meta.ceiling.topk))) throw new Error("old cache");
      const buf = await Deno.readFile(`${cache}.bin`);
      const f32 = new Float32Array(buf.buffer, 0, (meta.n + meta.m) * meta.d);
      const x = f32.subarray(0, meta.n * meta.d);
      const directions = f32.subarray(meta.n * meta.d);
      const freq = Float64Array.from(meta.freq as number[]);
      console.error(`world from ${cache}.bin`);
      return {
        n: meta.n as number,
        d: meta.d as number,
        m: meta.m as number,
        x,
        directions,
        freq,
        twinCos: meta.twinCos as number[],
        ceiling: meta.ceiling as ReturnType<typeof plantedCeiling>,
      };
    } catch {
      // generate below
    }
  }
  const t0 = performance.now();
  console.error(`generating ${p.images * (1 + p.captionsPerImage)} rows at d = ${p.d} …`);
  const w = await generateWorldOn(p, 0, be);
  const { n, d, vectors: x } = w.set;
  const m = w.truth.m;
  console.error(`  ${((performance.now() - t0) / 1000).toFixed(1)} s; ${m} planted directions`);
  // row count of each planted direction
  const freq = new Float64Array(m);
  const ra = w.truth.rowActive;
  for (let e = 0; e < ra.rowPtr[n]; e++) freq[ra.index[e]]++;
  const directions = w.truth.directions;
  const twinCos = Array.from(w.truth.twinCosine);
  const ceiling = plantedCeiling(x, n, d, w.truth, ks);
  console.error(`  planted ceiling ${JSON.stringify(ceiling)}`);
  if (cache) {
    const all = new Float32Array((n + m) * d);
    all.set(x);
    all.set(directions, n * d);
    await Deno.writeFile(`${cache}.bin`, new Uint8Array(all.buffer));
    await Deno.writeTextFile(
      `${cache}.json`,
      JSON.stringify({ n, d, m, freq: Array.from(freq), twinCos, ceiling }),
    );
  }
  return { n, d, x, m, directions, freq, twinCos, ceiling };
}

async function main(): Promise<void> {
  const images = Number(arg("images", "50000"));
  const captions = Number(arg("captions", "1"));
  const epochs = Number(arg("epochs", "30"));
  const batchSize = Number(arg("batch", "512"));
  const lrArg = arg("lr", "");
  const k = Number(arg("k", "32"));
  const c = Number(arg("c", "6144"));
  const method = arg("method", "batchtopk") as SaeMethod;
  const out = arg("json", "");
  const p = worldSection.parse({
    d: Number(arg("d", "768")),
    images,
    captionsPerImage: captions,
    sharedConcepts: Number(arg("shared", "1024")),
    imageConcepts: Number(arg("image-only", "512")),
    textConcepts: Number(arg("text-only", "512")),
  });
  const layout = { S: p.sharedConcepts, I: p.imageConcepts, T: p.textConcepts };
  const be = await createBackend("cpu");
  const { n, d, x, m, directions, freq, twinCos, ceiling } = await world(
    p,
    arg("cache", ""),
    be,
    [...new Set([16, 32, 64, k])],
  );
  if (epochs === 0) return be.close();
  const lr = Number(lrArg || "5e-3");
  const t1 = performance.now();
  const dictFile = arg("dict", "");
  let f: Awaited<ReturnType<typeof fitSae>> | undefined;
  let dictionary: Float32Array;
  let best: Float64Array, atom: Int32Array, centroidBest: Float64Array;
  let diag: Record<string, unknown> = {};
  try {
    if (dictFile) {
      dictionary = new Float32Array((await Deno.readFile(dictFile)).buffer);
    } else {
      const opts = { c, k, seed: 0, epochs, batchSize, lr, ...sets(method) };
      console.error(`training ${method} ${JSON.stringify(opts)} on ${n}×${d}`);
      f = await fitSae(method, x, n, d, opts, be, {
        onEpoch: (e) =>
          console.error(
            `  epoch ${e.epoch}: r2 ${e.r2.toFixed(4)} l0 ${e.l0.toFixed(1)} dead ${
              e.deadFraction.toFixed(3)
            } tracked ${e.extra?.deadTracked ?? "-"} (${
              ((performance.now() - t1) / 1000).toFixed(0)
            } s)`,
          ),
      });
      dictionary = f.dictionary;
      const saveDict = arg("save-dict", "");
      if (saveDict) await Deno.writeFile(saveDict, new Uint8Array(dictionary.slice().buffer));
      diag = await diagnostics(be, f, x, n, d);
    }
    const cAtoms = dictionary.length / d;
    ({ best, atom } = await bestCosines(be, directions, m, dictionary, cAtoms, d));
    const cen = new Float32Array(layout.S * d);
    for (let j = 0; j < layout.S; j++) {
      let s2 = 0;
      for (let q = 0; q < d; q++) {
        const v = directions[2 * j * d + q] + directions[(2 * j + 1) * d + q];
        cen[j * d + q] = v;
        s2 += v * v;
      }
      for (let q = 0; q < d; q++) cen[j * d + q] /= Math.sqrt(s2);
    }
    centroidBest = (await bestCosines(be, cen, layout.S, dictionary, cAtoms, d)).best;
  } finally {
    be.close();
  }
  const trainS = (performance.now() - t1) / 1000;
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => freq[b] - freq[a] || a - b);
  const deciles = [];
  for (let q = 0; q < 10; q++) {
    const idx = order.slice(Math.floor(q * m / 10), Math.floor((q + 1) * m / 10));
    const cos = idx.map((i) => best[i]).sort((a, b) => a - b);
    deciles.push({
      decile: q + 1,
      rows_min: freq[idx[idx.length - 1]],
      rows_max: freq[idx[0]],
      recovered_09: cos.filter((v) => v >= 0.9).length / cos.length,
      median_cos: cos[Math.floor(cos.length / 2)],
    });
  }
  const half = order.slice(0, m / 2).map((i) => best[i]);
  const last = f?.log[f.log.length - 1];
  const report = {
    n,
    d,
    c,
    k,
    method,
    epochs,
    batchSize,
    lr,
    options: sets(method),
    train_s: trainS,
    dict: dictFile || undefined,
    r2: last?.r2,
    planted_ceiling: ceiling,
    l0: last?.l0,
    dead_fraction: last?.deadFraction,
    dead_tracked: last?.extra?.deadTracked,
    frequent_half_recovered_09: half.filter((v) => v >= 0.9).length / half.length,
    all_recovered_09: Array.from(best).filter((v) => v >= 0.9).length / m,
    deciles,
    by_kind: byKind(best, atom, centroidBest, freq, { ...layout, twinCos }),
    diagnostics: diag,
  };
  console.log(JSON.stringify(report, null, 1));
  if (out) await Deno.writeTextFile(out, JSON.stringify(report, null, 1) + "\n");
}

if (import.meta.main) await main();
