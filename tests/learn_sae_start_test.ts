/**
 * ReLU / JumpReLU start at the target ℓ0 (learn/sae/controller.ts `startAtTarget`): the start
 * thresholds keep q = round(B·target/c) rows of every concept; the first steps already code about
 * k per row and run on the sparse path (the plain start codes half of all entries, dense); on a
 * planted world the target start reaches the same ℓ0 with at least the plain start's R² and
 * planted recovery; the same seed gives bit-identical weights.
 */
import assert from "node:assert/strict";
import { createBackend } from "../kernels/select.ts";
import { fitSae } from "../learn/sae/mod.ts";
import { targetThresholds } from "../learn/sae/controller.ts";
import type { Backend } from "../kernels/backend.ts";
import { Rng } from "../data/random.ts";
import { plantedWorld, recoveredFraction } from "./helpers/planted_world.ts";

/** The CPU backend, counting the dense path's code op (`thresholdDense`, one call a dense step). */
async function countingBackend(): Promise<{ be: Backend; dense: () => number; close(): void }> {
  const base = await createBackend("cpu");
  let dense = 0;
  const be = new Proxy(base, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      if (prop === "thresholdDense") return (...a: unknown[]) => (dense++, v.apply(target, a));
      return v.bind(target);
    },
  });
  return { be, dense: () => dense, close: () => base.close() };
}

Deno.test("targetThresholds: each column keeps exactly q rows above its threshold", () => {
  const B = 200, c = 7;
  const pre = new Rng(4).fillNormal(new Float32Array(B * c));
  for (let j = 0; j < c; j++) for (let i = 0; i < B; i++) pre[i * c + j] += j - 3; // shifted columns
  for (const target of [0.05, 1, 2.4, 6.9]) {
    const { t, density } = targetThresholds(pre, B, c, target);
    const q = Math.max(1, Math.min(B - 1, Math.round(B * target / c)));
    assert.equal(density, q / B);
    for (let j = 0; j < c; j++) {
      let above = 0;
      for (let i = 0; i < B; i++) if (pre[i * c + j] > t[j]) above++;
      assert.equal(above, q, `target ${target}, column ${j}: ${above} rows above t`);
    }
  }
});

for (const method of ["relu", "jumprelu"] as const) {
  Deno.test(`sae ${method}: the target start codes ≈ k per row from the first step, on the sparse path`, async () => {
    const d = 32, c = 512, k = 4, B = 256, n = 4 * B;
    const x = new Rng(2).fillNormal(new Float32Array(n * d), 1 / Math.sqrt(d));
    const cb = await countingBackend();
    try {
      // four steps (two sync windows), one epoch: the log's ℓ0 is the first steps' ℓ0
      const o = { c, k, seed: 3, batchSize: B, epochs: 1, lr: 5e-3 };
      const f = await fitSae(method, x, n, d, o, cb.be);
      const l0 = f.log[0].l0;
      assert.ok(l0 > 0.5 * k && l0 < 2 * k, `${method}: ℓ0 of the first steps ${l0}, k ${k}`);
      // density k/c < 8 % (the default denseAbove): every step sparse
      assert.equal(cb.dense(), 0, `${method}: ${cb.dense()} of 4 steps dense`);
      // the plain start codes about half the entries and trains dense
      const plain = await fitSae(method, x, n, d, { ...o, startAtTarget: false }, cb.be);
      assert.ok(plain.log[0].l0 > 0.25 * c, `${method} plain start: ℓ0 ${plain.log[0].l0}`);
      assert.ok(cb.dense() >= 2, `${method} plain start: ${cb.dense()} dense steps`);
    } finally {
      cb.close();
    }
  });
}

// planted: 8192 rows of 4 of 64 directions in d = 64; c = 256, k = 4 (c·2% = 5.1 > k: sparse);
// denseAbove 0.02 (the default until train stage version 7) so that the plain start's dense
// phase is long enough to tell the starts apart
const world = plantedWorld({ n: 8192, d: 64, m: 64, s: 4, seed: 1 });
const study = { c: 256, k: 4, seed: 0, batchSize: 512, lr: 5e-3, epochs: 20, denseAbove: 0.02 };

for (const method of ["relu", "jumprelu"] as const) {
  Deno.test(`sae ${method}: the target start matches the plain start's ℓ0 with ≥ its R² and planted recovery, mostly sparse`, async () => {
    const cb = await countingBackend();
    try {
      const steps = (world.n / study.batchSize) * study.epochs;
      const fit = async (startAtTarget: boolean) => {
        const before = cb.dense();
        const f = await fitSae(
          method,
          world.x,
          world.n,
          world.d,
          { ...study, startAtTarget },
          cb.be,
        );
        const last = f.log[f.log.length - 1];
        const rec = recoveredFraction(world.directions, world.m, f.dictionary, f.c, f.d, 0.9);
        return {
          l0: last.l0,
          r2: last.r2,
          rec: rec.fraction,
          dense: (cb.dense() - before) / steps,
        };
      };
      const plain = await fit(false);
      const start = await fit(true);
      const msg = `${method}: target start ${JSON.stringify(start)}, plain ${
        JSON.stringify(plain)
      }`;
      assert.ok(Math.abs(start.l0 - study.k) <= 0.05 * study.k, msg);
      assert.ok(Math.abs(start.l0 - plain.l0) <= 0.05 * study.k, msg);
      assert.ok(start.r2 >= plain.r2 - 0.005, msg);
      assert.ok(start.rec >= plain.rec && start.rec >= 0.95, msg);
      assert.ok(start.dense <= 0.1 && plain.dense >= 0.2, msg);
    } finally {
      cb.close();
    }
  });

  Deno.test(`sae ${method}: the target start is deterministic (same seed, bit-identical weights)`, async () => {
    const b = await createBackend("cpu");
    try {
      const o = { ...study, epochs: 2 };
      const a = (await fitSae(method, world.x, world.n, world.d, o, b)).exportWeights();
      const a2 = (await fitSae(method, world.x, world.n, world.d, o, b)).exportWeights();
      for (const name of Object.keys(a.tensors)) {
        assert.deepEqual(a.tensors[name].data, a2.tensors[name].data, `${method} ${name}`);
      }
    } finally {
      b.close();
    }
  });
}
