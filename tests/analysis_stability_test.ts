import assert from "node:assert/strict";
import { testArtifacts, testContext } from "./helpers/stage_context.ts";
import { Rng } from "../data/random.ts";
import { normalizedRows } from "../data/rows.ts";
import {
  matchDictionaries,
  similarityReference,
  stabilityReport,
  unitRowDeviation,
} from "../analysis/stability.ts";
import { randomDictionary } from "../analysis/null_dictionary.ts";
import { writeDictionary } from "../data/dictionary_io.ts";
import { readTable, writeTable } from "../data/table_io.ts";
import { UserError } from "../pipeline/errors.ts";
import { matchStage } from "../tasks/match.ts";
import { matchConfig } from "../tasks/config/analysis_match.ts";

function permuteRows(a: Float32Array, perm: Int32Array, d: number): Float32Array {
  const out = new Float32Array(perm.length * d);
  for (let r = 0; r < perm.length; r++) out.set(a.subarray(perm[r] * d, perm[r] * d + d), r * d);
  return out;
}

Deno.test("a dictionary matched with a permuted copy of itself has stability 1 and recovers the permutation", async () => {
  const c = 200, d = 24;
  const a = randomDictionary(c, d, 1);
  const perm = new Rng(2).permutation(c); // row r of b = row perm[r] of a
  const b = permuteRows(a, perm, d);
  const m = await matchDictionaries(a, c, b, c, d);
  assert.ok(Math.abs(m.stability - 1) < 1e-6, `stability ${m.stability}`);
  for (let r = 0; r < c; r++) {
    assert.equal(m.matchOfA[perm[r]], r);
    assert.equal(m.matchOfB[r], perm[r]);
  }
  for (let j = 0; j < c; j++) assert.ok(Math.abs(m.cosine[j] - 1) < 1e-6);
  assert.ok(m.solver.certified);
});

Deno.test("rectangular matching: a subset inside a larger dictionary, both orientations", async () => {
  const d = 16;
  const small = randomDictionary(60, d, 3);
  const extra = randomDictionary(40, d, 4);
  const perm = new Rng(5).permutation(100);
  const bigRaw = new Float32Array(100 * d);
  bigRaw.set(small);
  bigRaw.set(extra, 60 * d);
  const big = permuteRows(bigRaw, perm, d); // row r of big = row perm[r] of bigRaw
  const where = new Int32Array(100);
  for (let r = 0; r < 100; r++) where[perm[r]] = r;

  const m1 = await matchDictionaries(small, 60, big, 100, d);
  assert.ok(Math.abs(m1.stability - 1) < 1e-6);
  for (let j = 0; j < 60; j++) assert.equal(m1.matchOfA[j], where[j]);
  assert.equal(Array.from(m1.matchOfB).filter((x) => x === -1).length, 40);

  const m2 = await matchDictionaries(big, 100, small, 60, d);
  assert.ok(Math.abs(m2.stability - 1) < 1e-6, "mean over the matched pairs");
  let unmatched = 0;
  for (let r = 0; r < 100; r++) {
    if (perm[r] < 60) assert.equal(m2.matchOfA[r], perm[r]);
    else {
      assert.equal(m2.matchOfA[r], -1);
      assert.ok(Number.isNaN(m2.cosine[r]));
      unmatched++;
    }
  }
  assert.equal(unmatched, 40);
});

Deno.test("planted: stability rises with frequency deciles; report equals a direct computation", async () => {
  // B = A perturbed with noise that shrinks with the (planted) frequency of each concept.
  const c = 300, d = 32;
  const rng = new Rng(8);
  const a = randomDictionary(c, d, 9);
  const frequency = new Float64Array(c);
  const energy = new Float64Array(c);
  const bRaw = new Float32Array(c * d);
  for (let j = 0; j < c; j++) {
    frequency[j] = j < 20 ? 0 : rng.uniform(); // 20 dead concepts
    energy[j] = frequency[j] * (0.5 + rng.uniform());
    const noise = 1.5 * (1 - frequency[j]);
    for (let t = 0; t < d; t++) {
      bRaw[j * d + t] = a[j * d + t] + (noise * rng.normal()) / Math.sqrt(d);
    }
  }
  const b = normalizedRows(bRaw, c, d);
  assert.ok(unitRowDeviation(b, c, d) < 1e-6);
  const m = await matchDictionaries(a, c, b, c, d);
  const rep = stabilityReport(m, frequency, energy, { bins: 10, topN: 50 });
  assert.equal(rep.live, 280);
  assert.equal(rep.dead, 20);
  // Overall = mean of the matched cosines, recomputed from the similarity.
  const s = similarityReference(a, c, b, c, d);
  let tot = 0;
  for (let j = 0; j < c; j++) tot += s[j * c + m.matchOfA[j]];
  assert.ok(Math.abs(rep.overall - tot / c) < 1e-9);
  // Deciles of live concepts by frequency: 28 each, means from a direct sort.
  const live = Array.from({ length: c }, (_, j) => j).filter((j) => frequency[j] > 0);
  live.sort((x, y) => frequency[x] - frequency[y] || x - y);
  for (let q = 0; q < 10; q++) {
    const group = live.slice(q * 28, (q + 1) * 28);
    const want = group.reduce((acc, j) => acc + m.cosine[j], 0) / group.length;
    assert.equal(rep.byFrequency[q].count, 28);
    assert.ok(Math.abs(rep.byFrequency[q].mean - want) < 1e-12);
  }
  // The planted trend: the top decile is much more stable than the bottom one.
  assert.ok(
    rep.byFrequency[9].mean > rep.byFrequency[0].mean + 0.2,
    JSON.stringify(rep.byFrequency),
  );
  assert.ok(rep.byEnergy[9].mean > rep.byEnergy[0].mean);
  const top = live.slice(-50), rest = live.slice(0, -50);
  const mean = (g: number[]) => g.reduce((acc, j) => acc + m.cosine[j], 0) / g.length;
  assert.ok(Math.abs(rep.topN.meanTop - mean(top)) < 1e-12);
  assert.ok(Math.abs(rep.topN.meanRest - mean(rest)) < 1e-12);
  assert.ok(rep.topN.meanTop > rep.topN.meanRest);
  // includeDead puts the dead concepts in the lowest frequency bin.
  const withDead = stabilityReport(m, frequency, energy, { bins: 10, includeDead: true });
  assert.equal(withDead.byFrequency[0].count, 30);
  assert.equal(withDead.byFrequency[0].keyMin, 0);
});

// ---- the match stage, run with a hand-made StageContext ------------------------------------------

function stageCtx<P>(params: P, outDir: string, inputs: Record<string, string>) {
  const opts = { id: "match[test]", inputs: testArtifacts(inputs), partialDir: outDir };
  const ctx = testContext(params, outDir, opts);
  return { ctx, lines: ctx.lines };
}

Deno.test("match stage: permuted, noisier copy of run a; artifacts agree with the planted permutation", async () => {
  const root = await Deno.makeTempDir({ prefix: "match_stage_" });
  try {
    const cA = 120, cB = 150, d = 24;
    const rng = new Rng(21);
    const a = randomDictionary(cA, d, 22);
    // b = a's concepts (perturbed, more for rare ones) + 30 extra, rows shuffled
    const frequency = new Float64Array(cA), energy = new Float64Array(cA);
    const bRaw = new Float32Array(cB * d);
    bRaw.set(randomDictionary(cB, d, 23));
    for (let j = 0; j < cA; j++) {
      frequency[j] = j < 10 ? 0 : (j + 1) / cA;
      energy[j] = 2 * frequency[j];
      const noise = 0.8 * (1 - frequency[j]);
      for (let t = 0; t < d; t++) {
        bRaw[j * d + t] = a[j * d + t] + (noise * rng.normal()) / Math.sqrt(d);
      }
    }
    const perm = rng.permutation(cB);
    const b = permuteRows(normalizedRows(bRaw, cB, d), perm, d);
    const where = new Int32Array(cB);
    for (let r = 0; r < cB; r++) where[perm[r]] = r;
    for (const dir of ["a", "b", "ca", "out", "bad"]) await Deno.mkdir(`${root}/${dir}`);
    await writeDictionary(`${root}/a/dictionary.parquet`, a, cA, d);
    await writeDictionary(`${root}/b/dictionary.parquet`, b, cB, d);
    await writeTable(`${root}/ca/concepts.parquet`, {
      concept: Int32Array.from({ length: cA }, (_, j) => cA - 1 - j), // any row order
      frequency: frequency.slice().reverse(),
      energy: energy.slice().reverse(),
    });
    const p = matchConfig.parse({ topN: 30 });
    const { ctx } = stageCtx(p, `${root}/out`, {
      a: `${root}/a`,
      b: `${root}/b`,
      concepts_a: `${root}/ca`,
    });
    await matchStage.run(ctx);
    for (const f of matchStage.outputs) await Deno.stat(`${root}/out/${f}`);
    const want = await matchDictionaries(a, cA, b, cB, d);
    const t = await readTable(`${root}/out/matches.parquet`, {
      concept_a: "i32",
      concept_b: "i32",
      cosine: "f64",
      frequency: "f64",
    });
    let planted = 0;
    for (let j = 0; j < cA; j++) {
      assert.equal(t.concept_a[j], j);
      assert.equal(t.concept_b[j], want.matchOfA[j]);
      assert.ok(Math.abs(t.cosine[j] - want.cosine[j]) < 1e-5);
      assert.equal(t.frequency[j], frequency[j]);
      if (t.concept_b[j] === where[j]) planted++;
    }
    assert.ok(planted >= 0.9 * cA, `planted partners recovered: ${planted}/${cA}`);
    const s = JSON.parse(await Deno.readTextFile(`${root}/out/stability.json`));
    assert.ok(Math.abs(s.overall - want.stability) < 1e-5);
    assert.equal(s.matched, cA);
    assert.equal(s.live, cA - 10);
    assert.equal(s.by_frequency.length, 10);
    assert.equal(s.solver.certified, true);
    assert.ok(s.by_frequency[9].mean_cosine > s.by_frequency[0].mean_cosine);
    assert.ok(s.top_n.gap > 0);
    assert.match(await Deno.readTextFile(`${root}/out/stability_vs_frequency.svg`), /^<svg/);

    // concepts_a of another run (wrong size) is refused, naming the file.
    const bad = stageCtx(p, `${root}/bad`, {
      a: `${root}/b`,
      b: `${root}/a`,
      concepts_a: `${root}/ca`,
    });
    await assert.rejects(() => matchStage.run(bad.ctx), (e: Error) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /concepts\.parquet: 120 concepts but .* has 150/);
      return true;
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
