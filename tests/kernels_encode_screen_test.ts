/**
 * The screened encoder (kernels/native/encoder_screen.c through CpuBackend.encodeBatchTopk): a
 * bfloat16 product on the AMX tile unit, a bound on its error, float32 values for the entries
 * the bound cannot rule out. Checked against the selection over float64 pre-activations on
 * random shapes (k = c, one row, d not a multiple of the tile's 32, c not a multiple of 16),
 * on planted near-ties a bfloat16 product cannot order (relative gaps of 1e-4, below bfloat16's
 * 4e-3), for independence from the threshold guess (bit-identical), and for the refusals
 * (NaN, huge norms) that take the float32 path; and BatchTopK training through it against the
 * float32 encoder (same losses to rounding, same concepts). The per-row top-k (TopK's encoder,
 * `encodeTopkRows`) and the second, masked per-row selection from the same product (AuxK's dead
 * concepts) likewise against float64 selections, the main codes unchanged by the second one, and
 * TopK / BatchTopK training with AuxK on every step through the screen against the float32
 * encoder. Ignored on a CPU without AMX.
 */
import assert from "node:assert/strict";
import type { CpuBackend } from "../kernels/cpu_backend.ts";
import type { SparseCodes, Tensor } from "../kernels/backend.ts";
import { createBackend } from "../kernels/select.ts";
import { loadNativeSparse } from "../kernels/native_sparse.ts";
import { refBatchTopk, refGemm, type RefRows, refTopkRows } from "../kernels/reference_f64.ts";
import { Rng } from "../data/random.ts";
import { fitSae } from "../learn/sae/mod.ts";
import { plantedWorld } from "./helpers/planted_world.ts";
import { missing } from "./helpers/prerequisites.ts";

/** Without the AMX tile unit (or a C compiler) there is no screened encoder: tests ignored. */
const noScreen = missing("amx", !!(await loadNativeSparse())?.screen);

/** A cpu backend on the native kernels whose encoder always screens. */
async function screenedBackend(): Promise<CpuBackend> {
  const be = (await createBackend("cpu", { sparse: "native" })) as CpuBackend;
  be.screenMinWork = 0;
  be.screenMinDepth = 0;
  return be;
}

interface Problem {
  n: number;
  c: number;
  d: number;
  x: Float32Array;
  w: Float32Array;
  bias: Float32Array | null;
}

function gaussian(rng: Rng, len: number, scale = 1): Float32Array {
  return Float32Array.from({ length: len }, () => scale * rng.normal());
}

/** Round to bfloat16 (nearest, ties to even), as float32 values. */
function bf16(a: Float32Array): Float32Array {
  const out = Float32Array.from(a), u = new Uint32Array(out.buffer);
  for (let t = 0; t < u.length; t++) u[t] = ((u[t] + 0x7fff + ((u[t] >>> 16) & 1)) >>> 16) << 16;
  return out;
}

/** Run encodeBatchTopk; the codes as rows, minKept, and whether the screen ran. */
async function encode(
  be: CpuBackend,
  p: Problem,
  k: number,
): Promise<{ rows: RefRows; minKept: number; screened: boolean }> {
  const { rows, minKept, screened } = await encodeRows(be, p, k, null, k);
  return { rows, minKept, screened };
}

/** CSR codes back as rows of (column, value). */
async function rowsOf(be: CpuBackend, z: SparseCodes, n: number): Promise<RefRows> {
  const rowPtr = await be.read(z.rowPtr) as Int32Array;
  const index = await be.read(z.index) as Int32Array;
  const value = await be.read(z.value) as Float32Array;
  const rows: RefRows = [];
  for (let i = 0; i < n; i++) {
    const r: Array<[number, number]> = [];
    for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) r.push([index[e], value[e]]);
    rows.push(r);
  }
  return rows;
}

/**
 * Run encodeTopkRows (or with `batch`, encodeBatchTopk with k = batch) with an optional second
 * selection of `aux.k` per row over the columns `aux.allowed` marks; codes as rows.
 */
async function encodeRows(
  be: CpuBackend,
  p: Problem,
  k: number,
  aux: { k: number; allowed: boolean[] } | null,
  batch?: number,
): Promise<{ rows: RefRows; aux: RefRows | null; minKept: number; screened: boolean }> {
  const { n, c, d } = p;
  const held: Tensor[] = [];
  const up = (a: Float32Array, shape: number[]) => {
    const t = be.upload(a, shape);
    held.push(t);
    return t;
  };
  const x = up(p.x, [n, d]), w = up(p.w, [c, d]);
  const bias = p.bias ? up(p.bias, [c]) : null;
  const pre = up(new Float32Array(n * c), [n, c]), minKept = up(new Float32Array(1), [1]);
  const z = be.sparse(n, c, Math.max(1, Math.round(n * (batch ?? k))));
  const zAux = aux ? be.sparse(n, c, n * aux.k) : null;
  const sel = aux
    ? {
      k: aux.k,
      mask: up(Float32Array.from(aux.allowed, (a) => a ? 0 : -1e4), [1, c]),
      ones: up(new Float32Array(n).fill(1), [n, 1]),
      z: zAux!,
    }
    : null;
  if (batch !== undefined) be.encodeBatchTopk(x, w, bias, batch, z, minKept, pre, sel);
  else be.encodeTopkRows(x, w, bias, k, z, pre, sel);
  const screened = be.screenStats !== null;
  const rows = await rowsOf(be, z, n);
  const auxRows = zAux ? await rowsOf(be, zAux, n) : null;
  const m = (await be.read(minKept) as Float32Array)[0];
  for (const t of held) be.dispose(t);
  be.disposeSparse(z);
  if (zAux) be.disposeSparse(zAux);
  return { rows, aux: auxRows, minKept: m, screened };
}

/** Per-row top-k over float64 X·Wᵀ + bias, among the allowed columns (all without a mask). */
function referenceRows(p: Problem, k: number, allowed?: boolean[]): RefRows {
  const { n, c, d } = p;
  const pre = refGemm(p.x, p.w, null, n, c, d, false, true, 1, 0).value;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) {
      pre[i * c + j] += p.bias ? p.bias[j] : 0;
      if (allowed && !allowed[j]) pre[i * c + j] = -Infinity;
    }
  }
  return refTopkRows(pre, n, c, k);
}

/** The selection over float64 pre-activations X·Wᵀ + bias. */
function reference(p: Problem, k: number): { rows: RefRows; minKept: number } {
  const { n, c, d } = p;
  const pre = refGemm(p.x, p.w, null, n, c, d, false, true, 1, 0).value;
  const K = Math.min(Math.round(n * k), n * c);
  return refBatchTopk(pre, n, c, K, p.bias);
}

/** Same columns per row; values within float32 rounding of the float64 ones. */
function assertSelection(
  got: { rows: RefRows; minKept: number },
  want: { rows: RefRows; minKept: number },
  scale: number,
  label: string,
): void {
  assert.equal(got.rows.length, want.rows.length, label);
  for (let i = 0; i < want.rows.length; i++) {
    assert.deepEqual(
      got.rows[i].map((e) => e[0]),
      want.rows[i].map((e) => e[0]),
      `${label} row ${i}`,
    );
    for (let e = 0; e < want.rows[i].length; e++) {
      const diff = Math.abs(got.rows[i][e][1] - want.rows[i][e][1]);
      assert.ok(diff <= 1e-5 * scale, `${label} row ${i} value ${e}: off by ${diff}`);
    }
  }
  assert.ok(Math.abs(got.minKept - want.minKept) <= 1e-5 * scale, `${label} minKept`);
}

Deno.test({
  name: "screened encoder: the float64 selection on random shapes (k = c, one row, odd d and c)",
  ignore: noScreen,
}, async () => {
  const be = await screenedBackend();
  try {
    const rng = new Rng(41);
    const cases: Array<[number, number, number, number, boolean]> = [
      [64, 96, 32, 4, true],
      [100, 257, 70, 8, true],
      [1, 300, 33, 5, false],
      [37, 17, 5, 17, true], // k = c: every positive entry
      [333, 1000, 100, 3, true], // split over threads
      [50, 48, 768, 2, false],
    ];
    for (const [n, c, d, k, withBias] of cases) {
      const p: Problem = {
        n,
        c,
        d,
        x: gaussian(rng, n * d),
        w: gaussian(rng, c * d, 1 / Math.sqrt(d)),
        bias: withBias ? gaussian(rng, c, 0.3) : null,
      };
      const got = await encode(be, p, k);
      assert.ok(got.screened, `${n}x${c}x${d}: screened`);
      assertSelection(got, reference(p, k), 4, `${n}x${c}x${d} k ${k}`);
      // the per-row top-k (k ≤ c; picks of either sign, clamped at 0)
      const rows = await encodeRows(be, p, k, null);
      assert.ok(rows.screened, `${n}x${c}x${d}: per row screened`);
      const want = referenceRows(p, k);
      assertSelection({ rows: rows.rows, minKept: 0 }, { rows: want, minKept: 0 }, 4, "per row");
    }
  } finally {
    be.close();
  }
});

Deno.test({
  name: "screened encoder: planted near-ties a bfloat16 product cannot order",
  ignore: noScreen,
}, async () => {
  const be = await screenedBackend();
  try {
    // every x_i ≈ v, w_j = v·(1 + 1e-4·π(j)): pre-activations 1e-4 apart (relative) — one
    // bfloat16 ulp is 2^-7 ≈ 8e-3 — so a bfloat16 product alone returns ties in the wrong order
    const rng = new Rng(7);
    const n = 96, c = 160, d = 64, k = 6;
    const v = gaussian(rng, d, 1 / Math.sqrt(d));
    const x = new Float32Array(n * d), w = new Float32Array(c * d);
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < d; t++) x[i * d + t] = v[t] * (1 + 0.01 * i / n);
    }
    const order = rng.permutation(c);
    for (let j = 0; j < c; j++) {
      for (let t = 0; t < d; t++) w[j * d + t] = v[t] * (1 + 1e-4 * order[j]);
    }
    const p: Problem = { n, c, d, x, w, bias: null };
    const got = await encode(be, p, k);
    assert.ok(got.screened);
    const want = reference(p, k);
    assertSelection(got, want, 1, "near-ties");
    // the trap is real: the same selection over a bfloat16 product differs
    const approx = reference({ ...p, x: bf16(x), w: bf16(w) }, k);
    assert.notDeepEqual(
      approx.rows.map((r) => r.map((e) => e[0])),
      want.rows.map((r) => r.map((e) => e[0])),
    );
  } finally {
    be.close();
  }
});

Deno.test({
  name: "screened encoder: bit-identical whatever the guess; refusals take the float32 path",
  ignore: noScreen,
}, async () => {
  const be = await screenedBackend();
  try {
    const rng = new Rng(99);
    const mk = (n: number, c: number, d: number): Problem => ({
      n,
      c,
      d,
      x: gaussian(rng, n * d),
      w: gaussian(rng, c * d, 1 / Math.sqrt(d)),
      bias: gaussian(rng, c, 0.2),
    });
    const a = mk(200, 384, 48), b = mk(210, 390, 40);
    const first = await encode(be, a, 7); // no remembered threshold for this shape: sampled guess
    await encode(be, b, 7); // another shape in between
    await encode(be, a, 7);
    const again = await encode(be, a, 7); // guess from the last call
    assert.equal(be.screenStats?.passes, 1);
    assert.deepEqual(again, first);

    // a NaN, and a norm above 2^30: refused, the float32 path's result
    const dense = (p: Problem) => {
      be.screenMinWork = Infinity;
      const r = encode(be, p, 5);
      return r.finally(() => (be.screenMinWork = 0));
    };
    for (const spoil of ["nan", "huge"]) {
      const p = mk(40, 64, 16);
      if (spoil === "nan") p.x[17] = NaN;
      else p.w[5] = 2 ** 31;
      const refusalsBefore = (await loadNativeSparse())!.screen!.stats().refusals;
      const got = await encode(be, p, 5);
      assert.equal(got.screened, false, spoil);
      assert.equal((await loadNativeSparse())!.screen!.stats().refusals, refusalsBefore + 1);
      assert.deepEqual(got, await dense(p), spoil);
    }
  } finally {
    be.close();
  }
});

Deno.test({
  name: "screened encoder: BatchTopK training matches the float32 encoder (losses, concepts)",
  ignore: noScreen,
}, async () => {
  const be = await screenedBackend();
  try {
    const world = plantedWorld({ n: 4000, d: 32, m: 32, s: 3, seed: 1 });
    const o = { c: 64, k: 4, seed: 0, batchSize: 256, lr: 3e-3, epochs: 3 };
    be.screenMinWork = Infinity;
    const dense = await fitSae("batchtopk", world.x, world.n, world.d, o, be);
    assert.equal(be.screenStats, null);
    be.screenMinWork = 0;
    const screened = await fitSae("batchtopk", world.x, world.n, world.d, o, be);
    assert.ok(be.screenStats, "the trainer took the screened encoder");
    for (let e = 0; e < dense.log.length; e++) {
      const a = dense.log[e], b = screened.log[e];
      assert.ok(
        Math.abs(a.loss - b.loss) <= 1e-3 * a.loss,
        `epoch ${e} loss ${b.loss} vs ${a.loss}`,
      );
      assert.equal(b.l0, a.l0, `epoch ${e} ℓ0`);
    }
    // the same concepts: each decoder row's cosine with its counterpart
    const { c, d } = dense;
    for (let j = 0; j < c; j++) {
      let dot = 0;
      for (let t = 0; t < d; t++) {
        dot += dense.dictionary[j * d + t] * screened.dictionary[j * d + t];
      }
      assert.ok(dot > 0.999, `concept ${j}: cosine ${dot}`);
    }
  } finally {
    be.close();
  }
});

Deno.test({
  name: "screened encoder: per-row top-k and a masked second selection from the same product",
  ignore: noScreen,
}, async () => {
  const be = await screenedBackend();
  try {
    const rng = new Rng(5);
    const cases: Array<[number, number, number, number, number, number]> = [
      // n, c, d, k, aux k, allowed fraction
      [64, 96, 32, 4, 8, 0.3],
      [130, 257, 70, 8, 16, 0.9],
      [1, 300, 33, 5, 5, 0.05], // aux k = the allowed columns (15)
      [333, 1000, 100, 3, 6, 0.5], // split over threads
    ];
    for (const [n, c, d, k, ka, frac] of cases) {
      const p: Problem = {
        n,
        c,
        d,
        x: gaussian(rng, n * d),
        w: gaussian(rng, c * d, 1 / Math.sqrt(d)),
        bias: gaussian(rng, c, 0.3),
      };
      const allowed = Array.from({ length: c }, (_, j) => j < Math.round(frac * c));
      rng.shuffle(allowed);
      const label = `${n}x${c}x${d} k ${k} aux ${ka}`;
      const auxWant = referenceRows(p, ka, allowed);
      const none = { minKept: 0 };
      // TopK's encoder with the second selection
      const rows = await encodeRows(be, p, k, { k: ka, allowed });
      assert.ok(rows.screened, label);
      assertSelection(
        { rows: rows.rows, ...none },
        { rows: referenceRows(p, k), ...none },
        4,
        label,
      );
      assertSelection({ rows: rows.aux!, ...none }, { rows: auxWant, ...none }, 4, `${label} aux`);
      // the batch top-k with it: the same main codes as without, the same second selection
      const batch = await encodeRows(be, p, k, { k: ka, allowed }, k);
      const alone = await encode(be, p, k);
      assert.deepEqual(batch.rows, alone.rows, `${label} batch`);
      assert.deepEqual(batch.aux, rows.aux, `${label} batch aux`);
      // the float32 path (pre + mask, topkRows) picks the same columns
      be.screenMinWork = Infinity;
      const dense = await encodeRows(be, p, k, { k: ka, allowed }, k);
      be.screenMinWork = 0;
      assert.equal(dense.screened, false);
      assertSelection(
        { rows: dense.aux!, ...none },
        { rows: rows.aux!, ...none },
        4,
        `${label} f32`,
      );
    }
    // near-ties inside a row (relative gaps 1e-4, below a bfloat16 ulp): still the exact order
    const n = 40, c = 160, d = 64, k = 6;
    const v = gaussian(rng, d, 1 / Math.sqrt(d));
    const x = new Float32Array(n * d), w = new Float32Array(c * d);
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < d; t++) x[i * d + t] = v[t] * (1 + 0.01 * i / n);
    }
    const order = rng.permutation(c);
    for (let j = 0; j < c; j++) {
      for (let t = 0; t < d; t++) w[j * d + t] = -v[t] * (1 + 1e-4 * order[j]); // all negative
    }
    const p: Problem = { n, c, d, x, w, bias: null };
    const allowed = Array.from({ length: c }, (_, j) => j % 3 !== 0);
    const got = await encodeRows(be, p, k, { k: 2 * k, allowed });
    const none = { minKept: 0 };
    assertSelection({ rows: got.rows, ...none }, { rows: referenceRows(p, k), ...none }, 1, "ties");
    assertSelection(
      { rows: got.aux!, ...none },
      { rows: referenceRows(p, 2 * k, allowed), ...none },
      1,
      "ties aux",
    );
    // fewer allowed columns than the second selection's k: refused, the float32 path
    const few = Array.from({ length: c }, (_, j) => j < 3);
    const refused = await encodeRows(be, p, k, { k: 4, allowed: few });
    assert.equal(refused.screened, false);
  } finally {
    be.close();
  }
});

Deno.test({
  name: "screened encoder: TopK and BatchTopK training with AuxK on every step match float32",
  ignore: noScreen,
}, async () => {
  const be = await screenedBackend();
  try {
    const world = plantedWorld({ n: 4000, d: 32, m: 32, s: 3, seed: 2 });
    // 128 concepts for 32 directions: many die; a window of 2 batches arms AuxK early
    const base = { c: 128, k: 4, seed: 0, batchSize: 256, lr: 3e-3, epochs: 3, deadAfterRows: 512 };
    for (const method of ["topk", "batchtopk"] as const) {
      be.screenMinWork = Infinity;
      const dense = await fitSae(method, world.x, world.n, world.d, base, be);
      assert.equal(be.screenStats, null);
      be.screenMinWork = 0;
      const screened = await fitSae(method, world.x, world.n, world.d, base, be);
      assert.ok(be.screenStats, `${method}: the trainer took the screened encoder`);
      const last = screened.log.at(-1)!;
      assert.ok((last.extra?.deadTracked ?? 0) > 0, `${method}: AuxK ran (dead concepts tracked)`);
      for (let e = 0; e < dense.log.length; e++) {
        const a = dense.log[e], b = screened.log[e];
        assert.ok(
          Math.abs(a.loss - b.loss) <= 2e-3 * a.loss,
          `${method} epoch ${e} loss ${b.loss} vs ${a.loss}`,
        );
        const auxA = a.extra?.auxLoss ?? 0, auxB = b.extra?.auxLoss ?? 0;
        assert.ok(Math.abs(auxA - auxB) <= 1e-2 * auxA + 1e-9, `${method} epoch ${e} aux loss`);
      }
    }
  } finally {
    be.close();
  }
});
