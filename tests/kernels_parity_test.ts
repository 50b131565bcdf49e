/**
 * Parity of every kernel op on every available backend (cpu with each GEMM provider; webgpu
 * when an adapter exists) against the float64 references of kernels/reference_f64.ts, on
 * awkward shapes (not multiples of a tile, k = 1, k = c, one-row batches).
 */
import assert from "node:assert/strict";
import type { Backend, SparseCodes, Tensor } from "../kernels/backend.ts";
import { createBackend } from "../kernels/select.ts";
import type { CpuBackend } from "../kernels/cpu_backend.ts";
import type { GemmKind } from "../kernels/gemm_provider.ts";
import { loadOpenBlas } from "../kernels/openblas.ts";
import { Rng } from "../data/random.ts";
import {
  refAdamw,
  refBatchTopk,
  refDecode,
  refDense,
  refGemm,
  refNormalizeRows,
  refRemoveParallel,
  type RefResult,
  type RefRows,
  refSumSquares,
  refThreshold,
  refTopkRows,
} from "../kernels/reference_f64.ts";
import { missing } from "./helpers/prerequisites.ts";

const U = 2 ** -24;

function randn(rng: Rng, n: number, scale = 1): Float32Array {
  return rng.fillNormal(new Float32Array(n), scale);
}

/** |got − ref| ≤ (4·kEff·u)·Σ|terms| + tiny, elementwise. */
function assertClose(got: ArrayLike<number>, ref: RefResult, kEff: number, label: string): void {
  assert.equal(got.length, ref.value.length, `${label}: length`);
  const f = 4 * Math.max(1, kEff) * U + 1e-6;
  for (let i = 0; i < got.length; i++) {
    const tol = f * ref.absSum[i] + 1e-30;
    const err = Math.abs(got[i] - ref.value[i]);
    if (!(err <= tol)) {
      assert.fail(`${label}: element ${i} got ${got[i]}, want ${ref.value[i]} (tol ${tol})`);
    }
  }
}

function assertRel(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, label: string) {
  assert.equal(got.length, want.length, `${label}: length`);
  for (let i = 0; i < got.length; i++) {
    const tol = rel * (1 + Math.abs(want[i]));
    if (!(Math.abs(got[i] - want[i]) <= tol)) {
      assert.fail(`${label}: element ${i} got ${got[i]}, want ${want[i]}`);
    }
  }
}

async function readRows(be: Backend, z: SparseCodes): Promise<RefRows> {
  const ptr = (await be.read(z.rowPtr)) as Int32Array;
  const idx = (await be.read(z.index)) as Int32Array;
  const val = (await be.read(z.value)) as Float32Array;
  const rows: RefRows = [];
  for (let i = 0; i < z.rows; i++) {
    const r: Array<[number, number]> = [];
    for (let e = ptr[i]; e < ptr[i + 1]; e++) r.push([idx[e], val[e]]);
    for (let t = 1; t < r.length; t++) assert.ok(r[t][0] > r[t - 1][0], "ascending columns");
    rows.push(r);
  }
  return rows;
}

function assertRowsEqual(got: RefRows, want: RefRows, label: string): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    assert.deepEqual(got[i].map((e) => e[0]), want[i].map((e) => e[0]), `${label} row ${i} cols`);
    for (let t = 0; t < want[i].length; t++) {
      assert.equal(got[i][t][1], Math.fround(want[i][t][1]), `${label} row ${i} value`);
    }
  }
}

/** Quantised values to force ties. */
function tied(rng: Rng, n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.round(rng.normal() * 2) / 4;
  return x;
}

async function suite(t: Deno.TestContext, be: Backend): Promise<void> {
  const rng = new Rng(1234);
  const f32 = async (x: Tensor) => (await be.read(x)) as Float32Array;

  await t.step("memory: upload/read/write/i32", async () => {
    const x = randn(rng, 5 * 3);
    const tx = be.upload(x, [5, 3]);
    assert.deepEqual(await f32(tx), x);
    be.write(tx, new Float32Array([7, 8]), 4);
    const y = x.slice();
    y[4] = 7;
    y[5] = 8;
    assert.deepEqual(await f32(tx), y);
    const ti = be.upload(new Int32Array([1, -2, 3]), [3]);
    assert.equal(ti.dtype, "i32");
    assert.deepEqual(await be.read(ti), new Int32Array([1, -2, 3]));
    assert.equal(await be.readScalar(tx), y[0]);
    assert.throws(() => be.upload(new Float32Array(4), [2, 3]));
    for (const q of [tx, ti]) be.dispose(q);
  });

  await t.step("gemm: all transposes, awkward shapes, alpha/beta", async () => {
    const shapes = [[1, 1, 1], [1, 17, 5], [33, 65, 129], [70, 3, 200], [5, 130, 1], [64, 64, 64]];
    for (const [m, n, k] of shapes) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          for (const [alpha, beta] of [[1, 0], [1.5, -0.5]]) {
            const a = randn(rng, m * k), b = randn(rng, k * n), c0 = randn(rng, m * n);
            const A = be.upload(a, tA ? [k, m] : [m, k]);
            const B = be.upload(b, tB ? [n, k] : [k, n]);
            const C = be.upload(c0, [m, n]);
            be.gemm(A, B, C, { transA: tA, transB: tB, alpha, beta });
            const ref = refGemm(a, b, c0, m, n, k, tA, tB, alpha, beta);
            assertClose(await f32(C), ref, k + 1, `gemm ${m}x${n}x${k} tA=${tA} tB=${tB}`);
            for (const q of [A, B, C]) be.dispose(q);
          }
        }
      }
    }
    const A = be.zeros([3, 4]), B = be.zeros([5, 6]), C = be.zeros([3, 6]);
    assert.throws(() => be.gemm(A, B, C), /inner/);
  });

  await t.step("linear: with and without bias, W as d×c or c×d", async () => {
    for (const [n, d, c] of [[1, 7, 9], [37, 20, 65], [3, 1, 1]]) {
      for (const withBias of [false, true]) {
        for (const transW of [false, true]) {
          const x = randn(rng, n * d), w = randn(rng, d * c), bias = randn(rng, c);
          const X = be.upload(x, [n, d]), Bi = be.upload(bias, [c]);
          const W = be.upload(w, transW ? [c, d] : [d, c]);
          const O = be.upload(randn(rng, n * c), [n, c]);
          be.linear(X, W, withBias ? Bi : null, O, transW);
          const b2 = new Float32Array(n * c);
          if (withBias) { for (let i = 0; i < n; i++) b2.set(bias, i * c); }
          const ref = refGemm(x, w, b2, n, c, d, false, transW, 1, 1);
          const what = `linear ${n}x${d}x${c} bias=${withBias} transW=${transW}`;
          assertClose(await f32(O), ref, d + 1, what);
        }
      }
    }
  });

  await t.step("topkRows: k=1, k=c, one row, ties", async () => {
    const cases: Array<[number, number, number, boolean]> = [
      [1, 10, 1, false],
      [5, 10, 10, false],
      [33, 70, 7, false],
      [1, 300, 32, false],
      [17, 40, 6, true],
    ];
    for (const [n, c, k, tie] of cases) {
      const pre = tie ? tied(rng, n * c) : randn(rng, n * c);
      const P = be.upload(pre, [n, c]);
      const z = be.sparse(n, c, n * k + 3);
      be.topkRows(P, k, z);
      const ptr = (await be.read(z.rowPtr)) as Int32Array;
      for (let i = 0; i <= n; i++) assert.equal(ptr[i], i * k);
      assertRowsEqual(await readRows(be, z), refTopkRows(pre, n, c, k), `topk ${n}x${c} k=${k}`);
      be.disposeSparse(z);
    }
    const z = be.sparse(2, 5, 3);
    assert.throws(() => be.topkRows(be.zeros([2, 5]), 2, z));
  });

  await t.step("batchTopk: ties, k=c, no positives, large", async () => {
    const cases: Array<[number, number, number, "n" | "t" | "neg"]> = [
      [1, 10, 3, "n"],
      [9, 50, 4, "n"],
      [40, 129, 5, "n"],
      [6, 8, 8, "n"],
      [25, 33, 3, "t"],
      [4, 9, 2, "neg"],
      [256, 512, 8, "n"],
      [200, 300, 16, "t"],
    ];
    for (const [n, c, k, kind] of cases) {
      const pre = kind === "t" ? tied(rng, n * c) : randn(rng, n * c);
      if (kind === "neg") { for (let i = 0; i < pre.length; i++) pre[i] = -Math.abs(pre[i]); }
      const P = be.upload(pre, [n, c]);
      const z = be.sparse(n, c, n * k);
      const mk = be.zeros([1]);
      be.batchTopk(P, k, z, mk);
      const ref = refBatchTopk(pre, n, c, n * k);
      assertRowsEqual(await readRows(be, z), ref.rows, `batchTopk ${n}x${c} k=${k} ${kind}`);
      assert.equal(await be.readScalar(mk), Math.fround(ref.minKept));
      be.disposeSparse(z);
    }
  });

  await t.step("batchTopk with bias: odd c, one row, k=c, ties, negative rows", async () => {
    const cases: Array<[number, number, number, "n" | "t" | "neg"]> = [
      [1, 10, 3, "n"],
      [1, 37, 37, "n"],
      [9, 50, 4, "n"],
      [40, 129, 5, "n"],
      [6, 8, 8, "t"],
      [25, 33, 3, "t"],
      [7, 19, 2, "neg"],
      [130, 70, 9, "n"],
      [200, 300, 16, "t"],
    ];
    for (const [n, c, k, kind] of cases) {
      const pre = kind === "t" ? tied(rng, n * c) : randn(rng, n * c);
      const bias = kind === "t" ? tied(rng, c) : randn(rng, c, 0.5);
      if (kind === "neg") {
        // every row negative after the bias except row 2 (a few positives in all)
        for (let i = 0; i < pre.length; i++) pre[i] = -Math.abs(pre[i]) - 1;
        for (let j = 0; j < c; j++) bias[j] = Math.abs(bias[j]) * (j % 5 === 0 ? 4 : 0.1);
        pre.fill(-5, 0, c);
      }
      const P = be.upload(pre, [n, c]), Bi = be.upload(bias, [c]);
      const z = be.sparse(n, c, n * k);
      const mk = be.zeros([1]);
      be.batchTopk(P, k, z, mk, Bi);
      const ref = refBatchTopk(pre, n, c, n * k, bias);
      const label = `batchTopk+bias ${n}x${c} k=${k} ${kind}`;
      assertRowsEqual(await readRows(be, z), ref.rows, label);
      assert.equal(await be.readScalar(mk), Math.fround(ref.minKept), `${label} minKept`);
      assert.deepEqual(await f32(P), pre, `${label}: pre unchanged`);
      // a second call on the same pre (the CPU backend then starts from its remembered guess)
      be.batchTopk(P, k, z, mk, Bi);
      assertRowsEqual(await readRows(be, z), ref.rows, `${label} (again)`);
      // null bias = no bias
      be.batchTopk(P, k, z, mk, null);
      assertRowsEqual(await readRows(be, z), refBatchTopk(pre, n, c, n * k).rows, `${label} null`);
      be.disposeSparse(z);
    }
    assert.throws(() =>
      be.batchTopk(be.zeros([2, 5]), 1, be.sparse(2, 5, 2), be.zeros([1]), be.zeros([4]))
    );
  });

  await t.step("encoder ops: encodeTopkRows, encodeBatchTopk, a masked row selection", async () => {
    const cases: Array<[number, number, number, number, number]> = [
      // n, c, d, k, aux k
      [1, 40, 7, 3, 5],
      [33, 70, 19, 7, 4],
      [20, 130, 64, 1, 12],
    ];
    for (const [n, c, d, k, ka] of cases) {
      const x = randn(rng, n * d), w = randn(rng, c * d, 1 / Math.sqrt(d));
      const bias = randn(rng, c, 0.3);
      const allowed = Array.from({ length: c }, (_, j) => (j * 7) % 3 !== 0);
      const pre64 = refGemm(x, w, null, n, c, d, false, true, 1, 0).value;
      for (let i = 0; i < n; i++) for (let j = 0; j < c; j++) pre64[i * c + j] += bias[j];
      const masked = pre64.map((v, e) => allowed[e % c] ? v : -Infinity);
      const X = be.upload(x, [n, d]), W = be.upload(w, [c, d]), Bi = be.upload(bias, [c]);
      const pre = be.zeros([n, c]), minKept = be.zeros([1]);
      const aux = {
        k: ka,
        mask: be.upload(Float32Array.from(allowed, (a) => a ? 0 : -1e4), [1, c]),
        ones: be.upload(new Float32Array(n).fill(1), [n, 1]),
        z: be.sparse(n, c, n * ka),
      };
      const label = `${n}x${c}x${d} k=${k} aux=${ka}`;
      // columns exactly, values to float32 rounding of a d-term dot product
      const close = (got: RefRows, want: RefRows, what: string) => {
        assert.deepEqual(got.map((r) => r.map((e) => e[0])), want.map((r) => r.map((e) => e[0])));
        for (let i = 0; i < want.length; i++) {
          for (let e = 0; e < want[i].length; e++) {
            const err = Math.abs(got[i][e][1] - want[i][e][1]);
            assert.ok(err <= 1e-5 * (1 + Math.abs(want[i][e][1])), `${what} row ${i}: ${err}`);
          }
        }
      };
      const z = be.sparse(n, c, n * k);
      be.encodeTopkRows(X, W, Bi, k, z, pre, aux);
      close(await readRows(be, z), refTopkRows(pre64, n, c, k), `encodeTopkRows ${label}`);
      const auxWant = refTopkRows(masked, n, c, ka);
      close(await readRows(be, aux.z), auxWant, `encodeTopkRows aux ${label}`);
      be.encodeBatchTopk(X, W, Bi, k, z, minKept, pre, aux);
      close(
        await readRows(be, z),
        refBatchTopk(pre64, n, c, n * k).rows,
        `encodeBatchTopk ${label}`,
      );
      close(await readRows(be, aux.z), auxWant, `encodeBatchTopk aux ${label}`);
      for (const tn of [X, W, Bi, pre, minKept, aux.mask, aux.ones]) be.dispose(tn);
      be.disposeSparse(z);
      be.disposeSparse(aux.z);
    }
  });

  await t.step("threshold: shared and per-concept, with and without a band", async () => {
    for (const [n, c] of [[1, 5], [23, 47], [64, 1031]]) {
      const pre = randn(rng, n * c);
      for (const theta of [new Float32Array([0.3]), randn(rng, c, 0.5)]) {
        const P = be.upload(pre, [n, c]), T = be.upload(theta, [theta.length]);
        const z = be.sparse(n, c, n * c);
        be.threshold(P, T, z);
        const want = refThreshold(pre, n, c, theta);
        assertRowsEqual(await readRows(be, z), want, "threshold");
        // the band around theta (lo < pre ≤ hi), hi shared or per column, with entries exactly
        // at both ends (pre = lo is out, pre = hi is in)
        const lo = theta.map((v) => v - 0.25);
        for (const hi of [theta.map((v) => v + 0.25), new Float32Array([0.4])]) {
          const p2 = pre.slice();
          p2[0] = lo[0];
          p2[n * c - 1] = hi[hi.length === 1 ? 0 : c - 1];
          be.write(P, p2);
          const Lo = be.upload(lo, [lo.length]), Hi = be.upload(hi, [hi.length]);
          const band = be.sparse(n, c, n * c);
          be.threshold(P, T, z, { lo: Lo, hi: Hi, z: band });
          const label = `threshold band ${n}x${c} θ ${theta.length} hi ${hi.length}`;
          assertRowsEqual(await readRows(be, z), refThreshold(p2, n, c, theta), label);
          assertRowsEqual(await readRows(be, band), refThreshold(p2, n, c, lo, hi), label);
          be.disposeSparse(band);
          for (const tn of [Lo, Hi]) be.dispose(tn);
        }
        be.disposeSparse(z);
        for (const tn of [P, T]) be.dispose(tn);
      }
    }
    const z = be.sparse(4, 10, 2);
    await assert.rejects(async () => {
      be.threshold(
        be.upload(new Float32Array(40).fill(1), [4, 10]),
        be.upload(new Float32Array(1), [1]),
        z,
      );
      await be.read(z.rowPtr);
    }, /capacity/);
  });

  await t.step("sparseResidual: fused residual, squared error and sample", async () => {
    for (const [n, c, d, k] of [[1, 9, 5, 9], [37, 70, 33, 4], [8, 16, 130, 1], [5, 40, 7, 3]]) {
      const pre = randn(rng, n * c);
      const z = be.sparse(n, c, n * k + 5);
      be.topkRows(be.upload(pre, [n, c]), k, z);
      const rows = await readRows(be, z);
      const zd = refDense(rows, c);
      const dict = randn(rng, c * d), bias = randn(rng, d), x = randn(rng, n * d);
      const D = be.upload(dict, [c, d]), X = be.upload(x, [n, d]);
      const ptr = (await be.read(z.rowPtr)) as Int32Array;
      const idx = (await be.read(z.index)) as Int32Array;
      for (const withBias of [false, true]) {
        const scale = withBias ? -0.75 : 2 / n;
        const dec = refDecode(zd, n, c, dict, d, withBias ? bias : null);
        const rRef = { value: new Float64Array(n * d), absSum: new Float64Array(n * d) };
        let sse = 0, sseTol = 0;
        for (let q = 0; q < n * d; q++) {
          const e = dec.value[q] - x[q], a = dec.absSum[q] + Math.abs(x[q]);
          rRef.value[q] = scale * e;
          rRef.absSum[q] = Math.abs(scale) * a;
          sse += e * e;
          sseTol += 2 * Math.abs(e) * 4 * (k + 2) * U * a + 4 * d * U * e * e;
        }
        const R = be.upload(randn(rng, n * d), [n, d]);
        const sseT = be.upload(new Float32Array([1.5]), [1]);
        const vals = be.zeros([z.capacity]);
        const B = withBias ? be.upload(bias, [d]) : null;
        be.sparseResidual(z, D, B, X, scale, R, sseT, withBias, withBias ? vals : null);
        assertClose(await f32(R), rRef, k + 2, `residual n=${n} d=${d} k=${k}`);
        const gotSse = await be.readScalar(sseT);
        const wantSse = (withBias ? 1.5 : 0) + sse;
        assert.ok(
          Math.abs(gotSse - wantSse) <= sseTol + 1e-6 * wantSse + 1e-6,
          `sse ${gotSse} vs ${wantSse}`,
        );
        if (!withBias) continue;
        const gotVals = await f32(vals);
        const refV = { value: new Float64Array(ptr[n]), absSum: new Float64Array(ptr[n]) };
        for (let i = 0; i < n; i++) {
          for (let e = ptr[i]; e < ptr[i + 1]; e++) {
            for (let q = 0; q < d; q++) {
              refV.value[e] += rRef.value[i * d + q] * dict[idx[e] * d + q];
              refV.absSum[e] += rRef.absSum[i * d + q] * Math.abs(dict[idx[e] * d + q]);
            }
          }
        }
        assertClose(gotVals.subarray(0, ptr[n]), refV, d + k + 2, "residual sample");
      }
      assert.throws(() => be.sparseResidual(z, D, null, X, 1, X, be.zeros([1]), false, null));
    }
  });

  await t.step(
    "sparse products: decode, sample, transpose product, column sum, add scalar",
    async () => {
      for (const [n, c, d, k] of [[1, 9, 5, 9], [37, 70, 33, 4], [8, 16, 130, 1]]) {
        const pre = randn(rng, n * c);
        const z = be.sparse(n, c, n * k + 5);
        be.topkRows(be.upload(pre, [n, c]), k, z);
        const rows = await readRows(be, z);
        const zd = refDense(rows, c);
        const dict = randn(rng, c * d), bias = randn(rng, d);
        const D = be.upload(dict, [c, d]);
        // decode
        for (const withBias of [false, true]) {
          const out = be.upload(randn(rng, n * d), [n, d]);
          be.sparseDecode(z, D, withBias ? be.upload(bias, [d]) : null, out);
          assertClose(
            await f32(out),
            refDecode(zd, n, c, dict, d, withBias ? bias : null),
            k + 1,
            "decode",
          );
        }
        // sample: vals[e] = <G_i, D_j>
        const g = randn(rng, n * d);
        const G = be.upload(g, [n, d]);
        const vals = be.zeros([z.capacity]);
        be.sparseSample(G, D, z, vals);
        const gotVals = await f32(vals);
        const ptr = (await be.read(z.rowPtr)) as Int32Array;
        const idx = (await be.read(z.index)) as Int32Array;
        const GD = refGemm(g, dict, null, n, c, d, false, true, 1, 0);
        const refV = { value: new Float64Array(ptr[n]), absSum: new Float64Array(ptr[n]) };
        for (let i = 0; i < n; i++) {
          for (let e = ptr[i]; e < ptr[i + 1]; e++) {
            refV.value[e] = GD.value[i * c + idx[e]];
            refV.absSum[e] = GD.absSum[i * c + idx[e]];
          }
        }
        assertClose(gotVals.subarray(0, ptr[n]), refV, d, "sample");
        // S: Z's pattern with values `vals` (dense, float64)
        const sd = new Float64Array(n * c);
        for (let i = 0; i < n; i++) {
          for (let e = ptr[i]; e < ptr[i + 1]; e++) sd[i * c + idx[e]] += gotVals[e];
        }
        for (const beta of [0, 1, 0.5]) {
          // transpose product with z.value and with vals
          for (const useVals of [false, true]) {
            const o0 = randn(rng, c * d);
            const out = be.upload(o0, [c, d]);
            be.sparseTransposeProduct(z, useVals ? vals : null, G, out, beta);
            const ref = refGemm(useVals ? sd : zd, g, o0, c, d, n, true, false, 1, beta);
            assertClose(await f32(out), ref, n + 1, `transposeProduct beta=${beta}`);
          }
          // column sum
          const o2 = randn(rng, c);
          const out3 = be.upload(o2, [c]);
          be.sparseColumnSum(z, vals, out3, beta);
          const ones = new Float64Array(n).fill(1);
          assertClose(
            await f32(out3),
            refGemm(ones, sd, o2, 1, c, n, false, false, 1, beta),
            n + 1,
            "colsum",
          );
        }
        // add a scalar to the entries' values only: the capacity's 5 unused slots keep theirs
        const before = gotVals.slice();
        be.sparseAddScalar(z, vals, 0.375);
        const after = await f32(vals);
        for (let e = 0; e < before.length; e++) {
          const want = e < ptr[n] ? Math.fround(before[e] + 0.375) : before[e];
          assert.equal(after[e], want, `sparseAddScalar slot ${e} of ${ptr[n]} entries`);
        }
        be.disposeSparse(z);
      }
    },
  );

  await t.step("elementwise: axpby (aliased), sumSquares, clipFactor, scaleBy", async () => {
    const x = randn(rng, 1001), y = randn(rng, 1001);
    const X = be.upload(x, [1001]), Y = be.upload(y, [1001]);
    be.axpby(0.5, X, -2, Y, Y);
    const want = Float64Array.from(x, (v, i) => 0.5 * v - 2 * y[i]);
    assertRel(await f32(Y), want, 1e-6, "axpby");
    const Z3 = be.upload(y, [1001]);
    be.axpby(2, Z3, 0.5, Z3, Z3); // x, y and out all the same tensor
    assertRel(await f32(Z3), Float64Array.from(y, (v) => 2.5 * v), 1e-6, "axpby all aliased");
    const s = be.zeros([1]);
    be.sumSquares(X, s);
    be.sumSquares(X, s, true);
    assertRel([await be.readScalar(s)], [2 * refSumSquares(x)], 1e-5, "sumSquares");
    const cf = be.zeros([1]);
    be.clipFactor(s, 1.0, cf);
    assertRel([await be.readScalar(cf)], [1 / Math.sqrt(2 * refSumSquares(x))], 1e-5, "clipFactor");
    be.clipFactor(be.upload(new Float32Array([0.25]), [1]), 1.0, cf);
    assert.equal(await be.readScalar(cf), 1);
    be.scaleBy(X, be.upload(new Float32Array([3]), [1]));
    assertRel(await f32(X), Float64Array.from(x, (v) => 3 * v), 1e-6, "scaleBy");
  });

  await t.step("dense ops: mul, clampMin, copy, scaleRows, columnSum, masks, counts", async () => {
    for (const [m, q] of [[1, 1], [1, 7], [37, 65], [130, 3]]) {
      const a = randn(rng, m * q), b = randn(rng, m * q);
      const A = be.upload(a, [m, q]), B = be.upload(b, [m, q]);
      // mul, out aliased with a and with b, and separate
      const O = be.zeros([m, q]);
      be.mul(A, B, O);
      assertRel(await f32(O), Float64Array.from(a, (v, i) => v * b[i]), 1e-6, "mul");
      const A2 = be.upload(a, [m, q]);
      be.mul(A2, B, A2);
      assertRel(await f32(A2), Float64Array.from(a, (v, i) => v * b[i]), 1e-6, "mul a=out");
      const B2 = be.upload(b, [m, q]);
      be.mul(A, B2, B2);
      assertRel(await f32(B2), Float64Array.from(a, (v, i) => v * b[i]), 1e-6, "mul b=out");
      // clampMin
      const C = be.upload(a, [m, q]);
      be.clampMin(C, 0.25);
      assert.deepEqual(await f32(C), Float32Array.from(a, (v) => Math.max(v, 0.25)));
      // copy as a reshape
      const flat = be.zeros([m * q]);
      be.copy(A, flat);
      assert.deepEqual(await f32(flat), a);
      assert.throws(() => be.copy(A, be.zeros([m * q + 1])), /size/);
      // scaleRows with beta 0 and 0.5
      const v = randn(rng, m);
      for (const beta of [0, 0.5]) {
        const o0 = randn(rng, m * q);
        const out = be.upload(o0, [m, q]);
        be.scaleRows(be.upload(v, [m]), A, out, beta);
        const want = Float64Array.from(a, (x, i) => beta * o0[i] + v[Math.floor(i / q)] * x);
        assertRel(await f32(out), want, 1e-6, `scaleRows beta=${beta}`);
      }
      // columnSum against float64
      for (const beta of [0, 2]) {
        const o0 = randn(rng, q);
        const out = be.upload(o0, [q]);
        be.columnSum(A, out, beta);
        const ones = new Float64Array(m).fill(1);
        assertClose(
          await f32(out),
          refGemm(ones, a, o0, 1, q, m, false, false, 1, beta),
          m + 1,
          "colsum",
        );
      }
      // masks: shared and per-column theta; counts
      for (const theta of [new Float32Array([0.1]), randn(rng, q, 0.5)]) {
        const T = be.upload(theta, [theta.length]);
        const th = (j: number) => theta.length === 1 ? theta[0] : theta[j];
        const on = (i: number) => a[i] > th(i % q);
        const dense = be.zeros([m, q]);
        be.thresholdDense(A, T, dense);
        assert.deepEqual(await f32(dense), Float32Array.from(a, (x, i) => on(i) ? x : 0));
        const X = be.upload(b, [m, q]);
        const mo = be.zeros([m, q]);
        be.maskAbove(A, T, X, mo);
        assert.deepEqual(await f32(mo), Float32Array.from(b, (x, i) => on(i) ? x : 0));
        be.maskAbove(A, T, X, X); // in place
        assert.deepEqual(await f32(X), Float32Array.from(b, (x, i) => on(i) ? x : 0));
        const cnt0 = randn(rng, q);
        const cnt = be.upload(cnt0, [q]);
        be.countAbove(A, T, cnt, 1);
        const want = Float64Array.from(cnt0);
        for (let i = 0; i < m * q; i++) if (on(i)) want[i % q]++;
        assertRel(await f32(cnt), want, 1e-6, "countAbove");
      }
      assert.throws(() => be.maskAbove(A, be.zeros([q + 1]), B, O), /theta/);
    }
  });

  await t.step("geometry and AdamW", async () => {
    for (const [c, d] of [[1, 1], [7, 130], [65, 33]]) {
      const dict = randn(rng, c * d);
      if (c > 2) dict.fill(0, d, 2 * d); // a zero row stays zero
      const D = be.upload(dict, [c, d]);
      be.normalizeRows(D);
      const nd = refNormalizeRows(dict, c, d);
      const gotD = await f32(D);
      assertRel(gotD, nd, 1e-5, "normalizeRows");
      const g = randn(rng, c * d);
      const G = be.upload(g, [c, d]);
      be.removeParallelComponent(D, G);
      const perp = refRemoveParallel(gotD, g, c, d);
      assertRel(await f32(G), perp, 1e-5, "removeParallel");
      // with the squared norm of the result, fresh and accumulated
      const ssRef = perp.reduce((a, x) => a + x * x, 0);
      for (const accumulate of [false, true]) {
        const G2 = be.upload(g, [c, d]), ss = be.upload(new Float32Array([2.5]), [1]);
        be.removeParallelComponent(D, G2, ss, accumulate);
        assertRel(await f32(G2), perp, 1e-5, "removeParallel + sumSq");
        const want = ssRef + (accumulate ? 2.5 : 0);
        assertRel([await be.readScalar(ss)], [want], 1e-5, `sumSq accumulate=${accumulate}`);
      }
    }
    // AdamW with a gradient scale (the clip factor) and row renormalisation, on rows×cols
    for (const [rows, cols] of [[1, 5], [9, 130], [33, 17]]) {
      const p0 = randn(rng, rows * cols), g = randn(rng, rows * cols);
      const m0 = randn(rng, rows * cols, 0.1), v0 = randn(rng, rows * cols).map((x) => x * x);
      const P = be.upload(p0, [rows, cols]), G = be.upload(g, [rows, cols]);
      const M = be.upload(m0, [rows, cols]), V = be.upload(v0, [rows, cols]);
      const scale = 0.37;
      const o = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step: 4 };
      be.adamw(P, G, M, V, {
        ...o,
        gradScale: be.upload(new Float32Array([scale]), [1]),
        normalizeRows: true,
      });
      const r = refAdamw(p0, g.map((x) => x * scale), m0, v0, o);
      assertRel(await f32(M), r.m, 1e-5, "scaled adam m");
      assertRel(await f32(V), r.v, 1e-5, "scaled adam v");
      assertRel(await f32(P), refNormalizeRows(r.p, rows, cols), 1e-5, "adam p, renormalised");
      assertRel(await f32(G), g, 0, "the gradient itself is left as it is");
    }
    const n = 1037;
    let p: Float32Array = randn(rng, n),
      m: Float32Array = new Float32Array(n),
      v: Float32Array = new Float32Array(n);
    const P = be.upload(p, [n]), M = be.zeros([n]), V = be.zeros([n]);
    for (let step = 1; step <= 3; step++) {
      const g = randn(rng, n, step === 2 ? 1e-3 : 1);
      const o = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step };
      be.adamw(P, be.upload(g, [n]), M, V, o);
      const r = refAdamw(p, g, m, v, o);
      const gp = await f32(P), gm = await f32(M), gv = await f32(V);
      assertRel(gm, r.m, 1e-5, "adam m");
      assertRel(gv, r.v, 1e-5, "adam v");
      assertRel(gp, r.p, 1e-5, "adam p");
      p = gp;
      m = gm;
      v = gv;
    }
  });
}

/** True when a C compiler answers (then the native sparse kernels must load). */
async function hasCompiler(): Promise<boolean> {
  try {
    const cc = Deno.env.get("CONCEPT_ATLAS_CC") ?? "cc";
    return (await new Deno.Command(cc, { args: ["--version"], stdout: "null", stderr: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

const providers: GemmKind[] = ["openblas", "ort", "js"];
/** Without a CBLAS library the openblas provider's tests are ignored. */
const noBlas = missing("openblas", loadOpenBlas() !== null);
/** Without a WebGPU adapter the webgpu test is ignored. */
const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
const noGpu = missing("webgpu", !!(gpu && (await gpu.requestAdapter())));
for (const gemm of providers) {
  // the default sparse kernels (native where a compiler exists), and the wasm ones explicitly
  for (const sparse of [undefined, "wasm"] as const) {
    if (sparse === "wasm" && gemm !== "openblas") continue;
    const label = `cpu:${gemm}${sparse ? ", wasm sparse kernels" : ""}`;
    Deno.test({
      name: `kernels parity: ${label} matches the float64 reference`,
      ignore: gemm === "openblas" && noBlas,
    }, async (t) => {
      const be = await createBackend("cpu", { gemm, sparse });
      assert.equal(be.name, `cpu:${gemm}`);
      const native = (be as CpuBackend).native;
      if (sparse === "wasm") assert.equal(native, null);
      else if (await hasCompiler()) {
        assert.ok(native, "a C compiler exists: native kernels expected");
      }
      try {
        await suite(t, be);
      } finally {
        be.close();
      }
    });
  }
}

Deno.test({
  name: "kernels parity: webgpu matches the float64 reference",
  ignore: noGpu,
  fn: async (t) => {
    const be = await createBackend("webgpu");
    assert.ok(be.name.startsWith("webgpu"));
    try {
      await suite(t, be);
    } finally {
      be.close();
    }
  },
});
