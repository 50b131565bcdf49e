/**
 * The CPU backend's WebAssembly SIMD kernels, written with the tiny assembler of
 * {@link ./wasm_asm.ts}. Every kernel works on byte offsets into one shared
 * `WebAssembly.Memory` (where the CPU backend keeps its tensors) and on a half-open range of
 * rows / concepts / elements, so that a thread pool can split it. Shapes: row-major float32,
 * CSR codes as in kernels/backend.ts.
 *
 * Exports (argument order; p* = byte offsets):
 * - `decode(pRowPtr, pIndex, pValue, pDict, d, pBias|0, pOut, r0, r1)`: out_i = bias + Σ_e v_e·D_j
 * - `sample(pG, pDict, d, pRowPtr, pIndex, pVals, r0, r1)`: vals_e = ⟨G_i, D_j⟩
 * - `gather(pColPtr, pSlotRow, pSlotEntry, pVals, pSrc, d, pOut, beta, j0, j1)`:
 *   out_j = beta·out_j + Σ_{s ∈ column j} vals[slotEntry_s]·src_{slotRow_s}  (Zᵀ·G by concept)
 * - `adamw(pP, pG, pM, pV, beta1, a1, beta2, a2, stepSize, invSqrtBc2, eps, decay, i0, i1)`
 * - `resid(pRowPtr, pIndex, pValue, pDict, d, pBias|0, pX, scale, pOut, pRowSs, pVals|0, r0, r1)`:
 *   out_i = scale·(Z_i·D + bias − x_i), rowSs_i = ‖Z_i·D + bias − x_i‖², vals_e = ⟨out_i, D_j⟩
 * - dense kernels `axpby`, `rownorm`, `removepar`, `tkscan`, `rowfill`, `sumsq`: see
 *   {@link ./wasm_kernels_dense.ts}; mask kernels `maskabove`, `countabove`, `colsum`, `thresh`, `threshband`,
 *   `scalerows`: see {@link ./wasm_kernels_mask.ts}; per-row top-k screening `groupmax`,
 *   `rowcands`: see {@link ./wasm_kernels_topk.ts}
 *
 * The range is always the last two arguments.
 */
import {
  assembleModule,
  F32,
  FnBuilder,
  I32,
  mulAdd,
  OP,
  setFusedMultiplyAdd,
  SIMD,
  V128,
} from "./wasm_asm.ts";
import {
  axpbyFn,
  removeparFn,
  rowfillFn,
  rownormFn,
  sumsqFn,
  tkscanFn,
} from "./wasm_kernels_dense.ts";
import { colsumFn, countaboveFn, maskaboveFn, scalerowsFn, threshFn } from "./wasm_kernels_mask.ts";
import { groupmaxFn, rowcandsFn } from "./wasm_kernels_topk.ts";

/** Names of the exported kernels, in export order (the thread pool calls them by index). */
export const KERNEL_NAMES = [
  "decode",
  "sample",
  "gather",
  "adamw",
  "axpby",
  "rownorm",
  "removepar",
  "tkscan",
  "resid",
  "rowfill",
  "sumsq",
  "maskabove",
  "countabove",
  "colsum",
  "thresh",
  "threshband",
  "scalerows",
  "groupmax",
  "rowcands",
] as const;
/** One kernel name. */
export type KernelName = typeof KERNEL_NAMES[number];

/** Emit `out[o..o+d) += v·src[s..s+d)` (byte offsets; d4b = 16·⌊d/4⌋, db = 4·d). */
function axpy(
  f: FnBuilder,
  o: number,
  s: number,
  vS: number,
  vV: number,
  t: number,
  d4b: number,
  db: number,
): void {
  // 64 bytes per iteration while they fit, then 16, then scalars
  const d16b = f.local(I32), po = f.local(I32), ps = f.local(I32);
  f.get(d4b).i32(-64).op(OP.i32And).set(d16b);
  f.forRange(t, () => f.i32(0), d16b, 64, () => {
    f.get(o).get(t).op(OP.i32Add).set(po);
    f.get(s).get(t).op(OP.i32Add).set(ps);
    for (const off of [0, 16, 32, 48]) {
      f.get(po);
      f.get(ps).mem(SIMD.load, 2, off, true).get(vV);
      mulAdd(f, () => f.get(po).mem(SIMD.load, 2, off, true));
      f.mem(SIMD.store, 2, off, true);
    }
  });
  f.forRange(t, () => f.get(d16b), d4b, 16, () => {
    f.get(o).get(t).op(OP.i32Add).tee(po);
    f.get(s).get(t).op(OP.i32Add).mem(SIMD.load, 2, 0, true).get(vV);
    mulAdd(f, () => f.get(po).mem(SIMD.load, 2, 0, true));
    f.mem(SIMD.store, 2, 0, true);
  });
  f.forRange(t, () => f.get(d4b), db, 4, () => {
    f.get(o).get(t).op(OP.i32Add);
    f.get(o).get(t).op(OP.i32Add).mem(OP.f32Load, 2);
    f.get(s).get(t).op(OP.i32Add).mem(OP.f32Load, 2);
    f.get(vS).op(OP.f32Mul, OP.f32Add);
    f.mem(OP.f32Store, 2);
  });
}

/**
 * Emit `out[o..o+d) += Σ_{u<4} v_u·src_u[s_u..s_u+d)` (byte offsets in locals `s[u]`, values in
 * f32 locals `vS[u]` and their splats `vV[u]`): four source rows per pass over the output row,
 * so the output is loaded and stored once per four entries.
 */
function axpy4(
  f: FnBuilder,
  o: number,
  s: number[],
  vS: number[],
  vV: number[],
  t: number,
  d4b: number,
  db: number,
): void {
  const d16b = f.local(I32), po = f.local(I32), acc = f.local(V128);
  const ps = s.map(() => f.local(I32));
  f.get(d4b).i32(-64).op(OP.i32And).set(d16b);
  const step = (offs: number[]) => {
    f.get(o).get(t).op(OP.i32Add).set(po);
    s.forEach((src, u) => f.get(src).get(t).op(OP.i32Add).set(ps[u]));
    for (const off of offs) {
      f.get(po);
      f.get(po).mem(SIMD.load, 2, off, true).set(acc);
      for (let u = 0; u < 4; u++) {
        f.get(ps[u]).mem(SIMD.load, 2, off, true).get(vV[u]);
        mulAdd(f, () => f.get(acc));
        if (u < 3) f.set(acc);
      }
      f.mem(SIMD.store, 2, off, true);
    }
  };
  f.forRange(t, () => f.i32(0), d16b, 64, () => step([0, 16, 32, 48]));
  f.forRange(t, () => f.get(d16b), d4b, 16, () => step([0]));
  f.forRange(t, () => f.get(d4b), db, 4, () => {
    f.get(o).get(t).op(OP.i32Add);
    f.get(o).get(t).op(OP.i32Add).mem(OP.f32Load, 2);
    for (let u = 0; u < 4; u++) {
      f.get(s[u]).get(t).op(OP.i32Add).mem(OP.f32Load, 2).get(vS[u]).op(OP.f32Mul, OP.f32Add);
    }
    f.mem(OP.f32Store, 2);
  });
}

/** Emit `out[o..o+d) = beta·out[o..o+d)` (beta 0 writes zeros, even over NaN). */
function scaleRow(
  f: FnBuilder,
  o: number,
  beta: number,
  t: number,
  d4b: number,
  db: number,
  betaV: number,
): void {
  f.get(beta).f32(1).op(OP.f32Ne).if(() => {
    f.get(beta).f32(0).op(OP.f32Eq).if(() => {
      f.forRange(t, () => f.i32(0), db, 4, () => {
        f.get(o).get(t).op(OP.i32Add).f32(0).mem(OP.f32Store, 2);
      });
    }, () => {
      f.forRange(t, () => f.i32(0), d4b, 16, () => {
        f.get(o).get(t).op(OP.i32Add);
        f.get(o).get(t).op(OP.i32Add).mem(SIMD.load, 2, 0, true);
        f.get(betaV).simd(SIMD.f32x4Mul).mem(SIMD.store, 2, 0, true);
      });
      f.forRange(t, () => f.get(d4b), db, 4, () => {
        f.get(o).get(t).op(OP.i32Add);
        f.get(o).get(t).op(OP.i32Add).mem(OP.f32Load, 2);
        f.get(beta).op(OP.f32Mul).mem(OP.f32Store, 2);
      });
    });
  });
}

/**
 * Declare the locals of a decode row and return the emitter of one row (row index in local
 * `i`): out_i = bias + Σ_e v_e·D_j, with `o` set to the row's byte offset in out.
 */
function decodeRow(
  f: FnBuilder,
  [pRowPtr, pIndex, pValue, pDict, d, pBias, pOut]: number[],
): { o: number; db: number; d4b: number; row: (i: number) => void } {
  const e = f.local(I32), e1 = f.local(I32), o = f.local(I32);
  const s = f.local(I32), t = f.local(I32), d4b = f.local(I32), db = f.local(I32);
  const vS = f.local(F32), vV = f.local(V128), e4 = f.local(I32);
  const s4 = [0, 1, 2, 3].map(() => f.local(I32));
  const vS4 = [0, 1, 2, 3].map(() => f.local(F32));
  const vV4 = [0, 1, 2, 3].map(() => f.local(V128));
  f.get(d).i32(2).op(OP.i32Shl).set(db);
  f.get(d).i32(-4).op(OP.i32And).i32(2).op(OP.i32Shl).set(d4b);
  const row = (i: number) => {
    f.get(pOut).get(i).get(db).op(OP.i32Mul).op(OP.i32Add).set(o);
    // out row = bias or 0
    f.get(pBias).if(() => {
      f.forRange(t, () => f.i32(0), db, 4, () => {
        f.get(o).get(t).op(OP.i32Add);
        f.get(pBias).get(t).op(OP.i32Add).mem(OP.f32Load, 2);
        f.mem(OP.f32Store, 2);
      });
    }, () => {
      f.forRange(t, () => f.i32(0), db, 4, () => {
        f.get(o).get(t).op(OP.i32Add).f32(0).mem(OP.f32Store, 2);
      });
    });
    // e range: blocks of four entries, then one at a time
    f.get(pRowPtr).get(i).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.i32Load, 2, 4).set(e1);
    f.get(pRowPtr).get(i).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.i32Load, 2).set(e);
    f.get(e1).get(e).op(OP.i32Sub).i32(-4).op(OP.i32And).get(e).op(OP.i32Add).set(e4);
    f.forRange(e, () => f.get(e), e4, 4, () => {
      for (let u = 0; u < 4; u++) {
        f.get(pValue).get(e).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.f32Load, 2, 4 * u);
        f.tee(vS4[u]).simd(SIMD.f32x4Splat).set(vV4[u]);
        f.get(pDict);
        f.get(pIndex).get(e).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.i32Load, 2, 4 * u);
        f.get(db).op(OP.i32Mul).op(OP.i32Add).set(s4[u]);
      }
      axpy4(f, o, s4, vS4, vV4, t, d4b, db);
    });
    f.forRange(
      e,
      () => f.get(e4),
      e1,
      1,
      () => {
        f.get(pValue).get(e).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.f32Load, 2).tee(vS);
        f.simd(SIMD.f32x4Splat).set(vV);
        f.get(pDict);
        f.get(pIndex).get(e).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.i32Load, 2);
        f.get(db).op(OP.i32Mul).op(OP.i32Add).set(s);
        axpy(f, o, s, vS, vV, t, d4b, db);
      },
    );
  };
  return { o, db, d4b, row };
}

function decodeFn(): FnBuilder {
  const f = new FnBuilder("decode", [I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const i = f.local(I32);
  const { row } = decodeRow(f, [0, 1, 2, 3, 4, 5, 6]);
  f.forRange(i, () => f.get(7), 8, 1, () => row(i));
  return f;
}

/**
 * Declare the locals of a sample row and return the emitter of one row (row index in local
 * `i`): vals_e = ⟨G_i, D_j⟩ for the row's entries.
 */
function sampleRow(
  f: FnBuilder,
  [pG, pDict, d, pRowPtr, pIndex, pVals]: number[],
): (i: number) => void {
  const e = f.local(I32), e1 = f.local(I32), gi = f.local(I32);
  const s = f.local(I32), t = f.local(I32), d4b = f.local(I32), db = f.local(I32);
  const acc = f.local(V128), acc2 = f.local(V128), sum = f.local(F32), d8b = f.local(I32);
  const acc3 = f.local(V128), acc4 = f.local(V128), pg = f.local(I32), ps = f.local(I32);
  f.get(d).i32(2).op(OP.i32Shl).set(db);
  f.get(d).i32(-4).op(OP.i32And).i32(2).op(OP.i32Shl).set(d4b);
  f.get(d).i32(-16).op(OP.i32And).i32(2).op(OP.i32Shl).set(d8b);
  const e4 = f.local(I32), pgt = f.local(I32), d2b = f.local(I32);
  const s4 = [0, 1, 2, 3].map(() => f.local(I32));
  const a4 = [0, 1, 2, 3].map(() => f.local(V128));
  const b4 = [0, 1, 2, 3].map(() => f.local(V128));
  const sum4 = [0, 1, 2, 3].map(() => f.local(F32));
  const gv = f.local(V128), gv2 = f.local(V128), gs = f.local(F32);
  f.get(d).i32(-8).op(OP.i32And).i32(2).op(OP.i32Shl).set(d2b);
  return (i: number) => {
    f.get(pG).get(i).get(db).op(OP.i32Mul).op(OP.i32Add).set(gi);
    f.get(pRowPtr).get(i).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.i32Load, 2, 4).set(e1);
    f.get(pRowPtr).get(i).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.i32Load, 2).set(e);
    f.get(e1).get(e).op(OP.i32Sub).i32(-4).op(OP.i32And).get(e).op(OP.i32Add).set(e4);
    // blocks of four entries share each load of G_i (eight independent accumulators)
    f.forRange(e, () => f.get(e), e4, 4, () => {
      for (let u = 0; u < 4; u++) {
        f.get(pDict);
        f.get(pIndex).get(e).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.i32Load, 2, 4 * u);
        f.get(db).op(OP.i32Mul).op(OP.i32Add).set(s4[u]);
        f.f32(0).simd(SIMD.f32x4Splat).tee(a4[u]).set(b4[u]);
      }
      f.forRange(t, () => f.i32(0), d2b, 32, () => {
        f.get(gi).get(t).op(OP.i32Add).tee(pgt).mem(SIMD.load, 2, 0, true).set(gv);
        f.get(pgt).mem(SIMD.load, 2, 16, true).set(gv2);
        for (let u = 0; u < 4; u++) {
          f.get(s4[u]).get(t).op(OP.i32Add).set(ps);
          f.get(ps).mem(SIMD.load, 2, 0, true).get(gv);
          mulAdd(f, () => f.get(a4[u])).set(a4[u]);
          f.get(ps).mem(SIMD.load, 2, 16, true).get(gv2);
          mulAdd(f, () => f.get(b4[u])).set(b4[u]);
        }
      });
      f.forRange(t, () => f.get(d2b), d4b, 16, () => {
        f.get(gi).get(t).op(OP.i32Add).mem(SIMD.load, 2, 0, true).set(gv);
        for (let u = 0; u < 4; u++) {
          f.get(s4[u]).get(t).op(OP.i32Add).mem(SIMD.load, 2, 0, true).get(gv);
          mulAdd(f, () => f.get(a4[u])).set(a4[u]);
        }
      });
      for (let u = 0; u < 4; u++) {
        f.get(a4[u]).get(b4[u]).simd(SIMD.f32x4Add).set(a4[u]);
        f.get(a4[u]).simd(SIMD.f32x4ExtractLane).op(0);
        f.get(a4[u]).simd(SIMD.f32x4ExtractLane).op(1).op(OP.f32Add);
        f.get(a4[u]).simd(SIMD.f32x4ExtractLane).op(2);
        f.get(a4[u]).simd(SIMD.f32x4ExtractLane).op(3).op(OP.f32Add).op(OP.f32Add).set(sum4[u]);
      }
      f.forRange(t, () => f.get(d4b), db, 4, () => {
        f.get(gi).get(t).op(OP.i32Add).mem(OP.f32Load, 2).set(gs);
        for (let u = 0; u < 4; u++) {
          f.get(sum4[u]).get(s4[u]).get(t).op(OP.i32Add).mem(OP.f32Load, 2);
          f.get(gs).op(OP.f32Mul, OP.f32Add).set(sum4[u]);
        }
      });
      for (let u = 0; u < 4; u++) {
        f.get(pVals).get(e).i32(2).op(OP.i32Shl).op(OP.i32Add).get(sum4[u]);
        f.mem(OP.f32Store, 2, 4 * u);
      }
    });
    f.forRange(
      e,
      () => f.get(e4),
      e1,
      1,
      () => {
        f.get(pDict);
        f.get(pIndex).get(e).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.i32Load, 2);
        f.get(db).op(OP.i32Mul).op(OP.i32Add).set(s);
        f.f32(0).simd(SIMD.f32x4Splat).tee(acc).tee(acc2).tee(acc3).set(acc4);
        // four independent accumulators over 16 floats
        f.forRange(t, () => f.i32(0), d8b, 64, () => {
          f.get(gi).get(t).op(OP.i32Add).set(pg);
          f.get(s).get(t).op(OP.i32Add).set(ps);
          [acc, acc2, acc3, acc4].forEach((a, u) => {
            f.get(pg).mem(SIMD.load, 2, 16 * u, true);
            f.get(ps).mem(SIMD.load, 2, 16 * u, true);
            mulAdd(f, () => f.get(a)).set(a);
          });
        });
        f.forRange(t, () => f.get(d8b), d4b, 16, () => {
          f.get(gi).get(t).op(OP.i32Add).mem(SIMD.load, 2, 0, true);
          f.get(s).get(t).op(OP.i32Add).mem(SIMD.load, 2, 0, true);
          mulAdd(f, () => f.get(acc)).set(acc);
        });
        f.get(acc).get(acc2).simd(SIMD.f32x4Add).get(acc3).simd(SIMD.f32x4Add);
        f.get(acc4).simd(SIMD.f32x4Add).set(acc);
        f.get(acc).simd(SIMD.f32x4ExtractLane).op(0);
        f.get(acc).simd(SIMD.f32x4ExtractLane).op(1).op(OP.f32Add);
        f.get(acc).simd(SIMD.f32x4ExtractLane).op(2);
        f.get(acc).simd(SIMD.f32x4ExtractLane).op(3).op(OP.f32Add).op(OP.f32Add).set(sum);
        f.forRange(t, () => f.get(d4b), db, 4, () => {
          f.get(sum);
          f.get(gi).get(t).op(OP.i32Add).mem(OP.f32Load, 2);
          f.get(s).get(t).op(OP.i32Add).mem(OP.f32Load, 2);
          f.op(OP.f32Mul, OP.f32Add).set(sum);
        });
        f.get(pVals).get(e).i32(2).op(OP.i32Shl).op(OP.i32Add).get(sum).mem(OP.f32Store, 2);
      },
    );
  };
}

function sampleFn(): FnBuilder {
  const f = new FnBuilder("sample", [I32, I32, I32, I32, I32, I32, I32, I32]);
  const i = f.local(I32);
  const row = sampleRow(f, [0, 1, 2, 3, 4, 5]);
  f.forRange(i, () => f.get(6), 7, 1, () => row(i));
  return f;
}

/**
 * The fused reconstruction step, per row i: out_i = scale·(Σ_e v_e·D_j + bias − x_i),
 * rowSs_i = ‖Σ_e v_e·D_j + bias − x_i‖² (f32), and, when pVals ≠ 0, vals_e = ⟨out_i, D_j⟩.
 */
function residFn(): FnBuilder {
  const P = [I32, I32, I32, I32, I32, I32, I32, F32, I32, I32, I32, I32, I32];
  const f = new FnBuilder("resid", P);
  const [pRowPtr, pIndex, pValue, pDict, d, pBias, pX, scale, pOut, pRowSs, pVals, r0, r1] = P
    .map((_, k) => k);
  const i = f.local(I32), t = f.local(I32), xo = f.local(I32), pa = f.local(I32);
  const v = f.local(V128), acc = f.local(V128), sv = f.local(V128), sum = f.local(F32);
  const vs = f.local(F32);
  const dec = decodeRow(f, [pRowPtr, pIndex, pValue, pDict, d, pBias, pOut]);
  const sam = sampleRow(f, [pOut, pDict, d, pRowPtr, pIndex, pVals]);
  const { o, db, d4b } = dec;
  f.get(scale).simd(SIMD.f32x4Splat).set(sv);
  f.forRange(i, () => f.get(r0), r1, 1, () => {
    dec.row(i);
    // residual, its squared norm, and the scaled residual in place
    f.get(pX).get(i).get(db).op(OP.i32Mul).op(OP.i32Add).set(xo);
    f.f32(0).simd(SIMD.f32x4Splat).set(acc);
    f.forRange(t, () => f.i32(0), d4b, 16, () => {
      f.get(o).get(t).op(OP.i32Add).tee(pa).mem(SIMD.load, 2, 0, true);
      f.get(xo).get(t).op(OP.i32Add).mem(SIMD.load, 2, 0, true).simd(SIMD.f32x4Sub).set(v);
      f.get(acc).get(v).get(v).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).set(acc);
      f.get(pa).get(v).get(sv).simd(SIMD.f32x4Mul).mem(SIMD.store, 2, 0, true);
    });
    f.get(acc).simd(SIMD.f32x4ExtractLane).op(0);
    f.get(acc).simd(SIMD.f32x4ExtractLane).op(1).op(OP.f32Add);
    f.get(acc).simd(SIMD.f32x4ExtractLane).op(2);
    f.get(acc).simd(SIMD.f32x4ExtractLane).op(3).op(OP.f32Add).op(OP.f32Add).set(sum);
    f.forRange(t, () => f.get(d4b), db, 4, () => {
      f.get(o).get(t).op(OP.i32Add).tee(pa).mem(OP.f32Load, 2);
      f.get(xo).get(t).op(OP.i32Add).mem(OP.f32Load, 2).op(OP.f32Sub).set(vs);
      f.get(sum).get(vs).get(vs).op(OP.f32Mul, OP.f32Add).set(sum);
      f.get(pa).get(vs).get(scale).op(OP.f32Mul).mem(OP.f32Store, 2);
    });
    f.get(pRowSs).get(i).i32(2).op(OP.i32Shl).op(OP.i32Add).get(sum).mem(OP.f32Store, 2);
    f.get(pVals).if(() => sam(i));
  });
  return f;
}

function gatherFn(): FnBuilder {
  const [pColPtr, pSlotRow, pSlotEntry, pVals, pSrc, d, pOut, beta, j0, j1] = [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
  ];
  const f = new FnBuilder("gather", [I32, I32, I32, I32, I32, I32, I32, F32, I32, I32]);
  const j = f.local(I32), q = f.local(I32), q1 = f.local(I32), o = f.local(I32);
  const s = f.local(I32), t = f.local(I32), d4b = f.local(I32), db = f.local(I32);
  const vS = f.local(F32), vV = f.local(V128), betaV = f.local(V128), q4 = f.local(I32);
  const s4 = [0, 1, 2, 3].map(() => f.local(I32));
  const vS4 = [0, 1, 2, 3].map(() => f.local(F32));
  const vV4 = [0, 1, 2, 3].map(() => f.local(V128));
  f.get(d).i32(2).op(OP.i32Shl).set(db);
  f.get(d).i32(-4).op(OP.i32And).i32(2).op(OP.i32Shl).set(d4b);
  f.get(beta).simd(SIMD.f32x4Splat).set(betaV);
  f.forRange(j, () => f.get(j0), j1, 1, () => {
    f.get(pOut).get(j).get(db).op(OP.i32Mul).op(OP.i32Add).set(o);
    scaleRow(f, o, beta, t, d4b, db, betaV);
    f.get(pColPtr).get(j).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.i32Load, 2, 4).set(q1);
    f.get(pColPtr).get(j).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.i32Load, 2).set(q);
    f.get(q1).get(q).op(OP.i32Sub).i32(-4).op(OP.i32And).get(q).op(OP.i32Add).set(q4);
    // blocks of four slots: one pass over the output row when all four values are non-zero
    f.forRange(q, () => f.get(q), q4, 4, () => {
      for (let u = 0; u < 4; u++) {
        f.get(pVals);
        f.get(pSlotEntry).get(q).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.i32Load, 2, 4 * u);
        f.i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.f32Load, 2).tee(vS4[u]);
        f.simd(SIMD.f32x4Splat).set(vV4[u]);
        f.get(pSrc);
        f.get(pSlotRow).get(q).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.i32Load, 2, 4 * u);
        f.get(db).op(OP.i32Mul).op(OP.i32Add).set(s4[u]);
      }
      f.get(vS4[0]).f32(0).op(OP.f32Ne);
      for (let u = 1; u < 4; u++) f.get(vS4[u]).f32(0).op(OP.f32Ne).op(OP.i32And);
      f.if(() => axpy4(f, o, s4, vS4, vV4, t, d4b, db), () => {
        for (let u = 0; u < 4; u++) {
          f.get(vS4[u]).f32(0).op(OP.f32Ne).if(() => {
            axpy(f, o, s4[u], vS4[u], vV4[u], t, d4b, db);
          });
        }
      });
    });
    f.forRange(
      q,
      () => f.get(q4),
      q1,
      1,
      () => {
        // v = vals[slotEntry[q]]
        f.get(pVals);
        f.get(pSlotEntry).get(q).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.i32Load, 2);
        f.i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.f32Load, 2).tee(vS);
        f.f32(0).op(OP.f32Ne).if(() => {
          f.get(vS).simd(SIMD.f32x4Splat).set(vV);
          f.get(pSrc);
          f.get(pSlotRow).get(q).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.i32Load, 2);
          f.get(db).op(OP.i32Mul).op(OP.i32Add).set(s);
          axpy(f, o, s, vS, vV, t, d4b, db);
        });
      },
    );
  });
  return f;
}

function adamwFn(): FnBuilder {
  const P = [I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32, F32, I32, I32];
  const f = new FnBuilder("adamw", P);
  const [pP, pG, pM, pV, b1, a1, b2, a2, ss, isb, eps, dec, i0, i1] = P.map((_, i) => i);
  const i = f.local(I32), i4 = f.local(I32), off = f.local(I32);
  const g = f.local(V128), m = f.local(V128), v = f.local(V128);
  const gs = f.local(F32), ms = f.local(F32), vs = f.local(F32);
  const vb1 = f.local(V128), va1 = f.local(V128), vb2 = f.local(V128), va2 = f.local(V128);
  const vss = f.local(V128), visb = f.local(V128), veps = f.local(V128), vdec = f.local(V128);
  for (const [src, dst] of [[b1, vb1], [a1, va1], [b2, vb2], [a2, va2], [ss, vss], [isb, visb]]) {
    f.get(src).simd(SIMD.f32x4Splat).set(dst);
  }
  f.get(eps).simd(SIMD.f32x4Splat).set(veps);
  f.get(dec).simd(SIMD.f32x4Splat).set(vdec);
  // i4 = i0 + 4·⌊(i1 − i0)/4⌋
  f.get(i1).get(i0).op(OP.i32Sub).i32(-4).op(OP.i32And).get(i0).op(OP.i32Add).set(i4);
  f.forRange(i, () => f.get(i0), i4, 4, () => {
    f.get(i).i32(2).op(OP.i32Shl).set(off);
    f.get(pG).get(off).op(OP.i32Add).mem(SIMD.load, 2, 0, true).set(g);
    // m = b1·m + a1·g
    f.get(vb1).get(pM).get(off).op(OP.i32Add).mem(SIMD.load, 2, 0, true).simd(SIMD.f32x4Mul);
    f.get(va1).get(g).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).set(m);
    // v = b2·v + a2·g·g
    f.get(vb2).get(pV).get(off).op(OP.i32Add).mem(SIMD.load, 2, 0, true).simd(SIMD.f32x4Mul);
    f.get(va2).get(g).simd(SIMD.f32x4Mul).get(g).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).set(v);
    f.get(pM).get(off).op(OP.i32Add).get(m).mem(SIMD.store, 2, 0, true);
    f.get(pV).get(off).op(OP.i32Add).get(v).mem(SIMD.store, 2, 0, true);
    // p = p·dec − ss·m / (sqrt(v)·isb + eps)
    f.get(pP).get(off).op(OP.i32Add);
    f.get(pP).get(off).op(OP.i32Add).mem(SIMD.load, 2, 0, true).get(vdec).simd(SIMD.f32x4Mul);
    f.get(vss).get(m).simd(SIMD.f32x4Mul);
    f.get(v).simd(SIMD.f32x4Sqrt).get(visb).simd(SIMD.f32x4Mul).get(veps).simd(SIMD.f32x4Add);
    f.simd(SIMD.f32x4Div).simd(SIMD.f32x4Sub);
    f.mem(SIMD.store, 2, 0, true);
  });
  f.forRange(i, () => f.get(i4), i1, 1, () => {
    f.get(i).i32(2).op(OP.i32Shl).set(off);
    f.get(pG).get(off).op(OP.i32Add).mem(OP.f32Load, 2).set(gs);
    f.get(b1).get(pM).get(off).op(OP.i32Add).mem(OP.f32Load, 2).op(OP.f32Mul);
    f.get(a1).get(gs).op(OP.f32Mul, OP.f32Add).set(ms);
    f.get(b2).get(pV).get(off).op(OP.i32Add).mem(OP.f32Load, 2).op(OP.f32Mul);
    f.get(a2).get(gs).op(OP.f32Mul).get(gs).op(OP.f32Mul, OP.f32Add).set(vs);
    f.get(pM).get(off).op(OP.i32Add).get(ms).mem(OP.f32Store, 2);
    f.get(pV).get(off).op(OP.i32Add).get(vs).mem(OP.f32Store, 2);
    f.get(pP).get(off).op(OP.i32Add);
    f.get(pP).get(off).op(OP.i32Add).mem(OP.f32Load, 2).get(dec).op(OP.f32Mul);
    f.get(ss).get(ms).op(OP.f32Mul);
    f.get(vs).op(OP.f32Sqrt).get(isb).op(OP.f32Mul).get(eps).op(OP.f32Add);
    f.op(OP.f32Div, OP.f32Sub);
    f.mem(OP.f32Store, 2);
  });
  return f;
}

/** Maximum memory of the kernels' module, in 64 KiB pages (4 GiB: the wasm32 limit). */
export const MAX_PAGES = 65536;

let compiled: WebAssembly.Module | null = null;

/** The compiled kernel module (compiled once per process; imports `env.memory`, shared). */
function kernelModule(): WebAssembly.Module {
  if (!compiled) {
    // relaxed-SIMD fused multiply-add where the engine validates it, else mul + add
    for (const fma of [true, false]) {
      setFusedMultiplyAdd(fma);
      try {
        compiled = new WebAssembly.Module(buildKernelBytes() as BufferSource);
        break;
      } catch (e) {
        if (!fma) throw e;
      }
    }
  }
  return compiled!;
}

/** The kernel module's bytes (with the current multiply-add choice of wasm_asm.ts). */
function buildKernelBytes(): Uint8Array {
  const fns = [
    decodeFn(),
    sampleFn(),
    gatherFn(),
    adamwFn(),
    axpbyFn(),
    rownormFn(),
    removeparFn(),
    tkscanFn(),
    residFn(),
    rowfillFn(),
    sumsqFn(),
    maskaboveFn(),
    countaboveFn(),
    colsumFn(),
    threshFn(),
    threshFn(true),
    scalerowsFn(),
    groupmaxFn(),
    rowcandsFn(),
  ];
  return assembleModule(fns, 1, MAX_PAGES);
}

/** The exported kernels of one instance, as JS functions over numbers. */
export type KernelExports = Record<KernelName, (...args: number[]) => void>;

/** Instantiate the kernels on `memory` (shared, created with maximum {@link MAX_PAGES}). */
export function instantiateKernels(memory: WebAssembly.Memory): KernelExports {
  const inst = new WebAssembly.Instance(kernelModule(), { env: { memory } });
  return inst.exports as unknown as KernelExports;
}
