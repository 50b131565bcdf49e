/**
 * Test fixture: a small pipeline cache written through the project's own writers, laid out as
 * the engine lays it out (`<cache>/<stage>/<key>/` + manifest.json, `last_run.json`): a dataset,
 * two train runs (seeds 0 and 1, the second a noisy permutation of the first), and for each its
 * encode (top-k codes of the eval rows), evaluate, concepts, modality and bridge outputs, plus a
 * match of the two runs and a claims list. Values are computed here with plain float64 loops, so
 * tests can compare what the explorer shows with what the "pipeline" wrote.
 */
import { join } from "node:path";
import { Rng } from "../../data/random.ts";
import { normalizeRows } from "../../data/rows.ts";
import { encodeTopK } from "../../analysis/null_dictionary.ts";
import type { EmbeddingSet } from "../../data/embeddings.ts";
import { writeEmbeddings } from "../../data/embeddings_io.ts";
import { writeDictionary } from "../../data/dictionary_io.ts";
import { writeCodes } from "../../data/codes_io.ts";
import { writeTable } from "../../data/table_io.ts";
import type { CsrCodes } from "../../data/csr_codes.ts";
import { pcaMap } from "../../analysis/layout_pca.ts";

/** What a fixture run holds (for assertions). */
export interface FixtureRun {
  seed: number;
  trainKey: string;
  dict: Float32Array;
  codes: CsrCodes;
  /** Per concept (float64): energy, frequency, energy/frequency per modality, modality score. */
  stats: Record<string, Float64Array>;
  /** Bridge pairs written (descending bridge). */
  bridgePairs: { image: number; text: number; bridge: number }[];
}

/** The fixture cache. */
export interface FixtureCache {
  cache: string;
  set: EmbeddingSet;
  /** Eval row indices (table order) of `set`. */
  evalRows: number[];
  c: number;
  d: number;
  k: number;
  runs: FixtureRun[];
  /** matches of run 0 (concept_a) with run 1 (concept_b): cosine per concept of run 0. */
  matchB: Int32Array;
  matchCosine: Float64Array;
}

async function keyOf(s: string): Promise<string> {
  const h = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
  return [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

interface Ref {
  id: string;
  key: string;
  stage: string;
}

/** Write one published stage instance: artifacts by `write(dir)`, then its manifest. */
async function publish(
  cache: string,
  stage: string,
  id: string,
  params: Record<string, unknown>,
  inputs: Record<string, Ref>,
  write: (dir: string) => Promise<void>,
  meta: Record<string, unknown> = {},
  rawInputs: Record<string, string> = {},
): Promise<Ref> {
  const key = await keyOf(`${stage}|${id}|${JSON.stringify(params)}`);
  const dir = join(cache, stage, key);
  await Deno.mkdir(dir, { recursive: true });
  await write(dir);
  const files: Record<string, { bytes: number; sha256: string }> = {};
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name !== "manifest.json") {
      files[e.name] = { bytes: (await Deno.stat(join(dir, e.name))).size, sha256: "" };
    }
  }
  const manifest = {
    stage,
    id,
    key,
    version: 1,
    params,
    inputs: Object.fromEntries(
      Object.entries(inputs).map(([r, v]) => [r, { id: v.id, key: v.key }]),
    ),
    rawInputs: Object.fromEntries(
      Object.entries(rawInputs).map(([r, p]) => [r, { path: p, sha256: "0".repeat(64) }]),
    ),
    codeVersion: "fixture-1",
    backend: "cpu",
    started: "2025-01-01T00:00:00.000Z",
    finished: "2025-01-01T00:00:01.000Z",
    seconds: 1,
    meta,
    files,
  };
  await Deno.writeTextFile(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2));
  return { id, key, stage };
}

function unitRows(rng: Rng, c: number, d: number): Float32Array {
  return normalizeRows(rng.fillNormal(new Float32Array(c * d)), c, d);
}

/**
 * A synthetic embedding set: `pairs` images with `captions` captions each; images mix atoms of
 * the first two thirds of `atoms` (c×d), captions the last two thirds, so the first third is
 * image-only, the middle shared and the last text-only. Sources: image rows `img_<i>.png`
 * (files the caller may create), caption rows a text naming the atoms.
 */
export function syntheticSet(
  atoms: Float32Array,
  c: number,
  d: number,
  pairs: number,
  captions: number,
  seed: number,
): EmbeddingSet {
  const rng = new Rng(seed);
  const n = pairs * (1 + captions);
  const vectors = new Float32Array(n * d);
  const ids: string[] = [], pairIds: string[] = [], modality: ("image" | "text")[] = [];
  const split: ("train" | "eval")[] = [], source: string[] = [];
  const third = Math.floor(c / 3);
  let r = 0;
  const emit = (
    id: string,
    pair: string,
    mod: "image" | "text",
    js: number[],
    src: string,
    isEval: boolean,
  ) => {
    for (const j of js) {
      const a = 0.5 + rng.uniform();
      for (let t = 0; t < d; t++) vectors[r * d + t] += a * atoms[j * d + t];
    }
    let s = 0;
    for (let t = 0; t < d; t++) {
      vectors[r * d + t] += 0.05 * rng.normal();
      s += vectors[r * d + t] ** 2;
    }
    for (let t = 0; t < d; t++) vectors[r * d + t] /= Math.sqrt(s);
    ids.push(id);
    pairIds.push(pair);
    modality.push(mod);
    split.push(isEval ? "eval" : "train");
    source.push(src);
    r++;
  };
  for (let p = 0; p < pairs; p++) {
    const isEval = p % 2 === 0;
    const shared = [third + rng.int(third), third + rng.int(third)];
    const img = [rng.int(third), ...shared];
    emit(`img${p}`, `img${p}`, "image", img, `img_${p}.png`, isEval);
    for (let q = 0; q < captions; q++) {
      const txt = [2 * third + rng.int(c - 2 * third), ...shared];
      emit(
        `img${p}#${q}`,
        `img${p}`,
        "text",
        txt,
        `a caption about atoms ${txt.join(" and ")} <b>${p}.${q}</b>`,
        isEval,
      );
    }
  }
  return { n, d, vectors, ids, pairIds, modality, split, source };
}

function statsOf(z: CsrCodes, isImage: boolean[]): Record<string, Float64Array> {
  const c = z.cols;
  const si = new Float64Array(c),
    st = new Float64Array(c),
    fi = new Float64Array(c),
    ft = new Float64Array(c);
  let ni = 0;
  for (let r = 0; r < z.rows; r++) {
    if (isImage[r]) ni++;
    for (let e = z.rowPtr[r]; e < z.rowPtr[r + 1]; e++) {
      const j = z.index[e];
      if (!(z.value[e] > 0)) continue;
      if (isImage[r]) {
        si[j] += z.value[e];
        fi[j]++;
      } else {
        st[j] += z.value[e];
        ft[j]++;
      }
    }
  }
  const nt = z.rows - ni, n = z.rows;
  const m = (f: (j: number) => number) => Float64Array.from({ length: c }, (_, j) => f(j));
  const ei = m((j) => si[j] / ni), et = m((j) => st[j] / nt);
  return {
    energy: m((j) => (si[j] + st[j]) / n),
    frequency: m((j) => (fi[j] + ft[j]) / n),
    energy_image: ei,
    energy_text: et,
    frequency_image: m((j) => fi[j] / ni),
    frequency_text: m((j) => ft[j] / nt),
    modality_score: m((j) => (ei[j] + et[j] > 0 ? ei[j] / (ei[j] + et[j]) : NaN)),
  };
}

/** Dense raw Bridge Score over caption-level pairs (float64, c×c). */
function bridgeMatrix(
  z: CsrCodes,
  rows: number[],
  set: EmbeddingSet,
  dict: Float32Array,
  c: number,
  d: number,
) {
  const dense = (r: number) => {
    const v = new Float64Array(c);
    for (let e = z.rowPtr[r]; e < z.rowPtr[r + 1]; e++) v[z.index[e]] = z.value[e];
    return v;
  };
  const imageOf = new Map<string, number>();
  rows.forEach((row, r) => {
    if (set.modality[row] === "image") imageOf.set(set.pairIds[row], r);
  });
  const co = new Float64Array(c * c);
  let pairs = 0;
  rows.forEach((row, r) => {
    if (set.modality[row] !== "text") return;
    const i = imageOf.get(set.pairIds[row]);
    if (i === undefined) return;
    pairs++;
    const zi = dense(i), zt = dense(r);
    for (let a = 0; a < c; a++) {
      if (zi[a]) { for (let b = 0; b < c; b++) co[a * c + b] += zi[a] * zt[b]; }
    }
  });
  const B = new Float64Array(c * c);
  for (let a = 0; a < c; a++) {
    for (let b = 0; b < c; b++) {
      let cos = 0;
      for (let t = 0; t < d; t++) cos += dict[a * d + t] * dict[b * d + t];
      B[a * c + b] = (co[a * c + b] / pairs) * cos;
    }
  }
  return { B, co: co.map((v) => v / pairs), pairs };
}

/** Options of {@link makeFixtureCache}. */
export interface FixtureOptions {
  /** Embedding rows (all splits); default: {@link syntheticSet} of the seed-0 atoms. */
  set?: EmbeddingSet;
  /** Folder named as the dataset folder in the config (images are looked up there). */
  datasetFolder: string;
  c?: number;
  k?: number;
  /** The seed of the configured primary run (`train.seeds` lists it first). Default 0. */
  primarySeed?: 0 | 1;
  /** Extra train-only runs (seed 0, no encode): their k values, in the order they are written. */
  extraK?: number[];
  /** Publish the data as an `embed` instance of this model folder (a text tower) instead. */
  embedModel?: string;
}

/** Distinct words naming the fixture's concepts: concept j of run 0 is `conceptWord(j)`. */
export function conceptWord(j: number): string {
  const words = [
    "apple",
    "boat",
    "cat",
    "desk",
    "eagle",
    "fern",
    "guitar",
    "harbor",
    "igloo",
    "jacket",
    "kite",
    "lemon",
    "mountain",
    "needle",
    "orchid",
    "piano",
    "quilt",
    "river",
    "saddle",
    "tiger",
    "umbrella",
    "violin",
    "walrus",
    "yacht",
  ];
  return j < words.length ? words[j] : `${words[j % words.length]}${j}`;
}

/** Build the fixture cache in `cache` (an existing empty folder). */
export async function makeFixtureCache(cache: string, opts: FixtureOptions): Promise<FixtureCache> {
  const d0 = opts.set?.d ?? 12;
  const c = opts.c ?? 24, k = opts.k ?? 3;
  const atoms = unitRows(new Rng(7), c, d0);
  const set = opts.set ?? syntheticSet(atoms, c, d0, 30, 2, 11);
  const d = set.d;
  const config = {
    dataset: {
      kind: "npy",
      path: join(opts.datasetFolder, "embeddings.npy"),
      pairs: join(opts.datasetFolder, "pairs.json"),
      seed: 0,
      splitSeed: 0,
    },
    train: {
      methods: ["topk"],
      k: [k, ...(opts.extraK ?? [])],
      seeds: opts.primarySeed === 1 ? [1, 0] : [0, 1],
      primary: { method: "topk", k },
    },
    diets: { ratios: ["natural"], seeds: [0] },
    report: { conceptPages: 6 },
  };
  const embedParams = opts.embedModel
    ? {
      model: { name: "tiny", path: opts.embedModel },
      source: { format: "csv", path: join(opts.datasetFolder, "pairs.csv") },
    }
    : null;
  const dataset = await publish(
    cache,
    embedParams ? "embed" : "dataset",
    embedParams ? "embed[model=tiny]" : "dataset",
    embedParams ?? config.dataset,
    {},
    async (dir) => {
      await writeEmbeddings(join(dir, "embeddings.parquet"), set);
    },
    { rows: set.n, d },
    { pairs: join(opts.datasetFolder, "pairs.json") },
  );
  const evalRows = [...Array(set.n).keys()].filter((r) => set.split[r] === "eval");
  const xEval = new Float32Array(evalRows.length * d);
  evalRows.forEach((r, q) => xEval.set(set.vectors.subarray(r * d, (r + 1) * d), q * d));
  const isImage = evalRows.map((r) => set.modality[r] === "image");
  const diet = await publish(
    cache,
    "diet",
    "diet[ratio=natural,seed=0]",
    { ratio: "natural", seed: 0 },
    { dataset },
    async (dir) => {
      await Deno.writeTextFile(join(dir, "note.txt"), "fixture diet");
    },
  );

  const base = d === d0 ? atoms : unitRows(new Rng(9), c, d);
  const runs: FixtureRun[] = [];
  const stages: Ref[] = [dataset, diet];
  const perm = new Rng(3).permutation(c);
  for (const seed of [0, 1]) {
    const dict = new Float32Array(c * d);
    const noise = new Rng(100 + seed);
    for (let j = 0; j < c; j++) {
      const src = seed === 0 ? j : perm[j];
      let s = 0;
      for (let t = 0; t < d; t++) {
        dict[j * d + t] = base[src * d + t] +
          (seed === 0 ? 0 : 0.15 * noise.normal() / Math.sqrt(d));
        s += dict[j * d + t] ** 2;
      }
      for (let t = 0; t < d; t++) dict[j * d + t] /= Math.sqrt(s);
    }
    const params = { method: "topk", k, c, expansionFactor: 2, seed, diet: "natural", options: {} };
    const id = `train[method=topk,k=${k},seed=${seed},diet=natural]`;
    const train = await publish(cache, "train", id, params, { diet }, async (dir) => {
      await writeDictionary(join(dir, "dictionary.parquet"), dict, c, d);
      await Deno.writeTextFile(
        join(dir, "config.json"),
        JSON.stringify({ method: "topk", c, d, k }),
      );
    });
    const codes = encodeTopK(xEval, evalRows.length, d, dict, c, k);
    const encode = await publish(cache, "encode", `encode[${id}]`, { split: "eval" }, {
      train,
      dataset,
    }, async (dir) => {
      await writeCodes(join(dir, "codes.parquet"), codes);
    });
    const r2 = 0.5 + 0.1 * seed;
    const evaluate = await publish(cache, "evaluate", `evaluate[${id}]`, {}, {
      train,
      encode,
      dataset,
    }, async (dir) => {
      await writeTable(join(dir, "metrics.parquet"), {
        scope: ["pooled", "image", "text"],
        r2: Float64Array.of(r2, r2 - 0.05, r2 + 0.05),
        r2_zero: Float64Array.of(r2 + 0.1, r2, r2 + 0.1),
        l0: Float64Array.of(k, k, k),
        dead_fraction: Float64Array.of(0.1, 0.2, 0.2),
        n_rows: Int32Array.of(
          evalRows.length,
          isImage.filter((x) => x).length,
          isImage.filter((x) => !x).length,
        ),
      });
    });
    const stats = statsOf(codes, isImage);
    const concepts = await publish(cache, "concepts", `concepts[${id}]`, {}, {
      encode,
      dataset,
      train,
    }, async (dir) => {
      await writeTable(join(dir, "concepts.parquet"), {
        concept: Int32Array.from({ length: c }, (_, j) => j),
        ...stats,
      });
    });
    const projection = Float64Array.from({ length: c }, (_, j) => ((j * 7) % 10) / 100);
    const aurocs = Float64Array.from({ length: c }, (_, j) => 0.5 + ((j * 3) % 10) / 25);
    const modality = await publish(
      cache,
      "modality",
      `modality[${id}]`,
      {},
      { train, dataset },
      async (dir) => {
        await writeTable(join(dir, "projections.parquet"), {
          dictionary: [...Array(c).fill("learned"), ...Array(c).fill("null")],
          concept: Int32Array.from({ length: 2 * c }, (_, q) => q % c),
          projection_mean_difference: Float64Array.from(
            { length: 2 * c },
            (_, q) => (q < c ? projection[q] : 0.5),
          ),
          modality_score: Float64Array.from(
            { length: 2 * c },
            (_, q) => (q < c ? NaN : (q % 10) / 10),
          ),
        });
        await writeTable(join(dir, "classifier.parquet"), {
          kind: [...Array(c).fill("learned"), "probe"],
          index: Int32Array.from({ length: c + 1 }, (_, q) => (q < c ? q : 0)),
          auroc: Float64Array.from([...aurocs, 0.99]),
          separation: Float64Array.from([...aurocs, 0.99], (a) => Math.abs(2 * a - 1)),
        });
        await Deno.writeTextFile(join(dir, "summary.json"), "{}");
      },
    );
    const bm = bridgeMatrix(codes, evalRows, set, dict, c, d);
    const cand: { image: number; text: number; bridge: number; co: number }[] = [];
    for (let a = 0; a < c; a++) {
      for (let b = 0; b < c; b++) {
        if (a !== b && bm.B[a * c + b] > 0) {
          cand.push({ image: a, text: b, bridge: bm.B[a * c + b], co: bm.co[a * c + b] });
        }
      }
    }
    cand.sort((x, y) => y.bridge - x.bridge || x.image - y.image || x.text - y.text);
    const top = cand.slice(0, 10);
    const bridge = await publish(cache, "bridge", `bridge[${id}]`, {}, {
      train,
      encode,
      dataset,
      concepts,
    }, async (dir) => {
      await writeTable(join(dir, "bridge_pairs.parquet"), {
        rank: Int32Array.from(top, (_, q) => q + 1),
        concept_image: Int32Array.from(top, (p) => p.image),
        concept_text: Int32Array.from(top, (p) => p.text),
        bridge: Float64Array.from(top, (p) => p.bridge),
        coactivation: Float64Array.from(top, (p) => p.co),
        cosine: Float64Array.from(top, (p) => p.bridge / p.co),
      });
      const concept = Int32Array.from({ length: c }, (_, j) => j);
      await writeTable(join(dir, "self_bridges.parquet"), {
        concept,
        bridge: Float64Array.from({ length: c }, (_, j) => bm.B[j * c + j]),
        coactivation: Float64Array.from({ length: c }, (_, j) => bm.co[j * c + j]),
        modality_score: stats.modality_score,
      });
      await writeTable(join(dir, "bridge_mass.parquet"), {
        concept,
        mass_image: Float64Array.from(
          { length: c },
          (_, j) => bm.B.slice(j * c, (j + 1) * c).reduce((s, v) => s + Math.abs(v), 0),
        ),
        mass_text: Float64Array.from({ length: c }, (_, j) => {
          let s = 0;
          for (let a = 0; a < c; a++) s += Math.abs(bm.B[a * c + j]);
          return s;
        }),
      });
      await Deno.writeTextFile(join(dir, "summary.json"), "{}");
    });
    // Labels: run 0's concept j is named conceptWord(j); run 1's concept q copies run 0's perm[q].
    const labelOf = (j: number) => conceptWord(seed === 0 ? j : perm[j]);
    const labels = await publish(cache, "labels", `labels[${id}]`, {}, {
      encode,
      dataset,
      train,
    }, async (dir) => {
      await writeTable(join(dir, "labels.parquet"), {
        concept: Int32Array.from({ length: c }, (_, j) => j),
        label: Array.from({ length: c }, (_, j) => (stats.frequency[j] > 0 ? labelOf(j) : "")),
        source: Array.from({ length: c }, (_, j) => (stats.frequency[j] > 0 ? "captions" : "none")),
        caption_evidence: Array.from({ length: c }, (_, j) => `${labelOf(j)} z=3.00 n=4/N=9`),
        tower_label: new Array(c).fill(""),
        tower_evidence: new Array(c).fill(""),
        truth_name: new Array(c).fill(""),
        truth_cosine: new Float64Array(c).fill(NaN),
      });
    });
    stages.push(train, encode, evaluate, concepts, modality, bridge, labels);
    if (seed === 0) {
      // The map stage's layouts: PCA as the explorer computes it, a grid as "UMAP".
      const pm = pcaMap(dict, c, d);
      stages.push(
        await publish(cache, "map", `map[${id}]`, {}, { train }, async (dir) => {
          await writeTable(join(dir, "layout.parquet"), {
            concept: Int32Array.from({ length: c }, (_, j) => j),
            pca_x: Float64Array.from({ length: c }, (_, j) => pm.xy[2 * j]),
            pca_y: Float64Array.from({ length: c }, (_, j) => pm.xy[2 * j + 1]),
            umap_x: Float64Array.from({ length: c }, (_, j) => j % 6),
            umap_y: Float64Array.from({ length: c }, (_, j) => Math.floor(j / 6)),
          });
          await Deno.writeTextFile(
            join(dir, "summary.json"),
            JSON.stringify({ pca_variance: pm.variance }),
          );
        }),
      );
    }
    runs.push({ seed, trainKey: train.key, dict, codes, stats, bridgePairs: top });
  }
  // Match run 0 (a) with run 1 (b): run 1's concept q is a noisy copy of run 0's perm[q].
  const matchB = new Int32Array(c), matchCosine = new Float64Array(c);
  for (let q = 0; q < c; q++) {
    const j = perm[q];
    matchB[j] = q;
    let s = 0;
    for (let t = 0; t < d; t++) s += runs[0].dict[j * d + t] * runs[1].dict[q * d + t];
    matchCosine[j] = s;
  }
  const [t0, t1] = stages.filter((s) => s.stage === "train");
  for (const kx of opts.extraK ?? []) {
    const params = { method: "topk", k: kx, c, expansionFactor: 2, seed: 0, diet: "natural" };
    const id = `train[method=topk,k=${kx},seed=0,diet=natural]`;
    stages.push(
      await publish(cache, "train", id, { ...params, options: {} }, { diet }, async (dir) => {
        await writeDictionary(join(dir, "dictionary.parquet"), unitRows(new Rng(kx), c, d), c, d);
      }),
    );
  }
  const match = await publish(cache, "match", "match[seed 0 vs 1]", {}, {
    a: t0,
    b: t1,
    concepts_a: stages.find((s) => s.stage === "concepts")!,
  }, async (dir) => {
    await writeTable(join(dir, "matches.parquet"), {
      concept_a: Int32Array.from({ length: c }, (_, j) => j),
      concept_b: matchB,
      cosine: matchCosine,
      frequency: runs[0].stats.frequency,
      energy: runs[0].stats.energy,
    });
    await Deno.writeTextFile(join(dir, "stability.json"), "{}");
  });
  stages.push(match);
  const claims = [
    { claim: "unimodal_fraction", value: 0.42, null_value: 0.3, holds: true },
    { claim: "frequent_concepts_are_stable", value: 0.12, null_value: 0.01, holds: false },
  ];
  const record = {
    config,
    code_version: "fixture-1",
    stages: stages.map((s) => ({
      id: s.id,
      stage: s.stage,
      status: "ran",
      key: s.key,
      seconds: 1,
      reason: "new",
      dir: join(cache, s.stage, s.key),
    })),
    claims,
    validation: [{ check: "recovery", value: 0.9, threshold: 0.8, holds: true }],
  };
  await Deno.writeTextFile(join(cache, "last_run.json"), JSON.stringify(record, null, 2));
  return { cache, set, evalRows, c, d, k, runs, matchB, matchCosine };
}
