/**
 * The CPU backend's fast kernels behind one interface with named arguments: the native kernels
 * (kernels/native/, through {@link NativeSparse}) and the WebAssembly SIMD kernels (on the
 * backend's thread pool, {@link WasmRuntime}). Both implement {@link FastKernels} for the ops
 * they share (sparse decode, the fused residual, sample, gather by concept, row scaling,
 * parallel-component removal, AdamW); the backend tries the native one first and takes the wasm
 * one when it declines (no native library, or no heap for its slab copy). The wasm-only ops
 * (masks, counts, sums, the selection passes) are methods of {@link WasmKernels}; the per-row
 * top-k and the screened encoder are native-only ({@link NativeKernels}).
 *
 * Every tensor passed here lives in the wasm heap (the caller checks with `inHeap`).
 */
import type { CpuSparse, CpuTensor } from "./cpu_tensor.ts";
import type { CscOffsets } from "./cpu_csc.ts";
import type { ScratchPool } from "./cpu_scratch.ts";
import {
  adamwConstantList,
  type AdamwConstants,
  type NativeSparse,
  packFloats,
  type ScreenStats,
} from "./native_sparse.ts";
import type { WasmRuntime } from "./wasm_runtime.ts";

/** out (n×d) = Z·D (+ bias d). */
export interface DecodeArgs {
  z: CpuSparse;
  /** c×d. */
  dict: CpuTensor;
  d: number;
  bias: CpuTensor | null;
  out: CpuTensor;
}

/**
 * out = scale·(Z·D + bias − x); rowSs_i = ‖Z_i·D + bias − x_i‖²; vals_e = ⟨out_i, D_j⟩ for each
 * entry (i, j) when `vals` is given.
 */
export interface ResidualArgs extends DecodeArgs {
  x: CpuTensor;
  scale: number;
  /** f32 [n]: each row's squared error. */
  rowSs: CpuTensor;
  vals: CpuTensor | null;
}

/** vals_e = ⟨G_i, D_j⟩ for each entry (i, j) of the codes. */
export interface SampleArgs {
  z: CpuSparse;
  /** n×d. */
  g: CpuTensor;
  /** c×d. */
  dict: CpuTensor;
  d: number;
  /** f32 [capacity]. */
  vals: CpuTensor;
}

/** out (c×d) = beta·out + Σ over the entries (i, j) of column j of vals_e·src_i (zeros skipped). */
export interface GatherArgs {
  z: CpuSparse;
  csc: CscOffsets;
  vals: CpuTensor;
  /** n×d. */
  src: CpuTensor;
  d: number;
  out: CpuTensor;
  beta: number;
}

/** out_i = beta·out_i + v_i·a_i (rows×cols; beta 0 overwrites). */
export interface ScaleRowsArgs {
  v: CpuTensor;
  a: CpuTensor;
  rows: number;
  cols: number;
  out: CpuTensor;
  beta: number;
}

/** grad_j −= ⟨grad_j, D_j⟩·D_j per row; with `rowSs`, rowSs_j = ‖grad_j‖² after. */
export interface RemoveParallelArgs {
  dict: CpuTensor;
  grad: CpuTensor;
  rows: number;
  d: number;
  rowSs: CpuTensor | null;
}

/**
 * m = β1·m + a1·g; v = β2·v + a2·g²; p = decay·p − stepSize·m / (√v·invSqrtBc2 + eps), then
 * (`normalize`) every row of p (rows×cols) scaled to unit norm, zero rows kept.
 */
export interface AdamwArgs {
  p: CpuTensor;
  g: CpuTensor;
  m: CpuTensor;
  v: CpuTensor;
  rows: number;
  cols: number;
  h: AdamwConstants;
  normalize: boolean;
}

/**
 * The ops both kernel sets implement. Each returns false when it declines the call (the caller
 * then takes the other set); the wasm set never declines, except {@link removeParallel} with
 * `rowSs` (it has no fused row norms).
 */
export interface FastKernels {
  readonly kind: "native" | "wasm";
  decode(a: DecodeArgs): boolean;
  residual(a: ResidualArgs): boolean;
  sample(a: SampleArgs): boolean;
  gather(a: GatherArgs): boolean;
  scaleRows(a: ScaleRowsArgs): boolean;
  removeParallel(a: RemoveParallelArgs): boolean;
  adamw(a: AdamwArgs): boolean;
}

/** The native kernels over the backend's heap (slab copies in the pool's `native.pack`). */
export class NativeKernels implements FastKernels {
  readonly kind = "native";
  constructor(
    readonly lib: NativeSparse,
    readonly rt: WasmRuntime,
    readonly pool: ScratchPool,
  ) {}

  /**
   * Threads for a native kernel touching about `work` elements: one below 2¹⁸ (where starting a
   * thread costs more than it saves), else all. Every kernel gives each output element to one
   * thread, so the count never changes a result.
   */
  threads(work: number): number {
    return work >= 1 << 18 ? this.rt.threads : 1;
  }
  /** Slab-major scratch for `rows` rows of width d, or null when the heap is full. */
  #pack(d: number, rows: number): number | null {
    const t = this.pool.get("native.pack", packFloats(d, Math.max(rows, 1)));
    return t ? t.ptr : null;
  }

  decode(a: DecodeArgs): boolean {
    return this.#resid(a, null, (a.z.nnz + a.z.rows) * a.d);
  }
  residual(a: ResidualArgs): boolean {
    return this.#resid(a, a, (2 * a.z.nnz + 3 * a.z.rows) * a.d);
  }
  /** The decode, and with `r` the residual terms, on about `work` elements. */
  #resid(a: DecodeArgs, r: ResidualArgs | null, work: number): boolean {
    const { z, d } = a;
    const pack = this.#pack(d, z.cols);
    if (pack === null) return false;
    this.lib.resid(this.rt.memory, {
      z: z.offsets,
      dict: a.dict.ptr,
      d,
      bias: a.bias ? a.bias.ptr : 0,
      x: r ? r.x.ptr : 0,
      scale: r ? r.scale : 1,
      out: a.out.ptr,
      rowSs: r ? r.rowSs.ptr : 0,
      vals: r?.vals ? r.vals.ptr : 0,
      n: z.rows,
      c: z.cols,
      pack,
      threads: this.threads(work),
    });
    return true;
  }
  sample(a: SampleArgs): boolean {
    const { z, d } = a;
    const pack = this.#pack(d, z.cols);
    if (pack === null) return false;
    this.lib.sample(this.rt.memory, {
      g: a.g.ptr,
      dict: a.dict.ptr,
      d,
      z: z.offsets,
      vals: a.vals.ptr,
      n: z.rows,
      c: z.cols,
      pack,
      threads: this.threads(z.nnz * d),
    });
    return true;
  }
  gather(a: GatherArgs): boolean {
    const { z, d } = a;
    const pack = this.#pack(d, z.rows);
    if (pack === null) return false;
    this.lib.gather(this.rt.memory, {
      csc: a.csc,
      vals: a.vals.ptr,
      src: a.src.ptr,
      d,
      out: a.out.ptr,
      beta: a.beta,
      c: z.cols,
      n: z.rows,
      pack,
      threads: this.threads((z.nnz + z.cols) * d),
    });
    return true;
  }
  scaleRows(a: ScaleRowsArgs): boolean {
    this.lib.scaleRows(this.rt.memory, {
      v: a.v.ptr,
      a: a.a.ptr,
      rows: a.rows,
      cols: a.cols,
      out: a.out.ptr,
      beta: a.beta,
      threads: this.threads(a.rows * a.cols),
    });
    return true;
  }
  removeParallel(a: RemoveParallelArgs): boolean {
    this.lib.removepar(this.rt.memory, {
      dict: a.dict.ptr,
      grad: a.grad.ptr,
      rows: a.rows,
      d: a.d,
      rowSs: a.rowSs ? a.rowSs.ptr : 0,
      threads: this.threads(a.rows * a.d),
    });
    return true;
  }
  adamw(a: AdamwArgs): boolean {
    this.lib.adamw(this.rt.memory, {
      p: a.p.ptr,
      g: a.g.ptr,
      m: a.m.ptr,
      v: a.v.ptr,
      rows: a.rows,
      cols: a.cols,
      h: a.h,
      normalize: a.normalize,
      threads: this.threads(a.p.size),
    });
    return true;
  }

  /** Per row of pre (n×c): the k largest entries, value max(pre, 0), columns ascending. */
  topkRows(a: { pre: CpuTensor; n: number; c: number; k: number; z: CpuSparse }): void {
    this.lib.topkRows(this.rt.memory, {
      pre: a.pre.ptr,
      n: a.n,
      c: a.c,
      k: a.k,
      z: a.z.offsets,
      threads: this.threads(a.n * a.c),
    });
  }

  /**
   * The screened encoder (see {@link NativeSparse.screen}): codes of X·Wᵀ + bias (the batch's K
   * largest, or with `perRow` every row's K largest) and, with `aux`, every row's `aux.k`
   * largest over the columns `aux.mask` allows; null when this CPU has none; −1 when it refuses
   * the inputs.
   */
  screenEncode(
    a: {
      x: CpuTensor;
      n: number;
      d: number;
      w: CpuTensor;
      c: number;
      bias: CpuTensor | null;
      perRow: boolean;
      K: number;
      z: CpuSparse;
      minKept: CpuTensor | null;
      aux: { k: number; mask: CpuTensor; z: CpuSparse } | null;
    },
  ): { kept: number; stats: ScreenStats | null } | null {
    const screen = this.lib.screen;
    if (!screen) return null;
    const kept = screen.encode(this.rt.memory, {
      x: a.x.ptr,
      n: a.n,
      d: a.d,
      w: a.w.ptr,
      c: a.c,
      bias: a.bias ? a.bias.ptr : 0,
      perRow: a.perRow,
      K: a.K,
      z: a.z.offsets,
      minKept: a.minKept ? a.minKept.ptr : 0,
      aux: a.aux ? { k: a.aux.k, mask: a.aux.mask.ptr, z: a.aux.z.offsets } : null,
      threads: this.rt.threads,
    });
    return { kept, stats: kept < 0 ? null : screen.stats() };
  }
}

/** The WebAssembly SIMD kernels, on the runtime's threads. */
export class WasmKernels implements FastKernels {
  readonly kind = "wasm";
  constructor(readonly rt: WasmRuntime) {}

  decode(a: DecodeArgs): boolean {
    const { z, d } = a;
    this.rt.run(
      "decode",
      [z.rowPtr.ptr, z.index.ptr, z.value.ptr, a.dict.ptr, d, a.bias ? a.bias.ptr : 0, a.out.ptr],
      0,
      z.rows,
      (z.nnz + z.rows) * d,
    );
    return true;
  }
  residual(a: ResidualArgs): boolean {
    const { z, d } = a;
    this.rt.run(
      "resid",
      [
        z.rowPtr.ptr,
        z.index.ptr,
        z.value.ptr,
        a.dict.ptr,
        d,
        a.bias ? a.bias.ptr : 0,
        a.x.ptr,
        a.scale,
        a.out.ptr,
        a.rowSs.ptr,
        a.vals ? a.vals.ptr : 0,
      ],
      0,
      z.rows,
      (2 * z.nnz + 3 * z.rows) * d,
    );
    return true;
  }
  sample(a: SampleArgs): boolean {
    const { z, d } = a;
    const args = [a.g.ptr, a.dict.ptr, d, z.rowPtr.ptr, z.index.ptr, a.vals.ptr];
    this.rt.run("sample", args, 0, z.rows, z.nnz * d);
    return true;
  }
  gather(a: GatherArgs): boolean {
    const { z, d, csc } = a;
    this.rt.run(
      "gather",
      [csc.colPtr, csc.slotRow, csc.slotEntry, a.vals.ptr, a.src.ptr, d, a.out.ptr, a.beta],
      0,
      z.cols,
      (z.nnz + z.cols) * d,
    );
    return true;
  }
  scaleRows(a: ScaleRowsArgs): boolean {
    const args = [a.v.ptr, a.a.ptr, a.cols, a.out.ptr, a.beta];
    this.rt.run("scalerows", args, 0, a.rows, a.rows * a.cols);
    return true;
  }
  removeParallel(a: RemoveParallelArgs): boolean {
    if (a.rowSs) return false;
    this.rt.run("removepar", [a.dict.ptr, a.grad.ptr, a.d], 0, a.rows, a.rows * a.d * 3);
    return true;
  }
  adamw(a: AdamwArgs): boolean {
    const len = a.p.size;
    const args = [a.p.ptr, a.g.ptr, a.m.ptr, a.v.ptr, ...adamwConstantList(a.h)];
    this.rt.run("adamw", args, 0, len, len * 8, 16);
    if (a.normalize) this.rowNorm({ x: a.p, rows: a.rows, cols: a.cols });
    return true;
  }

  // ---- wasm-only ops ----
  /** Every row of x (rows×cols) scaled to unit L2 norm (zero rows kept). */
  rowNorm(a: { x: CpuTensor; rows: number; cols: number }): void {
    this.rt.run("rownorm", [a.x.ptr, a.cols], 0, a.rows, a.rows * a.cols * 2);
  }
  /** out = a·x + b·y over `length` elements. */
  axpby(a: { a: number; x: CpuTensor; b: number; y: CpuTensor; out: CpuTensor }): void {
    const len = a.out.size;
    this.rt.run("axpby", [a.x.ptr, a.y.ptr, a.out.ptr, a.a, a.b], 0, len, len * 2, 16);
  }
  /** Every row of out (rows×c) set to bias (c). */
  rowFill(a: { bias: CpuTensor; c: number; out: CpuTensor; rows: number }): void {
    this.rt.run("rowfill", [a.bias.ptr, a.c, a.out.ptr], 0, a.rows, a.rows * a.c);
  }
  /** partial[t] (f64) = Σ x² over chunk t = [bounds[t], bounds[t+1]) of x. */
  sumSquares(a: { x: CpuTensor; bounds: CpuTensor; partial: CpuTensor; parts: number }): void {
    const args = [a.x.ptr, a.bounds.ptr, a.partial.ptr];
    this.rt.run("sumsq", args, 0, a.parts, a.x.size);
  }
  /** out = src where pre > theta (theta per column, or one shared value), else 0 (m×q). */
  maskAbove(
    a: { pre: CpuTensor; theta: CpuTensor; src: CpuTensor; out: CpuTensor; m: number; q: number },
  ): void {
    const shared = a.theta.size === 1 ? 1 : 0;
    const args = [a.pre.ptr, a.theta.ptr, shared, a.src.ptr, a.out.ptr, a.q];
    this.rt.run("maskabove", args, 0, a.m, a.m * a.q);
  }
  /** part[t·q + j] (i32) = #{i in row chunk t : pre_ij > theta_j}. */
  countAbove(
    a: {
      pre: CpuTensor;
      theta: CpuTensor;
      bounds: CpuTensor;
      part: CpuTensor;
      m: number;
      q: number;
      parts: number;
    },
  ): void {
    const shared = a.theta.size === 1 ? 1 : 0;
    const args = [a.pre.ptr, a.theta.ptr, shared, a.bounds.ptr, a.part.ptr, a.q];
    this.rt.run("countabove", args, 0, a.parts, a.m * a.q);
  }
  /** part[t·q + j] (f64) = Σ a_ij over row chunk t. */
  columnSum(
    a: { a: CpuTensor; bounds: CpuTensor; part: CpuTensor; m: number; q: number; parts: number },
  ): void {
    const args = [a.a.ptr, a.bounds.ptr, a.part.ptr, a.q];
    this.rt.run("colsum", args, 0, a.parts, a.m * a.q);
  }
  /**
   * Sparse thresholding by row chunks: chunk t writes its entries pre_ij > theta_j from slot
   * bounds[t]·c on and its count to counts[t] (the caller compacts). With `band`, in the same
   * pass its entries lo_j < pre_ij ≤ hi_j likewise to `band.z`, counts at `band.counts` (theta,
   * lo and hi all of one length: c, or 1 shared).
   */
  threshold(
    a: {
      pre: CpuTensor;
      theta: CpuTensor;
      c: number;
      n: number;
      bounds: CpuTensor;
      z: CpuSparse;
      counts: CpuTensor;
      parts: number;
      band?: { lo: CpuTensor; hi: CpuTensor; z: CpuSparse; counts: CpuTensor } | null;
    },
  ): void {
    const { z, band } = a;
    const shared = a.theta.size === 1 ? 1 : 0;
    const out = [z.rowPtr.ptr, z.index.ptr, z.value.ptr, a.counts.ptr];
    const args = band
      ? [
        a.pre.ptr,
        a.theta.ptr,
        band.lo.ptr,
        band.hi.ptr,
        shared,
        a.c,
        a.bounds.ptr,
        ...out,
        band.z.rowPtr.ptr,
        band.z.index.ptr,
        band.z.value.ptr,
        band.counts.ptr,
      ]
      : [a.pre.ptr, a.theta.ptr, shared, a.c, a.bounds.ptr, ...out];
    this.rt.run(band ? "threshband" : "thresh", args, 0, a.parts, a.n * a.c);
  }
  /**
   * Batch top-k candidate pass over the float32 bit patterns `bits` (N entries): chunk t (flat
   * range [bounds[t], bounds[t+1])) writes the entries at or above `guess` (bias added when
   * given, row length c) from slot t·stride on and its count to counts[t].
   */
  candidates(
    a: {
      bits: Int32Array;
      bounds: CpuTensor;
      guess: number;
      candBits: CpuTensor;
      candIdx: CpuTensor;
      cap: number;
      counts: CpuTensor;
      bias: Float32Array | null;
      c: number;
      N: number;
      parts: number;
    },
  ): void {
    this.rt.run(
      "tkscan",
      [
        a.bits.byteOffset,
        a.bounds.ptr,
        a.guess,
        a.candBits.ptr,
        a.candIdx.ptr,
        a.cap,
        a.counts.ptr,
        a.bias ? a.bias.byteOffset : 0,
        a.c,
      ],
      0,
      a.parts,
      a.N,
    );
  }
  /** max[i·groups + g] = the maximum of group g of row i of pre (n×c). */
  groupMax(a: { pre: CpuTensor; c: number; max: CpuTensor; n: number }): void {
    this.rt.run("groupmax", [a.pre.ptr, a.c, a.max.ptr], 0, a.n, a.n * a.c);
  }
  /** Per row i: the entries at or above t[i] (at most cap) into cv/ci from slot i·cap, count cnt[i]. */
  rowCandidates(
    a: {
      pre: CpuTensor;
      c: number;
      t: CpuTensor;
      cv: CpuTensor;
      ci: CpuTensor;
      cap: number;
      cnt: CpuTensor;
      n: number;
    },
  ): void {
    const args = [a.pre.ptr, a.c, a.t.ptr, a.cv.ptr, a.ci.ptr, a.cap, a.cnt.ptr];
    this.rt.run("rowcands", args, 0, a.n, a.n * a.c);
  }
}
