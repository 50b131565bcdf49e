import assert from "node:assert/strict";
import { Rng } from "../data/random.ts";
import { randomUnitRows } from "../data/rows.ts";
import { auroc } from "../analysis/auroc.ts";
import { fitLda } from "../analysis/lda.ts";
import { balancedAccuracy, fitLogisticProbe, probeScores } from "../analysis/logistic_probe.ts";
import { iterativeNullspace, orthonormalizeRows, projectOut } from "../analysis/nullspace.ts";
import {
  conceptProjections,
  directionAurocs,
  meanDifferenceDirection,
  modalitySubspace,
  randomProjectionBaseline,
} from "../analysis/modality_subspace.ts";

/** Direct O(n²) pair count: P(s+ > s-) + ½ P(s+ = s-). */
function aurocPairCount(scores: number[], y: number[]): number {
  let wins = 0, pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (!y[i]) continue;
    for (let j = 0; j < scores.length; j++) {
      if (y[j]) continue;
      pairs++;
      if (scores[i] > scores[j]) wins += 1;
      else if (scores[i] === scores[j]) wins += 0.5;
    }
  }
  return wins / pairs;
}

/** Planted modality data: images = +alpha·u_r offsets, texts = −beta·u_r, plus Gaussian noise. */
function planted(
  n: number,
  d: number,
  offsets: { dir: number; alpha: number }[],
  noise: number,
  seed: number,
): { x: Float32Array; y: Uint8Array } {
  const rng = new Rng(seed);
  const x = new Float32Array(n * d);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3 === 0 ? 1 : 0; // 1:2 imbalance
    for (let t = 0; t < d; t++) x[i * d + t] = rng.normal() * noise;
    for (const o of offsets) x[i * d + o.dir] += y[i] ? o.alpha : -o.alpha;
  }
  return { x, y };
}

Deno.test("auroc equals the direct O(n²) pair count, with ties", () => {
  const rng = new Rng(7);
  for (let trial = 0; trial < 20; trial++) {
    const n = 5 + rng.int(60);
    const scores: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < n; i++) {
      scores.push(rng.int(6)); // many ties
      y.push(rng.uniform() < 0.3 ? 1 : 0);
    }
    y[0] = 1;
    y[1] = 0;
    const got = auroc(scores, y);
    assert.ok(Math.abs(got - aurocPairCount(scores, y)) < 1e-12, `trial ${trial}`);
  }
  assert.equal(auroc([1, 2, 3, 4], [0, 0, 1, 1]), 1);
  assert.equal(auroc([1, 2, 3, 4], [1, 1, 0, 0]), 0);
  assert.equal(auroc([5, 5, 5, 5], [1, 0, 1, 0]), 0.5);
  assert.ok(Number.isNaN(auroc([1, 2], [1, 1])));
});

Deno.test("mean-difference direction equals its closed form", () => {
  // Images: alpha·u + e_i, texts: −beta·u + e'_i, noise added in ± pairs so class means are exact.
  const d = 16, half = 30;
  const rng = new Rng(3);
  const u = randomUnitRows(1, d, 11);
  const rows: number[][] = [];
  const y: number[] = [];
  for (const [cls, shift] of [[1, 0.7], [0, -0.2]] as const) {
    for (let i = 0; i < half; i++) {
      const e = Array.from({ length: d }, () => rng.normal());
      for (const sign of [1, -1]) {
        rows.push(e.map((v, t) => sign * v + shift * u[t]));
        y.push(cls);
      }
    }
  }
  const x = new Float32Array(rows.flat());
  const w = meanDifferenceDirection(x, rows.length, d, y);
  // Closed form: μ_img − μ_txt = 0.9·u, direction u.
  for (let t = 0; t < d; t++) assert.ok(Math.abs(w[t] - u[t]) < 1e-5, `w[${t}]`);
  const sub = modalitySubspace("mean", x, rows.length, d, y);
  assert.equal(sub.k, 1);
  let cos = 0;
  for (let t = 0; t < d; t++) cos += sub.basis[t] * u[t];
  assert.ok(Math.abs(cos - 1) < 1e-5);
});

Deno.test("LDA equals a float64 reference (explicit centred covariance, Gaussian elimination)", () => {
  const n = 300, d = 8;
  const rng = new Rng(5);
  const x = new Float32Array(n * d);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 4 === 0 ? 1 : 0;
    for (let t = 0; t < d; t++) x[i * d + t] = rng.normal() * (1 + t * 0.3) + (y[i] ? 0.2 * t : 0);
    x[i * d + 1] += 0.5 * x[i * d]; // correlated features
  }
  const shrink = 0.01;
  const lda = fitLda(x, n, d, y, { shrinkage: shrink });
  // Reference.
  const mu = [new Array(d).fill(0), new Array(d).fill(0)];
  const cnt = [0, 0];
  for (let i = 0; i < n; i++) {
    cnt[y[i]]++;
    for (let t = 0; t < d; t++) mu[y[i]][t] += x[i * d + t];
  }
  for (const c of [0, 1]) for (let t = 0; t < d; t++) mu[c][t] /= cnt[c];
  const s = Array.from({ length: d }, () => new Array(d + 1).fill(0));
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        s[a][b] += (x[i * d + a] - mu[y[i]][a]) * (x[i * d + b] - mu[y[i]][b]) / n;
      }
    }
  }
  let tr = 0;
  for (let a = 0; a < d; a++) tr += s[a][a];
  for (let a = 0; a < d; a++) {
    s[a][a] += shrink * tr / d;
    s[a][d] = mu[1][a] - mu[0][a];
  }
  for (let col = 0; col < d; col++) {
    let piv = col;
    for (let r = col + 1; r < d; r++) if (Math.abs(s[r][col]) > Math.abs(s[piv][col])) piv = r;
    [s[col], s[piv]] = [s[piv], s[col]];
    for (let r = 0; r < d; r++) {
      if (r === col) continue;
      const f = s[r][col] / s[col][col];
      for (let c2 = col; c2 <= d; c2++) s[r][c2] -= f * s[col][c2];
    }
  }
  const ref = s.map((row, a) => row[d] / row[a]);
  const nrm = Math.hypot(...ref);
  for (let t = 0; t < d; t++) assert.ok(Math.abs(lda.w[t] - ref[t] / nrm) < 1e-6, `w[${t}]`);
});

Deno.test("logistic probe separates planted modalities and its direction is the planted one", () => {
  const d = 12;
  const { x, y } = planted(600, d, [{ dir: 4, alpha: 0.6 }], 0.5, 9);
  const probe = fitLogisticProbe(x, 600, d, y, { l2: 1e-3 });
  const acc = balancedAccuracy(probeScores(x, 600, d, probe.w, probe.b), y);
  assert.ok(acc > 0.85, `accuracy ${acc}`);
  const nrm = Math.hypot(...probe.w);
  assert.ok(probe.w[4] / nrm > 0.95, `cos with planted direction ${probe.w[4] / nrm}`);
  const sub = modalitySubspace("lda", x, 600, d, y);
  assert.ok(Math.abs(sub.basis[4]) > 0.95);
});

Deno.test("iterative nullspace projection drives probe accuracy to chance on planted data", () => {
  const d = 10, n = 900;
  const { x, y } = planted(
    n,
    d,
    [{ dir: 0, alpha: 0.8 }, { dir: 3, alpha: 0.5 }, { dir: 7, alpha: 0.35 }],
    0.5,
    21,
  );
  const r = iterativeNullspace(x, n, d, y, { tolerance: 0.05, seed: 1 });
  assert.ok(r.accuracies[0] > 0.9, `initial accuracy ${r.accuracies[0]}`);
  assert.ok(r.converged, `accuracies ${r.accuracies}`);
  assert.ok(r.k >= 1 && r.k <= 6, `k = ${r.k}`);
  // Basis orthonormal.
  for (let a = 0; a < r.k; a++) {
    for (let b = 0; b < r.k; b++) {
      let g = 0;
      for (let t = 0; t < d; t++) g += r.basis[a * d + t] * r.basis[b * d + t];
      assert.ok(Math.abs(g - (a === b ? 1 : 0)) < 1e-5);
    }
  }
  // The planted offset (0.8, 0.5, 0.35 on axes 0, 3, 7) lies (mostly) inside the subspace.
  const off = new Float32Array(d);
  const nrm = Math.hypot(0.8, 0.5, 0.35);
  off[0] = 0.8 / nrm;
  off[3] = 0.5 / nrm;
  off[7] = 0.35 / nrm;
  const p = conceptProjections(r.basis, r.k, d, off, 1);
  assert.ok(p[0] > 0.9, `projection of the planted offset ${p[0]} (k = ${r.k})`);
  // An independent probe (LDA) on the projected data is near chance too.
  const xp = projectOut(x, n, d, r.basis, r.k);
  const lda = fitLda(xp, n, d, y);
  const acc = balancedAccuracy(probeScores(xp, n, d, lda.w, lda.b), y);
  assert.ok(acc < 0.6, `LDA after projection ${acc}`);
});

Deno.test("concept projections: closed form and the k/d random baseline", () => {
  const d = 32;
  const { basis, rank } = orthonormalizeRows(
    [...new Array(d).keys()].map((t) => (t === 0 ? 1 : 0)),
    1,
    d,
  );
  assert.equal(rank, 1);
  const dict = new Float32Array(2 * d);
  dict[0] = 0.6;
  dict[1] = 0.8; // p = 0.36
  dict[d + 5] = 1; // p = 0
  const p = conceptProjections(basis, 1, d, dict, 2);
  assert.ok(Math.abs(p[0] - 0.36) < 1e-6 && Math.abs(p[1]) < 1e-12);
  const c = 4000;
  const rand = randomUnitRows(c, d, 2);
  const pr = conceptProjections(basis, 1, d, rand, c);
  const mean = pr.reduce((a, b) => a + b, 0) / c;
  // E[p] = 1/d, sd of the mean ≈ sqrt(2/(d²·(d+2)))/sqrt(c) ≈ 6e-4.
  assert.ok(Math.abs(mean - randomProjectionBaseline(1, d)) < 3e-3, `mean ${mean}`);
});

Deno.test("direction AUROC: planted direction separates, its negation inverts, random near 0.5", () => {
  const d = 8, n = 400;
  const { x, y } = planted(n, d, [{ dir: 2, alpha: 1 }], 0.4, 4);
  const dirs = new Float32Array(3 * d);
  dirs[2] = 1;
  dirs[d + 2] = -1;
  dirs[2 * d + 5] = 1;
  const a = directionAurocs(x, n, d, y, dirs, 3);
  assert.ok(a[0] > 0.98 && a[1] < 0.02, `aurocs ${Array.from(a)}`);
  assert.ok(Math.abs(a[2] - 0.5) < 0.1);
  assert.ok(Math.abs(a[0] + a[1] - 1) < 1e-12);
});

Deno.test("modality: bad inputs throw one-line UserErrors", () => {
  const isUser = (e: Error) => e.name === "UserError" && !e.message.includes("\n");
  assert.throws(() => auroc([1, 2, 3], [1, 0]), isUser);
  assert.throws(() => auroc([1, NaN], [1, 0]), isUser);
  const x = new Float32Array(8).fill(1);
  assert.throws(() => modalitySubspace("mean", x, 4, 2, [1, 1, 1, 1]), isUser);
  assert.throws(() => modalitySubspace("logistic", x, 4, 2, [0, 0, 0, 0]), isUser);
  assert.throws(() => modalitySubspace("lda", x, 4, 2, [1, 1, 1, 1]), isUser);
  assert.throws(
    () => modalitySubspace("pca" as unknown as "mean", x, 4, 2, [1, 0, 1, 0]),
    (e: Error) => isUser(e) && e.message.includes("analysis.modality.methods"),
  );
});
