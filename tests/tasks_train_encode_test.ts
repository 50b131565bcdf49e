import assert from "node:assert/strict";
import { testContext } from "./helpers/stage_context.ts";
import type { InputArtifact } from "../pipeline/stage.ts";
import type { EmbeddingSet, Modality, Split } from "../data/embeddings.ts";
import { readEmbeddings, writeEmbeddings } from "../data/embeddings_io.ts";
import { readDictionary } from "../data/dictionary_io.ts";
import { readCodes } from "../data/codes_io.ts";
import { readTable } from "../data/table_io.ts";
import { readSafetensors } from "../data/safetensors.ts";
import { Rng } from "../data/random.ts";
import { createBackend } from "../kernels/select.ts";
import { reconstructionR2 } from "../learn/metrics.ts";
import { trainParamsSchema, trainStage } from "../tasks/train.ts";
import { decodeAll, loadTrained } from "../learn/trained.ts";
import { encodeStage } from "../tasks/encode.ts";
import { evaluateStage } from "../tasks/evaluate.ts";
import { paretoParamsSchema, paretoStage } from "../tasks/pareto.ts";
import {
  resolvedTrainOptions,
  STUDY_SAE_DEAD_HANDLING,
  STUDY_SAE_WEIGHT_DECAY,
  trainGrid,
  trainSection,
} from "../tasks/config/train.ts";
import { parseMethodOptions } from "../learn/registry.ts";

function ctxOf<P>(
  id: string,
  params: P,
  outDir: string,
  inputs: Record<string, InputArtifact> = {},
  inputLists: Record<string, InputArtifact[]> = {},
) {
  const ctx = testContext(params, outDir, { id, inputs, inputLists });
  return { ctx, meta: ctx.meta };
}

function artifact(
  id: string,
  stage: string,
  dir: string,
  params: Record<string, unknown>,
  meta = {},
) {
  return { id, stage, key: "0".repeat(64), dir, params, meta } as InputArtifact;
}

/** Sparse non-negative mixtures of 12 planted unit directions in d = 16, split and modality set. */
function plantedSet(n: number, d: number, seed: number): EmbeddingSet {
  const rng = new Rng(seed);
  const m = 12;
  const dirs = new Float32Array(m * d);
  rng.fillNormal(dirs);
  const vectors = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let q = 0; q < 2; q++) {
      const j = rng.int(m);
      const w = 0.5 + rng.uniform();
      for (let t = 0; t < d; t++) vectors[i * d + t] += w * dirs[j * d + t];
    }
    let s = 0;
    for (let t = 0; t < d; t++) s += vectors[i * d + t] ** 2;
    for (let t = 0; t < d; t++) vectors[i * d + t] /= Math.sqrt(s);
  }
  const modality: Modality[] = Array.from(
    { length: n },
    (_, i) => (i % 3 === 0 ? "image" : "text"),
  );
  const split: Split[] = Array.from({ length: n }, (_, i) => (i % 5 === 0 ? "eval" : "train"));
  return {
    n,
    d,
    vectors,
    ids: Array.from({ length: n }, (_, i) => `r${i}`),
    pairIds: Array.from({ length: n }, (_, i) => `p${Math.floor(i / 3)}`),
    modality,
    split,
  };
}

Deno.test("train → encode → evaluate → pareto on a planted set, every method family", async () => {
  const root = await Deno.makeTempDir({ prefix: "atlas_train_" });
  try {
    const d = 16;
    const all = plantedSet(750, d, 1);
    await Deno.mkdir(`${root}/dataset`);
    await writeEmbeddings(`${root}/dataset/embeddings.parquet`, all);
    const trainRows = all.split.map((s, i) => (s === "train" ? i : -1)).filter((i) => i >= 0);
    const trainSet: EmbeddingSet = {
      n: trainRows.length,
      d,
      vectors: new Float32Array(
        trainRows.flatMap((i) => Array.from(all.vectors.subarray(i * d, (i + 1) * d))),
      ),
      ids: trainRows.map((i) => all.ids[i]),
      pairIds: trainRows.map((i) => all.pairIds[i]),
      modality: trainRows.map((i) => all.modality[i]),
      split: trainRows.map(() => "train" as const),
    };
    await Deno.mkdir(`${root}/diet`);
    await writeEmbeddings(`${root}/diet/embeddings.parquet`, trainSet);
    const dataset = artifact("dataset", "dataset", `${root}/dataset`, {});
    const diet = artifact("diet[natural]", "diet", `${root}/diet`, {});
    const evalN = all.split.filter((s) => s === "eval").length;
    const backend = await createBackend("cpu");
    const evaluations: InputArtifact[] = [];
    const runs = [
      { method: "topk", k: 2, options: { epochs: 10, batchSize: 128, lr: 0.01 } },
      { method: "batchtopk", k: 2, options: { epochs: 10, batchSize: 128, lr: 0.01 } },
      { method: "pca", k: 4, options: {} },
      { method: "kmeans", k: 1, options: {} },
      { method: "omp", k: 2, options: { iterations: 3 } },
      { method: "seminmf", k: 4, options: { iterations: 30, encodeIterations: 30 } },
    ];
    try {
      for (const r of runs) {
        const params = trainParamsSchema.parse({ ...r, c: 24, seed: 3 });
        const tDir = `${root}/train_${r.method}`;
        await Deno.mkdir(tDir);
        const t = ctxOf(`train[${r.method}]`, params, tDir, { diet });
        await trainStage.run(t.ctx);
        for (const f of trainStage.outputs) {
          assert.ok((await Deno.stat(`${tDir}/${f}`)).size > 0, f);
        }
        assert.equal(t.meta.method, r.method);
        assert.ok(String(t.meta.backend).startsWith("cpu"));
        // dictionary table = W_dec of the weights; unit rows
        const dict = await readDictionary(`${tDir}/dictionary.parquet`);
        const { tensors } = await readSafetensors(`${tDir}/weights.safetensors`);
        assert.deepEqual(dict.directions, tensors.W_dec.data);
        for (let j = 0; j < dict.c; j++) {
          let s = 0;
          for (let q = 0; q < d; q++) s += dict.directions[j * d + q] ** 2;
          assert.ok(Math.abs(s - 1) < 1e-4, `${r.method} row ${j} norm² ${s}`);
        }
        const log = await readTable(`${tDir}/log.parquet`);
        assert.ok((log.epoch as Int32Array).length >= 1);
        const trainArt = artifact(
          `train[${r.method}]`,
          "train",
          tDir,
          params as unknown as Record<string, unknown>,
        );

        const eDir = `${root}/encode_${r.method}`;
        await Deno.mkdir(eDir);
        const e = ctxOf(`encode[${r.method}]`, {}, eDir, { train: trainArt, dataset });
        await encodeStage.run(e.ctx);
        assert.equal(e.meta.rows, evalN);
        const z = await readCodes(`${eDir}/codes.parquet`, evalN, dict.c);
        if (r.method === "kmeans") {
          for (let i = 0; i < evalN; i++) assert.equal(z.rowPtr[i + 1] - z.rowPtr[i], 1);
        }
        if (r.method === "omp" || r.method === "topk") {
          for (let i = 0; i < evalN; i++) assert.equal(z.rowPtr[i + 1] - z.rowPtr[i], r.k);
        }

        const vDir = `${root}/evaluate_${r.method}`;
        await Deno.mkdir(vDir);
        const v = ctxOf(`evaluate[${r.method}]`, {}, vDir, {
          train: trainArt,
          encode: artifact(`encode[${r.method}]`, "encode", eDir, {}),
          dataset,
        });
        await evaluateStage.run(v.ctx);
        const metrics = JSON.parse(await Deno.readTextFile(`${vDir}/metrics.json`));
        // independent check of the pooled r2: decode the stored codes again
        const evalSet = await readEmbeddings(`${root}/dataset/embeddings.parquet`, {
          split: "eval",
        });
        const model = await loadTrained(tDir);
        const xhat = await decodeAll(model, z, backend);
        const ref = reconstructionR2(evalSet.vectors, xhat, evalN, d);
        assert.equal(metrics.scopes[0].scope, "pooled");
        assert.ok(Math.abs(metrics.scopes[0].r2 - ref.r2) < 1e-9);
        assert.equal(metrics.scopes[0].n_rows, evalN);
        assert.equal(metrics.scopes[1].n_rows + metrics.scopes[2].n_rows, evalN);
        assert.ok(metrics.scopes[0].r2 > 0.3, `${r.method} r2 ${metrics.scopes[0].r2}`);
        const table = await readTable(`${vDir}/metrics.parquet`);
        assert.deepEqual(table.scope, ["pooled", "image", "text"]);
        evaluations.push(artifact(`evaluate[${r.method}]`, "evaluate", vDir, {}));
      }
    } finally {
      backend.close();
    }
    const pDir = `${root}/pareto`;
    await Deno.mkdir(pDir);
    const p = ctxOf("pareto", paretoParamsSchema.parse({}), pDir, {}, { "runs*": evaluations });
    await paretoStage.run(p.ctx);
    const pt = await readTable(`${pDir}/pareto.parquet`);
    assert.equal((pt.method as string[]).length, runs.length);
    const svg = await Deno.readTextFile(`${pDir}/pareto.svg`);
    assert.ok(svg.startsWith("<svg") || svg.startsWith("<?xml"));
    for (const r of runs) assert.ok(svg.includes(r.method), `legend has ${r.method}`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("train: the same seed gives identical weights, another seed different ones", async () => {
  const root = await Deno.makeTempDir({ prefix: "atlas_seed_" });
  try {
    const set = plantedSet(300, 16, 2);
    set.split = set.split.map(() => "train" as const);
    await writeEmbeddings(`${root}/embeddings.parquet`, set);
    const diet = artifact("diet", "diet", root, {});
    const bytes: Uint8Array[] = [];
    for (const [i, seed] of [[0, 5], [1, 5], [2, 6]] as const) {
      for (const method of ["kmeans", "omp", "topk"]) {
        const dir = `${root}/t${i}_${method}`;
        await Deno.mkdir(dir);
        const params = trainParamsSchema.parse({
          method,
          k: 2,
          c: 20,
          seed,
          options: method === "topk" ? { epochs: 2, batchSize: 64 } : {},
        });
        await trainStage.run(ctxOf("train", params, dir, { diet }).ctx);
        bytes.push(await Deno.readFile(`${dir}/weights.safetensors`));
      }
    }
    for (let m = 0; m < 3; m++) {
      assert.deepEqual(bytes[m], bytes[3 + m], "same seed, same bytes");
      assert.notDeepEqual(bytes[m], bytes[6 + m], "another seed, other weights");
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("train: bad method options are one-line errors naming the option", async () => {
  const root = await Deno.makeTempDir({ prefix: "atlas_bad_" });
  try {
    const set = plantedSet(60, 16, 3);
    await writeEmbeddings(`${root}/embeddings.parquet`, set);
    const params = trainParamsSchema.parse({ method: "omp", k: 2, c: 8, options: { bogus: 1 } });
    await assert.rejects(
      () =>
        trainStage.run(
          ctxOf("train", params, root, { diet: artifact("diet", "diet", root, {}) }).ctx,
        ),
      (e: Error) =>
        e.name === "UserError" && /train\.options/.test(e.message) && !e.message.includes("\n"),
    );
    assert.throws(() => trainParamsSchema.parse({ method: "nope", k: 2 }));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("train config: a bad method option fails when the grid is built, naming the option and the nearest known one", () => {
  const bad = (options: Record<string, Record<string, unknown>>, re: RegExp) =>
    assert.throws(
      () => trainGrid(trainSection.parse({ methods: ["batchtopk", "omp"], options })),
      (e: Error) => e.name === "UserError" && re.test(e.message) && !e.message.includes("\n"),
    );
  bad(
    { batchtopk: { init: "rows" } },
    /^train\.options\.init: unknown option for method batchtopk \(did you mean initRows\?\)/,
  );
  bad({ batchtopk: { initRows: 2 } }, /^train\.options\.initRows: .* for method batchtopk/);
  bad({ omp: { bogus: 1 } }, /^train\.options\.bogus: unknown option for method omp; fix/);
  // options of a method the study does not train are not looked at (omp: 4 k × 3 seeds)
  const grid = trainGrid(trainSection.parse({ methods: ["omp"], options: { topk: { x: 1 } } }));
  assert.equal(grid.length, 12);
});

Deno.test("train config: defaults and the method × k × seed grid", () => {
  const s = trainSection.parse({});
  assert.deepEqual(s.k, [4, 8, 16, 32]);
  assert.equal(s.expansionFactor, 4);
  const grid = trainGrid(
    trainSection.parse({ methods: ["topk", "kmeans", "pca"], k: [8, 4], seeds: [0, 1] }),
  );
  assert.equal(grid.length, 2 * 2 + 1 * 2 + 2 * 2);
  assert.deepEqual(grid.filter((g) => g.method === "kmeans").map((g) => g.k), [4, 4]);
  assert.equal(grid.find((g) => g.method === "topk")!.options.epochs, s.epochs);
  assert.deepEqual(grid.find((g) => g.method === "pca")!.options, {});
  assert.throws(() => trainSection.parse({ methods: ["nope"] }));
});

Deno.test("train config: the k-sparse SAEs take the study's weight decay, relu method.md's; a given key wins", () => {
  const decayOf = (g: ReturnType<typeof trainGrid>, method: string) =>
    g.find((r) => r.method === method)!.options.weightDecay;
  const grid = trainGrid(trainSection.parse({}));
  for (const m of ["topk", "batchtopk", "matryoshka", "jumprelu"]) {
    assert.equal(decayOf(grid, m), STUDY_SAE_WEIGHT_DECAY, m);
    // and the method sees it: the validated options carry it
    assert.equal(parseMethodOptions(m, grid.find((r) => r.method === m)!.options).weightDecay, 1);
  }
  assert.equal(decayOf(grid, "relu"), undefined);
  assert.equal(
    parseMethodOptions("relu", grid.find((r) => r.method === "relu")!.options).weightDecay,
    1e-5,
  );
  const set = trainGrid(trainSection.parse({ options: { batchtopk: { weightDecay: 1e-5 } } }));
  assert.equal(decayOf(set, "batchtopk"), 1e-5);
  assert.equal(decayOf(set, "topk"), STUDY_SAE_WEIGHT_DECAY);
});

Deno.test("train config: the k-sparse SAEs take the study's dead-concept handling, relu the option defaults", () => {
  const grid = trainGrid(trainSection.parse({}));
  const dead = (m: string) => {
    const o = parseMethodOptions(m, grid.find((r) => r.method === m)!.options) as unknown as {
      deadAfterRows: number | null;
      auxCoefficient: number;
    };
    return [o.deadAfterRows, o.auxCoefficient];
  };
  for (const m of ["topk", "batchtopk", "matryoshka", "jumprelu"]) {
    assert.deepEqual(dead(m), [5000, 1 / 8], m);
  }
  assert.deepEqual(dead("relu"), [null, 1 / 32]);
});

Deno.test("train config: the resolved options (what `config` prints) show the study's defaults and build the same grid", () => {
  const section = trainSection.parse({
    methods: ["relu", "omp"],
    primary: { method: "batchtopk", k: 8 },
    options: { omp: { iterations: 3 }, pca: { width: "c" } },
  });
  const resolved = resolvedTrainOptions(section);
  assert.deepEqual(resolved, {
    omp: { fitRows: 2048, iterations: 3 }, // the given key wins
    pca: { width: "c" }, // given for a method the study does not train: kept as given
    // the primary's, though not in methods
    batchtopk: { weightDecay: STUDY_SAE_WEIGHT_DECAY, ...STUDY_SAE_DEAD_HANDLING },
  });
  for (const s of [section, { ...section, methods: ["batchtopk" as const] }]) {
    assert.deepEqual(trainGrid({ ...s, options: resolvedTrainOptions(s) }), trainGrid(s));
  }
});

Deno.test("scripts/load_weights.py reproduces the encoder of every method family (python3 + numpy)", async () => {
  let ok = false;
  try {
    ok =
      (await new Deno.Command("python3", { args: ["-c", "import numpy"], stderr: "null" }).output())
        .success;
  } catch {
    ok = false;
  }
  if (!ok) {
    console.log("skipped: python3 with numpy is not available");
    return;
  }
  const { encodeNpy } = await import("../data/npy.ts");
  const root = await Deno.makeTempDir({ prefix: "atlas_py_" });
  const backend = await createBackend("cpu");
  try {
    const d = 16;
    const set = plantedSet(240, d, 4);
    set.split = set.split.map(() => "train" as const);
    await writeEmbeddings(`${root}/embeddings.parquet`, set);
    const xs = set.vectors.subarray(0, 40 * d);
    await Deno.writeFile(`${root}/x.npy`, encodeNpy(xs.slice(), [40, d]));
    const diet = artifact("diet", "diet", root, {});
    const runs = [
      { method: "topk", k: 3, options: { epochs: 3, batchSize: 64, lr: 0.01 } },
      { method: "batchtopk", k: 3, options: { epochs: 3, batchSize: 64, lr: 0.01 } },
      { method: "jumprelu", k: 3, options: { epochs: 3, batchSize: 64, lr: 0.01 } },
      { method: "pca", k: 4, options: {} },
      { method: "kmeans", k: 1, options: {} },
      { method: "omp", k: 3, options: { iterations: 2 } },
      { method: "seminmf", k: 4, options: { iterations: 20, encodeIterations: 30 } },
    ];
    for (const r of runs) {
      const dir = `${root}/${r.method}`;
      await Deno.mkdir(dir);
      const params = trainParamsSchema.parse({ ...r, c: 24, seed: 1 });
      await trainStage.run(ctxOf("train", params, dir, { diet }).ctx);
      const model = await loadTrained(dir);
      const z = await model.encode(xs, 40, backend);
      const dense = new Float64Array(40 * model.c);
      for (let i = 0; i < 40; i++) {
        for (let e = z.rowPtr[i]; e < z.rowPtr[i + 1]; e++) {
          dense[i * model.c + z.index[e]] += z.value[e];
        }
      }
      const out = await new Deno.Command("python3", {
        args: ["scripts/load_weights.py", dir, `${root}/x.npy`, "--json"],
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      const py = JSON.parse(new TextDecoder().decode(out.stdout)).codes as number[][];
      let maxErr = 0;
      for (let i = 0; i < 40; i++) {
        for (let j = 0; j < model.c; j++) {
          maxErr = Math.max(maxErr, Math.abs(py[i][j] - dense[i * model.c + j]));
        }
      }
      assert.ok(dense.some((v) => v !== 0), `${r.method}: non-trivial codes`);
      assert.ok(maxErr < 2e-3, `${r.method}: python codes differ by ${maxErr}`);
    }
  } finally {
    backend.close();
    await Deno.remove(root, { recursive: true });
  }
});
