/**
 * One SAE step against an independent float64 reference: with Adam's first step (bias-corrected
 * m̂/√v̂ = g/|g|), no weight decay and no clipping, W_enc and b_enc move by −lr·sign(gradient),
 * so their update reveals the sign of every gradient entry computed by the backend trainer.
 * Also checks the learning-rate schedule against its closed form.
 */
import assert from "node:assert/strict";
import { createBackend } from "../kernels/select.ts";
import { fitSae } from "../learn/sae/mod.ts";
import { learningRate, warmupStepsFor } from "../learn/schedule.ts";
import { Rng } from "../data/random.ts";
import { plantedWorld } from "./helpers/planted_world.ts";

Deno.test("sae topk: one step moves W_enc and b_enc against the float64 reference gradient", async () => {
  const n = 64, d = 16, c = 24, k = 3, seed = 5, lr = 1e-3;
  const w = plantedWorld({ n, d, m: 12, s: 3, seed: 2 });
  const b = await createBackend("cpu");
  let f;
  try {
    f = await fitSae("topk", w.x, n, d, {
      c,
      k,
      seed,
      lr,
      epochs: 1,
      batchSize: n,
      warmupFraction: 0,
      weightDecay: 0,
      gradClip: 1e9,
      eps: 1e-12,
      deadHandling: "none",
    }, b);
  } finally {
    b.close();
  }
  // reference: D0 = unit rows of Rng(seed) normals, W0 = D0ᵀ, b0 = 0 (documented init)
  const D0 = new Rng(seed).fillNormal(new Float32Array(c * d));
  for (let j = 0; j < c; j++) {
    let s = 0;
    for (let q = 0; q < d; q++) s += D0[j * d + q] ** 2;
    for (let q = 0; q < d; q++) D0[j * d + q] /= Math.sqrt(s);
  }
  const gW = new Float64Array(d * c);
  const gB = new Float64Array(c);
  for (let i = 0; i < n; i++) {
    const pre = Array.from({ length: c }, (_, j) => {
      let s = 0;
      for (let q = 0; q < d; q++) s += w.x[i * d + q] * D0[j * d + q];
      return { j, v: s };
    });
    const top = pre.slice().sort((a, b) => b.v - a.v || a.j - b.j).slice(0, k);
    const xhat = new Float64Array(d);
    for (const { j, v } of top) {
      if (v > 0) { for (let q = 0; q < d; q++) xhat[q] += v * D0[j * d + q]; }
    }
    const G = Array.from(xhat, (h, q) => (2 / n) * (h - w.x[i * d + q]));
    for (const { j } of top) {
      let g = 0;
      for (let q = 0; q < d; q++) g += G[q] * D0[j * d + q];
      gB[j] += g;
      for (let q = 0; q < d; q++) gW[q * c + j] += w.x[i * d + q] * g;
    }
  }
  const { W_enc, b_enc } = f.exportWeights().tensors;
  let maxG = 0;
  for (const g of gW) maxG = Math.max(maxG, Math.abs(g));
  let checked = 0;
  for (let e = 0; e < d * c; e++) {
    const q = Math.floor(e / c), j = e % c;
    const moved = W_enc.data[e] - D0[j * d + q];
    if (Math.abs(gW[e]) < 1e-3 * maxG) continue;
    assert.ok(
      Math.abs(moved + lr * Math.sign(gW[e])) < 1e-5,
      `W_enc[${q},${j}] moved ${moved}, grad ${gW[e]}`,
    );
    checked++;
  }
  assert.ok(checked > d * c / 4, `only ${checked} entries checked`);
  for (let j = 0; j < c; j++) {
    if (Math.abs(gB[j]) < 1e-6) {
      assert.ok(Math.abs(b_enc.data[j]) < 1e-5 || Math.abs(Math.abs(b_enc.data[j]) - lr) < 1e-5);
      continue;
    }
    assert.ok(
      Math.abs(b_enc.data[j] + lr * Math.sign(gB[j])) < 1e-5,
      `b_enc[${j}] ${b_enc.data[j]} grad ${gB[j]}`,
    );
  }
});

Deno.test("lr schedule: linear warm-up then cosine decay to the floor", () => {
  const s = { lr: 1, totalSteps: 110, warmupSteps: 10, minFraction: 0.1 };
  assert.equal(learningRate(0, s), 0.1);
  assert.equal(learningRate(9, s), 1);
  assert.equal(learningRate(10, s), 1);
  assert.ok(Math.abs(learningRate(109, s) - 0.1) < 1e-12);
  const mid = 10 + 99 / 2;
  assert.ok(Math.abs(learningRate(mid, s) - (0.1 + 0.9 * 0.5)) < 1e-12);
  for (let t = 11; t < 110; t++) assert.ok(learningRate(t, s) <= learningRate(t - 1, s));
  assert.equal(warmupStepsFor(1000, 0.05), 50);
  assert.equal(warmupStepsFor(3, 0.05), 1);
  assert.equal(warmupStepsFor(10, 0), 0);
});
