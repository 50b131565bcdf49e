/**
 * Planted direction frequencies (analysis/truth_checks.ts `plantedDirectionFrequency`) against the
 * empirical frequencies of a generated world's planted activations, and the stability split that
 * uses them (a caption twin is rarer than its image direction by the caption dropout).
 */
import assert from "node:assert/strict";
import { generateWorld } from "../data/synthetic_world.ts";
import { worldSection } from "../tasks/config/dataset.ts";
import { plantedDirectionFrequency, plantedStabilityGap } from "../analysis/truth_checks.ts";

Deno.test("planted direction frequency matches the world's rows (4σ), text twins × (1 − dropout)", () => {
  const p = worldSection.parse({
    d: 32,
    images: 4000,
    captionsPerImage: 2,
    sharedConcepts: 12,
    imageConcepts: 4,
    textConcepts: 4,
    captionDropout: 0.4,
  });
  const { set, truth } = generateWorld(p, 5);
  const f = plantedDirectionFrequency(truth);
  assert.equal(f.length, truth.m);
  const nImg = set.modality.filter((m) => m === "image").length;
  const nTxt = set.n - nImg;
  const count = new Float64Array(truth.m);
  const { rowPtr, index } = truth.rowActive;
  for (let r = 0; r < set.n; r++) for (let e = rowPtr[r]; e < rowPtr[r + 1]; e++) count[index[e]]++;
  for (let q = 0; q < truth.m; q++) {
    const N = truth.directionModality[q] === "image" ? nImg : nTxt;
    const tol = 4 * Math.sqrt(f[q] * (1 - f[q]) / N);
    assert.ok(
      Math.abs(count[q] / N - f[q]) <= tol,
      `direction ${q}: empirical ${count[q] / N} vs planted ${f[q]} (tol ${tol})`,
    );
  }
  for (const [a, b] of truth.twins) {
    const j = truth.directionConcept[a];
    assert.equal(f[a], truth.conceptFrequency[j]);
    assert.ok(Math.abs(f[b] - 0.6 * truth.conceptFrequency[j]) < 1e-15);
  }
});

Deno.test("stability split puts a rarer caption twin with the rare half", () => {
  // Two shared concepts, frequencies 0.5 and 0.3; dropout 0.5 makes the caption twins 0.25, 0.15.
  // Direction frequencies [0.5, 0.25, 0.3, 0.15]: median (upper) 0.3 → frequent = {0, 2}.
  const d = 4;
  const directions = new Float32Array(4 * d);
  for (let q = 0; q < 4; q++) directions[q * d + q] = 1;
  const truth = {
    d,
    m: 4,
    directions,
    directionConcept: Int32Array.from([0, 0, 1, 1]),
    directionModality: ["image", "text", "image", "text"] as ("image" | "text")[],
    conceptKind: ["shared", "shared"] as ("shared" | "image" | "text")[],
    conceptFrequency: Float64Array.from([0.5, 0.3]),
    twins: [[0, 1], [2, 3]] as [number, number][],
    twinCosine: Float64Array.from([0, 0]),
    rowActive: { rowPtr: new Int32Array(1), index: new Int32Array(0), value: new Float32Array(0) },
    captionDropout: 0.5,
  };
  assert.deepEqual(Array.from(plantedDirectionFrequency(truth)), [0.5, 0.25, 0.3, 0.15]);
  // Run B tilts directions 1 and 3 (the caption twins) to cosine 0.6 with their planted rows.
  const b = new Float32Array(directions);
  for (const q of [1, 3]) {
    b[q * d + q] = 0.6;
    b[q * d + ((q + 1) % d)] = 0.8;
  }
  const r = plantedStabilityGap(truth, [{ dict: directions, c: 4 }, { dict: b, c: 4 }]);
  assert.ok(Math.abs(r.frequent - 1) < 1e-6, `frequent ${r.frequent}`);
  assert.ok(Math.abs(r.rare - 0.6) < 1e-6, `rare ${r.rare}`);
  assert.ok(Math.abs(r.gap - 0.4) < 1e-6);
});
