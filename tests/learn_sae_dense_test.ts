/**
 * ReLU / JumpReLU: the dense GEMM path (masked dense gradients) and the sparse path compute the
 * same training step; top-k's non-positive picks get no gradient and do not count as fired.
 */
import assert from "node:assert/strict";
import { createBackend } from "../kernels/select.ts";
import { fitSae } from "../learn/sae/mod.ts";
import { Rng } from "../data/random.ts";

function data(n: number, d: number, seed: number): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(n * d), 1 / Math.sqrt(d));
}

for (const method of ["relu", "jumprelu"] as const) {
  Deno.test(`sae ${method}: dense and sparse paths give the same weights`, async () => {
    const n = 96, d = 12, c = 40;
    const x = data(n, d, 3);
    const be = await createBackend("cpu");
    try {
      const common = {
        c,
        k: 4,
        seed: 7,
        batchSize: 32,
        epochs: 2,
        deadHandling: "none" as const,
        jumpThetaInit: 0.05,
        jumpBandwidth: 0.05,
      };
      const dense = await fitSae(method, x, n, d, { ...common, denseAbove: 0 }, be);
      const sparse = await fitSae(method, x, n, d, { ...common, denseAbove: 1 }, be);
      const a = dense.dictionary, b = sparse.dictionary;
      assert.equal(a.length, b.length);
      let md = 0, moved = 0;
      for (let i = 0; i < a.length; i++) md = Math.max(md, Math.abs(a[i] - b[i]));
      assert.ok(md < 2e-5, `${method}: dictionaries differ by ${md}`);
      // the step did something (guards against both paths doing nothing)
      const init = await fitSae(method, x, n, d, { ...common, lr: 1e-12, epochs: 1 }, be);
      for (let i = 0; i < a.length; i++) {
        moved = Math.max(moved, Math.abs(a[i] - init.dictionary[i]));
      }
      assert.ok(moved > 1e-4, `${method}: training moved the dictionary by ${moved}`);
      assert.ok(Math.abs(dense.log[1].r2 - sparse.log[1].r2) < 1e-4, "same training R²");
      assert.ok(Math.abs(dense.log[1].l0 - sparse.log[1].l0) < 1e-9, "same training ℓ0");
    } finally {
      be.close();
    }
  });
}

Deno.test("sae topk with k = c trains exactly like an ℓ1-free relu (non-positive picks are inert)", async () => {
  const n = 64, d = 10, c = 24;
  const x = data(n, d, 5);
  const be = await createBackend("cpu");
  try {
    const common = { c, seed: 3, batchSize: 32, epochs: 2, deadHandling: "none" as const };
    const topk = await fitSae("topk", x, n, d, { ...common, k: c }, be);
    const relu = await fitSae(
      "relu",
      x,
      n,
      d,
      // the plain start (b_enc = 0), as topk
      {
        ...common,
        k: 4,
        reluLambda: 1e-30,
        reluControl: false,
        denseAbove: 1,
        startAtTarget: false,
      },
      be,
    );
    let md = 0;
    for (let i = 0; i < topk.dictionary.length; i++) {
      md = Math.max(md, Math.abs(topk.dictionary[i] - relu.dictionary[i]));
    }
    assert.ok(md < 1e-5, `dictionaries differ by ${md}`);
    // about half the pre-activations are negative: ℓ0 counts only the positive picks
    assert.ok(topk.log[1].l0 < 0.8 * c, `topk ℓ0 ${topk.log[1].l0} counts non-positive picks`);
    assert.ok(Math.abs(topk.log[1].l0 - relu.log[1].l0) < 1e-9, "same ℓ0 as relu");
  } finally {
    be.close();
  }
});
