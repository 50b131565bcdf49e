/**
 * WebAssembly SIMD kernels of the CPU backend for the dense ReLU / JumpReLU paths (row-major
 * m×q; theta f32 [q], or one shared value when `shared` ≠ 0), written with {@link ./wasm_asm.ts}.
 * Byte offsets into the shared memory; the range is the last two arguments.
 *
 * - `maskabove(pPre, pTheta, shared, pSrc, pOut, q, r0, r1)`: out = src where pre > theta, else 0
 *   (out may alias src, not pre)
 * - `countabove(pPre, pTheta, shared, pBounds, pPart, q, c0, c1)`: for chunk k, the i32 row
 *   part[k·q + j] = #{i ∈ [bounds[k], bounds[k+1]) : pre_ij > theta_j}
 * - `thresh(…)`, `threshband(…)`: sparse thresholding by row chunks, the second also collecting
 *   a band lo < pre ≤ hi in the same pass (see {@link threshFn})
 * - `colsum(pA, pBounds, pPart, q, c0, c1)`: for chunk k, the f64 row part[k·q + j] = Σ a_ij over
 *   the chunk's rows (float64 accumulation)
 * - `scalerows(pV, pA, q, pOut, beta, r0, r1)`: out_i = beta·out_i + v_i·a_i (beta 0 overwrites,
 *   even NaN; out must not alias a)
 */
import { F32, FnBuilder, I32, OP, SIMD, V128 } from "./wasm_asm.ts";

const SX = {
  anyTrue: 0x53,
  f32x4Gt: 0x44,
  v128And: 0x4e,
  v128Or: 0x50,
  i32x4Sub: 0xb1,
  f64x2PromoteLow: 0x5f,
  f64x2Add: 0xf0,
  shuffle: 0x0d,
} as const;
const OX = {
  f32Gt: 0x5e,
  f32Le: 0x5f,
  select: 0x1b,
  f64Load: 0x2b,
  f64Store: 0x39,
  f64PromoteF32: 0xbb,
  f64Add: 0xa0,
} as const;

/** Push `base + (idx << sh)`. */
function at(f: FnBuilder, base: number, idx: number, sh = 2): FnBuilder {
  return f.get(base).get(idx).i32(sh).op(OP.i32Shl).op(OP.i32Add);
}

/** Push the threshold vector of column byte offset jb: the splat tv (shared) or a load. */
function thetaV(f: FnBuilder, sh: boolean, pTheta: number, tv: number, jb: number): void {
  if (sh) f.get(tv);
  else f.get(pTheta).get(jb).op(OP.i32Add).mem(SIMD.load, 2, 0, true);
}

/** Push the scalar threshold of column byte offset jb: t0 (shared) or a load. */
function thetaS(f: FnBuilder, sh: boolean, pTheta: number, t0: number, jb: number): void {
  if (sh) f.get(t0);
  else f.get(pTheta).get(jb).op(OP.i32Add).mem(OP.f32Load, 2);
}

/** out = src where pre > theta, else 0, rows r0..r1. */
export function maskaboveFn(): FnBuilder {
  const f = new FnBuilder("maskabove", [I32, I32, I32, I32, I32, I32, I32, I32]);
  const [pPre, pTheta, shared, pSrc, pOut, q, r0, r1] = [0, 1, 2, 3, 4, 5, 6, 7];
  const r = f.local(I32), jb = f.local(I32), q4b = f.local(I32), qb = f.local(I32);
  const ro = f.local(I32), tv = f.local(V128), t0 = f.local(0x7d);
  f.get(q).i32(2).op(OP.i32Shl).set(qb);
  f.get(q).i32(-4).op(OP.i32And).i32(2).op(OP.i32Shl).set(q4b);
  f.get(pTheta).mem(OP.f32Load, 2).tee(t0).simd(SIMD.f32x4Splat).set(tv);
  const body = (sh: boolean) => {
    f.forRange(r, () => f.get(r0), r1, 1, () => {
      f.get(r).get(qb).op(OP.i32Mul).set(ro);
      f.forRange(jb, () => f.i32(0), q4b, 16, () => {
        f.get(pOut).get(ro).op(OP.i32Add).get(jb).op(OP.i32Add);
        f.get(pSrc).get(ro).op(OP.i32Add).get(jb).op(OP.i32Add).mem(SIMD.load, 2, 0, true);
        f.get(pPre).get(ro).op(OP.i32Add).get(jb).op(OP.i32Add).mem(SIMD.load, 2, 0, true);
        thetaV(f, sh, pTheta, tv, jb);
        f.simd(SX.f32x4Gt).simd(SX.v128And);
        f.mem(SIMD.store, 2, 0, true);
      });
      f.forRange(jb, () => f.get(q4b), qb, 4, () => {
        f.get(pOut).get(ro).op(OP.i32Add).get(jb).op(OP.i32Add);
        f.get(pSrc).get(ro).op(OP.i32Add).get(jb).op(OP.i32Add).mem(OP.f32Load, 2);
        f.f32(0);
        f.get(pPre).get(ro).op(OP.i32Add).get(jb).op(OP.i32Add).mem(OP.f32Load, 2);
        thetaS(f, sh, pTheta, t0, jb);
        f.op(OX.f32Gt).op(OX.select);
        f.mem(OP.f32Store, 2);
      });
    });
  };
  f.get(shared).if(() => body(true), () => body(false));
  return f;
}

/** Per-chunk column counts of pre > theta. */
export function countaboveFn(): FnBuilder {
  const f = new FnBuilder("countabove", [I32, I32, I32, I32, I32, I32, I32, I32]);
  const [pPre, pTheta, shared, pBounds, pPart, q, c0, c1] = [0, 1, 2, 3, 4, 5, 6, 7];
  const k = f.local(I32), r = f.local(I32), rEnd = f.local(I32), jb = f.local(I32);
  const q4b = f.local(I32), qb = f.local(I32), ro = f.local(I32), po = f.local(I32);
  const tv = f.local(V128), t0 = f.local(0x7d);
  f.get(q).i32(2).op(OP.i32Shl).set(qb);
  f.get(q).i32(-4).op(OP.i32And).i32(2).op(OP.i32Shl).set(q4b);
  f.get(pTheta).mem(OP.f32Load, 2).tee(t0).simd(SIMD.f32x4Splat).set(tv);
  f.forRange(k, () => f.get(c0), c1, 1, () => {
    f.get(pPart).get(k).get(qb).op(OP.i32Mul).op(OP.i32Add).set(po);
    f.forRange(jb, () => f.i32(0), qb, 4, () => {
      f.get(po).get(jb).op(OP.i32Add).i32(0).mem(OP.i32Store, 2);
    });
    at(f, pBounds, k).mem(OP.i32Load, 2, 4).set(rEnd);
    f.forRange(r, () => at(f, pBounds, k).mem(OP.i32Load, 2), rEnd, 1, () => {
      f.get(pPre).get(r).get(qb).op(OP.i32Mul).op(OP.i32Add).set(ro);
      const body = (sh: boolean) => {
        f.forRange(jb, () => f.i32(0), q4b, 16, () => {
          f.get(po).get(jb).op(OP.i32Add);
          f.get(po).get(jb).op(OP.i32Add).mem(SIMD.load, 2, 0, true);
          f.get(ro).get(jb).op(OP.i32Add).mem(SIMD.load, 2, 0, true);
          thetaV(f, sh, pTheta, tv, jb);
          f.simd(SX.f32x4Gt).simd(SX.i32x4Sub); // mask lanes are −1: subtracting counts them
          f.mem(SIMD.store, 2, 0, true);
        });
        f.forRange(jb, () => f.get(q4b), qb, 4, () => {
          f.get(po).get(jb).op(OP.i32Add);
          f.get(po).get(jb).op(OP.i32Add).mem(OP.i32Load, 2);
          f.get(ro).get(jb).op(OP.i32Add).mem(OP.f32Load, 2);
          thetaS(f, sh, pTheta, t0, jb);
          f.op(OX.f32Gt).op(OP.i32Add);
          f.mem(OP.i32Store, 2);
        });
      };
      f.get(shared).if(() => body(true), () => body(false));
    });
  });
  return f;
}

/** Per-chunk float64 column sums. */
export function colsumFn(): FnBuilder {
  const f = new FnBuilder("colsum", [I32, I32, I32, I32, I32, I32]);
  const [pA, pBounds, pPart, q, c0, c1] = [0, 1, 2, 3, 4, 5];
  const k = f.local(I32), r = f.local(I32), rEnd = f.local(I32), j = f.local(I32);
  const q4 = f.local(I32), ro = f.local(I32), po = f.local(I32), v = f.local(V128);
  const pp = f.local(I32);
  f.get(q).i32(-4).op(OP.i32And).set(q4);
  f.forRange(k, () => f.get(c0), c1, 1, () => {
    f.get(pPart).get(k).get(q).op(OP.i32Mul).i32(3).op(OP.i32Shl).op(OP.i32Add).set(po);
    f.forRange(j, () => f.i32(0), q, 1, () => {
      at(f, po, j, 3).f64(0).mem(OX.f64Store, 3);
    });
    at(f, pBounds, k).mem(OP.i32Load, 2, 4).set(rEnd);
    f.forRange(r, () => at(f, pBounds, k).mem(OP.i32Load, 2), rEnd, 1, () => {
      f.get(pA).get(r).get(q).op(OP.i32Mul).i32(2).op(OP.i32Shl).op(OP.i32Add).set(ro);
      f.forRange(j, () => f.i32(0), q4, 4, () => {
        at(f, ro, j).mem(SIMD.load, 2, 0, true).set(v);
        at(f, po, j, 3).set(pp);
        // part[j..j+1] += promote(v[0..1]); part[j+2..j+3] += promote(v[2..3])
        f.get(pp);
        f.get(pp).mem(SIMD.load, 3, 0, true).get(v).simd(SX.f64x2PromoteLow).simd(SX.f64x2Add);
        f.mem(SIMD.store, 3, 0, true);
        f.get(pp);
        f.get(pp).mem(SIMD.load, 3, 16, true);
        f.get(v).get(v).simd(SX.shuffle);
        for (const l of [2, 3, 2, 3]) f.op(4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3);
        f.simd(SX.f64x2PromoteLow).simd(SX.f64x2Add);
        f.mem(SIMD.store, 3, 16, true);
      });
      f.forRange(j, () => f.get(q4), q, 1, () => {
        at(f, po, j, 3);
        at(f, po, j, 3).mem(OX.f64Load, 3);
        at(f, ro, j).mem(OP.f32Load, 2).op(OX.f64PromoteF32).op(OX.f64Add);
        f.mem(OX.f64Store, 3);
      });
    });
  });
  return f;
}

/**
 * `thresh(pPre, pTheta, shared, c, pBounds, pRowPtr, pIndex, pValue, pCounts, k0, k1)`: sparse
 * thresholding of rows by chunk. Chunk k's rows [bounds[k], bounds[k+1]) write their entries
 * (pre_ij > theta_j, ascending j, value pre_ij) from slot bounds[k]·c on (the chunk's worst case,
 * so chunks never overlap), rowPtr[i] = each row's first slot, counts[k] = the chunk's entries;
 * the caller compacts the chunks.
 *
 * With `band`, `threshband(pPre, pTheta, pLo, pHi, shared, c, pBounds, pRowPtr, pIndex, pValue,
 * pCounts, pBRowPtr, pBIndex, pBValue, pBCounts, k0, k1)`: the same, and in the same pass the
 * entries lo_j < pre_ij ≤ hi_j written likewise to the second codes (theta, lo and hi all shared
 * or all per column).
 */
export function threshFn(band = false): FnBuilder {
  const P = new Array(band ? 17 : 11).fill(I32);
  const f = new FnBuilder(band ? "threshband" : "thresh", P);
  const [pPre, pTheta, pLo, pHi, shared, c, pBounds, pRowPtr, pIndex, pValue, pCounts] = band
    ? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    : [0, 1, -1, -1, 2, 3, 4, 5, 6, 7, 8];
  const [pBRowPtr, pBIndex, pBValue, pBCounts, k0, k1] = band
    ? [11, 12, 13, 14, 15, 16]
    : [-1, -1, -1, -1, 9, 10];
  const k = f.local(I32), i = f.local(I32), iEnd = f.local(I32), j = f.local(I32);
  const j4 = f.local(I32), o = f.local(I32), o0 = f.local(I32), ro = f.local(I32);
  const v = f.local(0x7d), tv = f.local(V128), t0 = f.local(0x7d), jj = f.local(I32);
  const jb = f.local(I32);
  // the band's output slot and chunk start, its shared bounds (splat and scalar)
  const ob = f.local(I32), ob0 = f.local(I32), lv = f.local(V128), l0 = f.local(0x7d);
  const h0 = f.local(0x7d), pv = f.local(V128);
  f.get(c).i32(-4).op(OP.i32And).set(j4);
  f.get(pTheta).mem(OP.f32Load, 2).tee(t0).simd(SIMD.f32x4Splat).set(tv);
  if (band) {
    f.get(pLo).mem(OP.f32Load, 2).tee(l0).simd(SIMD.f32x4Splat).set(lv);
    f.get(pHi).mem(OP.f32Load, 2).set(h0);
  }
  /** Emit (col, v) at slot `slot` of (pIx, pVal) and advance it. */
  const emit = (pIx: number, pVal: number, slot: number, col: number) => {
    at(f, pIx, slot).get(col).mem(OP.i32Store, 2);
    at(f, pVal, slot).get(v).mem(OP.f32Store, 2);
    f.get(slot).i32(1).op(OP.i32Add).set(slot);
  };
  /** Push the bound of column `col`: the shared scalar s0, or p[col]. */
  const bound = (sh: boolean, p: number, s0: number, col: number) => {
    if (sh) f.get(s0);
    else at(f, p, col).mem(OP.f32Load, 2);
  };
  const test = (sh: boolean, col: number) => {
    // v = pre[ro + col]; if v > theta[col]: emit (col, v); if lo < v ≤ hi: emit it to the band
    f.get(ro).get(col).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.f32Load, 2).tee(v);
    bound(sh, pTheta, t0, col);
    f.op(OX.f32Gt).if(() => emit(pIndex, pValue, o, col));
    if (!band) return;
    f.get(v);
    bound(sh, pLo, l0, col);
    f.op(OX.f32Gt).if(() => {
      f.get(v);
      bound(sh, pHi, h0, col);
      f.op(OX.f32Le).if(() => emit(pBIndex, pBValue, ob, col));
    });
  };
  const body = (sh: boolean) => {
    f.forRange(k, () => f.get(k0), k1, 1, () => {
      at(f, pBounds, k).mem(OP.i32Load, 2, 4).set(iEnd);
      at(f, pBounds, k).mem(OP.i32Load, 2).get(c).op(OP.i32Mul).tee(o).set(o0);
      if (band) f.get(o).tee(ob).set(ob0);
      f.forRange(i, () => at(f, pBounds, k).mem(OP.i32Load, 2), iEnd, 1, () => {
        at(f, pRowPtr, i).get(o).mem(OP.i32Store, 2);
        if (band) at(f, pBRowPtr, i).get(ob).mem(OP.i32Store, 2);
        f.get(pPre).get(i).get(c).op(OP.i32Mul).i32(2).op(OP.i32Shl).op(OP.i32Add).set(ro);
        f.forRange(j, () => f.i32(0), j4, 4, () => {
          f.get(j).i32(2).op(OP.i32Shl).set(jb);
          f.get(ro).get(jb).op(OP.i32Add).mem(SIMD.load, 2, 0, true);
          if (band) f.tee(pv);
          thetaV(f, sh, pTheta, tv, jb);
          f.simd(SX.f32x4Gt);
          if (band) {
            // any lane above theta or above lo
            f.get(pv);
            thetaV(f, sh, pLo, lv, jb);
            f.simd(SX.f32x4Gt).simd(SX.v128Or);
          }
          f.simd(SX.anyTrue).if(() => {
            for (let l = 0; l < 4; l++) {
              f.get(j).i32(l).op(OP.i32Add).set(jj);
              test(sh, jj);
            }
          });
        });
        f.forRange(j, () => f.get(j4), c, 1, () => test(sh, j));
      });
      at(f, pCounts, k).get(o).get(o0).op(OP.i32Sub).mem(OP.i32Store, 2);
      if (band) at(f, pBCounts, k).get(ob).get(ob0).op(OP.i32Sub).mem(OP.i32Store, 2);
    });
  };
  f.get(shared).if(() => body(true), () => body(false));
  return f;
}

/** out_i = beta·out_i + v_i·a_i for rows [r0, r1) of q floats. */
export function scalerowsFn(): FnBuilder {
  const f = new FnBuilder("scalerows", [I32, I32, I32, I32, F32, I32, I32]);
  const [pV, pA, q, pOut, beta, r0, r1] = [0, 1, 2, 3, 4, 5, 6];
  const r = f.local(I32), jb = f.local(I32), q4b = f.local(I32), qb = f.local(I32);
  const ao = f.local(I32), oo = f.local(I32), sv = f.local(V128), bv = f.local(V128);
  const s0 = f.local(F32);
  f.get(q).i32(2).op(OP.i32Shl).set(qb);
  f.get(q).i32(-4).op(OP.i32And).i32(2).op(OP.i32Shl).set(q4b);
  f.get(beta).simd(SIMD.f32x4Splat).set(bv);
  const body = (keep: boolean) => {
    f.forRange(r, () => f.get(r0), r1, 1, () => {
      at(f, pV, r).mem(OP.f32Load, 2).tee(s0).simd(SIMD.f32x4Splat).set(sv);
      f.get(pA).get(r).get(qb).op(OP.i32Mul).op(OP.i32Add).set(ao);
      f.get(pOut).get(r).get(qb).op(OP.i32Mul).op(OP.i32Add).set(oo);
      f.forRange(jb, () => f.i32(0), q4b, 16, () => {
        f.get(oo).get(jb).op(OP.i32Add);
        f.get(ao).get(jb).op(OP.i32Add).mem(SIMD.load, 2, 0, true).get(sv).simd(SIMD.f32x4Mul);
        if (keep) {
          f.get(oo).get(jb).op(OP.i32Add).mem(SIMD.load, 2, 0, true).get(bv);
          f.simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add);
        }
        f.mem(SIMD.store, 2, 0, true);
      });
      f.forRange(jb, () => f.get(q4b), qb, 4, () => {
        f.get(oo).get(jb).op(OP.i32Add);
        f.get(ao).get(jb).op(OP.i32Add).mem(OP.f32Load, 2).get(s0).op(OP.f32Mul);
        if (keep) {
          f.get(oo).get(jb).op(OP.i32Add).mem(OP.f32Load, 2).get(beta).op(OP.f32Mul);
          f.op(OP.f32Add);
        }
        f.mem(OP.f32Store, 2);
      });
    });
  };
  f.get(beta).f32(0).op(OP.f32Eq).if(() => body(false), () => body(true));
  return f;
}
