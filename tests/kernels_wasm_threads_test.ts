/**
 * The CPU backend's WebAssembly kernels at sizes large enough to be split over the kernel
 * threads (the parity suite's small shapes run on one thread), against float64 references:
 * axpby, normalizeRows, removeParallelComponent, the gather by concept of
 * sparseTransposeProduct (the encoder gradient), and the batch top-k candidate pass (odd sizes: tails of every vector
 * loop, chunk boundaries inside rows, ties across chunks).
 */
import assert from "node:assert/strict";
import type { Backend, SparseCodes, Tensor } from "../kernels/backend.ts";
import { CpuBackend } from "../kernels/cpu_backend.ts";
import { createJsGemm } from "../kernels/js_gemm.ts";
import { Rng } from "../data/random.ts";
import {
  refBatchTopk,
  refDense,
  refGemm,
  refNormalizeRows,
  refRemoveParallel,
  type RefRows,
  refThreshold,
  refTopkRows,
} from "../kernels/reference_f64.ts";
import { topkRowsHost } from "../kernels/cpu_select.ts";

const U = 2 ** -24;

async function backend(): Promise<CpuBackend> {
  const be = new CpuBackend(createJsGemm());
  await be.ready();
  return be;
}

async function f32(be: Backend, t: Tensor): Promise<Float32Array> {
  return (await be.read(t)) as Float32Array;
}

function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>, scale: number): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    m = Math.max(m, Math.abs(got[i] - want[i]) / (scale + Math.abs(want[i])));
  }
  return m;
}

Deno.test("wasm threads: axpby (aliased, odd length) matches float64", async () => {
  const be = await backend();
  try {
    assert.ok(be.rt.threads >= 1);
    const rng = new Rng(7);
    const n = 300_007;
    const x = rng.fillNormal(new Float32Array(n)), y = rng.fillNormal(new Float32Array(n));
    const X = be.upload(x, [n]), Y = be.upload(y, [n]);
    be.axpby(0.75, X, -1.5, Y, Y);
    const got = await f32(be, Y);
    for (let i = 0; i < n; i++) {
      const want = 0.75 * x[i] - 1.5 * y[i];
      const tol = 2 * U * (Math.abs(0.75 * x[i]) + Math.abs(1.5 * y[i])) + 1e-30;
      if (!(Math.abs(got[i] - want) <= tol)) assert.fail(`axpby ${i}: ${got[i]} vs ${want}`);
    }
    be.axpby(2, X, 0, X, X);
    const got2 = await f32(be, X);
    for (let i = 0; i < n; i++) assert.equal(got2[i], Math.fround(2 * x[i]));
  } finally {
    be.close();
  }
});

Deno.test("wasm threads: normalizeRows and removeParallelComponent match float64", async () => {
  const be = await backend();
  try {
    const rng = new Rng(8);
    const [rows, d] = [1203, 389];
    const dict = rng.fillNormal(new Float32Array(rows * d));
    dict.fill(0, 5 * d, 6 * d); // a zero row stays zero
    const D = be.upload(dict, [rows, d]);
    be.normalizeRows(D);
    const unit = await f32(be, D);
    const wantUnit = refNormalizeRows(dict, rows, d);
    assert.ok(maxRelErr(unit, wantUnit, 1e-3) < 1e-5, "normalizeRows");
    for (let t = 0; t < d; t++) assert.equal(unit[5 * d + t], 0);
    const grad = rng.fillNormal(new Float32Array(rows * d));
    const G = be.upload(grad, [rows, d]);
    be.removeParallelComponent(D, G);
    const got = await f32(be, G);
    const want = refRemoveParallel(unit, grad, rows, d);
    assert.ok(maxRelErr(got, want, 1) < 1e-5, "removeParallelComponent");
    // the result is orthogonal to each row
    for (const j of [0, 600, rows - 1]) {
      let s = 0;
      for (let t = 0; t < d; t++) s += got[j * d + t] * unit[j * d + t];
      assert.ok(Math.abs(s) < 1e-4, `row ${j} not orthogonal: ${s}`);
    }
  } finally {
    be.close();
  }
});

Deno.test("wasm threads: sparseTransposeProduct (gather by concept, beta) matches float64", async () => {
  const be = await backend();
  try {
    const rng = new Rng(9);
    const [n, d, c, k] = [301, 117, 2503, 7];
    const x = rng.fillNormal(new Float32Array(n * d));
    const pre = rng.fillNormal(new Float32Array(n * c));
    const z = be.sparse(n, c, n * k);
    be.topkRows(be.upload(pre, [n, c]), k, z);
    const vals = rng.fillNormal(new Float32Array(n * k));
    const ptr = (await be.read(z.rowPtr)) as Int32Array;
    const idx = (await be.read(z.index)) as Int32Array;
    const rowsS = Array.from(
      { length: n },
      (_, i) =>
        Array.from({ length: ptr[i + 1] - ptr[i] }, (_, q) => {
          const e = ptr[i] + q;
          return [idx[e], vals[e]] as [number, number];
        }),
    );
    const sd = refDense(rowsS, c);
    for (const beta of [0, 1, -0.5]) {
      const o0 = rng.fillNormal(new Float32Array(c * d));
      const out = be.upload(o0, [c, d]);
      be.sparseTransposeProduct(z, be.upload(vals, [n * k]), be.upload(x, [n, d]), out, beta);
      const ref = refGemm(sd, x, o0, c, d, n, true, false, 1, beta);
      const got = await f32(be, out);
      for (let i = 0; i < got.length; i++) {
        const tol = 4 * (n + 1) * U * ref.absSum[i] + 1e-30;
        if (!(Math.abs(got[i] - ref.value[i]) <= tol)) {
          assert.fail(`beta=${beta} element ${i}: got ${got[i]}, want ${ref.value[i]}`);
        }
      }
    }
  } finally {
    be.close();
  }
});

Deno.test("wasm threads: batchTopk candidate pass matches the float64 reference", async () => {
  const be = await backend();
  try {
    const rng = new Rng(10);
    const [n, c] = [613, 1031];
    // quantised values: many ties, some straddling the chunk boundary; a few NaN / Infinity
    const pre = Float32Array.from(
      rng.fillNormal(new Float32Array(n * c)),
      (v) => Math.round(v * 8) / 8,
    );
    pre[(n * c) >> 1] = Infinity;
    pre[((n * c) >> 1) + 1] = NaN;
    pre[17] = -Infinity;
    for (const k of [1, 3.5, 40]) {
      const K = Math.round(n * k);
      const z = be.sparse(n, c, K);
      const minKept = be.zeros([1]);
      be.batchTopk(be.upload(pre, [n, c]), k, z, minKept);
      const clean = Float32Array.from(pre, (v) => (Number.isNaN(v) ? -1 : v));
      const ref = refBatchTopk(clean, n, c, K);
      assert.equal(await be.readScalar(minKept), Math.fround(ref.minKept), `k=${k} minKept`);
      const ptr = (await be.read(z.rowPtr)) as Int32Array;
      const idx = (await be.read(z.index)) as Int32Array;
      const val = (await be.read(z.value)) as Float32Array;
      for (let i = 0; i < n; i++) {
        const want = ref.rows[i];
        assert.equal(ptr[i + 1] - ptr[i], want.length, `k=${k} row ${i} count`);
        for (let q = 0; q < want.length; q++) {
          assert.equal(idx[ptr[i] + q], want[q][0], `k=${k} row ${i} col`);
          assert.equal(val[ptr[i] + q], Math.fround(want[q][1]), `k=${k} row ${i} value`);
        }
      }
    }
  } finally {
    be.close();
  }
});

Deno.test("wasm threads: sparseTransposeProduct skips zero values (even over NaN rows)", async () => {
  const be = await backend();
  try {
    const rng = new Rng(11);
    const [n, d, c, k] = [517, 203, 1201, 9];
    const g = rng.fillNormal(new Float32Array(n * d));
    const pre = rng.fillNormal(new Float32Array(n * c));
    const z = be.sparse(n, c, n * k);
    be.topkRows(be.upload(pre, [n, c]), k, z);
    const vals = rng.fillNormal(new Float32Array(n * k));
    // every third row has zero values and a NaN gradient row: it must not contribute
    for (let i = 0; i < n; i += 3) {
      vals.fill(0, i * k, i * k + k);
      g[i * d + (i % d)] = NaN;
    }
    const idx = (await be.read(z.index)) as Int32Array;
    const want = new Float64Array(c * d);
    for (let i = 0; i < n; i++) {
      if (i % 3 === 0) continue;
      for (let e = i * k; e < i * k + k; e++) {
        for (let t = 0; t < d; t++) want[idx[e] * d + t] += vals[e] * g[i * d + t];
      }
    }
    const out = be.upload(rng.fillNormal(new Float32Array(c * d)), [c, d]);
    be.sparseTransposeProduct(z, be.upload(vals, [n * k]), be.upload(g, [n, d]), out, 0);
    const got = await f32(be, out);
    for (let i = 0; i < got.length; i++) {
      if (!(Math.abs(got[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i])))) {
        assert.fail(`element ${i}: got ${got[i]}, want ${want[i]}`);
      }
    }
  } finally {
    be.close();
  }
});

Deno.test("wasm threads: sparseResidual equals the unfused op sequence", async () => {
  const be = await backend();
  try {
    const rng = new Rng(12);
    const [n, d, c, k] = [613, 301, 2001, 6];
    const z = be.sparse(n, c, n * k);
    be.topkRows(be.upload(rng.fillNormal(new Float32Array(n * c)), [n, c]), k, z);
    const D = be.upload(rng.fillNormal(new Float32Array(c * d)), [c, d]);
    const X = be.upload(rng.fillNormal(new Float32Array(n * d)), [n, d]);
    const bias = be.upload(rng.fillNormal(new Float32Array(d)), [d]);
    const scale = 2 / n;
    // unfused
    const r1 = be.zeros([n, d]), sse1 = be.zeros([1]), v1 = be.zeros([n * k]);
    be.sparseDecode(z, D, bias, r1);
    be.axpby(1, r1, -1, X, r1);
    be.sumSquares(r1, sse1);
    be.axpby(scale, r1, 0, r1, r1);
    be.sparseSample(r1, D, z, v1);
    // fused
    const r2 = be.zeros([n, d]), sse2 = be.zeros([1]), v2 = be.zeros([n * k]);
    be.sparseResidual(z, D, bias, X, scale, r2, sse2, false, v2);
    const [a, b] = [await f32(be, r1), await f32(be, r2)];
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.fail(`r[${i}] ${a[i]} ≠ ${b[i]}`);
    const [va, vb] = [await f32(be, v1), await f32(be, v2)];
    for (let i = 0; i < va.length; i++) {
      if (va[i] !== vb[i]) assert.fail(`vals[${i}] ${va[i]} ≠ ${vb[i]}`);
    }
    const [s1, s2] = [await be.readScalar(sse1), await be.readScalar(sse2)];
    assert.ok(s1 > 0 && Math.abs(s1 - s2) <= 1e-5 * s1, `sse ${s1} vs ${s2}`);
  } finally {
    be.close();
  }
});

Deno.test("wasm threads: sumSquares (float64 across blocks) matches float64", async () => {
  const be = await backend();
  try {
    const rng = new Rng(13);
    for (const n of [65_536, 300_007, 1_000_003]) {
      const x = rng.fillNormal(new Float32Array(n), 3);
      x[n - 1] = 1000; // the scalar tail counts
      const X = be.upload(x, [n]);
      const s = be.upload(new Float32Array([2]), [1]);
      be.sumSquares(X, s, true);
      let want = 2;
      for (let i = 0; i < n; i++) want += x[i] * x[i];
      const got = await be.readScalar(s);
      assert.ok(Math.abs(got - want) <= 2e-6 * want, `n=${n}: ${got} vs ${want}`);
    }
  } finally {
    be.close();
  }
});

Deno.test("wasm threads: dense masks, counts and column sums match float64", async () => {
  const be = await backend();
  try {
    const rng = new Rng(14);
    const [m, q] = [613, 1031];
    const pre = rng.fillNormal(new Float32Array(m * q));
    const x = rng.fillNormal(new Float32Array(m * q));
    x[5] = NaN; // masked out or kept as NaN, never spread
    const thetaCol = rng.fillNormal(new Float32Array(q), 0.5);
    for (const theta of [thetaCol, new Float32Array([0.3])]) {
      const th = (j: number) => (theta.length === 1 ? theta[0] : theta[j]);
      const P = be.upload(pre, [m, q]), Th = be.upload(theta, [theta.length]);
      // thresholdDense and maskAbove (aliased: out = x)
      const Z = be.zeros([m, q]);
      be.thresholdDense(P, Th, Z);
      const X = be.upload(x, [m, q]);
      be.maskAbove(P, Th, X, X);
      const [z, xm] = [await f32(be, Z), await f32(be, X)];
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < q; j++) {
          const f = i * q + j, keep = pre[f] > th(j);
          assert.ok(Object.is(z[f], keep ? pre[f] : 0), `thresholdDense ${i},${j}`);
          assert.ok(Object.is(xm[f], keep ? x[f] : 0), `maskAbove ${i},${j}`);
        }
      }
      // countAbove with beta, columnSum with beta (float64 reference)
      const c0 = rng.fillNormal(new Float32Array(q));
      const C = be.upload(c0, [q]);
      be.countAbove(P, Th, C, 0.5);
      const S = be.upload(c0, [q]);
      be.columnSum(P, S, 2);
      const [cnt, sum] = [await f32(be, C), await f32(be, S)];
      for (let j = 0; j < q; j++) {
        let n = 0, s = 0;
        for (let i = 0; i < m; i++) {
          if (pre[i * q + j] > th(j)) n++;
          s += pre[i * q + j];
        }
        assert.equal(cnt[j], Math.fround(0.5 * c0[j] + n), `countAbove ${j}`);
        const want = 2 * c0[j] + s;
        assert.ok(Math.abs(sum[j] - want) <= 1e-6 * (1 + Math.abs(want)), `columnSum ${j}`);
      }
    }
  } finally {
    be.close();
  }
});

Deno.test("wasm threads: threshold and its band (chunked, compacted) match the float64 reference", async () => {
  const be = await backend();
  try {
    const rng = new Rng(15);
    const [n, c] = [517, 1003];
    const pre = rng.fillNormal(new Float32Array(n * c));
    pre.fill(-5, 200 * c, 201 * c); // an empty row
    const thetaCol = Float32Array.from(rng.fillNormal(new Float32Array(c), 0.3), (v) => v + 1.5);
    const same = async (z: SparseCodes, want: RefRows, what: string) => {
      const ptr = (await be.read(z.rowPtr)) as Int32Array;
      const idx = (await be.read(z.index)) as Int32Array;
      const val = (await be.read(z.value)) as Float32Array;
      let total = 0;
      for (let i = 0; i < n; i++) {
        assert.equal(ptr[i], total, `${what} row ${i} start`);
        assert.equal(ptr[i + 1] - ptr[i], want[i].length, `${what} row ${i} count`);
        for (let q = 0; q < want[i].length; q++) {
          assert.equal(idx[ptr[i] + q], want[i][q][0]);
          assert.equal(val[ptr[i] + q], Math.fround(want[i][q][1]));
        }
        total += want[i].length;
      }
      assert.equal(ptr[n], total);
    };
    for (const theta of [thetaCol, new Float32Array([2.2])]) {
      const P = be.upload(pre, [n, c]), T = be.upload(theta, [theta.length]);
      const z = be.sparse(n, c, n * c);
      be.threshold(P, T, z);
      await same(z, refThreshold(pre, n, c, theta), "threshold");
      // the band theta − 0.5 < pre ≤ theta + 0.5 from the same pass (the rows' last partial
      // SIMD group and the empty row included)
      const lo = theta.map((v) => v - 0.5), hi = theta.map((v) => v + 0.5);
      const band = be.sparse(n, c, n * c);
      const bounds = { lo: be.upload(lo, [lo.length]), hi: be.upload(hi, [hi.length]), z: band };
      be.threshold(P, T, z, bounds);
      await same(z, refThreshold(pre, n, c, theta), "threshold beside a band");
      await same(band, refThreshold(pre, n, c, lo, hi), "band");
    }
  } finally {
    be.close();
  }
});

Deno.test("wasm threads: scaleRows (beta 0 over NaN, beta ½, odd row length) matches float64", async () => {
  const be = await backend();
  try {
    const rng = new Rng(41);
    const [m, q] = [1500, 203];
    const a = rng.fillNormal(new Float32Array(m * q)), v = rng.fillNormal(new Float32Array(m));
    for (const beta of [0, 0.5]) {
      const o0 = rng.fillNormal(new Float32Array(m * q));
      if (beta === 0) o0[7] = NaN;
      const out = be.upload(o0, [m, q]);
      be.scaleRows(be.upload(v, [m]), be.upload(a, [m, q]), out, beta);
      const got = await f32(be, out);
      for (let i = 0; i < got.length; i++) {
        const want = (beta === 0 ? 0 : beta * o0[i]) + v[Math.floor(i / q)] * a[i];
        if (!(Math.abs(got[i] - want) <= 1e-6 * (1 + Math.abs(want)))) {
          assert.fail(`beta=${beta} element ${i}: got ${got[i]}, want ${want}`);
        }
      }
    }
  } finally {
    be.close();
  }
});

Deno.test("wasm threads: per-row top-k (screened) matches the float64 reference and the heap", async () => {
  const be = await backend();
  try {
    const rng = new Rng(43);
    for (const [n, c, k] of [[600, 1201, 9], [300, 4096, 32], [257, 263, 1], [64, 1027, 200]]) {
      // a coarse grid: many ties, which go to the lower column
      const pre = rng.fillNormal(new Float32Array(n * c)).map((x) => Math.round(x * 8) / 8);
      const z = be.sparse(n, c, n * k);
      be.topkRows(be.upload(pre, [n, c]), k, z);
      const idx = (await be.read(z.index)) as Int32Array, val = await f32(be, z.value);
      const ptr = (await be.read(z.rowPtr)) as Int32Array;
      const want = refTopkRows(pre, n, c, k);
      for (let i = 0; i < n; i++) {
        assert.equal(ptr[i], i * k);
        const got = [];
        for (let e = i * k; e < (i + 1) * k; e++) got.push([idx[e], val[e]]);
        assert.deepEqual(got, want[i], `${n}×${c} k=${k} row ${i}`);
      }
      assert.equal(ptr[n], n * k);
      // the screened path ran (no row needed the heap) where k is small against the groups
      if (4 * k <= 4 * (c >> 6) + (c & 63)) {
        assert.deepEqual(be.topkRowsStats, { rows: n, heapRows: 0 });
      }
    }
    // NaN and ±Inf rows: the same codes as the plain heap loop
    const [n, c, k] = [200, 2048, 16];
    const pre = rng.fillNormal(new Float32Array(n * c));
    for (let i = 0; i < n; i += 3) pre[i * c + ((i * 7) % c)] = NaN;
    for (let i = 1; i < n; i += 5) pre[i * c + ((i * 11) % c)] = -Infinity;
    for (let i = 2; i < n; i += 7) pre[i * c + ((i * 13) % c)] = Infinity;
    const z = be.sparse(n, c, n * k);
    be.topkRows(be.upload(pre, [n, c]), k, z);
    const host = {
      rows: n,
      cols: c,
      rowPtr: new Int32Array(n + 1),
      index: new Int32Array(n * k),
      value: new Float32Array(n * k),
    };
    const nanRows = Math.ceil(n / 3);
    assert.ok(be.topkRowsStats.heapRows >= nanRows, "rows with NaN go through the heap");
    assert.ok(be.topkRowsStats.heapRows < n, "the others do not");
    topkRowsHost(pre, n, c, k, host);
    assert.deepEqual((await be.read(z.index)) as Int32Array, host.index);
    assert.deepEqual(await f32(be, z.value), host.value);
  } finally {
    be.close();
  }
});
