import assert from "node:assert/strict";
import { createBackend } from "../kernels/select.ts";
import type { Backend } from "../kernels/backend.ts";
import { Rng } from "../data/random.ts";
import { eigh } from "../learn/eigh.ts";
import { fitPca } from "../learn/baselines/pca.ts";
import { fitKmeans } from "../learn/baselines/kmeans.ts";
import { fitOmp, ompEncode } from "../learn/baselines/omp.ts";
import { fitSemiNmf } from "../learn/baselines/seminmf.ts";
import { reconstructionR2 } from "../learn/metrics.ts";
import { normalizeRows } from "../data/rows.ts";

let shared: Backend | null = null;
async function backend(): Promise<Backend> {
  if (!shared) shared = await createBackend("cpu");
  return shared;
}

/** Cyclic Jacobi eigenvalues of a symmetric matrix (float64): an independent reference. */
function jacobiEigenvalues(a0: Float64Array, d: number): Float64Array {
  const a = a0.slice();
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += a[p * d + q] ** 2;
    if (off < 1e-26) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = a[k * d + p];
          const akq = a[k * d + q];
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p * d + k];
          const aqk = a[q * d + k];
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
      }
    }
  }
  const ev = new Float64Array(d);
  for (let i = 0; i < d; i++) ev[i] = a[i * d + i];
  return ev.sort((x, y) => y - x);
}

/** Anisotropic gaussian rows with a non-zero mean (n×d). */
function anisotropic(n: number, d: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const mix = new Float64Array(d * d);
  for (let e = 0; e < d * d; e++) mix[e] = rng.normal();
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const g = Array.from({ length: d }, (_, t) => rng.normal() * Math.pow(0.8, t));
    for (let t = 0; t < d; t++) {
      let s = 0.3 + 0.1 * t;
      for (let u = 0; u < d; u++) s += g[u] * mix[u * d + t];
      x[i * d + t] = s;
    }
  }
  return x;
}

Deno.test("eigh matches a Jacobi reference and satisfies A·v = λ·v", () => {
  const d = 17;
  const rng = new Rng(3);
  const a = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) a[i * d + j] = a[j * d + i] = rng.normal();
  }
  const { values, vectors } = eigh(a, d);
  const ref = jacobiEigenvalues(a, d);
  for (let i = 0; i < d; i++) assert.ok(Math.abs(values[i] - ref[i]) < 1e-10, `λ${i}`);
  for (let r = 0; r < d; r++) {
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += a[i * d + j] * vectors[r * d + j];
      assert.ok(Math.abs(s - values[r] * vectors[r * d + i]) < 1e-10);
    }
  }
});

Deno.test("PCA R² equals the float64 eigendecomposition reference to 1e-5", async () => {
  const b = await backend();
  const n = 500;
  const d = 20;
  const x = anisotropic(n, d, 11);
  // float64 covariance and independent Jacobi eigenvalues
  const mu = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mu[t] += x[i * d + t] / n;
  const cov = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < d; p++) {
      for (let q = 0; q < d; q++) cov[p * d + q] += (x[i * d + p] - mu[p]) * (x[i * d + q] - mu[q]);
    }
  }
  const lambda = jacobiEigenvalues(cov, d);
  const total = lambda.reduce((s, v) => s + v, 0);
  for (const c of [1, 3, 7, 20]) {
    const pca = await fitPca(x, n, d, { c }, b);
    assert.equal(pca.c, c);
    const z = await pca.encode(x, n, b);
    assert.equal(z.rowPtr[n], n * c); // dense codes
    const xhat = await pca.decode(z, b);
    const got = reconstructionR2(x, xhat, n, d).r2;
    let top = 0;
    for (let r = 0; r < c; r++) top += lambda[r];
    assert.ok(Math.abs(got - top / total) < 1e-5, `c=${c}: ${got} vs ${top / total}`);
    // orthonormal rows
    for (let p = 0; p < c; p++) {
      for (let q = 0; q < c; q++) {
        let s = 0;
        for (let t = 0; t < d; t++) s += pca.dictionary[p * d + t] * pca.dictionary[q * d + t];
        assert.ok(Math.abs(s - (p === q ? 1 : 0)) < 1e-5);
      }
    }
  }
  // c > d keeps the d axes that exist
  const over = await fitPca(x, n, d, { c: 3 * d }, b);
  assert.equal(over.c, d);
  assert.equal(over.exportWeights().config.c_requested, 3 * d);
});

/** Rows drawn around `m` planted unit directions (cluster i gets positive scales). */
function clustered(n: number, d: number, m: number, noise: number, seed: number) {
  const rng = new Rng(seed);
  const centres = new Float32Array(m * d);
  rng.fillNormal(centres);
  normalizeRows(centres, m, d);
  const label = new Int32Array(n);
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const j = i % m;
    label[i] = j;
    const s = 0.5 + rng.uniform();
    for (let t = 0; t < d; t++) x[i * d + t] = s * centres[j * d + t] + noise * rng.normal();
  }
  return { x, centres, label };
}

Deno.test("K-means: 1-sparse non-negative codes, planted centres recovered, same seed same weights", async () => {
  const b = await backend();
  const n = 600;
  const d = 16;
  const m = 6;
  const { x, centres } = clustered(n, d, m, 0.02, 5);
  const km = await fitKmeans(x, n, d, { c: m, seed: 1 }, b);
  const z = await km.encode(x, n, b);
  for (let i = 0; i < n; i++) assert.equal(z.rowPtr[i + 1] - z.rowPtr[i], 1);
  for (let e = 0; e < n; e++) assert.ok(z.value[e] >= 0);
  for (let j = 0; j < m; j++) {
    let best = -1;
    for (let q = 0; q < m; q++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += centres[j * d + t] * km.dictionary[q * d + t];
      best = Math.max(best, s);
    }
    assert.ok(best > 0.99, `planted centre ${j} best cosine ${best}`);
  }
  const xhat = await km.decode(z, b);
  assert.ok(reconstructionR2(x, xhat, n, d).r2 > 0.95);
  const again = await fitKmeans(x, n, d, { c: m, seed: 1 }, b);
  assert.deepEqual(again.dictionary, km.dictionary);
  await assert.rejects(
    () => fitKmeans(x.subarray(0, 4 * d), 4, d, { c: 6, seed: 1 }, b),
    /train\.c/,
  );
});

Deno.test("OMP codes are exactly k-sparse and recover the support of planted k-sparse signals", async () => {
  const b = await backend();
  const d = 64;
  const c = 128;
  const k = 4;
  const n = 300;
  const rng = new Rng(9);
  const dict = new Float32Array(c * d);
  rng.fillNormal(dict);
  normalizeRows(dict, c, d);
  const x = new Float32Array(n * d);
  const supports: Set<number>[] = [];
  for (let i = 0; i < n; i++) {
    const sup = new Set<number>();
    while (sup.size < k) sup.add(rng.int(c));
    supports.push(sup);
    for (const j of sup) {
      const v = (rng.uniform() < 0.5 ? -1 : 1) * (0.5 + rng.uniform());
      for (let t = 0; t < d; t++) x[i * d + t] += v * dict[j * d + t];
    }
  }
  const z = await ompEncode(b, x, n, d, dict, c, k);
  let exact = 0;
  for (let i = 0; i < n; i++) {
    assert.equal(z.rowPtr[i + 1] - z.rowPtr[i], k);
    const got = new Set(Array.from(z.index.subarray(i * k, (i + 1) * k)));
    assert.equal(got.size, k, "distinct atoms");
    if ([...supports[i]].every((j) => got.has(j))) exact++;
  }
  assert.ok(exact >= 0.97 * n, `exact supports ${exact}/${n}`);
});

Deno.test("OMP dictionary learning improves R², k-sparse codes, same seed same weights", async () => {
  const b = await backend();
  const { x } = clustered(400, 24, 12, 0.05, 2);
  const n = 400;
  const d = 24;
  const fit = await fitOmp(x, n, d, { c: 32, k: 3, seed: 4, iterations: 5 }, b);
  assert.equal(fit.log.length, 5);
  assert.ok(fit.log[4].r2 >= fit.log[0].r2 - 1e-6, "R² does not fall");
  const z = await fit.encode(x, n, b);
  for (let i = 0; i < n; i++) assert.equal(z.rowPtr[i + 1] - z.rowPtr[i], 3);
  const r2 = reconstructionR2(x, await fit.decode(z, b), n, d).r2;
  assert.ok(r2 > 0.9, `r2 ${r2}`);
  const again = await fitOmp(x, n, d, { c: 32, k: 3, seed: 4, iterations: 5 }, b);
  assert.deepEqual(again.dictionary, fit.dictionary);
});

Deno.test("Semi-NMF: non-negative codes, unit dictionary rows, fits planted non-negative mixtures", async () => {
  const b = await backend();
  const n = 400;
  const d = 20;
  const c = 5;
  const rng = new Rng(21);
  const basis = new Float32Array(c * d);
  rng.fillNormal(basis);
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) {
      const w = rng.uniform() < 0.5 ? 0 : rng.uniform();
      for (let t = 0; t < d; t++) x[i * d + t] += w * basis[j * d + t];
    }
  }
  const fit = await fitSemiNmf(x, n, d, { c, seed: 3, iterations: 200 }, b);
  for (let j = 0; j < c; j++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += fit.dictionary[j * d + t] ** 2;
    assert.ok(Math.abs(s - 1) < 1e-5);
  }
  const z = await fit.encode(x, n, b);
  for (let e = 0; e < z.rowPtr[n]; e++) assert.ok(z.value[e] > 0);
  const r2 = reconstructionR2(x, await fit.decode(z, b), n, d).r2;
  assert.ok(r2 > 0.98, `r2 ${r2}`);
  const again = await fitSemiNmf(x, n, d, { c, seed: 3, iterations: 200 }, b);
  assert.deepEqual(again.dictionary, fit.dictionary);
});
