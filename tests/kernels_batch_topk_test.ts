/**
 * Batch top-k selection: the result never depends on the threshold guess (the caller's hint,
 * the CPU backend's remembered threshold, the sample guess, or the full fallback), with and
 * without the fused encoder bias, against the float64 reference; on the plain TypeScript
 * candidate pass and on the wasm threads (shapes large enough to split, c not a multiple of
 * the kernel's 16/64-entry blocks so that rows end in scalar tails and chunks split rows).
 */
import assert from "node:assert/strict";
import { CpuBackend } from "../kernels/cpu_backend.ts";
import { createJsGemm } from "../kernels/js_gemm.ts";
import {
  batchTopkHost,
  type BatchTopkStats,
  guessBelow,
  guessFromHistory,
  HINT_GAP,
  newBatchTopkScratch,
  nextHintGap,
} from "../kernels/cpu_select.ts";
import type { CsrCodes } from "../kernels/host_sparse.ts";
import { refBatchTopk, type RefRows } from "../kernels/reference_f64.ts";
import { Rng } from "../data/random.ts";

const F = new Float32Array(1), I = new Int32Array(F.buffer);
function bitsOf(v: number): number {
  F[0] = v;
  return I[0];
}
function floatOf(b: number): number {
  I[0] = b;
  return F[0];
}

/** Values on a few adjacent float patterns around 0.5 (ties and neighbours), some negative. */
function adjacent(rng: Rng, N: number): Float32Array {
  const base = bitsOf(0.5);
  const x = new Float32Array(N);
  for (let f = 0; f < N; f++) {
    const u = rng.uniform();
    x[f] = u < 0.3 ? -floatOf(base + ((u * 100) | 0)) : floatOf(base + ((u * 23) | 0) - 11);
  }
  return x;
}

function rowsOf(z: CsrCodes, n: number): RefRows {
  const rows: RefRows = [];
  for (let i = 0; i < n; i++) {
    const r: Array<[number, number]> = [];
    for (let e = z.rowPtr[i]; e < z.rowPtr[i + 1]; e++) r.push([z.index[e], z.value[e]]);
    rows.push(r);
  }
  return rows;
}

function assertRows(got: RefRows, want: RefRows, label: string): void {
  assert.equal(got.length, want.length, label);
  for (let i = 0; i < want.length; i++) {
    assert.deepEqual(got[i].map((e) => e[0]), want[i].map((e) => e[0]), `${label} row ${i} cols`);
    assert.deepEqual(
      got[i].map((e) => e[1]),
      want[i].map((e) => Math.fround(e[1])),
      `${label} row ${i} values`,
    );
  }
}

function codes(n: number, c: number, cap: number): CsrCodes {
  return {
    rows: n,
    cols: c,
    rowPtr: new Int32Array(n + 1),
    index: new Int32Array(cap),
    value: new Float32Array(cap),
  };
}

Deno.test("batchTopkHost: same result for every guess (hint too high, too low, at the threshold)", () => {
  const rng = new Rng(21);
  const cases: Array<[number, number, number, "normal" | "adjacent"]> = [
    [37, 53, 3, "normal"],
    [64, 97, 5, "adjacent"],
    [1, 300, 40, "adjacent"],
    [9, 17, 17, "normal"],
  ];
  for (const [n, c, k, kind] of cases) {
    const N = n * c, K = n * k;
    const pre = kind === "normal" ? rng.fillNormal(new Float32Array(N)) : adjacent(rng, N);
    const snapshot = pre.slice();
    for (const withBias of [false, true]) {
      const bias = withBias ? rng.fillNormal(new Float32Array(c), 0.3) : null;
      const ref = refBatchTopk(pre, n, c, K, bias);
      const tBits = bitsOf(ref.minKept);
      const hints = [undefined, 0x7f800000, 1, -5, tBits, tBits + 1, tBits - 1, guessBelow(1e-3)];
      for (let r = 0; r < 4; r++) hints.push(1 + Math.floor(rng.uniform() * 0x7f000000));
      const paths = new Set<string>();
      for (const guess of hints) {
        const z = codes(n, c, K + 3);
        const s = newBatchTopkScratch();
        const t = batchTopkHost(pre, n, c, K, z, s, undefined, { bias, guess });
        const label = `${n}x${c} k=${k} ${kind} bias=${withBias} guess=${guess}`;
        assertRows(rowsOf(z, n), ref.rows, label);
        assert.equal(t, Math.fround(ref.minKept), `${label} minKept`);
        paths.add(s.stats.path);
      }
      assert.deepEqual(pre, snapshot, "pre is not modified");
      // the hint, the sample and (for a too-low guess: capacity overflow) the fallbacks all ran
      assert.ok(paths.has("hint") && paths.has("sample"), `paths ${[...paths]}`);
    }
  }
});

Deno.test("guessBelow / guessFromHistory: just below the (predicted) threshold", () => {
  for (const t of [1e-30, 0.0123, 0.5, 3, 1e30]) {
    const g = guessBelow(t);
    assert.ok(floatOf(g) < 0.97 * t && floatOf(g + 1) >= Math.fround(0.97 * t), `t=${t}`);
    // with a falling trend: the gap below the extrapolated threshold
    const h = guessFromHistory(t, t / 0.98, 0.01);
    assert.ok(floatOf(h) < 0.99 * 0.98 * t && floatOf(h) > 0.96 * t, `trend t=${t}`);
    // a rising threshold is not extrapolated, nor one without history
    assert.equal(guessFromHistory(t, t / 1.5, 0.01), guessBelow(t, 0.99));
    assert.equal(guessFromHistory(t, t, 0.2), guessBelow(t, 0.8));
    assert.equal(guessFromHistory(t, null, HINT_GAP.first), guessBelow(t, 1 - HINT_GAP.first));
  }
  for (const t of [0, -1, NaN, Infinity]) assert.equal(guessBelow(t), 1);
});

Deno.test("batchTopkHost sample guess: every column sampled at n·c = 512·512", () => {
  // the sample's runs once started at the same columns of every row when the slice length
  // divided c (here 256): columns whose values sit far below the others then misled the guess
  const [n, c, k] = [512, 512, 8];
  const rng = new Rng(41);
  const pre = rng.fillNormal(new Float32Array(n * c), 0.1);
  for (let e = 0; e < n * c; e++) if ((e % c) % 256 < 32) pre[e] -= 3;
  const z: CsrCodes = {
    rows: n,
    cols: c,
    rowPtr: new Int32Array(n + 1),
    index: new Int32Array(n * k),
    value: new Float32Array(n * k),
  };
  const s = newBatchTopkScratch();
  const t = batchTopkHost(pre, n, c, n * k, z, s);
  assert.equal(s.stats.path, "sample");
  assertRows(rowsOf(z, n), refBatchTopk(pre, n, c, n * k).rows, "sampled");
  assert.equal(t, Math.fround(refBatchTopk(pre, n, c, n * k).minKept));
});

Deno.test("nextHintGap: narrower after a hit, wider after a guess above the threshold", () => {
  const stats = (path: BatchTopkStats["path"], hintShort: boolean): BatchTopkStats => ({
    path,
    scans: 1,
    candidates: 0,
    scanMs: 0,
    hintShort,
  });
  assert.equal(nextHintGap(0.1, stats("hint", false)), 0.1 * 0.95);
  assert.equal(nextHintGap(HINT_GAP.min, stats("hint", false)), HINT_GAP.min);
  assert.equal(nextHintGap(0.1, stats("sample", true)), 0.1 * 2 + 0.01);
  assert.equal(nextHintGap(0.4, stats("sample", true)), HINT_GAP.max);
  // a guess far below the threshold (its pass overflowed): narrower
  assert.equal(nextHintGap(0.1, stats("sample", false)), 0.05);
});

Deno.test("CpuBackend batchTopk (wasm threads): fresh = warmed = misled backend, with and without bias", async () => {
  const rng = new Rng(22);
  const [n, c, k] = [700, 1037, 9];
  const K = n * k;
  const pre = rng.fillNormal(new Float32Array(n * c));
  pre[12345] = Infinity;
  pre[12346] = NaN;
  const bias = rng.fillNormal(new Float32Array(c), 0.5);
  const scaled = (s: number) => Float32Array.from(pre, (v) => v * s);
  const fresh = new CpuBackend(createJsGemm());
  const warm = new CpuBackend(createJsGemm());
  await fresh.ready();
  await warm.ready();
  try {
    for (const withBias of [false, true]) {
      const clean = Float32Array.from(pre, (v) => (Number.isNaN(v) ? -1 : v));
      const ref = refBatchTopk(clean, n, c, K, withBias ? bias : null);
      const read = async (be: CpuBackend, z: ReturnType<CpuBackend["sparse"]>) => {
        const rowPtr = (await be.read(z.rowPtr)) as Int32Array;
        const index = (await be.read(z.index)) as Int32Array;
        const value = (await be.read(z.value)) as Float32Array;
        return rowsOf({ rows: n, cols: c, rowPtr, index, value }, n);
      };
      const run = async (be: CpuBackend, data: Float32Array, P = be.upload(data, [n, c])) => {
        const z = be.sparse(n, c, K);
        const mk = be.zeros([1]);
        be.batchTopk(P, k, z, mk, withBias ? be.upload(bias, [c]) : null);
        return { rows: await read(be, z), minKept: await be.readScalar(mk), P };
      };
      const label = `bias=${withBias}`;
      const a = await run(fresh, pre);
      assertRows(a.rows, ref.rows, `${label} fresh`);
      assert.equal(a.minKept, Math.fround(ref.minKept), `${label} fresh minKept`);
      // warmed: the same pre tensor twice (second call starts from the remembered threshold)
      const w1 = await run(warm, pre);
      const w2 = await run(warm, pre, w1.P);
      assert.equal(warm.batchTopkStats.path, "hint", `${label} warmed call used the hint`);
      assertRows(w2.rows, ref.rows, `${label} warmed`);
      assert.equal(w2.minKept, a.minKept);
      // misled: remembered threshold from data 8× larger (guess far too high), then 8× smaller
      // (guess far too low: the candidates overflow), each time on the same tensor
      for (const s of [8, 1 / 8]) {
        const P = warm.upload(scaled(s), [n, c]);
        await run(warm, pre, P);
        warm.write(P, pre);
        const m = await run(warm, pre, P);
        assert.notEqual(warm.batchTopkStats.path, "hint", `${label} scale ${s}: the hint missed`);
        assertRows(m.rows, ref.rows, `${label} misled ×${s}`);
        assert.equal(m.minKept, a.minKept);
        assert.deepEqual(await warm.read(P), pre, `${label}: pre unchanged`);
      }
    }
  } finally {
    fresh.close();
    warm.close();
  }
});
