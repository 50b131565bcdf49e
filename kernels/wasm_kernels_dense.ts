/**
 * WebAssembly SIMD kernels of the CPU backend for dense elementwise and per-row work, written
 * with {@link ./wasm_asm.ts}. Like the sparse kernels of {@link ./wasm_kernels.ts}, each works on
 * byte offsets into the shared memory and a half-open range (the last two arguments) that the
 * thread pool splits. Shapes: row-major float32.
 *
 * - `axpby(pX, pY, pOut, a, b, i0, i1)`: out_i = a·x_i + b·y_i (out may alias x or y)
 * - `rownorm(pD, d, r0, r1)`: each row of D (·×d) scaled to unit L2 norm (zero rows untouched)
 * - `removepar(pD, pG, d, r0, r1)`: G_j −= ⟨G_j, D_j⟩·D_j
 * - `sumsq(pX, pBounds, pOut, q0, q1)`: for chunk q, pOut f64[q] = Σ x_i² over
 *   i ∈ [bounds[q], bounds[q+1]) (f32 squares summed in blocks of 256, blocks in float64)
 * - `rowfill(pBias, c, pOut, r0, r1)`: rows r0..r1 of out (·×c) = bias (c floats)
 * - `tkscan(pBits, pBounds, guess, pCandBits, pCandIdx, capPer, pCounts, pBias|0, c, q0, q1)`:
 *   the candidate pass of batch top-k over pre (·×c): for chunk q, the flat positions f in
 *   [bounds[q], bounds[q+1]) whose int32 pattern b of v = pre[f] (+ bias[f mod c] in float32
 *   when pBias ≠ 0; c is then the row length) satisfies 1 ≤ guess ≤ b ≤ 0x7f800000, in
 *   increasing f, as (b, f) pairs in slots q·(capPer + TKSCAN_PAD).. of the candidate arrays;
 *   counts[q] = how many, or −1 when more than capPer. Streams pre once in blocks of 64
 *   (sixteen vectors max-reduced: one compare and one branch per block); a block with a hit
 *   builds its 64-bit hit mask (compares narrowed to bytes, i8x16.bitmask) and walks the set
 *   bits in order (count-trailing-zeros), storing each at the next free slot, which advances
 *   only for a finite positive value (NaN is dropped there); the capacity is checked once per
 *   block. Rows are scanned as segments so that the bias lines up (scalar tail per row).
 */
import { F32, F64, FnBuilder, I32, mulAdd, OP, SIMD, V128 } from "./wasm_asm.ts";

/** i64 value type. */
const I64 = 0x7e;

/** Extra SIMD opcodes used here (after the 0xfd prefix). */
const SX = {
  i32x4Splat: 0x11,
  i32x4GeS: 0x3f,
  i32x4GtS: 0x3b,
  i32x4MaxS: 0xb8,
  i16x8NarrowI32x4S: 0x85,
  i8x16NarrowI16x8S: 0x65,
  i8x16Bitmask: 0x64,
  anyTrue: 0x53,
  i32x4ExtractLane: 0x1b,
  v128Or: 0x50,
  f32x4Add: 0xe4,
  f32x4Mul: 0xe6,
} as const;

/** Extra scalar opcodes. */
const OX = {
  f64PromoteF32: 0xbb,
  f64Add: 0xa0,
  f64Mul: 0xa2,
  f64Store: 0x39,
  i32LeS: 0x4c,
  i32LeU: 0x4d,
  i32GtS: 0x4a,
  i32DivU: 0x6e,
  i32ShrS: 0x75,
  i32ReinterpretF32: 0xbc,
  i32WrapI64: 0xa7,
  i64ExtendI32U: 0xad,
  i64Const: 0x42,
  i64Eqz: 0x50,
  i64Ctz: 0x7a,
  i64Sub: 0x7d,
  i64And: 0x83,
  i64Or: 0x84,
  i64Shl: 0x86,
  f32Div: 0x95,
} as const;

/** Push the byte address `base + 4·idx` (both locals). */
function addr(f: FnBuilder, base: number, idx: number): FnBuilder {
  return f.get(base).get(idx).i32(2).op(OP.i32Shl).op(OP.i32Add);
}

/** Emit the horizontal sum of v128 local `v` (f32x4) as one f32 on the stack. */
function hsum(f: FnBuilder, v: number): void {
  f.get(v).simd(SIMD.f32x4ExtractLane).op(0);
  f.get(v).simd(SIMD.f32x4ExtractLane).op(1).op(OP.f32Add);
  f.get(v).simd(SIMD.f32x4ExtractLane).op(2);
  f.get(v).simd(SIMD.f32x4ExtractLane).op(3).op(OP.f32Add).op(OP.f32Add);
}

/** out_i = a·x_i + b·y_i over [i0, i1). */
export function axpbyFn(): FnBuilder {
  const f = new FnBuilder("axpby", [I32, I32, I32, F32, F32, I32, I32]);
  const [pX, pY, pO, a, b, i0, i1] = [0, 1, 2, 3, 4, 5, 6];
  const i = f.local(I32), i4 = f.local(I32), va = f.local(V128), vb = f.local(V128);
  f.get(a).simd(SIMD.f32x4Splat).set(va);
  f.get(b).simd(SIMD.f32x4Splat).set(vb);
  f.get(i1).get(i0).op(OP.i32Sub).i32(-4).op(OP.i32And).get(i0).op(OP.i32Add).set(i4);
  f.forRange(i, () => f.get(i0), i4, 4, () => {
    addr(f, pO, i);
    addr(f, pX, i).mem(SIMD.load, 2, 0, true).get(va).simd(SX.f32x4Mul);
    addr(f, pY, i).mem(SIMD.load, 2, 0, true).get(vb).simd(SX.f32x4Mul);
    f.simd(SX.f32x4Add).mem(SIMD.store, 2, 0, true);
  });
  f.forRange(i, () => f.get(i4), i1, 1, () => {
    addr(f, pO, i);
    addr(f, pX, i).mem(OP.f32Load, 2).get(a).op(OP.f32Mul);
    addr(f, pY, i).mem(OP.f32Load, 2).get(b).op(OP.f32Mul);
    f.op(OP.f32Add).mem(OP.f32Store, 2);
  });
  return f;
}

/**
 * Emit `acc = Σ_t x[px+t]·y[py+t]` over one row of d floats (byte offsets px, py; d4b =
 * 16·⌊d/4⌋, db = 4·d), with two vector accumulators, leaving the f32 in local `sum`.
 */
function rowDot(
  f: FnBuilder,
  px: number,
  py: number,
  t: number,
  d8b: number,
  d4b: number,
  db: number,
  acc: number,
  acc2: number,
  sum: number,
): void {
  f.f32(0).simd(SIMD.f32x4Splat).tee(acc).set(acc2);
  f.forRange(t, () => f.i32(0), d8b, 32, () => {
    f.get(acc);
    f.get(px).get(t).op(OP.i32Add).mem(SIMD.load, 2, 0, true);
    f.get(py).get(t).op(OP.i32Add).mem(SIMD.load, 2, 0, true);
    f.simd(SX.f32x4Mul).simd(SX.f32x4Add).set(acc);
    f.get(acc2);
    f.get(px).get(t).op(OP.i32Add).mem(SIMD.load, 2, 16, true);
    f.get(py).get(t).op(OP.i32Add).mem(SIMD.load, 2, 16, true);
    f.simd(SX.f32x4Mul).simd(SX.f32x4Add).set(acc2);
  });
  f.forRange(t, () => f.get(d8b), d4b, 16, () => {
    f.get(acc);
    f.get(px).get(t).op(OP.i32Add).mem(SIMD.load, 2, 0, true);
    f.get(py).get(t).op(OP.i32Add).mem(SIMD.load, 2, 0, true);
    f.simd(SX.f32x4Mul).simd(SX.f32x4Add).set(acc);
  });
  f.get(acc).get(acc2).simd(SX.f32x4Add).set(acc);
  hsum(f, acc);
  f.set(sum);
  f.forRange(t, () => f.get(d4b), db, 4, () => {
    f.get(sum);
    f.get(px).get(t).op(OP.i32Add).mem(OP.f32Load, 2);
    f.get(py).get(t).op(OP.i32Add).mem(OP.f32Load, 2);
    f.op(OP.f32Mul, OP.f32Add).set(sum);
  });
}

/** Emit `y[py..py+d) += s·x[px..px+d)` (s f32 local, sv its splat). */
function rowAxpy(
  f: FnBuilder,
  py: number,
  px: number,
  s: number,
  sv: number,
  t: number,
  d4b: number,
  db: number,
): void {
  f.forRange(t, () => f.i32(0), d4b, 16, () => {
    f.get(py).get(t).op(OP.i32Add);
    f.get(py).get(t).op(OP.i32Add).mem(SIMD.load, 2, 0, true);
    f.get(px).get(t).op(OP.i32Add).mem(SIMD.load, 2, 0, true).get(sv).simd(SX.f32x4Mul);
    f.simd(SX.f32x4Add).mem(SIMD.store, 2, 0, true);
  });
  f.forRange(t, () => f.get(d4b), db, 4, () => {
    f.get(py).get(t).op(OP.i32Add);
    f.get(py).get(t).op(OP.i32Add).mem(OP.f32Load, 2);
    f.get(px).get(t).op(OP.i32Add).mem(OP.f32Load, 2).get(s).op(OP.f32Mul);
    f.op(OP.f32Add).mem(OP.f32Store, 2);
  });
}

/** Row-length helpers: db = 4d, d4b = 16⌊d/4⌋, d8b = 32⌊d/8⌋ (bytes). */
function rowLengths(f: FnBuilder, d: number): { db: number; d4b: number; d8b: number } {
  const db = f.local(I32), d4b = f.local(I32), d8b = f.local(I32);
  f.get(d).i32(2).op(OP.i32Shl).set(db);
  f.get(d).i32(-4).op(OP.i32And).i32(2).op(OP.i32Shl).set(d4b);
  f.get(d).i32(-8).op(OP.i32And).i32(2).op(OP.i32Shl).set(d8b);
  return { db, d4b, d8b };
}

/** Per-chunk sums of squares in float64 (see the module doc). */
export function sumsqFn(): FnBuilder {
  const f = new FnBuilder("sumsq", [I32, I32, I32, I32, I32]);
  const [pX, pBounds, pOut, q0, q1] = [0, 1, 2, 3, 4];
  const q = f.local(I32), i = f.local(I32), e0 = f.local(I32), e1 = f.local(I32);
  const eB = f.local(I32), pa = f.local(I32), tot = f.local(F64), v = f.local(F32);
  const acc = [0, 1, 2, 3].map(() => f.local(V128));
  f.forRange(q, () => f.get(q0), q1, 1, () => {
    addr(f, pBounds, q).mem(OP.i32Load, 2).set(e0);
    addr(f, pBounds, q).mem(OP.i32Load, 2, 4).set(e1);
    f.get(e1).get(e0).op(OP.i32Sub).i32(-256).op(OP.i32And).get(e0).op(OP.i32Add).set(eB);
    f.f64(0).set(tot);
    // blocks of 256 floats: four f32x4 accumulators of 16 terms each, then float64
    f.forRange(i, () => f.get(e0), eB, 256, () => {
      addr(f, pX, i).set(pa);
      for (let u = 0; u < 4; u++) f.f32(0).simd(SIMD.f32x4Splat).set(acc[u]);
      for (let k = 0; k < 64; k++) {
        const u = k & 3;
        f.get(pa).mem(SIMD.load, 2, 16 * k, true).get(pa).mem(SIMD.load, 2, 16 * k, true);
        mulAdd(f, () => f.get(acc[u])).set(acc[u]);
      }
      f.get(acc[0]).get(acc[1]).simd(SX.f32x4Add).get(acc[2]).simd(SX.f32x4Add);
      f.get(acc[3]).simd(SX.f32x4Add).set(acc[0]);
      for (let l = 0; l < 4; l++) {
        f.get(tot).get(acc[0]).simd(SIMD.f32x4ExtractLane).op(l).op(OX.f64PromoteF32);
        f.op(OX.f64Add).set(tot);
      }
    });
    f.forRange(i, () => f.get(eB), e1, 1, () => {
      addr(f, pX, i).mem(OP.f32Load, 2).set(v);
      f.get(tot).get(v).op(OX.f64PromoteF32).get(v).op(OX.f64PromoteF32).op(OX.f64Mul);
      f.op(OX.f64Add).set(tot);
    });
    f.get(pOut).get(q).i32(3).op(OP.i32Shl).op(OP.i32Add).get(tot).mem(OX.f64Store, 3);
  });
  return f;
}

/** Rows r0..r1 of out (·×c) set to bias (c floats). */
export function rowfillFn(): FnBuilder {
  const f = new FnBuilder("rowfill", [I32, I32, I32, I32, I32]);
  const [pB, c, pO, r0, r1] = [0, 1, 2, 3, 4];
  const { db, d4b } = rowLengths(f, c);
  const r = f.local(I32), o = f.local(I32), t = f.local(I32), d16b = f.local(I32);
  f.get(d4b).i32(-64).op(OP.i32And).set(d16b);
  f.forRange(r, () => f.get(r0), r1, 1, () => {
    f.get(pO).get(r).get(db).op(OP.i32Mul).op(OP.i32Add).set(o);
    f.forRange(t, () => f.i32(0), d16b, 64, () => {
      for (const off of [0, 16, 32, 48]) {
        f.get(o).get(t).op(OP.i32Add);
        f.get(pB).get(t).op(OP.i32Add).mem(SIMD.load, 2, off, true);
        f.mem(SIMD.store, 2, off, true);
      }
    });
    f.forRange(t, () => f.get(d16b), db, 4, () => {
      f.get(o).get(t).op(OP.i32Add);
      f.get(pB).get(t).op(OP.i32Add).mem(OP.f32Load, 2);
      f.mem(OP.f32Store, 2);
    });
  });
  return f;
}

/** Unit-norm rows r0..r1 of D (·×d). */
export function rownormFn(): FnBuilder {
  const f = new FnBuilder("rownorm", [I32, I32, I32, I32]);
  const [pD, d, r0, r1] = [0, 1, 2, 3];
  const { db, d4b, d8b } = rowLengths(f, d);
  const r = f.local(I32), o = f.local(I32), t = f.local(I32);
  const acc = f.local(V128), acc2 = f.local(V128), sum = f.local(F32), sv = f.local(V128);
  f.forRange(r, () => f.get(r0), r1, 1, () => {
    f.get(pD).get(r).get(db).op(OP.i32Mul).op(OP.i32Add).set(o);
    rowDot(f, o, o, t, d8b, d4b, db, acc, acc2, sum);
    f.get(sum).f32(0).op(OP.f32Ne).if(() => {
      f.f32(1).get(sum).op(OP.f32Sqrt).op(OX.f32Div).set(sum);
      f.get(sum).simd(SIMD.f32x4Splat).set(sv);
      f.forRange(t, () => f.i32(0), d4b, 16, () => {
        f.get(o).get(t).op(OP.i32Add);
        f.get(o).get(t).op(OP.i32Add).mem(SIMD.load, 2, 0, true).get(sv).simd(SX.f32x4Mul);
        f.mem(SIMD.store, 2, 0, true);
      });
      f.forRange(t, () => f.get(d4b), db, 4, () => {
        f.get(o).get(t).op(OP.i32Add);
        f.get(o).get(t).op(OP.i32Add).mem(OP.f32Load, 2).get(sum).op(OP.f32Mul);
        f.mem(OP.f32Store, 2);
      });
    });
  });
  return f;
}

/** G_j −= ⟨G_j, D_j⟩·D_j for rows r0..r1. */
export function removeparFn(): FnBuilder {
  const f = new FnBuilder("removepar", [I32, I32, I32, I32, I32]);
  const [pD, pG, d, r0, r1] = [0, 1, 2, 3, 4];
  const { db, d4b, d8b } = rowLengths(f, d);
  const r = f.local(I32), od = f.local(I32), og = f.local(I32), t = f.local(I32);
  const acc = f.local(V128), acc2 = f.local(V128), sum = f.local(F32), sv = f.local(V128);
  f.forRange(r, () => f.get(r0), r1, 1, () => {
    f.get(pD).get(r).get(db).op(OP.i32Mul).op(OP.i32Add).set(od);
    f.get(pG).get(r).get(db).op(OP.i32Mul).op(OP.i32Add).set(og);
    rowDot(f, og, od, t, d8b, d4b, db, acc, acc2, sum);
    f.get(sum).f32(0).op(OP.f32Ne).if(() => {
      f.f32(0).get(sum).op(OP.f32Sub).set(sum);
      f.get(sum).simd(SIMD.f32x4Splat).set(sv);
      rowAxpy(f, og, od, sum, sv, t, d4b, db);
    });
  });
  return f;
}

/**
 * Slots after each chunk's `capPer` candidate slots in `tkscan`'s output arrays: a chunk's
 * region is capPer + TKSCAN_PAD slots, since one block may write up to 64 slots past the last
 * counted candidate before the capacity check.
 */
export const TKSCAN_PAD = 64;

/** Entries per compared block of `tkscan`. */
const BLK = 64;

/** Batch top-k candidate pass over chunks q0..q1 (see the module doc). */
export function tkscanFn(): FnBuilder {
  const P = [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32];
  const f = new FnBuilder("tkscan", P);
  const [pBits, pBounds, guess, pCB, pCI, capPer, pCounts, pBias, c, q0, q1] = P.map((_, i) => i);
  const q = f.local(I32), e0 = f.local(I32), e1 = f.local(I32), off = f.local(I32);
  const pcb = f.local(I32), pci = f.local(I32), s = f.local(I32), segEnd = f.local(I32);
  const dOff = f.local(I32), i = f.local(I32), i16 = f.local(I32), pa = f.local(I32);
  const x = f.local(I32), over = f.local(I32), lim = f.local(I32), capB = f.local(I32);
  const row = f.local(I32), gv = f.local(V128);
  const mask = f.local(I64), j4 = f.local(I32);
  const pb = f.local(I32);
  // v > guess − 1 (one signed compare per vector; guess ≥ 1)
  f.get(guess).i32(1).op(OP.i32Sub).simd(SX.i32x4Splat).set(gv);
  // guess ≤ x ≤ +Inf  ⇔  (x − guess) ≤ (0x7f800000 − guess) unsigned (guess ≥ 1)
  f.i32(0x7f800000).get(guess).op(OP.i32Sub).set(lim);
  f.get(capPer).i32(2).op(OP.i32Shl).set(capB);
  /** Branchless: store pattern x and flat index (local + k) at slot off/4, off += 4·hit. */
  const keep = (idx: () => void) => {
    f.get(pcb).get(off).op(OP.i32Add).get(x).mem(OP.i32Store, 2);
    f.get(pci).get(off).op(OP.i32Add);
    idx();
    f.mem(OP.i32Store, 2);
    f.get(off).get(x).get(guess).op(OP.i32Sub).get(lim).op(OX.i32LeU);
    f.i32(2).op(OP.i32Shl).op(OP.i32Add).set(off);
  };
  /** The chunk [e0, e1) as row segments (bias: one per row, so that bias[j] lines up). */
  const chunk = (bias: boolean) => {
    f.block(() => { // depth reference X: `br` to it leaves the chunk (overflow)
      f.get(e0).set(s);
      f.loop(() => {
        f.get(s).get(e1).op(OP.i32GeS).brIf(1);
        if (bias) {
          f.get(s).get(c).op(OX.i32DivU).set(row);
          f.get(row).i32(1).op(OP.i32Add).get(c).op(OP.i32Mul).tee(segEnd);
          f.get(e1).get(segEnd).get(e1).op(OP.i32LtS).op(OP.select).set(segEnd);
          // bias address of flat position p = pBits-address(p) + dOff
          f.get(pBias).get(pBits).op(OP.i32Sub);
          f.get(row).get(c).op(OP.i32Mul).i32(2).op(OP.i32Shl).op(OP.i32Sub).set(dOff);
        } else f.get(e1).set(segEnd);
        f.get(segEnd).get(s).op(OP.i32Sub).i32(-BLK).op(OP.i32And).get(s).op(OP.i32Add).set(i16);
        // blocks of BLK = 64: sixteen vectors max-reduced, one compare, one branch; in a block
        // with a hit, groups of four vectors, then vectors, then lanes (branchless compaction)
        f.forRange(i, () => f.get(s), i16, BLK, () => {
          addr(f, pBits, i).set(pa);
          if (bias) f.get(pa).get(dOff).op(OP.i32Add).set(pb);
          const load = (k: number) => {
            f.get(pa).mem(SIMD.load, 2, 16 * k, true);
            if (bias) f.get(pb).mem(SIMD.load, 2, 16 * k, true).simd(SX.f32x4Add);
          };
          /** Push the lane-wise max of vectors k0..k0+cnt (a balanced tree). */
          const maxOf = (k0: number, cnt: number): void => {
            if (cnt === 1) return load(k0);
            maxOf(k0, cnt / 2);
            maxOf(k0 + cnt / 2, cnt / 2);
            f.simd(SX.i32x4MaxS);
          };
          maxOf(0, 16);
          f.get(gv).simd(SX.i32x4GtS).simd(SX.anyTrue);
          f.if(() => {
            // the block's 64 hit bits (compare lanes narrowed to bytes, i8x16.bitmask)
            for (let g = 0; g < 4; g++) {
              for (let h = 0; h < 2; h++) {
                load(4 * g + 2 * h);
                f.get(gv).simd(SX.i32x4GtS);
                load(4 * g + 2 * h + 1);
                f.get(gv).simd(SX.i32x4GtS).simd(SX.i16x8NarrowI32x4S);
              }
              f.simd(SX.i8x16NarrowI16x8S).simd(SX.i8x16Bitmask).op(OX.i64ExtendI32U);
              if (g > 0) f.op(OX.i64Const, 16 * g).op(OX.i64Shl).op(OX.i64Or);
            }
            f.set(mask);
            // each set bit j (ascending): a candidate at i + j, re-read as a scalar
            f.block(() => {
              f.loop(() => {
                f.get(mask).op(OX.i64Eqz).brIf(1);
                f.get(mask).op(OX.i64Ctz).op(OX.i32WrapI64).i32(2).op(OP.i32Shl).set(j4);
                f.get(mask).get(mask).op(OX.i64Const, 1).op(OX.i64Sub).op(OX.i64And).set(mask);
                f.get(pa).get(j4).op(OP.i32Add);
                if (bias) {
                  f.mem(OP.f32Load, 2);
                  f.get(pb).get(j4).op(OP.i32Add).mem(OP.f32Load, 2);
                  f.op(OP.f32Add).op(OX.i32ReinterpretF32);
                } else f.mem(OP.i32Load, 2);
                f.set(x);
                keep(() => f.get(i).get(j4).i32(2).op(OX.i32ShrS).op(OP.i32Add));
                f.br(0);
              });
            });
            // capacity: once per block (≤ BLK slots past capPer were written)
            f.get(off).get(capB).op(OX.i32GtS).if(() => {
              f.i32(1).set(over);
              f.br(5); // if → if → loop → block → segment loop → X
            });
          });
        });
        // scalar tail of the segment (< BLK entries)
        f.forRange(i, () => f.get(i16), segEnd, 1, () => {
          addr(f, pBits, i).set(pa);
          if (bias) {
            f.get(pa).mem(OP.f32Load, 2);
            f.get(pa).get(dOff).op(OP.i32Add).mem(OP.f32Load, 2);
            f.op(OP.f32Add).op(OX.i32ReinterpretF32).set(x);
          } else f.get(pa).mem(OP.i32Load, 2).set(x);
          keep(() => f.get(i));
        });
        f.get(off).get(capB).op(OX.i32GtS).if(() => {
          f.i32(1).set(over);
          f.br(2); // if → loop → X
        });
        f.get(segEnd).set(s);
        f.br(0);
      });
    });
  };
  f.forRange(q, () => f.get(q0), q1, 1, () => {
    addr(f, pBounds, q).mem(OP.i32Load, 2).set(e0);
    addr(f, pBounds, q).mem(OP.i32Load, 2, 4).set(e1);
    // this chunk's slots start at q·(capPer + TKSCAN_PAD)
    f.get(q).get(capPer).i32(TKSCAN_PAD).op(OP.i32Add).op(OP.i32Mul).i32(2).op(OP.i32Shl);
    f.tee(off).get(pCB).op(OP.i32Add).set(pcb);
    f.get(off).get(pCI).op(OP.i32Add).set(pci);
    f.i32(0).set(off);
    f.i32(0).set(over);
    f.get(pBias).if(() => chunk(true), () => chunk(false));
    addr(f, pCounts, q);
    f.get(off).i32(2).op(OX.i32ShrS).set(off);
    f.get(over).if(() => f.i32(-1).set(off));
    f.get(off).mem(OP.i32Store, 2);
  });
  return f;
}
