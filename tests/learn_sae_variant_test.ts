/**
 * The SAE variant interface (learn/sae/variant.ts): the registry derives the method list and the
 * one options schema from the variant files, and a variant that is only a file (not registered)
 * trains, encodes and exports through the shared core.
 */
import assert from "node:assert/strict";
import { createBackend } from "../kernels/select.ts";
import {
  parseOptions,
  saeMethods,
  saeOptionsSchema,
  type SaeVariant,
  saeVariants,
  trainSae,
} from "../learn/sae/mod.ts";
import { allMethods, parseMethodOptions } from "../learn/registry.ts";
import { trainSection } from "../tasks/config/train.ts";
import { UserError } from "../pipeline/errors.ts";
import { plantedWorld } from "./helpers/planted_world.ts";

Deno.test("sae registry: methods, the train section's default and every variant's options derive from the variant files", () => {
  assert.deepEqual([...saeMethods], saeVariants.map((v) => v.name));
  assert.deepEqual(allMethods.slice(0, saeMethods.length), [...saeMethods]);
  assert.deepEqual(trainSection.parse({}).methods, [...allMethods]);
  const parsed = parseOptions(saeOptionsSchema, "topk", {}) as Record<string, unknown>;
  for (const v of saeVariants) {
    for (const key of Object.keys(v.options)) assert.ok(key in parsed, `${v.name}: ${key}`);
  }
  // one message format for SAE variants and baselines alike
  for (
    const [method, bad] of [["jumprelu", { jumpBandwidth: -1 }], ["omp", { nope: 1 }]] as const
  ) {
    assert.throws(
      () => parseMethodOptions(method, bad),
      (e: unknown) =>
        e instanceof UserError && /^train\.options\.\S+: .* for method \S+; fix or remove it$/.test(
          e.message,
        ),
    );
  }
});

/** A sixth variant written as one file would be: ReLU codes without any penalty. */
const plainRelu: SaeVariant<Record<never, never>, "plainrelu"> = {
  name: "plainrelu",
  options: {},
  encoding: "relu",
  codesPerRow: "c",
  start(run) {
    const zero = run.v.constant([1], 0);
    return {
      sparsify: () => run.b.threshold(run.pre, zero, run.z),
      threshold: () => Promise.resolve(new Float32Array(1)),
    };
  },
};

Deno.test("sae variant: an unregistered variant file trains, encodes and exports through the core", async () => {
  const w = plantedWorld({ n: 1024, d: 16, m: 8, s: 2, seed: 3 });
  const b = await createBackend("cpu");
  try {
    const o = parseOptions(saeOptionsSchema, "plainrelu", { epochs: 5, batchSize: 128, lr: 3e-3 });
    const f = await trainSae(plainRelu, w.x, w.n, w.d, { c: 32, k: 4, seed: 1 }, o, b);
    assert.equal(f.log.length, 5);
    assert.ok(f.log[4].r2 > f.log[0].r2, `R² ${f.log[0].r2} → ${f.log[4].r2}`);
    assert.equal(f.exportWeights().config.encoding, "relu");
    const z = await f.encode(w.x.subarray(0, 64 * 16), 64, b);
    for (let e = 0; e < z.rowPtr[z.rows]; e++) assert.ok(z.value[e] > 0);
  } finally {
    b.close();
  }
});
