/**
 * WebAssembly SIMD kernels of the CPU backend's per-row top-k (the wasm path; see
 * {@link ./cpu_select.ts} `topkRowsScreened` for the selection they feed), written with
 * {@link ./wasm_asm.ts}. Byte offsets into the shared memory; rows [r0, r1) are the last two
 * arguments.
 *
 * - `groupmax(pPre, c, pMax, r0, r1)`: the maxima of the row's groups, ng = 4·⌊c/64⌋ + c mod 64
 *   per row at pMax + 4·r·ng: lane l of the 16 vectors of each 64-float chunk is one group of 16
 *   entries (one f32x4.max per vector, NaN propagates), then each tail entry is a group of its own.
 * - `rowcands(pPre, c, pT, pCV, pCI, cap, pCnt, r0, r1)`: the entries v ≥ t_r of row r (t f32 [n])
 *   in column order, values to cv[r·cap ..], columns to ci[r·cap ..]; cnt[r] = how many, or −1
 *   when more than `cap`.
 */
import { F32, FnBuilder, I32, OP, SIMD, V128 } from "./wasm_asm.ts";

const SX = { f32x4Ge: 0x46, anyTrue: 0x53 } as const;
const OX = { f32Ge: 0x60 } as const;

/** Push `base + 4·idx` (locals). */
function at(f: FnBuilder, base: number, idx: number): FnBuilder {
  return f.get(base).get(idx).i32(2).op(OP.i32Shl).op(OP.i32Add);
}

/** `groupmax(pPre, c, pMax, r0, r1)`. */
export function groupmaxFn(): FnBuilder {
  const f = new FnBuilder("groupmax", [I32, I32, I32, I32, I32]);
  const [pPre, c, pMax, r0, r1] = [0, 1, 2, 3, 4];
  const r = f.local(I32), q = f.local(I32), ro = f.local(I32), mo = f.local(I32);
  const c64b = f.local(I32), cb = f.local(I32), ngb = f.local(I32), t = f.local(I32);
  const mx = f.local(V128), p = f.local(I32);
  f.get(c).i32(-64).op(OP.i32And).i32(2).op(OP.i32Shl).set(c64b);
  f.get(c).i32(2).op(OP.i32Shl).set(cb);
  // ng·4 bytes = 16·⌊c/64⌋ + 4·(c mod 64)
  f.get(c).i32(6).op(0x76 /* i32.shr_u */).i32(4).op(OP.i32Shl);
  f.get(c).i32(63).op(OP.i32And).i32(2).op(OP.i32Shl).op(OP.i32Add).set(ngb);
  f.forRange(r, () => f.get(r0), r1, 1, () => {
    f.get(pPre).get(r).get(cb).op(OP.i32Mul).op(OP.i32Add).set(ro);
    f.get(pMax).get(r).get(ngb).op(OP.i32Mul).op(OP.i32Add).set(mo);
    f.forRange(q, () => f.i32(0), c64b, 256, () => {
      f.get(ro).get(q).op(OP.i32Add).tee(p).mem(SIMD.load, 2, 0, true).set(mx);
      for (let u = 1; u < 16; u++) {
        f.get(mx).get(p).mem(SIMD.load, 2, 16 * u, true).simd(SIMD.f32x4Max).set(mx);
      }
      // chunk q/256 → maxima bytes (q/256)·16 = q/16
      f.get(mo).get(q).i32(4).op(0x76).op(OP.i32Add).get(mx).mem(SIMD.store, 2, 0, true);
    });
    f.forRange(t, () => f.get(c64b), cb, 4, () => {
      f.get(mo).get(c64b).i32(4).op(0x76).op(OP.i32Add).get(t).op(OP.i32Add).get(c64b);
      f.op(OP.i32Sub);
      f.get(ro).get(t).op(OP.i32Add).mem(OP.f32Load, 2);
      f.mem(OP.f32Store, 2);
    });
  });
  return f;
}

/** `rowcands(pPre, c, pT, pCV, pCI, cap, pCnt, r0, r1)`. */
export function rowcandsFn(): FnBuilder {
  const f = new FnBuilder("rowcands", [I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [pPre, c, pT, pCV, pCI, cap, pCnt, r0, r1] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const r = f.local(I32), j = f.local(I32), j4 = f.local(I32), ro = f.local(I32);
  const n = f.local(I32), base = f.local(I32), over = f.local(I32), jj = f.local(I32);
  const tv = f.local(V128), t0 = f.local(F32), v = f.local(F32), u = f.local(I32);
  f.get(c).i32(-4).op(OP.i32And).set(j4);
  const test = (col: number) => {
    f.get(ro).get(col).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(OP.f32Load, 2).tee(v);
    f.get(t0).op(OX.f32Ge).if(() => {
      f.get(n).get(cap).op(OP.i32GeS).if(() => f.i32(1).set(over), () => {
        f.get(base).get(n).op(OP.i32Add).set(u);
        at(f, pCV, u).get(v).mem(OP.f32Store, 2);
        at(f, pCI, u).get(col).mem(OP.i32Store, 2);
        f.get(n).i32(1).op(OP.i32Add).set(n);
      });
    });
  };
  f.forRange(r, () => f.get(r0), r1, 1, () => {
    at(f, pT, r).mem(OP.f32Load, 2).tee(t0).simd(SIMD.f32x4Splat).set(tv);
    f.get(pPre).get(r).get(c).op(OP.i32Mul).i32(2).op(OP.i32Shl).op(OP.i32Add).set(ro);
    f.get(r).get(cap).op(OP.i32Mul).set(base);
    f.i32(0).set(n);
    f.i32(0).set(over);
    f.forRange(j, () => f.i32(0), j4, 4, () => {
      f.get(ro).get(j).i32(2).op(OP.i32Shl).op(OP.i32Add).mem(SIMD.load, 2, 0, true);
      f.get(tv).simd(SX.f32x4Ge).simd(SX.anyTrue).if(() => {
        for (let l = 0; l < 4; l++) {
          f.get(j).i32(l).op(OP.i32Add).set(jj);
          test(jj);
        }
      });
    });
    f.forRange(j, () => f.get(j4), c, 1, () => test(j));
    at(f, pCnt, r);
    f.get(over).if(() => f.i32(-1).set(n));
    f.get(n).mem(OP.i32Store, 2);
  });
  return f;
}
