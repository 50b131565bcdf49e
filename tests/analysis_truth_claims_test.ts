import assert from "node:assert/strict";
import { testArtifact, testContext } from "./helpers/stage_context.ts";
import { exists, missing } from "./helpers/prerequisites.ts";
import { Rng } from "../data/random.ts";
import { assignSplits } from "../data/splits.ts";
import { generateWorld } from "../data/synthetic_world.ts";
import { worldSection } from "../tasks/config/dataset.ts";
import { writeEmbeddings } from "../data/embeddings_io.ts";
import { writeGroundTruth } from "../data/ground_truth_io.ts";
import { writeDictionary } from "../data/dictionary_io.ts";
import { writeCodes } from "../data/codes_io.ts";
import { readTable, writeTable } from "../data/table_io.ts";
import {
  bridgeConfig,
  claimsConfig,
  modalityConfig,
  validateConfig,
} from "../tasks/config/analysis.ts";
import { modalityStage } from "../tasks/modality.ts";
import { bridgeStage } from "../tasks/bridge.ts";
import { validateStage } from "../tasks/validate.ts";
import { claimsStage } from "../tasks/claims.ts";
import type { GroundTruth } from "../data/ground_truth.ts";
import type { Modality } from "../data/embeddings.ts";
import type { HostSparseCodes } from "../learn/learner.ts";
import { encodeTopK, randomDictionary } from "../analysis/null_dictionary.ts";
import { bridgeScores, pairCodes } from "../analysis/bridge.ts";
import {
  bridgeTwinPrecision,
  check,
  plantedModalityScores,
  plantedStabilityGap,
  recoveredFraction,
  unimodalFractionOf,
} from "../analysis/truth_checks.ts";
import {
  bridgeClaim,
  dominatedFraction,
  frequencyStabilityGap,
  median,
  orthogonalityClaim,
  paretoClaim,
  unimodalClaim,
} from "../analysis/claims.ts";

/** Independent modality score from codes: E_img[z_j] / (E_img[z_j] + E_txt[z_j]). */
function modalityScores(z: HostSparseCodes, modality: Modality[]): Float64Array {
  const si = new Float64Array(z.cols), st = new Float64Array(z.cols);
  const ni = modality.filter((m) => m === "image").length, nt = modality.length - ni;
  for (let r = 0; r < z.rows; r++) {
    for (let e = z.rowPtr[r]; e < z.rowPtr[r + 1]; e++) {
      if (modality[r] === "image") si[z.index[e]] += z.value[e] / ni;
      else st[z.index[e]] += z.value[e] / nt;
    }
  }
  return si.map((a, j) => (a + st[j] > 0 ? a / (a + st[j]) : NaN));
}

/**
 * A small planted world: `twins` shared concepts (image direction 2t, text direction 2t+1,
 * cos ≈ 0.4), `solo` image-only and `solo` text-only concepts, Zipf-like frequencies; every image
 * has one caption. Rows use 3 active directions of their modality.
 */
function plantedWorld(seed: number) {
  const d = 48, twins = 8, solo = 4;
  const rng = new Rng(seed);
  const base = randomDictionary(2 * twins + 2 * solo, d, seed + 100);
  const m = 2 * twins + 2 * solo;
  const dirs = new Float32Array(m * d);
  const directionConcept = new Int32Array(m);
  const directionModality: Modality[] = [];
  const conceptKind: ("shared" | "image" | "text")[] = [];
  const twinsList: [number, number][] = [];
  for (let t = 0; t < twins; t++) {
    for (let q = 0; q < d; q++) {
      dirs[2 * t * d + q] = base[2 * t * d + q];
      dirs[(2 * t + 1) * d + q] = 0.4 * base[2 * t * d + q] + 0.9165 * base[(2 * t + 1) * d + q];
    }
    directionConcept[2 * t] = t;
    directionConcept[2 * t + 1] = t;
    directionModality.push("image", "text");
    conceptKind.push("shared");
    twinsList.push([2 * t, 2 * t + 1]);
  }
  for (let s = 0; s < 2 * solo; s++) {
    const p = 2 * twins + s;
    dirs.set(base.subarray(p * d, (p + 1) * d), p * d);
    directionConcept[p] = twins + s;
    directionModality.push(s < solo ? "image" : "text");
    conceptKind.push(s < solo ? "image" : "text");
  }
  for (let p = 0; p < m; p++) {
    let nn = 0;
    for (let q = 0; q < d; q++) nn += dirs[p * d + q] ** 2;
    for (let q = 0; q < d; q++) dirs[p * d + q] /= Math.sqrt(nn);
  }
  const nConcepts = twins + 2 * solo;
  const conceptFrequency = Float64Array.from(
    { length: nConcepts },
    (_, j) => 0.6 / (1 + (j % twins)),
  );
  const images = 300;
  const vectors: number[] = [];
  const modality: Modality[] = [];
  const pairIds: string[] = [];
  const rowPtr = [0];
  const index: number[] = [];
  const value: number[] = [];
  const pick = (pool: number[], k: number) => {
    const w = pool.map((p) => conceptFrequency[directionConcept[p]]);
    const chosen = new Set<number>();
    while (chosen.size < k) {
      let u = rng.uniform() * w.reduce((a, b) => a + b, 0);
      let q = 0;
      while (u > w[q]) u -= w[q++];
      chosen.add(pool[Math.min(q, pool.length - 1)]);
    }
    return [...chosen];
  };
  const emit = (active: number[], mod: Modality, pid: string) => {
    const v = new Float64Array(d);
    for (const p of active) {
      const a = 0.5 + rng.uniform();
      index.push(p);
      value.push(a);
      for (let q = 0; q < d; q++) v[q] += a * dirs[p * d + q];
    }
    for (let q = 0; q < d; q++) v[q] += 0.03 * rng.normal();
    vectors.push(...v);
    modality.push(mod);
    pairIds.push(pid);
    rowPtr.push(index.length);
  };
  const twinImg = [...Array(twins).keys()].map((t) => 2 * t);
  const soloImg = [...Array(solo).keys()].map((s) => 2 * twins + s);
  const soloTxt = [...Array(solo).keys()].map((s) => 2 * twins + solo + s);
  for (let i = 0; i < images; i++) {
    const shared = pick(twinImg, 2);
    const si = pick(soloImg, 1), st = pick(soloTxt, 1);
    emit([...shared, ...si], "image", `img${i}`);
    emit([...shared.map((p) => p + 1), ...st], "text", `img${i}`);
  }
  const truth: GroundTruth = {
    d,
    m,
    directions: dirs,
    directionConcept,
    directionModality,
    conceptKind,
    conceptFrequency,
    twins: twinsList,
    twinCosine: Float64Array.from(twinsList.map(() => 0.4)),
    rowActive: {
      rowPtr: Int32Array.from(rowPtr),
      index: Int32Array.from(index),
      value: Float32Array.from(value),
    },
  };
  return {
    truth,
    x: Float32Array.from(vectors),
    n: modality.length,
    modality,
    pairIds,
    twins,
    solo,
  };
}

/** Rows of `dict` rotated toward random directions by angle with cosine `cos` (unit rows). */
function perturb(
  dict: Float32Array,
  c: number,
  d: number,
  cos: number,
  seed: number,
): Float32Array {
  const noise = randomDictionary(c, d, seed);
  const out = new Float32Array(c * d);
  for (let j = 0; j < c; j++) {
    let dot = 0;
    for (let q = 0; q < d; q++) dot += noise[j * d + q] * dict[j * d + q];
    let nn = 0;
    const o = new Float64Array(d);
    for (let q = 0; q < d; q++) {
      o[q] = noise[j * d + q] - dot * dict[j * d + q];
      nn += o[q] * o[q];
    }
    const sin = Math.sqrt(1 - cos * cos);
    for (let q = 0; q < d; q++) {
      out[j * d + q] = cos * dict[j * d + q] + (sin * o[q]) / Math.sqrt(nn);
    }
  }
  return out;
}

Deno.test("planted image-only concepts get a modality score near 1 (and text-only near 0)", () => {
  const w = plantedWorld(1);
  const { truth } = w;
  const planted = plantedModalityScores(truth, w.modality);
  for (let p = 0; p < truth.m; p++) {
    assert.equal(planted[p], truth.directionModality[p] === "image" ? 1 : 0, `planted ${p}`);
  }
  // Learned stand-in: the planted dictionary slightly perturbed, codes by top-3 encoding.
  const dict = perturb(truth.directions, truth.m, truth.d, 0.97, 5);
  const codes = encodeTopK(w.x, w.n, truth.d, dict, truth.m, 3);
  const m = modalityScores(codes, w.modality);
  for (let p = 0; p < truth.m; p++) {
    const kind = truth.conceptKind[truth.directionConcept[p]];
    if (kind === "image") assert.ok(m[p] > 0.9, `image-only ${p}: ${m[p]}`);
    if (kind === "text") assert.ok(m[p] < 0.1, `text-only ${p}: ${m[p]}`);
  }
  assert.equal(unimodalFractionOf([0.01, 0.5, NaN, 0.99], 0.05), 2 / 3);
});

Deno.test("recovery: a perturbed planted dictionary is recovered, a random one is not", () => {
  const { truth } = plantedWorld(2);
  const good = perturb(truth.directions, truth.m, truth.d, 0.95, 3);
  assert.equal(recoveredFraction(truth, good, truth.m, 0.9), 1);
  const bad = perturb(truth.directions, truth.m, truth.d, 0.85, 3);
  assert.equal(recoveredFraction(truth, bad, truth.m, 0.9), 0);
  assert.ok(recoveredFraction(truth, randomDictionary(200, truth.d, 1), 200, 0.9) === 0);
  assert.deepEqual(check("planted_recovered", 1, 0.9), {
    check: "planted_recovered",
    value: 1,
    threshold: 0.9,
    holds: true,
  });
  assert.equal(check("gap", 0.2, 0.1, "atMost").holds, false);
  assert.equal(check("nan", NaN, 0.1).holds, false);
});

Deno.test("planted stability gap equals its closed form", () => {
  const { truth } = plantedWorld(3);
  const { m, d } = truth;
  // Run A: exact. Run B: frequent directions exact, rare directions rotated to cos 0.8.
  const freq = Array.from(
    { length: m },
    (_, p) => truth.conceptFrequency[truth.directionConcept[p]],
  );
  const med = [...freq].sort((a, b) => a - b)[m >> 1];
  const rot = perturb(truth.directions, m, d, 0.92, 8);
  const b = new Float32Array(truth.directions);
  let nRare = 0;
  for (let p = 0; p < m; p++) {
    if (freq[p] < med) {
      b.set(rot.subarray(p * d, (p + 1) * d), p * d);
      nRare++;
    }
  }
  assert.ok(nRare > 0);
  const r = plantedStabilityGap(truth, [{ dict: truth.directions, c: m }, { dict: b, c: m }]);
  assert.ok(Math.abs(r.frequent - 1) < 1e-5, `frequent ${r.frequent}`);
  assert.ok(Math.abs(r.rare - 0.92) < 1e-5, `rare ${r.rare}`);
  assert.ok(Math.abs(r.gap - 0.08) < 1e-5);
});

Deno.test("bridge on the planted world: precision@N against planted twins", () => {
  const w = plantedWorld(4);
  const { truth } = w;
  const dict = perturb(truth.directions, truth.m, truth.d, 0.97, 6);
  const codes = encodeTopK(w.x, w.n, truth.d, dict, truth.m, 3);
  const m = modalityScores(codes, w.modality);
  const N = w.twins;
  const r = bridgeScores(pairCodes(codes, w.pairIds, w.modality), dict, truth.m, truth.d, {
    modalityScore: m,
    topN: N,
  });
  const precision = bridgeTwinPrecision(truth, dict, truth.m, r.top, N, 0.9);
  assert.ok(precision >= 0.75, `precision@${N} = ${precision}`);
  // A shuffled ranking of the same concepts scores lower.
  const wrong = r.top.map((p, q) => ({ i: p.i, j: r.top[(q + 1) % r.top.length].j }));
  assert.ok(bridgeTwinPrecision(truth, dict, truth.m, wrong, N, 0.9) < precision);
});

Deno.test("claims: Pareto dominance, frequency–stability gap, medians, rules", () => {
  const pts = [
    { method: "topk", l0: 8, r2: 0.8 },
    { method: "topk", l0: 16, r2: 0.9 },
    { method: "pca", l0: 16, r2: 0.85 }, // dominated by topk@16 (and topk@8? l0 8 ≤ 16, r2 0.8 < 0.85: no)
    { method: "kmeans", l0: 1, r2: 0.3 }, // not dominated (ℓ0 1 is lower)
  ];
  assert.equal(dominatedFraction(pts.slice(0, 2), pts.slice(2)), 0.5);
  const pc = paretoClaim(pts, [{ method: "null", l0: 16, r2: 0.2 }]);
  assert.equal(pc.value, 0.5);
  assert.equal(pc.null_value, 0);
  assert.equal(pc.holds, true);
  // Gap: top-2 by frequency have stability 0.9, 0.7; rest 0.2, 0.4, 0.3.
  const g = frequencyStabilityGap([0.2, 0.9, 0.4, 0.7, 0.3], [0.1, 0.9, 0.2, 0.5, NaN], 2);
  assert.ok(Math.abs(g - (0.8 - 0.3)) < 1e-12);
  assert.equal(median([3, 1, NaN, 2, 10]), 2.5);
  assert.equal(unimodalClaim(0.7, 0.72).holds, false);
  assert.equal(unimodalClaim(0.7, 0.4).holds, true);
  const oc = orthogonalityClaim([0.01, 0.02, 0.5, NaN], [0.01, 0.01, 0.01]);
  assert.ok(Math.abs(oc.value - 2 / 3) < 1e-12 && oc.null_value === 1 && !oc.holds);
  assert.equal(bridgeClaim([], []).holds, false);
  assert.equal(bridgeClaim([0.02, 0.04], [0.01]).holds, true);
});

const COCO_NPY = new URL(
  "../../shared/data/coco500-clip-vitb16/image_text_embeddings.npy",
  import.meta.url,
);

Deno.test({
  name:
    "COCO-500 CLIP: a random 256-direction top-8 dictionary gives a U-shaped modality histogram",
  ignore: missing("coco500", await exists(COCO_NPY)),
}, async () => {
  const buf = await Deno.readFile(COCO_NPY);
  const hlen = buf[8] | (buf[9] << 8);
  const x = new Float32Array(buf.slice(10 + hlen).buffer);
  const n = 1000, d = 512;
  assert.equal(x.length, n * d);
  const modality: Modality[] = Array.from({ length: n }, (_, r) => (r < 500 ? "image" : "text"));
  // The documented setting: the eval split of the dataset stage (20% of pairs, split seed 0).
  const split = assignSplits(Array.from({ length: n }, (_, r) => `p${r % 500}`), 0.2, 0);
  const evalRows = modality.map((_, r) => r).filter((r) => split[r] === "eval");
  const xe = new Float32Array(evalRows.length * d);
  evalRows.forEach((r, q) => xe.set(x.subarray(r * d, (r + 1) * d), q * d));
  const me = evalRows.map((r) => modality[r]);
  for (
    const [label, rows, xs, mods] of [["all", n, x, modality], [
      "eval",
      evalRows.length,
      xe,
      me,
    ]] as const
  ) {
    for (const seed of [0, 1, 2]) {
      const codes = encodeTopK(xs, rows, d, randomDictionary(256, d, seed), 256, 8);
      const m = modalityScores(codes, [...mods]);
      const hist = new Array(10).fill(0);
      let live = 0;
      for (const v of m) {
        if (Number.isNaN(v)) continue;
        live++;
        hist[Math.min(9, Math.floor(v * 10))]++;
      }
      // U shape: each extreme decile holds ≥ 25% of live concepts, each inner decile < 10%.
      const where = `${label} seed ${seed}: histogram ${hist} of ${live} live`;
      assert.ok(hist[0] >= 0.25 * live && hist[9] >= 0.25 * live, where);
      for (let b = 1; b < 9; b++) assert.ok(hist[b] < 0.1 * live, where);
      if (label === "eval") assert.ok(live >= 140 && live <= 190, where); // documented: 160
    }
  }
});

// ---- stages end to end on a planted world -------------------------------------------------------

function fakeCtx<P>(
  params: P,
  outDir: string,
  inputs: Record<string, string>,
  inputLists: Record<string, string[]> = {},
  inputParams: Record<string, Record<string, unknown>> = {},
) {
  const art = (role: string, dir: string) =>
    testArtifact(role, dir, inputParams[role], inputParams[role]);
  return testContext(params, outDir, {
    inputs: Object.fromEntries(Object.entries(inputs).map(([r, d]) => [r, art(r, d)])),
    inputLists: Object.fromEntries(
      Object.entries(inputLists).map(([r, ds]) => [r, ds.map((d) => art(r, d))]),
    ),
    partialDir: outDir,
  });
}

Deno.test("stages modality, bridge, validate and claims run end to end on a planted world", async () => {
  const root = await Deno.makeTempDir({ prefix: "analysis_stages_" });
  try {
    const w = plantedWorld(11);
    const { truth } = w;
    const d = truth.d, c = truth.m;
    const mk = async (name: string) => {
      const p = `${root}/${name}`;
      await Deno.mkdir(p);
      return p;
    };
    // dataset: every row eval (the pairs are the rows), truth tables beside.
    const dsDir = await mk("dataset");
    await writeEmbeddings(`${dsDir}/embeddings.parquet`, {
      n: w.n,
      d,
      vectors: w.x,
      ids: w.modality.map((m, r) => `${m}${r}`),
      pairIds: w.pairIds,
      modality: w.modality,
      split: w.modality.map((_, r) => ((r >> 1) % 4 === 0 ? "train" : "eval")),
    });
    await writeGroundTruth(dsDir, truth);
    const evalRows = w.modality.map((_, r) => r).filter((r) => (r >> 1) % 4 !== 0);
    const xEval = new Float32Array(evalRows.length * d);
    evalRows.forEach((r, q) => xEval.set(w.x.subarray(r * d, (r + 1) * d), q * d));
    const modEval = evalRows.map((r) => w.modality[r]);
    // Two "seeds": the planted dictionary perturbed two ways.
    const trainDirs: string[] = [];
    for (const seed of [1, 2]) {
      const dir = await mk(`train${seed}`);
      await writeDictionary(
        `${dir}/dictionary.parquet`,
        perturb(truth.directions, c, d, 0.97, seed),
        c,
        d,
      );
      trainDirs.push(dir);
    }
    const dict = perturb(truth.directions, c, d, 0.97, 1);
    const codes = encodeTopK(xEval, evalRows.length, d, dict, c, 3);
    const encDir = await mk("encode");
    await writeCodes(`${encDir}/codes.parquet`, codes);
    const m = modalityScores(codes, modEval);
    const conDir = await mk("concepts");
    const freq = new Float64Array(c);
    for (let e = 0; e < codes.rowPtr[codes.rows]; e++) freq[codes.index[e]] += 1 / codes.rows;
    await writeTable(`${conDir}/concepts.parquet`, {
      concept: Int32Array.from({ length: c }, (_, j) => j),
      frequency: freq,
      modality_score: m,
    });

    const modDir = await mk("modality");
    const mctx = fakeCtx(
      modalityConfig.parse({ randomDirections: 16 }),
      modDir,
      {
        train: trainDirs[0],
        dataset: dsDir,
      },
      {},
      { train: { k: 3 } },
    );
    await modalityStage.run(mctx);
    const summary = JSON.parse(await Deno.readTextFile(`${modDir}/summary.json`));
    assert.equal(summary.c, c);
    assert.ok(summary.probe_auroc > 0.9, `probe AUROC ${summary.probe_auroc}`);
    const cls = await readTable(`${modDir}/classifier.parquet`);
    assert.equal((cls.kind as string[]).filter((k) => k === "learned").length, c);

    const brDir = await mk("bridge");
    await bridgeStage.run(fakeCtx(
      bridgeConfig.parse({ topN: 8 }),
      brDir,
      {
        train: trainDirs[0],
        encode: encDir,
        dataset: dsDir,
        concepts: conDir,
      },
      {},
      { train: { k: 3 } },
    ));
    const pairs = await readTable(`${brDir}/bridge_pairs.parquet`, {
      concept_image: "i32",
      concept_text: "i32",
    });
    assert.equal(pairs.concept_image.length, 8);

    const valDir = await mk("validate");
    await validateStage.run(fakeCtx(validateConfig.parse({ bridgeN: 8 }), valDir, {
      dataset: dsDir,
      "concepts?": conDir,
      "bridge?": brDir,
    }, { "runs*": trainDirs }));
    const checks = JSON.parse(await Deno.readTextFile(`${valDir}/validation.json`));
    const byName = Object.fromEntries(checks.map((x: { check: string }) => [x.check, x]));
    assert.deepEqual(Object.keys(byName).sort(), [
      "bridge_twin_precision",
      "planted_recovered",
      "stability_frequent_minus_rare",
      "unimodal_fraction_gap",
    ]);
    assert.equal(byName.planted_recovered.value, 1);
    assert.ok(byName.bridge_twin_precision.value >= 0.75, JSON.stringify(byName));

    // Claims with every input kind.
    const matchDir = await mk("match");
    await writeTable(`${matchDir}/matches.parquet`, {
      concept_a: Int32Array.from({ length: c }, (_, j) => j),
      concept_b: Int32Array.from({ length: c }, (_, j) => j),
      cosine: Float64Array.from(freq, (f) => 0.5 + f), // frequent ⇒ more stable
      frequency: freq,
      energy: freq.slice(), // (a column sharing another column's array fails in writeTable)
    });
    const evalDirs: string[] = [];
    for (
      const [method, l0, r2] of [["topk", 3, 0.9], ["pca", 3, 0.7], ["kmeans", 1, 0.2]] as const
    ) {
      const dir = await mk(`eval_${method}`);
      await writeTable(`${dir}/metrics.parquet`, {
        scope: ["pooled", "image", "text"],
        r2: Float64Array.from([r2, r2, r2]),
        l0: Float64Array.from([l0, l0, l0]),
      });
      evalDirs.push(dir);
    }
    const clDir = await mk("claims");
    const cctx = fakeCtx(claimsConfig.parse({ stabilityTopN: 8 }), clDir, {
      "concepts?": conDir,
      "modality?": modDir,
      "bridge?": brDir,
      "dataset?": dsDir,
    }, { "evaluations*": evalDirs, "seedMatches*": [matchDir], "dietMatches*": [] });
    for (const [q, e] of cctx.inputLists.evaluations.entries()) {
      e.meta = { method: ["topk", "pca", "kmeans"][q] };
    }
    await claimsStage.run(cctx);
    const claims = JSON.parse(await Deno.readTextFile(`${clDir}/claims.json`));
    const names = claims.map((x: { claim: string }) => x.claim);
    assert.deepEqual(names, [
      "saes_beat_baselines_on_pareto",
      "frequent_more_stable_across_seeds",
      "concepts_nearly_orthogonal_to_modality_subspace",
      "concepts_poor_modality_classifiers",
      "most_concepts_unimodal",
      "bridges_between_unimodal_concepts",
    ]);
    const pareto = claims[0];
    assert.equal(pareto.value, 0.5); // pca dominated, kmeans (ℓ0 1) not
    const stab = claims[1];
    assert.ok(stab.value > 0 && stab.holds, JSON.stringify(stab));
    for (const cl of claims) assert.ok(typeof cl.holds === "boolean" && Number.isFinite(cl.value));
    assert.ok(cctx.lines.some((l) => l.includes("diets")), "diet claim reported as left out");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the synthetic world's planted image-only directions score 1, text-only 0 (plantedModalityScores)", () => {
  const { truth, set } = generateWorld({ ...worldSection.parse({}), images: 200 }, 3);
  const planted = plantedModalityScores(truth, set.modality);
  let image = 0, text = 0;
  for (let p = 0; p < truth.m; p++) {
    const kind = truth.conceptKind[truth.directionConcept[p]];
    if (Number.isNaN(planted[p])) continue; // a rare direction may never fire in 200 images
    if (kind === "image") {
      assert.equal(planted[p], 1);
      image++;
    }
    if (kind === "text") {
      assert.equal(planted[p], 0);
      text++;
    }
    if (kind === "shared") assert.equal(planted[p], truth.directionModality[p] === "image" ? 1 : 0);
  }
  assert.ok(image > 0 && text > 0);
  for (const [a, b] of truth.twins) {
    assert.equal(truth.directionModality[a], "image");
    assert.equal(truth.directionModality[b], "text");
  }
});
