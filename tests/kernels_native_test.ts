/**
 * The native sparse kernels (kernels/native/sparse_kernels.c) at sizes split over threads, with
 * a feature width that ends in a partial slab (d = 203 = 3·64 + 11) and rows of uneven length
 * (batch top-k codes, some rows empty), against float64 references: the batch top-k candidate
 * pass with an encoder bias, decode with bias, the fused
 * residual (squared error, scaled residual, samples), sample, and the by-concept gather with
 * beta 0, 1 and ½ (zero values skipped even over NaN source rows). Ignored on a
 * machine without a C compiler.
 */
import assert from "node:assert/strict";
import type { Backend, SparseCodes, Tensor } from "../kernels/backend.ts";
import type { CpuBackend } from "../kernels/cpu_backend.ts";
import { createBackend } from "../kernels/select.ts";
import { loadNativeSparse } from "../kernels/native_sparse.ts";
import { missing } from "./helpers/prerequisites.ts";
import { Rng } from "../data/random.ts";
import {
  refAdamw,
  refBatchTopk,
  refNormalizeRows,
  refRemoveParallel,
  refTopkRows,
} from "../kernels/reference_f64.ts";

/** Without a C compiler the native kernels do not build: their tests are ignored. */
const noNative = missing("cc", (await loadNativeSparse()) !== null);

async function f32(be: Backend, t: Tensor): Promise<Float32Array> {
  return (await be.read(t)) as Float32Array;
}

function near(got: ArrayLike<number>, want: ArrayLike<number>, scale: number, what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= 2e-5 * scale * (1 + Math.abs(want[i])))) {
      assert.fail(`${what}: element ${i}: got ${got[i]}, want ${want[i]}`);
    }
  }
}

interface Codes {
  rowPtr: Int32Array;
  index: Int32Array;
  value: Float32Array;
}
async function codesOf(be: Backend, z: SparseCodes): Promise<Codes> {
  return {
    rowPtr: (await be.read(z.rowPtr)) as Int32Array,
    index: (await be.read(z.index)) as Int32Array,
    value: (await be.read(z.value)) as Float32Array,
  };
}

/** Z·D + bias in float64. */
function refDecode(z: Codes, n: number, D: Float32Array, d: number, bias: Float32Array | null) {
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < d; t++) out[i * d + t] = bias ? bias[t] : 0;
    for (let e = z.rowPtr[i]; e < z.rowPtr[i + 1]; e++) {
      for (let t = 0; t < d; t++) out[i * d + t] += z.value[e] * D[z.index[e] * d + t];
    }
  }
  return out;
}

/** vals_e = ⟨G_i, D_j⟩ in float64. */
function refSample(z: Codes, n: number, G: ArrayLike<number>, D: Float32Array, d: number) {
  const out = new Float64Array(z.rowPtr[n]);
  for (let i = 0; i < n; i++) {
    for (let e = z.rowPtr[i]; e < z.rowPtr[i + 1]; e++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += G[i * d + t] * D[z.index[e] * d + t];
      out[e] = s;
    }
  }
  return out;
}

Deno.test({
  name: "native sparse kernels: threaded, partial slab, uneven rows vs float64",
  ignore: noNative,
}, async () => {
  const be = await createBackend("cpu", { sparse: "native" });
  try {
    assert.ok((be as CpuBackend).native);
    const rng = new Rng(23);
    const [n, d, c, k] = [1500, 203, 1201, 9];
    const pre = rng.fillNormal(new Float32Array(n * c));
    for (let i = 0; i < n; i += 7) pre.fill(-1, i * c, i * c + c); // some rows keep nothing
    const z = be.sparse(n, c, n * k);
    // batch top-k with a bias: the native candidate pass, split over threads by rows
    const encBias = rng.fillNormal(new Float32Array(c), 0.3);
    const minKept = be.zeros([1]);
    be.batchTopk(be.upload(pre, [n, c]), k, z, minKept, be.upload(encBias, [c]));
    const zc = await codesOf(be, z);
    const want = refBatchTopk(pre, n, c, n * k, encBias);
    for (let i = 0; i < n; i++) {
      const got = [];
      for (let e = zc.rowPtr[i]; e < zc.rowPtr[i + 1]; e++) got.push([zc.index[e], zc.value[e]]);
      assert.deepEqual(got, want.rows[i], `batch top-k row ${i}`);
    }
    assert.equal(await be.readScalar(minKept), Math.fround(want.minKept));
    assert.ok(zc.rowPtr[n] > 0.8 * n * k, "batch top-k filled the codes");
    const dict = rng.fillNormal(new Float32Array(c * d));
    const bias = rng.fillNormal(new Float32Array(d));
    const x = rng.fillNormal(new Float32Array(n * d));
    const D = be.upload(dict, [c, d]), Bi = be.upload(bias, [d]), X = be.upload(x, [n, d]);

    // decode with bias
    const out = be.upload(rng.fillNormal(new Float32Array(n * d)), [n, d]);
    be.sparseDecode(z, D, Bi, out);
    const dec = refDecode(zc, n, dict, d, bias);
    near(await f32(be, out), dec, k, "decode");

    // fused residual: r = s·(Z·D + b − x), sse, vals = ⟨r_i, D_j⟩
    const scale = 0.37;
    const r = be.zeros([n, d]), sse = be.upload(new Float32Array([5]), [1]);
    const vals = be.zeros([z.capacity]);
    be.sparseResidual(z, D, Bi, X, scale, r, sse, true, vals);
    const rRef = Float64Array.from(dec, (v, i) => scale * (v - x[i]));
    let sseRef = 5;
    for (let i = 0; i < dec.length; i++) sseRef += (dec[i] - x[i]) ** 2;
    near(await f32(be, r), rRef, k, "residual");
    near([await be.readScalar(sse)], [sseRef], 1, "squared error");
    const nnz = zc.rowPtr[n];
    near((await f32(be, vals)).subarray(0, nnz), refSample(zc, n, rRef, dict, d), d, "vals");

    // sample from another G
    const g = rng.fillNormal(new Float32Array(n * d));
    be.sparseSample(be.upload(g, [n, d]), D, z, vals);
    near((await f32(be, vals)).subarray(0, nnz), refSample(zc, n, g, dict, d), d, "sample");

    // gather: out = beta·out + Zᵀ·G with values w (zeros over NaN rows skipped)
    const w = rng.fillNormal(new Float32Array(z.capacity));
    const gNaN = g.slice();
    for (let i = 0; i < n; i += 5) {
      w.fill(0, zc.rowPtr[i], zc.rowPtr[i + 1]);
      gNaN[i * d + (i % d)] = NaN;
    }
    const W = be.upload(w, [z.capacity]), G = be.upload(gNaN, [n, d]);
    for (const beta of [0, 1, 0.5]) {
      const init = rng.fillNormal(new Float32Array(c * d));
      if (beta === 0) init[3] = NaN; // overwritten
      const o = be.upload(init, [c, d]);
      be.sparseTransposeProduct(z, W, G, o, beta);
      const want = Float64Array.from(init, (v) => beta === 0 ? 0 : beta * v);
      for (let i = 0; i < n; i++) {
        for (let e = zc.rowPtr[i]; e < zc.rowPtr[i + 1]; e++) {
          if (w[e] === 0) continue;
          for (let t = 0; t < d; t++) want[zc.index[e] * d + t] += w[e] * gNaN[i * d + t];
        }
      }
      near(await f32(be, o), want, n * k / c + 1, `gather beta=${beta}`);
    }
  } finally {
    be.close();
  }
});

Deno.test({
  name: "native optimiser kernels: threaded removal with norms, scaled AdamW with renormalisation",
  ignore: noNative,
}, async () => {
  const be = await createBackend("cpu", { sparse: "native" });
  try {
    const rng = new Rng(29);
    const [rows, cols] = [1301, 203];
    const dict = refNormalizeRows(rng.fillNormal(new Float32Array(rows * cols)), rows, cols);
    const dictF = Float32Array.from(dict);
    const g = rng.fillNormal(new Float32Array(rows * cols));
    const D = be.upload(dictF, [rows, cols]), G = be.upload(g, [rows, cols]);
    const ss = be.upload(new Float32Array([1]), [1]);
    be.removeParallelComponent(D, G, ss, true);
    const perp = refRemoveParallel(dictF, g, rows, cols);
    near(await f32(be, G), perp, 1, "removal");
    near([await be.readScalar(ss)], [1 + perp.reduce((a, x) => a + x * x, 0)], 1, "norm²");

    const m0 = rng.fillNormal(new Float32Array(rows * cols), 0.1);
    const v0 = rng.fillNormal(new Float32Array(rows * cols)).map((x) => x * x);
    const M = be.upload(m0, [rows, cols]), V = be.upload(v0, [rows, cols]);
    const o = { lr: 3e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 7 };
    const scale = 0.61;
    const Gs = be.upload(g, [rows, cols]);
    be.adamw(D, Gs, M, V, {
      ...o,
      gradScale: be.upload(new Float32Array([scale]), [1]),
      normalizeRows: true,
    });
    const r = refAdamw(dictF, g.map((x) => x * scale), m0, v0, o);
    near(await f32(be, M), r.m, 1, "adam m");
    near(await f32(be, V), r.v, 1, "adam v");
    near(await f32(be, D), refNormalizeRows(r.p, rows, cols), 1, "adam p renormalised");
  } finally {
    be.close();
  }
});

Deno.test({
  name: "native per-row top-k: threaded, ties on quantised values, k = 1 and k = c, NaN rows",
  ignore: noNative,
}, async () => {
  const be = await createBackend("cpu", { sparse: "native" });
  try {
    const rng = new Rng(31);
    // k from a quarter of the 16-entry groups up to a quarter of the entries takes narrower
    // groups (8, 4, 2, 1 entries); `masked`: AuxK's input, −1e4 added to most columns (live
    // concepts), ±0 among the values
    const cases = [
      [1500, 1201, 9, false],
      [700, 1603, 1, false],
      [64, 77, 77, false],
      [2, 4096, 300, false],
      [512, 512, 16, true],
      [300, 512, 64, true],
      [200, 700, 40, false],
      [100, 300, 75, true],
    ] as const;
    for (const [n, c, k, masked] of cases) {
      // values on a coarse grid: many ties, which go to the lower column
      const pre = rng.fillNormal(new Float32Array(n * c)).map((x) => Math.round(x * 8) / 8);
      if (masked) {
        for (let e = 0; e < n * c; e++) {
          if ((e % c) % 3 !== 0) pre[e] += -1e4;
          else if (e % 7 === 0) pre[e] = -0;
        }
      }
      const z = be.sparse(n, c, n * k);
      be.topkRows(be.upload(pre, [n, c]), k, z);
      const zc = await codesOf(be, z);
      const want = refTopkRows(pre, n, c, k);
      assert.equal(zc.rowPtr[n], n * k);
      for (let i = 0; i < n; i++) {
        assert.equal(zc.rowPtr[i], i * k);
        const got = [];
        for (let e = i * k; e < (i + 1) * k; e++) got.push([zc.index[e], zc.value[e]]);
        assert.deepEqual(got, want[i], `top-k ${n}×${c} k=${k} row ${i}`);
      }
      be.disposeSparse(z);
    }
    // rows with NaN (and ±Inf) take the heap path: the same codes as the host loop
    const [n, c, k] = [300, 2048, 16];
    const pre = rng.fillNormal(new Float32Array(n * c));
    for (let i = 0; i < n; i += 3) pre[i * c + ((i * 7) % c)] = NaN;
    for (let i = 1; i < n; i += 5) pre[i * c + ((i * 11) % c)] = Infinity;
    const host = await createBackend("cpu", { sparse: "wasm" });
    try {
      const zn = be.sparse(n, c, n * k), zh = host.sparse(n, c, n * k);
      be.topkRows(be.upload(pre, [n, c]), k, zn);
      host.topkRows(host.upload(pre, [n, c]), k, zh);
      const a = await codesOf(be, zn), b = await codesOf(host, zh);
      assert.deepEqual(
        Array.from(a.index.subarray(0, n * k)),
        Array.from(b.index.subarray(0, n * k)),
      );
      assert.deepEqual(
        Array.from(a.value.subarray(0, n * k)),
        Array.from(b.value.subarray(0, n * k)),
      );
    } finally {
      host.close();
    }
  } finally {
    be.close();
  }
});

Deno.test(
  { name: "native row scaling: threaded, beta 0 over NaN and beta ½", ignore: noNative },
  async () => {
    const be = await createBackend("cpu", { sparse: "native" });
    try {
      const rng = new Rng(37);
      const [m, q] = [1500, 203];
      const a = rng.fillNormal(new Float32Array(m * q)), v = rng.fillNormal(new Float32Array(m));
      for (const beta of [0, 0.5]) {
        const o0 = rng.fillNormal(new Float32Array(m * q));
        if (beta === 0) o0[5] = NaN;
        const out = be.upload(o0, [m, q]);
        be.scaleRows(be.upload(v, [m]), be.upload(a, [m, q]), out, beta);
        const want = Float64Array.from(
          a,
          (x, i) => (beta === 0 ? 0 : beta * o0[i]) + v[Math.floor(i / q)] * x,
        );
        near(await f32(be, out), want, 1, `scaleRows beta=${beta}`);
      }
    } finally {
      be.close();
    }
  },
);
