/**
 * SAE sparsity rules (learn/sae): BatchTopK's calibrated inference threshold gives ℓ0 ≈ k on
 * training and on fresh eval rows, at several k and in a short run (where a lagging running
 * estimate misses); the relu λ and jumprelu ℓ0-penalty controllers reach their target ℓ0 within
 * the default budget from their data-scaled start. Planted world: d = 32, 4000 rows, c = 64.
 */
import assert from "node:assert/strict";
import { createBackend } from "../kernels/select.ts";
import { fitSae, type SaeMethod } from "../learn/sae/mod.ts";
import type { Backend } from "../kernels/backend.ts";
import { plantedWorld } from "./helpers/planted_world.ts";

const world = plantedWorld({ n: 4000, d: 32, m: 32, s: 3, seed: 1 });
const fresh = plantedWorld({ n: 2000, d: 32, m: 32, s: 3, seed: 1, rowSeed: 7 });
const base = { c: 64, seed: 0, batchSize: 256, lr: 3e-3 };

async function withBackend<T>(f: (b: Backend) => Promise<T>): Promise<T> {
  const b = await createBackend("cpu");
  try {
    return await f(b);
  } finally {
    b.close();
  }
}

async function l0Of(
  f: Awaited<ReturnType<typeof fitSae>>,
  x: Float32Array,
  n: number,
  b: Backend,
): Promise<number> {
  const z = await f.encode(x, n, b);
  return z.rowPtr[z.rows] / z.rows;
}

for (const k of [2, 4, 8]) {
  Deno.test(`sae batchtopk k=${k}: the calibrated θ gives ℓ0 within 3% of k on training rows, 10% on eval rows`, async () => {
    await withBackend(async (b) => {
      // 10 epochs = 150 steps: shorter than the running estimate's memory (1/α = 100 steps
      // after a running mean), so only the final calibration lands on k
      const f = await fitSae("batchtopk", world.x, world.n, world.d, { ...base, k, epochs: 10 }, b);
      for (const e of f.log) assert.equal(e.l0, k, `training ℓ0 ${e.l0}`);
      const train = await l0Of(f, world.x, world.n, b);
      assert.ok(Math.abs(train - k) <= 0.03 * k, `train-row ℓ0 ${train} vs k ${k}`);
      const evalL0 = await l0Of(f, fresh.x, fresh.n, b);
      assert.ok(Math.abs(evalL0 - k) <= 0.1 * k, `eval ℓ0 ${evalL0} vs k ${k}`);
    });
  });
}

Deno.test("sae batchtopk: thresholdCalibration 'running' keeps the running estimate (θ differs from the calibrated one)", async () => {
  await withBackend(async (b) => {
    const o = { ...base, k: 4, epochs: 3 };
    const cal = await fitSae("batchtopk", world.x, world.n, world.d, o, b);
    const run = await fitSae("batchtopk", world.x, world.n, world.d, {
      ...o,
      thresholdCalibration: "running",
    }, b);
    const tc = cal.exportWeights().tensors.threshold.data[0];
    const tr = run.exportWeights().tensors.threshold.data[0];
    // same weights, different θ; the logged running estimate equals the running θ
    assert.deepEqual(cal.dictionary, run.dictionary);
    assert.notEqual(tc, tr);
    assert.ok(Math.abs(run.log[run.log.length - 1].extra!.threshold - tr) < 1e-7);
  });
});

const controlCases: [SaeMethod, number][] = [["relu", 4], ["relu", 12], ["jumprelu", 4], [
  "jumprelu",
  12,
]];
for (const [method, target] of controlCases) {
  Deno.test(`sae ${method}: the controller reaches target ℓ0 ${target} within 25% in the default budget`, async () => {
    await withBackend(async (b) => {
      const f = await fitSae(method, world.x, world.n, world.d, {
        ...base,
        k: target,
        epochs: 20,
      }, b);
      const last = f.log[f.log.length - 1];
      assert.ok(
        Math.abs(last.l0 - target) <= 0.25 * target,
        `${method} training ℓ0 ${last.l0} vs target ${target}`,
      );
      const evalL0 = await l0Of(f, fresh.x, fresh.n, b);
      assert.ok(
        Math.abs(evalL0 - target) <= 0.25 * target,
        `${method} eval ℓ0 ${evalL0} vs target ${target}`,
      );
    });
  });
}
