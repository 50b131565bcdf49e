/**
 * SAE family (learn/sae): planted-concept recovery per variant, BatchTopK ℓ0 semantics, JumpReLU
 * thresholds, the relu λ controller, determinism, and export → loadSae round trip.
 * Runs on the CPU backend; the planted world is small (d = 32, 4000 rows) so each fit is ~1–3 s.
 */
import assert from "node:assert/strict";
import { createBackend } from "../kernels/select.ts";
import { fitSae, loadSae, type SaeMethod } from "../learn/sae/mod.ts";
import type { Backend } from "../kernels/backend.ts";
import { UserError } from "../pipeline/errors.ts";
import { plantedWorld, recoveredFraction } from "./helpers/planted_world.ts";

const world = plantedWorld({ n: 4000, d: 32, m: 32, s: 3, seed: 1 });
const base = { c: 64, k: 3, seed: 0, batchSize: 256, epochs: 30, lr: 3e-3 };

async function withBackend<T>(f: (b: Backend) => Promise<T>): Promise<T> {
  const b = await createBackend("cpu");
  try {
    return await f(b);
  } finally {
    b.close();
  }
}

const recoveryCases: [SaeMethod, Record<string, unknown>][] = [
  ["topk", {}],
  ["batchtopk", { epochs: 40 }],
  ["matryoshka", { epochs: 60, prefixes: [16, 64] }],
  ["jumprelu", { epochs: 80, jumpThetaInit: 0.1, jumpBandwidth: 0.03, controllerGain: 0.1 }],
];

for (const [method, extra] of recoveryCases) {
  Deno.test(`sae ${method}: recovers ≥ 90% of planted directions at cosine ≥ 0.9`, async () => {
    await withBackend(async (b) => {
      const f = await fitSae(method, world.x, world.n, world.d, { ...base, ...extra }, b);
      const r = recoveredFraction(world.directions, world.m, f.dictionary, f.c, f.d, 0.9);
      assert.ok(
        r.fraction >= 0.9,
        `${method}: recovered ${r.fraction} (best cosines ${r.best.map((x) => x.toFixed(2))})`,
      );
      // dictionary rows stay unit norm after training
      for (let j = 0; j < f.c; j++) {
        let s = 0;
        for (let q = 0; q < f.d; q++) s += f.dictionary[j * f.d + q] ** 2;
        assert.ok(Math.abs(Math.sqrt(s) - 1) < 1e-4, `row ${j} norm ${Math.sqrt(s)}`);
      }
      assert.equal(f.log.length, (extra.epochs as number | undefined) ?? base.epochs);
    });
  });
}

Deno.test("sae relu: the λ controller reaches the target ℓ0 and the planted directions are recovered", async () => {
  await withBackend(async (b) => {
    const target = 4;
    const f = await fitSae("relu", world.x, world.n, world.d, {
      ...base,
      epochs: 150,
      reluTargetL0: target,
    }, b);
    const last = f.log[f.log.length - 1];
    assert.ok(Math.abs(last.l0 - target) <= 0.15 * target, `training ℓ0 ${last.l0} vs ${target}`);
    assert.ok(last.extra!.lambda > 1e-3, `λ ${last.extra!.lambda} did not rise from its start`);
    const z = await f.encode(world.x, world.n, b);
    const l0 = z.rowPtr[z.rows] / z.rows;
    assert.ok(Math.abs(l0 - target) <= 0.15 * target, `eval ℓ0 ${l0} vs ${target}`);
    const r = recoveredFraction(world.directions, world.m, f.dictionary, f.c, f.d, 0.9);
    assert.ok(r.fraction >= 0.9, `relu: recovered ${r.fraction}`);
  });
});

Deno.test("sae batchtopk: training ℓ0 is exactly k; eval ℓ0 of the learned θ within 10% of k", async () => {
  await withBackend(async (b) => {
    const k = 4;
    const f = await fitSae("batchtopk", world.x, world.n, world.d, { ...base, k, epochs: 40 }, b);
    for (const e of f.log) assert.equal(e.l0, k, `epoch ${e.epoch} training ℓ0 ${e.l0}`);
    // eval rows: same planted directions, fresh rows
    const fresh = plantedWorld({ n: 2000, d: 32, m: 32, s: 3, seed: 1, rowSeed: 7 });
    assert.deepEqual(fresh.directions, world.directions);
    const z = await f.encode(fresh.x, 2000, b);
    const l0 = z.rowPtr[z.rows] / z.rows;
    assert.ok(Math.abs(l0 - k) <= 0.1 * k, `eval ℓ0 ${l0} vs k ${k}`);
    const th = f.exportWeights().tensors.threshold;
    assert.deepEqual(th.shape, [1]);
    assert.ok(th.data[0] > 0);
  });
});

Deno.test("sae jumprelu: thresholds move during training and stay positive", async () => {
  await withBackend(async (b) => {
    const init = 1e-3;
    const f = await fitSae("jumprelu", world.x, world.n, world.d, {
      ...base,
      epochs: 10,
      jumpThetaInit: init,
    }, b);
    const th = f.exportWeights().tensors.threshold;
    assert.deepEqual(th.shape, [f.c]);
    let moved = 0;
    for (const t of th.data) {
      assert.ok(t > 0, `threshold ${t} not positive`);
      if (Math.abs(t - init) > 10 * init) moved++;
    }
    assert.ok(moved >= 0.5 * f.c, `only ${moved} of ${f.c} thresholds moved`);
    // inference keeps exactly the entries above each concept's threshold
    const z = await f.encode(world.x.subarray(0, 500 * 32), 500, b);
    for (let e = 0; e < z.rowPtr[z.rows]; e++) assert.ok(z.value[e] > th.data[z.index[e]]);
  });
});

Deno.test("sae: the same seed gives identical weights; another seed differs", async () => {
  await withBackend(async (b) => {
    for (const method of ["topk", "jumprelu", "matryoshka"] as SaeMethod[]) {
      const o = { ...base, epochs: 3, decoderBias: method === "topk" };
      const a = (await fitSae(method, world.x, world.n, world.d, o, b)).exportWeights();
      const a2 = (await fitSae(method, world.x, world.n, world.d, o, b)).exportWeights();
      const c = (await fitSae(method, world.x, world.n, world.d, { ...o, seed: 1 }, b))
        .exportWeights();
      for (const name of Object.keys(a.tensors)) {
        assert.deepEqual(a.tensors[name].data, a2.tensors[name].data, `${method} ${name}`);
      }
      assert.notDeepEqual(a.tensors.W_dec.data, c.tensors.W_dec.data);
    }
  });
});

Deno.test("sae: loadSae(exportWeights()) encodes and decodes identically", async () => {
  await withBackend(async (b) => {
    const n = 300;
    const x = world.x.subarray(0, n * world.d);
    for (const method of ["relu", "topk", "batchtopk", "jumprelu", "matryoshka"] as SaeMethod[]) {
      const f = await fitSae(method, world.x, world.n, world.d, {
        ...base,
        epochs: 2,
        decoderBias: method === "batchtopk",
      }, b);
      const { tensors, config } = f.exportWeights();
      const g = loadSae(JSON.parse(JSON.stringify(config)), tensors);
      const za = await f.encode(x, n, b);
      const zb = await g.encode(x, n, b);
      assert.deepEqual(zb, za, method);
      assert.deepEqual(await g.decode(zb, b), await f.decode(za, b), method);
      // independent float64 reference of the encoder: pre = (x − b_dec)·W + b
      const { W_enc, b_enc, b_dec, threshold } = tensors;
      const c = f.c, d = f.d;
      for (let i = 0; i < 20; i++) {
        const pre = new Float64Array(c);
        for (let j = 0; j < c; j++) {
          let s = b_enc.data[j];
          for (let q = 0; q < d; q++) {
            s += (x[i * d + q] - (b_dec ? b_dec.data[q] : 0)) * W_enc.data[q * c + j];
          }
          pre[j] = s;
        }
        const got = new Map<number, number>();
        for (let e = za.rowPtr[i]; e < za.rowPtr[i + 1]; e++) got.set(za.index[e], za.value[e]);
        if (method === "topk") {
          assert.equal(got.size, f.exportWeights().config.k);
        } else {
          for (let j = 0; j < c; j++) {
            const t = threshold.data.length === 1 ? threshold.data[0] : threshold.data[j];
            if (Math.abs(pre[j] - t) < 1e-5) continue; // too close to call in float32
            assert.equal(got.has(j), pre[j] > t, `${method} row ${i} concept ${j}`);
          }
        }
        for (const [j, val] of got) {
          if (val > 0) {
            assert.ok(Math.abs(val - pre[j]) < 1e-4, `${method} value ${val} vs ${pre[j]}`);
          }
        }
      }
    }
  });
});

Deno.test("sae: bad options and inputs throw one-line UserErrors naming the parameter", async () => {
  await withBackend(async (b) => {
    await assert.rejects(
      fitSae("topk", world.x, world.n, world.d, { ...base, lr: -1 }, b),
      (e: unknown) =>
        e instanceof UserError && /train\.options\.lr/.test(e.message) && !e.message.includes("\n"),
    );
    await assert.rejects(
      fitSae("topk", world.x, world.n, world.d, { ...base, k: 100 }, b),
      (e: unknown) => e instanceof UserError && /train\.k/.test(e.message),
    );
    await assert.rejects(
      fitSae("nope" as SaeMethod, world.x, world.n, world.d, base, b),
      (e: unknown) => e instanceof UserError && /nope/.test(e.message),
    );
    await assert.rejects(
      fitSae("topk", world.x, world.n, 31, base, b),
      (e: unknown) => e instanceof UserError,
    );
    assert.throws(
      () => loadSae({ method: "jumprelu", c: 4, d: 2, k: 1 }, {}),
      (e: unknown) => e instanceof UserError && /W_enc|threshold/.test(e.message),
    );
  });
});
