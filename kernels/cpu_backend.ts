/**
 * The CPU backend: host Float32Array tensors, dense GEMM through a pluggable
 * {@link GemmProvider} (OpenBLAS FFI, onnxruntime-node, or TS loops). Tensors live in one shared
 * WebAssembly memory ({@link WasmRuntime}) so that the per-step work of training runs as
 * WebAssembly SIMD kernels split over all cores, in place: the sparse products (decode, the fused
 * residual, sample, the concept gathers and the encoder-gradient transpose), the batch top-k
 * candidate pass, linear's bias rows, axpby, large sums of squares, row normalisation, parallel
 * component removal and AdamW. Tensors that do not fit the 4 GiB wasm32 memory fall back to
 * plain arrays and TypeScript loops. Other ops are TypeScript loops that touch only active
 * entries (or O(c) / O(n) work). Per-op times of the study-scale step: `deno task bench
 * --filter step_profile`.
 *
 * Ordering: ops run at once when the provider is synchronous. With an asynchronous provider
 * (ORT) ops are chained on a queue in call order; `read`/`readScalar` wait for it.
 */
import type { AdamWOptions, Backend, DType, GemmOptions, SparseCodes, Tensor } from "./backend.ts";
import { encodeBatchTopkDense } from "./backend.ts";
import type { GemmProvider } from "./gemm_provider.ts";
import type { ScreenStats } from "./native_sparse.ts";
import type { CsrCodes } from "./host_sparse.ts";
import {
  batchTopkHost,
  type BatchTopkStats,
  type CandidateScan,
  guessFromHistory,
  newBatchTopkScratch,
  thresholdHost,
  topkGroups,
  topkRowsHost,
  topkRowsScreened,
  topkThresholds,
} from "./cpu_select.ts";
import {
  sparseColumnSumHost,
  sparseDecodeHost,
  sparseOuterToColumnsHost,
  sparseSampleHost,
  sparseTransposeProductHost,
  transposeInto,
} from "./cpu_sparse.ts";
import {
  adamwHost,
  axpbyHost,
  clipFactorHost,
  normalizeRowsHost,
  removeParallelHost,
  scaleHost,
  sumSquaresHost,
} from "./cpu_dense.ts";
import { checkShape, shapeError, shapeSize } from "./shape.ts";
import {
  clampMinHost,
  columnSumHost,
  countAboveHost,
  maskAboveHost,
  mulHost,
  scaleRowsHost,
} from "./cpu_mask.ts";
import { WasmRuntime } from "./wasm_runtime.ts";
import { type CsrOffsets, type NativeSparse, packFloats } from "./native_sparse.ts";
import { TKSCAN_PAD } from "./wasm_kernels_dense.ts";

/** A host tensor of the CPU backend. */
export class CpuTensor implements Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  /** The host array (Float32Array for f32, Int32Array for i32). */
  data: Float32Array | Int32Array;
  /** Byte offset in the backend's wasm memory, or −1 for a plain host array. */
  ptr: number;
  /** The sparse codes whose pattern (rowPtr or index) this tensor holds, if any. */
  owner: CpuSparse | null = null;
  constructor(
    shape: readonly number[],
    dtype: DType,
    data?: Float32Array | Int32Array,
    ptr = -1,
  ) {
    this.shape = [...shape];
    this.dtype = dtype;
    this.size = shapeSize(shape);
    this.data = data ?? (dtype === "f32" ? new Float32Array(this.size) : new Int32Array(this.size));
    this.ptr = ptr;
  }
}

/** Sparse codes held by the CPU backend. */
class CpuSparse implements SparseCodes {
  /**
   * True when the pattern may have changed since the backend last built its column view (CSC)
   * of these codes: set by every op that writes rowPtr or index, and by {@link csr}, which hands
   * the arrays out writable.
   */
  cscStale = true;
  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly capacity: number,
    readonly rowPtr: CpuTensor,
    readonly index: CpuTensor,
    readonly value: CpuTensor,
  ) {
    rowPtr.owner = this;
    index.owner = this;
  }
  csr(): CsrCodes {
    this.cscStale = true;
    return {
      rows: this.rows,
      cols: this.cols,
      rowPtr: this.rowPtr.data as Int32Array,
      index: this.index.data as Int32Array,
      value: this.value.data as Float32Array,
    };
  }
}

/** The CPU backend over one GEMM provider. */
export class CpuBackend implements Backend {
  readonly name: string;
  readonly provider: GemmProvider;
  #pending: Promise<void> | null = null;
  #topk = newBatchTopkScratch();
  #scratch = new Float32Array(0);
  /** The wasm memory, heap and thread pool holding this backend's tensors. */
  readonly rt: WasmRuntime;
  #registry: FinalizationRegistry<number>;
  #csc: { colPtr: CpuTensor; slotRow: CpuTensor; slotEntry: CpuTensor } | null = null;
  /** The codes the column view in {@link #csc} was built for (valid while not `cscStale`). */
  #cscOf: CpuSparse | null = null;
  #wasmScratch: CpuTensor | null = null;

  /** The native sparse kernels, when loaded (else the wasm kernels run those ops). */
  readonly native: NativeSparse | null;

  /**
   * @param provider the GEMM implementation (the backend owns it and closes it).
   * @param threads threads for the wasm kernels (default: all cores, at most 8).
   * @param native native sparse kernels (decode, residual, sample, gather), or null for wasm.
   */
  constructor(provider: GemmProvider, threads?: number, native: NativeSparse | null = null) {
    this.provider = provider;
    this.name = `cpu:${provider.name}`;
    this.rt = new WasmRuntime(threads);
    this.native = native;
    const rt = this.rt;
    this.#registry = new FinalizationRegistry((ptr: number) => rt.free(ptr));
  }

  #pack: CpuTensor | null = null;
  /**
   * Heap scratch for the native kernels' slab-major copy of an r×d matrix, and the thread count
   * for `work` (see {@link #nativeThreads}); null when the heap is full.
   */
  #nativeScratch(d: number, rows: number, work: number): { pack: number; threads: number } | null {
    const size = packFloats(d, Math.max(rows, 1));
    if (!this.#pack || this.#pack.size < size) {
      if (this.#pack) this.dispose(this.#pack);
      this.#pack = this.#new([size], "f32");
    }
    if (this.#pack.ptr < 0) return null;
    return { pack: this.#pack.ptr, threads: this.#nativeThreads(work) };
  }
  /**
   * Threads for a native kernel touching about `work` elements: one below 2¹⁸ (where starting a
   * thread costs more than it saves), else all. Every kernel gives each output element to one
   * thread, so the count never changes a result.
   */
  #nativeThreads(work: number): number {
    return work >= 1 << 18 ? this.rt.threads : 1;
  }
  #offsets(z: CpuSparse): CsrOffsets {
    return { rowPtr: z.rowPtr.ptr, index: z.index.ptr, value: z.value.ptr };
  }

  /** Resolves once the kernel threads have started (ops work before, on one thread). */
  async ready(): Promise<void> {
    await this.rt.whenReady();
  }

  /** A new zeroed tensor in the wasm heap (a plain array when the heap is full). */
  #new(shape: readonly number[], dtype: DType): CpuTensor {
    const size = shapeSize(shape);
    const ptr = size > 0 ? this.rt.alloc(size * 4) : -1;
    if (ptr < 0) return new CpuTensor(shape, dtype);
    const data = dtype === "f32" ? this.rt.f32(ptr, size) : this.rt.i32(ptr, size);
    data.fill(0);
    const t = new CpuTensor(shape, dtype, data, ptr);
    this.#registry.register(t, ptr, t);
    return t;
  }

  /** Scratch tensor of at least `size` floats in the heap (reused). */
  #scratchF32(size: number): CpuTensor {
    if (!this.#wasmScratch || this.#wasmScratch.size < size) {
      if (this.#wasmScratch) this.dispose(this.#wasmScratch);
      this.#wasmScratch = this.#new([size], "f32");
    }
    return this.#wasmScratch;
  }

  /**
   * Column-major (CSC) view of the codes' entries, in heap scratch: entries of concept j are
   * slots colPtr[j]..colPtr[j+1]-1, each with its row and its CSR entry position. Built in
   * O(nnz + cols) and reused while the codes' pattern is unchanged (the decoder and encoder
   * gradients of a step share one). Null when the heap is full.
   */
  #buildCsc(z: CpuSparse): { colPtr: number; slotRow: number; slotEntry: number } | null {
    const nnz = (z.rowPtr.data as Int32Array)[z.rows];
    const c = z.cols;
    let s = this.#csc;
    if (s && this.#cscOf === z && !z.cscStale) {
      return { colPtr: s.colPtr.ptr, slotRow: s.slotRow.ptr, slotEntry: s.slotEntry.ptr };
    }
    if (!s || s.colPtr.size < c + 1 || s.slotRow.size < nnz) {
      if (s) { for (const t of [s.colPtr, s.slotRow, s.slotEntry]) this.dispose(t); }
      const cap = Math.max(nnz, s ? s.slotRow.size : 0, 1);
      s = this.#csc = {
        colPtr: this.#new([Math.max(c + 1, s ? s.colPtr.size : 0)], "i32"),
        slotRow: this.#new([cap], "i32"),
        slotEntry: this.#new([cap], "i32"),
      };
    }
    if (s.colPtr.ptr < 0 || s.slotRow.ptr < 0 || s.slotEntry.ptr < 0) return null;
    const colPtr = s.colPtr.data as Int32Array;
    const slotRow = s.slotRow.data as Int32Array;
    const slotEntry = s.slotEntry.data as Int32Array;
    const rowPtr = z.rowPtr.data as Int32Array, index = z.index.data as Int32Array;
    colPtr.fill(0, 0, c + 1);
    for (let e = 0; e < nnz; e++) colPtr[index[e] + 1]++;
    for (let j = 0; j < c; j++) colPtr[j + 1] += colPtr[j];
    // fill slots; colPtr[j] used as a cursor, restored afterwards
    for (let i = 0; i < z.rows; i++) {
      for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) {
        const q = colPtr[index[e]]++;
        slotRow[q] = i;
        slotEntry[q] = e;
      }
    }
    for (let j = c; j > 0; j--) colPtr[j] = colPtr[j - 1];
    colPtr[0] = 0;
    this.#cscOf = z;
    z.cscStale = false;
    return { colPtr: s.colPtr.ptr, slotRow: s.slotRow.ptr, slotEntry: s.slotEntry.ptr };
  }

  #tk: { bounds: CpuTensor; counts: CpuTensor; cb: CpuTensor; ci: CpuTensor } | null = null;
  /**
   * Batch top-k candidate pass on the wasm threads: one contiguous chunk of the flat range per
   * thread, each into its own slot range (cap + TKSCAN_PAD slots), then compacted in chunk order
   * (= flat order). The bias, when given, is added in-register (it must live in the heap).
   */
  #candidateScan: CandidateScan = (bits, N, guess, cap, bias, c) => {
    const T = this.rt.threads;
    const stride = cap + TKSCAN_PAD;
    let s = this.#tk;
    if (!s || s.cb.size < T * stride) {
      if (s) { for (const t of [s.bounds, s.counts, s.cb, s.ci]) this.dispose(t); }
      s = this.#tk = {
        bounds: this.#new([T + 1], "i32"),
        counts: this.#new([T], "i32"),
        cb: this.#new([T * stride], "i32"),
        ci: this.#new([T * stride], "i32"),
      };
    }
    if (!this.#inHeap(s.bounds, s.counts, s.cb, s.ci)) return null;
    const bounds = s.bounds.data as Int32Array, counts = s.counts.data as Int32Array;
    // chunk boundaries on multiples of 16 (the kernel's block; any boundary is correct)
    for (let q = 0; q <= T; q++) bounds[q] = q === T ? N : Math.floor((N * q) / T / 16) * 16;
    this.rt.run(
      "tkscan",
      [
        bits.byteOffset,
        s.bounds.ptr,
        guess,
        s.cb.ptr,
        s.ci.ptr,
        cap,
        s.counts.ptr,
        bias ? bias.byteOffset : 0,
        c,
      ],
      0,
      T,
      N,
    );
    const cv = s.cb.data as Int32Array, ci = s.ci.data as Int32Array;
    let nc = 0;
    for (let q = 0; q < T; q++) {
      const m = counts[q];
      if (m < 0 || nc + m > cap) return null;
      if (q > 0 && m > 0) {
        cv.copyWithin(nc, q * stride, q * stride + m);
        ci.copyWithin(nc, q * stride, q * stride + m);
      }
      nc += m;
    }
    return { cv, ci, nc };
  };
  /** Last exact batch top-k threshold per `pre` tensor, for the next call's first guess. */
  #tkMemo = new WeakMap<
    CpuTensor,
    { K: number; c: number; bias: boolean; t: number; tPrev: number | null; missed: boolean }
  >();
  /** What the last batchTopk did: guess path, candidate passes, candidates, scan time (ms). */
  get batchTopkStats(): Readonly<BatchTopkStats> {
    return this.#topk.stats;
  }

  #ss: { bounds: CpuTensor; partial: CpuTensor } | null = null;
  /** Σ x² on the wasm threads (one float64 partial per thread's chunk), or null off-heap. */
  #sumSquaresWasm(x: CpuTensor): number | null {
    const T = this.rt.threads;
    if (!this.#ss) {
      this.#ss = { bounds: this.#new([T + 1], "i32"), partial: this.#new([2 * T], "f32") };
    }
    const s = this.#ss;
    if (!this.#inHeap(x, s.bounds, s.partial)) return null;
    const N = x.size;
    const bounds = s.bounds.data as Int32Array;
    for (let q = 0; q <= T; q++) bounds[q] = q === T ? N : Math.floor((N * q) / T / 256) * 256;
    this.rt.run("sumsq", [x.ptr, s.bounds.ptr, s.partial.ptr], 0, T, N);
    const part = new Float64Array(this.rt.memory.buffer, s.partial.ptr, T);
    let total = 0;
    for (let q = 0; q < T; q++) total += part[q];
    return total;
  }

  #chunk: { bounds: CpuTensor; buf: CpuTensor } | null = null;
  /**
   * Row chunks of an m-row op, one per thread (bounds i32 [T+1]), and a heap buffer of
   * T·q·`words` 32-bit words for per-chunk column partials; null when the heap is full.
   */
  #rowChunks(m: number, q: number, words: number): { bounds: CpuTensor; buf: CpuTensor } | null {
    const T = this.rt.threads;
    const need = T * q * words;
    if (!this.#chunk || this.#chunk.buf.size < need) {
      if (this.#chunk) { for (const t of [this.#chunk.bounds, this.#chunk.buf]) this.dispose(t); }
      this.#chunk = { bounds: this.#new([T + 1], "i32"), buf: this.#new([need], "f32") };
    }
    const s = this.#chunk;
    if (!this.#inHeap(s.bounds, s.buf)) return null;
    const b = s.bounds.data as Int32Array;
    for (let k = 0; k <= T; k++) b[k] = Math.floor((m * k) / T);
    return s;
  }
  /** out = src where pre > theta (per column or shared) on the wasm threads; false off-heap. */
  #maskWasm(pre: Tensor, theta: Tensor, src: Tensor, out: Tensor, m: number, q: number): boolean {
    const tP = pre as CpuTensor, tT = theta as CpuTensor, tS = src as CpuTensor;
    const tO = out as CpuTensor;
    if (m * q < 1 << 12 || !this.#inHeap(tP, tT, tS, tO)) return false;
    const shared = tT.size === 1 ? 1 : 0;
    this.rt.run("maskabove", [tP.ptr, tT.ptr, shared, tS.ptr, tO.ptr, q], 0, m, m * q);
    return true;
  }

  /**
   * Sparse thresholding on the wasm threads when the codes can hold every entry (capacity ≥ n·c,
   * as for ReLU / JumpReLU training): each thread's row chunk writes from its worst-case slot,
   * then the chunks are compacted in order. False when it cannot run (then the JS loop does).
   */
  #thresholdWasm(pre: CpuTensor, theta: CpuTensor, n: number, c: number, z: CpuSparse): boolean {
    if (n < 2 || n * c < 1 << 16 || z.capacity < n * c) return false;
    const part = this.#rowChunks(n, 1, 1);
    if (!part || !this.#inHeap(pre, theta, z.rowPtr, z.index, z.value)) return false;
    z.cscStale = true;
    const T = this.rt.threads;
    this.rt.run(
      "thresh",
      [
        pre.ptr,
        theta.ptr,
        theta.size === 1 ? 1 : 0,
        c,
        part.bounds.ptr,
        z.rowPtr.ptr,
        z.index.ptr,
        z.value.ptr,
        part.buf.ptr,
      ],
      0,
      T,
      n * c,
    );
    const bounds = part.bounds.data as Int32Array,
      counts = part.buf.data as unknown as Float32Array;
    const cnt = new Int32Array(counts.buffer, counts.byteOffset, T);
    const rowPtr = z.rowPtr.data as Int32Array;
    const index = z.index.data as Int32Array, value = z.value.data as Float32Array;
    let total = 0;
    for (let k = 0; k < T; k++) {
      const start = bounds[k] * c, m = cnt[k];
      if (start !== total) {
        index.copyWithin(total, start, start + m);
        value.copyWithin(total, start, start + m);
        const shift = start - total;
        for (let i = bounds[k]; i < bounds[k + 1]; i++) rowPtr[i] -= shift;
      }
      total += m;
    }
    rowPtr[n] = total;
    return true;
  }

  /** True when every tensor lives in the wasm heap (the kernels can run). */
  #inHeap(...ts: (CpuTensor | null)[]): boolean {
    for (const t of ts) if (t && t.ptr < 0) return false;
    return true;
  }

  #exec(fn: () => void | Promise<void>): void {
    if (this.#pending) {
      const p: Promise<void> = this.#pending.then(fn);
      this.#pending = p;
      p.then(() => {
        if (this.#pending === p) this.#pending = null;
      }, () => {});
      return;
    }
    const r = fn();
    if (r instanceof Promise) {
      this.#pending = r;
      r.then(() => {
        if (this.#pending === r) this.#pending = null;
      }, () => {});
    }
  }

  #t(t: Tensor, what: string): CpuTensor {
    if (!(t instanceof CpuTensor)) {
      throw new TypeError(`${what}: tensor belongs to another backend`);
    }
    return t;
  }
  #f(t: Tensor, what: string): Float32Array {
    const c = this.#t(t, what);
    if (c.dtype !== "f32") throw new TypeError(`${what}: expected an f32 tensor, got ${c.dtype}`);
    return c.data as Float32Array;
  }
  #z(z: SparseCodes, what: string): CpuSparse {
    if (!(z instanceof CpuSparse)) throw new TypeError(`${what}: codes belong to another backend`);
    return z;
  }

  // ---- memory ----
  zeros(shape: readonly number[], dtype: DType = "f32"): Tensor {
    return this.#new(shape, dtype);
  }
  upload(data: Float32Array | Int32Array, shape: readonly number[]): Tensor {
    const size = shapeSize(shape);
    if (data.length !== size) {
      throw shapeError("upload", `data length ${data.length} ≠ product of shape [${shape}]`);
    }
    const dtype: DType = data instanceof Int32Array ? "i32" : "f32";
    const t = this.#new(shape, dtype);
    t.data.set(data);
    return t;
  }
  write(t: Tensor, data: Float32Array | Int32Array, offset = 0): void {
    const c = this.#t(t, "write");
    if (offset < 0 || offset + data.length > c.size) {
      throw shapeError("write", `window ${offset}+${data.length} exceeds size ${c.size}`);
    }
    const copy = this.#pending ? data.slice() : data;
    this.#exec(() => {
      c.data.set(copy, offset);
      if (c.owner) c.owner.cscStale = true;
    });
  }
  async read(t: Tensor): Promise<Float32Array | Int32Array> {
    const c = this.#t(t, "read");
    await this.#flush();
    return c.data.slice();
  }
  async readScalar(t: Tensor): Promise<number> {
    const c = this.#t(t, "readScalar");
    await this.#flush();
    return c.data[0];
  }
  async #flush(): Promise<void> {
    while (this.#pending) await this.#pending;
  }
  copyRows(src: Tensor, start: number, count: number, dst: Tensor): void {
    const s = this.#t(src, "copyRows src");
    const d = this.#t(dst, "copyRows dst");
    if (s.shape.length !== 2) throw shapeError("copyRows", "src must be 2-D");
    const cols = s.shape[1];
    checkShape("copyRows dst", d.shape, [count, cols]);
    if (start < 0 || start + count > s.shape[0]) {
      throw shapeError("copyRows", `rows ${start}..${start + count} outside ${s.shape[0]}`);
    }
    this.#exec(() => {
      d.data.set(s.data.subarray(start * cols, (start + count) * cols));
      if (d.owner) d.owner.cscStale = true;
    });
  }
  dispose(t: Tensor): void {
    if (!(t instanceof CpuTensor) || t.ptr < 0) return;
    const ptr = t.ptr;
    this.#registry.unregister(t);
    t.ptr = -1;
    t.data = t.dtype === "f32" ? new Float32Array(0) : new Int32Array(0);
    if (this.#pending) this.#pending.then(() => this.rt.free(ptr), () => this.rt.free(ptr));
    else this.rt.free(ptr);
  }
  sparse(rows: number, cols: number, capacity: number): SparseCodes {
    return new CpuSparse(
      rows,
      cols,
      capacity,
      this.#new([rows + 1], "i32"),
      this.#new([capacity], "i32"),
      this.#new([capacity], "f32"),
    );
  }
  disposeSparse(z: SparseCodes): void {
    if (!(z instanceof CpuSparse)) return;
    if (this.#cscOf === z) this.#cscOf = null;
    for (const t of [z.rowPtr, z.index, z.value]) this.dispose(t);
  }

  // ---- dense ----
  gemm(a: Tensor, b: Tensor, c: Tensor, opts: GemmOptions = {}): void {
    const A = this.#f(a, "gemm A"), B = this.#f(b, "gemm B"), C = this.#f(c, "gemm C");
    const tA = !!opts.transA, tB = !!opts.transB;
    const as = this.#t(a, "").shape, bs = this.#t(b, "").shape, cs = this.#t(c, "").shape;
    if (as.length !== 2 || bs.length !== 2 || cs.length !== 2) {
      throw shapeError("gemm", "A, B and C must be 2-D");
    }
    const m = tA ? as[1] : as[0], k = tA ? as[0] : as[1];
    const kb = tB ? bs[1] : bs[0], n = tB ? bs[0] : bs[1];
    if (k !== kb) throw shapeError("gemm", `inner dimensions ${k} ≠ ${kb}`);
    checkShape("gemm C", cs, [m, n]);
    const call = {
      transA: tA,
      transB: tB,
      m,
      n,
      k,
      alpha: opts.alpha ?? 1,
      beta: opts.beta ?? 0,
      a: A,
      b: B,
      c: C,
    };
    this.#exec(() => this.provider.sgemm(call));
  }
  linear(x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor, transW = false): void {
    const xs = this.#t(x, "linear x").shape, ws = this.#t(w, "linear w").shape;
    if (xs.length !== 2 || ws.length !== 2) throw shapeError("linear", "x and w must be 2-D");
    const [n, d] = xs;
    const c = transW ? ws[0] : ws[1];
    checkShape("linear w", ws, transW ? [c, d] : [d, c]);
    checkShape("linear out", this.#t(out, "linear out").shape, [n, c]);
    if (bias) {
      checkShape("linear bias", this.#t(bias, "linear bias").shape, [c]);
      const b = this.#f(bias, "linear bias"), o = this.#f(out, "linear out");
      const tB = bias as CpuTensor, tO = out as CpuTensor;
      this.#exec(() => {
        if (n === 0) return;
        if (this.#inHeap(tB, tO)) return this.rt.run("rowfill", [tB.ptr, c, tO.ptr], 0, n, n * c);
        o.set(b, 0);
        let filled = c;
        while (filled < n * c) {
          const len = Math.min(filled, n * c - filled);
          o.copyWithin(filled, 0, len);
          filled += len;
        }
      });
    }
    this.gemm(x, w, out, { beta: bias ? 1 : 0, transB: transW });
  }

  // ---- sparsification ----
  #checkCodes(op: string, pre: Tensor, z: CpuSparse): [number, number] {
    const s = this.#t(pre, `${op} pre`).shape;
    if (s.length !== 2) throw shapeError(op, "pre must be 2-D");
    if (z.rows !== s[0] || z.cols !== s[1]) {
      throw shapeError(op, `codes are ${z.rows}×${z.cols}, pre is ${s[0]}×${s[1]}`);
    }
    return [s[0], s[1]];
  }
  topkRows(pre: Tensor, k: number, z: SparseCodes): void {
    const Z = this.#z(z, "topkRows");
    const [n, c] = this.#checkCodes("topkRows", pre, Z);
    if (!Number.isInteger(k) || k < 1 || k > c) {
      throw shapeError("topkRows", `k=${k} not in 1..${c}`);
    }
    if (n * k > Z.capacity) throw shapeError("topkRows", `n·k=${n * k} > capacity ${Z.capacity}`);
    const P = this.#f(pre, "topkRows pre");
    const tP = pre as CpuTensor;
    this.#exec(() => {
      if (this.native && n * c >= 1 << 12 && this.#inHeap(tP, Z.rowPtr, Z.index, Z.value)) {
        Z.cscStale = true;
        const threads = this.#nativeThreads(n * c);
        this.native.topkRows(this.rt.memory, tP.ptr, n, c, k, this.#offsets(Z), threads);
        return;
      }
      if (n * c >= 1 << 16 && 4 * k <= topkGroups(c) && this.#topkScreen(tP, n, c, k, Z)) return;
      topkRowsHost(P, n, c, k, Z.csr());
    });
  }
  #tkRows: { t: CpuTensor; max: CpuTensor; cv: CpuTensor; ci: CpuTensor; cnt: CpuTensor } | null =
    null;
  /**
   * Per-row top-k on the wasm threads: group maxima (`groupmax`), a lower bound per row on the
   * host, the candidates at or above it (`rowcands`), then their exact selection on the host
   * (cpu_select.ts topkRowsScreened). False when the heap is full.
   */
  #topkScreen(pre: CpuTensor, n: number, c: number, k: number, Z: CpuSparse): boolean {
    const ng = topkGroups(c), cap = 4 * k + 64;
    let s = this.#tkRows;
    if (!s || s.t.size < n || s.max.size < n * ng || s.cv.size < n * cap) {
      if (s) { for (const t of [s.t, s.max, s.cv, s.ci, s.cnt]) this.dispose(t); }
      s = this.#tkRows = {
        t: this.#new([n], "f32"),
        max: this.#new([n * ng], "f32"),
        cv: this.#new([n * cap], "f32"),
        ci: this.#new([n * cap], "i32"),
        cnt: this.#new([n], "i32"),
      };
    }
    if (!this.#inHeap(pre, s.t, s.max, s.cv, s.ci, s.cnt, Z.rowPtr, Z.index, Z.value)) return false;
    const P = pre.data as Float32Array;
    this.rt.run("groupmax", [pre.ptr, c, s.max.ptr], 0, n, n * c);
    const thresholds = s.t.data as Float32Array;
    topkThresholds(s.max.data as Float32Array, n, ng, k, thresholds, new Float32Array(ng));
    const args = [pre.ptr, c, s.t.ptr, s.cv.ptr, s.ci.ptr, cap, s.cnt.ptr];
    this.rt.run("rowcands", args, 0, n, n * c);
    const cv = s.cv.data as Float32Array,
      ci = s.ci.data as Int32Array,
      cnt = s.cnt.data as Int32Array;
    const heapRows = topkRowsScreened(P, n, c, k, thresholds, cv, ci, cnt, cap, Z.csr());
    this.#topkRowsStats = { rows: n, heapRows };
    return true;
  }
  #topkRowsStats = { rows: 0, heapRows: 0 };
  /** The last screened per-row top-k on the wasm threads: rows, and those the heap took. */
  get topkRowsStats(): Readonly<{ rows: number; heapRows: number }> {
    return this.#topkRowsStats;
  }
  batchTopk(
    pre: Tensor,
    k: number,
    z: SparseCodes,
    minKept: Tensor,
    bias: Tensor | null = null,
  ): void {
    const Z = this.#z(z, "batchTopk");
    const [n, c] = this.#checkCodes("batchTopk", pre, Z);
    if (!(k > 0) || k > c) throw shapeError("batchTopk", `k=${k} not in (0, ${c}]`);
    const K = Math.min(Math.round(n * k), n * c);
    if (K > Z.capacity) throw shapeError("batchTopk", `n·k=${K} > capacity ${Z.capacity}`);
    const P = this.#f(pre, "batchTopk pre"), M = this.#f(minKept, "batchTopk minKept");
    const B = bias ? this.#f(bias, "batchTopk bias") : null;
    if (bias) checkShape("batchTopk bias", (bias as CpuTensor).shape, [c]);
    const tP = pre as CpuTensor, tB = bias as CpuTensor | null;
    const scan = this.#inHeap(tP, tB) ? this.#candidateScan : undefined;
    this.#exec(() => {
      // first guess: from the last exact thresholds found for this pre (same K, c, bias)
      const memo = this.#tkMemo.get(tP);
      const hit = memo && memo.K === K && memo.c === c && memo.bias === !!B;
      const guess = hit ? guessFromHistory(memo.t, memo.tPrev, memo.missed) : undefined;
      const t = batchTopkHost(P, n, c, K, Z.csr(), this.#topk, scan, { bias: B, guess });
      M[0] = t;
      const missed = hit ? this.#topk.stats.path !== "hint" : false;
      this.#tkMemo.set(tP, { K, c, bias: !!B, t, tPrev: hit ? memo.t : null, missed });
    });
  }
  /**
   * Multiply-adds (n·c·d) from which {@link encodeBatchTopk} screens a bfloat16 product (when the
   * native kernels have the AMX tile unit); smaller problems take the float32 path. Tests set 0.
   */
  screenMinWork = 1 << 24;
  #screenStats: ScreenStats | null = null;
  /** What the last {@link encodeBatchTopk} screened (null: it ran the float32 path). */
  get screenStats(): Readonly<ScreenStats> | null {
    return this.#screenStats;
  }
  encodeBatchTopk(
    x: Tensor,
    w: Tensor,
    bias: Tensor | null,
    k: number,
    z: SparseCodes,
    minKept: Tensor,
    pre: Tensor,
  ): void {
    const screen = this.native?.screen;
    const tX = this.#t(x, "encodeBatchTopk x"), tW = this.#t(w, "encodeBatchTopk w");
    const Z = this.#z(z, "encodeBatchTopk");
    const [n, c] = this.#checkCodes("encodeBatchTopk", pre, Z);
    const d = tX.shape[1];
    const dense = () => {
      this.#screenStats = null;
      encodeBatchTopkDense(this, x, w, bias, k, z, minKept, pre);
    };
    if (!screen || n * c * d < this.screenMinWork) return dense();
    checkShape("encodeBatchTopk x", tX.shape, [n, d]);
    checkShape("encodeBatchTopk w", tW.shape, [c, d]);
    if (bias) checkShape("encodeBatchTopk bias", this.#t(bias, "encodeBatchTopk bias").shape, [c]);
    if (!(k > 0) || k > c) throw shapeError("encodeBatchTopk", `k=${k} not in (0, ${c}]`);
    const K = Math.min(Math.round(n * k), n * c);
    if (K > Z.capacity) throw shapeError("encodeBatchTopk", `n·k=${K} > capacity ${Z.capacity}`);
    const tB = bias as CpuTensor | null, tM = this.#t(minKept, "encodeBatchTopk minKept");
    checkShape("encodeBatchTopk minKept", tM.shape, [1]);
    // synchronous (nothing queued before it), so that a refusal can still take the float32 path
    if (K === 0 || this.#pending || !this.#inHeap(tX, tW, tB, tM, Z.rowPtr, Z.index, Z.value)) {
      return dense();
    }
    Z.cscStale = true;
    const m = this.rt.memory, bp = tB ? tB.ptr : 0, threads = this.rt.threads;
    const kept = screen.batchTopk(
      m,
      tX.ptr,
      n,
      d,
      tW.ptr,
      c,
      bp,
      K,
      this.#offsets(Z),
      tM.ptr,
      threads,
    );
    if (kept < 0) return dense();
    this.#screenStats = screen.stats();
  }
  threshold(pre: Tensor, theta: Tensor, z: SparseCodes): void {
    const Z = this.#z(z, "threshold");
    const [n, c] = this.#checkCodes("threshold", pre, Z);
    const th = this.#f(theta, "threshold theta");
    if (th.length !== c && th.length !== 1) {
      throw shapeError("threshold", `theta has ${th.length} entries, expected ${c} or 1`);
    }
    const P = this.#f(pre, "threshold pre");
    const tP = pre as CpuTensor, tT = theta as CpuTensor;
    this.#exec(() => {
      if (!this.#thresholdWasm(tP, tT, n, c, Z)) thresholdHost(P, n, c, th, Z.csr());
    });
  }

  // ---- sparse products ----
  #dict(op: string, dict: Tensor, z: CpuSparse): [Float32Array, number] {
    const s = this.#t(dict, `${op} dict`).shape;
    if (s.length !== 2 || s[0] !== z.cols) {
      throw shapeError(op, `dict must be ${z.cols}×d, got [${s}]`);
    }
    return [this.#f(dict, `${op} dict`), s[1]];
  }
  sparseDecode(z: SparseCodes, dict: Tensor, bias: Tensor | null, out: Tensor): void {
    const Z = this.#z(z, "sparseDecode");
    const [D, d] = this.#dict("sparseDecode", dict, Z);
    checkShape("sparseDecode out", this.#t(out, "sparseDecode out").shape, [Z.rows, d]);
    const B = bias ? this.#f(bias, "sparseDecode bias") : null;
    if (B && B.length !== d) throw shapeError("sparseDecode", `bias length ${B.length} ≠ d=${d}`);
    const O = this.#f(out, "sparseDecode out");
    const tD = dict as CpuTensor, tO = out as CpuTensor, tB = bias as CpuTensor | null;
    this.#exec(() => {
      if (this.#inHeap(Z.rowPtr, Z.index, Z.value, tD, tO, tB)) {
        const nnz = (Z.rowPtr.data as Int32Array)[Z.rows];
        const nat = this.native && this.#nativeScratch(d, Z.cols, (nnz + Z.rows) * d);
        if (nat) {
          const bp = tB ? tB.ptr : 0;
          const { pack, threads } = nat;
          const m = this.rt.memory, zo = this.#offsets(Z);
          this.native!.resid(
            m,
            zo,
            tD.ptr,
            d,
            bp,
            0,
            1,
            tO.ptr,
            0,
            0,
            Z.rows,
            Z.cols,
            pack,
            threads,
          );
          return;
        }
        this.rt.run(
          "decode",
          [Z.rowPtr.ptr, Z.index.ptr, Z.value.ptr, tD.ptr, d, tB ? tB.ptr : 0, tO.ptr],
          0,
          Z.rows,
          (nnz + Z.rows) * d,
        );
      } else sparseDecodeHost(Z.csr(), D, d, B, O);
    });
  }
  sparseResidual(
    z: SparseCodes,
    dict: Tensor,
    bias: Tensor | null,
    x: Tensor,
    scale: number,
    r: Tensor,
    sse: Tensor,
    accumulate: boolean,
    vals: Tensor | null,
  ): void {
    const Z = this.#z(z, "sparseResidual");
    const [, d] = this.#dict("sparseResidual", dict, Z);
    checkShape("sparseResidual x", this.#t(x, "sparseResidual x").shape, [Z.rows, d]);
    checkShape("sparseResidual r", this.#t(r, "sparseResidual r").shape, [Z.rows, d]);
    if (r === x) throw shapeError("sparseResidual", "r must not alias x");
    const B = bias ? this.#f(bias, "sparseResidual bias") : null;
    if (B && B.length !== d) throw shapeError("sparseResidual", `bias length ${B.length} ≠ d=${d}`);
    if (vals) checkShape("sparseResidual vals", this.#t(vals, "vals").shape, [Z.capacity]);
    const S = this.#f(sse, "sparseResidual sse");
    if (S.length < 1) throw shapeError("sparseResidual", "sse must hold one element");
    const tD = dict as CpuTensor, tB = bias as CpuTensor | null, tX = x as CpuTensor;
    const tR = r as CpuTensor, tV = vals as CpuTensor | null;
    const n = Z.rows;
    const rowSs = this.#inHeap(Z.rowPtr, Z.index, Z.value, tD, tB, tX, tR, tV)
      ? this.#rowScratch(n)
      : null;
    if (!rowSs) {
      // host arrays: the unfused sequence
      this.sparseDecode(z, dict, bias, r);
      this.axpby(1, r, -1, x, r);
      this.sumSquares(r, sse, accumulate);
      this.axpby(scale, r, 0, r, r);
      if (vals) this.sparseSample(r, dict, z, vals);
      return;
    }
    this.#exec(() => {
      const nnz = (Z.rowPtr.data as Int32Array)[n];
      const nat = this.native && this.#nativeScratch(d, Z.cols, (2 * nnz + 3 * n) * d);
      if (nat) {
        this.native!.resid(
          this.rt.memory,
          this.#offsets(Z),
          tD.ptr,
          d,
          tB ? tB.ptr : 0,
          tX.ptr,
          scale,
          tR.ptr,
          rowSs.ptr,
          tV ? tV.ptr : 0,
          n,
          Z.cols,
          nat.pack,
          nat.threads,
        );
      } else {
        this.rt.run(
          "resid",
          [
            Z.rowPtr.ptr,
            Z.index.ptr,
            Z.value.ptr,
            tD.ptr,
            d,
            tB ? tB.ptr : 0,
            tX.ptr,
            scale,
            tR.ptr,
            rowSs.ptr,
            tV ? tV.ptr : 0,
          ],
          0,
          n,
          (2 * nnz + 3 * n) * d,
        );
      }
      const ss = rowSs.data as Float32Array;
      let total = 0;
      for (let i = 0; i < n; i++) total += ss[i];
      S[0] = (accumulate ? S[0] : 0) + total;
    });
  }
  #rowSs: CpuTensor | null = null;
  /** Heap scratch of at least `n` floats for per-row sums (null when the heap is full). */
  #rowScratch(n: number): CpuTensor | null {
    if (!this.#rowSs || this.#rowSs.size < n) {
      if (this.#rowSs) this.dispose(this.#rowSs);
      this.#rowSs = this.#new([Math.max(n, 1)], "f32");
    }
    return this.#rowSs.ptr < 0 ? null : this.#rowSs;
  }
  sparseSample(g: Tensor, dict: Tensor, z: SparseCodes, vals: Tensor): void {
    const Z = this.#z(z, "sparseSample");
    const [D, d] = this.#dict("sparseSample", dict, Z);
    checkShape("sparseSample g", this.#t(g, "sparseSample g").shape, [Z.rows, d]);
    checkShape("sparseSample vals", this.#t(vals, "sparseSample vals").shape, [Z.capacity]);
    const G = this.#f(g, "sparseSample g"), V = this.#f(vals, "sparseSample vals");
    const tG = g as CpuTensor, tD = dict as CpuTensor, tV = vals as CpuTensor;
    this.#exec(() => {
      if (this.#inHeap(Z.rowPtr, Z.index, tG, tD, tV)) {
        const nnz = (Z.rowPtr.data as Int32Array)[Z.rows];
        const nat = this.native && this.#nativeScratch(d, Z.cols, nnz * d);
        if (nat) {
          const { pack, threads } = nat;
          const m = this.rt.memory, zo = this.#offsets(Z);
          this.native!.sample(m, tG.ptr, tD.ptr, d, zo, tV.ptr, Z.rows, Z.cols, pack, threads);
          return;
        }
        this.rt.run(
          "sample",
          [tG.ptr, tD.ptr, d, Z.rowPtr.ptr, Z.index.ptr, tV.ptr],
          0,
          Z.rows,
          nnz * d,
        );
      } else sparseSampleHost(G, D, d, Z.csr(), V);
    });
  }
  sparseTransposeProduct(
    z: SparseCodes,
    vals: Tensor | null,
    g: Tensor,
    out: Tensor,
    beta: number,
  ): void {
    const Z = this.#z(z, "sparseTransposeProduct");
    const gs = this.#t(g, "sparseTransposeProduct g").shape;
    if (gs.length !== 2 || gs[0] !== Z.rows) {
      throw shapeError("sparseTransposeProduct", `g must be ${Z.rows}×d, got [${gs}]`);
    }
    const d = gs[1];
    checkShape("sparseTransposeProduct out", this.#t(out, "out").shape, [Z.cols, d]);
    const V = vals ? this.#f(vals, "sparseTransposeProduct vals") : null;
    if (V && V.length !== Z.capacity) {
      throw shapeError("sparseTransposeProduct", `vals length ${V.length} ≠ capacity`);
    }
    const G = this.#f(g, "g"), O = this.#f(out, "out");
    const tV = (vals ?? Z.value) as CpuTensor, tG = g as CpuTensor, tO = out as CpuTensor;
    this.#exec(() => {
      if (!(this.#gatherRows(Z, tV, tG, d, tO, beta))) {
        sparseTransposeProductHost(Z.csr(), V, G, d, O, beta);
      }
    });
  }
  sparseOuterToColumns(x: Tensor, z: SparseCodes, vals: Tensor, out: Tensor, beta: number): void {
    const Z = this.#z(z, "sparseOuterToColumns");
    const xs = this.#t(x, "sparseOuterToColumns x").shape;
    if (xs.length !== 2 || xs[0] !== Z.rows) {
      throw shapeError("sparseOuterToColumns", `x must be ${Z.rows}×d, got [${xs}]`);
    }
    const d = xs[1];
    checkShape("sparseOuterToColumns out", this.#t(out, "out").shape, [d, Z.cols]);
    checkShape("sparseOuterToColumns vals", this.#t(vals, "vals").shape, [Z.capacity]);
    const X = this.#f(x, "x"), V = this.#f(vals, "vals"), O = this.#f(out, "out");
    const tX = x as CpuTensor, tV = vals as CpuTensor;
    this.#exec(() => {
      const acc = this.#inHeap(tX, tV, Z.rowPtr, Z.index) ? this.#scratchF32(Z.cols * d) : null;
      if (acc && this.#gatherRows(Z, tV, tX, d, acc, 0)) {
        const tO = out as CpuTensor;
        if (tO.ptr < 0) transposeInto(acc.data as Float32Array, Z.cols, d, O, beta);
        else this.rt.run("transpose", [acc.ptr, Z.cols, d, tO.ptr, beta], 0, d, Z.cols * d * 2);
        return;
      }
      if (this.#scratch.length < Z.cols * d) this.#scratch = new Float32Array(Z.cols * d);
      sparseOuterToColumnsHost(X, d, Z.csr(), V, O, beta, this.#scratch);
    });
  }
  /** out (c×d) = beta·out + Zᵀ·src with values `vals`, by concept on the wasm kernels. */
  #gatherRows(
    z: CpuSparse,
    vals: CpuTensor,
    src: CpuTensor,
    d: number,
    out: CpuTensor,
    beta: number,
  ): boolean {
    if (!this.#inHeap(z.rowPtr, z.index, vals, src, out)) return false;
    const csc = this.#buildCsc(z);
    if (!csc) return false;
    const nnz = (z.rowPtr.data as Int32Array)[z.rows];
    const nat = this.native && this.#nativeScratch(d, z.rows, (nnz + z.cols) * d);
    if (nat) {
      const { pack, threads } = nat;
      const m = this.rt.memory;
      this.native!.gather(
        m,
        csc,
        vals.ptr,
        src.ptr,
        d,
        out.ptr,
        beta,
        z.cols,
        z.rows,
        pack,
        threads,
      );
      return true;
    }
    this.rt.run(
      "gather",
      [csc.colPtr, csc.slotRow, csc.slotEntry, vals.ptr, src.ptr, d, out.ptr, beta],
      0,
      z.cols,
      (nnz + z.cols) * d,
    );
    return true;
  }

  sparseColumnSum(z: SparseCodes, vals: Tensor, out: Tensor, beta: number): void {
    const Z = this.#z(z, "sparseColumnSum");
    checkShape("sparseColumnSum vals", this.#t(vals, "vals").shape, [Z.capacity]);
    checkShape("sparseColumnSum out", this.#t(out, "out").shape, [Z.cols]);
    const V = this.#f(vals, "vals"), O = this.#f(out, "out");
    this.#exec(() => sparseColumnSumHost(Z.csr(), V, O, beta));
  }

  // ---- elementwise ----
  axpby(a: number, x: Tensor, b: number, y: Tensor, out: Tensor): void {
    const xs = this.#t(x, "axpby x").shape;
    checkShape("axpby y", this.#t(y, "axpby y").shape, xs);
    checkShape("axpby out", this.#t(out, "axpby out").shape, xs);
    const X = this.#f(x, "x"), Y = this.#f(y, "y"), O = this.#f(out, "out");
    const tX = x as CpuTensor, tY = y as CpuTensor, tO = out as CpuTensor;
    this.#exec(() => {
      if (!this.#inHeap(tX, tY, tO)) return axpbyHost(a, X, b, Y, O);
      this.rt.run("axpby", [tX.ptr, tY.ptr, tO.ptr, a, b], 0, O.length, O.length * 2, 16);
    });
  }
  sumSquares(x: Tensor, out: Tensor, accumulate = false): void {
    const X = this.#f(x, "sumSquares x"), O = this.#f(out, "sumSquares out");
    if (O.length < 1) throw shapeError("sumSquares", "out must hold one element");
    const tX = x as CpuTensor;
    this.#exec(() => {
      const ss = (X.length >= 1 << 16 ? this.#sumSquaresWasm(tX) : null) ??
        (this.provider.sumSquares ? this.provider.sumSquares(X) : sumSquaresHost(X));
      O[0] = (accumulate ? O[0] : 0) + ss;
    });
  }
  clipFactor(sumSq: Tensor, maxNorm: number, out: Tensor): void {
    const S = this.#f(sumSq, "clipFactor sumSq"), O = this.#f(out, "clipFactor out");
    this.#exec(() => {
      O[0] = clipFactorHost(S[0], maxNorm);
    });
  }
  scaleBy(x: Tensor, scale: Tensor): void {
    const X = this.#f(x, "scaleBy x"), S = this.#f(scale, "scaleBy scale");
    this.#exec(() => scaleHost(X, S[0]));
  }

  mul(a: Tensor, b: Tensor, out: Tensor): void {
    const A = this.#f(a, "mul a"), B = this.#f(b, "mul b"), O = this.#f(out, "mul out");
    if (B.length !== A.length || O.length !== A.length) {
      throw shapeError("mul", `sizes ${A.length}, ${B.length}, ${O.length} differ`);
    }
    this.#exec(() => mulHost(A, B, O));
  }
  clampMin(x: Tensor, lo: number): void {
    const X = this.#f(x, "clampMin x");
    this.#exec(() => clampMinHost(X, lo));
  }
  copy(src: Tensor, dst: Tensor): void {
    const S = this.#t(src, "copy src"), D = this.#t(dst, "copy dst");
    if (S.size !== D.size) throw shapeError("copy", `sizes ${S.size} ≠ ${D.size}`);
    if (S.dtype !== D.dtype) throw shapeError("copy", `dtypes ${S.dtype} ≠ ${D.dtype}`);
    if (S === D) return;
    this.#exec(() => {
      D.data.set(S.data);
      if (D.owner) D.owner.cscStale = true;
    });
  }
  scaleRows(v: Tensor, a: Tensor, out: Tensor, beta = 0): void {
    const as = this.#t(a, "scaleRows a").shape;
    if (as.length !== 2) throw shapeError("scaleRows", "a must be 2-D");
    checkShape("scaleRows v", this.#t(v, "scaleRows v").shape, [as[0]]);
    checkShape("scaleRows out", this.#t(out, "scaleRows out").shape, as);
    if (a === out) throw shapeError("scaleRows", "out must not alias a");
    const V = this.#f(v, "v"), A = this.#f(a, "a"), O = this.#f(out, "out");
    const ts = [v, a, out] as CpuTensor[];
    this.#exec(() => {
      const [m, q] = as;
      if (m * q >= 1 << 14 && this.#inHeap(...ts)) {
        const [pv, pa, po] = ts.map((t) => t.ptr);
        if (this.native) {
          const threads = this.#nativeThreads(m * q);
          return this.native.scaleRows(this.rt.memory, pv, pa, m, q, po, beta, threads);
        }
        return this.rt.run("scalerows", [pv, pa, q, po, beta], 0, m, m * q);
      }
      scaleRowsHost(V, A, m, q, O, beta);
    });
  }
  /** [m, q] of a tensor read as rows (1-D: one row). */
  #rows(t: Tensor, what: string): [number, number] {
    const s = this.#t(t, what).shape;
    if (s.length === 1) return [1, s[0]];
    if (s.length !== 2) throw shapeError(what, "expects a 1-D or 2-D tensor");
    return [s[0], s[1]];
  }
  #theta(op: string, theta: Tensor, q: number): Float32Array {
    const th = this.#f(theta, `${op} theta`);
    if (th.length !== q && th.length !== 1) {
      throw shapeError(op, `theta has ${th.length} entries, expected ${q} or 1`);
    }
    return th;
  }
  columnSum(a: Tensor, out: Tensor, beta = 0): void {
    const [m, q] = this.#rows(a, "columnSum a");
    checkShape("columnSum out", this.#t(out, "columnSum out").shape, [q]);
    const A = this.#f(a, "a"), O = this.#f(out, "out");
    const tA = a as CpuTensor;
    this.#exec(() => {
      const part = m * q >= 1 << 16 && m > 1 ? this.#rowChunks(m, q, 2) : null;
      if (!part || !this.#inHeap(tA)) return columnSumHost(A, m, q, O, beta);
      const T = this.rt.threads;
      this.rt.run("colsum", [tA.ptr, part.bounds.ptr, part.buf.ptr, q], 0, T, m * q);
      const p = new Float64Array(this.rt.memory.buffer, part.buf.ptr, T * q);
      for (let j = 0; j < q; j++) {
        let acc = 0;
        for (let k = 0; k < T; k++) acc += p[k * q + j];
        O[j] = (beta === 0 ? 0 : beta * O[j]) + acc;
      }
    });
  }
  thresholdDense(pre: Tensor, theta: Tensor, out: Tensor): void {
    const [m, q] = this.#rows(pre, "thresholdDense pre");
    checkShape("thresholdDense out", this.#t(out, "out").shape, this.#t(pre, "pre").shape);
    if (pre === out) throw shapeError("thresholdDense", "out must not alias pre");
    const P = this.#f(pre, "pre"), T = this.#theta("thresholdDense", theta, q);
    const O = this.#f(out, "out");
    this.#exec(() => {
      if (!this.#maskWasm(pre, theta, pre, out, m, q)) maskAboveHost(P, m, q, T, null, O);
    });
  }
  maskAbove(pre: Tensor, theta: Tensor, x: Tensor, out: Tensor): void {
    const [m, q] = this.#rows(pre, "maskAbove pre");
    const ps = this.#t(pre, "pre").shape;
    checkShape("maskAbove x", this.#t(x, "x").shape, ps);
    checkShape("maskAbove out", this.#t(out, "out").shape, ps);
    if (pre === out) throw shapeError("maskAbove", "out must not alias pre");
    const P = this.#f(pre, "pre"), T = this.#theta("maskAbove", theta, q);
    const X = this.#f(x, "x"), O = this.#f(out, "out");
    this.#exec(() => {
      if (!this.#maskWasm(pre, theta, x, out, m, q)) maskAboveHost(P, m, q, T, X, O);
    });
  }
  countAbove(pre: Tensor, theta: Tensor, out: Tensor, beta = 0): void {
    const [m, q] = this.#rows(pre, "countAbove pre");
    checkShape("countAbove out", this.#t(out, "out").shape, [q]);
    const P = this.#f(pre, "pre"), T = this.#theta("countAbove", theta, q);
    const O = this.#f(out, "out");
    const tP = pre as CpuTensor, tT = theta as CpuTensor;
    this.#exec(() => {
      const part = m * q >= 1 << 16 && m > 1 ? this.#rowChunks(m, q, 1) : null;
      if (!part || !this.#inHeap(tP, tT)) return countAboveHost(P, m, q, T, O, beta);
      const nT = this.rt.threads;
      this.rt.run(
        "countabove",
        [tP.ptr, tT.ptr, T.length === 1 ? 1 : 0, part.bounds.ptr, part.buf.ptr, q],
        0,
        nT,
        m * q,
      );
      const cnt = new Int32Array(this.rt.memory.buffer, part.buf.ptr, nT * q);
      for (let j = 0; j < q; j++) {
        let acc = 0;
        for (let k = 0; k < nT; k++) acc += cnt[k * q + j];
        O[j] = (beta === 0 ? 0 : beta * O[j]) + acc;
      }
    });
  }

  // ---- geometry and optimiser ----
  normalizeRows(d: Tensor): void {
    const s = this.#t(d, "normalizeRows").shape;
    if (s.length !== 2) throw shapeError("normalizeRows", "expects a 2-D tensor");
    const D = this.#f(d, "normalizeRows");
    const tD = d as CpuTensor;
    this.#exec(() => {
      if (!this.#inHeap(tD)) return normalizeRowsHost(D, s[0], s[1]);
      this.rt.run("rownorm", [tD.ptr, s[1]], 0, s[0], s[0] * s[1] * 2);
    });
  }
  removeParallelComponent(dict: Tensor, grad: Tensor, sumSq?: Tensor, accumulate = false): void {
    const s = this.#t(dict, "removeParallelComponent dict").shape;
    if (s.length !== 2) throw shapeError("removeParallelComponent", "expects 2-D tensors");
    checkShape("removeParallelComponent grad", this.#t(grad, "grad").shape, s);
    const D = this.#f(dict, "dict"), G = this.#f(grad, "grad");
    const S = sumSq ? this.#f(sumSq, "removeParallelComponent sumSq") : null;
    const tD = dict as CpuTensor, tG = grad as CpuTensor;
    const rowSs = S ? this.#rowScratch(s[0]) : null;
    if (this.native && this.#inHeap(tD, tG) && (!S || rowSs)) {
      // native: the removal and each row's squared norm in one pass
      this.#exec(() => {
        const threads = this.#nativeThreads(s[0] * s[1]);
        const m = this.rt.memory, rp = rowSs ? rowSs.ptr : 0;
        this.native!.removepar(m, tD.ptr, tG.ptr, s[0], s[1], rp, threads);
        if (!S) return;
        const ss = rowSs!.data as Float32Array;
        let total = 0;
        for (let j = 0; j < s[0]; j++) total += ss[j];
        S[0] = (accumulate ? S[0] : 0) + total;
      });
      return;
    }
    this.#exec(() => {
      if (!this.#inHeap(tD, tG)) return removeParallelHost(D, G, s[0], s[1]);
      this.rt.run("removepar", [tD.ptr, tG.ptr, s[1]], 0, s[0], s[0] * s[1] * 3);
    });
    if (sumSq) this.sumSquares(grad, sumSq, accumulate);
  }
  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, o: AdamWOptions): void {
    const s = this.#t(param, "adamw param").shape;
    checkShape("adamw grad", this.#t(grad, "grad").shape, s);
    checkShape("adamw m", this.#t(m, "m").shape, s);
    checkShape("adamw v", this.#t(v, "v").shape, s);
    if (!(o.step >= 1)) throw shapeError("adamw", `step must be ≥ 1, got ${o.step}`);
    if (o.normalizeRows && s.length !== 2) {
      throw shapeError("adamw", "normalizeRows needs a 2-D parameter");
    }
    const P = this.#f(param, "p"), G = this.#f(grad, "g"), M = this.#f(m, "m"), V = this.#f(v, "v");
    const F = o.gradScale ? this.#f(o.gradScale, "adamw gradScale") : null;
    const ts = [param, grad, m, v] as CpuTensor[];
    this.#exec(() => {
      const f = F ? F[0] : 1;
      if (!this.#inHeap(...ts)) {
        const g = f === 1 ? G : Float32Array.from(G, (x) => x * f);
        adamwHost(P, g, M, V, o.lr, o.beta1, o.beta2, o.eps, o.weightDecay, o.step);
        if (o.normalizeRows) normalizeRowsHost(P, s[0], s[1]);
        return;
      }
      const bc1 = 1 - Math.pow(o.beta1, o.step);
      const bc2 = 1 - Math.pow(o.beta2, o.step);
      // the gradient scale f enters as m += (1−β1)·f·g and v += (1−β2)·f²·g²
      const h = {
        beta1: o.beta1,
        a1: (1 - o.beta1) * f,
        beta2: o.beta2,
        a2: (1 - o.beta2) * f * f,
        stepSize: o.lr / bc1,
        invSqrtBc2: 1 / Math.sqrt(bc2),
        eps: o.eps,
        decay: 1 - o.lr * o.weightDecay,
      };
      if (this.native) {
        const rows = s.length === 2 ? s[0] : 1, cols = P.length / Math.max(rows, 1);
        const threads = this.#nativeThreads(P.length);
        const [p, g, mm, vv] = ts.map((t) => t.ptr);
        const norm = !!o.normalizeRows;
        this.native.adamw(this.rt.memory, { p, g, m: mm, v: vv }, rows, cols, h, norm, threads);
        return;
      }
      this.rt.run(
        "adamw",
        [
          ...ts.map((t) => t.ptr),
          h.beta1,
          h.a1,
          h.beta2,
          h.a2,
          h.stepSize,
          h.invSqrtBc2,
          h.eps,
          h.decay,
        ],
        0,
        P.length,
        P.length * 8,
        16,
      );
      if (o.normalizeRows) this.rt.run("rownorm", [ts[0].ptr, s[1]], 0, s[0], s[0] * s[1] * 2);
    });
  }

  close(): void {
    this.provider.close();
    this.rt.close();
  }
}
